"""Revocation of an MTLS peer's certificate, checked as Windows checks it: the CRL named by
the certificate's CRL distribution point, fetched over HTTP, cached until its next update.

Lync checks the revocation of the certificates its servers present to each other: internal
servers that could not reach a public CA's CRL could not set up TLS between themselves
(blog.masteringmsuc.com 2012, "How to enable Certificate CRL checking through a Web Proxy":
LS IM MCU event 33019 "TLS Negotiation took too long to complete"). SChannel itself does not
validate a client's certificate ("Schannel does not validate client's certificates; the
server must perform this authentication manually", MicrosoftDocs/win32
performing-authentication-using-schannel.md): the application builds the chain after the
handshake, so a revoked or uncheckable certificate ends the connection after a finished
TLS handshake, without an alert (assumed: no capture shows what Lync sends).

Verdicts and the chain engine's codes (winerror.h texts in :mod:`._windows`):

1. the certificate's serial is on a valid CRL of its issuer → ``revoked``:
   ``CRYPT_E_REVOKED`` (chain status), ``CERT_E_REVOKED`` (policy);
2. no CRL could be had (no answer, an HTTP error, not a CRL, a signature that does not
   verify, a CRL past its nextUpdate) → ``offline``: ``CRYPT_E_REVOCATION_OFFLINE``
   (policy: ``CERT_E_REVOCATION_FAILURE``). Windows does not use a CRL whose nextUpdate has
   passed, so an expired CRL is the same verdict as an unreachable one;
3. a certificate naming no HTTP CDP is not checked (``not-checked``, the connection goes
   on; assumed — the lab's certificates from other CAs carry none; Windows would report
   ``CRYPT_E_NO_REVOCATION_CHECK``, which the record names). LDAP CDPs are skipped (the lab
   has no directory to serve them).

Every certificate of the verified chain is checked but its root (Windows'
CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT, assumed to be the flag Lync passes).
A fetched CRL is kept until its nextUpdate, as CryptNet's URL cache keeps it.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from ._windows import hresult

__all__ = ["CrlCache", "RevocationResult", "check_crl", "crl_urls"]

#: What an HTTP CDP answer may hold (a CRL of a busy CA is large; nothing is that large).
MAX_CRL_BYTES = 16 * 1024 * 1024
#: Verdicts kept for certificates seen before (a peer's certificate on every connection).
_VERDICTS = 1024
_HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True)
class RevocationResult:
    """The revocation verdict for one certificate (rules 1-3)."""

    status: str  # "good", "revoked", "offline" or "not-checked"
    subject: str
    detail: str
    url: str | None = None
    revoked_on: str | None = None
    reason: str | None = None
    #: OpenSSL's X509_V_ERR code for the same fault: 23 revoked; 3 no CRL, 8 CRL signature,
    #: 11 CRL not yet valid, 12 CRL expired (x509_vfy.h).
    x509_code: int = 0

    @property
    def refused(self) -> bool:
        """Whether the connection must end."""
        return self.status in ("revoked", "offline")

    @property
    def chain_status(self) -> str | None:
        """The chain engine's code (CertGetCertificateChain)."""
        return {"revoked": "CRYPT_E_REVOKED", "offline": "CRYPT_E_REVOCATION_OFFLINE",
                "not-checked": "CRYPT_E_NO_REVOCATION_CHECK"}.get(self.status)

    @property
    def policy_status(self) -> str | None:
        """The policy's code (CertVerifyCertificateChainPolicy)."""
        return {"revoked": "CERT_E_REVOKED", "offline": "CERT_E_REVOCATION_FAILURE"}.get(self.status)

    @functools.cached_property
    def _dict(self) -> dict[str, Any]:
        return {"status": self.status, "subject": self.subject, "detail": self.detail, "url": self.url,
                "revoked_on": self.revoked_on, "reason": self.reason,
                "chain_status": hresult(self.chain_status) if self.chain_status else None,
                "policy_status": hresult(self.policy_status) if self.policy_status else None}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the evidence records (the same dict each time: records never change)."""
        return self._dict


def crl_urls(certificate: x509.Certificate) -> list[str]:
    """The HTTP(S) URLs of a certificate's CRL distribution points, in order."""
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    urls = []
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.lower().startswith(("http://", "https://")):
                urls.append(name.value)
    return urls


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def check_crl(certificate: x509.Certificate, issuer: x509.Certificate, data: bytes,
              now: datetime.datetime, url: str | None = None) -> RevocationResult:
    """The verdict of the CRL ``data`` (DER or PEM) on ``certificate`` (sans-I/O)."""
    try:
        crl = _load_crl(data)
    except ValueError:
        return RevocationResult("offline", certificate.subject.rfc4514_string(),
                                f"{url or 'the CDP'} did not answer with a CRL", url, x509_code=3)
    return _verdict(certificate, issuer, crl, now, url, _signed_by(crl, issuer))


