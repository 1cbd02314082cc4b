"""The lab's containers: one per host of the topology, on a network of the lab's own.

A small runtime over the Docker SDK for ``ucclab up --containers``, ``replay --attach`` and
``ucclab down``. In a minute::

    specs = [ContainerSpec(host="labdc01", fqdn="labdc01.companya.com", image=kdc_image,
                           command=["python3", "-m", "fakes.kdc", "--host", "0.0.0.0", "--port", "88", ...],
                           ports=[(88, "tcp"), (88, "udp")], ready=TcpReady(88)),
             ContainerSpec(host="fe01", fqdn="fe01.companya.com", ...)]
    lab = start_lab_containers(workdir, specs, timeout=60)   # returns once every host is ready
    lab["labdc01"].ip                       # its address on the lab network (what peers see)
    lab["labdc01"].host_port(88, "udp")     # published on 127.0.0.1; equal to the TCP one
    lab["fe01"].logs(), lab["ucc01"].exec(["python3", "-m", ...])
    lab_containers(workdir)                 # the same, found again from another process
    down(workdir)                           # every container, network and volume of that lab

Rules:

1. *One workdir, one lab.* The network is ``ucclab-<12 hex of sha256(absolute workdir)>``
   and each container ``<network>-<host>``. Every container and network carries the labels
   ``ucclab.workdir=<absolute workdir>`` and ``ucclab.host=<host>`` (containers also
   ``ucclab.fqdn``). :func:`down` and :func:`lab_containers` find a lab by these labels
   alone: no state file, and nothing of another lab is touched.
2. *Page names.* On the lab network each container answers to its FQDN and its extra
   aliases (Docker's embedded DNS); its hostname is the FQDN's first label, its domain
   name the rest, as on the Windows hosts the page names.
3. *Ports on the host's loopback.* Ports are published on ``publish_address``
   (127.0.0.1 unless the caller asks). A port published for TCP alone gets a host port
   the engine picks. A port published for both TCP and UDP gets **one host port number
   for both**, chosen here: Docker gives the two protocols different random ports, while
   ``lab.json`` names the KDC by one ``host:port`` and MIT's ``kdc = host:port`` is used
   for UDP and TCP alike. If that number is taken before the engine binds it, the
   container is made again with another (up to :data:`_PUBLISH_ATTEMPTS` times).
4. *Readiness is polled, never slept.* A host is ready when its container runs and its
   check passes: :class:`TcpReady` (a connection through the published port that stays
   open — Docker's port proxy accepts every connection and drops it at once while nothing
   listens inside), :class:`HttpReady` (an HTTP answer with the expected status) or
   :class:`LogReady` (a line of the container's output matches). A container that exits,
   or is not ready before the timeout, raises :class:`ContainerFailed` naming the host
   with its last log lines; the lab's containers and network are then removed (unless
   ``keep_on_failure``) so a failed start leaves nothing behind.
5. *Files and users.* :class:`Mount` binds a host path; containers run as the calling
   user's uid:gid unless the spec says otherwise, so what a stand-in writes into the lab
   folder belongs to whoever started the lab (Docker still lets them bind ports below 1024).
6. *No engine* raises :class:`EngineUnavailable` naming the address tried.

A lab that ``docker compose`` started from ``compose/compose.yaml`` with ``UCCLAB_WORKDIR``
set carries the same labels: :func:`lab_containers`, :func:`wait_ready` and :func:`down`
serve it too.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

__all__ = [
    "ContainerError",
    "EngineUnavailable",
    "ContainerFailed",
    "Mount",
    "TcpReady",
    "HttpReady",
    "LogReady",
    "ContainerSpec",
    "RunningContainer",
    "Removed",
    "connect",
    "lab_name",
    "start_lab_containers",
    "wait_ready",
    "free_tcp_udp_port",
    "lab_containers",
    "down",
]

LABEL_WORKDIR = "ucclab.workdir"
LABEL_HOST = "ucclab.host"
LABEL_FQDN = "ucclab.fqdn"
_PUBLISH_ATTEMPTS = 5
_POLL_INTERVAL = 0.1  # seconds between two rounds of readiness checks
_HELD_OPEN = 0.3  # seconds a TCP connection must stay open to count as accepted inside
_LOG_LINES = 20  # log lines an error message carries


class ContainerError(RuntimeError):
    """The container path of the lab failed."""


class EngineUnavailable(ContainerError):
    """No Docker engine answers."""


class ContainerFailed(ContainerError):
    """A host's container exited or never became ready; ``logs`` holds its last lines."""

    def __init__(self, host: str, reason: str, logs: str) -> None:
        self.host, self.reason, self.logs = host, reason, logs
        shown = "\n".join(f"    {line}" for line in logs.splitlines()) or "    (no output)"
        super().__init__(f"container of host {host} {reason}; its last log lines:\n{shown}")


