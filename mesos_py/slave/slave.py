"""The Slave actor: the agent's top-level state and the Operator API calls.

HTTP handlers dispatch decoded `agent.Call`s to the methods named in
`mesos_py/http/api.py`; each returns an `agent.Response`, `None` (an empty
200), or raises a typed `Failure` that the HTTP layer maps to a status code.
Container calls go down to the Containerizer; nothing calls back up.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from mesos_py import __version__
from mesos_py.actors import PID, Failure, Future, Process, await_all, defer, dispatch
from mesos_py.containerizer.containerizer import Containerizer, LaunchResult
from mesos_py.errors import InvalidRequest, NotFound
from mesos_py.flags import Flags
from mesos_py.ids import container_key
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerClass, ContainerConfig,
                                                           ContainerTermination)
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.agent import agent_pb2
from mesos_py.slave import checkpoint, paths
from mesos_py.slave.base import SlaveBase
from mesos_py.slave.executor_api import ExecutorApi
from mesos_py.slave.records import SlaveState as State
from mesos_py.slave.recovery import Recovery
from mesos_py.slave.registration import MasterLink
from mesos_py.slave.services import SlaveServices
from mesos_py.slave.tasks import TaskLifecycle
from mesos_py.slave.updates import StatusUpdates
from mesos_py.slave.views import Views

log = logging.getLogger(__name__)

# The Mesos release whose agent API this agent implements.
MESOS_API_VERSION = "1.11.0"


class Accepted:
    """A call answered 202 Accepted with no body (e.g. a container id in use)."""


ACCEPTED = Accepted()


class Slave(MasterLink, TaskLifecycle, StatusUpdates, ExecutorApi, Recovery, Views, SlaveBase,
            Process):
    def __init__(self, flags: Flags, containerizer: PID[Containerizer],
                 recovered: threading.Event, services: SlaveServices) -> None:
        super().__init__()
        self._flags = flags
        self._containerizer = containerizer
        self._state = State.RECOVERING
        # Published for the HTTP layer, which answers 503 until it is set.
        self._recovered = recovered
        # Frameworks, executors, tasks and the master (see mesos_py/slave/base.py).
        self._init_agent(services)

    # ============================================================== recovery
    def recover(self) -> Future[None]:
        self._install_message_handlers()
        boot_changed = self._boot_changed()
        if boot_changed:
            log.warning("The host rebooted since the last run: no container can still be running")
        return dispatch(self._containerizer, Containerizer.recover, boot_changed).then(
            defer(self.pid, lambda _: self._recover_agent(boot_changed))).then(
            defer(self.pid, lambda _: self._recovered_all()))

    def _boot_changed(self) -> bool:
        previous = _read_optional(paths.boot_id_path(self._flags.work_dir))
        return previous is not None and previous.strip() != _boot_id()

    def _recovered_all(self) -> None:
        checkpoint.checkpoint_text(paths.boot_id_path(self._flags.work_dir), _boot_id())
        self._state = State.RUNNING
        self._recovered.set()
        log.info("Finished recovery; serving the Operator API")
        self._detected()  # register with the master, if there is one

    # ===================================================== simple responses
    def get_health(self, call: agent_pb2.Call) -> agent_pb2.Response:
        response = agent_pb2.Response(type=agent_pb2.Response.GET_HEALTH)
        response.get_health.healthy = True
        return response

    def get_flags(self, call: agent_pb2.Call) -> agent_pb2.Response:
        response = agent_pb2.Response(type=agent_pb2.Response.GET_FLAGS)
        for name, value in sorted(self._flags.as_strings().items()):
            response.get_flags.flags.add(name=name, value=value)
        return response

    def get_version(self, call: agent_pb2.Call) -> agent_pb2.Response:
        response = agent_pb2.Response(type=agent_pb2.Response.GET_VERSION)
        response.get_version.version_info.CopyFrom(version_info())
        return response

    # ============================================================ containers
    def get_containers(self, call: agent_pb2.Call) -> Future[agent_pb2.Response]:
        show_nested = call.get_containers.show_nested
        show_standalone = call.get_containers.show_standalone
        return dispatch(self._containerizer, Containerizer.containers).then(
            lambda containers: self._describe_containers(
                [container_id for container_id, standalone in containers
                 if (show_nested or not container_id.HasField("parent"))
                 and (show_standalone or not standalone or container_id.HasField("parent"))]))

    def _describe_containers(self, container_ids: list[mesos_pb2.ContainerID]) -> Future[agent_pb2.Response]:
        statuses = [dispatch(self._containerizer, Containerizer.status, c) for c in container_ids]
        usages = [dispatch(self._containerizer, Containerizer.usage, c) for c in container_ids]

        def build(_: Any) -> agent_pb2.Response:
            response = agent_pb2.Response(type=agent_pb2.Response.GET_CONTAINERS)
            response.get_containers.SetInParent()
            for container_id, status, usage in zip(container_ids, statuses, usages):
                if status.is_failed() and usage.is_failed():
                    continue  # destroyed while we were asking
                entry = response.get_containers.containers.add()
                self._describe_executor_container(entry, container_id)
                entry.container_id.CopyFrom(container_id)
                if status.is_ready():
                    entry.container_status.CopyFrom(status.value())
                if usage.is_ready():
                    entry.resource_statistics.CopyFrom(usage.value())
            return response

        return await_all(statuses + usages).then(build)

    def launch_container(self, call: agent_pb2.Call) -> Future[Any]:
        launch = call.launch_container
        return self._launch(launch.container_id, launch.command, launch.resources,
                            launch.limits, launch.container if launch.HasField("container")
                            else None)

    def launch_nested_container(self, call: agent_pb2.Call) -> Future[Any]:
        launch = call.launch_nested_container
        return self._launch(launch.container_id, launch.command, [], {},
                            launch.container if launch.HasField("container") else None)

    def launch_nested_container_session(self, call: agent_pb2.Call) -> Future[Any]:
        """A DEBUG container living as long as the HTTP connection: (switchboard, id)."""
        session = call.launch_nested_container_session
        container_id = session.container_id
        launched = self._launch(container_id, session.command, [], {},
                                session.container if session.HasField("container") else None,
                                container_class=ContainerClass.DEBUG)
        return launched.then(lambda result: result if isinstance(result, Accepted) else dispatch(
            self._containerizer, Containerizer.attach, container_id).then(
                lambda name: (name, container_id)))

    def attach_container_output(self, call: agent_pb2.Call) -> Future[tuple[str, None]]:
        return dispatch(self._containerizer, Containerizer.attach,
                        call.attach_container_output.container_id).then(lambda name: (name, None))

    def attach_container_input(self, container_id: mesos_pb2.ContainerID) -> Future[str]:
        return dispatch(self._containerizer, Containerizer.attach, container_id)

    def end_session(self, container_id: mesos_pb2.ContainerID) -> None:
        """The connection of a LAUNCH_NESTED_CONTAINER_SESSION is gone."""
        dispatch(self._containerizer, Containerizer.destroy, container_id)

    def _launch(self, container_id: mesos_pb2.ContainerID, command: mesos_pb2.CommandInfo,
                resources: Any, limits: Any, container: mesos_pb2.ContainerInfo | None,
                container_class: Any = ContainerClass.DEFAULT) -> Future[Any]:
        config = ContainerConfig(container_class=container_class)
        config.command_info.CopyFrom(command)
        config.resources.extend(resources)
        for name, scalar in limits.items():
            config.limits[name].CopyFrom(scalar)
        if container is not None:
            config.container_info.CopyFrom(container)
        if self._flags.switch_user and command.HasField("user"):
            config.user = command.user
        # A nested container's sandbox is found by the containerizer in its parent's.
        config.directory = ("" if container_id.HasField("parent")
                            else paths.standalone_sandbox(self._flags.work_dir, container_id))
        return dispatch(self._containerizer, Containerizer.launch, container_id, config).then(
            lambda result: ACCEPTED if result is LaunchResult.ALREADY_LAUNCHED else None
        ).recover(_launch_failure)

    def wait_container(self, call: agent_pb2.Call) -> Future[agent_pb2.Response]:
        return self._wait(call.wait_container.container_id, nested_call=False)

    def wait_nested_container(self, call: agent_pb2.Call) -> Future[agent_pb2.Response]:
        return self._wait(call.wait_nested_container.container_id, nested_call=True)

    def _wait(self, container_id: mesos_pb2.ContainerID,
              nested_call: bool) -> Future[agent_pb2.Response]:
        return dispatch(self._containerizer, Containerizer.wait, container_id).then(
            lambda termination: _wait_response(container_id, termination, nested_call))

    def kill_container(self, call: agent_pb2.Call) -> Future[None]:
        kill = call.kill_container
        return self._kill(kill.container_id, kill.signal if kill.HasField("signal") else None)

    def kill_nested_container(self, call: agent_pb2.Call) -> Future[None]:
        kill = call.kill_nested_container
        return self._kill(kill.container_id, kill.signal if kill.HasField("signal") else None)

    def _kill(self, container_id: mesos_pb2.ContainerID, signum: int | None) -> Future[None]:
        signum = signal.SIGKILL if signum is None else signum
        if not 0 < signum < signal.NSIG:
            raise InvalidRequest(f"Invalid signal {signum}")

        def found(killed: bool) -> None:
            if not killed:
                raise NotFound(f"Container '{container_key(container_id)}' cannot be found"
                               " (or is already killed)")

        return dispatch(self._containerizer, Containerizer.kill, container_id, signum).then(found)

    def remove_container(self, call: agent_pb2.Call) -> Future[None]:
        return dispatch(self._containerizer, Containerizer.remove,
                        call.remove_container.container_id).then(lambda _: None)

    def remove_nested_container(self, call: agent_pb2.Call) -> Future[None]:
        return dispatch(self._containerizer, Containerizer.remove,
                        call.remove_nested_container.container_id).then(lambda _: None)

    # ================================================================ images
    def prune_images(self, call: agent_pb2.Call) -> Future[None]:
        """Removes every cached image no container uses, but the excluded ones."""
        excluded = list(call.prune_images.excluded_images)
        return dispatch(self._containerizer, Containerizer.prune_images, excluded).then(
            lambda _: None)


def _launch_failure(launch: Future[Any]) -> Any:
    # A launch failure is almost always caused by the request: Mesos answers
    # 400 for it; typed failures (404, 503) keep their meaning. A launch that
    # was discarded was cut short by a kill or destroy of its container.
    if launch.is_discarded():
        raise InvalidRequest("Container was destroyed during its launch")
    failure = launch.as_failure()
    if type(failure) is Failure:
        raise InvalidRequest(failure.message)
    raise failure


def _wait_response(container_id: mesos_pb2.ContainerID, termination: ContainerTermination | None,
                   nested_call: bool) -> agent_pb2.Response:
    """WAIT_CONTAINER's answer, or WAIT_NESTED_CONTAINER's for the deprecated call."""
    if termination is None:
        raise NotFound(f"Container {container_key(container_id)} cannot be found")
    if nested_call:
        response = agent_pb2.Response(type=agent_pb2.Response.WAIT_NESTED_CONTAINER)
        wait: Any = response.wait_nested_container
    else:
        response = agent_pb2.Response(type=agent_pb2.Response.WAIT_CONTAINER)
        wait = response.wait_container
    wait.SetInParent()
    if termination.HasField("status"):
        wait.exit_status = termination.status
    if termination.HasField("state"):
        wait.state = termination.state
    if termination.HasField("reason"):
        wait.reason = termination.reason
    if len(termination.limited_resources):
        wait.limitation.resources.extend(termination.limited_resources)
    if termination.HasField("message"):
        wait.message = termination.message
    return response


def version_info() -> mesos_pb2.VersionInfo:
    return mesos_pb2.VersionInfo(version=MESOS_API_VERSION, git_tag=f"mesos-py-{__version__}")


def _boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as boot_id:
        return boot_id.read().strip()


def _read_optional(path: str) -> str | None:
    try:
        with open(path) as source:
            return source.read()
    except FileNotFoundError:
        return None
