"""Kerberos messages (RFC 4120 §5) as frozen dataclasses, encoded with impacket's ASN.1.

impacket describes the messages with pyasn1, whose components cannot be moved from one
structure into another (a ticket decoded from an AS-REP cannot be put into a TGS-REQ) and
whose values are awkward to compare or log. Here every message is a plain frozen
dataclass of Python values: ``from_der(bytes)`` reads one, ``to_der()`` writes one, and
nested values are written in place, field by field, into the enclosing pyasn1 structure.

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

from impacket.krb5 import asn1
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error

from ._crypto import Key
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
        value = asn1.EncryptedData()
        _fill_encrypted_data(value, self)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> EncryptedData:
        return _parse(data, asn1.EncryptedData(), _read_encrypted_data, "EncryptedData")


@dataclass(frozen=True)
class Checksum:
    """Checksum (RFC 4120 §5.2.9); alone, it is the value of a PA-REQ-ENC-PA-REP."""

    cksumtype: int
    checksum: bytes

    def to_der(self) -> bytes:
        value = asn1.Checksum()
        _fill_checksum(value, self)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> Checksum:
        return _parse(data, asn1.Checksum(), _read_checksum, "Checksum")


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


# -- pyasn1 plumbing --------------------------------------------------------------------------

_T = TypeVar("_T")

# What pyasn1 and impacket's schema raise on input that is not the expected structure.
_DECODE_FAILURES = (PyAsn1Error, ValueError, TypeError, IndexError, OverflowError, KeyError)


def _parse(data: bytes, spec: Any, reader: Callable[[Any], _T], what: str) -> _T:
    """Decode ``data`` as ``spec`` and read it into plain values; any failure is a DecodeError."""
    try:
        decoded, rest = decoder.decode(bytes(data), asn1Spec=spec)
        if rest and not _is_block_padding(rest):
            raise DecodeError(f"{len(rest)} unexpected bytes after the {what}")
        return reader(decoded)
    except _DECODE_FAILURES as exc:
        raise DecodeError(f"not a valid {what}: {_first_line(exc)}") from exc


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


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _encode(value: Any) -> bytes:
    return bytes(encoder.encode(value))


def _child(seq: Any, name: str) -> Any:
    """The component ``name`` of ``seq``, created in place so it can be filled field by field."""
    return seq.setComponentByName(name).getComponentByName(name)


def _opt(seq: Any, name: str) -> Any | None:
    """An OPTIONAL component, or None when absent."""
    value = seq.getComponentByName(name, default=None, instantiate=False)
    if value is None or not value.isValue:
        return None
    return value


def _flags_to_bits(value: int) -> tuple[int, ...]:
    return tuple((int(value) >> (31 - n)) & 1 for n in range(32))


def _bits_to_flags(bits: Any) -> int:
    # Peers may send fewer or more than 32 bits: pad, then keep the first 32.
    text = bits.asBinary().ljust(32, "0")[:32]
    return int(text, 2)


def _time_text(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("Kerberos times must be timezone-aware (UTC)")
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def _read_time(value: Any) -> datetime:
    moment = value.asDateTime
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _fill_principal(target: Any, name: PrincipalName) -> None:
    target["name-type"] = int(name.name_type)
    strings = _child(target, "name-string")
    for position, component in enumerate(name.components):
        strings.setComponentByPosition(position, component)


def _read_principal(value: Any) -> PrincipalName:
    return PrincipalName(int(value["name-type"]), tuple(str(c) for c in value["name-string"]))


def _fill_encrypted_data(target: Any, data: EncryptedData) -> None:
    target["etype"] = int(data.etype)
    if data.kvno is not None:
        target["kvno"] = int(data.kvno)
    target["cipher"] = bytes(data.cipher)


def _read_encrypted_data(value: Any) -> EncryptedData:
    kvno = _opt(value, "kvno")
    return EncryptedData(int(value["etype"]), bytes(value["cipher"]), None if kvno is None else int(kvno))


def _fill_key(target: Any, key: Key) -> None:
    target["keytype"] = int(key.enctype)
    target["keyvalue"] = key.contents


def _read_key(value: Any) -> Key:
    return Key(int(value["keytype"]), bytes(value["keyvalue"]))


def _fill_checksum(target: Any, checksum: Checksum) -> None:
    target["cksumtype"] = int(checksum.cksumtype)
    target["checksum"] = bytes(checksum.checksum)


def _read_checksum(value: Any) -> Checksum:
    return Checksum(int(value["cksumtype"]), bytes(value["checksum"]))


def _fill_padata(target: Any, padata: Sequence[PaData]) -> None:
    for position, item in enumerate(padata):
        entry = target.setComponentByPosition(position).getComponentByPosition(position)
        entry["padata-type"] = int(item.padata_type)
        entry["padata-value"] = bytes(item.value)


def _read_padata(value: Any | None) -> tuple[PaData, ...]:
    if value is None:
        return ()
    return tuple(PaData(int(p["padata-type"]), bytes(p["padata-value"])) for p in value)


def _fill_addresses(target: Any, addresses: Sequence[tuple[int, bytes]]) -> None:
    for position, (addr_type, address) in enumerate(addresses):
        entry = target.setComponentByPosition(position).getComponentByPosition(position)
        entry["addr-type"] = int(addr_type)
        entry["address"] = bytes(address)


def _read_addresses(value: Any | None) -> tuple[tuple[int, bytes], ...]:
    if value is None:
        return ()
    return tuple((int(a["addr-type"]), bytes(a["address"])) for a in value)


def _fill_authorization_data(target: Any, entries: Sequence[tuple[int, bytes]]) -> None:
    for position, (ad_type, ad_data) in enumerate(entries):
        entry = target.setComponentByPosition(position).getComponentByPosition(position)
        entry["ad-type"] = int(ad_type)
        entry["ad-data"] = bytes(ad_data)


def _read_authorization_data(value: Any | None) -> tuple[tuple[int, bytes], ...]:
    if value is None:
        return ()
    return tuple((int(a["ad-type"]), bytes(a["ad-data"])) for a in value)


# -- tickets ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ticket:
    """Ticket (RFC 4120 §5.3): the service's realm and name, and the encrypted EncTicketPart."""

    realm: str
    sname: PrincipalName
    enc_part: EncryptedData

    def to_der(self) -> bytes:
        value = asn1.Ticket()
        _fill_ticket(value, self)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> Ticket:
        return _parse(data, asn1.Ticket(), _read_ticket, "Ticket")


