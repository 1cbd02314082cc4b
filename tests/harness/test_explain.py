"""``ucclab explain``: customers' log lines, and the lab's own, read through the one diagnosis table."""

from __future__ import annotations

import asyncio
import codecs
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509

from harness.artifacts import keytool_import
from harness.diagnosis import DIAGNOSES, PATTERNS, SOURCES
from harness.explain import explain
from harness.keys import KeyCache
from harness.pytest_plugin import LabThread
from harness.scenarios import load_scenario, run_scenario

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
REPOSITORY = Path(__file__).resolve().parents[2]
ETC = "C:\\GCTI\\UCConnector\\UCC_Lync\\etc\\"

# customer-lines.log: the line each entry starts on, and the code it must get
# (tests/data/logs/README.md says where each line comes from).
EXPECTED = [
    (1, "truststore-missing-ca"),
    (2, "cert-signature-algorithm-disabled"),  # with its two Caused by: lines
    (5, "cert-key-too-small"),
    (6, "tls-protocol-mismatch"),
    (7, "tls-protocol-mismatch"),
    (8, "tls-protocol-mismatch"),
    (9, "cert-name-mismatch"),
    (10, "client-certificate-missing"),
    (11, "krb-des-disabled"),
    (12, "krb-des-disabled"),
    (13, "krb-preauth-failed"),
    (14, "krb-clock-skew"),
    (15, "krb-principal-unknown"),
    (16, "truststore-wrong-password"),
    (17, "keytool-error"),
    (18, "krb-preauth-failed"),
    (19, "krb-principal-unknown"),
    (20, "krb-realm-unknown"),
    (21, "krb-kdc-unreachable"),
    (22, "krb-service-unknown"),
    (23, "krb-des-disabled"),
    (24, "sip-rejected"),
    (25, "tls-handshake-failed"),
    (26, "cert-name-mismatch"),
    (27, "cert-untrusted-ca"),
    (28, "cert-name-mismatch"),
    (29, "cert-revocation-offline"),
    (30, "tls-protocol-mismatch"),
    (31, "tls-protocol-mismatch"),
    (32, "tls-protocol-mismatch"),
    (33, "krb-des-disabled"),
    (34, "krb-des-disabled"),
    (35, "krb-des-disabled"),
    (37, "cert-eku-no-client-auth"),  # line 36, the openssl verify command, says whose certificate
    (38, "cert-expired"),
    (39, "cert-untrusted-ca"),
    (40, "pfx-wrong-password"),
]


def _ucclab(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], input=stdin, capture_output=True,
                          cwd=REPOSITORY, timeout=120, check=False)


def test_every_real_line_is_recognised_with_its_code() -> None:
    explanation = explain((LOGS / "customer-lines.log").read_text(encoding="utf-8"))
    assert [(f.line_number, f.code) for f in explanation.findings] == EXPECTED
    assert explanation.unrecognised == 0
    # Java, MIT and Lync/SChannel are all there, and every code is one the lab knows.
    assert {f.source for f in explanation.findings} >= {"java", "keytool", "mit", "lync", "schannel", "ad", "openssl"}
    assert all(f.code in DIAGNOSES and f.fix for f in explanation.findings)


