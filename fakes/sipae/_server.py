"""The server's side of MS-SIPAE Kerberos, sans I/O: challenge, security associations, signatures.

:meth:`SipaeServer.check` reads the authentication of one request and returns a
decision; the caller (the Front End's SIP session) answers accordingly and, for an
authenticated request, has every message it sends back signed by :meth:`SipaeServer.sign`.

Rules (MS-SIPAE §3.3.5; the Kerberos checks are RFC 4120 §3.2.3's, done by
:func:`fakes.kerberos.accept_sec_context`):

1. A request without an ``Authorization`` for this server — none at all, another
   protocol, or a realm or targetname other than the server's — gets a new challenge
   (§3.3.5.1: "MUST reject the message ... send a 401 ... with one or more authentication
   header fields"). So does a header that does not parse: it names no realm or target of
   ours. ACK and CANCEL are not answered (§3.3.5.1) — the caller's part.
2. With ``gssapi-data`` the Kerberos AP-REQ is accepted or refused (ticket, authenticator,
   skew, replay cache). Accepted, it opens a security association (SA) named by an
   ``opaque`` id; from version 4 on the same request is also signed (crand, cnum,
   response), and that signature must verify with the new context.
3. Without ``gssapi-data`` the ``opaque`` names the SA: unknown or expired (the ticket's
   end time) → a new challenge; a missing or bad signature, or a ``cnum`` not above the
   SA's highest so far (a replayed or reordered request) → refused with 401 again.
4. Every message the server sends for an SA carries ``Authentication-Info`` with
   ``rspauth`` — the acceptor's MIC over the message's buffer with a fresh ``srand`` and
   the SA's next ``snum`` (1, 2, ...).

Randomness (opaque, srand) comes from the injected ``rng``, time from ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sipmessage

from fakes.kerberos import (
    DEFAULT_MAX_SKEW,
    AcceptedContext,
    Clock,
    KerberosError,
    Key,
    ReplayCache,
    Rng,
    accept_sec_context,
    enctype_name,
    error_name,
    read_clock,
)

from ._errors import LocalProtocolError, RemoteProtocolError, SignatureError
from ._headers import (
    AUTHENTICATION_INFO,
    AUTHORIZATION,
    KERBEROS,
    NTLM,
    SIP_COMMUNICATIONS_SERVICE,
    WWW_AUTHENTICATE,
    AuthenticationInfo,
    Challenge,
    Credentials,
    parse_credentials,
)
from ._signature import check_signature, make_signature, parse_message, signature_buffer, with_header

__all__ = [
    "SipaeServer",
    "SecurityAssociation",
    "Decision",
    "NeedChallenge",
    "Rejected",
    "Established",
    "Verified",
    "BadSignature",
]


@dataclass
class SecurityAssociation:
    """An authenticated client's SA: its GSS context and the counters of both directions."""

    opaque: str
    version: int
    context: AcceptedContext
    established: datetime
    highest_cnum: int = 0
    snum: int = 0

    @property
    def client_principal(self) -> str:
        """``name@REALM`` of the authenticated client."""
        return self.context.client_principal

    @property
    def expires(self) -> datetime:
        """The end time of the client's ticket: the SA cannot outlive it."""
        return self.context.endtime

    def describe(self) -> dict[str, object]:
        """JSON-ready facts for an event log."""
        return {
            "principal": self.client_principal,
            "service": self.context.service_principal,
            "opaque": self.opaque,
            "enctype": self.context.enctype,
            "enctype_name": enctype_name(self.context.enctype),
            "ticket_enctype": self.context.ticket_enctype,
            "ticket_enctype_name": enctype_name(self.context.ticket_enctype),
            "gss_flags": int(self.context.flags),
            "expires": self.expires.isoformat(),
        }


@dataclass(frozen=True)
class NeedChallenge:
    """Answer 401 with the challenges: the request names no SA of this server."""

    reason: str


@dataclass(frozen=True)
class Rejected:
    """The Kerberos credentials were refused (answer 401 with the challenges again).

    ``error_code``/``error_name`` are the RFC 4120 error (e.g. 34 KRB_AP_ERR_REPEAT).
    """

    reason: str
    error_code: int
    error_name: str


