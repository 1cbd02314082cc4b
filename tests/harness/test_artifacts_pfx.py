"""PFX files as the Certificate Export Wizard writes them, read back by us, OpenSSL and keytool."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from harness.artifacts import (
    ArtifactError,
    CorruptFileError,
    KeyNotExportableError,
    WrongFormatError,
    WrongPasswordError,
    export_pfx,
    read_keystore,
    read_pfx,
    write_der_certificate,
)

from .artifacts_support import (
    Pki,
    keytool_list,
    requires_keytool,
    requires_openssl,
    run,
    run_all,
)

# (file name, export_pfx arguments, expected certificates in the file)
VARIANTS = {
    "aes-chain": ({"encryption": "aes256", "include_chain": True, "friendly_name": "GenesysServerCertificate"}, 3),
    "aes-leaf": ({"encryption": "aes256", "include_chain": False, "friendly_name": "GenesysServerCertificate"}, 1),
    "3des-chain": ({"encryption": "3des", "include_chain": True}, 3),
    "3des-leaf": ({"encryption": "3des", "include_chain": False}, 1),
}


@pytest.fixture(scope="module")
def pfx_files(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pfx")
    files = {
        name: export_pfx(
            folder / f"{name}.pfx", certificate=pki.leaf, private_key=pki.leaf_key, chain=pki.chain, **kwargs
        )
        for name, (kwargs, _count) in VARIANTS.items()
    }
    files["no-password"] = export_pfx(
        folder / "no-password.pfx", certificate=pki.leaf, private_key=pki.leaf_key, chain=pki.chain, password=None
    )
    return files


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variants_read_back(pfx_files: dict[str, Path], pki: Pki, name: str) -> None:
    kwargs, count = VARIANTS[name]
    contents = read_pfx(pfx_files[name], "mnopqr")
    assert contents.certificate == pki.leaf
    assert contents.private_key is not None
    assert contents.private_key.public_key() == pki.leaf_key.public_key()
    assert contents.key_encrypted
    assert contents.chain == [pki.leaf, *pki.chain][:count]
    assert contents.encryption == kwargs["encryption"]
    assert contents.friendly_name == kwargs.get("friendly_name")
    assert contents.mac_algorithm == ("sha256" if kwargs["encryption"] == "aes256" else "sha1")
    assert stat.S_IMODE(pfx_files[name].stat().st_mode) == 0o600


def test_protections_are_the_wizards(pfx_files: dict[str, Path]) -> None:
    aes = read_pfx(pfx_files["aes-chain"], "mnopqr")
    assert aes.key_protection == aes.certificate_protection == "PBES2, PBKDF2, AES-256-CBC, PRF hmacWithSHA256"
    des = read_pfx(pfx_files["3des-chain"], "mnopqr")
    assert des.key_protection == des.certificate_protection == "pbeWithSHA1And3-KeyTripleDES-CBC"


def test_no_password_writes_everything_in_clear(pfx_files: dict[str, Path], pki: Pki) -> None:
    contents = read_pfx(pfx_files["no-password"], None)
    assert contents.private_key is not None
    assert not contents.key_encrypted
    assert contents.encryption == "none"
    assert contents.chain == [pki.leaf, *pki.chain]


def test_wrong_password(pfx_files: dict[str, Path]) -> None:
    with pytest.raises(WrongPasswordError) as info:
        read_pfx(pfx_files["aes-chain"], "wrong")
    assert "Mac verify error: invalid password?" in str(info.value)
    assert "The password you entered is incorrect." in str(info.value)
    assert str(pfx_files["aes-chain"]) in str(info.value)
    with pytest.raises(WrongPasswordError):
        read_pfx(pfx_files["3des-chain"], None)


def test_key_not_exportable_has_the_wizards_words(tmp_path: Path, pki: Pki) -> None:
    path = tmp_path / "GenesysServer_Certficate.pfx"
    with pytest.raises(KeyNotExportableError) as info:
        export_pfx(path, certificate=pki.leaf, private_key=pki.leaf_key, key_exportable=False)
    assert info.value.message == (
        "The associated private key is marked as not exportable. Only the certificate can be exported."
    )
    assert info.value.HRESULT == 0x8009000B
    assert "NTE_BAD_KEY_STATE" in info.value.CERTUTIL_TEXT
    assert info.value.POWERSHELL_TEXT == "Cannot export non-exportable private key."
    assert info.value.path == path
    assert not path.exists()


def test_no_pfx_without_the_private_key(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(ArtifactError, match=r"needs \"Yes, export the private key\".*PKCS #7"):
        export_pfx(tmp_path / "x.pfx", certificate=pki.leaf, private_key=pki.leaf_key, export_private_key=False)
    with pytest.raises(ArtifactError, match="no private key"):
        export_pfx(tmp_path / "x.pfx", certificate=pki.leaf, private_key=None)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"encryption": "rc4"}, "encryption must be one of aes256, 3des"),
        ({"password": ""}, "requires a password"),
    ],
)
def test_bad_export_arguments(tmp_path: Path, pki: Pki, kwargs: dict[str, str], words: str) -> None:
    with pytest.raises(ArtifactError, match=words):
        export_pfx(tmp_path / "x.pfx", certificate=pki.leaf, private_key=pki.leaf_key, **kwargs)


def test_key_must_belong_to_the_certificate(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(ArtifactError, match="does not belong"):
        export_pfx(tmp_path / "x.pfx", certificate=pki.leaf, private_key=pki.frontend_key)


def test_not_a_pfx(tmp_path: Path, pki: Pki, pfx_files: dict[str, Path]) -> None:
    cer = write_der_certificate(tmp_path / "UCC_Certificate.cer", pki.frontend)
    with pytest.raises(WrongFormatError, match="this is a DER certificate"):
        read_pfx(cer, "mnopqr")
    empty = tmp_path / "empty.pfx"
    empty.write_bytes(b"")
    with pytest.raises(CorruptFileError, match="empty"):
        read_pfx(empty, "mnopqr")
    cut = tmp_path / "cut.pfx"
    cut.write_bytes(pfx_files["aes-chain"].read_bytes()[:700])
    with pytest.raises(CorruptFileError, match="truncated"):
        read_pfx(cut, "mnopqr")


@pytest.mark.interop
@requires_openssl
def test_openssl_reads_every_variant(pfx_files: dict[str, Path]) -> None:
    for name, (kwargs, count) in VARIANTS.items():
        result = run(
            "openssl", "pkcs12", "-info", "-nokeys", "-in", str(pfx_files[name]), "-passin", "pass:mnopqr"
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("-----BEGIN CERTIFICATE-----") == count, name
        algorithm = "AES-256-CBC" if kwargs["encryption"] == "aes256" else "pbeWithSHA1And3-KeyTripleDES-CBC"
        assert f"Shrouded Keybag: {'PBES2, PBKDF2, ' if 'AES' in algorithm else ''}{algorithm}" in result.stderr
    wrong = run("openssl", "pkcs12", "-info", "-nokeys", "-in", str(pfx_files["aes-chain"]), "-passin", "pass:no")
    assert "Mac verify error: invalid password?" in wrong.stderr


@pytest.mark.interop
@requires_keytool
def test_keytool_sees_one_private_key_entry_with_the_chain(pfx_files: dict[str, Path]) -> None:
    listings = run_all(lambda name: keytool_list(pfx_files[name], "mnopqr", "pkcs12"), VARIANTS)
    for name, listing in zip(VARIANTS, listings):
        kwargs, count = VARIANTS[name]
        alias = kwargs.get("friendly_name", "1").lower()  # friendly name lower-cased; none: "1"
        assert listing.entries == {alias: ("PrivateKeyEntry", count)}, listing.output
        assert re.search(rf"Certificate chain length: {count}\b", listing.output)
        ours = read_keystore(pfx_files[name], "mnopqr", "pkcs12")
        assert [(e.alias, e.kind, len(e.certificates)) for e in ours.entries] == [
            (alias, "PrivateKeyEntry", count)
        ]


@pytest.mark.interop
@requires_keytool
def test_unencrypted_pfx_has_no_entry_for_java(pfx_files: dict[str, Path]) -> None:
    path = pfx_files["no-password"]
    ours = read_keystore(path, None, "pkcs12")
    assert ours.entries == []
    assert any("Unsupported PKCS12 bag type: 1.2.840.113549.1.12.10.1.1" in n for n in ours.notes)
    keytool = keytool_list(path, None, "pkcs12")
    assert keytool.error is None and keytool.entries == {}, keytool.output
    assert "Your keystore contains 0 entries" in keytool.output


@pytest.mark.interop
@requires_openssl
def test_reads_openssl_legacy_rc2_pfx(tmp_path: Path, pki: Pki) -> None:
    # OpenSSL's -legacy (and older JDKs' keytool) encrypt the certificates with 40-bit RC2.
    # OpenSSL 3 has RC2 only in its legacy provider, a module beside the library (Debian:
    # libssl3's ossl-modules/legacy.so, so every openssl install has it; `openssl list
    # -providers -provider legacy` shows it loads). Where it is missing this test cannot run:
    # a skip on a developer's machine, a failure under UCCLAB_REQUIRE_TOOLS=1 (CI).
    cert = tmp_path / "leaf.pem"
    key = tmp_path / "leaf.key"
    cert.write_bytes(pki.leaf.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        pki.leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    out = tmp_path / "legacy.pfx"
    made = run(
        "openssl", "pkcs12", "-export", "-legacy", "-in", str(cert), "-inkey", str(key),
        "-out", str(out), "-passout", "pass:mnopqr",
    )  # fmt: skip
    if made.returncode != 0:
        message = f"this openssl cannot write legacy PKCS#12 (no legacy provider?): {made.stderr.strip()}"
        if os.environ.get("UCCLAB_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; UCCLAB_REQUIRE_TOOLS=1 makes this an error")
        pytest.skip(message)
    contents = read_pfx(out, "mnopqr")
    assert contents.certificate == pki.leaf
    assert contents.certificate_protection == "pbeWithSHA1And40BitRC2-CBC"
    assert contents.encryption == "3des"  # the key bag: pbeWithSHA1And3-KeyTripleDES-CBC
