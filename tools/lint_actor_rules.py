#!/usr/bin/env python3
"""Checks the actor rules of DESIGN.md that a reader cannot see at a glance.

Inside mesos_py/ (the fork server excepted: it is a separate, single-threaded
program):
- no blocking waits: `time.sleep`, `.get(` on futures is not checkable, but
  pykka's blocking `ask`/`proxy` and `Future.get` imports are;
- no `subprocess` (a dropped Popen reaps other children) and no `os.fork`;
- no `pykka.ActorRegistry` (global state as a service locator).

Usage: python tools/lint_actor_rules.py [ROOT]   (exit 1 and one line per finding)
"""

from __future__ import annotations

import ast
import os
import sys

# The fork server and the launch helper it runs are single-threaded programs of
# their own: forking is their job.
EXEMPT = {os.path.join("mesos_py", "containerizer", "forkserver.py"),
          os.path.join("mesos_py", "containerizer", "launch.py")}
# The built-in executors are programs of their own, run inside containers.
EXEMPT_DIRECTORIES = (os.path.join("mesos_py", "executors") + os.sep,)
FORBIDDEN_CALLS = {
    ("time", "sleep"): "time.sleep blocks an actor; use clock.after() or a timer",
    ("os", "fork"): "os.fork in a threaded process; launch through the fork server",
    ("os", "system"): "os.system blocks and forks; use the fork server or the pool",
}
FORBIDDEN_MODULES = {"subprocess": "subprocess.Popen reaps other children; use the fork server"}
FORBIDDEN_ATTRIBUTES = {"ActorRegistry": "pykka.ActorRegistry is global state",
                        "proxy": "pykka proxies are untyped and block on attribute access",
                        "ask": "pykka ask() blocks; use dispatch()"}


def check_file(path: str, relative: str) -> list[str]:
    with open(path) as source:
        tree = ast.parse(source.read(), filename=path)
    findings = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names]
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for name in [module, *names]:
                if name and name.split(".")[0] in FORBIDDEN_MODULES:
                    findings.append(f"{relative}:{node.lineno}: {FORBIDDEN_MODULES[name.split('.')[0]]}")
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and (node.value.id, node.attr) in FORBIDDEN_CALLS:
                findings.append(f"{relative}:{node.lineno}: {FORBIDDEN_CALLS[(node.value.id, node.attr)]}")
            elif node.attr in FORBIDDEN_ATTRIBUTES and _is_pykka_use(node):
                findings.append(f"{relative}:{node.lineno}: {FORBIDDEN_ATTRIBUTES[node.attr]}")
    return findings


def _is_pykka_use(node: ast.Attribute) -> bool:
    if node.attr == "ActorRegistry":
        return True
    return isinstance(node.value, ast.Attribute) and node.value.attr in ("actor_ref", "_ref")


def main(root: str) -> int:
    findings: list[str] = []
    package = os.path.join(root, "mesos_py")
    for directory, _, files in os.walk(package):
        if os.sep + "protos" in directory:
            continue
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            if relative in EXEMPT or relative.startswith(EXEMPT_DIRECTORIES):
                continue
            findings.extend(check_file(path, relative))
    for finding in findings:
        print(finding)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
