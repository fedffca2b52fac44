"""The Fetcher actor (placeholder until the fetcher lands)."""

from __future__ import annotations

from mesos_py.actors import PID, Failure, Process
from mesos_py.protos.mesos.v1.mesos_pb2 import CommandInfo, ContainerID


class Fetcher(Process):
    def fetch(self, container_id: ContainerID, uris: list[CommandInfo.URI], directory: str,
              user: str | None) -> None:
        raise Failure("Fetching is not implemented")


def create_fetcher(runtime: object, flags: object) -> "PID[Fetcher] | None":
    return None