@dataclass(frozen=True)
class Mount:
    """A host folder or file seen inside the container at ``target``."""

    source: Path
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class TcpReady:
    """Ready when a TCP connection to the published ``port`` is accepted inside the container.

    The service sees that connection (opened, then closed without a byte): a stand-in
    that logs every connection as evidence is better checked with :class:`HttpReady` on
    its admin API or :class:`LogReady`.
    """

    port: int


@dataclass(frozen=True)
class HttpReady:
    """Ready when ``GET path`` on the published ``port`` answers ``status``.

    With ``https`` the server's certificate is not checked: this only asks whether the
    service answers (the lab's trust is tested elsewhere).
    """

    port: int
    path: str = "/"
    status: int = 200
    https: bool = False


@dataclass(frozen=True)
class LogReady:
    """Ready when a line of the container's output matches ``pattern`` (a regular expression)."""

    pattern: str


@dataclass(frozen=True)
class ContainerSpec:
    """One host of the lab: what runs in its container and how it is reached.

    ``ports`` are the container's ports to publish, as ``(port, "tcp"|"udp")``. ``user``
    is ``UID:GID`` inside the container; ``None`` runs as the calling user, so files the
    stand-ins write into mounted folders belong to whoever started the lab.
    """

    host: str
    fqdn: str
    image: str
    command: Sequence[str]
    ports: Sequence[tuple[int, str]] = ()
    mounts: Sequence[Mount] = ()
    env: dict[str, str] = field(default_factory=dict)
    aliases: Sequence[str] = ()
    ready: TcpReady | HttpReady | LogReady | None = None
    user: str | None = None


@dataclass(frozen=True)
class RunningContainer:
    """A host's container as started: its address on the lab network and its published ports."""

    host: str
    fqdn: str
    name: str
    id: str
    network: str
    ip: str  #: the address peers on the lab network see
    ports: dict[str, int]  #: ``"88/udp"`` -> host port on :attr:`publish_address`
    publish_address: str
    client: Any = field(repr=False, compare=False)

    def host_port(self, port: int, protocol: str = "tcp") -> int:
        """The host port that ``port/protocol`` of the container is published on."""
        try:
            return self.ports[f"{port}/{protocol}"]
        except KeyError:
            raise ContainerError(f"{self.host}: port {port}/{protocol} is not published") from None

    def status(self) -> str:
        """The engine's word for the container: ``running``, ``exited``, ... or ``removed``."""
        try:
            return str(self.client.containers.get(self.id).status)
        except docker.errors.NotFound:
            return "removed"

    def check_running(self) -> None:
        """Raise :class:`ContainerFailed` (with the last log lines) unless the container runs."""
        status = self.status()
        if status != "running":
            raise ContainerFailed(self.host, f"is {status}{_exit_code(self.client, self.id)}", self.logs())

    def logs(self, lines: int = _LOG_LINES) -> str:
        """The last ``lines`` of the container's output (stdout and stderr)."""
        return _logs(self.client, self.id, lines)

    def gateway(self) -> str | None:
        """This machine's address on the container's network (its bridge's gateway): where a
        listener of this machine is reached from the lab's hosts. None when the engine gives none."""
        try:
            configs = self.client.networks.get(self.network).attrs.get("IPAM", {}).get("Config") or []
        except docker.errors.NotFound:
            return None
        return next((c["Gateway"] for c in configs if c.get("Gateway")), None)

    def exec(self, argv: Sequence[str], *, env: dict[str, str] | None = None) -> tuple[int, str]:
        """Run ``argv`` inside the container; its exit status and output (stdout and stderr)."""
        result = self.client.containers.get(self.id).exec_run(list(argv), environment=env)
        return int(result.exit_code), result.output.decode(errors="replace")


