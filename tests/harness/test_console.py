"""The lab console over real HTTP: ``ucclab up`` serves it (``lab.json`` → ``endpoints.console``),
opened with the lab's admin token; the hosts, the events as they arrive (a long poll that a
replay attached to the running lab answers) and the exchanges drawn as ladders; refusals
of other sites, wrong tokens and bad queries."""

from __future__ import annotations

import html
import re
import stat
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from harness.console import LabConsole
from harness.pytest_plugin import LabThread
from tests.harness.running_lab import ucclab, up

# Seconds a request may take: generous, as the machine may be busy with other work.
TIMEOUT = 60
HOSTS = ("labdc01.companya.com", "gcfg01.companya.com", "fe01.companya.com", "ucc01.companya.com")


@pytest.fixture(scope="module")
def running_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``ucclab up --blank`` in a process of its own; its lab.json."""
    workdir = tmp_path_factory.mktemp("console") / "lab"
    with up(workdir, "--blank") as lab:
        yield {**lab.wait_serving(), "workdir": workdir}
        assert "Traceback" not in lab.stop()


@pytest.fixture
def session(running_lab: dict[str, Any]) -> requests.Session:
    """A browser-like session logged in to the console with the lab's admin token."""
    http = requests.Session()
    answer = http.post(running_lab["endpoints"]["console"] + "login", data={"token": running_lab["admin"]["token"]},
                       allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    return http


def test_up_names_the_console_in_lab_json_on_loopback(running_lab: dict[str, Any]) -> None:
    url = running_lab["endpoints"]["console"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
    assert stat.S_IMODE((running_lab["workdir"] / "lab.json").stat().st_mode) == 0o600


def test_the_console_opens_only_with_the_labs_token(running_lab: dict[str, Any]) -> None:
    url = running_lab["endpoints"]["console"]
    anonymous = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert anonymous.status_code == 303 and anonymous.headers["Location"] == "/login"
    assert requests.get(url + "api/events", timeout=TIMEOUT).status_code == 401
    assert requests.get(url + "fragments/hosts", timeout=TIMEOUT).status_code == 401
    wrong = requests.post(url + "login", data={"token": "not-the-token"}, timeout=TIMEOUT)
    assert wrong.status_code == 401 and "not this lab's admin token" in html.unescape(wrong.text)
    assert "Set-Cookie" not in wrong.headers
    # The token's link form: exchanged for the cookie, then out of the address bar.
    link = requests.get(url + "login", params={"token": running_lab["admin"]["token"]}, allow_redirects=False, timeout=TIMEOUT)
    assert link.status_code == 303 and link.headers["Location"] == "/"
    cookie = link.headers["Set-Cookie"]
    assert cookie.startswith("ucclab_console=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # Tools may send the token itself.
    bearer = {"Authorization": f"Bearer {running_lab['admin']['token']}"}
    assert requests.get(url + "api/events", headers=bearer, timeout=TIMEOUT).status_code == 200


def test_other_sites_and_other_names_are_refused(running_lab: dict[str, Any]) -> None:
    url = running_lab["endpoints"]["console"]
    token = running_lab["admin"]["token"]
    forged = requests.post(url + "login", data={"token": token}, headers={"Origin": "http://evil.example"}, timeout=TIMEOUT)
    assert forged.status_code == 403 and "another site (http://evil.example)" in forged.text
    # A page whose own name was made to point at 127.0.0.1 (DNS rebinding) sends its name as Host.
    rebound = requests.get(url + "api/events", headers={"Host": "evil.example", "Authorization": f"Bearer {token}"},
                           timeout=TIMEOUT)
    assert rebound.status_code == 421 and "not 'evil.example'" in rebound.text


def test_the_page_shows_the_hosts_their_services_and_the_links(running_lab: dict[str, Any], session: requests.Session) -> None:
    page = session.get(running_lab["endpoints"]["console"], timeout=TIMEOUT)
    assert page.status_code == 200
    for host in HOSTS:
        assert f'data-host="{host}"' in page.text
    served = dict(re.findall(r'data-service="(\w+)">.*?<span class="badge (\w+)">', page.text))
    # Every stand-in of the lab's hosts is listed and answers (a host may gain services: at least these).
    assert {"ca", "kdc", "configserver", "frontend", "connector"} <= set(served)
    assert set(served.values()) == {"good"}
    endpoints = running_lab["endpoints"]
    assert f'href="{endpoints["certsrv"]}"' in page.text
    assert f'href="{endpoints["configserver"]}gax/"' in page.text
    frontend = endpoints["frontend"]
    assert f"<code>{frontend['host']}:{frontend['port']}</code>" in page.text
    # Its own script only, allowed by a nonce; nothing loaded from elsewhere.
    policy = page.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and f'<script nonce="{nonce.group(1)}">' in page.text and "connect-src 'self'" in policy
    assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)=', page.text)
    # No secret of lab.json reaches the page.
    for secret in (running_lab["admin"]["token"], running_lab["accounts"]["configserver"]["password"],
                   running_lab["kerberos"]["ucc_password"]):
        assert secret not in page.text


def test_events_arrive_by_long_poll_and_the_exchanges_are_drawn(running_lab: dict[str, Any], session: requests.Session) -> None:
    url = running_lab["endpoints"]["console"]
    now = session.get(url + "api/events", timeout=TIMEOUT).json()["services"]
    cursors = {name: str(page["cursor"]) for name, page in now.items()}
    answer: dict[str, Any] = {}

    def long_poll() -> None:
        answer["doc"] = session.get(url + "api/events", params={**cursors, "wait": "30"}, timeout=60).json()

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)  # the poll is waiting at the stand-ins before the replay starts
    replay = ucclab("replay", "all", "--attach", str(running_lab["workdir"]))
    # Whatever its outcome (the judge's business), the replay made traffic the console must show.
    assert replay.returncode in (0, 1) and "Traceback" not in replay.stderr, replay.stderr
    poller.join(timeout=60)
    doc = answer["doc"]
    arrived = [r for page in doc["services"].values() for r in page["records"]]
    assert arrived and all(r["seq"] > int(cursors[name]) for name, page in doc["services"].items() for r in page["records"])
    assert "<tr" in doc["rows"]
    # Everything the replay made is read after the first answer's cursors.
    later = session.get(url + "api/events", params={name: str(page["cursor"]) for name, page in doc["services"].items()},
                        timeout=TIMEOUT).json()["services"]
    types = {r["type"] for page in (doc["services"], later) for service in page.values() for r in service["records"]}
    assert {"connection-opened", "tls-handshake", "AS-REQ", "TGS-REQ"} <= types
    ladders = session.get(url + "fragments/ladders", timeout=TIMEOUT).text
    kinds = re.findall(r'<svg class="ladder"[^>]*data-kind="([^"]+)"', ladders)
    assert len(kinds) == 3 and "tls-kerberos" in kinds
    assert 'data-name="KDC' in ladders and 'data-label="AS-REQ"' in ladders and 'data-label="REGISTER"' in ladders
    assert 'data-direction="frontend-to-connector"' in ladders  # the Front End's push, seen at the Secured port
    # No password reaches the page.
    assert running_lab["kerberos"]["ucc_password"] not in ladders + doc["rows"]


def test_the_checklist_is_ucclab_progress_of_the_running_lab(running_lab: dict[str, Any], session: requests.Session) -> None:
    url = running_lab["endpoints"]["console"]
    document = session.get(url + "api/checklist", timeout=60).json()
    steps = document["steps"]
    assert steps and all({"heading", "step", "name", "status", "diagnosis"} <= set(step) for step in steps)
    assert {step["status"] for step in steps} <= {"done", "todo", "wrong"}
    assert {h["kind"] for h in document["handshakes"]} == {"mtls", "tls-kerberos"}
    drawn = session.get(url + "fragments/checklist", timeout=60).text
    assert len(re.findall(r'<tr data-heading="[^"]+" data-status="(?:done|todo|wrong)">', drawn)) == len(steps)
    assert "Creating a Password for Kerberos Security" in drawn


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("frontend=abc", 400, "the cursors are integers"),
        ("kdc=-3", 400, "not negative"),
        ("wait=soon", 400, "wait a number of seconds"),
    ],
)
def test_bad_queries_are_refused_in_words(running_lab: dict[str, Any], session: requests.Session, query: str,
                                          status: int, words: str) -> None:
    url = running_lab["endpoints"]["console"]
    answer = session.get(url + "api/events?" + query, timeout=TIMEOUT)
    assert answer.status_code == status and words in answer.json()["error"]
    assert session.get(url + "fragments/nothing", timeout=TIMEOUT).status_code == 404
    assert session.get(url + "fragments/hosts", timeout=TIMEOUT).status_code == 200  # still serving


