"""The GAX API over real sockets: login, the page's Configuration Server steps through the
client and as raw JSON, restarts on the same database, and bad requests answered with
clear 4xx while the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from fakes.configserver import (
    CfgApplication,
    CfgPortInfo,
    ConfigServer,
    ConfigServerClient,
    ConfigServerError,
    ListeningMode,
    listening_mode,
    main,
)
from fakes.configserver.server import USER_ENV

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
API = "gax/api"
APPS = f"{API}/cfg/objects/CfgApplication"
# The account the test servers are given; there is no built-in one.
USER, PASSWORD = "operator", "Op3rator-pass"


class RunningServer:
    """A ConfigServer on its own event loop in a background thread, as another process would be."""

    def __init__(self, db: Path, **options: Any) -> None:
        options.setdefault("users", {USER: PASSWORD})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        try:
            self.server = self._call(self._start(db, options))
        except BaseException:
            self._stop_loop()
            raise
        self.url = self.server.url

    @staticmethod
    async def _start(db: Path, options: dict[str, Any]) -> ConfigServer:
        server = ConfigServer(db, **options)
        await server.start()
        return server

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def stop(self) -> None:
        self._call(self.server.close())
        self._stop_loop()


@pytest.fixture(autouse=True)
def no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever a test sends, the server logs no internal error (it runs in this process)."""
    yield
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("fakes.configserver") and r.levelno >= logging.ERROR]
    assert errors == []


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = RunningServer(tmp_path / "confserv.db")
    yield running
    running.stop()


def logged_in(url: str, username: str = USER, password: str = PASSWORD) -> requests.Session:
    http = requests.Session()
    answer = http.post(url + f"{API}/session/login", json={"username": username, "password": password}, timeout=5)
    assert answer.status_code == 200, answer.text
    http.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return http


@pytest.fixture
def http(server: RunningServer) -> Iterator[requests.Session]:
    with logged_in(server.url) as session:
        yield session


def assert_error(answer: requests.Response, status: int, *fragments: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == status
    for fragment in fragments:
        assert fragment in body["message"], body["message"]


def assert_still_serving_as(url: str, username: str, password: str) -> None:
    with logged_in(url, username, password) as http:
        assert http.get(url + APPS, timeout=5).status_code == 200


def assert_still_serving(url: str) -> None:
    assert_still_serving_as(url, USER, PASSWORD)


# --- login ----------------------------------------------------------------------------


def test_login_with_a_configured_account(server: RunningServer) -> None:
    answer = requests.post(server.url + f"{API}/session/login", json={"username": USER, "password": PASSWORD},
                           timeout=5)
    assert answer.status_code == 200
    token = answer.json()["token"]
    assert answer.cookies["JSESSIONID"] == token
    # The cookie alone is enough, as in a browser.
    assert requests.get(server.url + APPS, cookies={"JSESSIONID": token}, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"username": USER, "password": "wrong"}, 401, "wrong user name or password"),
        ({"username": "nobody", "password": PASSWORD}, 401, "wrong user name or password"),
        # Genesys's fixed account of a fresh Configuration Server is not built in.
        ({"username": "default", "password": "password"}, 401, "wrong user name or password"),
        ({"username": USER}, 400, "username and password are required"),
        ({"username": USER, "password": PASSWORD, "tenant": "x"}, 400, "unknown field(s) in the login body: tenant"),
        ([USER, PASSWORD], 400, "JSON object"),
    ],
)
def test_bad_logins(server: RunningServer, body: Any, status: int, fragment: str) -> None:
    assert_error(requests.post(server.url + f"{API}/session/login", json=body, timeout=5), status, fragment)


