"""The client side: AS and TGS exchanges (sans I/O), AP-REQs and GSS tokens, a KDC transport.

The exchanges are small state machines in the h11 manner — :meth:`AsExchange.request`
gives bytes to send, :meth:`AsExchange.receive` takes the KDC's answer and gives either the
next request or the result — so every rule can be tested without a network.
:class:`KerberosClient` drives them over UDP and TCP the way MIT and Java do::

    client = KerberosClient("COMPANYA.COM", [("127.0.0.1", kdc_port)])
    tgt = await client.get_tgt("ocs-ucc", password)
    ticket = await client.get_service_ticket(tgt, "sip/fe01.companya.com")
    token, context = make_initial_context_token(ticket)   # MS-SIPAE gssapi-data
    signature = context.get_mic(signature_buffer)          # MS-SIPAE response=

The enctypes a client offers decide what a DES-only account can do:
:data:`JAVA_DEFAULT_ENCTYPES` behaves like JDK 17 out of the box (AES only; a DES-only
account gets KDC_ERR_ETYPE_NOSUPP), :data:`JAVA_WEAK_CRYPTO_ENCTYPES` like JDK 17 with
``allow_weak_crypto = true``.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ._context import GssContext
from ._crypto import (
    SUPPORTED_ENCTYPES,
    Key,
    KeyUsage,
    Rng,
    checksum_type_for,
    decrypt,
    encrypt,
    enctype_name,
    make_checksum,
    random_key,
    string_to_key,
)
from ._errors import DecodeError, ErrorCode, IntegrityError, KdcUnreachableError, KerberosError
from ._gssapi import GssFlag, make_gss_checksum, wrap_initial_token
from ._messages import (
    ApReq,
    Authenticator,
    Checksum,
    EncKdcRepPart,
    EncryptedData,
    KdcOption,
    KdcRep,
    KdcReq,
    KdcReqBody,
    KrbError,
    MessageType,
    PaData,
    PaDataType,
    PrincipalName,
    Ticket,
    decode_etype_info2,
    decode_method_data,
    encode_pa_enc_ts_enc,
    format_principal,
    message_type,
    parse_principal,
)
from ._time import Clock, read_clock, utc_now

__all__ = [
    "JAVA_DEFAULT_ENCTYPES",
    "JAVA_WEAK_CRYPTO_ENCTYPES",
    "Credential",
    "AsExchange",
    "TgsExchange",
    "InitiatorContext",
    "make_ap_req",
    "make_initial_context_token",
    "KerberosClient",
]

#: JDK 17's default enctypes (18, 17, 20, 19) minus the SHA-2 ones this package lacks.
JAVA_DEFAULT_ENCTYPES: tuple[int, ...] = (18, 17)
#: JDK 17's defaults with ``allow_weak_crypto = true``: 3DES, RC4 and single DES come back.
# JDK 17 with allow_weak_crypto offers 18 17 20 19 16 23 1 3 (measured); 20/19 are not modelled.
JAVA_WEAK_CRYPTO_ENCTYPES: tuple[int, ...] = (18, 17, 16, 23, 1, 3)

_DEFAULT_LIFETIME = timedelta(days=1)  # MIT's and Java's default ticket_lifetime


@dataclass(frozen=True)
class Credential:
    """A ticket and what the client knows about it (one entry of a credentials cache)."""

    client: PrincipalName
    client_realm: str
    server: PrincipalName
    server_realm: str
    ticket: Ticket
    session_key: Key
    flags: int
    authtime: datetime
    endtime: datetime
    starttime: datetime | None = None
    renew_till: datetime | None = None

    @property
    def client_principal(self) -> str:
        """``name@REALM`` of the client, as klist prints it."""
        return format_principal(self.client, self.client_realm)

    @property
    def server_principal(self) -> str:
        """``service/host@REALM`` the ticket is for."""
        return format_principal(self.server, self.server_realm)

    @property
    def ticket_enctype(self) -> int:
        """The enctype of the service key the ticket is encrypted with."""
        return self.ticket.enc_part.etype


def _nonce(rng: Rng) -> int:
    # 31 bits: some KDCs mishandle nonces that look negative as a signed Int32.
    return int.from_bytes(rng(4), "big") & 0x7FFFFFFF


def _raise_krb_error(reply: bytes) -> None:
    error = KrbError.from_der(reply)
    raise KerberosError(error.error_code, error.e_text or "", e_data=error.e_data)


def _same_name(a: PrincipalName, b: PrincipalName) -> bool:
    return tuple(c.lower() for c in a.components) == tuple(c.lower() for c in b.components)


def _check_reply(part: EncKdcRepPart, rep: KdcRep, nonce: int, client: PrincipalName, server: PrincipalName,
                 *, canonicalize: bool = False) -> None:
    """RFC 4120 §3.1.5 / §3.3.4: the reply must answer this request, for these principals
    (with ``canonicalize`` the KDC may name the client otherwise, RFC 6806 §5)."""
    if part.nonce != nonce:
        raise KerberosError(ErrorCode.KRB_AP_ERR_MODIFIED, "KDC reply did not match expectations: nonce differs")
    if not canonicalize and not _same_name(rep.cname, client):
        raise KerberosError(ErrorCode.KRB_AP_ERR_MODIFIED,
                            f"KDC reply did not match expectations: issued to {rep.cname}, not {client}")
    if not _same_name(part.sname, server) or not _same_name(rep.ticket.sname, server):
        raise KerberosError(ErrorCode.KRB_AP_ERR_MODIFIED,
                            f"KDC reply did not match expectations: ticket for {part.sname}, not {server}")


class AsExchange:
    """The AS exchange for a password (RFC 4120 §3.1), with PA-ENC-TIMESTAMP when asked.

    The first request goes without pre-authentication, as MIT and Java send it; a
    KDC_ERR_PREAUTH_REQUIRED answer's ETYPE-INFO2 tells which key (enctype, salt) to
    prove, and the second request carries PA-ENC-TIMESTAMP. ``kdc_options`` replaces the
    default FORWARDABLE and RENEWABLE-OK (with CANONICALIZE the reply may name the client
    otherwise); ``start`` asks for a later start time (with the POSTDATED option).
    """

    def __init__(self, client: str | PrincipalName, realm: str, password: str, *,
                 enctypes: Sequence[int] = JAVA_DEFAULT_ENCTYPES, server: str | None = None,
                 lifetime: timedelta = _DEFAULT_LIFETIME, now: Clock = utc_now, rng: Rng = os.urandom,
                 kdc_options: int | None = None, start: datetime | None = None) -> None:
        self.client = client if isinstance(client, PrincipalName) else parse_principal(client)[0]
        self.realm = realm
        self.server = PrincipalName.from_text(server or f"krbtgt/{realm}")
        self.enctypes = tuple(int(e) for e in enctypes)
        self._password = password
        self._lifetime = lifetime
        self._now = now
        self._rng = rng
        self._nonce = _nonce(rng)
        self._key: Key | None = None  # the key proven in PA-ENC-TIMESTAMP
        self._preauth_sent = False
        self.kdc_options = int(KdcOption.FORWARDABLE | KdcOption.RENEWABLE_OK) if kdc_options is None \
            else int(kdc_options)
        self._start = start

    def _body(self) -> KdcReqBody:
        return KdcReqBody(
            kdc_options=self.kdc_options,
            realm=self.realm,
            till=(self._start or read_clock(self._now)) + self._lifetime,
            nonce=self._nonce,
            etypes=self.enctypes,
            cname=self.client,
            sname=self.server,
            from_=self._start,
        )

    def request(self) -> bytes:
        """The first AS-REQ."""
        return KdcReq(MessageType.AS_REQ, self._body()).to_der()

    def receive(self, reply: bytes) -> bytes | Credential:
        """The next AS-REQ to send, or the credential; raises :class:`KerberosError`."""
        kind = message_type(reply)
        if kind == MessageType.KRB_ERROR:
            error = KrbError.from_der(reply)
            if error.error_code == ErrorCode.KDC_ERR_PREAUTH_REQUIRED and not self._preauth_sent:
                return self._preauth_request(error)
            raise KerberosError(error.error_code, error.e_text or "", e_data=error.e_data)
        if kind != MessageType.AS_REP:
            raise DecodeError(f"the KDC answered an AS-REQ with APPLICATION {kind}")
        return self._credential(KdcRep.from_der(reply))

    def _key_for(self, etype: int, padata: Sequence[PaData]) -> Key:
        salt = self.realm + "".join(self.client.components)  # RFC 4120 §4 default salt
        params = None
        info = next((p for p in padata if p.padata_type == PaDataType.ETYPE_INFO2), None)
        if info is not None:
            for entry in decode_etype_info2(info.value):
                if entry.etype == etype:
                    salt = entry.salt if entry.salt is not None else salt
                    params = entry.s2kparams
                    break
        return string_to_key(etype, self._password, salt, params)

    def _preauth_request(self, error: KrbError) -> bytes:
        methods = decode_method_data(error.e_data or b"")
        if not any(m.padata_type == PaDataType.ENC_TIMESTAMP for m in methods):
            raise KerberosError(ErrorCode.KDC_ERR_PREAUTH_REQUIRED,
                                "the KDC offers no pre-authentication method this client supports")
        info = next((m for m in methods if m.padata_type == PaDataType.ETYPE_INFO2), None)
        offered = [e.etype for e in decode_etype_info2(info.value)] if info else []
        etype = next((e for e in offered if e in self.enctypes), None)
        if etype is None:
            raise KerberosError(ErrorCode.KDC_ERR_ETYPE_NOSUPP,
                                f"the KDC offers {[enctype_name(e) for e in offered]}, "
                                f"this client allows {[enctype_name(e) for e in self.enctypes]}")
        self._key = self._key_for(etype, methods)
        stamp = encode_pa_enc_ts_enc(read_clock(self._now))
        encrypted = EncryptedData(etype, encrypt(self._key, KeyUsage.AS_REQ_PA_ENC_TIMESTAMP, stamp, rng=self._rng))
        self._preauth_sent = True
        padata = (PaData(PaDataType.ENC_TIMESTAMP, encrypted.to_der()),)
        return KdcReq(MessageType.AS_REQ, self._body(), padata).to_der()

    def _credential(self, rep: KdcRep) -> Credential:
        etype = rep.enc_part.etype
        if etype not in self.enctypes:
            raise KerberosError(ErrorCode.KDC_ERR_ETYPE_NOSUPP,
                                f"the AS-REP is encrypted with {enctype_name(etype)}, which this client did not offer")
        key = self._key if self._key is not None and self._key.enctype == etype else self._key_for(etype, rep.padata)
        try:
            part = EncKdcRepPart.from_der(decrypt(key, KeyUsage.AS_REP_ENC_PART, rep.enc_part.cipher))
        except IntegrityError as exc:
            raise KerberosError(ErrorCode.KRB_AP_ERR_BAD_INTEGRITY,
                                "the AS-REP does not decrypt with the password's key (password incorrect)") from exc
        _check_reply(part, rep, self._nonce, self.client, self.server,
                     canonicalize=bool(self.kdc_options & KdcOption.CANONICALIZE))
        return Credential(rep.cname, rep.crealm, part.sname, part.srealm, rep.ticket, part.key, part.flags,
                          part.authtime, part.endtime, part.starttime, part.renew_till)


class TgsExchange:
    """The TGS exchange (RFC 4120 §3.3): a service ticket for ``service`` with a TGT.

    The authenticator carries a checksum over the req-body (the session key's checksum
    type, or ``checksum_type`` — 7, rsa-md5, is what Java sends with DES session keys) and
    a fresh subkey, so the reply comes back under the subkey with key usage 9, as MIT does.
    ``kdc_options`` replaces FORWARDABLE, RENEWABLE-OK and CANONICALIZE (RENEW or VALIDATE
    with the TGT's own ``krbtgt/REALM`` as ``service`` renews or validates the TGT).
    """

    def __init__(self, tgt: Credential, service: str | PrincipalName, *,
                 enctypes: Sequence[int] = JAVA_DEFAULT_ENCTYPES, checksum_type: int | None = None,
                 subkey: bool = True, now: Clock = utc_now, rng: Rng = os.urandom,
                 kdc_options: int | None = None) -> None:
        self.tgt = tgt
        self.server, realm = (service, None) if isinstance(service, PrincipalName) else parse_principal(service)
        self.realm = realm or tgt.client_realm
        self.enctypes = tuple(int(e) for e in enctypes)
        self.checksum_type = checksum_type if checksum_type is not None else checksum_type_for(tgt.session_key.enctype)
        self._subkey = random_key(tgt.session_key.enctype, rng) if subkey else None
        self._now = now
        self._rng = rng
        self._nonce = _nonce(rng)
        self.kdc_options = int(KdcOption.FORWARDABLE | KdcOption.RENEWABLE_OK | KdcOption.CANONICALIZE) \
            if kdc_options is None else int(kdc_options)

    def request(self) -> bytes:
        """The TGS-REQ: PA-TGS-REQ (an AP-REQ with the TGT) and the body it signs."""
        body = KdcReqBody(
            kdc_options=self.kdc_options,
            realm=self.realm,
            till=self.tgt.endtime,
            nonce=self._nonce,
            etypes=self.enctypes,
            sname=self.server,
        )
        checksum = Checksum(self.checksum_type, make_checksum(
            self.checksum_type, self.tgt.session_key, KeyUsage.TGS_REQ_AUTH_CKSUM, body.to_der()))
        ap_req, _ = make_ap_req(self.tgt, now=self._now, rng=self._rng, checksum=checksum,
                                subkey=self._subkey, usage=KeyUsage.TGS_REQ_AUTHENTICATOR)
        return KdcReq(MessageType.TGS_REQ, body, (PaData(PaDataType.TGS_REQ, ap_req),)).to_der()

    def receive(self, reply: bytes) -> Credential:
        """The service ticket; raises :class:`KerberosError` for a KRB-ERROR or a bad reply."""
        kind = message_type(reply)
        if kind == MessageType.KRB_ERROR:
            _raise_krb_error(reply)
        if kind != MessageType.TGS_REP:
            raise DecodeError(f"the KDC answered a TGS-REQ with APPLICATION {kind}")
        rep = KdcRep.from_der(reply)
        key, usage = ((self._subkey, KeyUsage.TGS_REP_ENC_PART_SUBKEY) if self._subkey is not None
                      else (self.tgt.session_key, KeyUsage.TGS_REP_ENC_PART_SESSION_KEY))
        try:
            part = EncKdcRepPart.from_der(decrypt(key, usage, rep.enc_part.cipher))
        except IntegrityError as exc:
            raise KerberosError(ErrorCode.KRB_AP_ERR_BAD_INTEGRITY, "the TGS-REP does not decrypt") from exc
        _check_reply(part, rep, self._nonce, self.tgt.client, self.server)
        return Credential(rep.cname, rep.crealm, part.sname, part.srealm, rep.ticket, part.key, part.flags,
                          part.authtime, part.endtime, part.starttime, part.renew_till)


def make_ap_req(credential: Credential, *, now: Clock = utc_now, rng: Rng = os.urandom,
                checksum: Checksum | None = None, subkey: Key | None = None, seq_number: int | None = None,
                ap_options: int = 0, usage: int = KeyUsage.AP_REQ_AUTHENTICATOR) -> tuple[bytes, Authenticator]:
    """An AP-REQ presenting ``credential``'s ticket; returns its DER and the authenticator.

    ``usage`` is 11 for an application server and 7 inside a TGS-REQ (RFC 4120 §7.5.1).
    """
    authenticator = Authenticator(
        crealm=credential.client_realm,
        cname=credential.client,
        ctime=read_clock(now),
        cksum=checksum,
        subkey=subkey,
        seq_number=seq_number,
    )
    encrypted = EncryptedData(credential.session_key.enctype,
                              encrypt(credential.session_key, usage, authenticator.to_der(), rng=rng))
    return ApReq(credential.ticket, encrypted, ap_options).to_der(), authenticator


@dataclass
class InitiatorContext:
    """The client's end of a GSS-API Kerberos context made by :func:`make_initial_context_token`."""

    client_principal: str
    service_principal: str
    session_key: Key
    flags: GssFlag
    initiator_seq: int
    context: GssContext

    @property
    def enctype(self) -> int:
        """Enctype of :attr:`session_key` (the subkey the client's MIC tokens use)."""
        return self.session_key.enctype

    def get_mic(self, data: bytes) -> bytes:
        """A MIC token from the client over ``data`` (MS-SIPAE: the ``response`` parameter)."""
        return self.context.get_mic(data)

    def verify_mic(self, data: bytes, token: bytes) -> int:
        """Check the service's MIC token (MS-SIPAE: ``rspauth``); returns its sequence number."""
        return self.context.verify_mic(data, token)


def make_initial_context_token(credential: Credential, *, flags: int = GssFlag.INTEG,
                               bindings_hash: bytes = b"\0" * 16, now: Clock = utc_now,
                               rng: Rng = os.urandom) -> tuple[bytes, InitiatorContext]:
    """GSS_Init_sec_context for Kerberos: the initial token and the context it opens.

    The authenticator carries the 0x8003 checksum with ``flags`` (MS-SIPAE clients ask for
    integrity only), a subkey of the session key's enctype and a 30-bit sequence number, as
    MIT's library makes them. Mutual authentication (an AP-REP) is not supported.
    """
    if flags & GssFlag.MUTUAL:
        raise ValueError("mutual authentication (AP-REP processing) is not supported")
    subkey = random_key(credential.session_key.enctype, rng)
    seq = int.from_bytes(rng(4), "big") & 0x3FFFFFFF
    ap_req, _ = make_ap_req(credential, now=now, rng=rng, checksum=make_gss_checksum(flags, bindings_hash),
                            subkey=subkey, seq_number=seq, ap_options=0)
    context = InitiatorContext(
        client_principal=credential.client_principal,
        service_principal=credential.server_principal,
        session_key=subkey,
        flags=GssFlag(int(flags)),
        initiator_seq=seq,
        context=GssContext(key=subkey, is_initiator=True, flags=GssFlag(int(flags)), send_seq=seq, recv_seq=seq),
    )
    return wrap_initial_token(ap_req), context


# -- transport --------------------------------------------------------------------------------

class _UdpExchange(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


class KerberosClient:
    """A Kerberos client for a realm's KDCs: :class:`AsExchange` and :class:`TgsExchange` over the network.

    Transport as MIT and Java choose it (RFC 4120 §7.2): UDP first unless the request is
    longer than ``udp_preference_limit`` (1 means always TCP), TCP with a 4-byte length
    prefix, a retry over TCP when a UDP answer is KRB_ERR_RESPONSE_TOO_BIG, then the next
    KDC when one does not answer within ``timeout`` seconds.
    """

    def __init__(self, realm: str, kdcs: Sequence[tuple[str, int]], *, udp_preference_limit: int = 1465,
                 enctypes: Sequence[int] = JAVA_DEFAULT_ENCTYPES, timeout: float = 2.0,
                 now: Clock = utc_now, rng: Rng = os.urandom) -> None:
        if not kdcs:
            raise ValueError(f"no KDC given for realm {realm!r}")
        unknown = [e for e in enctypes if e not in SUPPORTED_ENCTYPES]
        if unknown:
            raise ValueError(f"unsupported enctypes {unknown}; supported: {[int(e) for e in SUPPORTED_ENCTYPES]}")
        self.realm = realm
        self.kdcs = [(host, int(port)) for host, port in kdcs]
        self.udp_preference_limit = udp_preference_limit
        self.enctypes = tuple(int(e) for e in enctypes)
        self.timeout = timeout
        self._now = now
        self._rng = rng

    async def get_tgt(self, principal: str, password: str) -> Credential:
        """A TGT for ``principal`` (``name`` or ``name@REALM``) with ``password``."""
        name, realm = parse_principal(principal, self.realm)
        exchange = AsExchange(name, realm or self.realm, password, enctypes=self.enctypes,
                              now=self._now, rng=self._rng)
        message: bytes | Credential = exchange.request()
        while not isinstance(message, Credential):
            message = exchange.receive(await self.send(message))
        return message

    async def get_service_ticket(self, tgt: Credential, service: str, *, checksum_type: int | None = None) -> Credential:
        """A ticket for ``service`` (e.g. ``sip/fe01.companya.com``) using ``tgt``."""
        exchange = TgsExchange(tgt, service, enctypes=self.enctypes, checksum_type=checksum_type,
                               now=self._now, rng=self._rng)
        return exchange.receive(await self.send(exchange.request()))

    async def send(self, request: bytes) -> bytes:
        """Send one request to the realm's KDCs; the first answer wins."""
        failures = []
        for host, port in self.kdcs:
            try:
                if len(request) <= self.udp_preference_limit:
                    reply = await self._udp(host, port, request)
                    if not _response_too_big(reply):
                        return reply
                return await self._tcp(host, port, request)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                failures.append(f"{host}:{port}: {type(exc).__name__} {exc}".rstrip())
        raise KdcUnreachableError(f"Cannot contact any KDC for realm '{self.realm}' ({'; '.join(failures)})")

    async def _udp(self, host: str, port: int, request: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(_UdpExchange, remote_addr=(host, port))
        try:
            transport.sendto(request)
            return await asyncio.wait_for(protocol.reply, self.timeout)
        finally:
            transport.close()

    async def _tcp(self, host: str, port: int, request: bytes) -> bytes:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.timeout)
        try:
            writer.write(struct.pack(">I", len(request)) + request)
            await writer.drain()
            (length,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), self.timeout))
            return await asyncio.wait_for(reader.readexactly(length & 0x7FFFFFFF), self.timeout)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass  # the KDC may already have reset the connection; the answer is in hand


def _response_too_big(reply: bytes) -> bool:
    if message_type(reply) != MessageType.KRB_ERROR:
        return False
    try:
        return KrbError.from_der(reply).error_code == ErrorCode.KRB_ERR_RESPONSE_TOO_BIG
    except DecodeError:
        return False
