"""Check that our .proto files are wire-compatible with upstream Apache Mesos.

Developer tool, not run by CI. Usage::

    .venv/bin/python tools/check_proto_compat.py /path/to/mesos-git [--tag 1.11.0]

The upstream protos are extracted with ``git show <tag>:include/<path>`` into a
temporary directory outside this repository and compiled with
``grpc_tools.protoc`` next to ours. The resulting FileDescriptorProtos are
compared declaration by declaration: every upstream message, enum, field
(name, number, type, type name, label, default, oneof, packed/deprecated
options, map entries) and enum value (name, number, order: the first value is
the proto2 default) must exist identically in ours, and ours must not declare
anything upstream lacks.

Upstream ``mesos/slave``, ``mesos/seccomp`` etc. reference the unversioned
``mesos`` package; ours reference ``mesos.v1``. Those type names are mapped
(``.mesos.X`` -> ``.mesos.v1.X``, plus the v1 renames ``SlaveID`` -> ``AgentID``
and ``SlaveInfo`` -> ``AgentInfo``) before comparing. For those files the tool
also checks that every upstream v0 type they reach (transitively) encodes
exactly like its v1 counterpart: same field numbers, wire types, labels and
enum numbers (names may differ, e.g. ``slave_id`` vs ``agent_id``).

Exit status: 0 when no mismatch is found, 1 otherwise (every mismatch is
printed). ``--ours DIR`` checks another include root instead of
``mesos_py/protos``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from google.protobuf import descriptor_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "mesos_py" / "protos"

# Our file -> upstream file (both relative to their include roots).
CHECKED_FILES = {
    "mesos/v1/mesos.proto": "mesos/v1/mesos.proto",
    "mesos/v1/agent/agent.proto": "mesos/v1/agent/agent.proto",
    "mesos/slave/containerizer.proto": "mesos/slave/containerizer.proto",
    "mesos/appc/spec.proto": "mesos/appc/spec.proto",
    "mesos/docker/v1.proto": "mesos/docker/v1.proto",
    "mesos/seccomp/seccomp.proto": "mesos/seccomp/seccomp.proto",
    "mesos/v1/executor/executor.proto": "mesos/v1/executor/executor.proto",
    "mesos/v1/resource_provider/resource_provider.proto":
        "mesos/v1/resource_provider/resource_provider.proto",
    "messages/messages.proto": "messages/messages.proto",
}
# Where an upstream file lives in the Mesos tree, when not under include/.
UPSTREAM_PATHS = {"messages/messages.proto": "src/messages/messages.proto"}
# Upstream files only needed as imports: the unversioned (v0) packages.
UPSTREAM_V0_FILE = "mesos/mesos.proto"
UPSTREAM_V0_RP_FILE = "mesos/resource_provider/resource_provider.proto"
IMPORT_RENAMES = {UPSTREAM_V0_FILE: "mesos/v1/mesos.proto",
                  UPSTREAM_V0_RP_FILE: "mesos/v1/resource_provider/resource_provider.proto"}
# Where a v0 type reached by our files does not encode like its v1 counterpart,
# and why that is harmless for mesos_py:
# - SlaveInfo.checkpoint (7) is deprecated and ignored by a 1.11 master unless
#   checkpointed resources are sent; v1 AgentInfo dropped it. The agent still
#   sends it, as an unknown field of AgentInfo (mesos_py/slave/registration.py).
# - MasterInfo.Capability.Type has a value (QUOTA_V2) v1 lacks; an agent never
#   reads MasterInfo capabilities.
ACCEPTED_V0_DIFFERENCES = {
    ".mesos.SlaveInfo (v0) vs .mesos.v1.AgentInfo: field #7",
    ".mesos.MasterInfo.Capability.Type (v0) vs .mesos.v1.MasterInfo.Capability.Type: enum numbers",
}
# v0 -> v1 type renames (the rest of package `mesos` maps 1:1 into `mesos.v1`).
TYPE_RENAMES = {".mesos.SlaveID": ".mesos.v1.AgentID", ".mesos.SlaveInfo": ".mesos.v1.AgentInfo"}

FDP = descriptor_pb2.FileDescriptorProto
DP = descriptor_pb2.DescriptorProto
EDP = descriptor_pb2.EnumDescriptorProto
FieldDP = descriptor_pb2.FieldDescriptorProto


def extract_upstream(mesos_repo: Path, tag: str, dest: Path) -> None:
    for rel in sorted({*CHECKED_FILES.values(), UPSTREAM_V0_FILE, UPSTREAM_V0_RP_FILE}):
        source = UPSTREAM_PATHS.get(rel, f"include/{rel}")
        result = subprocess.run(
            ["git", "-C", str(mesos_repo), "show", f"{tag}:{source}"],
            capture_output=True, check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"git show {tag}:{source} failed: {result.stderr.decode()}")
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(result.stdout)


def compile_set(include: Path, sources: Iterable[str], out: Path) -> dict[str, FDP]:
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc", f"-I{include}",
        "--include_imports", f"--descriptor_set_out={out}", *sorted(sources),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"protoc failed for {include}:\n{result.stderr}")
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(out.read_bytes())
    return {f.name: f for f in fds.file}


def type_names(prefix: str, messages: Iterable[DP], enums: Iterable[EDP]) -> Iterator[str]:
    for enum in enums:
        yield f"{prefix}.{enum.name}"
    for msg in messages:
        name = f"{prefix}.{msg.name}"
        yield name
        yield from type_names(name, msg.nested_type, msg.enum_type)


class TypeMapper:
    """Maps upstream v0 type names (`.mesos.X`, `.mesos.resource_provider.X`)
    to their `.mesos.v1` names."""

    def __init__(self, *v0_files: FDP) -> None:
        self.v0_types: set[str] = set()
        for v0_file in v0_files:
            prefix = f".{v0_file.package}"
            self.v0_types.update(type_names(prefix, v0_file.message_type, v0_file.enum_type))

    def __call__(self, name: str) -> str:
        if name not in self.v0_types:
            return name
        for old, new in TYPE_RENAMES.items():
            if name == old or name.startswith(old + "."):
                return new + name[len(old):]
        return ".mesos.v1" + name[len(".mesos"):]


class Comparator:
    def __init__(self, map_type: TypeMapper) -> None:
        self.map_type = map_type
        self.problems: list[str] = []

    def report(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def same(self, where: str, what: str, theirs: object, ours: object) -> None:
        if theirs != ours:
            self.report(where, f"{what} differs: upstream {theirs!r}, ours {ours!r}")

    def compare_file(self, up: FDP, our: FDP) -> None:
        where = our.name
        self.same(where, "package", up.package, our.package)
        deps = sorted(IMPORT_RENAMES.get(d, d) for d in up.dependency)
        self.same(where, "imports", deps, sorted(our.dependency))
        scope = f".{up.package}"
        self.compare_enums(scope, up.enum_type, our.enum_type)
        self.compare_messages(scope, up.message_type, our.message_type)

    def pair_up(self, scope: str, kind: str, theirs: Iterable, ours: Iterable) -> Iterator[tuple]:
        up_by = {x.name: x for x in theirs}
        our_by = {x.name: x for x in ours}
        for name in up_by.keys() - our_by.keys():
            self.report(f"{scope}.{name}", f"{kind} missing in ours")
        for name in our_by.keys() - up_by.keys():
            self.report(f"{scope}.{name}", f"{kind} not declared upstream")
        for name in sorted(up_by.keys() & our_by.keys()):
            yield f"{scope}.{name}", up_by[name], our_by[name]

    def compare_enums(self, scope: str, theirs: Iterable[EDP], ours: Iterable[EDP]) -> None:
        for where, up, our in self.pair_up(scope, "enum", theirs, ours):
            self.same(where, "values (in order)", enum_values(up), enum_values(our))
            self.same(where, "options", up.options, our.options)

    def compare_messages(self, scope: str, theirs: Iterable[DP], ours: Iterable[DP]) -> None:
        for where, up, our in self.pair_up(scope, "message", theirs, ours):
            self.same(where, "oneofs", [o.name for o in up.oneof_decl], [o.name for o in our.oneof_decl])
            self.same(where, "map_entry", up.options.map_entry, our.options.map_entry)
            self.same(where, "reserved ranges", reserved(up), reserved(our))
            self.same(where, "extension ranges", extension_ranges(up), extension_ranges(our))
            self.compare_fields(where, up, our)
            self.compare_enums(where, up.enum_type, our.enum_type)
            self.compare_messages(where, up.nested_type, our.nested_type)

    def compare_fields(self, scope: str, up_msg: DP, our_msg: DP) -> None:
        for where, up, our in self.pair_up(scope, "field", up_msg.field, our_msg.field):
            for attr in ("number", "label", "type", "default_value"):
                self.same(where, attr, getattr(up, attr), getattr(our, attr))
            self.same(where, "has default", up.HasField("default_value"), our.HasField("default_value"))
            self.same(where, "type_name", self.map_type(up.type_name), our.type_name)
            self.same(where, "oneof", oneof_name(up_msg, up), oneof_name(our_msg, our))
            self.same(where, "oneof_index", oneof_index(up), oneof_index(our))
            self.same(where, "packed", packed(up), packed(our))
            self.same(where, "deprecated", up.options.deprecated, our.options.deprecated)


def enum_values(enum: EDP) -> list[tuple[str, int, bool]]:
    return [(v.name, v.number, v.options.deprecated) for v in enum.value]


def reserved(msg: DP) -> list[tuple[int, int] | str]:
    return [(r.start, r.end) for r in msg.reserved_range] + list(msg.reserved_name)


def extension_ranges(msg: DP) -> list[tuple[int, int]]:
    return [(r.start, r.end) for r in msg.extension_range]


def oneof_index(field: FieldDP) -> int | None:
    return field.oneof_index if field.HasField("oneof_index") else None


def oneof_name(msg: DP, field: FieldDP) -> str | None:
    index = oneof_index(field)
    return None if index is None else msg.oneof_decl[index].name


def packed(field: FieldDP) -> bool | None:
    return field.options.packed if field.options.HasField("packed") else None


def index_types(
    prefix: str, messages: Iterable[DP], enums: Iterable[EDP]
) -> dict[str, DP | EDP]:
    """Fully-qualified name -> declaration, for every message/enum in a scope."""
    index: dict[str, DP | EDP] = {f"{prefix}.{e.name}": e for e in enums}
    for msg in messages:
        name = f"{prefix}.{msg.name}"
        index[name] = msg
        index.update(index_types(name, msg.nested_type, msg.enum_type))
    return index


def file_index(fdp: FDP) -> dict[str, DP | EDP]:
    return index_types(f".{fdp.package}", fdp.message_type, fdp.enum_type)


def referenced(messages: Iterable[DP]) -> Iterator[str]:
    for msg in messages:
        yield from (f.type_name for f in msg.field if f.type_name)


class V0WireCheck:
    """Checks that v0 types used by upstream files encode like our v1 ones."""

    def __init__(self, v0_files: list[FDP], v1_files: list[FDP], map_type: TypeMapper) -> None:
        self.v0 = {k: v for f in v0_files for k, v in file_index(f).items()}
        self.v1 = {k: v for f in v1_files for k, v in file_index(f).items()}
        self.map_type = map_type
        self.problems: list[str] = []
        self.checked = 0

    def run(self, upstream_files: Iterable[FDP]) -> list[str]:
        todo = [n for f in upstream_files for n in referenced(all_messages(f))]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen or name not in self.v0:
                continue
            seen.add(name)
            decl = self.v0[name]
            if isinstance(decl, DP):
                todo.extend(referenced([decl]))
            self.compare(name, decl)
        self.checked = len(seen)
        return self.problems

    def compare(self, name: str, v0_decl: DP | EDP) -> None:
        v1_name = self.map_type(name)
        ours = self.v1.get(v1_name)
        where = f"{name} (v0) vs {v1_name}"
        if isinstance(v0_decl, EDP) and isinstance(ours, EDP):
            self.same(where, "enum numbers", enum_numbers(v0_decl), enum_numbers(ours))
        elif isinstance(v0_decl, DP) and isinstance(ours, DP):
            theirs, mine = self.encodings(v0_decl, False), self.encodings(ours, True)
            for number in sorted(theirs.keys() | mine.keys()):
                self.same(where, f"field #{number} (type, label, type_name, default, packed, oneof)",
                          theirs.get(number), mine.get(number))
        else:
            self.problems.append(f"{where}: no matching v1 declaration")

    def encodings(self, msg: DP, is_v1: bool) -> dict[int, tuple[object, ...]]:
        index = self.v1 if is_v1 else self.v0
        result: dict[int, tuple[object, ...]] = {}
        for f in msg.field:
            type_name = f.type_name if is_v1 else self.map_type(f.type_name)
            default: object = f.default_value if f.HasField("default_value") else None
            if f.type == FieldDP.TYPE_ENUM and default is not None:
                enum = index[f.type_name]
                assert isinstance(enum, EDP)
                default = next(v.number for v in enum.value if v.name == default)
            result[f.number] = (f.type, f.label, type_name, default, packed(f),
                                oneof_name(msg, f))
        return result

    def same(self, where: str, what: str, theirs: object, ours: object) -> None:
        if theirs != ours:
            self.problems.append(f"{where}: {what} differs: v0 {theirs!r}, v1 {ours!r}")


def all_messages(fdp: FDP) -> list[DP]:
    return [d for d in file_index(fdp).values() if isinstance(d, DP)]


def enum_numbers(enum: EDP) -> list[int]:
    return [v.number for v in enum.value]


def make_workdir() -> tempfile.TemporaryDirectory[str]:
    tmp = tempfile.TemporaryDirectory(prefix="mesos_proto_compat_")
    if Path(tmp.name).resolve().is_relative_to(REPO_ROOT):
        tmp.cleanup()
        raise SystemExit(f"temporary directory {tmp.name} is inside {REPO_ROOT}; set TMPDIR")
    return tmp


def run(mesos_repo: Path, tag: str, ours_root: Path) -> list[str]:
    with make_workdir() as tmp:
        work = Path(tmp)
        upstream_root = work / "upstream"
        extract_upstream(mesos_repo, tag, upstream_root)
        upstream = compile_set(upstream_root, CHECKED_FILES.values(), work / "upstream.pb")
        ours = compile_set(ours_root, CHECKED_FILES.keys(), work / "ours.pb")
    map_type = TypeMapper(upstream[UPSTREAM_V0_FILE], upstream[UPSTREAM_V0_RP_FILE])
    comparator = Comparator(map_type)
    for our_name, up_name in CHECKED_FILES.items():
        before = len(comparator.problems)
        comparator.compare_file(upstream[up_name], ours[our_name])
        found = len(comparator.problems) - before
        print(f"{our_name}: {'OK' if not found else f'{found} mismatch(es)'}")
    v0_users = [upstream[up] for up in CHECKED_FILES.values()
                if UPSTREAM_V0_FILE in upstream[up].dependency]
    wire = V0WireCheck([upstream[UPSTREAM_V0_FILE], upstream[UPSTREAM_V0_RP_FILE]],
                       [ours["mesos/v1/mesos.proto"],
                        ours["mesos/v1/resource_provider/resource_provider.proto"]], map_type)
    wire_problems = [p for p in wire.run(v0_users)
                     if not any(p.startswith(known) for known in ACCEPTED_V0_DIFFERENCES)]
    print(f"{wire.checked} v0 types reached from {', '.join(f.name for f in v0_users)} "
          "encode like their v1 counterparts: "
          f"{'OK' if not wire_problems else f'{len(wire_problems)} mismatch(es)'}")
    return comparator.problems + wire_problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare our protos with upstream Mesos.")
    parser.add_argument("mesos_repo", type=Path, help="path to an Apache Mesos git checkout or mirror")
    parser.add_argument("--tag", default="1.11.0", help="upstream git tag or commit (default: %(default)s)")
    parser.add_argument("--ours", type=Path, default=PROTO_ROOT,
                        help="include root of our protos (default: mesos_py/protos)")
    args = parser.parse_args(argv)
    problems = run(args.mesos_repo, args.tag, args.ours.resolve())
    for problem in problems:
        print(f"MISMATCH {problem}")
    print(f"{len(problems)} mismatch(es) against Mesos {args.tag}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
