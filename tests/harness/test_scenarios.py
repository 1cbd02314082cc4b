"""Every scenario file reaches its expected outcome and codes; the loader names what is wrong."""

from __future__ import annotations

import asyncio
import datetime
import subprocess
import textwrap
from pathlib import Path

import pytest

from harness.keys import KeyCache
from harness.scenarios import (
    SCENARIOS_DIR,
    Scenario,
    ScenarioError,
    load_scenario,
    load_scenarios,
    run_scenario,
    run_scenarios,
)
from tests.conftest import require_tool

SCENARIO_FILES = sorted(SCENARIOS_DIR.glob("*.yaml"))
# Each scenario file itself runs as a test of its own: the pytest plugin collects
# scenarios/*.yaml (pyproject.toml's ucclab_scenarios), see test_plugin_collects_each_scenario.


def test_there_are_enough_scenarios_and_each_names_its_cause() -> None:
    scenarios = load_scenarios()
    assert len(scenarios) >= 70
    assert [s.name for s in scenarios] == [p.stem for p in SCENARIO_FILES]
    for s in scenarios:
        assert s.expect_outcome == "confirmed" or s.expect_codes, s.name


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """\
    name: {name}
    symptom: UCC cannot register.
    path: mtls
    set:
      mtls_command_line.add_parameters.cert_store_pass: wrong
    expect: {{outcome: rejected, codes: [pfx-wrong-password]}}
"""


def test_loader_reads_a_valid_file(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, "ok", GOOD.format(name="ok")))
    assert isinstance(scenario, Scenario)
    assert scenario.sets == ("mtls_command_line.add_parameters.cert_store_pass=wrong",)
    assert (scenario.expect_outcome, scenario.expect_codes, scenario.client) == ("rejected", ("pfx-wrong-password",), "python")


