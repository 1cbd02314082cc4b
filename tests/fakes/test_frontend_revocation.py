"""Revocation of client certificates, checked as Lync checks it: the CRL at the
certificate's CDP URL fetched over HTTP (a real server here, reached through
``cdp_hosts`` since ``labdc01.companya.com`` does not resolve), cached until its
nextUpdate; a revoked certificate, an unreachable CDP and an expired CRL end the
connection after the TLS handshake, with OpenSSL's and Windows' words in the evidence.
The CRLs are made here with ``cryptography``; ``openssl crl`` reads the one served.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from fakes.frontend import FrontendServer
from fakes.frontend._revocation import check_crl

from .frontend_support import (
    NOW,
    UCC_FQDN,
    Credential,
    LabPki,
    client_context,
    frontend_config,
    mtls_exchange,
    needs_openssl,
    options_request,
    rsa_key,
)

CDP_HOST = "labdc01.companya.com"
CRL_PATH = "/CertEnroll/companya-LABDC01-CA.crl"
CDP_URL = f"http://{CDP_HOST}{CRL_PATH}"


@pytest.fixture(scope="module")
def fe(pki: LabPki) -> Credential:
    return pki.issue("fe01", cn="fe01.companya.com", dns=["fe01.companya.com"])


@pytest.fixture(scope="module")
def ucc(pki: LabPki) -> Credential:
    return pki.issue("ucc01", cn=UCC_FQDN, dns=[UCC_FQDN], cdp=[CDP_URL])


@dataclass
class CertEnroll:
    """The CA host's ``/CertEnroll/`` site: a tiny HTTP/1.1 server over a real socket."""

    files: dict[str, bytes]
    requests: list[str] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].decode()
        self.requests.append(path)
        body = self.files.get(path)
        if body is None:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\n"
                         + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def _run(pki: LabPki, fe: Credential, crl: bytes | None,
         scenario: Callable[[FrontendServer, CertEnroll], Awaitable[None]], **config: Any) -> tuple[FrontendServer, CertEnroll]:
    """A Front End whose CDP host is the test's HTTP server (serving ``crl``, or nothing)."""

    async def main() -> tuple[FrontendServer, CertEnroll]:
        site = CertEnroll({CRL_PATH: crl} if crl is not None else {})
        await site.start()
        settings = {"cdp_hosts": {CDP_HOST: site.address}, **config}
        try:
            async with FrontendServer(frontend_config(pki, fe, **settings)) as server:
                await scenario(server, site)
        finally:
            await site.close()
        return server, site

    return asyncio.run(main())


async def _options(server: FrontendServer, pki: LabPki, client: Credential) -> list[int | None]:
    try:
        return [a.status for a in await mtls_exchange(server.port, client_context(pki.ca_path, client), options_request())]
    except ConnectionError:  # closed before the request went out
        return []


def test_a_certificate_not_on_the_crl_is_served_and_the_crl_is_fetched_once(
        pki: LabPki, fe: Credential, ucc: Credential) -> None:
    async def scenario(server: FrontendServer, site: CertEnroll) -> None:
        assert await _options(server, pki, ucc) == [200]
        assert await _options(server, pki, ucc) == [200]  # from the cache: no second fetch
        assert site.requests == [CRL_PATH]

    server, _site = _run(pki, fe, pki.crl(), scenario)
    checked = server.events.of_type("revocation-checked")
    assert len(checked) == 2
    (result,) = checked[0]["results"]
    assert (result["status"], result["url"], result["subject"]) == ("good", CDP_URL, f"CN={UCC_FQDN}")
    assert len(server.events.of_type("peer-trusted")) == 2


