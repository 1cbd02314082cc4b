"""SunJSSE semantics of the connector's stores, on real files; key texts checked against keytool."""

from __future__ import annotations

from pathlib import Path

import jks
import pytest

from harness.artifacts import export_pfx, keytool_import, write_der_certificate
from harness.connector import JsseError, load_key_material, load_trust_anchors

from .artifacts_support import Pki, keytool_list, requires_keytool, run_all

SHOWN_PFX = r"c:\gcti\lync_ucc_1.pfx"


@pytest.fixture
def pfx(tmp_path: Path, pki: Pki) -> Path:
    """The connector's PFX as the export wizard writes it (password "genesys", whole path)."""
    return export_pfx(
        tmp_path / "GenesysServer_Certficate.pfx",
        certificate=pki.leaf,
        private_key=pki.leaf_key,
        chain=pki.chain,
        password="genesys",
        friendly_name="GenesysServerCertificate",
    )


@pytest.fixture
def truststore(tmp_path: Path, pki: Pki) -> Path:
    """``keytool -import -alias ucc-cert ... -storetype jks``: the lab CA, password changeit."""
    return keytool_import(
        tmp_path / "UCC_store.jks", alias="ucc-cert", certificate=pki.root, password="changeit", storetype="jks"
    )


def _java_home(tmp_path: Path, pki: Pki, *, cacerts: bool = True, jssecacerts: Path | None = None) -> Path:
    """A JAVA_HOME whose lib/security holds a real JKS cacerts (the lab CA) and optionally jssecacerts."""
    home = tmp_path / "jdk"
    security = home / "lib" / "security"
    security.mkdir(parents=True)
    if cacerts:
        keytool_import(security / "cacerts", alias="labca", certificate=pki.root, password="changeit", storetype="jks")
    if jssecacerts is not None:
        (security / "jssecacerts").write_bytes(jssecacerts.read_bytes())
    return home


def _empty_jks(path: Path) -> Path:
    path.write_bytes(jks.KeyStore.new("jks", []).saves("changeit"))
    return path


# -- key material --------------------------------------------------------------------------


def test_the_pages_pfx_gives_key_chain_and_lowercase_alias(pfx: Path, pki: Pki) -> None:
    key = load_key_material(pfx, "genesys", "pkcs12", shown_path=SHOWN_PFX)
    assert key.present and key.findings == []
    assert key.alias == "genesysservercertificate"
    assert key.chain == [pki.leaf, pki.issuing, pki.root]


def test_wrong_pfx_password(pfx: Path) -> None:
    with pytest.raises(JsseError) as caught:
        load_key_material(pfx, "wrong!", "pkcs12", shown_path=SHOWN_PFX)
    error = caught.value
    assert (error.code, str(error)) == ("pfx-wrong-password", "java.io.IOException: keystore password was incorrect")
    assert error.path == SHOWN_PFX


def test_no_pfx_password_fails_in_the_key_manager(pfx: Path) -> None:
    with pytest.raises(JsseError) as caught:
        load_key_material(pfx, None, "pkcs12")
    assert caught.value.code == "pfx-wrong-password"
    assert str(caught.value) == (
        "java.security.UnrecoverableKeyException: "
        'Get Key failed: Cannot read the array length because "password" is null'
    )


def test_missing_pfx_reads_like_java_on_windows(tmp_path: Path) -> None:
    with pytest.raises(JsseError) as caught:
        load_key_material(tmp_path / "lync_ucc_1.pfx", "genesys", "pkcs12", shown_path=SHOWN_PFX)
    assert caught.value.code == "pfx-missing"
    assert str(caught.value) == (
        r"java.io.FileNotFoundException: c:\gcti\lync_ucc_1.pfx (The system cannot find the file specified)"
    )


