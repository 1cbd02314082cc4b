"""The Configuration Server console: web pages in the manner of Genesys Administrator
Extension (GAX) for the UC Connector's Application object.

The page's Configuration Server steps are done in such a console: "Go to Environment >
Applications and double-click the UC Connector Application object", then the **Options**
tab ("In the Microsoft-OCS section, set the password option"), the **Server Info** tab
("add a new port": Port ID, Communication Port, Connection Protocol ``sip``, Listening
Mode *Secured*, then the Warning, "Click Yes to continue") and the **Start Info** tab
("Command Line Arguments", "Click OK to save"). These pages offer exactly that, on the
same port as the JSON API, under ``/gax/``::

    GET  /gax/                                    → the login page or the Applications
    GET  /gax/login, POST /gax/login, POST /gax/logout
    GET  /gax/applications                        Environment > Applications
    GET  /gax/applications/<dbid>/options         Options (add, edit, delete: POST)
    GET  /gax/applications/<dbid>/server-info     Server Info: ports (add, delete: POST)
    GET  /gax/applications/<dbid>/start-info      Start Info (save: POST)

Rule 1: one model. Every change is a function of the object as stored, applied by
:meth:`~fakes.configserver.ConfigStore.modify_application` in one transaction, checked by
the same :func:`~fakes.configserver.validate_application` as the API; numbers are read by
the API's own readers. A refusal is the model's own message, shown in the page (400), and
nothing is written.

Rule 2: one login. The accounts and sessions are the API's (:class:`._sessions.Sessions`):
the session is the ``JSESSIONID`` cookie (``HttpOnly``, ``SameSite=Strict``), good for the
API too. Every form carries a CSRF token tied to its session (an HMAC of the session with
a key of this process); the login form a token of its own, double-submitted in a cookie.
A form posted from another origin (``Origin`` header) is refused.

Rule 3: plain pages. Forms, inline CSS, no script and nothing fetched from elsewhere
(the Content-Security-Policy says so to the browser). The Secured-port Warning is a page
of its own whose "Yes" posts the same port again, confirmed.

Where it differs from GAX: the Warning's wording is the model's (the page shows only a
picture of the real dialog); option values whose name says password are shown masked and
never sent back to the browser (assumed: GAX shows option values as typed; here the value
is the connector's AD password, and the lab masks passwords wherever it shows them).
"""

from __future__ import annotations

import copy
import dataclasses
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from hashlib import sha256
from html import escape
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ._form import FormError, parse_form
from ._gax import DBID_PATTERN, OBJECT_TYPE, _read_int
from ._model import (
    KNOWN_CONN_PROTOCOLS,
    CfgApplication,
    CfgPortInfo,
    ListeningMode,
    ValidationError,
    listening_mode,
    port_security_warnings,
    validate_application,
)
from ._sessions import SESSION_COOKIE, Sessions
from ._store import ConfigStore, ObjectNotFoundError

__all__ = ["add_console", "console_error", "CONSOLE_ROOT"]

log = logging.getLogger(__name__)

