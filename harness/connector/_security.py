"""The connector's JDK security policy: ``java.security``'s disabled algorithms, as JDK 17 applies them.

The UC Connector runs on a JDK 17 whose ``conf/security/java.security`` (or a file given
with ``-Djava.security.properties=``) decides which certificates and TLS versions JSSE
refuses. :class:`JavaSecurity` holds that policy — JDK 17.0.15's defaults with a
connector host's overrides — and answers what JSSE would:

- :meth:`JavaSecurity.check_path`: ``jdk.certpath.disabledAlgorithms`` and
  ``jdk.tls.disabledAlgorithms`` against a certificate path, with Java's exact message;
- :meth:`JavaSecurity.enabled_protocols`: the TLS versions a default ``SSLContext``
  enables (TLSv1.3, TLSv1.2, TLSv1.1, TLSv1 less those ``jdk.tls.disabledAlgorithms``
  names);
- :meth:`JavaSecurity.signature_schemes`: the signature schemes JSSE offers (a peer whose
  chain needs another gives up before Java sees the chain).

JDK 17.0.15's values (``/usr/lib/jvm/java-17-openjdk-amd64/conf/security/java.security``,
lines 629 and 729 of 17.0.15+6-Debian-1deb12u1; vocabulary §5)::

    jdk.certpath.disabledAlgorithms=MD2, MD5, SHA1 jdkCA & usage TLSServer,
        RSA keySize < 1024, DSA keySize < 1024, EC keySize < 224,
        SHA1 usage SignedJAR & denyAfter 2019-01-01
    jdk.tls.disabledAlgorithms=SSLv3, TLSv1, TLSv1.1, DTLSv1.0, RC4, DES, MD5withRSA,
        DH keySize < 1024, EC keySize < 224, 3DES_EDE_CBC, anon, NULL, ECDH

so by default a SHA-1 chain from a private (AD CS) CA and an RSA 1024 key are accepted,
TLS 1.0 and 1.1 are not (research-12 §8a-c, run with 17.0.15).

How a path is checked (``sun.security.provider.certpath.AlgorithmChecker.check`` of
JDK 17 with the TLS trust manager's ``SSLAlgorithmConstraints``; each rule's message was
produced by the real JDK here, see tests/harness/test_connector_security.py). For every
certificate below the trust anchor, from the anchor down:

1. its signature algorithm, split into parts (``SHA1withRSA`` → SHA1withRSA, SHA1,
   SHA-1, RSA), against the algorithms either property disables outright:
   ``Algorithm constraints check failed on signature algorithm: SHA1withRSA``;
2. ``jdk.certpath.disabledAlgorithms``' conditional entries for the signature's hash,
   the signature and the certificate's key: ``keySize`` on its own key
   (``Algorithm constraints check failed on keysize limits: RSA 1024 bit key used with
   certificate: CN=…``), ``usage TLSServer|TLSClient`` (``Usage constraint TLSServer check
   failed: SHA1 used with certificate: CN=…``), ``denyAfter`` (``denyAfter constraint check
   failed: SHA1 used with Constraint date: 2019-01-01; params date: <now> used with
   certificate: CN=…``), a key algorithm disabled outright (``Algorithm constraints check
   failed on disabled algorithm: EC used with certificate: CN=…``); ``jdkCA`` holds only
   for an anchor among the JDK's own cacerts, which a lab CA never is (assumed);
3. ``jdk.tls.disabledAlgorithms`` on its key: ``Algorithm constraints check failed on key
   RSA with size of 1024bits``;
4. its signature with the issuer's key (the anchor's for the first) against both
   properties' key limits: ``Algorithm constraints check failed on signature algorithm:
   SHA256withRSA``.

Java checks step 2's algorithms in a ``HashSet``'s order; the lab checks the hash, the
signature, then the key (assumed: it matters only for a certificate failing two
conditional entries at once). RSASSA-PSS parameters (the hash inside) are not checked
(assumed rare: AD CS signs PKCS#1 v1.5 unless its alternate signature format is on).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "JDK17_SECURITY",
    "CERTPATH_DISABLED",
    "TLS_DISABLED",
    "JavaSecurity",
    "JavaSecurityError",
    "Variant",
    "parse_properties",
    "format_properties",
    "java_principal",
    "java_signature_algorithm",
]

CERTPATH_DISABLED = "jdk.certpath.disabledAlgorithms"
TLS_DISABLED = "jdk.tls.disabledAlgorithms"

#: The two properties as OpenJDK 17.0.15 ships them (see the module docstring).
JDK17_SECURITY: Mapping[str, str] = MappingProxyType({
    CERTPATH_DISABLED: "MD2, MD5, SHA1 jdkCA & usage TLSServer, RSA keySize < 1024, DSA keySize < 1024, "
                       "EC keySize < 224, SHA1 usage SignedJAR & denyAfter 2019-01-01",
    TLS_DISABLED: "SSLv3, TLSv1, TLSv1.1, DTLSv1.0, RC4, DES, MD5withRSA, DH keySize < 1024, EC keySize < 224, "
                  "3DES_EDE_CBC, anon, NULL, ECDH",
})

#: What the certificate is validated for: Java's Validator.VAR_TLS_SERVER (a client checks
#: a server) or VAR_TLS_CLIENT (a server checks a client); ``usage`` entries name them so.
Variant = Literal["TLSServer", "TLSClient"]

# The TLS versions a JDK 17 SSLContext enables by default before jdk.tls.disabledAlgorithms
# removes some (run here: with that property emptied, client and server enable these four).
_DEFAULT_PROTOCOLS = ("TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1")
# sun.security.util.AlgorithmDecomposer: "<digest>with<encryption>and<mgf>".
_DECOMPOSE = re.compile(r"with|and|(?<!padd)in", re.IGNORECASE)
_OPERATORS = {
    "<": lambda size, limit: size < limit,
    "<=": lambda size, limit: size <= limit,
    "==": lambda size, limit: size == limit,
    "!=": lambda size, limit: size != limit,
    ">=": lambda size, limit: size >= limit,
    ">": lambda size, limit: size > limit,
}
_KEY_SIZE = re.compile(r"keySize\s*(<=|>=|==|!=|<|>)\s*(\d+)$", re.IGNORECASE)
_DENY_AFTER = re.compile(r"denyAfter\s+(\d{4})-(\d{2})-(\d{2})$", re.IGNORECASE)

# X509Certificate.getSigAlgName() by signature OID (sun.security.x509.AlgorithmId names).
_SIGNATURE_NAMES = {
    "1.2.840.113549.1.1.2": "MD2withRSA",
    "1.2.840.113549.1.1.4": "MD5withRSA",
    "1.2.840.113549.1.1.5": "SHA1withRSA",
    "1.2.840.113549.1.1.14": "SHA224withRSA",
    "1.2.840.113549.1.1.11": "SHA256withRSA",
    "1.2.840.113549.1.1.12": "SHA384withRSA",
    "1.2.840.113549.1.1.13": "SHA512withRSA",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.10045.4.1": "SHA1withECDSA",
    "1.2.840.10045.4.3.1": "SHA224withECDSA",
    "1.2.840.10045.4.3.2": "SHA256withECDSA",
    "1.2.840.10045.4.3.3": "SHA384withECDSA",
    "1.2.840.10045.4.3.4": "SHA512withECDSA",
    "1.2.840.10040.4.3": "SHA1withDSA",
    "2.16.840.1.101.3.4.3.1": "SHA224withDSA",
    "2.16.840.1.101.3.4.3.2": "SHA256withDSA",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}
# JDK 17's signature schemes (sun.security.ssl.SignatureScheme, in its order of preference):
# the name, the key algorithm, the signature algorithm (a PSS scheme's hash in the
# parameters) and OpenSSL's name for it. rsa_md5 is left out: OpenSSL 3 has no such
# TLS signature algorithm, and java.security's MD5withRSA disables it by default.
_SIGNATURE_SCHEMES = (
    ("ecdsa_secp256r1_sha256", "EC", "SHA256withECDSA", "ecdsa_secp256r1_sha256"),
    ("ecdsa_secp384r1_sha384", "EC", "SHA384withECDSA", "ecdsa_secp384r1_sha384"),
    ("ecdsa_secp521r1_sha512", "EC", "SHA512withECDSA", "ecdsa_secp521r1_sha512"),
    ("ed25519", "EdDSA", "Ed25519", "ed25519"),
    ("ed448", "EdDSA", "Ed448", "ed448"),
    ("rsa_pss_rsae_sha256", "RSA", "RSASSA-PSS SHA256", "rsa_pss_rsae_sha256"),
    ("rsa_pss_rsae_sha384", "RSA", "RSASSA-PSS SHA384", "rsa_pss_rsae_sha384"),
    ("rsa_pss_rsae_sha512", "RSA", "RSASSA-PSS SHA512", "rsa_pss_rsae_sha512"),
    ("rsa_pss_pss_sha256", "RSASSA-PSS", "RSASSA-PSS SHA256", "rsa_pss_pss_sha256"),
    ("rsa_pss_pss_sha384", "RSASSA-PSS", "RSASSA-PSS SHA384", "rsa_pss_pss_sha384"),
    ("rsa_pss_pss_sha512", "RSASSA-PSS", "RSASSA-PSS SHA512", "rsa_pss_pss_sha512"),
    ("rsa_pkcs1_sha256", "RSA", "SHA256withRSA", "rsa_pkcs1_sha256"),
    ("rsa_pkcs1_sha384", "RSA", "SHA384withRSA", "rsa_pkcs1_sha384"),
    ("rsa_pkcs1_sha512", "RSA", "SHA512withRSA", "rsa_pkcs1_sha512"),
    ("dsa_sha256", "DSA", "SHA256withDSA", "DSA+SHA256"),
    ("ecdsa_sha224", "EC", "SHA224withECDSA", "ECDSA+SHA224"),
    ("rsa_sha224", "RSA", "SHA224withRSA", "RSA+SHA224"),
    ("dsa_sha224", "DSA", "SHA224withDSA", "DSA+SHA224"),
    ("ecdsa_sha1", "EC", "SHA1withECDSA", "ECDSA+SHA1"),
    ("rsa_pkcs1_sha1", "RSA", "SHA1withRSA", "RSA+SHA1"),
    ("dsa_sha1", "DSA", "SHA1withDSA", "DSA+SHA1"),
)
# X500Principal.toString()'s keywords (sun.security.x509.AVAKeyword, RFC 1779 and RFC 2253
# names); other attributes print as OID.<dotted>.
_KEYWORDS = {
    NameOID.COMMON_NAME: "CN", NameOID.COUNTRY_NAME: "C", NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.STREET_ADDRESS: "STREET",
    NameOID.DOMAIN_COMPONENT: "DC", NameOID.EMAIL_ADDRESS: "EMAILADDRESS",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER", NameOID.USER_ID: "UID", NameOID.TITLE: "T",
    NameOID.SURNAME: "SURNAME", NameOID.GIVEN_NAME: "GIVENNAME", NameOID.INITIALS: "INITIALS",
    NameOID.GENERATION_QUALIFIER: "GENERATION", NameOID.DN_QUALIFIER: "DNQUALIFIER",
}
_QUOTE_IF = re.compile(r'[,+=\n<>#;\\"]|^\s|\s$|\s\s')


class JavaSecurityError(ValueError):
    """A ``java.security`` value the JDK would refuse (an unknown constraint, say)."""


def parse_properties(text: str) -> dict[str, str]:
    """``java.util.Properties.load`` of ``text``: the format of ``java.security``.

    Comments start with ``#`` or ``!``; a key ends at the first unescaped ``=``, ``:`` or
    white space; a line ending in an odd number of backslashes continues on the next (its
    leading white space dropped); ``\\t \\n \\r \\f \\uXXXX`` are escapes, any other
    backslash keeps the character after it. A later key replaces an earlier one.
    """
    properties: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        logical = lines[index].lstrip(" \t\f")
        index += 1
        if not logical or logical[0] in "#!":
            continue
        while _continues(logical) and index < len(lines):
            logical = logical[:-1] + lines[index].lstrip(" \t\f")
            index += 1
        if _continues(logical):
            logical = logical[:-1]
        key, value = _split_property(logical)
        properties[_unescape(key)] = _unescape(value)
    return properties


def format_properties(properties: Mapping[str, str]) -> str:
    """``properties`` in the format :func:`parse_properties` (and Java's ``Properties.load``,
    which reads ISO-8859-1) reads back unchanged."""

    def escape(text: str, *, key: bool) -> str:
        out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t").replace("\f", "\\f")
        if key:
            out = re.sub(r"([=: #!])", r"\\\1", out)
        elif out[:1] in (" ", "\t"):
            out = "\\" + out
        # Java reads the file as ISO-8859-1: anything else as \uXXXX.
        return "".join(c if " " <= c <= "~" else f"\\u{ord(c):04x}" for c in out)

    return "".join(f"{escape(k, key=True)}={escape(v, key=False)}\n" for k, v in properties.items())


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _split_property(line: str) -> tuple[str, str]:
    position = 0
    while position < len(line):
        char = line[position]
        if char == "\\":
            position += 2
            continue
        if char in "=: \t\f":
            break
        position += 1
    key, rest = line[:position], line[position:]
    rest = rest.lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return key, rest


def _unescape(text: str) -> str:
    out: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char != "\\" or position + 1 >= len(text):
            out.append(char)
            position += 1
            continue
        escaped = text[position + 1]
        if escaped == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[position + 2:position + 6]):
            out.append(chr(int(text[position + 2:position + 6], 16)))
            position += 6
            continue
        out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(escaped, escaped))
        position += 2
    return "".join(out)


# -- the constraints of one property -----------------------------------------------------------


@dataclass(frozen=True)
class _Condition:
    """One condition of an entry: ``keySize OP N``, ``jdkCA``, ``usage ...`` or ``denyAfter DATE``."""

    kind: Literal["keySize", "jdkCA", "usage", "denyAfter"]
    operator: str = ""
    limit: int = 0
    usages: tuple[str, ...] = ()
    date: datetime.datetime | None = None
    text: str = ""


@dataclass(frozen=True)
class _Entry:
    """One comma-separated entry: an algorithm, disabled outright or under conditions (all must hold)."""

    algorithm: str
    conditions: tuple[_Condition, ...] = ()


def _normal(name: str) -> str:
    """Algorithm names compare case-insensitively, "SHA-1" as "SHA1" (AlgorithmDecomposer.hashName)."""
    upper = name.upper()
    return upper.replace("-", "") if upper.startswith("SHA-") else upper


def _parse_entries(name: str, value: str, properties: Mapping[str, str], seen: frozenset[str] = frozenset()) -> tuple[_Entry, ...]:
    entries: list[_Entry] = []
    for raw in value.split(","):
        text = raw.strip()
        if not text:
            continue
        include = re.fullmatch(r"include\s+(\S+)", text)
        if include is not None:
            # "include jdk.disabled.namedCurves": another property's entries, once.
            other = include.group(1)
            if other not in seen:
                entries += _parse_entries(other, properties.get(other, ""), properties, seen | {name})
            continue
        algorithm, _, policy = text.partition(" ")
        if algorithm.upper().startswith("SHA-"):
            algorithm = algorithm.replace("-", "")  # AlgorithmDecomposer.hashName: Java names it SHA1
        conditions = tuple(_parse_condition(name, text, part.strip()) for part in policy.split("&")) if policy.strip() else ()
        entries.append(_Entry(algorithm, conditions))
    return tuple(entries)


def _parse_condition(name: str, entry: str, text: str) -> _Condition:
    size = _KEY_SIZE.match(text)
    if size is not None:
        return _Condition("keySize", operator=size.group(1), limit=int(size.group(2)), text=text)
    if text.lower() == "jdkca":
        return _Condition("jdkCA", text=text)
    if text.lower().startswith("usage "):
        return _Condition("usage", usages=tuple(text.split()[1:]), text=text)
    deny = _DENY_AFTER.match(text)
    if deny is not None:
        year, month, day = (int(g) for g in deny.groups())
        moment = datetime.datetime(year, month, day, tzinfo=datetime.timezone.utc)
        return _Condition("denyAfter", date=moment, text=text)
    # DisabledAlgorithmConstraints: "Error in security property. Constraint unknown: ..."
    raise JavaSecurityError(f"{name}: {entry!r}: Java refuses the condition {text!r} (Error in security property. "
                            f"Constraint unknown: {text})")


def _decompose(algorithm: str) -> set[str]:
    """The names a signature algorithm is checked under (AlgorithmDecomposer.decompose; its
    SHA1/SHA-1 aliases are :func:`_normal`'s one spelling)."""
    return {_normal(e) for e in (algorithm, *_DECOMPOSE.split(algorithm)) if e}


def _hash_of(algorithm: str) -> list[str]:
    """The signature's hash as step 2 names it ("SHA1" of "SHA1withRSA"), if it has one."""
    head = _DECOMPOSE.split(algorithm)[0]
    return [head] if head != algorithm else []


# -- the certificates' facts as Java states them ---------------------------------------------


def java_signature_algorithm(certificate: x509.Certificate) -> str:
    """``X509Certificate.getSigAlgName()``: ``SHA256withRSA``, ``SHA1withECDSA`` …"""
    oid = certificate.signature_algorithm_oid.dotted_string
    return _SIGNATURE_NAMES.get(oid, oid)


def _java_key(key: object) -> tuple[str, int]:
    """``Key.getAlgorithm()`` and ``KeyUtil.getKeySize()`` of a public key."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA", 255
    if isinstance(key, ed448.Ed448PublicKey):
        return "EdDSA", 448
    return type(key).__name__, 0


def java_principal(name: x509.Name) -> str:
    """``X500Principal.toString()``: ``CN=fe01.lab.test, OU="Unit, One", O=Lab Org, DC=lab, DC=com``
    (RFC 1779 style, most specific first; values with special characters in quotes)."""
    rdns = []
    for rdn in reversed(name.rdns):
        parts = []
        for attribute in rdn:
            keyword = _KEYWORDS.get(attribute.oid, f"OID.{attribute.oid.dotted_string}")
            value = str(attribute.value)
            if _QUOTE_IF.search(value):
                value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            parts.append(f"{keyword}={value}")
        rdns.append(" + ".join(parts))
    return ", ".join(rdns)


def _java_instant(moment: datetime.datetime) -> str:
    """``Instant.toString()`` of a ``java.util.Date`` (millisecond precision): 2026-12-06T02:32:08.783Z."""
    utc = moment.astimezone(datetime.timezone.utc)
    millis = utc.microsecond // 1000
    fraction = f".{millis:03d}" if millis else ""
    return f"{utc:%Y-%m-%dT%H:%M:%S}{fraction}Z"


# -- the policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JavaSecurity:
    """JDK 17.0.15's ``java.security`` with ``overrides`` on top (as ``-Djava.security.properties=FILE``
    with one ``=``: the file's properties replace the JDK's). :class:`JavaSecurityError` when a
    value would make the JDK refuse to start its TLS (an unknown constraint)."""

    overrides: Mapping[str, str] = field(default_factory=dict)
    _certpath: tuple[_Entry, ...] = field(init=False, repr=False, compare=False)
    _tls: tuple[_Entry, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        properties = self.properties
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        object.__setattr__(self, "_certpath", _parse_entries(CERTPATH_DISABLED, properties[CERTPATH_DISABLED], properties))
        object.__setattr__(self, "_tls", _parse_entries(TLS_DISABLED, properties[TLS_DISABLED], properties))

    @classmethod
    def from_text(cls, text: str) -> JavaSecurity:
        """The policy a ``java.security`` override file (properties format) gives."""
        return cls(parse_properties(text))

    @property
    def properties(self) -> dict[str, str]:
        """The two disabled-algorithm properties as the JDK sees them, and any other override."""
        return {**JDK17_SECURITY, **self.overrides}

    def to_json(self) -> dict[str, str]:
        """The overrides (the setting as stored)."""
        return dict(self.overrides)

    # -- TLS versions --------------------------------------------------------------------------

    def enabled_protocols(self) -> tuple[str, ...]:
        """The TLS versions a default SSLContext enables, newest first (may be empty)."""
        disabled = {_normal(e.algorithm) for e in self._tls if not e.conditions}
        return tuple(p for p in _DEFAULT_PROTOCOLS if _normal(p) not in disabled)

    def signature_schemes(self) -> tuple[str, ...]:
        """OpenSSL's names of the signature schemes a JDK 17 peer offers in its ClientHello and
        CertificateRequest: those whose name, key algorithm or signature algorithm (its hash,
        for PSS) neither property disables outright (``SignatureScheme.isPermitted``). A peer
        that cannot sign its chain with one of them gives up: so with ``SHA1`` disabled an
        OpenSSL server holding a SHA-1-signed chain ends a TLS 1.3 handshake (run here:
        NO_SUITABLE_SIGNATURE_ALGORITHM) before any path is validated."""
        entries = self._certpath + self._tls
        return tuple(
            openssl for name, key, algorithm, openssl in _SIGNATURE_SCHEMES
            if not _disabled_outright(entries, {_normal(name), _normal(key)} | set().union(*map(_decompose, algorithm.split())))
        )

    # -- certificate paths ---------------------------------------------------------------------

    def check_path(self, path: Sequence[x509.Certificate], anchor_key: object, *, variant: Variant,
                   now: datetime.datetime) -> str | None:
        """Java's ``CertPathValidatorException`` message for the first certificate of ``path``
        the policy refuses, else None.

        ``path`` runs from the certificate the anchor signed down to the peer's (anchor not
        included); ``anchor_key`` is the trust anchor's public key; ``variant`` what the
        path is validated for; ``now`` the validation time.
        """
        previous = anchor_key
        for certificate in path:
            message = self.check_certificate(certificate, previous, variant=variant, now=now)
            if message is not None:
                return message
            previous = certificate.public_key()
        return None

    def check_certificate(self, certificate: x509.Certificate, issuer_key: object, *, variant: Variant,
                          now: datetime.datetime) -> str | None:
        """Java's message when the policy refuses ``certificate`` (signed with ``issuer_key``), else None."""
        signature = java_signature_algorithm(certificate)
        key_algorithm, key_size = _java_key(certificate.public_key())
        subject = java_principal(certificate.subject)
        both = self._certpath + self._tls
        # 1. The signature algorithm's names, disabled outright by either property.
        if _disabled_outright(both, _decompose(signature)):
            return f"Algorithm constraints check failed on signature algorithm: {signature}"
        # 2. jdk.certpath.disabledAlgorithms' entries for the hash, the signature and the key.
        for algorithm in (*_hash_of(signature), signature, key_algorithm):
            for entry in self._certpath:
                if _normal(entry.algorithm) != _normal(algorithm):
                    continue
                message = _entry_refuses(entry, algorithm, key_algorithm, key_size, variant, now, subject)
                if message is not None:
                    return message
        # 3. jdk.tls.disabledAlgorithms on the certificate's own key.
        if _key_refused(self._tls, key_algorithm, key_size):
            return f"Algorithm constraints check failed on key {key_algorithm} with size of {key_size}bits"
        # 4. The signature made with the issuer's key, against both properties' key limits.
        issuer_algorithm, issuer_size = _java_key(issuer_key)
        if _key_refused(both, issuer_algorithm, issuer_size):
            return f"Algorithm constraints check failed on signature algorithm: {signature}"
        return None


