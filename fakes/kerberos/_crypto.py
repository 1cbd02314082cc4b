"""Kerberos crypto (RFC 3961/3962/4757) over impacket's enctype profiles, rough edges fixed.

What impacket gets wrong or lacks, and what this module does instead:

- **des-cbc-crc (1)** is missing: written here per RFC 3961 §6.2.3 (DES-CBC with the key as
  IVEC, a modified CRC-32 as the integrity check, key usage ignored).
- **DES string-to-key** in impacket mixes ``str`` and ``bytes`` and never corrects weak
  keys: written here per RFC 3961 §6.2 (``mit_des_string_to_key``) and shared by both
  DES enctypes. Random DES keys get odd parity and weak keys are corrected (§6.2).
- **AES string-to-key** in impacket runs PBKDF2 in Python (~0.3 s a key):
  ``hashlib.pbkdf2_hmac`` gives the identical seed in milliseconds, and every derived key
  is cached.
- **rsa-md5 (7)**, the unkeyed MD5 checksum Java puts in TGS-REQ authenticators when the
  session key is DES, is missing: written here (RFC 3961 §6.1.1).
- ``crypto.encrypt(key, usage, pt)`` crashes on its own default confounder (``bytes(None)``):
  the profiles are called directly with a confounder from an injected ``rng``.
- Short or misaligned ciphertexts trip ``assert`` statements inside impacket (gone under
  ``python -O``): lengths are checked here first, so bad input always ends in
  :class:`~fakes.kerberos.IntegrityError`.
- impacket derives Ke, Ki and Kc (RFC 3961 §5.3) anew on every encrypt, decrypt and
  checksum, n-folding the usage constant each time, and runs HMAC through PyCryptodome's
  Python wrapper: most of a KDC request's crypto time. Here the derived keys are cached
  per (key, usage), the n-folded constants once, HMAC is the standard library's, and
  AES-CTS (RFC 3962 §5, CBC with the last two blocks swapped) runs on whole buffers. The
  results are impacket's byte for byte (``test_kerberos_crypto.py``); RC4 stays impacket's.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from Cryptodome.Cipher import DES
from impacket.krb5 import crypto as _impacket

from ._errors import ErrorCode, IntegrityError, KerberosError

__all__ = [
    "Enctype",
    "Cksumtype",
    "KeyUsage",
    "Key",
    "Rng",
    "SUPPORTED_ENCTYPES",
    "WEAK_ENCTYPES",
    "enctype_name",
    "string_to_key",
    "random_key",
    "encrypt",
    "decrypt",
    "make_checksum",
    "verify_checksum",
    "checksum_type_for",
    "mod_crc32",
]

#: A source of random bytes, ``os.urandom``'s shape; injected so tests can be repeatable.
Rng = Callable[[int], bytes]


class Enctype(IntEnum):
    """Encryption types (RFC 3961 §8, RFC 3962, RFC 4757) this package implements."""

    DES_CBC_CRC = 1
    DES_CBC_MD5 = 3
    DES3_CBC_SHA1 = 16
    AES128_CTS_HMAC_SHA1_96 = 17
    AES256_CTS_HMAC_SHA1_96 = 18
    RC4_HMAC = 23


class Cksumtype(IntEnum):
    """Checksum types (RFC 3961 §8, RFC 3962, RFC 4757) this package implements."""

    RSA_MD5 = 7
    HMAC_SHA1_DES3_KD = 12
    HMAC_SHA1_96_AES128 = 15
    HMAC_SHA1_96_AES256 = 16
    HMAC_MD5 = -138


class KeyUsage(IntEnum):
    """Key usage numbers (RFC 4120 §7.5.1, RFC 4121 §2, RFC 6806 §11) this package uses."""

    AS_REQ_PA_ENC_TIMESTAMP = 1
    KDC_REP_TICKET = 2
    AS_REP_ENC_PART = 3
    TGS_REQ_AUTH_CKSUM = 6
    TGS_REQ_AUTHENTICATOR = 7
    TGS_REP_ENC_PART_SESSION_KEY = 8
    TGS_REP_ENC_PART_SUBKEY = 9
    AP_REQ_AUTH_CKSUM = 10
    AP_REQ_AUTHENTICATOR = 11
    AP_REP_ENC_PART = 12
    # RFC 4121 §2: the acceptor's numbers come first.
    GSS_ACCEPTOR_SEAL = 22
    GSS_ACCEPTOR_SIGN = 23
    GSS_INITIATOR_SEAL = 24
    GSS_INITIATOR_SIGN = 25
    AS_REQ = 56  # RFC 6806 §11: the KDC's checksum over the AS-REQ (PA-REQ-ENC-PA-REP)


#: Every enctype this package can use, strongest first.
SUPPORTED_ENCTYPES: tuple[Enctype, ...] = (
    Enctype.AES256_CTS_HMAC_SHA1_96,
    Enctype.AES128_CTS_HMAC_SHA1_96,
    Enctype.RC4_HMAC,
    Enctype.DES3_CBC_SHA1,
    Enctype.DES_CBC_MD5,
    Enctype.DES_CBC_CRC,
)

#: Enctypes MIT and Java only use with ``allow_weak_crypto = true``: single DES (RFC 6649
#: deprecates it). JDK 17 also leaves out RC4 and 3DES unless weak crypto is allowed.
WEAK_ENCTYPES: frozenset[Enctype] = frozenset({Enctype.DES_CBC_CRC, Enctype.DES_CBC_MD5})

_NAMES = {
    1: "des-cbc-crc",
    3: "des-cbc-md5",
    16: "des3-cbc-sha1",
    17: "aes128-cts-hmac-sha1-96",
    18: "aes256-cts-hmac-sha1-96",
    23: "arcfour-hmac",
}


def enctype_name(enctype: int) -> str:
    """MIT's name for an enctype (``aes256-cts-hmac-sha1-96``), ``etype-<n>`` if unknown."""
    return _NAMES.get(int(enctype), f"etype-{int(enctype)}")


