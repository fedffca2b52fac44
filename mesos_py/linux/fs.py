"""Mounts from the agent's side: mount(2)/umount2(2) and the mount table.

Blocking calls (they touch the kernel's mount table and the disk); the
actors run them on the blocking pool. The container-side mounts (inside a
new mount namespace) are made by the launch helper, which has its own copy
of these few lines because it may import only the standard library.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import re

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_STRICTATIME = 1 << 24
MNT_DETACH = 0x2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class MountError(OSError):
    """mount(2) or umount2(2) failed; the message names the paths."""


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          options: str | None = None) -> None:
    result = _libc.mount(source.encode() if source is not None else None, target.encode(),
                         fstype.encode() if fstype else None, flags,
                         options.encode() if options else None)
    if result != 0:
        errno = ctypes.get_errno()
        raise MountError(errno, f"Failed to mount '{source}' at '{target}': "
                                f"{os.strerror(errno)}")


def unmount(target: str, flags: int = 0) -> None:
    if _libc.umount2(target.encode(), flags) != 0:
        errno = ctypes.get_errno()
        raise MountError(errno, f"Failed to unmount '{target}': {os.strerror(errno)}")


@dataclasses.dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo."""

    id: int
    parent: int
    root: str
    target: str
    options: str
    optional: tuple[str, ...]
    fstype: str
    source: str
    super_options: str

    @property
    def shared(self) -> bool:
        return any(field.startswith("shared:") for field in self.optional)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (\040).
    if "\\" not in field:
        return field
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def mount_table(mountinfo: str = "/proc/self/mountinfo") -> list[MountEntry]:
    entries = []
    with open(mountinfo) as lines:
        for line in lines:
            fields = line.split()
            separator = fields.index("-")
            entries.append(MountEntry(
                id=int(fields[0]), parent=int(fields[1]), root=_unescape(fields[3]),
                target=_unescape(fields[4]), options=fields[5],
                optional=tuple(fields[6:separator]), fstype=fields[separator + 1],
                source=_unescape(fields[separator + 2]),
                super_options=fields[separator + 3] if len(fields) > separator + 3 else ""))
    return entries


def is_mount_point(path: str) -> bool:
    return any(entry.target == path for entry in mount_table())


def unmount_all_under(root: str) -> list[str]:
    """Lazily unmounts every mount at or below `root`, deepest first; their targets."""
    root = os.path.realpath(root)
    prefix = root.rstrip("/") + "/"
    targets = [entry.target for entry in mount_table()
               if entry.target == root or entry.target.startswith(prefix)]
    done = []
    for target in sorted(set(targets), key=lambda t: -t.count("/")):
        # Several mounts may be stacked on one target: peel them all.
        for _ in range(targets.count(target)):
            try:
                unmount(target, MNT_DETACH)
            except MountError as error:
                if error.errno not in (22, 2):  # EINVAL: no longer a mount point
                    raise
        done.append(target)
    return done


def filesystem_type(path: str) -> str:
    """The type (ext4, xfs, overlay...) of the filesystem holding `path`."""
    path = os.path.realpath(path)
    best: MountEntry | None = None
    for entry in mount_table():
        prefix = entry.target.rstrip("/") + "/"
        if path == entry.target or path.startswith(prefix):
            if best is None or len(entry.target) >= len(best.target):
                best = entry
    return best.fstype if best is not None else "unknown"


def overlay_supported() -> bool:
    try:
        with open("/proc/filesystems") as filesystems:
            return any(line.split()[-1] == "overlay" for line in filesystems if line.strip())
    except OSError:
        return False


def join_in_root(root: str, path: str) -> str:
    """`root + path` with every symlink on the way resolved as if `root` were `/`.

    The result is a host path inside `root` even when the image has symlinks
    pointing elsewhere (`/data -> /etc` must not make the agent create
    mount points in the host's /etc). Components that do not exist yet are
    kept as they are.
    """
    root = os.path.normpath(root)
    pending = [part for part in path.split("/") if part not in ("", ".")]
    resolved: list[str] = []
    followed = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            followed += 1
            if followed > 40:
                raise OSError(40, f"Too many levels of symbolic links in '{path}'")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)
