"""Fixtures for the stand-in tests.

Key generation is the slow part of the CA tests, so each CA shape is created once per
session and every test that needs a CA of its own gets a copy of that state folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fakes.ca import CertificationAuthority

MakeCsr = Callable[..., x509.CertificateSigningRequest]
CopyState = Callable[[Path], Path]


@pytest.fixture(scope="session")
def ca_rsa_key() -> rsa.RSAPrivateKey:
    """One 2048-bit key reused by the tests' certificate requests."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ca_small_rsa_key() -> rsa.RSAPrivateKey:
    """A 1024-bit key: below every template's minimum."""
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.fixture(scope="session")
def ca_make_csr(ca_rsa_key: rsa.RSAPrivateKey) -> MakeCsr:
    """Build a CSR: ``ca_make_csr(cn="x", dns=[...], eku=[...], key=...)``."""

    def make(
        cn: str | None = "ucc01.companya.com",
        *,
        dns: Sequence[str] = (),
        eku: Sequence[x509.ObjectIdentifier] = (),
        key: rsa.RSAPrivateKey | None = None,
    ) -> x509.CertificateSigningRequest:
        subject = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []
        builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
        if dns:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        return builder.sign(key or ca_rsa_key, hashes.SHA256())

    return make


def _created(tmp_path_factory: pytest.TempPathFactory, name: str, *, two_tier: bool) -> Path:
    state_dir = tmp_path_factory.mktemp(name) / "ca"
    CertificationAuthority.create(state_dir, two_tier=two_tier).close()
    return state_dir


@pytest.fixture(scope="session")
def ca_one_tier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """State folder of a one-tier CA, created once; copy it before changing it."""
    return _created(tmp_path_factory, "one-tier", two_tier=False)


@pytest.fixture(scope="session")
def ca_two_tier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """State folder of a two-tier CA, created once; copy it before changing it."""
    return _created(tmp_path_factory, "two-tier", two_tier=True)


@pytest.fixture
def ca_copy(tmp_path: Path) -> CopyState:
    """Copy a session CA's state folder into this test's tmp_path."""

    def copy(source: Path) -> Path:
        return Path(shutil.copytree(source, tmp_path / source.parent.name / "ca"))

    return copy


@pytest.fixture
def ca_one_tier(ca_one_tier_dir: Path, ca_copy: CopyState) -> Iterator[CertificationAuthority]:
    """A one-tier CA of this test's own (a copy of the session one)."""
    with CertificationAuthority.open(ca_copy(ca_one_tier_dir)) as ca:
        yield ca


@pytest.fixture
def ca_two_tier(ca_two_tier_dir: Path, ca_copy: CopyState) -> Iterator[CertificationAuthority]:
    """A two-tier CA of this test's own (a copy of the session one)."""
    with CertificationAuthority.open(ca_copy(ca_two_tier_dir)) as ca:
        yield ca
