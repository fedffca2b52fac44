"""Containers in their image's root filesystem: docker archives and OCI
layouts (the local puller), the copy/overlay/bind backends and
filesystem/linux with a rootfs, proved from inside the container and
through the host's mount table."""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Callable

import pytest

from tests.agent import AgentProcess, wait_for, wait_until
from tests.images import (IMAGES, appc_image, copy_oci_layout, derive_archive, docker_image,
                          legacy_archive, make_images)

ISOLATION = "--isolation=filesystem/linux,docker/runtime,namespaces/pid"
ARCHIVES = os.path.join(IMAGES, "docker-archive")


@pytest.fixture(scope="session")
def image_info() -> dict[str, Any]:
    return make_images()


@pytest.fixture
def image_agent(make_agent: Callable[..., AgentProcess], tmp_path: Any,
                image_info: dict[str, Any]) -> Callable[..., AgentProcess]:
    def make(backend: str = "copy", registry: str = ARCHIVES, extra: list[str] | None = None,
             name: str = "agent") -> AgentProcess:
        return make_agent(["--launcher=linux", ISOLATION, "--image_providers=docker",
                           f"--image_provisioner_backend={backend}",
                           f"--docker_registry={registry}",
                           f"--docker_store_dir={tmp_path / name / 'store'}", *(extra or [])],
                          name=name)
    return make


def stdout(agent: AgentProcess, container_id: str) -> str:
    with open(os.path.join(agent.sandbox(container_id), "stdout")) as out:
        return out.read()


def stderr(agent: AgentProcess, container_id: str) -> str:
    with open(os.path.join(agent.sandbox(container_id), "stderr")) as err:
        return err.read()


def run(agent: AgentProcess, container_id: str, command: str | dict[str, Any],
        image: str = "busybox", **extra: Any) -> int:
    """Launches and waits; the exit status (the launch must succeed)."""
    reply = agent.launch(container_id, command, container=docker_image(image), **extra)
    assert reply.status == 200, reply.text
    result = agent.wait(container_id).json()["wait_container"]
    return int(result.get("exit_status", -1))


def provisioned(agent: AgentProcess) -> list[str]:
    """Containers that have a directory in the provisioner."""
    containers = os.path.join(agent.work_dir, "provisioner", "containers")
    return sorted(os.listdir(containers)) if os.path.isdir(containers) else []


def host_mounts_under(path: str) -> list[str]:
    with open("/proc/self/mounts") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(path)]


MERGED_VIEW = ("cat /etc/layer /data/hello.txt; grep ^NAME= /etc/os-release; "
               "test -e /etc/deleteme || echo deleteme-gone; ls /opaque; "
               "echo \"sandbox=$MESOS_SANDBOX cwd=$PWD\"")


@pytest.mark.parametrize("backend", ["copy", "overlay"])
def test_command_runs_in_the_merged_layers_of_a_docker_archive(
        image_agent: Callable[..., AgentProcess], backend: str) -> None:
    agent = image_agent(backend)
    assert run(agent, "merged", MERGED_VIEW) == 0
    assert stdout(agent, "merged").splitlines() == [
        "top", "hello from layer 2", 'NAME="mesos-py busybox"', "deleteme-gone", "new",
        "sandbox=/mnt/mesos/sandbox cwd=/data"]
    # Destroyed with its container: no rootfs, no mount, no scratch space left.
    provisioner = os.path.join(agent.work_dir, "provisioner")
    assert provisioned(agent) == []
    assert host_mounts_under(provisioner) == []


def test_image_entrypoint_cmd_env_and_workdir_make_the_default_command(
        image_agent: Callable[..., AgentProcess], image_info: dict[str, Any]) -> None:
    agent = image_agent()
    assert run(agent, "default", {"shell": False}) == 0
    assert stdout(agent, "default") == image_info["expected_stdout"]


