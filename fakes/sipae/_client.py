"""The client's side of MS-SIPAE Kerberos, sans I/O: answer a challenge, sign requests,
check the server's signatures.

The caller has taken the Kerberos challenge from a 401 (:func:`select_challenge`), got a
ticket for its ``targetname`` and made the GSS-API initial token and context (with
:func:`fakes.kerberos.make_initial_context_token`, or MIT's library). Then::

    client = SipaeClient(challenge, context, token, rng=os.urandom)
    register = client.authorize(register_bytes)      # Authorization with gssapi-data (signed from version 4)
    ...                                              # send it, read the 200
    client.verify(response)                          # rspauth checked; the SA's opaque learned
    options = client.authorize(options_bytes)        # Authorization with opaque, crand, cnum, response

[MS-SIP] §3.1.4.2 (signing what is sent), MS-SIPAE §3.2.5.2 (checking the server's messages): the client looks up
the SA by protocol, realm and target of the Authentication-Info and verifies ``rspauth``
over the message's buffer with the server's ``srand``/``snum``. ``cnum`` counts the
client's signed messages from 1, as pidgin-sipe does; ``crand`` is 32 random bits in hex.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import sipmessage

from fakes.kerberos import Rng

from ._errors import LocalProtocolError, RemoteProtocolError, SignatureError
from ._headers import (
    AUTHENTICATION_INFO,
    AUTHORIZATION,
    KERBEROS,
    AuthenticationInfo,
    Challenge,
    Credentials,
    parse_authentication_info,
    parse_challenge,
)
from ._signature import MicContext, check_signature, make_signature, parse_message, signature_buffer, with_header

__all__ = ["SipaeClient", "select_challenge"]


def select_challenge(values: Iterable[str], protocol: str = KERBEROS) -> Challenge | None:
    """The challenge for ``protocol`` among a 401's ``WWW-Authenticate`` values (None if the
    server does not offer it). A malformed offer of that protocol raises
    :class:`RemoteProtocolError`; offers of other protocols are not examined."""
    for value in values:
        if value.strip().split(None, 1)[0].lower() == protocol.lower():
            return parse_challenge(value)
    return None


class SipaeClient:
    """One security association, from the client's end.

    ``challenge`` is the server's Kerberos challenge, ``context`` the client's GSS context
    and ``token`` the initial context token that opened it (sent as ``gssapi-data`` once).
    """

    def __init__(self, challenge: Challenge, context: MicContext, token: bytes, *, rng: Rng) -> None:
        self.challenge = challenge
        self.version = challenge.version if challenge.version is not None else 3
        self.context = context
        self.opaque: str | None = None
        self.cnum = 0
        self._token = token
        self._rng = rng
        self._token_sent = False

    @property
    def established(self) -> bool:
        """Whether the server's signature has been verified (its opaque is known)."""
        return self.opaque is not None

    def authorize(self, raw: bytes) -> bytes:
        """``raw`` (a serialized request) with its ``Authorization`` header.

        The first call carries ``gssapi-data`` (and, from version 4 on, the signature);
        later calls, once :meth:`verify` has accepted a server signature, carry ``opaque``
        and the signature. Calling again before that is a :class:`LocalProtocolError`:
        the token can be presented once (a second use is a replay).
        """
        request = parse_message(raw)
        if not isinstance(request, sipmessage.Request):
            raise LocalProtocolError("only requests carry an Authorization header")
        challenge = self.challenge
        if self.opaque is None:
            if self._token_sent:
                raise LocalProtocolError("the security association is not established yet: no Authentication-Info "
                                         "from the server has been verified")
            self._token_sent = True
            credentials = Credentials(challenge.protocol, challenge.realm, challenge.targetname,
                                      gssapi_data=self._token, version=challenge.version)
            if self.version >= 4:  # version 4 signs the request that carries the token (pidgin-sipe)
                credentials = self._signed(request, credentials)
        else:
            credentials = self._signed(request, Credentials(challenge.protocol, challenge.realm,
                                                            challenge.targetname, opaque=self.opaque))
        return with_header(raw, AUTHORIZATION, credentials.header_value())

    def _signed(self, request: sipmessage.Request, credentials: Credentials) -> Credentials:
        self.cnum += 1
        crand = self._rng(4).hex()
        buffer = signature_buffer(request, protocol=credentials.protocol, rand=crand, num=str(self.cnum),
                                  realm=credentials.realm, targetname=credentials.targetname,
                                  version=max(self.version, 3))
        return replace(credentials, crand=crand, cnum=str(self.cnum), response=make_signature(self.context, buffer))

    def verify(self, message: sipmessage.Response | sipmessage.Request) -> AuthenticationInfo:
        """Check the server's ``Authentication-Info`` on ``message``; learn the SA's opaque.

        :class:`RemoteProtocolError` when the header is missing or malformed or names
        another SA (MS-SIPAE §3.2.5.2 step 1: such a message is discarded);
        :class:`SignatureError` when ``rspauth`` does not verify.
        """
        value = message.headers.get(AUTHENTICATION_INFO)
        if value is None:
            raise RemoteProtocolError(AUTHENTICATION_INFO, "the message is not signed (no Authentication-Info)")
        info = parse_authentication_info(value)
        challenge = self.challenge
        if (info.protocol.lower(), info.realm, info.targetname) != (challenge.protocol.lower(), challenge.realm,
                                                                    challenge.targetname):
            raise RemoteProtocolError(AUTHENTICATION_INFO, f"it names {info.protocol} {info.realm!r} "
                                      f"{info.targetname!r}, not this security association")
        if self.opaque is not None and info.opaque != self.opaque:
            raise RemoteProtocolError(AUTHENTICATION_INFO, f"opaque {info.opaque!r} is not this security "
                                      f"association's {self.opaque!r}")
        buffer = signature_buffer(message, protocol=info.protocol, rand=info.srand, num=info.snum, realm=info.realm,
                                  targetname=info.targetname, version=max(self.version, 3))
        try:
            check_signature(self.context, buffer, info.rspauth)
        except SignatureError as error:
            raise SignatureError(error.code, f"rspauth does not verify: {error.reason}") from error
        self.opaque = info.opaque
        return info
