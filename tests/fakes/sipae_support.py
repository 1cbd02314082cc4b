"""Helpers of the MS-SIPAE tests: the lab's Kerberos accounts, tickets without a network,
a Front End with Kerberos, and a small SIP-over-TLS client that authenticates with MS-SIPAE.

Tickets for the sans-I/O tests come from a :class:`fakes.kdc.KdcCore` driven in memory
(:func:`service_ticket`); the socket tests run a :class:`fakes.kdc.KdcServer` beside the
:class:`fakes.frontend.FrontendServer` on one event loop.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from fakes.frontend import FrontendKerberos
from fakes.kdc import KdcCore
from fakes.kerberos import AsExchange, Credential, Key, TgsExchange, utc_now
from fakes.sip import SipStream, make_request
from fakes.sipae import SIP_COMMUNICATIONS_SERVICE, Challenge, SipaeServer

from .frontend_support import FE_FQDN, UCC_FQDN, Received, read_message
from .kdc_support import FRONTEND_PASSWORD, REALM, UCC_PASSWORD, lab_accounts

DOMAIN = "companya.com"
SPN = f"sip/{FE_FQDN}"
UCC_USER = "ocs-ucc"
DES_USER = "ocs-des"
KERBEROS_CHALLENGE = Challenge("Kerberos", SIP_COMMUNICATIONS_SERVICE, SPN, 4)


def fe_keys() -> tuple[Key, ...]:
    """The keys of the account holding sip/fe01.companya.com, FE01$ (what a keytab of it holds)."""
    [account] = [a for a in lab_accounts() if SPN in a.spns]
    assert account.password == FRONTEND_PASSWORD
    return tuple(account.keys(REALM).values())


def frontend_kerberos(keys: tuple[Key, ...] | None = None, **changes: object) -> FrontendKerberos:
    """The Front End's Kerberos settings for the lab (the FE account's keys unless others), with changes."""
    return FrontendKerberos(fe_keys() if keys is None else keys, **changes)  # type: ignore[arg-type]


def service_ticket(core: KdcCore, user: str = UCC_USER, password: str = UCC_PASSWORD, service: str = SPN) -> Credential:
    """A ticket for ``service`` from ``core``, the AS and TGS exchanges driven in memory."""
    exchange = AsExchange(user, core.realm, password)
    message: bytes | Credential = exchange.request()
    while not isinstance(message, Credential):
        reply = core.handle(message, transport="tcp", peer="test")
        assert reply is not None
        message = exchange.receive(reply)
    tgs = TgsExchange(message, service)
    reply = core.handle(tgs.request(), transport="tcp", peer="test")
    assert reply is not None
    return tgs.receive(reply)


def sipae_server(**changes: object) -> SipaeServer:
    """The Front End's MS-SIPAE core, sans I/O, with the real clock."""
    settings: dict[str, object] = {"targetname": SPN, "service_keys": fe_keys(), "now": utc_now,
                                   "rng": os.urandom, "ntlm_targetname": FE_FQDN}
    settings.update(changes)
    return SipaeServer(**settings)  # type: ignore[arg-type]


def register_request(cseq: int = 1, *, call_id: str = "reg-1@ucc01.companya.com", branch: str = "z9hG4bK-reg",
                     headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A REGISTER of the OCS user, as the connector sends it."""
    aor = f"sip:{UCC_USER}@{DOMAIN}"
    return make_request("REGISTER", f"sip:{FE_FQDN}", via=f"SIP/2.0/TLS {UCC_FQDN}:5061", branch=f"{branch}-{cseq}",
                        from_uri=aor, from_tag=f"tag{cseq}", to_uri=aor, call_id=call_id, cseq=cseq,
                        headers=[("Contact", f"<sip:{UCC_FQDN}:5061;transport=tls>"), ("Expires", "3600"),
                                 *headers])


def options_request(cseq: int = 1, *, call_id: str = "opt-1@ucc01.companya.com", method: str = "OPTIONS") -> bytes:
    """An OPTIONS (or another method without a body) from the OCS user to the Front End."""
    return make_request(method, f"sip:{FE_FQDN}", via=f"SIP/2.0/TLS {UCC_FQDN}:5061",
                        branch=f"z9hG4bK-{method.lower()}-{cseq}", from_uri=f"sip:{UCC_USER}@{DOMAIN}",
                        from_tag=f"otag{cseq}", to_uri=f"sip:{FE_FQDN}", call_id=call_id, cseq=cseq)


def server_only_context(ca_path: os.PathLike[str] | str) -> ssl.SSLContext:
    """TLS client context with server authentication only (no client certificate)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(ca_path))
    return context


@dataclass
class TlsSipClient:
    """One TLS connection to the Front End that sends requests and reads their answers."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    stream: SipStream

    @classmethod
    async def connect(cls, port: int, context: ssl.SSLContext) -> TlsSipClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname=FE_FQDN), 5)
        return cls(reader, writer, SipStream())

    async def send(self, data: bytes, *, answers: int = 1, timeout: float = 5.0) -> list[Received]:
        """Send ``data``; read up to ``answers`` messages (fewer if the connection ends)."""
        self.writer.write(data)
        await self.writer.drain()
        received = []
        for _ in range(answers):
            message = await read_message(self.reader, self.stream, timeout=timeout)
            if message is None:
                break
            received.append(message)
        return received

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
