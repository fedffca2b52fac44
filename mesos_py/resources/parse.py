"""Parsing resources: both forms of the `--resources` flag.

`parse_resources` accepts:

* text: `cpus:2;mem:1024;ports:[31000-32000,33000-33100];bugs(role):{a,b}`
* JSON: a list of `Resource` objects in Mesos's JSON mapping.

Errors are raised as `ResourcesError` with Mesos's messages.
"""

from __future__ import annotations

import json
import math
import re
from typing import Sequence

from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.resources.arithmetic import (
    _add_one,
    is_dynamically_reserved,
    is_persistent_volume,
    is_revocable,
)
from mesos_py.resources.validate import validate_resource
from mesos_py.resources.values import ReservationInfo, _set_ranges, _tokenize

_UINT64_MAX = 2 ** 64 - 1
_MIN_NORMAL = 2.2250738585072014e-308


class ResourcesError(ValueError):
    """A resource text/JSON that Mesos would refuse (the message is Mesos's)."""


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
