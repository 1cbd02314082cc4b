"""Customer-issue scenarios: the page followed with one wrong turn, and what must come of it.

A scenario is one YAML file in ``scenarios/`` (the file's stem is its name)::

    name: two-tier-without-chain
    symptom: "UCC cannot register with Lync since we added an issuing CA"
    path: mtls                      # mtls | tls-kerberos | all
    client: python                  # python (default) | java | both
    topology: {two_tier_ca: true}   # Topology fields (harness.lab.Topology)
    set:                            # deviations: the names of `ucclab replay --set`
      shell.export_pfx.include_chain: false
    environment:                    # what the page does not set but the customer's site does
      kdc_clock_offset_minutes: 0
    expect:
      outcome: rejected             # confirmed | rejected | failed
      codes: [pfx-chain-incomplete]
      allow: []

``expect.outcome``: ``confirmed`` — every handshake of the path was confirmed by the server
side; ``rejected`` — the page's steps were all carried out but some handshake was not
confirmed; ``failed`` — a step of the page could not be carried out.

``expect.codes`` and ``expect.allow``: a scenario passes when its outcome is the expected
one, every code of ``expect.codes`` was reported (as a diagnosis, or as a warning of the
connector's setup — ``store-type-mismatch``, ``arg-unknown``), and every diagnosis code
reported is in ``expect.codes`` or ``expect.allow``. Warnings not expected are tolerated.

``environment`` keys (all optional):

``kdc_clock_offset_minutes``
    the domain controller's clock, ahead (positive) or behind the connector's.
``frontend_spns``
    the service principal names of the Front End's computer account (default:
    ``sip/<frontend fqdn>`` and ``HOST/<frontend fqdn>``).
``ocs_password_changed``
    true: the OCS user's AD password was reset before the page's steps, so the password
    the lab knows (and puts in ``Microsoft-OCS``) is the old one.
``frontend_password_reset``
    true: the Front End's computer account got a new password (and key version) in AD,
    while the Front End still holds its old keys.
``jdk_cacerts``
    what ``$JAVA_HOME/lib/security/cacerts`` of the connector host holds, where Java looks
    without a trust store: ``empty`` (no certificate), ``lab-ca`` (the lab's root CA);
    absent: the machine's own JDK.
``connector_certificate``
    the customer brings the connector's own certificate for the UC Connector's FQDN instead
    of the one the page requests: ``expired`` or ``not-yet-valid`` (issued by the lab's CA,
    its validity over or yet to come), ``foreign-ca`` (issued by a CA the Front End does
    not trust). It is exported as ``Customer_Certificate.pfx`` (password ``mnopqr``, with
    its chain) and the connector's command line points at it; the scenario's ``set`` may
    still override ``cert_store_file`` or ``cert_store_pass``. Only for the paths with MTLS.
    ``revoked``: issued by the lab's CA from the page's template (``certreq -submit``), then
    revoked there (``certutil -revoke``, reason Key Compromise) and a new CRL published.
``ocs_account``
    the OCS user's account state in Active Directory Users and Computers:
    ``must_change_password`` ("User must change password at next logon"),
    ``password_expired``, ``locked_out``, ``enabled`` (booleans) and ``account_expires``
    (an ISO 8601 date-time, "Account expires: End of").
``domain_des_enabled``
    true: the domain's Kerberos policy allows single DES (the GPO "Network security:
    Configure encryption types allowed for Kerberos"); off by default as on 2008 R2+ DCs.
``frontend_profile``
    the product and Windows Server the Front End is: ``lync2013``, ``sfb2015`` (the
    default), ``sfb2015-hardened``, ``sfb2019`` (their TLS versions and cipher suites).
``frontend_known_peers``
    the FQDNs of the topology's trusted application pools (``New-CsTrustedApplicationPool``),
    instead of the UC Connector's FQDN the page publishes.
``frontend_revocation_check``
    false: the Front End does not check client certificates against their CA's CRL.
``frontend_certificate``
    the Front End's certificate re-issued by the lab's CA with the same names and usages,
    but ``sha1`` (signed SHA1withRSA), ``rsa-1024`` (a 1024-bit key) or ``other-name``
    (for ``oldfe01.<domain>`` alone: a certificate left from another server).
``crl_publication``
    how the CA's base CRL is published: ``offline`` (the CDP web site is down) or
    ``expired`` (the CRL published is past its nextUpdate: the CA stopped publishing).
``java_security``
    ``java.security`` properties of the connector's JDK that differ from JDK 17's
    (``{"jdk.tls.disabledAlgorithms": "..."}``, each the property's whole value).
``endpoint_identification``
    true: the connector checks the Front End's name in its certificate (HTTPS endpoint
    identification); false or absent: it does not, as a plain ``SSLSocket``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import multiprocessing
import os
import secrets
import threading
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml  # type: ignore[import-untyped]

from .keys import KeyCache
from .lab import Lab, LabBase, Topology, make_private_folder
from .procedures import PATH_PARTS, PATHS, OverrideError
from .replay import ReplayResult, parse_overrides, replay

if TYPE_CHECKING:  # cryptography is imported by the environments that make certificates
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "ENVIRONMENT_KEYS",
    "OUTCOMES",
    "SCENARIOS_DIR",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "load_scenario",
    "load_scenarios",
    "run_scenario",
    "run_scenarios",
    "select_scenarios",
]

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
OUTCOMES = ("confirmed", "rejected", "failed")
CLIENTS = ("python", "java", "both")
ENVIRONMENT_KEYS: dict[str, type | tuple[type, ...]] = {
    "kdc_clock_offset_minutes": (int, float),
    "frontend_spns": list,
    "ocs_password_changed": bool,
    "frontend_password_reset": bool,
    "jdk_cacerts": str,
    "connector_certificate": str,
    "ocs_account": dict,
    "domain_des_enabled": bool,
    "frontend_profile": str,
    "frontend_known_peers": list,
    "frontend_revocation_check": bool,
    "frontend_certificate": str,
    "crl_publication": str,
    "java_security": dict,
    "endpoint_identification": bool,
}
JDK_CACERTS = ("empty", "lab-ca")
CONNECTOR_CERTIFICATES = ("expired", "not-yet-valid", "foreign-ca", "revoked")
FRONTEND_CERTIFICATES = ("sha1", "rsa-1024", "other-name")
CRL_PUBLICATIONS = ("offline", "expired")
# The account states of ADUC's Account tab a scenario may set, with their types.
OCS_ACCOUNT_STATES: dict[str, type] = {
    "must_change_password": bool, "password_expired": bool, "locked_out": bool, "enabled": bool, "account_expires": str,
}
# The customer's certificate for the connector, as the lab places it in the connector's etc.
CUSTOMER_PFX = "Customer_Certificate.pfx"
CUSTOMER_PFX_PASSWORD = "mnopqr"

_TOP_KEYS = ("name", "symptom", "path", "client", "topology", "set", "environment", "expect")
_REQUIRED = ("name", "symptom", "path", "expect")
_EXPECT_KEYS = ("outcome", "codes", "allow")
_TOPOLOGY_FIELDS = {f.name: f for f in dataclasses.fields(Topology)}
# The replay's own outcome words → the scenario's.
_OUTCOME_OF_REPLAY = {"confirmed": "confirmed", "not-confirmed": "rejected", "failed": "failed"}


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid, or a scenario named does not exist."""


