"""A minimal HTTP/1.1 client and logger for the built-in executors.

Every task starts an executor, so what an executor imports is paid per task:
`http.client` (which pulls in the email package) and `logging` cost about a
third of its start-up. This module covers what the executors need of HTTP:
one request per persistent connection at a time, bodies by Content-Length or
chunked encoding, and reading a chunked response as it streams (the executor
API's event stream).
"""

from __future__ import annotations

import socket
import sys
import time

MAX_HEADER = 65536


class HttpError(OSError):
    """A malformed or truncated response."""


class Response:
    def __init__(self, sock: socket.socket, buffered: bytes, status: int,
                 headers: dict[str, str]) -> None:
        self._sock = sock
        self._buffer = buffered
        self.status = status
        self.headers = headers
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._remaining = int(headers.get("content-length", "0") or 0)
        self._done = not self._chunked and self._remaining == 0

    def _fill(self) -> bool:
        data = self._sock.recv(65536)
        if not data:
            return False
        self._buffer += data
        return True

    def _take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            if not self._fill():
                raise HttpError("connection closed in the middle of a response")
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            if not self._fill():
                raise HttpError("connection closed in the middle of a response")
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def read1(self) -> bytes:
        """The next piece of the body as it arrives; b"" at its end."""
        if self._done:
            return b""
        if not self._chunked:
            if not self._buffer and not self._fill():
                raise HttpError("connection closed in the middle of a response")
            data = self._buffer[: self._remaining]
            self._buffer = self._buffer[len(data):]
            self._remaining -= len(data)
            self._done = self._remaining == 0
            return data
        size = int(self._line().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while self._line():  # trailers, then the empty line
                pass
            self._done = True
            return b""
        data = self._take(size)
        self._take(2)  # CRLF after the chunk
        return data

    def read(self) -> bytes:
        parts: list[bytes] = []
        while True:
            part = self.read1()
            if not part:
                return b"".join(parts)
            parts.append(part)


class Connection:
    """One persistent HTTP/1.1 connection (reopened when it breaks)."""

    def __init__(self, host: str, port: int, timeout: float | None = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> Response:
        """Sends a request, then waits for the response's headers (for ever
        with `timeout=None`: a busy agent answers late, it does not drop calls)."""
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port),
                                                 timeout=self.timeout or 10.0)
            self.sock.settimeout(self.timeout)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        try:
            self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            return self._response()
        except OSError:
            self.close()
            raise

    def _response(self) -> Response:
        assert self.sock is not None
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise HttpError("connection closed before a response")
            data += chunk
            if len(data) > MAX_HEADER:
                raise HttpError("response headers too large")
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpError(f"malformed status line: {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Response(self.sock, rest, int(parts[1]), headers)

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None


class Log:
    """glog-like lines on stderr (the sandbox's `stderr` file)."""

    def __init__(self, name: str = "executor") -> None:
        self.name = name

    def _write(self, letter: str, message: str, args: tuple[object, ...]) -> None:
        now = time.time()
        stamp = time.strftime("%m%d %H:%M:%S", time.localtime(now))
        text = message % args if args else message
        sys.stderr.write(f"{letter}{stamp}.{int(now % 1 * 1e6):06d} {self.name}] {text}\n")
        sys.stderr.flush()

    def info(self, message: str, *args: object) -> None:
        self._write("I", message, args)

    def warning(self, message: str, *args: object) -> None:
        self._write("W", message, args)

    def error(self, message: str, *args: object) -> None:
        self._write("E", message, args)

    def exception(self, message: str, *args: object) -> None:
        import traceback

        self._write("E", message + "\n" + traceback.format_exc(), args)


log = Log()
