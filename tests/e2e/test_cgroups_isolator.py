"""cgroups/cpu, cgroups/mem, cgroups/pids, cgroups/net_cls through a real agent,
proven by what the kernel shows.

Every test runs on the host's cgroup version: its id ends in `[cgroup-v1]`
here (hybrid host) and `[cgroup-v2]` in the pure v2 guest
(tests/linux/test_cgroups_v2_guest.py runs them there with `-k v2`). Tests
that need no flags of their own share one agent (`shared`: an agent start
costs ~15 s in the guest); the others start theirs (`cg`). Each agent has its
own `--cgroups_root=mesos_test_<uuid>`; at teardown the agent and its
containers are killed, then anything left under the root is killed and removed
in every hierarchy, even when the test failed.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from typing import Any, Callable, Iterator

import pytest

from mesos_py import flags as agent_flags
from mesos_py.actors import PID, Runtime, dispatch
from mesos_py.actors.testing import await_failed, await_ready
from mesos_py.isolators.cgroups import CgroupsIsolator, StartupError
from mesos_py.linux import cgroups
from mesos_py.linux.cgroups import Version
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig
from mesos_py.protos.mesos.v1.mesos_pb2 import CommandInfo, ContainerID, Resource, Value
from tests.agent import AgentProcess, wait_until
from tests.linux.test_cgroups_lib import (VERSION, VERSION_ID, Held, destroy_everywhere,
                                          leftover_test_cgroups, new_root)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")

MB = 1024 * 1024
V2_MOUNT = cgroups.DEFAULT_HIERARCHY
STARTUP_TIMEOUT = 120.0


@dataclasses.dataclass
class Cgroups:
    version: Version
    root: str
    start_agent: Callable[..., AgentProcess] = dataclasses.field(repr=False)

    def hierarchy(self, subsystem: str) -> str:
        if self.version is Version.V2:
            return V2_MOUNT
        hierarchy = cgroups.hierarchy_of(subsystem)
        assert hierarchy is not None, subsystem
        return hierarchy

    def path(self, subsystem: str, container: str, control: str = "") -> str:
        return os.path.join(self.hierarchy(subsystem), self.root, container, control)

    def read(self, subsystem: str, container: str, control: str) -> str:
        with open(self.path(subsystem, container, control)) as file:
            return file.read().strip()

    def procs(self, subsystem: str, container: str) -> set[int]:
        """The container's processes: in its `leaf` on v2."""
        cgroup = f"{self.root}/{container}"
        if self.version is Version.V2:
            cgroup = cgroups.leaf_cgroup(cgroup)
        return set(cgroups.processes(self.hierarchy(subsystem), cgroup))

    def subsystems(self) -> list[str]:
        return ["cpu", "cpuacct", "memory", "pids"]

    def gone(self, container: str) -> bool:
        return not any(os.path.isdir(self.path(s, container)) for s in self.subsystems())


@pytest.fixture(params=[VERSION], ids=[VERSION_ID])
def cg(make_agent: Callable[..., AgentProcess]) -> Iterator[Cgroups]:
    root = new_root()
    agents: list[AgentProcess] = []

    def start_agent(*flags: str, isolation: str = "cgroups/cpu,cgroups/mem,cgroups/pids",
                    start: bool = True) -> AgentProcess:
        agent = make_agent([f"--isolation={isolation}", f"--cgroups_root={root}", *flags],
                           start=False, name=f"agent{len(agents)}")
        agents.append(agent)
        return restart(agent) if start else agent

    try:
        yield Cgroups(VERSION, root, start_agent)
    finally:
        for agent in agents:
            end(agent)
        destroy_everywhere(root)


SHARED_FLAGS = ["--cgroups_enable_cfs", "--container_pids_limit=32"]
IN_USE: set[str] = set()  # roots of module-scoped agents still running


