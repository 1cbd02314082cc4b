"""Turn one framed message (header section + body) into a ``sipmessage`` object.

The framer (:mod:`._stream`) has already cut the bytes; this module decides whether they
are a well-formed SIP message and which status a malformed request deserves. Checks follow
RFC 3261 §25 and the expectations of RFC 4475: start line first (400, 505 for a version
other than SIP/2.0), then every header line, then the fields SIP routing depends on, then
the Request-URI scheme (416). Presence of mandatory headers is left to the element
(a registrar answers "400 Missing Call-ID header"; a client may be more lenient).
"""

from __future__ import annotations

import functools
import re

import sipmessage

from ._errors import RemoteProtocolError
from ._syntax import TOKEN, HeaderFields, check_via, parse_name_addr, parse_name_addrs, split_header_lines

__all__ = ["parse_message", "split_start_line"]

# [0-9], not \d: Python's \d also matches non-ASCII digits.
_REQUEST_LINE_RE = re.compile(rf"(?P<method>{TOKEN}) (?P<uri>[^ ]+) (?P<version>SIP/[0-9]+\.[0-9]+)", re.I)
_STATUS_LINE_RE = re.compile(r"(?P<version>SIP/[0-9]+\.[0-9]+) (?P<code>[0-9]+) (?P<reason>[^\r\n]*)", re.I)
_SCHEME_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):")
# callid = word [ "@" word ] (RFC 3261 §25.1)
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID_RE = re.compile(rf"{_WORD}(?:@{_WORD})?")
_CSEQ_RE = re.compile(rf"(?P<number>[0-9]+)[ \t]+(?P<method>{TOKEN})")
_DIGITS_RE = re.compile(r"[0-9]+")
# rfc1123-date, which SIP restricts to GMT (§20.17; RFC 4475 baddate).
_DATE_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
    r"|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)
# Headers that may appear once only; a second one leaves the element unable to tell which
# applies (RFC 4475 multi01, mcl01).
_SINGLE = tuple((name, name.lower()) for name in (
    "Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type", "Expires", "Date"))
# A comma followed by an even number of double quotes is outside any quoted string.
_LIST_SEPARATOR = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')
_CSEQ_LIMIT = 2**31  # RFC 3261 §8.1.1.5: less than 2**31
_PLACEHOLDER_URI = sipmessage.URI(scheme="sip", host="invalid")  # frozen: shared


def _below(digits: str, limit: int) -> bool:
    """Whether a decimal string is below ``limit``, without turning thousands of digits
    into an int (which Python refuses: RFC 4475 scalar02 is mild by comparison)."""
    return len(digits.lstrip("0")) <= len(str(limit)) and int(digits) < limit


def split_start_line(head: bytes) -> tuple[str, list[str], bool]:
    """Decode a header section and split it into its start line and header lines, and say
    whether any line is folded (a continuation).

    Raises :class:`RemoteProtocolError` (400) when it is not UTF-8 text.
    """
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError(400, "Message header is not UTF-8") from None
    start, *lines = text.split("\r\n")
    return start, lines, "\r\n " in text or "\r\n\t" in text


def parse_message(head: bytes, body: bytes, *, max_headers: int) -> sipmessage.Request | sipmessage.Response:
    """Parse one framed message; :class:`RemoteProtocolError` says what to answer."""
    start, lines, folded = split_start_line(head)
    message, uri_text = _start_line(start, body)
    headers = split_header_lines(lines, folded=folded)
    if len(headers) > max_headers:
        raise RemoteProtocolError(513, "Too Many Header Fields")
    if any(name == "Via" and "," in value for name, value in headers):
        # One value per via-parm: equivalent (RFC 3261 §7.3.1), and sipmessage's Via
        # list parser trips over whitespace before a comma (RFC 4475 wsinv).
        headers = [(name, part) for name, value in headers
                   for part in (_split_list(value) if name == "Via" else (value,))]
    message.headers = HeaderFields.from_pairs(headers)
    _check_fields(message)
    if isinstance(message, sipmessage.Request):
        message.uri = _request_uri(uri_text)
    return message


def _split_list(value: str) -> list[str]:
    """Split a header value at the commas that are outside quoted strings."""
    # An empty item stays (and fails to parse): "a,,b" is no valid list.
    return [part.strip(" \t") for part in re.split(_LIST_SEPARATOR, value)]


