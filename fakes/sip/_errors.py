"""Exceptions of the SIP core, shaped like h11's.

:class:`LocalProtocolError` means *we* misused the library (a bad branch, a header with a
line break); :class:`RemoteProtocolError` means the peer broke the protocol and carries the
status code and reason phrase to answer with.
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "RemoteProtocolError", "SipError"]


class SipError(Exception):
    """Base class of every error raised by :mod:`fakes.sip`."""


class LocalProtocolError(SipError):
    """The caller asked for something SIP does not allow."""


class RemoteProtocolError(SipError):
    """The peer sent something SIP does not allow; answer ``status reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
