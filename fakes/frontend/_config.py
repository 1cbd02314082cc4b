"""Configuration of the Front End stand-in."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fakes._files import write_private_file
from fakes.kerberos import DEFAULT_MAX_SKEW, KerberosError, Key
from fakes.sip import SipLimits
from fakes.sipae import SIP_COMMUNICATIONS_SERVICE

from ._profiles import DEFAULT_PROFILE, PROFILES, TlsProfile
from ._topology import Topology

__all__ = ["FrontendConfig", "FrontendKerberos", "read_service_keys", "write_service_keys"]


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
    application pools and computers, one single-computer pool each; ``topology`` (a
    :class:`Topology`, what the Management Shell's cmdlets build) replaces them when set.
    Only a client certificate whose subject CN names a pool or computer of it gets SIP
    service (its SAN DNS names too with ``match_san``). ``require_client_auth_eku=False``
    is Lync's SChannel behaviour (a serverAuth-only client certificate is accepted);
    ``True`` is OpenSSL's and Java's.

    ``profile`` names the product and Windows Server whose TLS versions, cipher suites and
    ``Server`` header the Front End has (:data:`PROFILES`; default ``sfb2015``: SfB Server
    2015 on Windows Server 2016, TLS 1.0-1.2). ``check_revocation`` checks every client
    certificate against its CA's CRL, fetched from the certificate's CDP URL (Lync does
    by default, :mod:`._revocation`); ``cdp_hosts`` maps a CDP host name to the
    ``address:port`` it is reached at where names do not resolve (an embedded lab), and
    ``cdp_timeout`` bounds one fetch. ``sip_users``, when set, are the SIP-enabled users'
    addresses: requests for anyone else are answered 404 with Lync's ms-diagnostics 4005
    (None: every address is served, the lab's default).
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
    profile: str = DEFAULT_PROFILE
    topology: Topology | None = None
    match_san: bool = False
    check_revocation: bool = True
    cdp_hosts: tuple[tuple[str, str], ...] = ()
    cdp_timeout: float = 15.0
    sip_users: tuple[str, ...] | None = None
    keylog_path: Path | None = None
    idle_timeout: float = 30.0
    handshake_timeout: float = 30.0
    message_timeout: float = 30.0
    max_connections: int = 1000
    limits: SipLimits = SipLimits()
    client_ca_names: bool = True
    kerberos: FrontendKerberos | None = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}")
        if not self.fqdn or any(c.isspace() for c in self.fqdn):
            raise ValueError(f"the Front End's FQDN must be a host name, not {self.fqdn!r}")
        for name in ("idle_timeout", "handshake_timeout", "message_timeout", "cdp_timeout"):
            seconds = getattr(self, name)
            if not (0 < seconds < math.inf):  # NaN fails this too
                raise ValueError(f"{name} must be a positive number of seconds, not {seconds!r}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections!r}")
        # A list (or a dict) given where a tuple is expected would make the config unhashable.
        object.__setattr__(self, "known_peers", tuple(self.known_peers))
        hosts = self.cdp_hosts.items() if isinstance(self.cdp_hosts, Mapping) else self.cdp_hosts
        object.__setattr__(self, "cdp_hosts", tuple((str(name), str(address)) for name, address in hosts))
        for name, address in self.cdp_hosts:
            host, colon, port = address.rpartition(":")
            if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"cdp_hosts: {name} must map to address:port, not {address!r}")
        if self.sip_users is not None:
            object.__setattr__(self, "sip_users", tuple(self.sip_users))

    @property
    def tls_profile(self) -> TlsProfile:
        """The :class:`TlsProfile` named by ``profile``."""
        return PROFILES[self.profile]

    @functools.cached_property
    def trusted_topology(self) -> Topology:
        """The topology MTLS peers are matched against: ``topology``, or one pool per known peer."""
        if self.topology is not None:
            return self.topology
        return Topology.of_known_peers(self.fqdn, self.known_peers, san_match=self.match_san)

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
