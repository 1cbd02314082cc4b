"""The ``ucclab`` command as a user runs it: a real process, exit codes, JSON on stdout."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from harness.artifacts import keytool_import, read_certificate
from tests.conftest import require_tool

UCCLAB = [sys.executable, "-m", "harness.cli"]


def ucclab(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*UCCLAB, *args], capture_output=True, text=True, timeout=timeout)


def test_replay_mtls_json_is_one_document_and_exit_0_when_confirmed(tmp_path: Path) -> None:
    run = ucclab("replay", "mtls", "--workdir", str(tmp_path / "lab"), "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["outcome"] == "confirmed"
    assert [(h["kind"], h["direction"], h["outcome"]) for h in doc["handshakes"]] == [
        ("mtls", "connector-to-frontend", "confirmed"),
        ("mtls", "frontend-to-connector", "confirmed"),
    ]
    assert {m["role"] for m in doc["manifest"]} >= {"ca-certificate", "ucc-pfx", "truststore", "startup-bat"}
    # Progress for people went to stderr.
    assert "Generating the Client Certificate, step 1" in run.stderr


def test_replay_all_confirms_both_paths(tmp_path: Path) -> None:
    run = ucclab("replay", "all", "--workdir", str(tmp_path / "lab"), "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["outcome"] == "confirmed"
    assert [(h["kind"], h["outcome"]) for h in doc["handshakes"]] == [
        ("mtls", "confirmed"), ("mtls", "confirmed"), ("tls-kerberos", "confirmed")
    ]


def test_replay_literal_fails_with_exit_1_and_names_the_step(tmp_path: Path) -> None:
    run = ucclab("replay", "mtls", "--literal", "--workdir", str(tmp_path / "lab"), "--json")
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    assert doc["outcome"] == "failed"
    assert doc["diagnoses"][0]["code"] == "key-not-exportable"
    assert "key-not-exportable" in run.stderr


def test_bad_set_is_a_usage_error(tmp_path: Path) -> None:
    run = ucclab("replay", "--workdir", str(tmp_path), "--set", "shell.export_pfx.pasword=x")
    assert run.returncode == 2
    assert "did you mean" in run.stderr and run.stdout == ""


def test_unknown_path_is_a_usage_error() -> None:
    assert ucclab("replay", "sideways").returncode == 2


def test_list_steps_names_every_step() -> None:
    run = ucclab("replay", "--list-steps")
    assert run.returncode == 0
    assert "shell.request_cs_certificate" in run.stdout and "replay.pfx_source" in run.stdout


def test_inspect_reports_unreadable_input_with_exit_2(tmp_path: Path) -> None:
    garbage = tmp_path / "broken.pfx"
    garbage.write_bytes(b"\x30\x82\x01\x00 not really a pfx")
    run = ucclab("inspect", str(garbage), "--password", "mnopqr")
    assert run.returncode == 2
    assert "broken.pfx" in run.stderr
    missing = ucclab("inspect", str(tmp_path / "nope.cer"))
    assert missing.returncode == 2


def test_inspect_after_replay(tmp_path: Path) -> None:
    ucclab("replay", "all", "--workdir", str(tmp_path / "lab"))
    pfx = tmp_path / "lab" / "artifacts" / "GenesysServer_Certficate.pfx"
    run = ucclab("inspect", str(pfx), "--password", "mnopqr", "--json")
    assert run.returncode == 0, run.stderr
    assert "ucc01.companya.com" in run.stdout
    wrong = ucclab("inspect", str(pfx), "--password", "wrong")
    assert wrong.returncode == 2 and "password" in wrong.stderr.lower()


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"ucclab up exited early: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("ucclab up did not write lab.json in time")
        time.sleep(0.1)


@pytest.mark.parametrize("blank", [False, True])
def test_up_serves_until_sigterm_and_restarts_on_the_same_workdir(tmp_path: Path, blank: bool) -> None:
    workdir = tmp_path / "sandbox"
    args = [*UCCLAB, "up", "--workdir", str(workdir)] + (["--blank"] if blank else [])
    for attempt in range(2):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(workdir / "lab.json", proc)
            doc = json.loads((workdir / "lab.json").read_text())
            ca_pem = workdir / "state" / "ca"
            enroll = doc["accounts"]["enroll"]
            root = next(p for p in ca_pem.glob("*root*.pem"))
            answer = requests.get(
                doc["endpoints"]["certsrv"], auth=(enroll["username"], enroll["password"]), verify=str(root), timeout=10
            )
            assert answer.status_code == 200
            if not blank:
                assert (workdir / "artifacts" / "GenesysServer_Certficate.pfx").exists()
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        if attempt == 1 and not blank:
            assert "reusing them" in err
        (workdir / "lab.json").unlink()


@pytest.mark.parametrize("name", ["ca", "configserver", "frontend", "kdc"])
def test_serve_passes_help_to_each_stand_in(name: str) -> None:
    run = ucclab("serve", name, "--help")
    assert run.returncode == 0
    assert f"fakes.{name}" in run.stdout or "usage" in run.stdout.lower()


def test_serve_unknown_stand_in_is_a_usage_error() -> None:
    run = ucclab("serve", "nosuch")
    assert run.returncode == 2 and "unknown stand-in" in run.stderr


def test_check_on_a_replays_files_and_on_bad_usage(tmp_path: Path) -> None:
    assert ucclab("replay", "mtls", "--workdir", str(tmp_path / "lab")).returncode == 0
    etc = "C:\\GCTI\\UCConnector\\UCC_Lync\\etc\\"
    args = (f"-cert_store_file {etc}GenesysServer_Certficate.pfx -cert_store_pass mnopqr -cert_store_type pkcs12 "
            f"-key_store_file {etc}UCC_store.jks -key_store_pass genesys -key_store_type jks")
    run = ucclab("check", "--args", args, "--files", str(tmp_path / "lab" / "artifacts"), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["outcome"] == "ok"
    wrong = ucclab("check", "--args", args.replace("mnopqr", "wrong"), "--files", str(tmp_path / "lab" / "artifacts"), "--json")
    assert wrong.returncode == 1
    assert [f["code"] for f in json.loads(wrong.stdout)["findings"] if f["severity"] == "error"] == ["pfx-wrong-password"]
    assert ucclab("check", "--args", "").returncode == 2
    assert ucclab("check", "--args", args, "--files", str(tmp_path / "nowhere")).returncode == 2


def test_reports_are_written_for_replay_and_scenarios(tmp_path: Path) -> None:
    run = ucclab("replay", "mtls", "--workdir", str(tmp_path / "lab"), "--report", str(tmp_path / "replay.html"))
    assert run.returncode == 0
    assert '<svg class="ladder"' in (tmp_path / "replay.html").read_text()
    run = ucclab("scenarios", "run", "page-taken-literally", "--workdir", str(tmp_path / "sc"),
                 "--report", str(tmp_path / "sc.html"), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["scenarios"][0]["passed"] is True
    assert "page-taken-literally" in (tmp_path / "sc.html").read_text()


def test_corrupt_lab_state_is_unreadable_input(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    assert ucclab("replay", "mtls", "--workdir", str(workdir)).returncode == 0
    (workdir / "state" / "ca" / "ca.json").write_text("garbage")
    run = ucclab("replay", "mtls", "--workdir", str(workdir))
    assert run.returncode == 2
    assert "ca.json" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("value", ["../escape.pfx", "", "sub/dir.pfx"])
def test_file_names_given_with_set_stay_in_the_artifacts_folder(tmp_path: Path, value: str) -> None:
    run = ucclab("replay", "mtls", "--workdir", str(tmp_path / "lab"), "--set", f"shell.export_pfx.file_name={value}")
    assert run.returncode == 2 and "plain file name" in run.stderr
    assert not (tmp_path / "lab").exists()  # refused before any lab was made


def test_replay_json_keeps_store_passwords_out_of_stdout(tmp_path: Path) -> None:
    run = ucclab("replay", "mtls", "--workdir", str(tmp_path / "lab"), "--json")
    assert "mnopqr" not in run.stdout and "genesys" not in run.stdout
    manifest = json.loads((tmp_path / "lab" / "artifacts" / "manifest.json").read_text())
    assert {m["role"]: m["password"] for m in manifest}["ucc-pfx"] == "mnopqr"  # the one place that records it


def test_inspect_an_empty_file_is_unreadable_input(tmp_path: Path) -> None:
    empty = tmp_path / "transfer-failed.pfx"
    empty.write_bytes(b"")
    run = ucclab("inspect", str(empty))
    assert run.returncode == 2 and "empty" in run.stderr


@pytest.mark.parametrize(
    ("value", "reason"),
    [("-1", "no RSA key under 1024 bits"), ("99999999", "at most 16384 bits"), ("2047", "steps of 8 bits (2040 or 2048)")],
)
def test_a_key_size_no_windows_provider_makes_is_a_usage_error(tmp_path: Path, value: str, reason: str) -> None:
    """Refused before any lab starts: no ValueError from the key generator, no hour-long key."""
    run = ucclab("replay", "mtls", "--workdir", str(tmp_path / "lab"), "--set", "replay.pfx_source=web",
                 "--set", f"web.create_and_submit_request.key_size={value}", timeout=30)
    assert run.returncode == 2, run.stderr
    assert f"web.create_and_submit_request.key_size={value}: " in run.stderr and reason in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert not (tmp_path / "lab").exists()


@pytest.mark.parametrize("kind", ["device", "fifo", "folder", "oversized"])
def test_inspect_refuses_endless_or_blocking_input(tmp_path: Path, kind: str) -> None:
    """/dev/zero once ate 23 GB; a named pipe with no writer hung: both are refused unread, exit 2."""
    if kind == "device":
        path, reason = Path("/dev/zero"), "not a regular file but a character device"
    elif kind == "fifo":
        path, reason = tmp_path / "UCC_store.jks", "not a regular file but a named pipe (FIFO)"
        os.mkfifo(path)
    elif kind == "folder":
        path, reason = tmp_path, "not a regular file but a folder"
    else:
        path, reason = tmp_path / "GenesysServer_Certficate.pfx", "larger than the 4194304 bytes"
        with path.open("wb") as f:
            f.truncate(64 * 1024 * 1024)
    run = ucclab("inspect", str(path), "--password", "mnopqr", timeout=30)
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: {path}: ") and reason in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_the_up_banner_names_each_endpoint_and_prints_the_tshark_line(tmp_path: Path) -> None:
    workdir = tmp_path / "sandbox"
    proc = subprocess.Popen([*UCCLAB, "up", "--blank", "--workdir", str(workdir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(workdir / "lab.json", proc)
        doc = json.loads((workdir / "lab.json").read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    lines = {line.split()[0]: line for line in err.splitlines() if line.startswith("  ")}
    fe, kdc = doc["endpoints"]["frontend"], doc["endpoints"]["kdc"]
    assert lines["kdc"].endswith(f"127.0.0.1:{kdc['port']}  (Kerberos KDC, UDP and TCP)")
    assert lines["frontend"].endswith(
        f"127.0.0.1:{fe['port']}  (Front End, SIP over TLS: MTLS, or MS-SIPAE Kerberos without a client certificate)")
    assert lines["certsrv"].endswith(f"{doc['endpoints']['certsrv']}  (AD CS web enrollment, HTTPS)")
    assert lines["configserver"].endswith(
        f"{doc['endpoints']['configserver']}  (Configuration Server: GAX API, and its console at /gax/)")
    assert lines["console"].endswith(
        f"{doc['endpoints']['console']}  (the lab console, loopback only; log in with lab.json's admin.token)")
    assert "SIP over MTLS" not in err
    keylog = workdir / "logs" / "sslkeylog.txt"
    assert (f"  watch the SIP tshark -i lo -f 'tcp port {fe['port']}' -o tls.keylog_file:{keylog} "
            f"-o sip.tls.port:{fe['port']} -Y sip\n") in err


@pytest.mark.parametrize("command", [["replay", "mtls"], ["scenarios", "run", "page-taken-literally"],
                                     ["check", "--args", "-cert_store_file x.pfx"]], ids=["replay", "scenarios", "check"])
def test_a_report_in_a_missing_folder_is_refused_before_any_work(tmp_path: Path, command: list[str]) -> None:
    report = tmp_path / "no" / "such" / "folder" / "r.html"
    run = ucclab(*command, "--workdir" if command[0] != "check" else "--files", str(tmp_path / "work"), "--report", str(report))
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: --report {report}: there is no folder {report.parent}; create it first")
    assert not (tmp_path / "no").exists() and not (tmp_path / "work").exists()


@pytest.mark.interop
@pytest.mark.parametrize("client", ["python", "java", "both"])
def test_replay_writes_its_report_with_every_client(tmp_path: Path, client: str) -> None:
    report = tmp_path / "r.html"
    run = ucclab("replay", "all", "--client", client, "--workdir", str(tmp_path / "lab"), "--report", str(report), timeout=240)
    assert run.returncode == 0, run.stderr
    assert f"report: {report}" in run.stderr and "Traceback" not in run.stderr
    ladders = [dict(re.findall(r'data-([a-z]+)="([^"]*)"', tag))
               for tag in re.findall(r'<svg class="ladder"[^>]*>', report.read_text(encoding="utf-8"))]
    clients = ["python", "java"] if client == "both" else [client]
    assert sorted((l["client"], l["kind"], l["direction"], l["outcome"]) for l in ladders) == sorted(
        (one, kind, direction, "confirmed")
        for one in clients
        for kind, direction in (("mtls", "connector-to-frontend"), ("mtls", "frontend-to-connector"), ("tls-kerberos", ""))
    )


def _serial_zero_java_home(tmp_path: Path) -> Path:
    """A JDK whose cacerts holds a root with serial number 0, as Debian's real one does (Go Daddy, Starfield…)."""
    openssl = require_tool("openssl")
    key, pem = tmp_path / "zero.key", tmp_path / "zero.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(pem),
                    "-subj", "/CN=Serial Zero Root", "-days", "30", "-set_serial", "0"], check=True, capture_output=True)
    home = tmp_path / "jdk"
    keytool_import(home / "lib" / "security" / "cacerts", alias="serialzero", certificate=read_certificate(pem),
                   password="changeit", storetype="jks")
    return home


