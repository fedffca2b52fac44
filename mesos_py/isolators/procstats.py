"""Resource usage of process trees, from one psutil pass over the host.

A `ProcessTable` is a snapshot of every process (parent, cpu times, rss,
threads). Building one reads /proc once; computing the usage of many
containers from the same snapshot costs nothing more, so the posix isolators
share a snapshot for a short while instead of scanning /proc per container.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict

import psutil


@dataclasses.dataclass(frozen=True)
class ProcessSample:
    pid: int
    ppid: int
    user: float
    system: float
    rss: int
    threads: int


@dataclasses.dataclass(frozen=True)
class TreeUsage:
    processes: int
    threads: int
    user: float
    system: float
    rss: int


class ProcessTable:
    def __init__(self, samples: list[ProcessSample]) -> None:
        self.taken = time.monotonic()
        self._samples = {sample.pid: sample for sample in samples}
        self._children: defaultdict[int, list[int]] = defaultdict(list)
        for sample in samples:
            self._children[sample.ppid].append(sample.pid)

    @staticmethod
    def take() -> "ProcessTable":
        samples = []
        for process in psutil.process_iter(["ppid", "cpu_times", "memory_info", "num_threads",
                                            "status"]):
            info = process.info
            if info["status"] == psutil.STATUS_ZOMBIE or info["cpu_times"] is None:
                continue
            samples.append(ProcessSample(
                process.pid, info["ppid"] or 0, info["cpu_times"].user, info["cpu_times"].system,
                info["memory_info"].rss if info["memory_info"] else 0, info["num_threads"] or 0))
        return ProcessTable(samples)

    def tree_usage(self, root: int) -> TreeUsage | None:
        """Usage summed over `root` and its descendants; None if `root` is gone."""
        if root not in self._samples:
            return None
        processes = threads = rss = 0
        user = system = 0.0
        stack = [root]
        while stack:
            sample = self._samples[stack.pop()]
            processes += 1
            threads += sample.threads
            user += sample.user
            system += sample.system
            rss += sample.rss
            stack.extend(self._children.get(sample.pid, ()))
        return TreeUsage(processes, threads, user, system, rss)
