"""``ucclab check``: a customer's files and command line, diagnosed without the customer's CA.

A support engineer gets the connector's *Command Line Arguments* (or its ``startup.bat``
line), the files those arguments name, the certificate the customer's Front End presents
and perhaps their krb5.conf. :func:`run_check` reads them the way the Java connector does
and names every problem in the page's terms — one finding per cause, each with the page's
step, what was seen in which file, and the fix:

- the arguments (``arg-unknown``, ``arg-missing-value``, ``arg-malformed``), read by
  :func:`harness.connector.parse_arguments`; Windows paths resolve by file name inside
  ``--files``;
- the connector's PFX as SunJSSE loads it (``pfx-wrong-password``, ``pfx-no-private-key``,
  ``pfx-unencrypted``, ``pfx-missing``, ``pfx-unreadable``, ``pfx-key-mismatch``), its chain
  (``pfx-chain-incomplete`` when the leaf's issuer is an intermediate CA, found among the
  customer's files, that the PFX does not carry; a warning when the issuer is in neither
  the PFX nor the files, an error once a live handshake is refused for it) and its
  certificate (``cert-expired``,
  ``cert-not-yet-valid``, ``cert-name-mismatch`` against ``--ucc-fqdn``,
  ``cert-eku-no-server-auth``: the Front End pushes presence to it as a TLS client). A
  serverAuth-only connector certificate is *not* a problem: Lync's SChannel accepts it
  as a client certificate;
- the trust store (``truststore-*``, ``store-type-mismatch``), or without one JSSE's
  ``jssecacerts``/``cacerts`` fallback of ``java_home``, against the Front End's
  certificate (``truststore-missing-ca``);
- the Front End's certificate (``--frontend-cert``): validity, its name against
  ``--frontend-fqdn``, and the clientAuth EKU the presence push needs because the Java
  connector, as TLS server, refuses a serverAuth-only client certificate
  (``cert-eku-no-client-auth``);
- krb5.conf (``-krb_conf_file`` or ``--krb5-conf``): ``krb-conf-missing``,
  ``krb-realm-unknown``, ``krb-weak-crypto-enabled`` (warning), ``krb-des-disabled``.

Where the files permit — an MTLS command line whose stores load, and the Front End's
certificate whose root CA is in its PFX or among the files — the MTLS handshakes are then
run for real: the connector stand-in, built from an Application object carrying the
customer's arguments and a Secured port, against a Front End stand-in trusting that root,
with the connector's FQDN as its one known peer. Given as a PFX with its key, the Front
End's certificate is what the stand-in presents, and both directions run. Given without
its key, the stand-in presents a lab-made certificate for the same name, which the
connector trusts through a copy of its own trust store with the stand-in's CA added: the
connector → Front End handshake still judges the customer's own client certificate and
chain; the push, which would judge only the lab's certificate, is not run. As in
:mod:`harness.handshakes`, the verdict is what the server side logged. A live failure
whose cause a static finding already names adds its evidence to that finding; any other
cause becomes a finding of its own. When the files do not permit a live handshake,
:attr:`CheckResult.notes` says why (not a finding).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import ntpath
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fakes._files import write_private_file, write_public_file
from fakes.configserver import CfgApplication, CfgPortInfo, ListeningMode
from fakes.frontend import (
    FrontendConfig,
    FrontendServer,
    certificate_names,
    common_names,
    describe_certificate,
    dns_names,
    matching_peer,
)
from fakes.frontend.admin import frontend_admin

from .artifacts import (
    CACERTS_PASSWORD,
    ArtifactError,
    Krb5Conf,
    WrongPasswordError,
    detect_format,
    issue_certificate,
    keytool_import,
    make_root_ca,
    read_certificate,
    read_krb5_conf,
    read_pfx,
)
from .artifacts._pfx import build_chain
from .connector import (
    ConnectorArguments,
    Finding,
    JsseError,
    KeyMaterial,
    TrustMaterial,
    UCConnector,
    format_arguments,
    load_key_material,
    load_trust_anchors,
    parse_arguments,
)
from .diagnosis import (
    FRONTEND,
    KRB5_CONF,
    TLS_ARGS,
    diagnose,
)
from .admin import local_client
from .connector.service import ConnectorService
from .handshakes import Setup, Stage, mtls_handshakes
from .labservices import Address
from .lab import find_java_home, free_port

__all__ = ["CheckOptions", "CheckResult", "CheckUsageError", "run_check", "check"]

Severity = Literal["error", "warning"]

_CERTIFICATE_FORMATS = ("der-certificate", "pem-certificate")
# Encryption types Java 17 calls single DES (RFC 6649: gone unless allow_weak_crypto).
_DES_ENCTYPES = frozenset({"des-cbc-crc", "des-cbc-md4", "des-cbc-md5", "des", "des-cbc-raw", "des-hmac-sha1"})
_ENCTYPE_OPTIONS = ("default_tkt_enctypes", "default_tgs_enctypes", "permitted_enctypes")
_APPLICATION = "UCC_Lync"
# Where the Front End's certificate comes from on the page.
_FRONTEND_STEP = f"{FRONTEND}, step 3"
_LIVE_TIMEOUT = 10.0
# The throwaway CA of the Front End stand-in used when the customer's Front End
# certificate comes without its key.
_STAND_IN_CA = "ucc-lab stand-in Front End CA"
# A live failure with one of these codes is already explained by any of the static codes
# listed: its evidence goes to that finding instead of a finding of its own.
_EXPLAINED_BY = {
    "truststore-missing-ca": ("truststore-missing", "truststore-empty"),
    "cert-untrusted-ca": ("pfx-chain-incomplete",),
}


class CheckUsageError(Exception):
    """Bad usage or unreadable input: the check cannot start (``ucclab check`` exits 2)."""


@dataclass(frozen=True)
class CheckOptions:
    """What the customer gave.

    ``args``: the Application object's *Command Line Arguments* or the ``startup.bat``
    command line. ``files``: the folder holding the files the arguments name (matched by
    file name); ``None`` reads the paths as local paths. ``frontend_cert``: the certificate
    the customer's Front End presents (DER, PEM, or a PFX opened with
    ``frontend_pfx_password``). ``krb5_conf``: their krb5.conf, when not among ``files``.
    ``java_home``: the JDK whose ``lib/security`` holds the fallback trust stores.
    ``endpoint_identification``: ``"HTTPS"`` when the customer's connector checks the
    Front End's name (a plain ``SSLSocket``, the default, does not).
    """

    args: str
    files: Path | None
    ucc_fqdn: str
    frontend_fqdn: str
    frontend_cert: Path | None = None
    frontend_pfx_password: str | None = None
    krb5_conf: Path | None = None
    java_home: Path | None = field(default_factory=find_java_home)
    endpoint_identification: str | None = None


@dataclass
class CheckResult:
    """The findings (``code``, ``severity``, ``doc_step``, ``message``, ``evidence``,
    ``fix``), the live handshakes that ran and notes on what could not be checked."""

    findings: list[dict[str, Any]]
    handshakes: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> Literal["ok", "problems"]:
        """``problems`` when any finding is an error; warnings alone are ``ok``."""
        return "problems" if any(f["severity"] == "error" for f in self.findings) else "ok"

    @property
    def exit_code(self) -> int:
        """``ucclab check``'s exit status: 0 without an error finding, 1 otherwise."""
        return 1 if self.outcome == "problems" else 0

    def codes(self, severity: Severity | None = None) -> list[str]:
        """The findings' codes, of one severity if given."""
        return [f["code"] for f in self.findings if severity is None or f["severity"] == severity]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``ucclab check --json``."""
        return {
            "outcome": self.outcome,
            "findings": self.findings,
            "handshakes": self.handshakes,
            "notes": self.notes,
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as one JSON text."""
        return json.dumps(self.to_dict(), indent=2, default=str)