def _fill_ticket(target: Any, ticket: Ticket) -> None:
    target["tkt-vno"] = 5
    target["realm"] = ticket.realm
    _fill_principal(_child(target, "sname"), ticket.sname)
    _fill_encrypted_data(_child(target, "enc-part"), ticket.enc_part)


def _read_ticket(value: Any) -> Ticket:
    return Ticket(str(value["realm"]), _read_principal(value["sname"]),
                  _read_encrypted_data(value["enc-part"]))


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
        value = asn1.EncTicketPart()
        value["flags"] = _flags_to_bits(self.flags)
        _fill_key(_child(value, "key"), self.key)
        value["crealm"] = self.crealm
        _fill_principal(_child(value, "cname"), self.cname)
        transited = _child(value, "transited")
        transited["tr-type"] = self.transited[0]
        transited["contents"] = self.transited[1]
        value["authtime"] = _time_text(self.authtime)
        if self.starttime is not None:
            value["starttime"] = _time_text(self.starttime)
        value["endtime"] = _time_text(self.endtime)
        if self.renew_till is not None:
            value["renew-till"] = _time_text(self.renew_till)
        if self.caddr:
            _fill_addresses(_child(value, "caddr"), self.caddr)
        if self.authorization_data:
            _fill_authorization_data(_child(value, "authorization-data"), self.authorization_data)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> EncTicketPart:
        return _parse(data, asn1.EncTicketPart(), _read_enc_ticket_part, "EncTicketPart")


def _read_enc_ticket_part(value: Any) -> EncTicketPart:
    starttime, renew_till = _opt(value, "starttime"), _opt(value, "renew-till")
    return EncTicketPart(
        flags=_bits_to_flags(value["flags"]),
        key=_read_key(value["key"]),
        crealm=str(value["crealm"]),
        cname=_read_principal(value["cname"]),
        authtime=_read_time(value["authtime"]),
        endtime=_read_time(value["endtime"]),
        starttime=None if starttime is None else _read_time(starttime),
        renew_till=None if renew_till is None else _read_time(renew_till),
        transited=(int(value["transited"]["tr-type"]), bytes(value["transited"]["contents"])),
        caddr=_read_addresses(_opt(value, "caddr")),
        authorization_data=_read_authorization_data(_opt(value, "authorization-data")),
    )


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
        value = asn1.KDC_REQ_BODY()
        _fill_req_body(value, self)
        return _encode(value)


