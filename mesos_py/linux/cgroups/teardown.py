"""Freezing, killing and removing cgroups.

`kill_all` and `remove` wait for the kernel (for processes to die, for a busy
cgroup to become removable). The waits are on kernel notifications where
there is one (pidfds, `cgroup.events`), and short bounded pauses otherwise
(`_pause`); nothing here waits without a deadline.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import threading
import time
from typing import Callable

from mesos_py.linux.cgroups.base import CgroupError
from mesos_py.linux.cgroups.tree import (descendants, exists, has_control, path, processes,
                                         read, write)


# ============================================================ freeze and kill
def freeze(hierarchy: str, cgroup: str, timeout: float = 5.0) -> bool:
    """Freezes `cgroup` and its descendants; True once frozen, False on timeout.

    v1 uses `freezer.state` (a freezer hierarchy), v2 `cgroup.freeze`.
    """
    deadline = time.monotonic() + timeout
    if has_control(hierarchy, cgroup, "freezer.state"):
        write(hierarchy, cgroup, "freezer.state", "FROZEN")
        return _until(lambda: read(hierarchy, cgroup, "freezer.state").strip() == "FROZEN",
                      deadline)
    write(hierarchy, cgroup, "cgroup.freeze", "1")
    return _wait_events(hierarchy, cgroup, "frozen", "1", deadline)


def thaw(hierarchy: str, cgroup: str, timeout: float = 5.0) -> bool:
    """Thaws `cgroup`; True once thawed, False on timeout."""
    deadline = time.monotonic() + timeout
    if has_control(hierarchy, cgroup, "freezer.state"):
        write(hierarchy, cgroup, "freezer.state", "THAWED")
        return _until(lambda: read(hierarchy, cgroup, "freezer.state").strip() == "THAWED",
                      deadline)
    write(hierarchy, cgroup, "cgroup.freeze", "0")
    return _wait_events(hierarchy, cgroup, "frozen", "0", deadline)


def populated(hierarchy: str, cgroup: str) -> bool:
    """Whether any live process is in `cgroup` or below it."""
    if has_control(hierarchy, cgroup, "cgroup.events"):
        return _events(hierarchy, cgroup).get("populated") == "1"
    return bool(processes(hierarchy, cgroup, recursive=True))


def kill_all(hierarchy: str, cgroup: str, timeout: float = 60.0) -> None:
    """SIGKILLs every process in `cgroup` and below; returns once none is left.

    v2: `cgroup.kill`, then waits for `populated 0` in `cgroup.events`.
    v1 freezer hierarchy (or v2 without `cgroup.kill`): freeze, SIGKILL every
    process, thaw, wait for them to die, again until empty. Other v1
    hierarchies: SIGKILL and wait, until empty (a fork racing a round is
    caught by the next). Raises CgroupError if processes survive `timeout`.
    A missing cgroup is empty.
    """
    if not exists(hierarchy, cgroup):
        return
    deadline = time.monotonic() + timeout
    if has_control(hierarchy, cgroup, "cgroup.kill"):
        while True:
            try:
                write(hierarchy, cgroup, "cgroup.kill", "1")
            except CgroupError:
                if not exists(hierarchy, cgroup):
                    return
                raise
            if _wait_events(hierarchy, cgroup, "populated", "0",
                            min(deadline, time.monotonic() + 1.0)):
                return
            if time.monotonic() >= deadline:
                break
    else:
        can_freeze = has_control(hierarchy, cgroup, "freezer.state") or has_control(
            hierarchy, cgroup, "cgroup.freeze")
        while time.monotonic() < deadline:
            pids = processes(hierarchy, cgroup, recursive=True)
            if not pids:
                return
            frozen = can_freeze and freeze(hierarchy, cgroup, min(1.0, _left(deadline)))
            pidfds = _signal_all(pids, signal.SIGKILL)
            if can_freeze:
                _thaw_tree(hierarchy, cgroup, deadline)
            _wait_exited(pidfds, min(deadline, time.monotonic() + (1.0 if frozen else 0.1)))
    left = processes(hierarchy, cgroup, recursive=True)
    if left or populated(hierarchy, cgroup):
        raise CgroupError(f"{len(left)} process(es) survived SIGKILL in "
                          f"'{path(hierarchy, cgroup)}' after {timeout:g}s: {left[:10]}")


def _thaw_tree(hierarchy: str, cgroup: str, deadline: float) -> None:
    """Thaws `cgroup` and every cgroup below it, top-down.

    A v1 cgroup frozen on its own (by a kill an agent did not live to finish)
    stays frozen when its parent thaws, and a frozen process never acts on
    its SIGKILL.
    """
    for each in [cgroup.strip("/")] + list(reversed(descendants(hierarchy, cgroup))):
        try:
            thaw(hierarchy, each, _left(deadline))
        except CgroupError:
            if exists(hierarchy, each):
                raise


def _signal_all(pids: list[int], signum: int) -> list[int]:
    """Signals `pids`; returns pidfds of those signalled (to wait for their exit)."""
    pidfds = []
    for pid in pids:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue  # already gone
        try:
            signal.pidfd_send_signal(pidfd, signum)
            pidfds.append(pidfd)
        except OSError:
            os.close(pidfd)
    return pidfds


def _wait_exited(pidfds: list[int], deadline: float) -> None:
    """Waits until every pidfd is readable (its process exited) or the deadline."""
    poller = select.poll()
    pending = set(pidfds)
    for pidfd in pidfds:
        poller.register(pidfd, select.POLLIN)
    try:
        while pending:
            left = _left(deadline)
            if left <= 0:
                return
            for fd, _ in poller.poll(left * 1000):
                poller.unregister(fd)
                pending.discard(fd)
    finally:
        for pidfd in pidfds:
            os.close(pidfd)


def _events(hierarchy: str, cgroup: str) -> dict[str, str]:
    fields = (line.split() for line in read(hierarchy, cgroup, "cgroup.events").splitlines())
    return {f[0]: f[1] for f in fields if len(f) == 2}


def _wait_events(hierarchy: str, cgroup: str, key: str, value: str, deadline: float) -> bool:
    """v2: waits until `cgroup.events` shows `key value` (the kernel notifies
    changes with POLLPRI); True if it did before the deadline."""
    target = os.path.join(path(hierarchy, cgroup), "cgroup.events")
    try:
        fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return key == "populated" and value == "0"  # removed: nothing left in it
    try:
        poller = select.poll()
        poller.register(fd, select.POLLPRI)
        while True:
            os.lseek(fd, 0, os.SEEK_SET)
            content = os.read(fd, 4096).decode()
            if f"{key} {value}" in content.splitlines():
                return True
            left = _left(deadline)
            if left <= 0:
                return False
            # A short cap: some kernels miss a notification between the read and the poll.
            poller.poll(min(left, 0.1) * 1000)
    except OSError as error:
        if error.errno == errno.ENODEV or not os.path.exists(target):
            return key == "populated" and value == "0"
        raise CgroupError(f"Failed to watch '{target}': {error.strerror}") from None
    finally:
        os.close(fd)


def _until(condition: Callable[[], bool], deadline: float) -> bool:
    delay = 0.001
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        _pause(min(delay, _left(deadline)))
        delay = min(delay * 2, 0.1)


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _pause(seconds: float) -> None:
    """Blocks the calling (pool) thread briefly: used where the kernel offers
    no notification (v1 freezer state, EBUSY on rmdir)."""
    threading.Event().wait(seconds)


# =================================================================== removal
def remove(hierarchy: str, cgroup: str, timeout: float = 5.0) -> None:
    """Removes `cgroup` and every cgroup below it, deepest first.

    Refuses (CgroupError) while any process is still inside: kill them first
    (`kill_all`). Retries EBUSY (the kernel may lag behind the last exit) with
    a growing pause until `timeout`. A missing cgroup is already removed.
    """
    if not exists(hierarchy, cgroup):
        return
    deadline = time.monotonic() + timeout
    left = processes(hierarchy, cgroup, recursive=True)
    if left:
        raise CgroupError(f"Not removing '{path(hierarchy, cgroup)}': {len(left)} process(es) "
                          f"still in it: {left[:10]}")
    for each in descendants(hierarchy, cgroup) + [cgroup.strip("/")]:
        _rmdir(hierarchy, each, deadline)


def _rmdir(hierarchy: str, cgroup: str, deadline: float) -> None:
    target = path(hierarchy, cgroup)
    delay = 0.001
    while True:
        try:
            os.rmdir(target)
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY:
                raise CgroupError(f"Failed to remove the cgroup '{target}': "
                                  f"{error.strerror}") from None
            if processes(hierarchy, cgroup, recursive=True):
                raise CgroupError(f"Not removing '{target}': processes moved into it")
            if time.monotonic() >= deadline:
                raise CgroupError(f"Failed to remove the cgroup '{target}': still busy "
                                  f"(EBUSY) after retrying") from None
        _pause(min(delay, _left(deadline)))
        delay = min(delay * 2, 0.05)


def destroy(hierarchy: str, cgroup: str, timeout: float = 60.0) -> None:
    """`kill_all` then `remove`, within `timeout` overall."""
    deadline = time.monotonic() + timeout
    kill_all(hierarchy, cgroup, timeout)
    remove(hierarchy, cgroup, max(_left(deadline), 1.0))
