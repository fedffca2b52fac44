"""posix/cpu and posix/mem: no enforcement, usage summed over the process tree.

Unlike Mesos 1.11 (whose posix isolators skip standalone containers), these
report usage for standalone containers too: an operator running standalone
containers wants the same statistics.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Sequence

from mesos_py.actors import Future
from mesos_py.isolators.base import Isolator
from mesos_py.isolators.procstats import ProcessTable, TreeUsage
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerState
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, ResourceStatistics

# How long one /proc snapshot serves usage() calls (a GET_CONTAINERS fans out
# one call per container; they should share a scan).
SNAPSHOT_TTL = 0.2


class PosixIsolator(Isolator):
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__(flags, names)
        self._pids: dict[str, int] = {}
        self._table: Future[ProcessTable] | None = None

    def recover(self, states: list[ContainerState], orphans: list[ContainerID]) -> None:
        for state in states:
            self._pids[_key(state.container_id)] = state.pid

    def isolate(self, container_id: ContainerID, pid: int) -> None:
        self._pids[_key(container_id)] = pid

    def cleanup(self, container_id: ContainerID) -> None:
        self._pids.pop(_key(container_id), None)

    def usage(self, container_id: ContainerID) -> Future[ResourceStatistics]:
        pid = self._pids.get(_key(container_id))
        if pid is None:
            return Future.ready(ResourceStatistics(timestamp=time.time()))
        return self._snapshot().then(lambda table: self._statistics(table.tree_usage(pid)))

    def _snapshot(self) -> Future[ProcessTable]:
        table = self._table
        if table is None or (table.is_ready() and time.monotonic() - table.value().taken
                             > SNAPSHOT_TTL) or table.is_failed():
            table = self._table = self.runtime.pool.run(ProcessTable.take)
        return table

    def _statistics(self, usage: TreeUsage | None) -> ResourceStatistics:
        raise NotImplementedError


class PosixCpuIsolator(PosixIsolator):
    NAME = "posix/cpu"

    def _statistics(self, usage: TreeUsage | None) -> ResourceStatistics:
        statistics = ResourceStatistics(timestamp=time.time())
        if usage is not None:
            statistics.processes = usage.processes
            statistics.threads = usage.threads
            statistics.cpus_user_time_secs = usage.user
            statistics.cpus_system_time_secs = usage.system
        return statistics


class PosixMemIsolator(PosixIsolator):
    NAME = "posix/mem"

    def _statistics(self, usage: TreeUsage | None) -> ResourceStatistics:
        statistics = ResourceStatistics(timestamp=time.time())
        if usage is not None:
            statistics.mem_rss_bytes = usage.rss
        return statistics


def _key(container_id: ContainerID) -> str:
    return container_id.SerializeToString().hex()