@dataclass(frozen=True)
class Key:
    """A protocol key: its enctype and its bytes. ``repr`` never shows the bytes."""

    enctype: int
    contents: bytes

    def __post_init__(self) -> None:
        size = _KEY_SIZES.get(self.enctype)
        if size is None:
            raise _unsupported(self.enctype)
        if len(self.contents) != size:
            raise ValueError(
                f"a {enctype_name(self.enctype)} key is {size} bytes, got {len(self.contents)}")

    def __repr__(self) -> str:
        return f"Key({enctype_name(self.enctype)}, {len(self.contents)} bytes)"


_KEY_SIZES = {1: 8, 3: 8, 16: 24, 17: 16, 18: 32, 23: 16}


def _unsupported(enctype: int) -> KerberosError:
    return KerberosError(ErrorCode.KDC_ERR_ETYPE_NOSUPP,
                         f"encryption type {enctype_name(enctype)} ({int(enctype)}) is not supported")


def _impacket_key(key: Key) -> _impacket.Key:
    return _impacket.Key(int(key.enctype), key.contents)


# -- single DES (RFC 3961 §6.2) -------------------------------------------------------------

# The 16 weak and semi-weak DES keys (RFC 3961 §6.2, from FIPS 74), with parity.
_WEAK_DES_KEYS = frozenset(bytes.fromhex(k) for k in (
    "0101010101010101", "fefefefefefefefe", "e0e0e0e0f1f1f1f1", "1f1f1f1f0e0e0e0e",
    "011f011f010e010e", "1f011f010e010e01", "01e001e001f101f1", "e001e001f101f101",
    "01fe01fe01fe01fe", "fe01fe01fe01fe01", "1fe01fe00ef10ef1", "e01fe01ff10ef10e",
    "1ffe1ffe0efe0efe", "fe1ffe1ffe0efe0e", "e0fee0fef1fef1fe", "fee0fee0fef1fef1",
))


def _odd_parity(byte: int) -> int:
    """The byte with its low bit set so that it has an odd number of one bits (DES parity)."""
    high = byte & 0xFE
    return high | (0 if bin(high).count("1") % 2 else 1)


def _des_key_correction(key: bytes) -> bytes:
    """RFC 3961 §6.2 ``key_correction``: fix parity; a weak key gets its last byte XOR 0xF0."""
    fixed = bytearray(_odd_parity(b) for b in key)
    if bytes(fixed) in _WEAK_DES_KEYS:
        fixed[7] ^= 0xF0
    return bytes(fixed)


