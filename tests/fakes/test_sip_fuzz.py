"""Mutated RFC 4475 messages: whatever arrives, no exception escapes the SIP core or the
Front End's session, and chunking never changes the outcome."""

from __future__ import annotations

import random

import pytest

from fakes.frontend import Registrar, SipSession
from fakes.sip import NEED_DATA, ConnectionClosed, Malformed, MessageReceived, SipLimits, SipStream

from .frontend_support import CORPUS

SEEDS = range(40)
MESSAGES = [path.read_bytes() for path in sorted(CORPUS.glob("*.dat"))]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    """One of the ways a wire or a buggy peer breaks a message."""
    buffer = bytearray(data)
    kind = rng.randrange(8)
    position = rng.randrange(len(buffer) + 1)
    if kind == 0:  # flip a byte
        if buffer:
            buffer[min(position, len(buffer) - 1)] = rng.randrange(256)
    elif kind == 1:  # insert junk
        buffer[position:position] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
    elif kind == 2:  # truncate
        del buffer[position:]
    elif kind == 3:  # an absurdly long number where a number was
        text = bytes(buffer)
        for field in (b"CSeq: ", b"Content-Length: ", b"Max-Forwards: ", b"Expires: ", b"l: "):
            if field in text:
                text = text.replace(field, field + b"9" * rng.choice([20, 5000]), 1)
                break
        buffer = bytearray(text)
    elif kind == 4:  # fold or unfold at random
        buffer[position:position] = rng.choice([b"\r\n ", b"\r\n", b"\r\n\r\n", b"\n", b"\r"])
    elif kind == 5:  # duplicate a header line
        lines = bytes(buffer).split(b"\r\n")
        if len(lines) > 2:
            index = rng.randrange(1, len(lines) - 1)
            lines.insert(index, lines[index])
        buffer = bytearray(b"\r\n".join(lines))
    elif kind == 6:  # drop a header line
        lines = bytes(buffer).split(b"\r\n")
        if len(lines) > 2:
            del lines[rng.randrange(1, len(lines) - 1)]
        buffer = bytearray(b"\r\n".join(lines))
    else:  # two messages glued together
        buffer += rng.choice(MESSAGES)
    return bytes(buffer)


def _summary(event: object) -> object:
    """What must not depend on chunking (the excerpt of unframeable junk may)."""
    if isinstance(event, MessageReceived):
        return ("message", event.raw)
    if isinstance(event, Malformed):
        return ("malformed", event.status, event.reason, event.fatal, None if event.fatal else event.raw)
    return event


def _run_stream(data: bytes, chunks: list[int]) -> list[object]:
    stream = SipStream(SipLimits(max_header_bytes=4096, max_body_bytes=2048))
    seen: list[object] = []
    position = 0
    for size in chunks:
        stream.receive_data(data[position:position + size])
        position += size
        while (event := stream.next_event()) is not NEED_DATA:
            seen.append(_summary(event))
            if isinstance(event, ConnectionClosed):
                return seen
    stream.receive_data(b"")
    while not isinstance(event := stream.next_event(), ConnectionClosed):
        seen.append(_summary(event))
    return seen


@pytest.mark.parametrize("seed", SEEDS)
def test_mutations_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(60):
        data = rng.choice(MESSAGES)
        for _ in range(rng.randrange(1, 4)):
            data = _mutate(rng, data)
        # Framing: the same events whatever the chunking.
        chunks = []
        remaining = len(data)
        while remaining > 0:
            chunks.append(min(remaining, rng.randrange(1, 200)))
            remaining -= chunks[-1]
        assert _run_stream(data, chunks) == _run_stream(data, [len(data)] if data else [])
        # The Front End's session answers or closes, and never raises.
        registrar = Registrar("fe01.companya.com", now=lambda: 1_700_000_000.0, rng=rng)
        session = SipSession(registrar, peer="ucc01.companya.com", limits=SipLimits())
        output = session.receive_data(data)
        if not output.close:
            session.timed_out()
