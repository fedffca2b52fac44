#!/usr/bin/env python3
"""Container launch latency with Linux isolation: mesos-py vs crun vs the Mesos 1.11 agent.

Issue 3's benchmark. Every system runs the same command, a 151-byte static
x86_64 program written by this script (`first FIFO`: open(FIFO, O_WRONLY),
exit 0 if that worked, 1 otherwise). Its first system call is the open, so
"the command runs" is the moment the benchmark's reader of that FIFO wakes up.
Each run gives two figures, p50 / p99 over `--runs` runs (default 200):

  a/b. mesos-py (`tests.agent.AgentProcess`, `--launcher=linux
       --isolation=cgroups/cpu,cgroups/mem,namespaces/pid,namespaces/ipc,filesystem/linux`):
       LAUNCH_CONTAINER (cpus 0.1, mem 32) until the command runs, and
       LAUNCH_CONTAINER + WAIT_CONTAINER;
  c.   `crun run` of an OCI bundle on the busybox rootfs of
       ../shared/tools/images/make-images: from spawning crun until the command
       runs, and until crun exits (container deleted, cgroups removed);
  d.   the reference Mesos 1.11 agent (../shared/tools/mesos-master,
       MESOS_NUM_SLAVES=1, `MESOS_LAUNCHER=linux`, the same isolation, which it
       supports, namespaces/ipc included; it adds its default isolators, and
       the run notes the list from its log): the same two figures as mesos-py.
       Mesos forgets an ended top-level container, so a WAIT that arrives after
       its destruction gets 404: that run is repeated (and counted).

The systems are measured in the same run, interleaved (one launch of each per
round, `--gap` ms of idle time before each launch, default 100), so that the
machine's drift hits them alike and no launch rides on the kernel state the
previous one left (see `first_procs_write`). It prints a markdown table, the
two ratios (mesos-py / crun, p50 of "until the command runs"; mesos-py /
reference, p50 of LAUNCH + WAIT), the median of the per-round ratios, and
where mesos-py's launch time goes, from its agent's log (the containerizer's
"transitioned from X to Y after N ms" lines and the other per-container
lines, timed against the benchmark's own clock: CLOCK_REALTIME on one host),
and the cost of a first `cgroup.procs` write on this kernel.

The crun bundle is the default `crun spec` (as ../shared/tools/images/bench-launch
runs it) with: the pid, ipc and mount namespaces only (no network or uts
namespace: mesos-py gives these containers neither), the busybox rootfs
read-only, the benchmark's scratch directory bind-mounted at /tmp (so the
FIFO and the program are reachable), cgroup cpu.shares 102 and memory limit
and reservation 32 MiB (what mesos-py writes for cpus 0.1, mem 32), cgroups
under `/mesos_py_lbench_<token>/` (crun joins every v1 hierarchy, mesos-py
cpu, cpuacct, memory and freezer). crun keeps its default mounts (/proc, /dev
tmpfs, devpts, shm, mqueue, sysfs, cgroup), masked and read-only paths,
capabilities and devices rules: more work than mesos-py does (a /proc and a
`/` made rslave in its own mount namespace, no pivot_root). `--crun-minimal`
adds a second crun column whose bundle keeps only /proc.

Usage (root, x86_64):
  .venv/bin/python tools/bench/linux_isolation.py [--runs 200] [--warmup 10]
      [--gap 100] [--cpus 0.1] [--mem 32] [--no-reference] [--no-crun]
      [--crun-minimal] [--profile [--profile-runs 100]]
      [--images DIR] [--keep-log FILE]

`--profile` adds an instrumented mesos-py series (not part of the table: the
instrumentation slows it) run under `tools/bench/launch_trace.py`, which
times every actor message, pool job, cgroupfs write, checkpoint, fork-server
hop and step of the container's first process, and prints the breakdown.

Needs and installs: crun (apt-get, if missing; crun 1.8 of Debian 12),
the busybox rootfs (`../shared/tools/images/make-images DIR`, default
$MESOS_PY_IMAGES or /tmp/mesos-py-images, kept as a cache like bench-launch
does), and the reference agent's cache (built by ../shared/tools/mesos-master
on first use). crun 1.8 refuses this host's hybrid cgroup layout while the
cgroup2 mount owns a controller (hugetlb): as bench-launch does, the benchmark
mounts that controller's v1 hierarchy at /sys/fs/cgroup/<controller> for the
run, and unmounts it at the end once its cgroups are released, checking that
the controller is back in the cgroup2 mount (bench-launch does not wait for
that, and can leave hugetlb stranded in an invisible v1 hierarchy; see
`V1Mounts`).

Clean-up, also on error or SIGINT/SIGTERM: every container (mesos-py agents'
`cleanup()`, `crun delete -f` of whatever its private state root lists, the
reference's `stop`), every cgroup it created (the agents' roots, the
`mesos_py_lbench_<token>` cgroups crun made in every hierarchy and the
`cgroup.procs` probe's, the reference's root), the hugetlb mount, the scratch
directory (bundles, FIFOs, program, crun state, work dirs). Network: loopback
only.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)

from mesos_py.linux import cgroups
from tests.agent import AgentProcess
from tests.reference import ReferenceAgent

ISOLATION = "cgroups/cpu,cgroups/mem,namespaces/pid,namespaces/ipc,filesystem/linux"
CPUS, MEM_MB = 0.1, 32  # each launch's resources (--cpus, --mem)
SHARED_TOOLS = os.path.normpath(os.path.join(ROOT, "..", "shared", "tools"))
MAKE_IMAGES = os.path.join(SHARED_TOOLS, "images", "make-images")
UNIFIED = "/sys/fs/cgroup/unified"
PROBE_TIMEOUT = 30.0


def cpu_shares() -> int:
    return max(int(1024 * CPUS), 2)  # what cgroups/cpu writes (Mesos's rule)


def mem_bytes() -> int:
    return int(max(MEM_MB, 32.0) * 2**20)  # cgroups/mem's hard limit (at least 32 MB)


# ================================================================ statistics
def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def cell(value: tuple[float, float] | None) -> str:
    return f"{value[0]:.2f} / {value[1]:.2f}" if value else "n/a"


# ============================================================ the command
def first_program() -> bytes:
    """A static x86_64 ELF: open(argv[1], O_WRONLY); exit(open failed ? 1 : 0).

    No libc, no dynamic loader: its first instruction is the measured open,
    and it runs unchanged on the host and inside the busybox rootfs.
    """
    code = bytes.fromhex(
        "488b7c2410"  # mov rdi, [rsp+16]    argv[1]
        "be01000000"  # mov esi, 1           O_WRONLY
        "b802000000"  # mov eax, 2           SYS_open
        "0f05"        # syscall
        "4889c7"      # mov rdi, rax
        "48c1ef3f"    # shr rdi, 63          1 if open returned -errno
        "b83c000000"  # mov eax, 60          SYS_exit
        "0f05")       # syscall
    base, ehsize, phsize = 0x400000, 64, 56
    header = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9,
                         2, 0x3E, 1, base + ehsize + phsize, ehsize, 0, 0, ehsize, phsize,
                         1, 0, 0, 0)
    size = ehsize + phsize + len(code)
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return header + program + code


class FifoProbe:
    """When does something open `path` for writing? A reader thread, re-armed per run."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.mkfifo(path, 0o666)
        self._thread: threading.Thread | None = None
        self.opened: float | None = None  # perf_counter
        self.opened_wall: float | None = None  # time.time

    def arm(self) -> None:
        self.opened = self.opened_wall = None

        def read() -> None:
            fd = os.open(self.path, os.O_RDONLY)
            self.opened, self.opened_wall = time.perf_counter(), time.time()
            os.close(fd)

        self._thread = threading.Thread(target=read, daemon=True)
        self._thread.start()

    def wait(self, timeout: float = PROBE_TIMEOUT) -> float:
        """perf_counter when the writer opened; raises if nobody did."""
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.release()
            raise TimeoutError(f"nothing opened {self.path} within {timeout:g}s")
        assert self.opened is not None
        return self.opened

    def release(self) -> None:
        """Unblocks a reader still waiting (opening the write end ourselves)."""
        if self._thread is not None and self._thread.is_alive():
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            self._thread.join(5)


