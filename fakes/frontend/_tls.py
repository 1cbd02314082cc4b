"""The Front End's MTLS server side: pyOpenSSL on memory BIOs, driven by the asyncio shell.

Why not Python's ``ssl``: Lync's SChannel accepts a client certificate whose EKU is
serverAuth only, while OpenSSL sets the ``ssl_client`` purpose on a server and fails such a
certificate with X509_V_ERR_INVALID_PURPOSE ("unsuitable certificate purpose") — and
Python's ``ssl`` cannot change that. A pyOpenSSL verify callback sees every verification
error, ignores that one unless strictness is asked for, and records them all as evidence.
pyOpenSSL also sends the trusted CAs' names in the CertificateRequest (as SChannel does)
and writes an NSS key log.

No sockets here: :class:`MtlsServerSession` takes the bytes the peer sent and hands back
the bytes to send, like the SIP core.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from OpenSSL import SSL, crypto
from OpenSSL._util import ffi as _ffi, lib as _lib  # X509_verify_cert_error_string

from ._certinfo import describe_certificate
from ._config import FrontendConfig

__all__ = ["MtlsServerContext", "MtlsServerSession", "TlsFailure", "VerifyError"]

X509_V_ERR_INVALID_PURPOSE = 26
# TLS alert descriptions (IANA TLS Alerts registry), for the event log.
ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
    40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
    116: "certificate_required", 120: "no_application_protocol",
}
_MIN_VERSIONS = {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}
_READ_SIZE = 65536


def verify_error_text(code: int) -> str:
    """OpenSSL's own text for an X509_V_ERR code (``10`` → "certificate has expired")."""
    return _ffi.string(_lib.X509_verify_cert_error_string(code)).decode("ascii", "replace")


