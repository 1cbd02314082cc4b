"""MTLS end to end: both directions confirmed by what the server side saw, and the ways it fails.

Every verdict here comes from a server's own log: the Front End's event log for
connector → Front End, the connector's Secured-port log for Front End → connector.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID

from harness.artifacts import export_pfx
from harness.lab import Topology
from harness.pytest_plugin import LabThread

ETC = "C:\\GCTI\\UCConnector\\UCC_Lync\\etc\\"


def _directions(result) -> dict[str, dict]:
    return {h["direction"]: h for h in result.handshakes if h["kind"] == "mtls"}


def _codes(result) -> set[str]:
    return {d["code"] for d in result.diagnoses}


@pytest.mark.parametrize("pfx_source", ["shell", "web"])
def test_both_directions_confirmed_with_server_side_evidence(ucclab_lab: LabThread, pfx_source: str) -> None:
    result = ucclab_lab.replay("mtls", [f"replay.pfx_source={pfx_source}"])
    assert result.outcome == "confirmed" and result.exit_code == 0
    to_frontend, to_connector = _directions(result).values()
    frontend = to_frontend["evidence"]["frontend"]
    # The Front End saw the connector's certificate and chain, trusted it as a known
    # peer, and answered REGISTER 200.
    assert frontend["peer"]["subject"] == "CN=ucc01.companya.com"
    assert frontend["chain"] == ["CN=ucc01.companya.com", "CN=companya-LABDC01-CA,DC=companya,DC=com"]
    assert frontend["peer_trusted_as"] == "ucc01.companya.com"
    assert {"method": "REGISTER", "status": 200, "reason": "OK"} in frontend["requests"]
    assert frontend["tls_version"] in ("TLSv1.2", "TLSv1.3")
    # The connector's Secured port saw the Front End's certificate and answered its push.
    connector = to_connector["evidence"]["connector"]
    assert connector["peer"]["subject"] == "CN=fe01.companya.com"
    assert [r["status"] for r in connector["requests"]] == [200, 200]
    # The evidence names what the server logged, nothing from the client alone.
    assert any(e["type"] == "tls-handshake" for e in frontend["log"])


def test_the_front_end_certificate_shortcut_fails_the_push(ucclab_lab: LabThread) -> None:
    """The page's lab shortcut gives the connector fe01's own certificate: the Front End
    accepts it (fe01 is a known server), but its push to ucc01 finds a certificate for
    another host."""
    result = ucclab_lab.replay("mtls", ["replay.pfx_source=frontend"])
    to_frontend, to_connector = _directions(result).values()
    assert to_frontend["outcome"] == "confirmed"
    assert to_connector["outcome"] == "rejected"
    [d] = to_connector["diagnoses"]
    assert d["code"] == "cert-name-mismatch" and d["doc_step"] == "Generating the Front End Server Certificate, step 3"


def test_name_not_among_known_peers(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("mtls", ["shell.request_cs_certificate.server_name=ucc02.companya.com"])
    to_frontend = _directions(result)["connector-to-frontend"]
    assert to_frontend["outcome"] == "rejected"
    log = to_frontend["evidence"]["frontend"]["log"]
    [refused] = [e for e in log if e["type"] == "peer-not-trusted"]
    assert refused["names"] == ["ucc02.companya.com"]
    assert "cert-name-mismatch" in _codes(result)


def test_literal_page_arguments_send_no_client_certificate(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("mtls", ["mtls_command_line.add_parameters.literal=true"])
    to_frontend = _directions(result)["connector-to-frontend"]
    assert to_frontend["outcome"] == "rejected"
    # No certificate: the Front End took the connector for an untrusted client and challenged it.
    log = to_frontend["evidence"]["frontend"]["log"]
    assert [e["peer"] for e in log if e["type"] == "tls-handshake"] == [None]
    assert [e["status"] for e in log if e["type"] == "response"][:1] == [401]
    codes = _codes(result)
    assert {"arg-malformed", "client-certificate-missing"} <= codes
    findings = {f["code"]: f for f in to_frontend["evidence"]["connector_findings"]}
    assert "-cert_store_file" in findings["arg-malformed"]["message"] + findings["arg-malformed"]["hint"]
    assert findings["arg-unknown"]["severity"] == "warning"  # -ket_store_type: JDK 17 loads the JKS anyway


@pytest.mark.parametrize(
    "sets, code",
    [
        (["mtls_command_line.add_parameters.cert_store_pass=wrong"], "pfx-wrong-password"),
        (["mtls_command_line.add_parameters.key_store_pass=wrong"], "truststore-wrong-password"),
    ],
)
def test_wrong_store_passwords(ucclab_lab: LabThread, sets: list[str], code: str) -> None:
    result = ucclab_lab.replay("mtls", sets)
    assert result.outcome == "not-confirmed"
    [d, *_] = [d for d in result.diagnoses if d["code"] == code]
    assert "keystore password was incorrect" in d["message"]
    # Nothing reached the Front End: the connector could not build its TLS context.
    assert _directions(result)["connector-to-frontend"]["evidence"]["frontend"]["log"] == []


def test_no_trust_store_falls_back_to_cacerts_which_lacks_the_lab_ca(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("mtls", ["mtls_command_line.add_parameters.include_trust_store=false"])
    [d, *_] = [d for d in result.diagnoses if d["code"] == "truststore-missing-ca"]
    assert "PKIX path building failed" in d["message"]
    assert d["doc_step"] == "Adding the Certificate to the UC Connector Installation, step 3"


@pytest.mark.parametrize("mode, code", [("Unsecured", "secure-port-not-secured")])
def test_unsecured_port(ucclab_lab: LabThread, mode: str, code: str) -> None:
    result = ucclab_lab.replay("mtls", [f"secure_port.add_port.listening_mode={mode}"])
    to_connector = _directions(result)["frontend-to-connector"]
    assert to_connector["outcome"] == "error"
    assert [d["code"] for d in to_connector["diagnoses"]] == [code]
    assert to_connector["diagnoses"][0]["doc_step"] == "Configuring a Secure SIP Port, step 1"


def test_missing_port(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("mtls", ["secure_port.confirm_warning.answer=No"])
    [failure] = result.transcript.failures
    assert failure.code == "secure-port-missing"


def test_two_tier_without_the_chain_is_refused_by_the_front_end(ucclab_lab_factory) -> None:
    lab = ucclab_lab_factory(Topology(two_tier_ca=True))
    result = lab.replay("mtls", ["shell.export_pfx.include_chain=false"])
    to_frontend = _directions(result)["connector-to-frontend"]
    assert to_frontend["outcome"] == "rejected"
    [failure] = [e for e in to_frontend["evidence"]["frontend"]["log"] if e["type"] == "tls-failure"]
    assert "unable to get local issuer certificate" in failure["error"]
    # The connector sent its leaf only, as Java would: the PFX has no issuing CA.
    assert to_frontend["diagnoses"][0]["code"] == "pfx-chain-incomplete"
    assert to_frontend["diagnoses"][0]["doc_step"].endswith("Management Shell, step 5")
    # With the chain, the same lab confirms.
    assert lab.replay("mtls").outcome == "confirmed"


def test_server_auth_only_front_end_certificate_is_refused_by_the_connector(ucclab_lab_factory) -> None:
    """A Lync default certificate from the Web Server template: the Front End presents it
    as client to the connector's Secured port, and Java refuses it."""
    lab = ucclab_lab_factory(Topology(frontend_template="WebServer"))
    result = lab.replay("mtls")
    to_frontend, to_connector = _directions(result).values()
    assert to_frontend["outcome"] == "confirmed"
    assert to_connector["outcome"] == "rejected"
    [failure] = [e for e in to_connector["evidence"]["connector"]["log"] if e["type"] == "tls-failure"]
    assert failure["message"] == "Extended key usage does not permit use for TLS client authentication"
    assert failure["peer_certificate"]["subject"] == "CN=fe01.companya.com"
    assert to_connector["diagnoses"][0]["code"] == "cert-eku-no-client-auth"


