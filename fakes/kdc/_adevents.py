"""The KDC's own events, as a Windows domain controller writes them to its System log.

Source ``Microsoft-Windows-Kerberos-Key-Distribution-Center``, level Error. The texts are
those Microsoft publishes:

- **14** (AS request, no key in common): "While processing an AS request for target
  service krbtgt, the account Administrator did not have a suitable key for generating a
  Kerberos ticket (the missing key has an ID of 1). The requested etypes : 18 17 3. The
  accounts available etypes : 23 -133 -128. Changing or resetting the password of
  Administrator will generate a proper key." (support.microsoft.com/help/4492348; the
  client sees KDC_ERR_ETYPE_NOSUPP);
- **16** KDCEVENT_NO_KEY_INTERSECTION_TGS and **27** KDCEVENT_UNSUPPORTED_ETYPE_REQUEST_TGS
  (support.microsoft.com/help/977321's templates; a real 27 from syfuhs.net/kerberos-event-id-27
  lists etypes two spaces apart and "the missing key has an ID of 9").

What is assumed, for want of a published example: event 16 lists its etypes as event 27
does, and with key ID 9 too; events 16 and 27 name the account ``name@REALM`` as the
published 27 does, event 14 by its bare sAMAccountName as the published 14 does; "the
accounts available etypes" are the keys the KDC may use under the domain's policy (a
DES-only account in a domain without DES has none, and the list is empty).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["AdEvent", "KDC_EVENT_SOURCE", "as_no_key", "tgs_no_key", "tgs_unsupported_etype"]

KDC_EVENT_SOURCE = "Microsoft-Windows-Kerberos-Key-Distribution-Center"


@dataclass(frozen=True)
class AdEvent:
    """One KDC event of the DC's System log: its ID and text."""

    id: int
    text: str

    def to_dict(self) -> dict[str, object]:
        """The event as evidence records carry it (``ad_event``)."""
        return {"id": self.id, "source": KDC_EVENT_SOURCE, "log": "System", "level": "Error", "text": self.text}


def _etypes(enctypes: Iterable[int], separator: str) -> str:
    return separator.join(str(int(e)) for e in enctypes)


def as_no_key(service: str, account: str, requested: Iterable[int], available: Iterable[int]) -> AdEvent:
    """Event 14: an AS request whose etypes the account has no usable key for."""
    return AdEvent(14, (
        f"While processing an AS request for target service {service}, the account {account} did not have a "
        f"suitable key for generating a Kerberos ticket (the missing key has an ID of 1). The requested etypes : "
        f"{_etypes(requested, ' ')}. The accounts available etypes : {_etypes(available, ' ')}. Changing or "
        f"resetting the password of {account} will generate a proper key."))


def tgs_no_key(server: str, account: str, requested: Iterable[int], available: Iterable[int]) -> AdEvent:
    """Event 16: a TGS request for a service whose account has no key to encrypt the ticket with."""
    return AdEvent(16, (
        f"While processing a TGS request for the target server {server}, the account {account} did not have a "
        f"suitable key for generating a Kerberos ticket (the missing key has an ID of 9). The requested etypes "
        f"were {_etypes(requested, '  ')}. The accounts available etypes were {_etypes(available, '  ')}. "
        f"Changing or resetting the password of {account} will generate a proper key."))


def tgs_unsupported_etype(server: str, account: str, requested: Iterable[int], available: Iterable[int]) -> AdEvent:
    """Event 27: a TGS request whose etypes the service cannot use for the session key."""
    return AdEvent(27, (
        f"While processing a TGS request for the target server {server}, the account {account} did not have a "
        f"suitable key for generating a Kerberos ticket (the missing key has an ID of 9). The requested etypes "
        f"were {_etypes(requested, '  ')}. The accounts available etypes were {_etypes(available, '  ')}."))
