"""Damaged files: every reader answers with an ArtifactError, never a stray exception."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

import pytest

from harness.artifacts import (
    ArtifactError,
    detect_format,
    export_pfx,
    inspect_file,
    keytool_import,
    read_certificate,
    read_keystore,
    read_krb5_conf,
    read_pfx,
    write_der_certificate,
)

from .artifacts_support import Pki


def _mutations(data: bytes, rng: random.Random) -> list[bytes]:
    """Truncations at 20 points and 40 copies with one to four bytes changed."""
    cuts = [data[: len(data) * i // 20] for i in range(20)]
    flips = []
    for _ in range(40):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        flips.append(bytes(damaged))
    return cuts + flips


# cryptography warns about the negative serial numbers some mutations produce.
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("kind", ["pfx-aes", "pfx-3des", "jks", "pkcs12-truststore", "der"])
def test_damaged_files_give_artifact_errors(tmp_path: Path, pki: Pki, kind: str) -> None:
    password = "changeit"
    original = tmp_path / "original"
    if kind.startswith("pfx"):
        encryption = kind.removeprefix("pfx-").replace("aes", "aes256")
        export_pfx(
            original, certificate=pki.leaf, private_key=pki.leaf_key, chain=pki.chain, password=password, encryption=encryption
        )
    elif kind == "der":
        write_der_certificate(original, pki.root)
    else:
        storetype = "jks" if kind == "jks" else "pkcs12"
        keytool_import(original, alias="ucc-cert", certificate=pki.root, password=password, storetype=storetype)
    readers: list[Callable[[Path], object]] = [
        detect_format,
        read_certificate,
        lambda p: read_pfx(p, password),
        lambda p: read_keystore(p, password, "jks"),
        lambda p: read_keystore(p, password, "pkcs12"),
        lambda p: read_keystore(p, None, "jks"),
        lambda p: inspect_file(p, password),
        read_krb5_conf,
    ]
    damaged = tmp_path / "damaged"
    for data in _mutations(original.read_bytes(), random.Random(kind)):
        damaged.write_bytes(data)
        for reader in readers:
            try:
                reader(damaged)
            except ArtifactError:
                pass
