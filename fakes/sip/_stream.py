"""SIP message framing over a stream transport (TCP, TLS), sans-I/O.

Feed bytes with :meth:`SipStream.receive_data`, take events with
:meth:`SipStream.next_event` until it returns :data:`NEED_DATA`. No sockets, no clocks:
the caller owns both, and asks :meth:`SipStream.timed_out` what to say when its read
timer fires.

Rule 1 — framing (RFC 3261 §18.3): the header section ends at the first CRLFCRLF; the
body is exactly Content-Length bytes, and over a stream Content-Length is mandatory.
Whatever follows is the next message.
Rule 2 — a message that was framed but is malformed costs only itself (``Malformed``
with ``fatal=False``); input that cannot be framed ends the stream (``fatal=True``): the
framing of anything after it is unknowable.
Rule 3 — CRLFs between messages are keep-alives (RFC 5626 §3.5.1), never an error. A
double CRLF is a ping (``KeepAlive(b"\r\n\r\n")``: a server answers a single CRLF), a
single one a pong or stray CRLF. So that chunking never changes the events, a lone CRLF is
reported once the next byte shows it is not the start of a ping (or at EOF).
Rule 4 — time is the caller's. :attr:`SipStream.pending_message` numbers the message whose
first byte has arrived and whose last has not (a body being skipped included), and is None
between messages. A caller bounds that span with its own clock — a deadline for the whole
message, not for the gap between two reads, so a peer that sends one byte at a time cannot
hold a connection — and asks :meth:`SipStream.timed_out` what to answer when it passes.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import NEED_DATA, ConnectionClosed, Event, KeepAlive, Malformed, MessageReceived
from ._message import parse_message

__all__ = ["SipLimits", "SipStream"]


@dataclass(frozen=True)
class SipLimits:
    """Resource limits of one stream."""

    max_header_bytes: int = 16 * 1024  # start line + headers up to the blank line
    max_headers: int = 128
    max_body_bytes: int = 1 << 20


class _State(enum.Enum):
    IDLE = "idle"  # between messages
    BODY = "body"  # header section framed, waiting for Content-Length bytes
    SKIP = "skip"  # discarding the body of a message already answered 413
    CLOSED = "closed"  # EOF reported, or framing lost


_CRLF = b"\r\n"
_PING = b"\r\n\r\n"
# A start line begins with a method token or "SIP/"; anything else first (a TLS record,
# a NUL, a UTF-8 lead byte) is not SIP at all.
_FIRST_BYTE = re.compile(rb"[A-Za-z0-9\-.!%*_+`'~]")
# Control characters other than HTAB in the start line mean binary input.
_BINARY = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_MAX_LENGTH_DIGITS = 15
_CONTENT_LENGTH = re.compile(rb"(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*", re.I)
# The same, found in a whole header section (each line ends with CRLF, the last with two).
_CONTENT_LENGTH_LINE = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*(?=\r\n)", re.I)


class SipStream:
    """Frames SIP messages out of a byte stream, in either direction (client or server)."""

    def __init__(self, limits: SipLimits = SipLimits()) -> None:
        self.limits = limits
        self._buffer = bytearray()
        self._state = _State.IDLE
        self._eof = False
        self._head = b""  # header section (with its CRLFCRLF) of the message in BODY
        self._remaining = 0  # body bytes still expected (BODY) or to discard (SKIP)
        # How far the buffer was searched for the end of the header section: a peer that
        # trickles its header byte by byte must not cost a rescan of it each time.
        self._scanned = 0
        self._framed = 0  # messages framed so far (answered, malformed or skipped alike)

    # -- input -----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the transport; ``b""`` means the peer closed (EOF)."""
        if self._eof:
            raise LocalProtocolError("receive_data() after EOF")
        if data:
            self._buffer += data
        else:
            self._eof = True

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handed out as events."""
        return len(self._buffer)

    @property
    def pending_message(self) -> int | None:
        """The number (1 for the stream's first) of the message being received, or None
        when no part of one is buffered (Rule 4). Read it after :meth:`next_event` returned
        :data:`NEED_DATA`: a new number means a new message began."""
        if self._state in (_State.BODY, _State.SKIP):
            return self._framed + 1
        # Idle: what next_event() left is a keep-alive still arriving ("\r", "\r\n",
        # "\r\n\r") or the start of a message.
        if self._state is _State.IDLE and self._buffer and not self._buffer.startswith(b"\r"):
            return self._framed + 1
        return None

    # -- output ----------------------------------------------------------------------------

    def next_event(self) -> Event | type[NEED_DATA]:
        """The next event, or :data:`NEED_DATA` when the buffered bytes do not make one."""
        if self._state is _State.SKIP:
            self._skip()
        if self._state is _State.CLOSED:
            return self._closed()
        if self._state is _State.BODY:
            return self._body()
        return self._idle()

    def timed_out(self) -> Malformed | None:
        """What to tell a peer whose message stalled, when the caller's read timer fires.

        Returns a fatal ``Malformed`` (to answer before closing) when part of a message is
        buffered — a Content-Length larger than what was sent (RFC 4475 clerr) or a header
        section that never ends — and None when the stream sits idle between messages.
        Either way the stream is closed afterwards.
        """
        state, self._state = self._state, _State.CLOSED
        if state is _State.BODY:
            return Malformed(400, "Incomplete message body (Content-Length exceeds data sent)",
                             self._head + bytes(self._buffer), fatal=True)
        if state is _State.IDLE and self._buffer.strip(b"\r\n"):
            return Malformed(400, "Incomplete message header", bytes(self._buffer), fatal=True)
        return None

    # -- states ----------------------------------------------------------------------------

    def _closed(self) -> ConnectionClosed:
        # After EOF or lost framing nothing more will be framed; bytes still arriving
        # (the peer has not noticed yet) are dropped.
        self._buffer.clear()
        return ConnectionClosed()

    def _fatal(self, status: int, reason: str, raw: bytes) -> Malformed:
        self._state = _State.CLOSED
        self._buffer.clear()
        return Malformed(status, reason, raw, fatal=True)

    def _idle(self) -> Event | type[NEED_DATA]:
        buffer = self._buffer
        if not buffer:
            if self._eof:
                self._state = _State.CLOSED
                return self._closed()
            return NEED_DATA
        if buffer.startswith(b"\r"):
            return self._keep_alive()
        if not _FIRST_BYTE.match(buffer):
            return self._fatal(400, "Not a SIP message", bytes(buffer[:64]))
        end_of_line = buffer.find(_CRLF, 0, self.limits.max_header_bytes)
        if end_of_line >= 0:
            start_line = buffer[:end_of_line]
        else:  # the CR of a CRLF may be the last byte so far
            start_line = buffer[: self.limits.max_header_bytes].removesuffix(b"\r")
        if _BINARY.search(start_line):
            return self._fatal(400, "Not a SIP message", bytes(buffer[:64]))
        end = buffer.find(_PING, max(0, self._scanned - len(_PING) + 1),
                          self.limits.max_header_bytes + len(_PING))
        if end < 0:
            if len(buffer) > self.limits.max_header_bytes:
                return self._fatal(513, "Message Too Large", bytes(buffer[: self.limits.max_header_bytes]))
            if self._eof:
                return self._fatal(400, "Connection closed inside a message header", bytes(buffer))
            self._scanned = len(buffer)
            return NEED_DATA
        self._scanned = 0
        if end + len(_PING) > self.limits.max_header_bytes:
            return self._fatal(513, "Message Too Large", bytes(buffer[: end + len(_PING)]))
        head = bytes(buffer[: end + len(_PING)])
        del buffer[: end + len(_PING)]
        try:
            length = self._content_length(head)
        except RemoteProtocolError as error:
            return self._fatal(error.status, error.reason, head)
        if length > self.limits.max_body_bytes:
            # Still framed: skip the body and stay in step with the peer.
            self._state, self._remaining = _State.SKIP, length
            self._skip()
            return Malformed(413, "Request Entity Too Large", head, fatal=False)
        self._state, self._head, self._remaining = _State.BODY, head, length
        return self._body()

    def _keep_alive(self) -> Event | type[NEED_DATA]:
        buffer = self._buffer
        if buffer.startswith(_PING):
            del buffer[:4]
            return KeepAlive(_PING)
        if _PING.startswith(bytes(buffer)) and not self._eof:
            return NEED_DATA  # "\r", "\r\n" or "\r\n\r": a ping may still be arriving
        if buffer.startswith(_CRLF):
            del buffer[:2]
            return KeepAlive(_CRLF)
        return self._fatal(400, "Not a SIP message", bytes(buffer[:64]))

    def _content_length(self, head: bytes) -> int:
        """Content-Length of a header section, leniently read (the full parse comes later).

        Raises :class:`RemoteProtocolError` when the body cannot be delimited.
        """
        if b"\r\n " in head or b"\r\n\t" in head:
            # Unfold first so a folded Content-Length value is still seen.
            values = set()
            for line in re.sub(rb"\r\n[ \t]+", b" ", head).split(_CRLF)[1:]:
                match = _CONTENT_LENGTH.fullmatch(line)
                if match is not None:
                    values.add(match.group(1))
        else:  # no folding: one pass over the header section
            values = {match.group(1) for match in _CONTENT_LENGTH_LINE.finditer(head)}
        if not values:
            raise RemoteProtocolError(400, "Missing Content-Length header")
        if len(values) > 1:
            raise RemoteProtocolError(400, "Conflicting Content-Length headers")
        (value,) = values
        if not value.isdigit():
            raise RemoteProtocolError(400, "Invalid Content-Length header")
        if len(value) > _MAX_LENGTH_DIGITS:
            # No body that long will ever be skipped through (and Python refuses to turn
            # thousands of digits into an int).
            raise RemoteProtocolError(413, "Request Entity Too Large")
        return int(value)

    def _body(self) -> Event | type[NEED_DATA]:
        if len(self._buffer) < self._remaining:
            if self._eof:
                return self._fatal(400, "Connection closed inside a message body",
                                   self._head + bytes(self._buffer))
            return NEED_DATA
        head, body = self._head, bytes(self._buffer[: self._remaining])
        del self._buffer[: self._remaining]
        self._state, self._head, self._remaining = _State.IDLE, b"", 0
        self._framed += 1
        raw = head + body
        try:
            message = parse_message(head[:-len(_PING)], body, max_headers=self.limits.max_headers)
        except RemoteProtocolError as error:
            return Malformed(error.status, error.reason, raw, fatal=False)
        return MessageReceived(message, raw)

    def _skip(self) -> None:
        dropped = min(self._remaining, len(self._buffer))
        del self._buffer[:dropped]
        self._remaining -= dropped
        if self._remaining == 0:
            self._state = _State.IDLE
            self._framed += 1
        elif self._eof:
            self._state = _State.CLOSED
