"""MIT Kerberos against the KDC stand-in: kinit and kvno over UDP and TCP, and the exact words
MIT prints for each of the page's failures (wrong password, unknown user, SPN not
registered, the DES account, clock skew) beside the error the KDC logged."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sysconfig
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from fakes.kdc import KdcCore
from fakes.kerberos import utc_now
from tests.conftest import require_tool

from .kdc_support import (
    DES_PASSWORD,
    FRONTEND_SPN,
    REALM,
    UCC_PASSWORD,
    MitClient,
    RunningKdc,
    krb5_conf_text,
    lab_accounts,
)

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module", autouse=True)
def mit_tools() -> None:
    for tool in ("kinit", "kvno", "klist"):
        require_tool(tool)


@pytest.fixture(scope="module")
def kdc() -> Iterator[RunningKdc]:
    running = RunningKdc(KdcCore(REALM, lab_accounts()))
    yield running
    running.stop()


def mit(tmp_path: Path, kdc: RunningKdc, *libdefaults: str) -> MitClient:
    return MitClient(tmp_path / "mit", krb5_conf_text(kdc.port, libdefaults=libdefaults))


def new_events(kdc: RunningKdc, before: int) -> list:
    return kdc.events[before:]


@pytest.mark.parametrize("libdefaults, transport", [((), "udp"), (("udp_preference_limit = 1",), "tcp")])
def test_kinit_and_kvno(tmp_path: Path, kdc: RunningKdc, libdefaults: tuple[str, ...], transport: str) -> None:
    client = mit(tmp_path, kdc, *libdefaults)
    before = len(kdc.events)
    kinit = client.kinit(f"ocs-ucc@{REALM}", UCC_PASSWORD)
    assert kinit.returncode == 0, kinit.stderr
    kvno = client.kvno(f"{FRONTEND_SPN}@{REALM}")
    assert kvno.returncode == 0, kvno.stderr
    assert kvno.stdout == "sip/fe01.companya.com@COMPANYA.COM: kvno = 2\n"
    klist = client.klist()
    assert "Default principal: ocs-ucc@COMPANYA.COM" in klist.stdout
    assert re.search(r"krbtgt/COMPANYA\.COM@COMPANYA\.COM\n\s+renew until .*, "
                     r"Etype \(skey, tkt\): aes256-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96", klist.stdout)
    assert re.search(r"sip/fe01\.companya\.com@COMPANYA\.COM\n\s+"
                     r"Etype \(skey, tkt\): aes256-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96", klist.stdout)
    events = new_events(kdc, before)
    assert [(e.request, e.error_name, e.transport) for e in events] == [
        ("AS-REQ", "KDC_ERR_PREAUTH_REQUIRED", transport),
        ("AS-REQ", None, transport),
        ("TGS-REQ", None, transport),
    ]
    # MIT 1.20 offers aes256, aes128, the two SHA-2 AES types, des3, rc4 and the camellias.
    assert events[0].requested_etypes == (18, 17, 20, 19, 16, 23, 25, 26)
    assert events[1].client == "ocs-ucc@COMPANYA.COM" and events[2].server == "sip/fe01.companya.com@COMPANYA.COM"


def test_wrong_password(tmp_path: Path, kdc: RunningKdc) -> None:
    before = len(kdc.events)
    result = mit(tmp_path, kdc).kinit(f"ocs-ucc@{REALM}", "not the Microsoft-OCS password")
    assert result.returncode == 1
    assert result.stderr == "kinit: Password incorrect while getting initial credentials\n"
    assert [e.error_code for e in new_events(kdc, before)] == [25, 24]


def test_unknown_principal(tmp_path: Path, kdc: RunningKdc) -> None:
    before = len(kdc.events)
    result = mit(tmp_path, kdc).kinit(f"x@{REALM}", "whatever")
    assert result.stderr == "kinit: Client 'x@COMPANYA.COM' not found in Kerberos database " \
                            "while getting initial credentials\n"
    assert [e.error_name for e in new_events(kdc, before)] == ["KDC_ERR_C_PRINCIPAL_UNKNOWN"]


def test_kvno_of_an_unregistered_spn(tmp_path: Path, kdc: RunningKdc) -> None:
    client = mit(tmp_path, kdc)
    assert client.kinit(f"ocs-ucc@{REALM}", UCC_PASSWORD).returncode == 0
    before = len(kdc.events)
    result = client.kvno("sip/fe02.companya.com")
    assert result.returncode == 1
    assert result.stderr == "kvno: Server not found in Kerberos database while getting credentials " \
                            "for sip/fe02.companya.com@COMPANYA.COM\n"
    # MIT asks twice: with referrals (canonicalize) on, then off.
    assert [e.error_code for e in new_events(kdc, before)] == [7, 7]


def test_des_only_account(tmp_path: Path, kdc: RunningKdc) -> None:
    # MIT 1.20 has no single DES at all (removed in 1.18): its request offers no DES
    # enctype, so the DES-only account of the page's "Use Kerberos DES encryption" gets 14.
    before = len(kdc.events)
    result = mit(tmp_path / "default", kdc).kinit(f"ocs-des@{REALM}", DES_PASSWORD)
    assert result.stderr == "kinit: KDC has no support for encryption type while getting initial credentials\n"
    events = new_events(kdc, before)
    assert [e.error_name for e in events] == ["KDC_ERR_ETYPE_NOSUPP"]
    assert not {1, 3} & set(events[0].requested_etypes)
    # Even with allow_weak_crypto, asking for DES explicitly fails inside the client: no
    # request reaches the KDC.
    before = len(kdc.events)
    weak = mit(tmp_path / "weak", kdc, "allow_weak_crypto = true", "default_tkt_enctypes = des-cbc-crc des-cbc-md5",
               "permitted_enctypes = des-cbc-crc des-cbc-md5")
    result = weak.kinit(f"ocs-des@{REALM}", DES_PASSWORD)
    assert result.stderr == "kinit: No supported encryption types (config file error?) " \
                            "while getting initial credentials\n"
    assert new_events(kdc, before) == []


def test_clock_skew(tmp_path: Path) -> None:
    # MIT has no fake clock, so the KDC's runs ten minutes ahead.
    running = RunningKdc(KdcCore(REALM, lab_accounts(), now=lambda: utc_now() + timedelta(minutes=10)))
    try:
        strict = MitClient(tmp_path / "strict", krb5_conf_text(running.port, libdefaults=["kdc_timesync = 0"]))
        result = strict.kinit(f"ocs-ucc@{REALM}", UCC_PASSWORD)
        assert result.stderr == "kinit: Clock skew too great while getting initial credentials\n"
        assert [e.error_code for e in running.events] == [25, 37]
        assert running.events[-1].detail.startswith("the client's clock is 60")
        # With MIT's default kdc_timesync = 1 the client takes the KDC's time from the
        # PREAUTH_REQUIRED error and succeeds (Java has no such correction).
        tolerant = MitClient(tmp_path / "tolerant", krb5_conf_text(running.port))
        assert tolerant.kinit(f"ocs-ucc@{REALM}", UCC_PASSWORD).returncode == 0
        assert tolerant.kvno(FRONTEND_SPN).returncode == 0
    finally:
        running.stop()


def _free_port_block(size: int) -> int:
    """A port with ``size`` free ports after it (k5test uses portbase .. portbase+9)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size < 65535:
            return base
    raise RuntimeError("no free port block")