@dataclass(frozen=True)
class Removed:
    """What :func:`down` removed, by name."""

    containers: list[str]
    networks: list[str]
    volumes: list[str]

    def summary(self) -> str:
        """One line for people."""
        if not (self.containers or self.networks or self.volumes):
            return "nothing of this lab was running"
        parts = [f"{len(v)} {k}: {', '.join(v)}" for k, v in
                 (("containers", self.containers), ("networks", self.networks), ("volumes", self.volumes)) if v]
        return "removed " + "; ".join(parts)


def connect() -> Any:
    """A Docker SDK client whose engine answers, or :class:`EngineUnavailable`.

    The engine is the one ``DOCKER_HOST`` names, else the local socket.
    """
    address = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        raise EngineUnavailable(f"cannot reach the Docker engine at {address}: start dockerd "
                                f"(Debian: apt-get install docker.io; .ci/run does both) — {_reason(exc)}") from None
    return client


def lab_name(workdir: Path | str) -> str:
    """The lab's network name, also the prefix of its containers' names (rule 1)."""
    return "ucclab-" + hashlib.sha256(str(Path(workdir).resolve()).encode()).hexdigest()[:12]


def start_lab_containers(workdir: Path | str, specs: Iterable[ContainerSpec], *, timeout: float = 60.0,
                         publish_address: str = "127.0.0.1", keep_on_failure: bool = False,
                         client: Any = None) -> dict[str, RunningContainer]:
    """Start one container per spec on a new lab network and wait until each is ready.

    Returns the running containers by host. Raises :class:`ContainerError` when the
    workdir already has a lab (``down`` it first) or a spec is unusable,
    :class:`ContainerFailed` when a host exits or is not ready within ``timeout`` seconds.
    """
    specs = list(specs)
    _check_specs(specs)
    client = client or connect()
    workdir = Path(workdir).resolve()
    existing = _labelled(client, workdir)
    if any(existing.values()):
        names = ", ".join(n for kind in existing.values() for n in kind)
        raise ContainerError(f"a lab already runs for {workdir} ({names}): ucclab down --workdir {workdir} first")
    network = lab_name(workdir)
    labels = {LABEL_WORKDIR: str(workdir)}
    try:
        try:
            client.networks.create(network, driver="bridge", labels=labels, check_duplicate=True)
        except docker.errors.APIError as exc:
            raise ContainerError(f"cannot create the lab network {network}: {_reason(exc)}") from None
        running = {spec.host: _start(client, workdir, network, spec, publish_address) for spec in specs}
        wait_ready(running, {s.host: s.ready for s in specs}, timeout)
    except BaseException:
        if not keep_on_failure:
            down(workdir, client=client)
        raise
    return running


def lab_containers(workdir: Path | str, client: Any = None) -> dict[str, RunningContainer]:
    """The containers of the lab running for ``workdir``, by host (empty when none runs)."""
    client = client or connect()
    workdir = Path(workdir).resolve()
    found = client.containers.list(all=True, filters={"label": f"{LABEL_WORKDIR}={workdir}"})
    return {c.labels[LABEL_HOST]: _running(client, c, lab_name(workdir)) for c in found}


