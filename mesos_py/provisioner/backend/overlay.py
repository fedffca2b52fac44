"""The overlay backend: the layers as the lower directories of an overlay mount.

    backends/overlay/rootfses/<id>            the mount point (the rootfs)
    backends/overlay/scratch/<id>/upperdir    what the container writes
    backends/overlay/scratch/<id>/workdir     overlayfs's work directory

Below the image's layers lies a scaffold: a layer of empty directories (the
mount points every container gets: /proc, /sys, /dev and the sandbox), made
once per agent. A container's mount points then need no directory of their
own in its upper directory; the image's own directories, above, win.

The mount options must fit in one page. They name the layers by their store
paths when those fit; an image with too many layers for that is mounted
through short symlinks in a temporary directory (/tmp/mesos-py-overlay-XXXX/
0..N-1, u, w), as Mesos always does. The kernel resolves the paths at mount
time, so the links are deleted once the mount is made. Set-up is a few
directories and one mount, independent of the image's size.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from mesos_py.linux import fs
from mesos_py.provisioner.backend import Backend


class OverlayBackend(Backend):
    NAME = "overlay"

    def __init__(self, scaffold: str | None = None, sandbox_directory: str = "") -> None:
        self._scaffold = scaffold
        self._mount_points = [*SCAFFOLD_MOUNT_POINTS, sandbox_directory.strip("/")]
        self._scaffold_made = False

    def directories(self, rootfs: str, backend_dir: str) -> list[str]:
        scratch = os.path.join(backend_dir, "scratch", os.path.basename(rootfs))
        return [rootfs, os.path.join(scratch, "upperdir"), os.path.join(scratch, "workdir")]

    def provision(self, layers: list[str], rootfs: str, backend_dir: str) -> list[str]:
        if not layers:
            raise ValueError("No filesystem layer provided")
        _, upper, work = directories = self.directories(rootfs, backend_dir)
        for directory in directories:
            os.makedirs(directory, exist_ok=True)
        if self._scaffold is not None:
            layers = [self._made_scaffold(self._scaffold), *layers]
        options = _options(layers, upper, work)
        if _fits(options, [*layers, upper, work]):
            fs.mount("overlay", rootfs, "overlay", 0, options)
        else:
            _mount_through_links(layers, upper, work, rootfs)
        try:
            # Its own peer group: an unmount here reaches the copies that
            # containers' mount namespaces hold.
            fs.mount(None, rootfs, None, fs.MS_SLAVE)
            fs.mount(None, rootfs, None, fs.MS_SHARED)
        except fs.MountError:
            fs.unmount(rootfs, fs.MNT_DETACH)
            raise
        return [upper, work]

    def _made_scaffold(self, scaffold: str) -> str:
        if not self._scaffold_made:
            for mount_point in self._mount_points:
                if mount_point:
                    os.makedirs(os.path.join(scaffold, mount_point), mode=0o755, exist_ok=True)
            self._scaffold_made = True
        return scaffold

    def destroy(self, rootfs: str, backend_dir: str) -> bool:
        rootfs_id = os.path.basename(rootfs)
        scratch = os.path.join(backend_dir, "scratch", rootfs_id)
        existed = os.path.lexists(rootfs) or os.path.lexists(scratch)
        if os.path.lexists(rootfs):
            fs.unmount_all_under(rootfs)
            os.rmdir(rootfs)
        links = os.path.join(scratch, "links")  # made by versions that kept the links
        if os.path.islink(links):
            target = os.readlink(links)
            if os.path.basename(target).startswith("mesos-py-overlay-"):
                shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
        return existed


# The mount points filesystem/linux makes in every rootfs (with the sandbox).
SCAFFOLD_MOUNT_POINTS = ("proc", "sys", "dev")
_PAGE = os.sysconf("SC_PAGESIZE")
_SPECIAL = set(",:\\")  # separators (and the escape) of the mount options


def _options(layers: list[str], upper: str, work: str) -> str:
    # overlayfs stacks lower directories right to left: the bottom layer goes last.
    return f"lowerdir={':'.join(reversed(layers))},upperdir={upper},workdir={work}"


def _fits(options: str, paths: list[str]) -> bool:
    return len(options) < _PAGE and not any(_SPECIAL & set(path) for path in paths)


def _mount_through_links(layers: list[str], upper: str, work: str, rootfs: str) -> None:
    links = tempfile.mkdtemp(prefix="mesos-py-overlay-")
    names = [str(index) for index in range(len(layers))] + ["u", "w"]
    try:
        for name, target in zip(names, [*layers, upper, work]):
            os.symlink(target, os.path.join(links, name))
        short = [os.path.join(links, name) for name in names]
        options = _options(short[:-2], short[-2], short[-1])
        if len(options) >= _PAGE:
            raise ValueError(f"Too many layers ({len(layers)}) for one overlay mount")
        fs.mount("overlay", rootfs, "overlay", 0, options)
    finally:
        _remove_links(links, names)


def _remove_links(links: str, names: list[str]) -> None:
    for name in names:
        try:
            os.unlink(os.path.join(links, name))
        except FileNotFoundError:
            pass
    os.rmdir(links)
