"""Mesos's resource model, as far as an agent needs it.

A resource list here plays the part of Mesos's `Resources` collection: the
functions that combine lists (`add`, `subtract`, `contains`, `merge`) give
results in which invalid and empty resources are dropped and "addable"
resources (same name, type, reservations, disk, revocability, provider) are
combined into one entry; scalars use Mesos's fixed-point arithmetic (three
decimal digits), ranges are coalesced, sets are unions.

Resources are kept in the "post-reservation-refinement" format: a static
reservation `cpus(role):2` is a `reservations` stack with one STATIC entry
and no legacy `role` field (`Resource.role` then reads as its default "*").

Parsing (`parse_resources`) accepts both forms of the `--resources` flag:

* text: `cpus:2;mem:1024;ports:[31000-32000,33000-33100];bugs(role):{a,b}`
* JSON: a list of `Resource` objects in Mesos's JSON mapping.

Errors are raised as `ResourcesError` with Mesos's messages.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from typing import Iterable, Sequence

from mesos_py.protos.mesos.v1 import mesos_pb2

Resource = mesos_pb2.Resource
Value = mesos_pb2.Value
ReservationInfo = mesos_pb2.Resource.ReservationInfo
DiskSource = mesos_pb2.Resource.DiskInfo.Source

MEGABYTE = 1024 * 1024
GIGABYTE = 1024 * MEGABYTE

DEFAULT_CPUS = 1.0
DEFAULT_MEM = GIGABYTE
DEFAULT_DISK = 10 * GIGABYTE
DEFAULT_PORTS = "[31000-32000]"

_UINT64_MAX = 2 ** 64 - 1
_MIN_NORMAL = 2.2250738585072014e-308


class ResourcesError(ValueError):
    """A resource text/JSON that Mesos would refuse (the message is Mesos's)."""


# ==================================================================== scalars
_LLONG_MIN = -2 ** 63


def _fixed(value: float) -> int:
    """Mesos's fixed-point form of a scalar: thousandths, rounded half away
    from zero (`llround`). Like llround on x86-64, a value that does not fit a
    64-bit integer (infinite, NaN, or beyond about 9.2e15) gives LLONG_MIN."""
    scaled = value * 1000
    if math.isnan(scaled) or math.isinf(scaled):
        return _LLONG_MIN
    rounded = int(math.copysign(math.floor(abs(scaled) + 0.5), scaled))
    if not _LLONG_MIN <= rounded < 2 ** 63:
        return _LLONG_MIN
    return rounded


def _floating(fixed: int) -> float:
    # C++ integer division and modulus (both truncate toward zero).
    magnitude_quotient, magnitude_remainder = divmod(abs(fixed), 1000)
    sign = -1 if fixed < 0 else 1
    return float(sign * magnitude_quotient) + (sign * magnitude_remainder) / 1000.0


def scalar_add(left: float, right: float) -> float:
    return _floating(_fixed(left) + _fixed(right))


def scalar_subtract(left: float, right: float) -> float:
    return _floating(_fixed(left) - _fixed(right))


def format_scalar(value: float) -> str:
    """A scalar as Mesos prints it (3 decimals kept, 15 significant digits)."""
    return f"{_floating(_fixed(value)):.15g}"


# ===================================================================== ranges
def coalesce_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged ranges (adjacent ranges such as 1-2 and 3-4 merge)."""
    result: list[tuple[int, int]] = []
    for begin, end in sorted(ranges):
        if result and begin <= result[-1][1] + 1:
            if end > result[-1][1]:
                result[-1] = (result[-1][0], end)
        else:
            result.append((begin, end))
    return result


def subtract_ranges(left: Iterable[tuple[int, int]],
                    right: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    result = coalesce_ranges(left)
    for cut_begin, cut_end in coalesce_ranges(right):
        remaining: list[tuple[int, int]] = []
        for begin, end in result:
            if end < cut_begin or begin > cut_end:
                remaining.append((begin, end))
                continue
            if begin < cut_begin:
                remaining.append((begin, cut_begin - 1))
            if end > cut_end:
                remaining.append((cut_end + 1, end))
        result = remaining
    return result


def ranges_contain(outer: Iterable[tuple[int, int]], inner: Iterable[tuple[int, int]]) -> bool:
    big = coalesce_ranges(outer)
    return all(any(b <= begin and end <= e for b, e in big) for begin, end in coalesce_ranges(inner))


def _ranges_of(message: mesos_pb2.Value.Ranges) -> list[tuple[int, int]]:
    return [(r.begin, r.end) for r in message.range]


def _set_ranges(message: mesos_pb2.Value.Ranges, ranges: Iterable[tuple[int, int]]) -> None:
    del message.range[:]
    for begin, end in ranges:
        item = message.range.add()
        item.begin = begin
        item.end = end


def format_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    return "[" + ", ".join(f"{begin}-{end}" for begin, end in ranges) + "]"


def format_set(items: Iterable[str]) -> str:
    return "{" + ", ".join(items) + "}"


# ============================================================ value parsing
_DOUBLE = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?"
                     r"|inf|infinity|nan|nan\(\w*\))", re.IGNORECASE)


def _numify_double(text: str) -> float | None:
    """boost::lexical_cast<double>-like: None when the text is not a number."""
    if not _DOUBLE.fullmatch(text):
        return None
    lowered = text.lower().lstrip("+-")
    negative = text.startswith("-")
    if lowered.startswith("inf"):
        return -math.inf if negative else math.inf
    if lowered.startswith("nan"):
        return math.nan
    number = float(text)
    # A finite literal too large for a double is a conversion failure.
    return None if math.isinf(number) else number


def _numify_uint64(text: str) -> int | None:
    if re.fullmatch(r"\+?[0-9]+", text):
        number = int(text)
    elif re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
        number = int(text, 16)
    else:
        return None
    return number if number <= _UINT64_MAX else None


def _tokenize(text: str, delimiters: str) -> list[str]:
    """stout's strings::tokenize: split on any delimiter, dropping empty tokens."""
    return [token for token in re.split("[" + re.escape(delimiters) + "]", text) if token]


def _brackets_match(text: str, opening: str, closing: str) -> bool:
    depth = 0
    for char in text:
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
        if depth < 0:
            return False
    return depth == 0


def validate_input_scalar(value: float) -> str | None:
    """Mesos's `validateInputScalarValue`."""
    if math.isinf(value):
        return "Infinite values not supported"
    if math.isnan(value):
        return "NaN not supported"
    if value != 0 and abs(value) < _MIN_NORMAL:
        return "Subnormal values not supported"
    if value < 0:
        return "Negative values not supported"
    return None


def parse_value(text: str) -> mesos_pb2.Value:
    """Mesos's `values::parse`: a scalar, `[a-b,...]` ranges, `{x,...}` set or text."""
    value = mesos_pb2.Value()
    temp = text.replace(" ", "")
    if not temp:
        raise ResourcesError("Expecting non-empty string")
    if not (_brackets_match(temp, "{", "}") and _brackets_match(temp, "[", "]")
            and _brackets_match(temp, "(", ")")):
        raise ResourcesError("Mismatched brackets")

    square = temp.find("[")
    if square == 0:
        value.type = mesos_pb2.Value.RANGES
        value.ranges.SetInParent()
        tokens = _tokenize(temp, "[]-,\n")
        if len(tokens) % 2 != 0:
            raise ResourcesError('Expecting one or more "ranges"')
        pairs = []
        for i in range(0, len(tokens), 2):
            begin = _numify_uint64(tokens[i])
            end = _numify_uint64(tokens[i + 1])
            if begin is None or end is None:
                raise ResourcesError(f"Expecting non-negative integers in '{tokens[i]}'")
            pairs.append((begin, end))
        _set_ranges(value.ranges, _coalesce_as_mesos(pairs))
        return value
    if square != -1:
        raise ResourcesError("Unexpected '[' found")

    curly = temp.find("{")
    if curly == 0:
        value.type = mesos_pb2.Value.SET
        value.set.SetInParent()
        value.set.item.extend(_tokenize(temp, "{},\n"))
        return value
    if curly != -1:
        raise ResourcesError("Unexpected '{' found")

    number = _numify_double(temp)
    if number is not None:
        error = validate_input_scalar(number)
        if error is not None:
            raise ResourcesError(f"Invalid scalar value '{temp}':{error}")
        value.type = mesos_pb2.Value.SCALAR
        value.scalar.value = number
        return value

    value.type = mesos_pb2.Value.TEXT
    value.text.value = temp
    return value


def _coalesce_as_mesos(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Mesos's coalesce, which (unlike `coalesce_ranges`) keeps inverted ranges
    such as 5-1 (validation reports them later)."""
    result: list[tuple[int, int]] = []
    for begin, end in sorted(pairs):
        if not result:
            result.append((begin, end))
            continue
        current_begin, current_end = result[-1]
        if begin == current_begin:
            if end > current_end:
                result[-1] = (begin, end)
        elif begin <= current_end + 1:
            result[-1] = (current_begin, max(current_end, end))
        else:
            result.append((begin, end))
    return result


# ========================================================= resource parsing
def parse_resource(name: str, value: str, role: str = "*") -> mesos_pb2.Resource:
    """Mesos's `Resources::parse(name, value, role)`: one resource; a role other
    than "*" becomes a STATIC reservation."""
    try:
        parsed = parse_value(value)
    except ResourcesError as error:
        raise ResourcesError(
            f"Failed to parse resource {name} value {value} error {error}") from None
    resource = mesos_pb2.Resource()
    resource.name = name
    if role != "*":
        reservation = resource.reservations.add()
        reservation.type = ReservationInfo.STATIC
        reservation.role = role
    if parsed.type == mesos_pb2.Value.SCALAR:
        resource.type = mesos_pb2.Value.SCALAR
        resource.scalar.CopyFrom(parsed.scalar)
    elif parsed.type == mesos_pb2.Value.RANGES:
        resource.type = mesos_pb2.Value.RANGES
        resource.ranges.CopyFrom(parsed.ranges)
    elif parsed.type == mesos_pb2.Value.SET:
        resource.type = mesos_pb2.Value.SET
        resource.set.CopyFrom(parsed.set)
    else:
        raise ResourcesError(f"Bad type for resource {name} value {value} type "
                             f"{mesos_pb2.Value.Type.Name(parsed.type)}")
    return resource


def upgrade_resource(resource: mesos_pb2.Resource) -> None:
    """In place, into the "post-reservation-refinement" format (Mesos's
    `upgradeResource`): the legacy `role`/`reservation` fields become entries
    of `reservations`."""
    if len(resource.reservations) > 0:
        resource.ClearField("role")
        resource.ClearField("reservation")
        return
    if resource.role == "*":
        # Mesos CHECK-fails on "*" with a `reservation`; validation rejects that
        # combination first ("role \"*\" cannot be dynamically reserved").
        resource.ClearField("role")
        return
    reservation = resource.reservations.add()
    if resource.HasField("reservation"):
        reservation.CopyFrom(resource.reservation)
        resource.ClearField("reservation")
        reservation.type = ReservationInfo.DYNAMIC
    else:
        reservation.type = ReservationInfo.STATIC
    reservation.role = resource.role
    resource.ClearField("role")


def resources_from_simple_string(text: str, default_role: str = "*") -> list[mesos_pb2.Resource]:
    """Mesos's `Resources::fromSimpleString`: unvalidated, unmerged."""
    resources = []
    for token in _tokenize(text, ";"):
        pair = _tokenize(token, ":")
        if len(pair) != 2:
            raise ResourcesError(f"Bad value for resources, missing or extra ':' in {token}")
        open_paren = pair[0].find("(")
        if open_paren == -1:
            name = _trim(pair[0])
            role = default_role
        else:
            close_paren = pair[0].find(")")
            if close_paren == -1 or close_paren < open_paren:
                raise ResourcesError(
                    f"Bad value for resources, mismatched parentheses in {token}")
            name = _trim(pair[0][:open_paren])
            role = _trim(pair[0][open_paren + 1:close_paren])
        resource = parse_resource(name, pair[1], role)
        upgrade_resource(resource)
        resources.append(resource)
    return resources


def resources_from_json(array: list, default_role: str = "*") -> list[mesos_pb2.Resource]:
    """Mesos's `Resources::fromJSON` (a decoded JSON array): unvalidated, unmerged."""
    from mesos_py.http import codec

    resources = []
    for element in array:
        try:
            resource = codec.json_to_message(element, mesos_pb2.Resource)
        except codec.DecodeFailure as error:
            raise ResourcesError(
                f"Some JSON resources were not formatted properly: {error}") from None
        if not resource.HasField("role") and len(resource.reservations) == 0:
            resource.role = default_role
        if (len(resource.reservations) == 0 and resource.role == "*"
                and resource.HasField("reservation")):
            # Mesos aborts here (a failed CHECK); refuse the flag instead.
            raise ResourcesError('Invalid reservation: role "*" cannot be dynamically reserved')
        upgrade_resource(resource)
        resources.append(resource)
    return resources


def resources_from_string(text: str, default_role: str = "*") -> list[mesos_pb2.Resource]:
    """Mesos's `Resources::fromString`: JSON array if it parses as one, else text."""
    try:
        decoded = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        decoded = None
    if isinstance(decoded, list):
        return resources_from_json(decoded, default_role)
    return resources_from_simple_string(text, default_role)


def _reject_constant(name: str) -> float:
    raise ValueError(f"not JSON: {name}")


def parse_resources(text: str, default_role: str = "*") -> list[mesos_pb2.Resource]:
    """Mesos's `Resources::parse(text, defaultRole)`, as used for `--resources`:
    parse, validate each resource, merge, then the command-line checks."""
    result: list[mesos_pb2.Resource] = []
    for resource in resources_from_string(text, default_role):
        error = validate_resource(resource)
        if error is not None:
            raise ResourcesError(error)
        _add_one(result, resource)
    error = _validate_command_line(result)
    if error is not None:
        raise ResourcesError(error)
    return result


def _validate_command_line(resources: Sequence[mesos_pb2.Resource]) -> str | None:
    types: dict[str, int] = {}
    for resource in resources:
        if is_persistent_volume(resource):
            return "Persistent volumes cannot be specified at the command line"
        if is_revocable(resource):
            return ("Revocable resources cannot be specified at the command line; do"
                    " not include a 'revocable' key in the resources JSON")
        if is_dynamically_reserved(resource):
            return ("Dynamic reservations cannot be specified at the command line; do"
                    " not include a reservation with DYNAMIC type in the resources JSON")
        known = types.setdefault(resource.name, resource.type)
        if known != resource.type:
            return (f"Resources with the same name ('{resource.name}') but"
                    " different types are not allowed")
    return None


def _trim(text: str) -> str:
    return text.strip(" \t\n\r")


# ================================================================ validation
def validate_role(role: str) -> str | None:
    """Mesos's `roles::validate`."""
    if role == "*":
        return None
    if role.startswith("/"):
        return f"Role '{role}' cannot start with a slash"
    if role.endswith("/"):
        return f"Role '{role}' cannot end with a slash"
    if "//" in role:
        return f"Role '{role}' cannot contain two adjacent slashes"
    components = _tokenize(role, "/")
    if not components:
        return "Role names cannot be the empty string"
    for component in components:
        if component == ".":
            return f"Role '{role}' cannot include '.' as a component"
        if component == "..":
            return f"Role '{role}' cannot include '..' as a component"
        if component == "*":
            return f"Role '{role}' cannot include '*' as a component"
        if component.startswith("-"):
            return f"Role component '{component}' is invalid because it starts with a dash"
        if any(char in "\x09\x0a\x0b\x0c\x0d\x20\x7f" for char in component):
            return (f"Role component '{component}' is invalid "
                    "because it contains backspace or whitespace")
    return None


def is_strict_subrole(left: str, right: str) -> bool:
    return len(left) > len(right) and left[len(right)] == "/" and left.startswith(right)


def validate_resource(resource: mesos_pb2.Resource) -> str | None:
    """Mesos's `Resources::validate(const Resource&)`: the error or None."""
    if not resource.name:
        return "Empty resource name"
    if resource.type not in mesos_pb2.Value.Type.values():
        return "Invalid resource type"

    has_scalar = resource.HasField("scalar")
    has_ranges = resource.HasField("ranges")
    has_set = resource.HasField("set")
    if resource.type == mesos_pb2.Value.SCALAR:
        if not has_scalar or has_ranges or has_set:
            return "Invalid scalar resource"
        if resource.scalar.value != 0 and _fixed(resource.scalar.value) <= 0:
            return "Invalid scalar resource: value <= 0"
    elif resource.type == mesos_pb2.Value.RANGES:
        if has_scalar or not has_ranges or has_set:
            return "Invalid ranges resource"
        ranges = resource.ranges.range
        for i, current in enumerate(ranges):
            if current.begin > current.end:
                return "Invalid ranges resource: begin > end"
            for other in ranges[i + 1:]:
                if current.begin <= other.begin <= current.end:
                    return "Invalid ranges resource: overlapping ranges"
    elif resource.type == mesos_pb2.Value.SET:
        if has_scalar or has_ranges or not has_set:
            return "Invalid set resource"
        items = list(resource.set.item)
        for i, item in enumerate(items):
            if item in items[i + 1:]:
                return "Invalid set resource: duplicated elements"
    else:
        return "Unsupported resource type"

    if resource.HasField("disk"):
        if resource.name != "disk":
            return f"DiskInfo should not be set for {resource.name} resource"
        disk = resource.disk
        if disk.HasField("source"):
            source = disk.source
            kind = source.type
            if kind in (DiskSource.BLOCK, DiskSource.RAW):
                kind_name = DiskSource.Type.Name(kind)
                if source.HasField("mount"):
                    return f"Mount should not be set for {kind_name} disk source"
                if source.HasField("path"):
                    return f"Path should not be set for {kind_name} disk source"
            elif kind not in (DiskSource.PATH, DiskSource.MOUNT):
                return f"Unsupported 'DiskInfo.Source.Type' in '{format_disk_source(source)}'"

    error = _validate_reservations(resource)
    if error is not None:
        return error

    if resource.HasField("shared"):
        if resource.name != "disk":
            return f"Resource {resource.name} cannot be shared"
        if not resource.HasField("disk") or not resource.disk.HasField("persistence"):
            return "Only persistent volumes can be shared"
    return None


def _validate_reservations(resource: mesos_pb2.Resource) -> str | None:
    if len(resource.reservations) == 0:
        error = validate_role(resource.role)
        if error is not None:
            return error
        if resource.HasField("reservation"):
            if resource.reservation.HasField("type"):
                return ("'Resource.ReservationInfo.type' must not be set for"
                        " the 'Resource.reservation' field")
            if resource.reservation.HasField("role"):
                return ("'Resource.ReservationInfo.role' must not be set for"
                        " the 'Resource.reservation' field")
            if resource.role == "*":
                return 'Invalid reservation: role "*" cannot be dynamically reserved'
        return None

    for reservation in resource.reservations:
        if not reservation.HasField("type"):
            return "Invalid reservation: 'Resource.ReservationInfo.type' field must be set."
        if not reservation.HasField("role"):
            return "Invalid reservation: 'Resource.ReservationInfo.role' field must be set."
        error = validate_role(reservation.role)
        if error is not None:
            return error
        if reservation.role == "*":
            return 'Invalid reservation: role "*" cannot be reserved'

    ancestor = resource.reservations[0].role
    for reservation in list(resource.reservations)[1:]:
        if reservation.type == ReservationInfo.STATIC:
            return "Invalid refined reservation: A refined reservation cannot be STATIC"
        if not is_strict_subrole(reservation.role, ancestor):
            return (f"Invalid refined reservation: role '{reservation.role}'"
                    f" is not a refinement of '{ancestor}'")
        ancestor = reservation.role

    if len(resource.reservations) == 1:
        reservation = resource.reservations[0]
        if resource.HasField("role") and resource.role != reservation.role:
            return (f"Invalid resource format: 'Resource.role' field with '{resource.role}'"
                    f" does not match the role '{reservation.role}' in 'Resource.reservations'")
        if reservation.type == ReservationInfo.STATIC:
            if resource.HasField("reservation"):
                return ("Invalid resource format: 'Resource.reservation' must not be"
                        " set if the single reservation in 'Resource.reservations' is"
                        " STATIC")
        elif reservation.type == ReservationInfo.DYNAMIC:
            if resource.HasField("role") != resource.HasField("reservation"):
                return ("Invalid resource format: 'Resource.role' and"
                        " 'Resource.reservation' must either be both set or both not"
                        " set if the single reservation in 'Resource.reservations' is"
                        " DYNAMIC")
            if (resource.HasField("reservation")
                    and resource.reservation.principal != reservation.principal):
                return ("Invalid resource format: 'Resource.reservation.principal'"
                        f" field with '{resource.reservation.principal}' does"
                        f" not match the principal '{reservation.principal}'"
                        " in 'Resource.reservations'")
            if (resource.HasField("reservation")
                    and not _labels_equal(resource.reservation.labels, reservation.labels)):
                return ("Invalid resource format: 'Resource.reservation.labels' field"
                        f" with '{format_labels(resource.reservation.labels)}'"
                        " does not match the labels"
                        f" '{format_labels(reservation.labels)}'"
                        " in 'Resource.reservations'")
        else:
            return "Unsupported 'Resource.ReservationInfo.Type'"
    else:
        if resource.HasField("role"):
            return ("Invalid resource format: 'Resource.role' must not be set if"
                    " there is more than one reservation in 'Resource.reservations'")
        if resource.HasField("reservation"):
            return ("Invalid resource format: 'Resource.reservation' must not be set if"
                    " there is more than one reservation in 'Resource.reservations'")
    return None


def validate_resources(resources: Iterable[mesos_pb2.Resource]) -> str | None:
    """Mesos's `Resources::validate` over a repeated field: the first invalid
    resource as "Resource '<resource>' is invalid: <why>", or None."""
    for resource in resources:
        error = validate_resource(resource)
        if error is not None:
            return f"Resource '{format_resource(resource)}' is invalid: {error}"
    return None


# ================================================================ predicates
def is_unreserved(resource: mesos_pb2.Resource) -> bool:
    return len(resource.reservations) == 0


def is_reserved(resource: mesos_pb2.Resource, role: str | None = None) -> bool:
    return not is_unreserved(resource) and (role is None or role == reservation_role(resource))


def reservation_role(resource: mesos_pb2.Resource) -> str:
    return resource.reservations[-1].role


def is_dynamically_reserved(resource: mesos_pb2.Resource) -> bool:
    return is_reserved(resource) and resource.reservations[-1].type == ReservationInfo.DYNAMIC


def is_persistent_volume(resource: mesos_pb2.Resource) -> bool:
    return resource.HasField("disk") and resource.disk.HasField("persistence")


def is_revocable(resource: mesos_pb2.Resource) -> bool:
    return resource.HasField("revocable")


def is_shared(resource: mesos_pb2.Resource) -> bool:
    return resource.HasField("shared")


def is_empty(resource: mesos_pb2.Resource) -> bool:
    if resource.type == mesos_pb2.Value.SCALAR:
        return _fixed(resource.scalar.value) == 0
    if resource.type == mesos_pb2.Value.RANGES:
        return len(resource.ranges.range) == 0
    if resource.type == mesos_pb2.Value.SET:
        return len(resource.set.item) == 0
    return False


# ============================================================== comparisons
def _labels_equal(left: mesos_pb2.Labels, right: mesos_pb2.Labels) -> bool:
    if len(left.labels) != len(right.labels):
        return False
    return all(any(a == b for b in right.labels) for a in left.labels)


def _reservation_equal(left: ReservationInfo, right: ReservationInfo) -> bool:
    if left.type != right.type or left.role != right.role:
        return False
    if left.HasField("principal") != right.HasField("principal"):
        return False
    if left.principal != right.principal:
        return False
    if left.HasField("labels") != right.HasField("labels"):
        return False
    return not left.HasField("labels") or _labels_equal(left.labels, right.labels)


def _disk_equal(left: mesos_pb2.Resource.DiskInfo, right: mesos_pb2.Resource.DiskInfo) -> bool:
    # `volume` describes a use of the disk, not the disk: it is ignored.
    if left.HasField("source") != right.HasField("source"):
        return False
    if left.HasField("source") and left.source != right.source:
        return False
    if left.HasField("persistence") != right.HasField("persistence"):
        return False
    return not left.HasField("persistence") or left.persistence.id == right.persistence.id


def _same_kind(left: mesos_pb2.Resource, right: mesos_pb2.Resource) -> bool:
    """The metadata checks shared by Mesos's `addable` and `subtractable`."""
    if left.name != right.name or left.type != right.type:
        return False
    if left.HasField("allocation_info") != right.HasField("allocation_info"):
        return False
    if left.HasField("allocation_info") and (
            left.allocation_info.HasField("role") != right.allocation_info.HasField("role")
            or left.allocation_info.role != right.allocation_info.role):
        return False
    if len(left.reservations) != len(right.reservations):
        return False
    if not all(_reservation_equal(a, b) for a, b in zip(left.reservations, right.reservations)):
        return False
    if left.HasField("disk") != right.HasField("disk"):
        return False
    if left.HasField("disk") and not _disk_equal(left.disk, right.disk):
        return False
    if left.HasField("revocable") != right.HasField("revocable"):
        return False
    if left.HasField("provider_id") != right.HasField("provider_id"):
        return False
    return not left.HasField("provider_id") or left.provider_id == right.provider_id


def resource_equal(left: mesos_pb2.Resource, right: mesos_pb2.Resource) -> bool:
    """Mesos's `Resource ==` (values compared, disk volume ignored)."""
    if not _same_kind(left, right) or left.HasField("shared") != right.HasField("shared"):
        return False
    if left.type == mesos_pb2.Value.SCALAR:
        return _fixed(left.scalar.value) == _fixed(right.scalar.value)
    if left.type == mesos_pb2.Value.RANGES:
        return (coalesce_ranges(_ranges_of(left.ranges))
                == coalesce_ranges(_ranges_of(right.ranges)))
    if left.type == mesos_pb2.Value.SET:
        return sorted(left.set.item) == sorted(right.set.item)
    return False


def _addable(left: mesos_pb2.Resource, right: mesos_pb2.Resource) -> bool:
    if left.HasField("shared") or right.HasField("shared"):
        # Shared resources are counted, not summed: equal copies stay separate
        # entries here (the number of copies is Mesos's shared count).
        return False
    if not _same_kind(left, right):
        return False
    if left.HasField("disk"):
        if left.disk.HasField("source"):
            kind = left.disk.source.type
            if kind in (DiskSource.BLOCK, DiskSource.MOUNT):
                return False
            if kind == DiskSource.RAW and left.disk.source.HasField("id"):
                return False
        if left.disk.HasField("persistence"):
            return False
    return True


def _subtractable(left: mesos_pb2.Resource, right: mesos_pb2.Resource) -> bool:
    if left.HasField("shared") != right.HasField("shared"):
        return False
    if left.HasField("shared"):
        return resource_equal(left, right)
    if not _same_kind(left, right):
        return False
    if left.HasField("disk"):
        if left.disk.HasField("source"):
            kind = left.disk.source.type
            if kind in (DiskSource.BLOCK, DiskSource.MOUNT) and not resource_equal(left, right):
                return False
            if (kind == DiskSource.RAW and left.disk.source.HasField("id")
                    and not resource_equal(left, right)):
                return False
        if left.disk.HasField("persistence") and not resource_equal(left, right):
            return False
    return True


def resource_contains(left: mesos_pb2.Resource, right: mesos_pb2.Resource) -> bool:
    """Whether one resource entry covers another (same kind, enough of it)."""
    if not _subtractable(left, right):
        return False
    if left.type == mesos_pb2.Value.SCALAR:
        return _fixed(right.scalar.value) <= _fixed(left.scalar.value)
    if left.type == mesos_pb2.Value.RANGES:
        return ranges_contain(_ranges_of(left.ranges), _ranges_of(right.ranges))
    if left.type == mesos_pb2.Value.SET:
        return set(right.set.item) <= set(left.set.item)
    return False


# ================================================================ arithmetic
def _add_value(target: mesos_pb2.Resource, other: mesos_pb2.Resource) -> None:
    if target.type == mesos_pb2.Value.SCALAR:
        target.scalar.value = scalar_add(target.scalar.value, other.scalar.value)
    elif target.type == mesos_pb2.Value.RANGES:
        _set_ranges(target.ranges, coalesce_ranges(
            _ranges_of(target.ranges) + _ranges_of(other.ranges)))
    elif target.type == mesos_pb2.Value.SET:
        for item in other.set.item:
            if item not in target.set.item:
                target.set.item.append(item)


def _subtract_value(target: mesos_pb2.Resource, other: mesos_pb2.Resource) -> None:
    if target.type == mesos_pb2.Value.SCALAR:
        target.scalar.value = scalar_subtract(target.scalar.value, other.scalar.value)
    elif target.type == mesos_pb2.Value.RANGES:
        _set_ranges(target.ranges, subtract_ranges(
            _ranges_of(target.ranges), _ranges_of(other.ranges)))
    elif target.type == mesos_pb2.Value.SET:
        for item in other.set.item:
            if item in target.set.item:
                target.set.item.remove(item)


def _add_one(result: list[mesos_pb2.Resource], resource: mesos_pb2.Resource) -> None:
    if is_empty(resource):
        return
    for existing in result:
        if _addable(existing, resource):
            _add_value(existing, resource)
            return
    result.append(copy.deepcopy(resource))


def _subtract_one(result: list[mesos_pb2.Resource], resource: mesos_pb2.Resource) -> None:
    if is_empty(resource):
        return
    for index, existing in enumerate(result):
        if _subtractable(existing, resource):
            if is_shared(existing):
                del result[index]
                return
            _subtract_value(existing, resource)
            negative = (existing.type == mesos_pb2.Value.SCALAR and existing.scalar.value < 0)
            if negative or is_empty(existing):
                del result[index]
            return


def merge(resources: Iterable[mesos_pb2.Resource]) -> list[mesos_pb2.Resource]:
    """The resources as a Mesos `Resources`: invalid and empty ones dropped,
    addable ones combined (copies; the input is not modified)."""
    result: list[mesos_pb2.Resource] = []
    for resource in resources:
        if validate_resource(resource) is None:
            _add_one(result, resource)
    return result


def add(left: Iterable[mesos_pb2.Resource],
        right: Iterable[mesos_pb2.Resource]) -> list[mesos_pb2.Resource]:
    """`left + right`: scalars add, ranges merge, sets union (per name/role/...)."""
    result = merge(left)
    for resource in right:
        if validate_resource(resource) is None:
            _add_one(result, resource)
    return result


def subtract(left: Iterable[mesos_pb2.Resource],
             right: Iterable[mesos_pb2.Resource]) -> list[mesos_pb2.Resource]:
    """`left - right`; entries that become empty or negative disappear."""
    result = merge(left)
    for resource in merge(right):
        _subtract_one(result, resource)
    return result


def contains(left: Iterable[mesos_pb2.Resource], right: Iterable[mesos_pb2.Resource]) -> bool:
    """Whether `left` holds at least `right` (Mesos's `Resources::contains`)."""
    remaining = merge(left)
    for resource in merge(right):
        if not any(resource_contains(have, resource) for have in remaining):
            return False
        if is_persistent_volume(resource):
            _subtract_one(remaining, resource)
    return True


def equals(left: Iterable[mesos_pb2.Resource], right: Iterable[mesos_pb2.Resource]) -> bool:
    left, right = list(left), list(right)
    return contains(left, right) and contains(right, left)


def filter_by_name(resources: Iterable[mesos_pb2.Resource], name: str) -> list[mesos_pb2.Resource]:
    return [resource for resource in resources if resource.name == name]


def unreserved(resources: Iterable[mesos_pb2.Resource]) -> list[mesos_pb2.Resource]:
    return [resource for resource in resources if is_unreserved(resource)]


def reserved(resources: Iterable[mesos_pb2.Resource],
             role: str | None = None) -> list[mesos_pb2.Resource]:
    return [resource for resource in resources if is_reserved(resource, role)]


# =================================================================== queries
def _valid(resources: Iterable[mesos_pb2.Resource]) -> list[mesos_pb2.Resource]:
    return [r for r in resources if validate_resource(r) is None and not is_empty(r)]


def scalar(resources: Iterable[mesos_pb2.Resource], name: str) -> float | None:
    """The total of the scalar resources called `name` (any role), or None."""
    total: float | None = None
    for resource in _valid(resources):
        if resource.name == name and resource.type == mesos_pb2.Value.SCALAR:
            total = scalar_add(total or 0.0, resource.scalar.value)
    return total


def cpus(resources: Iterable[mesos_pb2.Resource]) -> float | None:
    return scalar(resources, "cpus")


def gpus(resources: Iterable[mesos_pb2.Resource]) -> float | None:
    return scalar(resources, "gpus")


def mem(resources: Iterable[mesos_pb2.Resource]) -> int | None:
    """Memory in whole megabytes (truncated, as Mesos's `Resources::mem`)."""
    value = scalar(resources, "mem")
    return None if value is None else int(value)


def disk(resources: Iterable[mesos_pb2.Resource]) -> int | None:
    """Disk in whole megabytes (truncated, as Mesos's `Resources::disk`)."""
    value = scalar(resources, "disk")
    return None if value is None else int(value)


def ranges(resources: Iterable[mesos_pb2.Resource], name: str) -> list[tuple[int, int]] | None:
    found = False
    total: list[tuple[int, int]] = []
    for resource in _valid(resources):
        if resource.name == name and resource.type == mesos_pb2.Value.RANGES:
            found = True
            total = coalesce_ranges(total + _ranges_of(resource.ranges))
    return total if found else None


def ports(resources: Iterable[mesos_pb2.Resource]) -> list[tuple[int, int]] | None:
    """The `ports` ranges as (begin, end) pairs, coalesced, or None."""
    return ranges(resources, "ports")


def set_items(resources: Iterable[mesos_pb2.Resource], name: str) -> list[str] | None:
    found = False
    items: list[str] = []
    for resource in _valid(resources):
        if resource.name == name and resource.type == mesos_pb2.Value.SET:
            found = True
            items.extend(item for item in resource.set.item if item not in items)
    return items if found else None


# ================================================================== printing
def format_labels(labels: mesos_pb2.Labels) -> str:
    shown = []
    for label in labels.labels:
        shown.append(f"{label.key}: {label.value}" if label.HasField("value") else label.key)
    return "{" + ", ".join(shown) + "}"


def format_disk_source(source: DiskSource) -> str:
    csi = None
    if source.HasField("id") or source.HasField("profile"):
        csi = f"({source.vendor},{source.id},{source.profile})"
    kind = source.type
    if kind == DiskSource.MOUNT:
        return "MOUNT" + (csi if csi is not None else
                          (":" + source.mount.root if source.mount.HasField("root") else ""))
    if kind == DiskSource.PATH:
        return "PATH" + (csi if csi is not None else
                         (":" + source.path.root if source.path.HasField("root") else ""))
    if kind == DiskSource.BLOCK:
        return "BLOCK" + (csi or "")
    if kind == DiskSource.RAW:
        return "RAW" + (csi or "")
    return "UNKNOWN"


def _format_volume(volume: mesos_pb2.Volume) -> str:
    text = volume.container_path
    if volume.HasField("host_path"):
        text = volume.host_path + ":" + text
        if volume.HasField("mode"):
            text += ":rw" if volume.mode == mesos_pb2.Volume.RW else ":ro"
    return text


def _format_disk(info: mesos_pb2.Resource.DiskInfo) -> str:
    text = ""
    if info.HasField("source"):
        text += format_disk_source(info.source)
    if info.HasField("persistence"):
        if info.HasField("source"):
            text += ","
        text += info.persistence.id
    if info.HasField("volume"):
        text += ":" + _format_volume(info.volume)
    return text


def _format_reservation(reservation: ReservationInfo) -> str:
    text = ReservationInfo.Type.Name(reservation.type) + "," + reservation.role
    if reservation.HasField("principal"):
        text += "," + reservation.principal
    if reservation.HasField("labels"):
        text += "," + format_labels(reservation.labels)
    return text


def format_resource(resource: mesos_pb2.Resource) -> str:
    """One resource as Mesos prints it: `cpus:2`,
    `cpus(reservations: [(STATIC,role)]):2`, `disk[PATH:/mnt,id:/path]:10`..."""
    text = resource.name
    if resource.HasField("allocation_info"):
        text += f"(allocated: {resource.allocation_info.role})"
    if len(resource.reservations) > 0:
        text += "(reservations: [" + ",".join(
            "(" + _format_reservation(r) + ")" for r in resource.reservations) + "])"
    if resource.HasField("disk"):
        text += "[" + _format_disk(resource.disk) + "]"
    if resource.HasField("revocable"):
        text += "{REV}"
    if resource.HasField("shared"):
        text += "<SHARED>"
    text += ":"
    if resource.type == mesos_pb2.Value.SCALAR:
        text += format_scalar(resource.scalar.value)
    elif resource.type == mesos_pb2.Value.RANGES:
        text += format_ranges(_ranges_of(resource.ranges))
    elif resource.type == mesos_pb2.Value.SET:
        text += format_set(resource.set.item)
    # A TEXT resource (which Mesos aborts on printing) shows no value.
    return text


def resources_to_text(resources: Iterable[mesos_pb2.Resource]) -> str:
    """A resource collection as Mesos prints one: `cpus:2; mem:1024; ports:[31000-32000]`
    (`{}` when empty). The entries are printed as given (see `merge`)."""
    shown = [format_resource(resource) for resource in resources]
    return "; ".join(shown) if shown else "{}"


# ================================================================ defaults
def _total_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
        raise OSError("MemTotal not found in /proc/meminfo")


def _cpu_count() -> float:
    try:
        count = os.sysconf("SC_NPROCESSORS_ONLN")
    except (ValueError, OSError):
        count = -1
    return float(count) if count > 0 else DEFAULT_CPUS


def probed_cpus() -> float:
    """The number of online CPUs (Mesos's `os::cpus()`), 1 if unknown."""
    return _cpu_count()


def probed_mem_mb() -> int:
    """Memory the agent offers by default: total minus 1 GB, or half of the
    total when it is under 2 GB; in whole megabytes."""
    try:
        total = _total_memory()
    except OSError:
        return DEFAULT_MEM // MEGABYTE
    usable = total - GIGABYTE if total >= 2 * GIGABYTE else total // 2
    return usable // MEGABYTE


def probed_disk_mb(work_dir: str) -> int:
    """Disk the agent offers by default: the size of work_dir's filesystem minus
    5 GB, or half of it when under 10 GB; in whole megabytes."""
    try:
        stat = os.statvfs(work_dir)
        total = stat.f_frsize * stat.f_blocks
    except OSError:
        return DEFAULT_DISK // MEGABYTE
    usable = total - 5 * GIGABYTE if total >= 10 * GIGABYTE else total // 2
    return usable // MEGABYTE


def default_resources(work_dir: str, default_role: str = "*") -> list[mesos_pb2.Resource]:
    """The resources an agent without `--resources` offers: cpus, mem, disk, ports."""
    return agent_resources(None, work_dir, default_role)


def agent_resources(flag_text: str | None, work_dir: str,
                    default_role: str = "*") -> list[mesos_pb2.Resource]:
    """The agent's total resources, as Mesos's `Containerizer::resources`:
    the `--resources` flag, plus probed cpus/mem/disk and the default ports
    for whichever of those the flag does not name (naming one, even with a
    zero amount such as `cpus:0`, disables its probing)."""
    text = flag_text or ""
    result = parse_resources(text, default_role)
    named = {resource.name for resource in resources_from_string(text, default_role)}

    if "cpus" not in named:
        _add_one(result, parse_resource("cpus", format_scalar(probed_cpus()), default_role))

    # The GPUs named by the flag are passed through (without the gpu/nvidia
    # isolator nothing is discovered) and end up after the others so far.
    result = ([r for r in result if r.name != "gpus"] +
              [r for r in result if r.name == "gpus"])

    if "mem" not in named:
        _add_one(result, parse_resource("mem", str(probed_mem_mb()), default_role))
    if "disk" not in named:
        _add_one(result, parse_resource("disk", str(probed_disk_mb(work_dir)), default_role))
    if "ports" not in named:
        _add_one(result, parse_resource("ports", DEFAULT_PORTS, default_role))

    error = validate_resources(result)
    if error is not None:
        raise ResourcesError(error)
    return result
