"""Disks that refuse writes (issue 7): read-only run directories and writes failing part-way.

How each case is made, so that the real code path (sqlite3 and the OS) is exercised:

- read-only: a path whose parent is a regular file (always; mkdir fails with ENOTDIR), a
  ``chmod 0555`` folder (only when not root: root ignores permissions), and a tmpfs mounted
  read-only (only where this process may mount, e.g. root in a container with CAP_SYS_ADMIN).
- writes failing part-way: ``RLIMIT_FSIZE`` in a subprocess that ignores SIGXFSZ (always:
  SQLite's writes past the limit fail with EFBIG, then the limit is lifted), and a real
  ENOSPC on a 256 KiB tmpfs that is then remounted larger (where mounting is allowed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import nbrun
from nbrun._store import DB_NAME, Store
from tests.conftest import python_env, wait_for

P = "disk"


@cache
def can_mount() -> bool:
    """Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN)."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    import tempfile

    probe = tempfile.mkdtemp(prefix="nbrun-mount-probe-")
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]).returncode == 0
    if ok:
        subprocess.run(["umount", probe], check=True)
    os.rmdir(probe)
    return ok


needs_mount = pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs is not allowed here")


@contextlib.contextmanager
def tmpfs(path: Path, size: str, readonly: bool = False) -> Iterator[Path]:
    """A tmpfs mounted at ``path`` for the duration of the block."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        Store._instances.pop((path / "nbrun").resolve(), None)
        subprocess.run(["umount", "-l", str(path)], check=True)


def remount(path: Path, opts: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{opts}", str(path)], check=True)


def _forget_store(base: Path) -> None:
    """Drop this process's cached Store so the next open sees the directory as it is now."""
    store = Store._instances.pop((base / "nbrun").resolve(), None)
    if store is not None:
        store.close_thread_connection()


# -- read-only directories --------------------------------------------------------------------
@pytest.mark.parametrize("how", ["parent-is-a-file", "chmod", "ro-tmpfs"])
def test_new_run_in_read_only_place_is_a_clear_store_error(run_dir: Path, how: str) -> None:
    if how == "parent-is-a-file":
        target = run_dir / "results.txt"
        target.write_text("not a folder")
        ctx: contextlib.AbstractContextManager[Path] = contextlib.nullcontext(target)
    elif how == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root ignores permission bits")
        target = run_dir / "locked"
        target.mkdir(mode=0o555)
        ctx = contextlib.nullcontext(target)
    else:
        if not can_mount():
            pytest.skip("mounting a tmpfs is not allowed here")
        ctx = tmpfs(run_dir / "ro", "64k", readonly=True)
    with ctx as target:
        with pytest.raises(nbrun.StoreError) as info:
            nbrun.init(project=P, dir=target)
        assert str(target / "nbrun") in str(info.value)
        assert nbrun.Api(target).runs() == []  # readers see no runs, no error
        if how == "parent-is-a-file":
            assert target.read_text() == "not a folder"
        else:
            assert list(target.iterdir()) == []


@needs_mount
def test_existing_runs_on_a_read_only_filesystem_are_readable(run_dir: Path) -> None:
    with tmpfs(run_dir / "media", "1m") as media:
        run = nbrun.init(project=P, dir=media, config={"lr": 0.1})
        for i in range(50):
            run.log({"loss": 1.0 / (i + 1)})
        run.finish()
        _forget_store(media)
        remount(media, "ro")
        db = media / "nbrun" / DB_NAME
        before = db.read_bytes()
        view = nbrun.Api(media).run(f"{P}/{run.id}")
        assert view.state == "finished" and view.config["lr"] == 0.1
        assert view.history()["loss"].tolist() == [1.0 / (i + 1) for i in range(50)]
        assert nbrun.runs(P, dir=media)["id"].tolist() == [run.id]
        with pytest.raises(nbrun.StoreError) as info:
            nbrun.init(project=P, dir=media, reinit="create_new")
        assert str(db) in str(info.value) and "readonly" in str(info.value)
        assert db.read_bytes() == before


# -- writes failing part-way -----------------------------------------------------------------
FSIZE_CHILD = r"""
import json, os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
import nbrun

d = sys.argv[1]
run = nbrun.init(project="disk", dir=d, id="r", settings={"flush_interval": 0.05})
for i in range(100):
    run.log({"i": i, "s": "x" * 100})
assert run.flush(10)
db = os.path.join(d, "nbrun", "nbrun.db")
# the WAL emptied into the file first: a limit a few pages above the file's size then fills
# for good (a WAL with room left from earlier writes would be reused and let writes through)
import sqlite3
with sqlite3.connect(db) as side:
    assert side.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
sizes = [os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p)]
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (max(sizes) + 8192, hard))
i = 100
while run._writer.error is None and i < 100000:  # log until a flush fails
    run.log({"i": i, "s": "x" * 100})
    i += 1
    if i % 200 == 0:
        run.flush(5)
failed_at = i
error = str(run._writer.error)
assert not run.flush(1)  # still failing, rows kept in memory
for _ in range(500):  # training goes on: log does not raise
    run.log({"i": i, "s": "x" * 100})
    i += 1
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space returns
ok = run.flush(30)
healthy = run._writer.error is None and run._writer.alive
run.finish()
print(json.dumps({"failed_at": failed_at, "logged": i, "error": error, "ok": ok,
                  "healthy": healthy}))
"""


