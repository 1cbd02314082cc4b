"""The connector's key and trust stores as SunJSSE (OpenJDK 17) loads them.

The page's names are the reverse of Java's. For MTLS, ``-cert_store_*`` is the
connector's own certificate and key (Java's ``javax.net.ssl.keyStore``: the PFX, type
pkcs12) and ``-key_store_*`` is the trust store (``javax.net.ssl.trustStore``: the JKS);
for TLS/Kerberos the page hands the JKS trust store over as ``-cert_store_file/
-cert_store_pass``. This module speaks Java's terms — key material, trust anchors — and
:mod:`.connector` maps the options onto them.

What JSSE does, measured with OpenJDK 17.0.15 (``-Djavax.net.ssl.*`` and handshakes
against ``openssl s_server``):

- Key store (``KeyManagerFactory`` "SunX509"): wrong password → ``java.io.IOException:
  keystore password was incorrect`` (PKCS12) / ``Keystore was tampered with, or password
  was incorrect`` (JKS); no password → ``java.security.UnrecoverableKeyException: Get Key
  failed: Cannot read the array length because "password" is null``; a store without a
  PrivateKeyEntry loads, and the client sends **no certificate** (the Front End then
  answers ``certificate_required``); declared ``jks`` for a PFX loads
  (``keystore.type.compat``); an unknown type → ``java.security.KeyStoreException: bks
  not found``. A PFX written without a password (key bag unencrypted, MAC over the empty
  password) read with a password → ``Integrity check failed: …``; with a MAC over the
  given password Java loads it and skips the key ("Unsupported PKCS12 bag type").
- Trust store (``TrustStoreManager``): ``javax.net.ssl.trustStore`` if that file exists;
  if it does not, JSSE logs ``Inaccessible trust store: <path>`` and uses
  ``$JAVA_HOME/lib/security/cacerts`` — not ``jssecacerts``. With no trust store given:
  ``jssecacerts`` if it exists (even an empty one wins), else ``cacerts``. The store type
  and password (``javax.net.ssl.trustStoreType/-Password``) apply to whichever file is
  used; without a password Java reads a JKS's certificates but none of a keytool PKCS12
  store's (they are encrypted), so the handshake fails with ``the trustAnchors parameter
  must be non-empty``. Wrong password → ``java.security.KeyManagementException: problem
  accessing trust store`` around the store's own ``IOException`` (reported here).
- Trust anchors are the trustedCertEntry certificates **and the first certificate of each
  PrivateKeyEntry** (``TrustStoreUtil.getTrustedCerts``): a PFX used as trust store
  trusts its own leaf.
- Debian's OpenJDK 17 ``lib/security/cacerts`` is a symlink to
  ``/etc/ssl/certs/java/cacerts``, a JKS of the system CAs (password ``changeit``, not
  needed to read it). There is no default key store.

Errors Java throws while loading are :class:`JsseError`; what Java survives (a type
mismatch, a fallback store, no client certificate) is a :class:`StoreFinding` on the
returned material. Messages name files as the command line wrote them (``shown_path``),
since that is what the customer sees in the connector's log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from harness.artifacts import ArtifactError, KeyStore, WrongPasswordError, read_keystore, read_pfx
from harness.artifacts._keystore import (
    JAVA_STORE_TYPES,
    PKCS12_INTEGRITY_FAILED,
    PRIVATE_KEY_ENTRY,
    TRUSTED_CERT_ENTRY,
)

from ._findings import Finding

__all__ = [
    "DEFAULT_STORE_TYPE",
    "JsseError",
    "StoreFinding",
    "KeyMaterial",
    "TrustMaterial",
    "TrustSource",
    "load_key_material",
    "load_trust_anchors",
    "file_not_found",
    "TRUST_ANCHORS_EMPTY",
]

# JDK 17's java.security: keystore.type=pkcs12 (JDK 8 and older: jks). With
# keystore.type.compat=true either type also loads the other format.
DEFAULT_STORE_TYPE = "pkcs12"
TRUST_ANCHORS_EMPTY = "the trustAnchors parameter must be non-empty"
# sun.security.ssl.KeyManagerImpl on a key read with a null password (JDK 17 NPE text).
_NULL_PASSWORD = 'Get Key failed: Cannot read the array length because "password" is null'

TrustSource = Literal["explicit", "jssecacerts", "cacerts"]


class JsseError(Exception):
    """Java fails to set up TLS with these stores: the connector makes no connection.

    ``exception`` is the Java class (``java.io.IOException``), ``message`` its message,
    ``code`` the diagnosis; ``str(error)`` reads like the Java log line.
    """

    def __init__(self, exception: str, message: str, code: str, *, hint: str = "", path: str | None = None) -> None:
        self.exception = exception
        self.message = message
        self.code = code
        self.hint = hint
        self.path = path
        super().__init__(f"{exception}: {message}")

    def to_finding(self) -> StoreFinding:
        """The error as a finding (for a report that lists every problem at once)."""
        return StoreFinding(code=self.code, message=str(self), hint=self.hint, path=self.path, exception=self.exception)


@dataclass(frozen=True, kw_only=True)
class StoreFinding(Finding):
    """A problem with a key or trust store; ``exception`` is the Java class when Java throws."""

    path: str | None = None
    exception: str | None = None


@dataclass(frozen=True)
class KeyMaterial:
    """What Java's key manager has to present: the key, its chain (leaf first), the alias.

    ``private_key`` is ``None`` when the store has no usable PrivateKeyEntry: Java then
    sends no client certificate (``findings`` says why).
    """

    private_key: PrivateKeyTypes | None
    chain: list[x509.Certificate]
    alias: str | None
    findings: list[StoreFinding] = field(default_factory=list)

    @property
    def present(self) -> bool:
        """Whether Java has a certificate and key to present."""
        return self.private_key is not None and bool(self.chain)


@dataclass(frozen=True)
class TrustMaterial:
    """The certificates Java's trust manager accepts as anchors, and which file they came from."""

    anchors: list[x509.Certificate]
    source: TrustSource
    path: Path | None
    findings: list[StoreFinding] = field(default_factory=list)


