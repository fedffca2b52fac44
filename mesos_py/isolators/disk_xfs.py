"""disk/xfs: the `disk` quota of each sandbox, as an XFS project quota.

disk/xfs gives each sandbox an XFS project id (inherited by everything created
in it) and sets the project's block limit, so writes past the quota fail (with
ENOSPC: XFS answers a full *project* quota so, where the seed says EDQUOT, which
is what user and group quotas give). The work directory must be on XFS mounted with project quota; the
agent refuses to start otherwise, as Mesos does. Everything is done with
syscalls (ioctl FS_IOC_FS[GS]ETXATTR, quotactl Q_X*), never xfsprogs: see `xfs`.

Where disk/xfs differs from Mesos 1.11, and why:
- disk/xfs always sets the limit, as the seed says (Mesos 1.11 only accounts
  unless --enforce_container_disk_quota); `--xfs_kill_containers` alone makes
  it destroy containers above their quota (soft limit = the quota, hard limit
  10MB above it so that the overrun is observed, as Mesos does). It serves
  standalone containers (Mesos's XFS isolator does not); nested containers
  share their parent's project, as their sandboxes lie inside the parent's.
- disk/xfs releases the project id when the container is cleaned up, by
  clearing the id from the sandbox's files, instead of waiting for the
  sandbox to be garbage collected. Only what cannot be cleared (symlinks,
  devices, files moved out of the sandbox) keeps the id reserved until the
  sandbox is removed.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
from typing import Any, ClassVar, Mapping, Sequence

from mesos_py.actors import Failure, Future, Promise, Timer, await_all, defer, delay
from mesos_py.ids import container_key
from mesos_py.isolators.base import Isolator, StartupError
from mesos_py.isolators.disk_common import MEGABYTE, _disk_limitation, _interval, sandbox_disk
from mesos_py.isolators.xfs import (XFS_SUPER_MAGIC, ProjectQuota, device_for_path,
                                    filesystem_type, get_project_id, get_project_quota,
                                    parse_project_range, project_quota_enabled, set_project_id,
                                    set_project_quota, syncfs)
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerConfig, ContainerLaunchInfo,
                                                           ContainerLimitation, ContainerState)
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, Resource, ResourceStatistics, Value
from mesos_py.units import Bytes

log = logging.getLogger(__name__)

# With --xfs_kill_containers the hard limit lies this far above the quota, so
# that going over the quota is observed before writes fail (Mesos's margin).
KILL_HEADROOM = 10 * MEGABYTE


# ================================================================ disk/xfs
@dataclasses.dataclass
class _XfsInfo:
    container_id: ContainerID
    sandbox: str
    project_id: int
    device: str | None = None
    limit: int | None = None
    limitation: Promise[ContainerLimitation] = dataclasses.field(default_factory=Promise)


class XfsDiskIsolator(Isolator):
    NAME = "disk/xfs"
    SUPPORTS_NESTING: ClassVar[bool] = False
    SUPPORTS_STANDALONE: ClassVar[bool] = True
    # statfs magic numbers of the filesystems accepted for the work directory.
    FILESYSTEMS: ClassVar[dict[int, str]] = {XFS_SUPER_MAGIC: "XFS"}

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__(flags, names)
        self._work_dir: str = flags.work_dir
        self._interval = _interval(flags)
        self._kill = bool(getattr(flags, "xfs_kill_containers", False))
        try:
            self._ranges = parse_project_range(flags.xfs_project_range)
            if os.geteuid() != 0:
                raise ValueError("The XFS disk isolator requires running as root.")
            self._check_path(self._work_dir)
        except (ValueError, OSError) as error:
            # Ends start-up with this one line, as Mesos's create() does.
            raise StartupError(f"Failed to create isolator '{self.NAME}': {error}") from None
        self._used: set[int] = set()
        self._infos: dict[str, _XfsInfo] = {}
        # Project ids whose sandbox still holds files we could not relabel:
        # reserved until the sandbox is removed.
        self._reclaim: dict[int, tuple[str, str]] = {}
        self._timer: Timer | None = None
        total = sum(last - first + 1 for first, last in self._ranges)
        log.info("Allocating %d XFS project IDs from the range %s", total,
                 flags.xfs_project_range)

    @classmethod
    def _check_path(cls, path: str) -> None:
        kind = filesystem_type(path)
        if kind not in cls.FILESYSTEMS:
            raise ValueError(f"'{path}' is not an XFS filesystem")
        device = device_for_path(path)
        try:
            enabled = project_quota_enabled(device)
        except OSError as error:
            raise ValueError(f"Failed to get quota status for '{path}': {error.strerror}")
        if not enabled:
            raise ValueError(f"XFS project quotas are not enabled on '{path}'")

    def initialize(self) -> None:
        self._schedule()

    def finalize(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    # ------------------------------------------------------------- recovery
    def recover(self, states: list[ContainerState],  # type: ignore[override]
                orphans: list[ContainerID]) -> Future[None]:
        alive = {s.container_id.value: s for s in states if not s.container_id.HasField("parent")}
        root = os.path.join(self._work_dir, "containers")
        return self.runtime.pool.run(_scan_sandboxes, root, list(alive)).then(
            defer(self.pid, lambda found: self._recovered(found, alive)))

    def _recovered(self, found: list[tuple[str, str, int, str, int]],
                   alive: dict[str, ContainerState]) -> Future[Any]:
        released = []
        for name, sandbox, project_id, device, soft_limit in found:
            self._used.add(project_id)
            state = alive.get(name)
            if state is not None:
                info = _XfsInfo(state.container_id, sandbox, project_id, device,
                                soft_limit or None)
                self._infos[container_key(state.container_id)] = info
                log.info("%s: recovered project %d on '%s'", name, project_id, sandbox)
            else:
                # The container ended while its project was still assigned.
                released.append(self._release(name, sandbox, project_id, device))
        return _settled_all(released)

    # ------------------------------------------------------------ lifecycle
    def prepare(self, container_id: ContainerID,  # type: ignore[override]
                config: ContainerConfig) -> Future[ContainerLaunchInfo | None]:
        key = container_key(container_id)
        if key in self._infos:
            raise Failure("Container has already been prepared")
        _, limit = sandbox_disk(config.resources)
        if limit == 0:
            raise Failure("Disk quota must be greater than 0: a zero XFS limit means no limit")
        project_id = self._next_project_id()
        if project_id is None:
            raise Failure("Failed to assign project ID, range exhausted")
        # Recorded first, so that cleanup() releases the id if assigning fails.
        info = _XfsInfo(container_id, config.directory, project_id, limit=limit)
        self._infos[key] = info
        soft, hard = self._limits(limit)
        return self.runtime.pool.run(_assign, config.directory, project_id, soft, hard).then(
            defer(self.pid, lambda device: self._assigned(key, info, device)))

    def _assigned(self, key: str, info: _XfsInfo, device: str) -> None:
        info.device = device
        log.info("%s: assigned project %d to '%s' (quota %s)", key, info.project_id,
                 info.sandbox, "none" if info.limit is None else Bytes(info.limit))
        return None

    def watch(self, container_id: ContainerID) -> Future[ContainerLimitation]:
        info = self._infos.get(container_key(container_id))
        if info is None:
            # Not isolated by us (e.g. launched before disk/xfs was enabled).
            return Future()
        return info.limitation.future

    def update(self, container_id: ContainerID,  # type: ignore[override]
               resources: list[Resource], limits: Mapping[str, float]) -> Future[None] | None:
        info = self._infos.get(container_key(container_id))
        if info is None or info.device is None:
            return None
        _, limit = sandbox_disk(resources)
        if limit is None:
            return None
        if limit == 0:
            raise Failure("Disk quota must be greater than 0: a zero XFS limit means no limit")
        soft, hard = self._limits(limit)

        def updated(_: Any) -> None:
            info.limit = limit
            log.info("%s: set quota for project %d to %s/%s", container_key(container_id),
                     info.project_id, Bytes(soft), Bytes(hard))

        return self.runtime.pool.run(set_project_quota, info.device, info.project_id, soft,
                                     hard).then(defer(self.pid, updated))

    def usage(self, container_id: ContainerID) -> Future[ResourceStatistics] | ResourceStatistics:
        info = self._infos.get(container_key(container_id))
        if info is None or info.device is None:
            return ResourceStatistics(timestamp=0)
        limit = info.limit

        def statistics(quota: ProjectQuota) -> ResourceStatistics:
            result = ResourceStatistics(timestamp=0, disk_used_bytes=quota.used)
            if limit is not None:
                result.disk_limit_bytes = limit
            return result

        return self.runtime.pool.run(get_project_quota, info.device,
                                     info.project_id).then(statistics)

    def cleanup(self,  # type: ignore[override]
                container_id: ContainerID) -> Future[None] | None:
        info = self._infos.pop(container_key(container_id), None)
        if info is None:
            return None
        return self._release(container_key(container_id), info.sandbox, info.project_id,
                             info.device)

    # ------------------------------------------------------- project ids
    def _next_project_id(self) -> int | None:
        for first, last in self._ranges:
            for project_id in range(first, last + 1):
                if project_id not in self._used and project_id not in self._reclaim:
                    self._used.add(project_id)
                    return project_id
        return None

    def _limits(self, limit: int | None) -> tuple[int, int]:
        if limit is None:
            return 0, 0
        return limit, (limit + KILL_HEADROOM if self._kill else limit)

    def _release(self, key: str, sandbox: str, project_id: int,
                 device: str | None) -> Future[None]:
        """Clears the project from the sandbox and its quota; frees the id if nothing is left."""

        def released(freed: bool) -> None:
            if freed:
                self._used.discard(project_id)
                log.info("%s: released project %d", key, project_id)
            else:
                self._reclaim[project_id] = (sandbox, device or "")
                log.info("%s: project %d still owns files in '%s' (symlinks, special files); "
                         "reserved until the sandbox is removed", key, project_id, sandbox)

        def failed(future: Future[None]) -> None:
            log.error("%s: failed to release project %d: %s", key, project_id,
                      future.failure() if future.is_failed() else "discarded")

        done = self.runtime.pool.run(_unassign, sandbox, project_id, device)
        return done.then(defer(self.pid, released)).recover(defer(self.pid, failed))

    # ------------------------------------------ periodic: kill and reclaim
    def _schedule(self) -> None:
        self._timer = delay(self.runtime.clock, self._interval, self.pid, self._tick)

    def _tick(self) -> None:
        self._timer = None
        checks: list[Future[Any]] = []
        if self._kill:
            for key, info in self._infos.items():
                if info.device is not None and info.limit is not None \
                        and info.limitation.future.is_pending():
                    checks.append(self.runtime.pool.run(
                        get_project_quota, info.device, info.project_id).then(
                        defer(self.pid, lambda quota, k=key, i=info: self._checked(k, i, quota))))
        if self._reclaim:
            pending = dict(self._reclaim)
            checks.append(self.runtime.pool.run(_reclaimable, pending).then(
                defer(self.pid, self._reclaimed)))
        _settled_all(checks).on_any(defer(self.pid, lambda _: self._schedule()))

    def _checked(self, key: str, info: _XfsInfo, quota: ProjectQuota) -> None:
        if self._infos.get(key) is not info or info.limit is None:
            return
        if quota.used > info.limit and info.limitation.future.is_pending():
            resource = Resource(name="disk", type=Value.SCALAR)
            resource.scalar.value = quota.used // MEGABYTE
            message = f"Disk usage ({Bytes(quota.used)}) exceeded quota ({Bytes(info.limit)})"
            log.info("%s: %s in '%s'", key, message, info.sandbox)
            info.limitation.set(_disk_limitation([resource], message))

    def _reclaimed(self, freed: list[int]) -> None:
        for project_id in freed:
            self._reclaim.pop(project_id, None)
            self._used.discard(project_id)
            log.info("Reclaimed project ID %d", project_id)


# ----------------------------------------------- xfs blocking work (the pool)
def _assign(sandbox: str, project_id: int, soft: int, hard: int) -> str:
    """Labels the sandbox with `project_id` and sets its limits; the device."""
    try:
        set_project_id(sandbox, project_id)
    except OSError as error:
        raise Failure(f"Failed to assign project {project_id}: {error.strerror or error}")
    try:
        device = device_for_path(sandbox)
        # No limit: clear whatever an earlier user of the id left.
        set_project_quota(device, project_id, soft, hard)
    except OSError as error:
        raise Failure(f"Failed to update quota for project {project_id}: "
                      f"{error.strerror or error}")
    return device


def _unassign(sandbox: str, project_id: int, device: str | None) -> bool:
    """True when nothing under the sandbox holds `project_id` any more."""
    if not os.path.isdir(sandbox):
        if device:
            set_project_quota(device, project_id, 0, 0)
        return True
    try:
        get_project_id(sandbox)
    except OSError as error:
        if error.errno in _NOT_SUPPORTED:
            return True  # never labelled: the filesystem has no project ids
        raise
    device = device or device_for_path(sandbox)
    set_project_id(sandbox, 0, include_root=False)
    set_project_quota(device, project_id, 0, 0)
    # The sandbox directory itself is the one inode expected to remain. Files
    # deleted just before are still charged until XFS inactivates them in the
    # background; a syncfs() waits for that before anything counts as left.
    if get_project_quota(device, project_id).inodes > 1:
        syncfs(sandbox)
        if get_project_quota(device, project_id).inodes > 1:
            return False
    set_project_id(sandbox, 0)
    return True


_NOT_SUPPORTED = (errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL)


def _reclaimable(pending: dict[int, tuple[str, str]]) -> list[int]:
    freed = []
    for project_id, (sandbox, device) in pending.items():
        if os.path.lexists(sandbox):
            continue
        if device:
            try:
                set_project_quota(device, project_id, 0, 0)
            except OSError as error:
                log.error("Failed to clear quota for project ID %d: %s", project_id, error)
        freed.append(project_id)
    return freed


def _scan_sandboxes(root: str, alive: list[str]) -> list[tuple[str, str, int, str, int]]:
    """(name, sandbox, project id, device, soft limit) of each labelled sandbox."""
    found = []
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    for name in names:
        sandbox = os.path.join(root, name)
        if os.path.islink(sandbox) or not os.path.isdir(sandbox):
            continue
        try:
            project_id = get_project_id(sandbox)
        except OSError as error:
            raise Failure(f"Failed to get XFS attributes for '{sandbox}': {error.strerror}")
        if project_id == 0:
            continue
        device = device_for_path(sandbox)
        soft = get_project_quota(device, project_id).soft_limit if name in alive else 0
        found.append((name, sandbox, project_id, device, soft))
    return found


def _settled_all(futures: list[Future[Any]]) -> Future[None]:
    return await_all(futures).then(lambda _: None)