@dataclass(frozen=True)
class Scenario:
    """One customer-issue scenario, as its YAML file gives it (see the module's docstring)."""

    name: str
    symptom: str
    path: str
    expect_outcome: str
    expect_codes: tuple[str, ...] = ()
    expect_allow: tuple[str, ...] = ()
    client: str = "python"
    topology: Topology = field(default_factory=Topology)
    sets: tuple[str, ...] = ()
    environment: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """The scenario as ``ucclab scenarios list --json`` shows it."""
        default = Topology()
        return {
            "name": self.name,
            "symptom": self.symptom,
            "path": self.path,
            "client": self.client,
            "topology": {k: v for k, v in dataclasses.asdict(self.topology).items() if getattr(default, k) != v},
            "set": list(self.sets),
            "environment": dict(self.environment),
            "expect": {"outcome": self.expect_outcome, "codes": list(self.expect_codes), "allow": list(self.expect_allow)},
            "file": str(self.source) if self.source else None,
        }


@dataclass
class ScenarioResult:
    """What running a scenario gave, compared with what it expects.

    ``codes`` are the replay's diagnosis codes, ``warnings`` the codes of the connector's
    setup warnings that are not also diagnoses; ``problems`` says, in words, each way the
    run differs from the expectation (empty when ``passed``).
    """

    name: str
    passed: bool
    outcome: str
    codes: list[str]
    expected: dict[str, Any]
    replay_json: dict[str, Any] | None
    problems: list[str]
    warnings: list[str] = field(default_factory=list)
    symptom: str = ""
    workdir: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``{"name", "passed", "outcome", "codes", ...}`` entry of ``scenarios run --json``."""
        return {
            "name": self.name,
            "passed": self.passed,
            "outcome": self.outcome,
            "codes": self.codes,
            "warnings": self.warnings,
            "expected": self.expected,
            "problems": self.problems,
            "symptom": self.symptom,
            "workdir": self.workdir,
            "replay": self.replay_json,
        }


# -- loading --------------------------------------------------------------------------------
def _yaml_value(value: Any) -> str:
    """A YAML scalar as the text ``--set`` takes (``none`` for null, ``true``/``false``)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _codes(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        raise ScenarioError(f"{where}: expected a list of diagnosis codes")
    return tuple(value)


def _mapping(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: expected a mapping")
    return value


def _unknown_keys(where: str, given: Mapping[str, Any], known: tuple[str, ...] | list[str]) -> None:
    unknown = sorted(set(map(str, given)) - set(known))
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")


def _topology(where: str, raw: dict[str, Any]) -> Topology:
    _unknown_keys(where, raw, list(_TOPOLOGY_FIELDS))
    for key, value in raw.items():
        expected = type(getattr(Topology(), key))
        if not isinstance(value, expected):
            raise ScenarioError(f"{where}.{key}: expected {expected.__name__}, got {value!r}")
    return Topology(**raw)


def _environment(where: str, raw: dict[str, Any]) -> dict[str, Any]:
    _unknown_keys(where, raw, list(ENVIRONMENT_KEYS))
    for key, value in raw.items():
        kind = ENVIRONMENT_KEYS[key]
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise ScenarioError(f"{where}.{key}: unexpected value {value!r}")
    if "frontend_spns" in raw and not all(isinstance(s, str) and s for s in raw["frontend_spns"]):
        raise ScenarioError(f"{where}.frontend_spns: expected a list of service principal names")
    if "jdk_cacerts" in raw and raw["jdk_cacerts"] not in JDK_CACERTS:
        raise ScenarioError(f"{where}.jdk_cacerts: expected one of {', '.join(JDK_CACERTS)}, got {raw['jdk_cacerts']!r}")
    # The Front End's profiles and topology rules, from their own light modules.
    from fakes.frontend._profiles import PROFILES
    from fakes.frontend._topology import TopologyError, check_fqdn

    for key, allowed in (("connector_certificate", CONNECTOR_CERTIFICATES), ("frontend_certificate", FRONTEND_CERTIFICATES),
                         ("crl_publication", CRL_PUBLICATIONS), ("frontend_profile", tuple(PROFILES))):
        if key in raw and raw[key] not in allowed:
            raise ScenarioError(f"{where}.{key}: expected one of {', '.join(allowed)}, got {raw[key]!r}")
    for peer in raw.get("frontend_known_peers", []):
        try:
            check_fqdn(peer, "a known peer")
        except TopologyError as exc:
            raise ScenarioError(f"{where}.frontend_known_peers: expected a list of FQDNs ({exc})") from None
    if "java_security" in raw and not all(isinstance(k, str) and isinstance(v, str) for k, v in raw["java_security"].items()):
        raise ScenarioError(f"{where}.java_security: expected java.security property names and their values, as text")
    if "ocs_account" in raw:
        states = raw["ocs_account"]
        _unknown_keys(f"{where}.ocs_account", states, list(OCS_ACCOUNT_STATES))
        for key, value in states.items():
            if not isinstance(value, OCS_ACCOUNT_STATES[key]):
                raise ScenarioError(f"{where}.ocs_account.{key}: unexpected value {value!r}")
        if "account_expires" in states:
            try:
                datetime.datetime.fromisoformat(states["account_expires"])
            except ValueError:
                raise ScenarioError(f"{where}.ocs_account.account_expires: expected an ISO 8601 date-time such as "
                                    f"2026-01-01T00:00:00Z, got {states['account_expires']!r}") from None
    return dict(raw)


def _certificate_overrides(environment: Mapping[str, Any], windows_path: str) -> list[str]:
    """The ``--set`` texts that point the connector at the customer's PFX (none without one)."""
    if "connector_certificate" not in environment:
        return []
    return [
        f"mtls_command_line.add_parameters.cert_store_file={windows_path}",
        f"mtls_command_line.add_parameters.cert_store_pass={CUSTOMER_PFX_PASSWORD}",
    ]


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file; :class:`ScenarioError` names the file and field."""
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{where}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{where}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: expected a mapping of {', '.join(_TOP_KEYS)}")
    _unknown_keys(where, doc, _TOP_KEYS)
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise ScenarioError(f"{where}: missing {', '.join(missing)}")
    if doc["name"] != path.stem:
        raise ScenarioError(f"{where}: name: {doc['name']!r} must be the file's stem {path.stem!r}")
    if not isinstance(doc["symptom"], str) or not doc["symptom"].strip():
        raise ScenarioError(f"{where}: symptom: expected the customer's words")
    if doc["path"] not in PATHS:
        raise ScenarioError(f"{where}: path: expected one of {', '.join(PATHS)}, got {doc['path']!r}")
    client = doc.get("client", "python")
    if client not in CLIENTS:
        raise ScenarioError(f"{where}: client: expected one of {', '.join(CLIENTS)}, got {client!r}")
    sets = tuple(f"{k}={_yaml_value(v)}" for k, v in _mapping(f"{where}: set", doc.get("set")).items())
    try:
        parse_overrides(list(sets))
    except OverrideError as exc:
        raise ScenarioError(f"{where}: set: {exc}") from exc
    topology = _topology(f"{where}: topology", _mapping(f"{where}: topology", doc.get("topology")))
    environment = _environment(f"{where}: environment", _mapping(f"{where}: environment", doc.get("environment")))
    if "connector_certificate" in environment and "mtls" not in PATH_PARTS[doc["path"]]:
        raise ScenarioError(f"{where}: environment.connector_certificate: the path {doc['path']} has no MTLS to present it in")
    try:
        parse_overrides(_certificate_overrides(environment, CUSTOMER_PFX))
    except OverrideError as exc:
        raise ScenarioError(f"{where}: environment.connector_certificate: {exc}") from exc
    expect = _mapping(f"{where}: expect", doc["expect"])
    _unknown_keys(f"{where}: expect", expect, _EXPECT_KEYS)
    if expect.get("outcome") not in OUTCOMES:
        raise ScenarioError(f"{where}: expect.outcome: expected one of {', '.join(OUTCOMES)}, got {expect.get('outcome')!r}")
    return Scenario(
        name=doc["name"],
        symptom=doc["symptom"].strip(),
        path=doc["path"],
        expect_outcome=expect["outcome"],
        expect_codes=_codes(f"{where}: expect.codes", expect.get("codes")),
        expect_allow=_codes(f"{where}: expect.allow", expect.get("allow")),
        client=client,
        topology=topology,
        sets=sets,
        environment=environment,
        source=path,
    )


def load_scenarios(folder: Path | None = None) -> list[Scenario]:
    """Every ``*.yaml`` scenario of ``folder`` (default: the repository's ``scenarios/``), by name."""
    folder = folder or SCENARIOS_DIR
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: no such scenarios folder")
    return [load_scenario(p) for p in sorted(folder.glob("*.yaml"))]


# -- running --------------------------------------------------------------------------------
def _uses_default_ca(topology: Topology) -> bool:
    default = Topology()
    return (topology.ca_name, topology.ca_fqdn, topology.two_tier_ca) == (default.ca_name, default.ca_fqdn, False)


def _write_cacerts(lab: LabBase, java_home: Path, content: str) -> None:
    """``$JAVA_HOME/lib/security/cacerts`` holding ``content`` (``empty`` or ``lab-ca``)."""
    from .artifacts import CACERTS_PASSWORD, keytool_import
    from .artifacts._keystore import pyjks

    jks = pyjks()

    assert lab.authority is not None
    path = java_home / "lib" / "security" / "cacerts"
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == "lab-ca":
        keytool_import(path, alias="companya-root", certificate=lab.authority.root_certificate, password=CACERTS_PASSWORD, storetype="jks")
    else:
        jks.KeyStore.new("jks", []).save(str(path), CACERTS_PASSWORD)


def _foreign_ca(now: datetime.datetime) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A root CA of the customer's own, which the lab's Front End does not trust."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from .artifacts import make_root_ca

    return make_root_ca(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Not CompanyA"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Not CompanyA Issuing CA"),
    ]), now)


