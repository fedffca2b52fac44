"""The Fetcher actor: CommandInfo.uris into the sandbox before the command starts.

For each URI, in order (http, https, file:// or an absolute path):
download it (a transfer that stalls for `--fetcher_stall_timeout` is
aborted), then, as Mesos does: `executable` makes it executable (and never
extracts it); else `extract` (the default) unpacks an archive by its name
(.tar, .tar.gz/.tgz, .tar.bz2/.tbz2, .tar.xz/.txz, .zip, and .gz for a
single file) next to it; `output_file` names it (a path inside the sandbox).

Nothing is left half-written: everything is fetched into a staging directory
in the sandbox and moved into place only once every URI succeeded; a failure
removes the staging directory and fails the launch (400 on LAUNCH_CONTAINER).
What the fetcher does is logged to the sandbox's `stderr`.

The cache (`cache: true`): under `--fetcher_cache_dir` (removed at start, made on first use), at
most `--fetcher_cache_size` bytes, keyed by (user, URI), least recently used
entries evicted first. Concurrent fetches of one entry download it once. A
resource of unknown size, or bigger than the cache, bypasses it.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import logging
import os
import shutil
import stat
import tarfile
import time
import uuid
import zipfile
from typing import Any

from mesos_py.actors import PID, Failure, Future, Process, await_all, defer
from mesos_py.containerizer.launch_request import user_ids
from mesos_py.ids import container_key
from mesos_py.protos.mesos.v1.mesos_pb2 import CommandInfo, ContainerID
from mesos_py.uri import DownloadError, content_length, download, is_supported

log = logging.getLogger(__name__)

ARCHIVES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar", ".zip")
STAGING_PREFIX = ".mesos-py-fetch-"


@dataclasses.dataclass(frozen=True)
class FetcherConfig:
    cache_dir: str = "/tmp/mesos/fetch"
    cache_size: int = 2 << 30
    stall_timeout: float = 60.0


@dataclasses.dataclass
class _Entry:
    """One cached download."""

    key: tuple[str, str]
    path: str
    size: int
    ready: Future[None]
    users: int = 0  # fetches reading it now: not evictable
    last_use: float = dataclasses.field(default_factory=time.monotonic)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How one URI gets into the staging directory."""

    uri: CommandInfo.URI
    name: str                 # its path inside the sandbox
    cached: str | None        # the cache file to copy from, or None: download it


