import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_actor_rules_hold() -> None:
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "lint_actor_rules.py"), ROOT],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_actor_rules_catch_a_violation(tmp_path) -> None:
    package = tmp_path / "mesos_py"
    package.mkdir()
    (package / "bad.py").write_text("import time\nimport subprocess\n\ndef f():\n    time.sleep(1)\n")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "lint_actor_rules.py"),
                             str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "bad.py:5: time.sleep" in result.stdout
    assert "bad.py:2: subprocess" in result.stdout


def test_mypy_strict_on_the_actor_layer() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "mesos_py/actors"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout


def test_mypy_on_the_whole_package() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "mesos_py"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout
