"""Certificate files: "DER encoded binary X.509 (.CER)" and "Base-64 encoded X.509 (.CER)".

The page saves the CA certificate from certsrv (Generating the Client Certificate, step 4)
and the Front End's certificate from Internet Explorer (Exporting the Trusted Certificate,
step 4) as DER; keytool then reads either DER or Base-64. :func:`read_certificate` accepts
both, like keytool and ``openssl x509``, and says plainly what a wrong file is instead.
"""

from __future__ import annotations

import datetime
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from fakes._files import write_public_file

from . import _der
from ._errors import CorruptFileError, WrongFormatError
from ._formats import describe_format, detect_format, pem_blocks
from ._reading import read_artifact_bytes

__all__ = [
    "write_der_certificate",
    "read_certificate",
    "load_certificate_bytes",
    "parse_der_certificate",
    "describe_certificate",
    "make_root_ca",
    "issue_certificate",
]

# Real trust anchors have serial number 0: Debian's Java cacerts holds Go Daddy Class 2,
# Starfield Class 2 and G2, SECOM RootCA1 and RootCA2, HARICA 2015 among others. RFC 5280
# section 4.1.2.2 wants serials positive, yet "certificate users SHOULD be prepared to
# gracefully handle such certificates", and Java trusts them. cryptography parses them but
# warns on every later read of the serial or the extensions, far from any file name: the
# warning says nothing a user can act on, so the lab, which reads such stores whenever
# JSSE falls back to cacerts, keeps it out of its output.
warnings.filterwarnings(
    "ignore", message="Parsed a serial number which wasn't positive", category=CryptographyDeprecationWarning
)

# Where each wrong kind of file should have gone, for read_certificate's errors.
_WRONG_FILE_ADVICE = {
    "pkcs12": "it holds a certificate with its private key; export the certificate alone "
    "(DER encoded binary X.509) or read it as a PFX",
    "jks": "it is what keytool -import writes, not what it reads",
    "jceks": "it is what keytool -import writes, not what it reads",
    "der-csr": "a request is not a certificate; submit it to the CA and save the issued certificate",
    "pem-csr": "a request is not a certificate; submit it to the CA and save the issued certificate",
    "der-pkcs7": "save the single certificate as DER encoded binary X.509 (.CER) instead of the chain",
    "pem-pkcs7": "save the single certificate as DER encoded binary X.509 (.CER) instead of the chain",
    "pem-private-key": "a private key is not a certificate",
    "der-private-key": "a private key is not a certificate",
    "krb5.conf": "a configuration file is not a certificate",
}

# Extended key usages by the names RFC 5280 / OpenSSL use (Windows shows e.g.
# "Server Authentication (1.3.6.1.5.5.7.3.1)").
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING.dotted_string: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING.dotted_string: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string: "anyExtendedKeyUsage",
    "1.3.6.1.4.1.311.10.3.4": "encryptingFileSystem",  # the AD CS "User" template's EFS
    "1.3.6.1.4.1.311.20.2.2": "smartcardLogon",
}
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
# AD CS names the template in one of two extensions: the V1 "Certificate Template Name"
# (a BMPString such as "WebServer") or, for V2+ templates, "Certificate Template
# Information" (the template's OID and version).
_TEMPLATE_NAME = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2")
_TEMPLATE_INFO = x509.ObjectIdentifier("1.3.6.1.4.1.311.21.7")


def write_der_certificate(path: Path | str | os.PathLike[str], certificate: x509.Certificate) -> Path:
    """Save ``certificate`` as "DER encoded binary X.509 (.CER)" (mode 0644); returns the path."""
    return write_public_file(Path(path), certificate.public_bytes(serialization.Encoding.DER))


def make_root_ca(name: x509.Name, now: datetime.datetime) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A throwaway self-signed root CA (RSA 2048, SHA-256, ten years from yesterday) and its key:
    a customer's CA of their own in a scenario, the CA behind ``ucclab check``'s stand-in Front End."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def issue_certificate(
    fqdn: str,
    issuer: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    *,
    valid: tuple[datetime.datetime, datetime.datetime],
    ekus: list[x509.ObjectIdentifier],
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A host certificate (``CN`` and DNS SAN ``fqdn``, the given EKUs) signed by ``issuer``, with its new key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, fqdn)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(fqdn)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    return certificate, key


