"""Genesys Configuration Server objects, sans I/O: ``CfgApplication`` and its ports.

The shapes follow the Genesys Platform SDK (``CfgApplication``, ``CfgPortInfo``,
``CfgServerInfo``) with Python attribute names (``conn_protocol`` for ``connProtocol``, and
so on). Nothing here touches files, sockets or clocks; the store and the HTTP API wrap it.

Rule 1: every value Configuration Server keeps in an option or a port's parameters is a
string. Rule 2: a port's *Listening Mode* is not a field of its own — Genesys derives it
from the port's transport parameters, so :func:`listening_mode` reads it back from them and
:func:`transport_params_for` writes it into them.

Transport parameters and listening modes, as the Genesys documentation describes them:

- *Genesys Security Deployment Guide, "Securing Connections Using TLS"*: "The Transport
  parameters of a secure port contains ``tls=1``, and optionally ``tls-mutual=1``."
  Genesys Administrator's *Secured* listening mode is therefore ``tls=1``.
- *Framework Configuration Options Reference, "Transport Parameter Options"*: the syntax
  is ``<name>=<value>;<name>=<value>`` and "valid values for these options must have no
  spaces before or after the delimiter characters ';' and '='"; :func:`parse_transport_params`
  enforces exactly that.
- *Auto-detect* is what Genesys calls *upgrade* mode: one port serves unsecured clients
  and clients that want TLS. It is stored as ``upgrade=1``. Unlike the two facts above,
  this parameter is not quoted from a Genesys page (the pages at hand do not spell it
  out); check it against a real Genesys Administrator before relying on it.
- *Unsecured* is the absence of both (or ``tls=0``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ValidationError",
    "ListeningMode",
    "CfgPortInfo",
    "CfgServerInfo",
    "CfgApplication",
    "KNOWN_CONN_PROTOCOLS",
    "OBJECT_STATES",
    "REDUNDANCY_TYPES",
    "parse_transport_params",
    "format_transport_params",
    "transport_params_for",
    "listening_mode",
    "is_mutual_tls",
    "validate_application",
    "port_security_warnings",
]

# Transport parameter names that carry the listening mode.
TLS = "tls"
TLS_MUTUAL = "tls-mutual"
UPGRADE = "upgrade"
CERTIFICATE = "certificate"

# What the "Connection Protocol" drop-down of a port offers that matters to this lab; the
# page selects "sip". An empty string is a port without a declared protocol.
KNOWN_CONN_PROTOCOLS = frozenset({"", "sip", "http", "https"})
OBJECT_STATES = ("CFGEnabled", "CFGDisabled")
# Platform SDK CfgHAType names.
REDUNDANCY_TYPES = ("CFGHTNoHAType", "CFGHTColdStanby", "CFGHTWarmStanby", "CFGHTHotStanby")
# Genesys Administrator: "the name, which can be up to 255 characters".
MAX_NAME_LENGTH = 255
MAX_PORT = 65535
# Numbers without a range of their own (dbids, timeouts, attempts) are 32-bit integers.
# Assumed: the Platform SDK gives these properties as Java Integer / .NET int; the pages
# at hand give no larger range. It also keeps every number the store writes readable back.
MAX_INTEGER = 2**31 - 1


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: error messages echo what was sent."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ValidationError(ValueError):
    """A configuration object breaks one of Configuration Server's rules.

    ``field`` names the offending field as a path in this model (``port_infos[1].port``);
    ``message`` says what is wrong in an administrator's words.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ListeningMode(enum.Enum):
    """The *Listening Mode* of a port, as Genesys Administrator names it."""

    UNSECURED = "Unsecured"
    SECURED = "Secured"
    AUTO_DETECT = "Auto-detect"

    @classmethod
    def parse(cls, text: str) -> ListeningMode:
        """The mode named ``text`` as the drop-down shows it ("Secured"), in any case."""
        wanted = text.strip().lower() if isinstance(text, str) else None
        for mode in cls:
            if wanted in (mode.value.lower(), mode.name.lower()):
                return mode
        choices = ", ".join(mode.value for mode in cls)
        raise ValidationError("listening_mode", f"unknown Listening Mode {_short(text)} (choices: {choices})")


@dataclass
class CfgPortInfo:
    """One listening port of an Application (Platform SDK ``CfgPortInfo``)."""

    id: str
    port: int
    conn_protocol: str = ""
    transport_params: str = ""
    app_params: str = ""
    description: str = ""

    @classmethod
    def with_mode(
        cls,
        id: str,
        port: int,
        *,
        mode: ListeningMode = ListeningMode.UNSECURED,
        conn_protocol: str = "",
        mutual_tls: bool = False,
        extra_transport_params: Mapping[str, str] | None = None,
        app_params: str = "",
        description: str = "",
    ) -> CfgPortInfo:
        """A port as the Server Info tab's "add port" dialog makes it.

        The listening ``mode`` (and ``tls-mutual=1`` when ``mutual_tls``) is written into
        the transport parameters, next to ``extra_transport_params``.
        """
        params = transport_params_for(mode, mutual_tls=mutual_tls, extra=extra_transport_params)
        return cls(
            id=id,
            port=port,
            conn_protocol=conn_protocol,
            transport_params=format_transport_params(params),
            app_params=app_params,
            description=description,
        )