def _signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    if crl.issuer != issuer.subject:
        return False
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _verdict(certificate: x509.Certificate, issuer: x509.Certificate, crl: x509.CertificateRevocationList,
             now: datetime.datetime, url: str | None, signed: bool) -> RevocationResult:
    subject = certificate.subject.rfc4514_string()

    def offline(detail: str, code: int = 3) -> RevocationResult:
        return RevocationResult("offline", subject, detail, url, x509_code=code)

    if crl.issuer != issuer.subject:
        return offline(f"the CRL at {url or 'the CDP'} is {crl.issuer.rfc4514_string()}'s, not {issuer.subject.rfc4514_string()}'s")
    if not signed:
        return offline(f"the CRL's signature does not verify with {issuer.subject.rfc4514_string()}'s key", 8)
    if crl.last_update_utc > now:
        return offline(f"the CRL is not valid before {crl.last_update_utc.isoformat()}", 11)
    next_update = crl.next_update_utc
    if next_update is not None and next_update < now:
        return offline(f"the CRL expired at {next_update.isoformat()} (its nextUpdate)", 12)
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is not None:
        reason = None
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
        except x509.ExtensionNotFound:
            pass
        return RevocationResult("revoked", subject, f"serial {certificate.serial_number:x} is on the CRL", url,
                                entry.revocation_date_utc.isoformat(), reason, x509_code=23)
    return RevocationResult("good", subject, "not on the CRL", url)


@dataclass
class _Cached:
    crl: x509.CertificateRevocationList
    until: datetime.datetime | None
    #: Issuers (by subject) whose key this CRL's signature was checked against, and the answer.
    signed: dict[x509.Name, bool]


