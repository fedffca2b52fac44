"""Processes (actors) on pykka, addressed by libprocess-style UPIDs.

A `Process` is a pykka `ThreadingActor` whose mailbox only carries dispatched
calls. `dispatch(pid, method, *args)` runs `method(actor, *args)` on the
actor's thread and returns a `Future` of its result; `defer(pid, f)` makes a
callable that does the same from any thread. An exception raised by a method
never kills the actor: it fails that call's future and is logged.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Concatenate, Generic, ParamSpec, TypeVar, overload

import pykka

from mesos_py.actors.future import Failure, Future, Promise

if TYPE_CHECKING:
    from mesos_py.actors.clock import Clock, Timer
    from mesos_py.actors.runtime import Runtime

log = logging.getLogger(__name__)

A = TypeVar("A", bound="Process")
R = TypeVar("R")
P = ParamSpec("P")


@dataclasses.dataclass(frozen=True)
class UPID:
    """`id@host:port`, e.g. `slave(1)@127.0.0.1:5051`."""

    id: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.id}@{self.host}:{self.port}"

    @staticmethod
    def parse(text: str) -> "UPID":
        id_, sep, address = text.partition("@")
        host, colon, port = address.rpartition(":")
        if not (id_ and sep and host and colon and port.isdigit()):
            raise ValueError(f"Malformed UPID '{text}'")
        return UPID(id_, host, int(port))


class Activity:
    """Counts dispatched calls not yet finished, so tests can settle."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending = 0

    def begin(self) -> None:
        with self._cond:
            self._pending += 1

    def end(self) -> None:
        with self._cond:
            self._pending -= 1
            if self._pending == 0:
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)


class PID(Generic[A]):
    """A typed handle on a running Process: the only thing others hold."""

    __slots__ = ("upid", "_ref", "_activity")

    def __init__(self, upid: UPID, ref: "pykka.ActorRef[A]", activity: Activity) -> None:
        self.upid = upid
        self._ref = ref
        self._activity = activity

    def __repr__(self) -> str:
        return str(self.upid)

    def __hash__(self) -> int:
        return hash(self.upid)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PID) and other.upid == self.upid

    def is_alive(self) -> bool:
        return self._ref.is_alive()

    def _tell(self, message: "_Dispatch") -> bool:
        self._activity.begin()
        try:
            self._ref.tell(message)
        except pykka.ActorDeadError:
            self._activity.end()
            return False
        return True

    def _stop(self, timeout: float) -> None:
        try:
            self._ref.stop(block=True, timeout=timeout)
        except pykka.Timeout:
            log.error("%s did not stop within %.1fs", self, timeout)


@dataclasses.dataclass
class _Dispatch:
    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    promise: Promise[Any]


class Process(pykka.ThreadingActor):
    """Base of every actor. Subclasses get `self.pid` once spawned.

    `initialize()` runs on the actor's thread before any dispatched call;
    `finalize()` runs on it when the actor stops.
    """

    use_daemon_thread = True

    def __init__(self) -> None:
        super().__init__()
        self._pid: PID[Any] | None = None
        self._runtime: Runtime | None = None
        self._thread_id: int | None = None

    @property
    def pid(self) -> "PID[Any]":
        if self._pid is None:
            raise RuntimeError(f"{type(self).__name__} has not been spawned")
        return self._pid

    @property
    def runtime(self) -> "Runtime":
        """The clock, reaper, IO loop and blocking pool this actor was spawned with."""
        if self._runtime is None:
            raise RuntimeError(f"{type(self).__name__} has not been spawned")
        return self._runtime

    def initialize(self) -> None:
        """Hook: runs first, on the actor's own thread."""

    def finalize(self) -> None:
        """Hook: runs last, on the actor's own thread."""

    def check_on_actor(self) -> None:
        """Asserts the caller runs on this actor's thread (actor state guard)."""
        if threading.get_ident() != self._thread_id:
            raise RuntimeError(f"{self.pid} state touched from a foreign thread")

    # pykka hooks --------------------------------------------------------
    def on_start(self) -> None:
        self._thread_id = threading.get_ident()
        self.initialize()

    def on_stop(self) -> None:
        self.finalize()

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, _Dispatch):
            log.error("%s dropped an unexpected message %r", self._pid, message)
            return None
        try:
            self._run(message)
        finally:
            self.pid._activity.end()
        return None

    def _run(self, message: _Dispatch) -> None:
        try:
            function = _virtual(type(self), message.function)
            result = function(self, *message.args, **message.kwargs)
        except Failure as failure:
            message.promise.fail(failure)
            return
        except Exception as error:
            log.exception("%s: %s raised", self._pid,
                          getattr(message.function, "__qualname__", message.function))
            message.promise.fail(f"{type(error).__name__}: {error}")
            return
        if isinstance(result, Future):
            message.promise.associate(result)
        else:
            message.promise.set(result)


def _virtual(cls: type, function: Callable[..., Any]) -> Callable[..., Any]:
    """The override of `function` in `cls`, if `function` is one of its methods.

    `dispatch(pid, Isolator.usage, ...)` must run the subclass's `usage`, as a
    C++ virtual method would.
    """
    name = getattr(function, "__name__", "")
    override = getattr(cls, name, None)
    if override is None or override is function:
        return function
    if any(vars(base).get(name) is function for base in cls.__mro__):
        return override  # type: ignore[no-any-return]
    return function


@overload
def dispatch(pid: PID[A], method: Callable[Concatenate[A, P], Future[R]],
             *args: P.args, **kwargs: P.kwargs) -> Future[R]: ...


@overload
def dispatch(pid: PID[A], method: Callable[Concatenate[A, P], R],
             *args: P.args, **kwargs: P.kwargs) -> Future[R]: ...


def dispatch(pid: PID[A], method: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
    """Runs `method(actor, *args, **kwargs)` in the actor's mailbox.

    A method may return a value, a `Future` (associated, never nested) or
    raise `Failure`.
    """
    promise: Promise[Any] = Promise()
    if not pid._tell(_Dispatch(method, args, kwargs, promise)):
        promise.fail(f"{pid} is not running")
    return promise.future


@overload
def defer(pid: PID[Any], f: Callable[..., Future[R]]) -> Callable[..., Future[R]]: ...


@overload
def defer(pid: PID[Any], f: Callable[..., R]) -> Callable[..., Future[R]]: ...


def defer(pid: PID[Any], f: Callable[..., Any]) -> Callable[..., Future[Any]]:
    """A callable that, from any thread, runs `f(*args)` in `pid`'s mailbox."""

    def deferred(*args: Any, **kwargs: Any) -> Future[Any]:
        promise: Promise[Any] = Promise()
        call = _Dispatch(lambda _actor, *a, **k: f(*a, **k), args, kwargs, promise)
        if not pid._tell(call):
            promise.fail(f"{pid} is not running")
        return promise.future

    return deferred


def delay(clock: "Clock", seconds: float, pid: PID[Any],
          f: Callable[..., object], *args: Any) -> "Timer":
    """Runs `f(*args)` in `pid`'s mailbox after `seconds` on `clock`."""
    return clock.timer(seconds, lambda: defer(pid, f)(*args))
