"""``ucclab progress``: the page's steps as a checklist read from a running lab, and its handshakes.

A trainee works through the page by hand (certsrv in a browser, ``ucclab host`` for the
Windows steps, keytool, the Configuration Server); :func:`read_progress` says for every
numbered step whether it is ``done``, ``todo`` or ``wrong`` — with the diagnosis (code, why,
fix) — and how the last exchanges between the connector, the Front End and the KDC went.

Rule 1 — it never changes the lab. It reads the lab's state through its admin API (the
CA's description, the domain's accounts, the Application object, the stand-ins' evidence),
the hosts' certificate stores and the files in the lab folder. No request is sent to a
protocol port, nothing is written.

Rule 2 — each step is recognised from state alone, by the rule printed beside it (see
:data:`RULES`): a file that is there and reads as what the step makes (the CA's
certificate, a PFX that opens with its password and holds the key and the chain, a trust
store holding the CA), a certificate in a host's store, an account option, the
Application's port, options and arguments (checked by ``ucclab check``'s static checks,
:func:`harness.check.run_check`, which read them as the Java connector does), the
evidence of the pages a browser fetched from certsrv. A step that leaves nothing behind
(opening MMC, clicking OK) is done when the step of its procedure that does leave
something is done: the trainee went through it.

Rule 3 — the page offers three ways to the connector's PFX (the Management Shell, MMC or
certsrv, the Front End's own certificate). The checklist shows the way the lab's state
shows was taken (the store the PFX's certificate came from), the Management Shell when
none was yet.

Rule 4 — the handshakes are the last ones the stand-ins' evidence shows, judged as a
replay judges them (:mod:`harness.handshakes`): only what the server side logged counts.
Connector → Front End: the Front End's log shows the connector's certificate, the peer
accepted, REGISTER answered 200. Front End → connector: the connector's Secured port
logged the Front End's certificate and answered its push 200. TLS/Kerberos: the KDC
issued the OCS user a TGT and a ticket for ``sip/<Front End>``, the Front End
authenticated that principal and answered REGISTER 200 (and the connector, when it was
the lab's, verified the answer). A handshake not seen yet is ``not-seen``.
"""

from __future__ import annotations

import json
import ntpath
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fakes.configserver import CfgApplication

from .admin import AdminClient
from .artifacts import (
    ArtifactError,
    WrongPasswordError,
    detect_format,
    read_certificate,
    read_keystore,
    read_krb5_conf,
    read_pfx,
)
from .check import CheckOptions, CheckUsageError, run_check
from .connector import UCConnector, format_arguments, parse_arguments
from .connector.connector import PortFinding
from .diagnosis import DIAGNOSES, code_for_text, diagnose
from .handshakes import Setup
from .judge import (
    LOGIN_STEP,
    judge_login,
    judge_push,
    judge_register,
    not_confirmed,
    push_diagnoses,
    why_frontend_refused,
)
from .hosts import COMPUTER, PERSONAL, USER, StoredCertificate
from .lab import LabBase, LabError
from .manifest import Manifest
from .procedures import PROCEDURES, Procedure

__all__ = ["StepProgress", "Progress", "read_progress", "RULES", "STATUSES"]

STATUSES = ("done", "todo", "wrong")
#: How many of each stand-in's latest evidence records are read for the handshakes.
EVIDENCE_WINDOW = 2000
# The page's example passwords, tried on files whose password nothing else names: the
# export wizard's "mnopqr" and startup.bat's "genesys" (the lab's keytool password).
_PAGE_PASSWORDS = ("mnopqr", "genesys")
# Seconds between a connector's record and the Front End's connection it stands for.
_MATCH_WINDOW = 30.0


@dataclass
class StepProgress:
    """One numbered step: ``status`` (done, todo, wrong), the diagnosis when wrong, the rule
    it was judged by and a note."""

    heading: str
    step: str
    name: str
    status: str
    rule: str
    diagnosis: dict[str, Any] | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"heading": self.heading, "step": self.step, "name": self.name, "status": self.status,
                "diagnosis": self.diagnosis, "rule": self.rule, "note": self.note}


@dataclass
class Progress:
    """The checklist and the handshakes; ``pfx_source`` is the way to the PFX shown."""

    steps: list[StepProgress]
    handshakes: list[dict[str, Any]]
    pfx_source: str

    @property
    def exit_code(self) -> int:
        """0 when every step is done and every handshake confirmed, else 1."""
        done = all(s.status == "done" for s in self.steps)
        return 0 if done and all(h["status"] == "confirmed" for h in self.handshakes) else 1

    def to_json(self) -> dict[str, Any]:
        return {"steps": [s.to_json() for s in self.steps], "handshakes": self.handshakes, "pfx_source": self.pfx_source}


@dataclass
class Verdict:
    status: str
    diagnosis: dict[str, Any] | None = None
    note: str | None = None


def _wrong(code: str, why: str, *, fix: str | None = None, doc_step: str | None = None) -> Verdict:
    found = diagnose(code, why, doc_step=doc_step)
    return Verdict("wrong", {"code": code, "why": why, "fix": fix or found["fix"], "doc_step": found["doc_step"]})


def _from_finding(finding: dict[str, Any]) -> Verdict:
    return Verdict("wrong", {"code": finding["code"], "why": finding["message"], "fix": finding.get("fix"),
                             "doc_step": finding.get("doc_step")})


DONE, TODO = Verdict("done"), Verdict("todo")


# -- what the lab holds ------------------------------------------------------------------------


@dataclass
class OpenedFile:
    """A file found in the lab folder and what it holds (``password`` the one that opened it)."""

    path: Path
    shown: str  # where the trainee put it: "ucc01 etc\\X" or "fe01 C:\\..."
    password: str | None = None
    pfx: Any = None  # PfxContents
    anchors: list[x509.Certificate] = field(default_factory=list)
    certificate: x509.Certificate | None = None
    error: str | None = None
    locked: bool = False  # no known password opens it


