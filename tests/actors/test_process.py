import asyncio
import os
import threading

import pytest

from mesos_py.actors import (Failure, Future, Process, Promise, Runtime, UPID, defer, delay,
                             dispatch, to_asyncio)
from mesos_py.actors.testing import await_discarded, await_failed, await_ready


class Counter(Process):
    def __init__(self, start: int = 0) -> None:
        super().__init__()
        self.value = start
        self.threads: set[int] = set()

    def add(self, n: int) -> int:
        self.check_on_actor()
        self.threads.add(threading.get_ident())
        self.value += n
        return self.value

    def fail(self) -> None:
        raise Failure("counter refused")

    def bug(self) -> None:
        raise KeyError("oops")

    def add_later(self, n: int, promise: Promise[int]) -> Future[int]:
        # Continuation must come back onto this actor's thread.
        return promise.future.then(defer(self.pid, lambda extra: self.add(n + extra)))

    def thread_ids(self) -> set[int]:
        return set(self.threads)


@pytest.fixture
def runtime():
    runtime = Runtime()
    yield runtime
    runtime.stop()


def test_upid_format_and_parse():
    upid = UPID("slave(1)", "127.0.0.1", 5051)
    assert str(upid) == "slave(1)@127.0.0.1:5051"
    assert UPID.parse("slave-observer(3)@10.0.0.1:5050") == UPID("slave-observer(3)", "10.0.0.1", 5050)
    with pytest.raises(ValueError):
        UPID.parse("no-address")


def test_spawn_names_processes_like_libprocess(runtime):
    a = runtime.spawn(Counter)
    b = runtime.spawn(Counter)
    s = runtime.spawn(Counter, name="slave")
    assert (a.upid.id, b.upid.id, s.upid.id) == ("counter(1)", "counter(2)", "slave(1)")


def test_dispatch_runs_on_actor_thread_in_order(runtime):
    pid = runtime.spawn(Counter)
    futures = [dispatch(pid, Counter.add, 1) for _ in range(100)]
    assert [await_ready(f) for f in futures] == list(range(1, 101))
    threads = await_ready(dispatch(pid, Counter.thread_ids))
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_failure_is_a_value_and_a_bug_does_not_kill_the_actor(runtime):
    pid = runtime.spawn(Counter, 5)
    assert await_failed(dispatch(pid, Counter.fail)) == "counter refused"
    assert "KeyError" in await_failed(dispatch(pid, Counter.bug))
    assert await_ready(dispatch(pid, Counter.add, 1)) == 6


def test_defer_returns_to_the_actor_thread(runtime):
    pid = runtime.spawn(Counter)
    promise: Promise[int] = Promise()
    result = dispatch(pid, Counter.add_later, 1, promise)
    threading.Thread(target=promise.set, args=(10,)).start()
    assert await_ready(result) == 11
    assert len(await_ready(dispatch(pid, Counter.thread_ids))) == 1


def test_dispatch_to_stopped_actor_fails(runtime):
    pid = runtime.spawn(Counter)
    runtime.terminate(pid)
    assert "not running" in await_failed(dispatch(pid, Counter.add, 1))


def test_delay_uses_the_clock(runtime):
    runtime.clock.pause()
    pid = runtime.spawn(Counter)
    delay(runtime.clock, 30, pid, lambda: None)
    ran = []
    delay(runtime.clock, 30, pid, ran.append, "fired")
    runtime.settle()
    assert ran == []
    runtime.clock.advance(30)
    runtime.settle()
    assert ran == ["fired"]


def test_to_asyncio_does_not_block_the_loop(runtime):
    promise: Promise[str] = Promise()
    ticks = []

    async def main() -> str:
        async def ticker() -> None:
            while True:
                ticks.append(1)
                await asyncio.sleep(0.005)
        task = asyncio.ensure_future(ticker())
        threading.Timer(0.1, promise.set, args=("done",)).start()
        value = await to_asyncio(promise.future)
        task.cancel()
        return value

    assert asyncio.run(main()) == "done"
    assert len(ticks) > 5


def test_to_asyncio_cancel_discards_and_failure_raises(runtime):
    promise: Promise[str] = Promise()

    async def cancel_it() -> None:
        waiter = to_asyncio(promise.future)
        waiter.cancel()
        await asyncio.sleep(0)

    asyncio.run(cancel_it())
    assert promise.future.has_discard()

    async def failing() -> None:
        await to_asyncio(Future.failed("bad request"))

    with pytest.raises(Failure, match="bad request"):
        asyncio.run(failing())


def test_reaper_returns_raw_wait_status_of_child(runtime):
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    assert await_ready(runtime.reaper.reap(pid)) == 3 << 8


def test_reaper_reports_none_for_non_child(runtime):
    # The grandchild's parent stays alive and reaps it: it is never ours to wait on.
    go_r, go_w = os.pipe()
    pid_r, pid_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        grandchild = os.fork()
        if grandchild == 0:
            os.read(go_r, 1)
            os._exit(0)
        os.write(pid_w, str(grandchild).encode().rjust(10))
        os.waitpid(grandchild, 0)
        os._exit(0)
    grandchild = int(os.read(pid_r, 10))
    watched = runtime.reaper.reap(grandchild)
    assert watched.is_pending()
    os.write(go_w, b"x")
    assert await_ready(watched) is None
    os.waitpid(pid, 0)
    for fd in (go_r, go_w, pid_r, pid_w):
        os.close(fd)


def test_reaper_discard_stops_watching(runtime):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.read(r, 1)
        os._exit(0)
    watched = runtime.reaper.reap(pid)
    watched.discard()
    await_discarded(watched)
    os.write(w, b"x")
    os.waitpid(pid, 0)
    os.close(r)
    os.close(w)


def test_blocking_pool_answers_with_futures(runtime):
    assert await_ready(runtime.pool.run(sum, [1, 2, 3])) == 6
    assert "ValueError" in await_failed(runtime.pool.run(int, "x"))


class Base(Process):
    def describe(self) -> str:
        return "base"


class Derived(Base):
    def describe(self) -> str:
        return "derived"


def test_dispatch_of_a_base_method_runs_the_override(runtime):
    pid = runtime.spawn(Derived)
    assert await_ready(dispatch(pid, Base.describe)) == "derived"
    assert await_ready(dispatch(pid, lambda actor: type(actor).__name__)) == "Derived"
