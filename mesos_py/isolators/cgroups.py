"""cgroups/cpu, cgroups/mem, cgroups/pids and cgroups/net_cls: one actor, v1 or v2.

The version is detected from `--cgroups_hierarchy` (v2 only when it is a
cgroup2 mount, as Mesos HEAD decides). Every container's cgroup is
`<cgroups_root>/<id>` (nested: `<root>/<parent>/mesos/<id>`), in each
hierarchy of the selected subsystems on v1 (cpu+cpuacct, memory, pids,
net_cls), in the unified hierarchy on v2, where the processes live in its
`leaf` child and the selected controllers (cpu, memory, pids) are enabled
down to it.

Nested containers sharing their parent's cgroups (`share_cgroups`, the
default) get no limits of their own. Their first process is still put where
the parent's processes are (v1: the parent's cgroups, as Mesos's isolator
does; v2: `<root>/<parent>/mesos/<id>/leaf`, the cgroup Mesos HEAD gives every
nested container), since a launcher that does not place processes itself
(posix) would otherwise leave them outside their parent's limits. With
`share_cgroups=false` (first nesting level only) they get cgroups and limits
of their own.

OOM: the kernel's event (v1 eventfd on `memory.oom_control`, v2
`memory.events.local`) is watched on the IO loop; the container is then
limited with REASON_CONTAINER_LIMITATION_MEMORY.

Every cgroup operation is blocking IO and runs on the runtime's pool; this
actor only keeps the per-container records. The limits it writes are computed
in `cgroups_limits`, the statistics it reports read in `cgroups_statistics`,
and the net_cls handles allocated in `cgroups_net_cls`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from typing import Any, ClassVar, Mapping, Sequence

from mesos_py.actors import Failure, Future, Promise, defer, settled
from mesos_py.ids import container_key
from mesos_py.isolators.base import Isolator, StartupError
from mesos_py.isolators.cgroups_limits import (CFS_PERIOD_US, CPU_SHARES_PER_CPU,
                                               CPU_WEIGHT_PER_CPU, MAX_CPU_WEIGHT,
                                               MEGABYTE, MIN_CFS_QUOTA_US, MIN_CPU_SHARES,
                                               MIN_CPU_WEIGHT, MIN_MEMORY, UNLIMITED,
                                               CgroupsLimits, Limits, _scalar_limits)
from mesos_py.isolators.cgroups_net_cls import _handle_manager
from mesos_py.isolators.cgroups_statistics import CgroupsStatistics
from mesos_py.linux import cgroups
from mesos_py.linux.cgroups import CgroupError, OomWatcher, Version
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerConfig, ContainerLaunchInfo,
                                                           ContainerLimitation, ContainerState)
from mesos_py.protos.mesos.v1.mesos_pb2 import (ContainerID, ContainerInfo, ContainerStatus,
                                                Resource, ResourceStatistics, TaskStatus, Value)
from mesos_py.units import Bytes

__all__ = [
    "CgroupsIsolator", "Info", "StartupError", "SUBSYSTEMS", "CONTROLLERS",
    # re-exported from cgroups_limits
    "Limits", "MEGABYTE", "CPU_SHARES_PER_CPU", "MIN_CPU_SHARES", "CPU_WEIGHT_PER_CPU",
    "MIN_CPU_WEIGHT", "MAX_CPU_WEIGHT", "CFS_PERIOD_US", "MIN_CFS_QUOTA_US", "MIN_MEMORY",
    "UNLIMITED",
]

log = logging.getLogger(__name__)

# isolation name -> v1 subsystems / v2 controllers
SUBSYSTEMS = {"cgroups/cpu": ("cpu", "cpuacct"), "cgroups/mem": ("memory",),
              "cgroups/pids": ("pids",), "cgroups/net_cls": ("net_cls",)}
CONTROLLERS = {"cgroups/cpu": ("cpu",), "cgroups/mem": ("memory",), "cgroups/pids": ("pids",)}


@dataclasses.dataclass
class Info:
    container_id: ContainerID
    cgroup: str
    shared: bool = False  # v2 nested container in its parent's limits (cgroup for placement only)
    limitation: Promise[ContainerLimitation] = dataclasses.field(default_factory=Promise)
    oom: OomWatcher | None = None
    classid: int | None = None
    hard_limit_set: bool = False


class CgroupsIsolator(CgroupsLimits, CgroupsStatistics, Isolator):
    NAME = "cgroups"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__(flags, names or list(SUBSYSTEMS))
        if flags is None:
            raise StartupError("The cgroups isolator needs the agent's flags")
        if os.geteuid() != 0:
            raise StartupError("Using cgroups requires root permissions")
        self._root: str = flags.cgroups_root
        self._hierarchy_flag: str = flags.cgroups_hierarchy
        self._enable_cfs: bool = flags.cgroups_enable_cfs
        self._limit_swap: bool = flags.cgroups_limit_swap
        self._destroy_timeout: float = flags.cgroups_destroy_timeout.seconds
        self._pids_limit: int = flags.container_pids_limit
        self._cpu = "cgroups/cpu" in self.names
        self._mem = "cgroups/mem" in self.names
        self._pids = "cgroups/pids" in self.names
        self._net_cls = "cgroups/net_cls" in self.names
        self._handles = _handle_manager(flags) if self._net_cls else None
        self._infos: dict[str, Info] = {}
        self.version = cgroups.detect(self._hierarchy_flag)
        # v1: subsystem -> the hierarchy it is mounted at; v2: every controller -> the mount.
        self._at: dict[str, str] = {}
        if self.version is Version.V1:
            self._start_v1()
        else:
            self._start_v2()
        log.info("cgroups %s isolation (%s) under '%s' in %s", self.version.name.lower(),
                 ", ".join(self.names), self._root, ", ".join(self._hierarchies()))

    # ================================================================ start
    def _start_v1(self) -> None:
        enabled = cgroups.subsystems_enabled()
        for name in self.names:
            for subsystem in SUBSYSTEMS[name]:
                if subsystem not in enabled:
                    raise StartupError(f"The cgroup subsystem '{subsystem}' (for {name}) is not "
                                       f"enabled in this kernel")
                hierarchy = cgroups.hierarchy_of(subsystem)
                if hierarchy is None:
                    # As Mesos: mount a subsystem nobody has mounted yet.
                    hierarchy = os.path.join(self._hierarchy_flag, subsystem)
                    log.info("Mounting the unmounted '%s' cgroup hierarchy at %s", subsystem,
                             hierarchy)
                    try:
                        cgroups.mount_v1(hierarchy, subsystem)
                    except CgroupError as error:
                        raise StartupError(str(error)) from None
                self._at[subsystem] = hierarchy
        for hierarchy in self._hierarchies():
            try:
                cgroups.create(hierarchy, self._root)
            except CgroupError as error:
                raise StartupError(f"Failed to create the root cgroup: {error}") from None
        if self._cpu and self._enable_cfs and not cgroups.has_control(
                self._at["cpu"], self._root, "cpu.cfs_quota_us"):
            raise StartupError("Failed to find 'cpu.cfs_quota_us'. Your kernel might be too old "
                               "to use the CFS quota feature")
        if self._mem and self._limit_swap and not cgroups.has_control(
                self._at["memory"], self._root, "memory.memsw.limit_in_bytes"):
            raise StartupError("'memory.memsw.limit_in_bytes' is not available "
                               "(--cgroups_limit_swap needs swap accounting)")

    def _start_v2(self) -> None:
        if self._net_cls:
            raise StartupError("cgroups/net_cls needs cgroup v1: cgroup v2 has no net_cls "
                               "controller")
        mount = self._hierarchy_flag
        wanted = self._controllers()
        try:
            # Enables the controllers for the containers below the root.
            cgroups.enable_controllers(mount, f"{self._root}/container", wanted,
                                       create_missing=True)
        except CgroupError as error:
            raise StartupError(str(error)) from None
        for controller in wanted:
            self._at[controller] = mount
        if self._mem and self._limit_swap and not cgroups.has_control(
                mount, self._root, "memory.swap.max"):
            raise StartupError("'memory.swap.max' is not available "
                               "(--cgroups_limit_swap needs swap accounting)")

    def _controllers(self) -> list[str]:
        return [c for name in self.names for c in CONTROLLERS.get(name, ())]

    def _hierarchies(self) -> list[str]:
        """Where a container's cgroup lives: every distinct v1 hierarchy, or the v2 mount."""
        if self.version is Version.V2:
            return [self._hierarchy_flag]
        return list(dict.fromkeys(self._at.values()))

    # ============================================================= recover
    def recover(self, states: list[ContainerState],  # type: ignore[override]
                orphans: list[ContainerID]) -> Future[None]:
        known = {container_key(s.container_id) for s in states}
        records = [(s.container_id, self._own_cgroups(s.container_id, s.container_info
                                                       if s.HasField("container_info") else None))
                   for s in states]
        return self.runtime.pool.run(self._scan, records, [container_key(o) for o in orphans],
                                     known).then(defer(self.pid, self._recovered))

    def _own_cgroups(self, container_id: ContainerID, info: ContainerInfo | None) -> bool | None:
        """True/False when known; None (decided by whether the cgroup exists) otherwise."""
        if not container_id.HasField("parent"):
            return True
        if info is None:
            return None
        return not _shares_cgroups(info)

    def _scan(self, records: list[tuple[ContainerID, bool | None]], orphans: list[str],
              known: set[str]) -> tuple[list[tuple[ContainerID, bool, int | None, OomWatcher | None]],
                                        list[ContainerID]]:
        """Pool: what the kernel still has for the recovered containers, and the
        cgroups under the root that belong to no recovered container."""
        recovered = []
        for container_id, own in records:
            try:
                found = self._scan_one(container_id, own)
            except CgroupError as error:
                log.error("%s: failed to recover its cgroups: %s", container_key(container_id),
                          error)
                continue
            if found is not None:
                recovered.append(found)
        stale: dict[str, ContainerID] = {}
        for hierarchy in self._hierarchies():
            for container_id in cgroups.container_ids_under(hierarchy, self._root):
                key = container_key(container_id)
                if key not in known:
                    stale[key] = container_id
        for key in orphans:
            if key not in stale:
                log.info("%s: orphan without cgroups", key)
        return recovered, list(stale.values())

    def _scan_one(self, container_id: ContainerID, own: bool | None
                  ) -> tuple[ContainerID, bool, int | None, OomWatcher | None] | None:
        """Pool: the recovered container's record, or None if it has no cgroups."""
        cgroup = cgroups.container_cgroup(self._root, container_id)
        if not any(cgroups.exists(h, cgroup) for h in self._hierarchies()):
            if own:
                log.warning("%s: no cgroup '%s' to recover in %s", container_key(container_id),
                            cgroup, ", ".join(self._hierarchies()))
            return None
        shared = own is False
        classid = None
        if self._net_cls and cgroups.exists(self._at["net_cls"], cgroup):
            classid = int(cgroups.read(self._at["net_cls"], cgroup, "net_cls.classid")) or None
        watcher = None
        if self._mem and not shared and cgroups.exists(self._at["memory"], cgroup):
            watcher = OomWatcher(self._at["memory"], cgroup, self.version)
        return container_id, shared, classid, watcher

    def _recovered(self, scanned: tuple[list[tuple[ContainerID, bool, int | None,
                                                   OomWatcher | None]], list[ContainerID]]) -> None:
        recovered, stale = scanned
        for container_id, shared, classid, watcher in recovered:
            key = container_key(container_id)
            info = Info(container_id, cgroups.container_cgroup(self._root, container_id),
                        shared=shared, hard_limit_set=True)
            if classid is not None and self._handles is not None:
                try:
                    self._handles.reserve(classid)
                    info.classid = classid
                except ValueError as error:
                    log.error("%s: cannot recover net_cls classid %#x: %s", key, classid, error)
            self._infos[key] = info
            if watcher is not None:
                self._watch_oom(key, info, watcher)
            log.info("%s: recovered cgroup %s", key, info.cgroup)
        # A stale container's cgroup holds its stale nested ones: destroy the topmost.
        stale_keys = {container_key(c) for c in stale}
        for container_id in stale:
            key = container_key(container_id)
            if any(key.startswith(other + ".") for other in stale_keys):
                continue
            log.info("%s: cleaning up the cgroups of an unknown orphan container", key)
            self.runtime.pool.run(
                self._destroy_cgroups, cgroups.container_cgroup(self._root, container_id),
                self._hierarchies()).on_failed(functools.partial(_log_orphan_failure, key))

    # ============================================================= prepare
    def prepare(self, container_id: ContainerID,  # type: ignore[override]
                config: ContainerConfig) -> Future[ContainerLaunchInfo | None] | None:
        key = container_key(container_id)
        cgroup = cgroups.container_cgroup(self._root, container_id)
        if key in self._infos:
            raise Failure(f"Container {key} has already been prepared")
        if container_id.HasField("parent") and _shares_cgroups(config.container_info):
            if self.version is Version.V1:
                return None  # its processes join the parent's cgroups in `isolate`
            self._infos[key] = Info(container_id, cgroup, shared=True)
            return self.runtime.pool.run(self._create_v2_placement, cgroup).then(lambda _: None)
        if container_id.HasField("parent") and container_id.parent.HasField("parent"):
            raise Failure(f"Container {key}: cgroups of their own (share_cgroups=false) are only "
                          f"possible at the first nesting level")
        # Recorded first, so that `cleanup` undoes whatever part of the set-up happened.
        info = self._infos[key] = Info(container_id, cgroup)
        if self._handles is not None:
            try:
                info.classid = self._handles.allocate()
            except ValueError as error:
                raise Failure(f"Failed to allocate a net_cls handle: {error}") from None
            log.info("%s: allocated net_cls classid %#x", key, info.classid)
        limits = self._limits(key, config.resources, _scalar_limits(config.limits))
        return self.runtime.pool.run(self._set_up, cgroup, limits, info.classid).then(
            defer(self.pid, lambda watcher: self._prepared(key, watcher)))

    def _prepared(self, key: str, watcher: OomWatcher | None) -> None:
        info = self._infos.get(key)
        if info is None:
            if watcher is not None:
                watcher.close()
            raise Failure("Container destroyed while preparing its cgroups")
        info.hard_limit_set = True
        if watcher is not None:
            self._watch_oom(key, info, watcher)

    def _set_up(self, cgroup: str, limits: Limits, classid: int | None) -> OomWatcher | None:
        """Pool: creates the container's cgroups and writes its limits."""
        try:
            return self._create_and_limit(cgroup, limits, classid)
        except CgroupError as error:
            raise Failure(f"Failed to prepare the cgroups: {error}") from None

    def _create_and_limit(self, cgroup: str, limits: Limits,
                          classid: int | None) -> OomWatcher | None:
        if self.version is Version.V1:
            for hierarchy in self._hierarchies():
                cgroups.create(hierarchy, cgroup)
        else:
            cgroups.create(self._hierarchy_flag, cgroup, self._controllers())
            cgroups.create(self._hierarchy_flag, cgroups.leaf_cgroup(cgroup))
        self._apply(cgroup, limits, first=True)
        if self._pids:
            cgroups.write(self._at["pids"], cgroup, "pids.max",
                          str(self._pids_limit) if self._pids_limit > 0 else "max")
        if classid is not None:
            cgroups.write(self._at["net_cls"], cgroup, "net_cls.classid", str(classid))
        if self._mem:
            return OomWatcher(self._at["memory"], cgroup, self.version)
        return None

    def _create_v2_placement(self, cgroup: str) -> None:
        try:
            cgroups.create(self._hierarchy_flag, cgroups.leaf_cgroup(cgroup))
        except CgroupError as error:
            raise Failure(f"Failed to prepare the cgroups: {error}") from None

    # ============================================================= isolate
    def isolate(self, container_id: ContainerID,  # type: ignore[override]
                pid: int) -> Future[None]:
        key = container_key(container_id)
        info = self._infos.get(key)
        if info is not None:
            targets = ([(self._hierarchy_flag, cgroups.leaf_cgroup(info.cgroup))]
                       if self.version is Version.V2 else
                       [(h, info.cgroup) for h in self._hierarchies()])
        else:
            owner = self._owner(container_id)
            if owner is None:
                raise Failure(f"Failed to isolate container {key}: unknown container")
            # v1 nested container sharing its parent's cgroups: join them (those
            # that exist: subsystems added after the parent started are skipped).
            targets = [(h, owner.cgroup) for h in self._hierarchies()]
        return self.runtime.pool.run(_assign, targets, pid, info is None)

    def _owner(self, container_id: ContainerID) -> Info | None:
        """The record of the nearest ancestor with cgroups of its own."""
        current: ContainerID | None = container_id
        while current is not None:
            info = self._infos.get(container_key(current))
            if info is not None and not info.shared:
                return info
            current = current.parent if current.HasField("parent") else None
        return None

    # =============================================================== watch
    def watch(self, container_id: ContainerID) -> Future[ContainerLimitation]:
        info = self._infos.get(container_key(container_id))
        if info is not None and not info.shared:
            return info.limitation.future
        if container_id.HasField("parent") and self._owner(container_id) is not None:
            return Future()  # limited through its parent
        raise Failure(f"Unknown container {container_key(container_id)}")

    def _watch_oom(self, key: str, info: Info, watcher: OomWatcher) -> None:
        """Registers `watcher` on the IO loop; an OOM comes back to `_oomed`."""
        info.oom = watcher
        io = self.runtime.io
        oomed = defer(self.pid, lambda: self._oomed(key, watcher))

        def readable() -> None:
            if watcher.closed or watcher.gone:
                return
            try:
                fired = watcher.check()
            except Exception:  # noqa: BLE001 - keep the IO loop alive
                log.exception("%s: OOM check failed", key)
                fired = False
            if fired or watcher.gone:
                io.loop.remove_reader(watcher.fileno())
            if fired:
                oomed()

        def register() -> None:
            if watcher.closed:
                return  # cleaned up before we got here (closing runs on this thread too)
            io.loop.add_reader(watcher.fileno(), readable)
            readable()  # an OOM before the watch started

        io.call_soon(register)

    def _stop_oom_watch(self, info: Info) -> None:
        watcher, info.oom = info.oom, None
        if watcher is None:
            return
        io = self.runtime.io

        def close() -> None:
            if not watcher.closed:
                io.loop.remove_reader(watcher.fileno())
                watcher.close()

        io.call_soon(close)

    def _oomed(self, key: str, watcher: OomWatcher) -> Future[None] | None:
        info = self._infos.get(key)
        if info is None or info.oom is not watcher:
            log.info("%s: OOM detected for a terminated container", key)
            return None
        log.info("%s: OOM detected", key)
        return self.runtime.pool.run(self._oom_report, info.cgroup).then(
            defer(self.pid, lambda report: self._limit_memory(key, report)))

    def _oom_report(self, cgroup: str) -> tuple[str, float]:
        """Pool: Mesos's limitation message, and the most memory used (MB)."""
        hierarchy = self._at["memory"]
        v1 = self.version is Version.V1
        message = "Memory limit exceeded: "
        try:
            limit = cgroups.read_int(hierarchy, cgroup,
                                     "memory.limit_in_bytes" if v1 else "memory.max")
            message += f"Requested: {Bytes(limit) if limit is not None else 'unlimited'} "
        except (CgroupError, ValueError) as error:
            log.error("Failed to read the memory limit of %s: %s", cgroup, error)
        used: int | None = None
        for control in (("memory.max_usage_in_bytes",) if v1 else ("memory.peak",
                                                                   "memory.current")):
            try:
                used = cgroups.read_int(hierarchy, cgroup, control)
                break
            except (CgroupError, ValueError):
                continue
        if used is not None:
            message += f"Maximum Used: {Bytes(used)}\n"
        try:
            message += f"\nMEMORY STATISTICS: \n{cgroups.read(hierarchy, cgroup, 'memory.stat')}\n"
        except CgroupError as error:
            log.error("Failed to read memory.stat of %s: %s", cgroup, error)
        return message, (used or 0) / MEGABYTE

    def _limit_memory(self, key: str, report: tuple[str, float]) -> None:
        info = self._infos.get(key)
        if info is None or not info.limitation.future.is_pending():
            return
        message, used_mb = report
        log.info("%s: %s", key, message.strip().splitlines()[0])
        mem = Resource(name="mem", type=Value.SCALAR)
        mem.scalar.value = used_mb
        info.limitation.set(ContainerLimitation(
            resources=[mem], message=message,
            reason=TaskStatus.REASON_CONTAINER_LIMITATION_MEMORY))

    # ============================================================== update
    def update(self, container_id: ContainerID,  # type: ignore[override]
               resources: list[Resource], limits: Mapping[str, Any]) -> Future[None] | None:
        key = container_key(container_id)
        info = self._infos.get(key)
        if info is None or info.shared:
            if container_id.HasField("parent") and self._owner(container_id) is not None:
                if resources or limits:
                    raise Failure(f"Cannot update container {key}: it shares its parent's "
                                  f"cgroups (share_cgroups), so it has no limits of its own")
                return None
            raise Failure(f"Failed to update container {key}: unknown container")
        values = {name: float(getattr(value, "value", value)) for name, value in limits.items()}
        update = self._limits(key, resources, values)
        first = not info.hard_limit_set
        return self.runtime.pool.run(self._apply, info.cgroup, update, first).then(
            lambda _: log.info("%s: updated cgroups limits", key))

    # =============================================================== usage
    def usage(self, container_id: ContainerID) -> Future[ResourceStatistics]:
        key = container_key(container_id)
        info = self._infos.get(key)
        if info is None or info.shared:
            if container_id.HasField("parent") and self._owner(container_id) is not None:
                return Future.ready(ResourceStatistics(timestamp=time.time()))
            raise Failure(f"Unknown container {key}")
        return self.runtime.pool.run(self._statistics, info.cgroup)

    # ============================================================== status
    def status(self, container_id: ContainerID) -> ContainerStatus:
        info = self._infos.get(container_key(container_id))
        if info is None or info.shared:
            owner = self._owner(container_id) if container_id.HasField("parent") else None
            if owner is None:
                raise Failure(f"Unknown container {container_key(container_id)}")
            info = owner
        result = ContainerStatus()
        if info.classid is not None:
            result.cgroup_info.net_cls.classid = info.classid
        return result

    # ============================================================= cleanup
    def cleanup(self, container_id: ContainerID) -> Future[None] | None:  # type: ignore[override]
        key = container_key(container_id)
        info = self._infos.get(key)
        if info is None:
            return None
        return settled(self._late_oom(key, info)).then(
            defer(self.pid, lambda _: self._cleanup(key, info)))

    def _late_oom(self, key: str, info: Info) -> Future[None]:
        """Reports an OOM whose notification has not arrived yet.

        The OOM-killed process's exit can overtake the notification of the
        OOM; the kernel's counters still tell, so the termination says why.
        """
        if info.oom is None or not info.limitation.future.is_pending():
            return Future.ready(None)
        hierarchy, cgroup = self._at["memory"], info.cgroup

        def report() -> tuple[str, float] | None:
            if not cgroups.oom_recorded(hierarchy, cgroup, self.version):
                return None
            return self._oom_report(cgroup)

        return self.runtime.pool.run(report).then(defer(
            self.pid, lambda found: self._limit_memory(key, found) if found else None))

    def _cleanup(self, key: str, info: Info) -> Future[None]:
        self._stop_oom_watch(info)
        if info.limitation.future.is_pending():
            info.limitation.discard()
        hierarchies = self._hierarchies()

        def forget(_: Any) -> None:
            if self._infos.get(key) is info:
                del self._infos[key]
            if info.classid is not None and self._handles is not None:
                self._handles.free(info.classid)

        done = self.runtime.pool.run(self._destroy_cgroups, info.cgroup, hierarchies)
        done.on_any(defer(self.pid, forget))
        return done.then(lambda _: log.info("%s: removed cgroup %s", key, info.cgroup))

    def _destroy_cgroups(self, cgroup: str, hierarchies: list[str]) -> None:
        """Pool: kills what is left in the container's cgroups, then removes them."""
        deadline = time.monotonic() + self._destroy_timeout
        errors = []
        for hierarchy in hierarchies:
            try:
                left = cgroups.processes(hierarchy, cgroup, recursive=True)
                if left:
                    log.warning("Killing %d process(es) left in cgroup %s: %s", len(left),
                                cgroups.path(hierarchy, cgroup), left[:10])
                    cgroups.kill_all(hierarchy, cgroup, max(deadline - time.monotonic(), 1.0))
                cgroups.remove(hierarchy, cgroup, max(deadline - time.monotonic(), 1.0))
            except CgroupError as error:
                errors.append(str(error))
        if errors:
            raise Failure("Failed to destroy cgroups: " + "; ".join(errors))

    def finalize(self) -> None:
        for info in self._infos.values():
            self._stop_oom_watch(info)


# ================================================================== helpers
def _log_orphan_failure(key: str, message: str) -> None:
    log.error("%s: orphan cgroup cleanup failed: %s", key, message)


def _shares_cgroups(info: ContainerInfo) -> bool:
    # The proto's default is true: unset means shared.
    return info.linux_info.share_cgroups


def _assign(targets: list[tuple[str, str]], pid: int, skip_missing: bool) -> None:
    for hierarchy, cgroup in targets:
        if skip_missing and not cgroups.exists(hierarchy, cgroup):
            continue
        try:
            cgroups.assign(hierarchy, cgroup, pid)
        except CgroupError as error:
            raise Failure(f"Failed to assign pid {pid} to its cgroup: {error}") from None