def test_an_account_named_default_still_needs_its_own_password(tmp_path: Path) -> None:
    running = RunningServer(tmp_path / "db", users={"admin": "S3cret", "default": "Lab-own-pass1"})
    try:
        login = running.url + f"{API}/session/login"
        assert requests.post(login, json={"username": "admin", "password": "S3cret"}, timeout=5).status_code == 200
        assert requests.post(login, json={"username": "default", "password": "Lab-own-pass1"}, timeout=5).status_code == 200
        refused = requests.post(login, json={"username": "default", "password": "password"}, timeout=5)
        assert_error(refused, 401, "wrong user name or password")
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("users", "fragment"),
    [({}, "at least one account"), ({"default": ""}, "non-empty"), ({"": "x"}, "non-empty"),
     ({"default": "\udcff"}, "must be Unicode text")],
)
def test_a_server_needs_real_accounts(tmp_path: Path, users: dict[str, str], fragment: str) -> None:
    db = tmp_path / "confserv.db"
    with pytest.raises(ValueError, match=fragment):
        ConfigServer(db, users=users)
    with pytest.raises(TypeError):
        ConfigServer(db)  # type: ignore[call-arg]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-session"}, {"Authorization": "Basic ZGVmYXVsdA=="}])
def test_cfg_calls_need_a_session(server: RunningServer, headers: dict[str, str]) -> None:
    answer = requests.get(server.url + APPS, headers=headers, timeout=5)
    assert_error(answer, 401, "not logged in")
    assert answer.headers["WWW-Authenticate"] == "Bearer"


# --- the page's steps, then a restart -------------------------------------------------


def test_page_steps_through_the_client_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "confserv.db"
    first = RunningServer(db)

    async def configure() -> tuple[CfgApplication, list[str]]:
        async with ConfigServerClient(first.url, USER, PASSWORD) as cfg:
            created = await cfg.create_application(
                CfgApplication(name="UCC_Connector", type="CFGThirdPartyServer", command_line="ucc.bat")
            )
            # "Creating a Password for Kerberos Security", step 3.
            await cfg.set_option("UCC_Connector", "Microsoft-OCS", "password", "Kerb#Pass1")
            # "Configuring a Secure SIP Port", steps 1 and 2.
            port = CfgPortInfo.with_mode("sip-secure", 5061, conn_protocol="sip", mode=ListeningMode.SECURED)
            return created, await cfg.add_port("UCC_Connector", port)

    try:
        created, warnings = asyncio.run(configure())
    finally:
        first.stop()
    assert created.dbid == 101
    (warning,) = warnings
    assert "'sip-secure' (5061)" in warning and "Secured (tls=1)" in warning and "certificate" in warning

    second = RunningServer(db)

    async def read_back() -> CfgApplication | None:
        async with ConfigServerClient(second.url, USER, PASSWORD) as cfg:
            return await cfg.find_application("UCC_Connector")

    try:
        app = asyncio.run(read_back())
        with logged_in(second.url) as http:
            raw = http.get(second.url + f"{APPS}/101", timeout=5).json()
    finally:
        second.stop()
    assert app is not None and app.dbid == 101
    assert app.option("Microsoft-OCS", "password") == "Kerb#Pass1"
    port = app.port("sip-secure")
    assert port is not None and port.conn_protocol == "sip" and listening_mode(port) is ListeningMode.SECURED
    assert {"section": "Microsoft-OCS", "key": "password", "value": "Kerb#Pass1"} in raw["options"]["property"]
    assert raw["portinfos"]["portinfo"][0]["transportparams"] == "tls=1"


