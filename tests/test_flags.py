"""Tests for mesos_py.flags: the agent's flag table and its loading.

The generic loader is tested with tables of its own in test_flagslib.py, and
Duration and Bytes in test_units.py.
"""

from __future__ import annotations

from pathlib import Path

import os
import sysconfig

import pytest

from mesos_py import flags as F
from mesos_py.flags import AGENT_FLAGS, FlagError, help_text, load


def error_of(argv: list[str], environ: dict[str, str] | None = None, **kw: object) -> str:
    with pytest.raises(FlagError) as info:
        load(argv, environ or {}, **kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


# ---------------------------------------------------------------- defaults


def test_defaults() -> None:
    flags = load([], {})
    assert flags.work_dir == "/var/lib/mesos-py"
    assert flags.runtime_dir == "/var/run/mesos-py"
    assert flags.port == 5051 and isinstance(flags.port, int)
    assert flags.isolation == "posix/cpu,posix/mem"
    assert flags.launcher == ("linux" if os.geteuid() == 0 else "posix")
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
        "launcher": "linux" if os.geteuid() == 0 else "posix",
        "logging_level": "INFO",
        "port": "5051",
        "runtime_dir": "/var/run/mesos-py",
        "switch_user": "true",
        "version": "false",
        "work_dir": "/var/lib/mesos-py",
        "cgroups_destroy_timeout": "1mins",
        "cgroups_enable_cfs": "false",
        "cgroups_hierarchy": "/sys/fs/cgroup",
        "cgroups_limit_swap": "false",
        "cgroups_root": "mesos",
        "container_disk_watch_interval": "15secs",
        "container_pids_limit": "0",
        "enforce_container_disk_quota": "false",
        "http_heartbeat_interval": "30secs",
        "xfs_kill_containers": "false",
        "xfs_project_range": "[5000-10000]",
        "appc_simple_discovery_uri_prefix": "http://",
        "appc_store_dir": "/tmp/mesos/store/appc",
        "docker_ignore_runtime": "false",
        "docker_registry": "https://registry-1.docker.io",
        "docker_store_dir": "/tmp/mesos/store/docker",
        "fetcher_cache_dir": "/tmp/mesos/fetch",
        "fetcher_cache_size": "2GB",
        "fetcher_stall_timeout": "1mins",
        "default_role": "*",
        "disk_watch_interval": "1mins",
        "executor_registration_timeout": "1mins",
        "executor_reregistration_timeout": "2secs",
        "executor_shutdown_grace_period": "5secs",
        "gc_delay": "1weeks",
        "gc_disk_headroom": "0.1",
        "hostname_lookup": "true",
        "launcher_dir": sysconfig.get_path("scripts"),
        "max_completed_executors_per_framework": "150",
        "recovery_timeout": "15mins",
        "registration_backoff_factor": "1secs",
        "sandbox_directory": "/mnt/mesos/sandbox",
    }
    strings = load(["--ip=10.0.0.1", "--no-switch_user", "--port=6000"], {}).as_strings()
    assert list(strings) == sorted(strings)
    assert strings["ip"] == "10.0.0.1"
    assert strings["switch_user"] == "false"
    assert strings["port"] == "6000"
    assert "hostname" not in strings


