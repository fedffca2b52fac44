"""Container images: the Provisioner actor, its stores and its backends.

`create_provisioner` builds them from the agent's flags (None without
`--image_providers`: the agent then refuses images, as Mesos does).
"""

from __future__ import annotations

import os
from typing import Any

from mesos_py.actors import PID, Runtime
from mesos_py.protos.mesos.v1.mesos_pb2 import Image


def create_provisioner(runtime: Runtime, flags: Any) -> "PID[Any] | None":
    """Spawns the stores and the Provisioner; ValueError naming a bad flag."""
    from mesos_py.flags import load_json_object
    from mesos_py.provisioner import paths
    from mesos_py.provisioner.backend import create_backends, default_backend
    from mesos_py.provisioner.provisioner import Provisioner, ProvisionerConfig
    from mesos_py.provisioner.store.docker import DockerStore, DockerStoreConfig

    if not flags.image_providers:
        return None
    providers = [p.strip().upper() for p in flags.image_providers.split(",") if p.strip()]
    root = paths.provisioner_dir(flags.work_dir)
    os.makedirs(root, exist_ok=True)
    backend = default_backend(flags.image_provisioner_backend, root)
    gc = parse_gc_config(flags.image_gc_config) if flags.image_gc_config else None
    docker_config = load_json_object(flags.docker_config) if flags.docker_config else None
    stores: dict[int, PID[Any]] = {}
    gc_disk = None
    if "DOCKER" in providers:
        config = DockerStoreConfig(store_dir=flags.docker_store_dir,
                                   registry=flags.docker_registry, docker_config=docker_config,
                                   stall_timeout=flags.fetcher_stall_timeout.seconds)
        stores[Image.DOCKER] = runtime.spawn(DockerStore, config, _registry_puller(config),
                                             name="docker_store")
        gc_disk = flags.docker_store_dir
    if "APPC" in providers:
        from mesos_py.provisioner.store.appc import AppcStore, AppcStoreConfig
        prefix = flags.appc_simple_discovery_uri_prefix
        if not prefix.startswith(("http://", "https://", "/", "file://")):
            raise ValueError(f"Invalid simple discovery uri prefix: {prefix}")
        stores[Image.APPC] = runtime.spawn(
            AppcStore, AppcStoreConfig(flags.appc_store_dir, prefix,
                                       flags.fetcher_stall_timeout.seconds),
            name="appc_store")
        gc_disk = gc_disk or flags.appc_store_dir
    if gc_disk is not None:
        os.makedirs(gc_disk, exist_ok=True)
    return runtime.spawn(Provisioner,
                         ProvisionerConfig(flags.work_dir, backend, gc, gc_disk),
                         stores, create_backends(flags.sandbox_directory,
                                                 paths.provisioner_dir(flags.work_dir)),
                         name="provisioner")


def _registry_puller(config: Any) -> Any:
    from mesos_py.provisioner.store.registry import RegistryPuller
    return RegistryPuller(config).resolve


def parse_gc_config(text: str) -> Any:
    """--image_gc_config as an ImageGcConfig; ValueError with the reason."""
    from google.protobuf import json_format

    from mesos_py.flags import load_json_object
    from mesos_py.provisioner.provisioner import ImageGcConfig

    document = load_json_object(text)
    headroom = document.get("image_disk_headroom", 0.1)
    if not isinstance(headroom, (int, float)) or not 0.0 <= headroom <= 1.0:
        raise ValueError("image_disk_headroom must be a number between 0 and 1")
    interval = document.get("image_disk_watch_interval", {"nanoseconds": 3600 * 10**9})
    nanoseconds = interval.get("nanoseconds") if isinstance(interval, dict) else None
    if not isinstance(nanoseconds, int) or nanoseconds <= 0:
        raise ValueError("image_disk_watch_interval must be {\"nanoseconds\": N} with N > 0")
    excluded = []
    entries = document.get("excluded_images") or []
    if not isinstance(entries, list):
        raise ValueError("excluded_images must be a list of images")
    for entry in entries:
        try:
            excluded.append(json_format.ParseDict(entry, Image()))
        except json_format.ParseError as error:
            raise ValueError(f"invalid image in excluded_images: {error}")
    return ImageGcConfig(float(headroom), nanoseconds / 1e9, tuple(excluded))
