"""Generating the Server Certificate using Microsoft Management Console or CA Web Access.

On the UC Connector host, certsrv's advanced request with "a Server Template with
Private Keys exportable" — a copy of Web Server made with ``certtmpl.msc`` — then the
export to ``GenesysServer_Certficate.pfx``.

The page's example subject ``demosrv.genesyslab.com`` is a host of the page author's
lab; the lab uses its UC Connector host's FQDN, which is what the link needs.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ..hosts import PERSONAL, USER
from ._browser import CertsrvBrowser
from ._export import run_export_wizard
from ._framework import Done, Procedure, StepContext, StepFailed, refuse_long_common_name

PROCEDURE = Procedure(
    "web", "Generating the Server Certificate using Microsoft Management Console or CA Web Access", host="ucc"
)
EXPORTABLE_COPY = "WebServerExportable"


def _browser(ctx: StepContext) -> CertsrvBrowser:
    browser = ctx.state.get("web.browser")
    if browser is None:
        browser = ctx.state["web.browser"] = CertsrvBrowser(ctx.lab, "ucc")
    return browser


@PROCEDURE.step("Important")
async def copy_web_server_template(ctx: StepContext, *, template: str = EXPORTABLE_COPY) -> Done:
    """The page's Important note: a copy of "Web Server" that allows exporting the private key.

    The lab's CA publishes that copy from the start; this step checks it is there.
    """
    lab = ctx.lab
    assert lab.authority is not None
    published = lab.authority.templates.get(template)
    if published is None:
        raise StepFailed(
            "template-missing",
            f"the CA does not publish a template named {template!r}",
            "In certtmpl.msc duplicate 'Web Server', allow the private key to be exported, and publish it on the CA.",
        )
    return Done(
        f"certtmpl.msc on {lab.topology.ca_fqdn}: '{published.display_name}' ({template}) is published, "
        f"private key export {'allowed' if published.allow_private_key_export else 'NOT allowed'}",
        host=lab.topology.ca_host,
    )


@PROCEDURE.step(1)
async def open_certsrv(ctx: StepContext) -> Done:
    """On the UC Connector host, open CA Web Access ``https://[server_name]/certsrv``."""
    browser = _browser(ctx)
    page = await browser.get("/")
    if page.status != 200:
        raise StepFailed(
            "certsrv-access-denied" if page.status == 401 else "certsrv-error",
            f"{browser.address}: HTTP {page.status}",
            "Log in to certsrv with a domain account that may enroll (lab.json accounts.enroll).",
        )
    return Done(f"opened {browser.address}")


@PROCEDURE.step(2)
async def request_a_certificate(ctx: StepContext) -> Done:
    """Select *Request a certificate*."""
    page = await _browser(ctx).get("certrqus.asp")
    if page.status != 200:
        raise StepFailed("certsrv-error", f"certrqus.asp: HTTP {page.status}", "Check the CA's web enrollment.")
    return Done("Request a certificate (certrqus.asp)")


@PROCEDURE.step(3)
async def advanced_certificate_request(ctx: StepContext) -> Done:
    """Select *Advanced certificate request* — the form lists the published templates."""
    page = await _browser(ctx).get("certrqxt.asp")
    templates = re.findall(r'<Option Value="[^;"]*;([^;"]+);', page.text, flags=re.IGNORECASE)
    if page.status != 200 or not templates:
        raise StepFailed("certsrv-error", f"certrqxt.asp: HTTP {page.status}, no certificate templates offered", "Check the CA's web enrollment and its published templates.")
    ctx.state["web.offered"] = templates
    return Done(f"Advanced certificate request (certrqxt.asp); templates offered: {', '.join(templates)}")


