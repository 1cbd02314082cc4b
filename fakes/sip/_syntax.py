"""Header-level SIP syntax (RFC 3261 §7.3, §25.1) that ``sipmessage`` does not cover.

``sipmessage`` parses the common typed fields (Via, CSeq, media types, sip/sips/tel URIs).
What it does not do, and SIP needs on a real wire, lives here:

* unfolding of continuation lines and whitespace around the colon (``Via  : ...``);
* compact header names and canonical spelling (``v`` → ``Via``, ``cseq`` → ``CSeq``);
* name-addr / addr-spec values whose URI has any scheme (``isbn:``, ``http:``) or carries
  ``?headers`` (allowed in a Contact between angle brackets, RFC 3261 §20.10), with
  parameter lists and quoted display names holding quoted-pairs;
* Via values as data (:class:`ViaParm`), so a server can add ``received``/``rport``
  (RFC 3261 §18.2.1, RFC 3581) and Lync's ``ms-received-*`` parameters;
* a header table indexed by name (:class:`HeaderFields`): every lookup is one dict access.

A peer sends the same From, To, Contact and Request-URI on every request of a dialog or a
registration, so their parses are kept (bounded caches of immutable results): parsing is
pure, and the second time costs a dict lookup.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sipmessage
from sipmessage.grammar import GENERIC_VALUE
from sipmessage.message import COMPACT_FORMS
from sipmessage.via import VIA_PATTERN

from ._errors import RemoteProtocolError

__all__ = [
    "HeaderFields",
    "NameAddr",
    "ViaParm",
    "canonical_header_name",
    "is_token",
    "parse_name_addr",
    "check_via",
    "parse_name_addrs",
    "parse_via",
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


@functools.lru_cache(maxsize=512)
def canonical_header_name(name: str) -> str:
    """The long, canonically spelled form of a header name (``l`` → ``Content-Length``)."""
    expanded = COMPACT_FORMS.get(name.lower(), name)
    return _CANONICAL.get(expanded.lower(), expanded)


@functools.lru_cache(maxsize=512)
def _header_name(name: str) -> str | None:
    """The canonical name of a header line's name part (trailing whitespace allowed, RFC
    3261 §7.3.1), or None when it is no token."""
    name = name.rstrip(" \t")
    return canonical_header_name(name) if is_token(name) else None


def split_header_lines(lines: list[str], *, folded: bool = True) -> list[tuple[str, str]]:
    """Header lines (after the start line) → ``(canonical name, value)`` pairs.

    Continuation lines (starting with SP or HTAB) are joined to the previous header with
    one space, as RFC 3261 §7.3.1 gives folding the meaning of a single SP. ``folded=False``
    says the caller knows no line is a continuation.

    Raises :class:`RemoteProtocolError` (400) on a line that is no header.
    """
    unfolded: list[str] = lines
    if folded and any(line[:1] in (" ", "\t") for line in lines):
        unfolded = []
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
        canonical = _header_name(name) if colon else None
        if canonical is None:
            raise RemoteProtocolError(400, "Malformed header line")
        headers.append((canonical, value.strip(" \t")))
    return headers


class HeaderFields(sipmessage.Headers):
    """``sipmessage.Headers`` indexed by lower-cased name.

    The same class to every user of a parsed message (``sipmessage``'s typed accessors
    included), with lookups that do not scan the whole header list each time.
    """

    def __init__(self) -> None:
        super().__init__()
        self._index: dict[str, list[str]] = {}
        #: Lower-cased names of the headers that were added more than once.
        self.repeated: set[str] = set()

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, str]]) -> HeaderFields:
        """A table of ``(name, value)`` pairs in order (what :meth:`add` would make of them)."""
        fields = cls()
        index, listed, repeated = fields._index, fields._list, fields.repeated
        for key, value in pairs:
            lower = key.lower()
            values = index.get(lower)
            if values is None:
                index[lower] = values = [value]
                listed.append((key, values))
            else:
                values.append(value)
                repeated.add(lower)
        return fields

    @property
    def index(self) -> dict[str, list[str]]:
        """Every header's values by lower-cased name (read it; change headers with the
        methods)."""
        return self._index

    def _reindex(self) -> None:
        self._index = {}
        for key, values in self._list:
            self._index.setdefault(key.lower(), values)

    def add(self, key: str, value: str) -> None:
        """Add a value (after the others of that name)."""
        lower = key.lower()
        values = self._index.get(lower)
        if values is None:
            values = [value]
            self._index[lower] = values
            self._list.append((key, values))
        else:
            values.append(value)
            self.repeated.add(lower)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of a header, or ``default``."""
        values = self._index.get(key.lower())
        return values[0] if values else default

    def getlist(self, key: str) -> list[str]:
        """Every value of a header (an empty list when absent)."""
        return self._index.get(key.lower(), [])

    def __getitem__(self, key: str) -> str:
        values = self._index.get(key.lower())
        if not values:
            raise KeyError(key)
        return values[0]

    def remove(self, key: str) -> None:
        """Remove a header."""
        super().remove(key)
        self._reindex()

    def set(self, key: str, value: str) -> None:
        """Replace every value of a header by one."""
        self.setlist(key, [value])

    def setlist(self, key: str, values: list[str]) -> None:
        """Replace every value of a header by these."""
        present = self._index.get(key.lower())
        if present is None:
            super().setlist(key, values)
            self._reindex()
        else:  # the index and the list share this list object
            present[:] = values


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


