"""ContainerLaunchInfo's rlimits and capabilities as the fork server's JSON request fields.

Agent side (protobuf allowed here); the child side that applies these fields
is `mesos_py.linux.capabilities`, which must not import this module.

The fields, as `launch_request_fields` returns them:

- ``"rlimits"``: ``[[resource, soft, hard], ...]`` in RLimitInfo's order;
  `resource` is the `RLIMIT_*` number, `soft`/`hard` an integer or ``None``
  for RLIM_INFINITY. An RLimit with neither soft nor hard is unlimited (both
  ``None``), as in Mesos. Empty list: no rlimits to set.
- ``"capabilities"``: ``None`` (leave the process's capabilities alone) or
  ``{"effective": [numbers] or None, "bounding": [numbers] or None}`` with
  kernel capability numbers (`CAP_NET_RAW` is 13), sorted, no duplicates.
"""

from __future__ import annotations

from typing import Any

from mesos_py.linux.capabilities import RLIM_INFINITY, RLIMIT_NUMBERS, from_protobuf
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerLaunchInfo
from mesos_py.protos.mesos.v1.mesos_pb2 import CapabilityInfo, RLimitInfo

RLimit = RLimitInfo.RLimit


def rlimit_resource(limit_type: int) -> int:
    """The `RLIMIT_*` number of an RLimit type; ValueError, in Mesos's words, if none."""
    if limit_type == RLimit.UNKNOWN:
        raise ValueError("Unknown rlimit type")
    type_name = RLimit.Type.Name(limit_type)
    if type_name not in RLIMIT_NUMBERS:
        raise ValueError(f"Resource type '{type_name}' not supported")
    return RLIMIT_NUMBERS[type_name]


def rlimit_problem(limit: RLimitInfo.RLimit) -> str | None:
    """Why the launch helper could not set this limit, or None; checked before launching."""
    type_name = (RLimit.Type.Name(limit.type)
                 if limit.type in RLimit.Type.values() else str(limit.type))
    try:
        rlimit_resource(limit.type)
    except ValueError as error:
        return f"Invalid rlimit {type_name}: {error}"
    if limit.HasField("soft") != limit.HasField("hard"):
        return (f"Invalid rlimit {type_name}: set both 'soft' and 'hard', or neither "
                f"for an unlimited {type_name}")
    if limit.HasField("soft") and limit.soft > limit.hard:
        return (f"Invalid rlimit {type_name}: soft limit {limit.soft} is above hard limit "
                f"{limit.hard}")
    return None


def rlimit_entries(rlimits: RLimitInfo) -> list[list[int | None]]:
    entries: list[list[int | None]] = []
    for limit in rlimits.rlimits:
        problem = rlimit_problem(limit)
        if problem is not None:
            raise ValueError(problem)
        soft = hard = None
        if limit.HasField("soft"):
            soft = None if limit.soft == RLIM_INFINITY else limit.soft
            hard = None if limit.hard == RLIM_INFINITY else limit.hard
        entries.append([rlimit_resource(limit.type), soft, hard])
    return entries


def capability_numbers(info: CapabilityInfo) -> list[int]:
    """Kernel numbers of a CapabilityInfo, sorted; ValueError for UNKNOWN."""
    return sorted({from_protobuf(value) for value in info.capabilities})


def launch_request_fields(info: ContainerLaunchInfo) -> dict[str, Any]:
    """The ``rlimits`` and ``capabilities`` request fields of a (merged) launch info.

    Raises ValueError for what the launch helper could not apply (the
    isolators refuse such requests in `prepare` already).
    """
    capabilities: dict[str, list[int] | None] | None = None
    if info.HasField("effective_capabilities") or info.HasField("bounding_capabilities"):
        capabilities = {
            "effective": (capability_numbers(info.effective_capabilities)
                          if info.HasField("effective_capabilities") else None),
            "bounding": (capability_numbers(info.bounding_capabilities)
                         if info.HasField("bounding_capabilities") else None),
        }
    return {"rlimits": rlimit_entries(info.rlimits), "capabilities": capabilities}
