"""Kerberos messages (RFC 4120 §5) as frozen dataclasses, with DER written and read here.

Every message is a plain frozen dataclass of Python values: ``from_der(bytes)`` reads one,
``to_der()`` writes one. The DER is this package's own (:mod:`._der`): the KDC reads and
writes these messages on every request, and a generic ASN.1 library spent most of the
KDC's time on them. The encodings are byte for byte those impacket's ASN.1 definitions
give (and MIT's, for the messages MIT sends): ``tests/fakes/test_kerberos_der.py`` checks
both, with MIT's own messages from ``tests/data/kerberos/``.

Decoding is strict about what matters and lenient where real peers differ:

- anything that is not the expected DER structure raises :class:`~fakes.kerberos.DecodeError`;
- padding after a decrypted structure is accepted: up to 7 zero bytes (MIT) or 1 to 8
  bytes holding the pad length (JDK, a whole block when the plaintext is already
  aligned); single-DES and 3DES pad their plaintexts (RFC 3961 §6.2);
- an AS-REP's enc-part may be tagged EncASRepPart (25) or EncTGSRepPart (26): MIT's KDC
  writes 26, RFC 4120 §5.4.2 tells clients to accept both;
- :attr:`KdcReq.raw_body` keeps the req-body bytes exactly as received, because the
  TGS-REQ authenticator checksum covers those bytes (RFC 4120 §7.2.2 / §5.4.1) and
  re-encoding could change them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, IntFlag
from typing import Any, TypeVar

from ._crypto import Key
from ._der import (
    Malformed,
    Reader,
    application,
    constant,
    encode_flags,
    encode_integer,
    encode_octets,
    encode_sequence,
    encode_text,
    encode_time,
    flags,
    int32,
    kerberos_time,
    microseconds,
    nonce,
    octets,
    raw,
    read_message,
    sequence,
    sequence_of,
    text,
    tlv,
    uint32,
)
from ._errors import DecodeError

__all__ = [
    "MessageType",
    "NameType",
    "PaDataType",
    "TicketFlag",
    "KdcOption",
    "ApOption",
    "PrincipalName",
    "parse_principal",
    "format_principal",
    "EncryptedData",
    "Checksum",
    "PaData",
    "EtypeInfo2Entry",
    "Ticket",
    "EncTicketPart",
    "KdcReqBody",
    "KdcReq",
    "KdcRep",
    "EncKdcRepPart",
    "ApReq",
    "Authenticator",
    "EncApRepPart",
    "ApRep",
    "KrbError",
    "message_type",
    "encode_etype_info2",
    "decode_etype_info2",
    "encode_method_data",
    "decode_method_data",
    "encode_pa_enc_ts_enc",
    "decode_pa_enc_ts_enc",
]


class MessageType(IntEnum):
    """Message types (RFC 4120 §7.5.7); each is also the message's APPLICATION tag."""

    AS_REQ = 10
    AS_REP = 11
    TGS_REQ = 12
    TGS_REP = 13
    AP_REQ = 14
    AP_REP = 15
    KRB_ERROR = 30


class NameType(IntEnum):
    """Principal name types (RFC 4120 §6.2, RFC 6806 §5 for ENTERPRISE)."""

    UNKNOWN = 0
    PRINCIPAL = 1
    SRV_INST = 2
    SRV_HST = 3
    ENTERPRISE = 10


class PaDataType(IntEnum):
    """Pre-authentication data types (RFC 4120 §7.5.2) this package reads or writes."""

    TGS_REQ = 1
    ENC_TIMESTAMP = 2
    ETYPE_INFO = 11
    ETYPE_INFO2 = 19
    REQ_ENC_PA_REP = 149  # RFC 6806 §11: "prove that my request reached you unmodified"
    SUPPORTED_ENCTYPES = 165  # [MS-KILE] §2.2.8: the enctypes the KDC (or the service) supports


def _bit(n: int) -> int:
    # KerberosFlags number their bits from the most significant one (RFC 4120 §5.2.8).
    return 1 << (31 - n)


class TicketFlag(IntFlag):
    """Ticket flags (RFC 4120 §5.3), valued as the 32-bit word Wireshark shows."""

    FORWARDABLE = _bit(1)
    FORWARDED = _bit(2)
    PROXIABLE = _bit(3)
    PROXY = _bit(4)
    MAY_POSTDATE = _bit(5)
    POSTDATED = _bit(6)
    INVALID = _bit(7)
    RENEWABLE = _bit(8)
    INITIAL = _bit(9)
    PRE_AUTHENT = _bit(10)
    HW_AUTHENT = _bit(11)
    TRANSITED_POLICY_CHECKED = _bit(12)
    OK_AS_DELEGATE = _bit(13)
    ENC_PA_REP = _bit(15)  # RFC 6806 §11: the reply's encrypted-pa-data answers PA-REQ-ENC-PA-REP


