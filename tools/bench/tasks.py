#!/usr/bin/env python3
"""Benchmark of framework tasks on mesos-py-agent next to a real Mesos 1.11 master.

Prints:
  1. the time from the framework's ACCEPT (pymesos `launchTasks`) to the
     framework receiving TASK_RUNNING, for N command tasks launched one at a
     time (default 100), p50/p99 in ms; also ACCEPT -> TASK_FINISHED of `true`;
  2. the time to launch M tasks at once (default 500): one ACCEPT, until every
     task is TASK_RUNNING at the framework, and the agent's RSS (with its fork
     server) then.

The master runs with a 50ms allocation interval so offers come back quickly;
that interval is not part of any figure (each measure starts at the ACCEPT).
The reference Mesos agent of ../shared/tools/mesos-master cannot run framework
tasks (no mesos-executor in its build), so there is no peer column.

Usage: .venv/bin/python tools/bench/tasks.py [--tasks 100] [--burst 500] [--launcher posix]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import psutil  # noqa: E402

from tests.agent import AgentProcess  # noqa: E402
from tests.master import MesosMaster, TestFramework, new_id, task, wait_for  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered), p99


def one_at_a_time(framework: TestFramework, agent_id: str, count: int,
                  command: str, state: str) -> list[float]:
    latencies = []
    for _ in range(count):
        offer = framework.take_offer(agent_id)
        task_id = new_id("bench")
        started = time.monotonic()
        framework.launch(offer, [task(task_id, agent_id, command, cpus=0.01, mem=1)],
                         refuse_seconds=0)
        framework.wait_state(task_id, state, timeout=60)
        latencies.append((framework.received_at[(task_id, state)] - started) * 1000)
        if state == "TASK_RUNNING":
            framework.kill(task_id)
            framework.wait_state(task_id, "TASK_KILLED", timeout=60)
    return latencies


def burst(framework: TestFramework, agent: AgentProcess, agent_id: str,
          count: int) -> tuple[float, float]:
    # The agent's resources may be split across outstanding offers: use them all.
    first = framework.take_offer(agent_id)
    time.sleep(0.5)
    with framework.lock:
        offers = [first] + [o for o in framework.offers if o["agent_id"]["value"] == agent_id]
        framework.offers = [o for o in framework.offers if o not in offers]
    ids = [new_id("burst") for _ in range(count)]
    started = time.monotonic()
    framework.driver.launchTasks([o["id"] for o in offers], [
        task(i, agent_id, "sleep 600", cpus=0.01, mem=1) for i in ids],
        {"refuse_seconds": 0})
    for task_id in ids:
        framework.wait_state(task_id, "TASK_RUNNING", timeout=600)
    elapsed = max(framework.received_at[(i, "TASK_RUNNING")] for i in ids) - started
    assert agent.process is not None
    process = psutil.Process(agent.process.pid)
    rss = process.memory_info().rss + sum(
        child.memory_info().rss for child in process.children()
        if "forkserver" in " ".join(child.cmdline()))
    return elapsed, rss / (1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--launcher", default="posix", choices=("posix", "linux"))
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="mesos-py-bench-")
    master = MesosMaster(allocation_interval="50ms").start()
    agent = AgentProcess(os.path.join(root, "work"), os.path.join(root, "run"), extra_flags=[
        f"--master={master.address}", f"--launcher={args.launcher}",
        "--resources=cpus:256;mem:65536;disk:10000",
        "--logging_level=" + os.environ.get("BENCH_LOGGING", "WARNING")]).start()
    framework = None
    try:
        agent_id = wait_for(lambda: master.agent(agent.port), what="registration")["id"]
        framework = TestFramework(master, name="bench")
        running = one_at_a_time(framework, agent_id, args.tasks, "sleep 600", "TASK_RUNNING")
        p50, p99 = percentiles(running)
        print(f"ACCEPT -> TASK_RUNNING, {args.tasks} command tasks one at a time (ms): "
              f"p50 {p50:.1f}  p99 {p99:.1f}")
        finished = one_at_a_time(framework, agent_id, min(args.tasks, 50), "true",
                                 "TASK_FINISHED")
        p50, p99 = percentiles(finished)
        print(f"ACCEPT -> TASK_FINISHED of `true`, {len(finished)} tasks (ms): "
              f"p50 {p50:.1f}  p99 {p99:.1f}")
        elapsed, rss = burst(framework, agent, agent_id, args.burst)
        print(f"{args.burst} tasks in one ACCEPT -> all TASK_RUNNING: {elapsed:.2f}s "
              f"({args.burst / elapsed:.0f} tasks/s); agent + fork server RSS then: "
              f"{rss:.1f} MiB")
    finally:
        if framework is not None:
            framework.stop()
        agent.cleanup()
        master.cleanup()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
