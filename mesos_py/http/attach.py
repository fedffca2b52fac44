"""Streaming a container's IO over the Operator API (RecordIO of ProcessIO).

ATTACH_CONTAINER_OUTPUT and LAUNCH_NESTED_CONTAINER_SESSION answer with a
stream of `ProcessIO` records (STDOUT/STDERR data, and a HEARTBEAT control
record every `--http_heartbeat_interval`); ATTACH_CONTAINER_INPUT reads one.
Both talk to the container's IO switchboard (`containerizer/switchboard.py`)
over its abstract Unix socket, from the IO loop.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Awaitable, Callable

import tornado.iostream

from mesos_py.containerizer import switchboard
from mesos_py.http import codec
from mesos_py.protos.mesos.v1.agent import agent_pb2

ProcessIO = agent_pb2.ProcessIO


class SwitchboardGone(Exception):
    """The switchboard did not answer (it has exited, or never existed)."""


class InputBusy(Exception):
    """Another ATTACH_CONTAINER_INPUT is already attached."""


async def connect(name: str, hello: bytes) -> tornado.iostream.IOStream:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream = tornado.iostream.IOStream(sock)
    try:
        await stream.connect(switchboard.abstract_address(name))
        await stream.write(hello)
    except (OSError, tornado.iostream.StreamClosedError) as error:
        stream.close()
        raise SwitchboardGone(f"The container's IO switchboard is gone: {error}")
    return stream


# ------------------------------------------------------------------ output
def record(message: ProcessIO, message_type: str) -> bytes:
    return codec.recordio(codec.encode(message, message_type))


def data_record(kind: int, data: bytes, message_type: str) -> bytes:
    stream = ProcessIO.Data.STDOUT if kind == switchboard.STDOUT else ProcessIO.Data.STDERR
    message = ProcessIO(type=ProcessIO.DATA)
    message.data.type = stream
    message.data.data = data
    return record(message, message_type)


def heartbeat_record(interval: float, message_type: str) -> bytes:
    message = ProcessIO(type=ProcessIO.CONTROL)
    message.control.type = ProcessIO.Control.HEARTBEAT
    message.control.heartbeat.interval.nanoseconds = int(interval * 1e9)
    return record(message, message_type)


async def stream_output(name: str, message_type: str, heartbeat: float,
                        write: Callable[[bytes], Awaitable[None]],
                        client_gone: asyncio.Event) -> None:
    """Relays the container's output as records until it ends or the client goes.

    `write` sends one record to the client (and raises when it is gone).
    """
    source = await connect(name, switchboard.OUTPUT)

    async def relay() -> None:
        try:
            while True:
                header = await source.read_bytes(switchboard.HEADER.size)
                kind, length = switchboard.HEADER.unpack(header)
                if kind == switchboard.END:
                    return
                data = await source.read_bytes(length) if length else b""
                await write(data_record(kind, data, message_type))
        except tornado.iostream.StreamClosedError:
            return  # the switchboard ended with the container

    async def heartbeats() -> None:
        while True:
            await asyncio.sleep(heartbeat)
            await write(heartbeat_record(heartbeat, message_type))

    tasks = [asyncio.ensure_future(relay()), asyncio.ensure_future(heartbeats()),
             asyncio.ensure_future(client_gone.wait())]
    try:
        # Whichever ends first ends the stream: the output, the client, a write.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        source.close()


# ------------------------------------------------------------------- input
class RecordIODecoder:
    """Incremental RecordIO: `<length>\\n<bytes>` records out of arbitrary chunks."""

    MAX_RECORD = 16 << 20

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        records: list[bytes] = []
        while True:
            head, newline, rest = self._buffer.partition(b"\n")
            if not newline:
                if len(self._buffer) > 20:
                    raise ValueError("Malformed RecordIO: no record length")
                return records
            if not head.strip().isdigit():
                raise ValueError(f"Malformed RecordIO: bad record length {head[:20]!r}")
            length = int(head)
            if length > self.MAX_RECORD:
                raise ValueError(f"RecordIO record of {length} bytes is too large")
            if len(rest) < length:
                return records
            records.append(rest[:length])
            self._buffer = rest[length:]


class InputForwarder:
    """Feeds PROCESS_IO records of ATTACH_CONTAINER_INPUT to a switchboard."""

    def __init__(self, stream: tornado.iostream.IOStream) -> None:
        self._stream = stream

    @staticmethod
    async def open(name: str) -> "InputForwarder":
        stream = await connect(name, switchboard.INPUT)
        try:
            answer = await stream.read_until(b"\n", max_bytes=16)
        except (tornado.iostream.StreamClosedError, tornado.iostream.UnsatisfiableReadError):
            raise SwitchboardGone("The container's IO switchboard closed the connection")
        if answer != b"ok\n":
            stream.close()
            raise InputBusy("Multiple input connections are not allowed")
        return InputForwarder(stream)

    async def forward(self, call: agent_pb2.Call) -> None:
        """Passes on one PROCESS_IO record; ValueError for a malformed one."""
        attach = call.attach_container_input
        if attach.type != agent_pb2.Call.AttachContainerInput.PROCESS_IO:
            raise ValueError("Expecting 'attach_container_input.type' to be PROCESS_IO")
        process_io = attach.process_io
        if process_io.type == ProcessIO.DATA:
            if process_io.data.type != ProcessIO.Data.STDIN:
                raise ValueError("Expecting 'process_io.data.type' to be STDIN")
            data = process_io.data.data
            await self._send(switchboard.DATA if data else switchboard.EOF, data)
        elif process_io.type == ProcessIO.CONTROL:
            control = process_io.control
            if control.type == ProcessIO.Control.TTY_INFO:
                size = control.tty_info.window_size
                await self._send(switchboard.WINDOW, struct.pack("!HH", size.rows, size.columns))
            elif control.type != ProcessIO.Control.HEARTBEAT:
                raise ValueError("Unknown 'process_io.control.type'")
        else:
            raise ValueError("Expecting 'process_io.type' to be DATA or CONTROL")

    async def _send(self, kind: int, payload: bytes) -> None:
        try:
            await self._stream.write(switchboard.HEADER.pack(kind, len(payload)) + payload)
        except tornado.iostream.StreamClosedError:
            raise SwitchboardGone("The container's IO switchboard is gone")

    def close(self) -> None:
        self._stream.close()
