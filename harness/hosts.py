"""The Windows hosts of the topology and their certificate stores.

The page moves certificates between hosts: ``Request-CsCertificate`` installs a
certificate into the Front End's *Local Computer\\Personal* store, the export wizard
reads it from there, web enrollment installs into the UC Connector host's store, Internet
Explorer shows the *Trusted Root Certification Authorities*. A :class:`WindowsHost` keeps
those stores on disk in the lab's state folder so that a lab restarted on the same
workdir finds them again.

A stored private key remembers whether it was marked exportable when it was created:
Windows decides this at key generation (the template's "Allow private key to be
exported", ``-PrivateKeyExportable``, "Mark keys as exportable") and never changes it
afterwards, which is why the page's shell command, without that switch, yields a
certificate whose key cannot be exported to a PFX.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes._files import write_private_file, write_public_file

__all__ = ["StoredCertificate", "CertificateStore", "WindowsHost", "HostStoreError", "thumbprint", "snapin_location"]

# Store names as the Certificates snap-in shows them.
PERSONAL = "Personal"
TRUSTED_ROOTS = "Trusted Root Certification Authorities"
# The two places a certificate can be installed: the snap-in's "Computer account" and
# "My user account" views. The page's procedures use the computer's store except for
# web enrollment from Internet Explorer, which installs into the current user's.
COMPUTER = "computer"
USER = "user"


# What the Certificates snap-in's first page offers, as the page words it.
_SNAPIN_ACCOUNTS = {"local computer": COMPUTER, "computer account": COMPUTER, "my user account": USER, "user": USER}


def snapin_location(account: str) -> str | None:
    """The store location the Certificates snap-in opens for ``account``; None if unknown."""
    return _SNAPIN_ACCOUNTS.get(account.lower())


class HostStoreError(ValueError):
    """A file of a host's certificate store is unreadable; the message names it."""


def thumbprint(certificate: x509.Certificate) -> str:
    """The SHA-1 thumbprint as Windows shows it: upper-case hex."""
    return certificate.fingerprint(hashes.SHA1()).hex().upper()


@dataclass(frozen=True)
class StoredCertificate:
    """A certificate in a store, with its private key when the store holds one."""

    certificate: x509.Certificate
    friendly_name: str | None
    key_exportable: bool
    has_private_key: bool
    location: str
    store: str

    @property
    def thumbprint(self) -> str:
        return thumbprint(self.certificate)

    @property
    def subject_cn(self) -> str | None:
        names = self.certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else None


class CertificateStore:
    """One store (e.g. Local Computer\\Personal) of one host, persisted in a folder.

    Each certificate is ``<thumbprint>.pem`` with ``<thumbprint>.json`` (friendly name,
    exportability) and, when present, ``<thumbprint>.key.pem`` (mode 0600).
    """

    def __init__(self, folder: Path, *, location: str, name: str) -> None:
        self.folder = folder
        self.location = location
        self.name = name

    def _paths(self, tp: str) -> tuple[Path, Path, Path]:
        return (self.folder / f"{tp}.pem", self.folder / f"{tp}.json", self.folder / f"{tp}.key.pem")

    def add(
        self,
        certificate: x509.Certificate,
        private_key: rsa.RSAPrivateKey | None = None,
        *,
        friendly_name: str | None = None,
        key_exportable: bool = False,
    ) -> StoredCertificate:
        """Install a certificate (and its key) into the store, replacing one with the same thumbprint."""
        tp = thumbprint(certificate)
        cert_path, meta_path, key_path = self._paths(tp)
        write_public_file(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
        if private_key is not None:
            write_private_file(
                key_path,
                private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
        meta = {"friendly_name": friendly_name, "key_exportable": key_exportable}
        write_public_file(meta_path, json.dumps(meta, indent=2).encode())
        return self._load(tp)

    def _load(self, tp: str) -> StoredCertificate:
        cert_path, meta_path, key_path = self._paths(tp)
        try:
            meta = json.loads(meta_path.read_text())
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise HostStoreError(f"{meta_path} / {cert_path.name}: unreadable certificate store entry ({exc})") from exc
        return StoredCertificate(
            certificate=certificate,
            friendly_name=meta.get("friendly_name"),
            key_exportable=bool(meta.get("key_exportable")),
            has_private_key=key_path.exists(),
            location=self.location,
            store=self.name,
        )

    def certificates(self) -> list[StoredCertificate]:
        """Every certificate in the store, oldest first."""
        if not self.folder.is_dir():
            return []
        pems = sorted(self.folder.glob("*.pem"), key=lambda p: p.stat().st_mtime_ns)
        return [self._load(p.stem) for p in pems if not p.name.endswith(".key.pem")]

    def find(self, *, friendly_name: str | None = None, subject_cn: str | None = None) -> list[StoredCertificate]:
        """Certificates whose friendly name and/or subject CN match (case-insensitive, as the snap-in sorts)."""
        found = []
        for entry in self.certificates():
            if friendly_name is not None and (entry.friendly_name or "").lower() != friendly_name.lower():
                continue
            if subject_cn is not None and (entry.subject_cn or "").lower() != subject_cn.lower():
                continue
            found.append(entry)
        return found

    def private_key(self, entry: StoredCertificate) -> rsa.RSAPrivateKey:
        """The private key of an entry; :class:`LookupError` when the store has none."""
        key_path = self._paths(entry.thumbprint)[2]
        if not key_path.exists():
            raise LookupError(f"{entry.subject_cn}: the store holds no private key for this certificate")
        # The store's own file, written by add() from a key in hand (0600): it is not checked
        # again on every read (OpenSSL's RSA check costs ~35 ms a key).
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def delete_private_key(self, entry: StoredCertificate) -> None:
        """What the export wizard's 'Delete the private key if the export is successful' does."""
        self._paths(entry.thumbprint)[2].unlink(missing_ok=True)


class WindowsHost:
    """A Windows machine of the topology (labdc01, fe01, ucc01) with its certificate stores."""

    def __init__(self, name: str, fqdn: str, state_dir: Path) -> None:
        self.name = name
        self.fqdn = fqdn
        self.state_dir = state_dir

    def store(self, name: str = PERSONAL, location: str = COMPUTER) -> CertificateStore:
        folder_name = "personal" if name == PERSONAL else "trusted-roots" if name == TRUSTED_ROOTS else None
        if folder_name is None:
            raise ValueError(f"unknown certificate store {name!r}")
        if location not in (COMPUTER, USER):
            raise ValueError(f"unknown store location {location!r} (expected {COMPUTER!r} or {USER!r})")
        return CertificateStore(self.state_dir / location / folder_name, location=location, name=name)

    @property
    def personal(self) -> CertificateStore:
        return self.store(PERSONAL, COMPUTER)

    @property
    def trusted_roots(self) -> CertificateStore:
        return self.store(TRUSTED_ROOTS, COMPUTER)
