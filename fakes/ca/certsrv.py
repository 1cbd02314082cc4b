"""certsrv, AD CS web enrollment, served over HTTPS: a thin aiohttp shell around the CA.

The pages and URLs are the ones web-enrollment clients depend on (the ``certsrv``
PyPI client, scripts, a browser following the page's steps):

=============================================  ==========================================
``/certsrv/``                                  welcome: request / pending / download links
``/certsrv/certcarc.asp``                      "Download a CA certificate, certificate
                                               chain, or CRL": ``var nRenewals=N;``, the
                                               CA certificate (renewal), DER or Base 64
``/certsrv/certnew.cer?ReqID=CACert&...``      the CA certificate, ``application/pkix-cert``
``/certsrv/certnew.p7b?ReqID=CACert&...``      the chain, ``application/x-pkcs7-certificates``
``/certsrv/certcrl.crl?Type=base&Enc=...``     the CA's latest base CRL
``/certsrv/certrqus.asp``                      "Request a Certificate"
``/certsrv/certrqxt.asp``                      advanced request: paste a base-64 request,
                                               pick a template the page lists
``/certsrv/certfnsh.asp`` (POST)               submit (``Mode=newreq``, ``CertRequest``,
                                               ``CertAttrib=CertificateTemplate:<name>``):
                                               "Certificate Issued", "Certificate Pending"
                                               or "Certificate Request Denied"
``/certsrv/certckpn.asp``                      "View the Status of a Pending Certificate
                                               Request": this browser's pending requests
``/certsrv/certfnsh.asp?Mode=chkpnd&ReqID=N``  one of them, as it stands now
``/certsrv/certnew.cer?ReqID=N&Enc=...``       an issued certificate (.p7b: with chain)
=============================================  ==========================================

As IIS and the ASP pages do:

* **Authentication** on every ``/certsrv`` URL. A request without credentials gets 401
  with ``WWW-Authenticate: Negotiate``, ``NTLM`` (Windows authentication's providers in
  their default order, learn.microsoft.com/iis/configuration/system.webserver/security/
  authentication/windowsauthentication/providers; one header each, in that order —
  assumed) and ``Basic realm="<host>"`` (Basic enabled beside it, as web-enrollment
  deployments that script it do; its place after the Windows providers assumed) and
  IIS's "401 - Unauthorized: Access is denied due to invalid credentials.". NTLM (bare,
  or in SPNEGO under Negotiate) is a handshake on one connection, and the logon lasts
  as long as the connection (:mod:`fakes.ca._ntlm`); Basic is per request.
* **Downloads** in DER (``Enc=bin``) or Base 64 (``Enc=b64``, the default when ``Enc``
  is absent — scripts written against real CAs, e.g. impacket's ntlmrelayx AD CS attack,
  fetch ``certnew.cer?ReqID=N`` and read PEM). Base 64 is written as Windows'
  CryptBinaryToString writes it: CRLF line ends ("the default behavior is to use a
  carriage return/line feed (CR/LF) pair", learn.microsoft.com CryptBinaryToStringA;
  64 characters a line, assumed) and the certificate header for the PKCS #7 chain too
  (``-----BEGIN CERTIFICATE-----``, as magnuswatn/certsrv's tests against a real AD CS
  expect); a CRL gets the X.509 CRL header (CRYPT_STRING_BASE64X509CRLHEADER, assumed).
* **Outcomes**: a denied request is a 200 page saying ``Your Request Id is N. The
  disposition message is "..."``; a request for a template that needs CA manager
  approval is "Certificate Pending" with "Your Request Id is N." and waits (the CA's
  admin actions ``approve``/``deny``); fetching a request that is not issued returns an
  HTML page ("Disposition message:" ..., "Taken Under Submission" while pending, "The
  requested property value is empty." for an unknown ID — [MS-WCCE] 3.2.1.4.2.1.3's
  CERTSRV_E_PROPERTY_EMPTY), not a certificate.
* **The template list** of the advanced request page holds what a user may request
  through it: user templates of schema version 1 and 2 (see
  :attr:`fakes.ca.Template.web_enrollment`).
* **Pending requests** are remembered by the browser, as certsrv does ("You must return
  with this web browser within 10 days to retrieve your certificate"): a cookie holds
  the request IDs for ten days (its name and format are the lab's own).

What the CA cannot read (a garbage ``CertRequest``) is recorded and denied by the CA like
any request. Malformed HTTP input gets a 4xx page (400, 404, 405, 413) and the server
keeps serving. Browser-side key generation ("Create and submit a request to this CA",
the ActiveX pages certrqma.asp and certrqbi.asp) is not modelled: keys are made by the
client, and the request is submitted as base-64. The pages are plain HTML with inline
style and script only (no outside assets); the scripts only pick the encoding of a
download, and every link works without them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import html
import math
import os
import re
import ssl
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import BasicAuth, hdrs, web
from aiohttp.typedefs import Handler
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from fakes._evidence import EvidenceLog

from ._authority import CertificationAuthority
from ._database import ISSUED, PENDING, REVOKED, RequestRecord, RequestResult
from ._errors import CAError
from ._ntlm import (
    AUTHENTICATE,
    NEGOTIATE,
    NtlmAuthenticate,
    NtlmError,
    NtlmServer,
    message_type,
    parse_authenticate,
    spnego_accept_completed,
    spnego_unwrap,
    spnego_wrap_challenge,
    verify_ntlmv2,
)
from ._policy import CERTSRV_E_PROPERTY_EMPTY, account_name, describe_status
from .certenroll import make_certenroll_app

__all__ = ["CertsrvServer", "make_certsrv_app"]

# A CSR is a few KB even base64- and form-encoded; anything near this is not a request.
MAX_BODY = 256 * 1024
#: http.sys's defaults, 2 minutes each (HeaderWait: the request head; EntityBody: the
#: body — Microsoft.AspNetCore.Server.HttpSys.TimeoutManager). The lab bounds the whole
#: head and the whole body; http.sys restarts EntityBody at each arrival of data and leaves
#: slow senders to MinBytesPerSecond.
HEADER_TIMEOUT = 120.0
BODY_TIMEOUT = 120.0
#: IIS's site limit (``<limits maxConnections>``) is unlimited by default; the lab caps
#: connections at a number far above its own use (assumed) and answers one more as
#: http.sys does at a site's limit: 503, HTTPERR reason ConnLimit.
MAX_CONNECTIONS = 256
_REQUEST_ID_MAX = 2**31 - 1  # AD CS request IDs are 32-bit
#: How long a browser keeps its pending requests: the page's "within 10 days".
_PENDING_DAYS = 10
_PENDING_COOKIE = "CertsrvPendingRequests"
_PENDING_KEPT = 20  # the newest IDs a browser keeps (assumed bound)
_LOGON_FAILED = "401 - Unauthorized: Access is denied due to invalid credentials."


@dataclass(frozen=True)
class _Account:
    name: str       # as configured, e.g. "enroll"
    password: str


@dataclass
class _WindowsLogon:
    """NTLM on one connection: the challenge sent, then the account it logged on as."""

    scheme: str                      # "NTLM" or "Negotiate", as the client named it
    spnego: bool                     # the client wraps its messages in SPNEGO
    server_challenge: bytes | None   # sent, not yet answered
    account: _Account | None = None  # the connection's logon, once proven
    user: str | None = None          # DOMAIN\user as the client sent it


@dataclass(frozen=True)
class _Enrollment:
    ca: CertificationAuthority
    accounts: Mapping[str, _Account]  # keyed by the casefolded account name
    realm: str
    evidence: EvidenceLog
    ntlm: NtlmServer
    now: Callable[[], datetime]
    rng: Callable[[int], bytes]


class _HttpLimits:
    """The body deadline, and the connection cap with the server whose connections count."""

    def __init__(self, body_timeout: float, max_connections: int | None) -> None:
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.server: web.Server | None = None  # set once a runner serves the app

    def over_limit(self, request: web.Request) -> int | None:
        """How many connections are open when ``request`` came on one past the cap, else None."""
        if self.max_connections is None or self.server is None:
            return None
        connections = self.server.connections  # oldest first
        if request.protocol in connections[self.max_connections:]:
            return len(connections)
        return None


_STATE = web.AppKey("certsrv", _Enrollment)
_LIMITS = web.AppKey("certsrv_limits", _HttpLimits)
# NTLM logons by connection (its transport): gone with the connection.
_LOGONS = web.AppKey("certsrv_logons", weakref.WeakKeyDictionary)
_USER = web.RequestKey("certsrv_user", str)  # the user name the client sent
_SCHEME = web.RequestKey("certsrv_scheme", str)  # the authentication scheme it used
_AUTH_ERROR = web.RequestKey("certsrv_auth_error", str)  # why its logon failed
_ACCOUNT = web.RequestKey("certsrv_account", _Account)  # the account it logged on as


def _account_key(user_name: str) -> str:
    # Windows accepts DOMAIN\user, user@domain and user alike, case-insensitively.
    return account_name(user_name).casefold()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def make_certsrv_app(
    ca: CertificationAuthority,
    *,
    accounts: Mapping[str, str],
    realm: str = "labdc01.companya.com",
    evidence: EvidenceLog | None = None,
    body_timeout: float = BODY_TIMEOUT,
    max_connections: int | None = None,
    now: Callable[[], datetime] = _utc_now,
    rng: Callable[[int], bytes] = os.urandom,
) -> web.Application:
    """The certsrv web application for ``ca``.

    ``accounts`` maps user names to passwords; a client logs on with Basic, NTLM or
    Negotiate (NTLM inside), and the requester recorded by the CA is
    ``<NETBIOS DOMAIN>\\<user>``. Each request is recorded in ``evidence`` as an
    ``http-request`` record (site ``certsrv``, method, path, user, auth scheme, status,
    and ``auth_error`` saying why a logon failed), if given; ``user`` is the user name the
    client sent (even with a wrong password), or None when it sent no readable
    credentials. ``now`` and ``rng`` are the clock and randomness of NTLM challenges.

    A request body that is not whole ``body_timeout`` seconds after the head drops the
    connection, as http.sys does. ``max_connections`` caps the connections served once
    :class:`CertsrvServer` (which counts them) runs the app.
    """
    app = web.Application(
        middlewares=[_record_event, _refuse_over_limit, _render_http_errors, _authenticate],
        client_max_size=MAX_BODY,
    )
    app[_LIMITS] = _HttpLimits(body_timeout, max_connections)
    app[_LOGONS] = weakref.WeakKeyDictionary()
    app[_STATE] = _Enrollment(
        ca=ca,
        accounts={_account_key(name): _Account(name, password)
                  for name, password in accounts.items()},
        realm=realm,
        evidence=evidence if evidence is not None else EvidenceLog(now=time.time),
        ntlm=NtlmServer(
            netbios_domain=ca.netbios_domain, dns_domain=ca.domain,
            netbios_computer=ca.host_fqdn.split(".")[0].upper(), dns_computer=ca.host_fqdn,
        ),
        now=now,
        rng=rng,
    )
    app.router.add_get("/certsrv", _redirect_to_home)
    for path in ("/certsrv/", "/certsrv/default.asp"):
        app.router.add_get(path, _welcome)
    app.router.add_get("/certsrv/certcarc.asp", _download_page)
    app.router.add_get("/certsrv/certnew.cer", _certificate)
    app.router.add_get("/certsrv/certnew.p7b", _chain)
    app.router.add_get("/certsrv/certcrl.crl", _crl)
    app.router.add_get("/certsrv/certckpn.asp", _pending_page)
    app.router.add_get("/certsrv/certrqus.asp", _request_page)
    app.router.add_get("/certsrv/certrqbi.asp", _browser_request_page)
    app.router.add_get("/certsrv/certrqxt.asp", _advanced_request_page)
    app.router.add_post("/certsrv/certfnsh.asp", _submit)
    app.router.add_get("/certsrv/certfnsh.asp", _check_pending)
    return app


# -- middlewares (outermost first) ------------------------------------------------------

@web.middleware
async def _record_event(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects travel as exceptions in aiohttp
        _record(request, exc.status)
        raise
    _record(request, response.status)
    return response


def _record(request: web.Request, status: int) -> None:
    request.app[_STATE].evidence.record(
        "http-request", site="certsrv", method=request.method, path=request.path_qs,
        user=request.get(_USER), auth=request.get(_SCHEME), status=status,
        auth_error=request.get(_AUTH_ERROR),
    )


@web.middleware
async def _refuse_over_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    count = request.app[_LIMITS].over_limit(request)
    if count is None:
        return await handler(request)
    # http.sys answers before IIS authenticates anyone; its page names no reason (the
    # HTTPERR log does: ConnLimit), the lab's adds it.
    response = _plain_page(
        "Service Unavailable",
        f"HTTP Error 503. The service is unavailable: the site connection limit has been "
        f"reached ({count} connections open, the limit is {request.app[_LIMITS].max_connections}).",
        status=503,
    )
    response.force_close()
    return response


@web.middleware
async def _render_http_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    # aiohttp signals 404, 405 and 413 (body over client_max_size) as exceptions;
    # answer them with a page in the site's style instead of aiohttp's plain text.
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = f"<P>{html.escape(exc.text or exc.reason)}</P>"
        response = _page(request, f"{exc.status} {exc.reason}", detail, status=exc.status)
        if hdrs.ALLOW in exc.headers:
            response.headers[hdrs.ALLOW] = exc.headers[hdrs.ALLOW]
        return response


@web.middleware
async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not (request.path == "/certsrv" or request.path.startswith("/certsrv/")):
        return await handler(request)
    scheme, _, credentials = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")
    if scheme.casefold() == "basic":
        return await _basic_logon(request, handler)
    if scheme.casefold() in ("ntlm", "negotiate"):
        return await _windows_logon(request, handler, "NTLM" if scheme.casefold() == "ntlm" else "Negotiate",
                                    credentials.strip())
    logon = request.app[_LOGONS].get(request.transport) if request.transport is not None else None
    if not scheme and logon is not None and logon.account is not None:
        # IIS keeps a Windows logon for the life of the connection: later requests on it
        # need no Authorization header.
        request[_USER], request[_SCHEME], request[_ACCOUNT] = logon.user or logon.account.name, logon.scheme, logon.account
        return await handler(request)
    if scheme:
        request[_AUTH_ERROR] = f"the {scheme} authentication scheme is not enabled here"
    return _unauthorized(request)


def _unauthorized(request: web.Request, *, challenge: str | None = None, error: str | None = None) -> web.Response:
    """IIS's 401: the NTLM challenge when one is under way, else every enabled scheme."""
    if error is not None:
        request[_AUTH_ERROR] = error
    response = _plain_page(
        _LOGON_FAILED,
        "You do not have permission to view this directory or page using the credentials "
        "that you supplied.",
        status=401,
    )
    if challenge is not None:
        response.headers[hdrs.WWW_AUTHENTICATE] = challenge
    else:
        for offer in ("Negotiate", "NTLM", f'Basic realm="{request.app[_STATE].realm}"'):
            response.headers.add(hdrs.WWW_AUTHENTICATE, offer)
    return response


