"""The connector's TLS/Kerberos login over real sockets: the KDC stand-in, the Front End
stand-in with MS-SIPAE Kerberos, and the connector configured as the page's TLS procedure
leaves it (JKS trust store as -cert_store_file, krb5.conf as -krb_conf_file, the
Microsoft-OCS password).

Judged by both ends: the connector's report (Java's text, the diagnosis) and the Front
End's and KDC's event logs (who authenticated, who never got that far).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

import pytest
import trustme
from cryptography import x509

from fakes.configserver import CfgApplication, CfgPortInfo, ListeningMode
from fakes.frontend import FrontendServer
from fakes.kdc import Account, DomainPolicy, KdcServer
from harness.artifacts import Krb5Conf, keytool_import, page_krb5_conf, write_krb5_conf
from harness.connector import (
    MICROSOFT_OCS,
    ConnectorArguments,
    ConnectorError,
    KerberosReport,
    UCConnector,
    format_arguments,
)
from tests.fakes.frontend_support import FE_FQDN, UCC_FQDN, Credential, LabPki, frontend_config
from tests.fakes.kdc_support import DES_PASSWORD, REALM, UCC_PASSWORD, lab_accounts
from tests.fakes.sipae_support import DES_USER, DOMAIN, SPN, UCC_USER, frontend_kerberos

KRB5_CONF = r"C:\GCTI\UCConnector\etc\krb5.conf"
TRUST_STORE = r"C:\GCTI\UCConnector\etc\UCC_store.jks"
TLS_ARGUMENTS = ConnectorArguments(host="labdc01.companya.com", port=2020, app="UCC", krb_conf_file=KRB5_CONF,
                                   cert_store_pass="changeit", cert_store_file=TRUST_STORE)


@dataclass(frozen=True)
class Lab:
    folder: Path
    pki: LabPki
    frontend: Credential
    trust_store: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    folder = tmp_path_factory.mktemp("tls-kerberos")
    pki = LabPki(folder)
    frontend = pki.issue("fe01", cn=FE_FQDN, dns=[FE_FQDN])
    # "Adding the Certificate to the UC Connector Installation": keytool -import → JKS.
    store = keytool_import(folder / "UCC_store.jks", alias="ucc-cert", certificate=pki.certificate,
                           password="changeit", storetype="jks")
    return Lab(folder, pki, frontend, store)


@dataclass
class Run:
    """One login's evidence from the three sides."""

    report: KerberosReport
    frontend: FrontendServer
    kdc: KdcServer
    files: dict[str, Path] = field(default_factory=dict)

    def fe(self, type_: str, **fields: Any) -> list[dict[str, Any]]:
        return self.frontend.events.of_type(type_, **fields)


def _connector(lab: Lab, files: dict[str, Path], *, arguments: ConnectorArguments = TLS_ARGUMENTS,
               options: dict[str, str] | None = None, clock: Callable[[], float] = time.time,
               frontend_fqdn: str = FE_FQDN, endpoint_identification: str | None = None) -> UCConnector:
    app = CfgApplication(
        name="UCC",
        command_line_arguments=format_arguments(arguments),
        options={MICROSOFT_OCS: {"password": UCC_PASSWORD, "user": UCC_USER} if options is None else options},
        port_infos=[CfgPortInfo.with_mode("lync-tls", 5070, conn_protocol="sip", mode=ListeningMode.SECURED)],
    )
    return UCConnector.from_application(
        app, resolve_path=lambda windows: files.get(windows, lab.folder / "absent" / PureWindowsPath(windows).name),
        java_home=None, frontend_fqdn=frontend_fqdn, ucc_fqdn=UCC_FQDN, rng=random.Random(11), clock=clock,
        endpoint_identification=endpoint_identification)  # type: ignore[arg-type]


