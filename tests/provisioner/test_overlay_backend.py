"""The overlay backend on real mounts: layers named by their paths, or through
short links when the mount options would not fit in a page."""

from __future__ import annotations

import glob
import os
import tempfile
from typing import Any

import pytest

from mesos_py.linux import fs
from mesos_py.provisioner.backend.overlay import OverlayBackend

pytestmark = pytest.mark.skipif(not fs.overlay_supported(), reason="no overlayfs in this kernel")


def make_layers(root: str, count: int, name_length: int) -> list[str]:
    """`count` layers, bottom first; layer i writes /layer and adds /only-<i>."""
    layers = []
    for index in range(count):
        layer = os.path.join(root, f"{index:04d}" + "x" * (name_length - 4), "rootfs")
        os.makedirs(layer)
        for name, text in (("layer", str(index)), (f"only-{index}", "")):
            with open(os.path.join(layer, name), "w") as out:
                out.write(text)
        layers.append(layer)
    return layers


def overlay_links() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "mesos-py-overlay-*")))


@pytest.mark.parametrize("count,name_length", [(2, 64), (60, 100)],
                         ids=["paths-in-options", "through-links"])
def test_the_top_layer_wins_and_every_layer_is_seen(tmp_path: Any, count: int,
                                                    name_length: int) -> None:
    layers = make_layers(str(tmp_path / "store"), count, name_length)
    backend_dir = str(tmp_path / "backends" / "overlay")
    rootfs = os.path.join(backend_dir, "rootfses", "r1")
    links_before = overlay_links()
    backend = OverlayBackend()
    upper, work = backend.provision(layers, rootfs, backend_dir)
    try:
        assert open(os.path.join(rootfs, "layer")).read() == str(count - 1)
        assert all(os.path.exists(os.path.join(rootfs, f"only-{i}")) for i in range(count))
        [entry] = [e for e in fs.mount_table() if e.target == rootfs]
        assert entry.fstype == "overlay"
        uses_links = "mesos-py-overlay-" in entry.super_options
        assert uses_links == (count == 60), entry.super_options
        # The links served the mount only: none is left while the rootfs is in use.
        assert overlay_links() == links_before
        with open(os.path.join(rootfs, "written"), "w") as out:
            out.write("x")
        assert os.path.exists(os.path.join(upper, "written"))
    finally:
        assert backend.destroy(rootfs, backend_dir)
    assert not any(e.target.startswith(str(tmp_path)) for e in fs.mount_table())
    assert not os.path.exists(rootfs) and not os.path.exists(os.path.dirname(upper))
    assert not os.path.exists(work)


def test_a_comma_in_a_path_goes_through_links(tmp_path: Any) -> None:
    layers = make_layers(str(tmp_path / "st,ore"), 2, 8)
    backend_dir = str(tmp_path / "backends" / "overlay")
    rootfs = os.path.join(backend_dir, "rootfses", "r1")
    backend = OverlayBackend()
    backend.provision(layers, rootfs, backend_dir)
    try:
        assert open(os.path.join(rootfs, "layer")).read() == "1"
    finally:
        backend.destroy(rootfs, backend_dir)
    assert not os.path.exists(rootfs)
