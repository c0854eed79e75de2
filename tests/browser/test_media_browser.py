"""Media panels in a real JupyterLab + headless Chromium: clicking a step on a scalar chart
shows that step's images (snapped to the last step with images), the slider moves through the
steps with media, and hostile captions, table cells and Html run nothing."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Lab
from .test_dashboard_browser import (
    _click_point,
    _dashboard,
    _no_external,
    _notebook,
    _open_and_run_all,
    _shot,
    _wait_cells_done,
)

pytestmark = pytest.mark.browser

SETUP = r"""
import numpy as np
import nbrun

HOSTILE = '<img src=x onerror="window.pwned=1">'
run = nbrun.init(project="media-browser")
for i in range(40):
    row = {"loss": 1.0 / (i + 1) + 0.01 * np.sin(i)}
    if i % 5 == 0:
        shade = np.full((16, 16, 3), 5 * i, dtype=np.uint8)
        row["samples"] = [
            nbrun.Image(shade, caption=f"{HOSTILE} step {i}"),
            nbrun.Image(255 - shade),
        ]
        table = nbrun.Table(columns=["note", "pic"])
        table.add_data(HOSTILE, nbrun.Image(shade))
        row["table"] = table
        row["weights"] = nbrun.Histogram(np.random.default_rng(i).normal(i, 1, 500))
    if i == 10:
        row["page"] = nbrun.Html('<p id="p">hi</p><script>parent.pwned=2</script>'
                                 '<img src=x onerror="parent.pwned=3">')
    run.log(row)
run.finish()
"""


def _pixel(page: Any, img: Any) -> int:
    """The red value of an image's first pixel, read through a canvas."""
    return page.evaluate(
        """img => new Promise(resolve => {
            const go = () => {
                const c = document.createElement('canvas');
                c.width = img.naturalWidth; c.height = img.naturalHeight;
                const ctx = c.getContext('2d');
                ctx.drawImage(img, 0, 0);
                resolve(ctx.getImageData(1, 1, 1, 1).data[0]);
            };
            if (img.complete && img.naturalWidth) go(); else img.onload = go;
        })""",
        img.element_handle(),
    )


def test_click_a_step_shows_its_images_and_nothing_runs(page: Any, lab: Lab) -> None:
    _notebook(lab.root / "media.ipynb", [SETUP, "run.display()"])
    _open_and_run_all(page, lab, "media.ipynb")
    _wait_cells_done(page)
    dash = _dashboard(page)
    panel = dash.locator(".nb-mpanel[data-media-key='samples']")
    panel.wait_for()
    # before any click: the last step with images
    at = "el => el.getAttribute('data-step') === '35'"
    page.wait_for_function(at, arg=panel.element_handle())

    step = _click_point(page, dash, "loss", 0.45)
    expected = step - step % 5
    page.wait_for_function(
        "([el, s]) => el.getAttribute('data-step') === String(s)"
        " && !el.hasAttribute('data-loading')",
        arg=[panel.element_handle(), expected],
    )
    figures = panel.locator("figure[data-item='image']")
    assert figures.count() == 2
    assert figures.nth(0).locator("figcaption").text_content() == (
        f'<img src=x onerror="window.pwned=1"> step {expected}'
    )
    assert _pixel(page, figures.nth(0).locator("img")) == 5 * expected
    assert _pixel(page, figures.nth(1).locator("img")) == 255 - 5 * expected
    # every panel followed the click
    for key in ("table", "weights"):
        other = dash.locator(f".nb-mpanel[data-media-key='{key}']")
        page.wait_for_function(
            "([el, s]) => el.getAttribute('data-step') === String(s)",
            arg=[other.element_handle(), expected],
        )
    cell = dash.locator(".nb-mpanel[data-media-key='table'] td").first
    assert cell.text_content() == '<img src=x onerror="window.pwned=1">'
    dash.locator(".nb-mpanel[data-media-key='weights'] [data-role='distribution'] svg").wait_for()

    # the slider snaps to steps with media
    slider = panel.locator("input[data-action='media-step']")
    slider.evaluate("el => { el.value = '1'; el.dispatchEvent(new Event('input')); }")
    page.wait_for_function("el => el.getAttribute('data-step') === '5'", arg=panel.element_handle())

    # Html only in a sandboxed iframe: its script and handler never run
    html_panel = dash.locator(".nb-mpanel[data-media-key='page']")
    frame = html_panel.locator("iframe")
    frame.wait_for()
    assert frame.get_attribute("sandbox") == ""
    page.wait_for_function("f => f.contentDocument === null || true", arg=frame.element_handle())
    inner = page.frame_locator(".nb-mpanel[data-media-key='page'] iframe")
    inner.locator("#p").wait_for()
    assert page.evaluate("() => window.pwned") is None
    assert page.locator("img[src='x']").count() == 0  # no caption or cell became markup
    _shot(page, "media-panels.png")
    _no_external(page)
