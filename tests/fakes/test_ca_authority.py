"""The CA itself: its certificates, its state folder, its database."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from fakes.ca import CAStateError, CertificationAuthority

from .conftest import CopyState, MakeCsr


def test_one_tier_ca_is_a_self_signed_enterprise_root(ca_one_tier: CertificationAuthority) -> None:
    ca = ca_one_tier
    assert ca.config_string == "labdc01.companya.com\\companya-LABDC01-CA"
    assert ca.certificate.subject.rfc4514_string() == "CN=companya-LABDC01-CA,DC=companya,DC=com"
    assert ca.chain == [ca.certificate] and ca.root_certificate == ca.certificate
    assert ca.renewals == 0 and not ca.two_tier
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    ca.certificate.verify_directly_issued_by(ca.certificate)


def test_two_tier_chain_verifies(ca_two_tier: CertificationAuthority, ca_make_csr: MakeCsr) -> None:
    ca = ca_two_tier
    issuing, root = ca.chain
    assert root.subject.rfc4514_string() == "CN=companya-ROOT-CA"
    assert issuing.subject.rfc4514_string() == "CN=companya-LABDC01-CA,DC=companya,DC=com"
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    leaf = ca.submit(ca_make_csr(), template="WebServer", requester="COMPANYA\\admin").certificate
    assert leaf is not None
    root.verify_directly_issued_by(root)
    issuing.verify_directly_issued_by(root)
    leaf.verify_directly_issued_by(issuing)


@pytest.mark.interop
def test_openssl_verifies_a_leaf_through_the_two_tier_chain(
    ca_two_tier: CertificationAuthority, ca_make_csr: MakeCsr, tmp_path: Path,
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    leaf = ca_two_tier.submit(ca_make_csr(), template="WebServer",
                              requester="COMPANYA\\admin").certificate
    assert leaf is not None
    issuing = tmp_path / "issuing.pem"
    issuing.write_bytes(ca_two_tier.certificate.public_bytes(Encoding.PEM))
    leaf_path = tmp_path / "leaf.pem"
    leaf_path.write_bytes(leaf.public_bytes(Encoding.PEM))
    command = ["openssl", "verify", "-CAfile", str(ca_two_tier.root_certificate_path),
               "-untrusted", str(issuing), "-purpose", "sslserver", str(leaf_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"{leaf_path}: OK"
    # Without the issuing CA the root alone cannot vouch for the leaf.
    alone = subprocess.run([*command[:4], str(leaf_path)], capture_output=True, text=True,
                           timeout=30)
    assert alone.returncode != 0


def test_state_folder_holds_keys_0600_and_a_description(
    ca_two_tier: CertificationAuthority,
) -> None:
    state = ca_two_tier.state_dir
    for key in ("ca.key", "root.key", "https.key"):
        assert stat.S_IMODE((state / key).stat().st_mode) == 0o600, key
    description = json.loads((state / "ca.json").read_text())
    assert description["config_string"] == ca_two_tier.config_string
    assert description["root_common_name"] == "companya-ROOT-CA"
    assert [t["name"] for t in description["templates"]] == list(ca_two_tier.templates)
    assert ca_two_tier.chain_path.read_bytes().count(b"BEGIN CERTIFICATE") == 2
    # The HTTPS server sends its certificate and the issuing CA, not the root.
    assert ca_two_tier.https_cert_path.read_bytes().count(b"BEGIN CERTIFICATE") == 2


def test_the_ca_host_https_certificate_is_request_1(ca_one_tier: CertificationAuthority) -> None:
    cert = ca_one_tier.https_certificate
    assert cert.subject.rfc4514_string() == "CN=labdc01.companya.com"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["labdc01.companya.com"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    first = ca_one_tier.get_request(1)
    assert first is not None
    assert first.requester == "COMPANYA\\LABDC01$" and first.certificate == cert


def test_the_database_survives_reopening(
    ca_one_tier_dir: Path, ca_copy: CopyState, ca_make_csr: MakeCsr,
) -> None:
    state_dir = ca_copy(ca_one_tier_dir)
    with CertificationAuthority.open(state_dir) as ca:
        issued = ca.submit(ca_make_csr(), template="WebServer", requester="COMPANYA\\admin",
                           attributes={"SAN": "dns=x"})
        denied = ca.submit(b"junk", template="WebServer", requester="COMPANYA\\admin")
    with CertificationAuthority.open(state_dir) as ca:
        again = ca.get_request(issued.request_id)
        assert again is not None and issued.certificate is not None
        assert again.certificate is not None
        assert again.certificate.public_bytes(Encoding.DER) == issued.certificate.public_bytes(
            Encoding.DER)
        assert (again.disposition, again.status, again.message, again.template) == (
            "issued", 0, "Issued", "WebServer")
        assert again.attributes == (("SAN", "dns=x"),)
        assert again.subject == "CN=ucc01.companya.com"
        refused = ca.get_request(denied.request_id)
        assert refused is not None and refused.csr == b"junk" and refused.disposition == "denied"
        assert [r.request_id for r in ca.requests()] == [1, issued.request_id, denied.request_id]
        assert ca.get_request(999) is None


def test_open_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CAStateError, match="does not exist"):
        CertificationAuthority.open(tmp_path / "nowhere")


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00not what it should be\xff")


def _swap_keys(state: Path) -> None:
    (state / "ca.key").write_bytes((state / "https.key").read_bytes())


def _damage_private_half(state: Path) -> None:
    """The same public key with a wrong private exponent (and CRT values): it parses, it signs garbage."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        NoEncryption, PrivateFormat, load_pem_private_key,
    )

    key = load_pem_private_key((state / "ca.key").read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    good = key.private_numbers()
    bad = rsa.RSAPrivateNumbers(
        p=good.p, q=good.q, d=good.d + 2, dmp1=good.dmp1 + 2, dmq1=good.dmq1 + 2, iqmp=good.iqmp,
        public_numbers=good.public_numbers,
    ).private_key(unsafe_skip_rsa_key_validation=True)
    (state / "ca.key").write_bytes(bad.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))


