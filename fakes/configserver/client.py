"""A GAX API client for Configuration Server, as the harness and the connector use it.

::

    async with ConfigServerClient(server.url, "default", password) as cfg:   # logs in
        ucc = await cfg.find_application("UCC")
        await cfg.set_option("UCC", "Microsoft-OCS", "password", "Genesys#1")
        warnings = await cfg.add_port(
            "UCC", CfgPortInfo.with_mode("sip-tls", 5061, conn_protocol="sip",
                                         mode=ListeningMode.SECURED))

Every failure is a :class:`ConfigServerError` carrying the HTTP status (``None`` when the
server could not be reached) and the server's message.
"""

from __future__ import annotations

import json
import logging
from types import TracebackType
from typing import Any

import aiohttp

from ._gax import OBJECT_TYPE, from_gax, to_gax
from ._model import CfgApplication, CfgPortInfo, ValidationError

__all__ = ["ConfigServerClient", "ConfigServerError"]

log = logging.getLogger(__name__)

_LOGIN = "gax/api/session/login"
_OBJECTS = "gax/api/cfg/objects"
_APPLICATIONS = f"{_OBJECTS}/{OBJECT_TYPE}"


class ConfigServerError(Exception):
    """A request to Configuration Server failed: its HTTP status (or ``None``) and message."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"{status}: {message}" if status is not None else message)
        self.status = status
        self.message = message


class ConfigServerClient:
    """An async GAX session with the Configuration Server at ``base_url``.

    Use it as an async context manager (it logs in on entry as ``username`` with
    ``password``), or call :meth:`login` and :meth:`close` yourself. A session the server
    forgot (it restarted) is renewed once, transparently.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.username = username
        self._password = password
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None

    async def __aenter__(self) -> ConfigServerClient:
        try:
            await self.login()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._token = None

    async def _send(
        self, method: str, path: str, body: Any, params: dict[str, str] | None
    ) -> tuple[int, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            async with self._session.request(
                method, self.base_url + path, json=body, params=params, headers=headers
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ConfigServerError(
                None, f"cannot reach Configuration Server at {self.base_url}: {exc!r}"
            ) from exc
        if not raw:
            return status, None
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    async def _request(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        if self._token is None:
            await self.login()
        status, data = await self._send(method, path, body, params)
        if status == 401:  # the server restarted and forgot the session: log in again, once
            await self.login()
            status, data = await self._send(method, path, body, params)
        if status >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            raise ConfigServerError(status, str(message if message is not None else data))
        return data

    async def login(self) -> None:
        """Log in; later requests carry the session token."""
        self._token = None
        credentials = {"username": self.username, "password": self._password}
        status, data = await self._send("POST", _LOGIN, credentials, None)
        if status != 200 or not isinstance(data, dict) or not isinstance(data.get("token"), str):
            message = data.get("message") if isinstance(data, dict) else data
            raise ConfigServerError(status, f"login as {self.username!r} failed: {message}")
        self._token = data["token"]

    @staticmethod
    def _application(data: Any) -> tuple[CfgApplication, list[str]]:
        if not isinstance(data, dict):
            raise ConfigServerError(None, f"Configuration Server answered {data!r}, not a {OBJECT_TYPE}")
        doc = dict(data)
        warnings = doc.pop("warnings", [])
        try:
            return from_gax(doc), [str(w) for w in warnings]
        except ValidationError as exc:
            raise ConfigServerError(
                None, f"Configuration Server answered an invalid {OBJECT_TYPE}: {exc}"
            ) from exc

    async def list_applications(self, name: str | None = None) -> list[CfgApplication]:
        """All Applications, or those called ``name``."""
        data = await self._request("GET", _APPLICATIONS, params={"name": name} if name else None)
        if not isinstance(data, list):
            raise ConfigServerError(None, f"Configuration Server answered {data!r}, not a list")
        return [self._application(item)[0] for item in data]

    async def find_application(self, name: str) -> CfgApplication | None:
        """The Application called ``name``, or ``None``."""
        found = await self.list_applications(name)
        return found[0] if found else None

    async def get_application(self, dbid: int) -> CfgApplication:
        """The Application with this dbid (404 → :class:`ConfigServerError`)."""
        return self._application(await self._request("GET", f"{_APPLICATIONS}/{dbid}"))[0]

    async def create_application(self, app: CfgApplication) -> CfgApplication:
        """Create ``app``; returns it as saved, with its dbid.

        Warnings of a creation (a Secured port without a certificate) are logged.
        """
        created, warnings = self._application(await self._request("POST", _OBJECTS, to_gax(app)))
        for warning in warnings:
            log.warning("%s", warning)
        return created

    async def update_application(self, app: CfgApplication) -> tuple[CfgApplication, list[str]]:
        """Save ``app`` (found by its dbid); returns it as saved and the warnings."""
        if app.dbid is None:
            raise ConfigServerError(None, f"{OBJECT_TYPE} {app.name!r} has no dbid: create it first")
        return self._application(await self._request("PUT", f"{_APPLICATIONS}/{app.dbid}", to_gax(app)))

    async def delete_application(self, dbid: int) -> None:
        """Delete the Application with this dbid."""
        await self._request("DELETE", f"{_APPLICATIONS}/{dbid}")

    async def _resolve(self, app: str | int) -> CfgApplication:
        if isinstance(app, int):
            return await self.get_application(app)
        found = await self.find_application(app)
        if found is None:
            raise ConfigServerError(404, f"no {OBJECT_TYPE} named {app!r}")
        return found

    async def _save_fields(self, app: CfgApplication, *fields: str) -> tuple[CfgApplication, list[str]]:
        # Only the fields changed travel, so a concurrent edit of another tab is kept.
        doc = to_gax(app)
        data = await self._request("PUT", f"{_APPLICATIONS}/{app.dbid}", {f: doc[f] for f in fields})
        return self._application(data)

    async def set_option(self, app: str | int, section: str, key: str, value: str) -> CfgApplication:
        """Set one option on the Application named (or with dbid) ``app`` — the Options tab."""
        target = await self._resolve(app)
        target.set_option(section, key, value)
        return (await self._save_fields(target, "options"))[0]

    async def add_port(self, app: str | int, port: CfgPortInfo) -> list[str]:
        """Add ``port`` to the Application's Server Info ports; returns the warnings."""
        target = await self._resolve(app)
        target.port_infos.append(port)
        return (await self._save_fields(target, "portinfos"))[1]

    async def remove_port(self, app: str | int, port_id: str) -> None:
        """Remove the port with this Port ID from the Application's Server Info ports."""
        target = await self._resolve(app)
        if target.port(port_id) is None:
            raise ConfigServerError(404, f"{OBJECT_TYPE} {target.name!r} has no port {port_id!r}")
        target.port_infos = [p for p in target.port_infos if p.id != port_id]
        await self._save_fields(target, "portinfos")
