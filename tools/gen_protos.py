"""Generate the Python protobuf modules for every ``.proto`` under ``mesos_py/protos``.

Usage (from any directory; paths are resolved from this script's location)::

    .venv/bin/python tools/gen_protos.py           # regenerate in place
    .venv/bin/python tools/gen_protos.py --check   # verify committed files are fresh

The generator runs ``grpc_tools.protoc`` (bundled with the ``grpcio-tools``
package, see the ``test`` extra in ``setup.cfg``) with ``-I mesos_py/protos``,
emitting ``*_pb2.py`` and ``*_pb2.pyi`` next to the sources. protoc emits
imports relative to the include root (``from mesos.v1 import mesos_pb2``); they
are rewritten to package imports (``from mesos_py.protos.mesos.v1 import
mesos_pb2``) and every package directory gets an empty ``__init__.py``.

Output is deterministic, so ``--check`` regenerates into a temporary directory
and compares byte for byte: it exits 0 when everything is up to date, else 1
after listing the stale, missing or orphaned files. The generated code embeds
the protoc version, so use the grpcio-tools version pinned for the project.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "mesos_py" / "protos"
PACKAGE_PREFIX = "mesos_py.protos"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi")


def proto_sources(root: Path = PROTO_ROOT) -> list[str]:
    """Every .proto below ``root``, as sorted include-relative POSIX paths."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.proto"))


def run_protoc(sources: list[str], out_dir: Path) -> None:
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *sources,
    ]
    result = subprocess.run(cmd, cwd=PROTO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"protoc failed with exit code {result.returncode}")


def rewrite_imports(text: str, top_levels: set[str]) -> str:
    """Turn include-root-relative module paths into ``mesos_py.protos`` ones."""
    names = "|".join(sorted(re.escape(n) for n in top_levels))
    text = re.sub(
        rf"^(\s*)from ((?:{names})(?:\.\w+)*) import ",
        rf"\1from {PACKAGE_PREFIX}.\2 import ",
        text,
        flags=re.MULTILINE,
    )
    # Module name given to the generated classes (their __module__).
    return re.sub(
        rf"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, ')((?:{names})\.[\w.]*_pb2')",
        rf"\1{PACKAGE_PREFIX}.\2",
        text,
    )


def generated_files(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    )


def add_init_files(root: Path) -> None:
    """Ensure ``root`` and every directory holding generated code is a package."""
    dirs = {Path(".")}
    for path in generated_files(root):
        dirs.update(path.relative_to(root).parents)
    for rel in sorted(dirs):
        init = root / rel / "__init__.py"
        if not init.exists():
            init.write_bytes(b"")


def generate(out_dir: Path) -> None:
    sources = proto_sources()
    if not sources:
        raise SystemExit(f"no .proto files found under {PROTO_ROOT}")
    run_protoc(sources, out_dir)
    top_levels = {src.split("/", 1)[0] for src in sources}
    for path in generated_files(out_dir):
        text = path.read_text(encoding="utf-8")
        path.write_text(rewrite_imports(text, top_levels), encoding="utf-8", newline="\n")
    add_init_files(out_dir)


def expected_files(out_dir: Path) -> list[Path]:
    """Relative paths of everything ``generate`` produced in ``out_dir``."""
    return sorted(p.relative_to(out_dir) for p in out_dir.rglob("*") if p.is_file())


def compare(out_dir: Path) -> list[str]:
    """Problems found between a fresh generation in ``out_dir`` and the tree."""
    problems: list[str] = []
    expected = expected_files(out_dir)
    for rel in expected:
        target = PROTO_ROOT / rel
        if not target.exists():
            problems.append(f"missing: {target.relative_to(REPO_ROOT)}")
        elif rel.name != "__init__.py" and target.read_bytes() != (out_dir / rel).read_bytes():
            problems.append(f"stale: {target.relative_to(REPO_ROOT)}")
    wanted = set(expected)
    for path in generated_files(PROTO_ROOT):
        if path.relative_to(PROTO_ROOT) not in wanted:
            problems.append(f"orphaned (no .proto source): {path.relative_to(REPO_ROOT)}")
    return problems


def install(out_dir: Path) -> None:
    """Copy changed files into the tree and drop generated files without a source."""
    expected = expected_files(out_dir)
    for rel in expected:
        src, dst = out_dir / rel, PROTO_ROOT / rel
        if rel.name == "__init__.py" and dst.exists():
            continue  # never clobber a package's own __init__.py
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            print(f"wrote {dst.relative_to(REPO_ROOT)}")
    wanted = set(expected)
    for path in generated_files(PROTO_ROOT):
        if path.relative_to(PROTO_ROOT) not in wanted:
            path.unlink()
            print(f"removed orphan {path.relative_to(REPO_ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true",
        help="do not write; exit 1 if generated files are stale or missing",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mesos_py_protos_") as tmp:
        out_dir = Path(tmp)
        generate(out_dir)
        if not args.check:
            install(out_dir)
            return 0
        problems = compare(out_dir)
    for problem in problems:
        print(problem)
    if problems:
        print("generated protobuf code is out of date; run: python tools/gen_protos.py")
        return 1
    print(f"generated protobuf code is up to date ({len(proto_sources())} .proto files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
