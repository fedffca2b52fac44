"""docker/runtime's launch command: every cell of Mesos's table, plus Env and WorkingDir."""

from __future__ import annotations

import pytest

from mesos_py.errors import InvalidRequest
from mesos_py.isolators.docker_runtime import DockerRuntimeIsolator, launch_command
from mesos_py.protos.mesos.docker.v1_pb2 import ImageManifest
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig
from mesos_py.protos.mesos.v1.mesos_pb2 import CommandInfo, ContainerID, ContainerInfo

IMAGES = {
    "E0C0": ([], []),
    "E0C1": ([], ["/cmd0", "cmd1"]),
    "E1C0": (["/ep0", "ep1"], []),
    "E1C1": (["/ep0", "ep1"], ["cmd0", "cmd1"]),
}
ROWS = {  # (shell, value, arguments)
    "sh0v0a0": (False, None, []),
    "sh0v0a1": (False, None, ["a0", "a1"]),
    "sh0v1a0": (False, "/value", []),
    "sh0v1a1": (False, "/value", ["v0", "v1"]),
    "sh1v0a0": (True, None, []),
    "sh1v0a1": (True, None, ["a0", "a1"]),
    "sh1v1a0": (True, "echo hi", []),
    "sh1v1a1": (True, "echo hi", ["a0", "a1"]),
}
NO_EXECUTABLE = "No executable is found"
NO_VALUE = "Shell specified but no command value provided"
UNCHANGED = "unchanged"
# The table of docs/mesos-containerizer.md: (value, arguments) of the merged
# command, UNCHANGED when the CommandInfo stands as given, or the error.
TABLE = {
    "sh0v0a0": {"E0C0": NO_EXECUTABLE, "E0C1": ("/cmd0", ["/cmd0", "cmd1"]),
                "E1C0": ("/ep0", ["/ep0", "ep1"]),
                "E1C1": ("/ep0", ["/ep0", "ep1", "cmd0", "cmd1"])},
    "sh0v0a1": {"E0C0": NO_EXECUTABLE, "E0C1": ("/cmd0", ["/cmd0", "a0", "a1"]),
                "E1C0": ("/ep0", ["/ep0", "ep1", "a0", "a1"]),
                "E1C1": ("/ep0", ["/ep0", "ep1", "a0", "a1"])},
    "sh0v1a0": dict.fromkeys(IMAGES, UNCHANGED),
    "sh0v1a1": dict.fromkeys(IMAGES, UNCHANGED),
    "sh1v0a0": dict.fromkeys(IMAGES, NO_VALUE),
    "sh1v0a1": dict.fromkeys(IMAGES, NO_VALUE),
    "sh1v1a0": dict.fromkeys(IMAGES, UNCHANGED),
    "sh1v1a1": dict.fromkeys(IMAGES, UNCHANGED),
}


def command_of(row: str) -> CommandInfo:
    shell, value, arguments = ROWS[row]
    command = CommandInfo(shell=shell, arguments=arguments)
    if value is not None:
        command.value = value
    return command


def image_config(image: str) -> ImageManifest.Config:
    entrypoint, cmd = IMAGES[image]
    return ImageManifest.Config(Entrypoint=entrypoint, Cmd=cmd)


@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("image", IMAGES)
def test_every_cell_of_the_launch_command_table(row: str, image: str) -> None:
    expected = TABLE[row][image]
    if expected in (NO_EXECUTABLE, NO_VALUE):
        with pytest.raises(ValueError, match=str(expected)):
            launch_command(command_of(row), image_config(image))
        return
    merged = launch_command(command_of(row), image_config(image))
    if expected == UNCHANGED:
        assert merged is None
        return
    assert merged is not None
    assert (merged.value, list(merged.arguments)) == expected
    assert merged.shell is False


def test_table_is_complete() -> None:
    assert sum(len(cells) for cells in TABLE.values()) == 32  # 8 rows x 4 images


def test_an_unset_shell_means_shell_true() -> None:
    with pytest.raises(ValueError, match=NO_VALUE):
        launch_command(CommandInfo(), image_config("E1C1"))


def _config(env: list[str], workdir: str = "", command: CommandInfo | None = None,
            ) -> ContainerConfig:
    config = ContainerConfig(directory="/sandbox")
    config.command_info.CopyFrom(command or CommandInfo(shell=False))
    config.container_info.type = ContainerInfo.MESOS
    manifest_config = config.docker.manifest.config
    manifest_config.Env.extend(env)
    manifest_config.Entrypoint.extend(["/bin/sh", "-c"])
    manifest_config.Cmd.append("echo $X")
    if workdir:
        manifest_config.WorkingDir = workdir
    return config


def test_prepare_gives_env_workdir_and_command() -> None:
    isolator = DockerRuntimeIsolator()
    info = isolator.prepare(ContainerID(value="c"),
                            _config(["X=1", "PATH=/bin", "BROKEN", "EQ=a=b"], "/data"))
    assert info is not None
    assert [(v.name, v.value) for v in info.environment.variables] == [
        ("X", "1"), ("PATH", "/bin"), ("EQ", "a=b")]
    assert info.working_directory == "/data"
    assert (info.command.value, list(info.command.arguments)) == (
        "/bin/sh", ["/bin/sh", "-c", "echo $X"])


def test_prepare_error_cells_are_bad_requests() -> None:
    with pytest.raises(InvalidRequest, match="Failed to determine the launch command: "
                                             "Shell specified but no command value provided"):
        DockerRuntimeIsolator().prepare(ContainerID(value="c"),
                                        _config([], command=CommandInfo(shell=True)))


def test_no_docker_manifest_means_nothing_to_do() -> None:
    config = ContainerConfig(directory="/sandbox")
    config.command_info.value = "true"
    config.container_info.type = ContainerInfo.MESOS
    assert DockerRuntimeIsolator().prepare(ContainerID(value="c"), config) is None


def test_docker_ignore_runtime() -> None:
    class Flags:
        docker_ignore_runtime = True
    assert DockerRuntimeIsolator(Flags()).prepare(ContainerID(value="c"), _config(["X=1"])) \
        is None
