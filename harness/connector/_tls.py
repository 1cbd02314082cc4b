"""TLS as the Java connector does it, on Python's ``ssl``, failing with Java's words.

Python's OpenSSL does the handshakes, so that the Front End sees a real peer; what
differs from JSSE is made to match:

- Anchors: JSSE trusts every certificate in its trust store as an anchor, a leaf or an
  intermediate included; OpenSSL needs ``VERIFY_X509_PARTIAL_CHAIN`` for that.
- Versions: JDK 17 enables TLS 1.2 and 1.3; the contexts refuse anything older.
- Server name: the connector checks the Front End's certificate against the Front End
  FQDN (HTTPS-style endpoint identification: DNS names of the SAN, the CN only when
  there is no SAN), as Python's ``check_hostname`` does. Whether the real connector
  enables endpoint identification is not documented; the lab assumes it does.
- Server side: the Secured port requires a client certificate; OpenSSL, like Java,
  refuses one whose EKU lacks clientAuth.
- Errors: OpenSSL stops at its first problem and checks in another order than Java
  (OpenSSL: issuer, key usage, host name, validity; Java: issuer, validity, key usage,
  host name). The peer's chain is captured from its Certificate message and Java's first
  complaint is worked out from it.

Java's texts, measured with OpenJDK 17.0.15 (``javax.net.ssl`` client and server
against ``openssl s_server``/``s_client``), are this module's constants; all are
``javax.net.ssl.SSLHandshakeException`` unless noted:

- peer's CA not trusted: :data:`PKIX_PATH_BUILDING_FAILED`;
- a certificate out of its dates: :data:`PKIX_VALIDITY_FAILED`, caused by
  ``java.security.cert.CertificateExpiredException: NotAfter: Wed Nov 25 06:05:03 UTC 2026``;
- server name not among the SAN's DNS names: ``No subject alternative DNS name matching
  fe01.companya.com found.``; no SAN and another CN: ``No name matching
  fe01.companya.com found``;
- EKU: :data:`EKU_CLIENT_AUTH` (the server's verdict on a client certificate),
  :data:`EKU_SERVER_AUTH` (the client's on a server certificate);
- client sent no certificate: :data:`EMPTY_CLIENT_CHAIN`; server without a key:
  ``No available authentication scheme``;
- the peer's alert: ``Received fatal alert: certificate_required`` (and the other alert
  names); peer hung up mid-handshake: ``Remote host terminated the handshake``;
- no trust anchor at all: ``javax.net.ssl.SSLException: Unexpected error:
  java.security.InvalidAlgorithmParameterException: the trustAnchors parameter must be
  non-empty``; plain text to a TLS port: ``javax.net.ssl.SSLException: Unsupported or
  unrecognized SSL message``.

What cannot match: the alert on the wire (OpenSSL sends ``bad_certificate`` where Java
sends ``certificate_unknown``), and the CertificateRequest's list of acceptable CA names,
which Java fills from its trust store and Python's ``ssl`` leaves empty.

``ssl`` loads keys only from files: the key and chain are written as PEM into a private
temporary folder (0700, files 0600) and removed when the :class:`TlsIdentity` closes.
"""

from __future__ import annotations

import _ssl
import ctypes
import datetime
import re
import shutil
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from fakes._files import write_private_file

from ._jsse import TRUST_ANCHORS_EMPTY, KeyMaterial

__all__ = [
    "TlsFailure",
    "HandshakeCapture",
    "TlsIdentity",
    "client_context",
    "server_context",
    "java_failure",
    "describe_certificate",
    "java_date",
    "PKIX_PATH_BUILDING_FAILED",
    "PKIX_VALIDITY_FAILED",
    "EKU_CLIENT_AUTH",
    "EKU_SERVER_AUTH",
    "EMPTY_CLIENT_CHAIN",
]

