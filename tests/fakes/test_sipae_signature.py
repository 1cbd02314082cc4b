"""The MS-SIPAE signature buffer (field order, values as they appear) and its RFC 4121 MIC."""

from __future__ import annotations

from typing import Any

import pytest

from fakes.kerberos import GssContext, GssFlag, Key
from fakes.sip import Request, make_response
from fakes.sipae import (
    LocalProtocolError,
    SignatureError,
    check_signature,
    make_signature,
    parse_message,
    signature_buffer,
    with_header,
)

KEY = Key(18, bytes(range(32)))
SIGNED: dict[str, Any] = {"protocol": "Kerberos", "rand": "0a1b2c3d", "num": "1",
                          "realm": "SIP Communications Service", "targetname": "sip/fe01.companya.com"}

REGISTER = (
    b"REGISTER sip:companya.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TLS ucc01.companya.com:5061;branch=z9hG4bK1\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "OCS UCC" <sip:ocs-ucc@CompanyA.com>;tag=3f2a;epid=01010101\r\n'
    b"To: <sip:ocs-ucc@CompanyA.com>\r\n"
    b"Call-ID: 9b2d@ucc01.companya.com\r\n"
    b"CSeq: 7 REGISTER\r\n"
    b"Contact: <sip:ucc01.companya.com:5061;transport=tls>\r\n"
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def contexts() -> tuple[GssContext, GssContext]:
    """An initiator and an acceptor sharing the initiator's subkey (no AP-REP, as in MS-SIPAE)."""
    return (GssContext(key=KEY, is_initiator=True, flags=GssFlag.INTEG, send_seq=0, recv_seq=0),
            GssContext(key=KEY, is_initiator=False, flags=GssFlag.INTEG, send_seq=0, recv_seq=0))


def test_request_buffer_follows_the_version_3_order_with_values_as_they_appear() -> None:
    buffer = signature_buffer(parse_message(REGISTER), **SIGNED)
    # protocol, crand, cnum, realm, targetname, Call-ID, CSeq number and method, From URI
    # and tag, To URI and tag, PAI sip and tel URIs, Expires — no response code.
    assert buffer == (b"<Kerberos><0a1b2c3d><1><SIP Communications Service><sip/fe01.companya.com>"
                      b"<9b2d@ucc01.companya.com><7><REGISTER><sip:ocs-ucc@CompanyA.com><3f2a>"
                      b"<sip:ocs-ucc@CompanyA.com><><><><3600>")


def test_response_buffer_adds_the_to_tag_the_asserted_identity_and_the_code() -> None:
    request = parse_message(REGISTER)
    assert isinstance(request, Request)
    response = parse_message(make_response(request, 200, to_tag="fe77", headers=[
        ("P-Asserted-Identity", '"UCC" <sip:ocs-ucc@companya.com>, <tel:+14255550100>')]))
    buffer = signature_buffer(response, **{**SIGNED, "rand": "3C1F5A77", "num": "2"})
    assert buffer == (b"<Kerberos><3C1F5A77><2><SIP Communications Service><sip/fe01.companya.com>"
                      b"<9b2d@ucc01.companya.com><7><REGISTER><sip:ocs-ucc@CompanyA.com><3f2a>"
                      b"<sip:ocs-ucc@CompanyA.com><fe77><sip:ocs-ucc@companya.com><tel:+14255550100><><200>")


def test_preferred_identity_stands_in_for_an_absent_asserted_one() -> None:
    message = parse_message(with_header(REGISTER, "P-Preferred-Identity", "tel:+14255550100"))
    assert b"<><tel:+14255550100><3600>" in signature_buffer(message, **SIGNED)


def test_versions_before_3_are_refused() -> None:
    with pytest.raises(LocalProtocolError, match="version 2"):
        signature_buffer(parse_message(REGISTER), version=2, **SIGNED)


def test_mic_is_an_rfc_4121_token_in_lower_case_hex_and_verifies_on_the_other_side() -> None:
    initiator, acceptor = contexts()
    buffer = signature_buffer(parse_message(REGISTER), **SIGNED)
    signature = make_signature(initiator, buffer)
    # TOK_ID 04 04, flags 00 (from the initiator, no acceptor subkey), filler, sequence 0, then
    # HMAC-SHA1-96 with key usage 25: a frozen vector of this key and buffer (MIT verifies
    # these tokens in test_frontend_kerberos_mit.py).
    assert signature == "040400ffffffffff0000000000000000daaa04bd1101b1bd312b8e21"
    assert check_signature(acceptor, buffer, signature.upper()) == 0


def test_tampered_buffer_or_token_is_rejected_with_the_kerberos_code() -> None:
    initiator, acceptor = contexts()
    buffer = signature_buffer(parse_message(REGISTER), **SIGNED)
    signature = make_signature(initiator, buffer)
    with pytest.raises(SignatureError) as caught:
        check_signature(acceptor, buffer.replace(b"<3600>", b"<0>"), signature)
    assert caught.value.code == 41  # KRB_AP_ERR_MODIFIED
    with pytest.raises(SignatureError) as caught:
        check_signature(acceptor, buffer, "zz")
    assert caught.value.code == 60
    with pytest.raises(SignatureError) as caught:
        check_signature(acceptor, buffer, signature[:-2])
    assert caught.value.code == 60  # not a MIC token at all
    # A token from the acceptor is refused where the initiator's is expected (direction flag).
    with pytest.raises(SignatureError, match="wrong direction"):
        check_signature(acceptor, buffer, make_signature(acceptor, buffer))


def test_rc4_keys_sign_too() -> None:
    rc4 = Key(23, bytes(16))
    initiator = GssContext(key=rc4, is_initiator=True, flags=GssFlag.INTEG, send_seq=5, recv_seq=5)
    acceptor = GssContext(key=rc4, is_initiator=False, flags=GssFlag.INTEG, send_seq=5, recv_seq=5)
    buffer = signature_buffer(parse_message(REGISTER), **SIGNED)
    assert check_signature(acceptor, buffer, make_signature(initiator, buffer)) == 5


def test_with_header_appends_to_the_header_section_and_keeps_the_body() -> None:
    message = REGISTER.replace(b"Content-Length: 0", b"Content-Length: 4") + b"body"
    added = with_header(message, "Authorization", 'Kerberos realm="x"')
    assert added.endswith(b'Content-Length: 4\r\nAuthorization: Kerberos realm="x"\r\n\r\nbody')
    with pytest.raises(LocalProtocolError):
        with_header(message, "X", "a\r\nInjected: yes")


def test_parse_message_refuses_what_is_not_one_message() -> None:
    with pytest.raises(LocalProtocolError, match="400"):
        parse_message(b"REGISTER sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n")
    with pytest.raises(LocalProtocolError, match="exactly one"):
        parse_message(REGISTER + REGISTER)
