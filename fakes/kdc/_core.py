"""The KDC of Active Directory, sans I/O: request bytes in, reply bytes (or nothing) out.

:meth:`KdcCore.handle` answers AS-REQs (RFC 4120 §3.1) and TGS-REQs (§3.3) for the accounts
of a :class:`~fakes.kdc.Directory`, reading the clock and randomness only through the
injected ``now`` and ``rng``. Every request leaves a :class:`KdcEvent` in
:attr:`KdcCore.events`: the evidence a replay reports ("the KDC issued ocs-ucc a TGT and a
ticket for sip/fe01.companya.com").

Rules, as AD's KDC applies them (with MIT's behaviour where AD's is not known):

1. A packet that is not a decodable AS-REQ or TGS-REQ gets no answer — MIT's ``krb5kdc``
   drops such packets (measured: garbage, truncated DER, pvno 4, an AS-REQ without
   sname) — and ``handle`` never raises.
2. The AS exchange checks, in order: realm (KDC_ERR_WRONG_REALM 68), client
   (KDC_ERR_C_PRINCIPAL_UNKNOWN 6), the account's state (rule 7), service (7), a common
   enctype with the keys the domain's policy lets the KDC use (KDC_ERR_ETYPE_NOSUPP 14
   and KDC event 14 — a DES-only account in a domain without DES, or a client without
   DES), pre-authentication (KDC_ERR_PREAUTH_REQUIRED 25 with METHOD-DATA listing
   PA-ETYPE-INFO2 and PA-ENC-TIMESTAMP, KDC_ERR_PREAUTH_FAILED 24 with no NTSTATUS,
   KRB_AP_ERR_SKEW 37 when the timestamp is more than ``max_skew`` away), then the
   password's state (rule 7), the start time (KDC_ERR_CANNOT_POSTDATE 10 for a future
   start without POSTDATED, KDC_ERR_NEVER_VALID 11 for an end before the start).
3. The TGS exchange decrypts the TGT with the krbtgt key (KRB_AP_ERR_MODIFIED 41), the
   authenticator with its session key (KRB_AP_ERR_BAD_INTEGRITY 31), checks names (36),
   skew (37), expiry (32; for RENEW the renew-till), postdated tickets (KRB_AP_ERR_TKT_NYV
   33 until validated), replays (KRB_AP_ERR_REPEAT 34) and the checksum over the req-body
   bytes as received (41; rsa-md5 accepted, as Java sends it with DES), the client's
   state, finds the service by SPN (7, or 8 for a duplicate SPN; sPNMappings's host
   aliases such as ``cifs/``), refuses a service without a usable key (14, KDC event 16)
   or a session enctype (14, event 27), and encrypts the reply with the authenticator's
   subkey (key usage 9) when there is one.
4. Tickets look like AD's: 10-hour lifetime, 7-day renewal, flags forwardable, renewable,
   initial and pre-authent; the ticket is encrypted with the service's strongest usable
   key, the session key has the first enctype of the client's list that the service can
   use. RENEW (``kinit -R``) issues the renewable TGT again with its lifetime counted from
   now up to its renew-till (RFC 4120 §3.3.3.1); a POSTDATED AS request gets an INVALID
   ticket that VALIDATE (``kinit -v``) makes valid once its start time has come
   (KDC_ERR_BADOPTION 13 for a ticket that is not invalid, as MIT's KDC answers,
   measured; whether AD issues postdated tickets at all is not documented: assumed).
5. Names: with the CANONICALIZE option the AS-REP names the client by its sAMAccountName
   (name-type 1) and the TGT ``krbtgt/REALM``; without it the names come back as sent,
   an enterprise name (type 10) included (Samba's as_canonicalization_tests, written
   against Windows). With CANONICALIZE the reply's encrypted part also carries
   PA-SUPPORTED-ENCTYPES for the service ([MS-KILE] §3.3.5.3; Samba adds it to AS and TGS
   replies alike).
6. Over UDP a reply longer than ``max_udp_reply`` (AD's MaxDatagramReplySize, 1465)
   becomes KRB_ERR_RESPONSE_TOO_BIG (52), and the client retries over TCP. A request
   repeated byte for byte within two minutes (a retransmission, or that TCP retry) gets
   the first answer again, as MIT's lookaside cache gives it, rather than a replay error.
7. Account and password states answer as AD does, with a KERB-EXT-ERROR (NTSTATUS) in
   the e-data (:mod:`fakes.kerberos._kile`): disabled, expired and locked-out accounts
   KDC_ERR_CLIENT_REVOKED 18 ([MS-KILE] §3.3.5.7.1) before any pre-authentication (a
   locked-out account stays 18 with a wrong password too, Samba's lockout_tests);
   "User must change password at next logon" and an expired password
   KDC_ERR_KEY_EXPIRED 23 once the password is proven (STATUS_PASSWORD_MUST_CHANGE,
   STATUS_PASSWORD_EXPIRED; the NTSTATUS per case from Samba's AD KDC and its
   lockout_tests; that 23 comes only after a correct password is assumed, as password
   sprayers read a 23 as a valid password).
8. Error replies carry no e-text, like AD's; the event log says why. (MIT's KDC adds one,
   e.g. ``SERVER_NOT_FOUND``, and MIT's tools then word some messages differently.) An
   error AD logs as a KDC event (14, 16, 27) has that event's text in the record.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from fakes.kerberos import (
    DEFAULT_MAX_SKEW,
    ApReq,
    Authenticator,
    Checksum,
    Clock,
    DecodeError,
    EncKdcRepPart,
    EncryptedData,
    EncTicketPart,
    Enctype,
    ErrorCode,
    EtypeInfo2Entry,
    IntegrityError,
    KdcOption,
    KdcRep,
    KdcReq,
    KerberosError,
    Key,
    KeyUsage,
    KrbError,
    MessageType,
    NameType,
    NtStatus,
    PaData,
    PaDataType,
    PrincipalName,
    ReplayCache,
    Rng,
    Ticket,
    TicketFlag,
    checksum_type_for,
    decode_pa_enc_ts_enc,
    decrypt,
    encode_etype_info2,
    encode_kerb_ext_error,
    encode_method_data,
    encode_supported_enctypes,
    encrypt,
    enctype_name,
    error_name,
    format_principal,
    make_checksum,
    message_type,
    ntstatus,
    random_key,
    read_clock,
    utc_now,
    verify_checksum,
)

from ._accounts import CHANGEPW_SPN, DES_ENCTYPES, Account, Directory, DomainPolicy
from ._adevents import AdEvent, as_no_key, tgs_no_key, tgs_unsupported_etype

# The KDC options and ticket flags as plain ints, for the tests made on every request:
# ``word & KdcOption.X`` builds an IntFlag through enum's machinery (~1 µs on Python 3.11),
# a dozen times per TGS-REQ (profiled).
_OPTION = SimpleNamespace(**{option.name: int(option) for option in KdcOption})
_FLAG = SimpleNamespace(**{flag.name: int(flag) for flag in TicketFlag})

__all__ = ["KdcCore", "KdcEvent", "AD_TICKET_LIFETIME", "AD_RENEW_LIFETIME", "AD_MAX_UDP_REPLY"]

log = logging.getLogger("fakes.kdc")

#: AD's "Maximum lifetime for user ticket" / "for service ticket" default (10 hours).
AD_TICKET_LIFETIME = timedelta(hours=10)
#: AD's "Maximum lifetime for user ticket renewal" default (7 days).
AD_RENEW_LIFETIME = timedelta(days=7)
#: AD's MaxDatagramReplySize default: longer UDP replies become KRB_ERR_RESPONSE_TOO_BIG.
AD_MAX_UDP_REPLY = 1465

_LOOKASIDE_TIME = timedelta(minutes=2)
_LOOKASIDE_ENTRIES = 10_000
_OPENED_TGTS = 1024  # TGTs kept opened: the clients of the moment
# Tickets for kadmin/changepw live two minutes: long enough to change a password (Samba's
# AD KDC, CHANGEPW_LIFETIME; AD's own value is not published: assumed).
_CHANGEPW_LIFETIME = timedelta(minutes=2)

# NTSTATUS values of the account and password states ([MS-KILE] §2.2.1's KERB-EXT-ERROR).
_STATUS_ACCOUNT_DISABLED = 0xC0000072
_STATUS_ACCOUNT_EXPIRED = 0xC0000193
_STATUS_ACCOUNT_LOCKED_OUT = 0xC0000234
_STATUS_PASSWORD_MUST_CHANGE = 0xC0000224
_STATUS_PASSWORD_EXPIRED = 0xC0000071


@dataclass(frozen=True)
class KdcEvent:
    """One request the KDC saw and what it did about it (JSON-able through :meth:`to_dict`).

    ``request`` is ``AS-REQ``, ``TGS-REQ``, ``malformed`` (dropped, no answer),
    ``oversized`` (a TCP length beyond the limit) or ``internal-error`` (a bug in the
    stand-in; dropped, logged with its traceback). ``reply_etype`` is the enctype of the
    key the reply's enc-part is encrypted with (the client's long-term key in an AS-REP),
    ``ticket_etype`` the service key's, ``session_etype`` the new session key's.
    ``options`` names the KDC options that change what is issued (``renew``,
    ``validate``, ``canonicalize``, ``postdated``). ``ad_event`` is the KDC event a
    Windows DC logs for this error (14, 16, 27), ``ntstatus`` the NTSTATUS the error's
    e-data carries (KERB-EXT-ERROR).
    """

    time: datetime
    request: str
    transport: str
    peer: str | None
    client: str | None = None
    server: str | None = None
    requested_etypes: tuple[int, ...] = ()
    reply_etype: int | None = None
    ticket_etype: int | None = None
    session_etype: int | None = None
    preauthenticated: bool | None = None
    error_code: int | None = None
    error_name: str | None = None
    detail: str = ""
    options: tuple[str, ...] = ()
    ad_event: AdEvent | None = None
    ntstatus: NtStatus | None = None

    @property
    def ok(self) -> bool:
        """True when a ticket was issued."""
        return self.error_code is None and self.request in ("AS-REQ", "TGS-REQ")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; enctypes as numbers with their names beside them."""
        def named(etype: int | None) -> dict[str, Any] | None:
            return None if etype is None else {"etype": etype, "name": enctype_name(etype)}

        return {
            "time": self.time.isoformat(),
            "request": self.request,
            "transport": self.transport,
            "peer": self.peer,
            "client": self.client,
            "server": self.server,
            "requested_etypes": list(self.requested_etypes),
            "reply_etype": named(self.reply_etype),
            "ticket_etype": named(self.ticket_etype),
            "session_etype": named(self.session_etype),
            "preauthenticated": self.preauthenticated,
            "ok": self.ok,
            "error_code": self.error_code,
            "error_name": self.error_name,
            "detail": self.detail,
            "options": list(self.options),
            "ad_event": None if self.ad_event is None else self.ad_event.to_dict(),
            "ntstatus": None if self.ntstatus is None else self.ntstatus.to_dict(),
        }


