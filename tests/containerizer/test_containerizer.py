"""The Containerizer actor with real processes, and races staged by a test isolator.

`StagedIsolator` is a test double: its prepare/isolate/watch return promises the
test holds, so a destroy can be made to land in the middle of a launch.
"""

from __future__ import annotations

import os
import time
from typing import Iterator

import pytest

from mesos_py.actors import Failure, Future, Promise, Runtime, dispatch
from mesos_py.actors.testing import await_completion, await_failed, await_ready
from mesos_py.containerizer.containerizer import (Containerizer, ContainerizerFlags,
                                                  LaunchResult)
from mesos_py.containerizer.launcher import PosixLauncher
from mesos_py.isolators.base import Isolator, IsolatorHandle
from mesos_py.isolators.posix import PosixCpuIsolator
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig, ContainerLimitation
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, Resource, TaskState, TaskStatus, Value
from tests.agent import wait_until


class StagedIsolator(Isolator):
    """Test double: each stage waits for a promise the test controls."""

    NAME = "test/staged"
    SUPPORTS_STANDALONE = True
    SUPPORTS_NESTING = True

    def __init__(self, journal: list[str], label: str) -> None:
        super().__init__(names=["test/" + label])
        self.journal, self.label = journal, label
        self.prepare_gate: Promise[None] | None = None
        self.isolate_gate: Promise[None] | None = None
        self.limitation: Promise[ContainerLimitation] = Promise()
        self.fail_prepare: str | None = None

    def stage(self, prepare: bool = False, isolate: bool = False,
              fail_prepare: str | None = None) -> tuple[Promise[None], Promise[None]]:
        self.prepare_gate = Promise() if prepare else None
        self.isolate_gate = Promise() if isolate else None
        self.fail_prepare = fail_prepare
        return self.prepare_gate or Promise(), self.isolate_gate or Promise()

    def prepare(self, container_id, config):  # type: ignore[no-untyped-def]
        self.journal.append(f"{self.label}:prepare")
        if self.fail_prepare:
            raise Failure(self.fail_prepare)
        return self.prepare_gate.future.then(lambda _: None) if self.prepare_gate else None

    def isolate(self, container_id, pid):  # type: ignore[no-untyped-def]
        self.journal.append(f"{self.label}:isolate")
        return self.isolate_gate.future if self.isolate_gate else None

    def watch(self, container_id):  # type: ignore[no-untyped-def]
        return self.limitation.future

    def cleanup(self, container_id):  # type: ignore[no-untyped-def]
        self.journal.append(f"{self.label}:cleanup")


