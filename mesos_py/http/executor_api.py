"""POST /api/v1/executor: the v1 executor HTTP API.

Checks run in Mesos's order with its codes and messages (503 while the agent
recovers, 405, 400 for a missing Content-Type or a body that does not parse
or validate, 415, 406). SUBSCRIBE answers 200 and keeps the response open as
the executor's event stream: RecordIO records (`<length>\\n<event>`), JSON or
protobuf as the executor's Accept asks, sent with chunked encoding. UPDATE,
MESSAGE and HEARTBEAT answer 202.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from typing import Any

import tornado.web

from mesos_py.actors import PID, Failure, IOLoopThread, dispatch, to_asyncio
from mesos_py.errors import AgentRecovering, InvalidRequest, NotFound
from mesos_py.http import codec
from mesos_py.http.codec import APPLICATION_JSON, APPLICATION_PROTOBUF
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.executor import executor_pb2
from mesos_py.slave.executor_api import NotSubscribed
from mesos_py.slave.slave import Slave

log = logging.getLogger(__name__)

Call = executor_pb2.Call
STATUS_OF_FAILURE: dict[type[Failure], int] = {NotSubscribed: 403, InvalidRequest: 400,
                                                NotFound: 404, AgentRecovering: 503}


def validate_executor_call(call: executor_pb2.Call) -> str | None:
    """Mesos's `validateExecutorCall`: the error message, or None."""
    if not call.HasField("type"):
        return "Expecting 'type' to be present"
    if call.type == Call.SUBSCRIBE and not call.HasField("subscribe"):
        return "Expecting 'subscribe' to be present"
    if call.type == Call.MESSAGE and not call.HasField("message"):
        return "Expecting 'message' to be present"
    if call.type == Call.UPDATE:
        if not call.HasField("update"):
            return "Expecting 'update' to be present"
        status = call.update.status
        if not status.HasField("uuid"):
            return "Expecting 'uuid' to be present"
        if len(status.uuid) != 16:
            return f"Invalid UUID of {len(status.uuid)} bytes (expecting 16)"
        if status.HasField("executor_id") and status.executor_id != call.executor_id:
            return (f"ExecutorID in Call: {call.executor_id.value} does not match ExecutorID "
                    f"in TaskStatus: {status.executor_id.value}")
        if status.source != status.SOURCE_EXECUTOR:
            return (f"Received Call from executor {call.executor_id.value} of framework "
                    f"{call.framework_id.value} with invalid source, expecting "
                    "'SOURCE_EXECUTOR'")
        if status.state == mesos_pb2.TaskState.TASK_STAGING:
            return (f"Received TASK_STAGING from executor {call.executor_id.value} of "
                    f"framework {call.framework_id.value} which is not allowed")
    return None


