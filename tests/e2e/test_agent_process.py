"""Starting and stopping the `mesos-py-agent` process: flags, errors, signals."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.agent import ROOT, AgentProcess, free_port


def run_agent(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MESOS_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "mesos_py", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=environment)


def test_help_lists_the_flags() -> None:
    result = run_agent("--help")
    assert result.returncode == 0
    for flag in ("--work_dir", "--runtime_dir", "--ip", "--port", "--hostname", "--resources",
                 "--isolation", "--launcher", "--master", "--logging_level", "--log_dir"):
        assert flag in result.stdout


def test_console_script_is_installed() -> None:
    script = os.path.join(os.path.dirname(sys.executable), "mesos-py-agent")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("mesos-py-agent ")


@pytest.mark.parametrize("args,needle", [
    (["--port=abc"], "flag 'port'"),
    (["--port=70000"], "flag 'port'"),
    (["--no_such_flag=1"], "unknown flag 'no_such_flag'"),
    (["--launcher=docker"], "flag 'launcher'"),
    (["--isolation=posix/cpu,cgroups/fancy"], "flag 'isolation': Unknown or unsupported isolator 'cgroups/fancy'"),
    (["--logging_level=LOUD"], "flag 'logging_level'"),
    (["--ip=not-an-ip"], "flag 'ip'"),
    (["--master=zk://127.0.0.1:2181/mesos"], "flag 'master': ZooKeeper master detection"),
    (["--master=nowhere"], "flag 'master': Expecting --master as host:port"),
    (["--master=no.such.host.invalid:5050"], "flag 'master': cannot resolve"),
    (["--resources=cpus:-1"], "flag 'resources'"),
    (["--attributes=rack"], "flag 'attributes'"),
])
def test_bad_flags_stop_startup_with_one_line(tmp_path, args: list[str], needle: str) -> None:
    result = run_agent(f"--work_dir={tmp_path}/w", f"--runtime_dir={tmp_path}/r", *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_unusable_work_dir_names_the_flag(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_agent(f"--work_dir={blocker}/sub", f"--runtime_dir={tmp_path}/r",
                       f"--port={free_port()}")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "--work_dir" in result.stderr


def test_busy_port_names_the_flag(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_agent(f"--work_dir={tmp_path}/w", f"--runtime_dir={tmp_path}/r",
                           "--ip=127.0.0.1", f"--port={port}")
    assert result.returncode == 1
    assert "--port" in result.stderr and result.stderr.strip().count("\n") == 0


def test_flags_from_the_environment(tmp_path) -> None:
    port = free_port()
    agent = AgentProcess(str(tmp_path / "w"), str(tmp_path / "r"), port=port,
                         env={"MESOS_PORT": str(port), "MESOS_LOGGING_LEVEL": "WARNING"})
    assert "--port" not in " ".join(agent.command())
    try:
        agent.start()
        flags = {f["name"]: f["value"] for f in agent.call({"type": "GET_FLAGS"}).json()
                 ["get_flags"]["flags"]}
        assert flags["port"] == str(port)
        assert flags["logging_level"] == "WARNING"
    finally:
        agent.cleanup()


def test_operator_api_is_served_while_no_master_answers(make_agent) -> None:
    # Nothing listens on this port: the agent keeps trying to register and
    # serves its Operator API meanwhile.
    agent = make_agent([f"--master=127.0.0.1:{free_port()}", "--registration_backoff_factor=10ms"])
    assert agent.call({"type": "GET_HEALTH"}).status == 200
    reply = agent.call({"type": "GET_AGENT"})
    assert reply.status == 200 and "id" not in reply.json()["get_agent"]["agent_info"]
    assert agent.request("GET", "/metrics/snapshot").json()["slave/registered"] == 0.0


def test_log_dir_receives_the_log(make_agent, tmp_path) -> None:
    agent = make_agent([f"--log_dir={tmp_path}/logs"])
    agent.launch("logged", "true")
    agent.wait("logged")
    with open(tmp_path / "logs" / "mesos-py-agent.log") as log:
        text = log.read()
    assert "logged: launching" in text
    assert "logged: terminated (exit code 0)" in text
