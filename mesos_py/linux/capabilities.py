"""Capabilities, user and rlimits of a container's command, set in the process that execs it.

Child side: the launch helper calls these in the fork server's child, a
single-threaded process that imports only the standard library. So this module
imports nothing but the standard library (ctypes for the system calls), and
`mesos_py.linux` must stay an empty package.

Capability numbers are the kernel's (`CAP_NET_RAW` is 13). Mesos names a
capability without its `CAP_` prefix, and its protobuf enum
`CapabilityInfo.Capability` is the kernel number plus `PROTOBUF_OFFSET`
(`NET_RAW = 1013`).

Contract with the launch helper, in this order, after the agent released the
child and before the exec:

1. `apply_rlimits(rlimits)`, while still root: raising a hard limit needs
   CAP_SYS_RESOURCE, which a switch of user or of capabilities may take away;
2. `switch_user_and_capabilities(uid, gid, groups, effective, bounding)`.

Both raise `CapabilityError` / `RlimitError` (plain exceptions) whose message
is meant for the container's stderr.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
from typing import Iterable, Sequence

# Mesos's CapabilityInfo.Capability names, in kernel order: NAMES[n] is CAP_<name> = n.
NAMES: tuple[str, ...] = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
)
# Capabilities newer than Mesos 1.11 (not in its protobuf); named only for messages.
_NEWER_NAMES: tuple[str, ...] = ("PERFMON", "BPF", "CHECKPOINT_RESTORE")
NUMBERS: dict[str, int] = {name: number for number, name in enumerate(NAMES)}
PROTOBUF_OFFSET = 1000

CAP_SETPCAP = NUMBERS["SETPCAP"]

# prctl(2) options.
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
RLIM_INFINITY = 2**64 - 1

# Mesos's RLimitInfo.RLimit.Type names and this platform's resource numbers.
# Python's `resource` lacks RLIMIT_LOCKS, which is 10 on every Linux.
RLIMIT_NUMBERS: dict[str, int] = {
    "RLMT_" + name: getattr(resource, "RLIMIT_" + name)
    for name in ("AS", "CORE", "CPU", "DATA", "FSIZE", "MEMLOCK", "MSGQUEUE", "NICE", "NOFILE",
                 "NPROC", "RSS", "RTPRIO", "RTTIME", "SIGPENDING", "STACK")
    if hasattr(resource, "RLIMIT_" + name)
}
if sys.platform.startswith("linux"):
    RLIMIT_NUMBERS["RLMT_LOCKS"] = getattr(resource, "RLIMIT_LOCKS", 10)
RLIMIT_NAMES: dict[int, str] = {number: name for name, number in RLIMIT_NUMBERS.items()}


class CapabilityError(Exception):
    """Switching user or capabilities failed; the message names the step."""


class RlimitError(Exception):
    """Setting a resource limit failed; the message names the limit."""


# ------------------------------------------------------------------ names
def number(name: str) -> int:
    """The kernel number of a Mesos capability name (`NET_RAW` → 13); KeyError if unknown."""
    return NUMBERS[name]


def name(capability: int) -> str:
    """The Mesos name of a kernel capability number (13 → `NET_RAW`)."""
    if 0 <= capability < len(NAMES):
        return NAMES[capability]
    newer = capability - len(NAMES)
    if 0 <= newer < len(_NEWER_NAMES):
        return _NEWER_NAMES[newer]
    return f"CAP_{capability}"


def from_protobuf(value: int) -> int:
    """A `CapabilityInfo.Capability` value as a kernel number; ValueError for UNKNOWN."""
    capability = value - PROTOBUF_OFFSET
    if not 0 <= capability < len(NAMES):
        raise ValueError(f"Unknown capability value {value}")
    return capability


def to_protobuf(capability: int) -> int:
    return capability + PROTOBUF_OFFSET


def describe(capabilities: Iterable[int]) -> str:
    """Mesos's rendering of a capability set: `{ NET_RAW, SYSLOG }` (sorted by number)."""
    return "{ " + ", ".join(name(c) for c in sorted(set(capabilities))) + " }"


