"""One connection's SIP service, sans-I/O: bytes in → bytes out and event-log records.

Glue between the framer (:class:`fakes.sip.SipStream`) and the shared
:class:`~fakes.frontend._registrar.Registrar`. The asyncio shell feeds it the plaintext
that came out of TLS and writes back what it returns.

On a connection that is not a trusted MTLS peer (no client certificate, Kerberos
configured) every request goes through the Front End's :class:`fakes.sipae.SipaeServer`
first: without a security association it is answered ``401`` with the challenges (ACK and
CANCEL are dropped, MS-SIPAE §3.3.5.1); with one, the registrar answers for the
authenticated principal and everything sent back is signed (``Authentication-Info``).

The top Via of every request is stamped as the server transport receives it, so every
answer carries it back:

1. RFC 3261 §18.2.1: ``received=<source address>`` when the sent-by host is a domain name
   or an address other than the source.
2. RFC 3581 §4: an ``rport`` without a value is filled with the source port, and
   ``received`` is then added even when the address is the same.
3. Lync, first hop over TLS: ``ms-received-port=<source port>`` and
   ``ms-received-cid=<connection id in hex>`` always, and ``received`` also when the
   sent-by port differs from the source port or is missing. MS-SIPRE gives only the ABNF
   (learn.microsoft.com/en-us/openspecs/office_protocols/ms-sipre/6cf7fdd0-5c11-45ca-a1b7-72737a2976ed);
   the rule is inferred from three traces (a Lync 2013 401: ``Via: SIP/2.0/TLS
   192.168.66.57:13982;branch=…;ms-received-port=13982;ms-received-cid=25100``, no
   ``received`` when address and port match; sofia-sip's OCS 2007 R2 message:
   ``…192.168.43.1:5069;received=192.168.43.1;ms-received-port=54059;ms-received-cid=E500``,
   ``received`` for a port alone) — assumed beyond them, as is the cid's form (hex of the
   connection's number; the traces show hex digits).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

import sipmessage

from fakes.sip import (
    NEED_DATA,
    ConnectionClosed,
    KeepAlive,
    Malformed,
    MessageReceived,
    SipLimits,
    SipStream,
    check_via,
    parse_via,
)
from fakes.sipae import (
    BadSignature,
    Established,
    NeedChallenge,
    Rejected,
    SecurityAssociation,
    SipaeServer,
    Verified,
)

from ._registrar import Answer, Registrar

__all__ = ["Output", "SipSession"]

_EXCERPT = 200  # bytes of a malformed message kept in the log


@dataclass
class Output:
    """What the shell must do after feeding bytes: send ``data``, log ``records``
    (``(type, fields)``), then close if ``close``."""

    data: bytes = b""
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    close: bool = False


def _request_fields(request: sipmessage.Request, raw: bytes) -> dict[str, Any]:
    """The request as its event records it (the Request-URI as it came)."""
    headers = request.headers
    return {
        "method": request.method,
        "uri": raw[:raw.find(b"\r\n")].split(b" ")[1].decode("utf-8", "replace"),
        "call_id": headers.get("Call-ID"),
        "cseq": headers.get("CSeq"),
        "from": headers.get("From"),
        "to": headers.get("To"),
        # Copies: the records never change, and the transport stamps the Via after this.
        "contact": list(headers.getlist("Contact")),
        "via": list(headers.getlist("Via")),
    }


@functools.lru_cache(maxsize=256)
def _other_address(sent_by: str, source: str) -> bool:
    """Whether a Via's sent-by host is not the source address (a name always is, rule 1)."""
    try:
        return ipaddress.ip_address(sent_by) != ipaddress.ip_address(source)
    except ValueError:
        return True


