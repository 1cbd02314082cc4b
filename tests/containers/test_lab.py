"""The lab as containers, judged from outside: ``ucclab up --containers``, compose, ``replay --attach``.

Every host of the page's topology runs in its own container (the stand-ins' image for
labdc01, fe01 and gcfg01; the lab's image, with the connector stand-in, for ucc01). The
replay runs here and reaches them only through their published ports and admin APIs; the
evidence must show the peers' container addresses — the connector arriving at the Front End
and the KDC from ucc01's own address, the Front End pushing from fe01's.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.containers import down, free_tcp_udp_port, lab_containers
from harness.images import BuiltImage
from tests.conftest import require_tool

from .test_compose import COMPOSE_FILE, compose

pytestmark = pytest.mark.containers
REPO = Path(__file__).resolve().parents[2]
HOSTS = ("labdc01", "gcfg01", "fe01", "ucc01")


def ucclab(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def _confirmed_from_container_addresses(replayed: dict[str, Any], lab: dict[str, Any]) -> None:
    """All three handshakes confirmed, each judged from evidence naming the containers' own addresses."""
    assert replayed["outcome"] == "confirmed", replayed["diagnoses"]
    by = {(h["kind"], h.get("direction")): h for h in replayed["handshakes"]}
    ucc, fe = lab["ucc01"].ip, lab["fe01"].ip
    to_frontend = by[("mtls", "connector-to-frontend")]["evidence"]["frontend"]
    opened = [e["peer"] for e in to_frontend["log"] if e["type"] == "connection-opened"]
    assert opened and all(peer.split(":")[0] == ucc for peer in opened)
    assert to_frontend["peer_trusted_as"] == "ucc01.companya.com"
    to_connector = by[("mtls", "frontend-to-connector")]["evidence"]["connector"]["log"]
    assert {e["peer"].split(":")[0] for e in to_connector} == {fe}
    kerberos = by[("tls-kerberos", None)]["evidence"]
    assert {e["peer"].split(":")[0] for e in kerberos["kdc"]["log"]} == {ucc}
    assert kerberos["kdc"]["tgt"]["client"].lower() == "ocs-ucc@companya.com"
    assert "127.0.0.1" not in json.dumps([to_frontend["log"], to_connector, kerberos["kdc"]["log"]])


def test_up_containers_then_replay_attached(tmp_path: Path, docker_engine: Any, lab_images: dict[str, BuiltImage]) -> None:
    require_tool("java")
    workdir = tmp_path / "lab"
    try:
        up = ucclab("up", "--containers", "--blank", "--workdir", str(workdir))
        assert up.returncode == 0, up.stderr
        assert f"ucclab replay all --attach {workdir}" in up.stderr
        lab = lab_containers(workdir)
        assert set(lab) == set(HOSTS)  # one container per host
        images = {host: docker_engine.containers.get(c.id).image.tags for host, c in lab.items()}
        assert all(any(t.startswith("ucclab-standins:") for t in images[h]) for h in ("labdc01", "gcfg01", "fe01"))
        assert any(t.startswith("ucclab-lab:") for t in images["ucc01"])
        doc = json.loads((workdir / "lab.json").read_text())
        assert doc["deployment"] == "containers" and doc["network"]["kdc"] == {"host": "labdc01.companya.com", "port": 88}
        assert oct((workdir / "lab.json").stat().st_mode & 0o777) == "0o600"
        replay = ucclab("replay", "all", "--attach", str(workdir), "--json")
        assert replay.returncode == 0, replay.stderr
        _confirmed_from_container_addresses(json.loads(replay.stdout), lab)
        # The krb5.conf the page wrote names the DC as the UC Connector host reaches it.
        krb5_conf = (workdir / "artifacts" / "krb5.conf").read_text()
        assert "kdc = labdc01.companya.com:88" in krb5_conf
        # The real JDK beside the harness, on this machine: it registers through the published
        # port, listens where the Front End's container reaches this machine (the network's
        # gateway) for the push, and logs in with a copy of that krb5.conf naming the KDC as this
        # machine reaches it; the page's file stays as it was.
        java = ucclab("replay", "all", "--attach", str(workdir), "--client", "java", "--json")
        assert java.returncode == 0, java.stderr
        assert [(h.get("direction") or h["kind"], h["outcome"]) for h in json.loads(java.stdout)["handshakes"]] == [
            ("connector-to-frontend", "confirmed"), ("frontend-to-connector", "confirmed"), ("tls-kerberos", "confirmed")]
        assert (workdir / "artifacts" / "krb5.conf").read_text() == krb5_conf
    finally:
        removed = ucclab("down", "--workdir", str(workdir))
    assert removed.returncode == 0, removed.stderr
    assert lab_containers(workdir) == {}
    assert not docker_engine.networks.list(filters={"label": f"ucclab.workdir={workdir.resolve()}"})


def test_a_host_that_died_is_named_with_its_last_log_lines(tmp_path: Path, docker_engine: Any,
                                                           lab_images: dict[str, BuiltImage]) -> None:
    workdir = tmp_path / "lab"
    try:
        assert ucclab("up", "--containers", "--blank", "--workdir", str(workdir)).returncode == 0
        docker_engine.containers.get(lab_containers(workdir)["fe01"].id).kill()
        replay = ucclab("replay", "mtls", "--attach", str(workdir))
        assert replay.returncode == 1
        assert "host fe01" in replay.stderr and "last log lines" in replay.stderr and "Traceback" not in replay.stderr
    finally:
        down(workdir, client=docker_engine)


def test_compose_up_then_replay_attached(tmp_path: Path, docker_engine: Any, lab_images: dict[str, BuiltImage]) -> None:
    """The file people use, as is: prepare, the four hosts, then a replay from outside."""
    workdir = tmp_path / "lab"
    workdir.mkdir()
    project = f"ucclabtest{secrets.token_hex(4)}"
    env = {**os.environ, "UCCLAB_WORKDIR": str(workdir), "UCCLAB_KDC_PORT": str(free_tcp_udp_port())}
    try:
        up = compose("-p", project, "up", "-d", env=env, files=(COMPOSE_FILE,))
        assert up.returncode == 0, up.stderr
        replay = ucclab("replay", "all", "--attach", str(workdir), "--json")
        assert replay.returncode == 0, replay.stderr
        lab = lab_containers(workdir)
        _confirmed_from_container_addresses(json.loads(replay.stdout), lab)
    finally:
        compose("-p", project, "down", "-v", env=env, files=(COMPOSE_FILE,))
        down(workdir, client=docker_engine)


def test_without_an_engine_up_containers_is_a_usage_error(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    up = ucclab("up", "--containers", "--workdir", str(tmp_path / "lab"), env=env, timeout=60)
    assert up.returncode == 2 and "cannot reach the Docker engine" in up.stderr and "Traceback" not in up.stderr


def test_attaching_to_a_folder_without_a_lab_says_so(tmp_path: Path) -> None:
    replay = ucclab("replay", "--attach", str(tmp_path), timeout=60)
    assert replay.returncode == 2 and "no lab runs in" in replay.stderr