def file_not_found(shown_path: str) -> str:
    """``FileInputStream``'s message for a missing file, as Java on Windows words it."""
    return f"{shown_path} (The system cannot find the file specified)"


def load_key_material(
    path: Path | None, password: str | None, declared_type: str | None, *, shown_path: str | None = None
) -> KeyMaterial:
    """The connector's certificate and key, as ``KeyStore.load`` + the SunX509 key manager see them.

    ``path`` is the lab file behind the command line's ``-cert_store_file`` (``None``: not
    given), ``shown_path`` that option's text. Raises :class:`JsseError` when Java cannot
    build its SSL context (missing file, wrong or no password, unreadable store).
    """
    if path is None:
        return KeyMaterial(
            None,
            [],
            None,
            [
                StoreFinding(
                    code="client-certificate-missing",
                    message="no key store (-cert_store_file) is given: Java has no certificate to present and "
                    "sends none, so the Front End refuses the MTLS connection",
                    hint="Add -cert_store_file <path to the .pfx> -cert_store_pass <password> -cert_store_type pkcs12.",
                )
            ],
        )
    shown = shown_path or str(path)
    if not path.is_file():
        raise JsseError(
            "java.io.FileNotFoundException",
            file_not_found(shown),
            "pfx-missing",
            hint="Point -cert_store_file at the PFX as it is on the UC Connector host.",
            path=shown,
        )
    store = _load(path, password, declared_type, shown, role="key")
    findings = _type_findings(store, declared_type, shown)
    keys = [e for e in store.entries if e.kind == PRIVATE_KEY_ENTRY]
    # SunX509 asks for every key at init, before any handshake: a null password fails there.
    if keys and password is None:
        raise JsseError(
            "java.security.UnrecoverableKeyException",
            _NULL_PASSWORD,
            "pfx-wrong-password",
            hint="Add -cert_store_pass with the password given when the PFX was exported.",
            path=shown,
        )
    usable = [e for e in keys if e.private_key is not None and e.certificates]
    if not usable:
        return KeyMaterial(None, [], None, findings + [_no_key_finding(store, shown)])
    # SunX509 picks among several keys by key type and the issuers the server accepts;
    # the page's PFX holds one key, so the first is the one.
    entry = usable[0]
    return KeyMaterial(entry.private_key, list(entry.certificates), entry.alias, findings)


