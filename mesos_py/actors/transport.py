"""libprocess's message transport: protobuf messages between UPIDs over HTTP.

Wire format (what a Mesos 1.11 master sends and accepts): a message is
`POST /<receiver id>/<full protobuf name>` whose body is the serialized
message, with the sender's UPID in `Libprocess-From` (older peers only set
`User-Agent: libprocess/<upid>`). The receiver answers `202 Accepted` and the
sender ignores every reply.

Outbound: one persistent connection per peer address (`host:port`), opened on
first use; messages to one peer go out in the order `send` was called from a
given thread. A connection that breaks (or never opens) drops whatever was
queued on it: libprocess gives no delivery guarantee, the protocols above it
retry. Every actor that `link`ed to a UPID at that address then receives
`exited(upid)` once, and the next `send` opens a fresh connection.

Inbound: `install(pid, handlers)` routes messages addressed to the actor id of
`pid` to its handler methods, each called as `method(actor, sender, message)`
in the actor's mailbox. A message with a body that does not parse, a name the
actor has no handler for, or an unparsable sender is dropped with one log
line; it never reaches the actor.

All socket work happens on the runtime's IO loop; `send`, `link` and
`install` are safe from any thread.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import logging
import threading
from typing import Any, Callable, Mapping

import tornado.web
from google.protobuf.message import DecodeError, Message

from mesos_py.actors.loop import IOLoopThread
from mesos_py.actors.process import PID, UPID, dispatch

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
Address = tuple[str, int]
# method(actor, sender, message): a Process method installed for one message type.
Handler = Callable[[Any, UPID, Any], Any]


@dataclasses.dataclass(frozen=True)
class _Route:
    pid: PID[Any]
    handlers: Mapping[str, tuple[type[Message], Handler]]


@dataclasses.dataclass(frozen=True)
class _Link:
    linker: PID[Any]
    to: UPID
    exited: Callable[[Any, UPID], Any]


class _Peer:
    """The outbound connection to one address (IO loop only)."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.queue: collections.deque[bytes] = collections.deque()
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None
        self.links: list[_Link] = []


