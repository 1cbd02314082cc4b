"""The UC Connector host (``ucc01``) as a service: the connector stand-in, started on request.

An administrator changes the connector's Application object and its files, then starts
the connector; here the harness asks the ``connector`` service to do that, through the
admin API (:mod:`fakes._admin`), wherever ``ucc01`` runs — in the harness's own process,
in a container, on another machine. Each action builds the connector afresh from its
Application object, read from the Configuration Server as the real connector reads it
(``-host``, ``-port``, ``-app``), and from the files its command line names (Windows
paths resolved in the host's ``artifacts`` folder, where the page's files are placed).

Actions (JSON):

* ``register`` — ``{"frontend": {"host", "port"}}``: MTLS to the Front End, OPTIONS and
  REGISTER; answers the connector's report (what Java would have logged).
* ``login`` — ``{"frontend": {...}, "principal": optional}``: TLS to the Front End and the
  MS-SIPAE Kerberos login with the KDC its krb5.conf names.
* ``listen`` — ``{}``: open the Application's Secured SIP port (answers host and port);
  the Front End's push then shows in the evidence (``tls-handshake``, ``request``,
  ``response``, ``tls-failure`` records with ``connection`` and ``peer``).
* ``stop-listening`` — close it.

Settings (the host's, not the Application object's): ``java-security`` — overrides of the
host JDK's ``java.security`` (``{"jdk.certpath.disabledAlgorithms": "...", ...}``, or the text
of a ``java.security`` override file; ``{}``: JDK 17.0.15's own); ``endpoint-identification`` — ``"HTTPS"`` or null (the default: no
check of the Front End's name, as a plain ``SSLSocket``). Both apply from the next action.
A host config may set them at start (``"java_security"``, ``"endpoint_identification"``).

``python -m harness.connector.service hosts/ucc01.json`` runs the host alone (a host
config as :mod:`fakes.host` reads, with a ``connector`` service).
"""

from __future__ import annotations

import ntpath
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from fakes._admin import AdminError, AdminService, Setting
from fakes._evidence import EvidenceLog
from fakes.configserver import ConfigServerClient, ConfigServerError
from fakes.host import RunningHost, serve_host

from ._security import JavaSecurity, JavaSecurityError
from .connector import ConnectorError, SecurePortServer, UCConnector

__all__ = ["ConnectorService", "start_connector", "main"]


