"""The status update manager with a paused clock: checkpoint, order, retries, ACKs."""

from __future__ import annotations

import os
import threading
import uuid
from typing import Iterator

import pytest

from mesos_py.actors import Runtime, dispatch
from mesos_py.actors.testing import await_failed, await_ready
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.messages import messages_pb2
from mesos_py.slave import checkpoint
from mesos_py.slave.status_update_manager import RecoveredStream, StatusUpdateManager

SUM = StatusUpdateManager


class Forwarded:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.updates: list[messages_pb2.StatusUpdate] = []

    def __call__(self, update: messages_pb2.StatusUpdate) -> None:
        with self.lock:
            self.updates.append(update)

    def states(self) -> list[str]:
        with self.lock:
            return [mesos_pb2.TaskState.Name(u.status.state) for u in self.updates]


@pytest.fixture
def setup() -> Iterator[tuple[Runtime, object, Forwarded]]:
    runtime = Runtime()
    runtime.clock.pause()
    forwarded = Forwarded()
    pid = runtime.spawn(StatusUpdateManager, 10.0, 600.0)
    await_ready(dispatch(pid, SUM.set_forward, forwarded))
    await_ready(dispatch(pid, SUM.resume))
    yield runtime, pid, forwarded
    runtime.stop()


def update(task: str, state: int) -> messages_pb2.StatusUpdate:
    result = messages_pb2.StatusUpdate(timestamp=1.0, uuid=uuid.uuid4().bytes)
    result.framework_id.value = "f"
    result.status.task_id.value = task
    result.status.state = state  # type: ignore[assignment]
    return result


RUNNING, FINISHED = mesos_pb2.TaskState.TASK_RUNNING, mesos_pb2.TaskState.TASK_FINISHED


def test_only_the_head_is_in_flight_and_acks_release_the_next(setup, tmp_path):
    runtime, pid, forwarded = setup
    path = str(tmp_path / "task.updates")
    running, finished = update("t", RUNNING), update("t", FINISHED)
    await_ready(dispatch(pid, SUM.update, running, path))
    await_ready(dispatch(pid, SUM.update, finished, path))
    runtime.settle()
    assert forwarded.states() == ["TASK_RUNNING"]
    # Both are durable before anything was forwarded.
    records, truncated = checkpoint.read_records(path, messages_pb2.StatusUpdateRecord)
    assert [r.update.uuid for r in records] == [running.uuid, finished.uuid] and not truncated
    assert await_ready(dispatch(pid, SUM.acknowledgement, "f", "t", running.uuid)) is False
    runtime.settle()
    assert forwarded.states() == ["TASK_RUNNING", "TASK_FINISHED"]
    assert await_ready(dispatch(pid, SUM.acknowledgement, "f", "t", finished.uuid)) is True
    records, _ = checkpoint.read_records(path, messages_pb2.StatusUpdateRecord)
    assert [r.type for r in records] == [0, 0, 1, 1]


def test_unacknowledged_updates_are_retried_with_backoff(setup):
    runtime, pid, forwarded = setup
    await_ready(dispatch(pid, SUM.update, update("t", RUNNING), None))
    runtime.settle()
    assert len(forwarded.updates) == 1
    runtime.clock.advance(9.9)
    runtime.settle()
    assert len(forwarded.updates) == 1
    runtime.clock.advance(0.2)  # 10s: first retry
    runtime.settle()
    assert len(forwarded.updates) == 2
    runtime.clock.advance(19)
    runtime.settle()
    assert len(forwarded.updates) == 2
    runtime.clock.advance(1.1)  # 20s more: second retry
    runtime.settle()
    assert len(forwarded.updates) == 3
    assert len({u.uuid for u in forwarded.updates}) == 1


def test_paused_manager_sends_nothing_until_resumed(setup):
    runtime, pid, forwarded = setup
    await_ready(dispatch(pid, SUM.pause))
    await_ready(dispatch(pid, SUM.update, update("t", RUNNING), None))
    runtime.clock.advance(100)
    runtime.settle()
    assert forwarded.updates == []
    await_ready(dispatch(pid, SUM.resume))
    runtime.settle()
    assert forwarded.states() == ["TASK_RUNNING"]


def test_duplicates_and_wrong_acks(setup):
    runtime, pid, forwarded = setup
    running = update("t", RUNNING)
    await_ready(dispatch(pid, SUM.update, running, None))
    await_ready(dispatch(pid, SUM.update, running, None))  # same uuid: ignored
    runtime.settle()
    assert len(forwarded.updates) == 1
    assert "Unexpected" in await_failed(dispatch(pid, SUM.acknowledgement, "f", "t",
                                                 uuid.uuid4().bytes))
    assert "Cannot find" in await_failed(dispatch(pid, SUM.acknowledgement, "f", "x",
                                                  running.uuid))
    await_ready(dispatch(pid, SUM.acknowledgement, "f", "t", running.uuid))
    assert "Duplicate" in await_failed(dispatch(pid, SUM.acknowledgement, "f", "t",
                                                running.uuid))


def test_recovered_streams_resend_what_was_not_acknowledged(setup, tmp_path):
    runtime, pid, forwarded = setup
    path = str(tmp_path / "task.updates")
    running, finished = update("t", RUNNING), update("t", FINISHED)
    Record = messages_pb2.StatusUpdateRecord
    for record in (Record(type=Record.UPDATE, update=running),
                   Record(type=Record.ACK, uuid=running.uuid),
                   Record(type=Record.UPDATE, update=finished)):
        checkpoint.append_record(path, record)
    with open(path, "ab") as log:
        log.write(b"\x40\x00\x00\x00half a record")  # a crash mid-append
    records, truncated = checkpoint.read_records(path, Record)
    assert truncated and len(records) == 3
    await_ready(dispatch(pid, SUM.pause))
    await_ready(dispatch(pid, SUM.recover, [RecoveredStream("f", "t", path, records)]))
    await_ready(dispatch(pid, SUM.resume))
    runtime.settle()
    assert [u.uuid for u in forwarded.updates] == [finished.uuid]
    assert await_ready(dispatch(pid, SUM.pending_count)) == 1
    assert os.path.exists(path)
