"""compose/compose.yaml: Debian's docker-compose 1.29 reads it as the lab's topology, and a
lab started from it is one ``ucclab`` finds by its labels and ``ucclab down`` removes."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.containers import (
    TcpReady,
    down,
    free_tcp_udp_port,
    lab_containers,
    wait_ready,
)
from harness.images import BuiltImage
from tests.conftest import require_tool
from tests.fakes.kdc_support import REALM, UCC_PASSWORD, MitClient, krb5_conf_text

pytestmark = pytest.mark.containers

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "compose" / "compose.yaml"
HOSTS = {"labdc01": "labdc01.companya.com", "fe01": "fe01.companya.com",
         "gcfg01": "gcfg01.companya.com", "ucc01": "ucc01.companya.com"}


def compose(*args: str, env: dict[str, str] | None = None, files: tuple[Path, ...] = (COMPOSE_FILE,)
            ) -> subprocess.CompletedProcess[str]:
    tool = require_tool("docker-compose")
    command = [tool] + [a for f in files for a in ("-f", str(f))] + list(args)
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)


def engine_time(stamp: str) -> tuple[str, int]:
    """An engine's RFC 3339 time (nanoseconds, trailing zeros dropped) as a comparable value."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return whole, int(fraction.ljust(9, "0"))


def test_config_parses_into_the_page_topology(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCCLAB_WORKDIR", str(tmp_path))
    monkeypatch.setenv("UCCLAB_KDC_PORT", "10188")
    done = compose("config")
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert set(services) == {"prepare", *HOSTS, "ucc-real"}
    assert services["ucc-real"]["profiles"] == ["real-ucc"]  # started only when asked for
    assert all("profiles" not in services[name] for name in ("prepare", *HOSTS))
    assert services["prepare"]["image"] == "ucclab-lab:latest"
    for host, fqdn in HOSTS.items():
        service = services[host]
        assert service["networks"]["lab"]["aliases"] == [fqdn]
        assert (service["hostname"], service["domainname"]) == (host, "companya.com")
        assert service["labels"] == {"ucclab.workdir": str(tmp_path), "ucclab.host": host, "ucclab.fqdn": fqdn}
        assert service["depends_on"] == {"prepare": {"condition": "service_completed_successfully"}}
        assert f"{tmp_path}:/lab:rw" in service["volumes"]
        assert all(p.startswith("127.0.0.1:") for p in service.get("ports", []))  # loopback only
    for host in ("labdc01", "fe01", "gcfg01"):
        assert services[host]["image"] == "ucclab-standins:latest"
        assert services[host]["command"] == ["python3", "-m", "fakes.host", f"hosts/{host}.json", "--root", "/lab"]
    assert {"127.0.0.1:10188:88/tcp", "127.0.0.1:10188:88/udp"} <= set(services["labdc01"]["ports"])
    assert services["ucc01"]["image"] == "ucclab-lab:latest"
    assert services["ucc01"]["command"] == ["python3", "-m", "harness.connector.service", "hosts/ucc01.json", "--root", "/lab"]
    assert services["prepare"]["command"] == ["python3", "-m", "harness.containerlab", "--workdir", "/lab"]


def test_the_real_connector_slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCCLAB_WORKDIR", str(tmp_path))
    monkeypatch.setenv("UCC_IMAGE", "customer/ucc:8.5")
    done = compose("config")
    assert done.returncode == 0, done.stderr
    slot = yaml.safe_load(done.stdout)["services"]["ucc-real"]
    assert slot["image"] == "customer/ucc:8.5"
    assert slot["networks"]["lab"]["aliases"] == ["ucc01.companya.com"]
    assert slot["volumes"] == [f"{tmp_path}/artifacts:/ucc/artifacts:ro"]


def test_up_runs_the_topology_that_ucclab_finds_and_removes(tmp_path: Path, docker_engine: Any,
                                                             lab_images: dict[str, BuiltImage]) -> None:
    """The file's own wiring, with the stand-in commands replaced by an override: prepare runs
    first and to completion, the hosts reach each other by page name, the KDC's one fixed port
    serves MIT kinit from the host, and ``ucclab``'s labels find and remove the lab."""
    require_tool("kinit")
    workdir = tmp_path / "lab"
    workdir.mkdir()
    port = free_tcp_udp_port()
    override = tmp_path / "override.yaml"
    kdc = ["python3", "-m", "fakes.kdc", "--realm", REALM, "--host", "0.0.0.0", "--port", "88",
           "--account", f"ocs-ucc:{UCC_PASSWORD}"]
    override.write_text(json.dumps({"services": {
        "prepare": {"command": ["sh", "-c", "mkdir -p /lab/hosts && date +%s.%N > /lab/hosts/prepared"]},
        "labdc01": {"command": kdc},
        "fe01": {"command": ["sleep", "infinity"]},
        "gcfg01": {"command": ["sleep", "infinity"]},
        "ucc01": {"command": ["sleep", "infinity"]},
    }}))
    project = f"ucclabtest{secrets.token_hex(4)}"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "UCCLAB_WORKDIR": str(workdir), "UCCLAB_KDC_PORT": str(port)}
    files = (COMPOSE_FILE, override)
    try:
        up = compose("-p", project, "up", "-d", env=env, files=files)
        assert up.returncode == 0, up.stderr
        assert (workdir / "hosts" / "prepared").is_file()
        lab = lab_containers(workdir)
        assert set(lab) == {"prepare", *HOSTS}
        wait_ready({h: lab[h] for h in HOSTS}, {"labdc01": TcpReady(88), "fe01": None, "gcfg01": None,
                                                  "ucc01": None}, timeout=60)
        # prepare had finished (exit 0) before any host started.
        prepare = docker_engine.containers.get(lab["prepare"].id).attrs["State"]
        assert (prepare["Status"], prepare["ExitCode"]) == ("exited", 0)
        for host in HOSTS:
            started = docker_engine.containers.get(lab[host].id).attrs["State"]["StartedAt"]
            assert engine_time(started) > engine_time(prepare["FinishedAt"]), host
        assert lab["labdc01"].host_port(88, "tcp") == lab["labdc01"].host_port(88, "udp") == port
        status, output = lab["ucc01"].exec(["python3", "-c", "import socket; print(socket.gethostbyname('labdc01.companya.com'))"])
        assert (status, output.strip()) == (0, lab["labdc01"].ip)
        mit = MitClient(tmp_path / "mit", krb5_conf_text(port, libdefaults=("udp_preference_limit = 1",)))
        kinit = mit.kinit(f"ocs-ucc@{REALM}", UCC_PASSWORD)
        assert kinit.returncode == 0, kinit.stderr
        removed = down(workdir)
        assert sorted(removed.containers) == sorted(c.name for c in lab.values())
        assert len(removed.networks) == 1 and lab_containers(workdir) == {}
    finally:
        compose("-p", project, "down", "-v", env=env, files=files)