@dataclass
class CfgServerInfo:
    """Where a server Application runs (Platform SDK ``CfgServerInfo``).

    ``host`` and ``backup_server`` are object names here: the stand-in holds no Host
    objects to point a dbid at.
    """

    host: str = ""
    port: int | None = None
    backup_server: str = ""
    # Reconnect timeout (seconds) and reconnect attempts.
    timeout: int = 10
    attempts: int = 1


@dataclass(kw_only=True)
class CfgApplication:
    """An Application object (Platform SDK ``CfgApplication``).

    ``options`` and ``user_properties`` map section → option → value, all strings, as the
    Options and Annex tabs show them. ``dbid`` is ``None`` until Configuration Server
    assigns one.
    """

    name: str
    dbid: int | None = None
    type: str = "CFGGenericServer"
    version: str = "8.5"
    state: str = "CFGEnabled"
    options: dict[str, dict[str, str]] = field(default_factory=dict)
    user_properties: dict[str, dict[str, str]] = field(default_factory=dict)
    server_info: CfgServerInfo = field(default_factory=CfgServerInfo)
    port_infos: list[CfgPortInfo] = field(default_factory=list)
    work_directory: str = ""
    command_line: str = ""
    command_line_arguments: str = ""
    startup_timeout: int = 90
    shutdown_timeout: int = 90
    auto_restart: bool = False
    redundancy_type: str = "CFGHTNoHAType"
    is_server: bool = True

    def port(self, port_id: str) -> CfgPortInfo | None:
        """The port with this Port ID, or ``None``."""
        return next((p for p in self.port_infos if p.id == port_id), None)

    def option(self, section: str, key: str) -> str | None:
        """The value of option ``key`` in ``section``, or ``None`` if it is not set."""
        return self.options.get(section, {}).get(key)

    def set_option(self, section: str, key: str, value: str) -> None:
        """Set option ``key`` in ``section`` (the section is created if missing)."""
        self.options.setdefault(section, {})[key] = value


# --- transport parameters -------------------------------------------------------------


def parse_transport_params(text: str, *, field: str = "transport_params") -> dict[str, str]:
    """Parse ``name=value;name=value`` into an ordered dict.

    One trailing ``;`` is tolerated (configuration files often end the list with it).
    Raises :class:`ValidationError` (naming ``field``) for a segment without ``=``, an
    empty name, a name given twice, or spaces around a delimiter, which Genesys forbids.
    """
    if not isinstance(text, str):
        raise ValidationError(field, f"transport parameters are a string, not {type(text).__name__}")
    params: dict[str, str] = {}
    if text == "":
        return params
    segments = text.split(";")
    if segments[-1] == "":
        segments.pop()
    for segment in segments:
        if segment == "":
            raise ValidationError(field, f"empty parameter between two ';' in {_short(text)}")
        name, sep, value = segment.partition("=")
        if not sep:
            raise ValidationError(field, f"{_short(segment)} in {_short(text)} is not name=value")
        if name != name.strip() or value != value.strip():
            raise ValidationError(
                field,
                f"spaces around ';' or '=' in {_short(text)}; Genesys transport parameters "
                "allow no spaces before or after the delimiters",
            )
        if not name:
            raise ValidationError(field, f"parameter with an empty name in {_short(text)}")
        if name in params:
            raise ValidationError(field, f"parameter {_short(name)} is given twice in {_short(text)}")
        params[name] = value
    return params


def format_transport_params(params: Mapping[str, str]) -> str:
    """Format parameters as ``name=value;name=value`` (the inverse of parsing)."""
    parts = []
    for name, value in params.items():
        if not isinstance(name, str) or not name or name != name.strip() or any(c in name for c in ";="):
            raise ValidationError("transport_params", f"invalid transport parameter name {_short(name)}")
        if not isinstance(value, str):
            raise ValidationError(
                "transport_params", f"value of {_short(name)} must be a string, not {type(value).__name__}"
            )
        if ";" in value or value != value.strip():
            raise ValidationError(
                "transport_params", f"value {_short(value)} of {_short(name)} contains ';' or edge spaces"
            )
        parts.append(f"{name}={value}")
    return ";".join(parts)


