"""mesos_py.linux.cgroups against the real kernel, and its parsers.

Kernel tests take the `cg` fixture, parametrized with the host's cgroup
version: their ids end in `[cgroup-v1]` on a v1 (or hybrid) host and
`[cgroup-v2]` on a pure v2 one, so `pytest tests/linux -k v2` selects them in
the cgroup2 guest (see test_cgroups_v2_guest.py). Each uses its own root
`mesos_test_<uuid>` and removes it, with whatever processes it holds, even on
failure; the last test checks that no test root is left anywhere.
"""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import subprocess
import time
from typing import Iterator

import pytest

from mesos_py.linux import cgroups
from mesos_py.linux.cgroups import CgroupError, OomWatcher, Version
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID

VERSION = cgroups.detect()
VERSION_ID = f"cgroup-{VERSION.name.lower()}"

from tests.agent import TEST_SESSION, unique_name  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")


# ================================================================ helpers
def new_root() -> str:
    return unique_name("cgroups")  # carries the session's id: see tests/conftest.py


def all_hierarchies() -> list[str]:
    """Every mounted cgroup hierarchy (v1 subsystems, named ones, cgroup2)."""
    return sorted({m.point for m in cgroups.mounts() if m.root == "/"})


def leftover_test_cgroups() -> list[str]:
    """This session's test cgroups (named after its id) still on the machine.

    Other test sessions may be running at the same time: their cgroups,
    named after their own ids, are theirs to check.
    """
    left = []
    for hierarchy in all_hierarchies():
        try:
            names = os.listdir(hierarchy)
        except OSError:
            continue
        for name in names:
            full = os.path.join(hierarchy, name)
            if name.startswith(f"mesos_test_{TEST_SESSION}_") and os.path.isdir(full):
                left.append(full)
    return left


def destroy_everywhere(root: str) -> None:
    """Kills what is left under `root` in every hierarchy, and removes it."""
    errors = []
    for hierarchy in all_hierarchies():
        try:
            cgroups.destroy(hierarchy, root, timeout=20)
        except CgroupError as error:
            errors.append(str(error))
    assert not errors, errors
    assert [h for h in all_hierarchies() if cgroups.exists(h, root)] == []


@dataclasses.dataclass
class Env:
    version: Version
    root: str
    memory: str
    pids: str
    cpu: str
    cpuacct: str
    freezer: str | None  # v1 only

    def hierarchies(self) -> list[str]:
        return sorted({h for h in (self.memory, self.pids, self.cpu, self.cpuacct, self.freezer)
                       if h is not None})


@pytest.fixture(params=[VERSION], ids=[VERSION_ID])
def cg(request: pytest.FixtureRequest) -> Iterator[Env]:
    root = new_root()
    if VERSION is Version.V2:
        mount = cgroups.DEFAULT_HIERARCHY
        env = Env(VERSION, root, mount, mount, mount, mount, None)
        cgroups.enable_controllers(mount, f"{root}/x", ["cpu", "memory", "pids"],
                                   create_missing=True)
    else:
        def at(subsystem: str) -> str:
            hierarchy = cgroups.hierarchy_of(subsystem)
            if hierarchy is None:
                pytest.skip(f"the v1 '{subsystem}' subsystem is not mounted")
            return hierarchy

        env = Env(VERSION, root, at("memory"), at("pids"), at("cpu"), at("cpuacct"),
                  at("freezer"))
    try:
        for hierarchy in env.hierarchies():
            cgroups.create(hierarchy, root)
        yield env
    finally:
        destroy_everywhere(root)


class Held:
    """A process the test starts that waits on stdin before exec'ing `command`,
    so it can be moved into a cgroup first."""

    def __init__(self, command: str) -> None:
        self.process = subprocess.Popen(["/bin/sh", "-c", f"read _; exec {command}"],
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.process.pid

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)


