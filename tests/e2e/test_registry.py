"""Pulling from a real Docker registry (distribution, on loopback): schema 2,
OCI manifests and indexes, digests, a 404 and a damaged blob."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
from typing import Any, Callable, Iterator

import pytest

from tests.agent import AgentProcess
from tests.images import (REGISTRY, Registry, TlsBasicAuthRegistry, TokenAuthRegistry,
                          derive_archive, docker_image, make_images)

ISOLATION = "--isolation=filesystem/linux,docker/runtime,namespaces/pid"
REPO = f"{REGISTRY}/mesos-py/busybox"


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    make_images()
    registry = Registry()
    try:
        yield registry.start()
    finally:
        registry.stop()


@pytest.fixture
def registry_agent(make_agent: Callable[..., AgentProcess], tmp_path: Any,
                   registry: Registry) -> Callable[..., AgentProcess]:
    def make(extra: list[str] | None = None, name: str = "agent",
             env: dict[str, str] | None = None) -> AgentProcess:
        return make_agent(["--launcher=linux", ISOLATION, "--image_providers=docker",
                           "--image_provisioner_backend=overlay",
                           f"--docker_store_dir={tmp_path / name / 'store'}", *(extra or [])],
                          name=name, env=env)
    return make


def launch_and_read(agent: AgentProcess, container_id: str, image: str,
                    command: str | dict[str, Any] | None = None) -> str:
    reply = agent.launch(container_id, command if command is not None else {"shell": False},
                         container=docker_image(image))
    assert reply.status == 200, reply.text
    assert agent.wait(container_id).json()["wait_container"]["exit_status"] == 0
    with open(os.path.join(agent.sandbox(container_id), "stdout")) as out:
        return out.read()


def registry_request(address: str, method: str, path: str, body: bytes = b"",
                     headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(address, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def manifest_digest(address: str, repository: str, tag: str, media_type: str) -> str:
    status, headers, _ = registry_request(address, "HEAD", f"/v2/{repository}/manifests/{tag}",
                                          headers={"Accept": media_type})
    assert status == 200
    return headers["docker-content-digest"]


def test_the_seed_launch_runs_in_the_image_pulled_from_the_registry(
        registry_agent: Callable[..., AgentProcess], image_info: dict[str, Any]) -> None:
    agent = registry_agent()
    # The seed's LAUNCH_CONTAINER, with the image name pointing at the local registry.
    reply = agent.call({"type": "LAUNCH_CONTAINER", "launch_container": {
        "container_id": {"value": "my-standalone-container-id"},
        "command": {"value": "cat /etc/os-release /data/hello.txt; test ! -e /etc/deleteme"},
        "resources": [{"name": "cpus", "scalar": {"value": 2.0}, "type": "SCALAR"},
                      {"name": "mem", "scalar": {"value": 1024.0}, "type": "SCALAR"},
                      {"name": "disk", "scalar": {"value": 1024.0}, "type": "SCALAR"}],
        "container": {"type": "MESOS", "mesos": {"image": {"type": "DOCKER",
                                                           "docker": {"name": REPO}}}}}})
    assert reply.status == 200, reply.text
    wait = agent.wait("my-standalone-container-id").json()
    assert wait == {"type": "WAIT_CONTAINER", "wait_container": {"exit_status": 0}}
    output = open(os.path.join(agent.sandbox("my-standalone-container-id"), "stdout")).read()
    assert output == 'NAME="mesos-py busybox"\nID=mesos-py-busybox\nhello from layer 2\n'
    store = os.path.join(agent.work_dir, "..", "store")
    stored = json.load(open(os.path.join(store, "storedImages")))["images"]
    assert list(stored) == [f"{REPO}:latest"]
    assert sorted(stored[f"{REPO}:latest"]["layers"]) == sorted(
        d.partition(":")[2] for d in image_info["docker_archive"]["diff_ids"])


@pytest.fixture(scope="module")
def image_info() -> dict[str, Any]:
    return make_images()


def test_oci_manifest_digest_reference_and_a_second_pull_fetches_no_layer(
        registry_agent: Callable[..., AgentProcess], image_info: dict[str, Any]) -> None:
    agent = registry_agent()
    expected = image_info["expected_stdout"]
    assert launch_and_read(agent, "oci", f"{REPO}:oci") == expected
    digest = image_info["oci_layout"]["manifest_digest"]
    assert launch_and_read(agent, "pinned", f"{REPO}@{digest}") == expected
    assert launch_and_read(agent, "schema2", f"{REPO}:latest") == expected
    # Three references, one set of layers: stored once, fetched once.
    assert agent.log().count("Stored layer") == 2
    # A cached image is not pulled again.
    assert launch_and_read(agent, "again", f"{REPO}:oci") == expected
    assert agent.log().count(f"Pulling image '{REPO}:oci'") == 1
    # `cached: false` asks the registry again; the layers it names are in the store.
    reply = agent.launch("fresh", {"shell": False},
                         container=docker_image(f"{REPO}:oci", cached=False))
    assert reply.status == 200, reply.text
    assert agent.wait("fresh").json()["wait_container"]["exit_status"] == 0
    assert agent.log().count(f"Pulling image '{REPO}:oci'") == 2
    assert agent.log().count("Stored layer") == 2


def test_an_index_gives_the_manifest_of_this_platform(
        registry_agent: Callable[..., AgentProcess], registry: Registry,
        image_info: dict[str, Any], tmp_path: Any) -> None:
    # A variant image pushed to the registry, listed first in an index as arm64.
    archives = tmp_path / "archives"
    variant = str(archives / "variant.tar")  # skopeo reads a ':' in a path as a reference
    os.rename(derive_archive(str(archives), "variant", config={"Cmd": ["echo wrong platform"]}),
              variant)
    subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                    "--format", "oci", f"docker-archive:{variant}",
                    f"docker://{REPO}:variant"], check=True, timeout=120)
    oci = "application/vnd.oci.image.manifest.v1+json"
    amd64 = manifest_digest(REGISTRY, "mesos-py/busybox", "oci", oci)
    arm64 = manifest_digest(REGISTRY, "mesos-py/busybox", "variant", oci)

    def entry(digest: str, architecture: str) -> dict[str, Any]:
        status, headers, body = registry_request(
            REGISTRY, "GET", f"/v2/mesos-py/busybox/manifests/{digest}", headers={"Accept": oci})
        return {"mediaType": oci, "digest": digest, "size": len(body),
                "platform": {"os": "linux", "architecture": architecture}}

    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [entry(arm64, "arm64"), entry(amd64, image_info["architecture"])]}
    status, _, body = registry_request(
        REGISTRY, "PUT", "/v2/mesos-py/busybox/manifests/multi", json.dumps(index).encode(),
        {"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert status == 201, body
    agent = registry_agent()
    assert launch_and_read(agent, "multi", f"{REPO}:multi") == image_info["expected_stdout"]
    assert launch_and_read(agent, "variant", f"{REPO}:variant") == "wrong platform\n"


def test_an_unknown_image_is_a_clear_400_and_the_store_stays_usable(
        registry_agent: Callable[..., AgentProcess], image_info: dict[str, Any]) -> None:
    agent = registry_agent()
    reply = agent.launch("missing", "true", container=docker_image(f"{REGISTRY}/mesos-py/nope"))
    assert reply.status == 400
    assert reply.text == (f"Failed to pull image '{REGISTRY}/mesos-py/nope:latest': the "
                          f"registry {REGISTRY} answered 404 Not Found for the manifest of "
                          "'mesos-py/nope': MANIFEST_UNKNOWN manifest unknown")
    unreachable = agent.launch("down", "true", container=docker_image("127.0.0.1:9/busybox"))
    assert unreachable.status == 400
    assert "cannot fetch http://127.0.0.1:9/v2/busybox/manifests/latest" in unreachable.text
    assert launch_and_read(agent, "ok", REPO) == image_info["expected_stdout"]


@pytest.mark.parametrize("damage", ["layer", "config"])
def test_a_damaged_blob_fails_the_pull_and_leaves_nothing_in_the_store(
        registry_agent: Callable[..., AgentProcess], image_info: dict[str, Any],
        tmp_path: Any, damage: str) -> None:
    # A registry of our own, whose copy of layer 2 (or of the config) is then damaged on disk.
    damaged = Registry(str(tmp_path / "registry")).start()
    try:
        digest = (image_info["oci_layout"]["layer_digests"][1] if damage == "layer"
                  else image_info["oci_layout"]["config_digest"])
        blob = damaged.blob_path(digest)
        data = bytearray(open(blob, "rb").read())
        data[len(data) // 2] ^= 0xFF
        open(blob, "wb").write(bytes(data))
        agent = registry_agent()
        reply = agent.launch("bad", "true",
                             container=docker_image(f"{damaged.address}/mesos-py/busybox"))
        assert reply.status == 400
        what = "layer" if damage == "layer" else "image config"
        assert f"Digest mismatch for {what} {digest}" in reply.text, reply.text
        store = tmp_path / "agent" / "store"
        assert os.listdir(store / "staging") == []
        layers = os.listdir(store / "layers")
        assert image_info["docker_archive"]["diff_ids"][1].partition(":")[2] not in layers
        assert os.listdir(store / "configs") == []
        assert not os.path.exists(store / "storedImages")
        # The same image from the intact registry: the store is fine.
        assert launch_and_read(agent, "good", REPO) == image_info["expected_stdout"]
    finally:
        damaged.stop()


def test_token_auth_with_docker_config_credentials(
        registry_agent: Callable[..., AgentProcess], image_info: dict[str, Any],
        tmp_path: Any) -> None:
    secured = TokenAuthRegistry(str(tmp_path / "auth"), "alice", "s3cret").start()
    try:
        image = f"{secured.address}/mesos-py/busybox"
        refused = registry_agent(name="anonymous")
        reply = refused.launch("anon", "true", container=docker_image(image))
        assert reply.status == 400
        assert "answered 401 Unauthorized for 'repository:mesos-py/busybox:pull': " \
               "UNAUTHORIZED bad credentials" in reply.text, reply.text

        auth = base64.b64encode(b"alice:s3cret").decode()
        config = json.dumps({"auths": {f"http://{secured.address}/v2/": {"auth": auth}}})
        agent = registry_agent([f"--docker_config={config}"], name="alice")
        assert launch_and_read(agent, "authed", image) == image_info["expected_stdout"]
        # One token for the whole pull, asked for with alice's credentials.
        granted = [q for q, authorization in secured.requests if authorization == secured.expected]
        assert granted == ["service=mesos-py-registry&scope=repository%3Amesos-py%2Fbusybox%3Apull"]
    finally:
        secured.stop()


def test_https_registry_with_basic_auth_from_docker_config(
        registry_agent: Callable[..., AgentProcess], image_info: dict[str, Any],
        tmp_path: Any) -> None:
    # --docker_registry is an https URL; the image name has no registry. The
    # agent trusts the registry's self-signed certificate through OpenSSL's
    # SSL_CERT_FILE, and answers its Basic challenge from --docker_config.
    secured = TlsBasicAuthRegistry(str(tmp_path / "tls"), "bob", "hunter2").start()
    try:
        url = f"https://{secured.address}"
        trusted = {"SSL_CERT_FILE": secured.cert}

        def config(password: str) -> str:
            auth = base64.b64encode(f"bob:{password}".encode()).decode()
            return "--docker_config=" + json.dumps({"auths": {url: {"auth": auth}}})

        anonymous = registry_agent([f"--docker_registry={url}"], name="anonymous", env=trusted)
        reply = anonymous.launch("anon", "true", container=docker_image("mesos-py/busybox"))
        assert (reply.status, reply.text) == (400, (
            f"Failed to pull image 'mesos-py/busybox:latest': the registry {secured.address} "
            "needs credentials for the manifest of 'mesos-py/busybox' (none in "
            "--docker_config)"))

        wrong = registry_agent([f"--docker_registry={url}", config("wrong")], name="wrong",
                               env=trusted)
        reply = wrong.launch("wrong", "true", container=docker_image("mesos-py/busybox"))
        assert reply.status == 400
        assert f"the registry {secured.address} answered 401 Unauthorized for the manifest " \
               "of 'mesos-py/busybox'" in reply.text, reply.text

        untrusting = registry_agent([f"--docker_registry={url}", config("hunter2")],
                                    name="untrusting")
        reply = untrusting.launch("untrusted", "true",
                                  container=docker_image("mesos-py/busybox"))
        assert reply.status == 400
        assert f"cannot fetch {url}/v2/mesos-py/busybox/manifests/latest: " in reply.text
        assert "CERTIFICATE_VERIFY_FAILED" in reply.text, reply.text

        agent = registry_agent([f"--docker_registry={url}", config("hunter2")], name="bob",
                               env=trusted)
        assert launch_and_read(agent, "bob", "mesos-py/busybox") == image_info["expected_stdout"]

        for refused in (anonymous, wrong, untrusting):  # nothing was pulled
            store = os.path.join(os.path.dirname(refused.work_dir), "store")
            assert not os.path.exists(os.path.join(store, "storedImages"))
            assert os.listdir(os.path.join(store, "layers")) == []

        # The image's own docker config (a VALUE secret) instead of the flag's.
        document = json.dumps({"auths": {url: {"auth": base64.b64encode(
            b"bob:hunter2").decode()}}}).encode()
        secret = {"type": "VALUE", "value": {"data": base64.b64encode(document).decode()}}
        reply = anonymous.launch("own-config", {"shell": False}, container=docker_image(
            "mesos-py/busybox", docker={"name": "mesos-py/busybox", "config": secret}))
        assert reply.status == 200, reply.text
        assert anonymous.wait("own-config").json()["wait_container"]["exit_status"] == 0
        with open(os.path.join(anonymous.sandbox("own-config"), "stdout")) as out:
            assert out.read() == image_info["expected_stdout"]
        stored = json.load(open(tmp_path / "bob" / "store" / "storedImages"))["images"]
        assert list(stored) == ["mesos-py/busybox:latest"]
    finally:
        secured.stop()
