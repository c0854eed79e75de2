"""Fork cost against the parent's length (run semantics rule 16: forking never copies the
parent's rows, so its cost does not grow with the parent's history).

    python bench/fork_cost.py                       # parents of 10, 10k and 1M rows, 5 reps
    python bench/fork_cost.py --sizes 10 100000 --reps 9

For each parent size it logs a finished parent run, then times ``nbrun.init(fork_from=...)``
followed by ``finish()`` of the fork, ``--reps`` times each at two fork steps: the parent's
last step (the summary state stored with the last chunk is used as is) and a step in the
middle of the parent's last full chunk (one chunk is decoded to finish the state). It prints
min and median per size and step, the median ratio largest/smallest parent, and checks the
forks' stitched history length and summary so a fast-but-wrong fork cannot pass.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nbrun

FLUSH_ROWS = 1000  # the engine's default chunk size


def make_parent(root: str, rows: int) -> str:
    run = nbrun.init(project="bench", dir=root, reinit="create_new", id=f"parent{rows}")
    run.define_metric("loss", summary="min,max,mean")
    for i in range(rows):
        run.log({"loss": 1.0 / (i + 1), "acc": i / rows, "epoch": i // 100})
    run.finish()
    return run.id


def time_fork(root: str, parent: str, step: int, reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fork = nbrun.init(
            project="bench", dir=root, reinit="create_new", fork_from=f"{parent}?_step={step}"
        )
        fork.finish()
        times.append(time.perf_counter() - t0)
        loss = fork.summary["loss"]
        if fork.step != step + 1 or loss["min"] != 1.0 / (step + 1) or loss["max"] != 1.0:
            raise SystemExit(f"wrong fork of {parent} at {step}: {fork.step} {loss}")
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 10_000, 1_000_000])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)

    results: dict[tuple[int, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="nbrun-fork-cost-") as root:
        for rows in args.sizes:
            t0 = time.perf_counter()
            parent = make_parent(root, rows)
            build = time.perf_counter() - t0
            last = rows - 1
            full_chunks = rows // FLUSH_ROWS
            mid = (full_chunks - 1) * FLUSH_ROWS + FLUSH_ROWS // 2 if full_chunks else rows // 2
            for label, step in (("last step", last), ("mid-chunk", mid)):
                results[(rows, label)] = time_fork(root, parent, step, args.reps)
            check = nbrun.init(
                project="bench", dir=root, reinit="create_new", fork_from=f"{parent}?_step={last}"
            )
            n = len(check.history(keys=["loss"]))
            check.finish()
            if n != rows:
                raise SystemExit(f"fork of {parent} shows {n} rows, not {rows}")
            print(f"# parent of {rows:,} rows logged in {build:.2f} s", file=sys.stderr)

    print(f"fork cost (init + finish), {args.reps} reps each")
    print(f"{'parent rows':>12}  {'fork at':<10} {'min ms':>8} {'median ms':>10}")
    for (rows, label), times in results.items():
        print(
            f"{rows:>12,}  {label:<10} {min(times) * 1e3:>8.2f} "
            f"{statistics.median(times) * 1e3:>10.2f}"
        )
    small, large = min(args.sizes), max(args.sizes)
    for label in ("last step", "mid-chunk"):
        ratio = statistics.median(results[(large, label)]) / statistics.median(
            results[(small, label)]
        )
        print(f"median ratio {large:,}/{small:,} rows, fork at {label}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