def load_trust_anchors(
    path: Path | None,
    password: str | None,
    declared_type: str | None,
    *,
    java_home: Path | None,
    shown_path: str | None = None,
) -> TrustMaterial:
    """The trust anchors JSSE's ``TrustStoreManager`` ends up with.

    ``path`` is the lab file behind the trust store option (``None``: not given; a path
    that does not exist is what JSSE calls an inaccessible trust store). ``java_home`` is
    the JDK whose ``lib/security`` holds ``jssecacerts``/``cacerts`` (``None``: no JDK
    files at all). Raises :class:`JsseError` when the chosen store does not load; an empty
    result is not an error here — Java fails only at the handshake — but carries a
    ``truststore-empty`` finding.
    """
    findings: list[StoreFinding] = []
    security = java_home / "lib" / "security" if java_home is not None else None
    source: TrustSource
    if path is not None and _is_readable(path):
        chosen, source = path, "explicit"
    else:
        if path is not None:
            shown = shown_path or str(path)
            findings.append(
                StoreFinding(
                    code="truststore-missing",
                    message=f"trust store {shown} does not exist: JSSE logs 'Inaccessible trust store: {shown}' "
                    "and trusts $JAVA_HOME/lib/security/cacerts instead (jssecacerts is not tried)",
                    hint="Point the trust store option at the JKS made with keytool, as a path on the UC Connector "
                    "host.",
                    path=shown,
                )
            )
            candidates: list[tuple[TrustSource, str]] = [("cacerts", "cacerts")]
        else:
            candidates = [("jssecacerts", "jssecacerts"), ("cacerts", "cacerts")]
        chosen = None
        source = "cacerts"
        for name, filename in candidates:
            if security is not None and _is_readable(security / filename):
                chosen, source = security / filename, name
                break
        if chosen is None:
            where = f"{security} has neither jssecacerts nor cacerts" if security else "no JAVA_HOME to look in"
            findings.append(_empty_finding(f"no trust store file to read ({where})", None))
            return TrustMaterial([], source, None, findings)
    shown = shown_path if source == "explicit" and shown_path else str(chosen)
    store = _load(chosen, password, declared_type, shown, role="trust")
    findings += _type_findings(store, declared_type, shown)
    anchors = _trusted_certificates(store)
    if not anchors:
        findings.append(_empty_finding(_why_empty(store, password), shown))
    return TrustMaterial(anchors, source, chosen, findings)


# -- helpers -------------------------------------------------------------------------------


def _load(path: Path, password: str | None, declared_type: str | None, shown: str, *, role: str) -> KeyStore:
    """``KeyStore.getInstance(type).load(new FileInputStream(path), password)``, Java's errors as JsseError."""
    prefix = "pfx" if role == "key" else "truststore"
    declared = (declared_type or DEFAULT_STORE_TYPE).lower()
    if declared not in JAVA_STORE_TYPES:
        raise JsseError(
            "java.security.KeyStoreException",
            f"{declared_type} not found",
            f"{prefix}-unreadable",
            hint="Declare the store type pkcs12 (a .pfx) or jks (keytool's store).",
            path=shown,
        )
    try:
        return read_keystore(path, password, declared)
    except WrongPasswordError as exc:
        if role == "key" and exc.message == PKCS12_INTEGRITY_FAILED and _written_without_password(path):
            raise JsseError(
                "java.io.IOException",
                exc.message,
                "pfx-unencrypted",
                hint="Export the PFX again with a password (the wizard's Security page); Java does not read "
                "an unencrypted private key.",
                path=shown,
            ) from exc
        what = "-cert_store_pass" if role == "key" else "the trust store password"
        raise JsseError(
            "java.io.IOException",
            exc.message,
            f"{prefix}-wrong-password",
            hint=f"Give {what} exactly as set when the store was written.",
            path=shown,
        ) from exc
    except ArtifactError as exc:
        raise JsseError("java.io.IOException", exc.message, f"{prefix}-unreadable", path=shown) from exc


