"""Linux control groups, v1 and v2: layout, lifecycle, statistics, OOM events.

Blocking and synchronous by contract: every function here reads or writes
cgroupfs (fast, but a syscall each), and `kill_all`/`remove` wait for the
kernel (for processes to die, for a busy cgroup to become removable). Callers
run them on the runtime's blocking pool, or a few quick ones (`exists`,
`read`, `assign`) on an actor thread. The waits are on kernel notifications
where there is one (pidfds, `cgroup.events`), and short bounded pauses
otherwise (`_pause`); nothing here waits without a deadline. No actors, no
threads of its own.

Names: `hierarchy` is the absolute path where a hierarchy is mounted (a v1
subsystem's mount, or the v2 mount); `cgroup` is a path relative to it
("mesos/c1"). A v1 host has one hierarchy per subsystem (or co-mounted
subsystems, `cpu,cpuacct`), found through /proc/self/mountinfo; a v2 host has
one, `/sys/fs/cgroup`. A hybrid host (v1 controllers, an empty cgroup2 at
`/sys/fs/cgroup/unified`) is v1, as Mesos sees it.

Container layout, shared with the Linux launcher (Mesos's paths): a container
`c` has the cgroup `<root>/c`; a nested one `<root>/c/mesos/n` (recursively);
on v2 its processes live in the `leaf` child of that cgroup (the
no-internal-process rule), so that nested cgroups can sit beside it.

OOM events: `OomWatcher` gives a file descriptor to register on an event loop
(a v1 eventfd on `memory.oom_control`, a v2 inotify watch on
`memory.events.local`) and `check()` to call when it is readable.
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import errno
import logging
import os
import select
import signal
import threading
import time
from typing import Callable, Iterable, Iterator

from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID

log = logging.getLogger(__name__)

DEFAULT_HIERARCHY = "/sys/fs/cgroup"
SEPARATOR = "mesos"  # between a container's cgroup and its nested containers'
LEAF = "leaf"  # v2: the child cgroup holding a container's own processes
AGENT = "agent"  # v2 (Mesos HEAD): `<root>/agent` holds the agent itself
V1_AGENT = "slave"  # v1 (Mesos 1.11): `<root>/slave`, `--agent_subsystems`

USER_HZ = os.sysconf("SC_CLK_TCK")


class Version(enum.Enum):
    V1 = 1
    V2 = 2


class CgroupError(Exception):
    """A cgroup operation failed; the message names the cgroup and the cause."""


# ==================================================================== mounts
@dataclasses.dataclass(frozen=True)
class Mount:
    """A cgroup filesystem mount, from /proc/self/mountinfo."""

    point: str
    root: str  # the path inside the filesystem that is mounted ("/" unless a bind)
    fstype: str  # "cgroup" (v1) or "cgroup2"
    options: frozenset[str]  # super options: the v1 subsystems, "name=systemd", ...

    @property
    def subsystems(self) -> frozenset[str]:
        if self.fstype != "cgroup":
            return frozenset()
        return frozenset(o for o in self.options if "=" not in o and o not in _V1_NON_SUBSYSTEMS)


_V1_NON_SUBSYSTEMS = {"rw", "ro", "noprefix", "xattr", "clone_children", "cpuset_v2_mode",
                      "favordynmods", "none"}


def mounts(mountinfo: str = "/proc/self/mountinfo") -> list[Mount]:
    """Every cgroup (v1) and cgroup2 mount, in mount order."""
    found = []
    with open(mountinfo) as lines:
        for line in lines:
            head, _, tail = line.partition(" - ")
            fields, rest = head.split(), tail.split()
            if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
                continue
            found.append(Mount(point=_unescape(fields[4]), root=_unescape(fields[3]),
                               fstype=rest[0], options=frozenset(rest[2].split(","))))
    return found


def _unescape(text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (\040).
    if "\\" not in text:
        return text
    return text.encode().decode("unicode_escape").encode("latin-1").decode()


def detect(hierarchy: str = DEFAULT_HIERARCHY) -> Version:
    """V2 only when `hierarchy` itself is a cgroup2 mount (a pure v2 host)."""
    point = os.path.realpath(hierarchy)
    for mount in mounts():
        if mount.point == point and mount.fstype == "cgroup2":
            return Version.V2
    return Version.V1


def subsystems_enabled() -> set[str]:
    """The v1 subsystems the kernel offers (/proc/cgroups, `enabled` column)."""
    enabled = set()
    with open("/proc/cgroups") as table:
        for line in table:
            if line.startswith("#"):
                continue
            fields = line.split()
            if len(fields) >= 4 and fields[3] == "1":
                enabled.add(fields[0])
    return enabled


def hierarchy_of(subsystem: str) -> str | None:
    """Where the v1 `subsystem` is mounted (its whole hierarchy), or None."""
    for mount in mounts():
        if mount.fstype == "cgroup" and mount.root == "/" and subsystem in mount.subsystems:
            return mount.point
    return None


def mount_v1(target: str, subsystem: str) -> None:
    """Mounts the v1 hierarchy of `subsystem` at `target` (created if absent).

    Only for a subsystem that is not mounted anywhere yet (Mesos does this
    for the subsystems its isolation needs).
    """
    os.makedirs(target, exist_ok=True)
    if _libc.mount(b"cgroup", target.encode(), b"cgroup", 0, subsystem.encode()) != 0:
        error = ctypes.get_errno()
        raise CgroupError(f"Failed to mount the '{subsystem}' hierarchy at '{target}': "
                          f"{os.strerror(error)}")


def unmount(target: str) -> None:
    """Unmounts `target` (a hierarchy this process mounted; tests only)."""
    if _libc.umount2(target.encode(), 0) != 0:
        error = ctypes.get_errno()
        raise CgroupError(f"Failed to unmount '{target}': {os.strerror(error)}")


# ===================================================== container cgroup paths
def container_cgroup(root: str, container_id: ContainerID) -> str:
    """`<root>/<id>`, or `<root>/<parent>/mesos/<id>` for a nested container."""
    if container_id.HasField("parent"):
        return f"{container_cgroup(root, container_id.parent)}/{SEPARATOR}/{container_id.value}"
    return f"{root.strip('/')}/{container_id.value}"


def leaf_cgroup(cgroup: str) -> str:
    """v2: the cgroup that holds the container's own processes."""
    return f"{cgroup.rstrip('/')}/{LEAF}"