def _ca_key(lab: LabBase) -> "rsa.RSAPrivateKey":
    """The lab CA's own key, read from its state folder in the workdir (its host checked it
    when it opened the CA): for certificates the CA would never issue so."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    ca_key = load_pem_private_key((lab.state_dir / "ca" / "ca.key").read_bytes(), password=None,
                                  unsafe_skip_rsa_key_validation=True)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    return ca_key


def _frontend_certificate(lab: LabBase, current: Mapping[str, Any], kind: str) -> dict[str, str]:
    """The Front End's certificate re-issued by the lab's CA as ``kind`` says (one of
    ``FRONTEND_CERTIFICATES``), with its chain and key as the Front End's admin API takes them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    assert lab.authority is not None
    leaf = x509.load_pem_x509_certificates(current["chain"].encode())[0]
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024 if kind == "rsa-1024" else 2048)
    subject = leaf.subject
    skipped = {x509.SubjectKeyIdentifier.oid}
    builder = (
        x509.CertificateBuilder()
        .issuer_name(lab.authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if kind == "other-name":
        other = f"oldfe01.{lab.topology.domain}"
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, other)])
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(other)]), critical=False)
        skipped.add(x509.SubjectAlternativeName.oid)
    for extension in leaf.extensions:
        if extension.oid not in skipped:
            builder = builder.add_extension(extension.value, extension.critical)
    ca_key = _ca_key(lab)
    certificate = builder.subject_name(subject).sign(ca_key, hashes.SHA256())
    if kind == "sha1":
        certificate = _signed_sha1(certificate, ca_key)
    chain = [certificate, *lab.authority.chain]
    return {
        "chain": "".join(c.public_bytes(Encoding.PEM).decode() for c in chain),
        "key": key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
    }


