"""Bad input over real sockets: torture messages, stalls, junk, load. The Front End keeps
serving everyone else, and its event log says what happened.

No outcome here depends on how fast the machine is: a limit under test is short only where
the input can never satisfy it (a message that never ends), every other limit is long, and
nothing asserts how long anything took (test_frontend_limits.py covers each deadline).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time

import pytest

from fakes.frontend import FrontendServer
from fakes.sip import SipStream

from .frontend_support import (
    CORPUS,
    FE_FQDN,
    RFC4475_EXPECTED,
    RFC4475_FATAL,
    UCC_FQDN,
    Credential,
    LabPki,
    client_context,
    frontend_config,
    mtls_exchange,
    options_request,
    read_message,
)

LONG = 60.0  # a limit no input of these tests reaches
PATIENCE = 30.0  # how long a client waits for an answer before the test fails (never measured)


@pytest.fixture(scope="module")
def client(pki: LabPki) -> ssl.SSLContext:
    return client_context(pki.ca_path, pki.issue("ucc01", cn=UCC_FQDN, dns=[UCC_FQDN]))


async def _still_serving(server: FrontendServer, client: ssl.SSLContext) -> None:
    (answer,) = await mtls_exchange(server.port, client, options_request(call_id="after@ucc01"),
                                    timeout=PATIENCE)
    assert answer.status == 200


def test_rfc4475_messages_over_mtls_are_answered_as_the_readme_says(
        pki: LabPki, fe: Credential, client: ssl.SSLContext) -> None:
    """Each message on its own MTLS connection, all at once; a non-fatal one is followed
    by an OPTIONS on the same connection, which must still get its 200."""
    files = sorted(CORPUS.glob("*.dat"))
    follow_up = options_request(99, call_id="follow-up@ucc01")

    async def one(server: FrontendServer, name: str, data: bytes) -> tuple[str, list[int]]:
        fatal = name in RFC4475_FATAL
        expected = RFC4475_EXPECTED[name]
        wanted = (0 if expected is None else 1) + (0 if fatal else 1)
        answers = await mtls_exchange(server.port, client, data if fatal else data + follow_up,
                                      answers=wanted + 1 if fatal else wanted, timeout=PATIENCE)
        return name, [a.status for a in answers]

    async def main() -> FrontendServer:
        # Each message and its follow-up arrive in one TLS record, whole: only clerr, whose
        # Content-Length exceeds what it sends, is still pending when its deadline passes.
        config = frontend_config(pki, fe, message_timeout=0.5, idle_timeout=LONG,
                                 handshake_timeout=LONG)
        async with FrontendServer(config) as server:
            results = dict(await asyncio.gather(*(one(server, f.stem, f.read_bytes()) for f in files)))
            for name, statuses in results.items():
                expected = RFC4475_EXPECTED[name]
                first = [expected] if expected is not None else []
                if name == "dblreq":
                    assert statuses == [200, 480], statuses  # then the stray bytes close it
                elif name in RFC4475_FATAL:
                    assert statuses == first, (name, statuses)
                else:
                    assert statuses == [*first, 200], (name, statuses)
            await _still_serving(server, client)
        return server

    server = asyncio.run(main())
    assert not server.events.of_type("connection-error")
    (stalled,) = server.events.of_type("timeout")
    assert (stalled["phase"], stalled["limit"]) == ("sip", "message_timeout")
    (clerr,) = server.events.of_type("malformed", connection=stalled["connection"])
    assert clerr["reason"] == "Incomplete message body (Content-Length exceeds data sent)"
    assert server.events.of_type("malformed", reason="Missing Content-Length header")


def test_a_peer_that_sends_half_a_message_and_stalls_is_timed_out(
        pki: LabPki, fe: Credential, client: ssl.SSLContext) -> None:
    async def main() -> FrontendServer:
        config = frontend_config(pki, fe, message_timeout=0.3, idle_timeout=LONG, handshake_timeout=LONG)
        async with FrontendServer(config) as server:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=client, server_hostname=FE_FQDN)
            writer.write(options_request()[:60])
            await writer.drain()
            # Meanwhile another peer is served normally.
            await _still_serving(server, client)
            stream = SipStream()
            answer = await read_message(reader, stream, timeout=PATIENCE)
            assert answer is not None and answer.status == 400
            assert answer.message.phrase == "Incomplete message header"
            assert await read_message(reader, stream, timeout=PATIENCE) is None  # closed
            writer.close()
        return server

    server = asyncio.run(main())
    (timeout,) = server.events.of_type("timeout")
    assert (timeout["phase"], timeout["limit"], timeout["after"]) == ("sip", "message_timeout", 0.3)
    closed = server.events.of_type("closed", connection=timeout["connection"])
    assert closed


def test_a_peer_that_never_finishes_the_handshake_is_timed_out(pki: LabPki, fe: Credential) -> None:
    async def main() -> FrontendServer:
        async with FrontendServer(frontend_config(pki, fe, handshake_timeout=0.2)) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x16\x03\x01")  # the first bytes of a ClientHello, then silence
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), PATIENCE) == b""
            writer.close()
            await server.events.wait_for("closed")
        return server

    server = asyncio.run(main())
    (timeout,) = server.events.of_type("timeout")
    assert (timeout["phase"], timeout["limit"]) == ("handshake", "handshake_timeout")


@pytest.mark.parametrize("junk", [
    b"OPTIONS sip:fe01.companya.com SIP/2.0\r\n\r\n",  # plain SIP on the TLS port
    os.urandom(3000),
    b"\x00" * 100,
], ids=["plain-sip", "random", "zeros"])
def test_junk_instead_of_tls_is_a_tls_failure(pki: LabPki, fe: Credential,
                                              client: ssl.SSLContext, junk: bytes) -> None:
    async def main() -> FrontendServer:
        async with FrontendServer(frontend_config(pki, fe)) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(junk)
            await writer.drain()
            await server.events.wait_for("tls-failure", timeout=PATIENCE)
            await _still_serving(server, client)
            writer.close()
        return server

    server = asyncio.run(main())
    assert server.events.of_type("tls-failure")[0]["error"]
    assert not server.events.of_type("connection-error")


@pytest.mark.parametrize(("junk", "status"), [
    (b"\x00\x01\x02\x03binary\r\n\r\n", None),  # no start line: nothing to answer
    (b"HELLO there\r\nthis is not sip\r\n\r\n", 400),
    (b"OPTIONS sip:fe01.companya.com SIP/2.0\r\nVia: x\r\n" + b"X: " + b"a" * 20000, 513),
], ids=["binary", "not-sip", "header-too-large"])
def test_junk_inside_tls_closes_only_that_connection(pki: LabPki, fe: Credential,
                                                     client: ssl.SSLContext, junk: bytes,
                                                     status: int | None) -> None:
    async def main() -> FrontendServer:
        async with FrontendServer(frontend_config(pki, fe)) as server:
            answers = await mtls_exchange(server.port, client, junk, answers=2, timeout=PATIENCE)
            assert [a.status for a in answers] == ([status] if status else [])
            await _still_serving(server, client)
        return server

    server = asyncio.run(main())
    (malformed,) = server.events.of_type("malformed")
    assert malformed["fatal"] is True
    assert not server.events.of_type("connection-error")


def test_200_concurrent_mtls_connections_each_get_200(pki: LabPki, fe: Credential,
                                                      client: ssl.SSLContext) -> None:
    count = 200

    async def main() -> tuple[FrontendServer, float]:
        async with FrontendServer(frontend_config(pki, fe)) as server:
            started = time.perf_counter()
            results = await asyncio.wait_for(asyncio.gather(*(
                mtls_exchange(server.port, client, options_request(call_id=f"load-{i}@ucc01"),
                              timeout=30)
                for i in range(count))), 60)
            elapsed = time.perf_counter() - started
            assert [a.status for (a,) in results] == [200] * count
            assert sorted(a.message.call_id for (a,) in results) == sorted(
                f"load-{i}@ucc01" for i in range(count))
        return server, elapsed

    server, elapsed = asyncio.run(main())
    assert len(server.events.of_type("tls-handshake")) == count
    assert len(server.events.responses(status=200)) == count
    assert len({e["connection"] for e in server.events.of_type("connection-opened")}) == count
    print(f"\n{count} MTLS connections (handshake + OPTIONS/200, both ends in one process): "
          f"{elapsed:.2f} s, {count / elapsed:.0f}/s")
