"""The test images of ../shared/tools/images, and variants of them made in tests.

`make-images` builds them once per machine into $MESOS_PY_IMAGES
(/tmp/mesos-py-images); a second run takes well under a second. Variants
(another Entrypoint/Cmd, a corrupt layer) are docker archives written next
to a test's own files, reusing the real layers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from typing import Any

from tests.agent import ROOT, free_port

TOOLS = os.path.normpath(os.path.join(ROOT, "..", "shared", "tools", "images"))
if not os.path.isdir(TOOLS):  # a worktree beside the main checkout
    TOOLS = "/work/shared/tools/images"
IMAGES = os.environ.get("MESOS_PY_IMAGES", "/tmp/mesos-py-images")
REGISTRY = "127.0.0.1:5000"


def make_images() -> dict[str, Any]:
    subprocess.run([os.path.join(TOOLS, "make-images"), IMAGES], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    with open(os.path.join(IMAGES, "IMAGE-INFO.json")) as info:
        return dict(json.load(info))


def docker_image(name: str, **extra: Any) -> dict[str, Any]:
    """A ContainerInfo (JSON) for a Docker image."""
    image: dict[str, Any] = {"type": "DOCKER", "docker": {"name": name}}
    image.update(extra)
    return {"type": "MESOS", "mesos": {"image": image}}


def appc_image(name: str, labels: dict[str, str] | None = None,
               image_id: str | None = None) -> dict[str, Any]:
    appc: dict[str, Any] = {"name": name}
    if labels:
        appc["labels"] = {"labels": [{"key": k, "value": v} for k, v in labels.items()]}
    if image_id:
        appc["id"] = image_id
    return {"type": "MESOS", "mesos": {"image": {"type": "APPC", "appc": appc}}}


def _members(path: str) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        out = {}
        for member in archive.getmembers():
            if member.isfile():
                source = archive.extractfile(member)
                assert source is not None
                out[member.name] = source.read()
        return out


def _write_archive(path: str, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def derive_archive(directory: str, name: str, tag: str = "latest",
                   config: dict[str, Any] | None = None,
                   corrupt_layer: int | None = None) -> str:
    """A docker archive `directory/<name>:<tag>.tar` with busybox's layers and
    its config changed by `config` (keys of the runtime config; None deletes),
    or with one layer's content changed (its diff id no longer matches)."""
    files = _members(os.path.join(IMAGES, "docker-archive", "busybox.tar"))
    manifest = json.loads(files["manifest.json"])
    entry = manifest[0]
    image_config = json.loads(files[entry["Config"]])
    for key, value in (config or {}).items():
        if value is None:
            image_config["config"].pop(key, None)
        else:
            image_config["config"][key] = value
    if corrupt_layer is not None:
        layer_name = entry["Layers"][corrupt_layer]
        data = bytearray(files[layer_name])
        index = data.index(b"hello from layer 2") if b"hello from layer 2" in data else 600
        data[index] ^= 0x20
        files[layer_name] = bytes(data)
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    del files[entry["Config"]]
    files[config_name] = config_bytes
    entry["Config"] = config_name
    entry["RepoTags"] = [f"{name}:{tag}"]
    files["manifest.json"] = json.dumps(manifest).encode()
    files.pop("repositories", None)
    path = os.path.join(directory, f"{name}:{tag}.tar")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _write_archive(path, files)
    return path


def copy_oci_layout(directory: str, name: str = "busybox", corrupt_blob: str | None = None) -> str:
    """A copy of the OCI layout at `directory/<name>`; optionally one blob changed."""
    target = os.path.join(directory, name)
    shutil.copytree(os.path.join(IMAGES, "oci", "busybox"), target)
    if corrupt_blob is not None:
        path = os.path.join(target, "blobs", "sha256", corrupt_blob.partition(":")[2])
        data = bytearray(open(path, "rb").read())
        data[len(data) // 2] ^= 0xFF
        with open(path, "wb") as out:
            out.write(bytes(data))
    return target


class Registry:
    """A real Docker registry (distribution) started by the images tools.

    The default one serves 127.0.0.1:5000; `Registry(private=True)` starts
    another on a free port with its own storage (a test may then damage its blobs).
    """

    def __init__(self, state_dir: str | None = None) -> None:
        self.state_dir = state_dir
        self.address = REGISTRY if state_dir is None else f"127.0.0.1:{free_port()}"
        self.env = dict(os.environ, MESOS_PY_IMAGES=IMAGES)
        if state_dir is not None:
            self.env.update(MESOS_PY_REGISTRY_DIR=state_dir, MESOS_PY_REGISTRY_ADDR=self.address)

    def start(self) -> "Registry":
        subprocess.run([os.path.join(TOOLS, "start-registry"), IMAGES], env=self.env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=600)
        return self

    def stop(self) -> None:
        subprocess.run([os.path.join(TOOLS, "stop-registry")], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def blob_path(self, digest: str) -> str:
        assert self.state_dir is not None
        hex_digest = digest.partition(":")[2]
        return os.path.join(self.state_dir, "data", "docker", "registry", "v2", "blobs",
                            "sha256", hex_digest[:2], hex_digest, "data")
