"""Every on-disk path of the provisioner, as a function (Mesos's layout).

    <work_dir>/provisioner/containers/<id>
        layers                                   ContainerLayers: every layer the container uses
        backends/<backend>/rootfses/<rootfs_id>  a root filesystem (one per provisioned image)
        backends/<backend>/scratch/<rootfs_id>   the overlay backend's upperdir/workdir
        containers/<child>/...                   nested containers, the same again
    <work_dir>/provisioner/trash/<uuid>          a destroyed container's directory,
                                                 unmounted, until its files are deleted
    <work_dir>/provisioner/spare                 the next container's directory, made
                                                 ahead (empty rootfs and scratch dirs)
    <work_dir>/provisioner/scaffold              the overlay backend's bottom layer
"""

from __future__ import annotations

import os

from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID
from mesos_py.slave.paths import container_lineage

LAYERS_FILE = "layers"
TRASH_DIR = "trash"
SPARE_DIR = "spare"


def provisioner_dir(work_dir: str) -> str:
    return os.path.join(work_dir, "provisioner")


def container_dir(root: str, container_id: ContainerID) -> str:
    return os.path.join(root, *("containers/" + value
                                for value in container_lineage(container_id)))


def layers_path(root: str, container_id: ContainerID) -> str:
    return os.path.join(container_dir(root, container_id), LAYERS_FILE)


def backend_dir(root: str, container_id: ContainerID, backend: str) -> str:
    return backend_in(container_dir(root, container_id), backend)


def rootfs_dir(root: str, container_id: ContainerID, backend: str, rootfs_id: str) -> str:
    return rootfs_in(container_dir(root, container_id), backend, rootfs_id)


def backend_in(directory: str, backend: str) -> str:
    """A backend's directory in a container's directory (wherever that is)."""
    return os.path.join(directory, "backends", backend)


def rootfs_in(directory: str, backend: str, rootfs_id: str) -> str:
    return os.path.join(backend_in(directory, backend), "rootfses", rootfs_id)


def list_containers(root: str) -> list[ContainerID]:
    """Every container with a directory here, parents before their children."""
    found: list[ContainerID] = []

    def walk(directory: str, parent: ContainerID | None) -> None:
        containers = os.path.join(directory, "containers")
        if not os.path.isdir(containers):
            return
        for name in sorted(os.listdir(containers)):
            container_id = ContainerID(value=name)
            if parent is not None:
                container_id.parent.CopyFrom(parent)
            found.append(container_id)
            walk(os.path.join(containers, name), container_id)

    walk(root, None)
    return found


def list_rootfses(root: str, container_id: ContainerID) -> dict[str, list[str]]:
    """backend -> rootfs ids of one container (not of its children)."""
    return rootfses_in(container_dir(root, container_id))


def rootfses_in(directory: str) -> dict[str, list[str]]:
    """backend -> rootfs ids in one container's directory."""
    backends = os.path.join(directory, "backends")
    result: dict[str, list[str]] = {}
    if not os.path.isdir(backends):
        return result
    for backend in sorted(os.listdir(backends)):
        rootfses = os.path.join(backends, backend, "rootfses")
        ids = sorted(os.listdir(rootfses)) if os.path.isdir(rootfses) else []
        scratch = os.path.join(backends, backend, "scratch")
        # A rootfs whose mount point is gone may still have scratch space.
        if os.path.isdir(scratch):
            ids = sorted(set(ids) | set(os.listdir(scratch)))
        result[backend] = ids
    return result


def trash_entry(root: str, name: str) -> str:
    return os.path.join(root, TRASH_DIR, name)


def list_trash(root: str) -> list[str]:
    """The destroyed container directories not yet deleted."""
    trash = os.path.join(root, TRASH_DIR)
    return [os.path.join(trash, name) for name in sorted(os.listdir(trash))] \
        if os.path.isdir(trash) else []


def spare_dir(root: str) -> str:
    return os.path.join(root, SPARE_DIR)