@dataclasses.dataclass
class Sample:
    first: float  # ms from the start until the command ran
    done: float  # ms from the start until its exit was reported
    start_wall: float = 0.0
    start_mono: int = 0  # time.monotonic_ns() at the start (the trace's clock)
    first_wall: float = 0.0
    done_wall: float = 0.0


# ========================================================== agents (HTTP)
class Client:
    def __init__(self, port: int, path: str) -> None:
        self.path = path
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, body: dict[str, Any]) -> tuple[int, bytes]:
        self.connection.request("POST", self.path, json.dumps(body),
                                {"Content-Type": "application/json",
                                 "Accept": "application/json"})
        response = self.connection.getresponse()
        return response.status, response.read()

    def launch(self, container_id: str, argv: list[str]) -> None:
        status, body = self.call({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": container_id},
            "command": {"shell": False, "value": argv[0], "arguments": argv},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": CPUS}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": MEM_MB}}]}})
        if status != 200:
            raise RuntimeError(f"LAUNCH_CONTAINER {container_id}: {status} {body!r}")

    def wait(self, container_id: str) -> tuple[int, dict[str, Any]]:
        status, body = self.call({"type": "WAIT_CONTAINER", "wait_container": {
            "container_id": {"value": container_id}}})
        return status, (json.loads(body) if status == 200 else {"error": body.decode()})

    def close(self) -> None:
        self.connection.close()


