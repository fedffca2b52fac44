"""Futures and promises with libprocess semantics.

A `Future` is completed exactly once: ready (with a value), failed (with a
message) or discarded. Callbacks run inline on the thread that completes the
future, or immediately on the registering thread when it is already complete;
the only way back onto an actor is `defer(pid, f)`.

`discard()` is a request, not a completion: the producer may honour it (by
watching `on_discard`) or ignore it. `has_discard()` says it was asked,
`is_discarded()` says it happened.

A callback that raises never propagates into the completing thread: the error
is logged, and in `then`/`repair`/`recover` it fails the derived future.
"""

from __future__ import annotations

import enum
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar, Union, cast, overload

if TYPE_CHECKING:
    from mesos_py.actors.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")


class Failure(Exception):
    """A failure value: says what failed and at which stage.

    Raised inside a `then` continuation or an actor method, it fails the
    resulting future with `str(failure)` as the message.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class _State(enum.Enum):
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"
    DISCARDED = "DISCARDED"


Callback = Callable[["Future[Any]"], None]


class Future(Generic[T]):
    """The consumer side of an asynchronous result."""

    __slots__ = ("_lock", "_state", "_value", "_failure", "_failure_type",
                 "_discard_requested", "_callbacks", "_discard_callbacks")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State.PENDING
        self._value: Any = None
        self._failure: str = ""
        self._failure_type: type[Failure] = Failure
        self._discard_requested = False
        self._callbacks: list[Callback] = []
        self._discard_callbacks: list[Callable[[], None]] = []

    # ----------------------------------------------------------- factories
    @staticmethod
    def ready(value: U) -> "Future[U]":
        future: Future[U] = Future()
        future._complete(_State.READY, value=value)
        return future

    @staticmethod
    def failed(message: str | Failure) -> "Future[Any]":
        future: Future[Any] = Future()
        future._fail(message)
        return future

    @staticmethod
    def discarded() -> "Future[Any]":
        future: Future[Any] = Future()
        future._complete(_State.DISCARDED)
        return future

    # ------------------------------------------------------------- queries
    def is_pending(self) -> bool:
        return self._state is _State.PENDING

    def is_ready(self) -> bool:
        return self._state is _State.READY

    def is_failed(self) -> bool:
        return self._state is _State.FAILED

    def is_discarded(self) -> bool:
        return self._state is _State.DISCARDED

    def has_discard(self) -> bool:
        return self._discard_requested

    def value(self) -> T:
        if self._state is not _State.READY:
            raise RuntimeError(f"Future is {self._state.value}, not READY")
        return cast(T, self._value)

    def failure(self) -> str:
        if self._state is not _State.FAILED:
            raise RuntimeError(f"Future is {self._state.value}, not FAILED")
        return self._failure

    def failure_type(self) -> type[Failure]:
        """The `Failure` subclass this future failed with (for status mapping)."""
        if self._state is not _State.FAILED:
            raise RuntimeError(f"Future is {self._state.value}, not FAILED")
        return self._failure_type

    def as_failure(self) -> Failure:
        """The failure as an exception of its original type."""
        return self.failure_type()(self.failure())

    def __repr__(self) -> str:
        if self._state is _State.READY:
            return f"Future(READY: {self._value!r})"
        if self._state is _State.FAILED:
            return f"Future(FAILED: {self._failure})"
        return f"Future({self._state.value})"

    # ----------------------------------------------------------- callbacks
    def on_any(self, callback: Callable[["Future[T]"], Any]) -> "Future[T]":
        with self._lock:
            if self._state is _State.PENDING:
                self._callbacks.append(callback)
                return self
        _run_callback(callback, self)
        return self

    def on_ready(self, callback: Callable[[T], Any]) -> "Future[T]":
        return self.on_any(lambda f: callback(f._value) if f.is_ready() else None)

    def on_failed(self, callback: Callable[[str], Any]) -> "Future[T]":
        return self.on_any(lambda f: callback(f._failure) if f.is_failed() else None)

    def on_discarded(self, callback: Callable[[], Any]) -> "Future[T]":
        return self.on_any(lambda f: callback() if f.is_discarded() else None)

    def on_discard(self, callback: Callable[[], Any]) -> "Future[T]":
        """Runs `callback` when a discard is requested (producer side)."""
        with self._lock:
            if not self._discard_requested:
                if self._state is _State.PENDING:
                    self._discard_callbacks.append(callback)
                return self
        _run_discard_callback(callback)
        return self

    # ----------------------------------------------------------- discard
    def discard(self) -> bool:
        """Requests that the producer stop; returns False if already complete."""
        with self._lock:
            if self._state is not _State.PENDING or self._discard_requested:
                return False
            self._discard_requested = True
            callbacks, self._discard_callbacks = self._discard_callbacks, []
        for callback in callbacks:
            _run_discard_callback(callback)
        return True

    # -------------------------------------------------------- composition
    @overload
    def then(self, f: Callable[[T], "Future[U]"]) -> "Future[U]": ...

    @overload
    def then(self, f: Callable[[T], U]) -> "Future[U]": ...

    def then(self, f: Callable[[T], Any]) -> "Future[Any]":
        """Continues with `f(value)` when ready; failure and discard propagate.

        If `f` returns a Future it is associated (never nested); a raised
        `Failure` fails the result.
        """
        promise: Promise[Any] = Promise()

        def on_complete(future: Future[T]) -> None:
            if future.is_ready():
                _run_continuation(promise, lambda: f(future._value))
            else:
                _propagate(future, promise)

        _link_discard(promise.future, self)
        self.on_any(on_complete)
        return promise.future

    def repair(self, f: Callable[["Future[T]"], Union[T, "Future[T]"]]) -> "Future[T]":
        """On failure only, replaces the result with `f(self)`."""
        return self._replace_when(lambda future: future.is_failed(), f)

    def recover(self, f: Callable[["Future[T]"], Union[T, "Future[T]"]]) -> "Future[T]":
        """On failure or discard, replaces the result with `f(self)`."""
        return self._replace_when(lambda future: future.is_failed() or future.is_discarded(), f)

    def _replace_when(self, condition: Callable[["Future[T]"], bool],
                      f: Callable[["Future[T]"], Union[T, "Future[T]"]]) -> "Future[T]":
        promise: Promise[T] = Promise()

        def on_complete(future: Future[T]) -> None:
            if condition(future):
                _run_continuation(promise, lambda: f(future))
            else:
                _propagate(future, promise)

        _link_discard(promise.future, self)
        self.on_any(on_complete)
        return promise.future

    def after(self, seconds: float, f: Callable[["Future[T]"], Union[T, "Future[T]"]],
              *, clock: "Clock") -> "Future[T]":
        """If still pending after `seconds`, completes with `f(self)` instead.

        `f` usually discards `self` and returns a failure ("timed out").
        """
        promise: Promise[T] = Promise()
        timer = clock.timer(seconds, lambda: _run_continuation(promise, lambda: f(self))
                            if self.is_pending() else None)

        def on_complete(future: Future[T]) -> None:
            timer.cancel()
            _propagate(future, promise)

        _link_discard(promise.future, self)
        self.on_any(on_complete)
        return promise.future

    # ------------------------------------------------------------ internal
    def _complete(self, state: _State, value: Any = None, failure: str = "",
                  failure_type: type[Failure] = Failure) -> bool:
        with self._lock:
            if self._state is not _State.PENDING:
                return False
            self._state, self._value = state, value
            self._failure, self._failure_type = failure, failure_type
            callbacks, self._callbacks = self._callbacks, []
            self._discard_callbacks = []
        for callback in callbacks:
            _run_callback(callback, self)
        return True

    def _fail(self, failure: str | Failure) -> bool:
        if isinstance(failure, Failure):
            return self._complete(_State.FAILED, failure=failure.message,
                                  failure_type=type(failure))
        return self._complete(_State.FAILED, failure=failure)


class Promise(Generic[T]):
    """The producer side: completes its `future` exactly once."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: Future[T] = Future()

    def set(self, value: T) -> bool:
        return self.future._complete(_State.READY, value=value)

    def fail(self, failure: str | Failure) -> bool:
        return self.future._fail(failure)

    def discard(self) -> bool:
        """Completes the future as discarded."""
        return self.future._complete(_State.DISCARDED)

    def associate(self, other: "Future[T]") -> bool:
        """Completes with whatever `other` completes with.

        A discard requested on our future is passed on to `other`.
        """
        if not self.future.is_pending():
            return False
        _link_discard(self.future, other)
        other.on_any(lambda f: _propagate(f, self))
        return True