class KdcOption(IntFlag):
    """KDC options (RFC 4120 §5.4.1)."""

    FORWARDABLE = _bit(1)
    FORWARDED = _bit(2)
    PROXIABLE = _bit(3)
    PROXY = _bit(4)
    ALLOW_POSTDATE = _bit(5)
    POSTDATED = _bit(6)
    RENEWABLE = _bit(8)
    CANONICALIZE = _bit(15)
    RENEWABLE_OK = _bit(27)
    ENC_TKT_IN_SKEY = _bit(28)
    RENEW = _bit(30)
    VALIDATE = _bit(31)


class ApOption(IntFlag):
    """AP options (RFC 4120 §5.5.1)."""

    USE_SESSION_KEY = _bit(1)
    MUTUAL_REQUIRED = _bit(2)


# -- principal names --------------------------------------------------------------------------

@dataclass(frozen=True)
class PrincipalName:
    """A PrincipalName (RFC 4120 §5.2.2): a name type and its components."""

    name_type: int
    components: tuple[str, ...]

    def __str__(self) -> str:
        # MIT's text form: components joined by "/", with "/", "@" and "\" escaped.
        return "/".join(c.replace("\\", "\\\\").replace("/", "\\/").replace("@", "\\@")
                        for c in self.components)

    @classmethod
    def from_text(cls, text: str, name_type: int | None = None) -> PrincipalName:
        """``"sip/fe01.companya.com"`` → SRV-INST name; ``"ocs-ucc"`` → PRINCIPAL name."""
        components = tuple(_split_unescaped(text, "/"))
        if name_type is None:
            name_type = NameType.SRV_INST if len(components) > 1 else NameType.PRINCIPAL
        return cls(int(name_type), components)


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_principal(text: str, default_realm: str | None = None) -> tuple[PrincipalName, str | None]:
    """Split MIT's ``name[/instance]@REALM`` text into a name and a realm.

    The realm is what follows the last unescaped ``@``; without one, ``default_realm``.
    """
    escaped = False
    at = -1
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "@":
            at = position
    if at < 0:
        return PrincipalName.from_text(text), default_realm
    return PrincipalName.from_text(text[:at]), text[at + 1:]


def format_principal(name: PrincipalName, realm: str | None) -> str:
    """``name@REALM`` as MIT prints it."""
    return f"{name}@{realm}" if realm else str(name)


# -- small value types ------------------------------------------------------------------------

@dataclass(frozen=True)
class EncryptedData:
    """EncryptedData (RFC 4120 §5.2.9); alone, it is the value of a PA-ENC-TIMESTAMP."""

    etype: int
    cipher: bytes
    kvno: int | None = None

    def to_der(self) -> bytes:
        return _encode_encrypted_data(self)

    @classmethod
    def from_der(cls, data: bytes) -> EncryptedData:
        return _decode(data, _ENCRYPTED_DATA, "EncryptedData")


@dataclass(frozen=True)
class Checksum:
    """Checksum (RFC 4120 §5.2.9); alone, it is the value of a PA-REQ-ENC-PA-REP."""

    cksumtype: int
    checksum: bytes

    def to_der(self) -> bytes:
        return _encode_checksum(self)

    @classmethod
    def from_der(cls, data: bytes) -> Checksum:
        return _decode(data, _CHECKSUM, "Checksum")


@dataclass(frozen=True)
class PaData:
    """PA-DATA (RFC 4120 §5.2.7): a type and its DER (or raw) value."""

    padata_type: int
    value: bytes = b""


@dataclass(frozen=True)
class EtypeInfo2Entry:
    """ETYPE-INFO2-ENTRY (RFC 4120 §5.2.7.5): how the client turns its password into a key."""

    etype: int
    salt: str | None = None
    s2kparams: bytes | None = None


# -- DER plumbing -----------------------------------------------------------------------------

_T = TypeVar("_T")


def _decode(data: bytes, reader: Reader, what: str) -> Any:
    """Read a whole ``what`` from ``data``; any failure is a DecodeError naming it."""
    try:
        return read_message(bytes(data), reader, what, trailing=_is_block_padding)
    except Malformed as bad:
        raise DecodeError(f"{what}: {bad.text()}") from None


