"""TLS as the Java connector does it, on Python's ``ssl``, failing with Java's words.

Python's OpenSSL does the handshakes, so that the Front End sees a real peer; what
differs from JSSE is made to match:

- Anchors: JSSE trusts every certificate in its trust store as an anchor, a leaf or an
  intermediate included; OpenSSL needs ``VERIFY_X509_PARTIAL_CHAIN`` for that.
- Policy: the connector's JDK ``java.security`` (:class:`~._security.JavaSecurity`,
  JDK 17.0.15's by default) decides the TLS versions (TLS 1.2 and 1.3 unless
  ``jdk.tls.disabledAlgorithms`` is changed) and which signature algorithms and key sizes
  a certificate path may use. OpenSSL runs at security level 0, so that nothing Java
  accepts (a SHA-1 chain from a private CA, an RSA 1024 key, TLS 1.0 when re-enabled) is
  refused by OpenSSL's own policy, and a verify callback applies Java's constraints
  during the handshake: the peer sees the handshake fail where Java's would.
- Server name: endpoint identification is a connector setting. Off by default, as on a
  plain ``SSLSocket`` (research-12 §8d: a JDK 17 client with no
  ``setEndpointIdentificationAlgorithm`` accepts a certificate for another name; no
  Genesys source says the UC Connector sets it, so the lab assumes it does not). With
  ``"HTTPS"`` the Front End's certificate must name the Front End FQDN (DNS names of the
  SAN, the CN only when there is no SAN), as Python's ``check_hostname`` checks.
- Server side: the Secured port requires a client certificate; OpenSSL, like Java,
  refuses one whose EKU lacks clientAuth.
- Errors: OpenSSL stops at its first problem and checks in another order than Java
  (OpenSSL: issuer, key usage, host name, validity; Java: issuer, then for each
  certificate from the anchor down its algorithm constraints and dates, then key usage,
  then host name). The peer's chain is captured from its Certificate message (its
  ClientHello too, for the versions it offered) and Java's first complaint is worked out
  from it. The diagnosis code of each failure is what :data:`harness.diagnosis.PATTERNS`
  makes of Java's words, as for the real JDK's.

Java's texts, measured with OpenJDK 17.0.15 (``javax.net.ssl`` client and server
against ``openssl s_server``/``s_client``), are this module's constants; all are
``javax.net.ssl.SSLHandshakeException`` unless noted:

- peer's CA not trusted: :data:`PKIX_PATH_BUILDING_FAILED`;
- a certificate out of its dates: :data:`PKIX_VALIDITY_FAILED`, caused by
  ``java.security.cert.CertificateExpiredException: NotAfter: Wed Nov 25 06:05:03 UTC 2026``;
- a disabled algorithm or key size: ``PKIX path validation failed:
  java.security.cert.CertPathValidatorException: Algorithm constraints check failed on
  signature algorithm: SHA1withRSA`` (the other messages: :mod:`._security`);
- server name not among the SAN's DNS names (endpoint identification on): ``No subject
  alternative DNS name matching fe01.companya.com found.``; no SAN and another CN: ``No
  name matching fe01.companya.com found``;
- EKU: :data:`EKU_CLIENT_AUTH` (the server's verdict on a client certificate),
  :data:`EKU_SERVER_AUTH` (the client's on a server certificate);
- TLS versions (research-12 §8c): a client meeting a server of disabled versions only:
  ``Received fatal alert: protocol_version``; a server meeting such a client: ``Client
  requested protocol TLSv1.1 is not enabled or supported in server context`` (a ClientHello
  without supported_versions) or ``The client supported protocol versions [TLSv1.1, TLSv1]
  are not accepted by server preferences [TLSv1.3, TLSv1.2]``; no version left enabled:
  :data:`NO_APPROPRIATE_PROTOCOL`;
- client sent no certificate: :data:`EMPTY_CLIENT_CHAIN`; server without a key:
  ``No available authentication scheme`` (TLS 1.3), ``no cipher suites in common`` (TLS 1.2);
- the peer's alert: ``Received fatal alert: certificate_required`` (and the other alert
  names); peer hung up mid-handshake: ``Remote host terminated the handshake``;
- no trust anchor at all: ``javax.net.ssl.SSLException: Unexpected error:
  java.security.InvalidAlgorithmParameterException: the trustAnchors parameter must be
  non-empty``; plain text to a TLS port: ``javax.net.ssl.SSLException: Unsupported or
  unrecognized SSL message``.

What cannot match: the alert on the wire (OpenSSL sends ``bad_certificate``, or
``handshake_failure`` for a constraint the callback refuses, where Java sends
``certificate_unknown``), the CertificateRequest's list of acceptable CA names, which
Java fills from its trust store and Python's ``ssl`` leaves empty, and the cipher suites
offered (the families JDK 17 enables, in OpenSSL's order). ``DH keySize < 1024`` and the
other cipher-level entries of ``jdk.tls.disabledAlgorithms`` are not applied: the Front
End's suites are ECDHE and RSA ones.

``ssl`` loads keys only from files: the key and chain are written as PEM into a private
temporary folder (0700, files 0600) and removed when the :class:`TlsIdentity` closes.
"""

