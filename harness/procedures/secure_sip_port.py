"""Configuring a Secure SIP Port.

On the Application object's Server Info tab, a new port: Port ID, Communication Port
(any free port on the UC Connector host), Connection Protocol ``sip``, Listening Mode
``Secured``. Configuration Server then warns; the page says to click Yes.
"""

from __future__ import annotations

from fakes.configserver import CfgPortInfo, ConfigServerError, ListeningMode

from ._framework import Done, Procedure, StepContext, StepFailed

PROCEDURE = Procedure("secure_port", "Configuring a Secure SIP Port", host="ucc")


@PROCEDURE.step(1)
async def add_port(
    ctx: StepContext,
    *,
    port_id: str = "lync-tls",
    communication_port: int | None = None,
    connection_protocol: str = "sip",
    listening_mode: str = "Secured",
) -> Done:
    """Server Info tab: add a port — Port ID, Communication Port, Connection Protocol sip, Listening Mode Secured."""
    try:
        mode = ListeningMode.parse(listening_mode)
    except ValueError as exc:
        raise StepFailed("bad-parameter", str(exc), "Select Secured.") from exc
    # "any free port on the UC Connector host": one nothing listens on now.
    port = communication_port or ctx.lab.free_ucc_port()
    ctx.state["secure_port.port"] = CfgPortInfo.with_mode(
        id=port_id, port=port, conn_protocol=connection_protocol, mode=mode
    )
    return Done(f"Server Info > Add port: ID {port_id}, port {port}, protocol {connection_protocol}, listening mode {mode.value}")


@PROCEDURE.step(2)
async def confirm_warning(ctx: StepContext, *, answer: str = "Yes") -> Done:
    """A warning may appear on adding the port; the page says to ignore it and click Yes."""
    lab = ctx.lab
    port: CfgPortInfo = ctx.state["secure_port.port"]
    replaced = None
    try:
        async with lab.configserver_client() as cfg:
            app = await cfg.find_application(lab.topology.application_name)
            if app is not None and app.port(port.id) is not None:
                # A replay on a lab that has the port already: edit it rather than add a
                # second one with the same ID (Configuration Server would refuse that).
                await cfg.remove_port(lab.topology.application_name, port.id)
                replaced = port.id
            warnings = await cfg.add_port(lab.topology.application_name, port)
    except ConfigServerError as exc:
        raise StepFailed("configserver-error", f"Configuration Server refused the port: {exc}", "Pick another Port ID or port number.") from exc
    if warnings and answer.lower() != "yes":
        async with lab.configserver_client() as cfg:
            await cfg.remove_port(lab.topology.application_name, port.id)
        raise StepFailed("secure-port-missing", f"Warning: {warnings[0]} — answered {answer}: the port was not added", "Click Yes, as the page says.")
    shown = f'warning "{warnings[0]}" — {answer}' if warnings else "no warning"
    note = f"replaced the existing port {replaced}" if replaced else None
    return Done(f"saved port {port.id} ({port.transport_params or 'unsecured'}); {shown}", note=note)
