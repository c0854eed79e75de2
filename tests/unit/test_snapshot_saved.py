"""What a saved notebook's snapshot carries (issue 25, rule 65): the media panels of the last
step and every fork, also one made after the dashboard was displayed; and the dashboard's
saved widget state (rule 64): a small loader, no data, no Vega."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nbrun
from nbrun.widgets import Dashboard, to_html
from nbrun.widgets import _dashboard as dashboard_module
from nbrun.widgets._assets import ASSETS, STATIC, asset_path
from tests.unit.test_snapshot import ALLOWED, images, parse
from tests.unit.test_widgets import from_browser

HOSTILE = '<img src=x onerror="window.pwned=1">'


def solid(value: int) -> np.ndarray:
    return np.full((16, 16, 3), value, dtype=np.uint8)


def assert_inert(text: str) -> None:
    """Only the snapshot's own elements; images are nbrun's ``data:`` PNG thumbnails or SVG
    charts; no handler, script or remote URL."""
    tags = parse(text).tags
    assert {t for t, _ in tags} <= ALLOWED, {t for t, _ in tags} - ALLOWED
    for tag, attrs in tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name == "src":
                assert tag == "img"
                assert (value or "").startswith(("data:image/svg+xml;base64,", "data:image/png"))
            elif name != "xmlns":
                assert "://" not in (value or ""), (tag, name, value)
    assert "<script" not in text.lower()


def media_run(run_dir: Path) -> nbrun.Run:
    run = nbrun.init(project="snapmedia", dir=run_dir)
    for i in range(6):
        run.log(
            {
                "loss": 1 / (i + 1),
                "w": nbrun.Histogram(np.arange(20) * (i + 1)),
                "img": [nbrun.Image(solid(40 * i), caption=HOSTILE), nbrun.Image(solid(9))],
            }
        )
    table = nbrun.Table(columns=["id", HOSTILE], data=[[k, f"v{k}"] for k in range(30)])
    run.log({"preds": table, "page": nbrun.Html("<script>window.pwned=2</script>")})
    run.finish()
    return run


# -- rule 65: media panels ----------------------------------------------------------------------
@pytest.mark.parametrize("where", ["dashboard", "to_html"])
def test_rule65_snapshot_carries_the_last_steps_media_panels(run_dir: Path, where: str) -> None:
    run = media_run(run_dir)
    view = nbrun.Api(run_dir).run(run.path)
    if where == "dashboard":
        dash = Dashboard(view, start=False)
        try:
            text, _plain = dash.snapshot()
        finally:
            dash.close()
    else:
        text = to_html(view)
    assert_inert(text)
    panels = dict(
        re.findall(r'class="nbrun-snap-panel" data-key="([^"]+)" data-kind="(\w+)"', text)
    )
    assert panels == {"img": "image", "w": "histogram", "preds": "table", "page": "html"}
    # the images of the last step (5): two PNG thumbnails, the hostile caption as text
    img = re.search(r'data-key="img".*?</div></div></div>', text, re.S)
    assert img is not None and "step 5" in img.group(0)
    pngs = re.findall(r'class="nbrun-snap-image" src="data:image/png;base64,([^"]+)"', text)
    assert len(pngs) == 2 and all(base64.b64decode(p)[:4] == b"\x89PNG" for p in pngs)
    assert "&lt;img src=x onerror=" in text and HOSTILE not in text
    # the table's first rows and its size; the histogram's bars as an SVG image
    assert "<td" in text and ">v0<" in text and ">v7<" in text and ">v8<" not in text
    assert "30 rows" in text
    hist = re.search(r'class="nbrun-snap-hist"[^>]*src="data:image/svg\+xml;base64,([^"]+)"', text)
    assert hist is not None
    bars = base64.b64decode(hist.group(1)).decode()
    assert bars.count("<rect") == 64  # W&B's default num_bins
    # the HTML page is named, never embedded
    assert "window.pwned=2" not in text and "shown in the live dashboard" in text


def test_rule65_a_run_without_media_has_no_media_section(run_dir: Path) -> None:
    run = nbrun.init(project="plain", dir=run_dir)
    run.log({"loss": 1.0})
    run.finish()
    assert "nbrun-snap-media" not in to_html(nbrun.Api(run_dir).run(run.path))


# -- rule 65: forks -------------------------------------------------------------------------------
def test_rule65_snapshot_after_a_cell_draws_a_fork_made_after_display(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quickstart displays the run, then forks it in a later cell with ``run.fork``: the
    snapshot published after that cell draws the fork's line (before: listed, not drawn)."""
    published: list[tuple[str, str]] = []
    monkeypatch.setattr(
        dashboard_module, "publish_snapshot", lambda _id, html, text: published.append((html, text))
    )
    run = nbrun.init(project="later", dir=run_dir)
    for i in range(100):
        run.log({"loss": 25 / (i + 1)})
    run.finish()
    view = nbrun.Api(run_dir).run(run.path)
    dash = Dashboard(view, start=False)
    try:
        dash._display_id = dash.snapshot_id  # as displayed in a notebook
        fork = nbrun.init(project="later", dir=run_dir, fork_from=f"{run.id}?_step=50")
        for i in range(51, 100):
            fork.log({"loss": 10 / (i + 1)})
        fork.finish()
        assert dash.refresh_snapshot(from_cell=True)  # what runs after every cell
        colors = {s["run_id"]: s["color"] for s in dash.series if s["role"] == "child"}
    finally:
        dash.close()
    html, _text = published[-1]
    assert fork.id in colors, "the fork did not join the chart"
    loss = images(html)[0]
    strokes = re.findall(r'<polyline [^>]*stroke="([^"]+)"', loss)
    assert colors[fork.id] in strokes  # drawn, not only listed
    assert fork.id in html


