"""The judge: whether a handshake is confirmed, and why not, from the server side's records.

Drivers (:mod:`harness.handshakes`) make traffic and collect evidence records; ``ucclab
progress`` (:mod:`harness.progress`) finds them in a running lab's logs. Both hand the
records to these functions, so a handshake is judged by one set of rules wherever its
evidence came from. Nothing here touches a socket or a stand-in: records in, verdicts and
diagnoses out.

The rules (DESIGN.md principle 4; under TLS 1.3 a client believes it is done before the
server has judged its certificate, so the client's view is context, never the verdict):

1. **Connector → Front End (MTLS)**: the Front End's log shows, on one connection, the
   TLS handshake with the connector's certificate, the peer trusted as a known server, and
   REGISTER answered 200.
2. **Front End → connector (MTLS)**: the connector's Secured-port log shows the Front End's
   handshake and every request of the push answered 200.
3. **TLS/Kerberos**: the KDC issued the OCS user a TGT and a ticket for the Front End's
   SPN, the Front End authenticated that principal and answered REGISTER 200, and the
   connector verified the answer's signature (rspauth).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .connector import UCConnector
from .diagnosis import DIAGNOSES, FRONTEND, SHELL, TLS_ARGS, WEB, code_for_java_error, code_for_verify_error, diagnose

__all__ = [
    "Register", "Push", "Login", "judge_register", "judge_push", "judge_login", "why_frontend_refused",
    "push_diagnoses", "login_diagnoses", "code_for_push_error", "not_confirmed", "doc_step", "LOGIN_STEP",
]

Record = dict[str, Any]

# Where, on each of the page's three ways to the connector's PFX, the certificate was
# requested and where it was exported: diagnoses point there.
_PFX_STEPS = {
    "shell": (f"{SHELL}, step 1", f"{SHELL}, step 5"),
    "web": (f"{WEB}, step 4", f"{WEB}, step 5"),
    "frontend": (f"{FRONTEND}, step 3", f"{FRONTEND}, step 4"),
}
_REQUEST_CODES = {"cert-name-mismatch", "cert-expired", "cert-not-yet-valid", "cert-untrusted-ca", "cert-eku-no-server-auth"}
_EXPORT_CODES = {"pfx-no-private-key", "pfx-unencrypted", "pfx-chain-incomplete"}

# Where an unexplained Kerberos login points: the TLS arguments that configure it.
LOGIN_STEP = f"{TLS_ARGS}, step 2"

# The connector's own verdict on the certificate the Front End presented (it is the TLS
# client there): the Front End's certificate is at fault, not the connector's.
_FRONTEND_CERTIFICATE = (f"{FRONTEND}, step 3", {
    "cert-name-mismatch": "The connector checks the Front End's name (HTTPS endpoint identification): the Front End must "
                          "present a certificate naming the FQDN the connector connects to (its pool's), or the connector "
                          "must not check names, as a plain SSLSocket does not.",
    "cert-expired": "Renew the Front End's certificate: it has expired.",
    "cert-not-yet-valid": "Check the hosts' clocks: the Front End's certificate is not valid yet.",
})
# Lync serves only the trusted application pools and computers of its topology.
_NOT_IN_TOPOLOGY = ("Give the connector a certificate whose subject CN is the FQDN its trusted application computer has "
                    "in the topology (Get-CsTrustedApplicationComputer), or add the connector's FQDN to the topology "
                    "(New-CsTrustedApplicationPool or New-CsTrustedApplicationComputer, then Enable-CsTopology).")


def _client_verdict(code: str, message: str, view: Any, pfx_source: str | None) -> dict[str, Any]:
    """The connector's own diagnosis of a TLS connection to the Front End (``pfx_source``:
    the MTLS register's road to the PFX; None for the Kerberos login): a fault of the Front
    End's certificate points there, the others at the connector's step."""
    if code not in DIAGNOSES:
        # The connector's own word for how the exchange ended (frontend-closed, ...): context,
        # not a cause; the server side's records name that.
        return not_confirmed(f"the connector reported: {message}", view, None if pfx_source else LOGIN_STEP)
    step, fixes = _FRONTEND_CERTIFICATE
    if code in fixes:
        return diagnose(code, message, view, doc_step=step, fix=fixes[code])
    return diagnose(code, message, view, doc_step=doc_step(code, pfx_source) if pfx_source else None)


def doc_step(code: str, pfx_source: str) -> str | None:
    """The page's step a certificate's fault points at, on the PFX's road (``shell``,
    ``web`` or ``frontend``): where it was requested, or where it was exported."""
    request, export = _PFX_STEPS[pfx_source]
    if code in _REQUEST_CODES:
        return request
    if code in _EXPORT_CODES:
        return export
    return None


def not_confirmed(message: str, evidence: Any, step: str | None = None) -> dict[str, Any]:
    """The last-resort diagnosis: the server side's evidence lacks a piece, and nothing
    more specific explains why."""
    return diagnose("handshake-not-confirmed", message, evidence, doc_step=step)


# -- rule 1 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    """Rule 1 applied to the Front End's records of one attempt."""

    confirmed: bool
    handshake: Record | None
    trusted: Record | None
    register: Record | None
    seen: list[Record]

    @property
    def missing(self) -> str:
        return "no TLS handshake" if not self.handshake else "the peer was not trusted" if not self.trusted else "no REGISTER 200"

    def evidence(self) -> dict[str, Any]:
        h = self.handshake or {}
        return {
            "peer": h.get("peer"),
            "chain": h.get("chain_subjects"),
            "tls_version": h.get("version"),
            "cipher": h.get("cipher"),
            "peer_trusted_as": self.trusted.get("peer") if self.trusted else None,
            "requests": [{"method": e.get("method"), "status": e.get("status"), "reason": e.get("reason")}
                         for e in self.seen if e["type"] == "response"],
            "log": self.seen,
        }


