"""The connector's TLS/Kerberos login: krb5.conf as Java reads it, the KDC, MS-SIPAE, Java's words.

"Modifying Command Line Parameters for TLS" gives the connector ``-krb_conf_file`` (the
krb5.conf of "Creating the Configuration File for Kerberos security") and the JKS trust
store as ``-cert_store_file``/``-cert_store_pass``; "Creating a Password for Kerberos
Security" puts the OCS user's password in the Application object's ``Microsoft-OCS``
section, option ``password``. :class:`KerberosLogin` does with them what the Java
connector does (MS-SIPAE §4.2's flow):

1. TLS to the Front End, server authentication only (no client certificate), the Front
   End checked against the trust store and its FQDN;
2. ``REGISTER`` without credentials → ``401`` with the Kerberos challenge
   (``targetname="sip/<fqdn>"``);
3. JAAS-style login: krb5.conf's ``default_realm`` and the realm's ``kdc`` entries,
   ``allow_weak_crypto`` (JDK 17's default enctypes, or the weak ones too),
   ``udp_preference_limit``; AS exchange for the OCS user with the password, TGS exchange
   for the challenge's targetname;
4. ``REGISTER`` with ``Authorization: Kerberos ... gssapi-data=...`` (signed, version 4)
   → ``200`` whose ``rspauth`` is verified; then a signed ``OPTIONS`` to show the SA signs.

Where the principal comes from. The page stores only the password. This stand-in reads
the user from the same section, option ``user`` (:data:`OCS_USER_OPTION`: a
sAMAccountName such as ``ocs-ucc``, or ``name@REALM``); when it is absent it uses the
page's example account ``ocs-ucc`` (:data:`PAGE_OCS_USER`) and says so in a warning
finding (``ocs-user-missing``). ``UCConnector.login(principal=...)`` overrides both.
No public Genesys document at hand names the real option; this is the lab's assumption.

Java's texts, measured with OpenJDK 17 (``Krb5LoginModule`` then ``GSSContext.
initSecContext``) against the KDC stand-in:

=========================================  =====================================================
wrong password                             LoginException: Pre-authentication information was
                                           invalid (24)
unknown user                               LoginException: Client not found in Kerberos database (6)
SPN not registered                         GSSException: No valid credentials provided (Mechanism
                                           level: Server not found in Kerberos database (7))
DES-only account, no allow_weak_crypto     LoginException: KDC has no support for encryption type (14)
DES-only account on a DC without DES       the same, with allow_weak_crypto = true too (the KDC's
                                           policy, not the client's: event 14 in the DC's log)
default_tkt_enctypes lists only DES        LoginException: out of 1 default etypes no supported
(no allow_weak_crypto)                     etypes found for configuration default_tkt_enctypes
                                           (17.0.15; N counts every name listed, unknown ones
                                           too; earlier JDK 17 builds: "no supported default
                                           etypes for default_tkt_enctypes"); nothing is sent
account disabled, locked out or expired    LoginException: Clients credentials have been revoked (18)
"User must change password at next logon"  LoginException: Password has expired - change password
or an expired password                     to reset (23)
default_realm not served by the KDC        LoginException: null (68) — Java has no text for 68
realm missing from [realms]                LoginException: Cannot locate KDC
no default_realm, or no krb5.conf at all   LoginException: KrbException: Cannot locate default realm
krb5.conf with an unclosed ``{``           LoginException: Not closed
``kdc =`` a name that does not resolve     LoginException: SERVER1.YOUR-OCS-DOMAIN.COM: Name or
                                           service not known (cause java.net.UnknownHostException)
``kdc =`` a closed UDP port                LoginException, no message (cause
                                           java.net.PortUnreachableException); the report says
                                           MIT's "Cannot contact any KDC for realm '...'"
=========================================  =====================================================

With ``allow_weak_crypto = true`` JDK 17 offers ``18 17 20 19 16 23 1 3`` and picks
des-cbc-crc for a DES-only account (its ``-Dsun.security.krb5.debug`` trace).

``default_tkt_enctypes`` (the AS exchange) and ``default_tgs_enctypes`` (the TGS
exchange) are read as ``sun.security.krb5.Config.defaultEtype`` reads them (measured with
17.0.15): when absent, ``permitted_enctypes`` stands in; the names split on commas if the
value has one, else on spaces; names are case-insensitive; single DES, 3DES and RC4 are
dropped unless ``allow_weak_crypto`` is true (or ``yes``); an empty result is the
exception above, which names the option asked for and counts the other's names when
``permitted_enctypes`` stood in. Java's KDC error texts are ``KrbException(code)``'s
(``sun.security.krb5.internal.Krb5``), which differ from RFC 4120's for 1, 11, 23, 52
and 68. Java does not read AD's KERB-EXT-ERROR; the report's ``detail`` names the
NTSTATUS the KDC sent, which the lab's own log also holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import random
import socket
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import sipmessage
from cryptography import x509

from fakes.kerberos import (
    JAVA_DEFAULT_ENCTYPES,
    JAVA_WEAK_CRYPTO_ENCTYPES,
    SUPPORTED_ENCTYPES,
    WEAK_ENCTYPES,
    AsExchange,
    Credential,
    ErrorCode,
    KdcRep,
    KdcUnreachableError,
    KerberosClient,
    KerberosError,
    PrincipalName,
    decode_kerb_ext_error,
    enctype_name,
    error_text,
    format_principal,
    make_initial_context_token,
    ntstatus,
    parse_principal,
)
from fakes.sip import SipStream, make_request
from fakes.sipae import (
    KERBEROS,
    WWW_AUTHENTICATE,
    Challenge,
    RemoteProtocolError,
    SignatureError,
    SipaeClient,
    select_challenge,
)
from harness.artifacts import ArtifactError, Krb5Conf, read_krb5_conf

from ._findings import Finding
from ._sip import SipFailure, final_response
from ._security import JavaSecurity
from ._tls import EndpointIdentification, TlsFailure, TlsIdentity, client_context, describe_certificate, java_failure

__all__ = ["KerberosLogin", "KerberosReport", "KerberosSettings", "OCS_USER_OPTION", "PAGE_OCS_USER", "krb5_settings"]

Outcome = Literal["confirmed", "rejected", "error"]

#: The ``Microsoft-OCS`` option this stand-in reads the OCS user's name from.
OCS_USER_OPTION = "user"
#: The OCS user the page names as its example ("For example, ocs-ucc"): the fallback.
PAGE_OCS_USER = "ocs-ucc"
LOGIN_EXCEPTION = "javax.security.auth.login.LoginException"
GSS_EXCEPTION = "org.ietf.jgss.GSSException"
CANNOT_LOCATE_DEFAULT_REALM = "KrbException: Cannot locate default realm"
CANNOT_LOCATE_KDC = "Cannot locate KDC"
# Java's udp_preference_limit: 1465 by default, never above 32700 (sun.security.krb5.KdcComm).
_UDP_PREFERENCE_DEFAULT = 1465
_UDP_PREFERENCE_MAX = 32700
_KDC_PORT = 88
_USER_AGENT = "UCConnector stand-in (ucc-lab)"
_REGISTER_EXPIRES = 3600

_PAGE_KRB5 = "Creating the Configuration File for Kerberos security, step 2"
_PAGE_PASSWORD = "Creating a Password for Kerberos Security, step 3"
_PAGE_PASSWORD_PREREQUISITES = "Creating a Password for Kerberos Security, prerequisites"
_PAGE_AD = "Configuring Kerberos Security in Active Directory, step 3"
_PAGE_COMMAND_LINE = "Modifying Command Line Parameters for TLS, step 2"


@dataclass(frozen=True)
class KerberosReport:
    """What the connector saw of one TLS/Kerberos login to the Front End.

    ``outcome``: "confirmed" when the authenticated REGISTER and the signed OPTIONS were
    answered 200 with an ``rspauth`` that verified; "rejected" when the Front End answered
    a final non-2xx (``code`` ``sip-auth-rejected`` for a 401 to the credentials); "error"
    when TLS, krb5.conf, the KDC or the signatures failed. ``error`` is Java's text,
    ``exception`` its class, ``krb_error_code`` the RFC 4120 code from the KDC.
    ``enctypes_offered`` are what the AS-REQ offered, ``as_rep_enctype`` the key the KDC
    answered with (the account's password key), ``ticket_enctype`` the Front End's
    service ticket's. ``findings`` hold warnings that do not stop the login
    (``krb-weak-crypto-enabled``, ``ocs-user-missing``). ``responses`` list every answer:
    method, status, reason, whether the request was authenticated and whether the
    answer's rspauth verified. The Front End's event log remains the evidence.
    """

    outcome: Outcome
    principal: str | None = None
    realm: str | None = None
    kdc: list[str] = field(default_factory=list)
    enctypes_offered: list[int] = field(default_factory=list)
    as_rep_enctype: int | None = None
    ticket_enctype: int | None = None
    targetname: str | None = None
    responses: list[dict[str, Any]] = field(default_factory=list)
    rspauth_verified: bool = False
    tls_version: str | None = None
    server_certificate: dict[str, Any] | None = None
    error: str | None = None
    exception: str | None = None
    krb_error_code: int | None = None
    code: str | None = None
    hint: str | None = None
    detail: str | None = None
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (findings with their class name under ``kind``)."""
        data = asdict(self)
        data["findings"] = [finding.to_dict() for finding in self.findings]
        return data


class _LoginFailed(Exception):
    """Ends the login with a report's failure fields (raised and caught inside this module)."""

    def __init__(self, code: str, error: str, *, exception: str | None = LOGIN_EXCEPTION, hint: str = "",
                 krb_error_code: int | None = None, detail: str | None = None,
                 outcome: Outcome = "error") -> None:
        super().__init__(error)
        self.fields: dict[str, Any] = {"outcome": outcome, "code": code, "error": error, "exception": exception,
                                       "hint": hint or None, "krb_error_code": krb_error_code, "detail": detail}


# -- krb5.conf, as sun.security.krb5.Config reads what the page writes ----------------------------


@dataclass(frozen=True)
class KerberosSettings:
    """What the login takes from krb5.conf for one realm.

    ``enctype_options`` holds the ``[libdefaults]`` values of ``default_tkt_enctypes``,
    ``default_tgs_enctypes`` and ``permitted_enctypes`` that are set.
    """

    realm: str
    kdcs: tuple[tuple[str, int], ...]
    kdc_entries: tuple[str, ...]
    allow_weak_crypto: bool
    udp_preference_limit: int
    enctype_options: dict[str, str] = field(default_factory=dict)

    @property
    def enctypes(self) -> tuple[int, ...]:
        """What Java offers without enctype options: JDK 17's defaults, plus 3DES, RC4 and
        DES with allow_weak_crypto."""
        return JAVA_WEAK_CRYPTO_ENCTYPES if self.allow_weak_crypto else JAVA_DEFAULT_ENCTYPES

    def java_enctypes(self, option: str) -> tuple[int, ...]:
        """The enctypes Java uses for ``default_tkt_enctypes`` or ``default_tgs_enctypes``.

        Raises the module's internal failure with JDK 17.0.15's text when the option (or
        ``permitted_enctypes`` in its place) names no enctype Java will use.
        """
        value = self.enctype_options.get(option)
        if value is None:
            value = self.enctype_options.get("permitted_enctypes")
        if value is None:
            return self.enctypes
        # java.util.StringTokenizer on "," when the value has one, else on " ": no empty
        # names, and no stripping (", aes128-cts" names " aes128-cts", which is unknown).
        names = [name for name in value.split("," if "," in value else " ") if name]
        chosen = []
        for name in names:
            enctype = _JAVA_ENCTYPE_NAMES.get(name.lower())
            if enctype is not None and (self.allow_weak_crypto or enctype not in _JAVA_WEAK):
                chosen.append(enctype)
        if not chosen:
            raise _LoginFailed(
                "krb-des-disabled",
                f"out of {len(names)} default etypes no supported etypes found for configuration {option}",
                hint=f"{option} in krb5.conf names no enctype JDK 17 uses without allow_weak_crypto (single DES, "
                     f"3DES and RC4 are off): remove the line, or list aes256-cts and aes128-cts ({_PAGE_KRB5}).",
                detail=f"{option} = {value}; Java sends nothing to the KDC")
        modelled = tuple(e for e in chosen if e in SUPPORTED_ENCTYPES)
        if not modelled:
            raise _LoginFailed("krb-login-failed", f"{option} = {value}: Java would offer "
                               f"{[enctype_name(e) for e in chosen]}, which this stand-in does not implement",
                               exception=None)
        return modelled


# sun.security.krb5.Config.getType's names (case-insensitive), measured with JDK 17.0.15;
# any other name (e.g. "des", "aes", "rc4") is counted but unknown.
_JAVA_ENCTYPE_NAMES = {
    "des-cbc-crc": 1, "des-cbc-md5": 3, "des3-cbc-sha1": 16, "des3-hmac-sha1": 16, "des3-cbc-sha1-kd": 16,
    "rc4-hmac": 23, "arcfour-hmac": 23, "arcfour-hmac-md5": 23,
    "aes128-cts": 17, "aes128-cts-hmac-sha1-96": 17, "aes256-cts": 18, "aes256-cts-hmac-sha1-96": 18,
    "aes128-sha2": 19, "aes128-cts-hmac-sha256-128": 19, "aes256-sha2": 20, "aes256-cts-hmac-sha384-192": 20,
}
# What JDK 17 drops unless allow_weak_crypto is true (JDK-8273670 took 3DES and RC4 out of the defaults).
_JAVA_WEAK = frozenset({1, 3, 16, 23})
_ENCTYPE_OPTIONS = ("default_tkt_enctypes", "default_tgs_enctypes", "permitted_enctypes")


def _java_boolean(value: str | None) -> bool:
    # Java's Config.getBooleanObject: "true"/"yes" (any case) is true; anything else is not.
    return value is not None and value.strip().lower() in ("true", "yes")


def _kdc_address(entry: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` of a ``kdc =`` line (port 88 by default)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
    else:
        host, port_text = entry, ""
    if port_text and not port_text.isdigit():
        raise _LoginFailed("krb-conf-invalid", f"kdc = {entry}: {port_text!r} is not a port number",
                           hint=f"Write 'kdc = <host>' or 'kdc = <host>:<port>' ({_PAGE_KRB5}).")
    return host, int(port_text) if port_text else _KDC_PORT


def krb5_settings(conf: Krb5Conf, realm: str | None) -> KerberosSettings:
    """The settings for ``realm`` (None: ``default_realm``), or the failure Java reports.

    Raises the module's internal failure with ``krb-realm-unknown`` (no default realm, or
    the realm has no ``kdc`` in ``[realms]``) or ``krb-conf-invalid``.
    """
    realm = realm or conf.libdefaults.get("default_realm")
    if not realm:
        raise _LoginFailed("krb-realm-unknown", CANNOT_LOCATE_DEFAULT_REALM,
                           hint=f"Set default_realm = <AD realm, upper case> under [libdefaults] ({_PAGE_KRB5}).")
    # Realm names are case-sensitive in [realms] (Java and MIT look them up as written).
    entries = [str(value) for value in conf.realms.get(realm, {}).get("kdc", []) if isinstance(value, str)]
    if not entries:
        known = ", ".join(conf.realms) or "none"
        raise _LoginFailed("krb-realm-unknown", CANNOT_LOCATE_KDC,
                           hint=f"[realms] has no kdc for {realm} (realms listed: {known}); default_realm and the "
                                f"[realms] entry must both be the AD realm in upper case ({_PAGE_KRB5}).",
                           detail=f"Unable to locate KDC for realm {realm}")
    limit_text = conf.libdefaults.get("udp_preference_limit", "")
    limit = int(limit_text) if limit_text.strip().isdigit() else _UDP_PREFERENCE_DEFAULT
    return KerberosSettings(
        realm=realm,
        kdcs=tuple(_kdc_address(entry) for entry in entries),
        kdc_entries=tuple(entries),
        allow_weak_crypto=_java_boolean(conf.libdefaults.get("allow_weak_crypto")),
        udp_preference_limit=min(limit, _UDP_PREFERENCE_MAX),
        enctype_options={o: conf.libdefaults[o] for o in _ENCTYPE_OPTIONS if o in conf.libdefaults},
    )


def _read_conf(shown_path: str | None, resolve_path: Callable[[str], Path]) -> Krb5Conf:
    """The krb5.conf named by ``-krb_conf_file``; a missing one fails as Java does later:
    no default realm."""
    if shown_path is None:
        raise _LoginFailed("krb-conf-missing", CANNOT_LOCATE_DEFAULT_REALM,
                           hint=f"Add -krb_conf_file <path to krb5.conf file> ({_PAGE_COMMAND_LINE}).",
                           detail="no -krb_conf_file on the command line, and no krb5.conf in Java's default places")
    path = resolve_path(shown_path)
    try:
        return read_krb5_conf(path)
    except FileNotFoundError:
        raise _LoginFailed("krb-conf-missing", CANNOT_LOCATE_DEFAULT_REALM,
                           hint=f"Place the krb5.conf at {shown_path} or correct -krb_conf_file "
                                f"({_PAGE_COMMAND_LINE}).",
                           detail=f"{shown_path} does not exist: Java then has no Kerberos configuration") from None
    except ArtifactError as error:
        raise _LoginFailed("krb-conf-invalid", str(error),
                           hint=f"Correct the file as the page shows it ({_PAGE_KRB5}).",
                           detail=f"{shown_path}: Java stops its login with the parser's complaint "
                                  "(e.g. 'Not closed' for an unclosed '{')") from None
    except OSError as error:
        raise _LoginFailed("krb-conf-missing", CANNOT_LOCATE_DEFAULT_REALM,
                           detail=f"{shown_path}: {error.strerror}") from None


# -- Kerberos errors, in Java's words and the lab's diagnoses --------------------------------------


# Where KrbException(code).getMessage() of JDK 17.0.15 differs from RFC 4120's words (measured);
# Java has no message for 68 and prints "null (68)".
_JAVA_KRB_TEXTS = {
    ErrorCode.KDC_ERR_NAME_EXP: "Client's entry in database expired",
    ErrorCode.KDC_ERR_NEVER_VALID: "Requested start time is later than end time",
    ErrorCode.KDC_ERR_KEY_EXPIRED: "Password has expired - change password to reset",
    ErrorCode.KRB_ERR_RESPONSE_TOO_BIG: "Response too big for UDP, retry with TCP",
    ErrorCode.KDC_ERR_WRONG_REALM: "null",
}


def _java_text(code: int) -> str:
    """Java's message for a KDC error code: ``Clients credentials have been revoked (18)``."""
    return f"{_JAVA_KRB_TEXTS.get(code) or error_text(code)} ({code})"


def _kdc_detail(error: KerberosError) -> str | None:
    """What the KDC said beyond its code: its e-text, and AD's NTSTATUS (KERB-EXT-ERROR)."""
    parts = [error.text] if error.text != error_text(error.code) else []
    try:
        status = decode_kerb_ext_error(error.e_data)
    except KerberosError as bad:
        parts.append(f"unreadable e-data ({bad.text})")
    else:
        if status is not None:
            known = ntstatus(status)
            parts.append(f"the KDC's KERB-EXT-ERROR: {known.name} (0x{status:08X})"
                         + (f": {known.text}" if known.text else ""))
    return "; ".join(parts) or None


def _as_failure(error: KerberosError, principal: str, settings: KerberosSettings) -> _LoginFailed:
    """The failure of the AS exchange (Java: Krb5LoginModule.login)."""
    code = error.code
    text = _java_text(code)
    detail = _kdc_detail(error)
    if code in (ErrorCode.KDC_ERR_PREAUTH_FAILED, ErrorCode.KRB_AP_ERR_BAD_INTEGRITY):
        return _LoginFailed("krb-preauth-failed", text, krb_error_code=code, detail=detail,
                            hint=f"The Microsoft-OCS password option is not the AD password of {principal} "
                                 f"({_PAGE_PASSWORD}); reset the password in AD if it is not known.")
    if code == ErrorCode.KRB_AP_ERR_SKEW:
        return _LoginFailed("krb-clock-skew", text, krb_error_code=code, detail=detail,
                            hint="Synchronize the UC Connector host's clock with the domain controller: Kerberos "
                                 "allows 5 minutes.")
    if code == ErrorCode.KDC_ERR_C_PRINCIPAL_UNKNOWN:
        return _LoginFailed("krb-principal-unknown", text, krb_error_code=code, detail=detail,
                            hint=f"No account {principal} in {settings.realm}: set Microsoft-OCS/"
                                 f"{OCS_USER_OPTION} to the OCS user that represents the UC Connector.")
    if code == ErrorCode.KDC_ERR_WRONG_REALM:
        return _LoginFailed("krb-realm-unknown", text, krb_error_code=code, detail=detail,
                            hint=f"The KDC does not serve {settings.realm}: default_realm and [realms] must name "
                                 f"the AD realm ({_PAGE_KRB5}).")
    if code == ErrorCode.KDC_ERR_ETYPE_NOSUPP and not settings.allow_weak_crypto:
        return _LoginFailed("krb-des-disabled", text, krb_error_code=code, detail=detail,
                            hint=f"The account has single-DES keys only — the page's 'Use Kerberos DES encryption "
                                 f"for this account' ({_PAGE_AD}). Single DES is deprecated (RFC 6649) and disabled "
                                 "in JDK 17, MIT Kerberos and Windows Server 2008 R2 and later DCs: clear the option "
                                 "and reset the password so that AD makes AES keys.")
    if code == ErrorCode.KDC_ERR_ETYPE_NOSUPP:
        # The client offered DES (allow_weak_crypto) and the KDC still found no key: the
        # domain controller does not allow DES (its System log has KDC event 14).
        return _LoginFailed("krb-des-disabled", text, krb_error_code=code, detail=detail,
                            hint=f"krb5.conf allows weak crypto, yet the domain controller refused: DES is off on "
                                 f"Windows Server 2008 R2 and later DCs unless a GPO turns it on, so the page's 'Use "
                                 f"Kerberos DES encryption for this account' ({_PAGE_AD}) cannot work there (KDC "
                                 "event 14). Clear the option, reset the password so that AD makes AES keys, and "
                                 "remove allow_weak_crypto.")
    if code == ErrorCode.KDC_ERR_CLIENT_REVOKED:
        return _LoginFailed("krb-account-revoked", text, krb_error_code=code, detail=detail,
                            hint=f"{principal} is disabled, locked out or expired in Active Directory (the detail "
                                 f"names which): enable it, unlock it or extend 'Account expires' on its Account tab "
                                 f"({_PAGE_AD}).")
    if code == ErrorCode.KDC_ERR_KEY_EXPIRED:
        return _LoginFailed("krb-password-expired", text, krb_error_code=code, detail=detail,
                            hint=f"The password of {principal} must be changed before it can log in: 'User must "
                                 f"change password at next logon' was left ticked when it was reset, or it expired "
                                 f"({_PAGE_PASSWORD_PREREQUISITES}). Reset it without that option (or set 'Password "
                                 f"never expires') and put the new one in Microsoft-OCS/password.")
    return _LoginFailed("krb-login-failed", text, krb_error_code=code, detail=detail)


def _tgs_failure(error: KerberosError, targetname: str, settings: KerberosSettings) -> _LoginFailed:
    """The failure of the TGS exchange (Java: GSSContext.initSecContext)."""
    code = error.code
    text = f"No valid credentials provided (Mechanism level: {_java_text(code)})"
    if code == ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
        return _LoginFailed("krb-service-unknown", text, exception=GSS_EXCEPTION, krb_error_code=code,
                            hint=f"No account in {settings.realm} holds the SPN {targetname} that the Front End's "
                                 "challenge names: register it on the Front End's service account (setspn -S), or "
                                 "check that the Front End's FQDN is the one in the topology.")
    if code == ErrorCode.KRB_AP_ERR_SKEW:
        return _LoginFailed("krb-clock-skew", text, exception=GSS_EXCEPTION, krb_error_code=code,
                            hint="Synchronize the UC Connector host's clock with the domain controller.")
    return _LoginFailed("krb-login-failed", text, exception=GSS_EXCEPTION, krb_error_code=code,
                        detail=_kdc_detail(error))


# -- the login ----------------------------------------------------------------------------------------


class KerberosLogin:
    """One TLS/Kerberos login of the connector (see the module docstring).

    Built by :meth:`harness.connector.UCConnector.login` from the connector's
    configuration; ``clock`` (seconds) and ``rng`` are the connector's, so a test can skew
    the clock or repeat the random choices.
    """

    def __init__(self, *, anchors: list[x509.Certificate], krb_conf_file: str | None,
                 resolve_path: Callable[[str], Path], microsoft_ocs: dict[str, str], frontend_fqdn: str,
                 ucc_fqdn: str, contact_port: int | None, rng: random.Random, clock: Callable[[], float],
                 java_security: JavaSecurity | None = None,
                 endpoint_identification: EndpointIdentification = None) -> None:
        self.anchors = anchors
        # The TLS side of the login follows the same JDK policy as the connector's MTLS.
        self.java_security = java_security
        self.endpoint_identification = endpoint_identification
        self.krb_conf_file = krb_conf_file
        self.resolve_path = resolve_path
        self.microsoft_ocs = microsoft_ocs
        self.frontend_fqdn = frontend_fqdn
        self.ucc_fqdn = ucc_fqdn
        self.contact_port = contact_port
        self._rng = rng
        self._clock = clock
        self._report: dict[str, Any] = {"findings": [], "responses": []}

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._clock(), datetime.timezone.utc)

    def _token(self, hex_digits: int) -> str:
        return format(self._rng.getrandbits(hex_digits * 4), f"0{hex_digits}x")

    async def run(self, host: str, port: int, *, timeout: float, principal: str | None) -> KerberosReport:
        """Log in at the Front End on ``host:port``; never raises for what the peers do."""
        try:
            await self._login(host, port, timeout, principal)
        except _LoginFailed as failure:
            self._report.update(failure.fields)
        else:
            self._report["outcome"] = "confirmed"
        self._report["rspauth_verified"] = any(r["rspauth_verified"] for r in self._report["responses"])
        return KerberosReport(**self._report)

    def _principal(self, principal: str | None) -> str:
        if principal:
            return principal
        configured = self.microsoft_ocs.get(OCS_USER_OPTION, "").strip()
        if configured:
            return configured
        self._report["findings"].append(Finding(
            code="ocs-user-missing", severity="warning",
            message=f"the Microsoft-OCS section has no {OCS_USER_OPTION} option: the lab logs in as the page's "
                    f"example OCS user {PAGE_OCS_USER}",
            hint=f"Set Microsoft-OCS/{OCS_USER_OPTION} to the OCS user that represents the UC Connector."))
        return PAGE_OCS_USER

    async def _login(self, host: str, port: int, timeout: float, principal_option: str | None) -> None:
        principal = self._principal(principal_option)
        name, explicit_realm = parse_principal(principal)
        self._report["principal"] = principal
        context, capture = client_context(TlsIdentity(None), self.anchors, security=self.java_security,
                                          endpoint_identification=self.endpoint_identification, now=self._now)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, ssl=context,
                                                               server_hostname=self.frontend_fqdn)
        except ConnectionRefusedError as error:
            raise _LoginFailed("frontend-unreachable", "Connection refused", exception="java.net.ConnectException",
                               detail=str(error)) from None
        except socket.gaierror as error:
            raise _LoginFailed("frontend-unreachable", host, exception="java.net.UnknownHostException",
                               detail=str(error)) from None
        except (OSError, TimeoutError) as error:
            failure = java_failure(error, side="client", capture=capture, anchors=self.anchors, now=self._now(),
                                   server_hostname=self.frontend_fqdn)
            raise _tls_failed(failure) from None
        ssl_object = writer.get_extra_info("ssl_object")
        self._report["tls_version"] = ssl_object.version()
        chain = capture.chain or [x509.load_der_x509_certificate(ssl_object.getpeercert(binary_form=True))]
        self._report["server_certificate"] = describe_certificate(chain[0])
        # The user's address of record: the OCS user in the SIP domain of the Front End's pool.
        aor = f"sip:{name.components[0]}@{self.frontend_fqdn.partition('.')[2] or self.frontend_fqdn}"
        local_port = writer.get_extra_info("sockname")[1]
        session = _SipSession(reader, writer, token=self._token, responses=self._report["responses"], aor=aor,
                              ucc_fqdn=self.ucc_fqdn, frontend_fqdn=self.frontend_fqdn, local_port=local_port,
                              contact_port=self.contact_port or local_port, timeout=timeout)
        try:
            challenge = await session.challenge()
            client = await self._kerberos(name, explicit_realm, challenge, timeout)
            await session.authenticated(client)
        except SipFailure as failure:
            raise _tls_failed(failure.failure) from None
        except TimeoutError:
            raise _LoginFailed("sip-timeout", "Read timed out", exception="java.net.SocketTimeoutException",
                               detail=f"no answer within {timeout} s") from None
        except (OSError, ssl.SSLError) as error:
            raise _tls_failed(java_failure(error, side="client", capture=capture, anchors=self.anchors,
                                           now=self._now())) from None
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def _kerberos(self, name: PrincipalName, explicit_realm: str | None, challenge: Challenge,
                        timeout: float) -> SipaeClient:
        """Krb5LoginModule and GSSContext.initSecContext: TGT, service ticket, GSS token."""
        conf = _read_conf(self.krb_conf_file, self.resolve_path)
        settings = krb5_settings(conf, explicit_realm)
        full_principal = format_principal(name, settings.realm)
        tkt_enctypes = settings.java_enctypes("default_tkt_enctypes")
        self._report.update(principal=full_principal, realm=settings.realm, kdc=list(settings.kdc_entries),
                            enctypes_offered=list(tkt_enctypes), targetname=challenge.targetname)
        password = self.microsoft_ocs.get("password")
        if not password:
            raise _LoginFailed("ocs-password-missing", "Unable to obtain password from user",
                               hint=f"Set the Microsoft-OCS password option ({_PAGE_PASSWORD}).",
                               detail="the Application object's Microsoft-OCS section has no password option")
        tgt = await self._tgt(name, password, settings, full_principal, tkt_enctypes, timeout)
        kdc = self._kdc_client(settings, settings.java_enctypes("default_tgs_enctypes"), timeout)
        try:
            ticket = await kdc.get_service_ticket(tgt, challenge.targetname)
        except KerberosError as error:
            raise _tgs_failure(error, challenge.targetname, settings) from None
        except KdcUnreachableError as error:
            raise _unreachable(error, settings) from None
        self._report["ticket_enctype"] = ticket.ticket_enctype
        token, context = make_initial_context_token(ticket, now=self._now, rng=self._rng.randbytes)
        return SipaeClient(challenge, context, token, rng=self._rng.randbytes)

    def _kdc_client(self, settings: KerberosSettings, enctypes: tuple[int, ...], timeout: float) -> KerberosClient:
        return KerberosClient(settings.realm, settings.kdcs, udp_preference_limit=settings.udp_preference_limit,
                              enctypes=enctypes, timeout=min(timeout, 3.0), now=self._now, rng=self._rng.randbytes)

    async def _tgt(self, name: PrincipalName, password: str, settings: KerberosSettings, principal: str,
                   enctypes: tuple[int, ...], timeout: float) -> Credential:
        """The AS exchange, driven here so the reply's enctype (the password key's) is seen."""
        kdc = self._kdc_client(settings, enctypes, timeout)
        for host, _port in settings.kdcs:
            try:
                socket.getaddrinfo(host, None)
            except socket.gaierror:
                # Java resolves the kdc entry first: "SERVER1.YOUR-OCS-DOMAIN.COM: Name or service not known".
                raise _LoginFailed("krb-kdc-unreachable", f"{host}: Name or service not known",
                                   exception="java.net.UnknownHostException",
                                   hint=f"kdc = in krb5.conf must name the domain controller ({_PAGE_KRB5}); the "
                                        "page's SERVER1.YOUR-OCS-DOMAIN.COM is a placeholder.") from None
        exchange = AsExchange(name, settings.realm, password, enctypes=enctypes, now=self._now,
                              rng=self._rng.randbytes)
        request = exchange.request()
        try:
            while True:
                reply = await kdc.send(request)
                result = exchange.receive(reply)
                if isinstance(result, Credential):
                    break
                request = result
        except KerberosError as error:
            raise _as_failure(error, principal, settings) from None
        except KdcUnreachableError as error:
            raise _unreachable(error, settings) from None
        reply_enctype = KdcRep.from_der(reply).enc_part.etype
        self._report["as_rep_enctype"] = reply_enctype
        if settings.allow_weak_crypto:
            needed = reply_enctype in WEAK_ENCTYPES
            self._report["findings"].append(Finding(
                code="krb-weak-crypto-enabled", severity="warning",
                message=(f"the KDC answered with {enctype_name(reply_enctype)}: {principal} has single-DES keys only "
                         "(the page's 'Use Kerberos DES encryption for this account'), and this login works only "
                         "because krb5.conf sets allow_weak_crypto = true" if needed else
                         "krb5.conf sets allow_weak_crypto = true: DES, RC4 and 3DES are enabled although this "
                         "login did not need them"),
                hint="Single DES is deprecated (RFC 6649): clear 'Use Kerberos DES encryption for this account', "
                     "reset the password so AD makes AES keys, and remove allow_weak_crypto."))
        return result


class _SipSession:
    """The connector's SIP exchanges on the TLS connection (REGISTER, 401, REGISTER, OPTIONS)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, token: Callable[[int], str],
                 responses: list[dict[str, Any]], aor: str, ucc_fqdn: str, frontend_fqdn: str, local_port: int,
                 contact_port: int, timeout: float) -> None:
        self._reader = reader
        self._writer = writer
        self._stream = SipStream()
        self._token = token
        self.responses = responses
        self._aor = aor
        self._ucc_fqdn = ucc_fqdn
        self._frontend_fqdn = frontend_fqdn
        self._local_port = local_port
        self._contact_port = contact_port
        self._timeout = timeout
        # RFC 3261 §10.2: a UA uses one Call-ID for its registrations, the CSeq counting up.
        self._register_call_id = f"{token(16)}@{ucc_fqdn}"
        self._register_cseq = 0

    def _request(self, method: str) -> tuple[bytes, str]:
        headers = [("User-Agent", _USER_AGENT)]
        if method == "REGISTER":
            self._register_cseq += 1
            call_id, cseq, to_uri = self._register_call_id, self._register_cseq, self._aor
            headers += [("Contact", f"<sip:{self._ucc_fqdn}:{self._contact_port};transport=tls>"),
                        ("Expires", str(_REGISTER_EXPIRES))]
        else:
            call_id, cseq, to_uri = f"{self._token(16)}@{self._ucc_fqdn}", 1, f"sip:{self._frontend_fqdn}"
        raw = make_request(method, f"sip:{self._frontend_fqdn}",
                           via=f"SIP/2.0/TLS {self._ucc_fqdn}:{self._local_port}",
                           branch=f"z9hG4bK{self._token(12)}", from_uri=self._aor, from_tag=self._token(8),
                           to_uri=to_uri, call_id=call_id, cseq=cseq, headers=headers)
        return raw, call_id

    async def _exchange(self, method: str, raw: bytes, call_id: str, *, authenticated: bool) -> sipmessage.Response:
        self._writer.write(raw)
        await self._writer.drain()
        async with asyncio.timeout(self._timeout):
            response = await final_response(self._reader, self._stream, call_id, method)
        self.responses.append({"method": method, "status": response.code, "reason": response.phrase,
                               "authenticated": authenticated, "rspauth_verified": False})
        return response

    async def challenge(self) -> Challenge:
        """REGISTER without credentials; the Kerberos challenge of the 401."""
        raw, call_id = self._request("REGISTER")
        response = await self._exchange("REGISTER", raw, call_id, authenticated=False)
        if 200 <= response.code < 300:
            raise _LoginFailed("sip-not-challenged", "the Front End registered the connector without Kerberos",
                               exception=None, detail="a 2xx to an unauthenticated REGISTER: the Front End treats "
                               "this host as a trusted peer (MTLS), not as the OCS user")
        if response.code != 401:
            raise _LoginFailed("sip-rejected", f"REGISTER answered {response.code} {response.phrase}",
                               exception=None, outcome="rejected")
        try:
            challenge = select_challenge(response.headers.getlist(WWW_AUTHENTICATE), KERBEROS)
        except RemoteProtocolError as error:
            raise _LoginFailed("sip-challenge-malformed", str(error), exception=None) from None
        if challenge is None:
            offered = ", ".join(v.split(None, 1)[0] for v in response.headers.getlist(WWW_AUTHENTICATE)) or "none"
            raise _LoginFailed("sip-no-kerberos-challenge", f"the 401 offers no Kerberos (offers: {offered})",
                               exception=None, hint="The Front End must offer Kerberos to this client.")
        return challenge

    async def authenticated(self, client: SipaeClient) -> None:
        """The REGISTER with the credentials, then a signed OPTIONS; each 200's rspauth verified."""
        for method in ("REGISTER", "OPTIONS"):
            raw, call_id = self._request(method)
            response = await self._exchange(method, client.authorize(raw), call_id, authenticated=True)
            if response.code == 401:
                raise _LoginFailed(
                    "sip-auth-rejected", f"{method} with Kerberos credentials answered 401 {response.phrase}",
                    exception=None, outcome="rejected",
                    hint="The Front End refused the credentials or the signature; its event log "
                         "(sipae-rejected / sipae-bad-signature) says why.")
            if not 200 <= response.code < 300:
                raise _LoginFailed("sip-rejected", f"{method} answered {response.code} {response.phrase}",
                                   exception=None, outcome="rejected")
            try:
                client.verify(response)
            except (RemoteProtocolError, SignatureError) as error:
                raise _LoginFailed("sip-rspauth-invalid", str(error), exception="",
                                   hint="The Front End's signature does not verify with the Kerberos context: "
                                        "a man in the middle, or a server with other keys.") from None
            self.responses[-1]["rspauth_verified"] = True


def _tls_failed(failure: TlsFailure) -> _LoginFailed:
    return _LoginFailed(failure.code, failure.message, exception=failure.exception, detail=failure.detail or None)


def _unreachable(error: KdcUnreachableError, settings: KerberosSettings) -> _LoginFailed:
    return _LoginFailed("krb-kdc-unreachable", str(error), detail="Java 17 reports an unanswered KDC as "
                        "java.net.PortUnreachableException (UDP refused) or SocketTimeoutException: Receive timed out",
                        hint=f"No KDC of {settings.realm} answered at {', '.join(settings.kdc_entries)}: kdc = in "
                             f"krb5.conf must name a reachable domain controller ({_PAGE_KRB5}).")
