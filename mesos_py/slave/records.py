"""The agent's bookkeeping of frameworks, executors and tasks (Mesos's slave.hpp).

Plain data, owned and touched only by the Slave actor. A task goes through
the containers of one executor:

    queued (TaskInfo, executor not yet told) -> launched (Task) -> terminated
    (terminal state reached, updates not all acknowledged) -> completed

An executor is REGISTERING until it subscribes, RUNNING, TERMINATING once told
to shut down, TERMINATED once its container ended; it is removed when it is
TERMINATED and none of its tasks is incomplete.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import time
import uuid
from typing import Iterable, Protocol

from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerTermination
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.executor import executor_pb2
from mesos_py.protos.messages import messages_pb2
from mesos_py.resources import add as add_resources

TaskState = mesos_pb2.TaskState
TaskStatus = mesos_pb2.TaskStatus

# Mesos's src/slave/constants.hpp.
MAX_COMPLETED_TASKS_PER_EXECUTOR = 200
MAX_COMPLETED_FRAMEWORKS = 50
COMMAND_EXECUTOR_CPUS = 0.1
COMMAND_EXECUTOR_MEM_MB = 32

TERMINAL_STATES = frozenset({
    TaskState.TASK_FINISHED, TaskState.TASK_FAILED, TaskState.TASK_KILLED,
    TaskState.TASK_ERROR, TaskState.TASK_LOST, TaskState.TASK_DROPPED,
    TaskState.TASK_GONE, TaskState.TASK_GONE_BY_OPERATOR})


def is_terminal(state: int) -> bool:
    return state in TERMINAL_STATES


def state_name(state: int) -> str:
    return TaskState.Name(state)  # type: ignore[arg-type]


class ExecutorConnection(Protocol):
    """The agent's end of an executor's SUBSCRIBE stream (an HTTP response)."""

    def send(self, event: executor_pb2.Event) -> None: ...

    def close(self) -> None: ...


class SlaveState(enum.Enum):
    RECOVERING = "RECOVERING"
    DISCONNECTED = "DISCONNECTED"  # recovered, not (re-)registered with a master
    RUNNING = "RUNNING"  # registered (or standalone: no master configured)
    TERMINATING = "TERMINATING"


class FrameworkState(enum.Enum):
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"


class ExecutorState(enum.Enum):
    REGISTERING = "REGISTERING"
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"


@dataclasses.dataclass(eq=False)
class Executor:
    id: str
    framework_id: str
    info: mesos_pb2.ExecutorInfo  # the executor's own resources only
    container_id: mesos_pb2.ContainerID
    directory: str
    user: str | None
    checkpoint: bool
    generated_for_command_task: bool
    state: ExecutorState = ExecutorState.REGISTERING
    connection: ExecutorConnection | None = None
    queued_tasks: dict[str, mesos_pb2.TaskInfo] = dataclasses.field(default_factory=dict)
    queued_task_groups: list[mesos_pb2.TaskGroupInfo] = dataclasses.field(default_factory=list)
    launched_tasks: dict[str, mesos_pb2.Task] = dataclasses.field(default_factory=dict)
    terminated_tasks: dict[str, mesos_pb2.Task] = dataclasses.field(default_factory=dict)
    completed_tasks: collections.deque[mesos_pb2.Task] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=MAX_COMPLETED_TASKS_PER_EXECUTOR))
    pending_termination: ContainerTermination | None = None
    # Recovered executors must re-subscribe before this many seconds pass.
    reregistered: bool = True
    # KILL events that found no connection (a recovered executor that has not
    # re-subscribed yet): sent once it subscribes, so no kill is lost.
    pending_kills: dict[str, executor_pb2.Event] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"'{self.id}' of framework {self.framework_id}"

    @property
    def is_default(self) -> bool:
        return self.info.HasField("type") and self.info.type == mesos_pb2.ExecutorInfo.DEFAULT

    def all_tasks(self) -> Iterable[mesos_pb2.Task]:
        yield from self.launched_tasks.values()
        yield from self.terminated_tasks.values()
        yield from self.completed_tasks

    def allocated_resources(self) -> list[mesos_pb2.Resource]:
        """The executor's resources plus those of its live tasks."""
        resources = list(self.info.resources)
        for queued in self.queued_tasks.values():
            resources = add_resources(resources, queued.resources)
        for task in self.launched_tasks.values():
            resources = add_resources(resources, task.resources)
        return resources

    def enqueue_task(self, task: mesos_pb2.TaskInfo) -> None:
        self.queued_tasks[task.task_id.value] = task

    def enqueue_task_group(self, group: mesos_pb2.TaskGroupInfo) -> None:
        for task in group.tasks:
            self.queued_tasks[task.task_id.value] = task
        self.queued_task_groups.append(group)

    def queued_task_group(self, task_id: str) -> mesos_pb2.TaskGroupInfo | None:
        for group in self.queued_task_groups:
            if any(t.task_id.value == task_id for t in group.tasks):
                return group
        return None

    def launch_queued(self, task_info: mesos_pb2.TaskInfo) -> mesos_pb2.Task:
        """Moves a queued task to launched (it is being sent to the executor)."""
        self.queued_tasks.pop(task_info.task_id.value, None)
        self.queued_task_groups = [g for g in self.queued_task_groups
                                   if not any(t.task_id == task_info.task_id for t in g.tasks)]
        task = create_task(task_info, TaskState.TASK_STAGING, self.framework_id, self.id)
        self.launched_tasks[task_info.task_id.value] = task
        return task

    def ever_sent_task(self) -> bool:
        return bool(self.launched_tasks or self.terminated_tasks or self.completed_tasks)

    def incomplete_tasks(self) -> bool:
        return bool(self.queued_tasks or self.launched_tasks or self.terminated_tasks)

    def has_task(self, task_id: str) -> bool:
        return (task_id in self.queued_tasks or task_id in self.launched_tasks
                or task_id in self.terminated_tasks)

    def update_task_state(self, status: mesos_pb2.TaskStatus) -> str | None:
        """Applies a status to the task it names; an error text if it cannot."""
        task_id = status.task_id.value
        terminal = is_terminal(status.state)
        if task_id in self.queued_tasks:
            if not terminal:
                return "A queued task can only move to a terminal state"
            info = self.queued_tasks.pop(task_id)
            self.queued_task_groups = [g for g in self.queued_task_groups
                                       if not any(t.task_id.value == task_id for t in g.tasks)]
            task = create_task(info, status.state, self.framework_id, self.id)
            self.terminated_tasks[task_id] = task
        elif task_id in self.launched_tasks:
            task = self.launched_tasks[task_id]
            if terminal:
                del self.launched_tasks[task_id]
                self.terminated_tasks[task_id] = task
        elif task_id in self.terminated_tasks:
            return f"Task {task_id} is already in terminal state " \
                   f"{state_name(self.terminated_tasks[task_id].state)}"
        else:
            return f"Unknown task {task_id}"
        task.state = status.state
        recorded = task.statuses.add()
        recorded.CopyFrom(status)
        recorded.ClearField("data")  # a status's data is not kept (it may be large)
        return None

    def complete_task(self, task_id: str) -> None:
        task = self.terminated_tasks.pop(task_id, None)
        if task is not None:
            self.completed_tasks.append(task)

    def send(self, event: executor_pb2.Event) -> bool:
        if self.connection is None:
            return False
        self.connection.send(event)
        return True