def test_overlay_rootfs_is_an_overlay_mount_of_the_store_layers_while_it_runs(
        image_agent: Callable[..., AgentProcess]) -> None:
    agent = image_agent("overlay")
    reply = agent.launch("ov", "echo written > /etc/new-file; touch /mnt/mesos/sandbox/ready; "
                               "sleep 1000", container=docker_image("busybox"))
    assert reply.status == 200, reply.text
    wait_until(lambda: os.path.exists(os.path.join(agent.sandbox("ov"), "ready")))
    provisioner = os.path.join(agent.work_dir, "provisioner")
    with open("/proc/self/mountinfo") as mountinfo:
        overlay = [line for line in mountinfo if provisioner in line and " - overlay " in line]
    assert len(overlay) == 1, overlay
    assert "lowerdir=" in overlay[0] and "upperdir=" in overlay[0]
    rootfs = overlay[0].split()[4]
    # The container's writes land in its upper directory, not in the store's layers.
    scratch = rootfs.replace("/rootfses/", "/scratch/") + "/upperdir"
    assert open(os.path.join(scratch, "etc", "new-file")).read() == "written\n"
    layers = os.path.join(agent.work_dir, "..", "store", "layers")
    assert not any(os.path.exists(os.path.join(layers, layer, "rootfs", "etc", "new-file"))
                   for layer in os.listdir(layers))
    assert agent.kill_container("ov").status == 200
    agent.wait("ov")
    assert host_mounts_under(provisioner) == []
    assert not os.path.exists(rootfs) and not os.path.exists(os.path.dirname(scratch))


def test_a_destroyed_rootfs_goes_to_the_trash_and_is_deleted_after(
        image_agent: Callable[..., AgentProcess]) -> None:
    agent = image_agent("overlay")
    trash = os.path.join(agent.work_dir, "provisioner", "trash")
    assert run(agent, "t1", "echo data > /written") == 0
    # Gone from its place (and unmounted) when WAIT answers; deleted soon after.
    assert provisioned(agent) == []
    assert host_mounts_under(os.path.join(agent.work_dir, "provisioner")) == []
    wait_for(lambda: os.listdir(trash) == [], 10, "the trash emptied")


def test_the_next_container_takes_the_spare_directory(
        image_agent: Callable[..., AgentProcess]) -> None:
    agent = image_agent("overlay")
    spares = os.path.join(agent.work_dir, "provisioner", "spare")
    assert run(agent, "s1", "true") == 0
    wait_for(lambda: len(os.listdir(spares)) == 1, 10, "a spare after the destroy")
    [spare] = os.listdir(spares)
    reply = agent.launch("s2", "touch /mnt/mesos/sandbox/ready; sleep 1000",
                         container=docker_image("busybox"))
    assert reply.status == 200, reply.text
    wait_until(lambda: os.path.exists(os.path.join(agent.sandbox("s2"), "ready")))
    # Its rootfs is the spare, renamed into place, with the spare's rootfs id.
    rootfses = os.path.join(agent.work_dir, "provisioner", "containers", "s2", "backends",
                            "overlay", "rootfses")
    assert os.listdir(rootfses) == [spare]
    assert spare not in os.listdir(spares)
    assert agent.kill_container("s2").status == 200
    agent.wait("s2")


def test_trash_a_killed_agent_left_is_deleted_at_recovery(
        image_agent: Callable[..., AgentProcess]) -> None:
    agent = image_agent("overlay")
    assert run(agent, "r1", "true") == 0
    agent.kill()
    # What a kill between a destroy's move and the deletion leaves (a window of
    # milliseconds, so made here by hand): a container directory in the trash.
    left = os.path.join(agent.work_dir, "provisioner", "trash", "left")
    upper = os.path.join(left, "backends", "overlay", "scratch", "r", "upperdir")
    os.makedirs(os.path.join(left, "backends", "overlay", "rootfses", "r"))
    os.makedirs(os.path.join(upper, "etc"))
    with open(os.path.join(upper, "etc", "file"), "w") as out:
        out.write("x")
    agent.start()
    wait_for(lambda: not os.path.exists(left), 10, "the trash deleted at recovery")
    # The container ended before the kill is still known, with its status.
    assert agent.wait("r1").json()["wait_container"]["exit_status"] == 0
    assert run(agent, "r2", "true") == 0