def parse_container_cgroup(root: str, cgroup: str) -> ContainerID | None:
    """The container whose cgroup `cgroup` is, or None (root, leaf, agent, foreign)."""
    root, cgroup = root.strip("/"), cgroup.strip("/")
    if cgroup != root and not cgroup.startswith(root + "/"):
        return None
    tokens = [t for t in cgroup[len(root):].split("/") if t]
    if not tokens or (len(tokens) == 1 and tokens[0] in (AGENT, V1_AGENT)):
        return None
    current: ContainerID | None = None
    for index, token in enumerate(tokens):
        if index % 2:  # a separator is expected here
            if token != SEPARATOR:
                return None
            continue
        child = ContainerID(value=token)
        if current is not None:
            child.parent.CopyFrom(current)
        current = child
    if len(tokens) % 2 == 0:  # ends on a separator: `<c>/mesos` is not a container
        return None
    return current


def container_ids_under(hierarchy: str, root: str) -> list[ContainerID]:
    """Containers that have a cgroup below `<hierarchy>/<root>`, parents first."""
    found = []
    for cgroup in _walk(hierarchy, root.strip("/")):
        container_id = parse_container_cgroup(root, cgroup)
        if container_id is not None:
            found.append(container_id)
    return found


# ================================================================ lifecycle
def path(hierarchy: str, cgroup: str) -> str:
    relative = cgroup.strip("/")
    return os.path.join(hierarchy, relative) if relative else hierarchy


def exists(hierarchy: str, cgroup: str) -> bool:
    return os.path.isdir(path(hierarchy, cgroup))


