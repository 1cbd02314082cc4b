"""A trainee in Chromium (Playwright, Debian's own browser): the Configuration Server console's
steps of the page — ``[Microsoft-OCS] password``, a Secured SIP port through the Warning, the
Command Line Arguments — read back through the GAX API, then the lab console with its hosts
and the events that real tools (``openssl s_client``, MIT ``kinit``) make as they arrive.

Screenshots of each step are saved under the test's ``tmp_path`` and their paths printed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.lab import free_port
from tests.conftest import require_tool
from tests.fakes.kdc_support import MitClient, krb5_conf_text
from tests.harness.browser_support import (
    MTLS_ARGUMENTS,
    Screenshots,
    gax_application,
    gax_log_in,
    launch_chromium,
)
from tests.harness.running_lab import up

playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' brings playwright")



@pytest.fixture
def running_lab(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``ucclab up --blank``: the page's start state, in a process of its own; its lab.json."""
    with up(tmp_path / "lab", "--blank") as lab:
        yield lab.wait_serving()


def test_a_trainee_configures_the_application_and_watches_the_lab(running_lab: dict[str, Any], tmp_path: Path) -> None:
    openssl, _kinit = require_tool("openssl"), require_tool("kinit")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # a machine shared with other work may be slow to answer

    lab = running_lab
    shots = Screenshots(tmp_path / "screenshots")
    secure_port = free_port("127.0.0.1")
    before = gax_application(lab)

    with sync_playwright() as driver:
        browser = launch_chromium(driver)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

        def shot(name: str) -> None:
            shots.take(page, name)

        # "You are logged in to Configuration Manager."
        gax_log_in(page, lab)
        shot("applications")

        # "Go to Environment > Applications and double-click the UC Connector Application object."
        page.get_by_role("link", name=lab["topology"]["application_name"]).click()
        # "Go to the Options tab. In the Microsoft-OCS section, set the password option."
        page.get_by_label("Section").fill("Microsoft-OCS")
        page.get_by_label("Option name").fill("password")
        # "Set this option to the password configured for the OCS user in Active Directory."
        secret = lab["kerberos"]["ucc_password"]
        page.get_by_label("Value").fill(secret)
        page.get_by_role("button", name="Add").click()
        expect(page.get_by_role("status")).to_have_text("Option added.")
        expect(page.locator('tr[data-section="Microsoft-OCS"][data-key="password"] code')).to_have_text("********")
        shot("options")

        # "Configuring a Secure SIP Port": first a mistyped port, answered in the page.
        page.get_by_role("link", name="Server Info").click()
        page.get_by_label("Port ID").fill("sip-secure")
        page.get_by_label("Communication Port").fill("50x")
        page.get_by_label("Connection Protocol").select_option("sip")
        page.get_by_label("Listening Mode").select_option("Secured")
        page.get_by_role("button", name="Add").click()
        expect(page.get_by_role("alert")).to_contain_text('port: must be an integer (a decimal string such as "5061")')
        shot("port-refused")
        page.get_by_label("Communication Port").fill(str(secure_port))
        page.get_by_role("button", name="Add").click()
        # "On adding this port, you may see the following Warning ... Click Yes to continue."
        warning = page.get_by_role("alertdialog")
        expect(warning).to_contain_text("is Secured (tls=1), but no TLS certificate is configured")
        shot("warning")
        warning.get_by_role("button", name="Yes").click()
        expect(page.get_by_role("status")).to_have_text("Port added.")
        expect(page.locator('tr[data-port-id="sip-secure"]')).to_contain_text("Secured")
        shot("server-info")

        # "Go to Start Info tab > Command Line Arguments ... Add the following parameters."
        page.get_by_role("link", name="Start Info").click()
        field = page.get_by_label("Command Line Arguments")
        arguments = f"{field.input_value()} {MTLS_ARGUMENTS}"
        field.fill(arguments)
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Start Info saved.")
        shot("start-info")

        # Through the API: exactly what was typed, and nothing else changed.
        app = gax_application(lab)
        assert app["options"]["property"] == [
            {"section": "Microsoft-OCS", "key": "user", "value": "ocs-ucc"},
            {"section": "Microsoft-OCS", "key": "password", "value": secret}]
        assert app["portinfos"]["portinfo"] == [
            {"id": "sip-secure", "port": str(secure_port), "connprotocol": "sip", "transportparams": "tls=1",
             "appparams": "", "description": ""}]
        assert app["commandlinearguments"] == arguments == f"{before['commandlinearguments']} {MTLS_ARGUMENTS}"
        unchanged = ("name", "workdirectory", "commandline", "startuptimeout", "shutdowntimeout", "autorestart", "serverinfo")
        assert {k: app[k] for k in unchanged} == {k: before[k] for k in unchanged}

        # The one page load that failed is the refused port's page, answered 400 by design.
        assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
        errors.clear()

        # The lab console: opened with the lab's token.
        page.goto(lab["endpoints"]["console"])
        page.get_by_label("The lab's admin token").fill(lab["admin"]["token"])
        page.get_by_role("button", name="Open the console").click()
        for fqdn in lab["hosts"].values():
            expect(page.locator(f'table.hosts tr[data-host="{fqdn}"]').first).to_be_visible()
        expect(page.locator("#live")).to_have_text("(live)")
        expect(page.get_by_role("link", name="Configuration Server console")).to_have_attribute(
            "href", lab["endpoints"]["configserver"] + "gax/")
        # The checklist (ucclab progress) sees the steps just done in the Configuration Server.
        for heading in ("Creating a Password for Kerberos Security", "Configuring a Secure SIP Port"):
            steps = page.locator(f'#checklist tr[data-heading="{heading}"]')
            expect(steps.first).to_be_visible()
            expect(page.locator(f'#checklist tr[data-heading="{heading}"]:not([data-status="done"])')).to_have_count(0)
        shot("console")

        # Real tools make events while the page is open; they arrive without a reload.
        expect(page.locator('#events tr[data-service="frontend"][data-type="tls-handshake"]')).to_have_count(0)
        expect(page.locator('#events tr[data-service="kdc"]')).to_have_count(0)
        frontend, kdc = lab["endpoints"]["frontend"], lab["endpoints"]["kdc"]
        subprocess.run([openssl, "s_client", "-connect", f"{frontend['host']}:{frontend['port']}",
                        "-servername", lab["hosts"]["frontend"]], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=30, check=False)
        mit = MitClient(tmp_path / "mit", krb5_conf_text(kdc["port"]))
        assert mit.kinit(lab["kerberos"]["ucc_principal"], lab["kerberos"]["ucc_password"]).returncode == 0
        expect(page.locator('#events tr[data-service="frontend"][data-type="tls-handshake"]')).to_have_count(1)
        expect(page.locator('#events tr[data-service="kdc"][data-type="AS-REQ"]').first).to_be_visible()
        expect(page.locator("#ladders svg.ladder")).to_have_count(1)
        expect(page.locator("#live")).to_contain_text("last event")
        shot("console-events")
        assert secret not in page.content()
        assert errors == []  # no script error, no failed poll, nothing the CSP had to block
        browser.close()
