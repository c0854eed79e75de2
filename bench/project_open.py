"""Kernel-side time of a big project view and of a family dashboard (issue 25 item 8):

- ``table``: ``project_rows`` of a project of 1,000 runs (a sweep's worth: 20 rows each,
  every 10th a fork of the run before, every 50th a fork of a fork, one rewound) and a run of
  2,000 rows with 20 forks: 1,021 runs;
- ``view``: what ``nbrun.display_project`` builds before the browser draws: the
  ``ProjectView`` (its rows) and its static snapshot (the table and 50 runs' charts as SVG);
- ``overlay``: ``overlay_data`` of 20 runs checked (the live charts under the table);
- ``forks``: what ``run.display()`` builds for a run of 100,000 rows with 20 forks of 10,000
  rows each (``Dashboard(view)`` with its chart data, then its display bundle with the static
  snapshot), the store of ``tests/browser/test_dashboard_open.py``'s forked run.

    python bench/project_open.py                        # this checkout, 3 reps
    python bench/project_open.py --before /work/main    # and another checkout, interleaved

Each figure is taken in a fresh interpreter (``PYTHONPATH`` = the checkout, imports not
counted), wall and CPU (process) seconds, min / median over ``--reps``; the stores are built
once in bench/.cache/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
PROJECT = "sweep"

WORKER = r"""
import json, sys, time
import nbrun, nbrun.widgets
from nbrun.widgets._dashboard import Dashboard
from nbrun.widgets._project import ProjectView, overlay_data, project_rows
what, root = sys.argv[1], sys.argv[2]
w, c = time.perf_counter(), time.process_time()
if what == "table":
    n = len(project_rows("sweep", root))
elif what == "view":
    view = ProjectView("sweep", root)
    n = len(view.snapshot()[0])
elif what == "overlay":
    keys = [f"sweep/r{i:04d}" for i in range(0, 1000, 50)]
    n = len(overlay_data(keys, root)["runs"])
else:
    dash = Dashboard(nbrun.Api(root).run("open/parent"), start=False)
    n = len(dash._repr_mimebundle_()[0]["text/html"])
print(json.dumps({"n": n, "wall": time.perf_counter() - w, "cpu": time.process_time() - c}))
"""


def build(root: Path, runs: int, forks: int) -> None:
    """``runs`` small runs (every 10th forked from the one before it, every 50th a fork of that
    fork, one rewound) and a run ``parent`` of 2,000 rows with ``forks`` forks."""
    sys.path.insert(0, str(REPO))
    import nbrun

    kw = {"settings": {"stats": False, "console": "off", "disable_git": True}}
    for i in range(runs):
        fork = f"r{i - 1:04d}?_step=5" if i % 10 == 1 else None
        fork = f"r{i - 1:04d}?_step=7" if i % 50 == 2 else fork
        run = nbrun.init(
            project=PROJECT,
            dir=root,
            id=f"r{i:04d}",
            fork_from=fork,
            config={"lr": 0.001 * (i % 7 + 1), "layers": i % 4, "opt": {"name": "adam"}},
            reinit="create_new",
            **kw,
        )
        for step in range(run.step, 20):
            run.log({"loss": 1.0 / (step + 1) + i / runs, "acc": step / 20})
        run.finish()
        if i == 3:  # a rewound run: one archived segment
            nbrun.Api(root).run(f"{PROJECT}/r0003").rewind(10)
    with nbrun.init(project=PROJECT, dir=root, id="parent", reinit="create_new", **kw) as p:
        for step in range(2000):
            p.log({"loss": 1.0 / (step + 1), "acc": step / 2000})
    for f in range(forks):
        step = (f + 1) * 2000 // (forks + 1)
        with nbrun.init(
            project=PROJECT, dir=root, id=f"pf{f:02d}", fork_from=f"parent?_step={step}", **kw
        ) as run:
            for i in range(200):
                run.log({"loss": 0.5 / (step + i + 1), "acc": 0.5})
    (root / "fixture.json").write_text(json.dumps({"runs": runs, "forks": forks}))


def measure(repo: Path, what: str, root: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(repo))
    p = subprocess.run(
        [sys.executable, "-c", WORKER, what, str(root)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=repo,
    )
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--forks", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--before", type=Path, help="another checkout measured alongside")
    args = ap.parse_args()
    root = CACHE / f"project-open-{args.runs}"
    if not (root / "fixture.json").exists():
        print(f"building {root} ...", file=sys.stderr, flush=True)
        root.mkdir(parents=True, exist_ok=True)
        build(root, args.runs, args.forks)
    family = CACHE / f"forks-100000-f{args.forks}"
    if not (family / "fixture.json").exists():
        print(f"building {family} ...", file=sys.stderr, flush=True)
        family.mkdir(parents=True, exist_ok=True)
        sys.path.insert(0, str(REPO))
        from tests.browser.test_dashboard_open import build_forks

        build_forks(family, 100_000, args.forks, 10_000)
        (family / "fixture.json").write_text(json.dumps({"forks": args.forks}))
    repos = {"after": REPO} | ({"before": args.before.resolve()} if args.before else {})
    res: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.reps):
        for what in ("table", "view", "overlay", "forks"):
            for label, repo in repos.items():
                where = family if what == "forks" else root
                res.setdefault((label, what), []).append(measure(repo, what, where))
    print(
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, reps {args.reps}, "
        f"load {os.getloadavg()[0]:.1f}; min / median"
    )
    print("| figure | checkout | wall s | CPU s |\n|---|---|---|---|")
    names = {
        "table": f"project table, {args.runs} runs (project_rows)",
        "view": f"project view + static snapshot, {args.runs} runs",
        "overlay": "project charts, 20 runs checked (overlay_data)",
        "forks": f"run.display() data, run with {args.forks} forks (Dashboard + bundle)",
    }
    order = list(names)
    for (label, what), rows in sorted(res.items(), key=lambda kv: (order.index(kv[0][1]), kv[0])):
        walls, cpus = [r["wall"] for r in rows], [r["cpu"] for r in rows]
        print(
            f"| {names[what]} | {label} | {min(walls):.3f} / {statistics.median(walls):.3f} "
            f"| {min(cpus):.3f} / {statistics.median(cpus):.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
