"""The Configuration Server console over real HTTP, against the stand-in run as its own
process: the page's three Configuration Server steps done in the pages and read back
through the GAX API, the login and CSRF rules, and every bad input answered in the page
with the model's own words while nothing is written and the server keeps serving."""

from __future__ import annotations

import html
import itertools
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "trainer", "Tr4iner-pass"
API = "gax/api"
APPS = f"{API}/cfg/objects/CfgApplication"
_names = itertools.count(1)
# Seconds a request may take: generous, as the machine may be busy with other work.
TIMEOUT = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m fakes.configserver`` with an account of its own; its URL."""
    folder = tmp_path_factory.mktemp("console")
    # Its log goes to a file: a pipe nobody reads would fill and stop the server mid-test.
    with open(folder / "server.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "fakes.configserver", "--db", str(folder / "cfg.sqlite")],
                                cwd=REPO, env={**os.environ, "UCCLAB_CONFIGSERVER_USER": f"{USER}:{PASSWORD}"},
                                stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), (folder / "server.log").read_text()
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert "Traceback" not in (folder / "server.log").read_text()


def api_token(url: str) -> str:
    answer = requests.post(url + f"{API}/session/login", json={"username": USER, "password": PASSWORD}, timeout=TIMEOUT)
    return str(answer.json()["token"])


def api_get(url: str, dbid: int) -> dict[str, Any]:
    answer = requests.get(url + f"{APPS}/{dbid}", headers={"Authorization": f"Bearer {api_token(url)}"}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def app(server: str) -> int:
    """A fresh Application (made through the API), as the deployment guide creates it; its dbid."""
    doc = {"type": "CfgApplication", "name": f"UCC_Lync_{next(_names)}",
           "options": {"property": [{"section": "Microsoft-OCS", "key": "user", "value": "ocs-ucc"}]},
           "commandlinearguments": "-host gcfg01.companya.com -port 2020 -app UCC_Lync"}
    made = requests.post(server + f"{API}/cfg/objects", json=doc, timeout=TIMEOUT,
                         headers={"Authorization": f"Bearer {api_token(server)}"})
    assert made.status_code == 201, made.text
    return int(made.json()["dbid"])


class Browser:
    """A cookie-keeping HTTP client that reads the CSRF token out of the pages it gets."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.csrf = ""

    def get(self, path: str, **options: Any) -> requests.Response:
        response = self.http.get(self.url + path.lstrip("/"), timeout=TIMEOUT, **options)
        found = re.search(r'name="csrf" value="([^"]+)"', response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, fields: dict[str, str], *, csrf: bool = True, **options: Any) -> requests.Response:
        data = {"csrf": self.csrf, **fields} if csrf else fields
        return self.http.post(self.url + path.lstrip("/"), data=data, timeout=TIMEOUT, **options)

    def login(self, password: str = PASSWORD) -> requests.Response:
        self.get("gax/login")
        return self.post("gax/login", {"username": USER, "password": password}, allow_redirects=False)


def alert(response: requests.Response) -> str:
    """The error the page shows (its role=alert box), unescaped."""
    found = re.search(r'role="alert">([^<]*)<', response.text)
    assert found, f"no error shown in the page (HTTP {response.status_code})"
    return html.unescape(found.group(1))


@pytest.fixture
def browser(server: str) -> Browser:
    b = Browser(server)
    assert b.login().status_code == 303
    return b


# --- login and sessions ------------------------------------------------------------------