def test_page_steps_as_raw_json_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "confserv.db"
    first = RunningServer(db)
    try:
        with logged_in(first.url) as http:
            answer = http.post(first.url + f"{API}/cfg/objects", timeout=5, json={
                "type": "CfgApplication", "subtype": "CFGThirdPartyServer", "name": "UCC_Connector",
                "version": "8.5.100.05", "state": "CFGEnabled",
            })
            assert answer.status_code == 201, answer.text
            created = answer.json()
            assert created["dbid"] == "101" and created["warnings"] == []
            assert answer.headers["Location"] == f"/{APPS}/101"

            options = {"property": [{"section": "Microsoft-OCS", "key": "password", "value": "Kerb#Pass1"}]}
            answer = http.put(first.url + f"{APPS}/101", json={"options": options}, timeout=5)
            assert answer.status_code == 200 and answer.json()["warnings"] == []

            ports = {"portinfo": [{"id": "sip-secure", "port": "5061", "connprotocol": "sip", "transportparams": "tls=1"}]}
            answer = http.put(first.url + f"{APPS}/101", json={"portinfos": ports}, timeout=5)
            assert answer.status_code == 200
            (warning,) = answer.json()["warnings"]
            assert "Secured (tls=1)" in warning
            assert answer.json()["options"] == options  # the earlier change is kept
    finally:
        first.stop()

    second = RunningServer(db)
    try:
        with logged_in(second.url) as http:
            listed = http.get(second.url + APPS, params={"name": "UCC_Connector"}, timeout=5).json()
            assert http.get(second.url + APPS, params={"name": "nobody"}, timeout=5).json() == []
    finally:
        second.stop()
    (app,) = listed
    assert app["dbid"] == "101" and app["subtype"] == "CFGThirdPartyServer"
    assert app["options"]["property"] == [{"section": "Microsoft-OCS", "key": "password", "value": "Kerb#Pass1"}]
    assert app["portinfos"]["portinfo"][0] == {
        "id": "sip-secure", "port": "5061", "connprotocol": "sip", "transportparams": "tls=1",
        "appparams": "", "description": "",
    }


def test_client_renews_a_session_the_server_forgot(tmp_path: Path) -> None:
    db = tmp_path / "confserv.db"
    first = RunningServer(db)
    first_url = first.url

    async def scenario() -> None:
        async with ConfigServerClient(first_url, USER, PASSWORD) as cfg:
            await cfg.create_application(CfgApplication(name="UCC"))
            first.stop()
            second = RunningServer(db)  # same database, fresh session table
            try:
                cfg.base_url = second.url
                assert (await cfg.find_application("UCC")) is not None
            finally:
                second.stop()

    asyncio.run(scenario())


def test_client_errors_carry_status_and_message(server: RunningServer) -> None:
    async def scenario() -> None:
        async with ConfigServerClient(server.url, USER, PASSWORD) as cfg:
            with pytest.raises(ConfigServerError) as caught:
                await cfg.get_application(4242)
            assert caught.value.status == 404 and "dbid 4242" in caught.value.message
            await cfg.create_application(CfgApplication(name="UCC"))
            with pytest.raises(ConfigServerError) as caught:
                await cfg.create_application(CfgApplication(name="UCC"))
            assert caught.value.status == 400 and "already exists" in caught.value.message
            await cfg.add_port("UCC", CfgPortInfo("sip", 5060, conn_protocol="sip"))
            with pytest.raises(ConfigServerError, match="port ID 'sip' is already used"):
                await cfg.add_port("UCC", CfgPortInfo("sip", 5061, conn_protocol="sip"))
            await cfg.remove_port("UCC", "sip")
            with pytest.raises(ConfigServerError, match="'UCC' has no port 'sip'") as caught:
                await cfg.remove_port(101, "sip")
            assert caught.value.status == 404
            await cfg.add_port(101, CfgPortInfo("sip", 5060, conn_protocol="sip"))
            with pytest.raises(ConfigServerError, match="no CfgApplication named 'Nope'"):
                await cfg.set_option("Nope", "Microsoft-OCS", "password", "x")
            app = await cfg.find_application("UCC")
            assert app is not None
            app.port_infos[0].port = 70000
            with pytest.raises(ConfigServerError, match="70000 is out of range"):
                await cfg.update_application(app)
            await cfg.delete_application(101)
            assert await cfg.list_applications() == []

        with pytest.raises(ConfigServerError, match="login as 'operator' failed: login failed: wrong user name"):
            async with ConfigServerClient(server.url, USER, "wrong"):
                pass

    asyncio.run(scenario())


def test_client_reports_an_unreachable_server() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/"

    async def scenario() -> None:
        async with ConfigServerClient(url, USER, PASSWORD):
            pass

    with pytest.raises(ConfigServerError, match="cannot reach Configuration Server") as caught:
        asyncio.run(scenario())
    assert caught.value.status is None


# --- bad requests ---------------------------------------------------------------------


