"""posix/rlimits: ContainerInfo.rlimit_info into the launch info, refusing what cannot be set."""

from __future__ import annotations

from typing import Any

import pytest

from mesos_py.errors import InvalidRequest
from mesos_py.http.codec import json_to_message
from mesos_py.isolators.rlimits import PosixRlimitsIsolator
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, ContainerInfo, RLimitInfo

CONTAINER = ContainerID(value="c")


def config(container: dict[str, Any] | None = None) -> ContainerConfig:
    result = ContainerConfig(directory="/tmp/sandbox")
    result.command_info.value = "true"
    if container is not None:
        result.container_info.CopyFrom(json_to_message(container, ContainerInfo))
    return result


def test_no_rlimit_info_nothing_to_do() -> None:
    isolator = PosixRlimitsIsolator(None, ["posix/rlimits"])
    assert isolator.prepare(CONTAINER, config()) is None
    assert isolator.prepare(CONTAINER, config({"type": "MESOS"})) is None


def test_mesos_documented_example_is_copied() -> None:
    # The example of Mesos's posix-rlimits document.
    request = config({"type": "MESOS", "rlimit_info": {"rlimits": [
        {"type": "RLMT_CORE"}, {"type": "RLMT_STACK", "soft": 8192, "hard": 32768}]}})
    info = PosixRlimitsIsolator().prepare(CONTAINER, request)
    assert info is not None
    assert info.rlimits == request.container_info.rlimit_info
    assert info.rlimits.rlimits[1].type == RLimitInfo.RLimit.RLMT_STACK


def test_empty_rlimit_info_is_kept() -> None:
    info = PosixRlimitsIsolator().prepare(CONTAINER, config({"type": "MESOS", "rlimit_info": {}}))
    assert info is not None and info.HasField("rlimits") and not info.rlimits.rlimits


@pytest.mark.parametrize("limit, message", [
    ({"type": "RLMT_NOFILE", "soft": 10},
     "Invalid rlimit RLMT_NOFILE: set both 'soft' and 'hard', or neither for an unlimited "
     "RLMT_NOFILE"),
    ({"type": "RLMT_NOFILE", "soft": 10, "hard": 5},
     "Invalid rlimit RLMT_NOFILE: soft limit 10 is above hard limit 5"),
    # An enum name the codec does not know leaves the type unset, as in Mesos.
    ({"type": "RLMT_FOO", "soft": 1, "hard": 1}, "Invalid rlimit UNKNOWN: Unknown rlimit type"),
])
def test_limits_that_cannot_be_set_fail_the_launch(limit: dict[str, Any], message: str) -> None:
    request = config({"type": "MESOS", "rlimit_info": {"rlimits": [limit]}})
    with pytest.raises(InvalidRequest) as raised:
        PosixRlimitsIsolator().prepare(CONTAINER, request)
    assert str(raised.value) == message
