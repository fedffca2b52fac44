"""posix/rlimits: the POSIX resource limits of ContainerInfo.rlimit_info.

The launch helper sets them (`mesos_py.linux.capabilities.apply_rlimits`)
before it switches user. An RLimit with neither soft nor hard is unlimited.
Unlike Mesos 1.11, whose launch helper only finds out when the container
starts (the container then exits 1), a limit that cannot be set as written
(only one of soft/hard, soft above hard, no type) fails the launch here.
"""

from __future__ import annotations

from typing import ClassVar

from mesos_py.errors import InvalidRequest
from mesos_py.isolators.base import Isolator
from mesos_py.linux.launch_spec import rlimit_problem
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig, ContainerLaunchInfo
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID


class PosixRlimitsIsolator(Isolator):
    NAME = "posix/rlimits"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        if not (config.HasField("container_info")
                and config.container_info.HasField("rlimit_info")):
            return None
        rlimits = config.container_info.rlimit_info
        for limit in rlimits.rlimits:
            problem = rlimit_problem(limit)
            if problem is not None:
                raise InvalidRequest(problem)
        launch_info = ContainerLaunchInfo()
        launch_info.rlimits.CopyFrom(rlimits)
        return launch_info
