"""Low-level helpers shared by the modules of `mesos_py.resources`.

The aliases of the protobuf types, Mesos's fixed-point scalar arithmetic
(three decimal digits), ranges as (begin, end) pairs, stout's `tokenize`, and
the comparison of labels.
"""

from __future__ import annotations

import math
import re
from typing import Iterable

from mesos_py.protos.mesos.v1 import mesos_pb2

Resource = mesos_pb2.Resource
Value = mesos_pb2.Value
ReservationInfo = mesos_pb2.Resource.ReservationInfo
DiskSource = mesos_pb2.Resource.DiskInfo.Source


# ==================================================================== scalars
_LLONG_MIN = -2 ** 63


def _fixed(value: float) -> int:
    """Mesos's fixed-point form of a scalar: thousandths, rounded half away
    from zero (`llround`). Like llround on x86-64, a value that does not fit a
    64-bit integer (infinite, NaN, or beyond about 9.2e15) gives LLONG_MIN."""
    scaled = value * 1000
    if math.isnan(scaled) or math.isinf(scaled):
        return _LLONG_MIN
    rounded = int(math.copysign(math.floor(abs(scaled) + 0.5), scaled))
    if not _LLONG_MIN <= rounded < 2 ** 63:
        return _LLONG_MIN
    return rounded


def _floating(fixed: int) -> float:
    # C++ integer division and modulus (both truncate toward zero).
    magnitude_quotient, magnitude_remainder = divmod(abs(fixed), 1000)
    sign = -1 if fixed < 0 else 1
    return float(sign * magnitude_quotient) + (sign * magnitude_remainder) / 1000.0


def scalar_add(left: float, right: float) -> float:
    return _floating(_fixed(left) + _fixed(right))


def scalar_subtract(left: float, right: float) -> float:
    return _floating(_fixed(left) - _fixed(right))


# ===================================================================== ranges
def coalesce_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged ranges (adjacent ranges such as 1-2 and 3-4 merge)."""
    result: list[tuple[int, int]] = []
    for begin, end in sorted(ranges):
        if result and begin <= result[-1][1] + 1:
            if end > result[-1][1]:
                result[-1] = (result[-1][0], end)
        else:
            result.append((begin, end))
    return result


def subtract_ranges(left: Iterable[tuple[int, int]],
                    right: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    result = coalesce_ranges(left)
    for cut_begin, cut_end in coalesce_ranges(right):
        remaining: list[tuple[int, int]] = []
        for begin, end in result:
            if end < cut_begin or begin > cut_end:
                remaining.append((begin, end))
                continue
            if begin < cut_begin:
                remaining.append((begin, cut_begin - 1))
            if end > cut_end:
                remaining.append((cut_end + 1, end))
        result = remaining
    return result


def ranges_contain(outer: Iterable[tuple[int, int]], inner: Iterable[tuple[int, int]]) -> bool:
    big = coalesce_ranges(outer)
    return all(any(b <= begin and end <= e for b, e in big) for begin, end in coalesce_ranges(inner))


def _ranges_of(message: mesos_pb2.Value.Ranges) -> list[tuple[int, int]]:
    return [(r.begin, r.end) for r in message.range]


def _set_ranges(message: mesos_pb2.Value.Ranges, ranges: Iterable[tuple[int, int]]) -> None:
    del message.range[:]
    for begin, end in ranges:
        item = message.range.add()
        item.begin = begin
        item.end = end


# ===================================================================== tokens
def _tokenize(text: str, delimiters: str) -> list[str]:
    """stout's strings::tokenize: split on any delimiter, dropping empty tokens."""
    return [token for token in re.split("[" + re.escape(delimiters) + "]", text) if token]


# ===================================================================== labels
def _labels_equal(left: mesos_pb2.Labels, right: mesos_pb2.Labels) -> bool:
    if len(left.labels) != len(right.labels):
        return False
    return all(any(a == b for b in right.labels) for a in left.labels)
