"""Generating the Front End Server Certificate.

"For use in a lab environment": on the Front End host, the Certificates snap-in for the
Computer account, the domain certificate renewed with *Request New Certificate with the
Same Key*, then exported to a .pfx. The page gives no file name or password here; the
lab uses ``FrontEnd_Certificate.pfx`` and the page's example password ``mnopqr``.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from ..hosts import PERSONAL, snapin_location
from ._export import run_export_wizard
from ._framework import Done, Procedure, StepContext, StepFailed

PROCEDURE = Procedure("frontend_certificate", "Generating the Front End Server Certificate", host="frontend")


@PROCEDURE.step(1)
async def open_mmc(ctx: StepContext) -> Done:
    """Open the Microsoft Management Console on the Front End host."""
    return Done("Start > Run > MMC")


@PROCEDURE.step(2)
async def add_certificates_snapin(ctx: StepContext, *, account: str = "Computer Account") -> Done:
    """Add the Certificates snap-in: Computer Account, Local Computer."""
    location = snapin_location(account)
    if location is None:
        raise StepFailed("bad-parameter", f"account {account!r}: the snap-in offers 'My user account' or 'Computer account'", "Select Computer Account.")
    ctx.state["frontend_certificate.location"] = location
    return Done(f"File > Add/Remove Snap-In > Certificates > {account} > Local Computer > Finish")


@PROCEDURE.step(3)
async def request_new_certificate_with_same_key(ctx: StepContext, *, subject: str | None = None) -> Done:
    """Find the domain certificate in Personal and *Request New Certificate with the Same Key*."""
    lab = ctx.lab
    assert lab.authority is not None
    host = lab.host("frontend")
    subject = subject or host.fqdn
    store = host.store(PERSONAL, ctx.state["frontend_certificate.location"])
    found = [e for e in store.find(subject_cn=subject) if e.has_private_key]
    if not found:
        raise StepFailed(
            "certificate-not-found",
            f"no certificate issued to {subject} with a private key in {store.location}\\Personal on {host.fqdn}",
            "Open the Certificates snap-in for the Computer account, where the domain certificate lives.",
        )
    current = found[-1]
    key = store.private_key(current)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .sign(key, hashes.SHA256())
    )
    result = await lab.authority.submit(csr, template="Machine", requester=host.fqdn)
    if result.certificate is None:
        raise StepFailed("ca-request-denied", result.message, "Renew with the template the certificate was issued from.")
    entry = store.add(result.certificate, key, friendly_name=current.friendly_name, key_exportable=current.key_exportable)
    ctx.state["frontend_certificate.store"] = store
    ctx.state["frontend_certificate.entry"] = entry
    return Done(
        f"renewed {subject}'s domain certificate with the same key: request {result.request_id}, "
        f"thumbprint {entry.thumbprint} (private key {'exportable' if entry.key_exportable else 'not exportable'})"
    )


@PROCEDURE.step(4)
async def export_pfx(
    ctx: StepContext,
    *,
    export_private_key: bool = True,
    include_chain: bool = True,
    delete_private_key: bool = False,
    password: str | None = "mnopqr",
    file_name: str = "FrontEnd_Certificate.pfx",
    encryption: str = "aes256",
) -> Done:
    """Export to a .pfx: the private key, all certificates in the path, a password."""
    roles = ("frontend-pfx", "ucc-pfx") if ctx.state.get("pfx_source") == "frontend" else ("frontend-pfx",)
    return run_export_wizard(
        ctx,
        store=ctx.state["frontend_certificate.store"],
        entry=ctx.state["frontend_certificate.entry"],
        heading=PROCEDURE.heading,
        step="4",
        roles=roles,
        file_name=file_name,
        password=password,
        export_private_key=export_private_key,
        include_chain=include_chain,
        delete_private_key=delete_private_key,
        encryption=encryption,
        fix_non_exportable="Enroll the Front End's domain certificate from a template that allows exporting the private key.",
    )


@PROCEDURE.step(5)
async def export_successful(ctx: StepContext) -> Done:
    """"The export was successful" — click OK."""
    return Done('"The export was successful." — OK')
