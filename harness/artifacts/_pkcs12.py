"""PKCS#12 at the level of bags: what is in a PFX, how each part is protected, and the MAC.

:mod:`cryptography` reads a PFX as "a key, a certificate, more certificates". What Java
and Windows do with a PFX depends on more than that: whether the key bag is shrouded
(encrypted) or not, each bag's friendly name and local key id, Oracle's trusted-key-usage
attribute, and whether the certificates sit in an encrypted container. This module exposes
those; :mod:`._pfx` (the Windows/OpenSSL view) and :mod:`._keystore` (the Java view) decide
what they mean.

The steps are separate because the tools run them in different orders: OpenSSL checks the
MAC first ("Mac verify error: invalid password?"); Java decrypts the containers first
("keystore password was incorrect") and checks the MAC last ("Integrity check failed").

Algorithms (RFC 7292, RFC 8018): PBES2 with PBKDF2 and AES-CBC or DES-EDE3-CBC (OpenSSL 3,
Windows "AES256-SHA256", JDK 17 keytool); PKCS#12 PBE with SHA-1 and 3DES (Windows
"TripleDES-SHA1") or RC2 (OpenSSL's ``-legacy`` encrypts certificates with 40-bit RC2, and
so did older JDKs' keytool). MACs: HMAC with SHA-1 or SHA-2 over the PKCS#12 KDF.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

# cryptography's RC2 takes 128-bit keys only; 40-bit RC2 (OpenSSL -legacy, older JDKs'
# keytool) needs pycryptodomex, which pyjks requires anyway.
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from . import _der
from ._der import DerError, Tlv

__all__ = [
    "Pkcs12Error",
    "Pkcs12FormatError",
    "Pkcs12DecryptError",
    "Pkcs12UnsupportedError",
    "Protection",
    "MacData",
    "Container",
    "Pfx",
    "SafeBag",
    "looks_like_pkcs12",
    "parse_pfx",
    "verify_mac",
    "open_container",
    "decrypt_shrouded_key",
    "KEY_BAG",
    "SHROUDED_KEY_BAG",
    "CERT_BAG",
    "SECRET_BAG",
    "ORACLE_TRUSTED_KEY_USAGE",
]

ID_DATA = "1.2.840.113549.1.7.1"
ID_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
ID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"

KEY_BAG = "1.2.840.113549.1.12.10.1.1"
SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
CERT_BAG = "1.2.840.113549.1.12.10.1.3"
SECRET_BAG = "1.2.840.113549.1.12.10.1.5"
_BAG_NAMES = {
    KEY_BAG: "keyBag",
    SHROUDED_KEY_BAG: "pkcs8ShroudedKeyBag",
    CERT_BAG: "certBag",
    "1.2.840.113549.1.12.10.1.4": "crlBag",
    SECRET_BAG: "secretBag",
    "1.2.840.113549.1.12.10.1.6": "safeContentsBag",
}
X509_CERTIFICATE = "1.2.840.113549.1.9.22.1"
FRIENDLY_NAME = "1.2.840.113549.1.9.20"
LOCAL_KEY_ID = "1.2.840.113549.1.9.21"
# Java loads a certificate bag as a trustedCertEntry only if it carries this attribute (keytool
# writes it for trusted certificates, so does cryptography's serialize_java_truststore); its
# value is the permitted usage, anyExtendedKeyUsage.
ORACLE_TRUSTED_KEY_USAGE = "2.16.840.1.113894.746875.1.1"

_MAC_DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_PBMAC1 = "1.2.840.113549.1.5.14"

_PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_PRFS = {
    "1.2.840.113549.2.7": ("hmacWithSHA1", hashes.SHA1),
    "1.2.840.113549.2.8": ("hmacWithSHA224", hashes.SHA224),
    "1.2.840.113549.2.9": ("hmacWithSHA256", hashes.SHA256),
    "1.2.840.113549.2.10": ("hmacWithSHA384", hashes.SHA384),
    "1.2.840.113549.2.11": ("hmacWithSHA512", hashes.SHA512),
}
# PBES2 encryption schemes: OID -> (name, key bytes, short name)
_PBES2_CIPHERS = {
    "2.16.840.1.101.3.4.1.2": ("AES-128-CBC", 16, "aes128"),
    "2.16.840.1.101.3.4.1.22": ("AES-192-CBC", 24, "aes192"),
    "2.16.840.1.101.3.4.1.42": ("AES-256-CBC", 32, "aes256"),
    "1.2.840.113549.3.7": ("DES-EDE3-CBC", 24, "3des"),
}
# PKCS#12 PBE (RFC 7292 appendix C): OID -> (name, key bytes, short name)
_PKCS12_PBE = {
    "1.2.840.113549.1.12.1.3": ("pbeWithSHA1And3-KeyTripleDES-CBC", 24, "3des"),
    "1.2.840.113549.1.12.1.4": ("pbeWithSHA1And2-KeyTripleDES-CBC", 16, "3des-2key"),
    "1.2.840.113549.1.12.1.5": ("pbeWithSHA1And128BitRC2-CBC", 16, "rc2-128"),
    "1.2.840.113549.1.12.1.6": ("pbeWithSHA1And40BitRC2-CBC", 5, "rc2-40"),
}
# Java refuses iteration counts above 5,000,000 ("MAC iteration count too large" / "PBE
# iteration count too large"); a damaged count must not make us spin for hours either.
MAX_ITERATIONS = 5_000_000


class Pkcs12Error(Exception):
    """Base of the low-level PKCS#12 errors; the artifact layer turns them into tool wording."""


