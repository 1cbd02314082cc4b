"""``python -m fakes.frontend``: ready line, real service, clean stop; and the event log."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.frontend import EventLog

from .frontend_support import (
    FE_FQDN,
    UCC_FQDN,
    Credential,
    LabPki,
    client_context,
    mtls_exchange,
    options_request,
)

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def fe(pki: LabPki) -> Credential:
    return pki.issue("fe01", cn=FE_FQDN, dns=[FE_FQDN])


def _command(pki: LabPki, fe: Credential, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fakes.frontend", "--cert", str(fe.cert_path),
            "--key", str(fe.key_path), "--ca", str(pki.ca_path), "--fqdn", FE_FQDN,
            "--known-peer", UCC_FQDN, *extra]


def test_serves_until_sigterm(pki: LabPki, fe: Credential, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    ucc = pki.issue("ucc01", cn=UCC_FQDN)
    process = subprocess.Popen(_command(pki, fe, "--events", str(events), "--strict-eku"),
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.startswith("frontend listening on 127.0.0.1:"), ready
        port = int(ready.rsplit(":", 1)[1])
        assert "client EKU enforced" in process.stdout.readline()
        (answer,) = asyncio.run(mtls_exchange(port, client_context(pki.ca_path, ucc),
                                              options_request()))
        assert answer.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["status"] for e in logged if e["type"] == "response"] == [200]
    assert any(e["type"] == "tls-handshake" for e in logged)


@pytest.mark.parametrize("change", [("--key", "missing.key"), ("--ca", "missing.pem")])
def test_unreadable_files_are_bad_usage(pki: LabPki, fe: Credential, tmp_path: Path,
                                        change: tuple[str, str]) -> None:
    command = _command(pki, fe)
    command[command.index(change[0]) + 1] = str(tmp_path / change[1])
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert result.stderr.startswith("error:")


def test_key_that_does_not_match_the_certificate_is_bad_usage(pki: LabPki, fe: Credential) -> None:
    other = LabPki(pki.directory / "other", name="Other CA")  # same process keys: use its CA key
    command = _command(pki, fe)
    command[command.index("--cert") + 1] = str(other.ca_path)
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=20)
    assert result.returncode == 2


def test_event_log_queries_and_waits() -> None:
    async def main() -> None:
        clock = iter(range(100))
        log = EventLog(now=lambda: float(next(clock)))
        log.append("request", 1, method="OPTIONS")
        waiter = asyncio.create_task(log.wait_for("response", status=200, connection=2))
        await asyncio.sleep(0)
        log.append("response", 1, status=200)
        log.append("response", 2, status=500)
        assert not waiter.done()
        log.append("response", 2, status=200)
        assert (await waiter)["time"] == 3.0
        assert (await log.wait_for("request"))["method"] == "OPTIONS"  # already logged
        assert [e["connection"] for e in log.responses(status=200)] == [1, 2]
        assert log.requests(method="REGISTER") == []
        assert [e["type"] for e in log.for_connection(2)] == ["response", "response"]
        with pytest.raises(TimeoutError):
            await log.wait_for("closed", timeout=0.01)
        assert len(log.to_jsonl().splitlines()) == len(log) == 4

    asyncio.run(main())
