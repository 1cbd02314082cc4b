"""MIT Kerberos 1.20 against what the KDC stand-in does as Active Directory does: renewal
(``kinit -R``), validation of a postdated TGT (``kinit -v``), enterprise names with and
without canonicalization (``kinit -E``, ``kinit -C``), the DC's own SPNs and their HOST
aliases (``kvno cifs/...``), and the account states of the page's steps — with the exact
words MIT prints beside what the KDC logged."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.kdc import Account, KdcCore, domain_controller_account
from tests.conftest import require_tool

from .kdc_support import FRONTEND_SPN, REALM, UCC_PASSWORD, MitClient, RunningKdc, krb5_conf_text, lab_accounts

pytestmark = pytest.mark.interop

STATE_PASSWORD = "State#Pw-1"
STATES = {
    "ocs-off": {"enabled": False},
    "ocs-locked": {"locked_out": True},
    "ocs-gone": {"account_expires": "2020-01-01T00:00:00Z"},
    "ocs-reset": {"must_change_password": True},
    "ocs-old": {"password_expired": True},
}


@pytest.fixture(scope="module", autouse=True)
def mit_tools() -> None:
    for tool in ("kinit", "kvno", "klist"):
        require_tool(tool)


@pytest.fixture(scope="module")
def kdc() -> Iterator[RunningKdc]:
    accounts = lab_accounts() + [domain_controller_account("labdc01", "companya.com", "Dc#Machine-1")]
    accounts += [Account(name, STATE_PASSWORD, **state) for name, state in STATES.items()]  # type: ignore[arg-type]
    running = RunningKdc(KdcCore(REALM, accounts))
    yield running
    running.stop()


@pytest.fixture
def client(tmp_path: Path, kdc: RunningKdc) -> MitClient:
    return MitClient(tmp_path / "mit", krb5_conf_text(kdc.port))


def output(result: object) -> str:
    return (result.stdout + result.stderr).strip()  # type: ignore[attr-defined]


def test_kinit_renew(client: MitClient, kdc: RunningKdc) -> None:
    # Not renewable (a lifetime within AD's 10 hours, no -r): MIT's own KDC's words, measured.
    assert client.run("kinit", "-l", "1h", "ocs-ucc", stdin=UCC_PASSWORD + "\n").returncode == 0
    renew = client.run("kinit", "-R")
    assert (renew.returncode, renew.stderr) == (1, "kinit: KDC can't fulfill requested option while renewing "
                                                   "credentials\n")
    assert (kdc.events[-1].error_code, kdc.events[-1].options) == (13, ("renew",))
    # Renewable for two days: renewed, the renew-till kept.
    assert client.run("kinit", "-r", "2d", "ocs-ucc", stdin=UCC_PASSWORD + "\n").returncode == 0
    before = re.search(r"renew until (.*), Flags: (\w+)", client.run("klist", "-f").stdout)
    renew = client.run("kinit", "-R")
    assert renew.returncode == 0, output(renew)
    assert kdc.events[-1].detail == "TGT renewed" and kdc.events[-1].ok
    after = re.search(r"renew until (.*), Flags: (\w+)", client.run("klist", "-f").stdout)
    assert before and after and after.group(1) == before.group(1) and "R" in after.group(2)
    assert client.kvno(FRONTEND_SPN).returncode == 0


def test_kinit_validate_a_postdated_tgt(client: MitClient, kdc: RunningKdc) -> None:
    assert client.kinit("ocs-ucc", UCC_PASSWORD).returncode == 0
    validate = client.run("kinit", "-v")  # nothing postdated to validate (MIT's own KDC says the same)
    assert (validate.returncode, validate.stderr) == (1, "kinit: KDC can't fulfill requested option while validating "
                                                         "credentials\n")
    started = time.monotonic()
    assert client.run("kinit", "-s", "2s", "ocs-ucc", stdin=UCC_PASSWORD + "\n").returncode == 0
    assert kdc.events[-1].detail == "postdated TGT issued"
    flags = re.search(r"Flags: (\w+)", client.run("klist", "-f").stdout)
    assert flags and {"d", "i"} <= set(flags.group(1))  # postdated, invalid
    if time.monotonic() - started < 1.5:  # still before the start time
        kvno = client.kvno(FRONTEND_SPN)
        assert kvno.stderr == f"kvno: Ticket not yet valid while getting credentials for {FRONTEND_SPN}@{REALM}\n"
        assert kdc.events[-1].error_name == "KRB_AP_ERR_TKT_NYV"
    time.sleep(max(0.0, 2.5 - (time.monotonic() - started)))
    validate = client.run("kinit", "-v")
    assert validate.returncode == 0, output(validate)
    assert kdc.events[-1].detail == "TGT validated" and "validate" in kdc.events[-1].options
    flags = re.search(r"Flags: (\w+)", client.run("klist", "-f").stdout)
    assert flags and "d" in flags.group(1) and "i" not in flags.group(1)
    assert client.kvno(FRONTEND_SPN).returncode == 0


def test_enterprise_names_with_and_without_canonicalization(client: MitClient, kdc: RunningKdc) -> None:
    # kinit -E sends NT-ENTERPRISE "ocs-ucc@companya.com" without the canonicalize flag: the
    # name comes back as sent (Heimdal's note on Windows), and MIT keeps it.
    kinit = client.run("kinit", "-E", "ocs-ucc@companya.com", stdin=UCC_PASSWORD + "\n")
    assert kinit.returncode == 0, output(kinit)
    assert kdc.events[-1].client == "ocs-ucc\\@companya.com@COMPANYA.COM" and kdc.events[-1].options == ()
    assert "Default principal: ocs-ucc\\@companya.com@COMPANYA.COM" in client.run("klist").stdout
    assert client.kvno(FRONTEND_SPN).returncode == 0
    # With -C the KDC names the account by its sAMAccountName, as a principal name.
    kinit = client.run("kinit", "-C", "-E", "OCS-UCC@companya.com", stdin=UCC_PASSWORD + "\n")
    assert kinit.returncode == 0, output(kinit)
    assert kdc.events[-1].options == ("canonicalize",)
    assert "Default principal: ocs-ucc@COMPANYA.COM" in client.run("klist").stdout


def test_the_domain_controllers_own_spns(client: MitClient) -> None:
    assert client.kinit("ocs-ucc", UCC_PASSWORD).returncode == 0
    services = ["host/labdc01.companya.com", "ldap/labdc01.companya.com", "ldap/labdc01.companya.com/companya.com",
                "cifs/labdc01.companya.com", "http/LABDC01", "GC/labdc01.companya.com/companya.com"]
    kvno = client.run("kvno", *services)
    assert kvno.returncode == 0, output(kvno)
    assert kvno.stdout.splitlines() == [f"{s}@{REALM}: kvno = 2" for s in services]
    assert client.kvno("smtp/labdc01.companya.com").stderr == (  # not one of sPNMappings' host aliases
        f"kvno: Server not found in Kerberos database while getting credentials for smtp/labdc01.companya.com@{REALM}\n")


@pytest.mark.parametrize("user, status", [("ocs-off", "STATUS_ACCOUNT_DISABLED"),
                                          ("ocs-locked", "STATUS_ACCOUNT_LOCKED_OUT"),
                                          ("ocs-gone", "STATUS_ACCOUNT_EXPIRED")])
def test_revoked_accounts(client: MitClient, kdc: RunningKdc, user: str, status: str) -> None:
    kinit = client.kinit(user, STATE_PASSWORD)
    assert (kinit.returncode, kinit.stderr) == (1, "kinit: Client's credentials have been revoked while getting "
                                                   "initial credentials\n")
    assert kinit.stdout == ""  # refused before MIT asks for the password
    event = kdc.events[-1]
    assert (event.error_code, event.ntstatus.name if event.ntstatus else None) == (18, status)


@pytest.mark.parametrize("user, status", [("ocs-reset", "STATUS_PASSWORD_MUST_CHANGE"),
                                          ("ocs-old", "STATUS_PASSWORD_EXPIRED")])
def test_password_that_must_change(client: MitClient, kdc: RunningKdc, user: str, status: str) -> None:
    before = len(kdc.events)
    kinit = client.kinit(user, STATE_PASSWORD)
    # MIT takes 23 as "change it now", gets a kadmin/changepw ticket and asks for a new one.
    assert kinit.returncode == 1
    assert "Password expired.  You must change it now." in kinit.stdout
    assert kinit.stderr == "kinit: Cannot read password while getting initial credentials\n"
    events = kdc.events[before:]
    assert [(e.error_code, e.server) for e in events] == [
        (25, f"krbtgt/{REALM}@{REALM}"), (23, f"krbtgt/{REALM}@{REALM}"),
        (25, f"kadmin/changepw@{REALM}"), (None, f"kadmin/changepw@{REALM}")]
    assert events[1].ntstatus is not None and events[1].ntstatus.name == status
