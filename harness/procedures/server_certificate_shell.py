"""Generating the Server Certificate Using Skype for Business Management Shell.

Step 1 runs the page's ``Request-CsCertificate`` on the Front End; steps 2-6 export the
result with the MMC wizard to ``GenesysServer_Certficate.pfx`` (the page's spelling).

Two gaps in the page, bridged by the default replay and reproduced by a literal one
(``--set shell.request_cs_certificate.literal=true`` or ``replay --literal``):

* the command omits ``-PrivateKeyExportable $true``. The real cmdlet then makes a key
  that is *not* exportable, and step 5 ("Yes, export the private key") is impossible;
* ``[server_name]-Verbose`` has no space: PowerShell binds ``ucc01.companya.com-Verbose``
  to ``-ComputerFQDN`` and the certificate is issued for that name.
"""

from __future__ import annotations

from fakes.ca import ShellError, build_cs_certificate_csr, check_ca_config, parse_request_cs_certificate

from ..hosts import PERSONAL, snapin_location
from ._export import run_export_wizard
from ._framework import Done, Procedure, StepContext, StepFailed, refuse_long_common_name, rsa_key_size_problem

PROCEDURE = Procedure(
    "shell", "Generating the Server Certificate Using Skype for Business Management Shell", host="frontend"
)

# The page's text, with [server_name] and the CA left as placeholders the lab fills in.
PAGE_COMMAND = (
    'Request-CsCertificate -New -Type Default -FriendlyName "GenesysServerCertificate" '
    '-CA "{ca}" -ComputerFQDN [server_name]-Verbose'
)


@PROCEDURE.step(1)
async def request_cs_certificate(
    ctx: StepContext,
    *,
    command: str = PAGE_COMMAND,
    server_name: str | None = None,
    literal: bool = False,
) -> Done:
    """Type the page's ``Request-CsCertificate`` in the Management Shell on the Front End host.

    ``server_name`` defaults to the UC Connector's FQDN, as the page's Important note
    requires. Unless ``literal``, the lab separates ``-Verbose`` from the FQDN and adds
    ``-PrivateKeyExportable $true`` — both recorded as gaps in the page.
    """
    lab = ctx.lab
    assert lab.authority is not None
    text = command.replace("{ca}", lab.authority.config_string).replace("[server_name]", server_name or lab.topology.ucc_fqdn)
    gaps = []
    if not literal:
        if "]-Verbose" in command and "[server_name]-Verbose" in command:
            text = text.replace("-Verbose", " -Verbose")
            gaps.append("'[server_name]-Verbose' lacks a space: PowerShell would take the FQDN as '<fqdn>-Verbose'")
        if "-privatekeyexportable" not in text.lower():
            text += " -PrivateKeyExportable $true"
            gaps.append(
                "the command omits -PrivateKeyExportable $true, without which the key cannot be exported in step 5"
            )
    try:
        request = parse_request_cs_certificate(text)
        check_ca_config(request, lab.authority)
    except ShellError as exc:
        raise StepFailed("shell-command-error", f"Request-CsCertificate : {exc}", "Type the command as the page shows it, with the lab's CA.") from exc
    problem = rsa_key_size_problem(request.key_size)
    if problem:
        # Assumed: the cmdlet's own words for a size no provider makes are not public;
        # CertEnroll refuses to create the key, so no request is made.
        raise StepFailed("shell-command-error", f"Request-CsCertificate : -KeySize {request.key_size}: {problem}", "Leave -KeySize out (2048) as the page does.")
    if request.computer_fqdn:
        refuse_long_common_name(request.computer_fqdn, said_by="Request-CsCertificate : ")
    key = lab.rsa_key("shell-request", request.key_size)
    csr = build_cs_certificate_csr(request, key)
    result = await lab.authority.submit(csr, template=request.template, requester=lab.topology.administrator)
    if result.certificate is None:
        raise StepFailed(
            "ca-request-denied",
            f"Request-CsCertificate : {result.message}",
            f"Ask for a template the CA publishes ({', '.join(lab.authority.templates)}).",
        )
    entry = lab.host("frontend").personal.add(
        result.certificate, key, friendly_name=request.friendly_name, key_exportable=request.private_key_exportable
    )
    ctx.state["shell.thumbprint"] = entry.thumbprint
    note = None
    if request.computer_fqdn != lab.topology.ucc_fqdn:
        note = f"the certificate is for {request.computer_fqdn!r}, not the UC Connector host {lab.topology.ucc_fqdn!r} the page's Important note requires"
    return Done(
        f"{text}  →  request {result.request_id} issued from template {request.template}; "
        f"installed in Local Computer\\Personal as '{request.friendly_name}' "
        f"(private key {'exportable' if request.private_key_exportable else 'not exportable'})",
        gap="; ".join(gaps) or None,
        note=note,
    )


@PROCEDURE.step(2)
async def open_mmc(ctx: StepContext) -> Done:
    """Open the Microsoft Management Console (Start > Run > MMC)."""
    return Done("Start > Run > MMC")


@PROCEDURE.step(3)
async def add_certificates_snapin(ctx: StepContext, *, account: str = "Local Computer") -> Done:
    """Add the Certificates snap-in for the Local Computer."""
    location = snapin_location(account)
    if location is None:
        raise StepFailed("bad-parameter", f"account {account!r}: the snap-in offers 'My user account' or 'Computer account' (Local Computer)", "Select Local Computer.")
    ctx.state["shell.location"] = location
    return Done(f"File > Add/Remove Snap-In > Certificates > {account} > Finish")


@PROCEDURE.step(4)
async def find_certificate(ctx: StepContext, *, friendly_name: str = "GenesysServerCertificate", folder: str = "Personal") -> Done:
    """Find the Genesys Server certificate under Certificates > Personal > Certificates."""
    lab = ctx.lab
    if folder != PERSONAL:
        raise StepFailed("bad-parameter", f"folder {folder!r}: Request-CsCertificate installs into Personal", "Look in the Personal folder.")
    store = lab.host("frontend").store(PERSONAL, ctx.state["shell.location"])
    found = store.find(friendly_name=friendly_name)
    if not found:
        raise StepFailed(
            "certificate-not-found",
            f"no certificate with friendly name {friendly_name!r} in {store.location}\\{store.name} on {lab.topology.frontend_fqdn}",
            "Open the Certificates snap-in for the Local Computer (where Request-CsCertificate installs) and look for the friendly name you gave.",
        )
    entry = found[-1]
    ctx.state["shell.store"] = store
    ctx.state["shell.entry"] = entry
    return Done(f"found '{friendly_name}' issued to {entry.subject_cn} (thumbprint {entry.thumbprint}); All Tasks > Advanced Operations > Export")


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
    """Follow the wizard to a .pfx: export the key, include the path, password ``mnopqr``."""
    return run_export_wizard(
        ctx,
        store=ctx.state["shell.store"],
        entry=ctx.state["shell.entry"],
        heading=PROCEDURE.heading,
        step="5",
        roles=("ucc-pfx",),
        file_name=file_name,
        password=password,
        export_private_key=export_private_key,
        include_chain=include_chain,
        delete_private_key=delete_private_key,
        encryption=encryption,
        fix_non_exportable="Run Request-CsCertificate again with -PrivateKeyExportable $true (the page's command omits it), then export.",
    )


@PROCEDURE.step(6)
async def export_successful(ctx: StepContext) -> Done:
    """"The export was successful" — click OK."""
    return Done('"The export was successful." — OK')
