"""MS-SIPAE Kerberos for SIP, sans I/O: the Front End's and the connector's shared core.

[MS-SIPAE] (Session Initiation Protocol Authentication Extensions) is how Lync / Skype for
Business authenticates a SIP client that is not a trusted MTLS peer — the UC Connector
logging in as its OCS user over TLS, in the vendor page's TLS/Kerberos procedure. It has
two phases: a security association (SA) is established — for Kerberos in one leg: the
401 challenge names the SPN ``sip/<fqdn>``, the client answers with a GSS-API AP-REQ in
``gssapi-data`` —, then every message is signed with RFC 4121 MIC tokens over a buffer of
its SIP fields (``response`` from the client, ``rspauth`` from the server).

- :mod:`._headers` — the ``WWW-Authenticate`` / ``Authorization`` / ``Authentication-Info``
  values: :class:`Challenge`, :class:`Credentials`, :class:`AuthenticationInfo`, strict
  parsers that say what is wrong;
- :mod:`._signature` — :func:`signature_buffer` (the exact order of the signed fields,
  with its sources), :func:`make_signature` / :func:`check_signature`;
- :mod:`._server` — :class:`SipaeServer`: challenge, accept, SA, sign, verify;
- :mod:`._client` — :class:`SipaeClient`: answer, sign, verify ``rspauth``.

Nothing here opens a socket or reads the clock: ``now`` and ``rng`` are injected, the
Kerberos work is :mod:`fakes.kerberos`'s. In a minute (with a ticket from the lab's KDC)::

    server = SipaeServer(targetname="sip/fe01.companya.com", service_keys=fe_keys, now=utc_now, rng=os.urandom)
    challenge = select_challenge([value for _, value in server.challenges()])
    token, context = make_initial_context_token(ticket)
    client = SipaeClient(challenge, context, token, rng=os.urandom)
    decision = server.check(parse_message(client.authorize(register)))   # Established(sa, signed=True, cnum=1)
    client.verify(parse_message(server.sign(decision.sa, ok_response)))  # rspauth verified
"""

from ._client import SipaeClient, select_challenge
from ._errors import LocalProtocolError, RemoteProtocolError, SignatureError, SipaeError
from ._headers import (
    AUTHENTICATION_INFO,
    AUTHORIZATION,
    KERBEROS,
    NTLM,
    SIP_COMMUNICATIONS_SERVICE,
    WWW_AUTHENTICATE,
    AuthenticationInfo,
    Challenge,
    Credentials,
    parse_auth_params,
    parse_authentication_info,
    parse_challenge,
    parse_credentials,
)
from ._server import (
    BadSignature,
    Decision,
    Established,
    NeedChallenge,
    Rejected,
    SecurityAssociation,
    SipaeServer,
    Verified,
)
from ._signature import MicContext, check_signature, make_signature, parse_message, signature_buffer, with_header

__all__ = [
    # errors
    "SipaeError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "SignatureError",
    # headers
    "KERBEROS",
    "NTLM",
    "SIP_COMMUNICATIONS_SERVICE",
    "WWW_AUTHENTICATE",
    "AUTHORIZATION",
    "AUTHENTICATION_INFO",
    "Challenge",
    "Credentials",
    "AuthenticationInfo",
    "parse_auth_params",
    "parse_challenge",
    "parse_credentials",
    "parse_authentication_info",
    # signature
    "MicContext",
    "signature_buffer",
    "make_signature",
    "check_signature",
    "parse_message",
    "with_header",
    # server
    "SipaeServer",
    "SecurityAssociation",
    "Decision",
    "NeedChallenge",
    "Rejected",
    "Established",
    "Verified",
    "BadSignature",
    # client
    "SipaeClient",
    "select_challenge",
]
