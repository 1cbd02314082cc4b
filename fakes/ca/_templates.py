"""Certificate templates, as an enterprise AD CS CA knows them.

A template decides what the issued certificate says, not the request: the CA copies the
template's extended key usages and key usage into the certificate *whatever the CSR
asks for* (a CSR asking ``clientAuth`` from "Web Server" still gets ``serverAuth``
only). That one rule explains a real trap of the page: a Front End certificate made from
"Web Server" cannot act as a TLS *client* certificate.

The templates published on the lab CA are the defaults of a Windows Server CA, the copy
of "Web Server" that the page's CA Web Access procedure asks for, and two copies made the
ways a customer's administrator also makes them:

=========================  ========================================  =======  ================  =====  =======
cn (``name``)              display name                              schema   EKU               valid  export
=========================  ========================================  =======  ================  =====  =======
WebServer                  Web Server                                1        serverAuth        2 y    no
User                       User                                      1        EFS, email, cli.  1 y    yes
Machine                    Computer                                  1        cli., serverAuth  1 y    no
WebServerExportable        Web Server (Exportable)                   2        serverAuth        2 y    yes
WebServerApproval          Web Server (CA Manager Approval)          2        serverAuth        2 y    yes
WebServerExportable2016    Web Server (Exportable, Windows Server    4        serverAuth        2 y    yes
                           2016)
=========================  ========================================  =======  ================  =====  =======

``WebServerApproval`` has "CA certificate manager approval" ticked (``msPKI-Enrollment-Flag``
``CT_FLAG_PEND_ALL_REQUESTS``, 0x2): its requests wait, "Taken Under Submission", until a
CA manager issues or denies them. ``WebServerExportable2016`` is the page's copy made with
certtmpl.msc's Compatibility tab set to Windows Server 2012 or later, which saves the
template as schema version 4: certsrv's advanced request page does not list it (see
:attr:`Template.web_enrollment`), while the Management Shell and the MMC can still use it.

Sources (attributes as ``certutil -dstemplate`` and LDAP dumps of default templates show
them in public material): WebServer ``pKIExtendedKeyUsage`` 1.3.6.1.5.5.7.3.1,
``msPKI-Private-Key-Flag`` 0, ``msPKI-Certificate-Name-Flag`` 1 (enrollee supplies the
subject); User: Client Authentication, Encrypting File System, Secure Email, 1 year, its
subject and SAN built from the directory (``SUBJECT_REQUIRE_DIRECTORY_PATH``,
``SUBJECT_ALT_REQUIRE_UPN``/``_EMAIL``) and ``CT_FLAG_EXPORTABLE_KEY`` (0x10) set;
``pKIKeyUsage`` ``a0 00`` (digital signature, key encipherment) for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from . import _der
from ._policy import account_name, is_computer

__all__ = [
    "DEFAULT_TEMPLATES",
    "ENROLL_GROUPS",
    "OID_CA_VERSION",
    "OID_ENCRYPTING_FILE_SYSTEM",
    "OID_ENROLL_CERTTYPE",
    "Template",
    "template_of",
]

#: Microsoft's Encrypting File System key purpose (szOID_KP_EFS).
OID_ENCRYPTING_FILE_SYSTEM = x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.4")
#: szOID_ENROLL_CERTTYPE_EXTENSION: the name of a version 1 template, as a BMPString.
OID_ENROLL_CERTTYPE = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2")
#: szOID_CERTSRV_CA_VERSION: put in CA certificates; 0 = no renewal yet.
OID_CA_VERSION = x509.ObjectIdentifier("1.3.6.1.4.1.311.21.1")

#: The groups whose members the lab knows, for a template's Enroll permission.
ENROLL_GROUPS = ("Authenticated Users", "Domain Users", "Domain Computers")

# Revision a template duplicated in certtmpl.msc carries once saved (major 100, minor 2).
_DUPLICATE_REVISION = (100, 2)

_KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


@dataclass(frozen=True)
class Template:
    """One certificate template published on the CA.

    ``key_usage`` holds the names of :class:`cryptography.x509.KeyUsage` flags that are
    set (``{"digital_signature", "key_encipherment"}``). ``machine_type`` is AD CS's
    ``CT_FLAG_MACHINE_TYPE``: the enrollee is a computer, the subject is built from its
    DNS name, and web enrollment does not offer the template to users. ``oid`` is set for
    version 2+ templates (any duplicate made in certtmpl.msc); version 1 templates are
    identified by name only.

    ``schema_version`` is ``msPKI-Template-Schema-Version`` ([MS-CRTD] 2.16): 1 for the
    built-in version 1 templates, 2 to 4 for duplicates (certtmpl.msc saves 2 with the
    Compatibility tab at Windows Server 2003, 3 at 2008/2008 R2, 4 at 2012 and later —
    the snap-in's behaviour as administrators describe it, assumed); left at 0 it is
    derived, 1 without an OID and 2 with one. ``requires_approval`` is "CA
    certificate manager approval" (``msPKI-Enrollment-Flag`` ``CT_FLAG_PEND_ALL_REQUESTS``,
    0x2, [MS-CRTD] 2.26): requests wait for a CA manager.

    ``enroll`` is who holds Enroll on the template's Security tab: groups among
    :data:`ENROLL_GROUPS` or accounts written ``COMPANYA\\name``. Empty means the default the
    lab gives each kind: Domain Computers for computer templates, Domain Users for user
    templates, both for templates whose subject comes from the request (Windows' own
    default for "Web Server" is Domain Admins and Enterprise Admins, whose members the lab
    does not model).
    """

    name: str
    display_name: str
    extended_key_usages: tuple[x509.ObjectIdentifier, ...]
    key_usage: frozenset[str]
    allow_private_key_export: bool
    subject_from_request: bool
    validity: timedelta
    minimum_key_size: int = 2048
    machine_type: bool = False
    oid: str | None = None
    schema_version: int = 0
    requires_approval: bool = False
    enroll: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.key_usage) - set(_KEY_USAGE_FLAGS)
        if unknown:
            raise ValueError(
                f"template {self.name!r}: unknown key usage flag(s) {sorted(unknown)}; "
                f"use names among {list(_KEY_USAGE_FLAGS)}"
            )
        if self.schema_version == 0:  # frozen: set the derived value the dataclass way
            object.__setattr__(self, "schema_version", 1 if self.oid is None else 2)
        if self.schema_version not in (1, 2, 3, 4):
            raise ValueError(f"template {self.name!r}: schema version {self.schema_version} is not 1 to 4")
        if (self.schema_version == 1) != (self.oid is None):
            raise ValueError(
                f"template {self.name!r}: a version 1 template has no OID and a version 2+ template has one"
            )
        groups = {group.casefold() for group in ENROLL_GROUPS}
        for principal in self.enroll:
            known_group = isinstance(principal, str) and principal.casefold() in groups
            account = isinstance(principal, str) and "\\" in principal and all(
                part.strip() for part in principal.split("\\", 1))
            if not (known_group or account):
                raise ValueError(
                    f"template {self.name!r}: {principal!r} is neither a group whose members the lab knows"
                    f" ({', '.join(ENROLL_GROUPS)}) nor an account written DOMAIN\\name")

    @property
    def enrollees(self) -> tuple[str, ...]:
        """Who holds Enroll: :attr:`enroll`, or the kind's default when that is empty."""
        if self.enroll:
            return self.enroll
        if self.subject_from_request:
            return ("Domain Users", "Domain Computers")
        return ("Domain Computers",) if self.machine_type else ("Domain Users",)

    def may_enroll(self, requester: str) -> bool:
        """Whether ``requester`` (``COMPANYA\\jdoe``, ``COMPANYA\\FE01$``) holds Enroll."""
        computer = is_computer(requester)
        account = account_name(requester).casefold()
        for principal in self.enrollees:
            group = principal.casefold()
            if group == "authenticated users" or (group == "domain users" and not computer) \
                    or (group == "domain computers" and computer):
                return True
            if "\\" in principal and account_name(principal).casefold() == account:
                return True
        return False

    @property
    def web_enrollment(self) -> bool:
        """Whether certsrv's advanced request page lists this template.

        Users only (computer templates are for the machine's own enrollment), and schema
        versions 1 and 2 only. Assumed: no Microsoft document says so; administrators widely
        report that a duplicate saved with Windows Server 2008+ compatibility (version 3 or
        4) is missing from the page's list while the MMC offers it (Microsoft documents that
        version 3 templates need Windows Server 2008/Vista-era clients: "Certificate Template
        Versions", learn.microsoft.com cc725838). Requests naming such a template in their
        attributes are still served: the list is the page's, the policy is the CA's.
        """
        return not self.machine_type and self.schema_version <= 2

    def key_usage_extension(self) -> x509.KeyUsage:
        """The KeyUsage extension every certificate from this template carries."""
        return x509.KeyUsage(**{flag: flag in self.key_usage for flag in _KEY_USAGE_FLAGS})

    def extended_key_usage_extension(self) -> x509.ExtendedKeyUsage:
        """The ExtendedKeyUsage extension every certificate from this template carries."""
        return x509.ExtendedKeyUsage(list(self.extended_key_usages))

    def template_extension(self) -> x509.UnrecognizedExtension | x509.MSCertificateTemplate:
        """The extension that names the template in an issued certificate.

        Version 1: szOID_ENROLL_CERTTYPE_EXTENSION, a BMPString of the template name
        (Windows shows it as "Certificate Template Name"). Version 2+:
        szOID_CERTIFICATE_TEMPLATE (1.3.6.1.4.1.311.21.7), the template's OID and
        revision ("Certificate Template Information"), which cryptography models as
        :class:`~cryptography.x509.MSCertificateTemplate`.
        """
        if self.oid is None:
            return x509.UnrecognizedExtension(OID_ENROLL_CERTTYPE, _der.bmp_string(self.name))
        major, minor = _DUPLICATE_REVISION
        return x509.MSCertificateTemplate(x509.ObjectIdentifier(self.oid), major, minor)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, stored in the CA's state so a reopened CA has it."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "extended_key_usages": [oid.dotted_string for oid in self.extended_key_usages],
            "key_usage": sorted(self.key_usage),
            "allow_private_key_export": self.allow_private_key_export,
            "subject_from_request": self.subject_from_request,
            "validity_seconds": int(self.validity.total_seconds()),
            "minimum_key_size": self.minimum_key_size,
            "machine_type": self.machine_type,
            "oid": self.oid,
            "schema_version": self.schema_version,
            "requires_approval": self.requires_approval,
            "enroll": list(self.enroll),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Template:
        """Inverse of :meth:`to_dict`; raises KeyError/TypeError/ValueError on bad input."""
        return cls(
            name=str(data["name"]),
            display_name=str(data["display_name"]),
            extended_key_usages=tuple(
                x509.ObjectIdentifier(oid) for oid in data["extended_key_usages"]
            ),
            key_usage=frozenset(data["key_usage"]),
            allow_private_key_export=bool(data["allow_private_key_export"]),
            subject_from_request=bool(data["subject_from_request"]),
            validity=timedelta(seconds=int(data["validity_seconds"])),
            minimum_key_size=int(data["minimum_key_size"]),
            machine_type=bool(data["machine_type"]),
            oid=data["oid"],
            # Absent from state written before these were kept: derived, and no approval.
            schema_version=int(data.get("schema_version", 0)),
            requires_approval=bool(data.get("requires_approval", False)),
            enroll=tuple(data.get("enroll", ())),
        )


