"""filesystem/posix: containers share the host's filesystem; the sandbox is theirs.

It refuses what needs a filesystem of the container's own (an image, or
volumes mounted into the container), as Mesos's posix filesystem isolator does.
"""

from __future__ import annotations

from typing import ClassVar

from mesos_py.errors import InvalidRequest
from mesos_py.isolators.base import Isolator
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig, ContainerLaunchInfo
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID


class PosixFilesystemIsolator(Isolator):
    NAME = "filesystem/posix"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        info = config.container_info
        if info.HasField("mesos") and info.mesos.HasField("image"):
            raise InvalidRequest("Container root filesystems not supported")
        if len(info.volumes):
            raise InvalidRequest("Volumes in ContainerInfo is not supported")
        launch_info = ContainerLaunchInfo()
        launch_info.working_directory = config.directory
        return launch_info
