"""The public API (run-semantics rules 1, 8-11): ``init``'s signature and environment
variables, modes, reinit, resume, re-creating an id; ``Api`` and stored run views;
``nbrun.runs``; the package surface (``__all__``, light import)."""

from __future__ import annotations

import inspect
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nbrun
from tests.conftest import BACKENDS, python_env, where

P = "api"
#: resume, recreation and the read API run on both store backends
both = pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)


def _init(**kwargs: Any) -> nbrun.Run:
    kwargs.setdefault("project", P)
    kwargs.setdefault("reinit", "create_new")
    return nbrun.init(**kwargs)


def _finished(run_id: str, n: int = 3, **kwargs: Any) -> nbrun.Run:
    run = _init(id=run_id, **kwargs)
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1), "i": i})
    run.finish()
    return run


# -- the package surface -------------------------------------------------------------------
def test_all_is_sorted_and_has_the_public_names() -> None:
    assert nbrun.__all__ == sorted(nbrun.__all__)
    for name in (
        "init",
        "log",
        "finish",
        "run",
        "define_metric",
        "Run",
        "Api",
        "runs",
        "Error",
        "UsageError",
        "ConfigError",
        "RunNotFoundError",
        "RunStopped",
    ):
        assert name in nbrun.__all__, name
        assert hasattr(nbrun, name), name
    assert issubclass(nbrun.UsageError, nbrun.Error)
    assert issubclass(nbrun.ConfigError, nbrun.UsageError)
    assert issubclass(nbrun.RunNotFoundError, nbrun.Error)


def test_no_module_named_run_shadows_the_current_run(run_dir: Path) -> None:
    assert not (Path(nbrun.__file__).parent / "run.py").exists()
    assert not (Path(nbrun.__file__).parent / "run").exists()
    assert nbrun.run is None
    run = nbrun.init(project=P)
    assert nbrun.run is run
    run.finish()
    assert nbrun.run is None


