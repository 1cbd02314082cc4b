"""The Front End with MS-SIPAE Kerberos over real TLS: who is challenged, who authenticates,
what a replayed or tampered Authorization gets, and what the event log says.

The client side is built from the shared pieces (:mod:`fakes.kerberos`, :mod:`fakes.sipae`)
against a KDC stand-in on a socket; the connector stand-in's own login is tested in
``tests/harness/test_connector_kerberos.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fakes.frontend import AUTHENTICATION_REQUIRED, NOT_A_CONFIGURED_SERVER, FrontendServer
from fakes.kdc import KdcServer
from fakes.kerberos import KerberosClient, Key, make_initial_context_token
from fakes.sip import Request, Response
from fakes.sipae import (
    AUTHORIZATION,
    SipaeClient,
    parse_authentication_info,
    parse_challenge,
    parse_message,
    with_header,
)

from .frontend_support import FE_FQDN, UCC_FQDN, Credential, LabPki, Received, client_context, frontend_config
from .kdc_support import FRONTEND_PASSWORD, REALM, UCC_PASSWORD, lab_accounts
from .sipae_support import (
    KERBEROS_CHALLENGE,
    SPN,
    UCC_USER,
    TlsSipClient,
    fe_keys,
    frontend_kerberos,
    options_request,
    register_request,
    server_only_context,
)

REPO = Path(__file__).resolve().parents[2]


class World:
    """A KDC and a Kerberos Front End on one loop, and a way to get the OCS user's tickets."""

    def __init__(self, kdc: KdcServer, frontend: FrontendServer, tls: Any) -> None:
        self.kdc = kdc
        self.frontend = frontend
        self.tls = tls
        self.kerberos = KerberosClient(REALM, [("127.0.0.1", kdc.port)])

    async def connect(self) -> TlsSipClient:
        return await TlsSipClient.connect(self.frontend.port, self.tls)

    async def sipae_client(self, service: str = SPN) -> SipaeClient:
        tgt = await self.kerberos.get_tgt(UCC_USER, UCC_PASSWORD)
        ticket = await self.kerberos.get_service_ticket(tgt, service)
        token, context = make_initial_context_token(ticket)
        return SipaeClient(KERBEROS_CHALLENGE, context, token, rng=os.urandom)

    def events(self, type_: str, **fields: Any) -> list[dict[str, Any]]:
        return self.frontend.events.of_type(type_, **fields)


def message_of(received: Received) -> Request | Response:
    """The parsed message of an answer (the Front End's answers always parse)."""
    assert received.message is not None
    return received.message


def run(pki: LabPki, fe: Credential, scenario: Callable[[World], Awaitable[None]], *,
        now: Callable[[], float] = time.time, **config: Any) -> World:
    """Run ``scenario`` against a started KDC and Front End (Kerberos on unless overridden)."""

    async def main() -> World:
        kdc = KdcServer(lab_accounts(), realm=REALM)
        await kdc.start()
        settings: dict[str, Any] = {"kerberos": frontend_kerberos()}
        settings.update(config)
        try:
            async with FrontendServer(frontend_config(pki, fe, **settings), now=now) as frontend:
                world = World(kdc, frontend, server_only_context(pki.ca_path))
                await scenario(world)
        finally:
            await kdc.close()
        return world

    return asyncio.run(main())


# -- not authenticated yet: the challenge ---------------------------------------------------------


