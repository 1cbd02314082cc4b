"""Java key and trust stores: what keytool writes and what ``java.security.KeyStore`` loads.

The page builds the connector's trust store with ``keytool -import -alias "ucc-cert" -file
UCC_Certificate.cer -keystore UCC_store.jks`` and hands the PFX to Java as
``-cert_store_type pkcs12``. What Java 17 really does with those files (measured with
OpenJDK 17.0.15 keytool and ``KeyStore.load``):

- keytool without ``-storetype`` writes **PKCS12** on JDK 9+, whatever the file is called;
  JKS on JDK 8 and earlier. An existing store keeps the format it has.
- ``keystore.type.compat=true`` (the default): a store declared ``jks`` loads a PKCS12 file
  and one declared ``pkcs12`` loads a JKS file. ``jceks`` also loads JKS. Nothing loads a
  JCEKS file but ``jceks``.
- PKCS12 as Java reads it: a shrouded key bag becomes a PrivateKeyEntry whose alias is the
  bag's friendly name lower-cased (no name: "1", "2"… from a counter) and whose chain is the
  matching certificate (by local key id) followed by its issuers; a certificate bag is a
  trustedCertEntry only with Oracle's trusted-key-usage attribute; anything else is
  skipped — an unencrypted key bag ("Unsupported PKCS12 bag type"), and the certificates of
  a certificate-only PFX. Java decrypts the encrypted containers before it checks the MAC,
  so a wrong password reads "keystore password was incorrect" when the certificates are
  encrypted and "Integrity check failed" when they are not. With no password (JSSE's
  default when ``javax.net.ssl.trustStorePassword`` is unset) it skips both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from fakes._files import write_private_file

from . import _der, _pkcs12
from ._certificates import parse_der_certificate
from ._errors import (
    AliasExistsError,
    ArtifactError,
    CorruptFileError,
    PasswordTooShortError,
    WrongFormatError,
    WrongPasswordError,
)
from ._formats import JCEKS_MAGIC, JKS_MAGIC, describe_format, detect_format
from ._reading import read_artifact_bytes

__all__ = ["KeyStoreEntry", "KeyStore", "keytool_import", "read_keystore", "JAVA_STORE_TYPES"]

JAVA_STORE_TYPES = ("jks", "pkcs12", "jceks")

# Java's own words (JDK 17, measured with keytool and KeyStore.load).
JKS_WRONG_PASSWORD = "Keystore was tampered with, or password was incorrect"
PKCS12_WRONG_PASSWORD = "keystore password was incorrect"
PKCS12_INTEGRITY_FAILED = (
    "Integrity check failed: java.security.UnrecoverableKeyException: Failed PKCS12 integrity checking"
)
INVALID_FORMAT = "Invalid keystore format"
EOF = "java.io.EOFException"
UNRECOGNIZED_FORMAT = "Unrecognized keystore format. Please load it with a specified type"
SHORT_PASSWORD = "Keystore password must be at least 6 characters"

# The password every JDK ships lib/security/cacerts with (keytool's documentation).
CACERTS_PASSWORD = "changeit"

TRUSTED_CERT_ENTRY = "trustedCertEntry"
PRIVATE_KEY_ENTRY = "PrivateKeyEntry"
SECRET_KEY_ENTRY = "SecretKeyEntry"

# keytool protects PKCS12 stores with AES-256 and 10000 iterations (measured on JDK 17:
# "PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256").
_KEYTOOL_PKCS12_ITERATIONS = 10000


@dataclass(frozen=True)
class KeyStoreEntry:
    """One entry as ``keytool -list -v`` shows it; ``alias`` is lower-case, as Java has it."""

    alias: str
    kind: str  # "trustedCertEntry" | "PrivateKeyEntry" | "SecretKeyEntry"
    certificates: list[x509.Certificate]
    private_key: PrivateKeyTypes | None = None


@dataclass(frozen=True)
class KeyStore:
    """A store as Java loads it.

    ``real_type`` is what the content is; ``declared_type`` what the caller (the command
    line's ``-key_store_type``, keytool's ``-storetype``) said; ``type_mismatch`` is true
    when they differ and Java loaded it anyway. ``notes`` say what Java skipped and why.
    """

    path: Path
    real_type: str
    entries: list[KeyStoreEntry]
    declared_type: str = "jks"
    type_mismatch: bool = False
    notes: list[str] = field(default_factory=list)

    def entry(self, alias: str) -> KeyStoreEntry | None:
        """The entry with ``alias`` (case-insensitive, as in Java), or ``None``."""
        return next((e for e in self.entries if e.alias == alias.lower()), None)

    @property
    def trust_anchors(self) -> list[x509.Certificate]:
        """The certificates JSSE trusts from this store: those of the trustedCertEntry entries."""
        return [e.certificates[0] for e in self.entries if e.kind == TRUSTED_CERT_ENTRY and e.certificates]


def pyjks() -> ModuleType:
    """pyjks (and pyasn1, PyCryptodome), imported only for a JKS store."""
    from fakes._cryptodome import use_ctypes

    use_ctypes()
    import jks  # type: ignore[import-untyped]

    return jks


def read_keystore(
    path: Path | str | os.PathLike[str], password: str | None, declared_type: str = "jks"
) -> KeyStore:
    """Load a store as ``KeyStore.getInstance(declared_type).load(file, password)`` does in Java 17.

    ``password=None`` is Java's null password (no integrity check, encrypted parts unread).
    Errors carry Java's message: :class:`WrongPasswordError` ("Keystore was tampered with,
    or password was incorrect" / "keystore password was incorrect" / "Integrity check
    failed…"), :class:`WrongFormatError` ("Invalid keystore format" and what the file is)
    or :class:`CorruptFileError`.
    """
    path = Path(path)
    data = read_artifact_bytes(path)
    declared = declared_type.lower()
    if declared not in JAVA_STORE_TYPES:
        raise ArtifactError(_unknown_type(declared_type), path)
    engine = _java_engine(declared, data)
    if engine is None:
        raise _unloadable(declared, data, path)
    real = "jceks" if data.startswith(JCEKS_MAGIC) else engine
    notes: list[str] = []
    if real != declared:
        why = "the JCEKS loader reads JKS too" if declared == "jceks" else "keystore.type.compat=true"
        notes.append(f"declared as {declared} but the file is {real.upper()}: Java 17 loads it anyway ({why})")
    if password is None:
        notes.append("loaded without a password: Java skips the integrity check and anything encrypted")
    if engine == "pkcs12":
        entries = _load_pkcs12(data, password, path, notes)
    else:
        entries = _load_jks(data, password, path)
    return KeyStore(path, real, entries, declared, real != declared, notes)


def keytool_import(
    path: Path | str | os.PathLike[str],
    *,
    alias: str,
    certificate: x509.Certificate,
    password: str,
    storetype: str | None = None,
    jdk_version: int = 17,
) -> Path:
    """``keytool -import -alias A -file F -keystore S -storepass P [-storetype T]``, answering "yes".

    Creates the store (the format ``storetype`` names, else keytool's default for
    ``jdk_version``) or adds a trustedCertEntry to it (an existing store keeps its format and
    must open with ``password``). Writes mode 0600. Raises keytool's errors:
    :class:`PasswordTooShortError`, :class:`AliasExistsError`, and the load errors of
    :func:`read_keystore`. This lab writes JKS and PKCS12 stores, not JCEKS.
    """
    path = Path(path)
    declared = storetype.lower() if storetype else None
    if declared is not None and declared not in JAVA_STORE_TYPES:
        raise ArtifactError(_unknown_type(storetype or ""), path)
    entry_der = certificate.public_bytes(serialization.Encoding.DER)
    if not path.exists():
        if len(password) < 6:
            raise PasswordTooShortError(SHORT_PASSWORD, path)
        real = declared or ("pkcs12" if jdk_version >= 9 else "jks")
        return write_private_file(path, _new_store(real, alias, certificate, entry_der, password, path))
    data = read_artifact_bytes(path)
    if not data:
        raise CorruptFileError(f"Keystore file exists, but is empty: {path}", path)
    if declared is None:
        # Without -storetype keytool probes the file for any type it knows.
        probed = _probe(data)
        if probed is None:
            raise _wrong_or_corrupt(UNRECOGNIZED_FORMAT, data, path)
        declared = probed
    store = read_keystore(path, password, declared)
    if store.entry(alias) is not None:
        raise AliasExistsError(f"Certificate not imported, alias <{alias}> already exists", path)
    if store.real_type == "jks":
        jks = pyjks()

        existing = jks.KeyStore.loads(data, password, try_decrypt_keys=False)
        entries = dict(existing.entries)
        # JKS keeps aliases lower-case (keytool lists a pyjks "Mixed" alias as "mixed").
        entries[alias.lower()] = jks.TrustedCertEntry.new(alias.lower(), entry_der)
        return write_private_file(path, jks.KeyStore("jks", entries).saves(password))
    if store.real_type == "pkcs12":
        if any(e.kind != TRUSTED_CERT_ENTRY for e in store.entries):
            raise ArtifactError("adding to a PKCS12 store that holds keys is not supported by this lab", path)
        trusted = _trusted_bags(data, password) + [(alias, certificate)]
        return write_private_file(path, _java_truststore(trusted, password))
    raise ArtifactError("this lab does not write JCEKS stores", path)


# -- loading -------------------------------------------------------------------------------


def _unknown_type(name: str) -> str:
    """Java's KeyStoreException for a type no provider has (measured: "BKS not found")."""
    return f"{name} not found (no such key store type; this lab reads jks, pkcs12 and jceks)"


