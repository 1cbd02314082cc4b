"""The connector's side and the Front End's side of Kerberos over real sockets: our client
logs in at the KDC stand-in (UDP, TCP, weak crypto), and the acceptor takes its AP-REQ or GSS
token — or refuses it with the code a Windows service would log."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from fakes.kdc import Account, DomainPolicy, KdcCore
from fakes.kerberos import (
    JAVA_WEAK_CRYPTO_ENCTYPES,
    ApReq,
    Checksum,
    Credential,
    EncryptedData,
    ErrorCode,
    GssFlag,
    KdcUnreachableError,
    KerberosClient,
    KerberosError,
    PrincipalName,
    ReplayCache,
    accept_sec_context,
    make_ap_req,
    make_initial_context_token,
    utc_now,
    wrap_initial_token,
)

from .kdc_support import DES_PASSWORD, FRONTEND_PASSWORD, FRONTEND_SPN, REALM, UCC_PASSWORD, RunningKdc, lab_accounts

LEGACY_SPN = "http/old.companya.com"


def legacy_service() -> Account:
    return Account("legacysvc", "Legacy#1", spns=(LEGACY_SPN,), use_des_key_only=True)


@pytest.fixture(scope="module")
def kdc() -> Iterator[RunningKdc]:
    # A domain whose policy allows single DES, so DES keys travel end to end here.
    running = RunningKdc(KdcCore(REALM, lab_accounts() + [legacy_service()], policy=DomainPolicy(des_enabled=True)))
    yield running
    running.stop()


def frontend_keys() -> dict:
    return Account("FE01$", FRONTEND_PASSWORD).keys(REALM)


def client_for(kdc: RunningKdc, **options) -> KerberosClient:
    return KerberosClient(REALM, [("127.0.0.1", kdc.port)], **options)


def tickets(kdc: RunningKdc, user: str = "ocs-ucc", password: str = UCC_PASSWORD, service: str = FRONTEND_SPN,
            **options) -> tuple[Credential, Credential]:
    async def login() -> tuple[Credential, Credential]:
        client = client_for(kdc, **options)
        tgt = await client.get_tgt(user, password)
        return tgt, await client.get_service_ticket(tgt, service)

    return asyncio.run(login())


def shifted(minutes: int):
    return lambda: utc_now() + timedelta(minutes=minutes)


@pytest.mark.parametrize("limit, transport", [(1465, "udp"), (1, "tcp")])
def test_login_and_gss_context_over_udp_and_tcp(kdc: RunningKdc, limit: int, transport: str) -> None:
    tgt, ticket = tickets(kdc, udp_preference_limit=limit)
    assert (tgt.client_principal, ticket.server_principal) == ("ocs-ucc@COMPANYA.COM", f"{FRONTEND_SPN}@{REALM}")
    token, initiator = make_initial_context_token(ticket)
    accepted = accept_sec_context(token, frontend_keys(), now=utc_now, replay_cache=ReplayCache())
    assert accepted.client_principal == "ocs-ucc@COMPANYA.COM"
    assert accepted.service_principal == f"{FRONTEND_SPN}@{REALM}"
    assert accepted.gss and accepted.flags == GssFlag.INTEG
    assert accepted.session_key == initiator.session_key != ticket.session_key  # the initiator's subkey
    assert accepted.ticket_session_key == ticket.session_key
    assert accepted.initiator_seq == initiator.initiator_seq and accepted.enctype == 18
    request = b"<Kerberos><crand><1><SIP Communications Service><sip/fe01.companya.com><REGISTER>"
    assert accepted.verify_mic(request, initiator.get_mic(request)) == initiator.initiator_seq
    response = request + b"<200>"
    assert initiator.verify_mic(response, accepted.get_mic(response)) == initiator.initiator_seq
    recent = kdc.events[-3:]
    assert [(e.request, e.error_name, e.transport) for e in recent] == [
        ("AS-REQ", "KDC_ERR_PREAUTH_REQUIRED", transport), ("AS-REQ", None, transport),
        ("TGS-REQ", None, transport)]


def test_weak_crypto_client_with_the_pages_des_account(kdc: RunningKdc) -> None:
    tgt, ticket = tickets(kdc, "ocs-des", DES_PASSWORD, enctypes=JAVA_WEAK_CRYPTO_ENCTYPES)
    as_event = [e for e in kdc.events if e.request == "AS-REQ" and e.ok][-1]
    assert as_event.client == "ocs-des@COMPANYA.COM" and as_event.reply_etype == 1  # des-cbc-crc, JDK 17's first DES
    token, initiator = make_initial_context_token(ticket)
    accepted = accept_sec_context(token, frontend_keys(), now=utc_now, replay_cache=ReplayCache())
    assert accepted.client_principal == "ocs-des@COMPANYA.COM" and accepted.enctype == 18


def test_des_session_key_with_a_des_only_service_and_a_bare_ap_req(kdc: RunningKdc) -> None:
    _, ticket = tickets(kdc, "ocs-des", DES_PASSWORD, service=LEGACY_SPN, enctypes=(1,))
    assert (ticket.ticket_enctype, ticket.session_key.enctype) == (3, 1)
    ap_req, _ = make_ap_req(ticket)
    accepted = accept_sec_context(ap_req, legacy_service().keys(REALM), now=utc_now, replay_cache=ReplayCache())
    assert accepted.client_principal == "ocs-des@COMPANYA.COM" and not accepted.gss
    assert accepted.flags == GssFlag(0) and accepted.enctype == 1
    with pytest.raises(KerberosError, match="AES and RC4 only"):
        accepted.get_mic(b"no DES MIC tokens")


def test_default_client_cannot_use_the_des_account(kdc: RunningKdc) -> None:
    with pytest.raises(KerberosError) as caught:
        tickets(kdc, "ocs-des", DES_PASSWORD)
    assert caught.value.code == ErrorCode.KDC_ERR_ETYPE_NOSUPP
    assert str(caught.value) == "KDC has no support for encryption type (14)"


@pytest.mark.parametrize("user, password, code", [("ocs-ucc", "wrong", 24), ("nobody", "x", 6)])
def test_client_raises_what_the_kdc_said(kdc: RunningKdc, user: str, password: str, code: int) -> None:
    with pytest.raises(KerberosError) as caught:
        tickets(kdc, user, password)
    assert caught.value.code == code


def test_unknown_spn(kdc: RunningKdc) -> None:
    with pytest.raises(KerberosError) as caught:
        tickets(kdc, service="sip/fe02.companya.com")
    assert caught.value.name == "KDC_ERR_S_PRINCIPAL_UNKNOWN"


def test_acceptor_refuses_replay_and_skew(kdc: RunningKdc) -> None:
    _, ticket = tickets(kdc)
    token, _ = make_initial_context_token(ticket)
    cache = ReplayCache()
    accept_sec_context(token, frontend_keys(), now=utc_now, replay_cache=cache)
    with pytest.raises(KerberosError) as replay:
        accept_sec_context(token, frontend_keys(), now=utc_now, replay_cache=cache)
    assert replay.value.code == ErrorCode.KRB_AP_ERR_REPEAT
    with pytest.raises(KerberosError) as skew:
        accept_sec_context(token, frontend_keys(), now=shifted(10), replay_cache=ReplayCache())
    assert skew.value.code == ErrorCode.KRB_AP_ERR_SKEW
    # Within five minutes is fine (RFC 4120 §1.6's customary skew, AD's default).
    accept_sec_context(token, frontend_keys(), now=shifted(4), replay_cache=ReplayCache())


def test_acceptor_refuses_a_ticket_it_cannot_read(kdc: RunningKdc) -> None:
    _, ticket = tickets(kdc)
    token, _ = make_initial_context_token(ticket)
    stale_keys = Account("FE01$", "the password before the reset").keys(REALM)
    with pytest.raises(KerberosError) as modified:
        accept_sec_context(token, stale_keys, now=utc_now, replay_cache=None)
    assert modified.value.code == ErrorCode.KRB_AP_ERR_MODIFIED
    with pytest.raises(KerberosError) as no_key:
        accept_sec_context(token, {17: frontend_keys()[17]}, now=utc_now, replay_cache=None)
    assert no_key.value.code == ErrorCode.KRB_AP_ERR_NOKEY


def test_acceptor_refuses_bad_authenticators(kdc: RunningKdc) -> None:
    _, ticket = tickets(kdc)
    ap_req = ApReq.from_der(make_ap_req(ticket, checksum=Checksum(16, b"x" * 12))[0])
    garbled = replace(ap_req, authenticator=EncryptedData(18, bytes(len(ap_req.authenticator.cipher))))
    with pytest.raises(KerberosError) as integrity:
        accept_sec_context(garbled.to_der(), frontend_keys(), now=utc_now, replay_cache=None)
    assert integrity.value.code == ErrorCode.KRB_AP_ERR_BAD_INTEGRITY
    # A GSS token must carry the 0x8003 checksum.
    with pytest.raises(KerberosError) as inapp:
        accept_sec_context(wrap_initial_token(ap_req.to_der()), frontend_keys(), now=utc_now, replay_cache=None)
    assert inapp.value.code == ErrorCode.KRB_AP_ERR_INAPP_CKSUM
    # Another user's authenticator under this ticket.
    other = replace(ticket, client=PrincipalName.from_text("someone-else"))
    with pytest.raises(KerberosError) as badmatch:
        accept_sec_context(make_ap_req(other)[0], frontend_keys(), now=utc_now, replay_cache=None)
    assert badmatch.value.code == ErrorCode.KRB_AP_ERR_BADMATCH


def test_expired_ticket(kdc: RunningKdc) -> None:
    _, ticket = tickets(kdc)
    eleven_hours = shifted(11 * 60)
    ap_req, _ = make_ap_req(ticket, now=eleven_hours)
    with pytest.raises(KerberosError) as expired:
        accept_sec_context(ap_req, frontend_keys(), now=eleven_hours, replay_cache=None)
    assert expired.value.code == ErrorCode.KRB_AP_ERR_TKT_EXPIRED


def test_udp_too_big_falls_back_to_tcp() -> None:
    running = RunningKdc(KdcCore(REALM, lab_accounts(), max_udp_reply=400))
    try:
        tgt, _ = tickets(running)
        assert tgt.client_principal == "ocs-ucc@COMPANYA.COM"
        kinds = [(e.transport, e.error_name) for e in running.events]
        assert ("udp", "KRB_ERR_RESPONSE_TOO_BIG") in kinds and ("tcp", None) in kinds
    finally:
        running.stop()


def test_unreachable_kdc() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = KerberosClient(REALM, [("127.0.0.1", port)], timeout=0.3)
    started = datetime.now()
    with pytest.raises(KdcUnreachableError, match="Cannot contact any KDC for realm 'COMPANYA.COM'"):
        asyncio.run(client.get_tgt("ocs-ucc", UCC_PASSWORD))
    assert datetime.now() - started < timedelta(seconds=3)
