"""The child side of rlimits and capabilities, checked through the kernel.

Each case runs a small Python program (the stand-in for the fork server's
child): it applies the rlimits, switches user and capabilities, prints its own
/proc/self/status, then execs a shell that prints the command's view. What a
command gets is read back from /proc: CapEff/CapPrm/CapInh/CapBnd/CapAmb
in /proc/<pid>/status and the limits in /proc/<pid>/limits.
"""

from __future__ import annotations

import json
import os
import pwd
import resource
import stat
import subprocess
import sys
from typing import Any

import pytest

from mesos_py.linux import capabilities
from mesos_py.linux.capabilities import NUMBERS
from mesos_py.protos.mesos.v1.mesos_pb2 import CapabilityInfo, RLimitInfo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = pwd.getpwnam("nobody")
CAP_KEYS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")

CHILD = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from mesos_py.linux import capabilities
spec = json.loads(sys.argv[2])
try:
    if spec.get("lose"):
        # Set-up of the case: this process gives up some capabilities first.
        lose = capabilities.mask(spec["lose"])
        for cap in spec["lose"]:
            capabilities.prctl(capabilities.PR_CAPBSET_DROP, cap)
        eff, prm, inh = capabilities.get_capabilities()
        capabilities.set_capabilities(eff & ~lose, prm & ~lose, inh & ~lose)
    capabilities.apply_rlimits(spec.get("rlimits") or [])
    capabilities.switch_user_and_capabilities(
        spec.get("uid"), spec.get("gid"), spec.get("groups"),
        spec.get("effective"), spec.get("bounding"))
except Exception as error:
    print("ERROR", type(error).__name__, error, flush=True)
    sys.exit(1)
with open("/proc/self/status") as status:
    print(status.read(), flush=True)
