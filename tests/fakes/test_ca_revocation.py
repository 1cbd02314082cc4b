"""Revocation on the CA side: ``certutil -revoke`` (the admin action ``revoke``), the base
CRL the CA publishes at its CDP, and the ways a scenario bends publication.

The CRL is fetched the way a relying party fetches it — plain HTTP on the CA host's
CertEnroll site, and certsrv's ``certcrl.crl`` — and read and checked by OpenSSL
(``openssl crl -text``, ``openssl verify -crl_check``).
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from fakes.ca import REVOCATION_REASONS, CertificationAuthority, CertutilError
from fakes.ca._crl import parse_reason, parse_serial
from tests.conftest import require_tool

from .ca_support import PASSWORD, USER, ServerThread
from .conftest import CopyState, MakeCsr


@pytest.fixture(autouse=True)
def _trust_only_the_given_cafile(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def site(ca_two_tier: CertificationAuthority) -> Iterator[ServerThread]:
    running = ServerThread(ca_two_tier)
    with running:
        yield running


def _issue(ca: CertificationAuthority, make: MakeCsr, cn: str = "ucc01.companya.com") -> x509.Certificate:
    result = ca.submit(make(cn), template="WebServerExportable", requester="COMPANYA\\enroll")
    assert result.certificate is not None
    return result.certificate


def _certutil_serial(cert: x509.Certificate) -> str:
    """The serial as certutil -dump prints it: byte pairs with spaces, lowercase."""
    text = f"{cert.serial_number:x}"
    text = "0" * (len(text) % 2) + text
    return " ".join(text[i:i + 2] for i in range(0, len(text), 2))


def _fetch_crl(site: ServerThread) -> requests.Response:
    assert site.server.crl_url is not None
    return requests.get(site.server.crl_url, timeout=10)


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("openssl"), *args], capture_output=True, text=True, timeout=30, check=False)


def _write(path: Path, *items: Any) -> Path:
    path.write_bytes(b"".join(item.public_bytes(Encoding.PEM) for item in items))
    return path


def _verify(tmp_path: Path, ca: CertificationAuthority, cert: x509.Certificate, crls: list[bytes]) -> str:
    """``openssl verify -crl_check_all`` of ``cert`` with the root trusted, the issuing CA
    untrusted, and the CRLs as served (DER); its whole output."""
    root = _write(tmp_path / "root.pem", ca.root_certificate)
    chain = _write(tmp_path / "chain.pem", *ca.chain[:-1])
    leaf = _write(tmp_path / "leaf.pem", cert)
    crl_file = _write(tmp_path / "crls.pem", *(x509.load_der_x509_crl(der) for der in crls))
    done = _openssl("verify", "-crl_check_all", "-CAfile", str(root), "-untrusted", str(chain),
                    "-CRLfile", str(crl_file), str(leaf))
    return done.stdout + done.stderr


def _served_crls(site: ServerThread, ca: CertificationAuthority) -> list[bytes]:
    base = site.server.crl_url
    assert base is not None
    root_url = base.rsplit("/", 1)[0] + f"/{ca.root_common_name}.crl"
    return [_fetch_crl(site).content, requests.get(root_url, timeout=10).content]


# -- certutil's words ------------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "code"), [
    (1, 1), ("1", 1), ("KeyCompromise", 1), ("CRL_REASON_KEY_COMPROMISE", 1), ("Key Compromise", 1),
    ("key_compromise", 1), (0, 0), ("Unspecified", 0), (6, 6), ("CertificateHold", 6), (10, 10),
    ("AACompromise", 10), (-1, -1), ("-1", -1), ("0xffffffff", -1), ("Unrevoke", -1), (8, 8),
])
def test_reasons_in_any_of_certutils_spellings(given: object, code: int) -> None:
    assert parse_reason(given) == code


@pytest.mark.parametrize("given", [7, 11, -2, "bogus", True, 1.5, None, "", "0x"])
def test_a_reason_certutil_does_not_know_is_refused_naming_the_known_ones(given: object) -> None:
    with pytest.raises(CertutilError, match=r"0x80070057 .*the reason .* is none of 0 Unspecified, 1 Key Compromise"):
        parse_reason(given)


@pytest.mark.parametrize(("given", "serial"), [
    ("1a 00 0B", "1a000b"), ("61000000075D1C3ED7B4C4A1D7000000000007", "61000000075d1c3ed7b4c4a1d7000000000007"),
    ("abc", "0abc"), ("00ff", "ff"),
])
def test_serials_as_certutil_prints_them(given: str, serial: str) -> None:
    assert parse_serial(given) == serial


@pytest.mark.parametrize("given", ["0x1a", "1g", "", "  ", 1234, "12-34"])
def test_a_serial_that_is_not_hex_is_refused(given: object) -> None:
    with pytest.raises(CertutilError, match="0x80070057"):
        parse_serial(given)


# -- revoking, and the CRL as OpenSSL reads it ------------------------------------------------------

def test_revoke_through_the_admin_api_publishes_a_crl_at_once(
    site: ServerThread, ca_two_tier: CertificationAuthority, ca_make_csr: MakeCsr, tmp_path: Path,
) -> None:
    ca = ca_two_tier
    revoked, kept = _issue(ca, ca_make_csr), _issue(ca, ca_make_csr, "fe01.companya.com")
    before = x509.load_der_x509_crl(_fetch_crl(site).content)
    status, answer = site.admin("POST", "actions/revoke",
                                {"serial": _certutil_serial(revoked).upper(), "reason": "KeyCompromise"})
    assert status == 200
    assert answer["serial"] == f"{revoked.serial_number:x}"
    assert (answer["reason"], answer["reason_name"], answer["reason_text"]) == (1, "CRL_REASON_KEY_COMPROMISE", "Key Compromise")
    assert answer["subject"] == "CN=ucc01.companya.com" and answer["revoked_at"]
    assert answer["crl"]["revoked"] == [answer["serial"]]
    served = _fetch_crl(site)
    assert served.status_code == 200 and served.headers["Content-Type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(served.content)
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    assert crl.is_signature_valid(ca.certificate.public_key())
    (tmp_path / "served.crl").write_bytes(served.content)
    dump = _openssl("crl", "-inform", "DER", "-in", str(tmp_path / "served.crl"), "-noout", "-text")
    assert dump.returncode == 0, dump.stderr
    assert f"Serial Number: {revoked.serial_number:X}" in dump.stdout
    assert "X509v3 CRL Reason Code: \n                Key Compromise" in dump.stdout
    assert f"X509v3 CRL Number: \n                {number}" in dump.stdout
    assert "Issuer: DC=com, DC=companya, CN=companya-LABDC01-CA" in dump.stdout.replace(" = ", "=")
    # OpenSSL, checking the whole chain against the CRLs the CDPs serve.
    crls = _served_crls(site, ca)
    refused = _verify(tmp_path, ca, revoked, crls)
    assert "error 23 at 0 depth lookup: certificate revoked" in refused
    assert _verify(tmp_path, ca, kept, crls).strip().endswith(": OK")
    kinds = [r["type"] for r in site.server.evidence]
    assert "certificate-revoked" in kinds and "crl-published" in kinds


def test_issued_certificates_point_at_the_crl_the_site_serves(
    site: ServerThread, ca_two_tier: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    ca = ca_two_tier
    cert = _issue(ca, ca_make_csr)
    (point,) = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (url,) = point.full_name or []
    assert url.value == "http://labdc01.companya.com/CertEnroll/companya-LABDC01-CA.crl" == ca.cdp_url
    # The same path on this process's CertEnroll port; the AIA's certificate is there too.
    assert site.server.crl_url is not None and site.server.crl_url.endswith("/CertEnroll/companya-LABDC01-CA.crl")
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    aia_path = aia[0].access_location.value.split("labdc01.companya.com", 1)[1]
    served = requests.get(site.server.crl_url.split("/CertEnroll/")[0] + aia_path, timeout=10)
    assert served.headers["Content-Type"] == "application/x-x509-ca-cert"
    assert x509.load_der_x509_certificate(served.content) == ca.certificate
    # IIS matches names case-insensitively; anything else is its 404.
    assert requests.get(site.server.crl_url.upper().replace("HTTP://", "http://"), timeout=10).status_code == 200
    missing = requests.get(site.server.crl_url.replace(".crl", "+.crl"), timeout=10)
    assert missing.status_code == 404 and "404 - File or directory not found." in missing.text


def test_certsrv_serves_the_same_base_crl_in_der_and_base_64(site: ServerThread, ca_two_tier: CertificationAuthority) -> None:
    auth, verify = (USER, PASSWORD), str(ca_two_tier.root_certificate_path)
    url = site.server.url + "certcrl.crl"
    der = requests.get(url, params={"Type": "base", "Enc": "bin"}, auth=auth, verify=verify, timeout=10)
    assert der.headers["Content-Type"] == "application/pkix-crl" and der.content == _fetch_crl(site).content
    b64 = requests.get(url, params={"Type": "base", "Enc": "b64"}, auth=auth, verify=verify, timeout=10).content
    assert b64.startswith(b"-----BEGIN X509 CRL-----\r\n") and b64.endswith(b"-----END X509 CRL-----\r\n")
    assert x509.load_pem_x509_crl(b64).public_bytes(Encoding.DER) == der.content
    assert requests.get(url, params={"Type": "delta"}, auth=auth, verify=verify, timeout=10).status_code == 404
    assert requests.get(url, params={"Type": "full"}, auth=auth, verify=verify, timeout=10).status_code == 400


def test_a_certificate_on_hold_can_be_released_and_no_other(
    site: ServerThread, ca_two_tier: CertificationAuthority, ca_make_csr: MakeCsr, tmp_path: Path,
) -> None:
    ca = ca_two_tier
    held, revoked = _issue(ca, ca_make_csr), _issue(ca, ca_make_csr)
    status, answer = site.admin("POST", "actions/revoke", {"serial": f"{held.serial_number:x}", "reason": 6})
    assert status == 200 and answer["reason_name"] == "CRL_REASON_CERTIFICATE_HOLD"
    entry = x509.load_der_x509_crl(_fetch_crl(site).content).get_revoked_certificate_by_serial_number(held.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.certificate_hold
    assert "certificate revoked" in _verify(tmp_path, ca, held, _served_crls(site, ca))
    status, answer = site.admin("POST", "actions/revoke", {"serial": f"{held.serial_number:x}", "reason": -1})
    assert status == 200 and answer["revoked_at"] is None and answer["crl"]["revoked"] == []
    assert _verify(tmp_path, ca, held, _served_crls(site, ca)).strip().endswith(": OK")
    status, refused = site.admin("POST", "actions/revoke", {"serial": f"{held.serial_number:x}", "reason": "Unrevoke"})
    assert status == 409 and "is not on hold" in refused["error"]
    site.admin("POST", "actions/revoke", {"serial": f"{revoked.serial_number:x}"})
    status, refused = site.admin("POST", "actions/revoke", {"serial": f"{revoked.serial_number:x}", "reason": -1})
    assert status == 409 and "CERTSRV_E_BAD_REQUESTSTATUS" in refused["error"]
    # Unspecified (the default) carries no reasonCode extension (RFC 5280 5.3.1).
    entry = x509.load_der_x509_crl(_fetch_crl(site).content).get_revoked_certificate_by_serial_number(revoked.serial_number)
    assert entry is not None and len(entry.extensions) == 0


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"serial": "0123456789abcdef"}, 404, "Cannot find object or property. 0x80092004 (-2146885628 CRYPT_E_NOT_FOUND)"),
    ({"serial": "0x12"}, 400, "The parameter is incorrect. 0x80070057"),
    ({"serial": "12", "reason": 99}, 400, "the reason 99 is none of"),
    ({"reason": 1}, 400, 'revoke takes {"serial"'),
    ([], 400, 'revoke takes {"serial"'),
])
def test_revoke_refusals_in_certutils_words(site: ServerThread, body: Any, status: int, words: str) -> None:
    got, answer = site.admin("POST", "actions/revoke", body)
    assert (got, words in answer["error"]) == (status, True)


def test_revoking_twice_is_refused(site: ServerThread, ca_two_tier: CertificationAuthority, ca_make_csr: MakeCsr) -> None:
    serial = f"{_issue(ca_two_tier, ca_make_csr).serial_number:x}"
    assert site.admin("POST", "actions/revoke", {"serial": serial, "reason": 4})[0] == 200
    status, answer = site.admin("POST", "actions/revoke", {"serial": serial, "reason": 1})
    assert status == 409 and "already revoked (CRL_REASON_SUPERSEDED)" in answer["error"]


# -- publication: AD CS's schedule, and bent for scenarios -----------------------------------------

def test_the_base_crl_is_valid_a_week_plus_overlap_and_names_its_next_publication(
    ca_one_tier_dir: Path, ca_copy: CopyState,
) -> None:
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock = [moment]
    with CertificationAuthority.open(ca_copy(ca_one_tier_dir), now=lambda: clock[0]) as ca:
        crl = ca.publish_crl()
        assert crl.last_update_utc == moment - timedelta(minutes=10)
        # One week, 10 % overlap capped at 12 hours, and the clock-skew allowance either side.
        assert crl.next_update_utc == moment + timedelta(weeks=1, hours=12, minutes=10)
        next_publish = crl.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.311.21.4")).value
        assert isinstance(next_publish, x509.UnrecognizedExtension)
        assert next_publish.value == b"\x17\x0d" + b"260309090000Z"  # UTCTime, a week on
        version = crl.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.311.21.1")).value
        assert isinstance(version, x509.UnrecognizedExtension) and version.value == b"\x02\x01\x00"
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert aki.key_identifier == ski.digest
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        # Asked for before its next publication, the CRL stays; after it, a new one is published.
        clock[0] = moment + timedelta(days=6)
        assert ca.crl == crl
        clock[0] = moment + timedelta(weeks=1, seconds=1)
        fresh = ca.crl
        assert fresh.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number + 1
        assert fresh.last_update_utc == clock[0] - timedelta(minutes=10)


def test_an_expired_crl_stays_expired_and_openssl_says_so(
    site: ServerThread, ca_two_tier: CertificationAuthority, ca_make_csr: MakeCsr, tmp_path: Path,
) -> None:
    cert = _issue(ca_two_tier, ca_make_csr)
    status, answer = site.admin("PUT", "settings/crl-publication", {"next_update_offset": -3600})
    assert status == 200 and answer["next_update_offset"] == -3600 and answer["serving"] is True
    crl = x509.load_der_x509_crl(_fetch_crl(site).content)
    assert crl.next_update_utc is not None and crl.next_update_utc < datetime.now(UTC)
    assert "CRL has expired" in _verify(tmp_path, ca_two_tier, cert, _served_crls(site, ca_two_tier))
    # Not healed by the schedule: asked for again, it is the same expired CRL.
    assert x509.load_der_x509_crl(_fetch_crl(site).content) == crl
    status, answer = site.admin("POST", "reset")
    assert status == 200
    assert site.admin("GET", "settings/crl-publication")[1]["next_update_offset"] is None
    assert _verify(tmp_path, ca_two_tier, cert, _served_crls(site, ca_two_tier)).strip().endswith(": OK")


def test_a_cdp_that_is_down_resets_connections_until_it_serves_again(site: ServerThread) -> None:
    status, answer = site.admin("PUT", "settings/crl-publication", {"serving": False})
    assert status == 200 and answer["serving"] is False
    with pytest.raises(requests.ConnectionError):
        _fetch_crl(site)
    dropped = [r for r in site.server.evidence if r["type"] == "http-request" and r.get("dropped")]
    assert dropped and dropped[-1]["site"] == "CertEnroll"
    assert site.admin("PUT", "settings/crl-publication", {"serving": True})[0] == 200
    assert _fetch_crl(site).status_code == 200


@pytest.mark.parametrize("body", [
    {"serving": "no"}, {"next_update_offset": "soon"}, {"next_update_offset": True}, {"next_update_offset": 1e12},
    {"speed": 1}, [],
])
def test_crl_publication_refuses_what_it_cannot_use(site: ServerThread, body: Any) -> None:
    status, answer = site.admin("PUT", "settings/crl-publication", body)
    assert status == 400
    assert any(word in answer["error"] for word in ("crl-publication is", "serving is", "next_update_offset is"))


# -- state ------------------------------------------------------------------------------------------

def test_a_version_1_database_is_upgraded_and_its_certificates_can_be_revoked(
    ca_one_tier_dir: Path, ca_copy: CopyState, ca_make_csr: MakeCsr,
) -> None:
    state = ca_copy(ca_one_tier_dir)
    with CertificationAuthority.open(state) as ca:
        cert = _issue(ca, ca_make_csr)
        count = len(ca.requests())
    # Back to the schema of before pending requests and revocation (version 1).
    with sqlite3.connect(state / "ca.sqlite") as db:
        db.executescript("""
            CREATE TABLE v1 (request_id INTEGER PRIMARY KEY AUTOINCREMENT, submitted_at TEXT NOT NULL,
                requester TEXT NOT NULL, template TEXT,
                disposition TEXT NOT NULL CHECK (disposition IN ('issued', 'denied')),
                status INTEGER NOT NULL, message TEXT NOT NULL, subject TEXT NOT NULL, csr BLOB NOT NULL,
                attributes TEXT NOT NULL, certificate BLOB);
            INSERT INTO v1 SELECT request_id, submitted_at, requester, template, disposition, status, message,
                subject, csr, attributes, certificate FROM requests;
            DROP TABLE requests; DROP TABLE crl_numbers; ALTER TABLE v1 RENAME TO requests;
            PRAGMA user_version = 1;
        """)
    with CertificationAuthority.open(state) as ca:
        assert len(ca.requests()) == count
        record = ca.find_certificate(_certutil_serial(cert))
        assert record is not None and record.certificate == cert
        done = ca.revoke(_certutil_serial(cert), "Superseded")
        assert [entry.serial_number for entry in done.crl] == [cert.serial_number]
        assert ca.submit(ca_make_csr(), template="WebServer", requester="COMPANYA\\a").request_id == count + 1


def test_a_reopened_ca_serves_its_crl_and_counts_on(ca_two_tier_dir: Path, ca_copy: CopyState) -> None:
    state = ca_copy(ca_two_tier_dir)
    with CertificationAuthority.open(state) as ca:
        first = ca.publish_crl()
        assert sorted(p.name for p in ca.cert_enroll_dir.iterdir()) == ca.published_files() == [
            "companya-LABDC01-CA.crl", "companya-ROOT-CA.crl", "companya-ROOT-CA.crt",
            "labdc01.companya.com_companya-LABDC01-CA.crt"]
        root_crl = x509.load_der_x509_crl(ca.published_file("companya-root-ca.CRL") or b"")
        assert root_crl.issuer == ca.root_certificate.subject
        assert root_crl.is_signature_valid(ca.root_certificate.public_key())
    with CertificationAuthority.open(state) as ca:
        assert ca.crl == first  # still current: not published again
        number = first.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        assert ca.publish_crl().extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number + 1


def test_every_reason_code_reaches_the_crl(ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr) -> None:
    wanted = {code: _issue(ca_one_tier, ca_make_csr) for code in REVOCATION_REASONS if code not in (-1, 8)}
    for code, cert in wanted.items():
        ca_one_tier.revoke(f"{cert.serial_number:x}", code)
    crl = ca_one_tier.crl
    for code, cert in wanted.items():
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        assert entry is not None
        reasons = [e.value.reason for e in entry.extensions if isinstance(e.value, x509.CRLReason)]
        assert (reasons == []) if code == 0 else (reasons[0].name.replace("_", "").lower()
                                                   == REVOCATION_REASONS[code][1].replace(" ", "").lower())
