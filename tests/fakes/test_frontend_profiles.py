"""TLS as the Front End's product and Windows Server speak it, checked with real clients
(``openssl s_client``, Python's ``ssl``): the versions each profile enables, the suite the
server's order picks, the Server header; SChannel's words beside OpenSSL's in the evidence;
and a TCP close without close_notify answered with nothing (no decode_error alert).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from fakes.frontend import FrontendServer, main
from fakes.frontend._profiles import PROFILES

from .frontend_support import (
    FE_FQDN,
    NOW,
    SERVER_AUTH,
    UCC_FQDN,
    Credential,
    LabPki,
    client_context,
    frontend_config,
    mtls_exchange,
    needs_openssl,
    options_request,
    s_client,
)


def _run(pki: LabPki, fe: Credential, scenario: Callable[[FrontendServer], Awaitable[None]], **config: Any) -> FrontendServer:
    async def go() -> FrontendServer:
        async with FrontendServer(frontend_config(pki, fe, **config)) as server:
            await scenario(server)
        return server

    return asyncio.run(go())


async def _s_client(server: FrontendServer, ucc: Credential, *args: str) -> tuple[str, str]:
    """``openssl s_client`` with the connector's certificate: what it printed (the session
    summary, then the Front End's answer to an OPTIONS), and its errors."""
    output, errors = await s_client(
        server.port, "-cert", str(ucc.cert_path), "-key", str(ucc.key_path), "-ign_eof", *args,
        data=options_request(), until=lambda out: b"\r\n\r\n" in out.partition(b"SIP/2.0")[2], timeout=20)
    return output.decode("utf-8", "replace"), errors.decode("utf-8", "replace")


# -- versions and suites -----------------------------------------------------------------------

@pytest.mark.interop
@needs_openssl
@pytest.mark.parametrize(("profile", "version", "accepted"), [
    ("sfb2015", "-tls1_3", False),  # the default: Windows Server 2016 has no TLS 1.3
    ("sfb2015", "-tls1_2", True),
    ("sfb2015", "-tls1_1", True),
    ("sfb2015", "-tls1", True),
    ("lync2013", "-tls1", True),
    ("lync2013", "-tls1_3", False),
    ("sfb2015-hardened", "-tls1_1", False),
    ("sfb2015-hardened", "-tls1_2", True),
    ("sfb2019", "-tls1_3", True),
    ("sfb2019", "-tls1_1", False),
])
def test_each_profile_speaks_its_versions(pki: LabPki, fe: Credential, ucc: Credential,
                                          profile: str, version: str, accepted: bool) -> None:
    outputs: list[str] = []

    async def scenario(server: FrontendServer) -> None:
        # A TLS 1.0/1.1 client needs OpenSSL 3's security level 0 to offer them at all.
        weak = ["-cipher", "DEFAULT:@SECLEVEL=0"] if version in ("-tls1", "-tls1_1") else []
        out, _ = await _s_client(server, ucc, version, *weak)
        outputs.append(out)
        await server.events.wait_for("closed", timeout=10)

    server = _run(pki, fe, scenario, profile=profile)
    if accepted:
        assert "SIP/2.0 200 OK" in outputs[0]
        (handshake,) = server.events.of_type("tls-handshake")
        assert handshake["version"] == {"-tls1": "TLSv1", "-tls1_1": "TLSv1.1", "-tls1_2": "TLSv1.2",
                                        "-tls1_3": "TLSv1.3"}[version]
    else:
        assert "SIP/2.0" not in outputs[0]
        (failure,) = server.events.of_type("tls-failure")
        assert failure["error"] == "unsupported protocol" and failure["alert_sent"] == "protocol_version"
        assert failure["schannel"]["event_id"] == 36888
        assert failure["schannel"]["message"].endswith("The TLS protocol defined fatal alert code is 70.")


@pytest.mark.interop
@needs_openssl
@pytest.mark.parametrize(("profile", "cipher"), [
    ("sfb2015", "ECDHE-RSA-AES256-GCM-SHA384"),  # 2016's first suite for an RSA certificate
    ("lync2013", "ECDHE-RSA-AES256-SHA384"),  # 2012 R2 has no ECDHE_RSA with GCM
])
def test_the_servers_suite_order_wins(pki: LabPki, fe: Credential, ucc: Credential, profile: str, cipher: str) -> None:
    async def scenario(server: FrontendServer) -> None:
        # The client prefers another suite first; SChannel's order decides.
        out, _ = await _s_client(server, ucc, "-tls1_2", "-cipher", f"AES128-SHA:{cipher}:ECDHE-RSA-AES128-SHA")
        assert f"Cipher is {cipher}" in out

    server = _run(pki, fe, scenario, profile=profile)
    assert server.events.of_type("tls-handshake")[0]["cipher"] == cipher


