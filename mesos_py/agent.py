"""`mesos-py-agent`: parse flags, build the actors in dependency order, serve.

Start-up problems (a bad flag, an unusable directory, a busy port) end the
process with exit code 1 and one line naming the cause. SIGTERM and SIGINT
stop the agent cleanly; containers keep running and are recovered by the
next agent started on the same work directory.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from typing import NoReturn, Sequence

from mesos_py import flags as agent_flags
from mesos_py.actors import Runtime, dispatch
from mesos_py.containerizer.containerizer import Containerizer, ContainerizerFlags
from mesos_py.containerizer.fetcher import create_fetcher
from mesos_py.containerizer.launcher import LinuxLauncher, PosixLauncher
from mesos_py.http import server
from mesos_py.isolators import create_isolators, resolve_isolation
from mesos_py.logs import setup_logging
from mesos_py.provisioner import create_provisioner
from mesos_py.slave import paths
from mesos_py.slave.slave import Slave

log = logging.getLogger("mesos_py.agent")


class StartupError(Exception):
    """A one-line reason the agent cannot start."""


def main(argv: Sequence[str] | None = None) -> NoReturn:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        flags = agent_flags.load(arguments, os.environ)
    except agent_flags.FlagError as error:
        _die(str(error))
    if flags.help:
        print(agent_flags.help_text())
        sys.exit(0)
    if flags.version:
        print(agent_flags.version_text())
        sys.exit(0)
    try:
        agent = Agent(flags)
        agent.start()
    except StartupError as error:
        _die(str(error))
    agent.run_until_signalled()
    sys.exit(0)


def _die(message: str) -> NoReturn:
    print(f"mesos-py-agent: {message}", file=sys.stderr)
    sys.exit(1)


class Agent:
    def __init__(self, flags: agent_flags.Flags) -> None:
        self.flags = flags
        self._stop = threading.Event()

    def start(self) -> None:
        flags = self.flags
        try:
            isolation = resolve_isolation(flags.isolation, flags.image_providers, flags.launcher)
        except ValueError as error:
            raise StartupError(f"Failed to load flag 'isolation': {error}")
        setup_logging(flags.logging_level, flags.log_dir)
        for warning in flags.warnings:
            log.warning("%s", warning)
        self._prepare_directories()
        host = flags.ip or "0.0.0.0"
        try:
            sockets = server.bind(host, flags.port)
        except OSError as error:
            raise StartupError(f"Failed to bind to {host}:{flags.port} (--ip/--port): "
                               f"{error.strerror}")
        port = sockets[0].getsockname()[1]
        self.runtime = runtime = Runtime(host=flags.ip or _advertised_ip(), port=port)
        try:
            provisioner = create_provisioner(runtime, flags)
        except (ValueError, OSError) as error:
            runtime.stop()
            raise StartupError(f"Failed to create provisioner: {error}")
        try:
            self.isolators = create_isolators(runtime, isolation, flags, provisioner)
        except ValueError as error:
            runtime.stop()
            message = str(error)
            raise StartupError(message if message.startswith("Failed to")
                               else f"Failed to load flag 'isolation': {message}")
        fetcher = create_fetcher(runtime, flags)
        self.launcher = launcher = self._make_launcher(runtime)
        self.containerizer = runtime.spawn(
            Containerizer, ContainerizerFlags(flags.work_dir, flags.runtime_dir, flags.switch_user,
                                              flags.sandbox_directory),
            launcher, self.isolators, provisioner, fetcher)
        self.recovered = threading.Event()
        self.slave = runtime.spawn(Slave, flags, self.containerizer, self.recovered, name="slave")
        app = server.make_app(self.slave, flags, self.recovered)
        started = threading.Event()

        def serve() -> None:
            self.http = server.serve(app, sockets)
            started.set()

        runtime.io.call_soon(serve)
        started.wait()
        log.info("mesos-py-agent %s listening on %s:%d (isolation: %s, launcher: %s)",
                 agent_flags.version_text().split()[-1], host, port, ",".join(isolation),
                 flags.launcher)
        if flags.master:
            log.warning("--master=%s is accepted but not used yet: this agent runs standalone "
                        "(registration with a master is not implemented)", flags.master)
        dispatch(self.slave, Slave.recover).on_failed(self._recovery_failed)

    def _recovery_failed(self, message: str) -> None:
        log.error("Recovery failed: %s", message)
        self._stop.set()

    def _make_launcher(self, runtime: Runtime) -> PosixLauncher:
        flags, pid_file = self.flags, paths.fork_server_pid_path(self.flags.runtime_dir)
        if flags.launcher == "posix":
            return PosixLauncher(runtime, pid_file)
        try:
            return LinuxLauncher(runtime, pid_file, hierarchy=flags.cgroups_hierarchy,
                                 root=flags.cgroups_root,
                                 destroy_timeout=flags.cgroups_destroy_timeout.seconds)
        except (ValueError, OSError) as error:
            runtime.stop()
            raise StartupError(f"Failed to load flag 'launcher': {error}")

    def _prepare_directories(self) -> None:
        for flag, directory in (("work_dir", self.flags.work_dir),
                                ("runtime_dir", self.flags.runtime_dir)):
            try:
                os.makedirs(directory, exist_ok=True)
                probe = os.path.join(directory, ".mesos-py-write-test")
                with open(probe, "w"):
                    pass
                os.unlink(probe)
            except OSError as error:
                raise StartupError(f"Failed to use --{flag}={directory}: {error.strerror}")

    def run_until_signalled(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stop.set())
        self._stop.wait()
        self.shutdown()

    def shutdown(self) -> None:
        log.info("Shutting down; running containers keep running")
        done = threading.Event()

        def stop_http() -> None:
            self.http.stop()
            done.set()

        self.runtime.io.call_soon(stop_http)
        done.wait(timeout=5)
        self.launcher.stop()
        self.runtime.stop()
        logging.shutdown()


def _advertised_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


