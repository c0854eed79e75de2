"""The dashboard charts' data for the interactions of issue 15: one colour per run in every
view (a family's runs distinct), roles by width and dash, a fork's config diff for its legend
label, the extra x columns (``_runtime``, ``_timestamp``) on every point, fork marks that the
browser can place on any x axis, and a dashboard spec that is valid Vega-Lite with the signals
the browser drives."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nbrun
from nbrun.widgets import Dashboard, MinMaxSeries
from nbrun.widgets._charts import dashboard_spec
from nbrun.widgets._colors import PALETTE, family_colors, run_color

from .test_widgets import make_lineage


def test_family_colors_are_distinct_and_older_runs_keep_theirs() -> None:
    ids = [f"run{n:03d}" for n in range(12)]
    colors = family_colors(ids)
    assert len(set(colors.values())) == 12  # fewer runs than colours: never shared
    assert colors[ids[0]] == run_color(ids[0])  # the oldest always has its own pick
    # a new fork (the newest run) never changes an older run's colour
    grown = family_colors([*ids, "newfork"])
    assert all(grown[i] == colors[i] for i in ids)
    # two ids whose picks collide: the younger one moves to another colour
    a = "a0"
    b = next(f"b{n}" for n in range(10_000) if run_color(f"b{n}") == run_color(a))
    pair = family_colors([a, b])
    assert pair[a] == run_color(a) and pair[b] != pair[a]
    # past the palette colours repeat rather than fail
    many = family_colors([f"r{n}" for n in range(len(PALETTE) + 5)])
    assert set(many.values()) == set(PALETTE)


@pytest.mark.slow
def test_a_fork_has_one_colour_in_every_dashboard(run_dir: Path) -> None:
    parent_id, fork_id, sib_id = make_lineage(run_dir)
    api = nbrun.Api(run_dir)
    by_view = {}
    for rid in (parent_id, fork_id, sib_id):
        dash = Dashboard(api.run(f"p/{rid}"), start=False)
        try:
            by_view[rid] = {s["run_id"]: s["color"] for s in dash.series}
        finally:
            dash.close()
    for rid in (parent_id, fork_id, sib_id):
        seen = {colors[rid] for colors in by_view.values() if rid in colors}
        assert len(seen) == 1, (rid, by_view)
    family = by_view[fork_id]
    assert len({family[parent_id], family[fork_id], family[sib_id]}) == 3


def test_series_meta_roles_by_width_fork_diff_and_time_columns(run_dir: Path) -> None:
    parent_id, fork_id, sib_id = make_lineage(run_dir)
    dash = Dashboard(nbrun.Api(run_dir).run(f"p/{parent_id}"), start=False)
    try:
        series = {s["key"]: s for s in dash.series}
        own = series[f"self:{parent_id}"]
        fork = series[f"child:{fork_id}"]
        ghost = next(s for s in dash.series if s["role"] == "ghost")
        assert own["width"] > fork["width"]
        assert own["diff"] is None and own["name"] == "parent"
        assert fork["diff"] == {"lr": [0.1, 0.2]} and fork["fork_step"] == 10
        assert series[f"child:{sib_id}"]["diff"] == {"lr": [0.1, 0.3]}
        # -- rule 67: a fork's line names the run it is compared with, a root none
        assert fork["parent_id"] == parent_id and own["parent_id"] is None
        # the archived segment keeps its run's colour, dotted and clearly visible
        assert ghost["color"] == own["color"] and ghost["dash"] == "ghost"
        assert ghost["opacity"] >= 0.7
        # every point carries _runtime and _timestamp after its step
        for by_series in dash._base["points"].values():
            for pts in by_series.values():
                for p in pts:
                    assert len(p) == 6
                    assert p[4] is not None and p[4] >= 0
                    assert p[5] is not None and p[5] > 1e9
        # fork marks carry the step and run id of the point they sit on
        marks = dash._base["forks"]["loss"]
        assert sorted((m[4], m[5]) for m in marks) == sorted([(10, fork_id), (20, sib_id)])
    finally:
        dash.close()


def test_minmax_carries_extra_columns_with_their_points() -> None:
    mm = MinMaxSeries(8)
    n = 1000
    xs = np.arange(n, dtype=float)
    ys = np.sin(xs / 10)
    rt = xs * 0.5
    ts = 1.7e9 + xs
    mm.extend(xs[:3], ys[:3], np.arange(3), [rt[:3], ts[:3]])
    mm.extend(xs[3:], ys[3:], np.arange(3, n), [rt[3:], ts[3:]])
    for _, x, _, step, runtime, stamp in mm.points():
        assert runtime == x * 0.5 and stamp == 1.7e9 + x and step == x
    # without extra columns a point is [index, x, y, step], as before
    plain = MinMaxSeries(8)
    plain.extend([0.0, 1.0], [1.0, 2.0], [0, 1])
    assert [len(p) for p in plain.points()] == [4, 4]
    nan = MinMaxSeries(8)
    nan.extend([0.0], [1.0], [0], [[float("nan")]])
    assert nan.points() == [[0, 0, 1, 0, None]]


@settings(max_examples=60, deadline=None)
@given(
    cap=st.sampled_from([4, 6, 10, 64]),
    ys=st.lists(st.sampled_from([1.0, 2.5, -0.0, 3e16, 0.125, -7.0]), max_size=300),
    extra=st.booleans(),
    from_frac=st.floats(0, 1),
)
def test_minmax_points_are_each_buckets_distinct_points_in_step_order(
    cap: int, ys: list[float], extra: bool, from_frac: float
) -> None:
    mm = MinMaxSeries(cap)
    n = len(ys)
    xs = [i + 0.5 if i % 3 else float(i) for i in range(n)]
    more = [[i * 0.1234567 if i % 4 else float("nan") for i in range(n)]] if extra else []
    mm.extend(xs, ys, list(range(n)), more)
    start = int(from_frac * len(mm.buckets))
    want = []
    for b in range(start, len(mm.buckets)):
        _, lo, hi = mm.buckets[b]
        pts = [lo] if lo[2] == hi[2] else sorted([lo, hi], key=lambda p: p[2])
        for j, p in enumerate(pts):
            rest = [None if v != v else round(v, 3) for v in p[3:]]
            want.append([2 * b + j, p[0], p[1], p[2], *rest])
    got = mm.points(start)
    assert got == want
    # whole numbers go on the wire as ints (shorter JSON), others as floats
    for row in got:
        for v in row[1:3]:
            assert type(v) is (int if float(v).is_integer() and abs(v) < 2**53 else float)


def test_dashboard_spec_is_valid_vega_lite_with_the_browser_signals() -> None:
    spec = dashboard_spec("val/loss", "epoch")
    alt.LayerChart.from_dict(spec, validate=True)  # raises on an invalid spec
    assert {p["name"] for p in spec["params"]} == {"xdom", "ydom", "hl"}
    names = [layer["name"] for layer in spec["layer"]]
    assert {"lines", "picks", "hoverrule", "hoverdots", "forkmarks", "forkcounts"} <= set(names)
    assert {"selrule", "selring", "ckptmarks"} <= set(names)
    lines = spec["layer"][names.index("lines")]["encoding"]
    assert lines["x"]["scale"]["domain"] == {"expr": "xdom"}
    assert lines["y"]["scale"]["domain"] == {"expr": "ydom"}
    assert lines["x"]["title"] == "epoch"
    # the selection marker is neutral: no run colour
    ring = spec["layer"][names.index("selring")]["mark"]["color"]
    assert ring not in PALETTE
