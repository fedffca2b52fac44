"""disk/du's walk and actor, and the XFS syscall wrappers of disk/xfs.

The walk is compared with `du` itself; the wrappers with `xfs_io` and
`xfs_quota` on a loop-mounted XFS image. Project ids work on any XFS mount;
the quota tests need a kernel that mounts XFS with pquota and are skipped
otherwise, with the reason.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import subprocess
from typing import Any, Iterator

import pytest

from mesos_py import flags as agent_flags
from mesos_py.actors import Runtime, dispatch
from mesos_py.actors.testing import await_ready
from mesos_py.isolators import disk
from mesos_py.isolators.disk import DiskDuIsolator
from mesos_py.protos.mesos.slave.containerizer_pb2 import ContainerConfig
from mesos_py.protos.mesos.v1.mesos_pb2 import ContainerID, Resource, TaskStatus, Value
from tests.agent import wait_until
from tests.e2e.test_disk_isolators import (CREATED_IMAGES, XfsImage, _proc_mounts,
                                           project_id, quota_report, xfs_quota_unsupported)

MB = 1024 * 1024


def du_kb(path: str) -> int:
    return int(subprocess.run(["du", "-s", "-k", "-x", path], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def write(path: str, size: int, byte: bytes = b"x") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(byte * size)


def fill(path: str, size: int, chunk: int = 64 * 1024) -> None:
    """Writes `size` bytes a chunk at a time, as dd does (one write would fail whole)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(size // chunk):
            os.write(fd, b"x" * chunk)
    finally:
        os.close(fd)


# ==================================================================== du walk
def test_walk_counts_what_du_counts(tmp_path: Any) -> None:
    root = str(tmp_path / "sandbox")
    write(f"{root}/a/one", 37 * 1024)
    write(f"{root}/a/b/c/two", 5000)
    os.link(f"{root}/a/one", f"{root}/a/b/hardlink")  # counted once
    os.symlink("/usr", f"{root}/a/usr")  # not followed
    os.symlink("dangling", f"{root}/broken")
    with open(f"{root}/sparse", "wb") as sparse:
        sparse.truncate(64 * MB)  # no blocks
    write(f"{root}/tiny", 1)
    os.mkfifo(f"{root}/fifo")
    assert disk.sandbox_usage(root) == du_kb(root) * 1024
    assert disk.sandbox_usage(root) < MB


def test_walk_of_an_empty_directory_and_of_a_missing_one(tmp_path: Any) -> None:
    os.mkdir(tmp_path / "empty")
    assert disk.sandbox_usage(str(tmp_path / "empty")) == du_kb(str(tmp_path / "empty")) * 1024
    with pytest.raises(FileNotFoundError):
        disk.sandbox_usage(str(tmp_path / "missing"))


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_walk_does_not_enter_mounts(tmp_path: Any) -> None:
    root, elsewhere = str(tmp_path / "sandbox"), str(tmp_path / "elsewhere")
    write(f"{elsewhere}/big", 4 * MB)
    write(f"{root}/small", 1024)
    os.makedirs(f"{root}/volume")
    before = disk.sandbox_usage(root)
    subprocess.run(["mount", "--bind", elsewhere, f"{root}/volume"], check=True)
    try:
        assert disk.mount_points_under(root) == {f"{root}/volume"}
        assert disk.sandbox_usage(root) == before
    finally:
        subprocess.run(["umount", f"{root}/volume"], check=True)


def test_mount_points_are_unescaped(tmp_path: Any) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "36 35 98:0 / /sandbox/with\\040space rw - ext4 /dev/a rw\n"
        "37 35 98:0 / /sandbox rw - ext4 /dev/a rw\n"
        "38 35 98:0 / /sandboxes/other rw - ext4 /dev/a rw\n")
    assert disk.mount_points_under("/sandbox", str(mountinfo)) == {"/sandbox/with space"}
    assert disk.mount_points_under("/sandbox/", str(mountinfo)) == {"/sandbox/with space"}
    assert disk.mount_points_under("/sandbox/with space", str(mountinfo)) == set()
    assert disk.mount_points_under("/", str(mountinfo)) == {
        "/sandbox/with space", "/sandbox", "/sandboxes/other"}