UCC = {"type": "CfgApplication", "name": "UCC_Connector"}


@pytest.mark.parametrize(
    ("data", "content_type", "status", "fragments"),
    [
        (b'{"type": "CfgApplication", "name": ', "application/json", 400, ["not valid JSON", "line 1"]),
        (b"\xff\xfe{}", "application/json", 400, ["not UTF-8"]),
        pytest.param(b"[" * 50_000 + b"]" * 50_000, "application/json", 400, ["nests deeper than 16 levels"],
                     id="deep-nesting"),
        (json.dumps(UCC).encode(), "text/plain", 415, ["application/json", "text/plain"]),
        (json.dumps({"name": "UCC"}).encode(), "application/json", 400, ['"type": "CfgApplication"']),
        (json.dumps({**UCC, "name": 5}).encode(), "application/json", 400, ["name: must be a string, got int"]),
        (json.dumps({**UCC, "startuptimeout": "soon"}).encode(), "application/json", 400, ["startuptimeout"]),
        (json.dumps({**UCC, "colour": "red"}).encode(), "application/json", 400, ["colour", "unknown field"]),
        (json.dumps({**UCC, "dbid": "7"}).encode(), "application/json", 400, ["assigns the dbid"]),
        (json.dumps({**UCC, "portinfos": {"portinfo": [
            {"id": "sip", "port": "5061", "connprotocol": "sip"},
            {"id": "sip", "port": "5062", "connprotocol": "sip"}]}}).encode(),
         "application/json", 400, ["port ID 'sip' is already used"]),
        (json.dumps({**UCC, "portinfos": {"portinfo": [{"id": "sip", "port": "70000"}]}}).encode(),
         "application/json", 400, ["port ID 'sip'", "70000 is out of range (1..65535)"]),
        (json.dumps({**UCC, "portinfos": {"portinfo": [{"id": "sip", "port": "5061", "transportparams": "tls = 1"}]}}
                    ).encode(), "application/json", 400, ["transport_params", "spaces"]),
        (json.dumps({**UCC, "options": {"property": [{"section": "Microsoft-OCS", "key": "password", "value": 1}]}}
                    ).encode(), "application/json", 400, ["options.property[0].value", "must be a string"]),
        # Hostile input that Python's json module accepts, or chokes on with its own words.
        pytest.param(b'{"type": "CfgApplication", "name": "\\ud800"}', "application/json", 400,
                     ["name: the string holds a lone UTF-16 surrogate (\\ud800 at character 0)"], id="surrogate-name"),
        pytest.param(b'{"type": "CfgApplication", "name": "UCC", "options": {"property": [{"section": "a\\udc00", '
                     b'"key": "k", "value": "v"}]}}', "application/json", 400,
                     ["options.property[0].section: the string holds a lone UTF-16 surrogate (\\udc00 at character 1)"],
                     id="surrogate-section"),
        pytest.param(b'{"type": "CfgApplication", "name": "UCC", "\\ud83d": 1}', "application/json", 400,
                     ["a field name under the top level holds a lone UTF-16 surrogate"], id="surrogate-key"),
        pytest.param(b'{"type": "CfgApplication", "name": "\xed\xa0\x80"}', "application/json", 400,
                     ["not UTF-8 text (invalid continuation byte at byte 36)"], id="surrogate-as-utf8-bytes"),
        pytest.param(b'{"type": "CfgApplication", "name": "UCC", "name": "Other"}', "application/json", 400,
                     ["names 'name' twice in one object"], id="duplicate-key"),
        pytest.param(b'{"type": "CfgApplication", "name": "UCC", "startuptimeout": NaN}', "application/json", 400,
                     ["holds NaN, which is not a JSON value"], id="nan"),
        pytest.param(b'{"type": "CfgApplication", "name": "UCC", "startuptimeout": 1e400}', "application/json", 400,
                     ["startuptimeout: must be an integer", "got float inf"], id="float-overflow"),
        # A number the store could not read back once written (it once poisoned the database).
        pytest.param(b'{"type": "CfgApplication", "name": "UCC", "startuptimeout": 99999999999999999999999}',
                     "application/json", 400, ["startup_timeout: 99999999999999999999999 is out of range (0..2147483647)"],
                     id="int-past-32-bits"),
        pytest.param(b'{"type": "CfgApplication", "name": "UCC", "serverinfo": {"timeout": "999999999999999999"}}',
                     "application/json", 400, ["server_info.timeout: 999999999999999999 is out of range"],
                     id="string-int-past-32-bits"),
        pytest.param(b'{"type": "CfgApplication", "name": "UCC", "startuptimeout": ' + b"9" * 5000 + b"}",
                     "application/json", 400, ["a number of 5000 characters", "at most 40"], id="huge-number"),
        pytest.param(b'\xef\xbb\xbf{"type": "CfgApplication", "name": "UCC"}', "application/json", 400,
                     ["byte order mark"], id="bom"),
        pytest.param(json.dumps({**UCC, "annex": {"a": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}}).encode(),
                     "application/json", 400, ["annex.a[0][0][0][0][0][0][0][0][0][0][0][0][0][0]",
                                               "nests deeper than 16 levels"], id="nesting-17"),
        pytest.param(json.dumps({**UCC, "options": None}).encode(), "application/json", 400,
                     ["options: must be a JSON object, got null"], id="null-options"),
        pytest.param(json.dumps({**UCC, "serverinfo": ["ucc01"]}).encode(), "application/json", 400,
                     ["serverinfo: must be a JSON object, got array"], id="array-serverinfo"),
        pytest.param(json.dumps({**UCC, "portinfos": {"portinfo": "sip"}}).encode(), "application/json", 400,
                     ["portinfos.portinfo: must be a JSON array, got str"], id="string-portinfo"),
        pytest.param(json.dumps({**UCC, "portinfos": {"portinfo": [{"id": ["sip"], "port": True}]}}).encode(),
                     "application/json", 400, ["portinfos.portinfo[0].id: must be a string, got array"],
                     id="array-port-id"),
        pytest.param(json.dumps({**UCC, "isserver": 1}).encode(), "application/json", 400,
                     ['isserver: must be "CFGTrue" or "CFGFalse", got int 1'], id="int-flag"),
        pytest.param(json.dumps({**UCC, "Name": "x"}).encode(), "application/json", 400,
                     ["Name: unknown field (GAX field names are all lowercase)"], id="capitalised-field"),
    ],
)
def test_bad_creates_are_clear_4xx(
    server: RunningServer, http: requests.Session, data: bytes, content_type: str, status: int, fragments: list[str]
) -> None:
    answer = http.post(server.url + f"{API}/cfg/objects", data=data, headers={"Content-Type": content_type}, timeout=5)
    assert_error(answer, status, *fragments)
    assert_still_serving(server.url)


