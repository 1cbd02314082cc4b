"""SIP protocol core shared by the Front End stand-in and the UC Connector stand-in.

Sans-I/O in the h11 style: no sockets, no clocks, no randomness — callers pass tags,
branches and Call-IDs, and move the bytes themselves. ``sipmessage`` parses header and
field syntax; framing over a stream is ours (RFC 3261 §18.3: Content-Length is mandatory,
the body is exactly that many bytes, keep-alive CRLFs are skipped). In a minute::

    from fakes.sip import SipStream, MessageReceived, NEED_DATA, make_request, make_response

    stream = SipStream()
    stream.receive_data(make_request(
        "OPTIONS", "sip:fe01.companya.com", via="SIP/2.0/TLS ucc01.companya.com:5061",
        branch="z9hG4bK1", from_uri="sip:ucc01.companya.com", from_tag="a1",
        to_uri="sip:fe01.companya.com", call_id="c1", cseq=1))
    event = stream.next_event()            # MessageReceived(message=<Request>, raw=b"...")
    make_response(event.message, 200, to_tag="b2")   # b"SIP/2.0 200 OK\\r\\nVia: ..."
    stream.next_event() is NEED_DATA       # True

Malformed input never raises: it comes out as a :class:`Malformed` event telling what to
answer (``400`` with a reason, ``505``, ``413``, ``416`` ...) and whether the stream can go
on (``fatal``). :func:`make_error_response` turns such an event into a best-effort answer.
"""

from sipmessage import Request, Response

from ._build import make_error_response, make_request, make_response, reason_phrase
from ._errors import LocalProtocolError, RemoteProtocolError, SipError
from ._events import NEED_DATA, ConnectionClosed, Event, KeepAlive, Malformed, MessageReceived
from ._stream import SipLimits, SipStream
from ._syntax import HeaderFields, NameAddr, ViaParm, check_via, parse_name_addr, parse_name_addrs, parse_via

__all__ = [
    "NEED_DATA",
    "ConnectionClosed",
    "Event",
    "HeaderFields",
    "KeepAlive",
    "LocalProtocolError",
    "Malformed",
    "MessageReceived",
    "NameAddr",
    "RemoteProtocolError",
    "Request",
    "Response",
    "SipError",
    "SipLimits",
    "SipStream",
    "ViaParm",
    "check_via",
    "make_error_response",
    "make_request",
    "make_response",
    "parse_name_addr",
    "parse_name_addrs",
    "parse_via",
    "reason_phrase",
]
