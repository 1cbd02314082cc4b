"""``ucclab progress``: the page's checklist read from a running lab (``ucclab up`` in a process of
its own), the trainee's work done by hand (``ucclab host``, real keytool, the Configuration
Server's API), by a replay, or a customer's fault put in place (``up --scenario``)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.attach import AttachedLab
from harness.progress import RULES
from harness.procedures import PROCEDURES
from tests.conftest import require_tool
from tests.harness.running_lab import fingerprint, host, running_lab, ucclab

MTLS_ARGS = "Modifying Command Line Arguments for MTLS"
PASSWORD = '(ConvertTo-SecureString "mnopqr" -AsPlainText -Force)'


def progress(workdir: Path) -> tuple[int, dict[str, Any]]:
    done = ucclab("progress", "--workdir", str(workdir), "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def by_step(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(s["heading"], s["step"]): s for s in document["steps"]}


def handshakes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h.get("direction") or h["kind"]: h for h in document["handshakes"]}


def cursors(workdir: Path) -> dict[str, int]:
    async def read() -> dict[str, int]:
        async with AttachedLab(workdir) as lab:
            return {name: await client.cursor() for name, client in lab.admin.items()}

    return asyncio.run(read())


def test_every_step_has_a_rule() -> None:
    for procedure in PROCEDURES.values():
        for step in procedure.steps:
            assert step.id in RULES and RULES[step.id].text, step.id


def test_blank_lab_then_a_replay_into_it(tmp_path: Path) -> None:
    """The trainee's start: every step to do; ``replay all --attach`` finishes the page: every
    step done, and the handshakes as the replay judged them. Reading changes nothing."""
    with running_lab(tmp_path / "lab", "--blank") as lab:
        before, seen = fingerprint(lab), cursors(lab)
        code, blank = progress(lab)
        assert code == 1
        assert {s["status"] for s in blank["steps"]} == {"todo"}
        assert len(blank["steps"]) == 37 and blank["pfx_source"] == "shell"
        assert [h["status"] for h in blank["handshakes"]] == ["not-seen"] * 3
        assert fingerprint(lab) == before and cursors(lab) == seen  # no file written, no request to a stand-in

        replay = ucclab("replay", "all", "--attach", str(lab), "--json")
        assert replay.returncode in (0, 1), replay.stderr
        replayed = json.loads(replay.stdout)
        code, after = progress(lab)
        assert [(s["heading"], s["step"]) for s in after["steps"] if s["status"] != "done"] == []
        assert all(s["diagnosis"] is None for s in after["steps"])
        by_direction = {h.get("direction") or h["kind"]: h["outcome"] for h in replayed["handshakes"]}
        judged = handshakes(after)
        assert {key: judged[key]["status"] for key in by_direction} == by_direction
        assert code == (0 if replayed["outcome"] == "confirmed" else 1)
        assert by_step(after)[(MTLS_ARGS, "2")]["note"].endswith("the Application's arguments hold the TLS set now")


def test_a_scenario_is_named_until_fixed_and_confirmed_once_rerun(tmp_path: Path) -> None:
    """``up --scenario wrong-truststore-password``: the fault at its step, with its code, in the
    checklist and in the last handshake; fixed on the Application as the Configuration
    Server's console would, the step is done; the connector started again, the handshakes
    are confirmed."""
    with running_lab(tmp_path / "lab", "--scenario", "wrong-truststore-password") as lab:
        code, staged = progress(lab)
        assert code == 1
        step = by_step(staged)[(MTLS_ARGS, "2")]
        assert step["status"] == "wrong" and step["diagnosis"]["code"] == "truststore-wrong-password"
        assert "keystore password was incorrect" in step["diagnosis"]["why"] and step["diagnosis"]["fix"]
        assert [s["step"] for s in staged["steps"] if s["status"] == "wrong"] == ["2"]
        register = handshakes(staged)["connector-to-frontend"]
        assert register["status"] == "rejected"
        assert [d["code"] for d in register["diagnoses"]] == ["truststore-wrong-password"]

        async def fix() -> None:
            async with AttachedLab(lab) as attached:
                assert attached.manifest is not None
                password = attached.manifest.get("truststore").password  # type: ignore[union-attr]
                async with attached.configserver_client() as cfg:
                    app = await cfg.find_application(attached.topology.application_name)
                    assert app is not None
                    app.command_line_arguments = app.command_line_arguments.replace(
                        "-key_store_pass mnopqr", f"-key_store_pass {password}")
                    await cfg.update_application(app)

        asyncio.run(fix())
        _, fixed = progress(lab)
        assert by_step(fixed)[(MTLS_ARGS, "2")]["status"] == "done"
        assert handshakes(fixed)["connector-to-frontend"]["status"] == "rejected"  # the last one seen, before the fix

        # The connector started again as fixed (no step of the page redone for the trainee).
        rerun = ucclab("connect", "mtls", "--workdir", str(lab), "--json")
        assert rerun.returncode == 0, rerun.stderr
        _, confirmed = progress(lab)
        judged = handshakes(confirmed)
        assert judged["connector-to-frontend"]["status"] == judged["frontend-to-connector"]["status"] == "confirmed"
        assert judged["tls-kerberos"]["status"] == "not-seen"
        assert not [s for s in confirmed["steps"] if s["status"] == "wrong"]


def test_a_scenario_starts_in_a_new_folder(tmp_path: Path) -> None:
    unknown = ucclab("up", "--scenario", "no-such-scenario", "--workdir", str(tmp_path / "lab"))
    assert unknown.returncode == 2 and "no scenario named 'no-such-scenario'" in unknown.stderr
    mixed = ucclab("up", "--scenario", "wrong-truststore-password", "--blank", "--workdir", str(tmp_path / "lab"))
    assert mixed.returncode == 2 and "drop --blank" in mixed.stderr
    (tmp_path / "used" / "state").mkdir(parents=True)
    used = ucclab("up", "--scenario", "wrong-truststore-password", "--workdir", str(tmp_path / "used"))
    assert used.returncode == 2 and "a scenario starts in a new folder" in used.stderr


@pytest.mark.interop
def test_a_trainee_by_hand_with_the_windows_hosts_and_keytool(tmp_path: Path) -> None:
    """The trust store's procedures done by hand: the Front End's root exported with
    ``ucclab host``, imported with the real keytool in the connector's etc folder."""
    keytool = require_tool("keytool")
    with running_lab(tmp_path / "lab", "--blank") as lab:
        exported = host(lab, "fe01", "Get-ChildItem Cert:\\LocalMachine\\Root | Export-Certificate -Type CERT -FilePath "
                                     "\\\\ucc01\\C$\\GCTI\\UCConnector\\UCC_Lync\\etc\\UCC_Certificate.cer")
        assert exported.exit_code == 0, exported.stderr
        etc = lab / "artifacts"
        imported = subprocess.run([keytool, "-import", "-noprompt", "-alias", "ucc-cert", "-file", "UCC_Certificate.cer",
                                   "-keystore", "UCC_store.jks", "-storepass", "genesys"], cwd=etc, capture_output=True,
                                  text=True, check=False)
        assert imported.returncode == 0, imported.stderr
        _, document = progress(lab)
        steps = by_step(document)
        trusted = "Exporting the Trusted Certificate from the Lync Skype for Business Host"
        installation = "Adding the Certificate to the UC Connector Installation"
        assert [steps[(trusted, n)]["status"] for n in "12345"] == ["done"] * 5
        assert [steps[(installation, n)]["status"] for n in "1234"] == ["done"] * 4
        assert steps[(installation, "3")]["note"] is None
        # A store whose password nothing names yet: there, its contents checked once it is named.
        subprocess.run([keytool, "-import", "-noprompt", "-alias", "ucc-cert", "-file", "UCC_Certificate.cer",
                        "-keystore", "MYSTORE.jks", "-storepass", "secret-1"], cwd=etc, capture_output=True, check=True)
        (etc / "UCC_store.jks").unlink()
        _, document = progress(lab)
        step = by_step(document)[(installation, "3")]
        assert step["status"] == "done" and "no password the lab knows opens it yet" in step["note"]
        # The page's DES option, set on the domain controller: wrong, with its code.
        assert host(lab, "labdc01", "Set-ADAccountControl -Identity ocs-ucc -UseDESKeyOnly $true").exit_code == 0
        _, document = progress(lab)
        des = by_step(document)[("Configuring Kerberos Security in Active Directory", "3")]
        assert des["status"] == "wrong" and des["diagnosis"]["code"] == "krb-des-disabled"