class Fetcher(Process):
    def __init__(self, config: FetcherConfig) -> None:
        super().__init__()
        self._config = config
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._names = itertools.count()
        self._cleared: Future[None] = Future.ready(None)

    def initialize(self) -> None:
        # The cache is transient: what an earlier agent left is not trusted.
        self._cleared = self.runtime.pool.run(_clear_directory, self._config.cache_dir)
        self._cleared.on_failed(lambda message: log.error("Fetcher cache: %s", message))

    @property
    def cache_used(self) -> int:
        return sum(entry.size for entry in self._entries.values())

    # ============================================================ fetch
    def fetch(self, container_id: ContainerID, uris: list[CommandInfo.URI], directory: str,
              user: str | None) -> Future[None]:
        key = container_key(container_id)
        try:
            names = [_output_name(uri) for uri in uris]
            owner = user_ids(user)[:2] if user else None
        except ValueError as error:
            raise Failure(f"Failed to fetch all URIs for container '{key}': {error}")
        for uri in uris:
            if not is_supported(uri.value):
                raise Failure(f"Failed to fetch all URIs for container '{key}': Unsupported "
                              f"URI '{uri.value}' (http, https, file and absolute paths are)")
        log.info("%s: fetching %d URIs", key, len(uris))
        staging = os.path.join(directory, STAGING_PREFIX + uuid.uuid4().hex)
        reserved: list[_Entry] = []  # cache entries this fetch reads: not evictable meanwhile
        plans = self._cleared.then(
            defer(self.pid, lambda _: self._plan_all(uris, names, user or "", reserved)))
        result = plans.then(lambda planned: self.runtime.pool.run(
            _fetch_all, planned, staging, directory, owner, self._config.stall_timeout))
        result.on_any(defer(self.pid, lambda _: self._release(reserved)))

        def failed(future: Future[None]) -> None:
            reason = future.failure() if future.is_failed() else "discarded"
            raise Failure(f"Failed to fetch all URIs for container '{key}': {reason}")

        return result.recover(failed)

    def _plan_all(self, uris: list[CommandInfo.URI], names: list[str], user: str,
                  reserved: list[_Entry]) -> Future[list[_Plan]]:
        """A plan per URI; those using the cache once their entry is downloaded."""
        plans = [self._cached(uri, name, user, reserved) if uri.cache
                 else Future.ready(_Plan(uri, name, None))
                 for uri, name in zip(uris, names)]

        def all_settled(done: list[Future[_Plan]]) -> list[_Plan]:
            for future in done:
                if not future.is_ready():
                    raise future.as_failure() if future.is_failed() else Failure("discarded")
            return [future.value() for future in done]

        return await_all(plans).then(all_settled)

    def _cached(self, uri: CommandInfo.URI, name: str, user: str,
                reserved: list[_Entry]) -> Future[_Plan]:
        key = (user, uri.value)
        entry = self._entries.get(key)
        if entry is not None:
            entry.users += 1
            entry.last_use = time.monotonic()
            reserved.append(entry)
            log.info("Fetcher cache hit for '%s'", uri.value)
            path = entry.path
            return entry.ready.then(lambda _: _Plan(uri, name, path))
        # Its size decides whether it fits; unknown or too big: no cache.
        sized = self.runtime.pool.run(content_length, uri.value, self._config.stall_timeout)
        return sized.then(defer(self.pid, lambda size: self._reserve(uri, name, key, size,
                                                                     reserved)))

    def _reserve(self, uri: CommandInfo.URI, name: str, key: tuple[str, str],
                 size: int | None, reserved: list[_Entry]) -> Future[_Plan]:
        if key in self._entries:  # another fetch reserved it meanwhile
            return self._cached(uri, name, key[0], reserved)
        if size is None or size > self._config.cache_size or not self._evict_for(size):
            log.info("Fetching '%s' bypassing the cache (size %s, cache %d bytes)",
                     uri.value, "unknown" if size is None else size, self._config.cache_size)
            return Future.ready(_Plan(uri, name, None))
        path = os.path.join(self._config.cache_dir, f"c{next(self._names)}")
        downloaded = self.runtime.pool.run(_download_to_cache, uri.value, path,
                                           self._config.stall_timeout)
        entry = _Entry(key, path, size, downloaded.then(lambda _: None), users=1)
        self._entries[key] = entry
        reserved.append(entry)
        log.info("Fetcher cache miss for '%s': downloading %d bytes", uri.value, size)
        downloaded.on_any(defer(self.pid, lambda f: self._downloaded(entry, f)))
        return entry.ready.then(lambda _: _Plan(uri, name, path))

    def _downloaded(self, entry: _Entry, downloaded: Future[int]) -> None:
        if downloaded.is_ready():
            entry.size = downloaded.value()
        elif self._entries.get(entry.key) is entry:
            del self._entries[entry.key]  # a failed download is not cached

    def _evict_for(self, size: int) -> bool:
        """Makes room for `size` bytes by evicting unused entries, oldest first."""
        idle = sorted((e for e in self._entries.values() if e.users == 0 and e.ready.is_ready()),
                      key=lambda e: e.last_use)
        while self.cache_used + size > self._config.cache_size and idle:
            victim = idle.pop(0)
            del self._entries[victim.key]
            log.info("Evicting '%s' (%d bytes) from the fetcher cache", victim.key[1],
                     victim.size)
            self.runtime.pool.run(_remove_quietly, victim.path)
        return self.cache_used + size <= self._config.cache_size

    def _release(self, reserved: list[_Entry]) -> None:
        for entry in reserved:
            entry.users = max(0, entry.users - 1)
            entry.last_use = time.monotonic()


def create_fetcher(runtime: Any, flags: Any) -> "PID[Fetcher]":
    config = FetcherConfig(cache_dir=flags.fetcher_cache_dir,
                           cache_size=flags.fetcher_cache_size.bytes,
                           stall_timeout=flags.fetcher_stall_timeout.seconds)
    pid: PID[Fetcher] = runtime.spawn(Fetcher, config, name="fetcher")
    return pid


