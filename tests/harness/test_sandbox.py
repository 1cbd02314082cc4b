"""``ucclab up`` as a trainee uses it: real files, real endpoints, a real OpenSSL client."""

from __future__ import annotations

import json
import os
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


def _s_client(port: int, *extra: str, timeout: float = 20) -> str:
    """Send OPTIONS with ``openssl s_client``; return what came back once a whole answer
    (or nothing) arrived. stdin stays open meanwhile: s_client would otherwise quit at
    end of input before the answer is read."""
    openssl = require_tool("openssl")
    proc = subprocess.Popen(
        [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-quiet", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(OPTIONS.encode())
    proc.stdin.flush()
    os.set_blocking(proc.stdout.fileno(), False)
    received = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in received and proc.poll() is None and time.monotonic() < deadline:
        chunk = proc.stdout.read()
        if chunk:
            received += chunk
        else:
            time.sleep(0.05)
    proc.kill()
    proc.communicate()
    return received.decode("utf-8", "replace")


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
    answer = _s_client(port, "-cert", str(pem), "-key", str(pem), "-CAfile", str(ca), "-verify_return_error",
                       "-servername", "fe01.companya.com")
    assert answer.startswith("SIP/2.0 200 OK\r\n"), answer
    assert "Call-ID: sandbox-options-1" in answer


@pytest.mark.interop
def test_without_a_client_certificate_the_front_end_challenges_and_says_why(sandbox) -> None:
    workdir, lab = sandbox
    port = lab["endpoints"]["frontend"]["port"]
    answer = _s_client(port)
    # No certificate, so not a trusted server: MS-SIPAE challenges even OPTIONS.
    assert answer.startswith("SIP/2.0 401 Unauthorized\r\n"), answer
    assert 'Kerberos realm="SIP Communications Service", targetname="sip/fe01.companya.com"' in answer
    events = [json.loads(line) for line in (workdir / "logs" / "frontend-events.jsonl").read_text().splitlines()]
    [challenge, *_] = [e for e in events if e["type"] == "sipae-challenge"][-1:]
    [handshake] = [e for e in events if e["type"] == "tls-handshake" and e["connection"] == challenge["connection"]]
    assert handshake["peer"] is None  # the log says why: no client certificate was presented


@pytest.mark.interop
def test_the_sandbox_writes_an_nss_key_log(sandbox) -> None:
    workdir, _ = sandbox
    keylog = workdir / "logs" / "sslkeylog.txt"
    assert keylog.exists()
    lines = keylog.read_text().splitlines()
    assert any(line.split(" ")[0] in ("CLIENT_RANDOM", "CLIENT_TRAFFIC_SECRET_0", "SERVER_HANDSHAKE_TRAFFIC_SECRET") for line in lines)
