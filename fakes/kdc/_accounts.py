"""Active Directory accounts as the KDC sees them, and AD's way of finding them by name.

An :class:`Account` is a user (or computer) object reduced to what Kerberos uses: the
sAMAccountName, the UPN, the servicePrincipalName values, the password (from which the
keys are derived, once per enctype), the userAccountControl options of the Account
tab — among them the vendor page's "Use Kerberos DES encryption for this account"
(USE_DES_KEY_ONLY) and "Do not require Kerberos preauthentication" (DONT_REQ_PREAUTH) —
and the account's state: disabled, locked out, expired ("Account expires"), "User must
change password at next logon" (pwdLastSet = 0, what "Reset Password" can leave behind)
and an expired password.

:class:`Directory` resolves principal names as AD's KDC does: sAMAccountName
case-insensitively, enterprise names (``user@domain``) by UPN (or the implicit
``sAMAccountName@domain``), two-part service names by servicePrincipalName
case-insensitively — with the forest's sPNMappings, so ``cifs/<host>`` and
``http/<host>`` find the computer that holds ``HOST/<host>`` —, ``krbtgt/REALM`` in any
letter case to the krbtgt account.

:class:`DomainPolicy` is what the domain's Group Policy tells its DCs: whether single DES
may be used at all (:func:`domain_controller_account` makes the DC's own account).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fakes.kerberos import Enctype, Key, NameType, PrincipalName, Rng, string_to_key

__all__ = ["Account", "Directory", "DomainPolicy", "krbtgt_account", "domain_controller_account",
           "AD_DEFAULT_ENCTYPES", "DES_ENCTYPES", "HOST_SPN_ALIASES", "CHANGEPW_SPN"]

#: Keys AD uses for an account without msDS-SupportedEncryptionTypes (domain functional
#: level 2008 or later), strongest first. AD never implemented des3-cbc-sha1.
AD_DEFAULT_ENCTYPES: tuple[int, ...] = (Enctype.AES256_CTS_HMAC_SHA1_96, Enctype.AES128_CTS_HMAC_SHA1_96,
                                        Enctype.RC4_HMAC)
#: The service a client asks a ticket for to change an expired password (RFC 3244); in AD
#: an SPN of the krbtgt account.
CHANGEPW_SPN = "kadmin/changepw"

#: The only keys of a USE_DES_KEY_ONLY account.
DES_ENCTYPES: tuple[int, ...] = (Enctype.DES_CBC_MD5, Enctype.DES_CBC_CRC)

#: The service classes that the forest's sPNMappings attribute maps to ``host`` (on
#: CN=Directory Service,CN=Windows NT,CN=Services,CN=Configuration; the attribute's
#: default value, as Get-ADObject prints it): a ticket for ``cifs/<name>`` is issued
#: under the key of the account holding ``HOST/<name>``.
HOST_SPN_ALIASES: frozenset[str] = frozenset((
    "alerter,appmgmt,cisvc,clipsrv,browser,dhcp,dnscache,replicator,eventlog,eventsystem,policyagent,oakley,"
    "dmserver,dns,mcsvc,fax,msiserver,ias,messenger,netlogon,netman,netdde,netddedsm,nmagent,plugplay,"
    "protectedstorage,rasman,rpclocator,rpc,rpcss,remoteaccess,rsvp,samss,scardsvr,scesrv,seclogon,scm,dcom,"
    "cifs,spooler,snmp,schedule,tapisrv,trksvr,trkwks,ups,time,wins,www,http,w3svc,iisadmin,msdtc").split(","))


@dataclass(frozen=True)
class DomainPolicy:
    """The domain's Kerberos policy, as its domain controllers apply it.

    ``des_enabled``: whether single DES (des-cbc-crc, des-cbc-md5) may be used. Windows
    Server 2008 R2 and later DCs "don't support DES by default" (Microsoft, "Network
    security: Configure encryption types allowed for Kerberos"); the same setting in a
    GPO turns it back on. Off, a USE_DES_KEY_ONLY account has no key the KDC will use:
    "User accounts and trusts configured for DES only will have authentication failures"
    (Best Practices Analyzer, technet ff646918), KDC_ERR_ETYPE_NOSUPP with KDC event 14
    whatever the client offers.
    """

    des_enabled: bool = False

    def usable(self, enctypes: Iterable[int]) -> tuple[int, ...]:
        """The enctypes of ``enctypes`` this policy lets the KDC use, in their order."""
        return tuple(e for e in enctypes if self.des_enabled or e not in DES_ENCTYPES)


@dataclass(frozen=True)
class Account:
    """An AD user or computer account.

    ``enctypes`` stands for msDS-SupportedEncryptionTypes (None: AD's default, or DES only
    when ``use_des_key_only``). ``kvno`` is msDS-KeyVersionNumber. A ``sam_account_name``
    ending in ``$`` is a computer account (its salt differs, [MS-KILE] §3.1.1.2).

    The account's state: ``enabled`` ("Account is disabled" unchecked), ``locked_out``
    (lockoutTime set: too many wrong passwords), ``account_expires`` (accountExpires, an
    ISO 8601 date-time, UTC unless it says otherwise; None: never),
    ``must_change_password`` ("User must change password at next logon", pwdLastSet = 0)
    and ``password_expired`` (the password is older than the domain's maximum age).
    """

    sam_account_name: str
    password: str = field(repr=False)
    upn: str | None = None
    spns: tuple[str, ...] = ()
    use_des_key_only: bool = False
    dont_require_preauth: bool = False
    enabled: bool = True
    enctypes: tuple[int, ...] | None = None
    kvno: int = 2
    locked_out: bool = False
    account_expires: str | None = None
    must_change_password: bool = False
    password_expired: bool = False

    def __post_init__(self) -> None:
        if not self.sam_account_name or any(c in self.sam_account_name for c in '"/\\[]:;|=,+*?<>@'):
            raise ValueError(f"{self.sam_account_name!r} is not a valid sAMAccountName")
        object.__setattr__(self, "spns", tuple(self.spns))
        if self.enctypes is not None:
            object.__setattr__(self, "enctypes", tuple(int(e) for e in self.enctypes))
        # A date that cannot be read is refused now, not at the account's next logon.
        object.__setattr__(self, "_expires_at", _expiry(self.account_expires))

    @property
    def expires_at(self) -> datetime | None:
        """``account_expires`` as an aware datetime (None: the account never expires)."""
        return self._expires_at  # type: ignore[attr-defined, no-any-return]

    def expired(self, moment: datetime) -> bool:
        """True when the account has expired at ``moment``."""
        expires = self.expires_at
        return expires is not None and expires <= moment

    @property
    def is_computer(self) -> bool:
        """A computer account (its sAMAccountName ends in ``$``)."""
        return self.sam_account_name.endswith("$")

    @property
    def requires_preauth(self) -> bool:
        """False when "Do not require Kerberos preauthentication" is set."""
        return not self.dont_require_preauth

    @property
    def key_enctypes(self) -> tuple[int, ...]:
        """The enctypes this account has keys for, strongest first."""
        if self.use_des_key_only:
            return DES_ENCTYPES
        return self.enctypes if self.enctypes is not None else AD_DEFAULT_ENCTYPES

    def salt(self, realm: str) -> str:
        """The string-to-key salt AD uses ([MS-KILE] §3.1.1.2).

        Users: the upper-case realm and the sAMAccountName as stored. Computers:
        ``REALM`` + ``host`` + lower-case name without ``$`` + ``.`` + lower-case realm.
        """
        if self.is_computer:
            return f"{realm.upper()}host{self.sam_account_name[:-1].lower()}.{realm.lower()}"
        return realm.upper() + self.sam_account_name

    def key(self, enctype: int, realm: str) -> Key:
        """The long-term key for ``enctype`` (derived once, then served from the cache)."""
        if enctype not in self.key_enctypes:
            raise ValueError(f"{self.sam_account_name} has no {int(enctype)} key")
        return string_to_key(enctype, self.password, self.salt(realm))

    def keys(self, realm: str) -> dict[int, Key]:
        """All long-term keys, by enctype: what a keytab of this account holds."""
        return {e: self.key(e, realm) for e in self.key_enctypes}


def _expiry(text: str | None) -> datetime | None:
    """accountExpires from its ISO 8601 text (UTC when no offset is given)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"account_expires must be an ISO 8601 date-time such as 2026-12-31T00:00:00Z, "
                         f"not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def krbtgt_account(rng: Rng = os.urandom) -> Account:
    """The domain's krbtgt account: disabled (as in AD), with a random password, holding
    AD's ``kadmin/changepw`` SPN (the password-change service's tickets)."""
    return Account("krbtgt", rng(32).hex(), enabled=False, spns=(CHANGEPW_SPN,))


def domain_controller_account(host: str, domain: str, password: str) -> Account:
    """The computer account of the domain controller ``host`` (short name) of ``domain``.

    Its SPNs are those a DC registers ([MS-DRSR] §2.2.2, §2.2.3.2, §2.2.4.2: ``ldap/``
    by NetBIOS and DNS names, with the domain, ``GC/``, the replication SPN
    ``E3514235-4B06-11D1-AB04-00C04FC2DCD2/<DSA GUID>/<domain>``, ``ldap/`` and ``RPC/``
    under ``<DSA GUID>._msdcs.<forest>``) and a computer's ``HOST/`` pair (by sPNMappings
    ``HOST/`` also serves ``cifs/``, ``http/`` and the others of
    :data:`HOST_SPN_ALIASES`). The DSA GUID is derived from the DC's name (a real one is
    random, assumed here to make the lab repeatable); the forest is the domain.
    """
    fqdn = f"{host}.{domain}".lower()
    netbios_host, netbios_domain = host.upper(), domain.split(".")[0].upper()
    dsa_guid = str(uuid.uuid5(uuid.NAMESPACE_DNS, fqdn))
    spns = (
        f"HOST/{fqdn}", f"HOST/{netbios_host}",
        f"ldap/{fqdn}", f"ldap/{netbios_host}", f"ldap/{fqdn}/{domain}", f"ldap/{fqdn}/{netbios_domain}",
        f"ldap/{netbios_host}/{netbios_domain}", f"ldap/{dsa_guid}._msdcs.{domain}",
        f"GC/{fqdn}/{domain}",
        f"E3514235-4B06-11D1-AB04-00C04FC2DCD2/{dsa_guid}/{domain}",
        f"RPC/{dsa_guid}._msdcs.{domain}",
    )
    return Account(f"{netbios_host}$", password, spns=spns)


class Directory:
    """The accounts of one realm, looked up the way AD's KDC looks them up.

    A ``krbtgt`` account is added (disabled, random password) unless one is given.
    """

    def __init__(self, realm: str, accounts: Iterable[Account], *, rng: Rng = os.urandom) -> None:
        self.realm = realm.upper()
        self._by_sam: dict[str, Account] = {}
        for account in accounts:
            folded = account.sam_account_name.lower()
            if folded in self._by_sam:
                raise ValueError(f"two accounts named {account.sam_account_name!r} (sAMAccountName is unique)")
            self._by_sam[folded] = account
        if "krbtgt" not in self._by_sam:
            self._by_sam["krbtgt"] = krbtgt_account(rng)

    @property
    def accounts(self) -> tuple[Account, ...]:
        """Every account, krbtgt included."""
        return tuple(self._by_sam.values())

    @property
    def krbtgt(self) -> Account:
        """The account whose keys encrypt TGTs."""
        return self._by_sam["krbtgt"]

    def update(self, account: Account) -> None:
        """Replace the account of the same sAMAccountName: what editing the user's
        properties in Active Directory Users and Computers does (account options,
        password reset). The KDC sees the change on its next request."""
        folded = account.sam_account_name.lower()
        if folded not in self._by_sam:
            raise KeyError(f"no account named {account.sam_account_name!r}")
        self._by_sam[folded] = account

    def by_sam_account_name(self, name: str) -> Account | None:
        """The account named ``name``, in any letter case."""
        return self._by_sam.get(name.lower())

    def by_upn(self, upn: str) -> Account | None:
        """The account whose userPrincipalName (or implicit ``name@domain``) is ``upn``."""
        folded = upn.lower()
        found = next((a for a in self._by_sam.values() if a.upn and a.upn.lower() == folded), None)
        if found is None:
            # AD's implicit UPN: sAMAccountName@dns-domain-name.
            name, _, domain = folded.partition("@")
            if domain == self.realm.lower():
                found = self.by_sam_account_name(name)
        return found

    def by_spn(self, spn: str) -> list[Account]:
        """Every account holding ``spn`` (more than one is AD's duplicate-SPN problem)."""
        folded = spn.lower()
        return [a for a in self._by_sam.values() if any(s.lower() == folded for s in a.spns)]

    def find_client(self, name: PrincipalName) -> Account | None:
        """The account an AS-REQ's cname means."""
        if name.name_type == NameType.ENTERPRISE and len(name.components) == 1:
            return self.by_upn(name.components[0])
        if len(name.components) == 1:
            return self.by_sam_account_name(name.components[0])
        matches = self.by_spn("/".join(name.components))
        return matches[0] if len(matches) == 1 else None

    def is_krbtgt(self, name: PrincipalName) -> bool:
        """``krbtgt/REALM`` (or plain ``krbtgt``) of this realm, in any letter case."""
        parts = [c.lower() for c in name.components]
        return parts == ["krbtgt"] or parts == ["krbtgt", self.realm.lower()]

    def find_services(self, name: PrincipalName) -> list[Account]:
        """The accounts a service name (sname) means; several only for a duplicate SPN.

        A name no account holds whose service class sPNMappings maps to ``host``
        (:data:`HOST_SPN_ALIASES`) is looked up again as ``host/<the rest>``.
        """
        if self.is_krbtgt(name):
            return [self.krbtgt]
        if len(name.components) == 1:
            account = (self.by_upn(name.components[0]) if name.name_type == NameType.ENTERPRISE
                       else self.by_sam_account_name(name.components[0]))
            return [account] if account else []
        found = self.by_spn("/".join(name.components))
        if not found and name.components[0].lower() in HOST_SPN_ALIASES:
            found = self.by_spn("/".join(("host", *name.components[1:])))
        return found
