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


# Each bad value: (option to change or add, its value — {tmp}, {ca}, {key}, {cert} expand — and
# what the one-line reason says).
BAD_VALUES = [
    ("--port", "99999", "argument --port: port must be 0..65535, not 99999"),
    ("--port", "-1", "argument --port: port must be 0..65535, not -1"),
    ("--idle-timeout", "nan", "argument --idle-timeout: seconds must be positive and finite"),
    ("--handshake-timeout", "0", "argument --handshake-timeout: seconds must be positive"),
    ("--message-timeout", "inf", "argument --message-timeout: seconds must be positive and finite"),
    ("--max-connections", "0", "argument --max-connections: at least 1 connection"),
    ("--cert", "{tmp}", "{tmp}: Is a directory"),
    ("--cert", "{key}", "{key}: not a PEM certificate chain"),
    ("--key", "{ca}", "{ca}: not an unencrypted PEM private key"),
    ("--key", "{tmp}/missing.key", "{tmp}/missing.key: No such file or directory"),
    ("--ca", "{key}", "{key}: holds no PEM CA certificate"),
    ("--keylog", "{tmp}", "{tmp}: Is a directory"),
    ("--events", "{tmp}/no/such/folder/events.jsonl", "No such file or directory"),
    ("--spn-keys", "{tmp}/missing.json", "{tmp}/missing.json: No such file or directory"),
    ("--spn-keys", "{cert}", "{cert}: not JSON"),
    ("--fqdn", "", "the Front End's FQDN must be a host name, not ''"),
]


@pytest.mark.parametrize(("option", "value", "reason"), BAD_VALUES,
                         ids=[f"{o}={v}" for o, v, _ in BAD_VALUES])
def test_bad_values_are_bad_usage_with_a_one_line_reason(
        pki: LabPki, fe: Credential, tmp_path: Path, option: str, value: str, reason: str) -> None:
    names = {"tmp": str(tmp_path), "ca": str(pki.ca_path), "key": str(fe.key_path),
             "cert": str(fe.cert_path)}
    command = _command(pki, fe)
    if option in command:
        command[command.index(option) + 1] = value.format(**names)
    else:
        command += [option, value.format(**names)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "error: " in last and reason.format(**names) in last, result.stderr


def test_a_key_that_is_not_the_certificates_is_named_as_such(pki: LabPki, fe: Credential,
                                                           tmp_path: Path) -> None:
    foreign = LabPki(tmp_path, name="Foreign CA")  # a certificate for the CA key, not fe01's
    command = _command(pki, fe)
    command[command.index("--cert") + 1] = str(foreign.ca_path)
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {fe.key_path}: is not the key of the certificate in "
                                     f"{foreign.ca_path} (key values mismatch)")


def test_kerberos_without_a_realm_to_derive_keys_for_is_bad_usage(pki: LabPki, fe: Credential) -> None:
    command = _command(pki, fe, "--spn-password", "Lync#1")
    command[command.index("--fqdn") + 1] = "fe01"
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --fqdn 'fe01' names no domain to take the AD realm "
                                     "from: give --ad-realm")


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