# sha256WithRSAEncryption and sha1WithRSAEncryption (RFC 4055, RFC 3279), as DER
# OBJECT IDENTIFIERs: the same length, so one replaces the other in place.
_SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
_SHA1_WITH_RSA = bytes.fromhex("06092a864886f70d010105")


def _signed_sha1(certificate: "x509.Certificate", key: "rsa.RSAPrivateKey") -> "x509.Certificate":
    """``certificate`` (signed SHA256withRSA) signed SHA1withRSA instead, as an AD CS of the
    2000s did. cryptography no longer signs certificates with SHA-1, so the algorithm's OID
    is changed in the TBSCertificate and outside it, and the new TBSCertificate signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import Encoding

    der = certificate.public_bytes(Encoding.DER)
    tbs = certificate.tbs_certificate_bytes
    if der.count(_SHA256_WITH_RSA) != 2 or tbs.count(_SHA256_WITH_RSA) != 1:
        raise ValueError("expected the signature algorithm once in the TBSCertificate and once after it")
    new_tbs = tbs.replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA)
    signature = key.sign(new_tbs, padding.PKCS1v15(), hashes.SHA1())
    assert len(signature) == len(certificate.signature)
    start = der.index(tbs)
    rest = der[start + len(tbs):-len(signature)].replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA)
    return x509.load_der_x509_certificate(der[:start] + new_tbs + rest + signature)


async def _revoked_connector_certificate(lab: LabBase) -> Path:
    """The customer's PFX for the UC Connector's FQDN, issued by the lab's CA from the page's
    template and then revoked there (Key Compromise), with a new CRL published at once."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa

    from .artifacts import export_pfx
    from .procedures.server_certificate_web import EXPORTABLE_COPY

    assert lab.authority is not None
    fqdn = lab.topology.ucc_fqdn
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, fqdn)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(fqdn)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    issued = await lab.authority.submit(csr, template=EXPORTABLE_COPY, requester=lab.topology.administrator)
    if issued.certificate is None:
        raise ScenarioError(f"the lab's CA did not issue the certificate to revoke: {issued.disposition}: {issued.message}")
    # certutil -revoke SERIAL 1: CRL_REASON_KEY_COMPROMISE.
    await lab.admin["ca"].act("revoke", {"serial": f"{issued.certificate.serial_number:x}", "reason": 1})
    return export_pfx(
        lab.artifacts_dir / CUSTOMER_PFX, certificate=issued.certificate, private_key=key, chain=lab.authority.chain,
        password=CUSTOMER_PFX_PASSWORD,
    )