class Transport:
    def __init__(self, io: IOLoopThread) -> None:
        self._io = io
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self._peers: dict[Address, _Peer] = {}  # IO loop only
        self.dropped = 0  # inbound messages dropped as malformed (tests, metrics)

    # ================================================================ inbound
    def install(self, pid: PID[Any], handlers: Mapping[type[Message], Handler]) -> None:
        """Routes the messages named by `handlers` to `pid`'s methods."""
        table = {cls.DESCRIPTOR.full_name: (cls, method) for cls, method in handlers.items()}
        with self._lock:
            self._routes[pid.upid.id] = _Route(pid, table)

    def uninstall(self, pid: PID[Any]) -> None:
        with self._lock:
            self._routes.pop(pid.upid.id, None)

    def receive(self, receiver: str, name: str, sender: str | None, body: bytes) -> int:
        """Delivers one inbound message; returns the HTTP status to answer."""
        with self._lock:
            route = self._routes.get(receiver)
        if route is None:
            return 404
        try:
            upid = UPID.parse(sender or "")
        except ValueError:
            self.dropped += 1
            log.warning("Dropping %s for %s: malformed sender '%s'", name, receiver, sender)
            return 400
        entry = route.handlers.get(name)
        if entry is None:
            self.dropped += 1
            log.warning("Dropping %s from %s: %s has no handler for it", name, upid, receiver)
            return 202
        cls, method = entry
        message = cls()
        try:
            message.ParseFromString(body)
            if not message.IsInitialized():
                missing = ", ".join(message.FindInitializationErrors())  # type: ignore[attr-defined]
                raise DecodeError(f"missing required fields: {missing}")
        except (DecodeError, RuntimeError, ValueError) as error:
            self.dropped += 1
            log.warning("Dropping %s from %s: the body does not parse (%s)", name, upid, error)
            return 202
        dispatch(route.pid, method, upid, message)
        return 202

    # =============================================================== outbound
    def send(self, sender: UPID, to: UPID, message: Message) -> None:
        """Queues `message` to `to` on the connection to its address."""
        data = encode(sender, to, message)
        self._io.call_soon(self._enqueue, (to.host, to.port), data)

    def link(self, linker: PID[Any], to: UPID, exited: Callable[[Any, UPID], Any]) -> None:
        """Delivers `exited(actor, to)` to `linker` once the connection to `to` is lost.

        Opens the connection if needed, so a peer that cannot be reached is
        reported too. Linking twice to the same UPID is one link.
        """
        self._io.call_soon(self._link, _Link(linker, to, exited))

    def stop(self) -> None:
        """Closes every outbound connection (without exited events).

        Waits (a few seconds at most) until the connections' tasks have ended,
        so none is left pending when the IO loop stops after this.
        """
        if self._io.loop.is_closed():
            return
        if self._io.on_loop():
            self._close_all()
            return
        closed = asyncio.run_coroutine_threadsafe(self._close_all_and_wait(), self._io.loop)
        try:
            closed.result(timeout=STOP_TIMEOUT)
        except concurrent.futures.TimeoutError:
            log.warning("Outbound connections still closing after %ss", STOP_TIMEOUT)

    async def _close_all_and_wait(self) -> None:
        await asyncio.gather(*self._close_all(), return_exceptions=True)

    # ------------------------------------------------------------- IO loop
    def _peer(self, address: Address) -> _Peer:
        peer = self._peers.get(address)
        if peer is None:
            peer = self._peers[address] = _Peer(address)
            peer.task = self._io.loop.create_task(self._run(peer))
        return peer

    def _enqueue(self, address: Address, data: bytes) -> None:
        peer = self._peer(address)
        if peer.writer is not None:
            peer.writer.write(data)
        else:
            peer.queue.append(data)

    def _link(self, link: _Link) -> None:
        peer = self._peer((link.to.host, link.to.port))
        if not any(l.linker == link.linker and l.to == link.to for l in peer.links):
            peer.links.append(link)

    async def _run(self, peer: _Peer) -> None:
        host, port = peer.address
        reason = "connection closed by peer"
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                    CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as error:
            reason = f"failed to connect: {error or 'timed out'}"
        else:
            peer.writer = writer
            while peer.queue:
                writer.write(peer.queue.popleft())
            try:
                # Replies (202s) carry nothing; reading them keeps the socket
                # drained and tells us when the peer goes away.
                while await reader.read(65536):
                    pass
            except OSError as error:
                reason = f"connection broken: {error}"
            finally:
                writer.close()
        self._lost(peer, reason)

    def _lost(self, peer: _Peer, reason: str) -> None:
        if self._peers.get(peer.address) is peer:
            del self._peers[peer.address]
        if peer.queue:
            log.warning("Dropped %d message(s) to %s:%d: %s", len(peer.queue), *peer.address,
                        reason)
        for link in peer.links:
            log.info("%s: link to %s lost (%s)", link.linker, link.to, reason)
            dispatch(link.linker, link.exited, link.to)

    def _close_all(self) -> list[asyncio.Task[None]]:
        cancelled = []
        for peer in list(self._peers.values()):
            peer.links.clear()
            if peer.task is not None:
                peer.task.cancel()
                cancelled.append(peer.task)
        self._peers.clear()
        return cancelled


def encode(sender: UPID, to: UPID, message: Message) -> bytes:
    """The HTTP request libprocess uses to carry `message`."""
    body = message.SerializeToString()
    head = (f"POST /{to.id}/{message.DESCRIPTOR.full_name} HTTP/1.1\r\n"
            f"User-Agent: libprocess/{sender}\r\n"
            f"Libprocess-From: {sender}\r\n"
            "Connection: Keep-Alive\r\n"
            f"Host: {to.host}:{to.port}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def libprocess_sender(headers: Any) -> str | None:
    """The sender UPID text of a request, or None if it is not a message."""
    sender = headers.get("Libprocess-From")
    if sender is not None:
        return str(sender)
    agent = headers.get("User-Agent", "")
    if agent.startswith("libprocess/"):
        return str(agent[len("libprocess/"):])
    return None


class MessageHandler(tornado.web.RequestHandler):
    """POST /<actor id>/<message name>: an inbound libprocess message.

    Routed last: every real endpoint of the agent matches first. A POST
    without libprocess headers, and any other method, is 404 as in libprocess.
    """

    def initialize(self, transport: Transport) -> None:
        self._transport = transport

    def post(self, receiver: str, name: str) -> None:
        sender = libprocess_sender(self.request.headers)
        if sender is None:
            self._answer(404)
            return
        # tornado has already percent-decoded the path arguments.
        status = self._transport.receive(receiver, name, sender, self.request.body)
        self._answer(status)

    def get(self, receiver: str, name: str) -> None:
        self._answer(404)

    def _answer(self, status: int) -> None:
        self.set_status(status)
        self.clear_header("Content-Type")
        self.finish()


def message_route(transport: Transport) -> tuple[str, type[MessageHandler], dict[str, Any]]:
    """The tornado rule for inbound messages; add it after every other route."""
    return (r"/([^/]+)/([^/]+)", MessageHandler, {"transport": transport})
