"""Docker schema 2 and OCI image documents: manifests, indexes (manifest
lists), configs and their content digests.

Everything here is pure parsing and checking: a malformed or unsupported
document raises ValueError with a message fit for an operator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from typing import Any, Iterable

from mesos_py.provisioner.image import load_json_object

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
# What a registry is asked for, best first.
ACCEPT = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

_LAYER_TYPES = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
}
_FOREIGN_LAYER_TYPES = {
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}
_DIGEST_RE = re.compile(r"(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})")


@dataclasses.dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int | None = None
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None
    urls: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ImageManifest:
    config: Descriptor
    layers: list[Descriptor]


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise ValueError(f"'{digest}' is not a sha256 or sha512 digest")
    return digest


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def hasher(digest: str) -> "hashlib._Hash":
    """A fresh hash object of `digest`'s algorithm."""
    return hashlib.new(check_digest(digest).partition(":")[0])


def verify(data: bytes, digest: str, what: str) -> None:
    actual = hasher(digest)
    actual.update(data)
    found = f"{digest.partition(':')[0]}:{actual.hexdigest()}"
    if found != digest:
        raise ValueError(f"Digest mismatch for {what}: expected {digest}, got {found}")


def descriptor(value: Any, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    size = value.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ValueError(f"{what} has an invalid size {size!r}")
    platform = value.get("platform")
    annotations = value.get("annotations")
    urls = value.get("urls") or ()
    return Descriptor(media_type=str(value.get("mediaType") or ""),
                      digest=check_digest(value.get("digest", "")), size=size,
                      platform=platform if isinstance(platform, dict) else None,
                      annotations=annotations if isinstance(annotations, dict) else None,
                      urls=tuple(str(url) for url in urls) if isinstance(urls, list) else ())


def media_type_of(document: dict[str, Any], content_type: str | None) -> str:
    """The kind of a manifest document: its mediaType, else the HTTP Content-Type."""
    if document.get("schemaVersion") == 1:
        raise ValueError("Docker manifest schema 1 is not supported (push the image with "
                         "schema 2 or as an OCI image)")
    media_type = document.get("mediaType")
    if isinstance(media_type, str) and media_type:
        return media_type
    if content_type:
        kind = content_type.split(";")[0].strip()
        if kind in MANIFEST_TYPES + INDEX_TYPES:
            return kind
    # An OCI document may omit mediaType: tell by its shape.
    if isinstance(document.get("manifests"), list):
        return OCI_INDEX
    if isinstance(document.get("layers"), list):
        return OCI_MANIFEST
    raise ValueError("the manifest has no recognizable media type")


def parse_index(document: dict[str, Any]) -> list[Descriptor]:
    manifests = document.get("manifests")
    if not isinstance(manifests, list):
        raise ValueError("the image index has no 'manifests' list")
    return [descriptor(item, f"manifests[{i}] of the image index")
            for i, item in enumerate(manifests)]


def parse_manifest(document: dict[str, Any]) -> ImageManifest:
    if document.get("schemaVersion") != 2:
        raise ValueError(f"unsupported manifest schemaVersion {document.get('schemaVersion')!r}")
    config = descriptor(document.get("config"), "the manifest's config")
    layers_value = document.get("layers")
    if not isinstance(layers_value, list) or not layers_value:
        raise ValueError("the manifest has no layers")
    layers = [descriptor(item, f"layers[{i}] of the manifest")
              for i, item in enumerate(layers_value)]
    for layer in layers:
        if layer.media_type in _FOREIGN_LAYER_TYPES:
            raise ValueError(f"layer {layer.digest} is a foreign (non-distributable) layer, "
                             "which is not supported")
        if layer.media_type and layer.media_type not in _LAYER_TYPES:
            raise ValueError(f"layer {layer.digest} has the unsupported media type "
                             f"'{layer.media_type}'")
    return ImageManifest(config=config, layers=layers)


def host_platform() -> tuple[str, str]:
    """(os, architecture) in the names image indexes use."""
    machine = os.uname().machine
    return "linux", {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm",
                     "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}.get(machine, machine)


def select_platform(manifests: Iterable[Descriptor], wanted: tuple[str, str] | None = None,
                    ) -> Descriptor:
    """The entry of an index for this host's platform (linux/amd64 here)."""
    os_name, architecture = wanted or host_platform()
    candidates = list(manifests)
    for entry in candidates:
        platform = entry.platform or {}
        if platform.get("os") == os_name and platform.get("architecture") == architecture:
            return entry
    seen = sorted({f"{(e.platform or {}).get('os')}/{(e.platform or {}).get('architecture')}"
                   for e in candidates})
    raise ValueError(f"the image index has no manifest for {os_name}/{architecture} "
                     f"(it has: {', '.join(seen) or 'none'})")


def parse_config(data: bytes, layer_count: int) -> tuple[dict[str, Any], list[str]]:
    """The image config and its layers' diff ids (one per manifest layer)."""
    config = load_json_object(data, "the image config")
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        raise ValueError("the image config has no rootfs.diff_ids")
    if len(diff_ids) != layer_count:
        raise ValueError(f"the image config lists {len(diff_ids)} layers, the manifest "
                         f"{layer_count}")
    return config, [check_digest(diff_id) for diff_id in diff_ids]