class ConnectorService:
    """The connector stand-in of one UC Connector host.

    ``source(mode)`` gives the connector as it would start now; :meth:`from_configserver`
    reads it from the Application object, :meth:`of` serves one already built.
    """

    def __init__(
        self,
        source: Callable[[str | None], Awaitable[UCConnector]],
        *,
        ucc_fqdn: str,
        bind: str,
        evidence: EvidenceLog,
        description: dict[str, Any] | None = None,
        java_security: JavaSecurity | None = None,
        endpoint_identification: str | None = None,
    ) -> None:
        self._source = source
        self.java_security = java_security if java_security is not None else JavaSecurity()
        self.endpoint_identification = endpoint_identification
        self.ucc_fqdn = ucc_fqdn
        self.bind = bind
        self.evidence = evidence
        self.description = description or {}
        self._port: SecurePortServer | None = None

    @classmethod
    def from_configserver(
        cls,
        *,
        configserver_url: str,
        configserver_user: str,
        configserver_password: str,
        application: str,
        files: Path,
        java_home: Path | None,
        frontend_fqdn: str,
        ucc_fqdn: str,
        bind: str,
        evidence: EvidenceLog,
    ) -> "ConnectorService":
        """The connector as the real one starts: its Application object from the Configuration
        Server at ``configserver_url``, its files (Windows paths) by name in ``files``."""

        def resolve(path: str) -> Path:
            return files / ntpath.basename(path)

        async def source(mode: str | None) -> UCConnector:
            try:
                async with ConfigServerClient(configserver_url, configserver_user, configserver_password) as cfg:
                    return await UCConnector.from_configserver(
                        cfg, application, resolve_path=resolve, java_home=java_home,
                        frontend_fqdn=frontend_fqdn, ucc_fqdn=ucc_fqdn, mode=mode,  # type: ignore[arg-type]
                    )
            except (ConfigServerError, OSError) as exc:
                raise AdminError(409, f"the connector cannot read its Application object from {configserver_url}: {exc}") from None

        return cls(source, ucc_fqdn=ucc_fqdn, bind=bind, evidence=evidence,
                   description={"application": application, "configserver": configserver_url})

    @classmethod
    def of(cls, connector: UCConnector, *, ucc_fqdn: str, bind: str) -> "ConnectorService":
        """Serve ``connector`` as it is (``ucclab check`` builds it from a customer's files)."""

        async def source(mode: str | None) -> UCConnector:
            return connector

        return cls(source, ucc_fqdn=ucc_fqdn, bind=bind, evidence=EvidenceLog(now=time.time),
                   java_security=connector.java_security, endpoint_identification=connector.endpoint_identification)

    async def connector(self, mode: str | None = None) -> UCConnector:
        """The connector as it would start right now, with the host's settings."""
        try:
            connector = await self._source(mode)
        except ConnectorError as exc:
            raise AdminError(409, f"{exc.code}: {exc.message}") from None
        connector.java_security = self.java_security
        connector.endpoint_identification = self.endpoint_identification  # type: ignore[assignment]
        return connector

    async def set_java_security(self, value: Any) -> dict[str, str]:
        if not isinstance(value, (str, dict)) or isinstance(value, dict) and not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise AdminError(400, 'java-security takes {"<java.security property>": "<value>", ...} ({} for the JDK\'s '
                                  "own), or a java.security file's text")
        try:
            self.java_security = JavaSecurity.from_text(value) if isinstance(value, str) else JavaSecurity(value)
        except JavaSecurityError as exc:
            raise AdminError(400, str(exc)) from None
        return self.java_security.to_json()

    async def set_endpoint_identification(self, value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or value.upper() not in ("HTTPS", "NONE")):
            raise AdminError(400, 'endpoint-identification is "HTTPS" or null (no name check)')
        self.endpoint_identification = "HTTPS" if isinstance(value, str) and value.upper() == "HTTPS" else None
        return self.endpoint_identification

    async def close(self) -> None:
        """Close the Secured port if open, and the evidence file."""
        await self.stop_listening(None)
        self.evidence.close()

    @staticmethod
    def _frontend(value: Any) -> tuple[str, int]:
        frontend = value.get("frontend") if isinstance(value, dict) else None
        host = frontend.get("host") if isinstance(frontend, dict) else None
        port = frontend.get("port") if isinstance(frontend, dict) else None
        if not isinstance(host, str) or isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise AdminError(400, 'give the Front End as {"frontend": {"host": "...", "port": 1..65535}}')
        return host, port

    async def register(self, value: Any) -> dict[str, Any]:
        host, port = self._frontend(value)
        connector = await self.connector("mtls")
        report = (await connector.register(host, port)).to_dict()
        self.evidence.record("register", frontend=f"{host}:{port}", outcome=report["outcome"], code=report.get("code"))
        return report

    async def login(self, value: Any) -> dict[str, Any]:
        host, port = self._frontend(value)
        principal = value.get("principal")
        if principal is not None and not isinstance(principal, str):
            raise AdminError(400, "principal is a name (ocs-ucc or ocs-ucc@REALM)")
        connector = await self.connector("tls-kerberos")
        try:
            report = (await connector.login(host, port, principal=principal)).to_dict()
        except ConnectorError as exc:
            raise AdminError(409, f"{exc.code}: {exc.message}") from None
        self.evidence.record("login", frontend=f"{host}:{port}", outcome=report["outcome"], code=report.get("code"))
        return report

    async def listen(self, value: Any) -> dict[str, Any]:
        await self.stop_listening(None)
        connector = await self.connector("mtls")
        try:
            self._port = await connector.start_secure_port(self.bind, evidence=self.evidence)
        except ConnectorError as exc:
            return {"listening": False, "code": exc.code, "error": exc.message, "hint": exc.hint}
        return {"listening": True, "host": self.bind, "port": self._port.port}

    async def stop_listening(self, value: Any) -> dict[str, Any]:
        if self._port is not None:
            await self._port.close()
            self._port = None
        return {"listening": False}

    def admin_service(self) -> AdminService:
        return AdminService(
            name="connector",
            evidence=self.evidence,
            health=lambda: {"fqdn": self.ucc_fqdn, **self.description, "listening": self._port is not None},
            actions={"register": self.register, "login": self.login, "listen": self.listen,
                     "stop-listening": self.stop_listening},
            settings={"java-security": Setting(lambda: self.java_security.to_json(), self.set_java_security),
                      "endpoint-identification": Setting(lambda: self.endpoint_identification,
                                                         self.set_endpoint_identification)},
        )


async def start_connector(host: RunningHost, spec: Mapping[str, Any], *, root: Path, bind: str, logs: Path) -> None:
    """:mod:`fakes.host` starter for the ``connector`` service of a host config::

        "connector": {"configserver": {"url", "username", "password"}, "application": "UCC_Lync",
                      "files": "artifacts", "java_home": null,
                      "frontend_fqdn": "fe01.companya.com", "ucc_fqdn": "ucc01.companya.com",
                      "java_security": {}, "endpoint_identification": null}   # the last two optional
    """
    cfg = spec["configserver"]
    files = Path(spec.get("files", "artifacts"))
    service = ConnectorService.from_configserver(
        configserver_url=cfg["url"], configserver_user=cfg["username"], configserver_password=cfg["password"],
        application=spec["application"], files=files if files.is_absolute() else root / files,
        java_home=Path(spec["java_home"]) if spec.get("java_home") else None,
        frontend_fqdn=spec["frontend_fqdn"], ucc_fqdn=spec["ucc_fqdn"], bind=bind,
        evidence=EvidenceLog(now=time.time, path=logs / "connector-events.jsonl"),
    )
    service.java_security = JavaSecurity(spec.get("java_security") or {})
    service.endpoint_identification = spec.get("endpoint_identification")
    host.on_close(service.close)
    host.objects["connector"] = service
    host.services["connector"] = service.admin_service()


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.connector.service CONFIG.json [--root DIR]``."""
    return serve_host(argv, prog="python -m harness.connector.service", extra={"connector": start_connector})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
