"""The presence push: the Front End as TLS client of the connector's Secured SIP port.

The connector here is a small Python ``ssl`` server that requires a client certificate —
OpenSSL's server-side checks, which (like Java's) refuse a serverAuth-only client
certificate.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any

import pytest

from fakes.frontend import FrontendServer
from fakes.sip import NEED_DATA, ConnectionClosed, MessageReceived, SipStream, make_response

from .frontend_support import FE_FQDN, SERVER_AUTH, UCC_FQDN, Credential, LabPki, frontend_config


@dataclass
class SecuredPort:
    """What the stand-in connector port saw."""

    server: asyncio.Server
    peers: list[dict[str, Any]] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]


async def _secured_port(pki: LabPki, credential: Credential) -> SecuredPort:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(credential.cert_path), str(credential.key_path))
    context.load_verify_locations(cafile=str(pki.ca_path))
    context.verify_mode = ssl.CERT_REQUIRED
    port: SecuredPort

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(context)
        except ssl.SSLError as error:  # what the connector would log
            port.failures.append(getattr(error, "verify_message", None) or error.reason or str(error))
            writer.close()
            return
        except ConnectionError as error:  # the client gave up (e.g. it refused our name)
            port.failures.append(type(error).__name__)
            return
        port.peers.append(writer.get_extra_info("peercert"))
        stream = SipStream()
        while True:
            event = stream.next_event()
            if event is NEED_DATA:
                stream.receive_data(await reader.read(65536))
            elif isinstance(event, MessageReceived):
                port.methods.append(event.message.method)
                writer.write(make_response(event.message, 200, to_tag="ucc-tag"))
                await writer.drain()
            elif isinstance(event, ConnectionClosed):
                break
        writer.close()

    port = SecuredPort(await asyncio.start_server(serve, "127.0.0.1", 0))
    return port


def _push(pki: LabPki, fe: Credential, ucc: Credential, *, server_name: str = UCC_FQDN,
          requests: tuple[str, ...] = ("OPTIONS", "NOTIFY")) -> tuple[Any, SecuredPort, FrontendServer]:
    async def main() -> tuple[Any, SecuredPort, FrontendServer]:
        connector = await _secured_port(pki, ucc)
        async with connector.server, FrontendServer(frontend_config(pki, fe)) as frontend:
            result = await frontend.push_to_connector("127.0.0.1", connector.port,
                                                      server_name=server_name, requests=requests)
        return result, connector, frontend

    return asyncio.run(main())


def test_push_presents_the_front_end_certificate_and_collects_200s(pki: LabPki, ucc: Credential) -> None:
    fe = pki.issue("fe01", cn=FE_FQDN, dns=[FE_FQDN])
    result, connector, frontend = _push(pki, fe, ucc)
    assert result.ok, result
    assert result.statuses == (("OPTIONS", 200, "OK"), ("NOTIFY", 200, "OK"))
    assert result.peer_certificate is not None
    assert result.peer_certificate["subject"] == f"CN={UCC_FQDN}"
    assert result.tls_version == "TLSv1.2"  # SChannel's client on Windows Server 2016 (sfb2015) has no TLS 1.3
    assert connector.methods == ["OPTIONS", "NOTIFY"]
    (peer,) = connector.peers
    assert dict(item for rdn in peer["subject"] for item in rdn)["commonName"] == FE_FQDN
    assert [e["type"] for e in frontend.events.for_connection(result.connection)] == [
        "push-started", "push-tls", "push-response", "push-response", "push-done"]


def test_push_to_a_connector_whose_name_does_not_match(pki: LabPki, ucc: Credential) -> None:
    fe = pki.issue("fe01", cn=FE_FQDN, dns=[FE_FQDN])
    result, connector, frontend = _push(pki, fe, ucc, server_name="ucc02.companya.com")
    assert not result.ok and not result.handshake_ok
    assert result.error is not None and "Hostname mismatch" in result.error
    assert "ucc02.companya.com" in result.error
    assert connector.methods == []
    (failure,) = frontend.events.of_type("push-failure")
    assert failure["error"] == result.error
    # What SChannel (as the client) and Lync log for it, and what a request routed there gets.
    assert failure["schannel"]["event_id"] == 36884
    assert "The server name we were expecting is ucc02.companya.com." in failure["schannel"]["message"]
    assert (failure["schannel"]["symbol"], failure["schannel"]["hresult"]) == ("SEC_E_WRONG_PRINCIPAL", "0x80090322")
    assert failure["lync_event"]["id"] == 14428 and failure["lync_event"]["text"] == "TLS outgoing connection failures."
    assert failure["ms_diagnostics"] == {"code": 1010, "reason": "Certificate trust with next-hop server could not be established",
                                         "documented": True, "source": failure["ms_diagnostics"]["source"]}


def test_push_to_a_connector_whose_certificate_is_from_another_ca(pki: LabPki, tmp_path_factory: pytest.TempPathFactory) -> None:
    fe = pki.issue("fe01", cn=FE_FQDN, dns=[FE_FQDN])
    other = LabPki(tmp_path_factory.mktemp("other"), name="Other-CA")
    result, _connector, frontend = _push(pki, fe, other.issue("ucc01-other", cn=UCC_FQDN, dns=[UCC_FQDN]))
    assert not result.handshake_ok
    (failure,) = frontend.events.of_type("push-failure")
    assert (failure["schannel"]["event_id"], failure["schannel"]["symbol"]) == (36882, "SEC_E_UNTRUSTED_ROOT")


def test_server_auth_only_front_end_certificate_is_refused_by_an_openssl_connector(
        pki: LabPki, ucc: Credential) -> None:
    """The real-world trap: the page's Front End certificate (Web Server template,
    serverAuth only) as client certificate towards a connector that checks the EKU."""
    fe = pki.issue("fe01-webserver", cn=FE_FQDN, dns=[FE_FQDN], eku=[SERVER_AUTH])
    result, connector, _ = _push(pki, fe, ucc)
    assert not result.ok
    assert result.error  # an alert, during or (TLS 1.3) right after the handshake
    assert connector.methods == []
    assert connector.failures and "unsuitable certificate purpose" in connector.failures[0]


def test_push_to_a_closed_port(pki: LabPki) -> None:
    fe = pki.issue("fe01", cn=FE_FQDN, dns=[FE_FQDN])

    async def main() -> Any:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        async with FrontendServer(frontend_config(pki, fe)) as frontend:
            return await frontend.push_to_connector("127.0.0.1", port, server_name=UCC_FQDN)

    result = asyncio.run(main())
    assert not result.handshake_ok and result.error
