"""Concurrent updates over real sockets: clients that send their bodies slowly, each to a
different field of the same Application, and every field survives.

A PUT that read the stored object when its headers arrived and wrote the whole object back
once its body was in would let the last writer undo all the others. With
``Expect: 100-continue`` every handler is running before any body is sent, so such a
server loses fields on every run, not only now and then.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from fakes.configserver import ConfigServer

USER, PASSWORD = "operator", "Concurrency-test-1"
APPS = "/gax/api/cfg/objects/CfgApplication"

# One PUT per GAX field, each value different from what the object starts with.
EDITS: dict[str, Any] = {
    "subtype": "CFGThirdPartyServer",
    "version": "8.5.100.05",
    "state": "CFGDisabled",
    "options": {"property": [{"section": "Microsoft-OCS", "key": "password", "value": "Kerb#Pass1"}]},
    "userproperties": {"property": [{"section": "lab", "key": "owner", "value": "trainee"}]},
    "serverinfo": {"host": "ucc01", "port": "7000", "backupserver": "", "timeout": "20", "attempts": "3"},
    "portinfos": {"portinfo": [{"id": "sip-secure", "port": "5061", "connprotocol": "sip",
                                "transportparams": "tls=1", "appparams": "", "description": ""}]},
    "workdirectory": "C:\\GCTI\\UCConnector\\UCC_Lync",
    "commandline": "startup.bat",
    "commandlinearguments": "-host labdc01.companya.com -port 2020 -app UCC_Lync",
    "startuptimeout": "120",
    "shutdowntimeout": "30",
    "autorestart": "CFGTrue",
    "redundancytype": "CFGHTWarmStanby",
    "isserver": "CFGFalse",
}


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response: its status and its body (Content-Length framed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _slow_put(
    port: int, token: str, field: str, expect_continue: bool, all_started: asyncio.Barrier
) -> tuple[int, bytes]:
    """PUT ``{field: EDITS[field]}`` to dbid 101, trickling the body a few bytes at a time.

    Every client sends its headers, then waits at ``all_started`` for the others (with
    ``Expect: 100-continue``: until the server has answered 100 to each), so that every
    request is in the server before any body is complete.
    """
    body = json.dumps({field: EDITS[field]}).encode()
    headers = (
        f"PUT {APPS}/101 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    )
    if expect_continue:
        headers += "Expect: 100-continue\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(headers.encode() + b"\r\n")
        if expect_continue:
            interim, _ = await _read_response(reader)
            assert interim == 100
        else:
            writer.write(body[:5])
            body = body[5:]
        await writer.drain()
        await all_started.wait()
        for start in range(0, len(body), 7):
            writer.write(body[start:start + 7])
            await writer.drain()
            await asyncio.sleep(0.005)
        return await _read_response(reader)
    finally:
        writer.close()
        await writer.wait_closed()


async def _exchange(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """One request on a fresh connection; the status and the JSON answer."""
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + b"\r\n" + data)
        status, answer = await _read_response(reader)
    finally:
        writer.close()
        await writer.wait_closed()
    return status, json.loads(answer) if answer else None


@pytest.mark.parametrize("expect_continue", [True, False], ids=["expect-100-continue", "plain"])
def test_concurrent_slow_puts_to_different_fields_all_survive(tmp_path: Path, expect_continue: bool) -> None:
    async def scenario() -> dict[str, Any]:
        async with ConfigServer(tmp_path / "confserv.db", users={USER: PASSWORD}) as server:
            status, login = await _exchange(
                server.port, "POST", "/gax/api/session/login", {"username": USER, "password": PASSWORD}
            )
            assert status == 200, login
            token = login["token"]
            status, created = await _exchange(
                server.port, "POST", "/gax/api/cfg/objects", {"type": "CfgApplication", "name": "UCC_Lync"}, token
            )
            assert status == 201 and created["dbid"] == "101", created
            all_started = asyncio.Barrier(len(EDITS))
            answers = await asyncio.gather(
                *(_slow_put(server.port, token, field, expect_continue, all_started) for field in EDITS)
            )
            for field, (status, body) in zip(EDITS, answers):
                assert status == 200, (field, body)
            status, stored = await _exchange(server.port, "GET", f"{APPS}/101", token=token)
            assert status == 200
            return stored

    stored = asyncio.run(scenario())
    lost = {field: stored[field] for field, value in EDITS.items() if stored[field] != value}
    assert lost == {}, f"{len(lost)} of {len(EDITS)} concurrent field updates were lost"