@dataclass(frozen=True)
class Established:
    """The credentials were accepted and ``sa`` opened; ``signed`` when the request was
    also signed (version 4), with ``cnum``."""

    sa: SecurityAssociation
    signed: bool
    cnum: int | None


@dataclass(frozen=True)
class Verified:
    """A later request's signature verified for ``sa``."""

    sa: SecurityAssociation
    cnum: int


@dataclass(frozen=True)
class BadSignature:
    """A later request's signature is missing, replayed or wrong (answer 401 again)."""

    sa: SecurityAssociation
    reason: str
    error_code: int | None = None
    error_name: str | None = None


Decision = NeedChallenge | Rejected | Established | Verified | BadSignature


class SipaeServer:
    """MS-SIPAE Kerberos for one server (a Front End pool server).

    ``targetname`` is the Kerberos target of the challenge, ``sip/`` + the server FQDN
    (the SPN clients ask the KDC for); ``service_keys`` the long-term keys of the account
    holding that SPN. ``ntlm_targetname`` adds the NTLM offer Lync puts beside the
    Kerberos one (the bare FQDN); this server does not implement NTLM, so a client that
    answers it is challenged again. One instance serves every connection: the replay
    cache and the SAs belong to the service, not to a connection.
    """

    def __init__(self, *, targetname: str, service_keys: Mapping[int, Key] | Iterable[Key], now: Clock, rng: Rng,
                 realm: str = SIP_COMMUNICATIONS_SERVICE, version: int = 4,
                 max_skew: timedelta = DEFAULT_MAX_SKEW, ntlm_targetname: str | None = None) -> None:
        if version not in (3, 4):
            raise LocalProtocolError(f"MS-SIPAE version {version}: this server implements 3 or 4")
        self.targetname = targetname
        self.realm = realm
        self.version = version
        self.max_skew = max_skew
        self.ntlm_targetname = ntlm_targetname
        self._keys = dict(service_keys) if isinstance(service_keys, Mapping) else {k.enctype: k for k in service_keys}
        if not self._keys:
            raise LocalProtocolError(f"no service keys for {targetname}")
        self._now = now
        self._rng = rng
        self.replay_cache = ReplayCache(max_skew)
        self.security_associations: dict[str, SecurityAssociation] = {}

    # -- the challenge (§3.3.5.1) --------------------------------------------------------------

    def challenges(self) -> list[tuple[str, str]]:
        """The ``WWW-Authenticate`` fields of a 401: the NTLM offer (if any), then Kerberos,
        in the order of the MS-SIPAE §4.2 example."""
        offers = []
        if self.ntlm_targetname is not None:
            offers.append(Challenge(NTLM, self.realm, self.ntlm_targetname, self.version))
        offers.append(Challenge(KERBEROS, self.realm, self.targetname, self.version))
        return [(WWW_AUTHENTICATE, offer.header_value()) for offer in offers]

    # -- requests -------------------------------------------------------------------------------

    def check(self, request: sipmessage.Request) -> Decision:
        """Decide what the authentication of ``request`` is worth (see the module rules)."""
        credentials, why_not = self._our_credentials(request.headers.getlist(AUTHORIZATION))
        if credentials is None:
            return NeedChallenge(why_not)
        if credentials.gssapi_data is not None:
            return self._establish(request, credentials)
        return self._verify(request, credentials)

    def _our_credentials(self, values: list[str]) -> tuple[Credentials | None, str]:
        """The Kerberos credentials addressed to this server, or why there are none."""
        if not values:
            return None, "no Authorization header"
        reasons = []
        for value in values:
            try:
                credentials = parse_credentials(value)
            except RemoteProtocolError as error:
                reasons.append(str(error))
                continue
            if credentials.protocol.lower() != KERBEROS.lower():
                reasons.append(f"Authorization for {credentials.protocol}: this server accepts Kerberos only")
            elif credentials.realm != self.realm:
                reasons.append(f"realm {credentials.realm!r} is not this server's {self.realm!r}")
            elif credentials.targetname != self.targetname:
                reasons.append(f"targetname {credentials.targetname!r} is not this server's {self.targetname!r}")
            else:
                return credentials, ""
        return None, "; ".join(reasons)

    def _establish(self, request: sipmessage.Request, credentials: Credentials) -> Decision:
        assert credentials.gssapi_data is not None  # the caller's branch
        try:
            accepted = accept_sec_context(credentials.gssapi_data, self._keys, now=self._now,
                                          replay_cache=self.replay_cache, max_skew=self.max_skew)
        except KerberosError as error:
            return Rejected(error.text, error.code, error.name)
        sa = SecurityAssociation(self._new_opaque(), credentials.version or self.version, accepted,
                                 read_clock(self._now))
        if credentials.signed:
            try:
                self._check(request, credentials, sa)
            except SignatureError as error:
                return Rejected(f"the signature of the request that carries the credentials does not verify: "
                                f"{error.reason}", error.code, error_name(error.code))
            sa.highest_cnum = credentials.cnum_value or 0
        self._forget_expired()
        self.security_associations[sa.opaque] = sa
        return Established(sa, credentials.signed, credentials.cnum_value)

    def _verify(self, request: sipmessage.Request, credentials: Credentials) -> Decision:
        if credentials.opaque is None:
            return NeedChallenge("Authorization with neither gssapi-data nor opaque")
        sa = self.security_associations.get(credentials.opaque)
        if sa is None:
            return NeedChallenge(f"no security association {credentials.opaque!r}")
        if read_clock(self._now) > sa.expires:
            del self.security_associations[sa.opaque]
            return NeedChallenge(f"security association {sa.opaque!r} expired with its ticket at "
                                 f"{sa.expires.isoformat()}")
        if not credentials.signed:
            return BadSignature(sa, "the request is not signed (crand, cnum or response missing)")
        cnum = credentials.cnum_value or 0
        if cnum <= sa.highest_cnum:
            return BadSignature(sa, f"cnum {cnum} is not above {sa.highest_cnum}: a replayed or reordered request")
        try:
            self._check(request, credentials, sa)
        except SignatureError as error:
            return BadSignature(sa, error.reason, error.code, error_name(error.code))
        sa.highest_cnum = cnum
        return Verified(sa, cnum)

    def _check(self, request: sipmessage.Request, credentials: Credentials, sa: SecurityAssociation) -> None:
        assert credentials.crand is not None and credentials.cnum is not None and credentials.response is not None
        buffer = signature_buffer(request, protocol=credentials.protocol, rand=credentials.crand,
                                  num=credentials.cnum, realm=credentials.realm,
                                  targetname=credentials.targetname, version=max(sa.version, 3))
        check_signature(sa.context, buffer, credentials.response)

    # -- what the server sends --------------------------------------------------------------------

    def sign(self, sa: SecurityAssociation, raw: bytes) -> bytes:
        """``raw`` (a serialized response or request to the client) with its
        ``Authentication-Info``: rspauth over the message, a fresh srand, the next snum."""
        message = parse_message(raw)
        sa.snum += 1
        srand = self._rng(4).hex().upper()
        buffer = signature_buffer(message, protocol=KERBEROS, rand=srand, num=str(sa.snum), realm=self.realm,
                                  targetname=self.targetname, version=max(sa.version, 3))
        info = AuthenticationInfo(KERBEROS, self.realm, self.targetname, sa.opaque, srand, str(sa.snum),
                                  make_signature(sa.context, buffer), version=sa.version)
        return with_header(raw, AUTHENTICATION_INFO, info.header_value())

    # -- housekeeping ------------------------------------------------------------------------------

    def _new_opaque(self) -> str:
        while True:  # 32 random bits, as Lync's 8-hex-digit opaque values look
            opaque = self._rng(4).hex().upper()
            if opaque not in self.security_associations:
                return opaque

    def _forget_expired(self) -> None:
        moment = read_clock(self._now)
        for opaque in [o for o, sa in self.security_associations.items() if sa.expires < moment]:
            del self.security_associations[opaque]
