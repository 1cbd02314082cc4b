"""Denials, worded as AD CS words them and recorded in the database like AD CS does."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from fakes.ca import CertificationAuthority, describe_status

from .conftest import MakeCsr

UNSUPPORTED = (
    "Denied by Policy Module  0x80094800, The request was for a certificate template that is "
    "not supported by the Active Directory Certificate Services policy: {}."
)


def _pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(Encoding.PEM)


def _bad_signature(csr: x509.CertificateSigningRequest) -> bytes:
    der = bytearray(csr.public_bytes(Encoding.DER))
    der[-3] ^= 0x01  # inside the signature value
    return bytes(der)


Case = tuple[Callable[[MakeCsr, rsa.RSAPrivateKey], bytes], str | None, str, int, str]

CASES: dict[str, Case] = {
    "unknown template": (
        lambda make, small: _pem(make()), "NoSuchTemplate", "COMPANYA\\admin", 0x80094800,
        UNSUPPORTED.format("NoSuchTemplate"),
    ),
    "display name instead of template name": (
        lambda make, small: _pem(make()), "Web Server", "COMPANYA\\admin", 0x80094800,
        UNSUPPORTED.format("Web Server"),
    ),
    "no template": (
        lambda make, small: _pem(make()), None, "COMPANYA\\admin", 0x80094801,
        "Denied by Policy Module  0x80094801, The request contains no certificate template"
        " information.",
    ),
    "empty template": (
        lambda make, small: _pem(make()), "", "COMPANYA\\admin", 0x80094801,
        "Denied by Policy Module  0x80094801, The request contains no certificate template"
        " information.",
    ),
    "garbage bytes": (
        lambda make, small: b"\x00\xffthis is not a request", "WebServer", "COMPANYA\\admin",
        0x8009310B,
        "Error Parsing Request  ASN1 bad tag value met. 0x8009310b (ASN: 267 CRYPT_E_ASN1_BADTAG)",
    ),
    "truncated PEM": (
        lambda make, small: _pem(make())[:400], "WebServer", "COMPANYA\\admin", 0x80093102,
        "Error Parsing Request  ASN1 unexpected end of data. 0x80093102"
        " (ASN: 258 CRYPT_E_ASN1_EOD)",
    ),
    "a certificate instead of a request": (
        lambda make, small: b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n",
        "WebServer", "COMPANYA\\admin", 0x8009310B,
        "Error Parsing Request  ASN1 bad tag value met. 0x8009310b (ASN: 267 CRYPT_E_ASN1_BADTAG)",
    ),
    "bad signature": (
        lambda make, small: _bad_signature(make()), "WebServer", "COMPANYA\\admin", 0x80090006,
        "Error Verifying Request Signature or Signing Certificate  Invalid Signature."
        " 0x80090006 (-2146893818 NTE_BAD_SIGNATURE)",
    ),
    "1024-bit key": (
        lambda make, small: _pem(make(key=small)), "WebServer", "COMPANYA\\admin", 0x80094811,
        "Denied by Policy Module  0x80094811, The public key does not meet the minimum size"
        " required by the specified certificate template.",
    ),
    "empty subject and no SAN": (
        lambda make, small: _pem(make(None)), "WebServer", "COMPANYA\\admin", 0x80094001,
        "Denied by Policy Module  0x80094001, The request subject name is invalid or too long.",
    ),
    "computer template, user account": (
        lambda make, small: _pem(make()), "Machine", "COMPANYA\\admin", 0x80094012,
        "Denied by Policy Module  0x80094012, The permissions on the certificate template do"
        " not allow the current user to enroll for this type of certificate.",
    ),
    "user template, computer account": (
        lambda make, small: _pem(make()), "User", "COMPANYA\\FE01$", 0x80094012,
        "Denied by Policy Module  0x80094012, The permissions on the certificate template do"
        " not allow the current user to enroll for this type of certificate.",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_denials_are_answered_and_recorded(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
    ca_small_rsa_key: rsa.RSAPrivateKey, case: Case,
) -> None:
    build, template, requester, status, message = case
    request = build(ca_make_csr, ca_small_rsa_key)
    result = ca_one_tier.submit(request, template=template, requester=requester)
    assert (result.disposition, result.status, result.message) == ("denied", status, message)
    assert result.certificate is None
    record = ca_one_tier.get_request(result.request_id)
    assert record is not None
    assert (record.disposition, record.status, record.message) == ("denied", status, message)
    assert (record.csr, record.requester, record.certificate) == (request, requester, None)


def test_a_denied_request_keeps_the_subject_it_asked_for(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    result = ca_one_tier.submit(ca_make_csr("ucc01.companya.com"), template="Nope",
                                requester="COMPANYA\\admin")
    record = ca_one_tier.get_request(result.request_id)
    assert record is not None and record.subject == "CN=ucc01.companya.com"
    assert record.template == "Nope"


def test_request_ids_keep_counting_across_denials(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
) -> None:
    ids = [ca_one_tier.submit(b"junk", template="WebServer", requester="x").request_id,
           ca_one_tier.submit(ca_make_csr(), template="WebServer", requester="x").request_id]
    assert ids[1] == ids[0] + 1


@pytest.mark.parametrize(
    "encode",
    [
        lambda csr: csr.public_bytes(Encoding.DER),
        lambda csr: base64.b64encode(csr.public_bytes(Encoding.DER)),
        lambda csr: csr.public_bytes(Encoding.PEM).replace(b"CERTIFICATE REQUEST",
                                                           b"NEW CERTIFICATE REQUEST"),
        lambda csr: csr,
    ],
    ids=["DER", "bare base64", "Windows PEM header", "object"],
)
def test_any_encoding_of_a_request_is_accepted(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr,
    encode: Callable[[x509.CertificateSigningRequest], bytes | x509.CertificateSigningRequest],
) -> None:
    result = ca_one_tier.submit(encode(ca_make_csr()), template="WebServer", requester="x")
    assert result.disposition == "issued", result.message


@pytest.mark.parametrize("name", ["webserver", "WEBSERVER", "WebServer"])
def test_template_names_match_case_insensitively(
    ca_one_tier: CertificationAuthority, ca_make_csr: MakeCsr, name: str,
) -> None:
    result = ca_one_tier.submit(ca_make_csr(), template=name, requester="x")
    assert (result.disposition, result.template) == ("issued", "WebServer")


def test_describe_status_prints_codes_like_certutil() -> None:
    assert describe_status(0x80094800) == (
        "The requested certificate template is not supported by this CA. 0x80094800"
        " (-2146875392 CERTSRV_E_UNSUPPORTED_CERT_TYPE)")
    assert describe_status(0x80094811) == (
        "The public key does not meet the minimum size required by the specified certificate"
        " template. 0x80094811 (-2146875375 CERTSRV_E_KEY_LENGTH)")