# ================================================================ du actor
@pytest.fixture
def runtime() -> Iterator[Runtime]:
    runtime = Runtime()
    yield runtime
    runtime.stop()


def du_isolator(runtime: Runtime, work_dir: str, *flags: str) -> Any:
    loaded = agent_flags.load([f"--work_dir={work_dir}", *flags], {})
    return runtime.spawn(DiskDuIsolator, loaded, ["disk/du"])


def config(sandbox: str, megabytes: float | None) -> ContainerConfig:
    result = ContainerConfig(directory=sandbox)
    if megabytes is not None:
        result.resources.add(name="disk", type=Value.SCALAR).scalar.value = megabytes
    result.resources.add(name="cpus", type=Value.SCALAR).scalar.value = 1
    return result


def test_du_measures_again_each_interval_on_the_clock(runtime: Runtime, tmp_path: Any) -> None:
    runtime.clock.pause()
    sandbox = str(tmp_path / "sandbox")
    os.makedirs(sandbox)
    isolator = du_isolator(runtime, str(tmp_path), "--container_disk_watch_interval=1mins")
    container_id = ContainerID(value="c")
    await_ready(dispatch(isolator, DiskDuIsolator.prepare, container_id, config(sandbox, 10)))

    def used() -> int | None:
        statistics = await_ready(dispatch(isolator, DiskDuIsolator.usage, container_id))
        return statistics.disk_used_bytes if statistics.HasField("disk_used_bytes") else None

    wait_until(lambda: used() == du_kb(sandbox) * 1024)  # measured at once
    write(f"{sandbox}/data", 3 * MB)
    wait_until(lambda: runtime.clock.pending_timers() == 1)
    assert used() < MB  # nothing until the interval has passed
    runtime.clock.advance(60)
    wait_until(lambda: used() == du_kb(sandbox) * 1024)
    statistics = await_ready(dispatch(isolator, DiskDuIsolator.usage, container_id))
    assert statistics.disk_limit_bytes == 10 * MB
    await_ready(dispatch(isolator, DiskDuIsolator.cleanup, container_id))
    assert runtime.clock.pending_timers() == 0  # no more walks


def test_du_limitation_names_the_disk_resources(runtime: Runtime, tmp_path: Any) -> None:
    sandbox = str(tmp_path / "sandbox")
    write(f"{sandbox}/data", 2 * MB + 1)
    isolator = du_isolator(runtime, str(tmp_path), "--container_disk_watch_interval=10ms",
                           "--enforce_container_disk_quota")
    container_id = ContainerID(value="c")
    await_ready(dispatch(isolator, DiskDuIsolator.prepare, container_id, config(sandbox, 2)))
    limitation = await_ready(dispatch(isolator, DiskDuIsolator.watch, container_id))
    assert limitation.reason == TaskStatus.REASON_CONTAINER_LIMITATION_DISK
    assert [(r.name, r.scalar.value) for r in limitation.resources] == [("disk", 2)]
    assert limitation.message == f"Disk usage ({du_kb(sandbox)}KB) exceeds quota (2MB)"


def test_du_ignores_nested_containers(runtime: Runtime, tmp_path: Any) -> None:
    isolator = du_isolator(runtime, str(tmp_path))
    child = ContainerID(value="child")
    child.parent.value = "parent"
    assert await_ready(dispatch(isolator, DiskDuIsolator.prepare, child,
                                config(str(tmp_path), 1))) is None
    watch = dispatch(isolator, DiskDuIsolator.watch, child)
    runtime.settle()
    assert watch.is_pending()
    statistics = await_ready(dispatch(isolator, DiskDuIsolator.usage, child))
    assert not statistics.HasField("disk_used_bytes")


def test_sandbox_disk_ignores_volumes_and_sums_megabytes() -> None:
    plain = Resource(name="disk", type=Value.SCALAR)
    plain.scalar.value = 1.5
    other = Resource(name="disk", type=Value.SCALAR)
    other.scalar.value = 2
    volume = Resource(name="disk", type=Value.SCALAR)
    volume.scalar.value = 100
    volume.disk.persistence.id = "v"
    assert disk.sandbox_disk([plain, other, volume]) == ([plain, other], 3 * MB)
    assert disk.sandbox_disk([]) == ([], None)


