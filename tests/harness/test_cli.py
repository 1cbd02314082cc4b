"""The ``ucclab`` command as a user runs it: a real process, exit codes, JSON on stdout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

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
