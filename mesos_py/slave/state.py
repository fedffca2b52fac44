"""Reading the agent's checkpoints back (Mesos's src/slave/state.cpp).

`read_slave_state(work_dir)` walks `<work_dir>/meta/slaves/latest` and returns
what is there: the SlaveInfo, and per framework its info and pid, per
executor its info and runs, per run its container id, whether it completed
(sentinel), whether its executor spoke HTTP (marker), and per task its Task
and update log. It runs on the blocking pool and never raises for a bad
file: a file that cannot be read is skipped and named in `errors` (the
agent counts them as `slave/recovery_errors`); a truncated last record of an
update log (a crash mid-append) is dropped silently, as Mesos does.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TypeVar

from google.protobuf.message import Message

from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.messages import messages_pb2
from mesos_py.slave import checkpoint, paths


@dataclasses.dataclass
class TaskState:
    id: str
    info: mesos_pb2.Task | None = None
    updates: list[messages_pb2.StatusUpdateRecord] = dataclasses.field(default_factory=list)
    updates_path: str = ""


@dataclasses.dataclass
class RunState:
    container_id: str
    completed: bool = False
    http: bool = False
    tasks: dict[str, TaskState] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ExecutorState:
    id: str
    info: mesos_pb2.ExecutorInfo | None = None
    generated_for_command_task: bool = False
    latest: str | None = None
    runs: dict[str, RunState] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class FrameworkState:
    id: str
    info: mesos_pb2.FrameworkInfo | None = None
    pid: str | None = None
    executors: dict[str, ExecutorState] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SlaveState:
    id: str
    info: mesos_pb2.AgentInfo | None = None
    frameworks: dict[str, FrameworkState] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)


def read_slave_state(work_dir: str) -> SlaveState | None:
    """The checkpointed state of the latest agent run; None if there is none."""
    latest = paths.latest_slave_path(work_dir)
    try:
        agent_id = os.path.basename(os.readlink(latest))
    except OSError:
        return None
    state = SlaveState(agent_id)
    state.info = _message(state, paths.slave_info_path(work_dir, agent_id), mesos_pb2.AgentInfo)
    frameworks = os.path.join(paths.slave_meta_dir(work_dir, agent_id), "frameworks")
    for framework_id in _entries(frameworks):
        state.frameworks[framework_id] = _read_framework(state, work_dir, framework_id)
    return state


def _read_framework(state: SlaveState, work_dir: str, framework_id: str) -> FrameworkState:
    agent_id = state.id
    framework = FrameworkState(framework_id)
    framework.info = _message(state, paths.framework_info_path(work_dir, agent_id, framework_id),
                              mesos_pb2.FrameworkInfo)
    try:
        framework.pid = checkpoint.read_text(
            paths.framework_pid_path(work_dir, agent_id, framework_id)) or None
    except OSError:
        framework.pid = None
    executors = os.path.join(paths.framework_meta_dir(work_dir, agent_id, framework_id),
                             "executors")
    for executor_id in _entries(executors):
        framework.executors[executor_id] = _read_executor(state, work_dir, framework_id,
                                                          executor_id)
    return framework


def _read_executor(state: SlaveState, work_dir: str, framework_id: str,
                   executor_id: str) -> ExecutorState:
    agent_id = state.id
    executor = ExecutorState(executor_id)
    executor.info = _message(state, paths.executor_info_path(work_dir, agent_id, framework_id,
                                                             executor_id),
                             mesos_pb2.ExecutorInfo)
    try:
        executor.generated_for_command_task = checkpoint.read_text(paths.executor_generated_path(
            work_dir, agent_id, framework_id, executor_id)).strip() == "1"
    except OSError:
        executor.generated_for_command_task = False
    runs = os.path.join(paths.executor_meta_dir(work_dir, agent_id, framework_id, executor_id),
                        "runs")
    try:
        executor.latest = os.path.basename(os.readlink(os.path.join(runs, paths.LATEST)))
    except OSError:
        executor.latest = None
    for container_id in _entries(runs):
        if container_id == paths.LATEST:
            continue
        run = RunState(container_id)
        run_dir = os.path.join(runs, container_id)
        run.completed = os.path.exists(os.path.join(run_dir, paths.EXECUTOR_SENTINEL_FILE))
        run.http = os.path.exists(os.path.join(run_dir, paths.HTTP_MARKER_FILE))
        for task_id in _entries(os.path.join(run_dir, "tasks")):
            run.tasks[task_id] = _read_task(state, os.path.join(run_dir, "tasks", task_id),
                                            task_id)
        executor.runs[container_id] = run
    return executor


def _read_task(state: SlaveState, directory: str, task_id: str) -> TaskState:
    task = TaskState(task_id)
    task.info = _message(state, os.path.join(directory, paths.TASK_INFO_FILE), mesos_pb2.Task)
    task.updates_path = os.path.join(directory, paths.TASK_UPDATES_FILE)
    if os.path.exists(task.updates_path):
        try:
            task.updates, _ = checkpoint.read_records(task.updates_path,
                                                      messages_pb2.StatusUpdateRecord)
        except (OSError, checkpoint.CheckpointError) as error:
            state.errors.append(str(error))
    return task


M = TypeVar("M", bound=Message)


def _message(state: SlaveState, path: str, cls: type[M]) -> M | None:
    try:
        return checkpoint.read_message(path, cls)
    except FileNotFoundError:
        return None
    except (OSError, checkpoint.CheckpointError) as error:
        state.errors.append(str(error))
        return None


def _entries(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []
