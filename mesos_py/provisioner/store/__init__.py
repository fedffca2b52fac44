"""Image stores: where an image's layers come from and are cached.

A store is an actor with `recover`, `get(image, backend)` (the image's
`ImageInfo`, pulled first if needed) and `prune(excluded_images,
active_layers)`. The provisioner serializes `prune` against `get`: a store
never prunes while it pulls.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from mesos_py.actors import Future, Process
from mesos_py.provisioner.image import ImageInfo
from mesos_py.protos.mesos.v1.mesos_pb2 import Image


class Store(Process):
    """The interface; each store (docker, appc) implements all three."""

    def recover(self) -> Future[None] | None:
        """Reads back the cached images, removes half-pulled ones."""
        return None

    def get(self, image: Image, backend: str) -> Future[ImageInfo] | ImageInfo:
        raise NotImplementedError

    def prune(self, excluded_images: Sequence[Image],
              active_layers: set[str]) -> Future[None] | None:
        """Removes every cached image not excluded, and every layer no kept
        image and no container (`active_layers`: layer paths) uses."""
        return None


@dataclasses.dataclass(frozen=True)
class LayerSource:
    """One layer of a resolved image, not yet in the store.

    `fetch(staging_dir)` (blocking) makes the layer's blob available as a
    local file, its digest verified when it has one, and returns its path.
    """

    diff_id: str | None  # sha256 of the uncompressed tar; None if the source does not say
    fetch: Callable[[str], str]
    description: str


@dataclasses.dataclass(frozen=True)
class ResolvedImage:
    """What a puller found for a reference: the config and the layers to fetch."""

    reference: str
    config: bytes  # an image config, or a legacy v1 layer `json` (both hold `config`)
    layers: list[LayerSource]
