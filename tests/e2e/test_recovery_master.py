"""Faults next to a real master: the agent killed and restarted while tasks run."""

from __future__ import annotations

import os
import signal
from typing import Any

from tests.master import task, wait_for


def sandbox(agent: Any, agent_id: str, framework_id: str, executor_id: str) -> str:
    return os.path.join(agent.work_dir, "slaves", agent_id, "frameworks", framework_id,
                        "executors", executor_id, "runs", "latest")


def distinct_states(framework: Any, task_id: str) -> list[str]:
    """The task's states in arrival order, each update of the agent counted
    once (by uuid). Updates without a uuid are the master's own (e.g. "Unknown
    agent reregistered" when the agent comes back to a restarted master before
    the framework does): not the agent's to deliver, so not counted."""
    seen: set[str] = set()
    states = []
    for update in framework.task_updates(task_id):
        if update.get("uuid") and update["uuid"] not in seen:
            seen.add(update.get("uuid"))
            states.append(update["state"])
    return states


def test_tasks_survive_an_agent_sigkill_and_every_update_arrives(master, make_agent,
                                                                 make_framework):
    agent = make_agent([f"--master={master.address}"])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    framework = make_framework(master)
    gated = "while [ ! -e go ]; do sleep 0.05; done; echo finished"
    framework.launch(framework.take_offer(agent_id), [
        task("long", agent_id, "echo $$ > pid; exec sleep 1000"),
        task("gated", agent_id, gated)])
    framework.wait_state("long", "TASK_RUNNING")
    framework.wait_state("gated", "TASK_RUNNING")
    fid = framework.framework_id
    with open(os.path.join(sandbox(agent, agent_id, fid, "long"), "pid")) as source:
        long_pid = int(source.read())

    agent.kill(signal.SIGKILL)
    # While the agent is down the gated task finishes: its executor keeps the
    # TASK_FINISHED update until a restarted agent takes it.
    open(os.path.join(sandbox(agent, agent_id, fid, "gated"), "go"), "w").close()
    wait_for(lambda: "finished" in open(os.path.join(
        sandbox(agent, agent_id, fid, "gated"), "stdout")).read(), what="the gated task")
    agent.start()

    wait_for(lambda: "Re-registered with master" in agent.log(), what="re-registration")
    assert master.agent(agent.port)["id"] == agent_id
    framework.wait_state("gated", "TASK_FINISHED")
    assert distinct_states(framework, "gated") == ["TASK_STARTING", "TASK_RUNNING",
                                                   "TASK_FINISHED"]
    # The long task kept running in the same process, and is still managed.
    assert os.path.exists(f"/proc/{long_pid}")
    assert distinct_states(framework, "long") == ["TASK_STARTING", "TASK_RUNNING"]
    state = agent.request("GET", "/state").json()
    [fw] = state["frameworks"]
    running = [t["id"] for e in fw["executors"] for t in e["tasks"]]
    assert running == ["long"]
    framework.kill("long")
    framework.wait_state("long", "TASK_KILLED")
    assert distinct_states(framework, "long") == ["TASK_STARTING", "TASK_RUNNING",
                                                  "TASK_KILLING", "TASK_KILLED"]
    wait_for(lambda: not os.path.exists(f"/proc/{long_pid}"), what="the task's process to end")
    # A new task runs on the recovered agent.
    framework.launch(framework.take_offer(agent_id), [task("after", agent_id, "true")])
    framework.wait_state("after", "TASK_FINISHED")


def test_an_update_checkpointed_before_a_crash_is_sent_after_restart(master, make_agent,
                                                                     make_framework):
    agent = make_agent([f"--master={master.address}"])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    framework = make_framework(master)
    gated = "while [ ! -e go ]; do sleep 0.05; done"
    framework.launch(framework.take_offer(agent_id), [task("t1", agent_id, gated)])
    framework.wait_state("t1", "TASK_RUNNING")
    fid = framework.framework_id
    # With the master down, the task's TASK_FINISHED is checkpointed by the
    # agent but cannot be forwarded; then the agent dies too.
    master.stop()
    open(os.path.join(sandbox(agent, agent_id, fid, "t1"), "go"), "w").close()
    wait_for(lambda: "Received status update TASK_FINISHED" in agent.log(),
             what="the agent to checkpoint TASK_FINISHED")
    agent.kill(signal.SIGKILL)
    master.start()
    agent.start()
    wait_for(lambda: "Re-registered with master" in agent.log(), timeout=60,
             what="re-registration")
    assert master.agent(agent.port)["id"] == agent_id
    framework.wait_state("t1", "TASK_FINISHED", timeout=60)
    assert distinct_states(framework, "t1") == ["TASK_STARTING", "TASK_RUNNING",
                                                "TASK_FINISHED"]


def test_executor_that_does_not_come_back_is_shut_down(master, make_agent, make_framework):
    agent = make_agent([f"--master={master.address}", "--executor_reregistration_timeout=1secs"])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    framework = make_framework(master)
    framework.launch(framework.take_offer(agent_id), [task("t1", agent_id, "sleep 1000")])
    framework.wait_state("t1", "TASK_RUNNING")
    executor = next(c for c in agent.containers()
                    if c.get("executor_id", {}).get("value") == "t1")
    pid = int(executor["container_status"]["executor_pid"])
    agent.kill(signal.SIGKILL)
    os.kill(pid, signal.SIGSTOP)  # alive, but it cannot re-subscribe
    try:
        agent.start()
        failed = framework.wait_state("t1", "TASK_FAILED", timeout=60)
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert failed["reason"] == "REASON_EXECUTOR_REREGISTRATION_TIMEOUT"