def _des_string_to_key(password: bytes, salt: bytes) -> bytes:
    """RFC 3961 §6.2 ``mit_des_string_to_key``: fan-fold of 7-bit groups, then a DES CBC-MAC."""
    data = password + salt
    data += b"\0" * (-len(data) % 8)
    folded = 0  # 56-bit accumulator
    for index in range(0, len(data), 8):
        bits = 0
        for byte in data[index:index + 8]:  # removeMSBits: the low 7 bits of each byte
            bits = (bits << 7) | (byte & 0x7F)
        if (index // 8) % 2:  # every second block is bit-reversed before folding
            bits = int(format(bits, "056b")[::-1], 2)
        folded ^= bits
    # add_parity_bits: each 7-bit group becomes the high bits of a byte.
    groups = [(folded >> (49 - 7 * i)) & 0x7F for i in range(8)]
    temp_key = _des_key_correction(bytes(g << 1 for g in groups))
    cbc_mac = DES.new(temp_key, DES.MODE_CBC, iv=temp_key).encrypt(data)[-8:]
    return _des_key_correction(cbc_mac)


def mod_crc32(data: bytes) -> bytes:
    """The "modified CRC-32" of RFC 3961 §6.1.3, as the 4 bytes des-cbc-crc stores.

    ISO 3309's CRC without the initial all-ones register and without the final
    complement, stored least significant byte first (RFC 3961 appendix A.5 vectors).
    """
    # zlib.crc32(data, v) computes ~update(~v, data): v = 0xFFFFFFFF starts from a zero
    # register, and XOR-ing the result undoes the final complement.
    return struct.pack("<I", zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF)


def _des_crc_encrypt(key: bytes, plaintext: bytes, confounder: bytes) -> bytes:
    # RFC 3961 §6.2.3: confounder | checksum | msg | pad, the checksum computed with its own
    # field zeroed; DES-CBC with the key itself as the initial vector.
    body = confounder + b"\0" * 4 + plaintext
    body += b"\0" * (-len(body) % 8)
    body = body[:8] + mod_crc32(body) + body[12:]
    return DES.new(key, DES.MODE_CBC, iv=key).encrypt(body)


def _des_crc_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    body = DES.new(key, DES.MODE_CBC, iv=key).decrypt(ciphertext)
    expected = mod_crc32(body[:8] + b"\0" * 4 + body[12:])
    if not hmac.compare_digest(expected, body[8:12]):
        raise IntegrityError()
    # The padding stays: des-cbc-crc cannot tell it from the message (RFC 3961 §6.2.3);
    # DER decoders ignore trailing zero bytes only if asked to, so callers strip them.
    return body[12:]


# -- string-to-key ----------------------------------------------------------------------------

def string_to_key(enctype: int, password: str | bytes, salt: str | bytes,
                  params: bytes | None = None) -> Key:
    """The long-term key of ``password`` for ``enctype`` with ``salt`` (RFC 3961 §3).

    ``params`` are the s2kparams of ETYPE-INFO2 (AES: a 4-byte big-endian iteration count,
    default 4096). Results are cached, so an account's keys are derived once.
    """
    password_bytes = password.encode("utf-8") if isinstance(password, str) else bytes(password)
    salt_bytes = salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)
    return _string_to_key_cached(int(enctype), password_bytes, salt_bytes, params or b"")


@lru_cache(maxsize=4096)
def _string_to_key_cached(enctype: int, password: bytes, salt: bytes, params: bytes) -> Key:
    if enctype in (Enctype.AES128_CTS_HMAC_SHA1_96, Enctype.AES256_CTS_HMAC_SHA1_96):
        if params and len(params) != 4:
            raise ValueError(f"AES s2kparams are 4 bytes (an iteration count), got {len(params)}")
        (iterations,) = struct.unpack(">I", params) if params else (4096,)
        size = _KEY_SIZES[enctype]
        # RFC 3962 §4: PBKDF2-HMAC-SHA1, then DK(tkey, "kerberos").
        seed = hashlib.pbkdf2_hmac("sha1", password, salt, iterations, size)
        profile = _impacket._get_enctype_profile(enctype)
        derived = profile.derive(profile.random_to_key(seed), b"kerberos")
        return Key(enctype, bytes(derived.contents))
    if params:
        raise ValueError(f"{enctype_name(enctype)} takes no string-to-key parameters")
    if enctype in (Enctype.DES_CBC_CRC, Enctype.DES_CBC_MD5):
        return Key(enctype, _des_string_to_key(password, salt))
    if enctype == Enctype.RC4_HMAC:
        # RFC 4757 §2: the NT hash; there is no salt. impacket decodes the password itself.
        derived = _impacket._RC4.string_to_key(password.decode("utf-8"), salt, None)
        return Key(enctype, bytes(derived.contents))
    if enctype == Enctype.DES3_CBC_SHA1:
        derived = _impacket._DES3CBC.string_to_key(password, salt, None)
        return Key(enctype, bytes(derived.contents))
    raise _unsupported(enctype)


def random_key(enctype: int, rng: Rng = os.urandom) -> Key:
    """A fresh random key (session keys, subkeys, the krbtgt key), parity-correct for DES."""
    enctype = int(enctype)
    if enctype in (Enctype.DES_CBC_CRC, Enctype.DES_CBC_MD5):
        return Key(enctype, _des_key_correction(rng(8)))
    if enctype == Enctype.DES3_CBC_SHA1:
        # RFC 3961 §6.3.1 random-to-key: 21 random bytes spread over three parity-correct keys.
        return Key(enctype, bytes(_impacket._DES3CBC.random_to_key(rng(21)).contents))
    if enctype in _KEY_SIZES:
        return Key(enctype, rng(_KEY_SIZES[enctype]))
    raise _unsupported(enctype)


# -- derived keys (RFC 3961 §5.3) -------------------------------------------------------------

_AES = frozenset({Enctype.AES128_CTS_HMAC_SHA1_96, Enctype.AES256_CTS_HMAC_SHA1_96})
_ZERO_IV = bytes(16)


@lru_cache(maxsize=64)
def _nfold(constant: bytes, size: int) -> bytes:
    """RFC 3961 §5.1 n-fold of a usage constant: a handful of distinct ones, each folded once."""
    return bytes(_impacket._nfold(constant, size))


def _derive(enctype: int, contents: bytes, *constants: bytes) -> tuple[bytes, ...]:
    """DK(key, constant) for each constant (RFC 3961 §5.1): the key's cipher run over the
    n-folded constant, its output fed back until there are enough bytes."""
    profile = _impacket._get_enctype_profile(enctype)
    if enctype not in _AES:
        return tuple(bytes(profile.derive(_impacket.Key(enctype, contents), c).contents) for c in constants)
    # AES: CBC with a zero IV over one block is ECB (RFC 3962 §5), and ECB runs the blocks
    # of every constant side by side; random-to-key is the identity.
    cipher = Cipher(algorithms.AES(contents), modes.ECB()).encryptor()
    blocks = b"".join(_nfold(c, 16) for c in constants)
    seeds = [b""] * len(constants)
    while len(seeds[0]) < profile.seedsize:
        blocks = cipher.update(blocks)
        seeds = [seed + blocks[16 * i:16 * i + 16] for i, seed in enumerate(seeds)]
    return tuple(seed[:profile.seedsize] for seed in seeds)


@dataclass(frozen=True)
class _UsageKeys:
    """Ke and Ki for one (key, usage): the key's encryption and integrity sub-keys."""

    ke: bytes
    ki: bytes
    # AES under Ke, ECB and CBC with a zero IV (None for other enctypes): factories of
    # fresh contexts, one per message, so threads never share one.
    ecb: Any
    cbc: Any


# Session keys and subkeys come and go; a few thousand entries keep the live ones (the
# krbtgt key, the service keys, the TGT session keys of the clients of the moment).
@lru_cache(maxsize=4096)
def _usage_keys(enctype: int, contents: bytes, usage: int) -> _UsageKeys:
    ke, ki = _derive(enctype, contents, struct.pack(">IB", usage, 0xAA), struct.pack(">IB", usage, 0x55))
    if enctype in _AES:
        aes = algorithms.AES(ke)
        return _UsageKeys(ke, ki, Cipher(aes, modes.ECB()), Cipher(aes, modes.CBC(_ZERO_IV)))
    return _UsageKeys(ke, ki, None, None)