def create(hierarchy: str, cgroup: str, controllers: Iterable[str] = (),
           exist_ok: bool = True) -> None:
    """Creates `cgroup` and any missing parents.

    v2: `controllers` are enabled in the `cgroup.subtree_control` of every
    ancestor below the mount (see `enable_controllers`), so `cgroup` gets
    their interface files.
    """
    target = path(hierarchy, cgroup)
    if not exist_ok and os.path.isdir(target):
        raise CgroupError(f"The cgroup '{target}' already exists")
    controllers = list(controllers)
    if controllers:
        enable_controllers(hierarchy, cgroup, controllers, create_missing=True)
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as error:
        raise CgroupError(f"Failed to create the cgroup '{target}': {error.strerror}") from None


def enable_controllers(hierarchy: str, cgroup: str, controllers: Iterable[str],
                       create_missing: bool = False) -> None:
    """v2: makes `controllers` available in `cgroup`.

    Writes `+<controller>` into the `cgroup.subtree_control` of each ancestor
    of `cgroup` below the mount (the mount's own is left as the host set it),
    top down, only where it is not enabled yet; missing ancestors are created
    with `create_missing`. Raises, before creating anything below it, if a
    parent does not offer one (its `cgroup.subtree_control` lacks it).
    """
    wanted = list(dict.fromkeys(controllers))
    parts = [p for p in cgroup.strip("/").split("/") if p]
    for depth in range(1, len(parts)):
        parent, ancestor = "/".join(parts[:depth - 1]), "/".join(parts[:depth])
        offered = read(hierarchy, parent, "cgroup.subtree_control").split()
        missing = [c for c in wanted if c not in offered]
        if missing:
            raise CgroupError(
                f"The cgroup v2 controller(s) {', '.join(missing)} are not available below "
                f"'{path(hierarchy, parent)}': its cgroup.subtree_control enables "
                f"{' '.join(offered) or 'none'}")
        directory = path(hierarchy, ancestor)
        if create_missing and not os.path.isdir(directory):
            try:
                os.mkdir(directory)
            except FileExistsError:
                pass
            except OSError as error:
                raise CgroupError(f"Failed to create the cgroup '{directory}': "
                                  f"{error.strerror}") from None
        enabled = read(hierarchy, ancestor, "cgroup.subtree_control").split()
        todo = [c for c in wanted if c not in enabled]
        if todo:
            write(hierarchy, ancestor, "cgroup.subtree_control",
                  " ".join(f"+{c}" for c in todo))


def controllers(hierarchy: str, cgroup: str = "") -> list[str]:
    """v2: the controllers `cgroup` may use (its `cgroup.controllers`)."""
    return read(hierarchy, cgroup, "cgroup.controllers").split()


def descendants(hierarchy: str, cgroup: str) -> list[str]:
    """Every cgroup below `cgroup` (not itself), deepest first."""
    below = list(_walk(hierarchy, cgroup.strip("/")))[1:]
    return below[::-1]


def _walk(hierarchy: str, cgroup: str) -> Iterator[str]:
    """`cgroup` and every cgroup below it, parents first (missing: nothing)."""
    top = path(hierarchy, cgroup)
    if not os.path.isdir(top):
        return
    for directory, subdirectories, _ in os.walk(top):
        subdirectories.sort()
        yield os.path.relpath(directory, hierarchy)


def assign(hierarchy: str, cgroup: str, pid: int) -> None:
    """Moves process `pid` (all its threads) into `cgroup`."""
    try:
        write(hierarchy, cgroup, "cgroup.procs", str(pid))
    except CgroupError as error:
        raise CgroupError(f"Failed to move pid {pid} into {error}") from None


def processes(hierarchy: str, cgroup: str, recursive: bool = False) -> list[int]:
    """The pids in `cgroup` (zombies excluded), sorted; [] if it does not exist."""
    return _ids(hierarchy, cgroup, "cgroup.procs", recursive)


def threads(hierarchy: str, cgroup: str, recursive: bool = False) -> list[int]:
    """The thread ids in `cgroup` (v1 `tasks`, v2 `cgroup.threads`)."""
    control = "tasks" if os.path.exists(os.path.join(path(hierarchy, cgroup), "tasks")) \
        else "cgroup.threads"
    return _ids(hierarchy, cgroup, control, recursive)


