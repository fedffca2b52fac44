"""The garbage collector: delays, unscheduling, a schedule that survives restarts."""

from __future__ import annotations

import os
import time

from mesos_py.actors import Runtime, dispatch
from mesos_py.actors.testing import await_discarded, await_ready
from mesos_py.slave.gc import GarbageCollector
from tests.agent import wait_until

GC = GarbageCollector
WEEK = 7 * 24 * 3600.0


def spawn(runtime: Runtime, tmp_path, headroom: float = 0.1) -> object:
    return runtime.spawn(GarbageCollector, str(tmp_path / "meta" / "gc" / "schedule"),
                         str(tmp_path), WEEK, headroom, 3600.0)


def test_paths_are_deleted_after_their_delay_and_counted(tmp_path):
    runtime = Runtime()
    try:
        gc = spawn(runtime, tmp_path)
        doomed, kept = tmp_path / "doomed", tmp_path / "kept"
        for directory in (doomed, kept):
            (directory / "sub").mkdir(parents=True)
            (directory / "sub" / "file").write_text("x")
        removed = dispatch(gc, GC.schedule, 0.2, str(doomed))
        cancelled = dispatch(gc, GC.schedule, 0.2, str(kept))
        assert await_ready(dispatch(gc, GC.unschedule, str(kept))) is True
        await_ready(removed)  # ready once deleted
        assert not doomed.exists() and kept.exists()
        await_discarded(cancelled)
        metrics = await_ready(dispatch(gc, GC.metrics))
        assert metrics["gc/path_removals_succeeded"] == 1.0
        assert metrics["gc/path_removals_pending"] == 0.0
    finally:
        runtime.stop()


def test_the_schedule_survives_a_restart(tmp_path):
    target = tmp_path / "sandbox"
    target.mkdir()
    first = Runtime()
    try:
        gc = spawn(first, tmp_path)
        dispatch(gc, GC.schedule, 1.0, str(target))
        assert str(target) in await_ready(dispatch(gc, GC.scheduled))
    finally:
        first.stop()  # the agent goes away before the deletion
    assert target.exists()
    second = Runtime()
    try:
        gc = spawn(second, tmp_path)
        assert str(target) in await_ready(dispatch(gc, GC.scheduled))
        wait_until(lambda: not target.exists(), timeout=10)
        wait_until(lambda: await_ready(dispatch(gc, GC.scheduled)) == {}, timeout=5)
    finally:
        second.stop()


def test_a_full_disk_prunes_old_paths_at_once(tmp_path):
    # With a headroom of 1.0 any usage leaves no allowed age: everything
    # scheduled is deleted on the first disk check.
    old = tmp_path / "old"
    old.mkdir()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    runtime = Runtime()
    try:
        gc = spawn(runtime, tmp_path, headroom=0.0)
        dispatch(gc, GC.schedule_aged, str(old))
        assert str(old) in await_ready(dispatch(gc, GC.scheduled))
        runtime.terminate(gc)
        gc = spawn(runtime, tmp_path, headroom=1.0)  # its initial disk check prunes
        wait_until(lambda: not old.exists(), timeout=10)
        assert await_ready(dispatch(gc, GC.metrics))[
            "slave/executor_directory_max_allowed_age_secs"] == 0.0
    finally:
        runtime.stop()
