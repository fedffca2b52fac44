"""Bounded waits on futures, for tests and `main()` only (never in actors)."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from mesos_py.actors.future import Future

T = TypeVar("T")


def await_completion(future: Future[Any], timeout: float = 10.0) -> None:
    done = threading.Event()
    future.on_any(lambda _: done.set())
    if not done.wait(timeout):
        raise TimeoutError(f"Future still pending after {timeout}s")


def await_ready(future: Future[T], timeout: float = 10.0) -> T:
    await_completion(future, timeout)
    if not future.is_ready():
        raise AssertionError(f"Expected READY, got {future!r}")
    return future.value()


def await_failed(future: Future[Any], timeout: float = 10.0) -> str:
    await_completion(future, timeout)
    if not future.is_failed():
        raise AssertionError(f"Expected FAILED, got {future!r}")
    return future.failure()


def await_discarded(future: Future[Any], timeout: float = 10.0) -> None:
    await_completion(future, timeout)
    if not future.is_discarded():
        raise AssertionError(f"Expected DISCARDED, got {future!r}")
