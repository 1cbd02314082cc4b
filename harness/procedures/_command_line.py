"""The UC Connector Application's Start Info > Command Line Arguments, shared by the MTLS
and the TLS procedures: read them, save them."""

from __future__ import annotations

import dataclasses

from fakes.configserver import ConfigServerError

from ..connector import format_arguments, parse_arguments
from ._framework import Done, StepContext, StepFailed

_SECURITY_PREFIXES = ("-cert_store", "-key_store", "-ket_store", "-krb_conf")


def quote_argument(value: str) -> str:
    """A value as typed into the field: quoted when it holds a space."""
    return f'"{value}"' if " " in value else value


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


async def open_arguments(ctx: StepContext, key: str) -> Done:
    """Open the Application's Command Line Arguments; keep them (minus earlier security
    options) in ``ctx.state[key + ".existing"]``."""
    lab = ctx.lab
    async with lab.configserver_client() as cfg:
        app = await cfg.find_application(lab.topology.application_name)
    if app is None:
        raise StepFailed(
            "application-missing",
            f"no Application object named {lab.topology.application_name!r}",
            "Create the UC Connector Application object first.",
        )
    ctx.state[f"{key}.existing"] = without_security_options(app.command_line_arguments)
    shown = format_arguments(parse_arguments(app.command_line_arguments).arguments, mask_passwords=True)
    # Quoted as the field shows it; not repr(), which doubles every backslash of a Windows path.
    return Done(f"Start Info > Command Line Arguments: '{shown}'")


async def save_command_line_arguments(ctx: StepContext, arguments: str) -> Done:
    """Click OK: store ``arguments`` on the Application object."""
    lab = ctx.lab
    try:
        async with lab.configserver_client() as cfg:
            app = await cfg.find_application(lab.topology.application_name)
            assert app is not None
            app.command_line_arguments = arguments
            await cfg.update_application(app)
    except ConfigServerError as exc:
        raise StepFailed("configserver-error", f"Configuration Server refused the arguments: {exc}", "Check the arguments' text.") from exc
    return Done(f"saved the Command Line Arguments of {lab.topology.application_name}")
