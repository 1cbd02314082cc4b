"""SipStream framing: chunk boundaries, keep-alives, Content-Length, limits, EOF, timeouts."""

from __future__ import annotations

import pytest

from fakes.sip import (
    NEED_DATA,
    ConnectionClosed,
    KeepAlive,
    LocalProtocolError,
    Malformed,
    MessageReceived,
    Request,
    Response,
    SipLimits,
    SipStream,
    make_request,
)


def _request(cseq: int = 1, body: bytes = b"", **headers: str) -> bytes:
    return make_request("MESSAGE", "sip:fe01.companya.com", via="SIP/2.0/TLS ucc01.companya.com:5061",
                        branch=f"z9hG4bK{cseq}", from_uri="sip:ucc01.companya.com", from_tag="a",
                        to_uri="sip:fe01.companya.com", call_id="c1", cseq=cseq,
                        headers=[("Content-Type", "text/plain"), *headers.items()], body=body)


def _events(stream: SipStream) -> list[object]:
    events = []
    while (event := stream.next_event()) is not NEED_DATA:
        events.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return events


def _feed(data: bytes, *, chunk: int | None = None, eof: bool = False,
          limits: SipLimits = SipLimits()) -> list[object]:
    stream = SipStream(limits)
    events: list[object] = []
    step = chunk or max(len(data), 1)
    for start in range(0, len(data), step):
        stream.receive_data(data[start:start + step])
        events += _events(stream)
        if events and isinstance(events[-1], ConnectionClosed):
            return events
    if eof:
        stream.receive_data(b"")
        events += _events(stream)
    return events


def _shape(events: list[object]) -> list[object]:
    """Comparable summary of events."""
    shaped: list[object] = []
    for event in events:
        if isinstance(event, MessageReceived):
            shaped.append(("message", event.raw))
        elif isinstance(event, Malformed):
            shaped.append(("malformed", event.status, event.fatal))
        else:
            shaped.append(event)
    return shaped


PIPELINE = (b"\r\n\r\n" + _request(1, b"hello") + b"\r\n" + _request(2, b"\r\n\r\nworld\r\n")
            + b"\r\n\r\n" + _request(3))


def test_pipelined_messages_keep_alives_and_bodies() -> None:
    events = _feed(PIPELINE, eof=True)
    assert [type(e).__name__ for e in events] == [
        "KeepAlive", "MessageReceived", "KeepAlive", "MessageReceived", "KeepAlive",
        "MessageReceived", "ConnectionClosed"]
    assert [e.raw for e in events if isinstance(e, KeepAlive)] == [b"\r\n\r\n", b"\r\n", b"\r\n\r\n"]
    messages = [e.message for e in events if isinstance(e, MessageReceived)]
    assert [m.body for m in messages] == [b"hello", b"\r\n\r\nworld\r\n", b""]
    assert all(isinstance(m, Request) and m.method == "MESSAGE" for m in messages)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_any_chunking_gives_the_same_events(chunk: int) -> None:
    assert _shape(_feed(PIPELINE, chunk=chunk, eof=True)) == _shape(_feed(PIPELINE, eof=True))


def test_lone_crlf_waits_for_a_possible_ping_then_is_a_pong_at_eof() -> None:
    stream = SipStream()
    stream.receive_data(b"\r\n")
    assert stream.next_event() is NEED_DATA
    stream.receive_data(b"")
    assert stream.next_event() == KeepAlive(b"\r\n")
    assert isinstance(stream.next_event(), ConnectionClosed)


