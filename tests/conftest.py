"""Test-wide setup and the final check that tests left nothing on the machine.

The test process is a child subreaper: processes orphaned by tests (a killed
agent's fork server and containers) become its descendants instead of init's.
At the end of the session every descendant still alive, every mount, cgroup
and loop device of the tests is a leftover: it is reported, removed, and the
session fails.
"""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import signal
import tempfile
import time

import psutil
import pytest

from tests.agent import TEST_SESSION

PR_SET_CHILD_SUBREAPER = 36
# What this session's tests create outside pytest's tmp_path carries this.
SESSION_MARKER = f"mesos_test_{TEST_SESSION}_"


def pytest_configure(config: pytest.Config) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return
    temp = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    # With its slash: pytest-43 must not claim pytest-431, another session's.
    basetemp = os.path.join(str(temp), "")
    # Orphaned zombies are ours to reap; a container's init cannot finish
    # exiting until every process of its pid namespace has been reaped.
    deadline = time.monotonic() + 5
    while _reap() and time.monotonic() < deadline:
        time.sleep(0.05)
    leftovers = (_leftover_processes() + _leftover_mounts(basetemp) +
                 _leftover_cgroups() + _leftover_loops(basetemp) +
                 _leftover_overlay_links(basetemp))
    _reap()
    if leftovers:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(f"  {item}" for item in leftovers)
        message = f"Tests left these on the machine (now removed):\n{lines}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _leftover_processes() -> list[str]:
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            found.append(f"process {process.pid} ({process.name()}, {process.status()}): "
                         f"{' '.join(process.cmdline())[:120]}")
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
    return found


def _leftover_mounts(basetemp: str) -> list[str]:
    found = []
    with open("/proc/self/mounts") as mounts:
        targets = [line.split()[1] for line in mounts]
    for target in reversed(targets):
        if target.startswith(basetemp) or SESSION_MARKER in target:
            found.append(f"mount {target}")
            os.system(f"umount -l '{target}' 2>/dev/null")
    return found


def _leftover_cgroups() -> list[str]:
    found = []
    for path in sorted(glob.glob(f"/sys/fs/cgroup/*/{SESSION_MARKER}*") +
                       glob.glob(f"/sys/fs/cgroup/{SESSION_MARKER}*"), reverse=True):
        found.append(f"cgroup {path}")
        for directory, _, _ in sorted(os.walk(path), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(directory)
            except OSError:
                pass
    return found


def _leftover_loops(basetemp: str) -> list[str]:
    found = []
    for backing in glob.glob("/sys/block/loop*/loop/backing_file"):
        with open(backing) as source:
            image = source.read().strip()
        if image.startswith(basetemp) or SESSION_MARKER in image:
            device = "/dev/" + backing.split("/")[3]
            found.append(f"loop device {device} ({image})")
            os.system(f"losetup -d {device} 2>/dev/null")
    return found


def _leftover_overlay_links(basetemp: str) -> list[str]:
    """The overlay backend's short layer links live in /tmp (mount options
    must fit a page); those pointing into this session's directories are ours."""
    found = []
    for links in glob.glob(os.path.join(tempfile.gettempdir(), "mesos-py-overlay-*")):
        try:
            targets = [os.readlink(os.path.join(links, name)) for name in os.listdir(links)]
        except OSError:
            continue
        if any(t.startswith(basetemp) or SESSION_MARKER in t for t in targets):
            found.append(f"overlay links {links}")
            shutil.rmtree(links, ignore_errors=True)
    return found


def _reap() -> bool:
    """Reaps every exited child; True while some child is still running."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