def test_bad_paths_and_updates(server: RunningServer, http: requests.Session) -> None:
    assert http.post(server.url + f"{API}/cfg/objects", json=UCC, timeout=5).status_code == 201
    assert_error(http.get(server.url + f"{APPS}/999", timeout=5), 404, "no CfgApplication with dbid 999")
    assert_error(http.put(server.url + f"{APPS}/999", json={"version": "1"}, timeout=5), 404, "dbid 999")
    assert_error(http.delete(server.url + f"{APPS}/999", timeout=5), 404, "dbid 999")
    assert_error(http.get(server.url + f"{APPS}/abc", timeout=5), 400, "positive decimal integer")
    assert_error(http.get(server.url + f"{API}/cfg/objects/CfgHost", timeout=5), 404, "'CfgHost' is not held")
    assert_error(http.get(server.url + "nowhere", timeout=5), 404, "no such resource: GET /nowhere")
    assert_error(http.patch(server.url + f"{APPS}/101", json={}, timeout=5), 405, "PATCH is not allowed")
    assert_error(http.put(server.url + f"{APPS}/101", json={"dbid": "102"}, timeout=5), 400, "does not match")
    assert_error(http.put(server.url + f"{APPS}/101", json={"state": "Enabled"}, timeout=5), 400, "state", "CFGEnabled")
    assert_error(http.put(server.url + f"{APPS}/101", json=["x"], timeout=5), 400, "JSON object")
    # The object is unchanged by the refused updates.
    assert http.get(server.url + f"{APPS}/101", timeout=5).json()["state"] == "CFGEnabled"
    assert_still_serving(server.url)


