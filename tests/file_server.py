"""A small real HTTP server for tests (the fetcher's URIs, an Appc discovery prefix)."""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from typing import Any


class FileServer:
    """A real HTTP server on loopback serving `files`; it counts GETs per path.
    `/stall` and the paths in `stalling` send half their body, then nothing
    for `stall_seconds`."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """`tls`: (certificate, key) files to serve https instead of http."""
        self.files: dict[str, bytes] = {}
        self.gets: dict[str, int] = {}
        self.stalling: set[str] = {"/stall"}
        self.stall_seconds = 5.0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, body: bool) -> None:
                if body:
                    outer.gets[self.path] = outer.gets.get(self.path, 0) + 1
                if self.path in outer.stalling:
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    if body:
                        self.wfile.write(b"x" * 500)
                        self.wfile.flush()
                        time.sleep(outer.stall_seconds)
                    return
                data = outer.files.get(self.path.split("?")[0])
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._send(True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._send(False)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
