import threading

import pytest

from mesos_py.actors import Clock, Failure, Future, Promise, await_all, collect, undiscardable
from mesos_py.actors.testing import await_ready


class NotFound(Failure):
    pass


def test_promise_completes_once():
    promise: Promise[int] = Promise()
    assert promise.future.is_pending()
    assert promise.set(1)
    assert not promise.set(2)
    assert not promise.fail("late")
    assert promise.future.value() == 1


def test_value_of_pending_future_raises():
    with pytest.raises(RuntimeError):
        Promise().future.value()


def test_callbacks_run_inline_on_completing_thread():
    promise: Promise[int] = Promise()
    seen = []
    promise.future.on_ready(lambda v: seen.append((v, threading.get_ident())))
    thread = threading.Thread(target=promise.set, args=(7,))
    thread.start()
    thread.join()
    assert seen == [(7, thread.ident)]


def test_callback_on_completed_future_runs_immediately():
    seen = []
    Future.ready(3).on_any(lambda f: seen.append(f.value()))
    Future.failed("x").on_failed(seen.append)
    Future.discarded().on_discarded(lambda: seen.append("d"))
    assert seen == [3, "x", "d"]


def test_then_chains_and_flattens_futures():
    inner: Promise[str] = Promise()
    outer: Promise[int] = Promise()
    result = outer.future.then(lambda v: inner.future if v == 1 else "no")
    outer.set(1)
    assert result.is_pending()
    inner.set("yes")
    assert result.value() == "yes"


def test_then_turns_raised_failure_into_failed_future_keeping_type():
    def fail(_):
        raise NotFound("container c1 is unknown")
    result = Future.ready(1).then(fail)
    assert result.is_failed()
    assert result.failure() == "container c1 is unknown"
    assert result.failure_type() is NotFound


def test_then_turns_bug_into_failure_not_exception():
    result = Future.ready(1).then(lambda v: v / 0)
    assert result.is_failed()
    assert "ZeroDivisionError" in result.failure()


def test_failure_and_discard_propagate_through_then():
    called = []
    failed = Future.failed("boom").then(called.append)
    discarded = Future.discarded().then(called.append)
    assert failed.failure() == "boom"
    assert discarded.is_discarded()
    assert called == []


def test_discard_is_a_request_passed_upstream():
    source: Promise[int] = Promise()
    requested = []
    source.future.on_discard(lambda: requested.append(True))
    derived = source.future.then(lambda v: v + 1)
    assert derived.discard()
    assert requested == [True]
    assert source.future.has_discard()
    assert source.future.is_pending()  # only the producer decides
    source.discard()
    assert derived.is_discarded()


def test_discard_of_completed_future_is_refused():
    assert not Future.ready(1).discard()


def test_repair_only_on_failure():
    assert Future.failed("x").repair(lambda f: "fixed:" + f.failure()).value() == "fixed:x"
    assert Future.ready(1).repair(lambda f: 2).value() == 1
    assert Future.discarded().repair(lambda f: 2).is_discarded()


def test_recover_on_failure_or_discard():
    assert Future.discarded().recover(lambda f: "r").value() == "r"
    assert Future.failed("x").recover(lambda f: "r").value() == "r"


def test_associate_follows_other_and_forwards_discard():
    other: Promise[int] = Promise()
    mine: Promise[int] = Promise()
    mine.associate(other.future)
    mine.future.discard()
    assert other.future.has_discard()
    other.set(5)
    assert mine.future.value() == 5


def test_undiscardable_shields_the_source():
    source: Promise[int] = Promise()
    view = undiscardable(source.future)
    view.discard()
    assert not source.future.has_discard()
    source.set(4)
    assert view.value() == 4


def test_collect_in_order():
    promises = [Promise() for _ in range(3)]
    result = collect([p.future for p in promises])
    for i in (2, 0, 1):
        promises[i].set(i * 10)
    assert result.value() == [0, 10, 20]


def test_collect_fails_fast_and_discards_the_rest():
    a, b = Promise(), Promise()
    result = collect([a.future, b.future])
    a.fail(NotFound("gone"))
    assert result.failure() == "gone"
    assert result.failure_type() is NotFound
    assert b.future.has_discard()


def test_collect_of_nothing_is_ready():
    assert collect([]).value() == []


def test_await_all_waits_for_every_outcome():
    a, b = Promise(), Promise()
    result = await_all([a.future, b.future])
    a.fail("x")
    assert result.is_pending()
    b.set(1)
    futures = result.value()
    assert futures[0].is_failed() and futures[1].value() == 1


def test_callback_exception_does_not_escape_into_completer():
    promise: Promise[int] = Promise()
    promise.future.on_any(lambda f: 1 / 0)
    seen = []
    promise.future.on_ready(seen.append)
    assert promise.set(1)  # does not raise
    assert seen == [1]


# ----------------------------------------------------------- paused clock
@pytest.fixture
def clock():
    clock = Clock()
    clock.pause()
    yield clock
    clock.stop()


def test_after_times_out_only_when_clock_advances(clock):
    pending: Promise[str] = Promise()
    timed = pending.future.after(5.0, lambda f: (f.discard(), "timeout")[1], clock=clock)
    clock.advance(4.9)
    assert timed.is_pending()
    clock.advance(0.2)
    assert timed.value() == "timeout"
    assert pending.future.has_discard()


def test_after_cancels_its_timer_when_future_completes(clock):
    pending: Promise[str] = Promise()
    timed = pending.future.after(5.0, lambda f: "timeout", clock=clock)
    pending.set("done")
    clock.advance(10)
    assert timed.value() == "done"
    assert clock.pending_timers() == 0


def test_clock_after_and_timers_fire_in_deadline_order(clock):
    order = []
    clock.timer(3, lambda: order.append(3))
    clock.timer(1, lambda: order.append(1))
    two = clock.after(2)
    two.on_ready(lambda _: order.append(2))
    clock.advance(2.5)
    assert order == [1, 2]
    clock.advance(1)
    assert order == [1, 2, 3]


def test_discarding_clock_after_cancels_it(clock):
    future = clock.after(1)
    future.discard()
    assert future.is_discarded()
    assert clock.pending_timers() == 0


def test_retry_with_backoff_under_paused_clock(clock):
    """A retry loop with exponential backoff, tested without sleeping."""
    attempts = []

    def attempt(n: int, backoff: float) -> None:
        attempts.append((n, clock.now()))
        if n < 4:
            clock.timer(backoff, lambda: attempt(n + 1, backoff * 2))

    start = clock.now()
    attempt(1, 1.0)
    clock.advance(1.0)
    clock.advance(2.0)
    clock.advance(4.0)
    assert [n for n, _ in attempts] == [1, 2, 3, 4]
    assert [round(t - start, 6) for _, t in attempts] == [0.0, 1.0, 3.0, 7.0]


def test_real_clock_fires_without_advance():
    clock = Clock()
    try:
        assert await_ready(clock.after(0.01), timeout=5) is None
    finally:
        clock.stop()
