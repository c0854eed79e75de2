"""The family tree (rules 62-63): a run's family read from a real store, laid out by step and
branch, coloured by a metric, drawn as static SVG and as the widgets' layout."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

import nbrun
from nbrun.widgets import Dashboard, FamilyTree, project_to_html, to_html, tree
from nbrun.widgets._tree import (
    CHAR_W,
    MISSING,
    RAMP,
    ROW,
    Family,
    TreeNode,
    read_family,
    tree_layout,
    tree_svg,
)
from tests.conftest import BACKENDS, where
from tests.unit.test_snapshot import assert_inert, images
from tests.unit.test_widgets import capture, from_browser, set_from_browser

HOSTILE = "<img src=x onerror=alert(1)>"


def _root(name: str = "root", steps: int = 300) -> nbrun.Run:
    run = nbrun.init(project="fam", name=name, config={"lr": 0.1}, reinit="create_new")
    for i in range(steps):
        run.log({"loss": 25.0 / (i + 1), "acc": i / steps})
    run.finish()
    return run


def _fork(parent: str, step: int, name: str, scale: float, until: int) -> nbrun.Run:
    run = nbrun.init(
        project="fam",
        name=name,
        fork_from=f"{parent}?_step={step}",
        config={"lr": 0.01},
        reinit="create_new",
    )
    for i in range(step + 1, until):
        run.log({"loss": scale / (i + 1)})
    run.finish()
    return run


def _rewind(run_id: str, step: int, until: int) -> None:
    run = nbrun.init(project="fam", id=run_id, resume_from=f"{run_id}?_step={step}")
    for i in range(step + 1, until):
        run.log({"loss": 30.0 / (i + 1)})
    run.finish()


def _view(run_dir: Path, run_id: str) -> nbrun.StoredRun:
    return nbrun.Api(where(run_dir)).run(f"fam/{run_id}")


def _nodes(layout: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["key"]: n for n in layout["nodes"]}


# -- rule 62: what the tree holds --------------------------------------------------------------
@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_rule62_runs_archives_and_edges_at_their_steps(run_dir: Path) -> None:
    root = _root()
    fork = _fork(root.id, 150, "fork-a", 10.0, 400)
    _rewind(root.id, 200, 260)
    family = read_family(_view(run_dir, fork.id))
    by_key = {n.key: n for n in family.nodes}
    assert set(by_key) == {root.id, fork.id, f"{root.id}#1"}
    r, f, a = by_key[root.id], by_key[fork.id], by_key[f"{root.id}#1"]
    assert (r.parent, r.edge, r.first_step, r.last_step) == (None, None, 0, 259)
    assert (f.parent, f.edge, f.at_step, f.first_step, f.last_step) == (
        root.id,
        "fork",
        150,
        150,
        399,
    )
    assert (a.kind, a.parent, a.edge, a.at_step, a.last_step) == (
        "archive",
        root.id,
        "rewind",
        200,
        299,
    )
    assert family.focus == fork.id and family.metric == "loss"

    layout = tree_layout(family)
    nodes = _nodes(layout)
    edges = {(e["from"], e["to"]): e for e in layout["edges"]}
    assert edges[(root.id, fork.id)]["kind"] == "fork"
    assert edges[(root.id, fork.id)]["step"] == 150
    assert edges[(root.id, f"{root.id}#1")]["kind"] == "rewind"
    assert edges[(root.id, f"{root.id}#1")]["step"] == 200
    # x is the step on one scale: the edges sit at their steps, lanes span their steps
    ax = layout["axis"]

    def px(step: float) -> float:
        return round(ax["x0"] + step / 399 * (ax["x1"] - ax["x0"]), 1)

    assert edges[(root.id, fork.id)]["x"] == px(150) == nodes[fork.id]["x0"]
    assert edges[(root.id, f"{root.id}#1")]["x"] == px(200) == nodes[f"{root.id}#1"]["x0"]
    assert nodes[root.id]["x1"] == px(259) and nodes[fork.id]["x1"] == px(399)
    # the root first; its branches below it, the latest branch (the rewind at 200) first
    assert [n["key"] for n in layout["nodes"]] == [root.id, f"{root.id}#1", fork.id]
    assert nodes[fork.id]["focus"] and "fork @150" in nodes[fork.id]["label"]
    assert "rewound @200" in nodes[f"{root.id}#1"]["label"]


@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_rule62_a_fork_rewound_away_grows_from_the_archived_segment(run_dir: Path) -> None:
    root = _root()
    late = _fork(root.id, 250, "late", 5.0, 280)  # forked before the rewind moved step 250
    _rewind(root.id, 200, 230)
    family = read_family(_view(run_dir, root.id))
    by_key = {n.key: n for n in family.nodes}
    assert by_key[late.id].parent == f"{root.id}#1"
    assert by_key[late.id].at_step == 250
    # a rewind into the parent: the fork's old rows are archived and grow from the parent at
    # the old fork point; the run itself now branches at the new step
    _rewind(late.id, 100, 120)
    family = read_family(_view(run_dir, root.id))
    by_key = {n.key: n for n in family.nodes}
    old = by_key[f"{late.id}#1"]
    assert (old.parent, old.edge, old.at_step) == (f"{root.id}#1", "fork", 250)
    assert (by_key[late.id].parent, by_key[late.id].at_step) == (root.id, 100)


def test_rule62_nodes_coloured_by_the_chosen_metric(run_dir: Path) -> None:
    root = _root(steps=50)
    good = _fork(root.id, 20, "good", 0.5, 60)
    bad = _fork(root.id, 30, "bad", 900.0, 60)
    layout = tree_layout(read_family(_view(run_dir, root.id)))
    nodes = _nodes(layout)
    assert layout["metric"] == "loss"  # the run's first numeric summary metric
    assert layout["metrics"][:2] == ["loss", "acc"]
    values = {k: n["value"] for k, n in nodes.items()}
    assert values[good.id] < values[root.id] < values[bad.id]
    assert nodes[good.id]["color"] == RAMP[0] and nodes[bad.id]["color"] == RAMP[-1]
    assert nodes[root.id]["color"] not in (RAMP[0], RAMP[-1], MISSING)
    legend = layout["legend"]
    assert legend["label"] == "loss" and legend["missing"] == 0
    assert legend["lo"] == f"{values[good.id]:.4g}" and legend["hi"] == f"{values[bad.id]:.4g}"
    assert legend["log"]  # 0.008 .. 15: more than 3 decades
    # another metric: a fork's summary holds the value it inherited (rule 17)
    acc = _nodes(tree_layout(read_family(_view(run_dir, root.id), "acc")))
    assert acc[root.id]["value"] == pytest.approx(49 / 50)
    assert acc[good.id]["value"] == pytest.approx(20 / 50)
    # a metric only one run logged: the others are grey ("no value")
    extra = nbrun.init(project="fam", name="extra", fork_from=f"{root.id}?_step=5")
    extra.log({"bleu": 0.3})
    extra.finish()
    bleu = tree_layout(read_family(_view(run_dir, root.id), "bleu"))
    assert _nodes(bleu)[good.id]["color"] == MISSING and bleu["legend"]["missing"] == 3
    assert _nodes(bleu)[extra.id]["value"] == pytest.approx(0.3)
    with pytest.raises(nbrun.UsageError, match=r"'nope'.*'loss', 'acc'"):
        read_family(_view(run_dir, root.id), "nope")
    with pytest.raises(nbrun.UsageError, match="metric name"):
        tree(_view(run_dir, root.id), 3)  # type: ignore[arg-type]


def test_rule62_an_archived_segment_has_its_last_value(run_dir: Path) -> None:
    root = _root(steps=100)
    _rewind(root.id, 49, 60)
    nodes = _nodes(tree_layout(read_family(_view(run_dir, root.id))))
    assert nodes[f"{root.id}#1"]["value"] == pytest.approx(25.0 / 100)  # step 99's loss
    assert nodes[root.id]["value"] == pytest.approx(30.0 / 60)


def _synthetic(n: int) -> Family:
    """A family of ``n`` nodes shaped as population-based training makes them: every run forks
    from one of the previous ones at a later step, some rewound."""
    nodes = [TreeNode("r0", "run", "r0", "root", "finished", None, None, None, 0, 1000, 0.0)]
    for i in range(1, n):
        parent = nodes[(i * 7) % i]
        step = min(parent.last_step, parent.first_step + 10 + (i * 37) % 200)
        kind = "archive" if i % 9 == 0 else "run"
        key = f"{parent.run_id}#{i}" if kind == "archive" else f"r{i}"
        nodes.append(
            TreeNode(
                key,
                kind,
                parent.run_id if kind == "archive" else key,
                f"member-{i}",
                "archived" if kind == "archive" else "finished",
                parent.key,
                "rewind" if kind == "archive" else "fork",
                step,
                step,
                step + 50 + (i * 13) % 400,
                float(i),
                index=i if kind == "archive" else None,
                values={"loss": 1.0 + (i * 17) % 23},
            )
        )
    return Family(tuple(nodes), ("loss",), "loss", "r0")


def _boxes(layout: dict[str, Any]) -> list[tuple[str, float, float, float, float]]:
    """Each node's lane and label as a box (x0, x1, y0, y1)."""
    out = []
    for n in layout["nodes"]:
        right = n["x1"] + 9 + len(n["label"]) * CHAR_W
        out.append((n["key"], n["x0"] - 5, right, n["y"] - 6, n["y"] + 6))
    return out


