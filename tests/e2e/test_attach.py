"""Sessions and attach: LAUNCH_NESTED_CONTAINER_SESSION, ATTACH_CONTAINER_INPUT/OUTPUT."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from mesos_py.protos.mesos.v1.agent import agent_pb2
from tests.agent import AgentProcess, wait_until

LINUX = ["--launcher=linux", "--isolation=filesystem/linux,namespaces/pid,namespaces/ipc",
         "--http_heartbeat_interval=100ms"]


class RecordStream:
    """A streamed ProcessIO response, read record by record."""

    def __init__(self, agent: AgentProcess, call: dict[str, Any],
                 message_accept: str = "application/json") -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)
        self.connection.request("POST", "/api/v1", json.dumps(call), {
            "Content-Type": "application/json", "Accept": "application/recordio",
            "Message-Accept": message_accept})
        self.response = self.connection.getresponse()
        self.message_accept = message_accept

    def records(self) -> Iterator[Any]:
        while True:
            line = self.response.readline()
            if not line:
                return
            data = self.response.read(int(line))
            if self.message_accept == "application/x-protobuf":
                yield agent_pb2.ProcessIO.FromString(data)
            else:
                yield json.loads(data)

    def output(self, until: Callable[[str], bool] = lambda _: False) -> tuple[str, str]:
        """Collected stdout and stderr, until the stream ends or `until(stdout)`."""
        out, err = [], []
        for record in self.records():
            if record["type"] != "DATA":
                continue
            data = base64.b64decode(record["data"].get("data", "")).decode()
            (out if record["data"]["type"] == "STDOUT" else err).append(data)
            if until("".join(out)):
                break
        return "".join(out), "".join(err)

    def close(self) -> None:
        self.connection.close()


class InputStream:
    """ATTACH_CONTAINER_INPUT as a chunked RecordIO upload, record by record."""

    def __init__(self, agent: AgentProcess, container_id: dict[str, Any]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", agent.port), timeout=30)
        self.sock.sendall(b"POST /api/v1 HTTP/1.1\r\nHost: agent\r\nTransfer-Encoding: chunked\r\n"
                          b"Content-Type: application/recordio\r\n"
                          b"Message-Content-Type: application/json\r\n"
                          b"Accept: application/json\r\n\r\n")
        self.send({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
            "type": "CONTAINER_ID", "container_id": container_id}})

    def send(self, call: dict[str, Any]) -> None:
        record = json.dumps(call).encode()
        framed = str(len(record)).encode() + b"\n" + record
        self.sock.sendall(b"%x\r\n%s\r\n" % (len(framed), framed))

    def data(self, text: str) -> None:
        self.send({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
            "type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {
                "type": "STDIN", "data": base64.b64encode(text.encode()).decode()}}}})

    def finish(self) -> str:
        self.sock.sendall(b"0\r\n\r\n")
        return self.sock.recv(4096).decode(errors="replace")

    def close(self) -> None:
        self.sock.close()


def session(parent: str, child: str, command: str, **extra: Any) -> dict[str, Any]:
    return {"type": "LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session": {
        "container_id": {"value": child, "parent": {"value": parent}},
        "command": {"value": command}, **extra}}


def wait_nested(agent: AgentProcess, parent: str, child: str) -> Any:
    return agent.call({"type": "WAIT_CONTAINER", "wait_container": {
        "container_id": {"value": child, "parent": {"value": parent}}}}).json()


@pytest.fixture
def agent(make_agent: Callable[..., AgentProcess]) -> AgentProcess:
    agent = make_agent(LINUX)
    assert agent.launch("pod", "sleep 1000").status == 200
    return agent


def test_session_streams_output_and_ends_with_the_command(agent: AgentProcess) -> None:
    stream = RecordStream(agent, session("pod", "dbg", "echo hello; echo oops >&2; exit 3"))
    assert stream.response.status == 200
    assert stream.response.getheader("Content-Type") == "application/recordio"
    assert stream.response.getheader("Message-Content-Type") == "application/json"
    assert stream.output() == ("hello\n", "oops\n")
    assert wait_nested(agent, "pod", "dbg")["wait_container"]["exit_status"] == 3 << 8
    sandbox = os.path.join(agent.sandbox("pod"), "containers", "dbg")
    assert open(os.path.join(sandbox, "stdout")).read() == "hello\n"


def test_session_enters_the_parents_namespaces(agent: AgentProcess) -> None:
    [parent] = agent.containers(show_standalone=True)
    init = parent["container_status"]["executor_pid"]
    command = "readlink /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/ipc"
    out, _ = RecordStream(agent, session("pod", "look", command)).output()
    assert out.split() == [os.readlink(f"/proc/{init}/ns/{name}") for name in ("pid", "mnt", "ipc")]


def test_closing_the_session_kills_its_container(agent: AgentProcess) -> None:
    stream = RecordStream(agent, session("pod", "long", "echo started; sleep 1000"))
    records = stream.records()
    kinds = [next(records)["type"] for _ in range(3)]
    assert "CONTROL" in kinds  # heartbeats flow (every 100ms here)
    stream.close()
    reply = wait_nested(agent, "pod", "long")
    assert reply["wait_container"]["exit_status"] == signal.SIGKILL


def test_input_reaches_a_session_and_eof_ends_it(agent: AgentProcess) -> None:
    stream = RecordStream(agent, session("pod", "cat", "cat; echo done"))
    container = {"value": "cat", "parent": {"value": "pod"}}
    stdin = InputStream(agent, container)
    stdin.data("first line\n")
    stdin.data("second ")
    stdin.data("")  # an empty DATA record is EOF
    assert stdin.finish().startswith("HTTP/1.1 200")
    stdin.close()
    assert stream.output() == ("first line\nsecond done\n", "")


def test_one_input_at_a_time(agent: AgentProcess) -> None:
    stream = RecordStream(agent, session("pod", "one", "cat"))
    container = {"value": "one", "parent": {"value": "pod"}}
    first = InputStream(agent, container)
    first.data("x")
    second = InputStream(agent, container)
    reply = second.finish()
    assert reply.startswith("HTTP/1.1 409") and "Multiple input connections" in reply
    first.data("")
    first.finish()
    assert stream.output()[0] == "x"
    first.close()
    second.close()


def test_tty_container_echoes_and_survives_an_agent_restart(agent: AgentProcess) -> None:
    tty = {"type": "MESOS", "tty_info": {"window_size": {"rows": 40, "columns": 100}}}
    assert agent.launch("shell", "stty size; cat", container=tty).status == 200
    container = {"value": "shell"}
    output = RecordStream(agent, {"type": "ATTACH_CONTAINER_OUTPUT",
                                  "attach_container_output": {"container_id": container}})
    stdin = InputStream(agent, container)
    stdin.data("ping\n")
    out, _ = output.output(until=lambda text: text.count("ping") >= 2)
    assert out.count("ping") >= 2  # the terminal's echo, then cat's
    stdin.finish()
    stdin.close()
    output.close()
    sandbox_stdout = open(os.path.join(agent.sandbox("shell"), "stdout")).read()
    assert "ping" in sandbox_stdout, "output is still written to the sandbox"
    assert "40 100" in sandbox_stdout.splitlines(), "the window size reached the TTY"

    agent.kill(signal.SIGKILL)
    agent.start()
    output = RecordStream(agent, {"type": "ATTACH_CONTAINER_OUTPUT",
                                  "attach_container_output": {"container_id": container}})
    stdin = InputStream(agent, container)
    stdin.data("after restart\n")
    out, _ = output.output(until=lambda text: "after restart" in text)
    assert "after restart" in out
    stdin.send({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
        "type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {
            "type": "STDIN", "data": base64.b64encode(b"\x04").decode()}}}})
    stdin.finish()
    stdin.close()
    assert agent.wait("shell").json()["wait_container"]["exit_status"] == 0


def test_records_in_protobuf(agent: AgentProcess) -> None:
    stream = RecordStream(agent, session("pod", "pb", "printf abc"),
                          message_accept="application/x-protobuf")
    assert stream.response.getheader("Message-Content-Type") == "application/x-protobuf"
    data = [r for r in stream.records() if r.type == agent_pb2.ProcessIO.DATA]
    assert b"".join(r.data.data for r in data) == b"abc"


def test_attach_errors(agent: AgentProcess) -> None:
    reply = agent.request("POST", "/api/v1", json.dumps({
        "type": "ATTACH_CONTAINER_OUTPUT",
        "attach_container_output": {"container_id": {"value": "pod"}}}).encode(),
        {"Content-Type": "application/json", "Accept": "application/recordio"})
    assert (reply.status, reply.text) == (400, "I/O switchboard server was disabled for this "
                                               "container")
    reply = agent.request("POST", "/api/v1", json.dumps({
        "type": "ATTACH_CONTAINER_OUTPUT",
        "attach_container_output": {"container_id": {"value": "nope"}}}).encode(),
        {"Content-Type": "application/json", "Accept": "application/recordio"})
    assert reply.status == 404
    reply = agent.request("POST", "/api/v1", json.dumps({
        "type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
            "type": "CONTAINER_ID", "container_id": {"value": "pod"}}}).encode(),
        {"Content-Type": "application/json", "Accept": "application/json"})
    assert reply.status == 415
    assert "Expecting 'Content-Type' to be application/recordio" in reply.text
    reply = agent.request("POST", "/api/v1", b"5\nabcde",
                          {"Content-Type": "application/recordio", "Accept": "application/json"})
    assert (reply.status, reply.text) == (400, "Expecting 'Message-Content-Type' to be set for "
                                               "streaming requests")
    stdin = InputStream.__new__(InputStream)
    stdin.sock = socket.create_connection(("127.0.0.1", agent.port), timeout=30)
    stdin.sock.sendall(b"POST /api/v1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                       b"Content-Type: application/recordio\r\n"
                       b"Message-Content-Type: application/json\r\n\r\n")
    stdin.send({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
        "type": "PROCESS_IO", "container_id": {"value": "pod"}}})
    reply = stdin.finish()
    assert reply.startswith("HTTP/1.1 400")
    assert "Expecting 'attach_container_input.type' to be CONTAINER_ID" in reply
    stdin.close()


def test_session_with_the_posix_launcher(make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--launcher=posix"])
    assert agent.launch("host", "sleep 1000").status == 200
    out, _ = RecordStream(agent, session("host", "peek", "echo on the host")).output()
    assert out == "on the host\n"
