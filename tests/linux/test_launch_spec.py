"""ContainerLaunchInfo → the fork server's `rlimits` and `capabilities` fields."""

from __future__ import annotations

import json
import resource

import pytest

from mesos_py.linux.launch_spec import launch_request_fields, rlimit_problem
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerLaunchInfo
from mesos_py.protos.mesos.v1.mesos_pb2 import CapabilityInfo, RLimitInfo

RLimit = RLimitInfo.RLimit
Cap = CapabilityInfo.Capability


def test_nothing_to_apply() -> None:
    fields = launch_request_fields(ContainerLaunchInfo())
    assert fields == {"rlimits": [], "capabilities": None}
    json.dumps(fields)


def test_rlimits_in_order_with_none_for_unlimited() -> None:
    info = ContainerLaunchInfo()
    info.rlimits.rlimits.add(type=RLimit.RLMT_NOFILE, soft=100, hard=200)
    info.rlimits.rlimits.add(type=RLimit.RLMT_CORE)
    info.rlimits.rlimits.add(type=RLimit.RLMT_STACK, soft=8192, hard=2**64 - 1)
    info.rlimits.rlimits.add(type=RLimit.RLMT_NOFILE, soft=0, hard=0)
    assert launch_request_fields(info)["rlimits"] == [
        [resource.RLIMIT_NOFILE, 100, 200], [resource.RLIMIT_CORE, None, None],
        [resource.RLIMIT_STACK, 8192, None], [resource.RLIMIT_NOFILE, 0, 0]]


@pytest.mark.parametrize("limit, problem", [
    (RLimit(type=RLimit.RLMT_CORE, soft=1),
     "Invalid rlimit RLMT_CORE: set both 'soft' and 'hard', or neither for an unlimited RLMT_CORE"),
    (RLimit(type=RLimit.RLMT_CORE, hard=1),
     "Invalid rlimit RLMT_CORE: set both 'soft' and 'hard', or neither for an unlimited RLMT_CORE"),
    (RLimit(type=RLimit.RLMT_NOFILE, soft=3, hard=2),
     "Invalid rlimit RLMT_NOFILE: soft limit 3 is above hard limit 2"),
    (RLimit(soft=1, hard=2), "Invalid rlimit UNKNOWN: Unknown rlimit type"),
])
def test_limits_the_launch_helper_could_not_set(limit: RLimitInfo.RLimit, problem: str) -> None:
    assert rlimit_problem(limit) == problem
    info = ContainerLaunchInfo()
    info.rlimits.rlimits.add().CopyFrom(limit)
    with pytest.raises(ValueError, match="^" + problem.replace("(", r"\(") + "$"):
        launch_request_fields(info)


def test_capabilities_as_kernel_numbers() -> None:
    info = ContainerLaunchInfo()
    info.effective_capabilities.capabilities.extend([Cap.NET_RAW, Cap.CHOWN, Cap.NET_RAW])
    info.bounding_capabilities.capabilities.extend([Cap.NET_RAW, Cap.CHOWN, Cap.SYSLOG])
    assert launch_request_fields(info)["capabilities"] == {"effective": [0, 13],
                                                          "bounding": [0, 13, 34]}


def test_an_empty_set_is_not_an_absent_one() -> None:
    info = ContainerLaunchInfo()
    info.bounding_capabilities.SetInParent()
    assert launch_request_fields(info)["capabilities"] == {"effective": None, "bounding": []}
    info = ContainerLaunchInfo()
    info.effective_capabilities.SetInParent()
    assert launch_request_fields(info)["capabilities"] == {"effective": [], "bounding": None}


def test_unknown_capability_is_refused() -> None:
    info = ContainerLaunchInfo()
    info.effective_capabilities.capabilities.append(Cap.UNKNOWN)
    with pytest.raises(ValueError, match="Unknown capability value 0"):
        launch_request_fields(info)
