"""GSS-API Kerberos tokens: initial-token framing, the 0x8003 checksum and MIC tokens written
per RFC 4121 (AES) and RFC 4757 (RC4) — cross-checked with impacket where its padding does
not get in the way, and tamper-proof where it matters."""

from __future__ import annotations

import pytest
from impacket.krb5 import crypto as impacket_crypto
from impacket.krb5.gssapi import GSSAPI_AES128, GSSAPI_AES256, GSSAPI_RC4

from fakes.kerberos import (
    KRB5_OID,
    MS_KRB5_OID,
    Checksum,
    DecodeError,
    ErrorCode,
    GssContext,
    GssFlag,
    KerberosError,
    get_mic,
    make_gss_checksum,
    parse_gss_checksum,
    random_key,
    unwrap_initial_token,
    verify_mic,
    wrap_initial_token,
)

# An MS-SIPAE signature buffer: every value in <>, the request's fields in order.
SIGNATURE_BUFFER = (b"<Kerberos><41c7f3a2><1><SIP Communications Service><sip/fe01.companya.com>"
                    b"<3f9c2e1d@ucc01><1><REGISTER><sip:ocs-ucc@companya.com><8cd1><sip:ocs-ucc@companya.com>"
                    b"<><><><3600>")


def test_initial_token_framing() -> None:
    ap_req = b"\x6e\x05hello"
    token = wrap_initial_token(ap_req)
    assert token.startswith(b"\x60") and token[2:2 + len(KRB5_OID)] == KRB5_OID
    assert token[2 + len(KRB5_OID):2 + len(KRB5_OID) + 2] == b"\x01\x00"
    assert unwrap_initial_token(token) == ap_req
    big = b"\x6e" + b"x" * 300  # long-form DER length
    assert unwrap_initial_token(wrap_initial_token(big)) == big
    windows_oid = b"\x60" + bytes([len(MS_KRB5_OID) + 2 + len(ap_req)]) + MS_KRB5_OID + b"\x01\x00" + ap_req
    assert unwrap_initial_token(windows_oid) == ap_req


@pytest.mark.parametrize("token", [
    b"", b"\x6e\x00", b"\x60\x05\x06\x03abc", b"\x60\x0d\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x02\x00",
    wrap_initial_token(b"\x6e\x00")[:-1], b"\x60\x85\x00\x00\x00\x00\x00",
])
def test_malformed_initial_tokens_are_decode_errors(token: bytes) -> None:
    with pytest.raises(DecodeError):
        unwrap_initial_token(token)


def test_gss_checksum_round_trip_and_rules() -> None:
    flags = GssFlag.INTEG | GssFlag.SEQUENCE
    checksum = make_gss_checksum(flags)
    assert checksum.cksumtype == 0x8003 and len(checksum.checksum) == 24
    assert checksum.checksum[:4] == b"\x10\x00\x00\x00"  # Lgth = 16, little-endian
    parsed = parse_gss_checksum(checksum)
    assert parsed.flags == flags and parsed.bindings_hash == b"\0" * 16
    for bad in (None, Checksum(16, b"x" * 12), Checksum(0x8003, b"\x0f" + b"\0" * 23)):
        with pytest.raises(KerberosError) as caught:
            parse_gss_checksum(bad)
        assert caught.value.code == ErrorCode.KRB_AP_ERR_INAPP_CKSUM
    with pytest.raises(ValueError):
        make_gss_checksum(GssFlag.DELEG)


@pytest.mark.parametrize("enctype", [17, 18, 23])
@pytest.mark.parametrize("from_acceptor", [False, True])
def test_mic_round_trip(enctype: int, from_acceptor: bool) -> None:
    key = random_key(enctype)
    for seq in (0, 1, 0x3FFFFFFF):
        token = get_mic(key, SIGNATURE_BUFFER, seq, sent_by_acceptor=from_acceptor)
        assert verify_mic(key, SIGNATURE_BUFFER, token, sent_by_acceptor=from_acceptor) == seq


