"""Images in an OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).

The layout is found by the docker store's local puller: with
`--docker_registry=DIR`, the image `busybox:latest` may be the layout
`DIR/busybox` holding a manifest whose `org.opencontainers.image.ref.name`
is `latest`. Blobs are read in place, each checked against its digest.
"""

from __future__ import annotations

import json
import os

from mesos_py.provisioner.image import load_json_object
from mesos_py.provisioner.store import LayerSource, ResolvedImage
from mesos_py.provisioner.store import manifests
from mesos_py.provisioner.store.manifests import Descriptor

REF_NAME = "org.opencontainers.image.ref.name"
_CHUNK = 1 << 20


def is_layout(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "oci-layout"))


def blob_path(layout: str, digest: str) -> str:
    algorithm, _, encoded = manifests.check_digest(digest).partition(":")
    return os.path.join(layout, "blobs", algorithm, encoded)


def read_blob(layout: str, descriptor: Descriptor, what: str) -> bytes:
    path = blob_path(layout, descriptor.digest)
    try:
        with open(path, "rb") as source:
            data = source.read()
    except FileNotFoundError:
        raise ValueError(f"{what} {descriptor.digest} is missing from the layout at '{layout}'")
    manifests.verify(data, descriptor.digest, f"{what} {descriptor.digest}")
    return data


def verify_file(path: str, digest: str, what: str) -> None:
    actual = manifests.hasher(digest)
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            actual.update(chunk)
    found = f"{digest.partition(':')[0]}:{actual.hexdigest()}"
    if found != digest:
        raise ValueError(f"Digest mismatch for {what}: expected {digest}, got {found}")


def resolve(layout: str, tag: str | None, digest: str | None, name: str) -> ResolvedImage:
    """The image tagged `tag` (or with manifest `digest`) in the layout."""
    try:
        with open(os.path.join(layout, "oci-layout")) as marker:
            version = json.load(marker).get("imageLayoutVersion")
        with open(os.path.join(layout, "index.json"), "rb") as index_file:
            index = load_json_object(index_file.read(), "index.json")
    except (OSError, ValueError) as error:
        raise ValueError(f"'{layout}' is not a readable OCI image layout: {error}")
    if version != "1.0.0":
        raise ValueError(f"'{layout}' has the unsupported OCI layout version {version!r}")
    entries = manifests.parse_index(index)
    if digest is not None:
        chosen = [e for e in entries if e.digest == digest]
    else:
        chosen = [e for e in entries if (e.annotations or {}).get(REF_NAME) == tag]
    if not chosen:
        refs = sorted({(e.annotations or {}).get(REF_NAME, "") for e in entries} - {""})
        raise ValueError(f"the OCI layout at '{layout}' has no image "
                         f"{'with digest ' + digest if digest else 'tagged ' + repr(tag)} "
                         f"(it has: {', '.join(refs) or 'no tags'})")
    entry = chosen[0] if len(chosen) == 1 else manifests.select_platform(chosen)
    manifest = _manifest(layout, entry)
    config = read_blob(layout, manifest.config, "image config")
    _, diff_ids = manifests.parse_config(config, len(manifest.layers))
    layers = [LayerSource(diff_id, _fetcher(layout, layer), f"layer {layer.digest}")
              for diff_id, layer in zip(diff_ids, manifest.layers)]
    return ResolvedImage(reference=name, config=config, layers=layers)


def _manifest(layout: str, entry: Descriptor, depth: int = 0) -> manifests.ImageManifest:
    data = read_blob(layout, entry, "manifest")
    document = load_json_object(data, f"manifest {entry.digest}")
    kind = manifests.media_type_of(document, entry.media_type)
    if kind in manifests.INDEX_TYPES:
        if depth > 2:
            raise ValueError("image indexes are nested too deeply")
        return _manifest(layout, manifests.select_platform(manifests.parse_index(document)),
                         depth + 1)
    return manifests.parse_manifest(document)


def _fetcher(layout: str, layer: Descriptor):  # type: ignore[no-untyped-def]
    def fetch(staging: str) -> str:
        path = blob_path(layout, layer.digest)
        if not os.path.isfile(path):
            raise ValueError(f"layer {layer.digest} is missing from the layout at '{layout}'")
        verify_file(path, layer.digest, f"layer {layer.digest}")
        return path
    return fetch
