"""Resources in Mesos's text form, as Mesos prints them (`operator<<`):
`cpus:2`, `cpus(reservations: [(STATIC,role)]):2`, `ports:[31000-32000]`,
`cpus:2; mem:1024` for a collection.
"""

from __future__ import annotations

from typing import Iterable

from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.resources.values import DiskSource, ReservationInfo, _fixed, _floating, _ranges_of


# ==================================================================== values
def format_scalar(value: float) -> str:
    """A scalar as Mesos prints it (3 decimals kept, 15 significant digits)."""
    return f"{_floating(_fixed(value)):.15g}"


def format_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    return "[" + ", ".join(f"{begin}-{end}" for begin, end in ranges) + "]"


def format_set(items: Iterable[str]) -> str:
    return "{" + ", ".join(items) + "}"


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
