"""The GSS-API Kerberos V5 mechanism: initial context tokens, the 0x8003 checksum, MIC tokens.

- Initial context token (RFC 2743 §3.1, RFC 1964 §1.1, RFC 4121 §4.1): ``[APPLICATION 0]``
  around the mechanism OID 1.2.840.113554.1.2.2, TOK_ID ``01 00`` and the AP-REQ.
- Authenticator checksum 0x8003 (RFC 4121 §4.1.1): channel-binding hash and GSS flags.
- MIC tokens, written here rather than taken from impacket (whose GSS_GetMIC pads the data
  to 4 bytes, a DCE-RPC habit that breaks SIP signatures):

  - AES keys (17, 18): RFC 4121 §4.2.6.1 tokens — ``04 04``, flags, ``FF``×5, 64-bit
    sequence number, then HMAC-SHA1-96 over ``data || header`` with key usage 23
    (acceptor sign) or 25 (initiator sign);
  - RC4 keys (23): RFC 4757 §7.2 tokens — framed like an initial token, ``01 01 11 00``,
    ``FF``×4, an RC4-encrypted sequence number with the direction, HMAC-MD5 truncated to 8.

  Single DES and 3DES MIC tokens (RFC 1964 §1.2.1) are not implemented: modern peers do not
  offer them; asking raises :class:`~fakes.kerberos.KerberosError` (14).

Which key signs: the acceptor's subkey if it sent one in an AP-REP (flag AcceptorSubkey),
else the initiator's subkey from the authenticator, else the ticket's session key (RFC
4121 §2). MS-SIPAE clients do not ask for mutual authentication, so there is no AP-REP
and both sides sign with the initiator's subkey.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntFlag

from Cryptodome.Cipher import ARC4

from ._crypto import Cksumtype, Enctype, Key, KeyUsage, enctype_name, make_checksum
from ._errors import DecodeError, ErrorCode, KerberosError
from ._messages import Checksum

__all__ = [
    "KRB5_OID",
    "MS_KRB5_OID",
    "GSS_CHECKSUM_TYPE",
    "GssFlag",
    "GssChecksum",
    "wrap_initial_token",
    "unwrap_initial_token",
    "make_gss_checksum",
    "parse_gss_checksum",
    "get_mic",
    "verify_mic",
    "MIC_ENCTYPES",
]

#: DER of the Kerberos V5 mechanism OID 1.2.840.113554.1.2.2 (RFC 1964 §1).
KRB5_OID = bytes.fromhex("06092a864886f712010202")
#: DER of 1.2.840.48018.1.2.2, the OID Windows puts in SPNEGO for the same mechanism.
MS_KRB5_OID = bytes.fromhex("06092a864882f712010202")
#: The authenticator checksum type that carries GSS flags (RFC 4121 §4.1.1).
GSS_CHECKSUM_TYPE = 0x8003

_TOK_AP_REQ = b"\x01\x00"
_TOK_MIC_CFX = b"\x04\x04"
_TOK_MIC_RC4 = b"\x01\x01"

#: Enctypes whose keys can make and verify MIC tokens here.
MIC_ENCTYPES = frozenset({Enctype.AES128_CTS_HMAC_SHA1_96, Enctype.AES256_CTS_HMAC_SHA1_96, Enctype.RC4_HMAC})


class GssFlag(IntFlag):
    """Context flags of the 0x8003 checksum (RFC 2744 §3.9, RFC 4121 §4.1.1.1)."""

    DELEG = 1
    MUTUAL = 2
    REPLAY = 4
    SEQUENCE = 8
    CONF = 16
    INTEG = 32


# -- framing (RFC 2743 §3.1) ------------------------------------------------------------------

def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _frame(inner: bytes) -> bytes:
    body = KRB5_OID + inner
    return b"\x60" + _der_length(len(body)) + body


def _unframe(token: bytes, what: str) -> bytes:
    """The bytes after the mechanism OID of a framed token; checks tag, length and OID."""
    token = bytes(token)
    if len(token) < 2 or token[0] != 0x60:
        raise DecodeError(f"not a GSS-API {what}: it does not start with [APPLICATION 0]")
    first = token[1]
    position = 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(token) < position + count:
            raise DecodeError(f"GSS-API {what}: bad length")
        length = int.from_bytes(token[position:position + count], "big")
        position += count
    if position + length != len(token):
        raise DecodeError(f"GSS-API {what}: length {length} does not match the {len(token) - position} bytes present")
    oid = token[position:position + len(KRB5_OID)]
    if oid not in (KRB5_OID, MS_KRB5_OID):
        raise DecodeError(f"GSS-API {what} is not for the Kerberos V5 mechanism (OID bytes {oid.hex()})")
    return token[position + len(KRB5_OID):]


def wrap_initial_token(ap_req: bytes) -> bytes:
    """The initial context token carrying ``ap_req`` (RFC 1964 §1.1.1)."""
    return _frame(_TOK_AP_REQ + bytes(ap_req))


def unwrap_initial_token(token: bytes) -> bytes:
    """The AP-REQ inside an initial context token; :class:`DecodeError` if it is not one."""
    inner = _unframe(token, "initial context token")
    if inner[:2] != _TOK_AP_REQ:
        raise DecodeError(f"GSS-API token has TOK_ID {inner[:2].hex()}, not 0100 (KRB_AP_REQ)")
    return inner[2:]


# -- the 0x8003 authenticator checksum (RFC 4121 §4.1.1) --------------------------------------

@dataclass(frozen=True)
class GssChecksum:
    """What an initiator put in its 0x8003 checksum: channel-binding hash and flags."""

    bindings_hash: bytes
    flags: GssFlag


def make_gss_checksum(flags: int, bindings_hash: bytes = b"\0" * 16) -> Checksum:
    """The authenticator checksum of a GSS initial token (no delegation, no extensions)."""
    if len(bindings_hash) != 16:
        raise ValueError("the channel-binding hash is 16 bytes (MD5)")
    if flags & GssFlag.DELEG:
        raise ValueError("delegation needs a KRB-CRED in the checksum; it is not supported")
    value = struct.pack("<I", 16) + bytes(bindings_hash) + struct.pack("<I", int(flags))
    return Checksum(GSS_CHECKSUM_TYPE, value)


def parse_gss_checksum(checksum: Checksum | None) -> GssChecksum:
    """Read a 0x8003 checksum; :class:`KerberosError` (KRB_AP_ERR_INAPP_CKSUM) if it is not one."""
    if checksum is None or checksum.cksumtype != GSS_CHECKSUM_TYPE:
        got = "none" if checksum is None else str(checksum.cksumtype)
        raise KerberosError(ErrorCode.KRB_AP_ERR_INAPP_CKSUM,
                            f"a GSS-API authenticator needs a checksum of type 0x8003, got {got}")
    value = checksum.checksum
    if len(value) < 24 or struct.unpack("<I", value[:4])[0] != 16:
        raise KerberosError(ErrorCode.KRB_AP_ERR_INAPP_CKSUM, "malformed 0x8003 checksum (Lgth is not 16)")
    flags = GssFlag(struct.unpack("<I", value[20:24])[0] & 0x3F)
    return GssChecksum(bytes(value[4:20]), flags)


# -- MIC tokens -------------------------------------------------------------------------------

_CFX_SENT_BY_ACCEPTOR = 0x01
_CFX_ACCEPTOR_SUBKEY = 0x04
_RC4_USAGE_SIGN = 15  # RFC 4757 §7.2: MIC checksums use key usage 15


def _mic_error(text: str) -> KerberosError:
    # SSPI reports a bad signature as SEC_E_MESSAGE_ALTERED, Kerberos' "message stream modified".
    return KerberosError(ErrorCode.KRB_AP_ERR_MODIFIED, text)


def _check_mic_key(key: Key) -> None:
    if key.enctype not in MIC_ENCTYPES:
        raise KerberosError(ErrorCode.KDC_ERR_ETYPE_NOSUPP,
                            f"MIC tokens with {enctype_name(key.enctype)} keys are not supported "
                            "(AES and RC4 only)")


def get_mic(key: Key, data: bytes, seq_number: int, *, sent_by_acceptor: bool,
            acceptor_subkey: bool = False) -> bytes:
    """A MIC token over ``data`` (GSS_GetMIC): RFC 4121 for AES keys, RFC 4757 for RC4."""
    _check_mic_key(key)
    if key.enctype == Enctype.RC4_HMAC:
        return _rc4_mic(key, bytes(data), seq_number, sent_by_acceptor)
    flags = (_CFX_SENT_BY_ACCEPTOR if sent_by_acceptor else 0) | (_CFX_ACCEPTOR_SUBKEY if acceptor_subkey else 0)
    header = _TOK_MIC_CFX + bytes([flags]) + b"\xff" * 5 + struct.pack(">Q", seq_number & 0xFFFFFFFFFFFFFFFF)
    usage = KeyUsage.GSS_ACCEPTOR_SIGN if sent_by_acceptor else KeyUsage.GSS_INITIATOR_SIGN
    cksumtype = Cksumtype.HMAC_SHA1_96_AES256 if key.enctype == Enctype.AES256_CTS_HMAC_SHA1_96 \
        else Cksumtype.HMAC_SHA1_96_AES128
    # RFC 4121 §4.2.4: the checksum covers the data followed by the 16-byte header.
    return header + make_checksum(cksumtype, key, usage, bytes(data) + header)


def verify_mic(key: Key, data: bytes, token: bytes, *, sent_by_acceptor: bool) -> int:
    """Check a MIC token over ``data`` (GSS_VerifyMIC); returns its sequence number.

    ``sent_by_acceptor`` is the direction the token must come from: the acceptor verifies
    initiator tokens (False), the initiator verifies acceptor tokens (True). A token that
    does not verify raises :class:`KerberosError` KRB_AP_ERR_MODIFIED (41); one that is not
    a MIC token at all raises :class:`DecodeError`.
    """
    _check_mic_key(key)
    token = bytes(token)
    if key.enctype == Enctype.RC4_HMAC:
        return _rc4_verify(key, bytes(data), token, sent_by_acceptor)
    if len(token) != 28 or token[:2] != _TOK_MIC_CFX or token[3:8] != b"\xff" * 5:
        raise DecodeError(f"not an RFC 4121 MIC token ({len(token)} bytes, TOK_ID {token[:2].hex()})")
    flags = token[2]
    if bool(flags & _CFX_SENT_BY_ACCEPTOR) != sent_by_acceptor:
        side = "acceptor" if flags & _CFX_SENT_BY_ACCEPTOR else "initiator"
        raise _mic_error(f"MIC token was made by the {side}, the wrong direction")
    usage = KeyUsage.GSS_ACCEPTOR_SIGN if sent_by_acceptor else KeyUsage.GSS_INITIATOR_SIGN
    cksumtype = Cksumtype.HMAC_SHA1_96_AES256 if key.enctype == Enctype.AES256_CTS_HMAC_SHA1_96 \
        else Cksumtype.HMAC_SHA1_96_AES128
    expected = make_checksum(cksumtype, key, usage, bytes(data) + token[:16])
    if not hmac.compare_digest(expected, token[16:]):
        raise _mic_error("MIC verification failed: the data or the token was altered, or the key differs")
    return struct.unpack(">Q", token[8:16])[0]


def _rc4_seq_key(key: Key, checksum8: bytes) -> bytes:
    # RFC 4757 §7.2: Kseq = HMAC-MD5(HMAC-MD5(Kss, 0 as 4 bytes), SGN_CKSUM).
    k5 = hmac.new(key.contents, b"\0\0\0\0", hashlib.md5).digest()
    return hmac.new(k5, checksum8, hashlib.md5).digest()


def _rc4_mic(key: Key, data: bytes, seq_number: int, sent_by_acceptor: bool) -> bytes:
    header = _TOK_MIC_RC4 + b"\x11\x00" + b"\xff" * 4  # TOK_ID, SGN_ALG HMAC-MD5, filler
    checksum8 = make_checksum(Cksumtype.HMAC_MD5, key, _RC4_USAGE_SIGN, header + data)[:8]
    # Sequence number big-endian (as MIT and Windows send it), then the direction:
    # zeros from the initiator, 0xFF from the acceptor.
    plain_seq = struct.pack(">I", seq_number & 0xFFFFFFFF) + (b"\xff" * 4 if sent_by_acceptor else b"\0" * 4)
    snd_seq = ARC4.new(_rc4_seq_key(key, checksum8)).encrypt(plain_seq)
    return _frame(header + snd_seq + checksum8)


def _rc4_verify(key: Key, data: bytes, token: bytes, sent_by_acceptor: bool) -> int:
    inner = _unframe(token, "MIC token")
    if len(inner) != 24 or inner[:8] != _TOK_MIC_RC4 + b"\x11\x00" + b"\xff" * 4:
        raise DecodeError("not an RFC 4757 MIC token")
    checksum8 = make_checksum(Cksumtype.HMAC_MD5, key, _RC4_USAGE_SIGN, inner[:8] + data)[:8]
    if not hmac.compare_digest(checksum8, inner[16:24]):
        raise _mic_error("MIC verification failed: the data or the token was altered, or the key differs")
    plain_seq = ARC4.new(_rc4_seq_key(key, checksum8)).decrypt(inner[8:16])
    if plain_seq[4:] != (b"\xff" * 4 if sent_by_acceptor else b"\0" * 4):
        raise _mic_error("MIC token has the wrong direction bytes")
    return struct.unpack(">I", plain_seq[:4])[0]