class Pkcs12FormatError(Pkcs12Error):
    """The bytes are not a PKCS#12 structure (or a broken one)."""


class Pkcs12DecryptError(Pkcs12Error):
    """An encrypted part does not decrypt with the password: in practice, a wrong password."""


class Pkcs12UnsupportedError(Pkcs12Error):
    """A valid PKCS#12 feature this lab does not implement (public-key modes, PBMAC1, RC4…)."""


@dataclass(frozen=True)
class Protection:
    """How one part of a PFX is encrypted."""

    description: str  # as ``openssl pkcs12 -info`` words it, e.g. "PBES2, PBKDF2, AES-256-CBC"
    short: str  # "aes256", "3des", "rc2-40", …
    iterations: int


@dataclass(frozen=True)
class MacData:
    """The integrity MAC of a password-mode PFX."""

    digest: str  # "sha1", "sha256", …
    salt: bytes
    iterations: int
    value: bytes


@dataclass(frozen=True)
class Container:
    """One ContentInfo of the AuthenticatedSafe: plain data or password-encrypted data."""

    index: int
    protection: Protection | None  # None: plain (unencrypted) data
    payload: bytes  # SafeContents DER if plain, ciphertext otherwise
    algorithm: Tlv | None  # the encryption AlgorithmIdentifier


@dataclass(frozen=True)
class Pfx:
    """A parsed PFX before any password is used."""

    containers: tuple[Container, ...]
    mac: MacData | None
    auth_safe: bytes  # the bytes the MAC covers


@dataclass(frozen=True)
class SafeBag:
    """One bag with the attributes that matter to Java and Windows."""

    oid: str
    value: Tlv  # the bag value (inside its [0])
    friendly_name: str | None
    local_key_id: bytes | None
    trusted_key_usage: tuple[str, ...] | None
    index: int  # position in its SafeContents (Java's one-key workaround looks at it)
    container: int

    @property
    def bag_type(self) -> str:
        return _BAG_NAMES.get(self.oid, self.oid)

    @property
    def certificate_der(self) -> bytes | None:
        """The X.509 certificate of a certBag; ``None`` for other bags and other cert types."""
        if self.oid != CERT_BAG:
            return None
        cert_id, cert_value = self.value.children()[:2]
        if cert_id.as_oid() != X509_CERTIFICATE:
            return None
        return cert_value.expect(_der.CONTEXT_0, "certValue").children()[0].as_octets()

    @property
    def key_protection(self) -> Protection | None:
        """How a pkcs8ShroudedKeyBag's key is encrypted."""
        if self.oid != SHROUDED_KEY_BAG:
            return None
        return _describe_algorithm(self.value.children()[0])


def looks_like_pkcs12(data: bytes) -> bool:
    """Whether ``data`` starts as a PFX does: SEQUENCE { INTEGER 3, SEQUENCE { OID id-data… } }.

    Only the headers are read, so a truncated PFX still counts as one.
    """
    try:
        tag, offset, _length = _der.read_header(data)
        if tag != _der.SEQUENCE or data[offset : offset + 3] != b"\x02\x01\x03":
            return False
        tag, offset, _length = _der.read_header(data, offset + 3)
        if tag != _der.SEQUENCE:
            return False
        return _der.read_tlv(data[: offset + 11], offset).as_oid() in (ID_DATA, ID_SIGNED_DATA)
    except DerError:
        return False


