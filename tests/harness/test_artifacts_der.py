"""DER/PEM certificate files and format detection."""

from __future__ import annotations

import stat
from pathlib import Path

import jks
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from harness.artifacts import (
    ArtifactError,
    CorruptFileError,
    WrongFormatError,
    detect_format,
    read_certificate,
    write_der_certificate,
)

from .artifacts_support import Pki, requires_openssl, run


def _csr(pki: Pki) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(pki.leaf.subject)
        .sign(pki.leaf_key, hashes.SHA256())
    )


def test_der_round_trip_and_mode(tmp_path: Path, pki: Pki) -> None:
    path = write_der_certificate(tmp_path / "CompanyA_Certificate.cer", pki.root)
    assert path.read_bytes() == pki.root.public_bytes(serialization.Encoding.DER)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert read_certificate(path) == pki.root
    assert detect_format(path) == "der-certificate"


@pytest.mark.interop
@requires_openssl
def test_openssl_reads_the_der_file(tmp_path: Path, pki: Pki) -> None:
    path = write_der_certificate(tmp_path / "UCC_Certificate.cer", pki.frontend)
    result = run("openssl", "x509", "-inform", "der", "-in", str(path), "-noout", "-subject")
    assert result.returncode == 0, result.stderr
    assert "CN = fe01.companya.com" in result.stdout


def test_reads_windows_base64_with_crlf(tmp_path: Path, pki: Pki) -> None:
    # "Base-64 encoded X.509 (.CER)" as Windows writes it: PEM with CRLF line ends.
    pem = pki.root.public_bytes(serialization.Encoding.PEM).replace(b"\n", b"\r\n")
    path = tmp_path / "base64.cer"
    path.write_bytes(pem)
    assert detect_format(path) == "pem-certificate"
    assert read_certificate(path) == pki.root


def test_pem_with_text_before_and_several_certificates_gives_the_first(tmp_path: Path, pki: Pki) -> None:
    # openssl pkcs12 output puts "Bag Attributes" before each block.
    body = b"Bag Attributes\n    friendlyName: x\nsubject=CN = ucc01\n" + b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in (pki.leaf, pki.issuing)
    )
    path = tmp_path / "chain.pem"
    path.write_bytes(body)
    assert read_certificate(path) == pki.leaf


@pytest.mark.parametrize(
    "content, error, words",
    [
        (b"", CorruptFileError, "empty"),
        (b"\x13\x37garbage that is no certificate", CorruptFileError, "neither DER"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", CorruptFileError, "truncated PEM"),
    ],
    ids=["empty", "garbage", "truncated-pem"],
)
def test_bad_files(tmp_path: Path, content: bytes, error: type[ArtifactError], words: str) -> None:
    path = tmp_path / "bad.cer"
    path.write_bytes(content)
    with pytest.raises(error) as info:
        read_certificate(path)
    assert words in str(info.value)
    assert str(path) in str(info.value)


def test_truncated_der_says_so(tmp_path: Path, pki: Pki) -> None:
    der = pki.root.public_bytes(serialization.Encoding.DER)
    path = tmp_path / "cut.cer"
    path.write_bytes(der[: len(der) // 2])
    with pytest.raises(CorruptFileError, match=rf"truncated: the DER header announces {len(der)} bytes"):
        read_certificate(path)


def _wrong_files(pki: Pki) -> dict[str, bytes]:
    csr = _csr(pki)
    root_der = pki.root.public_bytes(serialization.Encoding.DER)
    return {
        "pkcs12": pkcs12.serialize_key_and_certificates(
            b"x", pki.leaf_key, pki.leaf, None, serialization.BestAvailableEncryption(b"mnopqr")
        ),
        "der-csr": csr.public_bytes(serialization.Encoding.DER),
        # Windows certreq labels its requests "NEW CERTIFICATE REQUEST".
        "pem-csr": csr.public_bytes(serialization.Encoding.PEM).replace(b"CERTIFICATE", b"NEW CERTIFICATE"),
        "jks": jks.KeyStore.new("jks", [jks.TrustedCertEntry.new("a", root_der)]).saves("changeit"),
        "pem-private-key": pki.leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        "der-private-key": pki.leaf_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        "krb5.conf": b"[libdefaults]\n    default_realm = COMPANYA.COM\n",
    }


@pytest.mark.parametrize(
    "fmt", ["pkcs12", "der-csr", "pem-csr", "jks", "pem-private-key", "der-private-key", "krb5.conf"]
)
def test_wrong_kind_of_file_is_named(tmp_path: Path, pki: Pki, fmt: str) -> None:
    path = tmp_path / "UCC_Certificate.cer"
    path.write_bytes(_wrong_files(pki)[fmt])
    assert detect_format(path) == fmt
    with pytest.raises(WrongFormatError) as info:
        read_certificate(path)
    assert info.value.actual_format == fmt
    assert "not a certificate" in str(info.value)


def test_pfx_given_where_a_certificate_was_expected(tmp_path: Path, pki: Pki) -> None:
    path = tmp_path / "GenesysServer_Certficate.cer"
    path.write_bytes(_wrong_files(pki)["pkcs12"])
    with pytest.raises(WrongFormatError, match=r"this is a PKCS#12 \(PFX\) file, not a certificate"):
        read_certificate(path)


def test_detect_format_takes_bytes(pki: Pki) -> None:
    assert detect_format(pki.root.public_bytes(serialization.Encoding.DER)) == "der-certificate"
    assert detect_format(b"") == "empty"
    assert detect_format(b"\xce\xce\xce\xce\x00\x00\x00\x02") == "jceks"
    assert detect_format(b"hello") == "unknown"


@pytest.mark.parametrize("encoding", ["der", "pem"])
def test_an_unknown_x509_version_is_a_corrupt_file_not_a_crash(tmp_path: Path, pki: Pki, encoding: str) -> None:
    """The version field ([0] EXPLICIT INTEGER, v3 = 2) set to 5: a damaged certificate,
    said so with the file named — cryptography raises a non-ValueError for it."""
    der = bytearray(pki.leaf.public_bytes(serialization.Encoding.DER))
    at = der.index(bytes([0xA0, 0x03, 0x02, 0x01, 0x02])) + 4  # tbsCertificate's version value
    der[at] = 5
    data = bytes(der)
    if encoding == "pem":
        import base64

        data = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(data) + b"-----END CERTIFICATE-----\n"
    path = tmp_path / "damaged.cer"
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match="version field says 5") as raised:
        read_certificate(path)
    assert raised.value.path == path