def test_the_shell_way_by_hand_up_to_the_pfx(tmp_path: Path) -> None:
    with running_lab(tmp_path / "lab", "--blank") as lab:
        literal = ('Request-CsCertificate -New -Type Default -FriendlyName "GenesysServerCertificate" '
                   '-CA "labdc01.companya.com\\companya-LABDC01-CA" -ComputerFQDN ucc01.companya.com-Verbose')
        assert host(lab, "fe01", literal).exit_code == 0
        _, document = progress(lab)
        shell = "Generating the Server Certificate Using Skype for Business Management Shell"
        request = by_step(document)[(shell, "1")]
        assert request["status"] == "wrong" and request["diagnosis"]["code"] == "cert-name-mismatch"
        assert host(lab, "fe01", literal.replace("-Verbose", " -PrivateKeyExportable $true")).exit_code == 0
        exported = host(lab, "fe01", "Get-ChildItem Cert:\\LocalMachine\\My | Where-Object { $_.Subject -eq "
                                     "'CN=ucc01.companya.com' } | Export-PfxCertificate -FilePath C:\\out\\GenesysServer_Certficate.pfx "
                                     f"-Password {PASSWORD}")
        assert exported.exit_code == 0, exported.stderr
        _, document = progress(lab)
        steps = by_step(document)
        assert [steps[(shell, n)]["status"] for n in "123456"] == ["done"] * 6
        assert steps[(MTLS_ARGS, "2")]["status"] == "todo"
        assert document["pfx_source"] == "shell"


