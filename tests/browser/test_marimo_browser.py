"""nbrun in marimo (rule 72), with a real ``marimo run`` server and Chromium.

``marimo run`` keeps every browser session's kernel as a thread of one process: before rule 72
nbrun shared one Vega model per process, so a second session's charts stayed plain, clicks
selected nothing and Fork stayed disabled. Here two browser sessions and a reload each draw
the dashboard with Vega, select a step with a click and fork it into the store; the project view
is one anywidget whose opened dashboard renders inside it (a widget made by a click, outside any
cell); marimo's dark theme gives readable text; where Vega cannot load, the error stays and a
click on the plain chart still selects a step.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import nbrun
from tests import resources

from .conftest import ARTIFACTS, _need_browser
from .test_dashboard_browser import _click_point, _wait_status

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROJECT = "mo"

NOTEBOOK = """import marimo

app = marimo.App()


@app.cell
def _():
    import nbrun

    view = nbrun.Api().run("mo/parent")
    return nbrun, view


@app.cell
def _(view):
    view.display()
    return


@app.cell
def _(nbrun):
    nbrun.display_project("mo")
    return


@app.cell
def _(view):
    view.tree()
    return


if __name__ == "__main__":
    app.run()
"""


@dataclass
class Marimo:
    """A running ``marimo run`` server: its URL, store folder and log."""

    url: str
    root: Path
    log: Path

    def log_text(self) -> str:
        """The server's output so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def marimo_app(tmp_path: Path) -> Iterator[Marimo]:
    """``marimo run`` serving the notebook above over a store with run ``mo/parent`` (loss 25 ->
    0.002 over 300 steps); marimo's theme follows the browser's colour scheme."""
    _need_browser()
    root = tmp_path / "store"
    with nbrun.init(project=PROJECT, id="parent", dir=root, config={"lr": 0.1}) as run:
        for i in range(300):
            run.log({"loss": 25 * 0.97**i + 0.002})
    (tmp_path / "app.py").write_text(NOTEBOOK)
    config = tmp_path / "xdg" / "config" / "marimo"
    config.mkdir(parents=True)
    (config / "marimo.toml").write_text('[display]\ntheme = "system"\n')
    env = dict(os.environ)
    for var in ("NBRUN_PROJECT", "NBRUN_RUN_ID", "NBRUN_MODE", "NBRUN_RESUME"):
        env.pop(var, None)
    env.update(
        NBRUN_DIR=str(root),
        XDG_CONFIG_HOME=str(tmp_path / "xdg" / "config"),
        XDG_CACHE_HOME=str(tmp_path / "xdg" / "cache"),
        XDG_STATE_HOME=str(tmp_path / "xdg" / "state"),
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    port = _free_port()
    log = tmp_path / "marimo.log"
    cmd = [sys.executable, "-m", "marimo", "run", "app.py", "--headless", "--port", str(port)]
    cmd += ["--host", "127.0.0.1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    resources.count("marimo server")
    app = Marimo(f"http://127.0.0.1:{port}", root, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"marimo exited with {proc.returncode}:\n{app.log_text()}")
            try:
                with urllib.request.urlopen(f"{app.url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"marimo did not answer within 120 s:\n{app.log_text()}")
            time.sleep(0.2)
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _session(browser: Any, scheme: str = "light") -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": 1300, "height": 1700}, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(60_000)
    external: list[str] = []

    def on_request(req: Any) -> None:
        host = req.url.split("/")[2] if "://" in req.url else ""
        if req.url.startswith(("http", "ws")) and not host.startswith("127.0.0.1"):
            external.append(req.url)

    page.on("request", on_request)
    return context, page, external


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _open(page: Any, app: Marimo) -> Any:
    """Open the app; the first dashboard once Vega drew its charts (inside marimo's shadow root:
    Playwright's CSS selectors go through open shadow roots)."""
    page.goto(app.url + "/")
    dash = page.locator(".nbrun-dash[data-ready='1']").first
    dash.wait_for(timeout=120_000)
    # the chart is Vega's (its line marks), not only the plain preview
    dash.locator(".nb-chart[data-metric='loss'][data-drawn='1'] g.mark-line path").first.wait_for()
    return dash


def _fork_here(page: Any, app: Marimo, dash: Any) -> str:
    """Click step ~ a third into the loss chart, Fork it; the new run's id, checked in the store."""
    whole = dash.locator(".nb-chart[data-metric='loss'] button[data-action='whole-run']")
    if whole.is_visible() and whole.text_content() == "whole run":
        whole.click()
    step = _click_point(page, dash, "loss", 0.3)
    dash.locator("button[data-action='fork']").click()
    dash.locator("button[data-action='confirm-fork']").click()
    status = _wait_status(page, dash)
    assert status.startswith("ok"), status
    new_id = status.split("(")[1].split(")")[0]
    fork = nbrun.Api(app.root).run(f"{PROJECT}/{new_id}")
    assert fork.forked_from is not None
    assert (fork.forked_from.run_id, fork.forked_from.step) == ("parent", step)
    return new_id


def test_rule72_marimo_every_session_and_a_reload_draws_vega_clicks_and_forks(
    browser: Any, marimo_app: Marimo
) -> None:
    """Two browser sessions at once (two kernels in one marimo process) and a reload: each
    draws Vega charts, a click selects a step and Fork makes a run in the store; the project
    view is one anywidget and shows a dashboard opened by a click."""
    ctx_a, page_a, ext_a = _session(browser)
    ctx_b, page_b, ext_b = _session(browser)
    try:
        dash_a = _open(page_a, marimo_app)
        dash_b = _open(page_b, marimo_app)  # the second session: its own models, its own Vega
        forks = {_fork_here(page_b, marimo_app, dash_b), _fork_here(page_a, marimo_app, dash_a)}
        page_a.reload()
        dash_a = _open(page_a, marimo_app)
        forks.add(_fork_here(page_a, marimo_app, dash_a))
        assert len(forks) == 3
        # the project view: one anywidget (no ipywidgets container, no extra snapshot tab)
        project = page_a.locator("marimo-anywidget .nbrun-project").first
        project.wait_for()
        assert page_a.get_by_text("Jupyter widgets are not supported").count() == 0
        assert page_a.locator(".nbrun-snapshot").count() == 0
        project.locator("button[data-action='refresh']").click()
        row = project.locator("tr[data-key='mo/parent']")
        row.locator("[data-action='open']").click()
        opened = project.locator(".nb-opened-dashboard .nbrun-dash[data-ready='1']")
        opened.wait_for()
        assert opened.locator(".nb-chart[data-metric='loss'] g.mark-line path").count() >= 1
        # run.tree(): the family (the parent and the three forks); a fork's dashboard opens
        # below it (made by the click, outside any cell)
        tree = page_a.locator("marimo-anywidget .nbrun-tree[data-ready='1'] > .nb-tree-panel")
        tree.locator(".nb-tree-node").nth(3).wait_for()
        fork_id = sorted(forks)[0]
        tree.locator(f".nb-tree-node[data-key='{fork_id}'] .nb-tree-label").click()
        tree.locator("button[data-action='open-dashboard']").click()
        mine = tree.locator(":scope > .nb-tree-opened .nbrun-dash[data-ready='1']")
        mine.wait_for()
        assert fork_id in (mine.locator(".nb-id").first.text_content() or "")
        _shot(page_a, "marimo-sessions.png")
        assert not ext_a and not ext_b, (ext_a + ext_b)[:5]
    finally:
        ctx_a.close()
        ctx_b.close()


def _contrast(page: Any, locator: Any) -> float:
    """The WCAG contrast of the element's text colour against the first opaque background
    behind it (its ancestors, across shadow roots, then the page)."""
    return float(
        page.evaluate(
            """(el) => {
        const rgb = (c) => {
            // rgb(255, 0, 0) / rgba(...), or color(srgb 1 0 0 / a) with channels in [0, 1]
            const n = (c.match(/[\\d.]+/g) || []).map(Number);
            return c.startsWith('color(') ? n.map((v, i) => (i < 3 ? v * 255 : v)) : n;
        };
        const lum = ([r, g, b]) => {
            const f = (v) => {
                v /= 255;
                return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
            };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        const fg = rgb(getComputedStyle(el).color);
        let node = el, bg = null;
        while (node && !bg) {
            if (node.nodeType === 1) {
                const c = rgb(getComputedStyle(node).backgroundColor);
                if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) bg = c;
            }
            node = node.parentNode || node.host;
        }
        bg = bg || [255, 255, 255];
        const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
        return (a + 0.05) / (b + 0.05);
    }""",
            locator.element_handle(),
        )
    )


def test_rule72_marimo_dark_theme_is_readable_and_a_failed_vega_leaves_a_clickable_chart(
    browser: Any, marimo_app: Marimo
) -> None:
    """marimo's dark theme (the browser's dark scheme, marimo's theme "system"): the widgets
    read the host page's signals from inside marimo's shadow root, and their text is readable.
    Then a session where Vega cannot load: the error stays in view and a click on the plain
    chart still selects a step that Fork forks."""
    ctx, page, _ = _session(browser, "dark")
    try:
        dash = _open(page, marimo_app)
        assert page.evaluate("document.body.classList.contains('dark')")
        assert dash.get_attribute("data-nb-theme") == "dark"
        for sel in (".nb-name", ".nb-overview td", ".nb-chart-controls"):
            ratio = _contrast(page, dash.locator(sel).first)
            assert ratio >= 4.5, (sel, ratio)
        project = page.locator(".nbrun-project").first
        assert project.get_attribute("data-nb-theme") == "dark"
        assert _contrast(page, project.locator("td").first) >= 4.5
        # Vega's axis labels take the theme's colours too
        label = dash.locator(".nb-chart[data-metric='loss'] .role-axis-label text").first
        assert _contrast(page, label) >= 3
        _shot(page, "marimo-dark.png")
    finally:
        ctx.close()
    # a session whose Vega import fails (the page's module cache answers vega.js with an error)
    ctx, page, _ = _session(browser)
    page.add_init_script(
        """window.__nbrunAssets = new (class extends Map {
            get(k) { return String(k).endsWith('/vega.js')
                ? Promise.reject(new Error('vega.js blocked by the test')) : super.get(k); }
        })();"""
    )
    try:
        page.goto(marimo_app.url + "/")
        dash = page.locator(".nbrun-dash").first
        chart = dash.locator(".nb-chart[data-metric='loss'] svg.nb-preview")
        chart.wait_for(timeout=120_000)
        error = dash.locator(".nb-error")
        page.wait_for_function(
            "el => el.textContent.includes('Vega did not load')", arg=error.element_handle()
        )
        box = chart.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 52 + 0.3 * (box["width"] - 64), box["y"] + box["height"] / 2)
        label = dash.locator(".nb-selected")
        page.wait_for_function(
            "el => el.getAttribute('data-selected-step') !== ''", arg=label.element_handle()
        )
        step = int(label.get_attribute("data-selected-step"))
        assert 60 <= step <= 120  # about a third of 300 steps
        dash.locator("button[data-action='fork']").click()
        dash.locator("button[data-action='confirm-fork']").click()
        status = _wait_status(page, dash)
        assert status.startswith("ok"), status
        new_id = status.split("(")[1].split(")")[0]
        fork = nbrun.Api(marimo_app.root).run(f"{PROJECT}/{new_id}")
        assert fork.forked_from is not None and fork.forked_from.step == step
        # the kernel's renders since (the fork's result, the overview) left the error in view
        assert "Vega did not load" in (error.text_content() or "")
        _shot(page, "marimo-no-vega.png")
    finally:
        ctx.close()
