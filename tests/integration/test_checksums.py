"""Damage inside the database is detected (rule 44, issue 21 item 5): every history chunk
carries a checksum written with it and verified on every read. A damaged chunk is a
``StoreError`` naming the run, segment and steps (never a raw decode error, never wrong
numbers), other runs stay readable, nothing is written into (or copied from) a damaged
history, ``python -m nbrun check DIR`` lists damaged chunks, and an empty ``nbrun.db`` is a
damaged store, not a new one.

Damage is made from outside nbrun: bytes flipped with SQL (both backends) and in the SQLite
file itself."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nbrun
from nbrun import _store
from nbrun._store import DB_NAME, Store, is_url
from tests.conftest import BACKENDS, python_env, where

#: the tests below that are not about SQLite's file run on both backends
both = pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)

P = "ck"
ROWS = 500
FLUSH = {"flush_rows": 100, "flush_interval": 60.0}  # chunks of about 100 rows


def _sql(run_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run SQL on the test's store past nbrun (a fresh connection), committed."""
    loc = where(run_dir)
    if is_url(loc):
        import psycopg

        with psycopg.connect(loc, autocommit=True) as pg:
            cur = pg.execute(sql.replace("?", "%s"), params)
            return list(cur.fetchall()) if cur.description else []
    conn = sqlite3.connect(run_dir / "nbrun" / DB_NAME)
    try:
        cur = conn.execute(sql, params)
        rows = cur.fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def _make(run_dir: Path) -> None:
    """Run ``a`` (500 rows of floats and text, five chunks) and run ``b`` (50 rows)."""
    run = nbrun.init(project=P, dir=where(run_dir), id="a", settings=FLUSH)
    for i in range(ROWS):
        run.log({"loss": 1.0 / (i + 1), "i": i, "note": f"row {i}"})
    run.finish()
    run = nbrun.init(project=P, dir=where(run_dir), id="b")
    for i in range(50):
        run.log({"loss": float(i)})
    run.finish()


def _key(run_dir: Path, run_id: str) -> int:
    return int(
        _sql(run_dir, "SELECT key FROM runs WHERE project = ? AND id = ?", (P, run_id))[0][0]
    )


def _chunk(run_dir: Path, step: int, run_id: str = "a") -> tuple[int, int, int]:
    """``(run key, first_step, last_step)`` of the live chunk of ``run_id`` holding ``step``
    (where the writer cut chunks depends on timing)."""
    key = _key(run_dir, run_id)
    first, last = _sql(
        run_dir,
        "SELECT first_step, last_step FROM history WHERE run_key = ? AND seg = 0"
        " AND first_step <= ? ORDER BY first_step DESC LIMIT 1",
        (key, step),
    )[0]
    return key, int(first), int(last)


