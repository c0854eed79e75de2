"""The sweep agent's own cost per trial (issue 23; rules 50-53): claiming the suggestion in the
store, the trial's ``init`` and ``finish``, recording the trial, with a function that logs one
value and returns at once.

    python bench/sweeps.py                  # grid and random (200 trials), bayes (100 + 10)
    python bench/sweeps.py --trials 100 --grid-points 400 --agents 4

It prints the median of ``--reps`` runs of each, per trial, beside a bare ``init`` +
``log`` + ``finish`` in the same store (what the agent adds is the difference), then runs a
grid of ``--grid-points`` points with ``--agents`` agent processes and checks that every point
ran exactly once. Targets (issue 23): under 10 ms per trial for grid and random on SQLite,
under 100 ms for bayes with 100 finished trials.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbrun  # noqa: E402 - after the path insert
from nbrun._store import Store  # noqa: E402 - after the path insert

P = "bench"
_value = [0.0]


def train() -> None:
    run = nbrun.init()
    _value[0] += 1.0
    run.log({"loss": float(run.config.get("x", 0.0)) + _value[0] % 7})


def bare(root: str, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        run = nbrun.init(project=P, dir=root, config={"x": i})
        run.log({"loss": float(i)})
        run.finish()
    return (time.perf_counter() - t0) / n


def per_trial(root: str, config: dict[str, Any], n: int, warm: int = 0) -> float:
    sid = nbrun.sweep(config, project=P, dir=root, seed=1)
    if warm:
        nbrun.agent(f"{P}/{sid}", train, count=warm, dir=root)
    t0 = time.perf_counter()
    nbrun.agent(f"{P}/{sid}", train, count=n, dir=root)
    return (time.perf_counter() - t0) / n


GRID = {
    "method": "grid",
    "parameters": {"x": {"values": list(range(100))}, "y": {"values": list(range(100))}},
}
RANDOM = {"method": "random", "parameters": {"x": {"min": 0.0, "max": 1.0}}}
BAYES = {
    "method": "bayes",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}, "y": {"values": [1, 2, 3]}},
}

AGENT = """
import sys, nbrun
def train():
    run = nbrun.init()
    run.log({"loss": float(run.config["x"])})
nbrun.agent(sys.argv[1], train, dir=sys.argv[2])
"""


def many_agents(root: str, points: int, agents: int) -> tuple[float, bool]:
    config = {"method": "grid", "parameters": {"x": {"values": list(range(points))}}}
    sid = nbrun.sweep(config, project="many", dir=root)
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", AGENT, f"many/{sid}", root],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(agents)
    ]
    for proc in procs:
        proc.wait()
    elapsed = time.perf_counter() - t0
    store = Store.open(root)
    rec = store.get_sweep("many", sid)
    assert rec is not None
    trials = store.list_trials(rec.key)
    ok = sorted(t.idx for t in trials) == list(range(points)) and all(
        t.state == "finished" for t in trials
    )
    return elapsed, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--bayes-trials", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--grid-points", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=4)
    args = parser.parse_args()
    # outside a git checkout: a run's metadata asks git three questions when there is one
    # (about 8 ms each on a busy machine), which is init's cost, not the agent's
    os.chdir(tempfile.mkdtemp())
    rows = []
    for name, fn in (
        ("bare init+log+finish", lambda d: bare(d, args.trials)),
        ("grid", lambda d: per_trial(d, GRID, args.trials)),
        ("random", lambda d: per_trial(d, RANDOM, args.trials)),
        ("bayes (100 finished)", lambda d: per_trial(d, BAYES, args.bayes_trials, warm=100)),
    ):
        times = []
        for _ in range(args.reps):
            with tempfile.TemporaryDirectory() as d:
                times.append(fn(d))
        rows.append((name, statistics.median(times), min(times)))
        print(f"{name:24s} median {rows[-1][1] * 1e3:7.2f} ms/trial  min {rows[-1][2] * 1e3:7.2f}")
    with tempfile.TemporaryDirectory() as d:
        elapsed, ok = many_agents(d, args.grid_points, args.agents)
    print(
        f"grid of {args.grid_points} points, {args.agents} agent processes: {elapsed:.2f} s, "
        f"every point exactly once: {ok}"
    )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
