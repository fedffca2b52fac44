"""disk/du and disk/xfs: the disk usage of each sandbox, and its `disk` quota.

disk/du measures every sandbox each `--container_disk_watch_interval` with a
walk that counts what `du -s -k -x` counts (allocated blocks, each inode once,
symlinks not followed, other mounts not entered); with
`--enforce_container_disk_quota` a sandbox above its `disk` resources has its
container destroyed with REASON_CONTAINER_LIMITATION_DISK. Walks run on the
blocking pool, at most `MAX_WALKS` at a time, so a large sandbox delays the
next measurement of the others but never an actor.

disk/xfs gives each sandbox an XFS project id (inherited by everything created
in it) and sets the project's block limit, so writes past the quota fail (with
ENOSPC: XFS answers a full *project* quota so, where the seed says EDQUOT, which
is what user and group quotas give). The work directory must be on XFS mounted with project quota; the
agent refuses to start otherwise, as Mesos does. Everything is done with
syscalls (ioctl FS_IOC_FS[GS]ETXATTR, quotactl Q_X*), never xfsprogs.

Where these differ from Mesos 1.11, and why:
- disk/du measures each sandbox every interval (Mesos runs one `du` per
  interval for the whole agent, so N containers are measured every N
  intervals), and reports `disk_used_bytes` also for a container without
  `disk` resources (no limit, nothing enforced).
- disk/xfs always sets the limit, as the seed says (Mesos 1.11 only accounts
  unless --enforce_container_disk_quota); `--xfs_kill_containers` alone makes
  it destroy containers above their quota (soft limit = the quota, hard limit
  10MB above it so that the overrun is observed, as Mesos does). It serves
  standalone containers (Mesos's XFS isolator does not); nested containers
  share their parent's project, as their sandboxes lie inside the parent's.
- disk/xfs releases the project id when the container is cleaned up, by
  clearing the id from the sandbox's files, instead of waiting for the
  sandbox to be garbage collected. Only what cannot be cleared (symlinks,
  devices, files moved out of the sandbox) keeps the id reserved until the
  sandbox is removed.
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import errno
import fcntl
import logging
import os
import re
import stat
import struct
from typing import Any, ClassVar, Iterator, Mapping, Sequence

from mesos_py.actors import Failure, Future, Promise, Timer, await_all, defer, delay
from mesos_py.ids import container_key
from mesos_py.isolators.base import Isolator, StartupError
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerConfig, ContainerLaunchInfo,
                                                           ContainerLimitation, ContainerState)
from mesos_py.protos.mesos.v1.mesos_pb2 import (ContainerID, Resource, ResourceStatistics,
                                                TaskStatus, Value)
from mesos_py.slave import checkpoint, paths
from mesos_py.units import Bytes

log = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024
# How many sandboxes disk/du walks at once (the blocking pool is shared).
MAX_WALKS = 2
# The shortest interval between two measurements of one sandbox.
MIN_INTERVAL = 0.01
# With --xfs_kill_containers the hard limit lies this far above the quota, so
# that going over the quota is observed before writes fail (Mesos's margin).
KILL_HEADROOM = 10 * MEGABYTE


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


# ============================================================= xfs syscalls
XFS_SUPER_MAGIC = 0x58465342
_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction: int, kind: str, number: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord(kind) << 8) | number


# struct fsxattr: xflags, extsize, nextents, projid, cowextsize, pad[8]
_FSXATTR = struct.Struct("=5I8x")
FS_IOC_FSGETXATTR = _ioc(_IOC_READ, "X", 31, _FSXATTR.size)
FS_IOC_FSSETXATTR = _ioc(_IOC_WRITE, "X", 32, _FSXATTR.size)
FS_XFLAG_PROJINHERIT = 0x00000200

PRJQUOTA = 2
Q_XGETQUOTA = (ord("X") << 8) + 3
Q_XSETQLIM = (ord("X") << 8) + 4
Q_XGETQSTATV = (ord("X") << 8) + 8
FS_DQUOT_VERSION = 1
FS_PROJ_QUOTA = 2
FS_DQ_BSOFT, FS_DQ_BHARD = 1 << 2, 1 << 3
FS_QSTATV_VERSION1 = 1
FS_QUOTA_PDQ_ACCT, FS_QUOTA_PDQ_ENFD = 1 << 4, 1 << 5
BASIC_BLOCK = 512


def qcmd(command: int, kind: int) -> int:
    return (command << 8) | (kind & 0xFF)


class _FsDiskQuota(ctypes.Structure):
    """struct fs_disk_quota of <linux/dqblk_xfs.h>."""

    _fields_ = [
        ("d_version", ctypes.c_int8), ("d_flags", ctypes.c_int8),
        ("d_fieldmask", ctypes.c_uint16), ("d_id", ctypes.c_uint32),
        ("d_blk_hardlimit", ctypes.c_uint64), ("d_blk_softlimit", ctypes.c_uint64),
        ("d_ino_hardlimit", ctypes.c_uint64), ("d_ino_softlimit", ctypes.c_uint64),
        ("d_bcount", ctypes.c_uint64), ("d_icount", ctypes.c_uint64),
        ("d_itimer", ctypes.c_int32), ("d_btimer", ctypes.c_int32),
        ("d_iwarns", ctypes.c_uint16), ("d_bwarns", ctypes.c_uint16),
        ("d_itimer_hi", ctypes.c_int8), ("d_btimer_hi", ctypes.c_int8),
        ("d_rtbtimer_hi", ctypes.c_int8), ("d_padding2", ctypes.c_int8),
        ("d_rtb_hardlimit", ctypes.c_uint64), ("d_rtb_softlimit", ctypes.c_uint64),
        ("d_rtbcount", ctypes.c_uint64), ("d_rtbtimer", ctypes.c_int32),
        ("d_rtbwarns", ctypes.c_uint16), ("d_padding3", ctypes.c_int16),
        ("d_padding4", ctypes.c_char * 8),
    ]


class _FsQfileStatv(ctypes.Structure):
    _fields_ = [("qfs_ino", ctypes.c_uint64), ("qfs_nblks", ctypes.c_uint64),
                ("qfs_nextents", ctypes.c_uint32), ("qfs_pad", ctypes.c_uint32)]


class _FsQuotaStatv(ctypes.Structure):
    """struct fs_quota_statv of <linux/dqblk_xfs.h>."""

    _fields_ = [
        ("qs_version", ctypes.c_int8), ("qs_pad1", ctypes.c_uint8),
        ("qs_flags", ctypes.c_uint16), ("qs_incoredqs", ctypes.c_uint32),
        ("qs_uquota", _FsQfileStatv), ("qs_gquota", _FsQfileStatv),
        ("qs_pquota", _FsQfileStatv),
        ("qs_btimelimit", ctypes.c_int32), ("qs_itimelimit", ctypes.c_int32),
        ("qs_rtbtimelimit", ctypes.c_int32),
        ("qs_bwarnlimit", ctypes.c_uint16), ("qs_iwarnlimit", ctypes.c_uint16),
        ("qs_rtbwarnlimit", ctypes.c_uint16), ("qs_pad3", ctypes.c_uint16),
        ("qs_pad4", ctypes.c_uint32), ("qs_pad2", ctypes.c_uint64 * 7),
    ]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.quotactl.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
_libc.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
_libc.syncfs.argtypes = [ctypes.c_int]


@dataclasses.dataclass(frozen=True)
class ProjectQuota:
    soft_limit: int  # bytes; 0: none
    hard_limit: int  # bytes; 0: none
    used: int  # bytes
    inodes: int


def filesystem_type(path: str) -> int:
    """statfs(2)'s f_type of the filesystem holding `path`."""
    buffer = ctypes.create_string_buffer(512)  # larger than any struct statfs
    if _libc.statfs(os.fsencode(path), buffer) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), path)
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF


