"""The libprocess transport between two runtimes, each with its own HTTP listener."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from typing import Any, Iterator

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from mesos_py.actors import Process, Runtime, UPID
from mesos_py.actors.transport import encode, message_route
from mesos_py.protos.messages import messages_pb2
from tests.agent import wait_until


class Recorder(Process):
    """Records every message and exited event it receives, in order."""

    def __init__(self, log: "Log") -> None:
        super().__init__()
        self.log = log

    def ping(self, sender: UPID, message: messages_pb2.PingSlaveMessage) -> None:
        self.check_on_actor()
        self.log.add((str(sender), message.connected))

    def shutdown(self, sender: UPID, message: messages_pb2.ShutdownMessage) -> None:
        self.log.add((str(sender), message.message))

    def exited(self, upid: UPID) -> None:
        self.log.add(("exited", str(upid)))


class Log:
    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, entry: tuple[str, Any]) -> None:
        with self.lock:
            self.received.append(entry)

    def seen(self) -> list[tuple[str, Any]]:
        with self.lock:
            return list(self.received)


class Node:
    """A runtime listening on its own port with one Recorder installed."""

    def __init__(self, port: int = 0) -> None:
        self.sockets = tornado.netutil.bind_sockets(port, address="127.0.0.1",
                                                    family=socket.AF_INET)
        self.port = self.sockets[0].getsockname()[1]
        self.runtime = Runtime(host="127.0.0.1", port=self.port)
        self.actor = Log()
        self.pid = self.runtime.spawn(Recorder, self.actor, name="recorder")
        self.runtime.transport.install(self.pid, {
            messages_pb2.PingSlaveMessage: Recorder.ping,
            messages_pb2.ShutdownMessage: Recorder.shutdown,
        })
        app = tornado.web.Application([message_route(self.runtime.transport)])
        started = threading.Event()

        def serve() -> None:
            self.server = tornado.httpserver.HTTPServer(app)
            self.server.add_sockets(self.sockets)
            started.set()

        self.runtime.io.call_soon(serve)
        started.wait(5)

    def stop(self) -> None:
        if self.runtime.io.loop.is_closed():
            return

        async def close() -> None:
            self.server.stop()
            await self.server.close_all_connections()

        asyncio.run_coroutine_threadsafe(close(), self.runtime.io.loop).result(5)
        self.runtime.stop()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    made: list[Node] = []
    yield made
    for node in made:
        node.stop()


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST", path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_encoding_is_libprocess_framing() -> None:
    data = encode(UPID("slave(1)", "127.0.0.1", 5051), UPID("master", "10.0.0.1", 5050),
                  messages_pb2.PingSlaveMessage(connected=True))
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /master/mesos.internal.PingSlaveMessage HTTP/1.1"
    assert "Libprocess-From: slave(1)@127.0.0.1:5051" in lines
    assert "User-Agent: libprocess/slave(1)@127.0.0.1:5051" in lines
    assert messages_pb2.PingSlaveMessage.FromString(body).connected is True


def test_messages_arrive_in_order_from_the_named_sender(nodes: list[Node]) -> None:
    a, b = Node(), Node()
    nodes += [a, b]
    for i in range(200):
        a.runtime.transport.send(a.pid.upid, b.pid.upid,
                                 messages_pb2.ShutdownMessage(message=str(i)))
    wait_until(lambda: len(b.actor.seen()) == 200, timeout=10)
    assert b.actor.seen() == [(str(a.pid.upid), str(i)) for i in range(200)]


def test_inbound_answers_like_libprocess(nodes: list[Node]) -> None:
    node = Node()
    nodes.append(node)
    body = messages_pb2.PingSlaveMessage(connected=True).SerializeToString()
    sender = "slave-observer(7)@127.0.0.1:5050"
    assert post(node.port, "/recorder(1)/mesos.internal.PingSlaveMessage", body,
                {"Libprocess-From": sender}) == 202
    # The older form: only a libprocess User-Agent.
    assert post(node.port, "/recorder(1)/mesos.internal.PingSlaveMessage", body,
                {"User-Agent": f"libprocess/{sender}"}) == 202
    assert post(node.port, "/nosuch(1)/mesos.internal.PingSlaveMessage", body,
                {"Libprocess-From": sender}) == 404
    # Not a message at all (no libprocess headers).
    assert post(node.port, "/recorder(1)/mesos.internal.PingSlaveMessage", body, {}) == 404
    wait_until(lambda: len(node.actor.seen()) == 2)
    assert node.actor.seen() == [(sender, True), (sender, True)]


def test_malformed_messages_are_dropped(nodes: list[Node]) -> None:
    node = Node()
    nodes.append(node)
    path = "/recorder(1)/mesos.internal.PingSlaveMessage"
    sender = {"Libprocess-From": "master@127.0.0.1:5050"}
    assert post(node.port, path, b"\xff\xff\xff garbage", sender) == 202
    assert post(node.port, path, b"", sender) == 202  # `connected` is required
    assert post(node.port, "/recorder(1)/mesos.internal.NoSuchMessage", b"", sender) == 202
    assert post(node.port, path, b"\x08\x01", {"Libprocess-From": "not a upid"}) == 400
    assert node.runtime.transport.dropped == 4
    # The actor is unharmed and still receives good messages.
    assert post(node.port, path, b"\x08\x01", sender) == 202
    wait_until(lambda: node.actor.seen() == [("master@127.0.0.1:5050", True)])


def test_exited_when_the_peer_goes_away_then_reconnect(nodes: list[Node]) -> None:
    a, b = Node(), Node()
    nodes.append(a)
    a.runtime.transport.link(a.pid, b.pid.upid, Recorder.exited)
    a.runtime.transport.send(a.pid.upid, b.pid.upid, messages_pb2.ShutdownMessage(message="1"))
    wait_until(lambda: b.actor.seen() == [(str(a.pid.upid), "1")])
    port = b.port
    b.stop()
    wait_until(lambda: ("exited", str(b.pid.upid)) in a.actor.seen(), timeout=10)
    # Exactly one exited per link.
    time.sleep(0.1)
    assert a.actor.seen().count(("exited", str(b.pid.upid))) == 1
    # A peer that comes back on the same address gets the next messages.
    c = Node(port)
    nodes.append(c)
    wait_until(lambda: _resend(a, c), timeout=10)


def _resend(a: Node, c: Node) -> bool:
    a.runtime.transport.send(a.pid.upid, c.pid.upid, messages_pb2.ShutdownMessage(message="2"))
    time.sleep(0.05)
    return (str(a.pid.upid), "2") in c.actor.seen()


def test_link_to_an_unreachable_peer_reports_exited(nodes: list[Node]) -> None:
    a = Node()
    nodes.append(a)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = UPID("master", "127.0.0.1", probe.getsockname()[1])
    a.runtime.transport.link(a.pid, dead, Recorder.exited)
    wait_until(lambda: ("exited", str(dead)) in a.actor.seen(), timeout=10)
