"""What the page's steps, the drivers and the judge use of a lab, wherever it runs.

A lab in this process and a lab in containers (or on a LAN, or in another ``ucclab up``)
offer the same things: where each service is (:class:`Endpoints`, once as the harness
reaches it and once as the lab's own hosts reach each other), the CA as the page's
Windows tools see it (:class:`Authority`), and the domain's accounts
(:class:`Domain`). Both read and change the stand-ins only through their admin API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509

from fakes.ca import Template

from .admin import AdminClient

__all__ = ["Address", "Endpoints", "Authority", "Submission", "Domain"]


@dataclass(frozen=True)
class Address:
    """A host and port to connect to."""

    host: str
    port: int

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port}

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Endpoints:
    """Where a lab's services are, as one side reaches them.

    ``ucc`` is the address of the UC Connector host (where the Front End pushes presence).
    """

    certsrv: str
    configserver: str
    kdc: Address
    frontend: Address
    ucc: str

    def to_json(self) -> dict[str, Any]:
        return {"certsrv": self.certsrv, "configserver": self.configserver, "kdc": self.kdc.to_json(),
                "frontend": self.frontend.to_json(), "ucc": self.ucc}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Endpoints":
        return cls(
            certsrv=str(data["certsrv"]),
            configserver=str(data["configserver"]),
            kdc=Address(str(data["kdc"]["host"]), int(data["kdc"]["port"])),
            frontend=Address(str(data["frontend"]["host"]), int(data["frontend"]["port"])),
            ucc=str(data.get("ucc", data["frontend"]["host"])),
        )


@dataclass(frozen=True)
class Submission:
    """The CA's answer to a request submitted by another road than certsrv (the
    Management Shell, the MMC): the fields of :class:`fakes.ca.RequestResult`."""

    request_id: int
    disposition: str
    status: int
    message: str
    certificate: x509.Certificate | None
    template: str | None


class Authority:
    """The lab's CA: what it is (config string, certificates, published templates) and
    requests submitted to it, through its admin API (:mod:`fakes.ca.admin`)."""

    def __init__(self, admin: AdminClient, description: dict[str, Any]) -> None:
        self._admin = admin
        self.config_string: str = description["config_string"]
        self.common_name: str = description["common_name"]
        self.host_fqdn: str = description["host_fqdn"]
        self.two_tier: bool = description["two_tier"]
        self.certificate = x509.load_pem_x509_certificate(description["certificate"].encode())
        self.root_certificate = x509.load_pem_x509_certificate(description["root_certificate"].encode())
        self.chain = x509.load_pem_x509_certificates(description["chain"].encode())
        self.templates: dict[str, Template] = {t["name"]: Template.from_dict(t) for t in description["templates"]}

    @classmethod
    async def load(cls, admin: AdminClient) -> "Authority":
        return cls(admin, await admin.get("authority"))

    async def submit(
        self, csr: x509.CertificateSigningRequest, *, template: str | None, requester: str,
        attributes: dict[str, str] | None = None,
    ) -> Submission:
        from cryptography.hazmat.primitives.serialization import Encoding

        answer = await self._admin.act("submit", {
            "csr": csr.public_bytes(Encoding.PEM).decode(), "template": template, "requester": requester,
            "attributes": attributes or {},
        })
        certificate = answer.get("certificate")
        return Submission(
            request_id=answer["request_id"], disposition=answer["disposition"], status=answer["status"],
            message=answer["message"], template=answer["template"],
            certificate=x509.load_pem_x509_certificate(certificate.encode()) if certificate else None,
        )


class Domain:
    """The domain's accounts, as Active Directory Users and Computers shows and changes
    them; the domain controller (the KDC stand-in) holds them (:mod:`fakes.kdc.admin`)."""

    def __init__(self, admin: AdminClient) -> None:
        self._admin = admin

    async def accounts(self) -> dict[str, dict[str, Any]]:
        """Every account (without its password), by lower-case sAMAccountName."""
        return {a["sam_account_name"].lower(): a for a in await self._admin.get("accounts")}

    async def account(self, name: str) -> dict[str, Any] | None:
        return (await self.accounts()).get(name.lower())

    async def update(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change an account's properties (options, password, SPNs, kvno); the KDC serves
        the change on its next request."""
        if "spns" in changes:
            changes["spns"] = list(changes["spns"])
        return await self._admin.act("update-account", {"name": name, "changes": changes})
