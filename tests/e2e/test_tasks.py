"""Command tasks end to end: a real master, a real agent process, a pymesos framework."""

from __future__ import annotations

import os
import signal
import urllib.parse
from typing import Any

import pytest

from tests.master import new_id, task, wait_for


def start(master: Any, make_agent: Any, make_framework: Any, *flags: str) -> tuple[Any, str, Any]:
    agent = make_agent([f"--master={master.address}", *flags])
    agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
    return agent, agent_id, make_framework(master)


def read_file(agent: Any, path: str) -> Any:
    query = urllib.parse.urlencode({"path": path, "offset": 0})
    return agent.request("GET", f"/files/read?{query}")


def executor_pid(agent: Any, executor_id: str) -> int:
    for container in agent.containers():
        if container.get("executor_id", {}).get("value") == executor_id:
            return int(container["container_status"]["executor_pid"])
    raise AssertionError(f"no container for executor {executor_id}: {agent.containers()}")


def test_command_task_finishes_and_its_stdout_is_readable(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework)
    framework.launch(framework.take_offer(agent_id), [task("t1", agent_id, "echo hello-task")])
    framework.wait_state("t1", "TASK_FINISHED")
    assert framework.states("t1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    fid = framework.framework_id
    reply = read_file(agent, f"/frameworks/{fid}/executors/t1/runs/latest/stdout")
    assert reply.status == 200, reply.text
    assert reply.json()["data"] == "hello-task\n"
    assert reply.json()["offset"] == 0
    # The sandbox layout, with its `latest` symlink.
    runs = os.path.join(agent.work_dir, "slaves", agent_id, "frameworks", fid, "executors",
                        "t1", "runs")
    run = os.readlink(os.path.join(runs, "latest"))
    with open(os.path.join(runs, run, "stdout")) as stdout:
        assert "hello-task" in stdout.read()
    # The real path of the run directory is attached too; nothing outside it is.
    assert read_file(agent, os.path.join(runs, run, "stdout")).json()["data"] == "hello-task\n"
    escape = read_file(agent, os.path.join(runs, run, "..", "..", "..", "..", "..", ".."))
    assert escape.status in (400, 404)
    assert read_file(agent, "/etc/passwd").status == 404


def test_failing_command_ends_task_failed(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework)
    framework.launch(framework.take_offer(agent_id), [task("t1", agent_id, "exit 3")])
    failed = framework.wait_state("t1", "TASK_FAILED")
    assert failed["message"] == "Command exited with status 3"
    assert failed["source"] == "SOURCE_EXECUTOR"
    assert "TASK_FINISHED" not in framework.states("t1")


def test_killed_task_ends_task_killed(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework)
    framework.launch(framework.take_offer(agent_id),
                     [task("t1", agent_id, "echo $$ > pid; exec sleep 1000")])
    framework.wait_state("t1", "TASK_RUNNING")
    framework.kill("t1")
    framework.wait_state("t1", "TASK_KILLED")
    assert framework.states("t1")[-2:] == ["TASK_KILLING", "TASK_KILLED"]
    sandbox = os.path.join(agent.work_dir, "slaves", agent_id, "frameworks",
                           framework.framework_id, "executors", "t1", "runs", "latest")
    with open(os.path.join(sandbox, "pid")) as source:
        pid = int(source.read())
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the task's process to be gone")


def test_executor_environment(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework)
    command = {"value": "env > env.txt",
               "environment": {"variables": [{"name": "FROM_TASK", "value": "yes"}]}}
    framework.launch(framework.take_offer(agent_id), [task("t1", agent_id, command)])
    framework.wait_state("t1", "TASK_FINISHED")
    fid = framework.framework_id
    text = read_file(agent, f"/frameworks/{fid}/executors/t1/runs/latest/env.txt").json()["data"]
    env = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    runs = os.path.join(agent.work_dir, "slaves", agent_id, "frameworks", fid, "executors",
                        "t1", "runs")
    directory = os.path.join(runs, os.readlink(os.path.join(runs, "latest")))
    assert env["MESOS_FRAMEWORK_ID"] == fid
    assert env["MESOS_EXECUTOR_ID"] == "t1"
    assert env["MESOS_SLAVE_ID"] == agent_id
    assert env["MESOS_AGENT_ENDPOINT"] == f"127.0.0.1:{agent.port}"
    assert env["MESOS_SLAVE_PID"] == f"slave(1)@127.0.0.1:{agent.port}"
    assert env["MESOS_DIRECTORY"] == directory
    assert env["MESOS_SANDBOX"] == directory
    assert env["MESOS_CHECKPOINT"] == "1"
    assert env["MESOS_RECOVERY_TIMEOUT"] == "15mins"
    assert env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] == "5secs"
    assert env["MESOS_ALLOCATION_ROLE"] == "*"
    assert env["FROM_TASK"] == "yes"


