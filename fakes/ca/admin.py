"""The CA's admin API (:mod:`fakes._admin`): what the page does on the CA besides certsrv.

Settings:

* ``authority`` (read-only) — what the CA is: its config string (``host\\CA name``, what
  ``Request-CsCertificate -CA`` takes), common name, host, whether an offline root signed
  it, its certificate, the root and the chain (PEM), and the published templates.

Actions:

* ``submit`` — ``{"csr": PEM, "template": NAME, "requester": "COMPANYA\\\\jdoe",
  "attributes": {...}}``: a request that reaches the CA by another road than certsrv —
  the Management Shell's ``Request-CsCertificate``, the MMC's "Request New Certificate"
  (DCOM in a real domain). Answers the request ID, disposition, status, message, template
  and the certificate (PEM) when issued.

Evidence: certsrv's ``http-request`` records, and a ``certificate-request`` record for
each request submitted here.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from fakes._admin import AdminError, AdminService, Setting
from fakes._evidence import EvidenceLog

from ._authority import CertificationAuthority

__all__ = ["ca_admin"]


def ca_admin(ca: CertificationAuthority, *, evidence: EvidenceLog, certsrv_url: str | None = None) -> AdminService:
    """The admin service of ``ca``; ``evidence`` is its certsrv's log (shared)."""

    def pem(certificates: list[Any]) -> str:
        return "".join(c.public_bytes(Encoding.PEM).decode() for c in certificates)

    def authority() -> dict[str, Any]:
        return {
            "config_string": ca.config_string,
            "common_name": ca.common_name,
            "host_fqdn": ca.host_fqdn,
            "two_tier": ca.two_tier,
            "certificate": pem([ca.certificate]),
            "root_certificate": pem([ca.root_certificate]),
            "chain": pem(ca.chain),
            "templates": [t.to_dict() for t in ca.templates.values()],
        }

    async def submit(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or not isinstance(value.get("csr"), str) or not isinstance(value.get("requester"), str):
            raise AdminError(400, 'submit takes {"csr": "<PEM>", "template": "<name>", "requester": "<DOMAIN\\\\account>"}')
        template = value.get("template")
        attributes = value.get("attributes") or {}
        if template is not None and not isinstance(template, str):
            raise AdminError(400, "template is a template's name")
        if not isinstance(attributes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()):
            raise AdminError(400, "attributes is an object of strings")
        result = ca.submit(value["csr"].encode(), template=template, requester=value["requester"], attributes=attributes)
        answer = {
            "request_id": result.request_id,
            "disposition": result.disposition,
            "status": result.status,
            "message": result.message,
            "template": result.template,
            "certificate": pem([result.certificate]) if result.certificate is not None else None,
        }
        evidence.record(
            "certificate-request", request_id=result.request_id, requester=value["requester"], template=result.template,
            disposition=result.disposition, status=result.status, message=result.message,
            subject=result.certificate.subject.rfc4514_string() if result.certificate is not None else None,
        )
        return answer

    return AdminService(
        name="ca",
        evidence=evidence,
        health=lambda: {"config_string": ca.config_string, "certsrv": certsrv_url},
        settings={"authority": Setting(authority)},
        actions={"submit": submit},
    )