@dataclass
class State:
    """Everything :func:`read_progress` reads, once (Rule 1)."""

    lab: LabBase
    app: CfgApplication | None
    accounts: dict[str, dict[str, Any]]
    manifest: Manifest
    java_home: Path | None
    certsrv: list[dict[str, Any]]
    frontend: list[dict[str, Any]]
    connector: list[dict[str, Any]]
    kdc: list[dict[str, Any]]

    @property
    def t(self) -> Any:
        return self.lab.topology

    @property
    def authority(self) -> Any:
        assert self.lab.authority is not None
        return self.lab.authority

    def store(self, role: str, name: str, location: str = COMPUTER) -> list[StoredCertificate]:
        return self.lab.host(role).store(name, location).certificates()

    def artifact_files(self) -> list[Path]:
        folder = self.lab.artifacts_dir
        return sorted(p for p in folder.iterdir() if p.is_file() and p.name != "manifest.json") if folder.is_dir() else []

    def host_files(self, host: str) -> list[Path]:
        folder = self.lab.workdir / "hosts-fs" / host
        return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []

    def shown(self, path: Path) -> str:
        """A lab file as the trainee named it on its Windows host."""
        try:
            relative = path.relative_to(self.lab.workdir / "hosts-fs")
        except ValueError:
            return f"{self.lab.windows_path(path.name)} on {self.t.ucc_host}"
        host, drive, *rest = relative.parts
        return f"{drive}:\\{ntpath.join(*rest) if rest else ''} on {host}"


async def _records(client: AdminClient) -> list[dict[str, Any]]:
    """The latest evidence records of one stand-in (at most :data:`EVIDENCE_WINDOW`)."""
    cursor = await client.cursor()
    return await client.since(max(0, cursor - EVIDENCE_WINDOW))


async def _read_state(lab: LabBase) -> State:
    async with lab.configserver_client() as cfg:
        app = await cfg.find_application(lab.topology.application_name)
    assert lab.domain is not None
    java_home = lab.java_home
    config = lab.hosts_dir / f"{lab.host_name('ucc')}.json"
    try:
        named = json.loads(config.read_text())["services"]["connector"].get("java_home")
        java_home = Path(named) if named else java_home
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no host config here (a lab made elsewhere): this machine's JDK
    return State(
        lab=lab, app=app, accounts=await lab.domain.accounts(), manifest=Manifest(lab.artifacts_dir),
        java_home=java_home,
        certsrv=[r for r in await _records(lab.admin["ca"]) if r["type"] == "http-request"],
        frontend=await _records(lab.admin["frontend"]), connector=await _records(lab.admin["connector"]),
        kdc=await _records(lab.admin["kdc"]),
    )


# -- what the state holds, analysed once ----------------------------------------------------------


