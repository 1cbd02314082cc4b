"""The KDC core without sockets: AS and TGS rules, AD's account options and name lookups,
the error codes a real KDC gives, and garbage that never raises."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from fakes.kdc import Account, Directory, DomainPolicy, KdcCore
from fakes.kerberos import (
    JAVA_DEFAULT_ENCTYPES,
    JAVA_WEAK_CRYPTO_ENCTYPES,
    ApReq,
    AsExchange,
    Authenticator,
    Checksum,
    Credential,
    EncryptedData,
    ErrorCode,
    KdcOption,
    KdcReq,
    KdcReqBody,
    KerberosError,
    Key,
    KeyUsage,
    KrbError,
    MessageType,
    NameType,
    PaData,
    PrincipalName,
    TgsExchange,
    TicketFlag,
    decode_etype_info2,
    decode_method_data,
    encode_pa_enc_ts_enc,
    encrypt,
    make_checksum,
)

from .kdc_support import DES_PASSWORD, FRONTEND_SPN, REALM, UCC_PASSWORD, lab_accounts

START = datetime(2024, 5, 6, 8, 0, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the core and the client; each reading moves it on by 1 ms,
    so successive authenticators differ as they do with a real clock."""

    def __init__(self, moment: datetime = START) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        self.moment += timedelta(milliseconds=1)
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kdc(clock: Clock) -> KdcCore:
    return KdcCore(REALM, lab_accounts(), now=clock)


def login(kdc: KdcCore, clock: Clock, user: str = "ocs-ucc", password: str = UCC_PASSWORD, *,
          enctypes=JAVA_DEFAULT_ENCTYPES, client_clock: Clock | None = None) -> Credential:
    """Run the AS exchange against the core in memory; raises KerberosError."""
    exchange = AsExchange(user, REALM, password, enctypes=enctypes, now=client_clock or clock)
    message = exchange.request()
    while True:
        reply = kdc.handle(message)
        assert reply is not None
        result = exchange.receive(reply)
        if isinstance(result, Credential):
            return result
        message = result


def service_ticket(kdc: KdcCore, clock: Clock, tgt: Credential, service: str = FRONTEND_SPN, **options) -> Credential:
    exchange = TgsExchange(tgt, service, now=clock, **options)
    reply = kdc.handle(exchange.request())
    assert reply is not None
    return exchange.receive(reply)


def refused(call) -> KerberosError:
    with pytest.raises(KerberosError) as caught:
        call()
    return caught.value


def test_as_then_tgs_issue_tickets_like_ads(kdc: KdcCore, clock: Clock) -> None:
    tgt = login(kdc, clock)
    assert tgt.client_principal == "ocs-ucc@COMPANYA.COM"
    assert tgt.server_principal == "krbtgt/COMPANYA.COM@COMPANYA.COM"
    assert tgt.flags & TicketFlag.INITIAL and tgt.flags & TicketFlag.PRE_AUTHENT and tgt.flags & TicketFlag.FORWARDABLE
    assert tgt.endtime - tgt.authtime == timedelta(hours=10)  # AD's default, not the 1 day asked
    assert tgt.renew_till is not None  # RENEWABLE-OK: renewable up to the requested till
    assert tgt.renew_till - tgt.authtime == timedelta(days=1)
    ticket = service_ticket(kdc, clock, tgt)
    assert ticket.server_principal == "sip/fe01.companya.com@COMPANYA.COM"
    assert ticket.ticket_enctype == 18 and ticket.session_key.enctype == 18
    assert ticket.ticket.enc_part.kvno == 2
    as_events = [e for e in kdc.events if e.request == "AS-REQ"]
    assert [e.error_name for e in as_events] == ["KDC_ERR_PREAUTH_REQUIRED", None]
    issued = [e for e in kdc.events if e.ok]
    assert [(e.request, e.client, e.server) for e in issued] == [
        ("AS-REQ", "ocs-ucc@COMPANYA.COM", "krbtgt/COMPANYA.COM@COMPANYA.COM"),
        ("TGS-REQ", "ocs-ucc@COMPANYA.COM", "sip/fe01.companya.com@COMPANYA.COM"),
    ]
    assert issued[0].preauthenticated is True and issued[0].reply_etype == 18
    json.dumps([e.to_dict() for e in kdc.events])  # the event log is JSON-able


