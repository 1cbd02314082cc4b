"""The Front End's event log: the server-side evidence replays and tests judge by.

Every event is an evidence record (:mod:`fakes._evidence`: ``seq``, ``type``, ``time``) with
``connection`` (an id, or None for events of the server itself) and the fields of its
type. Types:

``listening`` (with the profile), ``connection-opened`` (peer address), ``tls-handshake``
(version, cipher, peer certificate with subject, SANs, issuer, serial, validity and EKUs,
the chain sent and the chain verified, verification errors that policy ignored),
``tls-failure`` (``error``: the verification error text or OpenSSL's reason, ``reasons``,
``verify_errors``, ``alert_sent`` / ``alert_received``; beside them Windows' words:
``schannel`` — ``event_id``, ``message``, ``hresult``, ``symbol``, ``text`` and, where no
source pairs the case with that event, ``assumed`` — and ``chain_status``, the chain
engine's HRESULT; ``phase: "revocation"`` with ``revocation`` when the certificate was
refused after the handshake for its CRL), ``revocation-checked`` (``results``: each
certificate's verdict, URL, chain and policy status), ``peer-trusted`` (peer, pool,
names) / ``peer-not-trusted`` (the names seen, the known peers, Lync's SIPStack record
``lync``), ``request`` (method, uri, call_id, cseq, from, to, contact, via — as received),
``response`` (status, reason, and ``ms_diagnostics`` on an error answer: code, reason,
whether a public source documents it),
``request-sent`` (a NOTIFY), ``response-received``, ``malformed`` (status, reason, fatal,
excerpt), ``keep-alive``, ``timeout`` (phase, after), ``connection-error``, ``closed``, and
the ``push-*`` events of ``FrontendServer.push_to_connector`` (a ``push-failure`` for a
refused certificate carries ``schannel`` — the client-side event, 36881-36884 —,
``lync_event`` 14428 and the ``ms_diagnostics`` 1010 a request routed there would get).

With Kerberos configured (MS-SIPAE, before the ``response`` they cause):
``sipae-required`` (a connection without a client certificate; its requests must
authenticate), ``sipae-challenge`` (method, reason: why the request named no security
association — answered 401 with the challenges), ``sipae-rejected`` (reason, error_code,
error_name: the Kerberos error, e.g. 34 KRB_AP_ERR_REPEAT — answered 401),
``sipae-authenticated`` (principal, service, opaque, enctype and ticket_enctype with their
names, gss_flags, expires, signed, cnum), ``sipae-verified`` (principal, opaque, cnum of a
later signed request) and ``sipae-bad-signature`` (principal, opaque, reason, error_code).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fakes._evidence import EvidenceLog, Record

__all__ = ["EventLog"]

Event = Record


class EventLog(EvidenceLog):
    """The Front End's evidence log (bounded in memory, mirrored to a JSONL file if given).

    Query what is in memory with :meth:`of_type`, :meth:`requests`, :meth:`responses`,
    :meth:`for_connection`; wait for something with :meth:`wait_for` (no fixed sleeps).
    """

    def append(self, type_: str, connection: int | None = None, **fields: Any) -> Event:
        """Record an event of ``connection`` (None: of the server itself)."""
        return self.record(type_, connection=connection, **fields)

    @staticmethod
    def _matches(event: Event, type_: str | None, fields: dict[str, Any]) -> bool:
        if type_ is not None and event["type"] != type_:
            return False
        return all(event.get(key) == value for key, value in fields.items())

    def of_type(self, type_: str, **fields: Any) -> list[Event]:
        """Events of one type whose fields equal the given ones (e.g. ``connection=3``)."""
        return [event for event in self if self._matches(event, type_, fields)]

    def requests(self, method: str | None = None, **fields: Any) -> list[Event]:
        """``request`` events, of one method if given."""
        if method is not None:
            fields["method"] = method
        return self.of_type("request", **fields)

    def responses(self, status: int | None = None, **fields: Any) -> list[Event]:
        """``response`` events (what the Front End answered), of one status if given."""
        if status is not None:
            fields["status"] = status
        return self.of_type("response", **fields)

    def for_connection(self, connection: int) -> list[Event]:
        """Every event of one connection, in order."""
        return [event for event in self if event["connection"] == connection]

    async def wait_for(self, type_: str | None = None, *, timeout: float = 5.0,
                       predicate: Callable[[Event], bool] | None = None,
                       **fields: Any) -> Event:
        """The first event (already logged or to come) of ``type_`` with these fields and
        satisfying ``predicate``; ``TimeoutError`` after ``timeout`` seconds."""

        def wanted(event: Event) -> bool:
            return self._matches(event, type_, fields) and (predicate is None or predicate(event))

        return await self.await_record(wanted, timeout=timeout, what=f"{type_ or 'matching'} event {fields or ''}".strip())

    def to_jsonl(self) -> str:
        """The events in memory as JSON lines."""
        return "".join(json.dumps(event, ensure_ascii=False) + "\n" for event in self)
