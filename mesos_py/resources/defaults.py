"""The agent's resources: what it probes on the host, and its total.

An agent offers what `--resources` names, plus probed cpus, mem and disk and
the default ports for whatever the flag does not name (`agent_resources`).
"""

from __future__ import annotations

import os

from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.resources.arithmetic import _add_one
from mesos_py.resources.parse import (
    ResourcesError,
    parse_resource,
    parse_resources,
    resources_from_string,
)
from mesos_py.resources.text import format_scalar
from mesos_py.resources.validate import validate_resources

MEGABYTE = 1024 * 1024
GIGABYTE = 1024 * MEGABYTE

DEFAULT_CPUS = 1.0
DEFAULT_MEM = GIGABYTE
DEFAULT_DISK = 10 * GIGABYTE
DEFAULT_PORTS = "[31000-32000]"


# ================================================================ defaults
def _total_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
        raise OSError("MemTotal not found in /proc/meminfo")


def _cpu_count() -> float:
    try:
        count = os.sysconf("SC_NPROCESSORS_ONLN")
    except (ValueError, OSError):
        count = -1
    return float(count) if count > 0 else DEFAULT_CPUS


def probed_cpus() -> float:
    """The number of online CPUs (Mesos's `os::cpus()`), 1 if unknown."""
    return _cpu_count()


def probed_mem_mb() -> int:
    """Memory the agent offers by default: total minus 1 GB, or half of the
    total when it is under 2 GB; in whole megabytes."""
    try:
        total = _total_memory()
    except OSError:
        return DEFAULT_MEM // MEGABYTE
    usable = total - GIGABYTE if total >= 2 * GIGABYTE else total // 2
    return usable // MEGABYTE


def probed_disk_mb(work_dir: str) -> int:
    """Disk the agent offers by default: the size of work_dir's filesystem minus
    5 GB, or half of it when under 10 GB; in whole megabytes."""
    try:
        stat = os.statvfs(work_dir)
        total = stat.f_frsize * stat.f_blocks
    except OSError:
        return DEFAULT_DISK // MEGABYTE
    usable = total - 5 * GIGABYTE if total >= 10 * GIGABYTE else total // 2
    return usable // MEGABYTE


def default_resources(work_dir: str, default_role: str = "*") -> list[mesos_pb2.Resource]:
    """The resources an agent without `--resources` offers: cpus, mem, disk, ports."""
    return agent_resources(None, work_dir, default_role)


def agent_resources(flag_text: str | None, work_dir: str,
                    default_role: str = "*") -> list[mesos_pb2.Resource]:
    """The agent's total resources, as Mesos's `Containerizer::resources`:
    the `--resources` flag, plus probed cpus/mem/disk and the default ports
    for whichever of those the flag does not name (naming one, even with a
    zero amount such as `cpus:0`, disables its probing)."""
    text = flag_text or ""
    result = parse_resources(text, default_role)
    named = {resource.name for resource in resources_from_string(text, default_role)}

    if "cpus" not in named:
        _add_one(result, parse_resource("cpus", format_scalar(probed_cpus()), default_role))

    # The GPUs named by the flag are passed through (without the gpu/nvidia
    # isolator nothing is discovered) and end up after the others so far.
    result = ([r for r in result if r.name != "gpus"] +
              [r for r in result if r.name == "gpus"])

    if "mem" not in named:
        _add_one(result, parse_resource("mem", str(probed_mem_mb()), default_role))
    if "disk" not in named:
        _add_one(result, parse_resource("disk", str(probed_disk_mb(work_dir)), default_role))
    if "ports" not in named:
        _add_one(result, parse_resource("ports", DEFAULT_PORTS, default_role))

    error = validate_resources(result)
    if error is not None:
        raise ResourcesError(error)
    return result
