"""linux/capabilities: Mesos's rules for effective/bounding sets, and its flags."""

from __future__ import annotations

from typing import Iterator

import pytest

from mesos_py.actors import Runtime, dispatch
from mesos_py.actors.testing import await_failed, await_ready
from mesos_py.errors import InvalidRequest
from mesos_py.flags import load
from mesos_py.isolators import create_isolators, resolve_isolation
from mesos_py.isolators.base import Isolator
from mesos_py.isolators.capabilities import (CapabilitiesFlagError, LinuxCapabilitiesIsolator,
                                             parse_capabilities)
from mesos_py.isolators.rlimits import PosixRlimitsIsolator
from mesos_py.linux.launch_spec import launch_request_fields
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig, ContainerLaunchInfo
from mesos_py.protos.mesos.v1.mesos_pb2 import CapabilityInfo, ContainerID, ContainerInfo

Cap = CapabilityInfo.Capability
CONTAINER = ContainerID(value="c")


def isolator(effective: str | None = None, bounding: str | None = None
             ) -> LinuxCapabilitiesIsolator:
    argv = ["--isolation=linux/capabilities"]
    if effective is not None:
        argv.append(f"--effective_capabilities={effective}")
    if bounding is not None:
        argv.append(f"--bounding_capabilities={bounding}")
    flags = load(argv, {})
    return LinuxCapabilitiesIsolator(flags, ["linux/capabilities"])


def flag(*names: str) -> str:
    return '{"capabilities": [%s]}' % ", ".join(f'"{name}"' for name in names)


def config(effective: list[str] | None = None, bounding: list[str] | None = None,
           deprecated: list[str] | None = None) -> ContainerConfig:
    result = ContainerConfig(directory="/tmp/sandbox")
    result.command_info.value = "true"
    result.container_info.type = ContainerInfo.MESOS
    linux = result.container_info.linux_info
    for field, names in (("effective_capabilities", effective),
                         ("bounding_capabilities", bounding), ("capability_info", deprecated)):
        if names is not None:
            getattr(linux, field).SetInParent()
            getattr(linux, field).capabilities.extend(Cap.Value(name) for name in names)
    return result


def sets(info: ContainerLaunchInfo | None) -> tuple[list[str] | None, list[str] | None] | None:
    if info is None:
        return None
    def names(field: str) -> list[str] | None:
        if not info.HasField(field):
            return None
        return [Cap.Name(v) for v in getattr(info, field).capabilities]
    return names("effective_capabilities"), names("bounding_capabilities")


def failure(isolator: LinuxCapabilitiesIsolator, config: ContainerConfig) -> str:
    with pytest.raises(InvalidRequest) as raised:
        isolator.prepare(CONTAINER, config)
    return str(raised.value)


# ------------------------------------------------------------- prepare
def test_nothing_asked_nothing_set() -> None:
    assert isolator().prepare(CONTAINER, config()) is None
    assert isolator().prepare(CONTAINER, ContainerConfig(directory="/x")) is None


def test_framework_effective_bounds_itself_without_operator_flags() -> None:
    assert sets(isolator().prepare(CONTAINER, config(effective=["NET_RAW", "CHOWN"]))) == (
        ["CHOWN", "NET_RAW"], ["CHOWN", "NET_RAW"])
    assert sets(isolator().prepare(CONTAINER, config(effective=[]))) == ([], [])


def test_operator_effective_is_the_default() -> None:
    both = flag("CHOWN", "DAC_READ_SEARCH")
    assert sets(isolator(both, both).prepare(CONTAINER, config())) == (
        ["CHOWN", "DAC_READ_SEARCH"], ["CHOWN", "DAC_READ_SEARCH"])
    assert sets(isolator(both).prepare(CONTAINER, config())) == (
        ["CHOWN", "DAC_READ_SEARCH"], ["CHOWN", "DAC_READ_SEARCH"])
    assert sets(isolator(both, both).prepare(CONTAINER, config(effective=["DAC_READ_SEARCH"]))
                ) == (["DAC_READ_SEARCH"], ["CHOWN", "DAC_READ_SEARCH"])