def read_certificate(path: Path | str | os.PathLike[str]) -> x509.Certificate:
    """Read a DER or PEM ("Base-64 encoded X.509") certificate file.

    With several PEM certificates, the first one is returned, as ``openssl x509`` and
    keytool do. Anything else raises :class:`WrongFormatError` (a PFX, a CSR, a key store…,
    named) or :class:`CorruptFileError` (empty, truncated, garbage).
    """
    path = Path(path)
    return load_certificate_bytes(read_artifact_bytes(path), path)


def load_certificate_bytes(data: bytes, path: Path | str | None = None) -> x509.Certificate:
    """:func:`read_certificate` for bytes already read; ``path`` names them in errors."""
    fmt = detect_format(data)
    if fmt == "der-certificate":
        try:
            # Only the first element: Java and OpenSSL ignore bytes after the certificate.
            return parse_der_certificate(_der.read_tlv(data).encoded)
        except ValueError as exc:
            raise CorruptFileError(f"a DER certificate that does not parse: {exc}", path) from exc
    if fmt == "pem-certificate":
        label, block = pem_blocks(data)[0]
        try:
            return _parsed(_load(x509.load_pem_x509_certificate, block))
        except ValueError as exc:
            raise CorruptFileError(f"the PEM block '{label}' is not a valid certificate: {exc}", path) from exc
    if fmt == "empty":
        raise CorruptFileError("the file is empty (0 bytes), not a certificate", path)
    if fmt in _WRONG_FILE_ADVICE:
        raise WrongFormatError(
            f"this is {describe_format(fmt)}, not a certificate: {_WRONG_FILE_ADVICE[fmt]}", path, actual_format=fmt
        )
    raise CorruptFileError(_why_not_a_certificate(data), path)


def parse_der_certificate(der: bytes) -> x509.Certificate:
    """Load a DER certificate, parsed through now; ``ValueError`` if any part is broken."""
    try:
        return _parsed(_load(x509.load_der_x509_certificate, der))
    except ValueError as exc:
        raise ValueError(f"not a valid certificate: {exc}") from exc


def _load(loader: Callable[[bytes], x509.Certificate], data: bytes) -> x509.Certificate:
    """``loader(data)``, with an unknown X.509 version as a ``ValueError`` like any other
    damage (cryptography raises :class:`x509.InvalidVersion`, which is not one)."""
    try:
        return loader(data)
    except x509.InvalidVersion as exc:
        raise ValueError(f"its version field says {exc.parsed_version}, X.509 knows only v1, v2 and v3 (0-2)") from None