@pytest.fixture(scope="module", params=[VERSION], ids=[VERSION_ID])
def shared_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cgroups, AgentProcess]]:
    """One agent (SHARED_FLAGS) for the tests that need nothing else: agent starts
    are what the v2 guest spends its time on."""
    root = new_root()
    base = tmp_path_factory.mktemp("cgroups-agent")
    agent = AgentProcess(str(base / "work"), str(base / "run"), extra_flags=[
        "--isolation=cgroups/cpu,cgroups/mem,cgroups/pids", f"--cgroups_root={root}",
        *SHARED_FLAGS])

    def no_second_agent(*args: Any, **kwargs: Any) -> AgentProcess:
        raise AssertionError("the shared agent is the only one")

    IN_USE.add(root)
    try:
        restart(agent)
        yield Cgroups(VERSION, root, no_second_agent), agent
    finally:
        end(agent)
        destroy_everywhere(root)  # asserts that nothing is left of it
        IN_USE.discard(root)


@pytest.fixture
def shared(shared_agent: tuple[Cgroups, AgentProcess]) -> Iterator[tuple[Cgroups, AgentProcess]]:
    """The shared agent; whatever container a test leaves running is destroyed after it."""
    cg, agent = shared_agent
    yield cg, agent
    for key in entries(agent):
        if "." not in key:
            agent.kill_container(key)
            agent.wait(key, timeout=60)


def end(agent: AgentProcess) -> None:
    agent.cleanup()
    # SIGKILL is asynchronous: let the fork servers finish dying, so that
    # nothing of this test still runs when the next one (or the session) starts.
    for pid in agent._fork_servers:
        wait_until(lambda: _dead(pid), timeout=10)


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def restart(agent: AgentProcess) -> AgentProcess:
    """Starts `agent`; slow starts allowed (the v2 guest runs Python ~20x slower)."""
    agent.start(wait_ready=False)
    agent.wait_ready(timeout=STARTUP_TIMEOUT)
    return agent


def resources(cpus: float, mem: float) -> list[dict[str, Any]]:
    return [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}]


def entries(agent: AgentProcess) -> dict[str, dict[str, Any]]:
    """GET_CONTAINERS by `parent.child` key."""
    found = {}
    for entry in agent.containers(show_standalone=True, show_nested=True):
        container_id, key = entry["container_id"], entry["container_id"]["value"]
        while "parent" in container_id:
            container_id = container_id["parent"]
            key = f"{container_id['value']}.{key}"
        found[key] = entry
    return found


def pid_of(agent: AgentProcess, key: str) -> int:
    return int(wait_until(lambda: entries(agent).get(key, {}).get(
        "container_status", {}).get("executor_pid"), timeout=60))


def finish(agent: AgentProcess, *names: str) -> None:
    for name in names:
        assert agent.kill_container(name).status == 200
        assert agent.wait(name).status == 200