def test_pfx_declared_jks_loads_with_a_mismatch_warning(pfx: Path) -> None:
    key = load_key_material(pfx, "genesys", "jks")
    assert key.present
    assert [(f.code, f.severity) for f in key.findings] == [("store-type-mismatch", "warning")]
    assert "keystore.type.compat" in key.findings[0].message


def test_pfx_without_declared_type_is_java_17s_default_pkcs12_and_no_warning(pfx: Path) -> None:
    assert load_key_material(pfx, "genesys", None).findings == []


def test_unknown_store_type(pfx: Path) -> None:
    with pytest.raises(JsseError) as caught:
        load_key_material(pfx, "genesys", "bks")
    assert str(caught.value) == "java.security.KeyStoreException: bks not found"


def test_unencrypted_pfx_read_with_a_password_fails_the_integrity_check(tmp_path: Path, pki: Pki) -> None:
    plain = export_pfx(
        tmp_path / "plain.pfx", certificate=pki.leaf, private_key=pki.leaf_key, chain=pki.chain, password=None
    )
    with pytest.raises(JsseError) as caught:
        load_key_material(plain, "genesys", "pkcs12")
    assert caught.value.code == "pfx-unencrypted"
    assert caught.value.message.startswith("Integrity check failed")


def test_unencrypted_key_bag_is_skipped_so_no_client_certificate(tmp_path: Path, pki: Pki) -> None:
    plain = export_pfx(
        tmp_path / "plain.pfx", certificate=pki.leaf, private_key=pki.leaf_key, chain=pki.chain, password=None
    )
    key = load_key_material(plain, None, "pkcs12")
    assert not key.present
    assert [f.code for f in key.findings] == ["pfx-unencrypted"]
    assert "sends no client certificate" in key.findings[0].message


def test_a_store_without_a_private_key_means_no_client_certificate(truststore: Path) -> None:
    key = load_key_material(truststore, "changeit", "jks")
    assert not key.present
    assert [f.code for f in key.findings] == ["pfx-no-private-key"]


def test_no_key_store_at_all() -> None:
    # Nothing was exported wrongly: the arguments give the connector no PFX at all.
    key = load_key_material(None, None, None)
    assert not key.present and [f.code for f in key.findings] == ["client-certificate-missing"]


# -- trust anchors -------------------------------------------------------------------------


def test_explicit_jks_trust_store(truststore: Path, pki: Pki, tmp_path: Path) -> None:
    trust = load_trust_anchors(truststore, "changeit", "jks", java_home=_java_home(tmp_path, pki))
    assert (trust.source, trust.anchors, trust.findings) == ("explicit", [pki.root], [])


def test_jks_trusted_entries_need_no_password(truststore: Path, pki: Pki) -> None:
    assert load_trust_anchors(truststore, None, "jks", java_home=None).anchors == [pki.root]


def test_wrong_trust_store_password(truststore: Path) -> None:
    with pytest.raises(JsseError) as caught:
        load_trust_anchors(truststore, "wrong!", "jks", java_home=None)
    assert caught.value.code == "truststore-wrong-password"
    assert str(caught.value) == "java.io.IOException: Keystore was tampered with, or password was incorrect"


def test_pkcs12_store_named_jks_loads_as_jks_with_a_warning(tmp_path: Path, pki: Pki) -> None:
    # The page's keytool command without -storetype: JDK 9+ writes PKCS12 into UCC_store.jks.
    store = keytool_import(tmp_path / "UCC_store.jks", alias="ucc-cert", certificate=pki.root, password="changeit")
    trust = load_trust_anchors(store, "changeit", "jks", java_home=None)
    assert trust.anchors == [pki.root]
    assert [(f.code, f.severity) for f in trust.findings] == [("store-type-mismatch", "warning")]


def test_pkcs12_trust_store_without_password_has_no_anchors(tmp_path: Path, pki: Pki) -> None:
    store = keytool_import(tmp_path / "UCC_store.jks", alias="ucc-cert", certificate=pki.root, password="changeit")
    trust = load_trust_anchors(store, None, None, java_home=None)
    assert trust.anchors == []
    (finding,) = trust.findings
    assert finding.code == "truststore-empty" and "read without a password" in finding.message
    assert finding.message.endswith(
        "java.security.InvalidAlgorithmParameterException: the trustAnchors parameter must be non-empty"
    )


