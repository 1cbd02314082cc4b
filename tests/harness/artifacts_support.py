"""Shared helpers of the artifact tests (the ``pki`` fixture is registered in conftest.py): a throwaway PKI shaped like the page's, and the real tools.

The PKI is made fresh for each test session (nothing is committed): a root CA named like
the page's ``companya-LABDC01-CA``, an issuing CA below it, the connector's certificate
(AD CS "Web Server"-like, with the template extensions Windows adds) and a Front End
certificate. ``keytool`` and ``openssl`` run as subprocesses; a JVM start costs about half a
second, so tests run keytool in parallel through :func:`run_all`.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.javaprobe import JVM_OPTIONS

__all__ = [
    "Pki",
    "pki",
    "requires_keytool",
    "requires_openssl",
    "keytool_list",
    "KeytoolListing",
    "run_all",
    "run",
]

# Skip where the tool is missing on a developer's machine; under UCCLAB_REQUIRE_TOOLS=1
# (CI) never skip: tests/conftest.py then refuses to start without the tools.
_REQUIRED = os.environ.get("UCCLAB_REQUIRE_TOOLS") == "1"
requires_keytool = pytest.mark.skipif(not _REQUIRED and shutil.which("keytool") is None, reason="keytool (a JDK) is not installed")
requires_openssl = pytest.mark.skipif(not _REQUIRED and shutil.which("openssl") is None, reason="openssl is not installed")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Pki:
    root: x509.Certificate
    issuing: x509.Certificate
    leaf: x509.Certificate
    leaf_key: rsa.RSAPrivateKey
    frontend: x509.Certificate
    frontend_key: rsa.RSAPrivateKey

    @property
    def chain(self) -> list[x509.Certificate]:
        """The leaf's certification path above it, as the wizard includes it."""
        return [self.issuing, self.root]


def _bmp_string(text: str) -> bytes:
    encoded = text.encode("utf-16-be")
    return bytes([0x1E, len(encoded)]) + encoded


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    sans: Iterable[str] = (),
    ekus: Iterable[x509.ObjectIdentifier] = (),
    template: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if sans:
        names = [x509.DNSName(s) for s in sans]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    if template:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2"), _bmp_string(template)),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="session")
def pki() -> Pki:
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(4)]
    root = _certificate("companya-LABDC01-CA", keys[0], None, keys[0], ca=True)
    issuing = _certificate("companya-ISSUING-CA", keys[1], root, keys[0], ca=True)
    leaf = _certificate(
        "ucc01.companya.com",
        keys[2],
        issuing,
        keys[1],
        ca=False,
        sans=["ucc01.companya.com"],
        ekus=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        template="WebServer",
    )
    frontend = _certificate(
        "fe01.companya.com",
        keys[3],
        root,
        keys[0],
        ca=False,
        sans=["fe01.companya.com", "pool01.companya.com"],
        ekus=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    return Pki(root, issuing, leaf, keys[2], frontend, keys[3])


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing text output; never raises on a non-zero exit.

    keytool, javac and java run as short-lived JVMs do best, as the Java probe runs
    (JVM_OPTIONS: the serial collector, the C1 compiler only): about half the CPU of the
    JVM's defaults on two cores, and the same output.
    """
    tool = Path(args[0]).name if args else ""
    if tool in ("keytool", "javac"):
        args = (args[0], *(f"-J{option}" for option in JVM_OPTIONS), *args[1:])
    elif tool == "java":
        args = (args[0], *JVM_OPTIONS, *args[1:])
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)


def run_all(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(item) for item in items]`` with the JVM starts overlapping."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(fn, items))


@dataclass(frozen=True)
class KeytoolListing:
    """What ``keytool -list -v`` printed: the entries, or keytool's error text."""

    store_type: str | None = None
    entries: dict[str, tuple[str, int]] = field(default_factory=dict)  # alias -> (kind, chain length)
    error: str | None = None
    output: str = ""


def keytool_list(path: Path, password: str | None, storetype: str | None = None) -> KeytoolListing:
    """``keytool -list -v``; ``password=None`` answers the password prompt with nothing (Java's null)."""
    args = ["keytool", "-list", "-v", "-keystore", str(path)]
    if password is not None:
        args += ["-storepass", password]
    if storetype is not None:
        args += ["-storetype", storetype]
    result = run(*args, stdin="\n" if password is None else None)
    output = result.stdout + result.stderr
    error = re.search(r"^keytool error: (?:[\w.]+: )?(.*)$", output, re.MULTILINE)
    if error:
        return KeytoolListing(error=error.group(1).strip(), output=output)
    store_type = re.search(r"^Keystore type: (\S+)", output, re.MULTILINE)
    entries: dict[str, tuple[str, int]] = {}
    for block in output.split("Alias name: ")[1:]:
        alias = block.splitlines()[0].strip()
        kind = re.search(r"^Entry type: (\S+)", block, re.MULTILINE)
        length = re.search(r"^Certificate chain length: (\d+)", block, re.MULTILINE)
        kind_name = kind.group(1) if kind else "?"
        entries[alias] = (kind_name, int(length.group(1)) if length else 1)
    return KeytoolListing(store_type.group(1) if store_type else None, entries, None, output)