# =================================================================== tests
def test_limits_statistics_and_removal(shared: tuple[Cgroups, AgentProcess]) -> None:
    cg, agent = shared  # --cgroups_enable_cfs --container_pids_limit=32
    assert agent.launch("spin", "while :; do :; done", resources=resources(0.5, 64)).status == 200
    assert agent.launch("limited", "sleep 1000", resources=resources(0.25, 64),
                        limits={"cpus": {"value": 1.5}, "mem": {"value": 128}}).status == 200
    spin, limited = pid_of(agent, "spin"), pid_of(agent, "limited")

    if cg.version is Version.V1:
        assert cg.read("cpu", "spin", "cpu.shares") == "512"
        assert cg.read("cpu", "spin", "cpu.cfs_period_us") == "100000"
        assert cg.read("cpu", "spin", "cpu.cfs_quota_us") == "50000"
        assert cg.read("memory", "spin", "memory.limit_in_bytes") == str(64 * MB)
        assert cg.read("memory", "spin", "memory.soft_limit_in_bytes") == str(64 * MB)
        assert cg.read("cpu", "limited", "cpu.shares") == "256"
        assert cg.read("cpu", "limited", "cpu.cfs_quota_us") == "150000"
        assert cg.read("memory", "limited", "memory.limit_in_bytes") == str(128 * MB)
        assert cg.read("memory", "limited", "memory.soft_limit_in_bytes") == str(64 * MB)
    else:
        assert set(cgroups.read(V2_MOUNT, cg.root, "cgroup.subtree_control").split()) >= {
            "cpu", "memory", "pids"}
        assert cg.read("cpu", "spin", "cpu.weight") == "50"
        assert cg.read("cpu", "spin", "cpu.max") == "50000 100000"
        assert cg.read("memory", "spin", "memory.max") == str(64 * MB)
        assert cg.read("memory", "spin", "memory.low") == str(64 * MB)
        assert cg.read("cpu", "limited", "cpu.weight") == "25"
        assert cg.read("cpu", "limited", "cpu.max") == "150000 100000"
        assert cg.read("memory", "limited", "memory.max") == str(128 * MB)
        assert cg.read("memory", "limited", "memory.low") == str(64 * MB)
    for name, pid in (("spin", spin), ("limited", limited)):
        assert cg.read("pids", name, "pids.max") == "32"
        for subsystem in cg.subsystems():
            assert pid in cg.procs(subsystem, name), (subsystem, name)

    def throttled() -> dict[str, Any] | None:
        # The kernel adds to the throttled time when a throttled period ends,
        # so the first sample with nr_throttled > 0 may still show 0 seconds.
        stats = entries(agent)["spin"].get("resource_statistics", {})
        return stats if stats.get("cpus_nr_throttled", 0) > 0 and \
            stats.get("cpus_throttled_time_secs", 0) > 0 else None

    stats = wait_until(throttled, timeout=30)
    assert stats["cpus_user_time_secs"] + stats.get("cpus_system_time_secs", 0) > 0
    assert stats["cpus_nr_periods"] >= stats["cpus_nr_throttled"]
    assert stats["cpus_throttled_time_secs"] > 0
    assert stats["mem_total_bytes"] > 0 and "mem_rss_bytes" in stats
    assert stats["processes"] == 1 and stats["threads"] == 1
    assert stats["mem_limit_bytes"] == 64 * MB and stats["cpus_soft_limit"] == 0.5

    finish(agent, "spin", "limited")
    assert cg.gone("spin") and cg.gone("limited")


def test_oom_ends_the_container_with_a_memory_limitation(
        shared: tuple[Cgroups, AgentProcess]) -> None:
    cg, agent = shared
    assert agent.launch("hog", "tail /dev/zero", resources=resources(0.5, 32)).status == 200
    wait = agent.wait("hog", timeout=60).json()["wait_container"]
    assert wait["state"] == "TASK_FAILED"
    assert wait["reason"] == "REASON_CONTAINER_LIMITATION_MEMORY"
    # The OOM killer kills `tail`; the shell above it may report that (137) or
    # be killed by the destroy first.
    assert wait["exit_status"] in (signal.SIGKILL, 137 << 8)
    [mem] = wait["limitation"]["resources"]
    assert mem["name"] == "mem" and mem["type"] == "SCALAR"
    assert 30 <= mem["scalar"]["value"] <= 33
    assert wait["message"].startswith("Memory limit exceeded: Requested: 32MB Maximum Used: ")
    assert "MEMORY STATISTICS" in wait["message"]
    assert cg.gone("hog")


def test_a_fork_bomb_stays_contained(shared: tuple[Cgroups, AgentProcess]) -> None:
    cg, agent = shared  # --container_pids_limit=32
    bomb = "bomb() { bomb | bomb & }; bomb; sleep 1000"
    assert agent.launch("bomb", bomb, resources=resources(0.5, 128)).status == 200
    wait_until(lambda: int(dict(line.split() for line in cg.read(
        "pids", "bomb", "pids.events").splitlines()).get("max", 0)) > 0, timeout=60)
    for _ in range(20):
        assert int(cg.read("pids", "bomb", "pids.current")) <= 32
        time.sleep(0.01)
    assert agent.call({"type": "GET_HEALTH"}).status == 200
    finish(agent, "bomb")
    assert cg.gone("bomb")


