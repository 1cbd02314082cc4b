"""The few DER encodings that :mod:`cryptography` has no builder for.

AD CS puts Microsoft-specific values in the certificates and CRLs it issues: the version
1 template name extension, the CA Version extension and the CRL's Next CRL Publish
extension (carried by cryptography as :class:`~cryptography.x509.UnrecognizedExtension`
with a DER value encoded here), and the UPN other-name of user certificates.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["bmp_string", "integer", "read_utc_time", "utc_time", "utf8_string"]


def _tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def integer(value: int) -> bytes:
    """DER INTEGER (two's complement, minimal length)."""
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def bmp_string(text: str) -> bytes:
    """DER BMPString (UTF-16 big-endian)."""
    return _tlv(0x1E, text.encode("utf-16-be"))


def utf8_string(text: str) -> bytes:
    """DER UTF8String."""
    return _tlv(0x0C, text.encode("utf-8"))


def utc_time(moment: datetime) -> bytes:
    """DER UTCTime (``YYMMDDHHMMSSZ``, RFC 5280 4.1.2.5.1: for years 1950 to 2049)."""
    utc = moment.astimezone(UTC)
    if not 1950 <= utc.year <= 2049:
        raise ValueError(f"{utc:%Y}: UTCTime holds the years 1950 to 2049 only")
    return _tlv(0x17, utc.strftime("%y%m%d%H%M%SZ").encode("ascii"))


def read_utc_time(der: bytes) -> datetime:
    """The moment in a DER UTCTime (inverse of :func:`utc_time`); ValueError otherwise."""
    if len(der) != 15 or der[0] != 0x17 or der[1] != 13:
        raise ValueError("not a DER UTCTime")
    moment = datetime.strptime(der[2:].decode("ascii"), "%y%m%d%H%M%SZ").replace(tzinfo=UTC)
    # RFC 5280 4.1.2.5.1: YY below 50 is 20YY, from 50 it is 19YY (strptime's pivot is 69).
    if moment.year >= 2050:
        moment = moment.replace(year=moment.year - 100)
    return moment
