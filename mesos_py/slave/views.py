"""What operators see of the Slave: `/state`, the GET_* operator calls and
`/metrics/snapshot` (a mixin of the Slave; every method runs in its mailbox).

`/state` follows Mesos's JSON writers (src/slave/http.cpp, src/common/http.cpp)
field for field where a field applies: resources as `{name: scalar or
"[ranges]"}` objects, tasks with their statuses, executors with `tasks`,
`queued_tasks` and `completed_tasks`, frameworks with `executors` and
`completed_executors`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any, Iterable

from mesos_py import __version__
from mesos_py.actors import Future, await_all, dispatch
from mesos_py.errors import InvalidRequest, NotFound
from mesos_py.http import codec
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.agent import agent_pb2
from mesos_py.resources import format_ranges, format_set, is_revocable, reserved, unreserved
from mesos_py.resources.attributes import attribute_value_json
from mesos_py.slave.files import Files, FilesError, FilesErrorType, FileInfo
from mesos_py.slave.gc import GarbageCollector
from mesos_py.slave.records import (Executor, ExecutorState, Framework, create_task,
                                    framework_roles, has_capability)
from mesos_py.slave.registration import AGENT_CAPABILITIES, MESOS_VERSION
from mesos_py.slave.status_update_manager import StatusUpdateManager

from mesos_py.slave.base import SlaveBase

log = logging.getLogger(__name__)

Response = agent_pb2.Response
TaskState = mesos_pb2.TaskState
LOGGING_LEVELS = {logging.INFO: 0, logging.WARNING: 1, logging.ERROR: 2}


def resources_json(resources: Iterable[mesos_pb2.Resource]) -> dict[str, Any]:
    """Mesos's JSON of a Resources: scalars summed by name, ranges and sets as text."""
    scalars: dict[str, float] = {"disk": 0.0, "mem": 0.0, "gpus": 0.0, "cpus": 0.0}
    ranges: dict[str, list[tuple[int, int]]] = {}
    sets: dict[str, list[str]] = {}
    for resource in resources:
        name = resource.name + ("_revocable" if is_revocable(resource) else "")
        if resource.type == mesos_pb2.Value.SCALAR:
            scalars[name] = scalars.get(name, 0.0) + resource.scalar.value
        elif resource.type == mesos_pb2.Value.RANGES:
            ranges.setdefault(name, []).extend((r.begin, r.end) for r in resource.ranges.range)
        elif resource.type == mesos_pb2.Value.SET:
            sets.setdefault(name, []).extend(resource.set.item)
    result: dict[str, Any] = dict(scalars)
    result.update({name: format_ranges(sorted(items)) for name, items in ranges.items()})
    result.update({name: format_set(items) for name, items in sets.items()})
    return result


def endpoint_resource(resource: mesos_pb2.Resource) -> dict[str, Any]:
    """A Resource in the pre-refinement format the endpoints show (with `role`)."""
    shown = codec.message_to_json(resource)
    shown.pop("reservations", None)
    shown["role"] = (resource.reservations[-1].role if len(resource.reservations)
                     else "*")
    return shown


def _role_of(resources: Iterable[mesos_pb2.Resource]) -> str | None:
    for resource in resources:
        if resource.HasField("allocation_info"):
            return resource.allocation_info.role
    return None


def task_json(task: mesos_pb2.Task) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": task.task_id.value, "name": task.name, "framework_id": task.framework_id.value,
        "executor_id": task.executor_id.value, "slave_id": task.agent_id.value,
        "state": TaskState.Name(task.state), "resources": resources_json(task.resources)}
    if task.limits:
        shown["limits"] = {name: value.value for name, value in task.limits.items()}
    role = _role_of(task.resources)
    if role is not None:
        shown["role"] = role
    shown["statuses"] = [status_json(s) for s in task.statuses]
    if task.HasField("user"):
        shown["user"] = task.user
    if task.HasField("labels"):
        shown["labels"] = [codec.message_to_json(label) for label in task.labels.labels]
    for name in ("discovery", "container", "health_check"):
        if task.HasField(name):  # type: ignore[arg-type]
            shown[name] = codec.message_to_json(getattr(task, name))
    return shown