def test_preauth_required_lists_etype_info2_and_enc_timestamp(kdc: KdcCore) -> None:
    reply = kdc.handle(AsExchange("ocs-ucc", REALM, "x", enctypes=(23, 18, 3)).request())
    error = KrbError.from_der(reply or b"")
    assert error.error_code == ErrorCode.KDC_ERR_PREAUTH_REQUIRED and error.e_text is None
    methods = decode_method_data(error.e_data or b"")
    assert [m.padata_type for m in methods] == [19, 2]
    entries = decode_etype_info2(methods[0].value)
    # Client order, only enctypes the account has keys for; RC4 has no salt.
    assert [(e.etype, e.salt) for e in entries] == [(23, None), (18, "COMPANYA.COMocs-ucc")]


def test_wrong_password_unknown_client_disabled_and_wrong_realm(clock: Clock) -> None:
    accounts = lab_accounts() + [Account("left-company", "pw", enabled=False)]
    kdc = KdcCore(REALM, accounts, now=clock)
    assert refused(lambda: login(kdc, clock, password="wrong")).code == ErrorCode.KDC_ERR_PREAUTH_FAILED
    assert refused(lambda: login(kdc, clock, user="nobody")).code == ErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN
    assert refused(lambda: login(kdc, clock, user="left-company", password="pw")).code == \
        ErrorCode.KDC_ERR_CLIENT_REVOKED
    assert refused(lambda: login(kdc, clock, user="krbtgt")).code == ErrorCode.KDC_ERR_CLIENT_REVOKED
    wrong_realm = AsExchange("ocs-ucc", "YOUR-OCS-DOMAIN.COM", UCC_PASSWORD).request()
    assert KrbError.from_der(kdc.handle(wrong_realm) or b"").error_code == ErrorCode.KDC_ERR_WRONG_REALM
    assert kdc.events[-1].detail == "this KDC serves COMPANYA.COM, not YOUR-OCS-DOMAIN.COM"


def test_names_are_matched_as_ad_matches_them(kdc: KdcCore, clock: Clock) -> None:
    assert login(kdc, clock, user="OCS-UCC").client_principal == "OCS-UCC@COMPANYA.COM"
    # A lower-case realm is the same realm; replies name the account's realm as AD spells
    # it (Samba's as_canonicalization_tests: crealm and srealm are the domain's realm).
    exchange = AsExchange("ocs-ucc", "companya.com", UCC_PASSWORD, now=clock)
    step = exchange.receive(kdc.handle(exchange.request()) or b"")
    tgt = exchange.receive(kdc.handle(step) or b"") if isinstance(step, bytes) else step
    assert isinstance(tgt, Credential) and tgt.client_principal == "ocs-ucc@COMPANYA.COM"
    assert service_ticket(kdc, clock, tgt).server_principal == "sip/fe01.companya.com@COMPANYA.COM"
    directory = kdc.directory
    assert directory.find_client(PrincipalName(NameType.ENTERPRISE, ("ocs-ucc@companya.com",))) is not None
    assert directory.find_client(PrincipalName(NameType.ENTERPRISE, ("OCS-UCC@COMPANYA.COM",))) is not None
    assert directory.find_services(PrincipalName.from_text("SIP/FE01.CompanyA.com"))[0].sam_account_name == "FE01$"
    assert directory.find_services(PrincipalName.from_text("krbtgt/companya.com")) == [directory.krbtgt]
    assert directory.find_services(PrincipalName.from_text("ocs-ucc"))[0].sam_account_name == "ocs-ucc"
    assert directory.find_services(PrincipalName.from_text("sip/fe02.companya.com")) == []
    computer = directory.by_sam_account_name("fe01$")
    assert computer is not None and computer.salt(REALM) == "COMPANYA.COMhostfe01.companya.com"
    with pytest.raises(ValueError, match="two accounts"):
        Directory(REALM, [Account("ocs-ucc", "a"), Account("OCS-UCC", "b")])


def test_unknown_and_duplicate_spn(clock: Clock) -> None:
    twin = Account("lyncsvc", "pw", spns=(FRONTEND_SPN,))
    kdc = KdcCore(REALM, lab_accounts() + [twin], now=clock)
    tgt = login(kdc, clock)
    assert refused(lambda: service_ticket(kdc, clock, tgt, "sip/fe02.companya.com")).code == \
        ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN
    error = refused(lambda: service_ticket(kdc, clock, tgt))
    assert error.code == ErrorCode.KDC_ERR_PRINCIPAL_NOT_UNIQUE
    assert kdc.events[-1].detail == "SPN sip/fe01.companya.com is registered on FE01$, lyncsvc"


