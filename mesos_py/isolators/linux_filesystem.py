"""filesystem/linux: a mount namespace per container, and the root filesystem of its image.

Without an image the container keeps the host's root, seen through a mount
namespace of its own (volumes are mounted into it by the volume isolators).

With an image (`ContainerConfig.rootfs`, provisioned before `prepare`), the
launch info makes the launch helper, in the container's new mount namespace:
bind the rootfs onto itself (pivot_root needs a mount point); mount a /proc
of the container's pid namespace with its sensitive parts read-only, a
read-only /sys, a tmpfs /dev with the standard devices and a devpts, a
private /dev/shm; bind the sandbox at `--sandbox_directory`
(/mnt/mesos/sandbox); mask kernel files a container has no business reading;
then pivot into it. The rules and lists are Mesos 1.11's.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Sequence

from mesos_py.errors import InvalidRequest
from mesos_py.isolators.base import Isolator
from mesos_py.isolators.namespaces import CLONE_NEWNS
from mesos_py.linux import fs
from mesos_py.linux.fs import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC,
                               MS_STRICTATIME)
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerClass, ContainerConfig,
                                                           ContainerFileOperation,
                                                           ContainerLaunchInfo, ContainerMountInfo)
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID

DEFAULT_SANDBOX_DIRECTORY = "/mnt/mesos/sandbox"

# (source, target, type, options, flags), in mount order: /proc before the
# binds of its parts. An absolute source is a path inside the rootfs.
ROOTFS_MOUNTS: list[tuple[str, str, str | None, str | None, int]] = [
    ("proc", "/proc", "proc", None, MS_NOSUID | MS_NOEXEC | MS_NODEV),
    ("/proc/bus", "/proc/bus", None, None, MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV),
    ("/proc/fs", "/proc/fs", None, None, MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV),
    ("/proc/irq", "/proc/irq", None, None, MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV),
    ("/proc/sys", "/proc/sys", None, None, MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV),
    ("/proc/sysrq-trigger", "/proc/sysrq-trigger", None, None,
     MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV),
    ("sysfs", "/sys", "sysfs", None, MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV),
    ("tmpfs", "/sys/fs/cgroup", "tmpfs", "mode=755", MS_NOSUID | MS_NOEXEC | MS_NODEV),
    ("tmpfs", "/dev", "tmpfs", "mode=755", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME),
    # gid 5 is the `tty` group on every standard distribution (grantpt(3)).
    ("devpts", "/dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5",
     MS_NOSUID | MS_NOEXEC),
    ("tmpfs", "/dev/shm", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV | MS_STRICTATIME),
]
STANDARD_DEVICES = ("full", "null", "random", "tty", "urandom", "zero")
DEVICE_SYMLINKS = (("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"),
                   ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr"),
                   ("pts/ptmx", "ptmx"))
MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/key-users",
                "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
                "/proc/timer_stats", "/sys/firmware")


def sandbox_directory(flags: Any) -> str:
    return getattr(flags, "sandbox_directory", None) or DEFAULT_SANDBOX_DIRECTORY


class LinuxFilesystemIsolator(Isolator):
    NAME = "filesystem/linux"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__(flags, names)
        self._sandbox_directory = sandbox_directory(flags)

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        launch_info = ContainerLaunchInfo()
        if container_id.HasField("parent") and config.container_class == ContainerClass.DEBUG:
            # A debug session sees its parent's filesystem.
            if config.rootfs:
                raise InvalidRequest("A 'rootfs' cannot be set for DEBUG containers")
            if len(config.container_info.volumes):
                raise InvalidRequest("Volumes not supported for DEBUG containers")
            launch_info.enter_namespaces.append(CLONE_NEWNS)
            return launch_info
        launch_info.clone_namespaces.append(CLONE_NEWNS)
        if not config.rootfs:
            launch_info.working_directory = config.directory
            return launch_info
        try:
            self._prepare_rootfs(config, launch_info)
        except OSError as error:
            raise InvalidRequest(f"Failed to prepare the container's root filesystem: {error}")
        return launch_info

    def _prepare_rootfs(self, config: ContainerConfig, launch_info: ContainerLaunchInfo) -> None:
        rootfs = config.rootfs
        mounts = launch_info.mounts
        mounts.append(ContainerMountInfo(source=rootfs, target=rootfs, flags=MS_BIND | MS_REC))
        for source, target, fstype, options, flags in ROOTFS_MOUNTS:
            mount = ContainerMountInfo(target=os.path.join(rootfs, target.lstrip("/")),
                                       source=(os.path.join(rootfs, source.lstrip("/"))
                                               if source.startswith("/") else source),
                                       flags=flags)
            if fstype:
                mount.type = fstype
            if options:
                mount.options = options
            mounts.append(mount)
        for device in STANDARD_DEVICES:
            mounts.append(ContainerMountInfo(source=f"/dev/{device}",
                                             target=os.path.join(rootfs, "dev", device),
                                             flags=MS_BIND))
        for source, name in DEVICE_SYMLINKS:
            operation = launch_info.file_operations.add(operation=ContainerFileOperation.SYMLINK)
            operation.symlink.source = source
            operation.symlink.target = os.path.join(rootfs, "dev", name)
        # The sandbox mount point is made now, on the host side: in a
        # read-only rootfs (bind backend) it must already exist.
        sandbox = fs.join_in_root(rootfs, self._sandbox_directory)
        if not os.path.isdir(sandbox):
            os.makedirs(sandbox)
        mounts.append(ContainerMountInfo(source=config.directory, target=sandbox,
                                         flags=MS_BIND | MS_REC))
        if not config.container_info.linux_info.share_pid_namespace:
            launch_info.masked_paths.extend(os.path.join(rootfs, path.lstrip("/"))
                                            for path in MASKED_PATHS)


def volume_mount_point(config: ContainerConfig, container_path: str, sandbox_dir: str,
                       source_is_dir: bool) -> str:
    """Where a volume goes, as a host path; its mount point created if needed.

    Mesos's rules. Absolute `container_path`: inside the rootfs (created), or
    on the host, where it must exist. Relative: in the sandbox; the mount
    point is created in the sandbox on the host (inside a rootfs the
    sandbox's bind mount would hide one made there) and, with a rootfs,
    the target is the sandbox as the container sees it.
    """
    if os.path.isabs(container_path):
        if not config.rootfs:
            if not os.path.exists(container_path):
                raise InvalidRequest(f"Mount point '{container_path}' is an absolute path. It "
                                     "must exist if the container shares the host filesystem")
            return container_path
        target = fs.join_in_root(config.rootfs, container_path)
        _make_mount_point(target, source_is_dir)
        return target
    relative = os.path.normpath(container_path)
    if relative.startswith(".."):
        raise InvalidRequest(f"Volume container path '{container_path}' escapes the sandbox")
    _make_mount_point(os.path.join(config.directory, relative), source_is_dir)
    if config.rootfs:
        return os.path.join(fs.join_in_root(config.rootfs, sandbox_dir), relative)
    return os.path.join(config.directory, relative)


def _make_mount_point(path: str, is_dir: bool) -> None:
    if os.path.lexists(path):
        return
    if is_dir:
        os.makedirs(path)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()
