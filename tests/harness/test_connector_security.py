"""The connector's JDK policy (java.security): the Python stand-in and the real JVM agree.

Each case runs the same files under the same ``java.security`` overrides through the
stand-in (:class:`harness.connector.UCConnector`) and through the Java probe (OpenJDK's
own JSSE), against the same peer over real sockets, and compares Java's words. SHA-1
signatures are made with the ``openssl`` tool (this cryptography build refuses to sign
with SHA-1).
"""

from __future__ import annotations

import asyncio
import datetime
import re
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes.configserver import CfgApplication, CfgPortInfo, ListeningMode
from fakes.sip import NEED_DATA, MessageReceived, SipStream, make_request, make_response
from harness.admin import AdminUnavailable, local_client
from harness.artifacts import export_pfx, keytool_import
from harness.connector import (
    JDK17_SECURITY,
    ConnectorArguments,
    JavaSecurity,
    JavaSecurityError,
    UCConnector,
    format_arguments,
    format_properties,
    parse_properties,
)
from harness.connector._security import java_principal
from harness.connector.service import ConnectorService
from harness.diagnosis import code_for_java_error, code_for_text
from harness.javaprobe import probe_register, probe_security, start_probe_listener
from tests.conftest import require_tool

FE = "fe01.companya.com"
UCC = "ucc01.companya.com"
SHA1_OFF = {"jdk.certpath.disabledAlgorithms": "MD2, MD5, SHA1, RSA keySize < 1024"}
RSA_2048 = {"jdk.certpath.disabledAlgorithms": "MD2, MD5, RSA keySize < 2048"}
TLS_1_2 = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
FRONT_END_CHAINS = ("fe", "fe-sha1", "fe-1024", "fe-sha1-1024", "fe-under-1024-root", "fe-under-1024-ca")
OLD_TLS_ON = {"jdk.tls.disabledAlgorithms": "SSLv3, RC4, DES, MD5withRSA, DH keySize < 1024, 3DES_EDE_CBC, anon, NULL"}


# -- java.security as text ---------------------------------------------------------------------


def test_properties_are_read_as_java_reads_them() -> None:
    text = (
        "# a comment\n"
        "! another\n"
        "jdk.certpath.disabledAlgorithms=MD2, MD5, \\\n"
        "    SHA1 jdkCA & usage TLSServer\n"
        "  jdk.tls.disabledAlgorithms : SSLv3\\u002c RC4\n"
        "key\\ with\\ spaces value\n"
        "ends.with.backslash=a\\\\\n"
        "empty=\n"
    )
    assert parse_properties(text) == {
        "jdk.certpath.disabledAlgorithms": "MD2, MD5, SHA1 jdkCA & usage TLSServer",
        "jdk.tls.disabledAlgorithms": "SSLv3, RC4",
        "key with spaces": "value",
        "ends.with.backslash": "a\\",
        "empty": "",
    }
    odd = {"a b=c": " leading space\tand tab", "k!#:": "v:=é€", "": "no key"}
    assert parse_properties(format_properties(odd)) == odd


def test_a_condition_java_does_not_know_is_refused_with_its_words() -> None:
    with pytest.raises(JavaSecurityError, match="Constraint unknown: keyLength < 2048"):
        JavaSecurity({"jdk.certpath.disabledAlgorithms": "RSA keyLength < 2048"})


def test_default_protocols_and_holes() -> None:
    assert JavaSecurity().enabled_protocols() == ("TLSv1.3", "TLSv1.2")
    assert JavaSecurity(OLD_TLS_ON).enabled_protocols() == ("TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1")
    assert JavaSecurity({"jdk.tls.disabledAlgorithms": "TLSv1.2, tlsv1.1"}).enabled_protocols() == ("TLSv1.3", "TLSv1")


@pytest.mark.interop
@pytest.mark.parametrize("overrides", [{}, OLD_TLS_ON, {"jdk.tls.disabledAlgorithms": "TLSv1.2, RC4"}, SHA1_OFF],
                         ids=["jdk-17.0.15", "old-tls-on", "tls-1.2-off", "sha1-off"])
