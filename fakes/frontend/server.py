"""The Front End stand-in as a server: SIP over MTLS on a port, plus the presence push.

In a lab::

    server = FrontendServer(config)
    await server.start()                      # 127.0.0.1, a free port
    ... server.port, server.events ...
    result = await server.push_to_connector("127.0.0.1", ucc_port, server_name="ucc01.companya.com")
    await server.close()

Alone: ``python -m fakes.frontend --cert PEM --key PEM --ca PEM --fqdn fe01.companya.com
--known-peer ucc01.companya.com [--port 5061] [--profile sfb2015]`` prints one line
starting with ``frontend listening on`` once it serves, and serves until SIGINT or
SIGTERM. With ``--spn-password`` (the password of the AD account holding ``sip/<fqdn>``,
whose keys are derived as AD derives them) or ``--spn-keys`` (a JSON keytab), clients
without a certificate may connect and authenticate with MS-SIPAE Kerberos.

The shell only moves bytes and time. Each accepted connection is an ``asyncio.Protocol``
(:class:`_Connection`) that runs TLS itself (through :mod:`._tls`), because
``asyncio.start_server(ssl=...)`` hides handshake failures — the very evidence this
stand-in exists to record. Bytes go from the socket to TLS to the SIP core and back in the
same callback, with no task switch per message; each connection has one timer, moved only
when a nearer deadline appears. An error in one connection is logged as an event and
never reaches the others.

A connection's life: TCP accepted (or refused over the cap) → TLS handshake (one deadline
for the whole of it) → the client certificate's revocation checked against its CA's CRL
(:mod:`._revocation`; reading paused meanwhile) → the peer matched against the topology's
trusted application pools (:mod:`._topology`) → SIP (:class:`SipSession`), each message
with a deadline from its first byte, the connection with an idle timer.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import enum
import itertools
import random
import signal
import ssl
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import sipmessage
from cryptography import x509
from OpenSSL import SSL

from fakes._cli import connection_count, os_error_text, port_number, seconds
from fakes.kerberos import Key, enctype_name
from fakes.sip import (
    NEED_DATA,
    ConnectionClosed,
    Malformed,
    MessageReceived,
    SipStream,
    make_request,
)
from fakes.sipae import SipaeServer

from ._certinfo import describe_certificate
from ._config import FrontendConfig, FrontendKerberos, read_service_keys
from ._eventlog import EventLog
from ._profiles import DEFAULT_PROFILE, PROFILES
from ._registrar import Registrar, pidf_document
from ._revocation import CrlCache, RevocationResult
from ._session import Output, SipSession
from ._tls import MtlsServerContext, MtlsServerSession, TlsFailure, openssl_ciphers, verify_error_text, windows_view
from ._windows import (
    CERTIFICATE_TRUST_NEXT_HOP,
    LYNC_TLS_OUTGOING_FAILURES,
    SIPSTACK_NOT_A_CONFIGURED_SERVER,
    hresult,
    schannel_event,
    sipstack_record,
)

__all__ = ["FrontendServer", "PushResult", "main"]

_READ_SIZE = 65536
NOT_A_CONFIGURED_SERVER = SIPSTACK_NOT_A_CONFIGURED_SERVER
# Why a connection without a client certificate is served at all (the sipae-required event).
AUTHENTICATION_REQUIRED = "no client certificate: not a trusted peer, requests must authenticate (MS-SIPAE Kerberos)"
# A timer may fire a hair before its deadline (the loop's clock resolution): within this
# much it counts as reached.
_TIMER_SLACK = 0.001


@dataclass(frozen=True)
class PushResult:
    """Outcome of :meth:`FrontendServer.push_to_connector`, as the Front End saw it."""

    connection: int
    handshake_ok: bool
    error: str | None = None
    tls_version: str | None = None
    cipher: str | None = None
    peer_certificate: dict[str, Any] | None = None
    statuses: tuple[tuple[str, int, str], ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Handshake done and every request answered 2xx."""
        return (self.handshake_ok and self.error is None and bool(self.statuses)
                and all(200 <= status < 300 for _method, status, _reason in self.statuses))