def device_for_path(path: str) -> str:
    """The block device node of the filesystem holding `path` (quotactl's `special`)."""
    info = os.lstat(path)
    if stat.S_ISBLK(info.st_mode):
        return path
    device = info.st_dev
    candidates = []
    try:
        with open(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}/uevent") as uevent:
            for line in uevent:
                if line.startswith("DEVNAME="):
                    candidates.append(os.path.join("/dev", line.split("=", 1)[1].strip()))
    except OSError:
        pass
    candidates.extend(os.path.join("/dev", name) for name in sorted(os.listdir("/dev")))
    for candidate in candidates:
        try:
            node = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISBLK(node.st_mode) and node.st_rdev == device:
            return candidate
    raise OSError(errno.ENODEV, f"Unable to get device for '{path}'")


def syncfs(path: str) -> None:
    """syncfs(2) of the filesystem holding `path` (on XFS it also finishes inode frees)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.syncfs(fd) != 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number), path)
    finally:
        os.close(fd)


def _quotactl(command: int, device: str, identifier: int, buffer: Any) -> None:
    if _libc.quotactl(command, os.fsencode(device), identifier, ctypes.byref(buffer)) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def project_quota_enabled(device: str) -> bool:
    """Whether project quota accounting or enforcement is on for `device`."""
    statv = _FsQuotaStatv(qs_version=FS_QSTATV_VERSION1)
    try:
        _quotactl(qcmd(Q_XGETQSTATV, 0), device, 0, statv)
    except OSError as error:
        if error.errno == errno.ENOSYS:  # no quota on this filesystem at all
            return False
        raise
    return bool(statv.qs_flags & (FS_QUOTA_PDQ_ACCT | FS_QUOTA_PDQ_ENFD))


def get_project_quota(device: str, project_id: int) -> ProjectQuota:
    quota = _FsDiskQuota(d_version=FS_DQUOT_VERSION, d_id=project_id, d_flags=FS_PROJ_QUOTA)
    try:
        _quotactl(qcmd(Q_XGETQUOTA, PRJQUOTA), device, project_id, quota)
    except OSError as error:
        if error.errno == errno.ENOENT:  # no record: nothing used, no limit
            return ProjectQuota(0, 0, 0, 0)
        raise OSError(error.errno, f"Failed to get quota for project ID {project_id}: "
                                   f"{error.strerror}")
    return ProjectQuota(quota.d_blk_softlimit * BASIC_BLOCK, quota.d_blk_hardlimit * BASIC_BLOCK,
                        quota.d_bcount * BASIC_BLOCK, quota.d_icount)


def set_project_quota(device: str, project_id: int, soft_limit: int, hard_limit: int) -> None:
    """Sets the block limits (bytes, rounded up to 512); 0 and 0 clear them."""
    quota = _FsDiskQuota(d_version=FS_DQUOT_VERSION, d_id=project_id, d_flags=FS_PROJ_QUOTA,
                         d_fieldmask=FS_DQ_BSOFT | FS_DQ_BHARD,
                         d_blk_softlimit=-(-soft_limit // BASIC_BLOCK),
                         d_blk_hardlimit=-(-hard_limit // BASIC_BLOCK))
    try:
        _quotactl(qcmd(Q_XSETQLIM, PRJQUOTA), device, project_id, quota)
    except OSError as error:
        raise OSError(error.errno, f"Failed to set quota for project ID {project_id}: "
                                   f"{error.strerror}")


def _open_inode(path: str, info: os.stat_result) -> int:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    return os.open(path, flags | (os.O_DIRECTORY if stat.S_ISDIR(info.st_mode) else 0))


def get_project_id(path: str) -> int:
    """The project id of `path` (0: none). OSError ENOTTY off XFS (or ext4)."""
    fd = _open_inode(path, os.lstat(path))
    try:
        buffer = bytearray(_FSXATTR.size)
        fcntl.ioctl(fd, FS_IOC_FSGETXATTR, buffer, True)
        return int(_FSXATTR.unpack(buffer)[3])
    finally:
        os.close(fd)


def _set_inode_project(path: str, info: os.stat_result, project_id: int) -> None:
    fd = _open_inode(path, info)
    try:
        buffer = bytearray(_FSXATTR.size)
        fcntl.ioctl(fd, FS_IOC_FSGETXATTR, buffer, True)
        xflags, extsize, nextents, _, cowextsize = _FSXATTR.unpack(buffer)
        if project_id and stat.S_ISDIR(info.st_mode):
            xflags |= FS_XFLAG_PROJINHERIT
        else:
            xflags &= ~FS_XFLAG_PROJINHERIT
        fcntl.ioctl(fd, FS_IOC_FSSETXATTR,
                    _FSXATTR.pack(xflags, extsize, nextents, project_id, cowextsize))
    finally:
        os.close(fd)


def set_project_id(root: str, project_id: int, include_root: bool = True) -> None:
    """Gives `root` and every directory and regular file below it `project_id`.

    Directories get PROJINHERIT (0 clears it), so what is created in them later
    inherits the id. Symlinks and special files cannot be opened to be
    relabelled and keep theirs; other mounts below `root` are not entered.
    """
    if not stat.S_ISDIR(os.lstat(root).st_mode):
        raise OSError(errno.ENOTDIR, f"'{root}' is not a directory")
    for path, info in _tree(root, mount_points_under(root)):
        if path == root and not include_root:
            continue
        if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
            try:
                _set_inode_project(path, info, project_id)
            except FileNotFoundError:
                continue
            except OSError as error:
                raise OSError(error.errno, f"Failed to set XFS attributes for '{path}': "
                                           f"{error.strerror}")


def parse_project_range(text: str) -> list[tuple[int, int]]:
    """`[5000-10000]` (or several ranges, `[1-5,7-9]`) as (first, last) pairs."""
    match = re.fullmatch(r"\s*\[([0-9,\-\s]+)\]\s*", text)
    if match is None:
        raise ValueError(f"Failed to parse XFS project range '{text}'")
    ranges = []
    for part in match.group(1).split(","):
        bounds = part.strip().split("-")
        if len(bounds) != 2 or not all(b.strip().isdigit() for b in bounds):
            raise ValueError(f"Failed to parse XFS project range '{text}'")
        first, last = int(bounds[0]), int(bounds[1])
        if first > last:
            raise ValueError(f"Failed to parse XFS project range '{text}'")
        if last > 0xFFFFFFFF:
            raise ValueError(f"Project ID {last} is out of range")
        if first == 0:
            raise ValueError("XFS project ID range contains illegal 0 value")
        ranges.append((first, last))
    return ranges


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


def _read_resources(work_dir: str, container_id: ContainerID) -> list[Resource]:
    """The resources the container was launched with, from its checkpointed config."""
    try:
        config = checkpoint.read_message(paths.container_config_path(work_dir, container_id),
                                         ContainerConfig)
    except (OSError, checkpoint.CheckpointError) as error:
        log.warning("%s: no checkpointed resources, no disk quota: %s",
                    container_key(container_id), error)
        return []
    return list(config.resources)


# ================================================================= disk/du
@dataclasses.dataclass
class _DuInfo:
    container_id: ContainerID
    sandbox: str
    quota: list[Resource]
    limit: int | None
    used: int | None = None
    limitation: Promise[ContainerLimitation] = dataclasses.field(default_factory=Promise)
    timer: Timer | None = None


class DiskDuIsolator(Isolator):
    NAME = "disk/du"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__(flags, names)
        self._interval = _interval(flags)
        self._enforce = bool(getattr(flags, "enforce_container_disk_quota", False))
        self._infos: dict[str, _DuInfo] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._walks = 0

    def finalize(self) -> None:
        for info in self._infos.values():
            if info.timer is not None:
                info.timer.cancel()

    # Nested containers live inside their parent's sandbox: only top-level
    # sandboxes are measured (as Mesos does).
    def recover(self, states: list[ContainerState],  # type: ignore[override]
                orphans: list[ContainerID]) -> Future[None] | None:
        top = [s for s in states if not s.container_id.HasField("parent")]
        if not top:
            return None
        work_dir = self.flags.work_dir
        return self.runtime.pool.run(
            lambda: [_read_resources(work_dir, s.container_id) for s in top]).then(
            defer(self.pid, lambda resources: self._recovered(top, resources)))

    def _recovered(self, states: list[ContainerState], resources: list[list[Resource]]) -> None:
        for state, container_resources in zip(states, resources):
            quota, limit = sandbox_disk(container_resources)
            self._track(state.container_id, state.directory, quota, limit)

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        if container_id.HasField("parent"):
            return None
        if container_key(container_id) in self._infos:
            raise Failure("Container has already been prepared")
        quota, limit = sandbox_disk(config.resources)
        self._track(container_id, config.directory, quota, limit)
        return None

    def watch(self, container_id: ContainerID) -> Future[ContainerLimitation]:
        if container_id.HasField("parent"):
            return Future()
        info = self._infos.get(container_key(container_id))
        if info is None:
            raise Failure("Unknown container")
        return info.limitation.future

    def update(self, container_id: ContainerID, resources: list[Resource],
               limits: Mapping[str, float]) -> None:
        info = self._infos.get(container_key(container_id))
        if info is None:
            return
        info.quota, info.limit = sandbox_disk(resources)
        log.info("%s: disk quota updated to %s", container_key(container_id),
                 "none" if info.limit is None else Bytes(info.limit))
        self._check(info)

    def usage(self, container_id: ContainerID) -> ResourceStatistics:
        statistics = ResourceStatistics(timestamp=0)
        info = self._infos.get(container_key(container_id))
        if info is None:
            return statistics
        if info.used is not None:
            statistics.disk_used_bytes = info.used
        if info.limit is not None:
            statistics.disk_limit_bytes = info.limit
            disk = statistics.disk_statistics.add(limit_bytes=info.limit)
            if info.used is not None:
                disk.used_bytes = info.used
        return statistics

    def cleanup(self, container_id: ContainerID) -> None:
        info = self._infos.pop(container_key(container_id), None)
        if info is not None and info.timer is not None:
            info.timer.cancel()

    # ------------------------------------------------------------ measuring
    def _track(self, container_id: ContainerID, sandbox: str, quota: list[Resource],
               limit: int | None) -> None:
        key = container_key(container_id)
        self._infos[key] = _DuInfo(container_id, sandbox, quota, limit)
        self._queue.append(key)
        self._pump()

    def _pump(self) -> None:
        while self._walks < MAX_WALKS and self._queue:
            key = self._queue.popleft()
            info = self._infos.get(key)
            if info is None:
                continue
            self._walks += 1
            self.runtime.pool.run(sandbox_usage, info.sandbox).on_any(
                defer(self.pid, lambda done, k=key, i=info: self._measured(k, i, done)))

    def _measured(self, key: str, info: _DuInfo, done: Future[int]) -> None:
        self._walks -= 1
        self._pump()
        if self._infos.get(key) is not info:
            return  # cleaned up (or relaunched) meanwhile
        if done.is_ready():
            info.used = done.value()
            self._check(info)
        else:
            log.warning("%s: failed to measure the disk usage of '%s': %s", key, info.sandbox,
                        done.failure() if done.is_failed() else "discarded")
        info.timer = delay(self.runtime.clock, self._interval, self.pid, self._due, key, info)

    def _due(self, key: str, info: _DuInfo) -> None:
        if self._infos.get(key) is info:
            info.timer = None
            self._queue.append(key)
            self._pump()

    def _check(self, info: _DuInfo) -> None:
        if (not self._enforce or info.limit is None or info.used is None
                or info.used <= info.limit or not info.limitation.future.is_pending()):
            return
        message = f"Disk usage ({Bytes(info.used)}) exceeds quota ({Bytes(info.limit)})"
        log.info("%s: %s", container_key(info.container_id), message)
        info.limitation.set(_disk_limitation(info.quota, message))


# ================================================================ disk/xfs
@dataclasses.dataclass
class _XfsInfo:
    container_id: ContainerID
    sandbox: str
    project_id: int
    device: str | None = None
    limit: int | None = None
    limitation: Promise[ContainerLimitation] = dataclasses.field(default_factory=Promise)


class XfsDiskIsolator(Isolator):
    NAME = "disk/xfs"
    SUPPORTS_NESTING: ClassVar[bool] = False
    SUPPORTS_STANDALONE: ClassVar[bool] = True
    # statfs magic numbers of the filesystems accepted for the work directory.
    FILESYSTEMS: ClassVar[dict[int, str]] = {XFS_SUPER_MAGIC: "XFS"}

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__(flags, names)
        self._work_dir: str = flags.work_dir
        self._interval = _interval(flags)
        self._kill = bool(getattr(flags, "xfs_kill_containers", False))
        try:
            self._ranges = parse_project_range(flags.xfs_project_range)
            if os.geteuid() != 0:
                raise ValueError("The XFS disk isolator requires running as root.")
            self._check_path(self._work_dir)
        except (ValueError, OSError) as error:
            # Ends start-up with this one line, as Mesos's create() does.
            raise StartupError(f"Failed to create isolator '{self.NAME}': {error}") from None
        self._used: set[int] = set()
        self._infos: dict[str, _XfsInfo] = {}
        # Project ids whose sandbox still holds files we could not relabel:
        # reserved until the sandbox is removed.
        self._reclaim: dict[int, tuple[str, str]] = {}
        self._timer: Timer | None = None
        total = sum(last - first + 1 for first, last in self._ranges)
        log.info("Allocating %d XFS project IDs from the range %s", total,
                 flags.xfs_project_range)

    @classmethod
    def _check_path(cls, path: str) -> None:
        kind = filesystem_type(path)
        if kind not in cls.FILESYSTEMS:
            raise ValueError(f"'{path}' is not an XFS filesystem")
        device = device_for_path(path)
        try:
            enabled = project_quota_enabled(device)
        except OSError as error:
            raise ValueError(f"Failed to get quota status for '{path}': {error.strerror}")
        if not enabled:
            raise ValueError(f"XFS project quotas are not enabled on '{path}'")

    def initialize(self) -> None:
        self._schedule()

    def finalize(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    # ------------------------------------------------------------- recovery
    def recover(self, states: list[ContainerState],  # type: ignore[override]
                orphans: list[ContainerID]) -> Future[None]:
        alive = {s.container_id.value: s for s in states if not s.container_id.HasField("parent")}
        root = os.path.join(self._work_dir, "containers")
        return self.runtime.pool.run(_scan_sandboxes, root, list(alive)).then(
            defer(self.pid, lambda found: self._recovered(found, alive)))

    def _recovered(self, found: list[tuple[str, str, int, str, int]],
                   alive: dict[str, ContainerState]) -> Future[Any]:
        released = []
        for name, sandbox, project_id, device, soft_limit in found:
            self._used.add(project_id)
            state = alive.get(name)
            if state is not None:
                info = _XfsInfo(state.container_id, sandbox, project_id, device,
                                soft_limit or None)
                self._infos[container_key(state.container_id)] = info
                log.info("%s: recovered project %d on '%s'", name, project_id, sandbox)
            else:
                # The container ended while its project was still assigned.
                released.append(self._release(name, sandbox, project_id, device))
        return _settled_all(released)

    # ------------------------------------------------------------ lifecycle
    def prepare(self, container_id: ContainerID,  # type: ignore[override]
                config: ContainerConfig) -> Future[ContainerLaunchInfo | None]:
        key = container_key(container_id)
        if key in self._infos:
            raise Failure("Container has already been prepared")
        _, limit = sandbox_disk(config.resources)
        if limit == 0:
            raise Failure("Disk quota must be greater than 0: a zero XFS limit means no limit")
        project_id = self._next_project_id()
        if project_id is None:
            raise Failure("Failed to assign project ID, range exhausted")
        # Recorded first, so that cleanup() releases the id if assigning fails.
        info = _XfsInfo(container_id, config.directory, project_id, limit=limit)
        self._infos[key] = info
        soft, hard = self._limits(limit)
        return self.runtime.pool.run(_assign, config.directory, project_id, soft, hard).then(
            defer(self.pid, lambda device: self._assigned(key, info, device)))

    def _assigned(self, key: str, info: _XfsInfo, device: str) -> None:
        info.device = device
        log.info("%s: assigned project %d to '%s' (quota %s)", key, info.project_id,
                 info.sandbox, "none" if info.limit is None else Bytes(info.limit))
        return None

    def watch(self, container_id: ContainerID) -> Future[ContainerLimitation]:
        info = self._infos.get(container_key(container_id))
        if info is None:
            # Not isolated by us (e.g. launched before disk/xfs was enabled).
            return Future()
        return info.limitation.future

    def update(self, container_id: ContainerID,  # type: ignore[override]
               resources: list[Resource], limits: Mapping[str, float]) -> Future[None] | None:
        info = self._infos.get(container_key(container_id))
        if info is None or info.device is None:
            return None
        _, limit = sandbox_disk(resources)
        if limit is None:
            return None
        if limit == 0:
            raise Failure("Disk quota must be greater than 0: a zero XFS limit means no limit")
        soft, hard = self._limits(limit)

        def updated(_: Any) -> None:
            info.limit = limit
            log.info("%s: set quota for project %d to %s/%s", container_key(container_id),
                     info.project_id, Bytes(soft), Bytes(hard))

        return self.runtime.pool.run(set_project_quota, info.device, info.project_id, soft,
                                     hard).then(defer(self.pid, updated))

    def usage(self, container_id: ContainerID) -> Future[ResourceStatistics] | ResourceStatistics:
        info = self._infos.get(container_key(container_id))
        if info is None or info.device is None:
            return ResourceStatistics(timestamp=0)
        limit = info.limit

        def statistics(quota: ProjectQuota) -> ResourceStatistics:
            result = ResourceStatistics(timestamp=0, disk_used_bytes=quota.used)
            if limit is not None:
                result.disk_limit_bytes = limit
            return result

        return self.runtime.pool.run(get_project_quota, info.device,
                                     info.project_id).then(statistics)

    def cleanup(self,  # type: ignore[override]
                container_id: ContainerID) -> Future[None] | None:
        info = self._infos.pop(container_key(container_id), None)
        if info is None:
            return None
        return self._release(container_key(container_id), info.sandbox, info.project_id,
                             info.device)

    # ------------------------------------------------------- project ids
    def _next_project_id(self) -> int | None:
        for first, last in self._ranges:
            for project_id in range(first, last + 1):
                if project_id not in self._used and project_id not in self._reclaim:
                    self._used.add(project_id)
                    return project_id
        return None

    def _limits(self, limit: int | None) -> tuple[int, int]:
        if limit is None:
            return 0, 0
        return limit, (limit + KILL_HEADROOM if self._kill else limit)

    def _release(self, key: str, sandbox: str, project_id: int,
                 device: str | None) -> Future[None]:
        """Clears the project from the sandbox and its quota; frees the id if nothing is left."""

        def released(freed: bool) -> None:
            if freed:
                self._used.discard(project_id)
                log.info("%s: released project %d", key, project_id)
            else:
                self._reclaim[project_id] = (sandbox, device or "")
                log.info("%s: project %d still owns files in '%s' (symlinks, special files); "
                         "reserved until the sandbox is removed", key, project_id, sandbox)

        def failed(future: Future[None]) -> None:
            log.error("%s: failed to release project %d: %s", key, project_id,
                      future.failure() if future.is_failed() else "discarded")

        done = self.runtime.pool.run(_unassign, sandbox, project_id, device)
        return done.then(defer(self.pid, released)).recover(defer(self.pid, failed))

    # ------------------------------------------ periodic: kill and reclaim
    def _schedule(self) -> None:
        self._timer = delay(self.runtime.clock, self._interval, self.pid, self._tick)

    def _tick(self) -> None:
        self._timer = None
        checks: list[Future[Any]] = []
        if self._kill:
            for key, info in self._infos.items():
                if info.device is not None and info.limit is not None \
                        and info.limitation.future.is_pending():
                    checks.append(self.runtime.pool.run(
                        get_project_quota, info.device, info.project_id).then(
                        defer(self.pid, lambda quota, k=key, i=info: self._checked(k, i, quota))))
        if self._reclaim:
            pending = dict(self._reclaim)
            checks.append(self.runtime.pool.run(_reclaimable, pending).then(
                defer(self.pid, self._reclaimed)))
        _settled_all(checks).on_any(defer(self.pid, lambda _: self._schedule()))

    def _checked(self, key: str, info: _XfsInfo, quota: ProjectQuota) -> None:
        if self._infos.get(key) is not info or info.limit is None:
            return
        if quota.used > info.limit and info.limitation.future.is_pending():
            resource = Resource(name="disk", type=Value.SCALAR)
            resource.scalar.value = quota.used // MEGABYTE
            message = f"Disk usage ({Bytes(quota.used)}) exceeded quota ({Bytes(info.limit)})"
            log.info("%s: %s in '%s'", key, message, info.sandbox)
            info.limitation.set(_disk_limitation([resource], message))

    def _reclaimed(self, freed: list[int]) -> None:
        for project_id in freed:
            self._reclaim.pop(project_id, None)
            self._used.discard(project_id)
            log.info("Reclaimed project ID %d", project_id)


# ----------------------------------------------- xfs blocking work (the pool)
def _assign(sandbox: str, project_id: int, soft: int, hard: int) -> str:
    """Labels the sandbox with `project_id` and sets its limits; the device."""
    try:
        set_project_id(sandbox, project_id)
    except OSError as error:
        raise Failure(f"Failed to assign project {project_id}: {error.strerror or error}")
    try:
        device = device_for_path(sandbox)
        # No limit: clear whatever an earlier user of the id left.
        set_project_quota(device, project_id, soft, hard)
    except OSError as error:
        raise Failure(f"Failed to update quota for project {project_id}: "
                      f"{error.strerror or error}")
    return device


def _unassign(sandbox: str, project_id: int, device: str | None) -> bool:
    """True when nothing under the sandbox holds `project_id` any more."""
    if not os.path.isdir(sandbox):
        if device:
            set_project_quota(device, project_id, 0, 0)
        return True
    try:
        get_project_id(sandbox)
    except OSError as error:
        if error.errno in _NOT_SUPPORTED:
            return True  # never labelled: the filesystem has no project ids
        raise
    device = device or device_for_path(sandbox)
    set_project_id(sandbox, 0, include_root=False)
    set_project_quota(device, project_id, 0, 0)
    # The sandbox directory itself is the one inode expected to remain. Files
    # deleted just before are still charged until XFS inactivates them in the
    # background; a syncfs() waits for that before anything counts as left.
    if get_project_quota(device, project_id).inodes > 1:
        syncfs(sandbox)
        if get_project_quota(device, project_id).inodes > 1:
            return False
    set_project_id(sandbox, 0)
    return True


_NOT_SUPPORTED = (errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL)


def _reclaimable(pending: dict[int, tuple[str, str]]) -> list[int]:
    freed = []
    for project_id, (sandbox, device) in pending.items():
        if os.path.lexists(sandbox):
            continue
        if device:
            try:
                set_project_quota(device, project_id, 0, 0)
            except OSError as error:
                log.error("Failed to clear quota for project ID %d: %s", project_id, error)
        freed.append(project_id)
    return freed


def _scan_sandboxes(root: str, alive: list[str]) -> list[tuple[str, str, int, str, int]]:
    """(name, sandbox, project id, device, soft limit) of each labelled sandbox."""
    found = []
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    for name in names:
        sandbox = os.path.join(root, name)
        if os.path.islink(sandbox) or not os.path.isdir(sandbox):
            continue
        try:
            project_id = get_project_id(sandbox)
        except OSError as error:
            raise Failure(f"Failed to get XFS attributes for '{sandbox}': {error.strerror}")
        if project_id == 0:
            continue
        device = device_for_path(sandbox)
        soft = get_project_quota(device, project_id).soft_limit if name in alive else 0
        found.append((name, sandbox, project_id, device, soft))
    return found


def _settled_all(futures: list[Future[Any]]) -> Future[None]:
    return await_all(futures).then(lambda _: None)