@lru_cache(maxsize=4096)
def _checksum_key(enctype: int, contents: bytes, usage: int) -> bytes:
    """Kc for keyed checksums (RFC 3961 §5.3)."""
    return _derive(enctype, contents, struct.pack(">IB", usage, 0x99))[0]


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _aes_cts_encrypt(keys: _UsageKeys, plaintext: bytes) -> bytes:
    """CBC-CS3 with a zero IV (RFC 3962 §5): the last two blocks swapped, the last truncated."""
    padded = plaintext + bytes(-len(plaintext) % 16)
    encryptor = keys.cbc.encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    if len(plaintext) <= 16:
        return ciphertext
    last = len(plaintext) % 16 or 16
    return ciphertext[:-32] + ciphertext[-16:] + ciphertext[-32:-16][:last]


def _aes_cts_decrypt(keys: _UsageKeys, ciphertext: bytes) -> bytes:
    """The inverse of :func:`_aes_cts_encrypt`; ``ciphertext`` is at least one block."""
    ecb = keys.ecb.decryptor()
    if len(ciphertext) == 16:
        return ecb.update(ciphertext)
    last = len(ciphertext) % 16 or 16
    head, final_block, partial = ciphertext[:-16 - last], ciphertext[-16 - last:-last], ciphertext[-last:]
    # Decrypting the last whole block gives the tail of the truncated one (RFC 3962 §5).
    tail = ecb.update(final_block)[last:]
    blocks = head + partial + tail + final_block
    plain = _xor(ecb.update(blocks), _ZERO_IV + blocks[:-16])  # CBC, every block at once
    return plain[:len(ciphertext)]


# -- encrypt / decrypt ------------------------------------------------------------------------

# Smallest ciphertext and block alignment per enctype: confounder + MAC, checked before any
# cipher runs so malformed input never reaches impacket's assertions.
_MIN_CIPHERTEXT = {1: 16, 3: 24, 16: 28, 17: 28, 18: 28, 23: 24}
_ALIGNMENT = {1: 8, 3: 8, 16: 8}


def encrypt(key: Key, usage: int, plaintext: bytes, *, rng: Rng = os.urandom) -> bytes:
    """Encrypt ``plaintext`` under ``key`` for key usage ``usage`` (RFC 3961 §3)."""
    if key.enctype == Enctype.DES_CBC_CRC:
        return _des_crc_encrypt(key.contents, bytes(plaintext), rng(8))
    profile = _impacket._get_enctype_profile(key.enctype)
    if key.enctype in _AES or key.enctype == Enctype.DES3_CBC_SHA1:
        # RFC 3961 §5.3: E(Ke, confounder | plaintext | pad) | HMAC(Ki, same)[:h].
        keys = _usage_keys(key.enctype, key.contents, int(usage))
        basic = rng(profile.blocksize) + bytes(plaintext)
        if key.enctype in _AES:
            return _aes_cts_encrypt(keys, basic) + hmac.digest(keys.ki, basic, "sha1")[:12]
        basic += bytes(-len(basic) % 8)
        return (bytes(profile.basic_encrypt(_impacket.Key(key.enctype, keys.ke), basic))
                + hmac.digest(keys.ki, basic, "sha1"))
    confounder_size = 8 if key.enctype == Enctype.RC4_HMAC else profile.blocksize
    return bytes(profile.encrypt(_impacket_key(key), int(usage), bytes(plaintext), rng(confounder_size)))