# ========================================================= xfs: pure parts
def test_ioctl_numbers_and_struct_layouts() -> None:
    assert disk.FS_IOC_FSGETXATTR == 0x801C581F
    assert disk.FS_IOC_FSSETXATTR == 0x401C5820
    assert ctypes.sizeof(disk._FsDiskQuota) == 112
    assert ctypes.sizeof(disk._FsQuotaStatv) == 160
    assert disk.qcmd(disk.Q_XSETQLIM, disk.PRJQUOTA) == 0x580402
    assert disk.qcmd(disk.Q_XGETQUOTA, disk.PRJQUOTA) == 0x580302


def test_project_ranges() -> None:
    assert disk.parse_project_range("[5000-10000]") == [(5000, 10000)]
    assert disk.parse_project_range("[1-5, 7-9]") == [(1, 5), (7, 9)]
    for bad in ("5000-10000", "[10-5]", "[a-b]", "[1-2-3]", "[]"):
        with pytest.raises(ValueError, match="Failed to parse"):
            disk.parse_project_range(bad)
    with pytest.raises(ValueError, match="illegal 0"):
        disk.parse_project_range("[0-10]")
    with pytest.raises(ValueError, match="out of range"):
        disk.parse_project_range("[1-4294967296]")


def test_xfs_isolator_refuses_a_work_dir_off_xfs(runtime: Runtime, tmp_path: Any) -> None:
    from mesos_py.isolators.base import StartupError
    loaded = agent_flags.load([f"--work_dir={tmp_path}"], {})
    with pytest.raises(StartupError, match=f"'{tmp_path}' is not an XFS filesystem"):
        disk.XfsDiskIsolator(loaded, ["disk/xfs"])


# ================================================== xfs: on a real XFS mount
def _have_xfsprogs() -> bool:
    return subprocess.run(["sh", "-c", "command -v mkfs.xfs xfs_io"],
                          capture_output=True).returncode == 0


@pytest.fixture
def xfs_mount(tmp_path: Any) -> Iterator[XfsImage]:
    """XFS without quota: project ids are inode attributes, usable regardless."""
    if not _have_xfsprogs() or os.geteuid() != 0:
        pytest.skip("needs xfsprogs and root")
    image = XfsImage(str(tmp_path), options="noquota").mount()
    yield image
    image.unmount()


@pytest.fixture
def pquota_mount(tmp_path: Any) -> Iterator[XfsImage]:
    reason = xfs_quota_unsupported(str(tmp_path / "probe"))
    if reason is not None:
        pytest.skip(reason)
    image = XfsImage(str(tmp_path)).mount()
    yield image
    image.unmount()


def xflags(path: str) -> int:
    output = subprocess.run(["xfs_io", "-r", "-c", "stat", path], capture_output=True,
                            text=True, check=True).stdout
    match = re.search(r"fsxattr\.xflags = (0x[0-9a-f]+)", output)
    assert match is not None, output
    return int(match.group(1), 16)


def test_filesystem_type_and_device(xfs_mount: XfsImage) -> None:
    assert disk.filesystem_type(xfs_mount.mount_point) == disk.XFS_SUPER_MAGIC
    assert disk.filesystem_type("/proc") != disk.XFS_SUPER_MAGIC
    device = disk.device_for_path(xfs_mount.mount_point)
    listed = subprocess.run(["losetup", "-j", xfs_mount.image], capture_output=True,
                            text=True).stdout
    assert listed.startswith(device + ":")
    assert not disk.project_quota_enabled(device)