def test_logout_needs_the_pages_token_and_ends_the_session(running_lab: dict[str, Any], session: requests.Session) -> None:
    url = running_lab["endpoints"]["console"]
    page = session.get(url, timeout=TIMEOUT).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    assert session.post(url + "logout", data={"csrf": "0" * 64}, timeout=TIMEOUT).status_code == 403
    assert session.post(url + "logout", data={"csrf": csrf.group(1)}, allow_redirects=False, timeout=TIMEOUT).status_code == 303
    assert session.get(url + "api/events", timeout=TIMEOUT).status_code == 401


CHECKLIST = {
    "steps": [
        {"heading": "Generating the Client Certificate", "step": 1, "name": "CA certificate downloaded (DER)",
         "status": "done", "diagnosis": None},
        {"heading": "Modifying Command Line Arguments for MTLS", "step": 2, "name": "-key_store_type jks",
         "status": "wrong", "diagnosis": {"code": "args-typo-ket-store-type", "why": "-ket_store_type is the page's typo",
                                          "fix": "type -key_store_type"}},
        {"heading": "Modifying Command Line Arguments for MTLS", "step": 3, "name": "saved", "status": "todo",
         "diagnosis": None},
    ],
    "handshakes": [{"kind": "mtls", "direction": "connector-to-frontend", "outcome": "rejected",
                    "reason": "the Front End answered 401"}],
}