def status_json(status: mesos_pb2.TaskStatus) -> dict[str, Any]:
    shown: dict[str, Any] = {"state": TaskState.Name(status.state),
                             "timestamp": status.timestamp}
    if status.HasField("labels"):
        shown["labels"] = [codec.message_to_json(label) for label in status.labels.labels]
    if status.HasField("container_status"):
        container = status.container_status
        inner: dict[str, Any] = {}
        if container.HasField("container_id"):
            inner["container_id"] = codec.message_to_json(container.container_id)
        if container.network_infos:
            inner["network_infos"] = [codec.message_to_json(n) for n in container.network_infos]
        if container.HasField("cgroup_info"):
            inner["cgroup_info"] = codec.message_to_json(container.cgroup_info)
        shown["container_status"] = inner
    if status.HasField("healthy"):
        shown["healthy"] = status.healthy
    return shown


def queued_task_json(task: mesos_pb2.TaskInfo) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": task.task_id.value, "name": task.name,
                             "slave_id": task.agent_id.value,
                             "resources": resources_json(task.resources)}
    role = _role_of(task.resources)
    if role is not None:
        shown["role"] = role
    if task.HasField("command"):
        shown["command"] = codec.message_to_json(task.command)
    if task.HasField("executor"):
        shown["executor_id"] = task.executor.executor_id.value
    if task.HasField("discovery"):
        shown["discovery"] = codec.message_to_json(task.discovery)
    return shown


def executor_json(executor: Executor) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": executor.id, "name": executor.info.name, "source": executor.info.source,
        "container": executor.container_id.value, "directory": executor.directory,
        "resources": resources_json(executor.allocated_resources())}
    role = _role_of(executor.info.resources)
    if role is not None:
        shown["role"] = role
    if executor.info.HasField("labels"):
        shown["labels"] = [codec.message_to_json(label) for label in executor.info.labels.labels]
    if executor.info.HasField("type"):
        shown["type"] = mesos_pb2.ExecutorInfo.Type.Name(executor.info.type)
    shown["tasks"] = [task_json(t) for t in executor.launched_tasks.values()]
    shown["queued_tasks"] = [queued_task_json(t) for t in executor.queued_tasks.values()]
    shown["completed_tasks"] = ([task_json(t) for t in executor.completed_tasks] +
                                [task_json(t) for t in executor.terminated_tasks.values()])
    return shown


def framework_json(framework: Framework) -> dict[str, Any]:
    info = framework.info
    shown: dict[str, Any] = {"id": framework.id, "name": info.name, "user": info.user,
                             "failover_timeout": info.failover_timeout,
                             "checkpoint": info.checkpoint, "hostname": info.hostname}
    if info.HasField("principal"):
        shown["principal"] = info.principal
    if has_capability(info, mesos_pb2.FrameworkInfo.Capability.MULTI_ROLE):
        shown["roles"] = list(info.roles)
    else:
        shown["role"] = info.role or "*"
    shown["executors"] = [executor_json(e) for e in framework.executors.values()]
    shown["completed_executors"] = [executor_json(e) for e in framework.completed_executors]
    return shown


