"""make_request / make_response / make_error_response / reason_phrase."""

from __future__ import annotations

import pytest

from fakes.sip import (
    LocalProtocolError,
    MessageReceived,
    Request,
    Response,
    SipStream,
    make_error_response,
    make_request,
    make_response,
    parse_name_addr,
    reason_phrase,
)

REQUEST_ARGS = dict(via="SIP/2.0/TLS ucc01.companya.com:5061", branch="z9hG4bKabc",
                    from_uri="sip:ucc01.companya.com", from_tag="f1",
                    to_uri="sip:fe01.companya.com", call_id="call-1@ucc01", cseq=7)


def _parse(data: bytes) -> Request | Response:
    stream = SipStream()
    stream.receive_data(data)
    event = stream.next_event()
    assert isinstance(event, MessageReceived), event
    assert event.raw == data
    return event.message


def test_make_request_round_trips() -> None:
    data = make_request("REGISTER", "sip:companya.com", **REQUEST_ARGS,
                        headers=[("Contact", "<sip:ucc01.companya.com:5061;transport=tls>"),
                                 ("Expires", "3600")], body=b"", max_forwards=10)
    message = _parse(data)
    assert isinstance(message, Request)
    assert message.method == "REGISTER" and str(message.uri) == "sip:companya.com"
    (via,) = message.via
    assert (via.transport, via.host, via.port, via.parameters["branch"]) == (
        "TLS", "ucc01.companya.com", 5061, "z9hG4bKabc")
    assert message.max_forwards == 10
    assert message.headers["From"] == "<sip:ucc01.companya.com>;tag=f1"
    assert message.headers["To"] == "<sip:fe01.companya.com>"
    assert (message.cseq.sequence, message.cseq.method) == (7, "REGISTER")
    assert message.headers["Content-Length"] == "0"
    assert message.expires == 3600


def test_make_request_body_and_name_addr_to() -> None:
    data = make_request("NOTIFY", "sip:ucc01.companya.com:5061;transport=tls",
                        **{**REQUEST_ARGS, "to_uri": '"UCC" <sip:ucc01.companya.com>;tag=t9'},
                        headers=[("Content-Type", "application/pidf+xml")], body=b"<presence/>")
    message = _parse(data)
    assert message.body == b"<presence/>"
    assert message.content_length == len(b"<presence/>")
    assert parse_name_addr(message.headers["To"]).tag == "t9"


