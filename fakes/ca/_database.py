"""The issued-certificate database: every request the CA received, with its outcome.

AD CS keeps one row per request in its database (certsrv.msc shows them under "Issued
Certificates", "Revoked Certificates", "Pending Requests" and "Failed Requests"), denied
ones included, and request IDs are never reused. This module does the same in SQLite
(``ca.sqlite`` in the state folder) and defines the two records the CA hands out:
:class:`RequestResult` (what a submitter learns) and :class:`RequestRecord` (what the
database keeps).

A row's disposition follows [MS-CSRA] 3.1.1.1.1's Request_Disposition: ``pending`` (a
CA manager has not decided yet), ``issued``, ``revoked`` (issued, then revoked: the row
keeps the certificate, the revocation date and reason) and ``denied`` (by the policy
module, or by a CA manager). The serial number is kept as certutil prints it (lowercase
hexadecimal, an even number of digits) so ``certutil -revoke SERIAL`` finds the row.

Schema version 1 (before pending requests and revocation) is upgraded in place on open.
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

__all__ = [
    "DENIED", "ISSUED", "PENDING", "REVOKED", "RequestDatabase", "RequestRecord", "RequestResult",
    "serial_text",
]

ISSUED = "issued"
DENIED = "denied"
PENDING = "pending"
REVOKED = "revoked"

_SCHEMA_VERSION = 2
_REQUESTS = f"""
CREATE TABLE requests (
    request_id   INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: IDs never reused
    submitted_at TEXT    NOT NULL,                   -- ISO 8601, UTC
    requester    TEXT    NOT NULL,
    template     TEXT,
    disposition  TEXT    NOT NULL CHECK (disposition IN
                         ('{ISSUED}', '{DENIED}', '{PENDING}', '{REVOKED}')),
    status       INTEGER NOT NULL,                   -- HRESULT, 0 when issued or pending
    message      TEXT    NOT NULL,                   -- AD CS disposition message
    subject      TEXT    NOT NULL,
    csr          BLOB    NOT NULL,                   -- the request exactly as submitted
    attributes   TEXT    NOT NULL,                   -- JSON object of request attributes
    certificate  BLOB,                               -- DER, issued (and revoked) requests
    serial       TEXT    UNIQUE,                     -- certutil's hex, with the certificate
    revoked_at   TEXT,                               -- ISO 8601, revoked requests
    revocation_reason INTEGER                        -- CRL reason code, revoked requests
)
"""
_CRL_NUMBERS = """
CREATE TABLE crl_numbers (
    issuer TEXT PRIMARY KEY,                         -- the signing CA's subject (RFC 4514)
    number INTEGER NOT NULL                          -- the last CRL number it used
)
"""
_SCHEMA = f"{_REQUESTS};\n{_CRL_NUMBERS};\nPRAGMA user_version = {_SCHEMA_VERSION};\n"
_V1_COLUMNS = (
    "request_id, submitted_at, requester, template, disposition, status, message,"
    " subject, csr, attributes, certificate"
)
_COLUMNS = f"{_V1_COLUMNS}, serial, revoked_at, revocation_reason"


def serial_text(serial_number: int) -> str:
    """A serial number as certutil prints it: lowercase hex, an even number of digits."""
    text = f"{serial_number:x}"
    return text if len(text) % 2 == 0 else "0" + text


@dataclass(frozen=True)
class RequestResult:
    """What the CA answers to a submitted request.

    ``disposition`` is ``"issued"``, ``"pending"`` (waiting for a CA manager) or
    ``"denied"`` (``"revoked"`` for a row looked up later); ``status`` the HRESULT (0 when
    issued or pending, e.g. ``0x80094800`` for an unsupported template); ``message`` the
    disposition message AD CS shows ("Issued", "Taken Under Submission", "Denied by Policy
    Module  0x80094800, ...").
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
    holds the request bytes exactly as submitted, garbage included. ``serial`` is the
    certificate's serial number as certutil prints it; ``revoked_at`` and
    ``revocation_reason`` (a CRL reason code) are set while the certificate is revoked.
    """

    requester: str
    submitted_at: datetime
    subject: str
    csr: bytes
    attributes: tuple[tuple[str, str], ...]
    serial: str | None = None
    revoked_at: datetime | None = None
    revocation_reason: int | None = None


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
        """Open an existing database, checking that it is one of ours (a version 1
        database is upgraded to version 2 first)."""
        if not path.is_file():
            raise CAStateError(f"{path}: the CA's request database is missing")
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            tables = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )}
            if version == 1 and "requests" in tables:
                _upgrade_from_version_1(connection)
                version, tables = _SCHEMA_VERSION, tables | {"crl_numbers"}
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise CAStateError(f"{path}: not a readable request database ({exc})") from exc
        except ValueError as exc:  # a stored certificate that does not parse
            connection.close()
            raise CAStateError(f"{path}: cannot be upgraded, a certificate is corrupt ({exc})") from exc
        if version != _SCHEMA_VERSION or not {"requests", "crl_numbers"} <= tables:
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
        serial = serial_text(certificate.serial_number) if certificate is not None else None
        with self._lock:
            cursor = self._connection.execute(
                "INSERT INTO requests (submitted_at, requester, template, disposition, status,"
                " message, subject, csr, attributes, certificate, serial)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    submitted_at.isoformat(), requester, template, disposition, status,
                    message, subject, csr, json.dumps(attributes), der, serial,
                ),
            )
        request_id = cursor.lastrowid
        assert request_id is not None  # an INSERT into a rowid table always sets it
        return request_id

    def resolve(
        self, request_id: int, *, disposition: str, status: int, message: str,
        subject: str | None = None, certificate: x509.Certificate | None = None,
    ) -> bool:
        """Settle a pending request (a CA manager issued or denied it).

        False when the request is not pending (any more): the row is left as it was.
        """
        der = certificate.public_bytes(Encoding.DER) if certificate is not None else None
        serial = serial_text(certificate.serial_number) if certificate is not None else None
        with self._lock:
            cursor = self._connection.execute(
                "UPDATE requests SET disposition = ?, status = ?, message = ?,"
                " subject = COALESCE(?, subject), certificate = ?, serial = ?"
                " WHERE request_id = ? AND disposition = ?",
                (disposition, status, message, subject, der, serial, request_id, PENDING),
            )
        return cursor.rowcount == 1

    def set_revocation(self, serial: str, revoked_at: datetime | None, reason: int | None) -> None:
        """Mark the certificate with ``serial`` revoked (a date and reason) or, with
        None for both, issued again (released from hold)."""
        with self._lock:
            self._connection.execute(
                "UPDATE requests SET disposition = ?, revoked_at = ?, revocation_reason = ?"
                " WHERE serial = ?",
                (ISSUED if revoked_at is None else REVOKED,
                 None if revoked_at is None else revoked_at.isoformat(), reason, serial),
            )

    def find_serial(self, serial: str) -> RequestRecord | None:
        """The row of the certificate with this serial (certutil's hex), or None."""
        with self._lock:
            row = self._connection.execute(
                f"SELECT {_COLUMNS} FROM requests WHERE serial = ?", (serial,)
            ).fetchone()
        return None if row is None else self._record(row)

    def revoked(self) -> list[RequestRecord]:
        """The rows of revoked certificates, in order of revocation."""
        with self._lock:
            rows = self._connection.execute(
                f"SELECT {_COLUMNS} FROM requests WHERE disposition = ?"
                " ORDER BY revoked_at, request_id", (REVOKED,)
            ).fetchall()
        return [self._record(row) for row in rows]

    def next_crl_number(self, issuer: str) -> int:
        """The next CRL number of ``issuer`` (1 for its first CRL), now used up."""
        with self._lock:
            self._connection.execute(
                "INSERT INTO crl_numbers (issuer, number) VALUES (?, 1)"
                " ON CONFLICT (issuer) DO UPDATE SET number = number + 1", (issuer,)
            )
            (number,) = self._connection.execute(
                "SELECT number FROM crl_numbers WHERE issuer = ?", (issuer,)
            ).fetchone()
        return int(number)

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
         subject, csr, attributes, der, serial, revoked_at, revocation_reason) = row
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
            serial=serial,
            revoked_at=datetime.fromisoformat(revoked_at) if revoked_at is not None else None,
            revocation_reason=revocation_reason,
        )


def _upgrade_from_version_1(connection: sqlite3.Connection) -> None:
    """Version 1 → 2 in one transaction: the new columns and dispositions (SQLite cannot
    alter a CHECK constraint, so the table is rebuilt with its rows and IDs), the serial
    numbers of the issued certificates, and the CRL number table."""
    rows = connection.execute("SELECT request_id, certificate FROM requests").fetchall()
    serials = [(serial_text(x509.load_der_x509_certificate(der).serial_number), request_id)
               for request_id, der in rows if der is not None]
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("ALTER TABLE requests RENAME TO requests_v1")
        connection.execute(_REQUESTS)
        connection.execute(
            f"INSERT INTO requests ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM requests_v1")
        connection.execute("DROP TABLE requests_v1")
        connection.executemany("UPDATE requests SET serial = ? WHERE request_id = ?", serials)
        connection.execute(_CRL_NUMBERS)
        connection.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise

