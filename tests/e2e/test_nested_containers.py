"""Nested containers: a ContainerID with a parent, through both launchers."""

from __future__ import annotations

import os
import signal
from typing import Any, Callable

import pytest

from tests.agent import AgentProcess, wait_until

LINUX = ["--launcher=linux", "--isolation=filesystem/linux,namespaces/pid,namespaces/ipc"]


def nested(parent: str, child: str) -> dict[str, Any]:
    return {"value": child, "parent": {"value": parent}}


def launch_nested(agent: AgentProcess, parent: str, child: str, command: str,
                  **extra: Any) -> Any:
    launch = {"container_id": nested(parent, child), "command": {"value": command}, **extra}
    return agent.call({"type": "LAUNCH_CONTAINER", "launch_container": launch})


def wait_nested(agent: AgentProcess, parent: str, child: str) -> Any:
    return agent.call({"type": "WAIT_CONTAINER",
                       "wait_container": {"container_id": nested(parent, child)}})


@pytest.fixture(params=["posix", "linux"])
def agent_of(request, make_agent: Callable[..., AgentProcess]) -> AgentProcess:
    return make_agent(["--launcher=posix"] if request.param == "posix" else LINUX)


def test_nested_container_runs_in_its_parents_sandbox(agent_of: AgentProcess) -> None:
    agent = agent_of
    assert agent.launch("parent", "sleep 1000").status == 200
    reply = launch_nested(agent, "parent", "child", "echo from-child; pwd; exit 3")
    assert reply.status == 200, reply.text
    assert wait_nested(agent, "parent", "child").json()["wait_container"]["exit_status"] == 768
    sandbox = os.path.join(agent.sandbox("parent"), "containers", "child")
    with open(os.path.join(sandbox, "stdout")) as out:
        assert out.read().splitlines() == ["from-child", sandbox]


def test_nested_containers_are_listed_only_with_show_nested(agent_of: AgentProcess) -> None:
    agent = agent_of
    assert agent.launch("p", "sleep 1000").status == 200
    assert launch_nested(agent, "p", "c", "sleep 1000").status == 200
    assert [c["container_id"] for c in agent.containers(show_standalone=True)] == [
        {"value": "p"}]
    listed = [c["container_id"] for c in agent.containers(show_standalone=True, show_nested=True)]
    assert sorted(listed, key=str) == sorted([{"value": "p"}, nested("p", "c")], key=str)


def test_killing_the_parent_kills_its_children(agent_of: AgentProcess) -> None:
    agent = agent_of
    assert agent.launch("top", "sleep 1000").status == 200
    assert launch_nested(agent, "top", "kid", "sleep 1000").status == 200
    [kid] = [c for c in agent.containers(show_standalone=True, show_nested=True)
             if c["container_id"].get("parent")]
    kid_pid = kid["container_status"]["executor_pid"]
    assert agent.kill_container("top").status == 200
    assert agent.wait("top").json()["wait_container"]["exit_status"] == signal.SIGKILL
    assert wait_nested(agent, "top", "kid").json()["wait_container"]["exit_status"] == \
        signal.SIGKILL
    assert not os.path.exists(f"/proc/{kid_pid}") or "Z" in open(f"/proc/{kid_pid}/stat").read()


def test_deprecated_nested_calls(agent_of: AgentProcess) -> None:
    agent = agent_of
    assert agent.launch("old", "sleep 1000").status == 200
    reply = agent.call({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
        "container_id": nested("old", "api"), "command": {"value": "sleep 1000"}}})
    assert reply.status == 200, reply.text
    reply = agent.call({"type": "KILL_NESTED_CONTAINER", "kill_nested_container": {
        "container_id": nested("old", "api"), "signal": 15}})
    assert reply.status == 200
    reply = agent.call({"type": "WAIT_NESTED_CONTAINER", "wait_nested_container": {
        "container_id": nested("old", "api")}})
    assert reply.json() == {"type": "WAIT_NESTED_CONTAINER",
                            "wait_nested_container": {"exit_status": 15}}
    reply = agent.call({"type": "REMOVE_NESTED_CONTAINER", "remove_nested_container": {
        "container_id": nested("old", "api")}})
    assert reply.status == 200
    assert not os.path.exists(os.path.join(agent.sandbox("old"), "containers", "api"))


def test_nested_launch_errors(agent_of: AgentProcess) -> None:
    agent = agent_of
    reply = launch_nested(agent, "nobody", "child", "true")
    assert (reply.status, reply.text) == (400, "Parent container nobody does not exist")
    assert agent.launch("base", "sleep 1000").status == 200
    assert launch_nested(agent, "base", "mid", "sleep 1000").status == 200
    deep = {"value": "leaf", "parent": nested("base", "mid")}
    resources = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]
    reply = agent.call({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": deep, "command": {"value": "true"}, "resources": resources}})
    assert reply.status == 400
    assert "containers nested at the second level or greater cannot specify resources" in \
        reply.text
    reply = agent.call({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": deep, "command": {"value": "exit 4"}}})
    assert reply.status == 200
    wait = agent.call({"type": "WAIT_CONTAINER", "wait_container": {"container_id": deep}})
    assert wait.json()["wait_container"]["exit_status"] == 4 << 8


def test_nested_pid_namespaces(make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(LINUX)
    assert agent.launch("pod", "sleep 1000").status == 200
    assert launch_nested(agent, "pod", "own", "sleep 1000").status == 200
    shared = {"type": "MESOS", "linux_info": {"share_pid_namespace": True}}
    assert launch_nested(agent, "pod", "shared", "ps -e -o comm; sleep 1000",
                         container=shared).status == 200
    pids = {c["container_id"]["value"]: c["container_status"]["executor_pid"]
            for c in agent.containers(show_standalone=True, show_nested=True)}
    pod, own, same = (os.readlink(f"/proc/{pids[name]}/ns/pid") for name in ("pod", "own", "shared"))
    assert own != pod, "a nested container gets its own pid namespace by default"
    assert same == pod, "share_pid_namespace joins the parent's"
    shared_out = os.path.join(agent.sandbox("pod"), "containers", "shared", "stdout")
    wait_until(lambda: os.path.exists(shared_out) and "ps" in open(shared_out).read())
    seen = open(shared_out).read().split()
    assert "mesos-py-init" in seen and seen.count("sleep") >= 2  # the pod's and its own


def test_nested_containers_survive_an_agent_restart(agent_of: AgentProcess) -> None:
    agent = agent_of
    assert agent.launch("dad", "sleep 1000").status == 200
    assert launch_nested(agent, "dad", "son", "sleep 1000").status == 200
    before = {str(c["container_id"]): c["container_status"]["executor_pid"]
              for c in agent.containers(show_standalone=True, show_nested=True)}
    agent.kill(signal.SIGKILL)
    agent.start()
    after = {str(c["container_id"]): c["container_status"]["executor_pid"]
             for c in agent.containers(show_standalone=True, show_nested=True)}
    assert after == before
    assert agent.call({"type": "KILL_CONTAINER", "kill_container": {
        "container_id": nested("dad", "son"), "signal": 15}}).status == 200
    assert wait_nested(agent, "dad", "son").json()["wait_container"]["exit_status"] == 15
    assert agent.kill_container("dad").status == 200
    assert agent.wait("dad").json()["wait_container"]["exit_status"] == signal.SIGKILL
