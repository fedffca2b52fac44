"""Reading back the checkpoints of every container after an agent restart."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from typing import TYPE_CHECKING, Any

from mesos_py.actors import Future, await_all, defer, dispatch, settled
from mesos_py.actors.reaper import alive, start_time
from mesos_py.containerizer.container import Container, State, describe_termination
from mesos_py.containerizer.launcher import read_status
from mesos_py.ids import container_key
from mesos_py.isolators.base import Isolator
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerClass, ContainerConfig,
                                                           ContainerState, ContainerTermination)
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID
from mesos_py.provisioner.provisioner import Provisioner
from mesos_py.slave import checkpoint, paths

log = logging.getLogger(__name__)

# In a container's runtime dir: the name of its IO switchboard's socket.
IO_SWITCHBOARD_FILE = "io_switchboard"


@dataclasses.dataclass
class Checkpointed:
    container_id: ContainerID
    config: ContainerConfig | None = None
    pid: int | None = None
    pid_start: int | None = None
    termination: ContainerTermination | None = None
    io_name: str | None = None
    error: str | None = None


def scan_checkpoints(root: str, runtime_dir: str) -> list[Checkpointed]:
    """Every container under `root/containers`, parents before children."""
    found: list[Checkpointed] = []

    def walk(directory: str, parent: ContainerID | None) -> None:
        containers = os.path.join(directory, "containers")
        if not os.path.isdir(containers):
            return
        for name in sorted(os.listdir(containers)):
            container_id = ContainerID(value=name)
            if parent is not None:
                container_id.parent.CopyFrom(parent)
            here = os.path.join(containers, name)
            found.append(read_checkpoint(here, container_id, runtime_dir))
            walk(here, container_id)

    walk(root, None)
    return found


def read_checkpoint(directory: str, container_id: ContainerID, runtime_dir: str) -> Checkpointed:
    record = Checkpointed(container_id)
    switchboard_file = os.path.join(paths.container_runtime_dir(runtime_dir, container_id),
                                    IO_SWITCHBOARD_FILE)
    if os.path.exists(switchboard_file):
        record.io_name = checkpoint.read_text(switchboard_file).strip() or None
    try:
        record.config = checkpoint.read_message(os.path.join(directory, paths.CONFIG_FILE),
                                                ContainerConfig)
        termination_path = os.path.join(directory, paths.TERMINATION_FILE)
        if os.path.exists(termination_path):
            record.termination = checkpoint.read_message(termination_path, ContainerTermination)
        pid_path = os.path.join(directory, paths.PID_FILE)
        if os.path.exists(pid_path):
            fields = checkpoint.read_text(pid_path).split()
            record.pid, record.pid_start = int(fields[0]), int(fields[1])
    except FileNotFoundError as error:
        record.error = f"missing checkpoint {error.filename}"
    except (checkpoint.CheckpointError, ValueError, IndexError) as error:
        record.error = f"corrupt checkpoint in {directory}: {error}"
    return record


class ContainerizerRecovery:
    """The Containerizer's recovery, after an agent restart (a mixin of it).

    Rebuilds every container from its checkpoints, asks the launcher for
    orphans (containers with processes that no checkpoint knows), tells the
    isolators, destroys the orphans, and watches what still runs.
    """

    # Provided by the Containerizer.
    _flags: Any
    _launcher: Any
    _provisioner: Any
    _isolators: list[Any]
    _containers: dict[str, Container]
    _terminated: dict[str, ContainerTermination]
    pid: Any
    runtime: Any

    if TYPE_CHECKING:  # the Containerizer's own methods
        def _cleanup_isolators(self, key: str, container_id: ContainerID,
                               handles: list[Any]) -> Future[Any]: ...
        def _isolators_for(self, container: Container) -> list[Any]: ...
        def _watch(self, key: str, container: Container) -> None: ...
        def _reaped(self, key: str) -> None: ...
        def _runtime_pool(self) -> Any: ...
        def destroy(self, container_id: ContainerID) -> Future[Any]: ...

    def recover(self, boot_changed: bool) -> Future[None]:
        """Rebuilds every container from `<work_dir>/meta/containers`.

        A corrupt checkpoint is logged and that container skipped; the others
        are still recovered. After a reboot nothing can still be running.
        """
        root = paths.meta_dir(self._flags.work_dir)
        return self._runtime_pool().run(scan_checkpoints, root, self._flags.runtime_dir).then(
            defer(self.pid, lambda found: self._recover_containers(found, boot_changed)))

    def _recover_containers(self, found: list[Checkpointed], boot_changed: bool) -> Future[Any]:
        states: list[ContainerState] = []
        for record in found:
            state = self._recover_one(record, boot_changed)
            if state is not None:
                states.append(state)
        log.info("Recovered %d running and %d terminated containers",
                 len(self._containers), len(self._terminated))
        running = [c.container_id for c in self._containers.values()]
        return self._launcher.recover(running).then(
            defer(self.pid, lambda orphans: self._recover_isolators(states, orphans)))

    def _recover_isolators(self, states: list[ContainerState],
                           orphans: list[ContainerID]) -> Future[Any]:
        for orphan in orphans:
            log.warning("%s: destroying an orphan (its processes are known to the kernel, "
                        "not to any checkpoint)", container_key(orphan))
        recovered = await_all([dispatch(h.pid, Isolator.recover,
                                        [s for s in states if h.supports(s.container_id, True)],
                                        orphans)
                               for h in self._isolators])
        return (recovered.then(defer(self.pid, lambda _: self._recover_provisioner(orphans)))
                .then(defer(self.pid, lambda _: self._destroy_orphans(orphans)))
                .then(defer(self.pid, lambda _: self._watch_recovered())))

    def _recover_provisioner(self, orphans: list[ContainerID]) -> Future[Any]:
        """The provisioner keeps the rootfses of running containers and of
        orphans (destroyed next, the normal way); it removes the others'."""
        if self._provisioner is None:
            return Future.ready(None)
        known = [c.container_id for c in self._containers.values()] + list(orphans)
        return dispatch(self._provisioner, Provisioner.recover, known)

    def _destroy_orphans(self, orphans: list[ContainerID]) -> Future[Any]:
        """Kills and cleans up containers no checkpoint knows, deepest first."""
        chain: Future[Any] = Future.ready(None)
        for orphan in sorted(orphans, key=lambda o: -len(paths.container_lineage(o))):
            chain = chain.then(functools.partial(self._destroy_orphan, orphan))
        return chain

    def _destroy_orphan(self, orphan: ContainerID, _: Any) -> Future[Any]:
        key = container_key(orphan)
        killed = self._launcher.destroy(orphan, None)
        killed.on_failed(lambda message: log.error("%s: failed to kill orphan: %s", key, message))
        return (settled(killed)
                .then(lambda _: self._cleanup_isolators(key, orphan,
                                                        list(reversed(self._isolators))))
                .then(lambda _: self._destroy_orphan_rootfs(orphan)))

    def _destroy_orphan_rootfs(self, orphan: ContainerID) -> Future[Any]:
        if self._provisioner is None:
            return Future.ready(None)
        return settled(dispatch(self._provisioner, Provisioner.destroy, orphan))

    def _recover_one(self, record: Checkpointed, boot_changed: bool) -> ContainerState | None:
        key = container_key(record.container_id)
        if record.error:
            log.error("%s: skipping recovery: %s", key, record.error)
            return None
        if record.termination is not None:
            self._terminated[key] = record.termination
            return None
        assert record.config is not None
        pid = record.pid
        if pid is None or boot_changed or record.pid_start != start_time(pid) or not alive(pid):
            termination = self._termination_while_down(record, boot_changed)
            self._terminated[key] = termination
            self._runtime_pool().run(
                checkpoint.checkpoint_message,
                paths.container_termination_path(self._flags.work_dir, record.container_id),
                termination)
            log.info("%s: ended while the agent was down (%s)", key,
                     describe_termination(termination))
            return None
        container = Container(record.container_id, record.config, State.RUNNING, pid=pid,
                              io_name=record.io_name)
        container.forked.set(pid)
        self._containers[key] = container
        log.info("%s: recovered running container with pid %d", key, pid)
        return ContainerState(container_id=record.container_id, pid=pid,
                              directory=record.config.directory)

    def _termination_while_down(self, record: Checkpointed,
                                boot_changed: bool) -> ContainerTermination:
        termination = ContainerTermination()
        if record.pid is None:
            termination.message = "Container launch was interrupted by an agent restart"
            return termination
        status = read_status(paths.container_status_path(self._flags.runtime_dir,
                                                               record.container_id))
        if status is not None and not boot_changed:
            termination.status = status
        else:
            termination.message = ("The agent host rebooted while the container ran"
                                   if boot_changed else "Exit status of the container is unknown")
        return termination

    def _watch_recovered(self) -> None:
        for key, container in list(self._containers.items()):
            if container.config.container_class == ContainerClass.DEBUG:
                # A session lives as long as its connection, which died with the agent.
                log.info("%s: destroying a debug session that outlived its agent", key)
                self.destroy(container.container_id)
                continue
            assert container.pid is not None
            container.status = self._launcher.wait(container.pid, paths.container_status_path(
                self._flags.runtime_dir, container.container_id))
            container.status.on_any(defer(self.pid, lambda _, k=key: self._reaped(k)))
            self._watch(key, container)

