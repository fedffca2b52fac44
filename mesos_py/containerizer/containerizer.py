"""The Mesos containerizer as an actor.

It owns every container of the agent (`_containers`, keyed `root.child`) and
walks each through PROVISIONING → PREPARING → ISOLATING → FETCHING → RUNNING
→ DESTROYING: the Provisioner makes the root filesystem of its image (if it
has one), the isolators prepare, the launcher forks, the isolators isolate,
the Fetcher fetches its URIs into the sandbox, and the command is released.
Every continuation runs back on this actor (`defer(self.pid, ...)`) and first
looks the container up again: it may have been destroyed meanwhile.

Checkpoint first, then act: the config is on disk before the fork, the pid
before the command is released, the termination before anyone is told.
Terminated containers keep their termination (on disk and here) until
REMOVE_CONTAINER or a relaunch of the same id, so WAIT_CONTAINER answers even
after the container ended (Mesos 1.11 answers 404 for an ended top-level
container, which is racy for its callers).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import time
import uuid
from typing import Any, Mapping, Sequence

from mesos_py.actors import (PID, Failure, Future, Process, await_all, collect, defer, dispatch,
                             settled, undiscardable)
from mesos_py.actors.reaper import start_time
from mesos_py.containerizer.launch import command_status_path
from mesos_py.containerizer.launch_request import build_launch_request, needs_switchboard, user_ids
from mesos_py.containerizer.launcher import LaunchRequest, PosixLauncher
from mesos_py.containerizer.container import (Container, ContainerizerFlags, LaunchResult,
                                              State, describe_termination, signal_name)
from mesos_py.containerizer.fetcher import Fetcher
from mesos_py.containerizer.recovery import (IO_SWITCHBOARD_FILE, ContainerizerRecovery)
from mesos_py.containerizer.usage import merge_usage
from mesos_py.errors import InvalidRequest, NotFound
from mesos_py.ids import container_key, parent_key
from mesos_py.isolators.base import Isolator, IsolatorHandle
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerClass, ContainerConfig,
                                                           ContainerLaunchInfo,
                                                           ContainerLimitation, ContainerTermination)
from mesos_py.protos.mesos.v1.mesos_pb2 import (ContainerID, ContainerInfo, ContainerStatus,
                                                Image, Resource, ResourceStatistics, TaskState)
from mesos_py.provisioner.image import ProvisionInfo
from mesos_py.provisioner.provisioner import Provisioner
from mesos_py.slave import checkpoint, paths

log = logging.getLogger(__name__)

class Containerizer(ContainerizerRecovery, Process):
    def __init__(self, flags: ContainerizerFlags, launcher: PosixLauncher,
                 isolators: Sequence[IsolatorHandle],
                 provisioner: PID[Provisioner] | None = None,
                 fetcher: PID[Fetcher] | None = None) -> None:
        super().__init__()
        self._flags = flags
        self._launcher = launcher
        self._isolators = list(isolators)
        self._provisioner = provisioner
        self._fetcher = fetcher
        self._containers: dict[str, Container] = {}
        self._terminated: dict[str, ContainerTermination] = {}

    # ================================================================ launch
    def launch(self, container_id: ContainerID, config: ContainerConfig) -> Future[LaunchResult] | LaunchResult:
        key = container_key(container_id)
        if key in self._containers:
            return LaunchResult.ALREADY_LAUNCHED
        self._check_launchable(container_id, config)
        if container_id.HasField("parent"):
            config = self._nested_config(container_id, config)
        container = Container(container_id, config, State.PROVISIONING)
        if needs_switchboard(config):
            container.io_name = f"mesos-py-io-{uuid.uuid4().hex}"
        self._containers[key] = container
        self._forget_termination(key)
        log.info("%s: launching (command %r)", key, _describe_command(config))
        pool = self._runtime_pool()
        directories = pool.run(self._make_directories, container_id, config, container.io_name)
        # Serialized here: the actor changes the config (the rootfs) while the pool writes.
        framed = checkpoint.framed(config)
        checkpointed = pool.run(self._checkpoint_first_config, container_id, framed)
        # Files for the checkpoints still to come, made while nothing waits for them.
        spares = await_all([directories, checkpointed]).then(
            lambda _: pool.run(self._make_spares, container_id, config))
        spares.on_failed(lambda message: log.warning("%s: no spare checkpoint files: %s",
                                                     key, message))
        container.spares = spares  # a destroy waits for it: it writes in the meta dir
        if _has_image(config):
            # Provisioning overlaps the config's first checkpoint (an fsync),
            # which makes a launch the agent does not live to finish known at
            # recovery; the checkpoint with the rootfs follows it.
            provisioned = self._provision(key)
            prepared = _all_completed([checkpointed, provisioned]).then(defer(
                self.pid, lambda both: self._prepare_provisioned(key, both[1])))
        else:
            # The config's checkpoint (an fsync) overlaps the isolators'
            # prepare; the fork waits for both, so it is on disk before any
            # process exists.
            prepared = _all_completed([checkpointed, directories.then(
                defer(self.pid, lambda _: self._prepare(key)))]).then(lambda both: both[1])
        launch = (prepared
                  .then(defer(self.pid, lambda infos: self._fork(key, infos)))
                  .then(defer(self.pid, lambda _: self._fetch_and_exec(key))))
        container.launch = launch
        # A failed launch is answered only once the container is gone, so the
        # caller never sees a half-launched container after the failure.
        return launch.recover(defer(self.pid, lambda failed: self._launch_failed(key, failed)))

    def _check_launchable(self, container_id: ContainerID, config: ContainerConfig) -> None:
        if container_id.HasField("parent"):
            parent = self._containers.get(container_key(container_id.parent))
            if parent is None:
                raise InvalidRequest(
                    f"Parent container {container_key(container_id.parent)} does not exist")
            if parent.state is State.DESTROYING:
                raise InvalidRequest(f"Parent container {container_key(container_id.parent)} "
                                     "is in 'DESTROYING' state")
            if config.HasField("task_info") or config.HasField("executor_info"):
                raise InvalidRequest("Nested containers may not supply a TaskInfo/ExecutorInfo")
        if config.HasField("container_info"):
            info = config.container_info
            if info.type != ContainerInfo.MESOS:
                raise InvalidRequest(
                    f"Unsupported container type: {ContainerInfo.Type.Name(info.type)}")
            if info.HasField("mesos") and info.mesos.HasField("image") \
                    and self._provisioner is None:
                # Mesos's answer without --image_providers.
                image_type = info.mesos.image.Type.Name(info.mesos.image.type)
                raise InvalidRequest(f"Unsupported container image type: {image_type}")
        if config.command_info.uris and self._fetcher is None:
            raise InvalidRequest("Fetching CommandInfo.uris is not supported by this agent")
        if config.HasField("user"):
            user_ids(config.user)  # raises for an unknown user

    def _nested_config(self, container_id: ContainerID, config: ContainerConfig) -> ContainerConfig:
        """A nested container lives in its parent's sandbox and, unless told
        otherwise, runs as its parent's user (Mesos's rules)."""
        parent = self._containers[container_key(container_id.parent)].config
        nested = ContainerConfig()
        nested.CopyFrom(config)
        nested.directory = paths.nested_sandbox(parent.directory, container_id)
        if not nested.HasField("user") and parent.HasField("user"):
            nested.user = parent.user
        return nested

    def _make_directories(self, container_id: ContainerID, config: ContainerConfig,
                          io_name: str | None) -> None:
        """The sandbox and runtime directory, cleared of a previous run's records.

        Runs on the blocking pool: touches only the filesystem.
        """
        runtime = paths.container_runtime_dir(self._flags.runtime_dir, container_id)
        os.makedirs(runtime, exist_ok=True)
        switchboard_file = os.path.join(runtime, IO_SWITCHBOARD_FILE)
        if io_name is not None:
            checkpoint.checkpoint_text(switchboard_file, io_name)
        else:
            _remove_file(switchboard_file)
        status_path = paths.container_status_path(self._flags.runtime_dir, container_id)
        _remove_file(status_path)
        _remove_file(command_status_path(status_path))
        os.makedirs(config.directory, mode=0o750, exist_ok=True)
        if config.HasField("user"):
            uid, gid, _ = user_ids(config.user)
            os.chown(config.directory, uid, gid)

    def _checkpoint_first_config(self, container_id: ContainerID, framed: bytes) -> None:
        """Blocking: the config on disk, a previous run's pid and termination gone."""
        work_dir = self._flags.work_dir
        _remove_file(paths.container_pid_path(work_dir, container_id))
        _remove_file(paths.container_termination_path(work_dir, container_id))
        checkpoint.write_atomic(paths.container_config_path(work_dir, container_id), framed)

    def _make_spares(self, container_id: ContainerID, config: ContainerConfig) -> None:
        """Blocking: spare files for the checkpoints to come, the file in which
        the container's init records its command's status, stdout and stderr."""
        work_dir = self._flags.work_dir
        spared = [paths.container_pid_path(work_dir, container_id),
                  paths.container_termination_path(work_dir, container_id)]
        if _has_image(config):
            spared.append(paths.container_config_path(work_dir, container_id))
        checkpoint.make_spares(spared)
        status = paths.container_status_path(self._flags.runtime_dir, container_id)
        _touch(command_status_path(status), 0o600)
        for name in ("stdout", "stderr"):  # else made at the fork
            _touch(os.path.join(config.directory, name), 0o644)

    def _provision(self, key: str) -> Future[ProvisionInfo]:
        """The root filesystem of the container's image."""
        container = self._live(key, "provisioning")
        assert self._provisioner is not None
        container.provisioning = dispatch(self._provisioner, Provisioner.provision,
                                          container.container_id,
                                          container.config.container_info.mesos.image)
        return container.provisioning

    def _prepare_provisioned(self, key: str, provisioned: ProvisionInfo
                             ) -> Future[list[ContainerLaunchInfo]]:
        # The config's checkpoint with the rootfs (an fsync) overlaps the
        # isolators' prepare and the fork; the release waits for it, so
        # recovery knows the rootfs and the image's runtime config before
        # the command runs in it.
        self._live(key, "provisioning").config_written = \
            self._checkpoint_provisioned(key, provisioned)
        return self._prepare(key)

    def _checkpoint_provisioned(self, key: str, provisioned: ProvisionInfo) -> Future[None]:
        container = self._live(key, "provisioning")
        config = container.config
        config.rootfs = provisioned.rootfs
        config.ephemeral_volumes.extend(provisioned.ephemeral_volumes)
        if provisioned.docker_manifest is not None:
            config.docker.manifest.CopyFrom(provisioned.docker_manifest)
        if provisioned.appc_manifest is not None:
            config.appc.manifest.CopyFrom(provisioned.appc_manifest)
        path = paths.container_config_path(self._flags.work_dir, container.container_id)
        return self._runtime_pool().run(checkpoint.checkpoint_message, path, config,
                                        checkpoint.spare_path(path))

    def _prepare(self, key: str) -> Future[list[ContainerLaunchInfo]]:
        container = self._transition(key, State.PREPARING)
        # Isolators prepare one after another, in isolation order, so a later
        # one can rely on what an earlier one set up. Each step is sent from
        # the previous isolator's thread (a hop fewer per isolator), and none
        # starts once the container is being destroyed.
        chain: Future[list[ContainerLaunchInfo]] = Future.ready([])
        for handle in self._isolators_for(container):
            chain = chain.then(functools.partial(
                _prepare_one, handle, container.container_id, container.config,
                container.destroying.future))
        return chain

    def _fork(self, key: str, infos: list[ContainerLaunchInfo]) -> Future[int]:
        container = self._live(key, "forking")
        container.fork_started = True
        request = self._launch_request(container, infos)
        read_fd, container.sync_fd = os.pipe2(os.O_CLOEXEC)
        try:
            forked = self._launcher.fork(container.container_id, request, read_fd)
        finally:
            os.close(read_fd)
        forked.on_any(lambda f: container.forked.set(f.value() if f.is_ready() else None))
        return forked.then(defer(self.pid, lambda pid: self._after_fork(key, pid, request)))

    def _after_fork(self, key: str, pid: int, request: LaunchRequest) -> Future[Any]:
        container = self._containers.get(key)
        if container is None or container.state is State.DESTROYING:
            # Closing the sync pipe (on destroy) makes the child exit unrun.
            raise Failure("Container destroyed while forking")
        container.pid = pid
        container.own_pid_namespace = "pid" in request.clone
        container.status = self._launcher.wait(pid, request.status_path)
        container.status.on_any(defer(self.pid, lambda _: self._reaped(key)))
        log.info("%s: forked pid %d", key, pid)
        record = f"{pid} {start_time(pid) or 0}"
        # The pid must be on disk before the command may run: a restarted
        # agent has to find every process it ever released. Its fsync
        # overlaps the isolators' isolate; the release waits for both.
        path = paths.container_pid_path(self._flags.work_dir, container.container_id)
        checkpointed = self._runtime_pool().run(checkpoint.checkpoint_text, path, record,
                                                checkpoint.spare_path(path))
        return _all_completed([checkpointed, self._isolate(key, pid),
                               container.config_written or Future.ready(None)])

    def _isolate(self, key: str, pid: int) -> Future[Any]:
        container = self._transition(key, State.ISOLATING)
        return collect([dispatch(h.pid, Isolator.isolate, container.container_id, pid)
                        for h in self._isolators_for(container)])

    def _fetch_and_exec(self, key: str) -> Future[LaunchResult]:
        fetching = self._fetch(key)
        if fetching is None:
            # Nothing to fetch: RUNNING follows FETCHING in the same step.
            return Future.ready(self._exec(key))
        return fetching.then(defer(self.pid, lambda _: self._exec(key)))

    def _fetch(self, key: str) -> Future[None] | None:
        container = self._transition(key, State.FETCHING)
        config = container.config
        if not config.command_info.uris or self._fetcher is None:
            return None
        return dispatch(self._fetcher, Fetcher.fetch, container.container_id,
                        list(config.command_info.uris), config.directory,
                        config.user if config.HasField("user") else None)

    def _exec(self, key: str) -> LaunchResult:
        container = self._transition(key, State.RUNNING)
        assert container.sync_fd is not None
        try:
            os.write(container.sync_fd, b"\x01")
        except BrokenPipeError:
            # Its set-up failed before the release (a mount): it has exited,
            # and its status tells, as for a failure after the release.
            log.warning("%s: the container's first process exited before its release", key)
        self._close_sync(container)
        self._watch(key, container)
        return LaunchResult.SUCCESS

    def _watch(self, key: str, container: Container) -> None:
        # Sent once the command is released, off the launch's critical path:
        # a limitation can only arise from a running container.
        for handle in self._isolators_for(container):
            dispatch(handle.pid, Isolator.watch, container.container_id).on_ready(
                defer(self.pid, lambda limitation: self._limited(key, limitation)))

    def _launch_failed(self, key: str, failed: Future[Any]) -> Future[Any]:
        container = self._containers.get(key)
        if container is None:
            return failed
        if container.state is not State.DESTROYING:
            log.warning("%s: launch failed: %s", key,
                        failed.failure() if failed.is_failed() else "discarded")
            container.discard_on_failure = True
        return self.destroy(container.container_id).then(lambda _: failed)

    def _launch_request(self, container: Container, infos: list[ContainerLaunchInfo]) -> LaunchRequest:
        parent_pid, parent = None, None
        if container.container_id.HasField("parent"):
            parent = self._containers.get(container_key(container.container_id.parent))
            parent_pid = parent.pid if parent is not None else None
        request = build_launch_request(
            container.container_id, container.config, infos,
            paths.container_status_path(self._flags.runtime_dir, container.container_id),
            io_name=container.io_name, parent_pid=parent_pid,
            sandbox_directory=self._flags.sandbox_directory)
        if (container.config.container_class == ContainerClass.DEBUG and parent is not None
                and parent.config.rootfs):
            # A debug session lives in its parent's root filesystem: it starts
            # where its parent did and finds the sandbox where its parent does.
            request.cwd = parent.cwd or self._flags.sandbox_directory
            request.env["MESOS_SANDBOX"] = parent.sandbox_env or self._flags.sandbox_directory
        container.cwd, container.sandbox_env = request.cwd, request.env.get("MESOS_SANDBOX")
        return request

    # =============================================================== destroy
    def destroy(self, container_id: ContainerID) -> Future[ContainerTermination | None]:
        """Kills every process of the container (children first) and cleans up.

        Ready with the termination; None for an unknown container.
        """
        key = container_key(container_id)
        container = self._containers.get(key)
        if container is None:
            return Future.ready(self._terminated.get(key))
        if container.state is not State.DESTROYING:
            self._transition(key, State.DESTROYING)
            children = [c.container_id for k, c in self._containers.items()
                        if parent_key(k) == key]
            await_all([self.destroy(child) for child in children]).then(
                defer(self.pid, lambda _: self._destroy_after_children(key)))
        return self._termination_view(container)

    @staticmethod
    def _termination_view(container: Container) -> Future[ContainerTermination | None]:
        # Every caller gets its own view: one caller's discard (a closed
        # WAIT connection) must not cancel the termination for the others.
        return undiscardable(container.termination.future)  # type: ignore[arg-type]

    def _destroy_after_children(self, key: str) -> None:
        container = self._containers[key]
        self._close_sync(container)
        if container.launch is not None and container.launch.is_pending():
            container.launch.discard()
        if not container.fork_started:
            container.forked.set(None)  # DESTROYING: `_fork` will refuse to start
        if container.exited and container.own_pid_namespace and _settled_now(
                container.launch, container.config_written):
            # Its init is reaped, so nothing runs in the namespace any more
            # (the kernel kills and reaps it all first): the rootfses can go
            # while the launcher makes sure.
            container.removing = self._destroy_provisioned(key)
        # Whatever the launch reached, wait for its fork to settle so that no
        # process is left behind unknown.
        container.forked.future.then(defer(self.pid, lambda pid: self._destroy_launcher(key, pid)))

    def _destroy_launcher(self, key: str, pid: int | None) -> None:
        container = self._containers[key]
        # Isolators are cleaned up only once the launch has settled: a
        # `prepare` or `isolate` still in flight must not race its `cleanup`.
        launch_settled = await_all([settled(container.launch), settled(container.spares),
                                    settled(container.config_written)])
        if pid is None:
            # Nothing was forked, but a cgroup may remain (a launch that died
            # with the agent, or a process the launcher knows only by cgroup).
            await_all([self._launcher.destroy(container.container_id, None), launch_settled]).then(
                defer(self.pid, lambda _: self._destroy_cleanup(key, None)))
            return
        status = container.status or self._launcher.wait(pid, paths.container_status_path(
            self._flags.runtime_dir, container.container_id))
        killed = self._launcher.destroy(container.container_id, pid)
        killed.on_failed(lambda message: log.error("%s: %s", key, message))
        await_all([killed, status, launch_settled]).then(
            defer(self.pid, lambda _: self._destroy_cleanup(
                key, status.value() if status.is_ready() else None)))

    def _destroy_cleanup(self, key: str, status: int | None) -> None:
        """Once nothing runs: the isolators' cleanup (in reverse order), then
        the termination's checkpoint; the rootfses' removal alongside both.

        Mesos removes the rootfses after the cleanup; no isolator here keeps
        anything inside a rootfs (mounts there live in the container's own
        mount namespace), so the removal need not wait for it. The
        termination does: a cleanup may still report a limitation (a late OOM).
        """
        container = self._containers[key]
        handles = list(reversed(self._isolators_for(container)))
        removed = container.removing or self._destroy_provisioned(key)
        self._cleanup_isolators(key, container.container_id, handles).then(
            defer(self.pid, lambda _: self._destroy_checkpoint(key, status, removed)))

    def _destroy_provisioned(self, key: str) -> Future[Any]:
        """Removes the container's root filesystems, once nothing runs in them."""
        if self._provisioner is None:
            return Future.ready(None)
        container = self._containers[key]
        destroyed = dispatch(self._provisioner, Provisioner.destroy, container.container_id)
        destroyed.on_failed(lambda message: log.error(
            "%s: failed to destroy the provisioned root filesystems: %s", key, message))
        return settled(destroyed)

    def _cleanup_isolators(self, key: str, container_id: ContainerID,
                           handles: list[IsolatorHandle]) -> Future[Any]:
        """Cleanup, in the given (reverse isolation) order, each after the
        previous; a failing isolator is logged and does not stop the others."""
        chain: Future[Any] = Future.ready(None)
        for handle in handles:
            chain = chain.then(functools.partial(self._cleanup_one, key, handle, container_id))
        return chain

    @staticmethod
    def _cleanup_one(key: str, handle: IsolatorHandle, container_id: ContainerID,
                     _: Any) -> Future[None]:
        cleaned = dispatch(handle.pid, Isolator.cleanup, container_id)
        cleaned.on_failed(lambda message: log.error("%s: %s cleanup failed: %s", key,
                                                    handle.name, message))
        return settled(cleaned)

    def _destroy_checkpoint(self, key: str, status: int | None, removed: Future[Any]) -> None:
        """Writes the termination; it is told once the rootfses are gone too.

        The overlap is safe: a restarted agent that finds the termination on
        disk does not know the container, so its provisioner removes what
        rootfs is left.
        """
        container = self._containers[key]
        termination = self._termination_of(container, status)
        if container.discard_on_failure:
            removed.then(defer(self.pid, lambda _: self._finish_discarded(key, termination)))
            return
        path = paths.container_termination_path(self._flags.work_dir, container.container_id)
        written = self._runtime_pool().run(checkpoint.checkpoint_message, path, termination,
                                           checkpoint.spare_path(path))
        await_all([removed, written]).then(defer(
            self.pid, lambda _: self._after_termination_checkpoint(key, termination, written)))

    def _finish_discarded(self, key: str, termination: ContainerTermination) -> None:
        container_id = self._containers[key].container_id
        self._finish_destroy(key, termination)
        self._runtime_pool().run(self._remove_records, container_id)

    def _after_termination_checkpoint(self, key: str, termination: ContainerTermination,
                                      written: Future[Any]) -> None:
        if written.is_failed():
            log.error("%s: failed to checkpoint termination: %s", key, written.failure())
        self._terminated[key] = termination
        self._finish_destroy(key, termination)

    def _finish_destroy(self, key: str, termination: ContainerTermination) -> None:
        container = self._containers.pop(key)
        log.info("%s: terminated (%s) after %.3fs in DESTROYING", key,
                 describe_termination(termination), time.monotonic() - container.since)
        container.termination.set(termination)

    def _termination_of(self, container: Container, status: int | None) -> ContainerTermination:
        termination = ContainerTermination()
        if status is not None:
            termination.status = status
        limitation = container.limitation
        if limitation is not None:
            termination.state = TaskState.TASK_FAILED
            if limitation.HasField("reason"):
                termination.reason = limitation.reason
            termination.message = limitation.message
            termination.limited_resources.extend(limitation.resources)
        elif status is None and container.pid is not None:
            termination.message = "Exit status of the container is unknown"
        return termination

    def _reaped(self, key: str) -> None:
        container = self._containers.get(key)
        if container is None or container.state is State.DESTROYING:
            return
        log.info("%s: first process (pid %s) exited", key, container.pid)
        container.exited = True
        self.destroy(container.container_id)

    def _limited(self, key: str, limitation: ContainerLimitation) -> None:
        container = self._containers.get(key)
        if container is None or container.limitation is not None:
            return
        if container.state is State.DESTROYING:
            # A limitation can kill the first process before its news gets
            # here (an OOM kill); an isolator reports it by its cleanup at
            # the latest, before the termination is written. A destroy for
            # any other cause (a kill, a failed launch) keeps its own reason.
            if container.exited:
                log.info("%s: limited (found after its exit): %s", key, _first_line(
                    limitation.message))
                container.limitation = limitation
            return
        log.info("%s: limited: %s", key, _first_line(limitation.message))
        container.limitation = limitation
        self.destroy(container.container_id)

    # ====================================================== wait/kill/remove
    def wait(self, container_id: ContainerID) -> Future[ContainerTermination | None]:
        """The container's termination once it has ended; None if unknown."""
        key = container_key(container_id)
        container = self._containers.get(key)
        if container is not None:
            return self._termination_view(container)
        return Future.ready(self._terminated.get(key))

    def kill(self, container_id: ContainerID, signum: int) -> bool:
        """Signals the container's first process; SIGKILL destroys it.

        False if there is no such running container.
        """
        key = container_key(container_id)
        container = self._containers.get(key)
        if container is None:
            return False
        log.info("%s: sending %s in state %s", key, signal_name(signum), container.state.value)
        if container.pid is None or signum == signal.SIGKILL:
            self.destroy(container_id)
            return True
        self._launcher.kill(container.pid, signum)
        return True

    def remove(self, container_id: ContainerID) -> Future[None]:
        """Deletes the sandbox, runtime and checkpoint of an ended container."""
        key = container_key(container_id)
        if key in self._containers:
            raise InvalidRequest(f"Container {key} has not terminated yet")
        if key not in self._terminated:
            raise NotFound(f"Container {key} cannot be found")
        if any(parent_key(k) == key for k in self._containers):
            raise InvalidRequest(f"Container {key} still has running nested containers")
        sandbox = self._sandbox_of(container_id)
        del self._terminated[key]
        for child in [k for k in self._terminated if k.startswith(key + ".")]:
            del self._terminated[child]
        log.info("%s: removing sandbox %s", key, sandbox)
        return self._runtime_pool().run(self._remove_all, container_id, sandbox)

    def _sandbox_of(self, container_id: ContainerID) -> str:
        if not container_id.HasField("parent"):
            return paths.standalone_sandbox(self._flags.work_dir, container_id)
        return paths.nested_sandbox(self._sandbox_of(container_id.parent), container_id)

    def _remove_all(self, container_id: ContainerID, sandbox: str) -> None:
        self._remove_records(container_id)
        shutil.rmtree(sandbox, ignore_errors=True)

    def _remove_records(self, container_id: ContainerID) -> None:
        shutil.rmtree(paths.container_meta_dir(self._flags.work_dir, container_id),
                      ignore_errors=True)
        shutil.rmtree(paths.container_runtime_dir(self._flags.runtime_dir, container_id),
                      ignore_errors=True)

    def _forget_termination(self, key: str) -> None:
        self._terminated.pop(key, None)

    def update(self, container_id: ContainerID, resources: Sequence[Resource],
               limits: Mapping[str, float]) -> Future[None]:
        """Applies new resource requests and limits through every isolator."""
        container = self._get(container_id)
        if container.state is State.DESTROYING:
            raise Failure(f"Container {container_key(container_id)} is being destroyed")
        updates = [dispatch(h.pid, Isolator.update, container_id, list(resources), dict(limits))
                   for h in self._isolators_for(container)]

        def record(_: Any) -> None:
            del container.config.resources[:]
            container.config.resources.extend(resources)
            container.config.limits.clear()
            for name, value in limits.items():
                container.config.limits[name].value = value

        return collect(updates).then(defer(self.pid, record))

    def attach(self, container_id: ContainerID) -> str:
        """The name of the container's IO switchboard socket."""
        container = self._get(container_id)
        if container.io_name is None:
            raise InvalidRequest("I/O switchboard server was disabled for this container")
        return container.io_name

    def prune_images(self, excluded_images: Sequence[Image]) -> Future[None] | None:
        """Removes every cached image and layer no container uses, except the excluded."""
        if self._provisioner is None:
            return None
        return dispatch(self._provisioner, Provisioner.prune, list(excluded_images))

    # ========================================================= usage/status
    def containers(self) -> list[tuple[ContainerID, bool]]:
        """Every live container, with whether it is standalone."""
        return [(c.container_id, _is_standalone(c.config)) for c in self._containers.values()]

    def usage(self, container_id: ContainerID) -> Future[ResourceStatistics]:
        container = self._get(container_id)
        futures = [dispatch(h.pid, Isolator.usage, container_id)
                   for h in self._isolators_for(container)]
        config = container.config
        return await_all(futures).then(lambda done: merge_usage(container_id, done, config))

    def status(self, container_id: ContainerID) -> Future[ContainerStatus]:
        container = self._get(container_id)
        futures = [dispatch(h.pid, Isolator.status, container_id)
                   for h in self._isolators_for(container)]
        pid = container.pid

        def merge(done: list[Future[ContainerStatus]]) -> ContainerStatus:
            result = ContainerStatus()
            for future in done:
                if future.is_ready():
                    result.MergeFrom(future.value())
            result.container_id.CopyFrom(container_id)
            if pid is not None:
                result.executor_pid = pid
            return result

        return await_all(futures).then(merge)

    # =============================================================== helpers
    def _isolators_for(self, container: Container) -> list[IsolatorHandle]:
        """The isolators that apply to `container`, in isolation order."""
        standalone = _is_standalone(container.config)
        return [h for h in self._isolators if h.supports(container.container_id, standalone)]

    def _live(self, key: str, stage: str) -> Container:
        container = self._containers.get(key)
        if container is None or container.state is State.DESTROYING:
            raise Failure(f"Container destroyed during {stage}")
        return container

    def _transition(self, key: str, state: State) -> Container:
        container = self._live(key, state.value.lower())
        now = time.monotonic()
        log.info("%s: transitioned from %s to %s after %.3fms", key, container.state.value,
                 state.value, (now - container.since) * 1000)
        container.state, container.since = state, now
        if state is State.DESTROYING:
            container.destroying.set(None)
        return container

    def _get(self, container_id: ContainerID) -> Container:
        container = self._containers.get(container_key(container_id))
        if container is None:
            raise NotFound(f"Unknown container {container_key(container_id)}")
        return container

    def _close_sync(self, container: Container) -> None:
        if container.sync_fd is not None:
            os.close(container.sync_fd)
            container.sync_fd = None

    def _runtime_pool(self) -> Any:
        return self.runtime.pool