def test_des_only_account_on_a_modern_dc(kdc: KdcCore, clock: Clock) -> None:
    """Single DES is off on a 2008 R2+ DC: the page's DES option fails whatever the client offers."""
    for enctypes in (JAVA_DEFAULT_ENCTYPES, JAVA_WEAK_CRYPTO_ENCTYPES, (1,)):
        error = refused(lambda enctypes=enctypes: login(kdc, clock, user="ocs-des", password=DES_PASSWORD,
                                                        enctypes=enctypes))
        assert error.code == ErrorCode.KDC_ERR_ETYPE_NOSUPP
        event = kdc.events[-1]
        assert "the domain's policy does not allow DES" in event.detail and event.ntstatus is None
        assert event.ad_event is not None and event.ad_event.id == 14
        assert event.ad_event.text == (
            "While processing an AS request for target service krbtgt, the account ocs-des did not have a suitable "
            "key for generating a Kerberos ticket (the missing key has an ID of 1). The requested etypes : "
            f"{' '.join(str(e) for e in enctypes)}. The accounts available etypes : . Changing or resetting the "
            "password of ocs-des will generate a proper key.")
    assert kdc.events[-1].to_dict()["ad_event"] == {
        "id": 14, "source": "Microsoft-Windows-Kerberos-Key-Distribution-Center", "log": "System",
        "level": "Error", "text": kdc.events[-1].ad_event.text}


def test_des_only_account_in_a_domain_that_allows_des(clock: Clock) -> None:
    kdc = KdcCore(REALM, lab_accounts(), now=clock, policy=DomainPolicy(des_enabled=True))
    # A client that refuses single DES (JDK 17's defaults, MIT): no common enctype.
    error = refused(lambda: login(kdc, clock, user="ocs-des", password=DES_PASSWORD))
    assert error.code == ErrorCode.KDC_ERR_ETYPE_NOSUPP
    assert "USE_DES_KEY_ONLY" in kdc.events[-1].detail
    assert kdc.events[-1].ad_event is not None and kdc.events[-1].ad_event.text.endswith(
        "The requested etypes : 18 17. The accounts available etypes : 3 1. Changing or resetting the password "
        "of ocs-des will generate a proper key.")
    # With allow_weak_crypto the reply comes under the DES key; the TGT's session key is
    # still AES (the client offers it), and so is the Front End's ticket.
    tgt = login(kdc, clock, user="ocs-des", password=DES_PASSWORD, enctypes=JAVA_WEAK_CRYPTO_ENCTYPES)
    issued = kdc.events[-1]
    # JDK 17 offers des-cbc-crc (1) before des-cbc-md5 (3).
    assert (issued.reply_etype, issued.session_etype, issued.ticket_etype) == (1, 18, 18)
    assert service_ticket(kdc, clock, tgt, enctypes=JAVA_WEAK_CRYPTO_ENCTYPES).session_key.enctype == 18
    # A client offering DES only gets a DES TGT, and then nothing for an AES-only service.
    des_tgt = login(kdc, clock, user="ocs-des", password=DES_PASSWORD, enctypes=(1,))
    assert des_tgt.session_key.enctype == 1
    error = refused(lambda: service_ticket(kdc, clock, des_tgt, enctypes=(1,)))
    assert error.code == ErrorCode.KDC_ERR_ETYPE_NOSUPP
    event = kdc.events[-1]
    assert event.ad_event is not None and event.ad_event.id == 27
    assert event.ad_event.text == (
        "While processing a TGS request for the target server sip/fe01.companya.com, the account "
        "FE01$@COMPANYA.COM did not have a suitable key for generating a Kerberos ticket (the missing key has an "
        "ID of 9). The requested etypes were 1. The accounts available etypes were 18  17  23.")
    # Turning DES off again (a GPO change) takes effect on the next request.
    kdc.policy = DomainPolicy()
    assert refused(lambda: login(kdc, clock, user="ocs-des", password=DES_PASSWORD, enctypes=(1,))).code == 14


