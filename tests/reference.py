"""The reference Mesos 1.11 agent, run by ../shared/tools/mesos-master beside ours.

It lives inside a local master (MESOS_NUM_SLAVES=1, posix launcher); only its
HTTP API under `/slave(1)` is used. For the parity tests and the benchmarks.
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import tempfile

from tests.agent import ROOT, Reply, free_port
from tests.master import MASTER_TOOL

TOOL = MASTER_TOOL or os.path.normpath(os.path.join(ROOT, "..", "shared", "tools",
                                                    "mesos-master"))


def available() -> bool:
    return os.path.exists(os.path.join(TOOL, "start"))


class ReferenceAgent:
    def __init__(self) -> None:
        self.port = free_port()
        self.env = dict(os.environ, PORT=str(self.port), MESOS_NUM_SLAVES="1",
                        MESOS_MASTER_RUN_DIR=tempfile.mkdtemp(prefix="mesos-reference-"))

    def start(self) -> None:
        """Starts it (the first run downloads and builds the tool's cache)."""
        try:
            subprocess.run([os.path.join(TOOL, "start")], env=self.env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
        except subprocess.CalledProcessError as error:
            self.stop()
            raise RuntimeError(f"the reference Mesos agent did not start: {error.stderr!r}")

    def stop(self) -> None:
        """Stops the master; its tool also kills leftover containers."""
        subprocess.run([os.path.join(TOOL, "stop")], env=self.env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(self.env["MESOS_MASTER_RUN_DIR"], ignore_errors=True)

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None, timeout: float = 60.0) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, "/slave(1)" + path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                         response.read())
        finally:
            connection.close()
