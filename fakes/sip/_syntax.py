"""Header-level SIP syntax (RFC 3261 §7.3, §25.1) that ``sipmessage`` does not cover.

``sipmessage`` parses the common typed fields (Via, CSeq, media types, sip/sips/tel URIs).
What it does not do, and SIP needs on a real wire, lives here:

* unfolding of continuation lines and whitespace around the colon (``Via  : ...``);
* compact header names and canonical spelling (``v`` → ``Via``, ``cseq`` → ``CSeq``);
* name-addr / addr-spec values whose URI has any scheme (``isbn:``, ``http:``) or carries
  ``?headers`` (allowed in a Contact between angle brackets, RFC 3261 §20.10), with
  parameter lists and quoted display names holding quoted-pairs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sipmessage
from sipmessage.message import COMPACT_FORMS

from ._errors import RemoteProtocolError

__all__ = [
    "NameAddr",
    "canonical_header_name",
    "is_token",
    "parse_name_addr",
    "parse_name_addrs",
    "split_header_lines",
]

_TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
TOKEN = rf"[{_TOKEN_CHARS}]+"
_TOKEN_RE = re.compile(TOKEN)
# quoted-string (§25.1): qdtext is anything but DQUOTE and backslash (UTF-8 included);
# quoted-pair is a backslash and any ASCII octet but CR and LF.
QUOTED_STRING = r'"(?:[^"\\]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_LWS = r"[ \t]*"

# name-addr = [ display-name ] LAQUOT addr-spec RAQUOT. Inside the brackets no
# whitespace is allowed (RFC 4475 badaspec puts spaces there: it must be rejected).
_NAME_ADDR_RE = re.compile(
    rf"{_LWS}(?:(?P<quoted>{QUOTED_STRING})|(?P<tokens>{TOKEN}(?:[ \t]+{TOKEN})*))?"
    rf"{_LWS}<(?P<uri>[^<>\s]+)>"
)
# addr-spec without brackets: RFC 3261 §20 says a URI holding a comma, question mark or
# semicolon MUST be enclosed in angle brackets, so those characters end it here.
_ADDR_SPEC_RE = re.compile(rf"{_LWS}(?P<uri>[^\s;,<>\"?]+)")
_PARAM_RE = re.compile(
    rf"{_LWS};{_LWS}(?P<name>{TOKEN})"
    rf"(?:{_LWS}={_LWS}(?P<value>{QUOTED_STRING}|\[[0-9A-Fa-f:.]+\]|{TOKEN}))?"
)
_SEPARATOR_RE = re.compile(rf"{_LWS},{_LWS}")
_URI_HEADERS_RE = re.compile(r"[^?&=]*=[^?&=]*(?:&[^?&=]*=[^?&=]*)*")

# Canonical spelling of the header names this package and its users look up; anything
# else keeps the peer's spelling (lookups in sipmessage are case-insensitive anyway).
_CANONICAL = {
    name.lower(): name
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
        "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
        "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
        "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From",
        "In-Reply-To", "Max-Forwards", "Min-Expires", "MIME-Version", "Organization",
        "Priority", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require",
        "Record-Route", "Reply-To", "Require", "Retry-After", "Route", "Server", "Subject",
        "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent",
        "Via", "Warning", "WWW-Authenticate",
    )
}


def is_token(text: str) -> bool:
    """Whether ``text`` is an RFC 3261 token (a method name, a header name, ...)."""
    return _TOKEN_RE.fullmatch(text) is not None


def canonical_header_name(name: str) -> str:
    """The long, canonically spelled form of a header name (``l`` → ``Content-Length``)."""
    expanded = COMPACT_FORMS.get(name.lower(), name)
    return _CANONICAL.get(expanded.lower(), expanded)


def split_header_lines(lines: list[str]) -> list[tuple[str, str]]:
    """Header lines (after the start line) → ``(canonical name, value)`` pairs.

    Continuation lines (starting with SP or HTAB) are joined to the previous header with
    one space, as RFC 3261 §7.3.1 gives folding the meaning of a single SP.

    Raises :class:`RemoteProtocolError` (400) on a line that is no header.
    """
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not unfolded:
                raise RemoteProtocolError(400, "Continuation line before any header")
            unfolded[-1] = unfolded[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            unfolded.append(line)
    headers = []
    for line in unfolded:
        if "\r" in line or "\n" in line:  # CR and LF come only as CRLF (§7.3.1)
            raise RemoteProtocolError(400, "Bare CR or LF in a header line")
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not is_token(name):
            raise RemoteProtocolError(400, "Malformed header line")
        headers.append((canonical_header_name(name), value.strip(" \t")))
    return headers


@dataclass(frozen=True)
class NameAddr:
    """One From/To/Contact/Route value: display name, URI text and header parameters.

    ``uri`` is kept as text because it may have any scheme; :meth:`sip_uri` gives the
    ``sipmessage.URI`` of a sip/sips/tel URI (without ``?headers``).
    """

    uri: str
    display: str = ""
    params: tuple[tuple[str, str | None], ...] = ()
    bracketed: bool = False

    @property
    def scheme(self) -> str:
        """The URI scheme, lower-cased (``sip``, ``sips``, ``tel``, ``isbn`` ...)."""
        return self.uri.split(":", 1)[0].lower()

    def param(self, name: str) -> str | None:
        """The value of a header parameter (case-insensitive name); ``""`` when it has none,
        ``None`` when it is absent."""
        for key, value in self.params:
            if key.lower() == name.lower():
                return "" if value is None else value
        return None

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter, or None."""
        return self.param("tag") or None

    def sip_uri(self) -> sipmessage.URI | None:
        """The parsed URI when its scheme is sip, sips or tel; None for other schemes."""
        if self.scheme not in ("sip", "sips", "tel"):
            return None
        return _parse_known_uri(self.uri)

    def __str__(self) -> str:
        text = f"<{self.uri}>"
        if self.display:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            text = f'"{escaped}" {text}'
        for key, value in self.params:
            text += f";{key}" if value is None else f";{key}={value}"
        return text


