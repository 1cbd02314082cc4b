"""Java key/trust stores: our keytool_import against real keytool, our read_keystore against Java."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import jks
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from harness.artifacts import (
    AliasExistsError,
    ArtifactError,
    CorruptFileError,
    PasswordTooShortError,
    WrongFormatError,
    WrongPasswordError,
    detect_format,
    export_pfx,
    keytool_import,
    read_keystore,
    write_der_certificate,
)

from .artifacts_support import (
    KeytoolListing,
    Pki,
    keytool_list,
    requires_keytool,
    run,
    run_all,
)

PASSWORD = "changeit"
# keytool_import's arguments for the Front End certificate under the page's alias.
UCC_CERT = {"alias": "ucc-cert", "password": PASSWORD}


def _keytool_import(path: Path, alias: str, cert_file: Path, password: str, storetype: str | None = None) -> str:
    """Real ``keytool -importcert -noprompt``; returns keytool's error text ("" on success)."""
    args = ["keytool", "-importcert", "-noprompt", "-alias", alias, "-file", str(cert_file)]
    args += ["-keystore", str(path), "-storepass", password]
    if storetype:
        args += ["-storetype", storetype]
    result = run(*args)
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("keytool error: "):
            return line.removeprefix("keytool error: ").split(": ", 1)[1]
    assert result.returncode == 0, result.stdout + result.stderr
    return ""


def test_default_store_is_pkcs12_on_jdk9_and_later(tmp_path: Path, pki: Pki) -> None:
    path = keytool_import(tmp_path / "UCC_store.jks", certificate=pki.frontend, **UCC_CERT)
    assert detect_format(path) == "pkcs12"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    old = keytool_import(tmp_path / "old.jks", certificate=pki.frontend, **UCC_CERT, jdk_version=8)
    assert detect_format(old) == "jks"
    store = read_keystore(path, PASSWORD)  # declared jks, as -key_store_type jks says
    assert store.real_type == "pkcs12" and store.declared_type == "jks" and store.type_mismatch
    assert [(e.alias, e.kind, e.certificates) for e in store.entries] == [
        ("ucc-cert", "trustedCertEntry", [pki.frontend])
    ]
    assert store.trust_anchors == [pki.frontend]


def test_pyjks_cannot_read_pkcs12_under_a_jks_name(tmp_path: Path, pki: Pki) -> None:
    path = keytool_import(tmp_path / "UCC_store.jks", certificate=pki.frontend, **UCC_CERT)
    with pytest.raises(jks.util.BadKeystoreFormatException, match="magic number wrong"):
        jks.KeyStore.load(str(path), PASSWORD)
    assert read_keystore(path, PASSWORD).entry("UCC-CERT") is not None  # by content; aliases are case-insensitive


def test_adds_to_an_existing_store_keeping_its_format(tmp_path: Path, pki: Pki) -> None:
    for storetype in ("jks", "pkcs12"):
        path = tmp_path / f"store-{storetype}.jks"
        keytool_import(path, certificate=pki.frontend, **UCC_CERT, storetype=storetype)
        other = "pkcs12" if storetype == "jks" else "jks"
        keytool_import(path, alias="CompanyA-CA", certificate=pki.root, password=PASSWORD, storetype=other)
        store = read_keystore(path, PASSWORD, storetype)
        assert store.real_type == storetype
        assert {e.alias: e.certificates[0] for e in store.entries} == {
            "ucc-cert": pki.frontend,
            "companya-ca": pki.root,
        }


@pytest.mark.parametrize("storetype", [None, "jks"])
def test_same_alias_twice(tmp_path: Path, pki: Pki, storetype: str | None) -> None:
    path = keytool_import(tmp_path / "s.jks", certificate=pki.frontend, **UCC_CERT, storetype=storetype)
    with pytest.raises(AliasExistsError) as info:
        keytool_import(path, alias="UCC-CERT", certificate=pki.root, password=PASSWORD, storetype=storetype)
    assert info.value.message == "Certificate not imported, alias <UCC-CERT> already exists"


