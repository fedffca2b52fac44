"""The overlay backend: the layers as the lower directories of an overlay mount.

    backends/overlay/rootfses/<id>            the mount point (the rootfs)
    backends/overlay/scratch/<id>/upperdir    what the container writes
    backends/overlay/scratch/<id>/workdir     overlayfs's work directory
    backends/overlay/scratch/<id>/links  ->   /tmp/mesos-py-overlay-XXXX: short
                                              symlinks 0..N-1 to the layers

The mount options name the layers through the short links (as Mesos does):
the options must fit in one page, and store paths are long. Set-up is a few
directories, links and one mount, independent of the image's size.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from mesos_py.linux import fs
from mesos_py.provisioner.backend import Backend


class OverlayBackend(Backend):
    NAME = "overlay"

    def provision(self, layers: list[str], rootfs: str, backend_dir: str) -> list[str]:
        if not layers:
            raise ValueError("No filesystem layer provided")
        rootfs_id = os.path.basename(rootfs)
        scratch = os.path.join(backend_dir, "scratch", rootfs_id)
        upper, work = os.path.join(scratch, "upperdir"), os.path.join(scratch, "workdir")
        for directory in (rootfs, upper, work):
            os.makedirs(directory)
        links = tempfile.mkdtemp(prefix="mesos-py-overlay-")
        os.symlink(links, os.path.join(scratch, "links"))
        for index, layer in enumerate(layers):
            os.symlink(layer, os.path.join(links, str(index)))
        os.symlink(upper, os.path.join(links, "u"))
        os.symlink(work, os.path.join(links, "w"))
        # overlayfs stacks lower directories right to left: the bottom layer goes last.
        lower = ":".join(os.path.join(links, str(i)) for i in reversed(range(len(layers))))
        options = f"lowerdir={lower},upperdir={links}/u,workdir={links}/w"
        fs.mount("overlay", rootfs, "overlay", 0, options)
        try:
            # Its own peer group: an unmount here reaches the copies that
            # containers' mount namespaces hold.
            fs.mount(None, rootfs, None, fs.MS_SLAVE)
            fs.mount(None, rootfs, None, fs.MS_SHARED)
        except fs.MountError:
            fs.unmount(rootfs, fs.MNT_DETACH)
            raise
        return [upper, work]

    def destroy(self, rootfs: str, backend_dir: str) -> bool:
        rootfs_id = os.path.basename(rootfs)
        scratch = os.path.join(backend_dir, "scratch", rootfs_id)
        existed = os.path.lexists(rootfs) or os.path.lexists(scratch)
        if os.path.lexists(rootfs):
            fs.unmount_all_under(rootfs)
            os.rmdir(rootfs)
        links = os.path.join(scratch, "links")
        if os.path.islink(links):
            target = os.readlink(links)
            if os.path.basename(target).startswith("mesos-py-overlay-"):
                shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
        return existed
