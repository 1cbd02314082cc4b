"""The CA's policy: reading a request, and the words AD CS uses to refuse one.

Denials are not exceptions for the caller: :class:`Denied` travels inside the CA, which
records the request with the HRESULT and disposition message and answers normally.

Provenance of the wording (from public CA event logs, Microsoft troubleshooting articles
and HRESULT tables): the Windows default policy module's "Denied by Policy Module  0x...,"
prefix and its unsupported-template explanation; the HRESULT texts (winerror.h); the
"Error Parsing Request" stage name. "Error Verifying Request Signature or Signing
Certificate" belongs to the same family of stage texts; no public transcript of it for a
tampered PKCS #10 was found, so that one is the lab's best reading.
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

__all__ = [
    "CERTSRV_E_ADMIN_DENIED_REQUEST",
    "CERTSRV_E_BAD_REQUESTSTATUS",
    "CERTSRV_E_BAD_REQUESTSUBJECT",
    "CERTSRV_E_KEY_LENGTH",
    "CERTSRV_E_NO_CERT_TYPE",
    "CERTSRV_E_PROPERTY_EMPTY",
    "CERTSRV_E_TEMPLATE_DENIED",
    "CERTSRV_E_UNSUPPORTED_CERT_TYPE",
    "CRYPT_E_ASN1_BADTAG",
    "CRYPT_E_ASN1_EOD",
    "CRYPT_E_NOT_FOUND",
    "NTE_BAD_SIGNATURE",
    "Denied",
    "account_name",
    "describe_status",
    "is_computer",
    "key_size",
    "load_request",
    "parse_failure",
    "policy_denial",
]

# -- HRESULTs and the words AD CS puts around them ---------------------------------------
#
# Texts are Windows' own message texts for these codes (winerror.h, as public HRESULT
# tables and CA event logs quote them), shown the way certutil and the CA event log show
# them: "<text> 0x<code> (<signed decimal> <symbol>)", ASN.1 errors as "(ASN: <n> ...)".
CERTSRV_E_BAD_REQUESTSUBJECT = 0x80094001
CERTSRV_E_BAD_REQUESTSTATUS = 0x80094003
CERTSRV_E_PROPERTY_EMPTY = 0x80094004
CERTSRV_E_ADMIN_DENIED_REQUEST = 0x80094014
CRYPT_E_NOT_FOUND = 0x80092004
CERTSRV_E_TEMPLATE_DENIED = 0x80094012
CERTSRV_E_UNSUPPORTED_CERT_TYPE = 0x80094800
CERTSRV_E_NO_CERT_TYPE = 0x80094801
CERTSRV_E_KEY_LENGTH = 0x80094811
CRYPT_E_ASN1_EOD = 0x80093102
CRYPT_E_ASN1_BADTAG = 0x8009310B
NTE_BAD_SIGNATURE = 0x80090006

_STATUS_TEXT: dict[int, tuple[str, str]] = {
    CERTSRV_E_BAD_REQUESTSUBJECT: (
        "CERTSRV_E_BAD_REQUESTSUBJECT", "The request subject name is invalid or too long."),
    CERTSRV_E_BAD_REQUESTSTATUS: (
        "CERTSRV_E_BAD_REQUESTSTATUS", "The request's current status does not allow this operation."),
    CERTSRV_E_PROPERTY_EMPTY: ("CERTSRV_E_PROPERTY_EMPTY", "The requested property value is empty."),
    CERTSRV_E_ADMIN_DENIED_REQUEST: (
        "CERTSRV_E_ADMIN_DENIED_REQUEST",
        "The request was denied by a certificate manager or CA administrator."),
    CRYPT_E_NOT_FOUND: ("CRYPT_E_NOT_FOUND", "Cannot find object or property."),
    CERTSRV_E_TEMPLATE_DENIED: (
        "CERTSRV_E_TEMPLATE_DENIED",
        "The permissions on the certificate template do not allow the current user to"
        " enroll for this type of certificate."),
    CERTSRV_E_UNSUPPORTED_CERT_TYPE: (
        "CERTSRV_E_UNSUPPORTED_CERT_TYPE",
        "The requested certificate template is not supported by this CA."),
    CERTSRV_E_NO_CERT_TYPE: (
        "CERTSRV_E_NO_CERT_TYPE", "The request contains no certificate template information."),
    CERTSRV_E_KEY_LENGTH: (
        "CERTSRV_E_KEY_LENGTH",
        "The public key does not meet the minimum size required by the specified"
        " certificate template."),
    CRYPT_E_ASN1_EOD: ("CRYPT_E_ASN1_EOD", "ASN1 unexpected end of data."),
    CRYPT_E_ASN1_BADTAG: ("CRYPT_E_ASN1_BADTAG", "ASN1 bad tag value met."),
    NTE_BAD_SIGNATURE: ("NTE_BAD_SIGNATURE", "Invalid Signature."),
}


def describe_status(status: int) -> str:
    """An HRESULT as certutil and the CA event log print it.

    ``describe_status(0x80094800)`` → ``"The requested certificate template is not
    supported by this CA. 0x80094800 (-2146875392 CERTSRV_E_UNSUPPORTED_CERT_TYPE)"``.
    """
    if status == 0:
        return "The operation completed successfully. 0x0 (WIN32: 0)"
    if status not in _STATUS_TEXT:
        return f"Error 0x{status:08x} ({status - (1 << 32) if status >> 31 else status})"
    symbol, text = _STATUS_TEXT[status]
    if 0x80093100 <= status <= 0x800931FF:  # ASN.1 codec errors get their own numbering
        return f"{text} 0x{status:08x} (ASN: {status & 0xFFF} {symbol})"
    return f"{text} 0x{status:08x} ({status - (1 << 32)} {symbol})"


class Denied(Exception):
    """A policy or parsing failure: the request is recorded as denied with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def policy_denial(status: int, detail: str | None = None) -> Denied:
    # The Windows default policy module words its denials "Denied by Policy Module",
    # two spaces, the code, then its explanation, e.g. (CA event 53, a public report;
    # browsers collapse the two spaces when certsrv shows the same message):
    # "Denied by Policy Module  0x80094800, The request was for a certificate template
    # that is not supported by the Active Directory Certificate Services policy: <name>."
    explanation = detail if detail is not None else _STATUS_TEXT[status][1]
    return Denied(status, f"Denied by Policy Module  0x{status:08x}, {explanation}")


