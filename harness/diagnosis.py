"""Diagnosis codes: each failure's stable code, the step of the page that causes it, the fix.

A code names a cause in the page's terms. ``DIAGNOSES`` maps it to the page's heading and
step that a support engineer should revisit and one sentence saying what to do; the
evidence (what the server side saw) comes from the failure itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Diagnosis", "DIAGNOSES", "diagnose", "code_for_verify_error", "code_for_java_error"]

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


@dataclass(frozen=True)
class Diagnosis:
    code: str
    doc_step: str
    fix: str


def _d(code: str, doc_step: str, fix: str) -> tuple[str, Diagnosis]:
    return code, Diagnosis(code, doc_step, fix)


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
        _d("cert-expired", f"{SHELL}, step 1", "Request a new certificate: this one has expired."),
        _d("cert-not-yet-valid", f"{SHELL}, step 1", "Check the hosts' clocks: the certificate is not valid yet."),
        _d("cert-untrusted-ca", f"{SHELL}, step 1", "Request the certificate from the enterprise CA the Front End trusts."),
        _d("client-certificate-missing", f"{MTLS_ARGS}, step 2", "Give the connector its PFX (-cert_store_file/-cert_store_pass/-cert_store_type pkcs12)."),
        _d("arg-unknown", f"{MTLS_ARGS}, step 2", "Correct the option's name (the page's '-ket_store_type' is '-key_store_type')."),
        _d("arg-missing-value", f"{MTLS_ARGS}, step 2", "Replace the page's <placeholder> with the real value."),
        _d("arg-malformed", f"{MTLS_ARGS}, step 2", "Write '-cert_store_file <path>' (the page's '-cert_store_<path>' glues the path to the option)."),
        _d("secure-port-missing", f"{PORT}, step 1", "Add a SIP port with Listening Mode Secured on the Application's Server Info tab."),
        _d("secure-port-not-secured", f"{PORT}, step 1", "Set the SIP port's Listening Mode to Secured."),
        _d("secure-port-busy", f"{PORT}, step 1", "Pick a free Communication Port for the Secured SIP port."),
        _d("krb-des-disabled", f"{KERBEROS_AD}, step 3", "Clear 'Use Kerberos DES encryption for this account': single DES is disabled in modern Kerberos (RFC 6649), then reset the password so AES keys exist."),
        _d("krb-weak-crypto-enabled", f"{KRB5_CONF}, step 2", "Remove allow_weak_crypto = true once the account has AES keys: it re-enables DES, RC4 and 3DES."),
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

# OpenSSL verification texts (as the Front End logs them) → codes.
_VERIFY_CODES = {
    "certificate has expired": "cert-expired",
    "certificate is not yet valid": "cert-not-yet-valid",
    "unable to get local issuer certificate": "cert-untrusted-ca",
    "unable to get issuer certificate": "cert-untrusted-ca",
    "self-signed certificate in certificate chain": "cert-untrusted-ca",
    "self signed certificate in certificate chain": "cert-untrusted-ca",
    "self-signed certificate": "cert-untrusted-ca",
    "unsupported certificate purpose": "cert-eku-no-client-auth",
    # What OpenSSL says as a client when the server's certificate lacks serverAuth.
    "unsuitable certificate purpose": "cert-eku-no-server-auth",
    "peer did not return a certificate": "client-certificate-missing",
}

# The connector stand-in's codes → the lab's diagnosis codes.
_CONNECTOR_CODES = {
    "server-name-mismatch": "cert-name-mismatch",
    "certificate-expired": "cert-expired",
    "certificate-not-yet-valid": "cert-not-yet-valid",
    "eku-client-auth-missing": "cert-eku-no-client-auth",
    "eku-server-auth-missing": "cert-eku-no-server-auth",
}


# Java's exception texts (JSSE, JAAS/JGSS; OpenJDK 17 as measured) → codes.
_JAVA_CODES = (
    ("keystore password was incorrect", "pfx-wrong-password"),
    ("problem accessing trust store", "truststore-wrong-password"),
    ("Keystore was tampered with, or password was incorrect", "truststore-wrong-password"),
    ("the trustAnchors parameter must be non-empty", "truststore-empty"),
    ("PKIX path building failed", "truststore-missing-ca"),
    ("Extended key usage does not permit use for TLS client authentication", "cert-eku-no-client-auth"),
    ("No subject alternative DNS name matching", "cert-name-mismatch"),
    ("No name matching", "cert-name-mismatch"),
    ("CertificateExpiredException", "cert-expired"),
    ("CertificateNotYetValidException", "cert-not-yet-valid"),
    ("Empty client certificate chain", "client-certificate-missing"),
    ("Pre-authentication information was invalid (24)", "krb-preauth-failed"),
    ("Client not found in Kerberos database (6)", "krb-principal-unknown"),
    ("Server not found in Kerberos database (7)", "krb-service-unknown"),
    ("KDC has no support for encryption type (14)", "krb-des-disabled"),
    ("no supported etypes found", "krb-des-disabled"),
    ("Clock skew too great (37)", "krb-clock-skew"),
    ("Cannot locate default realm", "krb-realm-unknown"),
    ("Cannot locate KDC", "krb-realm-unknown"),
    ("(68)", "krb-realm-unknown"),
    ("Receive timed out", "krb-kdc-unreachable"),
    ("Connection refused", "krb-kdc-unreachable"),
)


def code_for_java_error(text: str | None) -> str | None:
    """The code for a Java exception text (with its causes), if it names a known cause."""
    if not text:
        return None
    return next((code for needle, code in _JAVA_CODES if needle in text), None)


def code_for_verify_error(text: str | None) -> str | None:
    """The code for an OpenSSL verification error text, if it names a known cause."""
    if not text:
        return None
    lowered = text.lower()
    return next((code for needle, code in _VERIFY_CODES.items() if needle in lowered), None)


def diagnose(code: str, message: str, evidence: Any = None, *, doc_step: str | None = None) -> dict[str, Any]:
    """A diagnosis as the reports carry it: code, the page's step, message, evidence, fix."""
    code = _CONNECTOR_CODES.get(code, code)
    known = DIAGNOSES.get(code)
    return {
        "code": code,
        "doc_step": doc_step or (known.doc_step if known else None),
        "message": message,
        "evidence": evidence,
        "fix": known.fix if known else None,
    }
