"""The limits the cgroups isolator writes: CPU (cgroups/cpu) and memory (cgroups/mem).

Limits as Mesos: v1 `cpu.shares` = 1024/cpu (min 2), CFS period 100ms and
quota = cpus x period (min 1ms) with `--cgroups_enable_cfs` or a `cpus`
limit; `memory.soft_limit_in_bytes` = request, `memory.limit_in_bytes` =
limit or request (min 32MB; the hard limit is only ever raised once set, as
Mesos does, so a shrinking request never OOM-kills); v2 (Mesos HEAD)
`cpu.weight` = 100/cpu (min 1), `cpu.max`, `memory.low`, `memory.max`.
`pids.max` is `--container_pids_limit` (ours). An `inf` limit is unlimited.

Where Mesos fails a launch without `cpus` or `mem`, this isolator leaves that
controller at its default (no weight or limit) and logs it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Iterable, Mapping

from mesos_py import resources as resources_lib
from mesos_py.actors import Failure
from mesos_py.linux import cgroups
from mesos_py.linux.cgroups import CgroupError, Version
from mesos_py.protos.mesos.v1.mesos_pb2 import Resource, Value
from mesos_py.units import Bytes

log = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024
CPU_SHARES_PER_CPU = 1024
MIN_CPU_SHARES = 2
CPU_WEIGHT_PER_CPU = 100  # v2
MIN_CPU_WEIGHT, MAX_CPU_WEIGHT = 1, 10000
CFS_PERIOD_US = 100_000
MIN_CFS_QUOTA_US = 1_000
MIN_MEMORY = 32 * MEGABYTE
UNLIMITED = -1  # a hard limit of `inf`


@dataclasses.dataclass
class Limits:
    """What `update` writes; computed on the actor, applied on the pool."""

    cpus: float | None
    cpu_limit: float | None  # None: none given; math.inf: unlimited
    mem_soft: int | None  # bytes
    mem_hard: int | None  # bytes, UNLIMITED, or None (nothing to set)


class CgroupsLimits:
    """`CgroupsIsolator`'s limits: computed on the actor (`_limits`), written on the
    pool (`_apply`). A mixin: it reads the isolator's configuration, declared here."""

    version: Version
    _at: dict[str, str]  # v1: subsystem -> its hierarchy; v2: controller -> the mount
    _cpu: bool
    _mem: bool
    _enable_cfs: bool
    _limit_swap: bool

    def _limits(self, key: str, resources: Iterable[Resource],
                limits: Mapping[str, float]) -> Limits:
        cpus = resources_lib.cpus(resources) if self._cpu else None
        cpu_limit = limits.get("cpus") if self._cpu else None
        mem_soft = mem_hard = None
        if self._mem:
            mem = resources_lib.mem(resources)
            if mem is not None:
                mem_soft = max(mem * MEGABYTE, MIN_MEMORY)
            limit = limits.get("mem")
            if limit is not None:
                mem_hard = UNLIMITED if math.isinf(limit) else max(int(limit) * MEGABYTE,
                                                                   MIN_MEMORY)
            else:
                mem_hard = mem_soft
        if self._cpu and cpus is None and cpu_limit is None:
            log.info("%s: no 'cpus' resource: CPU weight and quota left at their defaults", key)
        if self._mem and mem_soft is None and mem_hard is None:
            log.info("%s: no 'mem' resource: no memory limit", key)
        return Limits(cpus, cpu_limit, mem_soft, mem_hard)

    def _apply(self, cgroup: str, limits: Limits, first: bool) -> None:
        """Pool: writes CPU and memory limits."""
        if self._cpu:
            self._apply_cpu(cgroup, limits)
        if self._mem:
            self._apply_memory(cgroup, limits, first)

    def _apply_cpu(self, cgroup: str, limits: Limits) -> None:
        hierarchy = self._at["cpu"]
        cpus, limit = limits.cpus, limits.cpu_limit
        quota_of = limit if limit is not None else (cpus if self._enable_cfs else None)
        if self.version is Version.V1:
            if cpus is not None:
                shares = max(int(CPU_SHARES_PER_CPU * cpus), MIN_CPU_SHARES)
                _write(hierarchy, cgroup, "cpu.shares", str(shares))
            if quota_of is not None:
                _write(hierarchy, cgroup, "cpu.cfs_period_us", str(CFS_PERIOD_US))
                _write(hierarchy, cgroup, "cpu.cfs_quota_us",
                       "-1" if math.isinf(quota_of) else str(_quota(quota_of)))
            return
        if cpus is not None:
            weight = min(max(int(CPU_WEIGHT_PER_CPU * cpus), MIN_CPU_WEIGHT), MAX_CPU_WEIGHT)
            _write(hierarchy, cgroup, "cpu.weight", str(weight))
        if quota_of is not None or cpus is not None:
            quota = "max" if quota_of is None or math.isinf(quota_of) else str(_quota(quota_of))
            _write(hierarchy, cgroup, "cpu.max", f"{quota} {CFS_PERIOD_US}")

    def _apply_memory(self, cgroup: str, limits: Limits, first: bool) -> None:
        hierarchy = self._at["memory"]
        v1 = self.version is Version.V1
        if limits.mem_soft is not None:
            _write(hierarchy, cgroup, "memory.soft_limit_in_bytes" if v1 else "memory.low",
                   str(limits.mem_soft))
        hard = limits.mem_hard
        if hard is None:
            return
        hard_file = "memory.limit_in_bytes" if v1 else "memory.max"
        try:
            current = cgroups.read_int(hierarchy, cgroup, hard_file)
        except CgroupError as error:
            raise Failure(f"Failed to read '{hard_file}': {error}") from None
        raising = hard == UNLIMITED or current is None or hard > current
        if not first and not raising:
            # As Mesos: a lowered hard limit is not applied to a running
            # container (the kernel would reclaim or OOM-kill at once).
            if hard != current:
                log.info("Keeping the memory hard limit of %s at %s (not lowering it to %s)",
                         cgroup, Bytes(current) if current is not None else "unlimited",
                         Bytes(hard))
            return
        value = ("-1" if v1 else "max") if hard == UNLIMITED else str(hard)
        if v1:
            # memory.memsw.limit_in_bytes must stay >= memory.limit_in_bytes.
            steps = [hard_file, "memory.memsw.limit_in_bytes"] if first else \
                ["memory.memsw.limit_in_bytes", hard_file]
            for control in steps:
                if control == hard_file or self._limit_swap:
                    _write(hierarchy, cgroup, control, value)
        else:
            _write(hierarchy, cgroup, hard_file, value)
            if self._limit_swap:
                _write(hierarchy, cgroup, "memory.swap.max", "0")


def _scalar_limits(limits: Mapping[str, Value.Scalar]) -> dict[str, float]:
    return {name: scalar.value for name, scalar in limits.items()}


def _quota(cpus: float) -> int:
    return max(int(CFS_PERIOD_US * cpus), MIN_CFS_QUOTA_US)


def _write(hierarchy: str, cgroup: str, control: str, value: str) -> None:
    try:
        cgroups.write(hierarchy, cgroup, control, value)
    except CgroupError as error:
        raise Failure(f"Failed to update '{control}': {error}") from None
