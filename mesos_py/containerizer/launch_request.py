"""The fork server's request for one container, from its config and launch infos.

Isolators answer `prepare` with `ContainerLaunchInfo`s; merged in isolation
order (repeated fields concatenate), they become the JSON request the fork
server's child follows: the command line, environment, user, namespaces to
create or enter, mounts, rlimits, capabilities and IO.
"""

from __future__ import annotations

import os
import pwd
from typing import Any, Sequence

from mesos_py.actors import Failure
from mesos_py.containerizer.launcher import LaunchRequest
from mesos_py.errors import InvalidRequest
from mesos_py.linux.launch_spec import launch_request_fields
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerClass, ContainerConfig,
                                                           ContainerFileOperation,
                                                           ContainerLaunchInfo)
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID


def build_launch_request(container_id: ContainerID, config: ContainerConfig,
                         infos: list[ContainerLaunchInfo], status_path: str, *,
                         io_name: str | None, parent_pid: int | None,
                         sandbox_directory: str = "/mnt/mesos/sandbox") -> LaunchRequest:
    commands = [info.command for info in infos if info.HasField("command")]
    if len(commands) > 1:
        raise Failure("At most one command can be returned from isolators")
    merged = ContainerLaunchInfo()
    for info in infos:
        merged.MergeFrom(info)  # repeated fields concatenate in isolation order
    # An isolator's command (docker/runtime's merge with the image's
    # Entrypoint and Cmd) replaces the configured one.
    command = commands[0] if commands else config.command_info
    rootfs = config.rootfs or None
    # Inside its own root filesystem the container finds its sandbox at
    # --sandbox_directory; the host path means nothing there.
    sandbox = sandbox_directory if rootfs else config.directory
    env: dict[str, str] = {"MESOS_SANDBOX": sandbox}
    env.update({v.name: v.value for v in merged.environment.variables})
    env.update({v.name: v.value for v in config.command_info.environment.variables
                if v.type != v.SECRET})
    shell = command.shell if command.HasField("shell") else True
    if shell:
        argv, path = ["sh", "-c", command.value], "/bin/sh"
    else:
        # An empty argv cannot be exec'd: the program's name is argv[0] then.
        argv, path = list(command.arguments) or [command.value], command.value
    # Without a rootfs the container may not `cd` elsewhere on the host (Mesos's rule).
    cwd = (merged.working_directory or sandbox) if rootfs else config.directory
    uid = gid = None
    groups: list[int] = []
    if config.HasField("user"):
        uid, gid, groups = user_ids(config.user)
    groups.extend(merged.supplementary_groups)
    clone = namespace_names(merged.clone_namespaces)
    return LaunchRequest(
        argv=argv, path=path, shell=shell, env=env,
        cwd=cwd,
        status_path=status_path,
        stdout_path=os.path.join(config.directory, "stdout"),
        stderr_path=os.path.join(config.directory, "stderr"),
        uid=uid, gid=gid, groups=groups, clone=clone,
        enter=entered_namespaces(namespace_names(merged.enter_namespaces), parent_pid),
        init="pid" in clone,
        mounts=[{"source": m.source or None, "target": m.target, "type": m.type or None,
                 "flags": m.flags, "options": m.options or None} for m in merged.mounts],
        io=io_request(config, io_name),
        rootfs=rootfs,
        masked_paths=list(merged.masked_paths),
        file_operations=[{"op": "symlink", "source": op.symlink.source,
                          "target": op.symlink.target}
                         for op in merged.file_operations
                         if op.operation == ContainerFileOperation.SYMLINK],
        **launch_request_fields(merged))


def entered_namespaces(names: list[str], parent_pid: int | None) -> dict[str, str]:
    """Namespaces a nested container joins: its parent's."""
    if not names:
        return {}
    if parent_pid is None:
        raise Failure("The parent container has no process whose namespaces to enter")
    return {name: f"/proc/{parent_pid}/ns/{name}" for name in names}


_NAMESPACE_FLAGS = {0x00020000: "mnt", 0x20000000: "pid", 0x08000000: "ipc",
                    0x04000000: "uts", 0x40000000: "net"}


def namespace_names(flags: Sequence[int]) -> list[str]:
    """CLONE_NEW* flags (as isolators give them) as namespace names, deduplicated."""
    names: list[str] = []
    for flag in flags:
        name = _NAMESPACE_FLAGS.get(flag)
        if name is None:
            raise Failure(f"Unsupported namespace flag {flag:#x}")
        if name not in names:
            names.append(name)
    return names


def needs_switchboard(config: ContainerConfig) -> bool:
    """As Mesos: a TTY, or a debug session, needs an IO switchboard."""
    return (config.container_info.HasField("tty_info")
            or config.container_class == ContainerClass.DEBUG)


def io_request(config: ContainerConfig, io_name: str | None) -> dict[str, Any] | None:
    if io_name is None:
        return None
    tty = config.container_info.HasField("tty_info")
    window = config.container_info.tty_info.window_size
    return {"tty": tty, "rows": window.rows, "columns": window.columns, "name": io_name,
            "wait_for_connection": config.container_class == ContainerClass.DEBUG}


def user_ids(user: str) -> tuple[int, int, list[int]]:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise InvalidRequest(f"Failed to get user information for '{user}': no such user")
    return entry.pw_uid, entry.pw_gid, os.getgrouplist(user, entry.pw_gid)
