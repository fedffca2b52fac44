"""Linux control groups, v1 and v2: layout, lifecycle, statistics, OOM events.

Blocking and synchronous by contract: every function here reads or writes
cgroupfs (fast, but a syscall each), and `kill_all`/`remove` wait for the
kernel (for processes to die, for a busy cgroup to become removable). Callers
run them on the runtime's blocking pool, or a few quick ones (`exists`,
`read`, `assign`) on an actor thread. No actors, no threads of its own.

Names: `hierarchy` is the absolute path where a hierarchy is mounted (a v1
subsystem's mount, or the v2 mount); `cgroup` is a path relative to it
("mesos/c1"). A v1 host has one hierarchy per subsystem (or co-mounted
subsystems, `cpu,cpuacct`), found through /proc/self/mountinfo; a v2 host has
one, `/sys/fs/cgroup`. A hybrid host (v1 controllers, an empty cgroup2 at
`/sys/fs/cgroup/unified`) is v1, as Mesos sees it.

Callers use the package as one module (`cgroups.create(...)`): every public
name is re-exported here. The mounts and the version detection live in this
file (`detect` and `hierarchy_of` find `mounts` here, so a test that patches
`cgroups.mounts` reaches them), the rest in:
- `base`: `Version` and `CgroupError`;
- `tree`: cgroup paths, creation, controllers, processes, control files;
- `layout`: the cgroups of containers (shared with the Linux launcher);
- `teardown`: freezing, killing and removing cgroups;
- `stats`: the statistics files, parsed;
- `oom`: `OomWatcher`, OOM events; `oom_recorded`, the kernel's counters read once.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os

from mesos_py.linux.cgroups.base import CgroupError, Version
from mesos_py.linux.cgroups.layout import (AGENT, LEAF, SEPARATOR, V1_AGENT, container_cgroup,
                                           container_ids_under, leaf_cgroup,
                                           parse_container_cgroup)
from mesos_py.linux.cgroups.oom import OomWatcher, oom_recorded
from mesos_py.linux.cgroups.stats import (USER_HZ, CpuStats, Pressure, PressureLine,
                                          parse_cpu_stat, parse_cpuacct_stat, parse_keyed,
                                          parse_limit, parse_pressure, read_int, read_keyed,
                                          read_pressure)
from mesos_py.linux.cgroups.teardown import destroy, freeze, kill_all, populated, remove, thaw
from mesos_py.linux.cgroups.tree import (assign, controllers, create, descendants,
                                         enable_controllers, exists, has_control, path,
                                         processes, read, threads, write)

__all__ = [
    # this file: mounts and detection
    "DEFAULT_HIERARCHY", "Mount", "detect", "hierarchy_of", "mount_v1", "mounts",
    "subsystems_enabled", "unmount",
    # base
    "CgroupError", "Version",
    # layout
    "AGENT", "LEAF", "SEPARATOR", "V1_AGENT", "container_cgroup", "container_ids_under",
    "leaf_cgroup", "parse_container_cgroup",
    # tree
    "assign", "controllers", "create", "descendants", "enable_controllers", "exists",
    "has_control", "path", "processes", "read", "threads", "write",
    # teardown
    "destroy", "freeze", "kill_all", "populated", "remove", "thaw",
    # stats
    "USER_HZ", "CpuStats", "Pressure", "PressureLine", "parse_cpu_stat", "parse_cpuacct_stat",
    "parse_keyed", "parse_limit", "parse_pressure", "read_int", "read_keyed", "read_pressure",
    # oom
    "OomWatcher", "oom_recorded",
]

log = logging.getLogger(__name__)

DEFAULT_HIERARCHY = "/sys/fs/cgroup"


# ==================================================================== mounts
@dataclasses.dataclass(frozen=True)
class Mount:
    """A cgroup filesystem mount, from /proc/self/mountinfo."""

    point: str
    root: str  # the path inside the filesystem that is mounted ("/" unless a bind)
    fstype: str  # "cgroup" (v1) or "cgroup2"
    options: frozenset[str]  # super options: the v1 subsystems, "name=systemd", ...

    @property
    def subsystems(self) -> frozenset[str]:
        if self.fstype != "cgroup":
            return frozenset()
        return frozenset(o for o in self.options if "=" not in o and o not in _V1_NON_SUBSYSTEMS)


_V1_NON_SUBSYSTEMS = {"rw", "ro", "noprefix", "xattr", "clone_children", "cpuset_v2_mode",
                      "favordynmods", "none"}


def mounts(mountinfo: str = "/proc/self/mountinfo") -> list[Mount]:
    """Every cgroup (v1) and cgroup2 mount, in mount order."""
    found = []
    with open(mountinfo) as lines:
        for line in lines:
            head, _, tail = line.partition(" - ")
            fields, rest = head.split(), tail.split()
            if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
                continue
            found.append(Mount(point=_unescape(fields[4]), root=_unescape(fields[3]),
                               fstype=rest[0], options=frozenset(rest[2].split(","))))
    return found


def _unescape(text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (\040).
    if "\\" not in text:
        return text
    return text.encode().decode("unicode_escape").encode("latin-1").decode()


def detect(hierarchy: str = DEFAULT_HIERARCHY) -> Version:
    """V2 only when `hierarchy` itself is a cgroup2 mount (a pure v2 host)."""
    point = os.path.realpath(hierarchy)
    for mount in mounts():
        if mount.point == point and mount.fstype == "cgroup2":
            return Version.V2
    return Version.V1


def subsystems_enabled() -> set[str]:
    """The v1 subsystems the kernel offers (/proc/cgroups, `enabled` column)."""
    enabled = set()
    with open("/proc/cgroups") as table:
        for line in table:
            if line.startswith("#"):
                continue
            fields = line.split()
            if len(fields) >= 4 and fields[3] == "1":
                enabled.add(fields[0])
    return enabled


def hierarchy_of(subsystem: str) -> str | None:
    """Where the v1 `subsystem` is mounted (its whole hierarchy), or None."""
    for mount in mounts():
        if mount.fstype == "cgroup" and mount.root == "/" and subsystem in mount.subsystems:
            return mount.point
    return None


def mount_v1(target: str, subsystem: str) -> None:
    """Mounts the v1 hierarchy of `subsystem` at `target` (created if absent).

    Only for a subsystem that is not mounted anywhere yet (Mesos does this
    for the subsystems its isolation needs).
    """
    os.makedirs(target, exist_ok=True)
    if _libc.mount(b"cgroup", target.encode(), b"cgroup", 0, subsystem.encode()) != 0:
        error = ctypes.get_errno()
        raise CgroupError(f"Failed to mount the '{subsystem}' hierarchy at '{target}': "
                          f"{os.strerror(error)}")


def unmount(target: str) -> None:
    """Unmounts `target` (a hierarchy this process mounted; tests only)."""
    if _libc.umount2(target.encode(), 0) != 0:
        error = ctypes.get_errno()
        raise CgroupError(f"Failed to unmount '{target}': {os.strerror(error)}")


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
