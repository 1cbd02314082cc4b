"""Serializing SIP requests and responses (RFC 3261 §8.1.1, §8.2.6).

Callers pass every identifier (branch, tags, Call-ID): nothing here is random.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import sipmessage

from ._errors import LocalProtocolError
from ._syntax import canonical_header_name, is_token, parse_name_addr, split_header_lines

__all__ = ["make_error_response", "make_request", "make_response", "reason_phrase"]

BRANCH_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7: marks a branch unique per transaction

_REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress",
    200: "OK", 202: "Accepted",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}
_CLASS_REASONS = {1: "Provisional", 2: "Success", 3: "Redirection", 4: "Client Error",
                  5: "Server Error", 6: "Global Failure"}


def reason_phrase(status: int) -> str:
    """The RFC 3261 reason phrase of a status code (RFC 3265's 202/489 included); the name
    of its class for an unregistered code."""
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"status code out of range: {status}")
    return _REASONS.get(status, _CLASS_REASONS[status // 100])


def _check_text(what: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"{what} contains a line break: {value!r}")


@functools.lru_cache(maxsize=256)
def _checked_name(name: str) -> str:
    """``name`` when a header may be written under it here (a token, and not the
    Content-Length this module computes)."""
    if not is_token(name):
        raise LocalProtocolError(f"invalid header name: {name!r}")
    if canonical_header_name(name) == "Content-Length":
        raise LocalProtocolError("Content-Length is computed from the body")
    return name


def _address(uri: str) -> str:
    """A From/To value: a bare URI is bracketed; a name-addr (``<...>;tag=...`` or a quoted
    display name) is used as given, so in-dialog requests can carry the To tag."""
    return uri if uri.startswith(("<", '"')) else f"<{uri}>"


def _serialize(start_line: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    lines = [start_line]
    for name, value in headers:
        _checked_name(name)
        if "\r" in value or "\n" in value:
            _check_text(name, value)
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def make_request(method: str, uri: str, *, via: str, branch: str, from_uri: str, from_tag: str,
                 to_uri: str, call_id: str, cseq: int, headers: Sequence[tuple[str, str]] = (),
                 body: bytes = b"", max_forwards: int = 70) -> bytes:
    """Serialize a request (RFC 3261 §8.1.1).

    ``via`` is the sent-by part (``"SIP/2.0/TLS host:port"``); ``;branch=<branch>`` is
    appended and the branch must start with the RFC 3261 magic cookie ``z9hG4bK``.
    ``from_uri``/``to_uri`` are URIs (bracketed here) or complete name-addrs starting
    with ``<`` or ``"`` (used verbatim, e.g. ``"<sip:a@b>;tag=x"`` for an in-dialog To).
    Extra ``headers`` follow the mandatory ones; Content-Length is always added.
    """
    if not is_token(method):
        raise LocalProtocolError(f"invalid method: {method!r}")
    if not branch.startswith(BRANCH_COOKIE):
        raise LocalProtocolError(f"branch must start with {BRANCH_COOKIE}: {branch!r}")
    if not 0 <= cseq < 2**31:
        raise LocalProtocolError(f"CSeq number out of range: {cseq}")
    if not 0 <= max_forwards <= 255:
        raise LocalProtocolError(f"Max-Forwards out of range: {max_forwards}")
    _check_text("via", via)
    for what, value in (("Request-URI", uri), ("branch", branch), ("from_tag", from_tag),
                        ("call_id", call_id)):
        if not value or any(c.isspace() for c in value):
            raise LocalProtocolError(f"invalid {what}: {value!r}")
    mandatory = [
        ("Via", f"{via};branch={branch}"),
        ("Max-Forwards", str(max_forwards)),
        ("From", f"{_address(from_uri)};tag={from_tag}"),
        ("To", _address(to_uri)),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
    ]
    return _serialize(f"{method} {uri} SIP/2.0", [*mandatory, *headers], body)


def _has_tag(to_value: str) -> bool:
    try:
        return parse_name_addr(to_value).tag is not None
    except ValueError:  # not parseable: look for the parameter as text
        return re.search(r";[ \t]*tag[ \t]*=", to_value, re.I) is not None


def _mirrored(via: Sequence[str], from_: str | None, to: str | None, call_id: str | None,
              cseq: str | None, status: int, to_tag: str | None) -> list[tuple[str, str]]:
    """Header fields a response copies from its request (RFC 3261 §8.2.6.2)."""
    headers = [("Via", value) for value in via]
    if from_ is not None:
        headers.append(("From", from_))
    if to is not None:
        if to_tag is not None and status > 100 and not _has_tag(to):
            to = f"{to};tag={to_tag}"
        headers.append(("To", to))
    if call_id is not None:
        headers.append(("Call-ID", call_id))
    if cseq is not None:
        headers.append(("CSeq", cseq))
    return headers


def make_response(request: sipmessage.Request, status: int, reason: str | None = None, *,
                  to_tag: str | None = None, headers: Sequence[tuple[str, str]] = (),
                  body: bytes = b"") -> bytes:
    """Serialize a response to ``request`` (RFC 3261 §8.2.6).

    Copies every Via (in order), From, To, Call-ID and CSeq as received; adds
    ``;tag=<to_tag>`` to the To when it has none and the status is above 100; always
    writes Content-Length. The reason phrase defaults to RFC 3261's.
    """
    phrase = reason_phrase(status) if reason is None else reason
    _check_text("reason", phrase)
    h = request.headers
    mirrored = _mirrored(h.getlist("Via"), h.get("From"), h.get("To"), h.get("Call-ID"),
                         h.get("CSeq"), status, to_tag)
    return _serialize(f"SIP/2.0 {status} {phrase}", [*mirrored, *headers], body)


def make_error_response(raw: bytes, status: int, reason: str, *, to_tag: str | None = None,
                        headers: Sequence[tuple[str, str]] = ()) -> bytes | None:
    """Best-effort answer to a request that could not be parsed (a ``Malformed`` event).

    The header section is read leniently to mirror what can be mirrored (Via, From, To,
    Call-ID, CSeq). Returns None when ``raw`` is a response (never answered) or has no
    recognisable start line, so the caller just closes or goes on.
    """
    _check_text("reason", reason)
    text = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    start, *lines = text.split("\r\n")
    if start[:4].upper() == "SIP/" or " " not in start:
        return None
    # Keep what looks like a header line (or continues one); drop the rest.
    kept: list[str] = []
    for line in lines:
        if "\r" in line or "\n" in line:  # a bare CR or LF: nothing to mirror safely
            continue
        name, colon, _value = line.partition(":")
        if (line[:1] in (" ", "\t") and kept) or (colon and is_token(name.rstrip(" \t"))):
            kept.append(line)
    fields: dict[str, list[str]] = {}
    for name, value in split_header_lines(kept):
        fields.setdefault(name, []).append(value)

    def first(name: str) -> str | None:
        values = fields.get(name)
        return values[0] if values else None

    mirrored = _mirrored(fields.get("Via", []), first("From"), first("To"), first("Call-ID"),
                         first("CSeq"), status, to_tag)
    return _serialize(f"SIP/2.0 {status} {reason}", [*mirrored, *headers], b"")
