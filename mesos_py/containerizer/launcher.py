"""Launchers: how a container's first process is created, signalled and killed.

`ForkServer` is the agent's handle on the fork server process (see
`forkserver.py`); it lives on the IO loop. `PosixLauncher` is Mesos's posix
launcher: no namespaces, the container is the session its first process
leads, and destroying it kills every process of that session.

A launcher is a plain object owned by the Containerizer and called on its
thread; the futures it returns complete on other threads.
"""

from __future__ import annotations

import array
import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import threading
from typing import Any

from mesos_py.actors import Failure, Future, Promise, Runtime
from mesos_py.actors.reaper import alive
from mesos_py.ids import container_key
from mesos_py.linux import cgroups
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID
from mesos_py.slave.checkpoint import checkpoint_text

log = logging.getLogger(__name__)


@dataclasses.dataclass
class LaunchRequest:
    """Everything the fork server needs to start one container."""

    argv: list[str]
    path: str  # executable (looked up in PATH) when not a shell command
    shell: bool
    env: dict[str, str]
    cwd: str
    status_path: str
    stdout_path: str
    stderr_path: str
    uid: int | None = None
    gid: int | None = None
    groups: list[int] = dataclasses.field(default_factory=list)
    clone: list[str] = dataclasses.field(default_factory=list)  # new namespaces
    enter: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> /proc/N/ns/name
    init: bool = False  # pid 1 of a new pid namespace: stay as the init
    mounts: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    rlimits: list[list[int | None]] = dataclasses.field(default_factory=list)
    capabilities: dict[str, list[int] | None] | None = None
    io: dict[str, Any] | None = None  # {"tty", "rows", "columns", "name"}: a switchboard
    # A root filesystem to pivot into once `mounts` (absolute host paths,
    # applied in order) are made; `masked_paths` and `file_operations`
    # ({"op": "symlink", "source", "target"}) come after the mounts.
    rootfs: str | None = None
    masked_paths: list[str] = dataclasses.field(default_factory=list)
    file_operations: list[dict[str, str]] = dataclasses.field(default_factory=list)


