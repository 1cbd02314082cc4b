"""Events a :class:`~fakes.sip.SipStream` hands out, and the ``NEED_DATA`` sentinel.

Events are small frozen dataclasses, as in h11: the caller matches on their type and never
has to look inside the framer's state.
"""

from __future__ import annotations

from dataclasses import dataclass

import sipmessage

__all__ = ["NEED_DATA", "ConnectionClosed", "Event", "KeepAlive", "Malformed", "MessageReceived"]


class _SentinelType(type):
    """Metaclass giving the sentinel class a readable repr (``NEED_DATA``)."""

    def __repr__(cls) -> str:
        return cls.__name__


class NEED_DATA(metaclass=_SentinelType):  # noqa: N801 - a sentinel named as in h11
    """Returned by :meth:`SipStream.next_event` when more bytes are needed.

    It is a class, never instantiated: compare with ``is``.
    """

    def __init__(self) -> None:  # pragma: no cover - guard against misuse
        raise TypeError("NEED_DATA is a sentinel, not a class to instantiate")


@dataclass(frozen=True)
class MessageReceived:
    """A complete, well-formed SIP message: its parsed form and its exact bytes."""

    message: sipmessage.Request | sipmessage.Response
    raw: bytes


@dataclass(frozen=True)
class KeepAlive:
    """CRLF keep-alive between messages (RFC 5626 §3.5.1).

    ``raw`` is ``b"\\r\\n\\r\\n"`` for a ping (the receiver of a ping on a server answers
    with a single CRLF pong) and ``b"\\r\\n"`` for a pong or a stray CRLF, which RFC 3261
    §7.5 tells stream receivers to ignore.
    """

    raw: bytes


@dataclass(frozen=True)
class Malformed:
    """Input that is not an acceptable SIP message.

    ``status``/``reason`` are what to answer with (when the input is a request: a
    response is never answered). ``fatal`` says whether the stream lost its framing: when
    true, answer if possible and close the connection; when false the message was framed
    (its body skipped) and the stream keeps going.
    """

    status: int
    reason: str
    raw: bytes
    fatal: bool


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer closed its side (``receive_data(b"")``), or the stream gave up after a
    fatal error."""


Event = MessageReceived | KeepAlive | Malformed | ConnectionClosed