def _wrong_format(state: Path) -> None:
    (state / "ca.json").write_text(json.dumps({"format": "something-else", "version": 1}))


def _missing_entry(state: Path) -> None:
    description = json.loads((state / "ca.json").read_text())
    del description["host_fqdn"]
    (state / "ca.json").write_text(json.dumps(description))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda s: (s / "ca.json").unlink(), r"ca\.json: missing"),
        (lambda s: _garbage(s / "ca.json"), r"ca\.json: not valid JSON"),
        (_wrong_format, r"ca\.json: not a description of this CA"),
        (_missing_entry, r"ca\.json: missing or malformed entry .*host_fqdn"),
        (lambda s: (s / "ca.key").unlink(), r"ca\.key: missing"),
        (lambda s: _garbage(s / "ca.key"), r"ca\.key: not a readable unencrypted PEM private key"),
        (lambda s: _garbage(s / "ca.pem"), r"ca\.pem: not a readable PEM certificate"),
        (_swap_keys, r"ca\.key: does not match the certificate in .*ca\.pem"),
        (_damage_private_half, r"ca\.key: a damaged private key"),
        (lambda s: _garbage(s / "ca.sqlite"), r"ca\.sqlite: not a readable request database"),
        (lambda s: (s / "ca.sqlite").unlink(), r"ca\.sqlite: the CA's request database is missing"),
    ],
)
def test_open_names_what_is_wrong_with_the_state(
    ca_one_tier_dir: Path, ca_copy: CopyState, damage: Callable[[Path], object], expected: str,
) -> None:
    state_dir = ca_copy(ca_one_tier_dir)
    damage(state_dir)
    with pytest.raises(CAStateError, match=expected):
        CertificationAuthority.open(state_dir)


def test_create_refuses_a_folder_that_holds_a_ca(ca_one_tier_dir: Path) -> None:
    with pytest.raises(CAStateError, match="already holds CA state"):
        CertificationAuthority.create(ca_one_tier_dir)


def test_open_or_create_opens_what_is_there(ca_one_tier_dir: Path, ca_copy: CopyState) -> None:
    state_dir = ca_copy(ca_one_tier_dir)
    with CertificationAuthority.open(state_dir) as ca:
        expected = ca.certificate
    with CertificationAuthority.open_or_create(state_dir) as ca:
        assert ca.certificate == expected
    with pytest.raises(CAStateError, match="two_tier"):
        CertificationAuthority.open_or_create(state_dir, two_tier=True)


def test_open_or_create_refuses_an_interrupted_create(
    ca_one_tier_dir: Path, ca_copy: CopyState,
) -> None:
    state_dir = ca_copy(ca_one_tier_dir)
    (state_dir / "ca.json").unlink()
    with pytest.raises(CAStateError, match="already holds CA state"):
        CertificationAuthority.open_or_create(state_dir)


def test_open_or_create_creates_in_an_empty_folder(tmp_path: Path) -> None:
    with CertificationAuthority.open_or_create(tmp_path / "new", common_name="lab-CA",
                                               host_fqdn="ca01.lab.example") as ca:
        assert ca.config_string == "ca01.lab.example\\lab-CA"
        assert ca.certificate.subject.rfc4514_string() == "CN=lab-CA,DC=lab,DC=example"