def _probe(data: bytes) -> str | None:
    """The type keytool's probe finds, or ``None``."""
    if data.startswith(JKS_MAGIC):
        return "jks"
    if data.startswith(JCEKS_MAGIC):
        return "jceks"
    return "pkcs12" if _pkcs12.looks_like_pkcs12(data) else None


def _java_engine(declared: str, data: bytes) -> str | None:
    """Which loader Java 17 ends up using for a store declared ``declared``, if any.

    Measured: declared jks, a truncated PKCS12 gives "Invalid keystore format" (the
    compatibility probe wants the whole DER structure); declared pkcs12, the PKCS12
    loader runs and fails on it.
    """
    if data.startswith(JKS_MAGIC):
        return "jks"
    if data.startswith(JCEKS_MAGIC):
        return "jceks" if declared == "jceks" else None
    if declared == "jceks":
        return None
    if declared == "pkcs12":
        return "pkcs12" if _pkcs12.looks_like_pkcs12(data) else None
    return "pkcs12" if _pkcs12.looks_like_pkcs12(data) and not _truncated(data) else None


def _unloadable(declared: str, data: bytes, path: Path) -> ArtifactError:
    """Java's error for a file its loader for ``declared`` cannot read."""
    if not data:
        text = _java_der_error(data) if declared == "pkcs12" else EOF
        return CorruptFileError(f"{text} (the file is empty)", path)
    return _wrong_or_corrupt(_java_der_error(data) if declared == "pkcs12" else INVALID_FORMAT, data, path)


