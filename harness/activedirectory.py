"""The lab domain's accounts, as Active Directory Users and Computers shows them.

Two accounts matter to the page: the UC Connector's OCS user (``ocs-ucc``), whose
password goes into the ``Microsoft-OCS`` option and whose account options the page
changes ("Use Kerberos DES encryption for this account"), and the Front End's computer
account, which holds the ``sip/<frontend fqdn>`` service principal name the connector
asks a ticket for. They live in ``state/ad.json`` (mode 0600: it holds passwords), and a
change is handed to the KDC stand-in at once, as a domain controller would serve it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

from fakes._files import write_private_file
from fakes.kdc import Account

__all__ = ["ActiveDirectory", "DirectoryError"]

# Account fields kept in ad.json; the rest of Account keeps its defaults.
_FIELDS = ("sam_account_name", "password", "upn", "spns", "use_des_key_only", "dont_require_preauth", "enabled")


class DirectoryError(ValueError):
    """ad.json is unreadable, or an account named does not exist."""


class ActiveDirectory:
    """The domain's accounts, persisted; ``on_change`` is called with each updated account."""

    def __init__(self, path: Path, accounts: list[Account]) -> None:
        self.path = path
        self.on_change: Callable[[Account], None] | None = None
        if path.exists():
            try:
                stored = json.loads(path.read_text())
                self.accounts = {a["sam_account_name"].lower(): Account(**{**a, "spns": tuple(a["spns"])}) for a in stored}
            except (ValueError, TypeError, KeyError) as exc:
                raise DirectoryError(f"{path}: unreadable directory ({exc}); remove the workdir to start afresh") from exc
        else:
            self.accounts = {a.sam_account_name.lower(): a for a in accounts}
            self._save()

    def _save(self) -> None:
        data: list[dict[str, Any]] = [
            {f: getattr(a, f) for f in _FIELDS} for a in self.accounts.values()
        ]
        write_private_file(self.path, (json.dumps(data, indent=2) + "\n").encode())

    def get(self, name: str) -> Account:
        try:
            return self.accounts[name.lower()]
        except KeyError:
            raise DirectoryError(f"no account named {name!r} in the directory") from None

    def update(self, name: str, **changes: Any) -> Account:
        """Change an account's properties (options, password) and tell the KDC."""
        account = dataclasses.replace(self.get(name), **changes)
        self.accounts[name.lower()] = account
        self._save()
        if self.on_change is not None:
            self.on_change(account)
        return account