def test_the_policy_and_versions_are_the_jvms(java_cache: Path, overrides: dict[str, str]) -> None:
    """The stand-in's defaults are the installed JDK 17.0.15's, and an override file means
    to it what it means to the JVM (``-Djava.security.properties``)."""
    report = asyncio.run(probe_security(java_security=overrides, cache_dir=java_cache)).json
    if not report["java_version"].startswith("17.0.15"):
        pytest.skip(f"the installed JDK is {report['java_version']}; the stand-in's defaults are 17.0.15's")
    ours = JavaSecurity(overrides)
    assert report["java_security"] == {k: ours.properties[k] for k in JDK17_SECURITY}
    assert report["protocols"] == {"client": list(ours.enabled_protocols()), "server": list(ours.enabled_protocols())}


# -- a throwaway PKI, SHA-1 included ------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    folder: Path
    files: Path  # the connector's files: its PFX and trust store

    def pem(self, name: str) -> Path:
        return self.folder / f"{name}.pem"

    def chain(self, name: str) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.pem(f"{name}-chain").read_bytes())


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run([require_tool("openssl"), *args], cwd=folder, check=True, capture_output=True, timeout=60)


def _make_pki(folder: Path) -> Pki:
    """Two roots (RSA 2048 and RSA 1024), a 1024-bit issuing CA, and Front End certificates
    signed with SHA-256 or SHA-1, of 2048 or 1024 bits; the connector's PFX and trust store."""
    ca_ext, leaf_ext = folder / "ca.cnf", folder / "leaf.cnf"
    ca_ext.write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")

    def key_and_csr(name: str, bits: int, subject: str) -> None:
        _openssl(folder, "req", "-newkey", f"rsa:{bits}", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", subject)

    def root(name: str, bits: int, cn: str) -> None:
        key_and_csr(name, bits, f"/CN={cn}")
        _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-signkey", f"{name}.key", "-out", f"{name}.pem",
                 "-days", "3650", "-sha256", "-extfile", ca_ext.name)

    def issue(name: str, issuer: str, *, bits: int = 2048, digest: str = "sha256", ca: bool = False,
              subject: str = f"/CN={FE}", above: tuple[str, ...] = (), san: str = FE) -> None:
        key_and_csr(name, bits, subject)
        leaf_ext.write_text(f"basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:{san}\n")
        _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey", f"{issuer}.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "30", f"-{digest}",
                 "-extfile", (ca_ext if ca else leaf_ext).name)
        (folder / f"{name}-chain.pem").write_bytes(b"".join((folder / f"{n}.pem").read_bytes() for n in (name, *above)))

    root("root", 2048, "Lab Root")
    root("root1024", 1024, "Lab Root 1024")
    issue("fe", "root")
    issue("fe-sha1", "root", digest="sha1")
    issue("fe-1024", "root", bits=1024)
    issue("fe-sha1-1024", "root", bits=1024, digest="sha1")
    issue("fe-under-1024-root", "root1024")
    issue("issuing1024", "root", bits=1024, ca=True, subject="/DC=com/DC=companya/O=Company A/OU=PKI, Lab/CN=Issuing 1024")
    issue("fe-under-1024-ca", "issuing1024", above=("issuing1024",))
    issue("ucc", "root", subject=f"/CN={UCC}", san=UCC)
    issue("fe-other-name", "root", subject="/CN=fe02.companya.com", san="fe02.companya.com")
    files = folder / "files"
    files.mkdir()
    roots = [x509.load_pem_x509_certificate((folder / f"{n}.pem").read_bytes()) for n in ("root", "root1024")]
    for name in FRONT_END_CHAINS:  # each Front End certificate as a PFX too, for a JDK Front End
        chain = x509.load_pem_x509_certificates((folder / f"{name}-chain.pem").read_bytes())
        export_pfx(files / f"{name}.pfx", certificate=chain[0], chain=chain[1:], password="fepass",
                   private_key=serialization.load_pem_private_key((folder / f"{name}.key").read_bytes(), None))  # type: ignore[arg-type]
    key = serialization.load_pem_private_key((folder / "ucc.key").read_bytes(), None)
    export_pfx(files / "ucc.pfx", certificate=x509.load_pem_x509_certificate((folder / "ucc.pem").read_bytes()),
               private_key=key, chain=roots[:1], password="genesys")  # type: ignore[arg-type]
    for alias, certificate in zip(("root", "root1024"), roots, strict=True):
        keytool_import(files / "UCC_store.jks", alias=alias, certificate=certificate, password="changeit", storetype="jks")
    return Pki(folder, files)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _make_pki(tmp_path_factory.mktemp("java-security"))