def _flip(run_dir: Path, step: int, at: float = 0.5, run_id: str = "a") -> tuple[int, int]:
    """Flip one bit of the chunk of ``run_id`` holding ``step``, ``at`` of the way into its
    bytes; returns the chunk's ``(first_step, last_step)``."""
    key, first, last = _chunk(run_dir, step, run_id)
    (data,) = _sql(
        run_dir,
        "SELECT data FROM history WHERE run_key = ? AND seg = 0 AND first_step = ?",
        (key, first),
    )[0]
    data = bytearray(data)
    data[int(len(data) * at)] ^= 0x01
    _sql(
        run_dir,
        "UPDATE history SET data = ? WHERE run_key = ? AND seg = 0 AND first_step = ?",
        (bytes(data), key, first),
    )
    return first, last


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbrun", *args],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- rule 44: reads ------------------------------------------------------------------------------
@both
@pytest.mark.parametrize("at", [0.02, 0.5, 0.97], ids=["header", "middle", "end"])
def test_rule44_a_flipped_byte_is_a_store_error_naming_run_segment_and_steps(
    run_dir: Path, api: nbrun.Api, at: float
) -> None:
    _make(run_dir)
    first, last = _flip(run_dir, 250, at)
    with pytest.raises(nbrun.StoreError, match=rf"run 'ck/a', segment 0, steps {first}-{last}"):
        api.run(f"{P}/a").history()
    with pytest.raises(nbrun.StoreError, match=rf"steps {first}-{last}"):
        api.run(f"{P}/a").history(keys=["loss"])
    # rows before the damaged chunk still read (a fork just before it reads the chunks before);
    # other runs and the runs table are untouched
    early = nbrun.init(project=P, dir=where(run_dir), id="early", fork_from=f"a?_step={first - 1}")
    early.finish()
    rows = api.run(f"{P}/early").history()
    assert rows["_step"].tolist() == list(range(first))
    assert rows["loss"].tolist() == [1.0 / (i + 1) for i in range(first)]
    assert api.run(f"{P}/b").history()["loss"].tolist() == [float(i) for i in range(50)]
    # the dashboard's chart data: the damaged run's raises, the other run's reads
    with pytest.raises(nbrun.StoreError, match=rf"steps {first}-{last}"):
        api.run(f"{P}/a").history_buckets()
    assert len(api.run(f"{P}/b").history_buckets(points=100)["loss"]) > 0
    assert sorted(r.id for r in api.runs(P)) == ["a", "b", "early"]
    assert api.run(f"{P}/a").summary["loss"] == pytest.approx(1.0 / ROWS)


@both
def test_rule44_a_changed_cumulative_state_is_damage_too(run_dir: Path, api: nbrun.Api) -> None:
    """The state (the summary a fork or resume starts from) is covered by the checksum."""
    _make(run_dir)
    key, first, last = _chunk(run_dir, 150)
    _sql(
        run_dir,
        "UPDATE history SET state = REPLACE(state, '0.', '9.') WHERE run_key = ?"
        " AND seg = 0 AND first_step = ?",
        (key, first),
    )
    with pytest.raises(nbrun.StoreError, match=rf"steps {first}-{last}"):
        nbrun.init(project=P, dir=where(run_dir), id="f", fork_from=f"a?_step={last}")
    assert [r.id for r in api.runs(P) if r.id == "f"] == []


