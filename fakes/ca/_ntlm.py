"""NTLM as IIS accepts it for Windows authentication: the server's half, without I/O.

certsrv runs in IIS with Windows authentication, whose providers are Negotiate then NTLM
(learn.microsoft.com/iis/configuration/system.webserver/security/authentication/
windowsauthentication/providers). A client answers the 401 with an NTLM NEGOTIATE
message, gets a CHALLENGE, and sends an AUTHENTICATE message that proves it knows the
password ([MS-NLMP] 3.1.5.1, 3.2.5.1). The caller owns the connection, the clock (the
CHALLENGE's timestamp) and the randomness (the server challenge).

Rule 1 — framing ([MS-NLMP] 2.2.1): a message starts with ``NTLMSSP\\0`` and a 32-bit
little-endian type, 1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE; variable fields are
(length, max length, offset) triples into the message. Anything else, or a field that
points outside the message, is :class:`NtlmError` naming what is wrong.

Rule 2 — the CHALLENGE ([MS-NLMP] 2.2.1.2) names the target as a domain (its NetBIOS
name) and carries the AV pairs a domain member sends: NetBIOS domain and computer names,
DNS domain and computer names, and a timestamp ([MS-NLMP] 2.2.2.1). The flags grant what
the NEGOTIATE asked for among Unicode, NTLM, extended session security, 128/56-bit, key
exchange, signing and sealing; the version is Windows Server 2016's (10.0.14393, NTLM
revision 15, assumed for the CA host).

Rule 3 — only NTLMv2 proves a password here: NTProofStr = HMAC_MD5(NTOWFv2(password,
user, domain), ServerChallenge || temp), the first 16 bytes of the NT response
([MS-NLMP] 3.3.2). An NTLMv1 response (24 bytes) is refused (assumed lab policy: a DC at
Windows' default LmCompatibilityLevel 3 would still accept one); anonymous logons are
refused; the MIC and channel bindings are not checked (IIS's Extended Protection is off
by default for certsrv, assumed).

Rule 4 — SPNEGO ([RFC 4178], [MS-SPNG]): under the ``Negotiate`` scheme a client may
send the NTLM message bare (as requests-ntlm does) or inside a NegTokenInit/NegTokenResp;
the answer is wrapped the same way. A NegTokenInit that offers no NTLM (Kerberos only)
is refused: the lab's CA host holds no Kerberos keys of its own (assumed limitation).
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from impacket import ntlm as _impacket_ntlm
from impacket import spnego as _spnego

__all__ = [
    "AUTHENTICATE",
    "CHALLENGE",
    "NEGOTIATE",
    "NtlmAuthenticate",
    "NtlmError",
    "NtlmServer",
    "message_type",
    "parse_authenticate",
    "spnego_accept_completed",
    "spnego_unwrap",
    "spnego_wrap_challenge",
    "verify_ntlmv2",
]

NEGOTIATE, CHALLENGE, AUTHENTICATE = 1, 2, 3
_SIGNATURE = b"NTLMSSP\x00"

# [MS-NLMP] 2.2.2.5 NEGOTIATE flags.
_UNICODE = 0x00000001
_REQUEST_TARGET = 0x00000004
_SIGN = 0x00000010
_SEAL = 0x00000020
_NTLM = 0x00000200
_ALWAYS_SIGN = 0x00008000
_TARGET_TYPE_DOMAIN = 0x00010000
_EXTENDED_SESSIONSECURITY = 0x00080000
_TARGET_INFO = 0x00800000
_VERSION = 0x02000000
_128 = 0x20000000
_KEY_EXCH = 0x40000000
_56 = 0x80000000
_GRANTED_IF_ASKED = _SIGN | _SEAL | _ALWAYS_SIGN | _EXTENDED_SESSIONSECURITY | _128 | _KEY_EXCH | _56
_ALWAYS = _UNICODE | _REQUEST_TARGET | _NTLM | _TARGET_TYPE_DOMAIN | _TARGET_INFO | _VERSION

# [MS-NLMP] 2.2.2.1 AV_PAIR ids.
_AV_EOL, _AV_NB_COMPUTER, _AV_NB_DOMAIN, _AV_DNS_COMPUTER, _AV_DNS_DOMAIN, _AV_TIMESTAMP = 0, 1, 2, 3, 4, 7
# Windows Server 2016: 10.0 build 14393, NTLMSSP_REVISION_W2K3 (15) — [MS-NLMP] 2.2.2.10.
_SERVER_VERSION = struct.pack("<BBHBBBB", 10, 0, 14393, 0, 0, 0, 15)
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

_NTLMSSP_MECH = _spnego.TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]


class NtlmError(ValueError):
    """An NTLM or SPNEGO token that cannot be read; the message says what is wrong."""


@dataclass(frozen=True)
class NtlmAuthenticate:
    """The parts of an AUTHENTICATE message the server checks ([MS-NLMP] 2.2.1.3)."""

    user: str
    domain: str
    workstation: str
    nt_response: bytes
    lm_response: bytes

    @property
    def account(self) -> str:
        """``DOMAIN\\user`` as Windows names the logon, or ``user`` with no domain."""
        return f"{self.domain}\\{self.user}" if self.domain else self.user


def message_type(token: bytes) -> int:
    """The NTLM message type (1, 2 or 3) of ``token``; NtlmError if it is not NTLMSSP."""
    if len(token) < 12 or not token.startswith(_SIGNATURE):
        raise NtlmError(f"not an NTLMSSP message ({len(token)} bytes, starting {token[:8]!r})")
    (kind,) = struct.unpack_from("<I", token, 8)
    if kind not in (NEGOTIATE, CHALLENGE, AUTHENTICATE):
        raise NtlmError(f"NTLMSSP message type {kind} is none of 1, 2, 3")
    return kind


def _negotiate_flags(token: bytes) -> int:
    if len(token) < 16:
        raise NtlmError(f"the NEGOTIATE message is {len(token)} bytes, shorter than its 16-byte header")
    return int(struct.unpack_from("<I", token, 12)[0])


def _field(token: bytes, at: int, name: str) -> bytes:
    length, _maximum, offset = struct.unpack_from("<HHI", token, at)
    if offset + length > len(token):
        raise NtlmError(
            f"the AUTHENTICATE message's {name} field ({length} bytes at offset {offset}) lies past its"
            f" end ({len(token)} bytes)")
    return token[offset:offset + length]


def _text(raw: bytes, unicode: bool, name: str) -> str:
    try:
        return raw.decode("utf-16-le") if unicode else raw.decode("cp437")
    except UnicodeDecodeError:
        raise NtlmError(f"the AUTHENTICATE message's {name} is not UTF-16LE text") from None


def parse_authenticate(token: bytes) -> NtlmAuthenticate:
    """Read an AUTHENTICATE message (Rule 1); NtlmError names what is malformed."""
    if message_type(token) != AUTHENTICATE:
        raise NtlmError("expected an AUTHENTICATE (type 3) message")
    if len(token) < 64:
        raise NtlmError(f"the AUTHENTICATE message is {len(token)} bytes, shorter than its 64-byte header")
    (flags,) = struct.unpack_from("<I", token, 60)
    unicode = bool(flags & _UNICODE)
    return NtlmAuthenticate(
        lm_response=_field(token, 12, "LmChallengeResponse"),
        nt_response=_field(token, 20, "NtChallengeResponse"),
        domain=_text(_field(token, 28, "DomainName"), unicode, "DomainName"),
        user=_text(_field(token, 36, "UserName"), unicode, "UserName"),
        workstation=_text(_field(token, 44, "Workstation"), unicode, "Workstation"),
    )


def verify_ntlmv2(message: NtlmAuthenticate, password: str, server_challenge: bytes) -> bool:
    """Whether the AUTHENTICATE's NTLMv2 response proves ``password`` (Rule 3)."""
    response = message.nt_response
    if len(response) <= 24:  # empty (anonymous) or NTLMv1
        return False
    key = _impacket_ntlm.NTOWFv2(message.user, password, message.domain)
    proof = hmac.new(key, server_challenge + response[16:], "md5").digest()
    return hmac.compare_digest(proof, response[:16])