class CrlCache:
    """Fetches CRLs from their CDP URLs over HTTP and keeps them until their nextUpdate.

    ``hosts`` maps a CDP host name to the ``address:port`` to reach it at, for a lab whose
    names do not resolve (``{"labdc01.companya.com": "127.0.0.1:8080"}``); other names are
    resolved as usual (port 80, or the URL's). ``timeout`` bounds one fetch (Windows' URL
    retrieval timeout is 15 s per URL: assumed default). ``now`` is the clock.
    """

    def __init__(self, *, hosts: Mapping[str, str] | None = None, timeout: float = 15.0,
                 now: Callable[[], datetime.datetime]) -> None:
        self.hosts = {name.lower().rstrip("."): address for name, address in (hosts or {}).items()}
        self.timeout = timeout
        self._now = now
        self._cache: dict[str, _Cached] = {}
        self._verdicts: dict[tuple[x509.Certificate, x509.Certificate], tuple[_Cached | None, RevocationResult]] = {}

    def check_cached(self, chain: Sequence[x509.Certificate]) -> list[RevocationResult] | None:
        """The verdicts on ``chain`` from what is cached, without fetching; None when a
        CRL must be fetched first (then use :meth:`check_chain`)."""
        results = []
        for certificate, issuer in itertools.pairwise(chain):
            result = self._from_cache(certificate, issuer)
            if result is None:
                return None
            results.append(result)
            if result.refused:
                break
        return results

    async def check_chain(self, chain: Sequence[x509.Certificate]) -> list[RevocationResult]:
        """One verdict per certificate of ``chain`` (leaf first, trust anchor last) but the
        anchor, in order; a refused one ends the list."""
        results = []
        for certificate, issuer in itertools.pairwise(chain):
            result = await self.check(certificate, issuer)
            results.append(result)
            if result.refused:
                break
        return results

    def _from_cache(self, certificate: x509.Certificate, issuer: x509.Certificate,
                    urls: list[str] | None = None) -> RevocationResult | None:
        """The verdict a cached CRL gives, or None. A peer presents the same certificate on
        every connection: its verdict is kept with the CRL entry it came from, and holds
        as long as that entry is in the cache and current."""
        now = self._now()
        known = self._verdicts.get((certificate, issuer))
        if known is not None:
            entry, result = known
            if entry is None or (self._cache.get(result.url or "") is entry and (entry.until is None or entry.until >= now)):
                return result
        urls = crl_urls(certificate) if urls is None else urls
        if not urls:
            result = RevocationResult("not-checked", certificate.subject.rfc4514_string(),
                                      "the certificate names no HTTP CRL distribution point")
            self._remember(certificate, issuer, None, result)
            return result
        for url in urls:
            cached = self._cache.get(url)
            if cached is None or (cached.until is not None and cached.until < now):
                continue
            signed = cached.signed.get(issuer.subject)
            if signed is None:
                signed = cached.signed[issuer.subject] = _signed_by(cached.crl, issuer)
            result = _verdict(certificate, issuer, cached.crl, now, url, signed)
            if result.status != "offline":
                self._remember(certificate, issuer, cached, result)
                return result
        return None

    def _remember(self, certificate: x509.Certificate, issuer: x509.Certificate, entry: _Cached | None,
                  result: RevocationResult) -> None:
        if len(self._verdicts) >= _VERDICTS:
            self._verdicts.clear()
        self._verdicts[(certificate, issuer)] = (entry, result)

    async def check(self, certificate: x509.Certificate, issuer: x509.Certificate) -> RevocationResult:
        """The verdict on one certificate (rules 1-3), from the cache or a fetch."""
        urls = crl_urls(certificate)
        cached = self._from_cache(certificate, issuer, urls)
        if cached is not None:
            return cached
        subject = certificate.subject.rfc4514_string()
        failures: list[tuple[str, int]] = []
        for url in urls:
            try:
                data = await asyncio.wait_for(self._get(url), self.timeout)
            except TimeoutError:
                failures.append((f"{url}: no answer within {self.timeout:g} s", 3))
                continue
            except (OSError, _HttpError) as error:
                failures.append((f"{url}: {error.strerror if isinstance(error, OSError) and error.strerror else error}", 3))
                continue
            try:
                crl = _load_crl(data)
            except ValueError:
                failures.append((f"{url} did not answer with a CRL", 3))
                continue
            signed = _signed_by(crl, issuer)
            result = _verdict(certificate, issuer, crl, self._now(), url, signed)
            if result.status != "offline":
                self._cache[url] = entry = _Cached(crl, crl.next_update_utc, {issuer.subject: signed})
                self._remember(certificate, issuer, entry, result)
                return result
            failures.append((result.detail, result.x509_code))
        return RevocationResult("offline", subject, "; ".join(detail for detail, _ in failures), urls[0],
                                x509_code=failures[-1][1])

    def forget(self) -> None:
        """Drop every cached CRL (``certutil -urlcache * delete``)."""
        self._cache.clear()
        self._verdicts.clear()

    async def _get(self, url: str) -> bytes:
        """The body of ``GET url`` (HTTP/1.1, ``Connection: close``); ``_HttpError`` unless 200."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "http":
            raise _HttpError(f"{parts.scheme} CDPs are not fetched here, only http")
        host = (parts.hostname or "").lower().rstrip(".")
        target = self.hosts.get(host) or self.hosts.get(f"{host}:{parts.port}" if parts.port else host)
        if target is not None:
            address, _, port_text = target.rpartition(":")
            address, port = address.strip("[]") or "127.0.0.1", int(port_text)
        else:
            address, port = host, parts.port or 80
        reader, writer = await asyncio.open_connection(address, port)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: Microsoft-CryptoAPI/10.0\r\n"
                         "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii", "replace"))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _HEAD_LIMIT:
                raise _HttpError("the HTTP answer's head is too long")
            status_line, *lines = head.decode("iso-8859-1").split("\r\n")
            fields = {}
            for line in lines:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            parts_of_status = status_line.split(" ", 2)
            if len(parts_of_status) < 2 or parts_of_status[1] != "200":
                raise _HttpError(f"HTTP {status_line.partition(' ')[2] or status_line!r}")
            length = fields.get("content-length")
            if length is not None:
                if not length.isdigit() or int(length) > MAX_CRL_BYTES:
                    raise _HttpError(f"Content-Length {length!r} is no CRL's")
                return await reader.readexactly(int(length))
            body = bytearray()  # no Content-Length: the body ends with the connection
            while chunk := await reader.read(65536):
                body += chunk
                if len(body) > MAX_CRL_BYTES:
                    raise _HttpError("the answer is larger than any CRL")
            return bytes(body)
        except asyncio.IncompleteReadError:
            raise _HttpError("the connection closed before the whole answer") from None
        except asyncio.LimitOverrunError:
            raise _HttpError("the HTTP answer's head is too long") from None
        finally:
            writer.close()


class _HttpError(Exception):
    """A CDP's HTTP answer was not a 200 with a body."""
