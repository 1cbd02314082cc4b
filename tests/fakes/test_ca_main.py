"""``python -m fakes.ca``: serves until SIGTERM, prints its URL, never a password."""

from __future__ import annotations

import json
import os
import selectors
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from fakes.ca import CertificationAuthority

from .conftest import CopyState

READY = b"certsrv listening on "


def _start(state_dir: Path, *extra: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fakes.ca", "--state-dir", str(state_dir), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        cwd=Path(__file__).resolve().parents[2],
    )


def _ready_lines(process: subprocess.Popen[bytes], timeout: float = 20) -> list[bytes]:
    """Lines printed up to and including the ready line, read with a deadline."""
    assert process.stdout is not None and process.stderr is not None
    lines: list[bytes] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith(READY):
                return [*lines, process.stdout.readline(), process.stdout.readline()]
    process.kill()
    raise AssertionError(f"no ready line; stdout {lines}, stderr {process.stderr.read()!r}")


@pytest.fixture
def environment() -> dict[str, str]:
    """This environment minus a preset password and CA-bundle overrides of `verify`."""
    return {name: value for name, value in os.environ.items()
            if name not in ("UCCLAB_CERTSRV_PASSWORD", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}


def test_serves_the_state_folder_until_sigterm(
    ca_one_tier_dir: Path, ca_copy: CopyState, environment: dict[str, str],
) -> None:
    state_dir = ca_copy(ca_one_tier_dir)
    process = _start(state_dir, "--username", "enroll", "--password", "S3cret-pw",
                     env=environment)
    try:
        lines = _ready_lines(process)
        url = lines[-3][len(READY):].decode().strip()
        assert url.startswith("https://127.0.0.1:") and url.endswith("/certsrv/")
        assert b"labdc01.companya.com\\companya-LABDC01-CA" in lines[-2]
        page = requests.get(url + "certcarc.asp", auth=("enroll", "S3cret-pw"),
                            verify=str(state_dir / "root.pem"), timeout=10)
        assert "var nRenewals=0;" in page.text
        # The next line names the CDP and where this process serves it (plain HTTP).
        crl_line = process.stdout.readline().decode() if process.stdout else ""
        cdp, served = crl_line.split("CRL ", 1)[1].strip().split(" served at ")
        assert cdp == "http://labdc01.companya.com/CertEnroll/companya-LABDC01-CA.crl"
        assert served.startswith("http://127.0.0.1:") and served.endswith("/CertEnroll/companya-LABDC01-CA.crl")
        assert requests.get(served, timeout=10).headers["Content-Type"] == "application/pkix-crl"
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert b"S3cret-pw" not in b"".join(lines) + stdout


def test_a_generated_password_is_stored_0600_and_not_printed(
    tmp_path: Path, environment: dict[str, str],
) -> None:
    state_dir = tmp_path / "ca"
    process = _start(state_dir, "--two-tier", env=environment)
    try:
        lines = _ready_lines(process)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0
    account_file = state_dir / "certsrv-account.json"
    assert stat.S_IMODE(account_file.stat().st_mode) == 0o600
    account = json.loads(account_file.read_text())
    assert account["username"] == "enroll"
    assert account["password"].encode() not in b"".join(lines)
    assert str(account_file).encode() in b"".join(lines)
    with CertificationAuthority.open(state_dir) as ca:
        assert ca.two_tier


def test_an_unusable_state_folder_exits_2(
    ca_one_tier_dir: Path, ca_copy: CopyState, environment: dict[str, str],
) -> None:
    state_dir = ca_copy(ca_one_tier_dir)
    (state_dir / "ca.key").write_text("not a key")
    process = _start(state_dir, env=environment)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 2
    assert b"error: " in stderr and b"ca.key" in stderr


@pytest.mark.parametrize(("arguments", "reason"), [
    (["--state-dir", "{tmp}/a-file"], "error: --state-dir {tmp}/a-file: not a folder"),
    (["--state-dir", "{tmp}/a-file/ca"], "error: --state-dir: {tmp}/a-file/ca: Not a directory"),
    (["--state-dir", "{tmp}/ca", "--port", "99999"], "argument --port: port must be 0..65535, not 99999"),
    (["--state-dir", "{tmp}/ca", "--port", "-1"], "argument --port: port must be 0..65535, not -1"),
    (["--state-dir", "{tmp}/ca", "--username", "a:b"], "argument --username: a user name is not empty "
                                                      "and holds no colon"),
    (["--state-dir", "{tmp}/ca", "--header-timeout", "0"], "argument --header-timeout: seconds must be "
                                                          "positive and finite"),
    (["--state-dir", "{tmp}/ca", "--body-timeout", "inf"], "argument --body-timeout: seconds must be "
                                                          "positive and finite"),
    (["--state-dir", "{tmp}/ca", "--max-connections", "0"], "argument --max-connections: at least 1"),
], ids=["state-dir-is-a-file", "state-dir-under-a-file", "port-99999", "port-negative", "username-colon",
        "header-timeout-0", "body-timeout-inf", "max-connections-0"])
def test_bad_values_exit_2_with_a_one_line_reason(
    tmp_path: Path, environment: dict[str, str], arguments: list[str], reason: str,
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    process = _start(Path(arguments[1].format(tmp=tmp_path)),
                     *(a.format(tmp=tmp_path) for a in arguments[2:]), env=environment)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2, stderr
    assert b"Traceback" not in stderr
    assert reason.format(tmp=tmp_path) in stderr.decode().strip().splitlines()[-1], stderr


def test_an_account_file_that_is_a_folder_exits_2(
    ca_one_tier_dir: Path, ca_copy: CopyState, environment: dict[str, str],
) -> None:
    state_dir = ca_copy(ca_one_tier_dir)
    (state_dir / "certsrv-account.json").mkdir()
    process = _start(state_dir, env=environment)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert stderr.decode().strip() == (f"error: the account file: {state_dir / 'certsrv-account.json'}: "
                                       "Is a directory")