@dataclass(frozen=True)
class NtlmServer:
    """Who the server is, as its CHALLENGE says (Rule 2)."""

    netbios_domain: str
    dns_domain: str
    netbios_computer: str
    dns_computer: str

    def challenge(self, negotiate: bytes, server_challenge: bytes, now: datetime) -> bytes:
        """The CHALLENGE answering ``negotiate`` (a NEGOTIATE message), with the
        8-byte ``server_challenge`` and ``now`` as its timestamp."""
        if message_type(negotiate) != NEGOTIATE:
            raise NtlmError("expected a NEGOTIATE (type 1) message")
        if len(server_challenge) != 8:
            raise ValueError("the server challenge is 8 bytes")
        flags = _ALWAYS | (_negotiate_flags(negotiate) & _GRANTED_IF_ASKED)
        target_name = self.netbios_domain.encode("utf-16-le")
        ticks = int((now - _FILETIME_EPOCH).total_seconds() * 10_000_000)
        target_info = b"".join([
            _av_pair(_AV_NB_DOMAIN, self.netbios_domain.encode("utf-16-le")),
            _av_pair(_AV_NB_COMPUTER, self.netbios_computer.encode("utf-16-le")),
            _av_pair(_AV_DNS_DOMAIN, self.dns_domain.encode("utf-16-le")),
            _av_pair(_AV_DNS_COMPUTER, self.dns_computer.encode("utf-16-le")),
            _av_pair(_AV_TIMESTAMP, struct.pack("<Q", ticks)),
            _av_pair(_AV_EOL, b""),
        ])
        header = 56  # with the VERSION field
        return b"".join([
            _SIGNATURE,
            struct.pack("<I", CHALLENGE),
            struct.pack("<HHI", len(target_name), len(target_name), header),
            struct.pack("<I", flags),
            server_challenge,
            b"\x00" * 8,
            struct.pack("<HHI", len(target_info), len(target_info), header + len(target_name)),
            _SERVER_VERSION,
            target_name,
            target_info,
        ])


