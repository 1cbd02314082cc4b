"""The container runtime against a real engine: page names on the lab network, the KDC's
port published once for UDP and TCP and reached by MIT kinit from the host, readiness,
failures named by host, and ``down`` leaving nothing behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.containers import (
    LABEL_WORKDIR,
    ContainerError,
    ContainerFailed,
    ContainerSpec,
    LogReady,
    Mount,
    RunningContainer,
    TcpReady,
    down,
    lab_containers,
    lab_name,
    start_lab_containers,
)
from harness.images import BuiltImage
from tests.conftest import require_tool
from tests.fakes.kdc_support import REALM, UCC_PASSWORD, MitClient, krb5_conf_text

pytestmark = pytest.mark.containers

# The KDC starts a second late so that readiness must wait for it rather than for the
# container: Docker's port proxy accepts connections before anything listens inside.
KDC_COMMAND = ["sh", "-c", (f"sleep 1; exec python3 -m fakes.kdc --realm {REALM} --host 0.0.0.0 --port 88 "
                            f"--account 'ocs-ucc:{UCC_PASSWORD}' --account 'FE01$:fe-Pw#1:sip/fe01.companya.com'")]

# Run in ucc01: a TGT and a service ticket from the KDC reached by its page name.
CLIENT_CODE = f"""
import asyncio, socket
from fakes.kerberos import KerberosClient
async def main():
    client = KerberosClient({REALM!r}, [("labdc01.companya.com", 88)])
    tgt = await client.get_tgt("ocs-ucc", {UCC_PASSWORD!r})
    ticket = await client.get_service_ticket(tgt, "sip/fe01.companya.com")
    print(socket.gethostbyname("labdc01.companya.com"), socket.getfqdn(), tgt.server, ticket.server)