@dataclasses.dataclass(eq=False)
class Framework:
    id: str
    info: mesos_pb2.FrameworkInfo
    pid: str | None
    max_completed_executors: int
    state: FrameworkState = FrameworkState.RUNNING
    executors: dict[str, Executor] = dataclasses.field(default_factory=dict)
    completed_executors: collections.deque[Executor] = dataclasses.field(
        default_factory=collections.deque)
    # Tasks accepted whose executor is not created yet (executor id -> tasks).
    pending_tasks: dict[str, dict[str, mesos_pb2.TaskInfo]] = dataclasses.field(
        default_factory=dict)

    def __post_init__(self) -> None:
        self.completed_executors = collections.deque(maxlen=max(self.max_completed_executors, 0))

    @property
    def checkpoint(self) -> bool:
        return self.info.checkpoint

    @property
    def partition_aware(self) -> bool:
        return has_capability(self.info, mesos_pb2.FrameworkInfo.Capability.PARTITION_AWARE)

    def executor_for_task(self, task_id: str) -> Executor | None:
        for executor in self.executors.values():
            if executor.has_task(task_id):
                return executor
        return None

    def has_task(self, task_id: str) -> bool:
        return self.is_pending(task_id) or self.executor_for_task(task_id) is not None

    def is_pending(self, task_id: str) -> bool:
        return any(task_id in tasks for tasks in self.pending_tasks.values())

    def remove_pending(self, task_id: str) -> bool:
        for executor_id, tasks in list(self.pending_tasks.items()):
            if tasks.pop(task_id, None) is not None:
                if not tasks:
                    del self.pending_tasks[executor_id]
                return True
        return False

    def idle(self) -> bool:
        return not self.executors and not self.pending_tasks

    def allocated_resources(self) -> list[mesos_pb2.Resource]:
        resources: list[mesos_pb2.Resource] = []
        for executor in self.executors.values():
            resources = add_resources(resources, executor.allocated_resources())
        return resources

    def lost_state(self) -> int:
        """TASK_DROPPED for partition-aware frameworks, else TASK_LOST."""
        return TaskState.TASK_DROPPED if self.partition_aware else TaskState.TASK_LOST

    def destroy_executor(self, executor_id: str) -> None:
        executor = self.executors.pop(executor_id, None)
        if executor is not None:
            self.completed_executors.append(executor)


