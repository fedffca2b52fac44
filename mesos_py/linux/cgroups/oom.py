"""OOM events of memory cgroups.

`OomWatcher` gives a file descriptor to register on an event loop (a v1
eventfd on `memory.oom_control`, a v2 inotify watch on `memory.events.local`)
and `check()` to call when it is readable.
"""

from __future__ import annotations

import ctypes
import os

from mesos_py.linux.cgroups.base import CgroupError, Version
from mesos_py.linux.cgroups.stats import parse_keyed
from mesos_py.linux.cgroups.tree import exists, path, write


# ================================================================ OOM events
class OomWatcher:
    """Tells, without blocking, that the kernel hit a memory cgroup's limit.

    v1: an eventfd registered on `memory.oom_control` through
    `cgroup.event_control`. v2: an inotify watch on `memory.events.local`
    (its `oom` counter counts this cgroup's own limit being hit; the plain
    `memory.events` also counts descendants'), read once right away so that
    an OOM before the watch started is not missed.

    Register `fileno()` for reading on an event loop; when readable, call
    `check()`: True means an OOM happened, `gone` that the cgroup was
    removed (stop watching). `close()` releases the descriptors. Not
    thread-safe: use it from one thread (the IO loop).
    """

    def __init__(self, hierarchy: str, cgroup: str, version: Version) -> None:
        self.hierarchy, self.cgroup, self.version = hierarchy, cgroup, version
        self.gone = False
        self._fd = -1
        self._fds: list[int] = []
        directory = path(hierarchy, cgroup)
        try:
            if version is Version.V1:
                control = os.open(os.path.join(directory, "memory.oom_control"),
                                  os.O_RDONLY | os.O_CLOEXEC)
                self._fds.append(control)
                self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                self._fds.append(self._fd)
                write(hierarchy, cgroup, "cgroup.event_control", f"{self._fd} {control}")
            else:
                events = os.path.join(directory, "memory.events.local")
                if not os.path.exists(events):
                    events = os.path.join(directory, "memory.events")
                self._events = events
                self._fd = _inotify_init()
                self._fds.append(self._fd)
                if _libc.inotify_add_watch(self._fd, events.encode(), _IN_MODIFY) < 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"inotify_add_watch({events}): {os.strerror(error)}")
        except (OSError, CgroupError) as error:
            self.close()
            raise CgroupError(f"Failed to watch OOM events of '{directory}': {error}") from None

    def fileno(self) -> int:
        """The descriptor to wait on for reading; -1 once closed."""
        return self._fd

    @property
    def closed(self) -> bool:
        return not self._fds

    def check(self) -> bool:
        """Drains the descriptor; True if the cgroup hit its memory limit."""
        if self.gone or self.closed:
            return False
        signalled = self._drain()
        if not exists(self.hierarchy, self.cgroup):
            self.gone = True
            return False
        if self.version is Version.V1:
            return signalled
        try:
            return _v2_events_say_oom(self._events)
        except OSError:
            self.gone = True
            return False

    def _drain(self) -> bool:
        signalled = False
        while True:
            try:
                data = os.read(self._fd, 4096)
            except BlockingIOError:
                return signalled
            except OSError:
                return signalled
            if not data:
                return signalled
            signalled = True

    def close(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        self._fd = -1


def oom_recorded(hierarchy: str, cgroup: str, version: Version) -> bool:
    """Whether the kernel's counters show that `cgroup` hit its memory limit.

    Read once, no watch: for a container whose processes are gone, to learn
    of an OOM whose notification is still on its way. v1: `memory.oom_control`
    (`oom_kill`, Linux 4.13+, or `under_oom`); v2: as `OomWatcher.check`.
    A missing cgroup shows none.
    """
    directory = path(hierarchy, cgroup)
    try:
        if version is Version.V1:
            with open(os.path.join(directory, "memory.oom_control")) as file:
                counters = parse_keyed(file.read())
            return counters.get("oom_kill", 0) > 0 or counters.get("under_oom", 0) > 0
        events = os.path.join(directory, "memory.events.local")
        if not os.path.exists(events):
            events = os.path.join(directory, "memory.events")
        return _v2_events_say_oom(events)
    except OSError:
        return False


def _v2_events_say_oom(events: str) -> bool:
    with open(events) as file:
        counters = parse_keyed(file.read())
    return counters.get("oom", 0) > 0 or (
        events.endswith("memory.events") and counters.get("oom_kill", 0) > 0)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_IN_MODIFY = 0x00000002
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC


def _inotify_init() -> int:
    fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    if fd < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"inotify_init1: {os.strerror(error)}")
    return int(fd)