def mask(capabilities: Iterable[int]) -> int:
    result = 0
    for capability in capabilities:
        result |= 1 << capability
    return result


def members(bits: int) -> list[int]:
    return [capability for capability in range(bits.bit_length()) if bits >> capability & 1]


# ----------------------------------------------------------- system calls
class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


class _RLimit64(ctypes.Structure):
    _fields_ = [("rlim_cur", ctypes.c_uint64), ("rlim_max", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int
_capget = _libc.capget
_capget.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
_capset = _libc.capset
_capset.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
_prlimit64 = _libc.prlimit64
_prlimit64.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_RLimit64),
                       ctypes.POINTER(_RLimit64)]


def _errno_text() -> str:
    return os.strerror(ctypes.get_errno())


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    """prctl(2); -1 with errno set on failure (callers decide what failure means)."""
    ctypes.set_errno(0)
    return int(_prctl(option, arg2, arg3, 0, 0))


def get_capabilities() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of this process, as bit masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _capget(ctypes.byref(header), data) != 0:
        raise CapabilityError(f"Failed to get capabilities: {_errno_text()}")
    return (data[0].effective | data[1].effective << 32,
            data[0].permitted | data[1].permitted << 32,
            data[0].inheritable | data[1].inheritable << 32)


def set_capabilities(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) of this process; raises CapabilityError."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for index, shift in ((0, 0), (1, 32)):
        data[index].effective = effective >> shift & 0xFFFFFFFF
        data[index].permitted = permitted >> shift & 0xFFFFFFFF
        data[index].inheritable = inheritable >> shift & 0xFFFFFFFF
    if _capset(ctypes.byref(header), data) != 0:
        raise CapabilityError(f"Failed to set capabilities: {_errno_text()}")


def last_capability() -> int:
    """The highest capability number the kernel knows (no /proc needed: it may be gone)."""
    capability = 0
    while prctl(PR_CAPBSET_READ, capability + 1) >= 0:
        capability += 1
    return capability


def bounding_set(last: int) -> int:
    return mask(c for c in range(last + 1) if prctl(PR_CAPBSET_READ, c) == 1)


def ambient_supported() -> bool:
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 0) >= 0


def ambient_set(last: int) -> int:
    return mask(c for c in range(last + 1)
                if prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c) == 1)


# --------------------------------------------------------------- rlimits
def apply_rlimits(rlimits: Sequence[Sequence[int | None]]) -> None:
    """setrlimit for each `[resource, soft, hard]`, in order (a later one wins).

    `None` is RLIM_INFINITY. Call it before switching user: raising a hard
    limit needs a privilege the switch may drop.
    """
    for entry in rlimits:
        if len(entry) != 3 or entry[0] is None:
            raise RlimitError(f"Invalid rlimit {list(entry)!r}: expecting [resource, soft, hard]")
        resource_number, soft, hard = int(entry[0]), entry[1], entry[2]
        label = RLIMIT_NAMES.get(resource_number, f"resource {resource_number}")
        values = [RLIM_INFINITY if value is None else int(value) for value in (soft, hard)]
        if not all(0 <= value <= RLIM_INFINITY for value in values):
            raise RlimitError(f"Failed to set {label} limit: values out of range")
        limit = _RLimit64(values[0], values[1])
        ctypes.set_errno(0)
        if _prlimit64(0, resource_number, ctypes.byref(limit), None) != 0:
            raise RlimitError(f"Failed to set {label} limit: {_errno_text()}")


# ------------------------------------------------ user and capabilities
def switch_user(uid: int | None, gid: int | None, groups: Sequence[int] | None) -> None:
    """Supplementary groups, then gid, then uid; nothing when uid is None."""
    if uid is None:
        return
    try:
        os.setgroups(list(groups or ()))
    except OSError as error:
        raise CapabilityError(f"Failed to set supplementary gids: {error.strerror}")
    if gid is not None:
        try:
            os.setgid(gid)
        except OSError as error:
            raise CapabilityError(f"Failed to set gid to {gid}: {error.strerror}")
    try:
        os.setuid(uid)
    except OSError as error:
        raise CapabilityError(f"Failed to set uid to {uid}: {error.strerror}")