from __future__ import annotations

import _ssl
import ctypes
import datetime
import functools
import re
import shutil
import ssl
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from fakes._files import write_private_file

from ..diagnosis import code_for_java_error
from ._jsse import TRUST_ANCHORS_EMPTY, KeyMaterial
from ._security import JavaSecurity, Variant

__all__ = [
    "TlsFailure",
    "HandshakeCapture",
    "ClientHello",
    "TlsIdentity",
    "EndpointIdentification",
    "client_context",
    "server_context",
    "java_failure",
    "java_path",
    "describe_certificate",
    "java_date",
    "PKIX_PATH_BUILDING_FAILED",
    "PKIX_VALIDITY_FAILED",
    "EKU_CLIENT_AUTH",
    "EKU_SERVER_AUTH",
    "EMPTY_CLIENT_CHAIN",
    "NO_APPROPRIATE_PROTOCOL",
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
PKIX_VALIDATION_FAILED = "PKIX path validation failed: java.security.cert.CertPathValidatorException: "
EKU_CLIENT_AUTH = "Extended key usage does not permit use for TLS client authentication"
EKU_SERVER_AUTH = "Extended key usage does not permit use for TLS server authentication"
EMPTY_CLIENT_CHAIN = "Empty client certificate chain"
NO_AUTHENTICATION_SCHEME = "No available authentication scheme"
NO_CIPHER_SUITES = "no cipher suites in common"
NO_APPROPRIATE_PROTOCOL = "No appropriate protocol (protocol is disabled or cipher suites are inappropriate)"
REMOTE_TERMINATED = "Remote host terminated the handshake"
UNRECOGNIZED_MESSAGE = "Unsupported or unrecognized SSL message"

#: ``SSLParameters.setEndpointIdentificationAlgorithm``: "HTTPS", or None (a plain SSLSocket).
EndpointIdentification = Literal["HTTPS"] | None

# OpenSSL X509_V_ERR_* codes (x509_vfy.h).
_NOT_YET_VALID, _EXPIRED = 9, 10
_UNTRUSTED = frozenset({2, 18, 19, 20, 21, 27})  # no issuer / self-signed / unable to verify / untrusted
_INVALID_PURPOSE = 26
_APPLICATION_VERIFICATION = 50
_HOSTNAME_MISMATCH = 62

# OpenSSL's reason for an alert the peer sent: SSLV3_ALERT_BAD_CERTIFICATE, TLSV13_ALERT_...
_ALERT_REASON = re.compile(r"^(?:SSLV3|TLSV1|TLSV13)_ALERT_(?P<name>[A-Z_]+)$")
_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "UNKNOWN_PROTOCOL"})

# The cipher suite families a JDK 17 SSLContext enables (run here: ECDHE and DHE with
# AES-GCM, ChaCha20-Poly1305 and AES-CBC, RSA key exchange with AES; no 3DES, RC4, CCM,
# CAMELLIA or anonymous suites), at OpenSSL security level 0 so that OpenSSL's own
# policy refuses nothing Java accepts: java.security's constraints are applied instead.
_JSSE_CIPHERS = (
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:ECDHE+AES:DHE+AES:RSA+AES"
    ":!aNULL:!eNULL:!AESCCM:!PSK:!SRP:@SECLEVEL=0"
)
# Java's protocol names, OpenSSL's versions and the options that switch one off.
_TLS_VERSIONS = (
    ("TLSv1", ssl.TLSVersion.TLSv1, 0x0301, ssl.OP_NO_TLSv1),
    ("TLSv1.1", ssl.TLSVersion.TLSv1_1, 0x0302, ssl.OP_NO_TLSv1_1),
    ("TLSv1.2", ssl.TLSVersion.TLSv1_2, 0x0303, ssl.OP_NO_TLSv1_2),
    ("TLSv1.3", ssl.TLSVersion.TLSv1_3, 0x0304, ssl.OP_NO_TLSv1_3),
)
_VERSION_NAMES = {wire: name for name, _, wire, _ in _TLS_VERSIONS} | {0x0300: "SSLv3"}

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