def _names(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        found = []
    return found + [str(a.value).lower() for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _server_auth(certificate: x509.Certificate) -> bool:
    try:
        ekus = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.SERVER_AUTH in ekus or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in ekus


class Analysis:
    """The state read as the page's results: the CA certificate file, the connector's PFX,
    the trust store, krb5.conf, the Command Line Arguments of each path."""

    def __init__(self, state: State) -> None:
        self.s = state
        t = state.t
        authority = state.authority
        self.ca_certificates = {authority.certificate, authority.root_certificate}
        self.passwords = self._passwords()
        self.mtls_args, self.mtls_source = self._mtls_arguments()
        self.tls_args = self._tls_arguments()
        self.ca_file = self._certificate_file("ca-certificate", exclude=None)
        self.trusted_file = self._trusted_file()
        self.pfx = self._connector_pfx()
        self.truststore = self._truststore()
        self.fe_domain = [e for e in state.store("frontend", PERSONAL) if t.frontend_fqdn.lower() in _names(e.certificate)]
        self.shell_certs = [e for e in state.store("frontend", PERSONAL)
                            if e.has_private_key and t.frontend_fqdn.lower() not in _names(e.certificate)]
        self.web_certs = [e for location in (USER, COMPUTER) for e in state.store("ucc", PERSONAL, location)
                          if e.has_private_key]
        self.pfx_source = self._pfx_source()
        self.connector = self._connector()

    # -- passwords and arguments
    def _passwords(self) -> list[str]:
        """Passwords to try on the files: the arguments', the manifest's, the page's examples
        (and none, for a file written without one)."""
        found: list[str] = []
        for text in (self.s.app.command_line_arguments if self.s.app else "", self.startup_bat_line() or ""):
            args = parse_arguments(text, program=True).arguments
            found += [p for p in (args.cert_store_pass, args.key_store_pass) if p]
        found += [e.password for e in self.s.manifest.entries.values() if e.password]
        found += list(_PAGE_PASSWORDS)
        return list(dict.fromkeys(found))

    def startup_bat_line(self) -> str | None:
        """The connector's command line in startup.bat (the manifest's, else one named so)."""
        path = self.s.manifest.file("startup-bat") or self.s.lab.artifacts_dir / "startup.bat"
        try:
            text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        except OSError:
            return None
        return next((line.strip() for line in text.splitlines() if "-cert_store" in line or "-key_store" in line), None)

    def _mtls_arguments(self) -> tuple[str | None, str | None]:
        """The MTLS set: the Application's arguments when they are MTLS ones, else startup.bat's
        (a replay of both paths, and the page, leave the TLS set on the Application)."""
        app_args = self.s.app.command_line_arguments if self.s.app else ""
        if arguments_path(app_args, program=True) == "mtls":
            return app_args, "the Application's Command Line Arguments"
        line = self.startup_bat_line()
        if line and arguments_path(line, program=True) == "mtls":
            return line, "startup.bat"
        return None, None

    def _tls_arguments(self) -> str | None:
        app_args = self.s.app.command_line_arguments if self.s.app else ""
        return app_args if arguments_path(app_args, program=True) == "tls-kerberos" else None

    # -- files
    def _certificate_file(self, role: str, *, exclude: Path | None) -> OpenedFile | None:
        """A certificate file in the connector's etc holding the CA's certificate: the
        manifest's for ``role`` first, then any other."""
        candidates = [p for p in [self.s.manifest.file(role)] if p is not None] + self.s.artifact_files()
        for path in dict.fromkeys(candidates):
            if path == exclude or not path.is_file():
                continue
            try:
                if detect_format(path) not in ("der-certificate", "pem-certificate"):
                    continue
                certificate = read_certificate(path)
            except (ArtifactError, OSError):
                continue
            if certificate in self.ca_certificates:
                return OpenedFile(path, self.s.shown(path), certificate=certificate)
        return None

    def _trusted_file(self) -> OpenedFile | None:
        """The root exported from the Front End's Trusted Roots: the manifest's, a file on fe01,
        or a certificate file in the connector's etc other than the client certificate's."""
        root = self.s.authority.root_certificate
        on_fe = self.s.host_files(self.s.t.frontend_host)
        listed = self.s.manifest.file("lync-trusted-certificate")
        candidates = ([listed] if listed is not None else []) + on_fe + self.s.artifact_files()
        for path in dict.fromkeys(candidates):
            if self.ca_file is not None and path == self.ca_file.path and path != listed:
                continue
            try:
                if path.is_file() and detect_format(path) in ("der-certificate", "pem-certificate") \
                        and read_certificate(path) == root:
                    return OpenedFile(path, self.s.shown(path), certificate=root)
            except (ArtifactError, OSError):
                continue
        return None

    def _open(self, path: Path, kind: str) -> OpenedFile:
        """Open a PFX (``kind`` pfx) or key store (``store``) with the passwords the lab knows."""
        opened = OpenedFile(path, self.s.shown(path))
        for password in [*self.passwords, None]:
            try:
                if kind == "pfx":
                    opened.pfx = read_pfx(path, password)
                else:
                    opened.anchors = read_keystore(path, password, detect_format(path)).trust_anchors
                    # Without a password Java reads a JKS's trusted certificates but nothing
                    # of a PKCS12 store's (they are encrypted): that one is still locked.
                    opened.locked = password is None and not opened.anchors
                opened.password = password
                return opened
            except WrongPasswordError:
                continue
            except (ArtifactError, OSError) as exc:
                opened.error = str(exc)
                return opened
        opened.locked = True
        return opened

    def _connector_pfx(self) -> OpenedFile | None:
        """The connector's PFX: the one its MTLS arguments name, the manifest's, or a PFX with
        a key for the connector's host in its etc folder or on the Front End (exported,
        not moved yet)."""
        t = self.s.t
        named = []
        if self.mtls_args:
            args = parse_arguments(self.mtls_args, program=True).arguments
            if args.cert_store_file:
                named.append(self.s.lab.resolve_windows_path(args.cert_store_file))
        listed = self.s.manifest.file("ucc-pfx")
        candidates = named + ([listed] if listed else []) + self.s.artifact_files() + self.s.host_files(t.frontend_host)
        locked: OpenedFile | None = None
        for path in dict.fromkeys(candidates):
            try:
                if not path.is_file() or detect_format(path) != "pkcs12":
                    continue
            except (ArtifactError, OSError):
                continue
            opened = self._open(path, "pfx")
            if opened.pfx is not None and opened.pfx.private_key is not None and opened.pfx.certificate is not None:
                return opened
            if path in named or path == listed:
                return opened  # the one the connector or the manifest names, whatever it holds
            if opened.locked and locked is None:
                locked = opened
        return locked

    def _truststore(self) -> OpenedFile | None:
        """The trust store keytool made: the one the arguments name, the manifest's, or a key
        store in the connector's etc folder."""
        named = []
        for text, option in ((self.mtls_args, "key_store_file"), (self.tls_args, "cert_store_file")):
            if text:
                value = getattr(parse_arguments(text, program=True).arguments, option)
                if value:
                    named.append(self.s.lab.resolve_windows_path(value))
        listed = self.s.manifest.file("truststore")
        locked: OpenedFile | None = None
        for path in dict.fromkeys(named + ([listed] if listed else []) + self.s.artifact_files()):
            try:
                if not path.is_file() or detect_format(path) not in ("jks", "pkcs12"):
                    continue
            except (ArtifactError, OSError):
                continue
            opened = self._open(path, "store")
            if opened.anchors or path in named or path == listed:
                return opened
            if opened.locked and locked is None:
                locked = opened
        return locked

    def _connector(self) -> UCConnector | None:
        """The connector as its MTLS arguments (or else the Application's) configure it now:
        its Secured port, and the PFX chain the handshakes' judge looks at."""
        app = self.s.app
        if app is None:
            return None
        text = format_arguments(parse_arguments(self.mtls_args or app.command_line_arguments, program=True).arguments)
        view = CfgApplication(name=app.name, port_infos=app.port_infos, command_line_arguments=text)
        return UCConnector.from_application(view, resolve_path=self.s.lab.resolve_windows_path, java_home=self.s.java_home,
                                            frontend_fqdn=self.s.t.frontend_fqdn, ucc_fqdn=self.s.t.ucc_fqdn, mode="mtls")

    def _pfx_source(self) -> str:
        """Which of the page's three ways the connector's PFX took (Rule 3)."""
        leaf = self.pfx.pfx.certificate if self.pfx is not None and self.pfx.pfx is not None else None
        if leaf is not None:
            if any(e.certificate == leaf for e in self.fe_domain):
                return "frontend"
            if any(e.certificate == leaf for e in self.shell_certs):
                return "shell"
            return "web"
        if self.shell_certs:
            return "shell"
        if self.web_certs:
            return "web"
        keys = [e.certificate.public_key() for e in self.fe_domain]
        if any(keys.count(k) > 1 for k in keys):
            return "frontend"
        return "shell"


def arguments_path(arguments: str, *, program: bool = False) -> str | None:
    """Which path's set ``arguments`` hold: ``mtls``, ``tls-kerberos`` or None (neither)."""
    parsed = parse_arguments(arguments, program=program)
    a = parsed.arguments
    if a.krb_conf_file and not a.key_store_file:
        return "tls-kerberos"
    typo = any(f.code in ("arg-malformed", "arg-unknown") and ("store" in (f.option or "")) for f in parsed.findings)
    if a.cert_store_file or a.key_store_file or a.cert_store_pass or typo:
        return "mtls"
    return None


async def configured_path(lab: LabBase) -> str | None:
    """The path the Application's Command Line Arguments are set for now (``mtls`` or
    ``tls-kerberos``; the page's two sets take turns on one Application), or None.

    :class:`LabError` when the Configuration Server holds no such Application."""
    name = lab.topology.application_name
    async with lab.configserver_client() as cfg:
        app = await cfg.find_application(name)
    if app is None:
        raise LabError(f"the Configuration Server holds no Application named {name!r}, so there is no connector to "
                       "start (`ucclab replay --attach` creates it as the deployment guide has it)")
    return arguments_path(app.command_line_arguments, program=True)


# -- the rules ----------------------------------------------------------------------------------

Rule = Callable[["Judge"], Verdict]


@dataclass(frozen=True)
class StepRule:
    text: str
    check: Rule | None = None  # None: implied by ``after`` (a later step of the procedure)
    after: str | None = None


#: How each step is recognised as done (Rule 2), by step id (``procedure.function``).
RULES: dict[str, StepRule] = {}


def rule(step_id: str, text: str) -> Callable[[Rule], Rule]:
    def register(check: Rule) -> Rule:
        RULES[step_id] = StepRule(text, check)
        return check
    return register


def implied(step_id: str, by: str, text: str | None = None) -> None:
    RULES[step_id] = StepRule(text or f"done once {by.split('.')[-1].replace('_', ' ')} is done", after=by)


class Judge:
    """Applies :data:`RULES` to one :class:`State`."""

    def __init__(self, state: State) -> None:
        self.s = state
        self.a = Analysis(state)
        self._checks: dict[str, list[dict[str, Any]]] = {}
        self.results: dict[str, Verdict] = {}

    def fetched(self, page: str) -> bool:
        """certsrv served ``page`` (200) to someone: the trainee's browser."""
        return any(r.get("status") == 200 and page in (r.get("path") or "").lower() for r in self.s.certsrv)

    async def prepare(self) -> None:
        """The static checks of ``ucclab check`` on each set of arguments there is (no
        frontend certificate given, so no live handshake: Rule 1)."""
        for key, text in (("mtls", self.a.mtls_args), ("tls", self.a.tls_args)):
            if not text:
                continue
            try:
                result = await run_check(CheckOptions(
                    args=text, files=self.s.lab.artifacts_dir, ucc_fqdn=self.s.t.ucc_fqdn,
                    frontend_fqdn=self.s.t.frontend_fqdn, java_home=self.s.java_home))
            except CheckUsageError as exc:
                self._checks[key] = [{"code": "arg-malformed", "severity": "error", "message": str(exc), "fix": None,
                                      "doc_step": None}]
                continue
            self._checks[key] = result.findings

    def findings(self, key: str) -> list[dict[str, Any]]:
        return self._checks.get(key, [])

    def verdict(self, step_id: str) -> Verdict:
        if step_id not in self.results:
            spec = RULES[step_id]
            if spec.check is not None:
                self.results[step_id] = spec.check(self)
            else:
                assert spec.after is not None
                later = self.verdict(spec.after)
                self.results[step_id] = DONE if later.status != "todo" else TODO
        return self.results[step_id]


# Generating the Client Certificate
@rule("client_certificate.save_ca_certificate",
      "the CA's certificate saved as a file in the connector's etc folder (C:\\GCTI\\UCConnector\\<app>\\etc)")
def _save_ca(j: Judge) -> Verdict:
    found = j.a.ca_file
    if found is None:
        return TODO
    note = None if detect_format(found.path) == "der-certificate" else f"{found.path.name} is Base-64; the page says DER"
    return Verdict("done", note=note)


def _certsrv_page(page: str, text: str, step_id: str) -> None:
    def check(j: Judge) -> Verdict:
        return DONE if j.fetched(page) or j.verdict("client_certificate.save_ca_certificate").status == "done" else TODO
    RULES[step_id] = StepRule(text, check)


_certsrv_page("/certsrv", "certsrv's welcome page served (its evidence), or step 4 done", "client_certificate.open_certsrv")
_certsrv_page("certcarc.asp", "certcarc.asp served, or step 4 done", "client_certificate.select_download_ca_certificate")
_certsrv_page("reqid=cacert", "the CA certificate downloaded from certnew.cer, or step 4 done",
              "client_certificate.download_ca_certificate")


# Generating the Server Certificate Using Skype for Business Management Shell
@rule("shell.request_cs_certificate",
      "a certificate for the UC Connector's FQDN, with its key, in fe01's Local Computer\\Personal besides its own")
def _shell_request(j: Judge) -> Verdict:
    t = j.s.t
    certs = j.a.shell_certs
    if not certs:
        return TODO
    right = [e for e in certs if t.ucc_fqdn.lower() in _names(e.certificate)]
    if not right:
        e = certs[-1]
        return _wrong("cert-name-mismatch", f"the certificate requested on {t.frontend_host} names {_names(e.certificate)}, "
                      f"not {t.ucc_fqdn} (-ComputerFQDN; the page's '[server_name]-Verbose' glues -Verbose to it)")
    if not any(e.key_exportable for e in right) and j.verdict("shell.export_pfx").status != "done":
        return _wrong("key-not-exportable", "the key was made not exportable (no -PrivateKeyExportable $true), so step 5 "
                      "cannot export it", fix="Run Request-CsCertificate again with -PrivateKeyExportable $true (the "
                      "page's command omits it).")
    return DONE


def _pfx_rule(j: Judge, *, wanted: Callable[[x509.Certificate], bool], source: str) -> Verdict:
    """A PFX of the way's certificate, with its key and chain, readable with its password."""
    pfx = j.a.pfx
    if pfx is None or j.a.pfx_source != source:
        return TODO
    if pfx.error:
        return _wrong("pfx-unreadable", f"{pfx.shown}: {pfx.error}")
    if pfx.locked:
        return Verdict("done", note=f"{pfx.shown} is there; no password the lab knows opens it yet (the arguments' "
                       "-cert_store_pass is checked at 'Modifying Command Line Arguments for MTLS')")
    contents = pfx.pfx
    if contents.private_key is None:
        return _wrong("pfx-no-private-key", f"{pfx.shown} holds no private key")
    if not contents.key_encrypted:
        return _wrong("pfx-unencrypted", f"{pfx.shown} was written without a password: Java ignores its key")
    leaf = contents.certificate
    if not wanted(leaf):
        return _wrong("cert-name-mismatch", f"{pfx.shown} holds a certificate for {_names(leaf)}")
    authority = j.s.authority
    chain = contents.chain
    if authority.two_tier and not any(c.subject == leaf.issuer for c in chain[1:]):
        return _wrong("pfx-chain-incomplete", f"{pfx.shown} lacks the issuing CA {leaf.issuer.rfc4514_string()}: "
                      "the Front End trusts the root only")
    note = None
    if len(chain) == 1 and leaf.issuer != leaf.subject:
        note = f"{pfx.shown} holds no chain ('Include all certificates in the certification path' unchecked); with a " \
               "one-tier CA the Front End still builds the path"
    return Verdict("done", note=note)


@rule("shell.export_pfx", "a PFX of that certificate with its key and chain, readable with its password")
def _shell_export(j: Judge) -> Verdict:
    return _pfx_rule(j, wanted=lambda c: j.s.t.ucc_fqdn.lower() in _names(c), source="shell")


for _step in ("open_mmc", "add_certificates_snapin", "find_certificate"):
    implied(f"shell.{_step}", "shell.export_pfx")
implied("shell.export_successful", "shell.export_pfx")


# Generating the Server Certificate using MMC or CA Web Access
@rule("web.create_and_submit_request",
      "a certificate for the UC Connector's FQDN from the lab's CA, in ucc01's stores or in the connector's PFX")
def _web_request(j: Judge) -> Verdict:
    t = j.s.t
    leaf = j.a.pfx.pfx.certificate if j.a.pfx is not None and j.a.pfx.pfx is not None else None
    candidates = [(e.certificate, e.key_exportable) for e in j.a.web_certs]
    if leaf is not None and j.a.pfx_source == "web":
        candidates.append((leaf, True))
    if not candidates:
        return TODO
    certificate, exportable = candidates[-1]
    if t.ucc_fqdn.lower() not in _names(certificate):
        return _wrong("cert-name-mismatch", f"the certificate names {_names(certificate)}, not {t.ucc_fqdn}",
                      doc_step="Generating the Server Certificate using Microsoft Management Console or CA Web Access, step 4")
    if not _server_auth(certificate):
        return _wrong("cert-eku-no-server-auth", "the certificate's template gives no Server Authentication (the "
                      "Front End pushes to the connector as a TLS client)")
    if not exportable and j.verdict("web.export_pfx").status != "done":
        return _wrong("key-not-exportable", "the key was not marked exportable", fix="Request again with the copy "
                      "of Web Server that allows exporting the key and 'Mark keys as exportable'.")
    return DONE


@rule("web.export_pfx", "the connector's PFX in its etc folder: that certificate with its key and chain")
def _web_export(j: Judge) -> Verdict:
    return _pfx_rule(j, wanted=lambda c: j.s.t.ucc_fqdn.lower() in _names(c), source="web")


implied("web.copy_web_server_template", "web.create_and_submit_request",
        "the copy of Web Server allowing key export is published (the lab's CA has it); done with step 4")
for _page, _step in (("/certsrv", "open_certsrv"), ("certrqus.asp", "request_a_certificate"),
                     ("certrqxt.asp", "advanced_certificate_request")):
    def _web_page(j: Judge, page: str = _page) -> Verdict:
        return DONE if j.fetched(page) or j.verdict("web.create_and_submit_request").status != "todo" else TODO
    RULES[f"web.{_step}"] = StepRule(f"{_page} served by certsrv, or step 4 done", _web_page)


# Generating the Front End Server Certificate
@rule("frontend_certificate.request_new_certificate_with_same_key",
      "fe01's domain certificate renewed with the same key (two certificates for fe01, one key)")
def _frontend_renew(j: Judge) -> Verdict:
    keys = [e.certificate.public_key() for e in j.a.fe_domain]
    return DONE if any(keys.count(k) > 1 for k in keys) else TODO


@rule("frontend_certificate.export_pfx", "a PFX of fe01's certificate with its key and chain")
def _frontend_export(j: Judge) -> Verdict:
    return _pfx_rule(j, wanted=lambda c: j.s.t.frontend_fqdn.lower() in _names(c), source="frontend")


implied("frontend_certificate.open_mmc", "frontend_certificate.request_new_certificate_with_same_key")
implied("frontend_certificate.add_certificates_snapin", "frontend_certificate.request_new_certificate_with_same_key")
implied("frontend_certificate.export_successful", "frontend_certificate.export_pfx")


# Modifying Command Line Arguments for MTLS
def _arguments_rule(j: Judge, key: str, present: str | None) -> Verdict:
    if not present:
        return TODO
    findings = j.findings(key)
    errors = [f for f in findings if f["severity"] == "error"]
    if errors:
        return _from_finding(errors[0])
    warnings = [f"{f['code']}: {f['message']}" for f in findings if f["severity"] == "warning"]
    return Verdict("done", note="; ".join(warnings) or None)


@rule("mtls_command_line.add_parameters",
      "the Application's arguments (or startup.bat's) name the PFX and the trust store, which load as Java loads them")
def _mtls_parameters(j: Judge) -> Verdict:
    verdict = _arguments_rule(j, "mtls", j.a.mtls_args)
    if verdict.status == "done" and j.a.mtls_source == "startup.bat":
        verdict.note = ((verdict.note + "; ") if verdict.note else "") + \
            "read from startup.bat: the Application's arguments hold the TLS set now"
    return verdict


@rule("mtls_command_line.modify_startup_bat", "startup.bat in the connector's etc folder holds the MTLS options")
def _startup_bat(j: Judge) -> Verdict:
    line = j.a.startup_bat_line()
    return DONE if line and "-cert_store_file" in line else TODO


implied("mtls_command_line.open_command_line_arguments", "mtls_command_line.add_parameters")
implied("mtls_command_line.save_arguments", "mtls_command_line.add_parameters")


# Configuring Kerberos Security in Active Directory
def _ocs_user(j: Judge) -> str:
    """The OCS user the connector logs in as: [Microsoft-OCS] user, else the page's ocs-ucc."""
    options = j.s.app.options.get("Microsoft-OCS", {}) if j.s.app else {}
    return (options.get("user") or j.s.t.ucc_account).split("@")[0]


@rule("kerberos_ad.select_account_options",
      "the OCS user's DES option cleared (the lab's advice: RFC 6649) and the account usable; done once its "
      "password is configured")
def _account_options(j: Judge) -> Verdict:
    account = j.s.accounts.get(j.s.t.ucc_account.lower())
    if account is None:
        return _wrong("krb-principal-unknown", f"Active Directory has no user {j.s.t.ucc_account}")
    if _ocs_user(j).lower() in j.s.accounts:
        account = j.s.accounts[_ocs_user(j).lower()]
    if account.get("use_des_key_only"):
        return _wrong("krb-des-disabled", f"{account['sam_account_name']} has 'Use Kerberos DES encryption for this "
                      "account': single-DES keys only, refused by modern Kerberos")
    states = [why for flag, why in (("locked_out", "locked out"),) if account.get(flag)]
    if account.get("enabled") is False:
        states.append("disabled")
    expires = account.get("account_expires")
    if expires:
        moment = datetime.fromisoformat(str(expires))  # accountExpires: UTC unless it says otherwise
        if (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) < datetime.now(UTC):
            states.append(f"expired ({expires})")
    if states:
        return _wrong("krb-account-revoked", f"{account['sam_account_name']} is {' and '.join(states)}")
    if account.get("must_change_password") or account.get("password_expired"):
        return _wrong("krb-password-expired", f"{account['sam_account_name']}'s password must be changed before it "
                      "can log in")
    return DONE if j.verdict("kerberos_password.set_password_option").status != "todo" else TODO


implied("kerberos_ad.open_user_properties", "kerberos_ad.select_account_options")
implied("kerberos_ad.locate_ocs_user", "kerberos_ad.select_account_options")


# Creating a Password for Kerberos Security
@rule("kerberos_password.set_password_option",
      "[Microsoft-OCS] password set on the Application; wrong while the OCS user's last login failed pre-authentication")
def _password_option(j: Judge) -> Verdict:
    options = j.s.app.options if j.s.app else {}
    ocs = options.get("Microsoft-OCS", {})
    if not ocs.get("password"):
        elsewhere = [section for section, values in options.items() if section != "Microsoft-OCS" and "password" in values]
        if elsewhere:
            return _wrong("ocs-password-missing", f"the password is in section [{elsewhere[0]}], not [Microsoft-OCS]")
        return TODO
    user = _ocs_user(j)
    if user.lower() not in j.s.accounts:
        return _wrong("krb-principal-unknown", f"[Microsoft-OCS] user {user!r} is no account of the domain")
    principal = f"{user}@{j.s.t.realm}".lower()
    logins = [r for r in j.s.kdc if r.get("type") == "AS-REQ" and (r.get("client") or "").lower() == principal
              and r.get("error_code") in (None, 24)]
    if logins and logins[-1].get("error_code") == 24:
        return _wrong("krb-preauth-failed", f"the last login of {principal} at the KDC failed pre-authentication: the "
                      "password is not the account's (re-run the login once corrected)")
    return DONE


implied("kerberos_password.open_application", "kerberos_password.set_password_option")
implied("kerberos_password.open_options_tab", "kerberos_password.set_password_option")


# Exporting the Trusted Certificate from the Lync Skype for Business Host
@rule("trusted_certificate.name_certificate_file",
      "the root that issued the Front End's certificate exported as a file (on fe01, or copied to the connector's etc)")
def _trusted_file(j: Judge) -> Verdict:
    return DONE if j.a.trusted_file is not None else TODO


for _step in ("open_internet_explorer", "open_trusted_roots", "select_certificate", "choose_export_format"):
    implied(f"trusted_certificate.{_step}", "trusted_certificate.name_certificate_file")


# Adding the Certificate to the UC Connector Installation
@rule("truststore.keytool_import_certificate",
      "a key store in the connector's etc folder trusting the CA that issued the Front End's certificate")
def _truststore(j: Judge) -> Verdict:
    store = j.a.truststore
    if store is None:
        return TODO
    if store.error:
        return _wrong("truststore-unreadable", f"{store.shown}: {store.error}")
    if store.locked:
        return Verdict("done", note=f"{store.shown} is there; no password the lab knows opens it yet (the arguments' "
                       "password is checked with them)")
    if not store.anchors:
        return _wrong("truststore-empty", f"{store.shown} holds no trusted certificate")
    if not j.a.ca_certificates & set(store.anchors):
        return _wrong("truststore-missing-ca", f"{store.shown} trusts {[c.subject.rfc4514_string() for c in store.anchors]}, "
                      "not the CA that issued the Front End's certificate")
    return DONE


@rule("truststore.copy_certificate", "the exported certificate is on the UC Connector host (its etc folder), or step 3 done")
def _copy_certificate(j: Judge) -> Verdict:
    if j.verdict("truststore.keytool_import_certificate").status != "todo":
        return DONE
    files = [f for f in (j.a.trusted_file, j.a.ca_file) if f is not None and f.path.parent == j.s.lab.artifacts_dir]
    return DONE if files else TODO


implied("truststore.place_in_jdk_bin", "truststore.keytool_import_certificate")
implied("truststore.place_keystore", "truststore.keytool_import_certificate",
        "the store is in the connector's etc folder; done with step 3")


# Creating the Configuration File for Kerberos security
@rule("krb5_conf.modify_krb5_conf",
      "krb5.conf in the connector's etc folder: default_realm the AD domain, its kdc the lab's domain controller")
def _krb5(j: Judge) -> Verdict:
    named = None
    if j.a.tls_args:
        value = parse_arguments(j.a.tls_args).arguments.krb_conf_file
        named = j.s.lab.resolve_windows_path(value) if value else None
    path = next((p for p in (named, j.s.manifest.file("krb5-conf"), j.s.lab.artifacts_dir / "krb5.conf")
                 if p is not None and p.is_file()), None)
    if path is None:
        return TODO
    try:
        conf = read_krb5_conf(path)
    except (ArtifactError, OSError) as exc:
        return _wrong("krb-realm-unknown", f"{path.name} does not parse: {exc}")
    realm = j.s.t.realm
    if conf.libdefaults.get("default_realm") != realm:
        return _wrong("krb-realm-unknown", f"{path.name}: default_realm is {conf.libdefaults.get('default_realm')!r}, "
                      f"the domain's realm is {realm}")
    kdcs = [k.lower() for k in conf.realms.get(realm, {}).get("kdc", [])]
    assert j.s.lab.network is not None
    reachable = {str(j.s.lab.network.kdc).lower(), j.s.lab.network.kdc.host.lower()}
    if j.s.lab.network.kdc.port == 88:
        reachable |= {j.s.t.ca_fqdn.lower(), j.s.authority.host_fqdn.lower()}
    if not kdcs:
        return _wrong("krb-realm-unknown", f"{path.name}: the [realms] entry {realm} names no kdc")
    if not reachable & set(kdcs):
        return _wrong("krb-kdc-unreachable", f"{path.name}: kdc = {', '.join(kdcs)}; the lab's domain controller "
                      f"listens on {j.s.lab.network.kdc}")
    weak = conf.libdefaults.get("allow_weak_crypto", "").lower() in ("true", "yes")
    return Verdict("done", note="allow_weak_crypto = true re-enables DES, RC4 and 3DES (krb-weak-crypto-enabled)" if weak else None)


implied("krb5_conf.open_sample_krb5_conf", "krb5_conf.modify_krb5_conf")
implied("krb5_conf.save_krb5_conf", "krb5_conf.modify_krb5_conf", "krb5.conf saved; done with step 2")


# Configuring a Secure SIP Port
@rule("secure_port.add_port", "a sip port with Listening Mode Secured on the Application's Server Info")
def _secure_port(j: Judge) -> Verdict:
    connector = j.a.connector
    if connector is None or not j.s.app or not j.s.app.port_infos:
        return TODO
    if connector.secure_port is not None:
        return DONE
    found = next((f for f in connector.findings if isinstance(f, PortFinding)), None)
    if found is None or found.code == "secure-port-missing":
        return TODO
    return _wrong(found.code, found.message)


implied("secure_port.confirm_warning", "secure_port.add_port")


# Modifying Command Line Parameters for TLS
@rule("tls_command_line.add_parameters",
      "the Application's arguments name krb5.conf and the trust store (-cert_store_file/-cert_store_pass), which load")
def _tls_parameters(j: Judge) -> Verdict:
    return _arguments_rule(j, "tls", j.a.tls_args)


implied("tls_command_line.open_command_line_arguments", "tls_command_line.add_parameters")
implied("tls_command_line.save_arguments", "tls_command_line.add_parameters")


_PFX_WAYS = {"shell": "shell", "web": "web", "frontend": "frontend_certificate"}
# The page's headings in its order, with the chosen way to the PFX (Rule 3).
_ORDER = ("client_certificate", "pfx", "mtls_command_line", "kerberos_ad", "kerberos_password", "trusted_certificate",
          "truststore", "krb5_conf", "secure_port", "tls_command_line")


def checklist(judge: Judge) -> list[StepProgress]:
    """Every step of the page's procedures (the PFX's way only), judged."""
    out = []
    for key in _ORDER:
        procedure: Procedure = PROCEDURES[_PFX_WAYS[judge.a.pfx_source] if key == "pfx" else key]
        for step in procedure.steps:
            verdict = judge.verdict(step.id)
            out.append(StepProgress(procedure.heading, step.number, step.name, verdict.status, RULES[step.id].text,
                                    verdict.diagnosis, verdict.note))
    return out


# -- the handshakes (Rule 4) ------------------------------------------------------------------------


def _connections(records: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The Front End's records by connection (its push excluded)."""
    by: dict[int, list[dict[str, Any]]] = {}
    pushes = {r["connection"] for r in records if str(r.get("type", "")).startswith("push-")}
    for r in records:
        c = r.get("connection")
        if c is not None and c not in pushes:
            by.setdefault(c, []).append(r)
    return by


def _kind(records: list[dict[str, Any]], matched: dict[str, Any] | None) -> str | None:
    """Whether a Front End connection was an MTLS register, a TLS/Kerberos login, or neither."""
    types = {r["type"] for r in records}
    if matched is not None:
        return "mtls" if matched["type"] == "register" else "tls-kerberos"
    if types & {"peer-trusted", "peer-not-trusted"} or any(r["type"] == "tls-handshake" and r.get("peer") for r in records):
        return "mtls"
    if types & {"sipae-authenticated", "sipae-rejected", "sipae-verified", "sipae-bad-signature"}:
        return "tls-kerberos"
    if "tls-failure" in types:
        return "mtls"
    return None


def _match(connector: list[dict[str, Any]], start: float) -> dict[str, Any] | None:
    """The connector's register/login record for a connection that began at ``start`` (it is
    recorded when the attempt ends)."""
    return next((r for r in connector if r["type"] in ("register", "login") and start <= r["time"] <= start + _MATCH_WINDOW),
                None)


def judge_handshakes(state: State, analysis: Analysis) -> list[dict[str, Any]]:
    """The last connector → Front End, Front End → connector and Kerberos exchanges seen."""
    setup = Setup(state.app, analysis.connector, []) if state.app is not None and analysis.connector is not None else None
    source = analysis.pfx_source
    connections = _connections(state.frontend)
    attempts: dict[str, list[tuple[float, list[dict[str, Any]], dict[str, Any] | None]]] = {"mtls": [], "tls-kerberos": []}
    used: set[int] = set()
    for records in connections.values():
        start = min(r["time"] for r in records)
        matched = _match(state.connector, start)
        kind = _kind(records, matched)
        if kind is not None:
            attempts[kind].append((start, records, matched))
            if matched is not None:
                used.add(matched["seq"])
    for r in state.connector:  # attempts that never reached the Front End
        if r["type"] in ("register", "login") and r["seq"] not in used:
            attempts["mtls" if r["type"] == "register" else "tls-kerberos"].append((r["time"], [], r))
    return [
        _judge_register(max(attempts["mtls"], key=lambda a: a[0], default=None), setup, source),
        _judge_push(state, setup, source),
        _judge_login(max(attempts["tls-kerberos"], key=lambda a: a[0], default=None), state),
    ]


def _when(moment: float) -> str:
    """An evidence record's time (seconds since the epoch) in ISO 8601, UTC."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def _not_seen(kind: str, direction: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, "status": "not-seen", "seen": None, "evidence": None, "diagnoses": []}
    if direction:
        out["direction"] = direction
    return out


def _judge_register(attempt: tuple[float, list[dict[str, Any]], dict[str, Any] | None] | None, setup: Setup | None,
                    source: str) -> dict[str, Any]:
    base = {"kind": "mtls", "direction": "connector-to-frontend"}
    if attempt is None:
        return _not_seen("mtls", "connector-to-frontend")
    start, seen, matched = attempt
    verdict = judge_register(seen)
    diagnoses: list[dict[str, Any]] = []
    if not verdict.confirmed:
        code = matched.get("code") if matched else None
        if seen and setup is not None:
            diagnoses = why_frontend_refused(verdict.seen, setup.connector, setup.findings, code, code, {}, source)
        if code in DIAGNOSES and code not in {d["code"] for d in diagnoses}:
            # What the connector knew (a replay adds its setup's findings the same way); its own
            # words for how the exchange ended (frontend-closed, ...) are no diagnosis.
            said = "stopped before the Front End judged it" if not seen else "reported"
            diagnoses.append(diagnose(code, f"the connector {said} {code}", matched))
        if not diagnoses:
            diagnoses = [not_confirmed(f"the Front End's log shows {verdict.missing} for the connector", seen)]
    evidence = verdict.evidence()
    return {**base, "status": "confirmed" if verdict.confirmed else "rejected", "seen": _when(start),
            "evidence": {"frontend": {key: evidence[key] for key in ("peer", "peer_trusted_as", "requests")},
                         "connector": matched},
            "diagnoses": diagnoses}


def _judge_push(state: State, setup: Setup | None, source: str) -> dict[str, Any]:
    starts = [r for r in state.frontend if r["type"] == "push-started"]
    if not starts:
        return _not_seen("mtls", "frontend-to-connector")
    start = starts[-1]
    mine = [r for r in state.frontend if r.get("connection") == start["connection"] and r["seq"] >= start["seq"]]
    done = next((r for r in mine if r["type"] in ("push-done", "push-failure")), None)
    end = (done or start)["time"] + 1.0
    seen = [r for r in state.connector if r.get("connection") is not None and start["time"] <= r["time"] <= end]
    judged = judge_push(seen)
    diagnoses: list[dict[str, Any]] = []
    if not judged.confirmed:
        failure = next((r for r in mine if r["type"] == "push-failure"), None)
        diagnoses = push_diagnoses(failure.get("error") if failure else None, bool(failure and failure.get("handshake_ok")),
                                   judged.refused, setup.connector if setup is not None else None,
                                   {"frontend": mine, "connector": seen}, source)
    evidence = judged.evidence()
    return {"kind": "mtls", "direction": "frontend-to-connector", "status": "confirmed" if judged.confirmed else "rejected",
            "seen": _when(start["time"]),
            "evidence": {"connector": {"peer": evidence["peer"], "requests": evidence["requests"]},
                         "frontend": {"push": [r for r in mine if r["type"] in ("push-response", "push-failure", "push-done")]}},
            "diagnoses": diagnoses}


def _judge_login(attempt: tuple[float, list[dict[str, Any]], dict[str, Any] | None] | None, state: State) -> dict[str, Any]:
    if attempt is None:
        return _not_seen("tls-kerberos")
    t = state.t
    start, seen, matched = attempt
    end = max([r["time"] for r in seen] + [matched["time"] if matched else start]) + 1.0
    # The login at the KDC comes first (Java logs in before it opens TLS): from a minute before.
    window = [r for r in state.kdc if start - 60.0 <= r.get("time", 0) <= end]
    login = judge_login(window, seen, principal=f"{t.ucc_account}@{t.realm}", spn=f"{t.frontend_spn}@{t.realm}",
                        rspauth_verified=matched is None or matched.get("outcome") == "confirmed")
    confirmed, tgt, ticket, authenticated, register = login.confirmed, login.tgt, login.ticket, login.authenticated, login.register
    diagnoses: list[dict[str, Any]] = []
    if not confirmed:
        for r in window:
            if r.get("error_code") not in (None, 25) and r["type"] in ("AS-REQ", "TGS-REQ"):
                code = code_for_text(r.get("error_name"), sources=("ad",))
                if code:
                    diagnoses.append(diagnose(code, f"the KDC answered {r['type']} of {r.get('client')} with "
                                              f"{r.get('error_name')} ({r.get('error_code')})", r))
        for e in seen:
            if e["type"] == "sipae-rejected":
                diagnoses.append(diagnose("sip-auth-rejected", f"the Front End refused the credentials: {e.get('reason')}", e))
        if not diagnoses and matched is not None and matched.get("code") in DIAGNOSES:
            diagnoses.append(diagnose(matched["code"], f"the connector's login failed ({matched['code']})", matched))
        if not diagnoses:
            diagnoses.append(not_confirmed(f"missing from the evidence: {', '.join(login.missing)}", None, LOGIN_STEP))
    result = {"kind": "tls-kerberos", "status": "confirmed" if confirmed else "rejected", "seen": _when(start),
              "evidence": {"kdc": {"tgt": tgt, "service_ticket": ticket},
                           "frontend": {"authenticated": authenticated, "register": register},
                           "connector": matched},
              "diagnoses": diagnoses}
    if matched is None and confirmed:
        result["note"] = "a client of the trainee's own: the Front End's and the KDC's logs confirm it; whether it " \
                         "verified the answer's signature (rspauth) is the client's to say"
    return result


async def read_progress(lab: LabBase) -> Progress:
    """The checklist and the handshakes of a started (or attached) lab (Rules 1-4)."""
    state = await _read_state(lab)
    judge = Judge(state)
    await judge.prepare()
    steps = checklist(judge)
    return Progress(steps, judge_handshakes(state, judge.a), judge.a.pfx_source)