ARGUMENTS = format_arguments(ConnectorArguments(
    cert_store_file=r"c:\gcti\ucc.pfx", cert_store_pass="genesys", cert_store_type="pkcs12",
    key_store_file=r"c:\gcti\UCC_store.jks", key_store_pass="changeit", key_store_type="jks",
))


def _connector(pki: Pki, overrides: dict[str, str], port: int = 0) -> UCConnector:
    app = CfgApplication(name="UCC", command_line_arguments=ARGUMENTS,
                         port_infos=[CfgPortInfo.with_mode("lync-tls", port, conn_protocol="sip", mode=ListeningMode.SECURED)])
    return UCConnector.from_application(app, resolve_path=lambda path: pki.files / PureWindowsPath(path).name,
                                        java_home=None, frontend_fqdn=FE, ucc_fqdn=UCC,
                                        java_security=JavaSecurity(overrides))


# -- a Front End of any vintage ------------------------------------------------------------------


def _old_peer_context(context: ssl.SSLContext, versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None) -> None:
    # Level 0: OpenSSL's own policy must not refuse what the peer under test is about.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if versions is not None:
        with warnings.catch_warnings():  # Python deprecates TLS 1.0/1.1: this peer is about them
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version, context.maximum_version = versions


@dataclass
class Peer:
    """A Front End on a thread of its own, with blocking sockets so that its alerts reach the
    peer before it closes; ``seen`` lists each handshake's result."""

    listener: socket.socket
    thread: threading.Thread
    seen: list[str]

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread's accept()
        self.listener.close()
        self.thread.join(timeout=10)


def _serve_sip(connection: ssl.SSLSocket) -> None:
    """Answer every request with 200 until the peer closes."""
    stream = SipStream()
    while True:
        event = stream.next_event()
        if event is NEED_DATA:
            data = connection.recv(65536)
            if not data:
                return
            stream.receive_data(data)
        elif isinstance(event, MessageReceived):
            connection.sendall(make_response(event.message, 200, to_tag="fe1"))
        else:
            return