def test_import_nbrun_does_not_import_pandas_or_widget_stack() -> None:
    code = (
        "import sys, nbrun\n"
        "heavy = ('pandas', 'altair', 'anywidget', 'ipywidgets')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout


# -- rule 1: init's signature and environment variables ------------------------------------------
def test_rule01_init_signature() -> None:
    params = inspect.signature(nbrun.init).parameters
    assert list(params) == [
        "entity",
        "project",
        "dir",
        "id",
        "name",
        "notes",
        "tags",
        "config",
        "config_exclude_keys",
        "config_include_keys",
        "allow_val_change",
        "group",
        "job_type",
        "mode",
        "reinit",
        "resume",
        "resume_from",
        "fork_from",
        "settings",
        # W&B 0.31's other keywords (and older W&B's ``magic``): accepted, rule 38
        "force",
        "save_code",
        "tensorboard",
        "sync_tensorboard",
        "monitor_gym",
        "anonymous",
        "magic",
    ]
    assert all(p.default is None for p in params.values())


def test_rule01_env_project_dir_and_run_id(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = run_dir / "elsewhere"
    monkeypatch.setenv("NBRUN_PROJECT", "envproj")
    monkeypatch.setenv("NBRUN_DIR", str(elsewhere))
    monkeypatch.setenv("NBRUN_RUN_ID", "envid")
    run = nbrun.init(reinit="create_new")
    assert (run.project, run.id) == ("envproj", "envid")
    run.finish()
    assert (elsewhere / "nbrun").is_dir()
    assert not (run_dir / "nbrun").exists()
    assert nbrun.Api(elsewhere).run("envproj/envid").state == "finished"
    assert nbrun.Api().run("envproj/envid").id == "envid"  # Api reads NBRUN_DIR too


def test_rule01_arguments_win_over_env(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBRUN_PROJECT", "envproj")
    monkeypatch.setenv("NBRUN_RUN_ID", "envid")
    monkeypatch.setenv("NBRUN_MODE", "disabled")
    run = _init(project="argproj", id="argid", mode="online")
    assert (run.project, run.id) == ("argproj", "argid")
    assert (run_dir / "nbrun").is_dir()


def test_rule01_env_mode(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBRUN_MODE", "disabled")
    run = _init()
    run.log({"a": 1})
    run.finish()
    assert not (run_dir / "nbrun").exists()


def test_rule01_env_resume(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _finished("there", n=2)
    monkeypatch.setenv("NBRUN_RESUME", "must")
    with pytest.raises(nbrun.UsageError, match="must"):
        _init(id="nothere")
    run = _init(id="there")
    assert run.resumed and run.step == 2


def test_rule01_env_fork_from(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _finished("src", n=5)
    monkeypatch.setenv("NBRUN_FORK_FROM", "src?_step=2")
    fork = _init()
    assert fork.forked_from is not None
    assert (fork.forked_from.run_id, fork.forked_from.step) == ("src", 2)
    assert fork.step == 3 and fork.id != "src"


def test_rule01_env_resume_from(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _finished("src", n=5)
    monkeypatch.setenv("NBRUN_RESUME_FROM", "src?_step=1")
    run = _init()
    assert run.id == "src" and run.step == 2
    run.finish()
    assert run.history()["_step"].tolist() == [0, 1]
    assert len(run.archives()) == 1


# -- rule 8: mode -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["online", "offline"])
def test_rule08_online_and_offline_write_locally(run_dir: Path, mode: str) -> None:
    _finished("m", n=2, mode=mode)
    view = nbrun.Api(where(run_dir)).run(f"{P}/m")
    assert view.history()["i"].tolist() == [0, 1]


def test_rule08_disabled_accepts_every_call_and_writes_nothing(run_dir: Path) -> None:
    run = nbrun.init(project=P, mode="disabled", config={"lr": 0.1}, tags="t")
    assert nbrun.run is run
    run.config.lr = 0.2
    run.config["x"] = 1
    run.log({"a": 1})
    run.log({"a": 2}, step=5)
    nbrun.log({"b": 1})
    run.define_metric("a", summary="min")
    nbrun.define_metric("b", step_metric="a")
    run.summary["c"] = 3
    run.alert("t", "x")
    run.mark_preempting()
    assert run.config.lr == 0.2
    assert run.url is None
    with run:
        run.log({"a": 3})
    nbrun.finish()
    assert nbrun.run is None
    assert not (run_dir / "nbrun").exists()
    assert nbrun.runs(dir=run_dir).empty


def test_rule08_disabled_run_has_the_run_attributes_and_signatures(run_dir: Path) -> None:
    run = _init(mode="disabled", id="off", name="n", tags=("t",))
    for attr in (
        "id, name, notes, tags, group, job_type, project, entity, path, dir, config, "
        "summary, step, starting_step, start_time, state, resumed, forked_from, settings, url"
    ).split(", "):
        getattr(run, attr)  # rule 33's attributes all read
    assert (run.id, run.name, run.tags, run.project) == ("off", "n", ("t",), P)
    assert run.path.endswith(f"/{P}/off")
    assert run.url is None and run.state == "running"
    run.define_metric(
        "loss",
        step_metric="epoch",
        step_sync=True,
        hidden=False,
        summary="min",
        goal="minimize",
        overwrite=True,
    )
    run.finish()
    assert run.state == "finished"
    assert not (run_dir / "nbrun").exists()


def _public(obj: object) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_rule08_disabled_run_has_every_public_name_of_run(run_dir: Path) -> None:
    """Code written against a Run runs on the disabled stand-in (W&B's disabled mode accepts
    everything): every public name of a live Run exists on it, and every method takes the
    arguments the Run's method takes."""
    live = _init(id="live")
    off = _init(mode="disabled", id="off")
    missing = sorted(_public(live) - _public(off))
    assert missing == [], f"the disabled run lacks {missing}"
    for name in sorted(_public(live)):
        real = inspect.getattr_static(type(live), name, None)
        if not callable(real) or isinstance(real, (property, type)):
            continue
        stand_in = getattr(off, name)
        assert callable(stand_in), name
        params = inspect.signature(getattr(live, name)).parameters
        bound = inspect.signature(stand_in)
        args = {n: None for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n[0] != "_"}
        positional = [
            None
            for p in params.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.default is inspect.Parameter.empty
        ]
        try:
            bound.bind(*positional, **args)
        except TypeError as exc:  # the stand-in takes fewer arguments than the Run
            raise AssertionError(f"disabled run's {name}{bound} vs Run's: {exc}") from None
    live.finish()
    off.finish()


def test_rule08_disabled_run_trains_and_refuses_what_needs_a_store(run_dir: Path) -> None:
    """A training function written for ``nbrun.launch`` runs on a disabled run (no checkpoint:
    it starts fresh); what needs stored history (fork, rewind, chart, export) is a UsageError
    that says the run is disabled; nothing is written."""
    run = _init(mode="disabled", id="off")
    state = run.restore() or {"w": 0}
    for _ in range(3):
        state["w"] += 1
        run.log({"w": state["w"]})
        assert run.checkpoint(state) is None
    assert run.wait(1) and run.checkpoints() == [] and run.alerts == []
    assert run.history_buckets() == {} and not run.training and run.error is None
    for call in (
        lambda: run.fork(1, {"lr": 0.1}),
        lambda: run.rewind(1),
        lambda: run.fork_many(1, [{}]),
        lambda: run.chart("w"),
        lambda: run.to_html(),
        lambda: run.use_model("m:latest"),
    ):
        with pytest.raises(nbrun.UsageError, match="disabled"):
            call()
    run.finish(3)
    assert (run.state, run.exit_code) == ("failed", 3)
    assert not (run_dir / "nbrun").exists()


@pytest.mark.parametrize("bad", ["sometimes", "ONLINE", "", 1])
def test_rule08_other_modes_raise_usageerror_listing_the_valid_ones(
    run_dir: Path, bad: object
) -> None:
    with pytest.raises(nbrun.UsageError) as err:
        _init(mode=bad)
    msg = str(err.value)
    assert repr(bad) in msg
    for valid in ("online", "offline", "disabled"):
        assert repr(valid) in msg


# -- rule 9: reinit -----------------------------------------------------------------------------
def test_rule09_default_in_scripts_returns_previous(run_dir: Path) -> None:
    first = nbrun.init(project=P, id="first")
    with pytest.warns(UserWarning, match="first"):
        second = nbrun.init(project=P, id="second")
    assert second is first
    assert first.state == "running"
    assert nbrun.Api(where(run_dir)).runs(P)[0].id == "first"
    assert len(nbrun.Api(where(run_dir)).runs(P)) == 1
    with pytest.warns(UserWarning):
        assert nbrun.init(project=P, reinit="return_previous") is first


@pytest.mark.parametrize("reinit", ["finish_previous", True])
def test_rule09_finish_previous(run_dir: Path, reinit: object) -> None:
    first = nbrun.init(project=P, id="first")
    first.log({"a": 1}, commit=False)
    second = nbrun.init(project=P, id="second", reinit=reinit)  # type: ignore[arg-type]
    assert second is not first
    assert first.state == "finished"
    assert first.history()["a"].tolist() == [1]
    assert nbrun.run is second


def test_rule09_create_new_leaves_current_run_alone(run_dir: Path) -> None:
    first = nbrun.init(project=P, id="first")
    second = nbrun.init(project=P, id="second", reinit="create_new")
    assert second is not first
    assert first.state == second.state == "running"
    assert nbrun.run is first
    second.log({"x": 1})
    first.log({"y": 1})
    second.finish()
    assert nbrun.run is first
    assert "x" not in first.summary


def test_rule09_bad_reinit_raises_usageerror(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match="'sometimes'"):
        nbrun.init(project=P, reinit="sometimes")


# -- rule 10: resume ----------------------------------------------------------------------------
@both
def test_rule10_allow_continues_an_existing_run(run_dir: Path) -> None:
    _finished("r", n=3, config={"lr": 0.1, "epochs": 3})
    run = _init(id="r", resume="allow", config={"lr": 0.2, "new": True}, allow_val_change=False)
    assert run.resumed is True
    assert run.starting_step == 3 and run.step == 3
    assert run.config.as_dict() == {"lr": 0.2, "epochs": 3, "new": True}
    assert run.summary["i"] == 2
    assert run.summary["loss"] == pytest.approx(1 / 3)
    run.log({"i": 3})
    run.finish()
    view = nbrun.Api(where(run_dir)).run(f"{P}/r")
    assert view.history()["i"].tolist() == [0, 1, 2, 3]
    assert view.resumed is True and view.starting_step == 3
    assert view.archives() == []


@both
def test_rule10_allow_creates_a_missing_run(run_dir: Path) -> None:
    run = _init(id="fresh", resume="allow")
    assert run.id == "fresh" and run.resumed is False and run.step == 0


@both
def test_rule10_must_raises_when_missing(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match="'ghost'"):
        _init(id="ghost", resume="must")
    assert nbrun.Api(where(run_dir)).runs(P) == []
    _finished("ghost")
    assert _init(id="ghost", resume="must").resumed is True


@both
def test_rule10_never_raises_when_it_exists(run_dir: Path) -> None:
    run = _init(id="n", resume="never")
    assert run.resumed is False
    run.log({"a": 1})
    run.finish()
    with pytest.raises(nbrun.UsageError, match="'n'"):
        _init(id="n", resume="never")
    view = nbrun.Api(where(run_dir)).run(f"{P}/n")
    assert view.archives() == [] and view.history()["a"].tolist() == [1]


@both
def test_rule10_continuing_restores_aggregates_and_user_summary(run_dir: Path) -> None:
    run = _init(id="agg")
    run.define_metric("loss", summary="min,max")
    for v in (3.0, 1.0, 2.0):
        run.log({"loss": v})
    run.summary["note"] = "kept"
    run.finish()
    again = _init(id="agg", resume="allow")
    assert again.summary["loss"] == {"min": 1.0, "max": 3.0}
    assert again.summary["note"] == "kept"
    again.log({"loss": 0.5})
    assert again.summary["loss"] == {"min": 0.5, "max": 3.0}


def _crash(run_dir: Path, run_id: str, code: int = 0) -> None:
    """A subprocess that logs two rows and dies without finishing (no atexit handlers)."""
    body = (
        "import os, sys, nbrun\n"
        f"run = nbrun.init(project={P!r}, dir=sys.argv[1], id={run_id!r}, config={{'lr': 1}})\n"
        "run.log({'i': 0})\nrun.log({'i': 1})\nrun.flush()\n"
        f"os._exit({code})\n"
    )
    subprocess.run(
        [sys.executable, "-c", body, where(run_dir)], env=python_env(), check=True, timeout=60
    )


@pytest.mark.parametrize("resume", ["auto", True])
@both
def test_rule10_auto_continues_the_last_crashed_run(run_dir: Path, resume: object) -> None:
    run = _init(id="failed0")
    run.finish(exit_code=1)
    _finished("done", n=1)
    _crash(run_dir, "crashed1")
    assert nbrun.Api(where(run_dir)).run(f"{P}/crashed1").state == "crashed"
    again = _init(resume=resume)
    assert again.id == "crashed1"
    assert again.resumed is True and again.step == 2
    assert again.config["lr"] == 1
    again.log({"i": 2})
    again.finish()
    assert nbrun.Api(where(run_dir)).run(f"{P}/crashed1").history()["i"].tolist() == [0, 1, 2]


@both
def test_rule10_auto_continues_a_failed_run(run_dir: Path) -> None:
    run = _init(id="f")
    run.log({"a": 1})
    run.finish(exit_code=3)
    again = _init(resume="auto")
    assert again.id == "f" and again.resumed and again.step == 1


@both
def test_rule10_auto_starts_a_new_run_when_nothing_crashed(run_dir: Path) -> None:
    _finished("done")
    run = _init(resume="auto")
    assert run.id != "done" and run.resumed is False and run.step == 0


@pytest.mark.parametrize("bad", ["yes", "ALLOW", 1.5])
def test_rule10_bad_resume_raises_usageerror_listing_the_valid_ones(
    run_dir: Path, bad: object
) -> None:
    with pytest.raises(nbrun.UsageError) as err:
        _init(id="x", resume=bad)
    msg = str(err.value)
    assert repr(bad) in msg
    for valid in ("allow", "must", "never", "auto"):
        assert repr(valid) in msg


@both
def test_rule10_resuming_a_running_run_raises(run_dir: Path) -> None:
    _init(id="live")
    with pytest.raises(nbrun.UsageError, match="running"):
        _init(id="live", resume="allow")


# -- rule 11: re-creating an id archives the old history ---------------------------------------
@both
def test_rule11_existing_id_without_resume_archives_and_starts_fresh(run_dir: Path) -> None:
    _finished("dup", n=4, config={"lr": 0.1})
    with pytest.warns(UserWarning, match="archived"):
        run = _init(id="dup", config={"lr": 0.5})
    assert run.step == 0 and run.starting_step == 0
    assert run.resumed is False
    assert run.config.as_dict() == {"lr": 0.5}
    assert len(run.summary) == 0
    assert run.history().empty
    run.log({"new": 1})
    run.finish()
    view = nbrun.Api(where(run_dir)).run(f"{P}/dup")
    assert view.history()["new"].tolist() == [1]
    assert "i" not in view.history().columns
    (archive,) = view.archives()
    old = archive.history()
    assert old["i"].tolist() == [0, 1, 2, 3]
    assert archive.rows == 4
    assert archive.reason == "replaced"
    assert len(nbrun.Api(where(run_dir)).runs(P)) == 1  # same run, not a second one


@both
def test_rule11_repeated_recreation_keeps_every_segment(run_dir: Path) -> None:
    _finished("dup", n=2)
    for n in (3, 1):
        with pytest.warns(UserWarning, match="archived"):
            _finished("dup", n=n)
    view = nbrun.Api(where(run_dir)).run(f"{P}/dup")
    assert [len(a.history()) for a in view.archives()] == [2, 3]
    assert len(view.history()) == 1


@both
def test_rule11_recreated_id_does_not_inherit_the_old_checkpoints(run_dir: Path) -> None:
    old = nbrun.init(project="p", id="same")
    for i in range(4):
        old.log({"x": i})
        if i == 2:
            old.checkpoint({"old": i})
    old.finish()
    with pytest.warns(UserWarning, match="already exists"):
        fresh = nbrun.init(project="p", id="same")
    assert fresh.checkpoints() == []
    assert fresh.restore() is None  # a fresh run starts from nothing, not the old state
    fresh.finish()


@both
def test_rule11_recreating_a_running_id_raises(run_dir: Path) -> None:
    run = _init(id="busy")
    run.log({"a": 1})
    with pytest.raises(nbrun.UsageError, match="running"):
        _init(id="busy")
    run.finish()
    assert run.history()["a"].tolist() == [1]


# -- Api and stored views -------------------------------------------------------------------
@both
def test_api_run_view_has_the_stored_fields(run_dir: Path, api: nbrun.Api) -> None:
    run = _init(
        id="v",
        name="view-me",
        notes="n",
        tags=("a", "b"),
        group="g",
        job_type="eval",
        config={"lr": 0.1},
    )
    run.log({"loss": 0.5})
    run.log({"loss": 0.25})
    run.finish()
    for path in (f"{P}/v", f"{run.entity}/{P}/v"):
        view = api.run(path)
        assert isinstance(view, nbrun.StoredRun)
        assert (view.id, view.name, view.project, view.state) == ("v", "view-me", P, "finished")
        assert view.config.as_dict() == {"lr": 0.1}
        assert view.summary["loss"] == 0.25
        assert view.tags == ("a", "b")
        assert (view.notes, view.group, view.job_type) == ("n", "g", "eval")
        assert view.starting_step == 0
        assert view.forked_from is None
        assert view.history()["loss"].tolist() == [0.5, 0.25]
        assert view.history(keys=["loss"], samples=1)["loss"].tolist() in ([0.5], [0.25])
        assert view.archives() == []


def test_api_views_are_read_only(run_dir: Path, api: nbrun.Api) -> None:
    _finished("ro")
    view = api.run(f"{P}/ro")
    with pytest.raises(nbrun.UsageError):
        view.config["lr"] = 1
    with pytest.raises(nbrun.UsageError):
        view.summary["x"] = 1
    with pytest.raises(AttributeError, match="read-only"):
        view.group = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="read-only"):
        view.job_type = "x"  # type: ignore[misc]
    assert view.group != "x"


def test_rule33_stored_views_edit_name_tags_notes(run_dir: Path, api: nbrun.Api) -> None:
    """Like W&B's public-API runs, a stored view takes ``name``, ``notes`` and ``tags``:
    checked as on a live run, stored at once (a new view reads them); bad values change
    nothing."""
    _finished("ed")
    view = api.run(f"{P}/ed")
    view.name = "renamed <b>"
    view.tags = ("a", "b")
    view.notes = "why"
    again = nbrun.Api(run_dir).run(f"{P}/ed")
    assert (again.name, again.tags, again.notes) == ("renamed <b>", ("a", "b"), "why")
    with pytest.raises(nbrun.UsageError, match="must not be empty"):
        view.name = ""
    with pytest.raises(nbrun.UsageError):
        view.tags = ("",)
    assert (again.name, again.tags) == ("renamed <b>", ("a", "b"))


def test_rule33_a_stored_view_of_a_live_run_edits_through_it(run_dir: Path, api: nbrun.Api) -> None:
    run = _init(id="edlive")
    view = api.run(f"{P}/edlive")
    view.name = "new-name"
    view.tags = ("x",)
    assert (run.name, run.tags) == ("new-name", ("x",))  # the live run agrees
    run.finish()
    assert (view.name, view.tags) == ("new-name", ("x",))


@both
def test_api_view_follows_a_live_run(run_dir: Path, api: nbrun.Api) -> None:
    run = _init(id="follow", settings={"flush_interval": 0.05})
    view = api.run(f"{P}/follow")
    assert view.state == "running"
    run.log({"a": 1})
    run.name = "renamed"
    assert view.name == "renamed"
    run.finish()
    assert view.state == "finished"
    assert view.summary["a"] == 1


@both
def test_api_run_not_found_and_bad_path(run_dir: Path, api: nbrun.Api) -> None:
    with pytest.raises(nbrun.RunNotFoundError, match="'missing'"):
        api.run(f"{P}/missing")
    _finished("there")
    with pytest.raises(nbrun.RunNotFoundError, match="'other'"):
        api.run("other/there")
    with pytest.raises(nbrun.UsageError, match="'justanid'"):
        api.run("justanid")


@both
def test_api_runs_lists_a_project_oldest_first(run_dir: Path, api: nbrun.Api) -> None:
    assert api.runs(P) == []
    for rid in ("one", "two", "three"):
        _finished(rid, n=1)
    _finished("x", n=1, project="elsewhere")
    assert [r.id for r in api.runs(P)] == ["one", "two", "three"]
    assert {r.id for r in api.runs()} == {"one", "two", "three", "x"}
    assert [r.id for r in api.runs("elsewhere")] == ["x"]


# -- nbrun.runs ----------------------------------------------------------------------------
@both
def test_runs_dataframe_columns(run_dir: Path) -> None:
    _finished("a", n=2, config={"lr": 0.1, "opt": "sgd"}, tags=["base"])
    src = nbrun.Api(where(run_dir)).run(f"{P}/a")
    fork = _init(id="b", fork_from="a?_step=0", config={"lr": 0.2})
    fork.log({"loss": 0.1})
    fork.finish(exit_code=1)
    df = nbrun.runs(P, dir=where(run_dir))
    assert isinstance(df, pd.DataFrame)
    for col in ("id", "name", "state", "created", "runtime", "tags", "forked_from"):
        assert col in df.columns, col
    assert {"config.lr", "config.opt", "summary.loss", "summary.i"} <= set(df.columns)
    df = df.set_index("id")
    assert df.loc["a", "state"] == "finished" and df.loc["b", "state"] == "failed"
    assert df.loc["a", "name"] == src.name
    assert df.loc["a", "tags"] == ("base",)
    assert df.loc["a", "config.lr"] == 0.1 and df.loc["b", "config.lr"] == 0.2
    assert df.loc["b", "config.opt"] == "sgd"  # inherited by the fork
    assert df.loc["a", "summary.i"] == 1
    assert df.loc["b", "summary.loss"] == 0.1
    assert df.loc["b", "forked_from"] == "a"
    fa = df.loc["a", "forked_from"]
    assert fa is None or (isinstance(fa, float) and math.isnan(fa))
    assert isinstance(df.loc["a", "created"], pd.Timestamp)
    assert df.loc["a", "runtime"] >= 0


def test_runs_of_an_empty_directory(run_dir: Path) -> None:
    df = nbrun.runs(dir=run_dir)
    assert df.empty
    assert {"id", "name", "state", "created", "runtime", "tags", "forked_from"} <= set(df.columns)
    assert not (run_dir / "nbrun").exists()  # reading creates nothing


def test_runs_defaults_to_the_current_directory(run_dir: Path) -> None:
    _finished("here", n=1)
    assert nbrun.runs()["id"].tolist() == ["here"]
