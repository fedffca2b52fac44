"""`mesos-py-executor`: the command executor (Mesos's src/launcher/executor.cpp).

Runs the one task of a TaskInfo that carries a CommandInfo, in the executor's
own container: TASK_STARTING, then TASK_RUNNING once the command is started,
then TASK_FINISHED (exit 0), TASK_FAILED ("Command exited with status N" /
"Command terminated with signal S") or TASK_KILLED. A kill sends SIGTERM to
the command's process group, then SIGKILL after the kill policy's grace
period (KILL event, else the task's kill_policy, else 3s); frameworks with the
TASK_KILLING_STATE capability see TASK_KILLING first. Health checks and
checks of the task run here (mesos_py/executors/checks.py). The executor
exits once its terminal update is acknowledged.

A separate program: it may fork and wait as programs do.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from mesos_py.executors.checks import Checker
from mesos_py.executors.client import ExecutorDriver, Handler, setup_logging
from mesos_py.executors.http import log


DEFAULT_GRACE = 3.0
# A task killed by a SIGKILL the executor did not send is reported this much
# later: when its container hit a limit (the kernel's OOM killer), the agent
# destroys the container meanwhile and reports the task with the limitation's
# reason, as it does for Mesos's executor (which notices deaths on a 100ms
# reaper tick). A shell whose child was so killed exits 137 (128 + SIGKILL):
# the same wait.
UNEXPLAINED_KILL_DELAY = 1.5
# How long to wait for the agent to acknowledge the terminal update.
TERMINAL_ACK_TIMEOUT = 60.0


def task_environment(task: dict[str, Any]) -> dict[str, str]:
    """The command's environment: the executor's, then the task's own variables.

    PYTHONPATH is the agent's, given to run this executor: the command does
    not inherit it unless it sets it itself.
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    for variable in task.get("command", {}).get("environment", {}).get("variables", []):
        if variable.get("type", "VALUE") == "VALUE":
            env[variable["name"]] = variable.get("value", "")
    return env


def command_argv(command: dict[str, Any]) -> tuple[list[str], str]:
    """(argv, executable) of a CommandInfo: `sh -c value` for a shell command."""
    if command.get("shell", True):
        return ["sh", "-c", command.get("value", "")], "/bin/sh"
    arguments = list(command.get("arguments", [])) or [command["value"]]
    return arguments, command["value"]


def describe_exit(status: int) -> tuple[bool, str]:
    """(succeeded, message) for a returncode of `subprocess`."""
    if status == 0:
        return True, "Command exited with status 0"
    if status < 0:
        name = signal.strsignal(-status) or f"Unknown signal {-status}"
        return False, f"Command terminated with signal {name}"
    return False, f"Command exited with status {status}"