def _frontend(pki: Pki, chain: str, versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None) -> Peer:
    """A Front End presenting ``chain`` (TLS ``versions``): 200 to every request."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _old_peer_context(context, versions)
    context.load_cert_chain(pki.pem(f"{chain}-chain"), pki.folder / f"{chain}.key")
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return  # closed
            with raw:
                raw.settimeout(15)
                try:
                    with context.wrap_socket(raw, server_side=True) as connection:
                        seen.append("handshake")
                        _serve_sip(connection)
                except (ssl.SSLError, OSError) as exc:
                    seen.append(f"failed: {getattr(exc, 'reason', None) or exc}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return Peer(listener, thread, seen)


def _java_text(error: dict[str, Any] | None) -> str | None:
    return f"{error['exception']}: {error['message']}" if error else None


async def _both_register(pki: Pki, java_cache: Path, chain: str, overrides: dict[str, str],
                         versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None) -> tuple[Any, Any, list[str]]:
    """The stand-in's and the JVM's register to the same OpenSSL Front End: (stand-in report,
    probe report, what the Front End saw of each)."""
    peer = _frontend(pki, chain, versions)
    try:
        ours = await _connector(pki, overrides).register("127.0.0.1", peer.port, timeout=10)
        java = await probe_register(frontend=("127.0.0.1", peer.port), frontend_fqdn=FE, ucc_fqdn=UCC,
                                    arguments=ARGUMENTS, files=pki.files, cache_dir=java_cache, java_security=overrides)
    finally:
        peer.close()
    return ours, java, peer.seen


async def _both_register_to_jdk(pki: Pki, java_cache: Path, chain: str, overrides: dict[str, str]
                                ) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The same, to a Front End that is a JDK 17 server presenting ``chain`` (the Java probe's
    listen): as research-12 §8a's runs, it sends its chain whatever the client offers."""
    frontend_arguments = format_arguments(ConnectorArguments(
        cert_store_file=rf"c:\gcti\{chain}.pfx", cert_store_pass="fepass", cert_store_type="pkcs12",
        key_store_file=r"c:\gcti\UCC_store.jks", key_store_pass="changeit", key_store_type="jks",
    ))
    async with await start_probe_listener(ucc_fqdn=FE, arguments=frontend_arguments, files=pki.files, count=2,
                                          timeout=30, cache_dir=java_cache) as frontend:
        assert frontend.port is not None, (await frontend.result()).json
        ours = await _connector(pki, overrides).register("127.0.0.1", frontend.port, timeout=10)
        java = await probe_register(frontend=("127.0.0.1", frontend.port), frontend_fqdn=FE, ucc_fqdn=UCC,
                                    arguments=ARGUMENTS, files=pki.files, cache_dir=java_cache, java_security=overrides)
        seen = (await frontend.result()).json["connections"]
    return ours, java, seen


def _masked(text: str | None) -> str | None:
    """A text with denyAfter's "params date" (the moment of each run) masked."""
    return re.sub(r"params date: \S+Z", "params date: <now>", text) if text else text


CLIENT_CASES = [
    ("sha1-chain-default-policy", "fe-sha1", {}, None),
    ("sha1-chain-sha1-disabled", "fe-sha1", SHA1_OFF, "Algorithm constraints check failed on signature algorithm: SHA1withRSA"),
    ("rsa-1024-default-policy", "fe-1024", {}, None),
    ("rsa-1024-under-2048-limit", "fe-1024", RSA_2048,
     f"Algorithm constraints check failed on keysize limits: RSA 1024 bit key used with certificate: CN={FE}"),
    ("sha1-and-1024-signature-first", "fe-sha1-1024", {"jdk.certpath.disabledAlgorithms": "SHA1, RSA keySize < 2048"},
     "Algorithm constraints check failed on signature algorithm: SHA1withRSA"),
    ("anchor-key-1024", "fe-under-1024-root", RSA_2048,
     "Algorithm constraints check failed on signature algorithm: SHA256withRSA"),
    ("issuing-ca-key-1024", "fe-under-1024-ca", RSA_2048,
     "Algorithm constraints check failed on keysize limits: RSA 1024 bit key used with certificate: "
     'CN=Issuing 1024, OU="PKI, Lab", O=Company A, DC=companya, DC=com'),
    ("tls-list-key-size", "fe-1024", {"jdk.tls.disabledAlgorithms": "SSLv3, TLSv1, TLSv1.1, RSA keySize < 2048"},
     "Algorithm constraints check failed on key RSA with size of 1024bits"),
    ("sha1-usage-tlsserver", "fe-sha1", {"jdk.certpath.disabledAlgorithms": "SHA1 usage TLSServer"},
     f"Usage constraint TLSServer check failed: SHA1 used with certificate: CN={FE}"),
    ("sha1-usage-tlsclient-not-for-a-server", "fe-sha1", {"jdk.certpath.disabledAlgorithms": "SHA1 usage TLSClient"}, None),
    ("sha1-deny-after-2019", "fe-sha1", {"jdk.certpath.disabledAlgorithms": "SHA-1 denyAfter 2019-01-01"},
     f"denyAfter constraint check failed: SHA1 used with Constraint date: 2019-01-01; params date: <now> used with certificate: CN={FE}"),
    ("sha1-deny-after-2099", "fe-sha1", {"jdk.certpath.disabledAlgorithms": "SHA1 denyAfter 2099-01-01"}, None),
    ("sha1-jdkca-only", "fe-sha1", {"jdk.certpath.disabledAlgorithms": "SHA1 jdkCA & usage TLSServer"}, None),
    ("sha256-disabled-by-name", "fe", {"jdk.certpath.disabledAlgorithms": "SHA256"},
     "Algorithm constraints check failed on signature algorithm: SHA256withRSA"),
]


