"""The Provisioner actor: root filesystems for containers, from images.

`provision(container_id, image)` asks the image's store for its layers (a
pull if needed) and has the backend make a new root filesystem of them under
`<work_dir>/provisioner/containers/<id>/backends/<backend>/rootfses/<uuid>`.
A container may get several (its image and its image volumes).
`destroy(container_id)` removes all of them, its nested containers' first:
it unmounts them and moves the container's directory to `trash/`; the files
are deleted after the destroy is answered (or at recovery, if the agent died
first), as deleting an overlay's scratch space takes milliseconds.

The layers a container uses are written to its `layers` file while its
rootfs is made, and `provision` answers once both are done: no process runs
in a rootfs whose layers are not on disk, so that image GC after a restart
still knows them (a launch cut short is destroyed at recovery). What is on
disk is the truth at recovery: every container directory there belongs to a
recovered container or is destroyed.

A spare container directory (the backend's empty directories) is made at
recovery and after destroys, while no rootfs is being made; a container's
first rootfs takes it by one rename.

`provision` and `destroy` run concurrently; `prune` (PRUNE_IMAGES and the
automatic image GC) runs alone, as Mesos's read-write lock arranges.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import shutil
import uuid
from typing import Any, Sequence

from mesos_py.actors import (PID, Failure, Future, Process, Promise, await_all, collect, defer,
                             delay, dispatch, settled, undiscardable)
from mesos_py.ids import container_key, parent_key
from mesos_py.linux import fs
from mesos_py.provisioner import paths
from mesos_py.provisioner.backend import Backend
from mesos_py.provisioner.image import ImageInfo, ProvisionInfo, describe
from mesos_py.provisioner.store import Store
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerLayers
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, Image
from mesos_py.slave import checkpoint

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ImageGcConfig:
    """--image_gc_config: prune when the store's disk has less free space than the headroom."""

    image_disk_headroom: float = 0.1
    image_disk_watch_interval: float = 3600.0
    excluded_images: tuple[Image, ...] = ()


@dataclasses.dataclass(frozen=True)
class ProvisionerConfig:
    work_dir: str
    backend: str
    gc: ImageGcConfig | None = None
    gc_disk: str | None = None  # the directory whose filesystem the image GC watches


# Deleting destroyed rootfses and making the next spare wait this long after
# a destroy: the destroy's answer (a WAIT) goes out first.
TIDY_DELAY = 0.005


@dataclasses.dataclass(frozen=True)
class _Spare:
    path: str  # <root>/spare/<rootfs_id>: a container directory with a rootfs's directories
    backend: str
    rootfs_id: str


@dataclasses.dataclass
class _Info:
    container_id: ContainerID
    rootfses: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    layers: list[str] = dataclasses.field(default_factory=list)
    provisioning: list[Future[Any]] = dataclasses.field(default_factory=list)
    destroying: Future[bool] | None = None



