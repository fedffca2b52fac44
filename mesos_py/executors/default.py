"""`mesos-py-default-executor`: runs task groups (pods), as Mesos's default executor.

Each task of a LAUNCH_GROUP runs in a nested container of the executor's own
container, through the agent's operator API (LAUNCH_NESTED_CONTAINER, then a
WAIT_NESTED_CONTAINER long poll per task). Updates per task: TASK_STARTING,
TASK_RUNNING once every container of the group is launched, then
TASK_FINISHED / TASK_FAILED (with the container's reason, e.g. a memory
limitation) / TASK_KILLED. As in Mesos, a task of a group that fails, or is
killed, takes the rest of its group with it (TASK_KILLED). Command health
checks and checks run in nested containers of the task's container; HTTP and
TCP ones from here (nested containers share this container's network). The
executor exits once every task is terminal and those updates are
acknowledged.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from typing import Any

from mesos_py.executors.checks import Checker
from mesos_py.executors.client import (AgentError, ExecutorDriver, Handler, new_uuid,
                                       setup_logging)
from mesos_py.executors.http import log


DEFAULT_GRACE = 3.0
UNEXPLAINED_KILL_DELAY = 1.5
TERMINAL_ACK_TIMEOUT = 60.0


def str_uuid() -> str:
    """A container id: a UUID in its usual text form."""
    hexed = new_uuid().hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


class Task:
    def __init__(self, info: dict[str, Any], container_id: dict[str, Any],
                 group: list[str]) -> None:
        self.info = info
        self.id: str = info["task_id"]["value"]
        self.container_id = container_id
        self.group = group
        self.launched = False
        self.killed = False
        self.terminal: str | None = None  # state once terminal
        self.terminal_uuid: str | None = None
        self.acknowledged = False
        self.checker: Checker | None = None


def exit_description(status: int | None) -> tuple[bool, str]:
    if status is None:
        return False, "Command terminated with an unknown status"
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return code == 0, f"Command exited with status {code}"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return False, f"Command terminated with signal {signal.strsignal(number) or number}"
    return False, f"Command ended with wait status {status}"


class DefaultExecutor(Handler):
    def __init__(self) -> None:
        self.driver = ExecutorDriver(self)
        self.tasks: dict[str, Task] = {}
        self.shutting_down = False

    # ================================================================ launch
    def launch_group(self, group: dict[str, Any]) -> None:
        infos = group.get("tasks", [])
        ids = [t["task_id"]["value"] for t in infos]
        parent = self.driver.container_id
        if parent is None:
            log.error("No container id from SUBSCRIBED: cannot launch nested containers")
            return
        tasks = [Task(info, {"value": str_uuid(), "parent": parent}, ids)
                 for info in infos]
        for task in tasks:
            self.tasks[task.id] = task
            self.driver.update({"task_id": task.info["task_id"], "state": "TASK_STARTING"})
        for task in tasks:
            call: dict[str, Any] = {"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
                "container_id": task.container_id,
                "command": task.info.get("command", {"value": "true"})}}
            if task.info.get("container"):
                call["launch_nested_container"]["container"] = task.info["container"]
            try:
                self.driver.agent_call(call)
            except (AgentError, OSError) as error:
                log.error("Failed to launch task %s: %s", task.id, error)
                self._terminal(task, "TASK_FAILED", f"Failed to launch the task: {error}",
                               "REASON_CONTAINER_LAUNCH_FAILED")
                self._kill_group(task, None)
                continue
            task.launched = True
            threading.Thread(target=self._wait, args=(task,), daemon=True,
                             name=f"wait-{task.id}").start()
        for task in tasks:
            if task.launched and task.terminal is None:
                self.driver.update({"task_id": task.info["task_id"], "state": "TASK_RUNNING"})
                if task.info.get("health_check") or task.info.get("check"):
                    task.checker = Checker(
                        task.info, self.driver, functools.partial(self._unhealthy, task),
                        lambda: None, run_command=self._nested_command_runner(task))
                    task.checker.start()

    def _wait(self, task: Task) -> None:
        call = {"type": "WAIT_NESTED_CONTAINER",
                "wait_nested_container": {"container_id": task.container_id}}
        while True:
            try:
                reply = self.driver.agent_call(call, timeout=None)
                break
            except (AgentError, OSError) as error:
                # The agent may be restarting: keep asking while we live.
                log.warning("Waiting on task %s failed (%s); retrying", task.id, error)
                time.sleep(1.0)
        result = (reply or {}).get("wait_nested_container", {})
        status = result.get("exit_status")
        if status == signal.SIGKILL and not task.killed and "reason" not in result:
            time.sleep(UNEXPLAINED_KILL_DELAY)
        self.driver.post(lambda: self._exited(task, result))

    def _exited(self, task: Task, result: dict[str, Any]) -> None:
        if task.checker is not None:
            task.checker.stop()
        succeeded, message = exit_description(result.get("exit_status"))
        reason = result.get("reason")
        if result.get("message"):
            message = f"{message}: {result['message']}" if result.get("exit_status") \
                is not None else result["message"]
        if task.killed:
            state = "TASK_KILLED"
        elif result.get("state"):
            state = result["state"]
        else:
            state = "TASK_FINISHED" if succeeded else "TASK_FAILED"
        log.info("Task %s: %s", task.id, message)
        self._terminal(task, state, message, reason)
        if state != "TASK_FINISHED":
            self._kill_group(task, None)

    def _terminal(self, task: Task, state: str, message: str, reason: str | None) -> None:
        if task.terminal is not None:
            return
        task.terminal = state
        status: dict[str, Any] = {"task_id": task.info["task_id"], "state": state,
                                  "message": message}
        if reason:
            status["reason"] = reason
        status["container_status"] = {"container_id": task.container_id}
        task.terminal_uuid = self.driver.update(status)
        self._maybe_exit()

    # ================================================================ kills
    def kill(self, task_id: str, kill_policy: dict[str, Any] | None) -> None:
        task = self.tasks.get(task_id)
        if task is None:
            log.warning("Ignoring kill of unknown task %s", task_id)
            return
        grace = DEFAULT_GRACE
        policy = kill_policy or task.info.get("kill_policy")
        if policy and "grace_period" in policy:
            grace = int(policy["grace_period"].get("nanoseconds", 0)) / 1e9
        for member in [self.tasks[i] for i in task.group if i in self.tasks]:
            self._kill(member, grace)

    def _kill_group(self, task: Task, _reason: str | None) -> None:
        for member in [self.tasks[i] for i in task.group if i in self.tasks]:
            if member is not task:
                self._kill(member, DEFAULT_GRACE)

    def _kill(self, task: Task, grace: float) -> None:
        if task.terminal is not None or task.killed:
            return
        task.killed = True
        if not task.launched:
            self._terminal(task, "TASK_KILLED", "Killed before it was launched", None)
            return
        capabilities = {c.get("type") for c in self.driver.framework_info.get("capabilities", [])}
        if "TASK_KILLING_STATE" in capabilities:
            self.driver.update({"task_id": task.info["task_id"], "state": "TASK_KILLING"})
        self._signal(task, signal.SIGTERM)
        timer = threading.Timer(grace, lambda: self._signal(task, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def _signal(self, task: Task, signum: int) -> None:
        if task.terminal is not None:
            return
        try:
            self.driver.agent_call({"type": "KILL_NESTED_CONTAINER", "kill_nested_container": {
                "container_id": task.container_id, "signal": int(signum)}})
        except (AgentError, OSError) as error:
            log.warning("Failed to signal task %s: %s", task.id, error)

    def _unhealthy(self, task: Task) -> None:
        log.warning("Task %s is unhealthy; killing its group", task.id)
        for member in [self.tasks[i] for i in task.group if i in self.tasks]:
            self._kill(member, DEFAULT_GRACE)

    def _nested_command_runner(self, task: Task) -> Any:
        """Runs a check's command in a nested container of the task's container."""
        def run(command: dict[str, Any], timeout: float) -> int | None:
            check_id = {"value": f"check-{os.urandom(6).hex()}",
                        "parent": task.container_id}
            try:
                self.driver.agent_call({"type": "LAUNCH_NESTED_CONTAINER",
                                        "launch_nested_container": {
                                            "container_id": check_id, "command": command}})
                reply = self.driver.agent_call(
                    {"type": "WAIT_NESTED_CONTAINER",
                     "wait_nested_container": {"container_id": check_id}}, timeout=timeout)
            except (AgentError, OSError):
                try:
                    self.driver.agent_call({"type": "KILL_NESTED_CONTAINER",
                                            "kill_nested_container": {"container_id": check_id}})
                except (AgentError, OSError):
                    pass
                return None
            status = (reply or {}).get("wait_nested_container", {}).get("exit_status")
            return os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) \
                else None

        return run

    # ============================================================== the end
    def acknowledged(self, task_id: str, uuid_b64: str) -> None:
        task = self.tasks.get(task_id)
        if task is not None and uuid_b64 == task.terminal_uuid:
            task.acknowledged = True
            self._maybe_exit()

    def _maybe_exit(self) -> None:
        if self.tasks and all(t.terminal is not None for t in self.tasks.values()):
            if all(t.acknowledged for t in self.tasks.values()):
                log.info("Every task is terminal and acknowledged; exiting")
                self.driver.stop(0)
            else:
                timer = threading.Timer(TERMINAL_ACK_TIMEOUT, lambda: self.driver.post(
                    lambda: self.driver.stop(0)))
                timer.daemon = True
                timer.start()

    def shutdown(self) -> None:
        log.info("Shutting down")
        self.shutting_down = True
        live = [t for t in self.tasks.values() if t.terminal is None]
        if not live:
            self.driver.stop(0)
            return
        for task in live:
            self._kill(task, max(self.driver.shutdown_grace - 1.0, 0.1))

    def disconnected(self) -> None:
        # Nested containers end with this container: nothing to clean up.
        self.driver.stop(1)

    def launch(self, task: dict[str, Any]) -> None:
        self.driver.update({"task_id": task["task_id"], "state": "TASK_FAILED",
                            "message": "The default executor runs task groups only"})

    def error(self, message: str) -> None:
        log.error("Error from the agent: %s", message)


def main() -> None:
    setup_logging("default-executor")
    executor = DefaultExecutor()
    sys.exit(executor.driver.run())


if __name__ == "__main__":
    main()