def _java_der_error(data: bytes) -> str:
    """What Java's PKCS12 loader says about bytes that are not PKCS12, from their first bytes.

    Java reads a tag byte (end of file reads as 0xFF), a length, then expects the version
    INTEGER; measured messages: an empty file "Tag number over 30 is not supported", a JCEKS
    store "DerInputStream.getLength(): lengthTag=78, too big.", a DER certificate
    "DerValue.getBigIntegerInternal, not expected 48".
    """
    if not data or data[0] & 0x1F == 0x1F:
        return "Tag number over 30 is not supported"
    if len(data) > 1 and data[1] & 0x80 and (data[1] & 0x7F) > 4:
        return f"DerInputStream.getLength(): lengthTag={data[1] & 0x7F}, too big."
    try:
        _tag, offset, _length = _der.read_header(data)
        inner_tag = data[offset]
    except (_der.DerError, IndexError):
        return EOF
    if inner_tag != _der.INTEGER:
        return f"DerValue.getBigIntegerInternal, not expected {inner_tag}"
    return "PKCS12 keystore not in version 3 format"


def _wrong_or_corrupt(java_text: str, data: bytes, path: Path) -> ArtifactError:
    fmt = detect_format(data)
    if fmt == "pkcs12" and _truncated(data):
        return CorruptFileError(f"{java_text} (a truncated PKCS12 store)", path)
    if fmt not in ("unknown", "empty"):
        hint = f"declare it as {fmt}" if fmt in JAVA_STORE_TYPES else "not a key store"
        return WrongFormatError(f"{java_text} (this is {describe_format(fmt)}: {hint})", path, actual_format=fmt)
    return CorruptFileError(f"{java_text} (not a key store: the file starts with {data[:8].hex(' ')})", path)


def _truncated(data: bytes) -> bool:
    try:
        _tag, content_start, length = _der.read_header(data)
    except _der.DerError:
        return True
    return content_start + length > len(data)


