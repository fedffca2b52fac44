"""Custom executors (pymesos, unchanged), framework messages, task groups on the
default executor, health checks and checks, and a memory limitation."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import pytest

from tests.master import new_id, scalar, task, wait_for

ECHO = os.path.join(os.path.dirname(__file__), "executors", "pymesos_echo.py")


def start(master: Any, make_agent: Any, make_framework: Any, *flags: str) -> tuple[Any, str, Any]:
    agent = make_agent([f"--master={master.address}", *flags])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    return agent, agent_id, make_framework(master)


def framework_id(framework: Any) -> str:
    return str(framework.wait(lambda: framework.framework_id, what="the framework id"))


def test_pymesos_executor_gets_its_task_and_framework_messages(master, make_agent,
                                                              make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework)
    executor = {"executor_id": {"value": "echo"}, "name": "echo",
                "command": {"value": f"{sys.executable} {ECHO}"},
                "resources": [scalar("cpus", 0.1), scalar("mem", 64)]}
    framework.launch(framework.take_offer(agent_id),
                     [task("t1", agent_id, None, executor=executor)])
    running = framework.wait_state("t1", "TASK_RUNNING")
    assert running["message"] == "echo executor running"
    framework.send_message("echo", agent_id, b"hello")
    framework.wait(lambda: ("echo", b"echo:hello") in framework.messages,
                   what="the executor's answer")
    framework.send_message("echo", agent_id, b"finish")
    framework.wait_state("t1", "TASK_FINISHED")
    metrics = agent.request("GET", "/metrics/snapshot").json()
    assert metrics["slave/valid_framework_messages"] == 4.0  # two each way
    # The executor is not a command executor: it is in /state as itself.
    [fw] = agent.request("GET", "/state").json()["frameworks"]
    assert [e["id"] for e in fw["executors"]] == ["echo"]


def test_task_group_runs_both_tasks_in_nested_containers(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework)
    executor = {"executor_id": {"value": "pod"}, "type": "DEFAULT",
                "framework_id": {"value": framework_id(framework)},
                "resources": [scalar("cpus", 0.1), scalar("mem", 32), scalar("disk", 32)]}
    tasks = [task("a", agent_id, "echo from-a > /dev/stdout; sleep 1000"),
             task("b", agent_id, "echo from-b; sleep 1000")]
    framework.launch_group(framework.take_offer(agent_id), executor, tasks)
    framework.wait_state("a", "TASK_RUNNING")
    framework.wait_state("b", "TASK_RUNNING")
    nested = [c for c in agent.containers(show_nested=True) if "parent" in c["container_id"]]
    assert len(nested) == 2
    parent = nested[0]["container_id"]["parent"]["value"]
    assert all(c["container_id"]["parent"]["value"] == parent for c in nested)
    # Each task's output is in its nested container's sandbox.
    runs = os.path.join(agent.work_dir, "slaves", agent_id, "frameworks",
                        framework.framework_id, "executors", "pod", "runs", "latest")
    outputs = wait_for(lambda: sorted(
        open(os.path.join(runs, "containers", c["container_id"]["value"], "stdout")).read()
        for c in nested) == ["from-a\n", "from-b\n"], what="the tasks' output")
    assert outputs
    # Killing one task of a group kills the group.
    framework.kill("a")
    framework.wait_state("a", "TASK_KILLED")
    framework.wait_state("b", "TASK_KILLED")
    wait_for(lambda: agent.containers(show_nested=True) == [], what="the pod to end")


def test_a_failing_task_of_a_group_takes_the_group_down(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework)
    executor = {"executor_id": {"value": "pod"}, "type": "DEFAULT",
                "framework_id": {"value": framework_id(framework)},
                "resources": [scalar("cpus", 0.1), scalar("mem", 32), scalar("disk", 32)]}
    framework.launch_group(framework.take_offer(agent_id), executor,
                           [task("ok", agent_id, "sleep 1000"),
                            task("bad", agent_id, "sleep 0.5; exit 2")])
    failed = framework.wait_state("bad", "TASK_FAILED")
    assert failed["message"] == "Command exited with status 2"
    framework.wait_state("ok", "TASK_KILLED")


def test_health_checks_report_and_kill(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework)
    healthy = {"type": "COMMAND", "command": {"value": "true"}, "delay_seconds": 0,
               "interval_seconds": 0.2, "grace_period_seconds": 0}
    failing = {"type": "TCP", "tcp": {"port": 1}, "delay_seconds": 0,
               "interval_seconds": 0.2, "grace_period_seconds": 0, "consecutive_failures": 2,
               "timeout_seconds": 1}
    offer = framework.take_offer(agent_id)
    framework.launch(offer, [task("good", agent_id, "sleep 1000", health_check=healthy),
                             task("sick", agent_id, "sleep 1000", health_check=failing)])
    update = framework.wait(lambda: next((u for u in framework.task_updates("good")
                                          if u.get("healthy") is True), None),
                            what="a healthy update")
    assert update["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    killed = framework.wait_state("sick", "TASK_KILLED")
    assert killed.get("healthy") is False
    unhealthy = [u for u in framework.task_updates("sick") if u.get("healthy") is False]
    assert len(unhealthy) >= 2
    framework.kill("good")
    framework.wait_state("good", "TASK_KILLED")


def test_checks_report_their_results(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework)
    check = {"type": "COMMAND", "command": {"command": {"value": "test -e flag"}},
             "delay_seconds": 0, "interval_seconds": 0.2}
    framework.launch(framework.take_offer(agent_id),
                     [task("t1", agent_id, "sleep 1000", check=check)])
    first = framework.wait(lambda: next((u for u in framework.task_updates("t1")
                                         if "check_status" in u), None), what="a check")
    assert first["check_status"]["command"]["exit_code"] == 1
    assert first["reason"] == "REASON_TASK_CHECK_STATUS_UPDATED"
    runs = os.path.join(agent.work_dir, "slaves", agent_id, "frameworks",
                        framework.framework_id, "executors", "t1", "runs", "latest")
    open(os.path.join(runs, "flag"), "w").close()
    framework.wait(lambda: any(u.get("check_status", {}).get("command", {}).get("exit_code") == 0
                               for u in framework.task_updates("t1")), what="a passing check")
    framework.kill("t1")
    framework.wait_state("t1", "TASK_KILLED")


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")
def test_task_over_its_memory_fails_with_the_memory_reason(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework,
                                       "--isolation=cgroups/mem", "--launcher=linux")
    hog = "head -c 400000000 /dev/zero | tail > /dev/null"
    task_id = new_id("hog")
    framework.launch(framework.take_offer(agent_id), [task(task_id, agent_id, hog, mem=32)])
    failed = framework.wait_terminal(task_id, timeout=60)
    assert failed["state"] == "TASK_FAILED", failed
    assert failed["reason"] == "REASON_CONTAINER_LIMITATION_MEMORY", failed
    assert failed["source"] == "SOURCE_AGENT"


STUBBORN = os.path.join(os.path.dirname(__file__), "executors", "pymesos_stubborn.py")


def test_an_executor_that_ignores_shutdown_is_killed_after_the_grace_period(
        master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework,
                                       "--executor_shutdown_grace_period=4secs")
    executor = {"executor_id": {"value": "stubborn"}, "name": "stubborn",
                "command": {"value": f"{sys.executable} {STUBBORN}"},
                "resources": [scalar("cpus", 0.1), scalar("mem", 64)]}
    framework.launch(framework.take_offer(agent_id),
                     [task("t1", agent_id, None, executor=executor)])
    framework.wait_state("t1", "TASK_RUNNING")
    [container] = agent.containers()
    pid = int(container["container_status"]["executor_pid"])
    sandbox = os.path.join(agent.work_dir, "slaves", agent_id, "frameworks",
                           framework.framework_id, "executors", "stubborn", "runs", "latest")
    framework.stop()  # the master tears the framework down: SHUTDOWN to the executor
    wait_for(lambda: os.path.exists(os.path.join(sandbox, "shutdown-received")),
             what="the executor to get SHUTDOWN")
    shutdown_at = time.monotonic()
    time.sleep(2)
    assert os.path.exists(f"/proc/{pid}"), "killed before its grace period ended"
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=20,
             what="the agent to kill the executor")
    assert time.monotonic() - shutdown_at >= 3.5
    wait_for(lambda: agent.containers() == [], what="the container to be destroyed")
    assert "stubborn: killing executor" in agent.log()