# -- rule 64: the saved state -------------------------------------------------------------------
def test_rule64_dashboard_data_leaves_the_synced_state_once_a_loader_has_it(
    run_dir: Path,
) -> None:
    run = media_run(run_dir)
    dash = Dashboard(nbrun.Api(run_dir).run(run.path), start=False)
    sent: list[tuple[dict[str, Any], list[Any]]] = []
    dash.send = lambda content, buffers=None: sent.append((content, list(buffers or [])))
    raw: list[tuple[dict[str, Any], list[Any]]] = []  # ipywidgets' own messages (updates)
    dash._send = lambda msg, buffers=None: raw.append((msg, list(buffers or [])))
    try:
        # at first the data is in the synced state (a view shows without asking the kernel)
        state = dash.get_state()
        assert state["_inline"] == list(Dashboard._transient)
        assert set(Dashboard._transient) <= state.keys()
        assert state["_module"] == asset_path("dashboard.js")
        assert state["_vega"] == asset_path("vega.js")
        # after a cell, nbclient's copy is emptied by a message front ends ignore
        dash.clear_saved_data()
        (msg, buffers), *_ = raw
        assert msg["method"] == "nbrun_saved" and msg["state"]["_inline"] == []
        assert msg["state"]["charts"] == [] and msg["state"]["overview"] == {}
        assert msg["buffer_paths"] == [["_base"]] and bytes(buffers[0]) == b"{}"
        assert dash._inline == list(Dashboard._transient)  # nothing changed for the browser
        # a loader read it: the synced copies are emptied (what JupyterLab saves) ...
        raw.clear()
        from_browser(dash, {"nbrun": "state", "have": True})
        assert dash._inline == []
        updates = [m for m, _ in raw if m["method"] == "update"]
        assert {"_inline": []} in [m["state"] for m in updates]
        assert any(m["state"].get("charts") == [] for m in updates)
        assert not [s for s in sent if s[0].get("type") == "nbrun_traits"]  # it has the data
        state = dash.get_state()
        assert not set(Dashboard._transient) & state.keys()
        assert len(json.dumps(state, default=str)) < 5_000
        # ... and later changes go as messages, never as a saved update
        raw.clear()
        dash.error = "boom"
        assert [s[0]["state"] for s in sent if s[0].get("type") == "nbrun_traits"] == [
            {"error": "boom"}
        ]
        assert raw == []
        # a loader that found no data (a reload) asks: one full message, _base as a buffer
        from_browser(dash, {"nbrun": "state"})
        msgs = [s for s in sent if s[0].get("type") == "nbrun_traits" and s[0]["full"]]
        [(full, buffers)] = msgs
        assert set(full["state"]) | {"_base"} == set(Dashboard._transient)
        assert full["buffer_paths"] == [["_base"]]
        assert json.loads(bytes(buffers[0])) == dash._base
        # the small traits stay synced (the browser sets selected_step)
        assert "selected_step" in dash.keys and "selected_step" not in Dashboard._transient
    finally:
        dash.close()


@pytest.mark.parametrize("name", ["vega.js", "dashboard.js", "../_assets.py", "boot.js"])
def test_rule64_kernel_answers_asset_requests_with_the_files_bytes(
    run_dir: Path, name: str
) -> None:
    run = nbrun.init(project="assets", dir=run_dir)
    run.log({"loss": 1.0})
    run.finish()
    dash = Dashboard(nbrun.Api(run_dir).run(run.path), start=False)
    sent: list[tuple[dict[str, Any], list[Any]]] = []
    dash.send = lambda content, buffers=None: sent.append((content, list(buffers or [])))
    try:
        from_browser(dash, {"nbrun": "asset", "name": name})
    finally:
        dash.close()
    [(reply, buffers)] = [s for s in sent if s[0].get("type") == "nbrun_asset"]
    assert reply["name"] == name
    if name in ASSETS:
        assert reply["ok"] is True and bytes(buffers[0]) == (STATIC / name).read_bytes()
    else:  # only the shipped modules, never another file
        assert reply["ok"] is False and buffers == [] and "unknown asset" in reply["message"]
