"""Saved notebooks in a real JupyterLab 4 + headless Chromium (issue 25, rules 64-65).

* the quickstart executed with ``jupyter execute`` reopens (kernel idle, its models restored
  from the saved state) with each run's snapshot in view and no "Error displaying widget" text;
  run again, its dashboard draws Vega loaded from nbrun's server extension (no data URL, no
  CDN); saved from JupyterLab with "Save widget state" on, the notebook stays small and reopens
  as cleanly;
* without the server extension (as in marimo, VS Code, Colab) the kernel sends the modules;
* nbconvert's HTML export, opened offline, shows the snapshot (its fork drawn) and no error.

Screenshots go to test-artifacts/ (looked at while writing these tests)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from nbrun.widgets._assets import asset_path

from .conftest import ARTIFACTS, Lab, start_lab
from .test_dashboard_browser import _dashboard, _notebook, _open_and_run_all, _wait_cells_done
from .test_theme_snapshot_browser import REPO, _execute

pytestmark = pytest.mark.browser

ERROR_TEXT = "Error displaying widget"


def _responses(page: Any) -> list[tuple[str, int]]:
    """Record (url, status) of every response the page gets from now on."""
    seen: list[tuple[str, int]] = []
    page.on("response", lambda r: seen.append((r.url, r.status)))
    return seen


def _save_widget_state(lab: Lab) -> None:
    """JupyterLab's "Save widget state automatically" on (off by default)."""
    path = (
        lab.root.parent
        / "jupyter"
        / "settings"
        / "@jupyter-widgets"
        / "jupyterlab-manager"
        / "plugin.jupyterlab-settings"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"saveState": True}))


def _stop_kernels(lab: Lab) -> None:
    """Shut down every kernel of the lab (its REST API), as after a restart of the server."""
    auth = {"Authorization": f"token {lab.token}"}
    with urllib.request.urlopen(
        urllib.request.Request(f"{lab.url}/api/kernels", headers=auth), timeout=10
    ) as r:
        kernels = json.loads(r.read())
    for k in kernels:
        req = urllib.request.Request(f"{lab.url}/api/kernels/{k['id']}", headers=auth)
        req.method = "DELETE"
        urllib.request.urlopen(req, timeout=30).close()


def _widget_state(nb: dict[str, Any]) -> dict[str, Any]:
    widgets = nb.get("metadata", {}).get("widgets", {})
    return dict(widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {}))


def _reopen_and_check(page: Any, lab: Lab, name: str, shot: str) -> None:
    """Open ``name`` (kernel starts, knows none of its models): each snapshot in view, no
    error text, no dashboard drawn by a restored model."""
    page.goto(lab.open_url(name))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
    page.wait_for_selector("text=/\\| Idle/", timeout=120_000)
    snap = page.locator(".jp-OutputArea-output .nbrun-snapshot").first
    snap.wait_for(state="visible")
    # the restored models' views are in place (no "Loading widget...") and drew nothing
    page.wait_for_function(
        """() => ![...document.querySelectorAll('.jp-OutputArea-output')]
            .some(o => /Loading widget/.test(o.textContent))""",
        timeout=60_000,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    body = page.locator("body").inner_text()
    assert ERROR_TEXT not in body, body[:2000]
    assert "model not found" not in body
    assert page.locator(".nbrun-dash").count() == 0
    assert page.locator(".nbrun-snapshot img.nbrun-snap-chart").first.is_visible()


@pytest.mark.slow  # ~60-90 s: nbclient, the lab, a run, a save, a reopen
def test_rule64_rule65_executed_quickstart_reopens_clean_and_loads_vega_from_the_server(
    page: Any, lab: Lab
) -> None:
    root = lab.root
    shutil.copy(REPO / "notebooks" / "quickstart.ipynb", root / "quickstart.ipynb")
    nb = _execute(root, "quickstart.ipynb", "qs-executed")
    assert len(json.dumps(nb)) < 200_000

    # 1. reopened: the saved models restore, the snapshots show, no error text
    _reopen_and_check(page, lab, "qs-executed.ipynb", "saved-quickstart-reopened.png")

    # 2. run again with "Save widget state" on: Vega and the dashboard's module come from the
    # server extension's versioned path, nothing from the internet
    _save_widget_state(lab)
    seen = _responses(page)
    _open_and_run_all(page, lab, "qs-executed.ipynb")
    dash = _dashboard(page)
    _wait_cells_done(page, timeout=240_000)
    dash.locator(".nb-chart[data-drawn='1']").first.wait_for(timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / "saved-quickstart-live.png"), full_page=True)
    served = {url.split("?")[0].rsplit("/", 1)[-1]: status for url, status in seen}
    for name in ("dashboard.js", "vega.js"):
        urls = [u for u, _ in seen if u.split("?")[0].endswith(asset_path(name))]
        assert urls and served[name] == 200, (name, seen[-40:])
    assert page.nbrun_log.external == []  # type: ignore[attr-defined]
    assert ERROR_TEXT not in page.locator("body").inner_text()

    # 3. saved from JupyterLab: small, no Vega, no data; reopens as cleanly (its kernel
    # stopped: a new one knows none of the saved models)
    path = root / "qs-executed.ipynb"
    before = path.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while path.stat().st_mtime_ns == before:
        assert time.monotonic() < deadline, "JupyterLab did not save the notebook"
        page.wait_for_timeout(100)
    page.wait_for_function(
        "() => !document.querySelector('.jp-NotebookPanel.jp-mod-dirty')", timeout=30_000
    )
    saved = json.loads(path.read_text())
    state = _widget_state(saved)
    mine = {k: m for k, m in state.items() if "nbrun/static/" in str(m["state"].get("_module"))}
    assert mine, "JupyterLab saved no state of nbrun's widgets"
    size = len(json.dumps(saved))
    print(f"saved from JupyterLab: {size} bytes, nbrun widget state {len(json.dumps(mine))}")
    assert len(json.dumps(mine)) < 150_000 and size < 200_000
    assert "vega-embed" not in path.read_text()
    for model in mine.values():  # the data traits emptied once the loader had them
        assert model["state"].get("_inline") == []
        assert not any(model["state"].get(k) for k in ("charts", "series", "overview"))
    page.goto("about:blank")
    _stop_kernels(lab)
    _reopen_and_check(page, lab, "qs-executed.ipynb", "saved-by-lab-reopened.png")