def _av_pair(av_id: int, value: bytes) -> bytes:
    return struct.pack("<HH", av_id, len(value)) + value


# -- SPNEGO (Rule 4) ------------------------------------------------------------------

def spnego_unwrap(token: bytes) -> tuple[bytes, bool]:
    """The NTLM message in a Negotiate token, and whether it came wrapped in SPNEGO.

    A bare NTLMSSP message is returned as it is. NtlmError for a SPNEGO token that offers
    no NTLM or carries no token, or that cannot be read.
    """
    if token.startswith(_SIGNATURE):
        return token, False
    try:
        if token[:1] == b"\x60":  # GSS-API InitialContextToken: NegTokenInit
            init = _spnego.SPNEGO_NegTokenInit(token)
            if _NTLMSSP_MECH not in init["MechTypes"]:
                raise NtlmError("the Negotiate token offers no NTLM (Kerberos only?); this CA host accepts"
                                " Negotiate with NTLM only")
            inner = init.fields.get("MechToken", b"")
        elif token[:1] == b"\xa1":  # NegTokenResp: a later leg
            inner = _spnego.SPNEGO_NegTokenResp(token).fields.get("ResponseToken", b"")
        else:
            raise NtlmError(f"a Negotiate token that is neither SPNEGO nor NTLMSSP (starts {token[:4].hex()})")
    except NtlmError:
        raise
    except Exception as exc:  # noqa: BLE001 - impacket's SPNEGO parser raises bare Exception and struct errors
        raise NtlmError(f"the SPNEGO token cannot be read ({exc})") from None
    if not inner:
        raise NtlmError("the SPNEGO token carries no NTLM message")
    return bytes(inner), True


def spnego_wrap_challenge(challenge: bytes) -> bytes:
    """A NegTokenResp: accept-incomplete, NTLM chosen, the CHALLENGE as its token."""
    response = _spnego.SPNEGO_NegTokenResp()
    response["NegState"] = b"\x01"
    response["SupportedMech"] = _NTLMSSP_MECH
    response["ResponseToken"] = challenge
    return bytes(response.getData())


def spnego_accept_completed() -> bytes:
    """The final NegTokenResp of a successful SPNEGO exchange: accept-completed."""
    response = _spnego.SPNEGO_NegTokenResp()
    response["NegState"] = b"\x00"
    return bytes(response.getData())
