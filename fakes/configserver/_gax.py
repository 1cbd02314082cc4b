"""The JSON shape Genesys Administrator Extension (GAX) gives configuration objects.

GAX's REST API spells every key in lowercase and every value as a string: numbers are
decimal strings, flags and enumerations are their Platform SDK ``CFG*`` names
(``"state": "CFGEnabled"``, ``"autorestart": "CFGTrue"``), option sections travel as a
flat list ``{"property": [{"section", "key", "value"}]}`` and ports as
``{"portinfo": [...]}``. ``"type"`` is the object type (``"CfgApplication"``); the
application's own type (``CFGGenericServer``...) is ``"subtype"``.

Reading is strict — an unknown field, a number that is not one, a flag that is not a
``CFG*`` name — and every error names the field, so a bad request gets a 400 that says
what to fix. Numbers also arrive as JSON numbers from hand-written requests; they are
accepted as long as they are integers.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from typing import Any

from ._model import (
    CfgApplication,
    CfgPortInfo,
    CfgServerInfo,
    ValidationError,
    _short,
    validate_application,
)

__all__ = ["OBJECT_TYPE", "DBID_PATTERN", "to_gax", "from_gax", "update_from_gax"]

OBJECT_TYPE = "CfgApplication"
# A dbid as a URL carries it: a positive decimal integer of at most 18 digits.
DBID_PATTERN = r"[1-9][0-9]{0,17}"
_FLAGS = {"CFGTrue": True, "CFGFalse": False}
# Bounded so a 5,000-digit "number" is a clear 400, never Python's int-size ValueError.
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _flag(value: bool) -> str:
    return "CFGTrue" if value else "CFGFalse"


def _properties_to_gax(sections: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {
        "property": [
            {"section": section, "key": key, "value": value}
            for section, keys in sections.items()
            for key, value in keys.items()
        ]
    }


def _port_to_gax(port: CfgPortInfo) -> dict[str, str]:
    return {
        "id": port.id,
        "port": str(port.port),
        "connprotocol": port.conn_protocol,
        "transportparams": port.transport_params,
        "appparams": port.app_params,
        "description": port.description,
    }


def _server_info_to_gax(info: CfgServerInfo) -> dict[str, str]:
    doc = {"host": info.host}
    if info.port is not None:
        doc["port"] = str(info.port)
    doc.update(backupserver=info.backup_server, timeout=str(info.timeout), attempts=str(info.attempts))
    return doc


def to_gax(app: CfgApplication) -> dict[str, Any]:
    """``app`` as GAX shows it (without ``dbid`` while it has none)."""
    doc: dict[str, Any] = {}
    if app.dbid is not None:
        doc["dbid"] = str(app.dbid)
    doc.update(
        {
            "type": OBJECT_TYPE,
            "subtype": app.type,
            "name": app.name,
            "version": app.version,
            "state": app.state,
            "options": _properties_to_gax(app.options),
            "userproperties": _properties_to_gax(app.user_properties),
            "serverinfo": _server_info_to_gax(app.server_info),
            "portinfos": {"portinfo": [_port_to_gax(p) for p in app.port_infos]},
            "workdirectory": app.work_directory,
            "commandline": app.command_line,
            "commandlinearguments": app.command_line_arguments,
            "startuptimeout": str(app.startup_timeout),
            "shutdowntimeout": str(app.shutdown_timeout),
            "autorestart": _flag(app.auto_restart),
            "redundancytype": app.redundancy_type,
            "isserver": _flag(app.is_server),
        }
    )
    return doc


# --- reading --------------------------------------------------------------------------


def _kind(value: Any) -> str:
    names = {type(None): "null", dict: "object", list: "array", bool: "boolean"}
    return names.get(type(value), type(value).__name__)


def _read_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {_kind(value)} {_short(value)}")
    return value


def _read_int(value: Any, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise ValidationError(
        field, f'must be an integer (a decimal string such as "5061"), got {_kind(value)} {_short(value)}'
    )


def _read_flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _FLAGS:
        return _FLAGS[value]
    raise ValidationError(field, f"must be \"CFGTrue\" or \"CFGFalse\", got {_kind(value)} {_short(value)}")


def _read_object(
    value: Any, field: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(field, f"must be a JSON object, got {_kind(value)}")
    for key in value:
        if key not in allowed:
            raise ValidationError(f"{field}.{key}", f"unknown field (allowed: {', '.join(allowed)})")
    for key in required:
        if key not in value:
            raise ValidationError(f"{field}.{key}", "is required")
    return value


def _read_list(value: Any, field: str, item: str) -> list[Any]:
    wrapper = _read_object(value, field, (item,))
    items = wrapper.get(item, [])
    if not isinstance(items, list):
        raise ValidationError(f"{field}.{item}", f"must be a JSON array, got {_kind(items)}")
    return items


def _read_properties(value: Any, field: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    for index, item in enumerate(_read_list(value, field, "property")):
        where = f"{field}.property[{index}]"
        prop = _read_object(item, where, ("section", "key", "value"), ("section", "key", "value"))
        section = _read_str(prop["section"], f"{where}.section")
        key = _read_str(prop["key"], f"{where}.key")
        if key in sections.get(section, {}):
            raise ValidationError(where, f"option {_short(key)} of section {_short(section)} is given twice")
        sections.setdefault(section, {})[key] = _read_str(prop["value"], f"{where}.value")
    return sections


def _read_port_infos(value: Any, field: str) -> list[CfgPortInfo]:
    ports = []
    for index, item in enumerate(_read_list(value, field, "portinfo")):
        where = f"{field}.portinfo[{index}]"
        doc = _read_object(
            item,
            where,
            ("id", "port", "connprotocol", "transportparams", "appparams", "description"),
            ("id", "port"),
        )
        ports.append(
            CfgPortInfo(
                id=_read_str(doc["id"], f"{where}.id"),
                port=_read_int(doc["port"], f"{where}.port"),
                conn_protocol=_read_str(doc.get("connprotocol", ""), f"{where}.connprotocol"),
                transport_params=_read_str(doc.get("transportparams", ""), f"{where}.transportparams"),
                app_params=_read_str(doc.get("appparams", ""), f"{where}.appparams"),
                description=_read_str(doc.get("description", ""), f"{where}.description"),
            )
        )
    return ports


def _read_server_info(value: Any, field: str) -> CfgServerInfo:
    doc = _read_object(value, field, ("host", "port", "backupserver", "timeout", "attempts"))
    info = CfgServerInfo()
    if "host" in doc:
        info.host = _read_str(doc["host"], f"{field}.host")
    # GAX shows an unset default port as an empty string.
    if doc.get("port") not in (None, ""):
        info.port = _read_int(doc["port"], f"{field}.port")
    if "backupserver" in doc:
        info.backup_server = _read_str(doc["backupserver"], f"{field}.backupserver")
    if "timeout" in doc:
        info.timeout = _read_int(doc["timeout"], f"{field}.timeout")
    if "attempts" in doc:
        info.attempts = _read_int(doc["attempts"], f"{field}.attempts")
    return info


# GAX key → (CfgApplication attribute, reader). "type" is handled apart: it is the object
# type, not a field of the Application.
_FIELDS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "dbid": ("dbid", _read_int),
    "subtype": ("type", _read_str),
    "name": ("name", _read_str),
    "version": ("version", _read_str),
    "state": ("state", _read_str),
    "options": ("options", _read_properties),
    "userproperties": ("user_properties", _read_properties),
    "serverinfo": ("server_info", _read_server_info),
    "portinfos": ("port_infos", _read_port_infos),
    "workdirectory": ("work_directory", _read_str),
    "commandline": ("command_line", _read_str),
    "commandlinearguments": ("command_line_arguments", _read_str),
    "startuptimeout": ("startup_timeout", _read_int),
    "shutdowntimeout": ("shutdown_timeout", _read_int),
    "autorestart": ("auto_restart", _read_flag),
    "redundancytype": ("redundancy_type", _read_str),
    "isserver": ("is_server", _read_flag),
}


def _changes_from_gax(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ValidationError("body", f"a CfgApplication is a JSON object, got {_kind(doc)}")
    changes: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "type":
            if value != OBJECT_TYPE:
                raise ValidationError(
                    "type",
                    f"must be {OBJECT_TYPE!r}, got {_short(value)}; this Configuration Server holds "
                    "Application objects",
                )
            continue
        if key not in _FIELDS:
            hint = " (GAX field names are all lowercase)" if key.lower() in _FIELDS else ""
            raise ValidationError(key, f"unknown field{hint}; known fields: type, {', '.join(_FIELDS)}")
        attr, read = _FIELDS[key]
        changes[attr] = read(value, key)
    return changes


def from_gax(doc: Any) -> CfgApplication:
    """Build and validate a :class:`CfgApplication` from its GAX JSON form.

    Raises :class:`ValidationError` naming the field at fault.
    """
    changes = _changes_from_gax(doc)
    if "name" not in changes:
        raise ValidationError("name", "is required")
    app = CfgApplication(**changes)
    validate_application(app)
    return app


def update_from_gax(app: CfgApplication, doc: Any) -> CfgApplication:
    """A validated copy of ``app`` with the fields ``doc`` gives replaced.

    Each field given replaces the whole field: ``options`` replaces every section,
    ``portinfos`` every port. ``dbid``, if given, must be ``app``'s.
    """
    changes = _changes_from_gax(doc)
    if "dbid" in changes and changes["dbid"] != app.dbid:
        raise ValidationError(
            "dbid", f"{changes['dbid']} does not match the object being updated ({app.dbid})"
        )
    updated = dataclasses.replace(copy.deepcopy(app), **changes)
    validate_application(updated)
    return updated
