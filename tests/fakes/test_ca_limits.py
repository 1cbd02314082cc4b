"""certsrv's time and connection limits over real HTTPS: a request head or body trickled
byte by byte is cut at its deadline (http.sys's HeaderWait and EntityBody, whole here),
a request on one connection past the cap is answered 503 with the reason, and each time
certsrv then serves a well-behaved client.

Deadlines are short so the tests are quick; no test asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from fakes.ca import CertificationAuthority, CertsrvServer

from .trickle_support import PATIENCE, TRICKLE_GAP, collect, trickle

USER, PASSWORD = "enroll", "Pa55w.rd-enroll"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SHORT = 0.5  # the deadline under test
LONG = 60.0  # every other limit: never reached here


def _get(path: str = "/certsrv/certcarc.asp") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: labdc01.companya.com\r\n"
            f"Authorization: {AUTHORIZATION}\r\n\r\n").encode()


def _post_head(length: int) -> bytes:
    return ("POST /certsrv/certfnsh.asp HTTP/1.1\r\nHost: labdc01.companya.com\r\n"
            f"Authorization: {AUTHORIZATION}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


class Client:
    """One HTTPS connection to certsrv, requests written by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, server: CertsrvServer, ca: CertificationAuthority) -> Client:
        context = ssl.create_default_context(cafile=str(ca.root_certificate_path))
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", server.port, ssl=context, server_hostname=ca.host_fqdn), PATIENCE)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, dict[str, str], str]:
        """Send ``request``; the status, headers and body of the answer."""
        self.writer.write(request)
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), PATIENCE)
        start, *lines = head.decode("latin-1").split("\r\n")[:-2]
        headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
        body = await self.reader.readexactly(int(headers["content-length"]))
        return int(start.split()[1]), headers, body.decode("utf-8")

    async def trickle(self, data: bytes) -> bytes:
        """Send ``data`` a byte at a time until certsrv closes; what it sent back before."""
        return await asyncio.wait_for(trickle(self.writer, self.reader, data), PATIENCE)

    def close(self) -> None:
        self.writer.close()


def _run(ca: CertificationAuthority, test: Callable[[CertsrvServer], Coroutine[Any, Any, None]],
         **limits: Any) -> CertsrvServer:
    settings = {"header_timeout": LONG, "body_timeout": LONG, **limits}

    async def main() -> CertsrvServer:
        async with CertsrvServer(ca, accounts={USER: PASSWORD}, **settings) as server:
            await test(server)
        return server

    return asyncio.run(main())


async def _still_serving(server: CertsrvServer, ca: CertificationAuthority) -> None:
    client = await Client.connect(server, ca)
    try:
        status, _headers, page = await client.exchange(_get())
        assert status == 200 and "var nRenewals=" in page
    finally:
        client.close()


def test_a_request_head_trickled_byte_by_byte_is_cut_at_the_header_deadline(
        ca_one_tier: CertificationAuthority) -> None:
    async def test(server: CertsrvServer) -> None:
        client = await Client.connect(server, ca_one_tier)
        assert await client.trickle(_get()) == b""  # closed without an answer
        client.close()
        await _still_serving(server, ca_one_tier)

    server = _run(ca_one_tier, test, header_timeout=SHORT)
    assert [r["path"] for r in server.evidence] == ["/certsrv/certcarc.asp"]  # the good one only


def test_a_request_body_trickled_byte_by_byte_drops_the_connection_at_the_body_deadline(
        ca_one_tier: CertificationAuthority) -> None:
    body = b"Mode=newreq&CertRequest=" + b"A" * 400

    async def test(server: CertsrvServer) -> None:
        client = await Client.connect(server, ca_one_tier)
        client.writer.write(_post_head(len(body)))
        assert await client.trickle(body) == b""  # dropped, as http.sys drops it
        client.close()
        await _still_serving(server, ca_one_tier)

    server = _run(ca_one_tier, test, body_timeout=SHORT)
    first, second = server.evidence
    assert (first["method"], first["path"], first["user"], first["status"]) == (
        "POST", "/certsrv/certfnsh.asp", USER, 408)
    assert second["status"] == 200


def test_a_request_on_a_connection_past_the_cap_is_answered_503_with_the_reason(
        ca_one_tier: CertificationAuthority) -> None:
    cap = 2

    async def served_again(server: CertsrvServer) -> None:
        """Retried until certsrv has seen a held connection go (503 meanwhile)."""
        while True:
            client = await Client.connect(server, ca_one_tier)
            try:
                status, _headers, _page = await client.exchange(_get())
            finally:
                client.close()
            if status == 200:
                return
            await asyncio.sleep(TRICKLE_GAP)

    async def test(server: CertsrvServer) -> None:
        held = [await Client.connect(server, ca_one_tier) for _ in range(cap)]
        for client in held:  # served, and kept open (HTTP/1.1 keep-alive)
            assert (await client.exchange(_get()))[0] == 200
        extra = await Client.connect(server, ca_one_tier)
        status, headers, page = await extra.exchange(_get())
        assert status == 503 and headers["connection"] == "close"
        assert (f"HTTP Error 503. The service is unavailable: the site connection limit has been "
                f"reached ({cap + 1} connections open, the limit is {cap}).") in page
        assert await collect(extra.reader) == b""  # and it is closed
        extra.close()
        assert (await held[0].exchange(_get()))[0] == 200  # the held ones keep their service
        held.pop().close()
        await asyncio.wait_for(served_again(server), PATIENCE)
        for client in held:
            client.close()

    server = _run(ca_one_tier, test, max_connections=cap)
    statuses = [record["status"] for record in server.evidence]
    assert statuses[:cap + 2] == [200] * cap + [503, 200] and statuses[-1] == 200


def test_limits_must_be_positive(ca_one_tier: CertificationAuthority) -> None:
    for limits, message in (({"header_timeout": 0}, "header_timeout must be a positive number"),
                            ({"body_timeout": float("nan")}, "body_timeout must be a positive number"),
                            ({"max_connections": 0}, "max_connections must be at least 1")):
        with pytest.raises(ValueError, match=message):
            CertsrvServer(ca_one_tier, accounts={USER: PASSWORD}, **limits)
