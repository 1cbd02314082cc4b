"""The few DER encodings that :mod:`cryptography` has no builder for.

AD CS puts Microsoft-specific values in the certificates it issues: the version 1
template name extension and the CA Version extension (carried by cryptography as
:class:`~cryptography.x509.UnrecognizedExtension` with a DER value encoded here), and
the UPN other-name of user certificates.
"""

from __future__ import annotations

__all__ = ["bmp_string", "integer", "utf8_string"]


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
