"""Every on-disk path of the agent, as a function.

    <work_dir>/meta/boot_id
    <work_dir>/meta/containers/<id>[/containers/<child>...]/{config,pid,termination}
    <work_dir>/containers/<id>                        standalone sandbox (stdout, stderr)
    <sandbox of parent>/containers/<child>           nested sandbox
    <runtime_dir>/containers/<id>[/containers/<child>...]/status   written by the fork server
    <runtime_dir>/forkserver.pid
"""

from __future__ import annotations

import os

from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID

CONFIG_FILE = "config"
PID_FILE = "pid"
TERMINATION_FILE = "termination"
STATUS_FILE = "status"


def container_lineage(container_id: ContainerID) -> list[str]:
    """Ids from the top-level container down to `container_id`."""
    lineage = []
    current = container_id
    while True:
        lineage.append(current.value)
        if not current.HasField("parent"):
            break
        current = current.parent
    return lineage[::-1]


def _nested(root: str, container_id: ContainerID) -> str:
    return os.path.join(root, *("containers/" + value for value in container_lineage(container_id)))


def meta_dir(work_dir: str) -> str:
    return os.path.join(work_dir, "meta")


def boot_id_path(work_dir: str) -> str:
    return os.path.join(meta_dir(work_dir), "boot_id")


def containers_meta_dir(work_dir: str) -> str:
    return os.path.join(meta_dir(work_dir), "containers")


def container_meta_dir(work_dir: str, container_id: ContainerID) -> str:
    return _nested(meta_dir(work_dir), container_id)


def container_config_path(work_dir: str, container_id: ContainerID) -> str:
    return os.path.join(container_meta_dir(work_dir, container_id), CONFIG_FILE)


def container_pid_path(work_dir: str, container_id: ContainerID) -> str:
    return os.path.join(container_meta_dir(work_dir, container_id), PID_FILE)


def container_termination_path(work_dir: str, container_id: ContainerID) -> str:
    return os.path.join(container_meta_dir(work_dir, container_id), TERMINATION_FILE)


def container_runtime_dir(runtime_dir: str, container_id: ContainerID) -> str:
    return _nested(runtime_dir, container_id)


def container_status_path(runtime_dir: str, container_id: ContainerID) -> str:
    return os.path.join(container_runtime_dir(runtime_dir, container_id), STATUS_FILE)


def standalone_sandbox(work_dir: str, container_id: ContainerID) -> str:
    """Sandbox of a top-level standalone container: `<work_dir>/containers/<id>`."""
    return os.path.join(work_dir, "containers", container_id.value)


def nested_sandbox(parent_sandbox: str, container_id: ContainerID) -> str:
    return os.path.join(parent_sandbox, "containers", container_id.value)


def fork_server_pid_path(runtime_dir: str) -> str:
    return os.path.join(runtime_dir, "forkserver.pid")
