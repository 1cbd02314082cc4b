"""What the event log says about a certificate, and a certificate's names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["certificate_names", "common_names", "describe_certificate", "dns_names", "matching_peer"]

# Short names as OpenSSL and the Windows certificate UI spell the usual EKUs.
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
    x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.4"): "encryptedFileSystem",
}


def common_names(certificate: x509.Certificate) -> list[str]:
    """The subject's common names (CN), in order."""
    return [str(attribute.value)
            for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def dns_names(certificate: x509.Certificate) -> list[str]:
    """The DNS names of the subject alternative name extension, in order."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return san.value.get_values_for_type(x509.DNSName)


def _ekus(certificate: x509.Certificate) -> list[str] | None:
    """EKU names, or None when the certificate has no EKU extension (any use allowed)."""
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return None
    return [_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku.value]


def describe_certificate(certificate: x509.Certificate) -> dict[str, Any]:
    """JSON-ready facts about one certificate, as the event log records them."""
    return {
        "subject": certificate.subject.rfc4514_string(),
        "common_names": common_names(certificate),
        "dns_names": dns_names(certificate),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial": format(certificate.serial_number, "x"),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "ekus": _ekus(certificate),
    }


def certificate_names(certificate: x509.Certificate) -> list[str]:
    """The names Lync matches against its topology: subject CN(s), then DNS SANs (each
    name once)."""
    return list(dict.fromkeys([*common_names(certificate), *dns_names(certificate)]))


def matching_peer(names: Iterable[str], known_peers: Sequence[str]) -> str | None:
    """The known peer FQDN one of ``names`` equals (case-insensitive, no wildcards), or None
    (the Front End matches its MTLS peers with :meth:`Topology.match`, which looks at the
    subject CN only)."""
    wanted = {peer.lower().rstrip("."): peer for peer in known_peers}
    for name in names:
        found = wanted.get(name.lower().rstrip("."))
        if found is not None:
            return found
    return None