@pytest.mark.interop
@pytest.mark.parametrize(("chain", "overrides", "refusal"), [c[1:] for c in CLIENT_CASES], ids=[c[0] for c in CLIENT_CASES])
def test_the_connector_judges_the_front_ends_chain_as_the_jvm(pki: Pki, java_cache: Path, chain: str,
                                                              overrides: dict[str, str], refusal: str | None) -> None:
    ours, java, seen = asyncio.run(_both_register_to_jdk(pki, java_cache, chain, overrides))
    if refusal is None:
        # The handshake passes; the JDK Front End answers OPTIONS 200 and REGISTER 501.
        assert [r["status"] for r in ours.responses] == [r["status"] for r in java.json["responses"]] == [200, 501]
        assert [c["error"] for c in seen] == [None, None]
        return
    expected = f"javax.net.ssl.SSLHandshakeException: PKIX path validation failed: java.security.cert.CertPathValidatorException: {refusal}"
    assert _masked(_java_text(java.error)) == expected
    assert _masked(ours.error) == expected
    assert ours.code == code_for_java_error(ours.error) in {"cert-signature-algorithm-disabled", "cert-key-too-small"}
    # Refused inside the handshake on both: the Front End's handshake failed (on Java's
    # alert certificate_unknown, on the stand-in's handshake_failure — or a broken pipe when
    # the client had already closed, for either: see harness.connector._tls).
    assert [c["error"]["phase"] for c in seen] == ["handshake", "handshake"], seen


@pytest.mark.interop
@pytest.mark.parametrize(("chain", "overrides"), [("fe-sha1", SHA1_OFF), ("fe", {"jdk.certpath.disabledAlgorithms": "SHA256"})],
                         ids=["sha1-chain-sha1-off", "sha256-chain-sha256-off"])
def test_an_openssl_front_end_with_a_disabled_chain_fails_both_to_one_diagnosis(pki: Pki, java_cache: Path, chain: str,
                                                                               overrides: dict[str, str]) -> None:
    """JSSE leaves java.security's disabled algorithms out of its signature_algorithms_cert; an
    OpenSSL 3 server whose chain needs one then finds "no suitable signature algorithm" and
    aborts before the JVM sees the chain. Python's OpenSSL cannot send that extension, so the
    stand-in gets the chain and refuses it itself: other words, the same cause."""
    ours, java, seen = asyncio.run(_both_register(pki, java_cache, chain, overrides))
    assert _java_text(java.error) == "javax.net.ssl.SSLHandshakeException: Received fatal alert: handshake_failure"
    assert seen[1] == "failed: NO_SUITABLE_SIGNATURE_ALGORITHM"
    assert ours.error.startswith("javax.net.ssl.SSLHandshakeException: PKIX path validation failed: "
                                 "java.security.cert.CertPathValidatorException: Algorithm constraints check failed")
    assert ours.code == code_for_text("no suitable signature algorithm", sources=("openssl",)) == "cert-signature-algorithm-disabled"


