"""Protobuf ⇄ JSON with Mesos's mapping (stout's), and media-type negotiation.

Output: fields in declaration order; a singular field appears when set, or
when it has an explicit default and is not deprecated; repeated fields when
non-empty; enums by name; bytes as base64; 64-bit integers as JSON numbers.

Input: unknown keys are ignored; `null` leaves a field unset; numbers and
booleans are also accepted as strings ("3", "true", "Infinity"); an unknown
enum name is dropped unless the field is required; required fields are
checked last ("Missing required fields: ...").
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

M = TypeVar("M", bound=Message)

APPLICATION_JSON = "application/json"
APPLICATION_PROTOBUF = "application/x-protobuf"
APPLICATION_RECORDIO = "application/recordio"

_FLOATS = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)
_INTEGERS = frozenset({
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32})
_INTEGER_RANGES = {
    FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1)}


class DecodeFailure(ValueError):
    """A request body that does not decode into the expected message."""


# Messages Mesos writes field by field (src/slave/http.cpp `jsonify...`): their
# lists appear even when empty (`"pending_tasks": []`).
LISTS_ALWAYS_SHOWN = frozenset({
    "mesos.v1.agent.Response.GetTasks", "mesos.v1.agent.Response.GetExecutors",
    "mesos.v1.agent.Response.GetFrameworks"})


# =================================================================== output
def message_to_json(message: Message) -> dict[str, Any]:
    result: dict[str, Any] = {}
    fields: Any = message.DESCRIPTOR.fields
    show_empty = message.DESCRIPTOR.full_name in LISTS_ALWAYS_SHOWN
    for field in fields:
        if _is_map(field):
            entries = getattr(message, field.name)
            if len(entries):
                value_field = field.message_type.fields_by_name["value"]
                result[field.name] = {str(_key_json(key)): _value_json(value_field, entries[key])
                                      for key in entries}
        elif field.is_repeated:
            values = getattr(message, field.name)
            if len(values) or show_empty:
                result[field.name] = [_value_json(field, value) for value in values]
        elif message.HasField(field.name) or (field.has_default_value and
                                             not field.GetOptions().deprecated):
            result[field.name] = _value_json(field, getattr(message, field.name))
    return result


def _key_json(key: Any) -> Any:
    return ("true" if key else "false") if isinstance(key, bool) else key


def _value_json(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_to_json(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else value
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def dumps(message: Message) -> bytes:
    return json.dumps(message_to_json(message), separators=(",", ":"),
                      allow_nan=True).encode()


# ==================================================================== input
def json_to_message(value: Any, cls: type[M]) -> M:
    if not isinstance(value, dict):
        raise DecodeFailure("Expecting a JSON object")
    message = cls()
    _parse_object(message, value)
    _check_initialized(message)
    return message


def loads(body: bytes, cls: type[M]) -> M:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise DecodeFailure(f"Failed to parse body into JSON: {error}")
    return json_to_message(value, cls)


def parse_protobuf(body: bytes, cls: type[M]) -> M:
    message = cls()
    try:
        message.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError):
        raise DecodeFailure("Failed to parse body into a protobuf object")
    if not message.IsInitialized():
        raise DecodeFailure("Failed to parse body into a protobuf object")
    return message


def _check_initialized(message: Message) -> None:
    missing: list[str] = message.FindInitializationErrors()  # type: ignore[attr-defined]
    if missing:
        raise DecodeFailure("Missing required fields: " + ", ".join(missing))


def _parse_object(message: Message, value: dict[str, Any]) -> None:
    descriptor: Any = message.DESCRIPTOR
    for name, item in value.items():
        field = descriptor.fields_by_name.get(name)
        if field is not None and item is not None:
            _parse_field(message, field, item)


def _parse_field(message: Message, field: Any, value: Any) -> None:
    if isinstance(value, list):
        if not field.is_repeated or _is_map(field):
            raise DecodeFailure(f"Not expecting a JSON array for field '{field.name}'")
        for element in value:
            if element is not None:
                _add_value(message, field, element)
        return
    if _is_map(field):
        if not isinstance(value, dict):
            raise DecodeFailure(f"Expecting a JSON object for field '{field.name}'")
        _parse_map(message, field, value)
        return
    if field.is_repeated:
        _add_value(message, field, value)  # stout accepts a lone value here
        return
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if not isinstance(value, dict):
            raise DecodeFailure(_unexpected(value, field))
        sub = getattr(message, field.name)
        sub.SetInParent()
        _parse_object(sub, value)
        return
    converted = _scalar(field, value)
    if converted is not _DROP:
        _set(message, field, converted)


def _add_value(message: Message, field: Any, value: Any) -> None:
    container = getattr(message, field.name)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if not isinstance(value, dict):
            raise DecodeFailure(_unexpected(value, field))
        _parse_object(container.add(), value)
        return
    converted = _scalar(field, value)
    if converted is not _DROP:
        try:
            container.append(converted)
        except (ValueError, TypeError) as error:
            raise DecodeFailure(f"Invalid value for field '{field.name}': {error}")


def _parse_map(message: Message, field: Any, value: dict[str, Any]) -> None:
    entries = getattr(message, field.name)
    key_field = field.message_type.fields_by_name["key"]
    value_field = field.message_type.fields_by_name["value"]
    for raw_key, raw_value in value.items():
        key = _scalar(key_field, raw_key)
        if value_field.type == FieldDescriptor.TYPE_MESSAGE:
            if not isinstance(raw_value, dict):
                raise DecodeFailure(_unexpected(raw_value, value_field))
            _parse_object(entries[key], raw_value)
        else:
            converted = _scalar(value_field, raw_value)
            if converted is not _DROP:
                entries[key] = converted


_DROP = object()


def _scalar(field: Any, value: Any) -> Any:
    kind = field.type
    if isinstance(value, dict):
        raise DecodeFailure(f"Not expecting a JSON object for field '{field.name}'")
    if kind == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise DecodeFailure(_unexpected(value, field))
        return value
    if kind == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, str):
            raise DecodeFailure(_unexpected(value, field))
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise DecodeFailure(f"Failed to base64 decode bytes field '{field.name}': {error}")
    if kind == FieldDescriptor.TYPE_ENUM:
        if not isinstance(value, str):
            raise DecodeFailure(_unexpected(value, field))
        enum_value = field.enum_type.values_by_name.get(value)
        if enum_value is None:
            if field.is_required:
                raise DecodeFailure(f"Failed to find enum for '{value}'")
            return _DROP
        return enum_value.number
    if kind == FieldDescriptor.TYPE_BOOL:
        return _boolean(field, value)
    if kind in _FLOATS:
        return _float(field, value)
    if kind in _INTEGERS:
        return _integer(field, value)
    raise DecodeFailure(_unexpected(value, field))


def _boolean(field: Any, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if isinstance(value, str):
        raise DecodeFailure(f"Failed to parse '{value}' as a JSON boolean for field '{field.name}'")
    raise DecodeFailure(_unexpected(value, field))


def _float(field: Any, value: Any) -> float:
    if isinstance(value, bool):
        raise DecodeFailure(_unexpected(value, field))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        if value in ("Infinity", "-Infinity"):
            return math.inf if value == "Infinity" else -math.inf
        try:
            number = json.loads(value)
        except ValueError:
            number = None
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            return float(number)
        raise DecodeFailure(f"Failed to parse '{value}' as a JSON number for field '{field.name}'")
    raise DecodeFailure(_unexpected(value, field))


def _integer(field: Any, value: Any) -> int:
    if isinstance(value, bool):
        raise DecodeFailure(_unexpected(value, field))
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, (int, float)) or isinstance(parsed, bool):
            raise DecodeFailure(
                f"Failed to parse '{value}' as a JSON number for field '{field.name}'")
        value = parsed
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DecodeFailure(f"Value {value} is out of range for field '{field.name}'")
        value = int(value)  # stout truncates a fractional number
    if not isinstance(value, int):
        raise DecodeFailure(_unexpected(value, field))
    low, high = _INTEGER_RANGES[field.type]
    if not low <= value <= high:
        raise DecodeFailure(f"Value {value} is out of range for field '{field.name}'")
    return value


def _set(message: Message, field: Any, value: Any) -> None:
    try:
        setattr(message, field.name, value)
    except (ValueError, TypeError) as error:
        raise DecodeFailure(f"Invalid value for field '{field.name}': {error}")


def _unexpected(value: Any, field: Any) -> str:
    kind = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), "value")
    return f"Not expecting a JSON {kind} for field '{field.name}'"


def _is_map(field: Any) -> bool:
    return (field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None
            and field.message_type.GetOptions().map_entry)


# ============================================================ media types
def parse_accept(header: str | None) -> list[tuple[str, float]]:
    """Media ranges of an Accept header with their q-values (no header: */*)."""
    if header is None or not header.strip():
        return [("*/*", 1.0)]
    ranges = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        quality = 1.0
        for parameter in pieces[1:]:
            name, _, raw = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(raw)
                except ValueError:
                    quality = 0.0
        ranges.append((pieces[0].lower(), quality))
    return ranges


def accepts(header: str | None, media_type: str) -> bool:
    """Whether `media_type` is acceptable (Mesos's `acceptsMediaType`)."""
    kind, _, _ = media_type.partition("/")
    best: tuple[int, float] | None = None
    for candidate, quality in parse_accept(header):
        if candidate == media_type:
            specificity = 2
        elif candidate == f"{kind}/*":
            specificity = 1
        elif candidate == "*/*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, quality)
    return best is not None and best[1] > 0


def media_type(header: str | None) -> str | None:
    """The bare media type of a Content-Type header (parameters dropped)."""
    if header is None:
        return None
    return header.split(";", 1)[0].strip().lower()


def encode(message: Message, content_type: str) -> bytes:
    if content_type == APPLICATION_PROTOBUF:
        return message.SerializeToString()
    return dumps(message)


def decode(body: bytes, content_type: str, cls: type[M]) -> M:
    if content_type == APPLICATION_PROTOBUF:
        return parse_protobuf(body, cls)
    return loads(body, cls)


def recordio(record: bytes) -> bytes:
    """One RecordIO record: `<length>\\n<bytes>`."""
    return str(len(record)).encode() + b"\n" + record