class ExecutorStream:
    """An executor's event stream: the Slave sends, the IO loop writes.

    `send` and `close` are safe from any thread; events are encoded at once
    and written in the order sent.
    """

    def __init__(self, handler: "ExecutorApiHandler", accept: str, io: IOLoopThread) -> None:
        self._handler = handler
        self._accept = accept
        self._io = io
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def send(self, event: executor_pb2.Event) -> None:
        record = codec.recordio(codec.encode(event, self._accept))
        self._io.call_soon(self._write, record)

    def close(self) -> None:
        self._io.call_soon(self._finish)

    def _write(self, record: bytes) -> None:
        if self.closed.done():
            return
        self._handler.write(record)
        self._handler.flush()

    def _finish(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class ExecutorApiHandler(tornado.web.RequestHandler):
    def initialize(self, slave: PID[Slave], recovered: threading.Event,
                   io: IOLoopThread) -> None:
        self._slave = slave
        self._recovered = recovered
        self._io = io
        self._stream: ExecutorStream | None = None

    async def post(self) -> None:
        if not self._recovered.is_set():
            self._error(503, "Agent has not finished recovery")
            return
        call = self._decode()
        if call is None:
            return
        try:
            if call.type == Call.SUBSCRIBE:
                await self._subscribe(call)
            elif call.type == Call.HEARTBEAT:
                self._accepted()
            elif call.type == Call.UPDATE:
                await to_asyncio(dispatch(self._slave, Slave.executor_update, call))
                self._accepted()
            elif call.type == Call.MESSAGE:
                await to_asyncio(dispatch(self._slave, Slave.executor_message, call))
                self._accepted()
            else:
                self._error(501, "Received 'UNKNOWN' call")
        except asyncio.CancelledError:
            return
        except Failure as failure:
            self._error(STATUS_OF_FAILURE.get(type(failure), 500), str(failure))

    async def get(self) -> None:
        if not self._recovered.is_set():
            self._error(503, "Agent has not finished recovery")
            return
        self.set_header("Allow", "POST")
        self._error(405, "405 Method Not Allowed. Expecting one of { 'POST' }, but received "
                         f"'{self.request.method}'.")

    put = delete = patch = head = get  # type: ignore[assignment]

    def on_connection_close(self) -> None:
        if self._stream is not None and not self._stream.closed.done():
            self._stream.closed.set_result(None)

    # ---------------------------------------------------------------- calls
    def _decode(self) -> executor_pb2.Call | None:
        content = codec.media_type(self.request.headers.get("Content-Type"))
        if content is None:
            self._error(400, "Expecting 'Content-Type' to be present")
            return None
        try:
            if content == APPLICATION_PROTOBUF:
                try:
                    call = codec.parse_protobuf(self.request.body, Call)
                except codec.DecodeFailure:
                    self._error(400, "Failed to parse body into Call protobuf")
                    return None
            elif content == APPLICATION_JSON:
                call = codec.loads(self.request.body, Call)
            else:
                self._error(415, f"Expecting 'Content-Type' of {APPLICATION_JSON} or "
                                 f"{APPLICATION_PROTOBUF}")
                return None
        except codec.DecodeFailure as error:
            text = str(error)
            if not text.startswith("Failed to parse body into JSON"):
                text = f"Failed to convert JSON into Call protobuf: {text}"
            self._error(400, text)
            return None
        except RecursionError:
            self._error(400, "The request body is nested too deeply")
            return None
        problem = validate_executor_call(call)
        if problem is not None:
            self._error(400, f"Failed to validate Executor::Call: {problem}")
            return None
        return call

    async def _subscribe(self, call: executor_pb2.Call) -> None:
        accept_header = self.request.headers.get("Accept")
        if codec.accepts(accept_header, APPLICATION_JSON):
            accept = APPLICATION_JSON
        elif codec.accepts(accept_header, APPLICATION_PROTOBUF):
            accept = APPLICATION_PROTOBUF
        else:
            self._error(406, f"Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or "
                             f"'{APPLICATION_JSON}'")
            return
        stream = self._stream = ExecutorStream(self, accept, self._io)
        self.set_status(200)
        self.set_header("Content-Type", accept)
        await to_asyncio(dispatch(self._slave, Slave.executor_subscribe, call, stream))
        if not stream.closed.done():
            self.flush()  # headers now: chunked, the stream is open
        await stream.closed
        dispatch(self._slave, Slave.executor_disconnected, call.framework_id.value,
                 call.executor_id.value, stream)
        if not self._finished:
            self.finish()

    # -------------------------------------------------------------- replies
    def _accepted(self) -> None:
        self.set_status(202)
        self.clear_header("Content-Type")
        self.finish()

    def _error(self, status: int, message: str) -> None:
        if self._stream is not None and self._headers_written:
            self.finish()
            return
        self.clear()
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(message)


def executor_api_route(slave: PID[Slave], recovered: threading.Event,
                       io: IOLoopThread) -> tuple[str, type[ExecutorApiHandler], dict[str, Any]]:
    prefix = f"(?:/{re.escape(slave.upid.id)})?"
    return (rf"{prefix}/api/v1/executor/?", ExecutorApiHandler,
            {"slave": slave, "recovered": recovered, "io": io})
