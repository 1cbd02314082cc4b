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

    def to_json(self) -> list[dict]:
        return [asdict(e) for e in self.entries.values()]

    def save(self) -> None:
        write_private_file(self.path, (json.dumps(self.to_json(), indent=2) + "\n").encode())
