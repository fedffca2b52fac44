"""Tests for mesos_py.units: stout's Duration and Bytes."""

from __future__ import annotations

import pytest

from mesos_py.units import Bytes, Duration


# --------------------------------------------------------- Duration, Bytes


@pytest.mark.parametrize(
    "text",
    ["15secs", "1mins", "1weeks", "6hrs", "0ns", "100ms", "10us", "1001ns", "90secs",
     "1500ms", "36hrs", "8days", "2500ms", "15mins", "30secs", "10secs"],
)
def test_duration_round_trip(text: str) -> None:
    assert str(Duration.parse(text)) == text


@pytest.mark.parametrize(
    "text, shown, nanos",
    [
        ("0.5secs", "500ms", 500_000_000),
        ("60secs", "1mins", 60 * 10**9),
        ("1.5mins", "90secs", 90 * 10**9),
        ("7days", "1weeks", 7 * 86400 * 10**9),
        ("0.5weeks", "84hrs", 302400 * 10**9),
        ("2.5secs", "2500ms", 2_500_000_000),
        ("1.5days", "36hrs", 36 * 3600 * 10**9),
        ("1000ms", "1secs", 10**9),
        ("0.1ns", "0ns", 0),
        (".5secs", "500ms", 500_000_000),
    ],
)
def test_duration_normalises_like_stout(text: str, shown: str, nanos: int) -> None:
    d = Duration.parse(text)
    assert d.nanos == nanos
    assert str(d) == shown


def test_duration_constructor_and_seconds() -> None:
    assert str(Duration(15)) == "15secs"
    assert str(Duration(60)) == "1mins"
    assert str(Duration(7 * 86400)) == "1weeks"
    assert str(Duration(0.1)) == "100ms"
    assert str(Duration(nanos=100_000_000)) == "100ms"
    assert str(Duration(1 / 3)) == "333.333333ms"
    assert str(Duration(nanos=-1500)) == "-1500ns"
    assert Duration(90).seconds == 90.0
    assert Duration.parse("0.5secs").seconds == 0.5
    assert Duration(1) < Duration(2) and Duration(60) == Duration.parse("1mins")
    assert hash(Duration(60)) == hash(Duration.parse("1mins"))
    with pytest.raises(TypeError):
        Duration(1, nanos=1)


def test_duration_fraction_printed_with_15_significant_digits() -> None:
    assert str(Duration(nanos=10**9 + 1)) == "1.000000001secs"
    assert str(Duration(nanos=2 * 10**17)) == "330.687830687831weeks"


@pytest.mark.parametrize(
    "n, text",
    [
        (0, "0B"),
        (1, "1B"),
        (1025, "1025B"),
        (1024, "1KB"),
        (1536 * 1024, "1536KB"),
        (2 * 1024**3, "2GB"),
        (1024**4, "1TB"),
        (1024**5, "1024TB"),
    ],
)
def test_bytes_str(n: int, text: str) -> None:
    assert str(Bytes(n)) == text
    assert Bytes.parse(text) == Bytes(n)


def test_bytes_parse_units_case_insensitive() -> None:
    assert Bytes.parse("2gb").bytes == 2 * 1024**3
    assert Bytes.parse("10kB").bytes == 10 * 1024
    assert Bytes.parse("7B").bytes == 7


def test_bytes_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        Bytes(-1)
    with pytest.raises(ValueError):
        Bytes(2**64)
    with pytest.raises(ValueError, match="Fractional"):
        Bytes.parse("0.5GB")
    with pytest.raises(ValueError):
        Bytes.parse("99999999999999999999TB")