# RFC 4120 §5.4.1: "till" is mandatory; 19700101000000Z stands for "as long as allowed".
_NO_END = datetime(1970, 1, 1, tzinfo=UTC)


def _fill_req_body(target: Any, body: KdcReqBody) -> None:
    target["kdc-options"] = _flags_to_bits(body.kdc_options)
    if body.cname is not None:
        _fill_principal(_child(target, "cname"), body.cname)
    target["realm"] = body.realm
    if body.sname is not None:
        _fill_principal(_child(target, "sname"), body.sname)
    if body.from_ is not None:
        target["from"] = _time_text(body.from_)
    target["till"] = _time_text(body.till or _NO_END)
    if body.rtime is not None:
        target["rtime"] = _time_text(body.rtime)
    target["nonce"] = int(body.nonce)
    etypes = _child(target, "etype")
    for position, etype in enumerate(body.etypes):
        etypes.setComponentByPosition(position, int(etype))
    if body.addresses:
        _fill_addresses(_child(target, "addresses"), body.addresses)
    if body.additional_tickets:
        tickets = _child(target, "additional-tickets")
        for position, ticket in enumerate(body.additional_tickets):
            _fill_ticket(tickets.setComponentByPosition(position).getComponentByPosition(position), ticket)


def _read_req_body(value: Any) -> KdcReqBody:
    cname, sname = _opt(value, "cname"), _opt(value, "sname")
    from_, rtime = _opt(value, "from"), _opt(value, "rtime")
    till = _read_time(value["till"])
    tickets = _opt(value, "additional-tickets")
    return KdcReqBody(
        kdc_options=_bits_to_flags(value["kdc-options"]),
        realm=str(value["realm"]),
        till=None if till == _NO_END else till,
        nonce=int(value["nonce"]),
        etypes=tuple(int(e) for e in value["etype"]),
        cname=None if cname is None else _read_principal(cname),
        sname=None if sname is None else _read_principal(sname),
        from_=None if from_ is None else _read_time(from_),
        rtime=None if rtime is None else _read_time(rtime),
        addresses=_read_addresses(_opt(value, "addresses")),
        additional_tickets=() if tickets is None else tuple(_read_ticket(t) for t in tickets),
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
        value = asn1.AS_REQ() if self.msg_type == MessageType.AS_REQ else asn1.TGS_REQ()
        value["pvno"] = 5
        value["msg-type"] = int(self.msg_type)
        if self.padata:
            _fill_padata(_child(value, "padata"), self.padata)
        _fill_req_body(_child(value, "req-body"), self.body)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> KdcReq:
        """Read an AS-REQ or a TGS-REQ (told apart by the APPLICATION tag)."""
        kind = message_type(data)
        if kind == MessageType.AS_REQ:
            spec: Any = asn1.AS_REQ()
        elif kind == MessageType.TGS_REQ:
            spec = asn1.TGS_REQ()
        else:
            raise DecodeError(f"not an AS-REQ or TGS-REQ (APPLICATION tag {kind})")
        raw_body = _req_body_bytes(bytes(data))

        def read(value: Any) -> KdcReq:
            if int(value["msg-type"]) != kind:
                raise DecodeError(f"msg-type {int(value['msg-type'])} inside an APPLICATION {kind} message")
            return cls(kind, _read_req_body(value["req-body"]), _read_padata(_opt(value, "padata")), raw_body)

        return _parse(data, spec, read, MessageType(kind).name.replace("_", "-"))


def _der_header(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag byte, offset of the contents, length of the contents) of the TLV at ``offset``."""
    if offset + 2 > len(data):
        raise DecodeError("truncated DER header")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DecodeError("multi-byte DER tags do not occur in Kerberos messages")
    first = data[offset + 1]
    position = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or position + count > len(data):
            raise DecodeError("bad DER length")
        length = int.from_bytes(data[position:position + count], "big")
        position += count
    if position + length > len(data):
        raise DecodeError("truncated DER value")
    return tag, position, length


def _req_body_bytes(data: bytes) -> bytes:
    """The KDC-REQ-BODY TLV inside ``[APPLICATION n] SEQUENCE { ... [4] req-body }``."""
    _, content, _ = _der_header(data, 0)  # APPLICATION 10/12
    tag, position, length = _der_header(data, content)  # SEQUENCE
    if tag != 0x30:
        raise DecodeError("KDC-REQ is not a SEQUENCE")
    end = position + length
    while position < end:
        tag, inner, inner_length = _der_header(data, position)
        if tag == 0xA4:  # [4] req-body, EXPLICIT: its contents are the body's own TLV
            return data[inner:inner + inner_length]
        position = inner + inner_length
    raise DecodeError("KDC-REQ has no req-body")


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
        value = asn1.AS_REP() if self.msg_type == MessageType.AS_REP else asn1.TGS_REP()
        value["pvno"] = 5
        value["msg-type"] = int(self.msg_type)
        if self.padata:
            _fill_padata(_child(value, "padata"), self.padata)
        value["crealm"] = self.crealm
        _fill_principal(_child(value, "cname"), self.cname)
        _fill_ticket(_child(value, "ticket"), self.ticket)
        _fill_encrypted_data(_child(value, "enc-part"), self.enc_part)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> KdcRep:
        kind = message_type(data)
        if kind == MessageType.AS_REP:
            spec: Any = asn1.AS_REP()
        elif kind == MessageType.TGS_REP:
            spec = asn1.TGS_REP()
        else:
            raise DecodeError(f"not an AS-REP or TGS-REP (APPLICATION tag {kind})")

        def read(value: Any) -> KdcRep:
            return cls(kind, str(value["crealm"]), _read_principal(value["cname"]),
                       _read_ticket(value["ticket"]), _read_encrypted_data(value["enc-part"]),
                       _read_padata(_opt(value, "padata")))

        return _parse(data, spec, read, MessageType(kind).name.replace("_", "-"))


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
        value = asn1.EncASRepPart() if self.application_tag == 25 else asn1.EncTGSRepPart()
        _fill_key(_child(value, "key"), self.key)
        last_req = _child(value, "last-req")
        # RFC 4120 §5.4.2: an empty last-req is written as one entry of type 0.
        for position, (lr_type, lr_value) in enumerate(self.last_req or ((0, self.authtime),)):
            entry = last_req.setComponentByPosition(position).getComponentByPosition(position)
            entry["lr-type"] = int(lr_type)
            entry["lr-value"] = _time_text(lr_value)
        value["nonce"] = int(self.nonce)
        if self.key_expiration is not None:
            value["key-expiration"] = _time_text(self.key_expiration)
        value["flags"] = _flags_to_bits(self.flags)
        value["authtime"] = _time_text(self.authtime)
        if self.starttime is not None:
            value["starttime"] = _time_text(self.starttime)
        value["endtime"] = _time_text(self.endtime)
        if self.renew_till is not None:
            value["renew-till"] = _time_text(self.renew_till)
        value["srealm"] = self.srealm
        _fill_principal(_child(value, "sname"), self.sname)
        if self.caddr:
            _fill_addresses(_child(value, "caddr"), self.caddr)
        if self.encrypted_pa_data:
            _fill_padata(_child(value, "encrypted_pa_data"), self.encrypted_pa_data)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> EncKdcRepPart:
        tag = message_type(data)
        if tag not in (25, 26):
            raise DecodeError(f"not an EncASRepPart or EncTGSRepPart (APPLICATION tag {tag})")
        spec = asn1.EncASRepPart() if tag == 25 else asn1.EncTGSRepPart()

        def read(value: Any) -> EncKdcRepPart:
            starttime, renew_till = _opt(value, "starttime"), _opt(value, "renew-till")
            expiration = _opt(value, "key-expiration")
            return cls(
                key=_read_key(value["key"]),
                nonce=int(value["nonce"]),
                flags=_bits_to_flags(value["flags"]),
                authtime=_read_time(value["authtime"]),
                endtime=_read_time(value["endtime"]),
                srealm=str(value["srealm"]),
                sname=_read_principal(value["sname"]),
                starttime=None if starttime is None else _read_time(starttime),
                renew_till=None if renew_till is None else _read_time(renew_till),
                key_expiration=None if expiration is None else _read_time(expiration),
                last_req=tuple((int(e["lr-type"]), _read_time(e["lr-value"])) for e in value["last-req"]),
                caddr=_read_addresses(_opt(value, "caddr")),
                encrypted_pa_data=_read_padata(_opt(value, "encrypted_pa_data")),
                application_tag=tag,
            )

        return _parse(data, spec, read, "EncKDCRepPart")


# -- AP exchange ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ApReq:
    """AP-REQ (RFC 4120 §5.5.1): a ticket and an authenticator encrypted in its session key."""

    ticket: Ticket
    authenticator: EncryptedData
    ap_options: int = 0

    def to_der(self) -> bytes:
        value = asn1.AP_REQ()
        value["pvno"] = 5
        value["msg-type"] = int(MessageType.AP_REQ)
        value["ap-options"] = _flags_to_bits(self.ap_options)
        _fill_ticket(_child(value, "ticket"), self.ticket)
        _fill_encrypted_data(_child(value, "authenticator"), self.authenticator)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> ApReq:
        if message_type(data) != MessageType.AP_REQ:
            raise DecodeError(f"not an AP-REQ (APPLICATION tag {message_type(data)})")

        def read(value: Any) -> ApReq:
            return cls(_read_ticket(value["ticket"]), _read_encrypted_data(value["authenticator"]),
                       _bits_to_flags(value["ap-options"]))

        return _parse(data, asn1.AP_REQ(), read, "AP-REQ")


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
        value = asn1.Authenticator()
        value["authenticator-vno"] = 5
        value["crealm"] = self.crealm
        _fill_principal(_child(value, "cname"), self.cname)
        if self.cksum is not None:
            _fill_checksum(_child(value, "cksum"), self.cksum)
        value["cusec"] = self.ctime.microsecond
        value["ctime"] = _time_text(self.ctime)
        if self.subkey is not None:
            _fill_key(_child(value, "subkey"), self.subkey)
        if self.seq_number is not None:
            value["seq-number"] = int(self.seq_number)
        if self.authorization_data:
            _fill_authorization_data(_child(value, "authorization-data"), self.authorization_data)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> Authenticator:
        def read(value: Any) -> Authenticator:
            cksum, subkey, seq = _opt(value, "cksum"), _opt(value, "subkey"), _opt(value, "seq-number")
            return cls(
                crealm=str(value["crealm"]),
                cname=_read_principal(value["cname"]),
                ctime=_read_time(value["ctime"]).replace(microsecond=int(value["cusec"])),
                cksum=None if cksum is None else _read_checksum(cksum),
                subkey=None if subkey is None else _read_key(subkey),
                seq_number=None if seq is None else int(seq),
                authorization_data=_read_authorization_data(_opt(value, "authorization-data")),
            )

        return _parse(data, asn1.Authenticator(), read, "Authenticator")


@dataclass(frozen=True)
class EncApRepPart:
    """EncAPRepPart (RFC 4120 §5.5.2): the acceptor's proof, echoing the authenticator's time."""

    ctime: datetime
    subkey: Key | None = None
    seq_number: int | None = None

    def to_der(self) -> bytes:
        value = asn1.EncAPRepPart()
        value["ctime"] = _time_text(self.ctime)
        value["cusec"] = self.ctime.microsecond
        if self.subkey is not None:
            _fill_key(_child(value, "subkey"), self.subkey)
        if self.seq_number is not None:
            value["seq-number"] = int(self.seq_number)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> EncApRepPart:
        def read(value: Any) -> EncApRepPart:
            subkey, seq = _opt(value, "subkey"), _opt(value, "seq-number")
            return cls(_read_time(value["ctime"]).replace(microsecond=int(value["cusec"])),
                       None if subkey is None else _read_key(subkey),
                       None if seq is None else int(seq))

        return _parse(data, asn1.EncAPRepPart(), read, "EncAPRepPart")


@dataclass(frozen=True)
class ApRep:
    """AP-REP (RFC 4120 §5.5.2)."""

    enc_part: EncryptedData

    def to_der(self) -> bytes:
        value = asn1.AP_REP()
        value["pvno"] = 5
        value["msg-type"] = int(MessageType.AP_REP)
        _fill_encrypted_data(_child(value, "enc-part"), self.enc_part)
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> ApRep:
        if message_type(data) != MessageType.AP_REP:
            raise DecodeError(f"not an AP-REP (APPLICATION tag {message_type(data)})")
        return _parse(data, asn1.AP_REP(), lambda v: cls(_read_encrypted_data(v["enc-part"])), "AP-REP")


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
        value = asn1.KRB_ERROR()
        value["pvno"] = 5
        value["msg-type"] = int(MessageType.KRB_ERROR)
        if self.ctime is not None:
            value["ctime"] = _time_text(self.ctime)
            value["cusec"] = self.ctime.microsecond
        value["stime"] = _time_text(self.stime)
        value["susec"] = self.stime.microsecond
        value["error-code"] = int(self.error_code)
        if self.crealm is not None:
            value["crealm"] = self.crealm
        if self.cname is not None:
            _fill_principal(_child(value, "cname"), self.cname)
        value["realm"] = self.realm
        _fill_principal(_child(value, "sname"), self.sname)
        if self.e_text is not None:
            value["e-text"] = self.e_text
        if self.e_data is not None:
            value["e-data"] = self.e_data
        return _encode(value)

    @classmethod
    def from_der(cls, data: bytes) -> KrbError:
        if message_type(data) != MessageType.KRB_ERROR:
            raise DecodeError(f"not a KRB-ERROR (APPLICATION tag {message_type(data)})")

        def read(value: Any) -> KrbError:
            ctime, cusec = _opt(value, "ctime"), _opt(value, "cusec")
            crealm, cname = _opt(value, "crealm"), _opt(value, "cname")
            e_text, e_data = _opt(value, "e-text"), _opt(value, "e-data")
            return cls(
                error_code=int(value["error-code"]),
                realm=str(value["realm"]),
                sname=_read_principal(value["sname"]),
                stime=_read_time(value["stime"]).replace(microsecond=int(value["susec"])),
                crealm=None if crealm is None else str(crealm),
                cname=None if cname is None else _read_principal(cname),
                ctime=None if ctime is None else _read_time(ctime).replace(
                    microsecond=0 if cusec is None else int(cusec)),
                e_text=None if e_text is None else str(e_text),
                e_data=None if e_data is None else bytes(e_data),
            )

        return _parse(data, asn1.KRB_ERROR(), read, "KRB-ERROR")


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
    value = asn1.ETYPE_INFO2()
    for position, entry in enumerate(entries):
        item = value.setComponentByPosition(position).getComponentByPosition(position)
        item["etype"] = int(entry.etype)
        if entry.salt is not None:
            item["salt"] = entry.salt
        if entry.s2kparams is not None:
            item["s2kparams"] = entry.s2kparams
    return _encode(value)


def decode_etype_info2(data: bytes) -> tuple[EtypeInfo2Entry, ...]:
    def read(value: Any) -> tuple[EtypeInfo2Entry, ...]:
        entries = []
        for item in value:
            salt, params = _opt(item, "salt"), _opt(item, "s2kparams")
            entries.append(EtypeInfo2Entry(int(item["etype"]), None if salt is None else str(salt),
                                           None if params is None else bytes(params)))
        return tuple(entries)

    return _parse(data, asn1.ETYPE_INFO2(), read, "ETYPE-INFO2")


def encode_method_data(padata: Sequence[PaData]) -> bytes:
    """METHOD-DATA (RFC 4120 §5.9.1): the e-data of KDC_ERR_PREAUTH_REQUIRED."""
    value = asn1.METHOD_DATA()
    _fill_padata(value, padata)
    return _encode(value)


def decode_method_data(data: bytes) -> tuple[PaData, ...]:
    return _parse(data, asn1.METHOD_DATA(), _read_padata, "METHOD-DATA")


def encode_pa_enc_ts_enc(when: datetime) -> bytes:
    """PA-ENC-TS-ENC (RFC 4120 §5.2.7.2): the client's time, encrypted into PA-ENC-TIMESTAMP."""
    value = asn1.PA_ENC_TS_ENC()
    value["patimestamp"] = _time_text(when)
    value["pausec"] = when.microsecond
    return _encode(value)


def decode_pa_enc_ts_enc(data: bytes) -> datetime:
    def read(value: Any) -> datetime:
        usec = _opt(value, "pausec")
        return _read_time(value["patimestamp"]).replace(microsecond=0 if usec is None else int(usec))

    return _parse(data, asn1.PA_ENC_TS_ENC(), read, "PA-ENC-TS-ENC")