asyncio.run(main())
"""


def kdc_specs(images: dict[str, BuiltImage]) -> list[ContainerSpec]:
    image = images["ucclab-standins"].tag
    return [
        ContainerSpec(host="labdc01", fqdn="labdc01.companya.com", image=image, command=KDC_COMMAND,
                      ports=[(88, "tcp"), (88, "udp")], ready=TcpReady(88)),
        ContainerSpec(host="ucc01", fqdn="ucc01.companya.com", image=image, command=["sleep", "infinity"]),
    ]


def assert_nothing_left(client: Any, workdir: Path) -> None:
    label = {"label": f"{LABEL_WORKDIR}={workdir.resolve()}"}
    assert client.containers.list(all=True, filters=label) == []
    assert client.networks.list(filters=label) == []
    assert client.networks.list(names=[lab_name(workdir)]) == []


def test_two_hosts_by_page_name_and_kinit_from_the_host(docker_engine: Any, lab_images: dict[str, BuiltImage],
                                                         lab_workdir: Path, tmp_path: Path) -> None:
    require_tool("kinit")
    lab = start_lab_containers(lab_workdir, kdc_specs(lab_images), timeout=60)
    dc, ucc = lab["labdc01"], lab["ucc01"]
    # Ready means listening: the KDC's line is in its log the moment start returns.
    assert "listening on 0.0.0.0 port 88 (UDP and TCP)" in dc.logs()
    assert dc.host_port(88, "tcp") == dc.host_port(88, "udp")
    assert dc.ip and ucc.ip and dc.ip != ucc.ip and dc.network == ucc.network == lab_name(lab_workdir)

    # One container reaches the other by its FQDN, and a real Kerberos exchange crosses.
    status, output = ucc.exec(["python3", "-c", CLIENT_CODE])
    assert status == 0, output
    assert output.split() == [dc.ip, "ucc01.companya.com", f"krbtgt/{REALM}", "sip/fe01.companya.com"]

    # MIT kinit on the host, over UDP and over TCP, to the one published port.
    port = dc.host_port(88, "udp")
    sent = {"udp": f"Sending initial UDP request to dgram 127.0.0.1:{port}",
            "tcp": f"Sending TCP request to stream 127.0.0.1:{port}"}
    for transport, other, libdefaults in (("udp", "tcp", ()), ("tcp", "udp", ("udp_preference_limit = 1",))):
        mit = MitClient(tmp_path / transport, krb5_conf_text(port, libdefaults=libdefaults))
        kinit = mit.kinit(f"ocs-ucc@{REALM}", UCC_PASSWORD)
        assert kinit.returncode == 0, kinit.stderr
        trace = (tmp_path / transport / "trace.log").read_text()
        assert sent[transport] in trace and sent[other] not in trace, trace
        assert f"Default principal: ocs-ucc@{REALM}" in mit.klist().stdout

    # Another process finds the same lab by its labels.
    found = lab_containers(lab_workdir)
    assert {h: (c.id, c.ip, c.ports) for h, c in found.items()} == {h: (c.id, c.ip, c.ports) for h, c in lab.items()}

    removed = down(lab_workdir)
    assert sorted(removed.containers) == sorted(c.name for c in lab.values())
    assert removed.networks == [lab_name(lab_workdir)]
    assert_nothing_left(docker_engine, lab_workdir)


def test_a_second_lab_on_the_same_workdir_is_refused(lab_images: dict[str, BuiltImage], lab_workdir: Path) -> None:
    spec = ContainerSpec(host="ucc01", fqdn="ucc01.companya.com", image=lab_images["ucclab-standins"].tag,
                         command=["sleep", "infinity"])
    start_lab_containers(lab_workdir, [spec], timeout=30)
    with pytest.raises(ContainerError, match="a lab already runs for .*ucclab down --workdir"):
        start_lab_containers(lab_workdir, [spec], timeout=30)
    assert len(lab_containers(lab_workdir)) == 1  # the refusal removed nothing of the running lab


def test_a_host_that_dies_is_named_with_its_last_log_lines(docker_engine: Any, lab_images: dict[str, BuiltImage],
                                                           lab_workdir: Path) -> None:
    image = lab_images["ucclab-standins"].tag
    specs = [ContainerSpec(host="labdc01", fqdn="labdc01.companya.com", image=image,
                           command=["python3", "-m", "fakes.kdc", "--no-such-option"],
                           ports=[(88, "tcp")], ready=TcpReady(88)),
             ContainerSpec(host="ucc01", fqdn="ucc01.companya.com", image=image, command=["sleep", "infinity"])]
    with pytest.raises(ContainerFailed) as failed:
        start_lab_containers(lab_workdir, specs, timeout=60)
    assert failed.value.host == "labdc01"
    assert "container of host labdc01 is exited (exit status 2)" in str(failed.value)
    assert "unrecognized arguments: --no-such-option" in str(failed.value)
    assert_nothing_left(docker_engine, lab_workdir)  # a failed start leaves nothing behind


def test_a_host_never_ready_times_out_and_a_dead_one_is_seen_later(docker_engine: Any,
                                                                    lab_images: dict[str, BuiltImage],
                                                                    lab_workdir: Path) -> None:
    image = lab_images["ucclab-standins"].tag
    silent = ContainerSpec(host="fe01", fqdn="fe01.companya.com", image=image,
                           command=["sh", "-c", "echo starting; exec sleep infinity"],
                           ports=[(5061, "tcp")], ready=TcpReady(5061))
    with pytest.raises(ContainerFailed, match=r"(?s)host fe01 was not ready after 2 s \(nothing accepted TCP port 5061\).*starting"):
        start_lab_containers(lab_workdir, [silent], timeout=2)
    assert_nothing_left(docker_engine, lab_workdir)

    # A host that dies after it was ready: check_running names it and its last lines.
    short = ContainerSpec(host="fe01", fqdn="fe01.companya.com", image=image,
                          command=["sh", "-c", "echo serving; exec sleep infinity"],
                          ready=LogReady("^serving$"))
    lab = start_lab_containers(lab_workdir, [short], timeout=30)
    lab["fe01"].client.containers.get(lab["fe01"].id).kill()
    with pytest.raises(ContainerFailed, match=r"(?s)host fe01 is exited.*serving"):
        lab["fe01"].check_running()


def test_an_image_not_in_the_engine_is_named(docker_engine: Any, lab_workdir: Path) -> None:
    spec = ContainerSpec(host="fe01", fqdn="fe01.companya.com", image="ucclab-no-such-image:never", command=["true"])
    with pytest.raises(ContainerError, match="image 'ucclab-no-such-image:never' of host fe01 is not in the engine: "
                                             "ucclab image build"):
        start_lab_containers(lab_workdir, [spec], timeout=10)
    assert_nothing_left(docker_engine, lab_workdir)


def test_mounts_and_the_calling_user(lab_images: dict[str, BuiltImage], lab_workdir: Path) -> None:
    state = lab_workdir / "state"
    state.mkdir()
    (state / "in.txt").write_text("from the host\n")
    spec = ContainerSpec(host="gcfg01", fqdn="gcfg01.companya.com", image=lab_images["ucclab-standins"].tag,
                         command=["sh", "-c", "cat /lab/state/in.txt > /lab/state/out.txt; id -u; exec sleep infinity"],
                         mounts=[Mount(state, "/lab/state")], env={"UCCLAB_TEST": "1"}, ready=LogReady(r"^\d+$"))
    lab = start_lab_containers(lab_workdir, [spec], timeout=30)
    assert (state / "out.txt").read_text() == "from the host\n"
    assert (state / "out.txt").stat().st_uid == os.getuid()
    assert lab["gcfg01"].exec(["sh", "-c", "echo $UCCLAB_TEST; hostname; hostname -d"]) == (0, "1\ngcfg01\ncompanya.com\n")


def test_cli_down_with_nothing_running_exits_0(tmp_path: Path, docker_engine: Any,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["down", "--workdir", str(tmp_path)]) == 0
    assert "nothing of this lab was running" in capsys.readouterr().err


def test_cli_down_removes_a_running_lab(lab_images: dict[str, BuiltImage], lab_workdir: Path, docker_engine: Any,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = ContainerSpec(host="ucc01", fqdn="ucc01.companya.com", image=lab_images["ucclab-standins"].tag,
                         command=["sleep", "infinity"])
    lab: dict[str, RunningContainer] = start_lab_containers(lab_workdir, [spec], timeout=30)
    assert main(["down", "--workdir", str(lab_workdir)]) == 0
    assert f"removed 1 containers: {lab['ucc01'].name}" in capsys.readouterr().err
    assert_nothing_left(docker_engine, lab_workdir)


def test_cli_down_without_engine_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    assert main(["down", "--workdir", str(tmp_path)]) == 2
    assert "cannot reach the Docker engine" in capsys.readouterr().err


@pytest.mark.parametrize("specs, message", [
    ([ContainerSpec("fe01", "fe01.companya.com", "i", ["true"]), ContainerSpec("fe01", "fe02.companya.com", "i", ["true"])],
     "two specs for one host: fe01"),
    ([ContainerSpec("FE_01", "fe01.companya.com", "i", ["true"])], "host name 'FE_01': lower-case letters"),
    ([ContainerSpec("fe01", "fe01.companya.com", "i", ["true"], ports=[(5061, "sctp")])], r"fe01: cannot publish 5061/sctp"),
    ([ContainerSpec("fe01", "fe01.companya.com", "i", ["true"], ports=[(5061, "tcp")], ready=TcpReady(5062))],
     "fe01: its ready check uses port 5062/tcp, which is not published"),
])
def test_unusable_specs_are_refused_before_anything_starts(specs: list[ContainerSpec], message: str, tmp_path: Path) -> None:
    with pytest.raises(ContainerError, match=message):
        start_lab_containers(tmp_path, specs)
