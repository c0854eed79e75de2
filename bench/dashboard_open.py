"""Read-side speed of big runs (issue 16): history read back, chart payload, the dashboard's
kernel-side memory, and the time a dashboard takes to draw its first chart in a real browser.

    python bench/dashboard_open.py                 # everything, full sizes (first run builds
                                                   # the stores in bench/.cache/, ~5-10 min)
    python bench/dashboard_open.py --skip-browser  # Python side only
    python bench/dashboard_open.py --skip-python   # browser figures only
    python bench/dashboard_open.py --rows 1000000 --runs 100 --run-rows 100000 --forks 20

Python-side figures run in fresh interpreters (``--reps`` each, min / median): cold = first
read in the process, warm = the same read again (bucket summaries of stored chunks cached).
Wall and CPU seconds are both printed: on a loaded machine wall time includes waiting for a
core. The browser figures come from ``tests/browser/test_dashboard_open.py`` run by pytest
against the prebuilt stores: seconds from the notebook cell starting to the dashboard's
first chart having all its lines drawn (Debian Chromium through Playwright, JupyterLab 4).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CACHE = REPO / "bench" / ".cache"

WORKER = r"""
import json, os, resource, sys, time, tracemalloc
import numpy, pandas
import nbrun
from nbrun.widgets._charts import lineage_frame
from nbrun.widgets._feed import ChartFeed
what, root, path = sys.argv[1], sys.argv[2], sys.argv[3]