def test_operator_bounding_alone() -> None:
    bounding = flag("NET_RAW", "NET_ADMIN", "DAC_READ_SEARCH")
    assert sets(isolator(bounding=bounding).prepare(CONTAINER, config())) == (
        None, ["DAC_READ_SEARCH", "NET_ADMIN", "NET_RAW"])


def test_framework_bounding_within_the_operators() -> None:
    info = isolator(bounding=flag("NET_RAW", "NET_ADMIN")).prepare(
        CONTAINER, config(effective=["NET_RAW"], bounding=["NET_RAW"]))
    assert sets(info) == (["NET_RAW"], ["NET_RAW"])
    info = isolator().prepare(CONTAINER, config(bounding=["NET_RAW", "NET_ADMIN"]))
    assert sets(info) == (None, ["NET_ADMIN", "NET_RAW"])


def test_deprecated_capability_info_is_the_effective_set() -> None:
    assert sets(isolator().prepare(CONTAINER, config(deprecated=["NET_RAW"]))) == (
        ["NET_RAW"], ["NET_RAW"])
    assert failure(isolator(), config(effective=["NET_RAW"], deprecated=["NET_RAW"])) == (
        "Only one of 'capability_info' or 'effective_capabilities' is allowed")


def test_effective_beyond_bounding_fails_with_mesos_message() -> None:
    assert failure(isolator(), config(effective=["NET_RAW", "NET_ADMIN", "DAC_READ_SEARCH"],
                                      bounding=[])) == (
        "Requested capabilities '{ DAC_READ_SEARCH, NET_ADMIN, NET_RAW }', "
        "but only '{  }' are allowed")
    assert failure(isolator(flag("CHOWN"), flag("CHOWN")),
                   config(effective=["NET_RAW", "NET_ADMIN"])) == (
        "Requested capabilities '{ NET_ADMIN, NET_RAW }', but only '{ CHOWN }' are allowed")
    assert failure(isolator(), config(effective=["NET_RAW", "CHOWN"], bounding=["CHOWN"])) == (
        "Requested capabilities '{ CHOWN, NET_RAW }', but only '{ CHOWN }' are allowed")


def test_bounding_beyond_the_operators_fails_with_mesos_message() -> None:
    assert failure(isolator(bounding=flag("CHOWN")), config(bounding=["CHOWN", "NET_RAW"])) == (
        "Bounding capabilities '{ CHOWN, NET_RAW }', but only '{ CHOWN }' are allowed")


def test_unknown_capability_in_a_request() -> None:
    assert failure(isolator(), config(effective=["UNKNOWN"])) == (
        "Invalid capability 'UNKNOWN' in linux_info.effective_capabilities")
    assert failure(isolator(), config(bounding=["NET_RAW", "UNKNOWN"])) == (
        "Invalid capability 'UNKNOWN' in linux_info.bounding_capabilities")


def test_a_command_task_with_an_image_passes_the_sets_to_its_executor() -> None:
    with_image = config(effective=["NET_RAW"])
    with_image.task_info.name = "task"
    with_image.task_info.task_id.value = "t"
    with_image.task_info.agent_id.value = "a"
    with_image.rootfs = "/rootfs"
    info = isolator().prepare(CONTAINER, with_image)
    assert info is not None and sets(info) == (None, None)
    assert list(info.command.arguments) == ['--bounding_capabilities={"capabilities":["NET_RAW"]}',
                                            '--effective_capabilities={"capabilities":["NET_RAW"]}']


def test_prepare_output_converts_for_the_fork_server() -> None:
    info = isolator(bounding=flag("NET_RAW", "CHOWN")).prepare(CONTAINER,
                                                               config(effective=["NET_RAW"]))
    assert info is not None
    assert launch_request_fields(info) == {"rlimits": [], "capabilities": {
        "effective": [13], "bounding": [0, 13]}}


