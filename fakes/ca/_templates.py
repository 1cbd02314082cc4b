"""Certificate templates, as an enterprise AD CS CA knows them.

A template decides what the issued certificate says, not the request: the CA copies the
template's extended key usages and key usage into the certificate *whatever the CSR
asks for* (a CSR asking ``clientAuth`` from "Web Server" still gets ``serverAuth``
only). That one rule explains a real trap of the page: a Front End certificate made from
"Web Server" cannot act as a TLS *client* certificate.

The four templates published on the lab CA are the defaults of a Windows Server CA,
plus the copy of "Web Server" that the page's CA Web Access procedure asks for:

===================  =======================  ================================  ========  ======
cn (``name``)        display name             extended key usages               validity  export
===================  =======================  ================================  ========  ======
WebServer            Web Server               serverAuth                        2 years   no
User                 User                     EFS, emailProtection, clientAuth  1 year    yes
Machine              Computer                 clientAuth, serverAuth            1 year    no
WebServerExportable  Web Server (Exportable)  serverAuth                        2 years   yes
===================  =======================  ================================  ========  ======

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

__all__ = [
    "DEFAULT_TEMPLATES",
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

    def __post_init__(self) -> None:
        unknown = set(self.key_usage) - set(_KEY_USAGE_FLAGS)
        if unknown:
            raise ValueError(
                f"template {self.name!r}: unknown key usage flag(s) {sorted(unknown)}; "
                f"use names among {list(_KEY_USAGE_FLAGS)}"
            )

    @property
    def schema_version(self) -> int:
        """1 for the built-in version 1 templates, 2 for a template with its own OID."""
        return 1 if self.oid is None else 2

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
