"""SipaeServer and SipaeClient in memory: tickets from a KdcCore, messages as bytes, no sockets."""

from __future__ import annotations

import datetime
import os
import random
from dataclasses import dataclass

import pytest

from fakes.kdc import KdcCore
from fakes.kerberos import make_initial_context_token, utc_now
from fakes.sip import Request, make_response
from fakes.sipae import (
    AUTHORIZATION,
    BadSignature,
    Challenge,
    Credentials,
    Established,
    LocalProtocolError,
    NeedChallenge,
    Rejected,
    RemoteProtocolError,
    SignatureError,
    SipaeClient,
    SipaeServer,
    Verified,
    parse_credentials,
    parse_message,
    select_challenge,
    with_header,
)

from .kdc_support import REALM, lab_accounts
from .sipae_support import (
    KERBEROS_CHALLENGE,
    SPN,
    UCC_USER,
    options_request,
    register_request,
    service_ticket,
    sipae_server,
)


@pytest.fixture(scope="module")
def core() -> KdcCore:
    return KdcCore(REALM, lab_accounts())


def req(raw: bytes) -> Request:
    """The request in ``raw``."""
    message = parse_message(raw)
    assert isinstance(message, Request)
    return message


@dataclass
class Pair:
    server: SipaeServer
    client: SipaeClient


def pair(core: KdcCore, *, server: SipaeServer | None = None, challenge: Challenge = KERBEROS_CHALLENGE) -> Pair:
    token, context = make_initial_context_token(service_ticket(core))
    return Pair(server or sipae_server(), SipaeClient(challenge, context, token, rng=os.urandom))


def establish(p: Pair) -> Established:
    decision = p.server.check(req(p.client.authorize(register_request())))
    assert isinstance(decision, Established), decision
    p.client.verify(parse_message(p.server.sign(decision.sa, make_response(
        req(register_request()), 200, to_tag="fe1"))))
    return decision


def test_challenge_offers_ntlm_then_kerberos_for_the_spn() -> None:
    server = sipae_server(version=3)
    assert server.challenges() == [
        ("WWW-Authenticate", 'NTLM realm="SIP Communications Service", targetname="fe01.companya.com", version=3'),
        ("WWW-Authenticate", f'Kerberos realm="SIP Communications Service", targetname="{SPN}", version=3')]
    assert select_challenge(v for _, v in sipae_server(ntlm_targetname=None).challenges()) == KERBEROS_CHALLENGE
    with pytest.raises(LocalProtocolError):
        sipae_server(version=5)


def test_version_4_client_signs_the_first_request_and_the_sa_opens(core: KdcCore) -> None:
    p = pair(core)
    decision = establish(p)
    assert (decision.signed, decision.cnum) == (True, 1)
    assert decision.sa.client_principal == f"{UCC_USER}@{REALM}" and decision.sa.opaque == p.client.opaque
    assert p.server.security_associations == {decision.sa.opaque: decision.sa}
    later = p.server.check(req(p.client.authorize(options_request())))
    assert isinstance(later, Verified) and later.cnum == 2


def test_version_3_client_does_not_sign_the_first_request(core: KdcCore) -> None:
    p = pair(core, challenge=Challenge("Kerberos", KERBEROS_CHALLENGE.realm, SPN, 3))
    request = p.client.authorize(register_request())
    credentials = parse_credentials(parse_message(request).headers[AUTHORIZATION])
    assert not credentials.signed and credentials.version == 3
    decision = p.server.check(req(request))
    assert isinstance(decision, Established) and not decision.signed and decision.cnum is None


def test_the_servers_signatures_count_up_and_verify_at_the_client(core: KdcCore) -> None:
    p = pair(core)
    sa = establish(p).sa
    answer = make_response(req(options_request()), 200, to_tag="fe2")
    infos = [p.client.verify(parse_message(p.server.sign(sa, answer))) for _ in range(2)]
    assert [i.snum for i in infos] == ["2", "3"] and infos[0].srand != infos[1].srand


def test_a_response_altered_in_transit_fails_at_the_client(core: KdcCore) -> None:
    p = pair(core)
    sa = establish(p).sa
    signed = p.server.sign(sa, make_response(req(options_request()), 200, to_tag="fe2"))
    with pytest.raises(SignatureError, match="rspauth does not verify"):
        p.client.verify(parse_message(signed.replace(b"200 OK", b"403 Forbidden")))


def test_client_checks_whose_authentication_info_it_is(core: KdcCore) -> None:
    p = pair(core)
    sa = establish(p).sa
    response = make_response(req(options_request()), 200, to_tag="fe2")
    with pytest.raises(RemoteProtocolError, match="no Authentication-Info"):
        p.client.verify(parse_message(response))
    other = sipae_server(targetname="sip/fe02.companya.com")
    forged = other.sign(sa, response)
    with pytest.raises(RemoteProtocolError, match="not this security association"):
        p.client.verify(parse_message(forged))


def test_the_token_is_presented_once(core: KdcCore) -> None:
    p = pair(core)
    p.client.authorize(register_request())
    with pytest.raises(LocalProtocolError, match="not established yet"):
        p.client.authorize(register_request(2))


