"""Downloading a URI to a local file: http(s), file:// and local paths (Mesos's uri fetchers).

Blocking; callers run it on the blocking pool. A transfer that receives
nothing for `stall_timeout` seconds is aborted (curl's `-y` in Mesos). The
target file is written in place: callers download into a staging area.
"""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import urllib.parse
from typing import Callable

_CHUNK = 1 << 20
_MAX_REDIRECTS = 5


class DownloadError(ValueError):
    """The URI cannot be fetched; the message says why."""


def local_path(uri: str) -> str | None:
    """The path of a `file://` URI or an absolute path; None for other URIs."""
    if uri.startswith("file://"):
        parsed = urllib.parse.urlsplit(uri)
        if parsed.netloc not in ("", "localhost"):
            raise DownloadError(f"'{uri}' names a remote host in a file URI")
        return urllib.parse.unquote(parsed.path)
    if uri.startswith("/"):
        return uri
    return None


def is_supported(uri: str) -> bool:
    return local_path_or_none(uri) is not None or uri.split("://", 1)[0].lower() in ("http",
                                                                                    "https")


def local_path_or_none(uri: str) -> str | None:
    try:
        return local_path(uri)
    except DownloadError:
        return None


def content_length(uri: str, stall_timeout: float) -> int | None:
    """The size of what `uri` names, if known without downloading it."""
    path = local_path(uri)
    if path is not None:
        try:
            return os.path.getsize(path)
        except OSError as error:
            raise DownloadError(f"Failed to read '{path}': {error.strerror}")
    response, connection = _open(uri, "HEAD", stall_timeout)
    try:
        if response.status != 200:
            return None
        length = response.getheader("Content-Length")
        return int(length) if length and length.isdigit() else None
    finally:
        connection.close()


def download(uri: str, target: str, stall_timeout: float,
             progress: Callable[[int], None] | None = None) -> int:
    """Copies what `uri` names to the new file `target`; its size in bytes."""
    path = local_path(uri)
    if path is not None:
        try:
            shutil.copyfile(path, target)
        except OSError as error:
            raise DownloadError(f"Failed to copy '{path}': {error.strerror}")
        return os.path.getsize(target)
    response, connection = _open(uri, "GET", stall_timeout)
    try:
        if response.status != 200:
            raise DownloadError(f"Failed to download '{uri}': HTTP {response.status} "
                                f"{response.reason}")
        size = 0
        with open(target, "xb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(size)
        expected = response.getheader("Content-Length")
        if expected and expected.isdigit() and int(expected) != size:
            raise DownloadError(f"Failed to download '{uri}': the connection closed after "
                                f"{size} of {expected} bytes")
        return size
    except TimeoutError:
        raise DownloadError(f"Failed to download '{uri}': nothing received for "
                            f"{stall_timeout:g} seconds (--fetcher_stall_timeout)")
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"Failed to download '{uri}': {error}")
    finally:
        connection.close()


def _open(uri: str, method: str, stall_timeout: float,
          ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    for _ in range(_MAX_REDIRECTS + 1):
        parsed = urllib.parse.urlsplit(uri)
        scheme = parsed.scheme.lower()
        if scheme not in ("http", "https") or not parsed.netloc:
            raise DownloadError(f"Unsupported URI '{uri}' (http, https, file and absolute "
                                "paths are)")
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(parsed.netloc, timeout=stall_timeout,
                                                     context=ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(parsed.netloc, timeout=stall_timeout)
        path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
        try:
            connection.request(method, path, headers={"User-Agent": "mesos-py"})
            response = connection.getresponse()
        except TimeoutError:
            connection.close()
            raise DownloadError(f"Failed to download '{uri}': nothing received for "
                                f"{stall_timeout:g} seconds (--fetcher_stall_timeout)")
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise DownloadError(f"Failed to download '{uri}': {error}")
        location = response.getheader("Location")
        if response.status in (301, 302, 303, 307, 308) and location:
            connection.close()
            uri = urllib.parse.urljoin(uri, location)
            continue
        return response, connection
    raise DownloadError(f"Failed to download '{uri}': too many redirects")
