"""Configuration of the Front End stand-in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fakes.sip import SipLimits

__all__ = ["FrontendConfig"]

TLS_VERSIONS = ("1.2", "1.3")


@dataclass(frozen=True)
class FrontendConfig:
    """What a Front End pool server needs for SIP over MTLS.

    ``certificate_chain`` is PEM (leaf first, then the intermediates), ``private_key`` the
    leaf's PEM key, ``trusted_cas`` a PEM bundle of the CAs whose client certificates are
    accepted (the lab CA). ``known_peers`` are the FQDNs of the topology's trusted
    application pools and computers: only a client certificate naming one of them gets
    SIP service. ``require_client_auth_eku=False`` is Lync's SChannel behaviour (a
    serverAuth-only client certificate is accepted); ``True`` is OpenSSL's and Java's.
    ``client_ca_names`` sends the trusted CAs' names in the CertificateRequest, as
    SChannel does — a client whose certificate is from another CA then sends none.
    ``idle_timeout`` (seconds) closes a connection that sends nothing for that long,
    including in the middle of a message or handshake.
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
    limits: SipLimits = SipLimits()
    client_ca_names: bool = True

    def __post_init__(self) -> None:
        if self.minimum_tls_version not in TLS_VERSIONS:
            raise ValueError(f"minimum_tls_version must be one of {TLS_VERSIONS}, "
                             f"not {self.minimum_tls_version!r}")
        if self.idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        # A list given where a tuple is expected would make the config unhashable.
        object.__setattr__(self, "known_peers", tuple(self.known_peers))
