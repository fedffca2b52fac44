"""`mesos-py-agent`: parse flags, build the actors in dependency order, serve.

Start-up problems (a bad flag, an unusable directory, a busy port) end the
process with exit code 1 and one line naming the cause. SIGTERM and SIGINT
stop the agent cleanly; containers keep running and are recovered by the
next agent started on the same work directory.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
from typing import NoReturn, Sequence

from mesos_py import flags as agent_flags
from mesos_py.actors import UPID, Failure, Runtime, dispatch
from mesos_py.actors.transport import message_route
from mesos_py.containerizer.containerizer import Containerizer, ContainerizerFlags
from mesos_py.containerizer.fetcher import create_fetcher
from mesos_py.containerizer.launcher import LinuxLauncher, PosixLauncher
from mesos_py.http import endpoints, server
from mesos_py.http.executor_api import executor_api_route
from mesos_py.isolators import create_isolators, resolve_isolation
from mesos_py.logs import setup_logging
from mesos_py.protos.mesos.v1 import mesos_pb2
from mesos_py.provisioner import create_provisioner
from mesos_py.resources import ResourcesError, agent_resources
from mesos_py.resources.attributes import parse_attributes
from mesos_py.slave import paths
from mesos_py.slave.files import Files
from mesos_py.slave.gc import GarbageCollector
from mesos_py.slave.registration import parse_master
from mesos_py.slave.services import SlaveServices
from mesos_py.slave.slave import Slave
from mesos_py.slave.status_update_manager import StatusUpdateManager

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
    sys.exit(agent.exit_code)


def _die(message: str) -> NoReturn:
    print(f"mesos-py-agent: {message}", file=sys.stderr)
    sys.exit(1)


class Agent:
    def __init__(self, flags: agent_flags.Flags) -> None:
        self.flags = flags
        self._stop = threading.Event()
        self.exit_code = 0

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
        advertised_ip = flags.advertise_ip or flags.ip or _advertised_ip()
        facts = self._probe(advertised_ip)
        host = flags.ip or "0.0.0.0"
        try:
            sockets = server.bind(host, flags.port)
        except OSError as error:
            raise StartupError(f"Failed to bind to {host}:{flags.port} (--ip/--port): "
                               f"{error.strerror}")
        port = sockets[0].getsockname()[1]
        advertised = (advertised_ip, flags.advertise_port or port)
        self.runtime = runtime = Runtime(host=advertised[0], port=advertised[1])
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
        services = self._spawn_services(runtime, facts, advertised[1])
        self.slave = runtime.spawn(Slave, flags, self.containerizer, self.recovered, services,
                                   name="slave")
        slave = self.slave
        # The status update manager forwards through the Slave (Mesos's `forward`).
        dispatch(services.status_updates, StatusUpdateManager.set_forward,
                 lambda update: dispatch(slave, Slave.forward, update))
        app = server.make_app(self.slave, flags, self.recovered, [
            *endpoints.routes(self.slave, services.files, self.recovered, runtime.pool),
            executor_api_route(self.slave, self.recovered, runtime.io),
            message_route(runtime.transport),  # last: it matches any /<actor>/<name>
        ])
        started = threading.Event()

        def serve() -> None:
            self.http = server.serve(app, sockets)
            started.set()

        runtime.io.call_soon(serve)
        started.wait()
        log.info("mesos-py-agent %s listening on %s:%d (isolation: %s, launcher: %s)",
                 agent_flags.version_text().split()[-1], host, port, ",".join(isolation),
                 flags.launcher)
        if facts.master is not None:
            log.info("Master %s (from --master=%s)", facts.master, flags.master)
        else:
            log.info("No --master: the agent runs standalone (Operator API only)")
        dispatch(self.slave, Slave.recover).on_failed(self._recovery_failed)

    def _probe(self, advertised_ip: str) -> "_Facts":
        """What the agent tells the master about itself; a bad flag stops start-up."""
        flags = self.flags
        try:
            resources = agent_resources(flags.resources, flags.work_dir, flags.default_role)
        except ResourcesError as error:
            raise StartupError(f"Failed to load flag 'resources': {error}")
        attributes = parse_attributes(flags.attributes) if flags.attributes else []
        master = None
        if flags.master:
            try:
                host, master_port = parse_master(flags.master)
                master = UPID("master", socket.gethostbyname(host), master_port)
            except Failure as error:
                raise StartupError(f"Failed to load flag 'master': {error}")
            except OSError as error:
                raise StartupError(f"Failed to load flag 'master': cannot resolve "
                                   f"'{flags.master}': {error}")
        hostname = flags.hostname
        if not hostname:
            hostname = advertised_ip
            if flags.hostname_lookup:
                try:
                    hostname = socket.gethostbyaddr(advertised_ip)[0]
                except OSError:
                    log.warning("Failed to look up the hostname of %s; using the address",
                                advertised_ip)
        master_hostname = ""
        if master is not None:
            try:
                master_hostname = socket.gethostbyaddr(master.host)[0]
            except OSError:
                master_hostname = master.host
        return _Facts(resources, attributes, master, hostname, master_hostname)

    def _spawn_services(self, runtime: Runtime, facts: "_Facts", port: int) -> SlaveServices:
        flags = self.flags
        status_updates = runtime.spawn(StatusUpdateManager, name="task-status-update-manager")
        gc = runtime.spawn(GarbageCollector, paths.gc_schedule_path(flags.work_dir),
                           flags.work_dir, flags.gc_delay.seconds, flags.gc_disk_headroom,
                           flags.disk_watch_interval.seconds, name="garbage-collector")
        files = runtime.spawn(Files, name="files")
        return SlaveServices(status_updates, gc, files, facts.master, facts.hostname, port,
                             facts.resources, facts.attributes, self._exit,
                             facts.master_hostname, os.environ.get("PYTHONPATH"))

    def _exit(self, code: int) -> None:
        """The Slave ended the agent (a master's ShutdownMessage)."""
        self.exit_code = code
        self._stop.set()

    def _recovery_failed(self, message: str) -> None:
        log.error("Recovery failed: %s", message)
        self.exit_code = 1
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


@dataclasses.dataclass(frozen=True)
class _Facts:
    resources: list[mesos_pb2.Resource]
    attributes: list[mesos_pb2.Attribute]
    master: UPID | None
    hostname: str
    master_hostname: str


def _advertised_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