def _parse_known_uri(uri: str) -> sipmessage.URI:
    """Parse a sip/sips/tel URI, allowing the ``?headers`` part RFC 3261 §19.1.1 permits
    outside the Request-URI (``sipmessage`` does not know it)."""
    try:
        return sipmessage.URI.parse(uri)
    except ValueError:
        # The user part may itself contain "?" (RFC 4475 intmeth): only a trailing
        # "?name=value&..." counts as the headers component.
        base, question, headers = uri.rpartition("?")
        if question and _URI_HEADERS_RE.fullmatch(headers):
            return sipmessage.URI.parse(base)
        raise


def _parse_one(text: str, pos: int) -> tuple[NameAddr, int]:
    bracketed = True
    match = _NAME_ADDR_RE.match(text, pos)
    if match is None:
        bracketed = False
        match = _ADDR_SPEC_RE.match(text, pos)
        if match is None:
            raise ValueError("not a name-addr or addr-spec")
    uri = match.group("uri")
    if not _SCHEME_RE.match(uri):
        raise ValueError("URI without a scheme")
    if uri.split(":", 1)[0].lower() in ("sip", "sips", "tel"):
        _parse_known_uri(uri)  # raises ValueError when malformed
    display = ""
    if bracketed and match.group("quoted"):
        display = re.sub(r"\\(.)", r"\1", match.group("quoted")[1:-1], flags=re.DOTALL)
    elif bracketed and match.group("tokens"):
        display = " ".join(match.group("tokens").split())
    pos = match.end()
    params: list[tuple[str, str | None]] = []
    while (param := _PARAM_RE.match(text, pos)) is not None:
        params.append((param.group("name"), param.group("value")))
        pos = param.end()
    return NameAddr(uri=uri, display=display, params=tuple(params), bracketed=bracketed), pos


def parse_name_addrs(value: str) -> list[NameAddr]:
    """Parse a comma-separated list of name-addr/addr-spec values (Contact, Route).

    Raises ``ValueError`` when the value is not such a list.
    """
    items = []
    pos = 0
    while True:
        item, pos = _parse_one(value, pos)
        items.append(item)
        rest = value[pos:]
        if not rest.strip(" \t"):
            return items
        separator = _SEPARATOR_RE.match(value, pos)
        if separator is None:
            raise ValueError("unexpected text after an address")
        pos = separator.end()


def parse_name_addr(value: str) -> NameAddr:
    """Parse a single name-addr/addr-spec value (From, To); ``ValueError`` if it is not one."""
    item, pos = _parse_one(value, 0)
    if value[pos:].strip(" \t"):
        raise ValueError("unexpected text after the address")
    return item
