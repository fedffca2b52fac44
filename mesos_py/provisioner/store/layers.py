"""Unpacking an image layer (a tar, maybe compressed) into a directory of the store.

Layers are stored once, in the overlay filesystem's format, whatever backend
uses them: a whiteout `.wh.NAME` becomes a 0/0 character device `NAME`, an
opaque marker `.wh..wh..opq` becomes the `trusted.overlay.opaque=y` extended
attribute of its directory. The overlay backend stacks such directories
as they are; the copy backend interprets the same markers while copying.

The uncompressed stream is hashed while it is unpacked: its sha256 is the
layer's diff id, checked against the image config. Entries may not escape
the layer directory (no `..`, no writing below a symbolic link, hard links
only to entries of the same layer). Blocking: runs on the blocking pool.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import shutil
import stat
import tarfile
import zlib
from typing import IO, Any, BinaryIO

OPAQUE_XATTR = "trusted.overlay.opaque"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_CHUNK = 1 << 20


class LayerError(ValueError):
    """The layer cannot be unpacked (corrupt, unsafe or unsupported)."""


class HashingReader:
    """A read-only stream that hashes what passes through it."""

    def __init__(self, stream: IO[bytes], algorithm: str = "sha256") -> None:
        self._stream = stream
        self.hash = hashlib.new(algorithm)
        self.algorithm = algorithm
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return f"{self.algorithm}:{self.hash.hexdigest()}"


def decompressed(raw: BinaryIO) -> Any:
    """The tar stream of a layer blob, whatever compression its magic bytes show."""
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw, mode="rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw, mode="rb")
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        raise LayerError("zstd-compressed layers are not supported")
    return raw


def extract_layer(blob: str, destination: str, diff_id: str | None = None,
                  algorithm: str = "sha256") -> str:
    """Unpacks the layer blob at `blob` into the new directory `destination`.

    Returns the layer's diff id (`sha256:` of the uncompressed tar, or of
    `algorithm`); raises LayerError if it differs from `diff_id` or the tar
    is corrupt or unsafe.
    """
    os.makedirs(destination)
    algorithm = diff_id.partition(":")[0] if diff_id else algorithm
    with open(blob, "rb") as raw:
        try:
            reader = HashingReader(decompressed(raw), algorithm)
            _Unpacker(destination).unpack(reader)
            reader.drain()  # the tar's zero padding counts in the diff id
        except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile) as error:
            raise LayerError(f"the layer is not a valid tar archive: {error}")
    if diff_id is not None and reader.digest != diff_id:
        raise LayerError(f"Digest mismatch for layer {diff_id}: the uncompressed content has "
                         f"digest {reader.digest}")
    return reader.digest


class _Unpacker:
    def __init__(self, root: str) -> None:
        self.root = root
        self.directories: list[tuple[str, tarfile.TarInfo]] = []

    def unpack(self, stream: Any) -> None:
        with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as archive:
            for member in archive:
                self._member(archive, member)
        # Directory modes and times last: their entries changed them meanwhile.
        for path, member in reversed(self.directories):
            self._attributes(path, member)

    def _member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = _normalize(member.name)
        if name is None:
            return  # the layer's root directory itself
        parent, base = os.path.split(name)
        self._check_parents(parent, member.name)
        if base == OPAQUE_MARKER:
            directory = os.path.join(self.root, parent)
            os.makedirs(directory, mode=0o755, exist_ok=True)
            os.setxattr(directory, OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_PREFIX):
            gone = os.path.join(self.root, parent, base[len(WHITEOUT_PREFIX):])
            os.makedirs(os.path.dirname(gone), mode=0o755, exist_ok=True)
            _remove(gone)
            os.mknod(gone, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            return
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        if member.isdir():
            if os.path.lexists(path) and not (os.path.isdir(path) and not os.path.islink(path)):
                _remove(path)
            os.makedirs(path, mode=0o700, exist_ok=True)
            self.directories.append((path, member))
            self._xattrs(path, member)
            return
        _remove(path)  # a later entry for the same path wins
        if member.isreg():
            source = archive.extractfile(member)
            assert source is not None
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            target = _normalize(member.linkname)
            if target is None:
                raise LayerError(f"hard link '{member.name}' points to the layer's root")
            self._check_parents(os.path.dirname(target), member.linkname)
            os.link(os.path.join(self.root, target), path, follow_symlinks=False)
            return  # a hard link shares its target's attributes
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise LayerError(f"entry '{member.name}' has the unsupported tar type "
                             f"{member.type!r}")
        self._xattrs(path, member)
        self._attributes(path, member)

    def _check_parents(self, parent: str, name: str) -> None:
        """Refuses to write below a symbolic link: the link could point anywhere."""
        current = self.root
        for part in parent.split("/") if parent else ():
            current = os.path.join(current, part)
            if os.path.islink(current):
                raise LayerError(f"entry '{name}' is below the symbolic link "
                                 f"'{os.path.relpath(current, self.root)}'")

    @staticmethod
    def _attributes(path: str, member: tarfile.TarInfo) -> None:
        os.lchown(path, member.uid, member.gid)
        if not member.issym():
            # After chown, which clears set-user-id and set-group-id bits.
            os.chmod(path, member.mode & 0o7777)
            os.utime(path, (member.mtime, member.mtime))
        else:
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    @staticmethod
    def _xattrs(path: str, member: tarfile.TarInfo) -> None:
        for key, value in member.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key[len("SCHILY.xattr."):]
            if name.startswith("trusted.overlay."):
                continue  # only our own whiteout markers may say that
            try:
                os.setxattr(path, name, value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False)
            except OSError:
                pass  # e.g. a security.* attribute this filesystem refuses


def _normalize(name: str) -> str | None:
    """A member name relative to the layer root; None for the root; LayerError if it escapes."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise LayerError(f"entry '{name}' escapes the layer directory")
    return "/".join(parts) if parts else None


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def is_whiteout(st: os.stat_result) -> bool:
    """Whether a stat result is an overlay whiteout (a 0/0 character device)."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False
