"""The widgets driven from Python: messages and trait changes exactly as the front end sends
them (through ipywidgets' own comm dispatcher), chart data, downsampling, the project view and
the shipped JavaScript."""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import altair as alt
import anywidget
import ipywidgets
import numpy as np
import pytest

import nbrun
from nbrun.widgets import Dashboard, MinMaxSeries, ProjectView, chart, display_run
from nbrun.widgets._assets import boot_data_url, in_marimo
from nbrun.widgets._data import flatten_row, step_metric_for
from tests.conftest import wait_for

STATIC = Path(nbrun.__file__).parent / "widgets" / "static"
HOSTILE = "<img src=x onerror=alert(1)>"


# -- helpers ------------------------------------------------------------------------------------
def from_browser(widget: Any, content: dict[str, Any]) -> None:
    """Deliver a custom message as the browser's ``model.send(content)`` does."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def set_from_browser(widget: Any, **state: Any) -> None:
    """Deliver a trait change as the browser's ``model.set(...); model.save_changes()`` does."""
    widget._handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        }
    )


def capture(widget: Any) -> list[dict[str, Any]]:
    """Record the custom messages the widget sends to the browser's dashboard module (the
    loader's own ``nbrun_*`` messages, rule 64, are not for it: tests/unit/test_assets.py)."""
    sent: list[dict[str, Any]] = []

    def send(content: dict[str, Any], buffers: Any = None) -> None:
        if not str(content.get("type", "")).startswith("nbrun_"):
            sent.append(content)

    widget.send = send
    return sent


class BrowserModel:
    """What js/dashboard.js keeps per widget: the points of each series, following ``_base``
    snapshots and ``delta`` messages (drop indexes >= from, insert)."""

    def __init__(self) -> None:
        self.seq = -1
        self.points: dict[tuple[str, str], list[list[Any]]] = {}

    def base(self, base: dict[str, Any]) -> None:
        if base["seq"] < self.seq:
            return
        self.seq = base["seq"]
        self.points = {(m, s): list(p) for m, by in base["points"].items() for s, p in by.items()}

    def delta(self, msg: dict[str, Any]) -> None:
        assert msg["type"] == "delta"
        if msg["seq"] <= self.seq:
            return
        assert msg["seq"] == self.seq + 1, "a delta was skipped"
        self.seq = msg["seq"]
        for metric, series, start, pts in msg["changes"]:
            old = self.points.get((metric, series), [])
            self.points[(metric, series)] = [p for p in old if p[0] < start] + pts


def roles(dash: Dashboard) -> dict[str, str]:
    return {s["key"]: s["role"] for s in dash.series}


def make_lineage(run_dir: Path) -> tuple[str, str, str]:
    """A parent (30 rows, rewound at 25), a fork at 10 and a sibling fork at 20."""
    parent = nbrun.init(project="p", dir=run_dir, config={"lr": 0.1, "layers": 2}, name="parent")
    for i in range(30):
        parent.log({"loss": 1 / (i + 1), "acc": i / 30})
    parent.finish()
    fork = nbrun.init(
        project="p",
        dir=run_dir,
        fork_from=f"{parent.id}?_step=10",
        config={"lr": 0.2},
        name=HOSTILE,
    )
    for i in range(8):
        fork.log({"loss": 0.05 - i * 0.001})
    fork.finish()
    sib = nbrun.init(
        project="p", dir=run_dir, fork_from=f"{parent.id}?_step=20", config={"lr": 0.3}
    )
    sib.log({"loss": 0.02})
    sib.finish()
    rw = nbrun.init(project="p", dir=run_dir, id=parent.id, resume_from=f"{parent.id}?_step=25")
    rw.log({"loss": 0.5})
    rw.finish()
    return parent.id, fork.id, sib.id


