"""``ucclab up --containers``: the lab's hosts as containers, one per host, on a network of their own.

The workdir is prepared here exactly as for a lab in this process (:meth:`Lab.prepare`:
the CA, the domain's accounts, fe01's certificate), the hosts' configs are written for
a network where every host answers to its page name on the ports the real servers use,
and one container per host runs it (``python3 -m fakes.host hosts/<host>.json``; ucc01
runs the connector stand-in, ``python3 -m harness.connector.service``). The workdir is
mounted at ``/lab`` in every container, so the page's files a replay writes are the files
the connector host reads. ``lab.json`` then tells this machine where each service is
published on its loopback (``endpoints``, ``admin``) and how the hosts reach each other
(``network``): ``ucclab replay --attach`` and the judge need nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from .admin import http_client
from .containers import ContainerFailed, ContainerSpec, HttpReady, Mount, RunningContainer, start_lab_containers
from .images import LAB, STANDINS, build_images
from .lab import HOSTS, Deployment, HostDown, Lab, LabBase, LabError, Topology
from .labservices import Address, Endpoints

__all__ = ["CONTAINER_PORTS", "prepare_containers", "container_endpoints", "network_endpoints", "up_containers", "main"]

#: The ports inside each container: the real servers' own (certsrv's HTTPS 443, the CA's
#: CRL distribution point over HTTP 80 — the CDP URL in every certificate names no port —,
#: Kerberos 88, Lync's SIP/TLS 5061, a Configuration Server's usual 2020) and the admin API's.
CONTAINER_PORTS = {"ca": 443, "crl": 80, "kdc": 88, "frontend": 5061, "configserver": 2020, "admin": 8080}
#: Where the host's JDK security folder (its cacerts) is seen in the connector's container.
_CONTAINER_JAVA_HOME = "/opt/jdk"


def _published(role: str) -> list[tuple[int, str]]:
    ports = [(CONTAINER_PORTS["admin"], "tcp")]
    for service in HOSTS[role]:
        if service == "kdc":
            ports += [(CONTAINER_PORTS["kdc"], "tcp"), (CONTAINER_PORTS["kdc"], "udp")]
        elif service == "ca":
            ports += [(CONTAINER_PORTS["ca"], "tcp"), (CONTAINER_PORTS["crl"], "tcp")]
        elif service in CONTAINER_PORTS:
            ports.append((CONTAINER_PORTS[service], "tcp"))
    return ports


def _specs(lab: Lab, images: dict[str, str]) -> list[ContainerSpec]:
    t = lab.topology
    specs = []
    for role, services in HOSTS.items():
        name = lab.host_name(role)
        fqdn = t.fqdn(name)
        module = "harness.connector.service" if "connector" in services else "fakes.host"
        mounts = [Mount(lab.workdir, "/lab")]
        if role == "ucc" and lab.java_home is not None and (lab.java_home / "lib" / "security").is_dir():
            mounts.append(Mount(lab.java_home / "lib" / "security", f"{_CONTAINER_JAVA_HOME}/lib/security", read_only=True))
        specs.append(ContainerSpec(
            host=name, fqdn=fqdn,
            image=images[LAB] if role == "ucc" else images[STANDINS],
            command=["python3", "-m", module, f"hosts/{name}.json", "--root", "/lab"],
            ports=_published(role),
            mounts=mounts,
            aliases=[fqdn],
            ready=HttpReady(CONTAINER_PORTS["admin"], f"/admin/{services[0]}/health"),
        ))
    return specs


def _endpoints(lab: LabBase, running: dict[str, RunningContainer]) -> tuple[Endpoints, dict[str, str]]:
    """Where each service is published on this machine, and each admin API's URL."""
    t = lab.topology
    host = {role: running[lab.host_name(role)] for role in HOSTS}

    def port(role: str, service: str, protocol: str = "tcp") -> int:
        return host[role].host_port(CONTAINER_PORTS[service], protocol)

    address = host["ca"].publish_address
    endpoints = Endpoints(
        certsrv=f"https://{address}:{port('ca', 'ca')}/certsrv/",
        configserver=f"http://{address}:{port('configserver', 'configserver')}/",
        kdc=Address(address, port("ca", "kdc")),
        frontend=Address(address, port("frontend", "frontend")),
        ucc=t.ucc_fqdn,
    )
    admin = {
        service: f"http://{address}:{port(role, 'admin')}/admin/{service}/"
        for role, services in HOSTS.items() for service in services
    }
    return endpoints, admin