def _disabled_outright(entries: Iterable[_Entry], names: set[str]) -> bool:
    return any(not e.conditions and _normal(e.algorithm) in names for e in entries)


def _key_refused(entries: Iterable[_Entry], algorithm: str, size: int) -> bool:
    """The key's algorithm disabled outright, or a ``keySize`` entry for it that holds."""
    for entry in entries:
        if _normal(entry.algorithm) != _normal(algorithm):
            continue
        if not entry.conditions:
            return True
        if all(c.kind == "keySize" for c in entry.conditions) and all(
            _OPERATORS[c.operator](size, c.limit) for c in entry.conditions
        ):
            return True
    return False


def _entry_refuses(entry: _Entry, algorithm: str, key_algorithm: str, key_size: int, variant: Variant,
                   now: datetime.datetime, subject: str) -> str | None:
    """Java's message when every condition of ``entry`` holds (the last one's words), else None."""
    used_with = f" used with certificate: {subject}"
    if not entry.conditions:
        if _normal(algorithm) != _normal(key_algorithm):
            return None  # a signature name disabled outright was refused in step 1
        return f"Algorithm constraints check failed on disabled algorithm: {entry.algorithm}{used_with}"
    message = ""
    for condition in entry.conditions:
        if condition.kind == "keySize":
            if _normal(algorithm) != _normal(key_algorithm) or not _OPERATORS[condition.operator](key_size, condition.limit):
                return None
            message = (f"Algorithm constraints check failed on keysize limits: {key_algorithm} {key_size} bit key"
                       f"{used_with}")
        elif condition.kind == "jdkCA":
            return None  # the lab's anchors are never among the JDK's own cacerts (assumed)
        elif condition.kind == "usage":
            usage = next((u for u in condition.usages if u.lower() == variant.lower()), None)
            if usage is None:
                return None
            message = f"Usage constraint {usage} check failed: {entry.algorithm}{used_with}"
        else:
            assert condition.date is not None
            if now < condition.date:
                return None
            message = (f"denyAfter constraint check failed: {entry.algorithm} used with Constraint date: "
                       f"{condition.date:%Y-%m-%d}; params date: {_java_instant(now)}{used_with}")
    return message
