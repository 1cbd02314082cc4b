"""A lab that runs elsewhere, met through its ``lab.json``: ``ucclab replay --attach DIR``.

The lab may be an in-process ``ucclab up`` of another terminal, containers
(``ucclab up --containers``, ``docker-compose``) or a lab on a LAN: whatever wrote
``DIR/lab.json`` also wrote the admin API of each stand-in into it (``admin``), where its
services are for this machine (``endpoints``) and for its own hosts (``network``). The
page's files and the Windows hosts' certificate stores stay in ``DIR`` (the workdir is
shared with the hosts), so a replay attached to the lab writes where the lab reads.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from .admin import AdminUnavailable, http_client
from .lab import LabBase, LabError, Topology, WorkdirLock
from .labservices import Endpoints

__all__ = ["AttachedLab", "read_lab_json"]


def read_lab_json(workdir: Path) -> dict[str, Any]:
    """``workdir/lab.json``, or a :class:`LabError` saying why it cannot serve."""
    path = Path(workdir) / "lab.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabError(f"no lab runs in {workdir} (no lab.json): start one with `ucclab up --workdir {workdir}` "
                       "(or --containers)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LabError(f"{path}: unreadable ({exc})") from None
    wanted = ("network", "admin", "topology") if doc.get("deployment") == "containers" else ("endpoints", "network", "admin", "topology")
    missing = [key for key in wanted if not isinstance(doc.get(key), dict)]
    if missing:
        raise LabError(f"{path} has no {', '.join(missing)}: it was written by a lab that cannot be attached to; restart it")
    return doc


class AttachedLab(LabBase):
    """A running lab, reached through ``lab.json``: use as ``async with AttachedLab(dir) as lab``."""

    def __init__(self, workdir: Path | str, *, ready_timeout: float = 30.0, prepare: bool = False) -> None:
        super().__init__(workdir, Topology())
        self.ready_timeout = ready_timeout
        # For a replay: the page's prerequisite, the UC Connector's Application object, is
        # created if the lab has none (a compose lab's Configuration Server starts empty).
        # Other commands meet the lab as it is and change nothing of it.
        self.prepare = prepare

    async def start(self) -> "AttachedLab":
        doc = read_lab_json(self.workdir)
        try:
            self.topology = Topology.from_json(doc["topology"])
            self.network = Endpoints.from_json(doc["network"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LabError(f"{self.lab_json_path}: not a lab.json this lab can read ({exc})") from None
        if not (self.state_dir / "secrets.json").is_file():
            raise LabError(f"{self.workdir} has a lab.json but no state/secrets.json: not a lab's workdir")
        self._open_files()
        token = doc["admin"].get("token", "")
        if doc.get("deployment") == "containers":
            # Published ports are the engine's to choose (and compose's): read them from
            # the running containers, found by their labels.
            from .containerlab import container_endpoints
            from .containers import lab_containers

            running = lab_containers(self.workdir)
            self.endpoints, urls = container_endpoints(self, running)
            self.host_in_lab = next(iter(running.values())).gateway()
        else:
            if not WorkdirLock(self.workdir / "lab.lock").held():
                raise LabError(f"no lab runs in {self.workdir} any more (its lab.json is from a lab that stopped): "
                               f"start it with `ucclab up --workdir {self.workdir}`")
            try:
                self.endpoints = Endpoints.from_json({**doc["endpoints"], "ucc": self.network.ucc})
            except (KeyError, TypeError, ValueError) as exc:
                raise LabError(f"{self.lab_json_path}: unreadable endpoints ({exc})") from None
            urls = doc["admin"].get("services", {})
        self.admin = {name: http_client(name, url, token) for name, url in urls.items()}
        services = {"ca", "kdc", "configserver", "frontend", "connector"}
        if not services <= set(self.admin):
            raise LabError(f"{self.lab_json_path}: the admin API of {', '.join(sorted(services - set(self.admin)))} is not listed")
        await self._wait_until_serving()
        if self.prepare:
            await self.ensure_application()
        await self._open_services()
        return self

    async def _wait_until_serving(self) -> None:
        """Every stand-in's admin API answers, polled up to :attr:`ready_timeout` seconds
        (a lab just started, ``docker-compose up -d`` say, may still be opening its ports)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout
        for client in self.admin.values():
            while True:
                try:
                    await client.health()
                    break
                except AdminUnavailable as exc:
                    if loop.time() >= deadline:
                        raise LabError(f"the lab in {self.workdir} does not answer: {exc}") from None
                    await asyncio.sleep(0.2)

    async def close(self) -> None:
        """Nothing to stop: the lab runs on."""

    async def __aenter__(self) -> "AttachedLab":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