def login(lab: Lab, tmp_path: Path, *, conf: Callable[[int], Krb5Conf | None] | None = None,
          options: dict[str, str] | None = None, clock: Callable[[], float] = time.time,
          principal: str | None = None, frontend_changes: dict[str, Any] | None = None,
          arguments: ConnectorArguments = TLS_ARGUMENTS, accounts: list[Account] | None = None,
          policy: DomainPolicy | None = None, connector_changes: dict[str, Any] | None = None) -> Run:
    """Start a KDC (the page's ``accounts`` under the domain's ``policy``: by default a
    modern DC's, without DES) and a Kerberos Front End, write the krb5.conf
    (``conf(kdc_port)``; by default the page's file with the lab's KDC), and log the
    connector in."""

    async def scenario() -> Run:
        kdc = KdcServer(lab_accounts() if accounts is None else accounts, realm=REALM, policy=policy)
        await kdc.start()
        changes: dict[str, Any] = {"kerberos": frontend_kerberos()}
        changes.update(frontend_changes or {})
        try:
            async with FrontendServer(frontend_config(lab.pki, lab.frontend, **changes)) as frontend:
                files = {TRUST_STORE: lab.trust_store}
                krb5 = (conf or _page_conf)(kdc.port)
                if krb5 is not None:
                    files[KRB5_CONF] = write_krb5_conf(tmp_path / "krb5.conf", krb5)
                connector = _connector(lab, files, options=options, clock=clock, arguments=arguments,
                                       **(connector_changes or {}))
                report = await connector.login("127.0.0.1", frontend.port, timeout=5, principal=principal)
                # The Front End logs its last answer before the connector reads it: nothing to wait for.
                return Run(report, frontend, kdc, files)
        finally:
            await kdc.close()

    return asyncio.run(scenario())


def _page_conf(port: int, **libdefaults: str) -> Krb5Conf:
    """The page's krb5.conf with the lab's realm and KDC in it, and ``libdefaults`` added."""
    conf = page_krb5_conf(REALM, f"127.0.0.1:{port}", DOMAIN)
    conf.libdefaults.update(libdefaults)
    return conf


def _ucc_with(**state: Any) -> list[Account]:
    """The page's accounts with the OCS user in another state (disabled, locked out ...)."""
    return [Account(a.sam_account_name, a.password, upn=a.upn, spns=a.spns, **state)
            if a.sam_account_name == UCC_USER else a for a in lab_accounts()]


# -- the page's procedure, done right -----------------------------------------------------------


def test_login_is_confirmed_by_the_front_end_and_signing_works(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path)
    report = run.report
    assert report.outcome == "confirmed", report
    assert (report.principal, report.realm, report.targetname) == (f"{UCC_USER}@{REALM}", REALM, SPN)
    assert report.kdc == [f"127.0.0.1:{run.kdc.port}"] and report.enctypes_offered == [18, 17]
    assert report.as_rep_enctype == 18 and report.ticket_enctype == 18
    assert report.rspauth_verified and report.findings == [] and report.code is None
    assert [(r["method"], r["status"], r["authenticated"], r["rspauth_verified"]) for r in report.responses] == [
        ("REGISTER", 401, False, False), ("REGISTER", 200, True, True), ("OPTIONS", 200, True, True)]
    # The Front End's evidence: no client certificate, challenged, then this principal.
    assert run.fe("sipae-required") and run.fe("sipae-challenge", method="REGISTER")
    [authenticated] = run.fe("sipae-authenticated")
    assert authenticated["principal"] == f"{UCC_USER}@{REALM}" and authenticated["signed"] is True
    assert authenticated["enctype_name"] == "aes256-cts-hmac-sha1-96"
    [verified] = run.fe("sipae-verified")
    assert verified["method"] == "OPTIONS" and verified["opaque"] == authenticated["opaque"] and verified["cnum"] == 2
    assert [e["status"] for e in run.frontend.events.responses()] == [401, 200, 200]
    [binding] = run.frontend.registrar.bindings(f"sip:{UCC_USER}@{DOMAIN}")
    assert binding.peer == f"{UCC_USER}@{REALM}" and binding.contact == f"sip:{UCC_FQDN}:5070;transport=tls"
    # The KDC's: a TGT for ocs-ucc, a ticket for the Front End's SPN.
    issued = [(e.request, e.client, e.server) for e in run.kdc.events if e.ok]
    assert issued == [("AS-REQ", f"{UCC_USER}@{REALM}", f"krbtgt/{REALM}@{REALM}"),
                      ("TGS-REQ", f"{UCC_USER}@{REALM}", f"{SPN}@{REALM}")]
    assert report.to_dict()["findings"] == []


