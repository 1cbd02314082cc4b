"""The MS-SIPAE signature: the buffer a message is signed over, and its RFC 4121 MIC.

Sources, as this module follows them:

- [MS-SIP] §3.1.4.2 "Sending a SIP Message": the sender signs a buffer of values, each
  enclosed in angle brackets, in this order: authentication protocol, crand (srand from
  the server), cnum (snum), realm, targetname, Call-ID, CSeq number, CSeq method, From
  URL, From tag, To tag, Expires (optional), response code (responses only) — and uses
  the values "as they appear in the message", case included, even where SIP compares
  case-insensitively. The signature is GSS_GetMIC over it (RFC 1964 §1.2; with AES keys
  the RFC 4121 §4.2.6.1 token).
- [MS-SIPAE] §3.2.5.2 (client) / §3.3.5.x (server) for version 3 and later add the To
  URL after the From tag and the P-Asserted-Identity's SIP URI and TEL URI before
  Expires. The public pidgin-sipe client (``sipe-sign.c``, ``sipmsg_breakdown_get_string``)
  writes exactly: ``<protocol><rand><num><realm><targetname><Call-ID><CSeq number>
  <CSeq method><From URI><From tag><To URI><To tag><PAI sip URI><PAI tel URI><Expires>``
  and, for a response only, ``<code>`` — nothing at all for a request. An absent value
  is ``<>``.
- How values are taken (pidgin-sipe ``sipmsg_breakdown_parse``): the URIs are the text
  between ``<`` and ``>`` of From, To and P-Asserted-Identity (our name-addr parser also
  reads an addr-spec without brackets); the tags are the ``tag`` parameters; the PAI is
  the first ``sip:`` (or ``sips:``) and the first ``tel:`` URI among the
  P-Asserted-Identity values, else among P-Preferred-Identity's; Expires is the Expires
  header field as it is; the CSeq method of a response is its CSeq's.
- The signature's text form is the MIC token in hexadecimal (pidgin-sipe
  ``sip_sec_make_signature``; Lync's ``rspauth`` in the [MS-OCPSTN] §4.7.2.1 capture is
  lower-case hex). This module writes lower case and reads either.

Versions 1 and 2 (no To URI, no PAI) predate Lync and are refused.
"""

from __future__ import annotations

from typing import Protocol

import sipmessage

from fakes.kerberos import ErrorCode, KerberosError
from fakes.sip import Malformed, MessageReceived, SipStream, parse_name_addr, parse_name_addrs

from ._errors import LocalProtocolError, SignatureError

__all__ = ["MicContext", "signature_buffer", "make_signature", "check_signature", "parse_message", "with_header"]

_SIP_SCHEMES = ("sip", "sips")


class MicContext(Protocol):
    """An established GSS-API context that signs and verifies: :class:`fakes.kerberos.
    InitiatorContext`, :class:`fakes.kerberos.AcceptedContext`, or an adapter around
    another library's context (MIT's, in the interop tests)."""

    def get_mic(self, data: bytes) -> bytes:
        """GSS_GetMIC over ``data``."""

    def verify_mic(self, data: bytes, token: bytes) -> int:
        """GSS_VerifyMIC; returns the token's sequence number, raises on a bad token."""


def _address(message: sipmessage.Request | sipmessage.Response, name: str) -> tuple[str, str]:
    """The URI and tag of a From / To field as they appear ("" when absent or unreadable)."""
    value = message.headers.get(name)
    if value is None:
        return "", ""
    try:
        address = parse_name_addr(value)
    except ValueError:
        return "", ""
    return address.uri, address.tag or ""


def _asserted_identity(message: sipmessage.Request | sipmessage.Response) -> tuple[str, str]:
    """The first SIP URI and the first TEL URI of the asserted (else preferred) identity."""
    values = message.headers.getlist("P-Asserted-Identity") or message.headers.getlist("P-Preferred-Identity")
    sip_uri = tel_uri = ""
    for value in values:
        try:
            addresses = parse_name_addrs(value)
        except ValueError:
            continue
        for address in addresses:
            if address.scheme in _SIP_SCHEMES and not sip_uri:
                sip_uri = address.uri
            elif address.scheme == "tel" and not tel_uri:
                tel_uri = address.uri
    return sip_uri, tel_uri


def signature_buffer(message: sipmessage.Request | sipmessage.Response, *, protocol: str, rand: str, num: str,
                     realm: str, targetname: str, version: int = 4) -> bytes:
    """The bytes MS-SIPAE signs for ``message`` (see the module docstring for the order).

    ``rand``/``num`` are crand/cnum for a request the client signs, srand/snum for a
    message the server signs. ``version`` is the MS-SIPAE version of the security
    association (3 or later).
    """
    if version < 3:
        raise LocalProtocolError(f"MS-SIPAE version {version} signatures (before Lync) are not supported")
    cseq = (message.headers.get("CSeq") or "").split(None, 1)
    cseq_number, cseq_method = (cseq + ["", ""])[:2]
    from_uri, from_tag = _address(message, "From")
    to_uri, to_tag = _address(message, "To")
    pai_sip, pai_tel = _asserted_identity(message)
    values = [protocol, rand, num, realm, targetname, message.headers.get("Call-ID") or "", cseq_number,
              cseq_method.strip(), from_uri, from_tag, to_uri, to_tag, pai_sip, pai_tel,
              message.headers.get("Expires") or ""]
    text = "".join(f"<{value}>" for value in values)
    if isinstance(message, sipmessage.Response):
        text += f"<{message.code}>"
    return text.encode("utf-8")


def make_signature(context: MicContext, buffer: bytes) -> str:
    """The MIC token over ``buffer``, in hexadecimal: a ``response`` or ``rspauth`` value."""
    return context.get_mic(buffer).hex()


def check_signature(context: MicContext, buffer: bytes, signature: str) -> int:
    """Verify a ``response``/``rspauth`` value over ``buffer``; returns the token's sequence
    number. :class:`SignatureError` with the Kerberos code when it does not verify."""
    try:
        token = bytes.fromhex(signature)
    except ValueError:
        raise SignatureError(ErrorCode.KRB_ERR_GENERIC, "the signature is not hexadecimal bytes") from None
    try:
        return context.verify_mic(buffer, token)
    except KerberosError as error:
        raise SignatureError(error.code, str(error)) from error


def parse_message(raw: bytes) -> sipmessage.Request | sipmessage.Response:
    """The one SIP message in ``raw`` (as the stand-ins serialize them)."""
    stream = SipStream()
    stream.receive_data(raw)
    event = stream.next_event()
    if isinstance(event, Malformed):
        raise LocalProtocolError(f"not a well-formed SIP message: {event.status} {event.reason}")
    if not isinstance(event, MessageReceived) or stream.buffered:
        raise LocalProtocolError("not exactly one complete SIP message")
    return event.message


def with_header(raw: bytes, name: str, value: str) -> bytes:
    """``raw`` with one more header field at the end of its header section.

    The signature does not cover the field that carries it, so a message can be
    serialized first, signed, and then given its Authorization / Authentication-Info.
    """
    head, separator, body = raw.partition(b"\r\n\r\n")
    if not separator or "\r" in value or "\n" in value:
        raise LocalProtocolError("cannot add a header field: no header section, or a line break in the value")
    return head + f"\r\n{name}: {value}".encode() + separator + body