def test_register_without_credentials_gets_the_kerberos_challenge_and_the_ntlm_offer(pki: LabPki,
                                                                                     fe: Credential) -> None:
    answers: list[Any] = []

    async def scenario(world: World) -> None:
        client = await world.connect()
        answers.extend(await client.send(register_request()))
        await client.close()

    world = run(pki, fe, scenario)
    [answer] = answers
    assert answer.status == 401
    # A real Lync 2013 401 carries no ms-diagnostics, and its Via names the connection.
    assert answer.message.headers.get("ms-diagnostics") is None
    assert ";ms-received-port=" in answer.message.headers.getlist("Via")[0]
    offers = [parse_challenge(v) for v in answer.message.headers.getlist("WWW-Authenticate")]
    assert [(o.protocol, o.targetname, o.realm, o.version) for o in offers] == [
        ("NTLM", FE_FQDN, "SIP Communications Service", 4), ("Kerberos", SPN, "SIP Communications Service", 4)]
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", answer.message.headers["Date"])
    [required] = world.events("sipae-required")
    assert required["reason"] == AUTHENTICATION_REQUIRED and required["targetname"] == SPN
    assert world.events("sipae-challenge") == [world.events("sipae-challenge", reason="no Authorization header")[0]]


def test_options_and_ack_without_credentials(pki: LabPki, fe: Credential) -> None:
    answers: list[Any] = []

    async def scenario(world: World) -> None:
        client = await world.connect()
        # MS-SIPAE §3.3.5.1: an ACK is dropped, every other request is challenged.
        answers.extend(await client.send(options_request(1, method="ACK") + options_request(2), answers=1))
        await client.close()

    world = run(pki, fe, scenario)
    assert [(a.status, a.message.cseq.method) for a in answers] == [(401, "OPTIONS")]
    assert [e["method"] for e in world.events("sipae-challenge")] == ["ACK", "OPTIONS"]


def test_authorization_for_another_target_or_protocol_is_challenged_again(pki: LabPki, fe: Credential) -> None:
    statuses: list[int | None] = []
    wrong_target = ('Kerberos qop="auth", realm="SIP Communications Service", targetname="sip/fe02.companya.com", '
                    'gssapi-data="YQ==", version=4')
    ntlm = 'NTLM qop="auth", realm="SIP Communications Service", targetname="fe01.companya.com", gssapi-data=""'
    broken = 'Kerberos realm="SIP Communications Service" targetname="sip/fe01.companya.com"'

    async def scenario(world: World) -> None:
        client = await world.connect()
        for cseq, value in enumerate((wrong_target, ntlm, broken), start=1):
            request = register_request(cseq, headers=[(AUTHORIZATION, value)])
            statuses.extend(a.status for a in await client.send(request))
        await client.close()

    world = run(pki, fe, scenario)
    assert statuses == [401, 401, 401]
    reasons = [e["reason"] for e in world.events("sipae-challenge")]
    assert "targetname 'sip/fe02.companya.com' is not this server's 'sip/fe01.companya.com'" in reasons[0]
    assert "Authorization for NTLM" in reasons[1]
    assert "malformed Authorization header: expected ','" in reasons[2]


# -- authenticated ----------------------------------------------------------------------------------


def test_kerberos_register_gets_200_signed_and_later_requests_are_verified(pki: LabPki, fe: Credential) -> None:
    answers: list[Any] = []

    async def scenario(world: World) -> None:
        sipae = await world.sipae_client()
        client = await world.connect()
        ok = await client.send(sipae.authorize(register_request()))
        answers.append((ok[0], sipae.verify(message_of(ok[0]))))
        ok = await client.send(sipae.authorize(options_request()))
        answers.append((ok[0], sipae.verify(message_of(ok[0]))))
        await client.close()

    world = run(pki, fe, scenario)
    (register, register_info), (options, options_info) = answers
    assert (register.status, options.status) == (200, 200)
    assert register_info.opaque == options_info.opaque and (register_info.snum, options_info.snum) == ("1", "2")
    assert register_info.srand != options_info.srand
    [authenticated] = world.events("sipae-authenticated")
    assert authenticated["principal"] == f"{UCC_USER}@{REALM}" and authenticated["service"] == f"{SPN}@{REALM}"
    assert authenticated["opaque"] == register_info.opaque and authenticated["ticket_enctype_name"] == \
        "aes256-cts-hmac-sha1-96"
    assert world.events("sipae-verified", method="OPTIONS", cnum=2)
    [binding] = world.frontend.registrar.bindings(f"sip:{UCC_USER}@companya.com")
    assert binding.peer == f"{UCC_USER}@{REALM}"


