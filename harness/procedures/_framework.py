"""Procedures of the page as data: headings, numbered steps, parameters with the page's defaults.

A procedure is a :class:`Procedure` (one module per page heading); each numbered step is an
``async`` function registered with :meth:`Procedure.step`. Its keyword-only parameters,
with their defaults, are what the page says; a replay changes them with
``--set STEP.PARAM=VALUE`` where ``STEP`` is ``<procedure key>.<function name>``, e.g.
``shell.request_cs_certificate.private_key_exportable=false``.

A step returns :class:`Done` (what it did, which artifacts it wrote, a gap in the page it
bridged) or raises :class:`StepFailed` with a stable diagnosis code, what went wrong in
the real components' words, and the fix. The runner turns both into transcript entries.
"""

from __future__ import annotations

import difflib
import inspect
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Union

from fakes.ca import describe_status

from ..transcript import ArtifactRecord, TranscriptEntry, mask_secrets

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..lab import Lab
    from ..transcript import Transcript

__all__ = [
    "Done",
    "StepFailed",
    "Step",
    "Procedure",
    "StepContext",
    "Overrides",
    "OverrideError",
    "parse_override",
    "check_overrides",
    "run_procedure",
    "rsa_key_size_problem",
    "refuse_long_common_name",
]

# {step id: {parameter: value}}
Overrides = dict[str, dict[str, Any]]


@dataclass
class Done:
    """What a step did: a sentence in the page's words, the files it wrote, remarks."""

    action: str
    artifacts: list[tuple[Path, str | None]] = field(default_factory=list)  # (path, manifest role)
    gap: str | None = None
    note: str | None = None
    host: str | None = None


