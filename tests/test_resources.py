"""Tests for mesos_py.resources: parsing, validation, arithmetic and defaults.

Expected messages and printed forms were checked against a real Mesos 1.11
agent (its `--resources` startup errors and its operator API messages).
"""

from __future__ import annotations

import json
import os

import pytest

from mesos_py import resources as R
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.resources import ResourcesError

Value = mesos_pb2.Value
ReservationInfo = mesos_pb2.Resource.ReservationInfo
MB = 1024 * 1024
GB = 1024 * MB


def scalar(name: str, value: float, role: str | None = None) -> mesos_pb2.Resource:
    resource = mesos_pb2.Resource(name=name, type=Value.SCALAR)
    resource.scalar.value = value
    if role is not None:
        resource.reservations.add(type=ReservationInfo.STATIC, role=role)
    return resource


def ranges(name: str, *pairs: tuple[int, int]) -> mesos_pb2.Resource:
    resource = mesos_pb2.Resource(name=name, type=Value.RANGES)
    resource.ranges.SetInParent()
    for begin, end in pairs:
        resource.ranges.range.add(begin=begin, end=end)
    return resource


def items(name: str, *values: str) -> mesos_pb2.Resource:
    resource = mesos_pb2.Resource(name=name, type=Value.SET)
    resource.set.SetInParent()
    resource.set.item.extend(values)
    return resource


def parse_error(text: str, default_role: str = "*") -> str:
    with pytest.raises(ResourcesError) as info:
        R.parse_resources(text, default_role)
    return str(info.value)


# ================================================================ text form
def test_text_form_scalars_ranges_sets() -> None:
    parsed = R.parse_resources("cpus:2;mem:1024;ports:[31000-32000,33000-33100];bugs:{a,b,c}")
    assert [r.name for r in parsed] == ["cpus", "mem", "ports", "bugs"]
    cpus, mem, ports, bugs = parsed
    assert cpus.type == Value.SCALAR and cpus.scalar.value == 2
    assert mem.scalar.value == 1024
    assert ports.type == Value.RANGES
    assert [(r.begin, r.end) for r in ports.ranges.range] == [(31000, 32000), (33000, 33100)]
    assert bugs.type == Value.SET and list(bugs.set.item) == ["a", "b", "c"]
    for resource in parsed:
        assert len(resource.reservations) == 0
        assert not resource.HasField("role")  # post-reservation-refinement format


def test_text_form_role_is_a_static_reservation_without_legacy_role() -> None:
    (cpus,) = R.parse_resources("cpus(ads):4")
    assert cpus.name == "cpus" and cpus.scalar.value == 4
    assert len(cpus.reservations) == 1
    assert cpus.reservations[0].type == ReservationInfo.STATIC
    assert cpus.reservations[0].role == "ads"
    assert not cpus.HasField("role") and not cpus.HasField("reservation")


def test_text_form_star_role_is_unreserved() -> None:
    (cpus,) = R.parse_resources("cpus(*):1")
    assert len(cpus.reservations) == 0


def test_default_role_applies_to_resources_without_one() -> None:
    cpus, mem = R.parse_resources("cpus:1;mem(other):2", default_role="dev")
    assert [r.role for r in cpus.reservations] == ["dev"]
    assert [r.role for r in mem.reservations] == ["other"]


def test_text_form_tolerates_spaces_and_coalesces_ranges() -> None:
    cpus, mem, ports = R.parse_resources(" cpus : 2 ; mem ( foo ) : 10;ports:[2-3, 1-1,10-11]")
    assert cpus.name == "cpus" and cpus.scalar.value == 2
    assert mem.name == "mem" and mem.reservations[0].role == "foo"
    assert [(r.begin, r.end) for r in ports.ranges.range] == [(1, 3), (10, 11)]


def test_text_form_merges_same_name_and_role_and_drops_empty() -> None:
    parsed = R.parse_resources(
        "cpus(foo):1;cpus(foo):2;cpus:3;s(foo/bar):{b,a};s(foo/bar):{c};mem:0")
    assert R.resources_to_text(parsed) == (
        "cpus(reservations: [(STATIC,foo)]):3; cpus:3; "
        "s(reservations: [(STATIC,foo/bar)]):{b, a, c}")