def test_des_session_keys_and_java_rsa_md5_checksum(clock: Clock) -> None:
    legacy = Account("legacysvc", "pw", spns=("http/old.companya.com",), use_des_key_only=True)
    kdc = KdcCore(REALM, lab_accounts() + [legacy], now=clock, policy=DomainPolicy(des_enabled=True))
    tgt = login(kdc, clock, user="ocs-des", password=DES_PASSWORD, enctypes=(3,))
    assert tgt.session_key.enctype == 3
    ticket = service_ticket(kdc, clock, tgt, "http/old.companya.com", enctypes=(3,), checksum_type=7)
    assert (ticket.ticket_enctype, ticket.session_key.enctype) == (3, 3)
    # The same service once the domain turns DES off: no key to encrypt its ticket (event 16).
    kdc.policy = DomainPolicy()
    aes_tgt = login(kdc, clock)
    assert refused(lambda: service_ticket(kdc, clock, aes_tgt, "http/old.companya.com")).code == 14
    event = kdc.events[-1]
    assert event.ad_event is not None and event.ad_event.text == (
        "While processing a TGS request for the target server http/old.companya.com, the account "
        "legacysvc@COMPANYA.COM did not have a suitable key for generating a Kerberos ticket (the missing key has "
        "an ID of 9). The requested etypes were 18  17. The accounts available etypes were . Changing or "
        "resetting the password of legacysvc@COMPANYA.COM will generate a proper key.")


def test_dont_require_preauth_issues_at_once(clock: Clock) -> None:
    roastable = Account("svc-legacy", "pw", dont_require_preauth=True)
    kdc = KdcCore(REALM, [roastable], now=clock)
    exchange = AsExchange("svc-legacy", REALM, "pw", now=clock)
    reply = kdc.handle(exchange.request())
    assert reply is not None and reply[0] == 0x6B  # an AS-REP straight away
    tgt = exchange.receive(reply)
    assert isinstance(tgt, Credential) and not tgt.flags & TicketFlag.PRE_AUTHENT
    assert kdc.events[-1].preauthenticated is False


def test_clock_skew(kdc: KdcCore, clock: Clock) -> None:
    behind = Clock(START - timedelta(minutes=10))
    error = refused(lambda: login(kdc, clock, client_clock=behind))
    assert error.code == ErrorCode.KRB_AP_ERR_SKEW
    assert kdc.events[-1].detail == "the client's clock is 600 s off the KDC's (allowed: 300 s)"
    assert login(kdc, clock, client_clock=Clock(START - timedelta(minutes=4))).client_principal
    # The TGS authenticator is checked the same way.
    tgt = login(kdc, clock)
    error = refused(lambda: service_ticket(kdc, Clock(START + timedelta(minutes=6)), tgt))
    assert error.code == ErrorCode.KRB_AP_ERR_SKEW


def test_replayed_tgs_authenticator_is_refused(kdc: KdcCore, clock: Clock) -> None:
    tgt = login(kdc, clock)
    request = TgsExchange(tgt, FRONTEND_SPN, now=clock).request()
    first = kdc.handle(request) or b""
    assert first[0] == 0x6D  # TGS-REP
    # The same bytes again are a retransmission: the same answer, from the lookaside cache.
    assert kdc.handle(request) == first
    assert kdc.events[-1].detail.startswith("retransmission answered from the lookaside cache")
    # The authenticator reused in another request (a new nonce) is a replay.
    decoded = KdcReq.from_der(request)
    reused = replace(decoded, body=replace(decoded.body, nonce=decoded.body.nonce + 1)).to_der()
    assert KrbError.from_der(kdc.handle(reused) or b"").error_code == ErrorCode.KRB_AP_ERR_REPEAT
    # Once the lookaside entry is gone (2 minutes), the same bytes are a replay too ...
    clock.moment += timedelta(minutes=3)
    assert KrbError.from_der(kdc.handle(request) or b"").error_code == ErrorCode.KRB_AP_ERR_REPEAT
    # ... and outside the skew window, a skew error.
    clock.moment += timedelta(minutes=3)
    assert KrbError.from_der(kdc.handle(request) or b"").error_code == ErrorCode.KRB_AP_ERR_SKEW


def test_tgs_checksum_covers_the_body_and_subkey_decides_the_reply_key(kdc: KdcCore, clock: Clock) -> None:
    tgt = login(kdc, clock)
    request = KdcReq.from_der(TgsExchange(tgt, FRONTEND_SPN, now=clock).request())
    # Ask for another service under the same authenticator: the checksum no longer matches.
    tampered = replace(request, body=replace(request.body, sname=PrincipalName.from_text("HOST/fe01.companya.com")))
    error = KrbError.from_der(kdc.handle(tampered.to_der()) or b"")
    assert error.error_code == ErrorCode.KRB_AP_ERR_MODIFIED
    # Without a subkey the reply is encrypted in the TGT session key (usage 8).
    assert service_ticket(kdc, clock, tgt, subkey=False).server_principal.startswith("sip/")
    assert kdc.events[-1].reply_etype == tgt.session_key.enctype


