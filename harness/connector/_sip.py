"""Reading the Front End's answers on the connector's client connections (MTLS and TLS/Kerberos)."""

from __future__ import annotations

import asyncio

import sipmessage

from fakes.sip import NEED_DATA, ConnectionClosed, KeepAlive, Malformed, MessageReceived, SipStream

from ._tls import TlsFailure

__all__ = ["SipFailure", "final_response"]

_READ_SIZE = 65536


class SipFailure(Exception):
    """The SIP exchange after the handshake failed (peer closed, garbage answer)."""

    def __init__(self, failure: TlsFailure) -> None:
        super().__init__(failure.text)
        self.failure = failure


async def final_response(
    reader: asyncio.StreamReader, stream: SipStream, call_id: str, method: str
) -> sipmessage.Response:
    """The final response to our ``method`` request; provisional ones and keep-alives are skipped."""
    while True:
        event = stream.next_event()
        if event is NEED_DATA:
            stream.receive_data(await reader.read(_READ_SIZE))
            continue
        if isinstance(event, MessageReceived):
            message = event.message
            if (
                isinstance(message, sipmessage.Response)
                and message.headers.get("Call-ID") == call_id
                and message.code >= 200
            ):
                return message
            continue
        if isinstance(event, KeepAlive):
            continue
        if isinstance(event, Malformed):
            raise SipFailure(
                TlsFailure(
                    "java.io.IOException",
                    f"malformed SIP answer to {method}: {event.status} {event.reason}",
                    "sip-malformed",
                )
            )
        if isinstance(event, ConnectionClosed):
            raise SipFailure(
                TlsFailure(
                    "java.io.EOFException",
                    f"the Front End closed the connection without answering {method} (under TLS 1.3 this is how a "
                    "refused client certificate looks from the client: the Front End's event log says why)",
                    "frontend-closed",
                )
            )