def parse_pfx(data: bytes) -> Pfx:
    """Parse the outer structure: containers and MAC. No password needed."""
    try:
        outer = _der.read_single(data).expect(_der.SEQUENCE, "PFX")
        parts = outer.children()
        if len(parts) < 2 or parts[0].as_int() != 3:
            raise Pkcs12FormatError("not a PKCS#12 v3 PFX")
        content_type, content = parts[1].expect(_der.SEQUENCE, "authSafe").children()[:2]
        if content_type.as_oid() != ID_DATA:
            raise Pkcs12UnsupportedError("public-key integrity mode (signedData authSafe) is not supported")
        auth_safe = content.expect(_der.CONTEXT_0, "authSafe content").children()[0].as_octets()
        containers = tuple(_parse_container(i, ci) for i, ci in enumerate(_der.read_single(auth_safe).children()))
        mac = _parse_mac(parts[2]) if len(parts) > 2 else None
    except DerError as exc:
        raise Pkcs12FormatError(f"broken PKCS#12 structure: {exc}") from exc
    return Pfx(containers, mac, auth_safe)


def verify_mac(pfx: Pfx, password: str | None) -> bool:
    """True if the MAC verifies with ``password`` (a PFX without MAC verifies with anything).

    Like OpenSSL, an empty or absent password is tried both as the empty string with its
    BMP terminator and as no bytes at all: writers disagree on which one "no password" is.
    """
    mac = pfx.mac
    if mac is None:
        return True
    size = hashlib.new(mac.digest).digest_size
    for secret in _bmp_candidates(password):
        key = _pkcs12_kdf(mac.digest, secret, mac.salt, mac.iterations, 3, size)
        if hmac.compare_digest(hmac.new(key, pfx.auth_safe, mac.digest).digest(), mac.value):
            return True
    return False


def open_container(container: Container, password: str | None) -> list[SafeBag]:
    """The bags of one container, decrypting it with ``password`` if it is encrypted."""
    if container.protection is None:
        safe_contents = container.payload
    else:
        assert container.algorithm is not None
        safe_contents = _decrypt(container.algorithm, container.payload, password)
    try:
        bags = _der.read_single(safe_contents).children()
        return [_parse_bag(i, container.index, bag) for i, bag in enumerate(bags)]
    except DerError as exc:
        raise Pkcs12FormatError(f"broken SafeContents in container {container.index}: {exc}") from exc


def decrypt_shrouded_key(bag: SafeBag, password: str | None) -> bytes:
    """The PKCS#8 PrivateKeyInfo (DER) inside a pkcs8ShroudedKeyBag."""
    algorithm, encrypted = bag.value.children()[:2]
    return _decrypt(algorithm, encrypted.as_octets(), password)


# -- parsing -------------------------------------------------------------------------------


def _parse_container(index: int, content_info: Tlv) -> Container:
    content_type, content = content_info.children()[:2]
    oid = content_type.as_oid()
    inner = content.expect(_der.CONTEXT_0, "ContentInfo content").children()[0]
    if oid == ID_DATA:
        return Container(index, None, inner.as_octets(), None)
    if oid == ID_ENCRYPTED_DATA:
        _version, encrypted_content_info = inner.children()[:2]
        eci = encrypted_content_info.children()
        algorithm = eci[1]
        if len(eci) < 3:
            raise Pkcs12FormatError(f"container {index} has no encrypted content")
        if eci[2].tag == _der.CONTEXT_0_PRIMITIVE:
            ciphertext = eci[2].content
        else:  # [0] constructed: the octets come in OCTET STRING pieces
            ciphertext = b"".join(piece.as_octets() for piece in eci[2].children())
        return Container(index, _describe_algorithm(algorithm), ciphertext, algorithm)
    if oid == ID_ENVELOPED_DATA:
        raise Pkcs12UnsupportedError("public-key privacy mode (envelopedData) is not supported")
    raise Pkcs12FormatError(f"container {index} has unknown content type {oid}")


def _parse_mac(mac_data: Tlv) -> MacData:
    items = mac_data.expect(_der.SEQUENCE, "MacData").children()
    digest_info, salt = items[0], items[1].as_octets()
    iterations = _iterations(items[2]) if len(items) > 2 else 1
    algorithm, value = digest_info.children()[:2]
    oid = algorithm.children()[0].as_oid()
    if oid == _PBMAC1:
        raise Pkcs12UnsupportedError("PBMAC1 integrity (RFC 9579) is not supported")
    if oid not in _MAC_DIGESTS:
        raise Pkcs12UnsupportedError(f"MAC digest {oid} is not supported")
    return MacData(_MAC_DIGESTS[oid], salt, iterations, value.as_octets())


