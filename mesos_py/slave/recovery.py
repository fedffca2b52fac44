"""Recovering frameworks, executors, tasks and updates after a restart (a mixin).

Order (after the containerizer has recovered its containers):

1. read `<work_dir>/meta/slaves/latest` (mesos_py/slave/state.py) on the pool;
2. refuse to reuse it if this agent's SlaveInfo changed (resources,
   attributes, hostname or port: Mesos's `--reconfiguration_policy=equal`);
3. rebuild each checkpointing framework, its executors' latest runs and
   their tasks, replaying each task's update log; rebuild the status update
   manager's streams from the same logs; older runs are handed to the
   garbage collector;
4. watch each recovered executor's container: one that ended while the agent
   was down is reported now (its non-terminal tasks fail); live HTTP
   executors must re-subscribe within `--executor_reregistration_timeout`;
5. destroy executor containers no checkpoint claims (frameworks that do not
   checkpoint cannot be recovered, as in Mesos).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from mesos_py.actors import Failure, Future, defer, delay, dispatch
from mesos_py.containerizer.containerizer import Containerizer
from mesos_py.ids import container_key
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.messages import messages_pb2
from mesos_py.slave import paths
from mesos_py.slave.files import Files
from mesos_py.slave.gc import GarbageCollector
from mesos_py.slave.records import (Executor, ExecutorState, Framework, is_terminal)
from mesos_py.slave.state import ExecutorState as ExecutorRecord
from mesos_py.slave.state import SlaveState as SlaveRecord
from mesos_py.slave.state import read_slave_state
from mesos_py.slave.status_update_manager import RecoveredStream, StatusUpdateManager

from mesos_py.slave.base import SlaveBase

log = logging.getLogger(__name__)

Record = messages_pb2.StatusUpdateRecord


class Recovery(SlaveBase):
    def _recover_agent(self, boot_changed: bool) -> Future[None]:
        started = time.monotonic()
        return self.runtime.pool.run(read_slave_state, self._flags.work_dir).then(
            defer(self.pid, lambda state: self._recover_frameworks(state, boot_changed,
                                                                   started)))

    def _recover_frameworks(self, state: SlaveRecord | None, boot_changed: bool,
                            started: float) -> Future[None]:
        containers = dispatch(self._containerizer, Containerizer.containers)
        if state is None or state.info is None:
            if state is not None:
                log.warning("Not recovering agent %s: its slave.info cannot be read", state.id)
            return containers.then(defer(self.pid, lambda live: self._recovered_agent(
                live, set(), started)))
        for error in state.errors:
            log.error("Recovery error: %s", error)
        self._metrics["recovery_errors"] += len(state.errors)
        problem = _incompatible(state.info, self.info)
        if problem is not None:
            raise Failure(f"Incompatible agent info detected ({problem}). To start this agent "
                          "with the new configuration, remove "
                          f"{paths.latest_slave_path(self._flags.work_dir)} (its tasks are "
                          "then killed)")
        self.info.id.CopyFrom(state.info.id)
        log.info("Recovering agent %s", state.id)
        streams: list[RecoveredStream] = []
        claimed: set[str] = set()
        for record in state.frameworks.values():
            framework = self._recover_framework(record)
            if framework is None:
                continue
            for executor_record in record.executors.values():
                executor = self._recover_executor(framework, executor_record, streams)
                if executor is not None:
                    claimed.add(executor.container_id.value)
            if framework.idle():
                self._remove_framework(framework)
        dispatch(self._services.status_updates, StatusUpdateManager.recover, streams)
        return containers.then(defer(self.pid, lambda live: self._recovered_agent(
            live, claimed, started)))

    def _recover_framework(self, record: Any) -> Framework | None:
        if record.info is None:
            log.warning("Skipping recovery of framework %s: its framework.info is missing",
                        record.id)
            self._gc_now(paths.framework_meta_dir(self._flags.work_dir, self.info.id.value,
                                                  record.id))
            return None
        framework = Framework(record.id, record.info, record.pid,
                              self._flags.max_completed_executors_per_framework)
        self._frameworks[framework.id] = framework
        log.info("Recovering framework %s", framework.id)
        return framework

    def _recover_executor(self, framework: Framework, record: ExecutorRecord,
                          streams: list[RecoveredStream]) -> Executor | None:
        agent_id = self.info.id.value
        if record.info is None or record.latest is None or record.latest not in record.runs:
            log.warning("%s: skipping recovery of executor of framework %s: its latest run "
                        "or executor info cannot be recovered", record.id, framework.id)
            self._gc_now(paths.executor_sandbox_dir(self._flags.work_dir, agent_id,
                                                    framework.id, record.id))
            self._gc_now(paths.executor_meta_dir(self._flags.work_dir, agent_id, framework.id,
                                                 record.id))
            return None
        for old_run in record.runs:
            if old_run != record.latest:
                for directory in (
                        paths.executor_run_sandbox(self._flags.work_dir, agent_id, framework.id,
                                                   record.id, old_run),
                        paths.run_meta_dir(self._flags.work_dir, agent_id, framework.id,
                                           record.id, old_run)):
                    dispatch(self._services.gc, GarbageCollector.schedule_aged, directory)
        run = record.runs[record.latest]
        container_id = mesos_pb2.ContainerID(value=run.container_id)
        directory = paths.executor_run_sandbox(self._flags.work_dir, agent_id, framework.id,
                                               record.id, run.container_id)
        user = framework.info.user if self._flags.switch_user else None
        if self._flags.switch_user and record.info.command.HasField("user"):
            user = record.info.command.user
        executor = Executor(record.id, framework.id, record.info, container_id, directory,
                            user or None, framework.checkpoint,
                            record.generated_for_command_task)
        executor.state = ExecutorState.RUNNING
        executor.reregistered = False
        for task_record in run.tasks.values():
            if task_record.info is None:
                continue
            task = mesos_pb2.Task()
            task.CopyFrom(task_record.info)
            executor.launched_tasks[task_record.id] = task
            acked: set[bytes] = {r.uuid for r in task_record.updates if r.type == Record.ACK}
            for update_record in task_record.updates:
                if update_record.type != Record.UPDATE:
                    continue
                status = update_record.update.status
                executor.update_task_state(status)
                if update_record.update.uuid in acked:
                    task.status_update_state = status.state
                    task.status_update_uuid = update_record.update.uuid
                if is_terminal(status.state) and update_record.update.uuid in acked:
                    executor.complete_task(task_record.id)
            if task_record.updates:
                streams.append(RecoveredStream(framework.id, task_record.id,
                                               task_record.updates_path, task_record.updates))
        framework.executors[executor.id] = executor
        self._attach_sandbox(executor)
        if run.completed:
            log.info("%s: executor %s had already terminated", executor.id, executor)
            executor.state = ExecutorState.TERMINATED
            self._metrics["executors_terminated"] += 1
            if not executor.incomplete_tasks():
                self._remove_executor(framework, executor)
        return executor

    def _recovered_agent(self, live: list[tuple[mesos_pb2.ContainerID, bool]],
                         claimed: set[str], started: float) -> None:
        running = {container_key(c): c for c, standalone in live if not standalone}
        for framework in list(self._frameworks.values()):
            for executor in list(framework.executors.values()):
                if executor.state is ExecutorState.TERMINATED:
                    continue
                cid = executor.container_id
                alive = cid.value in running
                log.info("%s: recovered executor %s in container %s (%s)", executor.id,
                         executor, cid.value, "running" if alive else "ended while down")
                dispatch(self._containerizer, Containerizer.wait, cid).on_any(
                    defer(self.pid, lambda f, fid=framework.id, eid=executor.id, c=cid:
                          self._executor_terminated(fid, eid, c, f)))
        for key, container_id in running.items():
            if key not in claimed and not container_id.HasField("parent"):
                log.warning("%s: destroying an executor container no checkpoint claims "
                            "(its framework does not checkpoint, or its state was lost)", key)
                self._destroy_orphan_executor(container_id)
        self._recovery_time = time.monotonic() - started
        if any(not e.reregistered for f in self._frameworks.values()
               for e in f.executors.values()):
            delay(self.runtime.clock, self._flags.executor_reregistration_timeout.seconds,
                  self.pid, self._reregister_executor_timeout)

    def _destroy_orphan_executor(self, container_id: mesos_pb2.ContainerID) -> None:
        containerizer = self._containerizer
        dispatch(containerizer, Containerizer.destroy, container_id).on_any(
            lambda _: dispatch(containerizer, Containerizer.remove, container_id))

    def _gc_now(self, path: str) -> None:
        dispatch(self._services.gc, GarbageCollector.schedule, 0.0, path)


def _incompatible(previous: mesos_pb2.AgentInfo, current: mesos_pb2.AgentInfo) -> str | None:
    if previous.hostname != current.hostname:
        return f"hostname changed from '{previous.hostname}' to '{current.hostname}'"
    if previous.port != current.port:
        return f"port changed from {previous.port} to {current.port}"
    from mesos_py.resources import equals

    if not equals(previous.resources, current.resources):
        from mesos_py.resources import resources_to_text
        return (f"resources changed from '{resources_to_text(previous.resources)}' to "
                f"'{resources_to_text(current.resources)}'")
    if sorted(a.SerializeToString() for a in previous.attributes) != sorted(
            a.SerializeToString() for a in current.attributes):
        return "attributes changed"
    return None


__all__ = ["Files", "Recovery"]
