"""The stand-ins' admin API: health, evidence after a cursor, reset, settings and actions.

Every stand-in offers the same small HTTP API beside its own protocol, so the harness can
judge and steer a lab it did not start — in containers, on a LAN, or in another process —
exactly as it does one in its own process (DESIGN.md principle 4). One :class:`AdminServer`
serves the stand-ins of one process (a host): ``/admin/<service>/...``.

Routes (JSON in and out; ``Authorization: Bearer <token>`` on every one but ``health``)::

    GET  /admin/                              {"host", "services": [...]}
    GET  /admin/<service>/health              {"service", "ok", ...}       (no token needed)
    GET  /admin/<service>/events?after=N[&limit=M][&wait=S]
                                              {"records", "cursor", "truncated"}
    POST /admin/<service>/reset               {"reset": true}
    GET  /admin/<service>/settings/<name>     the setting's value
    PUT  /admin/<service>/settings/<name>     the new value -> the value now in force
    POST /admin/<service>/actions/<name>      the action's arguments -> its result

``wait`` makes ``events`` a long poll: with nothing after ``after`` it waits up to ``wait``
seconds (at most 30) for a record. Errors are ``{"error": "..."}`` with 400 (bad input),
401 (no or wrong token), 404 (no such service, setting or action), 409 (the stand-in
refuses the change) or 413 (body too large).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._evidence import EvidenceLog

if TYPE_CHECKING:  # aiohttp is imported when a server starts, not with the stand-ins
    from aiohttp import web

__all__ = ["AdminError", "AdminServer", "AdminService", "Setting", "MAX_ADMIN_BODY", "MAX_WAIT"]

#: Largest request body: a certificate chain with its key, or a list of accounts.
MAX_ADMIN_BODY = 1024 * 1024
#: Longest long poll on ``events``, in seconds.
MAX_WAIT = 30.0

Json = Any

log = logging.getLogger("fakes.admin")


class AdminError(Exception):
    """A refusal the API answers with ``status`` and ``message`` (never a traceback)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Setting:
    """One setting a page's step changes on a host: how to read it and, if it may be
    changed, how to apply a new value (raising :class:`AdminError` to refuse it)."""

    get: Callable[[], Json]
    put: Callable[[Json], Awaitable[Json]] | None = None


@dataclass
class AdminService:
    """What one stand-in offers through the admin API."""

    name: str
    evidence: EvidenceLog
    health: Callable[[], dict[str, Any]] = lambda: {}
    settings: Mapping[str, Setting] = field(default_factory=dict)
    actions: Mapping[str, Callable[[Json], Awaitable[Json]]] = field(default_factory=dict)
    reset: Callable[[], Awaitable[None]] | None = None


