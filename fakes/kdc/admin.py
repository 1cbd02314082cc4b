"""The KDC's admin API (:mod:`fakes._admin`): the domain controller's side of the page.

The KDC stands for the domain controller, so the domain's accounts live here: what Active
Directory Users and Computers changes (the page's "Use Kerberos DES encryption for this
account", a password reset) is an ``update-account`` action, and the KDC serves the
change on its next request, as a DC does.

Settings:

* ``accounts`` (read-only) — every account without its password: sAMAccountName, UPN,
  SPNs, options, enctypes, kvno, and its state (``enabled``, ``locked_out``,
  ``account_expires``, ``must_change_password``, ``password_expired``).
* ``clock-offset`` — seconds the DC's clock is off real time (a customer's skewed DC).
* ``domain-policy`` — ``{"des_enabled": false}``: the domain's Kerberos policy
  (:class:`~fakes.kdc.DomainPolicy`). Single DES is off by default, as on Windows Server
  2008 R2 and later DCs; ``true`` is the GPO "Network security: Configure encryption types
  allowed for Kerberos" with DES_CBC_CRC and DES_CBC_MD5 ticked.

Actions:

* ``update-account`` — ``{"name": "ocs-ucc", "changes": {"use_des_key_only": true,
  "password": "...", ...}}`` with :class:`~fakes.kdc.Account`'s field names; answers the
  account as ``accounts`` shows it. A password reset that leaves "User must change
  password at next logon" ticked is ``{"password": "...", "must_change_password": true}``;
  ``{"locked_out": false}`` is "Unlock account"; ``{"account_expires": "2026-01-01T00:00:00Z"}``
  (or null for never) is "Account expires".

``reset`` puts back the accounts, the clock and the policy the KDC was started with. With
``accounts_path`` every account change is also written there (the accounts file, mode
0600), so a restarted KDC serves the same domain.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from fakes._admin import AdminError, AdminService, Setting
from fakes._files import write_private_file

from ._accounts import Account
from .server import KdcServer, account_field_error

__all__ = ["kdc_admin", "account_view", "save_accounts"]

# What an administrator may change on an account through the admin API.
_CHANGEABLE = {"password", "upn", "spns", "use_des_key_only", "dont_require_preauth", "enabled", "enctypes", "kvno",
               "locked_out", "account_expires", "must_change_password", "password_expired"}


def account_view(account: Account) -> dict[str, Any]:
    """An account as the admin API shows it: every field but the password."""
    return {f.name: getattr(account, f.name) for f in dataclasses.fields(account) if f.name != "password"}


def save_accounts(path: Path, accounts: list[Account]) -> None:
    """Write the accounts file (:func:`fakes.kdc.load_accounts_file` reads it), mode 0600."""
    data = [dataclasses.asdict(a) for a in accounts if a.sam_account_name.lower() != "krbtgt"]
    write_private_file(path, (json.dumps(data, indent=2) + "\n").encode())


def kdc_admin(server: KdcServer, *, accounts_path: Path | None = None) -> AdminService:
    """The admin service of ``server``."""
    directory = server.core.directory
    initial_accounts = directory.accounts
    initial_policy = server.core.policy
    real_now = server.core.now
    offset = [0.0]

    def accounts() -> list[dict[str, Any]]:
        return [account_view(a) for a in directory.accounts]

    def persist() -> None:
        if accounts_path is not None:
            save_accounts(accounts_path, list(directory.accounts))

    async def update_account(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not isinstance(value.get("changes"), dict):
            raise AdminError(400, 'update-account takes {"name": "<sAMAccountName>", "changes": {...}}')
        account = directory.by_sam_account_name(value["name"])
        if account is None:
            raise AdminError(404, f"the domain has no account named {value['name']!r}")
        changes = value["changes"]
        unknown = set(changes) - _CHANGEABLE
        if unknown:
            raise AdminError(400, f"these account fields cannot be changed: {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(_CHANGEABLE))})")
        for field_name, field_value in changes.items():
            wanted = account_field_error(field_name, field_value)
            if wanted is not None:
                raise AdminError(400, f"bad account change: {field_name} must be {wanted}, not {field_value!r}")
        try:
            updated = dataclasses.replace(account, **changes)
        except (TypeError, ValueError) as exc:
            raise AdminError(400, f"bad account change: {exc}") from None
        directory.update(updated)
        persist()
        return account_view(updated)

    def clock_offset() -> float:
        return offset[0]

    async def set_clock_offset(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or abs(value) > 10 * 365 * 86400:
            raise AdminError(400, "clock-offset is a number of seconds (at most ten years either way)")
        offset[0] = float(value)
        server.core.now = (lambda: real_now() + timedelta(seconds=offset[0])) if value else real_now
        return offset[0]

    def domain_policy() -> dict[str, Any]:
        return dataclasses.asdict(server.core.policy)

    async def set_domain_policy(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or set(value) - {"des_enabled"} or not all(
                isinstance(v, bool) for v in value.values()):
            raise AdminError(400, 'domain-policy takes {"des_enabled": true or false}')
        server.core.policy = dataclasses.replace(server.core.policy, **value)
        return domain_policy()

    async def reset() -> None:
        for account in initial_accounts:
            directory.update(account)
        persist()
        await set_clock_offset(0)
        server.core.policy = initial_policy

    def health() -> dict[str, Any]:
        return {"realm": server.realm, "port": server.udp_port, "clock": server.core.now().isoformat()}

    return AdminService(
        name="kdc",
        evidence=server.evidence,
        health=health,
        settings={"accounts": Setting(accounts), "clock-offset": Setting(clock_offset, set_clock_offset),
                  "domain-policy": Setting(domain_policy, set_domain_policy)},
        actions={"update-account": update_account},
        reset=reset,
    )
