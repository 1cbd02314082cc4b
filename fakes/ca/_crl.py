"""Revocation as AD CS does it: certutil's serial numbers and reason codes, and base CRLs.

No I/O and no clock of its own: the CA passes the moment in and writes the bytes out.

Rule 1 — serial numbers are hexadecimal text as certutil prints them and
``certutil -revoke`` takes them: "plain hexadecimal digits (no leading 0x)" ([MS-CSRA]
3.1.4.1.8, RevokeCertificate). Spaces between byte pairs (certutil -dump's
``Serial Number: 1a 00 ...``) and either case are accepted; the lab's canonical form is
lowercase with an even number of digits.

Rule 2 — reasons are certutil -revoke's codes (``certutil -?``, MicrosoftDocs
windowsserverdocs ``certutil.md``): 0 Unspecified (the default), 1 Key Compromise, 2 CA
Compromise, 3 Affiliation Changed, 4 Superseded, 5 Cessation of Operation, 6
Certificate Hold, 8 Remove From CRL, 9 Privilege Withdrawn, 10 AA Compromise, and -1
Unrevoke ("Released from hold", 0xffffffff in [MS-CSRA] 3.1.4.1.8). Only a certificate
on hold can be released: "if a certificate has been revoked with any reason code other
than CRL_REASON_CERTIFICATE_HOLD, it cannot be reinstated" (ICertAdmin::RevokeCertificate,
learn.microsoft.com). Reason 8 is taken as RFC 5280 5.3.1 defines removeFromCRL — the
certificate comes off the CRL — so it releases a hold like -1 (assumed: no Microsoft text
says what the CA does with it).

Rule 3 — a base CRL is valid for the CRL period (AD CS's default: one week) plus an
overlap of 10 % of the period, at most 12 hours (learn.microsoft.com dd379541, the AD CS
Best Practices Analyzer's "CRL validity period" rule, and Microsoft's CA help, cc731104).
It carries the time of the next scheduled publication (Next CRL Publish,
1.3.6.1.4.1.311.21.4) — the end of the period — and, like AD CS's CRLs, the CA Version
(1.3.6.1.4.1.311.21.1), the CRL Number and the Authority Key Identifier. thisUpdate is set
back by the CA's clock-skew allowance (10 minutes, as for certificates) and nextUpdate
pushed on by as much (assumed: the same ClockSkewMinutes AD CS applies to certificates).
No delta CRLs are published, so no Freshest CRL extension (assumed simplification).

Rule 4 — an entry has the serial number and revocation date, and a reasonCode extension
unless the reason is Unspecified: RFC 5280 5.3.1 says the extension "SHOULD be absent
instead of using the unspecified (0) reasonCode value" (assumed to be what AD CS does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
)

from . import _der
from ._database import serial_text
from ._errors import CAError
from ._templates import OID_CA_VERSION

__all__ = [
    "E_INVALIDARG",
    "OID_NEXT_CRL_PUBLISH",
    "REVOCATION_REASONS",
    "UNREVOKE",
    "CertutilError",
    "CrlSchedule",
    "CrlTimes",
    "RevokedEntry",
    "build_crl",
    "parse_reason",
    "parse_serial",
    "reason_name",
    "releases_hold",
]

#: szOID_CRL_NEXT_PUBLISH: when the CA will publish its next CRL.
OID_NEXT_CRL_PUBLISH = x509.ObjectIdentifier("1.3.6.1.4.1.311.21.4")

#: certutil's "Unrevoke" (RevokeCertificate's 0xffffffff, "Released from hold").
UNREVOKE = -1
CERTIFICATE_HOLD = 6
REMOVE_FROM_CRL = 8

#: Reason code → (certutil -? symbol, the words certutil shows).
REVOCATION_REASONS: dict[int, tuple[str, str]] = {
    0: ("CRL_REASON_UNSPECIFIED", "Unspecified"),
    1: ("CRL_REASON_KEY_COMPROMISE", "Key Compromise"),
    2: ("CRL_REASON_CA_COMPROMISE", "CA Compromise"),
    3: ("CRL_REASON_AFFILIATION_CHANGED", "Affiliation Changed"),
    4: ("CRL_REASON_SUPERSEDED", "Superseded"),
    5: ("CRL_REASON_CESSATION_OF_OPERATION", "Cessation of Operation"),
    CERTIFICATE_HOLD: ("CRL_REASON_CERTIFICATE_HOLD", "Certificate Hold"),
    REMOVE_FROM_CRL: ("CRL_REASON_REMOVE_FROM_CRL", "Remove From CRL"),
    9: ("CRL_REASON_PRIVILEGE_WITHDRAWN", "Privilege Withdrawn"),
    10: ("CRL_REASON_AA_COMPROMISE", "AA Compromise"),
    UNREVOKE: ("Unrevoke", "Unrevoke"),
}

# cryptography's names for the reasons a CRL entry carries (RFC 5280 5.3.1).
_REASON_FLAGS: dict[int, x509.ReasonFlags] = {
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    CERTIFICATE_HOLD: x509.ReasonFlags.certificate_hold,
    9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}

#: E_INVALIDARG, as certutil shows a value it cannot use.
E_INVALIDARG = 0x80070057
_INVALID_ARGUMENT = "The parameter is incorrect. 0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)"


class CertutilError(CAError):
    """A CA manager's command refused (``certutil -revoke``, ``-resubmit``, ``-deny``):
    ``status`` is the HRESULT, the message says it as certutil does and names what was
    wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _squeezed(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


_REASON_BY_NAME: dict[str, int] = {}
for _code, (_symbol, _words) in REVOCATION_REASONS.items():
    _REASON_BY_NAME[_squeezed(_symbol)] = _code
    _REASON_BY_NAME[_squeezed(_symbol).removeprefix("crlreason")] = _code
    _REASON_BY_NAME[_squeezed(_words)] = _code
_REASON_BY_NAME["releasedfromhold"] = UNREVOKE


def parse_reason(value: object) -> int:
    """A reason code from what certutil takes: a number (``1``, ``"1"``, ``-1``,
    ``0xffffffff``) or a name in any of its spellings (``"CRL_REASON_KEY_COMPROMISE"``,
    ``"KeyCompromise"``, ``"Key Compromise"``, ``"key_compromise"``, ``"Unrevoke"``).

    Raises :class:`CertutilError` (E_INVALIDARG) naming the value otherwise.
    """
    code: int | None = None
    if isinstance(value, bool):  # a JSON true/false is not a reason
        code = None
    elif isinstance(value, int):
        code = value
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?[0-9]{1,10}", text):
            code = int(text)
        elif re.fullmatch(r"0[xX][0-9a-fA-F]{1,8}", text):
            code = int(text, 16)
        else:
            code = _REASON_BY_NAME.get(_squeezed(text))
    if code == 0xFFFFFFFF:
        code = UNREVOKE
    if code is None or code not in REVOCATION_REASONS:
        known = ", ".join(f"{c} {words}" for c, (_, words) in REVOCATION_REASONS.items())
        raise CertutilError(E_INVALIDARG, f"{_INVALID_ARGUMENT}: the reason {value!r} is none of {known}")
    return code


def reason_name(code: int) -> str:
    """``1`` → ``"CRL_REASON_KEY_COMPROMISE"``."""
    return REVOCATION_REASONS[code][0]


def releases_hold(code: int) -> bool:
    """Whether this reason takes a certificate on hold off the CRL (Rule 2)."""
    return code in (UNREVOKE, REMOVE_FROM_CRL)


def parse_serial(text: object) -> str:
    """A serial number in certutil's hex, made canonical (Rule 1).

    ``"1A 00 00 0B"`` → ``"1a00000b"``; raises :class:`CertutilError` (E_INVALIDARG)
    for anything that is not hexadecimal digits.
    """
    if not isinstance(text, str):
        raise CertutilError(E_INVALIDARG, f"{_INVALID_ARGUMENT}: the serial number is text (hex digits), not {text!r}")
    digits = re.sub(r"\s", "", text)
    if not re.fullmatch(r"[0-9a-fA-F]{1,128}", digits):
        raise CertutilError(
            E_INVALIDARG,
            f"{_INVALID_ARGUMENT}: the serial number {text!r} is not hexadecimal digits "
            "(as certutil prints it, no 0x)")
    return serial_text(int(digits, 16))


@dataclass(frozen=True)
class CrlTimes:
    """The three times a base CRL states: thisUpdate, nextUpdate and Next CRL Publish."""

    this_update: datetime
    next_update: datetime
    next_publish: datetime


@dataclass(frozen=True)
class CrlSchedule:
    """How long a base CRL is valid (Rule 3); AD CS's defaults."""

    period: timedelta = timedelta(weeks=1)
    overlap_fraction: float = 0.10
    overlap_limit: timedelta = timedelta(hours=12)
    clock_skew: timedelta = timedelta(minutes=10)

    @property
    def overlap(self) -> timedelta:
        """10 % of the period, at most 12 hours."""
        return min(self.period * self.overlap_fraction, self.overlap_limit)

    def times(self, moment: datetime, *, next_update_offset: timedelta | None = None) -> CrlTimes:
        """The times of a CRL published at ``moment``.

        ``next_update_offset`` replaces the schedule's nextUpdate with ``moment`` plus the
        offset, and the next publication is then that nextUpdate too. A negative offset
        gives a CRL that has already expired, dated as the last CRL of a CA that stopped
        publishing would be: thisUpdate one whole validity before its nextUpdate.
        """
        validity = self.period + self.overlap + 2 * self.clock_skew
        if next_update_offset is not None:
            next_update = moment + next_update_offset
            this_update = next_update - validity if next_update <= moment else moment - self.clock_skew
            return CrlTimes(this_update, next_update, next_update)
        return CrlTimes(moment - self.clock_skew, moment - self.clock_skew + validity, moment + self.period)


@dataclass(frozen=True)
class RevokedEntry:
    """One CRL entry: the certificate's serial number, when and why it was revoked."""

    serial_number: int
    revoked_at: datetime
    reason: int


def build_crl(
    issuer: x509.Certificate,
    key: CertificateIssuerPrivateKeyTypes,
    *,
    number: int,
    entries: Iterable[RevokedEntry],
    times: CrlTimes,
    ca_version: int = 0,
) -> x509.CertificateRevocationList:
    """A base CRL of ``issuer`` signed with ``key`` (SHA-256, as the CA signs certificates)."""
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(times.this_update)
        .next_update(times.next_update)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
        .add_extension(x509.UnrecognizedExtension(OID_CA_VERSION, _der.integer(ca_version)), critical=False)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.UnrecognizedExtension(OID_NEXT_CRL_PUBLISH, _der.utc_time(times.next_publish)),
                       critical=False)
    )
    for entry in entries:
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial_number)
            .revocation_date(entry.revoked_at)
        )
        if entry.reason in _REASON_FLAGS:
            revoked = revoked.add_extension(x509.CRLReason(_REASON_FLAGS[entry.reason]), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    return builder.sign(key, hashes.SHA256())
