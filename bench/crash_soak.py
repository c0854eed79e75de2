"""Crash soak: SIGKILL a logging process at random moments, many times (outside CI).

    python bench/crash_soak.py                  # 200 trials, 4 children at once
    python bench/crash_soak.py --trials 500 --workers 6 --seed 1

Each trial is the one in ``tests/integration/test_crash.py``: a child logs continuously
(flushing every 0.05 s or 200 rows) and prints the writer's durable step after every flush; it
is killed with SIGKILL once that step passed a random target plus a random jitter. Then the
database must pass ``PRAGMA integrity_check``, every step reported durable must be stored with
the values logged, the run must read as ``crashed``, and ``resume="auto"`` / ``"allow"``
(alternating) must continue it at the next step with no duplicated steps. Prints trials survived
and rows lost; exits 1 if any trial failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_crash import run_trials


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nbrun-soak-") as tmp:
        results = run_trials(Path(tmp), args.trials, args.seed, workers=args.workers)
    elapsed = time.perf_counter() - t0
    survived = sum(o.survived for _, o in results)
    lost = sum(o.rows_lost for _, o in results)
    durable = sum(t.durable + 1 for t, _ in results)
    for t, o in results:
        if not o.survived:
            print(f"FAILED {t.run_id} (durable step {t.durable}): {o.problems}")
    print(
        f"trials: {len(results)}  survived: {survived}  rows reported durable: {durable}  "
        f"rows lost: {lost}  ({elapsed:.1f} s)"
    )
    return 0 if survived == len(results) and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
