"""A project of 1,000 runs (a sweep's worth) in a real JupyterLab + headless Chromium (issue 25
item 8): the table lists every run, and checking them all draws the overlay charts of the first
20. With ``NBRUN_BENCH_OUT`` the seconds from the cell's start to the table's rows in the page,
and from the click to the overlay drawn, go to that file (``bench/project_open.py`` and
bench/README.md); nothing asserts on them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import nbrun

from .conftest import Lab
from .test_dashboard_browser import _notebook, _open_and_run_all, _wait_cells_done

pytestmark = pytest.mark.browser

ROW = ".nbrun-project tr[data-key]"
RUNS = 1000


def build_sweep(root: str | Path, runs: int = RUNS) -> None:
    """``runs`` runs of 5 rows in project ``sweep``, every 10th a fork of the run before."""
    quiet = {"stats": False, "console": "off", "disable_git": True}
    for i in range(runs):
        fork = f"r{i - 1:04d}?_step=2" if i % 10 == 1 else None
        run = nbrun.init(
            project="sweep", dir=root, id=f"r{i:04d}", fork_from=fork,
            config={"lr": 0.001 * (i % 7 + 1), "layers": i % 4}, settings=quiet,
        )  # fmt: skip
        for step in range(run.step, 5):
            run.log({"loss": 1.0 / (step + 1) + i / runs, "acc": step / 5})
        run.finish()


def _record(name: str, seconds: float) -> None:
    out = os.environ.get("NBRUN_BENCH_OUT")
    if out:
        path = Path(out)
        data = json.loads(path.read_text()) if path.exists() else {}
        data[name] = round(seconds, 3)
        path.write_text(json.dumps(data))


def _when(page: Any, condition: str, arg: Any) -> float:
    """The page's clock (seconds) when ``condition(arg)`` first held, polled every 20 ms (a
    poll cannot run while the page is busy: the figure is at most that late)."""
    handle = page.wait_for_function(
        f"(arg) => ({condition})(arg) ? Date.now() : false", arg=arg, polling=20, timeout=180_000
    )
    return float(handle.json_value()) / 1000


def test_project_of_1000_runs_shows_table_and_charts(page: Any, lab: Lab) -> None:
    root = os.environ.get("NBRUN_PROJECT_FIXTURE") or str(lab.root)
    if not os.environ.get("NBRUN_PROJECT_FIXTURE"):
        build_sweep(root)
    _notebook(
        lab.root / "sweep.ipynb",
        [
            "import time, nbrun, nbrun.widgets",
            f"T0 = time.time(); print(f'T0={{T0}}')\nnbrun.display_project('sweep', dir={root!r})",
        ],
    )
    _open_and_run_all(page, lab, "sweep.ipynb")
    shown = _when(page, "(n) => document.querySelectorAll(arg_sel).length >= n".replace(
        "arg_sel", json.dumps(ROW)), RUNS)  # fmt: skip
    text = page.locator(".jp-OutputArea-output:has-text('T0=')").first.text_content()
    t0 = float(text.split("T0=")[1].split()[0])
    _record("project1000_table_s", shown - t0)
    _wait_cells_done(page)
    assert page.locator(ROW).count() == RUNS
    # check every run: the first 20 are drawn, the others named as left out
    clicked = float(page.evaluate("Date.now()")) / 1000
    page.locator(".nbrun-project input[data-role='select-all']").check()
    drawn = _when(
        page,
        """(n) => {
            const ov = document.querySelector("[data-role='overlay'][data-ready='1']");
            return !!ov && ov.querySelectorAll('.nb-legend-item').length === n
                && document.querySelectorAll(".nb-chart[data-metric='loss'] polyline").length >= n;
        }""",
        20,
    )
    _record("project1000_charts_after_click_s", drawn - clicked)
    legend = page.locator("[data-role='overlay'] .nb-legend-item")
    assert legend.count() == 20
    assert page.locator("[data-role='overlay']").text_content().count(f"{RUNS - 20} more") == 1
    assert not page.nbrun_log.external and not page.nbrun_log.errors
