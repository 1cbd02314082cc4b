"""``python -m fakes.host``: one host's stand-ins from a config file, as a process of its own.

A labdc01-like host (CA with certsrv, KDC) and an fe01-like host (Front End) are started
from their config files as real processes; certsrv is fetched over HTTPS, MIT ``kinit``
gets a ticket, an MTLS client reaches the Front End, and the admin API of each host answers.
"""

from __future__ import annotations

import json
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fakes._files import write_private_file, write_public_file
from fakes.ca import CertificationAuthority
from fakes.frontend import write_service_keys
from fakes.kdc import Account
from fakes.kdc.admin import save_accounts
from tests.conftest import require_tool

from .frontend_support import UCC_FQDN, LabPki, client_context, mtls_exchange, options_request
from .kdc_support import UCC_PASSWORD, MitClient, krb5_conf_text, lab_accounts

TOKEN = "host-admin-token-for-tests"
FE_FQDN = "fe01.companya.com"


def _admin(url: str, path: str, *, token: str | None = TOKEN) -> tuple[int, Any]:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Host:
    """A ``python -m fakes.host`` process; ``info`` is the JSON line it printed once serving."""

    def __init__(self, config: Path, root: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "fakes.host", str(config), "--root", str(root)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line:
            self.process.wait(timeout=10)
            raise AssertionError(f"the host did not start: {self.process.stderr.read() if self.process.stderr else ''}")
        self.info = json.loads(line)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


@pytest.fixture
def labdc01(tmp_path: Path, ca_one_tier_dir: Path) -> Iterator[Host]:
    shutil.copytree(ca_one_tier_dir, tmp_path / "state" / "ca")
    save_accounts(tmp_path / "state" / "ad.json", lab_accounts())
    config = {
        "host": "labdc01.companya.com", "admin": {"port": 0, "token": TOKEN},
        "services": {
            "ca": {"state_dir": "state/ca", "port": 0, "accounts": {"labadmin": "Enroll#Pw1"}},
            "kdc": {"realm": "COMPANYA.COM", "port": 0, "accounts_file": "state/ad.json"},
        },
    }
    path = write_private_file(tmp_path / "hosts" / "labdc01.json", json.dumps(config).encode())
    host = Host(path, tmp_path)
    yield host
    if host.process.poll() is None:
        host.stop()


def test_a_domain_controller_host_serves_certsrv_the_kdc_and_their_admin_api(labdc01: Host, tmp_path: Path) -> None:
    info = labdc01.info
    assert info["host"] == "labdc01.companya.com" and set(info["ports"]) == {"ca", "crl", "kdc"}
    # certsrv over HTTPS with the CA's own certificate (trusted through the CA root).
    context = ssl.create_default_context(cafile=str(tmp_path / "state" / "ca" / "root.pem"))
    context.check_hostname = False
    request = urllib.request.Request(f"https://127.0.0.1:{info['ports']['ca']}/certsrv/",
                                     headers={"Authorization": "Basic bGFiYWRtaW46RW5yb2xsI1B3MQ=="})
    with urllib.request.urlopen(request, context=context, timeout=10) as page:
        assert page.status == 200 and b"Microsoft Active Directory Certificate Services" in page.read()
    # MIT kinit against the KDC the host serves.
    require_tool("kinit")
    mit = MitClient(tmp_path / "mit", krb5_conf_text(info["ports"]["kdc"]))
    assert mit.kinit("ocs-ucc", UCC_PASSWORD).returncode == 0
    # The admin API: index, health, and the evidence of both.
    assert _admin(info["admin"], "") == (200, {"host": "labdc01.companya.com", "services": ["ca", "kdc"]})
    status, kdc_events = _admin(info["admin"], "kdc/events?after=0")
    assert status == 200 and any(r["type"] == "AS-REQ" and r["error_code"] is None for r in kdc_events["records"])
    status, ca_events = _admin(info["admin"], "ca/events?after=0")
    assert status == 200 and any(r["type"] == "http-request" and r["status"] == 200 for r in ca_events["records"])
    status, authority = _admin(info["admin"], "ca/settings/authority")
    assert status == 200 and authority["config_string"] == "labdc01.companya.com\\companya-LABDC01-CA"
    assert _admin(info["admin"], "kdc/health", token=None)[0] == 200
    assert labdc01.stop() == 0
    # The evidence files hold what was served.
    assert "AS-REQ" in (tmp_path / "logs" / "kdc-events.jsonl").read_text()


def test_a_front_end_host_presents_its_certificate_and_answers_sip(tmp_path: Path) -> None:
    pki = LabPki(tmp_path)
    fe = pki.issue("fe01", cn=FE_FQDN, dns=[FE_FQDN])
    ucc = pki.issue("ucc01", cn=UCC_FQDN, dns=[UCC_FQDN])
    state = tmp_path / "state" / "frontend"
    state.mkdir(parents=True)
    shutil.copy(fe.cert_path, state / "certificate-chain.pem")
    shutil.copy(fe.key_path, state / "private-key.pem")
    shutil.copy(pki.ca_path, state / "trusted-roots.pem")
    computer = Account("FE01$", "fe01-Machine-Pw!", spns=("sip/fe01.companya.com",))
    write_service_keys(state / "service-keys.json", tuple(computer.keys("COMPANYA.COM").values()))
    config = {"host": FE_FQDN, "admin": {"token": TOKEN},
              "services": {"frontend": {"fqdn": FE_FQDN, "state_dir": "state/frontend", "known_peers": [UCC_FQDN],
                                        "kerberos": True}}}
    host = Host(write_private_file(tmp_path / "hosts" / "fe01.json", json.dumps(config).encode()), tmp_path)
    try:
        import asyncio

        answers = asyncio.run(mtls_exchange(host.info["ports"]["frontend"], client_context(pki.ca_path, ucc), options_request()))
        assert answers[0].status == 200
        status, page = _admin(host.info["admin"], "frontend/events?after=0")
        assert status == 200
        trusted = [r for r in page["records"] if r["type"] == "peer-trusted"]
        assert trusted and trusted[0]["peer"] == UCC_FQDN
    finally:
        assert host.stop() == 0


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("not json", "not JSON"),
        (json.dumps({"host": "x"}), '"host" and "services"'),
        (json.dumps({"host": "x", "services": {"printer": {}}, "admin": {"token": "t"}}), "unknown services ['printer']"),
        (json.dumps({"host": "x", "services": {}}), "needs a token"),
        (json.dumps({"host": "x", "admin": {"token": "t"},
                     "services": {"kdc": {"accounts_file": "state/missing.json"}}}), "No such file"),
        (json.dumps({"host": "x", "admin": {"token": "t"},
                     "services": {"ca": {"state_dir": "state/empty"}}}), "cannot start x"),
    ],
)
def test_an_unusable_config_is_exit_2_with_the_reason(tmp_path: Path, config: str, words: str) -> None:
    path = tmp_path / "hosts" / "x.json"
    path.parent.mkdir()
    path.write_text(config)
    (tmp_path / "state" / "empty").mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "fakes.host", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr
