#!/usr/bin/env python3
"""Benchmark of container images: first launch, cached launch, and crun.

Prints, over N runs (default 30) with p50/p99, for the make-images test
image (busybox, 2 layers, ~1 MiB), with the overlay backend:
  1. a cached-image container against `crun run` of the same merged rootfs,
     alternately in the same run, both running linux_isolation.py's probe
     program (`first FIFO`: its first system call opens the FIFO, so "the
     command runs" is when the benchmark's reader wakes up), reached through
     the scratch directory mounted at /tmp (a host_path volume; a bind mount
     in the crun bundle), both with a pid and a mount namespace only:
     launch latency (until the command runs; issue 3's measure), and the
     whole cycle (LAUNCH + WAIT answered; crun until it exits, container
     deleted), with the ratios of the p50s;
  2. first launch: LAUNCH_CONTAINER answered (pull + extract + mount +
     start) with an empty store, from the docker archive and from the local
     registry (a private one on a free loopback port, started by
     ../shared/tools/images/start-registry, so that a registry other work
     uses is left alone); PRUNE_IMAGES empties the store between runs;
  3. the overlay backend's per-container set-up (the Provisioner's own
     time, from its log) for the test image and for the same image with a
     200 MB layer added, and the copy backend's for contrast.

The client keeps one HTTP connection, as linux_isolation.py does. The
cached launches are measured first: the first-launch runs delete thousands
of files (every PRUNE_IMAGES), and on an ext4 without a journal (this
machine's root filesystem) every file created during the next minute or more
pays for them (ext4 skips recently deleted inodes one by one when it
allocates one: find_inode_bit -> recently_deleted in `perf`), which a
container launch (about a dozen files and directories) feels and `crun run` (~3) not.

Usage: .venv/bin/python tools/bench/images.py [--runs 30] [--big-mb 200]
Needs root (mounts, crun); crun comes from Debian (apt-get install crun).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tests.agent import AgentProcess  # noqa: E402
from tests.images import IMAGES, Registry, derive_archive, make_images  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from linux_isolation import Client, FifoProbe, first_program  # noqa: E402

ISOLATION = "--isolation=filesystem/linux,docker/runtime,namespaces/pid"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1,
                                                   int(round(0.99 * (len(ordered) - 1))))]


def container(image: str) -> dict[str, Any]:
    return {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}}


class Bench:
    def __init__(self, scratch: str, registry: str, backend: str = "overlay") -> None:
        os.makedirs(os.path.join(scratch, backend), exist_ok=True)
        self.agent = AgentProcess(
            os.path.join(scratch, backend, "work"), os.path.join(scratch, backend, "run"),
            extra_flags=["--launcher=linux", ISOLATION, "--image_providers=docker",
                         f"--image_provisioner_backend={backend}",
                         f"--docker_registry={registry}",
                         f"--docker_store_dir={os.path.join(scratch, backend, 'store')}",
                         "--logging_level=INFO"])
        self.count = 0
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.agent.port, "/api/v1")
        return self._client

    def launch(self, image: str, command: str | dict[str, Any] = "true",
               volumes: list[dict[str, Any]] | None = None) -> tuple[str, float]:
        self.count += 1
        container_id = f"c{self.count}"
        if isinstance(command, str):
            command = {"value": command}
        info = container(image)
        if volumes:
            info["volumes"] = volumes
        start = time.perf_counter()
        status, body = self.client.call({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": {"value": container_id}, "command": command, "container": info}})
        elapsed = (time.perf_counter() - start) * 1000
        if status != 200:
            raise RuntimeError(f"launch of {image}: {status} {body!r}")
        return container_id, elapsed

    def wait(self, container_id: str) -> None:
        status, result = self.client.wait(container_id)
        if status != 200 or result["wait_container"].get("exit_status") != 0:
            raise RuntimeError(f"{container_id} ended with {status} {result}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.agent.cleanup()

    def prune(self) -> None:
        status, body = self.client.call({"type": "PRUNE_IMAGES", "prune_images": {}})
        if status != 200:
            raise RuntimeError(f"PRUNE_IMAGES: {status} {body!r}")

    def first_launches(self, image: str, runs: int) -> tuple[float, float]:
        samples = []
        for _ in range(runs):
            container_id, elapsed = self.launch(image)
            self.wait(container_id)
            self.prune()
            samples.append(elapsed)
        return percentiles(samples)

    def cached_launch(self, image: str, probe: FifoProbe) -> tuple[float, float]:
        """(ms until the command ran, ms until WAIT_CONTAINER answered)."""
        command = {"shell": False, "value": "/tmp/first",
                   "arguments": ["/tmp/first", "/tmp/" + os.path.basename(probe.path)]}
        volumes = [{"container_path": "/tmp", "host_path": os.path.dirname(probe.path),
                    "mode": "RW"}]
        probe.arm()
        start = time.perf_counter()
        try:
            container_id, _ = self.launch(image, command, volumes)
            first = probe.wait()
        finally:
            probe.release()
        self.wait(container_id)
        return (first - start) * 1000, (time.perf_counter() - start) * 1000

    def provisioning_ms(self, image: str, runs: int) -> tuple[float, float]:
        """The Provisioner's own time per container (rootfs made), from its log."""
        self.wait(self.launch(image)[0])  # pulled and cached
        before = len(self._provisioned())
        for _ in range(runs):
            self.wait(self.launch(image)[0])
        return percentiles(self._provisioned()[before:])

    def _provisioned(self) -> list[float]:
        """ms between 'provisioning' and 'provisioned rootfs' per container, in log order."""
        starts: dict[str, datetime] = {}
        spans = []
        pattern = re.compile(r"^I(\d{4} \d\d:\d\d:\d\d\.\d{6}) .*? (\S+): "
                             r"(provisioning|provisioned rootfs)")
        for line in self.agent.log().splitlines():
            match = pattern.match(line)
            if not match:
                continue
            when = datetime.strptime(match.group(1), "%m%d %H:%M:%S.%f")
            if match.group(3) == "provisioning":
                starts[match.group(2)] = when
            elif match.group(2) in starts:
                spans.append((when - starts.pop(match.group(2))).total_seconds() * 1000)
        return spans


