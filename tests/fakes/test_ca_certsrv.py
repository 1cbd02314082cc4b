"""certsrv web enrollment over real HTTPS, driven by the real ``certsrv`` client."""

from __future__ import annotations

import base64
import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from certsrv import (  # type: ignore[import-untyped]
    Certsrv,
    CouldNotRetrieveCertificateException,
    RequestDeniedException,
)
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID

from fakes.ca import (
    DEFAULT_TEMPLATES,
    CertificationAuthority,
    CertsrvServer,
    template_of,
)

from .ca_support import PASSWORD, USER, ServerThread
from .conftest import MakeCsr


@pytest.fixture(autouse=True)
def _trust_only_the_given_cafile(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify`
    # (the certsrv client sets session.verify = cafile): unset them so cafile counts.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca(ca_two_tier_dir: Path, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[CertificationAuthority]:
    state_dir = shutil.copytree(ca_two_tier_dir, tmp_path_factory.mktemp("certsrv") / "ca")
    with CertificationAuthority.open(Path(state_dir)) as authority:
        yield authority


@pytest.fixture(scope="module")
def server(ca: CertificationAuthority) -> Iterator[CertsrvServer]:
    with ServerThread(ca) as running:
        yield running


@pytest.fixture
def client(server: CertsrvServer, ca: CertificationAuthority) -> Certsrv:
    return Certsrv(f"127.0.0.1:{server.port}", USER, PASSWORD,
                   cafile=str(ca.root_certificate_path))


@pytest.fixture
def session(ca: CertificationAuthority) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.verify = str(ca.root_certificate_path)
        http.auth = (USER, PASSWORD)
        yield http


def _group(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not in the page"
    return match.group(1)


def _csr_pem(make: MakeCsr, cn: str = "ucc01.companya.com") -> str:
    return make(cn).public_bytes(Encoding.PEM).decode()


# -- the page's "Generating the Client Certificate": download the CA certificate --------

def test_get_ca_cert_in_der_and_base64(client: Certsrv, ca: CertificationAuthority) -> None:
    assert client.get_ca_cert("bin") == ca.certificate.public_bytes(Encoding.DER)
    # Base 64 as Windows writes it: the PEM text with CRLF line ends, 64 characters a line.
    b64 = client.get_ca_cert("b64")
    assert b64 == ca.certificate.public_bytes(Encoding.PEM).replace(b"\n", b"\r\n")
    assert b64.count(b"\n") == b64.count(b"\r\n") > 3


def _unarmoured(text: bytes, label: bytes) -> bytes:
    lines = text.split(b"\r\n")
    assert lines[0] == b"-----BEGIN " + label + b"-----" and lines[-2] == b"-----END " + label + b"-----"
    assert lines[-1] == b"" and all(len(line) <= 64 for line in lines)
    return base64.b64decode(b"".join(lines[1:-2]))


def test_get_chain_holds_issuing_ca_and_root(client: Certsrv, ca: CertificationAuthority) -> None:
    # PKCS #7 keeps certificates in a SET: their order is DER's, not the chain's.
    der = client.get_chain("bin")
    assert set(pkcs7.load_der_pkcs7_certificates(der)) == set(ca.chain)
    # Base 64 under the certificate header, CRLF, as a real AD CS answers (magnuswatn/certsrv's
    # tests: "-----BEGIN CERTIFICATE-----" in the b64 chain).
    assert _unarmoured(client.get_chain("b64"), b"CERTIFICATE") == der
    assert len(ca.chain) == 2


def test_credentials(server: CertsrvServer, ca: CertificationAuthority, client: Certsrv) -> None:
    assert client.check_credentials()
    cafile = str(ca.root_certificate_path)
    for user, password in [(USER, "wrong"), ("nobody", PASSWORD)]:
        assert not Certsrv(f"127.0.0.1:{server.port}", user, password,
                           cafile=cafile).check_credentials()
    # Windows-style account names log on as the same account.
    for user in (f"COMPANYA\\{USER}", f"{USER.upper()}@companya.com"):
        assert Certsrv(f"127.0.0.1:{server.port}", user, PASSWORD,
                       cafile=cafile).check_credentials()


@pytest.mark.parametrize("auth", [(USER, "wrong"), None])
def test_unauthorized_answers_like_iis(server: CertsrvServer, ca: CertificationAuthority,
                                       auth: tuple[str, str] | None) -> None:
    response = requests.get(server.url + "certcarc.asp", auth=auth,
                            verify=str(ca.root_certificate_path), timeout=10)
    assert response.status_code == 401
    # Windows authentication's providers (Negotiate, NTLM), then Basic: one header each.
    assert response.raw.headers.getlist("WWW-Authenticate") == [
        "Negotiate", "NTLM", 'Basic realm="labdc01.companya.com"']
    assert "401 - Unauthorized: Access is denied due to invalid credentials." in response.text


# -- requesting: the page's CA Web Access procedure ----------------------------------------

def test_get_cert_from_the_exportable_web_server_copy(
    client: Certsrv, ca: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    pem = client.get_cert(_csr_pem(ca_make_csr, "demosrv.genesyslab.com"), "WebServerExportable")
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.rfc4514_string() == "CN=demosrv.genesyslab.com"
    assert template_of(cert) is DEFAULT_TEMPLATES["WebServerExportable"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    cert.verify_directly_issued_by(ca.certificate)
    (record,) = [r for r in ca.requests() if r.certificate == cert]
    assert record.requester == "COMPANYA\\enroll"


def test_get_cert_from_the_user_template_and_fetch_it_again(
    client: Certsrv, ca: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    cert = x509.load_pem_x509_certificate(client.get_cert(_csr_pem(ca_make_csr), "User"))
    assert cert.subject.rfc4514_string() == (
        "1.2.840.113549.1.9.1=enroll@companya.com,CN=enroll,CN=Users,DC=companya,DC=com")
    (record,) = [r for r in ca.requests() if r.certificate == cert]
    again = client.get_existing_cert(record.request_id, "bin")
    assert again == cert.public_bytes(Encoding.DER)


def test_an_unknown_template_is_denied_with_the_ad_cs_message(
    client: Certsrv, ca: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    with pytest.raises(RequestDeniedException) as denied:
        client.get_cert(_csr_pem(ca_make_csr), "GenesysServer")
    message = ("Denied by Policy Module  0x80094800, The request was for a certificate template"
               " that is not supported by the Active Directory Certificate Services policy:"
               " GenesysServer.")
    assert str(denied.value) == message
    request_id = int(_group(r"Your Request Id is (\d+)\.", denied.value.response))
    record = ca.get_request(request_id)
    assert record is not None and (record.disposition, record.message) == ("denied", message)
    # Fetching a denied request gives its disposition, not a certificate.
    with pytest.raises(CouldNotRetrieveCertificateException) as not_issued:
        client.get_existing_cert(request_id)
    assert str(not_issued.value) == message


def test_fetching_a_request_that_does_not_exist(client: Certsrv) -> None:
    with pytest.raises(CouldNotRetrieveCertificateException) as error:
        client.get_existing_cert(987654)
    # [MS-WCCE] 3.2.1.4.2.1.3: an unknown request ID is CERTSRV_E_PROPERTY_EMPTY.
    assert str(error.value) == (
        "The requested property value is empty. 0x80094004 (-2146877436 CERTSRV_E_PROPERTY_EMPTY)")


def test_garbage_request_gets_a_clear_answer_and_the_server_keeps_serving(
    client: Certsrv, ca_make_csr: MakeCsr,
) -> None:
    with pytest.raises(RequestDeniedException) as denied:
        client.get_cert("this is not a certificate request", "WebServer")
    assert str(denied.value).startswith("Error Parsing Request  ASN1 bad tag value met.")
    assert client.get_cert(_csr_pem(ca_make_csr), "WebServer").startswith(b"-----BEGIN CERT")


# -- pages and HTTP hygiene ---------------------------------------------------------------------

def test_pages_a_browser_follows(session: requests.Session, server: CertsrvServer) -> None:
    home = session.get(server.url, timeout=10)
    for link in ("Request a certificate", "View the status of a pending certificate request",
                 "Download a CA certificate, certificate chain, or CRL"):
        assert link in home.text
    assert "var nRenewals=0;" in session.get(server.url + "certcarc.asp", timeout=10).text
    assert "advanced certificate request" in session.get(server.url + "certrqus.asp",
                                                         timeout=10).text
    form = session.get(server.url + "certrqxt.asp", timeout=10).text
    assert '<Option Value="E;WebServerExportable;2;16">Web Server (Exportable)</Option>' in form
    assert '<Option Value="E;WebServer;1;0">Web Server</Option>' in form
    assert "Machine" not in form  # computer templates are not offered to users
    assert "no pending" in session.get(server.url + "certckpn.asp", timeout=10).text
    moved = session.get(server.url.rstrip("/"), allow_redirects=False, timeout=10)
    assert (moved.status_code, moved.headers["Location"]) == (301, "/certsrv/")


def test_a_browser_form_post_uses_the_selected_template(
    session: requests.Session, server: CertsrvServer, ca_make_csr: MakeCsr,
) -> None:
    page = session.post(server.url + "certfnsh.asp", timeout=10, data={
        "Mode": "newreq", "CertRequest": _csr_pem(ca_make_csr), "CertAttrib": "",
        "lbCertTemplate": "E;WebServerExportable;2;16",
    })
    assert "Certificate Issued" in page.text
    request_id = _group(r"certnew\.cer\?ReqID=(\d+)&", page.text)
    chain = session.get(server.url + "certnew.p7b", params={"ReqID": request_id, "Enc": "bin"},
                        timeout=10)
    assert chain.headers["Content-Type"] == "application/x-pkcs7-certificates"
    assert len(pkcs7.load_der_pkcs7_certificates(chain.content)) == 3


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "nosuchpage.asp", {}, 404),
        ("GET", "certfnsh.asp", {}, 400),  # no Mode=chkpnd&ReqID=N
        ("GET", "certfnsh.asp", {"params": {"Mode": "chkpnd", "ReqID": "x"}}, 400),
        ("PUT", "certfnsh.asp", {}, 405),
        ("POST", "certcarc.asp", {}, 405),
        ("POST", "certfnsh.asp", {"data": {"CertRequest": "x"}}, 400),  # no Mode
        ("POST", "certfnsh.asp", {"data": {"Mode": "newreq", "CertRequest": " "}}, 400),
        ("POST", "certfnsh.asp", {"data": {"Mode": "newreq", "CertRequest": "x",
                                           "CertAttrib": "no colon here"}}, 400),
        ("POST", "certfnsh.asp", {"data": b"Mode=newreq&CertRequest=\xff\xfe\x00",
                                  "headers": {"Content-Type":
                                              "application/x-www-form-urlencoded"}}, 400),
        ("POST", "certfnsh.asp", {"data": b"--x\r\nbroken",
                                  "headers": {"Content-Type":
                                              "multipart/form-data; boundary=x"}}, 415),
        ("POST", "certfnsh.asp", {"data": {"Mode": "newreq", "CertRequest": "A" * 300_000}}, 413),
        ("GET", "certnew.cer", {"params": {"ReqID": "abc", "Enc": "bin"}}, 400),
        ("GET", "certnew.cer", {"params": {"ReqID": "CACert", "Enc": "pem"}}, 400),
        ("GET", "certnew.cer", {"params": {"ReqID": "CACert", "Renewal": "7"}}, 400),
        ("GET", "certnew.p7b", {"params": {"ReqID": "99999999999999999999"}}, 400),
        # Digits that are not ASCII: str.isdigit() takes them, int() refuses "²" and reads
        # "١٢" (Arabic-Indic) as 12.
        ("GET", "certnew.cer", {"params": {"ReqID": "\u00b2"}}, 400),
        ("GET", "certnew.p7b", {"params": {"ReqID": "\u0661\u0662"}}, 400),
        ("GET", "certnew.cer", {"params": {"ReqID": "CACert", "Renewal": "\u00b2"}}, 400),
        ("GET", "certnew.p7b", {"params": {"ReqID": "CACert", "Renewal": "\u0660"}}, 400),
        # More digits than int() converts (4300).
        ("GET", "certnew.cer", {"params": {"ReqID": "9" * 5000}}, 400),
        ("GET", "certnew.cer", {"params": {"ReqID": "CACert", "Renewal": "9" * 5000}}, 400),
    ],
)
def test_malformed_http_gets_a_4xx_page_and_the_server_keeps_serving(
    session: requests.Session, server: CertsrvServer, client: Certsrv,
    method: str, path: str, kwargs: dict[str, Any], status: int,
) -> None:
    response = session.request(method, server.url + path, timeout=10, **kwargs)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")
    if status == 405:
        assert "Allow" in response.headers
    assert client.check_credentials()


@pytest.mark.parametrize(("query", "reason"), [
    ("certnew.cer?ReqID=%C2%B2", "ReqID must be CACert or a request number."),
    ("certnew.p7b?ReqID=%D9%A1%D9%A2", "ReqID must be CACert or a request number."),
    ("certnew.cer?ReqID=CACert&Renewal=%C2%B2", "Renewal=&#x27;\u00b2&#x27;: this CA has renewal numbers 0 to"),
])
def test_non_ascii_digits_are_a_bad_request_that_says_why(
    session: requests.Session, server: CertsrvServer, query: str, reason: str,
) -> None:
    response = session.get(server.url + query, timeout=10)
    assert response.status_code == 400
    assert "<B> Bad Request </B>" in response.text and reason in response.text


def test_random_input_never_gets_a_server_error(
    session: requests.Session, server: CertsrvServer, client: Certsrv,
) -> None:
    chaos = random.Random(4475)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(40):
        noise = chaos.randbytes(chaos.randrange(1, 400))
        answers = [
            session.post(server.url + "certfnsh.asp", data=b"Mode=newreq&CertRequest=" + noise,
                         headers=form, timeout=10),
            session.post(server.url + "certfnsh.asp", data=noise, headers=form, timeout=10),
            session.get(server.url + "certnew.cer?" + noise.hex(), timeout=10),
        ]
        assert all(answer.status_code < 500 for answer in answers), noise
    assert client.check_credentials()


def test_every_request_is_recorded_with_the_user_name_sent(
    server: CertsrvServer, ca: CertificationAuthority,
) -> None:
    requests.get(server.url, auth=("mallory", "guess"), verify=str(ca.root_certificate_path),
                 timeout=10)
    requests.get(server.url, auth=(USER, PASSWORD), verify=str(ca.root_certificate_path),
                 timeout=10)
    last_two = [(e["method"], e["path"], e["user"], e["status"]) for e in list(server.evidence)[-2:]]
    assert last_two == [("GET", "/certsrv/", "mallory", 401), ("GET", "/certsrv/", USER, 200)]


# -- TLS, as OpenSSL sees it ----------------------------------------------------------------

@pytest.mark.interop
def test_openssl_verifies_the_ca_host_certificate(
    server: CertsrvServer, ca: CertificationAuthority,
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    done = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}",
         "-CAfile", str(ca.root_certificate_path), "-verify_return_error",
         "-verify_ip", "127.0.0.1"],
        input=b"", capture_output=True, timeout=30, check=False,
    )
    output = done.stdout.decode(errors="replace")
    assert done.returncode == 0, output + done.stderr.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in output
    assert re.search(r"subject=CN ?= ?labdc01\.companya\.com", output)
    # The two-tier server sends its issuing CA, so the root alone is enough to trust it.
    assert "companya-LABDC01-CA" in output
