"""The dashboard's data of a 1,000,000-step run vs reading its history (issue 24 item 5,
issue 25 item 8, rule 68): seconds to build what ``run.display()`` computes in the kernel
(``ChartFeed(view); feed.rebuild(view); feed.snapshot()``), cold, against seconds to read the
full history into pandas (``view.history()``), cold, each in a fresh interpreter, and the
dashboard's kernel memory.

    python bench/dashboard_build.py                # 1,000,000 rows, 5 reps (builds the run once)
    python bench/dashboard_build.py --rows 200000 --reps 3

The run is the one ``bench/dashboard_open.py`` uses (``loss`` with one spike and ``acc``,
logged through ``nbrun.init`` / ``log``), kept in ``bench/.cache/big-<rows>-v5`` (a store of
schema version 5: its chunks carry stored bucket summaries). Targets: dashboard data < 0.5 x
the history read (medians); anonymous RSS growth while building it < 50 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from dashboard_open import REPO, WORKER, big_run, log  # noqa: E402


def measure(root: Path, what: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.run(
        [sys.executable, "-c", WORKER, what, str(root), "bench/big"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    out: dict[str, float] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    root = big_run(args.rows)
    res: dict[str, list[dict[str, float]]] = {}
    for rep in range(args.reps):  # interleaved: the machine's load hits both alike
        for what in ("read", "feed", "memory"):
            log(f"rep {rep + 1}/{args.reps}: {what}")
            res.setdefault(what, []).append(measure(root, what))

    def med(what: str, key: str) -> float:
        return statistics.median(r[key] for r in res[what])

    def mm(what: str, key: str, fmt: str = ".3f") -> str:
        vals = [r[key] for r in res[what]]
        return f"{min(vals):{fmt}} / {statistics.median(vals):{fmt}}"

    print(
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}   reps: {args.reps} "
        f"(min / median), fresh interpreter each, cold\nmachine: {os.cpu_count()} CPUs, "
        f"{platform.platform()}, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f}\n"
    )
    n = args.rows
    print("| figure | wall s | CPU s | target |")
    print("|---|---|---|---|")
    print(
        f"| read {n:,} rows x 2 into pandas (`history()`) | {mm('read', 'read_s')} | "
        f"{mm('read', 'read_cpu_s')} | |"
    )
    print(
        f"| dashboard data (`ChartFeed.rebuild` + `snapshot`) | {mm('feed', 'cold_s')} | "
        f"{mm('feed', 'cold_cpu_s')} | |"
    )
    ratio = med("feed", "cold_s") / med("read", "read_s")
    ratio_cpu = med("feed", "cold_cpu_s") / med("read", "read_cpu_s")
    print(f"| dashboard data / history read (medians) | {ratio:.2f} | {ratio_cpu:.2f} | < 0.5 |")
    print(
        f"| dashboard kernel memory: anonymous RSS growth MiB | "
        f"{mm('memory', 'rss_anon_delta_mib', '.1f')} | | < 50 MiB |"
    )
    print(
        f"| dashboard kernel memory: tracemalloc peak MiB | "
        f"{mm('memory', 'traced_peak_mib', '.1f')} | | |"
    )
    print(f"| points per series | {max(r['points'] for r in res['feed']):.0f} | | <= 2,000 |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
