"""The Containerizer's records: one `Container` per live container, its `State`."""

from __future__ import annotations

import dataclasses
import enum
import os
import signal
import time
from typing import Any

from mesos_py.actors import Future, Promise
from mesos_py.protos.mesos.slave.containerizer_pb2 import (ContainerConfig, ContainerLimitation,
                                                           ContainerTermination)
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID


class State(enum.Enum):
    PROVISIONING = "PROVISIONING"
    PREPARING = "PREPARING"
    ISOLATING = "ISOLATING"
    FETCHING = "FETCHING"
    RUNNING = "RUNNING"
    DESTROYING = "DESTROYING"


class LaunchResult(enum.Enum):
    SUCCESS = "SUCCESS"
    ALREADY_LAUNCHED = "ALREADY_LAUNCHED"
    NOT_SUPPORTED = "NOT_SUPPORTED"


@dataclasses.dataclass
class Container:
    container_id: ContainerID
    config: ContainerConfig
    state: State
    since: float = dataclasses.field(default_factory=time.monotonic)
    pid: int | None = None
    fork_started: bool = False
    sync_fd: int | None = None
    forked: Promise[int | None] = dataclasses.field(default_factory=Promise)
    status: Future[int | None] | None = None
    launch: Future[Any] | None = None
    limitation: ContainerLimitation | None = None
    exited: bool = False  # its first process ended by itself (not by a destroy)
    io_name: str | None = None  # its IO switchboard's socket, if it has one
    termination: Promise[ContainerTermination] = dataclasses.field(default_factory=Promise)
    # Set on DESTROYING; read from isolators' threads (a Future is thread-safe).
    destroying: Promise[None] = dataclasses.field(default_factory=Promise)
    discard_on_failure: bool = False
    provisioning: Future[Any] | None = None  # the image's rootfs, while it is made
    removing: Future[Any] | None = None      # its rootfses' removal, once begun
    config_written: Future[Any] | None = None  # the config's checkpoint with the rootfs
    spares: Future[Any] | None = None  # the files made ahead for its checkpoints
    own_pid_namespace: bool = False          # its first process is a pid namespace's init
    cwd: str | None = None           # where its command started, as the container sees it
    sandbox_env: str | None = None   # its MESOS_SANDBOX


@dataclasses.dataclass(frozen=True)
class ContainerizerFlags:
    work_dir: str
    runtime_dir: str
    switch_user: bool = True
    sandbox_directory: str = "/mnt/mesos/sandbox"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def describe_termination(termination: ContainerTermination) -> str:
    if termination.HasField("status"):
        status = termination.status
        if os.WIFEXITED(status):
            text = f"exit code {os.WEXITSTATUS(status)}"
        elif os.WIFSIGNALED(status):
            text = f"killed by {signal_name(os.WTERMSIG(status))}"
        else:
            text = f"status {status}"
    else:
        text = "status unknown"
    return f"{text}; {termination.message}" if termination.message else text
