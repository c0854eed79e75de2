"""A database file nbrun cannot use (issue 7): corrupt, foreign, or of a newer schema. Every
entry point gives a clear ``nbrun.StoreError`` naming the file, and the file is never written
(bytes and mtime compared)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import nbrun
from nbrun._store import DB_NAME, Store


def _db(base: Path) -> Path:
    return base / "nbrun" / DB_NAME


def _fresh_process_view(base: Path) -> None:
    """Forget this process's cached Store, as a new process would start without it."""
    store = Store._instances.pop((base / "nbrun").resolve(), None)
    if store is not None:
        store.close_thread_connection()


def _make_real(base: Path, rows: int = 50) -> Path:
    run = nbrun.init(project="d", dir=base, id="r1", reinit="create_new")
    for i in range(rows):
        run.log({"loss": float(i), "text": "t" * 200})
    run.finish()
    _fresh_process_view(base)
    return _db(base)


def garbage(base: Path) -> None:
    _db(base).parent.mkdir(parents=True)
    _db(base).write_bytes(b"this is not a database\n" * 400)


def csv_file(base: Path) -> None:
    _db(base).parent.mkdir(parents=True)
    _db(base).write_text("step,loss\n0,1.0\n1,0.5\n")


def foreign_sqlite(base: Path) -> None:
    _db(base).parent.mkdir(parents=True)
    conn = sqlite3.connect(_db(base))
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    conn.commit()
    conn.close()


def foreign_with_meta(base: Path) -> None:
    """Another app's database that also has a ``meta`` table."""
    _db(base).parent.mkdir(parents=True)
    conn = sqlite3.connect(_db(base))
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('app', 'other')")
    conn.commit()
    conn.close()


def header_smashed(base: Path) -> None:
    """A real nbrun database whose first page was overwritten."""
    db = _make_real(base)
    data = bytearray(db.read_bytes())
    data[:100] = b"\xff" * 100
    db.write_bytes(bytes(data))


def truncated(base: Path) -> None:
    """A real nbrun database cut to its first 1.5 pages (a broken copy)."""
    db = _make_real(base)
    db.write_bytes(db.read_bytes()[:6144])


def pages_scrambled(base: Path) -> None:
    """A real nbrun database with its b-tree pages (after the schema page) overwritten."""
    db = _make_real(base, rows=400)
    data = bytearray(db.read_bytes())
    page = 4096
    for start in range(page, len(data), page):
        data[start : start + 64] = b"\x0d" * 64
    db.write_bytes(bytes(data))


def empty(base: Path) -> None:
    """An empty ``nbrun.db`` (rule 44: damage, never silently a new store)."""
    _db(base).parent.mkdir(parents=True)
    _db(base).write_bytes(b"")


DAMAGE: list[tuple[str, Callable[[Path], None]]] = [
    ("empty", empty),
    ("garbage", garbage),
    ("csv", csv_file),
    ("foreign-sqlite", foreign_sqlite),
    ("foreign-with-meta", foreign_with_meta),
    ("header-smashed", header_smashed),
    ("truncated", truncated),
    ("pages-scrambled", pages_scrambled),
]

#: every way a user reaches the store
ENTRY: list[tuple[str, Callable[[Path], Any]]] = [
    ("init", lambda d: nbrun.init(project="d", dir=d, reinit="create_new")),
    ("init-resume", lambda d: nbrun.init(project="d", dir=d, id="r1", resume="allow")),
    ("runs", lambda d: nbrun.runs(dir=d)),
    ("api-runs", lambda d: nbrun.Api(d).runs()),
    ("api-run-history", lambda d: nbrun.Api(d).run("d/r1").history()),
]


def _snapshot(db: Path) -> tuple[bytes, int]:
    return db.read_bytes(), db.stat().st_mtime_ns


@pytest.mark.parametrize("entry", [e[1] for e in ENTRY], ids=[e[0] for e in ENTRY])
@pytest.mark.parametrize("damage", [d[1] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_unusable_file_is_a_store_error_and_never_written(
    run_dir: Path, damage: Callable[[Path], None], entry: Callable[[Path], Any]
) -> None:
    damage(run_dir)
    db = _db(run_dir)
    before = _snapshot(db)
    with pytest.raises(nbrun.StoreError) as info:
        entry(run_dir)
    assert str(db) in str(info.value)
    assert _snapshot(db) == before
    # a second try (the cached store, if any, must not have half-opened it) is the same
    _fresh_process_view(run_dir)
    with pytest.raises(nbrun.StoreError):
        entry(run_dir)
    assert _snapshot(db) == before


def _newer_schema(base: Path) -> Path:
    db = _make_real(base)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    _fresh_process_view(base)
    return db


@pytest.mark.parametrize("entry", [e[1] for e in ENTRY], ids=[e[0] for e in ENTRY])
def test_newer_schema_is_a_clear_error_and_no_write(
    run_dir: Path, entry: Callable[[Path], Any]
) -> None:
    db = _newer_schema(run_dir)
    before = _snapshot(db)
    with pytest.raises(nbrun.StoreError) as info:
        entry(run_dir)
    msg = str(info.value)
    assert str(db) in msg and "99" in msg and "upgrade nbrun" in msg
    assert _snapshot(db) == before


def test_damage_found_after_open_names_the_file(run_dir: Path) -> None:
    """A file damaged under a store that is already open: reads fail with a StoreError
    naming the file, not a raw sqlite3 error, and the live writer reports, never crashes."""
    db = _make_real(run_dir, rows=400)
    view = nbrun.Api(run_dir).run("d/r1")
    assert len(view.history()) == 400
    data = bytearray(db.read_bytes())
    for start in range(4096, len(data), 4096):
        data[start : start + 64] = b"\x0d" * 64
    db.write_bytes(bytes(data))
    _fresh_process_view(run_dir)
    with pytest.raises(nbrun.StoreError) as info:
        nbrun.Api(run_dir).run("d/r1").history()
    assert str(db) in str(info.value)
