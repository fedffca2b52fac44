"""Tests for mesos_py.flagslib: stout-like flag tables and their loader, with
tables of their own (the agent's table is tested in test_flags.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesos_py.flagslib import (
    BOOL,
    BYTES,
    DURATION,
    INT,
    STRING,
    FlagError,
    FlagSpec,
    FlagTable,
    help_text,
    load,
)
from mesos_py.units import Bytes, Duration


def error_of(argv: list[str], environ: dict[str, str] | None = None, **kw: object) -> str:
    with pytest.raises(FlagError) as info:
        load(argv, environ or {}, **kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


# A table with every value type, for the types no agent flag uses yet.
TYPED = FlagTable(
    [
        FlagSpec("help", BOOL, "Help.", default=False),
        FlagSpec("timeout", DURATION, "A duration.", default=Duration(15)),
        FlagSpec("cache", BYTES, "A size.", default=Bytes(2 * 1024**3)),
        FlagSpec("count", INT, "A number.", default=3),
        FlagSpec("name", STRING, "A name."),
        FlagSpec("token", STRING, "Must be given.", required=True),
    ]
)


# ---------------------------------------------------------------- defaults


def test_computed_default_runs_only_when_flag_not_given() -> None:
    calls = []

    def compute() -> str:
        calls.append(1)
        return "computed"

    table = FlagTable([FlagSpec("a", STRING, "A.", default_factory=compute,
                                default_help="computed")])
    assert load([], {}, table=table).a == "computed"
    assert load(["--a=given"], {}, table=table).a == "given"
    assert calls == [1]


# --------------------------------------------------------------- file://


def test_file_content_with_newlines_keeps_error_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "d").write_text("5\nsecs\n")
    message = error_of([f"--timeout=file://{tmp_path}/d", "--token=t"], table=TYPED)
    assert message.startswith("Failed to load flag 'timeout': ")
    assert "\\n" in message


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--timeout=15"], "Failed to load value '15': Invalid duration '15'"),
        (["--timeout=15s"], "Unknown duration unit 's'"),
        (["--timeout=15SECS"], "Unknown duration unit 'SECS'"),
        (["--timeout=secs"], "Failed to convert '' to number"),
        (["--timeout=1.2.3secs"], "Failed to convert '1.2.3' to number"),
        (["--timeout=-1secs"], "Failed to convert '' to number"),
        (["--timeout=99999999999weeks"], "too large"),
        (["--cache=2"], "Invalid bytes '2'"),
        (["--cache=1.5GB"], "Fractional bytes '1.5GB'"),
        (["--cache=2XB"], "Unknown bytes unit 'XB'"),
        (["--cache=GB"], "Failed to convert '' to number"),
        (["--count=three"], "Failed to convert into required type"),
    ],
)
def test_typed_parse_errors_name_the_flag(argv: list[str], fragment: str) -> None:
    message = error_of(argv + ["--token=t"], table=TYPED)
    flag = argv[0][2:].split("=")[0]
    assert message.startswith(f"Failed to load flag '{flag}': Failed to load value ")
    assert fragment in message


def test_typed_table_values() -> None:
    flags = load(["--timeout=0.5secs", "--cache=512mb", "--count=-4", "--token=t"], {}, table=TYPED)
    assert flags.timeout == Duration(0.5)
    assert flags.cache == Bytes(512 * 1024**2)
    assert flags.count == -4
    assert flags.as_strings() == {
        "cache": "512MB",
        "count": "-4",
        "help": "false",
        "timeout": "500ms",
        "token": "t",
    }


def test_required_flag() -> None:
    assert error_of([], table=TYPED) == "Flag 'token' is required, but it was not provided"
    assert load(["--token=x"], {}, table=TYPED).token == "x"


def test_validator_runs_on_defaults_too() -> None:
    table = FlagTable(
        [FlagSpec("n", INT, "N.", default=5, validate=lambda v: "too big" if v > 3 else None)]
    )
    assert error_of([], table=table) == "Failed to validate flag 'n': too big"
    assert load(["--n=2"], {}, table=table).n == 2


# ---------------------------------------------------------- help, version


def test_help_text_marks_required_flags() -> None:
    assert "(required)" in help_text(TYPED, "mesos-py-agent")
    assert "(default: 15secs)" in help_text(TYPED, "mesos-py-agent")
    assert "(default: 2GB)" in help_text(TYPED, "mesos-py-agent")


# -------------------------------------------------------------- the table


def test_table_rejects_duplicates_and_bad_names() -> None:
    with pytest.raises(ValueError):
        FlagTable([FlagSpec("a", STRING, "A."), FlagSpec("a", STRING, "A.")])
    with pytest.raises(ValueError):
        FlagSpec("no-a", BOOL, "A.")
    with pytest.raises(ValueError):
        FlagSpec("Port", INT, "P.")
    with pytest.raises(ValueError):
        FlagSpec("a", STRING, "A.", default="x", required=True)
    with pytest.raises(ValueError):
        FlagSpec("a", STRING, "A.", default_factory=lambda: "x")  # no default_help


def test_flag_name_clashing_with_flags_method_is_refused() -> None:
    with pytest.raises(ValueError):
        load([], {}, table=FlagTable([FlagSpec("source", STRING, "S.")]))
