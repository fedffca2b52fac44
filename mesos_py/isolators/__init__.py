"""The isolators this agent offers, in dependency (isolation) order.

`--isolation` picks entries by name; whatever order they are given in, they
prepare in the order of `CREATORS` and clean up in the reverse order.
"""

from __future__ import annotations

from typing import Any, Sequence

from mesos_py.actors import Runtime
from mesos_py.isolators.base import Isolator, IsolatorHandle
from mesos_py.isolators.capabilities import LinuxCapabilitiesIsolator
from mesos_py.isolators.cgroups import CgroupsIsolator
from mesos_py.isolators.disk import DiskDuIsolator, XfsDiskIsolator
from mesos_py.isolators.docker_runtime import DockerRuntimeIsolator
from mesos_py.isolators.filesystem import PosixFilesystemIsolator
from mesos_py.isolators.linux_filesystem import LinuxFilesystemIsolator
from mesos_py.isolators.namespaces import NamespacesIpcIsolator, NamespacesPidIsolator
from mesos_py.isolators.posix import PosixCpuIsolator, PosixMemIsolator
from mesos_py.isolators.rlimits import PosixRlimitsIsolator
from mesos_py.isolators.volume_image import VolumeImageIsolator
from mesos_py.isolators.volumes import (HostPathVolumeIsolator, SandboxPathVolumeIsolator,
                                        SharedFilesystemIsolator)

# (name, class) in isolation order. Several names may share one class: the
# class is then created once, for all its selected names.
CREATORS: list[tuple[str, type[Isolator]]] = [
    ("filesystem/posix", PosixFilesystemIsolator),
    ("filesystem/linux", LinuxFilesystemIsolator),
    ("filesystem/shared", SharedFilesystemIsolator),
    ("volume/sandbox_path", SandboxPathVolumeIsolator),
    ("volume/host_path", HostPathVolumeIsolator),
    ("volume/image", VolumeImageIsolator),
    ("docker/runtime", DockerRuntimeIsolator),
    ("disk/du", DiskDuIsolator),
    ("disk/xfs", XfsDiskIsolator),
    ("namespaces/pid", NamespacesPidIsolator),
    ("namespaces/ipc", NamespacesIpcIsolator),
    ("posix/cpu", PosixCpuIsolator),
    ("posix/mem", PosixMemIsolator),
    ("posix/rlimits", PosixRlimitsIsolator),
    ("cgroups/cpu", CgroupsIsolator),
    ("cgroups/mem", CgroupsIsolator),
    ("cgroups/pids", CgroupsIsolator),
    ("cgroups/net_cls", CgroupsIsolator),
    ("linux/capabilities", LinuxCapabilitiesIsolator),
]

BY_NAME = dict(CREATORS)


def resolve_isolation(isolation: str, image_providers: str | None = None,
                      launcher: str = "linux") -> list[str]:
    """The isolator names to create, in isolation order.

    Raises ValueError naming an unknown isolator, or the start-up check that
    fails. As in Mesos, filesystem/posix is added when no filesystem isolator
    is named; image support needs filesystem/linux and the linux launcher,
    and Docker images need docker/runtime.
    """
    names = {name.strip() for name in isolation.split(",") if name.strip()}
    for name in sorted(names):
        if name not in BY_NAME:
            raise ValueError(f"Unknown or unsupported isolator '{name}' "
                             f"(this agent offers: {', '.join(BY_NAME)})")
    if not any(name.startswith("filesystem/") for name in names):
        names.add("filesystem/posix")
    if "filesystem/linux" in names:
        # As Mesos: the volume isolators come with filesystem/linux.
        names.update(("volume/host_path", "volume/sandbox_path", "volume/image"))
    if image_providers:
        if "filesystem/linux" not in names:
            raise ValueError("The 'filesystem/linux' isolator must be enabled for container "
                             "image support")
        if launcher != "linux":
            raise ValueError("The 'linux' launcher must be used for container image support")
        providers = {p.strip().upper() for p in image_providers.split(",") if p.strip()}
        if "DOCKER" in providers and "docker/runtime" not in names:
            raise ValueError("Docker runtime isolator has to be specified if 'DOCKER' is "
                             "included in 'image_providers'. Please add 'docker/runtime' to "
                             "'--isolation' flags")
    return [name for name, _ in CREATORS if name in names]


def create_isolators(runtime: Runtime, names: Sequence[str], flags: Any,
                     provisioner: Any = None) -> list[IsolatorHandle]:
    """One actor per isolator class, in the order its first name appears.

    Isolators that provision images (volume/image) get the Provisioner's pid.
    """
    chosen: dict[type[Isolator], list[str]] = {}
    for name in names:
        chosen.setdefault(BY_NAME[name], []).append(name)
    handles = []
    for cls, class_names in chosen.items():
        extra = {"provisioner": provisioner} if getattr(cls, "NEEDS_PROVISIONER", False) else {}
        pid = runtime.spawn(cls, flags, class_names, name=_actor_name(class_names), **extra)
        handles.append(IsolatorHandle(",".join(class_names), cls, pid))
    return handles


def _actor_name(names: list[str]) -> str:
    """`posix_cpu` for one name; the family (`cgroups`) for several."""
    if len(names) == 1:
        return names[0].replace("/", "_")
    return names[0].split("/")[0]