def test_without_the_user_option_the_pages_example_account_is_used_with_a_warning(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, options={"password": UCC_PASSWORD})
    assert run.report.outcome == "confirmed"
    assert [(f.code, f.severity) for f in run.report.findings] == [("ocs-user-missing", "warning")]


def test_udp_preference_limit_1_sends_every_kdc_request_over_tcp(lab: Lab, tmp_path: Path) -> None:
    def tcp_only(port: int) -> Krb5Conf:
        conf = _page_conf(port)
        conf.libdefaults["udp_preference_limit"] = "1"
        return conf

    run = login(lab, tmp_path, conf=tcp_only)
    assert run.report.outcome == "confirmed"
    assert {e.transport for e in run.kdc.events} == {"tcp"}


# -- the page's DES option --------------------------------------------------------------------


def test_des_only_account_fails_with_14_when_weak_crypto_is_off(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, options={"password": DES_PASSWORD, "user": DES_USER})
    report = run.report
    assert (report.outcome, report.code, report.krb_error_code) == ("error", "krb-des-disabled", 14)
    assert report.error == "KDC has no support for encryption type (14)"
    assert report.exception == "javax.security.auth.login.LoginException"
    assert report.hint is not None and "RFC 6649" in report.hint
    assert "Use Kerberos DES encryption for this account" in report.hint
    assert not run.fe("sipae-authenticated") and not run.fe("sipae-rejected")


def test_des_only_account_with_allow_weak_crypto_fails_at_a_modern_dc(lab: Lab, tmp_path: Path) -> None:
    """The page's literal DES option: allow_weak_crypto makes Java offer DES, the DC refuses it."""
    run = login(lab, tmp_path, conf=lambda port: _page_conf(port, allow_weak_crypto="true"),
                options={"password": DES_PASSWORD, "user": DES_USER})
    report = run.report
    assert (report.outcome, report.code, report.krb_error_code) == ("error", "krb-des-disabled", 14)
    assert report.error == "KDC has no support for encryption type (14)"
    assert 1 in report.enctypes_offered and 3 in report.enctypes_offered
    assert report.hint is not None and "KDC event 14" in report.hint and "allow_weak_crypto" in report.hint
    [refused] = [e for e in run.kdc.evidence if e.get("error_code") == 14]
    assert refused["ad_event"]["id"] == 14 and refused["ad_event"]["text"].startswith(
        f"While processing an AS request for target service krbtgt, the account {DES_USER} did not have a "
        "suitable key for generating a Kerberos ticket (the missing key has an ID of 1). The requested etypes : "
        "18 17 16 23 1 3.")
    assert not run.fe("sipae-authenticated")


def test_des_only_account_with_allow_weak_crypto_in_a_domain_that_allows_des(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, conf=lambda port: _page_conf(port, allow_weak_crypto="true"),
                options={"password": DES_PASSWORD, "user": DES_USER}, policy=DomainPolicy(des_enabled=True))
    report = run.report
    assert report.outcome == "confirmed", report
    assert report.as_rep_enctype in (1, 3) and 3 in report.enctypes_offered and 1 in report.enctypes_offered
    [finding] = report.findings
    assert (finding.code, finding.severity) == ("krb-weak-crypto-enabled", "warning")
    assert "single-DES keys only" in finding.message and "RFC 6649" in finding.hint
    assert run.fe("sipae-authenticated")[0]["principal"] == f"{DES_USER}@{REALM}"


