"""The IO loop thread (tornado/asyncio) and the bridge from our futures to it.

HTTP handlers, the reaper and socket readers share this one thread. Blocking
work (rmtree, du, large reads) goes to a bounded pool through `run_blocking`,
which answers with a `Future` like any actor call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any, Callable, TypeVar

from mesos_py.actors.future import Failure, Future, Promise

log = logging.getLogger(__name__)

T = TypeVar("T")


class IOLoopThread:
    """An asyncio event loop running on its own daemon thread."""

    def __init__(self, name: str = "io-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Runs `callback(*args)` on the loop thread; safe from any thread."""
        self.loop.call_soon_threadsafe(callback, *args)

    def on_loop(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


class Abandoned(Failure):
    """Raised by `to_asyncio` when the awaited future was discarded."""


def to_asyncio(future: Future[T]) -> "asyncio.Future[T]":
    """An asyncio future on the running loop that mirrors `future`.

    Cancelling the asyncio future (a closed HTTP connection) discards ours. If
    ours ends up discarded, the asyncio future raises `Abandoned`.
    """
    loop = asyncio.get_running_loop()
    out: asyncio.Future[T] = loop.create_future()

    def settle(source: Future[T]) -> None:
        if out.done():
            return
        if source.is_ready():
            out.set_result(source.value())
        elif source.is_failed():
            out.set_exception(source.as_failure())
        else:
            out.set_exception(Abandoned("The operation was abandoned (discarded)"))

    def on_any(source: Future[T]) -> None:
        if loop.is_closed():
            return
        loop.call_soon_threadsafe(settle, source)

    future.on_any(on_any)
    out.add_done_callback(lambda o: future.discard() if o.cancelled() else None)
    return out


class BlockingPool:
    """A bounded thread pool for blocking calls; each call is a `Future`."""

    def __init__(self, workers: int = 8) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="blocking")

    def run(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        promise: Promise[T] = Promise()

        def call() -> None:
            if promise.future.has_discard():
                promise.discard()
                return
            try:
                promise.set(fn(*args))
            except Failure as failure:
                promise.fail(failure)
            except Exception as error:
                promise.fail(f"{type(error).__name__}: {error}")

        try:
            self._executor.submit(call)
        except RuntimeError:
            promise.fail("Blocking pool is shut down")
        return promise.future

    def stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