def test_the_checklist_is_drawn_from_the_progress_document(ucclab_lab: LabThread) -> None:
    """The checklist in ``ucclab progress --json``'s shape, drawn by the console of a lab."""

    async def checklist() -> dict[str, Any]:
        return CHECKLIST

    console = ucclab_lab.run(LabConsole(ucclab_lab.lab, checklist=checklist).start())
    try:
        bearer = {"Authorization": f"Bearer {ucclab_lab.lab.secrets.admin_token}"}
        assert requests.get(console.url + "api/checklist", headers=bearer, timeout=TIMEOUT).json() == CHECKLIST
        drawn = requests.get(console.url + "fragments/checklist", headers=bearer, timeout=TIMEOUT).text
        assert re.findall(r'<tr data-heading="[^"]+" data-status="(\w+)">', drawn) == ["done", "wrong", "todo"]
        assert drawn.count('<tr class="heading">') == 2
        assert '<code class="code">args-typo-ket-store-type</code> -ket_store_type is the page&#x27;s typo' in drawn
        assert "fix: type -key_store_type" in drawn
        assert "mtls · connector-to-frontend" in drawn and "the Front End answered 401" in drawn
    finally:
        ucclab_lab.run(console.close())


def test_a_failing_checklist_is_said_and_the_page_still_serves(ucclab_lab: LabThread) -> None:
    async def broken() -> dict[str, Any]:
        raise OSError("artifacts/UCC_store.jks: permission denied")

    console = ucclab_lab.run(LabConsole(ucclab_lab.lab, checklist=broken).start())
    try:
        bearer = {"Authorization": f"Bearer {ucclab_lab.lab.secrets.admin_token}"}
        answer = requests.get(console.url + "api/checklist", headers=bearer, timeout=TIMEOUT)
        assert answer.status_code == 500
        assert answer.json()["error"] == "the checklist could not be read: OSError: artifacts/UCC_store.jks: permission denied"
        drawn = requests.get(console.url + "fragments/checklist", headers=bearer, timeout=TIMEOUT).text
        assert "The checklist could not be read: OSError: artifacts/UCC_store.jks: permission denied" in drawn
        assert requests.get(console.url + "fragments/hosts", headers=bearer, timeout=TIMEOUT).status_code == 200
    finally:
        ucclab_lab.run(console.close())


def test_a_console_needs_a_token() -> None:
    class NoLab:
        secrets = None

    with pytest.raises(ValueError, match="needs a token"):
        LabConsole(NoLab(), token="")  # type: ignore[arg-type]
