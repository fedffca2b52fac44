"""docker/runtime: the Docker image's Entrypoint, Cmd, Env and WorkingDir.

The launch command is chosen by Mesos's table ("Determine the Launch
Command" in the containerizer documentation), where sh/value/argv say
whether CommandInfo's `shell` is true and `value`/`arguments` are set:

    sh=1, no value               -> Error (whatever the image)
    sh=1, value                  -> /bin/sh -c value            (image ignored)
    sh=0, value                  -> value argv...               (image ignored)
    sh=0, no value, Entrypoint   -> Entrypoint[0] Entrypoint[1:] + (argv, or else Cmd)
    sh=0, no value, only Cmd     -> Cmd[0] + (argv, or else Cmd[1:])
    sh=0, no value, neither      -> Error

The image's Env comes before the command's environment (which overrides
it); its WorkingDir becomes the working directory. `User` is not
supported (logged), as in Mesos 1.11.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Sequence

from mesos_py.errors import InvalidRequest
from mesos_py.ids import container_key
from mesos_py.isolators.base import Isolator
from mesos_py.protos.mesos.docker.v1_pb2 import ImageManifest
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig, ContainerLaunchInfo
from mesos_py.protos.mesos.v1.mesos_pb2 import CommandInfo, ContainerID, ContainerInfo

log = logging.getLogger(__name__)


class DockerRuntimeIsolator(Isolator):
    NAME = "docker/runtime"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__(flags, names)
        self._ignore_runtime = bool(getattr(flags, "docker_ignore_runtime", False))

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        if self._ignore_runtime or not config.HasField("container_info"):
            return None
        if config.container_info.type != ContainerInfo.MESOS:
            raise InvalidRequest("Can only prepare docker runtime for a MESOS container")
        if not config.HasField("docker"):
            return None  # no image, or not a Docker one
        image_config = config.docker.manifest.config
        launch_info = ContainerLaunchInfo()
        for entry in image_config.Env:
            name, equals, value = entry.partition("=")
            if not equals:
                log.debug("%s: skipping the malformed image variable '%s'",
                          container_key(container_id), entry)
                continue
            launch_info.environment.variables.add(name=name, value=value)
        if image_config.WorkingDir:
            launch_info.working_directory = image_config.WorkingDir
        if image_config.User:
            log.warning("%s: the image's user '%s' is not supported yet; running as the "
                        "container's user", container_key(container_id), image_config.User)
        try:
            command = launch_command(config.command_info, image_config)
        except ValueError as error:
            raise InvalidRequest(f"Failed to determine the launch command: {error}")
        if command is not None:
            launch_info.command.CopyFrom(command)
        return launch_info


def launch_command(command: CommandInfo, image: ImageManifest.Config) -> CommandInfo | None:
    """The command to run, merged with the image's; None when the given one
    stands as it is. ValueError for the table's Error cells."""
    shell = command.shell if command.HasField("shell") else True
    if shell:
        if not command.HasField("value"):
            raise ValueError("Shell specified but no command value provided")
        return None
    if command.HasField("value"):
        return None
    merged = CommandInfo()
    merged.CopyFrom(command)
    del merged.arguments[:]
    user_arguments = list(command.arguments)
    if image.Entrypoint:
        merged.value = image.Entrypoint[0]
        merged.arguments.extend(image.Entrypoint)
        # The user's arguments replace the image's Cmd.
        merged.arguments.extend(user_arguments or image.Cmd)
    elif image.Cmd:
        merged.value = image.Cmd[0]
        merged.arguments.append(image.Cmd[0])
        merged.arguments.extend(user_arguments or image.Cmd[1:])
    else:
        raise ValueError("No executable is found")
    return merged
