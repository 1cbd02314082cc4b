"""Templates decide what a certificate says: EKU, key usage, subject, validity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fakes.ca import DEFAULT_TEMPLATES, CAError, CertificationAuthority, Template, template_of

from .conftest import CopyState, MakeCsr

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
EFS = x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.4")
OID_UPN = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")


def _issue(ca: CertificationAuthority, csr: x509.CertificateSigningRequest,
           template: str = "WebServer", requester: str = "COMPANYA\\admin") -> x509.Certificate:
    result = ca.submit(csr, template=template, requester=requester)
    assert result.certificate is not None, result.message
    return result.certificate


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_published_templates_are_the_windows_defaults_plus_the_page_copy() -> None:
    assert {name: t.display_name for name, t in DEFAULT_TEMPLATES.items()} == {
        "WebServer": "Web Server",
        "User": "User",
        "Machine": "Computer",
        "WebServerExportable": "Web Server (Exportable)",
        "WebServerApproval": "Web Server (CA Manager Approval)",
        "WebServerExportable2016": "Web Server (Exportable, Windows Server 2016)",
    }
    exportable = {name for name, t in DEFAULT_TEMPLATES.items() if t.allow_private_key_export}
    assert exportable == {"User", "WebServerExportable", "WebServerApproval", "WebServerExportable2016"}
    assert {name: t.schema_version for name, t in DEFAULT_TEMPLATES.items()} == {
        "WebServer": 1, "User": 1, "Machine": 1, "WebServerExportable": 2, "WebServerApproval": 2,
        "WebServerExportable2016": 4,
    }
    assert [name for name, t in DEFAULT_TEMPLATES.items() if t.requires_approval] == ["WebServerApproval"]
    # certsrv's advanced request lists user templates of schema version 1 and 2 only.
    assert [name for name, t in DEFAULT_TEMPLATES.items() if t.web_enrollment] == [
        "WebServer", "User", "WebServerExportable", "WebServerApproval"]
    assert DEFAULT_TEMPLATES["WebServer"].validity == timedelta(days=730)
    assert DEFAULT_TEMPLATES["User"].validity == DEFAULT_TEMPLATES["Machine"].validity == timedelta(
        days=365)
    assert all(t.minimum_key_size == 2048 for t in DEFAULT_TEMPLATES.values())


@pytest.mark.parametrize(
    ("template", "requester", "expected_eku"),
    [
        ("WebServer", "COMPANYA\\admin", [SERVER_AUTH]),
        ("WebServerExportable", "COMPANYA\\admin", [SERVER_AUTH]),
        ("User", "COMPANYA\\jdoe", [EFS, ExtendedKeyUsageOID.EMAIL_PROTECTION, CLIENT_AUTH]),
        ("Machine", "fe01.companya.com", [CLIENT_AUTH, SERVER_AUTH]),
    ],
)
def test_issued_usages_come_from_the_template_not_the_csr(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
    template: str, requester: str, expected_eku: list[x509.ObjectIdentifier],
) -> None:
    # The CSR asks for codeSigning + clientAuth: only the template's usages come back.
    csr = ca_make_csr(eku=[ExtendedKeyUsageOID.CODE_SIGNING, CLIENT_AUTH])
    result = ca_one_tier.submit(csr, template=template, requester=requester)
    assert result.disposition == "issued", result.message
    assert result.certificate is not None
    assert _eku(result.certificate) == expected_eku
    key_usage = result.certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical
    assert key_usage.value.digital_signature and key_usage.value.key_encipherment
    assert not key_usage.value.key_cert_sign
    assert not result.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert template_of(result.certificate) is DEFAULT_TEMPLATES[template]


def test_web_server_certificate_cannot_authenticate_a_tls_client(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    # The trap behind the Front End -> connector direction: asking for clientAuth is useless.
    result = ca_one_tier.submit(ca_make_csr(eku=[CLIENT_AUTH]), template="WebServer",
                                requester="COMPANYA\\admin")
    assert result.certificate is not None
    assert CLIENT_AUTH not in _eku(result.certificate)


def test_template_name_extension_is_a_bmpstring_for_version_1_templates(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    cert = _issue(ca_one_tier, ca_make_csr())
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2"))
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    assert ext.value.value == b"\x1e\x12" + "WebServer".encode("utf-16-be")


def test_the_copy_of_web_server_is_a_version_2_template_with_its_oid(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    copy = DEFAULT_TEMPLATES["WebServerExportable"]
    assert copy.schema_version == 2 and copy.oid is not None
    cert = _issue(ca_one_tier, ca_make_csr(), copy.oid)
    info = cert.extensions.get_extension_for_class(x509.MSCertificateTemplate).value
    assert (info.template_id.dotted_string, info.major_version) == (copy.oid, 100)
    assert template_of(cert) is copy


def test_supply_in_request_templates_keep_the_csr_subject_and_san(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    csr = ca_make_csr("demosrv.genesyslab.com", dns=["demosrv.genesyslab.com", "demosrv"])
    cert = _issue(ca_one_tier, csr, "WebServerExportable")
    assert cert.subject == csr.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["demosrv.genesyslab.com", "demosrv"]


def test_user_subject_is_built_from_the_account_not_the_csr(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    cert = _issue(ca_one_tier, ca_make_csr("evil.example.com"), "User", "COMPANYA\\jdoe")
    assert cert.subject.rfc4514_string() == (
        "1.2.840.113549.1.9.1=jdoe@companya.com,CN=jdoe,CN=Users,DC=companya,DC=com")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["jdoe@companya.com"]
    (upn,) = [n for n in san if isinstance(n, x509.OtherName)]
    assert upn.type_id == OID_UPN and upn.value == b"\x0c\x11jdoe@companya.com"


@pytest.mark.parametrize("requester", ["fe01.companya.com", "COMPANYA\\FE01$", "FE01$"])
def test_machine_subject_is_the_computer_dns_name(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr, requester: str,
) -> None:
    cert = _issue(ca_one_tier, ca_make_csr("whatever"), "Machine", requester)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "fe01.companya.com"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["fe01.companya.com"]


@pytest.mark.parametrize(("template", "days"), [("WebServer", 730), ("User", 365)])
def test_validity_follows_the_template_and_is_backdated_ten_minutes(
    ca_one_tier_dir: Path, ca_copy: CopyState, ca_make_csr: MakeCsr, template: str, days: int,
) -> None:
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    with CertificationAuthority.open(ca_copy(ca_one_tier_dir), now=lambda: moment) as ca:
        result = ca.submit(ca_make_csr(), template=template, requester="COMPANYA\\jdoe")
    assert result.certificate is not None
    assert result.certificate.not_valid_before_utc == moment - timedelta(minutes=10)
    assert result.certificate.not_valid_after_utc == moment + timedelta(days=days)


def test_validity_never_goes_past_the_ca_certificate(
    ca_one_tier_dir: Path, ca_copy: CopyState, ca_make_csr: MakeCsr,
) -> None:
    state_dir = ca_copy(ca_one_tier_dir)
    with CertificationAuthority.open(state_dir) as ca:
        ca_end = ca.certificate.not_valid_after_utc
    with CertificationAuthority.open(state_dir, now=lambda: ca_end - timedelta(days=30)) as ca:
        assert _issue(ca, ca_make_csr()).not_valid_after_utc == ca_end
    late = CertificationAuthority.open(state_dir, now=lambda: ca_end + timedelta(days=1))
    with late, pytest.raises(CAError, match="expired"):
        late.submit(ca_make_csr(), template="WebServer", requester="COMPANYA\\a")


def test_the_clock_must_be_timezone_aware(ca_one_tier_dir: Path, ca_copy: CopyState) -> None:
    # Opening the CA already asks the clock whether its CRL is due.
    with pytest.raises(CAError, match="timezone-aware"):
        CertificationAuthority.open(ca_copy(ca_one_tier_dir), now=datetime.now)


def test_issued_certificates_are_shaped_like_ad_cs_ones(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    cert = _issue(ca_one_tier, ca_make_csr())
    assert cert.issuer == ca_one_tier.certificate.subject
    assert cert.serial_number.bit_length() == 151  # 19 bytes of DER, no sign byte
    ca_ski = ca_one_tier.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski.value.digest
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for n in cdp[0].full_name or []] == [
        "http://labdc01.companya.com/CertEnroll/companya-LABDC01-CA.crl"]
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == [
        "http://labdc01.companya.com/CertEnroll/labdc01.companya.com_companya-LABDC01-CA.crt"]
    cert.verify_directly_issued_by(ca_one_tier.certificate)


def test_serials_differ(ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr) -> None:
    serials = {_issue(ca_one_tier, ca_make_csr()).serial_number for _ in range(3)}
    assert len(serials) == 3


def test_templates_survive_a_round_trip_through_their_description() -> None:
    for template in DEFAULT_TEMPLATES.values():
        assert Template.from_dict(template.to_dict()) == template


def test_a_template_with_an_unknown_key_usage_flag_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown key usage flag"):
        Template("T", "T", (SERVER_AUTH,), frozenset({"digitalSignature"}), False, True,
                 timedelta(days=1))
