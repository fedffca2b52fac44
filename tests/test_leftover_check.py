"""The end-of-session check (tests/conftest.py) catches what a test leaves behind."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_leaked_process_fails_the_session_and_is_removed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         os.path.join("tests", "selfcheck", "leaky_session.py")],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1, result.stdout
    assert "Tests left these on the machine (now removed):" in result.stdout
    line = next(line for line in result.stdout.splitlines() if "sleep 300" in line)
    pid = int(line.split()[1])
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