# ---------------------------------------------------------------- crun
class Crun:
    """`crun run` of the probe program in a rootfs: the default `crun spec`
    (as ../shared/tools/images/bench-launch runs it) with the mesos-py
    container's namespaces only (pid, mount), the rootfs read-only and the
    probe's directory bind-mounted at /tmp."""

    def __init__(self, scratch: str, rootfs: str, probe: FifoProbe) -> None:
        self.probe = probe
        self.bundle = os.path.join(scratch, "crun-bundle")
        os.makedirs(self.bundle)
        subprocess.run(["crun", "spec"], cwd=self.bundle, check=True)
        path = os.path.join(self.bundle, "config.json")
        with open(path) as source:
            config = json.load(source)
        config["process"]["args"] = ["/tmp/first", "/tmp/" + os.path.basename(probe.path)]
        config["process"]["terminal"] = False
        config["root"] = {"path": rootfs, "readonly": True}
        config.pop("hostname", None)  # needs a UTS namespace
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"]
                                         if n["type"] in ("pid", "mount")]
        config["mounts"].append({"destination": "/tmp", "type": "bind",
                                 "source": os.path.dirname(probe.path),
                                 "options": ["rbind", "rw"]})
        with open(path, "w") as out:
            json.dump(config, out)
        self.mounted_hugetlb = False

    def __enter__(self) -> "Crun":
        # crun 1.8 refuses a v1+v2 hybrid whose cgroup2 still owns hugetlb:
        # give hugetlb a v1 hierarchy for the run (bench-launch does the same).
        unified = "/sys/fs/cgroup/unified/cgroup.controllers"
        if os.path.exists(unified) and open(unified).read().strip() == "hugetlb" \
                and not os.path.ismount("/sys/fs/cgroup/hugetlb"):
            os.makedirs("/sys/fs/cgroup/hugetlb", exist_ok=True)
            subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup",
                            "/sys/fs/cgroup/hugetlb"], check=True)
            self.mounted_hugetlb = True
        return self

    def __exit__(self, *_: Any) -> None:
        if self.mounted_hugetlb:
            subprocess.run(["umount", "/sys/fs/cgroup/hugetlb"], check=False)
            os.rmdir("/sys/fs/cgroup/hugetlb")

    def run(self, index: int) -> tuple[float, float]:
        """(ms until the command ran, ms until `crun run` exited)."""
        self.probe.arm()
        start = time.perf_counter()
        try:
            process = subprocess.Popen(["crun", "run", "--bundle", self.bundle,
                                        f"mesos-py-bench-{index}"])
            first = self.probe.wait()
        finally:
            self.probe.release()
        if process.wait() != 0:
            raise RuntimeError(f"crun run exited with {process.returncode}")
        return (first - start) * 1000, (time.perf_counter() - start) * 1000


def interleaved(bench: Bench, crun: Crun, image: str, runs: int) -> dict[str, tuple[float, float]]:
    """Cached launches and crun runs alternately (after a few of each as warm-up),
    so both see the same machine: disk writeback and other load hit both."""
    os.sync()  # the writes before must not slow the fsyncs measured
    for index in range(5):
        bench.cached_launch(image, crun.probe)
        crun.run(-1 - index)
    samples: dict[str, list[float]] = {"ran": [], "waited": [], "crun_ran": [], "crun_exited": []}
    for index in range(runs):
        ran, waited = bench.cached_launch(image, crun.probe)
        crun_ran, crun_exited = crun.run(index)
        for name, value in (("ran", ran), ("waited", waited), ("crun_ran", crun_ran),
                            ("crun_exited", crun_exited)):
            samples[name].append(value)
    return {name: percentiles(values) for name, values in samples.items()}


def check_big_layer(store: str, megabytes: int) -> None:
    """Fails unless the store holds a layer of `megabytes` (what the set-up is measured with)."""
    sizes = [sum(os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(layer)
                 for f in files)
             for layer in (os.path.join(store, "layers", name)
                           for name in os.listdir(os.path.join(store, "layers")))]
    if max(sizes, default=0) < megabytes << 20:
        raise RuntimeError(f"no layer of {megabytes} MB in {store}: {sizes}")


