"""The injected clock: every core reads time through a ``now`` callable, never the OS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utc_now", "read_clock"]

#: Returns the current time as a timezone-aware datetime (UTC), microseconds included.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock, for production use of the cores."""
    return datetime.now(UTC)


def read_clock(now: Clock) -> datetime:
    """``now()``, checked: Kerberos compares times across hosts, so naive times are refused."""
    moment = now()
    if moment.tzinfo is None:
        raise ValueError("the clock must return timezone-aware datetimes (UTC)")
    return moment.astimezone(UTC)
