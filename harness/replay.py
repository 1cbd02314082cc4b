"""``ucclab replay``: walk the page's procedures in a lab and report what came of it.

The result's JSON is a contract (DESIGN.md)::

    {"path": "all", "outcome": "confirmed" | "not-confirmed" | "failed", "workdir": "...",
     "transcript": [...], "manifest": [...], "gaps": [...], "diagnoses": [...],
     "handshakes": [{"kind": "mtls" | "tls-kerberos", "client": "python", "outcome": ..., "evidence": ...}]}

``failed`` means a step of the page could not be carried out (a diagnosis says which and
why); ``not-confirmed`` that the steps were done but a handshake was refused or not run
(its diagnoses say why); ``confirmed`` that every handshake of the path was confirmed by
what the server side saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .diagnosis import diagnose
from .handshakes import compare_clients, confirm_mtls, confirm_tls_kerberos
from .javaprobe import ProbeError
from .lab import Lab, LabBase
from .manifest import Manifest
from .procedures import (
    PATH_PARTS,
    PFX_SOURCES,
    OverrideError,
    Overrides,
    StepContext,
    check_overrides,
    all_steps,
    procedures_for,
    run_procedure,
)
from .transcript import Transcript, TranscriptEntry, mask_secrets

__all__ = ["REPLAY_OPTIONS", "ReplayResult", "replay", "parse_overrides"]

# Pseudo-step ``replay``: options of the replay itself, set like step parameters.
REPLAY_OPTIONS: dict[str, Any] = {"pfx_source": "shell", "literal": False}


def parse_overrides(raw: list[str]) -> Overrides:
    """Validate ``--set`` texts (raises :class:`~harness.procedures.OverrideError`)."""
    overrides = check_overrides(raw, all_steps(), extra={"replay": REPLAY_OPTIONS})
    source = overrides.get("replay", {}).get("pfx_source")
    if source is not None and source not in PFX_SOURCES:
        raise OverrideError(f"replay.pfx_source={source!r}: expected one of {', '.join(PFX_SOURCES)}")
    return overrides


@dataclass
class ReplayResult:
    path: str
    workdir: str
    transcript: Transcript
    manifest: Manifest
    setup: list[str] = field(default_factory=list)
    handshakes: list[dict[str, Any]] = field(default_factory=list)
    # With client "both": handshakes where the Python stand-in and Java disagree (a lab defect).
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.transcript.failures:
            return "failed"
        if self.disagreements:
            return "not-confirmed"
        if self.handshakes and all(h["outcome"] == "confirmed" for h in self.handshakes):
            return "confirmed"
        return "not-confirmed"

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome == "confirmed" else 1

    @property
    def diagnoses(self) -> list[dict[str, Any]]:
        """A failed step's diagnosis, or the handshakes' (each once, in order)."""
        steps = [
            {"code": e.code, "doc_step": f"{e.heading}, step {e.step}", "message": e.action, "evidence": e.note, "fix": e.fix}
            for e in self.transcript.failures
        ]
        seen: set[tuple[str, str]] = set()
        handshakes = []
        for h in self.handshakes:
            for d in h.get("diagnoses", []):
                if (d["code"], d["message"]) not in seen:
                    seen.add((d["code"], d["message"]))
                    handshakes.append(d)
        defects = [
            {
                "code": "lab-client-disagreement",
                "doc_step": None,
                "message": f"{d['kind']} {d['direction'] or ''}: the Python stand-in says {d['python']['outcome']}, Java says {d['java']['outcome']}",
                "evidence": d,
                "fix": "A defect of the lab: the Python stand-in and the real Java stack must reach the same outcome.",
            }
            for d in self.disagreements
        ]
        return steps + handshakes + defects

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "outcome": self.outcome,
            "workdir": self.workdir,
            "setup": self.setup,
            "transcript": self.transcript.to_json(),
            "gaps": [{"doc_step": f"{e.heading}, step {e.step}", "gap": e.gap} for e in self.transcript.gaps],
            "diagnoses": self.diagnoses,
            # The store passwords stay in artifacts/manifest.json (mode 0600), not in output.
            "manifest": [mask_secrets(entry) for entry in self.manifest.to_json()],
            "handshakes": self.handshakes,
            "disagreements": self.disagreements,
        }


async def replay(
    lab: Lab,
    path: str = "all",
    overrides: Overrides | None = None,
    *,
    client: str = "python",
    progress: Callable[[TranscriptEntry], None] | None = None,
) -> ReplayResult:
    """Replay ``path`` of the page in a started ``lab``."""
    overrides = overrides or {}
    options = {**REPLAY_OPTIONS, **overrides.get("replay", {})}
    transcript = Transcript()
    ctx = StepContext(lab=lab, transcript=transcript, literal=options["literal"], progress=progress)
    ctx.state["pfx_source"] = options["pfx_source"]
    assert lab.manifest is not None
    result = ReplayResult(path=path, workdir=str(lab.workdir), transcript=transcript, manifest=lab.manifest, setup=list(lab.setup_notes))
    done: set[str] = set()
    for part in PATH_PARTS[path]:
        for procedure in procedures_for(part, options["pfx_source"]):
            # One Secured port serves both paths: "Configuring a Secure SIP Port" once.
            if procedure.key == "secure_port" and procedure.key in done:
                continue
            if not await run_procedure(procedure, ctx, overrides):
                return result  # a step of the page failed: there are no files to try
            done.add(procedure.key)
        result.handshakes += await _handshakes(lab, part, pfx_source=options["pfx_source"], client=client)
    if client == "both":
        result.disagreements = compare_clients(result.handshakes)
    return result


async def connect(lab: LabBase, path: str = "all", *, pfx_source: str = "shell", client: str = "python") -> ReplayResult:
    """Start the UC Connector of a running ``lab`` as its Application stands now, without any
    step of the page: it registers with the Front End and answers the Front End's push on its
    Secured port (MTLS), or logs in with Kerberos (TLS/Kerberos), each judged by what the
    server side saw. The result is a replay's with an empty transcript."""
    assert lab.manifest is not None
    result = ReplayResult(path=path, workdir=str(lab.workdir), transcript=Transcript(), manifest=lab.manifest)
    for part in PATH_PARTS[path]:
        result.handshakes += await _handshakes(lab, part, pfx_source=pfx_source, client=client)
    if client == "both":
        result.disagreements = compare_clients(result.handshakes)
    return result


async def _handshakes(lab: LabBase, part: str, *, pfx_source: str, client: str) -> list[dict[str, Any]]:
    """The handshakes of one path (``mtls`` or ``tls-kerberos``) with the lab's files as they
    are now, for each client in turn."""
    out: list[dict[str, Any]] = []
    for one in ("python", "java") if client == "both" else (client,):
        try:
            if part == "mtls":
                out += await confirm_mtls(lab, pfx_source=pfx_source, client=one)
            else:
                out.append(await confirm_tls_kerberos(lab, client=one))
        except ProbeError as exc:
            # The JVM gave no report (a timeout, a crash): an error of this handshake, not of the replay.
            out.append(
                {
                    "kind": part,
                    "client": one,
                    "outcome": "error",
                    "evidence": {"java": str(exc)},
                    "diagnoses": [diagnose("java-probe-failed", str(exc), None)],
                }
            )
    return out
