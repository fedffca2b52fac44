"""Watching processes end, without a thread per process.

`reap(pid)` opens a pidfd and lets the IO loop wait for it to become readable
(the process has exited). If the process is our child the raw wait(2) status
is returned; otherwise (a container init after an agent restart, or a child of
the fork server) the status is `None` and the caller looks elsewhere (the
container's status file).
"""

from __future__ import annotations

import errno
import logging
import os

from mesos_py.actors.future import Future, Promise
from mesos_py.actors.loop import IOLoopThread

log = logging.getLogger(__name__)


class Reaper:
    def __init__(self, io: IOLoopThread) -> None:
        self._io = io

    def reap(self, pid: int) -> Future[int | None]:
        """Completes once `pid` has exited; never fails.

        Discarding the future stops watching (the fd is closed).
        """
        promise: Promise[int | None] = Promise()
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            promise.set(_try_wait(pid))
            return promise.future
        except OSError as error:
            log.warning("pidfd_open(%d) failed (%s); treating it as gone", pid,
                        errno.errorcode.get(error.errno or 0, error))
            promise.set(None)
            return promise.future
        self._io.call_soon(self._watch, pid, pidfd, promise)
        return promise.future

    def _watch(self, pid: int, pidfd: int, promise: Promise[int | None]) -> None:
        loop = self._io.loop
        closed = False

        def close() -> None:
            nonlocal closed
            if not closed:
                closed = True
                loop.remove_reader(pidfd)
                os.close(pidfd)

        def exited() -> None:
            close()
            promise.set(_try_wait(pid))

        def discarded() -> None:
            close()
            promise.discard()

        if promise.future.has_discard():
            os.close(pidfd)
            promise.discard()
            return
        loop.add_reader(pidfd, exited)
        promise.future.on_discard(lambda: self._io.call_soon(discarded))


def _try_wait(pid: int) -> int | None:
    """The raw wait status if `pid` is our exited child, else None."""
    try:
        waited, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return status if waited == pid else None


def alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return fields[0] not in (b"Z", b"X")


def start_time(pid: int) -> int | None:
    """The process start time in clock ticks since boot (guards pid reuse)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None
