"""A Docker registry (HTTP API v2) client: manifests, configs and layer blobs.

Blocking (http.client), so the Docker store runs it on the blocking pool.
It speaks what registries speak today:

- manifests: Docker schema 2 and OCI image manifests, and image indexes
  (Docker manifest lists, OCI indexes), of which the entry for this host's
  platform (linux/amd64 here) is used; schema 1 is refused;
- authentication: a 401's `WWW-Authenticate` challenge, `Bearer` (the token
  flow: a token from the realm for `repository:<name>:pull`, cached per
  scope) or `Basic`, with credentials from `--docker_config` or the image's
  own `docker.config` secret (Docker's config.json format);
- redirects (blob stores), without the credentials when the host changes;
- verification: every manifest fetched by digest, the config and every
  layer blob are checked against their sha256 before they are used.

The registry comes from the image name (`127.0.0.1:5000/busybox`) or else
`--docker_registry`; https unless the name's port is 80, or the host is
localhost/127.0.0.1 with a port (Mesos's rule). Official images on Docker
Hub get the `library/` prefix.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import logging
import os
import re
import ssl
import tempfile
import threading
import urllib.parse
from typing import Any, Callable

from mesos_py.provisioner.image import load_json_object
from mesos_py.provisioner.store import LayerSource, ResolvedImage, manifests
from mesos_py.provisioner.store.reference import ImageReference, registry_scheme
from mesos_py.protos.mesos.v1.mesos_pb2 import Image, Secret

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_MAX_DOCUMENT = 4 << 20  # manifests and configs are small; refuse anything huge
_MAX_REDIRECTS = 5
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
DOCKER_HUB_HOSTS = ("registry-1.docker.io", "index.docker.io", "docker.io",
                    "registry.hub.docker.com")


class RegistryError(ValueError):
    """The registry refused or failed a request; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def parse_docker_config(document: dict[str, Any] | None) -> dict[str, Credentials]:
    """host[:port] -> credentials, from Docker's config.json (`auths`) or the
    older .dockercfg format (registries at the top level)."""
    if not document:
        return {}
    nested = document.get("auths")
    auths: dict[str, Any] = nested if isinstance(nested, dict) else document
    found: dict[str, Credentials] = {}
    for key, entry in auths.items():
        if not isinstance(entry, dict):
            continue
        username, password = entry.get("username"), entry.get("password")
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            try:
                username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
        if isinstance(username, str) and isinstance(password, str):
            found[_host_of(key)] = Credentials(username, password)
    return found


def _host_of(key: str) -> str:
    """`https://index.docker.io/v1/` -> `index.docker.io`; `127.0.0.1:5000` stays."""
    if "://" in key:
        key = urllib.parse.urlsplit(key).netloc
    return key.split("/")[0].lower()


def credentials_for(table: dict[str, Credentials], netloc: str) -> Credentials | None:
    host = netloc.lower()
    if host in table:
        return table[host]
    if host.split(":")[0] in DOCKER_HUB_HOSTS:
        return next((table[h] for h in DOCKER_HUB_HOSTS if h in table), None)
    return table.get(host.split(":")[0])


class RegistryPuller:
    """Resolves image references against registries; shared by pool threads."""

    def __init__(self, config: Any) -> None:
        url = urllib.parse.urlsplit(config.registry)
        if url.scheme not in ("http", "https") or not url.netloc:
            self._default: tuple[str, str] | None = None
        else:
            self._default = (url.scheme, url.netloc)
        self._credentials = parse_docker_config(config.docker_config)
        self._timeout = float(config.stall_timeout)
        self._tokens: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def resolve(self, reference: ImageReference, image: Image) -> ResolvedImage:
        if reference.registry is not None:
            scheme, netloc = registry_scheme(reference.registry), reference.registry
        elif self._default is not None:
            scheme, netloc = self._default
        else:
            raise RegistryError("no registry: the image name has none and --docker_registry "
                                "is not a registry URL")
        repository = reference.repository
        if netloc.split(":")[0] in DOCKER_HUB_HOSTS and "/" not in repository:
            repository = f"library/{repository}"
        credentials = self._credentials
        if image.docker.HasField("config"):
            credentials = parse_docker_config(_secret_json(image.docker.config))
        session = _Session(self, scheme, netloc, repository,
                           credentials_for(credentials, netloc))
        return session.resolve(reference, str(reference))

    # Token cache, shared by the sessions of all pool threads.
    def cached_token(self, netloc: str, scope: str) -> str | None:
        with self._lock:
            return self._tokens.get((netloc, scope))

    def remember_token(self, netloc: str, scope: str, token: str | None) -> None:
        with self._lock:
            if token is None:
                self._tokens.pop((netloc, scope), None)
            else:
                self._tokens[(netloc, scope)] = token

    @property
    def timeout(self) -> float:
        return self._timeout


