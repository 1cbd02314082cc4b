"""The handshakes that prove the page's files work, judged by what the server side saw.

TLS/Kerberos (item 8 of the same list): the connector opens TLS to the Front End (no
client certificate), REGISTER is challenged with MS-SIPAE Kerberos, the connector logs in
at the KDC as its OCS user and answers with a ticket for ``sip/<frontend fqdn>``.
Confirmed only when the KDC's log shows the TGT and the service ticket issued, the Front
End's log shows that principal authenticated and REGISTER answered 200 with
Authentication-Info, and the connector verified that answer's signature (rspauth).

MTLS has two directions (DESIGN.md, "The procedures, as the lab sees them", item 5):

* **connector → Front End**: the UC Connector stand-in, configured by its Application
  object (the Command Line Arguments the page had us type), connects to the Front End,
  presents its PFX and sends OPTIONS and REGISTER. Confirmed only when the Front End's
  event log shows the handshake with the connector's certificate, the peer accepted as a
  known server, and REGISTER answered 200.
* **Front End → connector**: the Front End pushes presence to the connector's Secured SIP
  port, presenting its own certificate. Confirmed only when the connector's Secured-port
  log shows the Front End's certificate and its requests answered 200.

Under TLS 1.3 a client reports a finished handshake before the server has checked its
certificate, so the client's view is kept as context, never as the verdict.
"""

from __future__ import annotations

import time
from typing import Any

from harness.connector import ConnectorError, UCConnector

from .diagnosis import FRONTEND, SHELL, TLS_ARGS, WEB, code_for_verify_error, diagnose
from .lab import Lab
from .transcript import mask_secrets

__all__ = ["confirm_mtls", "confirm_tls_kerberos"]

# Where, on each of the page's three ways to the connector's PFX, the certificate was
# requested and where it was exported: diagnoses point there.
_PFX_STEPS = {
    "shell": (f"{SHELL}, step 1", f"{SHELL}, step 5"),
    "web": (f"{WEB}, step 4", f"{WEB}, step 5"),
    "frontend": (f"{FRONTEND}, step 3", f"{FRONTEND}, step 4"),
}
_REQUEST_CODES = {"cert-name-mismatch", "cert-expired", "cert-not-yet-valid", "cert-untrusted-ca", "cert-eku-no-server-auth"}
_EXPORT_CODES = {"pfx-no-private-key", "pfx-unencrypted", "pfx-chain-incomplete"}


def _doc_step(code: str, pfx_source: str) -> str | None:
    request, export = _PFX_STEPS[pfx_source]
    if code in _REQUEST_CODES:
        return request
    if code in _EXPORT_CODES:
        return export
    return None


async def _connector(lab: Lab, mode: str) -> UCConnector:
    async with lab.configserver_client() as cfg:
        return await UCConnector.from_configserver(
            cfg,
            lab.topology.application_name,
            resolve_path=lab.resolve_windows_path,
            java_home=lab.java_home,
            frontend_fqdn=lab.topology.frontend_fqdn,
            ucc_fqdn=lab.topology.ucc_fqdn,
            mode=mode,
        )


def _since(events: Any, mark: int) -> list[dict[str, Any]]:
    return list(events)[mark:]


async def confirm_mtls(lab: Lab, *, pfx_source: str = "shell", client: str = "python") -> list[dict[str, Any]]:
    """Both MTLS directions with the files the replay produced; one result per direction.

    Each result: ``kind`` ("mtls"), ``direction``, ``client``, ``outcome`` ("confirmed",
    "rejected" or "error"), ``evidence`` (the server side's log lines and the client's
    view), ``diagnoses`` and ``duration_ms``.
    """
    assert lab.frontend is not None
    connector = await _connector(lab, "mtls")
    findings = [
        {"code": f.code, "severity": f.severity, "message": f.message, "hint": f.hint} for f in connector.findings
    ]
    return [
        await _connector_to_frontend(lab, connector, findings, pfx_source, client),
        await _frontend_to_connector(lab, connector, findings, pfx_source, client),
    ]


