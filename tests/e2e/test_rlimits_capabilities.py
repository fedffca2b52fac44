"""posix/rlimits and linux/capabilities through a real agent, read back from /proc and ulimit."""

from __future__ import annotations

import json
import os
import pwd
from typing import Any, Callable

import pytest

from mesos_py.linux.capabilities import NUMBERS, mask
from tests.agent import AgentProcess

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="linux/capabilities needs root")

COMMAND = "grep -E '^(Uid|Cap[A-Za-z]+):' /proc/self/status; ulimit -n; ulimit -Hn; ulimit -c"


def caps(*names: str) -> int:
    return mask(NUMBERS[name] for name in names)


def capability_flag(*names: str) -> str:
    return json.dumps({"capabilities": list(names)})


def run(agent: AgentProcess, container_id: str, container: dict[str, Any],
        user: str | None = None) -> dict[str, Any]:
    command: dict[str, Any] = {"value": COMMAND}
    if user is not None:
        command["user"] = user
    reply = agent.launch(container_id, command, container={"type": "MESOS", **container})
    assert reply.status == 200, reply.text
    wait = agent.wait(container_id).json()["wait_container"]
    with open(os.path.join(agent.sandbox(container_id), "stdout")) as out:
        lines = out.read().splitlines()
    with open(os.path.join(agent.sandbox(container_id), "stderr")) as err:
        assert wait.get("exit_status") == 0, err.read()
    status = {key: value.split() for key, _, value in (line.partition(":") for line in lines[:-3])}
    return {"uid": int(status["Uid"][0]),
            **{key: int(value[0], 16) for key, value in status.items() if key.startswith("Cap")},
            "ulimit": lines[-3:]}


def test_rlimits_and_capabilities_reach_the_command(
        make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--isolation=posix/cpu,posix/rlimits,linux/capabilities",
                        "--effective_capabilities=" + capability_flag("KILL")])
    rlimits = {"rlimits": [{"type": "RLMT_NOFILE", "soft": 100, "hard": 200},
                           {"type": "RLMT_CORE"}]}
    effective = {"effective_capabilities": {"capabilities": ["NET_RAW", "CHOWN"]}}

    # Root: every set is the effective set (it is the bounding set too).
    root = run(agent, "root", {"rlimit_info": rlimits, "linux_info": effective})
    assert root["uid"] == 0
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert root[key] == caps("NET_RAW", "CHOWN"), key
    assert root["ulimit"] == ["100", "200", "unlimited"]

    # A non-root user gets its effective set through the ambient set.
    nobody = run(agent, "nobody", {
        "rlimit_info": rlimits,
        "linux_info": {**effective, "bounding_capabilities": {
            "capabilities": ["NET_RAW", "CHOWN", "NET_BIND_SERVICE"]}}}, user="nobody")
    assert nobody["uid"] == pwd.getpwnam("nobody").pw_uid
    assert nobody["CapEff"] == nobody["CapPrm"] == nobody["CapAmb"] == caps("NET_RAW", "CHOWN")
    assert nobody["CapBnd"] == nobody["CapInh"] == caps("NET_RAW", "CHOWN", "NET_BIND_SERVICE")
    assert nobody["ulimit"] == ["100", "200", "unlimited"]

    # Without linux_info the operator's --effective_capabilities apply.
    default = run(agent, "default", {})
    assert default["CapEff"] == default["CapBnd"] == default["CapAmb"] == caps("KILL")


def test_requests_beyond_the_operators_bounding_set_are_refused(
        make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--isolation=posix/rlimits,linux/capabilities",
                        "--bounding_capabilities=" + capability_flag("CHOWN", "NET_RAW")])
    reply = agent.launch("too-much", "true", container={
        "type": "MESOS", "linux_info": {"effective_capabilities": {"capabilities": ["SYS_ADMIN"]}}})
    assert reply.status == 400
    assert reply.text == ("Requested capabilities '{ SYS_ADMIN }', but only "
                          "'{ CHOWN, NET_RAW }' are allowed")
    reply = agent.launch("bad-rlimit", "true", container={
        "type": "MESOS", "rlimit_info": {"rlimits": [{"type": "RLMT_NOFILE", "soft": 10}]}})
    assert reply.status == 400
    assert reply.text == ("Invalid rlimit RLMT_NOFILE: set both 'soft' and 'hard', or neither "
                          "for an unlimited RLMT_NOFILE")
    assert agent.wait("too-much").status == 404