def _parsed(certificate: x509.Certificate) -> x509.Certificate:
    """Parse the lazily decoded parts, as Java's CertificateFactory does up front.

    cryptography decodes names and extensions on first use, so a damaged certificate would
    otherwise load here and fail later, far from the file that holds it.
    """
    try:
        _ = (certificate.subject, certificate.issuer, certificate.extensions)
    except (ValueError, KeyError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc
    return certificate


def _why_not_a_certificate(data: bytes) -> str:
    """Explain garbage: a truncated DER certificate, a broken PEM, or neither."""
    if data[:1] == bytes([_der.SEQUENCE]):
        try:
            _tag, content_start, length = _der.read_header(data)
        except _der.DerError as exc:
            return f"not a certificate: broken DER ({exc})"
        if content_start + length > len(data):
            return (
                f"truncated: the DER header announces {content_start + length} bytes, the file has {len(data)}; "
                "copy or save the certificate again"
            )
    if b"-----BEGIN CERTIFICATE-----" in data:
        return "a '-----BEGIN CERTIFICATE-----' line without a matching '-----END CERTIFICATE-----': truncated PEM"
    return (
        "not a certificate: neither DER (binary X.509) nor Base-64/PEM ('-----BEGIN CERTIFICATE-----'); "
        f"the file starts with {data[:8].hex(' ')}"
    )


def describe_certificate(certificate: x509.Certificate) -> dict[str, Any]:
    """What ``certutil -dump`` / the MMC's Details tab show, as JSON-able data."""
    info: dict[str, Any] = {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial_number": format(certificate.serial_number, "x"),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "self_signed": certificate.subject == certificate.issuer,
        "signature_algorithm": _signature_algorithm(certificate),
        "key": _describe_key(certificate),
        # Windows' "Thumbprint" (PowerShell, Get-CsCertificate): SHA-1, upper-case hex.
        "thumbprint_sha1": certificate.fingerprint(hashes.SHA1()).hex().upper(),
        "sha256": certificate.fingerprint(hashes.SHA256()).hex().upper(),
        "subject_alternative_names": [],
        "extended_key_usages": None,
        "key_usage": None,
        "basic_constraints": None,
        "template": None,
    }
    for extension in certificate.extensions:
        value = extension.value
        if isinstance(value, x509.SubjectAlternativeName):
            info["subject_alternative_names"] = [_general_name(name) for name in value]
        elif isinstance(value, x509.ExtendedKeyUsage):
            info["extended_key_usages"] = [
                {"name": _EKU_NAMES.get(oid.dotted_string, oid.dotted_string), "oid": oid.dotted_string}
                for oid in value
            ]
        elif isinstance(value, x509.KeyUsage):
            info["key_usage"] = _key_usage(value)
        elif isinstance(value, x509.BasicConstraints):
            info["basic_constraints"] = {"ca": value.ca, "path_length": value.path_length}
        elif extension.oid in (_TEMPLATE_NAME, _TEMPLATE_INFO) and isinstance(value, x509.UnrecognizedExtension):
            info["template"] = {**(info["template"] or {}), **_template(extension.oid, value.value)}
    return info


def _signature_algorithm(certificate: x509.Certificate) -> str:
    """The signature's hash ("sha256"), or the algorithm's OID when there is none to name."""
    try:
        hash_algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        hash_algorithm = None
    return hash_algorithm.name if hash_algorithm else certificate.signature_algorithm_oid.dotted_string


def _describe_key(certificate: x509.Certificate) -> dict[str, Any]:
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        return {"type": f"unreadable ({exc})", "size": None}
    if isinstance(key, rsa.RSAPublicKey):
        return {"type": "RSA", "size": key.key_size}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"type": "EC", "size": key.key_size, "curve": key.curve.name}
    if isinstance(key, dsa.DSAPublicKey):
        return {"type": "DSA", "size": key.key_size}
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return {"type": type(key).__name__.removesuffix("PublicKey"), "size": None}
    return {"type": type(key).__name__, "size": None}


def _general_name(name: x509.GeneralName) -> str:
    prefixes = {
        x509.DNSName: "DNS",
        x509.IPAddress: "IP",
        x509.RFC822Name: "email",
        x509.UniformResourceIdentifier: "URI",
        x509.DirectoryName: "DirName",
    }
    for cls, prefix in prefixes.items():
        if isinstance(name, cls):
            value = name.value.rfc4514_string() if isinstance(name, x509.DirectoryName) else name.value
            return f"{prefix}:{value}"
    if isinstance(name, x509.OtherName):
        return f"othername:{name.type_id.dotted_string}"
    return str(name)


def _key_usage(usage: x509.KeyUsage) -> list[str]:
    names = [name for name in _KEY_USAGES if getattr(usage, name)]
    if usage.key_agreement:
        names += [name for name in ("encipher_only", "decipher_only") if getattr(usage, name)]
    # camelCase, as RFC 5280 names them
    return ["".join(part.capitalize() if i else part for i, part in enumerate(n.split("_"))) for n in names]


def _template(oid: x509.ObjectIdentifier, value: bytes) -> dict[str, Any]:
    """Decode the AD CS template extensions; an undecodable one is reported raw."""
    try:
        tlv = _der.read_single(value)
        if oid == _TEMPLATE_NAME:
            text = tlv.content.decode("utf-16-be" if tlv.tag == _der.BMP_STRING else "utf-8")
            return {"name": text}
        fields = tlv.children()
        info: dict[str, Any] = {"oid": fields[0].as_oid()}
        if len(fields) > 1:
            info["major_version"] = fields[1].as_int()
        if len(fields) > 2:
            info["minor_version"] = fields[2].as_int()
        return info
    except (_der.DerError, UnicodeDecodeError, IndexError):
        return {"raw": value.hex()}