# -- krb5.conf's enctype lists, as JDK 17.0.15 reads them -------------------------------------------


@pytest.mark.parametrize("libdefaults, error", [
    ({"default_tkt_enctypes": "des-cbc-crc"},
     "out of 1 default etypes no supported etypes found for configuration default_tkt_enctypes"),
    ({"default_tkt_enctypes": "des-cbc-crc des-cbc-md5"},
     "out of 2 default etypes no supported etypes found for configuration default_tkt_enctypes"),
    # Unknown names count; a comma anywhere makes it the only separator, spaces stay in names.
    ({"default_tkt_enctypes": "des nonsense rc4-hmac"},
     "out of 3 default etypes no supported etypes found for configuration default_tkt_enctypes"),
    ({"default_tkt_enctypes": "des-cbc-crc, aes128-cts"},
     "out of 2 default etypes no supported etypes found for configuration default_tkt_enctypes"),
    # permitted_enctypes stands in for a missing default_tkt_enctypes, under the latter's name.
    ({"permitted_enctypes": "des-cbc-md5 des3-cbc-sha1"},
     "out of 2 default etypes no supported etypes found for configuration default_tkt_enctypes"),
], ids=["one-des", "two-des", "unknown-names", "comma", "permitted"])
def test_weak_only_enctype_lists_fail_before_any_kdc_request(lab: Lab, tmp_path: Path, libdefaults: dict[str, str],
                                                               error: str) -> None:
    run = login(lab, tmp_path, conf=lambda port: _page_conf(port, **libdefaults))
    report = run.report
    assert (report.outcome, report.code, report.error) == ("error", "krb-des-disabled", error)
    assert report.exception == "javax.security.auth.login.LoginException" and report.krb_error_code is None
    assert run.kdc.events == []  # Java sends nothing


def test_enctype_lists_choose_what_is_offered(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, conf=lambda port: _page_conf(port, default_tkt_enctypes="des-cbc-crc,AES128-CTS",
                                                            default_tgs_enctypes="aes256-cts"))
    assert run.report.outcome == "confirmed", run.report
    assert run.report.enctypes_offered == [17] and run.report.as_rep_enctype == 17
    as_req, tgs_req = (next(e for e in run.kdc.events if e.request == kind and e.ok) for kind in ("AS-REQ", "TGS-REQ"))
    assert as_req.requested_etypes == (17,) and tgs_req.requested_etypes == (18,)


def test_default_tgs_enctypes_is_read_at_the_tgs_exchange(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, conf=lambda port: _page_conf(port, default_tgs_enctypes="des-cbc-md5"))
    report = run.report
    assert (report.code, report.error) == (
        "krb-des-disabled", "out of 1 default etypes no supported etypes found for configuration default_tgs_enctypes")
    assert [(e.request, e.ok) for e in run.kdc.events] == [("AS-REQ", False), ("AS-REQ", True)]


# -- the OCS user's account state -------------------------------------------------------------------


@pytest.mark.parametrize("state, status", [
    ({"enabled": False}, "STATUS_ACCOUNT_DISABLED (0xC0000072)"),
    ({"locked_out": True}, "STATUS_ACCOUNT_LOCKED_OUT (0xC0000234)"),
    ({"account_expires": "2020-01-01T00:00:00Z"}, "STATUS_ACCOUNT_EXPIRED (0xC0000193)"),
], ids=["disabled", "locked-out", "expired"])
def test_revoked_accounts_fail_with_18(lab: Lab, tmp_path: Path, state: dict[str, Any], status: str) -> None:
    run = login(lab, tmp_path, accounts=_ucc_with(**state))
    report = run.report
    assert (report.outcome, report.code, report.krb_error_code) == ("error", "krb-account-revoked", 18)
    assert report.error == "Clients credentials have been revoked (18)"
    assert report.detail is not None and f"the KDC's KERB-EXT-ERROR: {status}" in report.detail
    assert report.hint is not None and "Account tab" in report.hint
    assert run.kdc.events[-1].ntstatus is not None and run.kdc.events[-1].ntstatus.name in status