@dataclass(frozen=True)
class VerifyError:
    """One error the certificate verification reported, and whether policy ignored it."""

    depth: int
    code: int
    text: str
    subject: str
    ignored: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the event log."""
        return {"depth": self.depth, "code": self.code, "text": self.text,
                "subject": self.subject, "ignored": self.ignored}


class TlsFailure(Exception):
    """The handshake failed; ``error`` is the most telling text (a verification error such
    as "certificate has expired", else OpenSSL's reason such as "peer did not return a
    certificate"); ``alerts`` the TLS alerts sent and received (``("sent", "unknown_ca")``)."""

    def __init__(self, error: str, reasons: Sequence[str], verify_errors: Sequence[VerifyError],
                 alerts: Sequence[tuple[str, str]]) -> None:
        super().__init__(error)
        self.error = error
        self.reasons = list(reasons)
        self.verify_errors = list(verify_errors)
        self.alerts = list(alerts)


def _reasons(error: SSL.Error) -> list[str]:
    """The reason strings of OpenSSL's error queue carried by a pyOpenSSL error."""
    details = error.args[0] if error.args else []
    if isinstance(details, list):
        return [str(entry[2]) for entry in details if isinstance(entry, tuple) and len(entry) == 3]
    return [str(details)]


def _load(path: Path, trouble: str, step: Callable[[str], object], certificate: Path | None = None) -> None:
    """One step loading ``path`` into the context: ``OSError`` if the file cannot be read,
    ``ValueError`` naming the file and ``trouble`` if OpenSSL refuses what it holds (for a
    key: that it is not the key of ``certificate``, when that is the reason)."""
    with open(path, "rb"):  # missing, a folder, unreadable: the OS says which
        pass
    try:
        step(str(path))
    except SSL.Error as error:
        reasons = _reasons(error)
        if certificate is not None and "key values mismatch" in reasons:  # checked as it loads
            trouble = f"is not the key of the certificate in {certificate}"
        raise ValueError(f"{path}: {trouble}" + (f" ({', '.join(reasons)})" if reasons else "")) from None


class MtlsServerContext:
    """The TLS configuration every connection of one Front End shares.

    Raises ``OSError`` for a file that cannot be read and ``ValueError`` (naming the file)
    for one that holds the wrong thing, or a key that is not the certificate's.
    """

    def __init__(self, config: FrontendConfig) -> None:
        self.strict_eku = config.require_client_auth_eku
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_min_proto_version(_MIN_VERSIONS[config.minimum_tls_version])
        # Every connection shows its certificate: no session resumption, no tickets.
        context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        context.set_options(SSL.OP_NO_TICKET)
        cert, key, cas = config.certificate_chain, config.private_key, config.trusted_cas
        _load(cert, "not a PEM certificate chain", context.use_certificate_chain_file)
        _load(key, "not an unencrypted PEM private key", context.use_privatekey_file, cert)
        _load(key, f"is not the key of the certificate in {cert}", lambda _path: context.check_privatekey())
        _load(cas, "holds no PEM CA certificate", context.load_verify_locations)
        # Without Kerberos a client certificate is required (MTLS only). With it, Lync's
        # 5061 behaviour: a certificate is asked for, and a client that sends none gets a
        # TLS connection whose requests must authenticate with MS-SIPAE. A certificate
        # that is sent is verified either way.
        required = 0 if config.kerberos is not None else SSL.VERIFY_FAIL_IF_NO_PEER_CERT
        context.set_verify(SSL.VERIFY_PEER | required, self._verify)
        context.set_info_callback(self._info)
        if config.client_ca_names:
            for authority in x509.load_pem_x509_certificates(config.trusted_cas.read_bytes()):
                context.add_client_ca(authority)
        self._keylog_fd: int | None = None
        if config.keylog_path is not None:
            # The key log decrypts the traffic: a secret, mode 0600, appended to.
            self._keylog_fd = os.open(config.keylog_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            context.set_keylog_callback(self._keylog)
        self._context = context

    def session(self) -> MtlsServerSession:
        """A new server-side TLS session for one accepted connection."""
        return MtlsServerSession(self._context)

    def close(self) -> None:
        """Close the key log."""
        if self._keylog_fd is not None:
            os.close(self._keylog_fd)
            self._keylog_fd = None

    def _keylog(self, _connection: SSL.Connection, line: bytes) -> None:
        if self._keylog_fd is not None:
            os.write(self._keylog_fd, line + b"\n")

    @staticmethod
    def _info(connection: SSL.Connection, where: int, value: int) -> None:
        if where & SSL.SSL_CB_ALERT:
            session: MtlsServerSession = connection.get_app_data()
            direction = "sent" if where & SSL.SSL_CB_WRITE else "received"
            description = value & 0xFF
            session.alerts.append((direction, ALERTS.get(description, str(description))))

    def _verify(self, connection: SSL.Connection, certificate: crypto.X509, code: int,
                depth: int, ok: int) -> bool:
        if code == 0:
            return bool(ok)
        # SChannel does not hold the ssl_client purpose against a client certificate.
        ignored = code == X509_V_ERR_INVALID_PURPOSE and not self.strict_eku
        session: MtlsServerSession = connection.get_app_data()
        session.verify_errors.append(VerifyError(
            depth=depth, code=code, text=verify_error_text(code),
            subject=certificate.to_cryptography().subject.rfc4514_string(), ignored=ignored))
        return ignored


class MtlsServerSession:
    """One server-side MTLS connection, sans-I/O.

    Feed what the peer sent to :meth:`receive` (``b""`` for EOF); it returns application
    data once the handshake is done. Send with :meth:`send`; after every call, pass
    :meth:`data_to_send` to the socket (it holds handshake messages and alerts too).
    """

    def __init__(self, context: SSL.Context) -> None:
        self.verify_errors: list[VerifyError] = []
        self.alerts: list[tuple[str, str]] = []
        self.handshake_done = False
        self.peer_closed = False
        self._connection = SSL.Connection(context, None)
        self._connection.set_app_data(self)
        self._connection.set_accept_state()

    def receive(self, data: bytes) -> bytes:
        """Process bytes from the peer; return the application data they carried.

        Raises :class:`TlsFailure` when the handshake fails, ``SSL.Error`` when the
        peer breaks TLS afterwards.
        """
        if data:
            self._connection.bio_write(data)
        else:
            self._connection.bio_shutdown()
        if not self.handshake_done:
            try:
                self._connection.do_handshake()
            except SSL.WantReadError:
                if not data:
                    raise TlsFailure("peer closed the connection during the handshake", [],
                                     self.verify_errors, self.alerts) from None
                return b""
            except SSL.Error as error:
                if not data:  # EOF: OpenSSL reports it as a system call error
                    raise TlsFailure("peer closed the connection during the handshake", [],
                                     self.verify_errors, self.alerts) from None
                reasons = _reasons(error)
                refused = [e.text for e in self.verify_errors if not e.ignored]
                message = refused[0] if refused else (reasons[0] if reasons else "handshake failed")
                raise TlsFailure(message, reasons, self.verify_errors, self.alerts) from None
            self.handshake_done = True
        chunks = []
        while True:
            try:
                chunks.append(self._connection.recv(_READ_SIZE))
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:  # close_notify
                self.peer_closed = True
                break
            except SSL.SysCallError:  # EOF without close_notify
                self.peer_closed = True
                break
        return b"".join(chunks)

    def send(self, data: bytes) -> None:
        """Encrypt application data (take it with :meth:`data_to_send`)."""
        self._connection.sendall(data)

    def close(self) -> None:
        """Send close_notify (take it with :meth:`data_to_send`)."""
        try:
            self._connection.shutdown()
        except SSL.Error:  # the handshake never finished: there is nothing to close
            pass

    def data_to_send(self) -> bytes:
        """Bytes waiting to go to the peer."""
        chunks = []
        while True:
            try:
                chunks.append(self._connection.bio_read(_READ_SIZE))
            except SSL.WantReadError:
                return b"".join(chunks)

    # -- what the handshake established ---------------------------------------------------

    @property
    def version(self) -> str:
        """"TLSv1.2" or "TLSv1.3"."""
        return self._connection.get_protocol_version_name()

    @property
    def cipher(self) -> str | None:
        """The negotiated cipher suite's OpenSSL name."""
        return self._connection.get_cipher_name()

    def peer_certificate(self) -> x509.Certificate | None:
        """The client's certificate."""
        return self._connection.get_peer_certificate(as_cryptography=True)

    def peer_chain(self) -> list[x509.Certificate]:
        """The certificates the client sent, leaf first (on a server OpenSSL's peer chain
        leaves the leaf out)."""
        leaf = self.peer_certificate()
        sent = self._connection.get_peer_cert_chain(as_cryptography=True) or []
        if leaf is not None and (not sent or sent[0] != leaf):
            sent = [leaf, *sent]
        return sent

    def verified_chain(self) -> list[x509.Certificate]:
        """The chain verification built, leaf to trust anchor."""
        return self._connection.get_verified_chain(as_cryptography=True) or []

    def handshake_facts(self) -> dict[str, Any]:
        """JSON-ready facts of a finished handshake for the event log."""
        leaf = self.peer_certificate()
        return {
            "version": self.version,
            "cipher": self.cipher,
            "peer": describe_certificate(leaf) if leaf is not None else None,
            "chain_subjects": [c.subject.rfc4514_string() for c in self.peer_chain()],
            "verified_chain": [c.subject.rfc4514_string() for c in self.verified_chain()],
            "verify_errors": [e.as_dict() for e in self.verify_errors],
        }
