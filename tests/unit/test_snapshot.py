"""Static snapshots (issue 15): what a saved notebook, nbconvert, GitHub and ``run.to_html()``
show without a kernel. Self-contained HTML + SVG, run data escaped, no scripts, no network; the
display bundle carries it with a meaningful text/plain; ``run.chart`` renders offline."""

from __future__ import annotations

import base64
import html
import html.parser
import math
import re
from pathlib import Path
from typing import Any

import altair as alt
import pytest

import nbrun
from nbrun.widgets import Dashboard, ProjectView, project_to_html, to_html
from nbrun.widgets._snapshot import ML, fmt, nice_ticks, svg_chart

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"
#: every element a snapshot may contain (what the code writes; run data never adds one)
ALLOWED = {
    "html", "head", "meta", "title", "style", "body", "p",
    "div", "span", "b", "table", "tr", "th", "td",
    "svg", "text", "line", "polyline", "rect", "img",
}  # fmt: skip
DATA_SVG = re.compile(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"')


class Tags(html.parser.HTMLParser):
    """The elements and attributes of an HTML text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def parse(text: str) -> Tags:
    p = Tags()
    p.feed(text)
    return p


def images(text: str) -> list[str]:
    """The SVG documents of the snapshot's chart images."""
    return [base64.b64decode(m).decode() for m in DATA_SVG.findall(text)]


def assert_inert(text: str) -> None:
    """No element beyond the snapshot's own, no event handler, nothing loaded from anywhere
    (chart images are ``data:`` SVG, themselves inert)."""
    tags = parse(text).tags
    assert {t for t, _ in tags} <= ALLOWED, {t for t, _ in tags} - ALLOWED
    for tag, attrs in tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert name != "href", (tag, name)
            if name == "src":
                assert tag == "img" and (value or "").startswith("data:image/svg+xml;base64,")
            elif name != "xmlns":
                assert "://" not in (value or ""), (tag, name, value)
    assert "<script" not in text.lower()
    for svg in images(text):
        assert_inert(svg)


def hostile_run(run_dir: Path) -> nbrun.Run:
    run = nbrun.init(
        project="snap",
        name=HOSTILE,
        config={"lr": 0.1, HOSTILE: HOSTILE},
        tags=["t<b>"],
    )
    for i in range(50):
        run.log({"loss": 1 / (i + 1), HOSTILE: float(i), "acc": i / 50})
    return run


def test_snapshot_shows_every_metric_as_svg_with_run_data_escaped(run_dir: Path) -> None:
    run = hostile_run(run_dir)
    run.finish()
    dash = Dashboard(nbrun.Api(run_dir).run(run.path), start=False)
    try:
        data, _meta = dash._repr_mimebundle_()
    finally:
        dash.close()
    assert "application/vnd.jupyter.widget-view+json" in data
    page = data["text/html"]
    assert_inert(page)
    charts = re.findall(r'<img [^>]*data-metric="([^"]*)"', page)
    assert sorted(charts) == sorted(["loss", "acc", html_escape(HOSTILE)])
    svgs = images(page)
    assert len(svgs) == 3 and all(s.count("<polyline") == 1 for s in svgs)
    assert html_escape(HOSTILE) in page  # shown as text
    text = data["text/plain"]
    assert "object at 0x" not in text
    assert f"snap/{run.id}" in text and "finished, last step 49" in text
    assert "loss=0.02" in text  # the summary, 4 significant digits


def html_escape(s: str) -> str:
    return html.escape(s, quote=True)


def test_snapshot_follows_the_run_until_it_ends(run_dir: Path) -> None:
    """The snapshot is the run as it is when asked: a live dashboard's snapshot grows with
    the run and says ``finished`` once it has ended (what refresh_snapshot publishes)."""
    run = nbrun.init(project="snap")
    run.log({"loss": 1.0})
    dash = Dashboard(run, start=False)
    try:
        _first, text0 = dash.snapshot()
        assert "running" in text0
        for i in range(1, 200):
            run.log({"loss": 1 / (i + 1)})
        run.finish()
        dash.poll()
        last, text1 = dash.snapshot()
    finally:
        dash.close()
    assert "finished, last step 199" in text1
    pts = re.search(r'<polyline[^>]*points="([^"]*)"', images(last)[0])
    assert pts is not None and len(pts.group(1).split()) > 100
    assert dash._snapshot_key() != (run.id, "running", 1, 1, 0)


def test_to_html_is_a_self_contained_page(run_dir: Path, tmp_path: Path) -> None:
    run = hostile_run(run_dir)
    run.finish()
    fork = nbrun.Api(run_dir).run(run.path).fork(20, {"lr": 0.5})
    fork.log({"loss": 0.01, "acc": 0.9})
    fork.finish()
    text = run.to_html()
    assert text.startswith("<!DOCTYPE html>")
    assert_inert(text)
    assert "fork" in text  # its fork is drawn and listed
    out = run.to_html(tmp_path / "sub" / "run.html")
    assert out == tmp_path / "sub" / "run.html" and out.read_text().startswith("<!DOCTYPE html>")
    assert nbrun.Api(run_dir).run(fork.path).to_html().count("<polyline") >= 4  # own + inherited
    with pytest.raises(TypeError, match="to_html"):
        to_html(run, 42)  # type: ignore[arg-type]
    proj = project_to_html("snap", dir=run_dir)
    assert_inert(proj)
    assert proj.count("<tr data-run-id=") == 2
    assert re.search(r'<svg [^>]*data-metric="loss"', proj)  # the page draws inline SVG


def test_project_view_bundle_carries_the_table_snapshot(run_dir: Path) -> None:
    run = hostile_run(run_dir)
    run.finish()
    pv = ProjectView("snap", run_dir)
    try:
        bundle = pv._repr_mimebundle_()
    finally:
        pv.close()
    assert bundle is not None
    data = bundle[0]  # an anywidget's (data, metadata), rule 72
    assert "application/vnd.jupyter.widget-view+json" in data
    assert_inert(data["text/html"])
    assert f"({run.id}) finished last step 49" in data["text/plain"]


def test_one_step_vocabulary_and_one_x_title_in_every_view(run_dir: Path) -> None:
    """Issue 25: the dashboard said "step 399" where the project table said 400 and the
    charts' x title was "_step" or "step". Every view now gives the step of the last row
    ("last step"), the x of the last point, and titles the x axis "step"."""
    run = nbrun.init(project="steps")
    for i in range(300):
        run.log({"loss": 25.0 / (i + 1)})
    dash = Dashboard(run, start=False)
    try:
        assert dash.overview["last_step"] == 299
        assert {c["spec"]["layer"][0]["encoding"]["x"]["title"] for c in dash.charts} == {"step"}
        snap = dash._repr_mimebundle_()
    finally:
        dash.close()
    snap = snap[0] if isinstance(snap, tuple) else snap
    assert snap is not None
    assert "last step 299" in snap["text/html"] and "last step 299" in snap["text/plain"]
    assert ">_step<" not in snap["text/html"]
    run.finish()
    pv = ProjectView("steps", run_dir)
    try:
        assert [r["step"] for r in pv.table.runs] == [299]
        bundle = pv._repr_mimebundle_()
    finally:
        pv.close()
    assert bundle is not None and "last step 299" in bundle[0]["text/plain"]
    page = project_to_html("steps", dir=run_dir)
    assert ">last step<" in page and ">299<" in page and ">300<" not in page
    assert run.to_html().count(">_step<") == 0


def test_svg_helpers() -> None:
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(3, 3) == [3]
    assert nice_ticks(float("nan"), 1) == []
    assert fmt(0.0123456) == "0.01235" and fmt(3.0) == "3" and fmt(True) == "True"
    svg = svg_chart("m", "_step", [({"color": "red", "label": "a"}, [(0.0, 1.0)] * 3)])
    assert_inert(svg)
    assert "<polyline" in svg  # a flat line still gets a y range
    assert "no values yet" in svg_chart("m", "_step", [])
    many = [(float(i), float(i % 7)) for i in range(10_000)]
    thin = svg_chart("m", "_step", [({"color": "red", "label": "a"}, many)])
    points = re.search(r'points="([^"]*)"', thin)
    assert points is not None and len(points.group(1).split()) <= 400


def test_run_chart_renders_with_the_bundled_vega(run_dir: Path) -> None:
    """``run.chart`` stays an ``alt.Chart``; displaying it (and any Altair chart) goes through
    the "nbrun" renderer: a widget with the bundled Vega, nothing from a CDN."""
    run = nbrun.init(project="snap")
    for i in range(20):
        run.log({"loss": 1 / (i + 1)})
    run.finish()
    before = alt.renderers.active
    try:
        alt.renderers.enable("default")
        ch = run.chart("loss")
        assert isinstance(ch, alt.Chart)
        assert alt.renderers.active == "nbrun"
        data: Any = ch.properties(width=300)._repr_mimebundle_()
        if isinstance(data, tuple):
            data = data[0]
        assert "application/vnd.jupyter.widget-view+json" in data
        assert "loss" in data["text/plain"]
        blob = str(data)
        for cdn in ("jsdelivr", "unpkg", "esm.sh", "cdn."):
            assert cdn not in blob
        alt.renderers.enable("mimetype")  # a renderer the user chose is kept
        run.chart("loss")
        assert alt.renderers.active == "mimetype"
    finally:
        alt.renderers.enable(before)


def test_project_page_draws_each_run_from_its_buckets_in_the_tables_colour(run_dir: Path) -> None:
    run = hostile_run(run_dir)
    run.finish()
    fork = nbrun.Api(run_dir).run(run.path).fork(20, {"lr": 0.5})
    for _ in range(5):
        fork.log({"loss": 0.01, "acc": 0.9})
    fork.finish()
    pv = ProjectView("snap", run_dir)
    try:
        colors = {r["id"]: r["color"] for r in pv.table.runs}
    finally:
        pv.close()
    page = project_to_html("snap", dir=run_dir)
    loss = re.search(r'<svg [^>]*data-metric="loss".*?</svg>', page, re.S)
    assert loss is not None
    strokes = re.findall(r'<polyline [^>]*stroke="([^"]+)"', loss.group(0))
    assert sorted(strokes) == sorted(colors.values())  # one line per run, the table's colour
    # the fork's own line from its fork step 20 on (its inherited part is its parent's line,
    # not drawn again over it, issue 25): step 20 and 5 of its own, every point kept
    fork_line = re.search(
        rf'<polyline [^>]*stroke="{colors[fork.id]}"[^>]*points="([^"]+)"', loss.group(0)
    )
    assert fork_line is not None and len(fork_line.group(1).split()) == 6


def quickstart_family(run_dir: Path) -> tuple[nbrun.Run, nbrun.Run]:
    """The quickstart's shape: loss 25 -> 0.002 over 300 steps; a fork at step 150 with
    another lr, whose loss falls half as fast from there."""
    k = math.log(25 / 0.002) / 299
    run = nbrun.init(project="qs", name="parent", config={"lr": 0.1})
    for s in range(300):
        run.log({"loss": 25 * math.exp(-k * s)})
    run.finish()
    fork = nbrun.Api(run_dir).run(run.path).fork(150, {"lr": 0.01})
    for s in range(151, 300):
        fork.log({"loss": 25 * math.exp(-k * 150 - k * 0.5 * (s - 150))})
    fork.finish()
    return run, fork


def polylines(svg: str) -> dict[str, list[tuple[float, float]]]:
    """Each polyline's points by its stroke colour (the last one drawn of a colour)."""
    out = {}
    for stroke, pts in re.findall(r'<polyline [^>]*stroke="([^"]+)"[^>]*points="([^"]+)"', svg):
        out[stroke] = [tuple(map(float, p.split(","))) for p in pts.split()]
    return out


@pytest.mark.parametrize("view", ["project_to_html", "to_html", "project_snapshot"])
def test_a_forks_difference_shows_in_every_static_view(run_dir: Path, view: str) -> None:
    # issue 25: the fork's line started at step 0 over its parent's (hiding it) on a linear
    # axis set by the first steps, so parent and fork looked identical
    run, fork = quickstart_family(run_dir)
    pv = ProjectView("qs", run_dir)
    try:
        colors = {r["id"]: r["color"] for r in pv.table.runs}
        bundle = (pv._repr_mimebundle_() or ({}, {}))[0]
    finally:
        pv.close()
    assert colors[run.id] != colors[fork.id]
    if view == "project_to_html":
        text = project_to_html("qs", dir=run_dir)
    elif view == "to_html":
        text = to_html(nbrun.Api(run_dir).run(run.path))
    else:
        text = "".join(images(bundle["text/html"]))
    assert_inert(text)
    loss = re.search(r'<svg [^>]*data-metric="loss".*?</svg>', text, re.S)
    assert loss is not None
    lines = polylines(loss.group(0))
    parent, child = lines[colors[run.id]], lines[colors[fork.id]]
    # the fork is drawn from its fork step on: the parent's line before it is not covered
    x_fork = min(parent, key=lambda p: abs(p[0] - child[0][0]))[0]
    assert child[0][0] >= x_fork and x_fork > parent[0][0] + 20
    # -- rule 66: the chart starts just before the fork (the parent cut at the plot's left
    # edge), y fitted to the steps shown; the range is named
    assert parent[0][0] == ML and re.search(r"from step 13[5-9]", loss.group(0))
    # after the fork the two lines are apart by a visible margin, the parent's colour there
    end_parent, end_child = parent[-1], child[-1]
    assert abs(end_parent[0] - end_child[0]) < 3
    assert abs(end_parent[1] - end_child[1]) >= 40  # (20 over the whole run)
    assert sum(1 for x, _ in parent if x > x_fork) >= 10
    assert "log y" in loss.group(0)  # the loss spans 4 decades: a log axis, labelled


def test_svg_chart_goes_log_only_for_positive_values_spanning_three_decades() -> None:
    meta = {"label": "a", "color": "#123456"}
    wide = svg_chart("m", "step", [(meta, [(0, 25.0), (1, 0.5), (2, 0.002)])])
    assert "log y" in wide
    ys = [float(p.split(",")[1]) for p in re.search(r'points="([^"]+)"', wide)[1].split()]
    assert abs((ys[1] - ys[0]) - (ys[2] - ys[1])) < 40  # decades evenly apart, not squashed
    for values in ([25.0, 0.5, 0.0], [25.0, 0.5, -0.002], [25.0, 1.0, 0.03]):
        flat = svg_chart("m", "step", [(meta, list(enumerate(values)))])
        assert "log y" not in flat  # a zero, a negative or under 3 decades: linear
