"""The Front End's admin API (:mod:`fakes._admin`): what an administrator changes on fe01.

Settings:

* ``known-peers`` — the FQDNs of the topology's trusted application pools and computers
  (a JSON list). Writing it gives the topology one single-computer pool per FQDN (what the
  Front End was started with); only a client certificate whose subject names one of them
  gets SIP service.
* ``trusted-application-pools`` — the topology itself, as ``Get-CsTrustedApplicationPool``
  lists it: ``[{"identity", "registrar", "computers", "applications": [{"application_id",
  "port", "enable_tcp"}], "treat_as_authenticated", "throttle_as_server",
  "requires_replication"}]``; writing a list replaces the topology (each pool checked as the
  cmdlets below check it).
* ``certificate`` — the certificate the pool presents: ``{"chain": PEM, "key": PEM}``
  (leaf first, then intermediates). Reading gives the chain's subjects and PEM, never the key.
* ``trusted-cas`` — the PEM bundle of the CAs whose client certificates are accepted.
* ``profile`` — the product and Windows Server the Front End is (``"lync2013"``,
  ``"sfb2015"``, ``"sfb2015-hardened"``, ``"sfb2019"``); reading gives its TLS versions,
  cipher suites and sources.
* ``revocation`` — ``{"check": bool, "cdp_hosts": {name: "address:port"}, "timeout": s}``:
  whether client certificates are checked against their CA's CRL, where CDP hosts are
  reached, how long a fetch may take (a partial object changes only what it names).
* ``sip-users`` — the SIP-enabled users' addresses (a JSON list), or null for "every
  address is served"; others are answered 404 with ms-diagnostics 4005.

Actions (the Management Shell's cmdlets; each changes the topology as
``Enable-CsTopology`` would publish it, and answers the topology now in force):

* ``new-cs-trusted-application-pool`` — ``{"identity", "registrar"?, "computer_fqdn"?,
  "treat_as_authenticated"?, "throttle_as_server"?, "requires_replication"?}``;
* ``new-cs-trusted-application-computer`` — ``{"identity", "pool"}``;
* ``new-cs-trusted-application`` — ``{"application_id", "trusted_application_pool_fqdn",
  "port", "enable_tcp"?}``;
* ``remove-cs-trusted-application-pool`` — ``{"identity"}``;
* ``clear-crl-cache`` — forget the CRLs fetched so far (``certutil -urlcache * delete``):
  the next check fetches them again;
* ``push`` — ``{"host", "port", "server_name"}``: connect to a connector's Secured SIP
  port as the Front End and send OPTIONS and NOTIFY (the MTLS direction Front End →
  connector); the result is what the Front End saw.

A refused change is a 400 (malformed) or 409 (the cmdlet or the Front End refuses it, in
its words). ``reset`` puts back the configuration the Front End was started with.
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
from ._profiles import PROFILES
from ._topology import Topology, TopologyError
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
        return server.config.trusted_topology.known_fqdns

    async def set_known_peers(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise AdminError(400, "known-peers is a JSON list of FQDNs")
        apply(dataclasses.replace(server.config, known_peers=tuple(v.strip().lower() for v in value), topology=None))
        return known_peers()

    def pools() -> list[dict[str, Any]]:
        return server.config.trusted_topology.describe()

    def change_topology(change: Any) -> list[dict[str, Any]]:
        """Apply ``change(topology) -> topology``; a cmdlet's refusal is a 409 in its words."""
        try:
            topology = change(server.config.trusted_topology)
        except TopologyError as exc:
            raise AdminError(409, str(exc)) from None
        except (KeyError, TypeError) as exc:
            raise AdminError(400, f"missing or wrong argument: {exc}") from None
        apply(dataclasses.replace(server.config, topology=topology))
        return pools()

    async def set_pools(value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
            raise AdminError(400, "trusted-application-pools is a JSON list of pools")

        def build(current: Topology) -> Topology:
            topology = Topology(current.registrar, san_match=current.san_match)
            for pool in value:
                computers = pool.get("computers") or [pool["identity"]]
                if not isinstance(computers, list):
                    raise TypeError("computers is a list of FQDNs")
                first = computers[0] if computers[0] != pool["identity"] else None
                topology = topology.new_pool(
                    pool["identity"], registrar=pool.get("registrar"), computer_fqdn=first,
                    treat_as_authenticated=bool(pool.get("treat_as_authenticated", True)),
                    throttle_as_server=bool(pool.get("throttle_as_server", True)),
                    requires_replication=bool(pool.get("requires_replication", True)))
                for computer in computers[1:]:
                    topology = topology.new_computer(computer, pool["identity"])
                for application in pool.get("applications") or []:
                    topology = topology.new_application(application["application_id"], pool["identity"],
                                                        application["port"], enable_tcp=bool(application.get("enable_tcp")))
            return topology

        return change_topology(build)

    def arguments(value: Any, action: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise AdminError(400, f"{action} takes a JSON object of its parameters")
        return value

    async def new_pool(value: Any) -> list[dict[str, Any]]:
        args = arguments(value, "new-cs-trusted-application-pool")
        return change_topology(lambda t: t.new_pool(
            args["identity"], registrar=args.get("registrar"), computer_fqdn=args.get("computer_fqdn"),
            treat_as_authenticated=bool(args.get("treat_as_authenticated", True)),
            throttle_as_server=bool(args.get("throttle_as_server", True)),
            requires_replication=bool(args.get("requires_replication", True))))

    async def new_computer(value: Any) -> list[dict[str, Any]]:
        args = arguments(value, "new-cs-trusted-application-computer")
        return change_topology(lambda t: t.new_computer(args["identity"], args["pool"]))

    async def new_application(value: Any) -> list[dict[str, Any]]:
        args = arguments(value, "new-cs-trusted-application")
        return change_topology(lambda t: t.new_application(
            args["application_id"], args["trusted_application_pool_fqdn"], args["port"],
            enable_tcp=bool(args.get("enable_tcp"))))

    async def remove_pool(value: Any) -> list[dict[str, Any]]:
        args = arguments(value, "remove-cs-trusted-application-pool")
        return change_topology(lambda t: t.remove_pool(args["identity"]))

    def profile() -> dict[str, Any]:
        return server.config.tls_profile.describe()

    async def set_profile(value: Any) -> dict[str, Any]:
        if value not in PROFILES:
            raise AdminError(400, f"profile is one of {', '.join(PROFILES)}")
        apply(dataclasses.replace(server.config, profile=value))
        return profile()

    def revocation() -> dict[str, Any]:
        config = server.config
        return {"check": config.check_revocation, "cdp_hosts": dict(config.cdp_hosts), "timeout": config.cdp_timeout}

    async def set_revocation(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or set(value) - {"check", "cdp_hosts", "timeout"}:
            raise AdminError(400, 'revocation is {"check": bool, "cdp_hosts": {name: "address:port"}, "timeout": seconds}')
        changes: dict[str, Any] = {}
        if "check" in value:
            if not isinstance(value["check"], bool):
                raise AdminError(400, "revocation.check is true or false")
            changes["check_revocation"] = value["check"]
        if "cdp_hosts" in value:
            hosts = value["cdp_hosts"]
            if not isinstance(hosts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in hosts.items()):
                raise AdminError(400, 'revocation.cdp_hosts is {"host name": "address:port"}')
            changes["cdp_hosts"] = hosts
        if "timeout" in value:
            timeout = value["timeout"]
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise AdminError(400, "revocation.timeout is a number of seconds")
            changes["cdp_timeout"] = float(timeout)
        try:
            config = dataclasses.replace(server.config, **changes)
        except ValueError as exc:
            raise AdminError(400, str(exc)) from None
        apply(config)
        return revocation()

    def sip_users() -> list[str] | None:
        users = server.config.sip_users
        return None if users is None else list(users)

    async def set_sip_users(value: Any) -> list[str] | None:
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value)):
            raise AdminError(400, "sip-users is a JSON list of SIP addresses (sip:user@domain), or null")
        apply(dataclasses.replace(server.config, sip_users=None if value is None else tuple(v.strip() for v in value)))
        return sip_users()

    async def clear_crl_cache(_value: Any) -> dict[str, Any]:
        server.crls.forget()
        return {"cleared": True}

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
        health=lambda: {"fqdn": server.config.fqdn, "port": server.port, "profile": server.config.profile},
        settings={
            "known-peers": Setting(known_peers, set_known_peers),
            "trusted-application-pools": Setting(pools, set_pools),
            "certificate": Setting(certificate, set_certificate),
            "trusted-cas": Setting(trusted_cas, set_trusted_cas),
            "profile": Setting(profile, set_profile),
            "revocation": Setting(revocation, set_revocation),
            "sip-users": Setting(sip_users, set_sip_users),
        },
        actions={
            "new-cs-trusted-application-pool": new_pool,
            "new-cs-trusted-application-computer": new_computer,
            "new-cs-trusted-application": new_application,
            "remove-cs-trusted-application-pool": remove_pool,
            "clear-crl-cache": clear_crl_cache,
            "push": push,
        },
        reset=reset,
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SSL.Error) and exc.args and isinstance(exc.args[0], list):
        return "; ".join(str(part[-1]) for part in exc.args[0]) or "OpenSSL error"
    return str(exc) or type(exc).__name__