def test_response_is_parsed() -> None:
    raw = (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TLS a.example.com;branch=z9hG4bK1\r\n"
           b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: x\r\n"
           b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    (event,) = _feed(raw)
    assert isinstance(event, MessageReceived) and isinstance(event.message, Response)
    assert (event.message.code, event.message.phrase) == (180, "Ringing")


def test_compact_and_folded_headers_are_canonical() -> None:
    raw = (b"OPTIONS sip:fe01.companya.com SIP/2.0\r\nv: SIP/2.0/TLS a.example.com\r\n ;branch=z9hG4bK1\r\n"
           b"f: <sip:a@example.com>;tag=1\r\nt: <sip:b@example.com>\r\ni: x\r\ncseq: 1\r\n  OPTIONS\r\nl: 0\r\n\r\n")
    (event,) = _feed(raw)
    assert isinstance(event, MessageReceived)
    headers = event.message.headers
    assert headers.keys() == ["Via", "From", "To", "Call-ID", "CSeq", "Content-Length"]
    assert headers["Via"] == "SIP/2.0/TLS a.example.com ;branch=z9hG4bK1"
    assert event.message.cseq.method == "OPTIONS"


@pytest.mark.parametrize(("content_length", "reason"), [
    (None, "Missing Content-Length header"),
    ("\u0665".encode(), "Invalid Content-Length header"),  # a non-ASCII digit
    (b"-5", "Invalid Content-Length header"),
    (b"abc", "Invalid Content-Length header"),
    (b"1e3", "Invalid Content-Length header"),
])
def test_content_length_that_cannot_frame_is_fatal(content_length: bytes | None, reason: str) -> None:
    raw = _request().replace(b"Content-Length: 0\r\n", b"" if content_length is None
                             else b"Content-Length: " + content_length + b"\r\n")
    events = _feed(raw + _request(2))
    assert _shape(events) == [("malformed", 400, True), ConnectionClosed()]
    assert events[0].reason == reason


def test_conflicting_content_lengths_are_fatal_and_equal_ones_are_not() -> None:
    twice = _request(body=b"abcde").replace(b"Content-Length: 5\r\n",
                                             b"Content-Length: 5\r\nl: 13\r\n")
    assert _shape(_feed(twice)) == [("malformed", 400, True), ConnectionClosed()]
    same = _request(body=b"abcde").replace(b"Content-Length: 5\r\n", b"Content-Length: 5\r\nl: 5\r\n")
    events = _feed(same + _request(2))
    assert _shape(events)[0] == ("malformed", 400, False)
    assert events[0].reason == "Multiple Content-Length headers"
    assert isinstance(events[1], MessageReceived)


def test_body_longer_than_the_rest_waits_and_a_timeout_answers_it() -> None:
    stream = SipStream()
    stream.receive_data(_request(body=b"0123456789")[:-4])
    assert stream.next_event() is NEED_DATA
    stalled = stream.timed_out()
    assert stalled is not None and (stalled.status, stalled.fatal) == (400, True)
    assert isinstance(stream.next_event(), ConnectionClosed)


def test_timeout_between_messages_says_nothing() -> None:
    stream = SipStream()
    stream.receive_data(_request())
    assert isinstance(stream.next_event(), MessageReceived)
    assert stream.timed_out() is None


def test_half_a_header_then_timeout() -> None:
    stream = SipStream()
    stream.receive_data(b"OPTIONS sip:fe01.companya.com SIP/2.0\r\nVia: SIP/2.0/TLS a")
    assert stream.next_event() is NEED_DATA
    stalled = stream.timed_out()
    assert stalled is not None and stalled.reason == "Incomplete message header"


def test_eof_inside_a_message_is_fatal() -> None:
    assert _shape(_feed(_request(body=b"abc")[:-1], eof=True)) == [
        ("malformed", 400, True), ConnectionClosed()]
    assert _shape(_feed(b"OPTIONS sip:x SIP/2.0\r\n", eof=True)) == [
        ("malformed", 400, True), ConnectionClosed()]


def test_body_over_the_limit_is_413_and_skipped() -> None:
    limits = SipLimits(max_body_bytes=10)
    events = _feed(_request(1, b"x" * 50) + _request(2, b"y" * 5), chunk=9, limits=limits)
    assert _shape(events)[0] == ("malformed", 413, False)
    assert isinstance(events[1], MessageReceived) and events[1].message.body == b"yyyyy"


def test_header_section_over_the_limit_is_fatal_513() -> None:
    limits = SipLimits(max_header_bytes=512)
    big = _request(**{"X-Padding": "p" * 600})
    events = _feed(big, chunk=100, limits=limits)
    assert _shape(events) == [("malformed", 513, True), ConnectionClosed()]
    # Unterminated garbage stops at the limit too, without waiting for a blank line.
    assert _shape(_feed(b"A" * 600, limits=limits)) == [("malformed", 513, True), ConnectionClosed()]


def test_too_many_headers_is_513_but_framed() -> None:
    limits = SipLimits(max_headers=10)
    many = _request(**{f"X-H{i}": "v" for i in range(10)})
    events = _feed(many + _request(2), limits=limits)
    assert _shape(events)[0] == ("malformed", 513, False)
    assert isinstance(events[1], MessageReceived)


@pytest.mark.parametrize("junk", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on a plain stream
    b"\x00\x00\x00\x00",
    b"\xff\xfe\r\n\r\n",
    b"GET\x01 / HTTP/1.1\r\n\r\n",
    b"\r\x00",
])
def test_binary_junk_is_fatal_at_once(junk: bytes) -> None:
    assert _shape(_feed(junk)) == [("malformed", 400, True), ConnectionClosed()]


