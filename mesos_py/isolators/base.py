"""The Isolator interface, as Mesos's `mesos/slave/isolator.hpp` defines it.

Each isolator is an actor; the Containerizer reaches it only through
`dispatch`. Methods may return a value, a `Future`, or raise `Failure`.
Capabilities are class data, read without a dispatch.

Contract kept by the Containerizer:
- `prepare` runs in isolation order, one isolator after another;
- `isolate` runs in parallel once the container's pid exists, before its
  command starts;
- `watch` completes only when the isolator has limited the container (OOM,
  disk quota); the container is then destroyed with that limitation;
- `cleanup` runs once, in reverse order, after every process of the container
  is gone; it must tolerate containers it does not know.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping, Sequence

from mesos_py.actors import PID, Future, Process
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerConfig, ContainerLaunchInfo,
                                                           ContainerLimitation, ContainerState)
from mesos_py.protos.mesos.v1.mesos_pb2 import (ContainerID, ContainerStatus, Resource,
                                                ResourceStatistics)


class StartupError(ValueError):
    """An isolator cannot work with the agent's flags or host: the agent refuses
    to start with this one-line reason."""


class Isolator(Process):
    """Base of every isolator: no-op defaults for the whole interface.

    Constructed with the agent's flags and the `--isolation` names it was
    selected for (one actor may serve several names, e.g. cgroups/cpu and
    cgroups/mem, as Mesos's cgroups isolator does).
    """

    NAME: ClassVar[str] = ""
    SUPPORTS_NESTING: ClassVar[bool] = False
    SUPPORTS_STANDALONE: ClassVar[bool] = False

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__()
        self.flags = flags
        self.names = list(names) or [self.NAME]

    def recover(self, states: list[ContainerState], orphans: list[ContainerID]) -> None:
        """Rebuilds per-container state after an agent restart."""

    def prepare(self, container_id: ContainerID, config: ContainerConfig,
                ) -> ContainerLaunchInfo | None | Future[ContainerLaunchInfo | None]:
        """Returns what the launch must apply (env, namespaces, mounts...)."""
        return None

    def isolate(self, container_id: ContainerID, pid: int) -> None:
        """Puts the (not yet running) process under isolation."""

    def watch(self, container_id: ContainerID) -> Future[ContainerLimitation]:
        """Completes when this isolator had to limit the container."""
        return Future()

    def update(self, container_id: ContainerID, resources: list[Resource],
               limits: Mapping[str, float]) -> None:
        """Applies new resource requests and limits to a running container."""

    def usage(self, container_id: ContainerID) -> ResourceStatistics | Future[ResourceStatistics]:
        return ResourceStatistics(timestamp=0)

    def status(self, container_id: ContainerID) -> ContainerStatus:
        return ContainerStatus()

    def cleanup(self, container_id: ContainerID) -> None:
        """Releases everything held for the container."""


@dataclasses.dataclass
class IsolatorHandle:
    """An isolator actor together with its class (capabilities are class data)."""

    name: str
    cls: type[Isolator]
    pid: PID[Isolator]

    def supports(self, container_id: ContainerID, standalone: bool) -> bool:
        if container_id.HasField("parent"):
            return self.cls.SUPPORTS_NESTING
        return self.cls.SUPPORTS_STANDALONE or not standalone
