"""The Appc store: App Container images (ACIs), found by name and labels.

Layout under `--appc_store_dir` (Mesos's):

    images/<image id>/manifest     the ACI's manifest (JSON)
    images/<image id>/rootfs       its root filesystem (the store's layer format)
    staging/<tmp>                  an image being fetched

An image is looked up in the store by id, or by name and labels (every
requested label must match). Otherwise it is fetched by simple discovery:
`--appc_simple_discovery_uri_prefix` + `{name}-{version}-{os}-{arch}.aci`,
where the prefix is a local directory or an http(s) URL and `version`
defaults to `latest`. The image id is `sha512-` and the sha512 of the
uncompressed ACI; a requested id must match it. Dependencies are provisioned
below the image, in the order the manifest lists them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from typing import Any, Sequence

from google.protobuf import json_format

from mesos_py.actors import Failure, Future, collect, defer
from mesos_py.provisioner.image import ImageInfo, load_json_object
from mesos_py.provisioner.store import Store
from mesos_py.provisioner.store.layers import extract_layer
from mesos_py.protos.mesos.appc.spec_pb2 import ImageManifest as AppcManifest
from mesos_py.protos.mesos.v1.mesos_pb2 import Image
from mesos_py.uri import download

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AppcStoreConfig:
    store_dir: str
    discovery_prefix: str = "http://"
    stall_timeout: float = 60.0


@dataclasses.dataclass(frozen=True)
class _Cached:
    image_id: str
    name: str
    labels: dict[str, str]
    manifest: AppcManifest


class AppcStore(Store):
    def __init__(self, config: AppcStoreConfig) -> None:
        super().__init__()
        self._config = config
        self._root = config.store_dir
        self._images: dict[str, _Cached] = {}
        self._fetching: dict[str, Future[_Cached]] = {}

    def image_dir(self, image_id: str) -> str:
        return os.path.join(self._root, "images", image_id)

    # ---------------------------------------------------------- recover
    def recover(self) -> Future[None]:
        return self.runtime.pool.run(self._scan).then(defer(self.pid, self._recovered))

    def _scan(self) -> dict[str, _Cached]:
        for name in ("images", "staging"):
            os.makedirs(os.path.join(self._root, name), exist_ok=True)
        staging = os.path.join(self._root, "staging")
        for entry in os.listdir(staging):
            shutil.rmtree(os.path.join(staging, entry), ignore_errors=True)
        found = {}
        for image_id in os.listdir(os.path.join(self._root, "images")):
            try:
                found[image_id] = _read_manifest(self.image_dir(image_id), image_id)
            except (OSError, ValueError) as error:
                log.warning("Ignoring the unreadable Appc image %s: %s", image_id, error)
        return found

    def _recovered(self, images: dict[str, _Cached]) -> None:
        self._images = images
        log.info("Appc store at '%s' recovered %d images", self._root, len(images))

    # -------------------------------------------------------------- get
    def get(self, image: Image, backend: str) -> Future[ImageInfo]:
        if image.type != Image.APPC:
            raise Failure(f"Not an Appc image: {Image.Type.Name(image.type)}")
        return self._image(image.appc.name, _labels(image.appc.labels.labels),
                           image.appc.id or None, image.cached, depth=0).then(
            defer(self.pid, lambda layers: ImageInfo(
                layers=[os.path.join(self.image_dir(i), "rootfs") for i in layers],
                appc_manifest=self._images[layers[-1]].manifest)))

    def _image(self, name: str, labels: dict[str, str], image_id: str | None, cached: bool,
               depth: int) -> Future[list[str]]:
        """The image's ids, its dependencies' first, its own last."""
        if depth > 16:
            raise Failure(f"Appc image '{name}' has dependencies nested too deeply")
        found = image_id if image_id in self._images else self._find(name, labels)
        if cached and found is not None and (image_id is None or found == image_id):
            fetched: Future[_Cached] = Future.ready(self._images[found])
        else:
            fetched = self._fetch(name, labels, image_id)
        return fetched.then(defer(self.pid, lambda image: self._dependencies(image, depth)))

    def _dependencies(self, image: _Cached, depth: int) -> Future[list[str]]:
        chains = [self._image(d.imageName, {label.name: label.value for label in d.labels},
                              d.imageID or None, True, depth + 1)
                  for d in image.manifest.dependencies]
        return collect(chains).then(
            lambda done: [i for chain in done for i in chain] + [image.image_id])

    def _find(self, name: str, labels: dict[str, str]) -> str | None:
        for cached in self._images.values():
            if cached.name == name and all(cached.labels.get(k) == v for k, v in labels.items()):
                return cached.image_id
        return None

    def _fetch(self, name: str, labels: dict[str, str], image_id: str | None,
               ) -> Future[_Cached]:
        try:
            path = discovery_path(name, labels)
        except ValueError as error:
            raise Failure(f"Failed to get discovery path for image '{name}': {error}")
        uri = self._config.discovery_prefix + path
        pending = self._fetching.get(uri)
        if pending is None:
            log.info("Fetching Appc image '%s' from '%s'", name, uri)
            pending = self.runtime.pool.run(self._download, uri, name, labels)
            self._fetching[uri] = pending
            pending.on_any(defer(self.pid, lambda _: self._fetching.pop(uri, None)))

        def check(image: _Cached) -> _Cached:
            self._images[image.image_id] = image
            if image_id is not None and image.image_id != image_id:
                raise Failure(f"Appc image '{name}' fetched from '{uri}' has the id "
                              f"{image.image_id}, not the requested {image_id}")
            return image

        return pending.then(defer(self.pid, check))

    def _download(self, uri: str, name: str, labels: dict[str, str]) -> _Cached:
        """Blocking: fetch, verify and unpack one ACI, then move it into place."""
        staging = tempfile.mkdtemp(dir=os.path.join(self._root, "staging"))
        try:
            bundle = os.path.join(staging, "image.aci")
            try:
                download(uri, bundle, self._config.stall_timeout)
                digest = extract_layer(bundle, os.path.join(staging, "image"),
                                       algorithm="sha512")
                image_id = "sha512-" + digest.partition(":")[2]
                cached = _read_manifest(os.path.join(staging, "image"), image_id)
            except (ValueError, OSError) as error:
                raise Failure(f"Failed to fetch Appc image '{name}' from '{uri}': {error}")
            if cached.name != name:
                raise Failure(f"The ACI at '{uri}' is the image '{cached.name}', not '{name}'")
            wrong = {k: v for k, v in labels.items() if cached.labels.get(k) != v}
            if wrong:
                raise Failure(f"The ACI at '{uri}' does not have the labels {wrong}")
            target = self.image_dir(image_id)
            if not os.path.isdir(target):
                os.rename(os.path.join(staging, "image"), target)
                log.info("Stored Appc image '%s' as %s", name, image_id[:19])
            return cached
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # ------------------------------------------------------------ prune
    def prune(self, excluded_images: Sequence[Image], active_layers: set[str]) -> Future[None]:
        keep = set()
        for image in excluded_images:
            if image.type == Image.APPC:
                found = image.appc.id or self._find(image.appc.name,
                                                    _labels(image.appc.labels.labels))
                if found:
                    keep.add(found)
        for path in active_layers:
            if path.startswith(os.path.join(self._root, "images") + "/"):
                keep.add(os.path.basename(os.path.dirname(path)))
        removed = [image_id for image_id in self._images if image_id not in keep]
        for image_id in removed:
            del self._images[image_id]

        def remove() -> None:
            for image_id in removed:
                shutil.rmtree(self.image_dir(image_id), ignore_errors=True)
            log.info("Removed %d unused Appc images", len(removed))

        return self.runtime.pool.run(remove)


def discovery_path(name: str, labels: dict[str, str]) -> str:
    """`{name}-{version}-{os}-{arch}.aci`; version defaults to `latest`."""
    if not name or ".." in name.split("/"):
        raise ValueError(f"invalid image name '{name}'")
    for required in ("os", "arch"):
        if required not in labels:
            raise ValueError(f"Failed to form simple discovery url: label '{required}' is "
                             "missing")
    return f"{name}-{labels.get('version', 'latest')}-{labels['os']}-{labels['arch']}.aci"


def _labels(labels: Any) -> dict[str, str]:
    return {label.key: label.value for label in labels}


def _read_manifest(image_dir: str, image_id: str) -> _Cached:
    with open(os.path.join(image_dir, "manifest"), "rb") as source:
        document = load_json_object(source.read(), "the ACI manifest")
    if document.get("acKind") != "ImageManifest":
        raise ValueError(f"the ACI manifest's acKind is {document.get('acKind')!r}, not "
                         "'ImageManifest'")
    try:
        manifest = json_format.ParseDict(document, AppcManifest(), ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise ValueError(f"the ACI manifest is malformed: {error}")
    if not os.path.isdir(os.path.join(image_dir, "rootfs")):
        raise ValueError("the ACI has no rootfs directory")
    return _Cached(image_id, manifest.name, {label.name: label.value
                                             for label in manifest.labels}, manifest)