@pytest.mark.interop
@needs_openssl
def test_a_revoked_certificate_ends_the_connection_after_the_handshake(
        pki: LabPki, fe: Credential, ucc: Credential, tmp_path: Path) -> None:
    crl = pki.crl([ucc.certificate.serial_number])
    served = tmp_path / "served.crl"

    async def scenario(server: FrontendServer, site: CertEnroll) -> None:
        # OpenSSL's own client: the handshake finishes (SChannel leaves client
        # certificates to Lync), then the Front End ends the connection unanswered.
        process = await asyncio.create_subprocess_exec(
            "openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-cert", str(ucc.cert_path),
            "-key", str(ucc.key_path), "-CAfile", str(pki.ca_path), "-quiet", "-ign_eof",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, _err = await asyncio.wait_for(process.communicate(options_request()), 30)
        assert b"SIP/2.0" not in out
        # What the CDP serves, as OpenSSL reads it.
        reader, writer = await asyncio.open_connection(*site.address.split(":"))
        writer.write(f"GET {CRL_PATH} HTTP/1.1\r\nHost: {CDP_HOST}\r\n\r\n".encode())
        served.write_bytes((await reader.read()).split(b"\r\n\r\n", 1)[1])
        writer.close()

    server, _site = _run(pki, fe, crl, scenario)
    (handshake,) = server.events.of_type("tls-handshake")
    (failure,) = server.events.of_type("tls-failure")
    assert failure["connection"] == handshake["connection"] and failure["phase"] == "revocation"
    assert failure["error"] == "certificate revoked"
    assert failure["verify_errors"] == [{"depth": 0, "code": 23, "text": "certificate revoked",
                                         "subject": f"CN={UCC_FQDN}", "ignored": False}]
    assert failure["revocation"]["reason"] == "key_compromise"
    assert failure["chain_status"]["symbol"] == "CRYPT_E_REVOKED"
    assert failure["chain_status"]["hresult"] == "0x80092010"
    assert failure["revocation"]["policy_status"]["symbol"] == "CERT_E_REVOKED"
    assert failure["schannel"]["event_id"] == 36877 and "0x80092010" in failure["schannel"]["message"]
    assert not server.events.of_type("peer-trusted") and not server.events.requests()
    text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(served), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    serials = [int(line.split(":", 1)[1], 16) for line in text.splitlines() if "Serial Number:" in line]
    assert serials == [ucc.certificate.serial_number]
    assert "Key Compromise" in text
    assert "Issuer: DC = com, DC = companya, CN = companya-LABDC01-CA" in text


def test_an_unreachable_cdp_is_revocation_offline(pki: LabPki, fe: Credential, ucc: Credential) -> None:
    async def scenario(server: FrontendServer, site: CertEnroll) -> None:
        await site.close()  # nothing listens there any more
        site.server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)  # for the final close
        assert await _options(server, pki, ucc) == []

    server, _site = _run(pki, fe, pki.crl(), scenario)
    (failure,) = server.events.of_type("tls-failure")
    assert failure["error"] == "unable to get certificate CRL" and failure["verify_errors"][0]["code"] == 3
    assert failure["chain_status"] == {
        "hresult": "0x80092013", "symbol": "CRYPT_E_REVOCATION_OFFLINE",
        "text": "The revocation function was unable to check revocation because the revocation server was offline."}
    assert CDP_URL in failure["reasons"][0]


@pytest.mark.parametrize(("crl_kind", "code", "text"), [
    ("expired", 12, "CRL has expired"),
    ("404", 3, "unable to get certificate CRL"),
    ("not a CRL", 3, "unable to get certificate CRL"),
    ("another CA's", 3, "unable to get certificate CRL"),
])
def test_a_crl_that_cannot_be_used_is_revocation_offline(pki: LabPki, fe: Credential, ucc: Credential,
                                                         tmp_path: Path, crl_kind: str, code: int, text: str) -> None:
    crl: bytes | None = {
        "expired": pki.crl(this_update=NOW - datetime.timedelta(days=9), next_update=NOW - datetime.timedelta(days=2)),
        "404": None,
        "not a CRL": b"<html>IIS</html>",
        "another CA's": LabPki(tmp_path, name="Other-CA").crl(),
    }[crl_kind]

    async def scenario(server: FrontendServer, site: CertEnroll) -> None:
        assert await _options(server, pki, ucc) == []

    server, _site = _run(pki, fe, crl, scenario)
    (failure,) = server.events.of_type("tls-failure")
    assert (failure["error"], failure["verify_errors"][0]["code"]) == (text, code)
    assert failure["chain_status"]["symbol"] == "CRYPT_E_REVOCATION_OFFLINE"


