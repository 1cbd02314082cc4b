"""The UC Connector stand-in: its Application object, its stores, both TLS directions.

Built from the connector's Application object as Configuration Server holds it after the
page's steps — *Command Line Arguments* (the stores), *Server Info* ports (the Secured
SIP port) and the ``Microsoft-OCS`` options — it does what the Java connector does with
them:

- :meth:`UCConnector.register`: MTLS client toward the Front End. The handshake presents
  the ``-cert_store_*`` PFX and checks the Front End against the trust store (and its
  FQDN when endpoint identification is on); then ``OPTIONS`` and ``REGISTER``. The report only says what the client saw:
  under TLS 1.3 a client finishes its handshake before the server has judged its
  certificate, so the replay judges by the Front End's own event log.
- :meth:`UCConnector.start_secure_port`: MTLS server on the Secured port, where the
  Front End pushes presence (``OPTIONS``/``SUBSCRIBE``/``NOTIFY``). It requires the
  peer's certificate and, like Java, refuses one whose EKU lacks clientAuth. Its event
  log is the evidence of the Front End → connector direction.
- :meth:`UCConnector.login`: TLS/Kerberos client toward the Front End (server
  authentication only), the OCS user's Kerberos login with the ``Microsoft-OCS`` password
  and the ``-krb_conf_file`` krb5.conf, MS-SIPAE REGISTER and signed OPTIONS
  (:mod:`._kerberos`).

Two settings of the connector host are not on the Application object: its JDK's
``java.security`` (:class:`JavaSecurity`: JDK 17.0.15's disabled algorithms and TLS
versions unless overridden) and endpoint identification (off, as on a plain
``SSLSocket``; ``"HTTPS"`` checks the Front End's certificate against its FQDN). See
:mod:`._tls`.

Store mapping. MTLS ("Modifying Command Line Arguments for MTLS"): ``-cert_store_*`` is
the key store (the PFX), ``-key_store_*`` the trust store. TLS/Kerberos ("Modifying
Command Line Parameters for TLS"): ``-cert_store_file/-cert_store_pass`` is the trust
store and there is no key store. Without an explicit ``mode``, the presence of
``-krb_conf_file`` with no ``-key_store_file`` means TLS/Kerberos.

Nothing here sleeps or draws from a global random source: tags, branches and Call-IDs
come from the injected ``random.Random``, times from the injected clock, and waiting for
evidence is :meth:`SecurePortServer.wait_for`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import itertools
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import sipmessage
from cryptography import x509

from fakes._evidence import EvidenceLog
from fakes.configserver import CfgApplication, CfgPortInfo, ConfigServerClient, ListeningMode, listening_mode
from fakes.configserver import ValidationError as CfgValidationError
from fakes.sip import (
    NEED_DATA,
    ConnectionClosed,
    KeepAlive,
    Malformed,
    MessageReceived,
    SipStream,
    make_error_response,
    make_request,
    make_response,
)

from ._arguments import ConnectorArguments, parse_arguments
from ._findings import Finding
from ._jsse import JsseError, KeyMaterial, TrustMaterial, load_key_material, load_trust_anchors
from ._kerberos import KerberosLogin, KerberosReport
from ._security import JavaSecurity
from ._sip import SipFailure, final_response
from ._tls import (
    EndpointIdentification,
    TlsFailure,
    TlsIdentity,
    client_context,
    describe_certificate,
    java_failure,
    server_context,
)

__all__ = [
    "UCConnector",
    "ClientReport",
    "SecurePortServer",
    "SecurePortEvent",
    "PortFinding",
    "ConnectorError",
    "Mode",
    "MICROSOFT_OCS",
]

Mode = Literal["mtls", "tls-kerberos"]
Outcome = Literal["confirmed", "rejected", "error"]
MICROSOFT_OCS = "Microsoft-OCS"
USER_AGENT = "UCConnector stand-in (ucc-lab)"
REGISTER_EXPIRES = 3600
# What the Secured port answers 200 to: a trusted application's presence traffic.
_SERVED_METHODS = ("OPTIONS", "SUBSCRIBE", "NOTIFY")
_READ_SIZE = 65536


@dataclass(frozen=True, kw_only=True)
class PortFinding(Finding):
    """A problem with the Application object's Server Info ports; ``port_id`` names the port."""

    port_id: str | None = None