SSL_HANDSHAKE_EXCEPTION = "javax.net.ssl.SSLHandshakeException"
SSL_EXCEPTION = "javax.net.ssl.SSLException"
PKIX_PATH_BUILDING_FAILED = (
    "PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: "
    "unable to find valid certification path to requested target"
)
PKIX_VALIDITY_FAILED = (
    "PKIX path validation failed: java.security.cert.CertPathValidatorException: validity check failed"
)
EKU_CLIENT_AUTH = "Extended key usage does not permit use for TLS client authentication"
EKU_SERVER_AUTH = "Extended key usage does not permit use for TLS server authentication"
EMPTY_CLIENT_CHAIN = "Empty client certificate chain"
NO_AUTHENTICATION_SCHEME = "No available authentication scheme"
REMOTE_TERMINATED = "Remote host terminated the handshake"
UNRECOGNIZED_MESSAGE = "Unsupported or unrecognized SSL message"

# OpenSSL X509_V_ERR_* codes (x509_vfy.h).
_NOT_YET_VALID, _EXPIRED = 9, 10
_UNTRUSTED = frozenset({2, 18, 19, 20, 21, 27})  # no issuer / self-signed / unable to verify / untrusted
_INVALID_PURPOSE = 26
_HOSTNAME_MISMATCH = 62

# OpenSSL's reason for an alert the peer sent: SSLV3_ALERT_BAD_CERTIFICATE, TLSV13_ALERT_...
_ALERT_REASON = re.compile(r"^(?:SSLV3|TLSV1|TLSV13)_ALERT_(?P<name>[A-Z_]+)$")
# Alerts that mean "the peer did not accept the certificate it was given".
_CERTIFICATE_ALERTS = frozenset(
    {"bad_certificate", "certificate_unknown", "unknown_ca", "unsupported_certificate", "certificate_expired"}
)
_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "UNKNOWN_PROTOCOL"})

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Side = Literal["client", "server"]


@dataclass(frozen=True)
class TlsFailure:
    """A handshake that failed, as the Java connector would log it.

    ``exception``/``message`` are Java's; ``cause`` the Java cause worth showing (the
    ``NotAfter`` of an expired certificate); ``code`` the diagnosis; ``detail`` what
    Python's OpenSSL said, for the engineer who wants the raw reason.
    """

    exception: str
    message: str
    code: str
    cause: str | None = None
    detail: str = ""

    @property
    def text(self) -> str:
        """``"<exception>: <message>"``, as a Java stack trace's first line."""
        return f"{self.exception}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, with :attr:`text`."""
        return {**asdict(self), "text": self.text}


class HandshakeCapture:
    """The certificate chain the peer sent, read from its Certificate handshake message.

    Set on a context by :func:`client_context`/:func:`server_context` through
    ``SSLContext._msg_callback`` (the hook OpenSSL's ``SSL_CTX_set_msg_callback`` offers;
    CPython names it private but it is stable since 3.8): the chain is there even when
    the handshake fails, which ``getpeercert()`` is not.
    """

    def __init__(self) -> None:
        self.chain: list[x509.Certificate] = []

    def attach(self, context: ssl.SSLContext) -> None:
        """Record the peer's chain of every handshake made with ``context``."""
        context._msg_callback = self._on_message  # type: ignore[attr-defined]

    def _on_message(
        self, _conn: object, direction: str, version: int, content_type: int, msg_type: int, data: bytes
    ) -> None:
        # 22 = handshake record, 11 = Certificate message.
        if direction != "read" or content_type != 22 or msg_type != 11:
            return
        try:
            self.chain = _parse_certificate_message(data, tls13=version == ssl.TLSVersion.TLSv1_3)
        except (ValueError, IndexError):
            # Diagnostics only: a message we cannot parse leaves the chain unknown.
            self.chain = []


def _parse_certificate_message(data: bytes, *, tls13: bool) -> list[x509.Certificate]:
    """Certificates of a TLS Certificate message (RFC 8446 §4.4.2, RFC 5246 §7.4.2)."""
    pos = 4 if data[:1] == b"\x0b" and int.from_bytes(data[1:4], "big") == len(data) - 4 else 0
    if tls13:
        pos += 1 + data[pos]  # certificate_request_context
    end = pos + 3 + int.from_bytes(data[pos : pos + 3], "big")
    pos += 3
    chain = []
    while pos + 3 <= end:
        size = int.from_bytes(data[pos : pos + 3], "big")
        pos += 3
        chain.append(x509.load_der_x509_certificate(data[pos : pos + size]))
        pos += size
        if tls13:
            pos += 2 + int.from_bytes(data[pos : pos + 2], "big")  # per-certificate extensions
    return chain