def test_project_ids_are_set_inherited_and_cleared(xfs_mount: XfsImage) -> None:
    root = os.path.join(xfs_mount.mount_point, "sandbox")
    write(f"{root}/dir/file", 10)
    os.symlink("/nowhere", f"{root}/link")
    os.mkfifo(f"{root}/fifo")
    disk.set_project_id(root, 5001)
    for path in (root, f"{root}/dir", f"{root}/dir/file"):
        assert disk.get_project_id(path) == project_id(path) == 5001
    assert xflags(root) & disk.FS_XFLAG_PROJINHERIT
    assert not xflags(f"{root}/dir/file") & disk.FS_XFLAG_PROJINHERIT
    write(f"{root}/dir/new/later", 10)  # created after: inherits the id
    assert project_id(f"{root}/dir/new/later") == project_id(f"{root}/dir/new") == 5001

    disk.set_project_id(root, 0, include_root=False)
    assert project_id(root) == 5001 and project_id(f"{root}/dir/new/later") == 0
    disk.set_project_id(root, 0)
    assert project_id(root) == 0 and not xflags(root) & disk.FS_XFLAG_PROJINHERIT
    write(f"{root}/after", 1)
    assert project_id(f"{root}/after") == 0  # PROJINHERIT is gone too


def test_project_id_off_xfs_is_an_error(tmp_path: Any) -> None:
    try:
        disk.get_project_id(str(tmp_path))
    except OSError as error:
        assert error.errno in (errno.ENOTTY, errno.EOPNOTSUPP)
    else:
        # ext4 answers FS_IOC_FSGETXATTR too (project 0) but cannot hold quotas
        assert disk.get_project_id(str(tmp_path)) == 0


def test_quota_limits_usage_and_a_failing_write(pquota_mount: XfsImage) -> None:
    mount = pquota_mount.mount_point
    device = disk.device_for_path(mount)
    assert disk.project_quota_enabled(device)
    root = os.path.join(mount, "sandbox")
    os.makedirs(root)
    disk.set_project_id(root, 7000)
    disk.set_project_quota(device, 7000, 2 * MB, 2 * MB)
    assert quota_report(mount, 7000, 7000)[7000][1] == 2048
    with pytest.raises(OSError) as raised:
        fill(f"{root}/big", 3 * MB)
    # XFS fails a write past a *project* quota with ENOSPC, not EDQUOT (see
    # xfs_trans_dqresv); EDQUOT is what user and group quotas give.
    assert raised.value.errno in (errno.ENOSPC, errno.EDQUOT)
    quota = disk.get_project_quota(device, 7000)
    assert quota.hard_limit == quota.soft_limit == 2 * MB
    assert 2 * MB - 64 * 1024 <= quota.used <= 2 * MB and quota.inodes == 2
    disk.set_project_quota(device, 7000, 0, 0)
    fill(f"{root}/big", 3 * MB)  # no limit any more
    os.unlink(f"{root}/big")
    disk.set_project_id(root, 0)
    disk.syncfs(root)  # XFS frees unlinked inodes in the background
    assert disk.get_project_quota(device, 7000) == disk.ProjectQuota(0, 0, 0, 0)


def test_release_keeps_an_id_that_symlinks_still_hold(pquota_mount: XfsImage) -> None:
    device = disk.device_for_path(pquota_mount.mount_point)
    plain = os.path.join(pquota_mount.mount_point, "plain")
    linked = os.path.join(pquota_mount.mount_point, "linked")
    for sandbox, project in ((plain, 7100), (linked, 7101)):
        os.makedirs(sandbox)
        disk.set_project_id(sandbox, project)
        disk.set_project_quota(device, project, MB, MB)
        write(f"{sandbox}/dir/file", 1000)
    os.symlink("file", f"{linked}/dir/link")  # inherits 7101; cannot be relabelled
    assert disk._unassign(plain, 7100, device) is True
    assert project_id(plain) == 0
    assert disk.get_project_quota(device, 7100) == disk.ProjectQuota(0, 0, 0, 0)
    assert disk._unassign(linked, 7101, device) is False
    assert project_id(linked) == 7101  # still labelled, so a restart finds it
    assert disk._reclaimable({7101: (linked, device)}) == []
    subprocess.run(["rm", "-rf", linked], check=True)
    assert disk._reclaimable({7101: (linked, device)}) == [7101]


def test_no_mount_or_loop_device_is_left() -> None:
    """Runs last in this module."""
    assert [f for f in _proc_mounts()
            if any(f[1].startswith(os.path.dirname(i)) for i in CREATED_IMAGES)] == []
    attached = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert [image for image in CREATED_IMAGES if image in attached] == []