def _ids(hierarchy: str, cgroup: str, control: str, recursive: bool) -> list[int]:
    cgroups = list(_walk(hierarchy, cgroup.strip("/"))) if recursive else [cgroup]
    ids: set[int] = set()
    for each in cgroups:
        try:
            text = read(hierarchy, each, control)
        except CgroupError:
            if exists(hierarchy, each):
                raise
            continue  # removed meanwhile
        ids.update(int(line) for line in text.split())
    return sorted(ids)


def read(hierarchy: str, cgroup: str, control: str) -> str:
    target = os.path.join(path(hierarchy, cgroup), control)
    try:
        with open(target) as file:
            return file.read()
    except OSError as error:
        raise CgroupError(f"Failed to read '{target}': {error.strerror}") from None


def write(hierarchy: str, cgroup: str, control: str, value: str) -> None:
    target = os.path.join(path(hierarchy, cgroup), control)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as error:
        raise CgroupError(f"Failed to open '{target}': {error.strerror}") from None
    try:
        os.write(fd, value.encode())
    except OSError as error:
        raise CgroupError(f"Failed to write '{value}' to '{target}': {error.strerror}") from None
    finally:
        os.close(fd)


def has_control(hierarchy: str, cgroup: str, control: str) -> bool:
    return os.path.exists(os.path.join(path(hierarchy, cgroup), control))


# ============================================================ freeze and kill
def freeze(hierarchy: str, cgroup: str, timeout: float = 5.0) -> bool:
    """Freezes `cgroup` and its descendants; True once frozen, False on timeout.

    v1 uses `freezer.state` (a freezer hierarchy), v2 `cgroup.freeze`.
    """
    deadline = time.monotonic() + timeout
    if has_control(hierarchy, cgroup, "freezer.state"):
        write(hierarchy, cgroup, "freezer.state", "FROZEN")
        return _until(lambda: read(hierarchy, cgroup, "freezer.state").strip() == "FROZEN",
                      deadline)
    write(hierarchy, cgroup, "cgroup.freeze", "1")
    return _wait_events(hierarchy, cgroup, "frozen", "1", deadline)


def thaw(hierarchy: str, cgroup: str, timeout: float = 5.0) -> bool:
    """Thaws `cgroup`; True once thawed, False on timeout."""
    deadline = time.monotonic() + timeout
    if has_control(hierarchy, cgroup, "freezer.state"):
        write(hierarchy, cgroup, "freezer.state", "THAWED")
        return _until(lambda: read(hierarchy, cgroup, "freezer.state").strip() == "THAWED",
                      deadline)
    write(hierarchy, cgroup, "cgroup.freeze", "0")
    return _wait_events(hierarchy, cgroup, "frozen", "0", deadline)


def populated(hierarchy: str, cgroup: str) -> bool:
    """Whether any live process is in `cgroup` or below it."""
    if has_control(hierarchy, cgroup, "cgroup.events"):
        return _events(hierarchy, cgroup).get("populated") == "1"
    return bool(processes(hierarchy, cgroup, recursive=True))


def kill_all(hierarchy: str, cgroup: str, timeout: float = 60.0) -> None:
    """SIGKILLs every process in `cgroup` and below; returns once none is left.

    v2: `cgroup.kill`, then waits for `populated 0` in `cgroup.events`.
    v1 freezer hierarchy (or v2 without `cgroup.kill`): freeze, SIGKILL every
    process, thaw, wait for them to die, again until empty. Other v1
    hierarchies: SIGKILL and wait, until empty (a fork racing a round is
    caught by the next). Raises CgroupError if processes survive `timeout`.
    A missing cgroup is empty.
    """
    if not exists(hierarchy, cgroup):
        return
    deadline = time.monotonic() + timeout
    if has_control(hierarchy, cgroup, "cgroup.kill"):
        while True:
            try:
                write(hierarchy, cgroup, "cgroup.kill", "1")
            except CgroupError:
                if not exists(hierarchy, cgroup):
                    return
                raise
            if _wait_events(hierarchy, cgroup, "populated", "0",
                            min(deadline, time.monotonic() + 1.0)):
                return
            if time.monotonic() >= deadline:
                break
    else:
        can_freeze = has_control(hierarchy, cgroup, "freezer.state") or has_control(
            hierarchy, cgroup, "cgroup.freeze")
        while time.monotonic() < deadline:
            pids = processes(hierarchy, cgroup, recursive=True)
            if not pids:
                return
            frozen = can_freeze and freeze(hierarchy, cgroup, min(1.0, _left(deadline)))
            pidfds = _signal_all(pids, signal.SIGKILL)
            if can_freeze:
                thaw(hierarchy, cgroup, _left(deadline))
            _wait_exited(pidfds, min(deadline, time.monotonic() + (1.0 if frozen else 0.1)))
    left = processes(hierarchy, cgroup, recursive=True)
    if left or populated(hierarchy, cgroup):
        raise CgroupError(f"{len(left)} process(es) survived SIGKILL in "
                          f"'{path(hierarchy, cgroup)}' after {timeout:g}s: {left[:10]}")