def test_short_password(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(PasswordTooShortError) as info:
        keytool_import(tmp_path / "s.jks", alias="a", certificate=pki.root, password="abc")
    assert info.value.message == "Keystore password must be at least 6 characters"
    assert not (tmp_path / "s.jks").exists()


@pytest.mark.parametrize(
    "storetype, text",
    [("jks", "Keystore was tampered with, or password was incorrect"), ("pkcs12", "keystore password was incorrect")],
)
def test_wrong_password_texts(tmp_path: Path, pki: Pki, storetype: str, text: str) -> None:
    path = keytool_import(tmp_path / "s.jks", alias="a", certificate=pki.root, password=PASSWORD, storetype=storetype)
    for declared in ("jks", "pkcs12"):
        with pytest.raises(WrongPasswordError) as info:
            read_keystore(path, "wrong-password", declared)
        assert info.value.message == text
    with pytest.raises(WrongPasswordError):
        keytool_import(path, alias="b", certificate=pki.frontend, password="wrong-password")


def test_unloadable_files(tmp_path: Path, pki: Pki) -> None:
    empty = tmp_path / "empty.jks"
    empty.write_bytes(b"")
    with pytest.raises(CorruptFileError, match=r"java\.io\.EOFException \(the file is empty\)"):
        read_keystore(empty, PASSWORD)
    with pytest.raises(CorruptFileError, match="Keystore file exists, but is empty"):
        keytool_import(empty, alias="a", certificate=pki.root, password=PASSWORD)
    cer = write_der_certificate(tmp_path / "UCC_Certificate.cer", pki.frontend)
    with pytest.raises(WrongFormatError, match=r"Invalid keystore format \(this is a DER certificate"):
        read_keystore(cer, PASSWORD)
    with pytest.raises(WrongFormatError, match="Unrecognized keystore format"):
        keytool_import(cer, alias="a", certificate=pki.root, password=PASSWORD)
    with pytest.raises(ArtifactError, match="BKS not found"):
        read_keystore(cer, PASSWORD, "BKS")


def test_jceks_is_read_not_written(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(ArtifactError, match="does not write JCEKS"):
        keytool_import(tmp_path / "s.jceks", alias="a", certificate=pki.root, password=PASSWORD, storetype="jceks")


# -- against the real keytool ---------------------------------------------------------------


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> dict[str, Path]:
    """Stores made by real keytool, by keytool_import and by export_pfx, with one password each."""
    if shutil.which("keytool") is None:
        pytest.skip("keytool (a JDK) is not installed")
    folder = tmp_path_factory.mktemp("stores")
    cer = write_der_certificate(folder / "UCC_Certificate.cer", pki.frontend)
    made = {
        "keytool-default.jks": None,  # the page's command: PKCS12 despite the name
        "keytool-jks.jks": "jks",
        "keytool.jceks": "jceks",
    }
    errors = run_all(lambda item: _keytool_import(folder / item[0], "ucc-cert", cer, PASSWORD, item[1]), made.items())
    assert errors == ["", "", ""]
    files = {name: folder / name for name in made}
    files["ours-default.jks"] = keytool_import(folder / "ours-default.jks", certificate=pki.frontend, **UCC_CERT)
    files["ours-jks.jks"] = keytool_import(
        folder / "ours-jks.jks", certificate=pki.frontend, **UCC_CERT, storetype="jks"
    )
    for name, kwargs in {
        "named.pfx": {"friendly_name": "GenesysServerCertificate"},
        "unnamed-3des.pfx": {"encryption": "3des"},
        "clear.pfx": {"password": None},
    }.items():
        kwargs = {"password": PASSWORD, **kwargs}
        files[name] = export_pfx(
            folder / name, certificate=pki.leaf, private_key=pki.leaf_key, chain=pki.chain, **kwargs
        )
    encryption = serialization.BestAvailableEncryption(PASSWORD.encode())
    files["cert-only.p12"] = folder / "cert-only.p12"
    files["cert-only.p12"].write_bytes(pkcs12.serialize_key_and_certificates(b"ca", None, pki.root, None, encryption))
    files["truststore.p12"] = folder / "truststore.p12"
    files["truststore.p12"].write_bytes(
        pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(pki.root, b"CompanyA-CA")], encryption)
    )
    return files


def _cases(stores: dict[str, Path]) -> list[tuple[str, str | None, str]]:
    cases = []
    for name in stores:
        declared = ["jceks", "jks", "pkcs12"] if name.endswith(".jceks") else ["jks", "pkcs12"]
        passwords: list[str | None] = [PASSWORD, "wrong-password", None]
        if name == "clear.pfx":
            passwords.append("")  # what an unencrypted PFX's MAC is keyed with
        cases += [(name, password, storetype) for storetype in declared for password in passwords]
    return cases


def _ours(path: Path, password: str | None, storetype: str) -> KeytoolListing:
    try:
        store = read_keystore(path, password, storetype)
    except ArtifactError as exc:
        return KeytoolListing(error=exc.message)
    return KeytoolListing(
        store_type=store.declared_type.upper(),
        entries={e.alias: (e.kind, len(e.certificates)) for e in store.entries},
    )


def _agree(real: KeytoolListing, ours: KeytoolListing) -> bool:
    """Java's error is the start of ours (we add what the file really is), or the same entries."""
    if real.error is not None:
        return ours.error is not None and ours.error.startswith(real.error)
    return ours.error is None and ours.entries == real.entries


