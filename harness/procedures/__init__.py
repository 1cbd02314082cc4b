"""The page's procedures, one module per heading, in the order a replay walks them.

``PATHS`` says which procedures each replay path runs. The MTLS path obtains the
connector's PFX in one of the page's three ways (``pfx_source``): the Skype for Business
shell (``shell``), MMC / CA web access (``web``) or the Front End's own certificate
(``frontend``).
"""

from __future__ import annotations

from . import (
    client_certificate,
    frontend_certificate,
    kerberos_password,
    mtls_command_line,
    secure_sip_port,
    server_certificate_shell,
    server_certificate_web,
    trusted_certificate,
    ucc_installation,
)
from ._framework import (
    Done,
    OverrideError,
    Overrides,
    Procedure,
    Step,
    StepContext,
    StepFailed,
    check_overrides,
    parse_override,
    run_procedure,
)

__all__ = [
    "PROCEDURES",
    "PFX_SOURCES",
    "procedures_for",
    "all_steps",
    "Done",
    "OverrideError",
    "Overrides",
    "Procedure",
    "Step",
    "StepContext",
    "StepFailed",
    "check_overrides",
    "parse_override",
    "run_procedure",
]

PROCEDURES: dict[str, Procedure] = {
    m.PROCEDURE.key: m.PROCEDURE
    for m in (
        client_certificate,
        server_certificate_shell,
        server_certificate_web,
        frontend_certificate,
        trusted_certificate,
        ucc_installation,
        kerberos_password,
        secure_sip_port,
        mtls_command_line,
    )
}

PFX_SOURCES = {"shell": "shell", "web": "web", "frontend": "frontend_certificate"}
PATHS = ("mtls", "tls-kerberos", "all")


def procedures_for(path: str, pfx_source: str = "shell") -> list[Procedure]:
    """The procedures a replay of ``path`` walks, in the page's order of use."""
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; expected one of {', '.join(PATHS)}")
    if pfx_source not in PFX_SOURCES:
        raise ValueError(f"unknown pfx_source {pfx_source!r}; expected one of {', '.join(PFX_SOURCES)}")
    mtls = path in ("mtls", "all")
    kerberos = path in ("tls-kerberos", "all")
    keys: list[str] = []
    if mtls:
        keys += ["client_certificate", PFX_SOURCES[pfx_source]]
    if kerberos:
        keys += ["kerberos_password", "trusted_certificate"]
    # Both paths need the connector's trust store; the MTLS path alone makes it from the
    # client certificate procedure's CA certificate.
    keys += ["truststore", "secure_port"]
    if mtls:
        keys.append("mtls_command_line")
    return [PROCEDURES[k] for k in keys]


def all_steps() -> list[Step]:
    return [s for p in PROCEDURES.values() for s in p.steps]