SMALL = [
    """import nbrun
run = nbrun.init(project="nosrv", name="no-server")
for i in range(200):
    run.log({"loss": 25 / (i + 1)})
run.finish()
run.display()""",
]


@pytest.mark.slow  # ~30 s: its own lab
def test_rule64_without_the_server_extension_the_kernel_sends_the_modules(
    browser: Any, tmp_path: Path
) -> None:
    """Where no server serves them (marimo, VS Code, Colab; here a lab without nbrun's
    extension), the loader asks the kernel: the charts draw with Vega all the same."""
    with start_lab(tmp_path, server_extension=False) as lab:
        context = browser.new_context(viewport={"width": 1400, "height": 1400})
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            seen = _responses(page)
            _notebook(lab.root / "nosrv.ipynb", SMALL)
            _open_and_run_all(page, lab, "nosrv.ipynb")
            ARTIFACTS.mkdir(exist_ok=True)
            try:
                dash = _dashboard(page)
                dash.locator(".nb-chart[data-drawn='1']").first.wait_for(timeout=120_000)
            finally:
                page.screenshot(path=str(ARTIFACTS / "no-server-extension.png"), full_page=True)
                print("\n".join(console[-30:]))
            # the server path was tried (404) and the module came over the comm instead
            tried = [(u, s) for u, s in seen if "/nbrun/static/" in u]
            assert tried and all(s == 404 for _, s in tried), tried
            assert ERROR_TEXT not in page.locator("body").inner_text()
        finally:
            context.close()


@pytest.mark.slow  # ~30 s: nbclient and nbconvert
def test_rule65_nbconvert_export_offline_shows_the_snapshot_with_its_fork(
    browser: Any, lab: Lab
) -> None:
    root = lab.root
    shutil.copy(REPO / "notebooks" / "quickstart.ipynb", root / "quickstart.ipynb")
    _execute(root, "quickstart.ipynb", "qs-executed")
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "qs-executed.ipynb"],
        cwd=root,
        check=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    html = (root / "qs-executed.html").read_text(encoding="utf-8")
    context = browser.new_context(viewport={"width": 1200, "height": 1600})
    try:
        page = context.new_page()
        tried: list[str] = []
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("file://")
                else (tried.append(route.request.url), route.abort())
            ),
        )
        page.goto((root / "qs-executed.html").as_uri())
        snap = page.locator(".nbrun-snapshot").first
        snap.wait_for(state="visible")
        charts = page.locator(".nbrun-snapshot img.nbrun-snap-chart")
        assert charts.count() >= 2
        assert charts.first.evaluate("(i) => i.complete && i.naturalWidth > 100")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "saved-quickstart-nbconvert.png"), full_page=True)
        body = page.locator("body").inner_text()
        assert ERROR_TEXT not in body and "model not found" not in body
        assert "finished" in snap.inner_text()
        # what the page tried to fetch: nbconvert's template scripts only, none for nbrun
        assert all(re.search("require|html-manager|mathjax", u) for u in tried), tried
    finally:
        context.close()
    # the run's snapshot draws the fork (a second line in the loss chart), not only lists it
    loss_img = r'data-metric="loss"[^>]*src="data:image/svg\+xml;base64,([^"]+)"'
    first = re.search(r'class="nbrun-snapshot.*?' + loss_img, html, re.S)
    assert first is not None
    svg = base64.b64decode(first.group(1)).decode()
    strokes = set(re.findall(r'<polyline [^>]*stroke="([^"]+)"', svg))
    assert len(strokes) >= 2, strokes
