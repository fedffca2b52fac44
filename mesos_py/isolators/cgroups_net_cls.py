"""net_cls classids for cgroups/net_cls, managed with --cgroups_net_cls_primary_handle.

A container's classid is `0xPPPPSSSS`: the agent's primary handle, and a
secondary handle of its own (1 to 0xffff, or the range that
--cgroups_net_cls_secondary_handles gives).
"""

from __future__ import annotations

from typing import Any


class _HandleManager:
    """net_cls classids `0xPPPPSSSS`: one primary handle, secondaries handed out lowest first."""

    def __init__(self, primary: int, low: int, high: int) -> None:
        self.primary, self.low, self.high = primary, low, high
        self._used: set[int] = set()

    def allocate(self) -> int:
        for secondary in range(self.low, self.high + 1):
            if secondary not in self._used:
                self._used.add(secondary)
                return (self.primary << 16) | secondary
        raise ValueError(f"No free handles remaining for primary handle {self.primary:#x}")

    def reserve(self, classid: int) -> None:
        primary, secondary = classid >> 16, classid & 0xFFFF
        if primary != self.primary:
            raise ValueError(f"Primary handle {primary:#x} not present in primary handle range")
        if not self.low <= secondary <= self.high:
            raise ValueError(f"Secondary handle {secondary:#x} not present in secondary handle "
                             f"range")
        if secondary in self._used:
            raise ValueError(f"The secondary handle {secondary:#x}, for the primary handle "
                             f"{primary:#x} has already been allocated")
        self._used.add(secondary)

    def free(self, classid: int) -> None:
        self._used.discard(classid & 0xFFFF)


def _handle_manager(flags: Any) -> _HandleManager | None:
    """Handles are managed only with --cgroups_net_cls_primary_handle."""
    primary = flags.cgroups_net_cls_primary_handle
    if primary is None:
        return None
    low, high = 1, 0xFFFF
    if flags.cgroups_net_cls_secondary_handles is not None:
        first, _, last = flags.cgroups_net_cls_secondary_handles.partition(",")
        low, high = int(first, 16), int(last, 16)
    return _HandleManager(int(primary, 16), low, high)