def test_nested_containers_share_or_own_cgroups(shared: tuple[Cgroups, AgentProcess]) -> None:
    cg, agent = shared
    assert agent.launch("p", "sleep 1000", resources=resources(0.5, 128)).status == 200
    nested = {"container_id": {"value": "own", "parent": {"value": "p"}},
              "command": {"value": "sleep 1000"}, "resources": resources(0.25, 64),
              "container": {"type": "MESOS", "linux_info": {"share_cgroups": False}}}
    reply = agent.call({"type": "LAUNCH_CONTAINER", "launch_container": nested})
    assert reply.status == 200, reply.text
    shared = {"container_id": {"value": "shared", "parent": {"value": "p"}},
              "command": {"value": "sleep 1000"}}
    reply = agent.call({"type": "LAUNCH_CONTAINER", "launch_container": shared})
    assert reply.status == 200, reply.text
    own_pid, shared_pid = pid_of(agent, "p.own"), pid_of(agent, "p.shared")

    assert own_pid in cg.procs("memory", "p/mesos/own")
    if cg.version is Version.V1:
        assert cg.read("memory", "p/mesos/own", "memory.limit_in_bytes") == str(64 * MB)
        assert cg.read("cpu", "p/mesos/own", "cpu.shares") == "256"
        assert shared_pid in cg.procs("memory", "p")  # the parent's cgroups
        assert not os.path.exists(cg.path("memory", "p/mesos/shared"))
    else:
        assert cg.read("memory", "p/mesos/own", "memory.max") == str(64 * MB)
        assert cg.read("cpu", "p/mesos/own", "cpu.weight") == "25"
        assert shared_pid in cg.procs("memory", "p/mesos/shared")  # below the parent's limits
        assert cg.read("memory", "p/mesos/shared", "memory.max") == "max"
    assert cg.read("memory", "p", "memory.limit_in_bytes" if cg.version is Version.V1
                   else "memory.max") == str(128 * MB)
    statuses = entries(agent)
    assert "resource_statistics" in statuses["p.own"]

    finish(agent, "p")
    for child in ("own", "shared"):
        reply = agent.call({"type": "WAIT_CONTAINER", "wait_container": {"container_id": {
            "value": child, "parent": {"value": "p"}}}})
        assert reply.status == 200, reply.text
    assert cg.gone("p")


def test_containers_stay_controlled_across_an_agent_sigkill(cg: Cgroups) -> None:
    agent = cg.start_agent("--container_pids_limit=16")
    command = "while [ ! -e go ]; do sleep 0.05; done; tail /dev/zero"
    assert agent.launch("c", command, resources=resources(0.5, 32)).status == 200
    pid = pid_of(agent, "c")
    # A cgroup under the root that no container of this agent owns, holding a process.
    stray = Held("sleep 1000")
    try:
        for subsystem in cg.subsystems():
            hierarchy = cg.hierarchy(subsystem)
            cgroups.create(hierarchy, f"{cg.root}/stray")
            if cg.version is Version.V2:
                cgroups.create(hierarchy, f"{cg.root}/stray/leaf")
                cgroups.assign(hierarchy, f"{cg.root}/stray/leaf", stray.pid)
            else:
                cgroups.assign(hierarchy, f"{cg.root}/stray", stray.pid)

        assert agent.kill(signal.SIGKILL) == -signal.SIGKILL
        os.kill(pid, 0)
        restart(agent)

        assert stray.process.wait(timeout=30) == -signal.SIGKILL  # the orphan was destroyed
        wait_until(lambda: cg.gone("stray"), timeout=30)
    finally:
        stray.stop()
    memory_limit = "memory.limit_in_bytes" if cg.version is Version.V1 else "memory.max"
    assert cg.read("memory", "c", memory_limit) == str(32 * MB)
    assert cg.read("pids", "c", "pids.max") == "16"
    assert pid in cg.procs("memory", "c")
    stats = wait_until(lambda: entries(agent)["c"].get("resource_statistics"))
    assert stats["mem_total_bytes"] > 0 and stats["processes"] >= 1

    open(os.path.join(agent.sandbox("c"), "go"), "w").close()
    wait = agent.wait("c", timeout=60).json()["wait_container"]
    assert wait["reason"] == "REASON_CONTAINER_LIMITATION_MEMORY", wait
    assert wait["state"] == "TASK_FAILED"
    assert cg.gone("c")


