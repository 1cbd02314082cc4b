"""The replay's transcript: one entry per step of the page that was carried out.

Every entry names the page's heading and step number, says what was done, lists the
artifacts the step wrote (path and sha256) and, where the page cannot be followed
literally, the gap the lab bridged. Passwords never appear in it (DESIGN principle 7):
parameters whose name says they hold a secret are masked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fakes._files import sha256_file

__all__ = ["ArtifactRecord", "TranscriptEntry", "Transcript", "mask_secrets", "MASK"]

MASK = "********"
_SECRET_WORDS = ("password", "pass", "secret", "storepass", "pin")


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(lowered == w or lowered.endswith("_" + w) or lowered.startswith(w + "_") for w in _SECRET_WORDS)


def mask_secrets(params: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` with the values of secret-named keys replaced by a mask."""
    return {k: (MASK if _is_secret_name(k) and v is not None else v) for k, v in params.items()}


@dataclass(frozen=True)
class ArtifactRecord:
    """A file a step wrote: its path relative to the artifacts folder and its sha256."""

    path: str
    sha256: str
    role: str | None = None

    @classmethod
    def of(cls, path: Path, artifacts_dir: Path, role: str | None = None) -> "ArtifactRecord":
        return cls(path=str(Path(path).relative_to(artifacts_dir)), sha256=sha256_file(path), role=role)


@dataclass
class TranscriptEntry:
    """One carried-out step.

    ``outcome`` is ``done`` or ``failed``; a failed step carries a diagnosis (``code``,
    ``fix``). ``gap`` says where the page, followed literally, does not work and what the
    lab did instead; ``note`` is any other remark worth a reader's attention.
    """

    heading: str
    step: str
    step_id: str
    host: str
    action: str
    outcome: str = "done"
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    gap: str | None = None
    note: str | None = None
    code: str | None = None
    fix: str | None = None
    duration_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if v not in (None, [], {})}


class Transcript:
    """An ordered list of :class:`TranscriptEntry`."""

    def __init__(self) -> None:
        self.entries: list[TranscriptEntry] = []

    def append(self, entry: TranscriptEntry) -> TranscriptEntry:
        self.entries.append(entry)
        return entry

    @property
    def gaps(self) -> list[TranscriptEntry]:
        return [e for e in self.entries if e.gap]

    @property
    def failures(self) -> list[TranscriptEntry]:
        return [e for e in self.entries if e.outcome == "failed"]

    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.entries]
