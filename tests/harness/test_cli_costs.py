"""What ``ucclab`` commands load and make: no lab or server code for ``--help`` and
``inspect``, the lab's keys from the machine's key cache, and ``--fresh-keys`` to renew them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.artifacts import write_der_certificate
from harness.keys import KeyCache
from harness.lab import Topology

# Runs the command line in-process and then lists the packages and lab modules it loaded.
LOADED = """\
import runpy, sys
sys.argv = ["ucclab", *sys.argv[1:]]
try:
    runpy.run_module("harness.cli", run_name="__main__")
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""
# What only a lab, a server or Kerberos needs.
HEAVY = ("aiohttp", "OpenSSL", "impacket", "pyasn1", "jks", "Cryptodome", "sipmessage", "docker", "yaml",
         "harness.lab", "harness.replay", "harness.connector", "fakes.ca", "fakes.frontend", "fakes.kdc", "fakes.configserver")


def _loaded(*args: str) -> set[str]:
    run = subprocess.run([sys.executable, "-c", LOADED, *args], capture_output=True, text=True, timeout=120, check=False)
    return set(run.stderr.strip().splitlines()[-1].split())


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("args", [["--help"], ["replay", "--help"], ["scenarios", "--help"]], ids=" ".join)
def test_help_loads_no_lab_server_or_kerberos(args: list[str]) -> None:
    modules = _loaded(*args)
    assert {"typer", "harness.errors"} <= modules  # the command line ran
    assert _heavy(modules) == []


def test_inspect_of_a_certificate_loads_no_lab_server_or_kerberos(tmp_path: Path) -> None:
    seed = KeyCache(tmp_path / "keys").ca_seed(Topology())
    from cryptography import x509

    cer = write_der_certificate(tmp_path / "CompanyA_Certificate.cer", x509.load_pem_x509_certificate((seed / "ca.pem").read_bytes()))
    modules = _loaded("inspect", str(cer))
    assert "harness.artifacts._inspect" in modules
    assert _heavy(modules) == []


def test_replay_takes_its_keys_from_the_cache_and_fresh_keys_renews_them(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    keys = tmp_path / "cache" / "ucclab" / "keys"

    def replay(*extra: str) -> dict[str, bytes]:
        workdir = tmp_path / f"lab{len(list(tmp_path.glob('lab*')))}"
        run = subprocess.run([sys.executable, "-m", "harness.cli", "replay", "mtls", "--workdir", str(workdir), "--json", *extra],
                             capture_output=True, text=True, timeout=120, env=env, check=False)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["outcome"] == "confirmed"
        return {p.name: p.read_bytes() for p in sorted(keys.glob("*.pem"))} | {
            "ca": (next(keys.glob("ca-*")) / "ca.key").read_bytes()
        }

    first = replay()
    assert set(first) == {"frontend-domain-rsa2048.pem", "shell-request-rsa2048.pem", "ca"}
    assert replay() == first
    renewed = replay("--fresh-keys")
    assert set(renewed) == set(first)
    assert all(renewed[name] != first[name] for name in first)