def test_connect_starts_the_connector_as_configured_and_names_what_is_missing(tmp_path: Path) -> None:
    """``ucclab connect`` on a blank lab: no step done for the trainee, the handshakes refused
    with what the page's steps would have given; ``progress`` then shows them as last seen."""
    with running_lab(tmp_path / "lab", "--blank") as lab:
        before = fingerprint(lab)
        started = ucclab("connect", "mtls", "--workdir", str(lab), "--json")
        assert started.returncode == 1, started.stderr
        document = json.loads(started.stdout)
        assert document["transcript"] == [] and document["outcome"] == "not-confirmed"
        assert document["setup"] == ["the Application's Command Line Arguments hold neither the MTLS nor the TLS set"]
        assert [(h["direction"], h["outcome"]) for h in document["handshakes"]] == [
            ("connector-to-frontend", "rejected"), ("frontend-to-connector", "error")]
        codes = {d["code"] for d in document["diagnoses"]}
        assert {"client-certificate-missing", "secure-port-missing"} <= codes
        missing = next(d for d in document["diagnoses"] if d["code"] == "client-certificate-missing")
        assert missing["doc_step"] == "Modifying Command Line Arguments for MTLS, step 2"
        assert "outcome: not-confirmed" in started.stderr
        # Nothing of the trainee's was changed: no file written, no Application touched.
        assert fingerprint(lab) == before
        _, after = progress(lab)
        assert handshakes(after)["connector-to-frontend"]["status"] == "rejected"
        # After the whole page, the Application holds the TLS set: the connector runs with it.
        assert ucclab("replay", "all", "--attach", str(lab)).returncode == 0
        as_configured = ucclab("connect", "--workdir", str(lab), "--json")
        assert as_configured.returncode == 0, as_configured.stderr
        document = json.loads(as_configured.stdout)
        assert [h["kind"] for h in document["handshakes"]] == ["tls-kerberos"]
        assert "note: the Application's Command Line Arguments are set for tls-kerberos: connected so" in as_configured.stderr
        forced = ucclab("connect", "mtls", "--workdir", str(lab), "--json")
        assert forced.returncode == 1
        assert json.loads(forced.stdout)["setup"] == [
            "the Application's Command Line Arguments are set for tls-kerberos: the connector starts with them whatever the path"]
    missing = ucclab("connect", "--workdir", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "lab.json" in missing.stderr


def test_without_the_application_connect_says_so_and_nothing_recreates_it(tmp_path: Path) -> None:
    """The Application deleted in the Configuration Server: ``connect`` names what is missing
    (exit 2), and neither it, ``progress`` nor ``host`` brings the Application back."""

    async def application(delete: bool = False) -> Any:
        async with AttachedLab(lab) as attached, attached.configserver_client() as cfg:
            app = await cfg.find_application(attached.topology.application_name)
            if delete and app is not None:
                await cfg.delete_application(app.dbid)
            return app

    with running_lab(tmp_path / "lab", "--blank") as lab:
        assert asyncio.run(application(delete=True)) is not None
        started = ucclab("connect", "--workdir", str(lab))
        assert started.returncode == 2 and "the Configuration Server holds no Application named 'UCC_Lync'" in started.stderr
        _, document = progress(lab)
        assert by_step(document)[(MTLS_ARGS, "2")]["status"] == "todo"
        assert host(lab, "fe01", "Get-ChildItem Cert:\\LocalMachine\\My").exit_code == 0
        assert asyncio.run(application()) is None
        # A replay into the lab meets the page's prerequisite: it creates the Application.
        assert ucclab("replay", "mtls", "--attach", str(lab)).returncode == 0
        assert asyncio.run(application()) is not None


def test_a_scenario_of_both_clients_is_staged_with_the_labs_own_connector(tmp_path: Path) -> None:
    """``connector-certificate-revoked`` runs the stand-in and the real JDK as a scenario; in the
    sandbox it is staged with the lab's own connector, whose records ``progress`` reads: the
    Front End's refusal named, and the push it answered confirmed."""
    with running_lab(tmp_path / "lab", "--scenario", "connector-certificate-revoked") as lab:
        _, staged = progress(lab)
        judged = handshakes(staged)
        assert judged["connector-to-frontend"]["status"] == "rejected"
        assert [d["code"] for d in judged["connector-to-frontend"]["diagnoses"]] == ["cert-revoked"]
        assert judged["frontend-to-connector"]["status"] == "confirmed"
