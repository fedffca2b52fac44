"""Validation of resources: Mesos's `Resources::validate` and `roles::validate`.

The functions return Mesos's error message, or None when the resource is
valid; they never raise.
"""

from __future__ import annotations

from typing import Iterable

from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.resources.text import format_disk_source, format_labels, format_resource
from mesos_py.resources.values import (
    DiskSource,
    ReservationInfo,
    _fixed,
    _labels_equal,
    _tokenize,
)


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
