"""The Front End's MTLS server side: pyOpenSSL on memory BIOs, driven by the asyncio shell.

Why not Python's ``ssl``: Lync's SChannel accepts a client certificate whose EKU is
serverAuth only, while OpenSSL sets the ``ssl_client`` purpose on a server and fails such a
certificate with X509_V_ERR_INVALID_PURPOSE ("unsuitable certificate purpose") — and
Python's ``ssl`` cannot change that. A pyOpenSSL verify callback sees every verification
error, ignores that one unless strictness is asked for, and records them all as evidence.
pyOpenSSL also sends the trusted CAs' names in the CertificateRequest (as SChannel does)
and writes an NSS key log.

The protocol versions, cipher suites (in SChannel's order: the server's order wins) and
DHE group are the Front End's profile (:mod:`._profiles`). :func:`windows_view` says what
SChannel and the Windows chain engine would report for a failed handshake.

No sockets here: :class:`MtlsServerSession` takes the bytes the peer sent and hands back
the bytes to send, like the SIP core.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from OpenSSL import SSL, crypto
from OpenSSL._util import exception_from_error_queue
from OpenSSL._util import ffi as _ffi, lib as _lib  # X509_verify_cert_error_string

from ._certinfo import describe_certificate
from ._config import FrontendConfig
from ._profiles import FFDHE2048_PEM, TlsProfile
from ._windows import schannel_event, hresult

__all__ = ["MtlsServerContext", "MtlsServerSession", "TlsFailure", "VerifyError", "openssl_ciphers", "windows_view"]

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
ALERT_CODES = {name: code for code, name in ALERTS.items()}
_VERSIONS = {"1.0": SSL.TLS1_VERSION, "1.1": SSL.TLS1_1_VERSION, "1.2": SSL.TLS1_2_VERSION,
             "1.3": SSL.TLS1_3_VERSION}
_READ_SIZE = 65536


def openssl_ciphers(profile: TlsProfile) -> str:
    """The profile's suites up to TLS 1.2 as an OpenSSL cipher string. With TLS 1.0 or 1.1
    enabled the security level drops to 0: OpenSSL 3 refuses their MD5/SHA-1 handshake
    signatures at any higher level, and SChannel does not."""
    ciphers = ":".join(profile.ciphers)
    return ciphers + ":@SECLEVEL=0" if {"1.0", "1.1"} & set(profile.versions) else ciphers


# One read buffer per thread (a lab may run in a thread of its own): every SSL_read and
# BIO_read fills it and copies out what it got at once, so connections can share it.
_BUFFERS = threading.local()


def _read_buffer() -> Any:
    buffer = getattr(_BUFFERS, "buffer", None)
    if buffer is None:
        buffer = _BUFFERS.buffer = _ffi.new("char[]", _READ_SIZE)
    return buffer


class _Known:
    """A certificate seen before, with what the event log says about it."""

    __slots__ = ("certificate", "description", "subject")

    def __init__(self, der: bytes) -> None:
        self.certificate = x509.load_der_x509_certificate(der)
        self.description = describe_certificate(self.certificate)
        self.subject = self.description["subject"]


# A peer presents the same certificates on every connection: each is parsed and described
# once (bounded: the least recently seen are dropped).
_KNOWN: OrderedDict[bytes, _Known] = OrderedDict()
_KNOWN_LIMIT = 256
_KNOWN_LOCK = threading.Lock()


def _known(certificate: crypto.X509) -> _Known:
    der = crypto.dump_certificate(crypto.FILETYPE_ASN1, certificate)
    with _KNOWN_LOCK:
        known = _KNOWN.get(der)
        if known is not None:
            _KNOWN.move_to_end(der)
            return known
    known = _Known(der)
    with _KNOWN_LOCK:
        _KNOWN[der] = known
        if len(_KNOWN) > _KNOWN_LIMIT:
            _KNOWN.popitem(last=False)
    return known


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


def _load_dh_group(context: SSL.Context) -> None:
    """The DHE suites' group (pyOpenSSL reads DH parameters from a file only)."""
    with tempfile.NamedTemporaryFile(prefix="ffdhe2048-", suffix=".pem") as file:
        file.write(FFDHE2048_PEM)
        file.flush()
        context.load_tmp_dh(file.name)