def test_replayed_authorization_is_refused_with_krb_ap_err_repeat(pki: LabPki, fe: Credential) -> None:
    statuses: list[int | None] = []

    async def scenario(world: World) -> None:
        sipae = await world.sipae_client()
        first = sipae.authorize(register_request())
        authorization = parse_message(first).headers[AUTHORIZATION]
        client = await world.connect()
        statuses.extend(a.status for a in await client.send(first))
        await client.close()
        # An eavesdropper sends the same gssapi-data (and signature) on its own connection.
        replay = await world.connect()
        replayed = with_header(register_request(), AUTHORIZATION, authorization)
        statuses.extend(a.status for a in await replay.send(replayed))
        await replay.close()

    world = run(pki, fe, scenario)
    assert statuses == [200, 401]
    [rejected] = world.events("sipae-rejected")
    assert (rejected["error_code"], rejected["error_name"]) == (34, "KRB_AP_ERR_REPEAT")
    assert "was already accepted" in rejected["reason"]


def test_tampered_signature_and_unknown_opaque(pki: LabPki, fe: Credential) -> None:
    statuses: list[int | None] = []

    async def scenario(world: World) -> None:
        sipae = await world.sipae_client()
        client = await world.connect()
        answer = await client.send(sipae.authorize(register_request()))
        sipae.verify(message_of(answer[0]))
        signed = parse_message(sipae.authorize(options_request(1))).headers[AUTHORIZATION]
        # Same header on another request: the signature no longer covers what is sent.
        statuses.extend(a.status for a in await client.send(with_header(options_request(2), AUTHORIZATION, signed)))
        unknown = re.sub(r'opaque="\w+"', 'opaque="DEADBEEF"', signed).replace('cnum="2"', 'cnum="3"')
        statuses.extend(a.status for a in await client.send(with_header(options_request(3), AUTHORIZATION, unknown)))
        await client.close()

    world = run(pki, fe, scenario)
    assert statuses == [401, 401]
    [bad] = world.events("sipae-bad-signature")
    assert (bad["error_code"], bad["error_name"]) == (41, "KRB_AP_ERR_MODIFIED")
    assert bad["principal"] == f"{UCC_USER}@{REALM}"
    assert world.events("sipae-challenge", reason="no security association 'DEADBEEF'")


def test_front_end_clock_ten_minutes_off_refuses_the_authenticator(pki: LabPki, fe: Credential) -> None:
    statuses: list[int | None] = []

    async def scenario(world: World) -> None:
        sipae = await world.sipae_client()
        client = await world.connect()
        statuses.extend(a.status for a in await client.send(sipae.authorize(register_request())))
        await client.close()

    world = run(pki, fe, scenario, now=lambda: time.time() + 600)
    assert statuses == [401]
    [rejected] = world.events("sipae-rejected")
    assert (rejected["error_code"], rejected["error_name"]) == (37, "KRB_AP_ERR_SKEW")


def test_ticket_for_another_account_does_not_decrypt(pki: LabPki, fe: Credential) -> None:
    statuses: list[int | None] = []

    async def scenario(world: World) -> None:
        sipae = await world.sipae_client(service=f"HOST/{FE_FQDN}")  # same account: the keys match
        client = await world.connect()
        statuses.extend(a.status for a in await client.send(sipae.authorize(register_request())))
        await client.close()

    # The Front End runs with other keys than the KDC's account (a password reset not synchronized).
    world = run(pki, fe, scenario, kerberos=frontend_kerberos(tuple(
        Key(k.enctype, bytes(len(k.contents))) for k in fe_keys())))
    assert statuses == [401]
    assert world.events("sipae-rejected")[0]["error_name"] == "KRB_AP_ERR_MODIFIED"


