"""nbrun in Notebook 7 (rule 72): the quickstart opened in ``jupyter notebook`` (isolated as the
JupyterLab tests are), its dashboard drawn with Vega (loaded from nbrun's server extension), a
click selecting a step and Fork making a run forked there."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nbrun

from .conftest import ARTIFACTS, Lab, LabStartError, _need_browser, start_lab
from .test_dashboard_browser import REPO, _click_point, _dashboard, _wait_status

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def notebook7(tmp_path: Path) -> Iterator[Lab]:
    """An isolated Notebook 7 server serving ``tmp_path / "root"``."""
    _need_browser()
    try:
        with start_lab(tmp_path, app="notebook") as server:
            yield server
    except LabStartError as exc:
        pytest.fail(str(exc))


def test_rule72_notebook7_quickstart_draws_clicks_and_forks(browser: Any, notebook7: Lab) -> None:
    shutil.copy(REPO / "notebooks" / "quickstart.ipynb", notebook7.root / "quickstart.ipynb")
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    external: list[str] = []
    page.on(
        "request",
        lambda r: (
            external.append(r.url)
            if r.url.startswith("http") and "//127.0.0.1" not in r.url
            else None
        ),
    )
    served: list[str] = []
    page.on("response", lambda r: served.append(r.url) if r.status == 200 else None)
    try:
        page.goto(f"{notebook7.url}/notebooks/quickstart.ipynb?token={notebook7.token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        # the kernel is connected: Notebook 7's (hidden) status text
        page.wait_for_function(
            "() => [...document.querySelectorAll('span')]"
            ".some(s => s.textContent.trim() === 'Kernel status: Idle')",
            timeout=120_000,
        )
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        dash = _dashboard(page)
        assert "notebooks/quickstart" in page.url  # Notebook 7's page, not JupyterLab's
        chart = dash.locator(".nb-chart[data-metric='loss']")
        chart.locator("g.mark-line path").first.wait_for()
        # the rows reach the page after the cells end: wait for the run's last one
        page.wait_for_function(
            "div => !!div.__nbrunView"
            " && div.__nbrunView.data('rows').some(t => t.k && t.step === 299)",
            arg=chart.element_handle(),
            timeout=120_000,
        )
        whole = chart.locator("button[data-action='whole-run']")
        if whole.is_visible() and whole.text_content() == "whole run":
            whole.click()
        run_id = dash.get_attribute("data-run-id")
        step = _click_point(page, dash, "loss", 0.3)
        dash.locator("button[data-action='fork']").click()
        dash.locator("button[data-action='confirm-fork']").click()
        status = _wait_status(page, dash)
        assert status.startswith("ok"), status
        new_id = dash.locator(".nb-toolbar > .nb-status").get_attribute("data-run-id")
        fork = nbrun.Api(notebook7.root).run(f"quickstart/{new_id}")
        assert fork.forked_from is not None
        assert (fork.forked_from.run_id, fork.forked_from.step) == (run_id, step)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "notebook7-fork.png"), full_page=True)
        assert not external, external[:5]
        # Vega came from nbrun's server extension (rule 64), as in JupyterLab
        assert any("/nbrun/static/" in u and u.endswith("/vega.js") for u in served), served[-20:]
    finally:
        context.close()