def _signal_all(pids: list[int], signum: int) -> list[int]:
    """Signals `pids`; returns pidfds of those signalled (to wait for their exit)."""
    pidfds = []
    for pid in pids:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue  # already gone
        try:
            signal.pidfd_send_signal(pidfd, signum)
            pidfds.append(pidfd)
        except OSError:
            os.close(pidfd)
    return pidfds


def _wait_exited(pidfds: list[int], deadline: float) -> None:
    """Waits until every pidfd is readable (its process exited) or the deadline."""
    poller = select.poll()
    pending = set(pidfds)
    for pidfd in pidfds:
        poller.register(pidfd, select.POLLIN)
    try:
        while pending:
            left = _left(deadline)
            if left <= 0:
                return
            for fd, _ in poller.poll(left * 1000):
                poller.unregister(fd)
                pending.discard(fd)
    finally:
        for pidfd in pidfds:
            os.close(pidfd)


def _events(hierarchy: str, cgroup: str) -> dict[str, str]:
    fields = (line.split() for line in read(hierarchy, cgroup, "cgroup.events").splitlines())
    return {f[0]: f[1] for f in fields if len(f) == 2}


def _wait_events(hierarchy: str, cgroup: str, key: str, value: str, deadline: float) -> bool:
    """v2: waits until `cgroup.events` shows `key value` (the kernel notifies
    changes with POLLPRI); True if it did before the deadline."""
    target = os.path.join(path(hierarchy, cgroup), "cgroup.events")
    try:
        fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return key == "populated" and value == "0"  # removed: nothing left in it
    try:
        poller = select.poll()
        poller.register(fd, select.POLLPRI)
        while True:
            os.lseek(fd, 0, os.SEEK_SET)
            content = os.read(fd, 4096).decode()
            if f"{key} {value}" in content.splitlines():
                return True
            left = _left(deadline)
            if left <= 0:
                return False
            # A short cap: some kernels miss a notification between the read and the poll.
            poller.poll(min(left, 0.1) * 1000)
    except OSError as error:
        if error.errno == errno.ENODEV or not os.path.exists(target):
            return key == "populated" and value == "0"
        raise CgroupError(f"Failed to watch '{target}': {error.strerror}") from None
    finally:
        os.close(fd)


def _until(condition: Callable[[], bool], deadline: float) -> bool:
    delay = 0.001
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        _pause(min(delay, _left(deadline)))
        delay = min(delay * 2, 0.1)


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _pause(seconds: float) -> None:
    """Blocks the calling (pool) thread briefly: used where the kernel offers
    no notification (v1 freezer state, EBUSY on rmdir)."""
    threading.Event().wait(seconds)


# =================================================================== removal
def remove(hierarchy: str, cgroup: str, timeout: float = 5.0) -> None:
    """Removes `cgroup` and every cgroup below it, deepest first.

    Refuses (CgroupError) while any process is still inside: kill them first
    (`kill_all`). Retries EBUSY (the kernel may lag behind the last exit) with
    a growing pause until `timeout`. A missing cgroup is already removed.
    """
    if not exists(hierarchy, cgroup):
        return
    deadline = time.monotonic() + timeout
    left = processes(hierarchy, cgroup, recursive=True)
    if left:
        raise CgroupError(f"Not removing '{path(hierarchy, cgroup)}': {len(left)} process(es) "
                          f"still in it: {left[:10]}")
    for each in descendants(hierarchy, cgroup) + [cgroup.strip("/")]:
        _rmdir(hierarchy, each, deadline)