def down(workdir: Path | str, client: Any = None) -> Removed:
    """Remove every container, network and volume labelled with ``workdir`` (rule 1).

    Nothing running is not an error: the result is then empty.
    """
    client = client or connect()
    workdir = Path(workdir).resolve()
    label = {"label": f"{LABEL_WORKDIR}={workdir}"}
    removed = Removed([], [], [])
    for container in client.containers.list(all=True, filters=label):
        _ignore_gone(container.remove, force=True, v=True)
        removed.containers.append(container.name)
    for network in client.networks.list(filters=label):
        _ignore_gone(network.remove)
        removed.networks.append(network.name)
    for volume in client.volumes.list(filters=label):
        _ignore_gone(volume.remove, force=True)
        removed.volumes.append(volume.name)
    return removed


# -- starting ---------------------------------------------------------------------------

def _check_specs(specs: list[ContainerSpec]) -> None:
    hosts = [s.host for s in specs]
    if len(set(hosts)) != len(hosts):
        raise ContainerError(f"two specs for one host: {', '.join(sorted(h for h in set(hosts) if hosts.count(h) > 1))}")
    for spec in specs:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", spec.host):
            raise ContainerError(f"host name {spec.host!r}: lower-case letters, digits and '-' only")
        for port, protocol in spec.ports:
            if protocol not in ("tcp", "udp") or not 0 < port < 65536:
                raise ContainerError(f"{spec.host}: cannot publish {port}/{protocol}")
        ready = spec.ready
        if isinstance(ready, (TcpReady, HttpReady)) and (ready.port, "tcp") not in spec.ports:
            raise ContainerError(f"{spec.host}: its ready check uses port {ready.port}/tcp, which is not published")


