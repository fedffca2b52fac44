"""The agent's read-only endpoints: `/state`, `/monitor/statistics`,
`/metrics/snapshot` and the sandbox browser `/files/*`.

Each handler holds only PIDs and awaits one dispatch (habit: HTTP handlers
never touch actor state). `/state` (also `/state.json`, which Mesos 1.11
dropped) and `/monitor/statistics` are served bare and under the agent's
actor id; `/files/*` and `/metrics/snapshot` are library routes, bare only.
Bad query parameters are 400 with Mesos's messages, never a 500.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import threading
from typing import Any

import tornado.web

from mesos_py.actors import PID, Failure, dispatch, to_asyncio
from mesos_py.actors.loop import BlockingPool
from mesos_py.slave.files import Files, FilesError, FileInfo
from mesos_py.slave.slave import Slave

CHUNK = 1 << 20


class _JsonHandler(tornado.web.RequestHandler):
    def write_json(self, value: Any) -> None:
        body = json.dumps(value, separators=(",", ":"))
        callback = self.get_query_argument("jsonp", None)
        if callback:
            self.set_header("Content-Type", "text/javascript")
            self.finish(f"{callback}({body});")
            return
        self.set_header("Content-Type", "application/json")
        self.finish(body)

    def write_text(self, status: int, message: str = "") -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(message)


class StateHandler(_JsonHandler):
    def initialize(self, slave: PID[Slave], recovered: threading.Event) -> None:
        self._slave = slave
        self._recovered = recovered

    async def get(self) -> None:
        if not self._recovered.is_set():
            self.write_text(503, "Agent has not finished recovery")
            return
        self.write_json(await to_asyncio(dispatch(self._slave, Slave.state_json)))


class StatisticsHandler(_JsonHandler):
    def initialize(self, slave: PID[Slave]) -> None:
        self._slave = slave

    async def get(self) -> None:
        self.write_json(await to_asyncio(dispatch(self._slave, Slave.monitor_statistics)))


class MetricsHandler(_JsonHandler):
    def initialize(self, slave: PID[Slave]) -> None:
        self._slave = slave

    async def get(self) -> None:
        self.write_json(await to_asyncio(dispatch(self._slave, Slave.metrics)))


class FilesHandler(_JsonHandler):
    def initialize(self, files: PID[Files], pool: BlockingPool) -> None:
        self._files = files
        self._pool = pool

    def _path(self) -> str | None:
        path = self.get_query_argument("path", "")
        if not path:
            self.write_text(400, "Expecting 'path=value' in query.\n")
            return None
        return path

    def _failed(self, error: FilesError) -> None:
        self.write_text(error.type.value, error.message)

    async def get(self, action: str) -> None:
        if action == "debug":
            self.write_json(await to_asyncio(dispatch(self._files, Files.debug)))
        elif action == "browse":
            await self._browse()
        elif action == "read":
            await self._read()
        elif action == "download":
            await self._download()
        else:
            self.write_text(404)

    async def _browse(self) -> None:
        path = self._path()
        if path is None:
            return
        result = await to_asyncio(dispatch(self._files, Files.browse, path))
        if isinstance(result, FilesError):
            self._failed(result)
            return
        self.write_json([item.model() for item in result if isinstance(item, FileInfo)])

    async def _read(self) -> None:
        path = self._path()
        if path is None:
            return
        offset = self._number("offset", -1)
        length = self._number("length", -1)
        if offset is None or length is None:
            return
        wanted_length: int | None = None if length == -1 else length
        start = 0 if offset == -1 else offset
        if offset == -1:
            wanted_length = 0
        result = await to_asyncio(dispatch(self._files, Files.read, path, start, wanted_length))
        if isinstance(result, FilesError):
            self._failed(result)
            return
        size, data = result
        self.write_json({"data": data.decode("utf-8", errors="replace"),
                         "offset": size if offset == -1 else offset})

    def _number(self, name: str, default: int) -> int | None:
        text = self.get_query_argument(name, None)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            self.write_text(400, f"Failed to parse {name}: Failed to convert '{text}' to "
                                 "number.\n")
            return None
        if value < -1:
            self.write_text(400, f"Negative {name} provided: {value}.\n")
            return None
        return value

    async def _download(self) -> None:
        path = self._path()
        if path is None:
            return
        result = await to_asyncio(dispatch(self._files, Files.download, path))
        if isinstance(result, FilesError):
            self._failed(result)
            return
        real = str(result)
        kind = mimetypes.guess_type(real)[0] if os.path.splitext(real)[1] else None
        self.set_header("Content-Type", kind or "application/octet-stream")
        self.set_header("Content-Disposition", f"attachment; filename={os.path.basename(real)}")
        offset = 0
        while True:
            chunk = await to_asyncio(self._pool.run(_read_chunk, real, offset))
            if not chunk:
                break
            offset += len(chunk)
            self.write(chunk)
            await self.flush()
        self.finish()


def _read_chunk(path: str, offset: int) -> bytes:
    try:
        with open(path, "rb") as source:
            source.seek(offset)
            return source.read(CHUNK)
    except OSError as error:
        raise Failure(f"Failed to read '{path}': {error.strerror}")


def routes(slave: PID[Slave], files: PID[Files], recovered: threading.Event,
           pool: BlockingPool) -> list[tuple[str, Any, dict[str, Any]]]:
    prefix = f"(?:/{re.escape(slave.upid.id)})?"
    return [
        (rf"{prefix}/state(?:\.json)?", StateHandler, {"slave": slave, "recovered": recovered}),
        (rf"{prefix}/monitor/statistics(?:\.json)?", StatisticsHandler, {"slave": slave}),
        (r"/metrics/snapshot", MetricsHandler, {"slave": slave}),
        (r"/files/(browse|read|download|debug)(?:\.json)?", FilesHandler,
         {"files": files, "pool": pool}),
    ]
