"""The Java probe's TLS/Kerberos login: JAAS and JGSS of OpenJDK 17 against the lab's KDC and Front End.

Each test runs a :class:`fakes.kdc.KdcServer` and a :class:`fakes.frontend.FrontendServer`
with MS-SIPAE Kerberos on one event loop, writes the page's files (``krb5.conf`` in the
page's layout, ``UCC_store.jks`` from ``keytool -import``) and runs ``UccProbe login`` with
the page's TLS command line. Verdicts come from the KDC's and the Front End's logs; Java's
texts are asserted as JDK 17 prints them.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakes.frontend import FrontendKerberos, FrontendServer
from fakes.kdc import Account, KdcCore, KdcServer
from fakes.kerberos import utc_now
from harness.artifacts import keytool_import, page_krb5_conf, write_krb5_conf
from harness.javaprobe import ProbeResult, probe_login
from tests.fakes.frontend_support import (
    FE_FQDN,
    UCC_FQDN,
    Credential,
    LabPki,
    frontend_config,
)
from tests.fakes.kdc_support import (
    DES_PASSWORD,
    FRONTEND_PASSWORD,
    REALM,
    UCC_PASSWORD,
    lab_accounts,
)

ETC = "C:\\GCTI\\UCConnector\\UCC_Lync\\etc\\"
# "Modifying Command Line Parameters for TLS": -krb_conf_file, -cert_store_pass, -cert_store_file.
TLS_ARGUMENTS = f"-krb_conf_file {ETC}krb5.conf -cert_store_pass genesys -cert_store_file {ETC}UCC_store.jks"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    """The Front End tests' lab PKI (frontend_support's ``fe`` is issued from it), where
    tests/harness/conftest.py gives the harness tests another ``pki``."""
    return LabPki(tmp_path_factory.mktemp("pki"))


@dataclass
class Login:
    """One login's report and what the KDC and the Front End logged."""

    result: ProbeResult
    kdc: list[dict[str, Any]]
    frontend: list[dict[str, Any]]

    @property
    def error(self) -> dict[str, Any]:
        assert self.result.error is not None, self.result.json
        return self.result.error

    def frontend_of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.frontend if e["type"] == kind]


def login(
    pki: LabPki,
    credential: Credential,
    files: Path,
    cache: Path,
    *,
    principal: str = "ocs-ucc",
    password: str = UCC_PASSWORD,
    accounts: Sequence[Account] | None = None,
    libdefaults: dict[str, str] | None = None,
    kdc_clock: Callable[[], datetime.datetime] = utc_now,
) -> Login:
    """The page's TLS/Kerberos files in ``files``, the KDC and the Front End up, ``UccProbe login``."""
    accounts = list(accounts if accounts is not None else lab_accounts())
    computer = next(a for a in accounts if a.sam_account_name == "FE01$")

    async def scenario() -> Login:
        kdc = KdcServer(KdcCore(REALM, accounts, now=kdc_clock))
        await kdc.start()
        try:
            conf = page_krb5_conf(realm=REALM, kdc=f"127.0.0.1:{kdc.port}", domain="companya.com")
            conf.libdefaults.update(libdefaults or {})
            files.mkdir(exist_ok=True)
            write_krb5_conf(files / "krb5.conf", conf)
            keytool_import(files / "UCC_store.jks", alias="ucc-cert", certificate=pki.certificate, password="genesys")
            config = frontend_config(pki, credential,
                                     kerberos=FrontendKerberos(tuple(computer.keys(REALM).values())))
            async with FrontendServer(config) as frontend:
                result = await probe_login(frontend=("127.0.0.1", frontend.port), frontend_fqdn=FE_FQDN,
                                           ucc_fqdn=UCC_FQDN, arguments=TLS_ARGUMENTS, files=files,
                                           principal=principal, password=password, cache_dir=cache)
                seen = [e for e in frontend.events if e.get("connection") is not None]
            return Login(result, [e.to_dict() for e in kdc.events], seen)
        finally:
            await kdc.close()

    return asyncio.run(scenario())


