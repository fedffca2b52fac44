"""The copy backend: each layer copied in turn into the container's rootfs.

Layers are in the overlay format (see `store/layers.py`): a 0/0 character
device deletes what lower layers had at its path, an opaque directory hides
the lower layers' entries below it. Hard links within a layer stay hard
links; owners, modes (set-id bits included), times and extended attributes
are kept.
"""

from __future__ import annotations

import os
import shutil
import stat

from mesos_py.linux import fs
from mesos_py.provisioner.backend import Backend
from mesos_py.provisioner.store.layers import OPAQUE_XATTR, is_opaque, is_whiteout


class CopyBackend(Backend):
    NAME = "copy"

    def provision(self, layers: list[str], rootfs: str, backend_dir: str) -> list[str]:
        if not layers:
            raise ValueError("No filesystem layer provided")
        os.makedirs(rootfs, mode=0o755)
        for layer in layers:
            _copy_tree(layer, rootfs, {})
        os.chmod(rootfs, 0o755)
        return []

    def destroy(self, rootfs: str, backend_dir: str) -> bool:
        if not os.path.lexists(rootfs):
            return False
        # Nothing should be mounted there; but never delete through a mount.
        fs.unmount_all_under(rootfs)
        shutil.rmtree(rootfs)
        return True


def _copy_tree(source: str, target: str, links: dict[tuple[int, int], str]) -> None:
    with os.scandir(source) as entries:
        for entry in entries:
            _copy_entry(entry.path, os.path.join(target, entry.name),
                        entry.stat(follow_symlinks=False), links)


def _copy_entry(source: str, target: str, st: os.stat_result,
                links: dict[tuple[int, int], str]) -> None:
    if is_whiteout(st):
        _remove(target)
        return
    if stat.S_ISDIR(st.st_mode):
        if os.path.lexists(target) and (is_opaque(source) or os.path.islink(target)
                                        or not os.path.isdir(target)):
            _remove(target)
        if not os.path.lexists(target):
            os.mkdir(target, 0o700)
        _copy_tree(source, target, links)
        _attributes(source, target, st)
        return
    _remove(target)
    if stat.S_ISREG(st.st_mode):
        if st.st_nlink > 1:
            first = links.get((st.st_dev, st.st_ino))
            if first is not None:
                os.link(first, target)
                return
            links[(st.st_dev, st.st_ino)] = target
        shutil.copyfile(source, target, follow_symlinks=False)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        os.mknod(target, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        os.mkfifo(target, 0o600)
    else:
        return  # sockets are not part of images
    _attributes(source, target, st)


def _attributes(source: str, target: str, st: os.stat_result) -> None:
    for name in os.listxattr(source, follow_symlinks=False):
        if name != OPAQUE_XATTR:
            try:
                os.setxattr(target, name, os.getxattr(source, name, follow_symlinks=False),
                            follow_symlinks=False)
            except OSError:
                pass
    os.lchown(target, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(target, stat.S_IMODE(st.st_mode))  # after chown, which clears set-id bits
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