@pytest.mark.interop
@pytest.mark.parametrize("maximum", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["tls-1.0", "tls-1.1"])
def test_an_old_front_end_meets_jdk_17s_disabled_versions(pki: Pki, java_cache: Path, maximum: ssl.TLSVersion) -> None:
    """research-12 §8c: a default JDK 17 client meeting a TLS 1.0/1.1-only server."""
    versions = (ssl.TLSVersion.TLSv1, maximum)
    ours, java, seen = asyncio.run(_both_register(pki, java_cache, "fe", {}, versions))
    text = "javax.net.ssl.SSLHandshakeException: Received fatal alert: protocol_version"
    assert (ours.error, _java_text(java.error)) == (text, text)
    assert ours.code == "tls-protocol-mismatch"
    assert all("UNSUPPORTED_PROTOCOL" in s for s in seen), seen
    # The same Front End, with TLS 1.0 and 1.1 re-enabled in the connector's java.security.
    ours, java, seen = asyncio.run(_both_register(pki, java_cache, "fe", OLD_TLS_ON, versions))
    assert (ours.outcome, java.outcome) == ("confirmed", "confirmed")
    assert java.json["tls"]["version"] == ours.tls_version == {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}[maximum]


@pytest.mark.interop
def test_no_version_left_is_javas_no_appropriate_protocol(pki: Pki, java_cache: Path) -> None:
    nothing = {"jdk.tls.disabledAlgorithms": "SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"}
    ours, java, _ = asyncio.run(_both_register(pki, java_cache, "fe", nothing))
    text = "javax.net.ssl.SSLHandshakeException: No appropriate protocol (protocol is disabled or cipher suites are inappropriate)"
    assert (ours.error, _java_text(java.error)) == (text, text)
    assert ours.code == "tls-protocol-mismatch"


# -- the Secured port: the Front End's push ---------------------------------------------------------


