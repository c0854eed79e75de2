"""Stored bucket summaries (rule 68, issue 24 item 5, issue 25 item 8): the writer stores each
chunk's summary beside it, with a checksum of its own; a long run's chart and dashboard read
them instead of the chunks, a damaged one falls back to the chunk and ``nbrun.check`` lists
it, and databases made before them chart as they did. Both backends."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nbrun
from nbrun import _store
from nbrun._lineage import BUCKETS
from nbrun.widgets._feed import ChartFeed
from tests.conftest import python_env, where
from tests.integration.test_checksums import _cli, _sql, both

P = "sm"
ROWS = 3000
FLUSH = {"flush_rows": 100, "flush_interval": 60.0}  # chunks of about 100 rows
POINTS = 20  # buckets of 256+ rows: whole chunks, the summaries' case


def _make(loc: str, run_id: str = "a", start: int = 0, rows: int = ROWS) -> None:
    resume = {"resume": "must"} if start else {}
    run = nbrun.init(project=P, dir=loc, id=run_id, settings=FLUSH, **resume)
    for i in range(start, start + rows):
        run.log({"loss": 1.0 / (i + 1) + (3.0 if i == 1234 else 0.0), "n": i % 7}, step=i)
    run.finish()


def _fresh_charts(api: nbrun.Api, points: int = POINTS) -> dict[str, pd.DataFrame]:
    """The run's chart data read from the store (this process's cache of summaries emptied)."""
    BUCKETS._items.clear()
    BUCKETS.bytes = 0
    out: dict[str, pd.DataFrame] = api.run(f"{P}/a").history_buckets(points=points)
    return out


def _dashboard(api: nbrun.Api) -> dict[str, Any]:
    BUCKETS._items.clear()
    BUCKETS.bytes = 0
    view = api.run(f"{P}/a")
    feed = ChartFeed(view, max_points=POINTS)
    feed.rebuild(view)
    return feed.snapshot()


def _equal(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert sorted(got) == sorted(want)
    for key in want:
        pd.testing.assert_frame_equal(got[key], want[key], obj=key)


def _count(run_dir: Path) -> int:
    return int(_sql(run_dir, "SELECT COUNT(*) FROM history_summaries")[0][0])


def _flip_summary(run_dir: Path, step: int) -> tuple[int, int]:
    """Flip a bit in the stored summary of run ``a``'s chunk holding ``step``; returns the
    chunk's ``(first_step, last_step)``."""
    first, last = _sql(
        run_dir,
        "SELECT first_step, last_step FROM history WHERE seg = 0 AND first_step <= ?"
        " ORDER BY first_step DESC LIMIT 1",
        (step,),
    )[0]
    (data,) = _sql(run_dir, "SELECT data FROM history_summaries WHERE first_step = ?", (first,))[0]
    data = bytearray(data)
    data[-3] ^= 0x10  # inside the last float: a wrong number, were it read
    _sql(
        run_dir,
        "UPDATE history_summaries SET data = ? WHERE first_step = ?",
        (bytes(data), first),
    )
    return int(first), int(last)


# -- rule 68 -----------------------------------------------------------------------------------
@both
def test_rule68_a_long_run_charts_from_its_stored_summaries(run_dir: Path, api: nbrun.Api) -> None:
    _make(where(run_dir))
    chunks = int(_sql(run_dir, "SELECT COUNT(*) FROM history")[0][0])
    assert _count(run_dir) == chunks > 20  # one per chunk, written with it
    stored = _fresh_charts(api)
    board = _dashboard(api)
    # every point of the dashboard carries its row's _runtime and _timestamp (the time axes)
    points = [p for series in board["points"]["loss"].values() for p in series]
    assert points and all(len(p) == 6 for p in points)  # [index, x, y, step, runtime, ts]
    assert all(p[4] >= 0 and p[5] > 1e9 for p in points)
    # the chart read from the chunks alone is the same, points, times and all
    _sql(run_dir, "DELETE FROM history_summaries")
    _equal(stored, _fresh_charts(api))
    assert _dashboard(api) == board
    loss = stored["loss"]
    assert loss["rows"].sum() == ROWS and loss["y_max"].max() == 3.0 + 1 / 1235  # the spike
    assert len(loss) <= POINTS // 2


@both
def test_rule68_the_chunks_are_not_read_when_their_summaries_are(
    run_dir: Path, api: nbrun.Api
) -> None:
    """A chunk whose rows are damaged (rule 44) but whose summary, made from it when it was
    written, is intact: the chart draws from the summary; the rows raise as before."""
    _make(where(run_dir))
    want = _fresh_charts(api)
    first, last = _sql(
        run_dir, "SELECT first_step, last_step FROM history WHERE first_step > 1500"
    )[0]
    _sql(
        run_dir,
        "UPDATE history SET state = REPLACE(state, '0.', '9.') WHERE seg = 0 AND first_step = ?",
        (first,),
    )
    _equal(_fresh_charts(api), want)
    with pytest.raises(nbrun.StoreError, match=rf"steps {first}-{last}"):
        api.run(f"{P}/a").history()
    with pytest.raises(nbrun.StoreError, match=rf"steps {first}-{last}"):
        _fresh_charts(api, points=4000)  # finer buckets read the chunk


