"""Nothing is lost when the agent dies: containers and their exits survive restarts."""

from __future__ import annotations

import os
import signal
import threading
import time

from tests.agent import AgentProcess, container_pids, wait_until


def running_ids(agent: AgentProcess) -> dict[str, int]:
    # A container being destroyed may answer without a status: leave it out.
    return {c["container_id"]["value"]: c["container_status"]["executor_pid"]
            for c in agent.containers(show_standalone=True)
            if "executor_pid" in c.get("container_status", {})}


def test_sigkill_while_containers_run_loses_nothing(agent: AgentProcess) -> None:
    for name in ("a", "b", "c"):
        assert agent.launch(name, "sleep 1000").status == 200
    assert agent.launch("done-before", "exit 4").status == 200
    assert agent.wait("done-before").json()["wait_container"]["exit_status"] == 4 << 8
    before = running_ids(agent)
    assert set(before) == {"a", "b", "c"}

    assert agent.kill(signal.SIGKILL) == -signal.SIGKILL
    for pid in before.values():
        os.kill(pid, 0)  # still running without the agent
    agent.start()

    assert running_ids(agent) == before
    # Ended before the crash: its termination is still there.
    assert agent.wait("done-before").json()["wait_container"]["exit_status"] == 4 << 8
    # Recovered containers are still controllable, with real exit statuses.
    assert agent.kill_container("a", signal.SIGTERM).status == 200
    assert agent.wait("a").json()["wait_container"]["exit_status"] == signal.SIGTERM
    assert agent.kill_container("b").status == 200
    assert agent.wait("b").json()["wait_container"]["exit_status"] == signal.SIGKILL
    assert set(running_ids(agent)) == {"c"}


def test_container_that_ends_while_agent_is_down_reports_its_status(agent: AgentProcess) -> None:
    sandbox = agent.sandbox("ender")
    assert agent.launch("ender", "while [ ! -e go ]; do sleep 0.02; done; exit 9").status == 200
    errors: list = []

    def wait_through_the_crash() -> None:
        try:
            agent.wait("ender", timeout=5)
        except OSError as error:
            errors.append(error)

    thread = threading.Thread(target=wait_through_the_crash)
    thread.start()
    time.sleep(0.2)
    agent.kill(signal.SIGKILL)
    thread.join(timeout=10)
    assert errors, "the long-poll must end with the agent's death"
    open(os.path.join(sandbox, "go"), "w").close()
    pid = container_pids(agent.work_dir)[0]
    wait_until(lambda: not _alive(pid))

    agent.start()
    assert agent.wait("ender").json()["wait_container"]["exit_status"] == 9 << 8
    assert running_ids(agent) == {}


def test_wait_pending_across_a_restart_gets_the_real_status(agent: AgentProcess) -> None:
    assert agent.launch("spanning", "while [ ! -e go ]; do sleep 0.02; done; exit 6").status == 200
    agent.kill(signal.SIGKILL)
    agent.start()
    result: list = []
    thread = threading.Thread(target=lambda: result.append(agent.wait("spanning")))
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()
    open(os.path.join(agent.sandbox("spanning"), "go"), "w").close()
    thread.join(timeout=10)
    assert result[0].json()["wait_container"]["exit_status"] == 6 << 8


def test_sigterm_stops_the_agent_but_not_its_containers(agent: AgentProcess) -> None:
    assert agent.launch("survivor", "sleep 1000").status == 200
    pid = running_ids(agent)["survivor"]
    assert agent.kill(signal.SIGTERM) == 0
    assert "Shutting down" in agent.log()
    assert _alive(pid)
    agent.start()
    assert running_ids(agent) == {"survivor": pid}


