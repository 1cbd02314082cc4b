"""The TLS a Front End speaks, per product version and the Windows Server it runs on.

SChannel, not Lync, decides the protocol versions and cipher suites: Lync offers what the
operating system enables, in the operating system's order (the server's order wins).
Each profile names the product page for the versions and the Windows cipher-suite table
for the order; the suites are written with OpenSSL's names (a suite this OpenSSL build
lacks — 3DES, RC4 — is skipped: OpenSSL ignores names it does not know).

Sources:

* Lync Server 2013 / SfB Server 2015: "… will offer TLS encryption protocols in the
  following order to clients: TLS 1.2 , TLS 1.1, TLS 1.0." (learn.microsoft.com
  lync-server-2013-encryption; skypeforbusiness/plan-your-deployment/security/encryption).
* SfB Server 2019: "… will offer TLS encryption protocols in the following order to
  clients: TLS 1.3, TLS 1.2." (same page).
* Windows defaults: MicrosoftDocs/win32 "Protocols in TLS/SSL (Schannel SSP)" (2012 R2 and
  2016 enable TLS 1.0, 1.1 and 1.2, server and client); "TLS Cipher Suites in Windows 8.1"
  (2012 R2), "… in Windows 10 v1607" (2016), "… in Windows 10 v1809" (2019).
* Hardened SfB 2015: "Disable TLS 1.0/1.1 in Skype for Business Server 2015"
  (learn.microsoft.com/en-us/skypeforbusiness/manage/topology/disable-tls-1.0-1.1),
  ``TLSDisable.reg``: TLS 1.2 only, twelve suites.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_PROFILE", "FFDHE2048_PEM", "PROFILES", "TlsProfile"]


@dataclass(frozen=True)
class TlsProfile:
    """What one product on one Windows Server offers over TLS."""

    name: str
    product: str
    windows: str
    #: The ``Server``/``User-Agent`` value of its SIP messages.
    server_header: str
    #: Protocol versions enabled, lowest first ("1.0" … "1.3").
    versions: tuple[str, ...]
    #: Cipher suites up to TLS 1.2, in SChannel's order, OpenSSL names.
    ciphers: tuple[str, ...]
    #: TLS 1.3 suites (empty when TLS 1.3 is off).
    tls13_suites: tuple[str, ...] = ()
    #: Where the versions and suites come from, and what is assumed.
    sources: str = ""

    @property
    def minimum(self) -> str:
        """The lowest version enabled."""
        return self.versions[0]

    @property
    def maximum(self) -> str:
        """The highest version enabled."""
        return self.versions[-1]

    def describe(self) -> dict[str, object]:
        """JSON-ready summary (health, the admin setting)."""
        return {"name": self.name, "product": self.product, "windows": self.windows,
                "server_header": self.server_header, "versions": [f"TLS {v}" for v in self.versions],
                "ciphers": list(self.ciphers), "tls13_suites": list(self.tls13_suites), "sources": self.sources}


# "TLS Cipher Suites in Windows 10 v1607" (Server 2016): the default list, in order.
_WS2016 = (
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES256-SHA", "ECDHE-RSA-AES128-SHA",
    "DHE-RSA-AES256-SHA", "DHE-RSA-AES128-SHA",
    "AES256-GCM-SHA384", "AES128-GCM-SHA256", "AES256-SHA256", "AES128-SHA256", "AES256-SHA", "AES128-SHA",
    "DES-CBC3-SHA", "DHE-DSS-AES256-SHA256", "DHE-DSS-AES128-SHA256", "DHE-DSS-AES256-SHA", "DHE-DSS-AES128-SHA",
    "EDH-DSS-DES-CBC3-SHA", "RC4-SHA", "RC4-MD5",
)
# "… in Windows 10 v1809" (Server 2019): 2016's items 1-14 then 17-23; DHE-RSA CBC, DHE-DSS
# and RC4 left the default list.
_WS2019 = (*_WS2016[:14], *_WS2016[16:23])
# "TLS Cipher Suites in Windows 8.1" (Server 2012 R2 with KB 2919355): no ECDHE_RSA with GCM,
# so an RSA certificate gets ECDHE-RSA-AES256-SHA384 at best.
_WS2012R2 = (
    "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA", "ECDHE-RSA-AES128-SHA",
    "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-SHA", "DHE-RSA-AES128-SHA",
    "AES256-GCM-SHA384", "AES128-GCM-SHA256", "AES256-SHA256", "AES128-SHA256", "AES256-SHA", "AES128-SHA",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA",
    "DHE-DSS-AES256-SHA256", "DHE-DSS-AES128-SHA256", "DHE-DSS-AES256-SHA", "DHE-DSS-AES128-SHA",
    "DES-CBC3-SHA", "EDH-DSS-DES-CBC3-SHA", "RC4-SHA", "RC4-MD5",
)
# TLSDisable.reg's SSL\00010002\Functions: the only hardening Microsoft supports for SfB.
_TLS_DISABLE_REG = (
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256", "AES256-GCM-SHA384", "AES128-GCM-SHA256",
    "AES256-SHA256", "AES128-SHA256",
)

PROFILES = {p.name: p for p in (
    TlsProfile(
        "lync2013", "Lync Server 2013", "Windows Server 2012 R2", "RTC/5.0", ("1.0", "1.1", "1.2"), _WS2012R2,
        sources="versions: Lync Server 2013 encryption page and 2012 R2's SChannel defaults; suites: 'TLS Cipher "
                "Suites in Windows 8.1'; the OS is assumed (2012 R2, Lync 2013's usual host: on 2008 R2 it "
                "speaks TLS 1.0 only); Server: RTC/5.0 seen in a Lync 2013 trace"),
    TlsProfile(
        "sfb2015", "Skype for Business Server 2015", "Windows Server 2016", "RTC/6.0", ("1.0", "1.1", "1.2"), _WS2016,
        sources="versions: SfB 2015 encryption page and 2016's SChannel defaults; suites: 'TLS Cipher Suites in "
                "Windows 10 v1607'; Server: RTC/6.0 is assumed (seen with SfB-era traces, no product statement)"),
    TlsProfile(
        "sfb2015-hardened", "Skype for Business Server 2015 CU9+, TLS 1.0/1.1 disabled", "Windows Server 2016",
        "RTC/6.0", ("1.2",), _TLS_DISABLE_REG,
        sources="'Disable TLS 1.0/1.1 in Skype for Business Server 2015' and its TLSDisable.reg"),
    TlsProfile(
        "sfb2019", "Skype for Business Server 2019", "Windows Server 2022", "RTC/7.0", ("1.2", "1.3"), _WS2019,
        ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"),
        sources="versions: the SfB 2019 encryption page (TLS 1.3, TLS 1.2); up to TLS 1.2 the suites of 'TLS "
                "Cipher Suites in Windows 10 v1809'; TLS 1.3 needs Windows Server 2022 (2019's SChannel lists no "
                "TLS 1.3 suite), so the OS and its two TLS 1.3 suites are assumed; Server: RTC/7.0 seen in "
                "SfB 2019-era traces"),
)}

#: SfB Server 2015 on Windows Server 2016: TLS 1.0-1.2, no TLS 1.3.
DEFAULT_PROFILE = "sfb2015"

# RFC 7919 Appendix A.1 (ffdhe2048), as OpenSSL writes it: the group the DHE suites use
# (SChannel's DHE group is not published: assumed 2048-bit, its default minimum).
FFDHE2048_PEM = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""