# -- certificates still count ---------------------------------------------------------------------


def test_known_peer_with_a_certificate_is_trusted_without_a_challenge(pki: LabPki, fe: Credential) -> None:
    ucc = pki.issue("ucc01", cn=UCC_FQDN, dns=[UCC_FQDN])
    answers: list[Any] = []

    async def scenario(world: World) -> None:
        client = await TlsSipClient.connect(world.frontend.port, client_context(pki.ca_path, ucc))
        answers.extend(await client.send(options_request()))
        await client.close()

    world = run(pki, fe, scenario)
    assert [a.status for a in answers] == [200]
    assert world.events("peer-trusted") and not world.events("sipae-required") and not world.events("sipae-challenge")


def test_unknown_peer_with_a_certificate_is_still_refused(pki: LabPki, fe: Credential) -> None:
    stranger = pki.issue("stranger", cn="stranger.companya.com", dns=["stranger.companya.com"])

    async def scenario(world: World) -> None:
        client = await TlsSipClient.connect(world.frontend.port, client_context(pki.ca_path, stranger))
        try:
            assert await client.send(options_request()) == []
        except ConnectionError:  # closed by the Front End before the request went out
            pass
        await client.close()

    world = run(pki, fe, scenario)
    assert world.events("peer-not-trusted")[0]["text"] == NOT_A_CONFIGURED_SERVER


# -- the command line -------------------------------------------------------------------------------


def test_command_line_enables_kerberos_from_the_spn_password_or_a_key_file(pki: LabPki, fe: Credential,
                                                                          tmp_path: Path) -> None:
    keys = tmp_path / "fe01.keys.json"
    keys.write_text(json.dumps([{"enctype": k.enctype, "key": k.contents.hex()} for k in fe_keys()]))
    base = [sys.executable, "-m", "fakes.frontend", "--cert", str(fe.cert_path), "--key", str(fe.key_path),
            "--ca", str(pki.ca_path), "--fqdn", FE_FQDN]
    for extra in (["--spn-password", FRONTEND_PASSWORD], ["--spn-keys", str(keys)]):
        process = subprocess.Popen(base + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(3)]
        finally:
            process.terminate()
            process.wait(timeout=10)
        assert lines[0].startswith("frontend listening on 127.0.0.1:")
        assert lines[2].strip() == (f"MS-SIPAE Kerberos: targetname {SPN}, version 4, keys aes256-cts-hmac-sha1-96, "
                                    "aes128-cts-hmac-sha1-96, arcfour-hmac")


def test_command_line_refuses_a_broken_key_file(pki: LabPki, fe: Credential, tmp_path: Path) -> None:
    keys = tmp_path / "bad.json"
    keys.write_text('[{"enctype": 18, "key": "00"}]')
    done = subprocess.run([sys.executable, "-m", "fakes.frontend", "--cert", str(fe.cert_path), "--key",
                           str(fe.key_path), "--ca", str(pki.ca_path), "--fqdn", FE_FQDN, "--spn-keys", str(keys)],
                          capture_output=True, text=True, cwd=REPO, timeout=30)
    assert done.returncode == 2 and "not a key list" in done.stderr


def test_authentication_info_is_well_formed(pki: LabPki, fe: Credential) -> None:
    infos: list[str] = []

    async def scenario(world: World) -> None:
        sipae = await world.sipae_client()
        client = await world.connect()
        answer = await client.send(sipae.authorize(register_request()))
        infos.append(message_of(answer[0]).headers["Authentication-Info"])
        await client.close()

    run(pki, fe, scenario)
    info = parse_authentication_info(infos[0])
    assert infos[0].startswith('Kerberos qop="auth", opaque="')
    assert re.fullmatch(r"[0-9A-F]{8}", info.opaque) and re.fullmatch(r"[0-9A-F]{8}", info.srand)
    assert (info.snum, info.targetname, info.version) == ("1", SPN, 4)
