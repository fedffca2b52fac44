"""Command-line flags of the agent, declared as one table.

Every flag is one `FlagSpec` entry in `AGENT_FLAGS`; `load()` reads them from
the command line and the environment with the semantics of Mesos's "stout"
flags library, and `Flags` holds the typed result. The syntax, the sources,
the value types and the error messages are described in `mesos_py.flagslib`,
which holds that machinery; `FlagError`, `Flags`, `Duration` and `Bytes` are
re-exported here so that the agent needs only this module.

--help and --version
--------------------
`load()` never raises when ``--help`` or ``--version`` is true (see
`mesos_py.flagslib`). The caller must check ``flags.help`` first (print
`help_text()`, exit 0), then ``flags.version`` (print `version_text()`, exit
0), as mesos-agent does.

Adding a flag
-------------
Append one `FlagSpec` to `AGENT_FLAGS`. A flag has a fixed ``default``, or a
``default_factory`` called at load time when the flag is not given, or
neither (then it is optional: its value is None and `as_strings()` omits it)
or ``required=True``. ``validate`` is called with the final typed value
(defaults included; never with None) and returns an error text or None.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sysconfig
from typing import Mapping, Sequence

from mesos_py import flagslib
from mesos_py.flagslib import (
    BOOL,
    ENV_PREFIX,
    INT,
    PATH,
    STRING,
    FlagError,
    Flags,
    FlagSpec,
    FlagTable,
    FlagType,
    choice,
)
from mesos_py.units import Bytes, Duration

__all__ = [
    "AGENT_FLAGS",
    "Bytes",
    "Duration",
    "ENV_PREFIX",
    "FlagError",
    "Flags",
    "PROGRAM_NAME",
    "help_text",
    "load",
    "version_text",
]

PROGRAM_NAME = "mesos-py-agent"


# --------------------------------------------------------------------------
# Computed defaults and validators of the agent's flags.


def _validate_port(port: int) -> str | None:
    if not 0 <= port <= 65535:
        return f"Expecting a port number between 0 and 65535, got {port}"
    return None


def _validate_ipv4(text: str) -> str | None:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return f"'{text}' is not an IPv4 address"
    return None


def _validate_cgroups_root(root: str) -> str | None:
    parts = root.split("/")
    if not root or root.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return f"Expecting a relative cgroup path without '.' or '..' components, got '{root}'"
    return None


def _validate_handle(text: str) -> str | None:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else None
    except ValueError:
        value = None
    if value is None or not 0 < value <= 0xFFFF:
        return f"Expecting a non-zero 16-bit hexadecimal handle like 0x1a2b, got '{text}'"
    return None


def _validate_secondary_handles(text: str) -> str | None:
    low, comma, high = text.partition(",")
    if not comma or _validate_handle(low) or _validate_handle(high) or \
            int(low, 16) > int(high, 16):
        return f"Expecting a range of handles like 0x0001,0xffff, got '{text}'"
    return None


def _validate_project_range(text: str) -> str | None:
    import re

    match = re.fullmatch(r"\[(\d+)-(\d+)\]", text.strip())
    if match is None or int(match.group(1)) > int(match.group(2)) or int(match.group(1)) == 0:
        return f"Expecting a range of project ids like [5000-10000], got '{text}'"
    return None


def _validate_non_negative(value: int) -> str | None:
    return None if value >= 0 else f"Expecting a number >= 0, got {value}"


def load_json_object(text: str) -> dict[str, object]:
    """A JSON-object flag's value: the JSON itself, or (as stout's JSON flags
    accept) an absolute path of a file holding it. ValueError with the reason."""
    if text.startswith("/"):
        try:
            with open(text) as source:
                text = source.read()
        except OSError as error:
            raise ValueError(f"Failed to read '{text}': {error.strerror}")
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ValueError(f"Invalid JSON: {error}")
    if not isinstance(value, dict):
        raise ValueError("Expecting a JSON object")
    return value


def _validate_json_object(text: str) -> str | None:
    try:
        load_json_object(text)
    except ValueError as error:
        return str(error)
    return None


def _validate_attributes(text: str) -> str | None:
    from mesos_py.resources import ResourcesError
    from mesos_py.resources.attributes import parse_attributes

    try:
        parse_attributes(text)
    except ResourcesError as error:
        return str(error)
    return None


def _validate_image_providers(text: str) -> str | None:
    for provider in (p.strip() for p in text.split(",")):
        if provider.upper() not in ("APPC", "DOCKER"):
            return f"Unknown image type '{provider}' (expecting APPC or DOCKER)"
    return None


def _validate_backend(text: str) -> str | None:
    if text not in ("bind", "copy", "overlay"):
        return (f"The specified provisioner backend '{text}' is not supported: Not found "
                "(expecting bind, copy or overlay)")
    return None


def _validate_absolute(text: str) -> str | None:
    return None if text.startswith("/") else f"Expecting an absolute path, got '{text}'"


def _validate_environment_json(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError as error:
        return f"Expecting a JSON object: {error}"
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return "Expecting a JSON object whose values are strings"
    return None


def _validate_fraction(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else f"Expecting a value between 0.0 and 1.0, got {value}"


def _default_launcher_dir() -> str:
    return sysconfig.get_path("scripts")


def _parse_double(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("Failed to convert into required type") from None
    if value != value:
        raise ValueError("Expecting a number, got NaN")
    return value


DOUBLE = FlagType("double", _parse_double, lambda value: f"{value:g}")


AGENT_FLAGS = FlagTable(
    [
        FlagSpec(
            "help",
            BOOL,
            "Print this list of flags and exit.",
            default=False,
        ),
        FlagSpec(
            "version",
            BOOL,
            "Print the agent's version and exit.",
            default=False,
        ),
        FlagSpec(
            "work_dir",
            PATH,
            "Directory holding the agent's checkpointed state and the sandboxes "
            "of executors. Avoid places that are cleaned up automatically, such "
            "as /tmp: a long-running agent would lose its state.",
            default="/var/lib/mesos-py",
        ),
        FlagSpec(
            "runtime_dir",
            PATH,
            "Directory for runtime data that must outlive a crash of the agent "
            "but not a reboot of the host (it should be emptied at boot).",
            default="/var/run/mesos-py",
        ),
        FlagSpec(
            "ip",
            STRING,
            "IPv4 address to listen on. When not given, the agent listens on "
            "every address of the host (0.0.0.0).",
            validate=_validate_ipv4,
        ),
        FlagSpec(
            "port",
            INT,
            "TCP port to listen on.",
            default=5051,
            validate=_validate_port,
        ),
        FlagSpec(
            "hostname",
            STRING,
            "Hostname this agent reports. When not given, it is found by "
            "looking up the address the agent advertises.",
        ),
        FlagSpec(
            "resources",
            STRING,
            "The resources this agent offers in total, as JSON or as "
            "`name(role):value` items separated by `;`. Whatever is not given "
            "here is detected from the host.",
        ),
        FlagSpec(
            "isolation",
            STRING,
            "Comma-separated isolators to apply to containers, for example "
            "`posix/cpu,posix/mem` or `cgroups/cpu,cgroups/mem`.",
            default="posix/cpu,posix/mem",
        ),
        FlagSpec(
            "launcher",
            choice("posix", "linux"),
            "How container processes are started: `linux` puts them in the "
            "namespaces the isolators ask for (needed by the namespaces, "
            "filesystem/linux and cgroups isolators); `posix` runs each "
            "container as a session of processes on the host. The default is "
            "`linux` when the agent runs as root, else `posix`.",
            default_factory=lambda: "linux" if os.geteuid() == 0 else "posix",
            default_help="linux as root, else posix",
        ),
        FlagSpec(
            "master",
            STRING,
            "The master to register with: `host:port`, "
            "`zk://[user:password@]host1:port1,host2:port2,.../path`, or "
            "`file:///path` naming a file that holds one of those.",
            conceal_file_contents=True,
        ),
        FlagSpec(
            "switch_user",
            BOOL,
            "Run each task as the user its framework asks for (this needs the "
            "right to change user, and a user missing on this host fails the "
            "task). When false, tasks run as the agent's own user.",
            default=True,
        ),
        FlagSpec(
            "logging_level",
            choice("INFO", "WARNING", "ERROR"),
            "Lowest severity that gets logged: `INFO`, `WARNING` or `ERROR`.",
            default="INFO",
        ),
        FlagSpec(
            "log_dir",
            PATH,
            "Directory for the agent's log files. When not given, logs only go "
            "to stderr and nothing is written to disk.",
        ),
        FlagSpec(
            "http_heartbeat_interval",
            flagslib.DURATION,
            "How often a streamed response (attached output, a session, an "
            "executor's subscription) carries a heartbeat.",
            default=Duration(30),
        ),
        # ---------------------------------------------- Linux isolation
        FlagSpec(
            "cgroups_hierarchy",
            PATH,
            "Where the cgroup filesystems are mounted. cgroup v1 (a hierarchy "
            "per controller below it) or v2 (one unified hierarchy there) is "
            "detected from what is mounted.",
            default="/sys/fs/cgroup",
        ),
        FlagSpec(
            "cgroups_root",
            STRING,
            "The cgroup, relative to each hierarchy, under which every "
            "container's cgroup is created. Agents sharing a host need "
            "different roots.",
            default="mesos",
            validate=_validate_cgroups_root,
        ),
        FlagSpec(
            "cgroups_enable_cfs",
            BOOL,
            "Also cap each container's CPU time at its `cpus` (CFS bandwidth "
            "control), not only weight it.",
            default=False,
        ),
        FlagSpec(
            "cgroups_limit_swap",
            BOOL,
            "Apply a container's memory limit to memory and swap together.",
            default=False,
        ),
        FlagSpec(
            "cgroups_destroy_timeout",
            flagslib.DURATION,
            "How long destroying a container's cgroups may take before the "
            "destroy is reported failed.",
            default=Duration(60),
        ),
        FlagSpec(
            "cgroups_net_cls_primary_handle",
            STRING,
            "A 16-bit primary net_cls handle (`0xAAAA`). When given, "
            "`cgroups/net_cls` gives every container its own `0xAAAABBBB` "
            "classid and reports it in the container status.",
            validate=_validate_handle,
        ),
        FlagSpec(
            "cgroups_net_cls_secondary_handles",
            STRING,
            "The secondary handles `cgroups/net_cls` may hand out, as "
            "`0xBBBB,0xCCCC` (default: all of them).",
            validate=_validate_secondary_handles,
        ),
        FlagSpec(
            "container_pids_limit",
            INT,
            "With `cgroups/pids`: the most processes and threads a container "
            "may have at once (0: no limit). Not a Mesos flag.",
            default=0,
            validate=_validate_non_negative,
        ),
        FlagSpec(
            "container_disk_watch_interval",
            flagslib.DURATION,
            "How often `disk/du` and `disk/xfs` measure each sandbox.",
            default=Duration(15),
        ),
        FlagSpec(
            "enforce_container_disk_quota",
            BOOL,
            "Destroy a container whose sandbox outgrows its `disk` resource "
            "(`disk/du`; with `disk/xfs`, writes past the quota fail anyway).",
            default=False,
        ),
        FlagSpec(
            "xfs_project_range",
            STRING,
            "The XFS project ids `disk/xfs` may give to sandboxes, as "
            "`[first-last]`; none of them may be used by anything else.",
            default="[5000-10000]",
            validate=_validate_project_range,
        ),
        FlagSpec(
            "xfs_kill_containers",
            BOOL,
            "Make `disk/xfs` also destroy a container that reaches its quota.",
            default=False,
        ),
        FlagSpec(
            "effective_capabilities",
            STRING,
            "With `linux/capabilities`: the capabilities containers get by "
            "default, as JSON `{\"capabilities\": [\"NET_RAW\", ...]}`.",
        ),
        # ------------------------------------------ images and fetching
        FlagSpec(
            "image_providers",
            STRING,
            "Comma-separated list of supported image providers, e.g. "
            "`APPC,DOCKER`. Needs `filesystem/linux` in `--isolation` and the "
            "linux launcher; `DOCKER` also needs `docker/runtime`.",
            validate=_validate_image_providers,
        ),
        FlagSpec(
            "image_provisioner_backend",
            STRING,
            "How a container's root filesystem is made from its image's "
            "layers: `overlay` (an overlay mount), `copy` (a copy of every "
            "layer) or `bind` (the only layer of a single-layer image, "
            "read-only). The default is `overlay` when the kernel and the "
            "work directory's filesystem support it, else `copy`.",
            validate=_validate_backend,
        ),
        FlagSpec(
            "docker_registry",
            STRING,
            "Where Docker images are pulled from: a Docker registry "
            "(`https://registry-1.docker.io`; an image name with a registry, "
            "like `127.0.0.1:5000/busybox`, uses that one), or a local "
            "directory of `docker save` archives (`<name>:<tag>.tar`, or "
            "`<name>.tar` for `latest`) and OCI image layouts (`<name>`).",
            default="https://registry-1.docker.io",
        ),
        FlagSpec(
            "docker_store_dir",
            PATH,
            "Directory the Docker store keeps image layers in.",
            default="/tmp/mesos/store/docker",
        ),
        FlagSpec(
            "docker_config",
            STRING,
            "Docker registry credentials, in the format of Docker's "
            "`~/.docker/config.json` (or the older `~/.dockercfg`): the JSON, "
            "or an absolute path of a file holding it.",
            validate=_validate_json_object,
            conceal_file_contents=True,
        ),
        FlagSpec(
            "docker_ignore_runtime",
            BOOL,
            "Ignore the runtime configuration of Docker images (Entrypoint, "
            "Cmd, Env, WorkingDir): `docker/runtime` then leaves the "
            "container's command as given.",
            default=False,
        ),
        FlagSpec(
            "appc_store_dir",
            PATH,
            "Directory the Appc store keeps images in.",
            default="/tmp/mesos/store/appc",
        ),
        FlagSpec(
            "appc_simple_discovery_uri_prefix",
            STRING,
            "URI prefix for the simple discovery of Appc images "
            "(`{prefix}{name}-{version}-{os}-{arch}.aci`): `http://`, "
            "`https://host:port/path/`, or a local directory like "
            "`/var/lib/images/`.",
            default="http://",
        ),
        FlagSpec(
            "image_gc_config",
            STRING,
            "Automatic image garbage collection, as JSON (or an absolute "
            "path of a file holding it): `{\"image_disk_headroom\": 0.1, "
            "\"image_disk_watch_interval\": {\"nanoseconds\": 3600000000000}, "
            "\"excluded_images\": [Image, ...]}`. Every interval, when the "
            "image store's disk has less free space than the headroom, every "
            "image no container uses (and not excluded) is removed. Without "
            "it, images are removed only by PRUNE_IMAGES.",
            validate=_validate_json_object,
        ),
        FlagSpec(
            "sandbox_directory",
            PATH,
            "Where a container with its own root filesystem finds its "
            "sandbox (`MESOS_SANDBOX` points there).",
            default="/mnt/mesos/sandbox",
            validate=_validate_absolute,
        ),
        FlagSpec(
            "fetcher_cache_dir",
            PATH,
            "Directory of the fetcher cache (CommandInfo.uris with "
            "`cache: true`). It is emptied when the agent starts.",
            default="/tmp/mesos/fetch",
        ),
        FlagSpec(
            "fetcher_cache_size",
            flagslib.BYTES,
            "The most the fetcher cache may hold; the least recently used "
            "entries are evicted, and a bigger download bypasses the cache.",
            default=Bytes.parse("2GB"),
        ),
        FlagSpec(
            "fetcher_stall_timeout",
            flagslib.DURATION,
            "A download (a URI or an image layer) that receives nothing for "
            "this long is aborted.",
            default=Duration(60),
        ),
        FlagSpec(
            "bounding_capabilities",
            STRING,
            "With `linux/capabilities`: the most capabilities a container may "
            "ever get, in the syntax of `--effective_capabilities` (default: "
            "all).",
        ),
        # ------------------------------------------ master, executors, GC
        FlagSpec(
            "attributes",
            STRING,
            "Attributes of this agent, offered to frameworks with its "
            "resources: `rack:r1;zone:2` (a scalar, `[a-b]` ranges or text per "
            "name) or a JSON array of Attribute objects.",
            validate=_validate_attributes,
        ),
        FlagSpec(
            "default_role",
            STRING,
            "The role of resources named in `--resources` without one, and of "
            "probed resources.",
            default="*",
        ),
        FlagSpec(
            "hostname_lookup",
            BOOL,
            "When `--hostname` is not given, look the hostname up from the "
            "advertised address; when false, report the address itself.",
            default=True,
        ),
        FlagSpec(
            "advertise_ip",
            STRING,
            "The IPv4 address the master and executors should use to reach "
            "this agent, when it differs from `--ip` (e.g. behind NAT).",
            validate=_validate_ipv4,
        ),
        FlagSpec(
            "advertise_port",
            INT,
            "The port to advertise with `--advertise_ip`.",
            validate=_validate_port,
        ),
        FlagSpec(
            "registration_backoff_factor",
            flagslib.DURATION,
            "The first (re-)registration attempt waits a random time up to this "
            "long, and each retry doubles the bound (at most 1 minute).",
            default=Duration(1),
        ),
        FlagSpec(
            "executor_registration_timeout",
            flagslib.DURATION,
            "How long an executor may take to subscribe before its container is "
            "destroyed and its tasks fail.",
            default=Duration(60),
        ),
        FlagSpec(
            "executor_reregistration_timeout",
            flagslib.DURATION,
            "After an agent restart, how long executors have to re-subscribe "
            "before they are shut down.",
            default=Duration(2),
        ),
        FlagSpec(
            "executor_shutdown_grace_period",
            flagslib.DURATION,
            "How long an executor may take to shut down after being told to, "
            "before its container is destroyed.",
            default=Duration(5),
        ),
        FlagSpec(
            "executor_environment_variables",
            STRING,
            "Environment variables every executor gets, as a JSON object of "
            "strings, e.g. `{\"PATH\": \"/bin:/usr/bin\"}`.",
            validate=_validate_environment_json,
        ),
        FlagSpec(
            "recovery_timeout",
            flagslib.DURATION,
            "How long executors of a stopped agent wait for it to come back "
            "before they exit (passed to executors as MESOS_RECOVERY_TIMEOUT).",
            default=Duration(15 * 60),
        ),
        FlagSpec(
            "max_completed_executors_per_framework",
            INT,
            "How many completed executors (and their tasks) to keep per "
            "framework for `/state` and the operator API.",
            default=150,
            validate=_validate_non_negative,
        ),
        FlagSpec(
            "launcher_dir",
            PATH,
            "Directory holding `mesos-py-executor` and "
            "`mesos-py-default-executor`. When they are not there, the agent "
            "runs them with its own Python (`python -m mesos_py.executors...`).",
            default_factory=_default_launcher_dir,
            default_help="the agent's Python scripts directory",
        ),
        FlagSpec(
            "gc_delay",
            flagslib.DURATION,
            "How long after they were last changed the sandboxes and "
            "checkpoints of finished executors and frameworks are deleted "
            "(sooner when the disk fills up, see `--gc_disk_headroom`).",
            default=Duration(7 * 24 * 3600),
        ),
        FlagSpec(
            "gc_disk_headroom",
            DOUBLE,
            "Disk headroom to keep for sandboxes: with usage u of the work "
            "dir's filesystem, the effective delay is "
            "`gc_delay * max(0, 1 - gc_disk_headroom - u)`. Between 0 and 1.",
            default=0.1,
            validate=_validate_fraction,
        ),
        FlagSpec(
            "disk_watch_interval",
            flagslib.DURATION,
            "How often disk usage is checked to speed up garbage collection.",
            default=Duration(60),
        ),
    ]
)


# --------------------------------------------------------------------------
# Loading, help and version, with the agent's table as the default.


def load(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    table: FlagTable = AGENT_FLAGS,
    prefix: str = ENV_PREFIX,
) -> Flags:
    """Load the agent's flags from ``argv`` (without the program name) and
    ``environ``: `mesos_py.flagslib.load` with `AGENT_FLAGS` as the default
    table.

    Raises `FlagError` on the first problem, unless ``--help`` or
    ``--version`` is true (see the module documentation).
    """
    return flagslib.load(argv, environ, table=table, prefix=prefix)


def help_text(table: FlagTable = AGENT_FLAGS, program: str = PROGRAM_NAME) -> str:
    """The ``--help`` text: a usage line, then every flag in name order with
    its description and, when it has one, its default."""
    return flagslib.help_text(table, program)


def version_text() -> str:
    """What ``--version`` prints (Mesos prints ``mesos <version>``)."""
    from mesos_py import __version__

    return f"{PROGRAM_NAME} {__version__}"
