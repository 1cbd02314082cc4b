"""A small DER reader: just enough ASN.1 to look inside PKCS#12 files and certificates.

``cryptography`` parses certificates and keys, but it does not show a PKCS#12 file's bags,
their attributes (the friendly name, Oracle's trusted-key-usage) or how each part is
encrypted — and those decide what Java and Windows make of a PFX. This reader walks the
structure; it never needs to encode.

Only definite lengths and single-byte tags are supported: DER as OpenSSL, Java, Windows
and ``cryptography`` write it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DerError",
    "Tlv",
    "read_header",
    "read_tlv",
    "read_single",
    "SEQUENCE",
    "SET",
    "INTEGER",
    "BIT_STRING",
    "OCTET_STRING",
    "OID",
    "BMP_STRING",
    "CONTEXT_0",
    "CONTEXT_0_PRIMITIVE",
]

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OID = 0x06
BMP_STRING = 0x1E
SEQUENCE = 0x30
SET = 0x31
CONTEXT_0 = 0xA0
CONTEXT_0_PRIMITIVE = 0x80


class DerError(ValueError):
    """The bytes are not the DER structure expected; ``offset`` is where it went wrong."""

    def __init__(self, message: str, offset: int) -> None:
        self.offset = offset
        super().__init__(f"{message} (at byte {offset})")


@dataclass(frozen=True)
class Tlv:
    """One DER element: its tag byte and where its content lies in ``data``."""

    data: bytes
    tag: int
    start: int
    content_start: int
    end: int

    @property
    def content(self) -> bytes:
        return self.data[self.content_start : self.end]

    @property
    def encoded(self) -> bytes:
        """The whole element, tag and length included."""
        return self.data[self.start : self.end]

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def children(self) -> list[Tlv]:
        """The elements inside a constructed element, in order."""
        if not self.constructed:
            raise DerError(f"tag 0x{self.tag:02x} is not constructed", self.start)
        items = []
        offset = self.content_start
        while offset < self.end:
            item = read_tlv(self.data, offset, limit=self.end)
            items.append(item)
            offset = item.end
        return items

    def expect(self, tag: int, what: str) -> Tlv:
        """Return ``self`` if its tag is ``tag``; otherwise a :class:`DerError` naming ``what``."""
        if self.tag != tag:
            raise DerError(f"{what}: expected tag 0x{tag:02x}, found 0x{self.tag:02x}", self.start)
        return self

    def as_int(self) -> int:
        self.expect(INTEGER, "INTEGER")
        return int.from_bytes(self.content, "big", signed=True)

    def as_oid(self) -> str:
        self.expect(OID, "OBJECT IDENTIFIER")
        return _decode_oid(self.content, self.content_start)

    def as_octets(self) -> bytes:
        self.expect(OCTET_STRING, "OCTET STRING")
        return self.content

    def as_bmp(self) -> str:
        self.expect(BMP_STRING, "BMPString")
        return self.content.decode("utf-16-be", errors="replace")


def read_header(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """Read an element's tag and length: (tag, content offset, content length).

    The content is not required to be there: this is how a truncated file is recognised
    for what it was meant to be.
    """
    if offset >= len(data):
        raise DerError("data ends where an element should start", offset)
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError(f"multi-byte tag 0x{tag:02x} is not supported", offset)
    if offset + 1 >= len(data):
        raise DerError("data ends inside an element's header", offset)
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        return tag, pos, first
    if first == 0x80:
        raise DerError("indefinite length (BER) is not DER", offset)
    count = first & 0x7F
    if count > 4:
        raise DerError(f"length of {count} bytes is implausible", offset)
    if pos + count > len(data):
        raise DerError("data ends inside an element's length", offset)
    return tag, pos + count, int.from_bytes(data[pos : pos + count], "big")


def read_tlv(data: bytes, offset: int = 0, *, limit: int | None = None) -> Tlv:
    """Read the element starting at ``offset``; it must end by ``limit`` (default: end of data)."""
    limit = len(data) if limit is None else limit
    if offset >= limit:
        raise DerError("data ends where an element should start", offset)
    tag, content_start, length = read_header(data[:limit], offset)
    end = content_start + length
    if end > limit:
        raise DerError(
            f"element says {length} bytes of content but only {limit - content_start} follow (truncated)", offset
        )
    return Tlv(data, tag, offset, content_start, end)


def read_single(data: bytes) -> Tlv:
    """Read ``data`` as exactly one element, with nothing after it."""
    tlv = read_tlv(data)
    if tlv.end != len(data):
        raise DerError(f"{len(data) - tlv.end} bytes follow the element", tlv.end)
    return tlv


def _decode_oid(content: bytes, offset: int) -> str:
    if not content:
        raise DerError("empty OBJECT IDENTIFIER", offset)
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if content[-1] & 0x80:
        raise DerError("OBJECT IDENTIFIER ends inside an arc", offset)
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(arc) for arc in head + arcs[1:])