def test_login_sets_a_strict_httponly_session_that_the_api_accepts_too(server: str) -> None:
    b = Browser(server)
    first = b.http.get(server + "gax/", allow_redirects=False, timeout=TIMEOUT)
    assert first.status_code == 303 and first.headers["Location"] == "/gax/login"
    wrong = b.login(password="password")
    assert wrong.status_code == 401 and alert(wrong) == "login failed: wrong user name or password"
    done = b.login()
    assert done.status_code == 303 and done.headers["Location"] == "/gax/applications"
    cookie = next(c for c in done.headers["Set-Cookie"].split(", ") if c.startswith("JSESSIONID="))
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/gax"} <= attributes
    # The console's session is a GAX session: the REST API takes its cookie.
    assert b.http.get(server + APPS, timeout=TIMEOUT).status_code == 200
    # Logging out ends it for both.
    b.get("gax/applications")
    assert b.post("gax/logout", {}, allow_redirects=False).status_code == 303
    assert b.http.get(server + APPS, timeout=TIMEOUT).status_code == 401
    assert b.http.get(server + "gax/applications", allow_redirects=False, timeout=TIMEOUT).headers["Location"] == "/gax/login"


def test_a_login_form_not_from_this_page_is_refused(server: str) -> None:
    b = Browser(server)
    b.get("gax/login")
    b.http.cookies.clear()  # the form's token without its cookie: posted from elsewhere
    refused = b.post("gax/login", {"username": USER, "password": PASSWORD}, allow_redirects=False)
    assert refused.status_code == 403 and "came from another site" in alert(refused)
    assert "JSESSIONID" not in refused.headers.get("Set-Cookie", "")


def test_pages_need_a_session_and_a_post_without_one_saves_nothing(server: str, app: int) -> None:
    anonymous = requests.Session()
    page = anonymous.get(server + f"gax/applications/{app}/options", allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 303 and page.headers["Location"] == "/gax/login"
    posted = anonymous.post(server + f"gax/applications/{app}/options", timeout=TIMEOUT,
                            data={"action": "add", "section": "Microsoft-OCS", "key": "password", "value": "x"})
    assert posted.status_code == 401 and "nothing was saved" in alert(posted)
    assert api_get(server, app)["options"]["property"] == [{"section": "Microsoft-OCS", "key": "user", "value": "ocs-ucc"}]


def test_forms_need_their_sessions_csrf_token_and_this_origin(server: str, browser: Browser, app: int) -> None:
    path = f"gax/applications/{app}/start-info"
    browser.get(path)
    fields = {"work_directory": "", "command_line": "", "command_line_arguments": "-evil", "startup_timeout": "90",
              "shutdown_timeout": "90"}
    assert browser.post(path, fields, csrf=False).status_code == 400  # the token is a required field
    assert browser.post(path, {**fields, "csrf": "0" * 64}, csrf=False).status_code == 403
    other = Browser(server)
    other.login()
    other.get(path)
    stolen = browser.post(path, {**fields, "csrf": other.csrf}, csrf=False)
    assert stolen.status_code == 403 and "not from your session" in alert(stolen)
    cross = browser.post(path, fields, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "posted from another site (http://evil.example)" in alert(cross)
    assert api_get(server, app)["commandlinearguments"] == "-host gcfg01.companya.com -port 2020 -app UCC_Lync"


# --- the page's steps --------------------------------------------------------------------


def test_environment_applications_lists_the_application(server: str, browser: Browser, app: int) -> None:
    page = browser.get("gax/applications")
    name = api_get(server, app)["name"]
    assert page.status_code == 200 and f'href="/gax/applications/{app}/options">{name}</a>' in page.text


def test_options_add_edit_delete_write_through_the_model(server: str, browser: Browser, app: int) -> None:
    """"Creating a Password for Kerberos Security", step 3: [Microsoft-OCS] password."""
    path = f"gax/applications/{app}/options"
    browser.get(path)
    added = browser.post(path, {"action": "add", "section": "Microsoft-OCS", "key": "password", "value": "Genesys#1"})
    assert added.status_code == 200 and added.url.endswith("?done=option-added") and "Option added." in added.text
    assert {"section": "Microsoft-OCS", "key": "password", "value": "Genesys#1"} in api_get(server, app)["options"]["property"]
    # The password is shown masked and never sent back to the browser, not even in the edit form.
    assert "Genesys#1" not in added.text and "********" in added.text
    edit_page = browser.get(path, params={"section": "Microsoft-OCS", "key": "password"})
    assert 'id="edit-value"' in edit_page.text and "Genesys#1" not in edit_page.text
    browser.post(path, {"action": "edit", "section": "Microsoft-OCS", "key": "password", "value": "N3w-pass"})
    assert {"section": "Microsoft-OCS", "key": "password", "value": "N3w-pass"} in api_get(server, app)["options"]["property"]
    # A plain option is shown as it is.
    browser.post(path, {"action": "add", "section": "settings", "key": "log-level", "value": "debug"})
    assert "<code>debug</code>" in browser.get(path).text
    deleted = browser.post(path, {"action": "delete", "section": "settings", "key": "log-level"})
    assert "Option deleted." in deleted.text
    assert all(p["section"] != "settings" for p in api_get(server, app)["options"]["property"])


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"action": "add", "section": "Microsoft-OCS", "key": "user", "value": "x"},
         "options['Microsoft-OCS']['user']: is already set; edit it instead"),
        ({"action": "add", "section": " ", "key": "password", "value": "x"},
         "options: section names are non-empty strings, got ' '"),
        ({"action": "add", "section": "Microsoft-OCS", "key": "", "value": "x"},
         "options['Microsoft-OCS']: option names are non-empty strings, got ''"),
        ({"action": "edit", "section": "Microsoft-OCS", "key": "password", "value": "x"},
         "options['Microsoft-OCS']['password']: no such option"),
        ({"action": "delete", "section": "nowhere", "key": "x"}, "options['nowhere']['x']: no such option"),
        ({"action": "add", "section": "Microsoft-OCS", "key": "password"}, "an option needs its section, its name and its value"),
        ({"action": "rename", "section": "a", "key": "b"}, "action: must be add, edit or delete, not 'rename'"),
    ],
)
def test_bad_options_get_the_models_words_and_change_nothing(
    server: str, browser: Browser, app: int, fields: dict[str, str], words: str
) -> None:
    before = api_get(server, app)
    path = f"gax/applications/{app}/options"
    browser.get(path)
    refused = browser.post(path, fields)
    assert refused.status_code == 400 and words in alert(refused)
    assert api_get(server, app) == before


