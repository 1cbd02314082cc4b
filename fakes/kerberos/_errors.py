"""Errors of the Kerberos layer, numbered as RFC 4120 §7.5.9 numbers them.

A :class:`KerberosError` carries the protocol error code a real implementation would put
in a KRB-ERROR (or that a KRB-ERROR it received carried), its RFC 4120 name and a text for
people. The KDC answers with the code, the acceptor reports it, the client raises what the
KDC sent: one vocabulary on every side of the wire.
"""

from __future__ import annotations

from enum import IntEnum

from impacket.krb5.constants import ERROR_MESSAGES

__all__ = [
    "ErrorCode",
    "KerberosError",
    "DecodeError",
    "IntegrityError",
    "KdcUnreachableError",
    "error_name",
    "error_text",
]


class ErrorCode(IntEnum):
    """The RFC 4120 §7.5.9 error codes this package produces or reports by name."""

    KDC_ERR_NONE = 0
    KDC_ERR_NAME_EXP = 1
    KDC_ERR_C_PRINCIPAL_UNKNOWN = 6
    KDC_ERR_S_PRINCIPAL_UNKNOWN = 7
    KDC_ERR_PRINCIPAL_NOT_UNIQUE = 8
    KDC_ERR_CANNOT_POSTDATE = 10
    KDC_ERR_NEVER_VALID = 11
    KDC_ERR_POLICY = 12
    KDC_ERR_BADOPTION = 13
    KDC_ERR_ETYPE_NOSUPP = 14
    KDC_ERR_SUMTYPE_NOSUPP = 15
    KDC_ERR_PADATA_TYPE_NOSUPP = 16
    KDC_ERR_CLIENT_REVOKED = 18
    KDC_ERR_KEY_EXPIRED = 23
    KDC_ERR_PREAUTH_FAILED = 24
    KDC_ERR_PREAUTH_REQUIRED = 25
    KRB_AP_ERR_BAD_INTEGRITY = 31
    KRB_AP_ERR_TKT_EXPIRED = 32
    KRB_AP_ERR_TKT_NYV = 33
    KRB_AP_ERR_REPEAT = 34
    KRB_AP_ERR_NOT_US = 35
    KRB_AP_ERR_BADMATCH = 36
    KRB_AP_ERR_SKEW = 37
    KRB_AP_ERR_MSG_TYPE = 40
    KRB_AP_ERR_MODIFIED = 41
    KRB_AP_ERR_NOKEY = 45
    KRB_AP_ERR_INAPP_CKSUM = 50
    KRB_ERR_RESPONSE_TOO_BIG = 52
    KRB_ERR_GENERIC = 60
    KRB_ERR_FIELD_TOOLONG = 61
    KDC_ERR_WRONG_REALM = 68


def error_name(code: int) -> str:
    """RFC 4120 name of an error code (``KRB_ERR_<code>`` for codes it does not define)."""
    entry = ERROR_MESSAGES.get(code)
    return entry[0] if entry else f"KRB_ERR_{code}"


def error_text(code: int) -> str:
    """RFC 4120's one-line meaning of an error code (as Java and impacket print it)."""
    entry = ERROR_MESSAGES.get(code)
    return entry[1] if entry else f"Kerberos error {code}"


class KerberosError(Exception):
    """A Kerberos protocol error: ``code`` (RFC 4120 §7.5.9), ``name`` and ``text``.

    ``text`` says what went wrong in this case ("the ticket was issued for
    sip/fe02.companya.com"); ``str(error)`` reads like Java's messages:
    ``Clock skew too great (37): <text>``. ``e_data`` is the KRB-ERROR's e-data, when the
    error is one a KDC sent (or will send) with some: AD puts an NTSTATUS there
    (:func:`~fakes.kerberos.decode_kerb_ext_error`).
    """

    def __init__(self, code: int, text: str = "", *, e_data: bytes | None = None) -> None:
        self.code = int(code)
        self.name = error_name(self.code)
        self.text = text or error_text(self.code)
        self.e_data = e_data
        super().__init__(self.code, self.name, self.text)

    def __str__(self) -> str:
        meaning = error_text(self.code)
        if self.text == meaning:
            return f"{meaning} ({self.code})"
        return f"{meaning} ({self.code}): {self.text}"


class DecodeError(KerberosError):
    """Bytes that are not the Kerberos message they should be (bad DER, wrong tag, truncated).

    Code ``KRB_ERR_GENERIC`` (60); a KDC drops such packets rather than answering them,
    as MIT's ``krb5kdc`` does.
    """

    def __init__(self, text: str) -> None:
        super().__init__(ErrorCode.KRB_ERR_GENERIC, text)


class IntegrityError(KerberosError):
    """A ciphertext or checksum that does not verify with the key at hand.

    Code ``KRB_AP_ERR_BAD_INTEGRITY`` (31); callers that know better re-raise with the code
    their protocol step calls for (a ticket the service cannot decrypt is
    ``KRB_AP_ERR_MODIFIED``, a wrong password in PA-ENC-TIMESTAMP is
    ``KDC_ERR_PREAUTH_FAILED``).
    """

    def __init__(self, text: str = "ciphertext integrity failure") -> None:
        super().__init__(ErrorCode.KRB_AP_ERR_BAD_INTEGRITY, text)


class KdcUnreachableError(ConnectionError):
    """No KDC of the realm answered (MIT: "Cannot contact any KDC for realm 'R'")."""
