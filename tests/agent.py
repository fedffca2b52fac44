"""A real `mesos-py-agent` process for tests, and a small Operator API client.

Each agent gets its own work dir, runtime dir and port. `stop()` ends the
agent; `cleanup()` also kills every container and fork server it started,
found through its checkpoints, by pid.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import Any, Callable

from mesos_py.protos.mesos.v1.agent import agent_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# This test session's id. What tests create outside pytest's tmp_path (cgroup
# roots, scratch directories, images) carries it in its name, so the final
# leftover check only ever looks at this session's own things.
TEST_SESSION = os.environ.setdefault("MESOS_PY_TEST_SESSION", uuid.uuid4().hex[:8])


def unique_name(kind: str) -> str:
    """A unique name for something a test creates: `mesos_test_<session>_<kind>_<n>`."""
    return f"mesos_test_{TEST_SESSION}_{kind}_{uuid.uuid4().hex[:6]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class AgentProcess:
    def __init__(self, work_dir: str, runtime_dir: str, port: int | None = None,
                 extra_flags: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.work_dir, self.runtime_dir = work_dir, runtime_dir
        self.port = port or free_port()
        self.extra_flags = extra_flags or []
        self.env = env or {}
        self.cgroups_root = unique_name("agent")
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(os.path.dirname(work_dir), f"agent-{self.port}.log")
        self._fork_servers: set[int] = set()

    # --------------------------------------------------------- lifecycle
    def command(self) -> list[str]:
        port = [] if "MESOS_PORT" in self.env else [f"--port={self.port}"]
        # Never the host's default root: a cgroup root of this agent's own.
        root = [] if any(f.startswith("--cgroups_root=") for f in self.extra_flags) \
            else [f"--cgroups_root={self.cgroups_root}"]
        return [sys.executable, "-m", "mesos_py", f"--work_dir={self.work_dir}",
                f"--runtime_dir={self.runtime_dir}", "--ip=127.0.0.1", *port, *root,
                *self.extra_flags]

    def start(self, wait_ready: bool = True) -> "AgentProcess":
        log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESOS_")}
        env["PYTHONPATH"] = ROOT
        env.update(self.env)
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=log, env=env,
                                        cwd=ROOT, start_new_session=True)
        log.close()
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"agent exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.call({"type": "GET_HEALTH"}).status == 200:
                    self._remember_fork_server()
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"agent did not become ready:\n{self.log()}")

    def _remember_fork_server(self) -> None:
        try:
            with open(os.path.join(self.runtime_dir, "forkserver.pid")) as pid_file:
                self._fork_servers.add(int(pid_file.read()))
        except (OSError, ValueError):
            pass

    def kill(self, signum: int = signal.SIGKILL) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill(signal.SIGTERM)

    def restart(self) -> "AgentProcess":
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Ends the agent, every container it checkpointed, and its fork servers."""
        self._remember_fork_server()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)
        for pid in container_pids(self.work_dir):
            _kill_session(pid)
        for pid in self._fork_servers:
            _kill(pid)
        _remove_cgroups(self.cgroups_root)

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as log:
                return log.read()
        except OSError:
            return ""

    # -------------------------------------------------------------- HTTP
    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None, timeout: float = 30.0) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                         response.read())
        finally:
            connection.close()

    def call(self, call: dict[str, Any] | agent_pb2.Call, accept: str = "application/json",
             timeout: float = 30.0) -> Reply:
        if isinstance(call, agent_pb2.Call):
            body, content_type = call.SerializeToString(), "application/x-protobuf"
        else:
            body, content_type = json.dumps(call).encode(), "application/json"
        return self.request("POST", "/api/v1", body,
                            {"Content-Type": content_type, "Accept": accept}, timeout)

    # ------------------------------------------------------ conveniences
    def launch(self, container_id: str, command: str | dict[str, Any], **extra: Any) -> Reply:
        """LAUNCH_CONTAINER; `command` is a shell command or a CommandInfo dict."""
        launch: dict[str, Any] = {"container_id": {"value": container_id},
                                  "command": command if isinstance(command, dict)
                                  else {"value": command}}
        launch.update(extra)
        return self.call({"type": "LAUNCH_CONTAINER", "launch_container": launch})

    def wait(self, container_id: str, timeout: float = 30.0) -> Reply:
        return self.call({"type": "WAIT_CONTAINER",
                          "wait_container": {"container_id": {"value": container_id}}},
                         timeout=timeout)

    def kill_container(self, container_id: str, signum: int | None = None) -> Reply:
        kill: dict[str, Any] = {"container_id": {"value": container_id}}
        if signum is not None:
            kill["signal"] = signum
        return self.call({"type": "KILL_CONTAINER", "kill_container": kill})

    def remove(self, container_id: str) -> Reply:
        return self.call({"type": "REMOVE_CONTAINER",
                          "remove_container": {"container_id": {"value": container_id}}})

    def containers(self, **flags: bool) -> list[dict[str, Any]]:
        reply = self.call({"type": "GET_CONTAINERS", "get_containers": flags})
        assert reply.status == 200, reply.text
        return list(reply.json()["get_containers"].get("containers", []))

    def sandbox(self, container_id: str) -> str:
        return os.path.join(self.work_dir, "containers", container_id)


def container_pids(work_dir: str) -> list[int]:
    pids = []
    for directory, _, files in os.walk(os.path.join(work_dir, "meta")):
        if "pid" in files:
            try:
                with open(os.path.join(directory, "pid")) as pid_file:
                    pids.append(int(pid_file.read().split()[0]))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def _kill_session(leader: int) -> None:
    """SIGKILLs every process of the session `leader` leads (a container)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                session = int(stat.read().rsplit(b")", 1)[1].split()[3])
        except (OSError, IndexError, ValueError):
            continue
        if session == leader:
            _kill(int(entry))


def _remove_cgroups(root: str) -> None:
    """Kills what is left in the agent's cgroups and removes them, everywhere."""
    from mesos_py.linux import cgroups
    for mount in cgroups.mounts():
        if mount.root == "/" and cgroups.exists(mount.point, root):
            try:
                cgroups.destroy(mount.point, root, timeout=20)
            except cgroups.CgroupError:
                pass  # reported by the session's leftover check


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
             interval: float = 0.05) -> Any:
    """The predicate's first true value; TimeoutError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0,
               interval: float = 0.01) -> Any:
    return wait_for(predicate, timeout, "the condition", interval)
