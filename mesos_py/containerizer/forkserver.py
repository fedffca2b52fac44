"""The fork server: the single-threaded parent of every container's first process.

The agent is multi-threaded, so it never forks itself. At start-up it spawns
this program (`python -m mesos_py.containerizer.forkserver`) with one end of a
SOCK_SEQPACKET socket pair as fd 3. Each launch request is a JSON datagram
with file descriptors attached (SCM_RIGHTS): the read end of the container's
sync pipe, then stdin, stdout and stderr.

The container's first process is always a child of this server:
- plain: `fork()`;
- new namespaces (`clone`: mnt, pid, ipc, uts, net): a raw `clone()` with
  those flags, so the child is pid 1 of its new pid namespace;
- joining a parent container's namespaces (`enter`, nested containers): a
  forked helper `setns()`es into them and `clone(CLONE_PARENT)`s the child,
  which therefore is our child too, then exits.
The child starts a new session, wires its stdio and runs the launch helper
(`launch.py`): wait on the sync pipe, mounts, then the command.

The server reaps its children. For a container it first puts the raw wait(2)
status in the container's status file: the file in which its init recorded
the command's status, renamed into place, if it ran one; else the first
process's own status (temp + rename).
Only then does it reap it, so that "the pid is gone" implies "the status file
exists" for a restarted agent. It then reports the exit to the agent, if
still connected.
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
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import sys
import termios
from typing import Any

from mesos_py.containerizer import launch, switchboard

SOCKET_FD = 3
MAX_MESSAGE = 1 << 20
MAX_FDS = 8
PR_SET_CHILD_SUBREAPER = 36
SYS_CLONE = 56  # x86_64
CLONE_PARENT = 0x00008000
NAMESPACES = {  # name -> CLONE_NEW* flag; the order in which they are entered
    "ipc": 0x08000000, "uts": 0x04000000, "net": 0x40000000, "pid": 0x20000000,
    "mnt": 0x00020000,
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def raw_status(result: Any) -> int:
    """The wait(2) status word for a `os.waitid` result."""
    if result.si_code == os.CLD_EXITED:
        return (result.si_status & 0xFF) << 8
    if result.si_code == os.CLD_DUMPED:
        return (result.si_status & 0x7F) | 0x80
    return result.si_status & 0x7F


def clone(flags: int) -> int:
    """fork() with CLONE_* flags (raw clone: no new stack, fork semantics)."""
    pid = _libc.syscall(SYS_CLONE, ctypes.c_ulong(flags | signal.SIGCHLD), None, None, None,
                        None)
    if pid < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return int(pid)


def clone_flags(names: list[str]) -> int:
    flags = 0
    for name in names:
        flags |= NAMESPACES[name]
    return flags


def setns(paths: dict[str, str]) -> None:
    # Open every namespace first: entering the mount namespace changes /proc.
    fds = [(name, os.open(paths[name], os.O_RDONLY | os.O_CLOEXEC))
           for name in NAMESPACES if name in paths]
    for name, fd in fds:
        if _libc.setns(fd, 0) != 0:
            raise OSError(ctypes.get_errno(), f"setns({name}): "
                          f"{os.strerror(ctypes.get_errno())}")
        os.close(fd)


def record_status(status_path: str, own_status: int) -> int:
    """Puts the container's status in its status file; returns it.

    That is the command's status as its init recorded it, if any (its file
    is renamed into place: no new file), else the first process's own.
    """
    recorded = launch.command_status_path(status_path)
    try:
        with open(recorded) as source:
            text = source.read().strip()
    except OSError:
        text = ""
    if text.isdigit():
        try:
            os.rename(recorded, status_path)
            return int(text)
        except OSError:
            pass
    status = int(text) if text.isdigit() else own_status
    _unlink_quietly(recorded)
    write_status(status_path, status)
    return status


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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
            pid, switchboard_pid = self.start_with_io(request, fds)
        except OSError as error:
            self.send({"op": "error", "seq": request["seq"], "message": str(error)})
            return
        self.containers[pid] = request["status_path"]
        self.send({"op": "launched", "seq": request["seq"], "pid": pid,
                   "switchboard_pid": switchboard_pid})

    def start_with_io(self, request: dict[str, Any], fds: list[int]) -> tuple[int, int | None]:
        """Starts the container, first its IO switchboard if it has one."""
        io = request.get("io")
        if not io:
            return self.start(request, fds), None
        stdio = switchboard.ContainerStdio(io["tty"], io.get("rows", 0), io.get("columns", 0))
        try:
            switchboard_pid = os.fork()
            if switchboard_pid == 0:
                switchboard.run(stdio, fds[2], fds[3], io["name"],  # never returns
                                io.get("wait_for_connection", False))
            # The switchboard's ends must not stay open in the container (an
            # init never execs): its stdin would never see EOF.
            return (self.start(request, [fds[0], *stdio.theirs], close=sorted(set(stdio.ours.values()))),
                    switchboard_pid)
        finally:
            stdio.close_theirs()
            stdio.close_ours()

    def start(self, request: dict[str, Any], fds: list[int], close: list[int] = []) -> int:
        # The child starts with the forwarded signals blocked: as a namespace's
        # init without handlers yet, it would drop one sent this early.
        saved = signal.pthread_sigmask(signal.SIG_BLOCK, launch.FORWARDED_SIGNALS)
        try:
            flags = clone_flags(request.get("clone", []))
            if request.get("enter"):
                return self.start_entering(request, fds, flags, close)
            pid = clone(flags) if flags else os.fork()
            if pid == 0:
                child(request, fds, close)  # never returns
            return pid
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, saved)

    def start_entering(self, request: dict[str, Any], fds: list[int], flags: int,
                       close: list[int]) -> int:
        """A child inside another container's namespaces, still our child.

        A helper setns()es into them. A new pid namespace cannot be made by a
        process whose pid_for_children differs from its own, so when the pid
        namespace is entered, a second helper is first cloned into it. Both
        clone with CLONE_PARENT, so the container's first process is ours.
        Its pid as we see it comes from the kernel: it sends us a datagram
        and SO_PASSCRED translates its credentials into our namespace.
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        ours.settimeout(10)
        helper = os.fork()
        if helper == 0:
            ours.close()
            enter_and_clone(request, fds, flags, theirs, close)  # never returns
        theirs.close()
        try:
            return receive_pid(ours)
        finally:
            ours.close()
            os.waitpid(helper, 0)

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
                status = record_status(status_path, status)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            if status_path is not None:
                self.send({"op": "exited", "pid": pid, "status": status})