class ConnectorError(Exception):
    """The stand-in cannot do what was asked (no Secured port, the port is busy).

    ``code`` is the diagnosis, ``hint`` the fix.
    """

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class ClientReport:
    """What the connector, as MTLS client, saw of one connection to the Front End.

    ``outcome`` is "confirmed" when every request got a 2xx, "rejected" on a final
    non-2xx, "error" when TLS or the transport failed (``error`` is then Java's text,
    ``exception`` its class, ``code`` the diagnosis). ``server_certificate`` describes
    the Front End's certificate as it was sent, also when the handshake failed.
    """

    outcome: Outcome
    tls_version: str | None = None
    cipher: str | None = None
    server_certificate: dict[str, Any] | None = None
    server_chain: list[str] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    exception: str | None = None
    code: str | None = None
    cause: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


@dataclass(frozen=True)
class SecurePortEvent:
    """One entry of the Secured port's event log.

    ``kind``: ``connection``, ``tls-handshake`` (peer certificate, chain, EKU, version,
    cipher), ``tls-failure`` (Java's text and what OpenSSL said), ``request``,
    ``response``, ``malformed``, ``closed``. ``connection`` numbers the TCP connection.
    """

    kind: str
    connection: int
    peer: str
    time: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


class UCConnector:
    """The connector as its Application object configures it; see the module docstring.

    Build it with :meth:`from_application` (or :meth:`from_configserver`). ``findings``
    lists every problem found before any connection: arguments, stores, ports.
    """

    def __init__(
        self,
        *,
        arguments: ConnectorArguments,
        mode: Mode,
        key: KeyMaterial | None,
        trust: TrustMaterial | None,
        setup_error: JsseError | None,
        secure_port: CfgPortInfo | None,
        findings: list[Finding],
        microsoft_ocs: dict[str, str],
        frontend_fqdn: str,
        ucc_fqdn: str,
        resolve_path: Callable[[str], Path],
        rng: random.Random,
        clock: Callable[[], float],
        java_security: JavaSecurity | None = None,
        endpoint_identification: EndpointIdentification = None,
    ) -> None:
        self.arguments = arguments
        self.mode = mode
        self.key = key
        self.trust = trust
        self.setup_error = setup_error
        self.secure_port = secure_port
        self.findings = findings
        self.microsoft_ocs = microsoft_ocs
        self.frontend_fqdn = frontend_fqdn
        self.ucc_fqdn = ucc_fqdn
        self.resolve_path = resolve_path
        self.java_security = java_security if java_security is not None else JavaSecurity()
        self.endpoint_identification = endpoint_identification
        self._rng = rng
        self._clock = clock

    def __repr__(self) -> str:
        port = self.secure_port.port if self.secure_port else None
        return f"<UCConnector {self.ucc_fqdn} mode={self.mode} secure_port={port} findings={len(self.findings)}>"

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_application(
        cls,
        app: CfgApplication,
        *,
        resolve_path: Callable[[str], Path],
        java_home: Path | None,
        frontend_fqdn: str,
        ucc_fqdn: str,
        mode: Mode | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        java_security: JavaSecurity | None = None,
        endpoint_identification: EndpointIdentification = None,
    ) -> UCConnector:
        """Read ``app`` as the connector does at start-up.

        ``resolve_path`` maps a path as the command line writes it (``c:\\gcti\\x.pfx``)
        to the lab file standing for it (which may not exist: that is a finding).
        ``java_home`` is the JDK whose ``lib/security`` holds the fallback trust stores.
        ``mode`` forces MTLS or TLS/Kerberos (default: see the module docstring).
        ``java_security`` is the host JDK's policy (default JDK 17.0.15's);
        ``endpoint_identification`` ``"HTTPS"`` checks the Front End's name (default off).
        """
        parsed = parse_arguments(app.command_line_arguments)
        arguments = parsed.arguments
        findings: list[Finding] = list(parsed.findings)
        chosen: Mode = mode or ("tls-kerberos" if arguments.krb_conf_file and not arguments.key_store_file else "mtls")
        key, trust, setup_error = _load_stores(arguments, chosen, resolve_path, java_home)
        for material in (key, trust):
            if material is not None:
                findings += material.findings
        if setup_error is not None:
            findings.append(setup_error.to_finding())
        secure_port, port_findings = _secure_port(app.port_infos)
        findings += port_findings
        return cls(
            arguments=arguments,
            mode=chosen,
            key=key,
            trust=trust,
            setup_error=setup_error,
            secure_port=secure_port,
            findings=findings,
            microsoft_ocs=dict(app.options.get(MICROSOFT_OCS, {})),
            frontend_fqdn=frontend_fqdn,
            ucc_fqdn=ucc_fqdn,
            resolve_path=resolve_path,
            rng=rng if rng is not None else random.Random(),
            clock=clock,
            java_security=java_security,
            endpoint_identification=endpoint_identification,
        )

    @classmethod
    async def from_configserver(cls, client: ConfigServerClient, application: str, **options: Any) -> UCConnector:
        """Fetch the Application object named ``application`` and :meth:`from_application` it."""
        app = await client.find_application(application)
        if app is None:
            raise ConnectorError(
                "application-missing",
                f"Configuration Server has no Application object named {application!r}",
                "Start the connector with -app set to its Application object's name.",
            )
        return cls.from_application(app, **options)

    # -- connector → Front End -------------------------------------------------------------

    async def register(self, host: str, port: int, *, timeout: float = 10.0) -> ClientReport:
        """Connect to the Front End at ``host:port`` over MTLS, send OPTIONS then REGISTER.

        The Front End is checked against the trust store under :attr:`java_security`, and
        against :attr:`frontend_fqdn` when :attr:`endpoint_identification` is on. ``timeout`` bounds the connection and each answer. Never raises for what the
        Front End or the stores do: failures are in the report.
        """
        if self.setup_error is not None:
            error = self.setup_error
            return ClientReport("error", error=str(error), exception=error.exception, code=error.code)
        anchors = self.trust.anchors if self.trust is not None else []
        with TlsIdentity(self.key) as identity:
            context, capture = client_context(identity, anchors, security=self.java_security,
                                              endpoint_identification=self.endpoint_identification, now=self._now)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=self.frontend_fqdn
                )
        except ConnectionRefusedError as exc:
            return ClientReport(
                "error",
                error="java.net.ConnectException: Connection refused",
                exception="java.net.ConnectException",
                code="frontend-unreachable",
                detail=str(exc),
            )
        except socket.gaierror as exc:
            return ClientReport(
                "error",
                error=f"java.net.UnknownHostException: {host}",
                exception="java.net.UnknownHostException",
                code="frontend-unreachable",
                detail=str(exc),
            )
        except (OSError, TimeoutError) as exc:
            failure = java_failure(
                exc,
                side="client",
                capture=capture,
                anchors=anchors,
                now=self._now(),
                server_hostname=self.frontend_fqdn,
            )
            return _failed_report(failure, capture.chain)
        ssl_object = writer.get_extra_info("ssl_object")
        tls_version, cipher = ssl_object.version(), ssl_object.cipher()[0]
        chain = capture.chain or [x509.load_der_x509_certificate(ssl_object.getpeercert(binary_form=True))]
        responses: list[dict[str, Any]] = []
        try:
            outcome = await self._options_and_register(reader, writer, responses, timeout)
        except SipFailure as failure:
            return _failed_report(failure.failure, chain, tls_version, cipher, responses)
        except TimeoutError:  # before OSError: TimeoutError is one
            failure = TlsFailure(
                "java.net.SocketTimeoutException",
                "Read timed out",
                "sip-timeout",
                detail=f"no answer within {timeout} s",
            )
            return _failed_report(failure, chain, tls_version, cipher, responses)
        except OSError as exc:
            # Under TLS 1.3 the Front End's verdict on our certificate arrives here, as an
            # alert read after the handshake (Java: "Received fatal alert: certificate_required").
            failure = java_failure(exc, side="client", capture=capture, anchors=anchors, now=self._now())
            return _failed_report(failure, chain, tls_version, cipher, responses)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        return ClientReport(
            outcome,
            tls_version=tls_version,
            cipher=cipher,
            server_certificate=describe_certificate(chain[0]),
            server_chain=[c.subject.rfc4514_string() for c in chain],
            responses=responses,
        )

    async def _options_and_register(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        responses: list[dict[str, Any]],
        timeout: float,
    ) -> Outcome:
        stream = SipStream()
        local_port = writer.get_extra_info("sockname")[1]
        contact_port = self.secure_port.port if self.secure_port is not None else local_port
        me = f"sip:{self.ucc_fqdn}"
        for cseq, method in enumerate(("OPTIONS", "REGISTER"), start=1):
            headers = [("User-Agent", USER_AGENT)]
            if method == "REGISTER":
                headers += [
                    ("Contact", f"<sip:{self.ucc_fqdn}:{contact_port};transport=tls>"),
                    ("Expires", str(REGISTER_EXPIRES)),
                ]
            call_id = f"{self._token(16)}@{self.ucc_fqdn}"
            writer.write(
                make_request(
                    method,
                    f"sip:{self.frontend_fqdn}",
                    via=f"SIP/2.0/TLS {self.ucc_fqdn}:{local_port}",
                    branch=f"z9hG4bK{self._token(12)}",
                    from_uri=me,
                    from_tag=self._token(8),
                    to_uri=me,
                    call_id=call_id,
                    cseq=cseq,
                    headers=headers,
                )
            )
            await writer.drain()
            async with asyncio.timeout(timeout):
                response = await final_response(reader, stream, call_id, method)
            responses.append({"method": method, "status": response.code, "reason": response.phrase})
            if not 200 <= response.code < 300:
                return "rejected"
        return "confirmed"

    async def login(self, host: str, port: int, *, timeout: float = 10.0,
                    principal: str | None = None) -> KerberosReport:
        """TLS/Kerberos to the Front End at ``host:port``: REGISTER, 401, Kerberos, signed REGISTER and OPTIONS.

        The trust store is ``-cert_store_file`` (no client certificate is presented), the
        krb5.conf is ``-krb_conf_file`` (resolved with ``resolve_path``), the password is
        ``Microsoft-OCS``/``password``, the OCS user ``principal`` or else
        ``Microsoft-OCS``/``user`` (see :mod:`harness.connector._kerberos`). ``timeout``
        bounds the connection and each answer. Never raises for what the peers do: the
        report says it, with Java's text and a diagnosis code. Raises
        :class:`ConnectorError` ``not-tls-kerberos`` when the command line is MTLS's.
        """
        if self.mode != "tls-kerberos":
            raise ConnectorError(
                "not-tls-kerberos",
                "the command line configures MTLS (-key_store_file present, or no -krb_conf_file): "
                "the TLS/Kerberos login needs the arguments of 'Modifying Command Line Parameters for TLS'",
                "Use -krb_conf_file, -cert_store_pass and -cert_store_file (the JKS trust store) only.",
            )
        if self.setup_error is not None:
            error = self.setup_error
            return KerberosReport("error", error=error.message, exception=error.exception, code=error.code,
                                  hint=error.hint or None)
        login = KerberosLogin(
            anchors=self.trust.anchors if self.trust is not None else [],
            krb_conf_file=self.arguments.krb_conf_file,
            resolve_path=self.resolve_path,
            microsoft_ocs=self.microsoft_ocs,
            frontend_fqdn=self.frontend_fqdn,
            ucc_fqdn=self.ucc_fqdn,
            contact_port=self.secure_port.port if self.secure_port is not None else None,
            rng=self._rng,
            clock=self._clock,
            java_security=self.java_security,
            endpoint_identification=self.endpoint_identification,
        )
        return await login.run(host, port, timeout=timeout, principal=principal)

    # -- Front End → connector -------------------------------------------------------------

    async def start_secure_port(
        self, host: str = "127.0.0.1", *, handshake_timeout: float = 10.0, idle_timeout: float = 30.0,
        evidence: EvidenceLog | None = None,
    ) -> SecurePortServer:
        """Listen on the Application object's Secured port number on ``host``; its events
        also go to ``evidence`` when given (the connector host's evidence log).

        Raises :class:`ConnectorError` when there is no Secured port (``secure-port-missing``,
        ``secure-port-not-secured``), when Java could not build its SSL context from the
        stores (the store's code, e.g. ``pfx-wrong-password``) or when the port is taken
        (``secure-port-busy``). Without a key (no PrivateKeyEntry) it listens, and every
        handshake fails as Java's does: "No available authentication scheme".
        """
        if self.secure_port is None:
            finding = next((f for f in self.findings if isinstance(f, PortFinding)), None)
            raise ConnectorError(
                finding.code if finding else "secure-port-missing",
                finding.message if finding else "no Secured SIP port",
                finding.hint if finding else "",
            )
        if self.setup_error is not None:
            error = self.setup_error
            raise ConnectorError(error.code, f"the Secured port cannot speak TLS: {error}", error.hint)
        server = SecurePortServer(
            host,
            self.secure_port.port,
            key=self.key,
            anchors=self.trust.anchors if self.trust is not None else [],
            ucc_fqdn=self.ucc_fqdn,
            token=self._token,
            clock=self._clock,
            security=self.java_security,
            handshake_timeout=handshake_timeout,
            idle_timeout=idle_timeout,
            evidence=evidence,
        )
        await server.start()
        return server

    # -- shared ----------------------------------------------------------------------------

    def _token(self, hex_digits: int) -> str:
        return format(self._rng.getrandbits(hex_digits * 4), f"0{hex_digits}x")

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._clock(), datetime.timezone.utc)