def test_corrupt_checkpoint_is_logged_and_others_recover(agent: AgentProcess) -> None:
    for name in ("good", "truncated", "garbage"):
        assert agent.launch(name, "sleep 1000").status == 200
    pids = running_ids(agent)
    agent.kill(signal.SIGKILL)
    meta = os.path.join(agent.work_dir, "meta", "containers")
    config = os.path.join(meta, "truncated", "config")
    with open(config, "rb") as source:
        data = source.read()
    with open(config, "wb") as target:
        target.write(data[: len(data) // 2])
    with open(os.path.join(meta, "garbage", "config"), "wb") as target:
        target.write(b"\x05\x00\x00\x00\xff\xff\xff\xff\xff")

    agent.start()
    assert running_ids(agent) == {"good": pids["good"]}
    log = agent.log()
    assert "truncated: skipping recovery" in log
    assert "garbage: skipping recovery" in log
    assert agent.kill_container("good").status == 200


def test_sigkill_during_a_burst_of_launches_leaves_no_unknown_process(
        agent: AgentProcess) -> None:
    ids = [f"burst-{i}" for i in range(40)]
    threads = [threading.Thread(target=_launch_quietly, args=(agent, i)) for i in ids]
    for thread in threads:
        thread.start()
    time.sleep(0.15)
    agent.kill(signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=30)
    time.sleep(0.3)  # children whose launch was cut short see EOF and exit

    agent.start()
    # Launches cut short before their command was released end on their own
    # (they see the dead agent's sync pipe close): wait until that settled.
    [running] = wait_until(lambda: _stable(lambda: running_ids(agent)), timeout=20)
    # Every process still running in a sandbox belongs to a recovered container.
    for pid, sandbox in _processes_in(os.path.join(agent.work_dir, "containers")):
        container_id = os.path.basename(sandbox)
        assert running.get(container_id) is not None, (pid, sandbox)
    # Every container that was not recovered running has an answer.
    for container_id in ids:
        if container_id in running:
            continue
        reply = agent.wait(container_id, timeout=10)
        assert reply.status in (200, 404), reply.text
    for container_id in running:
        agent.kill_container(container_id)
        assert agent.wait(container_id).json()["wait_container"]["exit_status"] == 9


def _stable(sample):  # type: ignore[no-untyped-def]
    """(value,) once two samples 0.3 s apart agree (a 1-tuple: {} is a result too)."""
    first = sample()
    time.sleep(0.3)
    return (first,) if sample() == first else None


def _launch_quietly(agent: AgentProcess, container_id: str) -> None:
    try:
        agent.launch(container_id, "sleep 1000")
    except OSError:
        pass  # the agent died under us


def _processes_in(root: str) -> list[tuple[int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd.startswith(root + "/") and _alive(int(entry)):
            found.append((int(entry), cwd))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def test_operator_api_answers_503_until_recovery_is_done(make_agent) -> None:
    """A checkpoint that cannot be read yet (a FIFO nobody writes) holds recovery."""
    from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig
    from mesos_py.slave.checkpoint import _LENGTH

    agent = make_agent(start=False)
    held = os.path.join(agent.work_dir, "meta", "containers", "held")
    os.makedirs(held)
    os.mkfifo(os.path.join(held, "config"))
    agent.start(wait_ready=False)
    try:
        reply = wait_until(lambda: _try_health(agent), timeout=20)
        assert (reply.status, reply.text) == (503, "Agent has not finished recovery")
        assert agent.request("GET", "/api/v1").status == 503
        assert agent.request("GET", "/health").status == 200  # the process itself is up
    finally:
        config = ContainerConfig(directory=os.path.join(agent.work_dir, "containers", "held"))
        config.command_info.value = "true"
        payload = config.SerializeToString()
        with open(os.path.join(held, "config"), "wb") as fifo:
            fifo.write(_LENGTH.pack(len(payload)) + payload)
    agent.wait_ready()
    reply = agent.wait("held")
    assert reply.status == 200
    assert reply.json()["wait_container"] == {
        "message": "Container launch was interrupted by an agent restart"}


def _try_health(agent: AgentProcess):
    try:
        return agent.call({"type": "GET_HEALTH"})
    except OSError:
        return None


def test_fork_server_crash_kills_no_container_and_is_replaced(agent: AgentProcess) -> None:
    assert agent.launch("before", "sleep 1000").status == 200
    before = running_ids(agent)["before"]
    with open(os.path.join(agent.runtime_dir, "forkserver.pid")) as pid_file:
        fork_server = int(pid_file.read())
    os.kill(fork_server, signal.SIGKILL)
    wait_until(lambda: not _alive(fork_server))
    time.sleep(0.2)
    assert running_ids(agent) == {"before": before}, "containers outlive their fork server"

    assert agent.launch("after", "exit 2").status == 200
    assert agent.wait("after").json()["wait_container"]["exit_status"] == 2 << 8
    with open(os.path.join(agent.runtime_dir, "forkserver.pid")) as pid_file:
        assert int(pid_file.read()) != fork_server
    assert "Starting a new fork server" in agent.log()

    assert agent.kill_container("before").status == 200
    termination = agent.wait("before").json()["wait_container"]
    assert termination.get("exit_status", 9) == 9