def has_capability(info: mesos_pb2.FrameworkInfo, capability: int) -> bool:
    return any(c.type == capability for c in info.capabilities)


def framework_roles(info: mesos_pb2.FrameworkInfo) -> list[str]:
    if has_capability(info, mesos_pb2.FrameworkInfo.Capability.MULTI_ROLE):
        return list(info.roles)
    return [info.role or "*"]


def create_task(info: mesos_pb2.TaskInfo, state: int, framework_id: str,
                executor_id: str | None = None) -> mesos_pb2.Task:
    """Mesos's `protobuf::createTask`: the Task record of a TaskInfo."""
    task = mesos_pb2.Task(name=info.name, state=state)  # type: ignore[arg-type]
    task.task_id.CopyFrom(info.task_id)
    task.framework_id.value = framework_id
    task.agent_id.CopyFrom(info.agent_id)
    task.resources.extend(info.resources)
    if info.HasField("executor"):  # as Mesos: command and group tasks name no executor
        task.executor_id.CopyFrom(info.executor.executor_id)
    for name in ("labels", "discovery", "container", "health_check", "kill_policy"):
        if info.HasField(name):  # type: ignore[arg-type]
            getattr(task, name).CopyFrom(getattr(info, name))
    if info.HasField("command") and info.command.HasField("user"):
        task.user = info.command.user
    for name, value in info.limits.items():
        task.limits[name].CopyFrom(value)
    return task


def create_status_update(framework_id: str, agent_id: str, task_id: str, state: int,
                         source: int, message: str = "", reason: int | None = None,
                         executor_id: str | None = None,
                         limited: Iterable[mesos_pb2.Resource] = ()) -> messages_pb2.StatusUpdate:
    """An update the agent generates itself (Mesos's `protobuf::createStatusUpdate`)."""
    now = time.time()
    update = messages_pb2.StatusUpdate(timestamp=now, uuid=uuid.uuid4().bytes)
    update.framework_id.value = framework_id
    update.slave_id.value = agent_id
    status = update.status
    status.task_id.value = task_id
    status.state = state  # type: ignore[assignment]
    status.source = source  # type: ignore[assignment]
    status.timestamp = now
    status.uuid = update.uuid
    status.agent_id.value = agent_id
    if message:
        status.message = message
    if reason is not None:
        status.reason = reason  # type: ignore[assignment]
    if executor_id is not None:
        update.executor_id.value = executor_id
        status.executor_id.value = executor_id
    if limited:
        status.limitation.resources.extend(limited)
    return update


def update_from_status(framework_id: str, status: mesos_pb2.TaskStatus,
                       agent_id: str) -> messages_pb2.StatusUpdate:
    """Wraps an executor's TaskStatus (Mesos's `createStatusUpdate` overload)."""
    update = messages_pb2.StatusUpdate(timestamp=status.timestamp or time.time())
    update.framework_id.value = framework_id
    update.slave_id.value = agent_id
    update.status.CopyFrom(status)
    update.status.agent_id.value = agent_id
    if status.HasField("uuid"):
        update.uuid = status.uuid
    if status.HasField("executor_id"):
        update.executor_id.CopyFrom(status.executor_id)
    return update


def describe_update(update: messages_pb2.StatusUpdate) -> str:
    """Mesos's one-line form: `TASK_RUNNING (Status UUID: ...) for task t1 of framework f`."""
    status = update.status
    uid = str(uuid.UUID(bytes=update.uuid)) if len(update.uuid) == 16 else update.uuid.hex()
    return (f"{state_name(status.state)} (Status UUID: {uid}) for task {status.task_id.value} "
            f"of framework {update.framework_id.value}")
