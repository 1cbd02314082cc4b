"""The UC Connector stand-in: a Python imitation of the Java connector's TLS behaviour.

The real UC Connector is a Java server; the page configures it through its Application
object (command-line arguments, a Secured SIP port, ``Microsoft-OCS`` options). This
package reads the same configuration and behaves as the Java connector would with it::

    connector = UCConnector.from_application(
        app, resolve_path=to_lab_path, java_home=jdk, frontend_fqdn="fe01.companya.com",
        ucc_fqdn="ucc01.companya.com")
    connector.findings                     # typos, store problems, a missing Secured port
    report = await connector.register("127.0.0.1", frontend_port)     # connector → Front End
    async with await connector.start_secure_port() as port:            # Front End → connector
        await port.wait_for("request")

- :mod:`._arguments` — the command line as the page writes it (``parse_arguments``,
  ``format_arguments``), its typos as findings;
- :mod:`._jsse` — the stores as SunJSSE loads them (key material, trust anchors, the
  ``jssecacerts``/``cacerts`` fallback), Java's error texts;
- :mod:`._security` — the host JDK's ``java.security`` (disabled algorithms, TLS versions)
  as JDK 17 applies it, Java's constraint messages;
- :mod:`._tls` — ``ssl`` contexts that behave like JSSE under that policy, endpoint
  identification as a setting, handshake failures in Java's words;
- :mod:`._kerberos` — the TLS/Kerberos login: krb5.conf as Java reads it, the KDC, MS-SIPAE
  (:mod:`fakes.sipae`), Java's error texts, diagnoses;
- :mod:`.connector` — ``UCConnector``: both MTLS directions and the TLS/Kerberos login, with
  evidence.

TLS/Kerberos ("Modifying Command Line Parameters for TLS")::

    report = await connector.login("127.0.0.1", frontend_port)         # KerberosReport
    report.outcome, report.code, report.rspauth_verified, report.findings
"""

from ._arguments import (
    KNOWN_OPTIONS,
    ArgumentFinding,
    ConnectorArguments,
    ParsedArguments,
    format_arguments,
    parse_arguments,
)
from ._findings import Finding, Severity
from ._jsse import (
    DEFAULT_STORE_TYPE,
    JsseError,
    KeyMaterial,
    StoreFinding,
    TrustMaterial,
    TrustSource,
    load_key_material,
    load_trust_anchors,
)
from ._kerberos import OCS_USER_OPTION, PAGE_OCS_USER, KerberosReport
from ._security import JDK17_SECURITY, JavaSecurity, JavaSecurityError, format_properties, parse_properties
from ._tls import EndpointIdentification, TlsFailure, java_date
from .connector import (
    MICROSOFT_OCS,
    ClientReport,
    ConnectorError,
    Mode,
    PortFinding,
    SecurePortEvent,
    SecurePortServer,
    UCConnector,
)

__all__ = [
    "Finding",
    "Severity",
    "ConnectorArguments",
    "ArgumentFinding",
    "ParsedArguments",
    "KNOWN_OPTIONS",
    "parse_arguments",
    "format_arguments",
    "DEFAULT_STORE_TYPE",
    "JsseError",
    "StoreFinding",
    "KeyMaterial",
    "TrustMaterial",
    "TrustSource",
    "load_key_material",
    "load_trust_anchors",
    "TlsFailure",
    "EndpointIdentification",
    "java_date",
    "JavaSecurity",
    "JavaSecurityError",
    "JDK17_SECURITY",
    "parse_properties",
    "format_properties",
    "UCConnector",
    "ClientReport",
    "SecurePortServer",
    "SecurePortEvent",
    "PortFinding",
    "ConnectorError",
    "Mode",
    "MICROSOFT_OCS",
    "KerberosReport",
    "OCS_USER_OPTION",
    "PAGE_OCS_USER",
]
