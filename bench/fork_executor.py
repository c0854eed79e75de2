"""``fork_many`` of CPU-bound what-ifs on a Dask cluster against threads in the kernel (issue 17).

    python bench/fork_executor.py                   # 4 forks, 2 workers, 3 repetitions
    python bench/fork_executor.py --forks 4 --workers 2 --work 300000 --reps 5
    python bench/fork_executor.py --quick           # small sizes, one repetition

A parent run is launched (on a thread) and finished; then, per repetition, ``fork_many`` of
``--forks`` configs from the same checkpoint is timed until every fork has finished, once with
the forks on threads of this process (the default: they share one GIL) and once with
``executor=`` a Dask ``LocalCluster`` of ``--workers`` single-threaded worker processes (started
and warmed up, nbrun imported on each worker, before any timing). Each fork's steps are a
pure-Python loop (no NumPy: nothing releases the GIL). Prints min / median seconds per mode,
the speed-up (thread median / Dask median; the target is close to the worker count) and checks
that both modes logged the same values, so a fast-but-wrong run cannot pass. It also prints the
cores each mode kept busy (CPU seconds of the training processes / wall seconds: this process
for threads, the workers for Dask), which shows the parallelism even on a machine whose other
load makes the wall times noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nbrun


def train(run: Any) -> None:
    """A CPU-bound what-if: each step is a pure-Python loop whose result depends on the config
    and on the state restored from the checkpoint."""
    cfg = run.config
    state = run.restore() or {"x": 1.0}
    for _ in range(run.step, cfg.steps):
        acc = 0.0
        x = state["x"]
        for i in range(cfg.work):
            acc += (x * i) % 7.0
        state["x"] = (x + cfg.lr * acc / cfg.work) % 1000.0
        run.log({"x": state["x"]})
        if run.step % 5 == 0:
            run.checkpoint(state)


def cpu_seconds(client: Any) -> float:
    """CPU seconds used so far by this process, or (with a Dask client) by its workers."""
    if client is None:
        return time.process_time()
    return sum(client.run(time.process_time).values())


def timed_forks(
    parent: Any, configs: list[dict[str, Any]], executor: Any, client: Any
) -> tuple[float, float, list[list[float]]]:
    """Wall seconds until every fork finished, CPU seconds spent, and the forks' values."""
    cpu0 = cpu_seconds(client)
    t0 = time.perf_counter()
    forks = parent.fork_many(10, configs, executor=executor)
    for f in forks:
        assert f.wait(3600), f.id
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(client) - cpu0
    for f in forks:
        assert f.state == "finished", (f.id, f.state, f.error)
    return elapsed, cpu, [f.history(keys=["x"])["x"].tolist() for f in forks]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--forks", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30, help="steps per fork after the fork point")
    ap.add_argument("--work", type=int, default=200_000, help="loop iterations per step")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.work, args.reps = 10, 20_000, 1

    from distributed import Client, LocalCluster

    root = tempfile.mkdtemp(prefix="nbrun-fork-executor-")
    cfg = {"lr": 0.5, "steps": 11 + args.steps, "work": args.work}
    parent = nbrun.launch(train, project="bench", dir=root, config={**cfg, "steps": 11})
    assert parent.wait(600) and parent.state == "finished"
    configs = [{"lr": 0.1 * (i + 1), "steps": cfg["steps"]} for i in range(args.forks)]
    print(
        f"{args.forks} forks x {args.steps} steps x {args.work:,} loop iterations; "
        f"{args.workers} Dask workers; {os.cpu_count()} CPUs; load average "
        f"{os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )
    times: dict[str, list[float]] = {"threads": [], "dask": []}
    cores: dict[str, list[float]] = {"threads": [], "dask": []}
    with (
        LocalCluster(
            n_workers=args.workers,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("nbrun") and None)  # warm: imports are not timed
        executor = client.get_executor()
        for rep in range(args.reps):
            t_thr, c_thr, thr_values = timed_forks(parent, configs, None, None)
            t_dask, c_dask, dask_values = timed_forks(parent, configs, executor, client)
            assert thr_values == dask_values, "the Dask forks logged other values than threads"
            times["threads"].append(t_thr)
            times["dask"].append(t_dask)
            cores["threads"].append(c_thr / t_thr)
            cores["dask"].append(c_dask / t_dask)
            print(
                f"rep {rep + 1}: threads {t_thr:.2f} s ({c_thr / t_thr:.2f} cores busy), "
                f"dask {t_dask:.2f} s ({c_dask / t_dask:.2f} cores busy); load average "
                f"{os.getloadavg()[0]:.1f}",
                file=sys.stderr,
            )
    med = {k: statistics.median(v) for k, v in times.items()}
    print("| mode | min s | median s | cores busy (median) |\n|---|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {min(v):.2f} | {med[k]:.2f} | {statistics.median(cores[k]):.2f} |")
    print(f"speed-up (thread median / Dask median): {med['threads'] / med['dask']:.2f}x")


if __name__ == "__main__":
    main()
