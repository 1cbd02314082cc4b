"""certsrv's Windows authentication over real HTTPS, with real NTLM clients.

The ``certsrv`` package with ``auth_method="ntlm"`` (requests-ntlm over pyspnego),
pyspnego's Negotiate (SPNEGO around NTLM), impacket's NTLM (v2 and v1) over http.client,
and the NTLM core's rules for what it cannot read. Chromium's own NTLM is in
``test_ca_browser.py``.
"""

from __future__ import annotations

import base64
import http.client
import random
import re
import shutil
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import spnego
from certsrv import Certsrv  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.serialization import Encoding
from impacket import ntlm as impacket_ntlm
from requests_ntlm import HttpNtlmAuth

from fakes.ca import CertificationAuthority, CertsrvServer
from fakes.ca._ntlm import (
    NtlmError,
    NtlmServer,
    parse_authenticate,
    spnego_unwrap,
    verify_ntlmv2,
)

from .ca_support import PASSWORD, USER, ServerThread
from .conftest import MakeCsr


@pytest.fixture(autouse=True)
def _trust_only_the_given_cafile(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify`.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca(ca_one_tier_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertificationAuthority]:
    state_dir = shutil.copytree(ca_one_tier_dir, tmp_path_factory.mktemp("ntlm") / "ca")
    with CertificationAuthority.open(Path(state_dir)) as authority:
        yield authority


@pytest.fixture(scope="module")
def server(ca: CertificationAuthority) -> Iterator[CertsrvServer]:
    with ServerThread(ca) as running:
        yield running


def _client(server: CertsrvServer, ca: CertificationAuthority, user: str = USER, password: str = PASSWORD) -> Certsrv:
    return Certsrv(f"127.0.0.1:{server.port}", user, password, auth_method="ntlm",
                   cafile=str(ca.root_certificate_path))


def _tls(ca: CertificationAuthority) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca.root_certificate_path))


# -- the certsrv package over NTLM ------------------------------------------------------------

def test_the_certsrv_client_over_ntlm_enrolls(
    server: CertsrvServer, ca: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    cursor = server.evidence.cursor
    client = _client(server, ca)
    assert client.check_credentials()
    assert client.get_ca_cert("bin") == ca.certificate.public_bytes(Encoding.DER)
    pem = client.get_cert(ca_make_csr("ucc01.companya.com").public_bytes(Encoding.PEM).decode(), "WebServerExportable")
    (record,) = [r for r in ca.requests() if r.certificate is not None
                 and r.certificate.public_bytes(Encoding.PEM) == pem.replace(b"\r\n", b"\n")]
    assert record.requester == "COMPANYA\\enroll"
    seen = server.evidence.since(cursor).records
    # IIS's answer to a client without credentials offers Negotiate and NTLM before Basic;
    # the handshake is 401 (no credentials), 401 (the CHALLENGE), then the page.
    assert [(r["auth"], r["status"]) for r in seen[:3]] == [(None, 401), ("NTLM", 401), ("NTLM", 200)]
    logged_on = [r for r in seen if r["status"] == 200]
    assert {(r["auth"], r["user"]) for r in logged_on} == {("NTLM", "enroll")}
    assert len(logged_on) >= 5  # the welcome page, certcarc, the CA certificate, the form, the certificate


@pytest.mark.parametrize(("user", "password", "why"), [
    (USER, "wrong", "wrong password for 'enroll'"),
    ("nobody", PASSWORD, "no account 'nobody'"),
    (f"OTHERDOM\\{USER}", PASSWORD, "the domain 'OTHERDOM' is not COMPANYA (companya.com)"),
])
def test_a_failed_ntlm_logon_is_401_with_the_reason_in_the_evidence(
    server: CertsrvServer, ca: CertificationAuthority, user: str, password: str, why: str,
) -> None:
    cursor = server.evidence.cursor
    assert not _client(server, ca, user, password).check_credentials()
    # magnuswatn/certsrv's tests against a real AD CS: a wrong password over NTLM is 401 Unauthorized.
    response = requests.get(server.url, auth=HttpNtlmAuth(user, password), verify=str(ca.root_certificate_path),
                            timeout=10)
    assert (response.status_code, response.reason) == (401, "Unauthorized")
    failures = [r for r in server.evidence.since(cursor).records if r["auth_error"]]
    assert failures and all(why in r["auth_error"] for r in failures)


@pytest.mark.parametrize("user", [f"COMPANYA\\{USER}", f"companya.com\\{USER}", f"{USER}@companya.com", USER.upper()])
def test_windows_spellings_of_the_account_log_on(server: CertsrvServer, ca: CertificationAuthority, user: str) -> None:
    assert _client(server, ca, user).check_credentials()


def test_basic_stays_on_beside_ntlm(server: CertsrvServer, ca: CertificationAuthority) -> None:
    client = Certsrv(f"127.0.0.1:{server.port}", USER, PASSWORD, cafile=str(ca.root_certificate_path))
    assert client.check_credentials()
    assert server.evidence.since(server.evidence.cursor - 1).records[-1]["auth"] == "Basic"


# -- Negotiate (SPNEGO) and impacket's NTLM, by hand over one connection --------------------------

def _get(connection: http.client.HTTPSConnection, authorization: str | None = None) -> http.client.HTTPResponse:
    connection.request("GET", "/certsrv/", headers={"Authorization": authorization} if authorization else {})
    response = connection.getresponse()
    response.read()
    return response


def _token(response: http.client.HTTPResponse, scheme: str) -> bytes:
    (offer,) = [v for v in response.headers.get_all("WWW-Authenticate") or [] if v.startswith(scheme + " ")]
    return base64.b64decode(offer.split(" ", 1)[1])


def test_negotiate_with_spnego_wrapped_ntlm_completes(server: CertsrvServer, ca: CertificationAuthority) -> None:
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=_tls(ca), timeout=10)
    first = _get(connection)
    assert first.status == 401 and "Negotiate" in (first.headers.get_all("WWW-Authenticate") or [])
    context = spnego.client(USER, PASSWORD, hostname="labdc01.companya.com", service="http", protocol="negotiate")
    init = context.step()
    assert init is not None and init[:1] == b"\x60"  # a GSS-API NegTokenInit, not bare NTLM
    challenge = _get(connection, "Negotiate " + base64.b64encode(init).decode())
    assert challenge.status == 401
    answer = context.step(_token(challenge, "Negotiate"))
    assert answer is not None
    done = _get(connection, "Negotiate " + base64.b64encode(answer).decode())
    assert done.status == 200
    context.step(_token(done, "Negotiate"))  # SPNEGO's accept-completed
    assert context.complete
    # The logon lasts as long as the connection: no header needed any more...
    assert _get(connection).status == 200
    connection.close()
    # ...and not a moment longer.
    fresh = http.client.HTTPSConnection("127.0.0.1", server.port, context=_tls(ca), timeout=10)
    assert _get(fresh).status == 401
    fresh.close()


@pytest.mark.parametrize(("ntlmv2", "status", "why"), [(True, 200, None), (False, 401, "only NTLMv2 is accepted")])
def test_impacket_ntlm_client(
    server: CertsrvServer, ca: CertificationAuthority, ntlmv2: bool, status: int, why: str | None,
) -> None:
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=_tls(ca), timeout=10)
    negotiate = impacket_ntlm.getNTLMSSPType1("", "COMPANYA")
    challenge = _get(connection, "NTLM " + base64.b64encode(negotiate.getData()).decode())
    authenticate, _ = impacket_ntlm.getNTLMSSPType3(
        negotiate, _token(challenge, "NTLM"), USER, PASSWORD, "COMPANYA", use_ntlmv2=ntlmv2)
    cursor = server.evidence.cursor
    done = _get(connection, "NTLM " + base64.b64encode(authenticate.getData()).decode())
    assert done.status == status
    (record,) = server.evidence.since(cursor).records
    assert record["user"] == "COMPANYA\\enroll" and record["auth"] == "NTLM"
    assert (record["auth_error"] is None) if why is None else (why in record["auth_error"])
    connection.close()


def _kerberos_only_negotiate() -> bytes:
    from impacket.spnego import SPNEGO_NegTokenInit, TypesMech

    init = SPNEGO_NegTokenInit()
    init["MechTypes"] = [TypesMech["MS KRB5 - Microsoft Kerberos 5"]]
    init["MechToken"] = b"\x60\x01\x00"
    return bytes(init.getData())


@pytest.mark.parametrize(("authorization", "why"), [
    ("NTLM !!!not-base64", "the NTLM token is not base64"),
    ("NTLM " + base64.b64encode(b"garbage, not NTLMSSP").decode(), "not an NTLMSSP message"),
    ("NTLM " + base64.b64encode(b"NTLMSSP\x00\x07\x00\x00\x00").decode(), "message type 7 is none of 1, 2, 3"),
    ("NTLM " + base64.b64encode(b"NTLMSSP\x00\x03\x00\x00\x00" + b"\xff" * 60).decode(), "lies past its end"),
    ("Negotiate " + base64.b64encode(b"\x60\x03\x06\x01\x00").decode(), "the SPNEGO token cannot be read"),
    ("Negotiate " + base64.b64encode(_kerberos_only_negotiate()).decode(), "offers no NTLM"),
    ("Digest username=\"enroll\"", "the Digest authentication scheme is not enabled here"),
])
def test_unreadable_tokens_get_401_with_the_reason_and_the_server_keeps_serving(
    server: CertsrvServer, ca: CertificationAuthority, authorization: str, why: str,
) -> None:
    cursor = server.evidence.cursor
    response = requests.get(server.url, headers={"Authorization": authorization},
                            verify=str(ca.root_certificate_path), timeout=10)
    assert response.status_code == 401
    (record,) = server.evidence.since(cursor).records
    assert why in record["auth_error"]
    assert _client(server, ca).check_credentials()


def test_an_authenticate_message_without_a_challenge_is_refused(server: CertsrvServer, ca: CertificationAuthority) -> None:
    negotiate = impacket_ntlm.getNTLMSSPType1("", "COMPANYA")
    challenge = NtlmServer("COMPANYA", "companya.com", "LABDC01", "labdc01.companya.com").challenge(
        negotiate.getData(), b"\x01" * 8, datetime.now(UTC))
    authenticate, _ = impacket_ntlm.getNTLMSSPType3(negotiate, challenge, USER, PASSWORD, "COMPANYA")
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=_tls(ca), timeout=10)
    cursor = server.evidence.cursor
    assert _get(connection, "NTLM " + base64.b64encode(authenticate.getData()).decode()).status == 401
    assert "no CHALLENGE before it" in server.evidence.since(cursor).records[0]["auth_error"]
    connection.close()


def test_random_tokens_never_get_a_server_error(server: CertsrvServer, ca: CertificationAuthority) -> None:
    chaos = random.Random(4559)
    with requests.Session() as session:
        session.verify = str(ca.root_certificate_path)
        for _ in range(60):
            noise = chaos.randbytes(chaos.randrange(0, 300))
            prefix = chaos.choice([b"", b"NTLMSSP\x00\x01\x00\x00\x00", b"NTLMSSP\x00\x03\x00\x00\x00", b"\x60", b"\xa1"])
            scheme = chaos.choice(["NTLM", "Negotiate"])
            answer = session.get(server.url, headers={"Authorization": f"{scheme} {base64.b64encode(prefix + noise).decode()}"},
                                 timeout=10)
            assert answer.status_code == 401, (scheme, prefix + noise)
    assert _client(server, ca).check_credentials()


# -- the NTLM core ------------------------------------------------------------------------------

def test_the_challenge_is_read_by_impacket_as_a_domain_member_sends_it() -> None:
    negotiate = impacket_ntlm.getNTLMSSPType1("", "COMPANYA", signingRequired=True)
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    raw = NtlmServer("COMPANYA", "companya.com", "LABDC01", "labdc01.companya.com").challenge(
        negotiate.getData(), b"12345678", moment)
    challenge = impacket_ntlm.NTLMAuthChallenge(raw)
    assert challenge["challenge"] == b"12345678"
    assert challenge["domain_name"] == "COMPANYA".encode("utf-16-le")
    pairs = impacket_ntlm.AV_PAIRS(challenge["TargetInfoFields"])
    assert pairs[impacket_ntlm.NTLMSSP_AV_HOSTNAME][1] == "LABDC01".encode("utf-16-le")
    assert pairs[impacket_ntlm.NTLMSSP_AV_DNS_HOSTNAME][1] == "labdc01.companya.com".encode("utf-16-le")
    assert pairs[impacket_ntlm.NTLMSSP_AV_DNS_DOMAINNAME][1] == "companya.com".encode("utf-16-le")
    ticks = int.from_bytes(pairs[impacket_ntlm.NTLMSSP_AV_TIME][1], "little")
    assert ticks == 116444736000000000 + int(moment.timestamp()) * 10_000_000  # FILETIME of the moment
    assert challenge["flags"] & impacket_ntlm.NTLMSSP_NEGOTIATE_SIGN  # asked for, so granted


def test_ntlmv2_verification_needs_the_right_password_and_challenge() -> None:
    negotiate = impacket_ntlm.getNTLMSSPType1("", "COMPANYA")
    raw = NtlmServer("COMPANYA", "companya.com", "LABDC01", "labdc01.companya.com").challenge(
        negotiate.getData(), b"\x11" * 8, datetime.now(UTC))
    authenticate, _ = impacket_ntlm.getNTLMSSPType3(negotiate, raw, USER, PASSWORD, "COMPANYA")
    message = parse_authenticate(authenticate.getData())
    assert (message.user, message.domain, message.account) == (USER, "COMPANYA", "COMPANYA\\enroll")
    assert verify_ntlmv2(message, PASSWORD, b"\x11" * 8)
    assert not verify_ntlmv2(message, PASSWORD + "x", b"\x11" * 8)
    assert not verify_ntlmv2(message, PASSWORD, b"\x22" * 8)


@pytest.mark.parametrize(("token", "why"), [
    (b"", "not an NTLMSSP message (0 bytes"),
    (b"NTLMSSP\x00\x03\x00\x00\x00", "shorter than its 64-byte header"),
    (b"NTLMSSP\x00\x01\x00\x00\x00" + b"\x00" * 60, "expected an AUTHENTICATE (type 3) message"),
])
def test_the_core_names_what_is_wrong_with_a_message(token: bytes, why: str) -> None:
    with pytest.raises(NtlmError, match=re.escape(why)):
        parse_authenticate(token)


def test_bare_ntlm_passes_through_spnego_unwrap() -> None:
    negotiate = impacket_ntlm.getNTLMSSPType1("", "COMPANYA").getData()
    assert spnego_unwrap(negotiate) == (negotiate, False)
    with pytest.raises(NtlmError, match="neither SPNEGO nor NTLMSSP"):
        spnego_unwrap(b"\x30\x00")