def _parse_bag(index: int, container: int, bag: Tlv) -> SafeBag:
    items = bag.expect(_der.SEQUENCE, "SafeBag").children()
    oid = items[0].as_oid()
    value = items[1].expect(_der.CONTEXT_0, "bagValue").children()[0]
    friendly_name = local_key_id = trusted = None
    if len(items) > 2:
        for attribute in items[2].expect(_der.SET, "bagAttributes").children():
            attr_oid, values = attribute.children()[:2]
            attr_id = attr_oid.as_oid()
            first = values.children()[0] if values.children() else None
            if attr_id == FRIENDLY_NAME and first is not None:
                friendly_name = first.as_bmp()
            elif attr_id == LOCAL_KEY_ID and first is not None:
                local_key_id = first.as_octets()
            elif attr_id == ORACLE_TRUSTED_KEY_USAGE:
                trusted = tuple(v.as_oid() for v in values.children())
    return SafeBag(oid, value, friendly_name, local_key_id, trusted, index, container)


def _describe_algorithm(algorithm: Tlv) -> Protection:
    oid_tlv, *params = algorithm.children()
    oid = oid_tlv.as_oid()
    if oid in _PKCS12_PBE:
        name, _size, short = _PKCS12_PBE[oid]
        iterations = _iterations(params[0].children()[1])
        return Protection(name, short, iterations)
    if oid == _PBES2:
        kdf, scheme = params[0].children()[:2]
        kdf_oid, kdf_params = kdf.children()[:2]
        if kdf_oid.as_oid() != _PBKDF2:
            raise Pkcs12UnsupportedError(f"PBES2 key derivation {kdf_oid.as_oid()} is not supported")
        salt, iterations, *rest = kdf_params.children()
        prf = next((r for r in rest if r.tag == _der.SEQUENCE), None)
        prf_oid = prf.children()[0].as_oid() if prf is not None else "1.2.840.113549.2.7"
        prf_name = _PRFS.get(prf_oid, (prf_oid, None))[0]
        cipher_oid = scheme.children()[0].as_oid()
        if cipher_oid not in _PBES2_CIPHERS:
            raise Pkcs12UnsupportedError(f"PBES2 cipher {cipher_oid} is not supported")
        cipher_name, _size, short = _PBES2_CIPHERS[cipher_oid]
        return Protection(f"PBES2, PBKDF2, {cipher_name}, PRF {prf_name}", short, _iterations(iterations))
    raise Pkcs12UnsupportedError(f"encryption algorithm {oid} is not supported")


# -- decryption ----------------------------------------------------------------------------


def _decrypt(algorithm: Tlv, ciphertext: bytes, password: str | None) -> bytes:
    """Decrypt and check the result is one DER element; :class:`Pkcs12DecryptError` if not."""
    oid_tlv, *params = algorithm.children()
    oid = oid_tlv.as_oid()
    if oid == _PBES2:
        candidates = [_pbes2_decrypt(params[0], ciphertext, password)]
    elif oid in _PKCS12_PBE:
        salt_tlv, iterations_tlv = params[0].children()[:2]
        salt, iterations = salt_tlv.as_octets(), _iterations(iterations_tlv)
        candidates = [
            _pkcs12_pbe_decrypt(oid, secret, salt, iterations, ciphertext) for secret in _bmp_candidates(password)
        ]
    else:
        raise Pkcs12UnsupportedError(f"encryption algorithm {oid} is not supported")
    for plaintext in candidates:
        if plaintext is not None:
            try:
                _der.read_single(plaintext)
            except DerError:
                continue  # a wrong key that happened to give valid padding
            return plaintext
    # Java's words for this (javax.crypto.BadPaddingException).
    raise Pkcs12DecryptError("Given final block not properly padded")


def _pbes2_decrypt(params: Tlv, ciphertext: bytes, password: str | None) -> bytes | None:
    kdf, scheme = params.children()[:2]
    salt_tlv, iterations_tlv, *rest = kdf.children()[1].children()
    key_length = next((r.as_int() for r in rest if r.tag == _der.INTEGER), None)
    if key_length is not None and not 0 < key_length <= 64:
        raise Pkcs12FormatError(f"PBKDF2 key length {key_length} is not valid")
    prf = next((r for r in rest if r.tag == _der.SEQUENCE), None)
    prf_oid = prf.children()[0].as_oid() if prf is not None else "1.2.840.113549.2.7"
    if prf_oid not in _PRFS:
        raise Pkcs12UnsupportedError(f"PBKDF2 PRF {prf_oid} is not supported")
    cipher_oid_tlv, iv_tlv = scheme.children()[:2]
    cipher_oid = cipher_oid_tlv.as_oid()
    if cipher_oid not in _PBES2_CIPHERS:
        raise Pkcs12UnsupportedError(f"PBES2 cipher {cipher_oid} is not supported")
    _name, size, short = _PBES2_CIPHERS[cipher_oid]
    key = _pbkdf2(prf_oid, (password or "").encode("utf-8"), salt_tlv.as_octets(),
                  _iterations(iterations_tlv), key_length or size)
    block_cipher = TripleDES(key) if short == "3des" else algorithms.AES(key)
    return _cbc_decrypt(block_cipher, iv_tlv.as_octets(), ciphertext)


