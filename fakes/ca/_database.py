"""The issued-certificate database: every request the CA received, with its outcome.

AD CS keeps one row per request in its database (certsrv.msc shows them under "Issued
Certificates" and "Failed Requests"), denied ones included, and request IDs are never
reused. This module does the same in SQLite (``ca.sqlite`` in the state folder) and
defines the two records the CA hands out: :class:`RequestResult` (what a submitter
learns) and :class:`RequestRecord` (what the database keeps).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ._errors import CAStateError

__all__ = ["DENIED", "ISSUED", "RequestDatabase", "RequestRecord", "RequestResult"]

ISSUED = "issued"
DENIED = "denied"

_SCHEMA_VERSION = 1
_SCHEMA = f"""
CREATE TABLE requests (
    request_id   INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: IDs never reused
    submitted_at TEXT    NOT NULL,                   -- ISO 8601, UTC
    requester    TEXT    NOT NULL,
    template     TEXT,
    disposition  TEXT    NOT NULL CHECK (disposition IN ('{ISSUED}', '{DENIED}')),
    status       INTEGER NOT NULL,                   -- HRESULT, 0 when issued
    message      TEXT    NOT NULL,                   -- AD CS disposition message
    subject      TEXT    NOT NULL,
    csr          BLOB    NOT NULL,                   -- the request exactly as submitted
    attributes   TEXT    NOT NULL,                   -- JSON object of request attributes
    certificate  BLOB                                -- DER, issued requests only
);
PRAGMA user_version = {_SCHEMA_VERSION};
"""
_COLUMNS = (
    "request_id, submitted_at, requester, template, disposition, status, message,"
    " subject, csr, attributes, certificate"
)


@dataclass(frozen=True)
class RequestResult:
    """What the CA answers to a submitted request.

    ``disposition`` is ``"issued"`` or ``"denied"``; ``status`` the HRESULT (0 when
    issued, e.g. ``0x80094800`` for an unsupported template); ``message`` the disposition
    message AD CS shows ("Issued", "Denied by Policy Module  0x80094800, ...").
    """

    request_id: int
    disposition: str
    status: int
    message: str
    certificate: x509.Certificate | None
    template: str | None


@dataclass(frozen=True)
class RequestRecord(RequestResult):
    """A row of the CA database: the result plus who asked, when, and what.

    ``subject`` is the issued certificate's subject (RFC 4514) for an issued request,
    the subject the CSR asked for otherwise ("" when the CSR could not be read). ``csr``
    holds the request bytes exactly as submitted, garbage included.
    """

    requester: str
    submitted_at: datetime
    subject: str
    csr: bytes
    attributes: tuple[tuple[str, str], ...]


class RequestDatabase:
    """SQLite-backed request table; safe to use from several threads."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._connection = connection
        # One connection shared by the CA's callers (the certsrv event loop thread and
        # the test or harness thread); the lock keeps each statement whole.
        self._lock = threading.Lock()

    @classmethod
    def create(cls, path: Path) -> RequestDatabase:
        """Create a new, empty database file (it must not exist yet)."""
        if path.exists():
            raise CAStateError(f"{path}: a request database already exists there")
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        connection.executescript(_SCHEMA)
        path.chmod(0o600)  # requester names and requests: not for every local user
        return cls(path, connection)

    @classmethod
    def open(cls, path: Path) -> RequestDatabase:
        """Open an existing database, checking that it is one of ours."""
        if not path.is_file():
            raise CAStateError(f"{path}: the CA's request database is missing")
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            tables = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )}
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise CAStateError(f"{path}: not a readable request database ({exc})") from exc
        if version != _SCHEMA_VERSION or "requests" not in tables:
            connection.close()
            raise CAStateError(
                f"{path}: not a request database of this CA stand-in "
                f"(schema version {version}, tables {sorted(tables)})"
            )
        return cls(path, connection)

    def add(
        self,
        *,
        submitted_at: datetime,
        requester: str,
        template: str | None,
        disposition: str,
        status: int,
        message: str,
        subject: str,
        csr: bytes,
        attributes: dict[str, str],
        certificate: x509.Certificate | None,
    ) -> int:
        """Insert one request and return its new request ID."""
        der = certificate.public_bytes(Encoding.DER) if certificate is not None else None
        with self._lock:
            cursor = self._connection.execute(
                "INSERT INTO requests (submitted_at, requester, template, disposition, status,"
                " message, subject, csr, attributes, certificate)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    submitted_at.isoformat(), requester, template, disposition, status,
                    message, subject, csr, json.dumps(attributes), der,
                ),
            )
        request_id = cursor.lastrowid
        assert request_id is not None  # an INSERT into a rowid table always sets it
        return request_id

    def get(self, request_id: int) -> RequestRecord | None:
        """The request with this ID, or None if there is none."""
        with self._lock:
            row = self._connection.execute(
                f"SELECT {_COLUMNS} FROM requests WHERE request_id = ?", (request_id,)
            ).fetchone()
        return None if row is None else self._record(row)

    def all(self) -> list[RequestRecord]:
        """Every request, oldest first."""
        with self._lock:
            rows = self._connection.execute(
                f"SELECT {_COLUMNS} FROM requests ORDER BY request_id"
            ).fetchall()
        return [self._record(row) for row in rows]

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._connection.close()

    def _record(self, row: tuple[Any, ...]) -> RequestRecord:
        (request_id, submitted_at, requester, template, disposition, status, message,
         subject, csr, attributes, der) = row
        try:
            certificate = x509.load_der_x509_certificate(der) if der is not None else None
            attribute_map = json.loads(attributes)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            raise CAStateError(f"{self.path}: request {request_id} is corrupt ({exc})") from exc
        return RequestRecord(
            request_id=request_id,
            disposition=disposition,
            status=status,
            message=message,
            certificate=certificate,
            template=template,
            requester=requester,
            submitted_at=datetime.fromisoformat(submitted_at),
            subject=subject,
            csr=bytes(csr),
            attributes=tuple(attribute_map.items()),
        )

