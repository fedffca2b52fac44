"""The IO switchboard: a container's stdio, attachable while it runs.

For a container launched with a TTY or as a DEBUG session, the fork server
forks this switchboard next to the container's first process (so it outlives
an agent restart, as the container does). It holds the other end of the
container's stdio (a pseudo-terminal, or three pipes), copies the output to
the sandbox's `stdout`/`stderr` files, and serves attachers on an abstract
Unix socket:

- a connection that sends `output\\n` receives the output from then on, as
  frames `<kind:1><length:4><bytes>` (kind 1 = stdout, 2 = stderr) and a
  last frame of kind 0 when the container's output has ended;
- one connection at a time may send `input\\n` (a second gets `busy\\n`), then
  frames: kind 1 = data for stdin, 2 = end of input (EOF on a pipe, EOT on a
  TTY), 3 = window size (rows, columns as two uint16).

For a debug session it reads nothing until the first output connection
(Mesos's wait-for-connection), so the session's caller sees all the output.
It exits once the container's output has ended and been passed on. Imports
only the standard library.
"""

from __future__ import annotations

import errno
import fcntl
import os
import selectors
import socket
import struct
import termios
from typing import Any

HEADER = struct.Struct("!BI")
OUTPUT, INPUT = b"output\n", b"input\n"
STDOUT, STDERR, END = 1, 2, 0
DATA, EOF, WINDOW = 1, 2, 3
EOT = b"\x04"


def abstract_address(name: str) -> str:
    """A socket name in the abstract namespace (no path length limit, no file)."""
    return "\0" + name


class ContainerStdio:
    """Both ends of a container's stdio: ours and the ones the container gets."""

    def __init__(self, tty: bool, rows: int = 0, columns: int = 0) -> None:
        self.tty = tty
        if tty:
            master, slave = os.openpty()
            if rows and columns:
                set_window(master, rows, columns)
            self.ours = {"stdin": master, "stdout": master}
            self.theirs = (slave, slave, slave)
        else:
            stdin_r, stdin_w = os.pipe()
            stdout_r, stdout_w = os.pipe()
            stderr_r, stderr_w = os.pipe()
            self.ours = {"stdin": stdin_w, "stdout": stdout_r, "stderr": stderr_r}
            self.theirs = (stdin_r, stdout_w, stderr_w)

    def close_theirs(self) -> None:
        for fd in set(self.theirs):
            os.close(fd)

    def close_ours(self) -> None:
        for fd in set(self.ours.values()):
            os.close(fd)


