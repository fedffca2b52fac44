"""A container's ResourceStatistics: its isolators' parts, plus its limits."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Mapping

from mesos_py.actors import Future
from mesos_py.ids import container_key
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, ResourceStatistics

log = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024


def merge_usage(container_id: ContainerID, done: list[Future[ResourceStatistics]],
                 config: ContainerConfig) -> ResourceStatistics:
    result = ResourceStatistics(timestamp=time.time())
    for future in done:
        if future.is_ready():
            result.MergeFrom(future.value())
        else:
            log.warning("%s: skipping a usage statistic: %s", container_key(container_id),
                        future.failure() if future.is_failed() else "discarded")
    result.timestamp = time.time()
    cpus = _scalar(config, "cpus")
    mem = _scalar(config, "mem")
    limits: Mapping[str, Any] = config.limits
    if cpus is not None:
        result.cpus_soft_limit = cpus
    if "cpus" in limits:
        value = limits["cpus"].value
        result.cpus_limit = float(os.cpu_count() or 1) if value == float("inf") else value
    if mem is not None:
        result.mem_soft_limit_bytes = int(mem * MEGABYTE)
    if "mem" in limits:
        value = limits["mem"].value
        result.mem_limit_bytes = (_total_memory() if value == float("inf")
                                  else int(value) * MEGABYTE)
    elif mem is not None:
        result.mem_limit_bytes = int(mem * MEGABYTE)
    return result


def _scalar(config: ContainerConfig, name: str) -> float | None:
    values = [r.scalar.value for r in config.resources if r.name == name and r.HasField("scalar")]
    return sum(values) if values else None


def _total_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