class CommandExecutor(Handler):
    def __init__(self, driver_factory: Any = ExecutorDriver) -> None:
        self.driver: ExecutorDriver = driver_factory(self)
        self.task: dict[str, Any] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.killed = False
        self.killed_by_health_check = False
        self.terminal_uuid: str | None = None
        self.checker: Checker | None = None
        self.kill_timer: threading.Timer | None = None
        self.shutting_down = False

    @property
    def task_id(self) -> str:
        assert self.task is not None
        return str(self.task["task_id"]["value"])

    # ============================================================== events
    def launch(self, task: dict[str, Any]) -> None:
        if self.task is not None:
            log.error("Ignoring a second task: the command executor runs one task")
            self.driver.update({"task_id": task["task_id"], "state": "TASK_FAILED",
                                "message": "Attempted to run multiple tasks using a "
                                           "\"command\" executor"})
            return
        self.task = task
        self.driver.update({"task_id": task["task_id"], "state": "TASK_STARTING"})
        argv, executable = command_argv(task.get("command", {}))
        log.info("Starting task %s: %s", self.task_id, shlex.join(argv))
        try:
            # Its own process group (for killpg), but the executor's session:
            # the posix launcher destroys a container by killing its session,
            # and the task must not outlive its executor's container.
            self.process = subprocess.Popen(
                argv, executable=executable, env=task_environment(task),
                cwd=self.driver.sandbox, process_group=0, close_fds=True)
        except OSError as error:
            self._terminal("TASK_FAILED", f"Failed to launch the command: {error}")
            return
        self.driver.update({"task_id": task["task_id"], "state": "TASK_RUNNING"})
        threading.Thread(target=self._wait, daemon=True, name="waiter").start()
        if task.get("health_check") or task.get("check"):
            self.checker = Checker(task, self.driver, self._health_failed, self._checked)
            self.checker.start()

    def _wait(self) -> None:
        assert self.process is not None
        status = self.process.wait()
        if status in (-signal.SIGKILL, 128 + signal.SIGKILL) and not self.killed:
            time.sleep(UNEXPLAINED_KILL_DELAY)
        self.driver.post(lambda: self._exited(status))

    def _exited(self, status: int) -> None:
        if self.checker is not None:
            self.checker.stop()
        if self.kill_timer is not None:
            self.kill_timer.cancel()
        succeeded, message = describe_exit(status)
        log.info("Task %s: %s", self.task_id, message)
        if self.killed:
            state = "TASK_KILLED"
            if self.killed_by_health_check:
                message = "Task killed due to failing health checks"
        else:
            state = "TASK_FINISHED" if succeeded else "TASK_FAILED"
        self._terminal(state, message, healthy=False if self.killed_by_health_check else None)

    def _terminal(self, state: str, message: str, healthy: bool | None = None) -> None:
        status: dict[str, Any] = {"task_id": self.task["task_id"] if self.task else {},
                                  "state": state, "message": message}
        if healthy is not None:
            status["healthy"] = healthy
        self.terminal_uuid = self.driver.update(status)
        # Give the agent time to acknowledge; then exit regardless.
        timer = threading.Timer(TERMINAL_ACK_TIMEOUT, lambda: self.driver.post(
            lambda: self.driver.stop(0)))
        timer.daemon = True
        timer.start()

    def acknowledged(self, task_id: str, uuid_b64: str) -> None:
        if uuid_b64 == self.terminal_uuid:
            log.info("Terminal update acknowledged; exiting")
            self.driver.stop(0)

    def kill(self, task_id: str, kill_policy: dict[str, Any] | None) -> None:
        if self.task is None or task_id != self.task_id:
            log.warning("Ignoring kill of unknown task %s", task_id)
            return
        grace = DEFAULT_GRACE
        policy = kill_policy or self.task.get("kill_policy")
        if policy and "grace_period" in policy:
            grace = int(policy["grace_period"].get("nanoseconds", 0)) / 1e9
        self._kill(grace)

    def _kill(self, grace: float) -> None:
        if self.process is None or self.process.returncode is not None or self.killed:
            return
        self.killed = True
        capabilities = {c.get("type") for c in self.driver.framework_info.get("capabilities", [])}
        if "TASK_KILLING_STATE" in capabilities:
            self.driver.update({"task_id": self.task["task_id"] if self.task else {},
                                "state": "TASK_KILLING"})
        log.info("Sending SIGTERM to task %s (grace period %.1fs)", self.task_id, grace)
        self._signal(signal.SIGTERM)
        self.kill_timer = threading.Timer(grace, lambda: self._signal(signal.SIGKILL))
        self.kill_timer.daemon = True
        self.kill_timer.start()

    def _signal(self, signum: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def _health_failed(self) -> None:
        """Too many consecutive health check failures: kill the task."""
        log.warning("Task %s is unhealthy; killing it", self.task_id)
        self.killed_by_health_check = True
        self._kill(DEFAULT_GRACE)

    def _checked(self) -> None:
        pass

    def shutdown(self) -> None:
        log.info("Shutting down")
        self.shutting_down = True
        if self.process is None or self.process.returncode is not None:
            self.driver.stop(0)
            return
        self._kill(max(self.driver.shutdown_grace - 1.0, 0.1))

    def disconnected(self) -> None:
        """The agent is gone for good (or this framework does not checkpoint)."""
        if self.process is not None and self.process.returncode is None:
            self._signal(signal.SIGKILL)
        self.driver.stop(1)

    def message(self, data: bytes) -> None:
        log.info("Ignoring a framework message of %d bytes", len(data))

    def error(self, message: str) -> None:
        log.error("Error from the agent: %s", message)


def main() -> None:
    setup_logging("command-executor")
    executor = CommandExecutor()
    sys.exit(executor.driver.run())


if __name__ == "__main__":
    main()