def test_oversized_body_is_413(tmp_path: Path) -> None:
    running = RunningServer(tmp_path / "db", max_body=4096)
    try:
        with logged_in(running.url) as http:
            big = {**UCC, "description": "x" * 10_000}
            answer = http.post(running.url + f"{API}/cfg/objects", json=big, timeout=5)
            assert_error(answer, 413, "limit is 4096 bytes")
        assert_still_serving(running.url)
    finally:
        running.stop()


def test_hostile_updates_and_logins_are_clear_4xx(server: RunningServer, http: requests.Session) -> None:
    assert http.post(server.url + f"{API}/cfg/objects", json=UCC, timeout=5).status_code == 201
    before = http.get(server.url + f"{APPS}/101", timeout=5).json()
    json_headers = {"Content-Type": "application/json"}
    for body, fragment in [
        (b'{"name": "\\ud800"}', "name: the string holds a lone UTF-16 surrogate"),
        (b'{"version": "1", "version": "2"}', "names 'version' twice"),
        (b'{"commandlinearguments": "-app \\udfff"}', "commandlinearguments: the string holds a lone"),
        (b'{"options": {"property": [{"section": "s", "key": "k", "value": "v", "extra": 1}]}}',
         "options.property[0].extra: unknown field"),
        (b'{"portinfos": {"portinfo": [{"id": "sip", "port": "5061", "transportparams": "tls=1;upgrade=1"}]}}',
         "both tls=1 and upgrade=1"),
    ]:
        answer = http.put(server.url + f"{APPS}/101", data=body, headers=json_headers, timeout=5)
        assert_error(answer, 400, fragment)
    assert http.get(server.url + f"{APPS}/101", timeout=5).json() == before  # nothing was written

    login = server.url + f"{API}/session/login"
    for body, fragment in [
        (b'{"username": "operator", "password": "\\ud800"}', "password: the string holds a lone UTF-16 surrogate"),
        (b'{"username": "\\udc00", "password": "x"}', "username: the string holds a lone UTF-16 surrogate"),
        (b'{"username": "operator", "username": "default", "password": "x"}', "names 'username' twice"),
    ]:
        assert_error(requests.post(login, data=body, headers=json_headers, timeout=5), 400, fragment)
    assert_still_serving(server.url)


def test_bodies_over_the_default_cap_are_413(server: RunningServer, http: requests.Session) -> None:
    huge = {**UCC, "commandlinearguments": "x" * (2 * 1024 * 1024)}
    assert_error(http.post(server.url + f"{API}/cfg/objects", json=huge, timeout=10), 413, "limit is 1048576 bytes")

    # Chunked, so the size is known only while reading.
    def chunks() -> Iterator[bytes]:
        yield b'{"type": "CfgApplication", "name": "UCC", "commandline": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    answer = http.post(server.url + f"{API}/cfg/objects", data=chunks(), headers={"Content-Type": "application/json"},
                       timeout=10)
    assert_error(answer, 413, "limit is 1048576 bytes")
    assert_still_serving(server.url)


def head(server: RunningServer, method: str, path: str, extra: str) -> bytes:
    return (f"{method} /{path} HTTP/1.1\r\nHost: 127.0.0.1:{server.server.port}\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n").encode()