class Provisioner(Process):
    def __init__(self, config: ProvisionerConfig, stores: dict[int, PID[Store]],
                 backends: dict[str, Backend]) -> None:
        super().__init__()
        self._config = config
        self._root = paths.provisioner_dir(config.work_dir)
        self._stores = stores
        self._backends = backends
        self._infos: dict[str, _Info] = {}
        # The read-write lock: provision/destroy read, prune writes.
        self._readers = 0
        self._writing = False
        self._waiting: list[tuple[bool, Promise[None]]] = []  # (is writer, grant)
        # The next container's directory, made ahead: a rename then replaces
        # the directories a rootfs needs (inode allocations are slow on a
        # busy ext4); None while none is ready.
        self._spare: _Spare | None = None
        self._making_spare = False
        self._trash: list[str] = []  # moved there by destroys, to delete

    @property
    def backend(self) -> str:
        return self._config.backend

    # ============================================================ recover
    def recover(self, known: Sequence[ContainerID]) -> Future[None]:
        """Rebuilds what each known container has; destroys every other
        container directory (a launch the agent did not live to finish, a
        container that ended while it was down)."""
        known_keys = {container_key(c) for c in known}
        _delete_later(self.runtime.pool, paths.list_trash(self._root), self._backends)
        shutil.rmtree(paths.spare_dir(self._root), ignore_errors=True)  # made by a past run
        scanned = self.runtime.pool.run(_scan, self._root)
        return scanned.then(defer(self.pid, lambda found: self._recover(found, known_keys)))

    def _recover(self, found: list[_Info], known: set[str]) -> Future[None]:
        unknown = []
        for info in found:
            key = container_key(info.container_id)
            self._infos[key] = info
            if key not in known:
                unknown.append(info.container_id)
        for container_id in unknown:
            log.info("%s: destroying the root filesystems of an unknown container",
                     container_key(container_id))
        # Children first: deepest keys first.
        cleanups = [self.destroy(c) for c in sorted(unknown, key=lambda c: -len(container_key(c)))]
        stores = [dispatch(pid, Store.recover) for pid in self._stores.values()]
        log.info("Provisioner recovered %d containers (%d unknown)", len(found), len(unknown))

        def done(_: Any) -> None:
            failed = [f.failure() for f in cleanups if f.is_failed()]
            for message in failed:
                log.error("Failed to destroy an unknown container's rootfs: %s", message)
            self._schedule_gc()
            self._make_spare()

        return collect(stores).then(lambda _: await_all(cleanups)).then(defer(self.pid, done))

    # ========================================================== provision
    def provision(self, container_id: ContainerID, image: Image) -> Future[ProvisionInfo]:
        return self._locked(False, lambda: self._provision(container_id, image))

    def _provision(self, container_id: ContainerID, image: Image) -> Future[ProvisionInfo]:
        key = container_key(container_id)
        store = self._stores.get(image.type)
        if store is None:
            raise Failure(f"Unsupported container image type: {Image.Type.Name(image.type)}")
        info = self._infos.setdefault(key, _Info(container_id))
        if info.destroying is not None:
            raise Failure(f"Container {key} is being destroyed")
        backend = self._config.backend
        rootfs_id = str(uuid.uuid4())
        # Known before it exists: a destroy from now on removes it.
        info.rootfses.setdefault(backend, set()).add(rootfs_id)
        log.info("%s: provisioning %s with the %s backend", key, describe(image), backend)
        provisioned = dispatch(store, Store.get, image, backend).then(
            defer(self.pid, lambda image_info: self._provision_rootfs(
                key, image, image_info, backend, rootfs_id)))
        info.provisioning.append(provisioned)
        provisioned.on_any(defer(self.pid, lambda f: self._provisioned(key, f)))
        return provisioned

    def _provision_rootfs(self, key: str, image: Image, image_info: ImageInfo, backend: str,
                          rootfs_id: str) -> Future[ProvisionInfo]:
        info = self._infos.get(key)
        if info is None or info.destroying is not None:
            raise Failure("Container destroyed during provisioning")
        info.layers.extend(image_info.layers)
        if image_info.config is not None:
            info.layers.append(image_info.config)
        record = ContainerLayers(paths=info.layers)
        container_id = info.container_id
        spare = self._take_spare(info, backend)
        if spare is not None:
            info.rootfses[backend].discard(rootfs_id)
            rootfs_id = spare.rootfs_id
            info.rootfses[backend].add(rootfs_id)
        rootfs = paths.rootfs_dir(self._root, container_id, backend, rootfs_id)
        backend_dir = paths.backend_dir(self._root, container_id, backend)
        layers_path = paths.layers_path(self._root, container_id)
        container_dir = paths.container_dir(self._root, container_id)

        def make() -> ProvisionInfo:
            try:
                ephemeral = self._backends[backend].provision(image_info.layers, rootfs,
                                                              backend_dir)
            except (ValueError, OSError) as error:
                raise Failure(f"Failed to provision {describe(image)} with the {backend} "
                              f"backend: {error}")
            return ProvisionInfo(rootfs=rootfs, ephemeral_volumes=ephemeral,
                                 docker_manifest=image_info.docker_manifest,
                                 appc_manifest=image_info.appc_manifest)

        # The layers' checkpoint (an fsync) and the rootfs are made side by
        # side; the container starts only once both are done, so image GC
        # after a restart knows every layer a running container uses.
        pool = self.runtime.pool
        placed: Future[Any] = (pool.run(_place_spare, spare.path, container_dir)
                               if spare is not None else Future.ready(None))
        written = placed.then(lambda _: pool.run(checkpoint.checkpoint_message, layers_path,
                                                 record, checkpoint.spare_path(layers_path)))
        made = placed.then(lambda _: pool.run(make))
        # Both settle before the answer: a failed launch's clean-up must not race either.
        return await_all([written, made]).then(lambda _: written.then(lambda _: made))

    def _take_spare(self, info: _Info, backend: str) -> _Spare | None:
        """The spare directory, for a container's first rootfs (the next one
        is made after a destroy)."""
        spare = self._spare
        first = sum(len(ids) for ids in info.rootfses.values()) == 1
        if spare is None or spare.backend != backend or not first:
            return None
        self._spare = None
        return spare

    def _make_spare(self) -> None:
        backend_name = self._config.backend
        backend = self._backends.get(backend_name)
        if self._making_spare or self._spare is not None or backend is None:
            return
        rootfs_id = str(uuid.uuid4())
        directory = os.path.join(paths.spare_dir(self._root), rootfs_id)
        relative = [os.path.relpath(d, directory) for d in backend.directories(
            paths.rootfs_in(directory, backend_name, rootfs_id),
            paths.backend_in(directory, backend_name))]
        if not relative:
            return
        self._making_spare = True
        made = self.runtime.pool.run(_make_spare_dir, directory, relative)
        made.on_any(defer(self.pid, lambda f: self._spare_made(
            _Spare(directory, backend_name, rootfs_id) if f.is_ready() else None, f)))

    def _spare_made(self, spare: _Spare | None, made: Future[Any]) -> None:
        self._making_spare = False
        if spare is None:
            log.warning("Failed to make a spare container directory: %s",
                        made.failure() if made.is_failed() else "discarded")
        self._spare = spare

    def _provisioned(self, key: str, provisioned: Future[Any]) -> None:
        info = self._infos.get(key)
        if info is not None and provisioned in info.provisioning:
            info.provisioning.remove(provisioned)
        if provisioned.is_ready():
            log.info("%s: provisioned rootfs %s", key, provisioned.value().rootfs)

    # ============================================================ destroy
    def destroy(self, container_id: ContainerID) -> Future[bool]:
        """Removes every rootfs of the container and of its nested containers.

        False if the provisioner knows nothing of it. Waits for provisioning
        still in flight, so that nothing it makes is left behind.
        """
        return self._locked(False, lambda: self._destroy(container_id))

    def _destroy(self, container_id: ContainerID) -> Future[bool]:
        key = container_key(container_id)
        info = self._infos.get(key)
        if info is None:
            return Future.ready(False)
        if info.destroying is not None:
            return undiscardable(info.destroying)
        children = [i.container_id for k, i in self._infos.items() if parent_key(k) == key]
        in_flight = [settled(f) for f in info.provisioning]
        destroying = (await_all([self._destroy(child) for child in children] + in_flight)
                      .then(defer(self.pid, lambda _: self._remove_rootfses(key))))
        info.destroying = destroying
        return undiscardable(destroying)

    def _remove_rootfses(self, key: str) -> Future[bool]:
        """Unmounts the container's rootfses and moves its directory to the
        trash; the deletion of the files follows off the destroy's path (an
        overlay's scratch space takes milliseconds to delete)."""
        info = self._infos[key]
        unknown = [backend for backend in info.rootfses if backend not in self._backends]
        if unknown:
            raise Failure(f"Unknown backend '{unknown[0]}'")
        directory = paths.container_dir(self._root, info.container_id)
        rootfses = [paths.rootfs_dir(self._root, info.container_id, backend, rootfs_id)
                    for backend, ids in info.rootfses.items() for rootfs_id in sorted(ids)]

        def unmount_and_move() -> str | None:
            if not os.path.lexists(directory):
                return None
            # A lazy unmount takes what is mounted below a rootfs with it; the
            # deletion unmounts anything else first (never delete through a mount).
            for rootfs in rootfses:
                _detach(rootfs)
            trash = paths.trash_entry(self._root, uuid.uuid4().hex)
            os.makedirs(os.path.dirname(trash), exist_ok=True)
            os.rename(directory, trash)
            log.info("%s: destroyed its root filesystems", key)
            return trash

        moved = self.runtime.pool.run(unmount_and_move)
        moved.on_any(defer(self.pid, lambda f: self._destroyed(key, f)))
        return moved.then(lambda _: True)

    def _destroyed(self, key: str, moved: Future[str | None]) -> None:
        if moved.is_ready():
            self._infos.pop(key, None)
            trash = moved.value()
            if trash is not None:
                self._trash.append(trash)
            delay(self.runtime.clock, TIDY_DELAY, self.pid, self._tidy)
        else:
            # Another destroy (or the next recovery) will try again.
            info = self._infos.get(key)
            if info is not None:
                info.destroying = None
            log.error("%s: failed to destroy its root filesystems: %s", key,
                      moved.failure() if moved.is_failed() else "discarded")

    def _tidy(self) -> None:
        """Background work after destroys: delete the trash, make a spare;
        never while a rootfs is being made (it would slow that launch)."""
        if any(info.provisioning for info in self._infos.values()):
            delay(self.runtime.clock, TIDY_DELAY, self.pid, self._tidy)
            return
        trash, self._trash = self._trash, []
        _delete_later(self.runtime.pool, trash, self._backends)
        self._make_spare()

    # ============================================================== prune
    def prune(self, excluded_images: Sequence[Image]) -> Future[None]:
        """Removes every image and layer no container uses, except the excluded."""
        return self._locked(True, lambda: self._prune(list(excluded_images)))

    def _prune(self, excluded: list[Image]) -> Future[None]:
        if self._config.gc is not None:
            excluded = excluded + list(self._config.gc.excluded_images)
        active = {os.path.normpath(p) for info in self._infos.values() for p in info.layers}
        log.info("Pruning images (%d excluded, %d layers in use)", len(excluded), len(active))
        pruned = [dispatch(pid, Store.prune, excluded, active) for pid in self._stores.values()]
        return collect(pruned).then(lambda _: None)

    def _schedule_gc(self) -> None:
        gc = self._config.gc
        if gc is None or self._config.gc_disk is None:
            return
        delay(self.runtime.clock, gc.image_disk_watch_interval, self.pid, self._check_disk)

    def _check_disk(self) -> None:
        gc, disk = self._config.gc, self._config.gc_disk
        assert gc is not None and disk is not None

        def usage() -> float:
            stats = os.statvfs(disk)
            return 1.0 - stats.f_bavail / stats.f_blocks if stats.f_blocks else 0.0

        def decide(used: float) -> Future[None] | None:
            if used < 1.0 - gc.image_disk_headroom:
                return None
            log.info("Image store disk is %.1f%% full (headroom %.1f%%): pruning images",
                     used * 100, gc.image_disk_headroom * 100)
            return self.prune([])

        checked = self.runtime.pool.run(usage).then(defer(self.pid, decide))
        checked.on_failed(lambda message: log.error("Automatic image GC failed: %s", message))
        checked.on_any(defer(self.pid, lambda _: self._schedule_gc()))

    # ============================================================== locks
    def _locked(self, write: bool, body: Any) -> Future[Any]:
        """Runs `body` (on this actor) under the read or the write lock."""
        grant: Promise[None] = Promise()
        self._waiting.append((write, grant))
        self._grant()
        if grant.future.is_ready():
            # Granted at once, here on this actor: run it now, not a message later.
            result = grant.future.then(lambda _: body())
        else:
            result = grant.future.then(defer(self.pid, lambda _: body()))
        result.on_any(defer(self.pid, lambda _: self._release(write)))
        return result

    def _grant(self) -> None:
        while self._waiting and not self._writing:
            write, grant = self._waiting[0]
            if write and self._readers:
                return  # a writer waits for the readers to finish; later readers queue behind it
            self._waiting.pop(0)
            if write:
                self._writing = True
            else:
                self._readers += 1
            grant.set(None)

    def _release(self, write: bool) -> None:
        if write:
            self._writing = False
        else:
            self._readers -= 1
        self._grant()