class Views(SlaveBase):
    # ================================================================ /state
    def state_json(self) -> dict[str, Any]:
        total = list(self.info.resources)
        allocated: list[mesos_pb2.Resource] = []
        from mesos_py.resources import add as add_resources
        for framework in self._frameworks.values():
            allocated = add_resources(allocated, framework.allocated_resources())
        by_role: dict[str, list[mesos_pb2.Resource]] = {}
        for resource in reserved(total):
            by_role.setdefault(resource.reservations[-1].role, []).append(resource)
        allocated_by_role: dict[str, list[mesos_pb2.Resource]] = {}
        for resource in reserved(allocated):
            allocated_by_role.setdefault(resource.reservations[-1].role, []).append(resource)
        state: dict[str, Any] = {
            "version": MESOS_VERSION, "git_tag": f"mesos-py-{__version__}",
            "build_date": "", "build_time": 0.0, "build_user": "",
            "start_time": self._start_time, "id": self.info.id.value,
            "pid": str(self.pid.upid), "hostname": self.info.hostname,
            "capabilities": [mesos_pb2.AgentInfo.Capability.Type.Name(c)
                             for c in AGENT_CAPABILITIES],
            "resources": resources_json(total),
            "reserved_resources": {role: resources_json(rs) for role, rs in by_role.items()},
            "unreserved_resources": resources_json(unreserved(total)),
            "reserved_resources_full": {role: [endpoint_resource(r) for r in rs]
                                        for role, rs in by_role.items()},
            "unreserved_resources_full": [endpoint_resource(r) for r in unreserved(total)],
            "reserved_resources_allocated": {role: resources_json(rs)
                                             for role, rs in allocated_by_role.items()},
            "unreserved_resources_allocated": resources_json(unreserved(allocated)),
            "resource_providers": [],
            "attributes": {a.name: attribute_value_json(a) for a in self.info.attributes},
        }
        if self._master is not None:
            state["master_hostname"] = self._master_hostname
        if self._flags.log_dir:
            state["log_dir"] = self._flags.log_dir
        state["flags"] = self._flags.as_strings()
        state["frameworks"] = [framework_json(f) for f in self._frameworks.values()]
        state["completed_frameworks"] = [framework_json(f)
                                         for f in self._completed_frameworks.values()]
        return state

    # ===================================================== operator calls
    def get_agent(self, call: agent_pb2.Call) -> agent_pb2.Response:
        response = Response(type=Response.GET_AGENT)
        response.get_agent.agent_info.CopyFrom(self.info)
        return response

    def get_frameworks(self, call: agent_pb2.Call) -> agent_pb2.Response:
        response = Response(type=Response.GET_FRAMEWORKS)
        self._fill_frameworks(response.get_frameworks)
        return response

    def get_executors(self, call: agent_pb2.Call) -> agent_pb2.Response:
        response = Response(type=Response.GET_EXECUTORS)
        self._fill_executors(response.get_executors)
        return response

    def get_tasks(self, call: agent_pb2.Call) -> agent_pb2.Response:
        response = Response(type=Response.GET_TASKS)
        self._fill_tasks(response.get_tasks)
        return response

    def get_state(self, call: agent_pb2.Call) -> agent_pb2.Response:
        response = Response(type=Response.GET_STATE)
        self._fill_tasks(response.get_state.get_tasks)
        self._fill_executors(response.get_state.get_executors)
        self._fill_frameworks(response.get_state.get_frameworks)
        return response

    def _all_frameworks(self) -> list[Framework]:
        return list(self._frameworks.values()) + list(self._completed_frameworks.values())

    def _fill_frameworks(self, out: Any) -> None:
        out.SetInParent()
        for framework in self._frameworks.values():
            out.frameworks.add().framework_info.CopyFrom(framework.info)
        for framework in self._completed_frameworks.values():
            out.completed_frameworks.add().framework_info.CopyFrom(framework.info)

    def _fill_executors(self, out: Any) -> None:
        out.SetInParent()
        for framework in self._all_frameworks():
            for executor in framework.executors.values():
                out.executors.add().executor_info.CopyFrom(executor.info)
            for executor in framework.completed_executors:
                out.completed_executors.add().executor_info.CopyFrom(executor.info)

    def _fill_tasks(self, out: Any) -> None:
        out.SetInParent()
        for framework in self._all_frameworks():
            for pending in framework.pending_tasks.values():
                for info in pending.values():
                    out.pending_tasks.add().CopyFrom(
                        create_task(info, TaskState.TASK_STAGING, framework.id))
            for executor in framework.executors.values():
                for info in executor.queued_tasks.values():
                    out.queued_tasks.add().CopyFrom(
                        create_task(info, TaskState.TASK_STAGING, framework.id))
                out.launched_tasks.extend(executor.launched_tasks.values())
                out.terminated_tasks.extend(executor.terminated_tasks.values())
                out.completed_tasks.extend(executor.completed_tasks)
            for executor in framework.completed_executors:
                out.completed_tasks.extend(executor.launched_tasks.values())
                out.completed_tasks.extend(executor.terminated_tasks.values())
                out.completed_tasks.extend(executor.completed_tasks)

    def monitor_statistics(self) -> Future[list[dict[str, Any]]]:
        """`/monitor/statistics`: resource usage of every live executor."""
        from mesos_py.containerizer.containerizer import Containerizer

        entries = [(framework, executor,
                    dispatch(self._containerizer, Containerizer.usage, executor.container_id))
                   for framework in self._frameworks.values()
                   for executor in framework.executors.values()
                   if executor.state is not ExecutorState.TERMINATED]

        def build(_: Any) -> list[dict[str, Any]]:
            return [{"executor_id": executor.id, "executor_name": executor.info.name,
                     "framework_id": framework.id, "source": executor.info.source,
                     "statistics": codec.message_to_json(usage.value())}
                    for framework, executor, usage in entries if usage.is_ready()]

        return await_all([usage for _, _, usage in entries]).then(build)

    def _describe_executor_container(self, entry: Any,
                                     container_id: mesos_pb2.ContainerID) -> None:
        """GET_CONTAINERS names the framework and executor of an executor's container."""
        for framework in self._frameworks.values():
            for executor in framework.executors.values():
                if executor.container_id == container_id:
                    entry.framework_id.value = framework.id
                    entry.executor_id.value = executor.id
                    entry.executor_name = executor.info.name
                    return

    # ================================================================ files
    def list_files(self, call: agent_pb2.Call) -> Future[agent_pb2.Response]:
        def build(result: list[FileInfo] | FilesError) -> agent_pb2.Response:
            _raise_files_error(result, call.list_files.path)
            response = Response(type=Response.LIST_FILES)
            response.list_files.SetInParent()
            assert not isinstance(result, FilesError)
            for item in result:
                info = response.list_files.file_infos.add(
                    path=item.path, nlink=item.nlink, size=item.size, mode=item.mode,
                    uid=item.uid, gid=item.gid)
                info.mtime.nanoseconds = int(item.mtime * 1e9)
            return response

        return dispatch(self._services.files, Files.browse, call.list_files.path).then(build)

    def read_file(self, call: agent_pb2.Call) -> Future[agent_pb2.Response]:
        read = call.read_file
        length = read.length if read.HasField("length") else None

        def build(result: tuple[int, bytes] | FilesError) -> agent_pb2.Response:
            _raise_files_error(result, read.path)
            assert not isinstance(result, FilesError)
            response = Response(type=Response.READ_FILE)
            response.read_file.size, response.read_file.data = result
            return response

        return dispatch(self._services.files, Files.read, read.path, read.offset,
                        length).then(build)

    # ============================================================== logging
    def get_logging_level(self, call: agent_pb2.Call) -> agent_pb2.Response:
        """Mesos answers glog's verbosity (`FLAGS_v`): 0 unless raised by
        SET_LOGGING_LEVEL, whatever `--logging_level` is."""
        response = Response(type=Response.GET_LOGGING_LEVEL)
        response.get_logging_level.level = self._logging_verbosity
        return response

    def set_logging_level(self, call: agent_pb2.Call) -> None:
        """Mesos's glog verbosity: 0 is the `--logging_level`, anything above is
        more verbose (DEBUG here); reverts to 0 after `duration`."""
        request = call.set_logging_level
        seconds = request.duration.nanoseconds / 1e9
        self._apply_verbosity(request.level)
        log.info("Set the logging level to %d for %.3fs", request.level, seconds)
        self._logging_generation += 1
        from mesos_py.actors import delay
        delay(self.runtime.clock, seconds, self.pid, self._revert_logging_level,
              self._logging_generation)

    def _apply_verbosity(self, level: int) -> None:
        self._logging_verbosity = level
        configured = getattr(logging, self._flags.logging_level)
        logging.getLogger().setLevel(configured if level == 0 else logging.DEBUG)

    def _revert_logging_level(self, generation: int) -> None:
        if generation == self._logging_generation:
            self._apply_verbosity(0)
            log.info("Reverted the logging level to %s", self._flags.logging_level)

    # ============================================================== metrics
    def metrics(self) -> Future[dict[str, float]]:
        values = self._slave_metrics()
        gc = dispatch(self._services.gc, GarbageCollector.metrics)

        def merge(done: list[Future[Any]]) -> dict[str, float]:
            if gc.is_ready():
                values.update(gc.value())
            return dict(sorted(values.items()))

        return await_all([gc]).then(merge)

    def get_metrics(self, call: agent_pb2.Call) -> Future[agent_pb2.Response]:
        def build(values: dict[str, float]) -> agent_pb2.Response:
            response = Response(type=Response.GET_METRICS)
            response.get_metrics.SetInParent()
            for name, value in values.items():
                response.get_metrics.metrics.add(name=name, value=value)
            return response

        return self.metrics().then(build)

    def _slave_metrics(self) -> dict[str, float]:
        from mesos_py.slave.records import SlaveState

        states: dict[int, int] = {}
        executors: dict[ExecutorState, int] = {}
        for framework in self._frameworks.values():
            for executor in framework.executors.values():
                executors[executor.state] = executors.get(executor.state, 0) + 1
                for task in executor.launched_tasks.values():
                    states[task.state] = states.get(task.state, 0) + 1
                states[TaskState.TASK_STAGING] = (states.get(TaskState.TASK_STAGING, 0) +
                                                  len(executor.queued_tasks))
        m = self._metrics
        values: dict[str, float] = {
            "slave/uptime_secs": time.time() - self._start_time,
            "slave/registered": 1.0 if self._state is SlaveState.RUNNING and
            self._master is not None else 0.0,
            "slave/recovery_errors": float(m["recovery_errors"]),
            "slave/recovery_time_secs": float(self._recovery_time),
            "slave/frameworks_active": float(len(self._frameworks)),
            "slave/tasks_staging": float(states.get(TaskState.TASK_STAGING, 0)),
            "slave/tasks_starting": float(states.get(TaskState.TASK_STARTING, 0)),
            "slave/tasks_running": float(states.get(TaskState.TASK_RUNNING, 0)),
            "slave/tasks_killing": float(states.get(TaskState.TASK_KILLING, 0)),
            "slave/executors_registering": float(executors.get(ExecutorState.REGISTERING, 0)),
            "slave/executors_running": float(executors.get(ExecutorState.RUNNING, 0)),
            "slave/executors_terminating": float(executors.get(ExecutorState.TERMINATING, 0)),
            "slave/executors_terminated": float(m["executors_terminated"]),
            "slave/executors_preempted": 0.0,
            "slave/container_launch_errors": float(m["container_launch_errors"]),
        }
        for name in ("finished", "failed", "killed", "lost", "gone"):
            values[f"slave/tasks_{name}"] = float(m[f"tasks_{name}"])
        for name in ("valid_status_updates", "invalid_status_updates",
                     "valid_framework_messages", "invalid_framework_messages"):
            values[f"slave/{name}"] = float(m[name])
        total = resources_json(unreserved(self.info.resources) + reserved(self.info.resources))
        used: dict[str, Any] = resources_json(
            [r for f in self._frameworks.values() for r in f.allocated_resources()])
        for name in ("cpus", "mem", "disk", "gpus"):
            t, u = float(total.get(name, 0.0)), float(used.get(name, 0.0))
            values[f"slave/{name}_total"] = t
            values[f"slave/{name}_used"] = u
            values[f"slave/{name}_percent"] = u / t if t else 0.0
            values[f"slave/{name}_revocable_total"] = 0.0
            values[f"slave/{name}_revocable_used"] = 0.0
            values[f"slave/{name}_revocable_percent"] = 0.0
        values["containerizer/mesos/container_destroy_errors"] = 0.0
        load = os.getloadavg()
        values.update({"system/cpus_total": float(os.cpu_count() or 1),
                       "system/load_1min": load[0], "system/load_5min": load[1],
                       "system/load_15min": load[2]})
        values.update(_memory_metrics())
        return values

    def pending_status_updates(self) -> Future[int]:
        return dispatch(self._services.status_updates, StatusUpdateManager.pending_count)


def _raise_files_error(result: Any, path: str) -> None:
    if isinstance(result, FilesError):
        if result.type is FilesErrorType.NOT_FOUND:
            raise NotFound(result.message.strip())  # Mesos: an empty body
        if result.type is FilesErrorType.INVALID:
            raise InvalidRequest(result.message.strip())
        from mesos_py.actors import Failure
        raise Failure(result.message.strip())


def _memory_metrics() -> dict[str, float]:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        available = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return {}
    return {"system/mem_total_bytes": float(pages * size),
            "system/mem_free_bytes": float(available * size)}


__all__ = ["LOGGING_LEVELS", "Views", "endpoint_resource", "executor_json", "framework_json",
           "framework_roles", "resources_json", "status_json", "task_json"]
