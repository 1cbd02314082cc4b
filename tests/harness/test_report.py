"""The HTML report: ladder diagrams from real replays, masking, the three documents, Chromium."""

from __future__ import annotations

import stat
import subprocess
from dataclasses import asdict
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.lab import Topology
from harness.pytest_plugin import LabThread
from harness.report import render_report, write_report
from tests.conftest import require_tool

CONNECTOR = "UC Connector (python)"
FRONTEND = "Front End fe01.companya.com"
KDC = "KDC COMPANYA.COM"


class Ladders(HTMLParser):
    """Collects each ``svg.ladder`` with its participants, messages and notes, and every id."""

    def __init__(self) -> None:
        super().__init__()
        self.ladders: list[dict[str, Any]] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self._depth = 0  # open <svg> elements of the current ladder

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        classes = found.get("class", "").split()
        if "id" in found:
            self.ids.add(found["id"])
        if tag == "a" and found.get("href", "").startswith("#"):
            self.links.append(found["href"][1:])
        if tag == "svg" and "ladder" in classes:
            self.ladders.append({**found, "participants": [], "messages": [], "notes": []})
        if not self.ladders:
            return
        ladder = self.ladders[-1]
        if "participant" in classes:
            ladder["participants"].append(found["data-name"])
        elif "message" in classes:
            ladder["messages"].append(found)
        elif "note" in classes:
            ladder["notes"].append(found)

    def one(self, kind: str, direction: str = "") -> dict[str, Any]:
        matches = [l for l in self.ladders if l["data-kind"] == kind and l["data-direction"] == direction]
        assert len(matches) == 1, [(l["data-kind"], l["data-direction"]) for l in self.ladders]
        return matches[0]


def parse(html: str) -> Ladders:
    parser = Ladders()
    parser.feed(html)
    parser.close()
    return parser


def labels(ladder: dict[str, Any]) -> list[str]:
    return [m["data-label"] for m in ladder["messages"]]


def assert_confirmed_ladders(page: Ladders) -> None:
    """The ladders of ``replay all``: who talks to whom, in the order the servers logged."""
    to_frontend = page.one("mtls", "connector-to-frontend")
    assert to_frontend["participants"] == [CONNECTOR, FRONTEND]
    assert labels(to_frontend) == ["TLS handshake TLSv1.2", "OPTIONS", "200 OK", "REGISTER", "200 OK"]
    register = to_frontend["messages"][3]
    assert (register["data-from"], register["data-to"]) == (CONNECTOR, FRONTEND)

    push = page.one("mtls", "frontend-to-connector")
    assert push["participants"] == [CONNECTOR, FRONTEND]
    assert [(m["data-from"], m["data-label"]) for m in push["messages"][1:]] == [
        (FRONTEND, "OPTIONS"), (CONNECTOR, "200 OK"), (FRONTEND, "NOTIFY"), (CONNECTOR, "200 OK")]

    kerberos = page.one("tls-kerberos")
    assert kerberos["participants"] == [CONNECTOR, FRONTEND, KDC]
    sequence = labels(kerberos)
    assert sequence[:3] == ["TLS handshake TLSv1.2", "REGISTER", "401 Unauthorized"]
    kdc_part = [label for label in sequence if label.startswith(("AS-", "TGS-", "KRB-ERROR"))]
    assert kdc_part[-4:] == ["AS-REQ", "AS-REP", "TGS-REQ", "TGS-REP"]
    assert sequence.index("TGS-REP") < sequence.index("200 OK")
    tgs = kerberos["messages"][sequence.index("TGS-REQ")]
    assert (tgs["data-from"], tgs["data-to"]) == (CONNECTOR, KDC)
    assert "MS-SIPAE authenticated" in [n["data-label"] for n in kerberos["notes"]]

    for ladder in page.ladders:
        assert ladder["data-outcome"] == "confirmed"
        assert all(m["data-status"] == "ok" for m in ladder["messages"] + ladder["notes"])


