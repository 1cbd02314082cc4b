"""Evidence records: what a stand-in saw, as JSON objects a judge reads after a cursor.

Every stand-in keeps its evidence in one :class:`EvidenceLog` (DESIGN.md principle 4: the
harness judges from these records only, never from a stand-in's Python objects, so the
same judge serves a lab in this process, in containers or on a LAN).

Rules:

1. Every record is a plain dict (JSON-ready) with ``seq``, ``type`` and ``time`` (the
   injected clock) first, then the fields of its type.
2. ``seq`` counts from 1 and only grows, for the life of the log: a reader remembers the
   :attr:`~EvidenceLog.cursor` before it acts and asks for :meth:`~EvidenceLog.since` that
   cursor afterwards. Records are never renumbered, reordered or changed.
3. Memory holds the last ``capacity`` records (a ring); older ones leave memory but stay in
   the JSONL file when the log has one. :meth:`~EvidenceLog.since` says whether records
   the reader asked for have already left memory (``truncated``), so a judge never mistakes
   a gap for "nothing happened".
4. The file is opened once and written in batches: records appended during one turn of the
   event loop reach the file together at the end of that turn (or at once when no loop
   runs). :meth:`~EvidenceLog.flush` and :meth:`~EvidenceLog.close` force it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["EvidenceLog", "Record", "Since", "DEFAULT_CAPACITY"]

Record = dict[str, Any]

#: Records kept in memory per stand-in. A replay makes a few hundred; a lab under load
#: keeps its last 10 000 in memory and the rest in its file.
DEFAULT_CAPACITY = 10_000
# One encoder for every record (json.dumps with non-default options builds one per call).
_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str).encode


@dataclass(frozen=True)
class Since:
    """The records after a cursor: ``records`` in order, ``cursor`` to ask from next time,
    ``truncated`` when some records after the asked cursor have already left memory."""

    records: list[Record]
    cursor: int
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "cursor": self.cursor, "truncated": self.truncated}


class EvidenceLog:
    """A bounded, append-only log of evidence records, optionally mirrored to a JSONL file."""

    def __init__(
        self,
        *,
        now: Callable[[], float],
        path: Path | None = None,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        if capacity < 1:
            raise ValueError("an evidence log keeps at least one record in memory")
        self._now = now
        self._records: deque[Record] = deque(maxlen=capacity)
        self._seq = 0
        self._waiters: list[tuple[Callable[[Record], bool], asyncio.Future[Record]]] = []
        self.path = path
        self._file: IO[str] | None = None
        self._pending: list[str] = []
        self._flush_scheduled = False
        if path is not None:
            # Opened once, appended to, never truncated: a restart adds to the same file.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._file = os.fdopen(fd, "a", encoding="utf-8")

    # -- writing -----------------------------------------------------------------------------

    def record(self, type_: str, **fields: Any) -> Record:
        """Append a record of ``type_`` and wake whoever waits for one like it."""
        self._seq += 1
        record: Record = {"seq": self._seq, "type": type_, "time": self._now(), **fields}
        self._records.append(record)
        if self._file is not None:
            self._pending.append(_ENCODE(record) + "\n")
            self._schedule_flush()
        if self._waiters:
            self._wake(record)
        return record

    def _wake(self, record: Record) -> None:
        still_waiting = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            if predicate(record):
                future.set_result(record)
            else:
                still_waiting.append((predicate, future))
        self._waiters = still_waiting

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the records appended so far to the file."""
        self._flush_scheduled = False
        if self._file is None or not self._pending:
            return
        self._file.write("".join(self._pending))
        self._pending.clear()
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file; the records in memory stay readable."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- reading -----------------------------------------------------------------------------

    @property
    def cursor(self) -> int:
        """The ``seq`` of the last record (0 before the first)."""
        return self._seq

    @property
    def first_in_memory(self) -> int:
        """The ``seq`` of the oldest record still in memory (``cursor + 1`` when empty)."""
        return self._records[0]["seq"] if self._records else self._seq + 1

    def since(self, cursor: int = 0, *, limit: int | None = None) -> Since:
        """The records with ``seq > cursor`` still in memory, at most ``limit`` of them."""
        cursor = max(0, cursor)
        first = self.first_in_memory
        truncated = cursor + 1 < first
        skip = max(0, cursor + 1 - first)
        stop = None if limit is None else skip + max(0, limit)
        wanted = list(itertools.islice(self._records, skip, stop))
        next_cursor = wanted[-1]["seq"] if wanted else max(cursor, first - 1)
        return Since(wanted, next_cursor, truncated)

    def __iter__(self) -> Iterator[Record]:
        """The records in memory, oldest first (a snapshot)."""
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    async def await_record(
        self,
        predicate: Callable[[Record], bool],
        *,
        after: int = 0,
        timeout: float = 5.0,
        what: str = "matching record",
    ) -> Record:
        """The first record after ``after`` (already logged or to come) that satisfies
        ``predicate``; ``TimeoutError`` naming ``what`` after ``timeout`` seconds."""
        for record in self.since(after).records:
            if predicate(record):
                return record
        future: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"no {what} within {timeout} s") from None
        finally:
            if not future.done():
                future.cancel()