class MtlsServerContext:
    """The TLS configuration every connection of one Front End shares.

    Raises ``OSError`` for a file that cannot be read and ``ValueError`` (naming the file)
    for one that holds the wrong thing, or a key that is not the certificate's.
    """

    def __init__(self, config: FrontendConfig) -> None:
        self.strict_eku = config.require_client_auth_eku
        profile = config.tls_profile
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_min_proto_version(_VERSIONS[profile.minimum])
        context.set_max_proto_version(_VERSIONS[profile.maximum])
        context.set_cipher_list(openssl_ciphers(profile).encode("ascii"))
        if profile.tls13_suites:
            context.set_tls13_ciphersuites(":".join(profile.tls13_suites).encode("ascii"))
        _load_dh_group(context)
        # Every connection shows its certificate: no session resumption, no tickets. The
        # server's suite order wins, as SChannel's does.
        context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        context.set_options(SSL.OP_NO_TICKET | SSL.OP_CIPHER_SERVER_PREFERENCE)
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
        # OpenSSL's callbacks, set directly: pyOpenSSL's set_verify/set_info_callback wrap
        # every call in Python objects, and a handshake makes about twenty (state changes).
        # Ours cost a flag test unless there is something to record. The context keeps them.
        self._verify_callback = _ffi.callback("int (*)(int, X509_STORE_CTX *)", self._verify)
        self._info_callback = _ffi.callback("void (*)(const SSL *, int, int)", _info)
        _lib.SSL_CTX_set_verify(context._context, SSL.VERIFY_PEER | required, self._verify_callback)  # pyOpenSSL's field
        _lib.SSL_CTX_set_info_callback(context._context, self._info_callback)
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

    def _verify(self, ok: int, store: Any) -> int:
        """OpenSSL's verify callback: record an error, and say whether policy ignores it."""
        if ok:
            return 1
        try:
            code = _lib.X509_STORE_CTX_get_error(store)
            # SChannel does not hold the ssl_client purpose against a client certificate.
            ignored = code == X509_V_ERR_INVALID_PURPOSE and not self.strict_eku
            certificate = _lib.X509_STORE_CTX_get_current_cert(store)
            _lib.X509_up_ref(certificate)
            subject = crypto.X509._from_raw_x509_ptr(certificate).to_cryptography().subject.rfc4514_string()
            _session_of(_lib.X509_STORE_CTX_get_ex_data(store, _lib.SSL_get_ex_data_X509_STORE_CTX_idx())).verify_errors.append(
                VerifyError(depth=_lib.X509_STORE_CTX_get_error_depth(store), code=code, text=verify_error_text(code),
                            subject=subject, ignored=ignored))
        except Exception:  # noqa: BLE001 - an exception must not cross OpenSSL: refuse the certificate
            return 0
        if ignored:
            _lib.X509_STORE_CTX_set_error(store, _lib.X509_V_OK)
            return 1
        return 0


_SSL_CB_ALERT, _SSL_CB_WRITE = _lib.SSL_CB_ALERT, _lib.SSL_CB_WRITE
_UNSET = object()


def _session_of(ssl: Any) -> MtlsServerSession:
    """The session of an OpenSSL ``SSL *`` (pyOpenSSL's own map of its connections)."""
    return SSL.Connection._reverse_mapping[ssl].get_app_data()


def _info(ssl: Any, where: int, value: int) -> None:
    """OpenSSL's info callback: record the alerts sent and received."""
    if where & _SSL_CB_ALERT:
        try:
            direction = "sent" if where & _SSL_CB_WRITE else "received"
            description = value & 0xFF
            _session_of(ssl).alerts.append((direction, ALERTS.get(description, str(description))))
        except Exception:  # noqa: BLE001, S110 - an exception must not cross OpenSSL; the alert goes unrecorded
            pass


