"""XFS project ids and project quotas for disk/xfs, by syscalls (ioctl
FS_IOC_FS[GS]ETXATTR, quotactl Q_X*), never xfsprogs; and the parser of
`--xfs_project_range`.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import fcntl
import os
import re
import stat
import struct
from typing import Any

from mesos_py.isolators.disk_common import _tree, mount_points_under


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