class AgentSeries:
    """LAUNCH until the command runs, and LAUNCH + WAIT, against one agent."""

    def __init__(self, name: str, client: Client, probe: FifoProbe, program: str,
                 prefix: str) -> None:
        self.name, self.client, self.probe = name, client, probe
        self.program, self.prefix = program, prefix
        self.retried = 0

    def run(self, index: int) -> Sample:
        for attempt in range(5):
            container_id = f"{self.prefix}-{index}" + (f"-retry{attempt}" if attempt else "")
            self.probe.arm()
            start_wall, start_mono, start = time.time(), time.monotonic_ns(), time.perf_counter()
            try:
                self.client.launch(container_id, [self.program, self.probe.path])
                first = self.probe.wait()
            finally:
                self.probe.release()
            status, reply = self.client.wait(container_id)
            done, done_wall = time.perf_counter(), time.time()
            if status == 404:
                # Mesos 1.11 forgets an ended top-level container: a WAIT that
                # arrives after its destruction finds nothing. Run it again.
                self.retried += 1
                continue
            exit_status = reply.get("wait_container", {}).get("exit_status")
            if status != 200 or exit_status != 0:
                raise RuntimeError(f"{self.name}: WAIT_CONTAINER {container_id}: {status} {reply}")
            assert self.probe.opened_wall is not None
            return Sample((first - start) * 1000, (done - start) * 1000, start_wall, start_mono,
                          self.probe.opened_wall, done_wall)
        raise RuntimeError(f"{self.name}: WAIT_CONTAINER kept answering 404")


class LinuxReferenceAgent(ReferenceAgent):
    """The reference agent with the linux launcher and the given isolation."""

    def __init__(self, isolation: str) -> None:
        super().__init__()
        self.isolation = isolation
        self.env.update(MESOS_LAUNCHER="linux", MESOS_ISOLATION=isolation,
                        MESOS_CGROUPS_ROOT=f"mesos_reference_{self.port}")

    def log(self) -> str:
        try:
            with open(os.path.join(self.env["MESOS_MASTER_RUN_DIR"], "master.log"),
                      errors="replace") as log:
                return log.read()
        except OSError:
            return ""


# ==================================================================== crun
def v1_controller_mounted(controller: str) -> bool:
    return any(controller in m.subsystems for m in cgroups.mounts() if m.root == "/")


def hierarchy_id_and_count(controller: str) -> tuple[int, int]:
    """(hierarchy id, number of cgroups) of `controller` in /proc/cgroups."""
    with open("/proc/cgroups") as table:
        for line in table:
            fields = line.split()
            if fields and fields[0] == controller:
                return int(fields[1]), int(fields[2])
    return 0, 0


