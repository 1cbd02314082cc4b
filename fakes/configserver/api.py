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
the ``JSESSIONID`` cookie the login sets (GAX runs in a Java servlet container). The
accounts are whatever the server is given; there is no built-in one. The same app serves
the console's pages under ``/gax/`` (:mod:`.console`): one account table, one session
table, one store. (A fresh real
Configuration Server has the Master Account ``default``/``password`` — Genesys Framework
8.5 Deployment Guide, "Standard Login"; here that fixed login would hand the UC
Connector's AD password, kept in its Application's options, to anyone on the host.)

An update is applied to the object as stored once its body has arrived, in one
transaction (:meth:`~fakes.configserver.ConfigStore.modify_application`): concurrent
updates of different fields all survive.

Creates and updates answer with the object and ``"warnings"`` (see
:func:`~fakes.configserver._model.port_security_warnings`). Every failure is a JSON body
``{"status", "message"}`` whose message names the problem: 400 bad JSON (see
:mod:`._json`) or a bad field, 401 not logged in, 404 unknown object, 413 body too large
(refused before ``100 Continue`` when the declared length is already too large), 415 not
JSON, 417 an ``Expect`` other than ``100-continue``. Nothing a client sends stops the
server.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import HttpVersion11, hdrs, web

from ._gax import DBID_PATTERN, OBJECT_TYPE, from_gax, to_gax, update_from_gax
from ._json import JsonBodyError, parse_json_body
from ._model import ValidationError
from ._sessions import SESSION_COOKIE, Sessions
from ._store import ConfigStore, ObjectNotFoundError
from .console import CONSOLE_ROOT, add_console, console_error

__all__ = ["create_app", "DEFAULT_MAX_BODY", "SESSION_COOKIE", "API_ROOT"]

log = logging.getLogger(__name__)

API_ROOT = "/gax/api"
# A CfgApplication with every option the page sets is a few kilobytes.
DEFAULT_MAX_BODY = 1024 * 1024
_DBID = re.compile(DBID_PATTERN)

LOGIN_FAILED = "login failed: wrong user name or password"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A request the API refuses: the HTTP status and the message to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def _error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"status": status, "message": message}, status=status, headers=headers)


async def _read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, f"Content-Type must be application/json, got {request.content_type!r}")
    try:
        raw = await request.read()  # 413 past the application's client_max_size
    except ConnectionResetError:
        # Nobody is left to read the answer; say it in the log, not as an internal error.
        log.info("client hung up before its request body was complete (%s %s)", request.method, request.path)
        raise ApiError(400, "the connection closed before the request body was complete") from None
    try:
        return parse_json_body(raw)
    except JsonBodyError as exc:
        raise ApiError(400, str(exc)) from None


class _GaxApi:
    """Handlers and session table over one :class:`ConfigStore`."""

    def __init__(self, store: ConfigStore, sessions: Sessions, max_body: int) -> None:
        self.store = store
        self.sessions = sessions
        self.max_body = max_body

    # --- sessions ---------------------------------------------------------------------

    def _session_user(self, request: web.Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else ""
        return self.sessions.user(bearer) or self.sessions.user(request.cookies.get(SESSION_COOKIE))

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
        token = self.sessions.login(username, password)
        if token is None:
            log.info("login refused for user %.80r", username)
            raise ApiError(401, LOGIN_FAILED)
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

    def _not_logged_in(self, request: web.Request) -> web.Response | None:
        """The 401 for a ``/cfg/`` call without a live session, else ``None``."""
        if not request.path.startswith(f"{API_ROOT}/cfg/") or self._session_user(request) is not None:
            return None
        return _error_response(
            401,
            f"not logged in: POST {API_ROOT}/session/login first, then send 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": "Bearer"},
        )

    async def expect_continue(self, request: web.Request) -> web.StreamResponse | None:
        """Answer ``Expect: 100-continue``: the final refusal if there already is one, else 100.

        RFC 9110 section 10.1.1: a server that receives a 100-continue expectation may
        answer with a final status code instead, and one that receives it in an HTTP/1.0
        request must ignore it. So a client that is not logged in, or that announces a
        body over the limit, learns it before sending that body.
        """
        if request.version < HttpVersion11:
            return None
        expectation = request.headers.get(hdrs.EXPECT, "")
        refusal = self._not_logged_in(request)
        if expectation.lower() != "100-continue":
            refusal = _error_response(417, f"unsupported expectation {expectation!r}; only 100-continue is")
        if refusal is None and request.content_length is not None and request.content_length > self.max_body:
            refusal = _error_response(
                413, f"request body too large: {request.content_length} bytes announced, the limit is {self.max_body}"
            )
        if refusal is not None:
            # The announced body will not be read: the connection ends with this answer.
            refusal.force_close()
            return refusal
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        # As aiohttp's own handler does: the interim answer is not part of the response's size.
        request.writer.output_size = 0
        return None

    async def handle_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Middleware: the session check, and every failure as a JSON ``{status, message}``
        (on the console's pages, as a page: :func:`~.console.console_error`)."""
        if _under(request.path, CONSOLE_ROOT) and not _under(request.path, API_ROOT):
            return await console_error(request, handler)
        try:
            refusal = self._not_logged_in(request)
            if refusal is not None:
                return refusal
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
    users: Mapping[str, str],
    max_body: int = DEFAULT_MAX_BODY,
) -> web.Application:
    """The aiohttp application serving ``store`` to the accounts in ``users``.

    ``users`` maps user name → password: at least one account, none with an empty name
    or password (:class:`ValueError` otherwise). Request bodies over ``max_body`` bytes
    are refused with 413.
    """
    sessions = Sessions(users)
    api = _GaxApi(store, sessions, max_body)

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await api.handle_errors(request, handler)

    app = web.Application(middlewares=[errors], client_max_size=max_body)
    objects = f"{API_ROOT}/cfg/objects"
    expect = {"expect_handler": api.expect_continue}
    app.router.add_post(f"{API_ROOT}/session/login", api.login, **expect)
    app.router.add_post(objects, api.create_object, **expect)
    app.router.add_get(objects + "/{objtype}", api.list_objects, **expect)
    app.router.add_get(objects + "/{objtype}/{dbid}", api.get_object, **expect)
    app.router.add_put(objects + "/{objtype}/{dbid}", api.update_object, **expect)
    app.router.add_delete(objects + "/{objtype}/{dbid}", api.delete_object, **expect)
    add_console(app, store, sessions, login_failed=LOGIN_FAILED)
    return app
