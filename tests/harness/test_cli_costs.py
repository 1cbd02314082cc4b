"""What ``ucclab`` commands load and make: no lab or server code for ``--help`` and
``inspect``, the lab's keys from the machine's key cache, and ``--fresh-keys`` to renew them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.artifacts import read_pfx, write_der_certificate
from harness.keys import KeyCache
from harness.lab import Topology

# Runs each command line given (one per argument, split on spaces) in this process, then
# lists the modules loaded by them all.
LOADED = """\
import sys
from harness.cli import main
for command in sys.argv[1:]:
    main(command.split())
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""
# What only a lab, a server or Kerberos needs; pydantic, which typer 0.29 and later import
# to validate every option (pyproject.toml keeps typer below 0.29); and rich, which the
# command line does without (its few styles are written by harness.cli.render).
HEAVY = ("aiohttp", "OpenSSL", "impacket", "pyasn1", "jks", "Cryptodome", "sipmessage", "docker", "yaml", "pydantic",
         "rich",
         "harness.lab", "harness.replay", "harness.connector", "fakes.ca", "fakes.frontend", "fakes.kdc", "fakes.configserver")


def _loaded(*commands: str) -> set[str]:
    run = subprocess.run([sys.executable, "-c", LOADED, *commands], capture_output=True, text=True, timeout=120, check=False)
    return set(run.stderr.strip().splitlines()[-1].split())


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_help_loads_no_lab_server_or_kerberos() -> None:
    modules = _loaded("--help", "replay --help", "scenarios --help", "up --help")
    assert {"typer", "harness.errors"} <= modules  # the command line ran
    assert _heavy(modules) == []
    assert "asyncio" not in modules  # ~30 ms: only the commands that run a lab or a server need it


def test_inspect_of_a_certificate_loads_no_lab_server_or_kerberos(tmp_path: Path, ucclab_ca_seed: Path) -> None:
    from cryptography import x509

    cer = write_der_certificate(tmp_path / "CompanyA_Certificate.cer", x509.load_pem_x509_certificate((ucclab_ca_seed / "ca.pem").read_bytes()))
    modules = _loaded(f"inspect {cer}")
    assert "harness.artifacts._inspect" in modules
    assert _heavy(modules) == []


def test_replay_takes_its_keys_from_the_cache_and_fresh_keys_renews_them(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    keys = KeyCache(tmp_path / "cache" / "ucclab" / "keys")

    def replay(name: str, *extra: str) -> int:
        """Replay mtls in a new lab; the modulus of the connector's key in the PFX it made."""
        run = subprocess.run([sys.executable, "-m", "harness.cli", "replay", "mtls", "--workdir", str(tmp_path / name), "--json", *extra],
                             capture_output=True, text=True, timeout=120, env=env, check=False)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["outcome"] == "confirmed"
        return read_pfx(tmp_path / name / "artifacts" / "GenesysServer_Certficate.pfx", "mnopqr").private_key.public_key().public_numbers().n

    def kept() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in keys.folder.glob("*.pem")} | {"ca": (keys.ca_seed(Topology()) / "ca.key").read_bytes()}

    first = replay("one")
    assert first == keys.rsa_key("shell-request").public_key().public_numbers().n  # Request-CsCertificate's key: the cache's
    before = kept()
    assert set(before) == {"frontend-domain-rsa2048.pem", "shell-request-rsa2048.pem", "ca"}
    assert replay("two", "--fresh-keys") != first
    after = kept()
    assert set(after) == set(before) and all(after[name] != before[name] for name in before)
