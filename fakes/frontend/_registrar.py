"""The Front End's SIP registrar and UAS, sans-I/O.

Given a parsed request and the identity of the peer — the trusted MTLS peer, or the
principal MS-SIPAE authenticated — decide the answer. Clock and randomness are injected
(``now``, ``rng``); bindings and subscriptions live in memory. Trusted applications are
not challenged (Lync: "Treat As Authenticated"), so an Authorization header, even of an
unknown scheme, is ignored here (RFC 4475 regaut01); authentication of the other clients
happens before the registrar (:class:`fakes.sipae.SipaeServer`), which only builds the 401
(:meth:`Registrar.challenge`).

Rule order follows RFC 3261 §8.2 and §16.3, which RFC 4475's expectations rest on:
1. mandatory headers (400 "Missing Call-ID header");
2. Max-Forwards 0 → 483 (RFC 4475 zeromf);
3. method: unknown → 501, known but not offered here → 405 with Allow;
4. header inspection: a REGISTER To that is no sip/sips URI → 416 (unksm2), Require /
   Proxy-Require with an option we lack → 420 with Unsupported (bext01);
5. content: a body type we do not accept → 415 with Accept (invut); an INVITE whose
   Accept rules out SDP → 406 (sdp01);
6. with SIP-enabled users configured: a request for anyone else → 404 with Lync's
   ``ms-diagnostics: 4005;reason="Destination URI either not enabled for SIP or does not
   exist"`` (the MicrosoftDocs support article "Newly created users can't sign in to a
   Lync client" quotes that header);
7. the method itself.

Every error answer (4xx-6xx) carries ``ms-diagnostics`` ("The outgoing SIP error response
SHOULD include an ms-diagnostics header", MS-SIPREGE 3.1.2.5.1), with the ID and reason of
:mod:`._windows` where a public source names them and the lab's stated choice where none
does; a 401 challenge carries none (real Lync 2013 traces of the first and second 401 have
none). The ``Server`` header is the profile's (``RTC/5.0`` for Lync Server 2013).

A REGISTER's 200 is shaped as MS-SIPREGE's example shows it
(learn.microsoft.com/en-us/openspecs/office_protocols/ms-siprege/77a0d680-cf3c-4840-a06d-027fbd11e303):
the bindings as ``Contact`` with ``expires`` (and, for a contact with ``+sip.instance``,
its GRUU), ``Expires``, ``ms-keep-alive: UAS; tcp=no; hop-hop=yes; end-end=no;
timeout=300``, ``presence-state`` (``register-action="added"`` for a new binding,
``"refreshed"`` for a renewed one, MS-SIPREGE 2.2.1.4) and ``Allow-Events`` with the event
packages an OCS 2007 R2 registrar listed (pidgin-sipe's test message).
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sipmessage

from fakes.sip import (
    Malformed,
    NameAddr,
    make_error_response,
    make_request,
    make_response,
    parse_name_addr,
    parse_name_addrs,
    reason_phrase,
)

from ._windows import USER_NOT_ENABLED, MsDiagnostic, undocumented

__all__ = ["ALLOWED_METHODS", "Answer", "Binding", "Registrar", "Subscription", "pidf_document"]

ALLOWED_METHODS = ("ACK", "BYE", "CANCEL", "INFO", "INVITE", "MESSAGE", "NOTIFY", "OPTIONS",
                   "REGISTER", "SUBSCRIBE")
# Standard methods a Front End pool does not take from a trusted application here.
_KNOWN_NOT_ALLOWED = ("PRACK", "PUBLISH", "REFER", "UPDATE")
SUPPORTED = ("gruu-10", "path", "msrtc-event-categories", "com.microsoft.msrtc.presence",
             "ms-benotify")
ACCEPTED_TYPES = ("application/sdp", "application/pidf+xml",
                  "application/msrtc-event-categories+xml", "multipart/mixed",
                  "multipart/alternative", "text/plain", "message/sipfrag")
EVENT_PACKAGES = ("presence",)
SERVER_HEADER = "RTC/5.0"  # what Lync Server 2013 puts in Server/User-Agent
# The REGISTER 200's extra fields (MS-SIPREGE's example; Allow-Events as OCS 2007 R2 lists it).
KEEP_ALIVE = "UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300"
REGISTER_EVENTS = ("vnd-microsoft-provisioning,vnd-microsoft-roaming-contacts,vnd-microsoft-roaming-ACL,presence,"
                   "presence.wpending,vnd-microsoft-roaming-self,vnd-microsoft-provisioning-v2")
_OPTIONS_HEADERS = (
    ("Allow", ", ".join(ALLOWED_METHODS)),
    ("Supported", ", ".join(SUPPORTED)),
    ("Accept", ", ".join(ACCEPTED_TYPES)),
    ("Allow-Events", ", ".join(EVENT_PACKAGES)),
)
_MANDATORY = ("Via", "Call-ID", "CSeq", "From", "To")
# Requests addressed to a user (rule 6): REGISTER by its To, the others by the Request-URI.
_FOR_A_USER = ("REGISTER", "SUBSCRIBE", "INVITE", "MESSAGE")
PIDF = "application/pidf+xml"
CATEGORIES = "application/msrtc-event-categories+xml"


@dataclass(frozen=True)
class Answer:
    """What to send back on the connection: a response (``b""`` for none: ACK, or a
    response that came in) and requests to send after it (the NOTIFY of a SUBSCRIBE)."""

    status: int | None
    reason: str | None
    response: bytes = b""
    requests: tuple[bytes, ...] = ()
    #: The ms-diagnostics of an error answer, as the evidence records carry it.
    diagnostic: dict[str, Any] | None = None


@dataclass(frozen=True)
class Binding:
    """One registered Contact of an address of record."""

    aor: str
    contact: str
    expires_at: float
    call_id: str
    cseq: int
    peer: str
    #: The contact's ``+sip.instance`` (``<urn:uuid:…>``), which its GRUU is made from.
    instance: str | None = None


@dataclass
class Subscription:
    """A presence subscription (a dialog: the NOTIFYs go back on its connection)."""

    call_id: str
    presentity: str
    subscriber: str  # the subscriber's From, tag included: our NOTIFY's To
    notifier_uri: str  # our From ...
    notifier_tag: str  # ... and its tag, the To tag of our 200
    target: str  # where NOTIFYs go (the SUBSCRIBE's Contact URI)
    expires_at: float
    cseq: int = 0
    peer: str = ""


def _uri_key(uri: str) -> str:
    """Address-of-record comparison key: scheme, user and host, host case-insensitive
    (RFC 3261 §10.3 compares AORs as URIs, without parameters or headers)."""
    parsed = NameAddr(uri=uri).sip_uri()
    if parsed is None:
        return uri
    user = f"{parsed.user}@" if parsed.user else ""
    return f"{parsed.scheme}:{user}{parsed.host.lower()}"


class Registrar:
    """Registrar + presence UAS of one Front End pool (shared by all its connections).

    ``fqdn`` and ``port`` name the Front End in the Contact and Via of what it sends (and
    in the ms-diagnostics ``source``); ``server_header`` is its ``Server`` value.
    REGISTER/SUBSCRIBE lifetimes default to ``default_expires``, are capped at
    ``max_expires`` and refused below ``min_expires`` (423). ``sip_users``, when given, are
    the addresses of the SIP-enabled users (rule 6); None serves every address.
    """

    def __init__(self, fqdn: str, *, now: Callable[[], float], rng: random.Random,
                 port: int = 5061, default_expires: int = 3600, min_expires: int = 60,
                 max_expires: int = 7200, server_header: str = SERVER_HEADER,
                 sip_users: Sequence[str] | None = None) -> None:
        self.fqdn = fqdn
        self.port = port
        self.server_header = server_header
        self.sip_users = sip_users
        self._now = now
        self._rng = rng
        self.default_expires = default_expires
        self.min_expires = min_expires
        self.max_expires = max_expires
        self._bindings: dict[str, dict[str, Binding]] = {}
        self.subscriptions: dict[str, Subscription] = {}

    # -- identifiers from the injected rng ------------------------------------------------

    def _token(self) -> str:
        return format(self._rng.getrandbits(64), "016x")

    def new_tag(self) -> str:
        """A To/From tag."""
        return self._token()

    def new_branch(self) -> str:
        """A Via branch with the RFC 3261 magic cookie."""
        return "z9hG4bK" + self._token()

    # -- bindings -------------------------------------------------------------------------

    def bindings(self, aor: str) -> list[Binding]:
        """Current bindings of an address of record (expired ones dropped)."""
        now = self._now()
        key = _uri_key(aor)
        current = {c: b for c, b in self._bindings.get(key, {}).items() if b.expires_at > now}
        self._bindings[key] = current
        return sorted(current.values(), key=lambda b: b.contact)

    # -- answers --------------------------------------------------------------------------

    @property
    def sip_users(self) -> frozenset[str] | None:
        """The SIP-enabled users' address keys, or None (every address is served)."""
        return self._users

    @sip_users.setter
    def sip_users(self, users: Sequence[str] | None) -> None:
        self._users = None if users is None else frozenset(_uri_key(u) for u in users)

    def answer_malformed(self, event: Malformed) -> Answer:
        """The answer to a request the stream could not accept (none for a response)."""
        diagnostic = undocumented(event.reason)
        data = make_error_response(event.raw, event.status, event.reason, to_tag=self.new_tag(), headers=[
            ("ms-diagnostics", diagnostic.header(self.fqdn)), ("Server", self.server_header)])
        if data is None:
            return Answer(None, None)
        return Answer(event.status, event.reason, data, diagnostic=diagnostic.as_dict())

    def handle_request(self, request: sipmessage.Request, *, peer: str) -> Answer:
        """Decide the answer to one request from the trusted peer ``peer``."""
        method = request.method
        if method == "ACK":
            return Answer(None, None)  # ends an INVITE transaction; nothing to answer
        headers = request.headers
        for name in _MANDATORY:
            if headers.get(name) is None:
                return self._reply(request, 400, f"Missing {name} header")
        max_forwards = headers.get("Max-Forwards")
        if max_forwards is not None and max_forwards.isdigit() and int(max_forwards) == 0:
            return self._reply(request, 483)
        if method not in ALLOWED_METHODS:
            status = 405 if method in _KNOWN_NOT_ALLOWED else 501
            return self._reply(request, status, headers=[("Allow", ", ".join(ALLOWED_METHODS))])
        to = parse_name_addr(headers["To"])
        if method == "REGISTER" and to.scheme not in ("sip", "sips"):
            return self._reply(request, 416)
        if headers.getlist("Require") or headers.getlist("Proxy-Require"):
            unsupported = [option for option in (*request.require, *request.proxy_require)
                           if option not in SUPPORTED]
            if unsupported:
                return self._reply(request, 420, headers=[("Unsupported", ", ".join(unsupported))])
        content_type = request.content_type if headers.get("Content-Type") is not None else None
        if (content_type is not None or request.body) and (
            content_type is None or content_type.mime_type.lower() not in ACCEPTED_TYPES
        ):
            return self._reply(request, 415, headers=[("Accept", ", ".join(ACCEPTED_TYPES))])
        if self._users is not None and request.method in _FOR_A_USER:
            target = to.uri if request.method == "REGISTER" else str(request.uri)
            if _uri_key(target) not in self._users:
                return self._reply(request, 404, diagnostic=USER_NOT_ENABLED)
        handler = getattr(self, "_" + request.method.lower())
        return handler(request, peer)

    def challenge(self, request: sipmessage.Request, challenges: Sequence[tuple[str, str]]) -> Answer:
        """``401 Unauthorized`` with the authentication challenges and a ``Date`` header
        (MS-SIPAE §3.3.5.1; the Date lets the client see a clock skew, says [MS-SIP]'s table
        of authentication header fields)."""
        return self._reply(request, 401, headers=[
            *challenges, ("Date", email.utils.formatdate(self._now(), usegmt=True))])

    def _reply(self, request: sipmessage.Request, status: int, reason: str | None = None, *,
               headers: Sequence[tuple[str, str]] = (), requests: tuple[bytes, ...] = (),
               to_tag: str | None = None, diagnostic: MsDiagnostic | None = None) -> Answer:
        phrase = reason or reason_phrase(status)
        extra = [*headers, ("Server", self.server_header)]
        recorded = None
        if status >= 400 and status != 401:  # a 401 challenge carries none (see the module)
            diagnostic = diagnostic or undocumented(phrase)
            extra.append(("ms-diagnostics", diagnostic.header(self.fqdn)))
            recorded = diagnostic.as_dict()
        data = make_response(request, status, phrase, to_tag=to_tag or self.new_tag(), headers=extra)
        return Answer(status, phrase, data, requests, recorded)

    # -- methods --------------------------------------------------------------------------

    def _options(self, request: sipmessage.Request, peer: str) -> Answer:
        return self._reply(request, 200, headers=_OPTIONS_HEADERS)

    def _expires_of(self, request: sipmessage.Request, contact: NameAddr | None) -> int | None:
        """Requested lifetime: the Contact's expires parameter, else the Expires header,
        else the default; None when the parameter is no number."""
        value = contact.param("expires") if contact is not None else None
        if value is None:
            value = request.headers.get("Expires")
        if value is None:
            return self.default_expires
        if not (value.isascii() and value.isdigit()):
            return None
        # Larger than 2**32-1 means 2**32-1 (RFC 3261 §20.19); ours caps lower anyway,
        # and a value of thousands of digits is never turned into an int.
        if len(value.lstrip("0")) > len(str(self.max_expires)):
            return self.max_expires
        return min(int(value), self.max_expires)

    def _register(self, request: sipmessage.Request, peer: str) -> Answer:
        aor = parse_name_addr(request.headers["To"]).uri
        key = _uri_key(aor)
        contacts = request.headers.getlist("Contact")
        now = self._now()
        if any(value.strip() == "*" for value in contacts):
            # Wildcard: remove every binding; only alone and with Expires: 0 (§10.2.2).
            if len(contacts) != 1 or request.headers.get("Expires") != "0":
                return self._reply(request, 400, "Invalid wildcard Contact")
            self._bindings.pop(key, None)
            return self._reply(request, 200, headers=[("Date", email.utils.formatdate(now, usegmt=True))])
        requested = [(contact, self._expires_of(request, contact))
                      for value in contacts for contact in parse_name_addrs(value)]
        for _contact, expires in requested:
            if expires is None:
                return self._reply(request, 400, "Malformed expires parameter")
            if 0 < expires < self.min_expires:
                return self._reply(request, 423, headers=[("Min-Expires", str(self.min_expires))])
        table = self._bindings.setdefault(key, {})
        added, granted = False, 0
        for contact, expires in requested:
            if not expires:
                table.pop(contact.uri, None)
                continue
            added = added or contact.uri not in table
            granted = granted or expires
            table[contact.uri] = Binding(aor=aor, contact=contact.uri, expires_at=now + expires,
                                         call_id=request.call_id, cseq=request.cseq.sequence,
                                         peer=peer, instance=contact.param("+sip.instance"))
        headers = [("Contact", _listed_contact(b, now)) for b in self.bindings(aor)]
        headers += [("Expires", str(granted)), ("ms-keep-alive", KEEP_ALIVE)]
        if granted:
            action = "added" if added else "refreshed"
            headers.append(("presence-state",
                            f'register-action="{action}";primary-cluster-type="central";is-connected-to-primary="yes"'))
        headers += [("Allow-Events", REGISTER_EVENTS), ("Date", email.utils.formatdate(now, usegmt=True))]
        return self._reply(request, 200, headers=headers)

    def _subscribe(self, request: sipmessage.Request, peer: str) -> Answer:
        event = (request.headers.get("Event") or "").split(";", 1)[0].strip().lower()
        if event not in EVENT_PACKAGES:
            return self._reply(request, 489, headers=[("Allow-Events", ", ".join(EVENT_PACKAGES))])
        expires = self._expires_of(request, None)
        if expires is None:
            return self._reply(request, 400, "Malformed Expires header")
        if 0 < expires < self.min_expires:
            return self._reply(request, 423, headers=[("Min-Expires", str(self.min_expires))])
        subscriber = parse_name_addr(request.headers["From"])
        to = parse_name_addr(request.headers["To"])
        contacts = [c for value in request.headers.getlist("Contact") for c in parse_name_addrs(value)]
        existing = self.subscriptions.get(request.call_id)
        if to.tag is not None and (existing is None or existing.notifier_tag != to.tag):
            # A refresh of a subscription this Front End does not hold (RFC 6665 §4.2.1.2).
            return self._reply(request, 481)
        now = self._now()
        subscription = existing or Subscription(
            call_id=request.call_id,
            presentity=str(request.uri),
            subscriber=str(subscriber),
            notifier_uri=to.uri,
            notifier_tag=self.new_tag(),
            target=contacts[0].uri if contacts else subscriber.uri,
            expires_at=now + expires,
            peer=peer,
        )
        subscription.expires_at = now + expires
        if expires:
            self.subscriptions[request.call_id] = subscription
        else:
            self.subscriptions.pop(request.call_id, None)
        accept = [m.mime_type.lower() for m in request.accept or []]
        body_type = CATEGORIES if CATEGORIES in accept and PIDF not in accept else PIDF
        notify = self._notify_request(subscription, expires, body_type)
        return self._reply(request, 200, to_tag=subscription.notifier_tag, requests=(notify,), headers=[
            ("Expires", str(expires)),
            ("Contact", f"<sip:{self.fqdn}:{self.port};transport=tls>"),
        ])

    def _notify_request(self, subscription: Subscription, expires: int, body_type: str) -> bytes:
        """The NOTIFY that reports the presentity's state to the subscriber (RFC 6665
        §4.2.1: sent at once after accepting a SUBSCRIBE, in the same dialog)."""
        subscription.cseq += 1
        online = bool(self.bindings(subscription.presentity))
        body = (_categories if body_type == CATEGORIES else pidf_document)(
            subscription.presentity, online, self._now())
        state = f"active;expires={expires}" if expires else "terminated;reason=timeout"
        return make_request(
            "NOTIFY", subscription.target, via=f"SIP/2.0/TLS {self.fqdn}:{self.port}",
            branch=self.new_branch(), from_uri=subscription.notifier_uri,
            from_tag=subscription.notifier_tag, to_uri=subscription.subscriber,
            call_id=subscription.call_id, cseq=subscription.cseq,
            headers=[("Event", "presence"), ("Subscription-State", state),
                     ("Contact", f"<sip:{self.fqdn}:{self.port};transport=tls>"),
                     ("Content-Type", body_type)],
            body=body.encode("utf-8"))

    def _notify(self, request: sipmessage.Request, peer: str) -> Answer:
        # Presence the trusted application pushes (UCC's direction): taken as it is.
        return self._reply(request, 200)

    def _invite(self, request: sipmessage.Request, peer: str) -> Answer:
        accept = request.accept
        if accept is not None and not any(
            m.mime_type.lower() in ("application/sdp", "application/*", "*/*") for m in accept
        ):
            return self._reply(request, 406, headers=[("Accept", "application/sdp")])
        # This stand-in registers and serves presence; it does not set up calls.
        return self._reply(request, 480)

    def _message(self, request: sipmessage.Request, peer: str) -> Answer:
        return self._reply(request, 480)

    def _info(self, request: sipmessage.Request, peer: str) -> Answer:
        return self._reply(request, 481)

    def _bye(self, request: sipmessage.Request, peer: str) -> Answer:
        return self._reply(request, 481)

    def _cancel(self, request: sipmessage.Request, peer: str) -> Answer:
        # INVITEs are answered at once, so there is never a transaction left to cancel.
        return self._reply(request, 481)