class V1Mounts:
    """bench-launch's fix for crun 1.8 on this hybrid host, undone afterwards.

    crun 1.8 refuses a v1+v2 hybrid host while the cgroup2 mount owns a
    controller (here hugetlb). Mounting that controller's v1 hierarchy moves it
    out of cgroup2. Undoing it: the hierarchy goes back to cgroup2 only when it
    is unmounted with no child cgroup left, dying ones included (an rmdir'ed
    cgroup lingers until the kernel drops its last reference); otherwise the
    unmounted hierarchy stays alive, invisible, and cgroup2 keeps lacking the
    controller. So `release` waits for the hierarchy to be empty, and mounts
    and unmounts it again if it did not go back.
    """

    def __init__(self) -> None:
        self.mounted: list[tuple[str, str]] = []  # (controller, mount point)
        self.created_dirs: list[str] = []
        self.warnings: list[str] = []

    def mount_for_crun(self) -> None:
        try:
            with open(os.path.join(UNIFIED, "cgroup.controllers")) as owned:
                controllers = owned.read().split()
        except OSError:
            return
        for controller in controllers:
            if v1_controller_mounted(controller):
                continue
            point = f"/sys/fs/cgroup/{controller}"
            if not os.path.isdir(point):
                os.mkdir(point)
                self.created_dirs.append(point)
            subprocess.run(["mount", "-t", "cgroup", "-o", controller, "cgroup", point],
                           check=True)
            self.mounted.append((controller, point))
            print(f"linux_isolation: mounted the {controller} v1 hierarchy at {point} for crun "
                  "(undone at exit)", file=sys.stderr)

    def release(self) -> None:
        for controller, point in reversed(self.mounted):
            self.release_v1_hierarchy(controller, point)
        self.mounted.clear()
        for point in reversed(self.created_dirs):
            try:
                os.rmdir(point)
            except OSError as error:
                self.warnings.append(f"could not remove {point}: {error}")
        self.created_dirs.clear()

    def release_v1_hierarchy(self, controller: str, point: str) -> None:
        for attempt in range(10):
            deadline = time.monotonic() + 10
            while hierarchy_id_and_count(controller)[1] > 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            if os.path.ismount(point):
                subprocess.run(["umount", point], check=False)
            time.sleep(0.05 * (attempt + 1))
            if hierarchy_id_and_count(controller)[0] == 0:
                return  # back in cgroup2
            # Unmounted while a (dying) child cgroup still held it: mount it
            # again (the same, living hierarchy) and retry.
            subprocess.run(["mount", "-t", "cgroup", "-o", controller, "cgroup", point],
                           check=False)
        self.warnings.append(f"the {controller} v1 hierarchy did not go back to cgroup2; it is "
                             f"left mounted at {point} (`umount {point}` once "
                             f"/proc/cgroups shows 1 cgroup for it)")


