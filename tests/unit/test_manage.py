"""Deleting and moving stored runs (rule 40): a run that forks still read from is never left
dangling, files go with the run, bad input is refused naming the value."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nbrun
from nbrun import _artifacts, _lineage

FAST = {"flush_interval": 0.05}


def make(run_id: str, n: int, project: str = "p", **kwargs: Any) -> nbrun.Run:
    run = nbrun.init(project=project, id=run_id, reinit="create_new", settings=FAST, **kwargs)
    for i in range(n):
        run.log({"x": float(i), "sq": i * i})
    return run


def fork(spec: str, n: int, project: str = "p", **kwargs: Any) -> nbrun.Run:
    run = nbrun.init(project=project, fork_from=spec, reinit="create_new", settings=FAST, **kwargs)
    start = run.step
    for i in range(start, start + n):
        run.log({"x": 100.0 + i})
    run.finish()
    return run


def pairs(view: nbrun.StoredRun, key: str = "x") -> list[tuple[int, float]]:
    df = view.history()
    return [
        (int(s), float(v))
        for s, v in zip(df["_step"], df[key], strict=True)
        if not (isinstance(v, float) and math.isnan(v))
    ]


def test_rule40_delete_refuses_a_parent_with_forks_naming_them(api: nbrun.Api) -> None:
    make("par", 10).finish()
    fork("par?_step=4", 3)
    child = api.runs("p")[1]
    with pytest.raises(nbrun.LineageError, match=f"p/{child.id}") as info:
        api.run("p/par").delete()
    assert info.value.runs == (f"p/{child.id}",)
    assert "detach_forks=True" in str(info.value)
    assert len(pairs(api.run("p/par"))) == 10  # nothing deleted
    assert pairs(child)[:5] == [(i, float(i)) for i in range(5)]


def test_rule40_delete_with_detach_gives_forks_their_rows(api: nbrun.Api, run_dir: Path) -> None:
    par = make("par", 10)
    par.log({"img": nbrun.Image(np.zeros((4, 4, 3), dtype=np.uint8))}, step=10)
    art = nbrun.Artifact("weights", "model")
    with art.new_file("w.txt") as f:
        f.write("w")
    par.log_artifact(art)
    par.log({"x": 10.5}, step=11)
    par.finish()
    kid = fork("par?_step=11", 3).id
    grand = fork(f"{kid}?_step=12", 2).id
    before = {i: pairs(api.run(f"p/{i}")) for i in (kid, grand)}
    pixels = np.asarray(api.run(f"p/{kid}").history(["img"])["img"].iloc[0].image)
    folder = Path(api.run("p/par").dir)
    assert folder.is_dir()

    assert api.run("p/par").delete(detach_forks=True) == [kid]

    with pytest.raises(nbrun.RunNotFoundError):
        api.run("p/par")
    assert not folder.exists()
    view = api.run(f"p/{kid}")
    assert view.forked_from is None
    assert view.metadata["detached_from"]["run_id"] == "par"
    assert view.metadata["detached_from"]["step"] == 11
    for i in (kid, grand):  # the fork and the fork of the fork read what they read before
        assert pairs(api.run(f"p/{i}")) == before[i]
    # the image now lives in the fork's own folder and reads back the same
    img = view.history(["img"])["img"].iloc[0]
    assert Path(view.dir) in Path(img._path).parents
    assert np.array_equal(np.asarray(img.image), pixels)
    assert [a.name for a in view.logged_artifacts(lineage=True)] == ["weights:v0"]
    # summary at the inherited steps still comes from the stored cumulative state
    assert view.summary["sq"] == 81
    # the summary and the stored cumulative states name the fork's own copy of the image
    assert view.summary["img"]["run"] == f"p/{kid}"
    rec = view._store.get_run("p", kid)
    for step in (10, 12):
        assert _lineage.state_at(view._store, rec, step)["last"]["img"]["run"] == f"p/{kid}"


def test_rule40_detach_reads_a_rewound_parent_as_it_was(api: nbrun.Api) -> None:
    make("par", 10).finish()
    kid = fork("par?_step=7", 2).id
    rew = nbrun.init(project="p", resume_from="par?_step=3", reinit="create_new", settings=FAST)
    rew.log({"x": -1.0})
    rew.finish()
    before = pairs(api.run(f"p/{kid}"))
    assert before[:8] == [(i, float(i)) for i in range(8)]
    api.run("p/par").delete(detach_forks=True)
    assert pairs(api.run(f"p/{kid}")) == before


def test_rule40_delete_artifacts_removes_versions_and_blobs(api: nbrun.Api) -> None:
    run = make("solo", 2)
    art = nbrun.Artifact("data", "dataset")
    with art.new_file("d.txt") as f:
        f.write("payload")
    run.log_artifact(art)
    run.finish()
    stored = api.artifact("p/data:v0")
    blob = _artifacts.blob_path(stored._store, stored.manifest.entries["d.txt"].digest)
    assert blob.is_file()
    assert api.run("p/solo").delete(delete_artifacts=True) == []
    with pytest.raises(nbrun.ArtifactNotFoundError):
        api.artifact("p/data:v0")
    assert not blob.exists()


def test_rule40_delete_keeps_artifacts_by_default(api: nbrun.Api) -> None:
    run = make("solo", 1)
    run.log_artifact(nbrun.Artifact("data", "dataset"))
    run.finish()
    api.run("p/solo").delete()
    assert api.artifact("p/data:v0").name == "data:v0"


def test_rule40_delete_refuses_a_running_run_and_bad_flags(api: nbrun.Api) -> None:
    run = make("live", 1)
    with pytest.raises(nbrun.UsageError, match="p/live is running"):
        api.run("p/live").delete()
    run.finish()
    with pytest.raises(TypeError, match="detach_forks='yes'"):
        api.run("p/live").delete(detach_forks="yes")  # type: ignore[arg-type]
    assert api.run("p/live").step == 1


def test_rule40_move_takes_files_and_media(api: nbrun.Api, run_dir: Path) -> None:
    run = make("mv", 3)
    run.log({"img": nbrun.Image(np.full((4, 4, 3), 9, dtype=np.uint8))})
    (run_dir / "notes.txt").write_text("kept")
    run.save("notes.txt", policy="now")
    run.finish()
    old = Path(api.run("p/mv").dir)
    assert api.run("p/mv").move("q") == ["mv"]
    assert not old.exists()
    view = api.run("q/mv")
    assert Path(view.dir).is_dir()
    assert pairs(view)[:3] == [(0, 0.0), (1, 1.0), (2, 2.0)]
    img = view.history(["img"])["img"].iloc[0]
    assert int(np.asarray(img.image)[0, 0, 0]) == 9
    assert view.summary["img"]["run"] == "q/mv"
    rec = view._store.get_run("q", "mv")
    assert _lineage.state_at(view._store, rec, 3)["last"]["img"]["run"] == "q/mv"
    assert [f.name for f in view.files()] == ["notes.txt"]
    assert api.runs("p") == []


def test_rule40_move_with_lineage(api: nbrun.Api) -> None:
    make("par", 6).finish()
    kid = fork("par?_step=2", 2).id
    before = pairs(api.run(f"p/{kid}"))
    with pytest.raises(nbrun.LineageError, match=f"p/{kid}") as info:
        api.run("p/par").move("q")
    assert info.value.runs == (f"p/{kid}",)
    with pytest.raises(nbrun.LineageError, match="p/par"):
        api.run(f"p/{kid}").move("q")
    assert sorted(api.run(f"p/{kid}").move("q", with_lineage=True)) == sorted([kid, "par"])
    assert pairs(api.run(f"q/{kid}")) == before
    assert api.run(f"q/{kid}").forked_from == nbrun.ForkPoint("par", 2)


@pytest.mark.parametrize("bad", ["", "a/b", 3, ".."])
def test_rule40_move_bad_project_names_the_value(api: nbrun.Api, bad: object) -> None:
    make("mv", 1).finish()
    with pytest.raises(nbrun.UsageError, match=repr(bad).replace(".", r"\.")):
        api.run("p/mv").move(bad)  # type: ignore[arg-type]
    assert api.run("p/mv").project == "p"


def test_rule40_move_refuses_an_id_taken_in_the_target(api: nbrun.Api) -> None:
    make("same", 1).finish()
    make("same", 2, project="q").finish()
    with pytest.raises(nbrun.UsageError, match="'same'"):
        api.run("p/same").move("q")
    assert len(pairs(api.run("q/same"))) == 2
    assert Path(api.run("p/same").dir).is_dir()
