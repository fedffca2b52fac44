"""Cgroup statistics: the statistics files of either version, parsed and read."""

from __future__ import annotations

import dataclasses
import os

from mesos_py.linux.cgroups.base import CgroupError
from mesos_py.linux.cgroups.tree import read

USER_HZ = os.sysconf("SC_CLK_TCK")


# ================================================================ statistics
@dataclasses.dataclass
class CpuStats:
    """CPU time and CFS throttling; None where the kernel does not report it."""

    user_secs: float | None = None
    system_secs: float | None = None
    usage_secs: float | None = None
    nr_periods: int | None = None
    nr_throttled: int | None = None
    throttled_secs: float | None = None


@dataclasses.dataclass
class PressureLine:
    avg10: float
    avg60: float
    avg300: float
    total_usecs: int


@dataclasses.dataclass
class Pressure:
    """PSI (`cpu.pressure`, `memory.pressure`, `io.pressure`)."""

    some: PressureLine | None = None
    full: PressureLine | None = None


def parse_keyed(text: str) -> dict[str, int]:
    """`key value` lines (cpu.stat, memory.stat, memory.events, pids.events...)."""
    result = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2:
            try:
                result[fields[0]] = int(fields[1])
            except ValueError:
                continue
    return result


def parse_cpuacct_stat(text: str) -> CpuStats:
    """v1 `cpuacct.stat`: `user`/`system` in USER_HZ ticks."""
    values = parse_keyed(text)
    stats = CpuStats()
    if "user" in values:
        stats.user_secs = values["user"] / USER_HZ
    if "system" in values:
        stats.system_secs = values["system"] / USER_HZ
    return stats


def parse_cpu_stat(text: str) -> CpuStats:
    """`cpu.stat`, either version.

    v1: nr_periods, nr_throttled, throttled_time (ns). v2: usage_usec,
    user_usec, system_usec, and with the cpu controller nr_periods,
    nr_throttled, throttled_usec.
    """
    values = parse_keyed(text)
    stats = CpuStats(nr_periods=values.get("nr_periods"),
                     nr_throttled=values.get("nr_throttled"))
    if "throttled_usec" in values:
        stats.throttled_secs = values["throttled_usec"] / 1e6
    elif "throttled_time" in values:
        stats.throttled_secs = values["throttled_time"] / 1e9
    for key, attribute in (("usage_usec", "usage_secs"), ("user_usec", "user_secs"),
                           ("system_usec", "system_secs")):
        if key in values:
            setattr(stats, attribute, values[key] / 1e6)
    return stats


def parse_pressure(text: str) -> Pressure:
    """`some avg10=0.00 avg60=0.00 avg300=0.00 total=0` (and a `full` line)."""
    pressure = Pressure()
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind not in ("some", "full"):
            continue
        fields = dict(item.split("=", 1) for item in rest.split() if "=" in item)
        try:
            parsed = PressureLine(float(fields["avg10"]), float(fields["avg60"]),
                                  float(fields["avg300"]), int(fields["total"]))
        except (KeyError, ValueError):
            continue
        setattr(pressure, kind, parsed)
    return pressure


def parse_limit(text: str) -> int | None:
    """A byte or count limit: None for unlimited (`max`, or v1's huge value)."""
    text = text.strip()
    if text == "max" or text == "-1":
        return None
    value = int(text)
    return None if value >= _V1_UNLIMITED else value


# v1 reports "no limit" as PAGE_COUNTER_MAX pages in bytes (~2**63, page aligned).
_V1_UNLIMITED = 2**62


def read_int(hierarchy: str, cgroup: str, control: str) -> int | None:
    """A single-number control (`memory.current`, `pids.max`...); None for `max`."""
    return parse_limit(read(hierarchy, cgroup, control))


def read_keyed(hierarchy: str, cgroup: str, control: str) -> dict[str, int]:
    return parse_keyed(read(hierarchy, cgroup, control))


def read_pressure(hierarchy: str, cgroup: str, resource: str) -> Pressure | None:
    """v2 PSI of `resource` (cpu, memory, io); None where PSI is unavailable."""
    try:
        return parse_pressure(read(hierarchy, cgroup, f"{resource}.pressure"))
    except CgroupError:
        return None