def _secret_json(secret: Secret) -> dict[str, Any]:
    if secret.type != Secret.VALUE or not secret.HasField("value"):
        raise RegistryError("only VALUE secrets are supported as an image's docker config")
    return load_json_object(secret.value.data, "the image's docker config secret")


@dataclasses.dataclass
class _Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


class _Session:
    """Requests for one repository of one registry."""

    def __init__(self, puller: RegistryPuller, scheme: str, netloc: str, repository: str,
                 credentials: Credentials | None) -> None:
        self.puller, self.scheme, self.netloc = puller, scheme, netloc
        self.repository, self.credentials = repository, credentials
        self.scope = f"repository:{repository}:pull"

    # ------------------------------------------------------------ images
    def resolve(self, reference: ImageReference, name: str) -> ResolvedImage:
        document, kind = self._manifest(reference.reference, reference.digest)
        if kind in manifests.INDEX_TYPES:
            entry = manifests.select_platform(manifests.parse_index(document))
            document, kind = self._manifest(entry.digest, entry.digest)
            if kind in manifests.INDEX_TYPES:
                raise RegistryError("the image index points to another index")
        if kind not in manifests.MANIFEST_TYPES:
            raise RegistryError(f"the registry returned a manifest of the unsupported type "
                                f"'{kind}'")
        manifest = manifests.parse_manifest(document)
        config = self._blob_bytes(manifest.config, "image config")
        _, diff_ids = manifests.parse_config(config, len(manifest.layers))
        layers = [LayerSource(diff_id, self._layer_fetcher(layer), f"layer {layer.digest}")
                  for diff_id, layer in zip(diff_ids, manifest.layers)]
        return ResolvedImage(reference=name, config=config, layers=layers)

    def _manifest(self, reference: str, digest: str | None) -> tuple[dict[str, Any], str]:
        path = f"/v2/{self.repository}/manifests/{reference}"
        response = self._get(path, {"Accept": manifests.ACCEPT}, what="the manifest")
        if digest is not None:
            manifests.verify(response.body, digest, f"manifest {digest}")
        document = load_json_object(response.body, "the manifest")
        return document, manifests.media_type_of(document, response.headers.get("content-type"))

    def _blob_bytes(self, descriptor: manifests.Descriptor, what: str) -> bytes:
        response = self._get(f"/v2/{self.repository}/blobs/{descriptor.digest}", {},
                             what=f"{what} {descriptor.digest}")
        manifests.verify(response.body, descriptor.digest, f"{what} {descriptor.digest}")
        return response.body

    def _layer_fetcher(self, layer: manifests.Descriptor) -> Callable[[str], str]:
        def fetch(staging: str) -> str:
            fd, path = tempfile.mkstemp(dir=staging, suffix=".blob")
            with os.fdopen(fd, "wb") as out:
                digest = manifests.hasher(layer.digest)
                size = 0

                def sink(chunk: bytes) -> None:
                    nonlocal size
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)

                self._get(f"/v2/{self.repository}/blobs/{layer.digest}", {},
                          what=f"layer {layer.digest}", sink=sink)
            found = f"{layer.digest.partition(':')[0]}:{digest.hexdigest()}"
            if found != layer.digest:
                raise RegistryError(f"Digest mismatch for layer {layer.digest}: got {found} "
                                    f"({size} bytes)")
            if layer.size is not None and size != layer.size:
                raise RegistryError(f"layer {layer.digest} has {size} bytes, the manifest "
                                    f"says {layer.size}")
            return path
        return fetch

    # -------------------------------------------------------------- HTTP
    def _get(self, path: str, headers: dict[str, str], what: str,
             sink: Callable[[bytes], None] | None = None) -> _Response:
        """GET with authentication (one challenge answered) and redirects."""
        authorization = self._authorization()
        response = self._fetch(self.scheme, self.netloc, path, headers, authorization, sink)
        if response.status == 401:
            challenge = response.headers.get("www-authenticate", "")
            if authorization and authorization.startswith("Bearer "):
                self.puller.remember_token(self.netloc, self.scope, None)  # expired
            authorization = self._answer(challenge, what)
            response = self._fetch(self.scheme, self.netloc, path, headers, authorization, sink)
        if response.status != 200:
            raise RegistryError(f"the registry {self.netloc} answered {response.status} "
                                f"{response.reason} for {what} of '{self.repository}'"
                                f"{_registry_errors(response.body)}")
        return response

    def _authorization(self) -> str | None:
        token = self.puller.cached_token(self.netloc, self.scope)
        return f"Bearer {token}" if token else None

    def _answer(self, challenge: str, what: str) -> str:
        scheme, _, parameters = challenge.strip().partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(parameters))
        if scheme.lower() == "basic":
            if self.credentials is None:
                raise RegistryError(f"the registry {self.netloc} needs credentials for {what} "
                                    f"of '{self.repository}' (none in --docker_config)")
            return self.credentials.basic()
        if scheme.lower() != "bearer" or "realm" not in params:
            raise RegistryError(f"the registry {self.netloc} asked for an unsupported "
                                f"authentication: '{challenge}'")
        query = {"service": params.get("service", ""),
                 "scope": params.get("scope", self.scope)}
        realm = urllib.parse.urlsplit(params["realm"])
        if realm.scheme not in ("http", "https") or not realm.netloc:
            raise RegistryError(f"the registry's token realm '{params['realm']}' is not a URL")
        path = (realm.path or "/") + "?" + urllib.parse.urlencode(
            {k: v for k, v in query.items() if v})
        auth = self.credentials.basic() if self.credentials else None
        response = self._fetch(realm.scheme, realm.netloc, path, {}, auth, None)
        if response.status != 200:
            raise RegistryError(f"the token server {realm.netloc} answered {response.status} "
                                f"{response.reason} for '{query['scope']}'"
                                f"{_registry_errors(response.body)}")
        try:
            document = load_json_object(response.body, "the token response")
        except ValueError as error:
            raise RegistryError(str(error))
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"the token server {realm.netloc} sent no token")
        self.puller.remember_token(self.netloc, self.scope, token)
        return f"Bearer {token}"

    def _fetch(self, scheme: str, netloc: str, path: str, headers: dict[str, str],
               authorization: str | None, sink: Callable[[bytes], None] | None) -> _Response:
        for _ in range(_MAX_REDIRECTS + 1):
            request_headers = dict(headers)
            if authorization:
                request_headers["Authorization"] = authorization
            request_headers.setdefault("User-Agent", "mesos-py")
            response = self._once(scheme, netloc, path, request_headers, sink)
            if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                target = urllib.parse.urlsplit(
                    urllib.parse.urljoin(f"{scheme}://{netloc}{path}",
                                         response.headers["location"]))
                if target.netloc != netloc:
                    authorization = None  # a blob store must not see registry credentials
                scheme, netloc = target.scheme, target.netloc
                path = target.path + (f"?{target.query}" if target.query else "")
                continue
            return response
        raise RegistryError(f"too many redirects for {path}")

    def _once(self, scheme: str, netloc: str, path: str, headers: dict[str, str],
              sink: Callable[[bytes], None] | None) -> _Response:
        timeout = self.puller.timeout
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(netloc, timeout=timeout,
                                                     context=ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(netloc, timeout=timeout)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            result = _Response(response.status, response.reason,
                               {k.lower(): v for k, v in response.getheaders()}, b"")
            if response.status == 200 and sink is not None:
                while chunk := response.read(_CHUNK):
                    sink(chunk)
            else:
                result.body = response.read(_MAX_DOCUMENT + 1)
                if len(result.body) > _MAX_DOCUMENT:
                    raise RegistryError(f"the answer for {path} is too large")
            return result
        except (OSError, http.client.HTTPException) as error:
            reason = "no data for the stall timeout" if isinstance(error, TimeoutError) \
                else str(error) or type(error).__name__
            raise RegistryError(f"cannot fetch {scheme}://{netloc}{path}: {reason}")
        finally:
            connection.close()


def _registry_errors(body: bytes) -> str:
    """`: MANIFEST_UNKNOWN manifest unknown` from a registry's JSON error body."""
    try:
        errors = json.loads(body).get("errors") or []
        text = "; ".join(f"{e.get('code', '')} {e.get('message', '')}".strip()
                         for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        return ""
    return f": {text}" if text else ""
