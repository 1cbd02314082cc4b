"""A report for people: one self-contained HTML file from a JSON document of the lab.

``render_report`` takes what ``ucclab replay --json``, ``ucclab scenarios run --json`` or
``ucclab check --json`` print and renders what the document holds:

- a header with the outcome;
- the scenarios (a table linking to one section per scenario, each with its replay);
- the findings or diagnoses (code, severity, the page's step, message, fix, evidence);
- the steps' transcript, grouped by the page's headings, with the files written (sha256),
  the page's gaps and the failures with their code and fix;
- for each handshake a ladder diagram (sequence picture) as inline SVG, built from what
  the server side logged: the Front End's event log, the KDC's log and the connector's
  Secured-port log.

The file has inline CSS and SVG only: no script, no fetch; it reads offline and prints.
Elements carry markers a test can find in the DOM::

    <svg class="ladder" data-kind="mtls" data-direction="connector-to-frontend" data-client="python" data-outcome="confirmed">
      <g class="participant" data-name="Front End fe01.companya.com">
      <g class="message" data-from="UC Connector (python)" data-to="Front End fe01.companya.com" data-label="REGISTER" data-status="ok">
      <g class="note" data-at="Front End fe01.companya.com" data-label="peer trusted" data-status="ok">

Failed messages and notes have ``data-status="failed"`` and the class ``failed``. Values that
look like passwords are masked before anything is rendered.
"""

from __future__ import annotations

import errno
import json
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from itertools import groupby
from pathlib import Path
from typing import Any

from fakes._files import write_public_file

__all__ = ["render_report", "write_report"]

MASK = "********"
_SECRET_KEY = re.compile(r"pass(word|phrase)?$|passwd|secret|pwd|_pass$|storepass|keypass", re.IGNORECASE)
# "-cert_store_pass X", "-storepass X", "--password X", "password = X", "password: X"
_SECRET_FLAG = re.compile(r"(?P<key>(?<![\w-])--?[\w-]*pass[\w-]*\s+|\bpass(?:word|phrase)?\s*[=:]\s*)"
                          r"(?P<value>(?!\*{8})\"[^\"]*\"|'[^']*'|[^\s;,)]+)", re.IGNORECASE)

_GOOD = {"confirmed", "ok", "passed", "done"}
_BAD = {"failed", "rejected", "not-confirmed", "problems", "error"}


# -- masking -----------------------------------------------------------------------------


