"""The Front End's event log: the server-side evidence replays and tests judge by.

Every event is a plain dict (JSON-ready) with ``type``, ``connection`` (an id, or None for
events of the server itself), ``time`` (the injected clock) and fields of its type. Types:

``listening``, ``connection-opened`` (peer address), ``tls-handshake`` (version, cipher,
peer certificate with subject, SANs, issuer, serial, validity and EKUs, the chain sent and
the chain verified, verification errors that policy ignored), ``tls-failure`` (``error``:
the verification error text or OpenSSL's reason, ``reasons``, ``verify_errors``,
``alert_sent`` / ``alert_received``),
``peer-trusted`` / ``peer-not-trusted`` (the names seen, the known peers), ``request``
(method, uri, call_id, cseq, from, to, contact, via), ``response`` (status, reason),
``request-sent`` (a NOTIFY), ``response-received``, ``malformed`` (status, reason, fatal,
excerpt), ``keep-alive``, ``timeout`` (phase, after), ``connection-error``, ``closed``, and
the ``push-*`` events of ``FrontendServer.push_to_connector``.

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

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fakes._files import write_public_file

__all__ = ["EventLog"]

Event = dict[str, Any]


class EventLog:
    """An append-only list of events, optionally mirrored to a JSONL file.

    Query with :meth:`of_type`, :meth:`requests`, :meth:`responses`,
    :meth:`for_connection`; wait for something with :meth:`wait_for` (no fixed sleeps).
    """

    def __init__(self, *, now: Callable[[], float], path: Path | None = None) -> None:
        self._now = now
        self._events: list[Event] = []
        self._waiters: list[tuple[Callable[[Event], bool], asyncio.Future[Event]]] = []
        self.path = path
        if path is not None and not path.exists():
            write_public_file(path, b"")

    def append(self, type_: str, connection: int | None = None, **fields: Any) -> Event:
        """Record an event and wake whoever waits for one like it."""
        event: Event = {"type": type_, "connection": connection, "time": self._now(), **fields}
        self._events.append(event)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps(event, ensure_ascii=False) + "\n")
        still_waiting = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            if predicate(event):
                future.set_result(event)
            else:
                still_waiting.append((predicate, future))
        self._waiters = still_waiting
        return event

    def __iter__(self) -> Iterator[Event]:
        return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)

    @staticmethod
    def _matches(event: Event, type_: str | None, fields: dict[str, Any]) -> bool:
        if type_ is not None and event["type"] != type_:
            return False
        return all(event.get(key) == value for key, value in fields.items())

    def of_type(self, type_: str, **fields: Any) -> list[Event]:
        """Events of one type whose fields equal the given ones (e.g. ``connection=3``)."""
        return [event for event in self._events if self._matches(event, type_, fields)]

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
        return [event for event in self._events if event["connection"] == connection]

    async def wait_for(self, type_: str | None = None, *, timeout: float = 5.0,
                       predicate: Callable[[Event], bool] | None = None,
                       **fields: Any) -> Event:
        """The first event (already logged or to come) of ``type_`` with these fields and
        satisfying ``predicate``; ``TimeoutError`` after ``timeout`` seconds."""

        def wanted(event: Event) -> bool:
            return self._matches(event, type_, fields) and (predicate is None or predicate(event))

        for event in self._events:
            if wanted(event):
                return event
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append((wanted, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"no {type_ or 'matching'} event {fields or ''} within {timeout} s") from None

    def to_jsonl(self) -> str:
        """The whole log as JSON lines."""
        return "".join(json.dumps(event, ensure_ascii=False) + "\n" for event in self._events)