def test_rule62_fifty_nodes_lay_out_without_overlaps(run_dir: Path) -> None:
    layout = tree_layout(_synthetic(60))
    assert len(layout["nodes"]) == 60
    boxes = _boxes(layout)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a[2] <= b[1] or b[2] <= a[1] or a[4] <= b[3] or b[4] <= a[3]
            assert apart, (a, b)
        assert a[2] <= layout["width"], a  # every label fits in the picture
    assert layout["height"] >= 60 * ROW
    rows = [n["row"] for n in layout["nodes"]]
    assert rows == list(range(60))
    # a node's branches are below it; every edge joins parent and child rows at its step
    row_of = {n["key"]: n for n in layout["nodes"]}
    assert len(layout["edges"]) == 59
    for e in layout["edges"]:
        assert row_of[e["from"]]["row"] < row_of[e["to"]]["row"]
        assert e["x"] == row_of[e["to"]]["x0"]
    # no connector passes through a lane between its ends (the latest branch is nearest)
    for e in layout["edges"]:
        for n in layout["nodes"]:
            if e["y0"] < n["y"] < e["y1"]:
                assert not (n["x0"] < e["x"] < n["x1"]), (e, n["key"])


def test_rule62_a_real_family_of_fifty_runs(run_dir: Path) -> None:
    root = _root(steps=60)
    ids = [root.id]
    for i in range(1, 52):
        parent = ids[(i * 5) % len(ids)]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            run = nbrun.init(
                project="fam",
                name=f"m{i}",
                fork_from=f"{parent}?_step={10 + i % 40}",
                reinit="create_new",
            )
        run.log({"loss": float(i)}, step=60 + i)
        run.finish()
        ids.append(run.id)
    layout = tree_layout(read_family(_view(run_dir, ids[17])))
    assert {n["key"] for n in layout["nodes"]} == set(ids)
    boxes = _boxes(layout)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[4] <= b[3] or b[4] <= a[3] or a[2] <= b[1] or b[2] <= a[1], (a, b)
    assert sum(1 for n in layout["nodes"] if n["focus"]) == 1


