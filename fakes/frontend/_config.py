"""Configuration of the Front End stand-in."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fakes._files import write_private_file
from fakes.kerberos import DEFAULT_MAX_SKEW, KerberosError, Key
from fakes.sip import SipLimits
from fakes.sipae import SIP_COMMUNICATIONS_SERVICE

__all__ = ["FrontendConfig", "FrontendKerberos", "read_service_keys", "write_service_keys"]

TLS_VERSIONS = ("1.2", "1.3")


@dataclass(frozen=True)
class FrontendKerberos:
    """MS-SIPAE Kerberos on the Front End's TLS port, for clients without a certificate.

    ``service_keys`` are the long-term keys of the AD account that holds the SPN
    ``sip/<fqdn>`` (what a keytab of it would hold: AES256, AES128, RC4 and/or DES, as
    the KDC's account has them); from a :class:`fakes.kdc.Account`:
    ``FrontendKerberos(tuple(account.keys("COMPANYA.COM").values()))``.
    ``service_principal`` is the challenge's targetname, ``sip/<FrontendConfig.fqdn>``
    when None. ``realm`` and ``version`` are what the challenge announces (Lync: "SIP
    Communications Service", version 4); ``max_skew`` the clock tolerance (AD's 5
    minutes); ``offer_ntlm`` puts the NTLM offer beside the Kerberos one, as Lync does.
    """

    service_keys: tuple[Key, ...]
    service_principal: str | None = None
    realm: str = SIP_COMMUNICATIONS_SERVICE
    version: int = 4
    max_skew: timedelta = DEFAULT_MAX_SKEW
    offer_ntlm: bool = True

    def __post_init__(self) -> None:
        # A list (or a dict's values) given where a tuple is expected: keep it hashable.
        object.__setattr__(self, "service_keys", tuple(self.service_keys))
        if not self.service_keys:
            raise ValueError("FrontendKerberos needs the service account's keys")
        if self.version not in (3, 4):
            raise ValueError(f"MS-SIPAE version must be 3 or 4, not {self.version}")
        if self.service_principal is not None and not self.service_principal.startswith("sip/"):
            raise ValueError(f"the Kerberos targetname is sip/<fqdn>, not {self.service_principal!r}")


@dataclass(frozen=True)
class FrontendConfig:
    """What a Front End pool server needs for SIP over MTLS (and, optionally, TLS with Kerberos).

    ``certificate_chain`` is PEM (leaf first, then the intermediates), ``private_key`` the
    leaf's PEM key, ``trusted_cas`` a PEM bundle of the CAs whose client certificates are
    accepted (the lab CA). ``known_peers`` are the FQDNs of the topology's trusted
    application pools and computers: only a client certificate naming one of them gets
    SIP service. ``require_client_auth_eku=False`` is Lync's SChannel behaviour (a
    serverAuth-only client certificate is accepted); ``True`` is OpenSSL's and Java's.
    ``client_ca_names`` sends the trusted CAs' names in the CertificateRequest, as
    SChannel does — a client whose certificate is from another CA then sends none.
    ``idle_timeout`` (seconds) closes a TLS connection that sends nothing for that long,
    between SIP messages or inside one. Deadlines bound the whole of a step however the
    peer paces its bytes: ``handshake_timeout`` from the TCP accept to the end of the TLS
    handshake, ``message_timeout`` from a SIP message's first byte to its last (a stalled
    message is answered 400 before the close). ``max_connections`` caps the connections
    served at once; one more is closed at once, before TLS, with a ``connection-refused``
    event saying why. Lync's own values are not published (assumed): the defaults are
    generous for a lab, hundreds of peers at a time on a loaded machine.

    ``kerberos`` set: a client that presents no certificate is no longer refused at the
    TLS layer (Lync's 5061 asks for a certificate but does not require one); its requests
    must authenticate with MS-SIPAE Kerberos. None: a client certificate is required.
    """

    fqdn: str
    certificate_chain: Path
    private_key: Path
    trusted_cas: Path
    known_peers: tuple[str, ...]
    require_client_auth_eku: bool = False
    minimum_tls_version: str = "1.2"
    keylog_path: Path | None = None
    idle_timeout: float = 30.0
    handshake_timeout: float = 30.0
    message_timeout: float = 30.0
    max_connections: int = 1000
    limits: SipLimits = SipLimits()
    client_ca_names: bool = True
    kerberos: FrontendKerberos | None = None

    def __post_init__(self) -> None:
        if self.minimum_tls_version not in TLS_VERSIONS:
            raise ValueError(f"minimum_tls_version must be one of {TLS_VERSIONS}, "
                             f"not {self.minimum_tls_version!r}")
        if not self.fqdn or any(c.isspace() for c in self.fqdn):
            raise ValueError(f"the Front End's FQDN must be a host name, not {self.fqdn!r}")
        for name in ("idle_timeout", "handshake_timeout", "message_timeout"):
            seconds = getattr(self, name)
            if not (0 < seconds < math.inf):  # NaN fails this too
                raise ValueError(f"{name} must be a positive number of seconds, not {seconds!r}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections!r}")
        # A list given where a tuple is expected would make the config unhashable.
        object.__setattr__(self, "known_peers", tuple(self.known_peers))

    @property
    def kerberos_targetname(self) -> str:
        """The SPN the MS-SIPAE challenge names: ``sip/<fqdn>`` unless configured otherwise."""
        if self.kerberos is not None and self.kerberos.service_principal is not None:
            return self.kerberos.service_principal
        return f"sip/{self.fqdn}"


def read_service_keys(path: Path) -> tuple[Key, ...]:
    """The service account's keys from a key file (a JSON list of ``{"enctype", "key"}``
    with the key in hex, what a keytab of the account holds). Raises ``ValueError``
    naming the file when it is not such a list, ``OSError`` when it cannot be read."""
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"{path}: expected a JSON list of {{\"enctype\", \"key\"}} objects")
    try:
        return tuple(Key(int(e["enctype"]), bytes.fromhex(e["key"])) for e in entries)
    except (KeyError, TypeError, ValueError, KerberosError) as error:
        raise ValueError(f"{path}: not a key list ({error})") from None


def write_service_keys(path: Path, keys: tuple[Key, ...] | list[Key]) -> Path:
    """Write a key file :func:`read_service_keys` reads (mode 0600: the keys are secrets)."""
    data = [{"enctype": int(k.enctype), "key": k.contents.hex()} for k in keys]
    return write_private_file(path, (json.dumps(data, indent=2) + "\n").encode())