async def _basic_logon(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[_STATE]
    request[_SCHEME] = "Basic"
    try:
        credentials = BasicAuth.decode(request.headers[hdrs.AUTHORIZATION])
    except ValueError as exc:  # bad base64, no colon
        return _unauthorized(request, error=f"unreadable Basic credentials ({exc})")
    request[_USER] = credentials.login
    account = state.accounts.get(_account_key(credentials.login))
    if account is None:
        return _unauthorized(request, error=f"no account {credentials.login!r}")
    if not hmac.compare_digest(account.password.encode(), credentials.password.encode()):
        return _unauthorized(request, error=f"wrong password for {credentials.login!r}")
    request[_ACCOUNT] = account
    return await handler(request)


async def _windows_logon(request: web.Request, handler: Handler, scheme: str, credentials: str) -> web.StreamResponse:
    state = request.app[_STATE]
    logons = request.app[_LOGONS]
    transport = request.transport
    request[_SCHEME] = scheme
    try:
        token = base64.b64decode(credentials, validate=True)
    except (binascii.Error, ValueError):
        return _unauthorized(request, error=f"the {scheme} token is not base64")
    if transport is None:  # the connection closed under us: nothing to answer on
        return _unauthorized(request, error="the connection is gone")
    try:
        inner, spnego = spnego_unwrap(token) if scheme == "Negotiate" else (token, False)
        kind = message_type(inner)
        if kind == NEGOTIATE:
            server_challenge = state.rng(8)
            out = state.ntlm.challenge(inner, server_challenge, state.now())
            logons[transport] = _WindowsLogon(scheme, spnego, server_challenge)
            if spnego:
                out = spnego_wrap_challenge(out)
            return _unauthorized(request, challenge=f"{scheme} {base64.b64encode(out).decode('ascii')}")
        if kind != AUTHENTICATE:
            return _unauthorized(request, error="an NTLM CHALLENGE message is the server's to send")
        message = parse_authenticate(inner)
    except NtlmError as exc:
        return _unauthorized(request, error=f"{scheme}: {exc}")
    request[_USER] = message.account
    logon = logons.get(transport)
    if logon is None or logon.server_challenge is None:
        return _unauthorized(request, error="an NTLM AUTHENTICATE message with no CHALLENGE before it on this connection")
    server_challenge, logon.server_challenge = logon.server_challenge, None  # one answer per challenge
    account, error = _ntlm_account(state, message, server_challenge)
    if account is None:
        logons.pop(transport, None)
        return _unauthorized(request, error=error)
    logon.account, logon.user = account, message.account
    request[_ACCOUNT] = account
    response = await handler(request)
    if logon.spnego:  # SPNEGO's last word rides on the answer (RFC 4559 section 5)
        response.headers[hdrs.WWW_AUTHENTICATE] = f"Negotiate {base64.b64encode(spnego_accept_completed()).decode('ascii')}"
    return response


def _ntlm_account(state: _Enrollment, message: NtlmAuthenticate, server_challenge: bytes) -> tuple[_Account | None, str]:
    """The account an AUTHENTICATE message proves, or None and why not."""
    if not message.user:
        return None, "anonymous NTLM logons are not accepted"
    domains = {"", state.ntlm.netbios_domain.casefold(), state.ntlm.dns_domain.casefold()}
    if message.domain.casefold() not in domains:
        return None, f"the domain {message.domain!r} is not {state.ntlm.netbios_domain} ({state.ntlm.dns_domain})"
    account = state.accounts.get(_account_key(message.user))
    if account is None:
        return None, f"no account {message.account!r}"
    if len(message.nt_response) <= 24:
        return None, f"{message.account}: an NTLMv1 or LM response; only NTLMv2 is accepted"
    if not verify_ntlmv2(message, account.password, server_challenge):
        return None, f"wrong password for {message.account!r} (the NTLMv2 response does not match)"
    return account, ""


# -- pages ------------------------------------------------------------------------------

# Inline style only: the pages load nothing from anywhere.
_STYLE = (
    "body{margin:0;font-family:Verdana,Arial,sans-serif;font-size:13px;background:#fff}"
    "#locPageFont{display:block;padding:0 0 16px 0}"
    "table.banner{border-collapse:collapse;width:100%;background:#008080}"
    "table.banner td{padding:6px 12px;color:#fff}"
    "table.banner a{color:#fff;font-weight:bold;text-decoration:none}"
    "#locPageTitle{margin:16px 12px 8px;font-size:15px}"
    "P,form,table.fields{margin-left:12px;margin-right:12px}"
    "textarea{font-family:Consolas,monospace;font-size:12px}"
    "hr{border:0;border-top:1px solid #008080;margin:16px 12px}"
)


def _page(request: web.Request, title: str, body: str, *, status: int = 200,
          script: str = "") -> web.Response:
    ca = request.app[_STATE].ca
    document = (
        "<!DOCTYPE html>\r\n"
        "<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-8\">"
        "<Title>Microsoft Active Directory Certificate Services</Title>"
        f"<Style>{_STYLE}</Style>"
        f"{f'<Script>{script}</Script>' if script else ''}</Head>\r\n"
        "<Body BgColor=#FFFFFF><Font ID=locPageFont Face=\"Arial\">\r\n"
        "<Table Class=banner Border=0 CellSpacing=0 CellPadding=4 Width=100% BgColor=#008080><TR>"
        f"<TD><Font Color=#FFFFFF><B><I>Microsoft</I></B> Active Directory Certificate Services"
        f" &nbsp;--&nbsp; {html.escape(ca.common_name)} &nbsp;</Font></TD>"
        "<TD Align=Right><A Href=\"/certsrv\"><Font Color=#FFFFFF><B>Home</B></Font></A></TD>"
        "</TR></Table>\r\n"
        f"<P ID=locPageTitle> <B> {html.escape(title)} </B></P>\r\n"
        f"{body}\r\n</Font></Body></HTML>\r\n"
    )
    return web.Response(text=document, content_type="text/html", charset="utf-8", status=status)


def _plain_page(title: str, detail: str, *, status: int) -> web.Response:
    document = (
        f"<html><head><title>{html.escape(title)}</title></head><body>"
        f"<h2>{html.escape(title)}</h2><h3>{html.escape(detail)}</h3></body></html>\r\n"
    )
    return web.Response(text=document, content_type="text/html", charset="utf-8", status=status)


def _bad_request(request: web.Request, detail: str) -> web.Response:
    return _page(request, "Bad Request", f"<P>{html.escape(detail)}</P>", status=400)


async def _redirect_to_home(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/certsrv/")


async def _welcome(request: web.Request) -> web.Response:
    return _page(request, "Welcome", (
        "<P ID=locWelcome>Use this Web site to request a certificate for your Web browser,"
        " e-mail client, or other program. By using a certificate, you can verify your identity"
        " to people you communicate with over the Web, sign and encrypt messages, and,"
        " depending upon the type of certificate you request, perform other security tasks.</P>\r\n"
        "<P>You can also use this Web site to download a certificate authority (CA) certificate,"
        " certificate chain, or certificate revocation list (CRL), or to view the status of a"
        " pending request.</P>\r\n"
        "<P><B>Select a task:</B><BR>\r\n"
        "&nbsp;&nbsp;&nbsp;<A ID=lnkRequest Href=\"certrqus.asp\">Request a certificate</A><BR>\r\n"
        "&nbsp;&nbsp;&nbsp;<A ID=lnkPending Href=\"certckpn.asp\">View the status of a pending"
        " certificate request</A><BR>\r\n"
        "&nbsp;&nbsp;&nbsp;<A ID=lnkDownload Href=\"certcarc.asp\">Download a CA certificate,"
        " certificate chain, or CRL</A></P>"
    ))


# The download pages pick DER or Base 64 with radio buttons; the links carry Enc=bin, and a
# script rewrites them when another encoding (or CA certificate) is chosen, so every link
# also works without scripts.
_ENCODING_SCRIPT = (
    "function certsrvEncoding(){var b=document.getElementById('rbB64Enc');"
    "return (b&&b.checked)?'b64':'bin';}"
    "function certsrvLinks(){var enc=certsrvEncoding();"
    "var sel=document.getElementById('lbCACert');var renewal=sel?sel.value:null;"
    "var links=document.querySelectorAll('a[data-download]');"
    "for(var i=0;i<links.length;i++){var a=links[i];var href=a.getAttribute('data-download');"
    "if(renewal!==null){href=href.replace(/Renewal=[0-9]+/,'Renewal='+renewal);}"
    "a.setAttribute('href',href+'&Enc='+enc);}}"
    "document.addEventListener('DOMContentLoaded',function(){var inputs="
    "document.querySelectorAll('input[name=rbEncoding],select#lbCACert');"
    "for(var i=0;i<inputs.length;i++){inputs[i].addEventListener('change',certsrvLinks);}"
    "certsrvLinks();});"
)


def _download_link(link_id: str, target: str, label: str) -> str:
    return (f"<A ID={link_id} Href=\"{html.escape(target)}&amp;Enc=bin\" "
            f"data-download=\"{html.escape(target)}\">{html.escape(label)}</A>")


_ENCODING_CHOICE = (
    "<P><B>Encoding method:</B><BR>\r\n"
    "<Input Type=Radio Name=rbEncoding ID=rbDerEnc Value=\"bin\" Checked>"
    "<Label For=rbDerEnc> DER</Label><BR>\r\n"
    "<Input Type=Radio Name=rbEncoding ID=rbB64Enc Value=\"b64\">"
    "<Label For=rbB64Enc> Base 64</Label></P>\r\n"
)


async def _download_page(request: web.Request) -> web.Response:
    ca = request.app[_STATE].ca
    renewals = ca.renewals
    # One entry per CA certificate the CA has had; the lab's CAs are never renewed.
    options = "".join(
        f"<Option Value=\"{n}\"{' Selected' if n == renewals else ''}>"
        f"{'Current' if n == renewals else f'Previous ({n})'} [{html.escape(ca.common_name)}]</Option>"
        for n in range(renewals, -1, -1)
    )
    return _page(request, "Download a CA Certificate, Certificate Chain, or CRL", (
        "<Script Language=\"JavaScript\">\r\n"
        f"\tvar nRenewals={renewals};\r\n"
        "</Script>\r\n"
        "<P>To trust certificates issued from this certification authority, install this CA"
        " certificate.</P>\r\n"
        "<P>To download a CA certificate, certificate chain, or CRL, select the certificate and"
        " encoding method.</P>\r\n"
        "<P><B>CA certificate:</B><BR>\r\n"
        f"<Select Name=lbCACert ID=lbCACert Size=2>{options}</Select></P>\r\n"
        f"{_ENCODING_CHOICE}"
        f"<P>{_download_link('lnkCACert', f'certnew.cer?ReqID=CACert&Renewal={renewals}', 'Download CA certificate')}"
        "<BR>\r\n"
        f"{_download_link('lnkCAChain', f'certnew.p7b?ReqID=CACert&Renewal={renewals}', 'Download CA certificate chain')}"
        "<BR>\r\n"
        f"{_download_link('lnkBaseCRL', 'certcrl.crl?Type=base', 'Download latest base CRL')}</P>"
    ), script=_ENCODING_SCRIPT)


async def _request_page(request: web.Request) -> web.Response:
    return _page(request, "Request a Certificate", (
        "<P>Select the certificate type:<BR>\r\n"
        "&nbsp;&nbsp;&nbsp;<A ID=lnkUserCert Href=\"certrqbi.asp?type=0\">User Certificate</A></P>\r\n"
        "<P>Or, submit an <A ID=lnkAdvanced Href=\"certrqxt.asp\">advanced certificate request</A>.</P>"
    ))


async def _browser_request_page(request: web.Request) -> web.Response:
    # Real certsrv makes the key in the browser here (ActiveX, CertEnroll); the lab does
    # not, and says so in its own words.
    return _page(request, "User Certificate - Identifying Information", (
        "<P>This page generates the key pair in the Web browser, which this certification"
        " authority's lab web site does not support.</P>\r\n"
        "<P>Make a key and a PKCS #10 request with your own tool (openssl req, certreq) and"
        " submit it as an <A Href=\"certrqxt.asp\">advanced certificate request</A>.</P>"
    ))


async def _advanced_request_page(request: web.Request) -> web.Response:
    templates = [t for t in request.app[_STATE].ca.templates.values() if t.web_enrollment]
    # Option values carry the template name between semicolons, as the real page's do;
    # the last field is msPKI-Private-Key-Flag's exportable bit (0x10) or 0.
    options = "\r\n".join(
        f"<Option Value=\"E;{html.escape(t.name)};{t.schema_version};"
        f"{0x10 if t.allow_private_key_export else 0}\">{html.escape(t.display_name)}</Option>"
        for t in templates
    )
    return _page(request, "Submit a Certificate Request or Renewal Request", (
        "<P>To submit a saved request to the CA, paste a base-64-encoded CMC or PKCS #10"
        " certificate request or PKCS #7 renewal request generated by an external source"
        " (such as a Web server) in the Saved Request box.</P>\r\n"
        "<Form Name=SubmittedData ID=SubmittedData Action=\"certfnsh.asp\" Method=Post>\r\n"
        "<Input Type=Hidden Name=Mode Value=\"newreq\">\r\n"
        "<Table Class=fields>\r\n"
        "<TR><TD><B>Saved Request:</B></TD></TR>\r\n"
        "<TR><TD><Label For=locTaRequest>Base-64-encoded certificate request<BR>(CMC or PKCS #10"
        " or PKCS #7):</Label></TD>\r\n"
        "<TD><TextArea Name=CertRequest ID=locTaRequest Rows=12 Cols=66"
        " Placeholder=\"-----BEGIN CERTIFICATE REQUEST-----\"></TextArea></TD></TR>\r\n"
        "<TR><TD><B><Label For=lbCertTemplateID>Certificate Template:</Label></B></TD>\r\n"
        f"<TD><Select Name=lbCertTemplate ID=lbCertTemplateID>\r\n{options}\r\n</Select></TD></TR>\r\n"
        "<TR><TD><B>Additional Attributes:</B></TD></TR>\r\n"
        "<TR><TD><Label For=locTaAttrib>Attributes:</Label></TD>\r\n"
        "<TD><TextArea Name=CertAttrib ID=locTaAttrib Rows=2 Cols=66></TextArea></TD></TR>\r\n"
        "</Table>\r\n"
        "<Input Type=Hidden Name=FriendlyType Value=\"Saved-Request Certificate\">\r\n"
        "<Input Type=Hidden Name=TargetStoreFlags Value=\"0\">\r\n"
        "<Input Type=Hidden Name=SaveCert Value=\"yes\">\r\n"
        "<P><Input Type=Submit ID=btnSubmit Value=\"Submit &gt;\"></P>\r\n"
        "</Form>"
    ))


def _pending_ids(request: web.Request) -> list[int]:
    """The request IDs this browser keeps in its pending-requests cookie, newest first."""
    raw = request.cookies.get(_PENDING_COOKIE, "")
    ids = [number for part in raw.split(".") if (number := _decimal(part)) is not None and number > 0]
    return ids[:_PENDING_KEPT]


async def _pending_page(request: web.Request) -> web.Response:
    ca = request.app[_STATE].ca
    records = [record for n in _pending_ids(request) if (record := ca.get_request(n)) is not None]
    if not records:
        return _page(request, "View the Status of a Pending Certificate Request",
                     "<P ID=locNoPending>There are no pending certificate requests.</P>")
    items = "<BR>\r\n".join(
        f"&nbsp;&nbsp;&nbsp;<A Href=\"certfnsh.asp?Mode=chkpnd&amp;ReqID={r.request_id}\">"
        f"Saved-Request Certificate ({r.submitted_at:%A, %B %d, %Y %H:%M:%S} UTC)</A>"
        for r in records
    )
    return _page(request, "View the Status of a Pending Certificate Request", (
        "<P>Select the certificate request you want to view:</P>\r\n"
        f"<P ID=locPendingList>{items}</P>"
    ))


# -- certificates and CRLs ---------------------------------------------------------------------

def _encoding(request: web.Request) -> str | None:
    enc = request.query.get("Enc", "b64")
    return enc if enc in ("bin", "b64") else None


def _base64_text(der: bytes, label: str) -> bytes:
    """Base 64 with a header, as Windows' CryptBinaryToString writes it: CRLF line ends."""
    body = base64.b64encode(der)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"\r\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode(), b""])


def _download(der: bytes, enc: str, label: str, content_type: str, filename: str) -> web.Response:
    body = der if enc == "bin" else _base64_text(der, label)
    return web.Response(body=body, content_type=content_type, headers={
        hdrs.CONTENT_DISPOSITION: f'attachment; filename="{filename}"',
    })


# A number in a query string: ASCII digits only. str.isdigit() also takes "²" and "١",
# which int() then refuses or reads; and ten digits hold any 32-bit value.
_DECIMAL = re.compile(r"[0-9]{1,10}")


def _decimal(text: str) -> int | None:
    return int(text) if _DECIMAL.fullmatch(text) else None


def _ca_renewal_error(request: web.Request) -> web.Response | None:
    renewals = request.app[_STATE].ca.renewals
    renewal = request.query.get("Renewal", str(renewals))
    number = _decimal(renewal)
    if number is None or number > renewals:
        return _bad_request(
            request, f"Renewal={renewal!r}: this CA has renewal numbers 0 to {renewals}."
        )
    return None


def _request_id(request: web.Request) -> int | None:
    number = _decimal(request.query.get("ReqID", ""))
    return number if number is not None and 0 < number <= _REQUEST_ID_MAX else None


def _not_issued_page(request: web.Request, request_id: int) -> web.Response:
    # The certsrv client reads the reason with r"Disposition message:[^\t]+\t\t(.+)".
    record = request.app[_STATE].ca.get_request(request_id)
    if record is None:
        message, status = describe_status(CERTSRV_E_PROPERTY_EMPTY), CERTSRV_E_PROPERTY_EMPTY
    else:
        message, status = record.message, record.status
    error = (f"<TR><TD>Error:</TD>\r\n\t\t<TD>{html.escape(describe_status(status))}</TD></TR>\r\n"
             if status else "")
    return _page(request, "Certificate Services Error", (
        "<P ID=locInfoErr>Your certificate could not be retrieved.</P>\r\n"
        "<Table>\r\n"
        f"<TR><TD>Request ID:</TD>\r\n\t\t<TD>{request_id}</TD></TR>\r\n"
        "<TR><TD>Disposition message:</TD>\r\n"
        f"\t\t{html.escape(message, quote=False)}\r\n"
        f"{error}"
        "</Table>"
    ))


def _issued_record(request: web.Request, request_id: int) -> RequestRecord | None:
    record = request.app[_STATE].ca.get_request(request_id)
    # A revoked certificate was issued and can still be fetched (assumed).
    if record is None or record.disposition not in (ISSUED, REVOKED) or record.certificate is None:
        return None
    return record


async def _certificate(request: web.Request) -> web.Response:
    enc = _encoding(request)
    if enc is None:
        return _bad_request(request, "Enc must be bin (DER) or b64 (Base 64).")
    ca = request.app[_STATE].ca
    if request.query.get("ReqID") == "CACert":
        return _ca_renewal_error(request) or _download(
            ca.certificate.public_bytes(Encoding.DER), enc, "CERTIFICATE", "application/pkix-cert", "certnew.cer")
    request_id = _request_id(request)
    if request_id is None:
        return _bad_request(request, "ReqID must be CACert or a request number.")
    record = _issued_record(request, request_id)
    if record is None or record.certificate is None:
        return _not_issued_page(request, request_id)
    return _download(record.certificate.public_bytes(Encoding.DER), enc, "CERTIFICATE",
                     "application/pkix-cert", "certnew.cer")


async def _chain(request: web.Request) -> web.Response:
    enc = _encoding(request)
    if enc is None:
        return _bad_request(request, "Enc must be bin (DER) or b64 (Base 64).")
    ca = request.app[_STATE].ca
    certificates: list[x509.Certificate]
    if request.query.get("ReqID") == "CACert":
        error = _ca_renewal_error(request)
        if error is not None:
            return error
        certificates = ca.chain
    else:
        request_id = _request_id(request)
        if request_id is None:
            return _bad_request(request, "ReqID must be CACert or a request number.")
        record = _issued_record(request, request_id)
        if record is None or record.certificate is None:
            return _not_issued_page(request, request_id)
        certificates = [record.certificate, *ca.chain]
    return _download(pkcs7.serialize_certificates(certificates, Encoding.DER), enc, "CERTIFICATE",
                     "application/x-pkcs7-certificates", "certnew.p7b")


async def _crl(request: web.Request) -> web.Response:
    enc = _encoding(request)
    if enc is None:
        return _bad_request(request, "Enc must be bin (DER) or b64 (Base 64).")
    kind = request.query.get("Type", "base")
    if kind == "delta":
        return _page(request, "Certificate Services Error", (
            "<P ID=locInfoErr>The delta CRL could not be retrieved: this CA publishes base CRLs"
            " only.</P>"), status=404)
    if kind != "base":
        return _bad_request(request, "Type must be base or delta.")
    crl = request.app[_STATE].ca.crl
    return _download(crl.public_bytes(Encoding.DER), enc, "X509 CRL", "application/pkix-crl", "certcrl.crl")


# -- submitting ------------------------------------------------------------------------------

_ATTRIBUTE_LINE = re.compile(r"\s*([^:\s][^:]*?)\s*:(.*)")


async def _submit(request: web.Request) -> web.Response:
    # Classic ASP's Request.Form reads URL-encoded bodies only, and so do we: this also
    # keeps malformed multipart bodies away from the form parser.
    if request.content_type != "application/x-www-form-urlencoded":
        return _page(request, "Unsupported Media Type", (
            f"<P>certfnsh.asp reads application/x-www-form-urlencoded forms, not "
            f"{html.escape(request.content_type)}.</P>"), status=415)
    limits = request.app[_LIMITS]
    try:
        async with asyncio.timeout(limits.body_timeout):
            form = await request.post()
    except ValueError as exc:  # undecodable or malformed form body
        return _bad_request(request, f"The form could not be read: {exc}")
    except TimeoutError:
        # http.sys drops the connection (HTTPERR: Timer_EntityBody); nothing is answered,
        # the 408 only tells the evidence why.
        request.protocol.force_close()
        raise web.HTTPRequestTimeout(
            text=f"The request body did not arrive within {limits.body_timeout:g} seconds.") from None
    mode = form.get("Mode")
    if mode != "newreq":
        return _bad_request(request, f"Mode={mode!r} is not supported; use Mode=newreq.")
    certificate_request = form.get("CertRequest")
    if not isinstance(certificate_request, str) or not certificate_request.strip():
        return _bad_request(request, "No certificate request: the CertRequest field is empty.")
    template: str | None = None
    attributes: dict[str, str] = {}
    cert_attrib = form.get("CertAttrib", "")
    for line in str(cert_attrib).splitlines():
        if not line.strip():
            continue
        match = _ATTRIBUTE_LINE.fullmatch(line)
        if match is None:
            return _bad_request(request, f"CertAttrib line {line!r} is not name:value.")
        name, value = match.group(1), match.group(2).strip()
        if name.casefold() == "certificatetemplate":
            template = value
        else:
            attributes[name] = value
    selected = form.get("lbCertTemplate")
    if template is None and isinstance(selected, str) and selected.count(";") >= 1:
        template = selected.split(";")[1]  # a browser posting certrqxt.asp's form as is

    state = request.app[_STATE]
    account: _Account = request[_ACCOUNT]
    try:
        result = state.ca.submit(
            certificate_request.encode(), template=template,
            requester=f"{state.ca.netbios_domain}\\{account.name}", attributes=attributes,
        )
    except CAError as exc:  # e.g. the CA certificate has expired: the CA cannot issue
        return _page(request, "Service Unavailable", f"<P>{html.escape(str(exc))}</P>",
                     status=503)
    response = _outcome_page(request, result)
    if result.disposition == PENDING:
        # The browser remembers its pending request, newest first.
        kept = [result.request_id, *(n for n in _pending_ids(request) if n != result.request_id)][:_PENDING_KEPT]
        response.set_cookie(_PENDING_COOKIE, ".".join(map(str, kept)), max_age=_PENDING_DAYS * 86400,
                            path="/certsrv", secure=True, httponly=True, samesite="Strict")
    return response


async def _check_pending(request: web.Request) -> web.Response:
    """``certfnsh.asp?Mode=chkpnd&ReqID=N``: a request from certckpn.asp's list, as it stands now."""
    if request.query.get("Mode") != "chkpnd":
        return _bad_request(request, "certfnsh.asp takes a form (POST Mode=newreq), or Mode=chkpnd&ReqID=N.")
    request_id = _request_id(request)
    if request_id is None:
        return _bad_request(request, "ReqID must be a request number.")
    record = request.app[_STATE].ca.get_request(request_id)
    if record is None:
        return _not_issued_page(request, request_id)
    disposition = ISSUED if record.disposition == REVOKED else record.disposition
    return _outcome_page(request, RequestResult(record.request_id, disposition, record.status, record.message,
                                                record.certificate, record.template))


def _outcome_page(request: web.Request, result: RequestResult) -> web.Response:
    n = result.request_id
    if result.disposition == ISSUED:
        # The links carry ReqID=N& as real certsrv's script does (location="certnew.cer?ReqID=N&"
        # + encoding): clients find the request ID with that pattern.
        return _page(request, "Certificate Issued", (
            "<P ID=locInfoIssued>The certificate you requested was issued to you.</P>\r\n"
            "<P><Input Type=Radio Name=rbEncoding ID=rbDerEnc Value=\"bin\" Checked>"
            "<Label For=rbDerEnc> DER encoded</Label> &nbsp;or&nbsp; "
            "<Input Type=Radio Name=rbEncoding ID=rbB64Enc Value=\"b64\">"
            "<Label For=rbB64Enc> Base 64 encoded</Label></P>\r\n"
            f"<P>{_download_link('lnkCert', f'certnew.cer?ReqID={n}', 'Download certificate')}<BR>\r\n"
            f"{_download_link('lnkChain', f'certnew.p7b?ReqID={n}', 'Download certificate chain')}</P>"
        ), script=_ENCODING_SCRIPT)
    if result.disposition == PENDING:
        return _page(request, "Certificate Pending", (
            "<P ID=locInfoPending>Your certificate request has been received. However, you must"
            " wait for an administrator to issue the certificate you requested.</P>\r\n"
            f"<P ID=locInfoReqID>Your Request Id is {n}.</P>\r\n"
            "<P>Please return to this web site in a day or two to retrieve your certificate.</P>\r\n"
            f"<P><B>Note:</B> You must return with this web browser within {_PENDING_DAYS} days to"
            " retrieve your certificate</P>"
        ))
    return _page(request, "Certificate Request Denied", (
        "<P ID=locDenied> Your certificate request was denied. </P>\r\n"
        f"<P ID=locInfoReqIDAndDispos> Your Request Id is {n}. "
        f"The disposition message is \"{html.escape(result.message, quote=False)}\". </P>\r\n"
        "<P ID=locContactAdmin>Contact your administrator for further information.</P>"
    ))


# -- the server -------------------------------------------------------------------------------

class CertsrvServer:
    """certsrv over HTTPS with the CA host's certificate, and the CA host's plain HTTP site
    that serves ``/CertEnroll/`` (the CRLs the certificates point to), on one event loop.

    ::

        server = CertsrvServer(ca, accounts={"enroll": "Passw0rd!"})
        await server.start(crl_port=0)  # 127.0.0.1, free ports
        server.url                      # "https://127.0.0.1:PORT/certsrv/"
        server.crl_url                  # "http://127.0.0.1:PORT2/CertEnroll/<CA name>.crl"
        await server.close()

    ``evidence`` records every HTTP request either site answered (the last ones in
    memory; all of them in ``event_log_path`` when given).

    Slow or greedy clients are bounded as http.sys bounds them: a connection whose request
    head is not whole ``header_timeout`` seconds after it opened (or after the previous
    answer) is closed; a body not whole ``body_timeout`` seconds after its head drops the
    connection; past ``max_connections`` open connections, a request is answered 503. The
    TLS handshake has asyncio's bound (60 seconds).
    """

    def __init__(
        self, ca: CertificationAuthority, *, accounts: Mapping[str, str], realm: str | None = None,
        event_log_path: Path | None = None, header_timeout: float = HEADER_TIMEOUT,
        body_timeout: float = BODY_TIMEOUT, max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        for name, value in (("header_timeout", header_timeout), ("body_timeout", body_timeout)):
            if not 0 < value < math.inf:  # NaN fails this too
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections!r}")
        self.header_timeout = header_timeout
        self.ca = ca
        self.evidence = EvidenceLog(now=time.time, path=event_log_path)
        self.host = "127.0.0.1"
        self.port = 0
        self.crl_port: int | None = None
        self._app = make_certsrv_app(
            ca, accounts=accounts, realm=realm or ca.host_fqdn, evidence=self.evidence,
            body_timeout=body_timeout, max_connections=max_connections,
        )
        self._runners: list[web.AppRunner] = []

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, crl_port: int | None = None) -> None:
        """Bind ``host:port`` (port 0: the OS picks) and serve HTTPS; with ``crl_port``,
        also serve ``/CertEnroll/`` over plain HTTP there (80 on a real CA host; 0: the
        OS picks, see :attr:`crl_port`)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca.https_cert_path, self.ca.https_key_path)
        # aiohttp's keep-alive timer runs from the connection (or the last answer) until a
        # whole request head has arrived, whatever arrives meanwhile: the head deadline.
        runner = web.AppRunner(self._app, access_log=None, keepalive_timeout=self.header_timeout)
        try:
            self.port = await self._serve(runner, host, port, context)
            self._app[_LIMITS].server = runner.server
            if crl_port is not None:
                cert_enroll = web.AppRunner(make_certenroll_app(self.ca, evidence=self.evidence), access_log=None,
                                            keepalive_timeout=self.header_timeout)
                self.crl_port = await self._serve(cert_enroll, host, crl_port, None)
        except BaseException:
            await self._cleanup()
            raise
        self.host = host

    async def _serve(self, runner: web.AppRunner, host: str, port: int, context: ssl.SSLContext | None) -> int:
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, host, port, ssl_context=context).start()
        return int(runner.addresses[0][1])

    @property
    def url(self) -> str:
        """The home page, e.g. ``https://127.0.0.1:PORT/certsrv/``."""
        return f"https://{self._host_part}:{self.port}/certsrv/"

    @property
    def crl_url(self) -> str | None:
        """Where this process serves the CA's base CRL (the CDP URL's path on the
        CertEnroll port), or None when that site is not served."""
        if self.crl_port is None:
            return None
        return f"http://{self._host_part}:{self.crl_port}/CertEnroll/{self.ca.crl_name}"

    @property
    def _host_part(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    async def _cleanup(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def close(self) -> None:
        """Stop serving, release the ports and close the evidence file."""
        await self._cleanup()
        self.evidence.close()

    async def __aenter__(self) -> CertsrvServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
