"""The fork server: the single-threaded parent of every container's first process.

The agent is multi-threaded, so it never forks itself. At start-up it spawns
this program (`python -m mesos_py.containerizer.forkserver`) with one end of a
SOCK_SEQPACKET socket pair as fd 3. Each launch request is a JSON datagram
with file descriptors attached (SCM_RIGHTS): the read end of the container's
sync pipe, then stdin, stdout and stderr. The server forks; the child starts
a new session, wires its stdio, and blocks on the sync pipe until the agent
has checkpointed the pid and isolated the container, then sets its working
directory and user and execs the command. EOF on the sync pipe (the agent
died or gave up) makes the child exit without running anything.

The server reaps its children. For a container it first writes the raw
wait(2) status to the container's status file (temp + rename), and only then
reaps it, so that "the pid is gone" implies "the status file exists" for a
restarted agent. It then reports the exit to the agent, if still connected.
It is a child subreaper, so orphaned descendants of containers are reaped
here rather than left as zombies.

When the agent goes away (EOF on the socket) the server keeps running, and
keeps writing status files, until its last child has exited: containers
outlive an agent restart.

Imports only the standard library: it starts once per agent, but every
container is a fork of it, so it stays small.
"""

from __future__ import annotations

import array
import ctypes
import json
import os
import selectors
import signal
import socket
import sys
from typing import Any

SOCKET_FD = 3
MAX_MESSAGE = 1 << 20
MAX_FDS = 8
PR_SET_CHILD_SUBREAPER = 36
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def raw_status(result: Any) -> int:
    """The wait(2) status word for a `os.waitid` result."""
    if result.si_code == os.CLD_EXITED:
        return (result.si_status & 0xFF) << 8
    if result.si_code == os.CLD_DUMPED:
        return (result.si_status & 0x7F) | 0x80
    return result.si_status & 0x7F


def write_status(path: str, status: int) -> None:
    temporary = f"{path}.tmp"
    try:
        with open(temporary, "w") as out:
            out.write(str(status))
        os.rename(temporary, path)
    except OSError as error:
        print(f"forkserver: cannot write status file {path}: {error}", file=sys.stderr)


class Server:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.connected = True
        self.containers: dict[int, str] = {}  # pid -> status file path
        self.selector = selectors.DefaultSelector()
        wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_r = wake_r
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(sock, selectors.EVENT_READ)
        self.selector.register(wake_r, selectors.EVENT_READ)

    def serve(self) -> None:
        while self.connected or self.has_children():
            for key, _ in self.selector.select(timeout=None if self.connected else 1.0):
                if key.fileobj is self.sock:
                    self.receive()
                else:
                    self.drain_wakeups()
            self.reap()

    def has_children(self) -> bool:
        try:
            os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return True

    def drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def receive(self) -> None:
        fds = array.array("i")
        try:
            data, ancillary, _, _ = self.sock.recvmsg(
                MAX_MESSAGE, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
        except (ConnectionResetError, OSError):
            data, ancillary = b"", []
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        if not data:
            self.disconnect()
            return
        try:
            self.handle(json.loads(data), list(fds))
        finally:
            for fd in fds:
                os.close(fd)

    def disconnect(self) -> None:
        self.connected = False
        self.selector.unregister(self.sock)
        self.sock.close()

    def send(self, message: dict[str, Any]) -> None:
        if not self.connected:
            return
        try:
            self.sock.send(json.dumps(message).encode())
        except OSError:
            self.disconnect()

    def handle(self, request: dict[str, Any], fds: list[int]) -> None:
        if request.get("op") != "launch" or len(fds) != 4:
            self.send({"op": "error", "seq": request.get("seq"),
                       "message": "malformed fork server request"})
            return
        try:
            pid = os.fork()
        except OSError as error:
            self.send({"op": "error", "seq": request["seq"], "message": f"fork: {error}"})
            return
        if pid == 0:
            child(request, fds)  # never returns
        self.containers[pid] = request["status_path"]
        self.send({"op": "launched", "seq": request["seq"], "pid": pid})

    def reap(self) -> None:
        while True:
            try:
                result = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if result is None or result.si_pid == 0:
                return
            pid, status = result.si_pid, raw_status(result)
            status_path = self.containers.pop(pid, None)
            if status_path is not None:
                write_status(status_path, status)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            if status_path is not None:
                self.send({"op": "exited", "pid": pid, "status": status})


def child(request: dict[str, Any], fds: list[int]) -> None:
    """Runs in the forked child: becomes the container's first process."""
    try:
        sync, stdin, stdout, stderr = fds
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.setsid()
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target, inheritable=True)
        sync = os.dup2(sync, 3, inheritable=False)
        for fd in set(fds) - {0, 1, 2, 3}:
            os.close(fd)  # received fds are inheritable: do not leak them
        if os.read(sync, 1) != b"\x01":
            os._exit(1)  # the agent died or aborted the launch
        os.close(sync)
        setup_and_exec(request)
    except BaseException as error:  # never fall back into the server's loop
        try:
            os.write(2, f"Failed to launch container: {error}\n".encode())
        finally:
            os._exit(1)


def setup_and_exec(request: dict[str, Any]) -> None:
    os.chdir(request["cwd"])
    if request.get("uid") is not None:
        os.setgroups(request.get("groups", []))
        os.setgid(request["gid"])
        os.setuid(request["uid"])
    environment = dict(request["env"])
    environment.setdefault("PATH", DEFAULT_PATH)
    argv = request["argv"]
    try:
        if request.get("shell"):
            os.execve("/bin/sh", argv, environment)
        else:
            os.execvpe(request["path"], argv, environment)
    except OSError as error:
        os.write(2, f"Failed to execute '{request.get('path', argv[0])}': "
                    f"{error.strerror}\n".encode())
        os._exit(1)


def main() -> None:
    # Whatever the agent inherited from its own parent must not reach containers.
    os.closerange(SOCKET_FD + 1, 65536)
    os.set_blocking(SOCKET_FD, True)
    sock = socket.socket(fileno=SOCKET_FD)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    Server(sock).serve()


if __name__ == "__main__":
    main()
