"""Several processes on one run directory at once (issue 7): four writers logging to their own
runs with many small transactions, a reader process polling their histories, and a fork and a
rewind made meanwhile from the test process. No row may be lost or duplicated, and no
"database is locked" may reach any of them.

Nothing here depends on how fast the machine is: the writers keep logging until the test has
made its fork and rewind (a release file), so those always happen while the writers write, and
the reader's checks are about what it saw (each poll a gapless 0..n-1, never fewer rows than the
poll before, all of them at the end), not about how often it managed to look."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nbrun
from tests.conftest import BACKENDS, python_env, wait_for, where

PROJECT = "conc"
ROWS = 2000
WRITERS = 4

WRITER = r"""
import os, sys, time
import nbrun

d, rid, n, release = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
run = nbrun.init(project="conc", dir=d, id=rid, config={"writer": rid},
                 settings={"flush_interval": 0.01, "flush_rows": 25})
run.define_metric("loss", summary="min,last")
i = 0
# at least n rows, and on until the test has forked and rewound (then it writes the release
# file); past 10 n rows only wait, so a slow test cannot grow the runs without bound
while i < n or not os.path.exists(release):
    if i >= 10 * n:
        time.sleep(0.01)
        continue
    run.log({"loss": 1.0 / (i + 1), "i": i, "who": rid})
    if i % 100 == 0:
        run.config.update({f"k{i}": i})
        run.summary[f"mark{i}"] = i
    if i % 10 == 0:
        time.sleep(0.003)  # pace the loop so the run lasts while others read, fork and rewind
    i += 1
run.finish()
print("ok", run.id, run.step, flush=True)
"""

READER = r"""
import json, sys
import nbrun

d, ids = sys.argv[1], sys.argv[2].split(",")
api = nbrun.Api(d)
seen = {rid: 0 for rid in ids}  # rows of each run in the last poll
while True:
    states = []
    for rid in ids:
        try:
            view = api.run(f"conc/{rid}")
        except nbrun.RunNotFoundError:
            states.append("missing")
            continue
        state = view.state  # read first: once finished, the history read next is complete
        steps = view.history()["_step"].tolist()
        if steps != list(range(len(steps))):
            print(f"BAD {rid}: steps are not 0..{len(steps) - 1} once each", flush=True)
            sys.exit(1)
        if len(steps) < seen[rid]:
            print(f"BAD {rid}: {len(steps)} rows after {seen[rid]} in an earlier poll", flush=True)
            sys.exit(1)
        seen[rid] = len(steps)
        states.append(state)
    nbrun.runs("conc", dir=d)
    if all(s == "finished" for s in states):
        break
print("ok", json.dumps(seen), flush=True)
"""


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """This suite runs on SQLite and on PostgreSQL."""
    return str(request.param)


def _run(view_dir: Path, run_id: str) -> nbrun.StoredRun:
    return nbrun.Api(where(view_dir)).run(f"{PROJECT}/{run_id}")


@pytest.mark.slow  # five interpreters and thousands of transactions: 3-8 s
def test_four_writers_a_reader_a_fork_and_a_rewind(run_dir: Path) -> None:
    # a finished run to rewind while the others write
    base = nbrun.init(project=PROJECT, id="base", settings={"flush_interval": 0.05})
    for i in range(300):
        base.log({"loss": float(i), "i": i})
    base.finish()

    ids = [f"w{k}" for k in range(WRITERS)]
    release = run_dir / "release"
    env = python_env()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, where(run_dir), rid, str(ROWS), str(release)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for rid in ids
    ]
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, where(run_dir), ",".join(ids)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    outputs: dict[str, tuple[int, str, str]] = {}
    try:
        # fork w0 (live in another process) once it has rows past the fork step
        def w0_has(n: int) -> bool:
            try:
                return len(_run(run_dir, "w0").history()) >= n
            except nbrun.RunNotFoundError:
                return False

        wait_for(lambda: w0_has(200), timeout=60)
        assert _run(run_dir, "w0").state == "running"  # it logs on until the release file
        fork = nbrun.init(
            project=PROJECT,
            fork_from="w0?_step=150",
            id="fork",
            config={"lr": 2},
            reinit="create_new",
        )
        assert fork.step == 151
        for i in range(151, 201):
            fork.log({"loss": -1.0, "i": i})
        fork.finish()
        # rewind the finished base run while the writers are still going
        rewound = nbrun.init(project=PROJECT, resume_from="base?_step=99", reinit="create_new")
        for i in range(100, 150):
            rewound.log({"loss": -2.0, "i": i})
        rewound.finish()
        assert all(p.poll() is None for p in procs), "a writer ended before the release"
        release.touch()
        for rid, p in zip(ids, procs, strict=True):
            out, err = p.communicate(timeout=120)
            outputs[rid] = (p.returncode, out, err)
        out, err = reader.communicate(timeout=120)
        outputs["reader"] = (reader.returncode, out, err)
    finally:
        for p in [*procs, reader]:
            if p.poll() is None:
                p.kill()
                p.wait()

    for who, (code, out, err) in outputs.items():
        assert code == 0, f"{who} exited {code}: {out}\n{err}"
        assert "locked" not in err.lower() and "busy" not in err.lower(), f"{who}: {err}"
        assert "Traceback" not in err and "warn" not in err.lower(), f"{who}: {err}"
        assert out.startswith("ok"), f"{who}: {out}"
    logged = {rid: int(outputs[rid][1].split()[2]) for rid in ids}  # each writer's final step
    # the reader's last poll (all finished) saw every row each writer logged
    assert json.loads(outputs["reader"][1].split(maxsplit=1)[1]) == logged

    for rid in ids:
        n = logged[rid]
        assert n >= ROWS, rid
        view = _run(run_dir, rid)
        hist = view.history()
        assert hist["_step"].tolist() == list(range(n)), rid
        assert hist["i"].tolist() == list(range(n)), rid
        assert (hist["who"] == rid).all(), rid
        assert view.state == "finished"
        assert view.summary["loss"] == {"min": 1.0 / n, "last": 1.0 / n}
        mark = (n - 1) // 100 * 100
        assert view.summary[f"mark{mark}"] == mark
        assert view.config["writer"] == rid and view.config[f"k{mark}"] == mark

    forked = _run(run_dir, "fork")
    fh = forked.history()
    assert fh["_step"].tolist() == list(range(201))
    assert fh["i"].tolist() == list(range(201))
    assert fh["loss"].tolist()[:151] == [1.0 / (i + 1) for i in range(151)]
    assert (fh["loss"][151:] == -1.0).all()
    assert forked.config["writer"] == "w0" and forked.config["lr"] == 2

    bh = _run(run_dir, "base").history()
    assert bh["_step"].tolist() == list(range(150))
    assert bh["loss"].tolist() == [float(i) for i in range(100)] + [-2.0] * 50
    (archive,) = _run(run_dir, "base").archives()
    assert (archive.from_step, archive.to_step, archive.rows) == (100, 299, 200)
    assert archive.history()["i"].tolist() == list(range(100, 300))

    from nbrun._store import Store

    assert Store.open(where(run_dir)).integrity_check() == "ok"