# ========================================================== blocking work
def _clear_directory(path: str) -> None:
    """What a previous run cached is gone (as Mesos does); made again on first use."""
    shutil.rmtree(path, ignore_errors=True)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _download_to_cache(uri: str, path: str, stall_timeout: float) -> int:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".partial"
    try:
        size = download(uri, partial, stall_timeout)
        os.rename(partial, path)
        return size
    except BaseException:
        _remove_quietly(partial)
        raise


def _output_name(uri: CommandInfo.URI) -> str:
    """Where the URI goes, relative to the sandbox; ValueError if it would escape it."""
    if uri.HasField("output_file") and uri.output_file:
        name = os.path.normpath(uri.output_file)
        if os.path.isabs(uri.output_file) or name.startswith(".."):
            raise ValueError(f"Output file '{uri.output_file}' is not a path inside the "
                             "sandbox")
        return name
    path = uri.value.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    name = os.path.basename(path)
    if not name or name in (".", ".."):
        raise ValueError(f"Cannot tell a file name for URI '{uri.value}' (set output_file)")
    return name


def _fetch_all(plans: list[_Plan], staging: str, sandbox: str, owner: tuple[int, int] | None,
               stall_timeout: float) -> None:
    """Every URI into `staging`, then everything into the sandbox; all or nothing."""
    log_path = os.path.join(sandbox, "stderr")
    os.makedirs(staging)
    try:
        for plan in plans:
            _log(log_path, f"Fetching URI '{plan.uri.value}'")
            target = os.path.join(staging, plan.name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                if plan.cached is not None:
                    shutil.copyfile(plan.cached, target)
                    _log(log_path, f"Copied '{plan.uri.value}' from the fetcher cache")
                else:
                    download(plan.uri.value, target, stall_timeout)
                _finish(plan, target, staging, log_path)
            except (DownloadError, ValueError, OSError, tarfile.TarError,
                    zipfile.BadZipFile) as error:
                _log(log_path, f"Failed to fetch '{plan.uri.value}': {error}")
                raise Failure(str(error))
        if owner is not None:
            for directory, dirs, files in os.walk(staging):
                for name in [*dirs, *files]:
                    os.lchown(os.path.join(directory, name), *owner)
        for name in os.listdir(staging):
            _move(os.path.join(staging, name), os.path.join(sandbox, name))
        _log(log_path, f"Fetched {len(plans)} URIs into the sandbox")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _finish(plan: _Plan, path: str, staging: str, log_path: str) -> None:
    uri = plan.uri
    if uri.executable:
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return
    extract = uri.extract if uri.HasField("extract") else True
    if not extract:
        return
    name = plan.name.lower()
    directory = os.path.dirname(path)
    if name.endswith(ARCHIVES):
        if name.endswith(".zip"):
            _unzip(path, directory)
        else:
            with tarfile.open(path) as archive:
                archive.extractall(directory, filter="data")
        _log(log_path, f"Extracted '{plan.name}' into the sandbox")
    elif name.endswith(".gz"):
        with gzip.open(path, "rb") as source, open(path[:-3], "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        _log(log_path, f"Decompressed '{plan.name}' to '{plan.name[:-3]}'")


def _unzip(path: str, directory: str) -> None:
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            target = os.path.normpath(os.path.join(directory, member.filename))
            if not target.startswith(os.path.normpath(directory) + os.sep) \
                    and target != os.path.normpath(directory):
                raise ValueError(f"zip entry '{member.filename}' escapes the sandbox")
        archive.extractall(directory)


def _move(source: str, target: str) -> None:
    """Into the sandbox: files replace what is there, directories merge."""
    if os.path.isdir(source) and not os.path.islink(source) and os.path.isdir(target) \
            and not os.path.islink(target):
        for name in os.listdir(source):
            _move(os.path.join(source, name), os.path.join(target, name))
        return
    if os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target)
    os.replace(source, target)


def _log(path: str, line: str) -> None:
    with open(path, "a") as out:
        out.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} mesos-py-fetcher: {line}\n")