# -- downsampling ---------------------------------------------------------------------------------
def test_minmax_keeps_spikes_and_caps_points() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    ys = rng.normal(size=n)
    spikes = rng.choice(n, 5, replace=False)
    ys[spikes[:3]] = 50.0
    ys[spikes[3:]] = -50.0
    s = MinMaxSeries(2000)
    steps = np.arange(n)
    assert s.extend(steps, ys, steps) == 0
    pts = s.points()
    assert len(pts) <= 2000
    kept = {p[3] for p in pts}
    # every spike's bucket keeps it (several spikes may share one bucket: then one survives)
    assert max(p[2] for p in pts) == 50.0 and min(p[2] for p in pts) == -50.0
    for spike in spikes:
        bucket = [p for p in pts if abs(p[3] - spike) < s.width]
        assert any(abs(p[2]) == 50.0 for p in bucket), spike
    assert sorted(kept) == [p[3] for p in pts], "points come in step order"
    assert [p[0] for p in pts] == sorted(p[0] for p in pts)


def test_minmax_streaming_equals_contract_and_stays_capped() -> None:
    """Streaming in uneven chunks through the delta contract gives the browser exactly the
    series' points, never more than the cap, with the extremes of everything seen."""
    rng = np.random.default_rng(1)
    s = MinMaxSeries(200)
    browser: list[list[Any]] = []
    step, all_y = 0, []
    for _ in range(300):
        k = int(rng.integers(1, 120))
        ys = rng.normal(size=k)
        if rng.random() < 0.05:
            ys[int(rng.integers(0, k))] = rng.choice([-99.0, 99.0])
        steps = list(range(step, step + k))
        step += k
        all_y.extend(ys)
        first = s.extend([float(x) for x in steps], list(ys), steps)
        assert first is not None
        browser = [p for p in browser if p[0] < 2 * first] + s.points(first)
        assert browser == s.points()
        assert len(browser) <= 200
    ys_shown = [p[2] for p in browser]
    assert max(ys_shown) == max(all_y) and min(ys_shown) == min(all_y)
    assert s.rows == len(all_y)


