"""The harness's side of the stand-ins' admin API: one client, two transports.

The harness reads evidence and changes settings only through :class:`AdminClient`, so a
lab in this process and a lab in containers (or on a LAN, or in another ``ucclab up``)
are judged and steered by the same code (DESIGN.md principle 4). In-process the client
calls the stand-in's :class:`fakes._admin.AdminService` directly, through the same JSON
round trip as the wire; otherwise it speaks HTTP to the service's URL with the lab's token.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

from fakes._admin import MAX_WAIT, AdminError, AdminService

from .errors import AdminUnavailable

__all__ = ["AdminClient", "AdminUnavailable", "Evidence", "local_client", "http_client"]

Json = Any


class _Transport(Protocol):
    async def call(self, method: str, path: str, params: dict[str, str] | None = None, body: Json = None) -> Json: ...


def _wire(value: Json) -> Json:
    """What a value looks like after a trip through JSON (tuples become lists, ...)."""
    return json.loads(json.dumps(value, default=str))


class _Local:
    """Calls an :class:`AdminService` of this process, as its HTTP routes would."""

    def __init__(self, service: AdminService) -> None:
        self.service = service

    async def call(self, method: str, path: str, params: dict[str, str] | None = None, body: Json = None) -> Json:
        s = self.service
        kind, _, name = path.partition("/")
        body = _wire(body)
        try:
            if (method, kind) == ("GET", "health"):
                return _wire({"service": s.name, "ok": True, "cursor": s.evidence.cursor, **s.health()})
            if (method, kind) == ("GET", "events"):
                params = params or {}
                limit = int(params["limit"]) if "limit" in params else None
                after, wait = int(params.get("after", 0)), min(float(params.get("wait", 0)), MAX_WAIT)
                if wait and s.evidence.cursor <= after:  # the long poll, as the HTTP route waits
                    try:
                        await s.evidence.await_record(lambda r: r["seq"] > after, after=after, timeout=wait)
                    except TimeoutError:
                        pass
                return _wire(s.evidence.since(after, limit=limit).to_json())
            if (method, kind) == ("POST", "reset") and s.reset is not None:
                await s.reset()
                return {"reset": True}
            if kind == "settings" and name in s.settings:
                setting = s.settings[name]
                if method == "GET":
                    return _wire(setting.get())
                if setting.put is None:
                    raise AdminError(409, f"{s.name}'s {name} is read-only")
                return _wire(await setting.put(body))
            if (method, kind) == ("POST", "actions") and name in s.actions:
                return _wire(await s.actions[name](body))
        except AdminError as exc:
            raise AdminUnavailable(s.name, exc.message, exc.status) from None
        raise AdminUnavailable(s.name, f"no {method} {path}", 404)


class _Http:
    """HTTP to ``base`` (``http://HOST:PORT/admin/<service>/``) with the lab's token."""

    def __init__(self, service: str, base: str, token: str, timeout: float) -> None:
        self.service, self.base, self.token, self.timeout = service, base.rstrip("/") + "/", token, timeout

    async def call(self, method: str, path: str, params: dict[str, str] | None = None, body: Json = None) -> Json:
        import aiohttp

        headers = {"Authorization": f"Bearer {self.token}"}
        timeout = aiohttp.ClientTimeout(total=self.timeout + float((params or {}).get("wait", 0)))
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.request(method, self.base + path, params=params, headers=headers,
                                           data=None if body is None else json.dumps(body),
                                           ) as response:
                    text = await response.text()
                    try:
                        answer = json.loads(text) if text else None
                    except ValueError:
                        raise AdminUnavailable(self.service, f"{method} {path}: not JSON ({text[:120]!r})", response.status) from None
                    if response.status >= 400:
                        message = answer.get("error") if isinstance(answer, dict) else text[:200]
                        raise AdminUnavailable(self.service, str(message), response.status)
                    return answer
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise AdminUnavailable(self.service, f"cannot reach {self.base}: {exc or type(exc).__name__}") from None


class Evidence(Protocol):
    """What a judge needs of a stand-in: its evidence after a cursor."""

    async def cursor(self) -> int: ...

    async def since(self, cursor: int) -> list[dict[str, Any]]: ...


class AdminClient:
    """One stand-in's admin API: evidence, settings, actions, reset."""

    def __init__(self, service: str, transport: _Transport, *, url: str | None = None) -> None:
        self.service = service
        #: The service's admin URL (``http://HOST:PORT/admin/<service>/``), when it has one.
        self.url = url
        self._transport = transport

    async def health(self) -> dict[str, Any]:
        return await self._transport.call("GET", "health")

    async def cursor(self) -> int:
        """The seq of the service's last evidence record."""
        return int((await self.health())["cursor"])

    async def since(self, cursor: int) -> list[dict[str, Any]]:
        """Every record after ``cursor``; refuses to answer when some have left memory,
        since a judge must not mistake a gap for "nothing happened"."""
        records: list[dict[str, Any]] = []
        while True:
            page = await self._transport.call("GET", "events", {"after": str(cursor), "limit": "1000"})
            if page["truncated"]:
                raise AdminUnavailable(self.service, f"evidence after record {cursor} has left memory; the judge cannot decide")
            records += page["records"]
            if len(page["records"]) < 1000:
                return records
            cursor = page["cursor"]

    async def events(self, after: int, *, wait: float = 0.0, limit: int | None = None) -> dict[str, Any]:
        """One page of records after ``after`` (``{"records", "cursor", "truncated"}``); with
        ``wait``, a long poll: up to ``wait`` seconds (at most 30) for a first record."""
        params = {"after": str(after), "wait": str(wait)}
        if limit is not None:
            params["limit"] = str(limit)
        return await self._transport.call("GET", "events", params)

    async def reset(self) -> None:
        await self._transport.call("POST", "reset")

    async def get(self, setting: str) -> Json:
        return await self._transport.call("GET", f"settings/{setting}")

    async def put(self, setting: str, value: Json) -> Json:
        return await self._transport.call("PUT", f"settings/{setting}", body=value)

    async def act(self, action: str, arguments: Json = None) -> Json:
        return await self._transport.call("POST", f"actions/{action}", body=arguments)


def local_client(service: AdminService, *, url: str | None = None) -> AdminClient:
    """A client for a stand-in running in this process (``url``: where its admin API
    also answers over HTTP, for others)."""
    return AdminClient(service.name, _Local(service), url=url)


def http_client(service: str, url: str, token: str, *, timeout: float = 30.0) -> AdminClient:
    """A client for a stand-in's admin API at ``url`` (``http://HOST:PORT/admin/<service>/``)."""
    return AdminClient(service, _Http(service, url, token, timeout), url=url)