@pytest.fixture
def net_cls_hierarchy(tmp_path) -> Iterator[str]:
    """The net_cls hierarchy; mounted (and unmounted afterwards) if nobody has."""
    if VERSION is Version.V2:
        pytest.skip("cgroup v2 has no net_cls controller")
    hierarchy = cgroups.hierarchy_of("net_cls")
    if hierarchy is not None:
        yield hierarchy
        return
    if "net_cls" not in cgroups.subsystems_enabled():
        pytest.skip("the kernel has no net_cls subsystem")
    target = str(tmp_path / "net_cls")
    cgroups.mount_v1(target, "net_cls")
    try:
        yield target
    finally:
        cgroups.unmount(target)


def test_net_cls_classids_are_handed_out_and_reported(net_cls_hierarchy: str,
                                                      cg: Cgroups) -> None:
    agent = cg.start_agent("--cgroups_net_cls_primary_handle=0x1234",
                           "--cgroups_net_cls_secondary_handles=0x0010,0x0020",
                           isolation="cgroups/net_cls,cgroups/mem")
    for name in ("a", "b"):
        assert agent.launch(name, "sleep 1000", resources=resources(0.1, 32)).status == 200

    def classids() -> dict[str, int]:
        return {key: entry["container_status"]["cgroup_info"]["net_cls"]["classid"]
                for key, entry in entries(agent).items()
                if "cgroup_info" in entry.get("container_status", {})}

    assert wait_until(lambda: len(classids()) == 2 and classids()) == {
        "a": 0x12340010, "b": 0x12340011}
    for name, classid in classids().items():
        with open(os.path.join(net_cls_hierarchy, cg.root, name, "net_cls.classid")) as file:
            assert int(file.read()) == classid
        assert pid_of(agent, name) in cgroups.processes(net_cls_hierarchy, f"{cg.root}/{name}")
    finish(agent, "a")
    assert agent.launch("c", "sleep 1000", resources=resources(0.1, 32)).status == 200
    assert wait_until(lambda: classids().get("c")) == 0x12340010  # a's handle, freed
    finish(agent, "b", "c")
    for name in ("a", "b", "c"):
        assert not os.path.exists(os.path.join(net_cls_hierarchy, cg.root, name))


def scalars(cpus: float, mem: float) -> list[Resource]:
    return [Resource(name=name, type=Value.SCALAR, scalar=Value.Scalar(value=value))
            for name, value in (("cpus", cpus), ("mem", mem))]


@pytest.fixture
def isolator(cg: Cgroups) -> Iterator[PID[CgroupsIsolator]]:
    """The isolator actor alone, on a runtime of the test's own."""
    names = ["cgroups/cpu", "cgroups/mem", "cgroups/pids"]
    flags = agent_flags.load([f"--cgroups_root={cg.root}", f"--isolation={','.join(names)}",
                              "--cgroups_enable_cfs", "--container_pids_limit=100"], {})
    runtime = Runtime()
    try:
        yield runtime.spawn(CgroupsIsolator, flags, names)
    finally:
        runtime.stop()


