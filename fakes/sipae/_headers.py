"""The MS-SIPAE authentication header fields: parse them strictly, write them as Lync does.

Three header fields carry the protocol ([MS-SIP]'s table of authentication header fields):

- the challenge, ``WWW-Authenticate`` in a 401 (``Proxy-Authenticate`` in a 407), one per
  protocol the server offers::

      WWW-Authenticate: Kerberos realm="SIP Communications Service", targetname="sip/fe01.companya.com", version=4

  (NTLM's targetname is the bare FQDN, Kerberos' is ``sip/`` + the FQDN: the SPN);
- the client's answer and, later, its signature, ``Authorization`` (``Proxy-Authorization``)::

      Authorization: Kerberos qop="auth", realm="SIP Communications Service", targetname="sip/fe01.companya.com",
          gssapi-data="YIIF...", version=4, crand="1c2b3a4d", cnum="1", response="0404..."
      Authorization: Kerberos qop="auth", opaque="8A6FC1E3", realm="...", targetname="...",
          crand="9e8d7c6b", cnum="2", response="0404..."

- the server's signature, ``Authentication-Info`` (``Proxy-Authentication-Info``)::

      Authentication-Info: Kerberos qop="auth", opaque="8A6FC1E3", srand="3C1F5A77", snum="1",
          rspauth="0404...", targetname="sip/fe01.companya.com", realm="SIP Communications Service", version=4

Parameter order follows what the public captures show (the MS-SIPAE §4.2 example,
[MS-OCPSTN] §4.7.2.1's Authentication-Info, pidgin-sipe's ``sip-transport.c``): readers
must not depend on it, and the parser here does not.

The grammar is RFC 3261 §25.1's ``challenge`` / ``credentials`` with auth-params:
``auth-scheme LWS auth-param *(COMMA auth-param)``, ``auth-param = token EQUAL (token /
quoted-string)``. It is parsed here rather than with ``sipmessage.AuthChallenge``, which
splits on commas inside quoted strings and takes ``realm="a" targetname="b"`` (no comma)
for one value. A parameter given twice is an error: which one would be signed?
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from ._errors import RemoteProtocolError

__all__ = [
    "KERBEROS",
    "NTLM",
    "SIP_COMMUNICATIONS_SERVICE",
    "WWW_AUTHENTICATE",
    "AUTHORIZATION",
    "AUTHENTICATION_INFO",
    "Challenge",
    "Credentials",
    "AuthenticationInfo",
    "parse_auth_params",
    "parse_challenge",
    "parse_credentials",
    "parse_authentication_info",
]

KERBEROS = "Kerberos"
NTLM = "NTLM"
#: The realm every Lync / Skype for Business server uses in its challenges (MS-SIPAE §4).
SIP_COMMUNICATIONS_SERVICE = "SIP Communications Service"
# The registrar's header fields (401 family). A proxy uses the Proxy-* names (407): the
# Front End stand-in plays the registrar, so only these are used.
WWW_AUTHENTICATE = "WWW-Authenticate"
AUTHORIZATION = "Authorization"
AUTHENTICATION_INFO = "Authentication-Info"

_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
# quoted-string: qdtext is anything but DQUOTE, backslash, CR and LF; quoted-pair escapes
# an ASCII octet other than CR and LF (RFC 3261 §25.1).
_QUOTED = r'"(?:[^"\\\r\n]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'
_LWS = r"[ \t]*"
_SCHEME_RE = re.compile(rf"(?P<scheme>{_TOKEN})(?:[ \t]+|$)")
_PARAM_RE = re.compile(rf"{_LWS}(?P<name>{_TOKEN}){_LWS}={_LWS}(?P<value>{_QUOTED}|{_TOKEN}){_LWS}")
_COMMA_RE = re.compile(rf"{_LWS},{_LWS}")
_HEX_RE = re.compile(r"[0-9A-Fa-f]+")
_DIGITS_RE = re.compile(r"[0-9]+")


def _unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    return re.sub(r"\\(.)", r"\1", value[1:-1])


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_auth_params(value: str, header: str) -> tuple[str, dict[str, str]]:
    """``scheme param=value, ...`` → the scheme and the parameters (names lower-cased).

    Raises :class:`RemoteProtocolError` naming ``header`` when the value is no such list
    or a parameter appears twice.
    """
    text = value.strip(" \t")
    match = _SCHEME_RE.match(text)
    if match is None:
        raise RemoteProtocolError(header, "expected an authentication protocol followed by parameters")
    scheme = match["scheme"]
    position = match.end()
    if position == len(text):
        raise RemoteProtocolError(header, f"no parameters after {scheme!r}")
    params: dict[str, str] = {}
    while True:
        param = _PARAM_RE.match(text, position)
        if param is None:
            raise RemoteProtocolError(header, f"expected name=value at {text[position:position + 30]!r}")
        name = param["name"].lower()
        if name in params:
            raise RemoteProtocolError(header, f"parameter {name!r} given twice")
        params[name] = _unquote(param["value"])
        position = param.end()
        if position == len(text):
            return scheme, params
        comma = _COMMA_RE.match(text, position)
        if comma is None:
            raise RemoteProtocolError(header, f"expected ',' at {text[position:position + 30]!r}")
        position = comma.end()


def _required(params: dict[str, str], name: str, header: str) -> str:
    value = params.get(name)
    if value is None:
        raise RemoteProtocolError(header, f"no {name} parameter")
    return value


def _version(params: dict[str, str], header: str) -> int | None:
    value = params.get("version")
    if value is None:
        return None
    if not _DIGITS_RE.fullmatch(value) or len(value) > 3:
        raise RemoteProtocolError(header, f"version {value!r} is not a small number")
    return int(value)


def _hex(params: dict[str, str], name: str, header: str) -> str | None:
    value = params.get(name)
    if value is not None and not _HEX_RE.fullmatch(value):
        raise RemoteProtocolError(header, f"{name} {value[:40]!r} is not hexadecimal")
    return value


def _number(params: dict[str, str], name: str, header: str) -> str | None:
    value = params.get(name)
    # Ten digits hold every 32-bit counter; anything longer is no counter a peer keeps.
    if value is not None and (not _DIGITS_RE.fullmatch(value) or len(value) > 10):
        raise RemoteProtocolError(header, f"{name} {value[:40]!r} is not a counter")
    return value


@dataclass(frozen=True)
class Challenge:
    """One authentication header field of a 401: the protocol the server offers, its realm
    and target, and the MS-SIPAE version it implements (3 or 4; None when absent)."""

    protocol: str
    realm: str
    targetname: str
    version: int | None = None

    def header_value(self) -> str:
        """The field value, as Lync writes it."""
        text = f"{self.protocol} realm={_quote(self.realm)}, targetname={_quote(self.targetname)}"
        return text if self.version is None else f"{text}, version={self.version}"


@dataclass(frozen=True)
class Credentials:
    """An ``Authorization`` field value.

    The first request of a security association carries ``gssapi_data`` (the GSS-API
    token, decoded from base64); later requests carry ``opaque`` (the SA's id from the
    server's Authentication-Info) instead. ``crand``, ``cnum`` and ``response`` sign the
    request ([MS-SIP] §3.1.4.2): always later, and on the first request from version 4 on.
    ``cnum`` stays text because the signature buffer uses it as it appears.
    """

    protocol: str
    realm: str
    targetname: str
    qop: str | None = "auth"
    opaque: str | None = None
    gssapi_data: bytes | None = None
    version: int | None = None
    crand: str | None = None
    cnum: str | None = None
    response: str | None = None

    @property
    def signed(self) -> bool:
        """Whether the request carries a complete signature (crand, cnum and response)."""
        return self.crand is not None and self.cnum is not None and self.response is not None

    @property
    def cnum_value(self) -> int | None:
        """``cnum`` as a number."""
        return None if self.cnum is None else int(self.cnum)

    def header_value(self) -> str:
        """The field value, in the order pidgin-sipe and Lync clients write it."""
        parts = []
        if self.qop is not None:
            parts.append(f"qop={_quote(self.qop)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        parts += [f"realm={_quote(self.realm)}", f"targetname={_quote(self.targetname)}"]
        if self.gssapi_data is not None:
            parts.append(f"gssapi-data={_quote(base64.b64encode(self.gssapi_data).decode('ascii'))}")
        if self.version is not None:
            parts.append(f"version={self.version}")
        for name in ("crand", "cnum", "response"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={_quote(value)}")
        return f"{self.protocol} " + ", ".join(parts)


@dataclass(frozen=True)
class AuthenticationInfo:
    """An ``Authentication-Info`` field value: the server's signature of one message
    (``rspauth`` over the buffer with ``srand`` and ``snum``) and the SA id (``opaque``)."""

    protocol: str
    realm: str
    targetname: str
    opaque: str
    srand: str
    snum: str
    rspauth: str
    qop: str | None = "auth"
    version: int | None = None

    def header_value(self) -> str:
        """The field value, in the order of the Authentication-Info Lync sends."""
        parts = [] if self.qop is None else [f"qop={_quote(self.qop)}"]
        parts += [f"opaque={_quote(self.opaque)}", f"srand={_quote(self.srand)}", f"snum={_quote(self.snum)}",
                  f"rspauth={_quote(self.rspauth)}", f"targetname={_quote(self.targetname)}",
                  f"realm={_quote(self.realm)}"]
        if self.version is not None:
            parts.append(f"version={self.version}")
        return f"{self.protocol} " + ", ".join(parts)


def parse_challenge(value: str, header: str = WWW_AUTHENTICATE) -> Challenge:
    """Read a ``WWW-Authenticate`` value; :class:`RemoteProtocolError` if it is not MS-SIPAE's."""
    protocol, params = parse_auth_params(value, header)
    return Challenge(protocol, _required(params, "realm", header), _required(params, "targetname", header),
                     _version(params, header))


def parse_credentials(value: str, header: str = AUTHORIZATION) -> Credentials:
    """Read an ``Authorization`` value; :class:`RemoteProtocolError` if it is malformed.

    ``gssapi-data`` must be base64 (RFC 4648, padding included), ``crand`` and
    ``response`` hexadecimal, ``cnum`` a decimal counter.
    """
    protocol, params = parse_auth_params(value, header)
    token = params.get("gssapi-data")
    gssapi_data = None
    if token is not None:
        try:
            gssapi_data = base64.b64decode(token, validate=True)
        except binascii.Error:
            raise RemoteProtocolError(header, "gssapi-data is not base64") from None
    return Credentials(
        protocol=protocol,
        realm=_required(params, "realm", header),
        targetname=_required(params, "targetname", header),
        qop=params.get("qop"),
        opaque=params.get("opaque"),
        gssapi_data=gssapi_data,
        version=_version(params, header),
        crand=_hex(params, "crand", header),
        cnum=_number(params, "cnum", header),
        response=_hex(params, "response", header),
    )


def parse_authentication_info(value: str, header: str = AUTHENTICATION_INFO) -> AuthenticationInfo:
    """Read an ``Authentication-Info`` value; :class:`RemoteProtocolError` if it is malformed."""
    protocol, params = parse_auth_params(value, header)
    srand = _hex(params, "srand", header)
    snum = _number(params, "snum", header)
    rspauth = _hex(params, "rspauth", header)
    if srand is None or snum is None or rspauth is None:
        missing = [n for n, v in (("srand", srand), ("snum", snum), ("rspauth", rspauth)) if v is None]
        raise RemoteProtocolError(header, f"no {', '.join(missing)} parameter")
    return AuthenticationInfo(
        protocol=protocol,
        realm=_required(params, "realm", header),
        targetname=_required(params, "targetname", header),
        opaque=_required(params, "opaque", header),
        srand=srand,
        snum=snum,
        rspauth=rspauth,
        qop=params.get("qop"),
        version=_version(params, header),
    )
