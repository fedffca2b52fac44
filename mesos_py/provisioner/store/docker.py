"""The Docker store: Docker and OCI images, pulled once and cached by content.

Layout under `--docker_store_dir` (Mesos's, with layers named by diff id):

    storedImages             JSON: image reference -> its layer ids and config id
    layers/<id>/rootfs       one unpacked layer (overlay format, see `layers.py`)
    configs/<id>             an image config (the JSON the digest names)
    staging/<tmp>            a layer being fetched; renamed into layers/ when complete
    gc/<tmp>                 layers being removed by PRUNE_IMAGES

A layer's id is the hex sha256 of its uncompressed tar (its diff id), so the
same layer pulled from a registry, an OCI layout or a docker archive is
stored once and shared by every image that has it. Concurrent pulls of one
image share one pull, and concurrent pulls of images sharing a layer fetch
that layer once. A layer appears in `layers/` only complete (rename from
staging), so an interrupted pull leaves nothing the store would trust; the
staging area is emptied on recovery.

Images come from a registry (`registry.py`), or, when `--docker_registry`
is a local path, from docker archives and OCI layouts there (`local.py`;
an image name with an explicit registry still goes to that registry).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from typing import Any, Callable, Sequence

from mesos_py.actors import Failure, Future, await_all, defer, settled, undiscardable
from mesos_py.provisioner.image import (ImageInfo, docker_manifest_from_config,
                                        load_json_object)
from mesos_py.provisioner.store import LayerSource, ResolvedImage, Store
from mesos_py.provisioner.store.layers import extract_layer
from mesos_py.provisioner.store.local import LocalPuller
from mesos_py.provisioner.store.manifests import digest_of
from mesos_py.provisioner.store.reference import ImageReference, parse
from mesos_py.protos.mesos.v1.mesos_pb2 import Image
from mesos_py.slave import checkpoint

log = logging.getLogger(__name__)

STORED_IMAGES = "storedImages"


@dataclasses.dataclass(frozen=True)
class DockerStoreConfig:
    store_dir: str
    registry: str = "https://registry-1.docker.io"
    docker_config: dict[str, Any] | None = None  # --docker_config, parsed
    stall_timeout: float = 60.0


@dataclasses.dataclass
class StoredImage:
    reference: str
    layers: list[str]  # layer ids, bottom first
    config: str        # config id
    config_json: dict[str, Any]


class DockerStore(Store):
    def __init__(self, config: DockerStoreConfig,
                 registry_puller: Callable[[ImageReference, Image], ResolvedImage] | None = None,
                 ) -> None:
        super().__init__()
        self._config = config
        self._root = config.store_dir
        self._local = (LocalPuller(config.registry) if _is_local(config.registry) else None)
        self._registry_puller = registry_puller
        self._images: dict[str, StoredImage] = {}
        self._pulling: dict[str, Future[StoredImage]] = {}
        self._layer_pulls: dict[str, Future[str]] = {}
        self._written: Future[None] = Future.ready(None)

    # ------------------------------------------------------------ paths
    def layer_dir(self, layer_id: str) -> str:
        return os.path.join(self._root, "layers", layer_id)

    def layer_rootfs(self, layer_id: str) -> str:
        return os.path.join(self.layer_dir(layer_id), "rootfs")

    def config_path(self, config_id: str) -> str:
        return os.path.join(self._root, "configs", config_id)

    # ---------------------------------------------------------- recover
    def recover(self) -> Future[None]:
        return self.runtime.pool.run(self._read_store).then(defer(self.pid, self._recovered))

    def _read_store(self) -> dict[str, StoredImage]:
        for name in ("layers", "configs", "staging", "gc"):
            os.makedirs(os.path.join(self._root, name), exist_ok=True)
        for name in ("staging", "gc"):
            # Half-fetched layers and half-removed ones: never trusted again.
            for entry in os.listdir(os.path.join(self._root, name)):
                shutil.rmtree(os.path.join(self._root, name, entry), ignore_errors=True)
        path = os.path.join(self._root, STORED_IMAGES)
        try:
            stored = json.loads(checkpoint.read_text(path))
        except FileNotFoundError:
            return {}
        except ValueError as error:
            log.warning("Ignoring the corrupt image list '%s': %s", path, error)
            return {}
        images: dict[str, StoredImage] = {}
        for reference, record in (stored.get("images") or {}).items():
            try:
                layers, config = list(record["layers"]), str(record["config"])
                with open(self.config_path(config), "rb") as source:
                    config_json = load_json_object(source.read(), "image config")
            except (KeyError, TypeError, OSError, ValueError) as error:
                log.warning("Forgetting cached image '%s': %s", reference, error)
                continue
            if all(os.path.isdir(self.layer_rootfs(layer)) for layer in layers):
                images[reference] = StoredImage(reference, layers, config, config_json)
        return images

    def _recovered(self, images: dict[str, StoredImage]) -> None:
        self._images = images
        log.info("Docker store at '%s' recovered %d images", self._root, len(images))

    # -------------------------------------------------------------- get
    def get(self, image: Image, backend: str) -> Future[ImageInfo]:
        if image.type != Image.DOCKER:
            raise Failure("Docker provisioner store only supports Docker images")
        try:
            reference = parse(image.docker.name).with_default_tag()
        except ValueError as error:
            raise Failure(f"Failed to parse docker image '{image.docker.name}': {error}")
        key = str(reference)
        stored = self._images.get(key)
        if stored is not None and image.cached:
            log.info("Using cached image '%s'", key)
            return Future.ready(self._info(stored))
        pull = self._pulling.get(key)
        if pull is None:
            log.info("Pulling image '%s'", key)
            pull = self._pull(reference, image)
            self._pulling[key] = pull
            pull.on_any(defer(self.pid, lambda _: self._pulling.pop(key, None)))
        # Each caller gets its own view: one launch giving up must not
        # cancel the pull for the others.
        return undiscardable(pull).then(self._info)

    def _pull(self, reference: ImageReference, image: Image) -> Future[StoredImage]:
        key = str(reference)
        resolved = self.runtime.pool.run(self._resolve, reference, image)
        return (resolved.then(defer(self.pid, lambda r: self._fetch_layers(key, r)))
                .then(defer(self.pid, lambda done: self._store_image(key, *done))))

    def _resolve(self, reference: ImageReference, image: Image) -> ResolvedImage:
        try:
            if self._local is not None and reference.registry is None:
                return self._local.resolve(reference)
            if self._registry_puller is None:
                raise ValueError("pulling from a registry is not available")
            return self._registry_puller(reference, image)
        except (ValueError, OSError) as error:
            raise Failure(f"Failed to pull image '{reference}': {error}")

    def _fetch_layers(self, key: str, resolved: ResolvedImage,
                      ) -> Future[tuple[ResolvedImage, list[str]]]:
        layers = [self._layer(key, source) for source in resolved.layers]

        def all_settled(done: list[Future[str]]) -> tuple[ResolvedImage, list[str]]:
            # A failed pull is reported only once its other layers settled:
            # nothing of it is still being written when the launch fails.
            for future in done:
                if not future.is_ready():
                    raise future.as_failure() if future.is_failed() \
                        else Failure(f"Failed to pull image '{key}': discarded")
            return resolved, [future.value() for future in done]

        return await_all(layers).then(all_settled)

    def _layer(self, key: str, source: LayerSource) -> Future[str]:
        """The id of `source` once it is in the store; fetched at most once at a time."""
        layer_id = source.diff_id.partition(":")[2] if source.diff_id else None
        if layer_id is not None:
            if os.path.isdir(self.layer_rootfs(layer_id)):
                return Future.ready(layer_id)
            pending = self._layer_pulls.get(layer_id)
            if pending is not None:
                return pending
        fetched = self.runtime.pool.run(self._fetch_layer, key, source)
        if layer_id is not None:
            self._layer_pulls[layer_id] = fetched
            fetched.on_any(defer(self.pid, lambda _: self._layer_pulls.pop(layer_id, None)))
        return fetched

    def _fetch_layer(self, key: str, source: LayerSource) -> str:
        """Blocking: fetch, verify and unpack one layer, then move it into place."""
        staging = tempfile.mkdtemp(dir=os.path.join(self._root, "staging"))
        try:
            try:
                blob = source.fetch(staging)
                diff_id = extract_layer(blob, os.path.join(staging, "layer", "rootfs"),
                                        source.diff_id)
            except (ValueError, OSError) as error:
                raise Failure(f"Failed to pull image '{key}': {source.description}: {error}")
            layer_id = diff_id.partition(":")[2]
            try:
                os.rename(os.path.join(staging, "layer"), self.layer_dir(layer_id))
                log.info("Stored layer %s of image '%s'", layer_id[:12], key)
            except OSError:
                if not os.path.isdir(self.layer_rootfs(layer_id)):
                    raise
                # Another pull stored the same layer first: keep that one.
            return layer_id
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _store_image(self, key: str, resolved: ResolvedImage,
                     layer_ids: list[str]) -> Future[StoredImage]:
        def write() -> StoredImage:
            try:
                config_json = load_json_object(resolved.config, "the image config")
            except ValueError as error:
                raise Failure(f"Failed to pull image '{key}': {error}")
            config_id = digest_of(resolved.config).partition(":")[2]
            path = self.config_path(config_id)
            if not os.path.exists(path):
                checkpoint.write_atomic(path, resolved.config)
            return StoredImage(key, layer_ids, config_id, config_json)

        return self.runtime.pool.run(write).then(defer(self.pid, self._remember))

    def _remember(self, stored: StoredImage) -> Future[StoredImage]:
        self._images[stored.reference] = stored
        log.info("Cached image '%s' (%d layers)", stored.reference, len(stored.layers))
        return self._checkpoint().then(lambda _: stored)

    def _checkpoint(self) -> Future[None]:
        document = {"images": {reference: {"layers": image.layers, "config": image.config}
                               for reference, image in sorted(self._images.items())}}
        text = json.dumps(document, indent=1, sort_keys=True)
        path = os.path.join(self._root, STORED_IMAGES)
        # One write after the other, in the order of the snapshots: the file
        # ends up with the newest.
        written = settled(self._written).then(
            lambda _: self.runtime.pool.run(checkpoint.checkpoint_text, path, text))
        self._written = written
        return written

    def _info(self, stored: StoredImage) -> ImageInfo:
        return ImageInfo(layers=[self.layer_rootfs(layer) for layer in stored.layers],
                         config=self.config_path(stored.config),
                         docker_manifest=docker_manifest_from_config(stored.config_json))

    # ------------------------------------------------------------ prune
    def prune(self, excluded_images: Sequence[Image], active_layers: set[str]) -> Future[None]:
        """Forgets every image neither excluded nor wholly in use, then removes
        every layer and config no remaining image and no container uses."""
        excluded = set()
        for image in excluded_images:
            if image.type == Image.DOCKER:
                try:
                    excluded.add(str(parse(image.docker.name).with_default_tag()))
                except ValueError:
                    log.warning("Ignoring the malformed excluded image '%s'", image.docker.name)
        active = {os.path.normpath(path) for path in active_layers}
        kept = {}
        for reference, stored in self._images.items():
            in_use = all(self.layer_rootfs(layer) in active for layer in stored.layers)
            if reference in excluded or in_use:
                kept[reference] = stored
            else:
                log.info("Pruning image '%s'", reference)
        self._images = kept
        keep_layers = {layer for stored in kept.values() for layer in stored.layers}
        keep_configs = {stored.config for stored in kept.values()}
        layers_root = os.path.join(self._root, "layers") + "/"
        configs_root = os.path.join(self._root, "configs") + "/"
        for path in active:
            if path.startswith(layers_root):
                keep_layers.add(path[len(layers_root):].split("/")[0])
            elif path.startswith(configs_root):
                keep_configs.add(path[len(configs_root):])
        return self._checkpoint().then(
            lambda _: self.runtime.pool.run(self._sweep, keep_layers, keep_configs))

    def _sweep(self, keep_layers: set[str], keep_configs: set[str]) -> None:
        """Blocking: moves unused layers to gc/ (atomic), then deletes them."""
        gc_dir = tempfile.mkdtemp(dir=os.path.join(self._root, "gc"))
        removed = 0
        for layer in os.listdir(os.path.join(self._root, "layers")):
            if layer not in keep_layers:
                os.rename(self.layer_dir(layer), os.path.join(gc_dir, layer))
                removed += 1
        for config in os.listdir(os.path.join(self._root, "configs")):
            if config not in keep_configs:
                os.unlink(self.config_path(config))
        shutil.rmtree(gc_dir, ignore_errors=True)
        log.info("Removed %d unused layers from the docker store", removed)


def _is_local(registry: str) -> bool:
    return registry.startswith("/") or registry.startswith("file://")