# One JVM loads every case with java.security.KeyStore, exactly as the UC Connector would.
_KEYSTORE_LOADER = """
import java.io.FileInputStream;
import java.security.KeyStore;
import java.util.Collections;

public class LoadStores {
    public static void main(String[] args) throws Exception {
        for (int i = 0; i + 2 < args.length; i += 3) {
            StringBuilder line = new StringBuilder();
            try (FileInputStream in = new FileInputStream(args[i])) {
                KeyStore store = KeyStore.getInstance(args[i + 1]);
                store.load(in, args[i + 2].equals("-null-") ? null : args[i + 2].toCharArray());
                line.append("OK");
                for (String alias : Collections.list(store.aliases())) {
                    java.security.cert.Certificate[] chain = store.getCertificateChain(alias);
                    String kind = store.isCertificateEntry(alias) ? "trustedCertEntry"
                        : store.entryInstanceOf(alias, KeyStore.PrivateKeyEntry.class) ? "PrivateKeyEntry"
                        : "SecretKeyEntry";
                    int length = store.isCertificateEntry(alias) ? 1 : chain == null ? 0 : chain.length;
                    line.append('\\t').append(alias).append('\\t').append(kind).append('\\t').append(length);
                }
            } catch (Exception e) {
                line.setLength(0);
                line.append("ERR\\t").append(e.getMessage() != null ? e.getMessage() : e.toString());
            }
            System.out.println(line.toString().replace('\\n', ' '));
        }
    }
}
"""


def _java_loads(folder: Path, cases: list[tuple[Path, str | None, str]]) -> list[KeytoolListing]:
    source = folder / "LoadStores.java"
    source.write_text(_KEYSTORE_LOADER)
    compiled = run("javac", "-d", str(folder), str(source))
    assert compiled.returncode == 0, compiled.stderr
    args = []
    for path, password, storetype in cases:
        args += [str(path), storetype, "-null-" if password is None else password]
    result = run("java", "-cp", str(folder), "LoadStores", *args)
    assert result.returncode == 0, result.stderr
    listings = []
    for line in result.stdout.splitlines():
        status, *fields = line.split("\t")
        if status == "ERR":
            listings.append(KeytoolListing(error=fields[0]))
        else:
            entries = {fields[i]: (fields[i + 1], int(fields[i + 2])) for i in range(0, len(fields), 3)}
            listings.append(KeytoolListing(entries=entries))
    assert len(listings) == len(cases)
    return listings


@pytest.mark.interop
@requires_keytool
def test_read_keystore_agrees_with_java(tmp_path: Path, stores: dict[str, Path]) -> None:
    """Every store, declared each way, with the right, a wrong and no password."""
    if shutil.which("javac") is None:
        pytest.skip("javac is not installed")
    cases = _cases(stores)
    java = _java_loads(tmp_path, [(stores[name], password, storetype) for name, password, storetype in cases])
    disagreements = [
        f"{name} {password!r} {storetype}: Java {real.error or real.entries} / ours {ours.error or ours.entries}"
        for (name, password, storetype), real in zip(cases, java)
        if not _agree(real, ours := _ours(stores[name], password, storetype))
    ]
    assert not disagreements, "\n".join(disagreements)


@pytest.mark.interop
@requires_keytool
def test_read_keystore_agrees_with_keytool_list(stores: dict[str, Path]) -> None:
    """``keytool -list -v`` on the page's cases: its entry kinds, chain lengths and errors are ours."""
    cases = [
        ("keytool-default.jks", PASSWORD, None),  # the page's command as written
        ("keytool-default.jks", "wrong-password", "jks"),
        ("keytool-jks.jks", PASSWORD, "pkcs12"),
        ("keytool-jks.jks", "wrong-password", "jks"),
        ("named.pfx", PASSWORD, "pkcs12"),
        ("unnamed-3des.pfx", PASSWORD, "jks"),
        ("clear.pfx", None, "pkcs12"),
        ("clear.pfx", PASSWORD, "pkcs12"),
        ("cert-only.p12", PASSWORD, "pkcs12"),
        ("truststore.p12", PASSWORD, "pkcs12"),
        ("keytool.jceks", PASSWORD, "jks"),
    ]
    listings = run_all(lambda case: keytool_list(stores[case[0]], case[1], case[2]), cases)
    for (name, password, storetype), real in zip(cases, listings):
        ours = _ours(stores[name], password, storetype or detect_format(stores[name]))
        assert _agree(real, ours), f"{name} {password!r} {storetype}: {real.output}\nours: {ours}"
        if real.error is None:
            assert real.store_type == (storetype or "pkcs12").upper()


