"""The runtime every actor of one agent shares: IO loop, clock, reaper, pool.

Passed explicitly to whoever needs it (no module-level singletons). `spawn`
names processes the libprocess way (`slave(1)`, `containerizer(1)`) with
counters kept here, so two runtimes in one test process do not collide.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections import defaultdict
from typing import Any, Iterator, TypeVar

from mesos_py.actors.clock import Clock
from mesos_py.actors.loop import BlockingPool, IOLoopThread
from mesos_py.actors.process import PID, Activity, Process, UPID
from mesos_py.actors.reaper import Reaper
from mesos_py.actors.transport import Transport

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Process)


class Runtime:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, blocking_workers: int = 8) -> None:
        self.host, self.port = host, port
        self.io = IOLoopThread()
        self.clock = Clock()
        self.reaper = Reaper(self.io)
        self.pool = BlockingPool(blocking_workers)
        # libprocess messages to and from other processes (masters, agents).
        self.transport = Transport(self.io)
        self._activity = Activity()
        self._counters: defaultdict[str, Iterator[int]] = defaultdict(lambda: itertools.count(1))
        self._spawned: list[PID[Any]] = []

    def spawn(self, cls: type[A], *args: Any, name: str | None = None, **kwargs: Any) -> PID[A]:
        """Creates and starts `cls(*args, **kwargs)`; its id is `name(N)`."""
        base = name or _default_name(cls)
        upid = UPID(f"{base}({next(self._counters[base])})", self.host, self.port)
        actor = cls(*args, **kwargs)
        pid: PID[A] = PID(upid, actor.actor_ref, self._activity)
        actor._pid = pid
        actor._runtime = self
        # Not registered in pykka's global ActorRegistry: the runtime tracks
        # its own actors, so two runtimes in one process stay independent.
        actor._start_actor_loop()
        self._spawned.append(pid)
        return pid

    def terminate(self, pid: PID[Any], timeout: float = 10.0) -> None:
        pid._stop(timeout)
        if pid in self._spawned:
            self._spawned.remove(pid)

    def settle(self, timeout: float = 10.0) -> None:
        """Waits until no dispatched call is queued or running (tests)."""
        deadline = time.monotonic() + timeout
        # Twice in a row idle: a callback may dispatch right after going idle.
        for _ in range(2):
            if not self._activity.wait_idle(max(deadline - time.monotonic(), 0)):
                raise TimeoutError("Actors did not settle")

    def stop(self) -> None:
        """Stops every spawned actor (newest first), then the threads."""
        for pid in reversed(self._spawned):
            pid._stop(timeout=10)
        self._spawned.clear()
        self.transport.stop()
        self.pool.stop()
        self.clock.stop()
        self.io.stop()


def _default_name(cls: type) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
