"""The Front End's admin API (:mod:`fakes._admin`): what an administrator changes on fe01.

Settings:

* ``known-peers`` — the FQDNs of the topology's trusted application pools and computers
  (a JSON list). Only a client certificate naming one of them gets SIP service.
* ``certificate`` — the certificate the pool presents: ``{"chain": PEM, "key": PEM}``
  (leaf first, then intermediates). Reading gives the chain's subjects and PEM, never the key.
* ``trusted-cas`` — the PEM bundle of the CAs whose client certificates are accepted.

Actions:

* ``push`` — ``{"host", "port", "server_name"}``: connect to a connector's Secured SIP
  port as the Front End and send OPTIONS and NOTIFY (the MTLS direction Front End →
  connector); the result is what the Front End saw.

``reset`` puts back the configuration the Front End was started with.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from OpenSSL import SSL

from fakes._admin import AdminError, AdminService, Setting
from fakes._files import write_private_file, write_public_file

from ._config import FrontendConfig
from .server import FrontendServer

__all__ = ["frontend_admin"]


def frontend_admin(server: FrontendServer, *, state_dir: Path) -> AdminService:
    """The admin service of ``server``; new certificates and CA bundles are kept in ``state_dir``."""
    initial = server.config

    def apply(config: FrontendConfig) -> None:
        try:
            server.reconfigure(config)
        except (OSError, SSL.Error, ValueError) as exc:
            raise AdminError(409, f"the Front End refused the change: {_reason(exc)}") from None

    def known_peers() -> list[str]:
        return list(server.config.known_peers)

    async def set_known_peers(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise AdminError(400, "known-peers is a JSON list of FQDNs")
        apply(dataclasses.replace(server.config, known_peers=tuple(v.strip().lower() for v in value)))
        return known_peers()

    def certificate() -> dict[str, Any]:
        pem = server.config.certificate_chain.read_text()
        chain = x509.load_pem_x509_certificates(pem.encode())
        return {"subjects": [c.subject.rfc4514_string() for c in chain], "chain": pem}

    async def set_certificate(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or not isinstance(value.get("chain"), str) or not isinstance(value.get("key"), str):
            raise AdminError(400, 'certificate is {"chain": "<PEM>", "key": "<PEM>"}')
        chain, key = value["chain"].encode(), value["key"].encode()
        try:
            x509.load_pem_x509_certificates(chain)
            load_pem_private_key(key, password=None)
        except ValueError as exc:
            raise AdminError(400, f"not a PEM certificate chain and unencrypted key: {exc}") from None
        # Tried from private temporary files first; kept only when the Front End takes them.
        with tempfile.TemporaryDirectory(dir=state_dir) as trial:
            trial_config = dataclasses.replace(
                server.config,
                certificate_chain=write_public_file(Path(trial) / "chain.pem", chain),
                private_key=write_private_file(Path(trial) / "key.pem", key),
            )
            apply(trial_config)
            kept = dataclasses.replace(
                trial_config,
                certificate_chain=write_public_file(state_dir / "certificate-chain.pem", chain),
                private_key=write_private_file(state_dir / "private-key.pem", key),
            )
            apply(kept)
        return certificate()

    def trusted_cas() -> str:
        return server.config.trusted_cas.read_text()

    async def set_trusted_cas(value: Any) -> str:
        if not isinstance(value, str):
            raise AdminError(400, "trusted-cas is a PEM bundle (a JSON string)")
        try:
            if not x509.load_pem_x509_certificates(value.encode()):
                raise ValueError("no certificate in it")
        except ValueError as exc:
            raise AdminError(400, f"not a PEM bundle of certificates: {exc}") from None
        with tempfile.TemporaryDirectory(dir=state_dir) as trial:
            apply(dataclasses.replace(server.config, trusted_cas=write_public_file(Path(trial) / "cas.pem", value.encode())))
            apply(dataclasses.replace(server.config, trusted_cas=write_public_file(state_dir / "trusted-roots.pem", value.encode())))
        return trusted_cas()

    async def push(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise AdminError(400, 'push takes {"host", "port", "server_name"}')
        host, port, server_name = value.get("host"), value.get("port"), value.get("server_name")
        if not isinstance(host, str) or not isinstance(server_name, str) or not isinstance(port, int) or not 0 < port < 65536:
            raise AdminError(400, "push needs host (string), port (1..65535) and server_name (the connector's FQDN)")
        result = await server.push_to_connector(host, port, server_name=server_name)
        return {**dataclasses.asdict(result), "ok": result.ok}

    async def reset() -> None:
        apply(initial)

    return AdminService(
        name="frontend",
        evidence=server.events,
        health=lambda: {"fqdn": server.config.fqdn, "port": server.port},
        settings={
            "known-peers": Setting(known_peers, set_known_peers),
            "certificate": Setting(certificate, set_certificate),
            "trusted-cas": Setting(trusted_cas, set_trusted_cas),
        },
        actions={"push": push},
        reset=reset,
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SSL.Error) and exc.args and isinstance(exc.args[0], list):
        return "; ".join(str(part[-1]) for part in exc.args[0]) or "OpenSSL error"
    return str(exc) or type(exc).__name__