@pytest.mark.interop
@requires_keytool
def test_the_facts_behind_the_agreement(stores: dict[str, Path]) -> None:
    """The measured behaviours the comparison covers, spelled out."""
    assert _ours(stores["keytool-default.jks"], PASSWORD, "jks").entries == {"ucc-cert": ("trustedCertEntry", 1)}
    named = _ours(stores["named.pfx"], PASSWORD, "pkcs12")
    assert named.entries == {"genesysservercertificate": ("PrivateKeyEntry", 3)}
    assert _ours(stores["unnamed-3des.pfx"], PASSWORD, "jks").entries == {"1": ("PrivateKeyEntry", 3)}
    assert _ours(stores["clear.pfx"], "", "pkcs12").entries == {}
    assert _ours(stores["clear.pfx"], PASSWORD, "pkcs12").error == (
        "Integrity check failed: java.security.UnrecoverableKeyException: Failed PKCS12 integrity checking"
    )
    assert _ours(stores["cert-only.p12"], PASSWORD, "pkcs12").entries == {}
    assert _ours(stores["truststore.p12"], PASSWORD, "jks").entries == {"companya-ca": ("trustedCertEntry", 1)}
    # JSSE without javax.net.ssl.trustStorePassword: encrypted certificates unread.
    assert _ours(stores["keytool-default.jks"], None, "jks").entries == {}
    assert _ours(stores["keytool-jks.jks"], None, "jks").entries == {"ucc-cert": ("trustedCertEntry", 1)}
    assert _ours(stores["keytool.jceks"], PASSWORD, "jks").error == (
        "Invalid keystore format (this is a Java key store of type JCEKS: declare it as jceks)"
    )


@pytest.mark.interop
@requires_keytool
def test_keytool_lists_what_keytool_import_wrote(stores: dict[str, Path]) -> None:
    names = ["ours-default.jks", "ours-jks.jks"]
    for name, listing in zip(names, run_all(lambda n: keytool_list(stores[n], PASSWORD), names)):
        assert listing.entries == {"ucc-cert": ("trustedCertEntry", 1)}, listing.output
        assert listing.store_type == ("PKCS12" if name == "ours-default.jks" else "JKS")


@pytest.mark.interop
@requires_keytool
def test_errors_match_keytools(tmp_path: Path, pki: Pki, stores: dict[str, Path]) -> None:
    cer = write_der_certificate(tmp_path / "root.cer", pki.root)
    copies = {name: shutil.copy(stores[name], tmp_path / name) for name in ("keytool-default.jks", "keytool-jks.jks")}
    attempts = [
        (copies["keytool-default.jks"], "UCC-CERT", PASSWORD),  # alias taken (case-insensitive)
        (copies["keytool-jks.jks"], "UCC-CERT", PASSWORD),
        (copies["keytool-default.jks"], "other", "wrong-password"),
        (copies["keytool-jks.jks"], "other", "wrong-password"),
        (tmp_path / "new.jks", "a", "abc"),  # too short for a new store
    ]
    real = run_all(lambda a: _keytool_import(a[0], a[1], cer, a[2]), attempts)
    for (path, alias, password), text in zip(attempts, real):
        with pytest.raises(ArtifactError) as info:
            keytool_import(path, alias=alias, certificate=pki.root, password=password)
        assert info.value.message == text


@pytest.mark.interop
@requires_keytool
def test_keytool_adds_to_a_store_keytool_import_made_and_back(tmp_path: Path, pki: Pki) -> None:
    cer = write_der_certificate(tmp_path / "root.cer", pki.root)
    for storetype in ("jks", None):
        path = tmp_path / f"s-{storetype}.jks"
        keytool_import(path, certificate=pki.frontend, **UCC_CERT, storetype=storetype)
        assert _keytool_import(path, "companya-ca", cer, PASSWORD) == ""
        keytool_import(path, alias="third", certificate=pki.issuing, password=PASSWORD)
        listing = keytool_list(path, PASSWORD)
        assert set(listing.entries) == {"ucc-cert", "companya-ca", "third"}, listing.output


@pytest.mark.interop
@requires_keytool
def test_type_errors_match_keytools(tmp_path: Path, pki: Pki, stores: dict[str, Path]) -> None:
    cer = write_der_certificate(tmp_path / "UCC_Certificate.cer", pki.frontend)
    unrecognized, unknown_type = run_all(
        lambda case: keytool_list(*case), [(cer, PASSWORD, None), (stores["keytool-jks.jks"], PASSWORD, "BKS")]
    )
    assert unrecognized.error == "Unrecognized keystore format. Please load it with a specified type"
    with pytest.raises(WrongFormatError) as info:
        keytool_import(cer, alias="a", certificate=pki.root, password=PASSWORD)  # keytool probes, as -list does
    assert info.value.message.startswith(unrecognized.error)
    assert unknown_type.error == "BKS not found"
    with pytest.raises(ArtifactError) as info:
        read_keystore(stores["keytool-jks.jks"], PASSWORD, "BKS")
    assert info.value.message.startswith(unknown_type.error)
