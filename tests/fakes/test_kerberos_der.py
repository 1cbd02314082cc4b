"""The package's own DER against the two references it replaced and must equal: MIT's real
messages (captured from kinit and kvno, tests/data/kerberos/) and impacket's ASN.1 (pyasn1).

Every captured message — requests from MIT's clients, answers from MIT's krb5kdc and from
the stand-in — and every part inside them that the keys of the capture open (TGTs,
authenticators with their subkeys, EncASRepPart/EncTGSRepPart, service tickets,
PA-ENC-TIMESTAMP, ETYPE-INFO2) reads to values that write back to the very same bytes, and
impacket reads and writes the same bytes too. The KDC answers MIT's captured requests as
it did when they were captured."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from impacket.krb5 import asn1 as impacket_asn1
from pyasn1.codec.der import decoder, encoder

from fakes.kdc import Account, KdcCore
from fakes.kerberos import (
    ApReq,
    Authenticator,
    Checksum,
    EncKdcRepPart,
    EncryptedData,
    EncTicketPart,
    KdcRep,
    KdcReq,
    KdcReqBody,
    Key,
    KeyUsage,
    KrbError,
    MessageType,
    PaData,
    PaDataType,
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
    message_type,
    string_to_key,
)
from fakes.kerberos._der import encode_integer, integer
from tests.conftest import DATA

from .kdc_support import REALM, lab_accounts

FIXTURES = DATA / "kerberos"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "manifest.json").read_text())
CAPTURED_AT = datetime.fromisoformat(MANIFEST["captured_at"])
PA_FX_FAST = 136  # RFC 6113 §7.4.1

# Each top-level message: our reader and impacket's ASN.1 type for it.
READERS = {10: KdcReq, 12: KdcReq, 11: KdcRep, 13: KdcRep, 30: KrbError}
IMPACKET = {10: impacket_asn1.AS_REQ, 12: impacket_asn1.TGS_REQ, 11: impacket_asn1.AS_REP,
            13: impacket_asn1.TGS_REP, 30: impacket_asn1.KRB_ERROR, 1: impacket_asn1.Ticket,
            2: impacket_asn1.Authenticator, 3: impacket_asn1.EncTicketPart, 14: impacket_asn1.AP_REQ,
            15: impacket_asn1.AP_REP, 25: impacket_asn1.EncASRepPart, 26: impacket_asn1.EncTGSRepPart,
            27: impacket_asn1.EncAPRepPart}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def exchanges(kdc: str) -> list[tuple[bytes, bytes]]:
    return [(fixture(e["request"]), fixture(e["answer"])) for e in MANIFEST[kdc]["exchanges"]]


def assert_same_bytes_everywhere(der: bytes, value: Any, spec: Any = None) -> None:
    """Our value writes back ``der`` exactly, and impacket reads and writes the same bytes."""
    assert value.to_der() == der
    spec = spec if spec is not None else IMPACKET[message_type(der)]()
    decoded, rest = decoder.decode(der, asn1Spec=spec)
    assert rest == b"" and encoder.encode(decoded) == der


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.der")))
def test_every_captured_message_writes_back_byte_for_byte(name: str) -> None:
    der = fixture(name)
    value = READERS[message_type(der)].from_der(der)
    assert_same_bytes_everywhere(der, value)


def _tgs_chain(kdc: str, krbtgt: Key | None) -> dict[str, Any]:
    """Every part of one capture that its keys open, each read and checked to write back."""
    (_, preauth), (as_req, as_rep), (tgs_req, tgs_rep) = exchanges(kdc)
    password = MANIFEST[kdc]["ocs_ucc_password"]
    parts: dict[str, Any] = {}
    # The KDC's ETYPE-INFO2 in KDC_ERR_PREAUTH_REQUIRED's METHOD-DATA.
    error = KrbError.from_der(preauth)
    assert error.error_code == 25 and error.e_data is not None
    methods = decode_method_data(error.e_data)
    assert encode_method_data(methods) == error.e_data
    info = next(m for m in methods if m.padata_type == PaDataType.ETYPE_INFO2)
    entries = decode_etype_info2(info.value)
    assert encode_etype_info2(entries) == info.value
    assert_same_bytes_everywhere(info.value, _Raw(info.value), impacket_asn1.ETYPE_INFO2())
    user_key = string_to_key(entries[0].etype, password, entries[0].salt or "")
    # MIT's PA-ENC-TIMESTAMP, under the password's key.
    stamp = KdcReq.from_der(as_req).padata_of(PaDataType.ENC_TIMESTAMP)
    assert stamp is not None
    encrypted = EncryptedData.from_der(stamp.value)
    assert_same_bytes_everywhere(stamp.value, encrypted, impacket_asn1.EncryptedData())
    plain = decrypt(user_key, KeyUsage.AS_REQ_PA_ENC_TIMESTAMP, encrypted.cipher)
    when = decode_pa_enc_ts_enc(plain)
    assert encode_pa_enc_ts_enc(when) == plain
    assert_same_bytes_everywhere(plain, _Raw(plain), impacket_asn1.PA_ENC_TS_ENC())
    # The AS-REP's enc-part: the TGT's session key.
    rep = KdcRep.from_der(as_rep)
    plain = decrypt(user_key, KeyUsage.AS_REP_ENC_PART, rep.enc_part.cipher)
    parts["as_rep_part"] = EncKdcRepPart.from_der(plain)
    assert_same_bytes_everywhere(plain, parts["as_rep_part"])
    session_key = parts["as_rep_part"].key
    # MIT's TGS-REQ: the AP-REQ, its authenticator (with MIT's subkey and checksum), the TGT.
    request = KdcReq.from_der(tgs_req)
    pa_tgs = request.padata_of(PaDataType.TGS_REQ)
    assert pa_tgs is not None
    ap_req = ApReq.from_der(pa_tgs.value)
    assert_same_bytes_everywhere(pa_tgs.value, ap_req)
    plain = decrypt(session_key, KeyUsage.TGS_REQ_AUTHENTICATOR, ap_req.authenticator.cipher)
    parts["authenticator"] = Authenticator.from_der(plain)
    assert_same_bytes_everywhere(plain, parts["authenticator"])
    assert request.raw_body in tgs_req and KdcReqBody.to_der(request.body) == request.raw_body
    if krbtgt is not None:
        plain = decrypt(krbtgt, KeyUsage.KDC_REP_TICKET, ap_req.ticket.enc_part.cipher)
        parts["tgt"] = EncTicketPart.from_der(plain)
        assert_same_bytes_everywhere(plain, parts["tgt"])
        assert parts["tgt"].key == session_key
    # The TGS-REP's enc-part, under MIT's subkey (key usage 9) — unless the KDC answered
    # MIT's PA-FX-FAST, whose reply key is strengthened (RFC 6113 §5.4.3): MIT's KDC does.
    rep = KdcRep.from_der(tgs_rep)
    subkey = parts["authenticator"].subkey
    assert subkey is not None
    if rep.padata_of(PA_FX_FAST) is None:
        plain = decrypt(subkey, KeyUsage.TGS_REP_ENC_PART_SUBKEY, rep.enc_part.cipher)
        parts["tgs_rep_part"] = EncKdcRepPart.from_der(plain)
        assert_same_bytes_everywhere(plain, parts["tgs_rep_part"])
    parts["service_ticket"] = rep.ticket
    assert_same_bytes_everywhere(rep.ticket.to_der(), Ticket.from_der(rep.ticket.to_der()))
    return parts


class _Raw:
    """Bytes standing for a value whose writer is a function (ETYPE-INFO2, PA-ENC-TS-ENC)."""

    def __init__(self, der: bytes) -> None:
        self.der = der

    def to_der(self) -> bytes:
        return self.der


def test_mits_kdc_messages_and_every_part_inside_them() -> None:
    parts = _tgs_chain("mit_kdc", krbtgt=None)
    assert "tgs_rep_part" not in parts  # MIT's KDC answered with FAST
    # MIT's KDC tags the AS reply's enc-part EncTGSRepPart (26), as the field notes say.
    assert parts["as_rep_part"].application_tag == 26
    assert parts["authenticator"].cksum is not None and parts["authenticator"].cksum.cksumtype == 16
    # The service ticket MIT issued, opened with the service's key.
    ticket = parts["service_ticket"]
    service_key = string_to_key(ticket.enc_part.etype, MANIFEST["mit_kdc"]["service_password"],
                                f"{REALM}sipfe01.companya.com")
    plain = decrypt(service_key, KeyUsage.KDC_REP_TICKET, ticket.enc_part.cipher)
    assert_same_bytes_everywhere(plain, EncTicketPart.from_der(plain))
    assert EncTicketPart.from_der(plain).cname == PrincipalName(1, ("ocs-ucc",))


def test_mits_requests_to_the_stand_in_and_every_part_inside_them() -> None:
    krbtgt = Account("krbtgt", MANIFEST["standin"]["krbtgt_password"], enabled=False)
    parts = _tgs_chain("standin", krbtgt.key(18, REALM))
    assert parts["as_rep_part"].application_tag == 25
    assert parts["tgt"].flags & TicketFlag.PRE_AUTHENT
    assert parts["tgs_rep_part"].sname == PrincipalName(1, ("sip", "fe01.companya.com"))  # as MIT asked


def test_the_kdc_answers_mits_captured_requests_as_it_did() -> None:
    krbtgt = Account("krbtgt", MANIFEST["standin"]["krbtgt_password"], enabled=False)
    kdc = KdcCore(REALM, [*lab_accounts(), krbtgt], now=lambda: CAPTURED_AT)
    subkey = _tgs_chain("standin", krbtgt.key(18, REALM))["authenticator"].subkey
    assert subkey is not None
    for request, answer in exchanges("standin"):
        reply = kdc.handle(request, peer="127.0.0.1:1")
        assert reply is not None and message_type(reply) == message_type(answer)
        if message_type(answer) == MessageType.TGS_REP:
            # MIT's TGS-REQ asks to canonicalize, and the reply now says which enctypes the
            # service supports (PA-SUPPORTED-ENCTYPES, [MS-KILE] §2.2.8); all else as captured.
            then, now = (EncKdcRepPart.from_der(decrypt(subkey, KeyUsage.TGS_REP_ENC_PART_SUBKEY,
                                                         KdcRep.from_der(m).enc_part.cipher)) for m in (answer, reply))
            assert now.encrypted_pa_data == (PaData(PaDataType.SUPPORTED_ENCTYPES, bytes([0x1C, 0, 0, 0])),)
            assert replace(now, key=then.key, encrypted_pa_data=()) == then
            continue
        assert len(reply) == len(answer)  # same fields, same sizes; keys and times differ
        if message_type(answer) == MessageType.KRB_ERROR:
            then_error, now_error = KrbError.from_der(answer), KrbError.from_der(reply)
            assert replace(now_error, stime=then_error.stime) == then_error
    assert [e.request for e in kdc.events] == ["AS-REQ", "AS-REQ", "TGS-REQ"]
    assert [e.error_code for e in kdc.events] == [25, None, None]


# Values of every message type, written by us and by impacket from the same fields.
NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=CAPTURED_AT.tzinfo)
SECOND = NOW.replace(microsecond=0)  # KerberosTime alone has no microseconds
TGS = PrincipalName.from_text("krbtgt/COMPANYA.COM")
UCC = PrincipalName.from_text("ocs-ucc")
TICKET = Ticket(REALM, PrincipalName.from_text("sip/fe01.companya.com"), EncryptedData(18, b"\x01" * 200, 3))
VALUES = [
    KdcReq(MessageType.TGS_REQ, KdcReqBody(0x40810010, REALM, None, 2**31 + 5, (18, 17, -135), sname=UCC,
                                           from_=SECOND, rtime=SECOND, addresses=((2, b"\x7f\0\0\1"),),
                                           additional_tickets=(TICKET,)), (PaData(1, b"\x00" * 300),)),
    KdcRep(MessageType.TGS_REP, REALM, UCC, TICKET, EncryptedData(-133, b"\x02" * 70000)),
    EncKdcRepPart(Key(23, bytes(16)), 0, 0xFFFFFFFF, SECOND, SECOND + timedelta(days=1), REALM, TGS,
                  key_expiration=SECOND, last_req=((0, SECOND), (-6, SECOND)), caddr=((20, b"name"),), application_tag=26),
    EncTicketPart(0, Key(1, bytes(8)), "Ré.alm", PrincipalName(10, ("ü@companya.com",)), SECOND, SECOND,
                  transited=(1, b"EXAMPLE.COM"), authorization_data=((1, b"\x30\x00"), (128, b"pac"))),
    Authenticator(REALM, UCC, NOW, Checksum(-138, b"c" * 16), Key(16, bytes(24)), 0,
                  authorization_data=((1, b"x"),)),
    ApReq(TICKET, EncryptedData(17, b"\x03" * 127, 0), 0x60000000),
    KrbError(60, REALM, TGS, NOW, crealm=REALM, cname=UCC, ctime=NOW, e_text="wörds", e_data=b""),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_what_we_write_is_what_impacket_writes(value: Any) -> None:
    der = value.to_der()
    assert_same_bytes_everywhere(der, type(value).from_der(der))
    assert type(value).from_der(der) == value


@pytest.mark.parametrize("value, der", [
    (0, "020100"), (127, "02017f"), (128, "02020080"), (-1, "0201ff"), (-129, "0202ff7f"), (-138, "0202ff76"),
    (2**31 + 5, "020500" + "80000005"),
    # X.690 §8.3.2: the first 9 bits of an INTEGER are never all ones (or all zeros), so
    # -128 is 80. pyasn1 writes ff 80 (measured, 0.6.3): one place not to follow impacket.
    (-128, "020180"),
])
def test_integers_are_x690s_shortest_form(value: int, der: str) -> None:
    assert encode_integer(value).hex() == der
    assert integer(bytes.fromhex(der), 0, len(der) // 2) == (value, len(der) // 2)
