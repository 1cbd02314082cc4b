"""TLS/Kerberos end to end: the KDC, MS-SIPAE at the Front End, the connector's login —
judged by the KDC's and the Front End's logs — and MIT Kerberos against the lab's files."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os
import ssl
import subprocess
from pathlib import Path

import gssapi
import pytest

from fakes.sip import NEED_DATA, MessageReceived, SipStream, make_request

from harness.artifacts import read_krb5_conf, write_krb5_conf
from harness.pytest_plugin import LabThread
from tests.conftest import require_tool


def _kerberos(result) -> dict:
    [h] = [h for h in result.handshakes if h["kind"] == "tls-kerberos"]
    return h


def _codes(handshake: dict) -> list[str]:
    return [d["code"] for d in handshake["diagnoses"]]


def test_login_confirmed_with_kdc_and_front_end_evidence(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("tls-kerberos")
    assert result.outcome == "confirmed" and result.exit_code == 0
    h = _kerberos(result)
    kdc = h["evidence"]["kdc"]
    assert kdc["tgt"]["client"] == "ocs-ucc@COMPANYA.COM" and kdc["tgt"]["detail"] == "TGT issued"
    assert kdc["service_ticket"]["server"] == "sip/fe01.companya.com@COMPANYA.COM"
    frontend = h["evidence"]["frontend"]
    assert frontend["authenticated"]["principal"] == "ocs-ucc@COMPANYA.COM"
    assert frontend["register"]["status"] == 200
    assert h["evidence"]["connector"]["rspauth_verified"] is True
    # lab.json tells outside tools how to log in.
    doc = json.loads(ucclab_lab.lab.lab_json_path.read_text())
    assert doc["kerberos"]["ucc_principal"] == "ocs-ucc@COMPANYA.COM"
    assert doc["kerberos"]["frontend_spn"] == "sip/fe01.companya.com@COMPANYA.COM"
    # The page's DES option is a gap the default replay does not follow.
    [des] = [e for e in result.transcript.entries if e.step_id == "kerberos_ad.select_account_options"]
    assert "RFC 6649" in des.gap


def test_the_pages_des_option_fails_a_modern_client_and_says_why(ucclab_lab: LabThread) -> None:
    result = ucclab_lab.replay("tls-kerberos", ["kerberos_ad.select_account_options.use_des=true"])
    h = _kerberos(result)
    assert h["outcome"] != "confirmed"
    [diagnosis] = [d for d in h["diagnoses"] if d["code"] == "krb-des-disabled"]
    assert "(14)" in diagnosis["message"]
    assert diagnosis["doc_step"] == "Configuring Kerberos Security in Active Directory, step 3"
    assert "RFC 6649" in diagnosis["fix"]
    assert [e["error_code"] for e in h["evidence"]["kdc"]["log"] if e["request"] == "AS-REQ"][-1] == 14


def test_des_with_allow_weak_crypto_is_refused_by_a_modern_dc(ucclab_lab: LabThread) -> None:
    """allow_weak_crypto lets the client offer DES, but a 2008 R2+ DC has single DES off
    (KB 977321): the AS-REQ gets 14 with the DC's event 14, whatever the client allows."""
    result = ucclab_lab.replay(
        "tls-kerberos",
        ["kerberos_ad.select_account_options.use_des=true", "krb5_conf.modify_krb5_conf.allow_weak_crypto=true"],
    )
    h = _kerberos(result)
    assert h["outcome"] != "confirmed"
    assert "krb-des-disabled" in _codes(h)
    [refused] = [e for e in h["evidence"]["kdc"]["log"] if e["type"] == "AS-REQ"]
    assert refused["error_code"] == 14 and refused["ad_event"]["id"] == 14
    [conf] = [e for e in result.transcript.entries if e.step_id == "krb5_conf.modify_krb5_conf"]
    assert "insecure" in conf.note


@pytest.mark.parametrize(
    "sets, code, krb_error",
    [
        (["kerberos_password.set_password_option.password=Wrong-Password-1"], "krb-preauth-failed", 24),
        (["krb5_conf.modify_krb5_conf.default_realm=OTHER.COM"], "krb-realm-unknown", None),
    ],
)
def test_login_failures(ucclab_lab: LabThread, sets: list[str], code: str, krb_error: int | None) -> None:
    result = ucclab_lab.replay("tls-kerberos", sets)
    h = _kerberos(result)
    assert h["outcome"] != "confirmed"
    assert code in _codes(h)
    if krb_error is not None:
        assert krb_error in [e["error_code"] for e in h["evidence"]["kdc"]["log"]]
    # The Front End never saw an authenticated REGISTER.
    assert h["evidence"]["frontend"]["authenticated"] is None


def test_spn_not_registered(ucclab_lab: LabThread) -> None:
    lab = ucclab_lab.lab
    assert lab.domain is not None
    ucclab_lab.run(lab.domain.update("FE01$", spns=("HOST/fe01.companya.com",)))
    h = _kerberos(ucclab_lab.replay("tls-kerberos"))
    assert "krb-service-unknown" in _codes(h)
    assert 7 in [e["error_code"] for e in h["evidence"]["kdc"]["log"]]


