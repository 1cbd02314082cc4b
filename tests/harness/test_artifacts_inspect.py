"""``ucclab inspect``: what each kind of file holds, as data and as text."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from harness.artifacts import (
    ArtifactError,
    WrongPasswordError,
    detect_format,
    export_pfx,
    inspect_file,
    keytool_import,
    page_krb5_conf,
    read_certificate,
    read_keystore,
    read_krb5_conf,
    read_pfx,
    render_inspection,
    write_der_certificate,
    write_krb5_conf,
)
from harness.artifacts._reading import MAX_ARTIFACT_BYTES

from .artifacts_support import Pki, requires_openssl, run


def _inspect(path: Path, password: str | None = None) -> dict:
    info = inspect_file(path, password)
    json.dumps(info)  # the CLI's --json prints it as is
    assert render_inspection(info).startswith(f"{path}: ")
    return info


def test_der_certificate(tmp_path: Path, pki: Pki) -> None:
    info = _inspect(write_der_certificate(tmp_path / "UCC_Certificate.cer", pki.leaf))
    assert info["format"] == "der-certificate"
    cert = info["certificate"]
    assert cert["subject"] == "CN=ucc01.companya.com"
    assert cert["issuer"] == "CN=companya-ISSUING-CA"
    assert cert["subject_alternative_names"] == ["DNS:ucc01.companya.com"]
    assert cert["extended_key_usages"] == [
        {"name": "serverAuth", "oid": "1.3.6.1.5.5.7.3.1"},
        {"name": "clientAuth", "oid": "1.3.6.1.5.5.7.3.2"},
    ]
    assert cert["key_usage"] == ["digitalSignature", "keyEncipherment"]
    assert cert["key"] == {"type": "RSA", "size": 2048}
    assert cert["template"] == {"name": "WebServer"}
    assert cert["thumbprint_sha1"] == pki.leaf.fingerprint(hashes.SHA1()).hex().upper()
    assert cert["serial_number"] == format(pki.leaf.serial_number, "x")
    text = render_inspection(info)
    assert "Enhanced key usage: serverAuth (1.3.6.1.5.5.7.3.1), clientAuth (1.3.6.1.5.5.7.3.2)" in text
    assert "Certificate template: {'name': 'WebServer'}" in text


@pytest.mark.interop
@requires_openssl
def test_thumbprint_is_opensslss_sha1_fingerprint(tmp_path: Path, pki: Pki) -> None:
    path = write_der_certificate(tmp_path / "fe.cer", pki.frontend)
    result = run("openssl", "x509", "-inform", "der", "-in", str(path), "-noout", "-fingerprint", "-sha1")
    openssl_sha1 = result.stdout.strip().split("=")[1].replace(":", "")
    assert openssl_sha1 == inspect_file(path)["certificate"]["thumbprint_sha1"]


def test_pem_certificate_with_a_chain(tmp_path: Path, pki: Pki) -> None:
    path = tmp_path / "chain.pem"
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (pki.frontend, pki.root)))
    info = _inspect(path)
    assert info["format"] == "pem-certificate"
    assert info["certificate"]["subject"] == "CN=fe01.companya.com"
    assert info["notes"] == ["1 more certificate(s) follow; keytool and openssl x509 read only the first"]


def test_pfx_with_and_without_password(tmp_path: Path, pki: Pki) -> None:
    path = export_pfx(
        tmp_path / "GenesysServer_Certficate.pfx",
        certificate=pki.leaf,
        private_key=pki.leaf_key,
        chain=[pki.root, pki.issuing],  # out of order on purpose: the chain is ordered by issuer
        friendly_name="GenesysServerCertificate",
    )
    locked = _inspect(path)
    assert locked["password_needed"] is True
    assert locked["pkcs12"]["mac"] == {"digest": "sha256", "iterations": 2048}
    assert [c["protection"] for c in locked["pkcs12"]["containers"]] == [
        "PBES2, PBKDF2, AES-256-CBC, PRF hmacWithSHA256",
        None,
    ]
    info = _inspect(path, "mnopqr")
    pfx = info["pfx"]
    assert pfx["key_present"] and pfx["key_encrypted"]
    assert [c["subject"] for c in pfx["chain"]] == [
        "CN=ucc01.companya.com",
        "CN=companya-ISSUING-CA",
        "CN=companya-LABDC01-CA",
    ]
    assert [b["type"] for b in info["pkcs12"]["bags"]] == ["certBag"] * 3 + ["pkcs8ShroudedKeyBag"]
    entries = info["keystore"]["entries"]
    assert [(e["alias"], e["kind"], len(e["certificates"])) for e in entries] == [
        ("genesysservercertificate", "PrivateKeyEntry", 3)
    ]
    assert "certification path (3):" in render_inspection(info)
    with pytest.raises(WrongPasswordError):
        inspect_file(path, "wrong")


def test_unencrypted_pfx_warns_about_java(tmp_path: Path, pki: Pki) -> None:
    path = export_pfx(tmp_path / "clear.pfx", certificate=pki.leaf, private_key=pki.leaf_key, password=None)
    info = _inspect(path)
    assert not info["pfx"]["key_encrypted"]
    assert info["keystore"]["entries"] == []
    assert any("an unencrypted private key; Java skips it" in note for note in info["keystore"]["notes"])


def test_trust_stores_show_declared_versus_real_type(tmp_path: Path, pki: Pki) -> None:
    common = {"alias": "ucc-cert", "certificate": pki.frontend, "password": "changeit"}
    pkcs12_store = keytool_import(tmp_path / "UCC_store.jks", **common)
    jks_store = keytool_import(tmp_path / "MYSTORE.jks", **common, storetype="jks")
    info = _inspect(pkcs12_store, "changeit")
    assert info["format"] == "pkcs12"
    store = info["keystore"]
    assert (store["real_type"], store["declared_type"], store["type_mismatch"]) == ("pkcs12", "jks", True)
    assert [(e["alias"], e["kind"]) for e in store["entries"]] == [("ucc-cert", "trustedCertEntry")]
    assert "type mismatch" in render_inspection(info)
    info = _inspect(jks_store)  # no password: Java reads JKS trusted certificates anyway
    assert (info["keystore"]["real_type"], info["keystore"]["type_mismatch"]) == ("jks", False)
    assert info["keystore"]["entries"][0]["certificates"][0]["subject"] == "CN=fe01.companya.com"


def test_krb5_conf_and_unknown(tmp_path: Path) -> None:
    conf = page_krb5_conf("COMPANYA.COM", "labdc01.companya.com", "companya.com")
    path = write_krb5_conf(tmp_path / "krb5.conf", conf)
    info = _inspect(path)
    assert info["format"] == "krb5.conf"
    assert info["krb5_conf"]["realms"] == {"COMPANYA.COM": {"kdc": ["labdc01.companya.com"]}}
    assert "[domain_realm] {'.companya.com': 'COMPANYA.COM'}" in render_inspection(info)
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert _inspect(other)["format"] == "unknown"


# -- bounded input: what is not a regular file, or is too large, is refused unread ---------


READERS: dict[str, Callable[[Path], object]] = {
    "inspect": inspect_file,
    "detect_format": detect_format,
    "read_certificate": read_certificate,
    "read_pfx": lambda path: read_pfx(path, "mnopqr"),
    "read_keystore": lambda path: read_keystore(path, "genesys", "jks"),
    "read_krb5_conf": read_krb5_conf,
}


@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_refuses_a_file_over_the_cap(tmp_path: Path, reader: str) -> None:
    big = tmp_path / "huge.pfx"
    with big.open("wb") as f:
        f.truncate(MAX_ARTIFACT_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(ArtifactError) as raised:
        READERS[reader](big)
    assert raised.value.path == big
    assert raised.value.message == (
        f"{MAX_ARTIFACT_BYTES + 1} bytes: larger than the {MAX_ARTIFACT_BYTES} bytes any certificate, PFX, "
        "key store or krb5.conf comes near; refused"
    )


@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_refuses_a_folder_and_a_device(tmp_path: Path, reader: str) -> None:
    for path, kind in ((tmp_path, "a folder"), (Path("/dev/null"), "a character device")):
        with pytest.raises(ArtifactError, match=f"^{path}: not a regular file but {kind}: refused"):
            READERS[reader](path)


def test_a_file_at_the_cap_is_read(tmp_path: Path) -> None:
    """The cap is generous: a JDK's cacerts is a twentieth of it."""
    padded = tmp_path / "krb5.conf"
    text = "[libdefaults]\n    default_realm = COMPANYA.COM\n"
    padded.write_text(text + "#" * (MAX_ARTIFACT_BYTES - len(text) - 1) + "\n")
    assert read_krb5_conf(padded).libdefaults == {"default_realm": "COMPANYA.COM"}