def test_numbers_as_boost_reads_them() -> None:
    cpus, mem = R.parse_resources("cpus:+2;mem:1e3")
    assert cpus.scalar.value == 2 and mem.scalar.value == 1000
    (ports,) = R.parse_resources("ports:[0x10-0x20]")
    assert [(r.begin, r.end) for r in ports.ranges.range] == [(16, 32)]


def test_resource_names_are_not_checked_for_brackets() -> None:
    (odd,) = R.parse_resources("a[]:1")
    assert odd.name == "a[]"


@pytest.mark.parametrize("text, message", [
    ("cpus:-1", "Failed to parse resource cpus value -1 error Invalid scalar value "
                "'-1':Negative values not supported"),
    ("cpus: -1", "Failed to parse resource cpus value  -1 error Invalid scalar value "
                 "'-1':Negative values not supported"),
    ("cpus:nan", "Failed to parse resource cpus value nan error Invalid scalar value "
                 "'nan':NaN not supported"),
    ("cpus:inf", "Failed to parse resource cpus value inf error Invalid scalar value "
                 "'inf':Infinite values not supported"),
    ("cpus:abc", "Bad type for resource cpus value abc type TEXT"),
    ("cpus:1e400", "Bad type for resource cpus value 1e400 type TEXT"),
    ("cpus:0x10", "Bad type for resource cpus value 0x10 type TEXT"),
    ("cpus", "Bad value for resources, missing or extra ':' in cpus"),
    ("e:", "Bad value for resources, missing or extra ':' in e:"),
    ("a:1:2", "Bad value for resources, missing or extra ':' in a:1:2"),
    ("x(:1", "Bad value for resources, mismatched parentheses in x(:1"),
    ("ports:[1-2", "Failed to parse resource ports value [1-2 error Mismatched brackets"),
    ("ports:[a-b]", "Failed to parse resource ports value [a-b] error "
                    "Expecting non-negative integers in 'a'"),
    ("d:[1-2-3]", 'Failed to parse resource d value [1-2-3] error Expecting one or more "ranges"'),
    ("b:a[]", "Failed to parse resource b value a[] error Unexpected '[' found"),
    ("c:a{}", "Failed to parse resource c value a{} error Unexpected '{' found"),
    ('{"a":1}', 'Failed to parse resource {"a" value 1} error Mismatched brackets'),
])
def test_text_form_parse_errors(text: str, message: str) -> None:
    assert parse_error(text) == message


@pytest.mark.parametrize("text, message", [
    ("foo:{a,a}", "Invalid set resource: duplicated elements"),
    ("ports:[3-1]", "Invalid ranges resource: begin > end"),
    ("cpus:0.0004", "Invalid scalar resource: value <= 0"),
    ("cpus():1", "Role names cannot be the empty string"),
    ("cpus(a b):1", "Role component 'a b' is invalid because it contains backspace or whitespace"),
    ("cpus(-x):1", "Role component '-x' is invalid because it starts with a dash"),
    ("foo:1;foo:[1-2]", "Resources with the same name ('foo') but different types are not allowed"),
])
def test_text_form_validation_errors(text: str, message: str) -> None:
    assert parse_error(text) == message


def test_empty_text_is_no_resources() -> None:
    assert R.parse_resources("") == []


# ================================================================ JSON form
def test_json_form_defaults_role_and_upgrades() -> None:
    text = json.dumps([
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}},
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, "role": "foo"},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 5, "end": 10}]}},
        {"name": "bugs", "type": "SET", "set": {"item": ["x"]}, "unknown_key": 1},
    ])
    unreserved_cpus, reserved_cpus, ports, bugs = R.parse_resources(text)
    assert len(unreserved_cpus.reservations) == 0 and not unreserved_cpus.HasField("role")
    assert [(r.type, r.role) for r in reserved_cpus.reservations] == [
        (ReservationInfo.STATIC, "foo")]
    assert not reserved_cpus.HasField("role")
    assert R.ports([ports]) == [(5, 10)]
    assert list(bugs.set.item) == ["x"]


def test_json_form_uses_default_role() -> None:
    (mem,) = R.parse_resources('[{"name":"mem","type":"SCALAR","scalar":{"value":10}}]', "bar")
    assert [r.role for r in mem.reservations] == ["bar"]


