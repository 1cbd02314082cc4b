"""One host of the lab: the stand-ins it runs and their admin API, from one config file.

``python -m fakes.host CONFIG.json [--root DIR]`` starts what a host of the page's
topology runs — ``labdc01`` the CA with certsrv and the KDC (as a domain controller does),
``fe01`` the Front End, the Genesys host the Configuration Server — plus one admin API for
all of them, and serves until SIGINT or SIGTERM. The lab's harness writes these files
when it prepares a lab (``WORKDIR/hosts/<host>.json``, mode 0600: they hold the lab's
passwords and the admin token) and starts the same hosts in its own process, in
containers, or on a LAN from them: one way to start a stand-in, whatever the deployment.

The config (paths are relative to ``--root``, the lab's workdir, unless absolute)::

    {"host": "labdc01.companya.com", "bind": "127.0.0.1",
     "admin": {"port": 0, "token": "..."},
     "services": {
       "ca":           {"state_dir": "state/ca", "port": 0, "accounts": {"labadmin": "..."}},
       "kdc":          {"realm": "COMPANYA.COM", "port": 0, "accounts_file": "state/ad.json"},
       "frontend":     {"fqdn": "fe01.companya.com", "port": 0, "state_dir": "state/frontend",
                        "known_peers": ["ucc01.companya.com"], "kerberos": true,
                        "keylog": "logs/sslkeylog.txt", "profile": "sfb2015",
                        "cdp_hosts": {"labdc01.companya.com": "127.0.0.1:8080"}},
       "configserver": {"db": "state/configserver.sqlite", "port": 0, "users": {"...": "..."}}}}

Each service keeps its evidence in ``logs/<service>-events.jsonl``. Once serving, the
runner prints one JSON line on stdout: the host, the admin URL and each service's port.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._admin import AdminServer, AdminService

__all__ = ["HostConfigError", "RunningHost", "Starter", "start_host", "load_host_config", "serve_host", "main", "SERVICES"]

#: The stand-ins a host can run, in the order they start.
SERVICES = ("ca", "kdc", "configserver", "frontend")


class HostConfigError(ValueError):
    """The host config is unreadable or names something that cannot be served."""


@dataclass
class RunningHost:
    """The stand-ins of one host, serving: their objects, admin services and ports."""

    name: str
    admin: AdminServer
    services: dict[str, AdminService] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)
    _closers: list[Callable[[], Any]] = field(default_factory=list)

    def on_close(self, closer: Callable[[], Any]) -> None:
        """Have :meth:`close` call ``closer`` (a function or coroutine function), newest first."""
        self._closers.append(closer)

    def describe(self) -> dict[str, Any]:
        """What the runner prints once serving (and what a harness reads back)."""
        return {"host": self.name, "admin": self.admin.url, "ports": dict(self.ports)}

    async def close(self) -> None:
        """Stop the admin API, then every stand-in, in reverse order of start."""
        await self.admin.close()
        for closer in reversed(self._closers):
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        self._closers.clear()


def load_host_config(path: Path, *, known: tuple[str, ...] = SERVICES) -> dict[str, Any]:
    """Read and check a host config file (``known``: the services a runner can start)."""
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise HostConfigError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise HostConfigError(f"{path}: not JSON ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("services"), dict) or not isinstance(config.get("host"), str):
        raise HostConfigError(f"{path}: a host config has \"host\" and \"services\"")
    unknown = set(config["services"]) - set(known)
    if unknown:
        raise HostConfigError(f"{path}: unknown services {sorted(unknown)} (known: {', '.join(known)})")
    if not isinstance(config.get("admin"), dict) or not config["admin"].get("token"):
        raise HostConfigError(f"{path}: the admin API needs a token (\"admin\": {{\"token\": ...}})")
    return config


async def start_host(config: Mapping[str, Any], *, root: Path, extra: Mapping[str, Starter] | None = None) -> RunningHost:
    """Start the services of ``config`` (paths relative to ``root``) and their admin API.

    ``extra`` adds starters for services this package does not know (the harness's UC
    Connector stand-in runs on its host this way; the stand-ins never import the harness).
    On any failure whatever was started is stopped again and the error propagates.
    """
    bind = config.get("bind", "127.0.0.1")
    admin_config = config["admin"]
    running = RunningHost(config["host"], AdminServer([], token=admin_config["token"], host_name=config["host"]))
    logs = root / "logs"
    logs.mkdir(mode=0o750, parents=True, exist_ok=True)
    try:
        starters = {**_START, **(extra or {})}
        for name in (*SERVICES, *(extra or {})):
            if name in config["services"]:
                await starters[name](running, config["services"][name], root=root, bind=bind, logs=logs)
        running.admin.services = dict(running.services)
        await running.admin.start(bind, int(admin_config.get("port", 0)))
    except BaseException:
        await running.close()
        raise
    return running


def _path(root: Path, value: Any, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise HostConfigError(f"{what} must be a path")
    path = Path(value)
    return path if path.is_absolute() else root / path


async def _start_ca(host: RunningHost, spec: Mapping[str, Any], *, root: Path, bind: str, logs: Path) -> None:
    from .ca import CertificationAuthority, CertsrvServer
    from .ca.admin import ca_admin

    ca = CertificationAuthority.open(_path(root, spec.get("state_dir"), "ca.state_dir"))
    host.on_close(ca.close)
    certsrv = CertsrvServer(ca, accounts=dict(spec.get("accounts", {})), event_log_path=logs / "ca-events.jsonl")
    await certsrv.start(bind, int(spec.get("port", 0)), crl_port=int(spec.get("crl_port", 0)))
    host.on_close(certsrv.close)
    host.objects.update(ca=ca, certsrv=certsrv)
    host.ports.update(ca=certsrv.port, crl=certsrv.crl_port)
    host.services["ca"] = ca_admin(ca, evidence=certsrv.evidence, certsrv_url=certsrv.url)


async def _start_kdc(host: RunningHost, spec: Mapping[str, Any], *, root: Path, bind: str, logs: Path) -> None:
    from .kdc import KdcServer, load_accounts_file
    from .kdc.admin import kdc_admin

    accounts_file = _path(root, spec.get("accounts_file"), "kdc.accounts_file")
    try:
        accounts = load_accounts_file(accounts_file)
    except OSError as exc:
        raise HostConfigError(f"{accounts_file}: {exc.strerror}") from None
    server = KdcServer(accounts, realm=str(spec.get("realm", "COMPANYA.COM")), event_log_path=logs / "kdc-events.jsonl")
    await server.start(bind, int(spec.get("port", 0)))
    host.on_close(server.close)
    host.objects["kdc"] = server
    host.ports["kdc"] = server.port
    host.services["kdc"] = kdc_admin(server, accounts_path=accounts_file)


async def _start_configserver(host: RunningHost, spec: Mapping[str, Any], *, root: Path, bind: str, logs: Path) -> None:
    from ._evidence import EvidenceLog
    from .configserver import ConfigServer

    server = ConfigServer(_path(root, spec.get("db"), "configserver.db"), users=dict(spec.get("users", {})))
    await server.start(bind, int(spec.get("port", 0)))
    host.on_close(server.close)
    host.objects["configserver"] = server
    host.ports["configserver"] = server.port
    evidence = EvidenceLog(now=time.time, path=logs / "configserver-events.jsonl")
    host.on_close(evidence.close)
    host.services["configserver"] = AdminService(name="configserver", evidence=evidence, health=lambda: {"url": server.url})


async def _start_frontend(host: RunningHost, spec: Mapping[str, Any], *, root: Path, bind: str, logs: Path) -> None:
    from .frontend import FrontendConfig, FrontendKerberos, FrontendServer
    from .frontend.admin import frontend_admin
    from .frontend._config import read_service_keys

    state = _path(root, spec.get("state_dir"), "frontend.state_dir")
    kerberos = None
    if spec.get("kerberos"):
        kerberos = FrontendKerberos(read_service_keys(state / "service-keys.json"))
    config = FrontendConfig(
        fqdn=str(spec["fqdn"]),
        certificate_chain=state / "certificate-chain.pem",
        private_key=state / "private-key.pem",
        trusted_cas=state / "trusted-roots.pem",
        known_peers=tuple(spec.get("known_peers", ())),
        **{key: spec[key] for key in ("profile", "check_revocation", "cdp_hosts", "match_san") if key in spec},
        keylog_path=_path(root, spec["keylog"], "frontend.keylog") if spec.get("keylog") else None,
        kerberos=kerberos,
    )
    server = FrontendServer(config, event_log_path=logs / "frontend-events.jsonl")
    await server.start(bind, int(spec.get("port", 0)))
    host.on_close(server.close)
    host.objects["frontend"] = server
    host.ports["frontend"] = server.port
    host.services["frontend"] = frontend_admin(server, state_dir=state)


#: ``starter(host, spec, root=..., bind=..., logs=...)`` starts one service of a host.
Starter = Callable[..., Awaitable[None]]

_START: dict[str, Starter] = {"ca": _start_ca, "kdc": _start_kdc, "configserver": _start_configserver, "frontend": _start_frontend}


async def _serve(config: Mapping[str, Any], root: Path, extra: Mapping[str, Starter] | None) -> None:
    running = await start_host(config, root=root, extra=extra)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(json.dumps(running.describe()), flush=True)
    try:
        await stop.wait()
    finally:
        await running.close()


def serve_host(argv: list[str] | None, *, prog: str, extra: Mapping[str, Starter] | None = None) -> int:
    """Run a host from its config file until SIGINT/SIGTERM: 0 after a clean stop, 1 when
    a port cannot be bound, 2 for an unusable config or state."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path, help="the host's config file (hosts/<host>.json in a lab's workdir)")
    parser.add_argument("--root", type=Path,
                        help="folder the config's relative paths start from (default: the config's folder's parent)")
    args = parser.parse_args(argv)
    try:
        config = load_host_config(args.config, known=(*SERVICES, *(extra or {})))
    except HostConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = (args.root or args.config.resolve().parent.parent).resolve()
    try:
        asyncio.run(_serve(config, root, extra))
    except HostConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot serve {config['host']}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a stand-in's own refusal (bad state), said in one line
        print(f"error: cannot start {config['host']}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m fakes.host CONFIG.json [--root DIR]``."""
    return serve_host(argv, prog="python -m fakes.host")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
