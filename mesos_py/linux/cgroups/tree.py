"""The cgroup tree: paths, creating cgroups (on v2 with their controllers),
walking them, the processes and threads in them, and their control files.

`hierarchy` is where a hierarchy is mounted, `cgroup` a path relative to it.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

from mesos_py.linux.cgroups.base import CgroupError


# ================================================================ lifecycle
def path(hierarchy: str, cgroup: str) -> str:
    relative = cgroup.strip("/")
    return os.path.join(hierarchy, relative) if relative else hierarchy


def exists(hierarchy: str, cgroup: str) -> bool:
    return os.path.isdir(path(hierarchy, cgroup))


def create(hierarchy: str, cgroup: str, controllers: Iterable[str] = (),
           exist_ok: bool = True) -> None:
    """Creates `cgroup` and any missing parents.

    v2: `controllers` are enabled in the `cgroup.subtree_control` of every
    ancestor below the mount (see `enable_controllers`), so `cgroup` gets
    their interface files.
    """
    target = path(hierarchy, cgroup)
    if not exist_ok and os.path.isdir(target):
        raise CgroupError(f"The cgroup '{target}' already exists")
    controllers = list(controllers)
    if controllers:
        enable_controllers(hierarchy, cgroup, controllers, create_missing=True)
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as error:
        raise CgroupError(f"Failed to create the cgroup '{target}': {error.strerror}") from None


def enable_controllers(hierarchy: str, cgroup: str, controllers: Iterable[str],
                       create_missing: bool = False) -> None:
    """v2: makes `controllers` available in `cgroup`.

    Writes `+<controller>` into the `cgroup.subtree_control` of each ancestor
    of `cgroup` below the mount (the mount's own is left as the host set it),
    top down, only where it is not enabled yet; missing ancestors are created
    with `create_missing`. Raises, before creating anything below it, if a
    parent does not offer one (its `cgroup.subtree_control` lacks it).
    """
    wanted = list(dict.fromkeys(controllers))
    parts = [p for p in cgroup.strip("/").split("/") if p]
    for depth in range(1, len(parts)):
        parent, ancestor = "/".join(parts[:depth - 1]), "/".join(parts[:depth])
        offered = read(hierarchy, parent, "cgroup.subtree_control").split()
        missing = [c for c in wanted if c not in offered]
        if missing:
            raise CgroupError(
                f"The cgroup v2 controller(s) {', '.join(missing)} are not available below "
                f"'{path(hierarchy, parent)}': its cgroup.subtree_control enables "
                f"{' '.join(offered) or 'none'}")
        directory = path(hierarchy, ancestor)
        if create_missing and not os.path.isdir(directory):
            try:
                os.mkdir(directory)
            except FileExistsError:
                pass
            except OSError as error:
                raise CgroupError(f"Failed to create the cgroup '{directory}': "
                                  f"{error.strerror}") from None
        enabled = read(hierarchy, ancestor, "cgroup.subtree_control").split()
        todo = [c for c in wanted if c not in enabled]
        if todo:
            write(hierarchy, ancestor, "cgroup.subtree_control",
                  " ".join(f"+{c}" for c in todo))


def controllers(hierarchy: str, cgroup: str = "") -> list[str]:
    """v2: the controllers `cgroup` may use (its `cgroup.controllers`)."""
    return read(hierarchy, cgroup, "cgroup.controllers").split()


def descendants(hierarchy: str, cgroup: str) -> list[str]:
    """Every cgroup below `cgroup` (not itself), deepest first."""
    below = list(_walk(hierarchy, cgroup.strip("/")))[1:]
    return below[::-1]


def _walk(hierarchy: str, cgroup: str) -> Iterator[str]:
    """`cgroup` and every cgroup below it, parents first (missing: nothing)."""
    top = path(hierarchy, cgroup)
    if not os.path.isdir(top):
        return
    for directory, subdirectories, _ in os.walk(top):
        subdirectories.sort()
        yield os.path.relpath(directory, hierarchy)


def assign(hierarchy: str, cgroup: str, pid: int) -> None:
    """Moves process `pid` (all its threads) into `cgroup`."""
    try:
        write(hierarchy, cgroup, "cgroup.procs", str(pid))
    except CgroupError as error:
        raise CgroupError(f"Failed to move pid {pid} into {error}") from None


def processes(hierarchy: str, cgroup: str, recursive: bool = False) -> list[int]:
    """The pids in `cgroup` (zombies excluded), sorted; [] if it does not exist."""
    return _ids(hierarchy, cgroup, "cgroup.procs", recursive)


def threads(hierarchy: str, cgroup: str, recursive: bool = False) -> list[int]:
    """The thread ids in `cgroup` (v1 `tasks`, v2 `cgroup.threads`)."""
    control = "tasks" if os.path.exists(os.path.join(path(hierarchy, cgroup), "tasks")) \
        else "cgroup.threads"
    return _ids(hierarchy, cgroup, control, recursive)


def _ids(hierarchy: str, cgroup: str, control: str, recursive: bool) -> list[int]:
    cgroups = list(_walk(hierarchy, cgroup.strip("/"))) if recursive else [cgroup]
    ids: set[int] = set()
    for each in cgroups:
        try:
            text = read(hierarchy, each, control)
        except CgroupError:
            if exists(hierarchy, each):
                raise
            continue  # removed meanwhile
        ids.update(int(line) for line in text.split())
    return sorted(ids)


def read(hierarchy: str, cgroup: str, control: str) -> str:
    target = os.path.join(path(hierarchy, cgroup), control)
    try:
        with open(target) as file:
            return file.read()
    except OSError as error:
        raise CgroupError(f"Failed to read '{target}': {error.strerror}") from None


def write(hierarchy: str, cgroup: str, control: str, value: str) -> None:
    target = os.path.join(path(hierarchy, cgroup), control)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as error:
        raise CgroupError(f"Failed to open '{target}': {error.strerror}") from None
    try:
        os.write(fd, value.encode())
    except OSError as error:
        raise CgroupError(f"Failed to write '{value}' to '{target}': {error.strerror}") from None
    finally:
        os.close(fd)


def has_control(hierarchy: str, cgroup: str, control: str) -> bool:
    return os.path.exists(os.path.join(path(hierarchy, cgroup), control))
