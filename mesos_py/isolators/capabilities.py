"""linux/capabilities: the Linux capabilities a container's command runs with.

Sources, as in Mesos 1.11: ContainerInfo.linux_info.effective_capabilities
(or the deprecated capability_info) and bounding_capabilities; the agent's
`--effective_capabilities` (the default effective set) and
`--bounding_capabilities` (the most a container may ask for; absent: all).

Rules of `prepare`:
- effective = the container's, else `--effective_capabilities`, else none;
- a bounding set the container asks for must lie within
  `--bounding_capabilities`;
- bounding = the container's, else `--bounding_capabilities`, else effective;
- effective must lie within bounding;
- neither set: the launch info says nothing and the command keeps the
  user's default capabilities.

The launch helper applies the result (`mesos_py.linux.capabilities`).
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar, Sequence, cast

from mesos_py.errors import InvalidRequest
from mesos_py.isolators.base import Isolator, StartupError
from mesos_py.linux import capabilities
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig, ContainerLaunchInfo
from mesos_py.protos.mesos.v1.mesos_pb2 import CapabilityInfo, ContainerID

EXAMPLE = '{"capabilities": ["NET_RAW", "MKNOD"]}'


class CapabilitiesStartupError(StartupError):
    """The isolator cannot start (one line, for the agent's start-up error)."""


class CapabilitiesFlagError(CapabilitiesStartupError):
    """A capabilities flag is malformed; `flag` names it."""

    def __init__(self, flag: str, reason: str) -> None:
        super().__init__(f"Failed to load flag '{flag}': {reason}")
        self.flag, self.reason = flag, reason


def parse_capabilities(text: str) -> frozenset[int]:
    """`{"capabilities": ["NET_RAW", ...]}` as kernel numbers; ValueError saying what is wrong."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ValueError(f"Invalid JSON ({error}); expecting e.g. {EXAMPLE}")
    if not isinstance(value, dict):
        raise ValueError(f"Expecting a JSON object, e.g. {EXAMPLE}")
    names = value.get("capabilities")
    if names is None:
        names = []
    elif not isinstance(names, list):
        names = [names]  # stout accepts a lone value for a repeated field
    numbers = set()
    for item in names:
        if not isinstance(item, str):
            raise ValueError(f"Expecting capability names as strings, got {json.dumps(item)}")
        if item not in capabilities.NUMBERS:
            hint = ""
            if item.upper().removeprefix("CAP_") in capabilities.NUMBERS:
                hint = f" (did you mean '{item.upper().removeprefix('CAP_')}'?)"
            raise ValueError(f"Unknown capability '{item}'{hint}")
        numbers.add(capabilities.NUMBERS[item])
    return frozenset(numbers)


def to_capability_info(numbers: frozenset[int]) -> CapabilityInfo:
    info = CapabilityInfo()
    info.capabilities.extend(cast(CapabilityInfo.Capability, capabilities.to_protobuf(n))
                             for n in sorted(numbers))
    return info


def _from_capability_info(info: CapabilityInfo, field: str) -> frozenset[int]:
    try:
        return frozenset(capabilities.from_protobuf(value) for value in info.capabilities)
    except ValueError:
        raise InvalidRequest(f"Invalid capability 'UNKNOWN' in linux_info.{field}") from None


def _flag(flags: Any, name: str) -> frozenset[int] | None:
    text = getattr(flags, name, None)
    if text is None:
        return None
    try:
        return parse_capabilities(text)
    except ValueError as error:
        raise CapabilitiesFlagError(name, str(error))


class LinuxCapabilitiesIsolator(Isolator):
    NAME = "linux/capabilities"
    SUPPORTS_NESTING: ClassVar[bool] = True
    SUPPORTS_STANDALONE: ClassVar[bool] = True

    def __init__(self, flags: Any = None, names: Sequence[str] = ()) -> None:
        super().__init__(flags, names)
        self.effective = _flag(flags, "effective_capabilities")
        self.bounding = _flag(flags, "bounding_capabilities")
        if self.effective is not None and self.bounding is not None \
                and not self.effective <= self.bounding:
            raise CapabilitiesFlagError(
                "effective_capabilities",
                f"Allowed capabilities {capabilities.describe(self.effective)} are not a subset "
                f"of the bounding capabilities {capabilities.describe(self.bounding)} "
                f"(--bounding_capabilities)")
        if os.geteuid() != 0:
            raise CapabilitiesStartupError("Linux capabilities isolator requires root permissions")

    def prepare(self, container_id: ContainerID,
                config: ContainerConfig) -> ContainerLaunchInfo | None:
        effective: frozenset[int] | None = None
        bounding: frozenset[int] | None = None
        if config.HasField("container_info") and config.container_info.HasField("linux_info"):
            linux = config.container_info.linux_info
            if linux.HasField("capability_info") and linux.HasField("effective_capabilities"):
                raise InvalidRequest(
                    "Only one of 'capability_info' or 'effective_capabilities' is allowed")
            if linux.HasField("capability_info"):
                effective = _from_capability_info(linux.capability_info, "capability_info")
            if linux.HasField("effective_capabilities"):
                effective = _from_capability_info(linux.effective_capabilities,
                                                  "effective_capabilities")
            if linux.HasField("bounding_capabilities"):
                bounding = _from_capability_info(linux.bounding_capabilities,
                                                 "bounding_capabilities")

        if effective is None:
            effective = self.effective
        # The operator's bounding set limits what a container may ask for.
        if bounding is not None and self.bounding is not None and not bounding <= self.bounding:
            raise InvalidRequest(
                f"Bounding capabilities '{capabilities.describe(bounding)}', "
                f"but only '{capabilities.describe(self.bounding)}' are allowed")
        if bounding is None:
            bounding = self.bounding if self.bounding is not None else effective
        if effective is not None:
            assert bounding is not None
            if not effective <= bounding:
                raise InvalidRequest(
                    f"Requested capabilities '{capabilities.describe(effective)}', "
                    f"but only '{capabilities.describe(bounding)}' are allowed")
        if bounding is None:
            return None

        launch_info = ContainerLaunchInfo()
        if config.HasField("task_info") and config.HasField("rootfs"):
            # A command task with an image: its command executor needs its
            # privileges (pivot_root), so it is the one that sets the task's
            # capabilities, given as its flags (as Mesos does).
            launch_info.command.arguments.append(
                "--bounding_capabilities=" + _flag_json(bounding))
            if effective is not None:
                launch_info.command.arguments.append(
                    "--effective_capabilities=" + _flag_json(effective))
            return launch_info
        launch_info.bounding_capabilities.CopyFrom(to_capability_info(bounding))
        if effective is not None:
            launch_info.effective_capabilities.CopyFrom(to_capability_info(effective))
        return launch_info


def _flag_json(numbers: frozenset[int]) -> str:
    return json.dumps({"capabilities": [capabilities.name(n) for n in sorted(numbers)]},
                      separators=(",", ":"))