print("--- exec", flush=True)
os.execv("/bin/sh", ["sh", "-c", spec.get("command", "cat /proc/self/status")])
"""


def run_child(**spec: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD, ROOT, json.dumps(spec)],
                          capture_output=True, text=True, timeout=60, cwd="/")


def statuses(**spec: Any) -> tuple[dict[str, int], dict[str, int], str]:
    """(status before the exec, status of the exec'd command, the command's output)."""
    result = run_child(**spec)
    assert result.returncode == 0, result.stdout + result.stderr
    before, after = result.stdout.split("--- exec\n", 1)
    return parse_status(before), parse_status(after), after


def parse_status(text: str) -> dict[str, int]:
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in CAP_KEYS:
            fields[key] = int(value.strip(), 16)
        elif key in ("Uid", "Gid"):
            fields[key] = int(value.split()[1])  # the effective id
        elif key == "Groups":
            fields[key] = len(value.split())
    return fields


def caps(*names: str) -> int:
    return capabilities.mask(NUMBERS[name] for name in names)


def numbers(*names: str) -> list[int]:
    return [NUMBERS[name] for name in names]


def own_status() -> dict[str, int]:
    with open("/proc/self/status") as status:
        return parse_status(status.read())


def held(*names: str) -> bool:
    status = own_status()
    wanted = caps(*names)
    return status["CapEff"] & wanted == wanted and status["CapBnd"] & wanted == wanted


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
needs = pytest.mark.skipif(not held("NET_RAW", "NET_ADMIN", "NET_BIND_SERVICE", "CHOWN",
                                    "DAC_OVERRIDE", "SETPCAP", "SETUID", "SETGID"),
                           reason="this process lacks capabilities the cases grant")
USER = {"uid": NOBODY.pw_uid, "gid": NOBODY.pw_gid, "groups": [NOBODY.pw_gid]}


# ------------------------------------------------------------------ names
def test_names_match_mesos_protobuf_enum() -> None:
    enum = CapabilityInfo.Capability
    proto_names = [n for n in enum.keys() if n != "UNKNOWN"]
    assert sorted(proto_names) == sorted(capabilities.NAMES)
    for name in proto_names:
        assert enum.Value(name) - capabilities.PROTOBUF_OFFSET == capabilities.number(name)
        assert capabilities.to_protobuf(capabilities.number(name)) == enum.Value(name)
        assert capabilities.from_protobuf(enum.Value(name)) == capabilities.number(name)
    assert capabilities.number("NET_RAW") == 13 and capabilities.name(13) == "NET_RAW"
    assert capabilities.number("AUDIT_READ") == 37
    assert capabilities.name(38) == "PERFMON" and capabilities.name(63) == "CAP_63"
    with pytest.raises(ValueError):
        capabilities.from_protobuf(enum.UNKNOWN)


def test_describe_renders_like_mesos() -> None:
    assert capabilities.describe([13, 0, 13]) == "{ CHOWN, NET_RAW }"
    assert capabilities.describe([]) == "{  }"


def test_rlimit_names_cover_every_mesos_type() -> None:
    types = [n for n in RLimitInfo.RLimit.Type.keys() if n != "UNKNOWN"]
    assert sorted(types) == sorted(capabilities.RLIMIT_NAMES.values())
    assert capabilities.RLIMIT_NAMES[resource.RLIMIT_NOFILE] == "RLMT_NOFILE"


def test_child_module_imports_only_the_standard_library() -> None:
    program = ("import sys; sys.path.insert(0, sys.argv[1]); "
               "import mesos_py.linux.capabilities; "
               "print(sorted(m for m in sys.modules if m.startswith(('mesos_py', 'google'))))")
    result = subprocess.run([sys.executable, "-c", program, ROOT], capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == str(["mesos_py", "mesos_py.linux",
                                         "mesos_py.linux.capabilities"])


# ------------------------------------------------------- capabilities
@needs
def test_effective_as_root_is_every_set() -> None:
    want = caps("NET_RAW", "CHOWN")
    before, after, _ = statuses(effective=numbers("NET_RAW", "CHOWN"))
    for status in (before, after):
        assert status["Uid"] == 0
        assert {k: status[k] for k in CAP_KEYS} == dict.fromkeys(CAP_KEYS, want)


@needs
def test_effective_as_nobody_reaches_the_command_through_the_ambient_set() -> None:
    want = caps("NET_RAW", "NET_BIND_SERVICE")
    before, after, _ = statuses(effective=numbers("NET_RAW", "NET_BIND_SERVICE"), **USER)
    assert before["Uid"] == after["Uid"] == NOBODY.pw_uid
    assert after["Gid"] == NOBODY.pw_gid and after["Groups"] == 1
    for status in (before, after):
        assert {k: status[k] for k in CAP_KEYS} == dict.fromkeys(CAP_KEYS, want)


@needs
def test_a_larger_bounding_set_as_nobody() -> None:
    effective, bounding = caps("NET_RAW"), caps("NET_RAW", "NET_ADMIN")
    _, after, _ = statuses(effective=numbers("NET_RAW"),
                           bounding=numbers("NET_RAW", "NET_ADMIN"), **USER)
    assert after["CapEff"] == after["CapPrm"] == after["CapAmb"] == effective
    assert after["CapBnd"] == after["CapInh"] == bounding


@needs
def test_a_larger_bounding_set_as_root_gives_root_the_bounding_set_after_exec() -> None:
    # As in Mesos: the process holds exactly `effective` up to the exec; the
    # kernel then gives a root command its whole bounding set.
    effective, bounding = caps("NET_RAW"), caps("NET_RAW", "NET_ADMIN")
    before, after, _ = statuses(effective=numbers("NET_RAW"),
                                bounding=numbers("NET_RAW", "NET_ADMIN"))
    assert before["CapEff"] == before["CapPrm"] == before["CapAmb"] == effective
    assert before["CapBnd"] == before["CapInh"] == bounding
    assert after["CapEff"] == after["CapPrm"] == bounding
    assert after["CapAmb"] == effective and after["CapBnd"] == bounding


@needs
def test_bounding_only() -> None:
    bounding = caps("NET_RAW")
    _, root, _ = statuses(bounding=numbers("NET_RAW"))
    assert root["CapEff"] == root["CapPrm"] == root["CapBnd"] == root["CapInh"] == bounding
    assert root["CapAmb"] == 0
    _, nobody, _ = statuses(bounding=numbers("NET_RAW"), **USER)
    assert nobody["CapEff"] == nobody["CapPrm"] == nobody["CapAmb"] == 0
    assert nobody["CapBnd"] == nobody["CapInh"] == bounding


@needs
def test_empty_effective_drops_everything() -> None:
    for user in ({}, USER):
        _, after, _ = statuses(effective=[], **user)
        assert {k: after[k] for k in CAP_KEYS} == dict.fromkeys(CAP_KEYS, 0)


def test_no_capabilities_leaves_them_alone() -> None:
    mine = own_status()
    _, root, _ = statuses()
    assert {k: root[k] for k in CAP_KEYS} == {k: mine[k] for k in CAP_KEYS}
    _, nobody, _ = statuses(**USER)
    assert nobody["Uid"] == NOBODY.pw_uid
    assert nobody["CapEff"] == nobody["CapPrm"] == nobody["CapAmb"] == 0
    assert nobody["CapBnd"] == mine["CapBnd"]


@needs
def test_the_command_can_use_its_capability_as_nobody(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    os.chmod(secret, stat.S_IRUSR)
    os.chmod(tmp_path, stat.S_IRWXU)
    command = f"cat {secret}"
    allowed = run_child(effective=numbers("DAC_OVERRIDE"), command=command, **USER)
    assert allowed.returncode == 0 and allowed.stdout.endswith("s3cret\n"), allowed.stderr
    denied = run_child(effective=numbers("NET_RAW"), command=command, **USER)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


@needs
def test_a_capability_the_agent_lacks_cannot_be_granted() -> None:
    result = run_child(lose=numbers("NET_ADMIN"), effective=numbers("NET_RAW", "NET_ADMIN"))
    assert result.returncode == 1
    assert result.stdout.strip() == ("ERROR CapabilityError Cannot grant capabilities "
                                     "{ NET_ADMIN }: the agent does not hold them")


@needs
def test_a_bounding_set_beyond_the_agents_is_an_upper_bound_that_holds() -> None:
    _, after, _ = statuses(lose=numbers("NET_ADMIN"), effective=numbers("NET_RAW"),
                           bounding=numbers("NET_RAW", "NET_ADMIN"), **USER)
    assert after["CapEff"] == after["CapAmb"] == caps("NET_RAW")
    assert after["CapBnd"] == after["CapInh"] == caps("NET_RAW")


@needs
def test_effective_outside_bounding_fails() -> None:
    result = run_child(effective=numbers("NET_RAW", "CHOWN"), bounding=numbers("NET_RAW"))
    assert result.returncode == 1
    assert result.stdout.strip() == ("ERROR CapabilityError Ambient capabilities are not in "
                                     "the inheritable set")


def test_switch_user_failure_is_reported() -> None:
    # nobody cannot become root again: the switch of a process that already
    # left root fails with a message naming the step.
    program = CHILD.replace('spec = json.loads(sys.argv[2])',
                            'spec = json.loads(sys.argv[2]); os.setuid(65534)')
    result = subprocess.run([sys.executable, "-c", program, ROOT,
                             json.dumps({"uid": 0, "gid": 0, "groups": []})],
                            capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 1
    assert result.stdout.strip() == ("ERROR CapabilityError Failed to set supplementary gids: "
                                     "Operation not permitted")


# ------------------------------------------------------------- rlimits
def proc_limits(text: str) -> dict[str, tuple[str, str]]:
    result = {}
    for line in text.splitlines():
        if line.startswith("Max "):
            values = line[26:].split()
            result[line[:26].strip()] = (values[0], values[1])
    return result


def test_rlimits_reach_the_command() -> None:
    rlimits = [[resource.RLIMIT_NOFILE, 100, 200], [resource.RLIMIT_CORE, None, None],
               [resource.RLIMIT_MEMLOCK, 1024, 2048], [resource.RLIMIT_FSIZE, 2**64 - 2, 2**64 - 2],
               [capabilities.RLIMIT_NUMBERS["RLMT_LOCKS"], 5, 6]]
    _, _, output = statuses(rlimits=rlimits, command="cat /proc/self/limits")
    limits = proc_limits(output)
    assert limits["Max open files"] == ("100", "200")
    assert limits["Max core file size"] == ("unlimited", "unlimited")
    assert limits["Max locked memory"] == ("1024", "2048")
    assert limits["Max file size"] == (str(2**64 - 2), str(2**64 - 2))
    assert limits["Max file locks"] == ("5", "6")


@needs
def test_rlimits_stay_after_switching_user_and_a_later_entry_wins() -> None:
    rlimits = [[resource.RLIMIT_NOFILE, 300, 400], [resource.RLIMIT_NOFILE, 100, 200]]
    _, after, output = statuses(rlimits=rlimits, effective=[], **USER,
                                command="ulimit -n; cat /proc/self/status /proc/self/limits")
    assert output.split("\n", 1)[0] == "100"
    assert proc_limits(output)["Max open files"] == ("100", "200")
    assert after["Uid"] == NOBODY.pw_uid


def test_rlimit_errors_name_the_limit() -> None:
    result = run_child(rlimits=[[resource.RLIMIT_NOFILE, 300, 200]])
    assert result.returncode == 1
    assert result.stdout.strip() == ("ERROR RlimitError Failed to set RLMT_NOFILE limit: "
                                     "Invalid argument")
    result = run_child(rlimits=[[resource.RLIMIT_NOFILE, 1]])
    assert result.returncode == 1
    assert f"ERROR RlimitError Invalid rlimit [{resource.RLIMIT_NOFILE}, 1]" in result.stdout