def test_bind_backend_refuses_a_multi_layer_image(image_agent: Callable[..., AgentProcess]) -> None:
    agent = image_agent("bind")
    reply = agent.launch("bind", "true", container=docker_image("busybox"))
    assert reply.status == 400
    assert reply.text == ("Failed to provision DOCKER image 'busybox' with the bind backend: "
                          "Multiple layers are not supported by the bind backend")
    assert provisioned(agent) == []


def test_bind_backend_mounts_a_single_layer_image_read_only(
        image_agent: Callable[..., AgentProcess], tmp_path: Any) -> None:
    archives = tmp_path / "archives"
    derive_archive(str(archives), "base", bottom_layers=1,
                   config={"Cmd": None, "WorkingDir": None})  # /data is in layer 2
    agent = image_agent("bind", registry=str(archives))
    script = ("cat /etc/layer; test -e /etc/deleteme && echo deleteme-here; "
              "touch /etc/x 2>/dev/null && echo writable || echo read-only; "
              "echo out > $MESOS_SANDBOX/out; touch /mnt/mesos/sandbox/ready; sleep 1000")
    reply = agent.launch("bind", script, container=docker_image("base"))
    assert reply.status == 200, reply.text
    wait_until(lambda: os.path.exists(os.path.join(agent.sandbox("bind"), "ready")))
    assert stdout(agent, "bind").splitlines() == ["base", "deleteme-here", "read-only"]
    assert open(os.path.join(agent.sandbox("bind"), "out")).read() == "out\n"
    # The rootfs is a read-only bind mount of the store's only layer.
    provisioner = os.path.join(agent.work_dir, "provisioner")
    [rootfs] = host_mounts_under(provisioner)
    assert "/backends/bind/rootfses/" in rootfs
    with open("/proc/self/mountinfo") as mountinfo:
        [entry] = [line.split() for line in mountinfo if line.split()[4] == rootfs]
    assert entry[3].endswith("/rootfs") and "/store/layers/" in entry[3]
    assert entry[5].split(",")[0] == "ro"
    assert agent.kill_container("bind").status == 200
    agent.wait("bind")
    assert provisioned(agent) == []
    assert host_mounts_under(provisioner) == []


def test_proc_sys_dev_and_the_sandbox_inside_the_rootfs(
        image_agent: Callable[..., AgentProcess]) -> None:
    agent = image_agent("overlay")
    script = ("cat /proc/1/comm; ls /dev | tr '\\n' ' '; echo; "
              "echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; "
              "touch /sys/x 2>/dev/null || echo sys-ro; "
              "echo from-inside > $MESOS_SANDBOX/inside; "
              "test -e /proc/kcore && cat /proc/kcore | wc -c; grep -c ' / ' /proc/self/mounts")
    assert run(agent, "dev", script) == 0
    lines = stdout(agent, "dev").splitlines()
    assert lines[0] == "mesos-py-init"
    assert set(lines[1].split()) >= {"null", "zero", "full", "random", "urandom", "tty",
                                     "pts", "shm", "fd", "stdin", "stdout", "stderr", "ptmx"}
    assert lines[2:5] == ["null-ok", "4", "sys-ro"]
    assert lines[5] in ("0", "1")  # masked /proc/kcore reads as nothing
    with open(os.path.join(agent.sandbox("dev"), "inside")) as inside:
        assert inside.read() == "from-inside\n"