class CrunSeries:
    """`crun run` of a bundle on the busybox rootfs, timed from spawn."""

    def __init__(self, scratch: str, shared: str, rootfs: str, probe_name: str,
                 token: str, minimal: bool = False, label: str = "crun") -> None:
        self.scratch, self.shared, self.rootfs = scratch, shared, rootfs
        self.label = label
        self.bundle = os.path.join(scratch, f"bundle-{label}")
        self.state = os.path.join(scratch, "crun-state")
        self.cgroup_parent = f"mesos_py_lbench_{token}"
        self.probe = FifoProbe(os.path.join(shared, probe_name))
        self.inside_fifo = f"/tmp/{probe_name}"
        self.minimal = minimal
        self.token = token
        self.log_path = os.path.join(scratch, f"{label}.log")
        self.child: int | None = None
        os.makedirs(self.bundle, exist_ok=True)
        os.makedirs(self.state, exist_ok=True)
        self._write_config()

    def _write_config(self) -> None:
        subprocess.run(["crun", "spec"], cwd=self.bundle, check=True)
        path = os.path.join(self.bundle, "config.json")
        with open(path) as source:
            config = json.load(source)
        config["process"]["args"] = ["/tmp/first", self.inside_fifo]
        config["process"]["terminal"] = False
        config["root"] = {"path": self.rootfs, "readonly": True}
        config.pop("hostname", None)  # needs a uts namespace
        if self.minimal:
            config["mounts"] = [m for m in config["mounts"] if m["destination"] == "/proc"]
            config["linux"].pop("maskedPaths", None)
            config["linux"].pop("readonlyPaths", None)
        config["mounts"].append({"destination": "/tmp", "type": "bind", "source": self.shared,
                                 "options": ["rbind", "rw"]})
        linux = config["linux"]
        linux["namespaces"] = [{"type": t} for t in ("pid", "ipc", "mount")]
        linux["resources"]["cpu"] = {"shares": cpu_shares()}
        linux["resources"]["memory"] = {"limit": mem_bytes(), "reservation": mem_bytes()}
        self.config = config
        with open(path, "w") as out:
            json.dump(config, out, indent=1)

    def run(self, index: int) -> Sample:
        container_id = f"mesos-py-lbench-{self.token}-{self.label}-{index}"
        # Per run: its own cgroup below our parent (written before the clock starts).
        self.config["linux"]["cgroupsPath"] = f"/{self.cgroup_parent}/{self.label}-{index}"
        with open(os.path.join(self.bundle, "config.json"), "w") as out:
            json.dump(self.config, out)
        argv = ["crun", "--root", self.state, "run", "--bundle", self.bundle, container_id]
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.probe.arm()
            start_wall, start = time.time(), time.perf_counter()
            try:
                self.child = os.posix_spawnp("crun", argv, os.environ, file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log_fd, 1), (os.POSIX_SPAWN_DUP2, log_fd, 2)])
                first = self.probe.wait()
            finally:
                self.probe.release()
            _, status = os.waitpid(self.child, 0)
            done, done_wall = time.perf_counter(), time.time()
            self.child = None
        finally:
            os.close(log_fd)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"crun run {container_id}: exit status {status}; "
                               f"see {self.log_path}:\n{self._log_tail()}")
        assert self.probe.opened_wall is not None
        return Sample((first - start) * 1000, (done - start) * 1000, start_wall, 0,
                      self.probe.opened_wall, done_wall)

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, errors="replace") as log:
                return log.read()[-2000:]
        except OSError:
            return ""

    def cleanup(self, warnings: list[str]) -> None:
        if self.child is not None:
            try:
                os.kill(self.child, signal.SIGKILL)
                os.waitpid(self.child, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.child = None
        self.probe.release()
        if os.path.isdir(self.state):
            listed = subprocess.run(["crun", "--root", self.state, "list", "-q"],
                                    capture_output=True, text=True, check=False)
            for container_id in listed.stdout.split():
                subprocess.run(["crun", "--root", self.state, "delete", "-f", container_id],
                               capture_output=True, check=False)
                warnings.append(f"deleted a leftover crun container {container_id}")


def first_procs_write(token: str, warnings: list[str], rounds: int = 8,
                      idle: float = 0.3) -> tuple[float, float] | None:
    """ms for the first write to a v1 `cgroup.procs` after `idle` seconds without one.

    Before Linux 6.18 (and on 6.18+ until a cgroup hierarchy was mounted with
    `favordynmods`, which switches the kernel one way, until reboot, to a
    per-threadgroup lock), moving a process takes the global
    cgroup_threadgroup_rwsem for writing, and the first writer after a quiet
    spell waits for an RCU grace period (5-20 ms here). Every launcher pays it
    once per container (crun too); this tells which mode the host is in.
    """
    freezer = cgroups.hierarchy_of("freezer")
    if freezer is None:
        return None
    cgroup = f"mesos_py_lbench_{token}_probe"
    cgroups.create(freezer, cgroup)
    samples = []
    try:
        for _ in range(rounds):
            time.sleep(idle)
            child = os.posix_spawn("/bin/sleep", ["sleep", "10"], os.environ)
            try:
                start = time.perf_counter()
                cgroups.assign(freezer, cgroup, child)
                samples.append((time.perf_counter() - start) * 1000)
            finally:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
    finally:
        remove_cgroup_everywhere(cgroup, warnings)
    return percentiles(samples)


def remove_cgroup_everywhere(cgroup: str, warnings: list[str]) -> None:
    """Kills what is left in `cgroup` and removes it, in every hierarchy (v1 and v2)."""
    for mount in cgroups.mounts():
        if mount.root != "/" or not cgroups.exists(mount.point, cgroup):
            continue
        try:
            cgroups.destroy(mount.point, cgroup, timeout=20)
        except cgroups.CgroupError as error:
            warnings.append(f"could not remove cgroup {cgroup} in {mount.point}: {error}")


# ================================================= mesos-py launch breakdown
LOG_LINE = re.compile(r"^[IWEF](\d{4}) (\d\d:\d\d:\d\d\.\d{6})\s+\d+ \S+\] (\S+): (.*)$")


def log_time(day: str, clock: str, year: int) -> float:
    moment = time.strptime(f"{year}{day} {clock.split('.')[0]}", "%Y%m%d %H:%M:%S")
    return time.mktime(moment) + int(clock.split(".")[1]) / 1e6


def container_events(log_text: str, prefix: str) -> dict[str, list[tuple[float, str]]]:
    """Per container id starting with `prefix`: (wall time, message) of its log lines."""
    year = time.localtime().tm_year
    events: dict[str, list[tuple[float, str]]] = {}
    for line in log_text.splitlines():
        match = LOG_LINE.match(line)
        if match and match.group(3).startswith(prefix):
            events.setdefault(match.group(3), []).append(
                (log_time(match.group(1), match.group(2), year), match.group(4)))
    return events


MESOS_PY_MARKS = [  # (label, pattern of the log line that ends the phase)
    ("request sent → containerizer `launching`", r"launching"),
    ("→ `forked pid` (config checkpoint, isolators' prepare, fork, launcher's cgroup)",
     r"forked pid"),
    ("→ ISOLATING", r"to ISOLATING"),
    ("→ FETCHING (isolate: cgroup.procs writes, beside the pid checkpoint)", r"to FETCHING"),
    ("→ RUNNING (sync pipe released)", r"to RUNNING"),
    ("→ the command runs (container init: spawn, exec; mounts came before the release)",
     None),
    ("→ `first process exited` seen", r"exited"),
    ("→ `terminated` (destroy: kill, cgroups, termination checkpoint)", r"terminated"),
    ("→ WAIT_CONTAINER answered", None),
]


def mesos_py_breakdown(log_text: str, prefix: str, samples: dict[str, Sample]
                       ) -> list[tuple[str, tuple[float, float]]]:
    """Per phase of a launch, p50/p99 of its duration (ms), from the agent's log."""
    events = container_events(log_text, prefix)
    phases: dict[str, list[float]] = {label: [] for label, _ in MESOS_PY_MARKS}
    for container_id, sample in samples.items():
        lines = events.get(container_id, [])
        marks: list[float] = []
        for label, pattern in MESOS_PY_MARKS:
            if pattern is None:
                marks.append(sample.first_wall if "command runs" in label else sample.done_wall)
                continue
            found = [t for t, message in lines if re.search(pattern, message)]
            if not found:
                break
            marks.append(found[0])
        else:
            previous = sample.start_wall
            for (label, _), mark in zip(MESOS_PY_MARKS, marks):
                phases[label].append((mark - previous) * 1000)
                previous = mark
    return [(label, percentiles(values)) for label, values in phases.items() if values]


# ===================================================================== main
@dataclasses.dataclass
class Results:
    series: dict[str, list[Sample]] = dataclasses.field(default_factory=dict)
    kernel_probe: tuple[float, float] | None = None
    samples_by_id: dict[str, dict[str, Sample]] = dataclasses.field(default_factory=dict)

    def add(self, name: str, key: str, sample: Sample) -> None:
        self.series.setdefault(name, []).append(sample)
        self.samples_by_id.setdefault(name, {})[key] = sample

    def first(self, name: str) -> tuple[float, float] | None:
        samples = self.series.get(name)
        return percentiles([s.first for s in samples]) if samples else None

    def paired_ratio(self, name: str, other: str) -> float | None:
        ours, theirs = self.series.get(name), self.series.get(other)
        if not ours or not theirs or len(ours) != len(theirs):
            return None
        return statistics.median(a.first / b.first for a, b in zip(ours, theirs, strict=True))

    def done(self, name: str) -> tuple[float, float] | None:
        samples = self.series.get(name)
        return percentiles([s.done for s in samples]) if samples else None


def ensure_crun() -> str:
    if shutil.which("crun") is None:
        print("linux_isolation: installing crun with apt-get", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "crun"]
        if subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=False).returncode:
            subprocess.run(["apt-get", "-q", "update"], stdout=subprocess.DEVNULL, check=True)
            subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=True)
    version = subprocess.run(["crun", "--version"], capture_output=True, text=True, check=True)
    return version.stdout.splitlines()[0]


