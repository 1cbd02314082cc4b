"""End-to-end replays of the page in a lab, with the files read back by real tools."""

from __future__ import annotations

import hashlib
import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from harness.pytest_plugin import LabThread
from tests.conftest import require_tool

PAGE_FILES = {
    "ca-certificate": "CompanyA_Certificate.cer",
    "ucc-pfx": "GenesysServer_Certficate.pfx",
    "lync-trusted-certificate": "UCC_Certificate.cer",
    "truststore": "UCC_store.jks",
}


def _keytool_list(path: Path, password: str, storetype: str) -> str:
    keytool = require_tool("keytool")
    run = subprocess.run(
        [keytool, "-list", "-v", "-keystore", str(path), "-storepass", password, "-storetype", storetype],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_default_replay_writes_the_pages_files(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("all")
    assert result.transcript.failures == []
    assert {h["kind"] for h in result.handshakes} == {"mtls", "tls-kerberos"}

    manifest = json.loads((ucclab_lab.lab.artifacts_dir / "manifest.json").read_text())
    by_role = {m["role"]: m for m in manifest}
    for role, name in PAGE_FILES.items():
        assert by_role[role]["path"] == name
        assert (ucclab_lab.lab.artifacts_dir / name).exists()
    assert by_role["ucc-pfx"]["password"] == "mnopqr"
    assert by_role["ucc-pfx"]["doc_step"].startswith("Generating the Server Certificate Using Skype for Business Management Shell, step 5")
    # JDK 17's keytool without -storetype writes PKCS12 whatever the file is called.
    assert by_role["truststore"]["format"] == "pkcs12"

    # Every step of the page that ran is in the transcript with its number.
    steps = [(e.heading, e.step) for e in result.transcript.entries]
    assert ("Generating the Client Certificate", "4") in steps
    assert ("Generating the Server Certificate Using Skype for Business Management Shell", "6") in steps
    assert ("Configuring a Secure SIP Port", "2") in steps
    # Artifacts carry their sha256.
    recorded = {a.path: a.sha256 for e in result.transcript.entries for a in e.artifacts}
    for name, digest in recorded.items():
        assert hashlib.sha256((ucclab_lab.lab.artifacts_dir / name).read_bytes()).hexdigest() == digest
    # The shell command's gaps are marked, not hidden.
    [request] = [e for e in result.transcript.entries if e.step_id == "shell.request_cs_certificate"]
    gap = request.gap
    assert "-PrivateKeyExportable" in gap and "-Verbose" in gap
    # Secrets are files of mode 0600.
    for name in ("manifest.json", "GenesysServer_Certficate.pfx", "UCC_store.jks"):
        assert stat.S_IMODE((ucclab_lab.lab.artifacts_dir / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(ucclab_lab.lab.lab_json_path.stat().st_mode) == 0o600
    # Passwords never reach the transcript.
    text = json.dumps(result.to_json()["transcript"])
    assert "mnopqr" not in text and "genesys" not in text and ucclab_lab.lab.secrets.ucc_account_password not in text


@pytest.mark.interop
def test_real_tools_read_the_pages_files(ucclab_lab: LabThread) -> None:
    ucclab_lab.replay("all")
    folder = ucclab_lab.lab.artifacts_dir
    openssl = require_tool("openssl")
    for name in ("CompanyA_Certificate.cer", "UCC_Certificate.cer"):
        out = subprocess.run(
            [openssl, "x509", "-inform", "der", "-in", str(folder / name), "-noout", "-subject", "-issuer"],
            capture_output=True, text=True, check=True,
        ).stdout
        assert "CN = companya-LABDC01-CA" in out
    info = subprocess.run(
        [openssl, "pkcs12", "-info", "-in", str(folder / "GenesysServer_Certficate.pfx"), "-passin", "pass:mnopqr", "-nokeys"],
        capture_output=True, text=True,
    )
    assert info.returncode == 0, info.stderr
    assert info.stdout.count("-----BEGIN CERTIFICATE-----") == 2  # leaf + the CA ("include all certificates")
    assert "subject=CN = ucc01.companya.com" in info.stdout
    assert "Shrouded Keybag" in info.stderr + info.stdout

    listing = _keytool_list(folder / "GenesysServer_Certficate.pfx", "mnopqr", "pkcs12")
    assert "Your keystore contains 1 entry" in listing
    assert "Entry type: PrivateKeyEntry" in listing
    assert "Certificate chain length: 2" in listing
    assert "Alias name: genesysservercertificate" in listing

    # The page's keytool store, opened the way Java's "jks" type opens it (compat mode).
    listing = _keytool_list(folder / "UCC_store.jks", "genesys", "jks")
    assert "Alias name: ucc-cert" in listing
    assert "Entry type: trustedCertEntry" in listing


@pytest.mark.interop
@pytest.mark.parametrize(
    "sets, chain_length",
    [
        (["shell.export_pfx.include_chain=false"], 1),
        (["replay.pfx_source=web"], 2),
        (["replay.pfx_source=frontend", "frontend_certificate.export_pfx.encryption=3des"], 2),
    ],
)
def test_pfx_variants_seen_by_keytool(ucclab_lab: LabThread, sets: list[str], chain_length: int) -> None:
    result = ucclab_lab.replay("mtls", sets)
    assert result.transcript.failures == []
    pfx = ucclab_lab.lab.manifest.file("ucc-pfx")
    listing = _keytool_list(pfx, "mnopqr", "pkcs12")
    assert "Entry type: PrivateKeyEntry" in listing
    assert f"Certificate chain length: {chain_length}" in listing


def test_two_tier_ca_puts_the_whole_path_in_the_pfx(ucclab_lab_factory) -> None:
    from harness.artifacts import read_pfx
    from harness.lab import Topology

    lab = ucclab_lab_factory(Topology(two_tier_ca=True))
    result = lab.replay("mtls")
    assert result.transcript.failures == []
    contents = read_pfx(lab.lab.manifest.file("ucc-pfx"), "mnopqr")
    names = [c.subject.rfc4514_string() for c in contents.additional_certificates]
    assert any("companya-LABDC01-CA" in n for n in names) and any("companya-ROOT-CA" in n for n in names)
    # The trusted certificate exported from the Front End is the root, not the issuing CA.
    lab.replay("tls-kerberos")
    trusted = x509.load_der_x509_certificate(lab.lab.manifest.file("lync-trusted-certificate").read_bytes())
    assert "companya-ROOT-CA" in trusted.subject.rfc4514_string()


def test_literal_replay_fails_where_windows_refuses(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("mtls", ["replay.literal=true"])
    assert result.outcome == "failed" and result.exit_code == 1
    [failure] = result.transcript.failures
    assert failure.step_id == "shell.export_pfx" and failure.step == "5"
    assert failure.code == "key-not-exportable"
    assert "not exportable" in failure.action
    assert "-PrivateKeyExportable $true" in failure.fix
    # Literally, PowerShell bound the glued "-Verbose" to the FQDN.
    [request] = [e for e in result.transcript.entries if e.step_id == "shell.request_cs_certificate"]
    assert "ucc01.companya.com-Verbose" in request.note
    assert result.diagnoses[0]["doc_step"] == "Generating the Server Certificate Using Skype for Business Management Shell, step 5"


def test_web_enrollment_with_the_plain_web_server_template_cannot_export(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("mtls", ["replay.pfx_source=web", "web.create_and_submit_request.template=WebServer"])
    [failure] = result.transcript.failures
    assert failure.step_id == "web.export_pfx" and failure.code == "key-not-exportable"


def test_web_enrollment_with_an_unpublished_template_is_denied(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("mtls", ["replay.pfx_source=web", "web.create_and_submit_request.template=NoSuchTemplate"])
    [failure] = result.transcript.failures
    assert failure.code == "ca-request-denied"
    assert "0x80094800" in failure.action


def test_deleting_the_private_key_is_recorded_and_takes_effect(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("mtls", ["shell.export_pfx.delete_private_key=true"])
    export = [e for e in result.transcript.entries if e.step_id == "shell.export_pfx"][0]
    assert "deleted" in export.note
    store = ucclab_lab.lab.host("frontend").personal
    [entry] = store.find(friendly_name="GenesysServerCertificate")
    assert not entry.has_private_key


def test_replay_configures_the_application_object(ucclab_lab: LabThread) -> None:
    ucclab_lab.replay("all")
    lab = ucclab_lab.lab
    app = _application(ucclab_lab)
    assert app.options["Microsoft-OCS"]["password"] == lab.secrets.ucc_account_password
    [port] = [p for p in app.port_infos if p.id == "lync-tls"]
    assert port.conn_protocol == "sip" and "tls=1" in port.transport_params
    # Below the kernel's ephemeral ports: no outgoing connection takes it before the
    # connector listens there.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert 1024 <= int(port.port) < low


def test_restart_on_the_same_workdir_reuses_ca_and_stores(ucclab_lab_factory, tmp_path: Path) -> None:
    first = ucclab_lab_factory(workdir=tmp_path / "same")
    first.replay("mtls")
    ca = first.lab.ca.certificate
    fe_certs = [e.thumbprint for e in first.lab.host("frontend").personal.certificates()]
    lab_json = json.loads(first.lab.lab_json_path.read_text())
    first.stop()
    second = ucclab_lab_factory(workdir=tmp_path / "same")
    assert second.lab.ca.certificate == ca
    assert [e.thumbprint for e in second.lab.host("frontend").personal.certificates()] == fe_certs
    assert second.lab.manifest.get("ucc-pfx") is not None
    again = json.loads(second.lab.lab_json_path.read_text())
    assert again["accounts"] == lab_json["accounts"]


def test_lab_json_follows_the_contract(ucclab_lab: LabThread) -> None:
    doc = json.loads(ucclab_lab.lab.lab_json_path.read_text())
    assert doc["domain"] == "companya.com" and doc["realm"] == "COMPANYA.COM"
    assert doc["hosts"] == {"ca": "labdc01.companya.com", "frontend": "fe01.companya.com", "ucc": "ucc01.companya.com",
                            "configserver": "gcfg01.companya.com"}
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+/certsrv/", doc["endpoints"]["certsrv"])
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", doc["endpoints"]["configserver"])
    assert set(doc["accounts"]["enroll"]) == {"username", "password"}
    assert doc["manifest"] == "artifacts/manifest.json"
    # Added keys: each stand-in's admin API (one token), the lab as its hosts see it, the topology.
    assert set(doc["admin"]["services"]) == {"ca", "kdc", "configserver", "frontend", "connector"}
    assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+/admin/[a-z]+/", u) for u in doc["admin"]["services"].values())
    assert len(doc["admin"]["token"]) >= 32
    assert doc["network"]["frontend"] == doc["endpoints"]["frontend"] and doc["network"]["ucc"] == "127.0.0.1"
    assert doc["topology"]["configserver_host"] == "gcfg01"


def _application(lab: LabThread):
    async def read():
        async with lab.lab.configserver_client() as cfg:
            return await cfg.find_application(lab.lab.topology.application_name)

    return lab.run(read())


def test_mtls_command_line_arguments_and_startup_bat(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("mtls")
    assert result.transcript.failures == []
    arguments = _application(ucclab_lab).command_line_arguments
    etc = "C:\\GCTI\\UCConnector\\UCC_Lync\\etc\\"
    assert arguments.startswith("-host gcfg01.companya.com -port 2020 -app UCC_Lync ")
    assert f"-cert_store_file {etc}GenesysServer_Certficate.pfx -cert_store_pass mnopqr -cert_store_type pkcs12" in arguments
    assert f"-key_store_file {etc}UCC_store.jks -key_store_pass genesys -key_store_type jks" in arguments
    bat = ucclab_lab.lab.manifest.file("startup-bat")
    assert bat.name == "startup.bat" and arguments in bat.read_text()
    assert stat.S_IMODE(bat.stat().st_mode) == 0o600
    # The MTLS path makes its trust store from the client certificate procedure's CA certificate.
    [copy] = [e for e in result.transcript.entries if e.step_id == "truststore.copy_certificate"]
    assert "CompanyA_Certificate.cer" in copy.gap
    # The transcript shows the arguments with the passwords masked.
    [added] = [e for e in result.transcript.entries if e.step_id == "mtls_command_line.add_parameters"]
    assert "mnopqr" not in added.action and "-cert_store_pass ********" in added.action


def test_literal_mtls_arguments_keep_the_pages_typos(ucclab_lab: LabThread) -> None:
    ucclab_lab.replay("mtls", ["mtls_command_line.add_parameters.literal=true"])
    arguments = _application(ucclab_lab).command_line_arguments
    assert "-cert_store_C:\\GCTI" in arguments and "-ket_store_type jks" in arguments


def test_the_wrong_snapin_account_does_not_find_the_certificate(ucclab_lab: LabThread) -> None:
    """Request-CsCertificate installs into the computer's store; 'My user account' shows another."""
    result = ucclab_lab.replay("mtls", ["shell.add_certificates_snapin.account=My user account"])
    [failure] = result.transcript.failures
    assert failure.step_id == "shell.find_certificate" and failure.code == "certificate-not-found"
    assert "Local Computer" in failure.fix


def test_the_tls_command_line_step_shows_windows_paths_as_typed(ucclab_lab: LabThread) -> None:
    """The TLS procedure opens arguments the MTLS one saved: their paths keep single backslashes."""
    result = ucclab_lab.replay("all")
    [opened] = [e for e in result.transcript.entries if e.step_id == "tls_command_line.open_command_line_arguments"]
    pfx = r"-cert_store_file C:\GCTI\UCConnector\UCC_Lync\etc\GenesysServer_Certficate.pfx "
    assert pfx in opened.action, opened.action
    assert "\\\\" not in opened.action
    assert opened.action.startswith("Start Info > Command Line Arguments: '-host gcfg01.companya.com ")


# 83 characters, every label within DNS's 63: a real host name, too long for a certificate's CN.
LONG_FQDN = "ucc01-" + "x" * 50 + ".emea.internal.companya.com"


@pytest.mark.parametrize(
    ("sets", "step_id", "said_by"),
    [
        ([f"shell.request_cs_certificate.server_name={LONG_FQDN}"], "shell.request_cs_certificate", "Request-CsCertificate : "),
        (["replay.pfx_source=web", f"web.create_and_submit_request.name={LONG_FQDN}"], "web.create_and_submit_request",
         "certfnsh.asp: "),
    ],
    ids=["shell", "web"],
)
def test_a_common_name_over_64_characters_is_denied_by_the_ca_at_its_step(ucclab_lab: LabThread, sets: list[str],
                                                                           step_id: str, said_by: str) -> None:
    assert len(LONG_FQDN) == 83
    result = ucclab_lab.replay("mtls", sets)
    assert result.outcome == "failed"
    [failure] = result.transcript.failures
    assert failure.step_id == step_id and failure.code == "ca-request-denied"
    assert failure.action == (f"{said_by}Error Parsing Request The request subject name is invalid or too long. "
                              "0x80094001 (-2146877439 CERTSRV_E_BAD_REQUESTSUBJECT)")
    assert f"CN={LONG_FQDN} has 83 characters" in failure.note and "64" in failure.fix
    [diagnosis] = result.diagnoses
    assert diagnosis["doc_step"] == f"{failure.heading}, step {failure.step}"


def test_a_key_the_template_finds_too_short_is_denied_with_the_key_size_fix(ucclab_lab: LabThread) -> None:
    """1024 bits: a size Windows makes, below the template's minimum — the CA's refusal, not a usage error."""
    result = ucclab_lab.replay("mtls", ["replay.pfx_source=web", "web.create_and_submit_request.key_size=1024"])
    [failure] = result.transcript.failures
    assert failure.step_id == "web.create_and_submit_request" and failure.code == "ca-request-denied"
    assert "0x80094811" in failure.action and "2048" in failure.fix


def test_a_keysize_in_the_shell_command_no_provider_makes_fails_the_step(ucclab_lab: LabThread) -> None:
    command = ('Request-CsCertificate -New -Type Default -FriendlyName "GenesysServerCertificate" -CA "{ca}" '
               "-ComputerFQDN [server_name] -KeySize 99999999 -Verbose")
    result = ucclab_lab.replay("mtls", [f"shell.request_cs_certificate.command={command}"])
    [failure] = result.transcript.failures
    assert failure.step_id == "shell.request_cs_certificate" and failure.code == "shell-command-error"
    assert failure.action == "Request-CsCertificate : -KeySize 99999999: Windows' key providers make RSA keys of at most 16384 bits; the page asks for 2048"