def _load_jks(data: bytes, password: str | None, path: Path) -> list[KeyStoreEntry]:
    jks = pyjks()

    try:
        store = jks.KeyStore.loads(data, password, try_decrypt_keys=password is not None)
    except jks.util.KeystoreSignatureException as exc:
        raise WrongPasswordError(JKS_WRONG_PASSWORD, path) from exc
    except jks.util.BadKeystoreFormatException as exc:
        # pyjks reports a short read as a struct error or a short signature: Java's EOF.
        raise CorruptFileError(f"{EOF} (truncated or damaged store: {exc})", path) from exc
    except jks.util.KeystoreException as exc:
        raise CorruptFileError(f"{INVALID_FORMAT} ({exc})", path) from exc
    entries = []
    try:
        for alias, item in store.entries.items():
            if isinstance(item, jks.TrustedCertEntry):
                certificate = parse_der_certificate(item.cert)
                entries.append(KeyStoreEntry(alias.lower(), TRUSTED_CERT_ENTRY, [certificate]))
            elif isinstance(item, jks.PrivateKeyEntry):
                chain = [parse_der_certificate(der) for _type, der in item.cert_chain]
                key = serialization.load_der_private_key(item.pkey_pkcs8, None) if item.is_decrypted() else None
                entries.append(KeyStoreEntry(alias.lower(), PRIVATE_KEY_ENTRY, chain, key))
            else:
                entries.append(KeyStoreEntry(alias.lower(), SECRET_KEY_ENTRY, []))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CorruptFileError(f"java.security.cert.CertificateException: {exc}", path) from exc
    return entries


@dataclass
class _JavaKey:
    """A PrivateKeyEntry while Java 17's PKCS12KeyStore.engineLoad builds it."""

    alias: str
    key_id: bytes
    bag: _pkcs12.SafeBag
    chain: list[x509.Certificate] = field(default_factory=list)


@dataclass(frozen=True)
class _JavaCert:
    certificate: x509.Certificate
    key_id: bytes | None
    alias: str | None


def _load_pkcs12(data: bytes, password: str | None, path: Path, notes: list[str]) -> list[KeyStoreEntry]:
    """Mirror of ``PKCS12KeyStore.engineLoad`` / ``loadSafeContents`` (OpenJDK 17)."""
    try:
        pfx = _pkcs12.parse_pfx(data)
    except _pkcs12.Pkcs12UnsupportedError as exc:
        raise ArtifactError(f"a PKCS#12 feature this lab does not read: {exc}", path) from exc
    except _pkcs12.Pkcs12Error as exc:
        text = EOF if _truncated(data) else f"java.io.IOException: {exc}"
        raise CorruptFileError(text, path) from exc
    # Java keys entries by lower-case alias in insertion order (a LinkedHashMap).
    entries: dict[str, _JavaKey | KeyStoreEntry] = {}
    keys: list[_JavaKey] = []
    loose_certs: list[_JavaCert] = []
    by_subject: dict[x509.Name, x509.Certificate] = {}
    counter = 0
    private_key_count = 0

    def unfriendly_name() -> str:
        nonlocal counter
        counter += 1
        return str(counter)

    for container in pfx.containers:
        if container.protection is not None and password is None:
            notes.append(f"container {container.index} ({container.protection.description}) is encrypted: not read")
            continue
        try:
            bags = _pkcs12.open_container(container, password)
        except _pkcs12.Pkcs12DecryptError as exc:
            raise WrongPasswordError(PKCS12_WRONG_PASSWORD, path) from exc
        except _pkcs12.Pkcs12UnsupportedError as exc:
            raise ArtifactError(f"a PKCS#12 feature this lab does not read: {exc}", path) from exc
        except (_pkcs12.Pkcs12Error, _der.DerError) as exc:
            raise CorruptFileError(f"java.io.IOException: {exc}", path) from exc
        for bag in bags:
            alias, key_id = bag.friendly_name, bag.local_key_id
            if bag.oid == _pkcs12.SHROUDED_KEY_BAG:
                private_key_count += 1
                if key_id is None:
                    # Java's workaround for a PFX with one key and no localKeyID.
                    if private_key_count != 1:
                        notes.append(f"key bag {bag.index} has no local key id and is not the only key: skipped")
                        continue
                    key_id = b"01"
                record = _JavaKey(alias or unfriendly_name(), key_id, bag)
                entries[record.alias.lower()] = record
                keys.append(record)
            elif bag.oid == _pkcs12.CERT_BAG:
                certificate = _bag_certificate(bag, path)
                if key_id is None and private_key_count == 1 and bag.index == 0:
                    key_id = b"01"
                if bag.trusted_key_usage is not None:
                    trusted_alias = alias or unfriendly_name()
                    entries[trusted_alias.lower()] = KeyStoreEntry(
                        trusted_alias.lower(), TRUSTED_CERT_ENTRY, [certificate]
                    )
                else:
                    loose_certs.append(_JavaCert(certificate, key_id, alias))
                by_subject.setdefault(certificate.subject, certificate)
            elif bag.oid == _pkcs12.SECRET_BAG:
                secret_alias = (alias or unfriendly_name()).lower()
                entries[secret_alias] = KeyStoreEntry(secret_alias, SECRET_KEY_ENTRY, [])
            else:
                what = "an unencrypted private key; " if bag.oid == _pkcs12.KEY_BAG else ""
                notes.append(f"Unsupported PKCS12 bag type: {bag.oid} ({what}Java skips it)")
    if password is not None and not _pkcs12.verify_mac(pfx, password):
        raise WrongPasswordError(PKCS12_INTEGRITY_FAILED, path)
    for record in keys:
        certificate = _matched_certificate(record, loose_certs)
        while certificate is not None and certificate not in record.chain:
            record.chain.append(certificate)
            if certificate.subject == certificate.issuer:
                break
            certificate = by_subject.get(certificate.issuer)
    in_chains = {c for record in keys for c in record.chain}
    ignored = [c.certificate for c in loose_certs if c.certificate not in in_chains]
    if ignored:
        notes.append(
            f"{len(ignored)} certificate(s) neither marked trusted (Oracle trusted-key-usage attribute) nor in a "
            "key's chain: Java does not list them"
        )
    return [_entry(value, password, notes) for value in entries.values()]


