"""The PostgreSQL store (issue 17) against a real server (``tests/postgres.py``): choosing it by
URL and environment, schema versions and migrations, the server's clock for heartbeats, many
writer processes, a server restart while runs log, and copying runs between SQLite and
PostgreSQL with their lineage. The engine suites (lineage, crash, concurrency) run on both
backends through their ``store_backend`` fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

import nbrun
from nbrun import _store
from nbrun._store import PgStore, Store, pg_ddl
from tests.conftest import python_env, wait_for, where
from tests.postgres import Server, sibling_database


@pytest.fixture
def store_backend() -> str:
    """Every test here runs on PostgreSQL."""
    return "postgresql"


def _sql(url: str, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


def _fresh(store: Store) -> None:
    Store.forget(store)


# -- choosing the backend --------------------------------------------------------------------
def test_nbrun_store_env_sends_runs_to_postgres_and_files_to_nbrun_files(run_dir: Path) -> None:
    url = where(run_dir)
    assert url.startswith("postgresql://")
    run = nbrun.init(project="p", id="a", config={"lr": 0.1})
    run.log({"x": 1.0})
    run.finish()
    assert not (run_dir / "nbrun" / "nbrun.db").exists()  # nothing went to the working dir
    assert run.dir == str(run_dir / "files" / "runs" / "p" / "a")
    assert (run_dir / "files" / "runs" / "p" / "a").is_dir()
    view = nbrun.Api().run("p/a")  # the Api follows NBRUN_STORE too
    assert view.root == url and view.config["lr"] == 0.1
    assert view.history()["x"].tolist() == [1.0]
    assert _sql(url, "SELECT id, state FROM runs") == [("a", "finished")]
    # the files folder is recorded in the database for readers without NBRUN_FILES
    assert _sql(url, "SELECT value FROM meta WHERE key = 'files'") == [(str(run_dir / "files"),)]


def test_files_dir_setting_and_the_error_without_one(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sibling_database(where(run_dir))
    monkeypatch.delenv("NBRUN_FILES")
    with pytest.raises(nbrun.StoreError, match="NBRUN_FILES"):
        nbrun.init(project="p", dir=url)
    run = nbrun.init(project="p", dir=url, settings={"files_dir": str(run_dir / "shared")})
    assert run.dir == str(run_dir / "shared" / "runs" / "p" / run.id)
    run.finish()
    with pytest.raises(nbrun.UsageError, match="files_dir"):
        nbrun.init(project="p", dir=url, settings={"files_dir": 3})


def test_password_is_not_in_messages(run_dir: Path) -> None:
    url = where(run_dir).replace("postgres@", "postgres:s3cret@")  # trust auth ignores it
    store = Store.open(url)
    try:
        assert "s3cret" not in str(store.path) and "***" in str(store.path)
    finally:
        _fresh(store)


# -- schema versions -------------------------------------------------------------------------
def test_version_1_database_is_upgraded_by_every_migration(run_dir: Path) -> None:
    url = sibling_database(where(run_dir))
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            for statement in pg_ddl(_store._SCHEMA).split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO meta VALUES ('app', 'nbrun'), ('schema_version', '1'),"
                " ('created', '0')"
            )
            conn.execute(
                "INSERT INTO runs (project, id, state, created, started, updated, heartbeat)"
                " VALUES ('p', 'old', 'finished', 1, 1, 1, 1)"
            )
    view = nbrun.Api(url).run("p/old")  # opening for reading upgrades it
    assert view.state == "finished"
    version = _sql(url, "SELECT value FROM meta WHERE key = 'schema_version'")
    assert version == [(str(_store.schema_version()),)]
    tables = {r[0] for r in _sql(url, "SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert {"system_samples", "console", "artifacts", "artifact_usage"} <= tables
    assert "history_summaries" in tables  # v5, rule 68
    assert view.logs().empty and view.logged_artifacts() == []
    # the upgraded database stores each chunk's bucket summary beside it (rule 68)
    with nbrun.init(project="p", dir=url, id="new", settings={"flush_rows": 100}) as run:
        for i in range(300):
            run.log({"x": float(i)})
    chunks = _sql(url, "SELECT COUNT(*) FROM history")[0][0]
    assert _sql(url, "SELECT COUNT(*) FROM history_summaries") == [(chunks,)]


def test_history_chunks_skip_toast_compression_also_in_older_databases(run_dir: Path) -> None:
    """Chunks are packed floats: PostgreSQL's TOAST compression shrinks them little and cost
    the last flush most of ``finish`` (issue 24, item 4). A database made before keeps the
    default until nbrun opens it; then its chunks are stored as they are and read back whole."""
    url = where(run_dir)
    run = nbrun.init(project="p", dir=url, id="first")
    run.log({"x": 1.0})
    run.finish()
    storage = "SELECT attstorage FROM pg_attribute WHERE attrelid = 'history'::regclass"
    storage += " AND attname = 'data'"
    assert _sql(url, storage) == [("e",)]
    _sql(url, "ALTER TABLE history ALTER COLUMN data SET STORAGE EXTENDED")  # an older database
    _fresh(Store.open(url))
    assert _sql(url, storage) == [("x",)]
    run = nbrun.init(project="p", dir=url, id="second")  # opening it again adopts the storage
    for i in range(3000):
        run.log({"a": float(i), "b": i / 3})
    run.finish()
    assert _sql(url, storage) == [("e",)]
    df = nbrun.Api(url).run("p/second").history()
    assert len(df) == 3000 and df["a"].iloc[-1] == 2999.0


def test_newer_schema_version_is_refused_and_left_untouched(run_dir: Path) -> None:
    url = sibling_database(where(run_dir))
    Store.forget(Store.open(url))
    _sql(url, "UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(nbrun.StoreError, match="schema version 999"):
        Store.open(url)
    assert _sql(url, "SELECT value FROM meta WHERE key = 'schema_version'") == [("999",)]


def test_foreign_database_is_refused(run_dir: Path) -> None:
    url = sibling_database(where(run_dir))
    _sql(url, "CREATE TABLE people (name TEXT)")
    with pytest.raises(nbrun.StoreError, match="not an nbrun one"):
        Store.open(url)


def test_api_on_an_empty_database_creates_nothing(run_dir: Path) -> None:
    url = sibling_database(where(run_dir))
    assert nbrun.runs(dir=url).empty
    assert _sql(url, "SELECT tablename FROM pg_tables WHERE schemaname='public'") == []


# -- heartbeats in the server's clock --------------------------------------------------------
def test_heartbeat_is_written_and_judged_in_the_servers_clock(run_dir: Path) -> None:
    url = where(run_dir)
    run = nbrun.init(project="p", id="h", settings={"flush_interval": 0.05})
    run.log({"x": 1})
    store = Store.open(url)
    # the server's clock read between two of the store's: a stall between the reads (a busy
    # machine) widens the bracket instead of failing a fixed tolerance
    before = store.now()
    server_now = float(_sql(url, "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8")[0][0])
    after = store.now()
    assert before - 1.0 < server_now < after + 1.0
    run._writer.flush()
    wait_for(lambda: abs(store.get_run("p", "h").heartbeat - store.now()) < 2.0)
    run.finish()
    # a run of another host whose heartbeat stopped 2 minutes ago (server time) reads crashed,
    # one that beat a second ago reads running, whatever this machine's clock says
    for rid, age in (("gone", 120.0), ("alive", 1.0)):
        _sql(
            url,
            "INSERT INTO runs (project, id, state, created, started, updated, heartbeat, host,"
            " pid) VALUES ('p', %s, 'running', 0, 0, 0,"
            " EXTRACT(EPOCH FROM clock_timestamp()) - %s, 'elsewhere', 1)",
            (rid, age),
        )
    api = nbrun.Api(url)
    assert api.run("p/gone").state == "crashed"
    assert api.run("p/alive").state == "running"


# -- many writers ----------------------------------------------------------------------------
WRITER = r"""
import sys, time
import nbrun