def task_pid(agent: Any, agent_id: str, framework_id: str, task_id: str) -> int:
    """The pid a task wrote to `pid` in its sandbox (`echo $$ > pid; exec ...`)."""
    path = os.path.join(agent.work_dir, "slaves", agent_id, "frameworks", framework_id,
                        "executors", task_id, "runs", "latest", "pid")
    wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0, what="the task's pid")
    with open(path) as source:
        return int(source.read())


@pytest.mark.parametrize("launcher", ["posix", "linux"])
def test_executor_that_dies_fails_its_task(master, make_agent, make_framework, launcher):
    if launcher == "linux" and os.geteuid() != 0:
        pytest.skip("the linux launcher needs root")
    agent, agent_id, framework = start(master, make_agent, make_framework,
                                       f"--launcher={launcher}")
    framework.launch(framework.take_offer(agent_id),
                     [task("t1", agent_id, "echo $$ > pid; exec sleep 1000")])
    framework.wait_state("t1", "TASK_RUNNING")
    pid = task_pid(agent, agent_id, framework.framework_id, "t1")
    os.kill(executor_pid(agent, "t1"), signal.SIGKILL)
    failed = framework.wait_state("t1", "TASK_FAILED")
    assert failed["reason"] == "REASON_EXECUTOR_TERMINATED"
    assert failed["source"] == "SOURCE_AGENT"
    # The executor's container, task included, is gone: the task's process
    # must not outlive its executor's container.
    wait_for(lambda: agent.containers() == [], what="the executor container to be destroyed")
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the task's process to be gone")


def test_framework_teardown_kills_its_tasks(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework, "--launcher=posix")
    framework.launch(framework.take_offer(agent_id),
                     [task("t1", agent_id, "echo $$ > pid; exec sleep 1000")])
    framework.wait_state("t1", "TASK_RUNNING")
    pid = task_pid(agent, agent_id, framework.framework_id, "t1")
    framework.stop()  # not a failover: the master tears the framework down
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the task's process to be gone")
    wait_for(lambda: agent.containers() == [], what="the executor container to be destroyed")
    state = agent.request("GET", "/state").json()
    assert state["frameworks"] == []
    [done] = state["completed_frameworks"]
    assert done["id"] == framework.framework_id


def test_executor_that_never_subscribes_times_out(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework,
                                       "--executor_registration_timeout=1secs")
    executor = {"executor_id": {"value": "silent"}, "command": {"value": "sleep 1000"},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}
    framework.launch(framework.take_offer(agent_id),
                     [task("t1", agent_id, None, executor=executor)])
    failed = framework.wait_state("t1", "TASK_FAILED", timeout=30)
    assert failed["reason"] == "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
    assert "did not register within 1secs" in failed["message"]


