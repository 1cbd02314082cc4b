"""The Python connector stand-in and the real JSSE/JGSS stack (the Java probe) agree.

Each case replays the page with one deviation and both clients; the Front End's, the
KDC's and the Secured port's logs judge each, and any disagreement between the two is a
defect of the lab. Where it matters, Java's own words are checked against the field notes.
"""

from __future__ import annotations

import datetime

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from harness.artifacts import keytool_import, read_pfx
from harness.lab import Topology
from harness.pytest_plugin import LabThread

ETC = "C:\\GCTI\\UCConnector\\UCC_Lync\\etc\\"


def _both(lab: LabThread, path: str, sets: list[str]):
    result = lab.replay(path, sets, client="both")
    assert result.disagreements == [], result.disagreements
    return result


def _pair(result, kind: str, direction: str | None = None) -> tuple[dict, dict]:
    found = {h["client"]: h for h in result.handshakes if h["kind"] == kind and h.get("direction") == direction}
    return found["python"], found["java"]


def _java_error(handshake: dict) -> str:
    error = handshake["evidence"]["connector"].get("error") or {}
    return " ".join([error.get("message", "")] + [c["message"] for c in error.get("causes", [])])


@pytest.mark.parametrize(
    "sets, java_text",
    [
        (["mtls_command_line.add_parameters.cert_store_pass=wrong"], "keystore password was incorrect"),
        (["mtls_command_line.add_parameters.key_store_pass=wrong"], "problem accessing trust store"),
        (["mtls_command_line.add_parameters.include_trust_store=false"], "unable to find valid certification path to requested target"),
    ],
    ids=["wrong-key-store-password", "wrong-trust-store-password", "no-trust-store-cacerts-lacks-the-lab-ca"],
)
def test_store_mistakes(ucclab_lab: LabThread, sets: list[str], java_text: str) -> None:
    result = _both(ucclab_lab, "mtls", sets)
    python, java = _pair(result, "mtls", "connector-to-frontend")
    assert python["outcome"] == java["outcome"] != "confirmed"
    assert java_text in _java_error(java)


def test_a_jks_that_is_really_pkcs12_works_for_both(ucclab_lab: LabThread) -> None:
    result = _both(ucclab_lab, "mtls", [])
    assert result.manifest.get("truststore").format == "pkcs12"  # JDK 17's keytool default
    assert all(h["outcome"] == "confirmed" for h in result.handshakes)


def test_a_real_jks_declared_pkcs12_works_for_both(ucclab_lab: LabThread) -> None:
    result = _both(ucclab_lab, "mtls", [
        "truststore.keytool_import_certificate.storetype=jks",
        "mtls_command_line.add_parameters.key_store_type=pkcs12",
    ])
    assert all(h["outcome"] == "confirmed" for h in result.handshakes)


def test_unencrypted_pfx(ucclab_lab: LabThread) -> None:
    result = _both(ucclab_lab, "mtls", ["shell.export_pfx.password=none", "mtls_command_line.add_parameters.cert_store_pass="])
    python, java = _pair(result, "mtls", "connector-to-frontend")
    # Java ignores an unencrypted key bag: no client certificate, so the Front End challenges.
    assert python["outcome"] == java["outcome"] == "rejected"
    assert "client-certificate-missing" in {d["code"] for d in java["diagnoses"]}


def test_pfx_without_private_key(ucclab_lab: LabThread) -> None:
    ucclab_lab.replay("mtls")
    pfx = ucclab_lab.lab.manifest.file("ucc-pfx")
    contents = read_pfx(pfx, "mnopqr")
    (pfx.parent / "NoKey.pfx").write_bytes(pkcs12.serialize_key_and_certificates(
        b"genesysservercertificate", None, contents.certificate, contents.additional_certificates,
        BestAvailableEncryption(b"mnopqr")))
    result = _both(ucclab_lab, "mtls", [f"mtls_command_line.add_parameters.cert_store_file={ETC}NoKey.pfx"])
    python, java = _pair(result, "mtls", "connector-to-frontend")
    assert python["outcome"] == java["outcome"] == "rejected"


