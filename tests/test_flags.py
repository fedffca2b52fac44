"""Tests for mesos_py.flags: the agent's flag table and its stout-like loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesos_py import flags as F
from mesos_py.flags import (
    AGENT_FLAGS,
    BOOL,
    BYTES,
    DURATION,
    INT,
    STRING,
    Bytes,
    Duration,
    FlagError,
    FlagSpec,
    FlagTable,
    help_text,
    load,
)


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


def test_defaults() -> None:
    flags = load([], {})
    assert flags.work_dir == "/var/lib/mesos-py"
    assert flags.runtime_dir == "/var/run/mesos-py"
    assert flags.port == 5051 and isinstance(flags.port, int)
    assert flags.isolation == "posix/cpu,posix/mem"
    assert flags.launcher == "posix"
    assert flags.switch_user is True
    assert flags.logging_level == "INFO"
    assert flags.help is False and flags.version is False
    for optional in ("ip", "hostname", "resources", "master", "log_dir"):
        assert getattr(flags, optional) is None
        assert flags.source(optional) is None
    assert flags.source("port") == "default"
    assert not flags.specified("port")
    assert flags.warnings == ()


def test_as_strings_shape() -> None:
    # Same shape as the /flags endpoint of the reference Mesos agent: every
    # flag with a value, defaults included (help/version as "false"), unset
    # optional flags left out, all values strings, keys in name order.
    assert load([], {}).as_strings() == {
        "help": "false",
        "isolation": "posix/cpu,posix/mem",
        "launcher": "posix",
        "logging_level": "INFO",
        "port": "5051",
        "runtime_dir": "/var/run/mesos-py",
        "switch_user": "true",
        "version": "false",
        "work_dir": "/var/lib/mesos-py",
    }
    strings = load(["--ip=10.0.0.1", "--no-switch_user", "--port=6000"], {}).as_strings()
    assert list(strings) == sorted(strings)
    assert strings["ip"] == "10.0.0.1"
    assert strings["switch_user"] == "false"
    assert strings["port"] == "6000"
    assert "hostname" not in strings


def test_launcher_is_posix_only_until_the_linux_launcher_exists() -> None:
    assert load([], {}).launcher == "posix"
    assert "Expecting one of 'posix'" in error_of(["--launcher=linux"])


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


def test_load_does_not_read_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESOS_PORT", "1234")
    assert load([], {}).port == 5051


# ---------------------------------------------------------- command line


def test_name_equals_value() -> None:
    flags = load(
        [
            "--work_dir=/srv/agent",
            "--port=5052",
            "--hostname=agent-1.example",
            "--ip=192.168.1.7",
            "--master=10.0.0.1:5050",
            "--launcher=posix",
            "--logging_level=WARNING",
            "--resources=cpus:2;mem:1024",
            "--isolation=cgroups/cpu,cgroups/mem",
            "--log_dir=/var/log/agent",
        ],
        {},
    )
    assert flags.work_dir == "/srv/agent"
    assert flags.port == 5052
    assert flags.hostname == "agent-1.example"
    assert flags.ip == "192.168.1.7"
    assert flags.master == "10.0.0.1:5050"
    assert flags.launcher == "posix"
    assert flags.logging_level == "WARNING"
    assert flags.resources == "cpus:2;mem:1024"
    assert flags.isolation == "cgroups/cpu,cgroups/mem"
    assert flags.log_dir == "/var/log/agent"
    assert flags.source("port") == "command line" and flags.specified("port")


def test_value_may_contain_equals_sign() -> None:
    assert load(["--resources=a=b=c"], {}).resources == "a=b=c"


def test_names_are_case_insensitive_and_arguments_trimmed() -> None:
    flags = load(["--PORT=6001", "  --hostname=h  "], {})
    assert flags.port == 6001
    assert flags.hostname == "h"


def test_empty_string_value_is_kept() -> None:
    assert load(["--hostname="], {}).hostname == ""


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--switch_user"], True),
        (["--no-switch_user"], False),
        (["--switch_user="], True),
        (["--no-switch_user="], False),
        (["--switch_user=false"], False),
        (["--switch_user=true"], True),
        (["--switch_user=0"], False),
        (["--switch_user=1"], True),
    ],
)
def test_boolean_forms(argv: list[str], expected: bool) -> None:
    assert load(argv, {}).switch_user is expected


def test_space_separated_value_is_not_a_value() -> None:
    # As in stout: "--port 5051" is "--port" without a value.
    assert error_of(["--port", "5051"]) == (
        "Failed to load non-boolean flag 'port': Missing value"
    )
    # ... and for a boolean the stray word is ignored (with a warning).
    flags = load(["--switch_user", "false"], {})
    assert flags.switch_user is True
    assert any("'false'" in w for w in flags.warnings)


def test_positional_arguments_and_double_dash_are_ignored() -> None:
    flags = load(["stray", "--port=6002", "--", "--port=7", "--bogus"], {})
    assert flags.port == 6002
    assert len(flags.warnings) == 2
    assert "stray" in flags.warnings[0]
    assert "--bogus" in flags.warnings[1]


# ----------------------------------------------------------- environment


def test_environment_sets_flags() -> None:
    flags = load([], {"MESOS_PORT": "6003", "MESOS_WORK_DIR": "/w", "MESOS_LOG_DIR": "/l"})
    assert flags.port == 6003
    assert flags.work_dir == "/w"
    assert flags.log_dir == "/l"
    assert flags.source("port") == "environment" and flags.specified("port")


def test_command_line_wins_over_environment() -> None:
    assert load(["--port=6004"], {"MESOS_PORT": "6005"}).port == 6004
    # The environment is not even parsed for a flag given on the command line.
    assert load(["--port=6004"], {"MESOS_PORT": "junk"}).port == 6004
    # Also across the --no- form.
    assert load(["--no-switch_user"], {"MESOS_SWITCH_USER": "true"}).switch_user is False


def test_environment_unknown_mesos_variables_are_ignored() -> None:
    flags = load([], {"MESOS_NUM_SLAVES": "3", "MESOS_REGISTRY": "in_memory", "PORT": "1"})
    assert flags.port == 5051


def test_environment_other_prefixes_are_ignored() -> None:
    assert load([], {"mesos_port": "6006", "LIBPROCESS_PORT": "6007"}).port == 5051


def test_environment_lowercase_name_and_precedence() -> None:
    assert load([], {"MESOS_port": "6008"}).port == 6008
    # Both spellings: the lowercase one wins, as in Mesos.
    assert load([], {"MESOS_PORT": "junk", "MESOS_port": "6009"}).port == 6009


def test_environment_booleans() -> None:
    assert load([], {"MESOS_SWITCH_USER": "false"}).switch_user is False
    assert load([], {"MESOS_SWITCH_USER": "0"}).switch_user is False
    assert load([], {"MESOS_SWITCH_USER": ""}).switch_user is True
    assert load([], {"MESOS_no-switch_user": ""}).switch_user is False


def test_environment_errors_name_the_flag() -> None:
    assert error_of([], {"MESOS_PORT": "abc"}) == (
        "Failed to load flag 'port': Failed to load value 'abc': "
        "Failed to convert into required type"
    )


def test_custom_prefix() -> None:
    flags = load([], {"AGENT_PORT": "6010", "MESOS_PORT": "1"}, prefix="AGENT_")
    assert flags.port == 6010


# --------------------------------------------------------------- file://


def test_file_values_are_read_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "port").write_text("6011\n")
    (tmp_path / "res").write_text("  cpus:4;mem:2048\n\n")
    (tmp_path / "bool").write_text("false\n")
    flags = load(
        [
            f"--port=file://{tmp_path}/port",
            f"--resources=file://{tmp_path}/res",
            f"--switch_user=file://{tmp_path}/bool",
        ],
        {},
    )
    assert flags.port == 6011
    assert flags.resources == "cpus:4;mem:2048"
    assert flags.switch_user is False
    assert flags.as_strings()["resources"] == "cpus:4;mem:2048"


def test_file_value_from_environment(tmp_path: Path) -> None:
    (tmp_path / "host").write_text("from-file\n")
    assert load([], {"MESOS_HOSTNAME": f"file://{tmp_path}/host"}).hostname == "from-file"


def test_master_file_contents_are_hidden_in_as_strings(tmp_path: Path) -> None:
    secret = tmp_path / "master"
    secret.write_text("zk://user:secret@zk1:2181/mesos\n")
    flags = load([f"--master=file://{secret}"], {})
    assert flags.master == "zk://user:secret@zk1:2181/mesos"
    assert flags.as_strings()["master"] == str(secret)
    assert "secret@" not in repr(flags)


def test_missing_file() -> None:
    assert error_of(["--hostname=file:///nonexistent/x"]) == (
        "Failed to load flag 'hostname': Failed to load value "
        "'file:///nonexistent/x': Error reading file '/nonexistent/x': "
        "No such file or directory"
    )


def test_file_content_with_newlines_keeps_error_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "d").write_text("5\nsecs\n")
    message = error_of([f"--timeout=file://{tmp_path}/d", "--token=t"], table=TYPED)
    assert message.startswith("Failed to load flag 'timeout': ")
    assert "\\n" in message


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--foo=1"], "Failed to load unknown flag 'foo'"),
        (["--foo"], "Failed to load unknown flag 'foo'"),
        (["--no-foo"], "Failed to load unknown flag 'foo' via 'no-foo'"),
        (["--=1"], "Failed to load unknown flag ''"),
        (["--port"], "Failed to load non-boolean flag 'port': Missing value"),
        (["--no-port"], "Failed to load non-boolean flag 'port' via 'no-port'"),
        (
            ["--no-switch_user=true"],
            "Failed to load boolean flag 'switch_user' via 'no-switch_user' with value 'true'",
        ),
        (["--port=1", "--port=2"], "Flag 'port' is already loaded via name 'port'"),
        (
            ["--switch_user", "--no-switch_user"],
            "Flag 'switch_user' is already loaded via name 'switch_user'",
        ),
        (
            ["--port=abc"],
            "Failed to load flag 'port': Failed to load value 'abc': "
            "Failed to convert into required type",
        ),
        (
            ["--port="],
            "Failed to load flag 'port': Failed to load value '': "
            "Failed to convert into required type",
        ),
        (
            ["--port=0x10"],
            "Failed to load flag 'port': Failed to load value '0x10': "
            "Failed to convert into required type",
        ),
        (
            ["--switch_user=yes"],
            "Failed to load flag 'switch_user': Failed to load value 'yes': "
            "Expecting a boolean (e.g., true or false)",
        ),
        (
            ["--launcher=docker"],
            "Failed to load flag 'launcher': Failed to load value 'docker': "
            "Expecting one of 'posix'",
        ),
        (
            ["--logging_level=info"],
            "Failed to load flag 'logging_level': Failed to load value 'info': "
            "Expecting one of 'INFO', 'WARNING', 'ERROR'",
        ),
        (
            ["--work_dir="],
            "Failed to load flag 'work_dir': Failed to load value '': "
            "Expecting a non-empty path",
        ),
        (
            ["--port=70000"],
            "Failed to validate flag 'port': "
            "Expecting a port number between 0 and 65535, got 70000",
        ),
        (
            ["--port=-1"],
            "Failed to validate flag 'port': "
            "Expecting a port number between 0 and 65535, got -1",
        ),
        (["--ip=1.2.3"], "Failed to validate flag 'ip': '1.2.3' is not an IPv4 address"),
        (["--ip=::1"], "Failed to validate flag 'ip': '::1' is not an IPv4 address"),
    ],
)
def test_error_messages(argv: list[str], message: str) -> None:
    assert error_of(argv) == message


def test_error_carries_flag_name() -> None:
    with pytest.raises(FlagError) as info:
        load(["--port=abc"], {})
    assert info.value.flag == "port"
    assert isinstance(info.value, ValueError)


def test_port_bounds_are_accepted() -> None:
    assert load(["--port=0"], {}).port == 0
    assert load(["--port=65535"], {}).port == 65535
    assert load(["--port=+80"], {}).port == 80


def test_first_error_in_argument_order_is_reported() -> None:
    assert error_of(["--zzz", "--port=abc"]) == "Failed to load unknown flag 'zzz'"


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


def test_help_is_reported_not_raised() -> None:
    flags = load(["--help"], {})
    assert flags.help is True
    assert flags.version is False


def test_help_wins_over_bad_flags() -> None:
    assert load(["--bogus", "--port=abc", "--help"], {}).help is True
    assert load([], {"MESOS_HELP": "1", "MESOS_PORT": "x"}).help is True


def test_version_is_reported_not_raised() -> None:
    flags = load(["--version", "--bogus"], {})
    assert flags.version is True
    assert flags.as_strings()["version"] == "true"
    assert F.version_text().startswith("mesos-py-agent ")


def test_no_help_still_raises() -> None:
    assert error_of(["--no-help", "--bogus"]) == "Failed to load unknown flag 'bogus'"


def test_help_text_lists_every_flag() -> None:
    text = help_text()
    assert text.startswith("Usage: mesos-py-agent [options]\n")
    for spec in AGENT_FLAGS:
        head = f"--[no-]{spec.name}" if spec.boolean else f"--{spec.name}=VALUE"
        assert head in text
    for default in (
        "(default: 5051)",
        "(default: /var/lib/mesos-py)",
        "(default: /var/run/mesos-py)",
        "(default: posix/cpu,posix/mem)",
        "(default: INFO)",
        "(default: true)",
        "(default: false)",
    ):
        assert default in text
    assert max(len(line) for line in text.splitlines()) <= 90


def test_help_text_marks_required_flags() -> None:
    assert "(required)" in help_text(TYPED)
    assert "(default: 15secs)" in help_text(TYPED)
    assert "(default: 2GB)" in help_text(TYPED)


def test_declared_flags() -> None:
    assert AGENT_FLAGS.names() == sorted(
        [
            "help",
            "hostname",
            "ip",
            "isolation",
            "launcher",
            "log_dir",
            "logging_level",
            "master",
            "port",
            "resources",
            "runtime_dir",
            "switch_user",
            "version",
            "work_dir",
        ]
    )


# ------------------------------------------------------------ Flags object


def test_flags_are_read_only_and_reject_unknown_names() -> None:
    flags = load([], {})
    with pytest.raises(AttributeError):
        flags.port = 1
    with pytest.raises(AttributeError):
        flags.no_such_flag
    with pytest.raises(KeyError):
        flags.get("no_such_flag")
    assert flags.get("port") == 5051


def test_argv_must_not_be_a_string() -> None:
    with pytest.raises(TypeError):
        load("--port=1", {})


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