def test_login_confirmed_by_the_kdc_and_the_front_end(
        pki: LabPki, fe: Credential, tmp_path: Path, java_cache: Path) -> None:
    done = login(pki, fe, tmp_path, java_cache)
    result = done.result
    assert result.outcome == "confirmed", result.json
    # The KDC issued the TGT and the ticket for sip/fe01.companya.com.
    assert [(e["request"], e["ok"]) for e in done.kdc] == [("AS-REQ", False), ("AS-REQ", True), ("TGS-REQ", True)]
    assert done.kdc[2]["server"] == f"sip/{FE_FQDN}@{REALM}"
    # The Front End authenticated the principal from Java's AP-REQ, verified the signed REGISTER, answered 200.
    [authenticated] = done.frontend_of_type("sipae-authenticated")
    assert authenticated["principal"] == f"ocs-ucc@{REALM}"
    assert authenticated["signed"] is True
    assert [e["status"] for e in done.frontend_of_type("response")] == [401, 200]
    # And Java verified the Front End's rspauth over the 200.
    assert result.json["rspauth_verified"] is True
    assert result.json["challenge"] == {"status": 401, "realm": "SIP Communications Service",
                                        "targetname": f"sip/{FE_FQDN}", "version": "4"}
    kerberos = result.json["kerberos"]
    assert kerberos["tgt"]["session_key_enctype_name"] == "aes256-cts-hmac-sha1-96"
    assert kerberos["service_ticket"]["server"] == f"sip/{FE_FQDN}@{REALM}"
    assert result.json["tls"]["local_certificate"] is None  # TLS, not MTLS


def _login_error(done: Login) -> tuple[str, str, str]:
    return done.error["phase"], done.error["exception"], done.error["message"]


LOGIN_EXCEPTION = "javax.security.auth.login.LoginException"


def test_wrong_microsoft_ocs_password(pki: LabPki, fe: Credential, tmp_path: Path,
                                      java_cache: Path) -> None:
    done = login(pki, fe, tmp_path, java_cache, password="not-the-password")
    assert _login_error(done) == ("login", LOGIN_EXCEPTION, "Pre-authentication information was invalid (24)")
    assert done.kdc[-1]["error_code"] == 24
    assert done.frontend == []  # the connector never gets as far as the Front End


def test_unknown_principal(pki: LabPki, fe: Credential, tmp_path: Path, java_cache: Path) -> None:
    done = login(pki, fe, tmp_path, java_cache, principal="ocs-nobody")
    assert _login_error(done) == ("login", LOGIN_EXCEPTION, "Client not found in Kerberos database (6)")


def test_clock_skew(pki: LabPki, fe: Credential, tmp_path: Path, java_cache: Path) -> None:
    done = login(pki, fe, tmp_path, java_cache,
                 kdc_clock=lambda: utc_now() + datetime.timedelta(minutes=10))
    # Unlike MIT's kinit, Java does not take the KDC's time from the PREAUTH_REQUIRED error.
    assert _login_error(done) == ("login", LOGIN_EXCEPTION, "Clock skew too great (37)")


def test_des_only_account_without_allow_weak_crypto(pki: LabPki, fe: Credential, tmp_path: Path,
                                                    java_cache: Path) -> None:
    """The page's "Use Kerberos DES encryption for this account": JDK 17 offers only AES by default."""
    done = login(pki, fe, tmp_path, java_cache, principal="ocs-des", password=DES_PASSWORD)
    assert _login_error(done) == ("login", LOGIN_EXCEPTION, "KDC has no support for encryption type (14)")
    assert done.kdc[-1]["requested_etypes"] == [18, 17, 20, 19]


