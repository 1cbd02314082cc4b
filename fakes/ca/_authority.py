"""The certification authority: keys, certificates, policy and the request database.

This is the enterprise CA of the lab domain (``labdc01.companya.com\\companya-LABDC01-CA``
by default), with what the page relies on and the ways it really fails:

* **Policy as the Windows default policy module applies it.** A request names a
  template; the CA issues with the *template's* extended key usages and key usage, not
  the CSR's. Denials are recorded in the database with AD CS's HRESULT and disposition
  message, in this order of checks: the request must parse and its signature verify, a
  template must be named and published, the enrollee must be the right kind of account,
  the key must be large enough, and the subject must not be empty.
* **Certificates shaped like AD CS's.** Random 19-byte serials; ``notBefore`` set ten
  minutes back (AD CS's default clock-skew allowance); ``notAfter`` from the template,
  never past the CA's own; AKI/SKI; CRL distribution point and AIA ``caIssuers`` URLs
  under ``http://<host>/CertEnroll/``; the template named in an extension.
* **Two shapes.** One tier: the CA is a self-signed enterprise root. Two tier: an
  offline root (``companya-ROOT-CA``) signs the issuing CA (path length 0), and it is
  the issuing CA that web enrollment hands out as "the CA certificate".
* **A CA manager's work.** Requests for a template that needs "CA certificate manager
  approval" wait as pending ("Taken Under Submission") until :meth:`approve`
  (``certutil -resubmit``) issues them or :meth:`deny` (``certutil -deny``) refuses them.
  :meth:`revoke` is ``certutil -revoke SERIAL [REASON]``.
* **CRLs where the certificates say.** Issued certificates point to
  ``http://<host>/CertEnroll/<CA name>.crl`` — AD CS's default HTTP CDP,
  ``http://%1/CertEnroll/%3%8%9.crl`` with %1 the CA host's DNS name, %3 the CA name and
  %8/%9 empty for a CA with its first key and no delta CRLs. The CA publishes a base CRL
  there (see :mod:`fakes.ca._crl` for its validity and contents) when it is created, on
  schedule (checked whenever the CRL is asked for: when its Next CRL Publish time has
  passed) and — unlike AD CS, which waits for its schedule or ``certutil -CRL`` — at once
  after each revocation, so a test sees the revocation on the CRL without waiting. A
  two-tier CA also publishes the offline root's CRL and certificate there, as an
  administrator copies them from the offline root. :attr:`crl_publication` can freeze an
  expired CRL or take the CDP down for scenarios.

Everything is written into one state folder (keys 0600) so the CA survives restarts:

=================  =========================================================
``ca.json``        what the CA is (names, shape, published templates)
``ca.key``         issuing CA key (0600)            ``ca.pem``    its certificate
``root.key``       offline root key, two-tier (0600) ``root.pem``  root certificate
``chain.pem``      issuing CA first, root last
``https.key``      key of the CA host's HTTPS certificate (0600)
``https.pem``      that certificate, followed by the issuing CA in two-tier
``ca.sqlite``      the request database
``CertEnroll/``    what IIS serves on ``http://<host>/CertEnroll/``: the CRLs and
                   CA certificates named by the CDP and AIA URLs
=================  =========================================================

No networking here; the clock is injected (``now``) so tests can stand anywhere in time.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from fakes._files import write_private_file, write_public_file

from . import _der
from ._crl import (
    CERTIFICATE_HOLD,
    OID_NEXT_CRL_PUBLISH,
    CertutilError,
    CrlSchedule,
    RevokedEntry,
    build_crl,
    parse_reason,
    parse_serial,
    reason_name,
    releases_hold,
)
from ._database import (
    DENIED,
    ISSUED,
    PENDING,
    REVOKED,
    RequestDatabase,
    RequestRecord,
    RequestResult,
)
from ._errors import CAError, CAStateError
from ._policy import (
    CERTSRV_E_ADMIN_DENIED_REQUEST,
    CERTSRV_E_BAD_REQUESTSTATUS,
    CERTSRV_E_BAD_REQUESTSUBJECT,
    CERTSRV_E_KEY_LENGTH,
    CERTSRV_E_NO_CERT_TYPE,
    CERTSRV_E_PROPERTY_EMPTY,
    CERTSRV_E_TEMPLATE_DENIED,
    CERTSRV_E_UNSUPPORTED_CERT_TYPE,
    CRYPT_E_NOT_FOUND,
    Denied,
    account_name,
    describe_status,
    key_size,
    load_request,
    policy_denial,
)
from ._templates import DEFAULT_TEMPLATES, OID_CA_VERSION, Template

__all__ = ["CertificationAuthority", "CrlPublication", "Revocation"]

Clock = Callable[[], datetime]

# -- shapes and names ---------------------------------------------------------------------

# The page's CA: "-CA "labdc01.companya.com\companya-LABDC01-CA"".
_COMMON_NAME = "companya-LABDC01-CA"
_HOST_FQDN = "labdc01.companya.com"
_ROOT_COMMON_NAME = "companya-ROOT-CA"

_BACKDATE = timedelta(minutes=10)  # AD CS's ClockSkewMinutes default
#: An offline root publishes rarely and by hand; a CRL valid for half a year is the
#: usual choice for one (assumed: AD CS's own default would be a week).
_OFFLINE_ROOT_CRL = CrlSchedule(period=timedelta(weeks=26))
_PENDING_MESSAGE = "Taken Under Submission"  # CR_DISP_UNDER_SUBMISSION, as certsrv.msc shows it
_ROOT_VALIDITY = timedelta(days=5 * 365)  # AD CS's default for a new root CA
_OFFLINE_ROOT_VALIDITY = timedelta(days=10 * 365)
_ISSUING_VALIDITY = timedelta(days=5 * 365)
_RSA_BITS = 2048
_OID_UPN = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # szOID_NT_PRINCIPAL_NAME

_STATE_FORMAT = "ucc-lab-adcs"
_STATE_VERSION = 1
_FILES = ("ca.json", "ca.key", "ca.pem", "root.key", "root.pem", "chain.pem",
          "https.key", "https.pem", "ca.sqlite")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _domain_of(host_fqdn: str) -> str:
    if "." not in host_fqdn:
        raise CAError(f"host_fqdn {host_fqdn!r} is not a fully qualified domain name")
    return host_fqdn.split(".", 1)[1].lower()


def _domain_components(domain: str) -> list[x509.NameAttribute[str]]:
    # Directory names end with the domain's DC components: CN=..., DC=companya, DC=com
    # as Windows shows them, written most significant first (DC=com) in the DER.
    return [x509.NameAttribute(NameOID.DOMAIN_COMPONENT, label)
            for label in reversed(domain.split("."))]


def _enterprise_ca_name(common_name: str, domain: str) -> x509.Name:
    return x509.Name([*_domain_components(domain),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _serial_number() -> int:
    # 19 bytes like AD CS's serials; the top bit kept clear so DER needs no sign byte.
    return (1 << 150) | secrets.randbits(150)


@dataclass(frozen=True)
class CrlPublication:
    """How the CA's base CRL is published, as a scenario may bend it.

    ``next_update_offset``: None publishes on AD CS's schedule; a duration gives the CRL
    published now that nextUpdate instead (negative: already expired) and stops
    scheduled publication, so the CRL stays as it is until the next revocation or
    ``certutil -CRL``. ``serving``: False takes the CDP web site down (the CRL cannot be
    fetched; its files stay published).
    """

    next_update_offset: timedelta | None = None
    serving: bool = True


@dataclass(frozen=True)
class Revocation:
    """What ``certutil -revoke`` did: the certificate, its new state and the CRL now
    published (``reason`` -1 or 8: released from hold)."""

    serial: str
    request_id: int
    subject: str
    reason: int
    revoked_at: datetime | None
    crl: x509.CertificateRevocationList


class CertificationAuthority:
    """An enterprise AD CS certification authority with its state folder.

    Create one with :meth:`create`, reopen it with :meth:`open` (or
    :meth:`open_or_create`), submit requests with :meth:`submit`::

        ca = CertificationAuthority.open_or_create(Path("state/ca"))
        result = ca.submit(csr_pem, template="WebServer", requester="COMPANYA\\\\admin")
        if result.disposition == "issued":
            cert = result.certificate
    """

    def __init__(
        self,
        *,
        state_dir: Path,
        common_name: str,
        host_fqdn: str,
        root_common_name: str | None,
        templates: Mapping[str, Template],
        renewals: int,
        key: CertificateIssuerPrivateKeyTypes,
        certificate: x509.Certificate,
        root_certificate: x509.Certificate,
        https_private_key: CertificateIssuerPrivateKeyTypes,
        https_certificate: x509.Certificate,
        database: RequestDatabase,
        now: Clock,
        root_key: CertificateIssuerPrivateKeyTypes | None = None,
    ) -> None:
        # Use create()/open(); this only wires the parts together.
        self.state_dir = state_dir
        self.common_name = common_name
        self.host_fqdn = host_fqdn
        self.root_common_name = root_common_name
        self.templates = dict(templates)
        self.renewals = renewals
        self.certificate = certificate
        self.root_certificate = root_certificate
        self.https_private_key = https_private_key
        self.https_certificate = https_certificate
        self._key = key
        self._root_key = root_key if root_key is not None else key
        self._database = database
        self._now = now
        self.crl_schedule = CrlSchedule()
        self._publication = CrlPublication()
        # CertEnroll file name -> bytes; revocation and publication hold the lock (the
        # certsrv loop and a test or harness thread may both call in).
        self._published: dict[str, bytes] = {}
        self._crls: dict[str, x509.CertificateRevocationList] = {}
        self._lock = threading.RLock()

    # -- life cycle ------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        state_dir: Path,
        *,
        common_name: str = _COMMON_NAME,
        host_fqdn: str = _HOST_FQDN,
        two_tier: bool = False,
        root_common_name: str = _ROOT_COMMON_NAME,
        templates: Mapping[str, Template] = DEFAULT_TEMPLATES,
        now: Clock | None = None,
    ) -> CertificationAuthority:
        """Generate a new CA into ``state_dir`` (created if needed, must hold no CA).

        One tier: ``common_name`` is a self-signed root. Two tier: ``root_common_name``
        is an offline root that signs ``common_name`` (path length 0). Either way the CA
        then issues the HTTPS certificate of ``host_fqdn`` (Web Server template, SANs
        DNS ``host_fqdn`` and IP 127.0.0.1) as request 1, requested by the host's
        computer account.
        """
        state_dir = Path(state_dir)
        clock = now or _utc_now
        existing = [name for name in _FILES if (state_dir / name).exists()]
        if existing:
            raise CAStateError(
                f"{state_dir}: already holds CA state ({', '.join(existing)}); "
                "open it with CertificationAuthority.open() or use an empty folder"
            )
        domain = _domain_of(host_fqdn)
        state_dir.mkdir(parents=True, exist_ok=True)
        moment = _checked_now(clock)

        key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
        subject = _enterprise_ca_name(common_name, domain)
        if two_tier:
            root_key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
            root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, root_common_name)])
            root = _self_signed_ca(root_key, root_name, moment, _OFFLINE_ROOT_VALIDITY)
            certificate = _subordinate_ca(
                key.public_key(), subject, root, root_key, moment, host_fqdn, root_common_name
            )
            write_private_file(state_dir / "root.key", _pem_key(root_key))
        else:
            root = certificate = _self_signed_ca(key, subject, moment, _ROOT_VALIDITY)
        write_private_file(state_dir / "ca.key", _pem_key(key))
        write_public_file(state_dir / "ca.pem", _pem(certificate))
        write_public_file(state_dir / "root.pem", _pem(root))
        chain = [certificate, root] if two_tier else [certificate]
        write_public_file(state_dir / "chain.pem", b"".join(_pem(c) for c in chain))

        database = RequestDatabase.create(state_dir / "ca.sqlite")
        https_key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
        ca = cls(
            state_dir=state_dir,
            common_name=common_name,
            host_fqdn=host_fqdn,
            root_common_name=root_common_name if two_tier else None,
            templates=templates,
            renewals=0,
            key=key,
            certificate=certificate,
            root_certificate=root,
            https_private_key=https_key,
            # The HTTPS certificate is issued by the CA itself, so the instance has to
            # exist first: a placeholder, replaced by the issued certificate below.
            https_certificate=certificate,
            database=database,
            now=clock,
            root_key=root_key if two_tier else key,
        )
        ca.https_certificate = ca._issue_https_certificate(https_key)
        write_private_file(state_dir / "https.key", _pem_key(https_key))
        write_public_file(state_dir / "https.pem", b"".join(
            _pem(c) for c in [ca.https_certificate, *ca.chain[:-1]]
        ))
        ca._publish_certificates()
        # ca.json last: its presence marks a complete state folder.
        write_public_file(state_dir / "ca.json", json.dumps(ca._describe(), indent=2).encode())
        return ca

    @classmethod
    def open(cls, state_dir: Path, *, now: Clock | None = None) -> CertificationAuthority:
        """Reopen the CA kept in ``state_dir``; CAStateError names what is missing or bad."""
        state_dir = Path(state_dir)
        if not state_dir.is_dir():
            raise CAStateError(f"{state_dir}: CA state folder does not exist")
        description = _read_description(state_dir / "ca.json")
        try:
            common_name = str(description["common_name"])
            host_fqdn = str(description["host_fqdn"])
            root_name = description["root_common_name"]
            root_common_name = None if root_name is None else str(root_name)
            renewals = int(description["renewals"])
            templates = {t.name: t for t in map(Template.from_dict, description["templates"])}
        except (KeyError, TypeError, ValueError) as exc:
            raise CAStateError(
                f"{state_dir / 'ca.json'}: missing or malformed entry ({exc!r})"
            ) from exc
        two_tier = root_common_name is not None
        key = _read_key(state_dir / "ca.key")
        certificate = _read_certificate(state_dir / "ca.pem")
        root = _read_certificate(state_dir / "root.pem")
        https_key = _read_key(state_dir / "https.key")
        https_certificate = _read_certificate(state_dir / "https.pem")
        _check_pair(key, certificate, state_dir / "ca.key", state_dir / "ca.pem")
        _check_pair(https_key, https_certificate, state_dir / "https.key", state_dir / "https.pem")
        root_key = key
        if two_tier:
            root_key = _read_key(state_dir / "root.key")
            _check_pair(root_key, root, state_dir / "root.key", state_dir / "root.pem")
        try:
            certificate.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise CAStateError(
                f"{state_dir / 'ca.pem'}: not issued by the root in {state_dir / 'root.pem'}"
            ) from exc
        ca = cls(
            state_dir=state_dir,
            common_name=common_name,
            host_fqdn=host_fqdn,
            root_common_name=root_common_name,
            templates=templates,
            renewals=renewals,
            key=key,
            certificate=certificate,
            root_certificate=root,
            https_private_key=https_key,
            https_certificate=https_certificate,
            database=RequestDatabase.open(state_dir / "ca.sqlite"),
            now=now or _utc_now,
            root_key=root_key,
        )
        try:
            ca._publish_certificates()
        except BaseException:
            ca.close()
            raise
        return ca

    @classmethod
    def open_or_create(
        cls,
        state_dir: Path,
        *,
        common_name: str | None = None,
        host_fqdn: str | None = None,
        two_tier: bool | None = None,
        root_common_name: str | None = None,
        templates: Mapping[str, Template] = DEFAULT_TEMPLATES,
        now: Clock | None = None,
    ) -> CertificationAuthority:
        """Open the CA in ``state_dir`` if there is one, else :meth:`create` it there.

        Arguments left None take :meth:`create`'s defaults for a new CA and accept
        whatever an existing CA has; the others must match the existing CA. ``templates``
        only shapes a new CA (an existing one keeps the templates it publishes). A folder
        with CA files but no ``ca.json`` (an interrupted create) is refused, not
        overwritten.
        """
        state_dir = Path(state_dir)
        if not (state_dir / "ca.json").exists():
            return cls.create(
                state_dir,
                common_name=common_name or _COMMON_NAME,
                host_fqdn=host_fqdn or _HOST_FQDN,
                two_tier=bool(two_tier),
                root_common_name=root_common_name or _ROOT_COMMON_NAME,
                templates=templates,
                now=now,
            )
        ca = cls.open(state_dir, now=now)
        found = {"common_name": ca.common_name, "host_fqdn": ca.host_fqdn,
                 "two_tier": ca.two_tier, "root_common_name": ca.root_common_name}
        asked = {"common_name": common_name, "host_fqdn": host_fqdn, "two_tier": two_tier,
                 # a one-tier CA has no root of its own name: the name is moot then
                 "root_common_name": root_common_name if ca.two_tier else None}
        conflicts = {name: (found[name], value) for name, value in asked.items()
                     if value is not None and value != found[name]}
        if conflicts:
            ca.close()
            details = ", ".join(f"{name} is {have!r}, not {want!r}"
                                for name, (have, want) in conflicts.items())
            raise CAStateError(f"{state_dir}: holds another CA ({details})")
        return ca

    def close(self) -> None:
        """Close the request database."""
        self._database.close()

    def __enter__(self) -> CertificationAuthority:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- what the CA is --------------------------------------------------------------

    @property
    def config_string(self) -> str:
        """``host\\CA name``: what ``certutil -config`` and ``Request-CsCertificate -CA`` take."""
        return f"{self.host_fqdn}\\{self.common_name}"

    @property
    def two_tier(self) -> bool:
        """True when an offline root signed this (issuing) CA."""
        return self.root_common_name is not None

    @property
    def domain(self) -> str:
        """The AD DNS domain, e.g. ``companya.com``."""
        return _domain_of(self.host_fqdn)

    @property
    def netbios_domain(self) -> str:
        """The pre-Windows 2000 domain name, e.g. ``COMPANYA``."""
        return self.domain.split(".")[0].upper()

    @property
    def chain(self) -> list[x509.Certificate]:
        """Issuing CA first, root last (one element for a one-tier CA)."""
        if self.two_tier:
            return [self.certificate, self.root_certificate]
        return [self.certificate]

    @property
    def certificate_path(self) -> Path:
        """PEM file of the issuing CA certificate."""
        return self.state_dir / "ca.pem"

    @property
    def root_certificate_path(self) -> Path:
        """PEM file of the root certificate: the trust anchor clients need."""
        return self.state_dir / "root.pem"

    @property
    def chain_path(self) -> Path:
        """PEM file with :attr:`chain`."""
        return self.state_dir / "chain.pem"

    @property
    def https_cert_path(self) -> Path:
        """PEM file for the HTTPS server: the host certificate, then intermediates."""
        return self.state_dir / "https.pem"

    @property
    def https_key_path(self) -> Path:
        """PEM file (0600) of the HTTPS server's private key."""
        return self.state_dir / "https.key"

    @property
    def crl_name(self) -> str:
        """The base CRL's file name: ``<CA name>.crl`` (AD CS's ``%3%8%9.crl``)."""
        return f"{self.common_name}.crl"

    @property
    def cdp_url(self) -> str:
        """The CRL distribution point issued certificates carry."""
        return f"http://{self.host_fqdn}/CertEnroll/{self.crl_name}"

    @property
    def cert_enroll_dir(self) -> Path:
        """The folder IIS serves as ``/CertEnroll/`` (``%windir%\\System32\\CertSvc\\CertEnroll``)."""
        return self.state_dir / "CertEnroll"

    # -- requests --------------------------------------------------------------------

    def submit(
        self,
        csr: bytes | x509.CertificateSigningRequest,
        *,
        template: str | None,
        requester: str,
        attributes: Mapping[str, str] | None = None,
    ) -> RequestResult:
        """Process one certificate request, record it, and return the outcome.

        ``csr`` is PEM (either header), bare base64 or DER bytes, or a parsed request.
        ``template`` is the template's name (cn) or OID, matched case-insensitively as
        AD CS does; a display name ("Web Server") is not a template name and is denied.
        ``requester`` is the enrolling account: ``COMPANYA\\jdoe`` for a user,
        ``COMPANYA\\FE01$`` or the computer's FQDN (``fe01.companya.com``) for a
        computer. ``attributes`` (e.g. the certsrv form's ``CertAttrib`` lines other
        than the template) are recorded, not interpreted.

        The subject of the certificate depends on the template:

        * "Supply in the request" templates (WebServer and its copy): subject and
          subjectAltName are the CSR's. A CSR with an empty subject and no SAN is denied
          (CERTSRV_E_BAD_REQUESTSUBJECT).
        * Machine (computer templates): ``CN=<computer FQDN>`` and a DNS SAN, built
          from the requesting computer account.
        * User: built from the directory as AD CS does, here
          ``CN=<account>, CN=Users, DC=companya, DC=com`` with ``E=`` and SANs UPN and
          e-mail ``<account>@<domain>`` (lab users' mail is their UPN).

        A template's enrollees are its kind: computer templates deny user accounts and
        the User template denies computers (CERTSRV_E_TEMPLATE_DENIED).
        """
        submitted_at = _checked_now(self._now)
        raw = csr.public_bytes(serialization.Encoding.PEM) if isinstance(
            csr, x509.CertificateSigningRequest) else bytes(csr)
        attribute_map = dict(attributes or {})
        found = self._find_template(template)
        template_name = found.name if found is not None else template
        requested_subject = ""
        try:
            request = load_request(csr)
            requested_subject = request.subject.rfc4514_string()
            chosen = self._check_template(template, found)
            self._check_enrollee(chosen, requester)
            if key_size(request.public_key()) < chosen.minimum_key_size:
                raise policy_denial(CERTSRV_E_KEY_LENGTH)
            subject, alt_names = self._subject_for(chosen, request, requester)
        except Denied as denial:
            request_id = self._database.add(
                submitted_at=submitted_at, requester=requester, template=template_name,
                disposition=DENIED, status=denial.status, message=denial.message,
                subject=requested_subject, csr=raw, attributes=attribute_map, certificate=None,
            )
            return RequestResult(request_id, DENIED, denial.status, denial.message, None,
                                 template_name)
        if chosen.requires_approval:
            # The policy module passed it; the template says a CA manager decides.
            request_id = self._database.add(
                submitted_at=submitted_at, requester=requester, template=chosen.name,
                disposition=PENDING, status=0, message=_PENDING_MESSAGE, subject=requested_subject,
                csr=raw, attributes=attribute_map, certificate=None,
            )
            return RequestResult(request_id, PENDING, 0, _PENDING_MESSAGE, None, chosen.name)
        certificate = self._sign(chosen, request.public_key(), subject, alt_names, submitted_at)
        request_id = self._database.add(
            submitted_at=submitted_at, requester=requester, template=chosen.name,
            disposition=ISSUED, status=0, message="Issued", subject=subject.rfc4514_string(),
            csr=raw, attributes=attribute_map, certificate=certificate,
        )
        return RequestResult(request_id, ISSUED, 0, "Issued", certificate, chosen.name)

    def get_request(self, request_id: int) -> RequestRecord | None:
        """The database row of a request, or None if there is no such request ID."""
        return self._database.get(request_id)

    def requests(self) -> list[RequestRecord]:
        """All requests, oldest first."""
        return self._database.all()

    def find_certificate(self, serial: str) -> RequestRecord | None:
        """The request whose certificate has this serial number (certutil's hex, any
        spacing or case), or None; CertutilError if it is not hex at all."""
        return self._database.find_serial(parse_serial(serial))

    # -- a CA manager's work -----------------------------------------------------------

    @property
    def default_manager(self) -> str:
        """The CA manager named when none is given: ``<DOMAIN>\\Administrator``."""
        return f"{self.netbios_domain}\\Administrator"

    def _pending_request(self, request_id: int) -> RequestRecord:
        record = self._database.get(request_id)
        if record is None:
            # [MS-CSRA] 3.1.4.1.3: an unknown request ID is 0x80094004.
            raise CertutilError(CERTSRV_E_PROPERTY_EMPTY,
                                f"{describe_status(CERTSRV_E_PROPERTY_EMPTY)}: there is no request {request_id}")
        if record.disposition != PENDING:
            raise CertutilError(
                CERTSRV_E_BAD_REQUESTSTATUS,
                f"{describe_status(CERTSRV_E_BAD_REQUESTSTATUS)}: request {request_id} is {record.disposition},"
                " not pending")
        return record

    def approve(self, request_id: int, *, by: str | None = None) -> RequestResult:
        """Issue a pending request, as ``certutil -resubmit ID`` (or "Issue" in
        certsrv.msc's Pending Requests) does; ``by`` is the CA manager (default
        ``<DOMAIN>\\Administrator``).

        The certificate is made now, as the policy module makes it on resubmission; the
        disposition message becomes "Resubmitted by <manager>" (assumed wording, shaped
        like the documented "Denied by {username}" of [MS-CSRA] 3.1.4.1.4). CertutilError
        when the request does not exist (0x80094004) or is not pending (0x80094003).
        """
        with self._lock:
            record = self._pending_request(request_id)
            template = self._find_template(record.template)
            if template is None:
                raise CertutilError(
                    CERTSRV_E_BAD_REQUESTSTATUS,
                    f"{describe_status(CERTSRV_E_BAD_REQUESTSTATUS)}: request {request_id}'s template"
                    f" {record.template!r} is no longer published on this CA")
            try:
                request = load_request(record.csr)
                subject, alt_names = self._subject_for(template, request, record.requester)
            except Denied as denial:  # it passed at submission: only a changed template fails here
                raise CertutilError(denial.status, denial.message) from None
            certificate = self._sign(template, request.public_key(), subject, alt_names, _checked_now(self._now))
            message = f"Resubmitted by {by or self.default_manager}"
            if not self._database.resolve(request_id, disposition=ISSUED, status=0, message=message,
                                          subject=subject.rfc4514_string(), certificate=certificate):
                raise CertutilError(CERTSRV_E_BAD_REQUESTSTATUS,
                                    f"{describe_status(CERTSRV_E_BAD_REQUESTSTATUS)}: request {request_id}"
                                    " was settled meanwhile")
        return RequestResult(request_id, ISSUED, 0, message, certificate, template.name)

    def deny(self, request_id: int, *, by: str | None = None) -> RequestResult:
        """Deny a pending request, as ``certutil -deny ID`` does: disposition denied,
        status CERTSRV_E_ADMIN_DENIED_REQUEST, message "Denied by <manager>"
        ([MS-CSRA] 3.1.4.1.4). CertutilError as for :meth:`approve`."""
        with self._lock:
            record = self._pending_request(request_id)
            message = f"Denied by {by or self.default_manager}"
            self._database.resolve(request_id, disposition=DENIED, status=CERTSRV_E_ADMIN_DENIED_REQUEST,
                                   message=message)
        return RequestResult(request_id, DENIED, CERTSRV_E_ADMIN_DENIED_REQUEST, message, None, record.template)

    def revoke(self, serial: str, reason: object = 0) -> Revocation:
        """``certutil -revoke SERIAL [REASON]``: revoke (or, with reason -1 "Unrevoke" or 8,
        release from hold) the certificate with this serial number, then publish a new
        base CRL at once (see the module docstring for why at once).

        ``reason`` is a code or name of :data:`fakes.ca._crl.REVOCATION_REASONS`
        (default 0, Unspecified). CertutilError, certutil's words: a serial or reason
        that is not one (0x80070057), no such certificate (0x80092004), a certificate
        already revoked other than on hold, or released when not on hold (0x80094003).
        """
        wanted = parse_serial(serial)
        code = parse_reason(reason)
        with self._lock:
            record = self._database.find_serial(wanted)
            if record is None:
                raise CertutilError(
                    CRYPT_E_NOT_FOUND,
                    f"{describe_status(CRYPT_E_NOT_FOUND)}: {self.config_string} issued no certificate"
                    f" with serial number {wanted}")
            on_hold = record.disposition == REVOKED and record.revocation_reason == CERTIFICATE_HOLD
            if releases_hold(code) and not on_hold:
                raise CertutilError(
                    CERTSRV_E_BAD_REQUESTSTATUS,
                    f"{describe_status(CERTSRV_E_BAD_REQUESTSTATUS)}: certificate {wanted} is not on hold"
                    f" ({record.disposition}), so it cannot be released; only a certificate revoked with"
                    " reason 6 (Certificate Hold) can be unrevoked")
            if not releases_hold(code) and record.disposition != ISSUED and not on_hold:
                raise CertutilError(
                    CERTSRV_E_BAD_REQUESTSTATUS,
                    f"{describe_status(CERTSRV_E_BAD_REQUESTSTATUS)}: certificate {wanted} is already"
                    f" {record.disposition} ({reason_name(record.revocation_reason or 0)})")
            revoked_at = None if releases_hold(code) else _checked_now(self._now)
            self._database.set_revocation(wanted, revoked_at, None if revoked_at is None else code)
            crl = self._publish_crl()
        return Revocation(wanted, record.request_id, record.subject, code, revoked_at, crl)

    # -- CRL publication -------------------------------------------------------------------

    @property
    def crl_publication(self) -> CrlPublication:
        """How the base CRL is published now (see :class:`CrlPublication`)."""
        return self._publication

    def set_crl_publication(self, publication: CrlPublication) -> x509.CertificateRevocationList:
        """Publish as ``publication`` says from now on, and publish a base CRL at once
        (with the new nextUpdate); returns that CRL."""
        with self._lock:
            self._publication = publication
            return self._publish_crl()

    def publish_crl(self) -> x509.CertificateRevocationList:
        """Publish a new base CRL now (``certutil -CRL``) and return it."""
        with self._lock:
            return self._publish_crl()

    @property
    def crl(self) -> x509.CertificateRevocationList:
        """The base CRL published now (published first if it is due)."""
        with self._lock:
            self._publish_if_due()
            return self._crls[self.crl_name]

    def published_file(self, name: str) -> bytes | None:
        """A file of the CertEnroll folder by name (case-insensitive, as IIS serves
        them), after publishing a CRL that is due; None if there is no such file."""
        with self._lock:
            self._publish_if_due()
            for published, data in self._published.items():
                if published.casefold() == name.casefold():
                    return data
        return None

    def published_files(self) -> list[str]:
        """The names of the files in the CertEnroll folder."""
        with self._lock:
            return sorted(self._published)

    def _publish_certificates(self) -> None:
        """The CertEnroll folder as AD CS leaves it: the CA certificate under its AIA
        name (``%1_%3%4.crt``), the offline root's certificate and CRL (two tier), and a
        current base CRL (the one in the folder if it is still current)."""
        with self._lock:
            self._put(f"{self.host_fqdn}_{self.common_name}.crt", self.certificate.public_bytes(serialization.Encoding.DER))
            if self.two_tier:
                root_name = self.root_common_name
                self._put(f"{root_name}.crt", self.root_certificate.public_bytes(serialization.Encoding.DER))
                self._load_or_publish(f"{root_name}.crl", self.root_certificate, self._root_key,
                                      _OFFLINE_ROOT_CRL, revoked=())
            self._load_or_publish(self.crl_name, self.certificate, self._key, self.crl_schedule, revoked=None)

    def _load_or_publish(
        self, name: str, issuer: x509.Certificate, key: CertificateIssuerPrivateKeyTypes,
        schedule: CrlSchedule, *, revoked: tuple[RevokedEntry, ...] | None,
    ) -> None:
        try:
            crl = x509.load_der_x509_crl((self.cert_enroll_dir / name).read_bytes())
            current = crl.is_signature_valid(issuer.public_key()) and not self._due(crl)
        except (OSError, ValueError, TypeError):
            current = False
        if current:
            self._crls[name] = crl
            self._published[name] = crl.public_bytes(serialization.Encoding.DER)
        else:
            self._sign_crl(name, issuer, key, schedule, revoked)

    def _due(self, crl: x509.CertificateRevocationList) -> bool:
        """Whether a CRL's Next CRL Publish time (else its nextUpdate) has come."""
        try:
            raw = crl.extensions.get_extension_for_oid(OID_NEXT_CRL_PUBLISH).value
            due = _der.read_utc_time(raw.value) if isinstance(raw, x509.UnrecognizedExtension) else None
        except (x509.ExtensionNotFound, ValueError):
            due = None
        due = due or crl.next_update_utc
        return due is None or _checked_now(self._now) >= due

    def _publish_if_due(self) -> None:
        if self._publication.next_update_offset is not None:
            return  # frozen by a scenario: stays as published
        if self._due(self._crls[self.crl_name]):
            self._publish_crl()
        if self.two_tier:
            root_crl_name = f"{self.root_common_name}.crl"
            if self._due(self._crls[root_crl_name]):
                self._sign_crl(root_crl_name, self.root_certificate, self._root_key, _OFFLINE_ROOT_CRL, ())

    def _publish_crl(self) -> x509.CertificateRevocationList:
        return self._sign_crl(self.crl_name, self.certificate, self._key, self.crl_schedule, None,
                              next_update_offset=self._publication.next_update_offset)

    def _sign_crl(
        self, name: str, issuer: x509.Certificate, key: CertificateIssuerPrivateKeyTypes,
        schedule: CrlSchedule, revoked: tuple[RevokedEntry, ...] | None, *,
        next_update_offset: timedelta | None = None,
    ) -> x509.CertificateRevocationList:
        if revoked is None:  # the issuing CA's own revocations
            revoked = tuple(
                RevokedEntry(int(r.serial, 16), r.revoked_at, r.revocation_reason or 0)
                for r in self._database.revoked() if r.serial and r.revoked_at is not None
            )
        moment = _checked_now(self._now)
        crl = build_crl(
            issuer, key,
            number=self._database.next_crl_number(issuer.subject.rfc4514_string()),
            entries=revoked,
            times=schedule.times(moment, next_update_offset=next_update_offset),
        )
        self._crls[name] = crl
        self._put(name, crl.public_bytes(serialization.Encoding.DER))
        return crl

    def _put(self, name: str, data: bytes) -> None:
        path = self.cert_enroll_dir / name
        try:
            unchanged = path.read_bytes() == data
        except OSError:
            unchanged = False
        if not unchanged:  # reopening a CA rewrites nothing that is already there
            write_public_file(path, data)
        self._published[name] = data

    # -- policy ----------------------------------------------------------------------

    def _find_template(self, name: str | None) -> Template | None:
        if not name:
            return None
        wanted = name.casefold()
        for template in self.templates.values():
            if template.name.casefold() == wanted or template.oid == name:
                return template
        return None

    def _check_template(self, asked: str | None, found: Template | None) -> Template:
        if not asked:
            raise policy_denial(CERTSRV_E_NO_CERT_TYPE)
        if found is None:
            raise policy_denial(
                CERTSRV_E_UNSUPPORTED_CERT_TYPE,
                "The request was for a certificate template that is not supported by the"
                f" Active Directory Certificate Services policy: {asked}.",
            )
        return found

    def _check_enrollee(self, template: Template, requester: str) -> None:
        # The template's Enroll permission (its kind's default unless set): without it,
        # CERTSRV_E_TEMPLATE_DENIED in the policy module's words.
        if not template.may_enroll(requester):
            raise policy_denial(CERTSRV_E_TEMPLATE_DENIED)

    def set_enroll_permission(self, name: str, principals: tuple[str, ...]) -> Template:
        """Grant Enroll on template ``name`` to ``principals`` only (empty: the kind's
        default), as the template's Security tab in certtmpl.msc does; kept in ca.json.
        CAError for an unknown template, ValueError for a principal the lab cannot judge."""
        with self._lock:
            found = self._find_template(name)
            if found is None:
                raise CAError(f"no template {name!r} is published on {self.config_string}")
            changed = dataclasses.replace(found, enroll=tuple(principals))
            self.templates[found.name] = changed
            write_public_file(self.state_dir / "ca.json", json.dumps(self._describe(), indent=2).encode())
        return changed

    def _subject_for(
        self, template: Template, request: x509.CertificateSigningRequest, requester: str
    ) -> tuple[x509.Name, list[x509.GeneralName]]:
        if template.subject_from_request:
            try:
                san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                alt_names = list(san.value)
            except x509.ExtensionNotFound:
                alt_names = []
            if len(request.subject) == 0 and not alt_names:
                raise policy_denial(CERTSRV_E_BAD_REQUESTSUBJECT)
            return request.subject, alt_names
        if template.machine_type:
            account = account_name(requester).rstrip("$").lower()
            dns_name = account if "." in account else f"{account}.{self.domain}"
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)])
            return subject, [x509.DNSName(dns_name)]
        account = account_name(requester)
        principal = f"{account}@{self.domain}"
        subject = x509.Name([
            *_domain_components(self.domain),
            x509.NameAttribute(NameOID.COMMON_NAME, "Users"),
            x509.NameAttribute(NameOID.COMMON_NAME, account),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, principal),
        ])
        return subject, [x509.OtherName(_OID_UPN, _der.utf8_string(principal)),
                         x509.RFC822Name(principal)]

    # -- issuing ---------------------------------------------------------------------

    def _sign(
        self,
        template: Template,
        public_key: CertificatePublicKeyTypes,
        subject: x509.Name,
        alt_names: list[x509.GeneralName],
        moment: datetime,
    ) -> x509.Certificate:
        ca_not_before = self.certificate.not_valid_before_utc
        ca_not_after = self.certificate.not_valid_after_utc
        if moment < ca_not_before:
            raise CAError(
                f"the CA certificate of {self.common_name} is not valid before {ca_not_before:%Y-%m-%d};"
                " AD CS does not issue with a CA certificate that is not yet valid"
            )
        if moment >= ca_not_after:
            raise CAError(
                f"the CA certificate of {self.common_name} expired on {ca_not_after:%Y-%m-%d};"
                " AD CS does not issue with an expired CA certificate"
            )
        issuer_ski = self.certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(_serial_number())
            .not_valid_before(max(moment - _BACKDATE, ca_not_before))
            .not_valid_after(min(moment + template.validity, ca_not_after))
            .add_extension(template.template_extension(), critical=False)
            .add_extension(template.key_usage_extension(), critical=True)
            .add_extension(template.extended_key_usage_extension(), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
                critical=False,
            )
            # Where AD CS publishes by default: CertEnroll/<CA name>.crl and
            # CertEnroll/<host>_<CA name>.crt on the CA host.
            .add_extension(
                _cdp(f"http://{self.host_fqdn}/CertEnroll/{self.common_name}.crl"),
                critical=False,
            )
            .add_extension(
                _aia(f"http://{self.host_fqdn}/CertEnroll/{self.host_fqdn}_{self.common_name}.crt"),
                critical=False,
            )
        )
        if alt_names:
            # RFC 5280: with an empty subject the SAN carries the identity, so critical.
            builder = builder.add_extension(
                x509.SubjectAlternativeName(alt_names), critical=len(subject) == 0)
        return builder.sign(self._key, hashes.SHA256())

    def _issue_https_certificate(self, key: rsa.RSAPrivateKey) -> x509.Certificate:
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.host_fqdn)]))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(self.host_fqdn),
                # Clients reach the lab on 127.0.0.1 and check the name they dialled.
                x509.IPAddress(_LOOPBACK),
            ]), critical=False)
            .sign(key, hashes.SHA256())
        )
        host = self.host_fqdn.split(".")[0].upper()
        result = self.submit(csr, template="WebServer", requester=f"{self.netbios_domain}\\{host}$")
        if result.certificate is None:
            raise CAError(f"the CA denied its own HTTPS certificate: {result.message}")
        return result.certificate

    def _describe(self) -> dict[str, Any]:
        return {
            "format": _STATE_FORMAT,
            "version": _STATE_VERSION,
            "common_name": self.common_name,
            "host_fqdn": self.host_fqdn,
            "config_string": self.config_string,
            "root_common_name": self.root_common_name,
            "renewals": self.renewals,
            "templates": [template.to_dict() for template in self.templates.values()],
        }