def _failure(exception: str, message: str, otherwise: str, *, cause: str | None = None, detail: str = "") -> TlsFailure:
    """A failure whose code is what the diagnosis table makes of Java's words (message and
    cause), or ``otherwise`` for words it has no cause for (a timeout, a hang-up)."""
    code = code_for_java_error(" <- ".join(t for t in (message, cause) if t)) or otherwise
    return TlsFailure(exception, message, code, cause, detail)


@dataclass(frozen=True)
class ClientHello:
    """What a peer's ClientHello offered: its legacy version and supported_versions (RFC 8446 §4.2.1)."""

    legacy_version: int
    supported_versions: tuple[int, ...] = ()


class HandshakeCapture:
    """The peer's Certificate and ClientHello messages, and the Java policy of one context.

    Set on a context by :func:`client_context`/:func:`server_context` through
    ``SSLContext._msg_callback`` (the hook OpenSSL's ``SSL_CTX_set_msg_callback`` offers;
    CPython names it private but it is stable since 3.8): the chain is there even when
    the handshake fails, which ``getpeercert()`` is not. ``refused`` is the
    java.security constraint the verify callback refused the path for.
    """

    def __init__(self, *, security: JavaSecurity | None = None, variant: Variant = "TLSServer",
                 anchors: Sequence[x509.Certificate] = (),
                 now: Callable[[], datetime.datetime] | None = None) -> None:
        self.chain: list[x509.Certificate] = []
        self.client_hello: ClientHello | None = None
        self.security = security if security is not None else JavaSecurity()
        self.variant = variant
        self.anchors = list(anchors)
        self.now = now if now is not None else (lambda: datetime.datetime.fromtimestamp(time.time(), datetime.timezone.utc))
        self.refused: str | None = None

    def attach(self, context: ssl.SSLContext) -> None:
        """Record the peer's messages of every handshake made with ``context``."""
        context._msg_callback = self._on_message  # type: ignore[attr-defined]

    def _on_message(
        self, _conn: object, direction: str, version: int, content_type: int, msg_type: int, data: bytes
    ) -> None:
        # 22 = handshake record; 1 = ClientHello, 11 = Certificate.
        if direction != "read" or content_type != 22:
            return
        try:
            if msg_type == 11:
                self.chain = _parse_certificate_message(data, tls13=version == ssl.TLSVersion.TLSv1_3)
            elif msg_type == 1:
                self.client_hello = _parse_client_hello(data)
        except (ValueError, IndexError):
            # Diagnostics only: a message we cannot parse leaves it unknown.
            if msg_type == 11:
                self.chain = []

    def path_refusal(self) -> str | None:
        """Java's constraint message for the captured chain, if the policy refuses its path."""
        found = java_path(self.chain, self.anchors)
        if found is None:
            return None
        path, anchor = found
        return self.security.check_path(list(reversed(path)), anchor.public_key(), variant=self.variant,
                                        now=self.now())


def java_path(chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]
              ) -> tuple[list[x509.Certificate], x509.Certificate] | None:
    """The path JSSE validates (leaf first, anchor excluded) and its trust anchor, or None.

    ``sun.security.validator.PKIXValidator.engineValidate``: walking up from the leaf, the
    first certificate that is itself trusted ends the path above it, and the first whose
    issuer is a trusted subject ends it with itself.
    """
    for index, certificate in enumerate(chain):
        if certificate in anchors:
            return list(chain[:index]), certificate
        issuer = next((a for a in anchors if a.subject == certificate.issuer), None)
        if issuer is not None:
            return list(chain[: index + 1]), issuer
    return None


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


