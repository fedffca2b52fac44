"""Task and executor lifecycle of the Slave (a mixin of the Slave actor).

RunTask(Group)Message -> the framework and executor are created (the
executor's container launched) -> the tasks are queued until the executor
subscribes, then sent to it -> updates flow back through
`mesos_py/slave/updates.py` -> the executor's container ends -> its tasks
that were not terminal are reported (TASK_FAILED with the container's
reason, or REASON_EXECUTOR_TERMINATED) -> the executor is removed once none
of its tasks has an unacknowledged update, and its sandbox is scheduled for
garbage collection; a framework with nothing left is removed too.

Mesos's rules are kept where a framework can see them: the states and
reasons of agent-generated updates, TASK_DROPPED for partition-aware
frameworks where others get TASK_LOST, kills before delivery answered
TASK_KILLED (REASON_TASK_KILLED_DURING_LAUNCH), shutdown = SHUTDOWN event,
then a destroy after the grace period.
"""

from __future__ import annotations

import logging
import os
import pwd
import uuid
from typing import TYPE_CHECKING, Any

from mesos_py.actors import UPID, Future, collect, defer, delay, dispatch
from mesos_py.containerizer.containerizer import Containerizer, LaunchResult
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig, ContainerTermination
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.executor import executor_pb2
from mesos_py.protos.messages import messages_pb2
from mesos_py.slave import checkpoint, paths
from mesos_py.slave.files import Files
from mesos_py.slave.gc import GarbageCollector
from mesos_py.slave.records import (MAX_COMPLETED_FRAMEWORKS, Executor, ExecutorState, Framework,
                                    FrameworkState, SlaveState as State, create_status_update,
                                    framework_roles, is_terminal)
from mesos_py.slave.status_update_manager import StatusUpdateManager

from mesos_py.slave.base import SlaveBase

log = logging.getLogger(__name__)

TaskState = mesos_pb2.TaskState
Reason = mesos_pb2.TaskStatus
SOURCE_AGENT = mesos_pb2.TaskStatus.SOURCE_AGENT