def _rmdir(hierarchy: str, cgroup: str, deadline: float) -> None:
    target = path(hierarchy, cgroup)
    delay = 0.001
    while True:
        try:
            os.rmdir(target)
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY:
                raise CgroupError(f"Failed to remove the cgroup '{target}': "
                                  f"{error.strerror}") from None
            if processes(hierarchy, cgroup, recursive=True):
                raise CgroupError(f"Not removing '{target}': processes moved into it")
            if time.monotonic() >= deadline:
                raise CgroupError(f"Failed to remove the cgroup '{target}': still busy "
                                  f"(EBUSY) after retrying") from None
        _pause(min(delay, _left(deadline)))
        delay = min(delay * 2, 0.05)


def destroy(hierarchy: str, cgroup: str, timeout: float = 60.0) -> None:
    """`kill_all` then `remove`, within `timeout` overall."""
    deadline = time.monotonic() + timeout
    kill_all(hierarchy, cgroup, timeout)
    remove(hierarchy, cgroup, max(_left(deadline), 1.0))


# ================================================================ statistics
@dataclasses.dataclass
class CpuStats:
    """CPU time and CFS throttling; None where the kernel does not report it."""

    user_secs: float | None = None
    system_secs: float | None = None
    usage_secs: float | None = None
    nr_periods: int | None = None
    nr_throttled: int | None = None
    throttled_secs: float | None = None


@dataclasses.dataclass
class PressureLine:
    avg10: float
    avg60: float
    avg300: float
    total_usecs: int


@dataclasses.dataclass
class Pressure:
    """PSI (`cpu.pressure`, `memory.pressure`, `io.pressure`)."""

    some: PressureLine | None = None
    full: PressureLine | None = None


def parse_keyed(text: str) -> dict[str, int]:
    """`key value` lines (cpu.stat, memory.stat, memory.events, pids.events...)."""
    result = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2:
            try:
                result[fields[0]] = int(fields[1])
            except ValueError:
                continue
    return result


def parse_cpuacct_stat(text: str) -> CpuStats:
    """v1 `cpuacct.stat`: `user`/`system` in USER_HZ ticks."""
    values = parse_keyed(text)
    stats = CpuStats()
    if "user" in values:
        stats.user_secs = values["user"] / USER_HZ
    if "system" in values:
        stats.system_secs = values["system"] / USER_HZ
    return stats


def parse_cpu_stat(text: str) -> CpuStats:
    """`cpu.stat`, either version.

    v1: nr_periods, nr_throttled, throttled_time (ns). v2: usage_usec,
    user_usec, system_usec, and with the cpu controller nr_periods,
    nr_throttled, throttled_usec.
    """
    values = parse_keyed(text)
    stats = CpuStats(nr_periods=values.get("nr_periods"),
                     nr_throttled=values.get("nr_throttled"))
    if "throttled_usec" in values:
        stats.throttled_secs = values["throttled_usec"] / 1e6
    elif "throttled_time" in values:
        stats.throttled_secs = values["throttled_time"] / 1e9
    for key, attribute in (("usage_usec", "usage_secs"), ("user_usec", "user_secs"),
                           ("system_usec", "system_secs")):
        if key in values:
            setattr(stats, attribute, values[key] / 1e6)
    return stats


def parse_pressure(text: str) -> Pressure:
    """`some avg10=0.00 avg60=0.00 avg300=0.00 total=0` (and a `full` line)."""
    pressure = Pressure()
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind not in ("some", "full"):
            continue
        fields = dict(item.split("=", 1) for item in rest.split() if "=" in item)
        try:
            parsed = PressureLine(float(fields["avg10"]), float(fields["avg60"]),
                                  float(fields["avg300"]), int(fields["total"]))
        except (KeyError, ValueError):
            continue
        setattr(pressure, kind, parsed)
    return pressure


