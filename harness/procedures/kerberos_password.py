"""Creating a Password for Kerberos Security.

In Configuration Manager, the UC Connector's Application object, Options tab:
``[Microsoft-OCS] password`` = the password of the OCS user (``ocs-ucc``) in Active
Directory. The lab does it through its Configuration Server stand-in's HTTP API.
"""

from __future__ import annotations

from fakes.configserver import ConfigServerError

from ._framework import Done, Procedure, StepContext, StepFailed

PROCEDURE = Procedure("kerberos_password", "Creating a Password for Kerberos Security", host="ucc")


@PROCEDURE.step(1)
async def open_application(ctx: StepContext) -> Done:
    """Environment > Applications: double-click the UC Connector Application object."""
    name = ctx.lab.topology.application_name
    async with ctx.lab.configserver_client() as cfg:
        app = await cfg.find_application(name)
    if app is None:
        raise StepFailed("application-missing", f"no Application object named {name!r}", "Create the UC Connector Application object first.")
    return Done(f"Environment > Applications > {name} (DBID {app.dbid})")


@PROCEDURE.step(2)
async def open_options_tab(ctx: StepContext) -> Done:
    """Go to the Options tab."""
    return Done("Options tab")


@PROCEDURE.step(3)
async def set_password_option(
    ctx: StepContext, *, section: str = "Microsoft-OCS", option: str = "password", password: str | None = None
) -> Done:
    """In the ``Microsoft-OCS`` section, set ``password`` to the OCS user's AD password."""
    lab = ctx.lab
    assert lab.secrets is not None
    value = lab.secrets.ucc_account_password if password is None else password
    try:
        async with lab.configserver_client() as cfg:
            await cfg.set_option(lab.topology.application_name, section, option, value)
    except ConfigServerError as exc:
        raise StepFailed("configserver-error", f"Configuration Server refused the option: {exc}", "Use a non-empty section and option name.") from exc
    return Done(f"[{section}] {option} = {'*' * 8} (the AD password of {lab.topology.ucc_account})")
