"""disk/du and disk/xfs with a real agent process.

The disk/xfs tests run on a sparse XFS image loop-mounted with `pquota`
(`mount -o loop` detaches the loop device again at umount). They are skipped,
with the reason, when this kernel cannot mount XFS with project quota (built
without CONFIG_XFS_QUOTA); the start-up checks are tested whatever the kernel.
Every mount is undone even when a test fails, and the last test checks that no
mount or loop device of these tests is left.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Any, Callable, Iterator

import pytest

from tests.agent import AgentProcess, wait_until

MB = 1024 * 1024
INTERVAL = "--container_disk_watch_interval=100ms"

# Every image these tests (and tests/isolators/test_disk.py) created, to check
# at the end that none is still mounted or attached to a loop device.
CREATED_IMAGES: list[str] = []


# ============================================================ loop-mounted XFS
class XfsImage:
    """A sparse XFS image file, loop-mounted at `mount_point` with `options`."""

    SIZE = 300 * MB  # mkfs.xfs's smallest filesystem

    def __init__(self, directory: str, options: str = "pquota") -> None:
        self.image = os.path.join(directory, "xfs.img")
        self.mount_point = os.path.join(directory, "xfs")
        self.options = options

    def mount(self) -> "XfsImage":
        os.makedirs(self.mount_point, exist_ok=True)
        with open(self.image, "wb") as image:
            image.truncate(self.SIZE)
        CREATED_IMAGES.append(self.image)
        subprocess.run(["mkfs.xfs", "-q", self.image], check=True, capture_output=True)
        mounted = subprocess.run(["mount", "-o", f"loop,{self.options}", self.image,
                                  self.mount_point], capture_output=True, text=True)
        if mounted.returncode != 0:
            self.unmount()
            raise OSError(f"mount -o loop,{self.options} failed"
                          f"{_kernel_hint() or ': ' + mounted.stderr.strip()}")
        return self

    def mounted(self) -> bool:
        return any(fields[1] == self.mount_point for fields in _proc_mounts())

    def unmount(self) -> None:
        """Unmounts (retrying while processes let go), detaches, deletes the image."""
        deadline = time.monotonic() + 10
        while self.mounted() and time.monotonic() < deadline:
            if subprocess.run(["umount", self.mount_point], capture_output=True).returncode:
                time.sleep(0.1)
        if self.mounted():
            subprocess.run(["umount", "-l", self.mount_point], capture_output=True)
        for device in loop_devices_of(self.image):
            subprocess.run(["losetup", "-d", device], capture_output=True)
        if os.path.exists(self.image):
            os.unlink(self.image)


def _proc_mounts() -> list[list[str]]:
    with open("/proc/mounts") as mounts:
        return [line.split() for line in mounts]


def loop_devices_of(image: str) -> list[str]:
    listed = subprocess.run(["losetup", "-j", image], capture_output=True, text=True).stdout
    return [line.split(":", 1)[0] for line in listed.splitlines() if line.strip()]


def _kernel_hint() -> str:
    try:
        log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    except OSError:
        return ""
    lines = [line for line in log.splitlines() if "XFS" in line or "quota" in line.lower()]
    return f": {lines[-1].split(']', 1)[-1].strip()}" if lines else ""


_support: dict[str, str | None] = {}


def xfs_quota_unsupported(directory: str) -> str | None:
    """Why XFS with project quota cannot be used here; None when it can."""
    if "reason" not in _support:
        if subprocess.run(["sh", "-c", "command -v mkfs.xfs xfs_quota xfs_io losetup"],
                          capture_output=True).returncode != 0:
            _support["reason"] = "xfsprogs is not installed (mkfs.xfs, xfs_quota, xfs_io)"
        elif os.geteuid() != 0:
            _support["reason"] = "loop mounts need root"
        else:
            probe = XfsImage(directory)
            try:
                probe.mount()
                _support["reason"] = None
            except (OSError, subprocess.CalledProcessError) as error:
                _support["reason"] = f"this kernel cannot mount XFS with pquota: {error}"
            finally:
                probe.unmount()
    return _support["reason"]


@pytest.fixture
def xfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XfsImage]:
    """A fresh pquota XFS mount for the test (mkfs and mount take milliseconds)."""
    reason = xfs_quota_unsupported(str(tmp_path_factory.mktemp("xfs-probe")))
    if reason is not None:
        pytest.skip(reason)
    image = XfsImage(str(tmp_path_factory.mktemp("xfs"))).mount()
    yield image
    image.unmount()
    assert not image.mounted() and not loop_devices_of(image.image)


@pytest.fixture
def xfs_agent(xfs: XfsImage, tmp_path: Any) -> Iterator[Callable[..., AgentProcess]]:
    """Starts agents whose work dir is on the XFS mount; cleaned up before the umount."""
    agents: list[AgentProcess] = []

    def make(extra_flags: list[str], start: bool = True) -> AgentProcess:
        work_dir = os.path.join(xfs.mount_point, f"agent-{len(agents)}", "work")
        agent = AgentProcess(work_dir, str(tmp_path / f"run-{len(agents)}"),
                             extra_flags=["--isolation=disk/xfs", *extra_flags])
        os.makedirs(os.path.dirname(work_dir), exist_ok=True)
        agents.append(agent)
        return agent.start() if start else agent

    yield make
    for agent in agents:
        agent.cleanup()


# ================================================================== helpers
def disk(megabytes: float) -> list[dict[str, Any]]:
    return [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": megabytes}}]


def statistics(agent: AgentProcess, container_id: str) -> dict[str, Any]:
    for entry in agent.containers(show_standalone=True):
        if entry["container_id"]["value"] == container_id:
            return dict(entry.get("resource_statistics", {}))
    raise AssertionError(f"{container_id} is not listed")


def du_bytes(path: str) -> int:
    output = subprocess.run(["du", "-s", "-k", "-x", path], capture_output=True, text=True,
                            check=True).stdout
    return int(output.split()[0]) * 1024


def wait_json(agent: AgentProcess, container_id: str, timeout: float = 30) -> dict[str, Any]:
    reply = agent.wait(container_id, timeout=timeout)
    assert reply.status == 200, reply.text
    return dict(reply.json()["wait_container"])


def sandbox_file(agent: AgentProcess, container_id: str, name: str) -> str:
    path = os.path.join(agent.sandbox(container_id), name)
    return open(path).read() if os.path.exists(path) else ""


def project_id(path: str) -> int:
    output = subprocess.run(["xfs_io", "-r", "-c", "stat", path], capture_output=True,
                            text=True, check=True).stdout
    return int(re.search(r"fsxattr\.projid = (\d+)", output).group(1))  # type: ignore[union-attr]


def quota_report(mount_point: str, first: int, last: int) -> dict[int, tuple[int, int]]:
    """{project id: (used KB, hard limit KB)} from `xfs_quota -x -c report`."""
    output = subprocess.run(
        ["xfs_quota", "-x", "-c", f"report -p -n -b -N -L {first} -U {last}", mount_point],
        capture_output=True, text=True, check=True).stdout
    report = {}
    for line in output.splitlines():
        fields = line.split()
        if fields and fields[0].startswith("#"):
            report[int(fields[0][1:])] = (int(fields[1]), int(fields[3]))
    return report


# ================================================================== disk/du
def test_du_reports_what_the_sandbox_holds(make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--isolation=disk/du", INTERVAL])
    command = "dd if=/dev/zero of=data bs=1M count=3 2>/dev/null && touch done && sleep 1000"
    assert agent.launch("du", command, resources=disk(64)).status == 200
    sandbox = agent.sandbox("du")
    wait_until(lambda: os.path.exists(os.path.join(sandbox, "done")))
    expected = du_bytes(sandbox)
    assert expected >= 3 * MB
    # The walk runs every 100ms: it soon sees exactly what du sees.
    wait_until(lambda: statistics(agent, "du").get("disk_used_bytes") == expected)
    stats = statistics(agent, "du")
    assert stats["disk_limit_bytes"] == 64 * MB
    assert stats["disk_statistics"] == [{"limit_bytes": 64 * MB, "used_bytes": expected}]
    # Without --enforce_container_disk_quota nothing is enforced.
    agent.kill_container("du")
    assert "state" not in wait_json(agent, "du")


def test_du_enforcement_destroys_the_container(make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--isolation=disk/du", INTERVAL, "--enforce_container_disk_quota"])
    command = "dd if=/dev/zero of=data bs=1M count=4 2>/dev/null; sleep 1000"
    started = time.monotonic()
    assert agent.launch("hog", command, resources=disk(2)).status == 200
    wait = wait_json(agent, "hog")
    assert time.monotonic() - started < 10
    assert wait["state"] == "TASK_FAILED"
    assert wait["reason"] == "REASON_CONTAINER_LIMITATION_DISK"
    assert [r["name"] for r in wait["limitation"]["resources"]] == ["disk"]
    assert wait["limitation"]["resources"][0]["scalar"]["value"] == 2
    assert re.fullmatch(r"Disk usage \(\d+[KM]B\) exceeds quota \(2MB\)", wait["message"]), wait
    assert wait["exit_status"] == 9  # SIGKILL


def test_du_enforcement_spares_containers_within_quota(
        make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--isolation=disk/du", INTERVAL, "--enforce_container_disk_quota"])
    command = "dd if=/dev/zero of=data bs=1M count=1 2>/dev/null; sleep 1000"
    assert agent.launch("small", command, resources=disk(8)).status == 200
    assert agent.launch("nolimit", command).status == 200
    wait_until(lambda: statistics(agent, "small").get("disk_used_bytes", 0) >= MB)
    wait_until(lambda: statistics(agent, "nolimit").get("disk_used_bytes", 0) >= MB)
    time.sleep(0.5)  # several more measurements
    listed = {c["container_id"]["value"] for c in agent.containers(show_standalone=True)}
    assert listed == {"small", "nolimit"}
    assert "disk_limit_bytes" not in statistics(agent, "nolimit")


def test_du_enforcement_after_agent_restart(make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--isolation=disk/du", INTERVAL, "--enforce_container_disk_quota"])
    command = ("while [ ! -e go ]; do sleep 0.05; done; "
               "dd if=/dev/zero of=data bs=1M count=4 2>/dev/null; sleep 1000")
    assert agent.launch("later", command, resources=disk(2)).status == 200
    agent.restart()
    # The quota comes back from the checkpointed config.
    wait_until(lambda: statistics(agent, "later").get("disk_limit_bytes") == 2 * MB)
    open(os.path.join(agent.sandbox("later"), "go"), "w").close()
    wait = wait_json(agent, "later")
    assert wait["reason"] == "REASON_CONTAINER_LIMITATION_DISK"


# ==================================================== disk/xfs: start-up checks
def test_xfs_refuses_a_work_dir_off_xfs(make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--isolation=disk/xfs"], start=False)
    agent.start(wait_ready=False)
    assert agent.process is not None
    assert agent.process.wait(timeout=20) == 1
    assert (f"mesos-py-agent: Failed to create isolator 'disk/xfs': "
            f"'{agent.work_dir}' is not an XFS filesystem") in agent.log()


def test_xfs_refuses_xfs_without_project_quota(tmp_path: Any) -> None:
    if subprocess.run(["sh", "-c", "command -v mkfs.xfs"], capture_output=True).returncode:
        pytest.skip("xfsprogs is not installed")
    image = XfsImage(str(tmp_path), options="noquota")
    try:
        image.mount()
        agent = AgentProcess(os.path.join(image.mount_point, "work"), str(tmp_path / "run"),
                             extra_flags=["--isolation=disk/xfs"])
        try:
            agent.start(wait_ready=False)
            assert agent.process is not None and agent.process.wait(timeout=20) == 1
            assert (f"Failed to create isolator 'disk/xfs': XFS project quotas are not "
                    f"enabled on '{agent.work_dir}'") in agent.log()
        finally:
            agent.cleanup()
    finally:
        image.unmount()


# ============================================================ disk/xfs: quota
def test_xfs_write_past_the_quota_fails(
        xfs: XfsImage, xfs_agent: Callable[..., AgentProcess]) -> None:
    agent = xfs_agent(["--xfs_project_range=[6000-6009]", INTERVAL])
    # The shell keeps dd's error in memory: the full sandbox (stdout included)
    # cannot take it until `big` is gone.
    command = ("msg=$(dd if=/dev/zero of=big bs=1M count=20 2>&1); rm -f big; echo \"$msg\"; "
               "dd if=/dev/zero of=kept bs=1M count=2 2>/dev/null; touch done; sleep 1000")
    assert agent.launch("quota", command, resources=disk(5)).status == 200
    sandbox = agent.sandbox("quota")
    wait_until(lambda: os.path.exists(os.path.join(sandbox, "done")))
    # XFS fails writes past a project quota with ENOSPC ("No space left on
    # device"); EDQUOT ("Disk quota exceeded") is for user and group quotas.
    output = sandbox_file(agent, "quota", "stdout")
    assert "No space left on device" in output or "Disk quota exceeded" in output, output
    assert project_id(sandbox) == 6000
    assert project_id(os.path.join(sandbox, "kept")) == 6000  # inherited
    used_kb, hard_kb = quota_report(xfs.mount_point, 6000, 6009)[6000]
    assert hard_kb == 5 * 1024
    assert 2 * 1024 <= used_kb < 3 * 1024
    stats = statistics(agent, "quota")
    assert stats["disk_limit_bytes"] == 5 * MB
    assert stats["disk_used_bytes"] == used_kb * 1024
    # Without --xfs_kill_containers the container keeps running.
    listed = [c["container_id"]["value"] for c in agent.containers(show_standalone=True)]
    assert listed == ["quota"]

    # Once the container is gone its project id is free again: the sandbox
    # (kept for the operator) is relabelled, the quota record cleared.
    agent.kill_container("quota")
    wait_json(agent, "quota")
    assert project_id(sandbox) == 0 and project_id(os.path.join(sandbox, "kept")) == 0
    assert 6000 not in quota_report(xfs.mount_point, 6000, 6009)
    assert agent.launch("next", "sleep 1000", resources=disk(5)).status == 200
    assert project_id(agent.sandbox("next")) == 6000
    agent.kill_container("next")
    wait_json(agent, "next")
    assert agent.remove("next").status == 200
    assert quota_report(xfs.mount_point, 6000, 6009) == {}


def test_xfs_project_range_is_exhausted_then_freed(
        xfs: XfsImage, xfs_agent: Callable[..., AgentProcess]) -> None:
    agent = xfs_agent(["--xfs_project_range=[6100-6101]"])
    for name in ("a", "b"):
        assert agent.launch(name, "sleep 1000", resources=disk(1)).status == 200
    assert {project_id(agent.sandbox(n)) for n in ("a", "b")} == {6100, 6101}
    refused = agent.launch("c", "sleep 1000", resources=disk(1))
    assert refused.status == 400 and "range exhausted" in refused.text, refused.text
    agent.kill_container("b")
    wait_json(agent, "b")
    assert project_id(agent.sandbox("b")) == 0
    assert agent.launch("c", "sleep 1000", resources=disk(1)).status == 200
    assert project_id(agent.sandbox("c")) == 6101


def test_xfs_kill_containers(xfs: XfsImage, xfs_agent: Callable[..., AgentProcess]) -> None:
    agent = xfs_agent(["--xfs_project_range=[6200-6209]", "--xfs_kill_containers", INTERVAL])
    command = "dd if=/dev/zero of=big bs=1M count=8 2>/dev/null; sleep 1000"
    assert agent.launch("killed", command, resources=disk(4)).status == 200
    wait = wait_json(agent, "killed")
    assert wait["state"] == "TASK_FAILED"
    assert wait["reason"] == "REASON_CONTAINER_LIMITATION_DISK"
    assert [r["name"] for r in wait["limitation"]["resources"]] == ["disk"]
    assert re.fullmatch(r"Disk usage \(\d+\w*B\) exceeded quota \(4MB\)", wait["message"]), wait


def test_xfs_projects_survive_an_agent_restart(
        xfs: XfsImage, xfs_agent: Callable[..., AgentProcess]) -> None:
    agent = xfs_agent(["--xfs_project_range=[6300-6309]", INTERVAL])
    assert agent.launch("old", "sleep 1000", resources=disk(3)).status == 200
    assert agent.launch("ended", "true", resources=disk(3)).status == 200
    wait_json(agent, "ended")
    agent.kill(9)  # no clean shutdown
    agent.start()
    # The running container keeps its project; the recovered agent reads the
    # quota back and does not give the id to another container.
    wait_until(lambda: statistics(agent, "old").get("disk_limit_bytes") == 3 * MB)
    assert agent.launch("new", "sleep 1000", resources=disk(3)).status == 200
    assert project_id(agent.sandbox("old")) == 6300
    assert project_id(agent.sandbox("new")) == 6301
    agent.kill_container("old")
    wait_json(agent, "old")
    assert project_id(agent.sandbox("old")) == 0
    assert set(quota_report(xfs.mount_point, 6300, 6309)) == {6301}


# ================================================================== the end
def test_no_mount_or_loop_device_is_left() -> None:
    """Runs last in this module: nothing of these tests is mounted or attached."""
    mounted = [fields for fields in _proc_mounts()
               if any(fields[1].startswith(os.path.dirname(image)) for image in CREATED_IMAGES)]
    assert mounted == []
    attached = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert [image for image in CREATED_IMAGES if image in attached] == []