class AdminServer:
    """The admin API of the stand-ins of one host, over plain HTTP.

    Bind it to loopback (the default) unless the lab is meant to be reached from
    elsewhere; the token is the lab's secret either way.
    """

    def __init__(self, services: list[AdminService], *, token: str, host_name: str = "") -> None:
        if not token:
            raise ValueError("the admin API needs a token")
        self.services = {s.name: s for s in services}
        self.token = token
        self.host_name = host_name
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The API's root, e.g. ``http://127.0.0.1:PORT/admin/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/admin/"

    def service_url(self, name: str) -> str:
        """One service's root, e.g. ``http://127.0.0.1:PORT/admin/frontend/``."""
        return f"{self.url}{name}/"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0: the OS picks)."""
        from aiohttp import web

        app = web.Application(client_max_size=MAX_ADMIN_BODY, middlewares=[self._errors])
        app.router.add_get("/admin/", self._index)
        app.router.add_get("/admin/{service}/health", self._health)
        app.router.add_get("/admin/{service}/events", self._events)
        app.router.add_post("/admin/{service}/reset", self._reset)
        app.router.add_get("/admin/{service}/settings/{name}", self._get_setting)
        app.router.add_put("/admin/{service}/settings/{name}", self._put_setting)
        app.router.add_post("/admin/{service}/actions/{name}", self._action)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host = host
        self.port = runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- plumbing ----------------------------------------------------------------------------

    @staticmethod
    def _json(body: Json, status: int = 200) -> web.Response:
        from aiohttp import web

        return web.json_response(body, status=status, dumps=lambda v: json.dumps(v, default=str))

    def _error(self, status: int, message: str) -> web.Response:
        return self._json({"error": message}, status)

    @property
    def _errors(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        from aiohttp import web

        @web.middleware
        async def middleware(request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]) -> web.StreamResponse:
            try:
                if not request.path.endswith("/health"):
                    self._authorize(request)
                return await handler(request)
            except AdminError as exc:
                return self._error(exc.status, exc.message)
            except web.HTTPRequestEntityTooLarge:
                return self._error(413, f"the body is larger than {MAX_ADMIN_BODY} bytes")
            except web.HTTPException as exc:
                if exc.status >= 400:
                    return self._error(exc.status, exc.reason)
                raise
            except Exception as exc:  # noqa: BLE001 - a bug costs one answer, never the service
                log.exception("admin API: %s %s failed", request.method, request.path)
                return self._error(500, f"the stand-in failed: {type(exc).__name__}: {exc}")

        return middleware

    def _authorize(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise AdminError(401, "the admin API needs the lab's token (Authorization: Bearer ...)")

    def _service(self, request: web.Request) -> AdminService:
        name = request.match_info["service"]
        service = self.services.get(name)
        if service is None:
            raise AdminError(404, f"no service {name!r} here (this host serves {', '.join(sorted(self.services)) or 'none'})")
        return service

    @staticmethod
    async def _body(request: web.Request) -> Json:
        raw = await request.read()
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise AdminError(400, f"the body is not JSON: {exc}") from None

    @staticmethod
    def _number(request: web.Request, name: str, default: float | None, *, lowest: float = 0) -> float | None:
        raw = request.query.get(name)
        if raw is None:
            return default
        try:
            value = float(raw) if name == "wait" else int(raw)
        except ValueError:
            raise AdminError(400, f"{name} must be a number, not {raw!r}") from None
        if value < lowest:
            raise AdminError(400, f"{name} must be at least {lowest}")
        return value

    # -- routes ------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return self._json({"host": self.host_name, "services": sorted(self.services)})

    async def _health(self, request: web.Request) -> web.Response:
        service = self._service(request)
        return self._json({"service": service.name, "ok": True, "cursor": service.evidence.cursor, **service.health()})

    async def _events(self, request: web.Request) -> web.Response:
        service = self._service(request)
        after = int(self._number(request, "after", 0) or 0)
        limit = self._number(request, "limit", None, lowest=1)
        wait = min(float(self._number(request, "wait", 0.0) or 0.0), MAX_WAIT)
        if wait and service.evidence.cursor <= after:
            try:
                await service.evidence.await_record(lambda r: r["seq"] > after, after=after, timeout=wait)
            except TimeoutError:
                pass  # nothing new: an empty answer
        since = service.evidence.since(after, limit=None if limit is None else int(limit))
        return self._json(since.to_json())

    async def _reset(self, request: web.Request) -> web.Response:
        service = self._service(request)
        if service.reset is None:
            raise AdminError(404, f"{service.name} has nothing to reset")
        await service.reset()
        return self._json({"reset": True})

    def _setting(self, request: web.Request) -> tuple[AdminService, Setting]:
        service = self._service(request)
        name = request.match_info["name"]
        setting = service.settings.get(name)
        if setting is None:
            raise AdminError(404, f"{service.name} has no setting {name!r} (it has: {', '.join(sorted(service.settings)) or 'none'})")
        return service, setting

    async def _get_setting(self, request: web.Request) -> web.Response:
        _service, setting = self._setting(request)
        return self._json(setting.get())

    async def _put_setting(self, request: web.Request) -> web.Response:
        service, setting = self._setting(request)
        if setting.put is None:
            raise AdminError(409, f"{service.name}'s {request.match_info['name']} is read-only")
        return self._json(await setting.put(await self._body(request)))

    async def _action(self, request: web.Request) -> web.Response:
        service = self._service(request)
        name = request.match_info["name"]
        action = service.actions.get(name)
        if action is None:
            raise AdminError(404, f"{service.name} has no action {name!r} (it has: {', '.join(sorted(service.actions)) or 'none'})")
        return self._json(await action(await self._body(request)))
