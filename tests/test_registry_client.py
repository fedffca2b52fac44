"""The registry client's pure parts: image references, credentials, index selection."""

from __future__ import annotations

import base64

import pytest

from mesos_py.provisioner.store import manifests
from mesos_py.provisioner.store.reference import ImageReference, parse, registry_scheme
from mesos_py.provisioner.store.registry import credentials_for, parse_docker_config


@pytest.mark.parametrize("name, expected", [
    ("busybox", ImageReference("busybox")),
    ("busybox:1.36", ImageReference("busybox", tag="1.36")),
    ("mesos-py/busybox", ImageReference("mesos-py/busybox")),
    ("127.0.0.1:5000/mesos-py/busybox:oci",
     ImageReference("mesos-py/busybox", registry="127.0.0.1:5000", tag="oci")),
    ("localhost/busybox", ImageReference("busybox", registry="localhost")),
    ("registry.example.com/a/b@sha256:" + "0" * 64,
     ImageReference("a/b", registry="registry.example.com", digest="sha256:" + "0" * 64)),
])
def test_image_references_parse_as_mesos_does(name: str, expected: ImageReference) -> None:
    assert parse(name) == expected
    assert str(parse(name).with_default_tag()).endswith(
        ":latest" if expected.tag is None and expected.digest is None else "")


@pytest.mark.parametrize("name, reason", [
    ("", "empty"), ("a@b@c", "Multiple '@'"), ("Upper/case", "not a valid repository"),
    ("busybox@sha256:short", "not a valid digest"), ("127.0.0.1:5000/", "empty"),
])
def test_malformed_references_are_refused(name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse(name)


def test_registry_scheme_follows_mesos() -> None:
    assert registry_scheme("127.0.0.1:5000") == "http"
    assert registry_scheme("localhost:5000") == "http"
    assert registry_scheme("example.com:80") == "http"
    assert registry_scheme("example.com:443") == "https"
    assert registry_scheme("example.com") == "https"
    assert registry_scheme("127.0.0.1") == "https"


def test_docker_config_both_formats() -> None:
    auth = base64.b64encode(b"alice:pa:ss").decode()
    new = parse_docker_config({"auths": {"https://index.docker.io/v1/": {"auth": auth},
                                         "127.0.0.1:5000": {"username": "bob",
                                                            "password": "x"}}})
    assert credentials_for(new, "registry-1.docker.io").password == "pa:ss"  # type: ignore
    assert credentials_for(new, "127.0.0.1:5000").username == "bob"  # type: ignore
    assert credentials_for(new, "other.io") is None
    old = parse_docker_config({"https://quay.io": {"auth": auth, "email": "a@b"}})
    assert credentials_for(old, "quay.io").username == "alice"  # type: ignore


def test_index_selects_this_platform() -> None:
    entries = manifests.parse_index({"manifests": [
        {"mediaType": manifests.OCI_MANIFEST, "digest": "sha256:" + "1" * 64,
         "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": manifests.OCI_MANIFEST, "digest": "sha256:" + "2" * 64,
         "platform": {"os": "linux", "architecture": "amd64"}}]})
    assert manifests.select_platform(entries, ("linux", "amd64")).digest == "sha256:" + "2" * 64
    with pytest.raises(ValueError, match=r"no manifest for linux/s390x \(it has: linux/amd64, "
                                         r"linux/arm64\)"):
        manifests.select_platform(entries, ("linux", "s390x"))


def test_schema1_and_foreign_layers_are_refused() -> None:
    with pytest.raises(ValueError, match="schema 1 is not supported"):
        manifests.media_type_of({"schemaVersion": 1}, None)
    with pytest.raises(ValueError, match="foreign"):
        manifests.parse_manifest({"schemaVersion": 2,
                                  "config": {"digest": "sha256:" + "1" * 64},
                                  "layers": [{"mediaType": "application/vnd.docker.image."
                                                           "rootfs.foreign.diff.tar.gzip",
                                              "digest": "sha256:" + "2" * 64}]})
