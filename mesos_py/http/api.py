"""POST /api/v1: decode an `agent.Call`, validate it, dispatch it to the Slave.

`CALLS` is the only list of the call types this agent serves. The checks run
in Mesos's order (recovery, method, Content-Type, Accept, body, validation)
with Mesos's status codes and messages; a call type not in `CALLS` is 501.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from typing import Any, Callable

import tornado.iostream
import tornado.web

from mesos_py.actors import PID, Failure, dispatch, to_asyncio
from mesos_py.errors import AgentRecovering, InvalidRequest, NotFound
from mesos_py.http import attach, codec
from mesos_py.http.codec import APPLICATION_JSON, APPLICATION_PROTOBUF, APPLICATION_RECORDIO
from mesos_py.protos.mesos.v1.agent import agent_pb2
from mesos_py.slave.slave import Accepted, Slave
from mesos_py.validation import validate_call

log = logging.getLogger(__name__)

Call = agent_pb2.Call

CALLS: dict[int, Callable[..., Any]] = {
    Call.GET_HEALTH: Slave.get_health,
    Call.GET_FLAGS: Slave.get_flags,
    Call.GET_VERSION: Slave.get_version,
    Call.GET_CONTAINERS: Slave.get_containers,
    Call.LAUNCH_CONTAINER: Slave.launch_container,
    Call.WAIT_CONTAINER: Slave.wait_container,
    Call.KILL_CONTAINER: Slave.kill_container,
    Call.REMOVE_CONTAINER: Slave.remove_container,
    Call.LAUNCH_NESTED_CONTAINER: Slave.launch_nested_container,
    Call.WAIT_NESTED_CONTAINER: Slave.wait_nested_container,
    Call.KILL_NESTED_CONTAINER: Slave.kill_nested_container,
    Call.REMOVE_NESTED_CONTAINER: Slave.remove_nested_container,
    Call.PRUNE_IMAGES: Slave.prune_images,
    # Agent state, files and logging (mesos_py/slave/views.py).
    Call.GET_STATE: Slave.get_state,
    Call.GET_FRAMEWORKS: Slave.get_frameworks,
    Call.GET_EXECUTORS: Slave.get_executors,
    Call.GET_TASKS: Slave.get_tasks,
    Call.GET_AGENT: Slave.get_agent,
    Call.GET_METRICS: Slave.get_metrics,
    Call.LIST_FILES: Slave.list_files,
    Call.READ_FILE: Slave.read_file,
    Call.GET_LOGGING_LEVEL: Slave.get_logging_level,
    Call.SET_LOGGING_LEVEL: Slave.set_logging_level,
}

MESSAGE_CONTENT_TYPE = "Message-Content-Type"
MESSAGE_ACCEPT = "Message-Accept"
STREAMING_REQUEST_CALLS = frozenset({Call.ATTACH_CONTAINER_INPUT})
# Calls answered with a stream of ProcessIO records: the Slave method returns
# (switchboard name, session container id or None).
STREAMING_OUTPUT_CALLS: dict[int, Callable[..., Any]] = {
    Call.ATTACH_CONTAINER_OUTPUT: Slave.attach_container_output,
    Call.LAUNCH_NESTED_CONTAINER_SESSION: Slave.launch_nested_container_session,
}

STATUS_OF_FAILURE: dict[type[Failure], int] = {InvalidRequest: 400, NotFound: 404,
                                                AgentRecovering: 503}


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclasses.dataclass(frozen=True)
class MediaTypes:
    content: str
    accept: str
    message_content: str | None = None  # of the records of a streaming request
    message_accept: str | None = None   # of the records of a streaming response


@tornado.web.stream_request_body
class ApiHandler(tornado.web.RequestHandler):
    """One call per request; bodies arrive in chunks (data_received), so a
    streaming ATTACH_CONTAINER_INPUT is forwarded record by record."""

    def initialize(self, slave: PID[Slave], recovered: threading.Event,
                   heartbeat_interval: float = 30.0) -> None:
        self._slave = slave
        self._recovered = recovered
        self._heartbeat = heartbeat_interval
        self._pending: Any = None
        self._media: MediaTypes | None = None
        self._chunks: list[bytes] = []
        self._records: attach.RecordIODecoder | None = None
        self._input: attach.InputForwarder | None = None
        self._closed = False
        self._gone = asyncio.Event()

    def prepare(self) -> None:
        if self.request.method != "POST":
            return
        try:
            self._media = self._negotiate()
        except HttpError as error:
            self._write_error(error)
            return
        if self._media.content == APPLICATION_RECORDIO:
            self._records = attach.RecordIODecoder()

    async def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        if self._records is None:
            self._chunks.append(chunk)
            return
        try:
            for record in self._records.feed(chunk):
                await self._input_record(record)
        except HttpError as error:
            self._write_error(error)
        except (ValueError, attach.SwitchboardGone) as error:
            self._write_error(HttpError(400, str(error)))
        except attach.InputBusy as error:
            self._write_error(HttpError(409, str(error)))
        except Failure as failure:
            self._write_error(HttpError(STATUS_OF_FAILURE.get(type(failure), 500), str(failure)))

    async def post(self) -> None:
        if self._finished or self._media is None:
            return
        media = self._media
        if self._records is not None:
            self._finish_input()
            return
        try:
            call = self._decode(b"".join(self._chunks), media.content)
            self._check_streaming(call)
            if call.type in STREAMING_OUTPUT_CALLS:
                await self._stream_output(call, media)
                return
            method = CALLS.get(call.type)
            if method is None:
                raise HttpError(501, f"{Call.Type.Name(call.type)} is not supported by this agent")
            self._pending = to_asyncio(dispatch(self._slave, method, call))
            result = await self._pending
        except asyncio.CancelledError:
            return  # the client went away (on_connection_close): nobody to answer
        except HttpError as error:
            self._write_error(error)
            return
        except Failure as failure:
            self._write_error(HttpError(STATUS_OF_FAILURE.get(type(failure), 500), str(failure)))
            return
        self._write_result(result, media.accept)

    async def get(self) -> None:
        self._write_error(self._method_not_allowed())

    put = delete = patch = head = get  # type: ignore[assignment]

    def on_connection_close(self) -> None:
        self._closed = True
        self._gone.set()
        if self._pending is not None:
            self._pending.cancel()  # discards the call's future (WAIT long-polls)
        if self._input is not None:
            self._input.close()

    # -------------------------------------------------------------- checks
    def _method_not_allowed(self) -> HttpError:
        if not self._recovered.is_set():
            return HttpError(503, "Agent has not finished recovery")
        return HttpError(405, "405 Method Not Allowed. Expecting one of { 'POST' }, but received "
                              f"'{self.request.method}'.", {"Allow": "POST"})

    def _negotiate(self) -> MediaTypes:
        if not self._recovered.is_set():
            raise HttpError(503, "Agent has not finished recovery")
        headers = self.request.headers
        raw_content = headers.get("Content-Type")
        if raw_content is None:
            raise HttpError(400, "Expecting 'Content-Type' to be present")
        content = codec.media_type(raw_content)
        if content not in (APPLICATION_JSON, APPLICATION_PROTOBUF, APPLICATION_RECORDIO):
            raise HttpError(415, f"Expecting 'Content-Type' of {APPLICATION_JSON} or "
                                 f"{APPLICATION_PROTOBUF} or {APPLICATION_RECORDIO}")
        message_content = None
        if content == APPLICATION_RECORDIO:
            raw = headers.get(MESSAGE_CONTENT_TYPE)
            if raw is None:
                raise HttpError(400, f"Expecting '{MESSAGE_CONTENT_TYPE}' to be set for "
                                     "streaming requests")
            message_content = codec.media_type(raw)
            if message_content not in (APPLICATION_JSON, APPLICATION_PROTOBUF):
                raise HttpError(415, f"Expecting '{MESSAGE_CONTENT_TYPE}' of {APPLICATION_JSON}"
                                     f" or {APPLICATION_PROTOBUF}")
        elif MESSAGE_CONTENT_TYPE in headers:
            raise HttpError(415, f"Expecting '{MESSAGE_CONTENT_TYPE}' to be not set for "
                                 "non-streaming requests")
        accept_header = headers.get("Accept")
        for candidate in (APPLICATION_JSON, APPLICATION_PROTOBUF, APPLICATION_RECORDIO):
            if codec.accepts(accept_header, candidate):
                accept = candidate
                break
        else:
            raise HttpError(406, f"Expecting 'Accept' to allow {APPLICATION_JSON} or "
                                 f"{APPLICATION_PROTOBUF} or {APPLICATION_RECORDIO}")
        message_accept = None
        if accept == APPLICATION_RECORDIO:
            message_header = headers.get(MESSAGE_ACCEPT)
            for candidate in (APPLICATION_JSON, APPLICATION_PROTOBUF):
                if codec.accepts(message_header, candidate):
                    message_accept = candidate
                    break
            else:
                raise HttpError(406, f"Expecting '{MESSAGE_ACCEPT}' to allow {APPLICATION_JSON}"
                                     f" or {APPLICATION_PROTOBUF}")
        elif MESSAGE_ACCEPT in headers:
            raise HttpError(406, f"Expecting '{MESSAGE_ACCEPT}' to be not set for "
                                 "non-streaming responses")
        return MediaTypes(content, accept, message_content, message_accept)

    def _decode(self, body: bytes, content: str) -> agent_pb2.Call:
        try:
            call = codec.decode(body, content, agent_pb2.Call)
            error_message = validate_call(call)
        except codec.DecodeFailure as error:
            raise HttpError(400, str(error))
        except RecursionError:
            raise HttpError(400, "The request body is nested too deeply")
        if error_message is not None:
            raise HttpError(400, f"Failed to validate agent::Call: {error_message}")
        return call

    def _check_streaming(self, call: agent_pb2.Call) -> None:
        assert self._media is not None
        name = Call.Type.Name(call.type)
        if self._media.content == APPLICATION_RECORDIO and call.type not in STREAMING_REQUEST_CALLS:
            raise HttpError(415, f"Streaming 'Content-Type' {APPLICATION_RECORDIO} is not "
                                 f"supported for {name} call")
        if self._media.content != APPLICATION_RECORDIO and call.type in STREAMING_REQUEST_CALLS:
            raise HttpError(415, f"Expecting 'Content-Type' to be {APPLICATION_RECORDIO} for "
                                 f"{name} call")
        if self._media.accept == APPLICATION_RECORDIO and call.type not in STREAMING_OUTPUT_CALLS:
            raise HttpError(406, f"Streaming response is not supported for {name} call")

    # ------------------------------------------------------------- streams
    async def _input_record(self, record: bytes) -> None:
        assert self._media is not None and self._media.message_content is not None
        call = self._decode(record, self._media.message_content)
        if self._input is None:
            self._check_streaming(call)
            attach_input = call.attach_container_input
            if attach_input.type != Call.AttachContainerInput.CONTAINER_ID:
                raise HttpError(400, "Expecting 'attach_container_input.type' to be CONTAINER_ID")
            name = await to_asyncio(dispatch(self._slave, Slave.attach_container_input,
                                             attach_input.container_id))
            self._input = await attach.InputForwarder.open(name)
            return
        await self._input.forward(call)

    def _finish_input(self) -> None:
        if self._input is None:
            self._write_error(HttpError(400, "Received EOF while reading request body"))
            return
        self._input.close()
        self.set_status(200)
        self.clear_header("Content-Type")
        self.finish()

    async def _stream_output(self, call: agent_pb2.Call, media: MediaTypes) -> None:
        method = STREAMING_OUTPUT_CALLS[call.type]
        self._pending = to_asyncio(dispatch(self._slave, method, call))
        result = await self._pending
        if isinstance(result, Accepted):
            self._write_result(result, media.accept)
            return
        name, session = result
        message_type = media.message_accept or media.accept
        self.set_status(200)
        self.set_header("Content-Type", media.accept)
        if media.message_accept is not None:
            self.set_header("Message-Content-Type", media.message_accept)

        async def write(data: bytes) -> None:
            self.write(data)
            await self.flush()

        try:
            await write(b"")  # the headers go now: the stream is open
            await attach.stream_output(name, message_type, self._heartbeat, write, self._gone)
        except (tornado.iostream.StreamClosedError, attach.SwitchboardGone):
            pass  # the client went away, or the container ended first
        finally:
            if session is not None:
                # A session lives as long as its connection.
                dispatch(self._slave, Slave.end_session, session)
        if not self._closed:
            self.finish()

    # ------------------------------------------------------------- replies
    def _write_result(self, result: Any, accept: str) -> None:
        if isinstance(result, Accepted) or result is None:
            self.set_status(202 if result is not None else 200)
            self.clear_header("Content-Type")  # Mesos sends none with an empty body
            self.finish()
            return
        self.set_status(200)
        self.set_header("Content-Type", accept)
        self.finish(codec.encode(result, accept))

    def _write_error(self, error: HttpError) -> None:
        if self._finished:
            return
        if error.status >= 500 and error.status != 501 and error.status != 503:
            log.error("API call failed: %s", error.message)
        self.set_status(error.status)
        for name, value in error.headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(error.message)
