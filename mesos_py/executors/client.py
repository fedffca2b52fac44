"""The executor's end of the v1 executor HTTP API, for the built-in executors.

Executors are separate programs, started by the agent in their container,
so this module uses only the standard library (each executor start pays for
every import). Messages are the JSON forms of mesos.v1.executor.Call/Event
(bytes fields in base64), exactly what the agent's `/api/v1/executor` takes.

`ExecutorDriver` subscribes (reading the RecordIO event stream on a thread),
sends UPDATE and MESSAGE calls, and remembers every update and task the
agent has not acknowledged yet: they go with the next SUBSCRIBE after a
disconnection. A checkpointing framework's executor re-subscribes with a
backoff for up to MESOS_RECOVERY_TIMEOUT (the agent may be restarting);
otherwise a lost connection ends the executor, as in Mesos.

Events are handled one at a time on the main thread (`run`), together with
whatever the executor posts itself (`post`): no locking in executors.
"""

from __future__ import annotations

import binascii
import json
import os
import queue
import threading
import time
from typing import Any, Callable

from mesos_py.executors.http import Connection, log

API = "/api/v1/executor"
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "secs": 1.0, "mins": 60.0,
                  "hrs": 3600.0, "days": 86400.0, "weeks": 604800.0}


def parse_duration(text: str, default: float) -> float:
    """stout's `15secs`, `1mins`; `default` for anything else."""
    text = (text or "").strip()
    for unit in sorted(DURATION_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * DURATION_UNITS[unit]
            except ValueError:
                break
    return default


def setup_logging(name: str) -> None:
    """Log lines go to stderr (the sandbox's `stderr`), glog-like."""
    log.name = name


class Handler:
    """What an executor does with events; every method runs on the main thread."""

    def subscribed(self, info: dict[str, Any]) -> None: ...

    def launch(self, task: dict[str, Any]) -> None: ...

    def launch_group(self, group: dict[str, Any]) -> None: ...

    def kill(self, task_id: str, kill_policy: dict[str, Any] | None) -> None: ...

    def acknowledged(self, task_id: str, uuid_b64: str) -> None: ...

    def message(self, data: bytes) -> None: ...

    def shutdown(self) -> None: ...

    def error(self, message: str) -> None: ...

    def disconnected(self) -> None: ...


class ExecutorDriver:
    def __init__(self, handler: Handler, environ: dict[str, str] | None = None) -> None:
        env = dict(os.environ if environ is None else environ)
        self.handler = handler
        host, _, port = env["MESOS_AGENT_ENDPOINT"].rpartition(":")
        self.agent = (host, int(port))
        self.framework_id = env["MESOS_FRAMEWORK_ID"]
        self.executor_id = env["MESOS_EXECUTOR_ID"]
        self.sandbox = env.get("MESOS_SANDBOX") or env.get("MESOS_DIRECTORY") or os.getcwd()
        self.checkpoint = env.get("MESOS_CHECKPOINT") == "1"
        self.recovery_timeout = parse_duration(env.get("MESOS_RECOVERY_TIMEOUT", ""), 900.0)
        self.backoff_max = parse_duration(env.get("MESOS_SUBSCRIPTION_BACKOFF_MAX", ""), 2.0)
        self.shutdown_grace = parse_duration(
            env.get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", ""), 5.0)
        self.unacked_updates: dict[str, dict[str, Any]] = {}  # uuid (base64) -> status
        self.unacked_tasks: dict[str, dict[str, Any]] = {}  # task id -> TaskInfo
        self.container_id: dict[str, Any] | None = None
        self.framework_info: dict[str, Any] = {}
        self.executor_info: dict[str, Any] = {}
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._connection: Connection | None = None
        self._send_lock = threading.Lock()
        self._stopping = False
        self._subscribed = False
        self._lock = threading.Lock()  # the unacknowledged maps, read by the subscriber
        self.exit_code = 0

    # ================================================================ loop
    def run(self) -> int:
        """Subscribes, then handles events until `stop()`; the exit code."""
        self._subscribe_in_background(first=True)
        while not self._stopping:
            kind, payload = self._inbox.get()
            if kind == "call":
                payload()
            elif kind == "event":
                self._dispatch(payload)
            elif kind == "lost":
                self._lost(payload)
        return self.exit_code

    def post(self, action: Callable[[], None]) -> None:
        """Runs `action` on the main thread (from any thread)."""
        self._inbox.put(("call", action))

    def stop(self, code: int = 0) -> None:
        self.exit_code = code
        self._stopping = True
        self._inbox.put(("call", lambda: None))

    # ======================================================== subscription
    def _subscribe_call(self) -> dict[str, Any]:
        with self._lock:
            tasks = list(self.unacked_tasks.values())
            updates = [{"status": s} for s in self.unacked_updates.values()]
        return {"type": "SUBSCRIBE", "framework_id": {"value": self.framework_id},
                "executor_id": {"value": self.executor_id},
                "subscribe": {"unacknowledged_tasks": tasks,
                              "unacknowledged_updates": updates}}

    def _subscribe_in_background(self, first: bool) -> None:
        threading.Thread(target=self._stream, daemon=True, name="subscription").start()

    def _stream(self) -> None:
        """Subscribes, reads events; re-subscribes while that is allowed."""
        deadline = time.monotonic() + self.recovery_timeout
        backoff = 0.05
        subscribed = False
        while True:
            try:
                self._read_events(self._subscribe_call(), lambda: None)
                reason = "the agent closed the event stream"
                subscribed = True
            except _Refused as error:
                if error.status < 500:
                    self._inbox.put(("lost", f"subscription refused: {error}"))
                    return
                reason = str(error)
            except (OSError, ValueError) as error:
                reason = f"{type(error).__name__}: {error}"
            if self._subscribed:
                subscribed = True
                self._subscribed = False
                self._inbox.put(("event", {"type": "_DISCONNECTED"}))
                deadline = time.monotonic() + self.recovery_timeout
            # Only a checkpointing framework's executor outlives its agent.
            if (subscribed and not self.checkpoint) or time.monotonic() > deadline or \
                    self._stopping:
                self._inbox.put(("lost", reason))
                return
            time.sleep(backoff)
            # Half the agent's re-registration timeout at most: a restarted
            # agent must see us back before it gives up on us.
            backoff = min(backoff * 2, max(self.backoff_max / 2, 0.05))

    def _read_events(self, call: dict[str, Any], on_open: Callable[[], None]) -> None:
        # No timeout: a busy agent may take long to answer; a dead one closes
        # the connection (or refuses it).
        connection = Connection(*self.agent, timeout=None)
        try:
            response = connection.request("POST", API, json.dumps(call).encode(), {
                "Content-Type": "application/json", "Accept": "application/json"})
            if response.status != 200:
                raise _Refused(response.status, response.read().decode(errors="replace"))
            self._subscribed = True
            on_open()
            buffer = b""
            while True:
                chunk = response.read1()
                if not chunk:
                    return
                buffer += chunk
                while True:
                    newline = buffer.find(b"\n")
                    if newline < 0:
                        break
                    length = int(buffer[:newline])
                    if len(buffer) < newline + 1 + length:
                        break
                    record = buffer[newline + 1: newline + 1 + length]
                    buffer = buffer[newline + 1 + length:]
                    self._inbox.put(("event", json.loads(record)))
        finally:
            connection.close()

    def _lost(self, reason: str) -> None:
        log.error("Lost the agent: %s", reason)
        self.handler.disconnected()

    # ============================================================== events
    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "_DISCONNECTED":
            log.warning("Disconnected from the agent; re-subscribing")
            return
        if kind == "SUBSCRIBED":
            info = event["subscribed"]
            self.framework_info = info.get("framework_info", {})
            self.executor_info = info.get("executor_info", {})
            self.container_id = info.get("container_id")
            log.info("Subscribed to agent %s", info.get("agent_info", {}).get("id", {}))
            self.handler.subscribed(info)
        elif kind == "LAUNCH":
            task = event["launch"]["task"]
            with self._lock:
                self.unacked_tasks[task["task_id"]["value"]] = task
            self.handler.launch(task)
        elif kind == "LAUNCH_GROUP":
            group = event["launch_group"]["task_group"]
            with self._lock:
                for task in group.get("tasks", []):
                    self.unacked_tasks[task["task_id"]["value"]] = task
            self.handler.launch_group(group)
        elif kind == "KILL":
            kill = event["kill"]
            self.handler.kill(kill["task_id"]["value"], kill.get("kill_policy"))
        elif kind == "ACKNOWLEDGED":
            acked = event["acknowledged"]
            task_id = acked["task_id"]["value"]
            with self._lock:
                self.unacked_updates.pop(acked["uuid"], None)
                self.unacked_tasks.pop(task_id, None)
            self.handler.acknowledged(task_id, acked["uuid"])
        elif kind == "MESSAGE":
            self.handler.message(binascii.a2b_base64(event["message"]["data"]))
        elif kind == "SHUTDOWN":
            self.handler.shutdown()
        elif kind == "ERROR":
            self.handler.error(event["error"]["message"])

    # =============================================================== calls
    def update(self, status: dict[str, Any]) -> str:
        """Sends a TaskStatus (uuid, timestamp and source are filled in)."""
        status = dict(status)
        status.setdefault("uuid", b64(new_uuid()))
        status.setdefault("timestamp", time.time())
        status["source"] = "SOURCE_EXECUTOR"
        status["executor_id"] = {"value": self.executor_id}
        with self._lock:
            self.unacked_updates[status["uuid"]] = status
        log.info("Sending %s for task %s", status.get("state"), status["task_id"]["value"])
        self._call({"type": "UPDATE", "update": {"status": status}})
        return str(status["uuid"])

    def send_message(self, data: bytes) -> None:
        self._call({"type": "MESSAGE", "message": {"data": b64(data)}})

    def _call(self, call: dict[str, Any]) -> bool:
        """POSTs one call; False if the agent could not be reached (updates are
        kept and resent with the next subscription)."""
        call = dict(call, framework_id={"value": self.framework_id},
                    executor_id={"value": self.executor_id})
        body = json.dumps(call).encode()
        with self._send_lock:
            for attempt in range(2):
                try:
                    if self._connection is None:
                        self._connection = Connection(*self.agent, timeout=None)
                    response = self._connection.request("POST", API, body, {
                        "Content-Type": "application/json"})
                    text = response.read()
                    if response.status != 202:
                        log.error("The agent refused %s: %d %s", call["type"], response.status,
                                  text.decode(errors="replace"))
                    return response.status == 202
                except (OSError, ValueError) as error:
                    if self._connection is not None:
                        self._connection.close()
                    self._connection = None
                    if attempt == 1:
                        log.warning("Could not send %s to the agent: %s", call["type"], error)
        return False

    # ======================================================= agent API
    def agent_call(self, call: dict[str, Any], timeout: float | None = 30.0) -> Any:
        """A call to the agent's operator API (`/api/v1`), for nested containers."""
        connection = Connection(*self.agent, timeout=timeout)
        try:
            response = connection.request("POST", "/api/v1", json.dumps(call).encode(), {
                "Content-Type": "application/json", "Accept": "application/json"})
            body = response.read()
            if response.status not in (200, 202):
                raise _Refused(response.status, body.decode(errors="replace"))
            return json.loads(body) if body else None
        finally:
            connection.close()


class _Refused(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


AgentError = _Refused


def b64(data: bytes) -> str:
    """Base64 as Mesos's JSON writes bytes (without `base64`'s import cost)."""
    return binascii.b2a_base64(data, newline=False).decode()


def new_uuid() -> bytes:
    """16 random bytes as a version 4 UUID (without importing `uuid`)."""
    data = bytearray(os.urandom(16))
    data[6] = (data[6] & 0x0F) | 0x40
    data[8] = (data[8] & 0x3F) | 0x80
    return bytes(data)