def _connector_certificate(lab: LabBase, kind: str) -> Path:
    """Write the customer's PFX for the UC Connector's FQDN (``kind``: one of ``CONNECTOR_CERTIFICATES``).

    Expired and not-yet-valid certificates are signed with the lab CA's own key: the CA would
    never issue them so.
    """
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from .artifacts import export_pfx, issue_certificate

    assert lab.authority is not None
    fqdn = lab.topology.ucc_fqdn
    now = datetime.datetime.now(datetime.UTC)
    if kind == "foreign-ca":
        issuer, issuer_key = _foreign_ca(now)
        chain = [issuer]
        valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=365))
    else:
        issuer, issuer_key, chain = lab.authority.certificate, _ca_key(lab), lab.authority.chain
        if kind == "expired":
            valid = (now - datetime.timedelta(days=730), now - datetime.timedelta(days=1))
        else:  # not-yet-valid: issued with the validity starting next month
            valid = (now + datetime.timedelta(days=30), now + datetime.timedelta(days=760))
    # The Web Server template's EKU: server authentication only.
    certificate, key = issue_certificate(fqdn, issuer, issuer_key, valid=valid, ekus=[ExtendedKeyUsageOID.SERVER_AUTH])
    return export_pfx(
        lab.artifacts_dir / CUSTOMER_PFX, certificate=certificate, private_key=key, chain=chain, password=CUSTOMER_PFX_PASSWORD,
    )


