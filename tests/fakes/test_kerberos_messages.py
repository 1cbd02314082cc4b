"""Kerberos messages as plain values: round trips, the raw req-body bytes, lenient decoding
where peers differ (EncASRepPart 25/26, DES padding) and DecodeError for everything else: one
that names the message expected and says what is wrong, and that a KDC answers by dropping."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from impacket.krb5 import asn1 as impacket_asn1
from pyasn1.codec.der import decoder, encoder

from fakes.kdc import KdcCore
from fakes.kerberos import (
    ApReq,
    Authenticator,
    Checksum,
    DecodeError,
    EncKdcRepPart,
    EncryptedData,
    EncTicketPart,
    ErrorCode,
    EtypeInfo2Entry,
    KdcOption,
    KdcRep,
    KdcReq,
    KdcReqBody,
    KerberosError,
    Key,
    KrbError,
    MessageType,
    NameType,
    PaData,
    PrincipalName,
    Ticket,
    TicketFlag,
    decode_etype_info2,
    decode_method_data,
    decode_pa_enc_ts_enc,
    decrypt,
    encode_etype_info2,
    encode_method_data,
    encode_pa_enc_ts_enc,
    encrypt,
    format_principal,
    message_type,
    parse_principal,
    random_key,
)

from .kdc_support import REALM, lab_accounts

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
SECOND = NOW.replace(microsecond=0)
TGS = PrincipalName.from_text("krbtgt/COMPANYA.COM")
UCC = PrincipalName.from_text("ocs-ucc")
TICKET = Ticket("COMPANYA.COM", PrincipalName.from_text("sip/fe01.companya.com"), EncryptedData(18, b"\x01" * 60, 3))


def test_principal_names() -> None:
    assert TGS == PrincipalName(NameType.SRV_INST, ("krbtgt", "COMPANYA.COM"))
    assert UCC.name_type == NameType.PRINCIPAL
    name, realm = parse_principal("sip/fe01.companya.com@COMPANYA.COM")
    assert (str(name), realm) == ("sip/fe01.companya.com", "COMPANYA.COM")
    assert parse_principal("ocs-ucc", "COMPANYA.COM") == (UCC, "COMPANYA.COM")
    enterprise = PrincipalName(NameType.ENTERPRISE, ("ocs-ucc@companya.com",))
    text = format_principal(enterprise, "COMPANYA.COM")
    assert text == "ocs-ucc\\@companya.com@COMPANYA.COM"
    assert parse_principal(text)[0].components == enterprise.components


def test_kdc_req_round_trip_keeps_the_raw_body() -> None:
    body = KdcReqBody(int(KdcOption.FORWARDABLE | KdcOption.RENEWABLE_OK), "COMPANYA.COM", SECOND, 12345,
                      (18, 17, 23), cname=UCC, sname=TGS)
    request = KdcReq(MessageType.AS_REQ, body, (PaData(2, b"\x30\x00"), PaData(149)))
    decoded = KdcReq.from_der(request.to_der())
    assert decoded == request
    assert decoded.raw_body == body.to_der()
    assert decoded.padata_of(149) == PaData(149, b"")
    assert decoded.padata_of(19) is None


def _tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    header = bytes([length]) if length < 128 else b"\x82" + length.to_bytes(2, "big")
    return bytes([tag]) + header + content


def test_raw_body_is_the_bytes_as_received_not_a_re_encoding() -> None:
    # A peer that writes the req-body SEQUENCE length in long form (valid BER) signs those
    # bytes; re-encoding the decoded body would give the minimal form and break the checksum.
    body = KdcReqBody(0, "COMPANYA.COM", SECOND, 7, (18,), sname=PrincipalName.from_text("sip/fe01.companya.com"))
    minimal = body.to_der()
    long_form = b"\x30\x81" + minimal[1:]
    request = _tlv(0x6C, _tlv(0x30, _tlv(0xA1, b"\x02\x01\x05") + _tlv(0xA2, b"\x02\x01\x0c")
                              + _tlv(0xA4, long_form)))
    decoded = KdcReq.from_der(request)
    assert decoded.body == body
    assert decoded.raw_body == long_form != minimal


def test_tgs_req_with_additional_tickets_round_trips() -> None:
    body = KdcReqBody(int(KdcOption.ENC_TKT_IN_SKEY), "COMPANYA.COM", None, 1, (18,),
                      sname=UCC, additional_tickets=(TICKET,))
    request = KdcReq(MessageType.TGS_REQ, body, (PaData(1, b"x"),))
    decoded = KdcReq.from_der(request.to_der())
    assert decoded == request
    assert decoded.body.till is None  # 19700101000000Z: "as long as allowed"


def test_replies_round_trip() -> None:
    info = encode_etype_info2([EtypeInfo2Entry(18, "COMPANYA.COMocs-ucc"), EtypeInfo2Entry(23)])
    reply = KdcRep(MessageType.AS_REP, "COMPANYA.COM", UCC, TICKET, EncryptedData(18, b"\x02" * 80, 2),
                   (PaData(19, info),))
    assert KdcRep.from_der(reply.to_der()) == reply
    assert decode_etype_info2(info) == (EtypeInfo2Entry(18, "COMPANYA.COMocs-ucc"), EtypeInfo2Entry(23))
    assert Ticket.from_der(TICKET.to_der()) == TICKET


def test_enc_kdc_rep_part_accepts_both_application_tags() -> None:
    part = EncKdcRepPart(random_key(18), 99, int(TicketFlag.INITIAL | TicketFlag.PRE_AUTHENT), SECOND,
                         SECOND + timedelta(hours=10), "COMPANYA.COM", TGS, starttime=SECOND,
                         renew_till=SECOND + timedelta(days=1),
                         encrypted_pa_data=(PaData(149, Checksum(16, b"c" * 12).to_der()),))
    as_tagged = part.to_der()
    tgs_tagged = replace(part, application_tag=26).to_der()
    assert (as_tagged[0], tgs_tagged[0]) == (0x79, 0x7A)
    assert EncKdcRepPart.from_der(as_tagged) == replace(part, last_req=((0, SECOND),))
    assert EncKdcRepPart.from_der(tgs_tagged).application_tag == 26
    assert Checksum.from_der(part.encrypted_pa_data[0].value) == Checksum(16, b"c" * 12)


def test_decrypted_des_plaintext_with_padding_decodes() -> None:
    key = random_key(3)
    part = EncTicketPart(int(TicketFlag.FORWARDABLE), random_key(3), "COMPANYA.COM", UCC, SECOND,
                         SECOND + timedelta(hours=10))
    plain = decrypt(key, 2, encrypt(key, 2, part.to_der()))
    assert len(plain) % 8 == 0
    assert EncTicketPart.from_der(plain) == part


@pytest.mark.parametrize("padding, accepted", [
    (b"", True),
    (b"\0" * 7, True),                  # MIT: zeros up to the block boundary
    (b"\x01", True),
    (b"\x04" * 4, True),                # JDK 17: PKCS#5 style
    (b"\x08" * 8, True),                # JDK 17 on an already aligned plaintext: a whole block
    (b"\0" * 8, False),
    (b"\x09" * 9, False),
    (b"\x04\x04\x04", False),
    (b"\x08" * 7, False),
])
def test_padding_after_a_decrypted_structure(padding: bytes, accepted: bool) -> None:
    der = encode_pa_enc_ts_enc(NOW) + padding
    if accepted:
        assert decode_pa_enc_ts_enc(der) == NOW
    else:
        with pytest.raises(DecodeError):
            decode_pa_enc_ts_enc(der)


def test_ap_req_authenticator_and_error_round_trip() -> None:
    authenticator = Authenticator("COMPANYA.COM", UCC, NOW, Checksum(0x8003, b"\x10" + b"\0" * 23),
                                  random_key(17), 123456)
    decoded = Authenticator.from_der(authenticator.to_der())
    assert decoded == authenticator and decoded.ctime.microsecond == 123456
    ap_req = ApReq(TICKET, EncryptedData(18, b"\x03" * 50), 0x20000000)
    assert ApReq.from_der(ap_req.to_der()) == ap_req
    error = KrbError(25, "COMPANYA.COM", TGS, NOW, crealm="COMPANYA.COM", cname=UCC,
                     e_data=encode_method_data([PaData(19, b"\x30\x00"), PaData(2)]))
    assert KrbError.from_der(error.to_der()) == error
    assert decode_method_data(error.e_data or b"") == (PaData(19, b"\x30\x00"), PaData(2, b""))
    assert decode_pa_enc_ts_enc(encode_pa_enc_ts_enc(NOW)) == NOW


def test_impacket_can_read_what_we_write() -> None:
    # What is written here is DER that impacket's ASN.1 reads and writes back unchanged.
    body = KdcReqBody(0, "COMPANYA.COM", SECOND, 5, (18,), cname=UCC, sname=TGS)
    decoded, rest = decoder.decode(KdcReq(MessageType.AS_REQ, body).to_der(), asn1Spec=impacket_asn1.AS_REQ())
    assert rest == b"" and str(decoded["req-body"]["cname"]["name-string"][0]) == "ocs-ucc"
    assert encoder.encode(decoded) == KdcReq(MessageType.AS_REQ, body).to_der()


def test_message_type() -> None:
    assert message_type(KdcReq(10, KdcReqBody(0, "R", None, 1, (18,), cname=UCC, sname=TGS)).to_der()) == 10
    assert message_type(b"") is None
    assert message_type(b"\x30\x00") is None  # a universal SEQUENCE, not a Kerberos message
    assert message_type(b"\x7e\x00") == MessageType.KRB_ERROR


# A well-formed sample of every message a reader takes. The keys are fixed bytes, so the
# mutations below hit the same fields on every run.
SAMPLES: dict[type, bytes] = {
    KdcReq: KdcReq(MessageType.AS_REQ, KdcReqBody(0, "COMPANYA.COM", SECOND, 5, (18, 17), cname=UCC, sname=TGS),
                   (PaData(2, b"\x30\x03\x02\x01\x05"),)).to_der(),
    KdcRep: KdcRep(MessageType.AS_REP, "COMPANYA.COM", UCC, TICKET, EncryptedData(18, b"\x02" * 80, 2)).to_der(),
    ApReq: ApReq(TICKET, EncryptedData(18, b"\x03" * 50), 0x20000000).to_der(),
    KrbError: KrbError(6, "COMPANYA.COM", TGS, NOW).to_der(),
    Ticket: TICKET.to_der(),
    Authenticator: Authenticator("COMPANYA.COM", UCC, NOW, Checksum(0x8003, b"\x10" + b"\0" * 23),
                                 Key(17, bytes(range(16))), 123456).to_der(),
    EncKdcRepPart: EncKdcRepPart(Key(18, bytes(range(32))), 99, int(TicketFlag.INITIAL), SECOND,
                                 SECOND + timedelta(hours=10), "COMPANYA.COM", TGS).to_der(),
}
# How each reader's DecodeError names the message it expected (KdcReq's first look at the raw
# bytes, which keeps the req-body as received, speaks of DER and KDC-REQ).
MESSAGE_NAMES = {
    KdcReq: r"AS-REQ|KDC-REQ|DER",
    KdcRep: r"AS-REP|TGS-REP",
    ApReq: r"AP-REQ",
    KrbError: r"KRB-ERROR",
    Ticket: r"Ticket",
    Authenticator: r"Authenticator",
    EncKdcRepPart: r"Enc(KDC|AS|TGS)RepPart",
}
# What a DecodeError says when the input stops early: the innermost field it ends inside
# ("the message" when it ends in the outermost header) and how many bytes are missing.
ENDS_EARLY = r"^[\w -]+: the input ends inside [\w.\[\]-]+( message)? \(needs \d+ more bytes?\)$"
# Messages holding an EncryptionKey: a well-formed one whose keytype the lab does not
# implement is KDC_ERR_ETYPE_NOSUPP, naming the enctype, rather than a DecodeError.
WITH_KEYS = (Authenticator, EncKdcRepPart)


def _mutations(sample: bytes, generator: random.Random, count: int) -> list[bytes]:
    """``count`` copies of ``sample`` with one to four bytes changed."""
    copies = []
    for _ in range(count):
        mutated = bytearray(sample)
        for _ in range(generator.randint(1, 4)):
            mutated[generator.randrange(len(mutated))] = generator.randrange(256)
        copies.append(bytes(mutated))
    return copies


def _assert_decode_error(error: KerberosError, message: type) -> None:
    """A DecodeError (KRB_ERR_GENERIC, a KDC drops it) that names the message expected."""
    assert type(error) is DecodeError, error
    assert (error.code, error.name) == (ErrorCode.KRB_ERR_GENERIC, "KRB_ERR_GENERIC")
    assert re.search(MESSAGE_NAMES[message], error.text), error.text
    assert str(error) == f"Generic error (description in e-text) (60): {error.text}"


@pytest.mark.parametrize("message", list(SAMPLES), ids=lambda m: m.__name__)
def test_every_truncation_is_a_decode_error_that_says_the_input_ends(message: type) -> None:
    sample = SAMPLES[message]
    assert message.from_der(sample).to_der() == sample
    for cut in range(len(sample)):
        with pytest.raises(DecodeError) as caught:
            message.from_der(sample[:cut])
        _assert_decode_error(caught.value, message)
        if cut:  # nothing at all reads as "not an <message> (APPLICATION tag None)"
            assert re.search(ENDS_EARLY, caught.value.text), (cut, caught.value.text)


@pytest.mark.parametrize("message", list(SAMPLES), ids=lambda m: m.__name__)
def test_damaged_bytes_are_decode_errors_or_decode_to_what_they_say(message: type) -> None:
    generator = random.Random(f"4120-{message.__name__}")
    others = [sample for kind, sample in SAMPLES.items() if kind is not message]
    for other in others:  # another message, however well-formed, is not this one
        with pytest.raises(DecodeError) as caught:
            message.from_der(other)
        _assert_decode_error(caught.value, message)
    candidates = [b"\x6a", b"\x6a\x84\xff\xff\xff\xff", b"\x6a\x80", *_mutations(SAMPLES[message], generator, 200)]
    for other in others:
        candidates += _mutations(other, generator, 20)
    decoded = 0
    for candidate in candidates:
        try:
            value = message.from_der(candidate)
        except DecodeError as error:
            _assert_decode_error(error, message)
        except KerberosError as error:
            assert message in WITH_KEYS, error
            assert error.code == ErrorCode.KDC_ERR_ETYPE_NOSUPP and "encryption type etype-" in error.text, error
        else:
            # A change that leaves a valid message (another realm, another nonce...): what was
            # read is what the bytes say, so it writes back to a message that reads the same.
            decoded += 1
            assert message.from_der(value.to_der()) == value
    # A reader that swallowed damage would pass the branch above; here about one in six
    # candidates still decodes (measured: 7 to 56 of 323).
    assert decoded < len(candidates) // 2


def test_a_kdc_drops_the_requests_the_reader_refuses() -> None:
    # What a reader refuses, the KDC does not answer: MIT's krb5kdc drops such packets
    # (measured, rule 1 of fakes/kdc/_core.py), so DecodeError's KRB_ERR_GENERIC is never
    # sent; the KDC's event records why.
    kdc = KdcCore(REALM, lab_accounts(), now=lambda: NOW)
    sample = SAMPLES[KdcReq]
    generator = random.Random(4120)
    candidates = [sample[:cut] for cut in range(len(sample))] + _mutations(sample, generator, 300)
    refused = 0
    for candidate in dict.fromkeys(candidates):  # a repeat would be a retransmission
        try:
            KdcReq.from_der(candidate)
            why = None
        except DecodeError as error:
            why = error.text
        reply = kdc.handle(candidate, transport="udp", peer="192.0.2.7:88")
        event = kdc.events[-1]
        assert event.request != "internal-error", event
        if why is None:
            assert reply is None or message_type(reply) in (MessageType.AS_REP, MessageType.KRB_ERROR)
            continue
        refused += 1
        assert reply is None
        assert (event.request, event.error_code, event.peer) == ("malformed", None, "192.0.2.7:88")
        # What is not even an AS-REQ is dropped on its first byte; the rest with the decoder's words.
        assert event.detail == why or event.detail.startswith("not an AS-REQ or TGS-REQ (first byte"), (
            why, event.detail)
    assert refused > len(sample)
