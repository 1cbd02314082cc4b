"""The Front End stand-in as a server: SIP over MTLS on a port, plus the presence push.

In a lab::

    server = FrontendServer(config)
    await server.start()                      # 127.0.0.1, a free port
    ... server.port, server.events ...
    result = await server.push_to_connector("127.0.0.1", ucc_port, server_name="ucc01.companya.com")
    await server.close()

Alone: ``python -m fakes.frontend --cert PEM --key PEM --ca PEM --fqdn fe01.companya.com
--known-peer ucc01.companya.com [--port 5061]`` prints one line starting with
``frontend listening on`` once it serves, and serves until SIGINT or SIGTERM. With
``--spn-password`` (the password of the AD account holding ``sip/<fqdn>``, whose keys are
derived as AD derives them) or ``--spn-keys`` (a JSON keytab), clients without a
certificate may connect and authenticate with MS-SIPAE Kerberos.

The shell only moves bytes and time. It accepts plain TCP and runs TLS itself (through
:mod:`._tls`), because ``asyncio.start_server(ssl=...)`` hides handshake failures — the
very evidence this stand-in exists to record. Every connection runs in its own task; any
error in one is logged as an event and never reaches the others.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import random
import signal
import ssl
import sys
import time
import traceback
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

from ._certinfo import certificate_names, describe_certificate, matching_peer
from ._config import FrontendConfig, FrontendKerberos, read_service_keys
from ._eventlog import EventLog
from ._registrar import Registrar, pidf_document
from ._session import Output, SipSession
from ._tls import MtlsServerContext, MtlsServerSession, TlsFailure

__all__ = ["FrontendServer", "PushResult", "main"]

_READ_SIZE = 65536
# What Lync's SIP stack logs when an MTLS peer's certificate names no server of the
# topology; it then refuses the connection (no SIP service, no challenge).
NOT_A_CONFIGURED_SERVER = "The peer is not a configured server on this network interface"
# Why a connection without a client certificate is served at all (the sipae-required event).
AUTHENTICATION_REQUIRED = "no client certificate: not a trusted peer, requests must authenticate (MS-SIPAE Kerberos)"


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
    Kerberos clock, SA ids); ``event_log_path`` mirrors :attr:`events` into a JSONL file.
    The certificate, key and trusted CAs are loaded here, so a bad file fails at once
    (``OSError`` if it cannot be read, ``ValueError`` naming it if it holds the wrong thing).
    """

    def __init__(self, config: FrontendConfig, *, now: Callable[[], float] = time.time,
                 rng: random.Random | None = None, event_log_path: Path | None = None) -> None:
        self.config = config
        self.events = EventLog(now=now, path=event_log_path)
        self._now = now
        self._rng = rng if rng is not None else random.Random()
        self._tls = MtlsServerContext(config)
        self.registrar = Registrar(config.fqdn, now=now, rng=self._rng)
        self.sipae = self._sipae_server(config.kerberos) if config.kerberos is not None else None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._closing = False
        self._ids = itertools.count(1)
        self._port: int | None = None
        self.host = ""

    def _sipae_server(self, kerberos: FrontendKerberos) -> SipaeServer:
        return SipaeServer(
            targetname=self.config.kerberos_targetname, service_keys=kerberos.service_keys,
            now=lambda: datetime.datetime.fromtimestamp(self._now(), datetime.timezone.utc),
            rng=self._rng.randbytes, realm=kerberos.realm, version=kerberos.version,
            max_skew=kerberos.max_skew, ntlm_targetname=self.config.fqdn if kerberos.offer_ntlm else None)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host``:``port`` (0: a free port the OS picks)."""
        if self._server is not None:
            raise RuntimeError("the Front End is already started")
        self._closing = False
        # A deep backlog: hundreds of peers may connect at once (load tests, a pool restart).
        self._server = await asyncio.start_server(self._accept, host, port, backlog=1024)
        self.host = host
        self._port = self._server.sockets[0].getsockname()[1]
        self.registrar.port = self._port
        self.events.append("listening", host=host, port=self._port, fqdn=self.config.fqdn)

    @property
    def port(self) -> int:
        """The port it listens on."""
        if self._port is None:
            raise RuntimeError("the Front End is not started")
        return self._port

    async def close(self) -> None:
        """Stop listening, end every connection (each is cancelled and awaited), close the
        key log."""
        if self._server is not None:
            self._closing = True  # a connection accepted from now on is dropped at once
            self._server.close()
            while self._connections:
                ending = list(self._connections)
                for task in ending:
                    task.cancel()
                await asyncio.gather(*ending, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        self._tls.close()
        self.events.close()

    def reconfigure(self, config: FrontendConfig) -> None:
        """Serve connections opened from now on with ``config`` (a new certificate, other
        trusted CAs or known peers — what an administrator changes on a running pool).

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
        old.close()
        self.events.append("reconfigured", known_peers=list(config.known_peers),
                           certificate=str(config.certificate_chain), trusted_cas=str(config.trusted_cas))

    async def __aenter__(self) -> FrontendServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- one connection -------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # always inside a task when called by start_server
        connection = next(self._ids)
        address = writer.get_extra_info("peername")
        peer = f"{address[0]}:{address[1]}" if address else None
        if self._closing:  # accepted while close() runs: nothing to serve it with
            writer.transport.abort()
            return
        if len(self._connections) >= self.config.max_connections:
            # What Lync does at a connection limit is not published (assumed): the
            # connection is closed before TLS, and the log says why.
            self.events.append("connection-refused", connection, peer=peer,
                               reason=f"too many connections: {len(self._connections)} open, "
                                      f"the limit is {self.config.max_connections}")
            writer.transport.abort()
            return
        self._connections.add(task)
        try:
            await self._connection(connection, peer, reader, writer)
        except asyncio.CancelledError:
            # close() cancels open connections. The task ends normally rather than
            # cancelled: Python 3.11's start_server logs a cancelled connection task as an
            # "Exception in callback" traceback (CPython gh-113538, fixed in 3.12).
            writer.transport.abort()
            self.events.append("closed", connection, reason="the Front End stopped")
        finally:
            self._connections.discard(task)

    async def _connection(self, connection: int, peer: str | None, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self.events.append("connection-opened", connection, peer=peer)
        try:
            await self._serve(connection, reader, writer)
        except (ConnectionError, OSError, SSL.Error) as error:
            self.events.append("connection-error", connection, error=str(error) or type(error).__name__)
        except Exception as error:  # noqa: BLE001 - a bug must cost one connection, not the server
            self.events.append("connection-error", connection, error=repr(error),
                               traceback=traceback.format_exc())
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass  # the peer went first
        self.events.append("closed", connection)

    @staticmethod
    async def _read(reader: asyncio.StreamReader, deadline: float) -> bytes | None:
        """Bytes from the peer (``b""`` at EOF), or None once ``deadline`` (event loop
        time) has passed."""
        wait = deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(reader.read(_READ_SIZE), max(wait, 0.0))
        except TimeoutError:
            return None

    def _timed_out(self, connection: int, phase: str, limit: str) -> None:
        """Log that ``limit`` (a :class:`FrontendConfig` field) ended the connection."""
        self.events.append("timeout", connection, phase=phase, limit=limit,
                           after=getattr(self.config, limit))

    @staticmethod
    async def _flush(writer: asyncio.StreamWriter, session: MtlsServerSession) -> None:
        data = session.data_to_send()
        if data:
            writer.write(data)
            await writer.drain()

    async def _serve(self, connection: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        session = self._tls.session()
        plaintext = b""
        loop = asyncio.get_running_loop()
        # The whole handshake has one deadline (no idle timer: a peer trickling a
        # ClientHello one byte at a time would reset it with each byte).
        handshake_deadline = loop.time() + self.config.handshake_timeout
        while not session.handshake_done:
            data = await self._read(reader, handshake_deadline)
            if data is None:
                self._timed_out(connection, "handshake", "handshake_timeout")
                return
            try:
                plaintext = session.receive(data)
            except TlsFailure as failure:
                self.events.append(
                    "tls-failure", connection, error=failure.error, reasons=failure.reasons,
                    verify_errors=[e.as_dict() for e in failure.verify_errors],
                    alert_sent=next((a for d, a in failure.alerts if d == "sent"), None),
                    alert_received=next((a for d, a in failure.alerts if d == "received"), None))
                try:  # the alert, if the peer still listens
                    await self._flush(writer, session)
                except (ConnectionError, OSError):
                    pass
                return
            await self._flush(writer, session)
        self.events.append("tls-handshake", connection, ok=True, **session.handshake_facts())

        leaf = session.peer_certificate()
        if leaf is None and self.sipae is not None:
            # Only reachable with Kerberos configured: otherwise TLS required a certificate.
            address = writer.get_extra_info("peername")
            self.events.append("sipae-required", connection, reason=AUTHENTICATION_REQUIRED,
                               targetname=self.sipae.targetname)
            sip = SipSession(self.registrar, peer=f"{address[0]}:{address[1]}" if address else "unknown",
                             limits=self.config.limits, sipae=self.sipae)
        else:
            names = certificate_names(leaf) if leaf is not None else []
            known = matching_peer(names, self.config.known_peers)
            if known is None:
                self.events.append("peer-not-trusted", connection, names=names,
                                   known_peers=list(self.config.known_peers),
                                   text=NOT_A_CONFIGURED_SERVER)
                await self._goodbye(writer, session)
                return
            self.events.append("peer-trusted", connection, peer=known, names=names)
            sip = SipSession(self.registrar, peer=known, limits=self.config.limits)
        output = sip.receive_data(plaintext, eof=session.peer_closed)
        # Each SIP message has a deadline from its first byte (Rule 4 of fakes.sip._stream);
        # so has a TLS record whose bytes have not given plaintext yet (numbered 0 here),
        # or a peer could trickle one record and never start a message.
        record_arriving = False
        timed: int | None = None
        message_deadline: float | None = None
        while True:
            await self._emit(connection, output, session, writer)
            if output.close:
                break
            arriving = sip.pending_message if sip.pending_message is not None else (0 if record_arriving else None)
            if arriving != timed:
                timed = arriving
                message_deadline = None if arriving is None else loop.time() + self.config.message_timeout
            read_by, limit = loop.time() + self.config.idle_timeout, "idle_timeout"
            if message_deadline is not None and message_deadline <= read_by:
                read_by, limit = message_deadline, "message_timeout"
            data = await self._read(reader, read_by)
            if data is None:
                self._timed_out(connection, "sip", limit)
                output = sip.timed_out()
                continue
            plaintext = session.receive(data)
            record_arriving = bool(data) and not plaintext and not session.peer_closed
            output = sip.receive_data(plaintext, eof=session.peer_closed)
        await self._goodbye(writer, session)

    async def _goodbye(self, writer: asyncio.StreamWriter, session: MtlsServerSession) -> None:
        """Send close_notify; a peer that already hung up does not need it."""
        session.close()
        try:
            await self._flush(writer, session)
        except (ConnectionError, OSError):
            pass

    async def _emit(self, connection: int, output: Output, session: MtlsServerSession,
                    writer: asyncio.StreamWriter) -> None:
        for type_, fields in output.records:
            self.events.append(type_, connection, **fields)
        if output.data:
            session.send(output.data)
            await self._flush(writer, session)

    # -- the presence push: the Front End as TLS client of the connector -------------------

    def _client_context(self) -> ssl.SSLContext:
        """Python ``ssl`` is right here: the certificate checks that matter are the
        connector's (the TLS server); ours is the usual server-name check."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = (ssl.TLSVersion.TLSv1_3 if self.config.minimum_tls_version == "1.3"
                                   else ssl.TLSVersion.TLSv1_2)
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
            return self._push_failed(connection, error.verify_message or str(error), False)
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

    def _push_failed(self, connection: int, error: str, handshake_ok: bool) -> PushResult:
        self.events.append("push-failure", connection, error=error, handshake_ok=handshake_ok)
        return PushResult(connection, handshake_ok, error)

    def _push_request(self, method: str, server_name: str, port: int, call_id: str,
                      from_tag: str, cseq: int) -> bytes:
        own_uri = f"sip:{self.config.fqdn}"
        headers: list[tuple[str, str]] = [("User-Agent", "RTC/5.0")]
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
    parser.add_argument("--min-tls", choices=("1.2", "1.3"), default="1.2",
                        help="lowest TLS version accepted (default 1.2)")
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
    print(f"frontend listening on {host}:{server.port}", flush=True)
    print(f"  {config.fqdn}, known peers: {', '.join(config.known_peers) or '(none)'}, "
          f"client EKU {'enforced' if config.require_client_auth_eku else 'not enforced (SChannel)'}",
          flush=True)
    if config.kerberos is not None:
        names = ", ".join(enctype_name(k.enctype) for k in config.kerberos.service_keys)
        print(f"  MS-SIPAE Kerberos: targetname {config.kerberos_targetname}, version {config.kerberos.version}, "
              f"keys {names}", flush=True)
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
            require_client_auth_eku=args.strict_eku, minimum_tls_version=args.min_tls,
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
