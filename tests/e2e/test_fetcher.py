"""The fetcher: CommandInfo.uris into the sandbox, with extraction, the cache and failures."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import threading
import time
import zipfile
from typing import Any, Callable, Iterator

import pytest

from tests.agent import AgentProcess
from tests.file_server import FileServer
from tests.images import IMAGES, docker_image, make_images, self_signed


@pytest.fixture
def server() -> Iterator[FileServer]:
    served = FileServer()
    yield served
    served.stop()


def tgz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def launch(agent: AgentProcess, container_id: str, command: str, uris: list[dict[str, Any]],
           **extra: Any) -> Any:
    return agent.launch(container_id, {"value": command, "uris": uris}, **extra)


def sandbox_file(agent: AgentProcess, container_id: str, name: str) -> str:
    with open(os.path.join(agent.sandbox(container_id), name)) as source:
        return source.read()


@pytest.fixture
def fetch_agent(make_agent: Callable[..., AgentProcess],
                tmp_path: Any) -> Callable[..., AgentProcess]:
    def make(*extra: str) -> AgentProcess:
        return make_agent([f"--fetcher_cache_dir={tmp_path / 'cache'}", *extra])
    return make


def test_uris_are_fetched_extracted_and_made_executable(
        fetch_agent: Callable[..., AgentProcess], server: FileServer, tmp_path: Any) -> None:
    agent = fetch_agent()
    local = tmp_path / "bundle.tgz"
    local.write_bytes(tgz({"conf/app.conf": b"answer=42\n"}))
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho script ran\n")
    server.files["/data.txt"] = b"over http\n"
    server.files["/notes.gz"] = gzip.compress(b"unzipped\n")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("z/inside.txt", "from zip\n")
    server.files["/pack.zip"] = zipped.getvalue()
    uris: list[dict[str, Any]] = [
        {"value": str(local)},
        {"value": f"file://{script}", "executable": True},
        {"value": f"{server.url}/data.txt", "output_file": "fetched/renamed.txt"},
        {"value": f"{server.url}/notes.gz"},
        {"value": f"{server.url}/pack.zip"},
        {"value": f"{server.url}/data.txt?version=2", "extract": False,
         "output_file": "plain.txt"}]
    command = "cat conf/app.conf fetched/renamed.txt notes z/inside.txt plain.txt; ./run.sh"
    reply = launch(agent, "fetch", command, uris)
    assert reply.status == 200, reply.text
    assert agent.wait("fetch").json()["wait_container"]["exit_status"] == 0
    assert sandbox_file(agent, "fetch", "stdout") == (
        "answer=42\nover http\nunzipped\nfrom zip\nover http\nscript ran\n")
    sandbox = agent.sandbox("fetch")
    assert os.stat(os.path.join(sandbox, "run.sh")).st_mode & stat.S_IXUSR
    assert os.path.exists(os.path.join(sandbox, "bundle.tgz"))  # archives are kept
    assert not [n for n in os.listdir(sandbox) if n.startswith(".mesos-py-fetch")]
    log = sandbox_file(agent, "fetch", "stderr")
    assert f"Fetching URI '{server.url}/pack.zip'" in log
    assert "Extracted 'pack.zip' into the sandbox" in log


def test_cache_downloads_a_uri_once_and_bypasses_what_does_not_fit(
        fetch_agent: Callable[..., AgentProcess], server: FileServer, tmp_path: Any) -> None:
    agent = fetch_agent("--fetcher_cache_size=1KB")
    server.files["/small"] = b"s" * 100
    server.files["/big"] = b"b" * 5000
    for index in range(3):
        reply = launch(agent, f"small{index}", "wc -c < small",
                       [{"value": f"{server.url}/small", "cache": True}])
        assert reply.status == 200, reply.text
        assert agent.wait(f"small{index}").json()["wait_container"]["exit_status"] == 0
        assert sandbox_file(agent, f"small{index}", "stdout") == "100\n"
    assert server.gets["/small"] == 1
    cache = tmp_path / "cache"
    assert [open(cache / name, "rb").read() for name in os.listdir(cache)] == [b"s" * 100]
    for index in range(2):
        reply = launch(agent, f"big{index}", "wc -c < big",
                       [{"value": f"{server.url}/big", "cache": True}])
        assert reply.status == 200, reply.text
        assert agent.wait(f"big{index}").json()["wait_container"]["exit_status"] == 0
    assert server.gets["/big"] == 2  # bigger than the whole cache: never cached
    assert "bypassing the cache" in agent.log()


def test_concurrent_fetches_of_a_cached_uri_download_it_once(
        fetch_agent: Callable[..., AgentProcess], server: FileServer) -> None:
    agent = fetch_agent()
    server.files["/shared.tgz"] = tgz({"shared.txt": b"shared\n"})
    replies: dict[str, int] = {}

    def go(container_id: str) -> None:
        replies[container_id] = launch(agent, container_id, "cat shared.txt", [
            {"value": f"{server.url}/shared.tgz", "cache": True}]).status

    threads = [threading.Thread(target=go, args=(f"c{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(replies.values()) == {200}
    for container_id in replies:
        assert agent.wait(container_id).json()["wait_container"]["exit_status"] == 0
        assert sandbox_file(agent, container_id, "stdout") == "shared\n"
    assert server.gets["/shared.tgz"] == 1


def test_a_failed_fetch_fails_the_launch_and_leaves_nothing_half_written(
        fetch_agent: Callable[..., AgentProcess], server: FileServer) -> None:
    agent = fetch_agent()
    server.files["/good.txt"] = b"good\n"
    reply = launch(agent, "fail", "true", [{"value": f"{server.url}/good.txt"},
                                           {"value": f"{server.url}/missing.txt"}])
    assert reply.status == 400
    assert reply.text == ("Failed to fetch all URIs for container 'fail': Failed to download "
                          f"'{server.url}/missing.txt': HTTP 404 Not Found")
    # Launch failures leave no container, and the sandbox holds no fetched file.
    sandbox = agent.sandbox("fail")
    leftovers = [n for n in os.listdir(sandbox) if n not in ("stdout", "stderr")] \
        if os.path.isdir(sandbox) else []
    assert leftovers == []
    assert agent.wait("fail").status == 404


def test_bad_uris_are_400s(fetch_agent: Callable[..., AgentProcess]) -> None:
    agent = fetch_agent()
    cases = [
        ([{"value": "ftp://example.com/x"}],
         "Failed to fetch all URIs for container 'bad0': Unsupported URI 'ftp://example.com/x' "
         "(http, https, file and absolute paths are)"),
        ([{"value": "/etc/hostname", "output_file": "../escape"}],
         "Failed to fetch all URIs for container 'bad1': Output file '../escape' is not a path "
         "inside the sandbox"),
        ([{"value": "/nonexistent/file"}],
         "Failed to fetch all URIs for container 'bad2': Failed to copy '/nonexistent/file': "
         "No such file or directory"),
    ]
    for index, (uris, message) in enumerate(cases):
        reply = launch(agent, f"bad{index}", "true", uris)
        assert (reply.status, reply.text) == (400, message)


def test_a_stalled_download_is_aborted(fetch_agent: Callable[..., AgentProcess],
                                       server: FileServer) -> None:
    agent = fetch_agent("--fetcher_stall_timeout=1secs")
    started = time.monotonic()
    reply = launch(agent, "stall", "true", [{"value": f"{server.url}/stall"}])
    assert reply.status == 400
    assert "nothing received for 1 seconds (--fetcher_stall_timeout)" in reply.text
    assert time.monotonic() - started < 4


def test_fetched_files_are_in_the_sandbox_of_an_image_container(
        make_agent: Callable[..., AgentProcess], server: FileServer, tmp_path: Any) -> None:
    info = make_images()
    agent = make_agent(["--launcher=linux",
                        "--isolation=filesystem/linux,docker/runtime,namespaces/pid",
                        "--image_providers=docker", "--image_provisioner_backend=overlay",
                        f"--docker_registry={IMAGES}/docker-archive",
                        f"--docker_store_dir={tmp_path / 'store'}",
                        f"--fetcher_cache_dir={tmp_path / 'cache'}"])
    server.files["/app.tgz"] = tgz({"app/hello": b"fetched into the image's sandbox\n"})
    reply = agent.launch("img", {"value": "cat $MESOS_SANDBOX/app/hello; cat /etc/layer",
                                 "uris": [{"value": f"{server.url}/app.tgz"}]},
                         container=docker_image("busybox"))
    assert reply.status == 200, reply.text
    assert agent.wait("img").json()["wait_container"]["exit_status"] == 0
    assert sandbox_file(agent, "img", "stdout") == "fetched into the image's sandbox\ntop\n"
    assert info["architecture"]


def test_https_uris_are_fetched_from_a_trusted_server_only(
        make_agent: Callable[..., AgentProcess], tmp_path: Any) -> None:
    # The agent trusts the server's self-signed certificate through OpenSSL's SSL_CERT_FILE.
    key, cert = self_signed(str(tmp_path), "127.0.0.1", "IP:127.0.0.1")
    served = FileServer(tls=(cert, key))
    try:
        served.files["/secure.tgz"] = tgz({"secure.txt": b"over https\n"})
        uri = [{"value": f"{served.url}/secure.tgz"}]
        trusting = make_agent([f"--fetcher_cache_dir={tmp_path / 'cache'}"], name="trusting",
                              env={"SSL_CERT_FILE": cert})
        reply = launch(trusting, "secure", "cat secure.txt", uri)
        assert reply.status == 200, reply.text
        assert trusting.wait("secure").json()["wait_container"]["exit_status"] == 0
        assert sandbox_file(trusting, "secure", "stdout") == "over https\n"

        untrusting = make_agent(name="untrusting")
        reply = launch(untrusting, "untrusted", "true", uri)
        assert reply.status == 400
        assert reply.text.startswith(f"Failed to fetch all URIs for container 'untrusted': "
                                     f"Failed to download '{served.url}/secure.tgz'"), reply.text
        assert "CERTIFICATE_VERIFY_FAILED" in reply.text, reply.text
        assert served.gets == {"/secure.tgz": 1}
    finally:
        served.stop()
