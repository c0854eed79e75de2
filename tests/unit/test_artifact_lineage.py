"""Artifacts and run lineage (issue 12, rule 36): a fork lists the artifacts its source logged
up to the fork step (inherited, not copied); a rewind moves the artifacts logged after its step
into the archived segment with the rows, and what the run logs afterwards belongs to the new
segment."""

from __future__ import annotations

from pathlib import Path

import nbrun

P = "artlin"


def _art(run: nbrun.Run, name: str, text: str) -> nbrun.Artifact:
    art = nbrun.Artifact(name, "dataset")
    with art.new_file("data.txt") as f:
        f.write(text)
    return run.log_artifact(art)


def _steps(run: nbrun.Run, upto: int) -> None:
    while run.step <= upto:
        run.log({"x": run.step})


def _names(arts: list[nbrun.Artifact]) -> list[str]:
    return [a.name for a in arts]


def test_rule36_a_fork_inherits_its_sources_artifacts_without_copying(run_dir: Path) -> None:
    src = nbrun.init(project=P, id="src")
    _steps(src, 4)
    _art(src, "early", "e")  # belongs to step 4, the last written row
    _steps(src, 9)
    _art(src, "late", "l")  # step 9
    src.finish()
    blobs = sorted((run_dir / "nbrun/artifacts/blobs").rglob("*"))

    fork = nbrun.init(project=P, fork_from="src?_step=5")
    assert _names(fork.logged_artifacts()) == []  # its own outputs: none yet
    inherited = fork.logged_artifacts(lineage=True)
    assert _names(inherited) == ["early:v0"]
    by = inherited[0].logged_by()
    assert by is not None and by.id == "src"  # the source's version, read where it is
    _steps(fork, 7)
    _art(fork, "mine", "m")  # step 7
    assert _names(fork.logged_artifacts(lineage=True)) == ["early:v0", "mine:v0"]
    assert _names(fork.logged_artifacts()) == ["mine:v0"]
    fork.finish()
    # nothing was copied: no new version of the source's artifacts, no new blob for them
    api = nbrun.Api(run_dir)
    assert [a.version for a in api.artifact_versions("dataset", f"{P}/early")] == ["v0"]
    after = sorted((run_dir / "nbrun/artifacts/blobs").rglob("*"))
    assert len(after) == len(blobs) + 2  # the fork's own blob and its folder
    # a fork of the fork inherits along the whole chain
    grand = nbrun.init(project=P, fork_from=f"{fork.id}?_step=7")
    assert _names(grand.logged_artifacts(lineage=True)) == ["early:v0", "mine:v0"]


def test_rule36_a_rewind_moves_later_artifacts_to_the_archived_segment(run_dir: Path) -> None:
    run = nbrun.init(project=P, id="rw")
    _steps(run, 2)
    _art(run, "kept", "k")  # step 2
    _steps(run, 7)
    late = _art(run, "late", "l")  # step 7
    used = run.use_artifact("kept:v0")  # an input at step 7
    assert used.version == "v0"
    _steps(run, 9)
    run.finish()
    early_fork = nbrun.init(project=P, fork_from="rw?_step=8", reinit="create_new")
    early_fork.finish()

    again = nbrun.init(project=P, resume_from="rw?_step=4")
    assert _names(again.logged_artifacts()) == ["kept:v0"]
    assert _names(again.used_artifacts()) == []
    (archive,) = again.archives()
    assert _names(archive.logged_artifacts()) == ["late:v0"]
    assert _names(archive.used_artifacts()) == ["kept:v0"]
    # the archived segment keeps what it logged; the version still names the run that made it
    by = nbrun.Api(run_dir).artifact(f"{P}/late:v0").logged_by()
    assert by is not None and by.id == "rw" and late.version == "v0"
    # what the rewound run logs now belongs to the new segment
    _steps(again, 6)
    _art(again, "after", "a")
    assert _names(again.logged_artifacts()) == ["kept:v0", "after:v0"]
    assert _names(archive.logged_artifacts()) == ["late:v0"]
    again.finish()
    # a fork made before the rewind still inherits what it saw (read from the archive)
    view = nbrun.Api(run_dir).run(f"{P}/{early_fork.id}")
    assert _names(view.logged_artifacts(lineage=True)) == ["kept:v0", "late:v0"]
    # and a second rewind archives the new segment's artifacts in their own segment
    third = nbrun.init(project=P, resume_from="rw?_step=3")
    assert _names(third.logged_artifacts()) == ["kept:v0"]
    assert [_names(a.logged_artifacts()) for a in third.archives()] == [["late:v0"], ["after:v0"]]
