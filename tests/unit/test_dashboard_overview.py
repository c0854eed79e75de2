"""The dashboard's first display and overview (issue 15): showing a dashboard never imports
Altair (its specs are plain dicts that Altair itself accepts), define_metric summaries, the
Overview facts, name / tags / notes edited from the overview, alerts, the step shown, charts in
first-logged order and a fork's chart after its parent is rewound. Messages are delivered as
the browser sends them (through ipywidgets' comm dispatcher)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import altair as alt
import pytest

import nbrun
from nbrun.widgets import Dashboard, dashboard_spec
from nbrun.widgets._project import project_rows
from nbrun.widgets._side import system_spec
from tests.conftest import python_env, wait_for

from .test_widgets import HOSTILE, capture, from_browser


# -- the display path ------------------------------------------------------------------------
@pytest.mark.slow
def test_showing_a_dashboard_never_imports_altair(run_dir: Path) -> None:
    """A fresh interpreter shows a dashboard (specs included) without importing Altair or
    jsonschema (seconds of imports, issue 15); ``run.chart()`` still gives an ``alt.Chart``."""
    code = (
        "import sys, nbrun\n"
        "run = nbrun.init(project='p')\n"
        "for i in range(5): run.log({'loss': 1 / (i + 1), 'acc': i / 5})\n"
        "dash = run.display()\n"
        "assert [c['metric'] for c in dash.charts] == ['loss', 'acc'], dash.charts\n"
        "heavy = [m for m in ('altair', 'jsonschema', 'rfc3987_syntax') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "chart = run.chart('loss')\n"
        "import altair\n"
        "assert isinstance(chart, altair.Chart)\n"
        "dash.close(); run.finish()\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=run_dir,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr


@pytest.mark.parametrize("spec", [dashboard_spec("val/loss", "epoch"), system_spec("system.cpu")])
def test_dashboard_specs_are_what_altair_writes(spec: dict[str, Any]) -> None:
    """The hand-written dict specs pass Altair's Vega-Lite schema validation and come back
    unchanged from Altair (the dashboard's charts are Altair charts, built without it)."""
    chart = alt.LayerChart.from_dict(spec, validate=True)
    out = chart.to_dict(validate=True)
    # Altair adds its default view size to ``config``; everything else comes back as written
    assert {k: v for k, v in out.items() if k != "config"} == {
        k: v for k, v in spec.items() if k != "config"
    }
    for key, value in spec.get("config", {}).get("view", {}).items():
        assert out["config"]["view"][key] == value


def test_import_warmup_runs_once_and_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbrun import _system

    monkeypatch.setattr(_system, "_warm_started", type(_system._warm_started)())
    monkeypatch.setenv("NBRUN_WARM_IMPORTS", "0")
    assert _system.warm_imports(("json",)) is None
    monkeypatch.delenv("NBRUN_WARM_IMPORTS")
    thread = _system.warm_imports(("json", "no_such_module_nbrun"))
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive()  # a missing module is left to its first real use
    assert _system.warm_imports(("json",)) is None  # once per process


# -- summaries -------------------------------------------------------------------------------
def test_define_metric_summaries_in_overview_and_project_table(run_dir: Path) -> None:
    run = nbrun.init(project="p")
    run.define_metric("val/loss", summary="min,last")
    for i, v in enumerate([0.5, 0.231, 0.3, 0.245]):
        run.log({"val/loss": v, "acc": i / 4})
    run.finish()
    dash = Dashboard(nbrun.Api(run_dir).run(f"p/{run.id}"), start=False)
    try:
        # the overview sends the values; js/lib/format.js fmtSummary writes "min 0.231 · last 0.245"
        assert dash.overview["summary"]["val/loss"] == {"min": 0.231, "last": 0.245}
    finally:
        dash.close()
    (row,) = project_rows("p", run_dir)  # the project table keeps them (its own format)
    assert row["summary"]["val/loss"]["parts"] == [["min", 0.231], ["last", 0.245]]


# -- the Overview facts ----------------------------------------------------------------------
def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_git_facts_follow_commits_edits_and_remotes_within_one_process(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remote and commit are read once per state of ``.git`` (a sweep's runs no longer ask
    git three times each), yet every run records the commit, remote and dirtiness of its own
    moment: a commit, an edit and a new remote URL between two inits all show."""
    monkeypatch.chdir(run_dir)
    _git(run_dir, "init", "-q")
    _git(run_dir, "remote", "add", "origin", "https://example.invalid/one.git")
    (run_dir / "train.py").write_text("print(1)\n")
    _git(run_dir, "add", "train.py")
    _git(run_dir, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")

    def facts() -> dict[str, object]:
        with nbrun.init(project="g", dir=run_dir, reinit="create_new") as run:
            return dict(run.metadata["git"])

    first = facts()
    assert first["remote"] == "https://example.invalid/one.git" and first["dirty"] is False
    assert facts() == first  # nothing changed: the same facts
    (run_dir / "train.py").write_text("print(2)\n")
    assert facts()["dirty"] is True  # an edit changes nothing under .git, and still shows
    _git(run_dir, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two")
    second = facts()
    assert second["commit"] != first["commit"] and len(str(second["commit"])) == 40
    assert second["dirty"] is False
    _git(run_dir, "remote", "set-url", "origin", "https://example.invalid/two.git")
    assert facts()["remote"] == "https://example.invalid/two.git"


def test_overview_lists_command_git_host_hardware_and_duration(run_dir: Path) -> None:
    _git(run_dir, "init", "-q")
    _git(run_dir, "remote", "add", "origin", "https://example.invalid/repo.git")
    (run_dir / "train.py").write_text("x = 1\n")
    _git(run_dir, "add", "train.py")
    _git(run_dir, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    (run_dir / "train.py").write_text("x = 2\n")  # an uncommitted change: dirty
    run = nbrun.init(project="p")
    run.log({"loss": 1.0})
    meta = run.metadata
    assert meta["cpu_count"] and meta["memory"]["total"] > 0
    assert meta["git"]["dirty"] is True
    dash = Dashboard(run, start=False)
    try:
        ab = dash.overview["about"]
        assert ab["git"]["dirty"] is True and ab["git"]["remote"].endswith("repo.git")
        assert len(ab["git"]["commit"]) == 40
        assert ab["host"] and ab["os"] and ab["python"] and ab["command"]
        assert ab["cpu_count"] >= 1 and ab["memory_total"] > 0
        assert ab["duration"] >= 0
    finally:
        dash.close()
    run.finish()
    stored = nbrun.Api(run_dir).run(f"p/{run.id}")
    ab = Dashboard(stored, start=False).overview["about"]
    # a finished run's duration runs from its creation to its end, and stays
    assert ab["duration"] == pytest.approx(stored.ended - stored.created)
    assert ab["duration"] >= stored.runtime - 0.05


def test_finished_live_run_has_an_end_time_and_a_duration_that_stays(run_dir: Path) -> None:
    """A finished run shown from its live ``Run`` object (issue 25): the duration ran on, as the
    ``Run`` had no end time (``1m 18s (runtime 9.6 s)``); it now has the stored ``ended`` and
    ``created``, so its overview reads what the stored run's does."""
    run = nbrun.init(project="p")
    run.log({"loss": 1.0})
    assert run.ended is None
    run.finish()
    stored = nbrun.Api(run_dir).run(f"p/{run.id}")
    assert run.ended == stored.ended and run.created == stored.created
    ab = Dashboard(run, start=False).overview["about"]
    assert ab["duration"] == pytest.approx(stored.ended - stored.created)


# -- editing name / tags / notes -------------------------------------------------------------
def _edit(dash: Dashboard, sent: list[dict[str, Any]], req: int, field: Any, value: Any) -> dict:
    from_browser(dash, {"action": "edit", "req": req, "field": field, "value": value})
    (reply,) = [m for m in sent if m.get("type") == "edited" and m.get("req") == req]
    return reply


@pytest.mark.parametrize("live", [True, False])
def test_edit_name_tags_notes_from_the_overview(run_dir: Path, live: bool) -> None:
    """The overview's inputs save through the public setters: stored at once (a new view of
    the store reads them), for a live run and a stored view; markup stays text; bad values are
    refused with the error's text and change nothing."""
    run = nbrun.init(project="p", name="before", tags=["t0"])
    run.log({"loss": 1.0})
    if not live:
        run.finish()
    view = run if live else nbrun.Api(run_dir).run(f"p/{run.id}")
    dash = Dashboard(view, start=False)
    sent = capture(dash)
    try:
        assert _edit(dash, sent, 1, "name", HOSTILE)["ok"]
        assert _edit(dash, sent, 2, "tags", "a, b ,")["ok"]
        assert _edit(dash, sent, 3, "notes", "why <i>this</i>")["ok"]
        stored = nbrun.Api(run_dir).run(f"p/{run.id}")
        assert (stored.name, stored.tags, stored.notes) == (HOSTILE, ("a", "b"), "why <i>this</i>")
        assert dash.overview["name"] == HOSTILE and dash.overview["tags"] == ["a", "b"]
        assert {s["label"] for s in dash.series if s["role"] == "self"} == {f"this · {HOSTILE}"}
        bad = _edit(dash, sent, 4, "name", "")
        assert not bad["ok"] and "must not be empty" in bad["message"]
        unknown = _edit(dash, sent, 5, "state", "finished")
        assert not unknown["ok"] and "'state'" in unknown["message"]
        assert not _edit(dash, sent, 6, "tags", ["", "x"])["ok"]
        assert _edit(dash, sent, 7, "notes", "")["ok"]
        stored = nbrun.Api(run_dir).run(f"p/{run.id}")
        assert (stored.name, stored.tags, stored.notes) == (HOSTILE, ("a", "b"), None)
    finally:
        dash.close()
        if live:
            run.finish()


# -- alerts, step, notes -----------------------------------------------------------------------
def test_alerts_reach_the_overview_as_they_arrive(run_dir: Path) -> None:
    run = nbrun.init(project="p")
    run.log({"loss": 1.0})
    dash = Dashboard(run, start=False)
    try:
        assert dash.overview["alerts"] == []
        run.alert("diverging", HOSTILE, level="WARN")
        dash._last_overview = 0.0  # the next poll refreshes the overview
        dash.poll()
        (alert,) = dash.overview["alerts"]
        assert (alert["title"], alert["text"], alert["level"]) == ("diverging", HOSTILE, "WARN")
    finally:
        dash.close()
        run.finish()


def test_overview_step_is_the_last_logged_step(run_dir: Path) -> None:
    run = nbrun.init(project="p")
    dash = Dashboard(run, start=False)
    assert dash.overview["last_step"] is None  # nothing logged yet
    dash.close()
    for i in range(7):
        run.log({"loss": 1.0 / (i + 1)})
    run.finish()
    ov = Dashboard(nbrun.Api(run_dir).run(f"p/{run.id}"), start=False).overview
    assert ov["last_step"] == 6 == nbrun.Api(run_dir).run(f"p/{run.id}").history()["_step"].max()


# -- chart order -------------------------------------------------------------------------------
def test_charts_come_in_first_logged_order(run_dir: Path) -> None:
    run = nbrun.init(project="p", settings={"flush_interval": 0.05})
    run.log({"zeta": 1.0, "loss": 2.0, "acc": 0.1})
    run.log({"beta": 1.0})
    run.log({"alpha": 1.0, "loss": 1.0})
    dash = Dashboard(run, start=False)
    try:
        assert [c["metric"] for c in dash.charts] == ["zeta", "loss", "acc", "beta", "alpha"]
        run.log({"b2": 1.0, "a2": 2.0})  # metrics that arrive live join at the end, in order
        run.log({"loss": 0.5})  # writes the row before
        wait_for(lambda: dash.poll() is not None and len(dash.charts) == 7)
        assert [c["metric"] for c in dash.charts][-2:] == ["b2", "a2"]
    finally:
        dash.close()
        run.finish()


# -- a fork's chart after its parent is rewound ------------------------------------------------
def _parent_and_fork(run_dir: Path) -> tuple[nbrun.Run, nbrun.Run]:
    parent = nbrun.init(project="p", name="parent")
    for i in range(30):
        parent.log({"loss": 1 / (i + 1)})
    parent.finish()
    fork = nbrun.init(project="p", fork_from=f"{parent.id}?_step=10", reinit="create_new")
    for _ in range(5):
        fork.log({"loss": 0.01})
    fork.finish()
    return parent, fork


def _rewind(run_dir: Path, run_id: str, step: int) -> None:
    rw = nbrun.init(project="p", id=run_id, resume_from=f"{run_id}?_step={step}")
    rw.log({"loss": 0.9})
    rw.finish()


@pytest.mark.parametrize(("rewind_at", "parent_steps"), [(5, None), (20, [*range(10, 22)])])
def test_open_fork_dashboard_follows_its_parents_rewind(
    run_dir: Path, rewind_at: int, parent_steps: list[int] | None
) -> None:
    """Rewound before the fork point, the parent's line ends there (no longer drawn past it);
    rewound after it, the parent's archived rows leave the fork's chart and its new row joins."""
    parent, fork = _parent_and_fork(run_dir)
    dash = Dashboard(nbrun.Api(run_dir).run(f"p/{fork.id}"), start=False)
    try:
        key = f"parent:{parent.id}"
        assert [p[3] for p in dash._base["points"]["loss"][key]] == list(range(10, 30))
        _rewind(run_dir, parent.id, rewind_at)
        dash._last_structure = 0.0  # the next poll looks for rewound lines
        dash.poll()
        drawn = dash._base["points"]["loss"].get(key)
        if parent_steps is None:
            assert drawn is None and key not in {s["key"] for s in dash.series}
        else:
            assert [p[3] for p in drawn] == parent_steps
        # the fork's own rows are untouched
        assert [p[3] for p in dash._base["points"]["loss"][f"self:{fork.id}"]] == [*range(11, 16)]
        # a dashboard opened afterwards agrees
        again = Dashboard(nbrun.Api(run_dir).run(f"p/{fork.id}"), start=False)
        assert again._base["points"]["loss"].get(key) == drawn
        again.close()
    finally:
        dash.close()
