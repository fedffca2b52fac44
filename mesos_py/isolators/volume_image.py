"""volume/image: ContainerInfo volumes whose source is an image.

Each such volume's image is provisioned (by the Provisioner, under the
container's id, so it is destroyed with the container) and its root
filesystem bind-mounted at the volume's `container_path`: inside the
container's rootfs if it has one, in the sandbox for a relative path.
Mesos 1.11's rules; it comes with filesystem/linux.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Sequence

from mesos_py.actors import PID, Failure, Future, await_all, dispatch
from mesos_py.errors import InvalidRequest
from mesos_py.isolators.base import Isolator
from mesos_py.isolators.linux_filesystem import sandbox_directory
from mesos_py.linux import fs
from mesos_py.linux.fs import MS_BIND, MS_RDONLY, MS_REC
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerClass, ContainerConfig,
                                                           ContainerLaunchInfo, ContainerMountInfo)
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, ContainerInfo, Image, Volume
from mesos_py.provisioner.image import ProvisionInfo
from mesos_py.provisioner.provisioner import Provisioner


class VolumeImageIsolator(Isolator):
    NAME = "volume/image"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True
    NEEDS_PROVISIONER: ClassVar[bool] = True

    def __init__(self, flags: Any = None, names: Sequence[str] = (),
                 provisioner: PID[Provisioner] | None = None) -> None:
        super().__init__(flags, names)
        self._provisioner = provisioner
        self._sandbox_directory = sandbox_directory(flags)

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> Future[ContainerLaunchInfo | None] | None:
        volumes = [v for v in config.container_info.volumes if v.HasField("image")]
        if not volumes:
            return None
        if config.container_info.type != ContainerInfo.MESOS:
            raise InvalidRequest("Can only prepare image volumes for a MESOS container")
        if config.container_class == ContainerClass.DEBUG:
            raise InvalidRequest("Image volume is not supported for DEBUG containers")
        if self._provisioner is None:
            raise InvalidRequest("Unsupported container image type: "
                                 f"{Image.Type.Name(volumes[0].image.type)}")
        try:
            targets = [self._target(config, volume) for volume in volumes]
        except OSError as error:
            raise InvalidRequest(f"Failed to create the target of an image volume: {error}")
        provisioned = [dispatch(self._provisioner, Provisioner.provision, container_id,
                                volume.image) for volume in volumes]

        def mounts(done: list[Future[ProvisionInfo]]) -> ContainerLaunchInfo:
            failures = [f.failure() if f.is_failed() else "discarded"
                        for f in done if not f.is_ready()]
            if failures:
                raise Failure("\n".join(failures))
            launch_info = ContainerLaunchInfo()
            for volume, target, future in zip(volumes, targets, done):
                launch_info.mounts.append(ContainerMountInfo(
                    source=future.value().rootfs, target=target,
                    flags=MS_BIND | MS_REC | (MS_RDONLY if volume.mode == Volume.RO else 0)))
            return launch_info

        return await_all(provisioned).then(mounts)

    def _target(self, config: ContainerConfig, volume: Volume) -> str:
        path = volume.container_path
        if os.path.isabs(path):
            if not config.rootfs:
                if not os.path.exists(path):
                    raise InvalidRequest(f"Absolute container path '{path}' does not exist")
                return path
            target = fs.join_in_root(config.rootfs, path)
            os.makedirs(target, exist_ok=True)
            return target
        relative = os.path.normpath(path)
        if relative.startswith(".."):
            raise InvalidRequest(f"Volume container path '{path}' escapes the sandbox")
        # Made in the sandbox: inside a rootfs, the sandbox's mount would hide it.
        os.makedirs(os.path.join(config.directory, relative), exist_ok=True)
        if config.rootfs:
            return os.path.join(fs.join_in_root(config.rootfs, self._sandbox_directory),
                                relative)
        return os.path.join(config.directory, relative)
