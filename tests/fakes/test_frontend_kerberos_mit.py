"""Interop: MIT Kerberos makes the GSS-API token and signs; the Front End stand-in accepts it.

``kinit ocs-ucc`` against the KDC stand-in with a krb5.conf of its own (KRB5_CONFIG,
KRB5CCNAME), then python-gssapi (MIT's libgssapi_krb5) initiates a context for
``sip/fe01.companya.com`` with integrity only, as MS-SIPAE clients ask — no mutual
authentication, so MIT's context is complete after its one token and no AP-REP is
needed. The token goes to the Front End as ``gssapi-data``; MIT verifies the Front End's
``rspauth`` and signs the next request, which the Front End verifies: RFC 4121 MIC tokens
checked by the other implementation in both directions.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.frontend import FrontendServer
from fakes.kdc import KdcCore
from fakes.sipae import SipaeClient
from tests.conftest import require_tool

from .frontend_support import FE_FQDN, Credential, LabPki, frontend_config
from .kdc_support import REALM, UCC_PASSWORD, MitClient, RunningKdc, krb5_conf_text, lab_accounts
from .sipae_support import (
    KERBEROS_CHALLENGE,
    SPN,
    UCC_USER,
    TlsSipClient,
    frontend_kerberos,
    options_request,
    register_request,
    server_only_context,
)

pytestmark = pytest.mark.interop


def _gssapi() -> Any:
    """python-gssapi, or a skip (a failure under UCCLAB_REQUIRE_TOOLS=1, as for tools)."""
    try:
        import gssapi
    except ImportError:
        message = "python-gssapi is not installed (pip install gssapi; it builds against libkrb5-dev)"
        if os.environ.get("UCCLAB_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; UCCLAB_REQUIRE_TOOLS=1 makes this an error")
        pytest.skip(message)
    return gssapi


class MitContext:
    """MIT's security context seen through the interface :class:`fakes.sipae.SipaeClient` uses."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def get_mic(self, data: bytes) -> bytes:
        return bytes(self.context.get_signature(data))

    def verify_mic(self, data: bytes, token: bytes) -> int:
        self.context.verify_signature(data, token)  # raises gssapi's BadMICError on a bad token
        return 0


@pytest.fixture
def kdc() -> Iterator[RunningKdc]:
    running = RunningKdc(KdcCore(REALM, lab_accounts()))
    yield running
    running.stop()


def test_mit_gss_token_is_accepted_and_signatures_verify_both_ways(kdc: RunningKdc, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("kinit")
    gssapi = _gssapi()
    pki = LabPki(tmp_path / "pki")
    fe: Credential = pki.issue("fe01", cn=FE_FQDN, dns=[FE_FQDN])
    mit = MitClient(tmp_path / "mit", krb5_conf_text(kdc.port, libdefaults=["dns_canonicalize_hostname = false"]))
    kinit = mit.kinit(f"{UCC_USER}@{REALM}", UCC_PASSWORD)
    assert kinit.returncode == 0, kinit.stderr
    monkeypatch.setenv("KRB5_CONFIG", mit.env["KRB5_CONFIG"])
    monkeypatch.setenv("KRB5CCNAME", mit.env["KRB5CCNAME"])

    # GSS_Init_sec_context with integrity only (the KDC runs on its own thread: this blocks).
    target = gssapi.Name(f"{SPN}@{REALM}", gssapi.NameType.kerberos_principal)
    context = gssapi.SecurityContext(name=target, usage="initiate", mech=gssapi.MechType.kerberos,
                                     flags=gssapi.RequirementFlag.integrity)
    token = context.step()
    assert context.complete and not context.actual_flags & gssapi.RequirementFlag.mutual_authentication

    client = SipaeClient(KERBEROS_CHALLENGE, MitContext(context), bytes(token), rng=os.urandom)
    statuses: list[int | None] = []

    async def scenario() -> FrontendServer:
        async with FrontendServer(frontend_config(pki, fe, kerberos=frontend_kerberos())) as frontend:
            connection = await TlsSipClient.connect(frontend.port, server_only_context(pki.ca_path))
            for request in (register_request(), options_request()):
                [answer] = await connection.send(client.authorize(request))
                statuses.append(answer.status)
                assert answer.message is not None
                client.verify(answer.message)  # MIT's GSS_VerifyMIC over the Front End's rspauth
            await connection.close()
        return frontend

    frontend = asyncio.run(scenario())
    assert statuses == [200, 200]
    [authenticated] = frontend.events.of_type("sipae-authenticated")
    assert authenticated["principal"] == f"{UCC_USER}@{REALM}" and authenticated["signed"] is True
    assert frontend.events.of_type("sipae-verified", method="OPTIONS", cnum=2)
    # MIT asked the KDC for the Front End's SPN: the KDC's evidence.
    assert any(e.ok and e.server == f"{SPN}@{REALM}" for e in kdc.events)