def test_a_secured_port_asks_the_warning_first_and_yes_saves_it(server: str, browser: Browser, app: int) -> None:
    """"Configuring a Secure SIP Port", steps 1-2: a sip port, Listening Mode Secured, the Warning, Yes."""
    path = f"gax/applications/{app}/server-info"
    browser.get(path)
    port = {"action": "add-port", "port_id": "sip-secure", "port": "5070", "protocol": "sip", "mode": "Secured"}
    asked = browser.post(path, port)
    assert asked.status_code == 200 and 'role="alertdialog"' in asked.text
    assert "is Secured (tls=1), but no TLS certificate is configured" in html.unescape(asked.text)
    assert api_get(server, app)["portinfos"]["portinfo"] == []  # nothing saved before "Yes"
    yes = re.search(r'<div class="buttons"><form method="post" action="([^"]+)">(.*?)</form>', asked.text)
    assert yes is not None
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', yes.group(2)))
    assert fields["confirm"] == "yes" and fields["csrf"] == browser.csrf
    saved = browser.http.post(server.rstrip("/") + html.unescape(yes.group(1)),
                              data={k: html.unescape(v) for k, v in fields.items()}, timeout=TIMEOUT)
    assert saved.status_code == 200 and "Port added." in saved.text
    assert api_get(server, app)["portinfos"]["portinfo"] == [
        {"id": "sip-secure", "port": "5070", "connprotocol": "sip", "transportparams": "tls=1", "appparams": "",
         "description": ""}]
    assert '<tr data-port-id="sip-secure"><td>sip-secure</td><td>5070</td><td>sip</td><td>Secured</td>' in saved.text
    # An Unsecured port has nothing to warn about: saved at once. Deleting works as well.
    plain = browser.post(path, {**port, "port_id": "sip", "port": "5060", "mode": "Unsecured"})
    assert "Port added." in plain.text and 'role="alertdialog"' not in plain.text
    browser.post(path, {"action": "delete-port", "port_id": "sip"})
    assert [p["id"] for p in api_get(server, app)["portinfos"]["portinfo"]] == ["sip-secure"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"port": "abc"}, "port: must be an integer (a decimal string such as \"5061\"), got str 'abc'"),
        ({"port": "70000"}, "port_infos[0] (port ID 'p').port: 70000 is out of range (1..65535)"),
        ({"port_id": " "}, "port_infos[0].id: a port needs a Port ID"),
        ({"protocol": "ftp"}, "unknown connection protocol 'ftp'"),
        ({"mode": "Encrypted"}, "listening_mode: unknown Listening Mode 'Encrypted' (choices: Unsecured, Secured, Auto-detect)"),
        ({"action": "delete-port", "port_id": "nope"}, "port_infos: no port with Port ID 'nope'"),
    ],
)
def test_bad_ports_get_the_models_words_and_change_nothing(
    server: str, browser: Browser, app: int, change: dict[str, str], words: str
) -> None:
    path = f"gax/applications/{app}/server-info"
    browser.get(path)
    before = api_get(server, app)
    refused = browser.post(path, {"action": "add-port", "port_id": "p", "port": "5070", "protocol": "sip",
                                  "mode": "Unsecured", **change})
    assert refused.status_code == 400 and words in alert(refused)
    assert api_get(server, app) == before