def read_response(conn: socket.socket) -> tuple[bytes, bytes, bytes]:
    """One response from ``conn``: its status line, its header block and its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"the connection closed mid-response: {data!r}"
        data += chunk
    header_block, _, body = data.partition(b"\r\n\r\n")
    status_line, _, headers = header_block.partition(b"\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in headers.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, "the connection closed mid-body"
        body += chunk
    return status_line, headers, body


def test_expect_continue_is_refused_before_the_body_when_it_would_be(server: RunningServer) -> None:
    token = logged_in(server.url).headers["Authorization"]
    cases = [
        # Announces more than the limit: 413 at once, no 100, so the body is never sent.
        (f"Authorization: {token}\r\nExpect: 100-continue\r\nContent-Length: 10000000000\r\n", 413,
         "10000000000 bytes announced, the limit is 1048576"),
        # Not logged in: 401 before the body.
        ("Expect: 100-continue\r\nContent-Length: 20\r\n", 401, "not logged in"),
        (f"Authorization: {token}\r\nExpect: 200-ok\r\nContent-Length: 20\r\n", 417,
         "unsupported expectation '200-ok'"),
    ]
    host, port = server.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    for extra, status, fragment in cases:
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(head(server, "POST", f"{API}/cfg/objects", extra))
            status_line, headers, body = read_response(conn)
        assert status_line.split(b" ")[1] == str(status).encode(), status_line  # not 100
        # The body announced was never read: the connection is not reused for another request.
        assert b"Connection: close" in headers.split(b"\r\n")
        assert fragment in json.loads(body)["message"]
    assert_still_serving(server.url)


def test_expect_continue_then_the_body_creates(server: RunningServer) -> None:
    token = logged_in(server.url).headers["Authorization"]
    body = json.dumps(UCC).encode()
    extra = f"Authorization: {token}\r\nExpect: 100-continue\r\nContent-Length: {len(body)}\r\n"
    host, port = server.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(head(server, "POST", f"{API}/cfg/objects", extra))
        assert conn.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(body)
        status_line, _, answer = read_response(conn)
    assert status_line == b"HTTP/1.1 201 Created" and json.loads(answer)["dbid"] == "101"


def test_a_client_that_hangs_up_mid_body_is_no_internal_error(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = logged_in(server.url).headers["Authorization"]
    host, port = server.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    with caplog.at_level("INFO", logger="fakes.configserver"):
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(head(server, "PUT", f"{APPS}/101", f"Authorization: {token}\r\nContent-Length: 100\r\n"))
            conn.sendall(b'{"version": ')
        assert_still_serving(server.url)
        # The server saw the hang-up (it runs in this process: its log is captured here).
        deadline = time.monotonic() + 5
        while not any("hung up" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert any("client hung up before its request body was complete" in r.getMessage() for r in caplog.records)


def raw_exchange(url: str, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; what the server answers before it hangs up."""
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        if not data:
            return b""  # connect and hang up at once
        chunks = []
        try:
            conn.sendall(data)
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            # The server hung up with some of our bytes unread; the kernel then resets the
            # connection and may drop its answer. Whether it survived is checked after.
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # a TLS ClientHello to a plain port
        os.urandom(2048) + b"\r\n\r\n",
        b"REGISTER sip:companya.com SIP/2.0\r\nVia: SIP/2.0/TLS x\r\n\r\n",
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",
        b"",
    ],
    ids=["tls-hello", "random", "sip", "huge-request-line", "empty"],
)
def test_garbage_on_the_socket_does_not_kill_the_server(server: RunningServer, garbage: bytes) -> None:
    answer = raw_exchange(server.url, garbage)
    if answer:
        status_line = answer.split(b"\r\n", 1)[0]
        assert status_line in (b"HTTP/1.0 400 Bad Request", b"HTTP/1.1 400 Bad Request"), answer[:200]
    assert_still_serving(server.url)


# --- running alone --------------------------------------------------------------------