class StepFailed(Exception):
    """A step that cannot be carried out, as the real component would refuse it.

    ``code`` is a stable diagnosis code, ``message`` the refusal in the real tool's words,
    ``fix`` one sentence saying what to do instead.
    """

    def __init__(self, code: str, message: str, fix: str, *, evidence: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fix = fix
        self.evidence = evidence


class OverrideError(ValueError):
    """A ``--set`` that names no step or parameter, or a value of the wrong type."""


StepFunction = Callable[..., Awaitable[Done]]


@dataclass(frozen=True)
class Step:
    """One numbered step of a procedure of the page."""

    procedure: "Procedure"
    number: str
    function: StepFunction

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def id(self) -> str:
        return f"{self.procedure.key}.{self.name}"

    def parameters(self) -> dict[str, inspect.Parameter]:
        return {
            n: p
            for n, p in inspect.signature(self.function).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def defaults(self) -> dict[str, Any]:
        return {n: p.default for n, p in self.parameters().items()}

    def coerce(self, param: str, text: str) -> Any:
        """Turn ``--set`` text into the parameter's type (from its annotation)."""
        hints = typing.get_type_hints(self.function)
        value = _coerce(text, hints.get(param, str), f"{self.id}.{param}")
        if param in _FILE_NAME_PARAMETERS:
            _check_file_name(value, f"{self.id}.{param}")
        if param in _KEY_SIZE_PARAMETERS and value is not None:
            problem = rsa_key_size_problem(value)
            if problem:
                raise OverrideError(f"{self.id}.{param}={value}: {problem}")
        return value


class Procedure:
    """A heading of the page with its numbered steps, in the page's order."""

    def __init__(self, key: str, heading: str, host: str) -> None:
        self.key = key
        self.heading = heading
        self.host = host  # topology role of the host where the page says to work: ca, frontend, ucc
        self.steps: list[Step] = []

    def step(self, number: int | str) -> Callable[[StepFunction], StepFunction]:
        def register(function: StepFunction) -> StepFunction:
            self.steps.append(Step(self, str(number), function))
            return function

        return register

    def __repr__(self) -> str:
        return f"Procedure({self.key!r}, {self.heading!r})"


@dataclass
class StepContext:
    """What a step works with: the lab, the replay's shared state, the transcript."""

    lab: "Lab"
    transcript: "Transcript"
    # Values handed from one step to a later one (e.g. the thumbprint found in step 4
    # that step 5 exports), keyed by a name the procedures agree on.
    state: dict[str, Any] = field(default_factory=dict)
    literal: bool = False
    # Called with each transcript entry as soon as its step ends (progress output).
    progress: Callable[[TranscriptEntry], None] | None = None


# Parameters naming a file the step writes into the artifacts folder.
_FILE_NAME_PARAMETERS = {"file_name", "keystore"}
# Parameters giving the size in bits of an RSA key Windows makes.
_KEY_SIZE_PARAMETERS = {"key_size"}

# The sizes of RSA key Windows' software providers make: 384 to 16,384 bits in 8-bit steps
# (learn.microsoft.com, "Base Provider Algorithms", CALG_RSA_SIGN; the Strong and Enhanced
# providers share the bounds), and since the August 2012 update none under 1024 bits
# (Microsoft PKI blog, "RSA keys under 1024 bits are blocked", KB 2661254).
RSA_MIN_BITS, RSA_MAX_BITS, RSA_STEP_BITS = 1024, 16384, 8
# X.520's upper bound ub-common-name (RFC 5280, Appendix A.1): a CN of at most 64 characters.
UB_COMMON_NAME = 64
# winerror.h; AD CS answers it for an RDN longer than its X.520 bound while the CA's
# EnforceX500NameLengths is on, the default (Microsoft KB Q276339).
CERTSRV_E_BAD_REQUESTSUBJECT = 0x80094001


def rsa_key_size_problem(bits: int) -> str | None:
    """Why no Windows key provider makes an RSA key of ``bits`` bits, or ``None`` when one does."""
    if bits < RSA_MIN_BITS:
        return f"Windows makes no RSA key under {RSA_MIN_BITS} bits (blocked since KB 2661254); the page asks for 2048"
    if bits > RSA_MAX_BITS:
        return f"Windows' key providers make RSA keys of at most {RSA_MAX_BITS} bits; the page asks for 2048"
    if bits % RSA_STEP_BITS:
        return f"RSA key sizes go in steps of {RSA_STEP_BITS} bits ({bits - bits % RSA_STEP_BITS} or {bits - bits % RSA_STEP_BITS + RSA_STEP_BITS})"
    return None


def refuse_long_common_name(name: str, *, said_by: str) -> None:
    """Raise the CA's refusal of a request whose subject CN is over 64 characters.

    AD CS denies it ("Error Parsing Request The request subject name is invalid or too
    long. 0x80094001 (-2146877439 CERTSRV_E_BAD_REQUESTSUBJECT)", as CA event 22 and
    certutil show it). The request never reaches the lab's CA: the lab's CSR library will
    not encode such a CN at all, so the step gives the CA's answer itself. ``said_by``
    prefixes the words as the user's tool shows them.
    """
    if len(name) <= UB_COMMON_NAME:
        return
    raise StepFailed(
        "ca-request-denied",
        f"{said_by}Error Parsing Request {describe_status(CERTSRV_E_BAD_REQUESTSUBJECT)}",
        f"Request the certificate for a name of at most {UB_COMMON_NAME} characters (X.520 ub-common-name): the "
        "UC Connector host's FQDN must be that short, and the Front End's topology must know the same name.",
        evidence=f"CN={name} has {len(name)} characters; a common name has at most {UB_COMMON_NAME}, and AD CS "
        "enforces it while EnforceX500NameLengths is on (the default)",
    )


def _check_file_name(value: Any, where: str) -> None:
    """A file a step writes stays inside the artifacts folder: a plain, non-empty name."""
    if not isinstance(value, str) or not value or value in (".", "..") or any(c in value for c in "/\\\0"):
        raise OverrideError(f"{where}: expected a plain file name (no folders), got {value!r}")


_TRUE = {"1", "true", "yes", "on", "$true"}
_FALSE = {"0", "false", "no", "off", "$false"}


def _coerce(text: str, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if text.lower() in ("none", "null", "") and len(args) < len(typing.get_args(annotation)):
            return None
        annotation = args[0] if len(args) == 1 else str
    if annotation is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise OverrideError(f"{where}: expected true or false, got {text!r}")
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise OverrideError(f"{where}: expected a whole number, got {text!r}") from None
    return text


def parse_override(text: str) -> tuple[str, str, str]:
    """Split ``STEP.PARAM=VALUE`` into its parts (the step id may itself hold dots)."""
    target, sep, value = text.partition("=")
    step_id, dot, param = target.strip().rpartition(".")
    if not sep or not dot or not step_id or not param:
        raise OverrideError(f"--set {text!r}: expected STEP.PARAM=VALUE, e.g. shell.export_pfx.password=secret")
    return step_id, param, value


def check_overrides(raw: list[str], steps: list[Step], extra: dict[str, dict[str, Any]] | None = None) -> Overrides:
    """Validate ``--set`` texts against the known steps and return typed overrides.

    ``extra`` adds pseudo-steps of the replay itself (e.g. ``replay.pfx_source``) with
    their defaults, whose types give the coercion.
    """
    by_id = {s.id: s for s in steps}
    extra = extra or {}
    result: Overrides = {}
    for text in raw:
        step_id, param, value = parse_override(text)
        if step_id in extra:
            if param not in extra[step_id]:
                raise OverrideError(_unknown("parameter", f"{step_id}.{param}", [f"{step_id}.{p}" for p in extra[step_id]]))
            default = extra[step_id][param]
            result.setdefault(step_id, {})[param] = _coerce(value, type(default), f"{step_id}.{param}")
            continue
        step = by_id.get(step_id)
        if step is None:
            raise OverrideError(_unknown("step", step_id, list(by_id) + list(extra)))
        if param not in step.parameters():
            raise OverrideError(_unknown("parameter", f"{step_id}.{param}", [f"{step_id}.{p}" for p in step.parameters()]))
        result.setdefault(step_id, {})[param] = step.coerce(param, value)
    return result


def _unknown(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"--set: no {kind} {name!r}{hint} (`ucclab replay --list-steps` shows them all)"


async def run_procedure(procedure: Procedure, ctx: StepContext, overrides: Overrides) -> bool:
    """Carry out every step of ``procedure`` in order; stop at the first that fails.

    Returns True when every step was done.
    """
    lab = ctx.lab
    for step in procedure.steps:
        given = dict(overrides.get(step.id, {}))
        if ctx.literal and "literal" in step.parameters() and "literal" not in given:
            given["literal"] = True
        host = lab.host_name(procedure.host)
        entry = TranscriptEntry(
            heading=procedure.heading,
            step=step.number,
            step_id=step.id,
            host=host,
            action="",
            parameters=mask_secrets(given),
        )
        started = time.perf_counter()
        try:
            done = await step.function(ctx, **given)
        except StepFailed as failure:
            entry.duration_ms = _elapsed_ms(started)
            entry.outcome = "failed"
            entry.action = failure.message
            entry.code = failure.code
            entry.fix = failure.fix
            entry.note = failure.evidence
            _append(ctx, entry)
            return False
        entry.duration_ms = _elapsed_ms(started)
        entry.action = done.action
        entry.host = done.host or host
        entry.gap = done.gap
        entry.note = done.note
        for path, role in done.artifacts:
            entry.artifacts.append(ArtifactRecord.of(path, lab.artifacts_dir, role))
        _append(ctx, entry)
    return True


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _append(ctx: StepContext, entry: TranscriptEntry) -> None:
    ctx.transcript.append(entry)
    if ctx.progress is not None:
        ctx.progress(entry)