class TlsIdentity:
    """Key material as PEM files in a private temporary folder, for ``ssl`` to load.

    Use as a context manager or call :meth:`close`; files are 0600 in a 0700 folder.
    ``None`` key material (or one without a key) is an identity with nothing to present.
    """

    def __init__(self, key: KeyMaterial | None) -> None:
        self._folder: Path | None = None
        if key is None or not key.present:
            return
        self._folder = Path(tempfile.mkdtemp(prefix="ucc-connector-"))  # mkdtemp: mode 0700
        pem = serialization.Encoding.PEM
        write_private_file(self._folder / "chain.pem", b"".join(c.public_bytes(pem) for c in key.chain))
        write_private_file(
            self._folder / "key.pem",
            key.private_key.private_bytes(  # type: ignore[union-attr]
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )

    @property
    def present(self) -> bool:
        """Whether there is a certificate and key to present."""
        return self._folder is not None

    def load_into(self, context: ssl.SSLContext) -> None:
        """``load_cert_chain`` with the identity's files (nothing when there is no key)."""
        if self._folder is not None:
            context.load_cert_chain(self._folder / "chain.pem", self._folder / "key.pem")

    def close(self) -> None:
        """Remove the PEM files."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> TlsIdentity:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# SSL_CTRL_MODE and SSL_MODE_NO_AUTO_CHAIN from OpenSSL's ssl.h.
_SSL_CTRL_MODE = 33
_SSL_MODE_NO_AUTO_CHAIN = 0x8


def _send_only_the_key_store_chain(context: ssl.SSLContext) -> None:
    """Make OpenSSL send exactly the chain of the key store entry, as Java's key manager does.

    When a certificate comes with no chain, OpenSSL completes it from the context's trust
    store before sending it; Java never does. Without this, a PFX exported without
    "Include all certificates in the certification path" would still work here when the
    trust store happens to hold the issuing CA — and fail with the real connector. Python
    does not expose SSL_CTX_set_mode, so it is called through ctypes on the context's
    SSL_CTX (the first field after the object header of CPython's ssl context).
    """
    libssl = ctypes.CDLL(_ssl.__file__)
    ctrl = libssl.SSL_CTX_ctrl
    ctrl.restype = ctypes.c_long
    ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    ssl_ctx = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    mode = ctrl(ssl_ctx, _SSL_CTRL_MODE, _SSL_MODE_NO_AUTO_CHAIN, None)
    if not mode & _SSL_MODE_NO_AUTO_CHAIN:
        raise RuntimeError("could not set SSL_MODE_NO_AUTO_CHAIN on the connector's TLS context")


def _base_context(protocol: int, anchors: Sequence[x509.Certificate]) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    # JSSE takes any certificate of the trust store as an anchor, CA or not.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if anchors:
        pem = serialization.Encoding.PEM
        context.load_verify_locations(cadata="".join(c.public_bytes(pem).decode("ascii") for c in anchors))
    _send_only_the_key_store_chain(context)
    return context


def client_context(
    identity: TlsIdentity, anchors: Sequence[x509.Certificate]
) -> tuple[ssl.SSLContext, HandshakeCapture]:
    """A client context like the connector's toward the Front End, and its capture.

    Presents ``identity`` when it has a key (SunX509 presents it whatever the server
    asks), trusts exactly ``anchors``, checks the server name given at connect time.
    Use one context per connection: the capture belongs to it.
    """
    context = _base_context(ssl.PROTOCOL_TLS_CLIENT, anchors)
    context.check_hostname = True
    identity.load_into(context)
    capture = HandshakeCapture()
    capture.attach(context)
    return context, capture


def server_context(
    identity: TlsIdentity, anchors: Sequence[x509.Certificate]
) -> tuple[ssl.SSLContext, HandshakeCapture]:
    """A server context like the connector's Secured port: client certificate required.

    Trusts ``anchors``; without a key every handshake fails (see :func:`java_failure`).
    One context per connection, for the capture.
    """
    context = _base_context(ssl.PROTOCOL_TLS_SERVER, anchors)
    identity.load_into(context)
    capture = HandshakeCapture()
    capture.attach(context)
    return context, capture


def java_failure(
    error: BaseException,
    *,
    side: Side,
    capture: HandshakeCapture,
    anchors: Sequence[x509.Certificate],
    now: datetime.datetime,
    server_hostname: str | None = None,
    has_key: bool = True,
) -> TlsFailure:
    """What Java would have said for the handshake that failed with ``error``.

    ``side`` is the connector's role; ``anchors`` its trust anchors; ``now`` the time of
    the handshake (for validity); ``server_hostname`` the name the client checked.
    """
    detail = f"{type(error).__name__}: {error}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return _verification_failure(error, side, capture.chain, anchors, now, server_hostname, detail)
    if isinstance(error, ssl.SSLError):
        return _ssl_failure(error, side, capture.chain, anchors, now, has_key, detail)
    if isinstance(error, TimeoutError):
        return TlsFailure("java.net.SocketTimeoutException", "Read timed out", "tls-timeout", detail=detail)
    if isinstance(error, (ConnectionError, EOFError)):
        return TlsFailure(SSL_HANDSHAKE_EXCEPTION, REMOTE_TERMINATED, "tls-handshake-aborted", detail=detail)
    return TlsFailure(
        SSL_HANDSHAKE_EXCEPTION, str(error) or type(error).__name__, "tls-handshake-failed", detail=detail
    )


def _verification_failure(
    error: ssl.SSLCertVerificationError,
    side: Side,
    chain: list[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    now: datetime.datetime,
    server_hostname: str | None,
    detail: str,
) -> TlsFailure:
    code = error.verify_code
    if not anchors:
        return TlsFailure(
            SSL_EXCEPTION,
            f"Unexpected error: java.security.InvalidAlgorithmParameterException: {TRUST_ANCHORS_EMPTY}",
            "truststore-empty",
            detail=detail,
        )
    # Java's order: build a path to an anchor, validate it (dates), check the end
    # entity's key usage, and only then (the client) the server name.
    if code in _UNTRUSTED:
        return TlsFailure(SSL_HANDSHAKE_EXCEPTION, PKIX_PATH_BUILDING_FAILED, "truststore-missing-ca", detail=detail)
    dated = _validity_problem(chain, anchors, now)
    if dated is not None:
        cause, diagnosis = dated
        return TlsFailure(SSL_HANDSHAKE_EXCEPTION, PKIX_VALIDITY_FAILED, diagnosis, cause=cause, detail=detail)
    purpose = ExtendedKeyUsageOID.CLIENT_AUTH if side == "server" else ExtendedKeyUsageOID.SERVER_AUTH
    if code == _INVALID_PURPOSE or (chain and not _eku_allows(chain[0], purpose)):
        if side == "server":
            return TlsFailure(SSL_HANDSHAKE_EXCEPTION, EKU_CLIENT_AUTH, "cert-eku-no-client-auth", detail=detail)
        return TlsFailure(SSL_HANDSHAKE_EXCEPTION, EKU_SERVER_AUTH, "cert-eku-no-server-auth", detail=detail)
    if code == _HOSTNAME_MISMATCH and server_hostname is not None:
        has_dns = bool(chain) and bool(_dns_names(chain[0]))
        message = (
            f"No subject alternative DNS name matching {server_hostname} found."
            if has_dns or not chain
            else f"No name matching {server_hostname} found"
        )
        return TlsFailure(SSL_HANDSHAKE_EXCEPTION, message, "cert-name-mismatch", detail=detail)
    if code in (_EXPIRED, _NOT_YET_VALID):
        # The chain was not captured: Java's wording without the date.
        return TlsFailure(SSL_HANDSHAKE_EXCEPTION, PKIX_VALIDITY_FAILED, "cert-expired", detail=detail)
    return TlsFailure(
        SSL_HANDSHAKE_EXCEPTION,
        f"PKIX path validation failed: java.security.cert.CertPathValidatorException: {error.verify_message}",
        "tls-handshake-failed",
        detail=detail,
    )


def _ssl_failure(
    error: ssl.SSLError,
    side: Side,
    chain: list[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    now: datetime.datetime,
    has_key: bool,
    detail: str,
) -> TlsFailure:
    reason = error.reason or ""
    if side == "server" and not has_key:
        return TlsFailure(SSL_HANDSHAKE_EXCEPTION, NO_AUTHENTICATION_SCHEME, "pfx-no-private-key", detail=detail)
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return TlsFailure(SSL_HANDSHAKE_EXCEPTION, EMPTY_CLIENT_CHAIN, "client-certificate-missing", detail=detail)
    if reason in _NOT_TLS_REASONS:
        return TlsFailure(SSL_EXCEPTION, UNRECOGNIZED_MESSAGE, "tls-not-spoken", detail=detail)
    if isinstance(error, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
        return TlsFailure(SSL_HANDSHAKE_EXCEPTION, REMOTE_TERMINATED, "tls-handshake-aborted", detail=detail)
    alert = _ALERT_REASON.match(reason)
    if alert is not None:
        name = alert["name"].lower()
        if name == "certificate_required":
            code = "client-certificate-missing"
        elif name in _CERTIFICATE_ALERTS:
            code = "peer-rejected-certificate"
        else:
            code = "tls-handshake-failed"
        return TlsFailure(SSL_HANDSHAKE_EXCEPTION, f"Received fatal alert: {name}", code, detail=detail)
    return TlsFailure(
        SSL_HANDSHAKE_EXCEPTION, error.strerror or reason or str(error), "tls-handshake-failed", detail=detail
    )


def _validity_problem(
    chain: list[x509.Certificate], anchors: Sequence[x509.Certificate], now: datetime.datetime
) -> tuple[str, str] | None:
    """Java's cause and the diagnosis for the first certificate out of its dates, else None.

    Java validates the path below the anchor (the anchor's own dates are not checked),
    from the top down.
    """
    path: list[x509.Certificate] = []
    for certificate in chain:
        if certificate in anchors:
            break
        path.append(certificate)
    for certificate in reversed(path):
        if now > certificate.not_valid_after_utc:
            return (
                "java.security.cert.CertificateExpiredException: NotAfter: "
                f"{java_date(certificate.not_valid_after_utc)}",
                "cert-expired",
            )
        if now < certificate.not_valid_before_utc:
            return (
                "java.security.cert.CertificateNotYetValidException: NotBefore: "
                f"{java_date(certificate.not_valid_before_utc)}",
                "cert-not-yet-valid",
            )
    return None


def _eku_allows(certificate: x509.Certificate, purpose: x509.ObjectIdentifier) -> bool:
    """RFC 5280 §4.2.1.12 as Java checks it: no EKU, the purpose, or anyExtendedKeyUsage."""
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return purpose in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages


def _dns_names(certificate: x509.Certificate) -> list[str]:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    except x509.ExtensionNotFound:
        return []


_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}


def describe_certificate(certificate: x509.Certificate) -> dict[str, Any]:
    """Subject, SANs, issuer, serial, validity and EKU of a peer certificate, JSON-able.

    ``eku`` is ``None`` when the certificate has no EKU extension (any use allowed).
    """
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        eku: list[str] | None = [_EKU_NAMES.get(oid, oid.dotted_string) for oid in usages]
    except x509.ExtensionNotFound:
        eku = None
    return {
        "subject": certificate.subject.rfc4514_string(),
        "sans": _dns_names(certificate),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial_number": format(certificate.serial_number, "x"),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "eku": eku,
    }


def java_date(moment: datetime.datetime) -> str:
    """``java.util.Date.toString()`` in UTC: ``Wed Nov 25 06:05:03 UTC 2026`` (no locale)."""
    utc = moment.astimezone(datetime.timezone.utc)
    return f"{_DAYS[utc.weekday()]} {_MONTHS[utc.month - 1]} {utc:%d %H:%M:%S} UTC {utc.year}"
