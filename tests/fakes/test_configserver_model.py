"""Configuration Server objects without I/O: transport parameters, listening modes,
validation rules, the Secured-port warning and the GAX JSON shape."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import pytest

from fakes.configserver import (
    CfgApplication,
    CfgPortInfo,
    CfgServerInfo,
    ListeningMode,
    ValidationError,
    format_transport_params,
    from_gax,
    is_mutual_tls,
    listening_mode,
    parse_transport_params,
    port_security_warnings,
    to_gax,
    transport_params_for,
    update_from_gax,
    validate_application,
)


def ucc_application(**changes: Any) -> CfgApplication:
    """The UC Connector's Application object before the page's steps."""
    app = CfgApplication(
        name="UCC_Connector",
        type="CFGThirdPartyServer",
        version="8.5.100.05",
        server_info=CfgServerInfo(host="ucc01.companya.com", port=7000),
        work_directory=r"C:\GCTI\UCConnector",
        command_line="ucc.bat",
    )
    return dataclasses.replace(app, **changes)


# --- transport parameters -------------------------------------------------------------


def test_transport_params_round_trip() -> None:
    text = "tls=1;tls-mutual=1;certificate=3f2a"
    params = parse_transport_params(text)
    assert params == {"tls": "1", "tls-mutual": "1", "certificate": "3f2a"}
    assert list(params) == ["tls", "tls-mutual", "certificate"]
    assert format_transport_params(params) == text


def test_transport_params_empty_and_trailing_semicolon() -> None:
    assert parse_transport_params("") == {}
    assert parse_transport_params("tls=1;") == {"tls": "1"}
    assert format_transport_params({}) == ""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tls", "not name=value"),
        ("=1", "empty name"),
        ("tls=1;;upgrade=0", "empty parameter"),
        ("tls = 1", "spaces"),
        ("tls=1; tls-mutual=1", "spaces"),
        ("tls=1;tls=0", "given twice"),
    ],
)
def test_malformed_transport_params_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment) as caught:
        parse_transport_params(text)
    assert caught.value.field == "transport_params"


def test_transport_params_must_be_a_string() -> None:
    with pytest.raises(ValidationError, match="string, not int"):
        parse_transport_params(1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "params",
    [{"": "1"}, {"a;b": "1"}, {"a=b": "1"}, {"tls": "1;upgrade=1"}, {"tls": " 1"}, {"tls": 1}],
)
def test_format_refuses_what_cannot_be_parsed_back(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        format_transport_params(params)


# --- listening modes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "mutual", "expected"),
    [
        (ListeningMode.UNSECURED, False, {}),
        (ListeningMode.SECURED, False, {"tls": "1"}),
        (ListeningMode.SECURED, True, {"tls": "1", "tls-mutual": "1"}),
        (ListeningMode.AUTO_DETECT, False, {"upgrade": "1"}),
        (ListeningMode.AUTO_DETECT, True, {"upgrade": "1", "tls-mutual": "1"}),
    ],
)
def test_listening_mode_maps_to_transport_params_and_back(
    mode: ListeningMode, mutual: bool, expected: dict[str, str]
) -> None:
    assert transport_params_for(mode, mutual_tls=mutual) == expected
    port = CfgPortInfo.with_mode("sip", 5061, conn_protocol="sip", mode=mode, mutual_tls=mutual)
    assert port.transport_params == format_transport_params(expected)
    assert listening_mode(port) is mode
    assert is_mutual_tls(port) is mutual


@pytest.mark.parametrize(
    ("text", "mode"),
    [("Secured", ListeningMode.SECURED), ("secured", ListeningMode.SECURED), ("Unsecured", ListeningMode.UNSECURED),
     ("Auto-detect", ListeningMode.AUTO_DETECT), ("AUTO_DETECT", ListeningMode.AUTO_DETECT)],
)
def test_listening_mode_parsed_from_the_drop_down_text(text: str, mode: ListeningMode) -> None:
    assert ListeningMode.parse(text) is mode


def test_unknown_listening_mode_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown Listening Mode 'TLS' \(choices: Unsecured, Secured, Auto-detect\)"):
        ListeningMode.parse("TLS")


def test_mode_change_keeps_other_transport_params() -> None:
    params = transport_params_for(ListeningMode.AUTO_DETECT, extra={"tls": "1", "tls-mutual": "1", "certificate": "ab"})
    assert params == {"certificate": "ab", "upgrade": "1"}


def test_mutual_tls_needs_a_tls_mode() -> None:
    with pytest.raises(ValidationError, match="Secured or Auto-detect"):
        transport_params_for(ListeningMode.UNSECURED, mutual_tls=True)


@pytest.mark.parametrize(
    ("text", "mode"),
    [("", ListeningMode.UNSECURED), ("tls=0", ListeningMode.UNSECURED), ("tls=1", ListeningMode.SECURED),
     ("upgrade=1", ListeningMode.AUTO_DETECT), ("certificate=ab;tls=1", ListeningMode.SECURED)],
)
def test_listening_mode_read_from_transport_params(text: str, mode: ListeningMode) -> None:
    assert listening_mode(CfgPortInfo("p", 5061, transport_params=text)) is mode


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("tls=1;upgrade=1", "either Secured"), ("tls=yes", "must be 0 or 1"), ("tls-mutual=1", "Unsecured port")],
)
def test_contradictory_mode_params_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        listening_mode(CfgPortInfo("p", 5061, transport_params=text))


# --- validation -----------------------------------------------------------------------


def secured_sip(port_id: str = "sip-secure") -> CfgPortInfo:
    return CfgPortInfo.with_mode(port_id, 5061, conn_protocol="sip", mode=ListeningMode.SECURED)


def test_the_page_end_state_is_valid() -> None:
    app = ucc_application(options={"Microsoft-OCS": {"password": "Kerb#1"}}, port_infos=[secured_sip()])
    validate_application(app)


def with_port(**changes: Any) -> Callable[[CfgApplication], None]:
    def mutate(app: CfgApplication) -> None:
        app.port_infos = [dataclasses.replace(secured_sip(), **changes)]

    return mutate


def setting(attr: str, value: Any) -> Callable[[CfgApplication], None]:
    return lambda app: setattr(app, attr, value)


def server_info(**changes: Any) -> Callable[[CfgApplication], None]:
    return lambda app: setattr(app, "server_info", dataclasses.replace(app.server_info, **changes))


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (setting("name", ""), "name", "needs a name"),
        (setting("name", "x" * 256), "name", "at most 255"),
        (setting("name", 5), "name", "must be a string"),
        (setting("dbid", 0), "dbid", "out of range"),
        (setting("type", "GenericServer"), "type", "CFG"),
        (setting("state", "Enabled"), "state", "CFGEnabled"),
        (setting("options", {"": {"password": "x"}}), "options", "section names"),
        (setting("options", {"Microsoft-OCS": {"": "x"}}), "options['Microsoft-OCS']", "option names"),
        (setting("options", {"Microsoft-OCS": {"password": 1234}}), "options['Microsoft-OCS']['password']", "strings"),
        (setting("options", {"Microsoft-OCS": "password=x"}), "options['Microsoft-OCS']", "map option names"),
        (setting("user_properties", {"s": {"k": None}}), "user_properties['s']['k']", "strings"),
        (with_port(port=0), "port_infos[0] (port ID 'sip-secure').port", "out of range"),
        (with_port(port=70000), "port_infos[0] (port ID 'sip-secure').port", "70000 is out of range (1..65535)"),
        (with_port(port="5061"), "port_infos[0] (port ID 'sip-secure').port", "must be an integer"),
        (with_port(port=True), "port_infos[0] (port ID 'sip-secure').port", "must be an integer"),
        (with_port(id=""), "port_infos[0].id", "needs a Port ID"),
        (with_port(id=None), "port_infos[0].id", "must be a string"),
        (with_port(conn_protocol="ftp"), "port_infos[0] (port ID 'sip-secure').conn_protocol", "unknown connection"),
        (with_port(transport_params="tls = 1"), "port_infos[0] (port ID 'sip-secure').transport_params", "spaces"),
        (with_port(transport_params="tls=1;upgrade=1"), "port_infos[0] (port ID 'sip-secure').transport_params",
         "either Secured"),
        (server_info(port=70000), "server_info.port", "out of range"),
        (server_info(timeout=-1), "server_info.timeout", "out of range"),
        (setting("startup_timeout", -5), "startup_timeout", "out of range"),
        (setting("startup_timeout", 2**31), "startup_timeout", "2147483648 is out of range (0..2147483647)"),
        (setting("dbid", 10**30), "dbid", "out of range (1..2147483647)"),
        (server_info(attempts=10**20), "server_info.attempts", "out of range (0..2147483647)"),
        (setting("auto_restart", "yes"), "auto_restart", "true or false"),
        (setting("redundancy_type", "HA"), "redundancy_type", "CFGHTNoHAType"),
        (setting("command_line_arguments", ["-krb_conf_file"]), "command_line_arguments", "must be a string"),
    ],
)
def test_each_rule_names_the_field(mutate: Callable[[CfgApplication], None], field: str, fragment: str) -> None:
    app = ucc_application()
    mutate(app)
    with pytest.raises(ValidationError) as caught:
        validate_application(app)
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_port_ids_are_unique_per_application() -> None:
    app = ucc_application(port_infos=[secured_sip("sip"), CfgPortInfo("sip", 5062, conn_protocol="sip")])
    with pytest.raises(ValidationError, match="port ID 'sip' is already used by port_infos\\[0\\]") as caught:
        validate_application(app)
    assert caught.value.field == "port_infos[1].id"


# --- the Secured-port warning ---------------------------------------------------------


def test_adding_a_secured_port_without_certificate_warns() -> None:
    before = ucc_application()
    after = ucc_application(port_infos=[secured_sip()])
    (warning,) = port_security_warnings(after, before)
    assert "'sip-secure' (5061)" in warning
    assert "Secured (tls=1)" in warning
    assert "no TLS certificate" in warning


def test_auto_detect_port_warns_too() -> None:
    port = CfgPortInfo.with_mode("sip", 5061, conn_protocol="sip", mode=ListeningMode.AUTO_DETECT)
    (warning,) = port_security_warnings(ucc_application(port_infos=[port]))
    assert "Auto-detect (upgrade=1)" in warning


@pytest.mark.parametrize(
    "app",
    [
        ucc_application(port_infos=[CfgPortInfo("sip", 5060, conn_protocol="sip")]),
        ucc_application(port_infos=[CfgPortInfo("sip", 5061, conn_protocol="sip", transport_params="tls=1;certificate=ab")]),
        ucc_application(options={"security": {"certificate": "ab"}}, port_infos=[secured_sip()]),
        ucc_application(user_properties={"security": {"certificate": "ab"}}, port_infos=[secured_sip()]),
    ],
    ids=["unsecured", "port-certificate", "application-certificate", "annex-certificate"],
)
def test_no_warning_when_nothing_to_warn_about(app: CfgApplication) -> None:
    assert port_security_warnings(app) == []


def test_warning_comes_on_adding_the_port_not_on_every_later_change() -> None:
    before = ucc_application(port_infos=[secured_sip()])
    after = ucc_application(port_infos=[secured_sip()], command_line_arguments="-krb_conf_file krb5.conf")
    assert port_security_warnings(after, before) == []
    was_unsecured = ucc_application(port_infos=[CfgPortInfo("sip-secure", 5061, conn_protocol="sip")])
    assert len(port_security_warnings(after, was_unsecured)) == 1


# --- GAX JSON -------------------------------------------------------------------------


def test_gax_shape() -> None:
    app = ucc_application(dbid=101, options={"Microsoft-OCS": {"password": "Kerb#1"}}, port_infos=[secured_sip()])
    doc = to_gax(app)
    assert doc["dbid"] == "101"
    assert doc["type"] == "CfgApplication"
    assert doc["subtype"] == "CFGThirdPartyServer"
    assert doc["state"] == "CFGEnabled"
    assert doc["autorestart"] == "CFGFalse"
    assert doc["options"] == {"property": [{"section": "Microsoft-OCS", "key": "password", "value": "Kerb#1"}]}
    assert doc["portinfos"] == {
        "portinfo": [
            {"id": "sip-secure", "port": "5061", "connprotocol": "sip", "transportparams": "tls=1",
             "appparams": "", "description": ""}
        ]
    }
    assert doc["serverinfo"] == {"host": "ucc01.companya.com", "port": "7000", "backupserver": "",
                                 "timeout": "10", "attempts": "1"}
    assert all(key == key.lower() for key in doc)
    assert from_gax(doc) == app


def test_gax_accepts_json_numbers_and_booleans() -> None:
    app = from_gax({"name": "UCC", "startuptimeout": 30, "autorestart": True,
                    "portinfos": {"portinfo": [{"id": "sip", "port": 5061}]}})
    assert (app.startup_timeout, app.auto_restart, app.port_infos[0].port) == (30, True, 5061)


@pytest.mark.parametrize(
    ("doc", "field", "fragment"),
    [
        ([], "body", "JSON object"),
        ({"name": "UCC", "colour": "red"}, "colour", "unknown field"),
        ({"Name": "UCC"}, "Name", "all lowercase"),
        ({"type": "CfgHost", "name": "UCC"}, "type", "'CfgApplication'"),
        ({"version": "8.5"}, "name", "required"),
        ({"name": 42}, "name", "must be a string, got int"),
        ({"name": "UCC", "startuptimeout": "soon"}, "startuptimeout", "must be an integer"),
        ({"name": "UCC", "startuptimeout": "9" * 40}, "startuptimeout", "must be an integer"),
        ({"name": "UCC", "autorestart": "yes"}, "autorestart", "CFGTrue"),
        ({"name": "UCC", "options": {"property": [{"section": "s", "key": "k"}]}}, "options.property[0].value",
         "required"),
        ({"name": "UCC", "options": {"property": [{"section": "s", "key": "k", "value": 1}]}},
         "options.property[0].value", "must be a string"),
        ({"name": "UCC", "options": {"property": [{"section": "s", "key": "k", "value": "1"}] * 2}},
         "options.property[1]", "given twice"),
        ({"name": "UCC", "options": [{"section": "s"}]}, "options", "JSON object"),
        ({"name": "UCC", "portinfos": {"portinfo": {"id": "sip"}}}, "portinfos.portinfo", "JSON array"),
        ({"name": "UCC", "portinfos": {"portinfo": [{"id": "sip"}]}}, "portinfos.portinfo[0].port", "required"),
        ({"name": "UCC", "portinfos": {"portinfo": [{"id": "sip", "port": "5061", "tls": "1"}]}},
         "portinfos.portinfo[0].tls", "unknown field"),
        ({"name": "UCC", "serverinfo": {"host": "h", "port": "x"}}, "serverinfo.port", "must be an integer"),
        ({"name": "UCC", "portinfos": {"portinfo": [{"id": "sip", "port": "70000"}]}},
         "port_infos[0] (port ID 'sip').port", "out of range"),
    ],
)
def test_gax_errors_name_the_field(doc: Any, field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        from_gax(doc)
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_update_from_gax_replaces_only_the_fields_given() -> None:
    app = ucc_application(dbid=101, port_infos=[secured_sip()])
    updated = update_from_gax(app, {"options": {"property": [{"section": "Microsoft-OCS", "key": "password",
                                                              "value": "Kerb#1"}]}})
    assert updated.option("Microsoft-OCS", "password") == "Kerb#1"
    assert updated.port_infos == app.port_infos
    assert app.options == {}  # the original is untouched
    with pytest.raises(ValidationError, match="does not match"):
        update_from_gax(app, {"dbid": "102"})
    with pytest.raises(ValidationError, match="out of range"):
        update_from_gax(app, {"portinfos": {"portinfo": [{"id": "sip", "port": "0"}]}})