def _propagate(source: Future[Any], promise: Promise[Any]) -> None:
    if source.is_ready():
        promise.set(source._value)
    elif source.is_failed():
        promise.future._complete(_State.FAILED, failure=source._failure,
                                 failure_type=source._failure_type)
    elif source.is_discarded():
        promise.discard()


def _link_discard(derived: Future[Any], source: Future[Any]) -> None:
    derived.on_discard(source.discard)


def _run_continuation(promise: Promise[Any], thunk: Callable[[], Any]) -> None:
    try:
        result = thunk()
    except Failure as failure:
        promise.fail(failure)
        return
    except Exception as error:  # a bug in a continuation must not escape
        log.exception("Continuation raised %s", type(error).__name__)
        promise.fail(f"{type(error).__name__}: {error}")
        return
    if isinstance(result, Future):
        promise.associate(result)
    else:
        promise.set(result)


def _run_callback(callback: Callback, future: Future[Any]) -> None:
    try:
        callback(future)
    except Exception:
        log.exception("Future callback raised")


def _run_discard_callback(callback: Callable[[], Any]) -> None:
    try:
        callback()
    except Exception:
        log.exception("Discard callback raised")


def undiscardable(future: Future[T]) -> Future[T]:
    """A view of `future` whose discard does not reach `future`.

    Used where many callers share one result (e.g. a container's
    termination): one caller giving up must not cancel it for the others.
    """
    promise: Promise[T] = Promise()
    future.on_any(lambda f: _propagate(f, promise))
    return promise.future