def test_the_cli_prints_json_and_counts_what_it_cannot_place(tmp_path: Path) -> None:
    log = tmp_path / "ucc.log"
    log.write_text("2024-03-01 10:22:01,123 ERROR [SipTransport] javax.net.ssl.SSLHandshakeException: "
                   "Received fatal alert: protocol_version\n"
                   "2024-03-01 10:22:01,124 INFO  [main] UC Connector started\n"
                   "\n"
                   "some words nobody said\n", encoding="utf-8")
    done = _ucclab("explain", str(log), "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["unrecognised"] == 2
    [finding] = document["findings"]
    assert {k: finding[k] for k in ("code", "severity", "doc_step", "line", "line_number")} == {
        "code": "tls-protocol-mismatch", "severity": "error", "doc_step": None, "line_number": 1,
        "line": log.read_text().splitlines()[0]}
    assert finding["message"] == 'Java (UC Connector): "Received fatal alert: protocol_version"'
    assert finding["fix"] == DIAGNOSES["tls-protocol-mismatch"].fix
    # Standard input, and the text for people.
    done = _ucclab("explain", "-", stdin=log.read_bytes())
    assert done.returncode == 0
    assert "line 1: tls-protocol-mismatch (error)" in done.stdout.decode()
    assert "standard input: 1 recognised, 2 not recognised (line 2, 4)" in done.stdout.decode()


def test_what_is_no_log_is_refused_in_words(tmp_path: Path) -> None:
    binary = tmp_path / "capture.pcap"
    binary.write_bytes(bytes(range(256)) * 4)
    controls = tmp_path / "controls.log"
    controls.write_bytes(b"kinit: Password incorrect\x01\x02\x03\x04\x05\x06\x07\x08")
    cases = {
        str(tmp_path / "missing.log"): "no such file",
        str(tmp_path): "a folder, not a log file",
        str(binary): "binary data (NUL bytes), not log text",
        str(controls): "binary data (control characters), not log text",
    }
    for path, words in cases.items():
        done = _ucclab("explain", path, "--json")
        assert done.returncode == 2, path
        assert done.stdout == b""  # --json: nothing but a document, and there is none
        assert words in done.stderr.decode(), done.stderr


def test_event_viewer_text_in_utf16_and_cp1252_logs_are_read(tmp_path: Path) -> None:
    line = "The certificate received from the remote server has been revoked. This means that the certificate " \
           "authority that issued the certificate has invalidated it. The TLS connection request has failed."
    utf16 = tmp_path / "system.txt"
    utf16.write_bytes(codecs.BOM_UTF16_LE + f"Schannel\t36883\t{line}\r\n".encode("utf-16-le"))
    cp1252 = tmp_path / "ucc.log"
    cp1252.write_bytes("Caf\xe9 host: ".encode("cp1252") + b"KrbException: Clock skew too great (37)\n")
    for path, code in ((utf16, "cert-revoked"), (cp1252, "krb-clock-skew")):
        done = _ucclab("explain", str(path), "--json")
        assert done.returncode == 0, done.stderr
        assert [f["code"] for f in json.loads(done.stdout)["findings"]] == [code]


def test_a_stack_trace_is_one_entry_named_by_its_deepest_cause() -> None:
    trace = (
        "javax.net.ssl.SSLHandshakeException: PKIX path validation failed: java.security.cert.CertPathValidatorException: "
        "validity check failed\n"
        "\tat java.base/sun.security.ssl.Alert.createSSLException(Alert.java:131)\n"
        "\tat java.base/sun.security.ssl.TransportContext.fatal(TransportContext.java:371)\n"
        "Caused by: sun.security.validator.ValidatorException: PKIX path validation failed: "
        "java.security.cert.CertPathValidatorException: validity check failed\n"
        "\t... 19 more\n"
        "Caused by: java.security.cert.CertificateNotYetValidException: NotBefore: Wed Nov 25 06:05:03 UTC 2026\n"
        "\t... 26 more\n"
    )
    explanation = explain(trace)
    assert [(f.line_number, f.code) for f in explanation.findings] == [(1, "cert-not-yet-valid")]
    assert explanation.unrecognised == 0
    # Without its cause line, Java's words say only "validity check failed": an expired certificate.
    assert [f.code for f in explain(trace.splitlines()[0]).findings] == ["cert-expired"]


@pytest.mark.parametrize(
    ("context", "code"),
    [
        ("openssl verify -CAfile ca.pem -purpose sslclient ucc.pem", "cert-eku-no-client-auth"),
        ("openssl verify -CAfile ca.pem -purpose sslserver ucc.pem", "cert-eku-no-server-auth"),
        ("openssl s_server -accept 5061 -Verify 1 -cert fe.pem -key fe.key", "cert-eku-no-client-auth"),
        ("openssl s_client -connect ucc01.companya.com:5061", "cert-eku-no-server-auth"),
        ("", "cert-eku-wrong-purpose"),
    ],
    ids=["verify-sslclient", "verify-sslserver", "s_server", "s_client", "no-context"],
)
@pytest.mark.parametrize("words", ["unsuitable certificate purpose", "unsupported certificate purpose"],
                         ids=["openssl-3", "openssl-1.1"])
def test_a_wrong_purpose_is_named_by_whose_certificate_it_was(context: str, code: str, words: str) -> None:
    """X509_V_ERR_INVALID_PURPOSE (26): OpenSSL 3.0's and 1.1.1's words, one cause each way."""
    explanation = explain(f"{context}\nverify error:num=26:{words}\n")
    assert [(f.line_number, f.code) for f in explanation.findings] == [(2, code)]
    assert explanation.unrecognised == 0


def test_the_table_is_consistent() -> None:
    assert all(p.code in DIAGNOSES for p in PATTERNS), [p.code for p in PATTERNS if p.code not in DIAGNOSES]
    assert {p.source for p in PATTERNS} == set(SOURCES)


# -- the lab's own words ------------------------------------------------------------------------


def _java_trace(error: Any) -> str:
    """A connector error as Java would print it: the exception, then its causes."""
    if isinstance(error, str):  # the stand-in's Java text
        return error
    lines = [f"{error['exception']}: {error['message']}"]
    lines += [f"Caused by: {c['exception']}: {c['message']}" for c in error.get("causes", [])]
    return "\n".join(lines)


def _lab_texts(handshake: dict[str, Any], which: tuple[str, ...]) -> list[str]:
    """Texts a failed handshake's sides printed: the connector's Java exception; the Front
    End's OpenSSL verification errors and the SChannel event it logs for them."""
    texts = []
    connector = handshake["evidence"].get("connector") or {}
    if "connector" in which and connector.get("error"):
        texts.append(_java_trace(connector["error"]))
    if "frontend" in which:
        for event in handshake["evidence"].get("frontend", {}).get("log", []):
            texts += [e["text"] for e in event.get("verify_errors", []) if not e.get("ignored")]
            schannel = event.get("schannel") or {}
            texts += [schannel[k] for k in ("message", "text") if schannel.get(k)]
    return texts


def _assert_explained_alike(handshakes: list[dict[str, Any]], which: tuple[str, ...]) -> list[str]:
    """Each text the failed handshakes' sides printed is recognised, with a code the replay
    reported for that handshake; the texts."""
    checked = []
    for handshake in handshakes:
        if handshake["outcome"] == "confirmed":
            continue
        codes = {d["code"] for d in handshake["diagnoses"]}
        for text in _lab_texts(handshake, which):
            explanation = explain(text)
            assert explanation.unrecognised == 0, text
            assert {f.code for f in explanation.findings} <= codes, (text, codes)
            checked.append(text)
    assert checked, "no text of the lab's was explained"
    return checked


@pytest.mark.interop
@pytest.mark.parametrize(
    ("path", "sets"),
    [
        ("mtls", ["mtls_command_line.add_parameters.cert_store_pass=wrong"]),
        ("tls-kerberos", ["kerberos_password.set_password_option.password=Wrong-Password-1"]),
    ],
    ids=["wrong-pfx-password", "wrong-microsoft-ocs-password"],
)
def test_the_connectors_words_in_a_replay_map_to_the_replays_codes(ucclab_lab: LabThread, path: str,
                                                                  sets: list[str]) -> None:
    result = ucclab_lab.replay(path, sets, client="both")
    _assert_explained_alike(result.handshakes, ("connector",))


@pytest.mark.interop
def test_the_words_for_a_foreign_front_end_ca_map_to_the_replays_code(ucclab_lab: LabThread) -> None:
    ucclab_lab.replay("mtls")
    foreign = trustme.CA(organization_name="Not CompanyA")
    keytool_import(ucclab_lab.lab.artifacts_dir / "Foreign.jks", alias="other", password="genesys",
                   certificate=x509.load_pem_x509_certificate(foreign.cert_pem.bytes()))
    result = ucclab_lab.replay("mtls", [f"mtls_command_line.add_parameters.key_store_file={ETC}Foreign.jks"], client="both")
    to_frontend = [h for h in result.handshakes if h.get("direction") == "connector-to-frontend"]
    _assert_explained_alike(to_frontend, ("connector",))


def test_the_front_ends_words_in_a_scenario_map_to_its_codes(tmp_path: Path, ucclab_keys: KeyCache) -> None:
    """The scenario "connector-certificate-expired": the Front End's OpenSSL refuses the
    connector's certificate; its words name the scenario's code."""
    scenario = load_scenario(REPOSITORY / "scenarios" / "connector-certificate-expired.yaml")
    result = asyncio.run(run_scenario(scenario, tmp_path / "run", keys=ucclab_keys))
    assert result.replay_json is not None, result.problems
    to_frontend = [h for h in result.replay_json["handshakes"] if h.get("direction") == "connector-to-frontend"]
    texts = _assert_explained_alike(to_frontend, ("frontend",))
    # OpenSSL's words and SChannel's (event 36877 with its HRESULT, the HRESULT's text).
    assert "certificate has expired" in texts
    assert any("has not validated correctly. The error code is 0x" in t for t in texts), texts


@pytest.mark.parametrize("words", ["unable to get certificate CRL", "CRL has expired", "CRL is not yet valid",
                                   "CRL signature failure"])
def test_openssls_crl_errors_are_a_revocation_that_could_not_be_checked(words: str) -> None:
    """X509_V_ERR 3, 12, 11 and 8 as `openssl verify -crl_check` prints them: the CRL could
    not be had or trusted, so revocation could not be checked."""
    [finding] = explain(f"error 8 at 0 depth lookup: {words}\n").findings
    assert finding.code == "cert-revocation-offline"


def test_every_pattern_of_the_table_is_a_valid_regular_expression() -> None:
    # The table's words are compiled when first searched (harness.diagnosis.Pattern): a typo
    # must still fail here, not in a customer's first `ucclab explain`.
    for pattern in PATTERNS:
        assert re.compile(pattern.words, re.IGNORECASE).pattern == pattern.words