def parse_limit(text: str) -> int | None:
    """A byte or count limit: None for unlimited (`max`, or v1's huge value)."""
    text = text.strip()
    if text == "max" or text == "-1":
        return None
    value = int(text)
    return None if value >= _V1_UNLIMITED else value


# v1 reports "no limit" as PAGE_COUNTER_MAX pages in bytes (~2**63, page aligned).
_V1_UNLIMITED = 2**62


def read_int(hierarchy: str, cgroup: str, control: str) -> int | None:
    """A single-number control (`memory.current`, `pids.max`...); None for `max`."""
    return parse_limit(read(hierarchy, cgroup, control))


def read_keyed(hierarchy: str, cgroup: str, control: str) -> dict[str, int]:
    return parse_keyed(read(hierarchy, cgroup, control))


def read_pressure(hierarchy: str, cgroup: str, resource: str) -> Pressure | None:
    """v2 PSI of `resource` (cpu, memory, io); None where PSI is unavailable."""
    try:
        return parse_pressure(read(hierarchy, cgroup, f"{resource}.pressure"))
    except CgroupError:
        return None


# ================================================================ OOM events
class OomWatcher:
    """Tells, without blocking, that the kernel hit a memory cgroup's limit.

    v1: an eventfd registered on `memory.oom_control` through
    `cgroup.event_control`. v2: an inotify watch on `memory.events.local`
    (its `oom` counter counts this cgroup's own limit being hit; the plain
    `memory.events` also counts descendants'), read once right away so that
    an OOM before the watch started is not missed.

    Register `fileno()` for reading on an event loop; when readable, call
    `check()`: True means an OOM happened, `gone` that the cgroup was
    removed (stop watching). `close()` releases the descriptors. Not
    thread-safe: use it from one thread (the IO loop).
    """

    def __init__(self, hierarchy: str, cgroup: str, version: Version) -> None:
        self.hierarchy, self.cgroup, self.version = hierarchy, cgroup, version
        self.gone = False
        self._fd = -1
        self._fds: list[int] = []
        directory = path(hierarchy, cgroup)
        try:
            if version is Version.V1:
                control = os.open(os.path.join(directory, "memory.oom_control"),
                                  os.O_RDONLY | os.O_CLOEXEC)
                self._fds.append(control)
                self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                self._fds.append(self._fd)
                write(hierarchy, cgroup, "cgroup.event_control", f"{self._fd} {control}")
            else:
                events = os.path.join(directory, "memory.events.local")
                if not os.path.exists(events):
                    events = os.path.join(directory, "memory.events")
                self._events = events
                self._fd = _inotify_init()
                self._fds.append(self._fd)
                if _libc.inotify_add_watch(self._fd, events.encode(), _IN_MODIFY) < 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"inotify_add_watch({events}): {os.strerror(error)}")
        except (OSError, CgroupError) as error:
            self.close()
            raise CgroupError(f"Failed to watch OOM events of '{directory}': {error}") from None

    def fileno(self) -> int:
        """The descriptor to wait on for reading; -1 once closed."""
        return self._fd

    @property
    def closed(self) -> bool:
        return not self._fds

    def check(self) -> bool:
        """Drains the descriptor; True if the cgroup hit its memory limit."""
        if self.gone or self.closed:
            return False
        signalled = self._drain()
        if not exists(self.hierarchy, self.cgroup):
            self.gone = True
            return False
        if self.version is Version.V1:
            return signalled
        try:
            with open(self._events) as file:
                counters = parse_keyed(file.read())
        except OSError:
            self.gone = True
            return False
        return counters.get("oom", 0) > 0 or (
            self._events.endswith("memory.events") and counters.get("oom_kill", 0) > 0)

    def _drain(self) -> bool:
        signalled = False
        while True:
            try:
                data = os.read(self._fd, 4096)
            except BlockingIOError:
                return signalled
            except OSError:
                return signalled
            if not data:
                return signalled
            signalled = True

    def close(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        self._fd = -1


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_IN_MODIFY = 0x00000002
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC


def _inotify_init() -> int:
    fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    if fd < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"inotify_init1: {os.strerror(error)}")
    return int(fd)