def check(options: CheckOptions) -> CheckResult:
    """:func:`run_check` for synchronous callers (runs its own event loop)."""
    return asyncio.run(run_check(options))


async def run_check(options: CheckOptions) -> CheckResult:
    """Every static check the files allow, then the live MTLS handshakes they permit.

    Raises :class:`CheckUsageError` for bad usage or input that cannot be read at all
    (a missing ``--files`` folder or ``--frontend-cert``, a wrong ``--frontend-pfx-password``,
    a krb5.conf that does not parse).
    """
    checker = _Checker(options)
    checker.static_checks()
    await checker.live_checks()
    return CheckResult(checker.findings, checker.handshakes, checker.notes)


# -- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FrontendCertificate:
    """The customer's Front End certificate: its chain (leaf first) and key, if a PFX held one."""

    path: Path
    chain: list[x509.Certificate]
    private_key: PrivateKeyTypes | None

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]


def _read_frontend_certificate(path: Path, password: str | None, pool: list[x509.Certificate]) -> _FrontendCertificate:
    """``--frontend-cert``: DER/PEM (its intermediates looked up among the files) or a PFX."""
    if not path.is_file():
        raise CheckUsageError(f"--frontend-cert {path}: no such file")
    try:
        fmt = detect_format(path)
        if fmt == "pkcs12":
            contents = read_pfx(path, password)
            if contents.certificate is None:
                raise CheckUsageError(f"--frontend-cert {path}: the PFX holds no certificate")
            return _FrontendCertificate(path, contents.chain, contents.private_key)
        if fmt in _CERTIFICATE_FORMATS:
            leaf = read_certificate(path)
            return _FrontendCertificate(path, [c for c in build_chain(leaf, pool) if not _self_signed(c)] or [leaf], None)
    except WrongPasswordError as exc:
        given = "no --frontend-pfx-password was given" if password is None else "--frontend-pfx-password is wrong"
        raise CheckUsageError(f"--frontend-cert {path}: {given} ({exc.message})") from exc
    except (ArtifactError, OSError) as exc:
        raise CheckUsageError(f"--frontend-cert {path}: {exc}") from exc
    raise CheckUsageError(f"--frontend-cert {path}: {fmt} is not a certificate (give DER, PEM or a PFX)")