@pytest.mark.interop
def test_a_root_with_serial_zero_in_cacerts_brings_no_warning_to_check_or_scenarios(tmp_path: Path) -> None:
    env = {**os.environ, "JAVA_HOME": str(_serial_zero_java_home(tmp_path))}
    assert ucclab("replay", "mtls", "--workdir", str(tmp_path / "lab")).returncode == 0
    files = tmp_path / "lab" / "artifacts"
    # No trust store: JSSE falls back to cacerts, where the serial-0 root is read.
    checked = subprocess.run([*UCCLAB, "check", "--args", r"-cert_store_file C:\x\GenesysServer_Certficate.pfx "
                              "-cert_store_pass mnopqr -cert_store_type pkcs12", "--files", str(files),
                              "--frontend-cert", str(files / "CompanyA_Certificate.cer"), "--json"],
                             capture_output=True, text=True, timeout=120, env=env)
    finding = next(f for f in json.loads(checked.stdout)["findings"] if f["code"] == "truststore-missing-ca")
    assert finding["evidence"]["anchors"] == ["CN=Serial Zero Root"]
    scenario = subprocess.run([*UCCLAB, "scenarios", "run", "no-trust-store-argument", "--workdir", str(tmp_path / "sc")],
                              capture_output=True, text=True, timeout=120, env=env)
    assert scenario.returncode == 0, scenario.stderr
    for run in (checked, scenario):
        assert "Warning" not in run.stderr and "serial number" not in run.stderr, run.stderr
