"""Artifact safety (issue 12, rule 37): kill -9 while logging leaves no half version and no
blob a later version would reuse wrongly; crafted manifests cannot write outside the download
root; a full disk is a clear error that keeps what was stored.

The kill tests stop a real child process with SIGKILL at chosen points of ``log_artifact``:
the child replaces one function with one that kills the process, so the kill lands exactly
there (during a blob's write, after the blobs before registering, inside the transaction).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import nbrun
from nbrun._store import DB_NAME, Store
from tests.conftest import python_env

P = "safe"

_KILL_CHILD = """
import os, sys
import nbrun
from nbrun import _artifacts, _store

def die(*args, **kwargs):
    os.kill(os.getpid(), 9)

point = sys.argv[2]
if point == "blob-write":  # a blob's bytes are in its temp file, not yet fsynced or renamed
    _artifacts.os.fsync = die
elif point == "before-register":  # every blob is stored, the version is not registered
    _store.Store.commit_artifact = die
elif point == "in-transaction":  # inside the transaction that registers the version
    _store.Store._set_aliases = staticmethod(die)
run = nbrun.init(project="safe", dir=sys.argv[1], id="victim")
run.log({"x": 1})
art = nbrun.Artifact("ckpt", "model")
art.add_file(sys.argv[3])
art.add_file(sys.argv[4])
run.log_artifact(art, aliases=["best"])
print("not killed")
"""


def _blob_files(run_dir: Path) -> list[Path]:
    return [p for p in (run_dir / "nbrun/artifacts/blobs").rglob("*") if p.is_file()]


def _forget(run_dir: Path) -> None:
    store = Store._instances.pop((run_dir / "nbrun").resolve(), None)
    if store is not None:
        store.close_thread_connection()


@pytest.mark.parametrize("point", ["blob-write", "before-register", "in-transaction"])
def test_rule37_kill9_during_log_artifact_leaves_no_half_version(
    run_dir: Path, tmp_path: Path, point: str
) -> None:
    a = tmp_path / "a.bin"
    b = tmp_path / "b.bin"
    a.write_bytes(os.urandom(300_000))
    b.write_bytes(os.urandom(200_000))
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_CHILD, str(run_dir), point, str(a), str(b)],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert "not killed" not in proc.stdout
    api = nbrun.Api(run_dir)
    assert not api.artifact_exists(f"{P}/ckpt")  # no version, no alias, no half record
    db = sqlite3.connect(run_dir / "nbrun" / DB_NAME)
    try:
        assert db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM artifact_aliases").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM artifact_usage").fetchone()[0] == 0
    finally:
        db.close()
    # every file under a blob's name is complete: its bytes hash to the name
    for blob in _blob_files(run_dir):
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    # a later version of the same files is whole and correct
    run = nbrun.init(project=P, id="victim", resume="allow")
    art = nbrun.Artifact("ckpt", "model")
    art.add_file(a)
    art.add_file(b)
    stored = run.log_artifact(art)
    assert stored.version == "v0"
    out = Path(stored.download(tmp_path / "out"))
    assert (out / "a.bin").read_bytes() == a.read_bytes()
    assert (out / "b.bin").read_bytes() == b.read_bytes()
    assert Store.open(run_dir).integrity_check() == "ok"


def test_rule37_a_damaged_blob_is_never_reused(run_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "w.bin"
    src.write_bytes(b"good weights" * 1000)
    run = nbrun.init(project=P)
    first = run.log_artifact(src, name="first", type="model")
    (blob,) = _blob_files(run_dir)
    blob.write_bytes(b"good weights" * 500)  # torn: half the bytes under the full name
    with pytest.raises(nbrun.StoreError, match="do not match"):
        first.download(tmp_path / "bad")
    assert not (tmp_path / "bad/w.bin").exists()
    # logging the same bytes again notices the damage and stores them whole
    second = run.log_artifact(src, name="second", type="model")
    assert blob.read_bytes() == src.read_bytes()
    assert Path(second.file(tmp_path / "ok")).read_bytes() == src.read_bytes()
    assert Path(first.file(tmp_path / "ok1")).read_bytes() == src.read_bytes()


def _craft(run_dir: Path, key: str, manifest: dict[str, dict[str, object]]) -> None:
    db = sqlite3.connect(run_dir / "nbrun" / DB_NAME)
    try:
        db.execute("UPDATE artifacts SET manifest = ? WHERE key = ?", (json.dumps(manifest), key))
        db.commit()
    finally:
        db.close()


@pytest.mark.parametrize(
    "bad", ["../escape.txt", "a/../../escape.txt", "/tmp/nbrun-escape.txt", "a//b.txt"]
)
def test_rule37_a_crafted_manifest_cannot_escape_the_root(
    run_dir: Path, tmp_path: Path, bad: str
) -> None:
    run = nbrun.init(project=P)
    (tmp_path / "ok.txt").write_text("ok")
    art = run.log_artifact(tmp_path / "ok.txt", name="evil", type="dataset")
    entry = art.get_entry("ok.txt")
    good = {"digest": entry.digest, "size": entry.size, "ref": None}
    assert art.id is not None
    _craft(run_dir, art.id, {"ok.txt": good, bad: good})
    root = tmp_path / "dl" / "root"
    crafted = nbrun.Api(run_dir).artifact(f"{P}/evil:v0")
    with pytest.raises(nbrun.UnsafeEntryError) as caught:
        crafted.download(root)
    assert repr(bad) in str(caught.value)
    assert not (tmp_path / "dl/escape.txt").exists()
    assert not Path("/tmp/nbrun-escape.txt").exists()
    assert not root.exists()  # names are checked before anything is written
    with pytest.raises(nbrun.UnsafeEntryError):
        crafted.get_entry(bad).download(root)


def test_rule37_symlinks_in_the_download_root_are_not_followed(
    run_dir: Path, tmp_path: Path
) -> None:
    run = nbrun.init(project=P)
    art = nbrun.Artifact("linky", "dataset")
    with art.new_file("sub/x.txt") as f:
        f.write("payload")
    with art.new_file("top.txt") as f:
        f.write("top")
    stored = run.log_artifact(art)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "top.txt").write_text("precious")
    root = tmp_path / "root"
    root.mkdir()
    (root / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(nbrun.UnsafeEntryError, match=r"'sub/x\.txt'.*symlink"):
        stored.download(root)
    assert not (outside / "x.txt").exists()
    # a symlink where a file goes is replaced by the file, never written through
    (root / "sub").unlink()
    (root / "top.txt").symlink_to(outside / "top.txt")
    stored.download(root)
    assert (outside / "top.txt").read_text() == "precious"
    assert not (root / "top.txt").is_symlink() and (root / "top.txt").read_text() == "top"
    assert (root / "sub/x.txt").read_text() == "payload"


_FULL_CHILD = """
import resource, signal, sys
import nbrun
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
run = nbrun.init(project="safe", dir=sys.argv[1], id="full")
small = nbrun.Artifact("m", "model")
with small.new_file("a.txt") as f:
    f.write("small")