def test_clock_skew_beyond_five_minutes(ucclab_lab: LabThread) -> None:
    """The KDC's clock ten minutes ahead of the connector's: AD refuses the timestamp (37)."""
    ucclab_lab.run(ucclab_lab.lab.admin["kdc"].put("clock-offset", 600))
    h = _kerberos(ucclab_lab.replay("tls-kerberos"))
    assert "krb-clock-skew" in _codes(h)
    assert 37 in [e["error_code"] for e in h["evidence"]["kdc"]["log"]]


def _mit(lab: LabThread, tmp_path: Path, *, tcp: bool) -> dict[str, str]:
    """An environment for MIT tools using the krb5.conf the page's procedure wrote."""
    conf = read_krb5_conf(lab.lab.manifest.file("krb5-conf"))
    if tcp:
        conf.libdefaults["udp_preference_limit"] = "1"
    path = write_krb5_conf(tmp_path / f"krb5-{'tcp' if tcp else 'udp'}.conf", conf)
    return {**os.environ, "KRB5_CONFIG": str(path), "KRB5CCNAME": f"FILE:{tmp_path}/cc-{'tcp' if tcp else 'udp'}"}


@pytest.mark.interop
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_mit_kinit_and_kvno_with_the_generated_krb5_conf(ucclab_lab: LabThread, tmp_path: Path, tcp: bool) -> None:
    ucclab_lab.replay("tls-kerberos")
    mark = len(ucclab_lab.lab.kdc.events)
    env = _mit(ucclab_lab, tmp_path, tcp=tcp)
    kinit, kvno, klist = require_tool("kinit"), require_tool("kvno"), require_tool("klist")
    password = ucclab_lab.lab.secrets.ucc_account_password  # the Microsoft-OCS password
    run = subprocess.run([kinit, "ocs-ucc@COMPANYA.COM"], input=password + "\n", env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([kvno, "sip/fe01.companya.com@COMPANYA.COM"], env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert "sip/fe01.companya.com@COMPANYA.COM: kvno = " in run.stdout
    listing = subprocess.run([klist], env=env, capture_output=True, text=True, timeout=30).stdout
    assert "krbtgt/COMPANYA.COM@COMPANYA.COM" in listing and "sip/fe01.companya.com@COMPANYA.COM" in listing
    transports = {e.transport for e in ucclab_lab.lab.kdc.events[mark:]}
    assert transports == {"tcp" if tcp else "udp"}


@pytest.mark.interop
def test_mit_gss_token_accepted_by_the_front_end(ucclab_lab: LabThread, tmp_path: Path) -> None:
    """python-gssapi (MIT's libgssapi_krb5) makes the initial token; the Front End authenticates it."""
    ucclab_lab.replay("tls-kerberos")
    env = _mit(ucclab_lab, tmp_path, tcp=False)
    run = subprocess.run([require_tool("kinit"), "ocs-ucc@COMPANYA.COM"], input=ucclab_lab.lab.secrets.ucc_account_password + "\n",
                         env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    os.environ["KRB5_CONFIG"], os.environ["KRB5CCNAME"] = env["KRB5_CONFIG"], env["KRB5CCNAME"]
    try:
        name = gssapi.Name("sip/fe01.companya.com@COMPANYA.COM", gssapi.NameType.kerberos_principal)
        context = gssapi.SecurityContext(name=name, usage="initiate", flags=gssapi.RequirementFlag.integrity)
        token = context.step()
    finally:
        del os.environ["KRB5_CONFIG"], os.environ["KRB5CCNAME"]

    lab = ucclab_lab.lab
    authorization = (
        'Kerberos qop="auth", realm="SIP Communications Service", targetname="sip/fe01.companya.com", '
        f'gssapi-data="{base64.b64encode(token).decode()}", version=4'
    )
    request = make_request(
        "REGISTER", "sip:companya.com", via="SIP/2.0/TLS 127.0.0.1:5061", branch="z9hG4bKmit1",
        from_uri="sip:ocs-ucc@companya.com", from_tag="mit", to_uri="sip:ocs-ucc@companya.com",
        call_id="mit-register-1", cseq=1, headers=[("Contact", "<sip:ucc01.companya.com:5061;transport=tls>"),
                                                   ("Authorization", authorization)],
    )

    async def send() -> int:
        context = ssl.create_default_context(cafile=str(lab.ca_root_pem_path))
        reader, writer = await asyncio.open_connection(lab.bind_host, lab.frontend.port, ssl=context,
                                                       server_hostname="fe01.companya.com")
        writer.write(request)
        await writer.drain()
        stream = SipStream()
        while True:
            event = stream.next_event()
            if event is NEED_DATA:
                stream.receive_data(await reader.read(65536))
                continue
            writer.close()
            assert isinstance(event, MessageReceived)
            return event.message.code

    assert ucclab_lab.run(send()) == 200
    [authenticated] = lab.frontend.events.of_type("sipae-authenticated")[-1:]
    assert authenticated["principal"] == "ocs-ucc@COMPANYA.COM"
