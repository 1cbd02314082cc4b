"""``harness.check``: a replay's files pass; broken bundles from a foreign CA give exactly their code.

The broken bundles are what a customer would send: the connector's PFX and trust store in
a folder, the Command Line Arguments naming them with Windows paths, the Front End's
certificate as a PFX. Their CA is a throwaway two-tier one made here, not the lab's. The
fallback trust stores come from a stand-in ``JAVA_HOME`` whose ``cacerts`` trusts an
unrelated CA, so the results do not depend on the machine's JDK.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import jks
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.artifacts import export_pfx, keytool_import, write_der_certificate
from harness.check import CheckOptions, CheckResult, CheckUsageError, check
from harness.pytest_plugin import LabThread

UCC = "ucc01.companya.com"
FE = "fe01.companya.com"
WINDOWS_DIR = r"C:\GCTI\UCConnector\UCC_Lync\etc"
PFX_NAME = "GenesysServer_Certficate.pfx"
STORE_NAME = "UCC_store.jks"
MTLS_ARGS = (
    rf"-host cs01 -port 2020 -app UCC_Lync -cert_store_file {WINDOWS_DIR}\{PFX_NAME} -cert_store_pass mnopqr "
    rf"-cert_store_type pkcs12 -key_store_file {WINDOWS_DIR}\{STORE_NAME} -key_store_pass genesys -key_store_type jks"
)
TLS_ARGS = (
    rf"-host cs01 -port 2020 -app UCC_Lync -krb_conf_file {WINDOWS_DIR}\krb5.conf -cert_store_pass genesys "
    rf"-cert_store_file {WINDOWS_DIR}\{STORE_NAME}"
)
GOOD_KRB5 = """[libdefaults]
    default_realm = COMPANYA.COM
[realms]
    COMPANYA.COM = {
        kdc = labdc01.companya.com
    }
[domain_realm]
    .companya.com = COMPANYA.COM
"""
SERVER = [ExtendedKeyUsageOID.SERVER_AUTH]
BOTH = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


# -- a foreign two-tier CA ---------------------------------------------------------------------


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool = False,
    ekus: list[x509.ObjectIdentifier] | None = None,
    valid_days: tuple[int, int] = (-1, 365),
    alternative: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=valid_days[0]))
        .not_valid_after(now + datetime.timedelta(days=valid_days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(alternative or subject)]), critical=False)
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class ForeignPki:
    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    issuing: x509.Certificate
    other_root: x509.Certificate
    ucc_key: rsa.RSAPrivateKey
    fe_key: rsa.RSAPrivateKey
    ucc: x509.Certificate
    ucc_expired: x509.Certificate
    ucc_other_name: x509.Certificate
    ucc_san_only: x509.Certificate
    fe: x509.Certificate
    fe_server_only: x509.Certificate


@pytest.fixture(scope="module")
def foreign() -> ForeignPki:
    root_key, issuing_key, other_key, ucc_key, fe_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(5)
    )
    root = _certificate("contoso-ROOT-CA", root_key, None, root_key, ca=True)
    issuing = _certificate("contoso-ISSUING-CA", issuing_key, root, root_key, ca=True)
    other_root = _certificate("unrelated-ROOT-CA", other_key, None, other_key, ca=True)

    def leaf(name: str, key: rsa.RSAPrivateKey, ekus: list[x509.ObjectIdentifier], days: tuple[int, int] = (-1, 365),
             alternative: str | None = None) -> x509.Certificate:
        return _certificate(name, key, issuing, issuing_key, ekus=ekus, valid_days=days, alternative=alternative)

    return ForeignPki(
        root=root,
        root_key=root_key,
        issuing=issuing,
        other_root=other_root,
        ucc_key=ucc_key,
        fe_key=fe_key,
        # The Web Server template: serverAuth only, which Lync accepts from a client.
        ucc=leaf(UCC, ucc_key, SERVER),
        ucc_expired=leaf(UCC, ucc_key, SERVER, (-400, -35)),
        ucc_other_name=leaf("ucc02.companya.com", ucc_key, SERVER),
        # The connector's FQDN in the SAN only, another name in the subject.
        ucc_san_only=leaf("UC Connector", ucc_key, SERVER, alternative=UCC),
        fe=leaf(FE, fe_key, BOTH),
        fe_server_only=leaf(FE, fe_key, SERVER),
    )


@pytest.fixture(scope="module")
def java_home(tmp_path_factory: pytest.TempPathFactory, foreign: ForeignPki) -> Path:
    """A JDK's lib/security whose cacerts trusts only an unrelated CA."""
    home = tmp_path_factory.mktemp("jdk")
    keytool_import(home / "lib" / "security" / "cacerts", alias="unrelated", certificate=foreign.other_root,
                   password="changeit", storetype="jks")
    return home


