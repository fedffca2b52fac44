"""The cgroups isolator's `usage`: ResourceStatistics from a container's cgroups.

CPU times and throttling (cgroups/cpu), memory usage and its breakdown
(cgroups/mem), and the processes and threads of the cgroup and those below it,
from the v1 or v2 control files. Read on the runtime's pool.
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

from mesos_py.actors import Failure
from mesos_py.linux import cgroups
from mesos_py.linux.cgroups import CgroupError, Version
from mesos_py.protos.mesos.v1.mesos_pb2 import ResourceStatistics


class CgroupsStatistics:
    """`CgroupsIsolator`'s statistics. A mixin: it reads the isolator's
    configuration, declared here."""

    version: Version
    _at: dict[str, str]  # v1: subsystem -> its hierarchy; v2: controller -> the mount
    _hierarchy_flag: str
    _cpu: bool
    _mem: bool
    _limit_swap: bool
    _hierarchies: Callable[[], list[str]]  # the isolator's method

    def _statistics(self, cgroup: str) -> ResourceStatistics:
        """Pool: ResourceStatistics from the container's cgroup (and those below it)."""
        try:
            return self._read_statistics(cgroup)
        except (CgroupError, ValueError) as error:
            raise Failure(f"Failed to read the statistics of cgroup '{cgroup}': {error}") from None

    def _read_statistics(self, cgroup: str) -> ResourceStatistics:
        stats = ResourceStatistics(timestamp=time.time())
        if not cgroups.exists(self._hierarchies()[0], cgroup):
            raise Failure(f"The cgroup '{cgroup}' does not exist")
        if self.version is Version.V1:
            self._statistics_v1(cgroup, stats)
        else:
            self._statistics_v2(cgroup, stats)
        hierarchy = self._hierarchies()[0]
        stats.processes = len(cgroups.processes(hierarchy, cgroup, recursive=True))
        stats.threads = len(cgroups.threads(hierarchy, cgroup, recursive=True))
        return stats

    def _statistics_v1(self, cgroup: str, stats: ResourceStatistics) -> None:
        if self._cpu:
            _set_cpu(stats, cgroups.parse_cpuacct_stat(
                cgroups.read(self._at["cpuacct"], cgroup, "cpuacct.stat")))
            _set_cpu(stats, cgroups.parse_cpu_stat(
                cgroups.read(self._at["cpu"], cgroup, "cpu.stat")))
        if self._mem:
            memory = self._at["memory"]
            stats.mem_total_bytes = cgroups.read_int(memory, cgroup, "memory.usage_in_bytes") or 0
            if self._limit_swap:
                stats.mem_total_memsw_bytes = cgroups.read_int(
                    memory, cgroup, "memory.memsw.usage_in_bytes") or 0
            values = cgroups.read_keyed(memory, cgroup, "memory.stat")
            _set_memory(stats, values, cache="total_cache", rss="total_rss",
                        mapped="total_mapped_file", swap="total_swap",
                        unevictable="total_unevictable")

    def _statistics_v2(self, cgroup: str, stats: ResourceStatistics) -> None:
        mount = self._hierarchy_flag
        if self._cpu:
            _set_cpu(stats, cgroups.parse_cpu_stat(cgroups.read(mount, cgroup, "cpu.stat")))
        if self._mem:
            stats.mem_total_bytes = cgroups.read_int(mount, cgroup, "memory.current") or 0
            values = cgroups.read_keyed(mount, cgroup, "memory.stat")
            _set_memory(stats, values, cache="file", rss="anon", mapped="file_mapped",
                        swap=None, unevictable="unevictable")
            if cgroups.has_control(mount, cgroup, "memory.swap.current"):
                stats.mem_swap_bytes = cgroups.read_int(mount, cgroup, "memory.swap.current") or 0
        # PSI (cpu/memory/io.pressure) has no field in ResourceStatistics (Mesos
        # 1.11 or HEAD); `cgroups.read_pressure` reads it for whoever needs it.


def _set_cpu(stats: ResourceStatistics, cpu: cgroups.CpuStats) -> None:
    if cpu.user_secs is not None:
        stats.cpus_user_time_secs = cpu.user_secs
    if cpu.system_secs is not None:
        stats.cpus_system_time_secs = cpu.system_secs
    if cpu.nr_periods is not None:
        stats.cpus_nr_periods = cpu.nr_periods
    if cpu.nr_throttled is not None:
        stats.cpus_nr_throttled = cpu.nr_throttled
    if cpu.throttled_secs is not None:
        stats.cpus_throttled_time_secs = cpu.throttled_secs


def _set_memory(stats: ResourceStatistics, values: Mapping[str, int], cache: str, rss: str,
                mapped: str, swap: str | None, unevictable: str) -> None:
    fields = [(cache, ("mem_file_bytes", "mem_cache_bytes")),
              (rss, ("mem_anon_bytes", "mem_rss_bytes")),
              (mapped, ("mem_mapped_file_bytes",)),
              (swap, ("mem_swap_bytes",)),
              (unevictable, ("mem_unevictable_bytes",))]
    for name, targets in fields:
        if name is not None and name in values:
            for target in targets:
                setattr(stats, target, values[name])
