"""Mesos's JSON mapping (stout's), not proto3's canonical JSON."""

import base64

import pytest

from mesos_py.http import codec
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.agent import agent_pb2


def test_int64_is_a_json_number_and_enums_are_names() -> None:
    statistics = mesos_pb2.ResourceStatistics(timestamp=1.5, mem_rss_bytes=2**40)
    assert codec.message_to_json(statistics) == {"timestamp": 1.5, "mem_rss_bytes": 2**40}
    resource = mesos_pb2.Resource(name="cpus", type=mesos_pb2.Value.SCALAR)
    assert codec.message_to_json(resource)["type"] == "SCALAR"


def test_explicit_defaults_appear_like_in_mesos() -> None:
    # CommandInfo.shell has [default = true]: stout prints it even when unset.
    assert codec.message_to_json(mesos_pb2.CommandInfo(value="ls")) == {"shell": True, "value": "ls"}


def test_fields_come_in_declaration_order() -> None:
    call = agent_pb2.Call(type=agent_pb2.Call.GET_HEALTH)
    assert list(codec.message_to_json(call)) == ["type"]
    status = mesos_pb2.ContainerStatus(executor_pid=3)
    status.container_id.value = "c"
    assert list(codec.message_to_json(status)) == ["container_id", "executor_pid"]


def test_bytes_are_base64_both_ways() -> None:
    data = agent_pb2.Response.ReadFile(size=3, data=b"\x00\xffa")
    assert codec.message_to_json(data)["data"] == base64.b64encode(b"\x00\xffa").decode()
    parsed = codec.json_to_message({"size": 3, "data": "AP9h"}, agent_pb2.Response.ReadFile)
    assert parsed.data == b"\x00\xffa"


def test_maps_are_objects() -> None:
    launch = agent_pb2.Call.LaunchContainer()
    launch.container_id.value = "c"
    launch.limits["mem"].value = 128
    assert codec.message_to_json(launch)["limits"] == {"mem": {"value": 128.0}}
    parsed = codec.json_to_message({"container_id": {"value": "c"},
                                    "limits": {"cpus": {"value": "Infinity"}}},
                                   agent_pb2.Call.LaunchContainer)
    assert parsed.limits["cpus"].value == float("inf")


def test_input_is_lenient_like_stout() -> None:
    parsed = codec.json_to_message(
        {"value": "c", "unknown": [1, 2], "parent": None}, mesos_pb2.ContainerID)
    assert parsed.value == "c" and not parsed.HasField("parent")
    kill = codec.json_to_message({"container_id": {"value": "c"}, "signal": "15"},
                                 agent_pb2.Call.KillContainer)
    assert kill.signal == 15
    command = codec.json_to_message({"shell": "false", "value": "x"}, mesos_pb2.CommandInfo)
    assert command.shell is False


def test_unknown_enum_is_dropped_unless_required() -> None:
    call = codec.json_to_message({"type": "NOT_A_CALL"}, agent_pb2.Call)
    assert not call.HasField("type")
    with pytest.raises(codec.DecodeFailure, match="Failed to find enum for 'NOPE'"):
        codec.json_to_message({"name": "cpus", "type": "NOPE"}, mesos_pb2.Resource)


@pytest.mark.parametrize("value,message", [
    ({"value": 5}, "Not expecting a JSON number for field 'value'"),
    ({"value": ["a"]}, "Not expecting a JSON array for field 'value'"),
    ({"value": {"x": 1}}, "Not expecting a JSON object for field 'value'"),
    ({}, "Missing required fields: value"),
])
def test_type_errors_have_stout_messages(value, message) -> None:
    with pytest.raises(codec.DecodeFailure, match=message):
        codec.json_to_message(value, mesos_pb2.ContainerID)


def test_integer_range_is_checked() -> None:
    with pytest.raises(codec.DecodeFailure, match="out of range"):
        codec.json_to_message({"container_id": {"value": "c"}, "signal": 2**40},
                              agent_pb2.Call.KillContainer)


def test_protobuf_bodies_must_parse_and_be_initialized() -> None:
    with pytest.raises(codec.DecodeFailure):
        codec.parse_protobuf(b"\xff\xff", agent_pb2.Call)
    incomplete = agent_pb2.Call.WaitContainer().SerializePartialToString()
    with pytest.raises(codec.DecodeFailure):
        codec.parse_protobuf(incomplete, agent_pb2.Call.WaitContainer)


@pytest.mark.parametrize("header,json_ok,protobuf_ok", [
    (None, True, True),
    ("*/*", True, True),
    ("application/*", True, True),
    ("application/x-protobuf", False, True),
    ("application/json;q=0, application/x-protobuf", False, True),
    ("text/html", False, False),
])
def test_accept_negotiation(header, json_ok, protobuf_ok) -> None:
    assert codec.accepts(header, codec.APPLICATION_JSON) is json_ok
    assert codec.accepts(header, codec.APPLICATION_PROTOBUF) is protobuf_ok


def test_round_trip_of_a_launch_call() -> None:
    call = agent_pb2.Call(type=agent_pb2.Call.LAUNCH_CONTAINER)
    call.launch_container.container_id.value = "c"
    call.launch_container.command.value = "sleep 1"
    resource = call.launch_container.resources.add(name="mem", type=mesos_pb2.Value.SCALAR)
    resource.scalar.value = 64
    parsed = codec.loads(codec.dumps(call), agent_pb2.Call)
    assert parsed.launch_container.command.HasField("shell")  # the printed default comes back
    call.launch_container.command.shell = True
    assert parsed == call
