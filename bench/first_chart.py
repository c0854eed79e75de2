"""Time from ``run.display()`` to the first chart drawn, in a fresh kernel of a real
JupyterLab with headless Chromium (issue 15: target 1.5 s).

Starts an isolated JupyterLab on 127.0.0.1 (as ``tests/browser/conftest.py`` does), opens a
notebook of the quickstart's setup (``nbrun.launch(train, ...)`` then ``run.display()``) in a
fresh kernel, runs it and reads two stamps the dashboard writes into the page (epoch ms):
``data-shown`` (the dashboard with its placeholder is on the page) and ``data-first-chart``
(the first chart has drawn a line: since issue 16 its plain SVG first drawing, before the
Vega view replaces it). The kernel writes the wall-clock time at which
``run.display()`` was called and returned. Each repetition uses a new kernel. Prints one line
per repetition and the medians::

    python bench/first_chart.py            # 3 repetitions
    python bench/first_chart.py --reps 5

Needs Debian's Chromium at /usr/bin/chromium and Python Playwright (never ``playwright
install``); nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# the browser tests' Chromium flags and isolated JupyterLab (one start-up for both)
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, start_lab  # noqa: E402

SETUP = """import time
from pathlib import Path

import numpy as np

import nbrun


def train(run):
    cfg = run.config
    state = run.restore() or {"w": np.array([4.0, -3.0]), "rng": np.random.default_rng(cfg.seed)}
    for _ in range(run.step, cfg.steps):
        grad = 2 * state["w"] + state["rng"].normal(0, cfg.noise, 2)
        state["w"] = state["w"] - cfg.lr * grad
        run.log({"loss": float(state["w"] @ state["w"]), "w0": float(state["w"][0])})
        if run.step % 10 == 0:
            run.checkpoint(state)
        time.sleep(cfg.delay)
"""

DISPLAY = """run = nbrun.launch(
    train,
    project="quickstart",
    config={"lr": 0.05, "steps": 300, "noise": 0.5, "seed": 0, "delay": 0.01},
    total=300,
)
t0 = time.time()
dash = run.display()
Path("display_times.json").write_text(f"[{t0!r}, {time.time()!r}]")
dash
"""


def _notebook(path: Path) -> None:
    cells = [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": s}
        for s in (SETUP, DISPLAY)
    ]
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


def measure_once(browser: Any, url: str, token: str, root: Path, n: int) -> dict[str, float]:
    """Open a new copy of the notebook (a fresh kernel), run it, read the stamps (seconds)."""
    name = f"first_chart_{n}.ipynb"
    _notebook(root / name)
    times = root / "display_times.json"
    times.unlink(missing_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(f"{url}/lab/workspaces/rep{n}/tree/{name}?token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook")
        page.wait_for_selector("text=/\\| Idle/")
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        dash = page.locator(".nbrun-dash[data-first-chart]").first
        dash.wait_for()
        shown = float(dash.get_attribute("data-shown")) / 1000
        first = float(dash.get_attribute("data-first-chart")) / 1000
        deadline = time.monotonic() + 30
        while not times.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        t0, t1 = json.loads(times.read_text())
        # shut the kernel down, so the next repetition starts a fresh one
        page.click(".lm-MenuBar-itemLabel:text-is('Kernel')")
        page.click(".lm-Menu-itemLabel:text-is('Shut Down Kernel')")
    finally:
        context.close()
    return {"display_call": t1 - t0, "placeholder": shown - t0, "first_chart": first - t0}


def main() -> None:
    """Run the measurement and print it."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions, each in a new kernel")
    ap.add_argument(
        "--no-warm", action="store_true", help="NBRUN_WARM_IMPORTS=0: no background imports"
    )
    args = ap.parse_args()
    if args.no_warm:
        os.environ["NBRUN_WARM_IMPORTS"] = "0"
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="nbrun-first-chart-") as d:
        with start_lab(Path(d), start_s=90) as lab, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            results = []
            for n in range(args.reps):
                r = measure_once(browser, lab.url, lab.token, lab.root, n)
                results.append(r)
                print(
                    f"rep {n + 1}: run.display() returned after {r['display_call']:.2f} s, "
                    f"placeholder at {r['placeholder']:.2f} s, "
                    f"first chart at {r['first_chart']:.2f} s",
                    flush=True,
                )
            browser.close()
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print(
        f"median of {len(results)}: run.display() {med['display_call']:.2f} s, "
        f"placeholder {med['placeholder']:.2f} s, first chart {med['first_chart']:.2f} s "
        f"after run.display() (target: first chart <= 1.5 s)"
    )


if __name__ == "__main__":
    main()
