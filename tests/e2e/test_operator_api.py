"""The v1 Operator API of a real mesos-py-agent process, over HTTP."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from mesos_py.protos.mesos.v1.agent import agent_pb2
from tests.agent import AgentProcess, wait_until

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

# The request of the standalone-containers document, without its image.
SEED_LAUNCH = {
    "type": "LAUNCH_CONTAINER",
    "launch_container": {
        "container_id": {"value": "my-standalone-container-id"},
        "command": {"value": "sleep 100"},
        "resources": [
            {"name": "cpus", "scalar": {"value": 2.0}, "type": "SCALAR"},
            {"name": "mem", "scalar": {"value": 1024.0}, "type": "SCALAR"},
            {"name": "disk", "scalar": {"value": 1024.0}, "type": "SCALAR"},
        ],
        "container": {"type": "MESOS"},
    },
}


def exit_code(status: int) -> int:
    assert os.WIFEXITED(status), status
    return os.WEXITSTATUS(status)


# ------------------------------------------------------------------ basics
def test_get_health_in_json_and_protobuf(agent: AgentProcess) -> None:
    reply = agent.call({"type": "GET_HEALTH"})
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"type": "GET_HEALTH", "get_health": {"healthy": True}}

    reply = agent.call(agent_pb2.Call(type=agent_pb2.Call.GET_HEALTH),
                       accept="application/x-protobuf")
    assert reply.headers["content-type"] == "application/x-protobuf"
    response = agent_pb2.Response.FromString(reply.body)
    assert response.type == agent_pb2.Response.GET_HEALTH and response.get_health.healthy


def test_get_flags_lists_every_flag_with_its_value(agent: AgentProcess) -> None:
    flags = {f["name"]: f["value"] for f in agent.call({"type": "GET_FLAGS"}).json()
             ["get_flags"]["flags"]}
    assert flags["work_dir"] == agent.work_dir
    assert flags["port"] == str(agent.port)
    assert flags["isolation"] == "posix/cpu,posix/mem"
    assert flags["launcher"] == "linux"  # the default when running as root


def test_get_version(agent: AgentProcess) -> None:
    version = agent.call({"type": "GET_VERSION"}).json()["get_version"]["version_info"]
    assert version["version"] == "1.11.0"
    assert version["git_tag"].startswith("mesos-py-")


def test_plain_endpoints_bare_and_under_the_actor_id(agent: AgentProcess) -> None:
    for prefix in ("", "/slave(1)"):
        health = agent.request("GET", f"{prefix}/health")
        assert (health.status, health.body) == (200, b"")
        flags = agent.request("GET", f"{prefix}/flags").json()["flags"]
        assert flags["runtime_dir"] == agent.runtime_dir
    assert agent.request("GET", "/version").json()["version"] == "1.11.0"
    reply = agent.request("POST", "/slave(1)/api/v1", b'{"type":"GET_HEALTH"}', JSON_HEADERS)
    assert reply.json()["get_health"]["healthy"] is True


# --------------------------------------------------------------- lifecycle
def test_seed_launch_wait_kill(agent: AgentProcess) -> None:
    reply = agent.call(SEED_LAUNCH)
    assert (reply.status, reply.body) == (200, b"")
    assert "content-type" not in reply.headers

    again = agent.call(SEED_LAUNCH)
    assert again.status == 202

    waiting: list = []
    waiter = threading.Thread(target=lambda: waiting.append(agent.wait("my-standalone-container-id")))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive(), "WAIT_CONTAINER must block while the container runs"

    kill = agent.call({"type": "KILL_CONTAINER",
                       "kill_container": {"container_id": {"value": "my-standalone-container-id"}}})
    assert (kill.status, kill.body) == (200, b"")
    waiter.join(timeout=10)
    assert waiting[0].status == 200
    assert waiting[0].json() == {"type": "WAIT_CONTAINER", "wait_container": {"exit_status": 9}}


def test_wait_returns_raw_exit_status(agent: AgentProcess) -> None:
    assert agent.launch("three", "exit 3").status == 200
    reply = agent.wait("three")
    assert reply.json()["wait_container"]["exit_status"] == 3 << 8


def test_wait_after_exit_still_answers_until_removed(agent: AgentProcess) -> None:
    assert agent.launch("quick", "true").status == 200
    assert agent.wait("quick").json()["wait_container"]["exit_status"] == 0
    assert agent.wait("quick").json()["wait_container"]["exit_status"] == 0
    assert agent.remove("quick").status == 200
    assert agent.wait("quick").status == 404


def test_kill_with_signal_reaches_the_command(agent: AgentProcess) -> None:
    script = "trap 'echo got-term > term; exit 42' TERM; echo ready > ready; while true; do sleep 0.05; done"
    assert agent.launch("trapper", script).status == 200
    wait_until(lambda: os.path.exists(os.path.join(agent.sandbox("trapper"), "ready")))
    assert agent.kill_container("trapper", signal.SIGTERM).status == 200
    assert exit_code(agent.wait("trapper").json()["wait_container"]["exit_status"]) == 42
    with open(os.path.join(agent.sandbox("trapper"), "term")) as marker:
        assert marker.read() == "got-term\n"


def test_kill_unknown_or_ended_container_is_404(agent: AgentProcess) -> None:
    reply = agent.kill_container("nobody-here")
    assert reply.status == 404
    assert reply.text == "Container 'nobody-here' cannot be found (or is already killed)"
    assert agent.launch("ended", "true").status == 200
    agent.wait("ended")
    assert agent.kill_container("ended").status == 404


def test_wait_and_remove_unknown_container_are_404(agent: AgentProcess) -> None:
    wait = agent.wait("ghost")
    assert (wait.status, wait.text) == (404, "Container ghost cannot be found")
    assert agent.remove("ghost").status == 404


def test_remove_refuses_a_running_container_then_removes_sandbox(agent: AgentProcess) -> None:
    assert agent.launch("busy", "sleep 100").status == 200
    reply = agent.remove("busy")
    assert reply.status == 400
    assert "has not terminated" in reply.text
    assert os.path.isdir(agent.sandbox("busy"))
    agent.kill_container("busy")
    agent.wait("busy")
    assert agent.remove("busy").status == 200
    assert not os.path.exists(agent.sandbox("busy"))
    assert not os.path.exists(os.path.join(agent.work_dir, "meta", "containers", "busy"))


def test_relaunch_of_an_ended_container_id(agent: AgentProcess) -> None:
    assert agent.launch("again", "exit 1").status == 200
    assert agent.wait("again").json()["wait_container"]["exit_status"] == 256
    assert agent.launch("again", "exit 2").status == 200
    assert agent.wait("again").json()["wait_container"]["exit_status"] == 512


# ------------------------------------------------------- command semantics
def test_sandbox_environment_and_output(agent: AgentProcess) -> None:
    command = "echo out; echo err >&2; pwd; echo $MESOS_SANDBOX; echo $GREETING; echo $PATH"
    environment = {"variables": [{"name": "GREETING", "value": "hi there"}]}
    assert agent.launch("env", {"value": command,
                                                 "environment": environment}).status == 200
    assert agent.wait("env").json()["wait_container"]["exit_status"] == 0
    sandbox = agent.sandbox("env")
    with open(os.path.join(sandbox, "stdout")) as out:
        lines = out.read().splitlines()
    assert lines == ["out", sandbox, sandbox, "hi there",
                     "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    with open(os.path.join(sandbox, "stderr")) as err:
        assert err.read() == "err\n"


def test_shell_false_runs_arguments_directly(agent: AgentProcess) -> None:
    command = {"shell": False, "value": "/bin/echo", "arguments": ["echo", "a  b", "$HOME"]}
    assert agent.launch("argv", command).status == 200
    assert agent.wait("argv").json()["wait_container"]["exit_status"] == 0
    with open(os.path.join(agent.sandbox("argv"), "stdout")) as out:
        assert out.read() == "a  b $HOME\n"


def test_missing_executable_fails_in_the_container(agent: AgentProcess) -> None:
    command = {"shell": False, "value": "no-such-binary", "arguments": ["no-such-binary"]}
    assert agent.launch("nobin", command).status == 200
    assert agent.wait("nobin").json()["wait_container"]["exit_status"] == 256
    with open(os.path.join(agent.sandbox("nobin"), "stderr")) as err:
        assert "Failed to execute 'no-such-binary': No such file or directory" in err.read()


def test_command_user_is_switched_to(agent: AgentProcess) -> None:
    command = {"value": "id -u; id -g", "user": "nobody"}
    assert agent.launch("asuser", command).status == 200
    assert agent.wait("asuser").json()["wait_container"]["exit_status"] == 0
    sandbox = agent.sandbox("asuser")
    with open(os.path.join(sandbox, "stdout")) as out:
        uid, gid = out.read().split()
    import pwd
    nobody = pwd.getpwnam("nobody")
    assert (int(uid), int(gid)) == (nobody.pw_uid, nobody.pw_gid)
    assert os.stat(sandbox).st_uid == nobody.pw_uid


def test_unknown_user_is_400_not_500(agent: AgentProcess) -> None:
    reply = agent.launch("baduser", {"value": "true", "user": "no-such-user-x"})
    assert reply.status == 400
    assert "no-such-user-x" in reply.text
    assert agent.wait("baduser").status == 404


def test_image_without_provisioner_is_400(agent: AgentProcess) -> None:
    container = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "alpine"}}}}
    reply = agent.launch("img", "true", container=container)
    assert (reply.status, reply.text) == (400, "Unsupported container image type: DOCKER")
    assert agent.containers(show_standalone=True) == []


def test_uris_are_refused_until_the_fetcher_exists(agent: AgentProcess) -> None:
    command = {"value": "true", "uris": [{"value": "http://127.0.0.1:1/x"}]}
    reply = agent.launch("uris", command)
    assert reply.status == 400
    assert "uris" in reply.text
    assert agent.containers(show_standalone=True) == []


# ---------------------------------------------------------- GET_CONTAINERS
def test_get_containers_shows_standalone_only_when_asked(agent: AgentProcess) -> None:
    resources = SEED_LAUNCH["launch_container"]["resources"]
    assert agent.launch("listed", "sleep 100; true", resources=resources).status == 200
    assert agent.containers() == []
    assert agent.containers(show_nested=True) == []

    def listed() -> dict:
        containers = agent.containers(show_standalone=True)
        return containers[0] if containers and \
            containers[0]["resource_statistics"].get("mem_rss_bytes") else {}

    entry = wait_until(listed)
    assert entry["container_id"] == {"value": "listed"}
    status = entry["container_status"]
    assert status["container_id"] == {"value": "listed"}
    with open(f"/proc/{status['executor_pid']}/stat") as stat:
        assert stat.read().split()[1] == "(sh)"
    statistics = entry["resource_statistics"]
    assert statistics["cpus_soft_limit"] == 2.0
    assert statistics["mem_limit_bytes"] == statistics["mem_soft_limit_bytes"] == 1024 << 20
    assert statistics["processes"] >= 2 and statistics["threads"] >= 2  # sh and sleep
    assert statistics["mem_rss_bytes"] > 0
    assert abs(statistics["timestamp"] - time.time()) < 60


# ----------------------------------------------------------- request errors
@pytest.mark.parametrize("headers,body,status,message", [
    ({"Content-Type": "text/plain"}, b"{}", 415,
     "Expecting 'Content-Type' of application/json or application/x-protobuf or application/recordio"),
    ({"Accept": "application/json"}, b'{"type":"GET_HEALTH"}', 400,
     "Expecting 'Content-Type' to be present"),
    ({"Content-Type": "application/json", "Accept": "text/html"}, b'{"type":"GET_HEALTH"}', 406,
     "Expecting 'Accept' to allow application/json or application/x-protobuf or application/recordio"),
    (JSON_HEADERS, b"not json", 400, "Failed to parse body into JSON"),
    (JSON_HEADERS, b"[1]", 400, "Expecting a JSON object"),
    (JSON_HEADERS, b"{}", 400, "Failed to validate agent::Call: Expecting 'type' to be present"),
    (JSON_HEADERS, b'{"type":"NO_SUCH_CALL"}', 400,
     "Failed to validate agent::Call: Expecting 'type' to be present"),
    (JSON_HEADERS, b'{"type":"LAUNCH_CONTAINER"}', 400,
     "Failed to validate agent::Call: Expecting 'launch_container' to be present"),
    (JSON_HEADERS, b'{"type":"LAUNCH_CONTAINER","launch_container":{"command":{}}}', 400,
     "Missing required fields: launch_container.container_id"),
    (JSON_HEADERS, b'{"type":"WAIT_CONTAINER","wait_container":{"container_id":{"value":5}}}',
     400, "Not expecting a JSON number for field 'value'"),
    (JSON_HEADERS, b'{"type":"WAIT_CONTAINER","wait_container":{"container_id":{"value":"a.b"}}}',
     400, "'wait_container.container_id' is invalid"),
    (JSON_HEADERS, b'{"type":"KILL_CONTAINER","kill_container":{"container_id":{"value":""}}}',
     400, "'kill_container.container_id' is invalid"),
    ({"Content-Type": "application/x-protobuf"}, b"\xff\xff garbage", 400,
     "Failed to parse body into a protobuf object"),
    (JSON_HEADERS, b'{"type":"GET_OPERATIONS"}', 501, "GET_OPERATIONS is not supported by this agent"),
])
def test_malformed_requests_get_clear_errors(agent: AgentProcess, headers, body, status,
                                             message) -> None:
    reply = agent.request("POST", "/api/v1", body, headers)
    assert reply.status == status, reply.text
    assert message in reply.text
    assert "Traceback" not in reply.text
    assert agent.call({"type": "GET_HEALTH"}).status == 200


def test_wrong_method_is_405_with_allow(agent: AgentProcess) -> None:
    reply = agent.request("GET", "/api/v1")
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"
    assert reply.text == "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'."


def test_invalid_signal_is_400(agent: AgentProcess) -> None:
    assert agent.launch("sig", "sleep 100").status == 200
    reply = agent.kill_container("sig", 999)
    assert reply.status == 400
    assert agent.kill_container("sig").status == 200


# ---------------------------------------------------------- protobuf & load
def test_protobuf_launch_and_wait(agent: AgentProcess) -> None:
    call = agent_pb2.Call(type=agent_pb2.Call.LAUNCH_CONTAINER)
    call.launch_container.container_id.value = "pb"
    call.launch_container.command.value = "exit 5"
    assert agent.call(call, accept="application/x-protobuf").status == 200
    wait = agent_pb2.Call(type=agent_pb2.Call.WAIT_CONTAINER)
    wait.wait_container.container_id.value = "pb"
    reply = agent.call(wait, accept="application/x-protobuf")
    response = agent_pb2.Response.FromString(reply.body)
    assert response.type == agent_pb2.Response.WAIT_CONTAINER
    assert response.wait_container.exit_status == 5 << 8


def test_disconnected_waiter_does_not_affect_the_container(agent: AgentProcess) -> None:
    assert agent.launch("patient", "sleep 100").status == 200
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=5)
    body = json.dumps({"type": "WAIT_CONTAINER",
                       "wait_container": {"container_id": {"value": "patient"}}})
    connection.request("POST", "/api/v1", body=body, headers=JSON_HEADERS)
    time.sleep(0.2)
    connection.close()  # the agent discards this waiter's future
    time.sleep(0.2)
    assert [c["container_id"]["value"] for c in agent.containers(show_standalone=True)] == ["patient"]
    agent.kill_container("patient", signal.SIGTERM)
    assert agent.wait("patient").json()["wait_container"]["exit_status"] == signal.SIGTERM


def test_many_concurrent_launches_and_waits(agent: AgentProcess) -> None:
    ids = [f"many-{i}" for i in range(30)]
    replies: dict[str, int] = {}

    def launch_and_wait(container_id: str) -> None:
        number = int(container_id.split("-")[1])
        assert agent.launch(container_id, f"exit {number}").status == 200
        replies[container_id] = agent.wait(container_id).json()["wait_container"]["exit_status"]

    threads = [threading.Thread(target=launch_and_wait, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert replies == {i: int(i.split("-")[1]) << 8 for i in ids}


def test_deeply_nested_body_is_400(agent: AgentProcess) -> None:
    deep = b'{"type":"WAIT_CONTAINER","wait_container":{"container_id":' + \
        b'{"value":"a","parent":' * 5000 + b'{"value":"b"}' + b'}' * 5000 + b'}}'
    reply = agent.request("POST", "/api/v1", deep, JSON_HEADERS)
    assert reply.status == 400, reply.text
    array = b"[" * 100000 + b"]" * 100000
    reply = agent.request("POST", "/api/v1", array, JSON_HEADERS)
    assert reply.status == 400, reply.text
    assert agent.call({"type": "GET_HEALTH"}).status == 200