def _listed_contact(binding: Binding, now: float) -> str:
    """A binding as the REGISTER 200 lists it: ``<uri>;expires=N``, and for a contact with
    ``+sip.instance`` that instance and its GRUU."""
    value = f"<{binding.contact}>;expires={max(0, int(binding.expires_at - now))}"
    gruu = _gruu(binding.aor, binding.instance)
    if gruu is not None:
        value += f';+sip.instance={binding.instance};gruu="{gruu}"'
    return value


def _gruu(aor: str, instance: str | None) -> str | None:
    """Lync's GRUU for an endpoint: ``<aor>;opaque=user:epid:<id>;gruu`` with ``<id>`` the
    base64 of the instance GUID's bytes (Windows' little-endian order) and two zero bytes.
    Inferred from MS-SIPREGE's example, where ``+sip.instance="<urn:uuid:c1589240-e660-594f-
    a8b3-4b55f358cbc1>"`` gets ``opaque=user:epid:QJJYwWDmT1mos0tV81jLwQAA`` (this rule
    gives exactly that); None for an instance that is no ``urn:uuid``."""
    if instance is None:
        return None
    text = instance.strip('"').strip("<>")
    if not text.lower().startswith("urn:uuid:"):
        return None
    try:
        guid = uuid.UUID(text[len("urn:uuid:"):])
    except ValueError:
        return None
    epid = base64.b64encode(guid.bytes_le + b"\0\0").decode("ascii")
    return f"{aor};opaque=user:epid:{epid};gruu"


def pidf_document(presentity: str, online: bool, now: float) -> str:
    """A minimal PIDF document (RFC 3863)."""
    status = "open" if online else "closed"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{_xml(presentity)}">\n'
        f'  <tuple id="t1"><status><basic>{status}</basic></status>'
        f'<timestamp>{_timestamp(now)}</timestamp></tuple>\n'
        '</presence>\n'
    )


def _categories(presentity: str, online: bool, now: float) -> str:
    """A minimal msrtc-event-categories document with Lync's aggregate state
    (availability 3500 = Available, 18000 = Offline)."""
    availability = 3500 if online else 18000
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" '
        f'uri="{_xml(presentity)}">\n'
        f'  <category name="state" instance="0" publishTime="{_timestamp(now)}" container="2" '
        'version="1" expireType="static">\n'
        '    <state xmlns="http://schemas.microsoft.com/2006/09/sip/state" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" manual="false" '
        f'xsi:type="aggregateState"><availability>{availability}</availability></state>\n'
        '  </category>\n'
        '</categories>\n'
    )


def _timestamp(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