def test_des_forced_in_krb5_conf_without_allow_weak_crypto(pki: LabPki, fe: Credential,
                                                           tmp_path: Path, java_cache: Path) -> None:
    done = login(pki, fe, tmp_path, java_cache, principal="ocs-des", password=DES_PASSWORD,
                 libdefaults={"default_tkt_enctypes": "des-cbc-crc"})
    assert _login_error(done) == (
        "login", LOGIN_EXCEPTION,
        "out of 1 default etypes no supported etypes found for configuration default_tkt_enctypes")
    assert done.kdc == []  # Java sends nothing


def test_des_only_account_with_allow_weak_crypto_is_refused_by_a_modern_dc(
        pki: LabPki, fe: Credential, tmp_path: Path, java_cache: Path) -> None:
    """With weak crypto allowed JDK 17 also offers 1 and 3, but a 2008 R2+ DC has single DES
    off (KB 977321): Java's login gets 14. (In a domain that allows DES it gets a TGT:
    tests/harness/test_javaprobe_kdc.py.)"""
    done = login(pki, fe, tmp_path, java_cache, principal="ocs-des", password=DES_PASSWORD,
                 libdefaults={"allow_weak_crypto": "true"})
    assert done.result.outcome != "confirmed"
    assert "KDC has no support for encryption type (14)" in json.dumps(done.result.json)
    [refused] = [e for e in done.kdc if e["request"] == "AS-REQ"]
    assert refused["error_code"] == 14 and refused["requested_etypes"] == [18, 17, 20, 19, 16, 23, 1, 3]


def test_front_end_spn_not_registered(pki: LabPki, fe: Credential, tmp_path: Path,
                                      java_cache: Path) -> None:
    accounts = [a for a in lab_accounts() if a.sam_account_name != "FE01$"]
    accounts.append(Account("FE01$", FRONTEND_PASSWORD, spns=(f"HOST/{FE_FQDN}",)))
    done = login(pki, fe, tmp_path, java_cache, accounts=accounts)
    assert _login_error(done) == (
        "gss", "org.ietf.jgss.GSSException",
        "No valid credentials provided (Mechanism level: Server not found in Kerberos database (7))")
    assert done.result.json["kerberos"]["tgt"] is not None
    assert [e["status"] for e in done.frontend_of_type("response")] == [401]


def test_trust_store_without_the_front_ends_ca(pki: LabPki, fe: Credential, tmp_path: Path,
                                               java_cache: Path) -> None:
    """On this path -cert_store_file is the trust store: another CA's certificate in it fails TLS after the login."""
    other = LabPki(tmp_path / "other-ca", name="other-CA")
    done = login(other, fe, tmp_path / "files", java_cache)
    assert done.error["phase"] == "handshake"
    assert done.error["message"].startswith("PKIX path building failed")
    assert done.result.json["kerberos"]["tgt"] is not None


def test_without_krb_conf_file_java_never_reads_this_machines_krb5_conf(
        pki: LabPki, tmp_path: Path, java_cache: Path) -> None:
    """No -krb_conf_file: the JDK is pointed where a Windows JDK looks (C:\\Windows\\krb5.ini on
    the connector's host, absent), so the login fails the same on every machine, whatever
    /etc/krb5.conf holds (Debian's names ATHENA.MIT.EDU and kerberos.mit.edu)."""
    keytool_import(tmp_path / "UCC_store.jks", alias="ucc-cert", certificate=pki.certificate, password="genesys")
    arguments = f"-cert_store_pass genesys -cert_store_file {ETC}UCC_store.jks"
    result = asyncio.run(probe_login(frontend=("127.0.0.1", 9), frontend_fqdn=FE_FQDN, ucc_fqdn=UCC_FQDN,
                                     arguments=arguments, files=tmp_path, principal="ocs-ucc", password=UCC_PASSWORD,
                                     cache_dir=java_cache))
    assert result.outcome != "confirmed"
    assert result.error is not None and result.error["message"] == "KrbException: Cannot locate default realm"
    assert result.json["jsse"]["java.security.krb5.conf"] == str(tmp_path / "krb5.ini")
