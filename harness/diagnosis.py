"""Diagnosis codes, and the one table that turns the real components' words into them.

A code names a cause in the page's terms. ``DIAGNOSES`` maps it to the page's heading and
step that a support engineer should revisit and one sentence saying what to do; the
evidence (what the server side saw) comes from the failure itself.

``PATTERNS`` is the lab's single table of what the real components say → which code:
Java (the UC Connector's JSSE, PKIX, JAAS/JGSS and keytool), OpenSSL, Windows SChannel,
Lync / Skype for Business (``ms-diagnostics``, SIPStack), Active Directory's KDC and MIT
Kerberos. Replays and ``ucclab check`` read their clients' and stand-ins' texts through it
(:func:`code_for_java_error`, :func:`code_for_verify_error`), the connector stand-in names
its own Java texts' causes with it, and ``ucclab explain`` reads customers' log lines with
it (:func:`match_text`). Rules of the table:

1. The first pattern that matches wins: a section lists its specific words before its
   general ones (Java's ``CertificateExpiredException`` before ``validity check failed``).
2. A pattern is a case-insensitive regular expression searched anywhere in the text, so a
   line keeps its time stamp, thread name or ``Caused by:``.
3. Words whose cause depends on whose certificate was judged (OpenSSL's "unsuitable
   certificate purpose": a client certificate without clientAuth, or a server certificate
   without serverAuth) carry ``peer``; they match only when the caller says whose
   certificate it was, and a pattern without ``peer`` after them names the cause both share.
4. A Windows error also matches by its symbol, hex or decimal value (``CERT_E_REVOKED``,
   ``0x800b010c``, ``2148204812``), found once in the text as tokens.
5. Each section cites where its words come from; "assumed" marks words no source showed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Diagnosis",
    "DIAGNOSES",
    "Pattern",
    "PATTERNS",
    "SOURCES",
    "Peer",
    "diagnose",
    "match_text",
    "code_for_text",
    "code_for_verify_error",
    "code_for_java_error",
]

SHELL = "Generating the Server Certificate Using Skype for Business Management Shell"
WEB = "Generating the Server Certificate using Microsoft Management Console or CA Web Access"
FRONTEND = "Generating the Front End Server Certificate"
MTLS_ARGS = "Modifying Command Line Arguments for MTLS"
TRUSTSTORE = "Adding the Certificate to the UC Connector Installation"
PORT = "Configuring a Secure SIP Port"
CLIENT = "Generating the Client Certificate"
KERBEROS_AD = "Configuring Kerberos Security in Active Directory"
KERBEROS_PASSWORD = "Creating a Password for Kerberos Security"
KRB5_CONF = "Creating the Configuration File for Kerberos security"
TLS_ARGS = "Modifying Command Line Parameters for TLS"
ENABLING_KERBEROS = "Enabling Kerberos Security Between UCC and Lync Skype for Business"

Severity = Literal["error", "warning"]
#: Whose certificate a text judges: the TLS client's or the TLS server's.
Peer = Literal["client", "server"]


@dataclass(frozen=True)
class Diagnosis:
    code: str
    doc_step: str
    fix: str
    severity: Severity = "error"


def _d(code: str, doc_step: str, fix: str, *, severity: Severity = "error") -> tuple[str, Diagnosis]:
    return code, Diagnosis(code, doc_step, fix, severity)


DIAGNOSES: dict[str, Diagnosis] = dict(
    [
        _d("pfx-wrong-password", f"{MTLS_ARGS}, step 2", "Set -cert_store_pass to the password typed in the export wizard."),
        _d("pfx-no-private-key", f"{SHELL}, step 5", "Export again choosing 'Yes, export the private key'."),
        _d("pfx-unencrypted", f"{SHELL}, step 5", "Export the PFX with a password: Java ignores an unencrypted private key."),
        _d("pfx-chain-incomplete", f"{SHELL}, step 5", "Export again with 'Include all certificates in the certification path if possible'."),
        _d("pfx-missing", f"{MTLS_ARGS}, step 2", "Point -cert_store_file at the exported .pfx on the UC Connector host."),
        _d("pfx-unreadable", f"{MTLS_ARGS}, step 2", "Give -cert_store_file the .pfx the export wizard wrote, with -cert_store_type pkcs12."),
        _d("truststore-wrong-password", f"{MTLS_ARGS}, step 2", "Set -key_store_pass to the password given to keytool."),
        _d("truststore-missing-ca", f"{TRUSTSTORE}, step 3", "Import the CA that issued the Front End's certificate into the trust store with keytool -import."),
        _d("truststore-empty", f"{TRUSTSTORE}, step 3", "Import the CA certificate into the trust store: it holds no trusted certificate."),
        _d("truststore-missing", f"{MTLS_ARGS}, step 2", "Point -key_store_file at the trust store keytool made (or place it where the path says)."),
        _d("truststore-unreadable", f"{MTLS_ARGS}, step 2", "Give -key_store_file the store keytool made, with its type."),
        _d("store-type-mismatch", f"{TRUSTSTORE}, step 3", "Declare the store's real type, or write it with keytool -storetype jks."),
        _d("cert-name-mismatch", f"{SHELL}, step 1", "Request the certificate for the UC Connector host's FQDN (-ComputerFQDN), one the Front End's topology knows."),
        _d("cert-eku-no-client-auth", f"{FRONTEND}, step 3", "Use a certificate whose EKU allows client authentication (Computer template), not a Web Server one."),
        _d("cert-eku-no-server-auth", f"{SHELL}, step 1", "Request the connector's certificate from a server template (Web Server or its exportable copy), not User."),
        _d("cert-eku-wrong-purpose", f"{SHELL}, step 1", "Give each side a certificate whose EKU fits its role: Server Authentication for a TLS server, Client Authentication for a TLS client (the Front End is both)."),
        _d("cert-expired", f"{SHELL}, step 1", "Request a new certificate: this one has expired."),
        _d("cert-not-yet-valid", f"{SHELL}, step 1", "Check the hosts' clocks: the certificate is not valid yet."),
        _d("cert-untrusted-ca", f"{SHELL}, step 1", "Request the certificate from the enterprise CA the Front End trusts."),
        _d("cert-revoked", f"{SHELL}, step 1", "Request a new certificate: the CA has revoked this one."),
        _d("cert-revocation-offline", "", "Make the CA's CRL (the CDP URL in the certificate) reachable and current for the host that checks it."),
        _d("cert-signature-algorithm-disabled", f"{FRONTEND}, step 3", "Issue the Front End's certificate (and its CA's) with SHA-256 signatures, or knowingly re-allow the algorithm in jdk.certpath.disabledAlgorithms of the connector's JDK."),
        _d("cert-key-too-small", f"{FRONTEND}, step 3", "Issue the certificate with an RSA key of 2048 bits or more, or knowingly relax the keySize limit in the connector's JDK java.security."),
        _d("tls-protocol-mismatch", "", "Give both sides a TLS version in common: TLS 1.2 enabled on the Front End (SChannel's TLS 1.2 Server and Client keys) and left enabled in the connector JDK's jdk.tls.disabledAlgorithms (JDK 17 disables TLS 1.0 and 1.1; Skype for Business before 2019 has no TLS 1.3)."),
        _d("peer-rejected-certificate", "", "The other side refused this side's certificate with a TLS alert: its own log says why (trust, dates, EKU, name)."),
        _d("client-certificate-missing", f"{MTLS_ARGS}, step 2", "Give the connector its PFX (-cert_store_file/-cert_store_pass/-cert_store_type pkcs12)."),
        _d("arg-unknown", f"{MTLS_ARGS}, step 2", "Correct the option's name (the page's '-ket_store_type' is '-key_store_type')."),
        _d("arg-missing-value", f"{MTLS_ARGS}, step 2", "Replace the page's <placeholder> with the real value."),
        _d("arg-malformed", f"{MTLS_ARGS}, step 2", "Write '-cert_store_file <path>' (the page's '-cert_store_<path>' glues the path to the option)."),
        _d("secure-port-missing", f"{PORT}, step 1", "Add a SIP port with Listening Mode Secured on the Application's Server Info tab."),
        _d("secure-port-not-secured", f"{PORT}, step 1", "Set the SIP port's Listening Mode to Secured."),
        _d("secure-port-busy", f"{PORT}, step 1", "Pick a free Communication Port for the Secured SIP port."),
        _d("krb-des-disabled", f"{KERBEROS_AD}, step 3", "Clear 'Use Kerberos DES encryption for this account': single DES is disabled in modern Kerberos (RFC 6649) and on Windows Server 2008 R2 and later DCs, then reset the password so AES keys exist."),
        _d("krb-account-revoked", f"{KERBEROS_AD}, step 3", "On the OCS user's Account tab enable the account, unlock it, or extend 'Account expires' (the KDC's NTSTATUS says which)."),
        _d("krb-password-expired", f"{KERBEROS_PASSWORD}, prerequisites", "Reset the OCS user's password without 'User must change password at next logon' (or set 'Password never expires'), then put it in Microsoft-OCS/password."),
        _d("krb-weak-crypto-enabled", f"{KRB5_CONF}, step 2", "Remove allow_weak_crypto = true once the account has AES keys: it re-enables DES, RC4 and 3DES.", severity="warning"),
        _d("krb-preauth-failed", f"{KERBEROS_PASSWORD}, step 3", "Set Microsoft-OCS/password to the OCS user's current Active Directory password."),
        _d("krb-clock-skew", f"{ENABLING_KERBEROS}", "Synchronize the UC Connector host's clock with the domain (Kerberos allows 5 minutes)."),
        _d("krb-principal-unknown", f"{KERBEROS_PASSWORD}, prerequisites", "Use the OCS user that exists in Active Directory for the UC Connector."),
        _d("krb-service-unknown", f"{KERBEROS_AD}, step 2", "Register sip/<Front End FQDN> on the Front End's account, or point the connector at the pool FQDN that has it."),
        _d("krb-realm-unknown", f"{KRB5_CONF}, step 2", "Set default_realm and the [realms] entry to the AD domain in capitals."),
        _d("krb-kdc-unreachable", f"{KRB5_CONF}, step 2", "Set kdc = to a domain controller the UC Connector host can reach."),
        _d("krb-conf-missing", f"{TLS_ARGS}, step 2", "Point -krb_conf_file at the krb5.conf saved on the UC Connector host."),
        _d("sip-auth-rejected", f"{TLS_ARGS}, step 2", "Check the Kerberos settings: the Front End refused the connector's credentials."),
        _d("handshake-not-confirmed", f"{MTLS_ARGS}, step 2", "Read the evidence: a piece the server side must log is missing; compare with a default replay."),
        _d("java-probe-failed", "", "A defect of the lab or of the machine's JDK: the Java probe gave no report in time."),
        _d("lab-java-push-unreachable", "", "The Java probe runs beside the harness; run this direction with --client python, or against a lab in this process."),
        _d("lab-client-disagreement", "", "A defect of the lab: the Python stand-in and the real Java stack must reach the same outcome."),
        _d("frontend-unreachable", f"{MTLS_ARGS}, step 2", "Check the Front End's address and that it listens for MTLS."),
        _d("pfx-key-mismatch", f"{SHELL}, step 5", "Export the certificate together with its own private key from the store that requested it."),
        _d("tls-handshake-failed", f"{MTLS_ARGS}, step 2", "Inspect both certificates and the stores with ucclab inspect: the handshake failed for a reason with no code of its own."),
        _d("sip-rejected", f"{PORT}, step 1", "Check the trusted application's configuration on the Front End: it answered the connector's request with an error."),
        _d("pfx-export-failed", f"{SHELL}, step 5", "Choose 'Yes, export the private key': only then does the wizard offer the PFX format."),
        _d("keytool-error", f"{TRUSTSTORE}, step 3", "Give keytool a store password of at least 6 characters and an alias the store does not hold yet."),
        _d("ca-request-denied", f"{WEB}, step 4", "Request from a template the CA publishes, with the key size it requires (RSA 2048)."),
        _d("ocs-password-missing", f"{KERBEROS_PASSWORD}, step 3", "Add the option 'password' to the section 'Microsoft-OCS', spelled exactly so."),
    ]
)

#: Who says the words of a pattern, as ``ucclab explain`` names them.
SOURCES: dict[str, str] = {
    "java": "Java (UC Connector)",
    "keytool": "keytool",
    "openssl": "OpenSSL",
    "schannel": "Windows SChannel",
    "lync": "Lync / Skype for Business",
    "ad": "Active Directory KDC",
    "mit": "MIT Kerberos",
}


@dataclass(frozen=True)
class Pattern:
    """Words one component uses for one cause: ``source`` (a key of :data:`SOURCES`),
    ``words`` (a case-insensitive regular expression), ``code`` and, for words whose cause
    depends on it, ``peer`` (whose certificate was judged). ``tokens`` are names and numbers
    that say the same as ``words`` (a Windows error's symbol, hex and decimal value).

    ``words`` is compiled when first searched (by ``re``'s own cache): most runs of the lab
    never search, and compiling the table took ~7 ms of every process that loads it."""

    source: str
    words: str
    code: str
    peer: Peer | None = None
    tokens: frozenset[str] = frozenset()


def _p(source: str, words: str, code: str, *, peer: Peer | None = None) -> Pattern:
    return Pattern(source, words, code, peer)


# One alternation for the two wordings of X509_V_ERR_INVALID_PURPOSE (26): OpenSSL 3.0's
# crypto/x509/x509_txt.c says "unsuitable certificate purpose" (research-12 §8f, run with
# OpenSSL 3.0.19); OpenSSL 1.1.1 and older said "unsupported certificate purpose".
_INVALID_PURPOSE = r"(?:unsuitable|unsupported) certificate purpose"


def _windows_error(symbol: str, value: int, text: str, code: str) -> Pattern:
    """An SChannel/CryptoAPI error as Windows writes it: its symbol, its value in hex or in
    decimal (IIS's sc-win32-status), or winerror.h's message text."""
    return Pattern("schannel", text, code,
                   tokens=frozenset({symbol, f"0x{value:08x}", str(value)}))


# Names and numbers a line may carry for :attr:`Pattern.tokens`: E_ symbols, 32-bit hex
# values, 10-digit decimal ones (looked up once per text rather than by each pattern).
_TOKENS = re.compile(r"\b(?:[A-Z][A-Z0-9]*_E_[A-Z0-9_]+|0x[0-9A-Fa-f]{8}|\d{10})\b")


PATTERNS: tuple[Pattern, ...] = (
    # -- keytool (the page's "Adding the Certificate to the UC Connector Installation") --------
    # Run here with keytool of OpenJDK 17.0.15: a PKCS12 store says "keystore password was
    # incorrect", a JKS one "Keystore was tampered with, or password was incorrect".
    _p("keytool", r"keytool error: .*(?:keystore password was incorrect|Keystore was tampered with, or password was incorrect)", "truststore-wrong-password"),
    _p("keytool", r"keytool error: .*(?:Keystore password must be at least 6 characters|Certificate not imported, alias <[^>]*> already exists)", "keytool-error"),
    _p("keytool", r"keytool error: ", "keytool-error"),
    # -- Java: JSSE and PKIX (OpenJDK 17.0.15 as run: vocabulary §5, research-12 §8, the
    # texts of harness/connector/_tls.py). The Java probe's errors join the causes with " <- ".
    _p("java", r"keystore password was incorrect", "pfx-wrong-password"),
    _p("java", r"problem accessing trust store", "truststore-wrong-password"),
    _p("java", r"Keystore was tampered with, or password was incorrect", "truststore-wrong-password"),
    _p("java", r"the trustAnchors parameter must be non-empty", "truststore-empty"),
    _p("java", r"PKIX path building failed|unable to find valid certification path to requested target", "truststore-missing-ca"),
    # jdk.certpath.disabledAlgorithms / jdk.tls.disabledAlgorithms (sun.security.provider.
    # certpath.AlgorithmChecker, sun.security.util.DisabledAlgorithmConstraints; run here).
    _p("java", r"Algorithm constraints check failed on keysize limits|Algorithm constraints check failed on key \S+ with size of", "cert-key-too-small"),
    _p("java", r"Algorithm constraints check failed on (?:signature algorithm|disabled algorithm)|denyAfter constraint check failed|Usage constraint \S+ check failed", "cert-signature-algorithm-disabled"),
    _p("java", r"Extended key usage does not permit use for TLS client authentication", "cert-eku-no-client-auth"),
    _p("java", r"Extended key usage does not permit use for TLS server authentication", "cert-eku-no-server-auth"),
    # Endpoint identification (HTTPS) only: sun.security.util.HostnameChecker.
    _p("java", r"No subject alternative (?:DNS )?names? matching|No name matching \S+ found|No subject alternative names present", "cert-name-mismatch"),
    _p("java", r"CertificateExpiredException", "cert-expired"),
    _p("java", r"CertificateNotYetValidException", "cert-not-yet-valid"),
    # java.security.cert.CertificateRevokedException.getMessage() (vocabulary §5).
    _p("java", r"Certificate has been revoked, reason", "cert-revoked"),
    # BasicChecker says "validity check failed" for both dates; the cause line tells which.
    _p("java", r"validity check failed", "cert-expired"),
    _p("java", r"Empty client certificate chain|Received fatal alert: certificate_required", "client-certificate-missing"),
    # A JDK 17 client meeting a TLS 1.0/1.1-only server, a JDK 17 server meeting a TLS 1.0/1.1
    # client, no protocol left to enable (research-12 §8c, ClientHello.java's constants).
    _p("java", r"Received fatal alert: protocol_version|Client requested protocol \S+ is not enabled or supported in server context|The client supported protocol versions \[[^]]*\] are not accepted by server preferences|No appropriate protocol \(protocol is disabled or cipher suites are inappropriate\)", "tls-protocol-mismatch"),
    _p("java", r"Received fatal alert: (?:bad_certificate|certificate_unknown|unknown_ca|unsupported_certificate|certificate_expired|certificate_revoked)", "peer-rejected-certificate"),
    _p("java", r"No available authentication scheme", "pfx-no-private-key"),
    # -- Java: JAAS Krb5LoginModule and JGSS (sun.security.krb5.KrbException texts, run here).
    _p("java", r"Pre-authentication information was invalid \(24\)", "krb-preauth-failed"),
    _p("java", r"Client not found in Kerberos database \(6\)", "krb-principal-unknown"),
    _p("java", r"Server not found in Kerberos database \(7\)", "krb-service-unknown"),
    _p("java", r"KDC has no support for encryption type \(14\)", "krb-des-disabled"),
    _p("java", r"Clients credentials have been revoked \(18\)", "krb-account-revoked"),
    _p("java", r"Password has expired - change password to reset \(23\)", "krb-password-expired"),
    # 17.0.15: "out of 2 default etypes no supported etypes found for configuration
    # default_tkt_enctypes"; earlier 17 builds: "no supported default etypes for default_tkt_enctypes".
    _p("java", r"no supported (?:default )?etypes", "krb-des-disabled"),
    _p("java", r"Clock skew too great \(37\)", "krb-clock-skew"),
    _p("java", r"Cannot locate default realm|Cannot locate KDC|\(68\)", "krb-realm-unknown"),
    _p("java", r"Receive timed out|Connection refused", "krb-kdc-unreachable"),
    # -- OpenSSL: X509_verify_cert_error_string (OpenSSL 3.0.19 as run, research-12 §8f),
    # s_client/s_server and pkcs12 output; Python's ssl says "Hostname mismatch".
    _p("openssl", _INVALID_PURPOSE, "cert-eku-no-client-auth", peer="client"),
    _p("openssl", _INVALID_PURPOSE, "cert-eku-no-server-auth", peer="server"),
    _p("openssl", _INVALID_PURPOSE, "cert-eku-wrong-purpose"),
    _p("openssl", r"certificate has expired", "cert-expired"),
    _p("openssl", r"certificate is not yet valid", "cert-not-yet-valid"),
    _p("openssl", r"certificate revoked", "cert-revoked"),
    # X509_V_ERR 3, 12, 11, 8 (OpenSSL 3.0 x509_txt.c): a CRL that cannot be had or trusted.
    _p("openssl", r"unable to get certificate CRL|CRL has expired|CRL is not yet valid|CRL signature failure",
       "cert-revocation-offline"),
    _p("openssl", r"unable to get (?:local )?issuer certificate|self[- ]signed certificate|unable to verify the first certificate", "cert-untrusted-ca"),
    # A server whose chain (or key) no signature algorithm the client offers can vouch for:
    # JSSE leaves java.security's disabled algorithms out of its offer (run here).
    _p("openssl", r"CA signature digest algorithm too weak|ca md too weak|no suitable signature algorithm", "cert-signature-algorithm-disabled"),
    _p("openssl", r"(?:EE|CA) certificate key too weak|(?:ee|ca) key too small", "cert-key-too-small"),
    _p("openssl", r"hostname mismatch|IP address mismatch", "cert-name-mismatch"),
    _p("openssl", r"peer did not return a certificate", "client-certificate-missing"),
    # "unsupported protocol" alone is the reason a server's OpenSSL logs: the Front End
    # stand-in's own words beside its SChannel event (SChannel's are assumed for this case).
    _p("openssl", r"tlsv1 alert protocol version|\bunsupported protocol\b|no protocols available", "tls-protocol-mismatch"),
    _p("openssl", r"Mac verify error: invalid password\?", "pfx-wrong-password"),
    # -- Windows SChannel: System-log events 36874-36888 (vocabulary §3a) and the
    # winerror.h errors they and IIS carry (vocabulary §3b). Events 36876/36877 name the
    # cause only through their error code, which the entries below find in the line.
    _windows_error("SEC_E_UNTRUSTED_ROOT", 0x80090325, r"The certificate chain was issued by an authority that is not trusted", "cert-untrusted-ca"),
    _windows_error("CERT_E_UNTRUSTEDROOT", 0x800B0109, r"terminated in a root certificate which is not trusted", "cert-untrusted-ca"),
    _windows_error("CERT_E_CHAINING", 0x800B010A, r"A certificate chain could not be built to a trusted root authority", "cert-untrusted-ca"),
    _windows_error("CERT_E_UNTRUSTEDCA", 0x800B0112, r"one of the CA certificates is not trusted by the policy provider", "cert-untrusted-ca"),
    _windows_error("SEC_E_CERT_EXPIRED", 0x80090328, r"The received certificate has expired", "cert-expired"),
    _windows_error("CERT_E_EXPIRED", 0x800B0101, r"A required certificate is not within its validity period", "cert-expired"),
    _windows_error("CERT_E_REVOKED", 0x800B010C, r"A certificate was explicitly revoked by its issuer", "cert-revoked"),
    _windows_error("CRYPT_E_REVOKED", 0x80092010, r"The certificate is revoked", "cert-revoked"),
    _windows_error("CRYPT_E_REVOCATION_OFFLINE", 0x80092013, r"unable to check revocation because the revocation server was offline", "cert-revocation-offline"),
    _windows_error("CRYPT_E_NO_REVOCATION_CHECK", 0x80092012, r"The revocation function was unable to check revocation for the certificate", "cert-revocation-offline"),
    _windows_error("CERT_E_REVOCATION_FAILURE", 0x800B010E, r"The revocation process could not continue", "cert-revocation-offline"),
    _windows_error("SEC_E_WRONG_PRINCIPAL", 0x80090322, r"The target principal name is incorrect", "cert-name-mismatch"),
    _windows_error("CERT_E_CN_NO_MATCH", 0x800B010F, r"The certificate's CN name does not match the passed value", "cert-name-mismatch"),
    _windows_error("SEC_E_CERT_WRONG_USAGE", 0x80090349, r"The certificate is not valid for the requested usage", "cert-eku-wrong-purpose"),
    _windows_error("CERT_E_WRONG_USAGE", 0x800B0110, r"The certificate is not valid for the requested usage", "cert-eku-wrong-purpose"),
    _windows_error("SEC_E_ALGORITHM_MISMATCH", 0x80090331, r"do not possess a common algorithm", "tls-protocol-mismatch"),
    _windows_error("SEC_E_TIME_SKEW", 0x80090324, r"The clocks on the client and server machines are skewed", "krb-clock-skew"),
    _windows_error("SEC_E_KDC_UNKNOWN_ETYPE", 0x80090342, r"The encryption type requested is not supported by the KDC", "krb-des-disabled"),
    _windows_error("SEC_E_NO_AUTHENTICATING_AUTHORITY", 0x80090311, r"No authority could be contacted for authentication", "krb-kdc-unreachable"),
    _windows_error("SEC_E_LOGON_DENIED", 0x8009030C, r"The logon attempt failed", "sip-auth-rejected"),
    _p("schannel", r"The certificate received from the remote (?:server|client application) was issued by an untrusted certificate authority", "cert-untrusted-ca"),  # 36882
    _p("schannel", r"The certificate received from the remote (?:server|client application) has either expired or is not yet valid", "cert-expired"),  # 36881
    _p("schannel", r"The certificate received from the remote (?:server|client application) has been revoked", "cert-revoked"),  # 36883
    _p("schannel", r"The certificate received from the remote server does not contain the expected name", "cert-name-mismatch"),  # 36884
    _p("schannel", r"none of the cipher suites supported by the client application are supported by the server", "tls-protocol-mismatch"),  # 36874
    # 36887 (received) / 36888 (sent) with the alert number (RFC 5246 §7.2); older
    # renderings say "fatal error code" and "The following fatal alert was received: N".
    _p("schannel", r"(?:fatal (?:alert|error) code is|fatal alert was received: )\s*70\b", "tls-protocol-mismatch"),
    _p("schannel", r"(?:sent to the remote endpoint.*fatal (?:alert|error) code is)\s*48\b", "cert-untrusted-ca"),
    _p("schannel", r"(?:sent to the remote endpoint.*fatal (?:alert|error) code is)\s*45\b", "cert-expired"),
    _p("schannel", r"(?:sent to the remote endpoint.*fatal (?:alert|error) code is)\s*44\b", "cert-revoked"),
    _p("schannel", r"(?:received from the remote endpoint.*fatal (?:alert|error) code is|fatal alert was received: )\s*(?:42|43|44|45|46|48)\b", "peer-rejected-certificate"),
    # -- Lync / Skype for Business: ms-diagnostics IDs and reasons (MS-OCER, vocabulary §1b,
    # §1c; research-12 §2), the SIPStack trace and event 14428 (vocabulary §2).
    _p("lync", r"ms-diagnostics(?:-public)?\s*:\s*1010\b|Certificate trust with next-hop server could not be established", "cert-untrusted-ca"),
    _p("lync", r"ms-diagnostics(?:-public)?\s*:\s*1013\b|Significant time skew detected during authentication", "krb-clock-skew"),
    _p("lync", r"ms-diagnostics(?:-public)?\s*:\s*1047\b|Failed to complete TLS negotiation", "tls-handshake-failed"),
    _p("lync", r"ms-diagnostics(?:-public)?\s*:\s*4004\b|Credentials provided are not authorized to act as specified from URI", "sip-auth-rejected"),
    _p("lync", r"ms-diagnostics(?:-public)?\s*:\s*(?:1003|4005|4006)\b|Destination URI either not enabled for SIP or does not exist|User not found in pool", "sip-rejected"),
    _p("lync", r"The peer is not a configured server on this network interface", "cert-name-mismatch"),
    _p("lync", r"TLS outgoing connection failures", "tls-handshake-failed"),
    # -- Active Directory KDC: events 14, 16, 27 (KB 977321, KB 4492348; vocabulary §4a) and
    # the KRB-ERROR names Windows tools print.
    _p("ad", r"did not have a suitable key for generating a Kerberos ticket|KDC_ERR_ETYPE_NOT?SUPP", "krb-des-disabled"),
    _p("ad", r"KDC_ERR_PREAUTH_FAILED", "krb-preauth-failed"),
    _p("ad", r"KDC_ERR_C_PRINCIPAL_UNKNOWN", "krb-principal-unknown"),
    _p("ad", r"KDC_ERR_S_PRINCIPAL_UNKNOWN", "krb-service-unknown"),
    _p("ad", r"KRB_AP_ERR_SKEW", "krb-clock-skew"),
    # KERB-EXT-ERROR NTSTATUS of the account states (ntstatus.h; MS-KILE 3.3.5.7.1 maps them to 18 and 23).
    _p("ad", r"KDC_ERR_CLIENT_REVOKED|STATUS_ACCOUNT_(?:DISABLED|LOCKED_OUT|EXPIRED)|0xC0000(?:072|234|193)\b", "krb-account-revoked"),
    _p("ad", r"KDC_ERR_KEY_EXPIRED|STATUS_PASSWORD_(?:MUST_CHANGE|EXPIRED)|0xC0000(?:224|071)\b", "krb-password-expired"),
    # -- MIT Kerberos 1.20 kinit/kvno (run here against a k5test realm; the messages are
    # MIT's krb5_err.et / k5e1_err.et texts after "<tool>: ").
    _p("mit", r"Password incorrect while getting initial credentials|Preauthentication failed", "krb-preauth-failed"),
    _p("mit", r"Client '?[^ ']*'? not found in Kerberos database", "krb-principal-unknown"),
    _p("mit", r"Server '?[^ ']*'? not found in Kerberos database", "krb-service-unknown"),
    _p("mit", r"Cannot find KDC for realm|Configuration file does not specify default realm", "krb-realm-unknown"),
    _p("mit", r"Cannot contact any KDC for realm", "krb-kdc-unreachable"),
    _p("mit", r"No supported encryption types \(config file error\?\)|KDC has no support for encryption type", "krb-des-disabled"),
    _p("mit", r"Clock skew too great", "krb-clock-skew"),
    # Against the lab's KDC: a disabled, locked-out or expired account; "User must change
    # password at next logon" (kinit then asks for a new one).
    _p("mit", r"Client's credentials have been revoked", "krb-account-revoked"),
    _p("mit", r"Password expired\.\s+You must change it now|Password has expired", "krb-password-expired"),
)


def match_text(text: str | None, *, sources: tuple[str, ...] | None = None, peer: Peer | None = None
               ) -> tuple[Pattern, re.Match[str]] | None:
    """The first pattern of :data:`PATTERNS` that ``text`` matches, and its match.

    ``sources`` limits the search to some components' words; ``peer`` says whose
    certificate the text judges (patterns with a ``peer`` match only the one given).
    """
    if not text:
        return None
    tokens = {token.lower() if token[:2].lower() == "0x" else token for token in _TOKENS.findall(text)}
    for pattern in PATTERNS:
        if sources is not None and pattern.source not in sources:
            continue
        if pattern.peer is not None and pattern.peer != peer:
            continue
        said = tokens & pattern.tokens
        found = re.search(re.escape(min(said)) if said else pattern.words, text, re.IGNORECASE)
        if found is not None:
            return pattern, found
    return None


def code_for_text(text: str | None, *, sources: tuple[str, ...] | None = None, peer: Peer | None = None) -> str | None:
    """The code :func:`match_text` finds for ``text``, if any."""
    found = match_text(text, sources=sources, peer=peer)
    return found[0].code if found else None


def code_for_java_error(text: str | None) -> str | None:
    """The code for a Java exception text (with its causes), if it names a known cause."""
    return code_for_text(text, sources=("java",))


def code_for_verify_error(text: str | None, *, peer: Peer | None = None) -> str | None:
    """The code for an OpenSSL verification text, if it names a known cause; ``peer`` says
    whether the certificate judged was the TLS client's or the TLS server's."""
    return code_for_text(text, sources=("openssl",), peer=peer)


def diagnose(code: str, message: str, evidence: Any = None, *, doc_step: str | None = None,
             fix: str | None = None) -> dict[str, Any]:
    """A diagnosis as the reports carry it: code, the page's step, message, evidence, fix
    (``doc_step`` and ``fix`` default to the code's; a caller that knows better names them)."""
    known = DIAGNOSES.get(code)
    return {
        "code": code,
        "doc_step": doc_step or (known.doc_step if known else None),
        "message": message,
        "evidence": evidence,
        "fix": fix or (known.fix if known else None),
    }
