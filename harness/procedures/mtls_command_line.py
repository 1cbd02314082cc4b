"""Modifying Command Line Arguments for MTLS.

The Application object's Start Info > Command Line Arguments get the connector's PFX
(``-cert_store_*``) and its trust store (``-key_store_*``), and so does ``startup.bat``.

Two typos in the page, bridged by the default replay and kept by a literal one:
``-cert_store_<path to .pfx file on UCC host>`` (the option is ``-cert_store_file``, then
the path) and ``-ket_store_type jks`` (``-key_store_type``). Configuration Manager stores
whatever is typed; it is the UC Connector that stumbles on them when it starts.
"""

from __future__ import annotations

from fakes._files import write_private_file

from ._command_line import open_arguments, quote_argument, save_command_line_arguments

from ._framework import Done, Procedure, StepContext

PROCEDURE = Procedure("mtls_command_line", "Modifying Command Line Arguments for MTLS", host="ucc")


def windows_path(ctx: StepContext, role: str) -> str | None:
    """Where the page's 'logical location on the UC Connector host' puts a manifest file."""
    path = ctx.lab.manifest.file(role)
    return ctx.lab.windows_path(path.name) if path else None


@PROCEDURE.step(1)
async def open_command_line_arguments(ctx: StepContext) -> Done:
    """Start Info tab > Command Line Arguments of the UC Connector Application."""
    return await open_arguments(ctx, "mtls_command_line")


@PROCEDURE.step(2)
async def add_parameters(
    ctx: StepContext,
    *,
    cert_store_file: str | None = None,
    cert_store_pass: str | None = None,
    cert_store_type: str = "pkcs12",
    key_store_file: str | None = None,
    key_store_pass: str | None = None,
    key_store_type: str = "jks",
    include_trust_store: bool = True,
    literal: bool = False,
) -> Done:
    """Add ``-cert_store_file/-cert_store_pass/-cert_store_type pkcs12`` and
    ``-key_store_file/-key_store_pass/-key_store_type jks`` to the existing arguments.

    File and password defaults come from the manifest (the PFX and the trust store this
    replay made), placed in the connector's ``etc`` folder. ``include_trust_store=false``
    adds the ``-cert_store_*`` options only, as the page's startup.bat example does: Java
    then falls back to ``jssecacerts``/``cacerts``.
    """
    lab = ctx.lab
    pfx = lab.manifest.get("ucc-pfx")
    store = lab.manifest.get("truststore")
    cert_file = cert_store_file or windows_path(ctx, "ucc-pfx") or ""
    cert_pass = cert_store_pass if cert_store_pass is not None else (pfx.password if pfx else "") or ""
    key_file = (key_store_file or windows_path(ctx, "truststore") or "") if include_trust_store else ""
    key_pass = key_store_pass if key_store_pass is not None else (store.password if store else "") or ""
    if literal:
        added = [
            f"-cert_store_{quote_argument(cert_file)}",
            f"-cert_store_pass {cert_pass}",
            f"-cert_store_type {cert_store_type}",
            f"-key_store_file {quote_argument(key_file)}",
            f"-key_store_pass {key_pass}",
            f"-ket_store_type {key_store_type}",
        ]
        gap = None
    else:
        added = [
            f"-cert_store_file {quote_argument(cert_file)}",
            f"-cert_store_pass {cert_pass}",
            f"-cert_store_type {cert_store_type}",
        ]
        if key_file:
            added += [f"-key_store_file {quote_argument(key_file)}", f"-key_store_pass {key_pass}", f"-key_store_type {key_store_type}"]
        gap = "the page writes '-cert_store_<path>' for '-cert_store_file <path>' and '-ket_store_type' for '-key_store_type'"
    existing = ctx.state["mtls_command_line.existing"]
    ctx.state["mtls_command_line.arguments"] = " ".join([existing, *added]).strip()
    shown = " ".join(added).replace(f" {cert_pass}", " ********", 1)
    if key_pass:
        shown = shown.replace(f"-key_store_pass {key_pass}", "-key_store_pass ********")
    return Done(f"added: {shown}", gap=gap)


@PROCEDURE.step(3)
async def save_arguments(ctx: StepContext) -> Done:
    """Click OK to save."""
    return await save_command_line_arguments(ctx, ctx.state["mtls_command_line.arguments"])


@PROCEDURE.step(4)
async def modify_startup_bat(ctx: StepContext, *, file_name: str = "startup.bat") -> Done:
    """If the connector starts from a batch file, add the same parameters to ``startup.bat``."""
    lab = ctx.lab
    t = lab.topology
    arguments = ctx.state["mtls_command_line.arguments"]
    # The batch file the page's screenshot shows: the connector's launcher and its arguments.
    text = (
        "@echo off\r\n"
        f'cd /d "{t.ucc_working_directory}"\r\n'
        f"{t.application_name}.exe {arguments}\r\n"
    )
    path = lab.artifacts_dir / file_name
    write_private_file(path, text.encode())  # it holds store passwords
    lab.manifest.add("startup-bat", path, format="text", password=None, doc_step=f"{PROCEDURE.heading}, step 4")
    return Done(f"wrote {file_name} with the same arguments", artifacts=[(path, "startup-bat")])
