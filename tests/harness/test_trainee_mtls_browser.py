"""A trainee through the MTLS path by hand, in a blank sandbox (``ucclab up --blank``), with the
tools a trainee has: Chromium on certsrv's pages and on the Configuration Server's console,
``openssl`` for the request and the PFX, ``ucclab host`` for the Windows host, the real
``keytool`` for the trust store, a text file for startup.bat. Then ``ucclab connect`` starts
the connector as the trainee configured it, and ``ucclab progress`` must show every step of
the path done and both MTLS directions confirmed by what the server sides saw.

Screenshots of each page are saved under the test's ``tmp_path`` (paths printed).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.lab import free_port
from harness.procedures import procedures_for
from tests.conftest import require_tool
from tests.harness.browser_support import (
    MTLS_ARGUMENTS,
    PFX,
    PFX_PASSWORD,
    STORE,
    STORE_PASSWORD,
    Screenshots,
    gax_application,
    gax_log_in,
    launch_chromium,
)
from tests.harness.running_lab import running_lab, ucclab

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' brings playwright")
pytestmark = pytest.mark.interop



def progress(workdir: Path) -> dict[str, Any]:
    done = ucclab("progress", "--workdir", str(workdir), "--json")
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def mtls_steps(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The checklist's steps of the MTLS path by way of certsrv (``web``)."""
    headings = {p.heading for p in procedures_for("mtls", "web")}
    return {(s["heading"], s["step"]): s for s in document["steps"] if s["heading"] in headings}