class MtlsServerSession:
    """One server-side MTLS connection, sans-I/O.

    Feed what the peer sent to :meth:`receive` (``b""`` for EOF); it returns application
    data once the handshake is done. Send with :meth:`send`; after every call, pass
    :meth:`data_to_send` to the socket (it holds handshake messages and alerts too).

    The record layer is read and written through OpenSSL's own ``SSL_read``/``BIO_read``
    on one reusable buffer (what ``Connection.recv``/``bio_read`` call, minus a new buffer
    and an exception per call): a kept-alive SIP connection does this for every message.
    """

    def __init__(self, context: SSL.Context) -> None:
        self.verify_errors: list[VerifyError] = []
        self.alerts: list[tuple[str, str]] = []
        self.handshake_done = False
        self.peer_closed = False
        # The peer closed TCP without close_notify: nothing more is sent (no alert for
        # the truncation, no close_notify of ours).
        self.truncated = False
        self._connection = SSL.Connection(context, None)
        self._connection.set_app_data(self)
        self._connection.set_accept_state()
        # What the handshake established, read once.
        self._memo_peer: _Known | None | object = _UNSET
        self._memo_chain: list[_Known] | None = None
        self._memo_verified: list[_Known] | None = None

    def receive(self, data: bytes | memoryview) -> bytes:
        """Process bytes from the peer (``b""``: EOF); return the application data they carried.

        Raises :class:`TlsFailure` when the handshake fails, ``SSL.Error`` when the
        peer breaks TLS afterwards.
        """
        if data:
            # OpenSSL's own BIO_write (what Connection.bio_write calls, minus its checks);
            # ``data`` may be any buffer (the shell passes a view of its read buffer).
            written = _lib.BIO_write(self._connection._into_ssl, _ffi.from_buffer(data), len(data))  # pyOpenSSL's own field
            if written != len(data):  # a memory BIO takes all; anything else is pyOpenSSL's to report
                self._connection.bio_write(bytes(data))
        else:
            self._connection.bio_shutdown()
        if not self.handshake_done:
            try:
                # OpenSSL's own SSL_do_handshake: waiting for more bytes is the usual answer
                # and costs no exception; a failure is raised as pyOpenSSL raises it.
                ssl = self._connection._ssl  # pyOpenSSL's own field
                result = _lib.SSL_do_handshake(ssl)
                if result <= 0:
                    error = _lib.SSL_get_error(ssl, result)
                    if error == _lib.SSL_ERROR_WANT_READ:
                        raise SSL.WantReadError()
                    if error == _lib.SSL_ERROR_SYSCALL:
                        raise SSL.SysCallError(-1, "Unexpected EOF")
                    exception_from_error_queue(SSL.Error)
            except SSL.WantReadError:
                if not data:
                    self._truncated()
                    raise TlsFailure("peer closed the connection during the handshake", [],
                                     self.verify_errors, self.alerts) from None
                return b""
            except SSL.Error as error:
                if not data:  # EOF: OpenSSL reports it as a system call error
                    self._truncated()
                    raise TlsFailure("peer closed the connection during the handshake", [],
                                     self.verify_errors, self.alerts) from None
                reasons = _reasons(error)
                refused = [e.text for e in self.verify_errors if not e.ignored]
                message = refused[0] if refused else (reasons[0] if reasons else "handshake failed")
                raise TlsFailure(message, reasons, self.verify_errors, self.alerts) from None
            self.handshake_done = True
        return self._read_application_data()

    def _read_application_data(self) -> bytes:
        ssl, buffer = self._connection._ssl, _read_buffer()  # pyOpenSSL's own fields (see the class docstring)
        chunks = []
        while True:
            count = _lib.SSL_read(ssl, buffer, _READ_SIZE)
            if count > 0:
                chunks.append(_ffi.buffer(buffer, count)[:])
                continue
            error = _lib.SSL_get_error(ssl, count)
            if error == _lib.SSL_ERROR_WANT_READ:
                break
            if error == _lib.SSL_ERROR_ZERO_RETURN:  # close_notify
                self.peer_closed = True
                break
            if error == _lib.SSL_ERROR_SYSCALL:  # EOF without close_notify
                self._truncated()
                break
            # A broken record (bad MAC, an alert ...): pyOpenSSL raises SSL.Error with the
            # reasons OpenSSL queued.
            self._connection.recv(_READ_SIZE)
        return b"".join(chunks)

    def _truncated(self) -> None:
        """The peer closed TCP without close_notify. OpenSSL 3 treats that as an error and
        queues a ``decode_error`` alert; a TCP close is no malformed message and the
        connection is gone, so what was queued is dropped (SChannel answers a TCP close
        with nothing: assumed, no capture shows otherwise)."""
        self.peer_closed = True
        self.truncated = True
        self.data_to_send()
        self.alerts = [alert for alert in self.alerts if alert[0] != "sent"]

    def send(self, data: bytes) -> None:
        """Encrypt application data (take it with :meth:`data_to_send`)."""
        # pyOpenSSL enables partial writes: each SSL_write takes at most one record.
        ssl, pointer, offset = self._connection._ssl, _ffi.from_buffer(data), 0  # pyOpenSSL's own field
        while offset < len(data):
            written = _lib.SSL_write(ssl, pointer + offset, len(data) - offset)
            if written <= 0:  # not for a memory BIO; pyOpenSSL raises what went wrong
                self._connection.sendall(data[offset:])
                return
            offset += written

    def close(self) -> None:
        """Send close_notify (take it with :meth:`data_to_send`); nothing after a
        truncated close."""
        if self.truncated:
            return
        try:
            self._connection.shutdown()
        except SSL.Error:  # the handshake never finished: there is nothing to close
            pass

    def data_to_send(self) -> bytes:
        """Bytes waiting to go to the peer."""
        bio, buffer = self._connection._from_ssl, _read_buffer()  # pyOpenSSL's own fields (see the class docstring)
        chunks = []
        while (count := _lib.BIO_read(bio, buffer, _READ_SIZE)) > 0:
            chunks.append(_ffi.buffer(buffer, count)[:])
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

    def _peer(self) -> _Known | None:
        if self._memo_peer is not _UNSET:
            return self._memo_peer
        leaf = self._connection.get_peer_certificate()
        known = _known(leaf) if leaf is not None else None
        if self.handshake_done:  # the certificates are final from then on
            self._memo_peer = known
        return known

    def peer_certificate(self) -> x509.Certificate | None:
        """The client's certificate."""
        known = self._peer()
        return known.certificate if known is not None else None

    def peer_description(self) -> dict[str, Any] | None:
        """The client's certificate as the event log describes it (:func:`describe_certificate`)."""
        known = self._peer()
        return known.description if known is not None else None

    def _peer_chain(self) -> list[_Known]:
        if self._memo_chain is not None:
            return self._memo_chain
        leaf = self._peer()
        sent = [_known(c) for c in self._connection.get_peer_cert_chain() or []]
        if leaf is not None and (not sent or sent[0] is not leaf):
            sent = [leaf, *sent]
        if self.handshake_done:
            self._memo_chain = sent
        return sent

    def _verified(self) -> list[_Known]:
        if self._memo_verified is not None:
            return self._memo_verified
        verified = [_known(c) for c in self._connection.get_verified_chain() or []]
        if self.handshake_done:
            self._memo_verified = verified
        return verified

    def peer_chain(self) -> list[x509.Certificate]:
        """The certificates the client sent, leaf first (on a server OpenSSL's peer chain
        leaves the leaf out)."""
        return [k.certificate for k in self._peer_chain()]

    def verified_chain(self) -> list[x509.Certificate]:
        """The chain verification built, leaf to trust anchor."""
        return [k.certificate for k in self._verified()]

    def handshake_facts(self) -> dict[str, Any]:
        """JSON-ready facts of a finished handshake for the event log."""
        return {
            "version": self.version,
            "cipher": self.cipher,
            "peer": self.peer_description(),
            "chain_subjects": [k.subject for k in self._peer_chain()],
            "verified_chain": [k.subject for k in self._verified()],
            "verify_errors": [e.as_dict() for e in self.verify_errors],
        }


