"""``ucclab up`` as a trainee uses it: real files, real endpoints, a real OpenSSL client."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool

OPTIONS = (
    "OPTIONS sip:fe01.companya.com SIP/2.0\r\n"
    "Via: SIP/2.0/TLS ucc01.companya.com:5061;branch=z9hG4bKsandbox1\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:ucc01.companya.com>;tag=sandbox\r\n"
    "To: <sip:fe01.companya.com>\r\n"
    "Call-ID: sandbox-options-1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n"
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("sandbox")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "up", "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (workdir / "lab.json").exists():
        if proc.poll() is not None:
            raise AssertionError(f"ucclab up exited early: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("ucclab up did not write lab.json in time")
        time.sleep(0.1)
    yield workdir, json.loads((workdir / "lab.json").read_text())
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


def _s_client(port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    openssl = require_tool("openssl")
    return subprocess.run(
        [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-quiet", "-ign_eof", *extra],
        input=OPTIONS,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.interop
def test_openssl_with_the_generated_pfx_gets_200_to_options(sandbox, tmp_path: Path) -> None:
    workdir, lab = sandbox
    openssl = require_tool("openssl")
    pfx = workdir / "artifacts" / "GenesysServer_Certficate.pfx"
    pem = tmp_path / "ucc01.pem"
    subprocess.run(
        [openssl, "pkcs12", "-in", str(pfx), "-passin", "pass:mnopqr", "-nodes", "-out", str(pem)],
        check=True,
        capture_output=True,
    )
    ca = tmp_path / "ca.pem"
    subprocess.run(
        [openssl, "x509", "-inform", "der", "-in", str(workdir / "artifacts" / "CompanyA_Certificate.cer"), "-out", str(ca)],
        check=True,
    )
    port = lab["endpoints"]["frontend"]["port"]
    run = _s_client(port, "-cert", str(pem), "-key", str(pem), "-CAfile", str(ca), "-verify_return_error",
                    "-servername", "fe01.companya.com")
    assert run.stdout.startswith("SIP/2.0 200 OK\r\n"), run.stdout + run.stderr
    assert "Call-ID: sandbox-options-1" in run.stdout


@pytest.mark.interop
def test_without_a_client_certificate_the_front_end_refuses_and_says_why(sandbox) -> None:
    workdir, lab = sandbox
    port = lab["endpoints"]["frontend"]["port"]
    run = _s_client(port)
    assert "SIP/2.0 200" not in run.stdout
    events = [json.loads(line) for line in (workdir / "logs" / "frontend-events.jsonl").read_text().splitlines()]
    reasons = [e for e in events if e["type"] in ("tls-failure", "sipae-challenge")]
    assert reasons, "the event log should say why the connection was refused"
    last = reasons[-1]
    if last["type"] == "tls-failure":
        assert "peer did not return a certificate" in last["error"]


@pytest.mark.interop
def test_the_sandbox_writes_an_nss_key_log(sandbox) -> None:
    workdir, _ = sandbox
    keylog = workdir / "logs" / "sslkeylog.txt"
    assert keylog.exists()
    lines = keylog.read_text().splitlines()
    assert any(line.split(" ")[0] in ("CLIENT_RANDOM", "CLIENT_TRAFFIC_SECRET_0", "SERVER_HANDSHAKE_TRAFFIC_SECRET") for line in lines)