def test_subkey_of_an_unsupported_enctype_is_etype_nosupp(kdc: KdcCore, clock: Clock) -> None:
    # A genuine TGS authenticator (right session key, right checksum) whose subkey is
    # aes128-cts-hmac-sha256-128 (19), which the lab lacks: the reply would have to be
    # encrypted in that subkey (RFC 4120 §3.3.3), so the KDC answers KDC_ERR_ETYPE_NOSUPP and
    # records it — neither an internal error nor a dropped request.
    tgt = login(kdc, clock)
    subkey = Key(17, bytes(range(16)))
    body = KdcReqBody(int(KdcOption.CANONICALIZE), REALM, tgt.endtime, 77, (18, 17),
                      sname=PrincipalName.from_text(FRONTEND_SPN))
    checksum = Checksum(16, make_checksum(16, tgt.session_key, KeyUsage.TGS_REQ_AUTH_CKSUM, body.to_der()))
    plain = Authenticator(REALM, tgt.client, clock(), checksum, subkey).to_der()
    key_der = b"\xa0\x03\x02\x01\x11\xa1\x12\x04\x10" + subkey.contents
    assert plain.count(key_der) == 1
    plain = plain.replace(key_der, b"\xa0\x03\x02\x01\x13" + key_der[5:])  # keytype 17 -> 19
    authenticator = EncryptedData(18, encrypt(tgt.session_key, KeyUsage.TGS_REQ_AUTHENTICATOR, plain))
    request = KdcReq(MessageType.TGS_REQ, body, (PaData(1, ApReq(tgt.ticket, authenticator).to_der()),))
    reply = kdc.handle(request.to_der(), peer="192.0.2.9:88")
    assert reply is not None and KrbError.from_der(reply).error_code == ErrorCode.KDC_ERR_ETYPE_NOSUPP
    event = kdc.events[-1]
    assert (event.request, event.error_name, event.client) == ("TGS-REQ", "KDC_ERR_ETYPE_NOSUPP",
                                                               "ocs-ucc@COMPANYA.COM")
    assert event.detail == ("the TGS authenticator's subkey: encryption type etype-19 (19) is not supported")


def test_a_tgt_opened_once_is_refused_after_a_krbtgt_password_reset(kdc: KdcCore, clock: Clock) -> None:
    # The KDC keeps the TGTs it has opened (a client presents the same one in every
    # TGS-REQ); a reset of krbtgt's password must still make the old TGTs unreadable.
    tgt = login(kdc, clock)
    service_ticket(kdc, clock, tgt)
    service_ticket(kdc, clock, tgt)
    kdc.directory.update(replace(kdc.directory.krbtgt, password="a new krbtgt password"))
    error = refused(lambda: service_ticket(kdc, clock, tgt))
    assert error.code == ErrorCode.KRB_AP_ERR_MODIFIED
    assert service_ticket(kdc, clock, login(kdc, clock)).server_principal == f"{FRONTEND_SPN}@{REALM}"


def test_forged_or_foreign_tgt_is_modified(kdc: KdcCore, clock: Clock) -> None:
    other_kdc = KdcCore(REALM, lab_accounts(), now=clock)  # another krbtgt key
    foreign_tgt = login(other_kdc, clock)
    error = refused(lambda: service_ticket(kdc, clock, foreign_tgt))
    assert error.code == ErrorCode.KRB_AP_ERR_MODIFIED


def test_expired_tgt(kdc: KdcCore, clock: Clock) -> None:
    tgt = login(kdc, clock)
    later = Clock(START + timedelta(hours=11))
    kdc_later = KdcCore(REALM, kdc.directory, now=later)
    assert refused(lambda: service_ticket(kdc_later, later, tgt)).code == ErrorCode.KRB_AP_ERR_TKT_EXPIRED


