"""The embedded store (run-semantics rule 2, issue 2's storage requirements): one SQLite
database in WAL mode under ``<dir>/nbrun/``, schema versioned, per-run folders, readable from
another process while a run is writing, runs persisting across processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import nbrun
from nbrun import _store
from nbrun._records import RunRecord
from nbrun._store import is_url, redact
from tests.conftest import BACKENDS, python_env, wait_for, where
from tests.unit.test_layers import _imports

#: the tests below that are not about SQLite's file run on both backends
both = pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)

P = "store"


def _py(code: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_rule02_everything_lives_under_dir_nbrun(run_dir: Path) -> None:
    target = run_dir / "project-dir"
    run = nbrun.init(project=P, id="r1", dir=target)
    run.log({"a": 1})
    run.finish()
    assert sorted(p.name for p in target.iterdir()) == ["nbrun"]
    root = target / "nbrun"
    dbs = [p for p in root.iterdir() if p.is_file() and not p.name.startswith(_store.DB_NAME)]
    assert dbs == []  # one database file (plus SQLite's -wal / -shm companions)
    assert (root / _store.DB_NAME).is_file()
    assert Path(run.dir) == (root / "runs" / P / "r1").resolve()
    assert Path(run.dir).is_dir()
    assert not (run_dir / "nbrun").exists()  # nothing in the cwd


def test_rule02_dir_defaults_to_the_current_directory(run_dir: Path) -> None:
    run = nbrun.init(project=P, id="here")
    run.finish()
    assert (run_dir / "nbrun" / _store.DB_NAME).is_file()
    assert Path(run.dir).is_relative_to((run_dir / "nbrun").resolve())


@both
def test_rule02_one_database_holds_runs_of_all_projects(run_dir: Path) -> None:
    for project in ("p1", "p2"):
        nbrun.init(project=project, id="same-id", reinit="create_new").finish()
    conn = _store.Store.open(where(run_dir))._conn
    rows = conn.execute("SELECT project, id FROM runs ORDER BY project").fetchall()
    assert [tuple(r) for r in rows] == [("p1", "same-id"), ("p2", "same-id")]


def test_database_is_in_wal_mode_with_a_schema_version(run_dir: Path) -> None:
    nbrun.init(project=P).finish()
    conn = sqlite3.connect(run_dir / "nbrun" / _store.DB_NAME)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()
    assert meta["app"] == "nbrun"
    assert int(meta["schema_version"]) == _store.SCHEMA_VERSION >= 1


def test_newer_schema_version_is_refused_naming_the_file(run_dir: Path) -> None:
    nbrun.init(project=P).finish()
    db = run_dir / "nbrun" / _store.DB_NAME
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    code = (
        "import sys, nbrun\n"
        "try:\n"
        "    nbrun.init(project='store', dir=sys.argv[1])\n"
        "except nbrun.Error as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = _py(code, str(run_dir))
    assert out.startswith("StoreError")
    assert str(db) in out and "999" in out


READER = """
import json, sys, nbrun
view = nbrun.Api(sys.argv[1]).run("store/live")
hist = view.history()
print(json.dumps({"state": view.state, "rows": hist["x"].tolist(),
                  "lr": view.config["lr"], "last": view.summary.get("x")}))
"""


@pytest.mark.slow  # two fresh interpreters importing pandas: ~4 s
@both
def test_running_run_is_readable_from_another_process(run_dir: Path, api: nbrun.Api) -> None:
    run = nbrun.init(project=P, id="live", config={"lr": 0.1}, settings={"flush_interval": 0.05})
    for i in range(5):
        run.log({"x": i})
    view = api.run(f"{P}/live")
    wait_for(lambda: view.summary.get("x") == 4)
    seen = json.loads(_py(READER, where(run_dir)))
    assert seen == {"state": "running", "rows": [0, 1, 2, 3, 4], "lr": 0.1, "last": 4}
    run.log({"x": 5})
    run.finish()
    seen = json.loads(_py(READER, where(run_dir)))
    assert seen["state"] == "finished" and seen["rows"] == [0, 1, 2, 3, 4, 5]


WRITER = """
import sys, nbrun
run = nbrun.init(project="store", dir=sys.argv[1], id="persist", resume="allow",
                 config={"lr": 0.1}, tags=["t"])
run.define_metric("loss", summary="min")
for i in range(int(sys.argv[2])):
    run.log({"loss": 1.0 / (run.step + 1)})
run.finish()
"""


@both
def test_runs_persist_across_processes(run_dir: Path, api: nbrun.Api) -> None:
    _py(WRITER, where(run_dir), "3")
    view = api.run(f"{P}/persist")
    assert view.state == "finished"
    assert view.history()["_step"].tolist() == [0, 1, 2]
    assert view.summary["loss"] == {"min": pytest.approx(1 / 3)}
    assert view.tags == ("t",)
    # continue it here, then in a second process
    run = nbrun.init(project=P, id="persist", resume="allow")
    assert run.step == 3 and run.config["lr"] == 0.1
    run.log({"loss": 0.2})
    run.finish()
    _py(WRITER, where(run_dir), "2")
    assert view.history()["_step"].tolist() == [0, 1, 2, 3, 4, 5]
    assert view.summary["loss"] == {"min": pytest.approx(1 / 6)}
    assert view.resumed is True
    assert [r.id for r in api.runs(P)] == ["persist"]


_V1_DB = (
    "import sys, nbrun, nbrun._store as s\n"
    "s.MIGRATIONS.clear()  # write a database as the first nbrun did (schema version 1)\n"
    "run = nbrun.init(project='store', dir=sys.argv[1], id='old')\n"
    "for i in range(5):\n"
    "    run.log({'x': i})\n"
    "run.finish()\n"
)


def _meta(run_dir: Path) -> tuple[str, set[str]]:
    """The schema version and the tables, read past nbrun (a fresh connection)."""
    loc = where(run_dir)
    if is_url(loc):
        import psycopg

        with psycopg.connect(loc) as pg:
            row = pg.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            names = pg.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            return str(row[0]), {r[0] for r in names}
    conn = sqlite3.connect(run_dir / "nbrun" / _store.DB_NAME)
    try:
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    return version, tables


def _db_name(run_dir: Path) -> str:
    """How messages name the test's database."""
    loc = where(run_dir)
    return redact(loc) if is_url(loc) else str(run_dir / "nbrun" / _store.DB_NAME)


