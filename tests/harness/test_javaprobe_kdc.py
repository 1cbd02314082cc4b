"""The real JDK 17 (JAAS and JGSS, through the Java probe) against what the KDC stand-in does
as Active Directory does: the domain's DES policy, the account states, krb5.conf enctype
lists. Java's texts are the ones the connector stand-in reports for the same cases
(tests/harness/test_connector_kerberos.py), and the diagnosis table maps them to the same
codes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakes.frontend import FrontendKerberos, FrontendServer
from fakes.kdc import Account, DomainPolicy, KdcCore, KdcServer
from harness.artifacts import keytool_import, page_krb5_conf, write_krb5_conf
from harness.diagnosis import code_for_java_error
from harness.javaprobe import ProbeResult, probe_login
from tests.fakes.frontend_support import FE_FQDN, UCC_FQDN, Credential, LabPki, frontend_config
from tests.fakes.kdc_support import DES_PASSWORD, REALM, UCC_PASSWORD, lab_accounts

from .test_javaprobe_kerberos import TLS_ARGUMENTS

LOGIN_EXCEPTION = "javax.security.auth.login.LoginException"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    """The Front End tests' lab PKI (frontend_support's ``fe`` is issued from it), where
    tests/harness/conftest.py gives the harness tests another ``pki``."""
    return LabPki(tmp_path_factory.mktemp("pki"))


@dataclass
class JavaLogin:
    """The probe's report and the KDC's evidence records."""

    result: ProbeResult
    kdc: list[dict[str, Any]]

    @property
    def failure(self) -> tuple[str, str]:
        error = self.result.error
        assert error is not None, self.result.json
        return error["exception"], error["message"]


def java_login(pki: LabPki, credential: Credential, files: Path, cache: Path, *, principal: str = "ocs-ucc",
               password: str = UCC_PASSWORD, accounts: list[Account] | None = None,
               policy: DomainPolicy | None = None, libdefaults: dict[str, str] | None = None) -> JavaLogin:
    """The page's TLS/Kerberos files, a KDC under ``policy`` and a Front End; UccProbe login."""
    accounts = lab_accounts() if accounts is None else accounts
    computer = next(a for a in accounts if a.sam_account_name == "FE01$")

    async def scenario() -> JavaLogin:
        kdc = KdcServer(KdcCore(REALM, accounts, policy=policy))
        await kdc.start()
        try:
            conf = page_krb5_conf(realm=REALM, kdc=f"127.0.0.1:{kdc.port}", domain="companya.com")
            conf.libdefaults.update(libdefaults or {})
            files.mkdir(exist_ok=True)
            write_krb5_conf(files / "krb5.conf", conf)
            keytool_import(files / "UCC_store.jks", alias="ucc-cert", certificate=pki.certificate, password="genesys")
            config = frontend_config(pki, credential, kerberos=FrontendKerberos(tuple(computer.keys(REALM).values())))
            async with FrontendServer(config) as frontend:
                result = await probe_login(frontend=("127.0.0.1", frontend.port), frontend_fqdn=FE_FQDN,
                                           ucc_fqdn=UCC_FQDN, arguments=TLS_ARGUMENTS, files=files,
                                           principal=principal, password=password, cache_dir=cache)
            return JavaLogin(result, [e.to_dict() for e in kdc.events])
        finally:
            await kdc.close()

    return asyncio.run(scenario())


def with_ucc(**state: Any) -> list[Account]:
    return [Account(a.sam_account_name, a.password, upn=a.upn, spns=a.spns, **state)
            if a.sam_account_name == "ocs-ucc" else a for a in lab_accounts()]


def test_des_with_allow_weak_crypto_is_refused_by_a_modern_dc(pki: LabPki, fe: Credential,
                                                              tmp_path: Path, java_cache: Path) -> None:
    done = java_login(pki, fe, tmp_path, java_cache, principal="ocs-des", password=DES_PASSWORD,
                      libdefaults={"allow_weak_crypto": "true"})
    assert done.failure == (LOGIN_EXCEPTION, "KDC has no support for encryption type (14)")
    assert code_for_java_error(done.failure[1]) == "krb-des-disabled"
    [refused] = done.kdc
    assert refused["requested_etypes"] == [18, 17, 20, 19, 16, 23, 1, 3] and refused["ad_event"]["id"] == 14


def test_des_with_allow_weak_crypto_in_a_domain_that_allows_des(pki: LabPki, fe: Credential,
                                                                tmp_path: Path, java_cache: Path) -> None:
    done = java_login(pki, fe, tmp_path, java_cache, principal="ocs-des", password=DES_PASSWORD,
                      libdefaults={"allow_weak_crypto": "true"}, policy=DomainPolicy(des_enabled=True))
    assert done.result.outcome == "confirmed", done.result.json
    assert done.kdc[1]["reply_etype"]["name"] == "des-cbc-crc"  # JDK 17 lists 1 before 3
    assert done.kdc[1]["session_etype"]["name"] == "aes256-cts-hmac-sha1-96"


@pytest.mark.parametrize("state, message, code", [
    ({"enabled": False}, "Clients credentials have been revoked (18)", "krb-account-revoked"),
    ({"locked_out": True}, "Clients credentials have been revoked (18)", "krb-account-revoked"),
    ({"must_change_password": True}, "Password has expired - change password to reset (23)", "krb-password-expired"),
], ids=["disabled", "locked-out", "must-change-password"])
def test_account_states_in_javas_words(pki: LabPki, fe: Credential, tmp_path: Path,
                                       java_cache: Path, state: dict[str, Any], message: str, code: str) -> None:
    done = java_login(pki, fe, tmp_path, java_cache, accounts=with_ucc(**state))
    assert done.failure == (LOGIN_EXCEPTION, message)
    assert code_for_java_error(message) == code
    assert done.kdc[-1]["ntstatus"] is not None  # the NTSTATUS Java does not show is in the DC's record


def test_des_only_enctype_list_fails_before_any_request(pki: LabPki, fe: Credential,
                                                       tmp_path: Path, java_cache: Path) -> None:
    done = java_login(pki, fe, tmp_path, java_cache,
                      libdefaults={"default_tkt_enctypes": "des-cbc-crc des-cbc-md5"})
    assert done.failure == (
        LOGIN_EXCEPTION, "out of 2 default etypes no supported etypes found for configuration default_tkt_enctypes")
    assert done.kdc == []
