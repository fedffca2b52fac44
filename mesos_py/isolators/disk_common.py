"""What disk/du and disk/xfs share: the walk over a sandbox's files (disk/du
measures with it, disk/xfs labels with it), a sandbox's `disk` resources, the
limitation both raise, and the interval both check at.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any, Iterator, Sequence

from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerLimitation
from mesos_py.protos.mesos.v1.mesos_pb2 import Resource, TaskStatus

MEGABYTE = 1024 * 1024
# The shortest interval between two measurements of one sandbox.
MIN_INTERVAL = 0.01


# ====================================================================== du walk
def mount_points_under(root: str, mountinfo: str = "/proc/self/mountinfo") -> set[str]:
    """The mount points strictly below `root` (bind mounts included)."""
    prefix = root.rstrip("/") + "/"
    found = set()
    try:
        with open(mountinfo) as lines:
            for line in lines:
                fields = line.split()
                if len(fields) > 4:
                    point = _unescape_mount_path(fields[4])
                    if point.startswith(prefix):
                        found.add(point)
    except OSError:
        pass
    return found


def _unescape_mount_path(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _tree(root: str, skip: set[str]) -> Iterator[tuple[str, os.stat_result]]:
    """(path, lstat) of `root` and everything below it on its filesystem.

    Symlinks are not followed; directories on another device or listed in
    `skip` (mount points) are reported but not entered. Entries that vanish
    during the walk, or cannot be read, are left out.
    """
    top = os.lstat(root)
    yield root, top
    if not stat.S_ISDIR(top.st_mode):
        return
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            yield entry.path, info
            if (stat.S_ISDIR(info.st_mode) and info.st_dev == top.st_dev
                    and entry.path not in skip):
                stack.append(entry.path)


def sandbox_usage(root: str) -> int:
    """Bytes allocated under `root`, as `du -s -k -x` reports them (KB, rounded up).

    Every inode counts once, whatever its number of hard links; symlinks
    count as themselves; other mounts below `root` are not entered.
    """
    blocks = 0
    seen: set[tuple[int, int]] = set()
    for _, info in _tree(root, mount_points_under(root)):
        if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
            inode = (info.st_dev, info.st_ino)
            if inode in seen:
                continue
            seen.add(inode)
        blocks += info.st_blocks
    return -(-blocks * 512 // 1024) * 1024


# ================================================================= shared
def sandbox_disk(resources: Sequence[Resource]) -> tuple[list[Resource], int | None]:
    """The `disk` resources of the sandbox (not volumes) and their total in bytes.

    As Mesos's `Resources::disk()`, the total is whole megabytes.
    """
    disks = [r for r in resources if r.name == "disk" and r.HasField("scalar")
             and not (r.HasField("disk") and (r.disk.HasField("volume")
                                              or r.disk.HasField("persistence")
                                              or r.disk.HasField("source")))]
    if not disks:
        return [], None
    return disks, int(sum(r.scalar.value for r in disks)) * MEGABYTE


def _disk_limitation(resources: Sequence[Resource], message: str) -> ContainerLimitation:
    limitation = ContainerLimitation(message=message,
                                     reason=TaskStatus.REASON_CONTAINER_LIMITATION_DISK)
    limitation.resources.extend(resources)
    return limitation


def _interval(flags: Any) -> float:
    interval = getattr(flags, "container_disk_watch_interval", None)
    seconds = interval.seconds if interval is not None else 15.0
    return max(float(seconds), MIN_INTERVAL)
