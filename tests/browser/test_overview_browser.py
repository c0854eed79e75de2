"""The dashboard's first display and its overview in a real JupyterLab + headless Chromium
(issue 15): a placeholder at once, then the first chart (charts in first-logged order); the
overview's summaries, system facts, alerts and step as the page shows them, name and tags
edited from the page and found in the store on disk; a fork's restore note shown as a neutral
note; the Stop status once the run has ended."""

from __future__ import annotations

import time
from typing import Any

import pytest

import nbrun

from .conftest import Lab
from .test_dashboard_browser import (
    DASH,
    _no_external,
    _notebook,
    _open_and_run_all,
    _shot,
    _wait_status,
)

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)>"

CELLS = [
    # 1: a run with nothing logged yet, shown at once
    "import time\nfrom pathlib import Path\nimport nbrun\n"
    f"run = nbrun.init(project='ov', name={HOSTILE!r}, tags=['t0'])\n"
    "run.define_metric('val/loss', summary='min,last')\n"
    "run.display()",
    # 2: rows come once the test has seen the placeholder (it creates the file `go`)
    "while not Path('go').exists():\n"
    "    time.sleep(0.05)\n"
    "for i in range(40):\n"
    "    run.log({'loss': 1 / (i + 1), 'acc': i / 40, 'val/loss': [0.5, 0.2, 0.3][i % 3]})\n"
    "run.alert('diverging', '<b>loss</b> went up', level='WARN')\n"
    "run.finish()",
    # 3: a launched run forked between checkpoints (snapped back: a note), trained slowly
    "def train(run):\n"
    "    state = run.restore() or {'i': 0}\n"
    "    for _ in range(run.step, run.config.steps):\n"
    "        run.log({'x': float(run.step)})\n"
    "        if run.step % 10 == 0:\n"
    "            run.checkpoint(state)\n"
    "        time.sleep(run.config.delay)\n"
    "base = nbrun.launch(train, project='ov', config={'steps': 40, 'delay': 0.001})\n"
    "base.wait()\n"
    "fork = base.fork(25, {'delay': 0.2, 'steps': 100000})\n"
    "fork.display()",
]


def _text(loc: Any) -> str:
    return str(loc.text_content() or "")


def test_placeholder_first_chart_and_overview(page: Any, lab: Lab) -> None:
    _notebook(lab.root / "overview.ipynb", CELLS)
    _open_and_run_all(page, lab, "overview.ipynb")
    dash = page.locator(DASH).first
    # a placeholder at once: the dashboard is on the page before any chart exists
    placeholder = dash.locator("[data-placeholder]")
    placeholder.wait_for(timeout=90_000)
    assert "waiting for the first metrics" in _text(placeholder)
    assert dash.locator(".nb-chart").count() == 0
    (lab.root / "go").write_text("")
    # then the first chart, and the placeholder goes
    page.wait_for_function(
        "el => el.hasAttribute('data-first-chart')", arg=dash.element_handle(), timeout=60_000
    )
    dash.locator(".nb-chart[data-drawn='1'] svg path").first.wait_for()
    assert dash.locator("[data-placeholder]").count() == 0
    assert int(dash.get_attribute("data-first-chart")) >= int(dash.get_attribute("data-shown"))
    page.wait_for_selector(f"{DASH}[data-state='finished']", timeout=60_000)
    metrics = dash.locator(".nb-chart").evaluate_all(
        "els => els.map(e => e.getAttribute('data-metric'))"
    )
    assert metrics[:3] == ["loss", "acc", "val/loss"]  # the order they were logged in
    # header and overview agree on the step: the last one logged
    page.wait_for_function(
        "el => el.querySelector('.nb-step').getAttribute('data-step') === '39'",
        arg=dash.element_handle(),
    )
    info = dict(
        dash.locator(".nb-info tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
    )
    assert info["last step"] == "39"
    summary = dict(
        dash.locator(".nb-summary tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
    )
    assert summary["val/loss"] == "min 0.2 · last 0.5"
    about = dict(
        dash.locator(".nb-about tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
    )
    assert {"host", "OS", "Python", "hardware", "duration"} <= about.keys()
    assert "CPUs" in about["hardware"] and "runtime" in about["duration"]
    alert = dash.locator(".nb-alert[data-level='WARN']")
    alert.wait_for()
    assert "<b>loss</b> went up" in _text(alert)  # text, not markup
    assert dash.locator(".nb-alerts b, img").count() == 0
    assert _text(dash.locator(".nb-name")) == HOSTILE
    # edit name and tags from the page: saved through nbrun, found in the store on disk
    run_id = dash.get_attribute("data-run-id")
    dash.locator("[data-edit='name']").fill("renamed run")
    dash.locator("[data-edit='name']").press("Enter")
    dash.locator(".nb-edit-status[data-status='ok']").wait_for(timeout=60_000)
    dash.locator("[data-edit='tags']").fill("a, b")
    dash.locator("[data-action='save-edits']").click()
    # the click turned the status from the name's "ok" to "pending": this is the tags' answer
    dash.locator(".nb-edit-status[data-status='ok']").wait_for(timeout=60_000)
    page.wait_for_function(
        "el => el.querySelector('.nb-name').textContent === 'renamed run'",
        arg=dash.element_handle(),
        timeout=60_000,
    )
    deadline = time.monotonic() + 60
    view = nbrun.Api(lab.root).run(f"ov/{run_id}")
    while view.tags != ("a", "b") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (view.name, view.tags) == ("renamed run", ("a", "b"))
    _shot(page, "overview.png")

    # the fork: its restore note is a neutral note, not an error; Stop's status ends
    fork = page.locator(DASH).nth(1)
    fork.wait_for(timeout=120_000)
    note = fork.locator(".nb-note")
    page.wait_for_function(
        "el => /no checkpoint at step 25/.test(el.textContent)",
        arg=note.element_handle(),
        timeout=60_000,
    )
    assert _text(fork.locator(".nb-error")) == ""
    page.wait_for_selector(f"{DASH}[data-state='running']", timeout=60_000)
    fork.locator("button[data-action='stop']").click()
    status = _wait_status(page, fork)
    assert status.startswith("ok"), status
    page.wait_for_function(
        "el => /^stopped: .* ended as killed/.test(el.textContent)",
        arg=fork.locator(".nb-toolbar > .nb-status").element_handle(),
        timeout=60_000,
    )
    _shot(page, "overview-fork-stopped.png")
    _no_external(page)
