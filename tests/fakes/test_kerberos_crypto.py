"""Kerberos crypto: the RFC test vectors, equality with impacket where impacket is right, and
the rough edges the wrapper fixes (des-cbc-crc, DES string-to-key, rsa-md5, confounders)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from impacket.krb5 import crypto as impacket_crypto

from fakes.kerberos import (
    Cksumtype,
    Enctype,
    ErrorCode,
    IntegrityError,
    Key,
    KerberosError,
    checksum_type_for,
    decode_pa_enc_ts_enc,
    decrypt,
    encrypt,
    make_checksum,
    mod_crc32,
    random_key,
    string_to_key,
    verify_checksum,
)

ALL_ENCTYPES = [1, 3, 16, 17, 18, 23]

T = TypeVar("T")

# RFC 3962 appendix B: password "password", salt "ATHENA.MIT.EDUraeburn".
RFC3962_VECTORS = [
    (1, "42263c6e89f4fc28b8df68ee09799f15",
     "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"),
    (2, "c651bf29e2300ac27fa469d693bdda13",
     "a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff"),
    (1200, "4c01cd46d632d01e6dbe230a01ed642a",
     "55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a"),
]

# RFC 3961 appendix A.2: mit_des_string_to_key (salt, password, key); the last two hit
# weak keys and exercise the key correction.
RFC3961_DES_VECTORS = [
    ("ATHENA.MIT.EDUraeburn", "password", "cbc22fae235298e3"),
    ("WHITEHOUSE.GOVdanny", "potatoe", "df3d32a74fd92a01"),
    ("EXAMPLE.COMbuckaroo", "penny", "9443a2e532fdc4f1"),
    ("ATHENA.MIT.EDUJuri\u0161i\u0107", "\u00df", "62c81a5232b5e69d"),
    ("AAAAAAAA", "11119999", "984054d0f1a73e31"),
    ("FFFFAAAA", "NNNN6666", "c4bf6b25adf7a4f8"),
]

# RFC 3961 appendix A.5: the modified CRC-32 of des-cbc-crc.
RFC3961_CRC_VECTORS = [
    (b"foo", "33bc3273"),
    (b"test0123456789", "d6883eb8"),
    (b"MASSACHVSETTS INSTITVTE OF TECHNOLOGY", "f78041e3"),
    (b"\x80\x00", "4b98833b"),
]


def counting_rng(seed: int = 0):
    """A repeatable rng: bytes seed, seed+1, ... (never use outside tests)."""
    state = [seed]

    def rng(n: int) -> bytes:
        out = bytes((state[0] + i) & 0xFF for i in range(n))
        state[0] += n
        return out

    return rng


@pytest.mark.parametrize("iterations, aes128, aes256", RFC3962_VECTORS)
def test_aes_string_to_key_matches_rfc3962(iterations: int, aes128: str, aes256: str) -> None:
    params = iterations.to_bytes(4, "big")
    assert string_to_key(17, "password", "ATHENA.MIT.EDUraeburn", params).contents.hex() == aes128
    assert string_to_key(18, "password", "ATHENA.MIT.EDUraeburn", params).contents.hex() == aes256


@pytest.mark.parametrize("enctype", [17, 18])
@pytest.mark.parametrize("password, salt", [("Genesys#OCS-2024", "COMPANYA.COMocs-ucc"),
                                            ("pässwörd", "COMPANYA.COMhostfe01.companya.com")])
def test_fast_aes_string_to_key_equals_impacket(enctype: int, password: str, salt: str) -> None:
    ours = string_to_key(enctype, password, salt)
    theirs = impacket_crypto.string_to_key(enctype, password, salt)
    assert ours.contents == theirs.contents


def _counting(real: Callable[..., T], calls: list[tuple[Any, ...]]) -> Callable[..., T]:
    """``real`` itself, noting the positional arguments of every call in ``calls``."""

    def wrapper(*args: Any, **kwargs: Any) -> T:
        calls.append(args)
        return real(*args, **kwargs)

    return wrapper


def test_aes_string_to_key_runs_hashlib_pbkdf2_once_per_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # What makes the derivation fast, asserted as behaviour (the speed itself is a benchmark's
    # business, not a test's): the PBKDF2 is hashlib's, not the Python loop impacket's AES
    # profiles run (~0.3 s a key), and each key is derived once, then served from the cache.
    hashlib_calls: list[tuple[Any, ...]] = []
    python_calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(hashlib, "pbkdf2_hmac", _counting(hashlib.pbkdf2_hmac, hashlib_calls))
    monkeypatch.setattr(impacket_crypto, "PBKDF2", _counting(impacket_crypto.PBKDF2, python_calls))
    password = f"fresh-{secrets.token_hex(8)}"  # never derived before in this process
    salt = "COMPANYA.COMfresh"
    first = string_to_key(18, password, salt)
    assert hashlib_calls == [("sha1", password.encode(), salt.encode(), 4096, 32)]
    assert string_to_key(18, password, salt) is first
    assert string_to_key(18, password.encode(), salt.encode()) is first  # str or bytes: one key
    assert len(hashlib_calls) == 1
    aes128 = string_to_key(17, password, salt)  # another enctype is another key
    assert hashlib_calls[1:] == [("sha1", password.encode(), salt.encode(), 4096, 16)]
    assert aes128.enctype == 17 and len(aes128.contents) == 16
    assert python_calls == []


@pytest.mark.parametrize("salt, password, expected", RFC3961_DES_VECTORS)
@pytest.mark.parametrize("enctype", [1, 3])
def test_des_string_to_key_matches_rfc3961(enctype: int, salt: str, password: str, expected: str) -> None:
    assert string_to_key(enctype, password, salt).contents.hex() == expected


def test_des3_and_rc4_string_to_key() -> None:
    # RFC 3961 A.4 (des3) and the NT hash of "password" (RC4, RFC 4757 §2: no salt).
    des3 = string_to_key(16, "password", "ATHENA.MIT.EDUraeburn")
    assert des3.contents.hex() == "850bb51358548cd05e86768c313e3bfef7511937dcf72c3e"
    assert string_to_key(23, "password", "ignored").contents.hex() == "8846f7eaee8fb117ad06bdd830b7586c"


@pytest.mark.parametrize("data, expected", RFC3961_CRC_VECTORS)
def test_modified_crc32_matches_rfc3961(data: bytes, expected: str) -> None:
    assert mod_crc32(data).hex() == expected


def test_random_des_keys_have_odd_parity_and_weak_keys_are_corrected() -> None:
    for enctype in (1, 3):
        key = random_key(enctype)
        assert all(bin(b).count("1") % 2 == 1 for b in key.contents)
    weak = random_key(3, lambda n: b"\x01" * n)  # 0101010101010101 is a weak key
    assert weak.contents.hex() == "01010101010101f1"


@pytest.mark.parametrize("enctype", ALL_ENCTYPES)
def test_encrypt_round_trips_with_an_injected_rng(enctype: int) -> None:
    key = random_key(enctype, counting_rng(7))
    for message in (b"", b"x", b"sixteen bytes!!!", b"a longer message that spans several blocks" * 3):
        ciphertext = encrypt(key, 3, message, rng=counting_rng(1))
        assert ciphertext == encrypt(key, 3, message, rng=counting_rng(1))  # repeatable
        plain = decrypt(key, 3, ciphertext)
        # DES and 3DES pad to 8 bytes with zeros; nothing else is added.
        assert plain.rstrip(b"\0") == message.rstrip(b"\0")
        assert plain[:len(message)] == message


@pytest.mark.parametrize("enctype", [16, 17, 18])
def test_encrypt_decrypt_and_checksums_equal_impackets(enctype: int) -> None:
    # The simplified-profile enctypes run on cached derived keys and whole-buffer AES-CTS
    # here: every usage and every length around the block boundaries gives impacket's bytes.
    key = random_key(enctype, counting_rng(enctype))
    theirs = impacket_crypto._get_enctype_profile(enctype)
    their_key = impacket_crypto.Key(enctype, key.contents)
    checksum = impacket_crypto._get_checksum_profile(checksum_type_for(enctype))
    block = theirs.blocksize
    for usage in (1, 2, 3, 6, 7, 8, 9, 11, 12, 22, 23, 24, 25, 56, 1024):
        for length in (*range(0, 50), 63, 64, 65, 200, 1000):
            message = bytes((usage + i) & 0xFF for i in range(length))
            ours = encrypt(key, usage, message, rng=counting_rng(length))
            padded = message + bytes(-len(message) % theirs.padsize)
            assert ours == theirs.encrypt(their_key, usage, padded, counting_rng(length)(block))
            assert decrypt(key, usage, ours)[:length] == message
            assert make_checksum(checksum_type_for(enctype), key, usage, message) == checksum.checksum(
                their_key, usage, message)


def test_derived_keys_are_cached_per_key_and_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    # What makes encrypt and decrypt fast, asserted as behaviour: Ke and Ki (and Kc) are
    # derived once per (key, usage), and the n-fold of each usage constant once.
    from fakes.kerberos import _crypto

    derivations: list[tuple[Any, ...]] = []
    monkeypatch.setattr(_crypto, "_derive", _counting(_crypto._derive, derivations))
    key = random_key(18)  # never used before in this process
    ciphertext = encrypt(key, 7, b"authenticator")
    assert decrypt(key, 7, ciphertext) == b"authenticator"
    assert decrypt(key, 7, encrypt(key, 7, b"again")) == b"again"
    assert [d[2:] for d in derivations] == [(b"\0\0\0\x07\xaa", b"\0\0\0\x07\x55")]  # Ke, Ki: once
    encrypt(key, 9, b"reply")
    make_checksum(16, key, 6, b"req-body")
    make_checksum(16, key, 6, b"req-body")
    assert [d[2:] for d in derivations[1:]] == [(b"\0\0\0\x09\xaa", b"\0\0\0\x09\x55"), (b"\0\0\0\x06\x99",)]
    nfolds: list[tuple[Any, ...]] = []
    monkeypatch.setattr(impacket_crypto, "_nfold", _counting(impacket_crypto._nfold, nfolds))
    encrypt(random_key(18), 7, b"a fresh key, a known usage")
    assert nfolds == []


@pytest.mark.parametrize("enctype", ALL_ENCTYPES)
def test_tampered_or_short_ciphertext_is_an_integrity_error(enctype: int) -> None:
    key = random_key(enctype)
    ciphertext = bytearray(encrypt(key, 3, b"attack at dawn, attack at dawn!"))
    ciphertext[len(ciphertext) // 2] ^= 0x01
    with pytest.raises(IntegrityError):
        decrypt(key, 3, bytes(ciphertext))
    for length in (0, 5, 9, 15):
        with pytest.raises(IntegrityError):
            decrypt(key, 3, bytes(ciphertext[:length]))


def test_des_cbc_crc_uses_the_key_as_ivec_and_ignores_key_usage() -> None:
    key = string_to_key(1, "password", "ATHENA.MIT.EDUraeburn")
    ciphertext = encrypt(key, 3, b"hello", rng=counting_rng())
    assert decrypt(key, 11, ciphertext)[:5] == b"hello"  # RFC 3961 §6.2.3: no key usage
    # With a zero IV (des-cbc-md5's) the first block would differ.
    md5_key = Key(3, key.contents)
    assert encrypt(md5_key, 3, b"hello", rng=counting_rng())[:8] != ciphertext[:8]


# PA-ENC-TIMESTAMPs as OpenJDK 17 encrypts them (sun.security.krb5.EncryptedData(key,
# plaintext, 1), krb5.conf with allow_weak_crypto = true), computed once with Java and
# written down here. Key: EncryptionKey.acquireSecretKey("Des-Only#1", "COMPANYA.COMocs-des",
# etype, null); plaintext: the 28-byte PA-ENC-TS-ENC for 2026-11-27 06:56:02.123456Z.
# JDK pads single-DES plaintexts PKCS#5 style, 1 to 8 bytes each holding the pad length:
# des-cbc-crc's 8 + 4 + 28 bytes are already a whole number of blocks, so JDK appends a
# whole block of 08; des-cbc-md5's 8 + 16 + 28 get 04 04 04 04.
JDK_DES_KEY = "9e57028f54859dba"
JDK_PA_ENC_TS_ENC = "301aa011180f32303236313132373036353630325aa105020301e240"
JDK_DES_VECTORS = [
    (1, "0ede4d496634a6ba", "0808080808080808",
     "a0a2bf46e41cf9c120bc7e711fbb405025e43404f6c28913096ed4d3eab398c9b8c4ec02dc37440810aa763b1ad4d7fb"),
    (3, "6bc57e0dde322ac3", "04040404",
     "726825e33f07861b604578d9a67c0294ad99d8e223bc255776b67b1fa4ddae1b"
     "6514d64950addb3ebb5d1a56858b40b3aab519a69b99aa7b"),
]


@pytest.mark.parametrize("enctype, confounder, padding, ciphertext", JDK_DES_VECTORS)
def test_single_des_interoperates_with_jdk17(enctype: int, confounder: str, padding: str, ciphertext: str) -> None:
    key = string_to_key(enctype, "Des-Only#1", "COMPANYA.COMocs-des")
    assert key.contents.hex() == JDK_DES_KEY
    plain = decrypt(key, 1, bytes.fromhex(ciphertext))
    assert plain.hex() == JDK_PA_ENC_TS_ENC + padding
    # The KDC reads the timestamp through JDK's padding, a whole block of it included.
    stamp = decode_pa_enc_ts_enc(plain)
    assert stamp.isoformat() == "2026-11-27T06:56:02.123456+00:00"
    # Same confounder, same (already padded) plaintext: byte for byte what JDK sent, so
    # IVEC, checksum (des-cbc-crc's modified CRC-32 over confounder|zeros|msg|pad) and
    # block layout agree with JDK's DesCbcCrcEType / DesCbcMd5EType.
    assert encrypt(key, 1, plain, rng=lambda n: bytes.fromhex(confounder)).hex() == ciphertext


def test_wrong_key_does_not_decrypt() -> None:
    message = encrypt(string_to_key(18, "right", "COMPANYA.COMocs-ucc"), 1, b"timestamp")
    with pytest.raises(IntegrityError):
        decrypt(string_to_key(18, "wrong", "COMPANYA.COMocs-ucc"), 1, message)


def test_rsa_md5_is_unkeyed_md5() -> None:
    data = b"req-body bytes as sent"
    assert make_checksum(Cksumtype.RSA_MD5, None, 6, data) == hashlib.md5(data).digest()
    verify_checksum(7, random_key(3), 6, data, hashlib.md5(data).digest())
    with pytest.raises(IntegrityError):
        verify_checksum(7, None, 6, data + b"!", hashlib.md5(data).digest())


@pytest.mark.parametrize("enctype, cksumtype, size", [(18, 16, 12), (17, 15, 12), (16, 12, 20), (23, -138, 16),
                                                      (3, 7, 16), (1, 7, 16)])
def test_keyed_checksums_and_the_type_each_enctype_uses(enctype: int, cksumtype: int, size: int) -> None:
    key = random_key(enctype)
    assert checksum_type_for(enctype) == cksumtype
    checksum = make_checksum(cksumtype, key, 6, b"data")
    assert len(checksum) == size
    verify_checksum(cksumtype, key, 6, b"data", checksum)
    with pytest.raises(IntegrityError):
        verify_checksum(cksumtype, key, 6, b"datA", checksum)


def test_checksum_errors_carry_kerberos_codes() -> None:
    with pytest.raises(KerberosError) as unsupported:
        make_checksum(8, random_key(3), 6, b"data")  # rsa-md5-des is not implemented
    assert unsupported.value.code == ErrorCode.KDC_ERR_SUMTYPE_NOSUPP
    with pytest.raises(KerberosError) as wrong_key:
        make_checksum(16, random_key(17), 6, b"data")  # aes256 checksum with an aes128 key
    assert wrong_key.value.code == ErrorCode.KRB_AP_ERR_INAPP_CKSUM
    assert wrong_key.value.name == "KRB_AP_ERR_INAPP_CKSUM"


def test_unsupported_enctype_and_key_repr() -> None:
    with pytest.raises(KerberosError) as caught:
        string_to_key(20, "pw", "salt")  # aes256-cts-hmac-sha384-192
    assert caught.value.code == 14 and "etype-20" in caught.value.text
    key = random_key(Enctype.AES256_CTS_HMAC_SHA1_96)
    assert key.contents.hex() not in repr(key) and "aes256" in repr(key)
    with pytest.raises(ValueError, match="32 bytes"):
        Key(18, b"short")