# OpenSSL's verification errors and what the Windows chain engine reports for the same
# fault (chain status), then what SChannel returns (X509_V_ERR_* numbers from x509_vfy.h).
# The pairing is by meaning (assumed: Windows is not OpenSSL, no source pairs them).
_CHAIN_STATUS = {
    2: ("CERT_E_CHAINING", "SEC_E_UNTRUSTED_ROOT"),  # unable to get issuer certificate
    20: ("CERT_E_CHAINING", "SEC_E_UNTRUSTED_ROOT"),  # unable to get local issuer certificate
    21: ("CERT_E_CHAINING", "SEC_E_UNTRUSTED_ROOT"),  # unable to verify the first certificate
    18: ("CERT_E_UNTRUSTEDROOT", "SEC_E_UNTRUSTED_ROOT"),  # self-signed certificate
    19: ("CERT_E_UNTRUSTEDROOT", "SEC_E_UNTRUSTED_ROOT"),  # self-signed certificate in chain
    9: ("CERT_E_EXPIRED", "SEC_E_CERT_EXPIRED"),  # certificate is not yet valid
    10: ("CERT_E_EXPIRED", "SEC_E_CERT_EXPIRED"),  # certificate has expired
    7: ("TRUST_E_CERT_SIGNATURE", "SEC_E_CERT_UNKNOWN"),  # certificate signature failure
    23: ("CRYPT_E_REVOKED", "CRYPT_E_REVOKED"),  # certificate revoked
    26: ("CERT_E_WRONG_USAGE", "SEC_E_CERT_WRONG_USAGE"),  # unsuitable certificate purpose
}
_SERVER_SIDE = ("SChannel does not validate client certificates (MicrosoftDocs/win32 'Performing Authentication "
                "Using Schannel'): Lync does, and which event its server logs is not documented; 36877 is "
                "SChannel's only server-side certificate event")