def test_state_endpoints_show_frameworks_executors_and_tasks(master, make_agent,
                                                            make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework,
                                       "--attributes=rack:r2")
    framework.launch(framework.take_offer(agent_id), [task("t1", agent_id, "sleep 1000")])
    framework.wait_state("t1", "TASK_RUNNING")
    state = agent.request("GET", "/state").json()
    assert agent.request("GET", "/slave(1)/state").json()["id"] == state["id"] == agent_id
    assert state["pid"] == f"slave(1)@127.0.0.1:{agent.port}"
    assert state["attributes"] == {"rack": "r2"}
    assert state["master_hostname"] == "localhost"
    [fw] = state["frameworks"]
    assert fw["id"] == framework.framework_id and fw["roles"] == ["*"]
    [executor] = fw["executors"]
    assert executor["id"] == "t1" and executor["source"] == "t1"
    assert executor["name"].startswith("Command Executor (Task: t1) (Command: sh -c 'sleep 1000')")
    assert executor["resources"]["cpus"] == pytest.approx(0.2)  # 0.1 executor + 0.1 task
    [running] = executor["tasks"]
    assert running["id"] == "t1" and running["state"] == "TASK_RUNNING"
    assert running["slave_id"] == agent_id and running["framework_id"] == fw["id"]
    assert [s["state"] for s in running["statuses"]] == ["TASK_STARTING", "TASK_RUNNING"]
    ip = running["statuses"][-1]["container_status"]["network_infos"][0]["ip_addresses"][0]
    assert ip["ip_address"] == "127.0.0.1"
    reply = agent.call({"type": "GET_TASKS"}).json()["get_tasks"]
    assert [t["task_id"]["value"] for t in reply["launched_tasks"]] == ["t1"]
    assert reply["pending_tasks"] == [] and reply["completed_tasks"] == []
    executors = agent.call({"type": "GET_EXECUTORS"}).json()["get_executors"]
    assert [e["executor_info"]["executor_id"]["value"] for e in executors["executors"]] == ["t1"]
    frameworks = agent.call({"type": "GET_FRAMEWORKS"}).json()["get_frameworks"]
    assert frameworks["frameworks"][0]["framework_info"]["id"]["value"] == fw["id"]
    whole = agent.call({"type": "GET_STATE"}).json()["get_state"]
    assert whole["get_tasks"]["launched_tasks"][0]["state"] == "TASK_RUNNING"
    statistics = agent.request("GET", "/monitor/statistics").json()
    assert [s["executor_id"] for s in statistics] == ["t1"]
    assert statistics[0]["statistics"]["mem_limit_bytes"] > 0
    metrics = agent.request("GET", "/metrics/snapshot").json()
    assert metrics["slave/registered"] == 1.0
    assert metrics["slave/tasks_running"] == 1.0
    assert metrics["slave/executors_running"] == 1.0
    assert metrics["slave/cpus_used"] == pytest.approx(0.2)
    framework.kill("t1")
    framework.wait_state("t1", "TASK_KILLED")
    # Once acknowledged and its executor gone, the task is completed.
    def completed() -> Any:
        tasks = agent.call({"type": "GET_TASKS"}).json()["get_tasks"]
        return tasks["completed_tasks"] if not tasks["launched_tasks"] else None
    done = wait_for(completed, what="the task to be completed")
    assert [t["state"] for t in done] == ["TASK_KILLED"]
    metrics = agent.request("GET", "/metrics/snapshot").json()
    assert metrics["slave/tasks_killed"] == 1.0 and metrics["slave/tasks_running"] == 0.0


def test_many_tasks_each_get_their_own_executor(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework)
    offer = framework.take_offer(agent_id)
    ids = [new_id("t") for _ in range(5)]
    framework.launch(offer, [task(i, agent_id, f"echo {i}") for i in ids])
    for task_id in ids:
        framework.wait_state(task_id, "TASK_FINISHED")
        assert framework.states(task_id) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]


def test_sandbox_is_garbage_collected_after_gc_delay(master, make_agent, make_framework):
    agent, agent_id, framework = start(master, make_agent, make_framework, "--gc_delay=3secs")
    framework.launch(framework.take_offer(agent_id), [task("t1", agent_id, "echo bye")])
    framework.wait_state("t1", "TASK_FINISHED")
    runs = os.path.join(agent.work_dir, "slaves", agent_id, "frameworks",
                        framework.framework_id, "executors", "t1", "runs")
    run = os.path.join(runs, os.readlink(os.path.join(runs, "latest")))
    meta = os.path.join(agent.work_dir, "meta", "slaves", agent_id, "frameworks",
                        framework.framework_id)
    pending = wait_for(lambda: agent.request("GET", "/metrics/snapshot").json()[
        "gc/path_removals_pending"], what="paths scheduled for gc")
    assert pending >= 2
    assert os.path.isdir(run) and os.path.isdir(meta)
    wait_for(lambda: not os.path.exists(run) and not os.path.exists(meta), timeout=20,
             what="the sandbox and checkpoints to be deleted")
    metrics = agent.request("GET", "/metrics/snapshot").json()
    assert metrics["gc/path_removals_succeeded"] >= 2
    # Once deleted, the sandbox is no longer browsable.
    fid = framework.framework_id
    reply = read_file(agent, f"/frameworks/{fid}/executors/t1/runs/latest/stdout")
    wait_for(lambda: read_file(agent, f"/frameworks/{fid}/executors/t1/runs/latest/stdout")
             .status == 404, what="the sandbox to be detached")
    assert reply.status in (200, 404)