def merged_rootfs(store: str, scratch: str) -> str:
    """The test image's layers copied into one directory (what crun runs)."""
    from mesos_py.provisioner.backend.copy import CopyBackend
    with open(os.path.join(IMAGES, "IMAGE-INFO.json")) as source:
        info = json.load(source)
    layers = [os.path.join(store, "layers", d.partition(":")[2], "rootfs")
              for d in info["docker_archive"]["diff_ids"]]
    rootfs = os.path.join(scratch, "merged-rootfs")
    CopyBackend().provision(layers, rootfs, scratch)
    return rootfs


def remove_scratch(scratch: str) -> None:
    """Removes the scratch directory, and what a container the agents did not
    destroy (a run cut short) left: its rootfs mounts and overlay links in /tmp."""
    from mesos_py.linux import fs
    fs.unmount_all_under(scratch)
    for links in glob.glob(os.path.join(tempfile.gettempdir(), "mesos-py-overlay-*")):
        targets = [os.readlink(os.path.join(links, name)) for name in os.listdir(links)]
        if any(target.startswith(scratch + "/") for target in targets):
            shutil.rmtree(links, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--big-mb", type=int, default=200)
    args = parser.parse_args()
    runs = args.runs
    make_images()
    scratch = tempfile.mkdtemp(prefix="mesos-py-bench-images-")
    archives = os.path.join(scratch, "archives")
    os.makedirs(archives)
    os.symlink(os.path.join(IMAGES, "docker-archive", "busybox.tar"),
               os.path.join(archives, "busybox.tar"))
    derive_archive(archives, "big", extra_layer={"big/blob": os.urandom(args.big_mb << 20)})
    registry = Registry(os.path.join(scratch, "registry")).start()
    benches: list[Bench] = []
    results: dict[str, Any] = {}
    try:
        overlay = Bench(scratch, archives)
        copy = Bench(scratch, archives, "copy")
        benches = [overlay, copy]
        for bench in benches:
            bench.agent.start()
        overlay.wait(overlay.launch("busybox")[0])  # pulled: cached from here on
        shared = os.path.join(scratch, "shared")
        os.makedirs(shared)
        with open(os.path.join(shared, "first"), "wb") as out:
            out.write(first_program())
        os.chmod(os.path.join(shared, "first"), 0o755)
        probe = FifoProbe(os.path.join(shared, "ran.fifo"))
        with Crun(scratch, merged_rootfs(os.path.join(scratch, "overlay", "store"), scratch),
                  probe) as crun:
            results.update(interleaved(overlay, crun, "busybox", runs))
        results["first_archive"] = overlay.first_launches("busybox", runs)
        results["first_registry"] = overlay.first_launches(
            f"{registry.address}/mesos-py/busybox", runs)
        small_runs = max(5, runs // 3)
        results["overlay_small"] = overlay.provisioning_ms("busybox", small_runs)
        results["overlay_big"] = overlay.provisioning_ms("big", small_runs)
        check_big_layer(os.path.join(scratch, "overlay", "store"), args.big_mb)
        results["copy_small"] = copy.provisioning_ms("busybox", 3)
        results["copy_big"] = copy.provisioning_ms("big", 3)
    finally:
        for bench in benches:
            bench.close()
        registry.stop()
        remove_scratch(scratch)

    def cell(value: tuple[float, float]) -> str:
        return f"{value[0]:8.2f} / {value[1]:8.2f}"

    launch_ratio = results["ran"][0] / results["crun_ran"][0]
    cycle_ratio = results["waited"][0] / results["crun_exited"][0]
    print(f"mesos-py image benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, "
          f"{runs} runs; p50 / p99 in ms")
    print()
    print("| measure | p50 / p99 ms |")
    print("|---|---|")
    print(f"| cached image: LAUNCH_CONTAINER until the command runs | {cell(results['ran'])} |")
    print(f"| crun run, same rootfs: until the command runs | {cell(results['crun_ran'])} |")
    print(f"| ratio, launch latency (p50) | {launch_ratio:8.2f} |")
    print(f"| cached image: LAUNCH + WAIT answered | {cell(results['waited'])} |")
    print(f"| crun run, same rootfs: until it exits | {cell(results['crun_exited'])} |")
    print(f"| ratio, whole cycle (p50) | {cycle_ratio:8.2f} |")
    print(f"| first launch from the docker archive (pull+extract+mount+start) | "
          f"{cell(results['first_archive'])} |")
    print(f"| first launch from the local registry (pull+extract+mount+start) | "
          f"{cell(results['first_registry'])} |")
    print(f"| overlay set-up, test image (~1 MiB) | {cell(results['overlay_small'])} |")
    print(f"| overlay set-up, + {args.big_mb} MB layer | {cell(results['overlay_big'])} |")
    print(f"| copy set-up, test image | {cell(results['copy_small'])} |")
    print(f"| copy set-up, + {args.big_mb} MB layer | {cell(results['copy_big'])} |")


if __name__ == "__main__":
    main()