class Module:
    """``python -m fakes.configserver`` in a process of its own, until :meth:`stop`."""

    def __init__(self, db: Path, *args: str, env: dict[str, str] | None = None) -> None:
        environ = {k: v for k, v in os.environ.items() if k != USER_ENV}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fakes.configserver", "--db", str(db), *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url:
            self.stop()
            raise AssertionError(f"the module did not serve: {self.stderr}")

    def stop(self) -> int:
        """SIGTERM, then the exit status; :attr:`stderr` holds all it wrote there."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.stderr = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
        return self.proc.returncode


def login_status(url: str, username: str, password: str) -> int:
    body = {"username": username, "password": password}
    return requests.post(url + f"{API}/session/login", json=body, timeout=5).status_code


def test_module_serves_the_accounts_given_until_sigterm(tmp_path: Path) -> None:
    module = Module(tmp_path / "confserv.db", "--user", "admin:Adm1n:with-colon", "--user", "viewer:V1ewer-pass")
    try:
        assert module.url.startswith("http://127.0.0.1:") and module.url.endswith("/")
        assert_still_serving_as(module.url, "admin", "Adm1n:with-colon")
        assert login_status(module.url, "viewer", "V1ewer-pass") == 200
        assert login_status(module.url, "default", "password") == 401
    finally:
        status = module.stop()
    assert status == 0
    assert "Adm1n" not in module.stderr and "V1ewer" not in module.stderr


def test_module_takes_its_account_from_the_environment(tmp_path: Path) -> None:
    module = Module(tmp_path / "confserv.db", env={USER_ENV: "operator:Env-pass-1"})
    try:
        assert login_status(module.url, "operator", "Env-pass-1") == 200
        assert login_status(module.url, "default", "password") == 401
    finally:
        assert module.stop() == 0
    assert "Env-pass-1" not in module.stderr


def test_module_without_accounts_makes_one_up_and_tells_it_once(tmp_path: Path) -> None:
    module = Module(tmp_path / "confserv.db")
    try:
        assert login_status(module.url, "default", "password") == 401
        # The made-up password is on stderr, once; read it after the stop.
    finally:
        assert module.stop() == 0
    lines = [line for line in module.stderr.splitlines() if "this run's account" in line]
    assert len(lines) == 1, module.stderr
    password = lines[0].split("with password ", 1)[1].split(" ", 1)[0]
    assert len(password) >= 16 and module.stderr.count(password) == 1

    again = Module(tmp_path / "confserv.db")
    try:
        # A new run, a new password: the old one no longer logs in.
        assert login_status(again.url, "default", password) == 401
    finally:
        again.stop()
    new_password = again.stderr.split("with password ", 1)[1].split(" ", 1)[0]
    assert new_password != password


def test_module_generated_account_logs_in(tmp_path: Path) -> None:
    module = Module(tmp_path / "confserv.db")
    try:
        assert module.proc.stderr is not None
        # The account line comes right after the serving line, before any request.
        line = ""
        while "this run's account" not in line:
            line = module.proc.stderr.readline()
            assert line, "stderr ended without the account line"
        password = line.split("with password ", 1)[1].split(" ", 1)[0]
        assert_still_serving_as(module.url, "default", password)
    finally:
        assert module.stop() == 0


def test_module_help_tells_where_accounts_come_from(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "there is no built-in login" in text and USER_ENV in text and "prints it on stderr, once" in text
    assert "default:password" not in text


def test_module_refuses_a_damaged_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "confserv.db"
    db.write_bytes(b"\x00garbage" * 512)
    assert main(["--db", str(db), "--user", f"{USER}:{PASSWORD}"]) == 2
    assert f"configserver: {db}: not a usable Configuration Database" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["--user", "admin"], {}, "--user takes NAME:PASSWORD with both non-empty, got a value without ':'"),
        (["--user", "admin:"], {}, "--user takes NAME:PASSWORD with both non-empty, got admin:..."),
        (["--user", ":secret"], {}, "got :..."),
        ([], {USER_ENV: "admin"}, f"${USER_ENV} takes NAME:PASSWORD"),
        (["--user", "admin:\udcffsecret"], {}, "--user: NAME:PASSWORD must be UTF-8 text"),
        (["--port", "99999", "--user", "a:b"], {}, "port must be 0..65535, not 99999"),
        (["--port", "http", "--user", "a:b"], {}, "port must be a number 0..65535, not 'http'"),
    ],
)
def test_module_refuses_bad_usage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    args: list[str], env: dict[str, str], fragment: str,
) -> None:
    monkeypatch.delenv(USER_ENV, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as caught:
        main(["--db", str(tmp_path / "db"), *args])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "secret" not in err  # a password given is never echoed
