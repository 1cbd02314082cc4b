"""An Active Directory KDC stand-in: the domain controller's Kerberos service for the lab.

It plays the KDC of ``COMPANYA.COM`` behind the vendor page's krb5.conf (``kdc = ...``):
the UC Connector's account ``ocs-ucc`` logs in with the ``Microsoft-OCS`` password and
asks for a ticket to the Front End's ``sip/fe01.companya.com``. Accounts carry AD's
options, including the page's "Use Kerberos DES encryption for this account"
(:attr:`Account.use_des_key_only`). In a minute::

    from fakes.kdc import Account, KdcServer

    kdc = KdcServer([Account("ocs-ucc", "Genesys#1"),
                     Account("fe01svc", "Lync#1", spns=("sip/fe01.companya.com",))],
                    realm="COMPANYA.COM")
    await kdc.start()                   # UDP and TCP on 127.0.0.1:kdc.port
    # kinit ocs-ucc@COMPANYA.COM; kvno sip/fe01.companya.com   (krb5.conf: kdc = 127.0.0.1:PORT)
    [e.to_dict() for e in kdc.events]   # AS-REQ ... TGT issued, TGS-REQ ... ticket issued

- :mod:`._accounts` — :class:`Account`, :class:`Directory` (AD's name lookups) and
  :class:`DomainPolicy` (single DES off unless the domain turns it on);
- :mod:`._adevents` — the KDC events a DC logs (14, 16, 27), as :class:`AdEvent`;
- :mod:`._core` — :class:`KdcCore`, the sans-I/O KDC, and its :class:`KdcEvent` log;
- :mod:`.server` — :class:`KdcServer` (asyncio UDP + TCP) and ``main``.

The Kerberos protocol itself (messages, crypto, client, acceptor) lives in
:mod:`fakes.kerberos`, shared with the Front End and the connector stand-in.
"""

from ._accounts import (
    AD_DEFAULT_ENCTYPES,
    DES_ENCTYPES,
    HOST_SPN_ALIASES,
    Account,
    Directory,
    DomainPolicy,
    domain_controller_account,
    krbtgt_account,
)
from ._adevents import KDC_EVENT_SOURCE, AdEvent
from ._core import AD_MAX_UDP_REPLY, AD_RENEW_LIFETIME, AD_TICKET_LIFETIME, KdcCore, KdcEvent
from .server import DEFAULT_MAX_TCP_REQUEST, KdcServer, load_accounts_file, main, parse_account_spec

__all__ = [
    "Account",
    "Directory",
    "DomainPolicy",
    "krbtgt_account",
    "domain_controller_account",
    "AD_DEFAULT_ENCTYPES",
    "DES_ENCTYPES",
    "HOST_SPN_ALIASES",
    "AdEvent",
    "KDC_EVENT_SOURCE",
    "KdcCore",
    "KdcEvent",
    "AD_TICKET_LIFETIME",
    "AD_RENEW_LIFETIME",
    "AD_MAX_UDP_REPLY",
    "KdcServer",
    "DEFAULT_MAX_TCP_REQUEST",
    "parse_account_spec",
    "load_accounts_file",
    "main",
]