def test_replay_report_draws_each_handshake_and_holds_no_secret(ucclab_lab: LabThread, tmp_path: Path) -> None:
    document = ucclab_lab.replay("all").to_json()
    path = write_report(tmp_path / "replay.html", document, title="ucclab replay all")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    html = path.read_text(encoding="utf-8")

    assert_confirmed_ladders(parse(html))
    assert '<header class="report good">' in html
    assert "GenesysServer_Certficate.pfx" in html and document["transcript"][3]["artifacts"][0]["sha256"] in html
    assert 'class="gap"' in html and "-PrivateKeyExportable" in html
    for tag in ("<script", "src=", "href=\"http", "@import", "url("):
        assert tag not in html
    assert ucclab_lab.lab.secrets is not None
    for secret in [*asdict(ucclab_lab.lab.secrets).values(), "mnopqr", "genesys"]:
        assert secret not in html


def test_rejected_replay_shows_the_failure_in_red_with_code_and_fix(ucclab_lab: LabThread) -> None:
    document = ucclab_lab.replay("mtls", ["shell.request_cs_certificate.server_name=ucc02.companya.com"]).to_json()
    html = render_report(document, title="wrong FQDN")
    page = parse(html)

    refused = page.one("mtls", "connector-to-frontend")
    assert refused["data-outcome"] == "rejected"
    failed = [m for m in refused["messages"] if m["data-status"] == "failed"]
    assert [(m["data-from"], m["data-to"], m["data-label"]) for m in failed] == [
        (FRONTEND, CONNECTOR, "refused: not a configured server")]
    push = page.one("mtls", "frontend-to-connector")
    assert push["participants"] == [CONNECTOR, FRONTEND]
    assert [m["data-status"] for m in push["messages"]] == ["failed"]
    assert '<header class="report bad">' in html
    assert "cert-name-mismatch" in html and "ucc02.companya.com" in html
    assert "Request the certificate for the UC Connector host&#x27;s FQDN" in html


def test_a_failed_step_shows_its_code_and_fix() -> None:
    document = {
        "path": "mtls", "outcome": "failed",
        "transcript": [{"heading": "Generating the Server Certificate Using Skype for Business Management Shell",
                        "step": "5", "host": "fe01", "action": "The associated private key is marked as not exportable.",
                        "outcome": "failed", "code": "key-not-exportable", "fix": "Run Request-CsCertificate again."}],
        "diagnoses": [{"code": "key-not-exportable", "doc_step": "…, step 5", "message": "not exportable",
                       "evidence": None, "fix": "Run Request-CsCertificate again."}],
        "handshakes": [],
    }
    html = render_report(document, title="literal")
    assert '<div class="failure"><code class="code">key-not-exportable</code>' in html
    assert html.count("Run Request-CsCertificate again.") == 2
    assert parse(html).ladders == []


def test_passwords_are_masked_and_values_escaped() -> None:
    document = {
        "outcome": "problems",
        "findings": [{"code": "pfx-wrong-password", "severity": "error", "doc_step": "<step>",
                      "message": "opened with -cert_store_pass s3cret-one and password = s3cret-two",
                      "evidence": {"password": "s3cret-three", "store_pass": "s3cret-four", "args": "-storepass 's3cret five'"},
                      "fix": "<script>alert(1)</script>"}],
        "manifest": [{"role": "ucc-pfx", "path": "a.pfx", "format": "pkcs12", "password": "s3cret-six"}],
    }
    html = render_report(document, title="<check>")
    assert "s3cret" not in html
    assert html.count("********") >= 4
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<title>&lt;check&gt;</title>" in html
    assert "the AD password of ocs-ucc" in render_report(
        {"transcript": [{"heading": "h", "step": "3", "action": "password = ******** (the AD password of ocs-ucc)"}]},
        title="t")


def test_check_document_renders_its_findings() -> None:
    document = {"outcome": "problems", "findings": [
        {"code": "truststore-missing-ca", "severity": "error", "doc_step": "Adding the Certificate…, step 3",
         "message": "UCC_store.jks does not hold the CA", "evidence": {"subjects": []}, "fix": "Import the CA."},
        {"code": "store-type-mismatch", "severity": "warning", "doc_step": "Modifying…, step 2",
         "message": "declared jks, is PKCS12", "evidence": None, "fix": "Declare pkcs12."}]}
    html = render_report(document, title="ucclab check")
    assert '<header class="report bad">' in html
    assert '<table class="findings">' in html
    assert '<span class="badge warn">warning</span>' in html and '<span class="badge bad">error</span>' in html
    assert "truststore-missing-ca" in html and "Import the CA." in html


