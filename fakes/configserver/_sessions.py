"""Accounts and login sessions, shared by the GAX API and the console pages (sans I/O).

A GAX login opens one session for the browser and for the REST API alike: the session
token is the ``JSESSIONID`` cookie a login sets (GAX runs in a Java servlet container) or
an ``Authorization: Bearer`` header. So the console's pages and the API authenticate the
same accounts the same way, and a session opened on one is good on the other.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from collections.abc import Mapping

__all__ = ["Sessions", "MAX_SESSIONS", "SESSION_COOKIE"]

SESSION_COOKIE = "JSESSIONID"

# Oldest sessions are dropped beyond this, so a client logging in in a loop cannot grow
# the server without bound.
MAX_SESSIONS = 1000


class Sessions:
    """The accounts that may log in (user name → password) and the sessions open now.

    At least one account, none with an empty name or password, all Unicode text
    (:class:`ValueError` otherwise): logins compare UTF-8 bytes.
    """

    def __init__(self, users: Mapping[str, str]) -> None:
        if not users:
            raise ValueError("a Configuration Server needs at least one account")
        for name, password in users.items():
            if not isinstance(name, str) or not name or not isinstance(password, str) or not password:
                raise ValueError(f"account {name!r}: the user name and the password must be non-empty strings")
            try:
                name.encode()
                password.encode()
            except UnicodeEncodeError:
                raise ValueError(f"account {name!r}: the user name and the password must be Unicode text") from None
        self._users = dict(users)
        self._open: OrderedDict[str, str] = OrderedDict()

    def login(self, username: str, password: str) -> str | None:
        """A new session token for a right user name and password, else ``None``.

        The password is compared in constant time; an unknown user is compared against
        nothing and refused alike.
        """
        expected = self._users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        token = secrets.token_urlsafe(32)
        self._open[token] = username
        while len(self._open) > MAX_SESSIONS:
            self._open.popitem(last=False)
        return token

    def user(self, token: str | None) -> str | None:
        """Who the session ``token`` belongs to, or ``None`` for no live session."""
        return self._open.get(token) if token else None

    def logout(self, token: str | None) -> None:
        """End the session ``token`` (nothing happens for one that is not open)."""
        if token:
            self._open.pop(token, None)

    def __len__(self) -> int:
        return len(self._open)