def test_rfc4121_token_layout() -> None:
    token = get_mic(random_key(18), b"abc", 5, sent_by_acceptor=True)
    assert len(token) == 28  # 16-byte header + HMAC-SHA1-96
    assert token[:2] == b"\x04\x04" and token[2] == 0x01 and token[3:8] == b"\xff" * 5
    assert token[8:16] == (5).to_bytes(8, "big")
    # No padding of the data: 3 bytes and 4 bytes give different, independent checksums.
    key = random_key(17)
    assert get_mic(key, b"abc", 0, sent_by_acceptor=False) != get_mic(key, b"abc\x01", 0, sent_by_acceptor=False)


@pytest.mark.parametrize("enctype, impacket_class", [(17, GSSAPI_AES128), (18, GSSAPI_AES256)])
def test_aes_mic_equals_impackets_when_its_padding_is_a_no_op(enctype: int, impacket_class: type) -> None:
    # impacket pads the data to 4 bytes (wrong for SIP) and always sets AcceptorSubkey; for
    # 4-aligned data and that flag, both implementations of RFC 4121 must agree.
    key = random_key(enctype)
    data = SIGNATURE_BUFFER + b"\0" * (-len(SIGNATURE_BUFFER) % 4)
    theirs = impacket_class().GSS_GetMIC(impacket_crypto.Key(enctype, key.contents), data, 42)
    ours = get_mic(key, data, 42, sent_by_acceptor=False, acceptor_subkey=True)
    assert ours == theirs


def test_rc4_mic_equals_impackets_when_its_padding_is_a_no_op() -> None:
    key = random_key(23)
    data = SIGNATURE_BUFFER + b"\0" * (-len(SIGNATURE_BUFFER) % 4)
    theirs = GSSAPI_RC4().GSS_GetMIC(impacket_crypto.Key(23, key.contents), data, 42)
    assert get_mic(key, data, 42, sent_by_acceptor=False) == theirs
    assert verify_mic(key, data, theirs, sent_by_acceptor=False) == 42


@pytest.mark.parametrize("enctype", [17, 18, 23])
def test_mic_tampering_wrong_key_and_wrong_direction_fail(enctype: int) -> None:
    key = random_key(enctype)
    token = get_mic(key, SIGNATURE_BUFFER, 7, sent_by_acceptor=False)
    altered = SIGNATURE_BUFFER.replace(b"<3600>", b"<0>")
    failures = [
        (key, altered, token, False),                          # the message changed
        (random_key(enctype), SIGNATURE_BUFFER, token, False),  # another key
        (key, SIGNATURE_BUFFER, token, True),                  # a reflected token
    ]
    flipped = bytearray(token)
    flipped[-1] ^= 0x80
    failures.append((key, SIGNATURE_BUFFER, bytes(flipped), False))  # the checksum changed
    for check_key, data, check_token, direction in failures:
        with pytest.raises(KerberosError) as caught:
            verify_mic(check_key, data, check_token, sent_by_acceptor=direction)
        assert caught.value.code == ErrorCode.KRB_AP_ERR_MODIFIED
    with pytest.raises(DecodeError):
        verify_mic(key, SIGNATURE_BUFFER, token[:-3], sent_by_acceptor=False)


def test_des_mic_tokens_are_not_supported() -> None:
    with pytest.raises(KerberosError) as caught:
        get_mic(random_key(3), b"data", 0, sent_by_acceptor=False)
    assert caught.value.code == ErrorCode.KDC_ERR_ETYPE_NOSUPP and "AES and RC4" in caught.value.text


def test_context_numbers_its_tokens_and_checks_the_peers() -> None:
    key = random_key(18)
    client = GssContext(key, is_initiator=True, flags=GssFlag.INTEG, send_seq=100, recv_seq=100)
    server = GssContext(key, is_initiator=False, flags=GssFlag.INTEG, send_seq=100, recv_seq=100)
    first, second = client.get_mic(b"REGISTER 1"), client.get_mic(b"REGISTER 2")
    assert server.verify_mic(b"REGISTER 2", second) == 101
    assert server.verify_mic(b"REGISTER 1", first) == 100  # out of order is accepted
    assert server.recv_seq == 101
    assert client.verify_mic(b"200 OK", server.get_mic(b"200 OK")) == 100
    with pytest.raises(KerberosError):
        server.verify_mic(b"200 OK", server.get_mic(b"200 OK"))  # its own token reflected back
