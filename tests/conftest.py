"""Test-wide setup: the test process adopts orphans, and reaps them at the end.

Agents that tests SIGKILL leave their fork server and containers behind; as a
child subreaper this process becomes their parent instead of the host's init
(which, on some machines, never reaps), so nothing is left as a zombie.
"""

import ctypes
import os

import pytest

PR_SET_CHILD_SUBREAPER = 36


def pytest_configure(config: pytest.Config) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def pytest_unconfigure(config: pytest.Config) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
