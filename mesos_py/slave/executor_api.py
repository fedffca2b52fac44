"""The agent's side of the v1 executor HTTP API (a mixin of the Slave).

`mesos_py/http/executor_api.py` decodes and validates the calls and hands
them here. SUBSCRIBE makes the HTTP response the executor's event stream:
SUBSCRIBED, then LAUNCH/LAUNCH_GROUP for its queued tasks, KILL, MESSAGE,
ACKNOWLEDGED, SHUTDOWN and a HEARTBEAT every `--http_heartbeat_interval`.
A re-subscription (after the agent restarted, or a broken connection)
replaces the previous stream and replays the executor's unacknowledged
updates; STAGING tasks the executor does not know are reported lost.

Also here: what an executor is started with (environment, the built-in
executors' commands, the ExecutorInfo of a command task).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from mesos_py.actors import delay
from mesos_py.errors import InvalidRequest
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.executor import executor_pb2
from mesos_py.slave import checkpoint, paths
from mesos_py.slave.records import (COMMAND_EXECUTOR_CPUS, COMMAND_EXECUTOR_MEM_MB, Executor,
                                    ExecutorConnection, ExecutorState, Framework,
                                    FrameworkState, SlaveState as State, create_status_update,
                                    update_from_status)
from mesos_py.units import Duration

from mesos_py.slave.base import SlaveBase

log = logging.getLogger(__name__)

Call = executor_pb2.Call
Event = executor_pb2.Event

# The built-in executors: console script name, and module for `python -m`.
BUILTIN_EXECUTORS = {"command": ("mesos-py-executor", "mesos_py.executors.command"),
                     "default": ("mesos-py-default-executor", "mesos_py.executors.default")}


class NotSubscribed(InvalidRequest):
    """A call from an executor that has not subscribed yet (HTTP 403)."""


class ExecutorApi(SlaveBase):
    def _lookup_executor(self, call: executor_pb2.Call) -> tuple[Framework, Executor]:
        framework = self._frameworks.get(call.framework_id.value)
        if framework is None:
            raise InvalidRequest("Framework cannot be found")
        executor = framework.executors.get(call.executor_id.value)
        if executor is None:
            raise InvalidRequest("Executor cannot be found")
        return framework, executor

    # ============================================================ subscribe
    def executor_subscribe(self, call: executor_pb2.Call,
                           connection: ExecutorConnection) -> None:
        framework, executor = self._lookup_executor(call)
        log.info("%s: received Subscribe request for HTTP executor %s", executor.id, executor)
        if (self._state is State.TERMINATING or framework.state is FrameworkState.TERMINATING
                or executor.state in (ExecutorState.TERMINATING, ExecutorState.TERMINATED)):
            log.warning("%s: shutting down executor %s: it, its framework or the agent is "
                        "terminating", executor.id, executor)
            connection.send(Event(type=Event.SHUTDOWN))
            connection.close()
            return
        if executor.connection is not None:
            log.warning("%s: closing the existing HTTP connection of executor %s", executor.id,
                        executor)
            executor.connection.close()
        executor.state = ExecutorState.RUNNING
        executor.connection = connection
        executor.reregistered = True
        if framework.checkpoint:
            checkpoint.write_atomic(paths.http_marker_path(
                self._flags.work_dir, self.info.id.value, framework.id, executor.id,
                executor.container_id.value), b"")
        for update in call.subscribe.unacknowledged_updates:
            self.status_update(update_from_status(framework.id, update.status,
                                                  self.info.id.value), executor.id)
        known = {t.task_id.value for t in call.subscribe.unacknowledged_tasks}
        for task in list(executor.launched_tasks.values()):
            if task.state == mesos_pb2.TaskState.TASK_STAGING and task.task_id.value not in known:
                log.info("%s: transitioning STAGED task to %s: it is unknown to executor %s",
                         task.task_id.value, mesos_pb2.TaskState.Name(framework.lost_state()),
                         executor)
                self.status_update(create_status_update(
                    framework.id, self.info.id.value, task.task_id.value,
                    framework.lost_state(), mesos_pb2.TaskStatus.SOURCE_AGENT,
                    "Task launched during agent restart",
                    mesos_pb2.TaskStatus.REASON_AGENT_RESTARTED, executor.id), None)
        if not executor.ever_sent_task() and not executor.queued_tasks:
            log.warning("%s: shutting down executor %s: it was never sent a task and its "
                        "queued tasks were killed before delivery", executor.id, executor)
            self._shutdown_executor(framework, executor)
            return
        event = Event(type=Event.SUBSCRIBED)
        event.subscribed.executor_info.CopyFrom(executor.info)
        event.subscribed.framework_info.MergeFrom(framework.info)
        event.subscribed.agent_info.CopyFrom(self.info)
        event.subscribed.container_id.CopyFrom(executor.container_id)
        connection.send(event)
        self._heartbeat(executor, connection)
        if executor.queued_tasks:
            self._deliver_queued(framework, executor)
        self._send_pending_kills(executor)

    def _send_pending_kills(self, executor: Executor) -> None:
        kills, executor.pending_kills = executor.pending_kills, {}
        for task_id, kill in kills.items():
            if task_id in executor.launched_tasks:
                log.info("%s: sending the kill that waited for executor %s", task_id, executor)
                executor.send(kill)

    def _heartbeat(self, executor: Executor, connection: ExecutorConnection) -> None:
        if executor.connection is not connection:
            return
        connection.send(Event(type=Event.HEARTBEAT))
        delay(self.runtime.clock, self._flags.http_heartbeat_interval.seconds, self.pid,
              self._heartbeat, executor, connection)

    def executor_disconnected(self, framework_id: str, executor_id: str,
                              connection: ExecutorConnection) -> None:
        """The executor's SUBSCRIBE stream closed (from either side)."""
        executor = self._get_executor(framework_id, executor_id)
        if executor is not None and executor.connection is connection:
            log.info("%s: executor %s closed its connection", executor_id, executor)
            executor.connection = None

    # ======================================================= update/message
    def executor_update(self, call: executor_pb2.Call) -> None:
        framework, executor = self._lookup_executor(call)
        if executor.state is ExecutorState.REGISTERING:
            raise NotSubscribed("Executor is not subscribed")
        if self._state is State.RECOVERING:
            from mesos_py.errors import AgentRecovering
            raise AgentRecovering()
        self.status_update(update_from_status(framework.id, call.update.status,
                                              self.info.id.value), executor.id)

    def executor_message(self, call: executor_pb2.Call) -> None:
        _, executor = self._lookup_executor(call)
        if executor.state is ExecutorState.REGISTERING:
            raise NotSubscribed("Executor is not subscribed")
        self._executor_to_framework(executor, call.message.data)

    def _reregister_executor_timeout(self) -> None:
        """After recovery: executors that did not re-subscribe in time are shut down."""
        for framework in list(self._frameworks.values()):
            for executor in list(framework.executors.values()):
                if executor.reregistered or executor.state not in (ExecutorState.REGISTERING,
                                                                   ExecutorState.RUNNING):
                    continue
                log.info("%s: executor %s did not re-subscribe within %s; shutting it down",
                         executor.id, executor, self._flags.executor_reregistration_timeout)
                from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerTermination
                executor.pending_termination = ContainerTermination(
                    state=mesos_pb2.TaskState.TASK_FAILED,
                    reason=mesos_pb2.TaskStatus.REASON_EXECUTOR_REREGISTRATION_TIMEOUT,
                    message="Executor did not reregister within "
                            f"{self._flags.executor_reregistration_timeout}")
                self._shutdown_executor(framework, executor)

    # ==================================================== launch parameters
    def _executor_environment(self, framework: Framework,
                              executor: Executor) -> dict[str, str]:
        """What Mesos's `executorEnvironment` gives an executor."""
        env: dict[str, str] = {}
        if self._flags.executor_environment_variables:
            import json
            env.update(json.loads(self._flags.executor_environment_variables))
        upid = self.pid.upid
        grace = self._flags.executor_shutdown_grace_period
        if executor.info.HasField("shutdown_grace_period"):
            grace = Duration(nanos=executor.info.shutdown_grace_period.nanoseconds)
        env.update({
            "LIBPROCESS_PORT": "0",
            "MESOS_FRAMEWORK_ID": framework.id,
            "MESOS_EXECUTOR_ID": executor.id,
            "MESOS_DIRECTORY": executor.directory,
            "MESOS_SLAVE_ID": self.info.id.value,
            "MESOS_AGENT_ID": self.info.id.value,
            "MESOS_SLAVE_PID": str(upid),
            "MESOS_AGENT_ENDPOINT": f"{upid.host}:{upid.port}",
            "MESOS_CHECKPOINT": "1" if framework.checkpoint else "0",
            # Every executor of this agent, command executors too, speaks HTTP.
            "MESOS_HTTP_COMMAND_EXECUTOR": "1",
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": str(grace),
        })
        if framework.checkpoint:
            env["MESOS_RECOVERY_TIMEOUT"] = str(self._flags.recovery_timeout)
            env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = str(
                self._flags.executor_reregistration_timeout)
        roles = {r.allocation_info.role for r in executor.info.resources
                 if r.HasField("allocation_info")}
        if len(roles) == 1:
            env["MESOS_ALLOCATION_ROLE"] = roles.pop()
        if self._flags.ip or os.environ.get("LIBPROCESS_IP"):
            env["LIBPROCESS_IP"] = os.environ.get("LIBPROCESS_IP") or self._flags.ip
        if (executor.generated_for_command_task or executor.is_default) and \
                self._services.python_path:
            env["PYTHONPATH"] = self._services.python_path
        return env

    def _builtin_executor_command(self, kind: str) -> mesos_pb2.CommandInfo:
        script, module = BUILTIN_EXECUTORS[kind]
        path = os.path.join(self._flags.launcher_dir, script)
        command = mesos_pb2.CommandInfo(shell=False)
        if os.access(path, os.X_OK):
            command.value = path
            command.arguments.extend([script, f"--launcher_dir={self._flags.launcher_dir}"])
        else:
            command.value = sys.executable
            # argv[0] is the interpreter itself: Python finds its venv from it.
            command.arguments.extend([sys.executable, "-m", module])
        return command

    def _command_executor_info(self, framework_info: mesos_pb2.FrameworkInfo,
                               task: mesos_pb2.TaskInfo) -> mesos_pb2.ExecutorInfo:
        """The ExecutorInfo Mesos makes up for a task with a CommandInfo."""
        info = mesos_pb2.ExecutorInfo(source=task.task_id.value)
        info.executor_id.value = task.task_id.value
        info.framework_id.CopyFrom(framework_info.id)
        if task.HasField("container"):
            info.container.CopyFrom(task.container)
        command = task.command
        if command.shell if command.HasField("shell") else True:
            shown = (command.value[:12] + "..." if len(command.value) > 15 else command.value)
            name = f"(Command: sh -c '{shown}')" if command.HasField("value") \
                else "(Command: NO COMMAND)"
        else:
            args = ", ".join([command.value, *command.arguments])
            name = f"(Command: [{args[:12] + '...' if len(args) > 15 else args}])"
        info.name = f"Command Executor (Task: {task.task_id.value}) {name}"
        info.command.CopyFrom(self._builtin_executor_command("command"))
        if command.HasField("environment"):
            info.command.environment.MergeFrom(command.environment)
        if command.HasField("user"):
            info.command.user = command.user
        for field in ("labels", "discovery"):
            if task.HasField(field):  # type: ignore[arg-type]
                getattr(info, field).MergeFrom(getattr(task, field))
        if task.kill_policy.HasField("grace_period"):
            # The executor needs the task's grace period plus time to reap it.
            info.shutdown_grace_period.nanoseconds = (
                task.kill_policy.grace_period.nanoseconds + 2_000_000_000)
        for name, value in (("cpus", COMMAND_EXECUTOR_CPUS), ("mem", COMMAND_EXECUTOR_MEM_MB)):
            resource = info.resources.add(name=name, type=mesos_pb2.Value.SCALAR)
            resource.scalar.value = value
            roles = {r.allocation_info.role for r in task.resources
                     if r.HasField("allocation_info")}
            if roles:
                resource.allocation_info.role = sorted(roles)[0]
        return info
