"""The Slave's side of the master protocol: detection, (re-)registration,
pings, the link to the master, and forwarding status updates.

A mixin of the Slave actor (its methods run in the Slave's mailbox, with the
Slave's state). States, as Mesos's:

    RECOVERING -> DISCONNECTED -(SlaveRegistered/Reregistered)-> RUNNING
    RUNNING -(link lost, ping timeout, ping connected=false)-> DISCONNECTED
    any -(ShutdownMessage)-> TERMINATING

Registration is retried with a random backoff: the first attempt waits up to
`--registration_backoff_factor`, each retry doubles the bound (at most one
minute). The agent re-registers when the master's pings stop for the ping
timeout the master gave (75s by default), when the master says it considers
the agent disconnected, and (unlike Mesos 1.11, which waits for the ping
timeout) as soon as the link to the master breaks: a restarted master then
sees the agent back within the backoff instead of after 75 seconds.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

from mesos_py.actors import UPID, Failure, Timer, delay, dispatch
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.messages import messages_pb2
from mesos_py.slave import checkpoint, paths
from mesos_py.slave.records import (ExecutorState, SlaveState as State, create_status_update,
                                    describe_update, is_terminal)
from mesos_py.slave.status_update_manager import StatusUpdateManager

from mesos_py.slave.base import SlaveBase, agent_info

log = logging.getLogger(__name__)

MESOS_VERSION = "1.11.0"
REGISTER_RETRY_INTERVAL_MAX = 60.0
DEFAULT_MASTER_PING_TIMEOUT = 75.0

# What a 1.11 agent advertises, minus the resource provider and operation
# feedback paths this agent does not implement (a master then sends
# CheckpointResourcesMessage instead of ApplyOperationMessage).
Capability = mesos_pb2.AgentInfo.Capability
AGENT_CAPABILITIES = (Capability.MULTI_ROLE, Capability.HIERARCHICAL_ROLE,
                      Capability.RESERVATION_REFINEMENT, Capability.TASK_RESOURCE_LIMITS)


class MasterLink(SlaveBase):
    """Mixin: everything the Slave does with the master."""

    def _install_message_handlers(self) -> None:
        """The messages a master (and schedulers) may send this agent."""
        from mesos_py.slave.tasks import TaskLifecycle
        from mesos_py.slave.updates import StatusUpdates

        M = messages_pb2
        self.runtime.transport.install(self.pid, {
            M.SlaveRegisteredMessage: MasterLink.registered,
            M.SlaveReregisteredMessage: MasterLink.reregistered,
            M.PingSlaveMessage: MasterLink.ping,
            M.ShutdownMessage: MasterLink.shutdown,
            M.RunTaskMessage: TaskLifecycle.run_task,
            M.RunTaskGroupMessage: TaskLifecycle.run_task_group,
            M.KillTaskMessage: TaskLifecycle.kill_task,
            M.ShutdownFrameworkMessage: TaskLifecycle.shutdown_framework,
            M.ShutdownExecutorMessage: TaskLifecycle.shutdown_executor,
            M.UpdateFrameworkMessage: TaskLifecycle.update_framework,
            M.StatusUpdateAcknowledgementMessage: StatusUpdates.status_update_acknowledgement,
            M.FrameworkToExecutorMessage: StatusUpdates.framework_to_executor,
            M.CheckpointResourcesMessage: MasterLink.checkpoint_resources,
        })

    # ============================================================ detection
    def _detected(self) -> None:
        """(Re)starts registering with the configured master."""
        self._cancel_timer("_registration_timer")
        if self._state is State.TERMINATING or self._master is None:
            return
        self._become_disconnected()
        wait = self._flags.registration_backoff_factor.seconds * random.random()
        log.info("Registering with master %s in %.3fs", self._master, wait)
        self._registration_timer = delay(
            self.runtime.clock, wait, self.pid, self._do_reliable_registration,
            self._flags.registration_backoff_factor.seconds * 2)

    def _become_disconnected(self) -> None:

        if self._state is not State.TERMINATING:
            self._state = State.DISCONNECTED
        self._cancel_timer("_ping_timer")
        dispatch(self._services.status_updates, StatusUpdateManager.pause)

    def _do_reliable_registration(self, max_backoff: float) -> None:

        self._registration_timer = None
        if self._master is None or self._state is not State.DISCONNECTED:
            return
        # Link first: a master that is gone (or goes) is noticed and we retry.
        self.runtime.transport.link(self.pid, self._master, MasterLink.exited)
        if not self.info.HasField("id"):
            register = messages_pb2.RegisterSlaveMessage(version=MESOS_VERSION)
            register.slave.CopyFrom(self.info)
            for capability in AGENT_CAPABILITIES:
                register.agent_capabilities.add(type=capability)
            self._send(self._master, register)
            log.info("Sent RegisterSlaveMessage to %s", self._master)
        else:
            self._send(self._master, self._reregister_message())
            log.info("Sent ReregisterSlaveMessage to %s (agent %s)", self._master,
                     self.info.id.value)
        max_backoff = min(max_backoff, REGISTER_RETRY_INTERVAL_MAX)
        self._registration_timer = delay(self.runtime.clock, max_backoff * random.random(),
                                         self.pid, self._do_reliable_registration,
                                         max_backoff * 2)

    def _reregister_message(self) -> messages_pb2.ReregisterSlaveMessage:
        message = messages_pb2.ReregisterSlaveMessage(version=MESOS_VERSION)
        message.slave.CopyFrom(self.info)
        for capability in AGENT_CAPABILITIES:
            message.agent_capabilities.add(type=capability)
        for framework in self._frameworks.values():
            message.frameworks.add().CopyFrom(framework.info)
            for pending in framework.pending_tasks.values():
                for task_info in pending.values():
                    message.tasks.add().CopyFrom(self._staging_task(task_info, framework.id))
            for executor in framework.executors.values():
                message.tasks.extend(executor.launched_tasks.values())
                message.tasks.extend(executor.terminated_tasks.values())
                for task_info in executor.queued_tasks.values():
                    message.tasks.add().CopyFrom(self._staging_task(task_info, framework.id))
                # The master does not keep generated command executors.
                if (not executor.generated_for_command_task
                        and executor.state is not ExecutorState.TERMINATED):
                    message.executor_infos.add().CopyFrom(executor.info)
        for completed in self._completed_frameworks.values():
            archived = message.completed_frameworks.add()
            archived.framework_info.CopyFrom(completed.info)
            if completed.pid:
                archived.pid = completed.pid
            for executor in completed.completed_executors:
                archived.tasks.extend(executor.terminated_tasks.values())
                archived.tasks.extend(executor.completed_tasks)
        return message

    # ================================================================ replies
    def registered(self, sender: UPID,
                   message: messages_pb2.SlaveRegisteredMessage) -> None:

        if sender != self._master:
            log.warning("Ignoring registration message from %s because it is not the expected "
                        "master: %s", sender, self._master)
            return
        self._set_ping_timeout(message.connection if message.HasField("connection") else None)
        if self._state is State.DISCONNECTED:
            log.info("Registered with master %s; given agent ID %s", sender,
                     message.slave_id.value)
            self._cancel_timer("_registration_timer")
            self.info.id.CopyFrom(message.slave_id)
            agent_id = message.slave_id.value
            # The id is on disk before anything is launched under it.
            checkpoint.checkpoint_message(paths.slave_info_path(self._flags.work_dir, agent_id),
                                          self.info)
            paths.point_latest(paths.latest_slave_path(self._flags.work_dir), agent_id)
            self._become_running()
        elif self._state is State.RUNNING:
            if self.info.id != message.slave_id:
                log.error("Registered but got wrong id: %s (expected: %s); exiting",
                          message.slave_id.value, self.info.id.value)
                self._terminate_agent(1)
                return
            log.warning("Already registered with master %s", sender)
        else:
            log.warning("Ignoring registration because the agent is %s", self._state.value)

    def reregistered(self, sender: UPID,
                     message: messages_pb2.SlaveReregisteredMessage) -> None:

        if sender != self._master:
            log.warning("Ignoring re-registration message from %s because it is not the "
                        "expected master: %s", sender, self._master)
            return
        if self.info.id != message.slave_id:
            log.error("Re-registered but got wrong id: %s (expected: %s); exiting",
                      message.slave_id.value, self.info.id.value)
            self._terminate_agent(1)
            return
        self._set_ping_timeout(message.connection if message.HasField("connection") else None)
        if self._state is State.DISCONNECTED:
            log.info("Re-registered with master %s", sender)
            self._cancel_timer("_registration_timer")
            self._become_running()
        elif self._state is State.RUNNING:
            log.warning("Already re-registered with master %s", sender)
        else:
            log.warning("Ignoring re-registration because the agent is %s", self._state.value)
            return
        for reconcile in message.reconciliations:
            self._reconcile(reconcile)

    def _reconcile(self, reconcile: messages_pb2.ReconcileTasksMessage) -> None:
        """Tasks the master knows and this agent does not are reported gone."""
        framework = self._frameworks.get(reconcile.framework_id.value)
        partition_aware = reconcile.HasField("framework") and any(
            c.type == mesos_pb2.FrameworkInfo.Capability.PARTITION_AWARE
            for c in reconcile.framework.capabilities)
        for status in reconcile.statuses:
            task_id = status.task_id.value
            if framework is not None and framework.has_task(task_id):
                continue
            state = (mesos_pb2.TaskState.TASK_DROPPED if partition_aware
                     else mesos_pb2.TaskState.TASK_LOST)
            log.warning("%s: reconciling task of framework %s as %s: unknown to the agent",
                        task_id, reconcile.framework_id.value, mesos_pb2.TaskState.Name(state))
            update = create_status_update(
                reconcile.framework_id.value, self.info.id.value, task_id, state,
                mesos_pb2.TaskStatus.SOURCE_AGENT, "Reconciliation: task unknown to the agent",
                mesos_pb2.TaskStatus.REASON_RECONCILIATION)
            dispatch(self._services.status_updates, StatusUpdateManager.update, update, None)

    def _become_running(self) -> None:

        self._state = State.RUNNING
        self._metrics["registered"] = 1
        dispatch(self._services.status_updates, StatusUpdateManager.resume)
        self._arm_ping_timer()

    def _set_ping_timeout(self,
                          connection: messages_pb2.MasterSlaveConnection | None) -> None:
        if connection is not None and connection.HasField("total_ping_timeout_seconds"):
            self._ping_timeout = float(int(connection.total_ping_timeout_seconds))
        else:
            self._ping_timeout = DEFAULT_MASTER_PING_TIMEOUT

    # ================================================================= pings
    def ping(self, sender: UPID, message: messages_pb2.PingSlaveMessage) -> None:

        self._send(sender, messages_pb2.PongSlaveMessage())
        if not message.connected and self._state is State.RUNNING:
            log.info("Master marked the agent as disconnected but the agent considers itself "
                     "registered! Forcing re-registration")
            self._detected()
            return
        if self._state is State.RUNNING:
            self._arm_ping_timer()

    def _arm_ping_timer(self) -> None:
        self._cancel_timer("_ping_timer")
        self._ping_generation += 1
        self._ping_timer = delay(self.runtime.clock, self._ping_timeout, self.pid,
                                 self._ping_timed_out, self._ping_generation)

    def _ping_timed_out(self, generation: int) -> None:
        if generation != self._ping_generation:
            return  # a ping arrived meanwhile
        log.info("No pings from master received within %.0fs; re-registering",
                 self._ping_timeout)
        self._detected()

    def exited(self, upid: UPID) -> None:
        """The connection to `upid` broke (libprocess's exited event)."""

        log.info("Got exited event for %s", upid)
        if upid != self._master or self._state is State.TERMINATING:
            return
        log.warning("Master disconnected! Re-registering when it answers again")
        self._detected()

    def checkpoint_resources(self, sender: UPID,
                             message: messages_pb2.CheckpointResourcesMessage) -> None:
        """The master's view of this agent's dynamic reservations and volumes.

        Checkpointed as Mesos does (`meta/resources/resources.info`); applying
        them (creating persistent volumes) is not supported yet.
        """
        if sender != self._master:
            log.warning("Ignoring checkpoint resources message from %s because it is not "
                        "from the registered master: %s", sender, self._master)
            return
        path = paths.resources_info_path(self._flags.work_dir)
        data = b"".join(checkpoint.framed(resource) for resource in message.resources)
        checkpoint.write_atomic(path, data)
        if len(message.resources):
            log.warning("Checkpointed %d resource(s) from the master; dynamic reservations and "
                        "persistent volumes are not applied by this agent yet",
                        len(message.resources))

    # ============================================================== shutdown
    def shutdown(self, sender: UPID, message: messages_pb2.ShutdownMessage) -> None:

        if sender != self._master:
            log.warning("Ignoring shutdown message from %s because it is not from the "
                        "registered master: %s", sender, self._master)
            return
        log.info("Agent asked to shut down by %s%s", sender,
                 f" because '{message.message}'" if message.message else "")
        self._state = State.TERMINATING
        self._cancel_timer("_registration_timer")
        self._cancel_timer("_ping_timer")
        for framework_id in list(self._frameworks):
            self._shutdown_framework(framework_id)
        self._maybe_terminate()

    def _maybe_terminate(self) -> None:

        if self._state is State.TERMINATING and not self._frameworks:
            log.info("Every framework is shut down; the agent terminates")
            self._terminate_agent(0)

    def _terminate_agent(self, code: int) -> None:
        self._services.exit(code)

    # ============================================================ forwarding
    def forward(self, update: messages_pb2.StatusUpdate) -> None:
        """Sends an update from the status update manager to the master."""

        if self._state is not State.RUNNING or self._master is None:
            log.info("Dropping status update %s: the agent is %s (it is resent once "
                     "registered)", describe_update(update), self._state.value)
            return
        update.status.uuid = update.uuid
        framework = self._frameworks.get(update.framework_id.value)
        if framework is not None:
            executor = framework.executor_for_task(update.status.task_id.value)
            if executor is not None:
                task_id = update.status.task_id.value
                task = executor.launched_tasks.get(task_id) or executor.terminated_tasks.get(
                    task_id)
                if task is not None:
                    task.status_update_state = update.status.state
                    task.status_update_uuid = update.uuid
                    update.latest_state = task.state
        message = messages_pb2.StatusUpdateMessage(pid=str(self.pid.upid))
        message.update.CopyFrom(update)
        log.info("Forwarding the update %s to %s", describe_update(update), self._master)
        self._send(self._master, message)

    # ================================================================ helpers
    def _send(self, to: UPID, message: Any) -> None:
        self.runtime.transport.send(self.pid.upid, to, message)

    def _cancel_timer(self, name: str) -> None:
        timer: Timer | None = getattr(self, name)
        if timer is not None:
            timer.cancel()
            setattr(self, name, None)

    @staticmethod
    def _staging_task(info: mesos_pb2.TaskInfo, framework_id: str) -> mesos_pb2.Task:
        from mesos_py.slave.records import create_task

        return create_task(info, mesos_pb2.TaskState.TASK_STAGING, framework_id)


def parse_master(text: str) -> tuple[str, int]:
    """`host:port` of `--master` (ZooKeeper URLs are not supported yet)."""
    if text.startswith("zk://"):
        raise Failure("ZooKeeper master detection (zk://) is not supported yet; "
                      "give the master as host:port")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise Failure(f"Expecting --master as host:port, got '{text}'")
    return host, int(port)


__all__ = ["AGENT_CAPABILITIES", "MESOS_VERSION", "MasterLink", "agent_info", "is_terminal",
           "parse_master"]
