"""certsrv, AD CS web enrollment, served over HTTPS: a thin aiohttp shell around the CA.

The pages and URLs are the ones web-enrollment clients depend on (the ``certsrv``
PyPI client, scripts, a browser following the page's steps):

=============================================  ==========================================
``/certsrv/``                                  welcome: request / pending / download links
``/certsrv/certcarc.asp``                      "Download a CA certificate, certificate
                                               chain, or CRL": ``var nRenewals=N;``
``/certsrv/certnew.cer?ReqID=CACert&...``      the CA certificate (``Enc=bin`` DER,
                                               ``Enc=b64`` PEM), ``application/pkix-cert``
``/certsrv/certnew.p7b?ReqID=CACert&...``      the chain, ``application/x-pkcs7-certificates``
``/certsrv/certrqus.asp``                      "Request a Certificate"
``/certsrv/certrqxt.asp``                      advanced request: paste a base-64 request,
                                               pick a published template
``/certsrv/certfnsh.asp`` (POST)               submit (``Mode=newreq``, ``CertRequest``,
                                               ``CertAttrib=CertificateTemplate:<name>``)
``/certsrv/certnew.cer?ReqID=N&Enc=...``       an issued certificate (.p7b: with chain)
=============================================  ==========================================

As IIS and the ASP pages do: Basic authentication on every ``/certsrv`` URL (401 with
``WWW-Authenticate: Basic realm="<host>"`` and IIS's "401 - Unauthorized: Access is
denied due to invalid credentials."); a denied request is a 200 page saying
``Your Request Id is N. The disposition message is "..."``; fetching a request that was
not issued returns an HTML page ("Disposition message:" ...), not a certificate. What
the CA cannot read (a garbage ``CertRequest``) is recorded and denied by the CA like any
request. Malformed HTTP input gets a 4xx page (400, 404, 405, 413) and the server keeps
serving. Browser-side key generation ("Create and submit a request to this CA", the
ActiveX page certrqma.asp) is not modelled: keys are made by the client, and the
request is submitted as base-64.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import math
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BasicAuth, hdrs, web
from aiohttp.typedefs import Handler
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from fakes._evidence import EvidenceLog

from ._authority import CertificationAuthority
from ._database import ISSUED
from ._errors import CAError
from ._policy import account_name

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


@dataclass(frozen=True)
class _Account:
    name: str       # as configured, e.g. "enroll"
    password: str


@dataclass(frozen=True)
class _Enrollment:
    ca: CertificationAuthority
    accounts: Mapping[str, _Account]  # keyed by the casefolded account name
    realm: str
    evidence: EvidenceLog


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
_USER = web.RequestKey("certsrv_user", str)  # the user name the client sent
_ACCOUNT = web.RequestKey("certsrv_account", _Account)  # the account it logged on as


def _account_key(user_name: str) -> str:
    # Windows accepts DOMAIN\user, user@domain and user alike, case-insensitively.
    return account_name(user_name).casefold()


def make_certsrv_app(
    ca: CertificationAuthority,
    *,
    accounts: Mapping[str, str],
    realm: str = "labdc01.companya.com",
    evidence: EvidenceLog | None = None,
    body_timeout: float = BODY_TIMEOUT,
    max_connections: int | None = None,
) -> web.Application:
    """The certsrv web application for ``ca``.

    ``accounts`` maps user names to passwords (Basic authentication, as web enrollment
    configured for Basic uses); the requester recorded by the CA is
    ``<NETBIOS DOMAIN>\\<user>``. Each request is recorded in ``evidence`` as an
    ``http-request`` record (method, path, user, status), if given; ``user`` is the user
    name the client sent (even with a wrong password), or None when it sent no readable
    Basic credentials.

    A request body that is not whole ``body_timeout`` seconds after the head drops the
    connection, as http.sys does. ``max_connections`` caps the connections served once
    :class:`CertsrvServer` (which counts them) runs the app.
    """
    app = web.Application(
        middlewares=[_record_event, _refuse_over_limit, _render_http_errors, _authenticate],
        client_max_size=MAX_BODY,
    )
    app[_LIMITS] = _HttpLimits(body_timeout, max_connections)
    app[_STATE] = _Enrollment(
        ca=ca,
        accounts={_account_key(name): _Account(name, password)
                  for name, password in accounts.items()},
        realm=realm,
        evidence=evidence if evidence is not None else EvidenceLog(now=time.time),
    )
    app.router.add_get("/certsrv", _redirect_to_home)
    for path in ("/certsrv/", "/certsrv/default.asp"):
        app.router.add_get(path, _welcome)
    app.router.add_get("/certsrv/certcarc.asp", _download_page)
    app.router.add_get("/certsrv/certnew.cer", _certificate)
    app.router.add_get("/certsrv/certnew.p7b", _chain)
    app.router.add_get("/certsrv/certckpn.asp", _pending_page)
    app.router.add_get("/certsrv/certrqus.asp", _request_page)
    app.router.add_get("/certsrv/certrqxt.asp", _advanced_request_page)
    app.router.add_post("/certsrv/certfnsh.asp", _submit)
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
        "http-request", method=request.method, path=request.path_qs, user=request.get(_USER), status=status,
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
    state = request.app[_STATE]
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    try:
        credentials = BasicAuth.decode(header) if header else None
    except ValueError:  # not Basic, bad base64, no colon
        credentials = None
    if credentials is not None:
        request[_USER] = credentials.login
        account = state.accounts.get(_account_key(credentials.login))
        if account is not None and hmac.compare_digest(
            account.password.encode(), credentials.password.encode()
        ):
            request[_ACCOUNT] = account
            return await handler(request)
    # IIS's page for a failed Basic logon.
    response = _plain_page(
        "401 - Unauthorized: Access is denied due to invalid credentials.",
        "You do not have permission to view this directory or page using the credentials "
        "that you supplied.",
        status=401,
    )
    response.headers[hdrs.WWW_AUTHENTICATE] = f'Basic realm="{state.realm}"'
    return response


# -- pages ------------------------------------------------------------------------------

def _page(request: web.Request, title: str, body: str, *, status: int = 200) -> web.Response:
    ca = request.app[_STATE].ca
    document = (
        "<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-8\">"
        "<Title>Microsoft Active Directory Certificate Services</Title></Head>\r\n"
        "<Body BgColor=#FFFFFF><Font ID=locPageFont Face=\"Arial\">\r\n"
        "<Table Border=0 CellSpacing=0 CellPadding=4 Width=100% BgColor=#008080><TR>"
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
        "<P>Use this Web site to request a certificate for your Web browser, e-mail client,"
        " or other program.</P>\r\n"
        "<P><B>Select a task:</B><BR>\r\n"
        "&nbsp;&nbsp;&nbsp;<A Href=\"certrqus.asp\">Request a certificate</A><BR>\r\n"
        "&nbsp;&nbsp;&nbsp;<A Href=\"certckpn.asp\">View the status of a pending certificate"
        " request</A><BR>\r\n"
        "&nbsp;&nbsp;&nbsp;<A Href=\"certcarc.asp\">Download a CA certificate, certificate"
        " chain, or CRL</A></P>"
    ))


async def _download_page(request: web.Request) -> web.Response:
    renewals = request.app[_STATE].ca.renewals
    return _page(request, "Download a CA Certificate, Certificate Chain, or CRL", (
        "<Script Language=\"JavaScript\">\r\n"
        f"\tvar nRenewals={renewals};\r\n"
        "</Script>\r\n"
        "<P>To trust certificates issued from this certification authority, install this CA"
        " certificate.</P>\r\n"
        "<P><B>Encoding method:</B><BR>\r\n"
        "<Input Type=Radio Name=rbEncoding ID=rbDerEnc Value=\"bin\" Checked> DER<BR>\r\n"
        "<Input Type=Radio Name=rbEncoding ID=rbB64Enc Value=\"b64\"> Base 64</P>\r\n"
        f"<P><A Href=\"certnew.cer?ReqID=CACert&amp;Renewal={renewals}&amp;Enc=bin\">"
        "Download CA certificate</A><BR>\r\n"
        f"<A Href=\"certnew.p7b?ReqID=CACert&amp;Renewal={renewals}&amp;Enc=bin\">"
        "Download CA certificate chain</A></P>"
    ))


async def _pending_page(request: web.Request) -> web.Response:
    # The lab's templates issue or deny at once; nothing ever waits for a CA manager.
    return _page(request, "View the Status of a Pending Certificate Request",
                 "<P ID=locNoPending>There are no pending certificate requests.</P>")


async def _request_page(request: web.Request) -> web.Response:
    return _page(request, "Request a Certificate", (
        "<P>Select the certificate type:<BR>\r\n"
        "&nbsp;&nbsp;&nbsp;<A Href=\"certrqxt.asp\">User Certificate</A></P>\r\n"
        "<P>Or, submit an <A Href=\"certrqxt.asp\">advanced certificate request</A>.</P>"
    ))


async def _advanced_request_page(request: web.Request) -> web.Response:
    templates = [t for t in request.app[_STATE].ca.templates.values() if not t.machine_type]
    # Option values carry the template name between semicolons, as the real page's do;
    # the last field is msPKI-Private-Key-Flag's exportable bit (0x10) or 0.
    options = "\r\n".join(
        f"<Option Value=\"E;{html.escape(t.name)};{t.schema_version};"
        f"{0x10 if t.allow_private_key_export else 0}\">{html.escape(t.display_name)}</Option>"
        for t in templates
    )
    return _page(request, "Submit a Certificate Request or Renewal Request", (
        "<P>To submit a saved request to the CA, paste a base-64-encoded CMC or PKCS #10"
        " certificate request in the Saved Request box.</P>\r\n"
        "<Form Name=SubmittedData Action=\"certfnsh.asp\" Method=Post>\r\n"
        "<Input Type=Hidden Name=Mode Value=\"newreq\">\r\n"
        "<P><B>Saved Request:</B><BR>"
        "<TextArea Name=CertRequest Rows=10 Cols=70></TextArea></P>\r\n"
        "<P><B>Certificate Template:</B><BR>\r\n"
        f"<Select Name=lbCertTemplate ID=lbCertTemplateID>\r\n{options}\r\n</Select></P>\r\n"
        "<P><B>Additional Attributes:</B><BR>"
        "<TextArea Name=CertAttrib Rows=2 Cols=70></TextArea></P>\r\n"
        "<Input Type=Hidden Name=FriendlyType Value=\"Saved-Request Certificate\">\r\n"
        "<Input Type=Hidden Name=TargetStoreFlags Value=\"0\">\r\n"
        "<Input Type=Hidden Name=SaveCert Value=\"yes\">\r\n"
        "<Input Type=Submit Value=\"Submit &gt;\">\r\n"
        "</Form>"
    ))


# -- certificates -------------------------------------------------------------------------

_ENCODINGS = {"bin": Encoding.DER, "b64": Encoding.PEM}


def _encoding(request: web.Request) -> Encoding | None:
    return _ENCODINGS.get(request.query.get("Enc", "bin"))


def _download(body: bytes, content_type: str, filename: str) -> web.Response:
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
        message = "The request does not exist. 0x80094002 (-2146877438 CERTSRV_E_NO_REQUEST)"
    else:
        message = record.message
    return _page(request, "Certificate Services Error", (
        "<P ID=locInfoErr>Your certificate could not be retrieved.</P>\r\n"
        "<Table>\r\n"
        f"<TR><TD>Request ID:</TD>\r\n\t\t<TD>{request_id}</TD></TR>\r\n"
        "<TR><TD>Disposition message:</TD>\r\n"
        f"\t\t{html.escape(message, quote=False)}\r\n"
        "</Table>"
    ))


async def _certificate(request: web.Request) -> web.Response:
    encoding = _encoding(request)
    if encoding is None:
        return _bad_request(request, "Enc must be bin (DER) or b64 (Base 64).")
    ca = request.app[_STATE].ca
    if request.query.get("ReqID") == "CACert":
        return _ca_renewal_error(request) or _download(
            ca.certificate.public_bytes(encoding), "application/pkix-cert", "certnew.cer")
    request_id = _request_id(request)
    if request_id is None:
        return _bad_request(request, "ReqID must be CACert or a request number.")
    record = ca.get_request(request_id)
    if record is None or record.disposition != ISSUED or record.certificate is None:
        return _not_issued_page(request, request_id)
    return _download(record.certificate.public_bytes(encoding), "application/pkix-cert",
                     "certnew.cer")


async def _chain(request: web.Request) -> web.Response:
    encoding = _encoding(request)
    if encoding is None:
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
        record = ca.get_request(request_id)
        if record is None or record.disposition != ISSUED or record.certificate is None:
            return _not_issued_page(request, request_id)
        certificates = [record.certificate, *ca.chain]
    return _download(pkcs7.serialize_certificates(certificates, encoding),
                     "application/x-pkcs7-certificates", "certnew.p7b")


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
    if result.disposition == ISSUED:
        n = result.request_id
        return _page(request, "Certificate Issued", (
            "<P ID=locInfoIssued>The certificate you requested was issued to you.</P>\r\n"
            "<P><Input Type=Radio Name=rbEncoding ID=rbDerEnc Checked> DER encoded &nbsp;"
            "<Input Type=Radio Name=rbEncoding ID=rbB64Enc> Base 64 encoded</P>\r\n"
            f"<P><A Href=\"certnew.cer?ReqID={n}&amp;Enc=bin\">Download certificate</A><BR>\r\n"
            f"<A Href=\"certnew.p7b?ReqID={n}&amp;Enc=bin\">Download certificate chain</A></P>"
        ))
    return _page(request, "Certificate Request Denied", (
        "<P ID=locDenied> Your certificate request was denied. </P>\r\n"
        f"<P ID=locInfoReqIDAndDispos> Your Request Id is {result.request_id}. "
        f"The disposition message is \"{html.escape(result.message, quote=False)}\". </P>\r\n"
        "<P ID=locContactAdmin>Contact your administrator for further information.</P>"
    ))


# -- the server -------------------------------------------------------------------------------

class CertsrvServer:
    """certsrv over HTTPS with the CA host's certificate, on an asyncio event loop.

    ::

        server = CertsrvServer(ca, accounts={"enroll": "Passw0rd!"})
        await server.start()            # 127.0.0.1, a free port
        server.url                      # "https://127.0.0.1:PORT/certsrv/"
        await server.close()

    ``evidence`` records every HTTP request it answered (the last ones in memory; all of
    them in ``event_log_path`` when given).

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
        self._app = make_certsrv_app(
            ca, accounts=accounts, realm=realm or ca.host_fqdn, evidence=self.evidence,
            body_timeout=body_timeout, max_connections=max_connections,
        )
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind ``host:port`` (port 0: the OS picks) and serve HTTPS."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca.https_cert_path, self.ca.https_key_path)
        # aiohttp's keep-alive timer runs from the connection (or the last answer) until a
        # whole request head has arrived, whatever arrives meanwhile: the head deadline.
        runner = web.AppRunner(self._app, access_log=None, keepalive_timeout=self.header_timeout)
        await runner.setup()
        self._app[_LIMITS].server = runner.server
        try:
            await web.TCPSite(runner, host, port, ssl_context=context).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host = host
        self.port = runner.addresses[0][1]

    @property
    def url(self) -> str:
        """The home page, e.g. ``https://127.0.0.1:PORT/certsrv/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}/certsrv/"

    async def close(self) -> None:
        """Stop serving, release the port and close the evidence file."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.evidence.close()

    async def __aenter__(self) -> CertsrvServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