def _failed_report(
    failure: TlsFailure,
    chain: list[x509.Certificate],
    tls_version: str | None = None,
    cipher: str | None = None,
    responses: list[dict[str, Any]] | None = None,
) -> ClientReport:
    return ClientReport(
        "error",
        tls_version=tls_version,
        cipher=cipher,
        server_certificate=describe_certificate(chain[0]) if chain else None,
        server_chain=[c.subject.rfc4514_string() for c in chain],
        responses=responses or [],
        error=failure.text,
        exception=failure.exception,
        code=failure.code,
        cause=failure.cause,
        detail=failure.detail or None,
    )


# -- the Secured port ----------------------------------------------------------------------


class SecurePortServer:
    """The connector's Secured SIP port: MTLS, then a minimal SIP UAS; an event log.

    Accepts plain TCP and upgrades with ``start_tls`` so that a failed handshake is
    seen and logged (``asyncio.start_server(ssl=...)`` swallows it).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        key: KeyMaterial | None,
        anchors: list[x509.Certificate],
        ucc_fqdn: str,
        token: Callable[[int], str],
        clock: Callable[[], float],
        handshake_timeout: float,
        idle_timeout: float,
        evidence: EvidenceLog | None = None,
        security: JavaSecurity | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._evidence = evidence
        self._identity = TlsIdentity(key)
        self._anchors = anchors
        self._security = security if security is not None else JavaSecurity()
        self._ucc_fqdn = ucc_fqdn
        self._token = token
        self._clock = clock
        self._handshake_timeout = handshake_timeout
        self._idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._numbers = itertools.count(1)
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._closing = False
        self._changed = asyncio.Condition()
        self.events: list[SecurePortEvent] = []

    async def start(self) -> None:
        """Bind and listen (port 0: any free port, then :attr:`port` is the one bound);
        :class:`ConnectorError` ``secure-port-busy`` if the port is taken."""
        try:
            self._server = await asyncio.start_server(self._accept, self.host, self.port)
        except OSError as exc:
            self._identity.close()
            if exc.errno == errno.EADDRINUSE:
                raise ConnectorError(
                    "secure-port-busy",
                    f"the Secured port {self.port} on {self.host} is in use (Java: java.net.BindException: "
                    "Address already in use)",
                    "Give the Secured port a Communication Port nothing else listens on.",
                ) from exc
            raise ConnectorError("secure-port-unavailable", f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]  # the port bound, when 0 asked for any

    async def close(self) -> None:
        """Stop listening, end open connections and remove the key files."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        # End open connections first (from Python 3.12 on, wait_closed waits for them):
        # closing the transport ends each handler's read loop, which logs "closed".
        for writer in self._connections.values():
            writer.transport.abort()
        if self._connections:
            _done, stuck = await asyncio.wait(self._connections, timeout=self._handshake_timeout)
            for task in stuck:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
        self._identity.close()

    async def __aenter__(self) -> SecurePortServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._clock(), datetime.timezone.utc)

    def of_kind(self, kind: str) -> list[SecurePortEvent]:
        """The logged events of ``kind``, oldest first."""
        return [e for e in self.events if e.kind == kind]

    async def wait_for(self, kind: str, *, count: int = 1, timeout: float = 10.0) -> list[SecurePortEvent]:
        """Wait until ``count`` events of ``kind`` are logged; :class:`TimeoutError` otherwise."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.of_kind(kind)) >= count)
        return self.of_kind(kind)

    async def _log(self, kind: str, number: int, peer: str, **details: Any) -> None:
        self.events.append(SecurePortEvent(kind, number, peer, self._clock(), details))
        if self._evidence is not None:
            self._evidence.record(kind, connection=number, peer=peer, **details)
        async with self._changed:
            self._changed.notify_all()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            await self._serve(reader, writer)
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = next(self._numbers)
        address = writer.get_extra_info("peername")
        peer = f"{address[0]}:{address[1]}"
        await self._log("connection", number, peer)
        context, capture = server_context(self._identity, self._anchors, security=self._security, now=self._now)
        try:
            async with asyncio.timeout(self._handshake_timeout):
                await writer.start_tls(context)
        except (OSError, TimeoutError, EOFError) as exc:
            if self._closing:
                await self._log("closed", number, peer, reason="the Secured port was closed during the handshake")
                return
            failure = java_failure(
                exc,
                side="server",
                capture=capture,
                anchors=self._anchors,
                now=self._now(),
                has_key=self._identity.present,
            )
            await self._log("tls-failure", number, peer, **failure.to_dict(), **_peer_details(capture.chain))
            return
        ssl_object = writer.get_extra_info("ssl_object")
        await self._log(
            "tls-handshake",
            number,
            peer,
            tls_version=ssl_object.version(),
            cipher=ssl_object.cipher()[0],
            **_peer_details(capture.chain),
        )
        await self._sip(reader, writer, number, peer)

    async def _sip(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int, peer: str) -> None:
        stream = SipStream()
        why = "peer closed"
        while True:
            event = stream.next_event()
            if event is NEED_DATA:
                try:
                    async with asyncio.timeout(self._idle_timeout):
                        data = await reader.read(_READ_SIZE)
                except TimeoutError:
                    stalled = stream.timed_out()
                    if stalled is not None:
                        await self._malformed(writer, stalled, number, peer)
                    why = "idle timeout"
                    break
                except (OSError, EOFError) as exc:
                    why = f"read failed: {exc}"
                    break
                stream.receive_data(data)
                continue
            if isinstance(event, MessageReceived):
                if isinstance(event.message, sipmessage.Request):
                    try:
                        await self._answer(writer, event.message, number, peer)
                    except OSError as exc:  # the peer went away before the answer left
                        why = f"write failed: {exc}"
                        break
                else:
                    await self._log(
                        "response", number, peer, direction="in", status=event.message.code, reason=event.message.phrase
                    )
            elif isinstance(event, KeepAlive):
                if event.raw == b"\r\n\r\n":
                    writer.write(b"\r\n")  # RFC 5626 pong
            elif isinstance(event, Malformed):
                await self._malformed(writer, event, number, peer)
                if event.fatal:
                    why = "unframeable input"
                    break
            elif isinstance(event, ConnectionClosed):
                break
        await self._log("closed", number, peer, reason="the Secured port was closed" if self._closing else why)

    async def _answer(self, writer: asyncio.StreamWriter, request: sipmessage.Request, number: int, peer: str) -> None:
        headers = request.headers
        details = {
            "method": request.method,
            "uri": str(request.uri),
            "call_id": headers.get("Call-ID"),
            "cseq": headers.get("CSeq"),
            "from": headers.get("From"),
            "to": headers.get("To"),
        }
        await self._log("request", number, peer, **details)
        if request.method == "ACK":
            return  # never answered (RFC 3261 §17.2.1)
        extra: list[tuple[str, str]] = []
        if request.method in _SERVED_METHODS:
            status = 200
            if request.method == "OPTIONS":
                extra.append(("Allow", ", ".join(("ACK", *_SERVED_METHODS))))
            if request.method == "SUBSCRIBE":
                extra += [
                    ("Contact", f"<sip:{self._ucc_fqdn}:{self.port};transport=tls>"),
                    ("Expires", headers.get("Expires") or str(REGISTER_EXPIRES)),
                ]
        else:
            status = 501
        writer.write(make_response(request, status, to_tag=self._token(8), headers=extra))
        await writer.drain()
        await self._log("response", number, peer, direction="out", method=request.method, status=status)

    async def _malformed(self, writer: asyncio.StreamWriter, event: Malformed, number: int, peer: str) -> None:
        await self._log("malformed", number, peer, status=event.status, reason=event.reason, fatal=event.fatal)
        answer = make_error_response(event.raw, event.status, event.reason, to_tag=self._token(8))
        if answer is not None:
            writer.write(answer)
            with contextlib.suppress(OSError):
                await writer.drain()


def _peer_details(chain: list[x509.Certificate]) -> dict[str, Any]:
    """The peer certificate's subject, SANs, issuer, EKU and the chain's subjects, for the log."""
    if not chain:
        return {"peer_certificate": None, "chain": []}
    return {"peer_certificate": describe_certificate(chain[0]), "chain": [c.subject.rfc4514_string() for c in chain]}


# -- reading the Application object --------------------------------------------------------


def _load_stores(
    arguments: ConnectorArguments, mode: Mode, resolve_path: Callable[[str], Path], java_home: Path | None
) -> tuple[KeyMaterial | None, TrustMaterial | None, JsseError | None]:
    """Key and trust material for ``mode``; the first Java error stops, as Java's start-up does."""
    if mode == "mtls":
        key_file, key_pass, key_type = arguments.cert_store_file, arguments.cert_store_pass, arguments.cert_store_type
        trust_file, trust_pass, trust_type = (
            arguments.key_store_file,
            arguments.key_store_pass,
            arguments.key_store_type,
        )
    else:
        key_file = key_pass = key_type = None
        trust_file, trust_pass, trust_type = (
            arguments.cert_store_file,
            arguments.cert_store_pass,
            arguments.cert_store_type,
        )
    key: KeyMaterial | None = None
    try:
        if mode == "mtls":
            key = load_key_material(
                resolve_path(key_file) if key_file else None, key_pass, key_type, shown_path=key_file
            )
        trust = load_trust_anchors(
            resolve_path(trust_file) if trust_file else None,
            trust_pass,
            trust_type,
            java_home=java_home,
            shown_path=trust_file,
        )
    except JsseError as exc:
        return key, None, exc
    return key, trust, None