def _parse_client_hello(data: bytes) -> ClientHello:
    """Legacy version and supported_versions of a ClientHello (RFC 8446 §4.1.2, §4.2.1)."""
    pos = 4 if data[:1] == b"\x01" and int.from_bytes(data[1:4], "big") == len(data) - 4 else 0
    legacy = int.from_bytes(data[pos : pos + 2], "big")
    pos += 2 + 32  # legacy_version, random
    pos += 1 + data[pos]  # legacy_session_id
    pos += 2 + int.from_bytes(data[pos : pos + 2], "big")  # cipher_suites
    pos += 1 + data[pos]  # legacy_compression_methods
    if pos + 2 > len(data):
        return ClientHello(legacy)
    end = pos + 2 + int.from_bytes(data[pos : pos + 2], "big")
    pos += 2
    while pos + 4 <= end:
        kind, size = int.from_bytes(data[pos : pos + 2], "big"), int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 4
        if kind == 43:  # supported_versions: a one-byte length, then two bytes a version
            body = data[pos + 1 : pos + 1 + data[pos]]
            return ClientHello(legacy, tuple(int.from_bytes(body[i : i + 2], "big") for i in range(0, len(body) - 1, 2)))
        pos += size
    return ClientHello(legacy)


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


# SSL_CTRL_* and SSL_MODE_NO_AUTO_CHAIN from OpenSSL's ssl.h.
_SSL_CTRL_MODE = 33
_SSL_CTRL_SET_SIGALGS_LIST = 98
_SSL_CTRL_SET_CLIENT_SIGALGS_LIST = 102
_SSL_MODE_NO_AUTO_CHAIN = 0x8


def _send_only_the_key_store_chain(context: ssl.SSLContext) -> None:
    """Make OpenSSL send exactly the chain of the key store entry, as Java's key manager does.

    When a certificate comes with no chain, OpenSSL completes it from the context's trust
    store before sending it; Java never does. Without this, a PFX exported without
    "Include all certificates in the certification path" would still work here when the
    trust store happens to hold the issuing CA — and fail with the real connector. Python
    does not expose SSL_CTX_set_mode, so it is called through ctypes on the context's SSL_CTX.
    """
    mode = _libssl().SSL_CTX_ctrl(_ssl_ctx(context), _SSL_CTRL_MODE, _SSL_MODE_NO_AUTO_CHAIN, None)
    if not mode & _SSL_MODE_NO_AUTO_CHAIN:
        raise RuntimeError("could not set SSL_MODE_NO_AUTO_CHAIN on the connector's TLS context")


# OpenSSL's verify callback: int (*)(int preverify_ok, X509_STORE_CTX *ctx).
_VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


@functools.cache
def _libssl() -> ctypes.CDLL:
    """The OpenSSL that Python's ``ssl`` runs on (libssl and libcrypto through ``_ssl``)."""
    library = ctypes.CDLL(_ssl.__file__)
    library.SSL_CTX_ctrl.restype = ctypes.c_long
    library.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    library.SSL_CTX_get_verify_mode.restype = ctypes.c_int
    library.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    library.SSL_CTX_set_verify.restype = None
    library.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CALLBACK]
    library.X509_STORE_CTX_get_error_depth.restype = ctypes.c_int
    library.X509_STORE_CTX_get_error_depth.argtypes = [ctypes.c_void_p]
    library.X509_STORE_CTX_set_error.restype = None
    library.X509_STORE_CTX_set_error.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return library


def _ssl_ctx(context: ssl.SSLContext) -> int:
    """The context's SSL_CTX pointer (the first field after the object header of CPython's ssl context)."""
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    assert pointer is not None
    return pointer


