"""PRUNE_IMAGES and --image_gc_config: unused images and layers go, used and excluded ones stay."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from typing import Any, Callable

import pytest

from tests.agent import AgentProcess, wait_until
from tests.images import IMAGES, appc_image, derive_archive, docker_image, make_images

ISOLATION = "--isolation=filesystem/linux,docker/runtime,namespaces/pid"


@pytest.fixture
def archives(tmp_path: Any) -> str:
    """busybox (2 layers) and two images with a third layer each."""
    make_images()
    directory = str(tmp_path / "archives")
    os.makedirs(directory)
    os.symlink(os.path.join(IMAGES, "docker-archive", "busybox.tar"),
               os.path.join(directory, "busybox.tar"))
    derive_archive(directory, "extra", extra_layer={"extra/file": b"extra\n"})
    derive_archive(directory, "other", extra_layer={"other/file": b"other\n"})
    return directory


def layer_id(files: dict[str, bytes]) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layer:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            layer.addfile(info, io.BytesIO(data))
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def prune(agent: AgentProcess, *excluded: str) -> None:
    reply = agent.call({"type": "PRUNE_IMAGES", "prune_images": {"excluded_images": [
        {"type": "DOCKER", "docker": {"name": name}} for name in excluded]}})
    assert reply.status == 200, reply.text
    assert reply.body == b""


def stored(store: str) -> tuple[list[str], list[str]]:
    images = json.load(open(os.path.join(store, "storedImages")))["images"]
    return sorted(images), sorted(os.listdir(os.path.join(store, "layers")))


def du(path: str) -> int:
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(path)
               for f in files)


def test_prune_images_keeps_what_runs_and_what_is_excluded(
        make_agent: Callable[..., AgentProcess], archives: str, tmp_path: Any) -> None:
    store = str(tmp_path / "store")
    agent = make_agent(["--launcher=linux", ISOLATION, "--image_providers=docker",
                        "--image_provisioner_backend=overlay", f"--docker_registry={archives}",
                        f"--docker_store_dir={store}"])
    base = sorted(d.partition(":")[2] for d in json.load(open(
        os.path.join(IMAGES, "IMAGE-INFO.json")))["docker_archive"]["diff_ids"])
    extra, other = layer_id({"extra/file": b"extra\n"}), layer_id({"other/file": b"other\n"})
    assert agent.launch("running", "cat /extra/file; sleep 1000",
                        container=docker_image("extra")).status == 200
    for container_id, image in (("done-busybox", "busybox"), ("done-other", "other")):
        assert agent.launch(container_id, "true", container=docker_image(image)).status == 200
        assert agent.wait(container_id).json()["wait_container"]["exit_status"] == 0
    assert stored(store) == (["busybox:latest", "extra:latest", "other:latest"],
                             sorted(base + [extra, other]))
    before = du(store)

    prune(agent, "busybox")
    # busybox is excluded, extra runs; only other's own layer can go.
    assert stored(store) == (["busybox:latest", "extra:latest"], sorted(base + [extra]))
    assert du(store) < before
    assert os.listdir(os.path.join(store, "gc")) == []

    assert agent.kill_container("running").status == 200
    agent.wait("running")
    prune(agent)
    assert stored(store) == ([], [])
    assert os.listdir(os.path.join(store, "configs")) == []
    # The store still works: the next launch pulls again.
    assert agent.launch("again", "cat /etc/layer", container=docker_image("busybox")).status \
        == 200
    assert agent.wait("again").json()["wait_container"]["exit_status"] == 0
    assert stored(store) == (["busybox:latest"], base)


def test_image_gc_config_prunes_automatically_but_keeps_its_excluded_images(
        make_agent: Callable[..., AgentProcess], archives: str, tmp_path: Any) -> None:
    store = str(tmp_path / "store")
    # A headroom of 100%: the disk is always "too full", so every check prunes.
    gc = {"image_disk_headroom": 1.0, "image_disk_watch_interval": {"nanoseconds": 300_000_000},
          "excluded_images": [{"type": "DOCKER", "docker": {"name": "extra"}}]}
    agent = make_agent(["--launcher=linux", ISOLATION, "--image_providers=docker",
                        "--image_provisioner_backend=copy", f"--docker_registry={archives}",
                        f"--docker_store_dir={store}", f"--image_gc_config={json.dumps(gc)}"])
    for container_id, image in (("b", "busybox"), ("e", "extra")):
        assert agent.launch(container_id, "true", container=docker_image(image)).status == 200
        assert agent.wait(container_id).json()["wait_container"]["exit_status"] == 0
    extra = layer_id({"extra/file": b"extra\n"})
    wait_until(lambda: stored(store)[0] == ["extra:latest"], timeout=10)
    assert extra in stored(store)[1]


def test_a_malformed_image_gc_config_refuses_to_start(
        make_agent: Callable[..., AgentProcess]) -> None:
    agent = make_agent(["--launcher=linux", ISOLATION, "--image_providers=docker",
                        "--image_gc_config={\"image_disk_headroom\": 2}"], start=False)
    with pytest.raises(RuntimeError, match="image_disk_headroom must be a number between 0 "
                                           "and 1"):
        agent.start()


def test_prune_images_in_the_appc_store(make_agent: Callable[..., AgentProcess],
                                        tmp_path: Any) -> None:
    info = make_images()
    store = tmp_path / "appc-store"
    agent = make_agent(["--launcher=linux", "--isolation=filesystem/linux",
                        "--image_providers=appc", "--image_provisioner_backend=copy",
                        f"--appc_simple_discovery_uri_prefix={IMAGES}/appc/",
                        f"--appc_store_dir={store}"])
    labels = {"os": "linux", "arch": info["architecture"]}
    image = appc_image("mesos-py/busybox", labels)
    image_id = info["aci"]["image_id"]

    def appc_prune(*excluded: dict[str, Any]) -> list[str]:
        reply = agent.call({"type": "PRUNE_IMAGES",
                            "prune_images": {"excluded_images": list(excluded)}})
        assert reply.status == 200, reply.text
        return os.listdir(store / "images")

    assert agent.launch("done", "true", container=image).status == 200
    assert agent.wait("done").json()["wait_container"]["exit_status"] == 0
    assert appc_prune(image["mesos"]["image"]) == [image_id]  # excluded by name and labels
    assert agent.launch("running", "sleep 1000", container=image).status == 200
    assert appc_prune() == [image_id]  # in use
    assert agent.kill_container("running").status == 200
    agent.wait("running")
    assert appc_prune() == []
    assert agent.launch("again", "cat /etc/layer", container=image).status == 200
    assert agent.wait("again").json()["wait_container"]["exit_status"] == 0
    assert agent.log().count("Fetching Appc image") == 2
