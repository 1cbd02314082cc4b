"""The Front End over real MTLS: who gets SIP service, and what the event log says.

Judged by server-side evidence (the event log), as the lab's replays are: under TLS 1.3 a
client thinks its handshake is done before the server has checked its certificate.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import ssl
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from fakes.frontend import NOT_A_CONFIGURED_SERVER, FrontendServer
from fakes.sip import make_request

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


@pytest.fixture(scope="module")
def fe(pki: LabPki) -> Credential:
    return pki.issue("fe01", cn=FE_FQDN, dns=[FE_FQDN, "pool01.companya.com"])


def _run(config_changes: dict[str, Any], pki: LabPki, fe: Credential,
         scenario: Callable[[FrontendServer], Awaitable[None]]) -> FrontendServer:
    """Run ``scenario`` against a started Front End; return it (closed) for its events."""

    async def main() -> FrontendServer:
        async with FrontendServer(frontend_config(pki, fe, **config_changes)) as server:
            await scenario(server)
        return server

    return asyncio.run(main())


@pytest.mark.interop
@needs_openssl
def test_openssl_s_client_with_a_client_certificate_gets_200_ok(pki: LabPki, fe: Credential,
                                                                 ucc: Credential) -> None:
    async def scenario(server: FrontendServer) -> None:
        out, _ = await s_client(server.port, "-cert", str(ucc.cert_path), "-key", str(ucc.key_path),
                                 "-CAfile", str(pki.ca_path), "-quiet", "-ign_eof",
                                 data=options_request(), until=b"\r\n\r\n")
        assert out.startswith(b"SIP/2.0 200 OK\r\n")
        await server.events.wait_for("response", status=200)

    server = _run({}, pki, fe, scenario)
    (handshake,) = server.events.of_type("tls-handshake")
    assert handshake["peer"]["subject"] == f"CN={UCC_FQDN}"
    assert handshake["peer"]["ekus"] == ["serverAuth", "clientAuth"]
    assert handshake["chain_subjects"][0] == f"CN={UCC_FQDN}"
    assert handshake["verified_chain"][-1] == pki.certificate.subject.rfc4514_string()
    assert handshake["version"] in ("TLSv1.2", "TLSv1.3") and handshake["cipher"]
    assert server.events.of_type("peer-trusted")[0]["peer"] == UCC_FQDN
    (request,) = server.events.requests(method="OPTIONS")
    assert request["connection"] == handshake["connection"]


@pytest.mark.interop
@needs_openssl
@pytest.mark.parametrize(("version", "profile"), [("-tls1_2", "sfb2015"), ("-tls1_3", "sfb2019")])
def test_openssl_s_client_without_a_client_certificate_is_refused(
        pki: LabPki, fe: Credential, version: str, profile: str) -> None:
    async def scenario(server: FrontendServer) -> None:
        out, errors = await s_client(server.port, version, "-CAfile", str(pki.ca_path), "-quiet",
                                      "-ign_eof", data=options_request())
        assert b"SIP/2.0" not in out
        assert b"alert" in errors
        await server.events.wait_for("closed")

    server = _run({"profile": profile}, pki, fe, scenario)
    (failure,) = server.events.of_type("tls-failure")
    assert failure["error"] == "peer did not return a certificate"
    assert failure["alert_sent"] == ("handshake_failure" if version == "-tls1_2" else "certificate_required")
    # SChannel's words beside OpenSSL's: the alert it would log having sent.
    assert failure["schannel"]["event_id"] == 36888
    assert failure["schannel"]["message"].endswith(
        f"The TLS protocol defined fatal alert code is {40 if version == '-tls1_2' else 116}.")
    assert server.events.requests() == []


@pytest.mark.interop
@needs_openssl
@pytest.mark.parametrize("send_names", [True, False])
def test_certificate_request_names_the_trusted_cas(pki: LabPki, fe: Credential, ucc: Credential,
                                                   send_names: bool) -> None:
    async def scenario(server: FrontendServer) -> None:
        out, _ = await s_client(server.port, "-tls1_2", "-cert", str(ucc.cert_path),
                                 "-key", str(ucc.key_path), "-CAfile", str(pki.ca_path),
                                 until=b"---\nSSL handshake has read")
        if send_names:
            assert b"Acceptable client certificate CA names\nDC = com, DC = companya, CN = companya-LABDC01-CA" in out
        else:
            assert b"No client certificate CA names sent" in out

    _run({"client_ca_names": send_names}, pki, fe, scenario)


def _refused(pki: LabPki, fe: Credential, client: ssl.SSLContext, **config: Any) -> dict[str, Any]:
    """Connect with ``client``, send OPTIONS; the Front End must answer nothing. Returns
    its tls-failure event."""

    async def scenario(server: FrontendServer) -> None:
        try:
            answers = await mtls_exchange(server.port, client, options_request())
        except (ssl.SSLError, ConnectionError):
            answers = []
        assert answers == []
        await server.events.wait_for("closed")

    server = _run(config, pki, fe, scenario)
    assert server.events.requests() == []
    (failure,) = server.events.of_type("tls-failure")
    return failure


def test_client_certificate_from_a_foreign_ca_is_refused(pki: LabPki, fe: Credential,
                                                         tmp_path: Path) -> None:
    foreign = trustme.CA(organization_name="Foreign Corp")
    leaf = foreign.issue_cert(UCC_FQDN)
    bundle = tmp_path / "foreign.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(bundle))
    os.chmod(bundle, 0o600)
    client = client_context(pki.ca_path, None)
    client.load_cert_chain(str(bundle))
    failure = _refused(pki, fe, client)
    assert failure["error"] == "unable to get local issuer certificate"
    assert failure["alert_sent"] == "unknown_ca"
    assert failure["verify_errors"][0]["code"] == 20


def test_expired_client_certificate_is_refused(pki: LabPki, fe: Credential) -> None:
    expired = pki.issue("expired", cn=UCC_FQDN, dns=[UCC_FQDN],
                        not_before=NOW - datetime.timedelta(days=400),
                        not_after=NOW - datetime.timedelta(days=1))
    failure = _refused(pki, fe, client_context(pki.ca_path, expired))
    assert failure["error"] == "certificate has expired"
    assert failure["alert_sent"] == "certificate_expired"


def test_server_auth_only_client_certificate_is_accepted_like_schannel(pki: LabPki, fe: Credential) -> None:
    server_auth_only = pki.issue("ucc-webserver", cn=UCC_FQDN, dns=[UCC_FQDN], eku=[SERVER_AUTH])

    async def scenario(server: FrontendServer) -> None:
        (answer,) = await mtls_exchange(server.port, client_context(pki.ca_path, server_auth_only),
                                        options_request())
        assert answer.status == 200

    server = _run({}, pki, fe, scenario)
    (handshake,) = server.events.of_type("tls-handshake")
    assert handshake["peer"]["ekus"] == ["serverAuth"]
    assert [(e["code"], e["text"], e["ignored"]) for e in handshake["verify_errors"]] == [
        (26, "unsuitable certificate purpose", True)]


def test_server_auth_only_client_certificate_is_refused_when_strict(pki: LabPki, fe: Credential) -> None:
    server_auth_only = pki.issue("ucc-webserver", cn=UCC_FQDN, dns=[UCC_FQDN], eku=[SERVER_AUTH])
    failure = _refused(pki, fe, client_context(pki.ca_path, server_auth_only),
                       require_client_auth_eku=True)
    assert failure["error"] == "unsuitable certificate purpose"


def test_client_certificate_without_eku_is_accepted_even_when_strict(pki: LabPki, fe: Credential) -> None:
    no_eku = pki.issue("ucc-no-eku", cn=UCC_FQDN, eku=None)

    async def scenario(server: FrontendServer) -> None:
        (answer,) = await mtls_exchange(server.port, client_context(pki.ca_path, no_eku), options_request())
        assert answer.status == 200

    server = _run({"require_client_auth_eku": True}, pki, fe, scenario)
    assert server.events.of_type("tls-handshake")[0]["peer"]["ekus"] is None


async def _answers_to_a_stranger(server: FrontendServer, client: ssl.SSLContext) -> list[object]:
    """What a peer the Front End refuses after the handshake gets: nothing (its request may
    not even go out: the Front End may close before the client writes)."""
    try:
        return list(await mtls_exchange(server.port, client, options_request()))
    except ConnectionError:
        return []


@pytest.mark.parametrize(("cn", "dns"), [
    ("other01.companya.com", ["other01.companya.com"]),
    ("ucc01.companya.com.evil.example", []),
    (None, ["*.companya.com"]),
    # The SAN names the known peer, the subject does not: Lync looks at the subject.
    ("UCCPOOL.companya.com", ["UCC01.CompanyA.com"]),
])
def test_peer_not_among_the_known_peers_gets_no_sip_service(pki: LabPki, fe: Credential,
                                                             cn: str | None, dns: list[str]) -> None:
    stranger = pki.issue("stranger", cn=cn, dns=dns)

    async def scenario(server: FrontendServer) -> None:
        assert await _answers_to_a_stranger(server, client_context(pki.ca_path, stranger)) == []
        await server.events.wait_for("closed")

    server = _run({}, pki, fe, scenario)
    (refusal,) = server.events.of_type("peer-not-trusted")
    assert refusal["names"] == list(dict.fromkeys([*([cn] if cn else []), *dns]))
    assert refusal["known_peers"] == [UCC_FQDN]
    assert refusal["text"] == NOT_A_CONFIGURED_SERVER
    # The SIPStack record Lync writes: the certificate's subject as the peer's FQDN.
    assert refusal["lync"] == {"source": "SIPStack", "log_type": "connection", "severity": "error",
                               "text": NOT_A_CONFIGURED_SERVER, "transport": "TLS",
                               "data": f'fqdn="{cn}"' if cn else None}
    assert server.events.of_type("tls-handshake")  # the TLS part itself succeeded
    assert server.events.requests() == []


@pytest.mark.parametrize("match_san", [False, True])
def test_known_peer_matches_the_subject_cn_case_insensitively_and_the_san_only_when_asked(
        pki: LabPki, fe: Credential, match_san: bool) -> None:
    by_subject = pki.issue("by-subject", cn="UCC01.CompanyA.com.", dns=[])
    by_san = pki.issue("by-san", cn="UCCPOOL.companya.com", dns=["UCC01.CompanyA.com"])

    async def scenario(server: FrontendServer) -> None:
        (answer,) = await mtls_exchange(server.port, client_context(pki.ca_path, by_subject), options_request())
        assert answer.status == 200
        answers = await _answers_to_a_stranger(server, client_context(pki.ca_path, by_san))
        assert [a.status for a in answers] == ([200] if match_san else [])  # type: ignore[attr-defined]

    server = _run({"match_san": match_san}, pki, fe, scenario)
    trusted = server.events.of_type("peer-trusted")
    assert [e["peer"] for e in trusted] == [UCC_FQDN] * (2 if match_san else 1)
    assert trusted[0]["pool"] == UCC_FQDN


def test_register_over_mtls_is_evidence_of_the_connector_direction(pki: LabPki, fe: Credential,
                                                                    ucc: Credential, tmp_path: Path) -> None:
    register = make_request(
        "REGISTER", "sip:companya.com", via=f"SIP/2.0/TLS {UCC_FQDN}:5061", branch="z9hG4bKreg1",
        from_uri=f"sip:{UCC_FQDN}", from_tag="r1", to_uri=f"sip:{UCC_FQDN}", call_id="reg-1",
        cseq=1, headers=[("Contact", f"<sip:{UCC_FQDN}:5061;transport=tls>"), ("Expires", "1800")])
    events_file = tmp_path / "events.jsonl"
    keylog = tmp_path / "keys.log"

    async def main() -> FrontendServer:
        config = frontend_config(pki, fe, keylog_path=keylog)
        async with FrontendServer(config, event_log_path=events_file) as server:
            (answer,) = await mtls_exchange(server.port, client_context(pki.ca_path, ucc), register)
            assert answer.status == 200
            assert answer.message.headers["Contact"] == f"<sip:{UCC_FQDN}:5061;transport=tls>;expires=1800"
            assert answer.message.headers["Expires"] == "1800"
            assert answer.message.headers["presence-state"].startswith('register-action="added";')
            await server.events.wait_for("closed")
        return server

    server = asyncio.run(main())
    (request,) = server.events.requests(method="REGISTER")
    assert request["contact"] == [f"<sip:{UCC_FQDN}:5061;transport=tls>"]
    assert server.events.responses(status=200, connection=request["connection"])
    assert [b.contact for b in server.registrar.bindings(f"sip:{UCC_FQDN}")] == [
        f"sip:{UCC_FQDN}:5061;transport=tls"]
    # The JSONL file mirrors the in-memory log.
    lines = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert lines == list(server.events)
    # The NSS key log is a secret: mode 0600, with this connection's secrets in it.
    assert stat.S_IMODE(keylog.stat().st_mode) == 0o600
    assert any(word in keylog.read_text() for word in ("CLIENT_TRAFFIC_SECRET_0", "CLIENT_RANDOM"))


@pytest.mark.interop
@needs_openssl
def test_client_that_does_not_trust_the_front_end_shows_as_an_alert_received(
        pki: LabPki, fe: Credential, ucc: Credential, tmp_path: Path) -> None:
    """The connector's trust store lacks the lab CA: the Front End sees the client's alert."""
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))

    async def scenario(server: FrontendServer) -> None:
        out, _ = await s_client(server.port, "-cert", str(ucc.cert_path), "-key", str(ucc.key_path),
                                 "-CAfile", str(other_ca), "-verify_return_error", "-quiet",
                                 data=options_request())
        assert b"SIP/2.0" not in out
        await server.events.wait_for("closed")

    server = _run({}, pki, fe, scenario)
    (failure,) = server.events.of_type("tls-failure")
    assert failure["alert_received"] == "unknown_ca"
    assert failure["error"] == "tlsv1 alert unknown ca"


def test_client_that_hangs_up_during_the_handshake(pki: LabPki, fe: Credential,
                                                   ucc: Credential, tmp_path: Path) -> None:
    """Python's asyncio client drops the connection without an alert when it distrusts
    the server: the Front End logs an early close."""
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    failure = _refused(pki, fe, client_context(other_ca, ucc))
    assert failure["error"] == "peer closed the connection during the handshake"