def test_a_port_id_used_twice_is_the_models_refusal_even_after_the_warning(server: str, browser: Browser, app: int) -> None:
    path = f"gax/applications/{app}/server-info"
    browser.get(path)
    port = {"action": "add-port", "port_id": "sip-secure", "port": "5070", "protocol": "sip", "mode": "Secured", "confirm": "yes"}
    assert "Port added." in browser.post(path, port).text
    again = browser.post(path, {**port, "port": "5071"})
    assert again.status_code == 400
    assert "port ID 'sip-secure' is already used by port_infos[0]; port IDs are unique within an Application" in alert(again)


def test_start_info_saves_the_command_line_arguments(server: str, browser: Browser, app: int) -> None:
    """"Modifying Command Line Arguments for MTLS", steps 1-3."""
    path = f"gax/applications/{app}/start-info"
    browser.get(path)
    arguments = ("-host gcfg01.companya.com -port 2020 -app UCC_Lync -cert_store_file C:\\GCTI\\GenesysServer_Certficate.pfx "
                 "-cert_store_pass mnopqr -cert_store_type pkcs12")
    saved = browser.post(path, {"work_directory": "C:\\GCTI\\UCConnector\\UCC_Lync", "command_line": "startup.bat",
                                "command_line_arguments": arguments, "startup_timeout": "90", "shutdown_timeout": "30",
                                "auto_restart": "on"})
    assert saved.status_code == 200 and "Start Info saved." in saved.text
    doc = api_get(server, app)
    assert (doc["commandlinearguments"], doc["workdirectory"], doc["commandline"], doc["shutdowntimeout"], doc["autorestart"]) == (
        arguments, "C:\\GCTI\\UCConnector\\UCC_Lync", "startup.bat", "30", "CFGTrue")
    assert f'value="{html.escape(arguments)}"' in saved.text


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"startup_timeout": "soon"}, "startup_timeout: must be an integer"),
        ({"shutdown_timeout": "-4"}, "shutdown_timeout: -4 is out of range (0..2147483647)"),
        ({"shutdown_timeout": "99999999999"}, "shutdown_timeout: 99999999999 is out of range"),
        ({"auto_restart": "yes"}, "auto_restart: a checkbox sends 'on' or nothing, not 'yes'"),
    ],
)
def test_bad_start_info_gets_the_models_words_and_the_typed_values_back(
    server: str, browser: Browser, app: int, change: dict[str, str], words: str
) -> None:
    path = f"gax/applications/{app}/start-info"
    browser.get(path)
    before = api_get(server, app)
    fields = {"work_directory": "C:\\x", "command_line": "startup.bat", "command_line_arguments": "-typed here",
              "startup_timeout": "90", "shutdown_timeout": "90", **change}
    refused = browser.post(path, fields)
    assert refused.status_code == 400 and words in alert(refused)
    assert 'value="-typed here"' in refused.text  # what was typed is kept for the fix
    assert api_get(server, app) == before