# -- rule 62: the widgets ------------------------------------------------------------------------
def test_rule62_tree_widget_follows_new_forks_and_opens_a_dashboard(run_dir: Path) -> None:
    root = _root(steps=40)
    widget = root.tree()  # through the action registry, as display()
    assert isinstance(widget, FamilyTree)
    widget.close()
    widget = FamilyTree(_view(run_dir, root.id), start=False)
    try:
        assert len(widget.layout["nodes"]) == 1 and widget.metric == "loss"
        fork = _fork(root.id, 20, "new", 3.0, 45)
        assert widget.refresh()
        assert {n["key"] for n in widget.layout["nodes"]} == {root.id, fork.id}
        assert not widget.refresh()  # nothing new: nothing sent
        set_from_browser(widget, metric="acc")  # the "colour by" menu
        assert widget.layout["metric"] == "acc"
        assert _nodes(widget.layout)[fork.id]["value"] == pytest.approx(20 / 40)
        assert _nodes(widget.layout)[root.id]["value"] == pytest.approx(39 / 40)
        set_from_browser(widget, selected=fork.id)
        assert widget.selected == fork.id
        sent = capture(widget)
        from_browser(widget, {"action": "open", "req": 3, "run_id": fork.id})
        assert sent[-1] == {
            "type": "opened",
            "req": 3,
            "ok": True,
            "message": f"the dashboard of {fork.id} is below",
        }
        assert widget.opened.startswith("IPY_MODEL_")
        from_browser(widget, {"action": "open", "req": 4, "run_id": "nosuchrun"})
        assert sent[-1]["ok"] is False and "nosuchrun" in sent[-1]["message"]
        assert widget.opened.startswith("IPY_MODEL_")  # the open one stays
        dash = widget.open_dashboard(root.id)
        assert isinstance(dash, Dashboard) and dash.run.id == root.id
        # rule 63: the display bundle carries the static tree beside the widget view
        bundle = widget._repr_mimebundle_()
        assert bundle is not None
        data, _ = bundle
        assert "application/vnd.jupyter.widget-view+json" in data
        assert 'class="nbrun-snap-tree"' in data["text/html"]
        assert data["text/plain"].startswith("nbrun family tree: 2 nodes, coloured by acc")
    finally:
        widget.close()


