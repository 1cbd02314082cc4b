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
    WEAK_ENCTYPES,
    AsExchange,
    Credential,
    ErrorCode,
    KdcRep,
    KdcUnreachableError,
    KerberosClient,
    KerberosError,
    PrincipalName,
    enctype_name,
    error_text,
    format_principal,
    make_initial_context_token,
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
from ._tls import TlsFailure, TlsIdentity, client_context, describe_certificate, java_failure

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
    """What the login takes from krb5.conf for one realm."""

    realm: str
    kdcs: tuple[tuple[str, int], ...]
    kdc_entries: tuple[str, ...]
    allow_weak_crypto: bool
    udp_preference_limit: int

    @property
    def enctypes(self) -> tuple[int, ...]:
        """What Java offers: JDK 17's defaults, plus 3DES, RC4 and DES with allow_weak_crypto."""
        return JAVA_WEAK_CRYPTO_ENCTYPES if self.allow_weak_crypto else JAVA_DEFAULT_ENCTYPES


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


def _as_failure(error: KerberosError, principal: str, settings: KerberosSettings) -> _LoginFailed:
    """The failure of the AS exchange (Java: Krb5LoginModule.login)."""
    code = error.code
    # Java has no message for 68 and prints "null (68)" (measured).
    text = "null (68)" if code == ErrorCode.KDC_ERR_WRONG_REALM else f"{error_text(code)} ({code})"
    detail = error.text if error.text != error_text(code) else None
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
                                 "in JDK 17 and MIT Kerberos: clear the option and reset the password so that AD "
                                 "makes AES keys. allow_weak_crypto = true in krb5.conf works but is insecure.")
    return _LoginFailed("krb-login-failed", text, krb_error_code=code, detail=detail)


def _tgs_failure(error: KerberosError, targetname: str, settings: KerberosSettings) -> _LoginFailed:
    """The failure of the TGS exchange (Java: GSSContext.initSecContext)."""
    code = error.code
    text = f"No valid credentials provided (Mechanism level: {error_text(code)} ({code}))"
    if code == ErrorCode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
        return _LoginFailed("krb-service-unknown", text, exception=GSS_EXCEPTION, krb_error_code=code,
                            hint=f"No account in {settings.realm} holds the SPN {targetname} that the Front End's "
                                 "challenge names: register it on the Front End's service account (setspn -S), or "
                                 "check that the Front End's FQDN is the one in the topology.")
    if code == ErrorCode.KRB_AP_ERR_SKEW:
        return _LoginFailed("krb-clock-skew", text, exception=GSS_EXCEPTION, krb_error_code=code,
                            hint="Synchronize the UC Connector host's clock with the domain controller.")
    return _LoginFailed("krb-login-failed", text, exception=GSS_EXCEPTION, krb_error_code=code,
                        detail=error.text if error.text != error_text(code) else None)


# -- the login ----------------------------------------------------------------------------------------


class KerberosLogin:
    """One TLS/Kerberos login of the connector (see the module docstring).

    Built by :meth:`harness.connector.UCConnector.login` from the connector's
    configuration; ``clock`` (seconds) and ``rng`` are the connector's, so a test can skew
    the clock or repeat the random choices.
    """

    def __init__(self, *, anchors: list[x509.Certificate], krb_conf_file: str | None,
                 resolve_path: Callable[[str], Path], microsoft_ocs: dict[str, str], frontend_fqdn: str,
                 ucc_fqdn: str, contact_port: int | None, rng: random.Random, clock: Callable[[], float]) -> None:
        self.anchors = anchors
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
        context, capture = client_context(TlsIdentity(None), self.anchors)
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
        self._report.update(principal=full_principal, realm=settings.realm, kdc=list(settings.kdc_entries),
                            enctypes_offered=list(settings.enctypes), targetname=challenge.targetname)
        password = self.microsoft_ocs.get("password")
        if not password:
            raise _LoginFailed("ocs-password-missing", "Unable to obtain password from user",
                               hint=f"Set the Microsoft-OCS password option ({_PAGE_PASSWORD}).",
                               detail="the Application object's Microsoft-OCS section has no password option")
        kdc = KerberosClient(settings.realm, settings.kdcs, udp_preference_limit=settings.udp_preference_limit,
                             enctypes=settings.enctypes, timeout=min(timeout, 3.0), now=self._now,
                             rng=self._rng.randbytes)
        tgt = await self._tgt(kdc, name, password, settings, full_principal)
        try:
            ticket = await kdc.get_service_ticket(tgt, challenge.targetname)
        except KerberosError as error:
            raise _tgs_failure(error, challenge.targetname, settings) from None
        except KdcUnreachableError as error:
            raise _unreachable(error, settings) from None
        self._report["ticket_enctype"] = ticket.ticket_enctype
        token, context = make_initial_context_token(ticket, now=self._now, rng=self._rng.randbytes)
        return SipaeClient(challenge, context, token, rng=self._rng.randbytes)

    async def _tgt(self, kdc: KerberosClient, name: PrincipalName, password: str, settings: KerberosSettings,
                   principal: str) -> Credential:
        """The AS exchange, driven here so the reply's enctype (the password key's) is seen."""
        for host, _port in settings.kdcs:
            try:
                socket.getaddrinfo(host, None)
            except socket.gaierror:
                # Java resolves the kdc entry first: "SERVER1.YOUR-OCS-DOMAIN.COM: Name or service not known".
                raise _LoginFailed("krb-kdc-unreachable", f"{host}: Name or service not known",
                                   exception="java.net.UnknownHostException",
                                   hint=f"kdc = in krb5.conf must name the domain controller ({_PAGE_KRB5}); the "
                                        "page's SERVER1.YOUR-OCS-DOMAIN.COM is a placeholder.") from None
        exchange = AsExchange(name, settings.realm, password, enctypes=settings.enctypes, now=self._now,
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