@pytest.mark.parametrize("text, message", [
    ('[{"name":"cpus"}]',
     "Some JSON resources were not formatted properly: Missing required fields: type"),
    ("[1]", "Some JSON resources were not formatted properly: Expecting a JSON object"),
    ('[{"name":"cpus","type":"BOGUS","scalar":{"value":1}}]',
     "Some JSON resources were not formatted properly: Failed to find enum for 'BOGUS'"),
    ('[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"revocable":{}}]',
     "Revocable resources cannot be specified at the command line; do not include a "
     "'revocable' key in the resources JSON"),
    ('[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"foo",'
     '"reservation":{"principal":"p"}}]',
     "Dynamic reservations cannot be specified at the command line; do not include a "
     "reservation with DYNAMIC type in the resources JSON"),
    ('[{"name":"cpus","type":"SCALAR","scalar":{"value":1},'
     '"reservations":[{"type":"DYNAMIC","role":"foo"}]}]',
     "Dynamic reservations cannot be specified at the command line; do not include a "
     "reservation with DYNAMIC type in the resources JSON"),
    ('[{"name":"disk","type":"SCALAR","scalar":{"value":1},"disk":{"persistence":{"id":"x"}}}]',
     "Persistent volumes cannot be specified at the command line"),
])
def test_json_form_errors(text: str, message: str) -> None:
    assert parse_error(text) == message


def test_json_that_is_not_an_array_is_read_as_text() -> None:
    assert parse_error('{"a":1}').startswith('Failed to parse resource {"a" value 1}')


# =============================================================== validation
def test_validate_accepts_well_formed_resources() -> None:
    for resource in (scalar("cpus", 1), ranges("ports", (1, 2), (4, 5)), items("s", "a", "b"),
                     scalar("cpus", 1, role="a")):
        assert R.validate_resource(resource) is None
    assert R.validate_resources([scalar("cpus", 1), items("s", "a")]) is None


@pytest.mark.parametrize("build, message", [
    (lambda: scalar("", 1), "Empty resource name"),
    (lambda: scalar("cpus", -1), "Invalid scalar resource: value <= 0"),
    (lambda: scalar("cpus", 0.0001), "Invalid scalar resource: value <= 0"),
    (lambda: mesos_pb2.Resource(name="cpus", type=Value.SCALAR), "Invalid scalar resource"),
    (lambda: ranges("ports", (1, 10), (5, 20)), "Invalid ranges resource: overlapping ranges"),
    (lambda: ranges("ports", (10, 1)), "Invalid ranges resource: begin > end"),
    (lambda: items("s", "a", "b", "a"), "Invalid set resource: duplicated elements"),
    (lambda: mesos_pb2.Resource(name="t", type=Value.TEXT), "Unsupported resource type"),
])
def test_validate_value_rules(build, message: str) -> None:  # type: ignore[no-untyped-def]
    assert R.validate_resource(build()) == message


def test_validate_type_value_agreement() -> None:
    resource = scalar("cpus", 1)
    resource.ranges.SetInParent()
    assert R.validate_resource(resource) == "Invalid scalar resource"
    resource = ranges("ports", (1, 2))
    resource.scalar.value = 1
    assert R.validate_resource(resource) == "Invalid ranges resource"
    resource = items("s", "a")
    resource.ranges.SetInParent()
    assert R.validate_resource(resource) == "Invalid set resource"


def test_validate_overlap_check_is_mesos_one_directional() -> None:
    # Mesos only looks for a later range starting inside an earlier one.
    assert R.validate_resource(ranges("ports", (5, 10), (1, 6))) is None
    assert R.validate_resource(ranges("ports", (1, 5), (5, 10))) == (
        "Invalid ranges resource: overlapping ranges")


def test_validate_disk_rules() -> None:
    resource = scalar("cpus", 1)
    resource.disk.SetInParent()
    assert R.validate_resource(resource) == "DiskInfo should not be set for cpus resource"
    disk = scalar("disk", 1)
    disk.disk.source.type = mesos_pb2.Resource.DiskInfo.Source.BLOCK
    disk.disk.source.mount.root = "/x"
    assert R.validate_resource(disk) == "Mount should not be set for BLOCK disk source"
    disk = scalar("disk", 1)
    disk.disk.source.type = mesos_pb2.Resource.DiskInfo.Source.RAW
    disk.disk.source.path.root = "/x"
    assert R.validate_resource(disk) == "Path should not be set for RAW disk source"
    disk = scalar("disk", 1)
    disk.disk.source.type = mesos_pb2.Resource.DiskInfo.Source.UNKNOWN
    assert R.validate_resource(disk) == "Unsupported 'DiskInfo.Source.Type' in 'UNKNOWN'"