def test_scenarios_document_links_each_scenario_to_its_section() -> None:
    replay = {"path": "mtls", "outcome": "not-confirmed", "diagnoses": [], "handshakes": [{
        "kind": "mtls", "direction": "frontend-to-connector", "client": "python", "outcome": "rejected",
        "evidence": {"connector": {"log": []}, "frontend": {"push": {"ok": False, "error": "certificate verify failed"}}},
        "diagnoses": []}]}
    document = {"scenarios": [
        {"name": "web-server-template", "passed": True, "outcome": "rejected", "codes": ["cert-eku-no-client-auth"]},
        {"name": "push-untrusted", "passed": False, "outcome": "rejected", "codes": [], "replay": replay}]}
    html = render_report(document, title="ucclab scenarios run")
    page = parse(html)
    assert '<header class="report bad">' in html and "1 of 2 scenarios failed" in html
    assert {"scenario-web-server-template-0", "scenario-push-untrusted-1"} <= set(page.links)
    assert set(page.links) <= page.ids
    push = page.one("mtls", "frontend-to-connector")
    assert push["participants"] == [CONNECTOR, "Front End"]
    assert [(m["data-label"], m["data-status"]) for m in push["messages"]] == [("TLS handshake failed", "failed")]


def test_chromium_renders_the_ladders(ucclab_lab: LabThread, tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    report = write_report(tmp_path / "report.html", ucclab_lab.replay("all").to_json(), title="ucclab replay all")
    browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}"]

    dump = subprocess.run([*browser, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert dump.returncode == 0, dump.stderr
    assert_confirmed_ladders(parse(dump.stdout))

    png = tmp_path / "report.png"
    shot = subprocess.run([*browser, f"--screenshot={png}", "--window-size=1280,2000", report.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert shot.returncode == 0, shot.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1280 and int.from_bytes(data[20:24], "big") == 2000
    assert len(data) > 50_000  # a page with text and pictures, not a blank one


@pytest.mark.interop
@pytest.mark.parametrize("client", ["java", "both"])
def test_the_java_clients_exchanges_are_drawn(ucclab_lab: LabThread, client: str) -> None:
    """The Java probe reports its Secured port as one object with its connections, not a list of records."""
    document = ucclab_lab.replay("all", client=client).to_json()
    assert document["outcome"] == "confirmed"
    page = parse(render_report(document, title=f"ucclab replay all --client {client}"))

    clients = {"java": ["java"], "both": ["python", "java"]}[client]
    assert sorted(l["data-client"] for l in page.ladders) == sorted(clients * 3)
    java = "UC Connector (java)"
    [push] = [l for l in page.ladders if l["data-client"] == "java" and l["data-direction"] == "frontend-to-connector"]
    assert push["participants"] == [java, FRONTEND]
    assert [(m["data-from"], m["data-label"]) for m in push["messages"]] == [
        (FRONTEND, "TLS handshake TLSv1.2"), (FRONTEND, "OPTIONS"), (java, "200 OK"), (FRONTEND, "NOTIFY"), (java, "200 OK")]
    for ladder in page.ladders:
        assert ladder["data-outcome"] == "confirmed"
        assert all(m["data-status"] == "ok" for m in ladder["messages"] + ladder["notes"])


@pytest.mark.interop
def test_a_push_java_refuses_is_drawn_in_red(ucclab_lab_factory) -> None:
    """A Front End certificate from the Web Server template: JSSE, as TLS server, refuses it as a client's."""
    lab = ucclab_lab_factory(topology=Topology(frontend_template="WebServer"))
    document = lab.replay("mtls", client="java").to_json()
    page = parse(render_report(document, title="serverAuth-only Front End"))

    push = page.one("mtls", "frontend-to-connector")
    assert push["data-outcome"] == "rejected"
    java = "UC Connector (java)"
    assert [(m["data-from"], m["data-label"], m["data-status"]) for m in push["messages"]] == [
        (java, "TLS handshake failed", "failed"), (FRONTEND, "push failed", "failed")]
    refusal = push["messages"][0]
    assert refusal["data-to"] == FRONTEND
