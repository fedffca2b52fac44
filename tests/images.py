"""The test images of ../shared/tools/images, and variants of them made in tests.

`make-images` builds them once per machine into $MESOS_PY_IMAGES
(/tmp/mesos-py-images); a second run takes well under a second. Variants
(another Entrypoint/Cmd, a corrupt layer) are docker archives written next
to a test's own files, reusing the real layers.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import http.client
import http.server
import io
import json
import os
import shutil
import signal
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.parse
from typing import Any

from tests.agent import ROOT, free_port

TOOLS = os.path.normpath(os.path.join(ROOT, "..", "shared", "tools", "images"))
if not os.path.isdir(TOOLS):  # a worktree beside the main checkout
    TOOLS = "/work/shared/tools/images"
IMAGES = os.environ.get("MESOS_PY_IMAGES", "/tmp/mesos-py-images")
REGISTRY = "127.0.0.1:5000"


def make_images() -> dict[str, Any]:
    subprocess.run([os.path.join(TOOLS, "make-images"), IMAGES], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    with open(os.path.join(IMAGES, "IMAGE-INFO.json")) as info:
        return dict(json.load(info))


def docker_image(name: str, **extra: Any) -> dict[str, Any]:
    """A ContainerInfo (JSON) for a Docker image."""
    image: dict[str, Any] = {"type": "DOCKER", "docker": {"name": name}}
    image.update(extra)
    return {"type": "MESOS", "mesos": {"image": image}}


def appc_image(name: str, labels: dict[str, str] | None = None,
               image_id: str | None = None) -> dict[str, Any]:
    appc: dict[str, Any] = {"name": name}
    if labels:
        appc["labels"] = {"labels": [{"key": k, "value": v} for k, v in labels.items()]}
    if image_id:
        appc["id"] = image_id
    return {"type": "MESOS", "mesos": {"image": {"type": "APPC", "appc": appc}}}


def _members(path: str) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        out = {}
        for member in archive.getmembers():
            if member.isfile():
                source = archive.extractfile(member)
                assert source is not None
                out[member.name] = source.read()
        return out


def _write_archive(path: str, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def derive_archive(directory: str, name: str, tag: str = "latest",
                   config: dict[str, Any] | None = None,
                   corrupt_layer: int | None = None,
                   extra_layer: dict[str, bytes] | None = None,
                   bottom_layers: int | None = None) -> str:
    """A docker archive `directory/<name>:<tag>.tar` with busybox's layers and
    its config changed by `config` (keys of the runtime config; None deletes),
    or with one layer's content changed (its diff id no longer matches), or
    with a third layer holding the files `extra_layer`, or with only its
    `bottom_layers` first layers."""
    files = _members(os.path.join(IMAGES, "docker-archive", "busybox.tar"))
    manifest = json.loads(files["manifest.json"])
    entry = manifest[0]
    image_config = json.loads(files[entry["Config"]])
    if bottom_layers is not None:
        for dropped in entry["Layers"][bottom_layers:]:
            del files[dropped]
        del entry["Layers"][bottom_layers:]
        del image_config["rootfs"]["diff_ids"][bottom_layers:]
    if extra_layer is not None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as layer:
            for path, data in sorted(extra_layer.items()):
                info = tarfile.TarInfo(path)
                info.size, info.mode = len(data), 0o644
                layer.addfile(info, io.BytesIO(data))
        layer_bytes = buffer.getvalue()
        diff_id = hashlib.sha256(layer_bytes).hexdigest()
        files[f"{diff_id}/layer.tar"] = layer_bytes
        entry["Layers"].append(f"{diff_id}/layer.tar")
        image_config["rootfs"]["diff_ids"].append(f"sha256:{diff_id}")
    for key, value in (config or {}).items():
        if value is None:
            image_config["config"].pop(key, None)
        else:
            image_config["config"][key] = value
    if corrupt_layer is not None:
        layer_name = entry["Layers"][corrupt_layer]
        damaged = bytearray(files[layer_name])
        index = damaged.find(b"hello from layer 2")
        damaged[index if index >= 0 else 600] ^= 0x20
        files[layer_name] = bytes(damaged)
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    del files[entry["Config"]]
    files[config_name] = config_bytes
    entry["Config"] = config_name
    entry["RepoTags"] = [f"{name}:{tag}"]
    files["manifest.json"] = json.dumps(manifest).encode()
    files.pop("repositories", None)
    path = os.path.join(directory, f"{name}:{tag}.tar")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _write_archive(path, files)
    return path


def legacy_archive(directory: str, name: str = "busybox") -> str:
    """`directory/<name>.tar`: busybox.tar without manifest.json and the image
    config, as old `docker save` wrote it: only the `repositories` file and
    the `<layer id>/json` parent chain (what Mesos's local puller reads)."""
    files = _members(os.path.join(IMAGES, "docker-archive", "busybox.tar"))
    manifest = json.loads(files.pop("manifest.json"))
    del files[manifest[0]["Config"]]
    path = os.path.join(directory, f"{name}.tar")
    os.makedirs(directory, exist_ok=True)
    _write_archive(path, files)
    return path


def copy_oci_layout(directory: str, name: str = "busybox", corrupt_blob: str | None = None) -> str:
    """A copy of the OCI layout at `directory/<name>`; optionally one blob changed."""
    target = os.path.join(directory, name)
    shutil.copytree(os.path.join(IMAGES, "oci", "busybox"), target)
    if corrupt_blob is not None:
        path = os.path.join(target, "blobs", "sha256", corrupt_blob.partition(":")[2])
        data = bytearray(open(path, "rb").read())
        data[len(data) // 2] ^= 0xFF
        with open(path, "wb") as out:
            out.write(bytes(data))
    return target


class Registry:
    """A real Docker registry (distribution) started by the images tools.

    The default one serves 127.0.0.1:5000; `Registry(private=True)` starts
    another on a free port with its own storage (a test may then damage its blobs).
    """

    def __init__(self, state_dir: str | None = None) -> None:
        self.state_dir = state_dir
        self.address = REGISTRY if state_dir is None else f"127.0.0.1:{free_port()}"
        self.env = dict(os.environ, MESOS_PY_IMAGES=IMAGES)
        if state_dir is not None:
            self.env.update(MESOS_PY_REGISTRY_DIR=state_dir, MESOS_PY_REGISTRY_ADDR=self.address)

    def start(self) -> "Registry":
        subprocess.run([os.path.join(TOOLS, "start-registry"), IMAGES], env=self.env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=600)
        return self

    def stop(self) -> None:
        # The test session is a child subreaper: the registry, orphaned by
        # start-registry, is our child, and stays a zombie (alive to
        # stop-registry's `kill -0`) until reaped here.
        state = self.state_dir or os.environ.get("MESOS_PY_REGISTRY_DIR", "/tmp/mesos-py-registry")
        try:
            pid = int(open(os.path.join(state, "registry.pid")).read())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pid = 0
        deadline = time.monotonic() + 10
        while pid and time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                if not os.path.exists(f"/proc/{pid}"):
                    break
            time.sleep(0.02)
        subprocess.run([os.path.join(TOOLS, "stop-registry")], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def blob_path(self, digest: str) -> str:
        assert self.state_dir is not None
        hex_digest = digest.partition(":")[2]
        return os.path.join(self.state_dir, "data", "docker", "registry", "v2", "blobs",
                            "sha256", hex_digest[:2], hex_digest, "data")


class TokenAuthRegistry:
    """A real registry (distribution) demanding tokens, serving the main
    registry's storage read-only, and a token server (the token flow of
    https://docs.docker.com/registry/spec/auth/token/) that signs JWTs with
    a key made by openssl. Only `username:password` gets a token."""

    SERVICE, ISSUER = "mesos-py-registry", "mesos-py-test"

    def __init__(self, directory: str, username: str, password: str,
                 storage: str = "/tmp/mesos-py-registry/data") -> None:
        self.directory, self.storage = directory, storage
        self.expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.address = f"127.0.0.1:{free_port()}"
        self.requests: list[tuple[str, str | None]] = []  # (query, Authorization)
        self._process: subprocess.Popen[bytes] | None = None
        self._server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> "TokenAuthRegistry":
        os.makedirs(self.directory, exist_ok=True)
        self.key, self.cert = self_signed(self.directory, "mesos-py-token")
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self._x5c = base64.b64encode(der).decode()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        realm = f"http://127.0.0.1:{self._server.server_address[1]}/token"
        self._process = _serve_registry(self.directory, self.address, self.storage, f"""
auth:
  token:
    realm: {realm}
    service: {self.SERVICE}
    issuer: {self.ISSUER}
    rootcertbundle: {self.cert}
""")
        return self

    def stop(self) -> None:
        _stop_registry(self._process)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _token(self, scope: str) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        now = int(time.time())
        access = []
        if scope:
            kind, name, actions = scope.split(":")
            access = [{"type": kind, "name": name, "actions": actions.split(",")}]
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {"iss": self.ISSUER, "sub": "tester", "aud": self.SERVICE, "exp": now + 600,
                  "nbf": now - 60, "iat": now, "jti": f"t{now}", "access": access}
        payload = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode()))
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                                   input=payload.encode(), check=True,
                                   capture_output=True).stdout
        return payload + "." + b64(signature)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                query = urllib.parse.urlsplit(self.path).query
                authorization = self.headers.get("Authorization")
                outer.requests.append((query, authorization))
                params = dict(urllib.parse.parse_qsl(query))
                if authorization != outer.expected:
                    body = json.dumps({"errors": [{"code": "UNAUTHORIZED",
                                                   "message": "bad credentials"}]}).encode()
                    self.send_response(401)
                else:
                    body = json.dumps({"token": outer._token(params.get("scope", ""))}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


class TlsBasicAuthRegistry:
    """A real registry (distribution) over HTTPS, with a self-signed
    certificate for 127.0.0.1 (`cert`), demanding HTTP basic auth of
    `username:password` (an htpasswd file), serving the main registry's
    storage read-only."""

    def __init__(self, directory: str, username: str, password: str,
                 storage: str = "/tmp/mesos-py-registry/data") -> None:
        self.directory, self.storage = directory, storage
        self.username, self.password = username, password
        self.address = f"127.0.0.1:{free_port()}"
        self.cert = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> "TlsBasicAuthRegistry":
        os.makedirs(self.directory, exist_ok=True)
        key, self.cert = self_signed(self.directory, "127.0.0.1", "IP:127.0.0.1")
        htpasswd = os.path.join(self.directory, "htpasswd")
        with open(htpasswd, "w") as out:
            out.write(f"{self.username}:{_bcrypt(self.password)}\n")
        self._process = _serve_registry(self.directory, self.address, self.storage, f"""
  tls:
    certificate: {self.cert}
    key: {key}
auth:
  htpasswd:
    realm: mesos-py-basic
    path: {htpasswd}
""", cafile=self.cert)
        return self

    def stop(self) -> None:
        _stop_registry(self._process)


def self_signed(directory: str, name: str, san: str | None = None) -> tuple[str, str]:
    """(key, certificate) made by openssl in `directory`."""
    key, cert = (os.path.join(directory, n) for n in ("key.pem", "cert.pem"))
    extra = ["-addext", f"subjectAltName={san}"] if san else []
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", *extra, "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return key, cert


def _bcrypt(password: str) -> str:
    """An htpasswd bcrypt hash (the only kind distribution accepts), by libcrypt."""
    libcrypt = ctypes.CDLL("libcrypt.so.1")
    libcrypt.crypt_gensalt.restype = libcrypt.crypt.restype = ctypes.c_char_p
    salt = libcrypt.crypt_gensalt(b"$2b$", 5, None, 0)
    hashed = libcrypt.crypt(password.encode(), salt)
    assert hashed and hashed.startswith(b"$2b$"), hashed
    return str(hashed.decode())


def _serve_registry(directory: str, address: str, storage: str, extra_config: str,
                    cafile: str | None = None) -> subprocess.Popen[bytes]:
    """`docker-registry serve` on `address` with read-only `storage`; `extra_config`
    continues its `http:` section (or starts `auth:`). Returns once /v2/ answers 401."""
    config = os.path.join(directory, "config.yml")
    with open(config, "w") as out:
        out.write(f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {storage}
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: true
http:
  addr: {address}
  secret: mesos-py-auth-test
{extra_config.lstrip(chr(10))}""")
    log = open(os.path.join(directory, "registry.log"), "wb")
    process = subprocess.Popen(["docker-registry", "serve", config], stdout=log, stderr=log)
    log.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            connection: http.client.HTTPConnection = (
                http.client.HTTPSConnection(address, timeout=2,
                                            context=ssl.create_default_context(cafile=cafile))
                if cafile else http.client.HTTPConnection(address, timeout=2))
            connection.request("GET", "/v2/")
            if connection.getresponse().status == 401:
                return process
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.05)
    _stop_registry(process)
    with open(os.path.join(directory, "registry.log"), errors="replace") as failed:
        raise RuntimeError(f"the registry at {address} did not start: {failed.read()}")


def _stop_registry(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
    if process is not None:
        process.wait(timeout=10)


class SlowLinkToRegistry:
    """A real registry behind a slow link: an HTTP proxy on loopback that
    relays every request to `upstream` and its answer byte for byte, except
    that a blob whose digest is in `stalling` gets its headers and half its
    body, then nothing until `release()` (or `stop()`). `stalled` lists the
    digests whose download is stuck there."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.stalling: set[str] = set()
        self.stalled: list[str] = []
        self._released = threading.Event()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def release(self) -> None:
        self.stalling.clear()
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def _relay(self, handler: http.server.BaseHTTPRequestHandler, body: bool) -> None:
        connection = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items()
                       if k.lower() in ("accept", "authorization")}
            connection.request(handler.command, handler.path, headers=headers)
            response = connection.getresponse()
            data = response.read()
            handler.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                    handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
        finally:
            connection.close()
        if not body:
            return
        digest = handler.path.rsplit("/", 1)[-1]
        if "/blobs/" in handler.path and digest in self.stalling:
            handler.wfile.write(data[:len(data) // 2])
            handler.wfile.flush()
            self.stalled.append(digest)
            self._released.wait(timeout=120)
            return  # the client sees a short body and fails
        handler.wfile.write(data)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer._relay(self, True)

            def do_HEAD(self) -> None:  # noqa: N802
                outer._relay(self, False)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