def _secure_port(ports: list[CfgPortInfo]) -> tuple[CfgPortInfo | None, list[PortFinding]]:
    """The Secured ``sip`` port of "Configuring a Secure SIP Port", or why there is none."""
    sip_ports = [p for p in ports if p.conn_protocol.lower() == "sip"]
    findings: list[PortFinding] = []
    secured: list[CfgPortInfo] = []
    for port in sip_ports:
        try:
            mode = listening_mode(port)
        except CfgValidationError as exc:
            findings.append(
                PortFinding(
                    code="secure-port-not-secured",
                    port_id=port.id,
                    message=f"port {port.id} ({port.port}): its transport parameters do not parse: {exc.message}",
                    hint="Set the port's Listening Mode to Secured in Server Info.",
                )
            )
            continue
        if mode is ListeningMode.SECURED:
            secured.append(port)
        else:
            findings.append(
                PortFinding(
                    code="secure-port-not-secured",
                    port_id=port.id,
                    message=f"SIP port {port.id} ({port.port}) listens {mode.value}, not Secured: the Front End's "
                    "MTLS connections to it fail",
                    hint="Set its Listening Mode to Secured (Configuring a Secure SIP Port, step 1).",
                )
            )
    if secured:
        # A Secured port exists: unsecured siblings are allowed (other clients may use them).
        return secured[0], []
    if not findings:
        others = ", ".join(f"{p.id} ({p.conn_protocol or 'no protocol'})" for p in ports)
        findings.append(
            PortFinding(
                code="secure-port-missing",
                message="the Application object has no SIP port"
                + (f" (ports: {others})" if others else " at all")
                + ": the Front End has nowhere to connect",
                hint="Add a port with Connection Protocol sip and Listening Mode Secured "
                "(Configuring a Secure SIP Port).",
            )
        )
    return None, findings