class SipSession:
    """SIP over one connection: a trusted MTLS peer's, or (with ``sipae``) a client's
    whose requests must authenticate with MS-SIPAE Kerberos."""

    def __init__(self, registrar: Registrar, *, peer: str, limits: SipLimits,
                 sipae: SipaeServer | None = None, source: tuple[str, int] | None = None,
                 connection_id: int | None = None) -> None:
        self._registrar = registrar
        self._peer = peer
        self._sipae = sipae
        self._stream = SipStream(limits)
        self._source = source
        self._cid = format(connection_id, "X") if connection_id is not None else None

    def receive_data(self, data: bytes, *, eof: bool = False) -> Output:
        """Process plaintext from the peer; ``eof`` when the peer has closed after it."""
        if data:
            self._stream.receive_data(data)
        if eof:
            self._stream.receive_data(b"")
        output = Output()
        while True:
            event = self._stream.next_event()
            if event is NEED_DATA:
                return output
            if isinstance(event, ConnectionClosed):
                output.close = True
                return output
            if isinstance(event, KeepAlive):
                self._keep_alive(event, output)
            elif isinstance(event, Malformed):
                self._malformed(event, output)
                if event.fatal:
                    output.close = True
                    return output
            elif isinstance(event, MessageReceived):
                self._message(event, output)

    @property
    def pending_message(self) -> int | None:
        """The number of the SIP message being received, None between messages: the
        shell's whole-message deadline starts when it changes (:attr:`SipStream.pending_message`)."""
        return self._stream.pending_message

    def timed_out(self) -> Output:
        """The shell's read timer or message deadline fired: answer a stalled message if
        any, then close."""
        output = Output(close=True)
        stalled = self._stream.timed_out()
        if stalled is not None:
            self._malformed(stalled, output)
        return output

    def _keep_alive(self, event: KeepAlive, output: Output) -> None:
        pong = event.raw == b"\r\n\r\n"  # RFC 5626 §3.5.1: a ping gets a CRLF pong
        if pong:
            output.data += b"\r\n"
        output.records.append(("keep-alive", {"raw": event.raw.decode("ascii"), "pong": pong}))

    def _malformed(self, event: Malformed, output: Output) -> None:
        answer = self._registrar.answer_malformed(event)
        output.records.append(("malformed", {
            "status": event.status, "reason": event.reason, "fatal": event.fatal,
            "excerpt": event.raw[:_EXCERPT].decode("utf-8", "replace"),
            "answered": answer.status is not None,
        }))
        self._send(answer, output, method=None, call_id=None)

    def _message(self, event: MessageReceived, output: Output) -> None:
        message = event.message
        if isinstance(message, sipmessage.Response):
            # The subscriber's answer to our NOTIFY; responses are never answered.
            output.records.append(("response-received", {
                "status": message.code, "reason": message.phrase,
                "cseq": message.headers.get("CSeq"), "call_id": message.headers.get("Call-ID"),
            }))
            return
        output.records.append(("request", _request_fields(message, event.raw)))
        if self._source is not None:
            self._stamp_via(message)
        if self._sipae is None:
            answer = self._registrar.handle_request(message, peer=self._peer)
        else:
            answer = self._authenticated(self._sipae, message, output)
        self._send(answer, output, method=message.method, call_id=message.headers.get("Call-ID"))

    def _stamp_via(self, request: sipmessage.Request) -> None:
        """The top Via as the server transport stamps it (rules 1-3 of the module)."""
        assert self._source is not None
        vias = request.headers.getlist("Via")
        if not vias:
            return
        top = vias[0]
        try:
            sent_by, port_text, params = check_via(top)
        except ValueError:  # the parser let it through: nothing to stamp safely
            return
        host, port = self._source
        other_address = _other_address(sent_by.strip("[]"), host)
        lowered = params.lower()
        if "rport" not in lowered and "received" not in lowered:
            # Nothing to replace: the parameters are appended.
            stamped = top
            if other_address or port_text is None or port_text.lstrip("0") != str(port):  # rules 1 and 3
                stamped += f";received={host}"
            if self._cid is not None:  # rule 3
                stamped += f";ms-received-port={port};ms-received-cid={self._cid}"
        else:
            try:
                via = parse_via(top)
            except ValueError:  # a port of thousands of digits: no number to compare
                return
            changes: dict[str, str | None] = {}
            if via.param("rport") == "":  # rule 2
                changes["rport"] = str(port)
            if other_address or "rport" in changes or via.port != port:  # rules 1-3
                changes["received"] = host
            if self._cid is not None:  # rule 3
                changes["ms_received_port"] = str(port)
                changes["ms_received_cid"] = self._cid
            stamped = str(via.with_params(**changes))
        request.headers.setlist("Via", [stamped, *vias[1:]])

    def _authenticated(self, sipae: SipaeServer, request: sipmessage.Request, output: Output) -> Answer:
        """The answer to a request on a connection that must authenticate (MS-SIPAE)."""
        decision = sipae.check(request)
        method = request.method
        if isinstance(decision, (Established, Verified)):
            sa = decision.sa
            if isinstance(decision, Established):
                output.records.append(("sipae-authenticated", {
                    "method": method, **sa.describe(), "signed": decision.signed, "cnum": decision.cnum}))
            else:
                output.records.append(("sipae-verified", {
                    "method": method, "principal": sa.client_principal, "opaque": sa.opaque,
                    "cnum": decision.cnum}))
            return self._signed(sipae, sa, self._registrar.handle_request(request, peer=sa.client_principal))
        if isinstance(decision, NeedChallenge):
            output.records.append(("sipae-challenge", {"method": method, "reason": decision.reason}))
        elif isinstance(decision, Rejected):
            output.records.append(("sipae-rejected", {
                "method": method, "reason": decision.reason, "error_code": decision.error_code,
                "error_name": decision.error_name}))
        elif isinstance(decision, BadSignature):
            output.records.append(("sipae-bad-signature", {
                "method": method, "principal": decision.sa.client_principal, "opaque": decision.sa.opaque,
                "reason": decision.reason, "error_code": decision.error_code, "error_name": decision.error_name}))
        if method in ("ACK", "CANCEL"):
            return Answer(None, None)  # MS-SIPAE §3.3.5.1: discarded, never challenged
        return self._registrar.challenge(request, sipae.challenges())

    @staticmethod
    def _signed(sipae: SipaeServer, sa: SecurityAssociation, answer: Answer) -> Answer:
        """``answer`` with every message it sends signed for ``sa`` (Authentication-Info)."""
        return replace(answer, response=sipae.sign(sa, answer.response) if answer.response else b"",
                       requests=tuple(sipae.sign(sa, request) for request in answer.requests))

    def _send(self, answer: Answer, output: Output, *, method: str | None,
              call_id: str | None) -> None:
        if answer.status is not None:
            output.data += answer.response
            record = {"status": answer.status, "reason": answer.reason, "method": method, "call_id": call_id}
            if answer.diagnostic is not None:
                record["ms_diagnostics"] = answer.diagnostic
            output.records.append(("response", record))
        for request in answer.requests:
            output.data += request
            start = request.split(b"\r\n", 1)[0].decode("utf-8")
            output.records.append(("request-sent", {"start_line": start, "call_id": call_id}))
