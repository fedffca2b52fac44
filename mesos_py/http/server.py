"""The agent's HTTP server: one tornado application on the IO loop.

Routes are served both bare (`/api/v1`, `/health`) and under the agent's
actor id (`/slave(1)/api/v1`), as libprocess delegates them.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from typing import Any, Sequence

import tornado.httpserver
import tornado.netutil
import tornado.web

from mesos_py.actors import PID
from mesos_py.flags import Flags
from mesos_py.http import codec
from mesos_py.http.api import ApiHandler
from mesos_py.slave.slave import Slave, version_info


class HealthHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_status(200)
        self.finish()


class FlagsHandler(tornado.web.RequestHandler):
    def initialize(self, flags: Flags) -> None:
        self._flags = flags

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"flags": self._flags.as_strings()}))


class VersionHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(codec.dumps(version_info()))


def make_app(slave: PID[Slave], flags: Flags, recovered: threading.Event,
             routes: Sequence[Any] = ()) -> tornado.web.Application:
    """The agent's routes, then `routes` (in order: a catch-all such as the
    libprocess message route must come last)."""
    prefix = f"(?:/{re.escape(slave.upid.id)})?"
    api = {"slave": slave, "recovered": recovered,
           "heartbeat_interval": flags.http_heartbeat_interval.seconds}
    return tornado.web.Application([
        (rf"{prefix}/api/v1/?", ApiHandler, api),
        (rf"{prefix}/health", HealthHandler),
        (rf"{prefix}/flags", FlagsHandler, {"flags": flags}),
        (r"/version", VersionHandler),
        *routes,
    ])


def bind(host: str, port: int) -> list[socket.socket]:
    """Binds the listening socket now (so a busy port fails start-up)."""
    return tornado.netutil.bind_sockets(port, address=host, family=socket.AF_INET, backlog=1024)


def serve(app: tornado.web.Application, sockets: list[socket.socket]) -> tornado.httpserver.HTTPServer:
    """Starts serving on the current (IO loop) thread's event loop."""
    server = tornado.httpserver.HTTPServer(app, idle_connection_timeout=3600)
    server.add_sockets(sockets)
    return server