url, rid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = nbrun.init(project="many", dir=url, id=rid, settings={"flush_interval": 0.1})
for i in range(n):
    run.log({"loss": 1.0 / (i + 1), "i": i})
    if i % 200 == 0:
        time.sleep(0.01)
run.finish()
print("ok", flush=True)
"""


@pytest.mark.slow  # 16 interpreters: ~10-30 s on two cores
def test_sixteen_writers_lose_nothing_while_others_fork_and_rewind(run_dir: Path) -> None:
    url = where(run_dir)
    base = nbrun.init(project="many", id="base", settings={"flush_interval": 0.05})
    for i in range(200):
        base.log({"loss": float(i), "i": i})
    base.finish()
    n = 3000
    ids = [f"w{k:02d}" for k in range(16)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, rid, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=python_env(),
        )
        for rid in ids
    ]
    try:
        api = nbrun.Api(url)

        def has_rows(rid: str, k: int) -> bool:
            try:
                return len(api.run(f"many/{rid}").history()) >= k
            except nbrun.RunNotFoundError:
                return False

        wait_for(lambda: has_rows("w00", 100), timeout=120)
        fork = nbrun.init(project="many", fork_from="w00?_step=50", id="fork")
        fork.log({"loss": -1.0, "i": 51})
        fork.finish()
        rewound = nbrun.init(project="many", resume_from="base?_step=99")
        rewound.log({"loss": -2.0, "i": 100})
        rewound.finish()
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for rid, p, (out, err) in zip(ids, procs, results, strict=True):
        assert p.returncode == 0 and out.startswith("ok"), f"{rid}: {out}\n{err}"
        assert "Traceback" not in err and "warn" not in err.lower(), f"{rid}: {err}"
    for rid in ids:
        view = api.run(f"many/{rid}")
        hist = view.history()
        assert hist["_step"].tolist() == list(range(n)), rid
        assert hist["i"].tolist() == list(range(n)), rid
        assert view.state == "finished"
    fh = api.run("many/fork").history()
    assert fh["i"].tolist() == list(range(52))
    assert fh["loss"].tolist()[:51] == [1.0 / (i + 1) for i in range(51)]
    bh = api.run("many/base").history()
    assert bh["i"].tolist() == list(range(101))
    (archive,) = api.run("many/base").archives()
    assert (archive.from_step, archive.to_step, archive.rows) == (100, 199, 100)


# -- a server restart while runs log ---------------------------------------------------------
@pytest.mark.slow  # a server restart: ~5-10 s
def test_server_restart_while_logging_loses_nothing(tmp_path: Path) -> None:
    """A server of its own (the session's stays up): restart it under a logging run; the run
    warns once, keeps its rows in memory, writes them when the server is back."""
    from tests.postgres import find_bin

    bindir = find_bin()
    assert bindir is not None
    server = Server(bindir)
    server.start()
    store: Store | None = None
    try:
        url = server.new_database()
        run = nbrun.init(
            project="p",
            id="r",
            dir=url,
            settings={"flush_interval": 0.05, "files_dir": str(tmp_path), "stats": False},
        )
        store = Store.open(url, str(tmp_path))  # the run's store: one per (URL, files folder)
        assert store is run._store
        for i in range(500):
            run.log({"i": i})
        assert run._writer.flush(30)
        with pytest.warns(RuntimeWarning, match="could not write"):
            server.pg_ctl("-m", "fast", "stop")  # the server is gone ...
            for i in range(500, 1500):
                run.log({"i": i})  # ... logging goes on, rows stay in memory
            wait_for(lambda: run._writer.failures > 0, timeout=30)
            with pytest.raises(nbrun.StoreError, match=r"\*\*\*|127\.0\.0\.1"):
                store.get_run("p", "r")  # a read fails with a StoreError naming the database
        server.pg_ctl("start")  # ... and is back on the same port
        writer = run._writer  # retried every flush interval: durable once the server is back
        wait_for(lambda: writer.durable >= writer.enqueued and writer.error is None, timeout=60)
        for i in range(1500, 1600):
            run.log({"i": i})
        run.finish()
        hist = nbrun.Api(url).run("p/r").history()
        assert hist["i"].tolist() == list(range(1600))
        assert nbrun.Api(url).run("p/r").state == "finished"
    finally:
        if store is not None:
            Store.forget(store)
        server.stop()


# -- copying runs between backends -----------------------------------------------------------
def _make_local_project(local: Path) -> None:
    src = str(local)
    a = nbrun.init(project="cp", id="a", dir=src, config={"lr": 0.1}, reinit="create_new")
    for i in range(300):
        a.log({"loss": 1.0 / (i + 1)})
    a.alert("hi", "an alert")
    (local / "weights.txt").write_text("w")
    a.save(str(local / "weights.txt"), base_path=str(local))
    art = nbrun.Artifact("data", "dataset")
    (local / "d.csv").write_text("1,2\n")
    art.add_file(str(local / "d.csv"))
    a.log_artifact(art, aliases=["best"])
    print("hello from a")
    a.finish()
    b = nbrun.init(project="cp", dir=src, fork_from="a?_step=99", id="b", reinit="create_new")
    b.log({"loss": -1.0})
    b.finish()
    r = nbrun.init(project="cp", dir=src, resume_from="a?_step=199", reinit="create_new")
    r.log({"loss": -2.0})
    r.finish()
    other = nbrun.init(project="other", id="o", dir=src, reinit="create_new")
    other.log({"x": 1})
    other.finish()


def _summary_of(dir: str) -> dict[str, object]:
    api = nbrun.Api(dir)
    out: dict[str, object] = {}
    for rid in ("a", "b"):
        v = api.run(f"cp/{rid}")
        out[rid] = {
            "hist": v.history()["loss"].tolist(),
            "forked_from": v.forked_from,
            "archives": [(x.from_step, x.to_step, x.rows) for x in v.archives()],
            "archived": [x.history()["loss"].tolist() for x in v.archives()],
            "config": dict(v.config),
            "state": v.state,
            "alerts": [(x["title"], x["text"]) for x in v.alerts],
            "files": sorted(f.name for f in v.files()),
            "artifacts": [x.name for x in v.logged_artifacts()],
        }
    return out


def test_copy_sqlite_to_postgres_and_back_keeps_ids_lineage_and_files(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = where(run_dir)
    monkeypatch.delenv("NBRUN_STORE")
    local = run_dir / "local"
    local.mkdir()
    _make_local_project(local)
    before = _summary_of(str(local))
    assert before["a"]["archives"] == [(200, 299, 100)]  # type: ignore[index]

    assert nbrun.copy(str(local), url, project="cp") == ["cp/a", "cp/b"]
    assert _summary_of(url) == before
    assert nbrun.Api(url).runs("cp") is not None
    with pytest.raises(nbrun.RunNotFoundError):
        nbrun.Api(url).run("other/o")  # only the project asked for
    art = nbrun.Api(url).artifact("cp/data:best")
    assert Path(art.download(str(run_dir / "dl"))).joinpath("d.csv").read_text() == "1,2\n"
    assert nbrun.copy(str(local), url, project="cp") == []  # again: nothing twice

    # and back, through the command line, into a new folder
    back = run_dir / "back"
    out = subprocess.run(
        [sys.executable, "-m", "nbrun", "copy", url, str(back)],
        capture_output=True,
        text=True,
        env=python_env(),
        check=True,
    )
    assert out.stdout.split() == ["cp/a", "cp/b"]
    assert _summary_of(str(back)) == before
    # a fork of a copied run reads the copied parent
    f = nbrun.init(project="cp", dir=str(back), fork_from="b?_step=100", reinit="create_new")
    assert f.step == 101
    f.finish()


def test_copy_refuses_bad_arguments_and_missing_sources(run_dir: Path) -> None:
    with pytest.raises(nbrun.StoreError, match="no nbrun store"):
        nbrun.copy(str(run_dir / "nothing"), where(run_dir))
    with pytest.raises(nbrun.UsageError, match="project"):
        nbrun.copy(str(run_dir), where(run_dir), project="")
    with pytest.raises(nbrun.UsageError, match="dst"):
        nbrun.copy(str(run_dir), 3)  # type: ignore[arg-type]


def test_store_helper_sql_is_portable() -> None:
    """The DDL translation keeps 8-byte floats and identity keys."""
    ddl = pg_ddl(
        "CREATE TABLE t (key INTEGER PRIMARY KEY, x REAL, b BLOB, n INTEGER) WITHOUT ROWID"
    )
    assert "DOUBLE PRECISION" in ddl and "BYTEA" in ddl and "IDENTITY" in ddl
    assert "ROWID" not in ddl and " REAL" not in ddl
    assert PgStore.backend == "postgresql" and Store.backend == "sqlite"
    assert json.loads("1") == 1 and os.sep and time.time() > 0
