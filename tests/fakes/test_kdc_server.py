"""The KDC's UDP and TCP shell over real sockets: one port for both, RFC 4120 §7.2.2 framing,
thousands of garbage, truncated and mutated packets without a crash, and the command line."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.kdc import Account, KdcCore, load_accounts_file, main, parse_account_spec
from fakes.kerberos import (
    JAVA_WEAK_CRYPTO_ENCTYPES,
    AsExchange,
    ErrorCode,
    KerberosClient,
    KerberosError,
    KrbError,
    TgsExchange,
)
from tests.conftest import require_tool

from .kdc_support import FRONTEND_SPN, REALM, UCC_PASSWORD, MitClient, RunningKdc, krb5_conf_text, lab_accounts

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def kdc() -> Iterator[RunningKdc]:
    running = RunningKdc(KdcCore(REALM, lab_accounts()))
    yield running
    running.stop()


def udp_exchange(port: int, packet: bytes, timeout: float = 0.3) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, ("127.0.0.1", port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def tcp_exchange(port: int, raw: bytes, timeout: float = 2.0) -> bytes:
    """Send raw bytes (framing included) and read until the KDC closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := sock.recv(65535):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return received


def framed(message: bytes) -> bytes:
    return struct.pack(">I", len(message)) + message


def our_login(port: int, **options) -> str:
    async def run() -> str:
        client = KerberosClient(REALM, [("127.0.0.1", port)], **options)
        tgt = await client.get_tgt("ocs-ucc", UCC_PASSWORD)
        return (await client.get_service_ticket(tgt, FRONTEND_SPN)).server_principal

    return asyncio.run(run())


def test_udp_and_tcp_share_one_port(kdc: RunningKdc) -> None:
    assert kdc.server.udp_port == kdc.server.tcp_port == kdc.port
    request = AsExchange("ocs-ucc", REALM, UCC_PASSWORD).request()
    over_udp = udp_exchange(kdc.port, request)
    over_tcp = tcp_exchange(kdc.port, framed(request))
    assert over_udp is not None and KrbError.from_der(over_udp).error_code == ErrorCode.KDC_ERR_PREAUTH_REQUIRED
    (length,) = struct.unpack(">I", over_tcp[:4])
    assert length == len(over_tcp) - 4 and over_tcp[4] == 0x7E


def test_tcp_carries_several_requests_on_one_connection(kdc: RunningKdc) -> None:
    first = AsExchange("ocs-ucc", REALM, UCC_PASSWORD).request()
    second = AsExchange("nobody", REALM, "x").request()
    received = tcp_exchange(kdc.port, framed(first) + framed(second))
    (length,) = struct.unpack(">I", received[:4])
    rest = received[4 + length:]
    assert KrbError.from_der(rest[4:]).error_code == ErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN


def test_oversized_tcp_length_gets_field_toolong_and_a_close(kdc: RunningKdc) -> None:
    for length in (0x7FFFFFFF, 0x80000010, 10 * 1024 * 1024):
        received = tcp_exchange(kdc.port, struct.pack(">I", length) + b"abc")
        error = KrbError.from_der(received[4:])
        assert error.error_code == ErrorCode.KRB_ERR_FIELD_TOOLONG
    assert kdc.events[-1].request == "oversized"


