"""Run only by tests/test_leftover_check.py: a test that leaves a process behind."""

import subprocess


def test_leaves_a_process_behind() -> None:
    subprocess.Popen(["sleep", "300"], start_new_session=True)
