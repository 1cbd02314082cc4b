"""Exceptions of the MS-SIPAE core, shaped like h11's (and :mod:`fakes.sip`'s).

:class:`LocalProtocolError` means *we* misused the library (signing before a security
association exists, a message that is not SIP); :class:`RemoteProtocolError` means the
peer sent an authentication header that breaks the grammar or leaves out what MS-SIPAE
requires; :class:`SignatureError` means a signature (``response`` or ``rspauth``) does not
verify, with the Kerberos error code the GSS layer gave.
"""

from __future__ import annotations

__all__ = ["SipaeError", "LocalProtocolError", "RemoteProtocolError", "SignatureError"]


class SipaeError(Exception):
    """Base class of every error raised by :mod:`fakes.sipae`."""


class LocalProtocolError(SipaeError):
    """The caller asked for something MS-SIPAE does not allow."""


class RemoteProtocolError(SipaeError):
    """The peer's ``header`` is malformed or incomplete; ``reason`` says how."""

    def __init__(self, header: str, reason: str) -> None:
        super().__init__(f"malformed {header} header: {reason}")
        self.header = header
        self.reason = reason


class SignatureError(SipaeError):
    """A message signature that does not verify.

    ``code`` is the RFC 4120 error code of the failure (41 KRB_AP_ERR_MODIFIED for a MIC
    that does not match, 60 KRB_ERR_GENERIC for bytes that are no MIC token), ``reason``
    the text for people.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
