"""What a store holds is input (rule 42, issue 21 items 2 and 3).

A real store is built, then edited the way a careless or hostile team member (or a store
received from someone else) would: rows changed with SQL, symlinks placed in run folders.
Every path nbrun builds from stored data is a checked join, so delete, move, copy (API and
CLI), ``files()`` / ``File.download``, ``restore`` and artifact downloads refuse with a typed
error, and nothing outside the store is touched: a victim folder beside it keeps its files,
contents and mtimes, and no new file appears outside.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nbrun
from nbrun import _artifacts, _checkpoints, _history, _paths, _store
from tests.conftest import BACKENDS, python_env, where

FAST = {"flush_interval": 0.05}
PROJECT_FORGERIES = ("p", "..")  # see forged_ids: both reach <run_dir>/victim


# -- a store and its surroundings ------------------------------------------------------------
def store_root(run_dir: Path) -> Path:
    """The folder the store keeps its run files in (SQLite: ``<dir>/nbrun``; PostgreSQL:
    ``NBRUN_FILES``, set by the ``run_dir`` fixture to ``<run_dir>/files``)."""
    return run_dir / ("files" if os.environ.get("NBRUN_STORE") else "nbrun")


def make_victim(run_dir: Path) -> Path:
    """A folder beside the store a forged row points at, with files a run folder has."""
    victim = run_dir / "victim"
    (victim / "files").mkdir(parents=True)
    (victim / "canary.txt").write_text("do not touch")
    (victim / "files" / "notes.txt").write_text("victim's secret notes")
    return victim


def outside(run_dir: Path, *inside: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every path under ``run_dir`` except those under ``inside`` (the stores): kind, mtime
    and content, to show that nothing out there changed."""
    out: dict[str, tuple[str, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(run_dir):
        here = Path(dirpath)
        if any(here == p or p in here.parents for p in inside):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = here / name
            if any(path == p for p in inside):
                continue
            st = path.lstat()
            data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            out[str(path.relative_to(run_dir))] = (kind, st.st_mtime_ns, data)
    return out


def sql(run_dir: Path, statement: str, *params: Any) -> None:
    """Edit the store's rows behind nbrun's back (SQLite file or PostgreSQL database)."""
    url = os.environ.get("NBRUN_STORE")
    if url:
        import psycopg  # only the PostgreSQL variant needs it

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]
    else:
        conn = sqlite3.connect(run_dir / "nbrun" / "nbrun.db")
        with conn:
            conn.execute(statement, params)
        conn.close()


def make_run(run_dir: Path, run_id: str = "r1", project: str = "p") -> None:
    (run_dir / "notes.txt").write_text("my notes")
    run = nbrun.init(project=project, id=run_id, reinit="create_new", settings=FAST)
    for i in range(5):
        run.log({"x": float(i)})
    run.save(str(run_dir / "notes.txt"), base_path=str(run_dir), policy="now")
    run.finish()
    (run_dir / "notes.txt").unlink()


def forge(run_dir: Path, project: str, run_id: str) -> None:
    sql(run_dir, "UPDATE runs SET project = ?, id = ? WHERE id = 'r1'", project, run_id)


def forged_ids(run_dir: Path) -> list[tuple[str, str]]:
    """(project, id) pairs whose folder ``<root>/runs/<project>/<id>`` is the victim."""
    victim = str(run_dir / "victim")
    return [("p", "../../../victim"), ("..", "../victim"), ("p", victim), ("p", "..")]


FORGERIES = ("climbing-id", "climbing-project", "absolute-id", "dotdot-id", "symlinked-folder")


@pytest.fixture
def forged(request: pytest.FixtureRequest, run_dir: Path) -> Iterator[nbrun.StoredRun]:
    """A stored run whose row (or folder) was edited to lead outside the store."""
    make_run(run_dir)
    make_victim(run_dir)
    kind = request.param
    if kind == "symlinked-folder":  # a received store: the run folder is a link outside
        folder = store_root(run_dir) / "runs" / "p" / "r1"
        os.rename(folder, run_dir / "moved-away")
        folder.symlink_to(run_dir / "victim", target_is_directory=True)
        project, run_id = "p", "r1"
    else:
        project, run_id = forged_ids(run_dir)[FORGERIES.index(kind)]
        forge(run_dir, project, run_id)
    [view] = nbrun.Api(where(run_dir)).runs(project)
    assert (view.project, view.id) == (project, run_id)
    yield view


def stores(run_dir: Path, *more: Path) -> tuple[Path, ...]:
    return (store_root(run_dir), run_dir / "moved-away", *more)


# -- rule 42: delete, move, files(), restore ------------------------------------------------
@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("forged", FORGERIES, indirect=True)
def test_rule42_delete_of_a_forged_run_touches_nothing_outside(
    forged: nbrun.StoredRun, run_dir: Path
) -> None:
    before = outside(run_dir, *stores(run_dir))
    with pytest.raises(nbrun.UnsafePathError, match=r"victim|'\.\.'") as info:
        forged.delete()
    assert "rule 42" in str(info.value)
    assert outside(run_dir, *stores(run_dir)) == before
    # the refused delete changed nothing: the run is still there
    assert [r.id for r in nbrun.Api(where(run_dir)).runs(forged.project)] == [forged.id]


@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("forged", FORGERIES, indirect=True)
def test_rule42_move_of_a_forged_run_touches_nothing_outside(
    forged: nbrun.StoredRun, run_dir: Path
) -> None:
    before = outside(run_dir, *stores(run_dir))
    with pytest.raises(nbrun.UnsafePathError):
        forged.move("q")
    assert outside(run_dir, *stores(run_dir)) == before
    assert nbrun.Api(where(run_dir)).runs("q") == []


@pytest.mark.parametrize("forged", FORGERIES, indirect=True)
def test_rule42_files_of_a_forged_run_are_not_read(forged: nbrun.StoredRun, run_dir: Path) -> None:
    before = outside(run_dir, *stores(run_dir))
    with pytest.raises(nbrun.UnsafePathError):
        forged.files()
    assert outside(run_dir, *stores(run_dir)) == before


@pytest.mark.parametrize("forged", ["dotdot-id", "symlinked-folder"], indirect=True)
def test_rule42_restore_from_a_forged_run_is_refused(
    forged: nbrun.StoredRun, run_dir: Path
) -> None:
    dest = run_dir / "restored"
    before = outside(run_dir, *stores(run_dir))
    with pytest.raises(nbrun.UnsafePathError):
        nbrun.restore("files/notes.txt", run_path=f"p/{forged.id}", root=dest)
    with pytest.raises(nbrun.UnsafePathError):
        nbrun.restore("notes.txt", run_path=f"p/{forged.id}", root=dest)
    assert outside(run_dir, *stores(run_dir)) == before
    assert not dest.exists()


# -- rule 42: copy, API and command line -----------------------------------------------------
@pytest.mark.parametrize("forged", FORGERIES, indirect=True)
def test_rule42_copy_of_a_forged_store_touches_nothing(
    forged: nbrun.StoredRun, run_dir: Path
) -> None:
    dst = run_dir / "out" / "dst"
    before = outside(run_dir, *stores(run_dir))
    with pytest.raises(nbrun.UnsafePathError):
        nbrun.copy(run_dir, dst)
    assert outside(run_dir, *stores(run_dir)) == before  # not even the destination was made


@pytest.mark.parametrize("forged", ["climbing-id", "absolute-id"], indirect=True)
def test_rule42_copy_cli_of_a_forged_store_touches_nothing(
    forged: nbrun.StoredRun, run_dir: Path
) -> None:
    dst = run_dir / "out" / "dst"
    before = outside(run_dir, *stores(run_dir))
    proc = subprocess.run(
        [sys.executable, "-m", "nbrun", "copy", str(run_dir), str(dst)],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "victim" in proc.stderr and "rule 42" in proc.stderr
    assert outside(run_dir, *stores(run_dir)) == before


def test_rule42_copy_refuses_a_forged_blob_digest(run_dir: Path) -> None:
    make_victim(run_dir)
    run = nbrun.init(project="p", id="r1", settings=FAST)
    art = nbrun.Artifact("data", "dataset")
    with art.new_file("a.txt") as f:
        f.write("a")
    run.log_artifact(art)
    run.finish()
    forged = {"a.txt": {"digest": "../../../../victim/canary.txt", "size": 12}}
    sql(run_dir, "UPDATE artifacts SET manifest = ?", json.dumps(forged))
    dst = run_dir / "out" / "dst"
    before = outside(run_dir, *stores(run_dir))
    with pytest.raises(nbrun.UnsafePathError, match="canary"):
        nbrun.copy(run_dir, dst)
    assert outside(run_dir, *stores(run_dir)) == before
    # and a download of that version refuses the digest too
    with pytest.raises(nbrun.UnsafePathError):
        nbrun.Api(str(run_dir)).artifact("p/data:v0").download(run_dir / "dl")
    assert not (run_dir / "dl" / "a.txt").exists()


def test_rule42_artifact_default_download_root_checks_a_forged_name(
    run_dir: Path,
) -> None:
    make_victim(run_dir)
    run = nbrun.init(project="p", id="r1", settings=FAST)
    art = nbrun.Artifact("data", "dataset")
    with art.new_file("canary.txt") as f:
        f.write("overwritten")
    run.log_artifact(art)
    run.finish()
    sql(run_dir, "UPDATE artifacts SET name = '../victim'")  # its folder: artifacts/../victim
    [view] = nbrun.Api(str(run_dir)).run("p/r1").logged_artifacts()
    before = outside(run_dir, *stores(run_dir))
    with pytest.raises(nbrun.UnsafePathError, match="victim"):
        view.download()
    assert outside(run_dir, *stores(run_dir)) == before


# -- rule 42: media paths read back from history ---------------------------------------------
def test_rule42_detach_refuses_a_forged_media_path(run_dir: Path) -> None:
    make_victim(run_dir)
    par = nbrun.init(project="p", id="par", settings=FAST)
    par.log({"img": nbrun.Image(np.zeros((4, 4, 3), dtype=np.uint8))}, step=0)
    par.log({"x": 1.0}, step=1)
    par.finish()
    child = nbrun.init(project="p", fork_from="par?_step=1", reinit="create_new", settings=FAST)
    child.log({"x": 2.0})
    child.finish()
    store = nbrun.Api(str(run_dir)).run("p/par")._store
    rec = store.get_run("p", "par")
    [(seg, first, _last, _n, data, state)] = list(store.run_chunks(rec.key))
    cols, _nested, _media = _history.decode_chunk(data)
    cols["img"][0]["path"] = "../../../../victim/canary.txt"
    _f, _l, _k, forged_bytes, _s = _history.encode_columns(cols, state)
    # a forger can also write the chunk's checksum (rule 44: it detects damage, not forgery),
    # so the path check must hold on its own
    sql(
        run_dir,
        "UPDATE history SET data = ?, crc = ? WHERE run_key = ? AND seg = ? AND first_step = ?",
        forged_bytes,
        _store.chunk_crc(forged_bytes, state),
        rec.key,
        seg,
        first,
    )
    before = outside(run_dir, *stores(run_dir))
    with pytest.raises(nbrun.UnsafePathError, match="canary"):
        nbrun.Api(str(run_dir)).run("p/par").delete(detach_forks=True)
    assert outside(run_dir, *stores(run_dir)) == before
    assert nbrun.Api(str(run_dir)).run("p/par").id == "par"  # not deleted


# -- rule 42: symlinks in a received store are never followed ------------------------------
def _link_notes(run_dir: Path) -> Path:
    secret = run_dir / "victim" / "canary.txt"
    files = store_root(run_dir) / "runs" / "p" / "r1" / "files"
    (files / "notes.txt").unlink()
    (files / "notes.txt").symlink_to(secret)
    (files / "linked").symlink_to(run_dir / "victim", target_is_directory=True)
    return secret


def test_rule42_copy_skips_symlinks_in_run_folders(run_dir: Path) -> None:
    make_run(run_dir)
    make_victim(run_dir)
    _link_notes(run_dir)
    dst = run_dir / "out" / "dst"
    with pytest.warns(UserWarning, match="symlink.*rule 42"):
        assert nbrun.copy(run_dir, dst) == ["p/r1"]
    files = dst / "nbrun" / "runs" / "p" / "r1" / "files"
    assert files.is_dir()
    assert not (files / "notes.txt").exists() and not (files / "notes.txt").is_symlink()
    assert not (files / "linked").exists() and not (files / "linked").is_symlink()
    assert not list(files.rglob("*canary*"))


def test_rule42_files_skip_symlinks_with_a_warning(run_dir: Path) -> None:
    make_run(run_dir)
    make_victim(run_dir)
    _link_notes(run_dir)
    view = nbrun.Api(str(run_dir)).run("p/r1")
    with pytest.warns(UserWarning, match="symlink.*rule 42"):
        found = view.files()
    assert [f.name for f in found] == []
    with pytest.warns(UserWarning, match="symlink"):
        assert nbrun.restore("notes.txt", run_path="p/r1", root=run_dir / "dl") is None
    assert not (run_dir / "dl").exists()


def test_rule42_checkpoint_symlinks_are_not_checkpoints(run_dir: Path) -> None:
    make_run(run_dir)
    make_victim(run_dir)
    folder = store_root(run_dir) / "runs" / "p" / "r1"
    _checkpoints.save(folder, "r1", 2, {"w": 1})
    (folder / "checkpoints" / "step-0000000004.pkl").symlink_to(run_dir / "victim" / "canary.txt")
    assert [c.step for c in _checkpoints.listing(folder, "r1")] == [2]


# -- rule 42: the checked join itself --------------------------------------------------------
@pytest.mark.parametrize(
    "rel", ["../x", "a/../../x", "/etc/passwd", "a\\..\\x", "", "a//b", "./a", "a/\x00", 3]
)
def test_rule42_join_refuses_names_that_are_not_plain(tmp_path: Path, rel: object) -> None:
    with pytest.raises(nbrun.UnsafePathError, match="rule 42") as info:
        _paths.join(tmp_path, rel)
    assert repr(rel) in str(info.value) and str(tmp_path.resolve()) in str(info.value)


@pytest.mark.parametrize("digest", ["../" * 3 + "a" * 55, "A" * 64, "a" * 63, None, "g" * 64])
def test_rule42_blob_digests_are_hex(tmp_path: Path, digest: object) -> None:
    with pytest.raises(nbrun.UnsafePathError, match="64 lowercase hex"):
        _paths.blob(tmp_path, _artifacts.BLOBS, digest)


# -- rule 42 / item 3: symlinked folders under a download root -------------------------------
@pytest.fixture
def linked_root(run_dir: Path) -> tuple[Path, Path]:
    """A download root whose ``sub`` folder is a symlink to a folder outside it, and a run
    with a saved ``sub/notes.txt``."""
    (run_dir / "sub").mkdir()
    (run_dir / "sub" / "notes.txt").write_text("my notes")
    run = nbrun.init(project="p", id="r1", settings=FAST)
    run.save("sub/notes.txt", policy="now")
    run.finish()
    root, elsewhere = run_dir / "dl", run_dir / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / "sub").symlink_to(elsewhere, target_is_directory=True)
    return root, elsewhere


def test_rule42_file_download_refuses_a_symlinked_subfolder(
    run_dir: Path, linked_root: tuple[Path, Path]
) -> None:
    root, elsewhere = linked_root
    [f] = nbrun.Api(str(run_dir)).run("p/r1").files()
    assert f.name == "sub/notes.txt"
    with pytest.raises(nbrun.UnsafePathError, match="symlink"):
        f.download(root=root)
    assert list(elsewhere.iterdir()) == []


def test_rule42_restore_refuses_a_symlinked_subfolder(
    run_dir: Path, linked_root: tuple[Path, Path]
) -> None:
    root, elsewhere = linked_root
    with pytest.raises(nbrun.UnsafePathError, match="symlink"):
        nbrun.restore("sub/notes.txt", run_path="p/r1", root=root)
    assert list(elsewhere.iterdir()) == []
    # a plain folder there is fine
    (root / "sub").unlink()
    with nbrun.restore("sub/notes.txt", run_path="p/r1", root=root) as f:  # type: ignore[union-attr]
        assert f.read() == "my notes"


def test_rule42_download_errors_are_one_family() -> None:
    assert issubclass(nbrun.UnsafeEntryError, nbrun.UnsafePathError)
    assert issubclass(nbrun.UnsafePathError, nbrun.Error)
    assert issubclass(nbrun.UnsafePathError, ValueError)


def test_rule42_media_behind_a_symlinked_run_folder_is_not_read(run_dir: Path) -> None:
    run = nbrun.init(project="p", id="r1", settings=FAST)
    run.log({"img": nbrun.Image(np.full((4, 4, 3), 7, dtype=np.uint8))})
    run.finish()
    folder = store_root(run_dir) / "runs" / "p" / "r1"
    os.rename(folder, run_dir / "victim")  # the media files now lie outside the store
    folder.symlink_to(run_dir / "victim", target_is_directory=True)
    img = nbrun.Api(str(run_dir)).run("p/r1").history(["img"])["img"].iloc[0]
    assert not isinstance(img, nbrun.Image)
    assert "not inside a run folder" in repr(img)


def test_rule42_dropping_unused_blobs_never_deletes_through_a_symlink(run_dir: Path) -> None:
    victim = make_victim(run_dir)
    run = nbrun.init(project="p", id="r1", settings=FAST)
    art = nbrun.Artifact("data", "dataset")
    with art.new_file("a.txt") as f:
        f.write("a")
    run.log_artifact(art)
    run.finish()
    blobs = store_root(run_dir) / "artifacts" / "blobs"
    (blobs / "zz").symlink_to(victim, target_is_directory=True)  # a received store's link
    before = outside(run_dir, *stores(run_dir))
    nbrun.Api(str(run_dir)).run("p/r1").delete(delete_artifacts=True)
    assert outside(run_dir, *stores(run_dir)) == before
    assert (victim / "canary.txt").read_text() == "do not touch"
    assert not [p for p in blobs.glob("*/*") if p.parent.name != "zz"]  # its own blob went