@pytest.mark.parametrize(("header", "reason"), [
    (None, "no Authorization header"),
    ('Kerberos qop="auth", realm="elsewhere", targetname="sip/fe01.companya.com", gssapi-data="YQ=="',
     "realm 'elsewhere' is not this server's 'SIP Communications Service'"),
    ('Kerberos qop="auth", realm="SIP Communications Service", targetname="sip/fe01.companya.com"',
     "Authorization with neither gssapi-data nor opaque"),
    ('Kerberos qop="auth", opaque="00000000", realm="SIP Communications Service", targetname="sip/fe01.companya.com",'
     ' crand="01", cnum="1", response="00"', "no security association '00000000'"),
])
def test_requests_that_name_no_sa_get_a_challenge(header: str | None, reason: str) -> None:
    request = register_request() if header is None else with_header(register_request(), AUTHORIZATION, header)
    assert sipae_server().check(req(request)) == NeedChallenge(reason)


def test_garbage_in_gssapi_data_is_rejected_not_crashed() -> None:
    header = ('Kerberos qop="auth", realm="SIP Communications Service", targetname="sip/fe01.companya.com", '
              'gssapi-data="YIIBAAYJKoZIhvcSAQICAQA="')
    decision = sipae_server().check(req(with_header(register_request(), AUTHORIZATION, header)))
    assert isinstance(decision, Rejected) and decision.error_code == 60


def test_first_request_whose_signature_does_not_match_is_rejected(core: KdcCore) -> None:
    p = pair(core)
    signed = p.client.authorize(register_request())
    decision = p.server.check(req(signed.replace(b"Expires: 3600", b"Expires: 0")))
    assert isinstance(decision, Rejected) and decision.error_name == "KRB_AP_ERR_MODIFIED"
    assert p.server.security_associations == {}


def test_later_requests_replayed_unsigned_or_altered(core: KdcCore) -> None:
    p = pair(core)
    establish(p)
    options = p.client.authorize(options_request())
    assert isinstance(p.server.check(req(options)), Verified)
    replayed = p.server.check(req(options))
    assert isinstance(replayed, BadSignature) and "cnum 2 is not above 2" in replayed.reason
    header = parse_credentials(parse_message(p.client.authorize(options_request(2))).headers[AUTHORIZATION])
    unsigned = header.header_value().split(", crand=")[0]
    decision = p.server.check(req(with_header(options_request(2), AUTHORIZATION, unsigned)))
    assert isinstance(decision, BadSignature) and "not signed" in decision.reason
    altered = p.client.authorize(options_request(3)).replace(b"CSeq: 3 OPTIONS", b"CSeq: 4 OPTIONS")
    decision = p.server.check(req(altered))
    assert isinstance(decision, BadSignature) and decision.error_code == 41


def test_the_sa_ends_with_the_ticket(core: KdcCore) -> None:
    moment = [utc_now()]
    server = sipae_server(now=lambda: moment[0], rng=random.Random(1).randbytes)
    p = pair(core, server=server)
    sa = establish(p).sa
    assert len(sa.opaque) == 8
    moment[0] = sa.expires + datetime.timedelta(seconds=1)
    decision = server.check(req(p.client.authorize(options_request())))
    assert isinstance(decision, NeedChallenge) and "expired with its ticket" in decision.reason
    assert server.security_associations == {}


def test_injected_randomness_makes_the_sa_ids_repeatable(core: KdcCore) -> None:
    ids = []
    for _ in range(2):
        server = sipae_server(rng=random.Random(7).randbytes)
        ids.append(establish(pair(core, server=server)).sa.opaque)
    assert ids[0] == ids[1]


def test_mutated_tokens_and_headers_never_raise(core: KdcCore) -> None:
    """A few hundred bit-flipped, truncated and padded tokens, and random header text: each
    gets a decision (a Kerberos refusal, or a challenge), never an exception."""
    rng = random.Random(3)
    token, _ = make_initial_context_token(service_ticket(core))
    server = sipae_server()
    outcomes: set[str] = set()
    for _ in range(300):
        mutated = bytearray(token)
        operation = rng.choice(("flip", "truncate", "insert"))
        if operation == "flip":
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        elif operation == "truncate":
            mutated = mutated[:rng.randrange(len(mutated))]
        else:
            position = rng.randrange(len(mutated))
            mutated[position:position] = rng.randbytes(rng.randint(1, 8))
        header = Credentials("Kerberos", KERBEROS_CHALLENGE.realm, SPN, gssapi_data=bytes(mutated)).header_value()
        decision = server.check(req(with_header(register_request(), AUTHORIZATION, header)))
        assert isinstance(decision, (Rejected, Established)), decision
        outcomes.add(type(decision).__name__)
    assert "Rejected" in outcomes
    alphabet = 'Kerbos =",\\x-/09aq'
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        decision = server.check(req(with_header(register_request(), AUTHORIZATION, text or "x")))
        assert isinstance(decision, (NeedChallenge, Rejected)), decision
