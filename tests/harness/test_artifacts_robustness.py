"""Damaged files: every reader answers with an ArtifactError that names the file and says what
is wrong with it (empty, truncated, altered), never a stray exception; where the damage hits a
byte the format ignores, the reader gives what the undamaged file holds."""

from __future__ import annotations

import random
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from harness.artifacts import (
    ArtifactError,
    CorruptFileError,
    KeyStore,
    Krb5Conf,
    PfxContents,
    WrongFormatError,
    WrongPasswordError,
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

PASSWORD = "changeit"
KINDS = ["pfx-aes", "pfx-3des", "jks", "pkcs12-truststore", "der"]

# Every reader, by the name the expectations below use.
READERS: dict[str, Callable[[Path], object]] = {
    "detect_format": detect_format,
    "read_certificate": read_certificate,
    "read_pfx": lambda p: read_pfx(p, PASSWORD),
    "keystore-jks": lambda p: read_keystore(p, PASSWORD, "jks"),
    "keystore-pkcs12": lambda p: read_keystore(p, PASSWORD, "pkcs12"),
    "keystore-jks-no-password": lambda p: read_keystore(p, None, "jks"),
    "inspect_file": lambda p: inspect_file(p, PASSWORD),
    "read_krb5_conf": read_krb5_conf,
}

# The readers that must call a truncated file of each kind truncated. Left out, because today
# they do not say so: read_keystore(..., "pkcs12") on a cut PKCS12 file answers a bare
# "java.io.EOFException"; read_keystore(..., None) on a cut JKS store can answer a
# CertificateException about a short certificate (Java: java.io.EOFException); inspect_file
# calls a cut DER certificate "not a format this lab knows" where read_certificate says
# "truncated".
TRUNCATION_READERS = {
    "pfx-aes": ["read_pfx", "inspect_file", "keystore-jks", "keystore-jks-no-password"],
    "pfx-3des": ["read_pfx", "inspect_file", "keystore-jks", "keystore-jks-no-password"],
    "pkcs12-truststore": ["read_pfx", "inspect_file", "keystore-jks", "keystore-jks-no-password"],
    "jks": ["keystore-jks", "keystore-pkcs12", "inspect_file"],
    "der": ["read_certificate"],
}

# What the reader that opens each kind as its user does (the PFX as OpenSSL, the stores as Java
# with their password, the certificate as keytool -import) may answer for a copy with bytes
# changed: per error class, a pattern its message must match.
_PKCS12_FEATURE = r"^a PKCS#12 feature this lab does not read: .+ is not supported$"
_PFX_ALTERED = {
    # The MAC fails, as it does for a wrong password: OpenSSL says "Mac verify error: invalid
    # password?", Windows "The password you entered is incorrect.", the lab names the check.
    WrongPasswordError: r"integrity check fails",
    CorruptFileError: r"\(truncated or damaged PFX\)$|^not a PKCS#12 \(PFX\) file: the file starts with",
    WrongFormatError: r"^this is .+, not a PKCS#12 \(PFX\) file$",
    ArtifactError: _PKCS12_FEATURE,  # an algorithm identifier changed into one nobody knows
}
_JAVA_ALTERED = {  # KeyStore.load's own words (JDK 17)
    WrongPasswordError: r"^(Keystore was tampered with, or password was incorrect"
                        r"|keystore password was incorrect|Integrity check failed: )",
    CorruptFileError: r"^(java\.io\.(EOF|IO)Exception|java\.security\.cert\.CertificateException: "
                      r"|Invalid keystore format|PKCS12 keystore not in version 3 format|DerValue\.)",
    WrongFormatError: r"^Invalid keystore format \(this is ",
    ArtifactError: _PKCS12_FEATURE,
}
_CERTIFICATE_ALTERED = {
    CorruptFileError: r"^(a DER certificate that does not parse: |not a certificate: neither DER"
                      r"|truncated: the DER header announces)",
    WrongFormatError: r"^this is .+, not a certificate",
}
ALTERED = {
    "pfx-aes": ("read_pfx", _PFX_ALTERED),
    "pfx-3des": ("read_pfx", _PFX_ALTERED),
    "pkcs12-truststore": ("keystore-pkcs12", _JAVA_ALTERED),
    "jks": ("keystore-jks", _JAVA_ALTERED),
    "der": ("read_certificate", _CERTIFICATE_ALTERED),
}


@dataclass(frozen=True)
class Damaged:
    """One damaged copy of a file and what every reader answered for it."""

    how: str  # "empty", "truncated" or "altered"
    data: bytes
    path: Path
    outcomes: dict[str, object]  # reader name -> its value or the ArtifactError it raised


@dataclass(frozen=True)
class Trial:
    kind: str
    original: object  # what the kind's own reader gives for the undamaged file
    damaged: list[Damaged]


def _mutations(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    """Truncations at 20 points (the first one empty) and 40 copies with one to four bytes changed."""
    cuts = [("empty" if i == 0 else "truncated", data[: len(data) * i // 20]) for i in range(20)]
    flips = []
    for _ in range(40):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if damaged == data:  # every new byte happened to be the old one (1 in 256 for one byte)
            damaged[-1] ^= 0xFF
        flips.append(("altered", bytes(damaged)))
    return cuts + flips


def _write_original(path: Path, pki: Pki, kind: str) -> None:
    if kind.startswith("pfx"):
        encryption = kind.removeprefix("pfx-").replace("aes", "aes256")
        export_pfx(
            path, certificate=pki.leaf, private_key=pki.leaf_key, chain=pki.chain, password=PASSWORD, encryption=encryption
        )
    elif kind == "der":
        write_der_certificate(path, pki.root)
    else:
        storetype = "jks" if kind == "jks" else "pkcs12"
        keytool_import(path, alias="ucc-cert", certificate=pki.root, password=PASSWORD, storetype=storetype)


def _answer(reader: Callable[[Path], object], path: Path) -> object:
    """The reader's value, or the ArtifactError it raised; anything else escapes (a bug)."""
    try:
        return reader(path)
    except ArtifactError as error:
        return error


def _trial(folder: Path, pki: Pki, kind: str) -> Trial:
    """Every reader run once on every damaged copy of one kind of file."""
    original = folder / "original"
    _write_original(original, pki, kind)
    damaged = []
    for index, (how, data) in enumerate(_mutations(original.read_bytes(), random.Random(kind))):
        path = folder / f"damaged-{index}"
        path.write_bytes(data)
        with warnings.catch_warnings():
            # cryptography warns about the negative serial numbers some mutations produce.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            outcomes = {name: _answer(reader, path) for name, reader in READERS.items()}
        damaged.append(Damaged(how, data, path, outcomes))
    own_reader, _ = ALTERED[kind]
    return Trial(kind, READERS[own_reader](original), damaged)


# One test per kind: running every reader on every copy is the expensive part, done once.
@pytest.mark.parametrize("kind", KINDS)
def test_damaged_files_give_errors_that_say_what_is_wrong(tmp_path: Path, pki: Pki, kind: str) -> None:
    trial = _trial(tmp_path, pki, kind)
    _every_error_names_the_damaged_file(trial)
    _an_empty_file_is_called_empty(trial)
    _a_truncated_file_is_called_truncated(trial)
    _an_altered_file_gives_a_named_error_or_what_the_original_holds(trial)


def _every_error_names_the_damaged_file(trial: Trial) -> None:
    for copy in trial.damaged:
        for name, outcome in copy.outcomes.items():
            if isinstance(outcome, ArtifactError):
                assert outcome.path == copy.path, (name, copy.how, outcome)
                assert str(outcome).startswith(f"{copy.path}"), (name, copy.how, outcome)
                assert outcome.message.strip(), (name, copy.how)


def _an_empty_file_is_called_empty(trial: Trial) -> None:
    (empty,) = [copy for copy in trial.damaged if copy.how == "empty"]
    answers = dict(empty.outcomes)
    assert answers.pop("detect_format") == "empty"
    assert answers.pop("inspect_file")["format"] == "empty"  # type: ignore[index]
    # MIT reads an empty krb5.conf as one with no sections (measured with MIT kinit 1.20:
    # "Configuration file does not specify default realm", not "Improper format").
    assert answers.pop("read_krb5_conf") == Krb5Conf()
    for name, outcome in answers.items():
        assert isinstance(outcome, CorruptFileError), (name, outcome)
        assert "empty" in outcome.message, (name, outcome)


def _a_truncated_file_is_called_truncated(trial: Trial) -> None:
    truncated = [copy for copy in trial.damaged if copy.how == "truncated"]
    assert len(truncated) == 19
    for copy in truncated:
        for name in TRUNCATION_READERS[trial.kind]:
            outcome = copy.outcomes[name]
            assert isinstance(outcome, CorruptFileError), (name, len(copy.data), outcome)
            assert "truncated" in outcome.message, (name, len(copy.data), outcome)


def _an_altered_file_gives_a_named_error_or_what_the_original_holds(trial: Trial) -> None:
    reader, expected = ALTERED[trial.kind]
    altered = [copy for copy in trial.damaged if copy.how == "altered"]
    errors = 0
    for copy in altered:
        outcome = copy.outcomes[reader]
        if isinstance(outcome, ArtifactError):
            errors += 1
            assert type(outcome) in expected, (reader, outcome)
            assert re.search(expected[type(outcome)], outcome.message), (reader, outcome)
        elif trial.kind == "der":
            # A certificate file has no integrity check of its own: like Java's
            # CertificateFactory, the reader gives the altered certificate as it is.
            assert outcome.public_bytes(serialization.Encoding.DER) == copy.data  # type: ignore[attr-defined]
        else:
            # The damage hit a byte the reader ignores (the NULL parameters of the MAC's
            # digest algorithm, say): then it must read exactly what the original holds.
            assert trial.kind != "jks", "a JKS store's keyed digest covers every byte"
            assert _contents(outcome) == _contents(trial.original), (reader, copy.data)
    # A reader that ignored the damage would pass the branches above: the integrity-protected
    # kinds must refuse all but the rare copy whose changes all fell on ignored bytes, and a
    # certificate many copies whose changes broke its structure.
    assert errors >= (len(altered) // 4 if trial.kind == "der" else len(altered) - 2)


def _contents(value: object) -> object:
    """What a PFX or store gives its user, comparable across two reads."""
    if isinstance(value, PfxContents):
        key = value.private_key.public_key() if value.private_key is not None else None  # type: ignore[union-attr]
        return value.certificate, value.chain, key
    assert isinstance(value, KeyStore)
    return [(e.alias, e.kind, e.certificates) for e in value.entries]
