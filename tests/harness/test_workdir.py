"""The lab's folder: one lab at a time, restarts that follow the new ports, damaged files
redone, and folders no other local user can write into — as ``ucclab`` runs them."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from harness.artifacts import read_pfx
from harness.lab import LabError
from tests.conftest import require_tool
from tests.harness.running_lab import up

UCCLAB = [sys.executable, "-m", "harness.cli"]


def ucclab(*args: str, timeout: float = 120, umask: int | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    preexec = (lambda: os.umask(umask)) if umask is not None else None  # noqa: E731
    return subprocess.run([*UCCLAB, *args], capture_output=True, text=True, timeout=timeout, preexec_fn=preexec, env=env)


# -- one lab per folder --------------------------------------------------------------------------


def test_a_second_lab_on_a_folder_in_use_is_refused_naming_the_first(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    with up(workdir, "--blank") as first:
        published = first.wait_serving()
        before = (workdir / "lab.json").read_bytes()
        for command in (["replay", "mtls"], ["up", "--blank"]):
            run = ucclab(*command, "--workdir", str(workdir), timeout=60)
            assert run.returncode == 2, run.stderr
            assert f"{workdir} is in use by another lab (pid {first.proc.pid}, `" in run.stderr
            assert f"up --workdir {workdir} --blank`" in run.stderr and "Stop that lab first" in run.stderr
            assert "Traceback" not in run.stderr
        # The first lab was left alone: its lab.json untouched, its endpoints still answer.
        assert (workdir / "lab.json").read_bytes() == before
        with socket.create_connection(("127.0.0.1", published["endpoints"]["frontend"]["port"]), timeout=5):
            pass
        first.stop(signal.SIGTERM)
    assert (workdir / "lab.lock").read_text() == ""  # a clean stop leaves no holder behind
    assert ucclab("replay", "mtls", "--workdir", str(workdir)).returncode == 0


def test_the_lock_of_a_killed_lab_does_not_block(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    with up(workdir, "--blank") as killed:
        killed.wait_serving()
        killed.proc.kill()  # SIGKILL: no clean-up at all
        killed.proc.communicate(timeout=30)
    assert f'"pid": {killed.proc.pid}' in (workdir / "lab.lock").read_text()

    run = ucclab("replay", "mtls", "--workdir", str(workdir), "--json")
    assert run.returncode == 0, run.stderr
    notes = json.loads(run.stdout)["setup"]
    assert any(n.startswith(f"lab.lock: the lab of pid {killed.proc.pid}, ") and "did not stop cleanly" in n for n in notes)


def test_a_lock_file_naming_a_dead_pid_does_not_block(ucclab_lab_factory, tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    workdir.mkdir()
    (workdir / "lab.lock").write_text(json.dumps({"pid": 999999999, "command": "ucclab up"}) + "\n")
    lab = ucclab_lab_factory(workdir=workdir)
    assert any("pid 999999999" in note for note in lab.lab.setup_notes)


def test_the_pytest_plugins_labs_take_the_lock(ucclab_lab_factory, tmp_path: Path) -> None:
    first = ucclab_lab_factory(workdir=tmp_path / "shared")
    with pytest.raises(LabError, match=rf"in use by another lab \(pid {os.getpid()}, "):
        ucclab_lab_factory(workdir=tmp_path / "shared")
    assert first.replay("mtls").outcome == "confirmed"  # the first lab is unharmed


# -- restart on the same folder ------------------------------------------------------------------


@contextmanager
def _holding(port: int) -> Iterator[dict[int, socket.socket]]:
    """Keep ``port`` (TCP and UDP) taken, so a restarted KDC cannot get it back; the
    sockets by kind, to let one go early."""
    with ExitStack() as stack:
        held = {}
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            held[kind] = stack.enter_context(socket.socket(socket.AF_INET, kind))
            held[kind].bind(("127.0.0.1", port))
        yield held


def _kinit(conf: Path, lab_json: dict, cache: Path) -> subprocess.CompletedProcess[str]:
    kerberos = lab_json["kerberos"]
    env = {**os.environ, "KRB5_CONFIG": str(conf), "KRB5CCNAME": f"FILE:{cache}"}
    return subprocess.run([require_tool("kinit"), kerberos["ucc_principal"]], input=kerberos["ucc_password"] + "\n",
                          env=env, capture_output=True, text=True, timeout=90)


@pytest.mark.interop
def test_a_restart_moves_krb5_conf_to_the_new_kdc_port_and_mit_kinit_logs_in(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    conf = workdir / "artifacts" / "krb5.conf"
    with up(workdir) as first:
        before = first.wait_serving()
        first.stop(signal.SIGTERM)
    old_kdc = before["kerberos"]["kdc"]
    assert f"kdc = {old_kdc}\n" in conf.read_text()
    last_runs = shutil.copy(conf, tmp_path / "last-run-krb5.conf")

    with _holding(before["endpoints"]["kdc"]["port"]) as held, up(workdir) as second:
        after = second.wait_serving()
        # The KDC has its new port: a kinit sent to the old one is now refused at once (ICMP
        # port unreachable) instead of waiting out MIT's retries to a socket that never answers.
        held[socket.SOCK_DGRAM].close()
        new_kdc = after["kerberos"]["kdc"]
        assert new_kdc != old_kdc
        text = conf.read_text()
        assert f"kdc = {new_kdc}\n" in text and old_kdc not in text
        assert text == Path(last_runs).read_text().replace(old_kdc, new_kdc)  # only the KDC line changed
        assert stat.S_IMODE(conf.stat().st_mode) == 0o644

        logged_in = _kinit(conf, after, tmp_path / "cc-new")
        assert logged_in.returncode == 0, logged_in.stderr
        stale = _kinit(Path(last_runs), after, tmp_path / "cc-old")  # what the file said before the fix
        assert stale.returncode != 0
        assert "Cannot contact any KDC for realm 'COMPANYA.COM'" in stale.stderr
        err = second.stop(signal.SIGTERM)
    assert f"note: artifacts/krb5.conf: the KDC listens on {new_kdc} now (last run {old_kdc}); its kdc line follows" in err
    assert "read back intact: reusing them" in err


def test_a_damaged_artifact_is_named_and_made_again(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    pfx = workdir / "artifacts" / "GenesysServer_Certficate.pfx"
    with up(workdir) as first:
        first.wait_serving()
        first.stop(signal.SIGTERM)
    whole = pfx.read_bytes()
    pfx.write_bytes(whole[: len(whole) // 2])  # a copy cut short

    with up(workdir) as second:
        second.wait_serving()
        err = second.stop(signal.SIGTERM)
    assert "not reusable: artifacts/GenesysServer_Certficate.pfx (ucc-pfx): broken PKCS#12 structure" in err
    assert "(truncated)" in err and "replaying the page to make its files again" in err
    assert "reusing them" not in err
    assert read_pfx(pfx, "mnopqr").private_key is not None  # made again, whole
    assert "Generating the Server Certificate Using Skype for Business Management Shell, step 5: exported" in err
    assert "the replay did not confirm the link" not in err


# -- modes under any umask ---------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_labs_folders_are_0700_under_umask_000(tmp_path: Path) -> None:
    workdir = tmp_path / "made" / "for" / "lab"
    run = ucclab("replay", "all", "--workdir", str(workdir), umask=0o000)
    assert run.returncode == 0, run.stderr
    for folder in (tmp_path / "made", tmp_path / "made" / "for", workdir, workdir / "artifacts", workdir / "logs",
                   workdir / "state"):
        assert _mode(folder) == 0o700, folder
    assert _mode(workdir / "lab.json") == 0o600
    assert _mode(workdir / "artifacts" / "GenesysServer_Certficate.pfx") == 0o600
    assert _mode(workdir / "artifacts" / "UCC_store.jks") == 0o600
    # Public files keep 0644 — inside folders only their owner can enter or change.
    assert _mode(workdir / "artifacts" / "krb5.conf") == 0o644


def test_a_lab_folder_left_open_by_an_earlier_run_is_closed_on_restart(tmp_path: Path) -> None:
    workdir = tmp_path / "lab"
    assert ucclab("replay", "mtls", "--workdir", str(workdir)).returncode == 0
    for folder in (workdir, workdir / "artifacts", workdir / "logs", workdir / "state"):
        os.chmod(folder, 0o777)  # as the lab used to leave them under umask 000
    assert ucclab("replay", "mtls", "--workdir", str(workdir), umask=0o000).returncode == 0
    assert _mode(workdir) == 0o755
    for folder in (workdir / "artifacts", workdir / "logs", workdir / "state"):
        assert _mode(folder) == 0o700, folder


def test_a_folder_of_the_users_that_is_not_a_lab_yet_keeps_its_mode(tmp_path: Path) -> None:
    workdir = tmp_path / "shared"
    workdir.mkdir()
    os.chmod(workdir, 0o750)
    assert ucclab("replay", "mtls", "--workdir", str(workdir), umask=0o000).returncode == 0
    assert _mode(workdir) == 0o750
    assert _mode(workdir / "artifacts") == 0o700


def test_a_secured_port_a_stand_in_holds_after_a_restart_is_moved(ucclab_lab_factory, tmp_path: Path) -> None:
    """The Application's Secured port was free in the last run; this run's Front End got its number."""
    workdir = tmp_path / "lab"
    first = ucclab_lab_factory(workdir=workdir)
    assert first.replay("mtls").outcome == "confirmed"
    first.stop()
    second = ucclab_lab_factory(workdir=workdir)
    lab = second.lab
    taken = lab.frontend.port

    async def secured_port(set_to: int | None = None) -> int:
        async with lab.configserver_client() as cfg:
            app = await cfg.find_application(lab.topology.application_name)
            [port] = [p for p in app.port_infos if p.id == "lync-tls"]
            if set_to is not None:
                app.port_infos = [dataclasses.replace(port, port=set_to)]
                await cfg.update_application(app)
            return port.port

    second.run(secured_port(set_to=taken))  # as if the OS had handed the Front End that number
    second.run(lab._follow_moved_ports())
    moved = second.run(secured_port())
    assert moved != taken and moved not in {lab.kdc.port, lab.certsrv.port, lab.configserver.port}
    assert f"the Application's port lync-tls ({taken}) is a stand-in's port in this run: moved to {moved}" in lab.setup_notes
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", moved))  # free for the connector to listen on


def test_the_scenarios_folder_and_their_labs_are_0700_under_umask_000(tmp_path: Path) -> None:
    root = tmp_path / "scenarios"
    # The machine's key cache, made by this run: it holds the CA every scenario's lab copies.
    run = ucclab("scenarios", "run", "page-taken-literally", "--workdir", str(root), umask=0o000,
                 env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr
    keys = tmp_path / "cache" / "ucclab" / "keys"
    [ca_seed] = keys.glob("ca-*")
    for folder in (root, keys, ca_seed, root / "page-taken-literally", root / "page-taken-literally" / "artifacts"):
        assert _mode(folder) == 0o700, folder
    key_files = list(keys.glob("*.pem")) + list(ca_seed.glob("*.key"))
    assert key_files and all(_mode(key) == 0o600 for key in key_files), key_files