def set_window(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class Switchboard:
    def __init__(self, stdio: ContainerStdio, stdout_file: int, stderr_file: int,
                 name: str, wait_for_connection: bool = False) -> None:
        self.stdio = stdio
        self.files = {STDOUT: stdout_file, STDERR: stderr_file}
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(abstract_address(name))
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, ("accept", None))
        self.streams: dict[int, int] = {stdio.ours["stdout"]: STDOUT}
        if "stderr" in stdio.ours:
            self.streams[stdio.ours["stderr"]] = STDERR
        # A session's first output watcher must see everything: until it is
        # there, the output waits in the pipe (the container blocks if it fills).
        self.reading = False
        if not wait_for_connection:
            self._start_reading()
        self.stdin: int | None = stdio.ours["stdin"]
        self.watchers: list[socket.socket] = []
        self.input: socket.socket | None = None
        self.input_buffer = b""
        self.pending: dict[socket.socket, bytes] = {}

    def serve(self) -> None:
        while self.streams:
            for key, _ in self.selector.select():
                action, argument = key.data
                getattr(self, f"_{action}")(key.fileobj, argument)
        for watcher in self.watchers:
            self._send(watcher, END, b"")
            watcher.close()

    # ------------------------------------------------------------- output
    def _start_reading(self) -> None:
        if not self.reading:
            self.reading = True
            for fd, kind in self.streams.items():
                self.selector.register(fd, selectors.EVENT_READ, ("output", kind))

    def _output(self, fd: int, kind: int) -> None:
        try:
            data = os.read(fd, 65536)
        except OSError as error:
            if error.errno != errno.EIO:  # EIO: the TTY's other side is gone
                raise
            data = b""
        if not data:
            self.selector.unregister(fd)
            del self.streams[fd]
            return
        _write_all(self.files[kind], data)
        for watcher in list(self.watchers):
            self._send(watcher, kind, data)

    def _send(self, watcher: socket.socket, kind: int, data: bytes) -> None:
        try:
            watcher.sendall(HEADER.pack(kind, len(data)) + data)
        except OSError:
            self._drop(watcher)

    # ------------------------------------------------------------ clients
    def _accept(self, listener: socket.socket, _: Any) -> None:
        connection, _ = listener.accept()
        connection.setblocking(True)
        self.pending[connection] = b""
        self.selector.register(connection, selectors.EVENT_READ, ("hello", None))

    def _hello(self, connection: socket.socket, _: Any) -> None:
        data = connection.recv(16)
        buffer = self.pending[connection] + data
        if not data or b"\n" in buffer or len(buffer) > 16:
            del self.pending[connection]
            self.selector.unregister(connection)
            line, _, rest = buffer.partition(b"\n")
            self._greeted(connection, line + b"\n", rest)
        else:
            self.pending[connection] = buffer

    def _greeted(self, connection: socket.socket, line: bytes, rest: bytes) -> None:
        if line == OUTPUT:
            self.watchers.append(connection)
            self.selector.register(connection, selectors.EVENT_READ, ("watcher_closed", None))
            self._start_reading()
        elif line == INPUT and self.input is None and self.stdin is not None:
            self.input = connection
            connection.sendall(b"ok\n")
            self.input_buffer = rest
            self.selector.register(connection, selectors.EVENT_READ, ("input", None))
            self._handle_input_frames()
        else:
            connection.sendall(b"busy\n" if line == INPUT else b"bad\n")
            connection.close()

    def _watcher_closed(self, connection: socket.socket, _: Any) -> None:
        if not connection.recv(4096):
            self._drop(connection)

    def _drop(self, watcher: socket.socket) -> None:
        if watcher in self.watchers:
            self.watchers.remove(watcher)
            try:
                self.selector.unregister(watcher)
            except (KeyError, ValueError):
                pass
            watcher.close()

    # -------------------------------------------------------------- input
    def _input(self, connection: socket.socket, _: Any) -> None:
        data = connection.recv(65536)
        if not data:
            self.selector.unregister(connection)
            connection.close()
            self.input = None
            return
        self.input_buffer += data
        self._handle_input_frames()

    def _handle_input_frames(self) -> None:
        while len(self.input_buffer) >= HEADER.size:
            kind, length = HEADER.unpack_from(self.input_buffer)
            if len(self.input_buffer) < HEADER.size + length:
                return
            payload = self.input_buffer[HEADER.size:HEADER.size + length]
            self.input_buffer = self.input_buffer[HEADER.size + length:]
            self._apply_input(kind, payload)

    def _apply_input(self, kind: int, payload: bytes) -> None:
        if self.stdin is None:
            return
        if kind == DATA:
            try:
                _write_all(self.stdin, payload)
            except OSError:
                self.stdin = None  # the container closed its stdin
        elif kind == EOF:
            if self.stdio.tty:
                _write_all(self.stdin, EOT)
            else:
                os.close(self.stdin)
                self.stdin = None
        elif kind == WINDOW and self.stdio.tty and len(payload) == 4:
            rows, columns = struct.unpack("!HH", payload)
            set_window(self.stdio.ours["stdout"], rows, columns)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def close_other_fds(keep: set[int]) -> None:
    """Closes every fd but `keep` (a fork of the fork server holds its sockets)."""
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def run(stdio: ContainerStdio, stdout_file: int, stderr_file: int, name: str,
        wait_for_connection: bool = False) -> None:
    """Runs in the forked switchboard process; never returns."""
    try:
        stdio.close_theirs()
        close_other_fds({0, 1, 2, stdout_file, stderr_file, *stdio.ours.values()})
        Switchboard(stdio, stdout_file, stderr_file, name, wait_for_connection).serve()
        os._exit(0)
    except BaseException as error:  # never fall back into the fork server
        try:
            os.write(stderr_file, f"IO switchboard failed: {error}\n".encode())
        finally:
            os._exit(1)