class FrontendServer:
    """A Lync Front End pool server: SIP registrar/presence over MTLS, and over TLS with
    MS-SIPAE Kerberos when ``config.kerberos`` is set.

    ``now`` and ``rng`` are injected (event times, binding expiry, tags, branches, the
    Kerberos clock, SA ids, CRL validity); ``event_log_path`` mirrors :attr:`events` into a
    JSONL file. The certificate, key and trusted CAs are loaded here, so a bad file fails at
    once (``OSError`` if it cannot be read, ``ValueError`` naming it if it holds the wrong
    thing).
    """

    def __init__(self, config: FrontendConfig, *, now: Callable[[], float] = time.time,
                 rng: random.Random | None = None, event_log_path: Path | None = None) -> None:
        self.config = config
        self.events = EventLog(now=now, path=event_log_path)
        self._now = now
        self._rng = rng if rng is not None else random.Random()
        self._tls = MtlsServerContext(config)
        self.registrar = Registrar(config.fqdn, now=now, rng=self._rng,
                                   server_header=config.tls_profile.server_header, sip_users=config.sip_users)
        self.sipae = self._sipae_server(config.kerberos) if config.kerberos is not None else None
        self.crls = CrlCache(hosts=dict(config.cdp_hosts), timeout=config.cdp_timeout, now=self._utcnow)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._checks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._ids = itertools.count(1)
        self._port: int | None = None
        self.host = ""

    def _utcnow(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._now(), datetime.timezone.utc)

    def _sipae_server(self, kerberos: FrontendKerberos) -> SipaeServer:
        return SipaeServer(
            targetname=self.config.kerberos_targetname, service_keys=kerberos.service_keys,
            now=self._utcnow, rng=self._rng.randbytes, realm=kerberos.realm, version=kerberos.version,
            max_skew=kerberos.max_skew, ntlm_targetname=self.config.fqdn if kerberos.offer_ntlm else None)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host``:``port`` (0: a free port the OS picks)."""
        if self._server is not None:
            raise RuntimeError("the Front End is already started")
        self._closing = False
        loop = asyncio.get_running_loop()
        # A deep backlog: hundreds of peers may connect at once (load tests, a pool restart).
        self._server = await loop.create_server(lambda: _Connection(self), host, port, backlog=1024)
        self.host = host
        self._port = self._server.sockets[0].getsockname()[1]
        self.registrar.port = self._port
        self.events.append("listening", host=host, port=self._port, fqdn=self.config.fqdn,
                           profile=self.config.profile)

    @property
    def port(self) -> int:
        """The port it listens on."""
        if self._port is None:
            raise RuntimeError("the Front End is not started")
        return self._port

    async def close(self) -> None:
        """Stop listening, end every connection, close the key log and the event log."""
        if self._server is not None:
            self._closing = True  # a connection accepted from now on is dropped at once
            self._server.close()
            for connection in list(self._connections):
                connection.abort("the Front End stopped")
            for task in list(self._checks):
                task.cancel()
            await asyncio.gather(*self._checks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        self._tls.close()
        self.events.close()

    def reconfigure(self, config: FrontendConfig) -> None:
        """Serve connections opened from now on with ``config`` (a new certificate, other
        trusted CAs, topology, profile or revocation settings — what an administrator
        changes on a running pool).

        The new certificate, key and CAs are loaded first: a bad file raises here
        (``OSError`` or ``ValueError``) and nothing changes. Connections already
        open keep what they were accepted with.
        """
        tls = MtlsServerContext(config)
        sipae = self.sipae
        if config.kerberos != self.config.kerberos:  # security associations survive otherwise
            sipae = self._sipae_server(config.kerberos) if config.kerberos is not None else None
        old = self._tls
        self.config, self._tls, self.sipae = config, tls, sipae
        self.registrar.server_header = config.tls_profile.server_header
        self.registrar.sip_users = config.sip_users
        self.crls.hosts = {name.lower().rstrip("."): address for name, address in config.cdp_hosts}
        self.crls.timeout = config.cdp_timeout
        old.close()
        self.events.append("reconfigured", known_peers=config.trusted_topology.known_fqdns,
                           certificate=str(config.certificate_chain), trusted_cas=str(config.trusted_cas),
                           profile=config.profile, check_revocation=config.check_revocation)

    async def __aenter__(self) -> FrontendServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- the presence push: the Front End as TLS client of the connector -------------------

    def _client_context(self) -> ssl.SSLContext:
        """Python ``ssl`` is right here: the certificate checks that matter are the
        connector's (the TLS server); ours is the usual server-name check. The versions and
        suites are the profile's: SChannel's client side offers what the server side does."""
        profile = self.config.tls_profile
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        with warnings.catch_warnings():  # Python deprecates TLS 1.0/1.1; SChannel still offers them
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = _SSL_VERSIONS[profile.minimum]
        context.maximum_version = _SSL_VERSIONS[profile.maximum]
        context.set_ciphers(openssl_ciphers(profile))
        context.load_verify_locations(cafile=str(self.config.trusted_cas))
        context.load_cert_chain(str(self.config.certificate_chain), str(self.config.private_key))
        if self.config.keylog_path is not None:
            context.keylog_filename = str(self.config.keylog_path)
        return context

    async def push_to_connector(self, host: str, port: int, *, server_name: str,
                                requests: Sequence[str] = ("OPTIONS", "NOTIFY"),
                                timeout: float = 10.0) -> PushResult:
        """Connect to the connector's Secured SIP port as the Front End (its certificate as
        client certificate), verify the connector's certificate against the trusted CAs
        and ``server_name`` (the UCC FQDN), send ``requests`` and collect the statuses.

        Never raises for what the peer does: the result (and the ``push-*`` events) say
        what happened.
        """
        connection = next(self._ids)
        self.events.append("push-started", connection, host=host, port=port,
                           server_name=server_name, requests=list(requests))
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                host, port, ssl=self._client_context(), server_hostname=server_name,
                ssl_handshake_timeout=timeout), timeout)
        except ssl.SSLCertVerificationError as error:
            return self._push_failed(connection, error.verify_message or str(error), False,
                                     _push_view(error.verify_code, server_name))
        except ssl.SSLError as error:
            return self._push_failed(connection, error.reason or str(error), False)
        except (OSError, TimeoutError) as error:
            return self._push_failed(connection, str(error) or type(error).__name__, False)
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        peer = describe_certificate(x509.load_der_x509_certificate(der)) if der else None
        cipher = ssl_object.cipher()
        tls = {"version": ssl_object.version(), "cipher": cipher[0] if cipher else None, "peer": peer}
        self.events.append("push-tls", connection, ok=True, **tls)
        statuses: list[tuple[str, int, str]] = []
        error_text: str | None = None
        try:
            stream = SipStream(self.config.limits)
            call_id = f"{self.registrar.new_tag()}@{self.config.fqdn}"
            from_tag = self.registrar.new_tag()
            for cseq, method in enumerate(requests, start=1):
                writer.write(self._push_request(method, server_name, port, call_id, from_tag, cseq))
                await writer.drain()
                response = await asyncio.wait_for(self._response(reader, stream), timeout)
                statuses.append((method, response.code, response.phrase))
                self.events.append("push-response", connection, method=method,
                                   status=response.code, reason=response.phrase)
        except ssl.SSLError as error:  # e.g. the connector's alert after a TLS 1.3 handshake
            error_text = error.reason or str(error)
        except (OSError, TimeoutError, _PushError) as error:
            error_text = str(error) or type(error).__name__
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass  # already closed by the peer
        if error_text is not None:
            self.events.append("push-failure", connection, error=error_text, handshake_ok=True)
        result = PushResult(connection, True, error_text, tls["version"], tls["cipher"], peer,
                            tuple(statuses))
        self.events.append("push-done", connection, ok=result.ok, statuses=[list(s) for s in statuses])
        return result

    def _push_failed(self, connection: int, error: str, handshake_ok: bool,
                     windows: dict[str, Any] | None = None) -> PushResult:
        self.events.append("push-failure", connection, error=error, handshake_ok=handshake_ok, **(windows or {}))
        return PushResult(connection, handshake_ok, error)

    def _push_request(self, method: str, server_name: str, port: int, call_id: str,
                      from_tag: str, cseq: int) -> bytes:
        own_uri = f"sip:{self.config.fqdn}"
        headers: list[tuple[str, str]] = [("User-Agent", self.config.tls_profile.server_header)]
        body = b""
        if method == "NOTIFY":
            headers += [("Event", "presence"), ("Subscription-State", "active;expires=3600"),
                        ("Content-Type", "application/pidf+xml")]
            body = pidf_document(own_uri, True, self._now()).encode("utf-8")
        return make_request(
            method, f"sip:{server_name}:{port};transport=tls",
            via=f"SIP/2.0/TLS {self.config.fqdn}:{self._port or 5061}",
            branch=self.registrar.new_branch(), from_uri=own_uri, from_tag=from_tag,
            to_uri=f"sip:{server_name}", call_id=call_id, cseq=cseq, headers=headers, body=body)

    @staticmethod
    async def _response(reader: asyncio.StreamReader, stream: SipStream) -> sipmessage.Response:
        """The next final response on the stream (provisional ones skipped)."""
        while True:
            event = stream.next_event()
            if event is NEED_DATA:
                stream.receive_data(await reader.read(_READ_SIZE))
                continue
            if isinstance(event, ConnectionClosed):
                raise _PushError("connection closed before a response")
            if isinstance(event, Malformed):
                raise _PushError(f"malformed answer: {event.status} {event.reason}")
            if isinstance(event, MessageReceived) and isinstance(event.message, sipmessage.Response):
                if event.message.code >= 200:
                    return event.message


_SSL_VERSIONS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2,
                 "1.3": ssl.TLSVersion.TLSv1_3}
# OpenSSL's verify codes of a server certificate the push refused → the SChannel client
# event and HRESULT for the same fault (manifest templates and winerror.h, :mod:`._windows`).
_PUSH_EVENTS = {
    9: (36881, "SEC_E_CERT_EXPIRED"), 10: (36881, "SEC_E_CERT_EXPIRED"),
    2: (36882, "SEC_E_UNTRUSTED_ROOT"), 18: (36882, "SEC_E_UNTRUSTED_ROOT"), 19: (36882, "SEC_E_UNTRUSTED_ROOT"),
    20: (36882, "SEC_E_UNTRUSTED_ROOT"), 21: (36882, "SEC_E_UNTRUSTED_ROOT"),
    23: (36883, "CRYPT_E_REVOKED"), 62: (36884, "SEC_E_WRONG_PRINCIPAL"),  # 62: hostname mismatch
    26: (36876, "SEC_E_CERT_WRONG_USAGE"),
}


def _push_view(verify_code: int | None, server_name: str) -> dict[str, Any]:
    """What Windows and Lync log when the Front End (a TLS client) refuses the connector's
    certificate: SChannel's client event, Lync's 14428, and the ms-diagnostics 1010 a
    request the Front End routed there would be answered with (assumed pairing: no trace
    shows the three together)."""
    event_id, code = _PUSH_EVENTS.get(verify_code or 0, (36876, "SEC_E_CERT_UNKNOWN"))
    insertion = {36884: server_name, 36876: hresult(code)["hresult"]}.get(event_id, "")
    return {"schannel": schannel_event(event_id, insertion, code), "lync_event": LYNC_TLS_OUTGOING_FAILURES,
            "ms_diagnostics": CERTIFICATE_TRUST_NEXT_HOP.as_dict()}


class _Phase(enum.Enum):
    HANDSHAKE = "handshake"  # TLS under way (one deadline for all of it)
    CHECKING = "checking"  # handshake done, the certificate's revocation being checked
    SIP = "sip"  # serving SIP
    CLOSING = "closing"  # we closed; nothing more is read


# The socket is read into one buffer per thread (a lab may run in a thread of its own):
# each read is handed to TLS at once, so every connection can use it, and no read allocates
# (asyncio's plain Protocol gets a new 256 KiB bytes object per read).
_READS = threading.local()


def _read_buffer() -> memoryview:
    buffer = getattr(_READS, "buffer", None)
    if buffer is None:
        buffer = _READS.buffer = memoryview(bytearray(_READ_SIZE))
    return buffer


class _Connection(asyncio.BufferedProtocol):
    """One accepted TCP connection: TLS, the peer checks, then SIP (see the module's
    docstring). Every record it makes carries its number (``connection``)."""

    def __init__(self, server: FrontendServer) -> None:
        self._server = server
        self._events = server.events
        self.id = next(server._ids)
        self._config = server.config  # what this connection was accepted with
        self._transport: asyncio.Transport | None = None
        self._tls: MtlsServerSession | None = None
        self._sip: SipSession | None = None
        self._phase = _Phase.HANDSHAKE
        self._address: tuple[str, int] | None = None
        self._peer: str | None = None
        self._logged_closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._handshake_deadline = 0.0
        self._idle_deadline = 0.0
        self._message_deadline: float | None = None
        self._timed: int | None = None  # the message (0: a TLS record) the message deadline is for
        self._record_arriving = False
        self._held = b""  # plaintext that came while the certificate was being checked
        self._reading_paused_for: set[str] = set()

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        server = self._server
        address = transport.get_extra_info("peername")
        if address:
            self._address = (address[0], address[1])
            self._peer = f"{address[0]}:{address[1]}"
        if server._closing:  # accepted while close() runs: nothing to serve it with
            self._logged_closed = True
            transport.abort()
            return
        if len(server._connections) >= self._config.max_connections:
            # What Lync does at a connection limit is not published (assumed): the
            # connection is closed before TLS, and the log says why.
            self._events.append("connection-refused", self.id, peer=self._peer,
                                reason=f"too many connections: {len(server._connections)} open, "
                                       f"the limit is {self._config.max_connections}")
            self._logged_closed = True
            transport.abort()
            return
        server._connections.add(self)
        self._events.append("connection-opened", self.id, peer=self._peer)
        self._tls = server._tls.session()
        loop = asyncio.get_running_loop()
        # The whole handshake has one deadline (no idle timer: a peer trickling a
        # ClientHello one byte at a time would reset it with each byte).
        self._handshake_deadline = loop.time() + self._config.handshake_timeout
        self._timer = loop.call_at(self._handshake_deadline, self._on_timer)

    def get_buffer(self, sizehint: int) -> memoryview:
        return _read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self._guarded(self._receive, _read_buffer()[:nbytes])

    def eof_received(self) -> bool:
        self._guarded(self._receive, b"")
        return True  # the connection is closed by _goodbye, after any last answer

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._server._connections.discard(self)
        if self._logged_closed:
            return
        self._logged_closed = True
        if exc is not None and self._phase is not _Phase.CLOSING:
            self._events.append("connection-error", self.id, error=str(exc) or type(exc).__name__)
        self._events.append("closed", self.id)

    def pause_writing(self) -> None:
        # The peer does not read what it asks for: stop reading its requests too.
        self._pause_reading("writes")

    def resume_writing(self) -> None:
        self._resume_reading("writes")

    # -- what the server asks -------------------------------------------------------------

    def abort(self, reason: str) -> None:
        """End the connection now (the Front End stops)."""
        if not self._logged_closed:
            self._logged_closed = True
            self._events.append("closed", self.id, reason=reason)
        self._phase = _Phase.CLOSING
        self._cancel_timer()
        self._server._connections.discard(self)
        if self._transport is not None:
            self._transport.abort()

    # -- the work ---------------------------------------------------------------------------

    def _guarded(self, step: Callable[..., Any], *args: Any) -> Any:
        """Run one step and return what it returns; whatever breaks costs this connection
        only, and is logged (None is returned then)."""
        if self._phase is _Phase.CLOSING or self._tls is None:
            return None
        try:
            return step(*args)
        except SSL.Error as error:  # the peer broke TLS after the handshake
            reasons = [str(e[2]) for e in error.args[0]] if error.args and isinstance(error.args[0], list) else []
            self._events.append("connection-error", self.id, error="; ".join(reasons) or str(error) or "TLS error")
            self._close()
        except Exception as error:  # noqa: BLE001 - a bug must cost one connection, not the server
            self._events.append("connection-error", self.id, error=repr(error), traceback=traceback.format_exc())
            self._close()
        return None

    def _receive(self, data: bytes | memoryview) -> None:
        tls = self._tls
        assert tls is not None
        if self._phase is _Phase.SIP:
            plaintext = tls.receive(data)
            self._record_arriving = bool(data) and not plaintext and not tls.peer_closed
            self._serve(plaintext)
        elif self._phase is _Phase.HANDSHAKE:
            try:
                plaintext = tls.receive(data)
            except TlsFailure as failure:
                self._tls_failed(failure)
                return
            self._flush()
            if tls.handshake_done:
                self._handshake_done(plaintext)
        elif self._phase is _Phase.CHECKING:
            self._held += tls.receive(data)

    def _flush(self) -> None:
        assert self._tls is not None and self._transport is not None
        data = self._tls.data_to_send()
        if data:
            self._transport.write(data)

    def _close(self) -> None:
        """Close after what was written (``connection_lost`` logs it)."""
        self._phase = _Phase.CLOSING
        self._cancel_timer()
        if self._transport is not None:
            self._transport.close()

    def _goodbye(self) -> None:
        """close_notify (none to a peer that hung up without one), then close."""
        assert self._tls is not None
        self._tls.close()
        self._flush()
        self._close()

    def _tls_failed(self, failure: TlsFailure) -> None:
        tls = self._tls
        assert tls is not None
        self._events.append(
            "tls-failure", self.id, error=failure.error, reasons=failure.reasons,
            verify_errors=[e.as_dict() for e in failure.verify_errors],
            alert_sent=next((a for d, a in failure.alerts if d == "sent"), None),
            alert_received=next((a for d, a in failure.alerts if d == "received"), None),
            **windows_view(failure))
        self._flush()  # the alert, if there is one and the peer still listens
        self._close()

    def _handshake_done(self, plaintext: bytes) -> None:
        tls = self._tls
        assert tls is not None
        self._cancel_timer()
        self._events.append("tls-handshake", self.id, ok=True, **tls.handshake_facts())
        server = self._server
        leaf = tls.peer_certificate()
        if leaf is None and server.sipae is not None:
            # Only reachable with Kerberos configured: otherwise TLS required a certificate.
            self._events.append("sipae-required", self.id, reason=AUTHENTICATION_REQUIRED,
                                targetname=server.sipae.targetname)
            self._start_sip(SipSession(server.registrar, peer=self._peer or "unknown", limits=self._config.limits,
                                       sipae=server.sipae, source=self._address, connection_id=self.id), plaintext)
            return
        if leaf is not None and self._config.check_revocation:
            chain = tls.verified_chain()
            results = server.crls.check_cached(chain)
            if results is None:  # a CRL to fetch first: SIP waits, reading paused
                self._phase = _Phase.CHECKING
                self._held = plaintext
                self._pause_reading("revocation")
                task = asyncio.get_running_loop().create_task(self._check_revocation(chain))
                server._checks.add(task)
                task.add_done_callback(server._checks.discard)
                return
            if not self._revocation_checked(results, chain):
                return
        self._match_peer(plaintext)

    async def _check_revocation(self, chain: list[x509.Certificate]) -> None:
        results = await self._server.crls.check_chain(chain)
        if self._phase is not _Phase.CHECKING:
            return  # closed meanwhile
        held, self._held = self._held, b""
        if self._guarded(self._revocation_checked, results, chain):
            self._resume_reading("revocation")
            self._guarded(self._match_peer, held)

    def _revocation_checked(self, results: list[RevocationResult], chain: list[x509.Certificate]) -> bool:
        """Log the verdicts; False (and the connection ends) when one refuses the chain."""
        self._events.append("revocation-checked", self.id, results=[r.as_dict() for r in results])
        refused = next((r for r in results if r.refused), None)
        if refused is not None:
            self._revocation_failed(refused, chain)
            return False
        return True

    def _revocation_failed(self, result: RevocationResult, chain: list[x509.Certificate]) -> None:
        """The chain check failed after the handshake: logged as the TLS failure it is to
        the peer (the connection ends, no SIP), with OpenSSL's and Windows' words."""
        code = result.x509_code
        depth = next((i for i, c in enumerate(chain) if c.subject.rfc4514_string() == result.subject), 0)
        text = verify_error_text(code)
        symbol = result.chain_status or "CRYPT_E_REVOCATION_OFFLINE"
        self._events.append(
            "tls-failure", self.id, phase="revocation", error=text, reasons=[result.detail],
            verify_errors=[{"depth": depth, "code": code, "text": text, "subject": result.subject, "ignored": False}],
            alert_sent=None, alert_received=None, revocation=result.as_dict(),
            schannel=schannel_event(36877, hresult(symbol)["hresult"], symbol,
                                    assumed="SChannel leaves client certificates to the application; the event "
                                            "Lync logs for a revoked or unchecked one is not documented"),
            chain_status=result.as_dict()["chain_status"])
        self._goodbye()

    def _match_peer(self, plaintext: bytes) -> None:
        """Lync's check of an MTLS peer against the topology (:mod:`._topology`, rule 4)."""
        assert self._tls is not None
        topology = self._config.trusted_topology
        peer = self._tls.peer_description()
        cns, sans = (peer["common_names"], peer["dns_names"]) if peer is not None else ([], [])
        found = topology.match(cns, sans)
        names = list(dict.fromkeys([*cns, *sans]))
        if found is None:
            self._events.append("peer-not-trusted", self.id, names=names, known_peers=topology.known_fqdns,
                                text=NOT_A_CONFIGURED_SERVER, matched_on="subject CN and SAN" if topology.san_match
                                else "subject CN", lync=sipstack_record(NOT_A_CONFIGURED_SERVER, cns[0] if cns else None))
            self._goodbye()
            return
        name, pool = found
        self._events.append("peer-trusted", self.id, peer=name, pool=pool.identity, names=names)
        self._start_sip(SipSession(self._server.registrar, peer=name, limits=self._config.limits,
                                   source=self._address, connection_id=self.id), plaintext)

    def _start_sip(self, sip: SipSession, plaintext: bytes) -> None:
        self._sip = sip
        self._phase = _Phase.SIP
        self._serve(plaintext)

    def _serve(self, plaintext: bytes) -> None:
        """Plaintext to the SIP session, its answers to the peer, then the deadlines."""
        sip, tls = self._sip, self._tls
        assert sip is not None and tls is not None
        output = sip.receive_data(plaintext, eof=tls.peer_closed)
        self._emit(output)
        if output.close:
            self._goodbye()
            return
        self._deadlines()

    def _emit(self, output: Output) -> None:
        """Send the answers, then log what happened: a peer waiting for an answer does not
        wait for the log (the records keep their order; the file gets them this turn)."""
        if output.data:
            assert self._tls is not None
            self._tls.send(output.data)
            self._flush()
        append, connection = self._events.append, self.id
        for type_, fields in output.records:
            append(type_, connection, **fields)

    # -- time -------------------------------------------------------------------------------

    def _deadlines(self) -> None:
        """After each read: the idle deadline moves on; a message (or a TLS record) that
        began gets its own deadline from its first byte (Rule 4 of fakes.sip._stream)."""
        sip = self._sip
        assert sip is not None
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._idle_deadline = now + self._config.idle_timeout
        pending = sip.pending_message
        arriving = pending if pending is not None else (0 if self._record_arriving else None)
        if arriving != self._timed:
            self._timed = arriving
            self._message_deadline = None if arriving is None else now + self._config.message_timeout
        deadline = self._sip_deadline()[0]
        if self._timer is None or deadline < self._timer.when():
            self._cancel_timer()
            self._timer = loop.call_at(deadline, self._on_timer)

    def _sip_deadline(self) -> tuple[float, str]:
        if self._message_deadline is not None and self._message_deadline <= self._idle_deadline:
            return self._message_deadline, "message_timeout"
        return self._idle_deadline, "idle_timeout"

    def _on_timer(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time() + _TIMER_SLACK
        if self._phase is _Phase.HANDSHAKE:
            if now < self._handshake_deadline:
                self._timer = loop.call_at(self._handshake_deadline, self._on_timer)
                return
            self._timed_out("handshake", "handshake_timeout")
            self._close()
        elif self._phase is _Phase.SIP:
            deadline, limit = self._sip_deadline()
            if now < deadline:  # the timer was set for an earlier deadline that moved on
                self._timer = loop.call_at(deadline, self._on_timer)
                return
            self._timed_out("sip", limit)
            assert self._sip is not None
            self._guarded(self._stalled)

    def _stalled(self) -> None:
        assert self._sip is not None
        output = self._sip.timed_out()
        self._emit(output)
        self._goodbye()

    def _timed_out(self, phase: str, limit: str) -> None:
        """Log that ``limit`` (a :class:`FrontendConfig` field) ended the connection."""
        self._events.append("timeout", self.id, phase=phase, limit=limit, after=getattr(self._config, limit))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _pause_reading(self, why: str) -> None:
        if not self._reading_paused_for and self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()
        self._reading_paused_for.add(why)

    def _resume_reading(self, why: str) -> None:
        self._reading_paused_for.discard(why)
        if not self._reading_paused_for and self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()


class _PushError(Exception):
    """The connector's side ended the exchange without a usable answer."""


def _default(name: str) -> Any:
    """A :class:`FrontendConfig` field's default, for the command line's."""
    return FrontendConfig.__dataclass_fields__[name].default


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fakes.frontend",
        description="Lync Front End stand-in: SIP registrar and presence over MTLS "
                    "(and over TLS with MS-SIPAE Kerberos).")
    parser.add_argument("--cert", type=Path, required=True,
                        help="PEM: the Front End certificate, then its chain")
    parser.add_argument("--key", type=Path, required=True, help="PEM: its private key")
    parser.add_argument("--ca", type=Path, required=True,
                        help="PEM bundle of the CAs whose client certificates are trusted")
    parser.add_argument("--fqdn", required=True, help="the Front End's FQDN (fe01.companya.com)")
    parser.add_argument("--known-peer", action="append", default=[], dest="known_peers",
                        metavar="FQDN", help="a trusted application pool/computer FQDN (repeat)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=0, help="port (default 0: any free; Lync: 5061)")
    parser.add_argument("--keylog", type=Path, help="append an NSS key log here (Wireshark)")
    parser.add_argument("--events", type=Path, help="append the event log here (JSON lines)")
    parser.add_argument("--strict-eku", action="store_true",
                        help="refuse client certificates without clientAuth (OpenSSL/Java), "
                             "unlike Lync's SChannel")
    parser.add_argument("--profile", choices=tuple(PROFILES), default=DEFAULT_PROFILE,
                        help="product and Windows Server whose TLS versions, cipher suites and Server header "
                             "it has (default %(default)s: SfB Server 2015 on Windows Server 2016, TLS 1.0-1.2)")
    revocation = parser.add_argument_group("revocation", "client certificates checked against their CA's CRL")
    revocation.add_argument("--no-revocation-check", dest="check_revocation", action="store_false",
                            help="do not check client certificates' revocation (Lync does by default)")
    revocation.add_argument("--cdp-host", action="append", default=[], dest="cdp_hosts", metavar="NAME=ADDRESS:PORT",
                            type=_cdp_host,
                            help="reach a CRL distribution point's host at this address (repeat; where names do not resolve)")
    revocation.add_argument("--cdp-timeout", type=seconds, default=_default("cdp_timeout"), metavar="SECONDS",
                            help="seconds one CRL fetch may take (default %(default)g)")
    limits = parser.add_argument_group("limits", "how long and how many peers are served")
    limits.add_argument("--idle-timeout", type=seconds, default=_default("idle_timeout"), metavar="SECONDS",
                        help="seconds of silence after the TLS handshake before a connection is closed "
                             "(default %(default)g)")
    limits.add_argument("--handshake-timeout", type=seconds, default=_default("handshake_timeout"), metavar="SECONDS",
                        help="seconds from the TCP connection to the end of the TLS handshake, "
                             "however the peer paces its bytes (default %(default)g)")
    limits.add_argument("--message-timeout", type=seconds, default=_default("message_timeout"), metavar="SECONDS",
                        help="seconds from a SIP message's first byte to its last; a stalled "
                             "message is answered 400, then closed (default %(default)g)")
    limits.add_argument("--max-connections", type=connection_count, default=_default("max_connections"), metavar="N",
                        help="connections served at once; one more is closed before TLS, "
                             "with a connection-refused event (default %(default)d)")
    kerberos = parser.add_argument_group(
        "MS-SIPAE Kerberos", "let clients without a certificate authenticate as AD users (either option enables it)")
    keys = kerberos.add_mutually_exclusive_group()
    keys.add_argument("--spn-password", metavar="PASSWORD",
                      help="password of the AD account holding sip/<fqdn>; its keys are derived as AD does")
    keys.add_argument("--spn-keys", type=Path, metavar="FILE",
                      help='JSON list of the account\'s keys: [{"enctype": 18, "key": "<hex>"}, ...]')
    kerberos.add_argument("--spn-account", metavar="NAME",
                          help="sAMAccountName of that account, for the salt (default: the FQDN's host + $, FE01$)")
    kerberos.add_argument("--ad-realm", metavar="REALM",
                          help="the AD realm, for the salt (default: the FQDN's domain in upper case)")
    kerberos.add_argument("--sipae-version", type=int, choices=(3, 4), default=4,
                          help="MS-SIPAE version the challenge announces (default 4)")
    return parser.parse_args(argv)


def _cdp_host(text: str) -> tuple[str, str]:
    """``NAME=ADDRESS:PORT`` of ``--cdp-host``."""
    name, equals, address = text.partition("=")
    host, colon, port = address.rpartition(":")
    if not equals or not name or not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected NAME=ADDRESS:PORT, not {text!r}")
    return name, address


def _kerberos_keys(args: argparse.Namespace) -> tuple[Key, ...] | None:
    """The service keys the command line gives, or None when Kerberos is not asked for.

    Raises ``ValueError`` (or ``OSError``) for an unreadable key file.
    """
    if args.spn_keys is not None:
        return read_service_keys(args.spn_keys)
    if args.spn_password is None:
        return None
    # The account model (and AD's salt rule) is the KDC stand-in's: derive keys the same way.
    from fakes.kdc import Account

    host, _, domain = args.fqdn.partition(".")
    realm = args.ad_realm or domain.upper()
    if not realm:
        raise ValueError(f"--fqdn {args.fqdn!r} names no domain to take the AD realm from: give --ad-realm")
    account = Account(args.spn_account or f"{host.upper()}$", args.spn_password)
    return tuple(account.keys(realm).values())


async def _serve(server: FrontendServer, host: str, port: int) -> None:
    await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    config = server.config
    profile = config.tls_profile
    print(f"frontend listening on {host}:{server.port}", flush=True)
    print(f"  {config.fqdn}, known peers: {', '.join(config.trusted_topology.known_fqdns) or '(none)'}, "
          f"client EKU {'enforced' if config.require_client_auth_eku else 'not enforced (SChannel)'}",
          flush=True)
    if config.kerberos is not None:
        names = ", ".join(enctype_name(k.enctype) for k in config.kerberos.service_keys)
        print(f"  MS-SIPAE Kerberos: targetname {config.kerberos_targetname}, version {config.kerberos.version}, "
              f"keys {names}", flush=True)
    print(f"  profile {profile.name}: {profile.product} on {profile.windows}, "
          f"TLS {', '.join(profile.versions)}; revocation {'checked' if config.check_revocation else 'not checked'}",
          flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 clean stop, 1 cannot serve,
    2 bad usage or unreadable certificate/key/CA files)."""
    args = _arguments(argv)
    try:
        keys = _kerberos_keys(args)
        kerberos = FrontendKerberos(keys, version=args.sipae_version) if keys is not None else None
        config = FrontendConfig(
            fqdn=args.fqdn, certificate_chain=args.cert, private_key=args.key,
            trusted_cas=args.ca, known_peers=tuple(args.known_peers),
            require_client_auth_eku=args.strict_eku, profile=args.profile,
            check_revocation=args.check_revocation, cdp_hosts=tuple(args.cdp_hosts), cdp_timeout=args.cdp_timeout,
            keylog_path=args.keylog, idle_timeout=args.idle_timeout,
            handshake_timeout=args.handshake_timeout, message_timeout=args.message_timeout,
            max_connections=args.max_connections, kerberos=kerberos)
        server = FrontendServer(config, event_log_path=args.events)
    except OSError as error:
        print(f"error: {os_error_text(error)}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(server, args.host, args.port))
    except OSError as error:
        print(f"error: cannot serve on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1
    return 0