def network_endpoints(topology: Topology) -> Endpoints:
    """The lab as its hosts reach each other on the lab network: by their page names."""
    t = topology
    return Endpoints(
        certsrv=f"https://{t.ca_fqdn}/certsrv/",
        configserver=f"http://{t.configserver_fqdn}:{CONTAINER_PORTS['configserver']}/",
        kdc=Address(t.ca_fqdn, CONTAINER_PORTS["kdc"]),
        frontend=Address(t.frontend_fqdn, CONTAINER_PORTS["frontend"]),
        ucc=t.ucc_fqdn,
    )


def prepare_containers(workdir: Path, topology: Topology = Topology()) -> Lab:
    """Prepare ``workdir`` for a lab of one container per host: the lab's state as for a lab
    in this process, the hosts' configs for the lab network (page names, the real servers'
    ports), and a ``lab.json`` saying it is a container lab (its published ports are found
    from the running containers' labels when the lab is attached to)."""
    lab = Lab(workdir, topology, publish=False)
    lab._make_folders()
    lab.prepare()
    deployment = Deployment(
        bind="0.0.0.0",
        ports=CONTAINER_PORTS,
        configserver_url=network_endpoints(topology).configserver,
        java_home=_CONTAINER_JAVA_HOME if lab.java_home is not None else None,
        keylog=True,
    )
    lab.write_host_configs(lab.host_configs(deployment))
    lab.network = network_endpoints(topology)
    lab.write_lab_json(deployment="containers")
    return lab


def container_endpoints(lab: LabBase, running: dict[str, RunningContainer]) -> tuple[Endpoints, dict[str, str]]:
    """Where each service of a container lab is published on this machine, and each admin
    API's URL, from the running containers (found by their labels)."""
    names = [lab.host_name(role) for role in HOSTS]
    missing = [name for name in names if name not in running]
    if missing:
        raise LabError(f"the container lab of {lab.workdir} has no container for {', '.join(missing)} "
                       "(is it up? ucclab up --containers, or docker-compose with UCCLAB_WORKDIR set)")
    for name in names:
        try:
            running[name].check_running()
        except ContainerFailed as exc:
            raise HostDown(str(exc)) from None
    return _endpoints(lab, running)


async def up_containers(
    workdir: Path, topology: Topology = Topology(), *, base: str | None = None,
    progress: Callable[[str], None] = lambda line: None, timeout: float = 120.0,
) -> Lab:
    """Build or reuse the images, prepare ``workdir``, start one container per host, create
    the Application object and write ``lab.json``. Returns the prepared :class:`Lab` (its
    ``endpoints``, ``network`` and ``admin`` are the containers'); the containers keep
    running after this returns (``ucclab down`` removes them).
    """
    images = {name: built.tag for name, built in build_images(base, progress=progress).items()}
    lab = prepare_containers(workdir, topology)
    progress("starting one container per host: " + ", ".join(lab.host_name(role) for role in HOSTS))
    running = start_lab_containers(lab.workdir, _specs(lab, images), timeout=timeout)
    lab.endpoints, admin = container_endpoints(lab, running)
    assert lab.secrets is not None
    lab.admin = {service: http_client(service, url, lab.secrets.admin_token) for service, url in admin.items()}
    await lab.ensure_application()
    await lab._open_services()
    lab.write_lab_json(deployment="containers")
    return lab


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.containerlab --workdir DIR [--two-tier]``: the one-shot
    ``prepare`` step of ``compose/compose.yaml`` (exit 0 when the workdir is ready)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness.containerlab", description=main.__doc__)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--two-tier", action="store_true", help="an offline root above the page's CA")
    args = parser.parse_args(argv)
    try:
        lab = prepare_containers(args.workdir, Topology(two_tier_ca=args.two_tier))
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"prepared {lab.workdir}: " + ", ".join(f"hosts/{lab.host_name(role)}.json" for role in HOSTS), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
