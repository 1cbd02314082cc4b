"""Modifying Command Line Parameters for TLS.

``-krb_conf_file``, ``-cert_store_pass`` and ``-cert_store_file`` — on this path the
"cert store" is the JKS trust store made with keytool, not a PFX.
"""

from __future__ import annotations

from ._command_line import open_arguments, quote_argument, save_command_line_arguments
from ._framework import Done, Procedure, StepContext

PROCEDURE = Procedure("tls_command_line", "Modifying Command Line Parameters for TLS", host="ucc")


@PROCEDURE.step(1)
async def open_command_line_arguments(ctx: StepContext) -> Done:
    """Start Info tab > Command Line Arguments of the UC Connector Application."""
    return await open_arguments(ctx, "tls_command_line")


@PROCEDURE.step(2)
async def add_parameters(
    ctx: StepContext,
    *,
    krb_conf_file: str | None = None,
    cert_store_pass: str | None = None,
    cert_store_file: str | None = None,
) -> Done:
    """Add ``-krb_conf_file <krb5.conf>``, ``-cert_store_pass <keytool password>`` and
    ``-cert_store_file <the keystore>``; defaults come from the manifest."""
    lab = ctx.lab
    conf = lab.manifest.file("krb5-conf")
    store = lab.manifest.get("truststore")
    krb = krb_conf_file or (lab.windows_path(conf.name) if conf else "")
    store_file = cert_store_file or (lab.windows_path(store.path) if store else "")
    password = cert_store_pass if cert_store_pass is not None else (store.password if store else "") or ""
    added = [f"-krb_conf_file {quote_argument(krb)}", f"-cert_store_pass {password}", f"-cert_store_file {quote_argument(store_file)}"]
    ctx.state["tls_command_line.arguments"] = " ".join([ctx.state["tls_command_line.existing"], *added]).strip()
    shown = " ".join(added).replace(f"-cert_store_pass {password}", "-cert_store_pass ********")
    return Done(f"added: {shown}")


@PROCEDURE.step(3)
async def save_arguments(ctx: StepContext) -> Done:
    """Click OK to save."""
    return await save_command_line_arguments(ctx, ctx.state["tls_command_line.arguments"])