def transport_params_for(
    mode: ListeningMode,
    *,
    mutual_tls: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Transport parameters that give a port listening ``mode``.

    Secured → ``tls=1``; Auto-detect → ``upgrade=1``; Unsecured → neither. ``mutual_tls``
    adds ``tls-mutual=1`` and needs a mode that speaks TLS. Mode parameters in ``extra``
    are replaced; its other parameters are kept.
    """
    params = {k: v for k, v in (extra or {}).items() if k not in (TLS, UPGRADE, TLS_MUTUAL)}
    if mode is ListeningMode.SECURED:
        params[TLS] = "1"
    elif mode is ListeningMode.AUTO_DETECT:
        params[UPGRADE] = "1"
    if mutual_tls:
        if mode is ListeningMode.UNSECURED:
            raise ValidationError("transport_params", "mutual TLS needs a Secured or Auto-detect port")
        params[TLS_MUTUAL] = "1"
    return params


def _mode_of(params: Mapping[str, str], field: str) -> ListeningMode:
    for name in (TLS, UPGRADE, TLS_MUTUAL):
        if params.get(name, "0") not in ("0", "1"):
            raise ValidationError(field, f"{name}={_short(params[name])}: the value must be 0 or 1")
    tls, upgrade = params.get(TLS) == "1", params.get(UPGRADE) == "1"
    if tls and upgrade:
        raise ValidationError(
            field,
            "both tls=1 and upgrade=1: a port listens either Secured (tls=1) or "
            "Auto-detect (upgrade=1)",
        )
    mode = ListeningMode.SECURED if tls else ListeningMode.AUTO_DETECT if upgrade else ListeningMode.UNSECURED
    if params.get(TLS_MUTUAL) == "1" and mode is ListeningMode.UNSECURED:
        raise ValidationError(field, "tls-mutual=1 on an Unsecured port (no tls=1 or upgrade=1)")
    return mode


def listening_mode(port: CfgPortInfo) -> ListeningMode:
    """The Listening Mode Genesys Administrator shows for ``port``."""
    return _mode_of(parse_transport_params(port.transport_params), "transport_params")


def is_mutual_tls(port: CfgPortInfo) -> bool:
    """Whether ``port`` asks its TLS clients for a certificate (``tls-mutual=1``)."""
    params = parse_transport_params(port.transport_params)
    _mode_of(params, "transport_params")
    return params.get(TLS_MUTUAL) == "1"


# --- validation -----------------------------------------------------------------------


def _check_str(value: Any, field: str) -> None:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, not {type(value).__name__} {_short(value)}")


def _check_int(value: Any, field: str, low: int, high: int = MAX_INTEGER) -> None:
    # bool is an int in Python; Configuration Server has no such number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(field, f"must be an integer, not {type(value).__name__} {_short(value)}")
    if not low <= value <= high:
        raise ValidationError(field, f"{_short(value)} is out of range ({low}..{high})")


def _check_bool(value: Any, field: str) -> None:
    if not isinstance(value, bool):
        raise ValidationError(field, f"must be true or false, not {type(value).__name__} {_short(value)}")


def _check_sections(sections: Any, field: str) -> None:
    if not isinstance(sections, dict):
        raise ValidationError(field, "must map section names to options")
    for section, keys in sections.items():
        if not isinstance(section, str) or not section.strip():
            raise ValidationError(field, f"section names are non-empty strings, got {_short(section)}")
        where = f"{field}[{_short(section)}]"
        if not isinstance(keys, dict):
            raise ValidationError(where, "must map option names to values")
        for key, value in keys.items():
            if not isinstance(key, str) or not key.strip():
                raise ValidationError(where, f"option names are non-empty strings, got {_short(key)}")
            if not isinstance(value, str):
                raise ValidationError(
                    f"{where}[{_short(key)}]",
                    f"option values are strings in Configuration Server, "
                    f"not {type(value).__name__} {_short(value)}",
                )


def _check_port(port: Any, field: str) -> None:
    if not isinstance(port, CfgPortInfo):
        raise ValidationError(field, f"must be a CfgPortInfo, not {type(port).__name__}")
    _check_str(port.id, f"{field}.id")
    if not port.id.strip():
        raise ValidationError(f"{field}.id", "a port needs a Port ID")
    name = f"{field} (port ID {_short(port.id)})"
    _check_int(port.port, f"{name}.port", 1, MAX_PORT)
    _check_str(port.conn_protocol, f"{name}.conn_protocol")
    if port.conn_protocol not in KNOWN_CONN_PROTOCOLS:
        known = ", ".join(repr(p) for p in sorted(KNOWN_CONN_PROTOCOLS))
        raise ValidationError(
            f"{name}.conn_protocol",
            f"unknown connection protocol {_short(port.conn_protocol)} (known: {known})",
        )
    for attr in ("app_params", "description"):
        _check_str(getattr(port, attr), f"{name}.{attr}")
    params = parse_transport_params(port.transport_params, field=f"{name}.transport_params")
    _mode_of(params, f"{name}.transport_params")


def validate_application(app: CfgApplication) -> None:
    """Check every rule Configuration Server applies to an Application before saving it.

    Raises :class:`ValidationError` naming the first field that breaks one.
    """
    _check_str(app.name, "name")
    if not app.name.strip():
        raise ValidationError("name", "an Application needs a name")
    if len(app.name) > MAX_NAME_LENGTH:
        raise ValidationError("name", f"names are at most {MAX_NAME_LENGTH} characters, got {len(app.name)}")
    if app.dbid is not None:
        _check_int(app.dbid, "dbid", 1)
    _check_str(app.type, "type")
    if not app.type.startswith("CFG"):
        raise ValidationError(
            "type", f"application types are CFG* names such as 'CFGGenericServer', not {_short(app.type)}"
        )
    _check_str(app.version, "version")
    if app.state not in OBJECT_STATES:
        raise ValidationError("state", f"must be one of {', '.join(OBJECT_STATES)}, not {_short(app.state)}")
    _check_sections(app.options, "options")
    _check_sections(app.user_properties, "user_properties")

    info = app.server_info
    if not isinstance(info, CfgServerInfo):
        raise ValidationError("server_info", f"must be a CfgServerInfo, not {type(info).__name__}")
    _check_str(info.host, "server_info.host")
    _check_str(info.backup_server, "server_info.backup_server")
    if info.port is not None:
        _check_int(info.port, "server_info.port", 1, MAX_PORT)
    _check_int(info.timeout, "server_info.timeout", 0)
    _check_int(info.attempts, "server_info.attempts", 0)

    if not isinstance(app.port_infos, list):
        raise ValidationError("port_infos", "must be a list of CfgPortInfo")
    seen: dict[str, int] = {}
    for index, port in enumerate(app.port_infos):
        _check_port(port, f"port_infos[{index}]")
        if port.id in seen:
            raise ValidationError(
                f"port_infos[{index}].id",
                f"port ID {_short(port.id)} is already used by port_infos[{seen[port.id]}]; "
                "port IDs are unique within an Application",
            )
        seen[port.id] = index

    for attr in ("work_directory", "command_line", "command_line_arguments"):
        _check_str(getattr(app, attr), attr)
    _check_int(app.startup_timeout, "startup_timeout", 0)
    _check_int(app.shutdown_timeout, "shutdown_timeout", 0)
    _check_bool(app.auto_restart, "auto_restart")
    _check_bool(app.is_server, "is_server")
    if app.redundancy_type not in REDUNDANCY_TYPES:
        raise ValidationError(
            "redundancy_type",
            f"must be one of {', '.join(REDUNDANCY_TYPES)}, not {_short(app.redundancy_type)}",
        )


def _has_certificate(app: CfgApplication, port: CfgPortInfo) -> bool:
    # A certificate may be assigned on the port (a transport parameter), on the Application
    # (here: a "certificate" option in a "security" section of its options or annex) or on
    # its Host. Hosts are not modelled, so a certificate set only there cannot silence the
    # warning.
    if parse_transport_params(port.transport_params).get(CERTIFICATE):
        return True
    return any(
        sections.get("security", {}).get(CERTIFICATE) for sections in (app.options, app.user_properties)
    )


def port_security_warnings(app: CfgApplication, previous: CfgApplication | None = None) -> list[str]:
    """Warnings for TLS ports added by this change that have no certificate to use.

    This models the dialog of the page's "Configuring a Secure SIP Port", step 2: on
    adding a Secured port "you may see the following Warning", and the page says to
    ignore it and click Yes — the UC Connector uses its own certificate store
    (``-cert_store_file``), which Configuration Server does not see. The change is saved
    either way; the warnings travel with the successful answer. ``app`` must be valid.
    """
    before = {p.id: listening_mode(p) for p in (previous.port_infos if previous else [])}
    warnings = []
    for port in app.port_infos:
        mode = listening_mode(port)
        was_tls = before.get(port.id, ListeningMode.UNSECURED) is not ListeningMode.UNSECURED
        if mode is ListeningMode.UNSECURED or was_tls or _has_certificate(app, port):
            continue
        flag = "tls=1" if mode is ListeningMode.SECURED else "upgrade=1"
        warnings.append(
            f"Port {_short(port.id)} ({port.port}) of Application {_short(app.name)} is {mode.value} "
            f"({flag}), but no TLS certificate is configured for the port, the Application "
            "or its Host; Configuration Server cannot verify that this port will be able "
            "to accept TLS connections."
        )
    return warnings
