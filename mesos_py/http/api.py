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

import tornado.web

from mesos_py.actors import PID, Failure, dispatch, to_asyncio
from mesos_py.errors import AgentRecovering, InvalidRequest, NotFound
from mesos_py.http import codec
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
STREAMING_RESPONSE_CALLS = frozenset({Call.ATTACH_CONTAINER_OUTPUT,
                                      Call.LAUNCH_NESTED_CONTAINER_SESSION})

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


class ApiHandler(tornado.web.RequestHandler):
    def initialize(self, slave: PID[Slave], recovered: threading.Event) -> None:
        self._slave = slave
        self._recovered = recovered
        self._pending: Any = None

    async def post(self) -> None:
        try:
            media = self._negotiate()
            call = self._decode(media.content)
            self._check_streaming(call, media)
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
        if self._pending is not None:
            self._pending.cancel()  # discards the call's future (WAIT long-polls)

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
        if content == APPLICATION_RECORDIO:
            raise HttpError(415, f"Streaming 'Content-Type' {APPLICATION_RECORDIO} is not "
                                 "supported by this agent yet")
        if MESSAGE_CONTENT_TYPE in headers:
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
        if accept != APPLICATION_RECORDIO and MESSAGE_ACCEPT in headers:
            raise HttpError(406, f"Expecting '{MESSAGE_ACCEPT}' to be not set for "
                                 "non-streaming responses")
        return MediaTypes(content, accept)

    def _decode(self, content: str) -> agent_pb2.Call:
        try:
            call = codec.decode(self.request.body, content, agent_pb2.Call)
            error_message = validate_call(call)
        except codec.DecodeFailure as error:
            raise HttpError(400, str(error))
        except RecursionError:
            raise HttpError(400, "The request body is nested too deeply")
        if error_message is not None:
            raise HttpError(400, f"Failed to validate agent::Call: {error_message}")
        return call

    def _check_streaming(self, call: agent_pb2.Call, media: MediaTypes) -> None:
        if media.accept == APPLICATION_RECORDIO and call.type not in STREAMING_RESPONSE_CALLS:
            raise HttpError(406, "Streaming response is not supported for "
                                 f"{Call.Type.Name(call.type)} call")

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
        if error.status >= 500 and error.status != 501 and error.status != 503:
            log.error("API call failed: %s", error.message)
        self.set_status(error.status)
        for name, value in error.headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(error.message)
