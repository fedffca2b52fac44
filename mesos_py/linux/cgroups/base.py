"""What every part of `mesos_py.linux.cgroups` shares: the version and the error."""

from __future__ import annotations

import enum


class Version(enum.Enum):
    V1 = 1
    V2 = 2


class CgroupError(Exception):
    """A cgroup operation failed; the message names the cgroup and the cause."""