@PROCEDURE.step(4)
async def create_and_submit_request(
    ctx: StepContext,
    *,
    template: str = EXPORTABLE_COPY,
    name: str | None = None,
    key_size: int = 2048,
    mark_keys_exportable: bool = True,
    friendly_name: str = "GenesysServerCertificate",
) -> Done:
    """Create and submit a request to this CA: server template with exportable keys,
    Name (Subject) the UC Connector host, Microsoft RSA 2048, keys exportable, friendly name."""
    lab = ctx.lab
    assert lab.authority is not None
    subject = name or lab.topology.ucc_fqdn
    # certsrv shows the CA's refusal as the request's disposition message.
    refuse_long_common_name(subject, said_by="certfnsh.asp: ")
    key = lab.rsa_key("web-request", key_size)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .sign(key, hashes.SHA256())
    )
    browser = _browser(ctx)
    page = await browser.post(
        "certfnsh.asp",
        {
            "Mode": "newreq",
            "CertRequest": csr.public_bytes(Encoding.PEM).decode(),
            "CertAttrib": f"CertificateTemplate:{template}\r\n",
            "FriendlyType": f"Saved-Request Certificate ({friendly_name})",
            "TargetStoreFlags": "0",
            "SaveCert": "yes",
        },
    )
    issued = re.search(r"certnew\.cer\?ReqID=(\d+)&", page.text)
    if not issued:
        denied = re.search(r'The disposition message is "([^"]+)', page.text)
        message = denied.group(1) if denied else f"certfnsh.asp: HTTP {page.status}, no certificate issued"
        key_too_short = "0x80094811" in message  # CERTSRV_E_KEY_LENGTH
        raise StepFailed(
            "ca-request-denied",
            message,
            "Request a key of at least the template's minimum size: Microsoft RSA 2048, as the page says."
            if key_too_short
            else f"Choose the server template whose private key is exportable ({EXPORTABLE_COPY}), published on the CA.",
        )
    request_id = issued.group(1)
    cert_page = await browser.get("certnew.cer", {"ReqID": request_id, "Enc": "b64"})
    try:
        certificate = x509.load_pem_x509_certificate(cert_page.body)
    except ValueError as exc:
        raise StepFailed("certsrv-error", f"certnew.cer?ReqID={request_id}: not a certificate ({exc})", "Check the CA's web enrollment.") from exc
    # "Mark keys as exportable" is greyed out for a template that forbids export.
    published = lab.authority.templates.get(template)
    exportable = mark_keys_exportable and bool(published and published.allow_private_key_export)
    # Internet Explorer's "Install this certificate" puts it in the current user's Personal store.
    store = lab.host("ucc").store(PERSONAL, USER)
    entry = store.add(certificate, key, friendly_name=friendly_name, key_exportable=exportable)
    ctx.state["web.store"] = store
    ctx.state["web.entry"] = entry
    note = None
    if name is None:
        note = f"the page's example subject demosrv.genesyslab.com belongs to the author's lab; the lab uses {subject}"
    return Done(
        f"submitted a {key_size}-bit Microsoft RSA request for CN={subject} with template {template}; "
        f"request {request_id} issued and installed as '{friendly_name}' (private key {'exportable' if exportable else 'not exportable'})",
        note=note,
    )


@PROCEDURE.step(5)
async def export_pfx(
    ctx: StepContext,
    *,
    export_private_key: bool = True,
    include_chain: bool = True,
    delete_private_key: bool = False,
    password: str | None = "mnopqr",
    file_name: str = "GenesysServer_Certficate.pfx",
    encryption: str = "aes256",
) -> Done:
    """Export the certificate to ``GenesysServer_Certficate.pfx`` with password ``mnopqr``."""
    return run_export_wizard(
        ctx,
        store=ctx.state["web.store"],
        entry=ctx.state["web.entry"],
        heading=PROCEDURE.heading,
        step="5",
        roles=("ucc-pfx",),
        file_name=file_name,
        password=password,
        export_private_key=export_private_key,
        include_chain=include_chain,
        delete_private_key=delete_private_key,
        encryption=encryption,
        fix_non_exportable=f"Request the certificate with the copy of Web Server that allows exporting the key ({EXPORTABLE_COPY}) and 'Mark keys as exportable'.",
    )
