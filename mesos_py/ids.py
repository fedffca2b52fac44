"""ContainerID helpers. A container's key is Mesos's string form `root.child.grandchild`
(periods are not allowed inside a ContainerID value, so the form is unambiguous)."""

from __future__ import annotations

from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID


def container_key(container_id: ContainerID) -> str:
    if container_id.HasField("parent"):
        return f"{container_key(container_id.parent)}.{container_id.value}"
    return container_id.value


def container_id_from_key(key: str) -> ContainerID:
    container_id: ContainerID | None = None
    for value in key.split("."):
        child = ContainerID(value=value)
        if container_id is not None:
            child.parent.CopyFrom(container_id)
        container_id = child
    assert container_id is not None
    return container_id


def parent_key(key: str) -> str | None:
    head, sep, _ = key.rpartition(".")
    return head if sep else None


def root_key(key: str) -> str:
    return key.split(".", 1)[0]


def depth(key: str) -> int:
    """0 for a top-level container, 1 for its children, ..."""
    return key.count(".")
