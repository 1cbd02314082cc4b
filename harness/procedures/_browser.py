"""Internet Explorer on a domain host, as far as the page uses it: certsrv web enrollment.

The browser trusts what the host trusts (the enterprise root the domain distributed),
authenticates with the lab's enrollment account (Basic, as IIS is configured for the
lab) and reaches ``https://labdc01.companya.com/certsrv`` — which in the lab is served
on ``127.0.0.1:PORT``. The TLS connection is checked against the CA host's FQDN, as the
browser would check the name in the address bar.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ._framework import StepFailed

if TYPE_CHECKING:  # pragma: no cover
    from ..lab import Lab

__all__ = ["CertsrvBrowser", "Page"]


@dataclass(frozen=True)
class Page:
    status: int
    content_type: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class CertsrvBrowser:
    """Fetches certsrv pages from the lab's CA stand-in over HTTPS."""

    def __init__(self, lab: "Lab", host_role: str) -> None:
        self.lab = lab
        host = lab.host(host_role)
        # Trusted: the host's Trusted Root store, and only it (not this machine's CA bundle).
        self.ssl = ssl.create_default_context(cadata="".join(_pem(e.certificate) for e in host.trusted_roots.certificates()))
        assert lab.endpoints is not None and lab.secrets is not None
        self.base = lab.endpoints.certsrv.rstrip("/")  # https://127.0.0.1:PORT/certsrv
        self.headers = {"Authorization": aiohttp.encode_basic_auth(lab.topology.enroll_username, lab.secrets.enroll_password)}
        self.server_hostname = lab.topology.ca_fqdn

    @property
    def address(self) -> str:
        """The address the page has the user type, with the lab's CA host in it."""
        return f"https://{self.server_hostname}/certsrv"

    async def _fetch(self, method: str, path: str, **kwargs: object) -> Page:
        url = f"{self.base}/{path.lstrip('/')}"
        try:
            async with aiohttp.ClientSession(headers=self.headers) as session:
                async with session.request(
                    method, url, ssl=self.ssl, server_hostname=self.server_hostname, **kwargs
                ) as response:
                    body = await response.read()
                    return Page(response.status, response.content_type, body)
        except aiohttp.ClientConnectorCertificateError as exc:
            raise StepFailed(
                "cert-untrusted-ca",
                f"{self.address}: there is a problem with this website's security certificate ({exc.certificate_error})",
                "Trust the enterprise root CA on this host (domain join or Trusted Root Certification Authorities).",
            ) from exc
        except aiohttp.ClientError as exc:
            raise StepFailed(
                "certsrv-unreachable",
                f"{self.address}: the page cannot be displayed ({exc})",
                "Check that the CA host's web enrollment (IIS, certsrv) is running and reachable.",
            ) from exc

    async def get(self, path: str, params: dict[str, str] | None = None) -> Page:
        return await self._fetch("GET", path, params=params)

    async def post(self, path: str, form: dict[str, str]) -> Page:
        return await self._fetch("POST", path, data=form)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode()
