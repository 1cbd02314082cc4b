"""The Configuration Database file: persistence, dbids, secrecy, damaged files."""

from __future__ import annotations

import json
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest

from fakes.configserver import (
    CfgApplication,
    CfgPortInfo,
    ConfigServer,
    ConfigStore,
    ListeningMode,
    ObjectNotFoundError,
    StoreError,
    ValidationError,
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "confserv.db"


def test_objects_survive_reopening(db: Path) -> None:
    store = ConfigStore(db)
    app, _ = store.create_application(CfgApplication(name="UCC_Connector", options={"Microsoft-OCS": {"password": "Kerb#1"}}))
    store.close()
    reopened = ConfigStore(db)
    assert reopened.get_application(app.dbid) == app  # type: ignore[arg-type]
    assert reopened.find_application("UCC_Connector") == app
    reopened.close()


def test_file_is_private(db: Path) -> None:
    ConfigStore(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_dbids_start_at_101_and_are_never_reused(db: Path) -> None:
    store = ConfigStore(db)
    first, _ = store.create_application(CfgApplication(name="A"))
    second, _ = store.create_application(CfgApplication(name="B"))
    assert (first.dbid, second.dbid) == (101, 102)
    store.delete_application(102)
    store.close()
    store = ConfigStore(db)
    third, _ = store.create_application(CfgApplication(name="B"))
    assert third.dbid == 103
    assert [a.name for a in store.list_applications()] == ["A", "B"]
    store.close()


def test_names_are_unique(db: Path) -> None:
    store = ConfigStore(db)
    store.create_application(CfgApplication(name="UCC"))
    with pytest.raises(ValidationError, match="'UCC' already exists \\(dbid 101\\)"):
        store.create_application(CfgApplication(name="UCC"))
    other, _ = store.create_application(CfgApplication(name="Other"))
    other.name = "UCC"
    with pytest.raises(ValidationError, match="already exists"):
        store.update_application(other)
    store.close()


def test_update_returns_warnings_and_unknown_dbids_fail(db: Path) -> None:
    store = ConfigStore(db)
    app, warnings = store.create_application(CfgApplication(name="UCC"))
    assert warnings == []
    app.port_infos.append(CfgPortInfo.with_mode("sip", 5061, conn_protocol="sip", mode=ListeningMode.SECURED))
    saved, warnings = store.update_application(app)
    assert saved == app and len(warnings) == 1
    with pytest.raises(ObjectNotFoundError, match="dbid 999"):
        store.get_application(999)
    with pytest.raises(ObjectNotFoundError):
        store.delete_application(999)
    with pytest.raises(ValidationError, match="assigns the dbid"):
        store.create_application(CfgApplication(name="X", dbid=5))
    store.close()


def test_garbage_file_is_a_clear_error_naming_it(db: Path) -> None:
    db.write_bytes(b"this is not an SQLite database, just bytes\x00\xff" * 100)
    with pytest.raises(StoreError) as caught:
        ConfigServer(db, users={"operator": "Store-test-1"})
    assert str(db) in str(caught.value)
    assert "not a usable Configuration Database" in str(caught.value)


def test_someone_elses_sqlite_database_is_refused_untouched(db: Path) -> None:
    with closing(sqlite3.connect(db)) as other, other:
        other.execute("CREATE TABLE invoices (id INTEGER)")
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not a Configuration Database \\(its tables: invoices\\)"):
        ConfigStore(db)
    assert db.read_bytes() == before


def test_damaged_object_is_reported_at_open(db: Path) -> None:
    store = ConfigStore(db)
    store.create_application(CfgApplication(name="UCC"))
    store.close()
    with closing(sqlite3.connect(db)) as raw, raw:
        doc = json.loads(raw.execute("SELECT document FROM objects").fetchone()[0])
        doc["portinfos"] = {"portinfo": [{"id": "sip", "port": "70000"}]}
        raw.execute("UPDATE objects SET document = ?", (json.dumps(doc),))
    with pytest.raises(StoreError, match=f"{db}: object dbid 101 is damaged: .*70000 is out of range"):
        ConfigStore(db)


def test_unopenable_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=f"{tmp_path}: cannot open"):
        ConfigStore(tmp_path)  # a folder
