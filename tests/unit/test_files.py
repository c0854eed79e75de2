"""Run files (issue 12, rule 34): ``run.save`` places files as W&B's worked examples say,
policies ``live`` / ``now`` / ``end``, ``view.files()`` and ``nbrun.restore``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import nbrun
from tests.conftest import wait_for

P = "files"


def _write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _names(run: nbrun.RunView) -> list[str]:
    return [f.name for f in run.files()]


# -- rule 34: W&B's worked examples, one by one -------------------------------------------------
def test_rule34_relative_glob_keeps_its_folders(run_dir: Path) -> None:
    _write(run_dir / "these/are/myfiles/a.txt", "A")
    _write(run_dir / "these/are/myfiles/b.txt", "B")
    run = nbrun.init(project=P)
    out = run.save("these/are/myfiles/*")
    assert _names(run) == ["these/are/myfiles/a.txt", "these/are/myfiles/b.txt"]
    assert [Path(p).read_text() for p in out] == ["A", "B"]


def test_rule34_base_path_strips_a_prefix(run_dir: Path) -> None:
    _write(run_dir / "these/are/myfiles/a.txt")
    run = nbrun.init(project=P)
    run.save("these/are/myfiles/*", base_path="these")
    assert _names(run) == ["are/myfiles/a.txt"]


def test_rule34_absolute_glob_keeps_one_folder_level(run_dir: Path, tmp_path: Path) -> None:
    docs = tmp_path / "User/username/Documents"
    _write(docs / "run123/x.txt")
    _write(docs / "run123/y.txt")
    _write(docs / "run123/skip.log")
    run = nbrun.init(project=P)
    run.save(str(docs / "run123/*.txt"))
    assert _names(run) == ["run123/x.txt", "run123/y.txt"]


def test_rule34_absolute_glob_with_base_path(run_dir: Path, tmp_path: Path) -> None:
    _write(tmp_path / "User/username/Documents/run123/x.txt")
    run = nbrun.init(project=P)
    run.save(str(tmp_path / "User/username/Documents/run123/*.txt"), base_path=tmp_path / "User")
    assert _names(run) == ["username/Documents/run123/x.txt"]


def test_rule34_wildcard_folders_keep_their_subdirectories(run_dir: Path) -> None:
    _write(run_dir / "files/a/saveme.txt")
    _write(run_dir / "files/b/saveme.txt")
    _write(run_dir / "files/b/other.txt")
    run = nbrun.init(project=P)
    run.save("files/*/saveme.txt")
    assert _names(run) == ["files/a/saveme.txt", "files/b/saveme.txt"]


def test_rule34_guide_examples(run_dir: Path) -> None:
    """The save-restore guide: a single file, a glob climbing out of the working directory,
    and ``./results/eval/*`` with ``base_path="./results"`` stored under ``eval/``."""
    work = run_dir / "work"
    _write(work / "model.h5", "weights")
    _write(run_dir / "logs/a-ckpt-1", "c")
    _write(work / "results/eval/r.json", "{}")
    os.chdir(work)
    run = nbrun.init(project=P, dir=run_dir)
    run.save("model.h5")
    run.save("../logs/*ckpt*")
    run.save("./results/eval/*", base_path="./results", policy="now")
    assert _names(run) == ["eval/r.json", "logs/a-ckpt-1", "model.h5"]


def test_rule34_bad_arguments_are_typed_errors_and_save_nothing(run_dir: Path) -> None:
    _write(run_dir / "a.txt")
    run = nbrun.init(project=P)
    with pytest.raises(ValueError, match="'sometimes'"):
        run.save("a.txt", policy="sometimes")
    with pytest.raises(ValueError, match="not a prefix"):
        run.save("a.txt", base_path="elsewhere")
    with pytest.raises(ValueError, match="glob_str"):
        run.save("")
    assert run.files() == []
    with pytest.warns(UserWarning, match="matches no file"):
        assert run.save("nothing-*.bin") == []
    run.finish()
    with pytest.raises(nbrun.UsageError, match="finished"):
        run.save("a.txt")


# -- policies ------------------------------------------------------------------------------------
def test_rule34_live_recopies_a_changed_file_by_the_end(run_dir: Path) -> None:
    src = _write(run_dir / "progress.txt", "1")
    run = nbrun.init(project=P, settings={"flush_interval": 0.05})
    run.save("progress.txt")
    stored = run.files()[0]
    assert Path(stored.path).read_text() == "1"
    src.write_text("22")
    # the writer thread notices the change while the run is still going
    wait_for(lambda: Path(stored.path).read_text() == "22")
    src.write_text("333")
    os.utime(src, ns=(1, 1))  # an mtime that never occurred before still counts as a change
    run.finish()
    assert Path(stored.path).read_text() == "333"


def test_rule34_now_copies_once_and_end_copies_at_finish(run_dir: Path) -> None:
    now = _write(run_dir / "now.txt", "first")
    end = _write(run_dir / "end.txt", "early")
    run = nbrun.init(project=P)
    run.save("now.txt", policy="now")
    run.save("end.txt", policy="end")
    assert _names(run) == ["now.txt"]
    now.write_text("second")
    end.write_text("final")
    run.finish()
    view = nbrun.Api(run_dir).run(f"{P}/{run.id}")
    assert {f.name: Path(f.path).read_text() for f in view.files()} == {
        "end.txt": "final",
        "now.txt": "first",
    }
    assert {f.name: f.size for f in view.files()} == {"end.txt": 5, "now.txt": 5}


# -- files() and restore -------------------------------------------------------------------------
def test_rule34_files_download_and_restore(run_dir: Path, tmp_path: Path) -> None:
    _write(run_dir / "cfg/params.yaml", "lr: 0.1\n")
    run = nbrun.init(project=P)
    run.save("cfg/params.yaml", policy="now")
    run.finish()
    view = nbrun.Api(run_dir).run(f"{P}/{run.id}")
    (f,) = view.files()
    out = tmp_path / "dl"
    with f.download(root=out) as fh:
        assert fh.read() == "lr: 0.1\n"
    with pytest.raises(ValueError, match="already exists"):
        f.download(root=out)
    (out / "cfg/params.yaml").write_text("changed")
    with f.download(root=out, replace=True) as fh:
        assert fh.read() == "lr: 0.1\n"

    # restore: from another run's files by path, into root; kept unless replace
    dest = tmp_path / "restored"
    with nbrun.restore("cfg/params.yaml", run_path=f"{P}/{run.id}", root=dest) as fh:
        assert fh.read() == "lr: 0.1\n"
    (dest / "cfg/params.yaml").write_text("local edit")
    with nbrun.restore("cfg/params.yaml", run_path=f"me/{P}/{run.id}", root=dest) as fh:
        assert fh.read() == "local edit"
    with nbrun.restore("cfg/params.yaml", f"{P}/{run.id}", replace=True, root=dest) as fh:
        assert fh.read() == "lr: 0.1\n"
    assert nbrun.restore("absent.txt", run_path=f"{P}/{run.id}", root=dest) is None
    with pytest.raises(ValueError, match="relative path"):
        nbrun.restore("../../etc/passwd", run_path=f"{P}/{run.id}", root=dest)
    with pytest.raises(nbrun.RunNotFoundError):
        nbrun.restore("cfg/params.yaml", run_path=f"{P}/nope", root=dest)

    # a resumed run restores its own file in place (the current run is the default)
    again = nbrun.init(project=P, id=run.id, resume="allow")
    with nbrun.restore("cfg/params.yaml") as fh:
        assert fh.read() == "lr: 0.1\n"
    again.finish()
    with pytest.raises(nbrun.UsageError, match="run_path"):
        nbrun.restore("cfg/params.yaml")


def test_rule34_module_level_save(run_dir: Path) -> None:
    _write(run_dir / "m.txt", "m")
    with pytest.raises(nbrun.UsageError, match=r"nbrun\.init"):
        nbrun.save("m.txt")
    run = nbrun.init(project=P)
    nbrun.save("m.txt", policy="now")
    assert _names(run) == ["m.txt"]