async def _apply_environment(lab: LabBase, environment: Mapping[str, Any], java_home: Path | None) -> None:
    """Change the started lab the way the scenario's site differs from the page's (through
    the stand-ins' admin API, so a running lab anywhere can be changed the same way)."""
    assert lab.domain is not None
    t = lab.topology
    offset = environment.get("kdc_clock_offset_minutes")
    if offset:
        await lab.admin["kdc"].put("clock-offset", offset * 60)
    computer = f"{t.frontend_host.upper()}$"
    if "frontend_spns" in environment:
        await lab.domain.update(computer, spns=tuple(environment["frontend_spns"]))
    if environment.get("frontend_password_reset"):
        account = await lab.domain.account(computer)
        assert account is not None
        await lab.domain.update(computer, password="Reset-" + secrets.token_urlsafe(9) + "1a", kvno=account["kvno"] + 1)
    if environment.get("ocs_password_changed"):
        await lab.domain.update(t.ucc_account, password="Changed-" + secrets.token_urlsafe(9) + "1a")
    if "ocs_account" in environment:
        await lab.domain.update(t.ucc_account, **environment["ocs_account"])
    if "domain_des_enabled" in environment:
        await lab.admin["kdc"].put("domain-policy", {"des_enabled": environment["domain_des_enabled"]})
    frontend = lab.admin["frontend"]
    if "frontend_profile" in environment:
        await frontend.put("profile", environment["frontend_profile"])
    if "frontend_known_peers" in environment:
        await frontend.put("known-peers", environment["frontend_known_peers"])
    if "frontend_revocation_check" in environment:
        await frontend.put("revocation", {"check": environment["frontend_revocation_check"]})
    if "frontend_certificate" in environment:
        await frontend.put("certificate", _frontend_certificate(lab, await frontend.get("certificate"), environment["frontend_certificate"]))
    if "crl_publication" in environment:
        # Offline: the CDP's web site is down. Expired: the last CRL's nextUpdate passed an hour ago.
        publication = {"offline": {"serving": False}, "expired": {"next_update_offset": -3600}}[environment["crl_publication"]]
        await lab.admin["ca"].put("crl-publication", publication)
    connector = lab.admin["connector"]
    if "java_security" in environment:
        await connector.put("java-security", environment["java_security"])
    if environment.get("endpoint_identification"):
        await connector.put("endpoint-identification", "HTTPS")
    if java_home is not None:
        _write_cacerts(lab, java_home, environment["jdk_cacerts"])
    if environment.get("connector_certificate") == "revoked":
        await _revoked_connector_certificate(lab)
    elif "connector_certificate" in environment:
        _connector_certificate(lab, environment["connector_certificate"])