def test_volumes_are_mounted_inside_the_rootfs(image_agent: Callable[..., AgentProcess],
                                                tmp_path: Any) -> None:
    agent = image_agent("overlay")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "from-host").write_text("host data\n")
    volumes = [{"container_path": "/srv/host", "host_path": str(shared), "mode": "RO"},
               {"container_path": "cache", "host_path": str(shared), "mode": "RW"},
               {"container_path": "/srv/scratch", "mode": "RW",
                "source": {"type": "SANDBOX_PATH",
                           "sandbox_path": {"type": "SELF", "path": "scratch"}}}]
    container = docker_image("busybox")
    container["volumes"] = volumes
    script = ("cat /srv/host/from-host; touch /srv/host/x 2>/dev/null || echo ro; "
              "cat $MESOS_SANDBOX/cache/from-host; echo s > /srv/scratch/file")
    reply = agent.launch("vol", script, container=container)
    assert reply.status == 200, reply.text
    assert agent.wait("vol").json()["wait_container"]["exit_status"] == 0
    assert stdout(agent, "vol").splitlines() == ["host data", "ro", "host data"]
    assert open(os.path.join(agent.sandbox("vol"), "scratch", "file")).read() == "s\n"
    # The mount point /srv/host was made in the container's rootfs, not on the host.
    assert not os.path.exists("/srv/host")


def test_oci_layout_in_the_local_directory(image_agent: Callable[..., AgentProcess],
                                          tmp_path: Any) -> None:
    layouts = tmp_path / "layouts"
    copy_oci_layout(str(layouts), "busybox")
    agent = image_agent("overlay", registry=str(layouts))
    assert run(agent, "oci", "cat /etc/layer /data/hello.txt") == 0
    assert stdout(agent, "oci").splitlines() == ["top", "hello from layer 2"]


def test_a_legacy_archive_with_only_repositories_and_layer_json(
        image_agent: Callable[..., AgentProcess], image_info: dict[str, Any],
        tmp_path: Any) -> None:
    # No manifest.json and no image config: the layer chain comes from the
    # `repositories` file and each layer's `json` (its `parent`), the runtime
    # config from the top layer's `json`, and no layer has a diff id to check.
    archives = tmp_path / "legacy"
    legacy_archive(str(archives))
    agent = image_agent("overlay", registry=str(archives))
    assert run(agent, "default", {"shell": False}) == 0
    assert stdout(agent, "default") == image_info["expected_stdout"]
    assert run(agent, "merged", MERGED_VIEW) == 0
    assert stdout(agent, "merged").splitlines()[:5] == [
        "top", "hello from layer 2", 'NAME="mesos-py busybox"', "deleteme-gone", "new"]
    # Stored by content: the same layer ids as the modern archive's diff ids.
    store = tmp_path / "agent" / "store"
    stored = json.load(open(store / "storedImages"))["images"]["busybox:latest"]
    assert stored["layers"] == [d.partition(":")[2]
                                for d in image_info["docker_archive"]["diff_ids"]]


