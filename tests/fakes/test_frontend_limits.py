"""Time and connection limits of the Front End over real sockets: peers that trickle a TLS
handshake, a TLS record or a SIP message are cut at the deadline (the idle timer, reset by
every byte, would never fire); one connection over the cap is refused with an event saying
why; a stop with connections open at every stage leaves no traceback. Each time the
Front End then serves a well-behaved client.

Deadlines are short here so the tests are quick; no test asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakes.frontend import FrontendServer
from fakes.sip import SipStream

from .frontend_support import (
    FE_FQDN,
    UCC_FQDN,
    Credential,
    LabPki,
    client_context,
    frontend_config,
    mtls_exchange,
    options_request,
    read_message,
)
from .trickle_support import PATIENCE, TRICKLE_GAP, trickle

REPO = Path(__file__).parents[2]
SHORT = 0.5  # the deadline under test
LONG = 60.0  # every other limit: never reached in these tests
# The longest any test waits for the Front End before it counts as failed (a safety net,
# never a measurement).


@pytest.fixture(scope="module")
def client(pki: LabPki, ucc: Credential) -> ssl.SSLContext:
    return client_context(pki.ca_path, ucc)


def _config(pki: LabPki, fe: Credential, **changes: Any) -> Any:
    limits = {"idle_timeout": LONG, "handshake_timeout": LONG, "message_timeout": LONG}
    return frontend_config(pki, fe, **{**limits, **changes})


async def _still_serving(server: FrontendServer, client: ssl.SSLContext) -> None:
    (answer,) = await mtls_exchange(server.port, client, options_request(call_id="after@ucc01"),
                                    timeout=PATIENCE)
    assert answer.status == 200


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(TRICKLE_GAP)


class MemoryTlsClient:
    """A TLS client on memory BIOs over a plain TCP stream, so a test can send a
    ClientHello or an application-data record a byte at a time."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=FE_FQDN)

    def client_hello(self) -> bytes:
        """The first flight (the ClientHello), not yet sent."""
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.outgoing.read()

    async def handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The whole handshake over ``reader``/``writer``."""
        while True:
            try:
                self.tls.do_handshake()
                writer.write(self.outgoing.read())
                await writer.drain()
                return
            except ssl.SSLWantReadError:
                writer.write(self.outgoing.read())
                await writer.drain()
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("the Front End closed during the handshake") from None
                self.incoming.write(data)

    def record(self, plaintext: bytes) -> bytes:
        """``plaintext`` as TLS application-data records, not yet sent."""
        self.tls.write(plaintext)
        return self.outgoing.read()


# -- deadlines ---------------------------------------------------------------------------

def test_a_clienthello_trickled_byte_by_byte_is_cut_at_the_handshake_deadline(
        pki: LabPki, fe: Credential, client: ssl.SSLContext) -> None:
    async def main() -> FrontendServer:
        async with FrontendServer(_config(pki, fe, handshake_timeout=SHORT)) as server:
            hello = MemoryTlsClient(client).client_hello()
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            answer = await asyncio.wait_for(trickle(writer, reader, hello), PATIENCE)
            assert answer == b""  # closed without a word: there is no TLS to answer in
            await _still_serving(server, client)
        return server

    server = asyncio.run(main())
    (timeout,) = server.events.of_type("timeout")
    assert (timeout["phase"], timeout["limit"], timeout["after"]) == ("handshake", "handshake_timeout", SHORT)
    assert server.events.of_type("closed", connection=timeout["connection"])
    assert not server.events.of_type("tls-handshake", connection=timeout["connection"])


def test_a_sip_message_trickled_byte_by_byte_is_answered_400_at_its_deadline(
        pki: LabPki, fe: Credential, client: ssl.SSLContext) -> None:
    async def main() -> FrontendServer:
        async with FrontendServer(_config(pki, fe, message_timeout=SHORT)) as server:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=client, server_hostname=FE_FQDN)
            # All but the end of the header section at once (enough to answer), then the
            # rest a byte at a time, each byte its own TLS record.
            request = options_request()
            answer = asyncio.StreamReader()
            answer.feed_data(await asyncio.wait_for(
                trickle(writer, reader, request, at_once=len(request) - 40), PATIENCE))
            answer.feed_eof()
            # What reached us before the close is the 400 or nothing (a reset can overtake
            # it: test_frontend_robustness.py sees the 400 from a peer that stops sending).
            reply = await read_message(answer, SipStream())
            assert reply is None or reply.status == 400
            await _still_serving(server, client)
        return server

    server = asyncio.run(main())
    (timeout,) = server.events.of_type("timeout")
    assert (timeout["phase"], timeout["limit"], timeout["after"]) == ("sip", "message_timeout", SHORT)
    (malformed,) = server.events.of_type("malformed", connection=timeout["connection"])
    assert malformed["reason"] == "Incomplete message header" and malformed["answered"]
    (answer,) = server.events.of_type("response", connection=timeout["connection"])
    assert answer["status"] == 400


def test_a_tls_record_trickled_byte_by_byte_is_cut_at_the_message_deadline(
        pki: LabPki, fe: Credential, client: ssl.SSLContext) -> None:
    """The SIP layer sees nothing until the record is whole; the deadline still runs."""
    async def main() -> FrontendServer:
        async with FrontendServer(_config(pki, fe, message_timeout=SHORT)) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            tls = MemoryTlsClient(client)
            await asyncio.wait_for(tls.handshake(reader, writer), PATIENCE)
            record = tls.record(options_request())
            await asyncio.wait_for(trickle(writer, reader, record), PATIENCE)
            await _still_serving(server, client)
        return server

    server = asyncio.run(main())
    (timeout,) = server.events.of_type("timeout")
    assert (timeout["phase"], timeout["limit"]) == ("sip", "message_timeout")
    assert not server.events.of_type("request", connection=timeout["connection"])


def test_a_message_split_over_reads_is_served_when_it_arrives_in_time(
        pki: LabPki, fe: Credential, client: ssl.SSLContext) -> None:
    """The deadline bounds a message, not a connection: messages one after another on a
    long-lived connection are each served."""
    async def main() -> list[int | None]:
        async with FrontendServer(_config(pki, fe)) as server:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=client, server_hostname=FE_FQDN)
            stream, statuses = SipStream(), []
            for cseq in range(1, 4):
                request = options_request(cseq)
                for part in (request[:40], request[40:]):
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(TRICKLE_GAP)
                answer = await read_message(reader, stream, timeout=PATIENCE)
                statuses.append(answer.status if answer else None)
            writer.close()
            return statuses

    assert asyncio.run(main()) == [200, 200, 200]


def test_an_idle_connection_is_closed_without_an_answer(
        pki: LabPki, fe: Credential, client: ssl.SSLContext) -> None:
    async def main() -> FrontendServer:
        async with FrontendServer(_config(pki, fe, idle_timeout=SHORT)) as server:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=client, server_hostname=FE_FQDN)
            assert await read_message(reader, SipStream(), timeout=PATIENCE) is None
            writer.close()
            await _still_serving(server, client)
        return server

    server = asyncio.run(main())
    (timeout,) = server.events.of_type("timeout")
    assert (timeout["phase"], timeout["limit"], timeout["after"]) == ("sip", "idle_timeout", SHORT)
    assert not server.events.of_type("malformed")


# -- the connection cap ------------------------------------------------------------------

def test_one_connection_over_the_cap_is_refused_with_the_reason(
        pki: LabPki, fe: Credential, client: ssl.SSLContext) -> None:
    cap = 3

    async def main() -> FrontendServer:
        async with FrontendServer(_config(pki, fe, max_connections=cap)) as server:
            held = []
            for i in range(cap):  # served, and kept open
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", server.port, ssl=client, server_hostname=FE_FQDN)
                writer.write(options_request(call_id=f"held-{i}@ucc01"))
                answer = await read_message(reader, SipStream(), timeout=PATIENCE)
                assert answer is not None and answer.status == 200
                held.append(writer)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            assert await asyncio.wait_for(reader.read(), PATIENCE) == b""  # closed before TLS
            writer.close()
            refused = await server.events.wait_for("connection-refused", timeout=PATIENCE)
            # One held connection ends: there is room again.
            held.pop().close()
            opened = server.events.of_type("connection-opened")
            await server.events.wait_for("closed", connection=opened[-1]["connection"], timeout=PATIENCE)
            await _still_serving(server, client)
            for writer in held:
                writer.close()
            assert refused["reason"] == f"too many connections: {cap} open, the limit is {cap}"
        return server

    server = asyncio.run(main())
    assert len(server.events.of_type("connection-refused")) == 1
    assert len(server.events.responses(status=200)) == cap + 1


# -- stopping with connections open ----------------------------------------------------

def test_close_with_connections_at_every_stage_ends_them_all_without_a_traceback(
        pki: LabPki, fe: Credential, client: ssl.SSLContext) -> None:
    problems: list[dict[str, Any]] = []

    async def main() -> FrontendServer:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: problems.append(context))
        server = FrontendServer(_config(pki, fe))
        await server.start()
        peers = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]  # silent
        for _ in range(2):  # mid-handshake: half a ClientHello
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(MemoryTlsClient(client).client_hello()[:20])
            peers.append((reader, writer))
        for _ in range(2):  # TLS done, half a SIP message
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=client, server_hostname=FE_FQDN)
            writer.write(options_request()[:50])
            peers.append((reader, writer))
        await asyncio.wait_for(_until(lambda: len(server.events.of_type("connection-opened")) == 6
                                      and len(server.events.of_type("request")) == 0
                                      and len(server.events.of_type("tls-handshake")) == 2), PATIENCE)
        await server.close()
        for reader, writer in peers:
            assert await asyncio.wait_for(reader.read(), PATIENCE) == b""
            writer.close()
        await asyncio.sleep(0)
        return server

    server = asyncio.run(main())
    assert problems == []
    stopped = server.events.of_type("closed", reason="the Front End stopped")
    assert len(stopped) == 6
    assert not server.events.of_type("connection-error")


def test_python_m_fakes_frontend_stops_cleanly_with_connections_open(
        pki: LabPki, fe: Credential, client: ssl.SSLContext) -> None:
    command = [sys.executable, "-m", "fakes.frontend", "--cert", str(fe.cert_path),
               "--key", str(fe.key_path), "--ca", str(pki.ca_path), "--fqdn", FE_FQDN,
               "--known-peer", UCC_FQDN]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)

    async def connect(port: int) -> list[asyncio.StreamWriter]:
        writers = []
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(MemoryTlsClient(client).client_hello()[:20])
        writers.append(writer)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname=FE_FQDN)
        writer.write(options_request())
        answer = await read_message(reader, SipStream(), timeout=PATIENCE)
        assert answer is not None and answer.status == 200
        writers.append(writer)
        # Stop the Front End while all three are open.
        process.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, process.wait, PATIENCE)
        for writer in writers:
            writer.close()
        return writers

    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.startswith("frontend listening on 127.0.0.1:"), ready
        asyncio.run(connect(int(ready.rsplit(":", 1)[1])))
    finally:
        if process.poll() is None:
            process.kill()
        _out, err = process.communicate(timeout=PATIENCE)
    assert process.returncode == 0, err
    for sign in ("Traceback", "Exception in callback", "Task was destroyed", "Error"):
        assert sign not in err, err