CONSOLE_ROOT = "/gax"
# The login form's own CSRF token travels in this cookie too (double submit): there is
# no session yet to tie it to.
LOGIN_COOKIE = "GAXLOGIN"
LOGIN_TOKEN_SECONDS = 1800
# Option names whose values are secrets: shown masked, never sent back to the browser.
_SECRET_OPTION = re.compile(r"pass(word|phrase)?|passwd|secret", re.IGNORECASE)
MASK = "********"
_HEADERS = {
    # Nothing from elsewhere, no script, forms only to this server, never framed.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with
    # its own forms (Fetch Standard, "serializing a request origin"), which the origin
    # check would refuse.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_TABS = (("options", "Options"), ("server-info", "Server Info"), ("start-info", "Start Info"))
# What a redirect after a change says (?done=...): fixed texts, nothing reflected.
_DONE = {
    "option-added": "Option added.",
    "option-saved": "Option saved.",
    "option-deleted": "Option deleted.",
    "port-added": "Port added.",
    "port-deleted": "Port deleted.",
    "start-info-saved": "Start Info saved.",
}

Change = Callable[[CfgApplication], CfgApplication]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _redirect(location: str, *, cookies: Mapping[str, str] = {}, clear: Iterable[tuple[str, str]] = ()) -> web.Response:
    response = web.Response(status=303, headers={"Location": location, **_HEADERS})
    for name, value in cookies.items():
        response.set_cookie(name, value, path=CONSOLE_ROOT, httponly=True, samesite="Strict")
    for name, path in clear:
        response.del_cookie(name, path=path)
    return response


_CSS = """
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color: #1d2330;
       background: #eef1f5; }
header.bar { display: flex; align-items: center; gap: 16px; background: #27364a; color: #fff; padding: 10px 22px; }
header.bar .product { font-weight: 700; font-size: 16px; }
header.bar .who { margin-left: auto; font-size: 13px; opacity: .9; }
header.bar form { display: inline; margin: 0; }
header.bar button { background: transparent; color: #fff; border: 1px solid #8ea3bd; }
nav.crumbs { padding: 10px 22px 0; color: #5b6475; font-size: 13px; }
nav.crumbs a { color: #1f5fa8; }
main { max-width: 1100px; padding: 8px 22px 40px; }
h1 { font-size: 20px; margin: 10px 0 12px; }
h2 { font-size: 15px; margin: 22px 0 8px; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #d9dde5; }
th, td { text-align: left; vertical-align: middle; padding: 6px 9px; border-bottom: 1px solid #d9dde5; }
th { background: #e3e8ef; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: #5b6475; }
td form { display: inline; margin: 0; }
.tabs { display: flex; gap: 2px; border-bottom: 2px solid #27364a; margin-bottom: 14px; }
.tabs a { padding: 7px 16px; background: #dde3ea; color: #27364a; text-decoration: none; border-radius: 6px 6px 0 0; }
.tabs a.current { background: #27364a; color: #fff; font-weight: 700; }
fieldset { background: #fff; border: 1px solid #d9dde5; border-radius: 6px; padding: 12px 16px; margin: 14px 0; }
legend { font-weight: 700; padding: 0 6px; }
label { display: block; margin: 6px 0 2px; font-size: 13px; color: #39424f; }
input[type=text], input[type=password], input[type=number], select { width: 100%; max-width: 520px; padding: 6px 8px;
       border: 1px solid #aab3c0; border-radius: 4px; font: inherit; }
input.wide { max-width: none; }
.row { display: flex; gap: 14px; flex-wrap: wrap; } .row > div { flex: 1 1 180px; }
button { padding: 6px 16px; border-radius: 4px; border: 1px solid #1f5fa8; background: #1f5fa8; color: #fff;
         font: inherit; cursor: pointer; margin-top: 10px; }
button.secondary, a.button.secondary { background: #fff; color: #1f5fa8; }
button.danger { background: #fff; color: #b3261e; border-color: #b3261e; margin: 0; padding: 2px 10px; }
a.button { display: inline-block; padding: 6px 16px; border-radius: 4px; border: 1px solid #1f5fa8;
           text-decoration: none; margin-top: 10px; }
.message { padding: 8px 12px; border-radius: 4px; margin: 10px 0; }
.message.error { background: #fde7e5; border-left: 4px solid #b3261e; }
.message.done { background: #e5f4e9; border-left: 4px solid #1b7f3b; }
.mute { color: #5b6475; font-size: 12.5px; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.overlay { position: fixed; inset: 0; background: rgba(20, 28, 40, .55); display: flex; align-items: center;
           justify-content: center; }
.dialog { background: #fff; border-radius: 8px; width: min(560px, 92vw); box-shadow: 0 10px 40px rgba(0,0,0,.35); }
.dialog h2 { margin: 0; padding: 10px 16px; background: #9a6700; color: #fff; border-radius: 8px 8px 0 0; }
.dialog .body { padding: 14px 16px; } .dialog .buttons { padding: 0 16px 14px; display: flex; gap: 10px; }
.login { max-width: 380px; margin: 60px auto; }
"""


def _page(title: str, body: str, *, user: str | None = None, csrf: str | None = None,
          crumbs: list[tuple[str, str | None]] | None = None, status: int = 200) -> web.Response:
    who = ""
    if user is not None and csrf is not None:
        who = (f'<span class="who">logged in as <b>{_e(user)}</b> '
               f'<form method="post" action="{CONSOLE_ROOT}/logout"><input type="hidden" name="csrf" value="{_e(csrf)}">'
               f'<button type="submit">Log out</button></form></span>')
    trail = ""
    if crumbs:
        trail = '<nav class="crumbs">' + " › ".join(
            f'<a href="{_e(href)}">{_e(text)}</a>' if href else _e(text) for text, href in crumbs) + "</nav>"
    html = ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)} · Configuration Server</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<style>{_CSS}</style></head><body><header class="bar"><span class="product">Configuration Server · '
            f'Administration</span>{who}</header>{trail}<main>{body}</main></body></html>\n')
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status, headers=_HEADERS)


def _message(error: str | None, done: str | None = None) -> str:
    if error:
        return f'<div class="message error" role="alert">{_e(error)}</div>'
    if done:
        return f'<div class="message done" role="status">{_e(done)}</div>'
    return ""


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in fields.items())


def _is_secret(key: str) -> bool:
    return bool(_SECRET_OPTION.search(key))


async def console_error(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Middleware step for the console's paths: a failure is a page that says it, never a
    traceback (the JSON API answers its own paths in JSON)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        messages = {
            404: f"There is no page {request.path} here.",
            405: f"{request.method} is not allowed on {request.path}.",
            413: "The form is too large for this server.",
        }
        text = messages.get(exc.status, exc.reason)
        return _page(f"{exc.status} {exc.reason}", f'<h1>{_e(exc.reason)}</h1>{_message(text)}'
                     f'<p><a href="{CONSOLE_ROOT}/applications">Environment › Applications</a></p>', status=exc.status)
    except Exception:  # a bug here must not take the server down or leak a traceback
        log.exception("internal error on %s %s", request.method, request.path)
        return _page("Internal error", _message("Internal error in the Configuration Server; see its log."), status=500)


class _Refused(Exception):
    """A request the console answers with a page saying why (``status``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass
class _Session:
    token: str
    user: str
    csrf: str


class _Console:
    """The pages, over the API's store and sessions."""

    def __init__(self, store: ConfigStore, sessions: Sessions, login_failed: str) -> None:
        self.store = store
        self.sessions = sessions
        self.login_failed = login_failed
        # CSRF tokens are HMACs of the session token with this key: a page of one session
        # cannot post for another, and nothing more is stored per session.
        self._key = secrets.token_bytes(32)

    # --- sessions and forms -------------------------------------------------------------

    def _csrf(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), sha256).hexdigest()

    def _session(self, request: web.Request) -> _Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        user = self.sessions.user(token)
        if token is None or user is None:
            return None
        return _Session(token, user, self._csrf(token))

    @staticmethod
    def _check_origin(request: web.Request) -> None:
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            raise _Refused(403, f"this form was posted from another site ({origin}); forms are accepted from this console only")

    async def _form(self, request: web.Request, allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, str]:
        self._check_origin(request)
        if request.content_type != "application/x-www-form-urlencoded":
            raise _Refused(415, f"a form is sent as application/x-www-form-urlencoded, not {request.content_type!r}")
        try:
            raw = await request.read()
        except ConnectionResetError:
            raise _Refused(400, "the connection closed before the form was complete") from None
        try:
            return parse_form(raw, allowed=allowed, required=required)
        except FormError as exc:
            raise _Refused(400, str(exc)) from None

    def _check_csrf(self, session: _Session, fields: Mapping[str, str]) -> None:
        if not hmac.compare_digest(fields.get("csrf", "").encode(), session.csrf.encode()):
            raise _Refused(403, "this form is not from your session (its CSRF token does not match): reload the page and try again")

    def _require_session(self, request: web.Request) -> _Session:
        session = self._session(request)
        if session is None:
            raise _Refused(401, "not logged in")
        return session

    # --- login --------------------------------------------------------------------------

    def _login_page(self, *, error: str | None = None, username: str = "", status: int = 200) -> web.Response:
        nonce = secrets.token_urlsafe(24)
        body = (f'<div class="login"><h1>Log in</h1>{_message(error)}'
                f'<form method="post" action="{CONSOLE_ROOT}/login"><fieldset><legend>Configuration Server</legend>'
                f'{_hidden({"csrf": nonce})}'
                f'<label for="username">User name</label><input type="text" id="username" name="username" '
                f'value="{_e(username)}" autocomplete="username" required>'
                '<label for="password">Password</label><input type="password" id="password" name="password" '
                'autocomplete="current-password" required>'
                '<button type="submit">Log in</button></fieldset></form></div>')
        response = _page("Log in", body, status=status)
        response.set_cookie(LOGIN_COOKIE, nonce, path=f"{CONSOLE_ROOT}/login", httponly=True, samesite="Strict",
                            max_age=LOGIN_TOKEN_SECONDS)
        return response

    async def root(self, request: web.Request) -> web.Response:
        target = "applications" if self._session(request) else "login"
        return _redirect(f"{CONSOLE_ROOT}/{target}")

    async def login_form(self, request: web.Request) -> web.Response:
        return self._login_page()

    async def login(self, request: web.Request) -> web.Response:
        try:
            fields = await self._form(request, ("csrf", "username", "password"), ("csrf", "username", "password"))
        except _Refused as exc:
            return self._login_page(error=exc.message, status=exc.status)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(fields["csrf"].encode(), expected.encode()):
            return self._login_page(error="the login form expired or came from another site: log in again on this page",
                                    username=fields["username"], status=403)
        token = self.sessions.login(fields["username"], fields["password"])
        if token is None:
            log.info("console login refused for user %.80r", fields["username"])
            return self._login_page(error=self.login_failed, username=fields["username"], status=401)
        log.info("user %.80r logged in to the console", fields["username"])
        return _redirect(f"{CONSOLE_ROOT}/applications", cookies={SESSION_COOKIE: token},
                         clear=[(LOGIN_COOKIE, f"{CONSOLE_ROOT}/login")])

    async def logout(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if session is not None:
            try:
                fields = await self._form(request, ("csrf",), ("csrf",))
                self._check_csrf(session, fields)
            except _Refused as exc:
                return _page("Refused", f"<h1>Refused</h1>{_message(exc.message)}", user=session.user,
                             csrf=session.csrf, status=exc.status)
            self.sessions.logout(session.token)
        return _redirect(f"{CONSOLE_ROOT}/login", clear=[(SESSION_COOKIE, CONSOLE_ROOT)])

    # --- pages --------------------------------------------------------------------------

    def guarded(self, handler: Callable[[web.Request, _Session], Awaitable[web.Response]]) -> Handler:
        """``handler`` for a logged-in session; the login page otherwise; refusals as pages."""

        async def run(request: web.Request) -> web.Response:
            session = self._session(request)
            if session is None:
                if request.method == "GET":
                    return _redirect(f"{CONSOLE_ROOT}/login")
                return self._login_page(error="your session has ended: log in again (nothing was saved)", status=401)
            try:
                return await handler(request, session)
            except _Refused as exc:
                return _page("Refused", f"<h1>Refused</h1>{_message(exc.message)}"
                             f'<p><a href="{_e(request.path)}">Back</a></p>', user=session.user, csrf=session.csrf,
                             status=exc.status)
            except ObjectNotFoundError as exc:
                return _page("Not found", f"<h1>Not found</h1>{_message(str(exc))}", user=session.user,
                             csrf=session.csrf, crumbs=[("Environment", None), ("Applications", f"{CONSOLE_ROOT}/applications")],
                             status=404)

        return run

    async def applications(self, request: web.Request, session: _Session) -> web.Response:
        rows = "".join(
            f'<tr><td><a href="{CONSOLE_ROOT}/applications/{app.dbid}/options">{_e(app.name)}</a></td>'
            f"<td>{_e(app.type)}</td><td>{_e(app.version)}</td><td>{_e(app.state)}</td><td>{app.dbid}</td></tr>"
            for app in self.store.list_applications())
        if not rows:
            rows = '<tr><td colspan="5" class="mute">No Application objects yet.</td></tr>'
        body = (f"<h1>Applications</h1><table><thead><tr><th>Name</th><th>Type</th><th>Version</th><th>State</th>"
                f"<th>DBID</th></tr></thead><tbody>{rows}</tbody></table>")
        return _page("Applications", body, user=session.user, csrf=session.csrf,
                     crumbs=[("Environment", None), ("Applications", None)])

    async def application(self, request: web.Request, session: _Session) -> web.Response:
        return _redirect(f"{CONSOLE_ROOT}/applications/{int(request.match_info['dbid'])}/options")

    def _app_page(self, app: CfgApplication, tab: str, content: str, session: _Session, *,
                  error: str | None = None, done: str | None = None, status: int = 200, dialog: str = "") -> web.Response:
        base = f"{CONSOLE_ROOT}/applications/{app.dbid}"
        tabs = "".join(f'<a href="{base}/{slug}" class="{"current" if slug == tab else ""}"'
                       f'{" aria-current=page" if slug == tab else ""}>{label}</a>' for slug, label in _TABS)
        body = (f'<h1>{_e(app.name)} <span class="mute">({_e(OBJECT_TYPE)} {app.dbid}, {_e(app.type)})</span></h1>'
                f'<nav class="tabs">{tabs}</nav>{_message(error, done)}{content}{dialog}')
        title = dict(_TABS)[tab]
        return _page(f"{app.name} · {title}", body, user=session.user, csrf=session.csrf, status=status,
                     crumbs=[("Environment", None), ("Applications", f"{CONSOLE_ROOT}/applications"), (app.name, None)])

    def _done(self, request: web.Request) -> str | None:
        return _DONE.get(request.query.get("done", ""))

    def _change(self, dbid: int, change: Change) -> list[str]:
        """Apply ``change`` to the object as stored, in one transaction; its warnings."""
        app, warnings = self.store.modify_application(dbid, change)
        log.info("console: updated %s %r (dbid %s)", OBJECT_TYPE, app.name, app.dbid)
        return warnings

    def _preview(self, dbid: int, change: Change) -> list[str]:
        """The warnings ``change`` would bring, checked by the model, nothing written."""
        stored = self.store.get_application(dbid)
        updated = change(stored)
        validate_application(updated)
        return port_security_warnings(updated, stored)

    @staticmethod
    def _dbid(request: web.Request) -> int:
        return int(request.match_info["dbid"])

    # --- Options ------------------------------------------------------------------------

    def _options_content(self, app: CfgApplication, session: _Session, *, form: Mapping[str, str] = {},
                         editing: tuple[str, str] | None = None) -> str:
        base = f"{CONSOLE_ROOT}/applications/{app.dbid}/options"
        csrf = {"csrf": session.csrf}
        rows = []
        for section, keys in app.options.items():
            for key, value in keys.items():
                shown = (MASK if value else "") if _is_secret(key) else value
                edit = f"{base}?{urlencode({'section': section, 'key': key})}"
                rows.append(
                    f'<tr data-section="{_e(section)}" data-key="{_e(key)}"><td>{_e(section)}</td><td>{_e(key)}</td>'
                    f'<td><code>{_e(shown)}</code></td><td><a href="{_e(edit)}">Edit</a> '
                    f'<form method="post" action="{base}">'
                    f'{_hidden({**csrf, "action": "delete", "section": section, "key": key})}'
                    f'<button type="submit" class="danger" aria-label="Delete {_e(section)}/{_e(key)}">Delete</button>'
                    "</form></td></tr>")
        table = ("<table><thead><tr><th>Section</th><th>Option</th><th>Value</th><th></th></tr></thead><tbody>"
                 + ("".join(rows) or '<tr><td colspan="4" class="mute">No options.</td></tr>') + "</tbody></table>")
        edit_form = ""
        if editing is not None:
            section, key = editing
            secret = _is_secret(key)
            current = "" if secret else app.options[section][key]
            kind = "password" if secret else "text"
            hint = '<p class="mute">The value is not shown; type the new one.</p>' if secret else ""
            edit_form = (f'<form method="post" action="{base}"><fieldset><legend>Edit option {_e(section)} / {_e(key)}'
                         f"</legend>{_hidden({**csrf, 'action': 'edit', 'section': section, 'key': key})}{hint}"
                         f'<label for="edit-value">Value</label><input type="{kind}" id="edit-value" name="value" '
                         f'value="{_e(current)}" autocomplete="off">'
                         f'<button type="submit">Save</button> <a class="button secondary" href="{base}">Cancel</a>'
                         "</fieldset></form>")
        secret_value = _is_secret(form.get("key", ""))
        add_form = (f'<form method="post" action="{base}"><fieldset><legend>Add option</legend>'
                    f"{_hidden({**csrf, 'action': 'add'})}<div class=\"row\">"
                    f'<div><label for="option-section">Section</label><input type="text" id="option-section" '
                    f'name="section" value="{_e(form.get("section", ""))}" placeholder="Microsoft-OCS"></div>'
                    f'<div><label for="option-key">Option name</label><input type="text" id="option-key" name="key" '
                    f'value="{_e(form.get("key", ""))}" placeholder="password"></div>'
                    f'<div><label for="option-value">Value</label><input type="text" id="option-value" name="value" '
                    f'value="{_e("" if secret_value else form.get("value", ""))}" autocomplete="off"></div></div>'
                    '<button type="submit">Add</button></fieldset></form>')
        return table + edit_form + add_form

    async def options_page(self, request: web.Request, session: _Session) -> web.Response:
        app = self.store.get_application(self._dbid(request))
        section, key = request.query.get("section"), request.query.get("key")
        editing, error = None, None
        if section is not None and key is not None:
            if app.option(section, key) is None:
                error = f"options[{section!r}][{key!r}]: no such option (it may have been deleted meanwhile)"
            else:
                editing = (section, key)
        return self._app_page(app, "options", self._options_content(app, session, editing=editing), session,
                              error=error, done=self._done(request), status=404 if error else 200)

    async def options_post(self, request: web.Request, session: _Session) -> web.Response:
        dbid = self._dbid(request)
        fields = await self._form(request, ("csrf", "action", "section", "key", "value"), ("csrf", "action"))
        self._check_csrf(session, fields)
        action = fields["action"]
        section, key, value = fields.get("section"), fields.get("key"), fields.get("value")
        try:
            if action not in ("add", "edit", "delete"):
                raise ValidationError("action", f"must be add, edit or delete, not {action[:40]!r}")
            if section is None or key is None or (action != "delete" and value is None):
                raise ValidationError("options", "an option needs its section, its name" + ("" if action == "delete" else " and its value"))
            self._change(dbid, _option_change(action, section, key, value))
        except ValidationError as exc:
            app = self.store.get_application(dbid)
            editing = (section, key) if action == "edit" and section is not None and key is not None \
                and app.option(section, key) is not None else None
            form = fields if action == "add" else {}
            return self._app_page(app, "options", self._options_content(app, session, form=form, editing=editing),
                                  session, error=str(exc), status=400)
        done = {"add": "option-added", "edit": "option-saved", "delete": "option-deleted"}[action]
        return _redirect(f"{CONSOLE_ROOT}/applications/{dbid}/options?done={done}")

    # --- Server Info ----------------------------------------------------------------------

    def _server_info_content(self, app: CfgApplication, session: _Session, *, form: Mapping[str, str] = {}) -> str:
        base = f"{CONSOLE_ROOT}/applications/{app.dbid}/server-info"
        csrf = {"csrf": session.csrf}
        rows = []
        for port in app.port_infos:
            rows.append(
                f'<tr data-port-id="{_e(port.id)}"><td>{_e(port.id)}</td><td>{port.port}</td><td>{_e(port.conn_protocol)}</td>'
                f"<td>{_e(listening_mode(port).value)}</td><td><code>{_e(port.transport_params)}</code></td>"
                f'<td><form method="post" action="{base}">{_hidden({**csrf, "action": "delete-port", "port_id": port.id})}'
                f'<button type="submit" class="danger" aria-label="Delete port {_e(port.id)}">Delete</button></form></td></tr>')
        info = app.server_info
        host = (f'<p>Host: <b>{_e(info.host or "(none)")}</b>'
                + (f" · default port {info.port}" if info.port is not None else "") + "</p>")
        table = (f"{host}<h2>Listening Ports</h2><table><thead><tr><th>Port ID</th><th>Communication Port</th>"
                 "<th>Connection Protocol</th><th>Listening Mode</th><th>Transport Parameters</th><th></th></tr>"
                 "</thead><tbody>" + ("".join(rows) or '<tr><td colspan="6" class="mute">No ports.</td></tr>')
                 + "</tbody></table>")
        protocols = "".join(
            f'<option value="{_e(p)}"{" selected" if form.get("protocol", "sip") == p else ""}>{_e(p or "(none)")}</option>'
            for p in sorted(KNOWN_CONN_PROTOCOLS))
        modes = "".join(
            f'<option value="{m.value}"{" selected" if form.get("mode", ListeningMode.UNSECURED.value) == m.value else ""}>'
            f"{m.value}</option>" for m in ListeningMode)
        add_form = (f'<form method="post" action="{base}"><fieldset><legend>Add port</legend>'
                    f"{_hidden({**csrf, 'action': 'add-port'})}<div class=\"row\">"
                    f'<div><label for="port-id">Port ID</label><input type="text" id="port-id" name="port_id" '
                    f'value="{_e(form.get("port_id", ""))}"></div>'
                    f'<div><label for="port-number">Communication Port</label><input type="text" inputmode="numeric" '
                    f'id="port-number" name="port" value="{_e(form.get("port", ""))}"></div>'
                    f'<div><label for="port-protocol">Connection Protocol</label><select id="port-protocol" '
                    f'name="protocol">{protocols}</select></div>'
                    f'<div><label for="port-mode">Listening Mode</label><select id="port-mode" name="mode">{modes}'
                    "</select></div></div><button type=\"submit\">Add</button></fieldset></form>")
        return table + add_form

    async def server_info_page(self, request: web.Request, session: _Session) -> web.Response:
        app = self.store.get_application(self._dbid(request))
        return self._app_page(app, "server-info", self._server_info_content(app, session), session,
                              done=self._done(request))

    async def server_info_post(self, request: web.Request, session: _Session) -> web.Response:
        dbid = self._dbid(request)
        fields = await self._form(request, ("csrf", "action", "port_id", "port", "protocol", "mode", "confirm"),
                                  ("csrf", "action"))
        self._check_csrf(session, fields)
        action = fields["action"]
        try:
            if action == "delete-port":
                port_id = fields.get("port_id")
                if port_id is None:
                    raise ValidationError("port_id", "is required")
                self._change(dbid, _delete_port(port_id))
                return _redirect(f"{CONSOLE_ROOT}/applications/{dbid}/server-info?done=port-deleted")
            if action != "add-port":
                raise ValidationError("action", f"must be add-port or delete-port, not {action[:40]!r}")
            missing = [name for name in ("port_id", "port", "protocol", "mode") if name not in fields]
            if missing:
                raise ValidationError(missing[0], "is required")
            port = CfgPortInfo.with_mode(fields["port_id"], _read_int(fields["port"], "port"),
                                         conn_protocol=fields["protocol"], mode=ListeningMode.parse(fields["mode"]))
            change = _add_port(port)
            if fields.get("confirm") != "yes":
                warnings = self._preview(dbid, change)
                if warnings:
                    app = self.store.get_application(dbid)
                    return self._app_page(app, "server-info", self._server_info_content(app, session, form=fields),
                                          session, dialog=_warning_dialog(request.path, session, fields, warnings))
            self._change(dbid, change)
        except ValidationError as exc:
            app = self.store.get_application(dbid)
            form = {k: v for k, v in fields.items() if k != "confirm"} if action == "add-port" else {}
            return self._app_page(app, "server-info", self._server_info_content(app, session, form=form), session,
                                  error=str(exc), status=400)
        return _redirect(f"{CONSOLE_ROOT}/applications/{dbid}/server-info?done=port-added")

    # --- Start Info -----------------------------------------------------------------------

    _START_FIELDS = ("work_directory", "command_line", "command_line_arguments", "startup_timeout", "shutdown_timeout")

    def _start_info_content(self, app: CfgApplication, session: _Session, form: Mapping[str, str] | None = None) -> str:
        base = f"{CONSOLE_ROOT}/applications/{app.dbid}/start-info"
        values = dict(form) if form is not None else {
            "work_directory": app.work_directory, "command_line": app.command_line,
            "command_line_arguments": app.command_line_arguments, "startup_timeout": str(app.startup_timeout),
            "shutdown_timeout": str(app.shutdown_timeout), "auto_restart": "on" if app.auto_restart else ""}

        def text(name: str, label: str, css: str = "") -> str:
            ident = name.replace("_", "-")
            return (f'<label for="{ident}">{label}</label><input type="text" id="{ident}" name="{name}" '
                    f'class="{css}" value="{_e(values.get(name, ""))}" spellcheck="false">')

        checked = " checked" if values.get("auto_restart") == "on" else ""
        return (f'<form method="post" action="{base}"><fieldset><legend>Start Info</legend>'
                f"{_hidden({'csrf': session.csrf})}"
                + text("work_directory", "Working Directory") + text("command_line", "Command Line")
                + text("command_line_arguments", "Command Line Arguments", "wide")
                + '<div class="row"><div>' + text("startup_timeout", "Startup Timeout (seconds)") + "</div><div>"
                + text("shutdown_timeout", "Shutdown Timeout (seconds)") + "</div></div>"
                f'<label><input type="checkbox" name="auto_restart" value="on"{checked}> Auto-Restart</label>'
                '<button type="submit">Save</button></fieldset></form>')

    async def start_info_page(self, request: web.Request, session: _Session) -> web.Response:
        app = self.store.get_application(self._dbid(request))
        return self._app_page(app, "start-info", self._start_info_content(app, session), session,
                              done=self._done(request))

    async def start_info_post(self, request: web.Request, session: _Session) -> web.Response:
        dbid = self._dbid(request)
        fields = await self._form(request, ("csrf", *self._START_FIELDS, "auto_restart"), ("csrf", *self._START_FIELDS))
        self._check_csrf(session, fields)
        try:
            if fields.get("auto_restart", "on") != "on":
                raise ValidationError("auto_restart", f"a checkbox sends 'on' or nothing, not {fields['auto_restart'][:40]!r}")
            changes = {
                "work_directory": fields["work_directory"],
                "command_line": fields["command_line"],
                "command_line_arguments": fields["command_line_arguments"],
                "startup_timeout": _read_int(fields["startup_timeout"], "startup_timeout"),
                "shutdown_timeout": _read_int(fields["shutdown_timeout"], "shutdown_timeout"),
                "auto_restart": "auto_restart" in fields,
            }
            self._change(dbid, lambda stored: dataclasses.replace(copy.deepcopy(stored), **changes))
        except ValidationError as exc:
            app = self.store.get_application(dbid)
            form = {k: v for k, v in fields.items() if k != "csrf"}
            return self._app_page(app, "start-info", self._start_info_content(app, session, form), session,
                                  error=str(exc), status=400)
        return _redirect(f"{CONSOLE_ROOT}/applications/{dbid}/start-info?done=start-info-saved")


# --- changes: pure functions of the stored object -----------------------------------------


def _option_change(action: str, section: str, key: str, value: str | None) -> Change:
    """Add, edit or delete option ``key`` of ``section``; :class:`ValidationError` when
    the option already exists (add) or does not (edit, delete)."""
    where = f"options[{section!r}][{key!r}]"

    def change(stored: CfgApplication) -> CfgApplication:
        app = copy.deepcopy(stored)
        exists = app.option(section, key) is not None
        if action == "add" and exists:
            raise ValidationError(where, "is already set; edit it instead")
        if action != "add" and not exists:
            raise ValidationError(where, "no such option (it may have been deleted meanwhile)")
        if action == "delete":
            del app.options[section][key]
            if not app.options[section]:
                # GAX keeps options as a flat list of (section, key, value): a section
                # without options has no way to be stored.
                del app.options[section]
        else:
            assert value is not None
            app.set_option(section, key, value)
        return app

    return change


def _add_port(port: CfgPortInfo) -> Change:
    def change(stored: CfgApplication) -> CfgApplication:
        return dataclasses.replace(copy.deepcopy(stored), port_infos=[*copy.deepcopy(stored.port_infos), port])

    return change


def _delete_port(port_id: str) -> Change:
    def change(stored: CfgApplication) -> CfgApplication:
        if stored.port(port_id) is None:
            raise ValidationError("port_infos", f"no port with Port ID {port_id[:80]!r} (it may have been deleted meanwhile)")
        return dataclasses.replace(copy.deepcopy(stored), port_infos=[p for p in stored.port_infos if p.id != port_id])

    return change


def _warning_dialog(action: str, session: _Session, fields: Mapping[str, str], warnings: list[str]) -> str:
    """The Warning the page's "Configuring a Secure SIP Port", step 2 shows on adding a
    Secured port: "you can ignore this warning. Click Yes to continue." — Yes posts the
    same port again, confirmed; No goes back with nothing saved."""
    again = {k: fields[k] for k in ("action", "port_id", "port", "protocol", "mode") if k in fields}
    items = "".join(f"<p>{_e(w)}</p>" for w in warnings)
    return (f'<div class="overlay"><div class="dialog" role="alertdialog" aria-labelledby="warning-title">'
            f'<h2 id="warning-title">Warning</h2><div class="body">{items}<p>Do you want to continue?</p></div>'
            f'<div class="buttons"><form method="post" action="{_e(action)}">'
            f'{_hidden({"csrf": session.csrf, **again, "confirm": "yes"})}<button type="submit">Yes</button></form>'
            f'<a class="button secondary" href="{_e(action)}">No</a></div></div></div>')


def add_console(app: web.Application, store: ConfigStore, sessions: Sessions, *, login_failed: str) -> None:
    """Add the console's pages under ``/gax/`` to the API's ``app`` (its store and sessions)."""
    console = _Console(store, sessions, login_failed)
    root = CONSOLE_ROOT
    one = f"{root}/applications/{{dbid:{DBID_PATTERN}}}"
    g = console.guarded
    app.router.add_get(root, console.root)
    app.router.add_get(root + "/", console.root)
    app.router.add_get(f"{root}/login", console.login_form)
    app.router.add_post(f"{root}/login", console.login)
    app.router.add_post(f"{root}/logout", console.logout)
    app.router.add_get(f"{root}/applications", g(console.applications))
    app.router.add_get(one, g(console.application))
    app.router.add_get(f"{one}/options", g(console.options_page))
    app.router.add_post(f"{one}/options", g(console.options_post))
    app.router.add_get(f"{one}/server-info", g(console.server_info_page))
    app.router.add_post(f"{one}/server-info", g(console.server_info_post))
    app.router.add_get(f"{one}/start-info", g(console.start_info_page))
    app.router.add_post(f"{one}/start-info", g(console.start_info_post))