def _apply_java_constraints(context: ssl.SSLContext, capture: HandshakeCapture) -> None:
    """Refuse, inside the handshake, a path OpenSSL accepted but java.security does not.

    OpenSSL calls the verify callback for every certificate of the chain; once it has
    accepted the peer's own certificate (depth 0, ``ok``), the callback checks the captured
    path with the connector's policy and, when Java would refuse it, sets
    X509_V_ERR_APPLICATION_VERIFICATION: the handshake fails there, as Java's does, and
    the peer gets an alert. Python does not expose SSL_CTX_set_verify's callback, so it is
    set through ctypes last, keeping the verify mode Python set; the callback object lives
    on the context.
    """
    library = _libssl()

    def verify(ok: int, store: int) -> int:
        if not ok or library.X509_STORE_CTX_get_error_depth(store) != 0:
            return ok
        try:
            refusal = capture.path_refusal()
        except Exception as exc:  # noqa: BLE001 - an exception cannot cross into OpenSSL: refuse, and say why
            refusal = f"the lab could not apply java.security: {exc!r}"
        if refusal is None:
            return ok
        capture.refused = refusal
        library.X509_STORE_CTX_set_error(store, _APPLICATION_VERIFICATION)
        return 0

    callback = _VERIFY_CALLBACK(verify)
    ssl_ctx = _ssl_ctx(context)
    library.SSL_CTX_set_verify(ssl_ctx, library.SSL_CTX_get_verify_mode(ssl_ctx), callback)
    context._java_verify_callback = callback  # type: ignore[attr-defined]


def _enable_protocols(context: ssl.SSLContext, enabled: Sequence[str]) -> None:
    """Exactly the TLS versions Java enables; none at all fails each handshake before a
    byte is sent, as Java's "No appropriate protocol" does."""
    versions = [version for name, version, _, _ in _TLS_VERSIONS if name in enabled]
    if versions:
        off = [option for name, version, _, option in _TLS_VERSIONS
               if name not in enabled and versions[0] < version < versions[-1]]
    else:
        off = [option for _, _, _, option in _TLS_VERSIONS]
    # Python deprecates TLS 1.0/1.1 and the OP_NO_* options in favour of the range; both
    # are still what OpenSSL honours, and what a java.security that re-enables them needs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if versions:
            context.minimum_version, context.maximum_version = versions[0], versions[-1]
        for option in off:  # a hole (TLSv1.2 off, 1.1 and 1.3 on), or nothing left
            context.options |= option


def _offer_signature_schemes(context: ssl.SSLContext, schemes: Sequence[str]) -> None:
    """The signature schemes JSSE offers, in the ClientHello (SSL_CTX_set1_sigalgs_list) and in
    a CertificateRequest (SSL_CTX_set1_client_sigalgs_list), set through ctypes as Python
    does not expose them. An empty list (every scheme disabled) keeps OpenSSL's."""
    if not schemes:
        return
    names = ":".join(schemes).encode("ascii")
    for control in (_SSL_CTRL_SET_SIGALGS_LIST, _SSL_CTRL_SET_CLIENT_SIGALGS_LIST):
        if _libssl().SSL_CTX_ctrl(_ssl_ctx(context), control, 0, ctypes.c_char_p(names)) != 1:
            raise RuntimeError(f"OpenSSL refused the signature algorithms {names.decode()}")


def _base_context(protocol: int, anchors: Sequence[x509.Certificate], security: JavaSecurity) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.set_ciphers(_JSSE_CIPHERS)
    _enable_protocols(context, security.enabled_protocols())
    _offer_signature_schemes(context, security.signature_schemes())
    context.verify_mode = ssl.CERT_REQUIRED
    # JSSE takes any certificate of the trust store as an anchor, CA or not.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if anchors:
        pem = serialization.Encoding.PEM
        context.load_verify_locations(cadata="".join(c.public_bytes(pem).decode("ascii") for c in anchors))
    _send_only_the_key_store_chain(context)
    return context


def client_context(
    identity: TlsIdentity,
    anchors: Sequence[x509.Certificate],
    *,
    security: JavaSecurity | None = None,
    endpoint_identification: EndpointIdentification = None,
    now: Callable[[], datetime.datetime] | None = None,
) -> tuple[ssl.SSLContext, HandshakeCapture]:
    """A client context like the connector's toward the Front End, and its capture.

    Presents ``identity`` when it has a key (SunX509 presents it whatever the server
    asks), trusts exactly ``anchors`` under ``security`` (JDK 17.0.15's java.security by
    default), checks the server name given at connect time only with
    ``endpoint_identification="HTTPS"``; ``now`` is the clock of the constraints'
    ``denyAfter``. Use one context per connection: the capture belongs to it.
    """
    capture = HandshakeCapture(security=security, variant="TLSServer", anchors=anchors, now=now)
    context = _base_context(ssl.PROTOCOL_TLS_CLIENT, anchors, capture.security)
    context.check_hostname = endpoint_identification is not None
    identity.load_into(context)
    capture.attach(context)
    _apply_java_constraints(context, capture)
    return context, capture