@both
def test_rule68_a_damaged_summary_is_read_from_its_chunk_and_checked(
    run_dir: Path, api: nbrun.Api, caplog: pytest.LogCaptureFixture
) -> None:
    _make(where(run_dir))
    want = _fresh_charts(api)
    first, last = _flip_summary(run_dir, 1234)  # the spike's chunk
    with caplog.at_level(logging.WARNING, logger="nbrun"):
        got = _fresh_charts(api)
    _equal(got, want)  # from the chunk's rows: never a wrong chart
    assert f"run 'sm/a', segment 0, steps {first}-{last} is damaged" in caplog.text
    assert "charts read the chunk's rows instead" in caplog.text
    found = nbrun.check(where(run_dir))
    assert not found.ok
    assert [(c.run_id, c.first_step, c.last_step, c.problem) for c in found.damaged] == [
        ("a", first, last, "damaged summary")
    ]
    out = _cli("check", where(run_dir))
    assert out.returncode == 1
    assert f"damaged summary: run sm/a segment 0 steps {first}-{last}" in out.stdout
    assert api.run(f"{P}/a").history()["loss"].iloc[1234] == 3.0 + 1 / 1235  # rows intact


_OLD_DB = (
    "import sys, nbrun, nbrun._store as s\n"
    "del s.MIGRATIONS[int(sys.argv[2]) - 1 :]  # write a database of that schema version\n"
    "run = nbrun.init(project='sm', dir=sys.argv[1], id='a',\n"
    "                 settings={'flush_rows': 100, 'flush_interval': 60.0})\n"
    "for i in range(3000):\n"
    "    run.log({'loss': 1.0 / (i + 1) + (3.0 if i == 1234 else 0.0), 'n': i % 7}, step=i)\n"
    "run.finish()\n"
)


@both
def test_rule68_a_database_made_before_summaries_charts_and_is_upgraded(
    run_dir: Path, api: nbrun.Api
) -> None:
    loc = where(run_dir)
    made = subprocess.run(
        [sys.executable, "-c", _OLD_DB, loc, "4"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert _sql(run_dir, "SELECT value FROM meta WHERE key = 'schema_version'") == [("4",)]
    old = _fresh_charts(api)  # opening it upgrades it; its chunks have no summaries
    assert _sql(run_dir, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(_store.SCHEMA_VERSION),)
    ]
    assert _count(run_dir) == 0
    assert old["loss"]["rows"].sum() == ROWS and old["loss"]["y_max"].max() == 3.0 + 1 / 1235
    # continued: the new chunks get summaries, the old ones are read; same chart either way
    _make(loc, start=ROWS, rows=2000)
    assert _count(run_dir) > 0
    mixed = _fresh_charts(api)
    assert mixed["loss"]["rows"].sum() == ROWS + 2000
    _sql(run_dir, "DELETE FROM history_summaries")
    _equal(mixed, _fresh_charts(api))
    assert nbrun.check(loc).ok


@both
def test_rule68_a_rewound_or_deleted_run_keeps_no_stale_summary(
    run_dir: Path, api: nbrun.Api
) -> None:
    """A rewind moves whole chunks' summaries to the archive with them (the chunk it cuts is
    read); deleting the run deletes its summaries."""
    loc = where(run_dir)
    _make(loc)
    with nbrun.init(project=P, dir=loc, resume_from="a?_step=1849", settings=FLUSH) as run:
        for i in range(1850, 2500):
            run.log({"loss": -1.0, "n": 0}, step=i)
    live = _fresh_charts(api)
    view = api.run(f"{P}/a")
    ghost = view.archives()[0].history_buckets(points=POINTS)
    assert live["loss"]["rows"].sum() == 2500 and live["loss"]["y_min"].min() == -1.0
    assert ghost["loss"]["rows"].sum() == ROWS - 1850
    assert int(_sql(run_dir, "SELECT COUNT(*) FROM history_summaries WHERE seg = 1")[0][0]) > 0
    _sql(run_dir, "DELETE FROM history_summaries")
    BUCKETS._items.clear()
    _equal(live, _fresh_charts(api))
    _equal(ghost, view.archives()[0].history_buckets(points=POINTS))
    _make(loc, run_id="b", rows=500)
    assert _count(run_dir) > 0
    api.run(f"{P}/b").delete()
    assert _count(run_dir) == 0
