"""A Lync / Skype for Business Front End stand-in: SIP registrar and presence over MTLS.

It plays ``fe01.companya.com`` of the vendor page: the pool server the UC Connector
registers with over mutual TLS, and the server that pushes presence to the connector's
Secured SIP port. In a minute::

    from pathlib import Path
    from fakes.frontend import FrontendConfig, FrontendServer

    config = FrontendConfig(fqdn="fe01.companya.com", certificate_chain=Path("fe.pem"),
                            private_key=Path("fe.key"), trusted_cas=Path("ca.pem"),
                            known_peers=("ucc01.companya.com",))
    async with FrontendServer(config) as frontend:     # 127.0.0.1, a free port
        ...                                            # connect to frontend.port with MTLS
        await frontend.events.wait_for("response", status=200)
        frontend.events.of_type("tls-handshake")[0]["peer"]["subject"]

Like Lync it requires a client certificate chaining to a trusted CA, accepts a
serverAuth-only client certificate as SChannel does (``require_client_auth_eku=True``
makes it as strict as OpenSSL or Java), checks its revocation against the CRL at its CDP
(:mod:`._revocation`), and serves SIP only to peers whose certificate's subject names a
trusted application pool or computer of its topology (:class:`Topology`); others are
refused with Lync's "The peer is not a configured server on this network interface". It
speaks the TLS of a product on a Windows Server (``profile``: ``lync2013``, ``sfb2015`` —
the default, TLS 1.0-1.2 —, ``sfb2015-hardened``, ``sfb2019``; :mod:`._profiles`), puts
Lync's ``ms-diagnostics`` on its error answers and ``received``/``rport``/
``ms-received-*`` on the Via. Every connection, handshake, verification error (with
SChannel's event and HRESULT beside OpenSSL's words), request and answer is in
:attr:`FrontendServer.events`.

With ``FrontendConfig(kerberos=FrontendKerberos(service_keys))`` it also plays the
TLS/Kerberos half of the page: a client without a certificate is served over TLS, and its
requests must authenticate with MS-SIPAE Kerberos (:mod:`fakes.sipae`) — 401 with the
challenge for ``sip/<fqdn>``, then a Kerberos AP-REQ in ``gssapi-data``, then signed
messages; the ``sipae-*`` events record who authenticated and why a request was refused.

Run it alone with ``python -m fakes.frontend`` (see :mod:`fakes.frontend.server`). The
SIP rules are sans-I/O (:mod:`fakes.sip`, :class:`Registrar`, :class:`SipSession`, the TLS
session on memory BIOs); the asyncio server only moves bytes and time.
"""

from ._certinfo import certificate_names, common_names, describe_certificate, dns_names, matching_peer
from ._config import FrontendConfig, FrontendKerberos, read_service_keys, write_service_keys
from ._eventlog import EventLog
from ._profiles import DEFAULT_PROFILE, PROFILES, TlsProfile
from ._revocation import CrlCache, RevocationResult, check_crl
from ._topology import Topology, TopologyError, TrustedApplication, TrustedApplicationPool
from ._registrar import ALLOWED_METHODS, Answer, Binding, Registrar, Subscription
from ._session import Output, SipSession
from ._tls import MtlsServerContext, MtlsServerSession, TlsFailure, VerifyError
from .server import AUTHENTICATION_REQUIRED, NOT_A_CONFIGURED_SERVER, FrontendServer, PushResult, main

__all__ = [
    "ALLOWED_METHODS",
    "AUTHENTICATION_REQUIRED",
    "DEFAULT_PROFILE",
    "NOT_A_CONFIGURED_SERVER",
    "PROFILES",
    "Answer",
    "Binding",
    "CrlCache",
    "EventLog",
    "FrontendConfig",
    "FrontendKerberos",
    "FrontendServer",
    "MtlsServerContext",
    "MtlsServerSession",
    "Output",
    "PushResult",
    "Registrar",
    "RevocationResult",
    "SipSession",
    "Subscription",
    "TlsFailure",
    "TlsProfile",
    "Topology",
    "TopologyError",
    "TrustedApplication",
    "TrustedApplicationPool",
    "VerifyError",
    "certificate_names",
    "common_names",
    "check_crl",
    "describe_certificate",
    "dns_names",
    "main",
    "matching_peer",
    "read_service_keys",
    "write_service_keys",
]