def _is_block_padding(rest: bytes) -> bool:
    """Padding a block cipher left after a decrypted structure.

    MIT pads with 0 to 7 zero bytes up to the next DES block boundary. JDK 17 pads
    PKCS#5 style: 1 to 8 bytes, each holding the pad length, so a plaintext that already
    ends on a block boundary gets a whole block of ``08`` (measured with
    ``sun.security.krb5.EncryptedData``, des-cbc-crc and des-cbc-md5).
    """
    if len(rest) < 8 and not rest.strip(b"\0"):
        return True
    return 1 <= len(rest) <= 8 and rest == bytes([len(rest)]) * len(rest)


def _one_of(tags: dict[int, _T], data: bytes, what: str) -> _T:
    """The entry of ``tags`` for the APPLICATION tag ``data`` starts with, or a DecodeError."""
    kind = message_type(data)
    if kind in tags:
        return tags[kind]
    if not data:
        raise DecodeError(f"{what}: the input is empty")
    wanted = " or ".join(f"[APPLICATION {t}]" for t in tags)
    raise DecodeError(f"{what}: the message should be {wanted}, found tag 0x{data[0]:02x}")


def _optional(value: Any, encode: Callable[[Any], bytes]) -> bytes | None:
    return None if value is None else encode(value)


def _sequence_of(items: Sequence[bytes]) -> bytes:
    return tlv(0x30, b"".join(items))


_PVNO = constant(5)


def _encode_principal(name: PrincipalName) -> bytes:
    return encode_sequence(((0, encode_integer(name.name_type)),
                            (1, _sequence_of([encode_text(c) for c in name.components]))))


_PRINCIPAL = sequence((0, "name-type", int32, True), (1, "name-string", sequence_of(text), True),
                      into=lambda v: PrincipalName(v[0], v[1]))


def _encode_encrypted_data(data: EncryptedData) -> bytes:
    return encode_sequence(((0, encode_integer(data.etype)), (1, _optional(data.kvno, encode_integer)),
                            (2, encode_octets(data.cipher))))


_ENCRYPTED_DATA = sequence((0, "etype", int32, True), (1, "kvno", uint32, False), (2, "cipher", octets, True),
                           into=lambda v: EncryptedData(v[0], v[2], v[1]))


def _encode_key(key: Key) -> bytes:
    return encode_sequence(((0, encode_integer(key.enctype)), (1, encode_octets(key.contents))))


# Key() raises KDC_ERR_ETYPE_NOSUPP for an enctype the lab does not implement: a readable
# message that names an unusable key, not a malformed one.
_KEY = sequence((0, "keytype", int32, True), (1, "keyvalue", octets, True), into=lambda v: Key(v[0], v[1]))


def _encode_checksum(checksum: Checksum) -> bytes:
    return encode_sequence(((0, encode_integer(checksum.cksumtype)), (1, encode_octets(checksum.checksum))))


_CHECKSUM = sequence((0, "cksumtype", int32, True), (1, "checksum", octets, True),
                     into=lambda v: Checksum(v[0], v[1]))


def _encode_padata(padata: Sequence[PaData]) -> bytes:
    return _sequence_of([encode_sequence(((1, encode_integer(p.padata_type)), (2, encode_octets(p.value))))
                         for p in padata])


_PADATA = sequence_of(sequence((1, "padata-type", int32, True), (2, "padata-value", octets, True),
                               into=lambda v: PaData(v[0], v[1])))


def _encode_pairs(pairs: Sequence[tuple[int, bytes]]) -> bytes:
    """HostAddresses and AuthorizationData: SEQUENCE OF { [0] Int32, [1] OCTET STRING }."""
    return _sequence_of([encode_sequence(((0, encode_integer(kind)), (1, encode_octets(value))))
                         for kind, value in pairs])


_ADDRESSES = sequence_of(sequence((0, "addr-type", int32, True), (1, "address", octets, True), into=tuple))
_AUTHORIZATION_DATA = sequence_of(sequence((0, "ad-type", int32, True), (1, "ad-data", octets, True), into=tuple))


def _with_usec(moment: datetime, usec: int | None) -> datetime:
    return moment if usec is None else moment.replace(microsecond=usec)


# -- tickets ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ticket:
    """Ticket (RFC 4120 §5.3): the service's realm and name, and the encrypted EncTicketPart."""

    realm: str
    sname: PrincipalName
    enc_part: EncryptedData

    def to_der(self) -> bytes:
        return _encode_ticket(self)

    @classmethod
    def from_der(cls, data: bytes) -> Ticket:
        return _decode(data, _TICKET, "Ticket")