def _detach(rootfs: str) -> None:
    try:
        fs.unmount(rootfs, fs.MNT_DETACH)
    except fs.MountError as error:
        if error.errno not in (errno.EINVAL, errno.ENOENT):  # not a mount point
            raise


def _make_spare_dir(directory: str, relative: list[str]) -> None:
    for path in relative:
        os.makedirs(os.path.join(directory, path))
    checkpoint.make_spares([os.path.join(directory, paths.LAYERS_FILE)])


def _place_spare(spare: str, container_dir: str) -> None:
    """Renames the spare into place; if it cannot be, the backend makes its
    directories itself."""
    try:
        os.makedirs(os.path.dirname(container_dir), exist_ok=True)
        os.rename(spare, container_dir)
    except OSError as error:
        log.warning("Could not use the spare container directory for %s: %s",
                    container_dir, error)
        shutil.rmtree(spare, ignore_errors=True)


def _delete_later(pool: Any, entries: list[str], backends: dict[str, Backend]) -> None:
    if entries:
        pool.run(_delete_trash, entries, backends).on_failed(lambda message: log.warning(
            "Failed to delete destroyed root filesystems: %s", message))


def _delete_trash(entries: list[str], backends: dict[str, Backend]) -> None:
    """Blocking: deletes destroyed container directories, through their
    backends first (the overlay backend's layer links live outside)."""
    for entry in entries:
        fs.unmount_all_under(entry)  # a killed agent may have left one mounted
        for backend, ids in paths.rootfses_in(entry).items():
            for rootfs_id in ids:
                if backend in backends:
                    backends[backend].destroy(paths.rootfs_in(entry, backend, rootfs_id),
                                              paths.backend_in(entry, backend))
        shutil.rmtree(entry, ignore_errors=True)


def _scan(root: str) -> list[_Info]:
    """Blocking: every container directory with its rootfses and layers."""
    found = []
    for container_id in paths.list_containers(root):
        info = _Info(container_id)
        for backend, ids in paths.list_rootfses(root, container_id).items():
            info.rootfses[backend] = set(ids)
        layers_path = paths.layers_path(root, container_id)
        if os.path.exists(layers_path):
            try:
                layers = checkpoint.read_message(layers_path, ContainerLayers)
                info.layers = list(layers.paths)
            except checkpoint.CheckpointError as error:
                log.warning("%s: unreadable layers record: %s", container_key(container_id),
                            error)
        found.append(info)
    return found
