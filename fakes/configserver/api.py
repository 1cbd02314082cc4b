"""The HTTP JSON API of the Configuration Server stand-in, shaped like GAX's REST API.

Genesys Administrator Extension (GAX) is the web front of Configuration Server; the UC
Connector's Application object is edited through it. Routes:

=======  =============================================  =====================================
POST     ``/gax/api/session/login``                     ``{"username", "password"}`` → token
GET      ``/gax/api/cfg/objects/CfgApplication``        list (``?name=`` filters)
GET      ``/gax/api/cfg/objects/CfgApplication/<dbid>`` one object
POST     ``/gax/api/cfg/objects``                       create (``"type": "CfgApplication"``)
PUT      ``/gax/api/cfg/objects/CfgApplication/<dbid>`` update: the fields given replace
DELETE   ``/gax/api/cfg/objects/CfgApplication/<dbid>`` delete
=======  =============================================  =====================================

Every ``/cfg/`` call needs the login's token, as ``Authorization: Bearer <token>`` or as
the ``JSESSIONID`` cookie the login sets (GAX runs in a Java servlet container). A fresh
Configuration Server has one account, ``default`` with password ``password``.

An update is applied to the object as stored once its body has arrived, in one
transaction (:meth:`~fakes.configserver.ConfigStore.modify_application`): concurrent
updates of different fields all survive.

Creates and updates answer with the object and ``"warnings"`` (see
:func:`~fakes.configserver._model.port_security_warnings`). Every failure is a JSON body
``{"status", "message"}`` whose message names the problem: 400 bad JSON or a bad field,
401 not logged in, 404 unknown object, 413 body too large, 415 not JSON. Nothing a client
sends stops the server.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from ._gax import OBJECT_TYPE, from_gax, to_gax, update_from_gax
from ._model import ValidationError
from ._store import ConfigStore, ObjectNotFoundError

__all__ = ["create_app", "DEFAULT_USERS", "DEFAULT_MAX_BODY", "SESSION_COOKIE", "API_ROOT"]

log = logging.getLogger(__name__)

API_ROOT = "/gax/api"
DEFAULT_USERS: Mapping[str, str] = {"default": "password"}
DEFAULT_MAX_BODY = 1024 * 1024
SESSION_COOKIE = "JSESSIONID"
# Oldest sessions are dropped beyond this, so a client logging in in a loop cannot grow
# the server without bound.
MAX_SESSIONS = 1000
_DBID = re.compile(r"[1-9][0-9]{0,17}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A request the API refuses: the HTTP status and the message to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"status": status, "message": message}, status=status, headers=headers)


async def _read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, f"Content-Type must be application/json, got {request.content_type!r}")
    raw = await request.read()  # 413 past the application's client_max_size
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"request body is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError) as exc:  # absurd numbers, absurd nesting
        raise ApiError(400, f"request body is not usable JSON: {exc}") from None


class _GaxApi:
    """Handlers and session table over one :class:`ConfigStore`."""

    def __init__(self, store: ConfigStore, users: Mapping[str, str], max_body: int) -> None:
        self.store = store
        self.users = dict(users)
        self.max_body = max_body
        self.sessions: OrderedDict[str, str] = OrderedDict()

    # --- sessions ---------------------------------------------------------------------

    def _session_user(self, request: web.Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else ""
        candidates = [bearer, request.cookies.get(SESSION_COOKIE, "")]
        return next((self.sessions[c] for c in candidates if c in self.sessions), None)

    async def login(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, 'the login body is a JSON object {"username": ..., "password": ...}')
        unknown = sorted(set(body) - {"username", "password"})
        if unknown:
            raise ApiError(400, f"unknown field(s) in the login body: {', '.join(unknown)}")
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise ApiError(400, "username and password are required, as strings")
        expected = self.users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            log.info("login refused for user %.80r", username)
            raise ApiError(401, "login failed: wrong user name or password")
        token = secrets.token_urlsafe(32)
        self.sessions[token] = username
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        log.info("user %.80r logged in", username)
        response = web.json_response({"token": token, "username": username})
        response.set_cookie(SESSION_COOKIE, token, path="/gax", httponly=True, samesite="Strict")
        return response

    # --- objects ----------------------------------------------------------------------

    @staticmethod
    def _check_type(request: web.Request) -> None:
        object_type = request.match_info["objtype"]
        if object_type != OBJECT_TYPE:
            raise ApiError(
                404,
                f"object type {object_type!r} is not held here; "
                f"this Configuration Server serves {OBJECT_TYPE}",
            )

    @staticmethod
    def _dbid(request: web.Request) -> int:
        text = request.match_info["dbid"]
        if not _DBID.fullmatch(text):
            raise ApiError(400, f"a dbid is a positive decimal integer, got {text!r}")
        return int(text)

    async def list_objects(self, request: web.Request) -> web.Response:
        self._check_type(request)
        apps = self.store.list_applications(request.query.get("name"))
        return web.json_response([to_gax(app) for app in apps])

    async def get_object(self, request: web.Request) -> web.Response:
        self._check_type(request)
        return web.json_response(to_gax(self.store.get_application(self._dbid(request))))

    async def create_object(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        if not isinstance(body, dict) or "type" not in body:
            raise ApiError(400, f'a new object names its type: "type": "{OBJECT_TYPE}"')
        app, warnings = self.store.create_application(from_gax(body))
        log.info("created %s %r (dbid %s)", OBJECT_TYPE, app.name, app.dbid)
        return web.json_response(
            {**to_gax(app), "warnings": warnings},
            status=201,
            headers={"Location": f"{API_ROOT}/cfg/objects/{OBJECT_TYPE}/{app.dbid}"},
        )

    async def update_object(self, request: web.Request) -> web.Response:
        self._check_type(request)
        dbid = self._dbid(request)
        body = await _read_json(request)
        # The fields given are applied to the object as stored now that the body is in, in
        # one transaction: an object read when the headers arrived may have changed since.
        app, warnings = self.store.modify_application(dbid, lambda stored: update_from_gax(stored, body))
        log.info("updated %s %r (dbid %s)", OBJECT_TYPE, app.name, app.dbid)
        return web.json_response({**to_gax(app), "warnings": warnings})

    async def delete_object(self, request: web.Request) -> web.Response:
        self._check_type(request)
        dbid = self._dbid(request)
        self.store.delete_application(dbid)
        log.info("deleted %s dbid %s", OBJECT_TYPE, dbid)
        return web.Response(status=204)

    # --- errors -----------------------------------------------------------------------

    def _http_error(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        messages = {
            404: f"no such resource: {request.method} {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"request body too large: the limit is {self.max_body} bytes",
        }
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return _error_response(exc.status, messages.get(exc.status, exc.reason), headers)

    async def handle_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Middleware: the session check, and every failure as a JSON ``{status, message}``."""
        try:
            if request.path.startswith(f"{API_ROOT}/cfg/") and self._session_user(request) is None:
                return _error_response(
                    401,
                    f"not logged in: POST {API_ROOT}/session/login first, then send "
                    "'Authorization: Bearer <token>'",
                    {"WWW-Authenticate": "Bearer"},
                )
            return await handler(request)
        except ApiError as exc:
            return _error_response(exc.status, exc.message)
        except ValidationError as exc:
            return _error_response(400, str(exc))
        except ObjectNotFoundError as exc:
            return _error_response(404, str(exc))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return self._http_error(request, exc)
        except Exception:  # a bug here must not take the server down or leak a traceback
            log.exception("internal error on %s %s", request.method, request.path)
            return _error_response(500, "internal error in the Configuration Server; see its log")


def create_app(
    store: ConfigStore,
    *,
    users: Mapping[str, str] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> web.Application:
    """The aiohttp application serving ``store`` to the accounts in ``users``.

    ``users`` maps user name → password (default: ``default``/``password``); request
    bodies over ``max_body`` bytes are refused with 413.
    """
    api = _GaxApi(store, DEFAULT_USERS if users is None else users, max_body)

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await api.handle_errors(request, handler)

    app = web.Application(middlewares=[errors], client_max_size=max_body)
    objects = f"{API_ROOT}/cfg/objects"
    app.router.add_post(f"{API_ROOT}/session/login", api.login)
    app.router.add_post(objects, api.create_object)
    app.router.add_get(objects + "/{objtype}", api.list_objects)
    app.router.add_get(objects + "/{objtype}/{dbid}", api.get_object)
    app.router.add_put(objects + "/{objtype}/{dbid}", api.update_object)
    app.router.add_delete(objects + "/{objtype}/{dbid}", api.delete_object)
    return app
