"""The task status update manager: reliable, ordered delivery of task updates.

One stream per task. An update is checkpointed (appended to the task's
`task.updates` log, when its framework checkpoints) before it is forwarded,
and only the oldest unacknowledged update of a stream is ever in flight: the
next one is forwarded once the master acknowledges it. An unacknowledged
update is forwarded again after 10s, then 20s, ... up to 10 minutes.
A duplicate update (same uuid) is ignored; an acknowledgement that does not
match the update in flight is refused. Acknowledging the terminal update
closes the stream.

While paused (agent recovering or disconnected from the master) nothing is
forwarded; `resume()` forwards the head of every stream at once.

`forward` is the Slave's callback (Mesos's `initialize(forward)`); it runs
in the Slave's mailbox and sends the StatusUpdateMessage.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Any, Callable, Sequence

from mesos_py.actors import Failure, Process, Timer, delay
from mesos_py.protos.messages import messages_pb2
from mesos_py.slave import checkpoint
from mesos_py.slave.records import describe_update, is_terminal

log = logging.getLogger(__name__)

StatusUpdate = messages_pb2.StatusUpdate
Record = messages_pb2.StatusUpdateRecord

RETRY_INTERVAL_MIN = 10.0
RETRY_INTERVAL_MAX = 600.0


@dataclasses.dataclass
class _Stream:
    framework_id: str
    task_id: str
    path: str | None  # the task.updates log; None: not checkpointed
    pending: collections.deque[StatusUpdate] = dataclasses.field(
        default_factory=collections.deque)
    received: set[bytes] = dataclasses.field(default_factory=set)
    acknowledged: set[bytes] = dataclasses.field(default_factory=set)
    terminated: bool = False
    timer: Timer | None = None
    interval: float = RETRY_INTERVAL_MIN


@dataclasses.dataclass
class RecoveredStream:
    """A task's update log, read back at recovery."""

    framework_id: str
    task_id: str
    path: str
    records: list[messages_pb2.StatusUpdateRecord]


class StatusUpdateManager(Process):
    def __init__(self, retry_min: float = RETRY_INTERVAL_MIN,
                 retry_max: float = RETRY_INTERVAL_MAX) -> None:
        super().__init__()
        self._retry_min, self._retry_max = retry_min, retry_max
        self._forward: Callable[[StatusUpdate], Any] | None = None
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._paused = True

    def set_forward(self, forward: Callable[[StatusUpdate], Any]) -> None:
        self._forward = forward

    # ============================================================== updates
    def update(self, update: StatusUpdate, path: str | None = None) -> None:
        """Checkpoints (to `path`) and queues `update` for forwarding.

        Ready once the update is durable: the executor may then forget it.
        """
        key = (update.framework_id.value, update.status.task_id.value)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(key[0], key[1], path, interval=self._retry_min)
        if update.uuid in stream.received:
            log.warning("Ignoring duplicate status update %s", describe_update(update))
            return
        if stream.terminated:
            raise Failure(f"Cannot accept status update {describe_update(update)}: the task's "
                          "terminal update was already acknowledged")
        if stream.path is not None:
            try:
                checkpoint.append_record(stream.path, Record(type=Record.UPDATE, update=update))
            except OSError as error:
                raise Failure(f"Failed to checkpoint status update {describe_update(update)} "
                              f"to '{stream.path}': {error}")
        stream.received.add(update.uuid)
        stream.pending.append(update)
        log.info("Received status update %s", describe_update(update))
        if len(stream.pending) == 1:
            self._send(stream)

    def acknowledgement(self, framework_id: str, task_id: str, uuid: bytes) -> bool:
        """Records the master's acknowledgement of the update in flight.

        True if this closed the stream (the terminal update was acknowledged).
        A Failure for an acknowledgement of anything but the update in flight.
        """
        stream = self._streams.get((framework_id, task_id))
        if stream is None:
            raise Failure(f"Cannot find the status update stream for task {task_id} of "
                          f"framework {framework_id}")
        if uuid in stream.acknowledged:
            raise Failure(f"Duplicate acknowledgement for task {task_id} of framework "
                          f"{framework_id}")
        if not stream.pending or stream.pending[0].uuid != uuid:
            raise Failure(f"Unexpected status update acknowledgement for task {task_id} of "
                          f"framework {framework_id}")
        update = stream.pending.popleft()
        if stream.path is not None:
            try:
                checkpoint.append_record(stream.path, Record(type=Record.ACK, uuid=uuid))
            except OSError as error:
                raise Failure(f"Failed to checkpoint acknowledgement of task {task_id}: {error}")
        stream.acknowledged.add(uuid)
        if stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None
        stream.interval = self._retry_min
        log.info("Received status update acknowledgement for %s", describe_update(update))
        if is_terminal(update.status.state):
            stream.terminated = True
            if not stream.pending:
                del self._streams[(framework_id, task_id)]
            return True
        if stream.pending:
            self._send(stream)
        return False

    # ======================================================== pause/resume
    def pause(self) -> None:
        if not self._paused:
            log.info("Pausing sending task status updates")
        self._paused = True

    def resume(self) -> None:
        log.info("Resuming sending task status updates")
        self._paused = False
        for stream in self._streams.values():
            if stream.pending:
                stream.interval = self._retry_min
                self._send(stream)

    # ============================================================ recovery
    def recover(self, streams: Sequence[RecoveredStream]) -> None:
        """Rebuilds streams from their logs: updates without an ACK are pending."""
        for recovered in streams:
            stream = _Stream(recovered.framework_id, recovered.task_id, recovered.path,
                             interval=self._retry_min)
            for record in recovered.records:
                if record.type == Record.UPDATE:
                    stream.received.add(record.update.uuid)
                    stream.pending.append(record.update)
                elif stream.pending and stream.pending[0].uuid == record.uuid:
                    acked = stream.pending.popleft()
                    stream.acknowledged.add(record.uuid)
                    stream.terminated = stream.terminated or is_terminal(acked.status.state)
            if stream.pending or not stream.terminated:
                self._streams[(stream.framework_id, stream.task_id)] = stream
        log.info("Recovered %d task status update stream(s)", len(self._streams))

    def cleanup(self, framework_id: str) -> None:
        """Forgets every stream of a removed framework."""
        for key in [k for k in self._streams if k[0] == framework_id]:
            stream = self._streams.pop(key)
            if stream.timer is not None:
                stream.timer.cancel()

    def pending_count(self) -> int:
        return sum(len(s.pending) for s in self._streams.values())

    # ============================================================= sending
    def _send(self, stream: _Stream) -> None:
        if self._paused or not stream.pending or self._forward is None:
            return
        update = StatusUpdate()
        update.CopyFrom(stream.pending[0])  # the Slave amends its copy (latest_state)
        self._forward(update)
        if stream.timer is not None:
            stream.timer.cancel()
        stream.timer = delay(self.runtime.clock, stream.interval, self.pid, self._timeout,
                             stream, update.uuid)

    def _timeout(self, stream: _Stream, uuid: bytes) -> None:
        stream.timer = None
        if self._streams.get((stream.framework_id, stream.task_id)) is not stream:
            return
        if not stream.pending or stream.pending[0].uuid != uuid or self._paused:
            return
        stream.interval = min(stream.interval * 2, self._retry_max)
        log.info("Resending status update %s", describe_update(stream.pending[0]))
        self._send(stream)
