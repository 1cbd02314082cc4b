"""The service side of the AP exchange (RFC 4120 §3.2.3), sans I/O: for the Front End.

:func:`accept_sec_context` takes what a client sent — a GSS-API initial context token (as
MS-SIPAE's ``gssapi-data`` carries it) or a bare AP-REQ — and the service's long-term
keys, and either returns an :class:`AcceptedContext` or raises
:class:`~fakes.kerberos.KerberosError` with the code a Windows service would log. The
checks (RFC 4120 §3.2.3), in order:

===================================  ===================================================
the ticket's enctype has no key      KRB_AP_ERR_NOKEY (45)
the ticket does not decrypt          KRB_AP_ERR_MODIFIED (41) — Windows' famous error for
                                     an SPN registered on the wrong account
the authenticator does not decrypt   KRB_AP_ERR_BAD_INTEGRITY (31)
authenticator client ≠ ticket client KRB_AP_ERR_BADMATCH (36)
authenticator time off by > skew     KRB_AP_ERR_SKEW (37)
ticket not yet valid / expired       KRB_AP_ERR_TKT_NYV (33) / KRB_AP_ERR_TKT_EXPIRED (32)
GSS token without a 0x8003 checksum  KRB_AP_ERR_INAPP_CKSUM (50)
authenticator seen before            KRB_AP_ERR_REPEAT (34)
===================================  ===================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ._context import DEFAULT_MAX_SKEW, GssContext, ReplayCache
from ._crypto import Key, KeyUsage, decrypt, enctype_name
from ._errors import DecodeError, ErrorCode, IntegrityError, KerberosError
from ._gssapi import GssFlag, parse_gss_checksum, unwrap_initial_token
from ._messages import ApReq, Authenticator, EncTicketPart, MessageType, PrincipalName, format_principal, message_type
from ._time import Clock, read_clock

__all__ = ["AcceptedContext", "accept_sec_context"]


@dataclass
class AcceptedContext:
    """A client the service has authenticated, and the context to check its signatures.

    ``session_key`` is the key per-message tokens use: the authenticator's subkey when the
    client sent one, else the ticket's session key (``ticket_session_key``). ``flags`` are
    the GSS flags of the 0x8003 checksum (empty for a bare AP-REQ). ``initiator_seq`` is the
    authenticator's sequence number; without mutual authentication there is no AP-REP, so
    the acceptor numbers its own MIC tokens from the same value, as MIT does.
    """

    client_principal: str
    client_name: PrincipalName
    client_realm: str
    service_principal: str
    session_key: Key
    ticket_session_key: Key
    ticket_enctype: int
    ticket_flags: int
    authtime: datetime
    endtime: datetime
    ctime: datetime
    flags: GssFlag
    initiator_seq: int
    ap_options: int
    gss: bool
    context: GssContext

    @property
    def enctype(self) -> int:
        """Enctype of :attr:`session_key`."""
        return self.session_key.enctype

    def get_mic(self, data: bytes) -> bytes:
        """A MIC token from the service over ``data`` (MS-SIPAE: the 200's ``rspauth``)."""
        return self.context.get_mic(data)

    def verify_mic(self, data: bytes, token: bytes) -> int:
        """Check the client's MIC token over ``data``; returns its sequence number."""
        return self.context.verify_mic(data, token)


def _keys_by_enctype(service_keys: Mapping[int, Key] | Iterable[Key]) -> dict[int, Key]:
    if isinstance(service_keys, Mapping):
        return {int(e): k for e, k in service_keys.items()}
    return {k.enctype: k for k in service_keys}


def accept_sec_context(
    token: bytes,
    service_keys: Mapping[int, Key] | Iterable[Key],
    *,
    now: Clock,
    replay_cache: ReplayCache | None,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> AcceptedContext:
    """Authenticate the client behind ``token`` (GSS initial token or bare AP-REQ).

    ``service_keys`` are the service account's long-term keys (by enctype, or a list).
    ``replay_cache`` should live as long as the service; None skips replay detection.
    """
    token = bytes(token)
    gss = token[:1] == b"\x60"
    ap_req_der = unwrap_initial_token(token) if gss else token
    if message_type(ap_req_der) != MessageType.AP_REQ:
        raise DecodeError("neither a GSS-API initial context token nor an AP-REQ")
    ap_req = ApReq.from_der(ap_req_der)
    ticket = ap_req.ticket
    service = format_principal(ticket.sname, ticket.realm)

    keys = _keys_by_enctype(service_keys)
    service_key = keys.get(ticket.enc_part.etype)
    if service_key is None:
        have = ", ".join(enctype_name(e) for e in keys) or "none"
        raise KerberosError(ErrorCode.KRB_AP_ERR_NOKEY,
                            f"the ticket for {service} is encrypted with "
                            f"{enctype_name(ticket.enc_part.etype)}; the service has keys for {have}")
    try:
        enc_ticket = EncTicketPart.from_der(decrypt(service_key, KeyUsage.KDC_REP_TICKET, ticket.enc_part.cipher))
    except (IntegrityError, DecodeError) as exc:
        raise KerberosError(ErrorCode.KRB_AP_ERR_MODIFIED,
                            f"the ticket for {service} cannot be decrypted with the service's key "
                            "(password or key version differs from the KDC's)") from exc
    try:
        authenticator = Authenticator.from_der(
            decrypt(enc_ticket.key, KeyUsage.AP_REQ_AUTHENTICATOR, ap_req.authenticator.cipher))
    except (IntegrityError, DecodeError) as exc:
        raise KerberosError(ErrorCode.KRB_AP_ERR_BAD_INTEGRITY,
                            "the authenticator does not decrypt with the ticket's session key") from exc

    client = format_principal(enc_ticket.cname, enc_ticket.crealm)
    if (authenticator.cname.components != enc_ticket.cname.components
            or authenticator.crealm.upper() != enc_ticket.crealm.upper()):
        raise KerberosError(ErrorCode.KRB_AP_ERR_BADMATCH,
                            f"the authenticator names {format_principal(authenticator.cname, authenticator.crealm)}, "
                            f"the ticket {client}")
    moment = read_clock(now)
    skew = abs(authenticator.ctime - moment)
    if skew > max_skew:
        raise KerberosError(ErrorCode.KRB_AP_ERR_SKEW,
                            f"the client's clock is {int(skew.total_seconds())} s off the service's "
                            f"(allowed: {int(max_skew.total_seconds())} s)")
    starttime = enc_ticket.starttime or enc_ticket.authtime
    if starttime - max_skew > moment:
        raise KerberosError(ErrorCode.KRB_AP_ERR_TKT_NYV, f"the ticket is valid from {starttime.isoformat()}")
    if enc_ticket.endtime + max_skew < moment:
        raise KerberosError(ErrorCode.KRB_AP_ERR_TKT_EXPIRED, f"the ticket expired at {enc_ticket.endtime.isoformat()}")
    flags = parse_gss_checksum(authenticator.cksum).flags if gss else GssFlag(0)
    # Last, once everything else holds: remember the authenticator (RFC 4120 §3.2.3).
    if replay_cache is not None and replay_cache.seen_before(client, service, authenticator.ctime, moment):
        raise KerberosError(ErrorCode.KRB_AP_ERR_REPEAT,
                            f"an authenticator from {client} with time {authenticator.ctime.isoformat()} "
                            "was already accepted")
    seq = authenticator.seq_number or 0
    key = authenticator.subkey or enc_ticket.key
    return AcceptedContext(
        client_principal=client,
        client_name=enc_ticket.cname,
        client_realm=enc_ticket.crealm,
        service_principal=service,
        session_key=key,
        ticket_session_key=enc_ticket.key,
        ticket_enctype=ticket.enc_part.etype,
        ticket_flags=enc_ticket.flags,
        authtime=enc_ticket.authtime,
        endtime=enc_ticket.endtime,
        ctime=authenticator.ctime,
        flags=flags,
        initiator_seq=seq,
        ap_options=ap_req.ap_options,
        gss=gss,
        context=GssContext(key=key, is_initiator=False, flags=flags, send_seq=seq, recv_seq=seq),
    )