def test_trust_store_without_the_lab_ca(ucclab_lab: LabThread) -> None:
    ucclab_lab.replay("mtls")
    foreign = trustme.CA(organization_name="Not CompanyA")
    keytool_import(ucclab_lab.lab.artifacts_dir / "Foreign.jks", alias="other", password="genesys",
                   certificate=x509.load_pem_x509_certificate(foreign.cert_pem.bytes()))
    result = _both(ucclab_lab, "mtls", [f"mtls_command_line.add_parameters.key_store_file={ETC}Foreign.jks"])
    python, java = _pair(result, "mtls", "connector-to-frontend")
    assert python["outcome"] == java["outcome"] != "confirmed"
    assert "PKIX path building failed" in _java_error(java)
    assert {d["code"] for d in java["diagnoses"]} >= {"truststore-missing-ca"}


def test_name_not_known_to_the_front_end(ucclab_lab: LabThread) -> None:
    result = _both(ucclab_lab, "mtls", ["shell.request_cs_certificate.server_name=ucc02.companya.com"])
    python, java = _pair(result, "mtls", "connector-to-frontend")
    assert python["outcome"] == java["outcome"] == "rejected"


def test_the_pages_typo_d_arguments(ucclab_lab: LabThread) -> None:
    result = _both(ucclab_lab, "mtls", ["mtls_command_line.add_parameters.literal=true"])
    python, java = _pair(result, "mtls", "connector-to-frontend")
    assert python["outcome"] == java["outcome"] == "rejected"


def test_server_auth_only_front_end_certificate(ucclab_lab_factory) -> None:
    lab = ucclab_lab_factory(Topology(frontend_template="WebServer"))
    result = _both(lab, "mtls", [])
    python, java = _pair(result, "mtls", "frontend-to-connector")
    assert python["outcome"] == java["outcome"] == "rejected"
    assert "Extended key usage does not permit use for TLS client authentication" in java["diagnoses"][0]["message"]


def test_unsecured_port(ucclab_lab: LabThread) -> None:
    result = _both(ucclab_lab, "mtls", ["secure_port.add_port.listening_mode=Unsecured"])
    python, java = _pair(result, "mtls", "frontend-to-connector")
    assert python["outcome"] == java["outcome"] == "error"


@pytest.mark.parametrize(
    "sets, java_text, code",
    [
        (["kerberos_password.set_password_option.password=Wrong-Password-1"], "Pre-authentication information was invalid (24)", "krb-preauth-failed"),
        (["kerberos_ad.select_account_options.use_des=true"], "KDC has no support for encryption type (14)", "krb-des-disabled"),
    ],
    ids=["wrong-microsoft-ocs-password", "des-account-without-weak-crypto"],
)
def test_kerberos_mistakes(ucclab_lab: LabThread, sets: list[str], java_text: str, code: str) -> None:
    result = _both(ucclab_lab, "tls-kerberos", sets)
    python, java = _pair(result, "tls-kerberos")
    # Java logs in before it opens TLS, the stand-in after its first REGISTER: both fail.
    assert python["outcome"] != "confirmed" and java["outcome"] != "confirmed"
    assert java_text in _java_error(java)
    assert code in {d["code"] for d in java["diagnoses"]} and code in {d["code"] for d in python["diagnoses"]}


def test_clock_skew(ucclab_lab: LabThread) -> None:
    core = ucclab_lab.lab.kdc.core
    real_now = core.now
    core.now = lambda: real_now() + datetime.timedelta(minutes=10)
    result = _both(ucclab_lab, "tls-kerberos", [])
    python, java = _pair(result, "tls-kerberos")
    assert python["outcome"] != "confirmed" and java["outcome"] != "confirmed"
    assert "Clock skew too great (37)" in _java_error(java)


def test_both_clients_confirm_the_default_replay(ucclab_lab: LabThread) -> None:
    result = _both(ucclab_lab, "all", [])
    assert result.outcome == "confirmed"
    assert {(h["kind"], h["client"]) for h in result.handshakes} == {
        ("mtls", "python"), ("mtls", "java"), ("tls-kerberos", "python"), ("tls-kerberos", "java")
    }