@pytest.mark.interop
@needs_openssl
def test_no_shared_suite_is_schannels_36874(pki: LabPki, fe: Credential, ucc: Credential) -> None:
    async def scenario(server: FrontendServer) -> None:
        out, _ = await _s_client(server, ucc, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA")
        assert "SIP/2.0" not in out
        await server.events.wait_for("closed", timeout=10)

    server = _run(pki, fe, scenario, profile="sfb2015-hardened")  # TLSDisable.reg's twelve suites, no CBC-SHA1
    (failure,) = server.events.of_type("tls-failure")
    assert failure["error"] == "no shared cipher"
    assert failure["schannel"]["event_id"] == 36874 and failure["schannel"]["symbol"] == "SEC_E_ALGORITHM_MISMATCH"
    assert failure["schannel"]["message"].startswith("An TLS 1.2 connection request was received from a remote client")


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_python_ssl_gets_the_profiles_highest_version_and_server_header(
        pki: LabPki, fe: Credential, ucc: Credential, profile: str) -> None:
    async def scenario(server: FrontendServer) -> None:
        (answer,) = await mtls_exchange(server.port, client_context(pki.ca_path, ucc), options_request())
        assert answer.message.headers["Server"] == PROFILES[profile].server_header

    server = _run(pki, fe, scenario, profile=profile)
    expected = "TLSv1.3" if "1.3" in PROFILES[profile].versions else "TLSv1.2"
    assert server.events.of_type("tls-handshake")[0]["version"] == expected
    assert server.events.of_type("listening")[0]["profile"] == profile


def test_the_command_line_takes_a_profile_and_revocation_options(pki: LabPki, fe: Credential,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--cert", str(fe.cert_path), "--key", str(fe.key_path), "--ca", str(pki.ca_path), "--fqdn", FE_FQDN]
    with pytest.raises(SystemExit) as exit_info:
        main([*base, "--profile", "sfb2099"])
    assert exit_info.value.code == 2 and "invalid choice: 'sfb2099'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--cdp-host", "labdc01.companya.com"])
    assert "expected NAME=ADDRESS:PORT" in capsys.readouterr().err


# -- SChannel's words for a refused client certificate ---------------------------------------

def _refused(pki: LabPki, fe: Credential, client: ssl.SSLContext, **config: Any) -> dict[str, Any]:
    async def scenario(server: FrontendServer) -> None:
        try:
            assert await mtls_exchange(server.port, client, options_request()) == []
        except (ssl.SSLError, ConnectionError):
            pass
        await server.events.wait_for("closed", timeout=10)

    (failure,) = _run(pki, fe, scenario, **config).events.of_type("tls-failure")
    return failure


def test_a_client_certificate_of_another_ca_is_sec_e_untrusted_root(pki: LabPki, fe: Credential, tmp_path: Path) -> None:
    foreign = trustme.CA(organization_name="Foreign Corp")
    bundle = tmp_path / "foreign.pem"
    foreign.issue_cert(UCC_FQDN).private_key_and_cert_chain_pem.write_to_path(str(bundle))
    os.chmod(bundle, 0o600)
    client = client_context(pki.ca_path, None)
    client.load_cert_chain(str(bundle))
    failure = _refused(pki, fe, client)
    assert failure["error"] == "unable to get local issuer certificate"  # OpenSSL's words, as before
    assert failure["schannel"]["symbol"] == "SEC_E_UNTRUSTED_ROOT" and failure["schannel"]["hresult"] == "0x80090325"
    assert failure["schannel"]["text"] == "The certificate chain was issued by an authority that is not trusted."
    assert failure["schannel"]["message"] == ("The certificate received from the remote client application has not "
                                              "validated correctly. The error code is 0x80090325. The attached data "
                                              "contains the client certificate.")
    assert "assumed" in failure["schannel"]
    assert failure["chain_status"]["symbol"] == "CERT_E_CHAINING"


def test_an_expired_client_certificate_is_sec_e_cert_expired(pki: LabPki, fe: Credential) -> None:
    expired = pki.issue("expired", cn=UCC_FQDN, not_before=NOW - datetime.timedelta(days=400),
                        not_after=NOW - datetime.timedelta(days=1))
    failure = _refused(pki, fe, client_context(pki.ca_path, expired))
    assert (failure["schannel"]["symbol"], failure["chain_status"]["symbol"]) == ("SEC_E_CERT_EXPIRED", "CERT_E_EXPIRED")


def test_a_server_auth_only_certificate_when_strict_is_wrong_usage(pki: LabPki, fe: Credential) -> None:
    web = pki.issue("ucc-web", cn=UCC_FQDN, eku=[SERVER_AUTH])
    failure = _refused(pki, fe, client_context(pki.ca_path, web), require_client_auth_eku=True)
    assert (failure["schannel"]["symbol"], failure["chain_status"]["symbol"]) == (
        "SEC_E_CERT_WRONG_USAGE", "CERT_E_WRONG_USAGE")


# -- a TCP close is no malformed record --------------------------------------------------------

class _RawTls:
    """A TLS client on memory BIOs over a plain TCP stream, so the test decides what goes
    on the wire and sees every byte that comes back."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=FE_FQDN)

    async def handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                self.tls.do_handshake()
                writer.write(self.outgoing.read())
                return
            except ssl.SSLWantReadError:
                writer.write(self.outgoing.read())
                await writer.drain()
                self.incoming.write(await reader.read(65536))


@pytest.mark.parametrize("when", ["after the handshake", "during the handshake"])
def test_a_tcp_close_without_close_notify_is_answered_with_nothing(
        pki: LabPki, fe: Credential, ucc: Credential, when: str) -> None:
    """OpenSSL 3 takes a TCP close without close_notify for a truncated record and queues a
    decode_error alert; the Front End sends no alert for it, nor a close_notify."""
    left: list[bytes] = []

    async def scenario(server: FrontendServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        client = _RawTls(client_context(pki.ca_path, ucc))
        if when == "after the handshake":
            await client.handshake(reader, writer)
            await server.events.wait_for("peer-trusted", timeout=10)
        else:
            try:
                client.tls.do_handshake()
            except ssl.SSLWantReadError:
                writer.write(client.outgoing.read()[:30])  # half a ClientHello
        await writer.drain()
        writer.write_eof()  # FIN, no close_notify
        left.append(await asyncio.wait_for(reader.read(), 10))
        writer.close()
        await server.events.wait_for("closed", timeout=10)

    server = _run(pki, fe, scenario)
    assert left == [b""]
    if when == "during the handshake":
        (failure,) = server.events.of_type("tls-failure")
        assert failure["error"] == "peer closed the connection during the handshake"
        assert failure["alert_sent"] is None