def judge_register(seen: list[Record]) -> Register:
    """Rule 1 on the Front End's records of the connector's attempt (its connections only)."""
    seen = [e for e in seen if e.get("connection") is not None]
    handshake = next((e for e in seen if e["type"] == "tls-handshake"), None)
    # Everything that counts must have happened on that one connection.
    on_it = [e for e in seen if handshake and e["connection"] == handshake["connection"]]
    trusted = next((e for e in on_it if e["type"] == "peer-trusted"), None)
    register = next((e for e in on_it if e["type"] == "response" and e.get("method") == "REGISTER"), None)
    confirmed = bool(handshake and trusted and register and register.get("status") == 200)
    return Register(confirmed, handshake, trusted, register, seen)


def why_frontend_refused(
    seen: list[Record],
    connector: UCConnector | None,
    findings: list[dict[str, Any]],
    client_code: str | None,
    client_error: str | None,
    view: Any,
    pfx_source: str,
) -> list[dict[str, Any]]:
    """Name the cause of a refused rule 1: the Front End's own words first, then the
    connector's set-up findings, then what the connector itself reported."""
    out = []
    for event in seen:
        if event["type"] == "tls-failure":
            verify = [e["text"] for e in event.get("verify_errors", []) if not e.get("ignored")]
            texts = list(dict.fromkeys([*verify, event.get("error") or ""]))
            code = next((c for c in (code_for_verify_error(t, peer="client") for t in texts) if c), None)
            if code is None and event.get("alert_received") and client_code:
                continue  # the connector aborted (an alert it sent): its own diagnosis says why
            code = code or "tls-handshake-failed"
            if code == "cert-untrusted-ca" and _chain_incomplete(connector):
                code = "pfx-chain-incomplete"
            message = f"the Front End refused the handshake: {'; '.join(t for t in texts if t)}"
            out.append(diagnose(code, message, event, doc_step=doc_step(code, pfx_source)))
        elif event["type"] == "peer-not-trusted":
            code = "cert-name-mismatch"
            message = f"{event.get('text')}: the certificate names {event.get('names')}, the Front End knows {event.get('known_peers')}"
            out.append(diagnose(code, message, event, doc_step=doc_step(code, pfx_source), fix=_NOT_IN_TOPOLOGY))
        elif event["type"] == "sipae-challenge" and not _presented_certificate(seen, event):
            # No client certificate: the Front End treats the connector as an untrusted
            # client and asks it to authenticate; trusted applications must use MTLS.
            message = f"the connector presented no client certificate, so the Front End challenged its {event.get('method')} (401)"
            out.append(diagnose("client-certificate-missing", message, event))
        elif event["type"] == "response" and event.get("status", 200) >= 300 and event.get("status") != 401:
            message = f"the Front End answered {event.get('method')} with {event['status']} {event.get('reason')}"
            out.append(diagnose("sip-rejected", message, event))
    for finding in findings:
        if finding["severity"] == "error":
            out.append(diagnose(finding["code"], finding["message"], finding, doc_step=doc_step(finding["code"], pfx_source)))
    if not out and client_code:
        out.append(_client_verdict(client_code, client_error or client_code, view, pfx_source))
    return out