async def _connector_to_frontend(
    lab: Lab, connector: UCConnector, findings: list[dict[str, Any]], pfx_source: str, client: str
) -> dict[str, Any]:
    frontend = lab.frontend
    assert frontend is not None
    mark = len(frontend.events)
    started = time.perf_counter()
    report = await connector.register(lab.bind_host, frontend.port)
    seen = [e for e in _since(frontend.events, mark) if e.get("connection") is not None]
    handshake = next((e for e in seen if e["type"] == "tls-handshake"), None)
    trusted = next((e for e in seen if e["type"] == "peer-trusted"), None)
    register = next((e for e in seen if e["type"] == "response" and e.get("method") == "REGISTER"), None)
    confirmed = bool(handshake and trusted and register and register["status"] == 200)

    diagnoses = []
    if not confirmed:
        diagnoses = _why_frontend_refused(seen, report, connector, findings, pfx_source)
    evidence = {
        "frontend": {
            "peer": handshake.get("peer") if handshake else None,
            "chain": handshake.get("chain_subjects") if handshake else None,
            "tls_version": handshake.get("version") if handshake else None,
            "cipher": handshake.get("cipher") if handshake else None,
            "peer_trusted_as": trusted.get("peer") if trusted else None,
            "requests": [
                {"method": e["method"], "status": e["status"], "reason": e["reason"]}
                for e in seen
                if e["type"] == "response"
            ],
            "log": seen,
        },
        "connector": mask_secrets(report.to_dict()),
        "connector_findings": findings,
    }
    return {
        "kind": "mtls",
        "direction": "connector-to-frontend",
        "client": client,
        "outcome": "confirmed" if confirmed else ("error" if report.outcome == "error" and not seen else "rejected"),
        "evidence": evidence,
        "diagnoses": diagnoses,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _why_frontend_refused(
    seen: list[dict[str, Any]],
    report: Any,
    connector: UCConnector,
    findings: list[dict[str, Any]],
    pfx_source: str,
) -> list[dict[str, Any]]:
    """Name the cause: the Front End's own words first, then what the connector knew."""
    out = []
    for event in seen:
        if event["type"] == "tls-failure":
            texts = list(dict.fromkeys([e["text"] for e in event.get("verify_errors", []) if not e.get("ignored")] + [event.get("error") or ""]))
            code = next((c for c in map(code_for_verify_error, texts) if c), None) or "tls-handshake-failed"
            if code == "cert-untrusted-ca" and _chain_incomplete(connector):
                code = "pfx-chain-incomplete"
            out.append(diagnose(code, f"the Front End refused the handshake: {'; '.join(t for t in texts if t)}", event, doc_step=_doc_step(code, pfx_source)))
        elif event["type"] == "peer-not-trusted":
            code = "cert-name-mismatch"
            out.append(diagnose(code, f"{event.get('text')}: the certificate names {event.get('names')}, the Front End knows {event.get('known_peers')}", event, doc_step=_doc_step(code, pfx_source)))
        elif event["type"] == "response" and event.get("status", 200) >= 300:
            out.append(diagnose("sip-rejected", f"the Front End answered {event.get('method')} with {event['status']} {event.get('reason')}", event))
    for finding in findings:
        if finding["severity"] == "error":
            out.append(diagnose(finding["code"], finding["message"], finding, doc_step=_doc_step(finding["code"], pfx_source)))
    if not out and report.code:
        out.append(diagnose(report.code, report.error or report.code, mask_secrets(report.to_dict()), doc_step=_doc_step(report.code, pfx_source)))
    return out


def _chain_incomplete(connector: UCConnector) -> bool:
    """The PFX holds the leaf without its issuer: with a two-tier CA the Front End, which
    trusts the root only, cannot build the path — "Include all certificates in the
    certification path if possible" was not chosen."""
    key = connector.key
    if key is None or not key.present:
        return False
    leaf, *rest = key.chain
    return leaf.issuer != leaf.subject and not any(c.subject == leaf.issuer for c in rest)


def _code_for_push_error(error: str, connector: UCConnector) -> str:
    """What the Front End's failed push to the Secured port says about the connector's certificate."""
    if "hostname mismatch" in error.lower():
        return "cert-name-mismatch"
    code = code_for_verify_error(error) or "tls-handshake-failed"
    if code == "cert-untrusted-ca" and _chain_incomplete(connector):
        return "pfx-chain-incomplete"
    return code


async def _frontend_to_connector(
    lab: Lab, connector: UCConnector, findings: list[dict[str, Any]], pfx_source: str, client: str
) -> dict[str, Any]:
    frontend = lab.frontend
    assert frontend is not None
    started = time.perf_counter()
    base = {"kind": "mtls", "direction": "frontend-to-connector", "client": client}
    try:
        port = await connector.start_secure_port(lab.bind_host)
    except ConnectorError as exc:
        return {
            **base,
            "outcome": "error",
            "evidence": {"connector": {"error": exc.message, "code": exc.code}, "connector_findings": findings},
            "diagnoses": [diagnose(exc.code, exc.message, {"hint": exc.hint}, doc_step=_doc_step(exc.code, pfx_source))],
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
    async with port:
        push = await frontend.push_to_connector(lab.bind_host, port.port, server_name=lab.topology.ucc_fqdn)
        seen = [e.to_dict() for e in port.events]
    handshake = next((e for e in seen if e["kind"] == "tls-handshake"), None)
    answered = [e for e in seen if e["kind"] == "response"]
    confirmed = bool(handshake and answered and all(e["details"]["status"] == 200 for e in answered))
    diagnoses = []
    if not confirmed:
        for event in seen:
            if event["kind"] == "tls-failure":
                d = event["details"]
                code = d.get("code") or "tls-handshake-failed"
                diagnoses.append(diagnose(code, f"the connector refused the Front End: {d.get('message')}", d, doc_step=_doc_step(code, pfx_source)))
        if not diagnoses and push.error:
            code = _code_for_push_error(push.error, connector)
            diagnoses.append(diagnose(code, f"the Front End could not push: {push.error}", None, doc_step=_doc_step(code, pfx_source)))
    return {
        **base,
        "outcome": "confirmed" if confirmed else "rejected",
        "evidence": {
            "connector": {
                "peer": handshake["details"].get("peer_certificate") if handshake else None,
                "chain": handshake["details"].get("chain") if handshake else None,
                "tls_version": handshake["details"].get("tls_version") if handshake else None,
                "requests": [{"method": e["details"].get("method"), "status": e["details"].get("status")} for e in answered],
                "log": seen,
            },
            "frontend": {"push": {"ok": push.ok, "error": push.error, "statuses": [list(s) for s in push.statuses]}},
        },
        "diagnoses": diagnoses,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }


async def confirm_tls_kerberos(lab: Lab, *, client: str = "python") -> dict[str, Any]:
    """The TLS/Kerberos login with the files the replay produced, judged by the KDC's and
    the Front End's logs."""
    frontend, kdc = lab.frontend, lab.kdc
    assert frontend is not None and kdc is not None
    t = lab.topology
    connector = await _connector(lab, "tls-kerberos")
    findings = [
        {"code": f.code, "severity": f.severity, "message": f.message, "hint": f.hint} for f in connector.findings
    ]
    fe_mark, kdc_mark = len(frontend.events), len(kdc.events)
    started = time.perf_counter()
    report = await connector.login(lab.bind_host, frontend.port)
    fe_seen = [e for e in _since(frontend.events, fe_mark) if e.get("connection") is not None]
    kdc_seen = [e.to_dict() for e in kdc.events[kdc_mark:]]
    principal = f"{t.ucc_account}@{t.realm}".lower()
    tgt = next((e for e in kdc_seen if e["request"] == "AS-REQ" and e["error_code"] is None), None)
    ticket = next(
        (e for e in kdc_seen if e["request"] == "TGS-REQ" and e["error_code"] is None and t.frontend_spn.lower() in (e["server"] or "").lower()),
        None,
    )
    authenticated = next((e for e in fe_seen if e["type"] == "sipae-authenticated"), None)
    register = next(
        (e for e in fe_seen if e["type"] == "response" and e.get("method") == "REGISTER" and e.get("status") == 200), None
    )
    confirmed = bool(
        tgt and ticket and authenticated and (authenticated.get("principal") or "").lower() == principal
        and register and report.rspauth_verified
    )
    diagnoses: list[dict[str, Any]] = []
    if not confirmed:
        if report.code:
            # On this path the trust store is -cert_store_file: its mistakes are in the TLS arguments.
            step = f"{TLS_ARGS}, step 2" if report.code.startswith("truststore-") else None
            diagnoses.append(diagnose(report.code, report.error or report.code, mask_secrets(report.to_dict()), doc_step=step))
        for e in fe_seen:
            if e["type"] == "sipae-rejected":
                diagnoses.append(diagnose("sip-auth-rejected", f"the Front End refused the credentials: {e.get('reason')}", e))
    for finding in findings + [
        {"code": f.code, "severity": f.severity, "message": f.message, "hint": f.hint} for f in report.findings
    ]:
        if finding["severity"] == "error" or finding["code"] == "krb-weak-crypto-enabled":
            diagnoses.append(diagnose(finding["code"], finding["message"], finding))
    return {
        "kind": "tls-kerberos",
        "client": client,
        "outcome": "confirmed" if confirmed else ("error" if report.outcome == "error" and not fe_seen else "rejected"),
        "evidence": {
            "kdc": {"tgt": tgt, "service_ticket": ticket, "log": kdc_seen},
            "frontend": {
                "authenticated": authenticated,
                "register": register,
                "requests": [
                    {"method": e["method"], "status": e["status"], "reason": e["reason"]} for e in fe_seen if e["type"] == "response"
                ],
                "log": fe_seen,
            },
            "connector": mask_secrets(report.to_dict()),
            "connector_findings": findings,
        },
        "diagnoses": diagnoses,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