class Harness:
    def __init__(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        self.runtime = Runtime()
        self.launcher = PosixLauncher(self.runtime)
        self.journal: list[str] = []
        first = StagedIsolator(self.journal, "first")
        second = StagedIsolator(self.journal, "second")
        self.first, self.second = first, second
        self.work_dir = str(tmp_path / "work")
        handles = [
            IsolatorHandle("test/first", StagedIsolator,
                           self.runtime.spawn(lambda: first, name="first")),  # type: ignore[arg-type]
            IsolatorHandle("test/second", StagedIsolator,
                           self.runtime.spawn(lambda: second, name="second")),  # type: ignore[arg-type]
            IsolatorHandle("posix/cpu", PosixCpuIsolator, self.runtime.spawn(PosixCpuIsolator)),
        ]
        self.containerizer = self.runtime.spawn(
            Containerizer, ContainerizerFlags(self.work_dir, str(tmp_path / "run")),
            self.launcher, handles)
        await_ready(dispatch(self.containerizer, Containerizer.recover, False))

    def config(self, container_id: ContainerID, command: str) -> ContainerConfig:
        config = ContainerConfig(directory=os.path.join(self.work_dir, "containers",
                                                        container_id.value))
        config.command_info.value = command
        return config

    def launch(self, name: str, command: str) -> tuple[ContainerID, Future[LaunchResult]]:
        container_id = ContainerID(value=name)
        return container_id, dispatch(self.containerizer, Containerizer.launch, container_id,
                                      self.config(container_id, command))

    def stop(self) -> None:
        self.launcher.stop()
        self.runtime.stop()


@pytest.fixture
def harness(tmp_path) -> Iterator[Harness]:  # type: ignore[no-untyped-def]
    harness = Harness(tmp_path)
    yield harness
    harness.stop()


def test_launch_then_wait_gives_the_raw_status(harness: Harness) -> None:
    container_id, launch = harness.launch("plain", "exit 3")
    assert await_ready(launch) is LaunchResult.SUCCESS
    termination = await_ready(dispatch(harness.containerizer, Containerizer.wait, container_id))
    assert termination.status == 3 << 8
    # prepare in order, isolate in parallel (any order), cleanup in reverse order
    assert harness.journal[:2] == ["first:prepare", "second:prepare"]
    assert sorted(harness.journal[2:4]) == ["first:isolate", "second:isolate"]
    assert harness.journal[4:] == ["second:cleanup", "first:cleanup"]


def test_second_launch_of_the_same_id_is_already_launched(harness: Harness) -> None:
    gate, _ = harness.first.stage(prepare=True)
    container_id, first = harness.launch("twice", "true")
    _, second = harness.launch("twice", "true")
    assert await_ready(second) is LaunchResult.ALREADY_LAUNCHED
    assert first.is_pending()
    # A destroy waits for a prepare in flight (as Mesos's does): let it end.
    destroy = dispatch(harness.containerizer, Containerizer.destroy, container_id)
    gate.set(None)
    await_ready(destroy)


def test_destroy_while_preparing_waits_for_prepare_and_never_forks(harness: Harness) -> None:
    gate, _ = harness.first.stage(prepare=True)
    container_id, launch = harness.launch("early", "touch ran")
    wait_until(lambda: "first:prepare" in harness.journal)
    destroy = dispatch(harness.containerizer, Containerizer.destroy, container_id)
    time.sleep(0.2)
    assert destroy.is_pending(), "cleanup must wait for the prepare in flight"
    assert "first:cleanup" not in harness.journal
    gate.set(None)
    termination = await_ready(destroy)
    assert not termination.HasField("status")
    assert "destroyed" in await_failed(launch)
    assert "second:prepare" not in harness.journal
    assert harness.journal[-2:] == ["second:cleanup", "first:cleanup"]
    sandbox = harness.config(container_id, "").directory
    assert not os.path.exists(os.path.join(sandbox, "ran"))


def test_destroy_while_isolating_kills_the_unreleased_process(harness: Harness) -> None:
    _, isolate_gate = harness.second.stage(isolate=True)
    container_id, launch = harness.launch("mid", "touch ran")
    wait_until(lambda: "second:isolate" in harness.journal)
    destroy = dispatch(harness.containerizer, Containerizer.destroy, container_id)
    time.sleep(0.2)
    assert destroy.is_pending(), "cleanup must wait for the isolate in flight"
    isolate_gate.set(None)
    termination = await_ready(destroy)
    assert termination.status in (9, 1 << 8)  # killed, or saw the sync pipe close
    assert "destroyed" in await_failed(launch)
    sandbox = harness.config(container_id, "").directory
    assert not os.path.exists(os.path.join(sandbox, "ran")), "the command must never run"


def test_prepare_failure_fails_the_launch_and_forgets_the_container(harness: Harness) -> None:
    harness.second.stage(fail_prepare="second refuses")
    container_id, launch = harness.launch("refused", "true")
    assert await_failed(launch) == "second refuses"
    wait_until(lambda: "first:cleanup" in harness.journal)
    assert await_ready(dispatch(harness.containerizer, Containerizer.wait, container_id)) is None
    meta = os.path.join(harness.work_dir, "meta", "containers", "refused")
    wait_until(lambda: not os.path.exists(meta))


def test_limitation_destroys_with_reason(harness: Harness) -> None:
    container_id, launch = harness.launch("greedy", "sleep 100")
    await_ready(launch)
    limitation = ContainerLimitation(message="Memory limit exceeded",
                                     reason=TaskStatus.REASON_CONTAINER_LIMITATION_MEMORY)
    limitation.resources.add(name="mem", type=Value.SCALAR).scalar.value = 64
    harness.first.limitation.set(limitation)
    termination = await_ready(dispatch(harness.containerizer, Containerizer.wait, container_id))
    assert termination.state == TaskState.TASK_FAILED
    assert termination.reason == TaskStatus.REASON_CONTAINER_LIMITATION_MEMORY
    assert termination.message == "Memory limit exceeded"
    assert termination.limited_resources[0].name == "mem"
    assert termination.status == 9


def test_kill_before_the_pid_exists_destroys(harness: Harness) -> None:
    harness.first.stage(prepare=True)
    container_id, launch = harness.launch("killed-early", "true")
    assert await_ready(dispatch(harness.containerizer, Containerizer.kill, container_id, 15))
    await_completion(launch)
    assert launch.is_failed() or launch.is_discarded()
    termination = await_ready(dispatch(harness.containerizer, Containerizer.wait, container_id))
    assert termination is None or not termination.HasField("status")


def test_usage_of_unknown_container_fails(harness: Harness) -> None:
    message = await_failed(dispatch(harness.containerizer, Containerizer.usage,
                                    ContainerID(value="nope")))
    assert "Unknown container nope" == message


def test_update_reaches_isolators_and_changes_reported_limits(harness: Harness) -> None:
    container_id, launch = harness.launch("grow", "sleep 100")
    await_ready(launch)
    cpus = Resource(name="cpus", type=Value.SCALAR)
    cpus.scalar.value = 1.5
    await_ready(dispatch(harness.containerizer, Containerizer.update, container_id, [cpus],
                         {"mem": 256.0}))
    usage = await_ready(dispatch(harness.containerizer, Containerizer.usage, container_id))
    assert usage.cpus_soft_limit == 1.5
    assert usage.mem_limit_bytes == 256 << 20
    await_ready(dispatch(harness.containerizer, Containerizer.destroy, container_id))
    message = await_failed(dispatch(harness.containerizer, Containerizer.update, container_id,
                                    [cpus], {}))
    assert message == "Unknown container grow"


def test_attach_needs_a_switchboard(harness: Harness) -> None:
    message = await_failed(dispatch(harness.containerizer, Containerizer.attach,
                                    ContainerID(value="any")))
    assert message == "Unknown container any"
    container_id, launch = harness.launch("plain", "sleep 100")
    await_ready(launch)
    message = await_failed(dispatch(harness.containerizer, Containerizer.attach, container_id))
    assert message == "I/O switchboard server was disabled for this container"
    await_ready(dispatch(harness.containerizer, Containerizer.destroy, container_id))