def switch_user_and_capabilities(uid: int | None, gid: int | None,
                                 groups: Sequence[int] | None,
                                 effective: Sequence[int] | None,
                                 bounding: Sequence[int] | None) -> None:
    """Switches user (if uid is given) and sets the capabilities the command will run with.

    With neither `effective` nor `bounding` the capabilities are left alone.
    Otherwise, as Mesos's launch helper does (the sets, with `bnd` being
    `bounding`, or `effective` when only that is given):

    - the bounding set becomes `bnd`; the inheritable set `bnd`;
    - with `effective` given, the effective, permitted and ambient sets become
      `effective`; the ambient set carries them across the exec, so a
      non-root command has exactly `effective`. The kernel gives a root
      command its whole bounding set on exec, so a root command has `bnd`:
      `effective` unless a larger `bounding` was asked for (as in Mesos).
    - without `effective`, a root command gets `bnd` and a non-root one none.

    A requested effective capability that this process does not hold cannot
    be granted: that fails before anything changes. A bounding set that names
    capabilities this process lacks is an upper bound that already holds.
    """
    if effective is None and bounding is None:
        switch_user(uid, gid, groups)
        return

    last = last_capability()
    _, permitted_before, _ = get_capabilities()
    bounding_before = bounding_set(last)
    wanted = mask(effective) if effective is not None else None
    if wanted is not None and wanted & ~(permitted_before & bounding_before):
        missing = members(wanted & ~(permitted_before & bounding_before))
        raise CapabilityError(f"Cannot grant capabilities {describe(missing)}: "
                              f"the agent does not hold them")
    target_bounding = mask(bounding) if bounding is not None else wanted
    assert target_bounding is not None

    # A uid change away from root clears the permitted set unless told to
    # keep it; the effective and ambient sets are cleared regardless, so they
    # are rebuilt below, after the switch.
    if uid is not None and prctl(PR_SET_KEEPCAPS, 1) != 0:
        raise CapabilityError(f"Failed to set PR_SET_KEEPCAPS: {_errno_text()}")
    switch_user(uid, gid, groups)

    effective_now, permitted_now, inheritable_now = get_capabilities()
    # Dropping from the bounding set, and an inheritable set beyond the
    # permitted one, need CAP_SETPCAP in the effective set.
    setpcap = 1 << CAP_SETPCAP
    if not effective_now & setpcap:
        try:
            set_capabilities(effective_now | setpcap, permitted_now, inheritable_now)
        except CapabilityError as error:
            raise CapabilityError(f"Failed to add SETPCAP to the effective set: {error}")

    has_ambient = ambient_supported()
    if wanted is not None:
        new_effective = new_permitted = new_ambient = wanted
    else:
        new_effective, new_permitted = effective_now | setpcap, permitted_now
        new_ambient = ambient_set(last) if has_ambient else 0
    # Mesos sets the inheritable set to the bounding set; capabilities the
    # process has already lost from its bounding set cannot be inheritable.
    new_inheritable = target_bounding & bounding_before
    if new_ambient & ~new_permitted:
        raise CapabilityError("Ambient capabilities are not in the permitted set")
    if new_ambient & ~new_inheritable:
        raise CapabilityError("Ambient capabilities are not in the inheritable set")

    for capability in range(last + 1):
        if bounding_before >> capability & 1 and not target_bounding >> capability & 1:
            if prctl(PR_CAPBSET_DROP, capability) != 0:
                raise CapabilityError(f"Failed to drop capability {name(capability)} from "
                                      f"the bounding set: {_errno_text()}")
    set_capabilities(new_effective, new_permitted, new_inheritable)
    if has_ambient:
        if prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL) != 0:
            raise CapabilityError(f"Failed to clear ambient capabilities: {_errno_text()}")
        for capability in members(new_ambient):
            if prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability) != 0:
                raise CapabilityError(f"Failed to raise capability {name(capability)} to "
                                      f"the ambient set: {_errno_text()}")