def parse_failure(status: int, stage: str = "Error Parsing Request") -> Denied:
    # Requests the CA cannot read fail before the policy module sees them; CA events
    # then name the stage ("Additional information: Error Parsing Request").
    return Denied(status, f"{stage}  {describe_status(status)}")


# -- requesters and requests ---------------------------------------------------------

def account_name(requester: str) -> str:
    """``COMPANYA\\jdoe`` / ``jdoe@companya.com`` / ``jdoe`` → ``jdoe``."""
    return requester.rsplit("\\", 1)[-1].split("@", 1)[0]


def is_computer(requester: str) -> bool:
    """A computer enrolls as ``DOMAIN\\HOST$`` (or, in this lab, by its FQDN)."""
    account = requester.rsplit("\\", 1)[-1]
    return account.endswith("$") or ("." in account and "@" not in account)


def key_size(public_key: object) -> int:
    """Key size in bits as the template's minimum counts it (0: not a usable key type)."""
    if isinstance(public_key, (rsa.RSAPublicKey, dsa.DSAPublicKey, ec.EllipticCurvePublicKey)):
        return public_key.key_size
    return 0  # Ed25519 and friends: no legacy template accepts them


def load_request(data: bytes | x509.CertificateSigningRequest) -> x509.CertificateSigningRequest:
    """Decode a PKCS #10 request the way ICertRequest::Submit's CR_IN_ENCODEANY does.

    It tries base64 with a header (PEM, "CERTIFICATE REQUEST" or Windows' "NEW
    CERTIFICATE REQUEST"), bare base64, then binary DER. Failures become the ASN.1
    errors AD CS reports; a bad signature becomes NTE_BAD_SIGNATURE.
    """
    if isinstance(data, x509.CertificateSigningRequest):
        csr = data
    else:
        der = _request_der(data)
        if not der or der[0] != 0x30:
            raise parse_failure(CRYPT_E_ASN1_BADTAG)
        if _declared_length(der) > len(der):
            raise parse_failure(CRYPT_E_ASN1_EOD)
        try:
            csr = x509.load_der_x509_csr(der)
        except ValueError:
            raise parse_failure(CRYPT_E_ASN1_BADTAG) from None
    try:
        _ = csr.extensions  # parsed lazily: a malformed extension must fail here, not later
    except ValueError:
        raise parse_failure(CRYPT_E_ASN1_BADTAG) from None
    try:
        signature_ok = csr.is_signature_valid
    except (UnsupportedAlgorithm, InvalidSignature, ValueError):
        signature_ok = False
    if not signature_ok:
        # Same family of stage texts as "Error Parsing Request" in CA events.
        raise parse_failure(
            NTE_BAD_SIGNATURE, "Error Verifying Request Signature or Signing Certificate"
        )
    return csr


def _request_der(data: bytes) -> bytes:
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        lines = text.splitlines()[1:]
        body = b"".join(line for line in lines if not line.startswith(b"-----"))
        return _base64_or_empty(body)
    if text[:1] == b"\x30":
        return bytes(data)
    return _base64_or_empty(text)


def _base64_or_empty(text: bytes) -> bytes:
    compact = b"".join(text.split())
    # A request cut short in transit ends mid-quantum: decode what arrived, so that the
    # DER check reports "unexpected end of data" rather than a bad tag.
    if not compact.endswith(b"="):
        compact = compact[: len(compact) - len(compact) % 4]
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error:
        return b""


def _declared_length(der: bytes) -> int:
    """Total length the outer DER header announces (header included)."""
    if len(der) < 2:
        return len(der) + 1
    first = der[1]
    if first < 0x80:
        return 2 + first
    size = first & 0x7F
    if len(der) < 2 + size:
        return len(der) + 1
    return 2 + size + int.from_bytes(der[2:2 + size], "big")