def test_a_trainee_takes_the_mtls_path_by_hand(tmp_path: Path) -> None:
    openssl, keytool = require_tool("openssl"), require_tool("keytool")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    shots = Screenshots(tmp_path / "screenshots")
    work = tmp_path / "trainee"  # the trainee's own folder: key, CSR, downloads
    work.mkdir()
    with running_lab(tmp_path / "lab", "--blank") as workdir:
        lab = json.loads((workdir / "lab.json").read_text())
        etc = workdir / "artifacts"  # the connector's etc folder, C:\GCTI\UCConnector\UCC_Lync\etc
        blank = progress(workdir)
        assert {s["status"] for s in mtls_steps(blank).values()} == {"todo"}
        ucc_fqdn = lab["hosts"]["ucc"]

        # The request's key and CSR, made with openssl on the trainee's machine.
        subprocess.run([openssl, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "ucc.key", "-subj",
                        f"/CN={ucc_fqdn}", "-out", "ucc.csr"], cwd=work, check=True, capture_output=True, timeout=60)

        with sync_playwright() as driver:
            browser = launch_chromium(driver)
            context = browser.new_context(ignore_https_errors=True, accept_downloads=True, http_credentials={
                "username": lab["accounts"]["enroll"]["username"], "password": lab["accounts"]["enroll"]["password"]})
            page = context.new_page()

            def download(link: str, to: Path) -> Path:
                with page.expect_download() as started:
                    page.get_by_text(link, exact=True).click()
                started.value.save_as(to)
                return to

            # Generating the Client Certificate: the CA's certificate from certsrv, DER, into etc.
            page.goto(lab["endpoints"]["certsrv"])
            expect(page).to_have_title("Microsoft Active Directory Certificate Services")
            shots.take(page, "certsrv")
            page.get_by_text("Download a CA certificate, certificate chain, or CRL").click()
            shots.take(page, "certcarc")
            download("Download CA certificate", etc / "CompanyA_Certificate.cer")

            # CA Web Access: Request a certificate > advanced certificate request, the CSR pasted.
            page.goto(lab["endpoints"]["certsrv"])
            page.locator("#lnkRequest").click()
            page.get_by_text("advanced certificate request").click()
            page.locator("#locTaRequest").fill((work / "ucc.csr").read_text())
            page.locator("#lbCertTemplateID").select_option(label="Web Server (Exportable)")
            shots.take(page, "advanced-request")
            page.locator("#btnSubmit").click()
            expect(page.locator("#locPageTitle")).to_have_text("Certificate Issued")
            page.locator("#rbB64Enc").check()
            shots.take(page, "certificate-issued")
            download("Download certificate", work / "certnew.cer")

            # The Application in the Configuration Server's console: a Secured port, the arguments.
            gax_log_in(page, lab)
            page.get_by_role("link", name=lab["topology"]["application_name"]).click()
            page.get_by_role("link", name="Server Info").click()
            page.get_by_label("Port ID").fill("sip-secure")
            page.get_by_label("Communication Port").fill(str(free_port("127.0.0.1")))
            page.get_by_label("Connection Protocol").select_option("sip")
            page.get_by_label("Listening Mode").select_option("Secured")
            page.get_by_role("button", name="Add").click()
            page.get_by_role("alertdialog").get_by_role("button", name="Yes").click()
            expect(page.get_by_role("status")).to_have_text("Port added.")
            shots.take(page, "server-info")
            page.get_by_role("link", name="Start Info").click()
            field = page.get_by_label("Command Line Arguments")
            field.fill(f"{field.input_value()} {MTLS_ARGUMENTS}")
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_role("status")).to_have_text("Start Info saved.")
            shots.take(page, "start-info")
            browser.close()
        assert MTLS_ARGUMENTS in gax_application(lab)["commandlinearguments"]

        # The PFX with its key and chain, exported with openssl as "GenesysServer_Certficate.pfx".
        subprocess.run([openssl, "x509", "-inform", "DER", "-in", str(etc / "CompanyA_Certificate.cer"), "-out", "ca.pem"],
                       cwd=work, check=True, capture_output=True)
        subprocess.run([openssl, "pkcs12", "-export", "-in", "certnew.cer", "-inkey", "ucc.key", "-certfile", "ca.pem",
                        "-name", "GenesysServerCertificate", "-out", str(etc / PFX), "-passout", f"pass:{PFX_PASSWORD}"],
                       cwd=work, check=True, capture_output=True)

        # The trust store: the Front End's root exported on fe01 (ucclab host), imported with keytool.
        exported = ucclab("host", "fe01", "--workdir", str(workdir), "--",
                          "Get-ChildItem Cert:\\LocalMachine\\Root | Export-Certificate -Type CERT "
                          "-FilePath \\\\ucc01\\C$\\GCTI\\UCConnector\\UCC_Lync\\etc\\UCC_Certificate.cer")
        assert exported.returncode == 0, exported.stderr
        imported = subprocess.run([keytool, "-import", "-noprompt", "-alias", "ucc-cert", "-file", "UCC_Certificate.cer",
                                   "-keystore", STORE, "-storetype", "jks", "-storepass", STORE_PASSWORD], cwd=etc,
                                  capture_output=True, text=True, check=False)
        assert imported.returncode == 0, imported.stderr

        # "If you are planning on starting UC Connector from the batch file": startup.bat too.
        (etc / "startup.bat").write_text(f"@echo off\r\ncd /d \"C:\\GCTI\\UCConnector\\UCC_Lync\"\r\n"
                                         f"UCC_Lync.exe {MTLS_ARGUMENTS}\r\n")

        checklist = progress(workdir)
        assert checklist["pfx_source"] == "web"
        steps = mtls_steps(checklist)
        assert [key for key, s in steps.items() if s["status"] != "done"] == []
        assert len(steps) == 20
        assert not [s for s in checklist["steps"] if s["status"] == "wrong"]
        assert {h.get("direction"): h["status"] for h in checklist["handshakes"] if h["kind"] == "mtls"} == {
            "connector-to-frontend": "not-seen", "frontend-to-connector": "not-seen"}

        # The connector started as the trainee configured it: both directions, the server sides' words.
        # No path named: the one the Application's arguments are set for.
        started = ucclab("connect", "--workdir", str(workdir), "--json")
        assert started.returncode == 0, started.stderr
        connected = json.loads(started.stdout)
        assert connected["setup"] == ["the Application's Command Line Arguments are set for mtls: connected so"]
        assert [(h["direction"], h["outcome"]) for h in connected["handshakes"]] == [
            ("connector-to-frontend", "confirmed"), ("frontend-to-connector", "confirmed")]
        assert connected["transcript"] == []  # no step of the page was done for the trainee
        register = connected["handshakes"][0]["evidence"]["frontend"]
        assert register["peer"]["subject"] == f"CN={ucc_fqdn}" and register["peer_trusted_as"] == ucc_fqdn

        finished = progress(workdir)
        assert {h.get("direction"): h["status"] for h in finished["handshakes"] if h["kind"] == "mtls"} == {
            "connector-to-frontend": "confirmed", "frontend-to-connector": "confirmed"}
        assert [key for key, s in mtls_steps(finished).items() if s["status"] != "done"] == []
