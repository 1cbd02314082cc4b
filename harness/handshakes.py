"""The handshakes that prove the page's files work, judged by what the server side saw.

MTLS has two directions (DESIGN.md, "The procedures, as the lab sees them", item 5):

* **connector → Front End**: the connector, configured by its Application object (the
  Command Line Arguments the page had us type), connects to the Front End, presents its
  PFX and sends OPTIONS and REGISTER. Confirmed only when the Front End's event log shows
  the handshake with the connector's certificate, the peer accepted as a known server,
  and REGISTER answered 200.
* **Front End → connector**: the Front End pushes presence to the connector's Secured SIP
  port, presenting its own certificate. Confirmed only when the connector's Secured-port
  log shows the Front End's certificate and its requests answered 200.

TLS/Kerberos (item 8): the connector opens TLS to the Front End (no client certificate),
REGISTER is challenged with MS-SIPAE Kerberos, the connector logs in at the KDC as its OCS
user and answers with a ticket for ``sip/<frontend fqdn>``. Confirmed only when the KDC's
log shows the TGT and the service ticket issued, the Front End's log shows that principal
authenticated and REGISTER answered 200 with Authentication-Info, and the connector
verified that answer's signature (rspauth).

The connector is the Python stand-in (``client="python"``) or the real JSSE/JGSS stack
through the Java probe (``client="java"``). Under TLS 1.3 a client reports a finished
handshake before the server has checked its certificate, so the client's view is kept as
context, never as the verdict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakes.configserver import CfgApplication

from .admin import AdminClient
from .connector import ConnectorError, Mode, UCConnector
from .diagnosis import FRONTEND, SHELL, TLS_ARGS, WEB, code_for_java_error, code_for_verify_error, diagnose
from .javaprobe import probe_login, probe_register, start_probe_listener
from .lab import LabBase
from .labservices import Address
from .transcript import mask_secrets

__all__ = ["Setup", "Stage", "confirm_mtls", "mtls_handshakes", "confirm_tls_kerberos", "compare_clients"]

# Where, on each of the page's three ways to the connector's PFX, the certificate was
# requested and where it was exported: diagnoses point there.
_PFX_STEPS = {
    "shell": (f"{SHELL}, step 1", f"{SHELL}, step 5"),
    "web": (f"{WEB}, step 4", f"{WEB}, step 5"),
    "frontend": (f"{FRONTEND}, step 3", f"{FRONTEND}, step 4"),
}
_REQUEST_CODES = {"cert-name-mismatch", "cert-expired", "cert-not-yet-valid", "cert-untrusted-ca", "cert-eku-no-server-auth"}
_EXPORT_CODES = {"pfx-no-private-key", "pfx-unencrypted", "pfx-chain-incomplete"}
# Seconds the Java probe may take for one exchange (a JVM start included).
_JAVA_TIMEOUT = 20.0


def _doc_step(code: str, pfx_source: str) -> str | None:
    request, export = _PFX_STEPS[pfx_source]
    if code in _REQUEST_CODES:
        return request
    if code in _EXPORT_CODES:
        return export
    return None


@dataclass
class Setup:
    """The connector as its Application object configures it: arguments, stores, ports,
    and the findings made while reading them."""

    app: CfgApplication
    connector: UCConnector
    findings: list[dict[str, Any]]


@dataclass
class Stage:
    """Where the connector meets the Front End, as the drivers and the judge reach them.

    ``frontend`` and ``connector`` are the admin APIs of the Front End and of the UC
    Connector host: the drivers make traffic through them (the connector's register and
    login, the Front End's push) and the judge reads only their evidence, wherever they
    run. ``frontend_address`` is the Front End as the connector reaches it,
    ``local_frontend`` as this process reaches it (the Java probe runs here), ``ucc_host``
    the connector host as the Front End reaches it; ``files`` the folder holding the files
    the connector's arguments name, as this process reads them. ``push_to_local`` says
    whether the Front End can reach a listener of this process (not from a container).
    """

    frontend: AdminClient
    connector: AdminClient
    frontend_address: Address
    local_frontend: Address
    ucc_host: str
    frontend_fqdn: str
    ucc_fqdn: str
    files: Path
    push_to_local: bool = True

    @classmethod
    def of(cls, lab: LabBase) -> "Stage":
        assert lab.network is not None and lab.endpoints is not None
        return cls(
            frontend=lab.admin["frontend"],
            connector=lab.admin["connector"],
            frontend_address=lab.network.frontend,
            local_frontend=lab.endpoints.frontend,
            ucc_host=lab.network.ucc,
            frontend_fqdn=lab.topology.frontend_fqdn,
            ucc_fqdn=lab.topology.ucc_fqdn,
            files=lab.artifacts_dir,
            push_to_local=lab.network.frontend == lab.endpoints.frontend,
        )


async def _setup(lab: LabBase, mode: Mode) -> Setup:
    async with lab.configserver_client() as cfg:
        app = await cfg.find_application(lab.topology.application_name)
    if app is None:
        raise ConnectorError("application-missing", f"no Application object named {lab.topology.application_name!r}")
    connector = UCConnector.from_application(
        app,
        resolve_path=lab.resolve_windows_path,
        java_home=lab.java_home,
        frontend_fqdn=lab.topology.frontend_fqdn,
        ucc_fqdn=lab.topology.ucc_fqdn,
        mode=mode,
    )
    return Setup(app, connector, [_finding(f) for f in connector.findings])


def _finding(f: Any) -> dict[str, Any]:
    """A finding (an object, or its JSON form from the connector host) as replays report it."""
    if isinstance(f, dict):
        return {key: f.get(key) for key in ("code", "severity", "message", "hint")}
    return {"code": f.code, "severity": f.severity, "message": f.message, "hint": f.hint}


def _java_error_text(error: dict[str, Any] | None) -> str | None:
    """Java's exception and its causes, as one line."""
    if not error:
        return None
    parts = [f"{error['exception']}: {error['message']}"] + [f"{c['exception']}: {c['message']}" for c in error.get("causes", [])]
    return " <- ".join(parts)


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# -- MTLS ------------------------------------------------------------------------------------


async def confirm_mtls(lab: LabBase, *, pfx_source: str = "shell", client: str = "python") -> list[dict[str, Any]]:
    """Both MTLS directions with the files the replay produced; one result per direction.

    Each result: ``kind`` ("mtls"), ``direction``, ``client``, ``outcome`` ("confirmed",
    "rejected" or "error"), ``evidence`` (the server side's log lines and the client's
    view), ``diagnoses`` and ``duration_ms``.
    """
    return await mtls_handshakes(Stage.of(lab), await _setup(lab, "mtls"), pfx_source=pfx_source, client=client)


async def mtls_handshakes(stage: Stage, setup: Setup, *, pfx_source: str = "shell", client: str = "python") -> list[dict[str, Any]]:
    """Both MTLS directions between ``setup``'s connector and ``stage``'s Front End, judged
    by the server side's logs (used by replays and by ``ucclab check``)."""
    return [
        await _connector_to_frontend(stage, setup, pfx_source, client),
        await _frontend_to_connector(stage, setup, pfx_source, client),
    ]


async def _connector_to_frontend(stage: Stage, setup: Setup, pfx_source: str, client: str) -> dict[str, Any]:
    mark = await stage.frontend.cursor()
    started = time.perf_counter()
    if client == "java":
        probe = await probe_register(
            frontend=(stage.local_frontend.host, stage.local_frontend.port),
            frontend_fqdn=stage.frontend_fqdn,
            ucc_fqdn=stage.ucc_fqdn,
            arguments=setup.app.command_line_arguments,
            files=stage.files,
            timeout=_JAVA_TIMEOUT,
        )
        view, client_error = mask_secrets(probe.json), _java_error_text(probe.error)
        client_code, client_outcome = code_for_java_error(client_error), probe.outcome
    else:
        report = await stage.connector.act("register", {"frontend": stage.frontend_address.to_json()})
        view, client_error, client_code, client_outcome = mask_secrets(report), report.get("error"), report.get("code"), report["outcome"]
    seen = [e for e in await stage.frontend.since(mark) if e.get("connection") is not None]
    handshake = next((e for e in seen if e["type"] == "tls-handshake"), None)
    # Everything that counts must have happened on that one connection.
    on_it = [e for e in seen if handshake and e["connection"] == handshake["connection"]]
    trusted = next((e for e in on_it if e["type"] == "peer-trusted"), None)
    register = next((e for e in on_it if e["type"] == "response" and e.get("method") == "REGISTER"), None)
    confirmed = bool(handshake and trusted and register and register["status"] == 200)
    diagnoses = [] if confirmed else _why_frontend_refused(seen, setup, client_code, client_error, view, pfx_source)
    if not confirmed and not diagnoses:
        missing = "no TLS handshake" if not handshake else "the peer was not trusted" if not trusted else "no REGISTER 200"
        diagnoses.append(_not_confirmed(f"the Front End's log shows {missing} for the connector", seen))
    return {
        "kind": "mtls",
        "direction": "connector-to-frontend",
        "client": client,
        "outcome": "confirmed" if confirmed else ("error" if client_outcome == "error" and not seen else "rejected"),
        "evidence": {
            "frontend": {
                "peer": handshake.get("peer") if handshake else None,
                "chain": handshake.get("chain_subjects") if handshake else None,
                "tls_version": handshake.get("version") if handshake else None,
                "cipher": handshake.get("cipher") if handshake else None,
                "peer_trusted_as": trusted.get("peer") if trusted else None,
                "requests": [
                    {"method": e["method"], "status": e["status"], "reason": e["reason"]} for e in seen if e["type"] == "response"
                ],
                "log": seen,
            },
            "connector": view,
            "connector_findings": setup.findings,
        },
        "diagnoses": diagnoses,
        "duration_ms": _elapsed(started),
    }


def _why_frontend_refused(
    seen: list[dict[str, Any]],
    setup: Setup,
    client_code: str | None,
    client_error: str | None,
    view: dict[str, Any],
    pfx_source: str,
) -> list[dict[str, Any]]:
    """Name the cause: the Front End's own words first, then what the connector knew."""
    out = []
    for event in seen:
        if event["type"] == "tls-failure":
            verify = [e["text"] for e in event.get("verify_errors", []) if not e.get("ignored")]
            texts = list(dict.fromkeys([*verify, event.get("error") or ""]))
            code = next((c for c in (code_for_verify_error(t, peer="client") for t in texts) if c), None)
            if code is None and event.get("alert_received") and client_code:
                continue  # the connector aborted (an alert it sent): its own diagnosis says why
            code = code or "tls-handshake-failed"
            if code == "cert-untrusted-ca" and _chain_incomplete(setup.connector):
                code = "pfx-chain-incomplete"
            message = f"the Front End refused the handshake: {'; '.join(t for t in texts if t)}"
            out.append(diagnose(code, message, event, doc_step=_doc_step(code, pfx_source)))
        elif event["type"] == "peer-not-trusted":
            code = "cert-name-mismatch"
            message = f"{event.get('text')}: the certificate names {event.get('names')}, the Front End knows {event.get('known_peers')}"
            out.append(diagnose(code, message, event, doc_step=_doc_step(code, pfx_source)))
        elif event["type"] == "sipae-challenge" and not _presented_certificate(seen, event):
            # No client certificate: the Front End treats the connector as an untrusted
            # client and asks it to authenticate; trusted applications must use MTLS.
            message = f"the connector presented no client certificate, so the Front End challenged its {event.get('method')} (401)"
            out.append(diagnose("client-certificate-missing", message, event))
        elif event["type"] == "response" and event.get("status", 200) >= 300 and event.get("status") != 401:
            message = f"the Front End answered {event.get('method')} with {event['status']} {event.get('reason')}"
            out.append(diagnose("sip-rejected", message, event))
    for finding in setup.findings:
        if finding["severity"] == "error":
            out.append(diagnose(finding["code"], finding["message"], finding, doc_step=_doc_step(finding["code"], pfx_source)))
    if not out and client_code:
        out.append(diagnose(client_code, client_error or client_code, view, doc_step=_doc_step(client_code, pfx_source)))
    return out


def _not_confirmed(message: str, evidence: Any, doc_step: str | None = None) -> dict[str, Any]:
    """The last-resort diagnosis: the server side's evidence lacks a piece, and nothing
    more specific explains why."""
    return diagnose("handshake-not-confirmed", message, evidence, doc_step=doc_step)


def _presented_certificate(seen: list[dict[str, Any]], event: dict[str, Any]) -> bool:
    """Whether the connection of ``event`` presented a client certificate."""
    return any(e["type"] == "tls-handshake" and e.get("peer") for e in seen if e["connection"] == event["connection"])


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
    code = code_for_verify_error(error, peer="server") or "tls-handshake-failed"
    if code == "cert-untrusted-ca" and _chain_incomplete(connector):
        return "pfx-chain-incomplete"
    return code


async def _frontend_to_connector(stage: Stage, setup: Setup, pfx_source: str, client: str) -> dict[str, Any]:
    started = time.perf_counter()
    base = {"kind": "mtls", "direction": "frontend-to-connector", "client": client}
    connector = setup.connector

    def failed(code: str, message: str, evidence: dict[str, Any]) -> dict[str, Any]:
        return {
            **base,
            "outcome": "error",
            "evidence": {"connector": evidence, "connector_findings": setup.findings},
            "diagnoses": [diagnose(code, message, evidence, doc_step=_doc_step(code, pfx_source))],
            "duration_ms": _elapsed(started),
        }

    async def push(host: str, port: int) -> dict[str, Any]:
        return await stage.frontend.act("push", {"host": host, "port": port, "server_name": stage.ucc_fqdn})

    if client == "java":
        if connector.secure_port is None:  # the Java connector has no port to listen on either
            finding = next((f for f in setup.findings if f["code"].startswith("secure-port")), None)
            code = finding["code"] if finding else "secure-port-missing"
            return failed(code, finding["message"] if finding else "no Secured SIP port", {"finding": finding})
        if not stage.push_to_local:
            return failed("lab-java-push-unreachable",
                          "the Java probe listens in this process, which the lab's Front End (in its own network) cannot reach",
                          {"frontend": str(stage.frontend_address)})
        async with await start_probe_listener(
            ucc_fqdn=stage.ucc_fqdn,
            arguments=setup.app.command_line_arguments,
            files=stage.files,
            port=connector.secure_port.port,
            timeout=_JAVA_TIMEOUT,
        ) as listener:
            if listener.port is None:
                probe = await listener.result()
                text = _java_error_text(probe.error) or "the Java connector could not listen"
                return failed(code_for_java_error(text) or "secure-port-unavailable", text, mask_secrets(probe.json))
            pushed = await push(stage.local_frontend.host, listener.port)
            probe = await listener.result()
        connections = probe.json.get("connections", [])
        first = connections[0] if connections else {}
        tls = first.get("tls") or {}
        requests = first.get("requests", [])
        confirmed = bool(tls and requests and all(r.get("status") == 200 for r in requests))
        connector_error = first.get("error")
        evidence = {
            "peer": tls.get("peer_certificate"),
            "chain": tls.get("peer_chain"),
            "tls_version": tls.get("version"),
            "requests": requests,
            "log": mask_secrets(probe.json),
        }
        refused = _java_error_text(connector_error) if connector_error else None
    else:
        listening = await stage.connector.act("listen")
        if not listening["listening"]:
            return failed(listening["code"], listening["error"], {"error": listening["error"], "code": listening["code"],
                                                                  "hint": listening.get("hint")})
        try:
            mark = await stage.connector.cursor()
            pushed = await push(stage.ucc_host, listening["port"])
            seen = await stage.connector.since(mark)
        finally:
            await stage.connector.act("stop-listening")
        seen = [e for e in seen if e.get("connection") is not None]
        handshake = next((e for e in seen if e["type"] == "tls-handshake"), None)
        answered = [e for e in seen if e["type"] == "response"]
        confirmed = bool(handshake and answered and all(e["status"] == 200 for e in answered))
        evidence = {
            "peer": handshake.get("peer_certificate") if handshake else None,
            "chain": handshake.get("chain") if handshake else None,
            "tls_version": handshake.get("tls_version") if handshake else None,
            "requests": [{"method": e.get("method"), "status": e.get("status")} for e in answered],
            "log": seen,
        }
        failure = next((e for e in seen if e["type"] == "tls-failure"), None)
        refused = failure.get("message") if failure else None
    diagnoses = []
    if not confirmed:
        # The Front End is the TLS client here: when it aborted (say, the name did not
        # match), its reason comes first; the connector then only saw the alert.
        push_error = pushed.get("error")
        push_code = _code_for_push_error(push_error, connector) if push_error else None
        refused_code = (code_for_java_error(refused) or "tls-handshake-failed") if refused else None
        if push_code and push_code != "tls-handshake-failed" and not pushed["handshake_ok"]:
            diagnoses.append(diagnose(push_code, f"the Front End could not push: {push_error}", None, doc_step=_doc_step(push_code, pfx_source)))
        elif refused_code:
            diagnoses.append(diagnose(refused_code, f"the connector refused the Front End: {refused}", evidence, doc_step=_doc_step(refused_code, pfx_source)))
        elif push_code:
            diagnoses.append(diagnose(push_code, f"the Front End could not push: {push_error}", None, doc_step=_doc_step(push_code, pfx_source)))
        else:
            diagnoses.append(_not_confirmed("the connector's Secured port did not answer every request of the push with 200", evidence))
    return {
        **base,
        "outcome": "confirmed" if confirmed else "rejected",
        "evidence": {
            "connector": evidence,
            "frontend": {"push": {"ok": pushed["ok"], "error": pushed.get("error"), "statuses": pushed["statuses"]}},
        },
        "diagnoses": diagnoses,
        "duration_ms": _elapsed(started),
    }


# -- TLS/Kerberos ----------------------------------------------------------------------------


async def confirm_tls_kerberos(lab: LabBase, *, client: str = "python") -> dict[str, Any]:
    """The TLS/Kerberos login with the files the replay produced, judged by the KDC's and
    the Front End's logs."""
    stage, kdc = Stage.of(lab), lab.admin["kdc"]
    t = lab.topology
    setup = await _setup(lab, "tls-kerberos")
    fe_mark, kdc_mark = await stage.frontend.cursor(), await kdc.cursor()
    started = time.perf_counter()
    findings = list(setup.findings)
    if client == "java":
        ocs = setup.app.options.get("Microsoft-OCS", {})
        probe = await probe_login(
            frontend=(stage.local_frontend.host, stage.local_frontend.port),
            frontend_fqdn=t.frontend_fqdn,
            ucc_fqdn=t.ucc_fqdn,
            arguments=setup.app.command_line_arguments,
            files=lab.artifacts_dir,
            principal=ocs.get("user", t.ucc_account),
            password=ocs.get("password", ""),
            timeout=_JAVA_TIMEOUT,
        )
        view, client_error = mask_secrets(probe.json), _java_error_text(probe.error)
        client_code, client_outcome = code_for_java_error(client_error), probe.outcome
        rspauth_verified = bool(probe.json.get("rspauth_verified"))
        weak = "allow_weak_crypto" in " ".join(str(v) for v in probe.json.get("jsse", {}).values())
    else:
        report = await stage.connector.act("login", {"frontend": stage.frontend_address.to_json()})
        view, client_error, client_code, client_outcome = mask_secrets(report), report.get("error"), report.get("code"), report["outcome"]
        rspauth_verified = bool(report.get("rspauth_verified"))
        findings += [_finding(f) for f in report.get("findings", [])]
        weak = False
    fe_seen = [e for e in await stage.frontend.since(fe_mark) if e.get("connection") is not None]
    kdc_seen = await kdc.since(kdc_mark)
    principal = f"{t.ucc_account}@{t.realm}".lower()
    spn = f"{t.frontend_spn}@{t.realm}".lower()
    tgt = next(
        (e for e in kdc_seen if e["request"] == "AS-REQ" and e["error_code"] is None and (e["client"] or "").lower() == principal),
        None,
    )
    ticket = next(
        (e for e in kdc_seen if e["request"] == "TGS-REQ" and e["error_code"] is None and (e["server"] or "").lower() == spn),
        None,
    )
    authenticated = next((e for e in fe_seen if e["type"] == "sipae-authenticated"), None)
    register = next(
        (e for e in fe_seen if e["type"] == "response" and e.get("method") == "REGISTER" and e.get("status") == 200), None
    )
    confirmed = bool(
        tgt
        and ticket
        and authenticated
        and (authenticated.get("principal") or "").lower() == principal
        and register
        and rspauth_verified
    )
    diagnoses: list[dict[str, Any]] = []
    if not confirmed:
        if client_code:
            # On this path the trust store is -cert_store_file: its mistakes are in the TLS arguments.
            step = f"{TLS_ARGS}, step 2" if client_code.startswith("truststore-") else None
            diagnoses.append(diagnose(client_code, client_error or client_code, view, doc_step=step))
        for e in fe_seen:
            if e["type"] == "sipae-rejected":
                diagnoses.append(diagnose("sip-auth-rejected", f"the Front End refused the credentials: {e.get('reason')}", e))
    for finding in findings:
        if finding["severity"] == "error" or finding["code"] == "krb-weak-crypto-enabled":
            diagnoses.append(diagnose(finding["code"], finding["message"], finding))
    if not confirmed and not any(d["code"] != "krb-weak-crypto-enabled" for d in diagnoses):
        missing = [
            name
            for name, present in (
                ("a TGT for the OCS user", tgt),
                (f"a ticket for {t.frontend_spn}", ticket),
                ("the principal authenticated by the Front End", authenticated),
                ("REGISTER answered 200", register),
                ("rspauth verified by the connector", rspauth_verified),
            )
            if not present
        ]
        diagnoses.append(_not_confirmed(f"missing from the evidence: {', '.join(missing)}", {"kdc": kdc_seen, "frontend": fe_seen}))
    if confirmed and client == "java" and weak and tgt and tgt.get("reply_etype", {}).get("etype") in (1, 3):
        diagnoses.append(diagnose("krb-weak-crypto-enabled", "the login used single DES, allowed by allow_weak_crypto = true", tgt))
    return {
        "kind": "tls-kerberos",
        "client": client,
        "outcome": "confirmed" if confirmed else ("error" if client_outcome == "error" and not fe_seen else "rejected"),
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
            "connector": view,
            "connector_findings": findings,
        },
        "diagnoses": diagnoses,
        "duration_ms": _elapsed(started),
    }