def _written_without_password(path: Path) -> bool:
    """True for a PFX whose MAC is over the empty password and whose key bag is not encrypted."""
    try:
        contents = read_pfx(path, None)
    except (ArtifactError, OSError):
        return False
    return contents.private_key is not None and not contents.key_encrypted


def _type_findings(store: KeyStore, declared_type: str | None, shown: str) -> list[StoreFinding]:
    """``store-type-mismatch`` when the type was declared and the file is the other format."""
    if declared_type is None or not store.type_mismatch:
        return []
    return [
        StoreFinding(
            code="store-type-mismatch",
            severity="warning",
            message=f"{shown} is declared {declared_type} but is a {store.real_type.upper()} file; Java 17 loads it "
            "anyway (keystore.type.compat=true), Java 8 and stricter setups do not",
            hint=f"Declare the type the file has: {store.real_type}.",
            path=shown,
        )
    ]


def _trusted_certificates(store: KeyStore) -> list[x509.Certificate]:
    """``TrustStoreUtil.getTrustedCerts``: trusted entries, plus each key entry's own certificate."""
    anchors: list[x509.Certificate] = []
    for entry in store.entries:
        if entry.kind in (TRUSTED_CERT_ENTRY, PRIVATE_KEY_ENTRY) and entry.certificates:
            if entry.certificates[0] not in anchors:
                anchors.append(entry.certificates[0])
    return anchors


def _no_key_finding(store: KeyStore, shown: str) -> StoreFinding:
    unencrypted = any("unencrypted private key" in note for note in store.notes)
    if unencrypted:
        return StoreFinding(
            code="pfx-unencrypted",
            message=f"{shown}: the private key is stored unencrypted; Java skips such a key bag "
            "('Unsupported PKCS12 bag type'), has no PrivateKeyEntry and sends no client certificate",
            hint="Export the PFX again with a password, as the wizard does.",
            path=shown,
        )
    return StoreFinding(
        code="pfx-no-private-key",
        message=f"{shown} holds no private key Java can use (no PrivateKeyEntry): Java sends no client "
        "certificate, so the Front End refuses the MTLS connection",
        hint="Export the certificate with 'Yes, export the private key'.",
        path=shown,
    )


def _why_empty(store: KeyStore, password: str | None) -> str:
    if password is None and store.real_type == "pkcs12":
        return (
            "read without a password, a PKCS12 store yields no certificates (keytool encrypts them), "
            "so Java has no trust anchor"
        )
    return "the store holds no trusted certificate"


def _empty_finding(why: str, shown: str | None) -> StoreFinding:
    return StoreFinding(
        code="truststore-empty",
        message=f"{why}: the handshake fails with java.security.InvalidAlgorithmParameterException: "
        f"{TRUST_ANCHORS_EMPTY}",
        hint="Import the CA that issued the Front End certificate with keytool -import and give the store's "
        "password.",
        path=shown,
        exception="java.security.InvalidAlgorithmParameterException",
    )


def _is_readable(path: Path) -> bool:
    """JSSE's test for a trust store file it can use: ``f.isFile() && f.canRead()``."""
    return path.is_file() and os.access(path, os.R_OK)
