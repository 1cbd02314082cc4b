"""``http://<CA host>/CertEnroll/``: where AD CS publishes its CRLs and CA certificates.

IIS's Default Web Site on the CA host serves the CA's ``CertEnroll`` folder over plain
HTTP; the CRL distribution point and AIA URLs of every certificate the CA issues point
there (:mod:`fakes.ca._authority`). This is that site, a thin aiohttp shell around
:meth:`CertificationAuthority.published_file`:

* ``GET``/``HEAD /CertEnroll/<name>``: the file, the path matched case-insensitively as
  IIS matches it; ``.crl`` as ``application/pkix-crl`` and ``.crt`` as
  ``application/x-x509-ca-cert`` (IIS's default MIME map, assumed). A CRL that is due is
  published first, so a client never gets a CRL older than the CA's schedule.
* Anything else: 404 with IIS's wording.
* While the CA's :attr:`~fakes.ca.CertificationAuthority.crl_publication` says
  ``serving: false``, every connection is reset at its first request, without an answer:
  the CDP is unreachable, as for a web site that is down (what a revocation checker then
  reports is its own business: SChannel's CRYPT_E_REVOCATION_OFFLINE, OpenSSL's "unable
  to get certificate CRL").

Each request is recorded in the CA's evidence as an ``http-request`` record with
``site: "CertEnroll"``.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from fakes._evidence import EvidenceLog

from ._authority import CertificationAuthority

__all__ = ["make_certenroll_app"]

_MIME = {".crl": "application/pkix-crl", ".crt": "application/x-x509-ca-cert"}
_CA = web.AppKey("certenroll_ca", CertificationAuthority)
_EVIDENCE = web.AppKey("certenroll_evidence", EvidenceLog)


def make_certenroll_app(ca: CertificationAuthority, *, evidence: EvidenceLog) -> web.Application:
    """The CertEnroll web site of ``ca``, recording its requests in ``evidence``."""
    app = web.Application(middlewares=[_record_and_gate])
    app[_CA] = ca
    app[_EVIDENCE] = evidence
    app.router.add_route(hdrs.METH_GET, "/{folder}/{name}", _published)  # GET adds HEAD
    app.router.add_route(hdrs.METH_ANY, "/{tail:.*}", _not_found)
    return app


@web.middleware
async def _record_and_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The same fields as certsrv's records; nobody logs on here (anonymous, as IIS serves it).
    record = {"site": "CertEnroll", "method": request.method, "path": request.path_qs, "user": None, "auth": None,
              "auth_error": None}
    if not request.app[_CA].crl_publication.serving:
        request.app[_EVIDENCE].record("http-request", **record, status=None, dropped=True)
        if request.transport is not None:
            request.transport.abort()  # a reset, not an answer: the site is down
        raise web.HTTPServiceUnavailable()  # never reaches the client: the connection is gone
    response = await handler(request)
    request.app[_EVIDENCE].record("http-request", **record, status=response.status)
    return response


async def _published(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if request.match_info["folder"].casefold() != "certenroll":  # IIS: paths are case-insensitive
        return await _not_found(request)
    data = request.app[_CA].published_file(name)
    if data is None:
        return await _not_found(request)
    suffix = name[name.rfind("."):].casefold() if "." in name else ""
    return web.Response(body=data, content_type=_MIME.get(suffix, "application/octet-stream"))


async def _not_found(request: web.Request) -> web.Response:
    # IIS's 404 page, short form.
    return web.Response(
        status=404, content_type="text/html", charset="utf-8",
        text="<html><head><title>404 - File or directory not found.</title></head><body>"
             "<h2>404 - File or directory not found.</h2><h3>The resource you are looking for might have"
             " been removed, had its name changed, or is temporarily unavailable.</h3></body></html>\r\n",
    )