def test_user_must_change_password_at_next_logon_fails_with_23(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, accounts=_ucc_with(must_change_password=True))
    report = run.report
    assert (report.outcome, report.code, report.krb_error_code) == ("error", "krb-password-expired", 23)
    assert report.error == "Password has expired - change password to reset (23)"
    assert report.detail is not None and "STATUS_PASSWORD_MUST_CHANGE (0xC0000224)" in report.detail
    assert report.hint is not None and "User must change password at next logon" in report.hint
    # With a wrong password the same account is a wrong password: 23 needs the right one.
    wrong = login(lab, tmp_path, accounts=_ucc_with(must_change_password=True),
                  options={"password": "not-the-password", "user": UCC_USER})
    assert (wrong.report.code, wrong.report.krb_error_code, wrong.report.detail) == ("krb-preauth-failed", 24, None)


# -- the negative cases ---------------------------------------------------------------------------


def test_wrong_password_fails_at_the_kdc_and_the_front_end_never_sees_credentials(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, options={"password": "not-the-password", "user": UCC_USER})
    report = run.report
    assert (report.outcome, report.code, report.krb_error_code) == ("error", "krb-preauth-failed", 24)
    assert report.error == "Pre-authentication information was invalid (24)"
    assert report.hint is not None and "Creating a Password for Kerberos Security" in report.hint
    assert [r["status"] for r in report.responses] == [401]
    assert [e["reason"] for e in run.fe("sipae-challenge")] == ["no Authorization header"]
    assert not run.fe("sipae-authenticated") and not run.fe("sipae-rejected")


def test_clock_ten_minutes_ahead_fails_with_37(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, clock=lambda: time.time() + 600)
    assert (run.report.code, run.report.krb_error_code) == ("krb-clock-skew", 37)
    assert run.report.error == "Clock skew too great (37)"


def test_unknown_user_fails_with_6(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, principal="ocs-nobody")
    assert (run.report.code, run.report.krb_error_code) == ("krb-principal-unknown", 6)
    assert run.report.error == "Client not found in Kerberos database (6)"


def test_spn_not_registered_fails_with_7(lab: Lab, tmp_path: Path) -> None:
    # The Front End announces another FQDN than the one whose SPN AD holds.
    run = login(lab, tmp_path, frontend_changes={"kerberos": frontend_kerberos(
        service_principal="sip/fe02.companya.com")})
    report = run.report
    assert (report.code, report.krb_error_code) == ("krb-service-unknown", 7)
    assert report.targetname == "sip/fe02.companya.com"
    assert report.error == ("No valid credentials provided (Mechanism level: Server not found in Kerberos "
                            "database (7))")
    assert report.exception == "org.ietf.jgss.GSSException"


def test_default_realm_the_kdc_does_not_serve(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, conf=lambda port: page_krb5_conf("YOUR-OCS-DOMAIN.COM", f"127.0.0.1:{port}",
                                                                "your-ocs-domain.com"))
    assert (run.report.code, run.report.krb_error_code, run.report.error) == ("krb-realm-unknown", 68, "null (68)")


def test_realm_without_a_realms_entry(lab: Lab, tmp_path: Path) -> None:
    def other_realm(port: int) -> Krb5Conf:
        conf = _page_conf(port)
        conf.realms = {"OTHER.COM": {"kdc": [f"127.0.0.1:{port}"]}}
        return conf

    run = login(lab, tmp_path, conf=other_realm)
    assert (run.report.code, run.report.error) == ("krb-realm-unknown", "Cannot locate KDC")


def test_no_krb5_conf_at_the_configured_path(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, conf=lambda port: None)
    assert (run.report.code, run.report.error) == ("krb-conf-missing", "KrbException: Cannot locate default realm")


