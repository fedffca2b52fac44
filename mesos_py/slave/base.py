"""The state the Slave's parts share, in one place.

The Slave actor is one class assembled from mixins, one per concern
(registration, tasks, updates, executor API, recovery, views), as Mesos's
Slave is one process. Their methods run in the Slave's mailbox only. This
base declares every attribute they read or write (with its initial value in
`_init_agent`) and, for type checkers, the methods one part calls on another.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import TYPE_CHECKING, Any

from mesos_py.actors import PID, UPID, Future, Process, Timer
from mesos_py.flags import Flags
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerTermination
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.executor import executor_pb2
from mesos_py.protos.messages import messages_pb2
from mesos_py.slave.records import Executor, Framework, SlaveState

if TYPE_CHECKING:
    from mesos_py.containerizer.containerizer import Containerizer
    from mesos_py.slave.services import SlaveServices

METRIC_COUNTERS = (
    "recovery_errors", "executors_terminated", "container_launch_errors",
    "valid_status_updates", "invalid_status_updates", "valid_framework_messages",
    "invalid_framework_messages", "tasks_finished", "tasks_failed", "tasks_killed",
    "tasks_lost", "tasks_gone", "registered")


def agent_info(hostname: str, port: int, resources: list[mesos_pb2.Resource],
               attributes: list[mesos_pb2.Attribute]) -> mesos_pb2.AgentInfo:
    """The SlaveInfo of this agent, with the v0-only `checkpoint=true`.

    `checkpoint` (field 7) was dropped from the v1 AgentInfo; it rides along
    as an unknown field so the master sees what a Mesos agent sends.
    """
    info = mesos_pb2.AgentInfo()
    info.ParseFromString(b"\x38\x01")  # SlaveInfo.checkpoint = true
    info.hostname = hostname
    info.port = port
    info.resources.extend(resources)
    info.attributes.extend(attributes)
    return info


class SlaveBase(Process):
    # Set by the Slave's constructor (mesos_py/slave/slave.py).
    _flags: Flags
    _containerizer: PID["Containerizer"]
    _state: SlaveState
    _recovered: threading.Event
    # Set by `_init_agent`.
    _services: "SlaveServices"
    info: mesos_pb2.AgentInfo
    _master: UPID | None
    _master_hostname: str
    _frameworks: dict[str, Framework]
    _completed_frameworks: collections.OrderedDict[str, Framework]
    _registration_timer: Timer | None
    _ping_timer: Timer | None
    _ping_timeout: float
    _ping_generation: int
    _logging_generation: int
    _logging_verbosity: int
    _metrics: dict[str, int]
    _start_time: float
    _recovery_time: float

    def _init_agent(self, services: "SlaveServices") -> None:
        self._services = services
        self.info = agent_info(services.hostname, services.port, services.resources,
                               services.attributes)
        self._master = services.master
        self._master_hostname = services.master_hostname or (
            services.master.host if services.master is not None else "")
        self._frameworks = {}
        self._completed_frameworks = collections.OrderedDict()
        self._registration_timer = None
        self._ping_timer = None
        self._ping_timeout = 75.0
        self._ping_generation = 0
        self._logging_generation = 0
        self._logging_verbosity = 0
        self._metrics = {name: 0 for name in METRIC_COUNTERS}
        self._start_time = time.time()
        self._recovery_time = 0.0

    if TYPE_CHECKING:
        # Methods one part calls on another (defined in the mixins).
        def status_update(self, update: messages_pb2.StatusUpdate,
                          executor_id: str | None) -> None: ...

        def forward(self, update: messages_pb2.StatusUpdate) -> None: ...

        def exited(self, upid: UPID) -> None: ...

        def _send(self, to: UPID, message: Any) -> None: ...

        def _detected(self) -> None: ...

        def _maybe_terminate(self) -> None: ...

        def _shutdown_framework(self, framework_id: str) -> None: ...

        def _shutdown_executor(self, framework: Framework, executor: Executor) -> None: ...

        def _remove_executor(self, framework: Framework, executor: Executor) -> None: ...

        def _remove_framework(self, framework: Framework) -> None: ...

        def _deliver_queued(self, framework: Framework, executor: Executor) -> None: ...

        def _executor_terminated(self, framework_id: str, executor_id: str,
                                 container_id: mesos_pb2.ContainerID,
                                 waited: Future[ContainerTermination | None]) -> None: ...

        def _attach_sandbox(self, executor: Executor) -> None: ...

        def _get_executor(self, framework_id: str, executor_id: str) -> Executor | None: ...

        def _executor_to_framework(self, executor: Executor, data: bytes) -> None: ...

        def _reregister_executor_timeout(self) -> None: ...

        def _command_executor_info(self, framework_info: mesos_pb2.FrameworkInfo,
                                   task: mesos_pb2.TaskInfo) -> mesos_pb2.ExecutorInfo: ...

        def _builtin_executor_command(self, kind: str) -> mesos_pb2.CommandInfo: ...

        def _executor_environment(self, framework: Framework,
                                  executor: Executor) -> dict[str, str]: ...

