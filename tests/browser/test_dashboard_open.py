"""Opening big runs in the browser (issue 16): a project's run dashboard and the dashboard of
a run with 20 forks draw their first chart, every line on it. Small by default; with
``NBRUN_OPEN_FIXTURES`` (a prebuilt store, see ``bench/dashboard_open.py``) the same test
opens big ones, and with ``NBRUN_BENCH_OUT`` it writes how long the first chart took there
(timings go to the bench only: nothing here asserts one)."""

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

PROJECT = "open"
PARENT = "parent"


def build_project(root: str | Path, runs: int, rows: int) -> list[str]:
    """``runs`` finished runs of ``rows`` rows (loss, acc) in project ``open``."""
    ids = []
    for r in range(runs):
        run = nbrun.init(project=PROJECT, dir=root, id=f"run{r:03d}", reinit="create_new")
        log = run.log
        for i in range(rows):
            log({"loss": 1.0 / (i + 1) + r, "acc": (i % 1000) / 1000})
        run.finish()
        ids.append(run.id)
    return ids


def build_forks(root: str | Path, rows: int, forks: int, fork_rows: int) -> str:
    """A run of ``rows`` rows with ``forks`` forks along it, each logging ``fork_rows``."""
    with nbrun.init(project=PROJECT, dir=root, id=PARENT, reinit="create_new") as parent:
        for i in range(rows):
            parent.log({"loss": 1.0 / (i + 1), "acc": (i % 1000) / 1000})
    for f in range(forks):
        step = (f + 1) * rows // (forks + 1)
        with nbrun.init(
            project=PROJECT, dir=root, id=f"fork{f:02d}", fork_from=f"{PARENT}?_step={step}"
        ) as fork:
            for i in range(fork_rows):
                fork.log({"loss": 0.5 / (step + i + 1), "acc": 0.5})
    return PARENT


def _fixture_dir(lab: Lab) -> tuple[str, list[str], int]:
    """Where the store is (prebuilt or made now), the project's run ids, and the forks."""
    prebuilt = os.environ.get("NBRUN_OPEN_FIXTURES")
    if prebuilt:
        info = json.loads((Path(prebuilt) / "fixture.json").read_text())
        return prebuilt, info["ids"], info["forks"]
    ids = build_project(lab.root, runs=3, rows=3000)
    build_forks(lab.root, rows=5000, forks=20, fork_rows=100)
    return str(lab.root), ids, 20


def _first_chart(page: Any, lines: int) -> float:
    """Wait until the dashboard's first chart has ``lines`` lines drawn; the browser's clock
    then (seconds)."""
    page.wait_for_function(
        """(lines) => {
            const chart = document.querySelector('.nbrun-dash .nb-chart');
            if (!chart) return false;
            const paths = [...chart.querySelectorAll('g.mark-line path')]
                .filter(p => (p.getAttribute('d') || '').length > 20);
            return paths.length >= lines;
        }""",
        arg=lines,
        timeout=180_000,
        polling=10,
    )
    return float(page.evaluate("Date.now() / 1000"))


def _started(page: Any) -> float:
    text = page.locator(".jp-OutputArea-output:has-text('T0=')").first.text_content()
    return float(text.split("T0=")[1].split()[0])


def _record(name: str, seconds: float) -> None:
    out = os.environ.get("NBRUN_BENCH_OUT")
    if out:
        path = Path(out)
        data = json.loads(path.read_text()) if path.exists() else {}
        data[name] = round(seconds, 3)
        path.write_text(json.dumps(data))


def test_project_run_dashboard_draws(page: Any, lab: Lab) -> None:
    """The project view lists the runs; opening one draws its chart."""
    root, ids, _ = _fixture_dir(lab)
    _notebook(
        lab.root / "project.ipynb",
        [
            "import time, nbrun, nbrun.widgets",
            f"T0 = time.time(); print(f'T0={{T0}}')\n"
            f"pv = nbrun.widgets.display_project({PROJECT!r}, dir={root!r})\n"
            f"pv.open_run({ids[-1]!r})\npv",
        ],
    )
    _open_and_run_all(page, lab, "project.ipynb")
    drawn = _first_chart(page, 1)
    _record("project_first_chart_s", drawn - _started(page))
    _wait_cells_done(page)
    assert page.locator(".nbrun-dash .nb-chart").count() >= 2  # acc and loss
    assert not page.nbrun_log.external and not page.nbrun_log.errors


def test_run_with_20_forks_draws_every_fork(page: Any, lab: Lab) -> None:
    """The dashboard of a run with 20 forks draws the run and each fork on its first chart."""
    root, _, forks = _fixture_dir(lab)
    _notebook(
        lab.root / "forks.ipynb",
        [
            "import time, nbrun, nbrun.widgets",
            f"T0 = time.time(); print(f'T0={{T0}}')\n"
            f"nbrun.Api({root!r}).run({PROJECT + '/' + PARENT!r}).display()",
        ],
    )
    _open_and_run_all(page, lab, "forks.ipynb")
    drawn = _first_chart(page, forks + 1)
    _record("forks_first_chart_s", drawn - _started(page))
    assert not page.nbrun_log.external and not page.nbrun_log.errors
    run = nbrun.Api(root).run(f"{PROJECT}/{PARENT}")
    assert len(run.children()) == forks


def test_fixture_builders_make_what_they_say(tmp_path: Path) -> None:
    """(no browser) The builders give runs of the asked length and forks at their steps."""
    ids = build_project(tmp_path, runs=2, rows=50)
    build_forks(tmp_path, rows=100, forks=3, fork_rows=5)
    api = nbrun.Api(str(tmp_path))
    assert [len(api.run(f"{PROJECT}/{i}").history()) for i in ids] == [50, 50]
    kids = api.run(f"{PROJECT}/{PARENT}").children()
    assert sorted(k.forked_from.step for k in kids if k.forked_from) == [25, 50, 75]
    assert all(len(k.history(lineage=False)) == 5 for k in kids)
