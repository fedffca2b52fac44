"""The Linux launcher, namespaces, filesystem/linux and volumes, proved through the kernel."""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from typing import Callable, Iterator

import pytest

from tests.agent import AgentProcess, unique_name, wait_until

LINUX = ["--launcher=linux", "--isolation=filesystem/linux,namespaces/pid,namespaces/ipc"]


def output(agent: AgentProcess, container_id: str) -> list[str]:
    with open(os.path.join(agent.sandbox(container_id), "stdout")) as out:
        return out.read().splitlines()


def host_mounts() -> str:
    with open("/proc/self/mounts") as mounts:
        return mounts.read()


@pytest.fixture
def outside_tmp() -> Iterator[str]:
    """A scratch directory not under /tmp (a private /tmp would hide /tmp/...)."""
    path = f"/var/tmp/{unique_name('scratch')}"
    os.makedirs(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def linux_agent(make_agent: Callable[..., AgentProcess]) -> AgentProcess:
    return make_agent(LINUX)


def test_container_has_its_own_namespaces_and_sees_only_itself(linux_agent: AgentProcess) -> None:
    agent = linux_agent
    command = "readlink /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/ipc; ps -e -o pid,comm"
    assert agent.launch("ns", command).status == 200
    assert agent.wait("ns").json()["wait_container"]["exit_status"] == 0
    lines = output(agent, "ns")
    namespaces = lines[:3]
    for line, name in zip(namespaces, ("pid", "mnt", "ipc")):
        assert line.startswith(f"{name}:[")
        assert line != os.readlink(f"/proc/self/ns/{name}")
    processes = [line.split() for line in lines[4:]]
    assert processes[0] == ["1", "mesos-py-init"]
    assert sorted(comm for _, comm in processes) == ["mesos-py-init", "ps", "sh"]


def test_exit_status_and_signals_pass_through_the_init(linux_agent: AgentProcess) -> None:
    agent = linux_agent
    assert agent.launch("code", "exit 7").status == 200
    assert agent.wait("code").json()["wait_container"]["exit_status"] == 7 << 8
    script = "trap 'exit 42' TERM; touch ready; while true; do sleep 0.05; done"
    assert agent.launch("trap", script).status == 200
    wait_until(lambda: os.path.exists(os.path.join(agent.sandbox("trap"), "ready")))
    assert agent.kill_container("trap", signal.SIGTERM).status == 200
    assert agent.wait("trap").json()["wait_container"]["exit_status"] == 42 << 8


def test_destroy_kills_double_forked_and_stubborn_processes(linux_agent: AgentProcess) -> None:
    agent = linux_agent
    # A daemon that leaves the session and ignores SIGTERM and SIGHUP.
    script = ("(trap '' TERM HUP; setsid sh -c 'trap \"\" TERM HUP; echo $$ > daemon; "
              "while true; do sleep 1; done' &) ; touch started; sleep 1000")
    assert agent.launch("stubborn", script).status == 200
    daemon_file = os.path.join(agent.sandbox("stubborn"), "daemon")
    wait_until(lambda: os.path.exists(daemon_file) and open(daemon_file).read().strip())
    inner_pid = int(open(daemon_file).read())
    # It is visible from the host under some pid in the container's namespace.
    init = agent.containers(show_standalone=True)[0]["container_status"]["executor_pid"]
    namespace = os.readlink(f"/proc/{init}/ns/pid")
    members = [p for p in os.listdir("/proc") if p.isdigit() and _ns(p) == namespace]
    assert len(members) >= 3 and inner_pid > 1
    assert agent.kill_container("stubborn").status == 200
    assert agent.wait("stubborn").json()["wait_container"]["exit_status"] == signal.SIGKILL
    assert [p for p in os.listdir("/proc") if p.isdigit() and _ns(p) == namespace] == []


def _ns(pid: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def test_volumes_are_bind_mounted_with_their_mode(make_agent: Callable[..., AgentProcess],
                                                  outside_tmp: str) -> None:
    agent = make_agent(LINUX, root=outside_tmp)
    read_only, read_write = os.path.join(outside_tmp, "ro"), os.path.join(outside_tmp, "rw")
    os.makedirs(read_only)
    os.makedirs(read_write)
    with open(os.path.join(read_only, "file"), "w") as host_file:
        host_file.write("from the host\n")
    volumes = [{"container_path": "ro", "host_path": read_only, "mode": "RO"},
               {"container_path": "rw", "host_path": read_write, "mode": "RW"},
               {"container_path": "/tmp", "host_path": "tmp", "mode": "RW"}]
    command = ("cat ro/file; (echo x > ro/new) 2>/dev/null || echo read-only; "
               "echo y > rw/new && echo written; echo private > /tmp/marker; ls /tmp")
    reply = agent.launch("vols", command, container={"type": "MESOS", "volumes": volumes})
    assert reply.status == 200, reply.text
    assert agent.wait("vols").json()["wait_container"]["exit_status"] == 0
    assert output(agent, "vols") == ["from the host", "read-only", "written", "marker"]
    assert not os.path.exists(os.path.join(read_only, "new"))
    assert os.path.exists(os.path.join(read_write, "new"))
    assert not os.path.exists("/tmp/marker")
    assert os.path.exists(os.path.join(agent.sandbox("vols"), "tmp", "marker"))
    assert outside_tmp not in host_mounts(), "no mount may leak into the host's namespace"


def test_bad_volumes_are_400(linux_agent: AgentProcess) -> None:
    agent = linux_agent
    for volume, message in (
        ({"container_path": "x", "host_path": "/no/such/dir", "mode": "RW"},
         "Path '/no/such/dir' in HOST_PATH volume does not exist"),
        ({"container_path": "/no/such/mount/point", "host_path": "/etc", "mode": "RO"},
         "Mount point '/no/such/mount/point' is an absolute path"),
        ({"container_path": "rel", "mode": "RW",
          "source": {"type": "SANDBOX_PATH", "sandbox_path": {"type": "PARENT", "path": "x"}}},
         "SANDBOX_PATH volume PARENT type only works for nested container"),
    ):
        reply = agent.launch(f"bad-{uuid.uuid4().hex[:6]}", "true",
                             container={"type": "MESOS", "volumes": [volume]})
        assert reply.status == 400
        assert message in reply.text


def test_posix_filesystem_refuses_volumes(make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--launcher=posix"])
    volume = {"container_path": "x", "host_path": "/etc", "mode": "RO"}
    reply = agent.launch("posix-vol", "true", container={"type": "MESOS", "volumes": [volume]})
    assert (reply.status, reply.text) == (400, "Volumes in ContainerInfo is not supported")


def test_pid_namespace_requires_filesystem_linux(make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--isolation=namespaces/pid"], start=False)
    with pytest.raises(RuntimeError, match="'filesystem/linux' must be used to enable pid"):
        agent.start()
    agent = make_agent(["--launcher=posix", "--isolation=filesystem/linux,namespaces/pid"],
                       start=False, name="posix")
    with pytest.raises(RuntimeError, match="'linux' launcher must be used"):
        agent.start()


def test_namespaced_containers_survive_an_agent_restart(linux_agent: AgentProcess) -> None:
    agent = linux_agent
    assert agent.launch("lasting", "sleep 1000").status == 200
    init = agent.containers(show_standalone=True)[0]["container_status"]["executor_pid"]
    namespace = os.readlink(f"/proc/{init}/ns/pid")
    agent.kill(signal.SIGKILL)
    agent.start()
    [entry] = agent.containers(show_standalone=True)
    assert entry["container_status"]["executor_pid"] == init
    assert os.readlink(f"/proc/{init}/ns/pid") == namespace
    assert agent.kill_container("lasting", signal.SIGTERM).status == 200
    assert agent.wait("lasting").json()["wait_container"]["exit_status"] == signal.SIGTERM


def test_a_signal_sent_right_after_launch_is_not_lost(linux_agent: AgentProcess) -> None:
    """The init of a pid namespace ignores signals it has no handler for yet:
    a SIGTERM racing its start-up must still reach the command."""
    agent = linux_agent
    for attempt in range(15):
        name = f"early-{attempt}"
        assert agent.launch(name, "exec sleep 1000").status == 200
        assert agent.kill_container(name, signal.SIGTERM).status == 200
        reply = agent.wait(name, timeout=10)
        assert reply.json()["wait_container"]["exit_status"] == signal.SIGTERM


def _freezer(agent: AgentProcess) -> str:
    return os.path.join("/sys/fs/cgroup/freezer", agent.cgroups_root)


def test_linux_launcher_tracks_each_container_in_a_freezer_cgroup(
        make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--launcher=linux", "--isolation=posix/cpu"])
    assert agent.launch("tracked", "sleep 1000").status == 200
    [entry] = agent.containers(show_standalone=True)
    pid = entry["container_status"]["executor_pid"]
    with open(f"/proc/{pid}/cgroup") as membership:
        freezer = next(line for line in membership if ":freezer:" in line)
    assert freezer.strip().endswith(f"/{agent.cgroups_root}/tracked")
    assert agent.kill_container("tracked").status == 200
    agent.wait("tracked")
    assert not os.path.exists(os.path.join(_freezer(agent), "tracked"))


def test_destroy_kills_a_daemon_that_left_the_session_without_a_pid_namespace(
        make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--launcher=linux", "--isolation=posix/cpu"])
    script = ("setsid sh -c 'trap \"\" TERM HUP; echo $$ > daemon; while true; do sleep 1; "
              "done' & sleep 1000")
    assert agent.launch("escapee", script).status == 200
    daemon_file = os.path.join(agent.sandbox("escapee"), "daemon")
    wait_until(lambda: os.path.exists(daemon_file) and open(daemon_file).read().strip())
    daemon = int(open(daemon_file).read())
    assert os.getsid(daemon) == daemon  # a session of its own: a posix launcher would miss it
    assert agent.kill_container("escapee").status == 200
    agent.wait("escapee")
    wait_until(lambda: not _running(daemon), timeout=5)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_recovery_destroys_orphans_no_checkpoint_knows(
        make_agent: Callable[..., AgentProcess]) -> None:
    import subprocess
    agent = make_agent(["--launcher=linux", "--isolation=posix/cpu"])
    assert agent.launch("known", "sleep 1000").status == 200
    agent.kill(signal.SIGKILL)
    # A process in a container cgroup of this agent's root, unknown to any checkpoint.
    stray_cgroup = os.path.join(_freezer(agent), "stray")
    os.makedirs(stray_cgroup)
    stray = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    with open(os.path.join(stray_cgroup, "cgroup.procs"), "w") as procs:
        procs.write(str(stray.pid))
    agent.start()
    assert stray.wait(timeout=10) == -signal.SIGKILL
    wait_until(lambda: not os.path.exists(stray_cgroup))
    assert "stray: destroying an orphan" in agent.log()
    assert [c["container_id"]["value"] for c in agent.containers(show_standalone=True)] == \
        ["known"]
