"""What population-based training adds to its members' own training time (issue 23, rule 58).

    python bench/pbt.py                      # 8 members x 1,000 steps, interval 100, 5 rounds
    python bench/pbt.py --members 8 --steps 1000 --interval 100 --size 256 --rounds 5

Each round times, in this process and one after the other, the same 8 members (the same
training function and configs) twice: launched with ``nbrun.launch`` on threads and waited
for (the members' own training time), and as one ``nbrun.pbt`` population (members meeting at
every boundary, the bottom quarter replaced by forks). Both do the same work: a replacement
continues its slot from the donor's checkpoint, so every slot trains ``--steps`` steps. The
step is a NumPy least-squares gradient step on a ``--size`` x ``--size`` problem (BLAS on one
thread), logging two floats; both checkpoint every ``--interval`` steps. It prints the median
wall time and process CPU time of each, and the overhead: the median over rounds of each
round's PBT / launch - 1 (the load of a shared machine drifts between rounds much more than
within one). The CPU figure must stay under 5%; the wall figure also counts the barrier at
each boundary, where the slowest member holds the others (it grows with the machine's load).
It also checks the population (size, steps, at least one exploit) so a fast-but-wrong run
cannot pass.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread per member, both ways
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import nbrun


def make_train(size: int, every: int) -> Any:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(size * 4, size)) / np.sqrt(size)
    # noise keeps the residual of a converged member away from subnormal floats, whose
    # arithmetic is ~15x slower: without it, PBT's better members would train slower per step
    y = x @ rng.normal(size=size) + 0.1 * rng.normal(size=size * 4)

    def train(run: Any) -> None:
        state = run.restore() or {"w": np.zeros(size)}
        w = state["w"]
        lr = run.config.lr
        with np.errstate(all="ignore"):
            for _ in range(run.step, run.total):
                for _ in range(4):  # a few BLAS calls per step, as a small model would make
                    w = w - lr * (x.T @ (x @ w - y)) / len(y)
                loss = float(np.mean((x @ w - y) ** 2))
                run.log({"loss": loss, "lr": lr})
                if run.step % every == 0:
                    run.checkpoint({"w": w})

    return train


def configs(members: int) -> list[dict[str, float]]:
    return [{"lr": 0.05 * 1.6**i} for i in range(members)]  # the largest ones diverge


def time_launch(root: str, train: Any, members: int, steps: int) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    runs = [
        nbrun.launch(train, total=steps, config=cfg, dir=root, project="launch")
        for cfg in configs(members)
    ]
    for r in runs:
        r.wait()
    took = (time.perf_counter() - t0, time.process_time() - c0)
    assert all(r.state == "finished" and r.step == steps for r in runs)
    return took


def time_pbt(root: str, train: Any, members: int, steps: int, interval: int) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    final = nbrun.pbt(
        train,
        configs(members),
        metric="loss",
        interval=interval,
        total=steps,
        perturb={"lr": (0.8, 1.25)},
        seed=0,
        dir=root,
        project="pbt",
    )
    took = (time.perf_counter() - t0, time.process_time() - c0)
    assert len(final) == members and all(r.state == "finished" and r.step == steps for r in final)
    forks = [r for r in nbrun.Api(root).runs("pbt") if r.forked_from is not None]
    assert forks, "no member was replaced: the bench would not measure an exploit"
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=100)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    train = make_train(args.size, args.interval)
    base: list[tuple[float, float]] = []
    pop: list[tuple[float, float]] = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory() as root:
            # alternate the order, so a neighbour's load on the shared machine hits both
            if i % 2 == 0:
                base.append(time_launch(root, train, args.members, args.steps))
                pop.append(time_pbt(root, train, args.members, args.steps, args.interval))
            else:
                pop.append(time_pbt(root, train, args.members, args.steps, args.interval))
                base.append(time_launch(root, train, args.members, args.steps))
        print(
            f"round {i + 1}: launch {base[-1][0]:.3f} s wall / {base[-1][1]:.3f} s CPU, "
            f"pbt {pop[-1][0]:.3f} s wall / {pop[-1][1]:.3f} s CPU",
            flush=True,
        )
    print(f"{args.members} members x {args.steps} steps, interval {args.interval}:")
    over = {}
    for i, what in enumerate(("wall", "CPU")):
        b = statistics.median(x[i] for x in base)
        p = statistics.median(x[i] for x in pop)
        # each round's pbt against the launch timed next to it: the load of a shared machine
        # drifts between rounds, much less within one
        over[what] = statistics.median(q[i] / a[i] - 1 for a, q in zip(base, pop, strict=True))
        print(
            f"  {what}: launch (the members alone) median {b:.3f} s, pbt median {p:.3f} s; "
            f"overhead, median of the rounds' pbt / launch - 1: {over[what] * 100:+.1f}%"
        )
    if over["CPU"] >= 0.05:
        sys.exit("pbt: CPU overhead over 5%")


if __name__ == "__main__":
    main()
