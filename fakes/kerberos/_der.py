"""DER for Kerberos (RFC 4120 §5, X.690): a reader driven by small schemas, and TLV writers.

The KDC decodes and encodes a handful of messages on every request; a generic ASN.1
library (pyasn1 through impacket) spent most of the KDC's time building and walking its
type objects. Kerberos needs little of ASN.1: SEQUENCEs of explicitly tagged fields,
SEQUENCE OF, INTEGER, OCTET STRING, GeneralString, GeneralizedTime, BIT STRING and
APPLICATION wrappers. This module reads exactly those.

Reading rules:

1. A reader is a function ``read(data, pos, end) -> (value, next_pos)`` for the TLV at
   ``pos``, which must fit before ``end``. Schemas (:func:`sequence`, :func:`sequence_of`,
   :func:`application`) combine readers; the message modules build their messages from
   the values.
2. Anything else than the expected structure raises :class:`Malformed`, whose text names
   the field by its path in the message (``req-body.sname.name-string[1]``) and says what
   is wrong: the wrong tag, a missing or unexpected field, a value out of range, or — when
   the input stops early — the innermost field the input ends inside and how many more
   bytes it needs.
3. Lengths are DER's (definite, at most 4 length bytes); lengths in long form and integers
   with a redundant leading byte are accepted (valid BER, and the req-body is checksummed
   as received, never re-encoded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

__all__ = [
    "Malformed",
    "Reader",
    "read_message",
    "sequence",
    "sequence_of",
    "application",
    "raw",
    "integer",
    "int32",
    "uint32",
    "nonce",
    "microseconds",
    "constant",
    "octets",
    "text",
    "kerberos_time",
    "flags",
    "tlv",
    "field",
    "encode_integer",
    "encode_octets",
    "encode_text",
    "encode_time",
    "encode_flags",
    "encode_sequence",
]

#: ``read(data, pos, end) -> (value, next_pos)``.
Reader = Callable[[bytes, int, int], tuple[Any, int]]


class Malformed(Exception):
    """Bytes that are not the structure expected; :meth:`text` says where and what.

    ``problem`` holds ``{where}`` for the field's path, filled in once the exception has
    travelled up to the message (each level adds its field name to ``path``).
    """

    def __init__(self, problem: str, *, truncated: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.truncated = truncated
        self.path: list[str] = []  # innermost first

    def text(self) -> str:
        where = ""
        for name in reversed(self.path):
            where += name if name.startswith("[") or not where else "." + name
        return self.problem.replace("{where}", where or "the message")


def _short(needed: int, end: int, data: bytes) -> Malformed:
    """The TLV being read needs ``needed`` more bytes than ``end`` leaves."""
    if end >= len(data):
        return Malformed(f"the input ends inside {{where}} (needs {needed} more byte{'s' if needed > 1 else ''})",
                         truncated=True)
    return Malformed(f"{{where}} runs {needed} byte{'s' if needed > 1 else ''} past the field that holds it")


def header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag byte, start of contents, end of contents) of the TLV at ``pos``.

    The contents may run past ``end``: callers decide whether that is a truncated input.
    """
    if pos + 2 > end:
        raise _short(pos + 2 - end, end, data)
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise Malformed(f"{{where}} has a multi-byte tag (0x{tag:02x} ...), which Kerberos never uses")
    first = data[pos + 1]
    if first < 0x80:
        return tag, pos + 2, pos + 2 + first
    count = first & 0x7F
    if count == 0:
        raise Malformed("{where} has an indefinite length, which DER does not allow")
    if count > 4:
        raise Malformed(f"{{where}} gives its length in {count} bytes (a Kerberos message needs at most 4)")
    start = pos + 2 + count
    if start > end:
        raise _short(start - end, end, data)
    return tag, start, start + int.from_bytes(data[pos + 2:start], "big")


_TAG_NAMES = {0x02: "an INTEGER", 0x03: "a BIT STRING", 0x04: "an OCTET STRING", 0x18: "a GeneralizedTime",
              0x1B: "a GeneralString", 0x30: "a SEQUENCE"}