def _start_line(start: str, body: bytes) -> tuple[sipmessage.Request | sipmessage.Response, str]:
    """The message object the start line describes, and the Request-URI text ("" for a
    response)."""
    if start[:4].upper() == "SIP/":
        status = _STATUS_LINE_RE.fullmatch(start)
        if status is None:
            raise RemoteProtocolError(400, "Malformed Status-Line")
        if status["version"].upper() != "SIP/2.0":
            raise RemoteProtocolError(505, "Version Not Supported")
        code = status["code"]
        if len(code) != 3 or not 100 <= int(code) <= 699:
            raise RemoteProtocolError(400, "Invalid Status-Code")
        return sipmessage.Response(code=int(code), phrase=status["reason"], body=body), ""
    request = _REQUEST_LINE_RE.fullmatch(start)
    if request is None:
        # Extra or trailing whitespace, a Request-URI with spaces, no version: RFC 4475
        # lwsstart, trws, lwsruri.
        raise RemoteProtocolError(400, "Malformed Request-Line")
    if request["version"].upper() != "SIP/2.0":
        raise RemoteProtocolError(505, "Version Not Supported")
    # The URI is parsed after the headers (a 416 must not hide a 400): until then the
    # Request holds a placeholder.
    return sipmessage.Request(method=request["method"], uri=_PLACEHOLDER_URI, body=body), request["uri"]


@functools.lru_cache(maxsize=512)
def _request_uri(text: str) -> sipmessage.URI:
    scheme = _SCHEME_RE.match(text)
    if scheme is None:
        raise RemoteProtocolError(400, "Malformed Request-URI")
    if scheme["scheme"].lower() not in ("sip", "sips", "tel"):
        raise RemoteProtocolError(416, "Unsupported URI Scheme")
    try:
        return sipmessage.URI.parse(text)
    except ValueError:
        # Includes "?headers" in a Request-URI, which RFC 3261 §19.1.1 forbids (escruri).
        raise RemoteProtocolError(400, "Malformed Request-URI") from None


def _check_fields(message: sipmessage.Request | sipmessage.Response) -> None:
    """Syntax of the fields routing and transactions depend on, where present (in a fixed
    order, so the first fault named is the same whatever the header order)."""
    headers = message.headers
    index = headers.index
    get = index.get
    if headers.repeated:
        for name, lower in _SINGLE:
            if lower in headers.repeated:
                raise RemoteProtocolError(400, f"Multiple {name} headers")
    for value in get("via", ()):
        try:
            check_via(value)
        except ValueError:
            raise RemoteProtocolError(400, "Malformed Via header") from None
    for name, lower in (("From", "from"), ("To", "to")):
        values = get(lower)
        if values:
            try:
                parse_name_addr(values[0])
            except ValueError:
                raise RemoteProtocolError(400, f"Malformed {name} header") from None
    for value in get("contact", ()):
        if value.strip() == "*":
            continue
        try:
            parse_name_addrs(value)
        except ValueError:
            raise RemoteProtocolError(400, "Malformed Contact header") from None
    values = get("call-id")
    if values and _CALL_ID_RE.fullmatch(values[0]) is None:
        raise RemoteProtocolError(400, "Malformed Call-ID header")
    values = get("cseq")
    if values:
        match = _CSEQ_RE.fullmatch(" ".join(values[0].split()))
        if match is None or not _below(match["number"], _CSEQ_LIMIT):
            raise RemoteProtocolError(400, "Malformed CSeq header")
        if isinstance(message, sipmessage.Request) and match["method"] != message.method:
            raise RemoteProtocolError(400, "CSeq method does not match the request method")
    values = get("max-forwards")
    if values and (_DIGITS_RE.fullmatch(values[0]) is None or not _below(values[0], 256)):
        raise RemoteProtocolError(400, "Malformed Max-Forwards header")
    values = get("expires")
    if values and _DIGITS_RE.fullmatch(values[0]) is None:
        raise RemoteProtocolError(400, "Malformed Expires header")
    values = get("content-type")
    if values:
        try:
            sipmessage.MediaType.parse(values[0])
        except ValueError:
            raise RemoteProtocolError(400, "Malformed Content-Type header") from None
    for value in get("accept", ()):
        try:
            sipmessage.MediaType.parse_many(value)
        except ValueError:
            raise RemoteProtocolError(400, "Malformed Accept header") from None
    values = get("date")
    if values and _DATE_RE.fullmatch(values[0]) is None:
        raise RemoteProtocolError(400, "Malformed Date header")