def test_a_change_applies_to_the_object_as_stored_not_as_the_page_showed_it(server: str, browser: Browser, app: int) -> None:
    path = f"gax/applications/{app}/options"
    browser.get(path)  # the page shows the object before the API's change below
    token = api_token(server)
    put = requests.put(server + f"{APPS}/{app}", timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"},
                       json={"commandlinearguments": "-from-the-api"})
    assert put.status_code == 200
    browser.post(path, {"action": "add", "section": "Microsoft-OCS", "key": "password", "value": "Genesys#1"})
    doc = api_get(server, app)
    assert doc["commandlinearguments"] == "-from-the-api"
    assert {"section": "Microsoft-OCS", "key": "password", "value": "Genesys#1"} in doc["options"]["property"]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"csrf=CSRF&action=add&section=a&key=b&value=%FF", "application/x-www-form-urlencoded", 400,
         "the value of field 'value' is not UTF-8 text"),
        (b"csrf=CSRF&action=add&action=delete", "application/x-www-form-urlencoded", 400,
         "the form field 'action' is given twice"),
        (b"csrf=CSRF&action=add&role=admin", "application/x-www-form-urlencoded", 400, "unknown form field 'role'"),
        (b'{"action": "add"}', "application/json", 415, "a form is sent as application/x-www-form-urlencoded"),
    ],
)
def test_bad_form_bodies_are_refused_in_words(
    server: str, browser: Browser, app: int, body: bytes, content_type: str, status: int, words: str
) -> None:
    path = f"gax/applications/{app}/options"
    browser.get(path)
    before = api_get(server, app)
    refused = browser.http.post(server + path, data=body.replace(b"CSRF", browser.csrf.encode()), timeout=TIMEOUT,
                                headers={"Content-Type": content_type})
    assert refused.status_code == status and words in alert(refused)
    assert api_get(server, app) == before
    assert browser.get(path).status_code == 200  # still serving


def test_oversized_forms_unknown_objects_and_pages_are_pages_that_say_so(server: str, browser: Browser) -> None:
    big = browser.http.post(server + "gax/applications/101/options", timeout=10,
                            data={"csrf": browser.csrf, "value": "x" * (1024 * 1024 + 10)})
    assert big.status_code == 413 and "too large" in alert(big)
    missing = browser.get("gax/applications/99999/options")
    assert missing.status_code == 404 and alert(missing) == "no CfgApplication with dbid 99999"
    nowhere = browser.get("gax/settings")
    assert nowhere.status_code == 404 and "There is no page /gax/settings here." in alert(nowhere)
    # The API's own paths still answer in JSON.
    assert requests.get(server + f"{API}/nowhere", timeout=TIMEOUT).json()["status"] == 404


def test_pages_load_nothing_from_elsewhere_and_run_no_script(browser: Browser, app: int) -> None:
    for tab in ("options", "server-info", "start-info"):
        page = browser.get(f"gax/applications/{app}/{tab}")
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "script-src" not in policy
        assert "<script" not in page.text
        assert not re.search(r'(?:src|href|action)="(?:https?:)?//', page.text)
        assert page.headers["Cache-Control"] == "no-store"