def test_validate_shared_rules() -> None:
    resource = scalar("cpus", 1)
    resource.shared.SetInParent()
    assert R.validate_resource(resource) == "Resource cpus cannot be shared"
    disk = scalar("disk", 1)
    disk.shared.SetInParent()
    assert R.validate_resource(disk) == "Only persistent volumes can be shared"
    disk.disk.persistence.id = "p"
    assert R.validate_resource(disk) is None


@pytest.mark.parametrize("role, message", [
    ("/x", "Role '/x' cannot start with a slash"),
    ("a/", "Role 'a/' cannot end with a slash"),
    ("a//b", "Role 'a//b' cannot contain two adjacent slashes"),
    ("", "Role names cannot be the empty string"),
    ("a/./b", "Role 'a/./b' cannot include '.' as a component"),
    ("a/..", "Role 'a/..' cannot include '..' as a component"),
    ("a/*", "Role 'a/*' cannot include '*' as a component"),
    ("-x", "Role component '-x' is invalid because it starts with a dash"),
    ("a\x7fb", "Role component 'a\x7fb' is invalid because it contains backspace or whitespace"),
])
def test_validate_legacy_role(role: str, message: str) -> None:
    resource = scalar("cpus", 1)
    resource.role = role
    assert R.validate_resource(resource) == message


def test_validate_legacy_reservation() -> None:
    resource = scalar("cpus", 1)
    resource.reservation.principal = "p"
    assert R.validate_resource(resource) == (
        'Invalid reservation: role "*" cannot be dynamically reserved')
    resource.role = "foo"
    assert R.validate_resource(resource) is None
    resource.reservation.type = ReservationInfo.DYNAMIC
    assert R.validate_resource(resource) == (
        "'Resource.ReservationInfo.type' must not be set for the 'Resource.reservation' field")
    resource.reservation.ClearField("type")
    resource.reservation.role = "foo"
    assert R.validate_resource(resource) == (
        "'Resource.ReservationInfo.role' must not be set for the 'Resource.reservation' field")


def test_validate_reservation_stack() -> None:
    resource = scalar("cpus", 1)
    resource.reservations.add(role="foo")
    assert R.validate_resource(resource) == (
        "Invalid reservation: 'Resource.ReservationInfo.type' field must be set.")
    resource = scalar("cpus", 1)
    resource.reservations.add(type=ReservationInfo.STATIC)
    assert R.validate_resource(resource) == (
        "Invalid reservation: 'Resource.ReservationInfo.role' field must be set.")
    assert R.validate_resource(scalar("cpus", 1, role="*")) == (
        'Invalid reservation: role "*" cannot be reserved')
    resource = scalar("cpus", 1, role="a")
    resource.reservations.add(type=ReservationInfo.STATIC, role="a/b")
    assert R.validate_resource(resource) == (
        "Invalid refined reservation: A refined reservation cannot be STATIC")
    resource = scalar("cpus", 1, role="a")
    resource.reservations.add(type=ReservationInfo.DYNAMIC, role="b")
    assert R.validate_resource(resource) == (
        "Invalid refined reservation: role 'b' is not a refinement of 'a'")
    resource = scalar("cpus", 1, role="a")
    resource.reservations.add(type=ReservationInfo.DYNAMIC, role="a/b")
    assert R.validate_resource(resource) is None
    resource.role = "a/b"
    assert R.validate_resource(resource) == (
        "Invalid resource format: 'Resource.role' must not be set if there is more than one "
        "reservation in 'Resource.reservations'")
    resource.ClearField("role")
    resource.reservation.SetInParent()
    assert R.validate_resource(resource) == (
        "Invalid resource format: 'Resource.reservation' must not be set if there is more "
        "than one reservation in 'Resource.reservations'")