@dataclass(frozen=True)
class Bundle:
    """A customer's bundle: the files folder, the arguments, the Front End's PFX."""

    files: Path
    args: str
    frontend_pfx: Path
    java_home: Path

    def options(self, **changes: object) -> CheckOptions:
        base = CheckOptions(
            args=self.args,
            files=self.files,
            ucc_fqdn=UCC,
            frontend_fqdn=FE,
            frontend_cert=self.frontend_pfx,
            frontend_pfx_password="fepass",
            java_home=self.java_home,
        )
        return replace(base, **changes)  # type: ignore[arg-type]


BundleFactory = Callable[..., Bundle]


@pytest.fixture
def bundle(tmp_path: Path, foreign: ForeignPki, java_home: Path) -> BundleFactory:
    """``bundle(fault)``: the page's files made right, then one thing done wrong."""

    def make(fault: str | None = None, *, args: str = MTLS_ARGS) -> Bundle:
        files = tmp_path / "files"
        files.mkdir()
        # certsrv's "Download a CA certificate" of a two-tier CA gives the issuing CA.
        write_der_certificate(files / "CompanyA_Certificate.cer", foreign.issuing)
        ucc = {"expired": foreign.ucc_expired, "other-fqdn": foreign.ucc_other_name,
               "san-only": foreign.ucc_san_only}.get(fault or "", foreign.ucc)
        pfx = files / PFX_NAME
        if fault == "pfx-no-key":
            pfx.write_bytes(
                pkcs12.serialize_key_and_certificates(
                    None, None, None, [ucc, foreign.issuing, foreign.root], serialization.BestAvailableEncryption(b"mnopqr")
                )
            )
        else:
            export_pfx(
                pfx,
                certificate=ucc,
                private_key=foreign.ucc_key,
                chain=[foreign.issuing, foreign.root],
                include_chain=fault != "no-chain",
                password=None if fault == "unencrypted" else "mnopqr",
            )
        store = files / STORE_NAME
        if fault == "empty-store":
            store.write_bytes(jks.KeyStore.new("jks", []).saves("genesys"))
        elif fault != "no-store":
            trusted = foreign.other_root if fault == "store-without-ca" else foreign.root
            keytool_import(store, alias="companyaca", certificate=trusted, password="genesys", storetype="jks")
        fe_pfx = export_pfx(
            tmp_path / "fe01.pfx",
            certificate=foreign.fe_server_only if fault == "fe-server-auth-only" else foreign.fe,
            private_key=foreign.fe_key,
            chain=[foreign.issuing, foreign.root],
            password="fepass",
        )
        return Bundle(files, args, fe_pfx, java_home)

    return make


def _errors(result: CheckResult) -> set[str]:
    return set(result.codes("error"))


# -- the files of a real replay ----------------------------------------------------------------


def test_replay_files_have_no_error(ucclab_lab: LabThread, tmp_path: Path) -> None:
    result = ucclab_lab.replay("mtls")
    assert result.outcome == "confirmed"
    lab = ucclab_lab.lab

    async def application_arguments() -> str:
        async with lab.configserver_client() as cfg:
            app = await cfg.find_application(lab.topology.application_name)
        assert app is not None
        return app.command_line_arguments

    arguments = ucclab_lab.run(application_arguments())
    # The customer's Front End certificate: fe01's, exported with its key as a PFX.
    folder = lab.state_dir / "frontend"
    chain = x509.load_pem_x509_certificates((folder / "certificate-chain.pem").read_bytes())
    key = serialization.load_pem_private_key((folder / "private-key.pem").read_bytes(), None)
    fe_pfx = export_pfx(tmp_path / "fe01.pfx", certificate=chain[0], private_key=key, chain=chain[1:], password="fepass")  # type: ignore[arg-type]

    checked = check(
        CheckOptions(
            args=arguments,
            files=lab.artifacts_dir,
            ucc_fqdn=lab.topology.ucc_fqdn,
            frontend_fqdn=lab.topology.frontend_fqdn,
            frontend_cert=fe_pfx,
            frontend_pfx_password="fepass",
            java_home=lab.java_home,
        )
    )

    assert checked.exit_code == 0, checked.to_json()
    assert checked.outcome == "ok"
    # keytool without -storetype wrote PKCS12 under the .jks name: Java copes, a warning.
    assert set(checked.codes()) <= {"store-type-mismatch"}
    assert [(h["direction"], h["outcome"]) for h in checked.handshakes] == [
        ("connector-to-frontend", "confirmed"),
        ("frontend-to-connector", "confirmed"),
    ]
    document = checked.to_dict()
    assert document["outcome"] == "ok" and isinstance(document["findings"], list)
    assert "mnopqr" not in checked.to_json()


