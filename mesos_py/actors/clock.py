"""The clock that every timer in mesos_py comes from.

Real time by default. Tests `pause()` it and `advance()` time instead of
sleeping: while paused, timers fire only when `advance()` moves the clock past
their deadline, inline on the advancing thread and in deadline order. Timer
callbacks must be small (complete a promise, dispatch to an actor).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable

from mesos_py.actors.future import Future, Promise

log = logging.getLogger(__name__)


class Timer:
    """A scheduled callback; `cancel()` is safe from any thread, at any time."""

    __slots__ = ("deadline", "_callback", "_cancelled")

    def __init__(self, deadline: float, callback: Callable[[], object]) -> None:
        self.deadline = deadline
        self._callback = callback
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def _fire(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        try:
            self._callback()
        except Exception:
            log.exception("Timer callback raised")


class Clock:
    """Monotonic time plus timers, served by one thread per clock."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._paused_at: float | None = None
        self._offset = 0.0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="clock", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- time
    def now(self) -> float:
        """Seconds on a monotonic scale (frozen while paused)."""
        with self._cond:
            return self._now_locked()

    def _now_locked(self) -> float:
        if self._paused_at is not None:
            return self._paused_at
        return time.monotonic() + self._offset

    # -------------------------------------------------------------- timers
    def timer(self, seconds: float, callback: Callable[[], object]) -> Timer:
        with self._cond:
            timer = Timer(self._now_locked() + max(seconds, 0.0), callback)
            heapq.heappush(self._heap, (timer.deadline, next(self._sequence), timer))
            self._cond.notify()
        return timer

    def after(self, seconds: float) -> Future[None]:
        """A future that becomes ready after `seconds`; discarding it cancels."""
        promise: Promise[None] = Promise()
        timer = self.timer(seconds, lambda: promise.set(None))

        def cancel() -> None:
            timer.cancel()
            promise.discard()

        promise.future.on_discard(cancel)
        return promise.future

    # ------------------------------------------------------------- testing
    def pause(self) -> None:
        with self._cond:
            if self._paused_at is None:
                self._paused_at = time.monotonic() + self._offset

    def paused(self) -> bool:
        with self._cond:
            return self._paused_at is not None

    def resume(self) -> None:
        with self._cond:
            if self._paused_at is not None:
                self._offset = self._paused_at - time.monotonic()
                self._paused_at = None
                self._cond.notify()

    def advance(self, seconds: float) -> None:
        """Moves a paused clock forward and fires every timer now due."""
        with self._cond:
            if self._paused_at is None:
                raise RuntimeError("Clock.advance() needs a paused clock")
            self._paused_at += seconds
        for timer in self._pop_due():
            timer._fire()

    def pending_timers(self) -> int:
        with self._cond:
            return sum(1 for _, _, timer in self._heap if not timer.cancelled)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------ internal
    def _pop_due(self) -> list[Timer]:
        due: list[Timer] = []
        with self._cond:
            now = self._now_locked()
            while self._heap and self._heap[0][0] <= now:
                due.append(heapq.heappop(self._heap)[2])
        return due

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                self._cond.wait(timeout=self._wait_locked())
                if self._stopped:
                    return
                if self._paused_at is not None:
                    continue
            for timer in self._pop_due():
                timer._fire()

    def _wait_locked(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        if self._paused_at is not None or not self._heap:
            return None
        return max(self._heap[0][0] - self._now_locked(), 0.0)
