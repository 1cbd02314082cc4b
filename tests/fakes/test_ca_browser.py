"""certsrv in a real browser: Debian's Chromium, driven by Playwright, clicks through the pages.

The trainee's road on the page's "Generating the Client Certificate" and "CA Web Access":
download the CA certificate (DER and Base 64), its chain and the CRL; then an advanced
request with a CSR made by ``openssl req``, a template picked from the list, and the
issued certificate downloaded from "Certificate Issued". Chromium logs on with its own
NTLM (it answers IIS's Negotiate/NTLM offer), and the pages load nothing from elsewhere.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs7

from fakes.ca import CertificationAuthority
from tests.conftest import require_tool

from .ca_support import PASSWORD, USER, ServerThread

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def ca(ca_two_tier_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertificationAuthority]:
    state_dir = shutil.copytree(ca_two_tier_dir, tmp_path_factory.mktemp("browser") / "ca")
    with CertificationAuthority.open(Path(state_dir)) as authority:
        yield authority


@pytest.fixture(scope="module")
def site(ca: CertificationAuthority) -> Iterator[ServerThread]:
    running = ServerThread(ca)
    with running:
        yield running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = require_tool("chromium")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, site: ServerThread) -> Iterator[Any]:
    # The lab's CA is not one Chromium trusts; the test checks the pages, not the TLS name.
    context = chromium.new_context(ignore_https_errors=True, accept_downloads=True,
                                   http_credentials={"username": USER, "password": PASSWORD})
    tab = context.new_page()
    requested: list[str] = []
    tab.on("request", lambda request: requested.append(request.url))
    tab.goto(site.server.url)
    yield tab
    origin = site.server.url.split("/certsrv/")[0]
    outside = [url for url in requested if not url.startswith(origin)]
    assert outside == [], "the pages loaded something from elsewhere"
    context.close()


def _download(page: Any, link: str) -> tuple[str, bytes]:
    with page.expect_download() as started:
        page.click(link)
    download = started.value
    return download.url, Path(download.path()).read_bytes()


def _unarmoured(text: bytes, label: str) -> bytes:
    lines = text.split(b"\r\n")
    assert lines[0] == f"-----BEGIN {label}-----".encode() and lines[-2] == f"-----END {label}-----".encode()
    return base64.b64decode(b"".join(lines[1:-2]))


def test_download_the_ca_certificate_its_chain_and_the_crl(
    page: Any, site: ServerThread, ca: CertificationAuthority, tmp_path: Path,
) -> None:
    assert page.title() == "Microsoft Active Directory Certificate Services"
    assert "Use this Web site to request a certificate" in page.inner_text("body")
    page.click("text=Download a CA certificate, certificate chain, or CRL")
    assert page.url.endswith("/certsrv/certcarc.asp")
    assert page.inner_text("#lbCACert") == "Current [companya-LABDC01-CA]"
    page.screenshot(path=str(tmp_path / "certcarc.png"))
    # DER is chosen to begin with: the page's "DER encoded binary X.509 (.CER)".
    url, der = _download(page, "text=Download CA certificate")
    assert url.endswith("certnew.cer?ReqID=CACert&Renewal=0&Enc=bin")
    assert x509.load_der_x509_certificate(der) == ca.certificate
    page.check("#rbB64Enc")
    url, b64 = _download(page, "text=Download CA certificate")
    assert url.endswith("Enc=b64") and _unarmoured(b64, "CERTIFICATE") == der
    _, chain = _download(page, "text=Download CA certificate chain")
    assert set(pkcs7.load_der_pkcs7_certificates(_unarmoured(chain, "CERTIFICATE"))) == set(ca.chain)
    _, crl = _download(page, "text=Download latest base CRL")
    assert x509.load_der_x509_crl(_unarmoured(crl, "X509 CRL")).issuer == ca.certificate.subject
    # Chromium answered IIS's offer with its own NTLM.
    logons = {(r["auth"], r["user"]) for r in site.server.evidence if r.get("site") == "certsrv" and r["status"] == 200}
    assert ("NTLM", USER) in logons


def _openssl_request(tmp_path: Path, cn: str) -> tuple[str, bytes]:
    """``openssl req`` as the trainee types it: a key and a base64 CSR; the CSR text and
    the public key (DER SubjectPublicKeyInfo)."""
    openssl = require_tool("openssl")
    key, csr = tmp_path / f"{cn}.key", tmp_path / f"{cn}.csr"
    subprocess.run([openssl, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-subj", f"/CN={cn}", "-out", str(csr)], check=True, capture_output=True, timeout=60)
    request = x509.load_pem_x509_csr(csr.read_bytes())
    return csr.read_text(), request.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _advanced_request(page: Any, csr: str, template: str) -> None:
    page.click("#lnkRequest")
    page.click("text=advanced certificate request")
    assert page.url.endswith("/certsrv/certrqxt.asp")
    page.fill("#locTaRequest", csr)
    page.select_option("#lbCertTemplateID", label=template)
    page.click("#btnSubmit")


def test_an_advanced_request_with_an_openssl_csr_is_issued_and_downloaded(
    page: Any, ca: CertificationAuthority, tmp_path: Path,
) -> None:
    csr, public_key = _openssl_request(tmp_path, "ucc01.companya.com")
    page.click("#lnkRequest")
    page.click("text=advanced certificate request")
    offered = page.eval_on_selector_all("#lbCertTemplateID option", "options => options.map(o => o.textContent)")
    assert offered == ["Web Server", "User", "Web Server (Exportable)", "Web Server (CA Manager Approval)"]
    page.go_back()
    page.go_back()
    _advanced_request(page, csr, "Web Server (Exportable)")
    assert page.inner_text("#locPageTitle") == "Certificate Issued"
    page.screenshot(path=str(tmp_path / "certificate-issued.png"))
    page.check("#rbB64Enc")
    url, pem = _download(page, "text=Download certificate")
    assert "certnew.cer?ReqID=" in url and url.endswith("&Enc=b64")
    cert = x509.load_pem_x509_certificate(pem)
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----\r\n")
    assert cert.subject.rfc4514_string() == "CN=ucc01.companya.com"
    assert cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == public_key
    cert.verify_directly_issued_by(ca.certificate)
    _, chain = _download(page, "text=Download certificate chain")
    assert set(pkcs7.load_der_pkcs7_certificates(_unarmoured(chain, "CERTIFICATE"))) == {cert, *ca.chain}
    (record,) = [r for r in ca.requests() if r.certificate == cert]
    assert (record.requester, record.template) == ("COMPANYA\\enroll", "WebServerExportable")


def test_a_request_waiting_for_approval_is_found_again_and_fetched(
    page: Any, ca: CertificationAuthority, tmp_path: Path,
) -> None:
    csr, public_key = _openssl_request(tmp_path, "fe01.companya.com")
    _advanced_request(page, csr, "Web Server (CA Manager Approval)")
    assert page.inner_text("#locPageTitle") == "Certificate Pending"
    request_id = int(page.inner_text("#locInfoReqID").split()[-1].rstrip("."))
    page.click("text=Home")
    page.click("#lnkPending")
    page.click("text=Saved-Request Certificate")
    assert page.inner_text("#locPageTitle") == "Certificate Pending"
    ca.approve(request_id)
    page.reload()
    assert page.inner_text("#locPageTitle") == "Certificate Issued"
    _, der = _download(page, "text=Download certificate")
    cert = x509.load_der_x509_certificate(der)
    assert cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == public_key