def test_kdc_that_does_not_answer(lab: Lab, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    run = login(lab, tmp_path, conf=lambda port: page_krb5_conf(REALM, f"127.0.0.1:{dead}", DOMAIN))
    assert run.report.code == "krb-kdc-unreachable"
    assert (run.report.error or "").startswith(f"Cannot contact any KDC for realm '{REALM}'")


def test_the_pages_placeholder_kdc_name_does_not_resolve(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, conf=lambda port: page_krb5_conf(REALM, "SERVER1.YOUR-OCS-DOMAIN.INVALID", DOMAIN))
    assert (run.report.code, run.report.exception) == ("krb-kdc-unreachable", "java.net.UnknownHostException")
    assert run.report.error == "SERVER1.YOUR-OCS-DOMAIN.INVALID: Name or service not known"


def test_front_end_without_kerberos_refuses_a_client_without_certificate(lab: Lab, tmp_path: Path) -> None:
    run = login(lab, tmp_path, frontend_changes={"kerberos": None})
    assert run.report.outcome == "error"
    # The alert depends on the TLS version the Front End's profile allows: TLS 1.3's
    # certificate_required, read after the client's handshake as Java reads it, or TLS
    # 1.2's handshake_failure (research-12 §3, OpenSSL as server).
    assert (run.report.code, run.report.error) in (
        ("client-certificate-missing", "Received fatal alert: certificate_required"),
        ("tls-handshake-failed", "Received fatal alert: handshake_failure"))
    assert run.fe("tls-failure")[0]["error"] == "peer did not return a certificate"


def test_trust_store_without_the_lab_ca_fails_tls_before_any_kerberos(lab: Lab, tmp_path: Path) -> None:
    foreign = x509.load_pem_x509_certificate(trustme.CA().cert_pem.bytes())
    store = keytool_import(tmp_path / "foreign.jks", alias="other", certificate=foreign, password="changeit",
                           storetype="jks")

    async def scenario() -> tuple[KerberosReport, FrontendServer]:
        config = frontend_config(lab.pki, lab.frontend, kerberos=frontend_kerberos())
        async with FrontendServer(config) as frontend:
            connector = _connector(lab, {TRUST_STORE: store})
            return await connector.login("127.0.0.1", frontend.port, timeout=5), frontend

    report, frontend = asyncio.run(scenario())
    assert (report.code, report.exception) == ("truststore-missing-ca", "javax.net.ssl.SSLHandshakeException")
    assert not frontend.events.requests()


def test_mtls_command_line_cannot_log_in_with_kerberos(lab: Lab) -> None:
    arguments = ConnectorArguments(cert_store_file=r"c:\gcti\x.pfx", cert_store_pass="p", cert_store_type="pkcs12",
                                   key_store_file=TRUST_STORE, key_store_pass="changeit", key_store_type="jks")
    connector = _connector(lab, {TRUST_STORE: lab.trust_store}, arguments=arguments)
    with pytest.raises(ConnectorError) as caught:
        asyncio.run(connector.login("127.0.0.1", 9))
    assert caught.value.code == "not-tls-kerberos"




def test_the_login_checks_the_front_ends_name_only_with_endpoint_identification(lab: Lab, tmp_path: Path) -> None:
    """The TLS side of the login follows the connector's JDK policy: a plain SSLSocket does
    no name check (the default), "HTTPS" endpoint identification does."""
    other = {"frontend_fqdn": "pool.companya.com"}  # the certificate names fe01 only
    assert login(lab, tmp_path, connector_changes=other).report.outcome == "confirmed"
    checked = login(lab, tmp_path / "checked", connector_changes={**other, "endpoint_identification": "HTTPS"})
    assert checked.report.outcome == "error"
    assert "No subject alternative DNS name matching pool.companya.com found" in (checked.report.error or "")
    assert checked.fe("sipae-authenticated") == []