def enter_and_clone(request: dict[str, Any], fds: list[int], flags: int,
                    reply: socket.socket, close: list[int]) -> None:
    """In a helper: join the namespaces, clone the container, report failures."""
    try:
        setns(request["enter"])
        if "pid" in request["enter"] and flags & NAMESPACES["pid"]:
            if clone(CLONE_PARENT) != 0:
                os._exit(0)  # the second helper, now inside the pid namespace, goes on
        if clone(flags | CLONE_PARENT) == 0:
            reply.send(b"pid")  # the kernel attaches our credentials
            reply.close()
            child(request, fds, close)
    except BaseException as error:
        try:
            reply.send(f"error: {error}".encode())
        except OSError:
            pass
    os._exit(0)


def receive_pid(sock: socket.socket) -> int:
    """The sender's pid, as this process sees it, from its SCM_CREDENTIALS."""
    try:
        data, ancillary, _, _ = sock.recvmsg(256, socket.CMSG_SPACE(struct.calcsize("3i")))
    except socket.timeout:
        raise OSError(0, "the namespace helper did not answer")
    if data != b"pid":
        raise OSError(0, data.decode(errors="replace") or "the namespace helper died")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return int(struct.unpack("3i", payload[:struct.calcsize("3i")])[0])
    raise OSError(0, "no credentials came with the child's message")


def child(request: dict[str, Any], fds: list[int], close: list[int] = []) -> None:
    """Runs in the forked/cloned child: becomes the container's first process."""
    try:
        for fd in close:
            os.close(fd)
        sync, stdin, stdout, stderr = fds
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, launch.blocked_signals(request))
        os.setsid()
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target, inheritable=True)
        sync = os.dup2(sync, 3, inheritable=False)
        for fd in set(fds) - {0, 1, 2, 3}:
            os.close(fd)  # received fds are inheritable: do not leak them
        if (request.get("io") or {}).get("tty"):
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the TTY becomes our controlling terminal
        launch.run(request, sync)
    except BaseException as error:  # never fall back into the server's loop
        try:
            os.write(2, f"Failed to launch container: {error}\n".encode())
        finally:
            os._exit(1)


def main() -> None:
    # Whatever the agent inherited from its own parent must not reach containers.
    os.closerange(SOCKET_FD + 1, 65536)
    os.set_blocking(SOCKET_FD, True)
    sock = socket.socket(fileno=SOCKET_FD)
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    Server(sock).serve()


if __name__ == "__main__":
    main()