def test_pa_enc_timestamp_problems(kdc: KdcCore, clock: Clock) -> None:
    exchange = AsExchange("ocs-ucc", REALM, UCC_PASSWORD, now=clock)
    body = KdcReq.from_der(exchange.request()).body
    key = kdc.directory.by_sam_account_name("ocs-ucc").key(18, REALM)
    cases = {
        b"\x30\x03\x02\x01\x05": ErrorCode.KDC_ERR_PREAUTH_FAILED,   # not an EncryptedData
        EncryptedData(3, b"\0" * 24).to_der(): ErrorCode.KDC_ERR_ETYPE_NOSUPP,  # no DES key
        EncryptedData(18, encrypt(key, 1, b"\x30\x00")).to_der(): ErrorCode.KDC_ERR_PREAUTH_FAILED,
        EncryptedData(18, encrypt(key, 3, encode_pa_enc_ts_enc(START))).to_der(): ErrorCode.KDC_ERR_PREAUTH_FAILED,
    }
    for value, code in cases.items():
        request = KdcReq(MessageType.AS_REQ, body, (PaData(2, value),)).to_der()
        assert KrbError.from_der(kdc.handle(request) or b"").error_code == code


def test_udp_reply_too_big_asks_for_tcp(clock: Clock) -> None:
    kdc = KdcCore(REALM, lab_accounts(), now=clock, max_udp_reply=400)
    exchange = AsExchange("ocs-ucc", REALM, UCC_PASSWORD, now=clock)
    step = exchange.receive(kdc.handle(exchange.request(), transport="udp") or b"")
    assert isinstance(step, bytes)
    too_big = KrbError.from_der(kdc.handle(step, transport="udp") or b"")
    assert too_big.error_code == ErrorCode.KRB_ERR_RESPONSE_TOO_BIG
    assert isinstance(exchange.receive(kdc.handle(step, transport="tcp") or b""), Credential)


def test_garbage_is_dropped_and_never_raises(kdc: KdcCore, clock: Clock) -> None:
    tgt = login(kdc, clock)
    valid = [AsExchange("ocs-ucc", REALM, "x").request(), TgsExchange(tgt, FRONTEND_SPN, now=clock).request()]
    generator = random.Random(1510)
    packets = [b"", b"\x00", b"hello", b"\x6a", b"\x6c\x00", b"\x6a\x84\x7f\xff\xff\xff", b"\x6e\x03\x30\x01\x00"]
    for sample in valid:
        packets += [sample[:cut] for cut in range(1, len(sample), 5)]
        for _ in range(300):
            mutated = bytearray(sample)
            for _ in range(generator.randint(1, 6)):
                mutated[generator.randrange(len(mutated))] = generator.randrange(256)
            packets.append(bytes(mutated))
    packets += [generator.randbytes(generator.randint(1, 400)) for _ in range(200)]
    for packet in packets:
        reply = kdc.handle(packet, transport="udp", peer="192.0.2.7:88")
        assert reply is None or reply[0] in (0x6B, 0x6D, 0x7E)
    assert not [e for e in kdc.events if e.request == "internal-error"]
    dropped = [e for e in kdc.events if e.request == "malformed"]
    assert dropped and all(e.error_code is None and e.peer == "192.0.2.7:88" for e in dropped)
    assert login(kdc, clock).client_principal == "ocs-ucc@COMPANYA.COM"


def test_as_req_without_sname_is_dropped_as_mit_does(kdc: KdcCore) -> None:
    request = KdcReq.from_der(AsExchange("ocs-ucc", REALM, "x").request())
    without = replace(request, body=replace(request.body, sname=None))
    assert kdc.handle(without.to_der()) is None
    assert kdc.events[-1].request == "malformed"


def test_field_too_long(kdc: KdcCore) -> None:
    error = KrbError.from_der(kdc.field_too_long(1 << 31, peer="127.0.0.1:5"))
    assert error.error_code == ErrorCode.KRB_ERR_FIELD_TOOLONG
    assert kdc.events[-1].request == "oversized"


def test_account_keys_follow_the_account_options() -> None:
    user = Account("ocs-ucc", UCC_PASSWORD)
    assert user.key_enctypes == (18, 17, 23) and set(user.keys(REALM)) == {18, 17, 23}
    assert Account("d", "p", use_des_key_only=True).key_enctypes == (3, 1)
    assert Account("x", "p", enctypes=(17,)).key_enctypes == (17,)
    assert user.key(18, REALM) is user.key(18, REALM)  # derived once, then cached
    with pytest.raises(ValueError):
        user.key(3, REALM)
    with pytest.raises(ValueError):
        Account("bad/name", "p")
    assert "s3cret" not in repr(Account("ocs-ucc", "s3cret"))
