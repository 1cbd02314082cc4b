"""The page's procedures, one module per heading, in the order a replay walks them.

:func:`procedures_for` says which procedures each path of the page walks; ``all`` walks
both paths (``PATH_PARTS``). The MTLS path obtains the connector's PFX in one of the
page's three ways (``pfx_source``): the Skype for Business shell (``shell``), MMC / CA
web access (``web``) or the Front End's own certificate (``frontend``).
"""

from __future__ import annotations

from . import (
    client_certificate,
    frontend_certificate,
    kerberos_ad,
    kerberos_password,
    krb5_conf,
    mtls_command_line,
    secure_sip_port,
    server_certificate_shell,
    server_certificate_web,
    tls_command_line,
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
    "PATHS",
    "PATH_PARTS",
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
        mtls_command_line,
        kerberos_ad,
        kerberos_password,
        trusted_certificate,
        ucc_installation,
        krb5_conf,
        secure_sip_port,
        tls_command_line,
    )
}

PFX_SOURCES = {"shell": "shell", "web": "web", "frontend": "frontend_certificate"}
PATHS = ("mtls", "tls-kerberos", "all")
# What a replay of each path walks: "all" is both paths, MTLS first.
PATH_PARTS = {"mtls": ("mtls",), "tls-kerberos": ("tls-kerberos",), "all": ("mtls", "tls-kerberos")}


def procedures_for(path: str, pfx_source: str = "shell") -> list[Procedure]:
    """The procedures one path of the page walks, in the page's order of use.

    ``path`` is ``mtls`` or ``tls-kerberos``; a replay of ``all`` walks both, one after
    the other (each ends in its own handshakes).
    """
    if pfx_source not in PFX_SOURCES:
        raise ValueError(f"unknown pfx_source {pfx_source!r}; expected one of {', '.join(PFX_SOURCES)}")
    if path == "mtls":
        # The MTLS path needs a trust store too (-key_store_file): the page's keytool
        # procedure makes it from the client certificate procedure's CA certificate.
        keys = ["client_certificate", PFX_SOURCES[pfx_source], "truststore", "secure_port", "mtls_command_line"]
    elif path == "tls-kerberos":
        keys = [
            "kerberos_ad",
            "kerberos_password",
            "trusted_certificate",
            "truststore",
            "krb5_conf",
            "secure_port",
            "tls_command_line",
        ]
    else:
        raise ValueError(f"unknown path {path!r}; expected mtls or tls-kerberos")
    return [PROCEDURES[k] for k in keys]


def all_steps() -> list[Step]:
    return [s for p in PROCEDURES.values() for s in p.steps]
