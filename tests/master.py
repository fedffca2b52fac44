"""A real Apache Mesos 1.11 master for tests, and a pymesos framework driving it.

`MesosMaster` runs `shared/tools/mesos-master/start` on a free port (its own
run directory, in-memory registry) with extra master flags given as
`MESOS_<FLAG>` variables. `TestFramework` is a pymesos scheduler that records
offers, status updates and framework messages, so tests can wait on them.
Every wait has a timeout; `stop()` is safe to call twice.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Iterable

from tests.agent import ROOT, free_port, wait_for


def tool(name: str) -> str | None:
    """`shared/tools/<name>`, found beside this checkout or one of its parents."""
    directory = ROOT
    while True:
        candidate = os.path.join(directory, "shared", "tools", name)
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


MASTER_TOOL = tool("mesos-master")


def pymesos_available() -> bool:
    try:
        import pymesos  # noqa: F401
    except ImportError:
        return False
    return True


TERMINAL = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
                      "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"})


class MesosMaster:
    def __init__(self, port: int | None = None, **flags: str) -> None:
        assert MASTER_TOOL is not None
        self.port = port or free_port()
        self.run_dir = tempfile.mkdtemp(prefix="mesos-master-")
        self.env = dict(os.environ, PORT=str(self.port), MESOS_MASTER_RUN_DIR=self.run_dir)
        self.env.pop("MESOS_NUM_SLAVES", None)
        for name, value in flags.items():
            self.env[f"MESOS_{name.upper()}"] = value

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "MesosMaster":
        assert MASTER_TOOL is not None
        result = subprocess.run([os.path.join(MASTER_TOOL, "start")], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"the Mesos master did not start: {result.stderr.decode()}")
        return self

    def stop(self) -> None:
        assert MASTER_TOOL is not None
        subprocess.run([os.path.join(MASTER_TOOL, "stop")], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def restart(self) -> "MesosMaster":
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def log(self) -> str:
        try:
            with open(os.path.join(self.run_dir, "master.log"), errors="replace") as log:
                return log.read()
        except OSError:
            return ""

    def get(self, path: str) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200, (path, response.status, body)
            return json.loads(body)
        finally:
            connection.close()

    def agents(self) -> list[dict[str, Any]]:
        return list(self.get("/master/slaves")["slaves"])

    def agent(self, pid_port: int) -> dict[str, Any] | None:
        for agent in self.agents():
            if agent["pid"].endswith(f"@127.0.0.1:{pid_port}") and agent.get("active"):
                return agent
        return None


def scalar(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


class TestFramework:
    """A pymesos scheduler whose events tests can wait on.

    Offers are kept until used; updates are recorded per task in arrival
    order and acknowledged (implicitly, by pymesos) after being recorded.
    """

    def __init__(self, master: MesosMaster, name: str = "mesos-py-test",
                 checkpoint: bool = True, **info: Any) -> None:
        from pymesos import MesosSchedulerDriver

        self.lock = threading.Condition()
        self.offers: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        # (task id, state) -> when this process received it (time.monotonic()).
        self.received_at: dict[tuple[str, str], float] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.errors: list[str] = []
        self.framework_id: str | None = None
        framework = {"user": "root", "name": name, "checkpoint": checkpoint,
                     "roles": ["*"], "failover_timeout": 0.0,
                     "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"},
                                      {"type": "TASK_KILLING_STATE"}]}
        framework.update(info)
        self.driver = MesosSchedulerDriver(_Scheduler(self), framework, master.address,
                                           use_addict=False, implicit_acknowledgements=True)
        self.driver.start()
        self._stopped = False

    # ---------------------------------------------------------------- waits
    def wait(self, predicate: Callable[[], Any], timeout: float = 30.0,
             what: str = "framework event") -> Any:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout}s waiting for {what}; "
                                       f"updates: {self.states()}; errors: {self.errors}; "
                                       f"last: {self.updates[-1:]}")
                self.lock.wait(min(remaining, 0.5))

    def take_offer(self, agent_id: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        def pick() -> dict[str, Any] | None:
            for offer in self.offers:
                if agent_id is None or offer["agent_id"]["value"] == agent_id:
                    self.offers.remove(offer)
                    return offer
            return None

        return dict(self.wait(pick, timeout, f"an offer from agent {agent_id}"))

    def states(self, task_id: str | None = None) -> list[str] | dict[str, list[str]]:
        if task_id is not None:
            return [u["state"] for u in self.updates if u["task_id"]["value"] == task_id]
        result: dict[str, list[str]] = {}
        for update in self.updates:
            result.setdefault(update["task_id"]["value"], []).append(update["state"])
        return result

    def task_updates(self, task_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [u for u in self.updates if u["task_id"]["value"] == task_id]

    def wait_state(self, task_id: str, state: str, timeout: float = 60.0) -> dict[str, Any]:
        """The first update of `task_id` in `state`; fails at once if the task
        ends in another state instead."""
        def found() -> dict[str, Any] | None:
            for update in self.updates:
                if update["task_id"]["value"] != task_id:
                    continue
                if update["state"] == state:
                    return update
                if update["state"] in TERMINAL and state not in TERMINAL:
                    raise AssertionError(f"task {task_id} ended instead: {update}")
            return None

        return dict(self.wait(found, timeout, f"{state} of task {task_id}"))

    def wait_terminal(self, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for update in self.updates:
                if update["task_id"]["value"] == task_id and update["state"] in TERMINAL:
                    return update
            return None

        return dict(self.wait(found, timeout, f"a terminal state of task {task_id}"))

    # -------------------------------------------------------------- actions
    def launch(self, offer: dict[str, Any], tasks: Iterable[dict[str, Any]],
               refuse_seconds: float | None = None) -> None:
        filters = None if refuse_seconds is None else {"refuse_seconds": refuse_seconds}
        self.driver.launchTasks(offer["id"], list(tasks), filters)

    def launch_group(self, offer: dict[str, Any], executor: dict[str, Any],
                     tasks: list[dict[str, Any]]) -> None:
        self.driver.acceptOffers([offer["id"]], [{
            "type": "LAUNCH_GROUP",
            "launch_group": {"executor": executor, "task_group": {"tasks": tasks}}}])

    def kill(self, task_id: str) -> None:
        self.driver.killTask({"value": task_id})

    def send_message(self, executor_id: str, agent_id: str, data: bytes) -> None:
        from pymesos import encode_data

        self.driver.sendFrameworkMessage({"value": executor_id}, {"value": agent_id},
                                         encode_data(data))

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.driver.stop()
        self.driver.join()


class _Scheduler:
    """pymesos callbacks; they must never raise (pymesos would interrupt the
    main thread)."""

    def __init__(self, owner: TestFramework) -> None:
        self.owner = owner

    def _record(self, action: Callable[[], None]) -> None:
        try:
            with self.owner.lock:
                action()
                self.owner.lock.notify_all()
        except Exception as error:  # never into pymesos
            self.owner.errors.append(repr(error))

    def registered(self, driver: Any, framework_id: Any, master_info: Any) -> None:
        self._record(lambda: setattr(self.owner, "framework_id", framework_id["value"]))

    def reregistered(self, driver: Any, master_info: Any) -> None:
        pass

    def resourceOffers(self, driver: Any, offers: list[Any]) -> None:
        self._record(lambda: self.owner.offers.extend(offers))

    def statusUpdate(self, driver: Any, update: Any) -> None:
        now = time.monotonic()

        def add() -> None:
            self.owner.updates.append(update)
            self.owner.received_at.setdefault((update["task_id"]["value"], update["state"]),
                                              now)

        self._record(add)

    def frameworkMessage(self, driver: Any, executor_id: Any, agent_id: Any, data: Any) -> None:
        def add() -> None:
            from pymesos import decode_data
            self.owner.messages.append((executor_id["value"], decode_data(data)))

        self._record(add)

    def error(self, driver: Any, message: str) -> None:
        self._record(lambda: self.owner.errors.append(message))

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def task(task_id: str, agent_id: str, command: str | dict[str, Any] | None, cpus: float = 0.1,
         mem: float = 32, **extra: Any) -> dict[str, Any]:
    """A TaskInfo dict for pymesos."""
    info: dict[str, Any] = {
        "task_id": {"value": task_id}, "agent_id": {"value": agent_id}, "name": task_id,
        "resources": [scalar("cpus", cpus), scalar("mem", mem)],
        "command": (command if isinstance(command, dict) or command is None
                    else {"value": command})}
    info.update(extra)
    return {key: value for key, value in info.items() if value is not None}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
