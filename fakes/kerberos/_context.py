"""State shared by both ends of a Kerberos AP exchange: the security context and replay cache."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from ._crypto import Key
from ._gssapi import GssFlag, get_mic, verify_mic

__all__ = ["GssContext", "ReplayCache", "DEFAULT_MAX_SKEW"]

#: RFC 4120 §1.6's customary clock-skew allowance, AD's default "Maximum tolerance for
#: computer clock synchronization" (5 minutes), and MS-SIPAE's.
DEFAULT_MAX_SKEW = timedelta(minutes=5)


@dataclass
class GssContext:
    """An established GSS-API Kerberos context: the key that signs, and the sequence numbers.

    ``is_initiator`` says which end this object is. :meth:`get_mic` numbers tokens from
    ``send_seq`` upward; :meth:`verify_mic` returns the peer's sequence number and records
    the highest seen in ``recv_seq`` without enforcing order (SIP requests can cross).
    """

    key: Key
    is_initiator: bool
    flags: GssFlag
    send_seq: int
    recv_seq: int
    acceptor_subkey: bool = False

    def get_mic(self, data: bytes) -> bytes:
        """A MIC token over ``data`` from this end (GSS_GetMIC)."""
        token = get_mic(self.key, data, self.send_seq, sent_by_acceptor=not self.is_initiator,
                        acceptor_subkey=self.acceptor_subkey)
        self.send_seq += 1
        return token

    def verify_mic(self, data: bytes, token: bytes) -> int:
        """Check a MIC token from the peer (GSS_VerifyMIC); returns its sequence number."""
        seq = verify_mic(self.key, data, token, sent_by_acceptor=self.is_initiator)
        self.recv_seq = max(self.recv_seq, seq)
        return seq


class ReplayCache:
    """RFC 4120 §3.2.3's replay cache: authenticators seen within the clock-skew window.

    An authenticator is identified by the client, the server and its ``ctime`` with
    microseconds. Entries are forgotten once their ``ctime`` is further in the past than
    the window, since such an authenticator fails the skew check anyway.
    """

    def __init__(self, window: timedelta = DEFAULT_MAX_SKEW) -> None:
        self.window = window
        self._seen: OrderedDict[tuple[str, str, datetime], datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def seen_before(self, client: str, server: str, ctime: datetime, now: datetime) -> bool:
        """Record an authenticator; True if the same one was recorded before (a replay)."""
        self._forget_before(now - self.window)
        key = (client.lower(), server.lower(), ctime)
        if key in self._seen:
            return True
        self._seen[key] = ctime
        return False

    def _forget_before(self, horizon: datetime) -> None:
        # Insertion order follows arrival, which follows ctime closely enough: stop at the
        # first entry still inside the window.
        while self._seen:
            key, ctime = next(iter(self._seen.items()))
            if ctime >= horizon:
                break
            del self._seen[key]
