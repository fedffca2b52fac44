"""Malformed libprocess messages sent to a registered agent: dropped with a log
line; the agent neither crashes nor changes its state."""

from __future__ import annotations

from typing import Any

from mesos_py.protos.messages import messages_pb2
from tests.master import task, wait_for


def post(agent: Any, name: str, body: bytes, sender: str | None) -> int:
    headers = {"Libprocess-From": sender} if sender else {}
    return agent.request("POST", f"/slave(1)/{name}", body, headers).status


def run_task_message(agent_id: str) -> bytes:
    message = messages_pb2.RunTaskMessage(launch_executor=True)
    message.framework.id.value = "intruder-framework"
    message.framework.name = "intruder"
    message.framework.user = "root"
    info = message.task
    info.name = info.task_id.value = "intruder-task"
    info.agent_id.value = agent_id
    info.command.value = "touch /tmp/should-never-run"
    return message.SerializeToString()


def test_malformed_and_foreign_messages_are_dropped(master, make_agent, make_framework):
    agent = make_agent([f"--master={master.address}"])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    framework = make_framework(master)
    framework.launch(framework.take_offer(agent_id), [task("t1", agent_id, "sleep 1000")])
    framework.wait_state("t1", "TASK_RUNNING")
    before = agent.request("GET", "/state").json()
    master_pid = f"master@127.0.0.1:{master.port}"
    stranger = "master@127.0.0.1:1"

    # Garbage body, unknown message, required fields missing: 202 and dropped.
    assert post(agent, "mesos.internal.RunTaskMessage", b"\xff\x00garbage", master_pid) == 202
    assert post(agent, "mesos.internal.NoSuchMessage", b"", master_pid) == 202
    assert post(agent, "mesos.internal.KillTaskMessage", b"", master_pid) == 202
    # Not a libprocess message (no sender): 404; an unparsable sender: 400.
    assert post(agent, "mesos.internal.PingSlaveMessage", b"\x08\x01", None) == 404
    assert post(agent, "mesos.internal.PingSlaveMessage", b"\x08\x01", "nobody") == 400
    # Well-formed messages from someone who is not the master: ignored.
    assert post(agent, "mesos.internal.RunTaskMessage", run_task_message(agent_id),
                stranger) == 202
    kill = messages_pb2.KillTaskMessage()
    kill.framework_id.value = framework.framework_id
    kill.task_id.value = "t1"
    assert post(agent, "mesos.internal.KillTaskMessage", kill.SerializeToString(),
                stranger) == 202
    shutdown = messages_pb2.ShutdownMessage(message="go away")
    assert post(agent, "mesos.internal.ShutdownMessage", shutdown.SerializeToString(),
                stranger) == 202
    registered = messages_pb2.SlaveRegisteredMessage()
    registered.slave_id.value = "someone-else"
    assert post(agent, "mesos.internal.SlaveRegisteredMessage",
                registered.SerializeToString(), stranger) == 202

    wait_for(lambda: "Ignoring registration message from master@127.0.0.1:1" in agent.log(),
             what="the log lines")
    log = agent.log()
    assert "the body does not parse" in log
    assert "has no handler for it" in log
    assert "Ignoring run task message from master@127.0.0.1:1" in log
    assert "Ignoring kill task message from master@127.0.0.1:1" in log
    assert "Ignoring shutdown message from master@127.0.0.1:1" in log
    assert "Ignoring registration message from master@127.0.0.1:1" in log
    after = agent.request("GET", "/state").json()
    assert after["id"] == before["id"] == agent_id
    assert [f["id"] for f in after["frameworks"]] == [framework.framework_id]
    assert [t["state"] for f in after["frameworks"] for e in f["executors"]
            for t in e["tasks"]] == ["TASK_RUNNING"]
    assert agent.process.poll() is None
    # Still working with the real master.
    assert master.agent(agent.port)["id"] == agent_id
    framework.kill("t1")
    framework.wait_state("t1", "TASK_KILLED")