def test_validate_single_reservation_consistency() -> None:
    resource = scalar("cpus", 1, role="a")
    resource.role = "x"
    assert R.validate_resource(resource) == (
        "Invalid resource format: 'Resource.role' field with 'x' does not match the role 'a' "
        "in 'Resource.reservations'")
    resource = scalar("cpus", 1, role="a")
    resource.reservation.SetInParent()
    assert R.validate_resource(resource) == (
        "Invalid resource format: 'Resource.reservation' must not be set if the single "
        "reservation in 'Resource.reservations' is STATIC")
    resource = scalar("cpus", 1)
    resource.reservations.add(type=ReservationInfo.DYNAMIC, role="foo", principal="p")
    resource.role = "foo"
    assert R.validate_resource(resource) == (
        "Invalid resource format: 'Resource.role' and 'Resource.reservation' must either be "
        "both set or both not set if the single reservation in 'Resource.reservations' is "
        "DYNAMIC")
    resource.reservation.principal = "q"
    assert R.validate_resource(resource) == (
        "Invalid resource format: 'Resource.reservation.principal' field with 'q' does not "
        "match the principal 'p' in 'Resource.reservations'")
    resource.reservation.principal = "p"
    resource.reservation.labels.labels.add(key="k", value="v")
    resource.reservation.labels.labels.add(key="z")
    resource.reservations[0].labels.labels.add(key="k", value="w")
    assert R.validate_resource(resource) == (
        "Invalid resource format: 'Resource.reservation.labels' field with '{k: v, z}' does "
        "not match the labels '{k: w}' in 'Resource.reservations'")
    resource = scalar("cpus", 1)
    resource.reservations.add(type=ReservationInfo.UNKNOWN, role="foo")
    assert R.validate_resource(resource) == "Unsupported 'Resource.ReservationInfo.Type'"


def test_validate_resources_names_the_first_bad_resource() -> None:
    error = R.validate_resources([scalar("cpus", 1), scalar("mem", 1.5), scalar("cpus", -2)])
    assert error == "Resource 'cpus:-2' is invalid: Invalid scalar resource: value <= 0"


# ================================================================= printing
def test_format_resource_forms() -> None:
    assert R.format_resource(scalar("cpus", 2)) == "cpus:2"
    assert R.format_resource(scalar("cpus", 0.5, role="a")) == (
        "cpus(reservations: [(STATIC,a)]):0.5")
    assert R.format_resource(ranges("ports", (1, 2), (4, 5))) == "ports:[1-2, 4-5]"
    assert R.format_resource(items("s", "b", "a")) == "s:{b, a}"
    dynamic = scalar("cpus", -1)
    reservation = dynamic.reservations.add(type=ReservationInfo.DYNAMIC, role="foo",
                                           principal="p")
    reservation.labels.labels.add(key="k", value="v")
    reservation.labels.labels.add(key="z")
    assert R.format_resource(dynamic) == "cpus(reservations: [(DYNAMIC,foo,p,{k: v, z})]):-1"
    disk = scalar("disk", 1)
    disk.disk.source.type = mesos_pb2.Resource.DiskInfo.Source.PATH
    disk.disk.source.path.root = "/mnt"
    disk.disk.persistence.id = "pid"
    disk.disk.volume.mode = mesos_pb2.Volume.RW
    disk.disk.volume.container_path = "c"
    disk.disk.volume.host_path = "/h"
    assert R.format_resource(disk) == "disk[PATH:/mnt,pid:/h:c:rw]:1"
    csi = scalar("disk", 1)
    csi.disk.source.type = mesos_pb2.Resource.DiskInfo.Source.MOUNT
    csi.disk.source.vendor, csi.disk.source.id, csi.disk.source.profile = "v", "i", "pr"
    assert R.format_resource(csi) == "disk[MOUNT(v,i,pr)]:1"
    flagged = scalar("cpus", 1)
    flagged.allocation_info.role = "r"
    flagged.revocable.SetInParent()
    assert R.format_resource(flagged) == "cpus(allocated: r){REV}:1"


def test_format_scalar_like_mesos() -> None:
    assert R.format_scalar(2.0) == "2"
    assert R.format_scalar(0.1 + 0.2) == "0.3"
    assert R.format_scalar(1.23456) == "1.235"
    assert R.format_scalar(-0.0005) == "-0.001"
    assert R.format_scalar(1e15) == "1e+15"
    # Beyond the fixed-point range Mesos shows LLONG_MIN thousandths.
    assert R.format_scalar(float("inf")) == "-9.22337203685478e+15"


def test_resources_to_text() -> None:
    assert R.resources_to_text([]) == "{}"
    parsed = R.parse_resources("cpus:2;mem:1024;ports:[31000-32000]")
    assert R.resources_to_text(parsed) == "cpus:2; mem:1024; ports:[31000-32000]"


