"""File writing shared by the stand-ins and the harness: secrets get mode 0600.

Writes are atomic (temporary file in the same folder, then ``os.replace``) so a crash never
leaves half a key or half a database export behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_private_file", "write_public_file", "sha256_file"]


def _write_atomic(path: Path, data: bytes, mode: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_private_file(path: Path | str, data: bytes) -> Path:
    """Write a secret (private key, key store, PFX, a file holding passwords), mode 0600."""
    return _write_atomic(Path(path), data, 0o600)


def write_public_file(path: Path | str, data: bytes) -> Path:
    """Write a file with nothing secret in it (a certificate, a krb5.conf), mode 0644."""
    return _write_atomic(Path(path), data, 0o644)


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes, as the transcript records it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