@pytest.fixture
def held() -> Iterator[list[Held]]:
    processes: list[Held] = []
    yield processes
    for process in processes:
        process.stop()


def start(held: list[Held], command: str) -> Held:
    process = Held(command)
    held.append(process)
    return process


def wait_for(predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.01)


def readable(fd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


# ============================================================ paths, parsers
def _id(*values: str) -> ContainerID:
    container_id = None
    for value in values:
        child = ContainerID(value=value)
        if container_id is not None:
            child.parent.CopyFrom(container_id)
        container_id = child
    assert container_id is not None
    return container_id


def test_container_cgroup_paths_follow_mesos() -> None:
    assert cgroups.container_cgroup("mesos", _id("c1")) == "mesos/c1"
    assert cgroups.container_cgroup("a/b", _id("c1", "n1")) == "a/b/c1/mesos/n1"
    assert cgroups.container_cgroup("mesos", _id("c", "n", "m")) == "mesos/c/mesos/n/mesos/m"
    assert cgroups.leaf_cgroup("mesos/c1") == "mesos/c1/leaf"
    for ids in (("c1",), ("c1", "n1"), ("c", "n", "m")):
        parsed = cgroups.parse_container_cgroup(
            "mesos", cgroups.container_cgroup("mesos", _id(*ids)))
        assert parsed == _id(*ids)
    for foreign in ("mesos", "mesos/agent", "mesos/slave", "mesos/c1/leaf", "mesos/c1/mesos",
                    "mesos/c1/other/n1", "other/c1", "mesos2/c1"):
        assert cgroups.parse_container_cgroup("mesos", foreign) is None, foreign


def test_parsers_of_statistics() -> None:
    cpuacct = cgroups.parse_cpuacct_stat(f"user {3 * cgroups.USER_HZ}\nsystem {cgroups.USER_HZ}\n")
    assert (cpuacct.user_secs, cpuacct.system_secs) == (3.0, 1.0)
    v1 = cgroups.parse_cpu_stat("nr_periods 10\nnr_throttled 4\nthrottled_time 2500000000\n"
                                "nr_bursts 0\n")
    assert (v1.nr_periods, v1.nr_throttled, v1.throttled_secs) == (10, 4, 2.5)
    assert v1.user_secs is None
    v2 = cgroups.parse_cpu_stat("usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\n"
                                "nr_periods 7\nnr_throttled 2\nthrottled_usec 500000\n")
    assert (v2.usage_secs, v2.user_secs, v2.system_secs) == (3.0, 2.0, 1.0)
    assert (v2.nr_periods, v2.nr_throttled, v2.throttled_secs) == (7, 2, 0.5)
    assert cgroups.parse_keyed("anon 4096\nfile 0\nbad line here\nx y\n") == {"anon": 4096,
                                                                               "file": 0}
    pressure = cgroups.parse_pressure("some avg10=1.50 avg60=0.25 avg300=0.00 total=1234\n"
                                      "full avg10=0.00 avg60=0.00 avg300=0.00 total=5\n")
    assert pressure.some == cgroups.PressureLine(1.5, 0.25, 0.0, 1234)
    assert pressure.full is not None and pressure.full.total_usecs == 5
    assert cgroups.parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").full is None
    assert cgroups.parse_limit("max\n") is None
    assert cgroups.parse_limit("9223372036854771712\n") is None  # v1 "unlimited"
    assert cgroups.parse_limit("33554432\n") == 33554432


HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 31 0:32 /some/child /mnt/bind rw,relatime - cgroup cgroup rw,memory
51 31 0:40 / /tmp/with\\040space rw,relatime - cgroup cgroup rw,net_cls
"""
PURE_V2 = "33 32 0:29 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"


def test_detect_and_hierarchies_from_mountinfo(tmp_path, monkeypatch) -> None:
    hybrid, pure = tmp_path / "hybrid", tmp_path / "pure"
    hybrid.write_text(HYBRID)
    pure.write_text(PURE_V2)
    real = cgroups.mounts
    monkeypatch.setattr(cgroups, "mounts", lambda mountinfo=str(hybrid): real(mountinfo))
    assert cgroups.detect("/sys/fs/cgroup") is Version.V1
    assert cgroups.hierarchy_of("cpuacct") == "/sys/fs/cgroup/cpu,cpuacct"
    assert cgroups.hierarchy_of("memory") == "/sys/fs/cgroup/memory"  # not the bind mount
    assert cgroups.hierarchy_of("net_cls") == "/tmp/with space"
    assert cgroups.hierarchy_of("systemd") is None and cgroups.hierarchy_of("pids") is None
    monkeypatch.setattr(cgroups, "mounts", lambda mountinfo=str(pure): real(mountinfo))
    assert cgroups.detect("/sys/fs/cgroup") is Version.V2


def test_detect_on_this_host() -> None:
    with open("/proc/self/mountinfo") as mountinfo:
        pure_v2 = any(line.split(" - ")[0].split()[4] == "/sys/fs/cgroup"
                      and line.split(" - ")[1].startswith("cgroup2 ") for line in mountinfo)
    assert cgroups.detect() is (Version.V2 if pure_v2 else Version.V1)


# =================================================================== kernel
def test_create_nested_and_remove_children_first(cg: Env) -> None:
    hierarchy = cg.memory
    cgroups.create(hierarchy, f"{cg.root}/a/b/c")
    cgroups.create(hierarchy, f"{cg.root}/a/d")
    cgroups.create(hierarchy, f"{cg.root}/a/d")  # exist_ok
    with pytest.raises(CgroupError, match="already exists"):
        cgroups.create(hierarchy, f"{cg.root}/a/d", exist_ok=False)
    assert cgroups.descendants(hierarchy, f"{cg.root}/a") == [
        f"{cg.root}/a/d", f"{cg.root}/a/b/c", f"{cg.root}/a/b"]
    cgroups.remove(hierarchy, f"{cg.root}/a")
    assert not cgroups.exists(hierarchy, f"{cg.root}/a")
    assert cgroups.exists(hierarchy, cg.root)
    cgroups.remove(hierarchy, f"{cg.root}/a")  # already gone


def test_container_ids_under_a_root(cg: Env) -> None:
    hierarchy = cg.memory
    for cgroup in ("c1", "c1/leaf", "c1/mesos/n1", "c1/mesos/n1/leaf", "c2", "agent",
                   "c2/unrelated"):
        cgroups.create(hierarchy, f"{cg.root}/{cgroup}")
    found = cgroups.container_ids_under(hierarchy, cg.root)
    assert found == [_id("c1"), _id("c1", "n1"), _id("c2")]


def test_assign_list_and_kill_all_with_descendants(cg: Env, held: list[Held]) -> None:
    # A shell with a background child and a threaded python, in a nested cgroup.
    process = start(held, "sh -c 'sleep 1000 & exec python3 -c \"import threading, time; "
                          "threading.Thread(target=time.sleep, args=(1000,)).start(); "
                          "time.sleep(1000)\"'")
    hierarchies = cg.hierarchies()
    for hierarchy in hierarchies:
        cgroups.create(hierarchy, f"{cg.root}/k/inner")
        cgroups.assign(hierarchy, f"{cg.root}/k/inner", process.pid)
    process.release()
    for hierarchy in hierarchies:
        wait_for(lambda: len(cgroups.processes(hierarchy, f"{cg.root}/k", recursive=True)) == 2,
                 timeout=60)
        assert cgroups.processes(hierarchy, f"{cg.root}/k") == []
        wait_for(lambda: len(cgroups.threads(hierarchy, f"{cg.root}/k", recursive=True)) >= 3,
                 timeout=60)
        assert cgroups.populated(hierarchy, f"{cg.root}/k")
    with pytest.raises(CgroupError, match="process"):
        cgroups.remove(cg.memory, f"{cg.root}/k")
    # v1: through the freezer in its hierarchy, by kill rounds in the others;
    # v2: cgroup.kill.
    kill_in = [cg.freezer] if cg.freezer else [cg.memory]
    for hierarchy in kill_in:
        started = time.monotonic()
        cgroups.kill_all(hierarchy, f"{cg.root}/k", timeout=10)
        assert time.monotonic() - started < 5
    process.process.wait(timeout=10)
    for hierarchy in hierarchies:
        assert cgroups.processes(hierarchy, f"{cg.root}/k", recursive=True) == []
        cgroups.remove(hierarchy, f"{cg.root}/k")
        assert not cgroups.exists(hierarchy, f"{cg.root}/k")


def test_kill_all_kills_in_a_cgroup_left_frozen_below(cg: Env, held: list[Held]) -> None:
    # An agent that dies between freezing a container and thawing it leaves
    # that cgroup frozen on its own: thawing its parent does not thaw it.
    if cg.freezer is None:
        pytest.skip("v2 kills through cgroup.kill, which reaches frozen processes")
    process = start(held, "sleep 1000")
    cgroups.create(cg.freezer, f"{cg.root}/kf/inner")
    cgroups.assign(cg.freezer, f"{cg.root}/kf/inner", process.pid)
    process.release()
    wait_for(lambda: os.readlink(f"/proc/{process.pid}/exe").endswith("sleep"))
    assert cgroups.freeze(cg.freezer, f"{cg.root}/kf/inner", timeout=10)
    cgroups.kill_all(cg.freezer, f"{cg.root}/kf", timeout=10)
    assert process.process.wait(timeout=10) == -signal.SIGKILL
    assert cgroups.processes(cg.freezer, f"{cg.root}/kf", recursive=True) == []


def test_kill_all_without_a_freezer(cg: Env, held: list[Held]) -> None:
    if cg.version is Version.V2:
        pytest.skip("v2 always has cgroup.kill or cgroup.freeze")
    process = start(held, "sh -c 'sleep 1000 & sleep 1000 & wait'")
    cgroups.create(cg.pids, f"{cg.root}/k")
    cgroups.assign(cg.pids, f"{cg.root}/k", process.pid)
    process.release()
    wait_for(lambda: len(cgroups.processes(cg.pids, f"{cg.root}/k")) == 3)
    cgroups.kill_all(cg.pids, f"{cg.root}/k", timeout=10)
    assert cgroups.processes(cg.pids, f"{cg.root}/k") == []


def test_kill_all_stops_a_fork_bomb_held_by_pids_max(cg: Env, held: list[Held]) -> None:
    process = start(held, "sh -c 'bomb() { bomb | bomb & }; bomb; sleep 1000'")
    target = cg.freezer or cg.pids
    for hierarchy in {cg.pids, target}:
        cgroups.create(hierarchy, f"{cg.root}/bomb")
    cgroups.write(cg.pids, f"{cg.root}/bomb", "pids.max", "24")
    for hierarchy in {cg.pids, target}:
        cgroups.assign(hierarchy, f"{cg.root}/bomb", process.pid)
    process.release()
    wait_for(lambda: cgroups.read_keyed(cg.pids, f"{cg.root}/bomb", "pids.events").get("max", 0)
             > 0)
    assert cgroups.read_int(cg.pids, f"{cg.root}/bomb", "pids.current") <= 24  # type: ignore
    cgroups.kill_all(target, f"{cg.root}/bomb", timeout=20)
    for hierarchy in {cg.pids, target}:
        assert cgroups.processes(hierarchy, f"{cg.root}/bomb", recursive=True) == []


def test_freeze_and_thaw(cg: Env, held: list[Held]) -> None:
    hierarchy = cg.freezer or cg.memory
    process = start(held, "sleep 1000")
    cgroups.create(hierarchy, f"{cg.root}/f")
    cgroups.assign(hierarchy, f"{cg.root}/f", process.pid)
    assert cgroups.freeze(hierarchy, f"{cg.root}/f", timeout=10)
    if cg.version is Version.V1:
        assert cgroups.read(hierarchy, f"{cg.root}/f", "freezer.state").strip() == "FROZEN"
    else:
        assert "frozen 1" in cgroups.read(hierarchy, f"{cg.root}/f", "cgroup.events")
    assert cgroups.thaw(hierarchy, f"{cg.root}/f", timeout=10)
    process.release()  # a thawed process runs: it reads stdin and execs sleep
    wait_for(lambda: os.readlink(f"/proc/{process.pid}/exe").endswith("sleep"))


def _memory_cgroup(cg: Env, cgroup: str, limit: int) -> None:
    cgroups.create(cg.memory, cgroup, ["memory"] if cg.version is Version.V2 else ())
    if cg.version is Version.V1:
        cgroups.write(cg.memory, cgroup, "memory.limit_in_bytes", str(limit))
    else:
        cgroups.write(cg.memory, cgroup, "memory.max", str(limit))
        if cgroups.has_control(cg.memory, cgroup, "memory.swap.max"):
            cgroups.write(cg.memory, cgroup, "memory.swap.max", "0")


def test_oom_watcher_sees_the_oom_kill(cg: Env, held: list[Held]) -> None:
    cgroup = f"{cg.root}/oom"
    _memory_cgroup(cg, cgroup, 16 << 20)
    watcher = OomWatcher(cg.memory, cgroup, cg.version)
    try:
        assert not watcher.check()
        assert not cgroups.oom_recorded(cg.memory, cgroup, cg.version)
        hog = start(held, "tail /dev/zero")  # keeps the whole "line" in memory
        cgroups.assign(cg.memory, cgroup, hog.pid)
        hog.release()
        assert readable(watcher.fileno(), 30)
        assert wait_for(watcher.check)
        assert hog.process.wait(timeout=10) == -signal.SIGKILL
        assert cgroups.oom_recorded(cg.memory, cgroup, cg.version)  # no watch needed
        assert not watcher.gone
        cgroups.remove(cg.memory, cgroup)
        watcher.check()
        assert watcher.gone and not watcher.check()
    finally:
        watcher.close()


def test_oom_of_a_nested_cgroup_is_not_its_parents(cg: Env, held: list[Held]) -> None:
    parent, child = f"{cg.root}/p", f"{cg.root}/p/mesos/c"
    _memory_cgroup(cg, parent, 256 << 20)
    _memory_cgroup(cg, child, 16 << 20)
    watchers = [OomWatcher(cg.memory, cgroup, cg.version) for cgroup in (parent, child)]
    try:
        hog = start(held, "tail /dev/zero")
        cgroups.assign(cg.memory, child, hog.pid)
        hog.release()
        assert hog.process.wait(timeout=30) == -signal.SIGKILL
        assert wait_for(watchers[1].check)
        assert not watchers[0].check()
        assert cgroups.oom_recorded(cg.memory, child, cg.version)
        assert not cgroups.oom_recorded(cg.memory, parent, cg.version)
    finally:
        for watcher in watchers:
            watcher.close()


def test_statistics_of_a_busy_cgroup(cg: Env, held: list[Held]) -> None:
    cgroup = f"{cg.root}/busy"
    controllers = ["cpu", "memory", "pids"] if cg.version is Version.V2 else []
    for hierarchy in {cg.cpu, cg.cpuacct, cg.memory, cg.pids}:
        cgroups.create(hierarchy, cgroup, controllers)
    if cg.version is Version.V1:
        cgroups.write(cg.cpu, cgroup, "cpu.cfs_period_us", "100000")
        cgroups.write(cg.cpu, cgroup, "cpu.cfs_quota_us", "10000")
    else:
        cgroups.write(cg.cpu, cgroup, "cpu.max", "10000 100000")
    spinner = start(held, "sh -c 'while :; do :; done'")
    for hierarchy in {cg.cpu, cg.cpuacct, cg.memory, cg.pids}:
        cgroups.assign(hierarchy, cgroup, spinner.pid)
    spinner.release()
    if cg.version is Version.V1:
        def cpu() -> cgroups.CpuStats:
            stats = cgroups.parse_cpu_stat(cgroups.read(cg.cpu, cgroup, "cpu.stat"))
            times = cgroups.parse_cpuacct_stat(cgroups.read(cg.cpuacct, cgroup, "cpuacct.stat"))
            stats.user_secs, stats.system_secs = times.user_secs, times.system_secs
            return stats
    else:
        def cpu() -> cgroups.CpuStats:
            return cgroups.parse_cpu_stat(cgroups.read(cg.cpu, cgroup, "cpu.stat"))
    stats = wait_for(lambda: (lambda s: s if (s.nr_throttled or 0) > 0 and (
        (s.user_secs or 0) + (s.system_secs or 0)) > 0 else None)(cpu()), timeout=20)
    assert stats.nr_periods >= stats.nr_throttled > 0
    assert stats.throttled_secs is not None and stats.throttled_secs > 0
    memory = cgroups.read_keyed(cg.memory, cgroup, "memory.stat")
    assert ("total_rss" if cg.version is Version.V1 else "anon") in memory
    usage = "memory.usage_in_bytes" if cg.version is Version.V1 else "memory.current"
    # (May be 0 on v1: pages charged before the move stay with the old cgroup.)
    assert cgroups.read_int(cg.memory, cgroup, usage) is not None
    assert cgroups.read_int(cg.pids, cgroup, "pids.current") == 1
    if cg.version is Version.V2 and cgroups.has_control(cg.cpu, cgroup, "cpu.pressure"):
        pressure = cgroups.read_pressure(cg.cpu, cgroup, "cpu")
        assert pressure is not None and pressure.some is not None


def test_enable_controllers_says_what_is_missing(cg: Env) -> None:
    if cg.version is Version.V1:
        pytest.skip("cgroup v2 only")
    cgroups.create(cg.memory, f"{cg.root}/e/f", ["memory", "pids"])
    assert {"memory", "pids"} <= set(cgroups.controllers(cg.memory, f"{cg.root}/e/f"))
    assert "memory" in cgroups.read(cg.memory, cg.root, "cgroup.subtree_control")
    with pytest.raises(CgroupError, match="nosuch.*not available"):
        cgroups.create(cg.memory, f"{cg.root}/g/h", ["memory", "nosuch"])


def test_mount_a_v1_hierarchy_nobody_mounted(cg: Env, tmp_path) -> None:
    if cg.version is Version.V2:
        pytest.skip("cgroup v1 only")
    if "net_cls" not in cgroups.subsystems_enabled() or cgroups.hierarchy_of("net_cls"):
        pytest.skip("net_cls is not enabled, or already mounted")
    target = str(tmp_path / "net_cls")
    cgroups.mount_v1(target, "net_cls")
    try:
        assert cgroups.hierarchy_of("net_cls") == target
        cgroups.create(target, f"{cg.root}/n")
        cgroups.write(target, f"{cg.root}/n", "net_cls.classid", str(0x10001))
        assert int(cgroups.read(target, f"{cg.root}/n", "net_cls.classid")) == 0x10001
        cgroups.remove(target, cg.root)
    finally:
        cgroups.unmount(target)
    assert cgroups.hierarchy_of("net_cls") is None


@pytest.mark.parametrize("version", [VERSION], ids=[VERSION_ID])
def test_zz_no_test_cgroup_is_left_behind(version: Version) -> None:
    assert leftover_test_cgroups() == []
