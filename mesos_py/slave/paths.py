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


# ============================================================ agent layout
# The layout of Mesos's src/slave/paths.hpp, for frameworks, executors and
# tasks (ids are the protobuf `value`s):
#
#   <work_dir>/meta/slaves/latest -> <agent id>
#   <work_dir>/meta/slaves/<agent id>/slave.info
#   .../frameworks/<fid>/{framework.info, framework.pid}
#   .../frameworks/<fid>/executors/<eid>/{executor.info, executor_generated_for_command_task}
#   .../executors/<eid>/runs/latest -> <container id>
#   .../runs/<cid>/{executor.sentinel, http.marker, pids/forked.pid}
#   .../runs/<cid>/tasks/<tid>/{task.info, task.updates}
#   <work_dir>/slaves/<agent id>/frameworks/<fid>/executors/<eid>/runs/<cid>   the sandbox
#   <work_dir>/meta/gc/schedule                                                 GC's checkpoint

LATEST = "latest"
SLAVE_INFO_FILE = "slave.info"
FRAMEWORK_INFO_FILE = "framework.info"
FRAMEWORK_PID_FILE = "framework.pid"
EXECUTOR_INFO_FILE = "executor.info"
EXECUTOR_SENTINEL_FILE = "executor.sentinel"
HTTP_MARKER_FILE = "http.marker"
FORKED_PID_FILE = "forked.pid"
TASK_INFO_FILE = "task.info"
TASK_UPDATES_FILE = "task.updates"
GENERATED_FILE = "executor_generated_for_command_task"


def slaves_meta_dir(work_dir: str) -> str:
    return os.path.join(meta_dir(work_dir), "slaves")


def latest_slave_path(work_dir: str) -> str:
    return os.path.join(slaves_meta_dir(work_dir), LATEST)


def slave_meta_dir(work_dir: str, slave_id: str) -> str:
    return os.path.join(slaves_meta_dir(work_dir), slave_id)


def slave_info_path(work_dir: str, slave_id: str) -> str:
    return os.path.join(slave_meta_dir(work_dir, slave_id), SLAVE_INFO_FILE)


def framework_meta_dir(work_dir: str, slave_id: str, framework_id: str) -> str:
    return os.path.join(slave_meta_dir(work_dir, slave_id), "frameworks", framework_id)


def framework_info_path(work_dir: str, slave_id: str, framework_id: str) -> str:
    return os.path.join(framework_meta_dir(work_dir, slave_id, framework_id),
                        FRAMEWORK_INFO_FILE)


def framework_pid_path(work_dir: str, slave_id: str, framework_id: str) -> str:
    return os.path.join(framework_meta_dir(work_dir, slave_id, framework_id),
                        FRAMEWORK_PID_FILE)


def executor_meta_dir(work_dir: str, slave_id: str, framework_id: str,
                      executor_id: str) -> str:
    return os.path.join(framework_meta_dir(work_dir, slave_id, framework_id), "executors",
                        executor_id)


def executor_info_path(work_dir: str, slave_id: str, framework_id: str,
                       executor_id: str) -> str:
    return os.path.join(executor_meta_dir(work_dir, slave_id, framework_id, executor_id),
                        EXECUTOR_INFO_FILE)


def executor_generated_path(work_dir: str, slave_id: str, framework_id: str,
                            executor_id: str) -> str:
    return os.path.join(executor_meta_dir(work_dir, slave_id, framework_id, executor_id),
                        GENERATED_FILE)


def run_meta_dir(work_dir: str, slave_id: str, framework_id: str, executor_id: str,
                 container_id: str) -> str:
    return os.path.join(executor_meta_dir(work_dir, slave_id, framework_id, executor_id),
                        "runs", container_id)


def executor_sentinel_path(work_dir: str, slave_id: str, framework_id: str,
                           executor_id: str, container_id: str) -> str:
    return os.path.join(run_meta_dir(work_dir, slave_id, framework_id, executor_id,
                                     container_id), EXECUTOR_SENTINEL_FILE)


def http_marker_path(work_dir: str, slave_id: str, framework_id: str, executor_id: str,
                     container_id: str) -> str:
    return os.path.join(run_meta_dir(work_dir, slave_id, framework_id, executor_id,
                                     container_id), HTTP_MARKER_FILE)


def forked_pid_path(work_dir: str, slave_id: str, framework_id: str, executor_id: str,
                    container_id: str) -> str:
    return os.path.join(run_meta_dir(work_dir, slave_id, framework_id, executor_id,
                                     container_id), "pids", FORKED_PID_FILE)


def task_meta_dir(work_dir: str, slave_id: str, framework_id: str, executor_id: str,
                  container_id: str, task_id: str) -> str:
    return os.path.join(run_meta_dir(work_dir, slave_id, framework_id, executor_id,
                                     container_id), "tasks", task_id)


def task_info_path(work_dir: str, slave_id: str, framework_id: str, executor_id: str,
                   container_id: str, task_id: str) -> str:
    return os.path.join(task_meta_dir(work_dir, slave_id, framework_id, executor_id,
                                      container_id, task_id), TASK_INFO_FILE)


def task_updates_path(work_dir: str, slave_id: str, framework_id: str, executor_id: str,
                      container_id: str, task_id: str) -> str:
    return os.path.join(task_meta_dir(work_dir, slave_id, framework_id, executor_id,
                                      container_id, task_id), TASK_UPDATES_FILE)


def slave_sandbox_root(work_dir: str, slave_id: str) -> str:
    return os.path.join(work_dir, "slaves", slave_id)


def framework_sandbox_dir(work_dir: str, slave_id: str, framework_id: str) -> str:
    return os.path.join(slave_sandbox_root(work_dir, slave_id), "frameworks", framework_id)


def executor_sandbox_dir(work_dir: str, slave_id: str, framework_id: str,
                         executor_id: str) -> str:
    return os.path.join(framework_sandbox_dir(work_dir, slave_id, framework_id), "executors",
                        executor_id)


def executor_run_sandbox(work_dir: str, slave_id: str, framework_id: str, executor_id: str,
                         container_id: str) -> str:
    return os.path.join(executor_sandbox_dir(work_dir, slave_id, framework_id, executor_id),
                        "runs", container_id)


def executor_latest_run_sandbox(work_dir: str, slave_id: str, framework_id: str,
                                executor_id: str) -> str:
    return os.path.join(executor_sandbox_dir(work_dir, slave_id, framework_id, executor_id),
                        "runs", LATEST)


def executor_virtual_path(framework_id: str, executor_id: str) -> str:
    """The `/files` path of an executor's latest run, as Mesos names it."""
    return f"/frameworks/{framework_id}/executors/{executor_id}/runs/{LATEST}"


def resources_info_path(work_dir: str) -> str:
    return os.path.join(meta_dir(work_dir), "resources", "resources.info")


def gc_schedule_path(work_dir: str) -> str:
    return os.path.join(meta_dir(work_dir), "gc", "schedule")


def point_latest(link: str, target: str) -> None:
    """Atomically points the `latest` symlink `link` at `target` (a name)."""
    os.makedirs(os.path.dirname(link), exist_ok=True)
    temporary = f"{link}.{os.getpid()}.tmp"
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass
    os.symlink(target, temporary)
    os.rename(temporary, link)
