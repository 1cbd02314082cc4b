"""The KDC's admin API over real HTTP: the domain's DES policy (``domain-policy``) and the
account states the page's steps touch (``update-account``), seen by real clients and kept
in the accounts file."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from fakes._admin import AdminServer
from fakes.kdc import KdcServer, load_accounts_file
from fakes.kdc.admin import kdc_admin
from fakes.kerberos import JAVA_WEAK_CRYPTO_ENCTYPES, KerberosClient, KerberosError, decode_kerb_ext_error
from harness.admin import AdminClient, AdminUnavailable, http_client
from tests.conftest import require_tool

from .kdc_support import DES_PASSWORD, REALM, UCC_PASSWORD, MitClient, krb5_conf_text, lab_accounts

TOKEN = "kdc-admin-token-0123456789"


@contextlib.asynccontextmanager
async def _dc(tmp_path: Path) -> AsyncIterator[tuple[KdcServer, AdminClient]]:
    kdc = KdcServer(lab_accounts())
    await kdc.start()
    admin = AdminServer([kdc_admin(kdc, accounts_path=tmp_path / "ad.json")], token=TOKEN, host_name="labdc01")
    await admin.start()
    try:
        yield kdc, http_client("kdc", f"http://127.0.0.1:{admin.port}/admin/kdc/", TOKEN)
    finally:
        await admin.close()
        await kdc.close()


def run_with_dc(tmp_path: Path, scenario: Callable[[KdcServer, AdminClient], Awaitable[None]]) -> None:
    async def main() -> None:
        async with _dc(tmp_path) as (kdc, admin):
            await scenario(kdc, admin)

    asyncio.run(main())


async def weak_crypto_login(kdc: KdcServer, user: str, password: str) -> str:
    """A TGT for ``user`` as JDK 17 with allow_weak_crypto asks for it; its client's name."""
    client = KerberosClient(REALM, [("127.0.0.1", kdc.port)], enctypes=JAVA_WEAK_CRYPTO_ENCTYPES)
    return (await client.get_tgt(user, password)).client_principal


def test_domain_policy_turns_des_on_and_off(tmp_path: Path) -> None:
    async def scenario(kdc: KdcServer, admin: AdminClient) -> None:
        assert await admin.get("domain-policy") == {"des_enabled": False}
        cursor = await admin.cursor()
        with pytest.raises(KerberosError) as refused:
            await weak_crypto_login(kdc, "ocs-des", DES_PASSWORD)
        assert refused.value.code == 14
        [record] = [r for r in await admin.since(cursor) if r["error_code"] == 14]
        assert record["ad_event"]["id"] == 14 and record["ad_event"]["source"] == \
            "Microsoft-Windows-Kerberos-Key-Distribution-Center"
        assert "The requested etypes : 18 17 16 23 1 3." in record["ad_event"]["text"]
        assert await admin.put("domain-policy", {"des_enabled": True}) == {"des_enabled": True}
        assert await weak_crypto_login(kdc, "ocs-des", DES_PASSWORD) == f"ocs-des@{REALM}"
        for bad in ({"des_enabled": "yes"}, {"aes": True}, True):
            with pytest.raises(AdminUnavailable, match="domain-policy takes"):
                await admin.put("domain-policy", bad)
        await admin.reset()
        assert await admin.get("domain-policy") == {"des_enabled": False}

    run_with_dc(tmp_path, scenario)


def test_account_states_reach_mit_kinit_and_the_accounts_file(tmp_path: Path) -> None:
    async def scenario(kdc: KdcServer, admin: AdminClient) -> None:
        require_tool("kinit")
        mit = MitClient(tmp_path / "mit", krb5_conf_text(kdc.port))
        # "Reset Password" with "User must change password at next logon" left ticked.
        changed = await admin.act("update-account", {"name": "ocs-ucc", "changes": {
            "password": "Reset#Pw-2024", "must_change_password": True}})
        assert changed["must_change_password"] is True and "password" not in changed
        kinit = await asyncio.to_thread(mit.kinit, "ocs-ucc", "Reset#Pw-2024")
        assert kinit.returncode == 1 and "Password expired.  You must change it now." in kinit.stdout
        await admin.act("update-account", {"name": "ocs-ucc", "changes": {
            "must_change_password": False, "locked_out": True}})
        kinit = await asyncio.to_thread(mit.kinit, "ocs-ucc", "Reset#Pw-2024")
        assert kinit.stderr == "kinit: Client's credentials have been revoked while getting initial credentials\n"
        client = KerberosClient(REALM, [("127.0.0.1", kdc.port)])
        with pytest.raises(KerberosError) as revoked:
            await client.get_tgt("ocs-ucc", "Reset#Pw-2024")
        assert (revoked.value.code, decode_kerb_ext_error(revoked.value.e_data)) == (18, 0xC0000234)
        await admin.act("update-account", {"name": "ocs-ucc", "changes": {
            "locked_out": False, "account_expires": "2020-01-01T00:00:00Z"}})
        with pytest.raises(KerberosError) as expired:
            await client.get_tgt("ocs-ucc", "Reset#Pw-2024")
        assert decode_kerb_ext_error(expired.value.e_data) == 0xC0000193
        # The accounts file keeps the state, and a restarted KDC reads it back.
        [saved] = [a for a in load_accounts_file(tmp_path / "ad.json") if a.sam_account_name == "ocs-ucc"]
        assert (saved.account_expires, saved.locked_out, saved.must_change_password) == (
            "2020-01-01T00:00:00Z", False, False)
        assert json.loads((tmp_path / "ad.json").read_text())[0]["account_expires"] == "2020-01-01T00:00:00Z"
        await admin.act("update-account", {"name": "ocs-ucc", "changes": {"account_expires": None}})
        assert (await client.get_tgt("ocs-ucc", "Reset#Pw-2024")).client_principal == f"ocs-ucc@{REALM}"

    run_with_dc(tmp_path, scenario)


@pytest.mark.parametrize("changes, words", [
    ({"account_expires": "next week"}, "account_expires must be an ISO 8601 date-time"),
    ({"locked_out": "yes"}, "locked_out must be true or false, not 'yes'"),
    ({"must_change_password": 1}, "must_change_password must be true or false"),
    ({"account_expires": 20200101}, "account_expires must be a string or null"),
])
def test_bad_account_changes_are_refused_in_words(tmp_path: Path, changes: dict[str, object], words: str) -> None:
    async def scenario(kdc: KdcServer, admin: AdminClient) -> None:
        with pytest.raises(AdminUnavailable, match=words) as refused:
            await admin.act("update-account", {"name": "ocs-ucc", "changes": changes})
        assert refused.value.status == 400
        # Nothing changed: the user still logs in.
        client = KerberosClient(REALM, [("127.0.0.1", kdc.port)])
        assert (await client.get_tgt("ocs-ucc", UCC_PASSWORD)).client_principal == f"ocs-ucc@{REALM}"

    run_with_dc(tmp_path, scenario)
