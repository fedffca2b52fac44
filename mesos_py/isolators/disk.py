"""disk/du and disk/xfs: the disk usage of each sandbox, and its `disk` quota.

disk/du measures every sandbox each `--container_disk_watch_interval` with a
walk that counts what `du -s -k -x` counts (allocated blocks, each inode once,
symlinks not followed, other mounts not entered); with
`--enforce_container_disk_quota` a sandbox above its `disk` resources has its
container destroyed with REASON_CONTAINER_LIMITATION_DISK. Walks run on the
blocking pool, at most `MAX_WALKS` at a time, so a large sandbox delays the
next measurement of the others but never an actor.

disk/xfs gives each sandbox an XFS project id and sets the project's block
limit: its actor is in `disk_xfs`, the syscalls it makes in `xfs`, and what
both isolators share in `disk_common`. Their names are re-exported here.

Where disk/du differs from Mesos 1.11, and why:
- disk/du measures each sandbox every interval (Mesos runs one `du` per
  interval for the whole agent, so N containers are measured every N
  intervals), and reports `disk_used_bytes` also for a container without
  `disk` resources (no limit, nothing enforced).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Any, ClassVar, Mapping, Sequence

from mesos_py.actors import Failure, Future, Promise, Timer, defer, delay
from mesos_py.ids import container_key
from mesos_py.isolators.base import Isolator
from mesos_py.isolators.disk_common import (MEGABYTE, MIN_INTERVAL, _disk_limitation, _interval,
                                            mount_points_under, sandbox_disk, sandbox_usage)
from mesos_py.isolators.disk_xfs import KILL_HEADROOM, XfsDiskIsolator, _reclaimable, _unassign
from mesos_py.isolators.xfs import (BASIC_BLOCK, FS_DQ_BHARD, FS_DQ_BSOFT, FS_DQUOT_VERSION,
                                    FS_IOC_FSGETXATTR, FS_IOC_FSSETXATTR, FS_PROJ_QUOTA,
                                    FS_QSTATV_VERSION1, FS_QUOTA_PDQ_ACCT, FS_QUOTA_PDQ_ENFD,
                                    FS_XFLAG_PROJINHERIT, PRJQUOTA, Q_XGETQSTATV, Q_XGETQUOTA,
                                    Q_XSETQLIM, XFS_SUPER_MAGIC, ProjectQuota, _FsDiskQuota,
                                    _FsQuotaStatv, device_for_path, filesystem_type,
                                    get_project_id, get_project_quota, parse_project_range,
                                    project_quota_enabled, qcmd, set_project_id,
                                    set_project_quota, syncfs)
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerConfig, ContainerLaunchInfo,
                                                           ContainerLimitation, ContainerState)
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, Resource, ResourceStatistics
from mesos_py.slave import checkpoint, paths
from mesos_py.units import Bytes

__all__ = [
    "DiskDuIsolator", "MAX_WALKS",
    # re-exported from disk_common, disk_xfs and xfs
    "MEGABYTE", "MIN_INTERVAL", "mount_points_under", "sandbox_disk", "sandbox_usage",
    "XfsDiskIsolator", "KILL_HEADROOM",
    "XFS_SUPER_MAGIC", "FS_IOC_FSGETXATTR", "FS_IOC_FSSETXATTR", "FS_XFLAG_PROJINHERIT",
    "PRJQUOTA", "Q_XGETQUOTA", "Q_XSETQLIM", "Q_XGETQSTATV", "FS_DQUOT_VERSION",
    "FS_PROJ_QUOTA", "FS_DQ_BSOFT", "FS_DQ_BHARD", "FS_QSTATV_VERSION1", "FS_QUOTA_PDQ_ACCT",
    "FS_QUOTA_PDQ_ENFD", "BASIC_BLOCK", "qcmd", "ProjectQuota", "filesystem_type",
    "device_for_path", "syncfs", "project_quota_enabled", "get_project_quota",
    "set_project_quota", "get_project_id", "set_project_id", "parse_project_range",
    # private, for the tests
    "_FsDiskQuota", "_FsQuotaStatv", "_unassign", "_reclaimable",
]

log = logging.getLogger(__name__)

# How many sandboxes disk/du walks at once (the blocking pool is shared).
MAX_WALKS = 2


def _read_resources(work_dir: str, container_id: ContainerID) -> list[Resource]:
    """The resources the container was launched with, from its checkpointed config."""
    try:
        config = checkpoint.read_message(paths.container_config_path(work_dir, container_id),
                                         ContainerConfig)
    except (OSError, checkpoint.CheckpointError) as error:
        log.warning("%s: no checkpointed resources, no disk quota: %s",
                    container_key(container_id), error)
        return []
    return list(config.resources)


# ================================================================= disk/du
@dataclasses.dataclass
class _DuInfo:
    container_id: ContainerID
    sandbox: str
    quota: list[Resource]
    limit: int | None
    used: int | None = None
    limitation: Promise[ContainerLimitation] = dataclasses.field(default_factory=Promise)
    timer: Timer | None = None


class DiskDuIsolator(Isolator):
    NAME = "disk/du"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__(flags, names)
        self._interval = _interval(flags)
        self._enforce = bool(getattr(flags, "enforce_container_disk_quota", False))
        self._infos: dict[str, _DuInfo] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._walks = 0

    def finalize(self) -> None:
        for info in self._infos.values():
            if info.timer is not None:
                info.timer.cancel()

    # Nested containers live inside their parent's sandbox: only top-level
    # sandboxes are measured (as Mesos does).
    def recover(self, states: list[ContainerState],  # type: ignore[override]
                orphans: list[ContainerID]) -> Future[None] | None:
        top = [s for s in states if not s.container_id.HasField("parent")]
        if not top:
            return None
        work_dir = self.flags.work_dir
        return self.runtime.pool.run(
            lambda: [_read_resources(work_dir, s.container_id) for s in top]).then(
            defer(self.pid, lambda resources: self._recovered(top, resources)))

    def _recovered(self, states: list[ContainerState], resources: list[list[Resource]]) -> None:
        for state, container_resources in zip(states, resources):
            quota, limit = sandbox_disk(container_resources)
            self._track(state.container_id, state.directory, quota, limit)

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        if container_id.HasField("parent"):
            return None
        if container_key(container_id) in self._infos:
            raise Failure("Container has already been prepared")
        quota, limit = sandbox_disk(config.resources)
        self._track(container_id, config.directory, quota, limit)
        return None

    def watch(self, container_id: ContainerID) -> Future[ContainerLimitation]:
        if container_id.HasField("parent"):
            return Future()
        info = self._infos.get(container_key(container_id))
        if info is None:
            raise Failure("Unknown container")
        return info.limitation.future

    def update(self, container_id: ContainerID, resources: list[Resource],
               limits: Mapping[str, float]) -> None:
        info = self._infos.get(container_key(container_id))
        if info is None:
            return
        info.quota, info.limit = sandbox_disk(resources)
        log.info("%s: disk quota updated to %s", container_key(container_id),
                 "none" if info.limit is None else Bytes(info.limit))
        self._check(info)

    def usage(self, container_id: ContainerID) -> ResourceStatistics:
        statistics = ResourceStatistics(timestamp=0)
        info = self._infos.get(container_key(container_id))
        if info is None:
            return statistics
        if info.used is not None:
            statistics.disk_used_bytes = info.used
        if info.limit is not None:
            statistics.disk_limit_bytes = info.limit
            disk = statistics.disk_statistics.add(limit_bytes=info.limit)
            if info.used is not None:
                disk.used_bytes = info.used
        return statistics

    def cleanup(self, container_id: ContainerID) -> None:
        info = self._infos.pop(container_key(container_id), None)
        if info is not None and info.timer is not None:
            info.timer.cancel()

    # ------------------------------------------------------------ measuring
    def _track(self, container_id: ContainerID, sandbox: str, quota: list[Resource],
               limit: int | None) -> None:
        key = container_key(container_id)
        self._infos[key] = _DuInfo(container_id, sandbox, quota, limit)
        self._queue.append(key)
        self._pump()

    def _pump(self) -> None:
        while self._walks < MAX_WALKS and self._queue:
            key = self._queue.popleft()
            info = self._infos.get(key)
            if info is None:
                continue
            self._walks += 1
            self.runtime.pool.run(sandbox_usage, info.sandbox).on_any(
                defer(self.pid, lambda done, k=key, i=info: self._measured(k, i, done)))

    def _measured(self, key: str, info: _DuInfo, done: Future[int]) -> None:
        self._walks -= 1
        self._pump()
        if self._infos.get(key) is not info:
            return  # cleaned up (or relaunched) meanwhile
        if done.is_ready():
            info.used = done.value()
            self._check(info)
        else:
            log.warning("%s: failed to measure the disk usage of '%s': %s", key, info.sandbox,
                        done.failure() if done.is_failed() else "discarded")
        info.timer = delay(self.runtime.clock, self._interval, self.pid, self._due, key, info)

    def _due(self, key: str, info: _DuInfo) -> None:
        if self._infos.get(key) is info:
            info.timer = None
            self._queue.append(key)
            self._pump()

    def _check(self, info: _DuInfo) -> None:
        if (not self._enforce or info.limit is None or info.used is None
                or info.used <= info.limit or not info.limitation.future.is_pending()):
            return
        message = f"Disk usage ({Bytes(info.used)}) exceeds quota ({Bytes(info.limit)})"
        log.info("%s: %s", container_key(info.container_id), message)
        info.limitation.set(_disk_limitation(info.quota, message))