def _mask(value: Any) -> Any:
    """A copy of ``value`` with every password-like field and argument replaced by ``MASK``."""
    if isinstance(value, dict):
        return {key: (MASK if isinstance(key, str) and _SECRET_KEY.search(key) and item not in (None, "")
                      else _mask(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    if isinstance(value, str):
        return _SECRET_FLAG.sub(lambda m: m.group("key") + MASK, value)
    return value


# -- small HTML helpers ------------------------------------------------------------------


def _e(value: Any) -> str:
    """Escape a value for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def _tone(outcome: Any) -> str:
    """The colour class of an outcome: good, bad or neutral."""
    text = str(outcome).lower()
    return "good" if text in _GOOD else "bad" if text in _BAD else "neutral"


def _badge(outcome: Any) -> str:
    return f'<span class="badge {_tone(outcome)}">{_e(outcome)}</span>'


def _slug(text: str, index: int) -> str:
    return f"{re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-') or 'item'}-{index}"


# -- ladder model --------------------------------------------------------------------------


@dataclass
class Step:
    """One row of a ladder: a message between two participants, or a note on one."""

    source: str
    label: str
    target: str | None = None  # None: a note on ``source``'s lifeline
    detail: str = ""
    failed: bool = False


@dataclass
class Ladder:
    """The participants (left to right) and the rows of one handshake's picture."""

    participants: list[str]
    steps: list[Step] = field(default_factory=list)

    def message(self, source: str, target: str, label: str, detail: str = "", *, failed: bool = False) -> None:
        self.steps.append(Step(source, label, target, detail, failed))

    def note(self, at: str, label: str, detail: str = "", *, failed: bool = False) -> None:
        self.steps.append(Step(at, label, None, detail, failed))


def _first_name(certificate: dict[str, Any] | None) -> str | None:
    """The DNS name (or CN) a certificate description names first."""
    if not certificate:
        return None
    names = certificate.get("sans") or certificate.get("dns_names") or certificate.get("common_names") or []
    if names:
        return str(names[0])
    match = re.search(r"CN=([^,]+)", str(certificate.get("subject") or ""))
    return match.group(1) if match else None


def _frontend_name(handshakes: Iterable[dict[str, Any]]) -> str:
    """"Front End <fqdn>", the FQDN from the certificate the Front End presented in any handshake."""
    for handshake in handshakes:
        connector = (handshake.get("evidence") or {}).get("connector") or {}
        # The Python stand-in names it server_certificate, the Java probe tls.peer_certificate.
        name = (_first_name(connector.get("server_certificate")) or _first_name(connector.get("peer"))
                or _first_name((connector.get("tls") or {}).get("peer_certificate")))
        if name:
            return f"Front End {name}"
    return "Front End"


def _kdc_name(evidence: dict[str, Any]) -> str:
    realm = (evidence.get("connector") or {}).get("realm")
    if not realm:
        servers = [entry.get("server", "") for entry in (evidence.get("kdc") or {}).get("log", [])]
        realm = next((s.rsplit("@", 1)[1] for s in servers if "@" in s), None)
    return f"KDC {realm}" if realm else "KDC"


def _subject(role: str, certificate: dict[str, Any] | None) -> str:
    return f"{role} {certificate.get('subject')}" if certificate else f"no {role} certificate"


def _tls_failure_text(details: dict[str, Any]) -> str:
    alert = details.get("alert_sent") or details.get("alert_received")
    return "; ".join(str(part) for part in (details.get("error"), f"alert {alert}" if alert else None) if part)


def _frontend_steps(log: list[dict[str, Any]], connector: str, frontend: str,
                    server_certificate: dict[str, Any] | None) -> tuple[list[Step], int | None]:
    """The rows of the Front End's log of a connection from the connector, and the row
    index after the first MS-SIPAE challenge (its 401), where the connector goes to the KDC."""
    ladder = Ladder([connector, frontend])
    after_challenge: int | None = None
    challenged = authenticated = rejected = False
    for event in log:
        kind = event.get("type")
        if kind == "tls-handshake":
            ladder.message(connector, frontend, f"TLS handshake {event.get('version') or ''}".strip(),
                           f"{_subject('client', event.get('peer'))} · {_subject('server', server_certificate)}")
        elif kind == "tls-failure":
            ladder.message(frontend, connector, "TLS handshake failed", _tls_failure_text(event), failed=True)
        elif kind == "peer-trusted":
            ladder.note(frontend, "peer trusted", f"configured server {event.get('peer')}")
        elif kind == "peer-not-trusted":
            ladder.message(frontend, connector, "refused: not a configured server",
                           f"certificate names {', '.join(event.get('names') or []) or 'none'}", failed=True)
        elif kind == "sipae-required":
            ladder.note(frontend, "MS-SIPAE required", "no client certificate: requests must authenticate")
        elif kind == "request":
            ladder.message(connector, frontend, str(event.get("method")), str(event.get("uri") or ""))
        elif kind == "sipae-challenge":
            challenged = True
        elif kind in ("sipae-authenticated", "sipae-verified", "sipae-rejected", "sipae-bad-signature"):
            _mark_authorization(ladder.steps, connector)
            if kind == "sipae-authenticated":
                ladder.note(frontend, "MS-SIPAE authenticated",
                            f"{event.get('principal')} · {event.get('enctype_name') or event.get('enctype')}")
            elif kind != "sipae-verified":
                code = f" (error {event.get('error_code')} {event.get('error_name') or ''})".rstrip()
                ladder.note(frontend, kind.replace("sipae-", "MS-SIPAE ").replace("-", " "),
                            f"{event.get('reason') or ''}{code if event.get('error_code') else ''}", failed=True)
            authenticated = kind in ("sipae-authenticated", "sipae-verified")
            rejected = not authenticated
        elif kind == "response":
            status = event.get("status")
            label = f"{status} {event.get('reason') or ''}".strip()
            if challenged and not rejected:
                ladder.message(frontend, connector, label, "MS-SIPAE challenge: WWW-Authenticate: Kerberos")
                if after_challenge is None:
                    after_challenge = len(ladder.steps)
            elif authenticated and isinstance(status, int) and status < 300:
                ladder.message(frontend, connector, label, "Authentication-Info (rspauth)")
            else:
                ladder.message(frontend, connector, label, str(event.get("method") or ""),
                               failed=rejected or not isinstance(status, int) or status >= 300)
            challenged = authenticated = rejected = False
        elif kind == "malformed":
            ladder.message(frontend, connector, f"{event.get('status')} {event.get('reason') or ''}".strip(),
                           "malformed request", failed=True)
        elif kind == "timeout":
            ladder.note(frontend, "timeout", f"during {event.get('phase')}", failed=True)
        elif kind == "connection-error":
            ladder.note(frontend, "connection error", str(event.get("error")), failed=True)
    return ladder.steps, after_challenge


def _mark_authorization(steps: list[Step], connector: str) -> None:
    """Say on the connector's last request that it carried an MS-SIPAE Authorization header."""
    for step in reversed(steps):
        if step.source == connector and step.target is not None:
            step.detail = "Authorization: Kerberos (MS-SIPAE)"
            return


def _kdc_steps(log: list[dict[str, Any]], connector: str, kdc: str) -> list[Step]:
    """The connector's exchanges with the KDC: each request and its reply or KRB-ERROR."""
    steps: list[Step] = []
    for entry in log:
        request = str(entry.get("request") or "KDC request")
        steps.append(Step(connector, request, kdc, f"{entry.get('client')} → {entry.get('server')}"))
        if entry.get("ok"):
            etype = (entry.get("ticket_etype") or entry.get("reply_etype") or {}).get("name", "")
            steps.append(Step(kdc, request.replace("-REQ", "-REP"), connector,
                              " · ".join(part for part in (entry.get("detail"), etype) if part)))
        else:
            code = entry.get("error_code")
            steps.append(Step(kdc, f"KRB-ERROR {code} {entry.get('error_name') or ''}".strip(), connector,
                              str(entry.get("detail") or ""), failed=code != 25))  # 25: pre-auth required, retried
    return steps


def _secured_port_log(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """The connector's Secured-port log as evidence records (``type`` and its fields).

    The Python stand-in's host logs such records; the Java probe reports one object for its
    listener, whose ``connections`` (each: ``tls``, ``requests``, ``error``) become the
    same records here.
    """
    log = (evidence.get("connector") or {}).get("log")
    if isinstance(log, list):
        return log
    if not isinstance(log, dict):
        return []
    records: list[dict[str, Any]] = []
    for connection in log.get("connections") or []:
        tls, error = connection.get("tls"), connection.get("error")
        text = f"{error.get('exception')}: {error.get('message')}" if isinstance(error, dict) else None
        if tls:
            records.append({"type": "tls-handshake", "tls_version": tls.get("version"),
                            "peer_certificate": tls.get("peer_certificate")})
        elif text:
            records.append({"type": "tls-failure", "error": text})
        for request in connection.get("requests") or []:
            records.append({"type": "request", "method": request.get("method")})
            records.append({"type": "response", "method": request.get("method"), "status": request.get("status")})
        if tls and text:
            records.append({"type": "connection-error", "error": text})
    return records


def _push_steps(evidence: dict[str, Any], connector: str, frontend: str) -> list[Step]:
    """The Front End's push to the connector's Secured port, from the connector's log."""
    log = _secured_port_log(evidence)
    push = (evidence.get("frontend") or {}).get("push") or {}
    reasons = {status[0]: status[2] for status in push.get("statuses", []) if len(status) == 3}
    ladder = Ladder([connector, frontend])
    handshaken = False
    for entry in log:
        kind, details = entry.get("type"), entry
        if kind == "tls-handshake":
            handshaken = True
            ladder.message(frontend, connector, f"TLS handshake {details.get('tls_version') or ''}".strip(),
                           _subject("client", details.get("peer_certificate")))
        elif kind == "tls-failure":
            handshaken = True
            ladder.message(connector, frontend, "TLS handshake failed", _tls_failure_text(details), failed=True)
        elif kind == "request":
            ladder.message(frontend, connector, str(details.get("method")), str(details.get("uri") or ""))
        elif kind == "response":
            status = details.get("status")
            ladder.message(connector, frontend, f"{status} {reasons.get(details.get('method'), '')}".strip(),
                           str(details.get("method") or ""), failed=not isinstance(status, int) or status >= 300)
        elif kind == "malformed":
            ladder.message(connector, frontend, f"{details.get('status')} {details.get('reason') or ''}".strip(),
                           "malformed request", failed=True)
        elif kind == "connection-error":
            ladder.note(connector, "connection error", str(details.get("error")), failed=True)
    if push.get("error"):
        label = "push failed" if handshaken else "TLS handshake failed"
        ladder.message(frontend, connector, label, str(push["error"]), failed=True)
    return ladder.steps


def _connector_failure(connector: str, report: dict[str, Any]) -> list[Step]:
    """A note on the connector's lifeline with the error it reported, if any."""
    error = report.get("error")
    if not error:
        return []
    return [Step(connector, str(report.get("code") or "connector error"), None, str(error), failed=True)]


def build_ladder(handshake: dict[str, Any], frontend: str | None = None) -> Ladder:
    """The ladder of one handshake of a replay document, built from its evidence;
    ``frontend`` names the Front End's lifeline (by default from this handshake)."""
    evidence = handshake.get("evidence") or {}
    connector = f"UC Connector ({handshake.get('client') or 'python'})"
    frontend = frontend or _frontend_name([handshake])
    report = evidence.get("connector") or {}
    if handshake.get("direction") == "frontend-to-connector":
        return Ladder([connector, frontend], _push_steps(evidence, connector, frontend))
    steps, after_challenge = _frontend_steps((evidence.get("frontend") or {}).get("log", []),
                                             connector, frontend, report.get("server_certificate"))
    participants = [connector, frontend]
    if handshake.get("kind") == "tls-kerberos":
        kdc = _kdc_name(evidence)
        participants.append(kdc)
        cut = len(steps) if after_challenge is None else after_challenge
        steps[cut:cut] = _kdc_steps((evidence.get("kdc") or {}).get("log", []), connector, kdc)
    return Ladder(participants, steps + _connector_failure(connector, report))


# -- the ladder as SVG ---------------------------------------------------------------------

_COLUMN = 340          # px between lifelines
_EDGE = 150            # px from the picture's edge to the outer lifelines
_HEAD = 64             # px of the participants' boxes
_LABEL_PX, _DETAIL_PX = 7.2, 6.5   # average glyph widths at 12.5 px bold and 11 px
_COLOURS = ("#1f5fa8", "#6b3fa0", "#0f7b6c")


def _lines(text: str, width_px: float, glyph_px: float, max_lines: int) -> list[str]:
    return textwrap.wrap(text, width=max(12, int(width_px / glyph_px)), max_lines=max_lines,
                         placeholder=" …") if text else []


def _text(x: float, y: float, lines: list[str], css: str, anchor: str = "middle", step: int = 15) -> str:
    return "".join(f'<text class="{css}" x="{x:.0f}" y="{y + i * step:.0f}" text-anchor="{anchor}">{_e(line)}</text>'
                   for i, line in enumerate(lines))


def _participant_box(name: str, x: float, colour: str, height: float) -> str:
    head, _, tail = name.rpartition(" ")
    title, subtitle = (head, tail) if head and ("." in tail or "(" in tail) else (name, "")
    return (f'<g class="participant" data-name="{_e(name)}">'
            f'<line class="lifeline" x1="{x:.0f}" y1="{_HEAD}" x2="{x:.0f}" y2="{height - 12:.0f}" stroke="{colour}"/>'
            f'<rect x="{x - 115:.0f}" y="8" width="230" height="{_HEAD - 16}" rx="8" fill="{colour}"/>'
            + _text(x, 29, [title], "p-title") + _text(x, 46, [subtitle], "p-sub") + "</g>")


def _message_svg(step: Step, x1: float, x2: float, y: float) -> tuple[str, float]:
    """One arrow with its label above it; returns the SVG and the row's height."""
    span = abs(x2 - x1) - 24
    label = _lines(step.label, span, _LABEL_PX, 2)
    detail = _lines(step.detail, span, _DETAIL_PX, 3)
    mid, state = (x1 + x2) / 2, "failed" if step.failed else "ok"
    top = y + 14
    arrow_y = top + 15 * len(label) + 13 * len(detail) + 2
    direction = 1 if x2 > x1 else -1
    tip = x2 - direction * 2
    end = (f'<path class="cross" d="M{tip - direction * 14:.0f} {arrow_y - 7:.0f} l{direction * 14} 14 '
           f'm0 -14 l{-direction * 14} 14"/>' if step.failed else
           f'<path class="head" d="M{tip:.0f} {arrow_y:.0f} l{-direction * 10} -5 v10 z"/>')
    svg = (f'<g class="message {state}" data-from="{_e(step.source)}" data-to="{_e(step.target)}" '
           f'data-label="{_e(step.label)}" data-status="{state}"><title>{_e(step.label)}: {_e(step.detail)}</title>'
           + _text(mid, top, label, "m-label") + _text(mid, top + 15 * len(label) - 2, detail, "m-detail", step=13)
           + f'<line class="arrow" x1="{x1:.0f}" y1="{arrow_y:.0f}" x2="{tip - direction * 4:.0f}" y2="{arrow_y:.0f}"/>'
           + end + "</g>")
    return svg, arrow_y - y + 10


def _note_svg(step: Step, x: float, width: float, y: float) -> tuple[str, float]:
    """A box on one lifeline (what a participant judged); returns the SVG and the row's height."""
    box = 300.0
    left = min(max(x - box / 2, _EDGE - 122), width - box - 8)  # clear of the row numbers
    label = _lines(step.label, box - 16, _LABEL_PX, 2)
    detail = _lines(step.detail, box - 16, _DETAIL_PX, 6)
    height = 12 + 15 * len(label) + 13 * len(detail)
    state = "failed" if step.failed else "ok"
    svg = (f'<g class="note {state}" data-at="{_e(step.source)}" data-label="{_e(step.label)}" '
           f'data-status="{state}"><title>{_e(step.label)}: {_e(step.detail)}</title>'
           f'<rect x="{left:.0f}" y="{y + 6:.0f}" width="{box:.0f}" height="{height:.0f}" rx="5"/>'
           + _text(left + box / 2, y + 22, label, "m-label")
           + _text(left + box / 2, y + 21 + 15 * len(label), detail, "m-detail", step=13) + "</g>")
    return svg, height + 14


def render_ladder(ladder: Ladder, handshake: dict[str, Any]) -> str:
    """The inline SVG sequence picture of one handshake."""
    xs = {name: _EDGE + i * _COLUMN for i, name in enumerate(ladder.participants)}
    width = 2 * _EDGE + (len(ladder.participants) - 1) * _COLUMN
    rows: list[str] = []
    y = float(_HEAD + 6)
    for number, step in enumerate(ladder.steps, start=1):
        if step.target is None:
            svg, height = _note_svg(step, xs[step.source], width, y)
        else:
            svg, height = _message_svg(step, xs[step.source], xs[step.target], y)
        rows.append(f'<text class="m-number" x="{_EDGE - 128}" y="{y + height - 6:.0f}" text-anchor="end">'
                    f'{number}</text>' + svg)
        y += height
    if not ladder.steps:
        rows.append(_text(width / 2, y + 24, ["nothing was logged for this exchange"], "m-detail"))
        y += 40
    total = y + 24
    heads = "".join(_participant_box(name, xs[name], _COLOURS[i % len(_COLOURS)], total)
                    for i, name in enumerate(ladder.participants))
    return (f'<svg class="ladder" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'data-kind="{_e(handshake.get("kind"))}" data-direction="{_e(handshake.get("direction") or "")}" '
            f'data-client="{_e(handshake.get("client"))}" data-outcome="{_e(handshake.get("outcome"))}" '
            f'width="{width}" height="{total:.0f}" viewBox="0 0 {width} {total:.0f}">'
            f'<title>{_e(_handshake_title(handshake))}</title>{heads}{"".join(rows)}</svg>')


# -- HTML sections -------------------------------------------------------------------------


def _handshake_title(handshake: dict[str, Any]) -> str:
    parts = [handshake.get("kind"), handshake.get("direction"), f"{handshake.get('client')} client"]
    return " · ".join(str(part) for part in parts if part)


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], css: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _evidence(value: Any) -> str:
    if value in (None, {}, []):
        return ""
    return (f'<details class="evidence"><summary>evidence</summary>'
            f"<pre>{_e(json.dumps(value, indent=2, ensure_ascii=False))}</pre></details>")


def _severity(severity: str) -> str:
    return f'<span class="badge {"warn" if severity == "warning" else "bad"}">{_e(severity)}</span>'


def _findings(findings: list[dict[str, Any]], heading: str, level: int = 2) -> str:
    """The findings or diagnoses table: code, severity (error when absent), the page's step,
    message with its evidence, fix."""
    if not findings:
        return f'<section class="findings"><h{level}>{_e(heading)}</h{level}><p class="none">None.</p></section>'
    rows = ([f'<code class="code">{_e(f.get("code"))}</code>',
             _severity(f.get("severity") or "error"),
             _e(f.get("doc_step") or ""), _e(f.get("message") or "") + _evidence(f.get("evidence")),
             _e(f.get("fix") or f.get("hint") or "")] for f in findings)
    return (f'<section class="findings"><h{level}>{_e(heading)}</h{level}>'
            + _table(["code", "severity", "the page's step", "message", "fix"], rows, "findings") + "</section>")


def _step_cell(step: dict[str, Any]) -> str:
    parts = [f'<div class="action">{_e(step.get("action"))}</div>']
    for artifact in step.get("artifacts") or []:
        parts.append(f'<div class="artifact">wrote <b>{_e(artifact.get("path"))}</b> '
                     f'<span class="sha">sha256 {_e(artifact.get("sha256"))}</span></div>')
    if step.get("gap"):
        parts.append(f'<div class="gap"><b>gap in the page:</b> {_e(step["gap"])}</div>')
    if step.get("note"):
        parts.append(f'<div class="note-text">note: {_e(step["note"])}</div>')
    if step.get("code") or step.get("fix"):
        parts.append(f'<div class="failure"><code class="code">{_e(step.get("code"))}</code> '
                     f'<b>fix:</b> {_e(step.get("fix"))}</div>')
    return "".join(parts)


def _transcript(steps: list[dict[str, Any]]) -> str:
    """The steps, one table per run of steps under the same heading of the page."""
    out = ['<section class="transcript"><h2>The page, step by step</h2>']
    for heading, group in groupby(steps, key=lambda step: step.get("heading")):
        rows = ([f'<span class="step-no">{_e(s.get("step"))}</span>', _e(s.get("host")), _step_cell(s),
                 _badge(s.get("outcome")), _e(f'{s["duration_ms"]:.1f} ms' if "duration_ms" in s else "")]
                for s in group)
        out.append(f'<h3>{_e(heading)}</h3>' + _table(["step", "host", "what was done", "outcome", "time"],
                                                     rows, "steps"))
    return "".join(out) + "</section>"


def _handshakes(handshakes: list[dict[str, Any]], prefix: str) -> str:
    frontend = _frontend_name(handshakes)
    out = ['<section class="handshakes"><h2>The exchanges</h2>']
    for index, handshake in enumerate(handshakes):
        anchor = _slug(f"{prefix}{_handshake_title(handshake)}", index)
        warnings = (handshake.get("evidence") or {}).get("connector_findings") or []
        out.append(f'<section class="handshake" id="{_e(anchor)}"><h3>{_e(_handshake_title(handshake))} '
                   f'{_badge(handshake.get("outcome"))}</h3>'
                   f'<div class="ladder-frame">{render_ladder(build_ladder(handshake, frontend), handshake)}</div>')
        if handshake.get("diagnoses"):
            out.append(_findings(handshake["diagnoses"], "Why", 4))
        if warnings:
            out.append(_findings(warnings, "The connector's warnings", 4))
        out.append("</section>")
    return "".join(out) + "</section>"


def _replay_body(document: dict[str, Any], prefix: str = "") -> str:
    """Everything a replay document holds, below its header."""
    out: list[str] = []
    # ``ucclab check`` names only the direction of its (MTLS) handshakes
    handshakes = [h if h.get("kind") else {"kind": "mtls", **h} for h in document.get("handshakes") or []]
    if handshakes:
        rows = ([f'<a href="#{_e(_slug(prefix + _handshake_title(h), i))}">{_e(_handshake_title(h))}</a>',
                 _badge(h.get("outcome")), " ".join(f'<code class="code">{_e(d.get("code"))}</code>'
                                                    for d in h.get("diagnoses") or [])]
                for i, h in enumerate(handshakes))
        out.append('<section class="summary"><h2>Handshakes</h2>'
                   + _table(["exchange", "outcome", "diagnoses"], rows, "summary") + "</section>")
    if "diagnoses" in document:
        out.append(_findings(document["diagnoses"], "Diagnoses"))
    if document.get("gaps"):
        rows = ([_e(g.get("doc_step")), f'<span class="gap">{_e(g.get("gap"))}</span>'] for g in document["gaps"])
        out.append('<section class="gaps"><h2>Gaps in the page</h2>'
                   + _table(["the page's step", "gap"], rows, "gaps") + "</section>")
    out += [_list(document.get(key), heading, key) for key, heading in (("notes", "Notes"), ("setup", "Lab set-up"))]
    if document.get("transcript"):
        out.append(_transcript(document["transcript"]))
    if handshakes:
        out.append(_handshakes(handshakes, prefix))
    if document.get("disagreements"):
        out.append('<section class="disagreements"><h2>Disagreements between the clients</h2>'
                   + _evidence(document["disagreements"]) + "</section>")
    if document.get("manifest"):
        rows = ([_e(m.get("path")), _e(m.get("role")), _e(m.get("format")), _e(m.get("doc_step"))]
                for m in document["manifest"])
        out.append('<section class="manifest"><h2>Files</h2>'
                   + _table(["file", "role", "format", "the page's step"], rows, "manifest") + "</section>")
    return "".join(out)


def _plain(value: Any) -> str:
    """A scalar, list or mapping of a scenario in one line of text."""
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_plain(item)}" for key, item in value.items() if item not in (None, "", [], {}))
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value)
    return str(value)


def _list(items: list[Any] | None, heading: str, css: str, level: int = 2) -> str:
    """A titled bulleted list, or nothing when there are no items."""
    if not items:
        return ""
    entries = "".join(f"<li>{_e(item)}</li>" for item in items)
    return f'<section class="{css}"><h{level}>{_e(heading)}</h{level}><ul>{entries}</ul></section>'


def _scenarios(scenarios: list[dict[str, Any]]) -> str:
    """The scenarios table, then one section per scenario with its replay."""
    anchors = [_slug(f"scenario {s.get('name')}", i) for i, s in enumerate(scenarios)]
    rows = ([f'<a href="#{_e(anchor)}">{_e(s.get("name"))}</a>', _e(s.get("symptom") or ""),
             _badge("passed" if s.get("passed") else "failed"), _badge(s.get("outcome")),
             " ".join(f'<code class="code">{_e(code)}</code>' for code in s.get("codes") or [])]
            for s, anchor in zip(scenarios, anchors))
    out = ['<section class="scenarios"><h2>Scenarios</h2>'
           + _table(["scenario", "symptom", "result", "outcome", "codes"], rows, "scenarios") + "</section>"]
    for scenario, anchor in zip(scenarios, anchors):
        facts = "".join(f"<dt>{_e(key)}</dt><dd>{_e(_plain(value))}</dd>" for key, value in scenario.items()
                        if key not in ("name", "replay", "passed", "problems", "warnings") and value not in (None, "", [], {}))
        out.append(f'<section class="scenario" id="{_e(anchor)}"><h2>{_e(scenario.get("name"))} '
                   f'{_badge("passed" if scenario.get("passed") else "failed")}</h2><dl>{facts}</dl>'
                   + _list(scenario.get("problems"), "Why it did not pass", "problems", 4)
                   + _list(scenario.get("warnings"), "Warnings", "warnings", 4)
                   + (_replay_body(scenario["replay"], f"{anchor} ") if scenario.get("replay") else "")
                   + "</section>")
    return "".join(out)


def _outcome(document: dict[str, Any]) -> tuple[str, str]:
    """The document's outcome and its colour class; scenarios pass when every one passed."""
    if "outcome" in document:
        return str(document["outcome"]), _tone(document["outcome"])
    scenarios = document.get("scenarios") or []
    failed = sum(1 for s in scenarios if not s.get("passed"))
    if failed:
        return f"{failed} of {len(scenarios)} scenarios failed", "bad"
    return f"all {len(scenarios)} scenarios passed", "good"


_CSS = """
:root { --good: #1b7f3b; --bad: #b3261e; --warn: #9a6700; --ink: #1d2330; --mute: #5b6475; --line: #d9dde5; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color: var(--ink);
       background: #f4f6f9; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
main { max-width: 1180px; margin: 0 auto; padding: 0 24px 48px; }
header.report { padding: 22px 28px; color: #fff; margin-bottom: 8px; }
header.report.good { background: var(--good); } header.report.bad { background: var(--bad); }
header.report.neutral { background: #3d4758; }
header.report h1 { margin: 0 0 4px; font-size: 24px; }
header.report .outcome { font-size: 18px; font-weight: 700; text-transform: uppercase; letter-spacing: .04em; }
header.report .meta { opacity: .9; font-size: 13px; }
h2 { font-size: 19px; margin: 28px 0 10px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 8px; }
h4 { font-size: 13px; margin: 14px 0 6px; color: var(--mute); text-transform: uppercase; letter-spacing: .03em; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; vertical-align: top; padding: 6px 9px; border-bottom: 1px solid var(--line); }
th { background: #eceff4; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--mute); }
tr { break-inside: avoid; }
table.steps td:first-child { width: 44px; text-align: center; } table.steps td:nth-child(2) { width: 70px; }
table.steps td:nth-child(4) { width: 90px; } table.steps td:nth-child(5) { width: 76px; color: var(--mute); }
.step-no { display: inline-block; min-width: 24px; border-radius: 12px; background: #3d4758; color: #fff;
           font-weight: 700; text-align: center; }
.action { word-break: break-word; }
.artifact { font-size: 12.5px; color: var(--mute); } .sha { font-family: ui-monospace, "DejaVu Sans Mono", monospace;
            font-size: 11.5px; word-break: break-all; }
.gap { display: block; background: #fff4ce; border-left: 4px solid var(--warn); padding: 3px 8px; margin-top: 4px; }
span.gap { margin: 0; }
.note-text { color: var(--mute); font-size: 12.5px; margin-top: 3px; }
.failure { background: #fde7e5; border-left: 4px solid var(--bad); padding: 3px 8px; margin-top: 4px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 700;
         color: #fff; background: #6b7280; white-space: nowrap; vertical-align: middle; }
.badge.good { background: var(--good); } .badge.bad { background: var(--bad); } .badge.warn { background: var(--warn); }
code.code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; color: var(--bad);
            background: #f6f0f0; padding: 0 4px; border-radius: 3px; white-space: nowrap; }
details.evidence summary { cursor: pointer; color: var(--mute); font-size: 12px; }
details.evidence pre { white-space: pre-wrap; word-break: break-all; font-size: 11px; background: #f6f7f9;
                       padding: 8px; max-height: 360px; overflow: auto; }
p.none { color: var(--mute); }
section.handshake { break-inside: avoid; }
.ladder-frame { background: #fff; border: 1px solid var(--line); padding: 8px; overflow-x: auto; }
svg.ladder { display: block; margin: 0 auto; font-family: system-ui, "Segoe UI", "DejaVu Sans", Arial, sans-serif; }
svg.ladder .lifeline { stroke-width: 2; stroke-dasharray: 6 5; }
svg.ladder .p-title { fill: #fff; font-size: 14px; font-weight: 700; }
svg.ladder .p-sub { fill: #fff; font-size: 12px; opacity: .92; }
svg.ladder .m-label { font-size: 12.5px; font-weight: 700; fill: var(--ink); }
svg.ladder .m-detail { font-size: 11px; fill: var(--mute); }
svg.ladder .message text { paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
svg.ladder .m-number { font-size: 11px; fill: #9aa1ad; }
svg.ladder .arrow { stroke: #39424f; stroke-width: 1.6; } svg.ladder .head { fill: #39424f; }
svg.ladder .failed .arrow { stroke: var(--bad); stroke-width: 2.2; }
svg.ladder .failed .m-label { fill: var(--bad); }
svg.ladder .cross { stroke: var(--bad); stroke-width: 3; fill: none; }
svg.ladder .note rect { fill: #eef6ee; stroke: var(--good); }
svg.ladder .note.failed rect { fill: #fde7e5; stroke: var(--bad); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }
dt { color: var(--mute); } dd { margin: 0; }
@media print { body { background: #fff; } main { max-width: none; padding: 0; } .ladder-frame { overflow: visible; } }
"""


def render_report(document: dict[str, Any], *, title: str) -> str:
    """One self-contained HTML page for people from a JSON document of ``ucclab replay``,
    ``ucclab scenarios run`` or ``ucclab check`` (``--json``); password-like values are masked."""
    document = _mask(document)
    outcome, tone = _outcome(document)
    meta = " · ".join(f"{label} {_e(document[key])}" for key, label in
                      (("path", "procedures:"), ("workdir", "workdir:")) if document.get(key))
    header = (f'<header class="report {tone}"><h1>{_e(title)}</h1><div class="outcome">{_e(outcome)}</div>'
              f'<div class="meta">{meta}</div></header>')
    parts = [header, "<main>"]
    if "scenarios" in document:
        parts.append(_scenarios(document["scenarios"]))
    if "findings" in document:
        parts.append(_findings(document["findings"], "Findings"))
    parts.append(_replay_body(document))
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</main></body></html>\n")


def write_report(path: Path | str, document: dict[str, Any], *, title: str) -> Path:
    """Write :func:`render_report`'s page to ``path`` (mode 0644) and return the path.

    The folder must exist: a mistyped folder is an error (``FileNotFoundError`` naming it),
    not a new folder made quietly.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(path.parent))
    return write_public_file(path, render_report(document, title=title).encode("utf-8"))
