"""``ucclab explain``: log lines as customers paste them, turned into the lab's diagnoses.

A support engineer holds a UC Connector log (Java exceptions), a Lync event log or SIP
trace (SChannel events, ``ms-diagnostics`` headers), a DC's event log, ``kinit`` or
``openssl`` output. :func:`explain` reads such text and names, for each line it
recognises, the diagnosis the lab's own replays and ``ucclab check`` give the same cause —
through the same table (:data:`harness.diagnosis.PATTERNS`) — with the page's heading and
step and the fix; the lines it cannot place are counted.

How text is read (rules in the order they apply):

1. Blank lines, Java stack frames (``at pkg.Class.method(File.java:12)``) and their
   ``... 12 more`` are part of the log's shape, not lines to explain.
2. A Java exception and the ``Caused by:`` lines under it are one entry, matched as a
   whole (the most specific cause wins: ``validity check failed`` with its
   ``CertificateNotYetValidException``), reported at its first line.
3. Lines that say whose certificate the following OpenSSL output judges — an ``openssl
   verify`` with ``-purpose sslclient|sslserver``, an ``s_server`` (it judges clients) or
   ``s_client`` (it judges servers) command — set that context, and are not counted.
4. Every other line is one entry: recognised, or counted in ``unrecognised``.

Input is bytes: UTF-8 (with or without a byte order mark), UTF-16 with its byte order
mark (Windows' Event Viewer saves text so), or else Windows-1252. Text with NUL bytes or
more than 1 % control characters is binary, not a log: :class:`LogUnreadable` says so, as
it does for a missing file, a folder and input over :data:`MAX_LOG_BYTES`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .diagnosis import DIAGNOSES, SOURCES, Peer, match_text

__all__ = ["MAX_LOG_BYTES", "LogUnreadable", "Finding", "Explanation", "explain", "read_log", "decode_log", "render"]

#: The largest log read (64 MiB): logs are text a person pasted or exported.
MAX_LOG_BYTES = 64 * 1024 * 1024

_FRAME = re.compile(r"^\s+at \S+\(.*\)\s*$|^\s*\.\.\. \d+ (?:more|common frames omitted)\s*$")
_CAUSE = re.compile(r"^\s*Caused by: ")
_EXCEPTION = re.compile(r"\b[a-z][\w$]*(?:\.[\w$]+)+(?:Exception|Error)\b(?::|$)")
# Rule 3: whose certificate OpenSSL's verify output judges.
_PEER_CONTEXT = (
    (re.compile(r"-purpose\s+sslclient\b", re.IGNORECASE), "client"),
    (re.compile(r"-purpose\s+sslserver\b", re.IGNORECASE), "server"),
    (re.compile(r"\bs_server\b"), "client"),
    (re.compile(r"\bs_client\b"), "server"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SHOWN = 200


class LogUnreadable(Exception):
    """The input is no log text (missing, a folder, binary, too large); the message says which."""


@dataclass(frozen=True)
class Finding:
    """One recognised entry: the diagnosis and the words that named it."""

    code: str
    severity: str
    doc_step: str | None
    message: str
    fix: str | None
    line: str
    line_number: int
    source: str

    def to_json(self) -> dict[str, Any]:
        """The ``findings`` item of ``ucclab explain --json``."""
        return {"code": self.code, "severity": self.severity, "doc_step": self.doc_step, "message": self.message,
                "fix": self.fix, "line": self.line, "line_number": self.line_number}


@dataclass(frozen=True)
class Explanation:
    """What :func:`explain` made of a log: the findings in order, and how many entries it could not place."""

    findings: list[Finding] = field(default_factory=list)
    unrecognised: int = 0
    unrecognised_lines: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``{"findings": [...], "unrecognised": N}``."""
        return {"findings": [f.to_json() for f in self.findings], "unrecognised": self.unrecognised}


@dataclass
class _Entry:
    line_number: int
    lines: list[str]

    @property
    def text(self) -> str:
        # As the replays join a Java exception with its causes.
        return " <- ".join(line.strip() for line in self.lines)


def _peer_hint(line: str) -> Peer | None:
    return next((peer for pattern, peer in _PEER_CONTEXT if pattern.search(line)), None)  # type: ignore[misc]


