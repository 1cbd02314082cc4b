"""Active Directory accounts as the KDC sees them, and AD's way of finding them by name.

An :class:`Account` is a user (or computer) object reduced to what Kerberos uses: the
sAMAccountName, the UPN, the servicePrincipalName values, the password (from which the
keys are derived, once per enctype) and the userAccountControl options of the Account
tab — among them the vendor page's "Use Kerberos DES encryption for this account"
(USE_DES_KEY_ONLY) and "Do not require Kerberos preauthentication" (DONT_REQ_PREAUTH).

:class:`Directory` resolves principal names as AD's KDC does: sAMAccountName
case-insensitively, enterprise names (``user@domain``) by UPN (or the implicit
``sAMAccountName@domain``), two-part service names by servicePrincipalName
case-insensitively, ``krbtgt/REALM`` in any letter case to the krbtgt account.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from fakes.kerberos import Enctype, Key, NameType, PrincipalName, Rng, string_to_key

__all__ = ["Account", "Directory", "krbtgt_account", "AD_DEFAULT_ENCTYPES", "DES_ENCTYPES"]

#: Keys AD uses for an account without msDS-SupportedEncryptionTypes (domain functional
#: level 2008 or later), strongest first. AD never implemented des3-cbc-sha1.
AD_DEFAULT_ENCTYPES: tuple[int, ...] = (Enctype.AES256_CTS_HMAC_SHA1_96, Enctype.AES128_CTS_HMAC_SHA1_96,
                                        Enctype.RC4_HMAC)
#: The only keys of a USE_DES_KEY_ONLY account.
DES_ENCTYPES: tuple[int, ...] = (Enctype.DES_CBC_MD5, Enctype.DES_CBC_CRC)


@dataclass(frozen=True)
class Account:
    """An AD user or computer account.

    ``enctypes`` stands for msDS-SupportedEncryptionTypes (None: AD's default, or DES only
    when ``use_des_key_only``). ``kvno`` is msDS-KeyVersionNumber. A ``sam_account_name``
    ending in ``$`` is a computer account (its salt differs, [MS-KILE] §3.1.1.2).
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

    def __post_init__(self) -> None:
        if not self.sam_account_name or any(c in self.sam_account_name for c in '"/\\[]:;|=,+*?<>@'):
            raise ValueError(f"{self.sam_account_name!r} is not a valid sAMAccountName")
        object.__setattr__(self, "spns", tuple(self.spns))
        if self.enctypes is not None:
            object.__setattr__(self, "enctypes", tuple(int(e) for e in self.enctypes))

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


def krbtgt_account(rng: Rng = os.urandom) -> Account:
    """The domain's krbtgt account: disabled (as in AD), with a random password."""
    return Account("krbtgt", rng(32).hex(), enabled=False)


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
        """The accounts a service name (sname) means; several only for a duplicate SPN."""
        if self.is_krbtgt(name):
            return [self.krbtgt]
        if len(name.components) == 1:
            account = (self.by_upn(name.components[0]) if name.name_type == NameType.ENTERPRISE
                       else self.by_sam_account_name(name.components[0]))
            return [account] if account else []
        return self.by_spn("/".join(name.components))
