"""Health checks (TaskInfo.health_check) and generic checks (TaskInfo.check)
of a task, as Mesos's built-in executors run them (src/checks/).

COMMAND runs a command (exit 0 = healthy; the executor chooses where: a
local process for the command executor, a nested container for the default
executor), HTTP GETs `scheme://127.0.0.1:<port><path>` (a status in
[200, 400) = healthy), TCP connects to `127.0.0.1:<port>`.

Health checks start after `delay_seconds` (15), run every
`interval_seconds` (10) with a `timeout_seconds` (20) each. Failures within
`grace_period_seconds` (10) of the start are ignored until a first success.
The first success, and every success after a failure, sends TASK_RUNNING with
`healthy=true`; every counted failure sends `healthy=false`, and
`consecutive_failures` (3) of them in a row ask the executor to kill the task.
Updates carry REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.

Checks report their result in `check_status` (exit code, HTTP status code or
TCP success) each time it changes, with REASON_TASK_CHECK_STATUS_UPDATED.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from typing import Any, Callable

from mesos_py.executors.http import Connection, log

RunCommand = Callable[[dict[str, Any], float], "int | None"]


def run_local_command(command: dict[str, Any], timeout: float) -> int | None:
    """Exit code of a CommandInfo run here; None if it timed out or did not start."""
    if command.get("shell", True):
        argv = ["sh", "-c", command.get("value", "")]
    else:
        argv = list(command.get("arguments", [])) or [command.get("value", "")]
    try:
        # A process group of its own inside the executor's session: a timed-out
        # check is killed whole, and nothing of it outlives the container.
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   process_group=0)
    except OSError:
        return None
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        return None


def http_status(spec: dict[str, Any], timeout: float) -> int | None:
    scheme = spec.get("scheme", "http")
    port = int(spec["port"])
    path = spec.get("path", "/") or "/"
    if scheme == "https":
        return _https_status(port, path, timeout)
    connection = Connection("127.0.0.1", port, timeout=timeout)
    try:
        response = connection.request("GET", path)
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


def _https_status(port: int, path: str, timeout: float) -> int | None:
    import http.client  # rare: not paid by every executor's start-up
    import ssl

    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                             context=ssl._create_unverified_context())
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def tcp_open(spec: dict[str, Any], timeout: float) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", int(spec["port"])), timeout=timeout):
            return True
    except OSError:
        return False


def _kind(spec: dict[str, Any]) -> str:
    if "type" in spec:
        return str(spec["type"])
    for kind in ("command", "http", "tcp"):
        if kind in spec:
            return kind.upper()
    return "UNKNOWN"


class Checker:
    def __init__(self, task: dict[str, Any], driver: Any, on_unhealthy: Callable[[], None],
                 on_checked: Callable[[], None], run_command: RunCommand = run_local_command,
                 task_state: Callable[[], str] = lambda: "TASK_RUNNING") -> None:
        self.task = task
        self.driver = driver
        self.on_unhealthy = on_unhealthy
        self.on_checked = on_checked
        self.run_command = run_command
        self.task_state = task_state
        self._stop = threading.Event()

    def start(self) -> None:
        if self.task.get("health_check"):
            threading.Thread(target=self._health_loop, args=(self.task["health_check"],),
                             daemon=True, name="health-check").start()
        if self.task.get("check"):
            threading.Thread(target=self._check_loop, args=(self.task["check"],),
                             daemon=True, name="check").start()

    def stop(self) -> None:
        self._stop.set()

    # ========================================================= health checks
    def _health_loop(self, spec: dict[str, Any]) -> None:
        delay = float(spec.get("delay_seconds", 15.0))
        interval = float(spec.get("interval_seconds", 10.0))
        timeout = float(spec.get("timeout_seconds", 20.0))
        threshold = int(spec.get("consecutive_failures", 3))
        grace = float(spec.get("grace_period_seconds", 10.0))
        started = time.monotonic()
        healthy: bool | None = None
        failures = 0
        succeeded_once = False
        if self._stop.wait(delay):
            return
        while not self._stop.is_set():
            ok = self._healthy(spec, timeout)
            if self._stop.is_set():
                return
            if ok:
                succeeded_once = True
                failures = 0
                if healthy is not True:
                    healthy = True
                    self._send_health(True)
            elif succeeded_once or time.monotonic() - started > grace:
                failures += 1
                healthy = False
                log.warning("Health check failed %d time(s) in a row", failures)
                self._send_health(False)
                if failures >= threshold:
                    self.driver.post(self.on_unhealthy)
                    return
            if self._stop.wait(interval):
                return

    def _healthy(self, spec: dict[str, Any], timeout: float) -> bool:
        kind = _kind(spec)
        if kind == "COMMAND":
            return self.run_command(spec.get("command", {}), timeout) == 0
        if kind == "HTTP":
            status = http_status(spec.get("http", {}), timeout)
            return status is not None and 200 <= status < 400
        if kind == "TCP":
            return tcp_open(spec.get("tcp", {}), timeout)
        log.error("Unsupported health check type %s", kind)
        return False

    def _send_health(self, healthy: bool) -> None:
        status = {"task_id": self.task["task_id"], "state": self.task_state(),
                  "healthy": healthy, "reason": "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"}
        self.driver.post(lambda: self.driver.update(status))

    # ================================================================ checks
    def _check_loop(self, spec: dict[str, Any]) -> None:
        delay = float(spec.get("delay_seconds", 15.0))
        interval = float(spec.get("interval_seconds", 10.0))
        timeout = float(spec.get("timeout_seconds", 20.0))
        last: dict[str, Any] | None = None
        if self._stop.wait(delay):
            return
        while not self._stop.is_set():
            result = self._check(spec, timeout)
            if self._stop.is_set():
                return
            if result != last:
                last = result
                status = {"task_id": self.task["task_id"], "state": self.task_state(),
                          "check_status": result,
                          "reason": "REASON_TASK_CHECK_STATUS_UPDATED"}
                self.driver.post(lambda status=status: self.driver.update(status))
                self.driver.post(self.on_checked)
            if self._stop.wait(interval):
                return

    def _check(self, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
        kind = _kind(spec)
        result: dict[str, Any] = {"type": kind}
        if kind == "COMMAND":
            code = self.run_command(spec.get("command", {}).get("command", {}), timeout)
            result["command"] = {} if code is None else {"exit_code": code}
        elif kind == "HTTP":
            status = http_status(spec.get("http", {}), timeout)
            result["http"] = {} if status is None else {"status_code": status}
        elif kind == "TCP":
            result["tcp"] = {"succeeded": tcp_open(spec.get("tcp", {}), timeout)}
        return result
