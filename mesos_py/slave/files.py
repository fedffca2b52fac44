"""The Files actor: sandbox browsing, as Mesos's `/files/*` (src/files/files.cpp).

Directories are attached under virtual paths (an executor's run directory
under its own path, `.../runs/latest` and
`/frameworks/<fid>/executors/<eid>/runs/latest`). A requested path resolves
through the longest attached prefix; the result must stay inside that
attached directory once symlinks and `..` are resolved, so nothing outside
the sandboxes can be read. Results are plain values or `FilesError`s; the
HTTP layer (mesos_py/http/endpoints.py) and the operator API map them.
File system work runs on the blocking pool.
"""

from __future__ import annotations

import dataclasses
import enum
import grp
import os
import pwd
import stat
from typing import Any

from mesos_py.actors import Future, Process

# Mesos reads at most 16 pages per request.
MAX_READ = os.sysconf("SC_PAGE_SIZE") * 16


class FilesErrorType(enum.Enum):
    INVALID = 400
    NOT_FOUND = 404
    UNKNOWN = 500


@dataclasses.dataclass
class FilesError:
    type: FilesErrorType
    message: str = ""


@dataclasses.dataclass
class FileInfo:
    path: str
    nlink: int
    size: int
    mtime: float
    mode: int
    uid: str
    gid: str

    def model(self) -> dict[str, Any]:
        """Mesos's JSON of a FileInfo (`ls -l` like)."""
        return {"path": self.path, "nlink": self.nlink, "size": self.size,
                "mtime": self.mtime, "mode": stat.filemode(self.mode), "uid": self.uid,
                "gid": self.gid}


class Files(Process):
    def __init__(self) -> None:
        super().__init__()
        self._paths: dict[str, str] = {}  # virtual path -> real path

    def attach(self, path: str, virtual_path: str) -> None:
        self._paths[virtual_path.rstrip("/") or "/"] = os.path.realpath(path)

    def detach(self, virtual_path: str) -> None:
        self._paths.pop(virtual_path.rstrip("/") or "/", None)

    def debug(self) -> dict[str, str]:
        return dict(self._paths)

    def browse(self, path: str) -> Future[list[FileInfo] | FilesError]:
        resolved = self._resolve(path)
        if isinstance(resolved, FilesError):
            return Future.ready(resolved)
        return self.runtime.pool.run(_browse, resolved, path)

    def read(self, path: str, offset: int,
             length: int | None) -> Future[tuple[int, bytes] | FilesError]:
        """(file size, data): at most 16 pages from `offset`."""
        resolved = self._resolve(path)
        if isinstance(resolved, FilesError):
            return Future.ready(resolved)
        return self.runtime.pool.run(_read, resolved, offset, length)

    def download(self, path: str) -> str | FilesError:
        """The real path of a regular file to send whole."""
        resolved = self._resolve(path)
        if isinstance(resolved, FilesError):
            return resolved
        if os.path.isdir(resolved):
            return FilesError(FilesErrorType.INVALID, "Cannot download a directory.\n")
        return resolved

    def _resolve(self, path: str) -> str | FilesError:
        """The real path behind a virtual one, confined to its attachment."""
        requested = path.rstrip("/") or "/"
        tokens = requested.split("/")
        suffix: list[str] = []
        while tokens:
            prefix = "/".join(tokens) or "/"
            root = self._paths.get(prefix)
            if root is None:
                suffix.insert(0, tokens.pop())
                continue
            if not os.path.isdir(root):
                return root if not suffix else FilesError(FilesErrorType.NOT_FOUND)
            candidate = os.path.join(root, *suffix)
            real = os.path.realpath(candidate)
            if real != root and not real.startswith(root.rstrip("/") + "/"):
                return FilesError(FilesErrorType.INVALID, f"'{candidate}' is inaccessible.\n")
            if not os.path.exists(real):
                return FilesError(FilesErrorType.NOT_FOUND)
            return real
        return FilesError(FilesErrorType.NOT_FOUND)


def _browse(resolved: str, requested: str) -> list[FileInfo] | FilesError:
    if not os.path.isdir(resolved):
        return []  # Mesos lists a file as nothing (200 and an empty list)
    listing: list[FileInfo] = []
    try:
        entries = sorted(os.listdir(resolved))
    except OSError as error:
        return FilesError(FilesErrorType.UNKNOWN, f"Failed to list '{requested}': {error}")
    for entry in entries:
        try:
            info = os.stat(os.path.join(resolved, entry))
        except OSError:
            continue
        listing.append(FileInfo(os.path.join(requested, entry), info.st_nlink, info.st_size,
                                float(int(info.st_mtime)), info.st_mode, _user(info.st_uid),
                                _group(info.st_gid)))
    return listing


def _read(resolved: str, offset: int, length: int | None) -> tuple[int, bytes] | FilesError:
    if os.path.isdir(resolved):
        return FilesError(FilesErrorType.INVALID, "Cannot read a directory.\n")
    try:
        with open(resolved, "rb") as source:
            size = source.seek(0, os.SEEK_END)
            if offset >= size or length == 0:
                return size, b""
            wanted = size - offset if length is None else length
            source.seek(offset)
            return size, source.read(min(wanted, MAX_READ))
    except OSError as error:
        return FilesError(FilesErrorType.UNKNOWN,
                          f"Failed to open file at '{resolved}': {error.strerror}.\n")


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
