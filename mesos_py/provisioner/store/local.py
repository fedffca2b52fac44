"""The local puller: images from a directory, when `--docker_registry` is a path.

As Mesos's local puller, it reads `docker save` archives named after the
image: `DIR/<repository>:<tag>.tar`, or `DIR/<repository>.tar` for the tag
`latest`. It also reads OCI image layouts `DIR/<repository>` (or
`DIR/<repository>:<tag>`), selecting the manifest by its ref name.

An archive is read through its `manifest.json` (config, layers and repo
tags); archives of old Docker versions have only the legacy `repositories`
file and a `<layer id>/json` parent chain, which are read as Mesos does.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from typing import Any, Callable

from mesos_py.provisioner.image import load_json_object
from mesos_py.provisioner.store import LayerSource, ResolvedImage, manifests, oci
from mesos_py.provisioner.store.reference import DEFAULT_TAG, ImageReference

_CHUNK = 1 << 20


class LocalPuller:
    def __init__(self, directory: str) -> None:
        self.directory = directory[len("file://"):] if directory.startswith("file://") \
            else directory

    def resolve(self, reference: ImageReference) -> ResolvedImage:
        """Blocking: finds the image and reads its config."""
        tag = reference.tag or DEFAULT_TAG
        name = f"{reference.repository}:{tag}"
        candidates = [os.path.join(self.directory, f"{name}.tar")]
        if tag == DEFAULT_TAG and reference.digest is None:
            candidates.append(os.path.join(self.directory, f"{reference.repository}.tar"))
        candidates += [os.path.join(self.directory, name),
                       os.path.join(self.directory, reference.repository)]
        for path in candidates:
            if os.path.isfile(path):
                if reference.digest is not None:
                    raise ValueError("a docker archive cannot be addressed by digest; "
                                     "use a tag")
                return _archive(path, reference.repository, tag, str(reference))
            if os.path.isdir(path) and oci.is_layout(path):
                if reference.digest is not None:
                    return oci.resolve(path, None, reference.digest, str(reference))
                # A layout named `<repository>:<tag>` holds that tag under any ref name.
                ref = _single_ref(path) if path.endswith(f":{tag}") else tag
                return oci.resolve(path, ref, None, str(reference))
        raise FileNotFoundError(
            f"Failed to find image '{reference}' in '{self.directory}': none of "
            f"{', '.join(os.path.basename(c) for c in candidates)} is a docker archive or "
            "an OCI image layout")


def _single_ref(layout: str) -> str | None:
    """The ref of a layout named `<repository>:<tag>`: its only (or `latest`) ref."""
    with open(os.path.join(layout, "index.json"), "rb") as index_file:
        entries = manifests.parse_index(load_json_object(index_file.read(), "index.json"))
    refs = {(e.annotations or {}).get(oci.REF_NAME) for e in entries}
    refs.discard(None)
    if len(refs) == 1:
        return refs.pop()
    return DEFAULT_TAG


def _archive(path: str, repository: str, tag: str, name: str) -> ResolvedImage:
    try:
        with tarfile.open(path, "r:*") as archive:
            members = {_clean(m.name): m for m in archive.getmembers()}
            if "manifest.json" in members:
                return _from_manifest(path, archive, members, repository, tag, name)
            if "repositories" in members:
                return _from_repositories(path, archive, members, repository, tag, name)
    except tarfile.TarError as error:
        raise ValueError(f"'{path}' is not a readable docker archive: {error}")
    raise ValueError(f"'{path}' is not a docker archive (no manifest.json or repositories)")


def _read(archive: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str,
          path: str) -> bytes:
    member = members.get(_clean(name))
    source = archive.extractfile(member) if member is not None else None
    if source is None:
        raise ValueError(f"the docker archive '{path}' has no file '{name}'")
    return source.read()


def _from_manifest(path: str, archive: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                   repository: str, tag: str, name: str) -> ResolvedImage:
    entries = json.loads(_read(archive, members, "manifest.json", path))
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"the manifest.json of '{path}' lists no image")
    wanted = {f"{repository}:{tag}", f"docker.io/{repository}:{tag}",
              f"docker.io/library/{repository}:{tag}"}
    chosen = [e for e in entries if isinstance(e, dict) and wanted & set(e.get("RepoTags") or [])]
    if not chosen and len(entries) == 1:
        chosen = entries  # an archive of one image answers to its file name
    if not chosen:
        tags = sorted(t for e in entries if isinstance(e, dict) for t in e.get("RepoTags") or [])
        raise ValueError(f"the docker archive '{path}' has no image '{repository}:{tag}' "
                         f"(it has: {', '.join(tags) or 'untagged images'})")
    entry: dict[str, Any] = chosen[0]
    layer_names = entry.get("Layers")
    if not isinstance(layer_names, list) or not layer_names:
        raise ValueError(f"the image in '{path}' has no layers")
    config = _read(archive, members, str(entry.get("Config")), path)
    _, diff_ids = manifests.parse_config(config, len(layer_names))
    layers = [LayerSource(diff_id, _member_fetcher(path, str(layer)), f"layer {diff_id}")
              for diff_id, layer in zip(diff_ids, layer_names)]
    return ResolvedImage(reference=name, config=config, layers=layers)


def _from_repositories(path: str, archive: tarfile.TarFile,
                       members: dict[str, tarfile.TarInfo], repository: str, tag: str,
                       name: str) -> ResolvedImage:
    repositories = load_json_object(_read(archive, members, "repositories", path),
                                    "the repositories file")
    top = (repositories.get(repository) or {}).get(tag)
    if not isinstance(top, str):
        raise ValueError(f"the docker archive '{path}' has no image '{repository}:{tag}'")
    chain: list[str] = []
    layer_id, top_json = top, b""
    while layer_id:
        if layer_id in chain or len(chain) > 256:
            raise ValueError(f"the layer chain of '{path}' loops")
        data = _read(archive, members, f"{layer_id}/json", path)
        top_json = top_json or data
        chain.append(layer_id)
        layer_id = load_json_object(data, f"{layer_id}/json").get("parent") or ""
    layers = [LayerSource(None, _member_fetcher(path, f"{layer}/layer.tar"), f"layer {layer}")
              for layer in reversed(chain)]
    return ResolvedImage(reference=name, config=top_json, layers=layers)


def _member_fetcher(path: str, member_name: str) -> Callable[[str], str]:
    def fetch(staging: str) -> str:
        fd, target = tempfile.mkstemp(dir=staging, suffix=".tar")
        with os.fdopen(fd, "wb") as out, tarfile.open(path, "r:*") as archive:
            member = next((m for m in archive if _clean(m.name) == _clean(member_name)), None)
            source = archive.extractfile(member) if member is not None else None
            if source is None:
                raise ValueError(f"the docker archive '{path}' has no file '{member_name}'")
            shutil.copyfileobj(source, out, _CHUNK)
        return target
    return fetch


def _clean(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))