# =============================================================== arithmetic
def test_add_scalars_ranges_sets() -> None:
    left = R.parse_resources("cpus:1.5;ports:[1-5];s:{a,b}")
    right = R.parse_resources("cpus:0.25;ports:[6-10,20-30];s:{b,c};mem:64")
    total = R.add(left, right)
    assert R.cpus(total) == 1.75
    assert R.ports(total) == [(1, 10), (20, 30)]
    assert R.set_items(total, "s") == ["a", "b", "c"]
    assert R.mem(total) == 64
    # The inputs are untouched.
    assert R.cpus(left) == 1.5 and R.ports(left) == [(1, 5)]


def test_add_keeps_roles_apart() -> None:
    total = R.add(R.parse_resources("cpus:1"), R.parse_resources("cpus(foo):2"))
    assert len(total) == 2
    assert R.cpus(total) == 3
    assert R.cpus(R.reserved(total, "foo")) == 2
    assert R.cpus(R.unreserved(total)) == 1


def test_scalar_arithmetic_is_fixed_point() -> None:
    total = R.add([scalar("cpus", 0.1)], [scalar("cpus", 0.2)])
    assert total[0].scalar.value == 0.3
    assert R.scalar_subtract(0.3, 0.1) == 0.2


def test_subtract_scalars_ranges_sets() -> None:
    total = R.parse_resources("cpus:4;mem:1024;ports:[1-10];s:{a,b,c}")
    used = R.parse_resources("cpus:1.5;mem:1024;ports:[3-4,10-10];s:{b}")
    left = R.subtract(total, used)
    assert R.cpus(left) == 2.5
    assert R.mem(left) is None  # used up, so gone
    assert R.ports(left) == [(1, 2), (5, 9)]
    assert R.set_items(left, "s") == ["a", "c"]


def test_subtract_more_than_available_removes_the_entry() -> None:
    assert R.subtract(R.parse_resources("cpus:1"), R.parse_resources("cpus:2")) == []


def test_subtract_ignores_other_roles() -> None:
    left = R.subtract(R.parse_resources("cpus(foo):2"), R.parse_resources("cpus:1"))
    assert R.cpus(left) == 2


def test_contains() -> None:
    total = R.parse_resources("cpus:4;mem:1024;ports:[31000-32000];s:{a,b}")
    assert R.contains(total, R.parse_resources("cpus:4;ports:[31000-31010];s:{a}"))
    assert R.contains(total, [])
    assert not R.contains(total, R.parse_resources("cpus:4.001"))
    assert not R.contains(total, R.parse_resources("ports:[30999-31000]"))
    assert not R.contains(total, R.parse_resources("s:{c}"))
    assert not R.contains(total, R.parse_resources("cpus(foo):1"))
    assert not R.contains(total, R.parse_resources("gpus:1"))


def test_merge_drops_invalid_and_empty() -> None:
    merged = R.merge([scalar("cpus", 1), scalar("cpus", -1), scalar("cpus", 0),
                      scalar("cpus", 2), ranges("ports")])
    assert R.resources_to_text(merged) == "cpus:3"


def test_equals_ignores_order_and_splitting() -> None:
    assert R.equals(R.parse_resources("cpus:1;mem:2;ports:[1-4]"),
                    [scalar("mem", 2), ranges("ports", (1, 2), (3, 4)), scalar("cpus", 1)])
    assert not R.equals(R.parse_resources("cpus:1"), R.parse_resources("cpus:1;mem:1"))


def test_queries_absent_and_truncation() -> None:
    assert R.cpus([]) is None and R.mem([]) is None and R.disk([]) is None
    assert R.ports([]) is None
    parsed = R.parse_resources("mem:512.7;disk:100.9;cpus:0.5")
    assert R.mem(parsed) == 512 and R.disk(parsed) == 100
    assert R.cpus(parsed) == 0.5


def test_coalesce_and_subtract_ranges_helpers() -> None:
    assert R.coalesce_ranges([(5, 6), (1, 2), (3, 3), (10, 12), (11, 20)]) == [
        (1, 3), (5, 6), (10, 20)]
    assert R.coalesce_ranges([(5, 6), (1, 2), (3, 4)]) == [(1, 6)]  # adjacent ranges merge
    assert R.subtract_ranges([(1, 10)], [(0, 1), (5, 5), (10, 12)]) == [(2, 4), (6, 9)]
    assert R.ranges_contain([(1, 5), (6, 10)], [(4, 7)])
    assert not R.ranges_contain([(1, 5), (7, 10)], [(4, 7)])


