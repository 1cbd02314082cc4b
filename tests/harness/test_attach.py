"""``ucclab replay --attach``: the page replayed into a lab another process runs (``ucclab up``).

The lab runs in a process of its own; the replay meets it only through ``lab.json``: the
stand-ins' admin APIs over HTTP and their endpoints. Judged by the same code as an
embedded replay, from the evidence the running stand-ins serve.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.running_lab import REPO, running_lab, ucclab, up


@pytest.fixture(scope="module")
def blank_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``ucclab up --blank``: the stand-ins serving, nothing of the page done."""
    with running_lab(tmp_path_factory.mktemp("attach") / "lab", "--blank") as workdir:
        yield workdir


def test_a_replay_attached_to_a_running_lab_is_confirmed_by_its_evidence(blank_lab: Path) -> None:
    doc = json.loads((blank_lab / "lab.json").read_text())
    assert doc["deployment"] == "process"
    health = urllib.request.urlopen(doc["admin"]["services"]["frontend"] + "health", timeout=10)
    assert json.loads(health.read())["ok"] is True
    replay = ucclab("replay", "all", "--attach", str(blank_lab), "--json")
    assert replay.returncode == 0, replay.stderr
    result = json.loads(replay.stdout)
    assert result["outcome"] == "confirmed" and result["workdir"] == str(blank_lab)
    assert {(h["kind"], h.get("direction"), h["outcome"]) for h in result["handshakes"]} == {
        ("mtls", "connector-to-frontend", "confirmed"), ("mtls", "frontend-to-connector", "confirmed"),
        ("tls-kerberos", None, "confirmed")}
    # The files landed in the running lab's folder, where its connector reads them.
    assert (blank_lab / "artifacts" / "GenesysServer_Certficate.pfx").is_file()
    # The running Front End's own log holds the evidence the judge read.
    events = [json.loads(line) for line in (blank_lab / "logs" / "frontend-events.jsonl").read_text().splitlines()]
    assert any(e["type"] == "peer-trusted" and e["peer"] == "ucc01.companya.com" for e in events)


def test_attach_refuses_a_workdir_and_topology_of_its_own(blank_lab: Path, tmp_path: Path) -> None:
    done = ucclab("replay", "--attach", str(blank_lab), "--workdir", str(tmp_path))
    assert done.returncode == 2 and "--attach replays into a running lab" in done.stderr


def test_attach_to_a_stopped_lab_says_so(tmp_path: Path) -> None:
    with up(tmp_path / "lab", "--blank") as lab:
        lab.wait_serving()
        lab.stop()
    done = subprocess.run([sys.executable, "-c", "import sys; from harness.cli import main; sys.exit(main())",
                           "replay", "--attach", str(tmp_path / "lab")],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "no lab runs in" in done.stderr and "stopped" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_lab_on_another_address_tells_other_machines_how_to_name_it(tmp_path: Path) -> None:
    """``up --bind ADDR``: every service on that address, the hosts-file lines printed, and a
    replay attached through it confirmed (127.0.0.2 stands for a LAN address here)."""
    workdir = tmp_path / "lab"
    with up(workdir, "--blank", "--bind", "127.0.0.2") as lab:
        doc = lab.wait_serving()
        assert doc["endpoints"]["frontend"]["host"] == doc["endpoints"]["kdc"]["host"] == "127.0.0.2"
        assert doc["endpoints"]["certsrv"].startswith("https://127.0.0.2:")
        replay = ucclab("replay", "mtls", "--attach", str(workdir))
        assert replay.returncode == 0, replay.stderr
        err = lab.stop()
    for name in ("labdc01", "fe01", "gcfg01", "ucc01"):
        assert re.search(rf"^\s+127\.0\.0\.2\s+{name}\.companya\.com$", err, re.MULTILINE), name


def test_every_address_needs_the_one_others_use(tmp_path: Path) -> None:
    done = ucclab("up", "--bind", "0.0.0.0", "--workdir", str(tmp_path / "lab"), timeout=60)
    assert done.returncode == 2 and "--advertise" in done.stderr