@pytest.mark.parametrize(("change", "match"), [
    ({"branch": "abc"}, "z9hG4bK"),
    ({"cseq": 2**31}, "CSeq"),
    ({"cseq": -1}, "CSeq"),
    ({"max_forwards": 256}, "Max-Forwards"),
    ({"call_id": "a b"}, "call_id"),
    ({"via": "SIP/2.0/TLS a\r\nX: y"}, "line break"),
    ({"headers": [("Content-Length", "5")]}, "Content-Length"),
    ({"headers": [("Bad Name", "x")]}, "header name"),
    ({"headers": [("X-Evil", "a\r\nVia: injected")]}, "line break"),
])
def test_make_request_refuses_what_sip_does_not_allow(change: dict[str, object], match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        make_request("OPTIONS", "sip:fe01.companya.com", **{**REQUEST_ARGS, **change})  # type: ignore[arg-type]


def test_make_request_refuses_a_bad_method() -> None:
    with pytest.raises(LocalProtocolError, match="method"):
        make_request("OPT IONS", "sip:fe01.companya.com", **REQUEST_ARGS)  # type: ignore[arg-type]


INVITE = (b"INVITE sip:bob@companya.com SIP/2.0\r\n"
          b"Via: SIP/2.0/TLS proxy2.companya.com:5061;branch=z9hG4bK-3\r\n"
          b"v: SIP/2.0/TLS proxy1.companya.com:5061;branch=z9hG4bK-2, SIP/2.0/TLS alice-pc.companya.com;branch=z9hG4bK-1\r\n"
          b"Max-Forwards: 68\r\nFrom: \"Alice\" <sip:alice@companya.com>;tag=a1\r\n"
          b"To: <sip:bob@companya.com>\r\nCall-ID: inv-1@alice-pc\r\nCSeq: 314 INVITE\r\n"
          b"Content-Length: 0\r\n\r\n")


def test_make_response_mirrors_vias_in_order_and_adds_the_to_tag() -> None:
    request = _parse(INVITE)
    assert isinstance(request, Request)
    response = _parse(make_response(request, 486, to_tag="b7", headers=[("Retry-After", "30")]))
    assert isinstance(response, Response)
    assert (response.code, response.phrase) == (486, "Busy Here")
    assert [str(v) for v in response.via] == [
        "SIP/2.0/TLS proxy2.companya.com:5061;branch=z9hG4bK-3",
        "SIP/2.0/TLS proxy1.companya.com:5061;branch=z9hG4bK-2",
        "SIP/2.0/TLS alice-pc.companya.com;branch=z9hG4bK-1"]
    assert response.headers["From"] == '"Alice" <sip:alice@companya.com>;tag=a1'
    assert response.headers["To"] == "<sip:bob@companya.com>;tag=b7"
    assert response.headers["Call-ID"] == "inv-1@alice-pc"
    assert response.headers["CSeq"] == "314 INVITE"
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Content-Length"] == "0"


def test_no_to_tag_on_100_or_when_one_is_there() -> None:
    request = _parse(INVITE)
    assert isinstance(request, Request)
    trying = _parse(make_response(request, 100, to_tag="b7"))
    assert trying.headers["To"] == "<sip:bob@companya.com>"
    tagged = _parse(INVITE.replace(b"To: <sip:bob@companya.com>", b"To: <sip:bob@companya.com> ; tag = x1"))
    assert isinstance(tagged, Request)
    assert _parse(make_response(tagged, 200, to_tag="b7")).headers["To"] == \
        "<sip:bob@companya.com> ; tag = x1"


def test_make_response_reason_and_body() -> None:
    request = _parse(INVITE)
    assert isinstance(request, Request)
    data = make_response(request, 400, "Missing Call-ID header", body=b"oops")
    assert data.startswith(b"SIP/2.0 400 Missing Call-ID header\r\n")
    assert data.endswith(b"Content-Length: 4\r\n\r\noops")
    with pytest.raises(LocalProtocolError):
        make_response(request, 400, "bad\r\nreason")
    with pytest.raises(LocalProtocolError):
        make_response(request, 700)


@pytest.mark.parametrize(("status", "phrase"), [
    (100, "Trying"), (200, "OK"), (202, "Accepted"), (405, "Method Not Allowed"),
    (415, "Unsupported Media Type"), (416, "Unsupported URI Scheme"), (420, "Bad Extension"),
    (423, "Interval Too Brief"), (481, "Call/Transaction Does Not Exist"), (483, "Too Many Hops"),
    (489, "Bad Event"), (501, "Not Implemented"), (505, "Version Not Supported"),
    (513, "Message Too Large"), (603, "Decline"), (299, "Success"), (499, "Client Error"),
])
def test_reason_phrases(status: int, phrase: str) -> None:
    assert reason_phrase(status) == phrase


def test_make_error_response_mirrors_what_it_can() -> None:
    broken = INVITE.replace(b"CSeq: 314 INVITE", b"CSeq: 314 INVITE\r\n\x01garbage line")
    data = make_error_response(broken, 400, "Malformed header line", to_tag="z")
    assert data is not None
    response = _parse(data)
    assert response.code == 400 and response.phrase == "Malformed header line"
    assert len(response.via) == 3
    assert response.headers["To"] == "<sip:bob@companya.com>;tag=z"
    assert response.headers["CSeq"] == "314 INVITE"


@pytest.mark.parametrize("raw", [
    b"OPTIONS sip:fe01.companya.com SIP/2.0\r\nVi",
    b"OPTIONS sip:x SIP/2.0\r\n continuation first\r\nVia",
    b"OPTIONS sip:x SIP/2.0\r\n\xff\xfe: \x00\r\n:\r\n",
])
def test_make_error_response_on_truncated_or_broken_headers(raw: bytes) -> None:
    data = make_error_response(raw, 400, "Incomplete message header")
    assert data is not None and data.startswith(b"SIP/2.0 400 Incomplete message header\r\n")
    assert _parse(data).code == 400


def test_make_error_response_never_answers_a_response_or_junk() -> None:
    assert make_error_response(b"SIP/2.0 4294967301 big\r\n\r\n", 400, "x") is None
    assert make_error_response(b"\x16\x03\x01", 400, "x") is None
