"""The isolators this agent offers, in dependency (isolation) order.

`--isolation` picks entries by name; whatever order they are given in, they
prepare in the order of `CREATORS` and clean up in the reverse order.
"""

from __future__ import annotations

from typing import Sequence

from mesos_py.actors import Runtime
from mesos_py.isolators.base import Isolator, IsolatorHandle
from mesos_py.isolators.filesystem import PosixFilesystemIsolator
from mesos_py.isolators.posix import PosixCpuIsolator, PosixMemIsolator

CREATORS: list[type[Isolator]] = [
    PosixFilesystemIsolator,
    PosixCpuIsolator,
    PosixMemIsolator,
]

BY_NAME = {cls.NAME: cls for cls in CREATORS}


def resolve_isolation(isolation: str) -> list[str]:
    """The isolator names to create, in isolation order.

    Raises ValueError naming an unknown isolator. As in Mesos, filesystem/posix
    is added when no filesystem isolator is named.
    """
    names = {name.strip() for name in isolation.split(",") if name.strip()}
    for name in sorted(names):
        if name not in BY_NAME:
            raise ValueError(f"Unknown or unsupported isolator '{name}' "
                             f"(this agent offers: {', '.join(BY_NAME)})")
    if not any(name.startswith("filesystem/") for name in names):
        names.add(PosixFilesystemIsolator.NAME)
    return [cls.NAME for cls in CREATORS if cls.NAME in names]


def create_isolators(runtime: Runtime, names: Sequence[str]) -> list[IsolatorHandle]:
    handles = []
    for name in names:
        cls = BY_NAME[name]
        pid = runtime.spawn(cls, name=name.replace("/", "_"))
        handles.append(IsolatorHandle(name, cls, pid))
    return handles