def test_rule44_damage_made_in_the_file_itself_is_found(run_dir: Path) -> None:
    """Bytes flipped in ``nbrun.db`` on disk, where SQLite's own integrity check sees nothing."""
    _make(run_dir)
    key, first, last = _chunk(run_dir, 350)
    (data,) = _sql(
        run_dir, "SELECT data FROM history WHERE run_key = ? AND first_step = ?", (key, first)
    )[0]
    for store in list(Store._instances.values()):
        Store.forget(store)
    db = run_dir / "nbrun" / DB_NAME
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = bytearray(db.read_bytes())
    piece = bytes(data[len(data) // 2 : len(data) // 2 + 48])
    at = raw.find(piece)
    assert at > 0 and raw.find(piece, at + 1) < 0
    raw[at + 20] ^= 0x04
    db.write_bytes(bytes(raw))

    out = _cli("check", str(run_dir))
    assert out.returncode == 1, out.stderr
    assert f"damaged: run ck/a segment 0 steps {first}-{last}" in out.stdout
    assert "integrity_check: ok" in out.stdout  # SQLite's own check does not see it
    code = (
        "import sys, nbrun\n"
        "api = nbrun.Api(sys.argv[1])\n"
        "print(len(api.run('ck/b').history()))\n"
        "try:\n"
        "    api.run('ck/a').history()\n"
        "except nbrun.StoreError as e:\n"
        "    print('StoreError', e)\n"
    )
    read = subprocess.run(
        [sys.executable, "-c", code, str(run_dir)],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines()[0] == "50"
    assert "StoreError" in read.stdout and f"steps {first}-{last}" in read.stdout


# -- rule 44: nothing is written into a damaged history ----------------------------------------
def _record(run_dir: Path, run_id: str) -> list[tuple[Any, ...]]:
    return _sql(
        run_dir,
        "SELECT state, pid, host, started, updated, heartbeat, last_step, resumed FROM runs"
        " WHERE project = ? AND id = ?",
        (P, run_id),
    )


def _history_rows(run_dir: Path) -> list[tuple[Any, ...]]:
    return _sql(
        run_dir,
        "SELECT run_key, seg, first_step, last_step, n, data, state FROM history ORDER BY 1, 2, 3",
    )


@both
@pytest.mark.parametrize(
    "how",
    [
        {"id": "a", "resume": "allow"},
        {"id": "a", "resume": "must"},
        {"resume_from": "a?_step=450"},
        {"resume_from": "a?_step=50"},
        {"id": "f", "fork_from": "a?_step=250"},
        {"id": "a"},
    ],
    ids=[
        "resume-allow",
        "resume-must",
        "rewind-after",
        "rewind-before",
        "fork-in-chunk",
        "replace",
    ],
)
def test_rule44_continuing_a_damaged_run_raises_before_writing(
    run_dir: Path, api: nbrun.Api, how: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        Store, "_VERIFY_BATCH", 2, raising=False
    )  # the damaged chunk is on the second page
    _make(run_dir)
    first, last = _flip(run_dir, 250)
    before = (
        _record(run_dir, "a"),
        _history_rows(run_dir),
        _sql(run_dir, "SELECT * FROM archives"),
    )
    with pytest.raises(nbrun.StoreError, match=rf"run 'ck/a', segment 0, steps {first}-{last}"):
        nbrun.init(project=P, dir=where(run_dir), **how)
    after = (_record(run_dir, "a"), _history_rows(run_dir), _sql(run_dir, "SELECT * FROM archives"))
    assert after == before
    assert sorted(r.id for r in api.runs(P)) == ["a", "b"]
    # a fresh run in the same store, and the other run's resume, still work
    run = nbrun.init(project=P, dir=where(run_dir), id="c")
    run.log({"loss": 1.0})
    run.finish()
    run = nbrun.init(project=P, dir=where(run_dir), id="b", resume="must")
    run.log({"loss": 50.0})
    run.finish()
    assert api.run(f"{P}/c").history()["loss"].tolist() == [1.0]
    assert len(api.run(f"{P}/b").history()) == 51


@both
def test_rule44_copy_of_a_damaged_store_is_refused_and_writes_nothing(
    run_dir: Path, tmp_path: Path
) -> None:
    _make(run_dir)
    first, last = _flip(run_dir, 450)
    dst = tmp_path / "copy-dst"
    with pytest.raises(nbrun.StoreError, match=rf"run 'ck/a', segment 0, steps {first}-{last}"):
        nbrun.copy(where(run_dir), dst)
    assert not dst.exists()
    out = _cli("copy", where(run_dir), str(dst))
    assert out.returncode == 1 and f"steps {first}-{last}" in out.stderr
    assert not dst.exists()


@both
def test_rule44_a_damaged_run_can_be_deleted(run_dir: Path, api: nbrun.Api) -> None:
    """The way out: deleting the run (rule 40) needs none of its chunks' bytes."""
    _make(run_dir)
    first, last = _flip(run_dir, 250)
    with pytest.raises(nbrun.StoreError, match=rf"steps {first}-{last}"):
        api.run(f"{P}/a").move("elsewhere")  # a move rewrites chunks: refused, nothing moved
    assert sorted(r.id for r in api.runs(P)) == ["a", "b"]
    api.run(f"{P}/a").delete()
    found = nbrun.check(where(run_dir))
    assert found.ok and found.chunks == []
    assert [r.id for r in api.runs(P)] == ["b"]


# -- rule 44: checksums survive rewinds, forks, deletes, moves and copies -----------------------
@both
def test_rule44_every_way_chunks_are_written_keeps_them_verified(
    run_dir: Path, api: nbrun.Api, tmp_path: Path
) -> None:
    _make(run_dir)
    loc = where(run_dir)
    # a rewind inside a chunk: the straddling chunk is split, the rest moves to an archive
    run = nbrun.init(project=P, dir=loc, resume_from="a?_step=250")
    run.log({"loss": 0.5})
    run.finish()
    fork = nbrun.init(project=P, dir=loc, id="f", fork_from="a?_step=120")
    fork.log({"loss": 0.25})
    fork.finish()
    grand = nbrun.init(project=P, dir=loc, id="g", fork_from="f?_step=121")
    grand.log({"loss": 0.125})
    grand.finish()
    want_f = api.run(f"{P}/f").history()["loss"].tolist()
    api.run(f"{P}/a").delete(detach_forks=True)  # f gets a's rows as its own chunks
    api.run(f"{P}/b").move("ck2")
    assert api.run(f"{P}/f").history()["loss"].tolist() == want_f
    assert _sql(run_dir, "SELECT COUNT(*) FROM history WHERE crc IS NULL") == [(0,)]
    found = nbrun.check(loc)
    assert found.ok and found.chunks == [] and found.integrity == "ok"

    dst = tmp_path / "copied"
    assert sorted(nbrun.copy(loc, dst)) == ["ck/f", "ck/g", "ck2/b"]
    assert nbrun.check(dst).chunks == []
    conn = sqlite3.connect(dst / "nbrun" / DB_NAME)
    try:
        assert conn.execute("SELECT COUNT(*) FROM history WHERE crc IS NULL").fetchone() == (0,)
    finally:
        conn.close()
    assert nbrun.Api(dst).run(f"{P}/f").history()["loss"].tolist() == want_f


# -- rule 44: python -m nbrun check -------------------------------------------------------------
@both
def test_rule44_check_lists_damaged_chunks_with_exit_status(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make(run_dir)
    clean = _cli("check", where(run_dir))
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.splitlines() == ["integrity_check: ok"]
    a0 = _flip(run_dir, 0)
    a4 = _flip(run_dir, 450, 0.3)
    b0 = _flip(run_dir, 0, run_id="b")
    monkeypatch.setattr(
        Store, "_VERIFY_BATCH", 2, raising=False
    )  # pages that end inside and between runs
    found = nbrun.check(where(run_dir))
    assert not found.ok
    assert [(c.run_id, c.seg, c.first_step, c.last_step) for c in found.damaged] == [
        ("a", 0, *a0),
        ("a", 0, *a4),
        ("b", 0, *b0),
    ]
    out = _cli("check", where(run_dir))
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        "damaged: run ck/a segment 0 steps {}-{}".format(*a0),
        "damaged: run ck/a segment 0 steps {}-{}".format(*a4),
        "damaged: run ck/b segment 0 steps {}-{}".format(*b0),
        "integrity_check: ok",
    ]
    assert "DAMAGED (3 damaged chunk(s))" in out.stderr


def test_rule44_check_of_a_folder_without_a_store_is_an_error(tmp_path: Path) -> None:
    out = _cli("check", str(tmp_path))
    assert out.returncode == 1 and "holds no nbrun store" in out.stderr
    assert not (tmp_path / "nbrun").exists()
    with pytest.raises(nbrun.UsageError, match=r"check\(dir=5\)"):
        nbrun.check(5)  # type: ignore[arg-type]


# -- rule 44: chunks written before checksums ---------------------------------------------------
_OLD_DB = (
    "import sys, nbrun, nbrun._store as s\n"
    "del s.MIGRATIONS[int(sys.argv[2]) - 1 :]  # write a database of that schema version\n"
    "run = nbrun.init(project='ck', dir=sys.argv[1], id='old', settings={'flush_rows': 10})\n"
    "for i in range(30):\n"
    "    run.log({'x': i, 'note': str(i)})\n"
    "run.finish()\n"
)


@both
@pytest.mark.parametrize("version", [1, 3], ids=["v1", "v3"])
def test_rule44_chunks_written_before_the_migration_read_and_are_unverified(
    run_dir: Path, api: nbrun.Api, version: int
) -> None:
    loc = where(run_dir)
    made = subprocess.run(
        [sys.executable, "-c", _OLD_DB, loc, str(version)],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert _sql(run_dir, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(version),)]
    # opened by this nbrun: upgraded to the current version, old chunks read as they were
    assert api.run(f"{P}/old").history()["x"].tolist() == list(range(30))
    assert _sql(run_dir, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(_store.SCHEMA_VERSION),)
    ]
    old = _sql(run_dir, "SELECT first_step, last_step FROM history ORDER BY first_step")
    assert old[0][0] == 0 and old[-1][1] == 29
    assert _sql(run_dir, "SELECT COUNT(*) FROM history WHERE crc IS NULL") == [(len(old),)]
    found = nbrun.check(loc)
    assert found.ok and found.damaged == []
    assert [(c.run_id, c.first_step, c.last_step) for c in found.unverified] == [
        ("old", first, last) for first, last in old
    ]
    out = _cli("check", loc)
    assert out.returncode == 0
    assert f"unverified: run ck/old: {len(old)} chunk(s) written before checksums" in out.stdout
    # continuing it adds verified chunks; the old ones stay readable
    run = nbrun.init(project=P, dir=loc, id="old", resume="must")
    run.log({"x": 30})
    run.finish()
    assert api.run(f"{P}/old").history()["x"].tolist() == list(range(31))
    assert _sql(run_dir, "SELECT COUNT(*) FROM history WHERE crc IS NOT NULL") == [(1,)]


@both
def test_rule44_an_unverified_chunk_that_cannot_be_decoded_is_a_store_error(
    run_dir: Path, api: nbrun.Api
) -> None:
    """Without a checksum, damage that breaks decoding is still reported as damage."""
    loc = where(run_dir)
    made = subprocess.run(
        [sys.executable, "-c", _OLD_DB, loc, "1"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    old = _sql(run_dir, "SELECT first_step, last_step FROM history ORDER BY first_step")
    first, last = _flip(run_dir, 15, 0.0, run_id="old")  # its first byte: the format's magic
    with pytest.raises(
        nbrun.StoreError, match=rf"run 'ck/old', segment 0, steps {first}-{last}.*decoded"
    ):
        api.run(f"{P}/old").history()
    found = nbrun.check(loc)
    assert [(c.first_step, c.problem) for c in found.chunks] == [
        (f, "damaged" if f == first else "unverified") for f, _ in old
    ]
    assert not found.ok


# -- rule 44: an empty nbrun.db ------------------------------------------------------------------
def test_rule44_an_empty_database_file_is_damage_not_a_new_store(run_dir: Path) -> None:
    db = run_dir / "nbrun" / DB_NAME
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    for call in (
        lambda: nbrun.init(project=P, dir=run_dir),
        lambda: nbrun.Api(run_dir).runs(),
        lambda: nbrun.check(run_dir),
    ):
        with pytest.raises(nbrun.StoreError, match=r"is empty \(0 bytes\)") as err:
            call()
        assert str(db) in str(err.value)
        assert db.read_bytes() == b""
    out = _cli("check", str(run_dir))
    assert out.returncode == 1 and "0 bytes" in out.stderr
    assert sorted(p.name for p in db.parent.iterdir()) == [DB_NAME]


_CREATOR = r"""
import os, sys, time
import nbrun

d, go, rid = sys.argv[1], sys.argv[2], sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.001)
run = nbrun.init(project="ck", dir=d, id=rid)
run.log({"x": 1.0})
run.finish()
print("ok", flush=True)
"""


@pytest.mark.slow  # six interpreters
def test_rule44_processes_creating_one_store_at_once_all_use_it(tmp_path: Path) -> None:
    """nbrun makes a store whole before anyone can see it: processes racing to create it
    never meet an empty file (which would be damage), and all of them write into one store."""
    base = tmp_path / "race"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CREATOR, str(base), str(go), f"r{i}"],
            env=python_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0 and out.strip() == "ok", err
    assert sorted(r.id for r in nbrun.Api(base).runs("ck")) == [f"r{i}" for i in range(6)]
    # no private file of a creator is left behind
    assert not [p.name for p in (base / "nbrun").iterdir() if p.name.startswith(".")]
