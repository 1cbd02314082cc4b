"""``artifacts/manifest.json``: which file plays which role, in which format, with which password.

The manifest is the one place that records the lab's store passwords (DESIGN principle 7),
so it is written with mode 0600. Its shape is a contract other tools rely on::

    [{"role": "ucc-pfx", "path": "GenesysServer_Certficate.pfx", "format": "pkcs12",
      "password": "mnopqr", "doc_step": "Generating the Server Certificate ..., step 5"}]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from fakes._files import write_private_file

from .artifacts import ArtifactError, read_certificate, read_keystore, read_krb5_conf, read_pfx

__all__ = ["ROLES", "ManifestEntry", "Manifest", "ManifestError"]

ROLES = (
    "ca-certificate",
    "ucc-pfx",
    "frontend-pfx",
    "lync-trusted-certificate",
    "truststore",
    "krb5-conf",
    "startup-bat",
)


class ManifestError(ValueError):
    """The manifest file is unreadable or breaks its contract."""


@dataclass(frozen=True)
class ManifestEntry:
    role: str
    path: str  # relative to the artifacts folder
    format: str  # der-certificate, pkcs12, jks, krb5.conf, text
    password: str | None
    doc_step: str


class Manifest:
    """The artifacts folder's manifest; one entry per role, the latest write wins."""

    def __init__(self, artifacts_dir: Path) -> None:
        self.artifacts_dir = artifacts_dir
        self.path = artifacts_dir / "manifest.json"
        self.entries: dict[str, ManifestEntry] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            for item in data:
                entry = ManifestEntry(**item)
                self.entries[entry.role] = entry
        except (OSError, ValueError, TypeError) as exc:
            raise ManifestError(f"{self.path}: not a valid manifest ({exc})") from exc

    def add(self, role: str, path: Path, *, format: str, password: str | None, doc_step: str) -> ManifestEntry:
        if role not in ROLES:
            raise ManifestError(f"unknown artifact role {role!r}; known roles: {', '.join(ROLES)}")
        relative = str(Path(path).resolve().relative_to(self.artifacts_dir.resolve()))
        entry = ManifestEntry(role=role, path=relative, format=format, password=password, doc_step=doc_step)
        self.entries[role] = entry
        self.save()
        return entry

    def get(self, role: str) -> ManifestEntry | None:
        return self.entries.get(role)

    def file(self, role: str) -> Path | None:
        entry = self.entries.get(role)
        return self.artifacts_dir / entry.path if entry else None

    def damage(self, role: str) -> str | None:
        """Why the file of ``role`` cannot be reused, or ``None`` when it reads as what it is.

        Each file is opened as its reader would: a certificate parsed, a PFX opened with its
        password and holding its key, the trust store loaded as Java loads it with at least
        one trusted certificate, krb5.conf parsed with a default realm, startup.bat as text.
        A truncated or overwritten file is caught here rather than reused silently.
        """
        entry = self.entries.get(role)
        if entry is None:
            return "not in the manifest"
        path = self.artifacts_dir / entry.path
        if not path.is_file():
            return "missing"
        try:
            if role in ("ucc-pfx", "frontend-pfx"):
                contents = read_pfx(path, entry.password)
                if contents.private_key is None or contents.certificate is None:
                    return "the PFX holds no certificate with its private key"
            elif role == "truststore":
                if not read_keystore(path, entry.password, entry.format).trust_anchors:
                    return "the trust store holds no trusted certificate"
            elif role in ("ca-certificate", "lync-trusted-certificate"):
                read_certificate(path)
            elif role == "krb5-conf":
                if not read_krb5_conf(path).libdefaults.get("default_realm"):
                    return "krb5.conf names no default_realm"
            elif not path.read_bytes().strip():
                return "empty"
        except ArtifactError as exc:
            return exc.message
        except OSError as exc:
            return exc.strerror or str(exc)
        return None

    def to_json(self) -> list[dict]:
        return [asdict(e) for e in self.entries.values()]

    def save(self) -> None:
        write_private_file(self.path, (json.dumps(self.to_json(), indent=2) + "\n").encode())
