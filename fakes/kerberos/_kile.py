"""What Active Directory adds to Kerberos ([MS-KILE]): extended errors and supported enctypes.

Both sides of the wire use these: the KDC stand-in writes them as a Windows domain
controller does, the connector stand-in reads them back into its report.

- **KERB-EXT-ERROR** ([MS-KILE] §2.2.1: ``status`` NTSTATUS, ``reserved`` 0, ``flags`` 1,
  three little-endian 32-bit words) travels in a KRB-ERROR's e-data as a
  **KERB-ERROR-DATA** ([MS-KILE] §2.2.2: ``SEQUENCE { data-type [1] INTEGER, data-value
  [2] OCTET STRING }`` with data-type 3, KERB_ERR_TYPE_EXTENDED). Microsoft's own protocol
  test suite reads the e-data of a Windows KDC's error exactly so (microsoft/
  WindowsProtocolTestSuites, the MS-SFU adapter's ``Utilities.GetExtendedStatus``); the
  structure has the shape of a PA-DATA with padata-type 3, which is how Samba's AD KDC
  writes it (``samba_kdc_build_edata_reply``).
- **PA-SUPPORTED-ENCTYPES** (:attr:`~fakes.kerberos.PaDataType.SUPPORTED_ENCTYPES`, 165, [MS-KILE] §2.2.8) is a 32-bit bit field of
  msDS-SupportedEncryptionTypes, little-endian (Samba's ``samba_kdc_build_supported_etypes``):
  0x1 des-cbc-crc, 0x2 des-cbc-md5, 0x4 rc4-hmac, 0x8 aes128, 0x10 aes256 ([MS-KILE] §2.2.7).
- **NTSTATUS** values and texts as ntstatus.h gives them (Windows SDK 10.0.16299.0).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from ._crypto import Enctype
from ._der import (
    Malformed,
    encode_integer,
    encode_octets,
    encode_sequence,
    int32,
    octets,
    read_message,
    sequence,
)
from ._errors import DecodeError

__all__ = [
    "NtStatus",
    "NTSTATUS",
    "ntstatus",
    "KERB_ERR_TYPE_EXTENDED",
    "encode_kerb_ext_error",
    "decode_kerb_ext_error",
    "encode_supported_enctypes",
    "decode_supported_enctypes",
]

#: [MS-KILE] §2.2.2: the data-type of a KERB-ERROR-DATA whose value is a KERB-EXT-ERROR.
KERB_ERR_TYPE_EXTENDED = 3


@dataclass(frozen=True)
class NtStatus:
    """An NTSTATUS code: its value, its ntstatus.h symbol and message text."""

    value: int
    name: str
    text: str

    def to_dict(self) -> dict[str, str]:
        """``{"code": "0xC0000072", "name": ..., "text": ...}`` (the code as Windows prints it)."""
        return {"code": f"0x{self.value:08X}", "name": self.name, "text": self.text}


#: The account and password states a KDC reports, as ntstatus.h words them.
NTSTATUS: dict[int, NtStatus] = {s.value: s for s in (
    NtStatus(0xC0000072, "STATUS_ACCOUNT_DISABLED",
             "The referenced account is currently disabled and may not be logged on to."),
    NtStatus(0xC0000234, "STATUS_ACCOUNT_LOCKED_OUT",
             "The user account has been automatically locked because too many invalid logon attempts or "
             "password change attempts have been requested."),
    NtStatus(0xC0000193, "STATUS_ACCOUNT_EXPIRED", "The user's account has expired."),
    NtStatus(0xC0000224, "STATUS_PASSWORD_MUST_CHANGE", "The user's password must be changed before signing in."),
    NtStatus(0xC0000071, "STATUS_PASSWORD_EXPIRED", "The user account's password has expired."),
)}


def ntstatus(value: int) -> NtStatus:
    """The NTSTATUS of ``value`` (one this table does not know gets its hex value as name)."""
    return NTSTATUS.get(value) or NtStatus(value, f"0x{value:08X}", "")


def encode_kerb_ext_error(status: int) -> bytes:
    """The e-data of a KRB-ERROR carrying ``status``: KERB-ERROR-DATA with a KERB-EXT-ERROR."""
    ext_error = struct.pack("<III", status, 0, 1)
    return encode_sequence(((1, encode_integer(KERB_ERR_TYPE_EXTENDED)), (2, encode_octets(ext_error))))


_KERB_ERROR_DATA = sequence((1, "data-type", int32, True), (2, "data-value", octets, False), into=tuple)


def decode_kerb_ext_error(e_data: bytes | None) -> int | None:
    """The NTSTATUS a KRB-ERROR's e-data carries, or None when it carries none.

    e-data of another shape (METHOD-DATA of a PREAUTH_REQUIRED, say) is not an error here:
    it just carries no extended error. A KERB-EXT-ERROR shorter than 12 bytes is a
    :class:`~fakes.kerberos.DecodeError`.
    """
    if not e_data:
        return None
    try:
        data_type, value = read_message(bytes(e_data), _KERB_ERROR_DATA, "KERB-ERROR-DATA")
    except Malformed:
        return None
    if data_type != KERB_ERR_TYPE_EXTENDED or value is None:
        return None
    if len(value) < 12:
        raise DecodeError(f"KERB-EXT-ERROR: {len(value)} bytes, a status, reserved and flags word need 12")
    return struct.unpack_from("<I", value)[0]


_ENCTYPE_BITS = {Enctype.DES_CBC_CRC: 0x1, Enctype.DES_CBC_MD5: 0x2, Enctype.RC4_HMAC: 0x4,
                 Enctype.AES128_CTS_HMAC_SHA1_96: 0x8, Enctype.AES256_CTS_HMAC_SHA1_96: 0x10}


def encode_supported_enctypes(enctypes: Iterable[int]) -> bytes:
    """The value of PA-SUPPORTED-ENCTYPES for ``enctypes`` (those without a bit are left out)."""
    bits = 0
    for enctype in enctypes:
        bits |= _ENCTYPE_BITS.get(int(enctype), 0)
    return struct.pack("<I", bits)


def decode_supported_enctypes(value: bytes) -> tuple[int, tuple[int, ...]]:
    """(the bit field, the enctypes it names, strongest first) of a PA-SUPPORTED-ENCTYPES value."""
    if len(value) != 4:
        raise DecodeError(f"PA-SUPPORTED-ENCTYPES: {len(value)} bytes, the bit field is 4")
    (bits,) = struct.unpack("<I", value)
    named = tuple(sorted((e for e, bit in _ENCTYPE_BITS.items() if bits & bit), key=lambda e: -_ENCTYPE_BITS[e]))
    return bits, tuple(int(e) for e in named)
