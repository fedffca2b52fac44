"""filesystem/shared, volume/host_path, volume/sandbox_path.

ContainerInfo volumes are bind-mounted into the container's mount namespace
(read-only ones remounted read-only by the launch helper): into its image's
root filesystem if it has one, else into the host's as the container sees
it. The rules are Mesos 1.11's:

- volume/host_path: `host_path` (absolute) or a HOST_PATH source; an absolute
  `container_path` goes into the rootfs (created), or, without an image,
  must already exist on the host; a relative one is created in the sandbox.
- volume/sandbox_path: a relative `host_path` or a SANDBOX_PATH source: a
  directory of the container's sandbox (SELF, mounted at an absolute
  `container_path`) or of its parent's (PARENT, nested containers only).
- filesystem/shared (the seed's private /tmp): `host_path` relative to the
  sandbox (created with the permissions of `container_path`) or absolute,
  mounted over an absolute `container_path` that exists on the host.
"""

from __future__ import annotations

import os
from typing import ClassVar

from mesos_py.errors import InvalidRequest
from mesos_py.isolators.base import Isolator
from mesos_py.isolators.linux_filesystem import sandbox_directory, volume_mount_point
from mesos_py.isolators.namespaces import CLONE_NEWNS
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerClass, ContainerConfig,
                                                           ContainerLaunchInfo, ContainerMountInfo)
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, ContainerInfo, Volume

MS_RDONLY, MS_BIND, MS_REC = 0x1, 0x1000, 0x4000


def _container_info(config: ContainerConfig) -> ContainerInfo | None:
    if config.HasField("container_info"):
        return config.container_info
    if config.HasField("executor_info") and config.executor_info.HasField("container"):
        return config.executor_info.container
    return None


def _bind(source: str, target: str, read_only: bool) -> ContainerMountInfo:
    return ContainerMountInfo(source=source, target=target,
                              flags=MS_BIND | MS_REC | (MS_RDONLY if read_only else 0))


class _VolumeIsolator(Isolator):
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        info = _container_info(config)
        if info is None or not len(info.volumes):
            return None
        launch_info = ContainerLaunchInfo()
        try:
            for volume in info.volumes:
                mount = self._mount(container_id, config, volume)
                if mount is not None:
                    launch_info.mounts.append(mount)
        except OSError as error:
            raise InvalidRequest(f"Failed to prepare a volume: {error}")
        return launch_info

    def _mount(self, container_id: ContainerID, config: ContainerConfig,
               volume: Volume) -> ContainerMountInfo | None:
        raise NotImplementedError


class HostPathVolumeIsolator(_VolumeIsolator):
    NAME = "volume/host_path"

    def _mount(self, container_id: ContainerID, config: ContainerConfig,
               volume: Volume) -> ContainerMountInfo | None:
        host_path = None
        if volume.HasField("host_path") and os.path.isabs(volume.host_path):
            host_path = volume.host_path
        if volume.source.type == Volume.Source.HOST_PATH:
            host_path = volume.source.host_path.path
            if not os.path.isabs(host_path):
                raise InvalidRequest(f"Path '{host_path}' in HOST_PATH volume is not absolute")
        if host_path is None:
            return None
        if config.container_class == ContainerClass.DEBUG:
            raise InvalidRequest("HOST_PATH volume is not supported for DEBUG containers")
        if not os.path.exists(host_path):
            raise InvalidRequest(f"Path '{host_path}' in HOST_PATH volume does not exist")
        target = volume_mount_point(config, volume.container_path,
                                    sandbox_directory(self.flags), os.path.isdir(host_path))
        if host_path == target:
            return None
        return _bind(host_path, target, volume.mode == Volume.RO)


