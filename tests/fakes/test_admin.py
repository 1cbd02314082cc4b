"""The stand-ins' admin API over real HTTP: evidence by cursor, settings, actions, refusals.

The Front End and the KDC run on real sockets; the admin API is driven with aiohttp (as the
harness's HTTP client does) and through the harness's in-process client, which must answer
the same shapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes._admin import MAX_ADMIN_BODY, AdminServer
from fakes.frontend import FrontendServer
from fakes.frontend.admin import frontend_admin
from fakes.kdc import KdcServer
from fakes.kdc.admin import kdc_admin
from harness.admin import AdminUnavailable, http_client, local_client
from tests.conftest import require_tool

from .frontend_support import UCC_FQDN, LabPki, client_context, frontend_config, mtls_exchange, options_request
from .kdc_support import UCC_PASSWORD, MitClient, krb5_conf_text, lab_accounts

TOKEN = "lab-admin-token-0123456789"


@dataclass
class Site:
    admin: AdminServer
    frontend: FrontendServer
    kdc: KdcServer
    pki: LabPki
    ucc: Any
    tmp: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.admin.port}/admin/{path}"


@contextlib.asynccontextmanager
async def _site(tmp_path: Path) -> AsyncIterator[Site]:
    pki = LabPki(tmp_path)
    fe_cred = pki.issue("fe01", cn="fe01.companya.com", dns=["fe01.companya.com"])
    ucc = pki.issue("ucc01", cn=UCC_FQDN, dns=[UCC_FQDN])
    state = tmp_path / "fe-state"
    state.mkdir()
    frontend = FrontendServer(frontend_config(pki, fe_cred))
    await frontend.start()
    kdc = KdcServer(lab_accounts())
    await kdc.start()
    admin = AdminServer([frontend_admin(frontend, state_dir=state), kdc_admin(kdc, accounts_path=tmp_path / "ad.json")],
                        token=TOKEN, host_name="lab")
    await admin.start()
    try:
        yield Site(admin, frontend, kdc, pki, ucc, tmp_path)
    finally:
        await admin.close()
        await frontend.close()
        await kdc.close()


def run_with_site(tmp_path: Path, scenario: Callable[[Site], Awaitable[None]]) -> None:
    """Run ``scenario`` against a Front End and a KDC behind one admin server."""

    async def main() -> None:
        async with _site(tmp_path) as site:
            await scenario(site)

    asyncio.run(main())


async def _call(site: Site, method: str, path: str, *, token: str | None = TOKEN, body: Any = None,
                raw: bytes | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else (None if body is None else json.dumps(body))
    async with aiohttp.ClientSession() as session:
        async with session.request(method, site.url(path), headers=headers, data=data) as response:
            return response.status, await response.json(content_type=None)


def test_health_needs_no_token_but_everything_else_does(tmp_path: Path) -> None:
    async def scenario(site: Site) -> None:
        status, health = await _call(site, "GET", "frontend/health", token=None)
        assert status == 200 and health["ok"] and health["fqdn"] == "fe01.companya.com" and health["port"] == site.frontend.port
        for path in ("", "frontend/events", "kdc/settings/accounts"):
            status, answer = await _call(site, "GET", path, token=None)
            assert status == 401 and "token" in answer["error"]
            status, answer = await _call(site, "GET", path, token="wrong")
            assert status == 401
        status, index = await _call(site, "GET", "")
        assert (status, index) == (200, {"host": "lab", "services": ["frontend", "kdc"]})

    run_with_site(tmp_path, scenario)


def test_evidence_after_a_cursor_shows_what_the_front_end_saw(tmp_path: Path) -> None:
    async def scenario(site: Site) -> None:
        _status, health = await _call(site, "GET", "frontend/health")
        cursor = health["cursor"]
        answers = await mtls_exchange(site.frontend.port, client_context(site.pki.ca_path, site.ucc), options_request())
        assert answers[0].status == 200
        await asyncio.sleep(0)
        status, page = await _call(site, "GET", f"frontend/events?after={cursor}")
        assert status == 200 and not page["truncated"]
        kinds = [r["type"] for r in page["records"]]
        assert "tls-handshake" in kinds and "peer-trusted" in kinds
        assert [r["seq"] for r in page["records"]] == list(range(cursor + 1, page["cursor"] + 1))
        response = next(r for r in page["records"] if r["type"] == "response")
        assert (response["method"], response["status"]) == ("OPTIONS", 200)
        # The in-process client gives the very same records.
        assert await local_client(frontend_admin(site.frontend, state_dir=site.tmp)).since(cursor) == page["records"]

    run_with_site(tmp_path, scenario)


def test_a_long_poll_returns_as_soon_as_a_record_arrives(tmp_path: Path) -> None:
    async def scenario(site: Site) -> None:
        cursor = site.frontend.events.cursor

        async def later() -> None:
            await asyncio.sleep(0.05)
            site.frontend.events.append("marker")

        task = asyncio.ensure_future(later())
        status, page = await _call(site, "GET", f"frontend/events?after={cursor}&wait=20")
        await task
        assert status == 200 and [r["type"] for r in page["records"]] == ["marker"]

    run_with_site(tmp_path, scenario)


def test_known_peers_setting_decides_who_gets_sip_service(tmp_path: Path) -> None:
    async def scenario(site: Site) -> None:
        client = http_client("frontend", site.url("frontend/"), TOKEN)
        assert await client.get("known-peers") == [UCC_FQDN]
        assert await client.put("known-peers", ["other.companya.com"]) == ["other.companya.com"]
        context = client_context(site.pki.ca_path, site.ucc)
        cursor = await client.cursor()
        with contextlib.suppress(ConnectionError):  # closed before the request went out
            await mtls_exchange(site.frontend.port, context, options_request(), answers=1)
        refused = [r for r in await client.since(cursor) if r["type"] == "peer-not-trusted"]
        assert refused and refused[0]["known_peers"] == ["other.companya.com"]
        await client.reset()
        assert await client.get("known-peers") == [UCC_FQDN]
        assert (await mtls_exchange(site.frontend.port, context, options_request()))[0].status == 200

    run_with_site(tmp_path, scenario)


def test_a_new_certificate_is_presented_and_a_bad_one_changes_nothing(tmp_path: Path) -> None:
    async def scenario(site: Site) -> None:
        client = http_client("frontend", site.url("frontend/"), TOKEN)
        renewed = site.pki.issue("fe01-renewed", cn="fe01.companya.com", dns=["fe01.companya.com", "pool.companya.com"])
        answer = await client.put("certificate", {"chain": renewed.cert_path.read_text(), "key": renewed.key_path.read_text()})
        assert answer["subjects"][0] == "CN=fe01.companya.com"
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", site.frontend.port, ssl=client_context(site.pki.ca_path, site.ucc), server_hostname="fe01.companya.com")
        presented = writer.get_extra_info("ssl_object").getpeercert()
        writer.close()
        assert ("DNS", "pool.companya.com") in presented["subjectAltName"]
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        with pytest.raises(AdminUnavailable, match="refused the change") as refused:
            await client.put("certificate", {"chain": renewed.cert_path.read_text(), "key": other_key})
        assert refused.value.status == 409
        with pytest.raises(AdminUnavailable, match="not a PEM") as bad:
            await client.put("certificate", {"chain": "garbage", "key": "garbage"})
        assert bad.value.status == 400
        assert (await mtls_exchange(site.frontend.port, client_context(site.pki.ca_path, site.ucc), options_request()))[0].status == 200

    run_with_site(tmp_path, scenario)


@pytest.mark.parametrize(
    ("method", "path", "raw", "status", "words"),
    [
        ("GET", "nosuch/health", None, 404, "no service 'nosuch'"),
        ("GET", "frontend/settings/colour", None, 404, "no setting 'colour'"),
        ("POST", "frontend/actions/explode", None, 404, "no action 'explode'"),
        ("PUT", "frontend/settings/known-peers", b"\xff\xfe not json", 400, "not JSON"),
        ("PUT", "frontend/settings/known-peers", b'{"a": 1}', 400, "JSON list of FQDNs"),
        ("PUT", "kdc/settings/accounts", b"[]", 409, "read-only"),
        ("GET", "frontend/events?after=abc", None, 400, "after must be a number"),
        ("POST", "frontend/actions/push", b'{"host": "127.0.0.1", "port": 99999, "server_name": "x"}', 400, "1..65535"),
        ("POST", "kdc/actions/update-account", b'{"name": "nobody", "changes": {}}', 404, "no account named 'nobody'"),
        ("POST", "kdc/actions/update-account", b'{"name": "ocs-ucc", "changes": {"sam_account_name": "x"}}', 400, "cannot be changed"),
        ("PUT", "kdc/settings/clock-offset", b'"soon"', 400, "number of seconds"),
    ],
)
def test_bad_requests_get_a_reason_and_the_api_keeps_serving(tmp_path: Path, method: str, path: str, raw: bytes | None, status: int, words: str) -> None:
    async def scenario(site: Site) -> None:
        got, answer = await _call(site, method, path, raw=raw if raw is not None else None)
        assert got == status and words in answer["error"]
        assert (await _call(site, "GET", "frontend/health"))[0] == 200

    run_with_site(tmp_path, scenario)


def test_a_body_over_the_limit_is_refused(tmp_path: Path) -> None:
    async def scenario(site: Site) -> None:
        status, answer = await _call(site, "PUT", "frontend/settings/trusted-cas", raw=b'"' + b"A" * MAX_ADMIN_BODY + b'"')
        assert status == 413 and "larger than" in answer["error"]

    run_with_site(tmp_path, scenario)


def test_account_changes_reach_the_kdc_and_mit_kinit_sees_them(tmp_path: Path) -> None:
    async def scenario(site: Site) -> None:
        require_tool("kinit")
        kdc = http_client("kdc", site.url("kdc/"), TOKEN)
        mit = MitClient(tmp_path / "mit", krb5_conf_text(site.kdc.port))
        assert (await asyncio.to_thread(mit.kinit, "ocs-ucc", UCC_PASSWORD)).returncode == 0
        changed = await kdc.act("update-account", {"name": "ocs-ucc", "changes": {"password": "New-Password#2024"}})
        assert changed["sam_account_name"] == "ocs-ucc" and "password" not in changed
        old = await asyncio.to_thread(mit.kinit, "ocs-ucc", UCC_PASSWORD)
        assert old.returncode != 0 and "Password incorrect" in old.stderr
        assert (await asyncio.to_thread(mit.kinit, "ocs-ucc", "New-Password#2024")).returncode == 0
        # The change is the domain's: written to the accounts file a restarted KDC reads.
        saved = {a["sam_account_name"]: a for a in json.loads((site.tmp / "ad.json").read_text())}
        assert saved["ocs-ucc"]["password"] == "New-Password#2024" and "krbtgt" not in saved
        cursor = await kdc.cursor()
        await kdc.reset()
        assert (await asyncio.to_thread(mit.kinit, "ocs-ucc", UCC_PASSWORD)).returncode == 0
        issued = [r for r in await kdc.since(cursor) if r["type"] == "AS-REQ" and r["error_code"] is None]
        assert issued and issued[-1]["client"].lower() == "ocs-ucc@companya.com"

    run_with_site(tmp_path, scenario)


def test_the_dc_clock_offset_makes_mit_kinit_fail_with_skew(tmp_path: Path) -> None:
    async def scenario(site: Site) -> None:
        require_tool("kinit")
        kdc = http_client("kdc", site.url("kdc/"), TOKEN)
        assert await kdc.put("clock-offset", 3600) == 3600.0
        mit = MitClient(tmp_path / "mit", krb5_conf_text(site.kdc.port, libdefaults=["kdc_timesync = 0"]))
        result = await asyncio.to_thread(mit.kinit, "ocs-ucc", UCC_PASSWORD)
        assert result.returncode != 0 and "Clock skew too great" in result.stderr
        await kdc.put("clock-offset", 0)
        assert (await asyncio.to_thread(mit.kinit, "ocs-ucc", UCC_PASSWORD)).returncode == 0

    run_with_site(tmp_path, scenario)