def test_rule62_dashboard_tree_panel_only_with_a_family(run_dir: Path) -> None:
    alone = _root(name="alone", steps=20)
    dash = Dashboard(_view(run_dir, alone.id), start=False)
    try:
        assert dash.tree == {}
        assert "nbrun-snap-tree" not in dash.snapshot()[0]
    finally:
        dash.close()
    root = _root(steps=40)
    fork = _fork(root.id, 20, "f", 3.0, 45)
    dash = Dashboard(_view(run_dir, root.id), start=False)
    try:
        assert {n["key"] for n in dash.tree["nodes"]} == {root.id, fork.id}
        set_from_browser(dash, tree_metric="acc")
        assert dash.tree["metric"] == "acc"
        sent = capture(dash)
        from_browser(dash, {"action": "open", "req": 1, "run_id": fork.id})
        assert sent[-1]["ok"] and dash.tree_opened.startswith("IPY_MODEL_")
        html, _ = dash.snapshot()
        assert "nbrun-snap-tree" in html  # the snapshot carries the tree (rule 63)
    finally:
        dash.close()


# -- rule 63: static SVG, escaped --------------------------------------------------------------
def test_rule63_hostile_names_are_escaped_text(run_dir: Path) -> None:
    root = _root(name=HOSTILE, steps=30)
    fork = nbrun.init(
        project="fam", name="</text><script>x()</script>", fork_from=f"{root.id}?_step=10"
    )
    fork.log({HOSTILE: 1.0, "loss": 0.5})
    fork.finish()
    layout = tree_layout(read_family(_view(run_dir, fork.id), HOSTILE))
    svg = tree_svg(layout)
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg
    ElementTree.fromstring(svg)  # well-formed: no name broke out of its element
    texts = [t.text for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert any(t and HOSTILE in t for t in texts)
    assert any(t and "</text><script>x()</script>" in t for t in texts)
    page = to_html(_view(run_dir, fork.id))
    assert "<script" not in page and "nbrun-tree-svg" in page
    assert page.count("<svg") >= 2  # its charts and the tree
    assert_inert(page)  # plain SVG elements only, no handler, nothing loaded
    widget = FamilyTree(_view(run_dir, fork.id), HOSTILE, start=False)
    try:
        snap, text = widget.snapshot()
        assert_inert(snap)
        (svg,) = [i for i in images(snap) if "nbrun-tree-svg" in i]
        assert "&lt;img src=x onerror=alert(1)&gt;" in svg and HOSTILE in text
    finally:
        widget.close()


def test_rule63_to_html_and_project_to_html_carry_the_family(run_dir: Path) -> None:
    alone = _root(name="alone", steps=10)
    assert "nbrun-tree-svg" not in to_html(_view(run_dir, alone.id))
    root = _root(steps=40)
    fork = _fork(root.id, 20, "branch", 3.0, 45)
    page = to_html(_view(run_dir, fork.id))
    trees = re.findall(r'<svg[^>]*class="nbrun-tree-svg".*?</svg>', page, re.S)
    assert len(trees) == 1
    assert f'data-key="{root.id}"' in trees[0] and f'data-key="{fork.id}"' in trees[0]
    assert 'data-kind="fork" data-step="20"' in trees[0]
    proj = project_to_html("fam", dir=run_dir)
    assert proj.count('class="nbrun-tree-svg"') == 1  # the family; the lone run has none
    assert "family tree of root" in proj
