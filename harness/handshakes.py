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

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakes.configserver import CfgApplication

from .admin import AdminClient
from .artifacts import ArtifactError, read_krb5_conf, write_krb5_conf
from .connector import ConnectorError, Mode, UCConnector
from .diagnosis import code_for_java_error, diagnose
from .javaprobe import probe_login, probe_register, start_probe_listener
from .judge import (
    doc_step,
    judge_login,
    judge_push,
    judge_register,
    login_diagnoses,
    not_confirmed,
    push_diagnoses,
    why_frontend_refused,
)
from .lab import LabBase
from .labservices import Address
from .transcript import mask_secrets

__all__ = ["Setup", "Stage", "confirm_mtls", "mtls_handshakes", "confirm_tls_kerberos", "compare_clients"]

# Seconds the Java probe may take for one exchange (a JVM start included).
_JAVA_TIMEOUT = 20.0


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
    whether the Front End reaches a listener of this process where it reaches itself (not
    from a container); ``host_in_lab`` is this machine's address on the lab's network
    otherwise (a container lab's gateway), None when the Front End cannot reach it.
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
    host_in_lab: str | None = None

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
            host_in_lab=lab.host_in_lab,
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


async def _java_settings(stage: Stage) -> dict[str, Any]:
    """The connector host's Java settings (its ``java.security`` overrides, endpoint
    identification), so that the Java probe runs under the policy the stand-in follows."""
    return {
        "java_security": await stage.connector.get("java-security"),
        "endpoint_identification": await stage.connector.get("endpoint-identification"),
    }


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
            **await _java_settings(stage),
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
    verdict = judge_register(await stage.frontend.since(mark))
    diagnoses = [] if verdict.confirmed else why_frontend_refused(
        verdict.seen, setup.connector, setup.findings, client_code, client_error, view, pfx_source)
    if not verdict.confirmed and not diagnoses:
        diagnoses.append(not_confirmed(f"the Front End's log shows {verdict.missing} for the connector", verdict.seen))
    return {
        "kind": "mtls",
        "direction": "connector-to-frontend",
        "client": client,
        "outcome": "confirmed" if verdict.confirmed else ("error" if client_outcome == "error" and not verdict.seen else "rejected"),
        "evidence": {"frontend": verdict.evidence(), "connector": view, "connector_findings": setup.findings},
        "diagnoses": diagnoses,
        "duration_ms": _elapsed(started),
    }


async def _frontend_to_connector(stage: Stage, setup: Setup, pfx_source: str, client: str) -> dict[str, Any]:
    started = time.perf_counter()
    base = {"kind": "mtls", "direction": "frontend-to-connector", "client": client}
    connector = setup.connector

    def failed(code: str, message: str, evidence: dict[str, Any]) -> dict[str, Any]:
        return {
            **base,
            "outcome": "error",
            "evidence": {"connector": evidence, "connector_findings": setup.findings},
            "diagnoses": [diagnose(code, message, evidence, doc_step=doc_step(code, pfx_source))],
            "duration_ms": _elapsed(started),
        }

    async def push(host: str, port: int) -> dict[str, Any]:
        return await stage.frontend.act("push", {"host": host, "port": port, "server_name": stage.ucc_fqdn})

    if client == "java":
        if connector.secure_port is None:  # the Java connector has no port to listen on either
            finding = next((f for f in setup.findings if f["code"].startswith("secure-port")), None)
            code = finding["code"] if finding else "secure-port-missing"
            return failed(code, finding["message"] if finding else "no Secured SIP port", {"finding": finding})
        # The JVM listens on this machine: where the Front End reaches it.
        listen = stage.local_frontend.host if stage.push_to_local else stage.host_in_lab
        if listen is None:
            return failed("lab-java-push-unreachable",
                          "the Java probe listens in this process, which the lab's Front End (in its own network) cannot reach",
                          {"frontend": str(stage.frontend_address)})
        async with await start_probe_listener(
            java_security=(await _java_settings(stage))["java_security"],
            ucc_fqdn=stage.ucc_fqdn,
            arguments=setup.app.command_line_arguments,
            files=stage.files,
            port=connector.secure_port.port,
            timeout=_JAVA_TIMEOUT,
            bind=None if stage.push_to_local else listen,
        ) as listener:
            if listener.port is None:
                probe = await listener.result()
                text = _java_error_text(probe.error) or "the Java connector could not listen"
                return failed(code_for_java_error(text) or "secure-port-unavailable", text, mask_secrets(probe.json))
            pushed = await push(listen, listener.port)
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
        judged = judge_push(seen)
        confirmed, evidence, refused = judged.confirmed, judged.evidence(), judged.refused
    diagnoses = [] if confirmed else push_diagnoses(
        pushed.get("error"), pushed["handshake_ok"], refused, connector, evidence, pfx_source)
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


@contextmanager
def _files_seen_from_here(lab: LabBase, krb_conf_file: str | None) -> Iterator[Path]:
    """The connector's etc folder for a JVM beside the harness. Where the lab's hosts reach
    the KDC at another address than this machine does (a container lab: labdc01.companya.com:88
    inside its network, a published port here), a private copy of the folder whose krb5.conf
    names the KDC as this machine reaches it; else the folder itself. The lab's own file is
    left as the page made it."""
    here, there = lab.endpoints.kdc, lab.network.kdc
    source = lab.resolve_windows_path(krb_conf_file) if krb_conf_file else None
    if here == there or source is None or not source.is_file():
        yield lab.artifacts_dir
        return
    try:
        conf = read_krb5_conf(source)
    except ArtifactError:  # a damaged krb5.conf: the JVM reads it as it is, and says so
        yield lab.artifacts_dir
        return
    names = {f"{there.host}:{there.port}".lower()} | ({there.host.lower()} if there.port == 88 else set())
    for relations in conf.realms.values():
        if isinstance(relations, dict) and isinstance(relations.get("kdc"), list):
            relations["kdc"] = [str(here) if str(k).lower() in names else k for k in relations["kdc"]]
    with tempfile.TemporaryDirectory(prefix="ucclab-host-view-") as folder:
        view = Path(folder)
        for item in lab.artifacts_dir.iterdir():
            if item.is_file() and item.name != source.name:
                (view / item.name).symlink_to(item)
        write_krb5_conf(view / source.name, conf)
        yield view



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
        with _files_seen_from_here(lab, setup.connector.arguments.krb_conf_file) as files:
            probe = await probe_login(
                **await _java_settings(stage),
                frontend=(stage.local_frontend.host, stage.local_frontend.port),
                frontend_fqdn=t.frontend_fqdn,
                ucc_fqdn=t.ucc_fqdn,
                arguments=setup.app.command_line_arguments,
                files=files,
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
    login = judge_login(kdc_seen, fe_seen, principal=f"{t.ucc_account}@{t.realm}", spn=f"{t.frontend_spn}@{t.realm}",
                        rspauth_verified=rspauth_verified)
    diagnoses = login_diagnoses(login, fe_seen, findings, client_code=client_code, client_error=client_error,
                                view=view, kdc_seen=kdc_seen)
    tgt = login.tgt
    if login.confirmed and client == "java" and weak and tgt and tgt.get("reply_etype", {}).get("etype") in (1, 3):
        diagnoses.append(diagnose("krb-weak-crypto-enabled", "the login used single DES, allowed by allow_weak_crypto = true", tgt))
    return {
        "kind": "tls-kerberos",
        "client": client,
        "outcome": "confirmed" if login.confirmed else ("error" if client_outcome == "error" and not fe_seen else "rejected"),
        "evidence": {
            "kdc": {"tgt": tgt, "service_ticket": login.ticket, "log": kdc_seen},
            "frontend": {
                "authenticated": login.authenticated,
                "register": login.register,
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