def _tag_name(tag: int) -> str:
    if tag in _TAG_NAMES:
        return _TAG_NAMES[tag]
    kind = {0x00: "UNIVERSAL ", 0x40: "APPLICATION ", 0x80: "", 0xC0: "PRIVATE "}[tag & 0xC0]
    return f"[{kind}{tag & 0x1F}]"


def _wrong_tag(found: int, wanted: int) -> Malformed:
    return Malformed(f"{{where}} should be {_tag_name(wanted)} (tag 0x{wanted:02x}), "
                     f"found tag 0x{found:02x} ({_tag_name(found)})")


def _primitive(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    """(start, end) of the contents of a primitive TLV of ``tag`` at ``pos``."""
    # The common case first, without a call: the tag expected, a short length, room for it.
    if pos + 2 <= end and data[pos] == tag:
        size = data[pos + 1]
        if size < 0x80 and pos + 2 + size <= end:
            return pos + 2, pos + 2 + size
    found, start, stop = header(data, pos, end)
    if found != tag:
        raise _wrong_tag(found, tag)
    if stop > end:
        raise _short(stop - end, end, data)
    return start, stop


def _constructed(data: bytes, pos: int, end: int, tag: int,
                 contents: Callable[[bytes, int, int], Any]) -> tuple[Any, int]:
    """Read a constructed TLV of ``tag`` with ``contents(data, start, stop)``.

    When the input ends inside it, its contents are read as far as they go first, so the
    error names the innermost field the input ends inside.
    """
    # The common case inline: the tag expected, a length in at most 2 bytes, room for it.
    if pos + 4 <= end and data[pos] == tag:
        first = data[pos + 1]
        if first < 0x80:
            start, stop = pos + 2, pos + 2 + first
        elif first == 0x81:
            start, stop = pos + 3, pos + 3 + data[pos + 2]
        elif first == 0x82:
            start, stop = pos + 4, pos + 4 + (data[pos + 2] << 8 | data[pos + 3])
        else:
            start = stop = end + 1
        if stop <= end:
            return contents(data, start, stop), stop
    found, start, stop = header(data, pos, end)
    if found != tag:
        raise _wrong_tag(found, tag)
    if stop > end:
        if end < len(data):
            raise _short(stop - end, end, data)
        try:
            contents(data, start, end)
        except Malformed as inner:
            if inner.truncated:
                raise
        raise _short(stop - end, end, data)
    return contents(data, start, stop), stop


# -- primitives ---------------------------------------------------------------------------------

def integer(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """INTEGER, any size."""
    start, stop = _primitive(data, pos, end, 0x02)
    if start == stop:
        raise Malformed("{where} is an INTEGER with no bytes")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def _ranged(low: int, high: int, kind: str) -> Reader:
    def read(data: bytes, pos: int, end: int) -> tuple[int, int]:
        # The common case inline (these are most of a message's TLVs); integer() otherwise.
        if pos + 2 <= end and data[pos] == 0x02:
            size = data[pos + 1]
            stop = pos + 2 + size
            if 0 < size < 0x80 and stop <= end:
                value = int.from_bytes(data[pos + 2:stop], "big", signed=True)
                if low <= value <= high:
                    return value, stop
        value, stop = integer(data, pos, end)
        if not low <= value <= high:
            raise Malformed(f"{{where}} is {value}, outside {kind}'s range {low}..{high}")
        return value, stop

    return read


int32 = _ranged(-2**31, 2**31 - 1, "Int32")
uint32 = _ranged(0, 2**32 - 1, "UInt32")
# RFC 4120 makes the KDC-REQ nonce a UInt32, but Heimdal declares it Int32 (krb5int32) and
# sends negative nonces (Heimdal 7.8's kgetcred, measured: -1034954466): either is read,
# and the reply echoes the value as received.
nonce = _ranged(-2**31, 2**32 - 1, "Int32 or UInt32")
microseconds = _ranged(0, 999_999, "Microseconds")


def constant(*allowed: int) -> Reader:
    """An INTEGER that must be one of ``allowed`` (pvno 5, a message's msg-type)."""
    def read(data: bytes, pos: int, end: int) -> tuple[int, int]:
        value, stop = integer(data, pos, end)
        if value not in allowed:
            expected = " or ".join(str(a) for a in allowed)
            raise Malformed(f"{{where}} is {value}, not {expected}")
        return value, stop

    return read


def octets(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    """OCTET STRING."""
    if pos + 4 <= end and data[pos] == 0x04:  # short lengths and ciphertexts' 0x81/0x82 inline
        first = data[pos + 1]
        if first < 0x80:
            start, stop = pos + 2, pos + 2 + first
        elif first == 0x81:
            start, stop = pos + 3, pos + 3 + data[pos + 2]
        elif first == 0x82:
            start, stop = pos + 4, pos + 4 + (data[pos + 2] << 8 | data[pos + 3])
        else:
            start = stop = end + 1
        if stop <= end:
            return data[start:stop], stop
    start, stop = _primitive(data, pos, end, 0x04)
    return data[start:stop], stop


def text(data: bytes, pos: int, end: int) -> tuple[str, int]:
    """KerberosString (GeneralString) as UTF-8, as MIT, Windows and impacket write it."""
    if pos + 2 <= end and data[pos] == 0x1B and data[pos + 1] < 0x80 and pos + 2 + data[pos + 1] <= end:
        start, stop = pos + 2, pos + 2 + data[pos + 1]
    else:
        start, stop = _primitive(data, pos, end, 0x1B)
    try:
        return data[start:stop].decode("utf-8"), stop
    except UnicodeDecodeError:
        raise Malformed("{where} is not UTF-8 text") from None


def kerberos_time(data: bytes, pos: int, end: int) -> tuple[datetime, int]:
    """KerberosTime: GeneralizedTime ``YYYYMMDDHHMMSSZ``, UTC, no fractions (RFC 4120 §5.2.3)."""
    if pos + 17 <= end and data[pos] == 0x18 and data[pos + 1] == 15:
        start, stop = pos + 2, pos + 17
    else:
        start, stop = _primitive(data, pos, end, 0x18)
    moment = _time(data[start:stop])
    if moment is None:
        shown = data[start:stop][:20].decode("ascii", "replace")
        raise Malformed(f"{{where}} is {shown!r}, not a KerberosTime (YYYYMMDDHHMMSSZ)")
    return moment, stop


# A ticket's times come back in every request that presents it: each text is parsed once.
@lru_cache(maxsize=4096)
def _time(raw_time: bytes) -> datetime | None:
    if len(raw_time) == 15 and raw_time[14] == 0x5A and raw_time[:14].isdigit():
        try:
            return datetime(int(raw_time[0:4]), int(raw_time[4:6]), int(raw_time[6:8]), int(raw_time[8:10]),
                            int(raw_time[10:12]), int(raw_time[12:14]), tzinfo=UTC)
        except ValueError:
            pass
    return None


def flags(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """KerberosFlags (BIT STRING) as a 32-bit word, bit 0 the most significant.

    Peers may send fewer or more than 32 bits: the first 32 count, missing ones are 0.
    """
    start, stop = _primitive(data, pos, end, 0x03)
    if start == stop:
        raise Malformed("{where} is a BIT STRING with no bytes")
    unused = data[start]
    size = (stop - start - 1) * 8 - unused
    if unused > 7 or size < 0:
        raise Malformed(f"{{where}} is a BIT STRING claiming {unused} unused bits")
    bits = int.from_bytes(data[start + 1:stop], "big") >> unused
    return (bits >> (size - 32) if size >= 32 else bits << (32 - size)), stop


# -- structures --------------------------------------------------------------------------------

def sequence(*fields: tuple[int, str, Reader, bool], into: Callable[[list[Any]], Any] | None = None) -> Reader:
    """SEQUENCE of explicitly tagged fields ``(number, name, reader, required)``, in order.

    Reads to a list of values in the order of ``fields`` (None for an absent OPTIONAL one),
    or to what ``into`` makes of that list; a ``ValueError`` from ``into`` (a key of the
    wrong size, say) is a :class:`Malformed` naming the structure.
    """
    by_tag = {0xA0 | number: index for index, (number, *_) in enumerate(fields)}
    names = tuple(f[1] for f in fields)
    readers = tuple(f[2] for f in fields)
    count = len(fields)
    # first_required[i]: the first required field at position i or later (count: none).
    first_required = [next((j for j in range(i, count) if fields[j][3]), count) for i in range(count + 1)]

    def missing(index: int) -> Malformed:
        error = Malformed("{where} is missing")
        error.path.append(names[index])
        return error

    def contents(data: bytes, pos: int, end: int) -> Any:
        values: list[Any] = [None] * count
        next_index = 0
        while pos < end:
            if pos + 2 <= end and data[pos + 1] < 0x80:  # a short length: no call
                found, start, stop = data[pos], pos + 2, pos + 2 + data[pos + 1]
            else:
                found, start, stop = header(data, pos, end)
            index = by_tag.get(found)
            if index is None or index < next_index:
                if index is not None:
                    raise Malformed(f"{{where}} has field [{found & 0x1F}] out of order or twice")
                if found & 0xE0 == 0xA0:
                    raise Malformed(f"{{where}} has a field [{found & 0x1F}] its type does not have")
                raise Malformed(f"{{where}} holds tag 0x{found:02x} ({_tag_name(found)}) where a field "
                                f"[n] belongs")
            if first_required[next_index] < index:
                raise missing(first_required[next_index])
            try:
                if stop > end:
                    if end < len(data):
                        raise _short(stop - end, end, data)
                    try:
                        readers[index](data, start, end)
                    except Malformed as inner:
                        if inner.truncated:  # the input ends further in: name the field inside
                            raise
                    raise _short(stop - end, end, data)
                values[index], after = readers[index](data, start, stop)
                if after != stop:
                    raise Malformed(f"{{where}} has {stop - after} bytes after its value")
            except Malformed as bad:
                bad.path.append(names[index])
                raise
            next_index = index + 1
            pos = stop
        if first_required[next_index] < count:
            raise missing(first_required[next_index])
        if into is None:
            return values
        try:
            return into(values)
        except ValueError as exc:
            raise Malformed(f"{{where}}: {exc}") from None

    def read(data: bytes, pos: int, end: int) -> tuple[Any, int]:
        if pos + 2 <= end and data[pos] == 0x30 and data[pos + 1] < 0x80 and pos + 2 + data[pos + 1] <= end:
            return contents(data, pos + 2, pos + 2 + data[pos + 1]), pos + 2 + data[pos + 1]
        return _constructed(data, pos, end, 0x30, contents)

    return read


def sequence_of(item: Reader) -> Reader:
    """SEQUENCE OF ``item``, read to a tuple."""
    def contents(data: bytes, pos: int, end: int) -> tuple[Any, ...]:
        items = []
        while pos < end:
            try:
                value, pos = item(data, pos, end)
            except Malformed as bad:
                bad.path.append(f"[{len(items)}]")
                raise
            items.append(value)
        return tuple(items)

    def read(data: bytes, pos: int, end: int) -> tuple[tuple[Any, ...], int]:
        return _constructed(data, pos, end, 0x30, contents)

    return read


def application(number: int, inner: Reader) -> Reader:
    """``[APPLICATION number]`` wrapped around ``inner`` (Kerberos messages and their parts)."""
    tag = 0x60 | number

    def contents(data: bytes, pos: int, end: int) -> Any:
        value, after = inner(data, pos, end)
        if after != end:
            raise Malformed(f"{{where}} has {end - after} bytes after its value")
        return value

    def read(data: bytes, pos: int, end: int) -> tuple[Any, int]:
        return _constructed(data, pos, end, tag, contents)

    return read


def raw(inner: Reader) -> Reader:
    """``inner``'s value and the bytes it was read from, exactly as received."""
    def read(data: bytes, pos: int, end: int) -> tuple[tuple[Any, bytes], int]:
        value, stop = inner(data, pos, end)
        return (value, data[pos:stop]), stop

    return read


def read_message(data: bytes, reader: Reader, name: str, *,
                 trailing: Callable[[bytes], bool] | None = None) -> Any:
    """Read a whole message; raises :class:`Malformed` with ``name`` and the problem.

    ``trailing`` decides whether bytes after the message are acceptable (a block cipher's
    padding after a decrypted structure); without it any trailing byte is an error.
    """
    if not data:
        raise Malformed("the input is empty")
    value, stop = reader(data, 0, len(data))
    if stop != len(data) and (trailing is None or not trailing(data[stop:])):
        raise Malformed(f"{len(data) - stop} unexpected bytes after the {name}")
    return value


# -- writing -----------------------------------------------------------------------------------

def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    if size < 0x100:
        return bytes((0x81, size))
    if size < 0x10000:
        return bytes((0x82, size >> 8, size & 0xFF))
    return b"\x83" + size.to_bytes(3, "big")


# Headers of short TLVs, made once: _HEADERS[tag][length] for lengths below 128.
_HEADERS = [[bytes((tag, size)) for size in range(0x80)] for tag in range(0x100)]


def tlv(tag: int, contents: bytes) -> bytes:
    """One DER TLV."""
    size = len(contents)
    return (_HEADERS[tag][size] if size < 0x80 else bytes((tag,)) + _length(size)) + contents


def field(number: int, contents: bytes) -> bytes:
    """An explicitly tagged field ``[number]`` holding the TLV ``contents``."""
    return tlv(0xA0 | number, contents)


def encode_integer(value: int) -> bytes:
    """INTEGER in its shortest two's-complement form."""
    if 0 <= value < 0x80:
        return _SMALL_INTEGERS[value]
    value = int(value)
    size = ((value if value >= 0 else -value - 1).bit_length() + 8) // 8
    return b"\x02" + bytes((size,)) + value.to_bytes(size, "big", signed=True)


_SMALL_INTEGERS = [bytes((0x02, 0x01, value)) for value in range(0x80)]


def encode_octets(value: bytes) -> bytes:
    """OCTET STRING."""
    return tlv(0x04, bytes(value))


def encode_text(value: str) -> bytes:
    """KerberosString (GeneralString), UTF-8."""
    return tlv(0x1B, value.encode("utf-8"))


def encode_time(when: datetime) -> bytes:
    """KerberosTime ``YYYYMMDDHHMMSSZ`` (RFC 4120 §5.2.3); microseconds travel separately."""
    if when.tzinfo is None:
        raise ValueError("Kerberos times must be timezone-aware (UTC)")
    return _time_der(when.replace(microsecond=0))


@lru_cache(maxsize=4096)
def _time_der(when: datetime) -> bytes:
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    return (b"\x18\x0f" + f"{when.year:04d}{when.month:02d}{when.day:02d}{when.hour:02d}"
            f"{when.minute:02d}{when.second:02d}Z".encode("ascii"))


def encode_flags(value: int) -> bytes:
    """KerberosFlags as 32 bits, as MIT, Windows and impacket write them."""
    return b"\x03\x05\x00" + (int(value) & 0xFFFFFFFF).to_bytes(4, "big")


def encode_sequence(fields: Sequence[tuple[int, bytes | None]], tag: int = 0x30) -> bytes:
    """SEQUENCE (or ``tag``) of the ``(number, TLV)`` fields that are not None."""
    parts = []
    for number, value in fields:
        if value is not None:
            size = len(value)
            parts.append(_HEADERS[0xA0 | number][size] if size < 0x80 else bytes((0xA0 | number,)) + _length(size))
            parts.append(value)
    return tlv(tag, b"".join(parts))
