"""Agent attributes (`--attributes`): Mesos's text form and a JSON form.

Text: `name:value` pairs separated by `;` (or newlines); a value is a scalar
(`2`), ranges (`[1-10,20-30]`) or text (`r1`); sets are refused, as in Mesos.
JSON: an array of `Attribute` objects in Mesos's JSON mapping, e.g.
`[{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}]`.

Errors raise `ResourcesError` with a message naming the offending pair.
"""

from __future__ import annotations

import json

from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.resources.parse import ResourcesError, parse_value
from mesos_py.resources.text import format_ranges, format_scalar, format_set


def parse_attributes(text: str) -> list[mesos_pb2.Attribute]:
    stripped = text.strip()
    if stripped.startswith("["):
        return _from_json(stripped)
    attributes: list[mesos_pb2.Attribute] = []
    for token in [t for t in stripped.replace("\n", ";").split(";") if t]:
        name, sep, value = token.partition(":")
        if not sep or not name or not value:
            raise ResourcesError(f"Invalid attribute key:value pair '{token}'")
        attributes.append(_parse_one(name, value))
    return attributes


def _parse_one(name: str, text: str) -> mesos_pb2.Attribute:
    try:
        value = parse_value(text)
    except ResourcesError as error:
        raise ResourcesError(f"Failed to parse attribute '{name}' value '{text}': {error}")
    attribute = mesos_pb2.Attribute(name=name, type=value.type)
    if value.type == mesos_pb2.Value.SCALAR:
        attribute.scalar.CopyFrom(value.scalar)
    elif value.type == mesos_pb2.Value.RANGES:
        attribute.ranges.CopyFrom(value.ranges)
    elif value.type == mesos_pb2.Value.TEXT:
        attribute.text.CopyFrom(value.text)
    else:
        raise ResourcesError(f"Bad type for attribute '{name}' value '{text}': sets are not "
                             "allowed in attributes")
    return attribute


def _from_json(text: str) -> list[mesos_pb2.Attribute]:
    try:
        items = json.loads(text)
    except ValueError as error:
        raise ResourcesError(f"Failed to parse attributes as JSON: {error}")
    if not isinstance(items, list):
        raise ResourcesError("Expecting a JSON array of attributes")
    from mesos_py.http import codec  # the JSON mapping; imported late (no cycle at import)

    result = []
    for item in items:
        try:
            attribute = codec.json_to_message(item, mesos_pb2.Attribute)
        except codec.DecodeFailure as error:
            raise ResourcesError(f"Invalid attribute {json.dumps(item)}: {error}")
        kind = {mesos_pb2.Value.SCALAR: "scalar", mesos_pb2.Value.RANGES: "ranges",
                mesos_pb2.Value.TEXT: "text"}.get(attribute.type)
        if kind is None or not attribute.HasField(kind):  # type: ignore[arg-type]
            raise ResourcesError(f"Invalid attribute '{attribute.name}': expecting a "
                                 "'scalar', 'ranges' or 'text' value matching its type")
        result.append(attribute)
    return result


def attribute_value_json(attribute: mesos_pb2.Attribute) -> float | str:
    """The value as Mesos shows it in `/state` (`"rack": "r1"`, `"u": 2.0`)."""
    if attribute.type == mesos_pb2.Value.SCALAR:
        return attribute.scalar.value
    if attribute.type == mesos_pb2.Value.RANGES:
        return format_ranges((r.begin, r.end) for r in attribute.ranges.range)
    if attribute.type == mesos_pb2.Value.SET:
        return format_set(attribute.set.item)
    return attribute.text.value


def format_attribute(attribute: mesos_pb2.Attribute) -> str:
    value = attribute_value_json(attribute)
    return f"{attribute.name}:{format_scalar(value) if isinstance(value, float) else value}"
