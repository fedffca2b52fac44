#!/usr/bin/env python3
"""Benchmark of the foundation: actors, container launch latency, memory.

Prints, each over N runs (default 200) with p50/p99:
  1. dispatch round trip between two actors (A -> B -> back on A), in us;
  2. LAUNCH_CONTAINER until the command runs (it opens a FIFO the benchmark
     reads), in ms;
  3. LAUNCH_CONTAINER + WAIT_CONTAINER of `true`, in ms;
  4. the agent's RSS (and the fork server's) with 200 `sleep` containers.

Peers measured in the same run, on the same machine:
  - the reference Mesos 1.11 agent (../shared/tools/mesos-master, posix
    launcher, posix/cpu,posix/mem) for 2 and 3, unless --no-reference;
  - posix_spawn of /bin/sh running the same command, as the floor for 2 and 3.

Usage: .venv/bin/python tools/bench/foundation.py [--runs 200] [--no-reference]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from mesos_py.actors import Process, Promise, Runtime, defer, dispatch  # noqa: E402
from mesos_py.actors.testing import await_ready  # noqa: E402
from tests.agent import AgentProcess  # noqa: E402
from tests.reference import ReferenceAgent  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered), p99


# ------------------------------------------------------------ 1. dispatch
class Echo(Process):
    def echo(self, value: int) -> int:
        return value


class Pinger(Process):
    def __init__(self, target: Any) -> None:
        super().__init__()
        self.target = target

    def run(self, rounds: int, done: Promise[list[float]]) -> None:
        samples: list[float] = []

        def one(_: Any = None) -> None:
            if len(samples) == rounds:
                done.set(samples)
                return
            start = time.perf_counter_ns()
            dispatch(self.target, Echo.echo, len(samples)).then(
                defer(self.pid, lambda _: record(start)))

        def record(start: int) -> None:
            samples.append((time.perf_counter_ns() - start) / 1000)
            one()

        one()


def bench_dispatch(runs: int) -> tuple[float, float]:
    runtime = Runtime()
    try:
        echo = runtime.spawn(Echo)
        pinger = runtime.spawn(Pinger, echo)
        warmup: Promise[list[float]] = Promise()
        dispatch(pinger, Pinger.run, 200, warmup)
        await_ready(warmup.future, 60)
        done: Promise[list[float]] = Promise()
        dispatch(pinger, Pinger.run, runs, done)
        return percentiles(await_ready(done.future, 60))
    finally:
        runtime.stop()


# ------------------------------------------------------ 2./3. HTTP client
class Client:
    def __init__(self, port: int, path: str = "/api/v1") -> None:
        self.port, self.path = port, path
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, body: dict[str, Any]) -> tuple[int, bytes]:
        self.connection.request("POST", self.path, json.dumps(body),
                                {"Content-Type": "application/json",
                                 "Accept": "application/json"})
        response = self.connection.getresponse()
        return response.status, response.read()

    def launch(self, container_id: str, command: str) -> None:
        status, body = self.call({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": container_id}, "command": {"value": command}}})
        if status != 200:
            raise RuntimeError(f"launch {container_id}: {status} {body!r}")

    def wait(self, container_id: str) -> Any:
        status, body = self.call({"type": "WAIT_CONTAINER", "wait_container": {
            "container_id": {"value": container_id}}})
        if status != 200:
            raise RuntimeError(f"wait {container_id}: {status} {body!r}")
        return json.loads(body)

    def kill(self, container_id: str) -> None:
        self.call({"type": "KILL_CONTAINER", "kill_container": {
            "container_id": {"value": container_id}}})


def time_until_fifo_opened(fifo: str, start_command: Callable[[], object]) -> float:
    """ms from calling `start_command` until something opens `fifo` for writing."""
    os.mkfifo(fifo)
    opened = threading.Event()
    reader = threading.Thread(target=lambda: (open(fifo).close(), opened.set()))
    reader.start()
    start = time.perf_counter()
    start_command()
    opened.wait(30)
    elapsed = (time.perf_counter() - start) * 1000
    reader.join()
    os.unlink(fifo)
    return elapsed


def launch_to_running(client: Client, fifo_dir: str, runs: int, prefix: str) -> tuple[float, float]:
    samples = []
    for i in range(runs):
        fifo = os.path.join(fifo_dir, f"{prefix}-{i}")
        samples.append(time_until_fifo_opened(
            fifo, lambda: client.launch(f"{prefix}-{i}", f": > {fifo}")))
        client.wait(f"{prefix}-{i}")
    return percentiles(samples)


def launch_and_wait(client: Client, runs: int, prefix: str) -> tuple[float, float]:
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        client.launch(f"{prefix}-{i}", "true")
        client.wait(f"{prefix}-{i}")
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def spawn_floor(fifo_dir: str, runs: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """The same commands through a bare posix_spawn: what no agent can beat."""
    running, done = [], []
    for i in range(runs):
        fifo = os.path.join(fifo_dir, f"floor-{i}")
        pids: list[int] = []
        running.append(time_until_fifo_opened(fifo, lambda: pids.append(
            os.posix_spawn("/bin/sh", ["sh", "-c", f": > {fifo}"], {}))))
        os.waitpid(pids[0], 0)
        start = time.perf_counter()
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", "true"], {})
        os.waitpid(pid, 0)
        done.append((time.perf_counter() - start) * 1000)
    return percentiles(running), percentiles(done)


# ---------------------------------------------------------------- 4. RSS
def rss_with_sleepers(agent: AgentProcess, count: int) -> tuple[float, float, float]:
    import psutil
    client = Client(agent.port)
    for i in range(count):
        client.launch(f"sleep-{i}", "sleep 1000")
    time.sleep(1.0)
    agent_process = psutil.Process(agent.process.pid)  # type: ignore[union-attr]
    with open(os.path.join(agent.runtime_dir, "forkserver.pid")) as pid_file:
        fork_server = psutil.Process(int(pid_file.read()))
    idle_rss = agent_process.memory_info().rss / 2**20
    start = time.perf_counter()
    status, _ = client.call({"type": "GET_CONTAINERS", "get_containers": {"show_standalone": True}})
    listing_ms = (time.perf_counter() - start) * 1000
    assert status == 200
    for i in range(count):
        client.kill(f"sleep-{i}")
    for i in range(count):
        client.wait(f"sleep-{i}")
    return idle_rss, fork_server.memory_info().rss / 2**20, listing_ms


def row(name: str, ours: tuple[float, float], peers: dict[str, tuple[float, float] | None],
        unit: str) -> str:
    cells = [f"{ours[0]:9.3f} / {ours[1]:9.3f}"]
    for value in peers.values():
        cells.append(f"{value[0]:9.3f} / {value[1]:9.3f}" if value else f"{'n/a':>21}")
    return f"| {name} ({unit}) | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sleepers", type=int, default=200)
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()

    dispatch_us = bench_dispatch(max(args.runs, 1000))
    scratch = tempfile.mkdtemp(prefix="mesos-py-bench-")
    agent = AgentProcess(os.path.join(scratch, "work"), os.path.join(scratch, "run"))
    reference: ReferenceAgent | None = None
    results: dict[str, Any] = {}
    try:
        agent.start()
        ours = Client(agent.port)
        launch_to_running(ours, scratch, 20, "warm")
        results["running"] = launch_to_running(ours, scratch, args.runs, "run")
        results["wait"] = launch_and_wait(ours, args.runs, "true")
        results["floor_running"], results["floor_wait"] = spawn_floor(scratch, args.runs)
        if not args.no_reference:
            reference = ReferenceAgent()
            reference.start()
            theirs = Client(reference.port, "/slave(1)/api/v1")
            launch_to_running(theirs, scratch, 5, "ref-warm")
            results["ref_running"] = launch_to_running(theirs, scratch, args.runs, "ref-run")
            results["ref_wait"] = launch_and_wait(theirs, args.runs, "ref-true")
        rss = rss_with_sleepers(agent, args.sleepers)
    finally:
        agent.cleanup()
        if reference is not None:
            reference.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"mesos-py foundation benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, "
          f"{args.runs} runs each; p50 / p99")
    print()
    print("| measure | mesos-py | Mesos 1.11 agent | posix_spawn floor |")
    print("|---|---|---|---|")
    print(f"| dispatch round trip A->B->A (us) | {dispatch_us[0]:9.1f} / {dispatch_us[1]:9.1f} "
          "| | |")
    print(row("LAUNCH_CONTAINER to command running", results["running"],
              {"ref": results.get("ref_running"), "floor": results["floor_running"]}, "ms"))
    print(row("LAUNCH + WAIT of `true`", results["wait"],
              {"ref": results.get("ref_wait"), "floor": results["floor_wait"]}, "ms"))
    print()
    print(f"Agent RSS with {args.sleepers} `sleep` containers: {rss[0]:.1f} MiB "
          f"(fork server {rss[1]:.1f} MiB); GET_CONTAINERS of all of them: {rss[2]:.1f} ms")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
