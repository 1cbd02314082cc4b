"""What the Front End says as Lync says it: ms-diagnostics on error answers (none on a 401
challenge), Via stamped per RFC 3261/3581 and Lync's ms-received-*, a REGISTER 200 shaped
as MS-SIPREGE shows it, SIP-enabled users, the topology of trusted application pools
changed through the admin API, and an event log whose memory stays bounded under load.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from fakes.frontend import FrontendServer, Registrar, SipSession
from fakes.frontend._topology import Topology, TopologyError
from fakes.frontend.admin import frontend_admin
from fakes.sip import (
    MessageReceived,
    Response,
    SipLimits,
    SipStream,
    make_request,
    parse_via,
)
from harness.admin import AdminUnavailable, local_client

from .frontend_support import (
    FE_FQDN,
    UCC_FQDN,
    Credential,
    LabPki,
    client_context,
    frontend_config,
    mtls_exchange,
    options_request,
)

NOW = 1_700_000_000.0


def _session(**users: Any) -> SipSession:
    registrar = Registrar(FE_FQDN, now=lambda: NOW, rng=random.Random(3), **users)
    return SipSession(registrar, peer=UCC_FQDN, limits=SipLimits(), source=("192.0.2.7", 54059), connection_id=0xE5)


def _answers(session: SipSession, data: bytes) -> tuple[list[Response], list[dict[str, Any]]]:
    output = session.receive_data(data)
    stream = SipStream()
    stream.receive_data(output.data)
    messages = []
    while isinstance(event := stream.next_event(), MessageReceived):
        messages.append(event.message)
    return messages, [fields for kind, fields in output.records if kind == "response"]


def _request(method: str, *, via: str = f"SIP/2.0/TLS {UCC_FQDN}:5061", to_uri: str = f"sip:{UCC_FQDN}",
             uri: str = f"sip:{FE_FQDN}", headers: list[tuple[str, str]] | None = None, cseq: int = 1) -> bytes:
    return make_request(method, uri, via=via, branch=f"z9hG4bK{method}{cseq}", from_uri=f"sip:{UCC_FQDN}",
                        from_tag="u1", to_uri=to_uri, call_id=f"{method}-{cseq}@{UCC_FQDN}", cseq=cseq,
                        headers=headers or [])


# -- ms-diagnostics ----------------------------------------------------------------------------

def test_every_error_answer_carries_ms_diagnostics_and_says_when_the_id_is_the_labs_choice() -> None:
    session = _session()
    data = _request("PUBLISH") + _request("FOO") + _request("OPTIONS", headers=[("Require", "nonsense")])
    answers, records = _answers(session, data)
    assert [a.code for a in answers] == [405, 501, 420]
    for answer, record in zip(answers, records):
        header = answer.headers["ms-diagnostics"]
        assert header == f'4000;reason="{answer.phrase}";source="{FE_FQDN}"'
        assert record["ms_diagnostics"]["documented"] is False and "no public trace" in record["ms_diagnostics"]["assumed"]


def test_a_malformed_request_is_answered_with_ms_diagnostics_too() -> None:
    bad = _request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS")
    output = _session().receive_data(bad)
    assert output.data.startswith(b"SIP/2.0 400 Malformed CSeq header\r\n")
    assert b'ms-diagnostics: 4000;reason="Malformed CSeq header";source="fe01.companya.com"\r\n' in output.data
    (response,) = [f for kind, f in output.records if kind == "response"]
    assert response["ms_diagnostics"]["code"] == 4000


def test_an_unknown_user_gets_lyncs_4005() -> None:
    session = _session(sip_users=["sip:alice@companya.com"])
    answers, records = _answers(session, _request("REGISTER", to_uri="sip:bob@companya.com")
                                + _request("REGISTER", to_uri="sip:alice@CompanyA.com", cseq=2,
                                           headers=[("Contact", f"<sip:{UCC_FQDN}:5061;transport=tls>")]))
    assert [a.code for a in answers] == [404, 200]
    # The header exactly as the MicrosoftDocs support article quotes it (its source is the pool).
    assert answers[0].headers["ms-diagnostics"] == (
        f'4005;reason="Destination URI either not enabled for SIP or does not exist";source="{FE_FQDN}"')
    assert records[0]["ms_diagnostics"]["documented"] is True
    assert answers[1].headers.get("ms-diagnostics") is None


def test_a_success_has_no_ms_diagnostics() -> None:
    answers, records = _answers(_session(), _request("OPTIONS"))
    assert answers[0].code == 200 and answers[0].headers.get("ms-diagnostics") is None
    assert "ms_diagnostics" not in records[0]


# -- Via ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("sent_by", "expected"), [
    # A name: received (RFC 3261 §18.2.1); Lync's ms-received-* on the first hop.
    (f"{UCC_FQDN}:5061", ";received=192.0.2.7;ms-received-port=54059;ms-received-cid=E5"),
    # The source address and port: no received (the Lync 2013 trace's case).
    ("192.0.2.7:54059", ";ms-received-port=54059;ms-received-cid=E5"),
    # The source address, another port: received (the OCS 2007 R2 trace's case).
    ("192.0.2.7:5069", ";received=192.0.2.7;ms-received-port=54059;ms-received-cid=E5"),
    # No port: received too.
    ("192.0.2.7", ";received=192.0.2.7;ms-received-port=54059;ms-received-cid=E5"),
])
def test_the_top_via_is_stamped_as_lync_stamps_it(sent_by: str, expected: str) -> None:
    answers, _ = _answers(_session(), _request("OPTIONS", via=f"SIP/2.0/TLS {sent_by}"))
    (via, *_) = answers[0].headers.getlist("Via")
    assert via == f"SIP/2.0/TLS {sent_by};branch=z9hG4bKOPTIONS1{expected}"


def test_an_empty_rport_is_filled_and_received_added_as_rfc_3581_says() -> None:
    data = _request("OPTIONS", via="SIP/2.0/TLS 192.0.2.7:54059;rport").replace(
        b";rport;branch=z9hG4bKOPTIONS1", b";branch=z9hG4bKOPTIONS1;rport")
    answers, _ = _answers(_session(), data)
    via = parse_via(answers[0].headers.getlist("Via")[0])
    assert (via.param("rport"), via.param("received")) == ("54059", "192.0.2.7")
    assert [name for name, _ in via.params] == ["branch", "rport", "received", "ms-received-port", "ms-received-cid"]


@pytest.mark.parametrize("extra", ["", ";rport"])
def test_a_port_of_thousands_of_digits_is_answered_unstamped(extra: str) -> None:
    via = "SIP/2.0/TLS 192.0.2.7:" + "9" * 5000 + extra
    answers, _ = _answers(_session(), _request("OPTIONS", via=via))
    assert answers[0].code == 200 and answers[0].headers.getlist("Via")[0].startswith(via)


def test_over_mtls_the_via_names_the_connections_source(pki: LabPki, fe: Credential, ucc: Credential) -> None:
    async def main() -> tuple[str, FrontendServer, int]:
        async with FrontendServer(frontend_config(pki, fe)) as server:
            (answer,) = await mtls_exchange(server.port, client_context(pki.ca_path, ucc), options_request())
            (opened,) = server.events.of_type("connection-opened")
            return answer.message.headers.getlist("Via")[0], server, opened["connection"]

    via, server, connection = asyncio.run(main())
    port = server.events.of_type("connection-opened")[0]["peer"].rsplit(":", 1)[1]
    assert via.endswith(f";received=127.0.0.1;ms-received-port={port};ms-received-cid={connection:X}")
    # The request's own record keeps the Via as it came.
    assert server.events.requests()[0]["via"] == [f"SIP/2.0/TLS {UCC_FQDN}:5061;branch=z9hG4bK-opt-1"]


# -- REGISTER --------------------------------------------------------------------------------

def test_register_200_is_shaped_as_ms_siprege_shows_it() -> None:
    session = _session()
    instance = '"<urn:uuid:c1589240-e660-594f-a8b3-4b55f358cbc1>"'
    contact = f"<sip:{UCC_FQDN}:5061;transport=tls>;+sip.instance={instance}"
    answers, _ = _answers(session, _request("REGISTER", to_uri="sip:alice@fabrikam.com",
                                             headers=[("Contact", contact), ("Expires", "7200")])
                          + _request("REGISTER", to_uri="sip:alice@fabrikam.com", cseq=2,
                                     headers=[("Contact", contact), ("Expires", "7200")]))
    first, refresh = answers
    assert first.headers["Contact"] == (
        f'<sip:{UCC_FQDN}:5061;transport=tls>;expires=7200;+sip.instance={instance};'
        'gruu="sip:alice@fabrikam.com;opaque=user:epid:QJJYwWDmT1mos0tV81jLwQAA;gruu"')  # MS-SIPREGE's own epid
    assert first.headers["Expires"] == "7200"
    assert first.headers["ms-keep-alive"] == "UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300"
    assert first.headers["presence-state"] == 'register-action="added";primary-cluster-type="central";is-connected-to-primary="yes"'
    assert refresh.headers["presence-state"].startswith('register-action="refreshed";')
    assert "presence.wpending" in first.headers["Allow-Events"]
    assert first.headers["Server"] == "RTC/5.0"  # the registrar's own default; the server gives the profile's


# -- the topology ----------------------------------------------------------------------------

def test_the_topology_follows_the_cmdlets_rules() -> None:
    topology = Topology.of_known_peers(FE_FQDN, [UCC_FQDN])
    with pytest.raises(TopologyError, match="created without -ComputerFqdn"):
        topology.new_computer("ucc02.companya.com", UCC_FQDN)
    with pytest.raises(TopologyError, match="already exists"):
        topology.new_pool(UCC_FQDN)
    with pytest.raises(TopologyError, match="not this Front End's pool"):
        topology.new_pool("uccpool.companya.com", registrar="fe99.companya.com")
    pooled = (topology.new_pool("uccpool.companya.com", computer_fqdn="ucc02.companya.com")
              .new_computer("ucc03.companya.com", "uccpool.companya.com")
              .new_application("genesys-ucc", "uccpool.companya.com", 5061))
    with pytest.raises(TopologyError, match="port 5061 is already used"):
        pooled.new_application("other", "uccpool.companya.com", 5061)
    assert pooled.match(["UCC03.companya.com."]) is not None
    assert pooled.match([], ["ucc03.companya.com"]) is None  # SAN names count only with san_match
    assert pooled.pool("uccpool.companya.com").describe()["applications"] == [  # type: ignore[union-attr]
        {"identity": "uccpool.companya.com/genesys-ucc", "application_id": "genesys-ucc", "port": 5061, "enable_tcp": False}]
    assert pooled.remove_pool("uccpool.companya.com").known_fqdns == [UCC_FQDN]


def test_trusted_application_pools_through_the_admin_api(pki: LabPki, fe: Credential, tmp_path: Path) -> None:
    computer = pki.issue("ucc02", cn="ucc02.companya.com", dns=["ucc02.companya.com"])

    async def main() -> FrontendServer:
        async with FrontendServer(frontend_config(pki, fe)) as server:
            admin = local_client(frontend_admin(server, state_dir=tmp_path))
            context = client_context(pki.ca_path, computer)
            try:
                assert await mtls_exchange(server.port, context, options_request()) == []
            except ConnectionError:
                pass
            pools = await admin.act("new-cs-trusted-application-pool",
                                    {"identity": "uccpool.companya.com", "computer_fqdn": "ucc02.companya.com"})
            assert [p["identity"] for p in pools] == [UCC_FQDN, "uccpool.companya.com"]
            await admin.act("new-cs-trusted-application", {"application_id": "genesys-ucc",
                                                           "trusted_application_pool_fqdn": "uccpool.companya.com",
                                                           "port": 5061})
            (answer,) = await mtls_exchange(server.port, context, options_request())
            assert answer.status == 200
            assert await admin.get("known-peers") == [UCC_FQDN, "uccpool.companya.com", "ucc02.companya.com"]
            with pytest.raises(AdminUnavailable, match="created without -ComputerFqdn") as refused:
                await admin.act("new-cs-trusted-application-computer", {"identity": "ucc09.companya.com", "pool": UCC_FQDN})
            assert refused.value.status == 409
            await admin.reset()
            assert await admin.get("trusted-application-pools") == Topology.of_known_peers(FE_FQDN, [UCC_FQDN]).describe()
        return server

    server = asyncio.run(main())
    refused, trusted = server.events.of_type("peer-not-trusted"), server.events.of_type("peer-trusted")
    assert refused[0]["names"] == ["ucc02.companya.com"] and refused[0]["known_peers"] == [UCC_FQDN]
    assert (trusted[0]["peer"], trusted[0]["pool"]) == ("ucc02.companya.com", "uccpool.companya.com")


def test_profile_revocation_and_sip_users_settings(pki: LabPki, fe: Credential, ucc: Credential, tmp_path: Path) -> None:
    async def main() -> None:
        async with FrontendServer(frontend_config(pki, fe)) as server:
            admin = local_client(frontend_admin(server, state_dir=tmp_path))
            assert (await admin.get("profile"))["name"] == "sfb2015"
            assert (await admin.put("profile", "sfb2019"))["versions"] == ["TLS 1.2", "TLS 1.3"]
            context = client_context(pki.ca_path, ucc)
            async with asyncio.timeout(10):
                _reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=context,
                                                                server_hostname=FE_FQDN)
            assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
            writer.close()
            assert await admin.put("revocation", {"check": False, "cdp_hosts": {"labdc01.companya.com": "127.0.0.1:8080"}}) == {
                "check": False, "cdp_hosts": {"labdc01.companya.com": "127.0.0.1:8080"}, "timeout": 15.0}
            with pytest.raises(AdminUnavailable, match="address:port") as bad:
                await admin.put("revocation", {"cdp_hosts": {"labdc01.companya.com": "nowhere"}})
            assert bad.value.status == 400
            assert await admin.put("sip-users", ["sip:alice@companya.com"]) == ["sip:alice@companya.com"]
            (answer,) = await mtls_exchange(server.port, context, _request("REGISTER", to_uri="sip:bob@companya.com"))
            assert answer.status == 404 and answer.message.headers["ms-diagnostics"].startswith("4005;")
            await admin.reset()
            assert await admin.get("sip-users") is None and (await admin.get("revocation"))["check"] is True

    asyncio.run(main())


# -- memory under load -----------------------------------------------------------------------

def test_the_event_logs_memory_stays_bounded_under_load(pki: LabPki, fe: Credential, ucc: Credential,
                                                       tmp_path: Path) -> None:
    """Past its capacity the log keeps its newest records in memory and the rest in its file."""
    requests = 6000  # two records each: past the 10 000 kept in memory

    async def main() -> FrontendServer:
        async with FrontendServer(frontend_config(pki, fe), event_log_path=tmp_path / "events.jsonl") as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=client_context(pki.ca_path, ucc),
                                                           server_hostname=FE_FQDN)
            async def send() -> None:  # while the answers are read: a peer that reads nothing is stalled
                for start in range(1, requests + 1, 500):
                    writer.write(b"".join(options_request(n, call_id=f"load-{n}@ucc01") for n in range(start, start + 500)))
                    await writer.drain()

            sending = asyncio.ensure_future(send())
            stream = SipStream()
            answered = 0
            async with asyncio.timeout(120):
                while answered < requests:
                    data = await reader.read(1 << 20)
                    assert data, [e for e in server.events if e["type"] in ("connection-error", "malformed", "timeout")]
                    stream.receive_data(data)
                    while isinstance(stream.next_event(), MessageReceived):
                        answered += 1
            await sending
            writer.close()
        return server

    server = asyncio.run(main())
    assert len(server.events) == 10_000 < server.events.cursor
    assert server.events.first_in_memory > 1
    with (tmp_path / "events.jsonl").open() as file:
        assert sum(1 for _ in file) == server.events.cursor
    assert len(server.events.responses(status=200)) <= 5000