# ==================================================================== helpers
def _all_completed(futures: list[Future[Any]]) -> Future[list[Any]]:
    """Like `collect`, but a failure is reported only once every input has
    completed: a checkpoint still being written must not outlive the clean-up
    of the failed launch (it would recreate what the clean-up removed)."""
    def values(completed: list[Future[Any]]) -> list[Any]:
        for future in completed:
            if future.is_failed():
                raise future.as_failure()
            if future.is_discarded():
                raise Failure("Discarded")
        return [future.value() for future in completed]

    return await_all(futures).then(values)


def _prepare_one(handle: IsolatorHandle, container_id: ContainerID, config: ContainerConfig,
                 destroying: Future[None], infos: list[ContainerLaunchInfo]
                 ) -> Future[list[ContainerLaunchInfo]]:
    if not destroying.is_pending():
        raise Failure("Container destroyed during preparing")
    def append(info: Any) -> list[ContainerLaunchInfo]:
        return infos if info is None else infos + [info]

    return dispatch(handle.pid, Isolator.prepare, container_id, config).then(append)


def _has_image(config: ContainerConfig) -> bool:
    info = config.container_info
    return info.HasField("mesos") and info.mesos.HasField("image")


def _is_standalone(config: ContainerConfig) -> bool:
    return not config.HasField("executor_info")


def _settled_now(*futures: Future[Any] | None) -> bool:
    return all(future is None or not future.is_pending() for future in futures)


def _touch(path: str, mode: int) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, mode))


def _remove_file(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass





def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _describe_command(config: ContainerConfig) -> str:
    command = config.command_info
    if command.HasField("shell") and not command.shell:
        return " ".join([command.value] + list(command.arguments[1:]))
    return command.value
