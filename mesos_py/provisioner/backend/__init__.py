"""Backends: how a container's root filesystem is made from an image's layers.

- `copy`: copies every layer, bottom first, into a directory of its own;
- `bind`: bind-mounts the only layer of a single-layer image, read-only;
- `overlay`: mounts an overlay filesystem with the layers as lower
  directories and a scratch upper directory per container, so its set-up
  costs the same whatever the image's size.

Backends are plain objects without state of their own; their methods block
(copying, mounting) and the provisioner runs them on the blocking pool.
`provision` returns the paths the container writes outside its sandbox;
`destroy` answers whether there was anything to destroy.
"""

from __future__ import annotations

import os
from typing import ClassVar

from mesos_py.linux import fs


class Backend:
    NAME: ClassVar[str] = ""

    def provision(self, layers: list[str], rootfs: str, backend_dir: str) -> list[str]:
        raise NotImplementedError

    def directories(self, rootfs: str, backend_dir: str) -> list[str]:
        """The empty directories `provision` starts from (made ahead if they exist)."""
        return []

    def destroy(self, rootfs: str, backend_dir: str) -> bool:
        raise NotImplementedError


# Filesystems an overlay upper directory cannot live on (as Mesos lists them).
_NO_OVERLAY_ON = ("aufs", "btrfs", "ecryptfs", "zfs", "overlay")


def unsupported_reason(backend: str, directory: str) -> str | None:
    """Why `backend` cannot work for `directory` on this host; None if it can."""
    if backend in ("copy", "bind"):
        return None
    if backend == "overlay":
        if not fs.overlay_supported():
            return "the kernel has no overlay filesystem"
        fstype = fs.filesystem_type(directory)
        if fstype in _NO_OVERLAY_ON:
            return f"Backend 'overlay' is not supported on the underlying filesystem '{fstype}'"
        return None
    return "Not found"


def create_backends(sandbox_directory: str, provisioner_dir: str) -> dict[str, Backend]:
    from mesos_py.provisioner.backend.bind import BindBackend
    from mesos_py.provisioner.backend.copy import CopyBackend
    from mesos_py.provisioner.backend.overlay import OverlayBackend
    scaffold = os.path.join(provisioner_dir, "scaffold")
    return {"copy": CopyBackend(), "bind": BindBackend(sandbox_directory),
            "overlay": OverlayBackend(scaffold, sandbox_directory)}


def default_backend(requested: str | None, directory: str) -> str:
    """The backend to provision with; ValueError if the requested one cannot work."""
    if requested is not None:
        reason = unsupported_reason(requested, directory)
        if reason is not None:
            raise ValueError(f"The specified provisioner backend '{requested}' is not "
                             f"supported: {reason}")
        return requested
    return "overlay" if unsupported_reason("overlay", directory) is None else "copy"
