"""Generating the Client Certificate.

The page downloads the CA certificate from certsrv web enrollment and saves it as "DER
encoded binary X.509 (.CER)": ``CompanyA_Certificate.cer``. Despite the heading, no key
pair is made here — the page says so itself ("It is not necessary to export private keys").
"""

from __future__ import annotations

import re

from cryptography import x509

from ._browser import CertsrvBrowser
from ._export import save_certificate
from ._framework import Done, Procedure, StepContext, StepFailed

PROCEDURE = Procedure("client_certificate", "Generating the Client Certificate", host="ucc")


def _browser(ctx: StepContext) -> CertsrvBrowser:
    browser = ctx.state.get("client_certificate.browser")
    if browser is None:
        browser = ctx.state["client_certificate.browser"] = CertsrvBrowser(ctx.lab, "ucc")
    return browser


@PROCEDURE.step(1)
async def open_certsrv(ctx: StepContext) -> Done:
    """Request the certificate through CA Web Access ``https://[server_name]/certsrv``."""
    browser = _browser(ctx)
    page = await browser.get("/")
    if page.status == 401:
        raise StepFailed(
            "certsrv-access-denied",
            f"{browser.address}: 401 - Unauthorized: Access is denied due to invalid credentials.",
            "Log in to certsrv with a domain account that may enroll (lab.json accounts.enroll).",
        )
    if page.status != 200:
        raise StepFailed("certsrv-error", f"{browser.address}: HTTP {page.status}", "Check the CA's web enrollment.")
    return Done(f"opened {browser.address} as {ctx.lab.topology.enroll_username} (HTTP 200, TLS name {browser.server_hostname} verified)")


@PROCEDURE.step(2)
async def select_download_ca_certificate(ctx: StepContext) -> Done:
    """Select *Download a CA certificate, certificate chain, or CRL* (``certcarc.asp``)."""
    page = await _browser(ctx).get("certcarc.asp")
    found = re.search(r"var nRenewals=(\d+);", page.text)
    if page.status != 200 or not found:
        raise StepFailed("certsrv-error", f"certcarc.asp: HTTP {page.status}, no CA renewal count on the page", "Check the CA's web enrollment.")
    ctx.state["client_certificate.renewal"] = int(found.group(1))
    return Done(f"opened 'Download a CA certificate, certificate chain, or CRL' (certcarc.asp; CA renewals: {found.group(1)})")


@PROCEDURE.step(3)
async def download_ca_certificate(ctx: StepContext, *, encoding: str = "DER") -> Done:
    """Select *Download CA certificate* with the chosen encoding (DER or Base 64)."""
    enc = {"der": "bin", "base 64": "b64", "base64": "b64"}.get(encoding.lower())
    if enc is None:
        raise StepFailed("bad-parameter", f"encoding {encoding!r}: certsrv offers DER or Base 64", "Choose DER, as the page says.")
    renewal = ctx.state["client_certificate.renewal"]
    page = await _browser(ctx).get("certnew.cer", {"ReqID": "CACert", "Renewal": str(renewal), "Enc": enc})
    if page.status != 200 or page.content_type != "application/pkix-cert":
        raise StepFailed("certsrv-error", f"certnew.cer: HTTP {page.status} {page.content_type}", "Check the CA's web enrollment.")
    try:
        certificate = x509.load_der_x509_certificate(page.body) if enc == "bin" else x509.load_pem_x509_certificate(page.body)
    except ValueError as exc:
        raise StepFailed("certsrv-error", f"certnew.cer did not hold a certificate ({exc})", "Check the CA's web enrollment.") from exc
    ctx.state["client_certificate.certificate"] = certificate
    ctx.state["client_certificate.encoding"] = enc
    return Done(f"downloaded the CA certificate ({certificate.subject.rfc4514_string()}), {encoding} encoded")


@PROCEDURE.step(4)
async def save_ca_certificate(ctx: StepContext, *, file_name: str = "CompanyA_Certificate.cer") -> Done:
    """Save the certificate as "DER encoded binary X.509 (.CER)", e.g. ``CompanyA_Certificate.cer``."""
    certificate: x509.Certificate = ctx.state["client_certificate.certificate"]
    path = ctx.lab.artifacts_dir / file_name
    fmt = save_certificate(path, certificate, der=ctx.state["client_certificate.encoding"] == "bin")
    ctx.lab.manifest.add("ca-certificate", path, format=fmt, password=None, doc_step=f"{PROCEDURE.heading}, step 4")
    # The page's next step: the UC Connector host retrieves the certificate (MMC or IE).
    ctx.lab.host("ucc").trusted_roots.add(certificate)
    return Done(f"saved {file_name} and added it to {ctx.lab.topology.ucc_fqdn}'s Trusted Root store", artifacts=[(path, "ca-certificate")])