def _entries(text: str) -> Iterator[tuple[_Entry, Peer | None, bool]]:
    """The entries of ``text`` (rules 1, 2, 4), each with the certificate context in force and
    whether its line only set that context (rule 3)."""
    peer: Peer | None = None
    current: _Entry | None = None
    current_peer: Peer | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or _FRAME.match(line):
            continue
        if _CAUSE.match(line) and current is not None:
            current.lines.append(line)
            continue
        if current is not None:
            yield current, current_peer, False
            current = None
        hint = _peer_hint(line)
        if hint is not None:
            peer = hint
            if match_text(line, peer=peer) is None:
                yield _Entry(number, [line]), peer, True
                continue
        if _EXCEPTION.search(line):
            current, current_peer = _Entry(number, [line]), peer  # causes may follow
            continue
        yield _Entry(number, [line]), peer, False
    if current is not None:
        yield current, current_peer, False


def explain(text: str) -> Explanation:
    """The diagnoses of the lines of ``text`` that name a known cause (see the module docstring)."""
    findings: list[Finding] = []
    unplaced: list[int] = []
    for entry, peer, context_only in _entries(text):
        if context_only:
            continue
        found = match_text(entry.text, peer=peer)
        if found is None:
            unplaced.append(entry.line_number)
            continue
        pattern, words = found
        known = DIAGNOSES.get(pattern.code)
        findings.append(Finding(
            code=pattern.code,
            severity=known.severity if known else "error",
            doc_step=(known.doc_step or None) if known else None,
            message=f'{SOURCES[pattern.source]}: "{words.group(0)}"',
            fix=known.fix if known else None,
            line=entry.lines[0].strip(),
            line_number=entry.line_number,
            source=pattern.source,
        ))
    return Explanation(findings, len(unplaced), unplaced)


# -- reading the input ---------------------------------------------------------------------------


def decode_log(data: bytes, name: str) -> str:
    """``data`` as text (see the module docstring), or :class:`LogUnreadable` naming ``name``."""
    if len(data) > MAX_LOG_BYTES:
        raise LogUnreadable(f"{name}: {len(data)} bytes, more than the {MAX_LOG_BYTES} a log may have here")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LogUnreadable(f"{name}: starts as UTF-16 text but is not ({exc.reason} at byte {exc.start})") from None
    if b"\x00" in data:
        raise LogUnreadable(f"{name}: binary data (NUL bytes), not log text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if len(_CONTROL.findall(text)) > len(text) / 100:
        raise LogUnreadable(f"{name}: binary data (control characters), not log text")
    return text


def read_log(path: str, stdin: BinaryIO) -> tuple[str, str]:
    """The text of ``path`` (``-``: ``stdin``) and the name to call it by; :class:`LogUnreadable`
    when it is missing, a folder, unreadable or no text."""
    if path == "-":
        return decode_log(stdin.read(MAX_LOG_BYTES + 1), "standard input"), "standard input"
    file = Path(path)
    if file.is_dir():
        raise LogUnreadable(f"{path}: a folder, not a log file")
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_LOG_BYTES + 1)
    except FileNotFoundError:
        raise LogUnreadable(f"{path}: no such file") from None
    except OSError as exc:
        raise LogUnreadable(f"{path}: {exc.strerror or exc}") from None
    return decode_log(data, path), path


# -- for people --------------------------------------------------------------------------------


def render(explanation: Explanation, name: str) -> str:
    """The findings as a person reads them, and the count of lines not placed."""
    out = []
    for f in explanation.findings:
        shown = f.line if len(f.line) <= _SHOWN else f.line[: _SHOWN - 1] + "…"
        out += [
            f"line {f.line_number}: {f.code} ({f.severity})",
            f"    {shown}",
            f"    {f.message}",
            f"    page: {f.doc_step or 'not a step of the page'}",
        ]
        if f.fix:
            out.append(f"    fix:  {f.fix}")
    recognised = len(explanation.findings)
    summary = f"{name}: {recognised} recognised, {explanation.unrecognised} not recognised"
    if explanation.unrecognised_lines:
        lines = ", ".join(map(str, explanation.unrecognised_lines[:20]))
        summary += f" (line {lines}{', …' if len(explanation.unrecognised_lines) > 20 else ''})"
    return "\n".join([*out, summary])