# -- broken bundles ----------------------------------------------------------------------------


def test_good_bundle_is_confirmed_live(bundle: BundleFactory) -> None:
    result = check(bundle().options())

    assert result.findings == [], result.to_json()
    assert result.exit_code == 0
    assert {h["outcome"] for h in result.handshakes} == {"confirmed"}


@pytest.mark.parametrize(
    ("fault", "args", "code"),
    [
        (None, MTLS_ARGS.replace("-cert_store_pass mnopqr", "-cert_store_pass mnopqrs"), "pfx-wrong-password"),
        ("pfx-no-key", MTLS_ARGS, "pfx-no-private-key"),
        ("unencrypted", MTLS_ARGS, "pfx-unencrypted"),
        ("no-chain", MTLS_ARGS, "pfx-chain-incomplete"),
        ("expired", MTLS_ARGS, "cert-expired"),
        ("other-fqdn", MTLS_ARGS, "cert-name-mismatch"),
        (None, MTLS_ARGS.replace("-key_store_pass genesys", "-key_store_pass genesis"), "truststore-wrong-password"),
        ("store-without-ca", MTLS_ARGS, "truststore-missing-ca"),
        ("empty-store", MTLS_ARGS, "truststore-empty"),
        ("no-store", MTLS_ARGS, "truststore-missing"),
        ("fe-server-auth-only", MTLS_ARGS, "cert-eku-no-client-auth"),
        (None, MTLS_ARGS.replace(f"-cert_store_file {WINDOWS_DIR}", f"-cert_store_{WINDOWS_DIR}"), "arg-malformed"),
    ],
    ids=lambda value: value if isinstance(value, str) and not value.startswith("-host") else "",
)
def test_one_fault_one_error(bundle: BundleFactory, fault: str | None, args: str, code: str) -> None:
    result = check(bundle(fault, args=args).options())

    assert _errors(result) == {code}, result.to_json()
    assert result.exit_code == 1 and result.outcome == "problems"
    finding = next(f for f in result.findings if f["code"] == code)
    assert finding["doc_step"] and finding["fix"] and finding["message"] and finding["evidence"]


def test_live_handshake_confirms_the_static_finding(bundle: BundleFactory) -> None:
    result = check(bundle("fe-server-auth-only").options())

    push = next(h for h in result.handshakes if h["direction"] == "frontend-to-connector")
    assert push["outcome"] == "rejected" and push["codes"] == ["cert-eku-no-client-auth"]
    finding = next(f for f in result.findings if f["code"] == "cert-eku-no-client-auth")
    assert finding["evidence"]["live"][0]["direction"] == "frontend-to-connector"


def test_page_typo_ket_store_type_is_a_warning(bundle: BundleFactory) -> None:
    result = check(bundle(args=MTLS_ARGS.replace("-key_store_type", "-ket_store_type")).options())

    assert _errors(result) == set(), result.to_json()
    assert result.codes("warning") == ["arg-unknown"]
    assert result.exit_code == 0


def test_no_live_handshake_is_a_note_not_a_finding(bundle: BundleFactory) -> None:
    result = check(bundle().options(frontend_cert=None, frontend_pfx_password=None))

    assert result.handshakes == [] and result.findings == []
    assert "no --frontend-cert: no live handshake" in result.notes


# -- the Front End's certificate without its key: a stand-in for it ------------------------------


def _frontend_evidence(result: CheckResult) -> dict:
    [handshake] = result.handshakes
    assert handshake["direction"] == "connector-to-frontend"
    return handshake["evidence"]


