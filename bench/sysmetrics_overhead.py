"""CPU cost of the system-metrics sampler (issue 13), as a share of one core.

    python bench/sysmetrics_overhead.py   # default interval for 60 s, 0.1 s for 10 s
    python bench/sysmetrics_overhead.py --seconds 120 --fast-seconds 20

A real run (``nbrun.init``, console capture off) idles while its sampler works; the CPU time
of the sampler thread itself is read from the thread's own CPU clock
(``time.pthread_getcpuclockid``, Linux), so the figure is the sampler's cost alone, whatever
else the machine does: sampling with psutil, building the sample, and encoding it for the
writer. ``% of one core`` = sampler CPU seconds / wall seconds x 100. It also reports the
CPU cost of one sample (the window starts after the first sample: psutil's import and its
first reads are one-off costs). The whole-process CPU share of the idle run (writer
heartbeat included) is printed for context.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nbrun
from nbrun._run import Settings


def measure(root: str, interval: float, seconds: float) -> dict[str, float]:
    run = nbrun.init(
        project="bench",
        dir=root,
        reinit="create_new",
        settings={"stats_interval": interval, "console": "off"},
    )
    sampler = run._sampler
    assert sampler is not None
    thread = sampler._thread
    while sampler.samples < 1:  # psutil's import and the first sample are one-off costs
        time.sleep(0.001)
    clock = time.pthread_getcpuclockid(thread.ident)
    samples0 = sampler.samples
    cpu0 = time.clock_gettime(clock)
    proc0 = time.process_time()
    t0 = time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - t0
    cpu = time.clock_gettime(clock) - cpu0
    proc = time.process_time() - proc0
    samples = sampler.samples - samples0
    run.finish()
    return {
        "interval": interval,
        "wall": wall,
        "samples": samples,
        "sampler_cpu": cpu,
        "pct_core": 100.0 * cpu / wall,
        "ms_per_sample": 1000.0 * cpu / samples if samples else float("nan"),
        "process_pct_core": 100.0 * proc / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="window at the default interval")
    ap.add_argument("--fast-seconds", type=float, default=10.0, help="window at 0.1 s")
    args = ap.parse_args()
    default = Settings().stats_interval
    print(
        f"# {time.strftime('%Y-%m-%d')}, {platform.platform()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(
        "| interval | window | samples | sampler CPU | % of one core | CPU per sample "
        "| whole idle process, % of one core |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as root:
        for interval, seconds in ((default, args.seconds), (0.1, args.fast_seconds)):
            r = measure(root, interval, seconds)
            print(
                f"| {r['interval']:g} s | {r['wall']:.0f} s | {r['samples']:.0f} | "
                f"{1000 * r['sampler_cpu']:.1f} ms | {r['pct_core']:.3f} % | "
                f"{r['ms_per_sample']:.2f} ms | {r['process_pct_core']:.2f} % |"
            )


if __name__ == "__main__":
    main()