def _install_pfx(lab: LabThread, name: str, certificate: x509.Certificate, key, chain=()) -> list[str]:
    export_pfx(lab.lab.artifacts_dir / name, certificate=certificate, private_key=key, chain=list(chain), password="mnopqr")
    return [f"mtls_command_line.add_parameters.cert_store_file={ETC}{name}", "mtls_command_line.add_parameters.cert_store_pass=mnopqr"]


def test_client_certificate_from_a_foreign_ca(ucclab_lab: LabThread) -> None:
    foreign = trustme.CA(organization_name="Not CompanyA")
    leaf = foreign.issue_cert("ucc01.companya.com")
    certificate = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    key = load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(foreign.cert_pem.bytes())
    result = ucclab_lab.replay("mtls", _install_pfx(ucclab_lab, "foreign.pfx", certificate, key, [ca_cert]))
    to_frontend = _directions(result)["connector-to-frontend"]
    assert to_frontend["outcome"] == "rejected"
    [failure] = [e for e in to_frontend["evidence"]["frontend"]["log"] if e["type"] == "tls-failure"]
    assert "certificate" in failure["error"]  # OpenSSL's words: self-signed / unable to get issuer
    assert to_frontend["diagnoses"][0]["code"] == "cert-untrusted-ca"


def test_expired_client_certificate(ucclab_lab: LabThread) -> None:
    # Signed by the lab CA's own key, valid from two years ago until yesterday: what the
    # connector presents after its Web Server certificate ran out.
    lab = ucclab_lab.lab
    ca_key = load_pem_private_key((lab.ca.state_dir / "ca.key").read_bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ucc01.companya.com")]))
        .issuer_name(lab.ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=730))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ucc01.companya.com")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    result = ucclab_lab.replay("mtls", _install_pfx(ucclab_lab, "expired.pfx", certificate, key, lab.ca.chain))
    to_frontend = _directions(result)["connector-to-frontend"]
    [failure] = [e for e in to_frontend["evidence"]["frontend"]["log"] if e["type"] == "tls-failure"]
    assert failure["error"] == "certificate has expired"
    assert to_frontend["diagnoses"][0]["code"] == "cert-expired"


def test_replaying_twice_in_one_lab_edits_rather_than_duplicates(ucclab_lab: LabThread) -> None:
    assert ucclab_lab.replay("mtls").outcome == "confirmed"
    second = ucclab_lab.replay("mtls", ["replay.pfx_source=web"])
    assert second.outcome == "confirmed"

    async def read():
        async with ucclab_lab.lab.configserver_client() as cfg:
            return await cfg.find_application(ucclab_lab.lab.topology.application_name)

    app = ucclab_lab.run(read())
    assert app.command_line_arguments.count("-cert_store_file") == 1
    assert [p.id for p in app.port_infos].count("lync-tls") == 1