def test_a_frontend_certificate_without_its_key_still_runs_connector_to_frontend(
    bundle: BundleFactory, foreign: ForeignPki, tmp_path: Path
) -> None:
    b = bundle()
    store = b.files / STORE_NAME
    before = store.read_bytes()
    fe_der = write_der_certificate(tmp_path / "fe01.cer", foreign.fe)
    result = check(b.options(frontend_cert=fe_der, frontend_pfx_password=None))

    assert result.findings == [], result.to_json()
    assert [(h["direction"], h["outcome"], h["codes"]) for h in result.handshakes] == [("connector-to-frontend", "confirmed", [])]
    evidence = _frontend_evidence(result)
    # The Front End stand-in saw the customer's own certificate and chain, and trusted it by their root.
    assert evidence["frontend"]["chain"] == ["CN=ucc01.companya.com", "CN=contoso-ISSUING-CA", "CN=contoso-ROOT-CA"]
    assert evidence["frontend"]["peer_trusted_as"] == UCC
    # What it presented is the lab's, and says so.
    stand_in = evidence["frontend_stand_in"]
    assert stand_in["certificate"]["subject"] == f"CN={FE}" and stand_in["certificate"]["issuer"] == "CN=ucc-lab stand-in Front End CA"
    assert stand_in["trusted_through"] == rf"a copy of {WINDOWS_DIR}\{STORE_NAME} with the stand-in's CA ucc-lab stand-in Front End CA added"
    assert store.read_bytes() == before  # the customer's trust store itself is untouched
    [note] = [n for n in result.notes if "stand-in" in n]
    assert "the Front End → connector push needs the Front End's own key and was not run" in note


def test_the_stand_in_judges_the_customers_own_client_certificate(bundle: BundleFactory, foreign: ForeignPki, tmp_path: Path) -> None:
    """A PFX exported without "Include all certificates": the stand-in, trusting the root only, refuses it."""
    fe_der = write_der_certificate(tmp_path / "fe01.cer", foreign.fe)
    result = check(bundle("no-chain").options(frontend_cert=fe_der, frontend_pfx_password=None))

    assert _errors(result) == {"pfx-chain-incomplete"}, result.to_json()
    assert [(h["direction"], h["outcome"], h["codes"]) for h in result.handshakes] == [
        ("connector-to-frontend", "rejected", ["pfx-chain-incomplete"])]
    [refusal] = [e for e in _frontend_evidence(result)["frontend"]["log"] if e["type"] == "tls-failure"]
    assert refusal["verify_errors"][0]["subject"] == "CN=ucc01.companya.com" and refusal["alert_sent"] == "unknown_ca"
    finding = next(f for f in result.findings if f["code"] == "pfx-chain-incomplete")
    assert finding["evidence"]["live"][0]["direction"] == "connector-to-frontend"


def test_without_a_trust_store_the_stand_in_is_trusted_through_a_copy_of_cacerts(
    bundle: BundleFactory, foreign: ForeignPki, java_home: Path, tmp_path: Path
) -> None:
    cacerts = java_home / "lib" / "security" / "cacerts"
    before = cacerts.read_bytes()
    args = MTLS_ARGS.split(" -key_store_file")[0]  # the page's startup.bat: no trust store
    fe_der = write_der_certificate(tmp_path / "fe01.cer", foreign.fe)
    result = check(bundle(args=args).options(frontend_cert=fe_der, frontend_pfx_password=None))

    # The static check says the connector does not trust the real Front End; the live one
    # still judged the connector's certificate, and found it good.
    assert _errors(result) == {"truststore-missing-ca"}, result.to_json()
    assert [(h["direction"], h["outcome"]) for h in result.handshakes] == [("connector-to-frontend", "confirmed")]
    assert _frontend_evidence(result)["frontend_stand_in"]["trusted_through"] == (
        f"a copy of {cacerts} with the stand-in's CA ucc-lab stand-in Front End CA added")
    assert cacerts.read_bytes() == before


# -- a PFX whose issuer nobody holds -------------------------------------------------------------


def test_an_issuer_in_neither_the_pfx_nor_the_files_is_a_chain_warning(bundle: BundleFactory) -> None:
    b = bundle("no-chain")
    (b.files / "CompanyA_Certificate.cer").unlink()  # the issuing CA is nowhere now
    result = check(b.options(frontend_cert=None, frontend_pfx_password=None))

    assert result.codes("warning") == ["pfx-chain-incomplete"] and _errors(result) == set(), result.to_json()
    assert result.exit_code == 0
    [finding] = result.findings
    assert finding["doc_step"] == "Generating the Server Certificate Using Skype for Business Management Shell, step 5"
    assert "Include all certificates in the certification path" in finding["fix"]
    assert finding["evidence"]["missing_issuer"] == "CN=contoso-ISSUING-CA"
    assert finding["evidence"]["pfx_chain"] == ["CN=ucc01.companya.com"]


