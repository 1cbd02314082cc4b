"""The GAX API over real sockets: login, the page's Configuration Server steps through the
client and as raw JSON, restarts on the same database, and bad requests answered with
clear 4xx while the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
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

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
API = "gax/api"
APPS = f"{API}/cfg/objects/CfgApplication"


class RunningServer:
    """A ConfigServer on its own event loop in a background thread, as another process would be."""

    def __init__(self, db: Path, **options: Any) -> None:
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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = RunningServer(tmp_path / "confserv.db")
    yield running
    running.stop()


def logged_in(url: str) -> requests.Session:
    http = requests.Session()
    answer = http.post(url + f"{API}/session/login", json={"username": "default", "password": "password"}, timeout=5)
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


def assert_still_serving(url: str) -> None:
    with logged_in(url) as http:
        assert http.get(url + APPS, timeout=5).status_code == 200


# --- login ----------------------------------------------------------------------------


def test_login_with_the_default_account(server: RunningServer) -> None:
    answer = requests.post(server.url + f"{API}/session/login", json={"username": "default", "password": "password"},
                           timeout=5)
    assert answer.status_code == 200
    token = answer.json()["token"]
    assert answer.cookies["JSESSIONID"] == token
    # The cookie alone is enough, as in a browser.
    assert requests.get(server.url + APPS, cookies={"JSESSIONID": token}, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"username": "default", "password": "wrong"}, 401, "wrong user name or password"),
        ({"username": "nobody", "password": "password"}, 401, "wrong user name or password"),
        ({"username": "default"}, 400, "username and password are required"),
        ({"username": "default", "password": "password", "tenant": "x"}, 400, "unknown field(s) in the login body: tenant"),
        (["default", "password"], 400, "JSON object"),
    ],
)
def test_bad_logins(server: RunningServer, body: Any, status: int, fragment: str) -> None:
    assert_error(requests.post(server.url + f"{API}/session/login", json=body, timeout=5), status, fragment)


def test_configured_accounts_replace_the_default(tmp_path: Path) -> None:
    running = RunningServer(tmp_path / "db", users={"admin": "S3cret"})
    try:
        login = running.url + f"{API}/session/login"
        assert requests.post(login, json={"username": "admin", "password": "S3cret"}, timeout=5).status_code == 200
        assert requests.post(login, json={"username": "default", "password": "password"}, timeout=5).status_code == 401
    finally:
        running.stop()


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
        async with ConfigServerClient(first.url) as cfg:
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
        async with ConfigServerClient(second.url) as cfg:
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
        async with ConfigServerClient(first_url) as cfg:
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
        async with ConfigServerClient(server.url) as cfg:
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

        with pytest.raises(ConfigServerError, match="login as 'default' failed: login failed: wrong user name"):
            async with ConfigServerClient(server.url, password="wrong"):
                pass

    asyncio.run(scenario())


def test_client_reports_an_unreachable_server() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/"

    async def scenario() -> None:
        async with ConfigServerClient(url):
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
        (b"[" * 50_000 + b"]" * 50_000, "application/json", 400, ["not usable JSON"]),
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


def test_module_serves_until_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "confserv.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakes.configserver", "--db", str(db)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/"), proc.stderr.read() if not url else url
        assert_still_serving(url)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def test_module_refuses_a_damaged_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "confserv.db"
    db.write_bytes(b"\x00garbage" * 512)
    assert main(["--db", str(db)]) == 2
    assert f"configserver: {db}: not a usable Configuration Database" in capsys.readouterr().err


def test_module_refuses_a_bad_user_spec(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--db", str(tmp_path / "db"), "--user", "admin"])
    assert caught.value.code == 2