def rss(kind="RssAnon"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(kind + ":"):
                return int(line.split()[1]) / 1024
    return 0.0

view = nbrun.Api(root).run(path)
out = {}
def timed(name, fn):
    w, c = time.perf_counter(), time.process_time()
    res = fn()
    out[name + "_s"] = time.perf_counter() - w
    out[name + "_cpu_s"] = time.process_time() - c
    return res
if what == "read":
    df = timed("read", view.history)
    out["rows"] = len(df)
elif what == "chart":
    df = timed("cold", lambda: lineage_frame(view, "loss"))
    timed("warm", lambda: lineage_frame(view, "loss"))
    out["points"] = int(df.groupby("series").size().max())
elif what == "feed":
    def build():
        feed = ChartFeed(view)
        feed.rebuild(view)
        return feed, feed.snapshot()
    feed, snap = timed("cold", build)
    timed("warm", build)
    out["points"] = max(len(p) for m in snap["points"].values() for p in m.values())
elif what == "memory":
    before, before_file = rss(), rss("RssFile")
    tracemalloc.start()
    feed = ChartFeed(view)
    feed.rebuild(view)
    snap = feed.snapshot()
    out["traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    out["rss_anon_delta_mib"] = rss() - before
    out["rss_file_delta_mib"] = rss("RssFile") - before_file
print(json.dumps(out))
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def big_run(rows: int) -> Path:
    """The run of ``rows`` steps, built once into bench/.cache/ (``-v5``: a store whose
    chunks carry stored bucket summaries, rule 68; older caches are not reused)."""
    import nbrun

    big = CACHE / f"big-{rows}-v5"
    if not (big / "fixture.json").exists():
        log(f"building a run of {rows:,} rows in {big} ...")
        big.mkdir(parents=True, exist_ok=True)
        with nbrun.init(project="bench", dir=big, id="big", reinit="create_new") as run:
            for i in range(rows):
                run.log(
                    {
                        "loss": 1.0 / (i + 1) + (5.0 if i == rows // 3 else 0.0),
                        "acc": (i % 1000) / 1000,
                    },
                    step=i,
                )
        (big / "fixture.json").write_text(json.dumps({"path": "bench/big"}))
    return big


def build(args: argparse.Namespace) -> dict[str, Path]:
    """The stores, built once per size into bench/.cache/ (reused afterwards)."""
    from tests.browser.test_dashboard_open import PARENT, PROJECT, build_forks, build_project

    dirs = {"big": big_run(args.rows)}
    proj = CACHE / f"project-{args.runs}x{args.run_rows}-f{args.forks}"
    if not (proj / "fixture.json").exists():
        log(
            f"building {args.runs} runs x {args.run_rows:,} rows and a run with {args.forks} "
            f"forks in {proj} (minutes) ..."
        )
        proj.mkdir(parents=True, exist_ok=True)
        ids = build_project(proj, args.runs, args.run_rows)
        build_forks(proj, args.run_rows, args.forks, args.run_rows // 10)
        info = {"ids": ids, "forks": args.forks, "project": PROJECT, "parent": PARENT}
        (proj / "fixture.json").write_text(json.dumps(info))
    dirs["project"] = proj
    return dirs


def python_side(dirs: dict[str, Path], reps: int) -> dict[str, list[dict[str, Any]]]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res: dict[str, list[dict[str, Any]]] = {}
    jobs = [
        ("read", dirs["big"], "bench/big"),
        ("chart", dirs["big"], "bench/big"),
        ("feed", dirs["big"], "bench/big"),
        ("feed_forks", dirs["project"], "open/parent"),
        ("memory", dirs["big"], "bench/big"),
    ]
    for rep in range(reps):
        for name, root, path in jobs:
            what = "feed" if name.startswith("feed") else name
            log(f"rep {rep + 1}/{reps}: {name}")
            p = subprocess.run(
                [sys.executable, "-c", WORKER, what, str(root), path],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            res.setdefault(name, []).append(json.loads(p.stdout.strip().splitlines()[-1]))
    return res


def browser_side(dirs: dict[str, Path], reps: int, repo: Path = REPO) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for rep in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            result = Path(tmp) / "open.json"
            env = dict(
                os.environ,
                PYTHONPATH=str(repo),
                NBRUN_OPEN_FIXTURES=str(dirs["project"]),
                NBRUN_BENCH_OUT=str(result),
            )
            log(f"rep {rep + 1}/{reps}: browser (JupyterLab + Chromium)")
            p = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "tests/browser/test_dashboard_open.py",
                    "-k",
                    "draws",
                ],
                cwd=repo,
                env=env,
                capture_output=True,
                text=True,
            )
            if p.returncode != 0:
                log(p.stdout[-3000:] + p.stderr[-2000:])
                raise SystemExit("browser test failed")
            for k, v in json.loads(result.read_text()).items():
                out.setdefault(k, []).append(v)
    return out


def _mm(values: list[float], fmt: str = ".3f") -> str:
    return f"{min(values):{fmt}} / {statistics.median(values):{fmt}}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the big run")
    ap.add_argument("--runs", type=int, default=100, help="runs in the project")
    ap.add_argument("--run-rows", type=int, default=100_000, help="rows per project run")
    ap.add_argument("--forks", type=int, default=20, help="forks of the forked run")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--skip-python", action="store_true", help="only the browser figures")
    ap.add_argument(
        "--repo",
        type=Path,
        default=REPO,
        help="run the browser figures with the nbrun (and built JS) of this checkout (it needs "
        "this branch's tests/browser/test_dashboard_open.py): a before / after comparison",
    )
    args = ap.parse_args(argv)
    dirs = build(args)
    py = {} if args.skip_python else python_side(dirs, args.reps)
    br = {} if args.skip_browser else browser_side(dirs, args.reps, args.repo.resolve())
    import numpy
    import pandas

    import nbrun

    def col(name: str, key: str) -> list[float]:
        return [r[key] for r in py[name]]

    print(
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}   reps: {args.reps} "
        "(min / median)"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"versions: nbrun {nbrun.__version__}, numpy {numpy.__version__}, "
        f"pandas {pandas.__version__}\n"
    )
    print("| figure | wall s | CPU s | target |")
    print("|---|---|---|---|")
    n = args.rows
    if py:
        print(
            f"| read back {n:,} rows x 2 into pandas | {_mm(col('read', 'read_s'))} | "
            f"{_mm(col('read', 'read_cpu_s'))} | < 0.25 s |"
        )
        print(
            f"| chart payload (lineage_frame) of {n:,} steps, cold | {_mm(col('chart', 'cold_s'))}"
            f" | {_mm(col('chart', 'cold_cpu_s'))} | < 0.3 s |"
        )
        print(
            f"| chart payload, again (cached chunk summaries) | {_mm(col('chart', 'warm_s'))} | "
            f"{_mm(col('chart', 'warm_cpu_s'))} | |"
        )
        print(
            f"| dashboard data (ChartFeed) of {n:,} steps, cold | {_mm(col('feed', 'cold_s'))} | "
            f"{_mm(col('feed', 'cold_cpu_s'))} | |"
        )
        print(
            f"| dashboard data, run with {args.forks} forks ({args.run_rows:,} rows), cold | "
            f"{_mm(col('feed_forks', 'cold_s'))} | {_mm(col('feed_forks', 'cold_cpu_s'))} | |"
        )
        print(f"| points per series | {max(col('chart', 'points')):.0f} | | <= 2,000 |")
        print(
            f"| dashboard data (ChartFeed), again (cached) | {_mm(col('feed', 'warm_s'))} | "
            f"{_mm(col('feed', 'warm_cpu_s'))} | |"
        )
        print(
            f"| dashboard kernel memory, {n:,} steps: anonymous RSS growth MiB | "
            f"{_mm(col('memory', 'rss_anon_delta_mib'), '.1f')} | | < 50 MiB |"
        )
        print(
            "| dashboard kernel memory: tracemalloc peak MiB | "
            f"{_mm(col('memory', 'traced_peak_mib'), '.1f')} | | |"
        )
        print(
            "| (database pages memory-mapped while reading, MiB: file cache, not heap) | "
            f"{_mm(col('memory', 'rss_file_delta_mib'), '.1f')} | | |"
        )
    for key, label in (
        (
            "project_first_chart_s",
            f"browser: project of {args.runs} runs x {args.run_rows:,}, open a run, first chart",
        ),
        ("forks_first_chart_s", f"browser: run with {args.forks} forks, first chart (all lines)"),
    ):
        if key in br:
            print(f"| {label} | {_mm(br[key])} | | < 1 s |")
    if br:
        print(
            "\nwhere the time goes (seconds after the cell started, min / median): kernel_* "
            "stamps are taken in the cell, page_* in the browser (t-module: the dashboard's "
            "module evaluated; t-render: its view made; first-chart: its first line in the "
            "DOM; t-embed: the first Vega view made; *_comm_open / display_data: the kernel's "
            "messages arriving)"
        )
        for key in sorted(br):
            if key.endswith("_bytes"):
                print(f"  {key}: {max(br[key]):,.0f}")
            elif not key.endswith("first_chart_s"):
                print(f"  {key}: {_mm(br[key])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