_TICKET = application(1, sequence((0, "tkt-vno", _PVNO, True), (1, "realm", text, True),
                                  (2, "sname", _PRINCIPAL, True), (3, "enc-part", _ENCRYPTED_DATA, True),
                                  into=lambda v: Ticket(v[1], v[2], v[3])))


def _encode_ticket(ticket: Ticket) -> bytes:
    return tlv(0x61, encode_sequence(((0, _VNO), (1, encode_text(ticket.realm)), (2, _encode_principal(ticket.sname)),
                                      (3, _encode_encrypted_data(ticket.enc_part)))))


_VNO = encode_integer(5)


@dataclass(frozen=True)
class EncTicketPart:
    """EncTicketPart (RFC 4120 §5.3): what only the service (or the KDC, for a TGT) can read."""

    flags: int
    key: Key
    crealm: str
    cname: PrincipalName
    authtime: datetime
    endtime: datetime
    starttime: datetime | None = None
    renew_till: datetime | None = None
    transited: tuple[int, bytes] = (1, b"")  # DOMAIN-X500-COMPRESS, no realms crossed
    caddr: tuple[tuple[int, bytes], ...] = ()
    authorization_data: tuple[tuple[int, bytes], ...] = ()

    def to_der(self) -> bytes:
        transited = encode_sequence(((0, encode_integer(self.transited[0])), (1, encode_octets(self.transited[1]))))
        return tlv(0x63, encode_sequence((
            (0, encode_flags(self.flags)),
            (1, _encode_key(self.key)),
            (2, encode_text(self.crealm)),
            (3, _encode_principal(self.cname)),
            (4, transited),
            (5, encode_time(self.authtime)),
            (6, _optional(self.starttime, encode_time)),
            (7, encode_time(self.endtime)),
            (8, _optional(self.renew_till, encode_time)),
            (9, _encode_pairs(self.caddr) if self.caddr else None),
            (10, _encode_pairs(self.authorization_data) if self.authorization_data else None),
        )))

    @classmethod
    def from_der(cls, data: bytes) -> EncTicketPart:
        return _decode(data, _ENC_TICKET_PART, "EncTicketPart")


_ENC_TICKET_PART = application(3, sequence(
    (0, "flags", flags, True),
    (1, "key", _KEY, True),
    (2, "crealm", text, True),
    (3, "cname", _PRINCIPAL, True),
    (4, "transited", sequence((0, "tr-type", int32, True), (1, "contents", octets, True), into=tuple), True),
    (5, "authtime", kerberos_time, True),
    (6, "starttime", kerberos_time, False),
    (7, "endtime", kerberos_time, True),
    (8, "renew-till", kerberos_time, False),
    (9, "caddr", _ADDRESSES, False),
    (10, "authorization-data", _AUTHORIZATION_DATA, False),
    into=lambda v: EncTicketPart(flags=v[0], key=v[1], crealm=v[2], cname=v[3], transited=v[4], authtime=v[5],
                                 starttime=v[6], endtime=v[7], renew_till=v[8], caddr=v[9] or (),
                                 authorization_data=v[10] or ()),
))


# -- KDC requests -----------------------------------------------------------------------------

@dataclass(frozen=True)
class KdcReqBody:
    """KDC-REQ-BODY (RFC 4120 §5.4.1)."""

    kdc_options: int
    realm: str
    till: datetime | None
    nonce: int
    etypes: tuple[int, ...]
    cname: PrincipalName | None = None
    sname: PrincipalName | None = None
    from_: datetime | None = None
    rtime: datetime | None = None
    addresses: tuple[tuple[int, bytes], ...] = ()
    additional_tickets: tuple[Ticket, ...] = ()

    def to_der(self) -> bytes:
        """The body alone, as the TGS-REQ authenticator checksum covers it."""
        return encode_sequence((
            (0, encode_flags(self.kdc_options)),
            (1, _optional(self.cname, _encode_principal)),
            (2, encode_text(self.realm)),
            (3, _optional(self.sname, _encode_principal)),
            (4, _optional(self.from_, encode_time)),
            (5, encode_time(self.till or _NO_END)),
            (6, _optional(self.rtime, encode_time)),
            (7, encode_integer(self.nonce)),
            (8, _sequence_of([encode_integer(e) for e in self.etypes])),
            (9, _encode_pairs(self.addresses) if self.addresses else None),
            (11, _sequence_of([_encode_ticket(t) for t in self.additional_tickets])
             if self.additional_tickets else None),
        ))


