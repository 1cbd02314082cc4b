"""Reading the files the page's procedures and customers' bundles name: regular files of a sane size.

A certificate, a PFX, a Java key store or a krb5.conf is a few kilobytes; the largest one a
user may reasonably point at is a JDK's ``cacerts`` (Debian's, with about 150 roots, is
under 200 KB). Without limits, ``/dev/zero`` is read until memory runs out and a named
pipe blocks the reader for good: both are refused, with the reason, before any byte is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ._errors import ArtifactError

__all__ = ["MAX_ARTIFACT_BYTES", "read_artifact_bytes"]

# Twenty times the largest real input (a JDK's cacerts), and still small for memory.
MAX_ARTIFACT_BYTES = 4 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_artifact_bytes(path: Path | str | os.PathLike[str]) -> bytes:
    """The bytes of ``path``, a regular file of at most :data:`MAX_ARTIFACT_BYTES`.

    Raises :class:`ArtifactError` naming what the path is when it is not a regular file
    (a device, a pipe, a folder) or when it is larger than the cap; ``OSError`` when it
    cannot be opened (missing, no permission).
    """
    path = Path(path)
    _refuse_unless_regular(os.stat(path).st_mode, path)
    # O_NONBLOCK: should the path turn into a FIFO between stat and open, the open does
    # not wait for a writer, and fstat below refuses it.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        _refuse_unless_regular(info.st_mode, path)
        if info.st_size > MAX_ARTIFACT_BYTES:
            raise ArtifactError(_too_large(f"{info.st_size} bytes"), path)
        data = f.read(MAX_ARTIFACT_BYTES + 1)  # a file still growing is cut off here
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ArtifactError(_too_large(f"more than {MAX_ARTIFACT_BYTES} bytes"), path)
    return data


def _refuse_unless_regular(mode: int, path: Path) -> None:
    for test, kind in _KINDS:
        if test(mode):
            raise ArtifactError(
                f"not a regular file but {kind}: refused (a certificate, PFX, key store or krb5.conf is a file)", path
            )
    if not stat.S_ISREG(mode):
        raise ArtifactError("not a regular file: refused", path)


def _too_large(size: str) -> str:
    return (
        f"{size}: larger than the {MAX_ARTIFACT_BYTES} bytes any certificate, PFX, key store or krb5.conf "
        "comes near; refused"
    )
