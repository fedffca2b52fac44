"""What the Slave actor is given besides its flags and containerizer.

`mesos_py/agent.py` builds this in dependency order: the actors the Slave
drives (status update manager, garbage collector, files), the facts it
probed at start-up (master address, hostname, resources, attributes), and
how to end the agent process (a master's ShutdownMessage).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from mesos_py.actors import PID, UPID
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.slave.files import Files
from mesos_py.slave.gc import GarbageCollector
from mesos_py.slave.status_update_manager import StatusUpdateManager


@dataclasses.dataclass(frozen=True)
class SlaveServices:
    status_updates: PID[StatusUpdateManager]
    gc: PID[GarbageCollector]
    files: PID[Files]
    master: UPID | None
    hostname: str
    port: int  # the advertised port, as in SlaveInfo.port
    resources: list[mesos_pb2.Resource]
    attributes: list[mesos_pb2.Attribute]
    exit: Callable[[int], None]
    master_hostname: str = ""
    # The built-in executors run with the agent's own Python and import path.
    python_path: str | None = None
