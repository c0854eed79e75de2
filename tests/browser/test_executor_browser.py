"""A dashboard in a real JupyterLab + headless Chromium whose forks train on a Dask cluster
(``executor=``, issue 17): the forks' lines appear and grow in the page while the workers log
(the dashboard follows them through the store), and reach their last step."""

from __future__ import annotations

import time
from typing import Any

import pytest

import nbrun

from .conftest import Lab
from .test_dashboard_browser import (
    DASH,
    _dashboard,
    _no_external,
    _notebook,
    _open_and_run_all,
    _shot,
)
from .test_dashboard_browser import _wait_cells_done as wait_cells_done

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FORK_STEP = 20
GATE_STEP = 45  # the forks wait here until the test opens the gate
LAST = 79


def _chart_max_step(page: Any, chart: Any, key: str) -> Any:
    return page.evaluate(
        """([div, key]) => {
            const v = div.__nbrunView;
            if (!v) return -1;
            const steps = v.data("rows").filter(t => t.s === key).map(t => t.step);
            return steps.length ? Math.max(...steps) : -1;
        }""",
        [chart.element_handle(), key],
    )


def _wait_chart_step(page: Any, chart: Any, key: str, at_least: int) -> None:
    page.wait_for_function(
        """([div, key, n]) => div.__nbrunView &&
            div.__nbrunView.data("rows").some(t => t.s === key && t.step >= n)""",
        arg=[chart.element_handle(), key, at_least],
        timeout=180_000,
    )


def test_forks_trained_on_dask_grow_in_the_dashboard(page: Any, lab: Lab) -> None:
    gate = lab.root / "gate"
    _notebook(
        lab.root / "dask.ipynb",
        [
            "import os, time\n"
            "from distributed import Client, LocalCluster\n"
            "import nbrun\n\n"
            "cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,\n"
            "                       dashboard_address=':0')\n"
            "client = Client(cluster)\n"
            "executor = client.get_executor()\n\n"
            "def train(run):\n"
            "    state = run.restore() or {'x': 0.0}\n"
            f"    for _ in range(run.step, {LAST + 1}):\n"
            f"        if run.forked_from is not None and run.step == {GATE_STEP}:\n"
            f"            while not os.path.exists({str(gate)!r}):\n"
            "                time.sleep(0.05)\n"
            "        state['x'] += run.config.lr\n"
            "        run.log({'x': state['x'], 'pid': os.getpid()})\n"
            "        if run.step % 10 == 0:\n"
            "            run.checkpoint(state)\n\n"
            "run = nbrun.launch(train, project='dask', config={'lr': 1.0})\n"
            "run.wait()",
            f"forks = run.fork_many({FORK_STEP}, [{{'lr': 2.0}}, {{'lr': 0.5}}], "
            "executor=executor)\n"
            "run.display()",
            "for f in forks:\n    f.wait()\nclient.close()\ncluster.close()",
        ],
    )
    _open_and_run_all(page, lab, "dask.ipynb")
    # a cluster to start and the widgets to import first: minutes on a loaded 2-core machine
    page.locator(f"{DASH}[data-ready='1']").first.wait_for(timeout=300_000)
    dash = _dashboard(page)
    page.wait_for_function("el => !!el.getAttribute('data-run-id')", arg=dash.element_handle())
    run_id = dash.get_attribute("data-run-id")
    parent = nbrun.Api(lab.root).run(f"dask/{run_id}")
    chart = dash.locator(".nb-chart[data-metric='x']")
    chart.locator("svg").first.wait_for(timeout=120_000)
    children: list[nbrun.StoredRun] = []
    deadline = time.monotonic() + 120
    while len(children) < 2 and time.monotonic() < deadline:
        children = parent.children()
        time.sleep(0.1)
    assert len(children) == 2
    keys = [f"child:{c.id}" for c in children]
    # the forks' lines appear and grow while the workers log: up to the gate, not beyond
    for key in keys:
        _wait_chart_step(page, chart, key, GATE_STEP - 1)
    for key, child in zip(keys, children, strict=True):
        assert FORK_STEP <= _chart_max_step(page, chart, key) < LAST
        assert child.state == "running"
    _shot(page, "dashboard-dask-forks-growing.png")
    gate.write_text("go")
    for key in keys:
        _wait_chart_step(page, chart, key, LAST)
    wait_cells_done(page, timeout=180_000)
    (kernel_pid,) = set(parent.history(keys=["pid"])["pid"].tolist())
    for child in children:
        assert child.state == "finished" and child.forked_from.step == FORK_STEP - 1
        (pid,) = set(child.history(keys=["pid"])["pid"].tolist()[FORK_STEP:])
        assert pid != kernel_pid  # trained by a worker process, not the kernel
        assert child.metadata["executor"]["worker"].endswith(f"pid {int(pid)}")
    _shot(page, "dashboard-dask-forks.png")
    _no_external(page)