def test_same_flow_against_mits_own_kdc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference: k5test starts a throwaway MIT krb5kdc; the same kinit/kvno flow works there."""
    import k5test  # in the test extra: a missing reference KDC is an error, not a skip
    if shutil.which("krb5kdc") is None and not Path("/usr/sbin/krb5kdc").exists():
        require_tool("krb5kdc")
    if shutil.which("krb5-config") is None:
        # Without the -dev package k5test finds MIT's plugin folder through LD_LIBRARY_PATH.
        multiarch = sysconfig.get_config_var("MULTIARCH") or ""
        monkeypatch.setenv("LD_LIBRARY_PATH", os.path.join("/usr/lib", multiarch))
    monkeypatch.setenv("PATH", os.environ.get("PATH", "") + ":/usr/sbin")
    realm = k5test.K5Realm(realm=REALM, portbase=_free_port_block(10), start_kadmind=False,
                           create_host=False, get_creds=False)
    try:
        realm.addprinc(FRONTEND_SPN)
        client = MitClient(tmp_path / "mit-kdc", Path(realm.env["KRB5_CONFIG"]).read_text())
        assert client.kinit(realm.user_princ, realm.password("user")).returncode == 0
        result = client.kvno(FRONTEND_SPN)
        assert result.returncode == 0 and result.stdout == "sip/fe01.companya.com@COMPANYA.COM: kvno = 1\n"
        wrong = client.kinit(realm.user_princ, "wrong")
        assert wrong.stderr == "kinit: Password incorrect while getting initial credentials\n"
        unknown = client.kvno("sip/fe02.companya.com")
        # MIT's KDC sends e-text with its errors, so the wording differs slightly from AD's
        # (and the stand-in's): "Server sip/fe02.companya.com@COMPANYA.COM not found in ...".
        assert unknown.returncode == 1 and "not found in Kerberos database" in unknown.stderr
    finally:
        realm.stop()