def test_row_helpers() -> None:
    assert flatten_row({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
    defs = {"val/*": {"step_metric": "epoch"}, "acc": {"step_metric": "batch"}}
    assert step_metric_for("val/loss", defs) == "epoch"
    assert step_metric_for("acc", defs) == "batch"
    assert step_metric_for("loss", defs) == "_step"


# -- chart data and lineage -------------------------------------------------------------------
def test_dashboard_draws_lineage_and_overview_as_text(run_dir: Path) -> None:
    parent_id, fork_id, sib_id = make_lineage(run_dir)
    view = nbrun.Api(run_dir).run(f"p/{fork_id}")
    dash = Dashboard(view, start=False)
    try:
        r = roles(dash)
        assert r == {
            f"inherited:{fork_id}": "inherited",
            f"self:{fork_id}": "self",
            f"parent:{parent_id}": "parent",
            f"sibling:{sib_id}": "sibling",
        }
        assert len({s["color"] for s in dash.series if s["role"] != "inherited"}) == 3
        assert [c["metric"] for c in dash.charts] == ["loss", "acc"]  # first-logged order
        pts = dash._base["points"]["loss"]
        assert [p[3] for p in pts[f"inherited:{fork_id}"]] == list(range(11))
        assert [p[3] for p in pts[f"self:{fork_id}"]] == list(range(11, 19))
        # the parent is drawn from the fork point on: its current rows (rewound at 25)
        assert [p[3] for p in pts[f"parent:{parent_id}"]] == list(range(10, 27))
        assert [p[3] for p in pts[f"sibling:{sib_id}"]] == [20, 21]
        forks = dash._base["forks"]["loss"]
        assert sorted(f[0] for f in forks) == [10, 20]
        ov = dash.overview
        assert ov["name"] == HOSTILE  # sent verbatim; the front end writes it as text
        assert ov["forked_from"] == {"run_id": parent_id, "step": 10}
        assert ov["config_diff"] == {"lr": {"from": 0.1, "to": 0.2}}
        assert ov["config"] == {"lr": 0.2, "layers": 2}
        json.dumps(dash._base)
        json.dumps(dash.overview)
        json.dumps(dash.charts)
        # the parent's dashboard: its two forks as children and the rewound rows as a ghost
        pdash = Dashboard(nbrun.Api(run_dir).run(f"p/{parent_id}"), start=False)
        pr = roles(pdash)
        assert pr[f"child:{fork_id}"] == "child" and pr[f"child:{sib_id}"] == "child"
        ghost = pdash._base["points"]["loss"][f"ghost:{parent_id}:1"]
        assert [p[3] for p in ghost] == list(range(26, 30))
        assert [a["from_step"] for a in pdash.overview["archives"]] == [26]
        assert {c["id"] for c in pdash.overview["children"]} == {fork_id, sib_id}
        pdash.close()
    finally:
        dash.close()


def test_chart_is_a_plain_altair_chart_with_step_metric(run_dir: Path) -> None:
    run = nbrun.init(project="c", dir=run_dir)
    run.define_metric("acc", step_metric="epoch")
    for i in range(5000):
        run.log(
            {
                "loss": float(np.sin(i / 50)) + (10.0 if i == 4321 else 0.0),
                "acc": i / 5000,
                "epoch": i // 100,
            }
        )
    ch = chart(run, "loss")
    assert type(ch) is alt.Chart
    spec = ch.to_dict()  # validates against Altair's Vega-Lite schema
    assert spec["encoding"]["x"]["title"] == "step"  # one x title in every view (issue 25)
    df = ch.data
    assert len(df) <= 2000
    assert df["y"].max() == pytest.approx(10.0 + np.sin(4321 / 50))  # the spike survives
    acc = chart(run, "acc")
    assert acc.to_dict()["encoding"]["x"]["title"] == "epoch"
    assert set(acc.data["x"]) == set(range(50))
    with pytest.raises(nbrun.UsageError, match="no numeric values of 'nope'"):
        chart(run, "nope")
    run.finish()


# -- live updates ------------------------------------------------------------------------------
def test_live_rows_arrive_as_deltas_and_stay_capped(run_dir: Path) -> None:
    run = nbrun.init(project="live", dir=run_dir)
    dash = Dashboard(run, start=False, max_points=500)
    sent = capture(dash)
    browser = BrowserModel()
    browser.base(dash._base)
    try:
        for chunk in range(40):
            for i in range(250):
                run.log({"loss": float(np.cos((chunk * 250 + i) / 300)), "nested": {"x": i}})
            dash.poll()
            for msg in sent:
                browser.delta(msg)
            sent.clear()
            browser.base(dash._base)
        assert {c["metric"] for c in dash.charts} == {"loss", "nested.x"}
        key = ("loss", f"self:{run.id}")
        expected = dash._data[key].points()
        assert browser.points[key] == expected
        assert len(expected) <= 500
        assert dash._data[key].rows == 10_000
        run.finish()
        assert dash.poll() is False  # nothing live any more
        wait_for(lambda: dash.overview["state"] == "finished")
    finally:
        dash.close()


def test_update_thread_rate_and_final_state(run_dir: Path) -> None:
    """The update thread sends at most one delta per poll and polls at most ``rate`` times a
    second (polls start at least 1/rate apart: sleeps only get longer under load), and what it
    sends reproduces every logged row. No count of messages: how many there are depends on
    the machine's load."""
    run = nbrun.init(project="rate", dir=run_dir)
    dash = Dashboard(run, start=False, max_points=100_000)  # no downsampling: every row kept
    sent: list[dict[str, Any]] = []  # the deltas
    browser = BrowserModel()
    browser.base(dash._base)
    # what the browser gets, in order: deltas (custom messages) and new bases (a new metric)
    stream: list[dict[str, Any]] = []
    # (the loader's own nbrun_* messages carry the traits: the observer below stands for them)
    dash.send = lambda content, buffers=None: (
        None
        if str(content.get("type")).startswith("nbrun_")
        else (sent.append(content), stream.append(content))
    )
    dash.observe(lambda change: stream.append({"type": "base", "base": change["new"]}), "_base")
    polls: list[tuple[float, int]] = []  # (start time, deltas sent before it)
    real_poll = dash.poll

    def timed_poll() -> bool:
        polls.append((time.monotonic(), len(sent)))
        return real_poll()

    dash.poll = timed_poll  # type: ignore[method-assign]
    dash.start()
    n = 0
    try:
        # log until the thread has sent a few deltas (a condition, however slow the machine)
        deadline = time.monotonic() + 60
        while n < 300 or len(sent) < 3:
            assert time.monotonic() < deadline, "the update thread sent no deltas"
            run.log({"loss": float(n)})
            n += 1
            time.sleep(0.0005)
        run.finish()
        wait_for(lambda: dash.overview.get("state") == "finished", timeout=60)
        assert all(m["type"] == "delta" for m in sent)
        assert [m["seq"] for m in sent] == sorted({m["seq"] for m in sent})
        for msg in stream:
            if msg["type"] == "base":
                browser.base(msg["base"])
            else:
                browser.delta(msg)
        key = ("loss", f"self:{run.id}")
        assert [p[3] for p in browser.points[key]] == list(range(n))
        starts = [t for t, _ in polls]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert min(gaps) >= dash._interval - 0.005, min(gaps)
        before = [k for _, k in polls] + [len(sent)]
        assert all(b - a <= 1 for a, b in itertools.pairwise(before)), "one delta per poll"
    finally:
        dash.close()
    assert dash._thread is not None
    dash._thread.join(5)
    assert not dash._thread.is_alive(), "closing the widget stops its thread"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_background_thread_errors_show_in_widget(run_dir: Path) -> None:
    run = nbrun.init(project="err", dir=run_dir)
    run.log({"loss": 1})
    dash = Dashboard(run, start=False)
    dash._sources[0].live = True
    try:

        def boom() -> None:
            raise RuntimeError("boom in a training thread")

        t = threading.Thread(target=boom, name="trainer")
        t.start()
        t.join()
        assert "boom in a training thread" in dash.error
        assert "trainer" in dash.error
    finally:
        dash.close()


# -- buttons: messages as the browser sends them ------------------------------------------------
def test_widgets_keep_the_comm_dispatcher() -> None:
    from nbrun.widgets import RunTable

    for cls in (Dashboard, RunTable, ProjectView):
        assert "_handle_msg" not in cls.__dict__


def test_click_then_fork_message_makes_the_fork(run_dir: Path) -> None:
    parent_id, _, _ = make_lineage(run_dir)
    view = nbrun.Api(run_dir).run(f"p/{parent_id}")
    dash = display_run(view)
    try:
        set_from_browser(dash, selected_step=7)
        assert dash.selected_step == 7
        from_browser(dash, {"action": "fork", "req": 41, "config": {"lr": 0.5, "layers": 2}})
        res = dash.result
        assert res["req"] == 41 and res["ok"], res
        new = nbrun.Api(run_dir).run(f"p/{res['run_id']}")
        assert (new.forked_from.run_id, new.forked_from.step) == (parent_id, 7)
        assert new.config_diff == {"lr": {"from": 0.1, "to": 0.5}}  # unchanged keys not sent
        assert roles(dash)[f"child:{new.id}"] == "child"
        assert any(f[0] == 7 for f in dash._base["forks"]["loss"])
        # an explicit step in the message wins over the selection
        from_browser(dash, {"action": "fork", "req": 42, "step": 3, "config": {}})
        assert (
            dash.result["ok"]
            and nbrun.Api(run_dir).run(f"p/{dash.result['run_id']}").forked_from.step == 3
        )
        # errors from the core come back as text, never swallowed
        from_browser(dash, {"action": "fork", "req": 43, "step": 999})
        assert dash.result["req"] == 43 and not dash.result["ok"]
        assert dash.result["message"].startswith("UsageError")
        assert "999" in dash.result["message"]
        from_browser(dash, {"action": "fork", "req": 44, "step": 2, "config": "lr=1"})
        assert not dash.result["ok"] and "must be a dict" in dash.result["message"]
        from_browser(dash, {"action": "explode", "req": 45})
        assert not dash.result["ok"] and "unknown action" in dash.result["message"]
        from_browser(dash, {"no_action": True})  # ignored
        assert dash.result["req"] == 45
    finally:
        dash.close()


def test_fork_without_selection_is_an_error(run_dir: Path) -> None:
    run = nbrun.init(project="s", dir=run_dir)
    run.log({"loss": 1})
    run.finish()
    dash = Dashboard(nbrun.Api(run_dir).run(f"s/{run.id}"), start=False)
    from_browser(dash, {"action": "fork", "req": 1})
    assert not dash.result["ok"] and "click a point" in dash.result["message"]
    dash.close()


def test_rewind_message_archives_and_redraws(run_dir: Path) -> None:
    run = nbrun.init(project="r", dir=run_dir, config={"lr": 0.1})
    for i in range(20):
        run.log({"loss": float(i)})
    dash = Dashboard(run, start=False)
    try:
        set_from_browser(dash, selected_step=12)
        from_browser(dash, {"action": "rewind", "req": 5})
        assert dash.result["ok"], dash.result
        assert dash.run is not run and dash.run.id == run.id and dash.run.state == "running"
        view = nbrun.Api(run_dir).run(f"r/{run.id}")
        arch = view.archives()
        assert [(a.from_step, a.to_step) for a in arch] == [(13, 19)]
        ghost = dash._base["points"]["loss"][f"ghost:{run.id}:1"]
        assert [p[3] for p in ghost] == list(range(13, 20))
        assert [p[3] for p in dash._base["points"]["loss"][f"self:{run.id}"]] == list(range(13))
        # the resumed run goes on streaming into the same widget
        sent = capture(dash)
        dash.run.log({"loss": -1.0})
        dash.poll()
        assert sent and sent[-1]["changes"][0][3][-1][2:4] == [-1, 13]
        dash.run.finish()
    finally:
        dash.close()


def test_stop_message_kills_a_running_run(run_dir: Path) -> None:
    run = nbrun.init(project="k", dir=run_dir)
    run.log({"loss": 1})
    dash = Dashboard(run, start=False)
    try:
        from_browser(dash, {"action": "stop", "req": 9})
        assert dash.result["ok"], dash.result
        with pytest.raises(nbrun.RunStopped):
            run.log({"loss": 2})
        assert run.state == "killed"
        assert nbrun.Api(run_dir).run(f"k/{run.id}").state == "killed"
        from_browser(dash, {"action": "stop", "req": 10})
        assert not dash.result["ok"] and "killed" in dash.result["message"]
    finally:
        dash.close()


def test_stop_from_a_stored_view_of_a_launched_run(run_dir: Path) -> None:
    started = threading.Event()

    def train(run: Any) -> None:
        for i in range(100_000):
            run.log({"loss": 1 / (i + 1)})
            started.set()
            time.sleep(0.001)

    run = nbrun.launch(train, project="k2", dir=run_dir)
    assert started.wait(60)
    dash = Dashboard(nbrun.Api(run_dir).run(f"k2/{run.id}"), start=False)
    try:
        from_browser(dash, {"action": "stop", "req": 1})
        assert dash.result["ok"], dash.result
        assert run.wait(60)
        assert nbrun.Api(run_dir).run(f"k2/{run.id}").state == "killed"
    finally:
        dash.close()


def test_fork_of_a_launched_run_continues_and_streams(run_dir: Path) -> None:
    """Issue 5's continued training through the same button: the fork restores the
    checkpoint at or before the step, trains in the background and its line grows."""

    def train(run: Any) -> None:
        state = run.restore() or {"x": 0.0}
        for _ in range(run.step, 60):
            state["x"] += run.config["lr"]
            run.log({"x": state["x"]})
            if run.step % 5 == 0:
                run.checkpoint(state)

    run = nbrun.launch(train, project="t", dir=run_dir, config={"lr": 1.0})
    assert run.wait(60)
    dash = Dashboard(nbrun.Api(run_dir).run(f"t/{run.id}"), start=False)
    try:
        assert dash.checkpoints[:3] == [4, 9, 14]
        set_from_browser(dash, selected_step=24)
        from_browser(dash, {"action": "fork", "req": 1, "config": {"lr": 2.0}})
        assert dash.result["ok"], dash.result
        child = nbrun.Api(run_dir).run(f"t/{dash.result['run_id']}")
        assert child.forked_from.step == 24
        key = ("x", f"child:{child.id}")

        def grown() -> bool:
            dash.poll()
            return key in dash._data and dash._data[key].points()[-1][3] == 59

        wait_for(grown, timeout=60)
        assert dash._data[key].points()[-1][2] == 25 + 35 * 2.0
    finally:
        dash.close()


# -- project view -----------------------------------------------------------------------------
def test_project_view_lists_lineage_and_opens_a_dashboard(run_dir: Path) -> None:
    parent_id, fork_id, sib_id = make_lineage(run_dir)
    pv = nbrun.widgets.display_project("p", dir=run_dir)
    rows = pv.table.runs
    assert [(r["id"], r["depth"]) for r in rows] == [(parent_id, 0), (fork_id, 1), (sib_id, 1)]
    assert rows[1]["name"] == HOSTILE and rows[1]["fork_step"] == 10
    assert rows[0]["archives"] == 1
    from_browser(pv.table, {"action": "open", "id": fork_id})
    assert pv.table.opened == f"p/{fork_id}"
    assert isinstance(pv.dashboard, Dashboard) and pv.dashboard.run.id == fork_id
    # one anywidget (rule 72): the dashboard is named by the view's own synced state
    assert isinstance(pv, anywidget.AnyWidget)
    assert pv.get_state("dashboard")["dashboard"] == f"anywidget:{pv.dashboard.model_id}"
    from_browser(pv.table, {"action": "open", "id": "nope"})
    assert "RunNotFoundError" in pv.table.message
    pv.dashboard.close()


# -- the shipped JavaScript ---------------------------------------------------------------------
def test_shipped_javascript_loads_nothing_from_the_internet() -> None:
    files = sorted(STATIC.glob("*.js"))
    names = {f.name for f in files}
    assert {"boot.js", "chart.js", "dashboard.js", "project.js", "vega.js"} <= names, (
        "run `npm run build`"
    )
    assert (STATIC / "vega.js").stat().st_size > 300_000, "Vega is bundled in"
    # the dashboard's own module leaves Vega out: both load on demand (widgets/_assets.py)
    assert (STATIC / "dashboard.js").stat().st_size < 150_000
    assert (STATIC / "boot.js").stat().st_size < 5_000  # the part saved with each widget
    assert (STATIC / "chart.js").stat().st_size < 20_000  # run.chart()'s module loads it too
    remote_import = re.compile(
        r"""(\bimport\s*\(\s*|\bfrom\s*|\bimport\s+)["'`](https?:)?//""", re.IGNORECASE
    )
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert not remote_import.search(text), f"{f.name} imports from the network"
        for cdn in ("esm.sh", "jsdelivr", "unpkg", "cdn.skypack", "jspm.io"):
            assert cdn not in text, f"{f.name} names {cdn}"


@pytest.mark.slow  # a second interpreter logging 150 paced rows: ~3-4 s
def test_stored_view_follows_a_run_written_by_another_process(run_dir: Path) -> None:
    """A stored view of a run that another process is writing polls the store."""
    import subprocess
    import sys

    from tests.conftest import python_env

    script = (
        "import sys, time, nbrun\n"
        "run = nbrun.init(project='x', dir=sys.argv[1])\n"
        "print(run.id, flush=True)\n"
        "for i in range(150):\n"
        "    run.log({'loss': float(i)})\n"
        "    time.sleep(0.01)\n"
        "    if i == 20: sys.stdin.readline()\n"
        "run.finish()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(run_dir)],
        env=python_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = proc.stdout.readline().strip()  # type: ignore[union-attr]
        view = nbrun.Api(run_dir).run(f"x/{run_id}")
        wait_for(lambda: view.step > 5, timeout=60)
        dash = Dashboard(view, start=False)
        sent = capture(dash)
        browser = BrowserModel()
        browser.base(dash._base)
        proc.stdin.write("go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

        def done() -> bool:
            live = dash.poll()
            for msg in sent:
                browser.delta(msg)
            sent.clear()
            browser.base(dash._base)
            return not live

        wait_for(done, timeout=30, interval=0.05)
        key = ("loss", f"self:{run_id}")
        assert [p[3] for p in browser.points[key]] == list(range(150))
        assert dash.overview["state"] == "finished"
        dash.close()
    finally:
        proc.wait(30)


def test_overview_lists_files_and_artifacts_with_versions(run_dir: Path) -> None:
    """Issue 12: the overview shows saved files and the artifacts in and out, with versions
    (inherited ones name the run that logged them); all as plain text data."""
    (run_dir / f"{HOSTILE}.txt").write_text("n")  # names go out as data, drawn as text
    src = nbrun.init(project="p", id="src")
    src.log({"loss": 1.0})
    art = nbrun.Artifact("raw-data", "dataset")
    with art.new_file("d.txt") as f:
        f.write("d")
    src.log_artifact(art, aliases=["best"])
    src.log({"loss": 0.5})
    src.finish()
    fork = nbrun.init(project="p", fork_from="src?_step=1")
    fork.save(f"{HOSTILE}.txt", policy="now")
    fork.use_artifact("raw-data:best")
    model = nbrun.Artifact("m", "model")
    with model.new_file("w.bin", mode="wb") as fb:
        fb.write(b"0" * 2048)
    fork.log_artifact(model)
    dash = Dashboard(fork, start=False)
    try:
        ov = dash.overview
        assert ov["files"] == [{"name": f"{HOSTILE}.txt", "size": 1}]
        assert [(a["name"], a["inherited_from"]) for a in ov["artifacts_out"]] == [
            ("raw-data:v0", "src"),
            ("m:v0", None),
        ]
        assert (
            ov["artifacts_out"][1]["aliases"] == ["latest"]
            and ov["artifacts_out"][1]["size"] == 2048
        )
        assert [a["name"] for a in ov["artifacts_in"]] == ["raw-data:v0"]
        assert ov["artifacts_in"][0]["aliases"] == ["latest", "best"]
        json.dumps(ov)
    finally:
        dash.close()


def test_rule72_every_widget_is_an_anywidget_and_marimo_gets_a_data_url_loader(
    run_dir: Path,
) -> None:
    parent_id, _, _ = make_lineage(run_dir)
    pv = nbrun.widgets.display_project("p", dir=run_dir)
    try:
        assert isinstance(pv, anywidget.AnyWidget)
        assert not isinstance(pv, ipywidgets.Box)  # marimo hosts no ipywidgets container
        assert pv.get_state("dashboard")["dashboard"] is None
        from_browser(pv, {"action": "open", "id": parent_id})
        assert pv.get_state("dashboard")["dashboard"] == f"anywidget:{pv.dashboard.model_id}"
        from_browser(pv, {"action": "delete", "keys": [f"p/{parent_id}"], "detach": True})
        assert pv.dashboard is None and pv.get_state("dashboard")["dashboard"] is None
    finally:
        pv.close()
    # outside marimo's kernel the loader is the file (marimo: the same bytes as a data: URL)
    assert not in_marimo()
    url = boot_data_url()
    assert url.startswith("data:text/javascript;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == (STATIC / "boot.js").read_bytes()
