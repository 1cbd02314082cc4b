"""PFX files as the Windows Certificate Export Wizard writes them, and as OpenSSL reads them.

The page exports the connector's certificate three times the same way ("Yes, export the
private key", "Include all certificates in the certification path if possible", a
password such as ``mnopqr``). What the wizard offers, and refuses:

- The key goes into a PFX only if it is marked exportable; otherwise the wizard greys the
  option out (:class:`KeyNotExportableError`).
- Without the key, the wizard offers only DER, Base-64 and PKCS #7 — never "Personal
  Information Exchange - PKCS #12 (.PFX)" (Microsoft, "Back Up Certificates"). So a PFX
  always has the key; asking for one without it is an :class:`ArtifactError`.
- With the key, a password (or an AD principal) is required. Since Windows 10 1709 the
  wizard encrypts with "AES256-SHA256" (PBES2, AES-256, SHA-256 MAC) or "TripleDES-SHA1"
  (SSLMate/go-pkcs12 pull request #16); Windows Server 2016 and older know only the
  latter and refuse AES files with "The password you entered is incorrect"
  (kaikramer/keystore-explorer issue #318). ``password=None`` writes the key and
  certificates unencrypted, which only tools do (``openssl pkcs12 -export -keypbe NONE
  -certpbe NONE``); Java then sees no usable entry (see :func:`~harness.artifacts.read_keystore`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from fakes._files import write_private_file

from . import _pkcs12
from ._certificates import parse_der_certificate
from ._der import DerError
from ._errors import ArtifactError, CorruptFileError, KeyNotExportableError, WrongFormatError, WrongPasswordError
from ._formats import describe_format, detect_format
from ._reading import read_artifact_bytes

__all__ = ["PfxContents", "export_pfx", "read_pfx", "parse_pfx_file", "ENCRYPTIONS", "build_chain"]

# The wizard's "Encryption" choices on its Security page.
ENCRYPTIONS = ("aes256", "3des")

# What OpenSSL and the Windows import wizard say when the password is wrong (the latter as
# reported in PeculiarVentures/PKI.js issue #84 and kaikramer/keystore-explorer issue #318).
_OPENSSL_WRONG_PASSWORD = "Mac verify error: invalid password?"
_WINDOWS_WRONG_PASSWORD = "The password you entered is incorrect."


@dataclass(frozen=True)
class PfxContents:
    """What a PFX holds, as OpenSSL and the Windows import wizard see it.

    ``certificate`` is the one that goes with the private key (by local key id, else by
    public key); ``additional_certificates`` are the others in file order; :attr:`chain`
    orders leaf → issuers. ``encryption`` is the wizard's choice that produced the file
    ("aes256", "3des") or "none"; the ``*_protection`` fields say exactly how the key and the
    certificates are encrypted, as ``openssl pkcs12 -info`` words it.
    """

    private_key: PrivateKeyTypes | None
    certificate: x509.Certificate | None
    additional_certificates: list[x509.Certificate]
    friendly_name: str | None
    key_encrypted: bool
    encryption: str
    key_protection: str | None
    certificate_protection: str | None
    mac_algorithm: str | None
    mac_iterations: int | None

    @property
    def chain(self) -> list[x509.Certificate]:
        """The certificate and the issuers found among the other certificates, leaf first."""
        return build_chain(self.certificate, self.additional_certificates) if self.certificate else []


def export_pfx(
    path: Path | str | os.PathLike[str],
    *,
    certificate: x509.Certificate,
    private_key: PrivateKeyTypes | None,
    chain: Sequence[x509.Certificate] = (),
    export_private_key: bool = True,
    include_chain: bool = True,
    password: str | None = "mnopqr",
    encryption: str = "aes256",
    friendly_name: str | None = None,
    key_exportable: bool = True,
) -> Path:
    """Write ``certificate`` and its key as the Certificate Export Wizard does (mode 0600).

    ``chain`` is the certification path above the certificate (issuing CAs, root); it goes
    into the file only with ``include_chain`` ("Include all certificates in the
    certification path if possible"). ``friendly_name`` is the certificate's Friendly Name
    in the store, written on the key and certificate bags (Java turns it into the alias).
    """
    path = Path(path)
    if not export_private_key:
        raise ArtifactError(
            'a PFX ("Personal Information Exchange - PKCS #12") needs "Yes, export the private key": without the key '
            "the wizard offers only DER encoded binary X.509, Base-64 encoded X.509 and PKCS #7",
            path,
        )
    if not key_exportable:
        raise KeyNotExportableError(path)
    if private_key is None:
        raise ArtifactError("the certificate has no private key here, so there is nothing to export as a PFX", path)
    if private_key.public_key() != certificate.public_key():  # type: ignore[union-attr]
        raise ArtifactError("the private key does not belong to the certificate", path)
    if encryption not in ENCRYPTIONS:
        raise ArtifactError(f"encryption must be one of {', '.join(ENCRYPTIONS)}, not {encryption!r}", path)
    if password == "":
        raise ArtifactError("the wizard requires a password to protect the private key; the password is empty", path)
    others = [c for c in chain if c != certificate] if include_chain else []
    data = pkcs12.serialize_key_and_certificates(
        friendly_name.encode("utf-8") if friendly_name else None,
        private_key,  # type: ignore[arg-type]
        certificate,
        others or None,
        _encryption(password, encryption),
    )
    return write_private_file(path, data)


def _encryption(password: str | None, encryption: str) -> serialization.KeySerializationEncryption:
    if password is None:
        return serialization.NoEncryption()
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if encryption == "3des":
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    return builder.build(password.encode("utf-8"))


def read_pfx(path: Path | str | os.PathLike[str], password: str | None) -> PfxContents:
    """Open a PFX as OpenSSL does: the MAC first, then the contents.

    ``password=None`` opens files written without one. Raises :class:`WrongPasswordError`,
    :class:`WrongFormatError` (not a PFX: says what it is) or :class:`CorruptFileError`.
    """
    path = Path(path)
    data = read_artifact_bytes(path)
    pfx = parse_pfx_file(data, path)
    if not _pkcs12.verify_mac(pfx, password):
        raise WrongPasswordError(
            f"wrong password: the PFX's integrity check fails with it (OpenSSL: '{_OPENSSL_WRONG_PASSWORD}'; "
            f"Windows: '{_WINDOWS_WRONG_PASSWORD}')",
            path,
        )
    bags: list[_pkcs12.SafeBag] = []
    certificate_protection = None
    for container in pfx.containers:
        try:
            bags += _pkcs12.open_container(container, password)
        except _pkcs12.Pkcs12DecryptError as exc:
            raise CorruptFileError(
                f"container {container.index} does not decrypt with the password that passes the MAC: {exc}", path
            ) from exc
        except _pkcs12.Pkcs12UnsupportedError as exc:
            raise ArtifactError(f"a PKCS#12 feature this lab does not read: {exc}", path) from exc
        except (_pkcs12.Pkcs12Error, DerError) as exc:
            raise CorruptFileError(str(exc), path) from exc
        if container.protection is not None:
            certificate_protection = certificate_protection or container.protection
    return _contents(bags, pfx, password, certificate_protection, path)


def parse_pfx_file(data: bytes, path: Path) -> _pkcs12.Pfx:
    """Parse a PFX's outer structure, turning failures into errors that say what the file is."""
    fmt = detect_format(data)
    if fmt == "empty":
        raise CorruptFileError("the file is empty (0 bytes), not a PFX", path)
    if fmt != "pkcs12":
        if fmt != "unknown":
            raise WrongFormatError(f"this is {describe_format(fmt)}, not a PKCS#12 (PFX) file", path, actual_format=fmt)
        raise CorruptFileError(f"not a PKCS#12 (PFX) file: the file starts with {data[:8].hex(' ')}", path)
    try:
        return _pkcs12.parse_pfx(data)
    except _pkcs12.Pkcs12UnsupportedError as exc:
        raise ArtifactError(f"a PKCS#12 feature this lab does not read: {exc}", path) from exc
    except _pkcs12.Pkcs12Error as exc:
        raise CorruptFileError(f"{exc} (truncated or damaged PFX)", path) from exc


def _contents(
    bags: list[_pkcs12.SafeBag],
    pfx: _pkcs12.Pfx,
    password: str | None,
    certificate_protection: _pkcs12.Protection | None,
    path: Path,
) -> PfxContents:
    key_bag = next((b for b in bags if b.oid in (_pkcs12.KEY_BAG, _pkcs12.SHROUDED_KEY_BAG)), None)
    private_key = None
    key_protection = None
    try:
        if key_bag is not None:
            if key_bag.oid == _pkcs12.SHROUDED_KEY_BAG:
                key_protection = key_bag.key_protection
                pkcs8 = _pkcs12.decrypt_shrouded_key(key_bag, password)
            else:
                pkcs8 = key_bag.value.encoded
            private_key = serialization.load_der_private_key(pkcs8, password=None)
        certs = [(bag, parse_der_certificate(der)) for bag in bags if (der := bag.certificate_der)]
    except _pkcs12.Pkcs12DecryptError as exc:
        message = f"the key bag does not decrypt with the password that passes the MAC: {exc}"
        raise CorruptFileError(message, path) from exc
    except (_pkcs12.Pkcs12UnsupportedError, UnsupportedAlgorithm) as exc:
        raise ArtifactError(f"a PKCS#12 feature this lab does not read: {exc}", path) from exc
    except (ValueError, _pkcs12.Pkcs12Error) as exc:
        raise CorruptFileError(f"a bag does not parse: {exc}", path) from exc
    leaf_index = _leaf_index(key_bag, private_key, certs)
    certificate = certs[leaf_index][1] if leaf_index is not None else None
    leaf_bag = certs[leaf_index][0] if leaf_index is not None else None
    protection = key_protection or certificate_protection
    return PfxContents(
        private_key=private_key,
        certificate=certificate,
        additional_certificates=[c for i, (_b, c) in enumerate(certs) if i != leaf_index],
        friendly_name=(key_bag and key_bag.friendly_name) or (leaf_bag and leaf_bag.friendly_name) or None,
        key_encrypted=key_bag is not None and key_bag.oid == _pkcs12.SHROUDED_KEY_BAG,
        encryption=protection.short if protection else "none",
        key_protection=key_protection.description if key_protection else None,
        certificate_protection=certificate_protection.description if certificate_protection else None,
        mac_algorithm=pfx.mac.digest if pfx.mac else None,
        mac_iterations=pfx.mac.iterations if pfx.mac else None,
    )


def _leaf_index(
    key_bag: _pkcs12.SafeBag | None,
    private_key: PrivateKeyTypes | None,
    certs: list[tuple[_pkcs12.SafeBag, x509.Certificate]],
) -> int | None:
    """Which certificate goes with the key: same local key id, else same public key, else the first."""
    if not certs:
        return None
    if key_bag is not None and key_bag.local_key_id is not None:
        for i, (bag, _cert) in enumerate(certs):
            if bag.local_key_id == key_bag.local_key_id:
                return i
    if private_key is not None:
        for i, (_bag, cert) in enumerate(certs):
            if cert.public_key() == private_key.public_key():  # type: ignore[union-attr]
                return i
    return 0


def build_chain(leaf: x509.Certificate, pool: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Follow issuer → subject from ``leaf`` through ``pool`` until a self-issued certificate."""
    chain = [leaf]
    while chain[-1].issuer != chain[-1].subject:
        issuer = next((c for c in pool if c.subject == chain[-1].issuer and c not in chain), None)
        if issuer is None:
            break
        chain.append(issuer)
    return chain