def test_garbage_over_udp_and_tcp_and_the_kdc_keeps_serving(kdc: RunningKdc) -> None:
    generator = random.Random(7212)
    samples = [AsExchange("ocs-ucc", REALM, UCC_PASSWORD).request()]
    packets: list[bytes] = [b"", b"\x00", b"GET / HTTP/1.0\r\n\r\n", b"\x6a\x84\xff\xff\xff\xff"]
    for sample in samples:
        packets += [sample[:cut] for cut in range(1, len(sample))]
        for _ in range(1500):
            mutated = bytearray(sample)
            for _ in range(generator.randint(1, 5)):
                mutated[generator.randrange(len(mutated))] = generator.randrange(256)
            packets.append(bytes(mutated))
    packets += [generator.randbytes(generator.randint(1, 1400)) for _ in range(500)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in packets:
            sock.sendto(packet, ("127.0.0.1", kdc.port))
    # TCP: framed garbage, truncated frames and bare bytes, each on its own connection.
    for packet in packets[::12]:
        tcp_exchange(kdc.port, framed(packet), timeout=1)
        tcp_exchange(kdc.port, framed(packet)[: max(1, len(packet) // 2)], timeout=1)
    assert our_login(kdc.port) == f"{FRONTEND_SPN}@{REALM}"  # still serving (waits for the UDP backlog)
    assert our_login(kdc.port, udp_preference_limit=1) == f"{FRONTEND_SPN}@{REALM}"
    kinds = {e.request for e in kdc.events}
    assert "malformed" in kinds and "internal-error" not in kinds


def test_mit_kinit_after_garbage(tmp_path: Path, kdc: RunningKdc) -> None:
    require_tool("kinit")
    udp_exchange(kdc.port, b"\x6a\x05garbage")
    tcp_exchange(kdc.port, framed(b"\x6c\x82\x01\x00\x30"))
    client = MitClient(tmp_path / "mit", krb5_conf_text(kdc.port))
    assert client.kinit(f"ocs-ucc@{REALM}", UCC_PASSWORD).returncode == 0
    assert client.kvno(FRONTEND_SPN).returncode == 0


def test_tgs_replay_over_the_wire(kdc: RunningKdc) -> None:
    async def tgt():
        return await KerberosClient(REALM, [("127.0.0.1", kdc.port)]).get_tgt("ocs-ucc", UCC_PASSWORD)

    request = TgsExchange(asyncio.run(tgt()), FRONTEND_SPN).request()
    first = udp_exchange(kdc.port, request)
    assert first is not None and first[0] == 0x6D
    assert udp_exchange(kdc.port, request) == first  # a retransmission: same answer


def test_account_specs_and_files(tmp_path: Path) -> None:
    account = parse_account_spec("FE01$:pw:sip/fe01.companya.com,HOST/fe01.companya.com")
    assert account.sam_account_name == "FE01$" and account.spns == ("sip/fe01.companya.com", "HOST/fe01.companya.com")
    assert parse_account_spec("ocs-ucc:pw") == Account("ocs-ucc", "pw")
    for bad in ("ocs-ucc", ":pw", "a:b:c:d"):
        with pytest.raises(ValueError, match="NAME:PASSWORD"):
            parse_account_spec(bad)
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps([{"sam_account_name": "ocs-ucc", "password": "a:b", "use_des_key_only": True}]))
    assert load_accounts_file(path) == [Account("ocs-ucc", "a:b", use_des_key_only=True)]
    path.write_text(json.dumps([{"sam_account_name": "x", "password": "p", "colour": "blue"}]))
    with pytest.raises(ValueError, match="unknown fields"):
        load_accounts_file(path)


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["--account", "no-password"])
    assert usage.value.code == 2
    with pytest.raises(SystemExit) as unknown:
        main(["--account", "ocs-ucc:pw", "--use-des-key-only", "someone"])
    assert unknown.value.code == 2
    assert "no account named someone" in capsys.readouterr().err
    assert main(["--account", "ocs-ucc:a", "--account", "OCS-UCC:b"]) == 2


def test_python_m_fakes_kdc_serves_until_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fakes.kdc", "--realm", REALM, "--account", f"ocs-ucc:{UCC_PASSWORD}",
         "--account", f"FE01$:fe-pw:{FRONTEND_SPN}", "--account", "ocs-des:des-pw", "--use-des-key-only", "ocs-des"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["realm"] == REALM and ready["host"] == "127.0.0.1"
        assert ready["udp_port"] == ready["tcp_port"] > 0
        assert our_login(ready["udp_port"]) == f"{FRONTEND_SPN}@{REALM}"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        log = process.stderr.read()
        assert "accounts: ocs-ucc, FE01$, ocs-des, krbtgt" in log
        assert "TGS-REQ ocs-ucc@COMPANYA.COM -> sip/fe01.companya.com@COMPANYA.COM issued" in log
        assert UCC_PASSWORD not in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("des_enabled", [False, True], ids=["modern-dc", "des-enabled"])
def test_python_m_fakes_kdc_des_enabled(des_enabled: bool) -> None:
    """``--des-enabled`` is the domain's GPO allowing single DES; without it a DES-only
    account gets KDC_ERR_ETYPE_NOSUPP even from a client that offers DES."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fakes.kdc", "--account", "ocs-des:des-pw", "--use-des-key-only", "ocs-des",
         *(["--des-enabled"] if des_enabled else [])],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO, text=True,
    )
    try:
        assert process.stdout is not None
        port = json.loads(process.stdout.readline())["udp_port"]
        client = KerberosClient(REALM, [("127.0.0.1", port)], enctypes=JAVA_WEAK_CRYPTO_ENCTYPES)
        try:
            outcome: object = asyncio.run(client.get_tgt("ocs-des", "des-pw")).client_principal
        except KerberosError as error:
            outcome = error.code
        assert outcome == (f"ocs-des@{REALM}" if des_enabled else ErrorCode.KDC_ERR_ETYPE_NOSUPP)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_accounts_file_keeps_account_states(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps([{"sam_account_name": "ocs-ucc", "password": "p", "locked_out": True,
                                 "account_expires": "2030-01-01T00:00:00+01:00", "must_change_password": True,
                                 "password_expired": False}]))
    [account] = load_accounts_file(path)
    assert account.locked_out and account.must_change_password and account.expires_at is not None
    path.write_text(json.dumps([{"sam_account_name": "ocs-ucc", "password": "p", "account_expires": "soon"}]))
    with pytest.raises(ValueError, match=r"account #1: account_expires must be an ISO 8601 date-time"):
        load_accounts_file(path)
