"""What a file is, by its content: the page's file names say nothing reliable.

``UCC_store.jks`` written by JDK 9+ keytool is PKCS12; a customer's ``.cer`` may be DER or
Base-64 (PEM), or a PFX renamed. Every reader here starts by sniffing, so its error can say
what the file really is.
"""

from __future__ import annotations

import os
import re

from . import _der
from ._pkcs12 import looks_like_pkcs12
from ._reading import read_artifact_bytes

__all__ = ["detect_format", "describe_format", "FORMATS", "pem_blocks", "JKS_MAGIC", "JCEKS_MAGIC"]

JKS_MAGIC = b"\xfe\xed\xfe\xed"
JCEKS_MAGIC = b"\xce\xce\xce\xce"

# Every value detect_format returns, with the words errors use for it.
FORMATS: dict[str, str] = {
    "der-certificate": 'a DER certificate ("DER encoded binary X.509 (.CER)")',
    "pem-certificate": 'a PEM certificate ("Base-64 encoded X.509 (.CER)")',
    "pkcs12": "a PKCS#12 (PFX) file",
    "jks": "a Java key store of type JKS",
    "jceks": "a Java key store of type JCEKS",
    "krb5.conf": "a Kerberos configuration file (krb5.conf)",
    "pem-private-key": "a PEM private key",
    "der-private-key": "a DER private key",
    "der-csr": "a DER certificate request (CSR)",
    "pem-csr": "a PEM certificate request (CSR)",
    "der-pkcs7": 'a DER PKCS #7 certificate bundle ("Cryptographic Message Syntax Standard - PKCS #7 (.P7B)")',
    "pem-pkcs7": "a PEM PKCS #7 certificate bundle (.p7b)",
    "empty": "an empty file",
    "unknown": "not a format this lab knows",
}

_PEM_LABELS = {
    "CERTIFICATE": "pem-certificate",
    "X509 CERTIFICATE": "pem-certificate",
    "TRUSTED CERTIFICATE": "pem-certificate",
    "CERTIFICATE REQUEST": "pem-csr",
    "NEW CERTIFICATE REQUEST": "pem-csr",  # what Windows certreq writes
    "PKCS7": "pem-pkcs7",
    "PRIVATE KEY": "pem-private-key",
    "ENCRYPTED PRIVATE KEY": "pem-private-key",
    "RSA PRIVATE KEY": "pem-private-key",
    "EC PRIVATE KEY": "pem-private-key",
    "DSA PRIVATE KEY": "pem-private-key",
}
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_KRB5_SECTION = re.compile(
    r"^\s*\[\s*(libdefaults|realms|domain_realm|logging|capaths|appdefaults|plugins|kdcdefaults|dbmodules)\s*\]",
    re.MULTILINE,
)
_SIGNED_DATA = "1.2.840.113549.1.7.2"


def detect_format(path_or_bytes: bytes | str | os.PathLike[str]) -> str:
    """Say what a file holds, by content: one of the keys of :data:`FORMATS`.

    A ``str`` or path-like is a file name; ``bytes`` are the content. PEM is recognised
    anywhere in a text file (OpenSSL's outputs put "Bag Attributes" or a text dump before
    the block); the first block decides.
    """
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else read_artifact_bytes(path_or_bytes)
    if not data:
        return "empty"
    if data.startswith(JKS_MAGIC):
        return "jks"
    if data.startswith(JCEKS_MAGIC):
        return "jceks"
    if looks_like_pkcs12(data):
        return "pkcs12"
    if data[0] == _der.SEQUENCE:
        der = _classify_der(data)
        if der is not None:
            return der
    text = _as_text(data)
    if text is not None:
        blocks = pem_blocks(data)
        if blocks:
            return _PEM_LABELS.get(blocks[0][0], "unknown")
        if _KRB5_SECTION.search(text):
            return "krb5.conf"
    return "unknown"


def describe_format(fmt: str) -> str:
    """Words for a format name, for error messages."""
    return FORMATS.get(fmt, fmt)


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """The PEM blocks in ``data`` as (label, whole block bytes), in order."""
    return [(m.group(1).decode("ascii"), m.group(0)) for m in _PEM_BLOCK.finditer(data)]


def _as_text(data: bytes) -> str | None:
    """Decode a small text file; ``None`` if it is binary."""
    head = data[:65536]
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _classify_der(data: bytes) -> str | None:
    """Tell certificate, CSR, PKCS #7 and private key apart by their top-level shape."""
    try:
        outer = _der.read_tlv(data)
        items = outer.children()
    except _der.DerError:
        return None
    if len(items) == 3 and items[0].tag == _der.SEQUENCE and items[2].tag == _der.BIT_STRING:
        # Certificate and CertificationRequest are both {info, algorithm, signature};
        # a TBSCertificate has at least six fields, a CertificationRequestInfo four.
        try:
            info = items[0].children()
        except _der.DerError:
            return None
        return "der-certificate" if len(info) >= 6 else "der-csr"
    if len(items) == 2 and items[0].tag == _der.OID:
        try:
            return "der-pkcs7" if items[0].as_oid() == _SIGNED_DATA else None
        except _der.DerError:
            return None
    if len(items) >= 3 and items[0].tag == _der.INTEGER and items[0].content in (b"\x00", b"\x01"):
        # PKCS#8 PrivateKeyInfo {0, algorithm, key} or PKCS#1 RSAPrivateKey {0, n, e, …}
        return "der-private-key"
    return None