# --------------------------------------------------------------- flags
@pytest.mark.parametrize("text, reason", [
    ("{", "Invalid JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
          "(char 1)); expecting e.g. {\"capabilities\": [\"NET_RAW\", \"MKNOD\"]}"),
    ('["NET_RAW"]', 'Expecting a JSON object, e.g. {"capabilities": ["NET_RAW", "MKNOD"]}'),
    ('{"capabilities": ["NET_RAW", "FOO"]}', "Unknown capability 'FOO'"),
    ('{"capabilities": ["CAP_NET_RAW"]}', "Unknown capability 'CAP_NET_RAW' (did you mean 'NET_RAW'?)"),
    ('{"capabilities": ["net_raw"]}', "Unknown capability 'net_raw' (did you mean 'NET_RAW'?)"),
    ('{"capabilities": ["UNKNOWN"]}', "Unknown capability 'UNKNOWN'"),
    ('{"capabilities": [13]}', "Expecting capability names as strings, got 13"),
])
@pytest.mark.parametrize("name", ["effective_capabilities", "bounding_capabilities"])
def test_bad_flags_name_the_flag(name: str, text: str, reason: str) -> None:
    with pytest.raises(CapabilitiesFlagError) as raised:
        isolator(**{name.split("_")[0]: text})  # type: ignore[arg-type]
    assert raised.value.flag == name
    assert str(raised.value) == f"Failed to load flag '{name}': {reason}"
    assert isinstance(raised.value, ValueError)


def test_flag_syntax_mesos_accepts() -> None:
    assert parse_capabilities('{"capabilities": ["NET_RAW", "MKNOD", "NET_RAW"]}') == {13, 27}
    assert parse_capabilities("{}") == frozenset()
    assert parse_capabilities('{"capabilities": []}') == frozenset()
    assert parse_capabilities('{"capabilities": "SYSLOG"}') == {34}


def test_flag_from_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "caps.json"
    path.write_text(flag("NET_RAW"))
    assert sets(isolator(f"file://{path}").prepare(CONTAINER, config())) == (
        ["NET_RAW"], ["NET_RAW"])


def test_operator_effective_must_lie_within_operator_bounding() -> None:
    with pytest.raises(CapabilitiesFlagError) as raised:
        isolator(flag("NET_RAW", "CHOWN"), flag("CHOWN"))
    assert str(raised.value) == (
        "Failed to load flag 'effective_capabilities': Allowed capabilities "
        "{ CHOWN, NET_RAW } are not a subset of the bounding capabilities { CHOWN } "
        "(--bounding_capabilities)")


# ------------------------------------------------------------ as actors
@pytest.fixture
def runtime() -> Iterator[Runtime]:
    runtime = Runtime()
    yield runtime
    runtime.stop()


def test_created_in_mesos_order_and_prepared_through_dispatch(runtime: Runtime) -> None:
    names = resolve_isolation("linux/capabilities,posix/rlimits,posix/cpu")
    assert names.index("posix/cpu") < names.index("posix/rlimits") < names.index(
        "linux/capabilities")
    flags = load(["--isolation=" + ",".join(names),
                  "--bounding_capabilities=" + flag("NET_RAW", "CHOWN")], {})
    handles = create_isolators(runtime, names, flags)
    by_class = {handle.cls: handle for handle in handles}
    request = config(effective=["NET_RAW"])
    request.container_info.rlimit_info.rlimits.add(type=1, soft=1, hard=2)
    capabilities = await_ready(dispatch(by_class[LinuxCapabilitiesIsolator].pid,
                                        Isolator.prepare, CONTAINER, request))
    assert sets(capabilities) == (["NET_RAW"], ["CHOWN", "NET_RAW"])
    rlimits = await_ready(dispatch(by_class[PosixRlimitsIsolator].pid, Isolator.prepare,
                                   CONTAINER, request))
    assert rlimits is not None and len(rlimits.rlimits.rlimits) == 1
    assert await_failed(dispatch(by_class[LinuxCapabilitiesIsolator].pid, Isolator.prepare,
                                 CONTAINER, config(effective=["SYSLOG"]))) == (
        "Requested capabilities '{ SYSLOG }', but only '{ CHOWN, NET_RAW }' are allowed")
