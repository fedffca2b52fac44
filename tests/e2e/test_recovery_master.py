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
    """The states of the task's update stream from the agent, in arrival order,
    each update counted once (by uuid). Updates the master makes up itself are
    not part of it: e.g. a master restarted with an in-memory registry
    answers an agent it does not know with the tasks' latest states ("Unknown
    agent reregistered"), before or after the agent's own updates arrive."""
    seen: set[str] = set()
    states = []
    for update in framework.task_updates(task_id):
        if update.get("source") == "SOURCE_MASTER":
            continue
        if update.get("uuid") not in seen:
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
                                                "TASK_FINISHED"], framework.task_updates("t1")


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


def test_a_framework_that_does_not_checkpoint_loses_its_tasks_on_restart(master, make_agent,
                                                                         make_framework):
    agent = make_agent([f"--master={master.address}"])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    framework = make_framework(master, checkpoint=False)
    framework.launch(framework.take_offer(agent_id),
                     [task("t1", agent_id, "echo $$ > pid; exec sleep 1000")])
    framework.wait_state("t1", "TASK_RUNNING")
    fid = framework.framework_id
    pid_file = os.path.join(sandbox(agent, agent_id, fid, "t1"), "pid")
    wait_for(lambda: os.path.exists(pid_file) and os.path.getsize(pid_file) > 0,
             what="the task's pid")
    with open(pid_file) as source:
        pid = int(source.read())
    # Nothing of a framework that does not checkpoint is on disk ...
    meta = os.path.join(agent.work_dir, "meta", "slaves", agent_id, "frameworks", fid)
    assert not os.path.exists(meta)
    agent.kill(signal.SIGKILL)
    agent.start()
    # ... so the restarted agent cannot recover the task: its executor and
    # process are gone, and the master tells the framework it is lost.
    wait_for(lambda: "Re-registered with master" in agent.log(), what="re-registration")
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the task's process to end")
    lost = framework.wait_terminal("t1", timeout=60)
    assert lost["state"] in ("TASK_LOST", "TASK_GONE"), lost
    assert agent.request("GET", "/state").json()["frameworks"] == []
    assert agent.containers() == []


def test_reconciliation_after_a_restart_reports_the_running_task(master, make_agent,
                                                                 make_framework):
    agent = make_agent([f"--master={master.address}"])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    framework = make_framework(master)
    framework.launch(framework.take_offer(agent_id), [task("t1", agent_id, "sleep 1000")])
    framework.wait_state("t1", "TASK_RUNNING")
    agent.kill(signal.SIGKILL)
    agent.start()
    wait_for(lambda: "Re-registered with master" in agent.log(), what="re-registration")
    before = len(framework.task_updates("t1"))
    framework.driver.reconcileTasks([{"task_id": {"value": "t1"},
                                      "agent_id": {"value": agent_id}}])
    framework.wait(lambda: len(framework.updates) > before and any(
        u.get("reason") == "REASON_RECONCILIATION" for u in framework.task_updates("t1")),
        what="a reconciliation update")
    answer = [u for u in framework.task_updates("t1")
              if u.get("reason") == "REASON_RECONCILIATION"][-1]
    assert answer["state"] == "TASK_RUNNING"
    assert answer["agent_id"]["value"] == agent_id
    framework.kill("t1")
    framework.wait_state("t1", "TASK_KILLED")


def test_a_kill_sent_before_the_executor_resubscribes_is_not_lost(master, make_agent,
                                                                  make_framework):
    agent = make_agent([f"--master={master.address}", "--executor_reregistration_timeout=60secs"])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    framework = make_framework(master)
    framework.launch(framework.take_offer(agent_id),
                     [task("t1", agent_id, "echo $$ > pid; exec sleep 1000")])
    framework.wait_state("t1", "TASK_RUNNING")
    pid_file = os.path.join(sandbox(agent, agent_id, framework.framework_id, "t1"), "pid")
    wait_for(lambda: os.path.exists(pid_file) and os.path.getsize(pid_file) > 0,
             what="the task's pid")
    with open(pid_file) as source:
        pid = int(source.read())
    executor = next(c for c in agent.containers()
                    if c.get("executor_id", {}).get("value") == "t1")
    executor_pid = int(executor["container_status"]["executor_pid"])
    agent.kill(signal.SIGKILL)
    os.kill(executor_pid, signal.SIGSTOP)  # it cannot re-subscribe yet
    try:
        agent.start()
        wait_for(lambda: "Re-registered with master" in agent.log(), what="re-registration")
        framework.kill("t1")
        wait_for(lambda: "t1: asked to kill task" in agent.log(), what="the kill to arrive")
        assert os.path.exists(f"/proc/{pid}")
    finally:
        os.kill(executor_pid, signal.SIGCONT)
    framework.wait_state("t1", "TASK_KILLED")
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the task's process to end")
