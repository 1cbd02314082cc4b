"""Time and connection limits of the KDC's TCP side over real sockets, a clean stop with
connections open, and command-line values that are refused with a one-line reason.

A request trickled byte by byte is cut at its deadline (the idle timer, reset by every
byte, would never fire); one connection over the cap is closed; each time the KDC then
answers a well-behaved client. Deadlines are short so the tests are quick; no test asserts
how long anything took.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakes.kdc import KdcServer
from fakes.kerberos import AsExchange, ErrorCode, KrbError

from .kdc_support import REALM, UCC_PASSWORD, lab_accounts
from .trickle_support import PATIENCE, TRICKLE_GAP, trickle

REPO = Path(__file__).resolve().parents[2]
SHORT = 0.5  # the deadline under test
LONG = 60.0  # every other limit: never reached here


def _request() -> bytes:
    """An AS-REQ for ocs-ucc without pre-authentication, framed for TCP."""
    request = AsExchange("ocs-ucc", REALM, UCC_PASSWORD).request()
    return struct.pack(">I", len(request)) + request


def _server(**limits: Any) -> KdcServer:
    settings = {"tcp_idle_timeout": LONG, "tcp_message_timeout": LONG, **limits}
    return KdcServer(lab_accounts(), realm=REALM, **settings)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> KrbError:
    writer.write(_request())
    await writer.drain()
    (length,) = struct.unpack(">I", await reader.readexactly(4))
    return KrbError.from_der(await reader.readexactly(length))


async def _still_serving(server: KdcServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        answer = await asyncio.wait_for(_exchange(reader, writer), PATIENCE)
        assert answer.error_code == ErrorCode.KDC_ERR_PREAUTH_REQUIRED
    finally:
        writer.close()


def _udp_exchange(port: int) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(PATIENCE)
        udp.sendto(_request()[4:], ("127.0.0.1", port))
        return udp.recv(65535)


def _records(server: KdcServer, type_: str) -> list[dict[str, Any]]:
    return [record for record in server.evidence if record["type"] == type_]


def test_a_request_trickled_byte_by_byte_is_cut_at_its_deadline() -> None:
    async def main() -> KdcServer:
        async with _server(tcp_message_timeout=SHORT) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            assert await asyncio.wait_for(trickle(writer, reader, _request()), PATIENCE) == b""
            await _still_serving(server)
        return server

    server = asyncio.run(main())
    (timeout,) = _records(server, "timeout")
    assert (timeout["transport"], timeout["limit"], timeout["after"]) == ("tcp", "tcp_message_timeout", SHORT)


def test_a_silent_connection_is_closed_at_the_idle_timeout() -> None:
    async def main() -> KdcServer:
        async with _server(tcp_idle_timeout=SHORT) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            assert await asyncio.wait_for(reader.read(), PATIENCE) == b""
            writer.close()
            await _still_serving(server)
        return server

    (timeout,) = _records(asyncio.run(main()), "timeout")
    assert (timeout["limit"], timeout["after"]) == ("tcp_idle_timeout", SHORT)


def test_the_deadline_is_per_request_not_per_connection() -> None:
    async def main() -> list[int]:
        async with _server() as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            codes = []
            for _ in range(3):
                request = _request()
                for part in (request[:2], request[2:40], request[40:]):  # the length prefix split too
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(TRICKLE_GAP)
                (length,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), PATIENCE))
                codes.append(KrbError.from_der(await reader.readexactly(length)).error_code)
            writer.close()
            return codes

    assert asyncio.run(main()) == [ErrorCode.KDC_ERR_PREAUTH_REQUIRED] * 3


def test_one_tcp_connection_over_the_cap_is_closed_and_udp_is_not_capped() -> None:
    cap = 3

    async def served(server: KdcServer) -> None:
        """Retried until the KDC has seen a held connection go (it may be refused meanwhile)."""
        while True:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                await _exchange(reader, writer)
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                await asyncio.sleep(TRICKLE_GAP)
            finally:
                writer.close()

    async def main() -> KdcServer:
        async with _server(max_tcp_connections=cap) as server:
            held = []
            for _ in range(cap):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                await asyncio.wait_for(_exchange(reader, writer), PATIENCE)
                held.append(writer)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            assert await asyncio.wait_for(reader.read(), PATIENCE) == b""
            writer.close()
            over_udp = await asyncio.get_running_loop().run_in_executor(None, _udp_exchange, server.port)
            assert KrbError.from_der(over_udp).error_code == ErrorCode.KDC_ERR_PREAUTH_REQUIRED
            held.pop().close()
            await asyncio.wait_for(served(server), PATIENCE)
            for writer in held:
                writer.close()
        return server

    refused = _records(asyncio.run(main()), "connection-refused")
    assert refused and refused[0]["transport"] == "tcp"
    assert refused[0]["reason"] == f"too many TCP connections: {cap} open, the limit is {cap}"


def test_close_with_tcp_connections_open_ends_them_without_a_traceback() -> None:
    problems: list[dict[str, Any]] = []

    async def until(condition: Callable[[], bool]) -> None:
        while not condition():
            await asyncio.sleep(TRICKLE_GAP)

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: problems.append(context))
        server = _server()
        await server.start()
        peers = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]  # silent
        for _ in range(3):  # half a request each
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(_request()[:30])
            peers.append((reader, writer))
        reader, writer = peers[0]
        await asyncio.wait_for(_exchange(reader, writer), PATIENCE)  # one that was served
        await asyncio.wait_for(until(lambda: len(_records(server, "AS-REQ")) == 1), PATIENCE)
        await server.close()
        for reader, writer in peers:
            assert await asyncio.wait_for(reader.read(), PATIENCE) == b""
            writer.close()

    asyncio.run(main())
    assert problems == []


def test_python_m_fakes_kdc_stops_cleanly_with_connections_open() -> None:
    process = subprocess.Popen([sys.executable, "-m", "fakes.kdc", "--account", f"ocs-ucc:{UCC_PASSWORD}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True)

    async def connect(port: int) -> None:
        _reader, idle = await asyncio.open_connection("127.0.0.1", port)
        _reader, partial = await asyncio.open_connection("127.0.0.1", port)
        partial.write(_request()[:30])
        reader, served = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.wait_for(_exchange(reader, served), PATIENCE)
        process.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, process.wait, PATIENCE)
        for writer in (idle, partial, served):
            writer.close()

    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        asyncio.run(connect(ready["tcp_port"]))
    finally:
        if process.poll() is None:
            process.kill()
        _out, err = process.communicate(timeout=PATIENCE)
    assert process.returncode == 0, err
    for sign in ("Traceback", "Exception in callback", "Task was destroyed"):
        assert sign not in err, err


BAD_VALUES = [
    (["--port", "99999"], "argument --port: port must be 0..65535, not 99999"),
    (["--port", "-1"], "argument --port: port must be 0..65535, not -1"),
    (["--realm", ""], "argument --realm: a realm is a name such as COMPANYA.COM, not ''"),
    (["--tcp-idle-timeout", "0"], "argument --tcp-idle-timeout: seconds must be positive and finite"),
    (["--tcp-message-timeout", "nan"], "argument --tcp-message-timeout: seconds must be positive and finite"),
    (["--max-tcp-connections", "0"], "argument --max-tcp-connections: at least 1 connection"),
    (["--accounts", "{tmp}"], "error: {tmp}: Is a directory"),
    (["--accounts", "{tmp}/missing.json"], "error: {tmp}/missing.json: No such file or directory"),
    (["--accounts", "{tmp}/garbage.json"], "error: {tmp}/garbage.json: not a JSON file"),
    (["--accounts", "{tmp}/spns.json"], "account #1: spns must be a list of strings, not 'sip/x'"),
    (["--accounts", "{tmp}/enctypes.json"], "account #1: enctypes must be null or a list of enctypes"),
]


@pytest.mark.parametrize(("arguments", "reason"), BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_bad_values_are_bad_usage_with_a_one_line_reason(tmp_path: Path, arguments: list[str],
                                                         reason: str) -> None:
    (tmp_path / "garbage.json").write_bytes(b"\xff\xfe not json")
    (tmp_path / "spns.json").write_text(json.dumps([{"sam_account_name": "a", "password": "p", "spns": "sip/x"}]))
    (tmp_path / "enctypes.json").write_text(json.dumps([{"sam_account_name": "a", "password": "p",
                                                         "enctypes": [999]}]))
    command = [sys.executable, "-m", "fakes.kdc", "--account", "ocs-ucc:pw",
               *(a.format(tmp=tmp_path) for a in arguments)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert reason.format(tmp=tmp_path) in result.stderr.strip().splitlines()[-1], result.stderr