# RFC 4120 §5.4.1: "till" is mandatory; 19700101000000Z stands for "as long as allowed".
_NO_END = datetime(1970, 1, 1, tzinfo=UTC)

# enc-authorization-data ([10]) is read for its structure and not kept: this lab's KDC
# issues no authorization data.
_REQ_BODY = sequence(
    (0, "kdc-options", flags, True),
    (1, "cname", _PRINCIPAL, False),
    (2, "realm", text, True),
    (3, "sname", _PRINCIPAL, False),
    (4, "from", kerberos_time, False),
    (5, "till", kerberos_time, True),
    (6, "rtime", kerberos_time, False),
    (7, "nonce", nonce, True),
    (8, "etype", sequence_of(int32), True),
    (9, "addresses", _ADDRESSES, False),
    (10, "enc-authorization-data", _ENCRYPTED_DATA, False),
    (11, "additional-tickets", sequence_of(_TICKET), False),
    into=lambda v: KdcReqBody(kdc_options=v[0], cname=v[1], realm=v[2], sname=v[3], from_=v[4],
                              till=None if v[5] == _NO_END else v[5], rtime=v[6], nonce=v[7], etypes=v[8],
                              addresses=v[9] or (), additional_tickets=v[11] or ()),
)


@dataclass(frozen=True)
class KdcReq:
    """AS-REQ or TGS-REQ (RFC 4120 §5.4.1).

    ``raw_body`` is set by :meth:`from_der`: the req-body bytes exactly as received, for
    verifying the TGS-REQ authenticator checksum.
    """

    msg_type: int
    body: KdcReqBody
    padata: tuple[PaData, ...] = ()
    raw_body: bytes = field(default=b"", compare=False, repr=False)

    def padata_of(self, padata_type: int) -> PaData | None:
        """The first PA-DATA of ``padata_type``, if the request carries one."""
        return next((p for p in self.padata if p.padata_type == padata_type), None)

    def to_der(self) -> bytes:
        return tlv(0x60 | self.msg_type, encode_sequence((
            (1, _VNO),
            (2, encode_integer(self.msg_type)),
            (3, _encode_padata(self.padata) if self.padata else None),
            (4, self.body.to_der()),
        )))

    @classmethod
    def from_der(cls, data: bytes) -> KdcReq:
        """Read an AS-REQ or a TGS-REQ (told apart by the APPLICATION tag)."""
        reader, what = _one_of(_KDC_REQ, data, "AS-REQ or TGS-REQ")
        return _decode(data, reader, what)


def _kdc_req(kind: int) -> Reader:
    def build(v: list[Any]) -> KdcReq:
        body, raw_body = v[3]
        return KdcReq(kind, body, v[2] or (), raw_body)

    return application(kind, sequence((1, "pvno", _PVNO, True), (2, "msg-type", constant(kind), True),
                                      (3, "padata", _PADATA, False), (4, "req-body", raw(_REQ_BODY), True),
                                      into=build))


_KDC_REQ = {MessageType.AS_REQ: (_kdc_req(MessageType.AS_REQ), "AS-REQ"),
            MessageType.TGS_REQ: (_kdc_req(MessageType.TGS_REQ), "TGS-REQ")}


# -- KDC replies ------------------------------------------------------------------------------

@dataclass(frozen=True)
class KdcRep:
    """AS-REP or TGS-REP (RFC 4120 §5.4.2)."""

    msg_type: int
    crealm: str
    cname: PrincipalName
    ticket: Ticket
    enc_part: EncryptedData
    padata: tuple[PaData, ...] = ()

    def padata_of(self, padata_type: int) -> PaData | None:
        """The first PA-DATA of ``padata_type``, if the reply carries one."""
        return next((p for p in self.padata if p.padata_type == padata_type), None)

    def to_der(self) -> bytes:
        return tlv(0x60 | self.msg_type, encode_sequence((
            (0, _VNO),
            (1, encode_integer(self.msg_type)),
            (2, _encode_padata(self.padata) if self.padata else None),
            (3, encode_text(self.crealm)),
            (4, _encode_principal(self.cname)),
            (5, _encode_ticket(self.ticket)),
            (6, _encode_encrypted_data(self.enc_part)),
        )))

    @classmethod
    def from_der(cls, data: bytes) -> KdcRep:
        reader, what = _one_of(_KDC_REP, data, "AS-REP or TGS-REP")
        return _decode(data, reader, what)


