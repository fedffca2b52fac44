"""Combinators over many futures: one lock and callbacks, no helper actor."""

from __future__ import annotations

import threading
from typing import Any, Sequence, TypeVar

from mesos_py.actors.future import Future, Promise

T = TypeVar("T")


def collect(futures: Sequence[Future[T]]) -> Future[list[T]]:
    """Ready with every value, in order, once all are ready.

    The first failure (or discard) of an input completes the result the same
    way and discards the other inputs; discarding the result discards them all.
    """
    promise: Promise[list[T]] = Promise()
    if not futures:
        promise.set([])
        return promise.future
    lock = threading.Lock()
    remaining = [len(futures)]

    def discard_inputs() -> None:
        for future in futures:
            future.discard()

    def on_any(future: Future[T]) -> None:
        if future.is_ready():
            with lock:
                remaining[0] -= 1
                done = remaining[0] == 0
            if done:
                promise.set([f.value() for f in futures])
            return
        completed = (promise.fail(future.as_failure()) if future.is_failed()
                     else promise.discard())
        if completed:
            discard_inputs()

    promise.future.on_discard(discard_inputs)
    for future in futures:
        future.on_any(on_any)
    return promise.future


def await_all(futures: Sequence[Future[Any]]) -> Future[list[Future[Any]]]:
    """Ready with the inputs themselves once every one has completed (any way).

    libprocess's `await()`: used where partial results matter (usage, cleanup).
    """
    promise: Promise[list[Future[Any]]] = Promise()
    if not futures:
        promise.set([])
        return promise.future
    lock = threading.Lock()
    remaining = [len(futures)]

    def on_any(_: Future[Any]) -> None:
        with lock:
            remaining[0] -= 1
            done = remaining[0] == 0
        if done:
            promise.set(list(futures))

    promise.future.on_discard(lambda: [future.discard() for future in futures])
    for future in futures:
        future.on_any(on_any)
    return promise.future


def settled(future: Future[Any] | None) -> Future[None]:
    """Ready once `future` has completed, whatever the outcome (None: at once)."""
    if future is None:
        return Future.ready(None)
    return future.then(lambda _: None).recover(lambda _: None)
