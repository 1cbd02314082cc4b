"""The Front End's registrar/UAS core, sans-I/O: injected clock and rng, no sockets."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import pytest

from fakes.frontend import ALLOWED_METHODS, Answer, Registrar, SipSession
from fakes.sip import (
    MessageReceived,
    Request,
    Response,
    SipLimits,
    SipStream,
    make_request,
    parse_name_addr,
)

UCC = "ucc01.companya.com"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registrar(clock: Clock) -> Registrar:
    return Registrar("fe01.companya.com", now=clock, rng=random.Random(7))


def _parse(data: bytes) -> Request | Response:
    stream = SipStream()
    stream.receive_data(data)
    event = stream.next_event()
    assert isinstance(event, MessageReceived), event
    return event.message


def _request(method: str, uri: str = "sip:fe01.companya.com", *, cseq: int = 1,
             call_id: str = "call-1", to_uri: str = "sip:fe01.companya.com",
             headers: Sequence[tuple[str, str]] = (), body: bytes = b"",
             max_forwards: int = 70) -> Request:
    message = _parse(make_request(
        method, uri, via=f"SIP/2.0/TLS {UCC}:5061", branch=f"z9hG4bK{cseq}",
        from_uri=f"sip:{UCC}", from_tag="ucc1", to_uri=to_uri, call_id=call_id, cseq=cseq,
        headers=headers, body=body, max_forwards=max_forwards))
    assert isinstance(message, Request)
    return message


def _response(answer: Answer) -> Response:
    message = _parse(answer.response)
    assert isinstance(message, Response)
    return message


def test_options_lists_what_the_front_end_offers(registrar: Registrar) -> None:
    response = _response(registrar.handle_request(_request("OPTIONS"), peer=UCC))
    assert response.code == 200
    assert response.headers["Allow"].split(", ") == list(ALLOWED_METHODS)
    assert "application/pidf+xml" in response.headers["Accept"]
    assert "msrtc-event-categories" in response.supported
    assert response.headers["CSeq"] == "1 OPTIONS"
    assert parse_name_addr(response.headers["To"]).tag


def test_tags_come_from_the_injected_rng(clock: Clock) -> None:
    tags = []
    for _ in range(2):
        registrar = Registrar("fe01.companya.com", now=clock, rng=random.Random(42))
        tags.append(_response(registrar.handle_request(_request("OPTIONS"), peer=UCC)).headers["To"])
    assert tags[0] == tags[1]


def _register(registrar: Registrar, *contacts: str, cseq: int = 1, expires: str | None = None,
              aor: str = f"sip:{UCC}") -> Response:
    headers = [("Contact", c) for c in contacts]
    if expires is not None:
        headers.append(("Expires", expires))
    request = _request("REGISTER", "sip:companya.com", cseq=cseq, to_uri=aor, headers=headers)
    return _response(registrar.handle_request(request, peer=UCC))


def test_register_binds_and_expires_with_the_clock(registrar: Registrar, clock: Clock) -> None:
    response = _register(registrar, "<sip:ucc01.companya.com:5061;transport=tls>", expires="600")
    assert response.code == 200
    assert response.headers.getlist("Contact") == [
        "<sip:ucc01.companya.com:5061;transport=tls>;expires=600"]
    assert response.date is not None
    clock.now += 200
    (binding,) = registrar.bindings(f"sip:{UCC}")
    assert (binding.contact, binding.peer) == ("sip:ucc01.companya.com:5061;transport=tls", UCC)
    assert binding.expires_at - clock.now == 400
    clock.now += 401
    assert registrar.bindings(f"sip:{UCC}") == []


def test_register_expires_param_wins_and_lists_every_binding(registrar: Registrar) -> None:
    response = _register(registrar, "<sip:a@ucc01.companya.com>;expires=120",
                         "<sip:b@ucc01.companya.com>", expires="300", cseq=1)
    assert sorted(response.headers.getlist("Contact")) == [
        "<sip:a@ucc01.companya.com>;expires=120", "<sip:b@ucc01.companya.com>;expires=300"]
    # Re-registering one and removing the other (expires=0).
    response = _register(registrar, "<sip:a@ucc01.companya.com>;expires=900",
                         "<sip:b@ucc01.companya.com>;expires=0", cseq=2)
    assert response.headers.getlist("Contact") == ["<sip:a@ucc01.companya.com>;expires=900"]


def test_register_limits(registrar: Registrar) -> None:
    too_brief = _register(registrar, "<sip:ucc01.companya.com>", expires="10")
    assert (too_brief.code, too_brief.min_expires) == (423, 60)
    capped = _register(registrar, "<sip:ucc01.companya.com>", expires="99999999999999999999")
    assert capped.headers["Contact"] == "<sip:ucc01.companya.com>;expires=7200"
    for expires in ("soon", "1e3"):
        bad = _register(registrar, f"<sip:ucc01.companya.com>;expires={expires}")
        assert (bad.code, bad.phrase) == (400, "Malformed expires parameter")
    huge = _register(registrar, "<sip:ucc01.companya.com>;expires=" + "9" * 5000)
    assert huge.headers["Contact"] == "<sip:ucc01.companya.com>;expires=7200"


def test_register_wildcard(registrar: Registrar) -> None:
    _register(registrar, "<sip:ucc01.companya.com>")
    assert _register(registrar, "*", expires="60", cseq=2).code == 400
    assert _register(registrar, "*", expires="0", cseq=3).code == 200
    assert registrar.bindings(f"sip:{UCC}") == []


def test_register_query_without_contact(registrar: Registrar) -> None:
    _register(registrar, "<sip:ucc01.companya.com>", expires="600")
    response = _register(registrar, cseq=2)
    assert response.headers.getlist("Contact") == ["<sip:ucc01.companya.com>;expires=600"]


def test_register_of_a_non_sip_aor_is_416(registrar: Registrar) -> None:
    assert _register(registrar, "<sip:x@ucc01.companya.com>", aor="tel:+15551234").code == 416


def _subscribe(registrar: Registrar, *, expires: str = "3600", accept: str | None = None,
               event: str | None = "presence", cseq: int = 1, to_tag: str | None = None) -> Answer:
    headers = [("Contact", "<sip:ucc01.companya.com:5061;transport=tls>"), ("Expires", expires)]
    if event is not None:
        headers.append(("Event", event))
    if accept is not None:
        headers.append(("Accept", accept))
    to_uri = f"<sip:alice@companya.com>;tag={to_tag}" if to_tag else "sip:alice@companya.com"
    request = _request("SUBSCRIBE", "sip:alice@companya.com", to_uri=to_uri,
                       call_id="sub-1", cseq=cseq, headers=headers)
    return registrar.handle_request(request, peer=UCC)


def test_subscribe_answers_200_and_a_notify_in_the_dialog(registrar: Registrar) -> None:
    _register(registrar, "<sip:alice-pc.companya.com>", aor="sip:alice@companya.com")
    answer = _subscribe(registrar)
    response = _response(answer)
    assert (response.code, response.expires) == (200, 3600)
    (notify_bytes,) = answer.requests
    notify = _parse(notify_bytes)
    assert isinstance(notify, Request) and notify.method == "NOTIFY"
    assert str(notify.uri) == "sip:ucc01.companya.com:5061;transport=tls"
    to_tag = parse_name_addr(response.headers["To"]).tag
    assert parse_name_addr(notify.headers["From"]).tag == to_tag
    assert parse_name_addr(notify.headers["To"]).tag == "ucc1"
    assert notify.call_id == "sub-1"
    assert (notify.cseq.sequence, notify.cseq.method) == (1, "NOTIFY")
    assert notify.headers["Event"] == "presence"
    assert notify.headers["Subscription-State"] == "active;expires=3600"
    assert notify.content_type is not None and notify.content_type.mime_type == "application/pidf+xml"
    document = ET.fromstring(notify.body)
    assert document.get("entity") == "sip:alice@companya.com"
    assert document.find(".//{urn:ietf:params:xml:ns:pidf}basic").text == "open"
    # A refresh stays in the dialog: same tag, next CSeq.
    refresh = _subscribe(registrar, cseq=2, to_tag=to_tag)
    assert parse_name_addr(_response(refresh).headers["To"]).tag == to_tag
    assert _parse(refresh.requests[0]).cseq.sequence == 2


def test_subscribe_with_lync_categories(registrar: Registrar) -> None:
    answer = _subscribe(registrar, accept="application/msrtc-event-categories+xml")
    notify = _parse(answer.requests[0])
    assert notify.content_type.mime_type == "application/msrtc-event-categories+xml"
    document = ET.fromstring(notify.body)
    ns = {"c": "http://schemas.microsoft.com/2006/09/sip/categories",
          "s": "http://schemas.microsoft.com/2006/09/sip/state"}
    assert document.find("c:category", ns).get("name") == "state"
    assert document.find(".//s:availability", ns).text == "18000"  # not registered: offline


def test_refresh_of_an_unknown_subscription_is_481(registrar: Registrar) -> None:
    assert _response(_subscribe(registrar, to_tag="not-ours")).code == 481


def test_unsubscribe_terminates(registrar: Registrar) -> None:
    tag = parse_name_addr(_response(_subscribe(registrar)).headers["To"]).tag
    answer = _subscribe(registrar, expires="0", cseq=2, to_tag=tag)
    assert _response(answer).code == 200
    assert _parse(answer.requests[0]).headers["Subscription-State"] == "terminated;reason=timeout"
    assert registrar.subscriptions == {}


@pytest.mark.parametrize("event", ["dialog", None])
def test_subscribe_to_another_package_is_489(registrar: Registrar, event: str | None) -> None:
    response = _response(_subscribe(registrar, event=event))
    assert (response.code, response.headers["Allow-Events"]) == (489, "presence")


@pytest.mark.parametrize(("method", "status"), [
    ("NOTIFY", 200), ("BYE", 481), ("CANCEL", 481), ("INFO", 481), ("MESSAGE", 480),
    ("INVITE", 480), ("PUBLISH", 405), ("REFER", 405), ("FOO", 501),
])
def test_methods(registrar: Registrar, method: str, status: int) -> None:
    response = _response(registrar.handle_request(_request(method), peer=UCC))
    assert response.code == status
    if status in (405, 501):
        assert response.headers["Allow"].split(", ") == list(ALLOWED_METHODS)


def test_ack_is_absorbed(registrar: Registrar) -> None:
    assert registrar.handle_request(_request("ACK"), peer=UCC) == Answer(None, None)


def test_max_forwards_zero_is_483(registrar: Registrar) -> None:
    assert _response(registrar.handle_request(_request("OPTIONS", max_forwards=0), peer=UCC)).code == 483


@pytest.mark.parametrize("missing", ["Call-ID", "From", "To", "CSeq", "Via"])
def test_missing_mandatory_header_is_400_naming_it(registrar: Registrar, missing: str) -> None:
    request = _request("OPTIONS")
    request.headers.remove(missing)
    answer = registrar.handle_request(request, peer=UCC)
    assert (answer.status, answer.reason) == (400, f"Missing {missing} header")


def test_require_of_an_unknown_extension_is_420(registrar: Registrar) -> None:
    request = _request("OPTIONS", headers=[("Require", "gruu-10, 100rel")])
    response = _response(registrar.handle_request(request, peer=UCC))
    assert (response.code, response.headers["Unsupported"]) == (420, "100rel")


def test_unknown_body_type_is_415_with_accept(registrar: Registrar) -> None:
    request = _request("MESSAGE", headers=[("Content-Type", "application/x-nobody")], body=b"x")
    response = _response(registrar.handle_request(request, peer=UCC))
    assert response.code == 415 and "text/plain" in response.headers["Accept"]


def test_session_pongs_a_ping_and_logs_responses_it_receives(registrar: Registrar) -> None:
    session = SipSession(registrar, peer=UCC, limits=SipLimits())
    output = session.receive_data(b"\r\n\r\n")
    assert output.data == b"\r\n"
    assert output.records == [("keep-alive", {"raw": "\r\n\r\n", "pong": True})]
    answer = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS fe01.companya.com:5061;branch=z9hG4bK1\r\n"
              b"From: <sip:alice@companya.com>;tag=1\r\nTo: <sip:ucc01.companya.com>;tag=2\r\n"
              b"Call-ID: sub-1\r\nCSeq: 1 NOTIFY\r\nContent-Length: 0\r\n\r\n")
    output = session.receive_data(answer)
    assert output.data == b""
    assert output.records[0][0] == "response-received"
    assert output.records[0][1]["status"] == 200