def _presented_certificate(seen: list[Record], event: Record) -> bool:
    """Whether the connection of ``event`` presented a client certificate."""
    return any(e["type"] == "tls-handshake" and e.get("peer") for e in seen if e["connection"] == event["connection"])


def _chain_incomplete(connector: UCConnector | None) -> bool:
    """The PFX holds the leaf without its issuer: with a two-tier CA the Front End, which
    trusts the root only, cannot build the path — "Include all certificates in the
    certification path if possible" was not chosen."""
    key = connector.key if connector is not None else None
    if key is None or not key.present:
        return False
    leaf, *rest = key.chain
    return leaf.issuer != leaf.subject and not any(c.subject == leaf.issuer for c in rest)


# -- rule 2 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Push:
    """Rule 2 applied to the connector's Secured-port records of one push."""

    confirmed: bool
    handshake: Record | None
    answered: list[Record]
    refused: str | None  # the connector's words when it refused the Front End
    seen: list[Record]

    def evidence(self) -> dict[str, Any]:
        h = self.handshake or {}
        return {
            "peer": h.get("peer_certificate"),
            "chain": h.get("chain"),
            "tls_version": h.get("tls_version"),
            "requests": [{"method": e.get("method"), "status": e.get("status")} for e in self.answered],
            "log": self.seen,
        }


def judge_push(seen: list[Record]) -> Push:
    """Rule 2 on the connector's Secured-port records of the push (its connections only)."""
    seen = [e for e in seen if e.get("connection") is not None]
    handshake = next((e for e in seen if e["type"] == "tls-handshake"), None)
    answered = [e for e in seen if e["type"] == "response"]
    confirmed = bool(handshake and answered and all(e.get("status") == 200 for e in answered))
    failure = next((e for e in seen if e["type"] == "tls-failure"), None)
    return Push(confirmed, handshake, answered, failure.get("message") if failure else None, seen)


def code_for_push_error(error: str, connector: UCConnector | None) -> str:
    """What the Front End's failed push to the Secured port says about the connector's certificate."""
    if "hostname mismatch" in error.lower():
        return "cert-name-mismatch"
    code = code_for_verify_error(error, peer="server") or "tls-handshake-failed"
    if code == "cert-untrusted-ca" and _chain_incomplete(connector):
        return "pfx-chain-incomplete"
    return code


