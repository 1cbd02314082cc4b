"""The Configuration Database: Application objects in one SQLite file.

Each object is one row holding its GAX JSON document, so the file reads like what the
API serves. dbids come from an AUTOINCREMENT key: they only ever grow, a deleted object's
dbid is never handed out again, and user objects start at 101 as on a real Configuration
Server, whose low dbids belong to predefined objects.

The file holds secrets (the ``Microsoft-OCS``/``password`` option is a Kerberos password),
so it is created with mode 0600. One connection serves every thread behind a lock: the
asyncio server calls in from its loop, tests and the harness from theirs, and every
operation is a few milliseconds on a local file.

Every change is one transaction that reads what it needs and writes (``BEGIN IMMEDIATE``,
under the lock): an update is computed from the object as stored at that moment
(:meth:`ConfigStore.modify_application`), so concurrent updates of different fields all
survive, and another process on the same file cannot slip in between the read and the
write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from .._files import write_private_file
from ._gax import OBJECT_TYPE, from_gax, to_gax
from ._model import CfgApplication, ValidationError, port_security_warnings, validate_application

__all__ = ["ConfigStore", "StoreError", "ObjectNotFoundError"]

# Recorded in the file so that another program's SQLite database is refused, not altered.
FORMAT = "ucc-lab configserver 1"
FIRST_DBID = 101

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE objects (
    dbid INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    UNIQUE (type, name)
);
"""


class StoreError(Exception):
    """The database file cannot be used: unreadable, corrupt, or not a Configuration Database."""


class ObjectNotFoundError(LookupError):
    """No object has the dbid asked for."""

    def __init__(self, dbid: int) -> None:
        super().__init__(f"no {OBJECT_TYPE} with dbid {dbid}")
        self.dbid = dbid


