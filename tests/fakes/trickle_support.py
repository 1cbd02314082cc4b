"""A peer that sends its bytes one at a time, for the stand-ins' deadline tests (a TLS
handshake, a SIP message, a Kerberos request over TCP, an HTTP head or body): the server
must close on it at the deadline, whatever the byte rate."""

from __future__ import annotations

import asyncio
import ssl

TRICKLE_GAP = 0.05  # seconds between two bytes of a trickling peer
PATIENCE = 30.0  # how long a client waits before the test fails (a safety net, never measured)


async def collect(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (a reset, or TLS closed
    without close_notify, ends it too)."""
    data = b""
    try:
        while chunk := await reader.read(65536):
            data += chunk
    except (ConnectionError, ssl.SSLError):
        pass
    return data


async def trickle(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, data: bytes,
                  *, at_once: int = 0) -> bytes:
    """Send ``data`` (its first ``at_once`` bytes together) a byte at a time until the
    server closes, then close; what the server sent back before.

    Fails when the whole of ``data`` went through (the deadline never cut it). The close
    may come as a reset (the server closes with a byte of ours unread), and a reset can
    overtake what was sent just before it: the bytes returned may be short.
    """
    received = asyncio.create_task(collect(reader))
    try:
        writer.write(data[:at_once])
        for byte in data[at_once:]:
            if received.done():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(TRICKLE_GAP)
        else:
            raise AssertionError("the whole message went through: the deadline never cut it")
    except (ConnectionError, OSError):  # closed while a byte was on its way
        pass
    finally:
        writer.close()
    return await received
