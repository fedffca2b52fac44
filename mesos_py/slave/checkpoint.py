"""Atomic checkpoints: write a temp file, fsync it, rename it, fsync the directory.

Protobuf checkpoints use stout's record framing (a native-endian uint32 length,
then the serialized message), as Mesos's `state::checkpoint` does, so a
truncated file is detected instead of silently parsing as a shorter message.
"""

from __future__ import annotations

import os
import struct
import tempfile
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

M = TypeVar("M", bound=Message)
_LENGTH = struct.Struct("=I")


class CheckpointError(Exception):
    """A checkpoint file that exists but cannot be read back."""


def write_atomic(path: str, data: bytes, spare: str | None = None) -> None:
    """`spare`, if given and there: an empty file made ahead in the same
    directory, written instead of a new temp file. Creating a file can take
    milliseconds (ext4 without a journal, after many deletions), and some
    checkpoints are on a container's launch path."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, temporary = _open_temporary(directory, os.path.basename(path), spare)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.rename(temporary, path)
    except BaseException:
        _unlink_quietly(temporary)
        raise
    _fsync_directory(directory)


def _open_temporary(directory: str, name: str, spare: str | None) -> tuple[int, str]:
    if spare is not None:
        try:
            return os.open(spare, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW), spare
        except FileNotFoundError:
            pass
    return tempfile.mkstemp(dir=directory, prefix=f".{name}.")


def spare_path(path: str) -> str:
    """Where a spare file for checkpointing `path` goes (see `write_atomic`)."""
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.spare")


def make_spares(paths: list[str]) -> None:
    """Blocking: spare files for future checkpoints of `paths`."""
    for path in paths:
        spare = spare_path(path)
        os.makedirs(os.path.dirname(spare), exist_ok=True)
        os.close(os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))


def framed(message: Message) -> bytes:
    """One record: the length header, then the serialized message."""
    payload = message.SerializeToString()
    return _LENGTH.pack(len(payload)) + payload


def checkpoint_message(path: str, message: Message, spare: str | None = None) -> None:
    write_atomic(path, framed(message), spare)


def checkpoint_text(path: str, text: str, spare: str | None = None) -> None:
    write_atomic(path, text.encode(), spare)


def read_message(path: str, cls: type[M]) -> M:
    """Reads one framed message; FileNotFoundError if absent."""
    with open(path, "rb") as source:
        data = source.read()
    if len(data) < _LENGTH.size:
        raise CheckpointError(f"'{path}' is truncated (no length header)")
    (length,) = _LENGTH.unpack_from(data)
    payload = data[_LENGTH.size:]
    if len(payload) != length:
        raise CheckpointError(
            f"'{path}' holds {len(payload)} bytes of a {length}-byte record (truncated or corrupt)")
    message = cls()
    try:
        message.ParseFromString(payload)
    except DecodeError as error:
        raise CheckpointError(f"'{path}' does not parse as {cls.DESCRIPTOR.full_name}: {error}")
    return message


def read_text(path: str) -> str:
    with open(path) as source:
        return source.read()


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def append_record(path: str, message: Message) -> None:
    """Appends one framed record to a log such as `task.updates`, then fsyncs.

    A crash mid-append leaves a truncated last record, which `read_records`
    drops.
    """
    record = framed(message)
    created = not os.path.exists(path)
    if created:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "ab") as out:
        out.write(record)
        out.flush()
        os.fsync(out.fileno())
    if created:
        _fsync_directory(os.path.dirname(path))


def read_records(path: str, cls: type[M]) -> tuple[list[M], bool]:
    """Every complete record of a log; also whether a truncated tail was dropped."""
    with open(path, "rb") as source:
        data = source.read()
    records: list[M] = []
    offset = 0
    while offset + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        start = offset + _LENGTH.size
        if start + length > len(data):
            break
        message = cls()
        try:
            message.ParseFromString(data[start:start + length])
        except DecodeError as error:
            raise CheckpointError(f"'{path}' holds a record that does not parse as "
                                  f"{cls.DESCRIPTOR.full_name}: {error}")
        records.append(message)
        offset = start + length
    return records, offset != len(data)