@functools.lru_cache(maxsize=1024)
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
    return list(_parse_name_addrs(value))


@functools.lru_cache(maxsize=1024)
def _parse_name_addrs(value: str) -> tuple[NameAddr, ...]:
    items = []
    pos = 0
    while True:
        item, pos = _parse_one(value, pos)
        items.append(item)
        rest = value[pos:]
        if not rest.strip(" \t"):
            return tuple(items)
        separator = _SEPARATOR_RE.match(value, pos)
        if separator is None:
            raise ValueError("unexpected text after an address")
        pos = separator.end()


@functools.lru_cache(maxsize=1024)
def parse_name_addr(value: str) -> NameAddr:
    """Parse a single name-addr/addr-spec value (From, To); ``ValueError`` if it is not one."""
    item, pos = _parse_one(value, 0)
    if value[pos:].strip(" \t"):
        raise ValueError("unexpected text after the address")
    return item


# One via-param after the sent-by: ";" name ["=" value], whitespace allowed around both.
_VIA_PARAM_RE = re.compile(rf" ?; ?({TOKEN})(?: ?= ?({GENERIC_VALUE}))?")


@dataclass(frozen=True)
class ViaParm:
    """One Via value (RFC 3261 §20.42, via-parm): ``SIP/2.0/<transport> <host>[:<port>]``
    and its parameters in order (a parameter without a value has None)."""

    transport: str
    host: str
    port: int | None
    params: tuple[tuple[str, str | None], ...] = ()

    def param(self, name: str) -> str | None:
        """A parameter's value (case-insensitive name); ``""`` for one without a value,
        None when absent."""
        for key, value in self.params:
            if key.lower() == name.lower():
                return "" if value is None else value
        return None

    @property
    def sent_by(self) -> str:
        """``host[:port]`` as sent."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_params(self, **values: str | None) -> ViaParm:
        """The same Via with these parameters set: a present one keeps its place and
        takes the new value, a new one is appended (names with ``_`` for ``-``)."""
        wanted = {name.replace("_", "-"): value for name, value in values.items()}
        params = []
        for key, value in self.params:
            if key.lower() in wanted:
                value = wanted.pop(key.lower())
            params.append((key, value))
        params += list(wanted.items())
        return ViaParm(self.transport, self.host, self.port, tuple(params))

    def __str__(self) -> str:
        text = f"SIP/2.0/{self.transport} {self.sent_by}"
        for key, value in self.params:
            text += f";{key}" if value is None else f";{key}={value}"
        return text


def _via_match(value: str) -> re.Match[str]:
    text = " ".join(value.split())  # all linear white space means one SP (§7.3.1)
    match = VIA_PATTERN.match(text)
    if match is None or match.end() != len(text):
        raise ValueError("Via is not valid")
    return match


def check_via(value: str) -> tuple[str, str | None, str]:
    """Check one Via value's syntax as :func:`parse_via` does; return its host, port text
    (None when absent) and parameters text, without building a :class:`ViaParm`."""
    match = _via_match(value)
    return match.group("host"), match.group("port"), match.group("parameters")


def parse_via(value: str) -> ViaParm:
    """Parse one Via value (a via-parm: a list is split at its commas first).

    The grammar is ``sipmessage``'s (RFC 3261 §25.1); ``ValueError`` when it does not match.
    """
    match = _via_match(value)
    port = match.group("port")
    params = tuple((m.group(1), m.group(2)) for m in _VIA_PARAM_RE.finditer(match.group("parameters")))
    return ViaParm(match.group("transport"), match.group("host"), int(port) if port else None, params)
