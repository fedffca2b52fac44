"""namespaces/pid and namespaces/ipc: a container of its own, as Mesos 1.11 does it.

A top-level container gets new namespaces; a nested one enters its parent's
(and, for pid, gets a nested pid namespace of its own unless
`linux_info.share_pid_namespace` is set).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from mesos_py.errors import InvalidRequest
from mesos_py.isolators.base import Isolator, StartupError
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerClass, ContainerConfig,
                                                           ContainerLaunchInfo, ContainerMountInfo)
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, LinuxInfo

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000

MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8


class NamespacesPidIsolator(Isolator):
    NAME = "namespaces/pid"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__(flags, names)
        if flags is not None:
            if flags.launcher != "linux":
                raise StartupError("'linux' launcher must be used to enable pid namespace")
            if "filesystem/linux" not in flags.isolation:
                raise StartupError("'filesystem/linux' must be used to enable pid namespace")

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        info = ContainerLaunchInfo()
        share = config.container_info.linux_info.share_pid_namespace
        if container_id.HasField("parent"):
            info.enter_namespaces.append(CLONE_NEWPID)
            if config.container_class == ContainerClass.DEBUG:
                return info
        if not share:
            info.clone_namespaces.append(CLONE_NEWPID)
        elif not container_id.HasField("parent"):
            raise InvalidRequest("Sharing agent pid namespace with top-level container "
                                 "is not allowed")
        if config.rootfs:
            return info  # filesystem/linux mounts the rootfs's /proc
        # A /proc of the container's pid namespace (its own, or its parent's
        # when shared): the host's would not show it, and `ps` would fail.
        info.mounts.append(ContainerMountInfo(
            source="proc", target="/proc", type="proc",
            flags=MS_NOSUID | MS_NODEV | MS_NOEXEC))
        return info


class NamespacesIpcIsolator(Isolator):
    NAME = "namespaces/ipc"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        info = ContainerLaunchInfo()
        linux = config.container_info.linux_info
        mode = linux.ipc_mode if linux.HasField("ipc_mode") else None
        if linux.HasField("shm_size"):
            raise InvalidRequest("Specifying the size of /dev/shm is not supported by this "
                                 "agent yet")
        if container_id.HasField("parent"):
            if config.container_class == ContainerClass.DEBUG and mode == LinuxInfo.PRIVATE:
                raise InvalidRequest("Private IPC mode is not supported for DEBUG containers")
            if mode == LinuxInfo.PRIVATE:
                info.clone_namespaces.append(CLONE_NEWIPC)
            else:
                info.enter_namespaces.append(CLONE_NEWIPC)
            return info
        if mode == LinuxInfo.SHARE_PARENT:
            return info  # a top-level container's parent is the agent: the host's IPC
        info.clone_namespaces.append(CLONE_NEWIPC)
        return info
