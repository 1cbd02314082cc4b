"""A CA manager's approval, the template list of web enrollment, and Enroll denials.

Through certsrv with the ``certsrv`` package and a cookie-keeping ``requests`` session
(the browser's pending list), and through the CA's admin API (``approve``, ``deny``,
``submit``) over HTTP.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from certsrv import (  # type: ignore[import-untyped]
    CertificatePendingException,
    Certsrv,
    CouldNotRetrieveCertificateException,
    RequestDeniedException,
)
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from fakes.ca import (
    DEFAULT_TEMPLATES,
    CertificationAuthority,
    CertutilError,
    template_of,
)

from .ca_support import PASSWORD, USER, ServerThread
from .conftest import MakeCsr

TEMPLATE_DENIED = ("Denied by Policy Module  0x80094012, The permissions on the certificate template do not allow"
                   " the current user to enroll for this type of certificate.")


@pytest.fixture(autouse=True)
def _trust_only_the_given_cafile(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca(ca_one_tier_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertificationAuthority]:
    state_dir = shutil.copytree(ca_one_tier_dir, tmp_path_factory.mktemp("pending") / "ca")
    with CertificationAuthority.open(Path(state_dir)) as authority:
        yield authority


@pytest.fixture(scope="module")
def site(ca: CertificationAuthority) -> Iterator[ServerThread]:
    running = ServerThread(ca)
    with running:
        yield running


@pytest.fixture
def client(site: ServerThread, ca: CertificationAuthority) -> Certsrv:
    return Certsrv(f"127.0.0.1:{site.server.port}", USER, PASSWORD, cafile=str(ca.root_certificate_path))


@pytest.fixture
def browser(ca: CertificationAuthority) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.verify = str(ca.root_certificate_path)
        session.auth = (USER, PASSWORD)
        yield session


def _pem(make: MakeCsr, cn: str = "ucc01.companya.com") -> str:
    return make(cn).public_bytes(Encoding.PEM).decode()


def _pending(client: Certsrv, make: MakeCsr) -> int:
    with pytest.raises(CertificatePendingException) as pending:
        client.get_cert(_pem(make), "WebServerApproval")
    return int(pending.value.req_id)


# -- pending, then issued or denied ------------------------------------------------------------

def test_a_template_that_needs_approval_leaves_the_request_pending(
    client: Certsrv, ca: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    request_id = _pending(client, ca_make_csr)
    record = ca.get_request(request_id)
    assert record is not None
    assert (record.disposition, record.status, record.message) == ("pending", 0, "Taken Under Submission")
    assert record.certificate is None and record.requester == "COMPANYA\\enroll"
    # Until a CA manager decides, certnew.cer answers the disposition, not a certificate.
    with pytest.raises(CouldNotRetrieveCertificateException) as waiting:
        client.get_existing_cert(request_id)
    assert str(waiting.value) == "Taken Under Submission"


def test_approved_by_a_ca_manager_the_certificate_is_fetched_by_its_request_id(
    client: Certsrv, ca: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    request_id = _pending(client, ca_make_csr)
    result = ca.approve(request_id)
    assert (result.disposition, result.message) == ("issued", "Resubmitted by COMPANYA\\Administrator")
    cert = x509.load_pem_x509_certificate(client.get_existing_cert(request_id))
    assert cert == result.certificate
    assert template_of(cert) is DEFAULT_TEMPLATES["WebServerApproval"]
    assert cert.subject.rfc4514_string() == "CN=ucc01.companya.com"
    cert.verify_directly_issued_by(ca.certificate)
    record = ca.get_request(request_id)
    # Kept as certutil prints it, for certutil -revoke: lowercase hex, whole bytes.
    assert record is not None and record.serial is not None
    assert int(record.serial, 16) == cert.serial_number and record.serial == record.serial.lower()
    assert len(record.serial) % 2 == 0


def test_denied_by_a_ca_manager_certnew_says_who_denied_it(
    client: Certsrv, ca: CertificationAuthority, ca_make_csr: MakeCsr, browser: requests.Session,
    site: ServerThread,
) -> None:
    request_id = _pending(client, ca_make_csr)
    result = ca.deny(request_id, by="COMPANYA\\pkiadmin")
    assert (result.disposition, result.status) == ("denied", 0x80094014)
    with pytest.raises(CouldNotRetrieveCertificateException) as denied:
        client.get_existing_cert(request_id)
    assert str(denied.value) == "Denied by COMPANYA\\pkiadmin"
    page = browser.get(site.server.url + "certnew.cer", params={"ReqID": request_id}, timeout=10).text
    assert ("The request was denied by a certificate manager or CA administrator. 0x80094014"
            " (-2146877420 CERTSRV_E_ADMIN_DENIED_REQUEST)") in page


@pytest.mark.parametrize("decide", ["approve", "deny"])
def test_only_a_pending_request_can_be_decided(
    client: Certsrv, ca: CertificationAuthority, ca_make_csr: MakeCsr, decide: str,
) -> None:
    issued = ca.submit(ca_make_csr(), template="WebServer", requester="COMPANYA\\enroll")
    with pytest.raises(CertutilError, match=r"0x80094003 .*CERTSRV_E_BAD_REQUESTSTATUS.*: request \d+ is issued, not pending"):
        getattr(ca, decide)(issued.request_id)
    with pytest.raises(CertutilError, match=r"0x80094004 .*CERTSRV_E_PROPERTY_EMPTY.*: there is no request 999999"):
        getattr(ca, decide)(999999)
    request_id = _pending(client, ca_make_csr)
    getattr(ca, decide)(request_id)
    with pytest.raises(CertutilError, match="not pending"):  # settled once, for good
        ca.approve(request_id)


def test_the_browser_keeps_its_pending_requests_for_certckpn(
    site: ServerThread, ca: CertificationAuthority, ca_make_csr: MakeCsr, browser: requests.Session,
) -> None:
    url = site.server.url
    page = browser.post(url + "certfnsh.asp", timeout=10, data={
        "Mode": "newreq", "CertRequest": _pem(ca_make_csr), "CertAttrib": "",
        "lbCertTemplate": "E;WebServerApproval;2;16",
    })
    assert "Certificate Pending" in page.text
    request_id = int(re.search(r"Your Request Id is (\d+)\.", page.text).group(1))  # type: ignore[union-attr]
    assert "must return with this web browser within 10 days" in page.text
    listing = browser.get(url + "certckpn.asp", timeout=10).text
    link = f"certfnsh.asp?Mode=chkpnd&amp;ReqID={request_id}"
    assert "Select the certificate request you want to view:" in listing and link in listing
    status = browser.get(url + "certfnsh.asp", params={"Mode": "chkpnd", "ReqID": request_id}, timeout=10).text
    assert "Certificate Pending" in status and f"Your Request Id is {request_id}." in status
    ca.approve(request_id)
    status = browser.get(url + "certfnsh.asp", params={"Mode": "chkpnd", "ReqID": request_id}, timeout=10).text
    assert "Certificate Issued" in status and f"certnew.cer?ReqID={request_id}&" in status
    # Another browser keeps no list of its own.
    with requests.Session() as other:
        other.verify, other.auth = browser.verify, browser.auth
        assert "There are no pending certificate requests." in other.get(url + "certckpn.asp", timeout=10).text


# -- through the admin API -----------------------------------------------------------------------

def test_a_ca_manager_decides_through_the_admin_api(site: ServerThread, ca_make_csr: MakeCsr) -> None:
    status, submitted = site.admin("POST", "actions/submit", {
        "csr": _pem(ca_make_csr), "template": "WebServerApproval", "requester": "COMPANYA\\ucc01$"})
    assert status == 200 and submitted["disposition"] == "pending" and submitted["certificate"] is None
    status, approved = site.admin("POST", "actions/approve", {"request_id": submitted["request_id"]})
    assert status == 200 and approved["disposition"] == "issued"
    assert x509.load_pem_x509_certificate(approved["certificate"].encode()).subject.rfc4514_string() == "CN=ucc01.companya.com"
    status, again = site.admin("POST", "actions/deny", {"request_id": submitted["request_id"]})
    assert status == 409 and "CERTSRV_E_BAD_REQUESTSTATUS" in again["error"]
    status, missing = site.admin("POST", "actions/approve", {"request_id": 424242})
    assert status == 404 and "CERTSRV_E_PROPERTY_EMPTY" in missing["error"]
    for bad in ({}, {"request_id": "7"}, {"request_id": True}, {"request_id": 7, "by": ""}, []):
        status, refused = site.admin("POST", "actions/approve", bad)
        assert status == 400 and ("request_id" in refused["error"] or "by is" in refused["error"])
    records = [r for r in site.server.evidence if r["type"] == "certificate-request"
               and r["request_id"] == submitted["request_id"]]
    assert [(r["disposition"], r.get("by")) for r in records] == [
        ("pending", None), ("issued", "COMPANYA\\Administrator")]


# -- what the advanced request page offers -------------------------------------------------------

def test_the_advanced_request_page_lists_version_1_and_2_user_templates_only(
    browser: requests.Session, site: ServerThread,
) -> None:
    form = browser.get(site.server.url + "certrqxt.asp", timeout=10).text
    offered = re.findall(r'<Option Value="E;([^;"]+);(\d);', form)
    assert offered == [("WebServer", "1"), ("User", "1"), ("WebServerExportable", "2"), ("WebServerApproval", "2")]
    assert "WebServerExportable2016" not in form and "Machine" not in form


def test_a_version_4_template_named_in_the_attributes_is_still_issued(
    client: Certsrv, ca_make_csr: MakeCsr,
) -> None:
    # The list is the page's; the policy is the CA's (the MMC and Request-CsCertificate use it).
    cert = x509.load_pem_x509_certificate(client.get_cert(_pem(ca_make_csr), "WebServerExportable2016"))
    info = cert.extensions.get_extension_for_class(x509.MSCertificateTemplate).value
    assert info.template_id.dotted_string == DEFAULT_TEMPLATES["WebServerExportable2016"].oid


# -- Enroll permission denials ------------------------------------------------------------------

def test_a_user_asking_for_the_computer_template_is_denied_in_ad_cs_words(
    client: Certsrv, ca: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    with pytest.raises(RequestDeniedException) as denied:
        client.get_cert(_pem(ca_make_csr), "Machine")
    assert str(denied.value) == TEMPLATE_DENIED
    request_id = int(re.search(r"Your Request Id is (\d+)\.", denied.value.response).group(1))  # type: ignore[union-attr]
    record = ca.get_request(request_id)
    assert record is not None and (record.disposition, record.status) == ("denied", 0x80094012)
    with pytest.raises(CouldNotRetrieveCertificateException) as fetched:
        client.get_existing_cert(request_id)
    assert str(fetched.value) == TEMPLATE_DENIED


def test_a_computer_asking_for_the_user_template_is_denied_in_ad_cs_words(
    site: ServerThread, ca_make_csr: MakeCsr,
) -> None:
    status, answer = site.admin("POST", "actions/submit", {
        "csr": _pem(ca_make_csr), "template": "User", "requester": "COMPANYA\\FE01$"})
    assert status == 200
    assert (answer["disposition"], answer["status"], answer["message"]) == ("denied", 0x80094012, TEMPLATE_DENIED)


def test_enroll_taken_away_on_the_page_copy_denies_the_account_until_given_back(
    site: ServerThread, client: Certsrv, ca: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    status, now = site.admin("GET", "settings/template-permissions")
    assert status == 200 and now["WebServerExportable"] == ["Domain Users", "Domain Computers"]
    assert now["Machine"] == ["Domain Computers"] and now["User"] == ["Domain Users"]
    status, now = site.admin("PUT", "settings/template-permissions", {"WebServerExportable": ["COMPANYA\\pkiadmin"]})
    assert status == 200 and now["WebServerExportable"] == ["COMPANYA\\pkiadmin"]
    with pytest.raises(RequestDeniedException) as denied:
        client.get_cert(_pem(ca_make_csr), "WebServerExportable")
    assert str(denied.value) == TEMPLATE_DENIED
    # Kept with the CA, as the template's Security tab is kept in AD.
    reopened = CertificationAuthority.open(ca.state_dir)
    with reopened:
        assert reopened.templates["WebServerExportable"].enroll == ("COMPANYA\\pkiadmin",)
    status, now = site.admin("PUT", "settings/template-permissions", {"WebServerExportable": ["COMPANYA\\enroll"]})
    assert status == 200
    assert client.get_cert(_pem(ca_make_csr), "WebServerExportable").startswith(b"-----BEGIN CERTIFICATE-----")
    assert site.admin("POST", "reset")[0] == 200
    assert site.admin("GET", "settings/template-permissions")[1]["WebServerExportable"] == [
        "Domain Users", "Domain Computers"]


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"WebServerExportable": ["Domain Admins"]}, 400, "neither a group whose members the lab knows"),
    ({"WebServerExportable": ["enroll"]}, 400, "nor an account written DOMAIN\\name"),
    ({"WebServerExportable": "Domain Users"}, 400, "template-permissions is"),
    ({"NoSuchTemplate": ["Domain Users"]}, 404, "no template 'NoSuchTemplate'"),
    ({}, 400, "template-permissions is"),
    ({"User": ["Authenticated Users"], "WebServer": ["Domain Admins"]}, 400, "neither a group"),
])
def test_enroll_permissions_the_lab_cannot_judge_are_refused_whole(
    site: ServerThread, body: object, status: int, words: str,
) -> None:
    before = site.admin("GET", "settings/template-permissions")[1]
    got, answer = site.admin("PUT", "settings/template-permissions", body)
    assert got == status and words in answer["error"]
    assert site.admin("GET", "settings/template-permissions")[1] == before  # nothing half done


# -- templates as state -----------------------------------------------------------------------------

def test_templates_kept_before_schema_versions_were_stored_read_back_as_before() -> None:
    for template in DEFAULT_TEMPLATES.values():
        old = {k: v for k, v in template.to_dict().items()
               if k not in ("schema_version", "requires_approval", "enroll")}
        restored = type(template).from_dict(old)
        assert restored.requires_approval is False and restored.enroll == ()
        assert restored.schema_version == (1 if template.oid is None else 2)


@pytest.mark.parametrize(("oid", "version", "why"), [
    (None, 2, "a version 1 template has no OID"),
    ("1.2.3", 1, "a version 1 template has no OID"),
    ("1.2.3", 5, "schema version 5 is not 1 to 4"),
])
def test_a_template_with_an_impossible_schema_version_is_refused(oid: str | None, version: int, why: str) -> None:
    template = DEFAULT_TEMPLATES["WebServer"]
    with pytest.raises(ValueError, match=why):
        type(template)(template.name, template.display_name, template.extended_key_usages, template.key_usage,
                       False, True, timedelta(days=1), oid=oid, schema_version=version)
