"""The CA's admin API (:mod:`fakes._admin`): what the page does on the CA besides certsrv.

Settings:

* ``authority`` (read-only) — what the CA is: its config string (``host\\CA name``, what
  ``Request-CsCertificate -CA`` takes), common name, host, whether an offline root signed
  it, its certificate, the root and the chain (PEM), the published templates, and the
  CRL distribution point its certificates carry (``cdp``).
* ``crl-publication`` — how the base CRL is published: ``{"next_update_offset": SECONDS
  or null, "serving": true/false}`` (see :class:`fakes.ca.CrlPublication`). A number
  gives the CRL published at once that nextUpdate (negative: already expired) and holds
  it there; ``serving: false`` takes the CDP web site down. Changing it publishes a CRL at
  once. Reading (and every change) answers the setting and ``crl``: the CRL now published
  (number, thisUpdate, nextUpdate, its revoked serials, PEM).
* ``template-permissions`` — who holds Enroll on each template (its Security tab):
  ``{"<template>": ["Domain Users", "COMPANYA\\jdoe", ...]}``; a change names the
  templates it changes, ``null`` puts a template back to its kind's default. Groups the
  lab knows are Authenticated Users, Domain Users and Domain Computers; accounts are
  written ``DOMAIN\\name``. Requests from others are denied with CERTSRV_E_TEMPLATE_DENIED.

Actions, in certutil's terms (answers are JSON; refusals are 404 when the request or
certificate does not exist, 409 when its state does not allow it, 400 for bad input,
each with certutil's HRESULT text):

* ``submit`` — ``{"csr": PEM, "template": NAME, "requester": "COMPANYA\\\\jdoe",
  "attributes": {...}}``: a request that reaches the CA by another road than certsrv —
  the Management Shell's ``Request-CsCertificate``, the MMC's "Request New Certificate"
  (DCOM in a real domain). Answers the request ID, disposition (``issued``, ``pending``
  or ``denied``), status, message, template and the certificate (PEM) when issued.
* ``approve`` — ``{"request_id": N, "by": "COMPANYA\\\\Administrator"}`` (``by``
  optional): ``certutil -resubmit N``, a pending request issued. Answers as ``submit``.
* ``deny`` — ``{"request_id": N, "by": ...}``: ``certutil -deny N``. Answers as ``submit``.
* ``revoke`` — ``{"serial": "<hex as certutil prints it>", "reason": <code or name>}``
  (reason optional, default 0): ``certutil -revoke SERIAL [REASON]``, then a new base CRL
  at once. Answers ``{"serial", "request_id", "subject", "reason", "reason_name",
  "reason_text", "revoked_at", "crl"}`` (``revoked_at`` null when reason -1/8 released a
  hold; ``reason_text`` as certutil words it, e.g. "Key Compromise").
* ``publish-crl`` — ``{}``: ``certutil -CRL``, a new base CRL now. Answers ``crl``.

Evidence: certsrv's and CertEnroll's ``http-request`` records, a ``certificate-request``
record for each request submitted here and for each approve/deny, a
``certificate-revoked`` record per revoke, a ``crl-published`` record per CRL published
through this API.

``reset`` puts the CRL publication back to AD CS's schedule, serving (publishing a CRL if
it was bent), and the templates' Enroll permissions back to what they were when the API
started; revocations and requests stay, as in the CA's database.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from fakes._admin import AdminError, AdminService, Setting
from fakes._evidence import EvidenceLog

from ._authority import CertificationAuthority, CrlPublication
from ._crl import E_INVALIDARG, REVOCATION_REASONS, CertutilError
from ._database import RequestResult, serial_text
from ._policy import CERTSRV_E_PROPERTY_EMPTY, CRYPT_E_NOT_FOUND

__all__ = ["ca_admin"]

# Longest CRL offset a scenario may ask for: ten years either way.
_MAX_OFFSET = 10 * 365 * 86400


def _pem(certificates: list[Any]) -> str:
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in certificates)


def _crl_facts(crl: x509.CertificateRevocationList) -> dict[str, Any]:
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    return {
        "number": number,
        "this_update": crl.last_update_utc.isoformat(),
        "next_update": crl.next_update_utc.isoformat() if crl.next_update_utc else None,
        "revoked": [serial_text(entry.serial_number) for entry in crl],
        "pem": crl.public_bytes(Encoding.PEM).decode(),
    }


def _refusal(error: CertutilError) -> AdminError:
    if error.status == E_INVALIDARG:
        return AdminError(400, str(error))
    if error.status in (CRYPT_E_NOT_FOUND, CERTSRV_E_PROPERTY_EMPTY):
        return AdminError(404, str(error))
    return AdminError(409, str(error))


def ca_admin(ca: CertificationAuthority, *, evidence: EvidenceLog, certsrv_url: str | None = None) -> AdminService:
    """The admin service of ``ca``; ``evidence`` is its certsrv's log (shared)."""
    initial_enroll = {name: template.enroll for name, template in ca.templates.items()}

    def authority() -> dict[str, Any]:
        return {
            "config_string": ca.config_string,
            "common_name": ca.common_name,
            "host_fqdn": ca.host_fqdn,
            "two_tier": ca.two_tier,
            "certificate": _pem([ca.certificate]),
            "root_certificate": _pem([ca.root_certificate]),
            "chain": _pem(ca.chain),
            "templates": [t.to_dict() for t in ca.templates.values()],
            "cdp": ca.cdp_url,
        }

    def answer(result: RequestResult, requester: str | None, **more: Any) -> dict[str, Any]:
        subject = result.certificate.subject.rfc4514_string() if result.certificate is not None else None
        evidence.record(
            "certificate-request", request_id=result.request_id, requester=requester, template=result.template,
            disposition=result.disposition, status=result.status, message=result.message, subject=subject, **more,
        )
        return {
            "request_id": result.request_id,
            "disposition": result.disposition,
            "status": result.status,
            "message": result.message,
            "template": result.template,
            "certificate": _pem([result.certificate]) if result.certificate is not None else None,
        }

    def published(crl: x509.CertificateRevocationList) -> dict[str, Any]:
        facts = _crl_facts(crl)
        evidence.record("crl-published", number=facts["number"], this_update=facts["this_update"],
                        next_update=facts["next_update"], revoked=facts["revoked"])
        return facts

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
        return answer(result, value["requester"])

    def manager_arguments(name: str, value: Any) -> tuple[int, str | None]:
        if not isinstance(value, dict) or isinstance(value.get("request_id"), bool) or not isinstance(value.get("request_id"), int):
            raise AdminError(400, f'{name} takes {{"request_id": N, "by": "<DOMAIN\\\\CA manager>"}} ("by" optional)')
        by = value.get("by")
        if by is not None and (not isinstance(by, str) or not by.strip()):
            raise AdminError(400, "by is the CA manager's account name, e.g. COMPANYA\\Administrator")
        return value["request_id"], by

    async def decide(name: str, value: Any) -> dict[str, Any]:
        request_id, by = manager_arguments(name, value)
        try:
            result = (ca.approve if name == "approve" else ca.deny)(request_id, by=by)
        except CertutilError as exc:
            raise _refusal(exc) from None
        record = ca.get_request(request_id)
        return answer(result, record.requester if record else None, by=by or ca.default_manager)

    async def approve(value: Any) -> dict[str, Any]:
        return await decide("approve", value)

    async def deny(value: Any) -> dict[str, Any]:
        return await decide("deny", value)

    async def revoke(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or "serial" not in value:
            raise AdminError(400, 'revoke takes {"serial": "<hex as certutil prints it>", "reason": <code or name>}'
                                  " (reason optional, default 0 Unspecified)")
        try:
            done = ca.revoke(value["serial"], value.get("reason", 0))
        except CertutilError as exc:
            raise _refusal(exc) from None
        symbol, words = REVOCATION_REASONS[done.reason]
        evidence.record("certificate-revoked", serial=done.serial, request_id=done.request_id, subject=done.subject,
                        reason=done.reason, reason_name=symbol,
                        revoked_at=done.revoked_at.isoformat() if done.revoked_at else None)
        return {
            "serial": done.serial,
            "request_id": done.request_id,
            "subject": done.subject,
            "reason": done.reason,
            "reason_name": symbol,
            "reason_text": words,
            "revoked_at": done.revoked_at.isoformat() if done.revoked_at else None,
            "crl": published(done.crl),
        }

    async def publish_crl(value: Any) -> dict[str, Any]:
        if value not in (None, {}):
            raise AdminError(400, "publish-crl takes no arguments ({})")
        return {"crl": published(ca.publish_crl())}

    def publication() -> dict[str, Any]:
        current = ca.crl_publication
        offset = current.next_update_offset
        return {
            "next_update_offset": None if offset is None else offset.total_seconds(),
            "serving": current.serving,
            "crl": _crl_facts(ca.crl),
        }

    async def set_publication(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or set(value) - {"next_update_offset", "serving"}:
            raise AdminError(400, 'crl-publication is {"next_update_offset": SECONDS or null, "serving": true/false}')
        current = ca.crl_publication
        offset = current.next_update_offset
        if "next_update_offset" in value:
            seconds = value["next_update_offset"]
            if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                        or not -_MAX_OFFSET <= seconds <= _MAX_OFFSET):
                raise AdminError(400, f"next_update_offset is a number of seconds within ±{_MAX_OFFSET}"
                                      " (negative: an expired CRL), or null for AD CS's schedule")
            offset = None if seconds is None else timedelta(seconds=seconds)
        serving = value.get("serving", current.serving)
        if not isinstance(serving, bool):
            raise AdminError(400, "serving is true or false")
        published(ca.set_crl_publication(CrlPublication(next_update_offset=offset, serving=serving)))
        return publication()

    def permissions() -> dict[str, list[str]]:
        return {name: list(template.enrollees) for name, template in ca.templates.items()}

    async def set_permissions(value: Any) -> dict[str, list[str]]:
        shape = 'template-permissions is {"<template>": ["Domain Users", "COMPANYA\\\\name", ...] or null}'
        if not isinstance(value, dict) or not value:
            raise AdminError(400, shape)
        for name, principals in value.items():
            if principals is not None and (not isinstance(principals, list)
                                           or not all(isinstance(p, str) for p in principals)):
                raise AdminError(400, shape)
            found = [t for n, t in ca.templates.items() if n.casefold() == name.casefold()]
            if not found:
                raise AdminError(404, f"no template {name!r} is published on {ca.config_string}")
            try:  # all checked before any is changed: nothing is half done
                dataclasses.replace(found[0], enroll=tuple(principals or ()))
            except ValueError as exc:
                raise AdminError(400, str(exc)) from None
        for name, principals in value.items():
            changed = ca.set_enroll_permission(name, tuple(principals or ()))
            evidence.record("template-permissions", template=changed.name, enroll=list(changed.enrollees))
        return permissions()

    async def reset() -> None:
        if ca.crl_publication != CrlPublication():
            published(ca.set_crl_publication(CrlPublication()))
        for name, enroll in initial_enroll.items():
            if name in ca.templates and ca.templates[name].enroll != enroll:
                ca.set_enroll_permission(name, enroll)

    return AdminService(
        name="ca",
        evidence=evidence,
        health=lambda: {"config_string": ca.config_string, "certsrv": certsrv_url, "cdp": ca.cdp_url},
        settings={
            "authority": Setting(authority),
            "crl-publication": Setting(publication, set_publication),
            "template-permissions": Setting(permissions, set_permissions),
        },
        actions={"submit": submit, "approve": approve, "deny": deny, "revoke": revoke, "publish-crl": publish_crl},
        reset=reset,
    )