def test_update_changes_the_limits_of_a_running_container(cg: Cgroups,
                                                          isolator: PID[CgroupsIsolator]) -> None:
    container_id = ContainerID(value="u")
    config = ContainerConfig(command_info=CommandInfo(value="sleep 1000"), directory="/tmp",
                             resources=scalars(0.5, 64))
    await_ready(dispatch(isolator, CgroupsIsolator.prepare, container_id, config))
    process = Held("sleep 1000")
    try:
        await_ready(dispatch(isolator, CgroupsIsolator.isolate, container_id, process.pid))
        process.release()
        v1 = cg.version is Version.V1
        hard, soft = (("memory.limit_in_bytes", "memory.soft_limit_in_bytes") if v1
                      else ("memory.max", "memory.low"))

        def update(resources: list[Resource], limits: dict[str, float] | None = None) -> None:
            await_ready(dispatch(isolator, CgroupsIsolator.update, container_id, resources,
                                 limits or {}))

        def cpu() -> tuple[str, str]:
            if v1:
                return cg.read("cpu", "u", "cpu.shares"), cg.read("cpu", "u", "cpu.cfs_quota_us")
            return cg.read("cpu", "u", "cpu.weight"), cg.read("cpu", "u", "cpu.max")

        update(scalars(1, 128))
        assert cpu() == (("1024", "100000") if v1 else ("100", "100000 100000"))
        assert (cg.read("memory", "u", hard), cg.read("memory", "u", soft)) == (
            str(128 * MB), str(128 * MB))
        # As Mesos: a smaller request lowers the soft limit, never the hard one.
        update(scalars(0.25, 32))
        assert cpu() == (("256", "25000") if v1 else ("25", "25000 100000"))
        assert (cg.read("memory", "u", hard), cg.read("memory", "u", soft)) == (
            str(128 * MB), str(32 * MB))
        update(scalars(0.25, 32), {"cpus": float("inf"), "mem": float("inf")})
        assert cpu() == (("256", "-1") if v1 else ("25", "max 100000"))
        assert cgroups.parse_limit(cg.read("memory", "u", hard)) is None
        assert cg.read("pids", "u", "pids.max") == "100"

        # Memory is charged to the cgroup from the pages the process touches
        # once in it: its exec of sleep makes some.
        wait_until(lambda: os.readlink(f"/proc/{process.pid}/exe").endswith("sleep"))
        stats = await_ready(dispatch(isolator, CgroupsIsolator.usage, container_id))
        assert stats.processes == 1 and stats.mem_total_bytes > 0
        assert "unknown container" in await_failed(dispatch(
            isolator, CgroupsIsolator.update, ContainerID(value="nope"), scalars(1, 64), {}))

        # Cleanup kills whatever is still in the container's cgroups.
        await_ready(dispatch(isolator, CgroupsIsolator.cleanup, container_id), timeout=30)
        assert process.process.wait(timeout=10) == -signal.SIGKILL
        assert cg.gone("u")
        assert await_ready(dispatch(isolator, CgroupsIsolator.cleanup, container_id)) is None
    finally:
        process.stop()


def test_what_the_host_cannot_do_is_refused_at_start(cg: Cgroups) -> None:
    if cg.version is Version.V2:
        # There is no net_cls controller in cgroup v2.
        names, argv = ["cgroups/net_cls"], []
        reason = "cgroups/net_cls needs cgroup v1: cgroup v2 has no net_cls controller"
    else:
        # The hybrid host's empty cgroup2 mount offers no controller.
        names, argv = ["cgroups/cpu", "cgroups/mem"], ["--cgroups_hierarchy=/sys/fs/cgroup/unified"]
        reason = ("The cgroup v2 controller(s) cpu, memory are not available below "
                  "'/sys/fs/cgroup/unified': its cgroup.subtree_control enables none")
    flags = agent_flags.load([f"--cgroups_root={cg.root}", f"--isolation={','.join(names)}",
                              *argv], {})
    with pytest.raises(StartupError) as refused:
        CgroupsIsolator(flags, names)
    assert str(refused.value) == reason
    assert not os.path.exists(os.path.join("/sys/fs/cgroup/unified", cg.root))
    if cg.version is Version.V1:  # and the agent says so (cheap here, slow in the v2 guest)
        agent = cg.start_agent(*argv, isolation=",".join(names), start=False)
        agent.start(wait_ready=False)
        assert agent.process is not None and agent.process.wait(timeout=STARTUP_TIMEOUT) == 1
        assert f"mesos-py-agent: Failed to load flag 'isolation': {reason}" in agent.log()


@pytest.mark.parametrize("version", [VERSION], ids=[VERSION_ID])
def test_zz_no_test_cgroup_is_left_behind(version: Version) -> None:
    assert [p for p in leftover_test_cgroups() if os.path.basename(p) not in IN_USE] == []
