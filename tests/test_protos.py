"""Wire-level facts about the generated Mesos protobuf modules.

Expected numbers come from Apache Mesos 1.11 (include/mesos/v1/agent/agent.proto,
include/mesos/v1/mesos.proto, include/mesos/slave/containerizer.proto); the full
declaration-by-declaration comparison lives in tools/check_proto_compat.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.message import Message

from mesos_py.protos.mesos.slave import containerizer_pb2
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.agent import agent_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "gen_protos.py"), "--check"],
        capture_output=True, text=True, cwd=REPO_ROOT / "tests",
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("UNKNOWN", 0),
        ("GET_HEALTH", 1),
        ("GET_FLAGS", 2),
        ("GET_VERSION", 3),
        ("GET_STATE", 9),
        ("GET_CONTAINERS", 10),
        ("LAUNCH_NESTED_CONTAINER", 14),
        ("WAIT_NESTED_CONTAINER", 15),
        ("KILL_NESTED_CONTAINER", 16),
        ("LAUNCH_NESTED_CONTAINER_SESSION", 17),
        ("ATTACH_CONTAINER_INPUT", 18),
        ("ATTACH_CONTAINER_OUTPUT", 19),
        ("REMOVE_NESTED_CONTAINER", 21),
        ("LAUNCH_CONTAINER", 22),
        ("WAIT_CONTAINER", 23),
        ("KILL_CONTAINER", 24),
        ("REMOVE_CONTAINER", 25),
        ("GET_OPERATIONS", 31),
        ("MARK_RESOURCE_PROVIDER_GONE", 32),
    ],
)
def test_agent_call_type_numbers(name: str, number: int) -> None:
    assert agent_pb2.Call.Type.Value(name) == number


@pytest.mark.parametrize(
    ("name", "number"),
    [("GET_HEALTH", 1), ("GET_CONTAINERS", 9), ("WAIT_NESTED_CONTAINER", 13),
     ("WAIT_CONTAINER", 15), ("GET_OPERATIONS", 17)],
)
def test_agent_response_type_numbers(name: str, number: int) -> None:
    assert agent_pb2.Response.Type.Value(name) == number


def label_of(message: type[Message], name: str) -> str:
    # protobuf 7 dropped FieldDescriptor.label in favour of these predicates.
    field = message.DESCRIPTOR.fields_by_name[name]
    if field.is_required:
        return "required"
    return "repeated" if field.is_repeated else "optional"


@pytest.mark.parametrize(
    ("message", "field", "number", "label"),
    [
        (agent_pb2.Call, "type", 1, "optional"),
        (agent_pb2.Call, "launch_nested_container", 6, "optional"),
        (agent_pb2.Call, "launch_container", 13, "optional"),
        (agent_pb2.Call, "wait_container", 14, "optional"),
        (agent_pb2.Call, "kill_container", 15, "optional"),
        (agent_pb2.Call, "remove_container", 16, "optional"),
        (agent_pb2.Call.LaunchContainer, "container_id", 1, "required"),
        (agent_pb2.Call.LaunchContainer, "resources", 3, "repeated"),
        (agent_pb2.Call.LaunchContainer, "container", 4, "optional"),
        (mesos_pb2.ContainerID, "value", 1, "required"),
        (mesos_pb2.ContainerID, "parent", 2, "optional"),
        (containerizer_pb2.ContainerTermination, "status", 3, "optional"),
        (containerizer_pb2.ContainerConfig, "command_info", 11, "required"),
    ],
)
def test_field_numbers_and_labels(
    message: type[Message], field: str, number: int, label: str
) -> None:
    descriptor = message.DESCRIPTOR.fields_by_name[field]
    assert (descriptor.number, label_of(message, field)) == (number, label)


def test_package_names() -> None:
    assert agent_pb2.DESCRIPTOR.package == "mesos.v1.agent"
    assert agent_pb2.Call.DESCRIPTOR.full_name == "mesos.v1.agent.Call"
    assert mesos_pb2.ContainerID.DESCRIPTOR.full_name == "mesos.v1.ContainerID"
    assert containerizer_pb2.DESCRIPTOR.package == "mesos.slave"
    assert containerizer_pb2.ContainerTermination.DESCRIPTOR.full_name == (
        "mesos.slave.ContainerTermination"
    )


def type_of(message: type[Message], field: str) -> str:
    """Full name of the message or enum type of ``message.field``."""
    descriptor = message.DESCRIPTOR.fields_by_name[field]
    target = descriptor.message_type or descriptor.enum_type
    assert target is not None, f"{field} is a scalar field"
    return target.full_name


def test_containerizer_uses_v1_and_sibling_types() -> None:
    termination = containerizer_pb2.ContainerTermination
    assert type_of(termination, "state") == "mesos.v1.TaskState"
    assert type_of(termination, "reason") == "mesos.v1.TaskStatus.Reason"
    assert type_of(containerizer_pb2.ContainerState, "container_id") == "mesos.v1.ContainerID"
    assert type_of(containerizer_pb2.ContainerLaunchInfo, "seccomp_profile") == (
        "mesos.seccomp.ContainerSeccompProfile"
    )
    assert type_of(containerizer_pb2.ContainerConfig.Docker, "manifest") == (
        "docker.spec.v1.ImageManifest"
    )


def test_proto2_defaults() -> None:
    # The first declared TaskState value (TASK_STAGING = 6) is the default.
    assert mesos_pb2.TaskStatus().state == mesos_pb2.TASK_STAGING == 6
    assert mesos_pb2.CommandInfo().shell is True
    assert mesos_pb2.Resource().role == "*"
    assert mesos_pb2.AgentInfo().port == 5051
    assert mesos_pb2.HealthCheck().delay_seconds == 15.0


def test_known_wire_bytes() -> None:
    call = agent_pb2.Call(type=agent_pb2.Call.LAUNCH_CONTAINER)
    call.launch_container.container_id.value = "x"
    # field 1 varint 22; field 13 (tag 0x6a) -> LaunchContainer{1: ContainerID{1: "x"}}
    assert call.SerializeToString() == bytes.fromhex("0816" "6a05" "0a03" "0a0178")
    nested = mesos_pb2.ContainerID(value="a", parent=mesos_pb2.ContainerID(value="b"))
    assert nested.SerializeToString() == b"\x0a\x01a\x12\x03\x0a\x01b"


def make_launch_container_call() -> agent_pb2.Call:
    scalar = mesos_pb2.Value.SCALAR
    launch = agent_pb2.Call.LaunchContainer(
        container_id=mesos_pb2.ContainerID(
            value="child", parent=mesos_pb2.ContainerID(value="parent")
        ),
        command=mesos_pb2.CommandInfo(value="sleep 10", shell=True),
        resources=[
            mesos_pb2.Resource(name="cpus", type=scalar, scalar=mesos_pb2.Value.Scalar(value=0.5)),
            mesos_pb2.Resource(name="mem", type=scalar, scalar=mesos_pb2.Value.Scalar(value=64)),
        ],
        container=mesos_pb2.ContainerInfo(
            type=mesos_pb2.ContainerInfo.MESOS,
            mesos=mesos_pb2.ContainerInfo.MesosInfo(
                image=mesos_pb2.Image(
                    type=mesos_pb2.Image.DOCKER,
                    docker=mesos_pb2.Image.Docker(name="library/alpine"),
                )
            ),
            volumes=[
                mesos_pb2.Volume(
                    mode=mesos_pb2.Volume.RW, container_path="/data", host_path="/srv/data"
                )
            ],
        ),
    )
    launch.limits["cpus"].value = 1.0
    return agent_pb2.Call(type=agent_pb2.Call.LAUNCH_CONTAINER, launch_container=launch)


def test_launch_container_round_trip() -> None:
    call = make_launch_container_call()
    data = call.SerializeToString()
    decoded = agent_pb2.Call.FromString(data)
    assert decoded == call
    assert decoded.IsInitialized()
    assert decoded.type == agent_pb2.Call.LAUNCH_CONTAINER
    launch = decoded.launch_container
    assert launch.container_id.parent.value == "parent"
    assert [(r.name, r.scalar.value) for r in launch.resources] == [("cpus", 0.5), ("mem", 64.0)]
    assert launch.container.mesos.image.docker.name == "library/alpine"
    assert launch.container.volumes[0].container_path == "/data"
    assert launch.limits["cpus"].value == 1.0
    assert decoded.SerializeToString() == data


# ------------------------------------------------- internal messages, executor API
def test_internal_message_names_are_mesos_names() -> None:
    from mesos_py.protos.messages import messages_pb2

    # The libprocess message name is the full protobuf name.
    assert messages_pb2.RegisterSlaveMessage.DESCRIPTOR.full_name == \
        "mesos.internal.RegisterSlaveMessage"
    assert messages_pb2.PingSlaveMessage.DESCRIPTOR.full_name == "mesos.internal.PingSlaveMessage"


@pytest.mark.parametrize(
    ("message", "field", "number", "label"),
    [
        ("RegisterSlaveMessage", "slave", 1, "required"),
        ("RegisterSlaveMessage", "version", 2, "optional"),
        ("RegisterSlaveMessage", "agent_capabilities", 4, "repeated"),
        ("ReregisterSlaveMessage", "slave", 2, "required"),
        ("ReregisterSlaveMessage", "tasks", 3, "repeated"),
        ("ReregisterSlaveMessage", "frameworks", 8, "repeated"),
        ("RunTaskMessage", "framework", 2, "required"),
        ("RunTaskMessage", "task", 4, "required"),
        ("RunTaskMessage", "launch_executor", 6, "optional"),
        ("RunTaskGroupMessage", "task_group", 3, "required"),
        ("StatusUpdate", "uuid", 6, "optional"),
        ("StatusUpdate", "latest_state", 7, "optional"),
        ("StatusUpdateMessage", "pid", 2, "optional"),
        ("StatusUpdateAcknowledgementMessage", "uuid", 4, "required"),
        ("SlaveRegisteredMessage", "connection", 2, "optional"),
        ("SlaveReregisteredMessage", "reconciliations", 2, "repeated"),
        ("ExitedExecutorMessage", "status", 4, "required"),
        ("StatusUpdateRecord", "uuid", 3, "optional"),
    ],
)
def test_internal_message_fields(message: str, field: str, number: int, label: str) -> None:
    from mesos_py.protos.messages import messages_pb2

    cls = getattr(messages_pb2, message)
    assert cls.DESCRIPTOR.fields_by_name[field].number == number
    assert label_of(cls, field) == label


def test_executor_api_numbers() -> None:
    from mesos_py.protos.mesos.v1.executor import executor_pb2

    assert executor_pb2.Event.Type.Value("LAUNCH_GROUP") == 8
    assert executor_pb2.Event.Type.Value("HEARTBEAT") == 9
    assert executor_pb2.Event.DESCRIPTOR.fields_by_name["launch_group"].number == 8
    assert executor_pb2.Call.Type.Value("HEARTBEAT") == 4
    assert executor_pb2.Call.Message.DESCRIPTOR.fields_by_name["data"].number == 2


def test_v1_types_encode_like_v0_ones() -> None:
    """A v0 SlaveID/SlaveInfo on the wire parses as our AgentID/AgentInfo."""
    from mesos_py.protos.messages import messages_pb2

    # SlaveRegisteredMessage{slave_id{value:"S1"}} as the master encodes it.
    wire = b"\x0a\x04\x0a\x02S1"
    parsed = messages_pb2.SlaveRegisteredMessage.FromString(wire)
    assert parsed.slave_id.value == "S1"