async def _push(pki: Pki, port: int, chain: str | None, versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None) -> None:
    """The Front End as TLS client of the Secured port, presenting ``chain`` (None: no certificate)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _old_peer_context(context, versions)
    if chain is not None:
        context.load_cert_chain(pki.pem(f"{chain}-chain"), pki.folder / f"{chain}.key")
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=UCC)
    except (ssl.SSLError, OSError):
        return  # refused: the server's log says why
    writer.write(make_request("OPTIONS", f"sip:{UCC}", via=f"SIP/2.0/TLS {FE}:5061", branch="z9hG4bKpush",
                              from_uri=f"sip:{FE}", from_tag="fe1", to_uri=f"sip:{UCC}", call_id="push", cseq=1))
    writer.close()


async def _java_refusal(pki: Pki, java_cache: Path, overrides: dict[str, str],
                        client: Callable[[int], Awaitable[None]]) -> str | None:
    async with await start_probe_listener(ucc_fqdn=UCC, arguments=ARGUMENTS, files=pki.files, timeout=15,
                                          cache_dir=java_cache, java_security=overrides) as listener:
        assert listener.port is not None
        await client(listener.port)
        report = await listener.result()
    return _java_text(report.json["connections"][0]["error"])


async def _our_refusal(pki: Pki, overrides: dict[str, str], client: Callable[[int], Awaitable[None]]) -> str:
    async with await _connector(pki, overrides).start_secure_port(handshake_timeout=10) as port:
        await client(port.port)
        (failure,) = await port.wait_for("tls-failure")
    return failure.details["text"]


# The SHA-1 client certificates are pushed over TLS 1.2: over TLS 1.3 an OpenSSL client
# withholds a chain the JDK's CertificateRequest (signature_algorithms_cert) does not
# cover and the JVM says "Empty client certificate chain", while Python's OpenSSL cannot
# send that extension and the stand-in gets the chain (run here; see harness.connector._tls).
SERVER_CASES = [
    ("sha1-client-certificate-sha1-disabled", "fe-sha1", TLS_1_2, SHA1_OFF,
     "javax.net.ssl.SSLHandshakeException: PKIX path validation failed: java.security.cert.CertPathValidatorException: "
     "Algorithm constraints check failed on signature algorithm: SHA1withRSA"),
    ("sha1-client-certificate-usage-tlsclient", "fe-sha1", TLS_1_2, {"jdk.certpath.disabledAlgorithms": "SHA1 usage TLSClient"},
     "javax.net.ssl.SSLHandshakeException: PKIX path validation failed: java.security.cert.CertPathValidatorException: "
     f"Usage constraint TLSClient check failed: SHA1 used with certificate: CN={FE}"),
    ("tls-1.1-client", "fe", (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1), {},
     "javax.net.ssl.SSLHandshakeException: Client requested protocol TLSv1.1 is not enabled or supported in server context"),
    ("tls-1.0-client", "fe", (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1), {},
     "javax.net.ssl.SSLHandshakeException: Client requested protocol TLSv1 is not enabled or supported in server context"),
]


@pytest.mark.interop
@pytest.mark.parametrize(("chain", "versions", "overrides", "text"), [c[1:] for c in SERVER_CASES], ids=[c[0] for c in SERVER_CASES])
def test_the_secured_port_refuses_the_push_as_the_jvm(pki: Pki, java_cache: Path, chain: str,
                                                      versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None,
                                                      overrides: dict[str, str], text: str) -> None:
    async def push(port: int) -> None:
        await _push(pki, port, chain, versions)

    async def both() -> tuple[str | None, str | None]:
        return await _java_refusal(pki, java_cache, overrides, push), await _our_refusal(pki, overrides, push)

    assert asyncio.run(both()) == (text, text)


@pytest.mark.interop
def test_a_client_offering_only_old_versions_in_supported_versions(pki: Pki, java_cache: Path) -> None:
    """A JDK client whose java.security keeps only TLS 1.0/1.1 sends them in supported_versions:
    JDK 17's other wording (research-12 §8c, vocabulary §5)."""
    old_only = {"jdk.tls.disabledAlgorithms": "SSLv3, TLSv1.2, TLSv1.3, RC4"}

    async def jdk_client(port: int) -> None:
        await probe_register(frontend=("127.0.0.1", port), frontend_fqdn=UCC, ucc_fqdn=FE, arguments=ARGUMENTS,
                             files=pki.files, cache_dir=java_cache, java_security=old_only)

    async def both() -> tuple[str | None, str | None]:
        return await _java_refusal(pki, java_cache, {}, jdk_client), await _our_refusal(pki, {}, jdk_client)

    text = ("javax.net.ssl.SSLHandshakeException: The client supported protocol versions [TLSv1.1, TLSv1] are not "
            "accepted by server preferences [TLSv1.3, TLSv1.2]")
    assert asyncio.run(both()) == (text, text)


# -- Java's names for certificates --------------------------------------------------------------------


def test_principals_print_as_x500principal_does(pki: Pki) -> None:
    issuing = x509.load_pem_x509_certificate(pki.pem("issuing1024").read_bytes())
    # The same text the JVM printed for it above (issuing-ca-key-1024).
    assert java_principal(issuing.subject) == 'CN=Issuing 1024, OU="PKI, Lab", O=Company A, DC=companya, DC=com'


def test_a_path_is_checked_from_the_anchor_down(pki: Pki) -> None:
    """Unit view of the rule the agreement cases pin: with both an RSA limit and SHA-1 off,
    the first certificate below the anchor is refused first, for its own key."""
    chain = pki.chain("fe-under-1024-ca")
    anchor = x509.load_pem_x509_certificate(pki.pem("root").read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)
    policy = JavaSecurity({"jdk.certpath.disabledAlgorithms": "SHA1, RSA keySize < 2048"})
    message = policy.check_path(list(reversed(chain)), anchor.public_key(), variant="TLSServer", now=now)
    assert message is not None and "CN=Issuing 1024" in message
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    assert policy.check_path(chain[:1], small, variant="TLSServer", now=now) == (
        "Algorithm constraints check failed on signature algorithm: SHA256withRSA")


# -- the connector host's settings ------------------------------------------------------------------