def test_505_for_another_sip_version_and_stream_goes_on() -> None:
    raw = _request().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1)
    events = _feed(raw + _request(2))
    assert _shape(events)[0] == ("malformed", 505, False)
    assert isinstance(events[1], MessageReceived)


@pytest.mark.parametrize(("old", "new", "reason"), [
    (b"CSeq: 1 MESSAGE", b"CSeq: 1 OPTIONS", "CSeq method does not match the request method"),
    (b"CSeq: 1 MESSAGE", b"CSeq: 2147483648 MESSAGE", "Malformed CSeq header"),
    (b"CSeq: 1 MESSAGE", "CSeq: \u0661 MESSAGE".encode(), "Malformed CSeq header"),  # Arabic-Indic 1
    (b"CSeq: 1 MESSAGE", b"CSeq: " + b"9" * 5000 + b" MESSAGE", "Malformed CSeq header"),
    (b"Max-Forwards: 70", b"Max-Forwards: 256", "Malformed Max-Forwards header"),
    (b"Max-Forwards: 70", b"Max-Forwards: " + b"1" * 5000, "Malformed Max-Forwards header"),
    (b"Call-ID: c1", b"Call-ID: c 1", "Malformed Call-ID header"),
    (b"From: <sip:ucc01.companya.com>", b"From: <sip:ucc01.companya.com", "Malformed From header"),
    (b"Via: SIP/2.0/TLS", b"Via: SIP/2.1/TLS", "Malformed Via header"),
    (b"MESSAGE sip:fe01.companya.com", b"MESSAGE  sip:fe01.companya.com", "Malformed Request-Line"),
    (b"MESSAGE sip:fe01.companya.com", b"MESSAGE mailto:fe01@companya.com", "Unsupported URI Scheme"),
    (b"Content-Type: text/plain", b"Content-Type: text", "Malformed Content-Type header"),
    (b"Content-Type: text/plain", b"Content-Type: text/plain\r\nno colon here", "Malformed header line"),
])
def test_framed_but_malformed_costs_only_itself(old: bytes, new: bytes, reason: str) -> None:
    raw = _request().replace(old, new, 1)
    events = _feed(raw + _request(2))
    assert isinstance(events[0], Malformed) and not events[0].fatal
    assert events[0].reason == reason
    assert isinstance(events[1], MessageReceived)


def test_receive_after_eof_is_a_local_error() -> None:
    stream = SipStream()
    stream.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        stream.receive_data(b"x")
    assert isinstance(stream.next_event(), ConnectionClosed)
    assert isinstance(stream.next_event(), ConnectionClosed)


# -- Rule 4: what a caller's whole-message deadline follows ------------------------------

def _pending_after_each_byte(data: bytes, limits: SipLimits = SipLimits()) -> list[int | None]:
    stream = SipStream(limits)
    pending = []
    for byte in data:
        stream.receive_data(bytes([byte]))
        _events(stream)
        pending.append(stream.pending_message)
    return pending


def test_a_message_is_pending_from_its_first_byte_to_its_last() -> None:
    first, second = _request(1, b"abc"), _request(2)
    pending = _pending_after_each_byte(first + second)
    assert pending == [1] * (len(first) - 1) + [None] + [2] * (len(second) - 1) + [None]


def test_keep_alives_between_messages_are_not_a_pending_message() -> None:
    pending = _pending_after_each_byte(b"\r\n\r\n\r\n" + _request())
    assert pending[:6] == [None] * 6
    assert pending[6] == 1 and pending[-1] is None


def test_a_message_whose_body_is_skipped_stays_pending_until_the_body_has_passed() -> None:
    limits = SipLimits(max_body_bytes=4)
    big = _request(1, b"x" * 20)
    pending = _pending_after_each_byte(big + _request(2), limits)
    assert pending[len(big) - 2] == 1  # the 413 was given, the body is still arriving
    assert pending[len(big) - 1] is None
    assert pending[len(big)] == 2


def test_a_new_message_in_the_same_read_gets_a_new_number() -> None:
    stream = SipStream()
    stream.receive_data(_request(1) + _request(2)[:10])
    assert isinstance(stream.next_event(), MessageReceived)
    assert stream.next_event() is NEED_DATA
    assert stream.pending_message == 2


def test_nothing_is_pending_once_the_stream_is_closed() -> None:
    stream = SipStream()
    stream.receive_data(b"OPTIONS sip:x SIP/2.0\r\n")
    assert stream.next_event() is NEED_DATA and stream.pending_message == 1
    assert stream.timed_out() is not None
    assert stream.pending_message is None