class TaskLifecycle(SlaveBase):
    # =============================================================== running
    def run_task(self, sender: UPID, message: messages_pb2.RunTaskMessage) -> None:
        if sender != self._master:
            log.warning("Ignoring run task message from %s because it is not the expected "
                        "master: %s", sender, self._master)
            return
        framework_info = mesos_pb2.FrameworkInfo()
        framework_info.CopyFrom(message.framework)
        if not framework_info.HasField("id") and message.HasField("framework_id"):
            framework_info.id.CopyFrom(message.framework_id)
        task = mesos_pb2.TaskInfo()
        task.CopyFrom(message.task)
        generated = not task.HasField("executor")
        executor_info = (task.executor if not generated
                         else self._command_executor_info(framework_info, task))
        launch = message.launch_executor if message.HasField("launch_executor") else None
        self._run_tasks(framework_info, executor_info, [task], None, message.pid or None, launch,
                  generated)

    def run_task_group(self, sender: UPID,
                       message: messages_pb2.RunTaskGroupMessage) -> None:
        if sender != self._master:
            log.warning("Ignoring run task group message from %s because it is not the "
                        "expected master: %s", sender, self._master)
            return
        group = mesos_pb2.TaskGroupInfo()
        group.CopyFrom(message.task_group)
        executor_info = mesos_pb2.ExecutorInfo()
        executor_info.CopyFrom(message.executor)
        launch = message.launch_executor if message.HasField("launch_executor") else None
        self._run_tasks(message.framework, executor_info, list(group.tasks), group, None, launch,
                  False)

    def _run_tasks(self, framework_info: mesos_pb2.FrameworkInfo,
             executor_info: mesos_pb2.ExecutorInfo, tasks: list[mesos_pb2.TaskInfo],
             group: mesos_pb2.TaskGroupInfo | None, pid: str | None,
             launch_executor: bool | None, generated: bool) -> None:
        roles = framework_roles(framework_info)
        for resources in [executor_info.resources] + [t.resources for t in tasks] + (
                [t.resources for t in group.tasks] if group is not None else []):
            for resource in resources:
                if not resource.HasField("allocation_info") and len(roles) == 1:
                    resource.allocation_info.role = roles[0]
        framework_id = framework_info.id.value
        names = ", ".join(t.task_id.value for t in tasks)
        log.info("%s: got assigned %s for framework %s", names,
                 "task group" if group is not None else "task", framework_id)
        for task in tasks:
            if task.agent_id != self.info.id:
                log.warning("%s: ignoring it: it was intended for agent %s", task.task_id.value,
                            task.agent_id.value)
                return
        if self._state in (State.RECOVERING, State.TERMINATING):
            log.warning("%s: ignoring it because the agent is %s", names, self._state.value)
            return
        framework = self._frameworks.get(framework_id)
        unschedules: list[Future[bool]] = []
        if framework is None:
            framework = self._add_framework(framework_info, pid)
            unschedules += self._unschedule_paths(
                paths.framework_sandbox_dir(self._flags.work_dir, self.info.id.value,
                                            framework_id),
                paths.framework_meta_dir(self._flags.work_dir, self.info.id.value, framework_id))
        executor_id = executor_info.executor_id.value
        pending = framework.pending_tasks.setdefault(executor_id, {})
        for task in tasks:
            pending[task.task_id.value] = task
        if executor_id not in framework.executors:
            unschedules += self._unschedule_paths(
                paths.executor_sandbox_dir(self._flags.work_dir, self.info.id.value,
                                           framework_id, executor_id),
                paths.executor_meta_dir(self._flags.work_dir, self.info.id.value, framework_id,
                                        executor_id))
        # A directory being unscheduled must not be deleted under the new
        # task: the launch waits for the garbage collector's answer.
        collect(unschedules).on_any(defer(self.pid, lambda _: self._run_safely(
            framework_info, executor_info, tasks, group, launch_executor, generated)))

    def _run_safely(self, framework_info: mesos_pb2.FrameworkInfo,
                    executor_info: mesos_pb2.ExecutorInfo, tasks: list[mesos_pb2.TaskInfo],
                    group: mesos_pb2.TaskGroupInfo | None, launch_executor: bool | None,
                    generated: bool) -> None:
        """A bug or a failing disk while launching must not leave tasks silent."""
        try:
            self._run_after_unschedule(framework_info, executor_info, tasks, group,
                                       launch_executor, generated)
        except Exception as error:
            log.exception("%s: failed to launch", ", ".join(t.task_id.value for t in tasks))
            framework = self._frameworks.get(framework_info.id.value)
            if framework is None:
                return
            for task in tasks:
                framework.remove_pending(task.task_id.value)
                if framework.executor_for_task(task.task_id.value) is None:
                    self.status_update(create_status_update(
                        framework.id, self.info.id.value, task.task_id.value,
                        TaskState.TASK_FAILED, SOURCE_AGENT,
                        f"The agent failed to launch the task: {error}",
                        Reason.REASON_CONTAINER_LAUNCH_FAILED), None)

    def _unschedule_paths(self, *candidates: str) -> list[Future[bool]]:
        return [dispatch(self._services.gc, GarbageCollector.unschedule, path)
                for path in candidates if os.path.exists(path)]

    def _run_after_unschedule(self, framework_info: mesos_pb2.FrameworkInfo,
                              executor_info: mesos_pb2.ExecutorInfo,
                              tasks: list[mesos_pb2.TaskInfo],
                              group: mesos_pb2.TaskGroupInfo | None,
                              launch_executor: bool | None, generated: bool) -> None:
        framework_id = framework_info.id.value
        executor_id = executor_info.executor_id.value
        framework = self._frameworks.get(framework_id)
        if framework is None:
            log.warning("Ignoring running tasks of framework %s: the framework is gone",
                        framework_id)
            return
        if framework.state is FrameworkState.TERMINATING:
            for task in tasks:
                framework.remove_pending(task.task_id.value)
            if framework.idle():
                self._remove_framework(framework)
            return
        if not all(framework.remove_pending(t.task_id.value) for t in tasks):
            log.warning("Ignoring running %s: killed in the meantime",
                        ", ".join(t.task_id.value for t in tasks))
            if launch_executor:
                self._send_exited_executor(framework_id, executor_id, None)
            return
        if self._state is State.TERMINATING:
            if framework.idle():
                self._remove_framework(framework)
            return
        executor = framework.executors.get(executor_id)
        if launch_executor is not None and not generated:
            problem = None
            if launch_executor and executor is not None:
                problem = "Master wants to launch executor, but one already exists"
            elif not launch_executor and executor is None:
                problem = "No executor is expected to launch and there is none running"
            if problem is not None:
                self._drop_tasks(framework, tasks, executor_id, problem,
                                 Reason.REASON_EXECUTOR_TERMINATED)
                if executor is not None and executor.state in (ExecutorState.REGISTERING,
                                                               ExecutorState.RUNNING):
                    self._shutdown_executor(framework, executor)
                if framework.idle():
                    self._remove_framework(framework)
                return
        if executor is None:
            executor = self._launch_executor(framework, executor_info, tasks, group, generated)
            if executor is None:
                return
        if executor.state in (ExecutorState.TERMINATING, ExecutorState.TERMINATED):
            what = executor.state.value.lower()
            log.warning("%s: asked to run on executor %s which is %s",
                        ", ".join(t.task_id.value for t in tasks), executor, what)
            self._drop_tasks(framework, tasks, executor_id, f"Executor {what}",
                             Reason.REASON_EXECUTOR_TERMINATED)
            return
        if executor.checkpoint:
            for task in tasks:
                self._checkpoint_task(executor, task)
        if group is not None:
            executor.enqueue_task_group(group)
        else:
            for task in tasks:
                executor.enqueue_task(task)
        log.info("%s: queued for executor %s", ", ".join(t.task_id.value for t in tasks),
                 executor)
        if executor.state is ExecutorState.RUNNING:
            self._deliver_queued(framework, executor)

    def _drop_tasks(self, framework: Framework, tasks: list[mesos_pb2.TaskInfo],
                    executor_id: str, message: str, reason: int) -> None:
        for task in tasks:
            self.status_update(create_status_update(
                framework.id, self.info.id.value, task.task_id.value, framework.lost_state(),
                SOURCE_AGENT, message, reason, executor_id), None)

    def _deliver_queued(self, framework: Framework, executor: Executor) -> None:
        """Resizes the container for the queued tasks, then sends them."""
        container_id = executor.container_id
        updated = dispatch(self._containerizer, Containerizer.update, container_id,
                           executor.allocated_resources(), {})
        updated.on_any(defer(self.pid, lambda f: self._send_queued(framework.id, executor.id,
                                                                   container_id, f)))

    def _send_queued(self, framework_id: str, executor_id: str,
                     container_id: mesos_pb2.ContainerID, updated: Future[Any]) -> None:
        framework = self._frameworks.get(framework_id)
        executor = framework.executors.get(executor_id) if framework is not None else None
        if (framework is None or executor is None or executor.container_id != container_id
                or executor.state is not ExecutorState.RUNNING):
            return
        if updated.is_failed():
            log.warning("%s: failed to update the resources of container %s: %s", executor_id,
                        container_id.value, updated.failure())
        for group in list(executor.queued_task_groups):
            event = executor_pb2.Event(type=executor_pb2.Event.LAUNCH_GROUP)
            for task in group.tasks:
                executor.launch_queued(task)
            event.launch_group.task_group.CopyFrom(group)
            executor.send(event)
            log.info("%s: sent task group to executor %s",
                     ", ".join(t.task_id.value for t in group.tasks), executor)
        for task in list(executor.queued_tasks.values()):
            executor.launch_queued(task)
            event = executor_pb2.Event(type=executor_pb2.Event.LAUNCH)
            event.launch.task.CopyFrom(task)
            executor.send(event)
            log.info("%s: sent task to executor %s", task.task_id.value, executor)

    # ============================================================ executors
    def _add_framework(self, info: mesos_pb2.FrameworkInfo, pid: str | None) -> Framework:
        framework = Framework(info.id.value, info, pid,
                              self._flags.max_completed_executors_per_framework)
        completed = self._completed_frameworks.pop(info.id.value, None)
        if completed is not None:
            framework.completed_executors.extend(completed.completed_executors)
        self._frameworks[framework.id] = framework
        log.info("Added framework %s (%s)", framework.id, info.name)
        if info.checkpoint:
            self._checkpoint_framework(framework)
        return framework

    def _checkpoint_framework(self, framework: Framework) -> None:
        agent_id = self.info.id.value
        checkpoint.checkpoint_message(
            paths.framework_info_path(self._flags.work_dir, agent_id, framework.id),
            framework.info)
        checkpoint.checkpoint_text(
            paths.framework_pid_path(self._flags.work_dir, agent_id, framework.id),
            framework.pid or "")

    def _launch_executor(self, framework: Framework, info: mesos_pb2.ExecutorInfo,
                         tasks: list[mesos_pb2.TaskInfo], group: mesos_pb2.TaskGroupInfo | None,
                         generated: bool) -> Executor | None:
        container_id = mesos_pb2.ContainerID(value=str(uuid.uuid4()))
        agent_id = self.info.id.value
        directory = paths.executor_run_sandbox(self._flags.work_dir, agent_id, framework.id,
                                               info.executor_id.value, container_id.value)
        user: str | None = None
        if self._flags.switch_user:
            user = info.command.user if info.command.HasField("user") else framework.info.user
        executor = Executor(info.executor_id.value, framework.id, info, container_id, directory,
                            user or None, framework.checkpoint, generated)
        try:
            self._create_executor_directory(executor)
            if executor.checkpoint:
                self._checkpoint_executor(executor)
        except OSError as error:
            log.error("%s: failed to create the sandbox of executor %s: %s",
                      info.executor_id.value, executor, error)
            self._drop_tasks(framework, tasks, executor.id,
                             f"Failed to create executor directory: {error}",
                             Reason.REASON_EXECUTOR_TERMINATED)
            if framework.idle():
                self._remove_framework(framework)
            return None
        framework.executors[executor.id] = executor
        self._metrics["executors_launched"] = self._metrics.get("executors_launched", 0) + 1
        self._attach_sandbox(executor)
        config = self._executor_container_config(framework, executor, tasks,
                                                 tasks[0] if generated else None)
        log.info("%s: launching container %s for executor %s", executor.id, container_id.value,
                 executor)
        launched = dispatch(self._containerizer, Containerizer.launch, container_id, config)
        # Asked right after the launch (same mailbox, in order): a launch that
        # fails is then still seen terminating, with its reason.
        terminated = dispatch(self._containerizer, Containerizer.wait, container_id)
        launched.on_any(defer(self.pid, lambda f: self._executor_launched(
            framework.id, executor.id, container_id, f)))
        terminated.on_any(defer(self.pid, lambda f: self._executor_terminated(
            framework.id, executor.id, container_id, f)))
        delay(self.runtime.clock, self._flags.executor_registration_timeout.seconds, self.pid,
              self._register_executor_timeout, framework.id, executor.id, container_id)
        return executor

    def _create_executor_directory(self, executor: Executor) -> None:
        os.makedirs(executor.directory, mode=0o755, exist_ok=True)
        if executor.user:
            try:
                entry = pwd.getpwnam(executor.user)
            except KeyError:
                raise OSError(f"user '{executor.user}' does not exist on this host")
            os.chown(executor.directory, entry.pw_uid, entry.pw_gid)
        paths.point_latest(paths.executor_latest_run_sandbox(
            self._flags.work_dir, self.info.id.value, executor.framework_id, executor.id),
            executor.container_id.value)

    def _checkpoint_executor(self, executor: Executor) -> None:
        agent_id = self.info.id.value
        checkpoint.checkpoint_message(paths.executor_info_path(
            self._flags.work_dir, agent_id, executor.framework_id, executor.id), executor.info)
        checkpoint.checkpoint_text(paths.executor_generated_path(
            self._flags.work_dir, agent_id, executor.framework_id, executor.id),
            "1" if executor.generated_for_command_task else "0")
        run = paths.run_meta_dir(self._flags.work_dir, agent_id, executor.framework_id,
                                 executor.id, executor.container_id.value)
        os.makedirs(run, exist_ok=True)
        paths.point_latest(os.path.join(os.path.dirname(run), paths.LATEST),
                           executor.container_id.value)

    def _checkpoint_task(self, executor: Executor, task: mesos_pb2.TaskInfo) -> None:
        # The Task (state STAGING) is on disk before the executor may see it.
        from mesos_py.slave.records import create_task

        record = create_task(task, TaskState.TASK_STAGING, executor.framework_id)
        checkpoint.checkpoint_message(paths.task_info_path(
            self._flags.work_dir, self.info.id.value, executor.framework_id, executor.id,
            executor.container_id.value, task.task_id.value), record)

    def _attach_sandbox(self, executor: Executor) -> None:
        agent_id = self.info.id.value
        files = self._services.files
        dispatch(files, Files.attach, executor.directory, executor.directory)
        dispatch(files, Files.attach, executor.directory, paths.executor_latest_run_sandbox(
            self._flags.work_dir, agent_id, executor.framework_id, executor.id))
        dispatch(files, Files.attach, executor.directory,
                 paths.executor_virtual_path(executor.framework_id, executor.id))

    def _executor_container_config(self, framework: Framework, executor: Executor,
                                   tasks: list[mesos_pb2.TaskInfo],
                                   task: mesos_pb2.TaskInfo | None) -> ContainerConfig:
        info = mesos_pb2.ExecutorInfo()
        info.CopyFrom(executor.info)
        if executor.is_default and not info.HasField("command"):
            info.command.CopyFrom(self._builtin_executor_command("default"))
        for task_info in tasks:
            info.resources.extend(task_info.resources)
        config = ContainerConfig(directory=executor.directory)
        config.executor_info.CopyFrom(info)
        config.command_info.CopyFrom(info.command)
        config.resources.extend(info.resources)
        if executor.user:
            config.user = executor.user
        if info.HasField("container"):
            config.container_info.CopyFrom(info.container)
        if task is not None:
            config.task_info.CopyFrom(task)
        user_environment = list(config.command_info.environment.variables)
        del config.command_info.environment.variables[:]
        for name, value in self._executor_environment(framework, executor).items():
            config.command_info.environment.variables.add(name=name, value=value)
        # The executor's own variables win over the agent's.
        config.command_info.environment.variables.extend(user_environment)
        return config

    def _executor_launched(self, framework_id: str, executor_id: str,
                           container_id: mesos_pb2.ContainerID, launched: Future[Any]) -> None:
        if not launched.is_ready():
            reason = launched.failure() if launched.is_failed() else "discarded"
            log.error("%s: container %s for executor of framework %s failed to start: %s",
                      executor_id, container_id.value, framework_id, reason)
            self._metrics["container_launch_errors"] += 1
            dispatch(self._containerizer, Containerizer.destroy, container_id)
            executor = self._get_executor(framework_id, executor_id)
            if executor is not None and executor.container_id == container_id:
                executor.pending_termination = ContainerTermination(
                    state=TaskState.TASK_FAILED, reason=Reason.REASON_CONTAINER_LAUNCH_FAILED,
                    message=f"Failed to launch container: {reason}")
            return
        if launched.value() is LaunchResult.ALREADY_LAUNCHED:
            log.error("%s: container %s has already been launched", executor_id,
                      container_id.value)
            return
        framework = self._frameworks.get(framework_id)
        executor = framework.executors.get(executor_id) if framework is not None else None
        if (framework is None or executor is None or executor.container_id != container_id
                or framework.state is FrameworkState.TERMINATING
                or executor.state is ExecutorState.TERMINATING):
            log.warning("%s: killing the container %s: its executor is gone or terminating",
                        executor_id, container_id.value)
            dispatch(self._containerizer, Containerizer.destroy, container_id)

    def _register_executor_timeout(self, framework_id: str, executor_id: str,
                                   container_id: mesos_pb2.ContainerID) -> None:
        executor = self._get_executor(framework_id, executor_id)
        if executor is None or executor.container_id != container_id:
            return
        if executor.state is not ExecutorState.REGISTERING:
            return
        timeout = self._flags.executor_registration_timeout
        log.info("%s: terminating executor %s because it did not register within %s",
                 executor_id, executor, timeout)
        executor.state = ExecutorState.TERMINATING
        executor.pending_termination = ContainerTermination(
            state=TaskState.TASK_FAILED, reason=Reason.REASON_EXECUTOR_REGISTRATION_TIMEOUT,
            message=f"Executor did not register within {timeout}")
        dispatch(self._containerizer, Containerizer.destroy, container_id)

    def _executor_terminated(self, framework_id: str, executor_id: str,
                             container_id: mesos_pb2.ContainerID,
                             waited: Future[ContainerTermination | None]) -> None:
        termination = waited.value() if waited.is_ready() else None
        status = termination.status if termination is not None and termination.HasField(
            "status") else -1
        log.info("%s: executor of framework %s terminated (status %s)", executor_id,
                 framework_id, status)
        dispatch(self._containerizer, Containerizer.remove, container_id)  # forget its record
        framework = self._frameworks.get(framework_id)
        executor = framework.executors.get(executor_id) if framework is not None else None
        if framework is None or executor is None or executor.container_id != container_id:
            return
        if executor.state is ExecutorState.TERMINATED:
            return
        executor.state = ExecutorState.TERMINATED
        self._metrics["executors_terminated"] += 1
        if executor.connection is not None:
            executor.connection.close()
            executor.connection = None
        if framework.state is not FrameworkState.TERMINATING:
            for task_id, task in list(executor.launched_tasks.items()):
                if not is_terminal(task.state):
                    self._send_executor_terminated_update(framework, executor, task_id,
                                                          waited)
            for task_id in list(executor.queued_tasks):
                self._send_executor_terminated_update(framework, executor, task_id, waited)
        else:
            executor.terminated_tasks.update(executor.launched_tasks)
            executor.launched_tasks.clear()
        if not executor.generated_for_command_task:
            self._send_exited_executor(framework_id, executor_id, status)
        if (self._state is State.TERMINATING or framework.state is FrameworkState.TERMINATING
                or not executor.incomplete_tasks()):
            self._remove_executor(framework, executor)
        if framework.idle():
            self._remove_framework(framework)

    def _send_executor_terminated_update(self, framework: Framework, executor: Executor,
                                         task_id: str,
                                         waited: Future[ContainerTermination | None]) -> None:
        termination = waited.value() if waited.is_ready() else None
        pending = executor.pending_termination
        state: int = TaskState.TASK_FAILED
        reason: int = Reason.REASON_EXECUTOR_TERMINATED
        if termination is not None and termination.HasField("state"):
            state = termination.state
        elif pending is not None and pending.HasField("state"):
            state = pending.state
        if termination is not None and termination.HasField("reason"):
            reason = termination.reason
        elif pending is not None and pending.HasField("reason"):
            reason = pending.reason
        messages = []
        if pending is not None and pending.message:
            messages.append(pending.message)
        if not waited.is_ready():
            messages.append("Abnormal executor termination: " +
                            (waited.failure() if waited.is_failed() else "discarded future"))
        elif termination is None:
            messages.append("Abnormal executor termination: unknown container")
        elif termination.message:
            messages.append(termination.message)
        limited = list(termination.limited_resources) if termination is not None else []
        self.status_update(create_status_update(
            framework.id, self.info.id.value, task_id, state, SOURCE_AGENT,
            "; ".join(messages) or "Executor terminated", reason, executor.id, limited), None)

    def _send_exited_executor(self, framework_id: str, executor_id: str,
                              status: int | None) -> None:
        if self._master is None:
            return
        message = messages_pb2.ExitedExecutorMessage(status=-1 if status is None else status)
        message.slave_id.CopyFrom(self.info.id)
        message.framework_id.value = framework_id
        message.executor_id.value = executor_id
        self._send(self._master, message)

    def _remove_executor(self, framework: Framework, executor: Executor) -> None:
        log.info("%s: cleaning up executor %s", executor.id, executor)
        agent_id = self.info.id.value
        gc = self._services.gc
        if executor.checkpoint:
            sentinel = paths.executor_sentinel_path(self._flags.work_dir, agent_id, framework.id,
                                                    executor.id, executor.container_id.value)
            try:
                checkpoint.write_atomic(sentinel, b"")
            except OSError as error:
                log.error("%s: failed to write the executor sentinel: %s", executor.id, error)
        files = self._services.files
        # The sandbox stays browsable until it is deleted.
        _touch(executor.directory)
        dispatch(gc, GarbageCollector.schedule_aged, executor.directory).on_ready(
            lambda _: dispatch(files, Files.detach, executor.directory))
        if executor.id not in framework.pending_tasks:
            executor_dir = paths.executor_sandbox_dir(self._flags.work_dir, agent_id,
                                                      framework.id, executor.id)
            latest = [paths.executor_latest_run_sandbox(self._flags.work_dir, agent_id,
                                                        framework.id, executor.id),
                      paths.executor_virtual_path(framework.id, executor.id)]
            _touch(executor_dir)
            dispatch(gc, GarbageCollector.schedule_aged, executor_dir).on_ready(
                lambda _: [dispatch(files, Files.detach, virtual) for virtual in latest])
        if executor.checkpoint:
            run = paths.run_meta_dir(self._flags.work_dir, agent_id, framework.id, executor.id,
                                     executor.container_id.value)
            _touch(run)
            dispatch(gc, GarbageCollector.schedule_aged, run)
            if executor.id not in framework.pending_tasks:
                meta = paths.executor_meta_dir(self._flags.work_dir, agent_id, framework.id,
                                               executor.id)
                _touch(meta)
                dispatch(gc, GarbageCollector.schedule_aged, meta)
        framework.destroy_executor(executor.id)

    def _remove_framework(self, framework: Framework) -> None:
        log.info("Cleaning up framework %s", framework.id)
        dispatch(self._services.status_updates, StatusUpdateManager.cleanup, framework.id)
        agent_id = self.info.id.value
        sandbox = paths.framework_sandbox_dir(self._flags.work_dir, agent_id, framework.id)
        _touch(sandbox)
        dispatch(self._services.gc, GarbageCollector.schedule_aged, sandbox)
        if framework.checkpoint:
            meta = paths.framework_meta_dir(self._flags.work_dir, agent_id, framework.id)
            _touch(meta)
            dispatch(self._services.gc, GarbageCollector.schedule_aged, meta)
        del self._frameworks[framework.id]
        self._completed_frameworks[framework.id] = framework
        while len(self._completed_frameworks) > MAX_COMPLETED_FRAMEWORKS:
            self._completed_frameworks.pop(next(iter(self._completed_frameworks)))
        self._maybe_terminate()

    def _get_executor(self, framework_id: str, executor_id: str) -> Executor | None:
        framework = self._frameworks.get(framework_id)
        return framework.executors.get(executor_id) if framework is not None else None

    # ============================================================= killing
    def kill_task(self, sender: UPID, message: messages_pb2.KillTaskMessage) -> None:
        if sender != self._master:
            log.warning("Ignoring kill task message from %s because it is not the expected "
                        "master: %s", sender, self._master)
            return
        framework_id, task_id = message.framework_id.value, message.task_id.value
        log.info("%s: asked to kill task of framework %s", task_id, framework_id)
        if self._state in (State.RECOVERING, State.TERMINATING):
            log.warning("%s: cannot kill task because the agent is %s", task_id,
                        self._state.value)
            return
        framework = self._frameworks.get(framework_id)
        if framework is None or framework.state is FrameworkState.TERMINATING:
            log.warning("%s: ignoring kill task: framework %s is not running", task_id,
                        framework_id)
            return
        if framework.is_pending(task_id):
            self._kill_pending_task(framework, task_id)
            return
        executor = framework.executor_for_task(task_id)
        if executor is None:
            log.warning("%s: cannot kill task because no corresponding executor is running",
                        task_id)
            self.status_update(create_status_update(
                framework_id, self.info.id.value, task_id, framework.lost_state(), SOURCE_AGENT,
                "Cannot find executor", Reason.REASON_EXECUTOR_TERMINATED), None)
            return
        self._kill_task(framework, executor, task_id,
                   message.kill_policy if message.HasField("kill_policy") else None)

    def _kill_pending_task(self, framework: Framework, task_id: str) -> None:
        for executor_id, tasks in list(framework.pending_tasks.items()):
            if task_id in tasks:
                self._kill_before_delivery(framework, executor_id, [task_id],
                                           "Killed before delivery to the executor")

    def _kill_before_delivery(self, framework: Framework, executor_id: str,
                              task_ids: list[str], message: str) -> None:
        for task_id in task_ids:
            self.status_update(create_status_update(
                framework.id, self.info.id.value, task_id, TaskState.TASK_KILLED, SOURCE_AGENT,
                message, Reason.REASON_TASK_KILLED_DURING_LAUNCH, executor_id), None)

    def _kill_task(self, framework: Framework, executor: Executor, task_id: str,
              kill_policy: mesos_pb2.KillPolicy | None) -> None:
        if executor.state in (ExecutorState.REGISTERING, ExecutorState.RUNNING) and \
                task_id in executor.queued_tasks:
            group = executor.queued_task_group(task_id)
            ids = [t.task_id.value for t in group.tasks] if group is not None else [task_id]
            log.warning("%s: transitioning to TASK_KILLED before delivery to executor %s",
                        task_id, executor)
            self._kill_before_delivery(
                framework, executor.id, ids,
                "A task within the task group was killed before delivery to the executor"
                if group is not None else "Killed before delivery to the executor")
            if (executor.state is ExecutorState.RUNNING and not executor.ever_sent_task()
                    and not executor.queued_tasks):
                log.warning("%s: shutting down executor %s: it was never sent a task",
                            executor.id, executor)
                self._shutdown_executor(framework, executor)
            return
        if executor.state is not ExecutorState.RUNNING:
            log.warning("%s: ignoring kill task because executor %s is %s", task_id, executor,
                        executor.state.value)
            return
        event = executor_pb2.Event(type=executor_pb2.Event.KILL)
        event.kill.task_id.value = task_id
        if kill_policy is not None:
            event.kill.kill_policy.CopyFrom(kill_policy)
        if not executor.send(event):
            log.warning("%s: executor %s is not connected; the kill is sent when it "
                        "subscribes", task_id, executor)
            executor.pending_kills[task_id] = event

    # ============================================================ shutdowns
    def shutdown_framework(self, sender: UPID,
                           message: messages_pb2.ShutdownFrameworkMessage) -> None:
        if sender != self._master:
            log.warning("Ignoring shutdown framework message from %s because it is not from "
                        "the registered master: %s", sender, self._master)
            return
        if self._state in (State.RECOVERING, State.DISCONNECTED):
            log.warning("Ignoring shutdown framework %s because the agent has not yet "
                        "registered with the master", message.framework_id.value)
            return
        self._shutdown_framework(message.framework_id.value)

    def _shutdown_framework(self, framework_id: str) -> None:
        framework = self._frameworks.get(framework_id)
        if framework is None or framework.state is FrameworkState.TERMINATING:
            return
        log.info("Shutting down framework %s", framework_id)
        framework.state = FrameworkState.TERMINATING
        framework.pending_tasks.clear()
        for executor in list(framework.executors.values()):
            if executor.state in (ExecutorState.REGISTERING, ExecutorState.RUNNING):
                self._shutdown_executor(framework, executor)
            elif executor.state is ExecutorState.TERMINATED:
                self._remove_executor(framework, executor)
        if framework.idle():
            self._remove_framework(framework)

    def shutdown_executor(self, sender: UPID,
                          message: messages_pb2.ShutdownExecutorMessage) -> None:
        if sender != self._master:
            log.warning("Ignoring shutdown executor message from %s because it is not from "
                        "the registered master: %s", sender, self._master)
            return
        if self._state in (State.RECOVERING, State.DISCONNECTED):
            return
        framework = self._frameworks.get(message.framework_id.value)
        executor = framework.executors.get(message.executor_id.value) if framework else None
        if framework is None or executor is None or \
                framework.state is FrameworkState.TERMINATING:
            log.warning("Ignoring shutdown of unknown executor '%s' of framework %s",
                        message.executor_id.value, message.framework_id.value)
            return
        if executor.state in (ExecutorState.REGISTERING, ExecutorState.RUNNING):
            self._shutdown_executor(framework, executor)

    def _shutdown_executor(self, framework: Framework, executor: Executor) -> None:
        log.info("%s: shutting down executor %s", executor.id, executor)
        executor.state = ExecutorState.TERMINATING
        executor.send(executor_pb2.Event(type=executor_pb2.Event.SHUTDOWN))
        grace = self._flags.executor_shutdown_grace_period.seconds
        if executor.info.HasField("shutdown_grace_period"):
            grace = executor.info.shutdown_grace_period.nanoseconds / 1e9
        delay(self.runtime.clock, grace, self.pid, self._shutdown_executor_timeout,
              framework.id, executor.id, executor.container_id)

    def _shutdown_executor_timeout(self, framework_id: str, executor_id: str,
                                   container_id: mesos_pb2.ContainerID) -> None:
        executor = self._get_executor(framework_id, executor_id)
        if executor is None or executor.container_id != container_id:
            return
        if executor.state is ExecutorState.TERMINATING:
            log.info("%s: killing executor %s", executor_id, executor)
            dispatch(self._containerizer, Containerizer.destroy, container_id)

    # ===================================================== framework updates
    def update_framework(self, sender: UPID,
                         message: messages_pb2.UpdateFrameworkMessage) -> None:
        if sender != self._master:
            log.warning("Ignoring update framework message from %s because it is not the "
                        "expected master: %s", sender, self._master)
            return
        framework = self._frameworks.get(message.framework_id.value)
        if framework is None:
            return
        log.info("Updating info and pid of framework %s", framework.id)
        if message.HasField("framework_info"):
            framework.info.CopyFrom(message.framework_info)
        framework.pid = message.pid or None
        if framework.checkpoint:
            self._checkpoint_framework(framework)


def _touch(path: str) -> None:
    """Sets the modification time to now: gc_delay counts from here."""
    try:
        os.utime(path)
    except OSError:
        pass
