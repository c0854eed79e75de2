"""Cost of one sweep suggestion (rules 47 and 48): ``suggest`` for grid (a 1,000-point grid
with N points held), random, and bayes with N finished trials (3 parameters: a float, a log
float and a categorical; 4 running). Issue 23's budget: bayes with 100 finished trials well
under 100 ms (the agent's whole per-trial cost for bayes is 100 ms).

    python bench/sweep_suggest.py [N ...]   (default: 10 50 100 300)
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from typing import Any

from nbrun._sweeps import Trial, parse_sweep_config, suggest

GRID = {
    "method": "grid",
    "parameters": {"a": {"min": 0, "max": 9}, "b": {"min": 0, "max": 9}, "c": {"min": 0, "max": 9}},
}
SPACE = {
    "x": {"min": -2.0, "max": 2.0},
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    "opt": {"values": ["sgd", "adam", "adamw"]},
}


def _trials(n: int, running: int = 4) -> list[Trial]:
    rnd = random.Random(n)
    out = []
    for i in range(n + running):
        p = {
            "x": rnd.uniform(-2, 2),
            "lr": 10 ** rnd.uniform(-5, -1),
            "opt": rnd.choice(SPACE["opt"]["values"]),
        }
        loss = (p["x"] - 0.3) ** 2 + abs(math.log10(p["lr"]) + 3) + (p["opt"] == "sgd")
        done = i < n
        out.append(Trial(i, p, loss if done else None, "finished" if done else "running"))
    return out


def _median_ms(cfg: Any, trials: list[Trial], reps: int = 7) -> str:
    """Median wall time and, in brackets, this process's CPU time (what a suggestion costs
    when the machine is not shared), in ms."""
    suggest(cfg, trials, 0)  # warm (imports)
    wall, cpu = [], []
    for seed in range(reps):
        t, c = time.perf_counter(), time.process_time()
        suggest(cfg, trials, seed)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return f"{statistics.median(wall) * 1000:7.3f} ({statistics.median(cpu) * 1000:.1f} cpu) ms"


def main(sizes: list[int]) -> None:
    grid = parse_sweep_config(GRID)
    rand = parse_sweep_config({"method": "random", "parameters": SPACE})
    bayes = parse_sweep_config({"method": "bayes", "metric": {"name": "loss"}, "parameters": SPACE})
    for n in sizes:
        held = [Trial(i, {}, 1.0, "finished") for i in range(min(n, 999))]
        trials = _trials(n)
        print(
            f"N={n:4d}  grid {_median_ms(grid, held)}  random {_median_ms(rand, trials)}"
            f"  bayes {_median_ms(bayes, trials)}"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 50, 100, 300])
