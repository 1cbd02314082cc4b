"""What the browser tests of a running lab share: Chromium launched as Debian ships it, numbered
screenshots, the Configuration Server console's log-in, and the Application read back through
the GAX API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from tests.conftest import require_tool

# The page's MTLS arguments (its typos fixed), as a trainee adds them to the existing ones:
# the PFX and its password "mnopqr", the trust store and its keytool password "abcdef".
ETC = "C:\\GCTI\\UCConnector\\UCC_Lync\\etc"
PFX, PFX_PASSWORD = "GenesysServer_Certficate.pfx", "mnopqr"
STORE, STORE_PASSWORD = "UCC_store.jks", "abcdef"
MTLS_ARGUMENTS = (f"-cert_store_file {ETC}\\{PFX} -cert_store_pass {PFX_PASSWORD} -cert_store_type pkcs12 "
                  f"-key_store_file {ETC}\\{STORE} -key_store_pass {STORE_PASSWORD} -key_store_type jks")


def launch_chromium(driver: Any) -> Any:
    """Debian's Chromium (the test machine's own browser), headless, driven by Playwright."""
    return driver.chromium.launch(executable_path=require_tool("chromium"), args=["--no-sandbox"])


class Screenshots:
    """Numbered full-page screenshots in ``folder`` (a test artifact); each path is printed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Any, name: str) -> Path:
        path = self.folder / f"{len(list(self.folder.iterdir())) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


def gax_log_in(page: Any, lab: dict[str, Any]) -> None:
    """"You are logged in to Configuration Manager": the console's log-in with the lab's account."""
    from playwright.sync_api import expect

    page.goto(lab["endpoints"]["configserver"] + "gax/")
    page.get_by_label("User name").fill(lab["accounts"]["configserver"]["username"])
    page.get_by_label("Password", exact=True).fill(lab["accounts"]["configserver"]["password"])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Applications")).to_be_visible()


def gax_application(lab: dict[str, Any]) -> dict[str, Any]:
    """The UC Connector's Application as the GAX API gives it."""
    url, account = lab["endpoints"]["configserver"], lab["accounts"]["configserver"]
    token = requests.post(url + "gax/api/session/login", json=account, timeout=10).json()["token"]
    found = requests.get(url + "gax/api/cfg/objects/CfgApplication", params={"name": lab["topology"]["application_name"]},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert len(found) == 1
    return found[0]