@pytest.mark.parametrize(
    "text, words",
    [
        ("name: bad\npath: [mtls\n", "not valid YAML"),
        (GOOD.format(name="bad") + "    colour: blue\n", "unknown key(s) colour"),
        (GOOD.format(name="bad").replace("add_parameters.cert_store_pass", "add_parameter.cert_store_pass"), "set: --set: no step"),
        (GOOD.format(name="bad").replace("cert_store_pass:", "cert_store_password:"), "no parameter"),
        (GOOD.format(name="other"), "must be the file's stem"),
        (GOOD.format(name="bad").replace("path: mtls", "path: sip"), "path: expected one of"),
        (GOOD.format(name="bad").replace("outcome: rejected", "outcome: broken"), "expect.outcome"),
        (GOOD.format(name="bad") + "    topology: {two_tier: true}\n", "topology: unknown key(s) two_tier"),
        (GOOD.format(name="bad") + "    topology: {two_tier_ca: yes please}\n", "topology.two_tier_ca: expected bool"),
        (GOOD.format(name="bad") + "    environment: {kdc_clock_offset: 10}\n", "environment: unknown key(s) kdc_clock_offset"),
        (GOOD.format(name="bad") + "    environment: {jdk_cacerts: full}\n", "jdk_cacerts: expected one of"),
        (GOOD.format(name="bad") + "    environment: {connector_certificate: stolen}\n", "connector_certificate: expected one of"),
        (GOOD.format(name="bad") + "    environment: {frontend_profile: lync2010}\n", "frontend_profile: expected one of lync2013"),
        (GOOD.format(name="bad") + "    environment: {frontend_certificate: md5}\n", "frontend_certificate: expected one of sha1"),
        (GOOD.format(name="bad") + "    environment: {crl_publication: late}\n", "crl_publication: expected one of offline"),
        (GOOD.format(name="bad") + "    environment: {frontend_known_peers: [ucc01.companya.com, '']}\n",
         "frontend_known_peers: expected a list of FQDNs"),
        (GOOD.format(name="bad") + "    environment: {frontend_known_peers: ['not a host name!']}\n",
         "a known peer must be a fully qualified domain name, not 'not a host name!'"),
        (GOOD.format(name="bad") + "    environment: {java_security: {jdk.tls.disabledAlgorithms: 1}}\n",
         "java_security: expected java.security property names"),
        (GOOD.format(name="bad") + "    environment: {ocs_account: {lockedout: true}}\n", "ocs_account: unknown key(s) lockedout"),
        (GOOD.format(name="bad") + "    environment: {ocs_account: {enabled: 'no'}}\n", "ocs_account.enabled: unexpected value 'no'"),
        (GOOD.format(name="bad") + "    environment: {ocs_account: {account_expires: soon}}\n",
         "ocs_account.account_expires: expected an ISO 8601 date-time"),
        (GOOD.format(name="bad") + "    environment: {connector_certificate: true}\n", "connector_certificate: unexpected value True"),
        (GOOD.format(name="bad").replace("path: mtls", "path: tls-kerberos") + "    environment: {connector_certificate: expired}\n",
         "connector_certificate: the path tls-kerberos has no MTLS"),
        ("name: bad\nsymptom: x\n", "missing path, expect"),
    ],
    ids=["bad-yaml", "unknown-key", "unknown-step", "unknown-parameter", "name-not-stem", "bad-path", "bad-outcome",
         "unknown-topology-field", "bad-topology-type", "unknown-environment-key", "bad-jdk-cacerts",
         "bad-connector-certificate", "bad-frontend-profile", "bad-frontend-certificate", "bad-crl-publication",
         "empty-known-peer", "known-peer-not-an-fqdn", "java-security-not-text", "unknown-account-state", "account-state-not-bool",
         "account-expires-not-a-date", "connector-certificate-not-a-word", "connector-certificate-without-mtls", "missing-fields"],
)
def test_loader_errors_name_the_file_and_field(tmp_path: Path, text: str, words: str) -> None:
    path = _write(tmp_path, "bad", text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(str(path)) and words in str(caught.value)


def test_run_scenarios_by_name_in_fresh_folders(tmp_path: Path) -> None:
    _write(tmp_path, "wrong-pfx-password", GOOD.format(name="wrong-pfx-password"))
    [result] = run_scenarios(["wrong-pfx-password"], workdir_root=tmp_path / "runs", folder=tmp_path)
    assert result.passed and result.codes == ["pfx-wrong-password"] and result.outcome == "rejected"
    assert Path(result.workdir) == (tmp_path / "runs" / "wrong-pfx-password").resolve()
    with pytest.raises(ScenarioError, match="already holds wrong-pfx-password"):
        run_scenarios(["wrong-pfx-password"], workdir_root=tmp_path / "runs", folder=tmp_path)
    with pytest.raises(ScenarioError, match="no scenario named 'nope'"):
        run_scenarios(["nope"], workdir_root=tmp_path / "runs", folder=tmp_path)


def test_run_scenarios_in_worker_processes_in_the_order_asked(tmp_path: Path, ucclab_keys: KeyCache) -> None:
    names = ["wrong-pfx-password", "page-as-intended", "kerberos-as-intended"]
    results = run_scenarios(names, workdir_root=tmp_path / "runs", jobs=2, keys=ucclab_keys)
    assert [r.name for r in results] == names
    assert [(r.passed, r.outcome) for r in results] == [(True, "rejected"), (True, "confirmed"), (True, "confirmed")], \
        [r.problems for r in results]
    assert all(Path(r.workdir).parent == (tmp_path / "runs").resolve() for r in results)
    # The labs took their CA from the key cache: the run made none of its own.
    assert not (tmp_path / "runs" / ".keys").exists()


def test_a_mismatch_is_reported_as_problems(tmp_path: Path, ucclab_ca_seed: Path) -> None:
    path = _write(tmp_path, "expects-too-much", GOOD.format(name="expects-too-much").replace("outcome: rejected", "outcome: confirmed"))
    result = asyncio.run(run_scenario(load_scenario(path), tmp_path / "lab", ca_seed=ucclab_ca_seed))
    assert not result.passed
    assert result.problems == ["outcome rejected, expected confirmed"]


def test_the_scenarios_set_wins_over_the_customers_certificate(tmp_path: Path, ucclab_ca_seed: Path) -> None:
    # The customer's PFX is in place, but the scenario gives the wrong password for it.
    text = GOOD.format(name="customer-pfx-wrong-password") + "    environment: {connector_certificate: expired}\n"
    scenario = load_scenario(_write(tmp_path, "customer-pfx-wrong-password", text))
    result = asyncio.run(run_scenario(scenario, tmp_path / "lab", ca_seed=ucclab_ca_seed))
    assert result.passed, result.problems
    assert (tmp_path / "lab" / "artifacts" / "Customer_Certificate.pfx").is_file()


def test_a_sha1_frontend_certificate_verifies_with_openssl(tmp_path: Path) -> None:
    # The SHA-1 certificate is made by changing a SHA-256 one's algorithm and signing anew:
    # OpenSSL must find it well formed, signed SHA1withRSA by the CA, and the names kept.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    from harness.artifacts import issue_certificate, make_root_ca
    from harness.scenarios import _signed_sha1

    now = datetime.datetime.now(datetime.UTC)
    ca, ca_key = make_root_ca(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Lab Root")]), now)
    leaf, _ = issue_certificate("fe01.companya.com", ca, ca_key, valid=(now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)),
                                ekus=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
    sha1 = _signed_sha1(leaf, ca_key)
    assert isinstance(sha1.signature_hash_algorithm, hashes.SHA1)
    assert (sha1.subject, sha1.serial_number, list(sha1.extensions)) == (leaf.subject, leaf.serial_number, list(leaf.extensions))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(sha1.public_bytes(Encoding.PEM))
    openssl = require_tool("openssl")
    text = subprocess.run([openssl, "x509", "-in", "leaf.pem", "-noout", "-text"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "Signature Algorithm: sha1WithRSAEncryption" in text
    # Security level 0: OpenSSL 3 refuses SHA-1 signatures at level 1 and above.
    verify = subprocess.run([openssl, "verify", "-auth_level", "0", "-CAfile", "ca.pem", "leaf.pem"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert verify.returncode == 0 and "leaf.pem: OK" in verify.stdout, verify.stderr
    tampered = bytearray(sha1.public_bytes(Encoding.DER))
    tampered[-5] ^= 1
    (tmp_path / "bad.der").write_bytes(bytes(tampered))
    bad = subprocess.run([openssl, "verify", "-auth_level", "0", "-CAfile", "ca.pem", "bad.der"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode != 0
