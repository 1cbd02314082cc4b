"""Exporting the Trusted Certificate from the Lync Skype for Business Host.

On the Front End, Internet Explorer's *Trusted Root Certification Authorities* tab: the
root that issued this host's certificate, exported as DER. The page's own example name
comes out as ``UCC_certficate.cer`` in one sentence and ``UCC_Certificate.cer`` in the
keytool example that uses it; the lab writes ``UCC_Certificate.cer``.
"""

from __future__ import annotations

from cryptography.x509.oid import NameOID

from ._export import save_certificate
from ._framework import Done, Procedure, StepContext, StepFailed

PROCEDURE = Procedure(
    "trusted_certificate", "Exporting the Trusted Certificate from the Lync Skype for Business Host", host="frontend"
)


@PROCEDURE.step(1)
async def open_internet_explorer(ctx: StepContext) -> Done:
    """On the OCS host, open Internet Explorer."""
    return Done("opened Internet Explorer")


@PROCEDURE.step(2)
async def open_trusted_roots(ctx: StepContext) -> Done:
    """Tools > Internet Options > Content > Certificates > Trusted Root Certification Authorities."""
    roots = ctx.lab.host("frontend").trusted_roots.certificates()
    ctx.state["trusted_certificate.roots"] = roots
    names = ", ".join(e.subject_cn or e.thumbprint for e in roots)
    return Done(f"Tools > Internet Options > Content > Certificates > Trusted Root Certification Authorities ({names})")


@PROCEDURE.step(3)
async def select_certificate(ctx: StepContext, *, issued_to: str | None = None) -> Done:
    """Highlight the root that issued this host's certificate, then click Export."""
    lab = ctx.lab
    assert lab.authority is not None
    wanted = issued_to or str(lab.authority.root_certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    matches = [e for e in ctx.state["trusted_certificate.roots"] if (e.subject_cn or "").lower() == str(wanted).lower()]
    if not matches:
        raise StepFailed(
            "certificate-not-found",
            f"no certificate issued to {wanted!r} under Trusted Root Certification Authorities on {lab.topology.frontend_fqdn}",
            "Pick the root CA that issued the Front End's certificate.",
        )
    ctx.state["trusted_certificate.entry"] = matches[0]
    return Done(f"selected '{wanted}' and clicked Export")


@PROCEDURE.step(4)
async def choose_export_format(ctx: StepContext, *, export_format: str = "DER") -> Done:
    """Export format: DER Encoded Binary x.509 (*.cer)."""
    if export_format.upper() not in ("DER", "BASE64"):
        raise StepFailed("bad-parameter", f"export format {export_format!r}: the wizard offers DER or Base64 for a certificate", "Choose DER.")
    ctx.state["trusted_certificate.format"] = export_format.upper()
    return Done(f"export format: {'DER encoded binary X.509 (.CER)' if export_format.upper() == 'DER' else 'Base-64 encoded X.509 (.CER)'}")


@PROCEDURE.step(5)
async def name_certificate_file(ctx: StepContext, *, file_name: str = "UCC_Certificate.cer") -> Done:
    """Enter a name for the certificate (any name; the keytool example uses UCC_Certificate.cer)."""
    lab = ctx.lab
    entry = ctx.state["trusted_certificate.entry"]
    path = lab.artifacts_dir / file_name
    fmt = save_certificate(path, entry.certificate, der=ctx.state["trusted_certificate.format"] == "DER")
    lab.manifest.add("lync-trusted-certificate", path, format=fmt, password=None, doc_step=f"{PROCEDURE.heading}, step 5")
    return Done(f"saved {file_name}", artifacts=[(path, "lync-trusted-certificate")])