def decrypt(key: Key, usage: int, ciphertext: bytes) -> bytes:
    """Decrypt and verify; raises :class:`~fakes.kerberos.IntegrityError` when it does not verify.

    Single-DES plaintexts keep their zero padding (the enctypes cannot mark it); the ASN.1
    decoders of this package accept trailing zero bytes for that reason.
    """
    ciphertext = bytes(ciphertext)
    if len(ciphertext) < _MIN_CIPHERTEXT[key.enctype]:
        raise IntegrityError(f"{enctype_name(key.enctype)} ciphertext too short ({len(ciphertext)} bytes)")
    alignment = _ALIGNMENT.get(key.enctype)
    mac_size = 20 if key.enctype == Enctype.DES3_CBC_SHA1 else 0
    if alignment and (len(ciphertext) - mac_size) % alignment:
        raise IntegrityError(f"{enctype_name(key.enctype)} ciphertext is not a whole number of blocks")
    if key.enctype == Enctype.DES_CBC_CRC:
        return _des_crc_decrypt(key.contents, ciphertext)
    profile = _impacket._get_enctype_profile(key.enctype)
    if key.enctype in _AES or key.enctype == Enctype.DES3_CBC_SHA1:
        keys = _usage_keys(key.enctype, key.contents, int(usage))
        if key.enctype in _AES:
            body, mac = ciphertext[:-12], ciphertext[-12:]
            basic = _aes_cts_decrypt(keys, body)
            expected = hmac.digest(keys.ki, basic, "sha1")[:12]
        else:
            body, mac = ciphertext[:-20], ciphertext[-20:]
            basic = bytes(profile.basic_decrypt(_impacket.Key(key.enctype, keys.ke), body))
            expected = hmac.digest(keys.ki, basic, "sha1")
        if not hmac.compare_digest(expected, mac):
            raise IntegrityError()
        return basic[profile.blocksize:]  # without the confounder
    try:
        return bytes(profile.decrypt(_impacket_key(key), int(usage), ciphertext))
    except ValueError as exc:  # impacket's InvalidChecksum is a ValueError
        raise IntegrityError(str(exc) or "ciphertext integrity failure") from exc


# -- checksums --------------------------------------------------------------------------------

# The keyed checksum that goes with each enctype (RFC 3961 §4 "required checksum mechanism").
# Single DES maps to rsa-md5, as Java does for TGS-REQ authenticators with DES session keys.
_CHECKSUM_FOR_ENCTYPE = {
    1: Cksumtype.RSA_MD5,
    3: Cksumtype.RSA_MD5,
    16: Cksumtype.HMAC_SHA1_DES3_KD,
    17: Cksumtype.HMAC_SHA1_96_AES128,
    18: Cksumtype.HMAC_SHA1_96_AES256,
    23: Cksumtype.HMAC_MD5,
}
# Keyed checksum type -> the enctype its key must have.
_KEYED_CHECKSUMS = {12: 16, 15: 17, 16: 18, -138: 23}


def checksum_type_for(enctype: int) -> Cksumtype:
    """The checksum type a client uses with a key of ``enctype``."""
    try:
        return _CHECKSUM_FOR_ENCTYPE[int(enctype)]
    except KeyError:
        raise _unsupported(enctype) from None


def make_checksum(cksumtype: int, key: Key | None, usage: int, data: bytes) -> bytes:
    """The checksum of ``data`` (RFC 3961 §4); ``key`` is ignored by unkeyed rsa-md5."""
    cksumtype = int(cksumtype)
    if cksumtype == Cksumtype.RSA_MD5:
        return hashlib.md5(bytes(data)).digest()
    needs = _KEYED_CHECKSUMS.get(cksumtype)
    if needs is None:
        raise KerberosError(ErrorCode.KDC_ERR_SUMTYPE_NOSUPP, f"checksum type {cksumtype} is not supported")
    if key is None or key.enctype != needs:
        have = "no key" if key is None else f"a {enctype_name(key.enctype)} key"
        raise KerberosError(ErrorCode.KRB_AP_ERR_INAPP_CKSUM,
                            f"checksum type {cksumtype} needs a {enctype_name(needs)} key, got {have}")
    if needs in _AES or needs == Enctype.DES3_CBC_SHA1:
        # RFC 3961 §5.4 / RFC 3962: HMAC-SHA1(Kc, data), truncated to 96 bits for AES.
        digest = hmac.digest(_checksum_key(needs, key.contents, int(usage)), bytes(data), "sha1")
        return digest[:12] if needs in _AES else digest
    profile = _impacket._get_checksum_profile(cksumtype)
    return bytes(profile.checksum(_impacket_key(key), int(usage), bytes(data)))


def verify_checksum(cksumtype: int, key: Key | None, usage: int, data: bytes, checksum: bytes) -> None:
    """Check a checksum; raises :class:`~fakes.kerberos.IntegrityError` on mismatch."""
    expected = make_checksum(cksumtype, key, usage, data)
    if not hmac.compare_digest(expected, bytes(checksum)):
        raise IntegrityError("checksum verification failure")