def windows_view(failure: TlsFailure, version: str | None = None) -> dict[str, Any]:
    """What SChannel (``schannel``: event, HRESULT, texts) and the chain engine
    (``chain_status``) would say about a failed server-side handshake."""
    refused = next((e for e in failure.verify_errors if not e.ignored), None)
    sent = next((a for d, a in failure.alerts if d == "sent"), None)
    received = next((a for d, a in failure.alerts if d == "received"), None)
    if refused is not None:
        chain, code = _CHAIN_STATUS.get(refused.code, ("CERT_E_CHAINING", "SEC_E_CERT_UNKNOWN"))
        value = hresult(code)["hresult"]
        return {"schannel": schannel_event(36877, value, code, assumed=_SERVER_SIDE), "chain_status": hresult(chain)}
    if received is not None:
        # The peer refused us (typically: it does not trust the Front End's certificate).
        return {"schannel": schannel_event(36887, str(ALERT_CODES.get(received, received)), "SEC_E_ILLEGAL_MESSAGE",
                                           assumed="the HRESULT SChannel returns after a fatal alert is not documented"),
                "chain_status": None}
    if "no shared cipher" in failure.reasons:
        return {"schannel": schannel_event(36874, f"TLS {version or '1.2'}", "SEC_E_ALGORITHM_MISMATCH"),
                "chain_status": None}
    if sent is not None:
        return {"schannel": schannel_event(36888, str(ALERT_CODES.get(sent, sent)), None,
                                           assumed="SChannel's internal error state and HRESULT for this alert are not documented"),
                "chain_status": None}
    return {"schannel": None, "chain_status": None}