def test_upgrade_resource_from_legacy_fields() -> None:
    static = scalar("cpus", 1)
    static.role = "foo"
    R.upgrade_resource(static)
    assert not static.HasField("role")
    assert [(r.type, r.role) for r in static.reservations] == [(ReservationInfo.STATIC, "foo")]
    dynamic = scalar("cpus", 1)
    dynamic.role = "foo"
    dynamic.reservation.principal = "p"
    R.upgrade_resource(dynamic)
    assert not dynamic.HasField("reservation")
    assert [(r.type, r.role, r.principal) for r in dynamic.reservations] == [
        (ReservationInfo.DYNAMIC, "foo", "p")]
    star = scalar("cpus", 1)
    star.role = "*"
    R.upgrade_resource(star)
    assert not star.HasField("role") and len(star.reservations) == 0


# ================================================================= defaults
def _expected_mem_mb() -> int:
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return (total - GB if total >= 2 * GB else total // 2) // MB


def _expected_disk_mb(path: str) -> int:
    stat = os.statvfs(path)
    total = stat.f_frsize * stat.f_blocks
    return (total - 5 * GB if total >= 10 * GB else total // 2) // MB


def test_default_resources_probe_the_host(tmp_path) -> None:  # type: ignore[no-untyped-def]
    defaults = R.default_resources(str(tmp_path))
    assert [r.name for r in defaults] == ["cpus", "mem", "disk", "ports"]
    assert R.cpus(defaults) == os.cpu_count()
    assert R.mem(defaults) == _expected_mem_mb()
    assert 0 < R.mem(defaults) * MB < os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert R.disk(defaults) == _expected_disk_mb(str(tmp_path))
    assert R.ports(defaults) == [(31000, 32000)]
    assert all(R.is_unreserved(r) for r in defaults)


def test_default_resources_with_a_default_role(tmp_path) -> None:  # type: ignore[no-untyped-def]
    defaults = R.default_resources(str(tmp_path), default_role="foo")
    assert all([r.role for r in res.reservations] == ["foo"] for res in defaults)


def test_flag_resources_override_probed_ones_by_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    total = R.agent_resources("cpus:3;mem:1000;ports(foo):[1-10,5-20];bugs:{a,b,c};gpus:1;"
                              "cpus(bar):0.5", str(tmp_path))
    # The order is the one the Mesos 1.11 agent logs ("Agent resources: ...").
    assert R.resources_to_text(total) == (
        "cpus:3; mem:1000; ports(reservations: [(STATIC,foo)]):[1-20]; bugs:{a, b, c}; "
        "cpus(reservations: [(STATIC,bar)]):0.5; gpus:1; "
        f"disk:{_expected_disk_mb(str(tmp_path))}")


def test_naming_a_resource_with_zero_disables_probing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    total = R.agent_resources("cpus:0;mem:0", str(tmp_path))
    assert [r.name for r in total] == ["disk", "ports"]


def test_probed_resources_follow_flag_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    total = R.agent_resources("gpus:1;mem:5", str(tmp_path))
    assert [r.name for r in total] == ["mem", "cpus", "gpus", "disk", "ports"]
    assert R.agent_resources(None, str(tmp_path)) == R.default_resources(str(tmp_path))
    assert R.agent_resources("", str(tmp_path)) == R.default_resources(str(tmp_path))


def test_agent_resources_reports_flag_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ResourcesError) as info:
        R.agent_resources("cpus:-1", str(tmp_path))
    assert str(info.value).startswith("Failed to parse resource cpus value -1")


def test_disk_default_of_a_missing_work_dir_is_mesos_fallback() -> None:
    assert R.probed_disk_mb("/nonexistent/mesos-py/work") == 10 * 1024


def test_text_typed_resource_is_unsupported_and_printable() -> None:
    # The Mesos agent aborts when it prints such a resource; we print no value.
    text = mesos_pb2.Resource(name="t", type=Value.TEXT)
    assert R.validate_resources([text]) == "Resource 't:' is invalid: Unsupported resource type"