def test_the_hosts_settings_reach_the_connector(pki: Pki) -> None:
    """The connector host's admin API: java-security and endpoint-identification apply to the
    next action; values Java would refuse are refused in words."""
    service = ConnectorService.of(_connector(pki, {}), ucc_fqdn=UCC, bind="127.0.0.1")
    admin = local_client(service.admin_service())

    async def register(chain: str) -> dict[str, Any]:
        peer = _frontend(pki, chain, TLS_1_2)
        try:
            return await admin.act("register", {"frontend": {"host": "127.0.0.1", "port": peer.port}})
        finally:
            peer.close()

    async def scenario() -> list[Any]:
        seen = [await admin.get("java-security"), await admin.get("endpoint-identification"),
                (await register("fe-sha1"))["outcome"]]
        seen.append(await admin.put("java-security", format_properties(SHA1_OFF)))  # as a java.security file
        seen.append((await register("fe-sha1"))["code"])
        seen.append((await register("fe-other-name"))["outcome"])  # no name check by default
        seen.append(await admin.put("endpoint-identification", "https"))
        seen.append((await register("fe-other-name"))["code"])
        for setting, value in (("java-security", {"jdk.certpath.disabledAlgorithms": "RSA keyLength < 2048"}),
                               ("java-security", ["SHA1"]), ("endpoint-identification", "LDAPS")):
            with pytest.raises(AdminUnavailable) as refused:
                await admin.put(setting, value)
            seen.append((refused.value.status, str(refused.value)))
        await service.close()
        return seen

    (initial_security, initial_endpoint, default_outcome, security, code, other_name, endpoint, other_name_code,
     *refusals) = asyncio.run(scenario())
    assert (initial_security, initial_endpoint, default_outcome) == ({}, None, "confirmed")
    assert security == SHA1_OFF and code == "cert-signature-algorithm-disabled"
    assert (other_name, endpoint, other_name_code) == ("confirmed", "HTTPS", "cert-name-mismatch")
    assert [status for status, _ in refusals] == [400, 400, 400]
    assert "Constraint unknown: keyLength < 2048" in refusals[0][1]


@pytest.mark.interop
@pytest.mark.parametrize("versions", [None, TLS_1_2], ids=["tls-1.3", "tls-1.2"])
def test_a_secured_port_without_a_key_fails_as_the_jvm(pki: Pki, java_cache: Path,
                                                       versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None) -> None:
    """No key in the key store: JDK 17 finds no certificate to sign with under TLS 1.3 and no
    cipher suite it could serve under TLS 1.2."""
    keyless = format_arguments(ConnectorArguments(key_store_file=r"c:\gcti\UCC_store.jks", key_store_pass="changeit",
                                                  key_store_type="jks"))

    async def push(port: int) -> None:
        await _push(pki, port, "fe", versions)

    async def both() -> tuple[str | None, str]:
        async with await start_probe_listener(ucc_fqdn=UCC, arguments=keyless, files=pki.files, timeout=15,
                                              cache_dir=java_cache) as listener:
            assert listener.port is not None
            await push(listener.port)
            java = _java_text((await listener.result()).json["connections"][0]["error"])
        app = CfgApplication(name="UCC", command_line_arguments=keyless,
                             port_infos=[CfgPortInfo.with_mode("lync-tls", 0, conn_protocol="sip", mode=ListeningMode.SECURED)])
        connector = UCConnector.from_application(app, resolve_path=lambda path: pki.files / PureWindowsPath(path).name,
                                                 java_home=None, frontend_fqdn=FE, ucc_fqdn=UCC)
        async with await connector.start_secure_port(handshake_timeout=10) as port:
            await push(port.port)
            (failure,) = await port.wait_for("tls-failure")
        return java, failure.details["text"]

    java, ours = asyncio.run(both())
    words = "No available authentication scheme" if versions is None else "no cipher suites in common"
    assert java == ours == f"javax.net.ssl.SSLHandshakeException: {words}"