@both
def test_older_database_is_upgraded_by_every_migration_and_keeps_its_runs(run_dir: Path) -> None:
    _py(_V1_DB, where(run_dir))
    assert _meta(run_dir)[0] == "1"
    code = (
        "import sys, nbrun, nbrun._store as s\n"
        "s.MIGRATIONS.append('CREATE TABLE probe (x INTEGER); INSERT INTO probe VALUES (7)')\n"
        "print(s.schema_version(), list(nbrun.Api(sys.argv[1]).run('store/old').history()['x']))\n"
    )
    out = _py(code, where(run_dir)).split()
    want = str(len(_store.MIGRATIONS) + 2)
    assert out[0] == want
    assert out[1:] == ["[0,", "1,", "2,", "3,", "4]"]
    version, tables = _meta(run_dir)
    assert version == want and "probe" in tables


@both
def test_failing_migration_leaves_the_database_as_it_was(run_dir: Path) -> None:
    _py(_V1_DB, where(run_dir))
    before = _meta(run_dir)
    code = (
        "import sys, nbrun, nbrun._store as s\n"
        "s.MIGRATIONS[:] = ['CREATE TABLE half (x INTEGER); THIS IS NOT SQL']\n"
        "try:\n"
        "    nbrun.init(project='store', dir=sys.argv[1])\n"
        "except nbrun.StoreError as e:\n"
        "    print('StoreError', e)\n"
    )
    out = _py(code, where(run_dir))
    assert out.startswith("StoreError") and _db_name(run_dir) in out
    assert "schema version 2" in out
    assert _meta(run_dir) == before  # no half table, version unchanged


@both
def test_update_run_if_is_compare_and_set_among_concurrent_writers(run_dir: Path) -> None:
    """Eight threads (each with its own connection) try to take over one queued run at the same
    moment; each decides on the record the store hands it, and a little work between that read
    and the write widens any window: exactly one wins, the others see its write."""
    run = nbrun.init(project=P, dir=where(run_dir))
    run.finish()
    store = _store.Store.open(where(run_dir))
    store.update_run(run._key, {"host": "queued"})
    barrier = threading.Barrier(8)
    seen: dict[int, list[str]] = {i: [] for i in range(8)}
    results: dict[int, RunRecord | None] = {}

    def taker(i: int) -> None:
        def take(rec: RunRecord) -> dict[str, Any] | None:
            seen[i].append(str(rec.host))
            time.sleep(0.005)
            return {"host": f"taker {i}"} if rec.host == "queued" else None

        barrier.wait(30)
        try:
            results[i] = store.update_run_if(run._key, take)
        finally:
            store.close_thread_connection()

    threads = [threading.Thread(target=taker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [i for i, rec in results.items() if rec is not None]
    assert len(results) == 8 and len(winners) == 1, results
    (won,) = winners
    assert results[won].host == f"taker {won}"  # type: ignore[union-attr]
    assert store.get_run_by_key(run._key).host == f"taker {won}"  # type: ignore[union-attr]
    for i in range(8):  # one read each; every loser read the winner's write
        assert seen[i] == (["queued"] if i == won else [f"taker {won}"])
    assert store.update_run_if(10**9, lambda rec: {"host": "x"}) is None  # no such run


# -- the package's layout (issue 22 item 4) ---------------------------------------------------
#: nbrun/_store/'s modules in import order: each imports only those before it (its docstring
#: and CONTRIBUTING's module map say the same)
_STORE_MODULES = [
    "schema",
    "sqlite",
    "chunks",
    "runs",
    "archives",
    "artifacts",
    "sweeps",
    "transfer",
    "store",
    "postgres",
]


def test_store_package_modules_are_small_and_import_one_way() -> None:
    init = Path(_store.__file__)
    assert init.name == "__init__.py", "nbrun._store is a package"
    pkg = init.parent
    assert sorted(p.stem for p in pkg.glob("*.py") if p.stem != "__init__") == sorted(
        _STORE_MODULES
    )
    for path in pkg.glob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines <= 800, f"{path.name} has {lines} lines (at most 800)"
    for i, name in enumerate(_STORE_MODULES):
        for target, line, _kind in _imports(pkg / f"{name}.py"):
            if target.startswith("_store."):
                below = _STORE_MODULES[:i]
                assert target.split(".", 1)[1] in below, f"{name}.py:{line} imports {target}"
    # the package's names are the ones other modules and tests import from it
    for name in ("Store", "PgStore", "DB_NAME", "MIGRATIONS", "SCHEMA_VERSION", "chunk_crc"):
        assert hasattr(_store, name)
    assert _store.PgStore.__mro__[1] is _store.Store