def _collect_codes(result: ReplayResult) -> tuple[list[str], list[str]]:
    """The replay's diagnosis codes and, apart, its setup warnings' codes (each once, in order)."""
    codes = list(dict.fromkeys(d["code"] for d in result.diagnoses))
    warnings = [
        f["code"]
        for h in result.handshakes
        for f in (h.get("evidence") or {}).get("connector_findings") or []
        if f.get("severity") == "warning"
    ]
    return codes, [c for c in dict.fromkeys(warnings) if c not in codes]


def _compare(scenario: Scenario, outcome: str, codes: list[str], warnings: list[str]) -> list[str]:
    problems = []
    if outcome != scenario.expect_outcome:
        problems.append(f"outcome {outcome}, expected {scenario.expect_outcome}")
    missing = [c for c in scenario.expect_codes if c not in codes and c not in warnings]
    if missing:
        problems.append(f"expected code(s) not reported: {', '.join(missing)}")
    unexpected = [c for c in codes if c not in scenario.expect_codes and c not in scenario.expect_allow]
    if unexpected:
        problems.append(f"unexpected code(s): {', '.join(unexpected)}")
    return problems


def _expected(scenario: Scenario) -> dict[str, Any]:
    return {"outcome": scenario.expect_outcome, "codes": list(scenario.expect_codes), "allow": list(scenario.expect_allow)}


async def run_scenario(
    scenario: Scenario, workdir: Path, *, ca_seed: Path | None = None, keys: KeyCache | None = None
) -> ScenarioResult:
    """Run ``scenario`` in a lab of its own in ``workdir`` (new or empty) and judge it.

    ``keys`` gives the lab its CA and keys (:class:`~harness.keys.KeyCache`); else
    ``ca_seed`` (a CA state folder of the default topology) is copied instead of creating a
    CA when the scenario's topology uses the default CA. A lab that cannot start or a
    replay that raises gives a result with outcome ``error`` and the reason in ``problems``.
    """
    workdir = Path(workdir)
    if workdir.exists() and any(workdir.iterdir()):
        raise ScenarioError(f"{workdir}: a scenario needs a new or empty workdir")
    java_home = workdir / "jdk" if "jdk_cacerts" in scenario.environment else None
    lab = Lab(
        workdir,
        scenario.topology,
        ca_seed=ca_seed if _uses_default_ca(scenario.topology) else None,
        java_home=java_home,
        keys=keys,
    )

    def judged(outcome: str, codes: list[str], warnings: list[str], replay_json: dict[str, Any] | None, problems: list[str]) -> ScenarioResult:
        return ScenarioResult(
            name=scenario.name,
            passed=not problems,
            outcome=outcome,
            codes=codes,
            expected=_expected(scenario),
            replay_json=replay_json,
            problems=problems,
            warnings=warnings,
            symptom=scenario.symptom,
            workdir=str(lab.workdir),
        )

    try:
        await lab.start()
        result = await stage_scenario(lab, scenario, java_home=java_home)
    except Exception as exc:  # noqa: BLE001 — any failure of the lab is reported as the scenario's result
        return judged("error", [], [], None, [f"the lab failed: {exc!r}"])
    finally:
        await lab.close()
    outcome = _OUTCOME_OF_REPLAY[result.outcome]
    codes, warnings = _collect_codes(result)
    return judged(outcome, codes, warnings, result.to_json(), _compare(scenario, outcome, codes, warnings))