def _kdc_rep(kind: int) -> Reader:
    return application(kind, sequence(
        (0, "pvno", _PVNO, True), (1, "msg-type", constant(kind), True), (2, "padata", _PADATA, False),
        (3, "crealm", text, True), (4, "cname", _PRINCIPAL, True), (5, "ticket", _TICKET, True),
        (6, "enc-part", _ENCRYPTED_DATA, True),
        into=lambda v: KdcRep(kind, v[3], v[4], v[5], v[6], v[2] or ())))


_KDC_REP = {MessageType.AS_REP: (_kdc_rep(MessageType.AS_REP), "AS-REP"),
            MessageType.TGS_REP: (_kdc_rep(MessageType.TGS_REP), "TGS-REP")}


@dataclass(frozen=True)
class EncKdcRepPart:
    """EncASRepPart / EncTGSRepPart (RFC 4120 §5.4.2): the session key and ticket facts.

    ``application_tag`` is 25 (EncASRepPart) or 26 (EncTGSRepPart); :meth:`from_der` keeps
    whichever the KDC used.
    """

    key: Key
    nonce: int
    flags: int
    authtime: datetime
    endtime: datetime
    srealm: str
    sname: PrincipalName
    starttime: datetime | None = None
    renew_till: datetime | None = None
    key_expiration: datetime | None = None
    last_req: tuple[tuple[int, datetime], ...] = ()
    caddr: tuple[tuple[int, bytes], ...] = ()
    encrypted_pa_data: tuple[PaData, ...] = ()
    application_tag: int = 25

    def to_der(self) -> bytes:
        # RFC 4120 §5.4.2: an empty last-req is written as one entry of type 0.
        last_req = _sequence_of([encode_sequence(((0, encode_integer(lr_type)), (1, encode_time(lr_value))))
                                 for lr_type, lr_value in self.last_req or ((0, self.authtime),)])
        return tlv(0x60 | (26 if self.application_tag == 26 else 25), encode_sequence((
            (0, _encode_key(self.key)),
            (1, last_req),
            (2, encode_integer(self.nonce)),
            (3, _optional(self.key_expiration, encode_time)),
            (4, encode_flags(self.flags)),
            (5, encode_time(self.authtime)),
            (6, _optional(self.starttime, encode_time)),
            (7, encode_time(self.endtime)),
            (8, _optional(self.renew_till, encode_time)),
            (9, encode_text(self.srealm)),
            (10, _encode_principal(self.sname)),
            (11, _encode_pairs(self.caddr) if self.caddr else None),
            (12, _encode_padata(self.encrypted_pa_data) if self.encrypted_pa_data else None),
        )))

    @classmethod
    def from_der(cls, data: bytes) -> EncKdcRepPart:
        reader, what = _one_of(_ENC_KDC_REP_PART, data, "EncASRepPart or EncTGSRepPart")
        return _decode(data, reader, what)


def _enc_kdc_rep_part(tag: int) -> Reader:
    return application(tag, sequence(
        (0, "key", _KEY, True),
        (1, "last-req", sequence_of(sequence((0, "lr-type", int32, True), (1, "lr-value", kerberos_time, True),
                                             into=tuple)), True),
        (2, "nonce", nonce, True),
        (3, "key-expiration", kerberos_time, False),
        (4, "flags", flags, True),
        (5, "authtime", kerberos_time, True),
        (6, "starttime", kerberos_time, False),
        (7, "endtime", kerberos_time, True),
        (8, "renew-till", kerberos_time, False),
        (9, "srealm", text, True),
        (10, "sname", _PRINCIPAL, True),
        (11, "caddr", _ADDRESSES, False),
        (12, "encrypted-pa-data", _PADATA, False),
        into=lambda v: EncKdcRepPart(key=v[0], last_req=v[1], nonce=v[2], key_expiration=v[3], flags=v[4],
                                     authtime=v[5], starttime=v[6], endtime=v[7], renew_till=v[8], srealm=v[9],
                                     sname=v[10], caddr=v[11] or (), encrypted_pa_data=v[12] or (),
                                     application_tag=tag),
    ))


_ENC_KDC_REP_PART = {25: (_enc_kdc_rep_part(25), "EncASRepPart"), 26: (_enc_kdc_rep_part(26), "EncTGSRepPart")}


# -- AP exchange ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ApReq:
    """AP-REQ (RFC 4120 §5.5.1): a ticket and an authenticator encrypted in its session key."""

    ticket: Ticket
    authenticator: EncryptedData
    ap_options: int = 0

    def to_der(self) -> bytes:
        return tlv(0x6E, encode_sequence((
            (0, _VNO),
            (1, encode_integer(MessageType.AP_REQ)),
            (2, encode_flags(self.ap_options)),
            (3, _encode_ticket(self.ticket)),
            (4, _encode_encrypted_data(self.authenticator)),
        )))

    @classmethod
    def from_der(cls, data: bytes) -> ApReq:
        return _decode(data, _AP_REQ, "AP-REQ")