def _start(client: Any, workdir: Path, network: str, spec: ContainerSpec, address: str) -> RunningContainer:
    name = f"{network}-{spec.host}"
    short, _, domain = spec.fqdn.partition(".")
    both = {p for p, proto in spec.ports if proto == "tcp"} & {p for p, proto in spec.ports if proto == "udp"}
    for attempt in range(_PUBLISH_ATTEMPTS):
        shared = {port: free_tcp_udp_port(address) for port in sorted(both)}
        ports = {f"{p}/{proto}": (address, shared.get(p)) for p, proto in spec.ports}
        try:
            container = client.containers.create(
                spec.image,
                list(spec.command),
                name=name,
                hostname=short,
                domainname=domain,
                labels={LABEL_WORKDIR: str(workdir), LABEL_HOST: spec.host, LABEL_FQDN: spec.fqdn},
                environment=dict(spec.env),
                user=spec.user or f"{os.getuid()}:{os.getgid()}",
                ports=ports,
                volumes={str(m.source.resolve()): {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
                         for m in spec.mounts},
                network=network,
                networking_config={network: client.api.create_endpoint_config(aliases=[spec.fqdn, *spec.aliases])},
                detach=True,
            )
        except docker.errors.ImageNotFound:
            raise ContainerError(f"image {spec.image!r} of host {spec.host} is not in the engine: "
                                 "ucclab image build makes the lab's images") from None
        except docker.errors.APIError as exc:
            raise ContainerError(f"cannot create the container of host {spec.host}: {_reason(exc)}") from None
        try:
            container.start()
        except docker.errors.APIError as exc:
            container.remove(force=True)
            in_use = "already allocated" in str(exc) or "address already in use" in str(exc)
            if in_use and both and attempt + 1 < _PUBLISH_ATTEMPTS:
                continue  # the shared port number was taken meanwhile: another one
            raise ContainerError(f"cannot start the container of host {spec.host}: {_reason(exc)}") from None
        container.reload()
        return _running(client, container, network)
    raise AssertionError("unreachable: the last attempt returns or raises")


def free_tcp_udp_port(address: str = "127.0.0.1") -> int:
    """A port number free on ``address`` for TCP and UDP both (rule 3; compose's KDC port too)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((address, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((address, port))
                except OSError:
                    continue
                return int(port)


def _running(client: Any, container: Any, network: str) -> RunningContainer:
    settings = container.attrs["NetworkSettings"]
    networks = settings.get("Networks") or {}
    if network not in networks and len(networks) == 1:
        network = next(iter(networks))  # a lab that compose made: its network has compose's name
    ports: dict[str, int] = {}
    address = ""
    for key, bindings in (settings.get("Ports") or {}).items():
        if bindings:
            ports[key] = int(bindings[0]["HostPort"])
            address = bindings[0]["HostIp"]
    return RunningContainer(
        host=container.labels[LABEL_HOST],
        fqdn=container.labels.get(LABEL_FQDN, ""),
        name=container.name,
        id=container.id,
        network=network,
        ip=(networks.get(network) or {}).get("IPAddress", ""),
        ports=ports,
        publish_address=address or "127.0.0.1",
        client=client,
    )


# -- readiness --------------------------------------------------------------------------

def wait_ready(running: dict[str, RunningContainer],
               checks: dict[str, TcpReady | HttpReady | LogReady | None], timeout: float) -> None:
    """Poll until each host's check passes (rule 4); :class:`ContainerFailed` when one exits or times out.

    ``checks`` maps hosts of ``running`` to their check (``None``: running is enough).
    :func:`start_lab_containers` calls it; it also serves labs started by someone else
    (``docker compose up``), found with :func:`lab_containers`.
    """
    deadline = time.monotonic() + timeout
    waiting = set(running)
    while waiting:
        for host in sorted(waiting):
            container = running[host]
            container.check_running()
            if _is_ready(container, checks[host]):
                waiting.discard(host)
        if not waiting:
            return
        if time.monotonic() > deadline:
            host = min(waiting)
            raise ContainerFailed(host, f"was not ready after {timeout:g} s ({_describe(checks[host])})",
                                  running[host].logs())
        time.sleep(_POLL_INTERVAL)


def _is_ready(container: RunningContainer, check: TcpReady | HttpReady | LogReady | None) -> bool:
    if check is None:
        return True
    if isinstance(check, LogReady):
        return re.search(check.pattern, container.logs(lines=1000), re.M) is not None
    port = container.host_port(check.port, "tcp")
    if isinstance(check, TcpReady):
        return _held_open(container.publish_address, port)
    return _http_status(container.publish_address, port, check) == check.status


def _held_open(address: str, port: int) -> bool:
    """Whether a connection to ``address:port`` is accepted and not dropped at once (rule 4)."""
    try:
        with socket.create_connection((address, port), timeout=1.0) as sock:
            sock.settimeout(_HELD_OPEN)
            try:
                return sock.recv(1) != b""  # the service spoke first: it is there
            except TimeoutError:
                return True  # still open: something inside accepted it
    except OSError:
        return False


def _http_status(address: str, port: int, check: HttpReady) -> int | None:
    if check.https:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # readiness only (see HttpReady)
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(address, port, timeout=2.0, context=context)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=2.0)
    try:
        conn.request("GET", check.path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _describe(check: TcpReady | HttpReady | LogReady | None) -> str:
    if isinstance(check, TcpReady):
        return f"nothing accepted TCP port {check.port}"
    if isinstance(check, HttpReady):
        return f"GET {check.path} on port {check.port} did not answer {check.status}"
    if isinstance(check, LogReady):
        return f"no log line matched {check.pattern!r}"
    return "no check"


# -- small engine helpers ---------------------------------------------------------------

def _labelled(client: Any, workdir: Path) -> dict[str, list[str]]:
    label = {"label": f"{LABEL_WORKDIR}={workdir}"}
    return {"containers": [c.name for c in client.containers.list(all=True, filters=label)],
            "networks": [n.name for n in client.networks.list(filters=label)]}


def _logs(client: Any, container_id: str, lines: int) -> str:
    try:
        return client.containers.get(container_id).logs(tail=lines).decode(errors="replace").rstrip()
    except docker.errors.NotFound:
        return "(the container is gone)"


def _exit_code(client: Any, container_id: str) -> str:
    try:
        state = client.containers.get(container_id).attrs["State"]
    except docker.errors.NotFound:
        return ""
    return f" (exit status {state['ExitCode']})" if state.get("Status") == "exited" else ""


def _ignore_gone(remove: Any, **kwargs: Any) -> None:
    try:
        remove(**kwargs)
    except docker.errors.NotFound:
        pass  # removed meanwhile (a parallel down, or auto-removed)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc)