def select_scenarios(scenarios: list[Scenario], names: list[str] | None) -> list[Scenario]:
    """The scenarios ``names`` asks for, in that order (all when ``names`` is empty)."""
    if not names:
        return scenarios
    by_name = {s.name: s for s in scenarios}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ScenarioError(f"no scenario named {', '.join(map(repr, unknown))} (`ucclab scenarios list` shows them)")
    return [by_name[n] for n in names]


def run_scenarios(
    names: list[str] | None = None,
    *,
    workdir_root: Path,
    jobs: int | None = None,
    folder: Path | None = None,
    keys: KeyCache | None = None,
) -> list[ScenarioResult]:
    """Run the scenarios ``names`` (all by default), each in its own lab under
    ``workdir_root/<name>``, in ``jobs`` worker processes at a time (default: one per core);
    results in the order asked.

    ``workdir_root`` must not hold those folders yet. The labs take their CAs and keys from
    ``keys`` (default: a cache of this run's own, ``workdir_root/.keys``); each CA is made
    before the workers start, so they copy it instead of racing to make it.
    """
    chosen = select_scenarios(load_scenarios(folder), names)
    if jobs is None:
        jobs = os.cpu_count() or 1
    if jobs < 1:
        raise ScenarioError(f"jobs: expected at least 1, got {jobs}")
    workdir_root = Path(workdir_root)
    busy = [s.name for s in chosen if (workdir_root / s.name).exists()]
    if busy:
        raise ScenarioError(f"{workdir_root}: already holds {', '.join(busy)}; give an empty folder")
    # The labs' folders and the run's keys hold CA keys: no other user may read or swap them.
    make_private_folder(workdir_root)
    keys = keys or KeyCache(workdir_root / ".keys")
    for topology in dict.fromkeys(s.topology for s in chosen):
        keys.ca_seed(topology)
    work = [(scenario, workdir_root / scenario.name, keys) for scenario in chosen]
    if jobs == 1 or len(chosen) == 1:
        return [_run_in_worker(one) for one in work]
    with ProcessPoolExecutor(max_workers=min(jobs, len(chosen)), mp_context=_worker_context()) as pool:
        return list(pool.map(_run_in_worker, work))


def _run_in_worker(work: tuple[Scenario, Path, KeyCache]) -> ScenarioResult:
    """One scenario, in a worker process of :func:`run_scenarios` (a lab and an event loop of its own)."""
    scenario, workdir, keys = work
    return asyncio.run(run_scenario(scenario, workdir, keys=keys))


def _worker_context() -> multiprocessing.context.BaseContext:
    """How worker processes start: forked from this process, which has the lab's modules
    loaded already, unless it runs threads (a fork copies locks other threads may hold);
    then from a fork server."""
    return multiprocessing.get_context("fork" if threading.active_count() == 1 else "forkserver")


async def stage_scenario(
    lab: LabBase, scenario: Scenario, *, java_home: Path | None = None, progress: Any = None,
    client: str | None = None,
) -> ReplayResult:
    """Put ``scenario``'s fault in place in a started ``lab``: its site's environment, then
    its path of the page replayed with its deviations (``ucclab up --scenario`` leaves the
    lab running so; :func:`run_scenario` judges the result). ``java_home`` is the connector
    host's JDK when the scenario sets its ``cacerts`` (``jdk_cacerts``); ``progress`` gets
    each transcript entry as its step ends; ``client`` replaces the scenario's own."""
    await _apply_environment(lab, scenario.environment, java_home)
    # The scenario's own deviations come last, so that they win.
    overrides = _certificate_overrides(scenario.environment, lab.windows_path(CUSTOMER_PFX)) + list(scenario.sets)
    return await replay(lab, scenario.path, parse_overrides(overrides), client=client or scenario.client, progress=progress)