def _files_certificates(folder: Path | None) -> list[tuple[str, x509.Certificate]]:
    """The certificates lying in the customer's folder as .cer/PEM files, with their file names."""
    if folder is None:
        return []
    found = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        with contextlib.suppress(ArtifactError, OSError):
            if detect_format(path) in _CERTIFICATE_FORMATS:
                found.append((path.name, read_certificate(path)))
    return found


# -- certificate helpers -----------------------------------------------------------------------


def _self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject and _issued_by(certificate, certificate)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``issuer``'s name and key signed ``certificate``."""
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _anchored(presented: list[x509.Certificate], anchors: list[x509.Certificate]) -> bool:
    """PKIX as JSSE builds it: some certificate presented is an anchor or was issued by one."""
    return any(cert in anchors or any(_issued_by(cert, anchor) for anchor in anchors) for cert in presented)


def _ekus(certificate: x509.Certificate) -> list[x509.ObjectIdentifier] | None:
    """The EKU OIDs, or ``None`` without the extension (every use allowed)."""
    try:
        return list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None


def _allows(certificate: x509.Certificate, usage: x509.ObjectIdentifier) -> bool:
    ekus = _ekus(certificate)
    return ekus is None or usage in ekus or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in ekus


def _subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def _pem(certificates: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def _frontend_files(
    folder: Path, chain: list[x509.Certificate], key: PrivateKeyTypes, roots: list[x509.Certificate]
) -> tuple[Path, Path, Path]:
    """The Front End stand-in's chain, key (0600) and trusted roots as PEM files in ``folder``."""
    return (
        write_public_file(folder / "chain.pem", _pem([c for c in chain if not _self_signed(c)])),
        write_private_file(
            folder / "key.pem",
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        ),
        write_public_file(folder / "roots.pem", _pem(roots)),
    )


@dataclass(frozen=True)
class _LiveSetup:
    """What a live run presents and reads: the Front End stand-in's chain and key, and where
    the connector finds its files (``resolve``) and its JDK's trust stores (``java_home``).
    ``stand_in`` describes a lab-made Front End certificate; ``None`` for the customer's own."""

    chain: list[x509.Certificate]
    key: PrivateKeyTypes
    resolve: Callable[[str], Path]
    java_home: Path | None
    stand_in: dict[str, Any] | None = None


# -- the checks --------------------------------------------------------------------------------


class _Checker:
    """One check run: the inputs, what was loaded, the findings so far."""

    def __init__(self, options: CheckOptions) -> None:
        if not options.ucc_fqdn or not options.frontend_fqdn:
            raise CheckUsageError("--ucc-fqdn and --frontend-fqdn are both required")
        if options.files is not None and not options.files.is_dir():
            raise CheckUsageError(f"--files {options.files}: not a folder")
        if not options.args.strip():
            raise CheckUsageError("--args is empty: give the Command Line Arguments or the startup.bat line")
        self.options = options
        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.findings: list[dict[str, Any]] = []
        self.handshakes: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.pool = _files_certificates(options.files)
        parsed = parse_arguments(options.args, program=True)
        self.arguments: ConnectorArguments = parsed.arguments
        self.argument_findings = parsed.findings
        # Each argument finding's entry in ``findings``, so a consequence can be added to it.
        self.argument_entries: list[dict[str, Any]] = []
        self.mode = "tls-kerberos" if self.arguments.krb_conf_file and not self.arguments.key_store_file else "mtls"
        self.key: KeyMaterial | None = None
        self.trust: TrustMaterial | None = None
        self.frontend: _FrontendCertificate | None = None
        # The trust store as the command line names it (None: not given).
        self.trust_shown: str | None = None

    # -- findings --------------------------------------------------------------------------

    def add(
        self,
        code: str,
        message: str,
        evidence: dict[str, Any],
        *,
        severity: Severity = "error",
        fix: str | None = None,
        doc_step: str | None = None,
    ) -> None:
        """Record a finding; ``fix`` overrides the table's sentence with a more specific one."""
        found = diagnose(code, message, evidence, doc_step=doc_step)
        self.findings.append(
            {
                "code": found["code"],
                "severity": severity,
                "doc_step": found["doc_step"],
                "message": message,
                "evidence": evidence,
                "fix": fix or found["fix"],
            }
        )

    def add_finding(self, finding: Finding, evidence: dict[str, Any], *, doc_step: str | None = None) -> None:
        """Record a finding of the connector stand-in (arguments, stores)."""
        self.add(finding.code, finding.message, evidence, severity=finding.severity, fix=finding.hint or None, doc_step=doc_step)

    def has(self, *codes: str) -> bool:
        return any(f["code"] in codes for f in self.findings)

    def resolve(self, path: str) -> Path:
        """The customer's file a path of the command line names (by file name in ``--files``)."""
        if self.options.files is None:
            return Path(path)
        return self.options.files / ntpath.basename(path)

    def pool_certificates(self) -> list[x509.Certificate]:
        """Every certificate the customer gave: loose files, the PFX chain, the trust anchors, the Front End's."""
        certificates = [c for _name, c in self.pool]
        if self.key is not None:
            certificates += self.key.chain
        if self.trust is not None:
            certificates += self.trust.anchors
        if self.frontend is not None:
            certificates += self.frontend.chain
        return list(dict.fromkeys(certificates))

    def where(self, certificate: x509.Certificate) -> str:
        """Which of the customer's inputs holds ``certificate`` (for evidence)."""
        for name, cert in self.pool:
            if cert == certificate:
                return name
        if self.trust is not None and self.trust.path is not None and certificate in self.trust.anchors:
            return self.trust.path.name
        return "the PFX or the Front End's certificate file"

    # -- static ----------------------------------------------------------------------------

    def static_checks(self) -> None:
        """Arguments, the stores, the certificates and krb5.conf, as far as the files allow."""
        self.check_arguments()
        self.check_stores()
        if self.options.frontend_cert is not None:
            self.frontend = _read_frontend_certificate(
                self.options.frontend_cert, self.options.frontend_pfx_password, self.pool_certificates()
            )
        if self.key is not None and self.key.present:
            self.check_connector_certificate(self.key)
        if self.frontend is not None:
            self.check_frontend_certificate(self.frontend)
        else:
            self.notes.append("no --frontend-cert: whether the trust store trusts the Front End was not checked")
        self.check_krb5_conf()

    def check_arguments(self) -> None:
        masked = format_arguments(self.arguments, mask_passwords=True)
        for finding in self.argument_findings:
            step = f"{TLS_ARGS}, step 2" if self.mode == "tls-kerberos" else None
            self.add_finding(finding, {"option": finding.option, "arguments_read": masked}, doc_step=step)
            self.argument_entries.append(self.findings[-1])

    def check_stores(self) -> None:
        """The key store (MTLS) and the trust store, each loaded as SunJSSE loads it.

        Unlike the connector, which stops at the first store Java cannot load, both are
        loaded so that every problem is reported at once.
        """
        a = self.arguments
        if self.mode == "mtls":
            trust_file, trust_pass, trust_type, trust_option = a.key_store_file, a.key_store_pass, a.key_store_type, "-key_store_file"
            self.load_key()
        else:
            trust_file, trust_pass, trust_type, trust_option = a.cert_store_file, a.cert_store_pass, a.cert_store_type, "-cert_store_file"
        step = f"{TLS_ARGS}, step 2" if self.mode == "tls-kerberos" else None
        self.trust_shown = trust_file
        resolved = self.resolve(trust_file) if trust_file else None
        evidence = {"option": trust_option, "path": trust_file, "file": str(resolved) if resolved else None}
        try:
            self.trust = load_trust_anchors(
                resolved, trust_pass, trust_type, java_home=self.options.java_home, shown_path=trust_file
            )
        except JsseError as error:
            if resolved is not None and not resolved.is_file():
                # JSSE fell back to cacerts and opened it with this store's password: the
                # missing file is the cause, Java's error its consequence.
                self.add(
                    "truststore-missing",
                    f"trust store {trust_file} does not exist: JSSE logs 'Inaccessible trust store' and opens "
                    f"$JAVA_HOME/lib/security/cacerts instead, with this store's password: {error}",
                    {**evidence, "java": str(error)},
                    doc_step=step,
                )
            else:
                self.add_finding(error.to_finding(), {**evidence, "java": str(error)}, doc_step=step)
            return
        for finding in self.trust.findings:
            self.add_finding(finding, {**evidence, "trust_source": self.trust.source}, doc_step=step)
        if trust_file is None:
            where = self.trust.path or "no file"
            self.notes.append(f"no trust store option: JSSE trusts {self.trust.source} ({where})")

    def load_key(self) -> None:
        a = self.arguments
        resolved = self.resolve(a.cert_store_file) if a.cert_store_file else None
        evidence = {"option": "-cert_store_file", "path": a.cert_store_file, "file": str(resolved) if resolved else None}
        try:
            self.key = load_key_material(resolved, a.cert_store_pass, a.cert_store_type, shown_path=a.cert_store_file)
        except JsseError as error:
            self.add_finding(error.to_finding(), {**evidence, "java": str(error)})
            return
        # A mistyped -cert_store_file is the cause when the connector saw none: its consequence
        # belongs to that argument finding, not to a finding of its own.
        cause = next((e for e in self.argument_entries if "cert_store" in e["evidence"]["option"]), None)
        for finding in self.key.findings:
            if a.cert_store_file is None and cause is not None:
                cause["evidence"]["consequence"] = finding.message
                continue
            self.add_finding(finding, evidence)
        if self.key.present:
            self.check_key_pair(self.key, evidence)

    def check_key_pair(self, key: KeyMaterial, evidence: dict[str, Any]) -> None:
        assert key.private_key is not None
        if key.private_key.public_key() != key.chain[0].public_key():  # type: ignore[union-attr]
            self.add(
                "pfx-key-mismatch",
                f"{evidence['path']}: the private key does not belong to the certificate {_subject(key.chain[0])}",
                {**evidence, "certificate": describe_certificate(key.chain[0])},
            )

    def check_connector_certificate(self, key: KeyMaterial) -> None:
        """Validity, name, EKU and chain of the certificate the connector presents."""
        leaf = key.chain[0]
        shown = self.arguments.cert_store_file
        evidence = {"file": shown, "certificate": describe_certificate(leaf)}
        self.check_validity(leaf, "the connector's certificate", evidence)
        subject, alternative = common_names(leaf), dns_names(leaf)
        if matching_peer(subject, (self.options.ucc_fqdn,)) is None:
            # Lync matches an MTLS peer by its certificate's subject, not its SANs (the
            # Front End stand-in's rule; fakes.frontend's topology says where that is from).
            self.add(
                "cert-name-mismatch",
                f"the connector's certificate in {shown} has the subject CN {subject or 'none'}, not "
                f"{self.options.ucc_fqdn}: Lync matches its trusted peers by the subject and refuses it ('The peer "
                f"is not a configured server on this network interface')"
                + ("" if matching_peer(alternative, (self.options.ucc_fqdn,)) is None else
                   f" — the FQDN is only among its alternative names {alternative}, which Lync does not match"),
                evidence,
            )
        elif alternative and matching_peer(alternative, (self.options.ucc_fqdn,)) is None:
            self.add(
                "cert-name-mismatch",
                f"the connector's certificate in {shown} names {self.options.ucc_fqdn} in its subject but not among "
                f"its alternative names {alternative}: the Front End's presence push to {self.options.ucc_fqdn} "
                f"fails the host name check (with alternative names present, the subject is not looked at)",
                evidence,
            )
        if not _allows(leaf, ExtendedKeyUsageOID.SERVER_AUTH):
            self.add(
                "cert-eku-no-server-auth",
                f"the connector's certificate in {shown} does not allow server authentication: the Front End, "
                "as TLS client of the Secured SIP port, refuses it ('unsuitable certificate purpose') and cannot "
                "push presence",
                evidence,
            )
        self.check_chain(key.chain, evidence)

    def check_chain(self, chain: list[x509.Certificate], evidence: dict[str, Any]) -> None:
        """``pfx-chain-incomplete``: the leaf's issuer is an intermediate CA the PFX lacks."""
        leaf = chain[0]
        if _self_signed(leaf) or any(_issued_by(leaf, c) for c in chain[1:]):
            return
        issuers = [c for c in self.pool_certificates() if _issued_by(leaf, c)]
        if not issuers:
            # Most likely an intermediate: the root is what customers put in their trust
            # store and send along. A Front End trusting only the root cannot build the path.
            self.add(
                "pfx-chain-incomplete",
                f"{self.arguments.cert_store_file} holds the connector's certificate without its issuer "
                f"{leaf.issuer.rfc4514_string()}, and none of the files holds that CA either: unless the Front End "
                "trusts it as a root of its own, it cannot build the certification path (an intermediate CA it never "
                "can, as the connector sends only what the PFX holds)",
                {**evidence, "pfx_chain": [_subject(c) for c in chain], "missing_issuer": leaf.issuer.rfc4514_string()},
                severity="warning",
            )
            return
        issuer = issuers[0]
        if _self_signed(issuer):
            return
        self.add(
            "pfx-chain-incomplete",
            f"{self.arguments.cert_store_file} holds the connector's certificate without its issuing CA "
            f"{_subject(issuer)} (an intermediate, found in {self.where(issuer)}): a Front End that trusts the root "
            "cannot build the certification path",
            {**evidence, "pfx_chain": [_subject(c) for c in chain], "missing_issuer": _subject(issuer)},
        )

    def check_validity(
        self, certificate: x509.Certificate, what: str, evidence: dict[str, Any], doc_step: str | None = None
    ) -> None:
        if self.now > certificate.not_valid_after_utc:
            message = f"{what} expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
            self.add("cert-expired", message, evidence, doc_step=doc_step)
        elif self.now < certificate.not_valid_before_utc:
            message = f"{what} is valid only from {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
            self.add("cert-not-yet-valid", message, evidence, doc_step=doc_step)

    def check_frontend_certificate(self, frontend: _FrontendCertificate) -> None:
        """The Front End's certificate: validity, name, EKUs, and whether the connector trusts it."""
        leaf = frontend.leaf
        evidence = {"file": str(frontend.path), "certificate": describe_certificate(leaf)}
        self.check_validity(leaf, "the Front End's certificate", evidence, _FRONTEND_STEP)
        names = certificate_names(leaf)
        if matching_peer(names, (self.options.frontend_fqdn,)) is None:
            checked = self.options.endpoint_identification == "HTTPS"
            consequence = (
                "the connector refuses it" if checked else
                "a connector with endpoint identification (HTTPS) refuses it; a plain SSLSocket, the default, "
                "does not check the name"
            )
            self.add(
                "cert-name-mismatch",
                f"the Front End's certificate names {names}, not {self.options.frontend_fqdn}: {consequence} "
                f"(java.security.cert.CertificateException: No subject alternative DNS name matching "
                f"{self.options.frontend_fqdn} found)",
                evidence,
                severity="error" if checked else "warning",
                fix="Point the connector at the FQDN the Front End's certificate names (its pool or server FQDN).",
                doc_step=_FRONTEND_STEP,
            )
        if not _allows(leaf, ExtendedKeyUsageOID.CLIENT_AUTH):
            self.add(
                "cert-eku-no-client-auth",
                "the Front End's certificate allows server authentication only: when the Front End pushes presence "
                "to the connector's Secured port it is the TLS client, and Java refuses it (Extended key usage "
                "does not permit use for TLS client authentication)",
                evidence,
            )
        self.check_trusted(frontend)

    def check_trusted(self, frontend: _FrontendCertificate) -> None:
        """``truststore-missing-ca``: the connector's trust anchors do not anchor the Front End's chain."""
        if self.trust is None or not self.trust.anchors or self.has("truststore-missing"):
            return  # the trust store's own finding explains it
        if _anchored(frontend.chain, self.trust.anchors):
            return
        store = (self.trust_shown if self.trust.source == "explicit" else self.trust.path) or "no file"
        fallback = "" if self.trust.source == "explicit" else f" (no trust store given: JSSE falls back to {self.trust.source})"
        self.add(
            "truststore-missing-ca",
            f"{store}{fallback} does not trust the Front End: none of its {len(self.trust.anchors)} trusted "
            f"certificate(s) anchors {_subject(frontend.leaf)} issued by {frontend.leaf.issuer.rfc4514_string()}; "
            "the handshake fails with PKIX path building failed",
            {
                "trust_store": str(store),
                "trust_source": self.trust.source,
                "front_end_chain": [_subject(c) for c in frontend.chain],
                "anchors": [_subject(c) for c in self.trust.anchors[:20]],
            },
            doc_step=f"{TLS_ARGS}, step 2" if self.mode == "tls-kerberos" and self.trust.source == "explicit" else None,
        )

    def check_krb5_conf(self) -> None:
        """krb5.conf from ``-krb_conf_file`` (inside ``--files``) or ``--krb5-conf``."""
        named = self.arguments.krb_conf_file
        path: Path | None = None
        if named:
            resolved = self.resolve(named)
            if resolved.is_file():
                path = resolved
            else:
                self.add(
                    "krb-conf-missing",
                    f"-krb_conf_file {named}: no such file among the customer's files ({resolved.name}); Java "
                    "then reads no krb5.conf and cannot locate the default realm",
                    {"option": "-krb_conf_file", "path": named, "file": str(resolved)},
                )
        if self.options.krb5_conf is not None:
            if not self.options.krb5_conf.is_file():
                raise CheckUsageError(f"--krb5-conf {self.options.krb5_conf}: no such file")
            path = self.options.krb5_conf
        if path is None:
            return
        try:
            conf = read_krb5_conf(path)
        except (ArtifactError, OSError) as exc:
            raise CheckUsageError(f"krb5.conf {path}: {exc}") from exc
        self.check_krb5(conf, path)

    def check_krb5(self, conf: Krb5Conf, path: Path) -> None:
        evidence: dict[str, Any] = {"file": path.name, "libdefaults": conf.libdefaults, "realms": list(conf.realms)}
        realm = conf.libdefaults.get("default_realm")
        if not realm:
            self.add("krb-realm-unknown", f"{path.name} has no default_realm: Java says 'Cannot locate default realm'", evidence)
        elif realm not in conf.realms:
            self.add(
                "krb-realm-unknown",
                f"{path.name}: default_realm {realm} has no [realms] entry (realms: {list(conf.realms) or 'none'}): "
                "Java cannot locate its KDC",
                evidence,
            )
        elif not conf.realms[realm].get("kdc"):
            self.add("krb-realm-unknown", f"{path.name}: the [realms] entry {realm} names no kdc", evidence)
        mapped = self.frontend_realm(conf)
        if realm and mapped is not None and mapped != realm:
            self.add(
                "krb-realm-unknown",
                f"{path.name}: [domain_realm] maps {self.options.frontend_fqdn} to {mapped}, not to the "
                f"default_realm {realm}: the ticket for sip/{self.options.frontend_fqdn} is asked of the wrong realm",
                {**evidence, "domain_realm": conf.domain_realm},
            )
        weak = conf.libdefaults.get("allow_weak_crypto", "").strip().lower() in ("true", "yes")
        if weak:
            self.add(
                "krb-weak-crypto-enabled",
                f"{path.name}: allow_weak_crypto = {conf.libdefaults['allow_weak_crypto']} re-enables single DES, "
                "RC4 and 3DES",
                evidence,
                severity="warning",
            )
        for option in _ENCTYPE_OPTIONS:
            enctypes = conf.libdefaults.get(option, "").replace(",", " ").lower().split()
            if enctypes and all(e in _DES_ENCTYPES for e in enctypes) and not weak:
                self.add(
                    "krb-des-disabled",
                    f"{path.name}: {option} = {' '.join(enctypes)} lists single DES only, which Java 17 refuses "
                    f"without allow_weak_crypto: 'no supported etypes found for configuration {option}'",
                    {**evidence, option: enctypes},
                    doc_step=f"{KRB5_CONF}, step 2",
                )
                break

    def frontend_realm(self, conf: Krb5Conf) -> str | None:
        """The realm [domain_realm] gives the Front End's host: exact name, then the longest ``.domain``."""
        host = self.options.frontend_fqdn.lower().rstrip(".")
        mapping = {name.lower(): realm for name, realm in conf.domain_realm.items()}
        if host in mapping:
            return mapping[host]
        parts = host.split(".")
        return next((mapping[d] for i in range(1, len(parts)) if (d := "." + ".".join(parts[i:])) in mapping), None)

    # -- live ------------------------------------------------------------------------------

    def live_obstacle(self) -> str | None:
        """Why the files do not permit a live MTLS handshake, or ``None`` when they do."""
        if self.mode != "mtls":
            return "TLS/Kerberos command line: the login needs the customer's KDC and OCS password, so it was not run"
        if self.key is None or not self.key.present:
            return "the connector has no certificate and key Java can load: no live handshake"
        if self.trust is None:
            return "the connector's trust store does not load: no live handshake"
        if self.frontend is None:
            return "no --frontend-cert: no live handshake"
        if not self.frontend_roots():
            return "the root CA of the Front End's certificate is not among the files: no live handshake"
        return None

    def frontend_roots(self) -> list[x509.Certificate]:
        """The self-signed top of the Front End's chain, from its PFX or the customer's files."""
        assert self.frontend is not None
        chain = build_chain(self.frontend.leaf, [*self.frontend.chain[1:], *self.pool_certificates()])
        return [c for c in chain[-1:] if _self_signed(c)]

    def stand_in_setup(self, folder: Path) -> _LiveSetup | str:
        """A Front End for a certificate given without its key, or why there can be none.

        The stand-in presents a lab-made certificate for the Front End's FQDN, from a
        throwaway CA. The connector trusts it through a copy of its own trust store (the
        explicit store, or the JDK's jssecacerts/cacerts it falls back to) with that CA
        added by keytool's rules; everything else is the customer's. The stand-in still
        trusts the customer's root only, so it judges the customer's own client
        certificate and chain as their Front End would. Whether the connector trusts the
        customer's real Front End certificate is the static check's to say.
        """
        assert self.trust is not None
        if self.trust.path is None:
            return "the Front End's certificate came without its key and the connector has no trust store file to copy: no live handshake"
        ca, ca_key = make_root_ca(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _STAND_IN_CA)]), self.now)
        leaf, key = issue_certificate(
            self.options.frontend_fqdn, ca, ca_key,
            valid=(self.now - datetime.timedelta(days=1), self.now + datetime.timedelta(days=1)),
            ekus=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        option = self.arguments.key_store_file
        if self.trust.source == "explicit" and option is not None:
            copy = folder / "truststore" / self.trust.path.name
            java_home = self.options.java_home

            def resolve(path: str) -> Path:
                return copy if path == option else self.resolve(path)
        else:
            java_home = folder / "jdk"
            copy = java_home / "lib" / "security" / self.trust.path.name
            resolve = self.resolve
        copy.parent.mkdir(parents=True)
        shutil.copyfile(self.trust.path, copy)
        try:
            keytool_import(copy, alias="ucc-lab-stand-in-ca", certificate=ca, password=self.arguments.key_store_pass or CACERTS_PASSWORD)
        except ArtifactError as exc:
            return (f"the Front End's certificate came without its key, and a copy of the trust store would not take "
                    f"the stand-in's CA ({exc.message}): no live handshake")
        shown = self.trust_shown if self.trust.source == "explicit" else str(self.trust.path)
        return _LiveSetup([leaf], key, resolve, java_home, {
            "certificate": describe_certificate(leaf),
            "trusted_through": f"a copy of {shown} with the stand-in's CA {_STAND_IN_CA} added",
        })

    async def live_checks(self) -> None:
        obstacle = self.live_obstacle()
        if obstacle is not None:
            self.notes.append(obstacle)
            return
        assert self.frontend is not None
        with tempfile.TemporaryDirectory(prefix="ucclab-check-") as temp:
            if self.frontend.private_key is not None:
                setup: _LiveSetup | str = _LiveSetup(self.frontend.chain, self.frontend.private_key, self.resolve,
                                                     self.options.java_home)
            else:
                setup = self.stand_in_setup(Path(temp))
            if isinstance(setup, str):
                self.notes.append(setup)
                return
            handshakes = await self.handshakes_with(setup, Path(temp))
        for handshake in handshakes:
            if setup.stand_in is not None and handshake["direction"] == "frontend-to-connector":
                # The push presented the lab's certificate to the connector: nothing of
                # the customer's was judged, so it is not reported.
                continue
            causes = [(d["code"], d["message"]) for d in handshake["diagnoses"]]
            evidence = handshake["evidence"] if setup.stand_in is None else {**handshake["evidence"], "frontend_stand_in": setup.stand_in}
            self.record_live(handshake["direction"], handshake["outcome"] == "confirmed", causes, evidence)
        if setup.stand_in is not None:
            self.notes.append(
                "the Front End's certificate came without its key: connector → Front End ran against a stand-in "
                f"presenting a lab-made certificate for {self.options.frontend_fqdn}, trusted through "
                f"{setup.stand_in['trusted_through'].removeprefix('a ')}, and trusting your root as your Front End "
                "does; the Front End → connector push needs the Front End's own key and was not run"
            )

    async def handshakes_with(self, setup: _LiveSetup, folder: Path) -> list[dict[str, Any]]:
        """Both MTLS directions between the connector the arguments describe and a Front End
        stand-in presenting ``setup``'s certificate, judged by the replay's own rules."""
        chain, key, cas = _frontend_files(folder, setup.chain, setup.key, self.frontend_roots())
        server = FrontendServer(
            FrontendConfig(
                fqdn=self.options.frontend_fqdn,
                certificate_chain=chain,
                private_key=key,
                trusted_cas=cas,
                known_peers=(self.options.ucc_fqdn,),
                idle_timeout=_LIVE_TIMEOUT,
                # The customer's CRL distribution points are on their network, out of the
                # lab's reach: revocation is not what `check` can judge.
                check_revocation=False,
            )
        )
        app = CfgApplication(
            name=_APPLICATION,
            command_line_arguments=format_arguments(self.arguments),
            port_infos=[CfgPortInfo.with_mode("secure", free_port("127.0.0.1"), mode=ListeningMode.SECURED, conn_protocol="sip")],
        )
        connector = UCConnector.from_application(
            app,
            resolve_path=setup.resolve,
            java_home=setup.java_home,
            frontend_fqdn=self.options.frontend_fqdn,
            ucc_fqdn=self.options.ucc_fqdn,
            mode="mtls",
            endpoint_identification=self.options.endpoint_identification,  # type: ignore[arg-type]
        )
        async with server:
            # The stand-ins' admin API in this process: the same drivers and judge as a
            # replay's. The Front End's log judges connector → Front End, the connector's
            # Secured-port log the push.
            connector_host = ConnectorService.of(connector, ucc_fqdn=self.options.ucc_fqdn, bind="127.0.0.1")
            address = Address("127.0.0.1", server.port)
            stage = Stage(
                frontend=local_client(frontend_admin(server, state_dir=folder)),
                connector=local_client(connector_host.admin_service()),
                frontend_address=address, local_frontend=address, ucc_host="127.0.0.1",
                frontend_fqdn=self.options.frontend_fqdn, ucc_fqdn=self.options.ucc_fqdn,
                files=self.options.files or Path.cwd(),
            )
            try:
                return await mtls_handshakes(stage, Setup(app, connector, []))
            finally:
                await connector_host.close()

    def record_live(self, direction: str, confirmed: bool, causes: list[tuple[str, str]], evidence: dict[str, Any]) -> None:
        """Keep the handshake's result; fold each cause into the static finding naming it (a
        warning becomes an error once a refused handshake shows it), or add one."""
        codes = []
        for raw_code, message in causes:
            code = diagnose(raw_code, message)["code"]
            if code == "cert-untrusted-ca" and self.has("pfx-chain-incomplete"):
                code = "pfx-chain-incomplete"
            codes.append(code)
            wanted = (code, *_EXPLAINED_BY.get(code, ()))
            existing = next((f for f in self.findings if f["code"] in wanted), None)
            if existing is not None:
                existing["evidence"].setdefault("live", []).append({"direction": direction, "seen": message})
                if not confirmed:
                    existing["severity"] = "error"  # a warning the live handshake proves is an error
            else:
                self.add(code, f"live handshake ({direction}): {message}", {"direction": direction, **evidence})
        self.handshakes.append(
            {"direction": direction, "outcome": "confirmed" if confirmed else "rejected", "codes": codes, "evidence": evidence}
        )