def test_empty_trust_store(tmp_path: Path) -> None:
    trust = load_trust_anchors(_empty_jks(tmp_path / "empty.jks"), "changeit", "jks", java_home=None)
    assert trust.anchors == [] and [f.code for f in trust.findings] == ["truststore-empty"]


def test_a_pfx_as_trust_store_trusts_its_own_leaf(pfx: Path, pki: Pki) -> None:
    # TrustStoreUtil.getTrustedCerts adds the first certificate of each PrivateKeyEntry.
    assert load_trust_anchors(pfx, "genesys", "pkcs12", java_home=None).anchors == [pki.leaf]


def test_no_trust_store_falls_back_to_cacerts(tmp_path: Path, pki: Pki) -> None:
    home = _java_home(tmp_path, pki)
    trust = load_trust_anchors(None, None, None, java_home=home)
    assert (trust.source, trust.path, trust.anchors, trust.findings) == (
        "cacerts",
        home / "lib" / "security" / "cacerts",
        [pki.root],
        [],
    )


def test_jssecacerts_comes_before_cacerts_even_when_empty(tmp_path: Path, pki: Pki) -> None:
    home = _java_home(tmp_path, pki, jssecacerts=_empty_jks(tmp_path / "empty.jks"))
    trust = load_trust_anchors(None, None, None, java_home=home)
    assert (trust.source, trust.anchors) == ("jssecacerts", [])
    assert [f.code for f in trust.findings] == ["truststore-empty"]


def test_missing_explicit_trust_store_falls_back_to_cacerts_not_jssecacerts(tmp_path: Path, pki: Pki) -> None:
    home = _java_home(tmp_path, pki, jssecacerts=_empty_jks(tmp_path / "empty.jks"))
    trust = load_trust_anchors(
        tmp_path / "nowhere.jks", None, "jks", java_home=home, shown_path=r"c:\gcti\UCC_store.jks"
    )
    assert (trust.source, trust.anchors) == ("cacerts", [pki.root])
    (finding,) = trust.findings
    assert finding.code == "truststore-missing"
    assert r"Inaccessible trust store: c:\gcti\UCC_store.jks" in finding.message


def test_no_java_home_means_no_anchors() -> None:
    trust = load_trust_anchors(None, None, None, java_home=None)
    assert trust.anchors == [] and [f.code for f in trust.findings] == ["truststore-empty"]


def test_a_certificate_file_is_not_a_key_store(tmp_path: Path, pki: Pki) -> None:
    cer = write_der_certificate(tmp_path / "UCC_Certificate.cer", pki.frontend)
    with pytest.raises(JsseError) as caught:
        load_trust_anchors(cer, "changeit", "jks", java_home=None)
    assert caught.value.code == "truststore-unreadable"
    assert "Invalid keystore format" in caught.value.message


# -- the texts, as keytool prints them ------------------------------------------------------


@requires_keytool
@pytest.mark.interop
def test_load_texts_match_keytool(tmp_path: Path, pfx: Path, truststore: Path, pki: Pki) -> None:
    plain = export_pfx(
        tmp_path / "plain.pfx", certificate=pki.leaf, private_key=pki.leaf_key, chain=pki.chain, password=None
    )
    cases = [(pfx, "wrong!", "pkcs12"), (truststore, "wrong!", "jks"), (plain, "genesys", "pkcs12")]
    listings = run_all(lambda case: keytool_list(*case), cases)
    ours = []
    for path, password, storetype in cases:
        with pytest.raises(JsseError) as caught:
            load_key_material(path, password, storetype)
        ours.append(caught.value.message)
    assert [listing.error for listing in listings] == ours