class ForkServer:
    """Spawns the fork server and talks to it over a SOCK_SEQPACKET pair."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self._seq = 0
        self._launches: dict[int, Promise[int]] = {}
        self._exits: dict[int, Promise[int | None]] = {}
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.pid = os.posix_spawn(
                sys.executable, [sys.executable, "-m", "mesos_py.containerizer.forkserver"],
                os.environ, setsid=True,
                file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
        finally:
            theirs.close()
        self.exited = runtime.reaper.reap(self.pid)
        self.exited.on_any(lambda _: runtime.io.call_soon(self._lost))
        runtime.io.call_soon(self._register)
        log.info("Fork server started with pid %d", self.pid)

    def _register(self) -> None:
        self._runtime.io.loop.add_reader(self._sock.fileno(), self._receive)

    # ------------------------------------------------------------ requests
    def launch(self, request: LaunchRequest, sync_fd: int) -> Future[int]:
        """Forks a container init; the future holds its pid."""
        promise: Promise[int] = Promise()
        fds = [sync_fd]
        try:
            fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            for path in (request.stdout_path, request.stderr_path):
                fds.append(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                                   0o644))
            with self._lock:
                self._seq += 1
                # A shallow copy: the fields are JSON already (asdict deep-copies).
                message = vars(request) | {"op": "launch", "seq": self._seq}
                self._launches[self._seq] = promise
                self._sock.sendmsg([json.dumps(message).encode()],
                                   [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        except OSError as error:
            with self._lock:
                self._launches.pop(self._seq, None)
            promise.fail(f"Failed to reach the fork server: {error}")
        finally:
            for fd in fds[1:]:
                os.close(fd)
        return promise.future

    def exit_of(self, pid: int) -> Future[int | None] | None:
        """The exit status of a child it launched (None if not its child)."""
        with self._lock:
            promise = self._exits.get(pid)
        return promise.future if promise else None

    def stop(self) -> None:
        """Disconnects; the server lingers until its last container exits."""
        self._runtime.io.call_soon(self._close)

    # ------------------------------------------------------------ IO loop
    def _receive(self) -> None:
        try:
            data = self._sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            self._close()
            return
        message: dict[str, Any] = json.loads(data)
        op = message.get("op")
        if op == "launched":
            with self._lock:
                promise = self._launches.pop(message["seq"])
                self._exits[message["pid"]] = Promise()
            promise.set(message["pid"])
        elif op == "exited":
            with self._lock:
                exit_promise = self._exits.pop(message["pid"], None)
            if exit_promise is not None:
                exit_promise.set(message["status"])
        elif op == "error":
            with self._lock:
                failed = self._launches.pop(int(message.get("seq") or 0), None)
            if failed is not None:
                failed.fail(f"Fork server: {message.get('message')}")

    def _close(self) -> None:
        if self._sock.fileno() >= 0:
            self._runtime.io.loop.remove_reader(self._sock.fileno())
            self._sock.close()
        self._fail_pending("Fork server connection closed")

    def _lost(self) -> None:
        if self._sock.fileno() >= 0:
            log.error("Fork server (pid %d) exited unexpectedly", self.pid)
        self._close()

    @property
    def lost(self) -> bool:
        """True once the connection is gone: a new fork server is needed."""
        return self._sock.fileno() < 0

    def _fail_pending(self, reason: str) -> None:
        with self._lock:
            launches, self._launches = self._launches, {}
            exits, self._exits = self._exits, {}
        for promise in launches.values():
            promise.fail(reason)
        # Its containers outlive it: watch them through their pidfds instead
        # (how they end is then unknown, as nobody writes their status file).
        for pid, exit_promise in exits.items():
            exit_promise.associate(self._runtime.reaper.reap(pid))


class PosixLauncher:
    """Containers as sessions: no namespaces, tracked by their leader's pid.

    Owns the fork server; if it dies, the next launch starts a new one.
    """

    NAME = "posix"

    def __init__(self, runtime: Runtime, pid_file: str | None = None) -> None:
        self._runtime = runtime
        self._pid_file = pid_file
        self._fork_server = self._start_fork_server()

    def _start_fork_server(self) -> ForkServer:
        fork_server = ForkServer(self._runtime)
        if self._pid_file is not None:
            checkpoint_text(self._pid_file, f"{fork_server.pid}\n")
        return fork_server

    def fork(self, container_id: ContainerID, request: LaunchRequest,
             sync_fd: int) -> Future[int]:
        if self._fork_server.lost:
            log.warning("Starting a new fork server: the previous one (pid %d) is gone",
                        self._fork_server.pid)
            self._fork_server = self._start_fork_server()
        return self._fork_server.launch(request, sync_fd)

    def stop(self) -> None:
        """Disconnects from the fork server; it exits after its last container."""
        self._fork_server.stop()

    def wait(self, pid: int, status_path: str) -> Future[int | None]:
        """The container's raw wait status once its first process has exited.

        For processes this agent launched, the fork server reports it. For
        recovered ones, the pidfd says when, and the status file what.
        """
        reported = self._fork_server.exit_of(pid)
        if reported is not None:
            return reported.then(
                lambda status: status if status is not None else read_status(status_path))
        return self._runtime.reaper.reap(pid).then(
            lambda _: self._status_after_exit(pid, status_path, attempts=0))

    def _status_after_exit(self, pid: int, status_path: str, attempts: int) -> Future[int | None]:
        # The old fork server writes the status file before reaping the
        # process; while the zombie is still there, the file may be pending.
        # Look for the process first: once it is gone, the file is final.
        gone = not _exists(pid)
        status = read_status(status_path)
        if status is not None or gone or attempts >= 200:
            return Future.ready(status)
        return self._runtime.clock.after(0.005).then(
            lambda _: self._status_after_exit(pid, status_path, attempts + 1))

    def kill(self, pid: int, signum: int) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    def recover(self, known: list[ContainerID]) -> Future[list[ContainerID]]:
        """The orphans: containers with processes that no checkpoint knows.

        A posix launcher cannot find them (a session leaves no trace).
        """
        return Future.ready([])

    def destroy(self, container_id: ContainerID, pid: int | None) -> Future[None]:
        """Kills every process of the container; completes once none is left."""
        if pid is None:
            return Future.ready(None)
        return self._kill_session_until_empty(pid, 0)

    def _kill_session_until_empty(self, pid: int, attempts: int) -> Future[None]:
        """Kills every process of the container's session, leader included.

        Completes once none is left alive (zombies aside).
        """
        def again(survivors: int) -> Future[None]:
            if survivors == 0:
                return Future.ready(None)
            if attempts >= 500:
                raise Failure(f"{survivors} processes of session {pid} survived SIGKILL")
            return self._runtime.clock.after(0.002).then(
                lambda _: self._kill_session_until_empty(pid, attempts + 1))

        return self._runtime.pool.run(kill_session, pid).then(again)


class LinuxLauncher(PosixLauncher):
    """Containers in the namespaces their isolators ask for, tracked by cgroup.

    Every container's first process joins a cgroup of its own before its
    command is released (cgroup v1: the freezer hierarchy, as Mesos 1.11 does;
    v2: the container's cgroup, processes in `leaf`), at
    `<cgroups_root>/<id>` (nested: `<root>/<parent>/mesos/<child>`). Whatever
    a container forks stays in it, so destroy kills the whole subtree, and a
    restarted agent finds containers no checkpoint knows (orphans).
    """

    NAME = "linux"

    def __init__(self, runtime: Runtime, pid_file: str | None = None, *,
                 hierarchy: str = "/sys/fs/cgroup", root: str = "mesos",
                 destroy_timeout: float = 60.0) -> None:
        self._version = cgroups.detect(hierarchy)
        if self._version is cgroups.Version.V2:
            self._hierarchy = hierarchy
        else:
            freezer = cgroups.hierarchy_of("freezer")
            if freezer is None:
                raise ValueError("The linux launcher needs the cgroup v1 freezer hierarchy "
                                 "mounted (or a cgroup v2 host)")
            self._hierarchy = freezer
        self._root = root
        self._destroy_timeout = destroy_timeout
        self._tracked: set[str] = set()
        super().__init__(runtime, pid_file)

    def fork(self, container_id: ContainerID, request: LaunchRequest,
             sync_fd: int) -> Future[int]:
        return super().fork(container_id, request, sync_fd).then(
            lambda pid: self._runtime.pool.run(self._track, container_id, pid).then(
                lambda _: self._tracked_from_launch(container_id, pid)))

    def _tracked_from_launch(self, container_id: ContainerID, pid: int) -> int:
        # Its first process joined the cgroup before it was released: every
        # process the container will ever have is in there.
        self._tracked.add(container_key(container_id))
        return pid

    def _track(self, container_id: ContainerID, pid: int) -> None:
        cgroup = cgroups.container_cgroup(self._root, container_id)
        if self._version is cgroups.Version.V2:
            cgroups.create(self._hierarchy, cgroup)
            cgroup = cgroups.leaf_cgroup(cgroup)
        cgroups.create(self._hierarchy, cgroup)
        cgroups.assign(self._hierarchy, cgroup, pid)

    def recover(self, known: list[ContainerID]) -> Future[list[ContainerID]]:
        keys = {container_key(container_id) for container_id in known}

        def orphans() -> list[ContainerID]:
            found = cgroups.container_ids_under(self._hierarchy, self._root)
            return [c for c in found if container_key(c) not in keys]

        return self._runtime.pool.run(orphans)

    def destroy(self, container_id: ContainerID, pid: int | None) -> Future[None]:
        """Kills everything in the container's cgroup, then removes it."""
        cgroup = cgroups.container_cgroup(self._root, container_id)

        def kill_and_remove() -> None:
            if cgroups.exists(self._hierarchy, cgroup):
                cgroups.kill_all(self._hierarchy, cgroup, timeout=self._destroy_timeout)
                cgroups.remove(self._hierarchy, cgroup)

        key = container_key(container_id)
        if key in self._tracked:
            self._tracked.discard(key)
            return self._runtime.pool.run(kill_and_remove)
        # Not tracked by this agent from its launch (recovered, or its fork
        # failed half-way): the session sweep also catches a process that
        # never made it into the cgroup.
        return super().destroy(container_id, pid).then(
            lambda _: self._runtime.pool.run(kill_and_remove))


def kill_session(session_id: int) -> int:
    """SIGKILLs the leader and every live process of its session; returns how many.

    The leader is killed by pid too: a container released a moment ago may
    not have called setsid() yet, and then has no session of its own.
    """
    # The leader first: killed before its children, it dies of SIGKILL
    # itself instead of seeing them die and exiting on its own.
    others = [pid for pid in _session_members(session_id) if pid != session_id]
    members = [pid for pid in (session_id, *others) if alive(pid)]
    for pid in members:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(members)


def _session_members(session_id: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session_id:
            members.append(int(entry))
    return members


def _exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def read_status(path: str) -> int | None:
    """The raw wait status the fork server wrote for a container; None if absent."""
    try:
        with open(path) as status:
            return int(status.read().strip())
    except (OSError, ValueError):
        return None

