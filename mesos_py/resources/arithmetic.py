"""Combining resource lists, and queries on them.

A resource list here plays the part of Mesos's `Resources` collection: the
functions that combine lists (`add`, `subtract`, `contains`, `merge`) give
results in which invalid and empty resources are dropped and "addable"
resources (same name, type, reservations, disk, revocability, provider) are
combined into one entry; scalars use Mesos's fixed-point arithmetic (three
decimal digits), ranges are coalesced, sets are unions.
"""

from __future__ import annotations

import copy
from typing import Iterable

from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.resources.validate import validate_resource
from mesos_py.resources.values import (
    DiskSource,
    ReservationInfo,
    _fixed,
    _labels_equal,
    _ranges_of,
    _set_ranges,
    coalesce_ranges,
    ranges_contain,
    scalar_add,
    scalar_subtract,
    subtract_ranges,
)


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