_AP_REQ = application(MessageType.AP_REQ, sequence(
    (0, "pvno", _PVNO, True), (1, "msg-type", constant(MessageType.AP_REQ), True), (2, "ap-options", flags, True),
    (3, "ticket", _TICKET, True), (4, "authenticator", _ENCRYPTED_DATA, True),
    into=lambda v: ApReq(v[3], v[4], v[2])))


@dataclass(frozen=True)
class Authenticator:
    """Authenticator (RFC 4120 §5.5.1); ``ctime`` carries the microseconds (``cusec``)."""

    crealm: str
    cname: PrincipalName
    ctime: datetime
    cksum: Checksum | None = None
    subkey: Key | None = None
    seq_number: int | None = None
    authorization_data: tuple[tuple[int, bytes], ...] = ()

    def to_der(self) -> bytes:
        return tlv(0x62, encode_sequence((
            (0, _VNO),
            (1, encode_text(self.crealm)),
            (2, _encode_principal(self.cname)),
            (3, _optional(self.cksum, _encode_checksum)),
            (4, encode_integer(self.ctime.microsecond)),
            (5, encode_time(self.ctime)),
            (6, _optional(self.subkey, _encode_key)),
            (7, _optional(self.seq_number, encode_integer)),
            (8, _encode_pairs(self.authorization_data) if self.authorization_data else None),
        )))

    @classmethod
    def from_der(cls, data: bytes) -> Authenticator:
        return _decode(data, _AUTHENTICATOR, "Authenticator")


_AUTHENTICATOR = application(2, sequence(
    (0, "authenticator-vno", _PVNO, True),
    (1, "crealm", text, True),
    (2, "cname", _PRINCIPAL, True),
    (3, "cksum", _CHECKSUM, False),
    (4, "cusec", microseconds, True),
    (5, "ctime", kerberos_time, True),
    (6, "subkey", _KEY, False),
    (7, "seq-number", uint32, False),
    (8, "authorization-data", _AUTHORIZATION_DATA, False),
    into=lambda v: Authenticator(crealm=v[1], cname=v[2], cksum=v[3], ctime=v[5].replace(microsecond=v[4]),
                                 subkey=v[6], seq_number=v[7], authorization_data=v[8] or ()),
))


@dataclass(frozen=True)
class EncApRepPart:
    """EncAPRepPart (RFC 4120 §5.5.2): the acceptor's proof, echoing the authenticator's time."""

    ctime: datetime
    subkey: Key | None = None
    seq_number: int | None = None

    def to_der(self) -> bytes:
        return tlv(0x7B, encode_sequence((
            (0, encode_time(self.ctime)),
            (1, encode_integer(self.ctime.microsecond)),
            (2, _optional(self.subkey, _encode_key)),
            (3, _optional(self.seq_number, encode_integer)),
        )))

    @classmethod
    def from_der(cls, data: bytes) -> EncApRepPart:
        return _decode(data, _ENC_AP_REP_PART, "EncAPRepPart")


_ENC_AP_REP_PART = application(27, sequence(
    (0, "ctime", kerberos_time, True), (1, "cusec", microseconds, True), (2, "subkey", _KEY, False),
    (3, "seq-number", uint32, False),
    into=lambda v: EncApRepPart(v[0].replace(microsecond=v[1]), v[2], v[3])))


@dataclass(frozen=True)
class ApRep:
    """AP-REP (RFC 4120 §5.5.2)."""

    enc_part: EncryptedData

    def to_der(self) -> bytes:
        return tlv(0x6F, encode_sequence(((0, _VNO), (1, encode_integer(MessageType.AP_REP)),
                                          (2, _encode_encrypted_data(self.enc_part)))))

    @classmethod
    def from_der(cls, data: bytes) -> ApRep:
        return _decode(data, _AP_REP, "AP-REP")


_AP_REP = application(MessageType.AP_REP, sequence(
    (0, "pvno", _PVNO, True), (1, "msg-type", constant(MessageType.AP_REP), True),
    (2, "enc-part", _ENCRYPTED_DATA, True), into=lambda v: ApRep(v[2])))