class _Refusal(KerberosError):
    """A request the KDC answers with a KRB-ERROR: ``e_data`` (METHOD-DATA for
    PREAUTH_REQUIRED, a KERB-EXT-ERROR for ``status``), the KDC event AD logs for it."""

    def __init__(self, code: int, detail: str, e_data: bytes | None = None, *, status: int | None = None,
                 ad_event: AdEvent | None = None) -> None:
        super().__init__(code, detail, e_data=encode_kerb_ext_error(status) if status is not None else e_data)
        self.ntstatus = None if status is None else ntstatus(status)
        self.ad_event = ad_event


class _Drop(Exception):
    """A request the KDC does not answer at all."""


@dataclass
class _Draft:
    """What is known about the request so far; becomes the :class:`KdcEvent`."""

    time: datetime
    request: str
    transport: str
    peer: str | None
    client: str | None = None
    server: str | None = None
    requested_etypes: tuple[int, ...] = ()
    reply_etype: int | None = None
    ticket_etype: int | None = None
    session_etype: int | None = None
    preauthenticated: bool | None = None
    detail: str = ""
    options: tuple[str, ...] = ()
    ad_event: AdEvent | None = None
    ntstatus: NtStatus | None = None
    req: KdcReq | None = None


class KdcCore:
    """The KDC for ``realm`` and its ``accounts`` (a krbtgt account is added if missing).

    ``now`` returns timezone-aware UTC datetimes; ``rng`` gives random bytes (session keys,
    the krbtgt password). ``max_skew`` is the clock-skew tolerance (AD: 5 minutes).
    ``policy`` is the domain's (:class:`~fakes.kdc.DomainPolicy`: single DES off by
    default, as on a Windows Server 2008 R2 or later DC); replacing :attr:`policy` takes
    effect on the next request, as a GPO change does once the DC has applied it.
    """

    def __init__(self, realm: str, accounts: Iterable[Account] | Directory, *, now: Clock = utc_now,
                 rng: Rng = os.urandom, max_skew: timedelta | int = DEFAULT_MAX_SKEW,
                 ticket_lifetime: timedelta = AD_TICKET_LIFETIME, renew_lifetime: timedelta = AD_RENEW_LIFETIME,
                 max_udp_reply: int = AD_MAX_UDP_REPLY, max_events: int = 10_000,
                 policy: DomainPolicy | None = None) -> None:
        self.directory = accounts if isinstance(accounts, Directory) else Directory(realm, accounts, rng=rng)
        #: The domain's Kerberos policy.
        self.policy = policy if policy is not None else DomainPolicy()
        self.realm = self.directory.realm
        self.max_skew = max_skew if isinstance(max_skew, timedelta) else timedelta(seconds=max_skew)
        self.ticket_lifetime = ticket_lifetime
        self.renew_lifetime = renew_lifetime
        self.max_udp_reply = max_udp_reply
        #: The most recent requests, oldest first.
        self.events: deque[KdcEvent] = deque(maxlen=max_events)
        #: Called with every event as it is recorded (the server turns them into evidence).
        self.on_event: Callable[[KdcEvent], None] | None = None
        #: The domain controller's clock; replacing it skews the KDC against its clients.
        self.now = now
        self._rng = rng
        self._replay_cache = ReplayCache(self.max_skew)
        self._lookaside: OrderedDict[bytes, tuple[datetime, _Draft, int | None, bytes]] = OrderedDict()
        self._opened_tgts: OrderedDict[tuple[bytes, int, bytes], EncTicketPart] = OrderedDict()

    # -- entry points -------------------------------------------------------------------------

    def handle(self, request: bytes, *, transport: str = "udp", peer: str | None = None) -> bytes | None:
        """The reply to one request (None: send nothing). Never raises for any input."""
        try:
            moment = read_clock(self.now)
        except ValueError:
            log.exception("KDC clock failure")
            return None
        request = bytes(request)
        digest = hashlib.sha256(request).digest()
        cached = self._lookaside_get(digest, moment)
        if cached is not None:
            original, error_code, reply = cached
            draft = replace(original, time=moment, transport=transport, peer=peer,
                            detail=f"retransmission answered from the lookaside cache ({original.detail})")
        else:
            draft = _Draft(moment, "malformed", transport, peer)
            answer = self._answer(request, draft)
            if answer is None:
                self._record(draft, None)
                return None
            error_code, reply = answer
            self._lookaside_put(digest, moment, draft, error_code, reply)
        if transport == "udp" and len(reply) > self.max_udp_reply:
            # RFC 4120 §7.2.1: the client retries over TCP, and the lookaside cache answers it.
            draft = replace(draft, detail=f"{len(reply)}-byte reply exceeds the UDP limit of "
                                          f"{self.max_udp_reply} bytes")
            reply = self._error(ErrorCode.KRB_ERR_RESPONSE_TOO_BIG, draft, None)
            error_code = ErrorCode.KRB_ERR_RESPONSE_TOO_BIG
        self._record(draft, error_code)
        return reply

    def field_too_long(self, length: int, *, transport: str = "tcp", peer: str | None = None) -> bytes:
        """KRB_ERR_FIELD_TOOLONG (61) for a TCP request of ``length`` bytes beyond the limit.

        RFC 4120 §7.2.2; MIT answers so and closes the connection (measured).
        """
        draft = _Draft(read_clock(self.now), "oversized", transport, peer,
                       detail=f"TCP request length {length} is beyond the limit")
        reply = self._error(ErrorCode.KRB_ERR_FIELD_TOOLONG, draft, None)
        self._record(draft, ErrorCode.KRB_ERR_FIELD_TOOLONG)
        return reply

    # -- plumbing -------------------------------------------------------------------------------

    def _answer(self, request: bytes, draft: _Draft) -> tuple[int | None, bytes] | None:
        """(error code or None, reply) for a request, or None to drop it; fills ``draft``."""
        try:
            return None, self._dispatch(request, draft)
        except _Drop as exc:
            draft.detail = str(exc)
            return None
        except _Refusal as exc:
            draft.detail = exc.text
            draft.ad_event, draft.ntstatus = exc.ad_event, exc.ntstatus
            return exc.code, self._error(exc.code, draft, exc.e_data)
        except Exception:  # the last line of defence: one bad request must not stop the KDC
            log.exception("KDC failed on a %s from %s", draft.request, draft.peer)
            draft.detail = "internal error (see the KDC's log)"
            draft.request = "internal-error"
            return None

    # A client that gets no answer (lost datagram) or KRB_ERR_RESPONSE_TOO_BIG sends the very
    # same bytes again; answering from this cache (MIT's krb5kdc calls its own the
    # "lookaside cache") keeps the replay cache from calling that a replay. Answers are kept
    # two minutes, well inside the skew window.
    def _lookaside_get(self, digest: bytes, moment: datetime) -> tuple[_Draft, int | None, bytes] | None:
        while self._lookaside:
            oldest, (stored_at, *_rest) = next(iter(self._lookaside.items()))
            if moment - stored_at <= _LOOKASIDE_TIME and len(self._lookaside) <= _LOOKASIDE_ENTRIES:
                break
            del self._lookaside[oldest]
        entry = self._lookaside.get(digest)
        if entry is None:
            return None
        _, draft, error_code, reply = entry
        return draft, error_code, reply

    def _lookaside_put(self, digest: bytes, moment: datetime, draft: _Draft, error_code: int | None,
                       reply: bytes) -> None:
        self._lookaside[digest] = (moment, replace(draft), error_code, reply)

    def _dispatch(self, request: bytes, draft: _Draft) -> bytes:
        kind = message_type(request)
        if kind not in (MessageType.AS_REQ, MessageType.TGS_REQ):
            first = request[:1].hex() or "empty"
            raise _Drop(f"not an AS-REQ or TGS-REQ (first byte {first}, {len(request)} bytes)")
        draft.request = "AS-REQ" if kind == MessageType.AS_REQ else "TGS-REQ"
        try:
            req = KdcReq.from_der(request)
        except DecodeError as exc:
            draft.request = "malformed"
            raise _Drop(exc.text) from exc
        draft.requested_etypes = req.body.etypes
        draft.req = req
        if kind == MessageType.AS_REQ:
            return self._as_exchange(req, request, draft)
        return self._tgs_exchange(req, draft)

    def _record(self, draft: _Draft, error_code: int | None) -> None:
        event = KdcEvent(
            time=draft.time, request=draft.request, transport=draft.transport, peer=draft.peer,
            client=draft.client, server=draft.server, requested_etypes=draft.requested_etypes,
            reply_etype=draft.reply_etype, ticket_etype=draft.ticket_etype,
            session_etype=draft.session_etype, preauthenticated=draft.preauthenticated,
            error_code=error_code, error_name=None if error_code is None else error_name(error_code),
            detail=draft.detail, options=draft.options, ad_event=draft.ad_event, ntstatus=draft.ntstatus,
        )
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        log.info("%s %s -> %s %s", event.request, event.client or "-", event.server or "-",
                 event.error_name or "issued")

    def _error(self, code: int, draft: _Draft, e_data: bytes | None) -> bytes:
        req = draft.req
        sname = req.body.sname if req is not None and req.body.sname is not None \
            else PrincipalName.from_text(f"krbtgt/{self.realm}")
        cname = req.body.cname if req is not None else None
        return KrbError(
            error_code=int(code),
            realm=self.realm,
            sname=sname,
            stime=draft.time,
            crealm=self.realm if cname is not None else None,
            cname=cname,
            e_data=e_data,
        ).to_der()

    # -- shared rules ---------------------------------------------------------------------------

    def _times(self, start: datetime, body_till: datetime | None, body_rtime: datetime | None, options: int,
               cap: datetime | None, renew_cap: datetime | None) -> tuple[datetime, datetime | None]:
        """(endtime, renew_till) per RFC 4120 §3.1.3 within AD's policy and the TGT's limits.

        RENEWABLE asks for ``rtime``; RENEWABLE-OK asks for a renewable ticket up to
        ``till`` when ``till`` is beyond the maximum lifetime. MIT rejects a reply whose
        renew-till exceeds what it asked for ("KDC reply did not match expectations").
        A ``till`` not after ``start`` is KDC_ERR_NEVER_VALID (RFC 4120 §3.1.3; Microsoft's
        KILE test suite expects 11 for a start after the end).
        """
        if body_till is not None and body_till <= start:
            raise _Refusal(ErrorCode.KDC_ERR_NEVER_VALID,
                           f"the requested end {body_till.isoformat()} is not after the start {start.isoformat()}")
        endtime = start + self.ticket_lifetime
        if body_till is not None:
            endtime = min(endtime, body_till)
        if cap is not None:
            endtime = min(endtime, cap)
        if options & _OPTION.RENEWABLE:
            wanted = body_rtime or body_till
        elif options & _OPTION.RENEWABLE_OK and body_till is not None and body_till > endtime:
            wanted = body_till
        else:
            return endtime, None
        renew_till = start + self.renew_lifetime
        for limit in (wanted, renew_cap):
            if limit is not None:
                renew_till = min(renew_till, limit)
        return endtime, (renew_till if renew_till > endtime else None)

    def _session_enctype(self, requested: tuple[int, ...], client: Account, service: Account) -> int | None:
        """The first enctype of the client's list that the service can use for a session key.

        A service can use the enctypes it has keys for that the domain's policy allows.
        The krbtgt service is the KDC itself, which also accepts single DES for a
        USE_DES_KEY_ONLY client when the domain allows DES. So a DES-only account still
        gets an AES TGT session key when its client also offers AES, and a client offering
        only DES gets no ticket for an AES-only service (KDC_ERR_ETYPE_NOSUPP).
        """
        allowed = set(self.policy.usable(service.key_enctypes))
        if service is self.directory.krbtgt and client.use_des_key_only and self.policy.des_enabled:
            allowed.update(DES_ENCTYPES)
        return next((e for e in requested if e in allowed), None)

    def _issue(self, moment: datetime, *, client_name: PrincipalName, client_realm: str,
               service: Account, service_etype: int, sname: PrincipalName, srealm: str, session_key: Key,
               flags: int, authtime: datetime, endtime: datetime, renew_till: datetime | None,
               draft: _Draft) -> Ticket:
        draft.ticket_etype = service_etype
        enc_part = EncTicketPart(
            flags=flags, key=session_key, crealm=client_realm, cname=client_name,
            authtime=authtime, starttime=moment, endtime=endtime, renew_till=renew_till,
        )
        cipher = encrypt(service.key(service_etype, self.realm), KeyUsage.KDC_REP_TICKET, enc_part.to_der(),
                         rng=self._rng)
        return Ticket(srealm, sname, EncryptedData(service_etype, cipher, kvno=service.kvno))

    def _one_service(self, sname: PrincipalName) -> Account:
        services = self.directory.find_services(sname)
        if not services:
            raise _Refusal(ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN, f"no account has the name or SPN {sname}")
        if len(services) > 1:
            owners = ", ".join(a.sam_account_name for a in services)
            raise _Refusal(ErrorCode.KDC_ERR_PRINCIPAL_NOT_UNIQUE, f"SPN {sname} is registered on {owners}")
        return services[0]

    def _check_account(self, client: Account, moment: datetime) -> None:
        """[MS-KILE] §3.3.5.7.1: a disabled, expired or locked-out account is revoked (18)."""
        name = client.sam_account_name
        if not client.enabled:
            raise _Refusal(ErrorCode.KDC_ERR_CLIENT_REVOKED, f"account {name} is disabled",
                           status=_STATUS_ACCOUNT_DISABLED)
        if client.expired(moment):
            raise _Refusal(ErrorCode.KDC_ERR_CLIENT_REVOKED, f"account {name} expired at {client.account_expires}",
                           status=_STATUS_ACCOUNT_EXPIRED)
        if client.locked_out:
            raise _Refusal(ErrorCode.KDC_ERR_CLIENT_REVOKED, f"account {name} is locked out",
                           status=_STATUS_ACCOUNT_LOCKED_OUT)

    def _check_password(self, client: Account) -> None:
        """The password is right but may not be used as it is (23, rule 7 of the module)."""
        name = client.sam_account_name
        if client.must_change_password:
            raise _Refusal(ErrorCode.KDC_ERR_KEY_EXPIRED,
                           f"{name} must change the password at next logon (pwdLastSet = 0)",
                           status=_STATUS_PASSWORD_MUST_CHANGE)
        if client.password_expired:
            raise _Refusal(ErrorCode.KDC_ERR_KEY_EXPIRED, f"the password of {name} has expired",
                           status=_STATUS_PASSWORD_EXPIRED)

    def _reply_padata(self, req: KdcReq, service: Account) -> tuple[PaData, ...]:
        """PA-SUPPORTED-ENCTYPES for a request that asked to canonicalize (rule 5)."""
        if not req.body.kdc_options & _OPTION.CANONICALIZE:
            return ()
        return (PaData(PaDataType.SUPPORTED_ENCTYPES,
                       encode_supported_enctypes(self.policy.usable(service.key_enctypes))),)

    # -- AS exchange (RFC 4120 §3.1) ------------------------------------------------------------

    def _as_exchange(self, req: KdcReq, request_bytes: bytes, draft: _Draft) -> bytes:
        body = req.body
        if body.cname is None or body.sname is None:
            draft.request = "malformed"
            raise _Drop("AS-REQ without cname or sname")
        moment = draft.time
        draft.client = format_principal(body.cname, body.realm)
        draft.server = format_principal(body.sname, body.realm)
        draft.options = _option_names(body.kdc_options)
        if body.realm.upper() != self.realm:
            raise _Refusal(ErrorCode.KDC_ERR_WRONG_REALM, f"this KDC serves {self.realm}, not {body.realm}")
        client = self.directory.find_client(body.cname)
        if client is None:
            raise _Refusal(ErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN, f"no account named {body.cname}")
        self._check_account(client, moment)
        service = self._one_service(body.sname)

        keys = self.policy.usable(client.key_enctypes)
        usable = [e for e in body.etypes if e in keys]
        if not usable:
            des_note = ""
            if client.use_des_key_only:
                des_note = (" (the account uses DES keys only: USE_DES_KEY_ONLY" +
                            (")" if self.policy.des_enabled else ", and the domain's policy does not allow DES)"))
            target = body.sname.components[0] if self.directory.is_krbtgt(body.sname) else str(body.sname)
            raise _Refusal(ErrorCode.KDC_ERR_ETYPE_NOSUPP,
                           f"the client asked for {[enctype_name(e) for e in body.etypes]}; account "
                           f"{client.sam_account_name} has usable keys for "
                           f"{[enctype_name(e) for e in keys]}{des_note}",
                           ad_event=as_no_key(target, client.sam_account_name, body.etypes, keys))
        etype_info2 = PaData(PaDataType.ETYPE_INFO2, encode_etype_info2(
            [self._etype_info2_entry(client, e) for e in usable]))

        timestamp = req.padata_of(PaDataType.ENC_TIMESTAMP)
        if timestamp is None:
            if client.requires_preauth:
                # RFC 4120 §3.1.1 / §5.2.7.5: tell the client which key to prove, and how.
                e_data = encode_method_data([etype_info2, PaData(PaDataType.ENC_TIMESTAMP)])
                raise _Refusal(ErrorCode.KDC_ERR_PREAUTH_REQUIRED, "pre-authentication required", e_data)
            reply_etype = usable[0]
            draft.preauthenticated = False
        else:
            reply_etype = self._verify_timestamp(timestamp, client, keys, moment)
            draft.preauthenticated = True
        draft.reply_etype = reply_etype
        # An expired password may still get a ticket for the password-change service,
        # which is how a client asks for a new one (Samba's AD KDC lets it through so).
        changepw = "/".join(body.sname.components).lower() == CHANGEPW_SPN
        if not changepw:
            self._check_password(client)

        session_etype = self._session_enctype(body.etypes, client, service)
        if session_etype is None:
            raise _Refusal(ErrorCode.KDC_ERR_ETYPE_NOSUPP,
                           f"no session-key enctype in {[enctype_name(e) for e in body.etypes]} "
                           f"is allowed for {service.sam_account_name}")
        draft.session_etype = session_etype
        session_key = random_key(session_etype, self._rng)

        # RFC 4120 §3.1.3: a future start with POSTDATED makes an INVALID ticket that must be
        # validated once the start has come; beyond the clock-skew window, without
        # POSTDATED, it is refused.
        start, postdated = moment, False
        if body.from_ is not None and body.from_ > moment and body.kdc_options & _OPTION.POSTDATED:
            start, postdated = body.from_, True
        elif body.from_ is not None and body.from_ > moment + self.max_skew:
            raise _Refusal(ErrorCode.KDC_ERR_CANNOT_POSTDATE,
                           f"the request starts at {body.from_.isoformat()} without the POSTDATED option")
        endtime, renew_till = self._times(start, body.till, body.rtime, body.kdc_options,
                                          start + _CHANGEPW_LIFETIME if changepw else None, None)
        flags = _FLAG.INITIAL
        if draft.preauthenticated:
            flags |= _FLAG.PRE_AUTHENT
        for option, flag in ((_OPTION.FORWARDABLE, _FLAG.FORWARDABLE),
                             (_OPTION.PROXIABLE, _FLAG.PROXIABLE),
                             (_OPTION.ALLOW_POSTDATE, _FLAG.MAY_POSTDATE)):
            if body.kdc_options & option:
                flags |= flag
        if postdated:
            flags |= _FLAG.POSTDATED | _FLAG.INVALID
        if renew_till is not None:
            flags |= _FLAG.RENEWABLE

        # Rule 5: CANONICALIZE gives the account's own names; otherwise they come back as sent.
        cname, sname = body.cname, body.sname
        if body.kdc_options & _OPTION.CANONICALIZE:
            cname = PrincipalName(NameType.PRINCIPAL, (client.sam_account_name,))
            if self.directory.is_krbtgt(body.sname):
                sname = PrincipalName(NameType.SRV_INST, ("krbtgt", self.realm))
        ticket = self._issue(start, client_name=cname, client_realm=self.realm, service=service,
                             service_etype=self.policy.usable(service.key_enctypes)[0], sname=sname,
                             srealm=self.realm, session_key=session_key, flags=flags, authtime=moment,
                             endtime=endtime, renew_till=renew_till, draft=draft)
        reply_key = client.key(reply_etype, self.realm)
        protected = self._protected_negotiation(req, request_bytes, reply_key)
        enc_part = EncKdcRepPart(
            key=session_key, nonce=body.nonce, flags=flags | (_FLAG.ENC_PA_REP if protected else 0),
            authtime=moment, starttime=start, endtime=endtime, renew_till=renew_till, srealm=self.realm,
            sname=sname, last_req=((0, moment),), encrypted_pa_data=protected + self._reply_padata(req, service),
            application_tag=25,
        )
        cipher = encrypt(reply_key, KeyUsage.AS_REP_ENC_PART, enc_part.to_der(), rng=self._rng)
        reply_info = PaData(PaDataType.ETYPE_INFO2, encode_etype_info2([self._etype_info2_entry(client, reply_etype)]))
        kind = "TGT" if self.directory.is_krbtgt(body.sname) else "ticket"
        draft.detail = f"{'postdated ' if postdated else ''}{kind} issued"
        return KdcRep(MessageType.AS_REP, self.realm, cname, ticket,
                      EncryptedData(reply_etype, cipher, kvno=client.kvno), (reply_info,)).to_der()

    def _protected_negotiation(self, req: KdcReq, request_bytes: bytes, reply_key: Key) -> tuple[PaData, ...]:
        """RFC 6806 §11: answer PA-REQ-ENC-PA-REP with a checksum over the request as received.

        MIT clients send it and, when the reply's enc-pa-rep flag is set, check the checksum
        (MIT's own KDC answers it the same way). Single-DES keys have no keyed checksum here
        (rsa-md5-des is not implemented), so such replies leave the flag clear.
        """
        if req.padata_of(PaDataType.REQ_ENC_PA_REP) is None or reply_key.enctype in DES_ENCTYPES:
            return ()
        cksumtype = checksum_type_for(reply_key.enctype)
        checksum = Checksum(cksumtype, make_checksum(cksumtype, reply_key, KeyUsage.AS_REQ, request_bytes))
        return (PaData(PaDataType.REQ_ENC_PA_REP, checksum.to_der()),)

    def _etype_info2_entry(self, account: Account, etype: int) -> EtypeInfo2Entry:
        # RC4's key has no salt (RFC 4757 §2), so its entry carries none.
        return EtypeInfo2Entry(etype, None if etype == Enctype.RC4_HMAC else account.salt(self.realm))

    def _verify_timestamp(self, padata: PaData, client: Account, keys: tuple[int, ...], moment: datetime) -> int:
        """Check PA-ENC-TIMESTAMP (RFC 4120 §5.2.7.2) against the usable ``keys``; returns
        the enctype the client proved."""
        try:
            encrypted = EncryptedData.from_der(padata.value)
        except DecodeError as exc:
            raise _Refusal(ErrorCode.KDC_ERR_PREAUTH_FAILED, f"unreadable PA-ENC-TIMESTAMP: {exc.text}") from exc
        if encrypted.etype not in keys:
            raise _Refusal(ErrorCode.KDC_ERR_ETYPE_NOSUPP,
                           f"PA-ENC-TIMESTAMP uses {enctype_name(encrypted.etype)}, which "
                           f"{client.sam_account_name} has no usable key for")
        try:
            stamp = decode_pa_enc_ts_enc(decrypt(client.key(encrypted.etype, self.realm),
                                                 KeyUsage.AS_REQ_PA_ENC_TIMESTAMP, encrypted.cipher))
        except (IntegrityError, DecodeError) as exc:
            raise _Refusal(ErrorCode.KDC_ERR_PREAUTH_FAILED,
                           f"PA-ENC-TIMESTAMP does not decrypt with {client.sam_account_name}'s "
                           f"{enctype_name(encrypted.etype)} key: wrong password") from exc
        skew = abs(stamp - moment)
        if skew > self.max_skew:
            raise _Refusal(ErrorCode.KRB_AP_ERR_SKEW,
                           f"the client's clock is {int(skew.total_seconds())} s off the KDC's "
                           f"(allowed: {int(self.max_skew.total_seconds())} s)")
        return encrypted.etype

    # -- TGS exchange (RFC 4120 §3.3) -----------------------------------------------------------

    def _tgs_exchange(self, req: KdcReq, draft: _Draft) -> bytes:
        body = req.body
        moment = draft.time
        if body.sname is not None:
            draft.server = format_principal(body.sname, body.realm)
        draft.options = _option_names(body.kdc_options)
        padata = req.padata_of(PaDataType.TGS_REQ)
        if padata is None:
            raise _Refusal(ErrorCode.KDC_ERR_PADATA_TYPE_NOSUPP, "TGS-REQ without PA-TGS-REQ")
        try:
            ap_req = ApReq.from_der(padata.value)
        except DecodeError as exc:
            draft.request = "malformed"
            raise _Drop(f"PA-TGS-REQ: {exc.text}") from exc
        tgt, authenticator, session_key = self._open_tgt(ap_req, draft)
        client_text = format_principal(tgt.cname, tgt.crealm)
        draft.client = client_text

        if authenticator.cname.components != tgt.cname.components or authenticator.crealm.upper() != tgt.crealm.upper():
            raise _Refusal(ErrorCode.KRB_AP_ERR_BADMATCH,
                           f"authenticator for {format_principal(authenticator.cname, authenticator.crealm)}, "
                           f"TGT for {client_text}")
        skew = abs(authenticator.ctime - moment)
        if skew > self.max_skew:
            raise _Refusal(ErrorCode.KRB_AP_ERR_SKEW,
                           f"the client's clock is {int(skew.total_seconds())} s off the KDC's "
                           f"(allowed: {int(self.max_skew.total_seconds())} s)")
        renew, validate = body.kdc_options & _OPTION.RENEW, body.kdc_options & _OPTION.VALIDATE
        self._check_presented_ticket(tgt, bool(renew), bool(validate), moment)
        if self._replay_cache.seen_before(client_text, f"krbtgt/{self.realm}", authenticator.ctime, moment):
            raise _Refusal(ErrorCode.KRB_AP_ERR_REPEAT,
                           f"TGS authenticator from {client_text} at {authenticator.ctime.isoformat()} replayed")
        self._verify_body_checksum(authenticator, session_key, req.raw_body)

        if body.kdc_options & (_OPTION.ENC_TKT_IN_SKEY | _OPTION.POSTDATED):
            raise _Refusal(ErrorCode.KDC_ERR_BADOPTION,
                           "user-to-user requests and postdated service tickets are not supported by this KDC")
        if body.sname is None:
            raise _Refusal(ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN, "TGS-REQ without sname")
        if (renew or validate) and not self.directory.is_krbtgt(body.sname):
            raise _Refusal(ErrorCode.KDC_ERR_BADOPTION,
                           f"renew and validate apply to the TGT presented, not to a ticket for {body.sname}")
        client = self.directory.find_client(tgt.cname)
        if client is None:
            raise _Refusal(ErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN, f"the TGT's client {client_text} no longer exists")
        self._check_account(client, moment)
        service = self._one_service(body.sname)

        keys = self.policy.usable(service.key_enctypes)
        account = f"{service.sam_account_name}@{self.realm}"
        if not keys:
            raise _Refusal(ErrorCode.KDC_ERR_ETYPE_NOSUPP,
                           f"{service.sam_account_name} has no key the domain's policy allows "
                           f"(its keys: {[enctype_name(e) for e in service.key_enctypes]})",
                           ad_event=tgs_no_key(str(body.sname), account, body.etypes, keys))
        session_etype = self._session_enctype(body.etypes, client, service)
        if session_etype is None:
            raise _Refusal(ErrorCode.KDC_ERR_ETYPE_NOSUPP,
                           f"the client asked for {[enctype_name(e) for e in body.etypes]}; "
                           f"{service.sam_account_name} supports {[enctype_name(e) for e in keys]}",
                           ad_event=tgs_unsupported_etype(str(body.sname), account, body.etypes, keys))
        draft.session_etype = session_etype
        if renew:
            # RFC 4120 §3.3.3.1: the same ticket, its lifetime counted again from now,
            # never beyond its renew-till.
            flags = tgt.flags
            start = tgt.starttime or tgt.authtime
            renew_till = tgt.renew_till
            endtime = min(moment + (tgt.endtime - start), renew_till) if renew_till else tgt.endtime
            draft.detail = "TGT renewed"
        elif validate:
            # RFC 4120 §3.3.3: the postdated ticket, valid from now (MIT's KDC sets the
            # start to the time of validation, measured).
            flags = tgt.flags & ~_FLAG.INVALID
            endtime, renew_till = tgt.endtime, tgt.renew_till
            draft.detail = "TGT validated"
        else:
            endtime, renew_till = self._times(moment, body.till, body.rtime, body.kdc_options, tgt.endtime,
                                              tgt.renew_till)
            flags = tgt.flags & _FLAG.PRE_AUTHENT
            if body.kdc_options & _OPTION.FORWARDABLE and tgt.flags & _FLAG.FORWARDABLE:
                flags |= _FLAG.FORWARDABLE
            if renew_till is not None and tgt.flags & _FLAG.RENEWABLE:
                flags |= _FLAG.RENEWABLE
            else:
                renew_till = None
            draft.detail = "ticket issued"
        new_session_key = random_key(session_etype, self._rng)
        ticket = self._issue(moment, client_name=tgt.cname, client_realm=tgt.crealm, service=service,
                             service_etype=keys[0], sname=body.sname, srealm=self.realm,
                             session_key=new_session_key, flags=flags, authtime=tgt.authtime, endtime=endtime,
                             renew_till=renew_till, draft=draft)
        enc_part = EncKdcRepPart(
            key=new_session_key, nonce=body.nonce, flags=flags, authtime=tgt.authtime, starttime=moment,
            endtime=endtime, renew_till=renew_till, srealm=self.realm, sname=body.sname,
            last_req=((0, tgt.authtime),), encrypted_pa_data=self._reply_padata(req, service), application_tag=26,
        )
        # RFC 4120 §5.4.2: with a subkey in the authenticator, the reply uses it (usage 9).
        if authenticator.subkey is not None:
            reply_key, usage = authenticator.subkey, KeyUsage.TGS_REP_ENC_PART_SUBKEY
        else:
            reply_key, usage = session_key, KeyUsage.TGS_REP_ENC_PART_SESSION_KEY
        draft.reply_etype = reply_key.enctype
        cipher = encrypt(reply_key, usage, enc_part.to_der(), rng=self._rng)
        return KdcRep(MessageType.TGS_REP, tgt.crealm, tgt.cname, ticket,
                      EncryptedData(reply_key.enctype, cipher)).to_der()

    def _check_presented_ticket(self, tgt: EncTicketPart, renew: bool, validate: bool, moment: datetime) -> None:
        """Whether the TGT may be used for this request: expiry, renewability, validity.

        RENEW needs a RENEWABLE ticket (else KDC_ERR_BADOPTION, MIT's answer to ``kinit
        -R`` then: "KDC can't fulfill requested option", measured) whose renew-till has not
        passed (KRB_AP_ERR_TKT_EXPIRED); it may have expired itself. VALIDATE needs an
        INVALID ticket (13, as MIT's KDC answers, measured) whose start has come
        (KRB_AP_ERR_TKT_NYV); any other request with an INVALID ticket is 33 too.
        """
        if renew and validate:
            raise _Refusal(ErrorCode.KDC_ERR_BADOPTION, "RENEW and VALIDATE in one request")
        if renew:
            if not tgt.flags & _FLAG.RENEWABLE or tgt.renew_till is None:
                raise _Refusal(ErrorCode.KDC_ERR_BADOPTION, "the TGT is not renewable")
            if tgt.renew_till < moment:
                raise _Refusal(ErrorCode.KRB_AP_ERR_TKT_EXPIRED,
                               f"the TGT was renewable until {tgt.renew_till.isoformat()}")
        elif tgt.endtime < moment:
            raise _Refusal(ErrorCode.KRB_AP_ERR_TKT_EXPIRED, f"the TGT expired at {tgt.endtime.isoformat()}")
        start = tgt.starttime or tgt.authtime
        if validate:
            if not tgt.flags & _FLAG.INVALID:
                raise _Refusal(ErrorCode.KDC_ERR_BADOPTION, "the TGT is not postdated: there is nothing to validate")
            if start > moment:
                raise _Refusal(ErrorCode.KRB_AP_ERR_TKT_NYV, f"the postdated TGT starts at {start.isoformat()}")
        elif tgt.flags & _FLAG.INVALID:
            raise _Refusal(ErrorCode.KRB_AP_ERR_TKT_NYV,
                           f"the TGT is postdated to {start.isoformat()} and not validated yet")

    def _open_tgt(self, ap_req: ApReq, draft: _Draft) -> tuple[EncTicketPart, Authenticator, Key]:
        """Decrypt the TGT and its authenticator; refuse what this KDC did not issue."""
        ticket = ap_req.ticket
        if not self.directory.is_krbtgt(ticket.sname) or ticket.realm.upper() != self.realm:
            raise _Refusal(ErrorCode.KRB_AP_ERR_NOT_US,
                           f"PA-TGS-REQ carries a ticket for {format_principal(ticket.sname, ticket.realm)}, "
                           f"not krbtgt/{self.realm}")
        krbtgt = self.directory.krbtgt
        if ticket.enc_part.etype not in krbtgt.key_enctypes:
            raise _Refusal(ErrorCode.KRB_AP_ERR_MODIFIED,
                           f"TGT encrypted with {enctype_name(ticket.enc_part.etype)}, which krbtgt has no key for")
        krbtgt_key = krbtgt.key(ticket.enc_part.etype, self.realm)
        # A client presents the same TGT in every TGS-REQ for as long as it lives: what it
        # decrypted to is kept, by its ciphertext under the krbtgt key of the moment (a new
        # krbtgt password makes new entries). Decryption is a function of those two alone.
        opened = (krbtgt_key.contents, ticket.enc_part.etype, ticket.enc_part.cipher)
        tgt = self._opened_tgts.get(opened)
        if tgt is None:
            try:
                tgt = EncTicketPart.from_der(decrypt(krbtgt_key, KeyUsage.KDC_REP_TICKET, ticket.enc_part.cipher))
            except (IntegrityError, DecodeError) as exc:
                raise _Refusal(ErrorCode.KRB_AP_ERR_MODIFIED,
                               "the TGT does not decrypt with this KDC's krbtgt key (issued by another KDC?)") from exc
            self._opened_tgts[opened] = tgt
            if len(self._opened_tgts) > _OPENED_TGTS:
                self._opened_tgts.popitem(last=False)
        draft.client = format_principal(tgt.cname, tgt.crealm)
        try:
            authenticator = Authenticator.from_der(
                decrypt(tgt.key, KeyUsage.TGS_REQ_AUTHENTICATOR, ap_req.authenticator.cipher))
        except (IntegrityError, DecodeError) as exc:
            raise _Refusal(ErrorCode.KRB_AP_ERR_BAD_INTEGRITY,
                           "the TGS authenticator does not decrypt with the TGT's session key") from exc
        except KerberosError as exc:
            # A genuine authenticator whose subkey has an enctype this KDC lacks: the reply
            # would have to be encrypted in that subkey (RFC 4120 §3.3.3), so no reply can be
            # made; KDC_ERR_ETYPE_NOSUPP is the error RFC 4120 §7.5.9 has for an encryption
            # type the KDC does not support (what AD answers here is not documented: assumed).
            raise _Refusal(exc.code, f"the TGS authenticator's subkey: {exc.text}") from exc
        return tgt, authenticator, tgt.key

    def _verify_body_checksum(self, authenticator: Authenticator, session_key: Key, raw_body: bytes) -> None:
        """RFC 4120 §3.3.2: the authenticator's checksum covers the req-body as sent."""
        checksum = authenticator.cksum
        if checksum is None:
            raise _Refusal(ErrorCode.KRB_AP_ERR_INAPP_CKSUM, "the TGS authenticator has no checksum")
        try:
            verify_checksum(checksum.cksumtype, session_key, KeyUsage.TGS_REQ_AUTH_CKSUM, raw_body, checksum.checksum)
        except IntegrityError as exc:
            raise _Refusal(ErrorCode.KRB_AP_ERR_MODIFIED,
                           f"the req-body does not match the authenticator's checksum (type {checksum.cksumtype})") from exc
        except KerberosError as exc:  # unsupported type, or a keyed type that does not fit the key
            raise _Refusal(exc.code, exc.text) from exc


# The KDC options that change what is issued, by the names the evidence records use.
_NAMED_OPTIONS = ((_OPTION.RENEW, "renew"), (_OPTION.VALIDATE, "validate"),
                  (_OPTION.CANONICALIZE, "canonicalize"), (_OPTION.POSTDATED, "postdated"),
                  (_OPTION.RENEWABLE, "renewable"), (_OPTION.ENC_TKT_IN_SKEY, "enc-tkt-in-skey"))


def _option_names(options: int) -> tuple[str, ...]:
    return tuple(name for option, name in _NAMED_OPTIONS if options & option)