# -- both clients ----------------------------------------------------------------------------


def compare_clients(handshakes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs of the same handshake by the Python stand-in and the Java probe that disagree
    (one confirmed and not the other, or failures with no diagnosis code in common): each
    is a defect of the lab, since the stand-in imitates Java."""
    by_key: dict[tuple[str, str | None], dict[str, dict[str, Any]]] = {}
    for h in handshakes:
        by_key.setdefault((h["kind"], h.get("direction")), {})[h["client"]] = h
    disagreements = []
    for (kind, direction), pair in by_key.items():
        python, java = pair.get("python"), pair.get("java")
        if python is None or java is None:
            continue
        p_codes = sorted({d["code"] for d in python["diagnoses"]})
        j_codes = sorted({d["code"] for d in java["diagnoses"]})
        p_ok, j_ok = python["outcome"] == "confirmed", java["outcome"] == "confirmed"
        # Same verdict, and for a failure the same cause among the diagnoses. Where in the
        # exchange it failed may differ (Java logs in at the KDC before it opens TLS).
        if p_ok != j_ok or (not p_ok and not set(p_codes) & set(j_codes)):
            disagreements.append(
                {
                    "kind": kind,
                    "direction": direction,
                    "python": {"outcome": python["outcome"], "codes": p_codes},
                    "java": {"outcome": java["outcome"], "codes": j_codes},
                }
            )
    return disagreements