# -- errors -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class KrbError:
    """KRB-ERROR (RFC 4120 §5.9.1); ``stime`` and ``ctime`` carry their microseconds."""

    error_code: int
    realm: str
    sname: PrincipalName
    stime: datetime
    crealm: str | None = None
    cname: PrincipalName | None = None
    ctime: datetime | None = None
    e_text: str | None = None
    e_data: bytes | None = None

    def to_der(self) -> bytes:
        return tlv(0x7E, encode_sequence((
            (0, _VNO),
            (1, encode_integer(MessageType.KRB_ERROR)),
            (2, _optional(self.ctime, encode_time)),
            (3, None if self.ctime is None else encode_integer(self.ctime.microsecond)),
            (4, encode_time(self.stime)),
            (5, encode_integer(self.stime.microsecond)),
            (6, encode_integer(self.error_code)),
            (7, _optional(self.crealm, encode_text)),
            (8, _optional(self.cname, _encode_principal)),
            (9, encode_text(self.realm)),
            (10, _encode_principal(self.sname)),
            (11, _optional(self.e_text, encode_text)),
            (12, _optional(self.e_data, encode_octets)),
        )))

    @classmethod
    def from_der(cls, data: bytes) -> KrbError:
        return _decode(data, _KRB_ERROR, "KRB-ERROR")


_KRB_ERROR = application(MessageType.KRB_ERROR, sequence(
    (0, "pvno", _PVNO, True),
    (1, "msg-type", constant(MessageType.KRB_ERROR), True),
    (2, "ctime", kerberos_time, False),
    (3, "cusec", microseconds, False),
    (4, "stime", kerberos_time, True),
    (5, "susec", microseconds, True),
    (6, "error-code", int32, True),
    (7, "crealm", text, False),
    (8, "cname", _PRINCIPAL, False),
    (9, "realm", text, True),
    (10, "sname", _PRINCIPAL, True),
    (11, "e-text", text, False),
    (12, "e-data", octets, False),
    into=lambda v: KrbError(error_code=v[6], realm=v[9], sname=v[10], stime=v[4].replace(microsecond=v[5]),
                            crealm=v[7], cname=v[8],
                            ctime=None if v[2] is None else v[2].replace(microsecond=v[3] or 0),
                            e_text=v[11], e_data=v[12]),
))


def message_type(data: bytes) -> int | None:
    """The APPLICATION tag number of a DER message (10 for AS-REQ, 30 for KRB-ERROR...).

    None when the first byte is not a constructed APPLICATION tag: not a Kerberos message.
    """
    if not data or data[0] & 0xE0 != 0x60 or data[0] & 0x1F == 0x1F:
        return None
    return data[0] & 0x1F


# -- pre-authentication data ------------------------------------------------------------------

def encode_etype_info2(entries: Sequence[EtypeInfo2Entry]) -> bytes:
    """ETYPE-INFO2 (RFC 4120 §5.2.7.5), the value of a PA-ETYPE-INFO2."""
    return _sequence_of([encode_sequence(((0, encode_integer(e.etype)), (1, _optional(e.salt, encode_text)),
                                          (2, _optional(e.s2kparams, encode_octets)))) for e in entries])


_ETYPE_INFO2 = sequence_of(sequence((0, "etype", int32, True), (1, "salt", text, False),
                                    (2, "s2kparams", octets, False), into=lambda v: EtypeInfo2Entry(*v)))


def decode_etype_info2(data: bytes) -> tuple[EtypeInfo2Entry, ...]:
    """Read an ETYPE-INFO2."""
    return _decode(data, _ETYPE_INFO2, "ETYPE-INFO2")


def encode_method_data(padata: Sequence[PaData]) -> bytes:
    """METHOD-DATA (RFC 4120 §5.9.1): the e-data of KDC_ERR_PREAUTH_REQUIRED."""
    return _encode_padata(padata)


def decode_method_data(data: bytes) -> tuple[PaData, ...]:
    """Read a METHOD-DATA."""
    return _decode(data, _PADATA, "METHOD-DATA")


def encode_pa_enc_ts_enc(when: datetime) -> bytes:
    """PA-ENC-TS-ENC (RFC 4120 §5.2.7.2): the client's time, encrypted into PA-ENC-TIMESTAMP."""
    return encode_sequence(((0, encode_time(when)), (1, encode_integer(when.microsecond))))


_PA_ENC_TS_ENC = sequence((0, "patimestamp", kerberos_time, True), (1, "pausec", microseconds, False),
                          into=lambda v: _with_usec(v[0], v[1]))


def decode_pa_enc_ts_enc(data: bytes) -> datetime:
    """Read a PA-ENC-TS-ENC: the client's time with its microseconds."""
    return _decode(data, _PA_ENC_TS_ENC, "PA-ENC-TS-ENC")
