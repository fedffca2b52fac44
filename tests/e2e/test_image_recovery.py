"""Agent SIGKILL and restart with image containers: running ones are recovered
with their root filesystems; what ended or never finished launching is cleaned up."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from typing import Any, Callable, Iterator

import pytest

from tests.agent import AgentProcess, wait_until
from tests.file_server import FileServer
from tests.images import (IMAGES, Registry, SlowLinkToRegistry, appc_image, docker_image,
                          make_images)

ISOLATION = "--isolation=filesystem/linux,docker/runtime,namespaces/pid"


def mounts_under(path: str) -> list[str]:
    with open("/proc/self/mounts") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(path)]


def provisioned(agent: AgentProcess) -> list[str]:
    containers = os.path.join(agent.work_dir, "provisioner", "containers")
    return sorted(os.listdir(containers)) if os.path.isdir(containers) else []


def test_image_containers_survive_an_agent_sigkill(make_agent: Callable[..., AgentProcess],
                                                   tmp_path: Any) -> None:
    make_images()
    agent = make_agent(["--launcher=linux", ISOLATION, "--image_providers=docker",
                        "--image_provisioner_backend=overlay",
                        f"--docker_registry={IMAGES}/docker-archive",
                        f"--docker_store_dir={tmp_path / 'store'}"])
    keeps = ("i=0; while true; do i=$((i+1)); echo $i > /tmp/count; "
             "cp /tmp/count $MESOS_SANDBOX/count; sleep 0.05; done")
    assert agent.launch("runner", keeps, container=docker_image("busybox")).status == 200
    ender = "while [ ! -e $MESOS_SANDBOX/go ]; do sleep 0.05; done; exit 3"
    assert agent.launch("ender", ender, container=docker_image("busybox")).status == 200
    provisioner = os.path.join(agent.work_dir, "provisioner")
    wait_until(lambda: os.path.exists(os.path.join(agent.sandbox("runner"), "count")))
    assert len(mounts_under(provisioner)) == 2

    assert agent.kill(signal.SIGKILL) == -signal.SIGKILL
    ender_pid = open(os.path.join(agent.work_dir, "meta", "containers", "ender", "pid")).read()
    open(os.path.join(agent.sandbox("ender"), "go"), "w").close()  # it ends while we are down
    wait_until(lambda: not os.path.exists(f"/proc/{ender_pid.split()[0]}"), timeout=10)
    agent.start()

    running = [c["container_id"]["value"] for c in agent.containers(show_standalone=True)]
    assert running == ["runner"]
    assert agent.wait("ender").json()["wait_container"]["exit_status"] == 3 << 8
    # The ended container's rootfs went at recovery; the runner's is still mounted and used.
    assert provisioned(agent) == ["runner"]
    [mount] = mounts_under(provisioner)
    assert "/containers/runner/" in mount
    count = os.path.join(agent.sandbox("runner"), "count")

    def counted() -> int | None:
        # One read: `cp` truncates before it writes, so the file may be empty.
        text = open(count).read().strip()
        return int(text) if text else None

    before = wait_until(counted)
    wait_until(lambda: (counted() or 0) > before + 2)

    assert agent.kill_container("runner").status == 200
    assert agent.wait("runner").json()["wait_container"]["exit_status"] == signal.SIGKILL
    assert provisioned(agent) == []
    assert mounts_under(provisioner) == []


@pytest.fixture
def stalling_server() -> Iterator[FileServer]:
    served = FileServer()
    served.stall_seconds = 30.0
    yield served
    served.stop()


def test_a_launch_whose_pull_was_cut_by_the_kill_is_cleaned_up(
        make_agent: Callable[..., AgentProcess], stalling_server: FileServer,
        tmp_path: Any) -> None:
    info = make_images()
    labels = {"os": "linux", "arch": info["architecture"]}
    aci = f"/mesos-py/busybox-latest-linux-{info['architecture']}.aci"
    stalling_server.stalling.add(aci)
    store = tmp_path / "appc-store"
    flags = ["--launcher=linux", "--isolation=filesystem/linux", "--image_providers=appc",
             f"--appc_simple_discovery_uri_prefix={stalling_server.url}/",
             f"--appc_store_dir={store}"]
    agent = make_agent(flags)
    replies: list[Any] = []

    def launch() -> None:
        try:
            replies.append(agent.launch("pulling", "true",
                                        container=appc_image("mesos-py/busybox", labels)))
        except OSError as error:
            replies.append(error)

    thread = threading.Thread(target=launch)
    thread.start()
    # Half the image is in the store's staging area when the agent dies.
    wait_until(lambda: stalling_server.gets.get(aci) and os.listdir(store / "staging"))
    staged = os.listdir(store / "staging")
    agent.kill(signal.SIGKILL)
    thread.join(timeout=30)
    assert isinstance(replies[0], OSError)  # the agent died before it could answer

    stalling_server.stalling.discard(aci)
    stalling_server.files[aci] = open(os.path.join(IMAGES, "appc", aci.lstrip("/")), "rb").read()
    agent.start()
    wait = agent.wait("pulling").json()["wait_container"]
    assert wait == {"message": "Container launch was interrupted by an agent restart"}
    assert not set(os.listdir(store / "staging")) & set(staged)
    assert os.listdir(store / "images") == []
    assert provisioned(agent) == []
    # The image pulls fine now.
    assert agent.launch("again", "cat /etc/layer",
                        container=appc_image("mesos-py/busybox", labels)).status == 200
    assert agent.wait("again").json()["wait_container"]["exit_status"] == 0
    assert open(os.path.join(agent.sandbox("again"), "stdout")).read() == "top\n"


def test_an_orphan_image_container_is_killed_and_its_rootfs_unmounted(
        make_agent: Callable[..., AgentProcess], tmp_path: Any) -> None:
    make_images()
    agent = make_agent(["--launcher=linux", ISOLATION, "--image_providers=docker",
                        "--image_provisioner_backend=overlay",
                        f"--docker_registry={IMAGES}/docker-archive",
                        f"--docker_store_dir={tmp_path / 'store'}"])
    assert agent.launch("orphan", "sleep 1000", container=docker_image("busybox")).status == 200
    [entry] = agent.containers(show_standalone=True)
    pid = entry["container_status"]["executor_pid"]
    agent.kill(signal.SIGKILL)
    # No checkpoint knows it any more; the kernel (its cgroup) still does.
    shutil.rmtree(os.path.join(agent.work_dir, "meta", "containers", "orphan"))
    agent.start()
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10)
    wait_until(lambda: provisioned(agent) == [], timeout=10)
    assert mounts_under(os.path.join(agent.work_dir, "provisioner")) == []
    assert agent.containers(show_standalone=True) == []


@pytest.fixture
def slow_registry(tmp_path: Any) -> Iterator[SlowLinkToRegistry]:
    make_images()
    registry = Registry(str(tmp_path / "registry")).start()
    link = SlowLinkToRegistry(registry.address)
    try:
        yield link
    finally:
        link.stop()
        registry.stop()


def test_a_docker_pull_cut_by_the_kill_is_cleaned_up(
        make_agent: Callable[..., AgentProcess], slow_registry: SlowLinkToRegistry,
        tmp_path: Any) -> None:
    info = make_images()
    top_layer = info["oci_layout"]["layer_digests"][1]  # the registry's blobs are the layout's
    slow_registry.stalling.add(top_layer)
    store = tmp_path / "store"
    agent = make_agent(["--launcher=linux", ISOLATION, "--image_providers=docker",
                        "--image_provisioner_backend=overlay",
                        f"--docker_registry=http://{slow_registry.address}",
                        f"--docker_store_dir={store}"])
    replies: list[Any] = []

    def launch() -> None:
        try:
            replies.append(agent.launch("pulling", "true",
                                        container=docker_image("mesos-py/busybox")))
        except OSError as error:
            replies.append(error)

    thread = threading.Thread(target=launch)
    thread.start()
    # The top layer is half-downloaded into the store's staging area when the agent dies.
    wait_until(lambda: slow_registry.stalled and os.listdir(store / "staging"))
    staged = os.listdir(store / "staging")
    agent.kill(signal.SIGKILL)
    thread.join(timeout=30)
    assert isinstance(replies[0], OSError)

    slow_registry.release()
    agent.start()
    wait = agent.wait("pulling").json()["wait_container"]
    assert wait == {"message": "Container launch was interrupted by an agent restart"}
    assert not set(os.listdir(store / "staging")) & set(staged)
    top_diff_id = info["docker_archive"]["diff_ids"][1].partition(":")[2]
    assert top_diff_id not in os.listdir(store / "layers")
    assert not os.path.exists(store / "storedImages")
    assert provisioned(agent) == []
    assert mounts_under(os.path.join(agent.work_dir, "provisioner")) == []
    # The store is consistent: the image pulls and runs now.
    assert agent.launch("again", {"shell": False},
                        container=docker_image("mesos-py/busybox")).status == 200
    assert agent.wait("again").json()["wait_container"]["exit_status"] == 0
    assert open(os.path.join(agent.sandbox("again"), "stdout")).read() == info["expected_stdout"]
    assert top_diff_id in os.listdir(store / "layers")


def test_a_container_killed_while_its_image_is_pulled_leaves_nothing(
        make_agent: Callable[..., AgentProcess], slow_registry: SlowLinkToRegistry,
        tmp_path: Any) -> None:
    info = make_images()
    slow_registry.stalling.add(info["oci_layout"]["layer_digests"][1])
    store = tmp_path / "store"
    agent = make_agent(["--launcher=linux", ISOLATION, "--image_providers=docker",
                        "--image_provisioner_backend=overlay", "--fetcher_stall_timeout=2secs",
                        f"--docker_registry=http://{slow_registry.address}",
                        f"--docker_store_dir={store}"])
    replies: list[Any] = []
    thread = threading.Thread(target=lambda: replies.append(
        agent.launch("pulling", "true", container=docker_image("mesos-py/busybox"))))
    thread.start()
    wait_until(lambda: slow_registry.stalled)
    assert agent.kill_container("pulling").status == 200
    # The destroy lets the pull settle (here: the stall timeout) and removes what it made.
    assert agent.wait("pulling").json() == {"type": "WAIT_CONTAINER", "wait_container": {}}
    thread.join(timeout=30)
    assert replies[0].status == 400
    assert "no data for the stall timeout" in replies[0].text, replies[0].text
    assert os.listdir(store / "staging") == []
    assert not os.path.exists(store / "storedImages")
    assert provisioned(agent) == []
    assert agent.containers(show_standalone=True) == []
    slow_registry.release()
    assert agent.launch("again", "cat /data/hello.txt",
                        container=docker_image("mesos-py/busybox")).status == 200
    assert agent.wait("again").json()["wait_container"]["exit_status"] == 0