def test_revocation_checking_off_serves_a_revoked_certificate(pki: LabPki, fe: Credential, ucc: Credential) -> None:
    async def scenario(server: FrontendServer, site: CertEnroll) -> None:
        assert await _options(server, pki, ucc) == [200]
        assert site.requests == []

    server, _site = _run(pki, fe, pki.crl([ucc.certificate.serial_number]), scenario, check_revocation=False)
    assert not server.events.of_type("revocation-checked")


def test_a_certificate_without_a_cdp_is_not_checked_and_served(pki: LabPki, fe: Credential) -> None:
    plain = pki.issue("ucc01-no-cdp", cn=UCC_FQDN)

    async def scenario(server: FrontendServer, site: CertEnroll) -> None:
        assert await _options(server, pki, plain) == [200]

    server, site = _run(pki, fe, pki.crl([plain.certificate.serial_number]), scenario)
    assert site.requests == []
    (checked,) = server.events.of_type("revocation-checked")
    assert checked["results"][0]["status"] == "not-checked"
    assert checked["results"][0]["chain_status"]["symbol"] == "CRYPT_E_NO_REVOCATION_CHECK"


def test_revocation_is_seen_once_the_cache_is_cleared(pki: LabPki, fe: Credential, ucc: Credential) -> None:
    """Windows keeps a CRL until its nextUpdate: a revocation published meanwhile is seen
    after the cache is cleared (the admin action clear-crl-cache)."""
    async def scenario(server: FrontendServer, site: CertEnroll) -> None:
        assert await _options(server, pki, ucc) == [200]
        site.files[CRL_PATH] = pki.crl([ucc.certificate.serial_number])
        assert await _options(server, pki, ucc) == [200]  # the cached CRL still says good
        server.crls.forget()
        assert await _options(server, pki, ucc) == []
        assert site.requests == [CRL_PATH, CRL_PATH]

    server, _site = _run(pki, fe, pki.crl(), scenario)
    assert [f["error"] for f in server.events.of_type("tls-failure")] == ["certificate revoked"]


def test_check_crl_names_each_fault(pki: LabPki, ucc: Credential) -> None:
    """The sans-I/O core, fault by fault."""
    now = NOW
    assert check_crl(ucc.certificate, pki.certificate, pki.crl(), now).status == "good"
    revoked = check_crl(ucc.certificate, pki.certificate, pki.crl([ucc.certificate.serial_number]), now)
    assert (revoked.status, revoked.x509_code, revoked.reason) == ("revoked", 23, "key_compromise")
    future = check_crl(ucc.certificate, pki.certificate, pki.crl(this_update=now + datetime.timedelta(days=1)), now)
    assert (future.status, future.x509_code) == ("offline", 11)
    # The CA's name, another key (the leaves'): a forged CRL.
    forged_crl = (x509.CertificateRevocationListBuilder().issuer_name(pki.certificate.subject)
                  .last_update(now - datetime.timedelta(hours=1)).next_update(now + datetime.timedelta(days=1))
                  .sign(rsa_key("leaf"), hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    forged = check_crl(ucc.certificate, pki.certificate, forged_crl, now)
    assert (forged.status, forged.x509_code) == ("offline", 8)
    assert "signature does not verify" in forged.detail
    pem = ssl.DER_cert_to_PEM_cert(pki.crl()).replace("CERTIFICATE", "X509 CRL").encode()
    assert check_crl(ucc.certificate, pki.certificate, pem, now).status == "good"