# -- CA certificates ----------------------------------------------------------------------

_LOOPBACK = ipaddress.ip_address("127.0.0.1")


def _cdp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None, reasons=None, crl_issuer=None,
    )])


def _aia(url: str) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess([x509.AccessDescription(
        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(url),
    )])


def _ca_builder(
    subject: x509.Name, issuer: x509.Name, public_key: CertificatePublicKeyTypes, moment: datetime,
    validity: timedelta, path_length: int | None,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(_serial_number())
        .not_valid_before(moment - _BACKDATE)
        .not_valid_after(moment + validity)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        # CA Version 0.0: the CA certificate has not been renewed (nRenewals = 0).
        .add_extension(x509.UnrecognizedExtension(OID_CA_VERSION, _der.integer(0)), critical=False)
    )


def _self_signed_ca(
    key: rsa.RSAPrivateKey, subject: x509.Name, moment: datetime, validity: timedelta
) -> x509.Certificate:
    builder = _ca_builder(subject, subject, key.public_key(), moment, validity, None)
    return builder.sign(key, hashes.SHA256())


def _subordinate_ca(
    public_key: rsa.RSAPublicKey,
    subject: x509.Name,
    root: x509.Certificate,
    root_key: rsa.RSAPrivateKey,
    moment: datetime,
    host_fqdn: str,
    root_common_name: str,
) -> x509.Certificate:
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        _ca_builder(subject, root.subject, public_key, moment, _ISSUING_VALIDITY, 0)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        # An offline root publishes its CRL and certificate where clients can reach
        # them: the issuing CA host's CertEnroll folder.
        .add_extension(_cdp(f"http://{host_fqdn}/CertEnroll/{root_common_name}.crl"),
                       critical=False)
        .add_extension(_aia(f"http://{host_fqdn}/CertEnroll/{root_common_name}.crt"),
                       critical=False)
    )
    return builder.sign(root_key, hashes.SHA256())


