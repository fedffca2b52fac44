"""What stores hand to the provisioner, and what the provisioner hands back."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from mesos_py.protos.mesos.appc.spec_pb2 import ImageManifest as AppcManifest
from mesos_py.protos.mesos.docker.v1_pb2 import ImageManifest as DockerManifest
from mesos_py.protos.mesos.v1.mesos_pb2 import Image


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """An image in a store: its layers' root directories, bottom layer first."""

    layers: list[str]
    config: str | None = None  # a file the image needs besides its layers (kept by GC)
    docker_manifest: DockerManifest | None = None
    appc_manifest: AppcManifest | None = None


@dataclasses.dataclass(frozen=True)
class ProvisionInfo:
    """A provisioned root filesystem for one container."""

    rootfs: str
    # Directories written by the container that are not in its sandbox
    # (the overlay backend's upperdir and workdir).
    ephemeral_volumes: list[str] = dataclasses.field(default_factory=list)
    docker_manifest: DockerManifest | None = None
    appc_manifest: AppcManifest | None = None


def describe(image: Image) -> str:
    """`DOCKER image 'busybox'`, for messages and logs."""
    if image.type == Image.DOCKER:
        return f"DOCKER image '{image.docker.name}'"
    if image.type == Image.APPC:
        labels = ",".join(f"{label.key}={label.value}" for label in image.appc.labels.labels)
        name = image.appc.name or image.appc.id
        return f"APPC image '{name}'" + (f" ({labels})" if labels else "")
    return f"image of type {image.type}"


def docker_manifest_from_config(config: dict[str, Any]) -> DockerManifest:
    """Mesos's `docker::spec::v1::ImageManifest` from an image config (the
    JSON of a Docker schema 2 or OCI image config, or a v1 layer `json`)."""
    manifest = DockerManifest()
    for field in ("id", "parent", "comment", "created", "container", "docker_version",
                  "author", "architecture", "os"):
        value = config.get(field)
        if isinstance(value, str):
            setattr(manifest, field, value)
    for field in ("container_config", "config"):
        runtime = config.get(field)
        if isinstance(runtime, dict):
            _runtime_config(runtime, getattr(manifest, field))
    return manifest


def _runtime_config(source: dict[str, Any], target: DockerManifest.Config) -> None:
    target.SetInParent()
    for name in ("Hostname", "User", "WorkingDir", "Image"):
        value = source.get(name)
        if isinstance(value, str):
            setattr(target, name, value)
    for name in ("Entrypoint", "Env", "Cmd"):
        value = source.get(name)
        if isinstance(value, str):  # a shell-form string: Docker stores it as one element
            value = [value]
        if isinstance(value, list):
            getattr(target, name).extend(str(item) for item in value)
    labels = source.get("Labels")
    if isinstance(labels, dict):
        for key, value in labels.items():
            target.Labels[str(key)] = str(value)


def load_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parses JSON that must be an object; ValueError naming `what` otherwise."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{what} is not valid JSON: {error}")
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    return value