def _bag_certificate(bag: _pkcs12.SafeBag, path: Path) -> x509.Certificate:
    try:
        der = bag.certificate_der
        if der is None:
            raise ValueError("not an X.509 certificate bag")
        return parse_der_certificate(der)
    except (ValueError, _der.DerError) as exc:
        raise CorruptFileError(f"java.security.cert.CertificateException: {exc}", path) from exc


def _matched_certificate(record: _JavaKey, certs: list[_JavaCert]) -> x509.Certificate | None:
    """``findMatchedCertificate``: same key id (and alias, best), else same key id, else same alias."""
    key_id_match = alias_match = None
    for cert in certs:
        same_alias = cert.alias is not None and record.alias.lower() == cert.alias.lower()
        if cert.key_id == record.key_id:
            if same_alias:
                return cert.certificate
            key_id_match = cert
        elif same_alias:
            alias_match = cert
    match = key_id_match or alias_match
    return match.certificate if match else None


def _entry(value: _JavaKey | KeyStoreEntry, password: str | None, notes: list[str]) -> KeyStoreEntry:
    if isinstance(value, KeyStoreEntry):
        return value
    key = None
    if password is not None:
        try:
            # As Java's PKCS12 KeyStore: the key is decoded, not checked for consistency
            # (sun.security.rsa.RSAPrivateCrtKeyImpl; OpenSSL's RSA check costs ~35 ms a key).
            key = serialization.load_der_private_key(
                _pkcs12.decrypt_shrouded_key(value.bag, password), None, unsafe_skip_rsa_key_validation=True
            )
        except (_pkcs12.Pkcs12Error, ValueError, UnsupportedAlgorithm):
            notes.append(f"the key of {value.alias.lower()} does not decrypt with the store password")
    return KeyStoreEntry(value.alias.lower(), PRIVATE_KEY_ENTRY, value.chain, key)


# -- writing -------------------------------------------------------------------------------


def _new_store(
    real: str, alias: str, certificate: x509.Certificate, der: bytes, password: str, path: Path
) -> bytes:
    if real == "jks":
        jks = pyjks()

        return jks.KeyStore.new("jks", [jks.TrustedCertEntry.new(alias.lower(), der)]).saves(password)
    if real == "pkcs12":
        return _java_truststore([(alias, certificate)], password)
    raise ArtifactError("this lab does not write JCEKS stores", path)


def _trusted_bags(data: bytes, password: str) -> list[tuple[str, x509.Certificate]]:
    """The trusted certificates of a PKCS12 store with their friendly names as written."""
    pfx = _pkcs12.parse_pfx(data)
    trusted = []
    for container in pfx.containers:
        for bag in _pkcs12.open_container(container, password):
            if bag.oid == _pkcs12.CERT_BAG and bag.trusted_key_usage is not None and bag.certificate_der:
                trusted.append((bag.friendly_name or "", parse_der_certificate(bag.certificate_der)))
    return trusted


def _java_truststore(trusted: list[tuple[str, x509.Certificate]], password: str) -> bytes:
    """A PKCS12 store of trustedCertEntry entries as keytool writes it (friendly name as typed)."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_KEYTOOL_PKCS12_ITERATIONS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode("utf-8"))
    )
    certificates = [pkcs12.PKCS12Certificate(cert, name.encode("utf-8") if name else None) for name, cert in trusted]
    return pkcs12.serialize_java_truststore(certificates, encryption)
