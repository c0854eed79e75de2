"""The dashboard's media panels driven from Python as the browser drives them: the ``media``
trait lists media keys and their steps (not their data), content comes only per request for one
key at one step, live rows extend the index, a fork's panels include inherited media, and
nothing run-provided is sent as markup."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import PIL.Image as PIL

import nbrun
from nbrun.widgets import Dashboard
from nbrun.widgets._media import safe_spec

from .test_widgets import capture, from_browser

HOSTILE = '<img src=x onerror="window.pwned=1">'


def solid(value: int) -> np.ndarray:
    return np.full((12, 12, 3), value, dtype=np.uint8)


def log_media_run(run_dir: Path, steps: int = 8) -> nbrun.Run:
    run = nbrun.init(project="mw", dir=run_dir)
    for i in range(steps):
        row = {"loss": 1 / (i + 1), "w": nbrun.Histogram(np.arange(10) * (i + 1))}
        if i % 2 == 0:  # images only at even steps
            row["img"] = [nbrun.Image(solid(10 * i), caption=HOSTILE), nbrun.Image(solid(200))]
        run.log(row)
    run.log({"page": nbrun.Html("<script>window.pwned=2</script>"), "loss": 0.0})
    return run


def ask(dash: Dashboard, key: str, step: int, **extra: object) -> dict:
    sent = capture(dash)
    from_browser(dash, {"action": "media", "req": 7, "key": key, "step": step, **extra})
    (reply,) = [m for m in sent if m.get("type") == "media"]
    return reply


def test_media_trait_lists_keys_and_steps_not_data(run_dir: Path) -> None:
    run = log_media_run(run_dir)
    run.finish()
    dash = Dashboard(nbrun.Api(run_dir).run(f"mw/{run.id}"), start=False)
    meta = {m["key"]: m for m in dash.media}
    assert meta["img"] == {"key": "img", "kind": "image", "steps": [0, 2, 4, 6]}
    assert meta["w"]["kind"] == "histogram" and meta["w"]["steps"] == list(range(8))
    assert meta["page"]["kind"] == "html"
    assert "img" not in {c["metric"] for c in dash.charts}  # media are not charted
    assert "src" not in repr(dash.media)
    assert dash.overview["summary"]["img"] == "[2 x Image 12x12]"


def test_request_snaps_to_the_media_step_at_or_before(run_dir: Path) -> None:
    run = log_media_run(run_dir)
    run.finish()
    dash = Dashboard(run, start=False)
    reply = ask(dash, "img", 5)
    assert reply["req"] == 7 and reply["step"] == 4 and reply["kind"] == "image"
    first, second = reply["items"]
    assert first["caption"] == HOSTILE  # text for textContent, never markup
    assert first["src"].startswith("data:image/png;base64,")
    png = base64.b64decode(first["src"].split(",", 1)[1])
    assert PIL.open(io.BytesIO(png)).getpixel((0, 0))[:3] == (40, 40, 40)
    assert second["caption"] is None
    hist = ask(dash, "w", 3, dist=True)
    assert hist["items"][0]["counts"] and len(hist["items"][0]["bins"]) == 65
    assert {r[0] for r in hist["dist"]["rects"]} == set(range(8))
    page = ask(dash, "page", 8)
    assert page["items"][0]["html"] == "<script>window.pwned=2</script>"  # for sandbox="" only
    bad = ask(dash, "nope", 1)
    assert "nope" in bad["error"]


def test_live_rows_extend_the_index(run_dir: Path) -> None:
    run = nbrun.init(project="mw", dir=run_dir)
    run.log({"loss": 1.0})
    dash = Dashboard(run, start=False)
    assert dash.media == []
    run.log({"loss": 0.5, "img": nbrun.Image(solid(99))})
    run.log({"loss": 0.4, "img": nbrun.Image(solid(98))})
    dash.poll()
    assert dash.media == [{"key": "img", "kind": "image", "steps": [1, 2]}]
    reply = ask(dash, "img", 1)  # live, maybe not flushed yet: still shown
    assert reply["step"] == 1 and reply["items"][0]["src"].startswith("data:image/png")
    run.finish()
    dash.close()


def test_fork_panels_include_inherited_media(run_dir: Path) -> None:
    parent = log_media_run(run_dir)
    parent.finish()
    fork = nbrun.init(project="mw", dir=run_dir, fork_from=f"{parent.id}?_step=4")
    fork.log({"loss": 0.1, "img": nbrun.Image(solid(5))})
    fork.finish()
    dash = Dashboard(fork, start=False)
    meta = {m["key"]: m for m in dash.media}
    assert meta["img"]["steps"] == [0, 2, 4, 5]
    reply = ask(dash, "img", 4)
    png = base64.b64decode(reply["items"][0]["src"].split(",", 1)[1])
    assert PIL.open(io.BytesIO(png)).getpixel((0, 0))[:3] == (40, 40, 40)


def test_plot_specs_are_rebuilt_from_a_whitelist(run_dir: Path) -> None:
    hostile = {
        "mark": {"type": "line", "href": "javascript:alert(1)"},
        "encoding": {
            "x": {"field": "a", "type": "quantitative"},
            "href": {"field": "url"},
            "tooltip": {"field": "a"},
            "y": {"field": "b", "type": "quantitative", "scale": {"domain": [0, "x"]}},
        },
        "data": {"url": "https://example.com/steal"},
        "transform": [{"calculate": "alert(1)", "as": "z"}],
        "usermeta": {"embedOptions": {"loader": {"target": "_blank"}}},
        "title": "t",
    }
    spec = safe_spec(hostile)
    assert spec["mark"] == {"type": "line"}
    assert set(spec["encoding"]) == {"x", "y"} and "scale" not in spec["encoding"]["y"]
    assert spec["data"] == {"name": "table"}
    assert "transform" not in spec and "usermeta" not in spec
    run = nbrun.init(project="mw", dir=run_dir)
    run.log({"cm": nbrun.plot.confusion_matrix(y_true=[0, 1, 1], preds=[0, 1, 0])})
    run.finish()
    reply = ask(Dashboard(run, start=False), "cm", 0)
    item = reply["items"][0]
    assert item["spec"]["mark"] == "rect" and len(item["values"]) == 4
