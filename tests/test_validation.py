"""Tests for mesos_py.validation: one test per rule, with Mesos 1.11's exact message.

Every message here was checked against a real Mesos 1.11 agent's operator API
(`POST /slave(1)/api/v1`, which answers 400 "Failed to validate agent::Call: "
followed by the message), except where a test says otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from mesos_py import validation as V
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.protos.mesos.v1.agent import agent_pb2
from mesos_py.validation import validate_call

CMD = {"value": "true", "shell": True}


def call(body: dict[str, Any]) -> agent_pb2.Call:
    return json_format.ParseDict(body, agent_pb2.Call())


def error(body: dict[str, Any]) -> str | None:
    return validate_call(call(body))


def cid(value: str, parent: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"value": value}
    if parent is not None:
        result["parent"] = parent
    return result


def launch(container_id: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "LAUNCH_CONTAINER",
            "launch_container": dict({"container_id": container_id}, **fields)}


def wait(container_id: dict[str, Any]) -> dict[str, Any]:
    return {"type": "WAIT_CONTAINER", "wait_container": {"container_id": container_id}}


def sc(name: str, value: float, **fields: Any) -> dict[str, Any]:
    return dict({"name": name, "type": "SCALAR", "scalar": {"value": value}}, **fields)


def launch_error(*resources: dict[str, Any], **fields: Any) -> str | None:
    return error(launch(cid("c1"), command=CMD, resources=list(resources), **fields))


def with_env(*variables: dict[str, Any]) -> dict[str, Any]:
    return {"value": "true", "environment": {"variables": list(variables)}}


def with_volume(volume: dict[str, Any]) -> dict[str, Any]:
    return {"type": "MESOS", "volumes": [dict({"mode": "RW", "container_path": "/x"}, **volume)]}


INVALID_PREFIX = "'wait_container.container_id' is invalid: "


# ========================================================== accepted calls
@pytest.mark.parametrize("body", [
    {"type": "GET_HEALTH"}, {"type": "GET_FLAGS"}, {"type": "GET_VERSION"},
    {"type": "GET_CONTAINERS"}, {"type": "UNKNOWN"}, {"type": "GET_STATE"},
    {"type": "PRUNE_IMAGES"},
    wait(cid("y" * 242)),
    {"type": "KILL_CONTAINER", "kill_container": {"container_id": cid("a", cid("b"))}},
    {"type": "REMOVE_CONTAINER", "remove_container": {"container_id": cid("a")}},
    {"type": "WAIT_NESTED_CONTAINER", "wait_nested_container": {"container_id": cid("a", cid("p"))}},
    {"type": "KILL_NESTED_CONTAINER", "kill_nested_container": {"container_id": cid("a", cid("p"))}},
    {"type": "REMOVE_NESTED_CONTAINER",
     "remove_nested_container": {"container_id": cid("a", cid("p"))}},
    {"type": "LAUNCH_NESTED_CONTAINER",
     "launch_nested_container": {"container_id": cid("a", cid("p")), "command": CMD}},
    launch(cid("c1"), command=CMD, resources=[sc("cpus", 0.1), sc("mem", 32)]),
    launch(cid("c1", cid("p")), command=CMD, resources=[sc("cpus", 1, reservations=[
        {"type": "STATIC", "role": "foo"}])]),
    launch(cid("c1", cid("p")), container={"type": "MESOS", "linux_info": {"share_cgroups": False}}),
    launch(cid("c1", cid("p", cid("q"))), command=CMD),
    launch(cid("c1"), command=CMD, container={"type": "MESOS",
                                              "linux_info": {"share_cgroups": False}}),
])
def test_valid_calls_pass(body: dict[str, Any]) -> None:
    assert error(body) is None


# ================================================================= presence
def test_type_must_be_present() -> None:
    assert error({}) == "Expecting 'type' to be present"


@pytest.mark.parametrize("kind, field", [
    ("GET_METRICS", "get_metrics"), ("SET_LOGGING_LEVEL", "set_logging_level"),
    ("LIST_FILES", "list_files"), ("READ_FILE", "read_file"),
    ("LAUNCH_NESTED_CONTAINER", "launch_nested_container"),
    ("WAIT_NESTED_CONTAINER", "wait_nested_container"),
    ("KILL_NESTED_CONTAINER", "kill_nested_container"),
    ("REMOVE_NESTED_CONTAINER", "remove_nested_container"),
    ("LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session"),
    ("ATTACH_CONTAINER_INPUT", "attach_container_input"),
    ("ATTACH_CONTAINER_OUTPUT", "attach_container_output"),
    ("LAUNCH_CONTAINER", "launch_container"), ("WAIT_CONTAINER", "wait_container"),
    ("KILL_CONTAINER", "kill_container"), ("REMOVE_CONTAINER", "remove_container"),
    ("ADD_RESOURCE_PROVIDER_CONFIG", "add_resource_provider_config"),
    ("UPDATE_RESOURCE_PROVIDER_CONFIG", "update_resource_provider_config"),
    ("REMOVE_RESOURCE_PROVIDER_CONFIG", "remove_resource_provider_config"),
    ("MARK_RESOURCE_PROVIDER_GONE", "mark_resource_provider_gone"),
])
def test_call_field_must_be_present(kind: str, field: str) -> None:
    assert error({"type": kind}) == f"Expecting '{field}' to be present"


def test_not_initialized_lists_missing_required_fields_like_cpp() -> None:
    # Unreachable over HTTP (decoding already refuses such bodies); checked
    # against protobuf C++'s FindInitializationErrors order, not live.
    message = agent_pb2.Call(type=agent_pb2.Call.LAUNCH_CONTAINER)
    message.launch_container.SetInParent()
    message.launch_container.resources.add(name="x")
    message.launch_container.container.SetInParent()
    assert validate_call(message) == (
        "Not initialized: launch_container.container_id, launch_container.resources[0].type, "
        "launch_container.container.type")


def test_initialization_errors_empty_for_complete_messages() -> None:
    assert V.initialization_errors(call(wait(cid("a")))) == []


# ========================================================== container IDs
@pytest.mark.parametrize("value, message", [
    ("", "ID must not be empty"),
    ("x" * 256, "ID must not be greater than 255 characters"),
    (".", "'.' is disallowed"),
    ("..", "'..' is disallowed"),
    ("a/b", "'a/b' contains invalid characters"),
    ("a\\b", "'a\\b' contains invalid characters"),
    ("a\tb", "'a\tb' contains invalid characters"),
    ("a\x7fb", "'a\x7fb' contains invalid characters"),
])
def test_common_id_rules(value: str, message: str) -> None:
    assert V.validate_id(value) == message
    assert error(wait(cid(value))) == INVALID_PREFIX + message


def test_container_id_length_limit() -> None:
    value = "x" * 243
    assert error(wait(cid(value))) == (
        INVALID_PREFIX + f"'ContainerID.value' '{value}' exceeds the maximum length (242)")


def test_container_id_length_counts_bytes() -> None:
    value = "é" * 122  # 244 bytes
    assert V.validate_container_id(mesos_pb2.ContainerID(value=value)) == (
        f"'ContainerID.value' '{value}' exceeds the maximum length (242)")


@pytest.mark.parametrize("value", ["a.b", "a b"])
def test_container_id_rejects_dot_and_space(value: str) -> None:
    assert error(wait(cid(value))) == (
        INVALID_PREFIX + f"'ContainerID.value' '{value}' contains invalid characters")


def test_container_id_parents_are_validated_recursively() -> None:
    assert error(wait(cid("ok", cid("a b")))) == (
        INVALID_PREFIX + "'ContainerID.parent' is invalid: "
        "'ContainerID.value' 'a b' contains invalid characters")
    assert error(wait(cid("ok", cid("ok2", cid(""))))) == (
        INVALID_PREFIX + "'ContainerID.parent' is invalid: 'ContainerID.parent' is invalid: "
        "ID must not be empty")


@pytest.mark.parametrize("kind, field", [
    ("KILL_CONTAINER", "kill_container"), ("REMOVE_CONTAINER", "remove_container"),
    ("ATTACH_CONTAINER_OUTPUT", "attach_container_output"),
    ("LAUNCH_CONTAINER", "launch_container"),
])
def test_container_id_errors_name_the_call_field(kind: str, field: str) -> None:
    assert error({"type": kind, field: {"container_id": cid("a.b")}}) == (
        f"'{field}.container_id' is invalid: 'ContainerID.value' 'a.b' contains invalid characters")


# ========================================================= nested calls
@pytest.mark.parametrize("kind, field", [
    ("WAIT_NESTED_CONTAINER", "wait_nested_container"),
    ("KILL_NESTED_CONTAINER", "kill_nested_container"),
    ("REMOVE_NESTED_CONTAINER", "remove_nested_container"),
    ("LAUNCH_NESTED_CONTAINER", "launch_nested_container"),
    ("LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session"),
])
def test_nested_calls_need_a_parent(kind: str, field: str) -> None:
    assert error({"type": kind, field: {"container_id": cid("a")}}) == (
        f"Expecting '{field}.container_id.parent' to be present")


@pytest.mark.parametrize("kind, field", [
    ("WAIT_NESTED_CONTAINER", "wait_nested_container"),
    ("KILL_NESTED_CONTAINER", "kill_nested_container"),
    ("REMOVE_NESTED_CONTAINER", "remove_nested_container"),
    ("LAUNCH_NESTED_CONTAINER", "launch_nested_container"),
    ("LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session"),
])
def test_nested_calls_validate_the_id_before_the_parent_rule(kind: str, field: str) -> None:
    assert error({"type": kind, field: {"container_id": cid("")}}) == (
        f"'{field}.container_id' is invalid: ID must not be empty")


def test_launch_nested_container_validates_the_command() -> None:
    assert error({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
        "container_id": cid("a", cid("p")), "command": with_env({"name": "FOO"})}}) == (
        "'launch_nested_container.command' is invalid: "
        "Environment variable 'FOO' of type 'VALUE' must have a value set")


def test_launch_nested_container_validates_the_container() -> None:
    assert error({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
        "container_id": cid("a", cid("p")),
        "container": with_volume({"source": {"type": "SECRET"}})}}) == (
        "'launch_nested_container.container' is invalid: "
        "Invalid volume: 'source.secret' is not set for SECRET volume")


def test_launch_nested_container_twice_nested_may_not_unshare_cgroups() -> None:
    body = {"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
        "container_id": cid("a", cid("p", cid("q"))),
        "container": {"type": "MESOS", "linux_info": {"share_cgroups": False}}}}
    assert error(body) == (
        "'launch_nested_container' is invalid: containers nested at the second level or "
        "greater cannot set 'share_cgroups' to 'false'")
    body["launch_nested_container"]["container_id"] = cid("a", cid("p"))
    assert error(body) is None


def test_session_may_not_unshare_cgroups() -> None:
    assert error({"type": "LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session": {
        "container_id": cid("a", cid("p")),
        "container": {"type": "MESOS", "linux_info": {"share_cgroups": False}}}}) == (
        "'launch_nested_container_session.container.linux_info' is invalid: 'share_cgroups' "
        "cannot be set to 'false' for nested container sessions")


def test_session_validates_command_and_container() -> None:
    base = {"container_id": cid("a", cid("p"))}
    assert error({"type": "LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session":
                  dict(base, command=with_env({"name": "E", "type": "UNKNOWN", "value": "v"}))}) == (
        "'launch_nested_container_session.command' is invalid: "
        "Environment variable of type 'UNKNOWN' is not allowed")
    assert error({"type": "LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session":
                  dict(base, container={"type": "MESOS", "volumes": [
                      {"mode": "RO", "container_path": "x"}]})}) == (
        "'launch_nested_container_session.container' is invalid: Invalid volume: "
        "Only one of them should be set: 'host_path', 'image' and 'source'")


# ===================================================== attach / providers
def test_attach_container_input_type_rules() -> None:
    assert error({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {}}) == (
        "Expecting 'attach_container_input.type' to be present")
    assert error({"type": "ATTACH_CONTAINER_INPUT",
                  "attach_container_input": {"type": "UNKNOWN"}}) == (
        "'attach_container_input.type' is unknown")
    assert error({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": {
        "type": "CONTAINER_ID", "container_id": cid("a b")}}) == (
        "'attach_container_input.container_id' is invalid: "
        "'ContainerID.value' 'a b' contains invalid characters")
    assert error({"type": "ATTACH_CONTAINER_INPUT",
                  "attach_container_input": {"type": "PROCESS_IO"}}) is None


@pytest.mark.parametrize("kind, field", [
    ("ADD_RESOURCE_PROVIDER_CONFIG", "add_resource_provider_config"),
    ("UPDATE_RESOURCE_PROVIDER_CONFIG", "update_resource_provider_config"),
])
def test_resource_provider_config_may_not_carry_an_id(kind: str, field: str) -> None:
    info: dict[str, Any] = {"type": "t", "name": "n"}
    assert error({"type": kind, field: {"info": info}}) is None
    info["id"] = {"value": "x"}
    assert error({"type": kind, field: {"info": info}}) == (
        f"Expecting '{field}.info.id' to be unset")


# ======================================================= launch resources
@pytest.mark.parametrize("resource, message", [
    (sc("cpus", -1), "Resource 'cpus:-1' is invalid: Invalid scalar resource: value <= 0"),
    (sc("cpus", 0.0001), "Resource 'cpus:0' is invalid: Invalid scalar resource: value <= 0"),
    (sc("cpus", 1e16), "Resource 'cpus:-9.22337203685478e+15' is invalid: "
                       "Invalid scalar resource: value <= 0"),
    ({"name": "cpus", "type": "SCALAR"}, "Resource 'cpus:0' is invalid: Invalid scalar resource"),
    ({"name": "cpus", "type": "SCALAR", "ranges": {"range": [{"begin": 1, "end": 2}]}},
     "Resource 'cpus:0' is invalid: Invalid scalar resource"),
    ({"name": "ports", "type": "RANGES", "scalar": {"value": 1}},
     "Resource 'ports:[]' is invalid: Invalid ranges resource"),
    ({"name": "s", "type": "SET", "scalar": {"value": 1}},
     "Resource 's:{}' is invalid: Invalid set resource"),
    ({"name": "ports", "type": "RANGES",
      "ranges": {"range": [{"begin": 1, "end": 10}, {"begin": 5, "end": 20}]}},
     "Resource 'ports:[1-10, 5-20]' is invalid: Invalid ranges resource: overlapping ranges"),
    ({"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 10, "end": 1}]}},
     "Resource 'ports:[10-1]' is invalid: Invalid ranges resource: begin > end"),
    ({"name": "s", "type": "SET", "set": {"item": ["a", "b", "a"]}},
     "Resource 's:{a, b, a}' is invalid: Invalid set resource: duplicated elements"),
    (sc("", 1), "Resource ':1' is invalid: Empty resource name"),
    (sc("cpus", 1, role="/x"), "Resource 'cpus:1' is invalid: Role '/x' cannot start with a slash"),
    (sc("cpus", 1, reservation={"principal": "p"}),
     "Resource 'cpus:1' is invalid: Invalid reservation: role \"*\" cannot be dynamically reserved"),
    (sc("cpus", 1, reservations=[{"role": "foo"}]),
     "Resource 'cpus(reservations: [(UNKNOWN,foo)]):1' is invalid: "
     "Invalid reservation: 'Resource.ReservationInfo.type' field must be set."),
    (sc("cpus", 1, reservations=[{"type": "STATIC", "role": "a"}, {"type": "DYNAMIC", "role": "b"}]),
     "Resource 'cpus(reservations: [(STATIC,a),(DYNAMIC,b)]):1' is invalid: "
     "Invalid refined reservation: role 'b' is not a refinement of 'a'"),
    (sc("cpus", 1, disk={}),
     "Resource 'cpus[]:1' is invalid: DiskInfo should not be set for cpus resource"),
    (sc("cpus", 1, shared={}), "Resource 'cpus<SHARED>:1' is invalid: Resource cpus cannot be shared"),
    (sc("disk", 1, disk={"source": {"type": "UNKNOWN"}}),
     "Resource 'disk[UNKNOWN]:1' is invalid: Unsupported 'DiskInfo.Source.Type' in 'UNKNOWN'"),
])
def test_launch_container_resources_are_validated(resource: dict[str, Any], message: str) -> None:
    assert launch_error(resource) == "Invalid resources: " + message


def test_launch_container_reports_the_first_invalid_resource() -> None:
    assert launch_error(sc("cpus", 1), sc("mem", 1.5), sc("cpus", -2)) == (
        "Invalid resources: Resource 'cpus:-2' is invalid: Invalid scalar resource: value <= 0")


def test_launch_container_gpus_must_be_whole() -> None:
    assert launch_error(sc("gpus", 0.5)) == (
        "Invalid GPU resources: The 'gpus' resource must be an unsigned integer")
    # Summed over every `gpus` entry, reserved ones included.
    assert launch_error(sc("gpus", 0.5), sc("gpus", 0.25, reservations=[
        {"type": "STATIC", "role": "x"}])) == (
        "Invalid GPU resources: The 'gpus' resource must be an unsigned integer")
    assert V.validate_gpus(R_list(sc("gpus", 0.5), sc("gpus", 0.5))) is None


def R_list(*resources: dict[str, Any]) -> list[mesos_pb2.Resource]:
    return [json_format.ParseDict(r, mesos_pb2.Resource()) for r in resources]


def test_standalone_resources_must_be_unreserved() -> None:
    message = "'launch_container.resources' must be unreserved"
    assert launch_error(sc("cpus", 1, reservations=[{"type": "STATIC", "role": "foo"}])) == message
    assert launch_error(sc("cpus", 1, reservations=[
        {"type": "DYNAMIC", "role": "foo", "principal": "p"}])) == message


def test_standalone_resources_with_a_legacy_role_are_reserved() -> None:
    # NOTE: the Mesos 1.11 agent aborts on this request (a CHECK in the GPU
    # validation trips over the legacy `role` field); we answer as the
    # standalone rule intends instead.
    assert launch_error(sc("cpus", 1, role="foo")) == (
        "'launch_container.resources' must be unreserved")


def test_standalone_resources_may_not_be_persistent_volumes() -> None:
    assert launch_error(sc("disk", 1, disk={
        "persistence": {"id": "p1"}, "volume": {"mode": "RW", "container_path": "x"}})) == (
        "'launch_container.resources' may not use persistent volumes")


def test_standalone_resources_must_be_non_revocable() -> None:
    assert launch_error(sc("cpus", 1, revocable={})) == (
        "'launch_container.resources' must be non-revocable")


def test_standalone_rules_do_not_apply_to_nested_launches() -> None:
    assert error(launch(cid("c", cid("p")), command=CMD, resources=[sc("cpus", 1, revocable={})])) is None


# ======================================================== launch command
@pytest.mark.parametrize("variable, message", [
    ({"name": "FOO"}, "Environment variable 'FOO' of type 'VALUE' must have a value set"),
    ({"name": "FOO", "value": "x", "secret": {"type": "VALUE", "value": {"data": "eA=="}}},
     "Environment variable 'FOO' of type 'VALUE' must not have a secret set"),
    ({"name": "FOO", "type": "SECRET"},
     "Environment variable 'FOO' of type 'SECRET' must have a secret set"),
    ({"name": "FOO", "type": "SECRET", "value": "x",
      "secret": {"type": "VALUE", "value": {"data": "eA=="}}},
     "Environment variable 'FOO' of type 'SECRET' must not have a value set"),
    ({"name": "FOO", "type": "SECRET", "secret": {"type": "REFERENCE"}},
     "Environment variable 'FOO' specifies an invalid secret: "
     "Secret of type REFERENCE must have the 'reference' field set"),
    ({"name": "S", "type": "SECRET",
      "secret": {"type": "REFERENCE", "reference": {"name": "rn"}, "value": {"data": "eA=="}}},
     "Environment variable 'S' specifies an invalid secret: "
     "Secret 'rn' of type REFERENCE must not have the 'value' field set"),
    ({"name": "S", "type": "SECRET", "secret": {"type": "VALUE"}},
     "Environment variable 'S' specifies an invalid secret: "
     "Secret of type VALUE must have the 'value' field set"),
    ({"name": "S", "type": "SECRET",
      "secret": {"type": "VALUE", "reference": {"name": "rn"}, "value": {"data": "eA=="}}},
     "Environment variable 'S' specifies an invalid secret: "
     "Secret of type VALUE must not have the 'reference' field set"),
    ({"name": "FOO", "type": "SECRET", "secret": {"type": "VALUE", "value": {"data": "YQBi"}}},
     "Environment variable 'FOO' specifies a secret containing null bytes, which is not "
     "allowed in the environment"),
    ({"name": "FOO", "type": "UNKNOWN", "value": "x"},
     "Environment variable of type 'UNKNOWN' is not allowed"),
])
def test_launch_container_environment_rules(variable: dict[str, Any], message: str) -> None:
    assert error(launch(cid("c1"), command=with_env(variable))) == (
        "'launch_container.command' is invalid: " + message)


def test_environment_secret_of_unknown_type_passes() -> None:
    environment = json_format.ParseDict(
        {"variables": [{"name": "S", "type": "SECRET", "secret": {}}]}, mesos_pb2.Environment())
    assert V.validate_environment(environment) is None


def test_command_errors_come_after_resource_errors() -> None:
    assert error(launch(cid("c1"), command=with_env({"name": "A"}),
                        resources=[sc("cpus", 1, revocable={})])) == (
        "'launch_container.resources' must be non-revocable")


# ====================================================== launch container
@pytest.mark.parametrize("volume, message", [
    ({}, "Only one of them should be set: 'host_path', 'image' and 'source'"),
    ({"host_path": "/tmp", "source": {"type": "SANDBOX_PATH"}},
     "Only one of them should be set: 'host_path', 'image' and 'source'"),
    ({"source": {}}, "'source.type' is unknown"),
    ({"source": {"type": "DOCKER_VOLUME"}},
     "'source.docker_volume' is not set for DOCKER_VOLUME volume"),
    ({"source": {"type": "HOST_PATH"}}, "'source.host_path' is not set for HOST_PATH volume"),
    ({"source": {"type": "SANDBOX_PATH"}},
     "'source.sandbox_path' is not set for SANDBOX_PATH volume"),
    ({"source": {"type": "SECRET"}}, "'source.secret' is not set for SECRET volume"),
    ({"source": {"type": "CSI_VOLUME"}}, "'source.csi_volume' is not set for CSI volume"),
    ({"source": {"type": "CSI_VOLUME", "csi_volume": {"plugin_name": "p"}}},
     "'source.csi_volume.static_provisioning' is not set for CSI volume"),
])
def test_launch_container_volume_rules(volume: dict[str, Any], message: str) -> None:
    assert error(launch(cid("c1"), command=CMD, container=with_volume(volume))) == (
        "'launch_container.container' is invalid: Invalid volume: " + message)


def test_valid_volumes_pass() -> None:
    for volume in ({"host_path": "/tmp"},
                   {"source": {"type": "SANDBOX_PATH", "sandbox_path": {"path": "p"}}},
                   {"image": {"type": "DOCKER", "docker": {"name": "busybox"}}}):
        assert V.validate_volume(json_format.ParseDict(
            dict({"mode": "RW", "container_path": "/x"}, **volume), mesos_pb2.Volume())) is None


def test_docker_container_needs_docker_info() -> None:
    assert error(launch(cid("c1"), command=CMD, container={"type": "DOCKER"})) == (
        "'launch_container.container' is invalid: "
        "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo")


def test_docker_parameters_may_not_name_the_container() -> None:
    assert error(launch(cid("c1"), command=CMD, container={
        "type": "DOCKER", "docker": {"image": "x", "parameters": [{"key": "name", "value": "y"}]}})) == (
        "'launch_container.container' is invalid: Parameter in DockerInfo must not be 'name'")


def test_top_level_may_not_set_share_cgroups_true() -> None:
    assert error(launch(cid("c1"), command=CMD,
                        container={"type": "MESOS", "linux_info": {"share_cgroups": True}})) == (
        "'launch_container' is invalid: containers without a parent cannot set "
        "'share_cgroups' to 'true'")


TWICE = cid("a", cid("p", cid("q")))


def test_twice_nested_may_not_specify_resources() -> None:
    assert error(launch(TWICE, command=CMD, resources=[sc("cpus", 1)],
                        limits={"cpus": {"value": 1}})) == (
        "'launch_container' is invalid: containers nested at the second level or greater "
        "cannot specify resources")


def test_twice_nested_may_not_specify_limits() -> None:
    assert error(launch(TWICE, command=CMD, limits={"cpus": {"value": 1}})) == (
        "'launch_container' is invalid: containers nested at the second level or greater "
        "cannot specify resource limits")


def test_twice_nested_may_not_unshare_cgroups() -> None:
    assert error(launch(TWICE, command=CMD,
                        container={"type": "MESOS", "linux_info": {"share_cgroups": False}})) == (
        "'launch_container' is invalid: containers nested at the second level or greater "
        "cannot set 'share_cgroups' to 'false'")


def test_limits_values_are_not_validated_by_the_agent_api() -> None:
    # From the 1.11 source (only the twice-nested rule looks at limits); not sent live.
    assert error(launch(cid("c1"), command=CMD, limits={"cpus": {"value": -5}})) is None


def test_initialization_errors_index_map_entries_like_cpp() -> None:
    volume = mesos_pb2.Volume()
    volume.source.csi_volume.static_provisioning.node_stage_secrets["k"].reference.SetInParent()
    assert V.initialization_errors(volume) == [
        "mode", "container_path", "source.csi_volume.plugin_name",
        "source.csi_volume.static_provisioning.volume_id",
        "source.csi_volume.static_provisioning.volume_capability",
        "source.csi_volume.static_provisioning.node_stage_secrets[0].value.reference.name"]
