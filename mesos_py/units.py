"""stout's value types: `Duration` and `Bytes`.

`Duration` is a span of time held as whole nanoseconds, `Bytes` an amount of
memory or storage; both parse and print stout's units (``15secs``,
``0.5mins``, ``2GB``), as Mesos's flags and endpoints show them. Parsing
raises ValueError with stout's reason, which `mesos_py.flagslib` puts into a
flag's error message.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bytes", "Duration"]

_NS = 1
_US = 1000 * _NS
_MS = 1000 * _US
_SECS = 1000 * _MS
_MINS = 60 * _SECS
_HRS = 60 * _MINS
_DAYS = 24 * _HRS
_WEEKS = 7 * _DAYS

_DURATION_UNITS = {
    "ns": _NS,
    "us": _US,
    "ms": _MS,
    "secs": _SECS,
    "mins": _MINS,
    "hrs": _HRS,
    "days": _DAYS,
    "weeks": _WEEKS,
}

_DIGITS = "0123456789"
_DIGITS_AND_DOT = _DIGITS + "."

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _stout_double(value: float) -> str:
    # stout prints the double with 15 significant digits, like C's "%.15g".
    return "%.15g" % value


@dataclass(frozen=True, init=False, order=True)
class Duration:
    """A span of time, held as whole nanoseconds like stout's Duration.

    ``Duration(15)`` is 15 seconds (a float is rounded to the nearest
    nanosecond); ``Duration(nanos=100_000_000)`` is 100 milliseconds.
    ``str()`` gives stout's notation: ``15secs``, ``1mins``, ``100ms``.
    """

    nanos: int

    def __init__(self, seconds: float = 0, *, nanos: int | None = None) -> None:
        if nanos is not None:
            if seconds:
                raise TypeError("Duration takes either seconds or nanos, not both")
            total = int(nanos)
        elif isinstance(seconds, int):
            total = seconds * _SECS
        else:
            total = round(seconds * _SECS)
        if not _INT64_MIN <= total <= _INT64_MAX:
            raise ValueError("Duration out of the range of a 64-bit nanosecond count")
        object.__setattr__(self, "nanos", total)

    @property
    def seconds(self) -> float:
        return self.nanos / _SECS

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse stout's notation: a decimal number directly followed by one of
        ``ns us ms secs mins hrs days weeks``. Raises ValueError."""
        index = 0
        while index < len(text) and text[index] in _DIGITS_AND_DOT:
            index += 1
        if index == len(text):
            raise ValueError(f"Invalid duration '{text}'")
        number = text[:index]
        try:
            value = float(number)
        except ValueError:
            raise ValueError(f"Failed to convert '{number}' to number") from None
        unit = text[index:]
        factor = _DURATION_UNITS.get(unit)
        if factor is None:
            raise ValueError(
                f"Unknown duration unit '{unit}'; supported units are"
                " 'ns', 'us', 'ms', 'secs', 'mins', 'hrs', 'days', and 'weeks'"
            )
        scaled = value * factor
        if not _INT64_MIN <= scaled <= _INT64_MAX:
            raise ValueError(
                f"Duration '{text}' is too large for a 64-bit nanosecond count"
            )
        # Like stout, the product is truncated to whole nanoseconds.
        return cls(nanos=int(scaled))

    def __str__(self) -> str:
        sign = "-" if self.nanos < 0 else ""
        n = abs(self.nanos)

        # Pick the largest unit that is not above the duration, but drop one
        # unit down when that shows the value exactly with a whole number.
        def show(unit: str) -> str:
            factor = _DURATION_UNITS[unit]
            if factor == _NS:
                return f"{sign}{n}ns"
            return f"{sign}{_stout_double(float(n) / factor)}{unit}"

        ladder = [
            (_US, "ns", "ns"),
            (_MS, "ns", "us"),
            (_SECS, "us", "ms"),
            (_MINS, "ms", "secs"),
            (_HRS, "secs", "mins"),
            (_DAYS, "mins", "hrs"),
            (_WEEKS, "hrs", "days"),
        ]
        for limit, finer, coarser in ladder:
            if n < limit:
                if finer == coarser:
                    return show(finer)
                coarse_factor = _DURATION_UNITS[coarser]
                fine_factor = _DURATION_UNITS[finer]
                if n % coarse_factor != 0 and n % fine_factor == 0:
                    return show(finer)
                return show(coarser)
        if n % _WEEKS != 0 and n % _DAYS == 0:
            return show("days")
        return show("weeks")


_BYTE_UNITS = {
    "B": 1,
    "KB": 1024,
    "MB": 1024**2,
    "GB": 1024**3,
    "TB": 1024**4,
}

_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True, order=True)
class Bytes:
    """An amount of memory or storage in bytes (0 .. 2**64-1), like stout's
    Bytes. ``str(Bytes(2 * 1024**3))`` is ``2GB``."""

    bytes: int

    def __post_init__(self) -> None:
        if not isinstance(self.bytes, int) or isinstance(self.bytes, bool):
            raise TypeError("Bytes needs a whole number of bytes")
        if not 0 <= self.bytes <= _UINT64_MAX:
            raise ValueError("Bytes must be between 0 and 2**64-1")

    @classmethod
    def parse(cls, text: str) -> Bytes:
        """Parse a whole number directly followed by ``B``, ``KB``, ``MB``,
        ``GB`` or ``TB`` (unit case-insensitive). Raises ValueError."""
        index = 0
        while index < len(text):
            if text[index] in _DIGITS:
                index += 1
                continue
            if text[index] == ".":
                raise ValueError(f"Fractional bytes '{text}'")
            break
        if index == len(text):
            raise ValueError(f"Invalid bytes '{text}'")
        number = text[:index]
        if not number:
            raise ValueError(f"Failed to convert '{number}' to number")
        unit = text[index:].upper()
        factor = _BYTE_UNITS.get(unit)
        if factor is None:
            raise ValueError(f"Unknown bytes unit '{unit}'")
        total = int(number) * factor
        if total > _UINT64_MAX:
            raise ValueError(f"Bytes '{text}' is too large for 64 bits")
        return cls(total)

    def __str__(self) -> str:
        n = self.bytes
        if n == 0:
            return "0B"
        if n % 1024:
            return f"{n}B"
        if n % 1024**2:
            return f"{n // 1024}KB"
        if n % 1024**3:
            return f"{n // 1024**2}MB"
        if n % 1024**4:
            return f"{n // 1024**3}GB"
        return f"{n // 1024**4}TB"
