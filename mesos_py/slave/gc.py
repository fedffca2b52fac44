"""The GarbageCollector actor: deletes sandboxes and checkpoints of finished
executors and frameworks some time after they were last changed.

`schedule(delay, path)` deletes `path` after `delay` seconds (the Slave passes
`gc_delay` minus the path's age, as Mesos does); `unschedule(path)` cancels
(a relaunched executor of the same id reuses its directory). Every
`--disk_watch_interval` the fullness u of the work directory's filesystem
shrinks the allowed age to `gc_delay * max(0, 1 - gc_disk_headroom - u)`, and
whatever is older than that is deleted at once.

Unlike Mesos, whose schedule lives only in memory (a restarted agent
reschedules from what it recovers), the schedule is checkpointed to
`<work_dir>/meta/gc/schedule` (JSON, path -> deletion time in wall-clock
seconds) and re-armed on start: the schedule survives restarts as is.
Deletions run on the blocking pool.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from typing import Any

from mesos_py.actors import Future, Process, Promise, Timer, defer, delay
from mesos_py.slave import checkpoint

log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Entry:
    path: str
    deadline: float  # wall clock (time.time())
    promise: Promise[None] = dataclasses.field(default_factory=Promise)
    removing: bool = False


class GarbageCollector(Process):
    def __init__(self, schedule_path: str, work_dir: str, gc_delay: float,
                 disk_headroom: float, disk_watch_interval: float) -> None:
        super().__init__()
        self._schedule_path = schedule_path
        self._work_dir = work_dir
        self._gc_delay = gc_delay
        self._headroom = disk_headroom
        self._watch_interval = disk_watch_interval
        self._entries: dict[str, _Entry] = {}
        self._timer: Timer | None = None
        self._watch_timer: Timer | None = None
        self.max_allowed_age = gc_delay
        self._succeeded = 0
        self._failed = 0

    def initialize(self) -> None:
        for path, deadline in self._read_schedule().items():
            self._entries[path] = _Entry(path, deadline)
        if self._entries:
            log.info("Recovered %d path(s) scheduled for garbage collection", len(self._entries))
        self._reset()
        self._check_disk()

    def finalize(self) -> None:
        for timer in (self._timer, self._watch_timer):
            if timer is not None:
                timer.cancel()

    # ================================================================== API
    def schedule(self, seconds: float, path: str) -> Future[None]:
        """Deletes `path` in `seconds` (now if <= 0); ready once deleted."""
        existing = self._entries.pop(path, None)
        if existing is not None and not existing.removing:
            existing.promise.discard()
        entry = _Entry(path, time.time() + max(seconds, 0.0))
        self._entries[path] = entry
        log.info("Scheduling '%s' for gc %.3fs in the future", path, max(seconds, 0.0))
        self._write_schedule()
        self._reset()
        return entry.promise.future

    def schedule_aged(self, path: str) -> Future[None]:
        """Schedules `path` `gc_delay` after its last modification (Mesos's
        `Slave::garbageCollect`)."""
        try:
            age = time.time() - os.stat(path).st_mtime
        except OSError as error:
            log.warning("Not scheduling '%s' for gc: %s", path, error.strerror)
            return Future.failed(f"Failed to find the mtime of '{path}': {error.strerror}")
        return self.schedule(self._gc_delay - age, path)

    def unschedule(self, path: str) -> bool:
        entry = self._entries.get(path)
        if entry is None or entry.removing:
            return False
        del self._entries[path]
        entry.promise.discard()
        log.info("Unscheduling '%s' from gc", path)
        self._write_schedule()
        self._reset()
        return True

    def prune(self, max_remaining: float) -> None:
        """Deletes now every path due within `max_remaining` seconds."""
        now = time.time()
        due = [e for e in self._entries.values()
               if not e.removing and e.deadline - now <= max_remaining]
        if due:
            log.info("Pruning %d director(ies) due within %.0fs", len(due), max_remaining)
            self._remove(due)

    def scheduled(self) -> dict[str, float]:
        """Every scheduled path with its deletion time (wall clock)."""
        return {path: entry.deadline for path, entry in self._entries.items()}

    def metrics(self) -> dict[str, float]:
        return {"gc/path_removals_succeeded": float(self._succeeded),
                "gc/path_removals_failed": float(self._failed),
                "gc/path_removals_pending": float(len(self._entries)),
                "slave/executor_directory_max_allowed_age_secs": self.max_allowed_age}

    # ============================================================ internals
    def _reset(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting = [e.deadline for e in self._entries.values() if not e.removing]
        if waiting:
            wait = max(min(waiting) - time.time(), 0.0)
            self._timer = delay(self.runtime.clock, wait, self.pid, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = time.time()
        self._remove([e for e in self._entries.values()
                      if not e.removing and e.deadline <= now])
        self._reset()

    def _remove(self, entries: list[_Entry]) -> None:
        for entry in entries:
            entry.removing = True
        paths = [e.path for e in entries]
        self.runtime.pool.run(_delete_all, paths).on_any(
            defer(self.pid, lambda done: self._removed(entries, done)))

    def _removed(self, entries: list[_Entry], done: Future[dict[str, str | None]]) -> None:
        errors = done.value() if done.is_ready() else {e.path: "deletion abandoned"
                                                       for e in entries}
        for entry in entries:
            if self._entries.get(entry.path) is entry:
                del self._entries[entry.path]
            error = errors.get(entry.path)
            if error is None:
                self._succeeded += 1
                entry.promise.set(None)
            else:
                self._failed += 1
                entry.promise.fail(error)
        self._write_schedule()
        self._reset()

    def _check_disk(self) -> None:
        try:
            stat = os.statvfs(self._work_dir)
            usage = 1.0 - stat.f_bavail / stat.f_blocks if stat.f_blocks else 0.0
        except OSError as error:
            log.error("Failed to get disk usage of %s: %s", self._work_dir, error.strerror)
        else:
            self.max_allowed_age = self._gc_delay * max(0.0, 1.0 - self._headroom - usage)
            log.debug("Current disk usage %.2f%%. Max allowed age: %.0fs", 100 * usage,
                      self.max_allowed_age)
            # Everything is scheduled gc_delay after its last change, so what is
            # due within (gc_delay - max age) is at least `max age` old.
            self.prune(self._gc_delay - self.max_allowed_age)
        self._watch_timer = delay(self.runtime.clock, self._watch_interval, self.pid,
                                  self._check_disk)

    def _read_schedule(self) -> dict[str, float]:
        try:
            data = json.loads(checkpoint.read_text(self._schedule_path))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.error("Ignoring the unreadable gc schedule '%s': %s", self._schedule_path, error)
            return {}
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write_schedule(self) -> None:
        schedule: dict[str, Any] = {p: e.deadline for p, e in self._entries.items()}
        try:
            checkpoint.checkpoint_text(self._schedule_path, json.dumps(schedule, sort_keys=True))
        except OSError as error:
            log.error("Failed to checkpoint the gc schedule: %s", error)


def _delete_all(paths: list[str]) -> dict[str, str | None]:
    """Runs on the blocking pool: deletes each path; an error text per failure."""
    result: dict[str, str | None] = {}
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            log.info("Deleted '%s'", path)
            result[path] = None
        except FileNotFoundError:
            log.info("Skipped '%s' which does not exist", path)
            result[path] = None
        except OSError as error:
            log.warning("Failed to delete '%s': %s", path, error)
            result[path] = str(error)
    return result
