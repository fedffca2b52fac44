"""Docker image references (`[registry/]repository[:tag][@digest]`), parsed as Mesos does.

The first path component is a registry when it contains '.' or ':' or is
`localhost` (Docker's rule). Without tag and digest, the tag is `latest`.
"""

from __future__ import annotations

import dataclasses
import re

DEFAULT_TAG = "latest"
_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")


@dataclasses.dataclass(frozen=True)
class ImageReference:
    repository: str
    registry: str | None = None
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What to ask a registry for: the digest, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_default_tag(self) -> "ImageReference":
        if self.tag is None and self.digest is None:
            return dataclasses.replace(self, tag=DEFAULT_TAG)
        return self

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.digest:
            return f"{text}@{self.digest}"
        if self.tag:
            return f"{text}:{self.tag}"
        return text


def parse(name: str) -> ImageReference:
    """Parses an image name; ValueError with the reason if it is malformed."""
    text = name.strip()
    if not text:
        raise ValueError("the image name is empty")
    digest = None
    if "@" in text:
        text, _, digest = text.partition("@")
        if "@" in digest:
            raise ValueError("Multiple '@' symbols found")
        if not _DIGEST_RE.fullmatch(digest):
            raise ValueError(f"'{digest}' is not a valid digest")
    tag = None
    if ":" in text:
        head, _, last = text.rpartition(":")
        # The tag is the last component; with a '/' after the ':' it was a port.
        if "/" not in last:
            tag, text = last, head
            if not _TAG_RE.fullmatch(tag):
                raise ValueError(f"'{tag}' is not a valid tag")
    registry = None
    first, slash, rest = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, text = first, rest
    if not text:
        raise ValueError("the repository name is empty")
    for component in text.split("/"):
        if not _COMPONENT_RE.fullmatch(component):
            raise ValueError(f"'{text}' is not a valid repository name (lower-case letters, "
                             "digits and separators)")
    return ImageReference(repository=text, registry=registry, tag=tag, digest=digest)


def registry_scheme(registry: str) -> str:
    """Mesos's rule: https, except port 80 and a port on localhost/127.0.0.1 (http)."""
    host, colon, port = registry.partition(":")
    if colon:
        if port == "443":
            return "https"
        if port == "80" or host in ("localhost", "127.0.0.1"):
            return "http"
    return "https"