# -- state files ----------------------------------------------------------------------------

def _checked_now(clock: Clock) -> datetime:
    moment = clock()
    if moment.tzinfo is None:
        raise CAError("the CA's clock must return timezone-aware datetimes (UTC)")
    return moment


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CAStateError(f"{path}: missing from the CA state folder") from None
    except OSError as exc:
        raise CAStateError(f"{path}: cannot be read ({exc.strerror})") from exc


def _read_description(path: Path) -> dict[str, Any]:
    try:
        description = json.loads(_read_bytes(path))
    except ValueError as exc:  # includes JSONDecodeError and undecodable bytes
        raise CAStateError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(description, dict) or description.get("format") != _STATE_FORMAT:
        raise CAStateError(f"{path}: not a description of this CA stand-in")
    if description.get("version") != _STATE_VERSION:
        raise CAStateError(
            f"{path}: state version {description.get('version')!r}, this code reads "
            f"version {_STATE_VERSION}"
        )
    return description


def _read_key(path: Path) -> CertificateIssuerPrivateKeyTypes:
    # OpenSSL's full RSA key check costs ~35 ms a key on every start of the lab; the CA wrote
    # these files itself, and _check_pair proves the private half with a signature instead.
    try:
        key = serialization.load_pem_private_key(
            _read_bytes(path), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CAStateError(f"{path}: not a readable unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise CAStateError(f"{path}: holds a {type(key).__name__}, not an RSA or EC key")
    return key


def _read_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_read_bytes(path))
    except ValueError as exc:
        raise CAStateError(f"{path}: not a readable PEM certificate ({exc})") from exc


def _check_pair(
    key: CertificateIssuerPrivateKeyTypes, certificate: x509.Certificate,
    key_path: Path, cert_path: Path,
) -> None:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        raise CAStateError(f"{key_path}: does not match the certificate in {cert_path}")
    # A damaged private part (the public numbers intact) would sign garbage: one signature,
    # checked with the certificate's public key, proves the pair as a whole.
    probe = b"ucclab CA key check"
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(probe, padding.PKCS1v15(), hashes.SHA256())
            certificate.public_key().verify(signature, probe, padding.PKCS1v15(), hashes.SHA256())
        else:
            signature = key.sign(probe, ec.ECDSA(hashes.SHA256()))
            certificate.public_key().verify(signature, probe, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise CAStateError(f"{key_path}: a damaged private key (its signatures do not verify)") from exc