print(run.log_artifact(small).version)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
big = nbrun.Artifact("m", "model")
big.add_file(sys.argv[2])
try:
    run.log_artifact(big)
    print("no error")
except nbrun.StoreError as exc:
    print("StoreError", exc)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
print(run.log_artifact(big).version)
run.finish()
"""


def test_rule37_a_full_disk_is_a_clear_error_and_keeps_what_was_stored(
    run_dir: Path, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_CHILD, str(run_dir), str(big)],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    first, error, last = proc.stdout.strip().splitlines()
    assert first == "v0" and last == "v1"
    assert error.startswith("StoreError") and "disk is full" in error
    assert str(run_dir / "nbrun" / "artifacts") in error and "big.bin" in error
    assert "versions stored before are intact" in error
    _forget(run_dir)
    api = nbrun.Api(run_dir)
    assert [a.version for a in api.artifact_versions("model", f"{P}/m")] == ["v0", "v1"]
    assert Path(api.artifact(f"{P}/m:v0").file(tmp_path / "v0")).read_text() == "small"
    assert Path(api.artifact(f"{P}/m:v1").file(tmp_path / "v1")).read_bytes() == big.read_bytes()
    assert list((run_dir / "nbrun/artifacts/tmp").iterdir()) == []  # no temp left behind


def test_rule37_temp_files_a_killed_process_left_are_swept(run_dir: Path) -> None:
    tmp = run_dir / "nbrun/artifacts/tmp"
    tmp.mkdir(parents=True)
    old, fresh = tmp / "old.part", tmp / "fresh.part"
    old.write_bytes(b"half")
    fresh.write_bytes(b"another process is writing this one")
    os.utime(old, (1, 1))
    run = nbrun.init(project=P)
    (run_dir / "f.txt").write_text("f")
    run.log_artifact(run_dir / "f.txt", name="f")
    assert not old.exists() and fresh.exists()
