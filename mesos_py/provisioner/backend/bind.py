"""The bind backend: the single layer of an image, bind-mounted read-only.

A read-only root filesystem cannot get a mount point for the sandbox, so
the sandbox directory (`--sandbox_directory`) is created in the layer
itself before it is mounted (Mesos requires images to carry it).
"""

from __future__ import annotations

import os

from mesos_py.linux import fs
from mesos_py.provisioner.backend import Backend


class BindBackend(Backend):
    NAME = "bind"

    def __init__(self, sandbox_directory: str) -> None:
        self._sandbox_directory = sandbox_directory

    def provision(self, layers: list[str], rootfs: str, backend_dir: str) -> list[str]:
        if len(layers) > 1:
            raise ValueError("Multiple layers are not supported by the bind backend")
        if not layers:
            raise ValueError("No filesystem layer provided")
        layer = layers[0]
        os.makedirs(os.path.join(layer, self._sandbox_directory.lstrip("/")), exist_ok=True)
        os.makedirs(rootfs)
        fs.mount(layer, rootfs, None, fs.MS_BIND)
        try:
            fs.mount(None, rootfs, None, fs.MS_BIND | fs.MS_REMOUNT | fs.MS_RDONLY)
            # Its own peer group: an unmount here reaches the copies that
            # containers' mount namespaces hold.
            fs.mount(None, rootfs, None, fs.MS_SLAVE)
            fs.mount(None, rootfs, None, fs.MS_SHARED)
        except fs.MountError:
            fs.unmount(rootfs, fs.MNT_DETACH)
            raise
        return []

    def destroy(self, rootfs: str, backend_dir: str) -> bool:
        if not os.path.lexists(rootfs):
            return False
        fs.unmount_all_under(rootfs)
        os.rmdir(rootfs)
        return True
