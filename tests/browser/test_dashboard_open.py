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


# The lines of the dashboard's first chart: Vega's line marks, or the light-weight first
# drawing's lines (js/dashboard/preview.js) while Vega loads.
LINES = "g.mark-line path, svg.nb-preview path.nb-pv-line"

WATCH = """(sel) => {
    if (window.__nbrunWatch) return;
    window.__nbrunWatch = true;
    const count = () => {
        const chart = document.querySelector('.nbrun-dash .nb-chart');
        if (!chart) return 0;
        return [...chart.querySelectorAll(sel)]
            .filter(p => (p.getAttribute('d') || '').length > 20).length;
    };
    window.__nbrunLines = [];  // [epoch ms of the frame, lines drawn]
    let queued = false;
    const look = () => {
        queued = false;
        const n = count();
        const last = window.__nbrunLines[window.__nbrunLines.length - 1];
        // stamped in the next animation frame: the frame that paints these lines
        if (!last || last[1] !== n)
            requestAnimationFrame(() => window.__nbrunLines.push([Date.now(), n]));
    };
    new MutationObserver(() => { if (!queued) { queued = true; queueMicrotask(look); } })
        .observe(document.body,
                 {childList: true, subtree: true, attributes: true, attributeFilter: ['d']});
}"""


def _first_chart(page: Any, lines: int) -> float:
    """Wait until the dashboard's first chart has ``lines`` lines drawn; the browser's clock
    at the animation frame that first painted them (seconds)."""
    page.wait_for_function(
        "(lines) => (window.__nbrunLines || []).some(([t, n]) => n >= lines)",
        arg=lines,
        timeout=180_000,
        polling=50,
    )
    ms = page.evaluate("(lines) => window.__nbrunLines.find(([t, n]) => n >= lines)[0]", lines)
    return float(ms) / 1000


def _watch(page: Any) -> None:
    """Watch for chart lines from the page's start (and, for the bench, record the kernel's
    messages)."""
    page.add_init_script(
        f"document.addEventListener('DOMContentLoaded', () => ({WATCH})({json.dumps(LINES)}))"
    )
    if os.environ.get("NBRUN_BENCH_OUT"):
        page.add_init_script(FRAMES)


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


# With NBRUN_BENCH_OUT, the page records when each kernel message of interest arrives (epoch
# ms, its type and size): where the open time goes, for the bench (nothing asserts on it).
FRAMES = r"""(() => {
  window.__nbrunFrames = [];
  const Orig = window.WebSocket;
  const wanted = /"msg_type":\s*"(comm_open|display_data|execute_input|execute_reply|comm_msg)"/;
  class Recording extends Orig {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        const t = Date.now();
        const d = ev.data;
        const size = typeof d === "string" ? d.length : d.byteLength || 0;
        const head = typeof d === "string" ? d.slice(0, 3000)
          : new TextDecoder().decode(new Uint8Array(d, 0, Math.min(size, 3000)));
        const m = head.match(wanted);
        if (m) window.__nbrunFrames.push([t, m[1], size]);
      });
    }
  }
  window.WebSocket = Recording;
})();"""


def _record_phases(page: Any, prefix: str, t0: float, kernel: Path) -> None:
    """Seconds from the cell's start to each stamp the kernel and the page took."""
    if not os.environ.get("NBRUN_BENCH_OUT"):
        return
    for name, t in json.loads(kernel.read_text()).items():
        _record(f"{prefix}_kernel_{name}_s", t - t0)
    stamps = page.evaluate(
        """() => {
            const d = document.querySelector('.nbrun-dash');
            const out = {};
            for (const a of ['t-module', 't-render', 't-embed', 'first-chart'])
                if (d && d.hasAttribute('data-' + a)) out[a] = Number(d.getAttribute('data-' + a));
            return {stamps: out, frames: window.__nbrunFrames || []};
        }"""
    )
    for name, ms in stamps["stamps"].items():
        _record(f"{prefix}_page_{name}_s", ms / 1000 - t0)
    opens = [f for f in stamps["frames"] if f[1] == "comm_open"]
    if opens:
        _record(f"{prefix}_page_first_comm_open_s", opens[0][0] / 1000 - t0)
        biggest = max(opens, key=lambda f: f[2])
        _record(f"{prefix}_page_biggest_comm_open_s", biggest[0] / 1000 - t0)
        _record(f"{prefix}_biggest_comm_open_bytes", biggest[2])
    disp = [f for f in stamps["frames"] if f[1] == "display_data"]
    if disp:
        _record(f"{prefix}_page_display_data_s", disp[0][0] / 1000 - t0)


def test_project_run_dashboard_draws(page: Any, lab: Lab) -> None:
    """The project view lists the runs; opening one draws its chart."""
    root, ids, _ = _fixture_dir(lab)
    _notebook(
        lab.root / "project.ipynb",
        [
            "import json, time, nbrun, nbrun.widgets",
            f"T0 = time.time(); print(f'T0={{T0}}')\n"
            f"pv = nbrun.widgets.display_project({PROJECT!r}, dir={root!r})\n"
            "T1 = time.time()\n"
            f"pv.open_run({ids[-1]!r})\n"
            "T2 = time.time()\ndisplay(pv)\n"
            "open('kernel_times.json', 'w').write(json.dumps("
            "{'table': T1, 'dashboard': T2, 'displayed': time.time()}))",
        ],
    )
    _watch(page)
    _open_and_run_all(page, lab, "project.ipynb")
    drawn = _first_chart(page, 1)
    t0 = _started(page)
    _record("project_first_chart_s", drawn - t0)
    _wait_cells_done(page)
    _record_phases(page, "project", t0, lab.root / "kernel_times.json")
    assert page.locator(".nbrun-dash .nb-chart").count() >= 2  # acc and loss
    assert not page.nbrun_log.external and not page.nbrun_log.errors


def test_run_with_20_forks_draws_every_fork(page: Any, lab: Lab) -> None:
    """The dashboard of a run with 20 forks draws the run and each fork on its first chart."""
    root, _, forks = _fixture_dir(lab)
    _notebook(
        lab.root / "forks.ipynb",
        [
            "import json, time, nbrun, nbrun.widgets",
            f"T0 = time.time(); print(f'T0={{T0}}')\n"
            f"dash = nbrun.Api({root!r}).run({PROJECT + '/' + PARENT!r}).display()\n"
            "T1 = time.time()\ndisplay(dash)\n"
            "open('kernel_times.json', 'w').write(json.dumps("
            "{'dashboard': T1, 'displayed': time.time()}))",
        ],
    )
    _watch(page)
    _open_and_run_all(page, lab, "forks.ipynb")
    drawn = _first_chart(page, forks + 1)
    t0 = _started(page)
    _record("forks_first_chart_s", drawn - t0)
    _wait_cells_done(page)
    _record_phases(page, "forks", t0, lab.root / "kernel_times.json")
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
