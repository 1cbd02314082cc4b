"""What SChannel, the Windows chain engine and Lync say about a connection, in their words.

The Front End's evidence records carry these beside OpenSSL's facts, so a line from a
customer's System log, SIPStack trace or SIP trace finds its lab twin. Every text here is
copied from a public source named beside it; where no source says which code or event a
case gets, the entry says "assumed" and why.

Sources:

* HRESULTs and their message texts: ``winerror.h`` of the Windows SDK 10.0.16299.0
  (``Include/10.0.16299.0/shared/winerror.h``), copied exactly (some have no final full
  stop there).
* SChannel event templates: the Microsoft-Windows-Schannel provider manifest of Windows
  10 / Server 2016 and later (``%1`` the insertion).
* Lync events and traces: the SCOM management pack alert "TLS outgoing connection
  failures." (event 14428, OCS/LS Protocol Stack; learn.microsoft.com dd572404(v=office.13)),
  the SIPStack connection record "The peer is not a configured server on this network
  interface" (blogs.technet.microsoft.com/dodeitte/2011/12/22).
* ms-diagnostics IDs and reasons: [MS-OCER] (SipStack IDs 1000-1014, User Services IDs
  4000-4013) and the support article "Newly created users can't sign in to a Lync client"
  (4005 with a real header line). Not modelled: 4006 "User not found in pool" (a user
  homed on another pool: the lab has one pool) and MS-SIPREGE 3.1.2.5.1's registrar
  validation (4010 "Missing endpoint identifier (Epid and SIP.INSTANCE).", 4055, 2057):
  the connector's REGISTER, like a trusted application's, carries no endpoint identifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CERTIFICATE_TRUST_NEXT_HOP",
    "HRESULTS",
    "LYNC_TLS_OUTGOING_FAILURES",
    "SCHANNEL_EVENTS",
    "SIPSTACK_NOT_A_CONFIGURED_SERVER",
    "USER_NOT_ENABLED",
    "MsDiagnostic",
    "hresult",
    "schannel_event",
    "sipstack_record",
    "undocumented",
]


@dataclass(frozen=True)
class HResult:
    """One Windows error code: symbol, value and ``winerror.h``'s message text."""

    symbol: str
    value: int
    text: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the value as Windows prints it, ``0x80090325``)."""
        return {"hresult": f"0x{self.value:08X}", "symbol": self.symbol, "text": self.text}


HRESULTS = {h.symbol: h for h in (
    # SChannel's own (SEC_E_*): what InitializeSecurityContext / AcceptSecurityContext return.
    HResult("SEC_E_UNTRUSTED_ROOT", 0x80090325, "The certificate chain was issued by an authority that is not trusted."),
    HResult("SEC_E_CERT_EXPIRED", 0x80090328, "The received certificate has expired."),
    HResult("SEC_E_WRONG_PRINCIPAL", 0x80090322, "The target principal name is incorrect."),
    HResult("SEC_E_CERT_UNKNOWN", 0x80090327, "An unknown error occurred while processing the certificate."),
    HResult("SEC_E_CERT_WRONG_USAGE", 0x80090349, "The certificate is not valid for the requested usage."),
    HResult("SEC_E_ALGORITHM_MISMATCH", 0x80090331,
            "The client and server cannot communicate, because they do not possess a common algorithm."),
    HResult("SEC_E_ILLEGAL_MESSAGE", 0x80090326, "The message received was unexpected or badly formatted."),
    HResult("SEC_E_INCOMPLETE_CREDENTIALS", 0x80090320,
            "The credentials supplied were not complete, and could not be verified. The context could not be initialized."),
    # The chain engine's (CERT_E_*, CRYPT_E_*, TRUST_E_*): what CertGetCertificateChain and
    # CertVerifyCertificateChainPolicy report for a certificate.
    HResult("CERT_E_UNTRUSTEDROOT", 0x800B0109,
            "A certificate chain processed, but terminated in a root certificate which is not trusted by the trust provider."),
    HResult("CERT_E_CHAINING", 0x800B010A, "A certificate chain could not be built to a trusted root authority."),
    HResult("CERT_E_EXPIRED", 0x800B0101,
            "A required certificate is not within its validity period when verifying against the current system clock "
            "or the timestamp in the signed file."),
    HResult("CERT_E_REVOKED", 0x800B010C, "A certificate was explicitly revoked by its issuer."),
    HResult("CERT_E_WRONG_USAGE", 0x800B0110, "The certificate is not valid for the requested usage."),
    HResult("CERT_E_CN_NO_MATCH", 0x800B010F, "The certificate's CN name does not match the passed value."),
    HResult("CERT_E_REVOCATION_FAILURE", 0x800B010E,
            "The revocation process could not continue - the certificate(s) could not be checked."),
    HResult("CRYPT_E_REVOKED", 0x80092010, "The certificate is revoked."),
    HResult("CRYPT_E_NO_REVOCATION_CHECK", 0x80092012, "The revocation function was unable to check revocation for the certificate."),
    HResult("CRYPT_E_REVOCATION_OFFLINE", 0x80092013,
            "The revocation function was unable to check revocation because the revocation server was offline."),
    HResult("TRUST_E_CERT_SIGNATURE", 0x80096004, "The signature of the certificate cannot be verified."),
)}


def hresult(symbol: str) -> dict[str, Any]:
    """``{"hresult", "symbol", "text"}`` of a known symbol."""
    return HRESULTS[symbol].as_dict()


# SChannel's System-log events (source "Schannel"). 36877 is the only server-side
# certificate event; 36881-36884 are what a TLS *client* (the Front End pushing to the
# connector) logs about the server it reached.
SCHANNEL_EVENTS = {
    36874: "An %1 connection request was received from a remote client application, but none of the cipher "
           "suites supported by the client application are supported by the server. The TLS connection "
           "request has failed.",
    36876: "The certificate received from the remote server has not validated correctly. The error code is %1. "
           "The TLS connection request has failed. The attached data contains the server certificate.",
    36877: "The certificate received from the remote client application has not validated correctly. The error "
           "code is %1. The attached data contains the client certificate.",
    36881: "The certificate received from the remote server has either expired or is not yet valid. The TLS "
           "connection request has failed. The attached data contains the server certificate.",
    36882: "The certificate received from the remote server was issued by an untrusted certificate authority. "
           "Because of this, none of the data contained in the certificate can be validated. The TLS connection "
           "request has failed. The attached data contains the server certificate.",
    36883: "The certificate received from the remote server has been revoked. This means that the certificate "
           "authority that issued the certificate has invalidated it. The TLS connection request has failed. The "
           "attached data contains the server certificate.",
    36884: "The certificate received from the remote server does not contain the expected name. It is therefore "
           "not possible to determine whether we are connecting to the correct server. The server name we were "
           "expecting is %1. The TLS connection request has failed. The attached data contains the server certificate.",
    36887: "A fatal alert was received from the remote endpoint. The TLS protocol defined fatal alert code is %1.",
    36888: "A fatal alert was generated and sent to the remote endpoint. This may result in termination of the "
           "connection. The TLS protocol defined fatal alert code is %1.",
}


def schannel_event(event_id: int, insertion: str, code: str | None = None, *,
                   assumed: str | None = None) -> dict[str, Any]:
    """An SChannel event as the evidence records carry it: ``event_id``, the HRESULT the
    case gets (``code``: a symbol of :data:`HRESULTS`, or None), the rendered ``message``
    and, when no source says this case logs this event, why it is ``assumed``."""
    record: dict[str, Any] = {"event_id": event_id, "source": "Schannel",
                              "message": SCHANNEL_EVENTS[event_id].replace("%1", insertion)}
    record.update(hresult(code) if code is not None else {"hresult": None, "symbol": None, "text": None})
    if assumed:
        record["assumed"] = assumed
    return record


# What the SIPStack trace logs when an MTLS peer's certificate names no server of the
# topology; the Front End then refuses the connection (no SIP service, no challenge).
SIPSTACK_NOT_A_CONFIGURED_SERVER = "The peer is not a configured server on this network interface"


def sipstack_record(text: str, fqdn: str | None) -> dict[str, Any]:
    """A SIPStack connection record as the trace prints it (``LogType: connection``,
    ``Severity: error``, ``Text``, ``Transport: TLS``, ``Data: fqdn="..."``)."""
    return {"source": "SIPStack", "log_type": "connection", "severity": "error", "text": text,
            "transport": "TLS", "data": f'fqdn="{fqdn}"' if fqdn is not None else None}


# Lync's event for a failed outgoing TLS connection (the Front End as TLS client).
LYNC_TLS_OUTGOING_FAILURES = {
    "id": 14428, "source": "LS Protocol Stack", "text": "TLS outgoing connection failures.",
    "cause": "Wrong principal error could happen if the peer presents a certificate whose subject name does not "
             "match the peer name. Certificate root not trusted error could happen if the peer certificate was "
             "issued by remote CA that is not trusted by the local machine.",
}


@dataclass(frozen=True)
class MsDiagnostic:
    """One ``ms-diagnostics`` value: ID, reason and where the pairing comes from.

    ``source`` is the public source of this ID for this case, or None when no source names
    one (the ID is then the lab's choice; ``why`` says how it was chosen). Lync's header
    leaves off the final full stop MS-OCER's tables print (real traces, e.g. 4005).
    """

    code: int
    reason: str
    source: str | None = None
    why: str | None = None

    def header(self, server: str) -> str:
        """The header value Lync sends: ``<id>;reason="<reason>";source="<fqdn>"``."""
        reason = self.reason.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.code};reason="{reason}";source="{server}"'

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the evidence records."""
        return {"code": self.code, "reason": self.reason, "documented": self.source is not None,
                **({"source": self.source} if self.source else {"assumed": self.why})}


_OCER_SIPSTACK = "[MS-OCER] SipStack error IDs (learn.microsoft.com/en-us/openspecs/office_protocols/ms-ocer/88f739c4-83cf-480e-bd53-fe2d311aad3f)"
_OCER_USER_SERVICES = "[MS-OCER] User Services error IDs (learn.microsoft.com/en-us/openspecs/office_protocols/ms-ocer/d4ff868d-e42e-4b79-980b-c0ceb3b384c6)"

#: "Destination URI either not enabled for SIP or does not exist": Lync's answer for a user
#: it does not know (support article "Newly created users can't sign in to a Lync client":
#: ``ms-diagnostics: 4005;reason="Destination URI either not enabled for SIP or does not exist";source="Lyncpool.domainname.com"``).
USER_NOT_ENABLED = MsDiagnostic(4005, "Destination URI either not enabled for SIP or does not exist",
                                "MicrosoftDocs SupportArticles, 'Newly created users can't sign in to a Lync client'; " + _OCER_USER_SERVICES)
#: The Front End could not establish TLS with the next hop (the connector's Secured port).
CERTIFICATE_TRUST_NEXT_HOP = MsDiagnostic(1010, "Certificate trust with next-hop server could not be established",
                                          _OCER_SIPSTACK)
#: Where no public trace or table names an ID for a refusal of the registrar or SIP stack,
#: the header carries MS-OCER's generic User Services ID with the specific reason.
_NO_PUBLIC_ID = ("no public trace or table names the ms-diagnostics ID Lync sends for this answer; the lab "
                 "sends MS-OCER's 'User services default.' ID 4000 with the answer's own reason")


def undocumented(reason: str) -> MsDiagnostic:
    """The ms-diagnostics of an error answer for which no public source names Lync's ID."""
    return MsDiagnostic(4000, reason, None, _NO_PUBLIC_ID)