def ensure_rootfs(images: str) -> str:
    subprocess.run([MAKE_IMAGES, images], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    rootfs = os.path.join(images, "rootfs")
    if not os.path.isdir(os.path.join(rootfs, "tmp")):
        raise RuntimeError(f"{rootfs} has no /tmp to bind the benchmark's directory on")
    return rootfs


def start_reference(isolation: str, notes: list[str]) -> LinuxReferenceAgent | None:
    """The reference agent with `isolation`; without namespaces/ipc if it refuses it."""
    candidates = [isolation]
    if "namespaces/ipc" in isolation:
        candidates.append(",".join(n for n in isolation.split(",") if n != "namespaces/ipc"))
    for attempt in candidates:
        reference = LinuxReferenceAgent(attempt)
        try:
            reference.start()
        except RuntimeError as error:
            notes.append(f"reference agent refused --isolation={attempt}: {error}")
            reference.stop()
            continue
        if attempt != isolation:
            notes.append(f"the reference agent runs without namespaces/ipc ({attempt})")
        return reference
    return None


def check_reference_isolation(reference: LinuxReferenceAgent, notes: list[str]) -> None:
    """Notes the isolators the reference really uses (its log's `Using isolation {...}`)."""
    found = re.search(r"Using isolation \{ ([^}]*) \}", reference.log())
    if found is None:
        notes.append("the reference agent's log has no `Using isolation` line")
        return
    used = [name.strip() for name in found.group(1).split(",")]
    missing = [n for n in reference.isolation.split(",") if n not in used]
    notes.append(f"the reference agent uses {{{', '.join(used)}}} (Mesos adds its defaults)"
                 + (f"; missing: {', '.join(missing)}" if missing else ""))


def main() -> None:
    global CPUS, MEM_MB
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--no-crun", action="store_true")
    parser.add_argument("--crun-minimal", action="store_true",
                        help="also time crun with a bundle that mounts only /proc")
    parser.add_argument("--profile", action="store_true",
                        help="also run an instrumented mesos-py series and print its breakdown")
    parser.add_argument("--profile-runs", type=int, default=100)
    parser.add_argument("--images", default=os.environ.get("MESOS_PY_IMAGES",
                                                           "/tmp/mesos-py-images"))
    parser.add_argument("--keep-log", help="copy mesos-py's agent log here")
    parser.add_argument("--gap", type=float, default=100.0,
                        help="ms of idle time before every timed launch (default 100)")
    parser.add_argument("--cpus", type=float, default=0.1)
    parser.add_argument("--mem", type=float, default=32.0)
    args = parser.parse_args()
    CPUS, MEM_MB = args.cpus, args.mem
    if os.geteuid() != 0:
        sys.exit("linux_isolation: needs root (cgroups, namespaces, crun)")

    token = uuid.uuid4().hex[:8]
    notes: list[str] = []
    warnings: list[str] = []
    crun_version = ""
    rootfs = ""
    if not args.no_crun:
        crun_version = ensure_crun()
        rootfs = ensure_rootfs(args.images)

    scratch = tempfile.mkdtemp(prefix="mesos-py-linux-bench-")
    os.chmod(scratch, 0o755)
    shared = os.path.join(scratch, "shared")  # bound at /tmp inside crun's containers
    os.makedirs(shared)
    program = os.path.join(shared, "first")
    with open(program, "wb") as out:
        out.write(first_program())
    os.chmod(program, 0o755)

    agent = AgentProcess(os.path.join(scratch, "work"), os.path.join(scratch, "run"),
                         extra_flags=["--launcher=linux", f"--isolation={ISOLATION}"])
    v1_mounts = V1Mounts()
    crun_runs: list[CrunSeries] = []
    reference: LinuxReferenceAgent | None = None
    profile_output: list[str] = []
    results = Results()
    clients: list[Client] = []
    agents: list[AgentProcess] = [agent]
    try:
        agent.start()
        ours_client = Client(agent.port, "/api/v1")
        clients.append(ours_client)
        series: list[tuple[str, Callable[[int], Sample], Callable[[int], str]]] = []
        ours = AgentSeries("mesos-py", ours_client, FifoProbe(os.path.join(shared, "ours.fifo")),
                           program, "lb")
        series.append(("mesos-py", ours.run, lambda i: f"lb-{i}"))
        if not args.no_crun:
            v1_mounts.mount_for_crun()
            crun = CrunSeries(scratch, shared, rootfs, "crun.fifo", token)
            crun_runs.append(crun)
            series.append(("crun", crun.run, lambda i: str(i)))
            if args.crun_minimal:
                minimal = CrunSeries(scratch, shared, rootfs, "crun-min.fifo", token,
                                     minimal=True, label="crunmin")
                crun_runs.append(minimal)
                series.append(("crun-minimal", minimal.run, lambda i: str(i)))
        ref_series: AgentSeries | None = None
        if not args.no_reference:
            reference = start_reference(ISOLATION, notes)
            if reference is not None:
                check_reference_isolation(reference, notes)
                ref_client = Client(reference.port, "/slave(1)/api/v1")
                clients.append(ref_client)
                ref_series = AgentSeries("reference", ref_client,
                                         FifoProbe(os.path.join(shared, "ref.fifo")),
                                         program, "lbref")
                series.append(("reference", ref_series.run, lambda i: f"lbref-{i}"))

        for i in range(args.warmup):
            for name, run, _ in series:
                run(-1 - i)
        for i in range(args.runs):
            for name, run, key in series:
                time.sleep(args.gap / 1000)
                results.add(name, key(i), run(i))
        results.kernel_probe = first_procs_write(token, warnings)
        if ref_series is not None and ref_series.retried:
            notes.append(f"{ref_series.retried} reference run(s) repeated: WAIT_CONTAINER came "
                         "after Mesos had forgotten the ended container (404)")

        if args.profile:
            from launch_trace import profile_launches  # tools/bench, on sys.path
            profile_output = profile_launches(scratch, program, shared, ISOLATION,
                                              args.profile_runs, args.gap)
    finally:
        for client in clients:
            client.close()
        log_text = agent.log()
        for each in agents:
            each.cleanup()
        if args.keep_log:
            with open(args.keep_log, "w") as out:
                out.write(log_text)
        for crun in crun_runs:
            crun.cleanup(warnings)
            crun.probe.release()
        remove_cgroup_everywhere(f"mesos_py_lbench_{token}", warnings)
        v1_mounts.release()
        warnings.extend(v1_mounts.warnings)
        if reference is not None:
            reference.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    report(args, results, log_text, crun_version, notes, warnings, profile_output,
           reference.isolation if reference else None)


def report(args: argparse.Namespace, results: Results, log_text: str, crun_version: str,
           notes: list[str], warnings: list[str], profile_output: list[str],
           reference_isolation: str | None) -> None:
    columns = [("mesos-py", "mesos-py")]
    columns.append(("crun", f"`crun run` ({crun_version or 'n/a'})"))
    if "crun-minimal" in results.series:
        columns.append(("crun-minimal", "`crun run`, /proc only"))
    columns.append(("reference", "Mesos 1.11 agent"))
    print(f"mesos-py linux isolation benchmark, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.uname().release}, {os.cpu_count()} CPUs, {args.runs} runs each (interleaved), "
          f"p50 / p99 in ms")
    print(f"isolation: {ISOLATION}; reference: {reference_isolation or 'not run'}; "
          f"resources: cpus {CPUS:g}, mem {MEM_MB:g}; {args.gap:g} ms idle before each launch")
    if results.kernel_probe:
        print(f"kernel: first write to a v1 cgroup.procs after 300 ms idle: "
              f"{cell(results.kernel_probe)} ms (p50 / max of 8; ~0.1 ms: per-threadgroup "
              "rwsem mode, no RCU grace period)")
    print()
    print("| measure | " + " | ".join(title for _, title in columns) + " |")
    print("|---|" + "---|" * len(columns))
    print("| launch until the command runs | "
          + " | ".join(cell(results.first(name)) for name, _ in columns) + " |")
    print("| launch until its exit is reported (LAUNCH + WAIT; crun: until `crun run` exits) | "
          + " | ".join(cell(results.done(name)) for name, _ in columns) + " |")
    print()
    ours_first, crun_first = results.first("mesos-py"), results.first("crun")
    ours_done, ref_done = results.done("mesos-py"), results.done("reference")
    if ours_first and crun_first:
        ratio = ours_first[0] / crun_first[0]
        print(f"mesos-py / crun, p50 until the command runs: {ratio:.2f}x "
              f"(target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")
    paired = results.paired_ratio("mesos-py", "crun")
    if paired is not None:
        print(f"mesos-py / crun, median of the per-round ratios (each launch against the crun "
              f"launch of its round; less sensitive to drift): {paired:.2f}x")
    if ours_done and ref_done:
        print(f"mesos-py / Mesos 1.11 agent, p50 of LAUNCH + WAIT: {ours_done[0] / ref_done[0]:.2f}x")
    if ours_first and results.first("reference"):
        print(f"mesos-py / Mesos 1.11 agent, p50 until the command runs: "
              f"{ours_first[0] / results.first('reference')[0]:.2f}x")  # type: ignore[index]
    print()
    breakdown = mesos_py_breakdown(log_text, "lb-", results.samples_by_id.get("mesos-py", {}))
    if breakdown:
        print("Where mesos-py's launch goes (agent log, p50 / p99 ms per phase):")
        print()
        print("| phase | ms |")
        print("|---|---|")
        for label, value in breakdown:
            print(f"| {label} | {cell(value)} |")
        print()
    for line in profile_output:
        print(line)
    for note in notes:
        print(f"note: {note}")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    sys.path.insert(0, HERE)
    main()