def test_a_refused_live_handshake_makes_the_chain_warning_an_error(bundle: BundleFactory, foreign: ForeignPki,
                                                                   tmp_path: Path) -> None:
    """The Front End's certificate straight from the root: the live run can start, and fails for the chain."""
    b = bundle("no-chain")
    (b.files / "CompanyA_Certificate.cer").unlink()
    fe_from_root = _certificate(FE, foreign.fe_key, foreign.root, foreign.root_key, ekus=BOTH)
    fe_pfx = export_pfx(tmp_path / "fe-root.pfx", certificate=fe_from_root, private_key=foreign.fe_key,
                        chain=[foreign.root], password="fepass")
    result = check(b.options(frontend_cert=fe_pfx))

    assert _errors(result) == {"pfx-chain-incomplete"}, result.to_json()
    assert result.exit_code == 1
    to_frontend = next(h for h in result.handshakes if h["direction"] == "connector-to-frontend")
    assert to_frontend["outcome"] == "rejected" and to_frontend["codes"] == ["pfx-chain-incomplete"]
    [finding] = [f for f in result.findings if f["code"] == "pfx-chain-incomplete"]
    # The push fails for the same reason: the Front End, as TLS client, cannot verify the connector.
    assert [(seen["direction"], "unable to get local issuer certificate" in seen["seen"]) for seen in finding["evidence"]["live"]] == [
        ("connector-to-frontend", True), ("frontend-to-connector", True)]


# -- krb5.conf ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("krb5", "errors", "warnings"),
    [
        (GOOD_KRB5, set(), []),
        (GOOD_KRB5.replace("    COMPANYA.COM = {\n        kdc = labdc01.companya.com\n    }\n", ""), {"krb-realm-unknown"}, []),
        (GOOD_KRB5.replace("[libdefaults]\n", "[libdefaults]\n    allow_weak_crypto = true\n"), set(), ["krb-weak-crypto-enabled"]),
        (GOOD_KRB5.replace("[libdefaults]\n", "[libdefaults]\n    default_tkt_enctypes = des-cbc-md5\n"), {"krb-des-disabled"}, []),
        (None, {"krb-conf-missing"}, []),
    ],
    ids=["good", "no-realms-entry", "allow-weak-crypto", "des-only", "missing"],
)
def test_krb5_conf(bundle: BundleFactory, krb5: str | None, errors: set[str], warnings: list[str]) -> None:
    b = bundle(args=TLS_ARGS)
    if krb5 is not None:
        (b.files / "krb5.conf").write_text(krb5)

    result = check(b.options())

    assert _errors(result) == errors, result.to_json()
    assert result.codes("warning") == warnings
    assert result.exit_code == (1 if errors else 0)
    assert any("TLS/Kerberos" in note for note in result.notes)


# -- bad usage ---------------------------------------------------------------------------------


def test_wrong_frontend_pfx_password_is_bad_usage(bundle: BundleFactory) -> None:
    with pytest.raises(CheckUsageError, match="--frontend-pfx-password is wrong"):
        check(bundle().options(frontend_pfx_password="nope"))


def test_missing_files_folder_is_bad_usage(bundle: BundleFactory, tmp_path: Path) -> None:
    with pytest.raises(CheckUsageError, match="not a folder"):
        check(bundle().options(files=tmp_path / "nowhere"))


def test_a_front_end_name_the_certificate_lacks_matters_only_with_endpoint_identification(bundle: BundleFactory) -> None:
    """A plain SSLSocket (the connector's default) does not check the Front End's name: a
    warning, and the live handshake confirms; with HTTPS endpoint identification an error,
    and the connector refuses the Front End in Java's words."""
    made = bundle()
    lenient = check(made.options(frontend_fqdn="pool.companya.com"))
    [warned] = [f for f in lenient.findings if f["code"] == "cert-name-mismatch"]
    assert warned["severity"] == "warning" and "a plain SSLSocket" in warned["message"]
    assert lenient.exit_code == 0
    strict = check(made.options(frontend_fqdn="pool.companya.com", endpoint_identification="HTTPS"))
    assert "cert-name-mismatch" in _errors(strict) and strict.exit_code == 1
    to_frontend = next(h for h in strict.handshakes if h["direction"] == "connector-to-frontend")
    assert to_frontend["outcome"] != "confirmed"


def test_the_connectors_fqdn_in_the_san_only_is_refused_as_lync_matches_the_subject(bundle: BundleFactory) -> None:
    """Lync matches its MTLS peers by the certificate's subject CN: the FQDN among the SANs
    alone does not make the connector a known peer — statically and live alike."""
    result = check(bundle("san-only").options())
    [finding] = [f for f in result.findings if f["code"] == "cert-name-mismatch"]
    assert finding["severity"] == "error" and "only among its alternative names" in finding["message"]
    to_frontend = next(h for h in result.handshakes if h["direction"] == "connector-to-frontend")
    assert to_frontend["outcome"] != "confirmed" and "cert-name-mismatch" in to_frontend["codes"]