def server_context(
    identity: TlsIdentity,
    anchors: Sequence[x509.Certificate],
    *,
    security: JavaSecurity | None = None,
    now: Callable[[], datetime.datetime] | None = None,
) -> tuple[ssl.SSLContext, HandshakeCapture]:
    """A server context like the connector's Secured port: client certificate required.

    Trusts ``anchors`` under ``security``; without a key every handshake fails (see
    :func:`java_failure`). One context per connection, for the capture.
    """
    capture = HandshakeCapture(security=security, variant="TLSClient", anchors=anchors, now=now)
    context = _base_context(ssl.PROTOCOL_TLS_SERVER, anchors, capture.security)
    identity.load_into(context)
    capture.attach(context)
    _apply_java_constraints(context, capture)
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
        return _verification_failure(error, side, capture, anchors, now, server_hostname, detail)
    if isinstance(error, ssl.SSLError):
        return _ssl_failure(error, side, capture, has_key, detail)
    if isinstance(error, TimeoutError):
        return _failure("java.net.SocketTimeoutException", "Read timed out", "tls-timeout", detail=detail)
    if isinstance(error, (ConnectionError, EOFError)):
        return _failure(SSL_HANDSHAKE_EXCEPTION, REMOTE_TERMINATED, "tls-handshake-aborted", detail=detail)
    return _failure(SSL_HANDSHAKE_EXCEPTION, str(error) or type(error).__name__, "tls-handshake-failed", detail=detail)


def _verification_failure(
    error: ssl.SSLCertVerificationError,
    side: Side,
    capture: HandshakeCapture,
    anchors: Sequence[x509.Certificate],
    now: datetime.datetime,
    server_hostname: str | None,
    detail: str,
) -> TlsFailure:
    code, chain = error.verify_code, capture.chain
    if not anchors:
        return _failure(SSL_EXCEPTION,
                        f"Unexpected error: java.security.InvalidAlgorithmParameterException: {TRUST_ANCHORS_EMPTY}",
                        "truststore-empty", detail=detail)
    # Java's order: build a path to an anchor; validate it from the anchor down, each
    # certificate's algorithm constraints before its dates; check the end entity's key
    # usage; and only then (a client with endpoint identification) the server name.
    if code in _UNTRUSTED:
        return _failure(SSL_HANDSHAKE_EXCEPTION, PKIX_PATH_BUILDING_FAILED, "truststore-missing-ca", detail=detail)
    problem = _path_problem(chain, anchors, capture, now)
    if problem is not None:
        message, cause = problem
        return _failure(SSL_HANDSHAKE_EXCEPTION, message, "tls-handshake-failed", cause=cause, detail=detail)
    purpose = ExtendedKeyUsageOID.CLIENT_AUTH if side == "server" else ExtendedKeyUsageOID.SERVER_AUTH
    if code == _INVALID_PURPOSE or (chain and not _eku_allows(chain[0], purpose)):
        return _failure(SSL_HANDSHAKE_EXCEPTION, EKU_CLIENT_AUTH if side == "server" else EKU_SERVER_AUTH,
                        "tls-handshake-failed", detail=detail)
    if code == _HOSTNAME_MISMATCH and server_hostname is not None:
        has_dns = bool(chain) and bool(_dns_names(chain[0]))
        message = (
            f"No subject alternative DNS name matching {server_hostname} found."
            if has_dns or not chain
            else f"No name matching {server_hostname} found"
        )
        return _failure(SSL_HANDSHAKE_EXCEPTION, message, "tls-handshake-failed", detail=detail)
    if code in (_EXPIRED, _NOT_YET_VALID):
        # The chain was not captured: Java's wording without the date.
        return _failure(SSL_HANDSHAKE_EXCEPTION, PKIX_VALIDITY_FAILED, "tls-handshake-failed", detail=detail)
    if code == _APPLICATION_VERIFICATION and capture.refused is not None:
        return _failure(SSL_HANDSHAKE_EXCEPTION, PKIX_VALIDATION_FAILED + capture.refused, "tls-handshake-failed",
                        detail=detail)
    return _failure(SSL_HANDSHAKE_EXCEPTION, PKIX_VALIDATION_FAILED + error.verify_message, "tls-handshake-failed",
                    detail=detail)


