"""The connector stand-in over real sockets: MTLS to a Front End, MTLS on its Secured port.

The Front End here is a small asyncio MTLS server written for these tests (client
certificate required, ``200`` to every request, a log of what it saw). Where the Java
texts matter, the interop tests run OpenJDK's JSSE on the same files and compare.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import shutil
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PureWindowsPath
from typing import Any, TypeVar

import jks
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fakes.configserver import CfgApplication, CfgPortInfo, ConfigServer, ConfigServerClient, ListeningMode
from fakes.sip import NEED_DATA, MessageReceived, SipStream, make_request, make_response
from harness.artifacts import export_pfx, keytool_import
from harness.connector import (
    MICROSOFT_OCS,
    ClientReport,
    ConnectorArguments,
    ConnectorError,
    UCConnector,
    format_arguments,
)
from tests.conftest import require_tool

FE = "fe01.companya.com"
UCC = "ucc01.companya.com"
SERVER_AUTH, CLIENT_AUTH = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
T = TypeVar("T")


# -- a throwaway PKI shaped like the lab's ---------------------------------------------------


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    chain: list[x509.Certificate]  # leaf first, CA last

    def write_pem(self, folder: Path, name: str) -> tuple[Path, Path]:
        pem = serialization.Encoding.PEM
        cert = folder / f"{name}.crt"
        key = folder / f"{name}.key"
        cert.write_bytes(b"".join(c.public_bytes(pem) for c in self.chain))
        key.write_bytes(self.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cert, key


class Authority:
    """A CA named like the lab's, issuing EC certificates (fast to make, fine for JSSE)."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = self._sign(self.name, self.key.public_key(), ca=True)

    def _sign(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        *,
        ca: bool = False,
        sans: Iterable[str] = (),
        ekus: Iterable[x509.ObjectIdentifier] = (),
        expired: bool = False,
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = (
            (now - datetime.timedelta(days=60), now - datetime.timedelta(days=2))
            if expired
            else (
                now - datetime.timedelta(minutes=5),
                now + datetime.timedelta(days=30),
            )
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
            )
        if ekus:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue(
        self,
        name: str,
        *,
        sans: Iterable[str] | None = None,
        ekus: Iterable[x509.ObjectIdentifier] = (SERVER_AUTH, CLIENT_AUTH),
        expired: bool = False,
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        certificate = self._sign(
            subject, key.public_key(), sans=[name] if sans is None else sans, ekus=ekus, expired=expired
        )
        return Issued(certificate, key, [certificate, self.certificate])


@dataclass(frozen=True)
class Lab:
    folder: Path
    ca: Authority
    ucc: Issued
    frontend: Issued  # serverAuth + clientAuth: works in both directions
    frontend_server_only: Issued  # the AD CS "Web Server" template: serverAuth only
    files: dict[str, Path] = field(default_factory=dict)  # Windows path → lab file


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    folder = tmp_path_factory.mktemp("connector-tls")
    ca = Authority("companya-LABDC01-CA")
    ucc = ca.issue(UCC)
    lab = Lab(folder, ca, ucc, ca.issue(FE), ca.issue(FE, ekus=[SERVER_AUTH]))
    lab.files[r"c:\gcti\lync_ucc_1.pfx"] = export_pfx(
        folder / "GenesysServer_Certficate.pfx",
        certificate=ucc.certificate,
        private_key=ucc.key,
        chain=[ca.certificate],
        password="genesys",
        friendly_name="GenesysServerCertificate",
    )
    lab.files[r"c:\gcti\UCC_store.jks"] = keytool_import(
        folder / "UCC_store.jks", alias="ucc-cert", certificate=ca.certificate, password="changeit", storetype="jks"
    )
    return lab


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PAGE_ARGUMENTS = ConnectorArguments(
    host="labdc01.companya.com",
    port=2020,
    app="UCC",
    cert_store_file=r"c:\gcti\lync_ucc_1.pfx",
    cert_store_pass="genesys",
    cert_store_type="pkcs12",
    key_store_file=r"c:\gcti\UCC_store.jks",
    key_store_pass="changeit",
    key_store_type="jks",
)


def connector(
    lab: Lab,
    arguments: ConnectorArguments = PAGE_ARGUMENTS,
    *,
    port: int | None = None,
    mode: ListeningMode = ListeningMode.SECURED,
    seed: int = 7,
    **settings: Any,
) -> UCConnector:
    app = CfgApplication(
        name="UCC",
        command_line_arguments=format_arguments(arguments),
        port_infos=[CfgPortInfo.with_mode("lync-tls", port or free_port(), conn_protocol="sip", mode=mode)],
    )
    return UCConnector.from_application(
        app,
        resolve_path=lambda windows: lab.files.get(windows, lab.folder / PureWindowsPath(windows).name),
        java_home=None,
        frontend_fqdn=FE,
        ucc_fqdn=UCC,
        rng=random.Random(seed),
        **settings,
    )


# -- a Front End for the tests ---------------------------------------------------------------


@dataclass
class FrontEnd:
    """MTLS server that answers 200 and logs the peer certificate and the requests."""

    server: asyncio.Server
    seen: list[dict[str, Any]] = field(default_factory=list)
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]


async def start_frontend(lab: Lab, identity: Issued, *, tls12: bool = False) -> FrontEnd:
    """The Front End presenting ``identity``, trusting the lab CA; at most TLS 1.2 with ``tls12``."""
    cert, key = identity.write_pem(lab.folder, f"fe-{id(identity)}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=lab.ca.certificate.public_bytes(serialization.Encoding.PEM).decode())
    frontend: FrontEnd

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frontend.handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await writer.start_tls(context)
        except (ssl.SSLError, OSError) as exc:
            frontend.seen.append({"kind": "tls-failure", "error": str(exc)})
            writer.close()
            return
        peer = x509.load_der_x509_certificate(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
        frontend.seen.append({"kind": "tls-handshake", "subject": peer.subject.rfc4514_string()})
        stream = SipStream()
        while True:
            event = stream.next_event()
            if event is NEED_DATA:
                data = await reader.read(65536)
                stream.receive_data(data)
                continue
            if not isinstance(event, MessageReceived):
                break
            request = event.message
            frontend.seen.append(
                {
                    "kind": "request",
                    "method": request.method,
                    "headers": {name: request.headers.get(name) for name in request.headers.keys()},
                }
            )
            writer.write(make_response(request, 200, to_tag="fe0001"))
            await writer.drain()
        writer.close()

    frontend = FrontEnd(await asyncio.start_server(handle, "127.0.0.1", 0))
    return frontend


async def with_frontend(lab: Lab, identity: Issued, body: Callable[[FrontEnd], Awaitable[T]], **options: Any) -> T:
    frontend = await start_frontend(lab, identity, **options)
    try:
        return await body(frontend)
    finally:
        # Let the Front End finish logging what it saw before its log is read.
        if frontend.handlers:
            await asyncio.wait(frontend.handlers, timeout=5)
        frontend.server.close()


# -- connector → Front End -------------------------------------------------------------------


def test_register_confirmed_and_the_front_end_saw_the_connectors_certificate(lab: Lab) -> None:
    ucc = connector(lab)
    assert ucc.findings == [] and ucc.mode == "mtls"

    async def scenario(frontend: FrontEnd) -> Any:
        return await ucc.register("127.0.0.1", frontend.port, timeout=5), frontend.seen

    report, seen = asyncio.run(with_frontend(lab, lab.frontend, scenario))
    assert report.outcome == "confirmed", report
    assert report.tls_version in ("TLSv1.2", "TLSv1.3") and report.cipher
    assert report.responses == [
        {"method": "OPTIONS", "status": 200, "reason": "OK"},
        {"method": "REGISTER", "status": 200, "reason": "OK"},
    ]
    assert report.server_certificate["subject"] == f"CN={FE}"
    assert report.server_certificate["issuer"] == "CN=companya-LABDC01-CA"
    assert report.server_chain == [f"CN={FE}", "CN=companya-LABDC01-CA"]
    # The Front End's side: the connector's certificate, then OPTIONS and REGISTER.
    assert seen[0] == {"kind": "tls-handshake", "subject": f"CN={UCC}"}
    register = seen[2]["headers"]
    assert [s["method"] for s in seen[1:]] == ["OPTIONS", "REGISTER"]
    assert register["Contact"] == f"<sip:{UCC}:{ucc.secure_port.port};transport=tls>"
    assert register["Expires"] == "3600"
    assert register["From"].startswith(f"<sip:{UCC}>;tag=") and register["To"] == f"<sip:{UCC}>"
    assert register["Call-ID"].endswith(f"@{UCC}")


def test_the_injected_random_source_makes_the_requests_repeatable(lab: Lab) -> None:
    async def call_ids(seed: int) -> list[str]:
        ucc = connector(lab, seed=seed)

        async def scenario(frontend: FrontEnd) -> list[str]:
            await ucc.register("127.0.0.1", frontend.port, timeout=5)
            return [s["headers"]["Call-ID"] for s in frontend.seen if s["kind"] == "request"]

        return await with_frontend(lab, lab.frontend, scenario)

    assert asyncio.run(call_ids(3)) == asyncio.run(call_ids(3)) != asyncio.run(call_ids(4))


def trustme_identity() -> Issued:
    """A Front End certificate from a CA nobody trusts (trustme)."""
    issued = trustme.CA().issue_cert(FE)
    chain = [x509.load_pem_x509_certificate(p.bytes()) for p in issued.cert_chain_pems]
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    return Issued(chain[0], key, chain)  # type: ignore[arg-type]


def _register(lab: Lab, identity: Issued, ucc: UCConnector | None = None, **options: Any) -> Any:
    ucc = ucc or connector(lab)

    async def scenario(frontend: FrontEnd) -> Any:
        return await ucc.register("127.0.0.1", frontend.port, timeout=5), frontend.seen

    return asyncio.run(with_frontend(lab, identity, scenario, **options))


def test_front_end_from_a_foreign_ca_is_not_trusted(lab: Lab) -> None:
    report, seen = _register(lab, trustme_identity())
    assert (report.outcome, report.code) == ("error", "truststore-missing-ca")
    assert report.error == (
        "javax.net.ssl.SSLHandshakeException: PKIX path building failed: "
        "sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to "
        "requested target"
    )
    assert report.server_certificate["issuer"] != "CN=companya-LABDC01-CA"  # the evidence of which CA is missing
    assert [s["kind"] for s in seen] == ["tls-failure"]


def test_tls_1_2_front_end(lab: Lab) -> None:
    report, _ = _register(lab, lab.frontend, tls12=True)
    assert (report.outcome, report.tls_version) == ("confirmed", "TLSv1.2")
    assert report.server_chain == [f"CN={FE}", "CN=companya-LABDC01-CA"]
    untrusted, _ = _register(lab, trustme_identity(), tls12=True)
    assert untrusted.code == "truststore-missing-ca"
    assert untrusted.server_certificate["sans"] == [FE]  # read from the TLS 1.2 Certificate message


def test_front_end_certificate_for_another_name_passes_without_endpoint_identification(lab: Lab) -> None:
    # A plain SSLSocket checks no name (research-12 §8d): the connector's default.
    report, seen = _register(lab, lab.ca.issue("fe02.companya.com"))
    assert report.outcome == "confirmed", report
    assert report.server_certificate["sans"] == ["fe02.companya.com"]
    assert [s["kind"] for s in seen] == ["tls-handshake", "request", "request"]


def test_front_end_certificate_for_another_name_with_endpoint_identification(lab: Lab) -> None:
    report, _ = _register(lab, lab.ca.issue("fe02.companya.com"), connector(lab, endpoint_identification="HTTPS"))
    assert (report.code, report.error) == (
        "cert-name-mismatch",
        f"javax.net.ssl.SSLHandshakeException: No subject alternative DNS name matching {FE} found.",
    )


def test_front_end_certificate_without_san_and_another_cn(lab: Lab) -> None:
    report, _ = _register(lab, lab.ca.issue("fe02.companya.com", sans=()), connector(lab, endpoint_identification="HTTPS"))
    assert report.error == f"javax.net.ssl.SSLHandshakeException: No name matching {FE} found"


def test_expired_front_end_certificate(lab: Lab) -> None:
    expired = lab.ca.issue(FE, expired=True)
    report, _ = _register(lab, expired)
    assert report.code == "cert-expired"
    assert report.error == (
        "javax.net.ssl.SSLHandshakeException: PKIX path validation failed: "
        "java.security.cert.CertPathValidatorException: validity check failed"
    )
    not_after = expired.certificate.not_valid_after_utc
    java_date = f"{not_after:%a %b %d %H:%M:%S} UTC {not_after.year}"  # the C locale's names, as Java's
    assert report.cause == f"java.security.cert.CertificateExpiredException: NotAfter: {java_date}"


def test_without_a_key_store_no_client_certificate_is_sent_and_the_front_end_refuses(lab: Lab) -> None:
    ucc = connector(lab, replace(PAGE_ARGUMENTS, cert_store_file=None, cert_store_pass=None, cert_store_type=None))
    assert [f.code for f in ucc.findings] == ["client-certificate-missing"]
    report, seen = _register(lab, lab.frontend, ucc)
    assert report.outcome == "error"
    # The Front End's log is the evidence: it refused the handshake for want of a certificate.
    assert seen[0]["kind"] == "tls-failure" and "certificate" in seen[0]["error"]


def test_store_errors_stop_the_connector_before_it_connects(lab: Lab) -> None:
    ucc = connector(lab, replace(PAGE_ARGUMENTS, cert_store_pass="mnopqr"))
    assert [f.code for f in ucc.findings] == ["pfx-wrong-password"]
    report, seen = _register(lab, lab.frontend, ucc)
    assert (report.outcome, report.code, report.error) == (
        "error",
        "pfx-wrong-password",
        "java.io.IOException: keystore password was incorrect",
    )
    assert seen == []


def test_the_pages_typos_leave_the_connector_without_its_pfx(lab: Lab) -> None:
    # -cert_store_<path> instead of -cert_store_file <path>, and -ket_store_type.
    arguments = replace(
        PAGE_ARGUMENTS,
        cert_store_file=None,
        key_store_type=None,
        other=((r"-cert_store_c:\gcti\lync_ucc_1.pfx", None), ("-ket_store_type", "jks")),
    )
    ucc = connector(lab, arguments)
    assert [f.code for f in ucc.findings] == ["arg-malformed", "arg-unknown", "client-certificate-missing"]
    assert not ucc.key.present and ucc.trust.anchors == [lab.ca.certificate]


def test_connection_refused(lab: Lab) -> None:
    report = asyncio.run(connector(lab).register("127.0.0.1", free_port(), timeout=5))
    assert (report.outcome, report.error) == ("error", "java.net.ConnectException: Connection refused")


# -- Front End → connector: the Secured port ---------------------------------------------------


async def _push(
    port: int, identity: Issued | None, lab: Lab, methods: Iterable[str] = ("OPTIONS", "NOTIFY")
) -> list[bytes]:
    """Connect to the Secured port as the Front End and send ``methods``; the raw answers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=lab.ca.certificate.public_bytes(serialization.Encoding.PEM).decode())
    if identity is not None:
        context.load_cert_chain(*identity.write_pem(lab.folder, f"push-{id(identity)}"))
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=UCC)
    answers = []
    try:
        for cseq, method in enumerate(methods, start=1):
            writer.write(
                make_request(
                    method,
                    f"sip:{UCC}:{port};transport=tls",
                    via=f"SIP/2.0/TLS {FE}:5061",
                    branch=f"z9hG4bKfe{cseq}",
                    from_uri=f"sip:{FE}",
                    from_tag="fe1",
                    to_uri=f"sip:{UCC}",
                    call_id="push-1",
                    cseq=cseq,
                    headers=[("Event", "presence")] if method != "OPTIONS" else [],
                )
            )
            await writer.drain()
            stream = SipStream()
            while (event := stream.next_event()) is NEED_DATA:
                stream.receive_data(await reader.read(65536))
            assert isinstance(event, MessageReceived)
            answers.append(event.raw)
    finally:
        writer.close()
    return answers


def test_secure_port_accepts_the_front_end_and_answers_presence_traffic(lab: Lab) -> None:
    ucc = connector(lab)

    async def scenario() -> Any:
        async with await ucc.start_secure_port() as port:
            assert port.port == ucc.secure_port.port
            answers = await _push(port.port, lab.frontend, lab, ("OPTIONS", "SUBSCRIBE", "NOTIFY"))
            await port.wait_for("closed")
            return answers, port.events

    answers, events = asyncio.run(scenario())
    assert [a.split(b"\r\n")[0] for a in answers] == [b"SIP/2.0 200 OK"] * 3
    kinds = [e.kind for e in events]
    assert kinds == ["connection", "tls-handshake"] + ["request", "response"] * 3 + ["closed"]
    handshake = events[1].details
    assert handshake["peer_certificate"]["subject"] == f"CN={FE}"
    assert handshake["peer_certificate"]["sans"] == [FE]
    assert handshake["peer_certificate"]["issuer"] == "CN=companya-LABDC01-CA"
    assert handshake["peer_certificate"]["eku"] == ["serverAuth", "clientAuth"]
    assert handshake["chain"] == [f"CN={FE}", "CN=companya-LABDC01-CA"]
    assert [e.details["method"] for e in events if e.kind == "request"] == ["OPTIONS", "SUBSCRIBE", "NOTIFY"]


def test_secure_port_refuses_a_server_auth_only_front_end_certificate_like_java(lab: Lab) -> None:
    ucc = connector(lab)

    async def scenario() -> Any:
        async with await ucc.start_secure_port() as port:
            with pytest.raises((ssl.SSLError, ConnectionError, AssertionError, asyncio.IncompleteReadError)):
                await _push(port.port, lab.frontend_server_only, lab)
            return await port.wait_for("tls-failure")

    (failure,) = asyncio.run(scenario())
    assert failure.details["text"] == (
        "javax.net.ssl.SSLHandshakeException: Extended key usage does not permit use for TLS client authentication"
    )
    assert failure.details["code"] == "cert-eku-no-client-auth"
    assert failure.details["peer_certificate"]["eku"] == ["serverAuth"]


def test_secure_port_refuses_a_front_end_without_certificate(lab: Lab) -> None:
    ucc = connector(lab)

    async def scenario() -> Any:
        async with await ucc.start_secure_port() as port:
            with pytest.raises((ssl.SSLError, ConnectionError, AssertionError, asyncio.IncompleteReadError)):
                await _push(port.port, None, lab)
            return await port.wait_for("tls-failure")

    (failure,) = asyncio.run(scenario())
    assert failure.details["text"] == "javax.net.ssl.SSLHandshakeException: Empty client certificate chain"
    assert failure.details["peer_certificate"] is None


def test_secure_port_logs_plain_text_as_not_tls_and_keeps_serving(lab: Lab) -> None:
    ucc = connector(lab)

    async def scenario() -> Any:
        async with await ucc.start_secure_port() as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port.port)
            writer.write(b"OPTIONS sip:ucc01.companya.com SIP/2.0\r\n\r\n")
            await reader.read()
            writer.close()
            await _push(port.port, lab.frontend, lab, ("OPTIONS",))
            return [e.details.get("text") for e in port.of_kind("tls-failure")], len(port.of_kind("tls-handshake"))

    failures, handshakes = asyncio.run(scenario())
    assert failures == ["javax.net.ssl.SSLException: Unsupported or unrecognized SSL message"]
    assert handshakes == 1


def test_secure_port_without_a_key_fails_every_handshake_like_java(lab: Lab) -> None:
    ucc = connector(lab, replace(PAGE_ARGUMENTS, cert_store_file=None, cert_store_pass=None))

    async def scenario() -> Any:
        async with await ucc.start_secure_port() as port:
            with pytest.raises((ssl.SSLError, ConnectionError, AssertionError, asyncio.IncompleteReadError)):
                await _push(port.port, lab.frontend, lab)
            return await port.wait_for("tls-failure")

    (failure,) = asyncio.run(scenario())
    assert failure.details["text"] == "javax.net.ssl.SSLHandshakeException: No available authentication scheme"
    assert failure.details["code"] == "pfx-no-private-key"


def test_secure_port_does_not_start_when_java_cannot_load_the_stores(lab: Lab) -> None:
    ucc = connector(lab, replace(PAGE_ARGUMENTS, key_store_pass="wrong!"))
    with pytest.raises(ConnectorError) as caught:
        asyncio.run(ucc.start_secure_port())
    assert caught.value.code == "truststore-wrong-password"
    assert "Keystore was tampered with, or password was incorrect" in caught.value.message


def test_no_secured_port(lab: Lab) -> None:
    ucc = connector(lab, mode=ListeningMode.UNSECURED)
    assert ucc.secure_port is None
    assert [f.code for f in ucc.findings] == ["secure-port-not-secured"]
    with pytest.raises(ConnectorError) as caught:
        asyncio.run(ucc.start_secure_port())
    assert caught.value.code == "secure-port-not-secured"


def test_no_sip_port_at_all(lab: Lab) -> None:
    app = CfgApplication(name="UCC", command_line_arguments=format_arguments(PAGE_ARGUMENTS))
    ucc = UCConnector.from_application(
        app, resolve_path=lambda w: lab.files[w], java_home=None, frontend_fqdn=FE, ucc_fqdn=UCC
    )
    assert [f.code for f in ucc.findings] == ["secure-port-missing"]


def test_tls_kerberos_arguments_make_the_cert_store_the_trust_store(lab: Lab) -> None:
    arguments = ConnectorArguments(
        krb_conf_file=r"C:\GCTI\UCConnector\etc\krb5.conf",
        cert_store_pass="changeit",
        cert_store_file=r"c:\gcti\UCC_store.jks",
    )
    ucc = connector(lab, arguments)
    assert ucc.mode == "tls-kerberos" and ucc.findings == []
    assert ucc.key is None and ucc.trust.anchors == [lab.ca.certificate] and ucc.trust.source == "explicit"


def test_from_configserver_reads_the_application_object(lab: Lab, tmp_path: Path) -> None:
    async def scenario() -> UCConnector:
        server = ConfigServer(tmp_path / "confserv.db", users={"operator": "Connector-test-1"})
        await server.start()
        try:
            async with ConfigServerClient(server.url, "operator", "Connector-test-1") as cfg:
                app = CfgApplication(
                    name="UCC",
                    command_line_arguments=format_arguments(PAGE_ARGUMENTS),
                    options={MICROSOFT_OCS: {"password": "Genesys#1"}},
                    port_infos=[
                        CfgPortInfo.with_mode("lync-tls", 5061, conn_protocol="sip", mode=ListeningMode.SECURED)
                    ],
                )
                await cfg.create_application(app)
                return await UCConnector.from_configserver(
                    cfg, "UCC", resolve_path=lab.files.__getitem__, java_home=None, frontend_fqdn=FE, ucc_fqdn=UCC
                )
        finally:
            await server.close()

    ucc = asyncio.run(scenario())
    assert ucc.arguments == PAGE_ARGUMENTS and ucc.findings == []
    assert (ucc.secure_port.id, ucc.secure_port.port) == ("lync-tls", 5061)
    assert ucc.microsoft_ocs == {"password": "Genesys#1"}
    assert ucc.key.alias == "genesysservercertificate"


def test_busy_secured_port_fails_clearly(lab: Lab) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ucc = connector(lab, port=taken.getsockname()[1])
        with pytest.raises(ConnectorError) as caught:
            asyncio.run(ucc.start_secure_port())
    assert caught.value.code == "secure-port-busy"
    assert "java.net.BindException: Address already in use" in caught.value.message


# -- the same files through OpenJDK's JSSE -----------------------------------------------------

JAVA_PROBE = r"""
import javax.net.ssl.*;
import java.net.Socket;

public class Probe {
    public static void main(String[] a) throws Exception {
        try {
            if (a[0].equals("client")) {
                Socket raw = new Socket("127.0.0.1", Integer.parseInt(a[1]));
                SSLSocketFactory factory = SSLContext.getDefault().getSocketFactory();
                SSLSocket s = (SSLSocket) factory.createSocket(raw, a[2], raw.getPort(), true);
                if (a.length > 3) {
                    SSLParameters p = s.getSSLParameters();
                    p.setEndpointIdentificationAlgorithm(a[3]);
                    s.setSSLParameters(p);
                }
                s.startHandshake();
                System.out.println("OK");
            } else {
                SSLServerSocketFactory factory = SSLContext.getDefault().getServerSocketFactory();
                SSLServerSocket ss = (SSLServerSocket) factory.createServerSocket(0);
                ss.setNeedClientAuth(true);
                System.out.println(ss.getLocalPort());
                SSLSocket s = (SSLSocket) ss.accept();
                s.startHandshake();
                System.out.println("OK");
            }
        } catch (Exception e) {
            System.out.println(e);
            for (Throwable c = e.getCause(); c != null; c = c.getCause()) System.out.println("CAUSE " + c);
        }
    }
}
"""


@pytest.fixture(scope="module")
def java_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("java")
    javac = require_tool("javac")
    folder = tmp_path_factory.mktemp("probe")
    (folder / "Probe.java").write_text(JAVA_PROBE)
    subprocess.run([javac, "-d", str(folder), str(folder / "Probe.java")], check=True, capture_output=True, timeout=120)
    return folder


def _jsse_properties(lab: Lab, **overrides: str) -> list[str]:
    properties = {
        "keyStore": str(lab.files[r"c:\gcti\lync_ucc_1.pfx"]),
        "keyStorePassword": "genesys",
        "keyStoreType": "pkcs12",
        "trustStore": str(lab.files[r"c:\gcti\UCC_store.jks"]),
        "trustStorePassword": "changeit",
        "trustStoreType": "jks",
        **overrides,
    }
    return [f"-Djavax.net.ssl.{name}={value}" for name, value in properties.items()]


async def _java(probe: Path, *args: str) -> asyncio.subprocess.Process:
    java = shutil.which("java")
    assert java is not None
    return await asyncio.create_subprocess_exec(
        java, "-cp", str(probe), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )


@pytest.mark.interop
def test_client_side_texts_match_java(lab: Lab, java_probe: Path) -> None:
    empty = lab.folder / "empty.jks"
    empty.write_bytes(jks.KeyStore.new("jks", []).saves("changeit"))
    lab.files[r"c:\gcti\empty.jks"] = empty
    # name -> (the Front End's certificate, JSSE property overrides, endpoint identification)
    cases = {
        "foreign CA": (trustme_identity(), {}, None),
        "other name, no endpoint identification": (lab.ca.issue("fe02.companya.com"), {}, None),
        "other name, HTTPS endpoint identification": (lab.ca.issue("fe02.companya.com"), {}, "HTTPS"),
        "expired": (lab.ca.issue(FE, expired=True), {}, None),
        "empty trust store": (lab.frontend, {"trustStore": str(empty)}, None),
    }

    async def one(identity: Issued, overrides: dict[str, str], endpoint: str | None) -> tuple[list[str], ClientReport]:
        frontend = await start_frontend(lab, identity)
        try:
            process = await _java(
                java_probe, *_jsse_properties(lab, **overrides), "Probe", "client", str(frontend.port), FE,
                *([endpoint] if endpoint else []),
            )
            java_out, _ = await process.communicate()
            arguments = PAGE_ARGUMENTS
            if "trustStore" in overrides:
                arguments = replace(arguments, key_store_file=r"c:\gcti\empty.jks")
            ucc = connector(lab, arguments, endpoint_identification=endpoint)
            report = await ucc.register("127.0.0.1", frontend.port, timeout=10)
            return java_out.decode().splitlines(), report
        finally:
            frontend.server.close()

    async def all_cases() -> list[tuple[list[str], ClientReport]]:
        return await asyncio.gather(*(one(*case) for case in cases.values()))

    for name, (java, ours) in zip(cases, asyncio.run(all_cases()), strict=True):
        assert (ours.error or "OK") == java[0], name
        if ours.cause is not None:  # the expired certificate's NotAfter, to the second
            assert f"CAUSE {ours.cause}" in java, name


@pytest.mark.interop
def test_server_side_texts_match_java(lab: Lab, java_probe: Path) -> None:
    """Java as TLS server with the connector's stores, and the stand-in's Secured port, refuse alike."""

    async def java_refusal(identity: Issued | None) -> str:
        process = await _java(java_probe, *_jsse_properties(lab), "Probe", "server")
        assert process.stdout is not None
        port = int((await process.stdout.readline()).decode())
        with pytest.raises((ssl.SSLError, ConnectionError, AssertionError, asyncio.IncompleteReadError)):
            await _push(port, identity, lab)
        out, _ = await process.communicate()
        return out.decode().splitlines()[0]

    async def our_refusal(identity: Issued | None) -> str:
        async with await connector(lab).start_secure_port() as port:
            with pytest.raises((ssl.SSLError, ConnectionError, AssertionError, asyncio.IncompleteReadError)):
                await _push(port.port, identity, lab)
            (failure,) = await port.wait_for("tls-failure")
            return failure.details["text"]

    async def both() -> list[str]:
        return await asyncio.gather(
            java_refusal(lab.frontend_server_only),
            java_refusal(None),
            our_refusal(lab.frontend_server_only),
            our_refusal(None),
        )

    java_eku, java_none, ours_eku, ours_none = asyncio.run(both())
    assert (ours_eku, ours_none) == (java_eku, java_none)