def test_file_size_limit_mid_run_keeps_training_and_writes_later(run_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", FSIZE_CHILD, str(run_dir)],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout.strip().splitlines()[-1])
    db = str(run_dir / "nbrun" / DB_NAME)
    assert out["failed_at"] < 100000, "the size limit never made a write fail"
    assert db in out["error"]
    assert out["ok"] and out["healthy"], out
    # one clear warning naming the database file (logged and warned once), then "works again"
    warned = [ln for ln in proc.stderr.splitlines() if "could not write to" in ln]
    assert len(warned) == 2, proc.stderr  # the logging record and the RuntimeWarning
    assert all(db in ln for ln in warned)
    assert "works again" in proc.stderr
    view = nbrun.Api(run_dir).run(f"{P}/r")
    hist = view.history()
    assert hist["_step"].tolist() == list(range(out["logged"]))
    assert hist["i"].tolist() == list(range(out["logged"]))
    assert view.state == "finished"
    assert Store.open(run_dir).integrity_check() == "ok"


MEDIA_FSIZE_CHILD = r"""
import json, os, resource, signal, sys
import numpy as np
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
import nbrun

d = sys.argv[1]
run = nbrun.init(project="disk", dir=d, id="r", settings={"flush_interval": 0.05})
run.log({"i": 0})
assert run.flush(10)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))  # the database fits, images do not
rng = np.random.default_rng(0)
for i in range(1, 4):  # each image's PNG is about 3 MB: writing it fails
    run.log({"i": i, "img": nbrun.Image(rng.integers(0, 255, (1000, 1000, 3), dtype=np.uint8))})
assert not run.flush(10)
error = str(run._writer.error)
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space returns
ok = run.flush(60)
run.finish()
print(json.dumps({"error": error, "ok": ok}))
"""


def test_rule43_rows_whose_media_cannot_be_written_are_kept_not_dropped(run_dir: Path) -> None:
    """Rule 43 drops a row that fails on its own; a row whose media file cannot be written
    (here: past the file size limit) fails because of the disk, so it is kept and written
    when space returns, as every row is (rule 29)."""
    proc = subprocess.run(
        [sys.executable, "-c", MEDIA_FSIZE_CHILD, str(run_dir)],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"], out
    assert "File too large" in out["error"] or "EFBIG" in out["error"], out
    assert "cannot be stored" not in proc.stderr
    view = nbrun.Api(run_dir).run(f"{P}/r")
    hist = view.history()
    assert hist["i"].tolist() == [0, 1, 2, 3]
    assert [img.image.size for img in hist["img"].tolist()[1:]] == [(1000, 1000)] * 3
    assert view.state == "finished"


def test_rule44_a_store_made_on_a_disk_too_small_is_refused_not_left_damaged(
    run_dir: Path,
) -> None:
    """A new store is made whole or not at all: where the disk fills while its tables are
    written (the checkpoint of its WAL into the file), ``init`` says the disk is full and leaves
    no database behind; it once linked the half-written file, which every later open called
    malformed. With room, the same folder makes a store."""
    with tmpfs(run_dir / "tiny", "200k") as tiny:
        with pytest.raises(nbrun.StoreError, match="disk is full"):
            nbrun.init(project=P, dir=tiny)
        assert not (tiny / "nbrun" / DB_NAME).exists()
        assert [p.name for p in (tiny / "nbrun").iterdir()] == []  # no temporary file either
        remount(tiny, "size=20m")
        _forget_store(tiny)
        with nbrun.init(project=P, dir=tiny) as run:
            run.log({"x": 1.0})
        assert nbrun.Api(tiny).run(f"{P}/{run.id}").history()["x"].tolist() == [1.0]


@needs_mount
def test_disk_full_mid_run_then_space_returns(
    run_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with tmpfs(run_dir / "small", "512k") as small:
        run = nbrun.init(project=P, dir=small, settings={"flush_interval": 0.05})
        for i in range(100):
            run.log({"i": i, "s": "early"})
        assert run.flush(10)
        db = str(small / "nbrun" / DB_NAME)
        caplog.set_level(logging.WARNING, logger="nbrun")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            i = 100
            while run._writer.error is None:
                assert i < 200_000, "the tmpfs never filled up"
                run.log({"i": i, "s": "y" * 200})  # never raises
                i += 1
                if i % 500 == 0:
                    run.flush(5)
            for _ in range(1000):
                run.log({"i": i, "s": "late"})
                i += 1
            assert not run.flush(1)
        assert run._writer.alive
        full = [w for w in caught if "could not write" in str(w.message)]
        assert len(full) == 1 and db in str(full[0].message)
        assert "disk is full" in str(full[0].message)
        records = [r for r in caplog.records if "could not write" in r.getMessage()]
        assert len(records) == 1
        # earlier data intact and readable while the disk is full
        early = nbrun.Api(small).run(f"{P}/{run.id}").history()
        assert early["i"].tolist()[:100] == list(range(100))
        assert early["_step"].is_unique
        remount(small, "size=20m")  # space returns
        wait_for(lambda: run.flush(1), timeout=30)
        assert run._writer.error is None
        assert any("works again" in r.getMessage() for r in caplog.records)
        run.finish()
        view = nbrun.Api(small).run(f"{P}/{run.id}")
        hist = view.history()
        assert hist["_step"].tolist() == list(range(i))
        assert hist["i"].tolist() == list(range(i))
        assert view.state == "finished"
        assert Store.open(small).integrity_check() == "ok"