def test_layers_are_shared_and_concurrent_launches_pull_each_layer_once(
        image_agent: Callable[..., AgentProcess], tmp_path: Any) -> None:
    archives = tmp_path / "archives"
    derive_archive(str(archives), "other", config={"Env": ["OTHER=1"]})
    copy = os.path.join(ARCHIVES, "busybox.tar")
    os.symlink(copy, archives / "busybox.tar")
    agent = image_agent("overlay", registry=str(archives))
    results: dict[str, int] = {}

    def launch(container_id: str, image: str) -> None:
        reply = agent.launch(container_id, "cat /data/hello.txt",
                             container=docker_image(image))
        results[container_id] = reply.status

    threads = [threading.Thread(target=launch, args=(f"c{i}", "busybox")) for i in range(5)]
    threads += [threading.Thread(target=launch, args=(f"o{i}", "other")) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(results.values()) == {200}, results
    for container_id in results:
        assert agent.wait(container_id).json()["wait_container"]["exit_status"] == 0
    store = tmp_path / "agent" / "store"
    # Two images, two layers in all: the derived image shares busybox's layers.
    assert sorted(os.listdir(store / "layers")) == sorted(
        d.partition(":")[2] for d in json.load(open(os.path.join(IMAGES, "IMAGE-INFO.json")))
        ["docker_archive"]["diff_ids"])
    assert agent.log().count("Stored layer") == 2
    stored = json.load(open(store / "storedImages"))["images"]
    assert sorted(stored) == ["busybox:latest", "other:latest"]
    assert stored["busybox:latest"]["layers"] == stored["other:latest"]["layers"]


def test_unknown_image_and_corrupt_layer_fail_the_launch_and_keep_the_store_usable(
        image_agent: Callable[..., AgentProcess], tmp_path: Any) -> None:
    archives = tmp_path / "archives"
    derive_archive(str(archives), "corrupt", corrupt_layer=1)
    os.symlink(os.path.join(ARCHIVES, "busybox.tar"), archives / "busybox.tar")
    agent = image_agent("overlay", registry=str(archives))

    missing = agent.launch("missing", "true", container=docker_image("nosuchimage"))
    assert missing.status == 400
    assert missing.text.startswith(f"Failed to pull image 'nosuchimage:latest': Failed to find "
                                   f"image 'nosuchimage:latest' in '{archives}'")

    corrupt = agent.launch("corrupt", "true", container=docker_image("corrupt"))
    assert corrupt.status == 400
    assert "Digest mismatch for layer sha256:4669" in corrupt.text, corrupt.text
    store = tmp_path / "agent" / "store"
    assert os.listdir(store / "staging") == []
    # The good layer of the corrupt image may be stored; the corrupt one never.
    assert not any(name.startswith("4669") for name in os.listdir(store / "layers"))
    assert "corrupt:latest" not in json.load(open(store / "storedImages"))["images"] \
        if os.path.exists(store / "storedImages") else True
    assert provisioned(agent) == []

    assert run(agent, "good", "cat /data/hello.txt") == 0
    assert stdout(agent, "good") == "hello from layer 2\n"


def test_image_flags_are_checked_at_start_up(make_agent: Callable[..., AgentProcess]) -> None:
    cases = [
        (["--launcher=linux", "--isolation=filesystem/linux", "--image_providers=docker"],
         "Docker runtime isolator has to be specified if 'DOCKER' is included in "
         "'image_providers'"),
        (["--launcher=linux", "--isolation=posix/cpu", "--image_providers=appc"],
         "The 'filesystem/linux' isolator must be enabled for container image support"),
        (["--launcher=linux", "--isolation=filesystem/linux", "--image_providers=oci"],
         "Unknown image type 'oci'"),
        (["--launcher=linux", ISOLATION, "--image_providers=docker",
          "--image_provisioner_backend=aufs"],
         "The specified provisioner backend 'aufs' is not supported"),
    ]
    for index, (flags, message) in enumerate(cases):
        agent = make_agent(flags, start=False, name=f"bad{index}")
        with pytest.raises(RuntimeError) as failed:
            agent.start()
        assert message in str(failed.value)


# docker/runtime's table, end to end: four images (Entrypoint/Cmd set or not)
# times the eight CommandInfo rows; the Error cells are 400s.
RUNTIME_IMAGES: dict[str, dict[str, Any]] = {
    "e0c0": {"Entrypoint": None, "Cmd": None},
    "e0c1": {"Entrypoint": None, "Cmd": ["/bin/echo", "cmd1", "cmd2"]},
    "e1c0": {"Entrypoint": ["/bin/echo", "ep1"], "Cmd": None},
    "e1c1": {"Entrypoint": ["/bin/echo", "ep1"], "Cmd": ["cmd1", "cmd2"]},
}
RUNTIME_ROWS: dict[str, dict[str, Any]] = {
    "sh0v0a0": {"shell": False},
    "sh0v0a1": {"shell": False, "arguments": ["a1", "a2"]},
    "sh0v1a0": {"shell": False, "value": "/bin/echo"},
    "sh0v1a1": {"shell": False, "value": "/bin/echo", "arguments": ["echo", "v1"]},
    "sh1v0a0": {"shell": True},
    "sh1v0a1": {"shell": True, "arguments": ["a1", "a2"]},
    "sh1v1a0": {"shell": True, "value": "echo sh $PWD"},
    "sh1v1a1": {"shell": True, "value": "echo sh $PWD", "arguments": ["a1"]},
}
NO_EXECUTABLE = "Failed to determine the launch command: No executable is found"
NO_VALUE = "Failed to determine the launch command: Shell specified but no command value provided"
RUNTIME_TABLE = {
    "sh0v0a0": {"e0c0": NO_EXECUTABLE, "e0c1": "cmd1 cmd2", "e1c0": "ep1", "e1c1": "ep1 cmd1 cmd2"},
    "sh0v0a1": {"e0c0": NO_EXECUTABLE, "e0c1": "a1 a2", "e1c0": "ep1 a1 a2", "e1c1": "ep1 a1 a2"},
    "sh0v1a0": dict.fromkeys(RUNTIME_IMAGES, ""),
    "sh0v1a1": dict.fromkeys(RUNTIME_IMAGES, "v1"),
    "sh1v0a0": dict.fromkeys(RUNTIME_IMAGES, NO_VALUE),
    "sh1v0a1": dict.fromkeys(RUNTIME_IMAGES, NO_VALUE),
    "sh1v1a0": dict.fromkeys(RUNTIME_IMAGES, "sh /data"),
    "sh1v1a1": dict.fromkeys(RUNTIME_IMAGES, "sh /data"),
}


def test_docker_runtime_launch_command_table_end_to_end(
        image_agent: Callable[..., AgentProcess], tmp_path: Any) -> None:
    archives = tmp_path / "archives"
    for name, config in RUNTIME_IMAGES.items():
        derive_archive(str(archives), name, config=config)
    agent = image_agent("overlay", registry=str(archives))
    seen = {}
    for row, command in RUNTIME_ROWS.items():
        for image, expected in RUNTIME_TABLE[row].items():
            container_id = f"{row}-{image}"
            reply = agent.launch(container_id, dict(command), container=docker_image(image))
            if expected.startswith("Failed"):
                seen[container_id] = (reply.status, reply.text)
                continue
            assert reply.status == 200, (container_id, reply.text)
            assert agent.wait(container_id).json()["wait_container"]["exit_status"] == 0
            seen[container_id] = (reply.status, stdout(agent, container_id).rstrip("\n"))
    assert seen == {f"{row}-{image}": (400 if expected.startswith("Failed") else 200, expected)
                    for row, cells in RUNTIME_TABLE.items() for image, expected in cells.items()}


@pytest.fixture
def appc_agent(make_agent: Callable[..., AgentProcess], tmp_path: Any,
               image_info: dict[str, Any]) -> Callable[..., AgentProcess]:
    def make(backend: str) -> AgentProcess:
        return make_agent(["--launcher=linux", "--isolation=filesystem/linux,namespaces/pid",
                           "--image_providers=appc", f"--image_provisioner_backend={backend}",
                           f"--appc_simple_discovery_uri_prefix={IMAGES}/appc/",
                           f"--appc_store_dir={tmp_path / 'appc-store'}"])
    return make


APPC_LABELS = {"os": "linux", "arch": "amd64"}


@pytest.mark.parametrize("backend", ["bind", "copy"])
def test_appc_image_by_name_and_labels(appc_agent: Callable[..., AgentProcess],
                                       image_info: dict[str, Any], backend: str) -> None:
    agent = appc_agent(backend)
    labels = dict(APPC_LABELS, arch=image_info["architecture"])
    script = ("cat /etc/layer /data/hello.txt; test -e /etc/deleteme || echo deleteme-gone; "
              "touch /etc/x 2>/dev/null && echo writable || echo read-only; "
              "echo hi > $MESOS_SANDBOX/out")
    reply = agent.launch("aci", script, container=appc_image("mesos-py/busybox", labels))
    assert reply.status == 200, reply.text
    assert agent.wait("aci").json()["wait_container"]["exit_status"] == 0
    assert stdout(agent, "aci").splitlines() == [
        "top", "hello from layer 2", "deleteme-gone",
        "read-only" if backend == "bind" else "writable"]
    assert open(os.path.join(agent.sandbox("aci"), "out")).read() == "hi\n"
    image_id = image_info["aci"]["image_id"]
    store = os.path.join(agent.work_dir, "..", "..", "appc-store", "images")
    assert os.listdir(store) == [image_id]
    # By id, from the store (the discovery directory is not read again).
    reply = agent.launch("by-id", "true", container=appc_image("mesos-py/busybox",
                                                               image_id=image_id))
    assert reply.status == 200, reply.text
    assert agent.wait("by-id").json()["wait_container"]["exit_status"] == 0
    assert agent.log().count("Fetching Appc image") == 1
    assert provisioned(agent) == []


def test_appc_errors_are_clear(appc_agent: Callable[..., AgentProcess],
                               image_info: dict[str, Any]) -> None:
    agent = appc_agent("copy")
    reply = agent.launch("nolabel", "true", container=appc_image("mesos-py/busybox"))
    assert reply.status == 400
    assert reply.text == ("Failed to get discovery path for image 'mesos-py/busybox': Failed "
                          "to form simple discovery url: label 'os' is missing")
    labels = dict(APPC_LABELS, arch=image_info["architecture"])
    reply = agent.launch("wrongid", "true", container=appc_image(
        "mesos-py/busybox", labels, image_id="sha512-" + "0" * 128))
    assert reply.status == 400
    assert "has the id " + image_info["aci"]["image_id"] in reply.text
    reply = agent.launch("missing", "true", container=appc_image("mesos-py/nope", labels))
    assert reply.status == 400
    assert reply.text.startswith("Failed to fetch Appc image 'mesos-py/nope' from "
                                 f"'{IMAGES}/appc/mesos-py/nope-latest-linux-")


def test_image_volumes_are_provisioned_and_mounted(image_agent: Callable[..., AgentProcess],
                                                   tmp_path: Any) -> None:
    agent = image_agent("overlay")
    container = docker_image("busybox")
    container["volumes"] = [
        {"container_path": "/images/busybox", "mode": "RO",
         "image": {"type": "DOCKER", "docker": {"name": "busybox"}}},
        {"container_path": "relative-image", "mode": "RW",
         "image": {"type": "DOCKER", "docker": {"name": "busybox"}}}]
    script = ("cat /images/busybox/etc/layer; touch /images/busybox/x 2>/dev/null || echo ro; "
              "cat $MESOS_SANDBOX/relative-image/data/hello.txt; "
              "touch $MESOS_SANDBOX/relative-image/rw && echo rw; ls /proc/self/root/images")
    reply = agent.launch("volimg", script + "; touch $MESOS_SANDBOX/ready; sleep 1000",
                         container=container)
    assert reply.status == 200, reply.text
    wait_until(lambda: os.path.exists(os.path.join(agent.sandbox("volimg"), "ready")))
    assert stdout(agent, "volimg").splitlines() == ["top", "ro", "hello from layer 2", "rw",
                                                    "busybox"]
    # Three root filesystems for one container: its own and one per volume.
    rootfses = os.path.join(agent.work_dir, "provisioner", "containers", "volimg", "backends",
                            "overlay", "rootfses")
    assert len(os.listdir(rootfses)) == 3
    assert agent.kill_container("volimg").status == 200
    agent.wait("volimg")
    assert provisioned(agent) == []
    assert host_mounts_under(os.path.join(agent.work_dir, "provisioner")) == []


def test_an_image_volume_without_a_container_image(image_agent: Callable[..., AgentProcess],
                                                   ) -> None:
    agent = image_agent("copy")
    container = {"type": "MESOS", "volumes": [
        {"container_path": "tools", "mode": "RO",
         "image": {"type": "DOCKER", "docker": {"name": "busybox"}}}]}
    reply = agent.launch("hostfs", "test -x tools/bin/busybox && cat tools/etc/layer",
                         container=container)
    assert reply.status == 200, reply.text
    assert agent.wait("hostfs").json()["wait_container"]["exit_status"] == 0
    assert stdout(agent, "hostfs") == "top\n"
    assert provisioned(agent) == []