# The password-based key derivations are pure and, at a PFX's 2,000-10,000 iterations, the
# cost of reading one: the connector, the judge and `check` read the same stores again and
# again in one process, so their results are kept (a few dozen at most; the passwords and
# keys stay in this process's memory as the stores' contents do anyway).
@lru_cache(maxsize=64)
def _pbkdf2(prf_oid: str, password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    """PBKDF2 (RFC 8018 §5.2) with the PRF named by ``prf_oid``."""
    return PBKDF2HMAC(algorithm=_PRFS[prf_oid][1](), length=length, salt=salt, iterations=iterations).derive(password)


def _pkcs12_pbe_decrypt(oid: str, secret: bytes, salt: bytes, iterations: int, ciphertext: bytes) -> bytes | None:
    _name, size, short = _PKCS12_PBE[oid]
    key = _pkcs12_kdf("sha1", secret, salt, iterations, 1, size)
    iv = _pkcs12_kdf("sha1", secret, salt, iterations, 2, 8)
    if short.startswith("3des"):
        return _cbc_decrypt(TripleDES(key), iv, ciphertext)
    return _rc2_cbc_decrypt(key, iv, ciphertext)


def _cbc_decrypt(block_cipher: algorithms.AES | TripleDES, iv: bytes, ciphertext: bytes) -> bytes | None:
    block = block_cipher.block_size // 8
    if not ciphertext or len(ciphertext) % block:
        return None
    decryptor = Cipher(block_cipher, modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(block_cipher.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None


def _rc2_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes | None:
    # Imported here: only legacy (RC2-40) files need PyCryptodome (on ctypes: fakes/_cryptodome.py).
    from fakes._cryptodome import use_ctypes

    use_ctypes()
    from Cryptodome.Cipher import ARC2
    from Cryptodome.Util.Padding import unpad

    if not ciphertext or len(ciphertext) % 8:
        return None
    padded = ARC2.new(key, ARC2.MODE_CBC, iv=iv, effective_keylen=len(key) * 8).decrypt(ciphertext)
    try:
        return unpad(padded, 8)
    except ValueError:
        return None


def _iterations(tlv: Tlv) -> int:
    count = tlv.as_int()
    if not 0 < count <= MAX_ITERATIONS:
        raise Pkcs12FormatError(f"iteration count {count} is out of range (1 to {MAX_ITERATIONS})")
    return count


def _bmp_candidates(password: str | None) -> list[bytes]:
    """Password bytes for the PKCS#12 KDF: BMPString with a two-byte terminator (RFC 7292 B.1)."""
    if not password:
        return [b"\x00\x00", b""]
    return [password.encode("utf-16-be") + b"\x00\x00"]


@lru_cache(maxsize=64)
def _pkcs12_kdf(digest: str, secret: bytes, salt: bytes, iterations: int, purpose: int, size: int) -> bytes:
    """RFC 7292 appendix B.2: purpose 1 = key, 2 = IV, 3 = MAC key (kept, as :func:`_pbkdf2`)."""
    hash_new = getattr(hashlib, digest)  # every digest of _MAC_DIGESTS, and sha1, is one
    u = hash_new().digest_size
    v = hash_new().block_size

    def stretch(data: bytes) -> bytes:
        if not data:
            return b""
        length = v * -(-len(data) // v)
        return (data * -(-length // len(data)))[:length]

    d = bytes([purpose]) * v
    i = bytearray(stretch(salt) + stretch(secret))
    out = b""
    while len(out) < size:
        a = hash_new(d + bytes(i)).digest()
        for _ in range(iterations - 1):
            a = hash_new(a).digest()
        out += a
        b = int.from_bytes((a * -(-v // u))[:v], "big")
        for j in range(0, len(i), v):
            block = (int.from_bytes(i[j : j + v], "big") + b + 1) % (1 << (8 * v))
            i[j : j + v] = block.to_bytes(v, "big")
    return out[:size]
