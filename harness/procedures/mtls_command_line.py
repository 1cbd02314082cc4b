"""Modifying Command Line Arguments for MTLS.

The Application object's Start Info > Command Line Arguments get the connector's PFX
(``-cert_store_*``) and its trust store (``-key_store_*``), and so does ``startup.bat``.

Two typos in the page, bridged by the default replay and kept by a literal one:
``-cert_store_<path to .pfx file on UCC host>`` (the option is ``-cert_store_file``, then
the path) and ``-ket_store_type jks`` (``-key_store_type``). Configuration Manager stores
whatever is typed; it is the UC Connector that stumbles on them when it starts.
"""

from __future__ import annotations

import dataclasses

from fakes._files import write_private_file
from fakes.configserver import ConfigServerError

from ..connector import format_arguments, parse_arguments

from ._framework import Done, Procedure, StepContext, StepFailed

PROCEDURE = Procedure("mtls_command_line", "Modifying Command Line Arguments for MTLS", host="ucc")


def windows_path(ctx: StepContext, role: str) -> str | None:
    """Where the page's 'logical location on the UC Connector host' puts a manifest file."""
    path = ctx.lab.manifest.file(role)
    return ctx.lab.windows_path(path.name) if path else None


_SECURITY_PREFIXES = ("-cert_store", "-key_store", "-ket_store", "-krb_conf")


def without_security_options(arguments: str) -> str:
    """The arguments minus any store or Kerberos option a previous pass added (typos too),
    as an administrator editing the field replaces them rather than adding a second set."""
    parsed = parse_arguments(arguments).arguments
    kept = dataclasses.replace(
        parsed,
        cert_store_file=None,
        cert_store_pass=None,
        cert_store_type=None,
        key_store_file=None,
        key_store_pass=None,
        key_store_type=None,
        krb_conf_file=None,
        other=tuple((o, v) for o, v in parsed.other if not o.startswith(_SECURITY_PREFIXES)),
    )
    return format_arguments(kept)


def _quote(value: str) -> str:
    return f'"{value}"' if " " in value else value


@PROCEDURE.step(1)
async def open_command_line_arguments(ctx: StepContext) -> Done:
    """Start Info tab > Command Line Arguments of the UC Connector Application."""
    lab = ctx.lab
    async with lab.configserver_client() as cfg:
        app = await cfg.find_application(lab.topology.application_name)
    if app is None:
        raise StepFailed("application-missing", f"no Application object named {lab.topology.application_name!r}", "Create the UC Connector Application object first.")
    ctx.state["mtls_command_line.existing"] = without_security_options(app.command_line_arguments)
    shown = format_arguments(parse_arguments(app.command_line_arguments).arguments, mask_passwords=True)
    return Done(f"Start Info > Command Line Arguments: {shown!r}")


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
            f"-cert_store_{_quote(cert_file)}",
            f"-cert_store_pass {cert_pass}",
            f"-cert_store_type {cert_store_type}",
            f"-key_store_file {_quote(key_file)}",
            f"-key_store_pass {key_pass}",
            f"-ket_store_type {key_store_type}",
        ]
        gap = None
    else:
        added = [
            f"-cert_store_file {_quote(cert_file)}",
            f"-cert_store_pass {cert_pass}",
            f"-cert_store_type {cert_store_type}",
        ]
        if key_file:
            added += [f"-key_store_file {_quote(key_file)}", f"-key_store_pass {key_pass}", f"-key_store_type {key_store_type}"]
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
    lab = ctx.lab
    arguments = ctx.state["mtls_command_line.arguments"]
    try:
        async with lab.configserver_client() as cfg:
            app = await cfg.find_application(lab.topology.application_name)
            assert app is not None
            app.command_line_arguments = arguments
            await cfg.update_application(app)
    except ConfigServerError as exc:
        raise StepFailed("configserver-error", f"Configuration Server refused the arguments: {exc}", "Check the arguments' text.") from exc
    return Done(f"saved the Command Line Arguments of {lab.topology.application_name}")


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