_SIGN_AND_ENCIPHER = frozenset({"digital_signature", "key_encipherment"})

# A made-up forest arc for the lab's own template OIDs, shaped like the real ones
# (1.3.6.1.4.1.311.21.8.<forest-specific numbers>.<template numbers>).
_LAB_TEMPLATE_ARC = "1.3.6.1.4.1.311.21.8.6315731.12804405.2750293.14690218.9403277.213"

DEFAULT_TEMPLATES: dict[str, Template] = {
    template.name: template
    for template in (
        Template(
            name="WebServer",
            display_name="Web Server",
            extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
            key_usage=_SIGN_AND_ENCIPHER,
            allow_private_key_export=False,
            subject_from_request=True,
            validity=timedelta(days=2 * 365),
        ),
        Template(
            name="User",
            display_name="User",
            extended_key_usages=(
                OID_ENCRYPTING_FILE_SYSTEM,
                ExtendedKeyUsageOID.EMAIL_PROTECTION,
                ExtendedKeyUsageOID.CLIENT_AUTH,
            ),
            key_usage=_SIGN_AND_ENCIPHER,
            allow_private_key_export=True,
            subject_from_request=False,
            validity=timedelta(days=365),
        ),
        Template(
            name="Machine",
            display_name="Computer",
            extended_key_usages=(ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH),
            key_usage=_SIGN_AND_ENCIPHER,
            allow_private_key_export=False,
            subject_from_request=False,
            validity=timedelta(days=365),
            machine_type=True,
        ),
        # The page's "copy of the Web Server template ... adding permission to export
        # Private keys": a duplicate, hence a version 2 template with its own OID.
        Template(
            name="WebServerExportable",
            display_name="Web Server (Exportable)",
            extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
            key_usage=_SIGN_AND_ENCIPHER,
            allow_private_key_export=True,
            subject_from_request=True,
            validity=timedelta(days=2 * 365),
            oid=f"{_LAB_TEMPLATE_ARC}.4097218.1",
        ),
        # The same copy with "CA certificate manager approval" ticked on the Issuance
        # Requirements tab: issued only once a CA manager approves the request.
        Template(
            name="WebServerApproval",
            display_name="Web Server (CA Manager Approval)",
            extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
            key_usage=_SIGN_AND_ENCIPHER,
            allow_private_key_export=True,
            subject_from_request=True,
            validity=timedelta(days=2 * 365),
            oid=f"{_LAB_TEMPLATE_ARC}.4097218.2",
            requires_approval=True,
        ),
        # The page's copy made with today's certtmpl.msc defaults for a 2016 CA: schema
        # version 4, which web enrollment does not list.
        Template(
            name="WebServerExportable2016",
            display_name="Web Server (Exportable, Windows Server 2016)",
            extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
            key_usage=_SIGN_AND_ENCIPHER,
            allow_private_key_export=True,
            subject_from_request=True,
            validity=timedelta(days=2 * 365),
            oid=f"{_LAB_TEMPLATE_ARC}.4097218.3",
            schema_version=4,
        ),
    )
}


def template_of(
    certificate: x509.Certificate, templates: Mapping[str, Template] = DEFAULT_TEMPLATES
) -> Template | None:
    """The template a certificate was issued from, read from its template extension.

    Returns None for a certificate that names no template, or one that is not in
    ``templates`` (another CA's, or a revision this lab does not know).
    """
    try:
        named = certificate.extensions.get_extension_for_oid(OID_ENROLL_CERTTYPE).value
    except x509.ExtensionNotFound:
        named = None
    try:
        identified = certificate.extensions.get_extension_for_class(
            x509.MSCertificateTemplate).value
    except x509.ExtensionNotFound:
        identified = None
    for template in templates.values():
        if template.oid is None and named == template.template_extension():
            return template
        if identified is not None and identified.template_id.dotted_string == template.oid:
            return template
    return None