def test_launcher_defaults_to_linux_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert load([], {}).launcher == "linux"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert load([], {}).launcher == "posix"
    assert "Expecting one of 'posix', 'linux'" in error_of(["--launcher=docker"])


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
            "--launcher=linux",
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
    assert flags.launcher == ("linux" if os.geteuid() == 0 else "posix")
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
            "Expecting one of 'posix', 'linux'",
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
            "bounding_capabilities",
            "cgroups_destroy_timeout",
            "cgroups_enable_cfs",
            "cgroups_hierarchy",
            "cgroups_limit_swap",
            "cgroups_net_cls_primary_handle",
            "cgroups_net_cls_secondary_handles",
            "cgroups_root",
            "container_disk_watch_interval",
            "container_pids_limit",
            "effective_capabilities",
            "enforce_container_disk_quota",
            "http_heartbeat_interval",
            "xfs_kill_containers",
            "appc_simple_discovery_uri_prefix",
            "appc_store_dir",
            "docker_config",
            "docker_ignore_runtime",
            "docker_registry",
            "docker_store_dir",
            "fetcher_cache_dir",
            "fetcher_cache_size",
            "fetcher_stall_timeout",
            "image_gc_config",
            "image_providers",
            "image_provisioner_backend",
            "sandbox_directory",
            "xfs_project_range",
            "advertise_ip",
            "advertise_port",
            "attributes",
            "default_role",
            "disk_watch_interval",
            "executor_environment_variables",
            "executor_registration_timeout",
            "executor_reregistration_timeout",
            "executor_shutdown_grace_period",
            "gc_delay",
            "gc_disk_headroom",
            "hostname_lookup",
            "launcher_dir",
            "max_completed_executors_per_framework",
            "recovery_timeout",
            "registration_backoff_factor",
        ]
    )


@pytest.mark.parametrize("argv,needle", [
    (["--attributes=rack"], "Invalid attribute key:value pair 'rack'"),
    (["--attributes=s:{a,b}"], "sets are not allowed"),
    (["--attributes=[{\"name\": \"r\"}]"], "Missing required fields: type"),
    (["--attributes=[{\"name\": \"r\", \"type\": \"SCALAR\"}]"], "Invalid attribute 'r'"),
    (["--executor_environment_variables=[1]"], "JSON object whose values are strings"),
    (["--executor_environment_variables={"], "Expecting a JSON object"),
    (["--gc_disk_headroom=1.5"], "between 0.0 and 1.0"),
    (["--gc_disk_headroom=lots"], "Failed to convert"),
    (["--executor_registration_timeout=5"], "Invalid duration"),
])
def test_agent_flags_are_validated(argv, needle) -> None:
    assert needle in error_of(argv)


def test_attributes_parse_in_both_forms() -> None:
    from mesos_py.resources.attributes import parse_attributes

    text = parse_attributes("rack:r1;zone:2;slots:[1-4]")
    as_json = parse_attributes('[{"name":"rack","type":"TEXT","text":{"value":"r1"}},'
                               '{"name":"zone","type":"SCALAR","scalar":{"value":2}},'
                               '{"name":"slots","type":"RANGES","ranges":{"range":'
                               '[{"begin":1,"end":4}]}}]')
    assert text == as_json
    assert [a.name for a in text] == ["rack", "zone", "slots"]


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


@pytest.mark.parametrize("argv,needle", [
    (["--cgroups_root=/abs"], "flag 'cgroups_root'"),
    (["--cgroups_root=a/../b"], "flag 'cgroups_root'"),
    (["--cgroups_net_cls_primary_handle=0x10000"], "flag 'cgroups_net_cls_primary_handle'"),
    (["--cgroups_net_cls_primary_handle=12"], "flag 'cgroups_net_cls_primary_handle'"),
    (["--cgroups_net_cls_secondary_handles=0x5,0x1"], "flag 'cgroups_net_cls_secondary_handles'"),
    (["--xfs_project_range=5000-10000"], "flag 'xfs_project_range'"),
    (["--container_pids_limit=-1"], "flag 'container_pids_limit'"),
    (["--container_disk_watch_interval=soon"], "flag 'container_disk_watch_interval'"),
])
def test_linux_isolation_flags_are_validated(argv, needle) -> None:
    assert needle in error_of(argv)


def test_linux_isolation_flags_parse() -> None:
    flags = load(["--cgroups_root=mesos_test/a", "--cgroups_net_cls_primary_handle=0x1a2b",
                  "--cgroups_net_cls_secondary_handles=0x0001,0x00ff",
                  "--container_disk_watch_interval=100ms", "--xfs_project_range=[10-20]"], {})
    assert flags.cgroups_root == "mesos_test/a"
    assert flags.cgroups_net_cls_primary_handle == "0x1a2b"
    assert flags.container_disk_watch_interval.seconds == 0.1
    assert flags.xfs_project_range == "[10-20]"
