"""Mesos's resource model, as far as an agent needs it.

Resources are kept in the "post-reservation-refinement" format: a static
reservation `cpus(role):2` is a `reservations` stack with one STATIC entry
and no legacy `role` field (`Resource.role` then reads as its default "*").

One module per concept; everything public is re-exported here, so
`from mesos_py.resources import parse_resources` and `resources.cpus(...)`
work:

* `parse`: the text and JSON forms of `--resources` (`parse_resources`),
  `ResourcesError`;
* `validate`: Mesos's `Resources::validate` (`validate_resource`,
  `validate_resources`, `validate_role`);
* `arithmetic`: combining lists as Mesos's `Resources` does (`add`,
  `subtract`, `contains`, `merge`) and queries (`cpus`, `mem`, `ports`, ...);
* `text`: Mesos's text form (`format_resource`, `resources_to_text`);
* `defaults`: probing the host, and the agent's total (`agent_resources`);
* `values`: fixed-point scalars, ranges and other helpers the others share.
"""

from __future__ import annotations

from mesos_py.resources.arithmetic import (
    add,
    contains,
    cpus,
    disk,
    equals,
    filter_by_name,
    gpus,
    is_dynamically_reserved,
    is_empty,
    is_persistent_volume,
    is_reserved,
    is_revocable,
    is_shared,
    is_unreserved,
    mem,
    merge,
    ports,
    ranges,
    reservation_role,
    reserved,
    resource_contains,
    resource_equal,
    scalar,
    set_items,
    subtract,
    unreserved,
)
from mesos_py.resources.defaults import (
    DEFAULT_CPUS,
    DEFAULT_DISK,
    DEFAULT_MEM,
    DEFAULT_PORTS,
    GIGABYTE,
    MEGABYTE,
    agent_resources,
    default_resources,
    probed_cpus,
    probed_disk_mb,
    probed_mem_mb,
)
from mesos_py.resources.parse import (
    ResourcesError,
    parse_resource,
    parse_resources,
    parse_value,
    resources_from_json,
    resources_from_simple_string,
    resources_from_string,
    upgrade_resource,
    validate_input_scalar,
)
from mesos_py.resources.text import (
    format_disk_source,
    format_labels,
    format_ranges,
    format_resource,
    format_scalar,
    format_set,
    resources_to_text,
)
from mesos_py.resources.validate import (
    is_strict_subrole,
    validate_resource,
    validate_resources,
    validate_role,
)
from mesos_py.resources.values import (
    DiskSource,
    ReservationInfo,
    Resource,
    Value,
    coalesce_ranges,
    ranges_contain,
    scalar_add,
    scalar_subtract,
    subtract_ranges,
)

__all__ = [
    "DEFAULT_CPUS",
    "DEFAULT_DISK",
    "DEFAULT_MEM",
    "DEFAULT_PORTS",
    "DiskSource",
    "GIGABYTE",
    "MEGABYTE",
    "ReservationInfo",
    "Resource",
    "ResourcesError",
    "Value",
    "add",
    "agent_resources",
    "coalesce_ranges",
    "contains",
    "cpus",
    "default_resources",
    "disk",
    "equals",
    "filter_by_name",
    "format_disk_source",
    "format_labels",
    "format_ranges",
    "format_resource",
    "format_scalar",
    "format_set",
    "gpus",
    "is_dynamically_reserved",
    "is_empty",
    "is_persistent_volume",
    "is_reserved",
    "is_revocable",
    "is_shared",
    "is_strict_subrole",
    "is_unreserved",
    "mem",
    "merge",
    "parse_resource",
    "parse_resources",
    "parse_value",
    "ports",
    "probed_cpus",
    "probed_disk_mb",
    "probed_mem_mb",
    "ranges",
    "ranges_contain",
    "reservation_role",
    "reserved",
    "resource_contains",
    "resource_equal",
    "resources_from_json",
    "resources_from_simple_string",
    "resources_from_string",
    "resources_to_text",
    "scalar",
    "scalar_add",
    "scalar_subtract",
    "set_items",
    "subtract",
    "subtract_ranges",
    "unreserved",
    "upgrade_resource",
    "validate_input_scalar",
    "validate_resource",
    "validate_resources",
    "validate_role",
]