def _path_problem(chain: list[x509.Certificate], anchors: Sequence[x509.Certificate], capture: HandshakeCapture,
                  now: datetime.datetime) -> tuple[str, str | None] | None:
    """Java's message (and cause) for the first certificate, from the anchor down, that
    java.security or its dates refuse; the anchor's own dates are not checked."""
    found = java_path(chain, anchors)
    if found is None:
        return None
    path, anchor = found
    issuer_key = anchor.public_key()
    for certificate in reversed(path):
        refusal = capture.security.check_certificate(certificate, issuer_key, variant=capture.variant, now=now)
        if refusal is not None:
            return PKIX_VALIDATION_FAILED + refusal, None
        if now > certificate.not_valid_after_utc:
            return PKIX_VALIDITY_FAILED, ("java.security.cert.CertificateExpiredException: NotAfter: "
                                          f"{java_date(certificate.not_valid_after_utc)}")
        if now < certificate.not_valid_before_utc:
            return PKIX_VALIDITY_FAILED, ("java.security.cert.CertificateNotYetValidException: NotBefore: "
                                          f"{java_date(certificate.not_valid_before_utc)}")
        issuer_key = certificate.public_key()
    return None


def _ssl_failure(error: ssl.SSLError, side: Side, capture: HandshakeCapture, has_key: bool, detail: str) -> TlsFailure:
    reason = error.reason or ""
    if side == "server" and not has_key:
        # JDK 17 without a key: TLS 1.3 finds no certificate to sign with, TLS 1.2 no suite it
        # could serve (both run here with a key-less SSLServerSocket).
        hello = capture.client_hello
        tls13 = (hello is not None and 0x0304 in hello.supported_versions
                 and "TLSv1.3" in capture.security.enabled_protocols())
        return _failure(SSL_HANDSHAKE_EXCEPTION, NO_AUTHENTICATION_SCHEME if tls13 else NO_CIPHER_SUITES,
                        "pfx-no-private-key", detail=detail)
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return _failure(SSL_HANDSHAKE_EXCEPTION, EMPTY_CLIENT_CHAIN, "tls-handshake-failed", detail=detail)
    if reason == "NO_PROTOCOLS_AVAILABLE":
        return _failure(SSL_HANDSHAKE_EXCEPTION, NO_APPROPRIATE_PROTOCOL, "tls-handshake-failed", detail=detail)
    if reason == "UNSUPPORTED_PROTOCOL" and side == "server" and capture.client_hello is not None:
        return _failure(SSL_HANDSHAKE_EXCEPTION, _protocol_refusal(capture.client_hello, capture.security),
                        "tls-handshake-failed", detail=detail)
    if reason in _NOT_TLS_REASONS:
        return _failure(SSL_EXCEPTION, UNRECOGNIZED_MESSAGE, "tls-not-spoken", detail=detail)
    if isinstance(error, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
        return _failure(SSL_HANDSHAKE_EXCEPTION, REMOTE_TERMINATED, "tls-handshake-aborted", detail=detail)
    alert = _ALERT_REASON.match(reason)
    if alert is not None:
        return _failure(SSL_HANDSHAKE_EXCEPTION, f"Received fatal alert: {alert['name'].lower()}", "tls-handshake-failed",
                        detail=detail)
    return _failure(SSL_HANDSHAKE_EXCEPTION, error.strerror or reason or str(error), "tls-handshake-failed", detail=detail)


def _protocol_refusal(hello: ClientHello, security: JavaSecurity) -> str:
    """A JDK 17 server's words for a ClientHello offering no version it enables
    (sun.security.ssl.ClientHello: run with 17.0.15, research-12 §8c)."""
    if hello.supported_versions:
        offered = ", ".join(_VERSION_NAMES.get(v, f"0x{v:04X}") for v in hello.supported_versions)
        return (f"The client supported protocol versions [{offered}] are not accepted by server preferences "
                f"[{', '.join(security.enabled_protocols())}]")
    requested = _VERSION_NAMES.get(hello.legacy_version, f"0x{hello.legacy_version:04X}")
    return f"Client requested protocol {requested} is not enabled or supported in server context"


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
