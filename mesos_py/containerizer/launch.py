"""The launch helper: what a container's first process does before the command.

It runs inside the fork server's child (forked, or cloned into new
namespaces), so it imports only the standard library. In order:

1. in a new mount namespace, stop mount events from leaking back to the host
   (`/` becomes a recursive slave), then apply the container's mounts (bind
   mounts of volumes, `/proc` of a new pid namespace...), a read-only bind
   mount being remounted read-only since the kernel ignores MS_RDONLY on the
   first bind. With a root filesystem (an image), the mounts are made inside
   it in the order given (their targets are host paths below the rootfs,
   created when missing), then paths are masked, symlinks made, and the
   process pivots into it: the host's mounts are gone from its view. Nobody
   else sees these mounts, so they are made while the agent still isolates
   the container;
2. wait on the sync pipe until the agent has checkpointed the pid and
   isolated the container (EOF: the agent gave up; exit without running).
   Without a mount namespace of its own, the mounts come only now;
3. as pid 1 of a new pid namespace, stay as the container's init: start the
   command, forward signals to it, reap every orphan, and when the command
   ends write its raw wait status to `<status>.command` (opened before any
   mount change) and exit; the fork server then publishes that as the
   container's status. Otherwise exec the command directly.

The command's own set-up (working directory, rlimits, user, capabilities) is
applied in the process that execs it; the init starts the command with
posix_spawn after applying that set-up (but rlimits) to itself, and forks
it when rlimits are asked for.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any

# Imported here, once, by the fork server: each container is a fork of it.
from mesos_py.linux.capabilities import apply_rlimits, switch_user_and_capabilities

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 0x2

PR_SET_NAME = 15
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine, 155)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                     signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT, signal.SIGWINCH,
                     signal.SIGALRM)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def command_status_path(status_path: str) -> str:
    """Where an init writes its command's status; the fork server moves it to `status`."""
    return status_path + ".command"


class LaunchError(Exception):
    """A set-up step failed; the message goes to the container's stderr."""


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          options: str | None = None) -> None:
    result = _libc.mount(source.encode() if source else None, target.encode(),
                         fstype.encode() if fstype else None, flags,
                         options.encode() if options else None)
    if result != 0:
        errno = ctypes.get_errno()
        raise LaunchError(f"Failed to mount '{source}' at '{target}': {os.strerror(errno)}")


def apply_mount(spec: dict[str, Any]) -> None:
    flags = int(spec.get("flags", 0))
    source, target = spec.get("source"), spec["target"]
    if flags & MS_BIND and flags & MS_RDONLY:
        # A bind mount ignores MS_RDONLY: bind first, then remount read-only.
        mount(source, target, None, flags & ~MS_RDONLY)
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | (flags & MS_REC))
        return
    mount(source, target, spec.get("type"), flags, spec.get("options"))