class ConfigStore:
    """Application objects kept in the SQLite file at ``path`` (created if missing).

    Raises :class:`StoreError` naming the file if it cannot be opened or holds anything
    but a valid Configuration Database.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            if not self.path.exists():
                write_private_file(self.path, b"")
            self._db = sqlite3.connect(self.path, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the Configuration Database: {exc}") from exc
        try:
            self._open()
        except (sqlite3.Error, StoreError) as exc:
            self._db.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"{self.path}: not a usable Configuration Database: {exc}") from exc

    def _open(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            with self._db:
                self._db.executescript(_SCHEMA)
                self._db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
                self._db.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('objects', ?)", (FIRST_DBID - 1,)
                )
            return
        if not {"meta", "objects"} <= tables:
            raise StoreError(
                f"{self.path}: an SQLite database, but not a Configuration Database "
                f"(its tables: {', '.join(sorted(tables))})"
            )
        row = self._db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None or row[0] != FORMAT:
            found = row[0] if row else None
            raise StoreError(f"{self.path}: unknown Configuration Database format {found!r}")
        # Read every object now, so a damaged row is reported at start-up, not mid-replay.
        for dbid, document in self._db.execute("SELECT dbid, document FROM objects"):
            self._load(dbid, document)

    def _load(self, dbid: int, document: str) -> CfgApplication:
        try:
            app = from_gax(json.loads(document))
        except (ValueError, TypeError, RecursionError) as exc:  # ValidationError is a ValueError
            raise StoreError(f"{self.path}: object dbid {dbid} is damaged: {exc}") from exc
        app.dbid = dbid
        return app

    @staticmethod
    def _dump(app: CfgApplication) -> str:
        doc = to_gax(app)
        doc.pop("dbid", None)  # the row key is the one source of the dbid
        return json.dumps(doc, sort_keys=True)

    def _check_name_free(self, name: str, dbid: int | None) -> None:
        row = self._db.execute(
            "SELECT dbid FROM objects WHERE type = ? AND name = ?", (OBJECT_TYPE, name)
        ).fetchone()
        if row is not None and row[0] != dbid:
            raise ValidationError("name", f"an Application named {name!r} already exists (dbid {row[0]})")

    def list_applications(self, name: str | None = None) -> list[CfgApplication]:
        """All Applications in dbid order, or only the one called ``name``."""
        query = "SELECT dbid, document FROM objects WHERE type = ?"
        args: tuple[str, ...] = (OBJECT_TYPE,)
        if name is not None:
            query += " AND name = ?"
            args += (name,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY dbid", args).fetchall()
        return [self._load(dbid, document) for dbid, document in rows]

    def find_application(self, name: str) -> CfgApplication | None:
        """The Application called ``name``, or ``None``."""
        found = self.list_applications(name)
        return found[0] if found else None

    def _read(self, dbid: int) -> CfgApplication:
        row = self._db.execute(
            "SELECT document FROM objects WHERE type = ? AND dbid = ?", (OBJECT_TYPE, dbid)
        ).fetchone()
        if row is None:
            raise ObjectNotFoundError(dbid)
        return self._load(dbid, row[0])

    def get_application(self, dbid: int) -> CfgApplication:
        """The Application with this dbid; :class:`ObjectNotFoundError` if there is none."""
        with self._lock:
            return self._read(dbid)

    def create_application(self, app: CfgApplication) -> tuple[CfgApplication, list[str]]:
        """Save a new Application; returns it with its dbid, and the warnings of the change."""
        if app.dbid is not None:
            raise ValidationError(
                "dbid", "Configuration Server assigns the dbid of a new object; leave it empty"
            )
        validate_application(app)
        warnings = port_security_warnings(app)
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._check_name_free(app.name, None)
            document = self._dump(app)
            cursor = self._db.execute(
                "INSERT INTO objects (type, name, document) VALUES (?, ?, ?)",
                (OBJECT_TYPE, app.name, document),
            )
            dbid = cursor.lastrowid
            assert dbid is not None  # an INSERT always sets it
            # Read back before the commit: a row the store could not load again would
            # make every later listing, and the next start, fail.
            saved = self._load(dbid, document)
        return saved, warnings

    def modify_application(
        self, dbid: int, change: Callable[[CfgApplication], CfgApplication]
    ) -> tuple[CfgApplication, list[str]]:
        """Save ``change(stored)`` over the Application with this dbid, in one transaction.

        ``change`` gets the object as stored now and returns the new one (with the same
        dbid); it must not block, as it runs under the store's lock. Returns the object
        as saved and the warnings of the change; :class:`ObjectNotFoundError` if there is
        no such object, :class:`ValidationError` if the result breaks a rule (then
        nothing is written).
        """
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            previous = self._read(dbid)
            app = change(previous)
            if app.dbid != dbid:
                raise ValidationError("dbid", f"{app.dbid} does not match the object being updated ({dbid})")
            validate_application(app)
            warnings = port_security_warnings(app, previous)
            self._check_name_free(app.name, dbid)
            document = self._dump(app)
            self._db.execute(
                "UPDATE objects SET name = ?, document = ? WHERE type = ? AND dbid = ?",
                (app.name, document, OBJECT_TYPE, dbid),
            )
            saved = self._load(dbid, document)  # read back before the commit, as in create
        return saved, warnings

    def update_application(self, app: CfgApplication) -> tuple[CfgApplication, list[str]]:
        """Replace the stored Application with ``app`` (same dbid); returns it and the warnings."""
        if app.dbid is None:
            raise ValidationError("dbid", "an object without a dbid cannot be updated; create it first")
        return self.modify_application(app.dbid, lambda _stored: app)

    def delete_application(self, dbid: int) -> None:
        """Delete the Application with this dbid; :class:`ObjectNotFoundError` if there is none."""
        with self._lock, self._db:
            cursor = self._db.execute("DELETE FROM objects WHERE type = ? AND dbid = ?", (OBJECT_TYPE, dbid))
        if cursor.rowcount == 0:
            raise ObjectNotFoundError(dbid)

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()
