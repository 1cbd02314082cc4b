"""The lab console: one page on loopback that shows a running lab to the trainee working in it.

``ucclab up`` serves it on a port of its own (``lab.json`` → ``endpoints.console``). The
page shows:

- the hosts of the lab and the stand-ins each runs, with their endpoints and whether each
  answers its admin API now;
- the page's steps as a checklist (``ucclab progress``: done, todo, wrong with the
  diagnosis) and the handshakes' state;
- the Front End's and the KDC's evidence records as they arrive (the admin API's long
  poll, ``events?after=N&wait=S``, through ``lab.admin``);
- the last exchanges the Front End saw as ladder diagrams (:mod:`harness.report`'s);
- links to certsrv and the Configuration Server console.

Without script the page is complete as of its loading and a reload reads it all again; a
small inline script (progressive enhancement) long-polls ``/api/events`` for new records and
then re-reads the checklist and the ladders. Nothing is fetched from elsewhere (the
Content-Security-Policy allows only this origin and the page's own script).

Who may see it: whoever holds the lab's admin token (``lab.json`` → ``admin.token``). The
console relays what the stand-ins' admin API guards with that token — every stand-in's
evidence — so it is guarded by the same secret rather than a new password: ``lab.json``
(mode 0600) already gives it to the lab's owner and to no other local user, who can reach
loopback ports too. The login page takes the token once (or ``/login?token=...``) and
sets a session cookie (``HttpOnly``, ``SameSite=Strict``); the JSON endpoints also take
``Authorization: Bearer <token>``. The console binds loopback only and answers only
requests addressed to it by a loopback name (a page of another site that rebinds its own
name to 127.0.0.1 is refused).

Routes::

    GET  /                      the console (the login page without a session)
    GET  /login, POST /login    the token, for a session cookie; POST /logout
    GET  /api/events?frontend=N&kdc=M&wait=S   records after the cursors (long poll, <= 30 s)
    GET  /api/checklist         the checklist as ``ucclab progress --json`` prints it
    GET  /fragments/checklist | /fragments/ladders | /fragments/hosts   parts of the page, as HTML
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from hashlib import sha256
from html import escape
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from fakes._admin import MAX_WAIT

from .admin import AdminUnavailable
from .lab import HOSTS, LabBase
from .report import _CSS as REPORT_CSS
from .report import _mask, build_ladder, render_ladder

__all__ = ["LabConsole", "lab_checklist", "EVENT_SERVICES"]

log = logging.getLogger(__name__)

#: The stand-ins whose evidence the console streams.
EVENT_SERVICES = ("frontend", "kdc")
SESSION_COOKIE = "ucclab_console"
MAX_SESSIONS = 100
# Records shown when the page loads, per service, and read back to draw the ladders.
RECENT_EVENTS = 40
LADDER_WINDOW = 400
LADDERS = 3
# Records one long poll answers with, per service (the script asks again at once).
EVENTS_PER_POLL = 200

Checklist = Callable[[], Awaitable[dict[str, Any]]]

# What each stand-in is, for the hosts table.
_SERVICE_LABELS = {
    "ca": "AD CS with certsrv web enrollment (HTTPS)",
    "kdc": "Kerberos KDC (UDP and TCP)",
    "configserver": "Genesys Configuration Server (GAX API and console)",
    "frontend": "Lync Front End (SIP over TLS)",
    "connector": "UC Connector stand-in",
}
_SIPAE_EXCHANGE = {"sipae-challenge", "sipae-authenticated", "sipae-verified", "sipae-rejected", "sipae-bad-signature"}
# Evidence fields worth a glance in the events table, in this order.
_SUMMARY_FIELDS = ("connection", "peer", "method", "uri", "status", "reason", "principal", "request", "client",
                   "server", "error_code", "error_name", "version", "names", "detail", "error")


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


async def lab_checklist(lab: LabBase) -> dict[str, Any]:
    """The checklist of ``ucclab progress`` for ``lab``: ``{"steps": [{"heading", "step",
    "name", "status", "diagnosis"}], "handshakes": [...]}`` (it reads, never changes, the lab)."""
    from .progress import read_progress

    return (await read_progress(lab)).to_json()


class LabConsole:
    """The console of ``lab``, served on ``host`` (loopback) until :meth:`close`.

    ``token`` is the secret that opens it (default: the lab's admin token); ``checklist``
    gives the checklist document (default: :func:`lab_checklist`). Use as ``async with
    LabConsole(lab) as console:`` (it listens on a free port) or call :meth:`start` and
    :meth:`close`.
    """

    def __init__(self, lab: LabBase, *, token: str | None = None, checklist: Checklist | None = None,
                 host: str = "127.0.0.1", services: Iterable[str] = EVENT_SERVICES) -> None:
        if token is None:
            assert lab.secrets is not None, "the lab is not started"
            token = lab.secrets.admin_token
        if not token:
            raise ValueError("the lab console needs a token")
        self.lab = lab
        self.host = host
        self.services = tuple(services)
        self._token = token
        self._checklist = checklist or (lambda: lab_checklist(lab))
        self._sessions: OrderedDict[str, float] = OrderedDict()
        self._key = secrets.token_bytes(32)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- life cycle --------------------------------------------------------------------------

    async def start(self, port: int = 0) -> LabConsole:
        """Listen on :attr:`host`:``port`` (0: a free port)."""
        app = web.Application(middlewares=[self._guard], client_max_size=16 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_get("/login", self._login_page)
        app.router.add_post("/login", self._login)
        app.router.add_post("/logout", self._logout)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/checklist", self._checklist_json)
        app.router.add_get("/fragments/{name}", self._fragment)
        # A browser's long poll may be waiting when the lab stops: ended after a second.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        return self

    @property
    def url(self) -> str:
        """The console's address, e.g. ``http://127.0.0.1:PORT/``."""
        if self._port is None:
            raise RuntimeError("the lab console is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}/"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LabConsole:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- who may see it ----------------------------------------------------------------------

    def _own_names(self) -> set[str]:
        port = self._port
        names = {f"{self.host}:{port}", f"localhost:{port}"}
        if ":" in self.host:
            names.add(f"[{self.host}]:{port}")
        return names

    def _session(self, request: web.Request) -> str | None:
        token = request.cookies.get(SESSION_COOKIE)
        return token if token and token in self._sessions else None

    def _bearer(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token.encode())

    def _csrf(self, session: str) -> str:
        return hmac.new(self._key, session.encode(), sha256).hexdigest()

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Loopback names only; a session (or the token) for all but the login page; failures in words."""
        if request.host not in self._own_names():
            return _text(421, f"this console answers to {sorted(self._own_names())[0]} only, not {request.host!r}")
        public = request.path == "/login"
        if not public and self._session(request) is None and not self._bearer(request):
            if request.path == "/" and request.method == "GET":
                return _redirect("/login")
            return _json({"error": "log in first: the console needs the lab's admin token (lab.json: admin.token)"}, 401)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _text(exc.status, f"{exc.reason}: {request.method} {request.path}")
        except AdminUnavailable as exc:
            return _json({"error": str(exc)}, 502)
        except Exception:  # noqa: BLE001 - a bug costs one answer, never the console
            log.exception("lab console: %s %s failed", request.method, request.path)
            return _text(500, "the lab console failed on this request; see the lab's log")

    def _check_origin(self, request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        parts = urlsplit(origin)
        if parts.netloc not in self._own_names():
            return f"a form from another site ({origin}) is not accepted here"
        return None

    async def _login_page(self, request: web.Request) -> web.Response:
        given = request.query.get("token")
        if given is not None:  # a link with the token: exchanged for a cookie, then out of the address bar
            return self._open_session(given)
        return _login_html()

    def _open_session(self, given: str) -> web.Response:
        if not hmac.compare_digest(given.strip().encode(), self._token.encode()):
            return _login_html("that is not this lab's admin token (lab.json: admin.token)", 401)
        session = secrets.token_urlsafe(32)
        self._sessions[session] = time.time()
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        response = _redirect("/")
        response.set_cookie(SESSION_COOKIE, session, path="/", httponly=True, samesite="Strict")
        return response

    async def _login(self, request: web.Request) -> web.Response:
        refused = self._check_origin(request)
        if refused:
            return _login_html(refused, 403)
        form = await request.post()
        token = form.get("token")
        if not isinstance(token, str) or len(form) != 1:
            return _login_html("the login form sends one field, token", 400)
        return self._open_session(token)

    async def _logout(self, request: web.Request) -> web.Response:
        session = self._session(request)
        form = await request.post()
        if session is None or self._check_origin(request) or not hmac.compare_digest(
                str(form.get("csrf", "")).encode(), self._csrf(session).encode()):
            return _text(403, "this logout is not from your console page")
        self._sessions.pop(session, None)
        response = _redirect("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    # -- what it shows -------------------------------------------------------------------------

    async def _recent(self, service: str, count: int) -> dict[str, Any]:
        client = self.lab.admin[service]
        cursor = await client.cursor()
        return await client.events(max(0, cursor - count), limit=count)

    async def _events(self, request: web.Request) -> web.Response:
        """Records after each service's cursor (``?frontend=N&kdc=M``), waiting up to
        ``wait`` seconds for the first; ``rows`` is the same as HTML rows, newest first."""
        try:
            after = {name: int(request.query.get(name, "0")) for name in self.services}
            wait = min(float(request.query.get("wait", "0")), MAX_WAIT)
        except ValueError:
            return _json({"error": "the cursors are integers and wait a number of seconds"}, 400)
        if wait < 0 or any(cursor < 0 for cursor in after.values()):
            return _json({"error": "the cursors and wait are not negative"}, 400)
        pages = await self._wait_for_records(after, wait)
        records = sorted(((name, r) for name, page in pages.items() for r in page["records"]),
                         key=lambda item: item[1].get("time") or 0, reverse=True)
        return _json({"services": {name: {"records": _mask(page["records"]), "cursor": page["cursor"]}
                                   for name, page in pages.items()},
                      "rows": "".join(_event_row(name, record) for name, record in records)})

    async def _wait_for_records(self, after: dict[str, int], wait: float) -> dict[str, dict[str, Any]]:
        """Each service's page after its cursor; returns as soon as one has records (the
        others keep their cursors and are asked again next time)."""
        tasks = {name: asyncio.ensure_future(self.lab.admin[name].events(after[name], wait=wait, limit=EVENTS_PER_POLL))
                 for name in self.services}
        pending = set(tasks.values())
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(task.result()["records"] for task in done):
                    break
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        return {name: task.result() if task.done() and not task.cancelled() else {"records": [], "cursor": after[name]}
                for name, task in tasks.items()}

    async def _checklist_json(self, request: web.Request) -> web.Response:
        try:
            document = await self._checklist()
        except Exception as exc:  # noqa: BLE001 - said in the answer, the console keeps serving
            log.exception("lab console: the checklist failed")
            return _json({"error": f"the checklist could not be read: {type(exc).__name__}: {exc}"}, 500)
        return _json(_mask(document))

    async def _fragment(self, request: web.Request) -> web.Response:
        makers = {"checklist": self._checklist_html, "ladders": self._ladders_html, "hosts": self._hosts_html}
        maker = makers.get(request.match_info["name"])
        if maker is None:
            raise web.HTTPNotFound()
        return web.Response(text=await maker(), content_type="text/html", headers=_HEADERS)

    async def _hosts_html(self) -> str:
        doc = self.lab.lab_json()
        endpoints = doc.get("endpoints", {})
        names = self.lab.topology.host_names
        rows = []
        for role, services in HOSTS.items():
            fqdn = self.lab.topology.fqdn(names[role])
            for index, service in enumerate(services):
                state = await _health(self.lab.admin.get(service))
                host_cell = f'<td rowspan="{len(services)}"><b>{_e(fqdn)}</b></td>' if index == 0 else ""
                rows.append(f'<tr data-host="{_e(fqdn)}" data-service="{_e(service)}">{host_cell}<td>{_e(service)}</td>'
                            f"<td>{_e(_SERVICE_LABELS.get(service, ''))}</td><td>{_endpoint_cell(service, endpoints)}</td>"
                            f"<td>{state}</td></tr>")
        return ("<table class=\"hosts\"><thead><tr><th>Host</th><th>Service</th><th>What it is</th><th>Endpoint</th>"
                f"<th>Admin API</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")

    async def _checklist_html(self) -> str:
        try:
            document = await self._checklist()
        except Exception as exc:  # noqa: BLE001 - the checklist's failure is shown, the page still works
            log.exception("lab console: the checklist failed")
            return f'<p class="failure">The checklist could not be read: {_e(type(exc).__name__)}: {_e(exc)}</p>'
        return _checklist_table(_mask(document))

    async def _ladders_html(self) -> str:
        exchanges = await self._last_exchanges()
        if not exchanges:
            return '<p class="none">No exchange with the Front End yet.</p>'
        out = []
        for title, handshake in exchanges:
            out.append(f'<section class="handshake"><h3>{_e(title)}</h3><div class="ladder-frame">'
                       f"{render_ladder(build_ladder(handshake), handshake)}</div></section>")
        return "".join(out)

    async def _last_exchanges(self) -> list[tuple[str, dict[str, Any]]]:
        """The last :data:`LADDERS` connections the Front End logged, each as a handshake
        document :func:`harness.report.build_ladder` draws: its records, with the KDC's
        (and for a push the connector's Secured port's) records of the same moments."""
        frontend = (await self._recent("frontend", LADDER_WINDOW))["records"]
        connections: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        for record in frontend:
            if record.get("connection") is not None:
                connections.setdefault(record["connection"], []).append(record)
        last = sorted(connections.items(), key=lambda item: item[1][-1]["seq"])[-LADDERS:]
        if not last:
            return []
        kdc = (await self._recent("kdc", LADDER_WINDOW))["records"] if "kdc" in self.lab.admin else []
        connector = (await self._recent("connector", LADDER_WINDOW))["records"] if "connector" in self.lab.admin else []
        exchanges = []
        for number, log in reversed(last):
            start, end = log[0].get("time") or 0, log[-1].get("time") or 0
            during = [r for r in kdc if start <= (r.get("time") or 0) <= end]
            when = time.strftime("%H:%M:%S", time.localtime(start))
            if log[0]["type"].startswith("push"):
                done = next((r for r in log if r["type"] == "push-done"), {})
                port = next((r for r in log if r["type"] == "push-started"), {})
                pushed = [r for r in connector if start <= (r.get("time") or 0) <= end]
                handshake = {"kind": "mtls", "direction": "frontend-to-connector", "client": "Secured port",
                             "outcome": "ok" if done.get("ok") else "failed",
                             "evidence": {"connector": {"log": pushed}, "frontend": {"push": done}}}
                title = f"{when} · connection {number}: the Front End's push to {port.get('host')}:{port.get('port')}"
            else:
                # Kerberos once the Front End challenged or judged credentials (not merely
                # said MS-SIPAE is required of a client without a certificate).
                kerberos = any(r["type"] in _SIPAE_EXCHANGE for r in log)
                opened = next((r for r in log if r["type"] == "connection-opened"), {})
                handshake = {"kind": "tls-kerberos" if kerberos else "mtls",
                             "direction": None if kerberos else "connector-to-frontend",
                             "client": opened.get("peer") or "peer", "outcome": _outcome(log),
                             "evidence": {"frontend": {"log": log}, "kdc": {"log": during if kerberos else []}}}
                title = f"{when} · connection {number} from {opened.get('peer') or 'a peer'} " \
                        f"({'TLS with MS-SIPAE Kerberos' if kerberos else 'TLS'})"
            exchanges.append((title, _mask(handshake)))
        return exchanges

    async def _index(self, request: web.Request) -> web.Response:
        session = self._session(request) or ""
        recent = {name: await self._recent(name, RECENT_EVENTS) for name in self.services}
        cursors = {name: page["cursor"] for name, page in recent.items()}
        rows = sorted(((name, r) for name, page in recent.items() for r in page["records"]),
                      key=lambda item: item[1].get("time") or 0, reverse=True)
        doc = self.lab.lab_json()
        endpoints = doc.get("endpoints", {})
        links = []
        if endpoints.get("certsrv"):
            links.append(f'<a href="{_e(endpoints["certsrv"])}" rel="noreferrer">certsrv (AD CS web enrollment)</a>')
        if endpoints.get("configserver"):
            links.append(f'<a href="{_e(endpoints["configserver"])}gax/" rel="noreferrer">Configuration Server console</a>')
        nonce = secrets.token_urlsafe(16)
        # A data block is raw text, not HTML: JSON with "<" escaped cannot close it.
        data = json.dumps(cursors).replace("<", "\\u003c")
        body = (
            f'<header class="report neutral"><h1>ucc-lab console</h1><div class="meta">{_e(self.lab.workdir)} · '
            f'{_e(doc.get("domain", ""))}</div></header><main>'
            f'<nav class="links">{" · ".join(links)}'
            f'<form method="post" action="/logout"><input type="hidden" name="csrf" value="{_e(self._csrf(session))}">'
            '<button type="submit">Log out</button></form></nav>'
            f'<h2>Hosts and services</h2><div id="hosts">{await self._hosts_html()}</div>'
            f'<h2>The page\'s steps</h2><div id="checklist">{await self._checklist_html()}</div>'
            '<h2>Events as they arrive <span class="live" id="live">(reload to see new ones)</span></h2>'
            '<table class="events"><thead><tr><th>Time</th><th>Stand-in</th><th>#</th><th>Event</th><th>Details</th>'
            f'</tr></thead><tbody id="events">{"".join(_event_row(n, r, new=False) for n, r in rows)}</tbody></table>'
            f'<h2>The last exchanges</h2><div id="ladders">{await self._ladders_html()}</div></main>'
            f'<script type="application/json" id="cursors">{data}</script>'
            f'<script nonce="{nonce}">{_SCRIPT}</script>')
        html = ("<!DOCTYPE html>\n"
                '<html lang="en"><head><meta charset="utf-8"><title>ucc-lab console</title>'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<style>{REPORT_CSS}{_CSS}</style></head><body>{body}</body></html>\n")
        headers = {**_HEADERS, "Content-Security-Policy": _POLICY.format(nonce=nonce)}
        return web.Response(text=html, content_type="text/html", charset="utf-8", headers=headers)


# -- pieces -----------------------------------------------------------------------------------

_POLICY = ("default-src 'none'; script-src 'nonce-{nonce}'; connect-src 'self'; style-src 'unsafe-inline'; "
           "img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# Referrer-Policy same-origin: under no-referrer a browser's own forms carry "Origin: null".
_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                       "frame-ancestors 'none'; base-uri 'none'"}

_CSS = """
nav.links { display: flex; gap: 14px; align-items: center; margin: 14px 0; }
nav.links form { margin-left: auto; }
button { padding: 4px 14px; border-radius: 4px; border: 1px solid #1f5fa8; background: #fff; color: #1f5fa8; cursor: pointer; }
table.events td:nth-child(1), table.events td:nth-child(3) { white-space: nowrap; color: var(--mute); }
table.events td:nth-child(5) { font-size: 12.5px; word-break: break-word; }
table.events tr.new { background: #fff8db; }
.live { font-size: 12px; color: var(--mute); font-weight: 400; }
.login { max-width: 460px; margin: 60px auto; background: #fff; padding: 18px 22px; border: 1px solid var(--line); }
.login input { width: 100%; padding: 6px 8px; font: inherit; margin: 6px 0 10px; }
"""

# Long-polls /api/events, puts new rows on top, then re-reads the checklist, the hosts and
# the ladders; the checklist also every 10 s (files the trainee writes make no event).
_SCRIPT = """
(() => {
  const cursors = JSON.parse(document.getElementById('cursors').textContent);
  const live = document.getElementById('live');
  live.textContent = '(live)';
  const refresh = async (name) => {
    const answer = await fetch('/fragments/' + name, {credentials: 'same-origin'});
    if (answer.ok) document.getElementById(name).innerHTML = await answer.text();
  };
  setInterval(() => refresh('checklist').catch(() => {}), 10000);
  const poll = async () => {
    for (;;) {
      try {
        const query = new URLSearchParams({...cursors, wait: '25'});
        const answer = await fetch('/api/events?' + query, {credentials: 'same-origin'});
        if (answer.status === 401) { location.reload(); return; }
        if (!answer.ok) throw new Error(String(answer.status));
        const doc = await answer.json();
        let fresh = false;
        for (const [name, page] of Object.entries(doc.services)) {
          cursors[name] = page.cursor;
          fresh = fresh || page.records.length > 0;
        }
        if (fresh) {
          const body = document.getElementById('events');
          body.querySelectorAll('tr.new').forEach((row) => row.classList.remove('new'));
          body.insertAdjacentHTML('afterbegin', doc.rows);
          live.textContent = '(live, last event ' + new Date().toLocaleTimeString() + ')';
          await Promise.all(['checklist', 'ladders', 'hosts'].map(refresh));
        }
      } catch (error) {
        live.textContent = '(connection lost, retrying)';
        await new Promise((done) => setTimeout(done, 2000));
      }
    }
  };
  poll();
})();
"""


def _json(document: Any, status: int = 200) -> web.Response:
    return web.json_response(document, status=status, headers=_HEADERS, dumps=lambda v: json.dumps(v, default=str))


def _text(status: int, message: str) -> web.Response:
    return web.Response(text=message + "\n", status=status, headers=_HEADERS)


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **_HEADERS})


def _login_html(error: str | None = None, status: int = 200) -> web.Response:
    message = f'<p class="failure" role="alert">{_e(error)}</p>' if error else ""
    html = ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8"><title>ucc-lab console · log in</title>'
            f"<style>{REPORT_CSS}{_CSS}</style></head><body><div class=\"login\"><h1>ucc-lab console</h1>{message}"
            '<form method="post" action="/login"><label for="token">The lab\'s admin token '
            "(<code>lab.json</code> → <code>admin.token</code>)</label>"
            '<input type="password" id="token" name="token" autocomplete="off" required>'
            '<button type="submit">Open the console</button></form></div></body></html>\n')
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status, headers=_HEADERS)


async def _health(client: Any) -> str:
    if client is None:
        return '<span class="badge">not run here</span>'
    try:
        await client.health()
    except AdminUnavailable as exc:
        return f'<span class="badge bad" title="{_e(exc)}">not answering</span>'
    return '<span class="badge good">serving</span>'


def _endpoint_cell(service: str, endpoints: dict[str, Any]) -> str:
    if service == "ca" and endpoints.get("certsrv"):
        return f'<a href="{_e(endpoints["certsrv"])}" rel="noreferrer">{_e(endpoints["certsrv"])}</a>'
    if service == "configserver" and endpoints.get("configserver"):
        url = endpoints["configserver"]
        return f'<a href="{_e(url)}gax/" rel="noreferrer">{_e(url)}gax/</a> (API {_e(url)}gax/api/)'
    if service in ("kdc", "frontend") and isinstance(endpoints.get(service), dict):
        return f"<code>{_e(endpoints[service]['host'])}:{_e(endpoints[service]['port'])}</code>"
    return '<span class="none">admin API only</span>'


def _summary(record: dict[str, Any]) -> str:
    parts = []
    for name in _SUMMARY_FIELDS:
        value = record.get(name)
        if value in (None, "", []):
            continue
        if isinstance(value, dict):  # a certificate: its subject says enough here
            value = value.get("subject") or json.dumps(value, default=str)[:120]
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{name}={value}")
    return " · ".join(parts)


def _event_row(service: str, record: dict[str, Any], *, new: bool = True) -> str:
    record = _mask(record)
    moment = record.get("time")
    when = time.strftime("%H:%M:%S", time.localtime(moment)) if isinstance(moment, (int, float)) else ""
    failed = record.get("ok") is False or record.get("error") or (isinstance(record.get("status"), int) and record["status"] >= 400)
    return (f'<tr class="{"new" if new else ""}" data-service="{_e(service)}" data-seq="{_e(record.get("seq"))}" '
            f'data-type="{_e(record.get("type"))}"><td>{_e(when)}</td><td>{_e(service)}</td><td>{_e(record.get("seq"))}</td>'
            f'<td>{"<b>" if failed else ""}{_e(record.get("type"))}{"</b>" if failed else ""}</td>'
            f"<td>{_e(_summary(record))}</td></tr>")


def _outcome(log: list[dict[str, Any]]) -> str:
    """How a connection went, as the Front End logged it: ``failed`` on a refusal or an error
    status, ``ok`` once a request was answered below 300, else ``open``."""
    bad = {"tls-failure", "peer-not-trusted", "sipae-rejected", "sipae-bad-signature", "malformed", "connection-error"}
    if any(r["type"] in bad for r in log):
        return "failed"
    # A 401 is MS-SIPAE's challenge, answered by the next request: not a final answer.
    final = [r["status"] for r in log if r["type"] == "response" and isinstance(r.get("status"), int) and r["status"] != 401]
    if any(s >= 300 for s in final):
        return "failed"
    return "ok" if final else "open"


def _status_badge(status: str) -> str:
    good, bad = {"done", "confirmed", "ok"}, {"wrong", "rejected", "failed", "error", "not-confirmed"}
    tone = "good" if status in good else "bad" if status in bad else ""
    return f'<span class="badge {tone}">{_e(status)}</span>'


def _checklist_table(document: dict[str, Any]) -> str:
    """The steps by the page's headings, each done, todo or wrong (with code, why and fix),
    then the handshakes' state."""
    rows = []
    heading = None
    for step in document.get("steps") or []:
        if step.get("heading") != heading:
            heading = step.get("heading")
            rows.append(f'<tr class="heading"><th colspan="4">{_e(heading)}</th></tr>')
        diagnosis = step.get("diagnosis") or {}
        why = ""
        if diagnosis:
            text = diagnosis.get("why") or diagnosis.get("message") or ""
            why = (f'<code class="code">{_e(diagnosis.get("code", ""))}</code> {_e(text)}'
                   + (f'<div class="note-text">fix: {_e(diagnosis["fix"])}</div>' if diagnosis.get("fix") else ""))
        rows.append(f'<tr data-heading="{_e(heading)}" data-status="{_e(step.get("status"))}"><td><span class="step-no">{_e(step.get("step"))}</span></td>'
                    f'<td>{_e(step.get("name"))}</td><td>{_status_badge(str(step.get("status")))}</td><td>{why}</td></tr>')
    steps = ('<table class="checklist"><thead><tr><th>Step</th><th>What</th><th>Status</th><th>Why</th></tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>")
    handshakes = []
    for h in document.get("handshakes") or []:
        name = " · ".join(str(p) for p in (h.get("kind"), h.get("direction")) if p)
        reason = h.get("reason") or "; ".join(f"{d.get('code')}: {d.get('message') or d.get('why') or ''}"
                                              for d in h.get("diagnoses") or [])
        handshakes.append(f"<tr><td>{_e(name)}</td><td>{_status_badge(str(h.get('outcome') or h.get('status')))}</td>"
                          f"<td>{_e(reason)}</td></tr>")
    if handshakes:
        steps += ('<h3>Handshakes</h3><table class="handshakes-state"><thead><tr><th>Handshake</th><th>State</th>'
                  f"<th>Why</th></tr></thead><tbody>{''.join(handshakes)}</tbody></table>")
    return steps