def order_mounts(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The mounts in isolation order, except that a mount whose target covers
    another mount's source or target is applied after it (a private /tmp must
    not hide the host paths other volumes bind from)."""
    def covers(outer: dict[str, Any], inner: dict[str, Any]) -> bool:
        root = outer["target"].rstrip("/") + "/"
        paths = [inner["target"], inner.get("source") or ""]
        return inner is not outer and any(p.startswith(root) for p in paths if p.startswith("/"))

    pending, ordered = list(mounts), []
    while pending:
        ready = next(m for m in pending if not any(covers(m, o) for o in pending)) \
            if any(not any(covers(m, o) for o in pending) for m in pending) else pending[0]
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def setup_filesystem(request: dict[str, Any]) -> None:
    if "mnt" in request.get("clone", ()):
        # Host mounts still propagate in; ours never propagate out.
        mount(None, "/", None, MS_REC | MS_SLAVE)
    rootfs = request.get("rootfs")
    if not rootfs:
        for spec in order_mounts(list(request.get("mounts", ()))):
            apply_mount(spec)
        return
    if "mnt" not in request.get("clone", ()):
        raise LaunchError("A container with its own root filesystem needs a mount namespace")
    for spec in request.get("mounts", ()):
        if (spec.get("source") == spec["target"] and int(spec.get("flags", 0)) & MS_BIND
                and not os.path.lexists(spec["target"])):
            continue  # making a missing path read-only (/proc/sysrq-trigger without sysrq)
        make_mount_point(spec)
        apply_mount(spec)
    for target in request.get("masked_paths", ()):
        mask_path(target)
    for operation in request.get("file_operations", ()):
        if operation.get("op") == "symlink":
            _remove_quietly(operation["target"])
            os.symlink(operation["source"], operation["target"])
    enter_rootfs(rootfs)


def make_mount_point(spec: dict[str, Any]) -> None:
    """Creates a missing mount target: a file for a file, else a directory."""
    source, target = spec.get("source"), spec["target"]
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if source and source.startswith("/") and os.path.exists(source) \
            and not os.path.isdir(source):
        open(target, "a").close()
    else:
        os.mkdir(target)


def mask_path(target: str) -> None:
    """Hides a path of /proc or /sys from the container (a read-only tmpfs or /dev/null)."""
    if os.path.isdir(target):
        mount("tmpfs", target, "tmpfs", MS_RDONLY)
    elif os.path.exists(target):
        mount("/dev/null", target, None, MS_BIND)


def enter_rootfs(rootfs: str) -> None:
    """pivot_root into `rootfs` (a mount point) and drop the old root from view."""
    os.chdir(rootfs)
    # pivot_root(".", "."): the old root ends up stacked below the new one,
    # and a lazy unmount of "." then removes it without a directory for it.
    if _libc.syscall(SYS_PIVOT_ROOT, b".", b".") != 0:
        errno = ctypes.get_errno()
        raise LaunchError(f"Failed to pivot_root into '{rootfs}': {os.strerror(errno)}")
    if _libc.umount2(b".", MNT_DETACH) != 0:
        errno = ctypes.get_errno()
        raise LaunchError(f"Failed to detach the old root: {os.strerror(errno)}")
    os.chdir("/")


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def prepare_command(request: dict[str, Any]) -> None:
    """Working directory, rlimits, user and capabilities of the command."""
    if request.get("rootfs") and not os.path.isdir(request["cwd"]):
        # An image's WorkingDir may be missing from its layers (Mesos creates it).
        os.makedirs(request["cwd"], exist_ok=True)
    os.chdir(request["cwd"])
    if request.get("rlimits"):
        apply_rlimits(request["rlimits"])
    capabilities = request.get("capabilities")
    if capabilities is not None:
        switch_user_and_capabilities(request.get("uid"), request.get("gid"),
                                     request.get("groups", []), capabilities.get("effective"),
                                     capabilities.get("bounding"))
    elif request.get("uid") is not None:
        os.setgroups(request.get("groups", []))
        os.setgid(request["gid"])
        os.setuid(request["uid"])


def exec_command(request: dict[str, Any]) -> None:
    environment = dict(request["env"])
    environment.setdefault("PATH", DEFAULT_PATH)
    argv = request["argv"]
    try:
        if request.get("shell"):
            os.execve("/bin/sh", argv, environment)
        else:
            os.execvpe(request["path"], argv, environment)
    except OSError as error:
        raise LaunchError(f"Failed to execute '{request.get('path', argv[0])}': "
                          f"{error.strerror}")


def run_as_init(request: dict[str, Any], status_fd: int) -> None:
    """pid 1 of the container: run the command as a child, reap, forward signals."""
    _libc.prctl(PR_SET_NAME, b"mesos-py-init", 0, 0, 0)  # what `ps` shows inside
    # FORWARDED_SIGNALS are blocked since this process began (see `blocked_signals`):
    # one sent before the handlers exist waits, instead of being ignored by a
    # namespace's init, and the command cannot run our handlers after the fork.
    command = spawn_command(request) if not request.get("rlimits") else fork_command(request)
    if command is None:
        os.write(status_fd, str(1 << 8).encode())  # as a command exiting 1
        os._exit(0)
    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, lambda received, _frame: _forward(command, received))
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            status = 0
            break
        if pid == command and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
            break
    os.write(status_fd, str(status).encode())
    os.close(status_fd)
    os._exit(0)


def spawn_command(request: dict[str, Any]) -> int | None:
    """Starts the command with posix_spawn; None if it could not be executed.

    The init takes on the command's working directory, user and capabilities
    itself first (posix_spawn cannot set them): a vfork'ed child then execs
    at once, without copying this Python process's page tables.
    """
    prepare_command(request)
    environment = dict(request["env"])
    environment.setdefault("PATH", DEFAULT_PATH)
    defaults = (*FORWARDED_SIGNALS, signal.SIGCHLD, signal.SIGPIPE)
    try:
        if request.get("shell"):
            return os.posix_spawn("/bin/sh", request["argv"], environment,
                                  setsigmask=[], setsigdef=defaults)
        os.environ["PATH"] = environment["PATH"]  # posix_spawnp searches the caller's PATH
        return os.posix_spawnp(request["path"], request["argv"], environment,
                               setsigmask=[], setsigdef=defaults)
    except OSError as error:
        os.write(2, f"Failed to launch container: Failed to execute "
                    f"'{request.get('path', request['argv'][0])}': {error.strerror}\n".encode())
        return None


def fork_command(request: dict[str, Any]) -> int:
    """Forks the command: its rlimits must not bind the init (an address
    space limit below what this Python process maps would starve it)."""
    command = os.fork()
    if command == 0:
        try:
            _default_signals()
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            prepare_command(request)
            exec_command(request)
        except BaseException as error:
            _fail(error)
    return command


def blocked_signals(request: dict[str, Any]) -> list[signal.Signals]:
    """The signal mask a container's first process starts with."""
    return list(FORWARDED_SIGNALS) if request.get("init") else []


def _forward(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _default_signals() -> None:
    for signum in (*FORWARDED_SIGNALS, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)


def _fail(error: BaseException) -> None:
    try:
        os.write(2, f"Failed to launch container: {error}\n".encode())
    finally:
        os._exit(1)


def run(request: dict[str, Any], sync: int) -> None:
    """Everything after the fork/clone, in the container's first process."""
    try:
        status_fd = None
        if request.get("init"):
            # Opened before any mount change: the runtime dir may vanish from view.
            status_fd = os.open(command_status_path(request["status_path"]),
                                os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        # In a mount namespace of its own, mounting before the release changes
        # nothing anyone else sees; it overlaps the agent's isolate instead.
        own_mounts = "mnt" in request.get("clone", ())
        if own_mounts:
            setup_filesystem(request)
        if os.read(sync, 1) != b"\x01":
            os._exit(1)  # the agent died or aborted the launch
        os.close(sync)
        if not own_mounts:
            setup_filesystem(request)
        if status_fd is not None:
            run_as_init(request, status_fd)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        prepare_command(request)
        exec_command(request)
    except BaseException as error:
        _fail(error)


if __name__ == "__main__":  # pragma: no cover - not a program
    sys.exit("mesos_py.containerizer.launch is imported by the fork server")