class SandboxPathVolumeIsolator(_VolumeIsolator):
    NAME = "volume/sandbox_path"

    def __init__(self, flags: object = None, names: object = ()) -> None:
        super().__init__(flags, names)  # type: ignore[arg-type]
        self._sandboxes: dict[str, str] = {}

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        self._sandboxes[_key(container_id)] = config.directory
        return super().prepare(container_id, config)

    def cleanup(self, container_id: ContainerID) -> None:
        self._sandboxes.pop(_key(container_id), None)

    def _mount(self, container_id: ContainerID, config: ContainerConfig,
               volume: Volume) -> ContainerMountInfo | None:
        if volume.HasField("host_path") and not os.path.isabs(volume.host_path):
            kind, relative = Volume.Source.SandboxPath.SELF, volume.host_path
        elif volume.source.type == Volume.Source.SANDBOX_PATH:
            kind, relative = volume.source.sandbox_path.type, volume.source.sandbox_path.path
            if os.path.isabs(relative):
                raise InvalidRequest(f"Path '{relative}' in SANDBOX_PATH volume is absolute")
        else:
            return None
        if kind == Volume.Source.SandboxPath.SELF:
            if not os.path.isabs(volume.container_path):
                raise InvalidRequest("'container_path' is relative for SANDBOX_PATH volume "
                                     "SELF type")
            root = config.directory
        elif kind == Volume.Source.SandboxPath.PARENT:
            if not container_id.HasField("parent"):
                raise InvalidRequest("SANDBOX_PATH volume PARENT type only works for nested "
                                     "container")
            parent = self._sandboxes.get(_key(container_id.parent))
            if parent is None:
                raise InvalidRequest("Failed to locate the sandbox for the parent container")
            root = parent
        else:
            raise InvalidRequest("Unknown SANDBOX_PATH volume type")
        source = os.path.normpath(os.path.join(root, relative))
        if not (source + "/").startswith(root.rstrip("/") + "/"):
            raise InvalidRequest(f"Path '{relative}' in SANDBOX_PATH volume escapes the sandbox")
        if not os.path.exists(source):
            os.makedirs(source)
            owner = os.stat(root)
            os.chown(source, owner.st_uid, owner.st_gid)
        target = volume_mount_point(config, volume.container_path,
                                    sandbox_directory(self.flags), os.path.isdir(source))
        return _bind(source, target, volume.mode == Volume.RO)


class SharedFilesystemIsolator(Isolator):
    """The seed's shared filesystem isolator (private /tmp and friends)."""

    NAME = "filesystem/shared"
    SUPPORTS_NESTING: ClassVar[bool] = False
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        info = _container_info(config)
        if info is None:
            return None
        if info.type != ContainerInfo.MESOS:
            raise InvalidRequest("Can only prepare filesystem for a MESOS container")
        launch_info = ContainerLaunchInfo()
        launch_info.clone_namespaces.append(CLONE_NEWNS)
        taken = [config.directory]
        for volume in info.volumes:
            self._check_overlap(volume.container_path, taken)
            taken.append(volume.container_path)
            launch_info.mounts.append(self._mount(config, volume))
        return launch_info

    @staticmethod
    def _check_overlap(container_path: str, taken: list[str]) -> None:
        if not os.path.exists(container_path):
            raise InvalidRequest(f"Volume with container path '{container_path}' must exist "
                                 "on host for shared filesystem isolator")
        for other in taken:
            if container_path.startswith(other):
                raise InvalidRequest(f"Cannot mount volume to '{container_path}' because it "
                                     f"is under volume '{other}'")
            if other.startswith(container_path):
                raise InvalidRequest(f"Cannot mount volume to '{other}' because it is under "
                                     f"volume '{container_path}'")

    @staticmethod
    def _mount(config: ContainerConfig, volume: Volume) -> ContainerMountInfo:
        if not volume.HasField("host_path"):
            raise InvalidRequest(f"Volume with container path '{volume.container_path}' must "
                                 "specify host path for shared filesystem isolator")
        if os.path.isabs(volume.host_path):
            host_path = volume.host_path
            if not os.path.exists(host_path):
                raise InvalidRequest(
                    f"Volume with container path '{volume.container_path}' must have host "
                    f"path '{host_path}' present on host for shared filesystem isolator")
        else:
            host_path = os.path.join(config.directory, volume.host_path)
            if "/./" in host_path or "/../" in host_path:
                raise InvalidRequest(f"Relative host path '{host_path}' cannot contain "
                                     "relative components")
            os.makedirs(host_path, exist_ok=True)
            model = os.stat(volume.container_path)
            os.chmod(host_path, model.st_mode & 0o7777)
            os.chown(host_path, model.st_uid, model.st_gid)
        return _bind(host_path, volume.container_path, volume.mode == Volume.RO)


def _key(container_id: ContainerID) -> str:
    from mesos_py.ids import container_key
    return container_key(container_id)