def push_diagnoses(
    push_error: str | None, handshake_ok: bool, refused: str | None, connector: UCConnector | None,
    evidence: Any, pfx_source: str,
) -> list[dict[str, Any]]:
    """Why rule 2 was not met. The Front End is the TLS client here: when it aborted (say,
    the name did not match), its reason comes first; the connector then only saw the alert."""
    push_code = code_for_push_error(push_error, connector) if push_error else None
    refused_code = (code_for_java_error(refused) or "tls-handshake-failed") if refused else None
    if push_code and push_code != "tls-handshake-failed" and not handshake_ok:
        return [diagnose(push_code, f"the Front End could not push: {push_error}", None, doc_step=doc_step(push_code, pfx_source))]
    if refused_code:
        return [diagnose(refused_code, f"the connector refused the Front End: {refused}", evidence,
                         doc_step=doc_step(refused_code, pfx_source))]
    if push_code:
        return [diagnose(push_code, f"the Front End could not push: {push_error}", None, doc_step=doc_step(push_code, pfx_source))]
    return [not_confirmed("the connector's Secured port did not answer every request of the push with 200", evidence)]


# -- rule 3 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    """Rule 3 applied to the KDC's and the Front End's records of one login."""

    confirmed: bool
    tgt: Record | None
    ticket: Record | None
    authenticated: Record | None
    register: Record | None
    rspauth_verified: bool
    spn: str

    @property
    def missing(self) -> list[str]:
        return [
            name
            for name, present in (
                ("a TGT for the OCS user", self.tgt),
                (f"a ticket for {self.spn}", self.ticket),
                ("the principal authenticated by the Front End", self.authenticated),
                ("REGISTER answered 200", self.register),
                ("rspauth verified by the connector", self.rspauth_verified),
            )
            if not present
        ]


def judge_login(kdc_seen: list[Record], frontend_seen: list[Record], *, principal: str, spn: str,
                rspauth_verified: bool) -> Login:
    """Rule 3. ``principal`` and ``spn`` are ``name@REALM`` (compared without letter case)."""
    principal, spn_realm = principal.lower(), spn.lower()
    tgt = next((e for e in kdc_seen if e["type"] == "AS-REQ" and e.get("error_code") is None
                and (e.get("client") or "").lower() == principal), None)
    ticket = next((e for e in kdc_seen if e["type"] == "TGS-REQ" and e.get("error_code") is None
                   and (e.get("server") or "").lower() == spn_realm), None)
    authenticated = next((e for e in frontend_seen if e["type"] == "sipae-authenticated"), None)
    register = next((e for e in frontend_seen if e["type"] == "response" and e.get("method") == "REGISTER"
                     and e.get("status") == 200), None)
    confirmed = bool(tgt and ticket and authenticated and (authenticated.get("principal") or "").lower() == principal
                     and register and rspauth_verified)
    return Login(confirmed, tgt, ticket, authenticated, register, rspauth_verified, spn.split("@")[0])


def login_diagnoses(login: Login, frontend_seen: list[Record], findings: list[dict[str, Any]], *,
                    client_code: str | None, client_error: str | None, view: Any,
                    kdc_seen: list[Record]) -> list[dict[str, Any]]:
    """Why rule 3 was not met (and, confirmed or not, the set-up findings that matter)."""
    diagnoses: list[dict[str, Any]] = []
    if not login.confirmed:
        if client_code and client_code.startswith("truststore-"):
            # On this path the trust store is -cert_store_file: its mistakes are in the TLS arguments.
            diagnoses.append(diagnose(client_code, client_error or client_code, view, doc_step=f"{TLS_ARGS}, step 2"))
        elif client_code:
            diagnoses.append(_client_verdict(client_code, client_error or client_code, view, None))
        for e in frontend_seen:
            if e["type"] == "sipae-rejected":
                diagnoses.append(diagnose("sip-auth-rejected", f"the Front End refused the credentials: {e.get('reason')}", e))
    for finding in findings:
        if finding["severity"] == "error" or finding["code"] == "krb-weak-crypto-enabled":
            diagnoses.append(diagnose(finding["code"], finding["message"], finding))
    if not login.confirmed and not any(d["code"] != "krb-weak-crypto-enabled" for d in diagnoses):
        diagnoses.append(not_confirmed(f"missing from the evidence: {', '.join(login.missing)}",
                                       {"kdc": kdc_seen, "frontend": frontend_seen}, LOGIN_STEP))
    return diagnoses
