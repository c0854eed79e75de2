"""What a training loop pays for ``run.log``: nbrun vs trackio vs a no-op, the whole loop timed.

One command per figure::

    python bench/loop.py                         # full: no-op, nbrun, trackio; both workloads; RSS
    python bench/loop.py --quick                 # seconds: small sizes, no-op + nbrun only
    python bench/loop.py --workload 20k          # one workload (20k | 200k | rss)
    python bench/loop.py --tools noop,nbrun --reps 5

Protocol (issue 16): every measurement runs in a fresh interpreter (this script re-started with
``--worker``); medians of ``--reps`` (3) repetitions; tools interleaved inside each repetition.
Every tracker is called as training code calls it, ``log(metrics, step=i)``, with the dict
built inside the loop. The harness times the WHOLE loop (so a writer thread's share of the GIL
and the stalls it causes are counted) and, inside the same loop, each single call
(``perf_counter_ns`` before and after, stored in a preallocated array): the no-op pays the
same timing and dict building, so "overhead" = loop µs/step minus the no-op's. Workloads:

- ``20k``: 20,000 steps x 8 floats; ``200k``: 200,000 steps x 2 floats;
- ``rss``: 1,000,000 steps x 2 floats without per-call timing; peak RSS (``ru_maxrss``) of
  the process (target < 100 MB for nbrun); trackio is left out of it (it keeps every row in
  memory: GBs).

trackio runs from ``bench/.peers/venv`` (``bench/run.py`` creates it; ``ensure_peers``) under
``unshare -n`` where allowed, with ``bench/run.py``'s environment (local SQLite, no Space).
Results: a table on stdout, ``bench/results/loop-latest.{md,json}`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULT_PREFIX = "@@NBRUN_LOOP@@ "
WORKLOADS = {"20k": (20_000, 8), "200k": (200_000, 2), "rss": (1_000_000, 2)}
QUICK = {"20k": (2_000, 8), "200k": (20_000, 2), "rss": (50_000, 2)}
ALL_TOOLS = ("noop", "nbrun", "trackio")


# ----------------------------------------------------------------------------- worker side


def _loop_source(nkeys: int, timed: bool) -> str:
    """Source of the measured loop: the dict is built inside it, as training code does."""
    items = ", ".join(f'"metric_{k}": x + {k}.0' for k in range(nkeys))
    if timed:
        body = (
            "        x = i * 0.001\n"
            f"        m = {{{items}}}\n"
            "        t1 = ns()\n"
            "        log(m, step=i)\n"
            "        lat[i] = ns() - t1\n"
        )
    else:
        body = f"        x = i * 0.001\n        log({{{items}}}, step=i)\n"
    return (
        "def loop(log, steps, lat, ns):\n    for i in range(steps):\n" + body + "    return steps\n"
    )


class _Noop:
    """The baseline: a log function that does nothing."""

    def start(self, workdir: str) -> None:
        pass

    def log(self, data: dict[str, Any], step: int | None = None) -> None:
        pass

    def finish(self) -> None:
        pass


class _Nbrun:
    def start(self, workdir: str) -> None:
        import nbrun

        self.run = nbrun.init(project="bench", dir=workdir)
        self.log = self.run.log

    def finish(self) -> None:
        self.run.finish()


class _Trackio:
    def start(self, workdir: str) -> None:
        import trackio

        self.trackio = trackio
        trackio.init(project="bench", embed=False, auto_log_cpu=False, auto_log_gpu=False)
        self.log = trackio.log

    def finish(self) -> None:
        self.trackio.finish()


def _version(tool: str) -> str:
    if tool == "noop":
        return platform.python_version()
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(tool)
    except PackageNotFoundError:
        return "?"


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this fresh interpreter."""
    import gc
    import resource
    from array import array

    tool, steps, nkeys, timed = spec["tool"], spec["steps"], spec["keys"], spec["timed"]
    adapter = {"noop": _Noop, "nbrun": _Nbrun, "trackio": _Trackio}[tool]()
    adapter.start(spec["dir"])
    namespace: dict[str, Any] = {}
    exec(_loop_source(nkeys, timed), namespace)  # our own generated loop
    loop = namespace["loop"]
    lat = array("q", bytes(8 * steps)) if timed else None
    gc.collect()
    clock = time.perf_counter
    c0 = time.process_time()
    m0 = time.thread_time()
    t0 = clock()
    loop(adapter.log, steps, lat, time.perf_counter_ns)
    t1 = clock()
    m1 = time.thread_time()
    c1 = time.process_time()
    adapter.finish()
    t2 = clock()
    out: dict[str, Any] = {
        "loop_us": (t1 - t0) / steps * 1e6,
        "cpu_us": (c1 - c0) / steps * 1e6,  # CPU of every thread of the process, per step
        "main_cpu_us": (m1 - m0) / steps * 1e6,  # CPU of the training thread alone
        "finish_s": t2 - t1,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000,
        "version": _version(tool),
    }
    if lat is not None:
        s = sorted(lat)
        out.update(
            p50_us=s[len(s) // 2] / 1e3,
            p99_us=s[int(0.99 * (len(s) - 1))] / 1e3,
            p999_ms=s[int(0.999 * (len(s) - 1))] / 1e6,
            max_ms=s[-1] / 1e6,
            over_2ms=sum(1 for v in s if v > 2_000_000),
            mean_us=sum(s) / len(s) / 1e3,  # the loop minus this is the loop's own work
        )
    return out


# ----------------------------------------------------------------------------- driver side


def _log(msg: str) -> None:
    print(f"[loop {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def measure(runner: Any, tool: str, workload: str, sizes: dict[str, tuple[int, int]]) -> dict:
    """One fresh-process measurement of ``tool`` on ``workload``."""
    import subprocess

    steps, nkeys = sizes[workload]
    workdir = runner.new_dir(f"{workload}-{tool}")
    spec = {
        "tool": tool,
        "steps": steps,
        "keys": nkeys,
        "timed": workload != "rss",
        "dir": str(workdir),
    }
    py = [sys.executable] if tool != "trackio" else runner.python("trackio")
    cmd = [*py, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=runner.env(workdir), cwd=workdir, timeout=900
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    _log(f"{tool} {workload} failed:\n{proc.stderr[-2000:]}")
    return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]}


def _median(reps: list[dict], key: str) -> float | None:
    vals = [r[key] for r in reps if key in r]
    return statistics.median(vals) if vals else None


def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def render(results: dict, sizes: dict, meta: dict) -> str:
    """The markdown report: one table per workload, medians (min-max) of the repetitions."""
    out = [
        f"date: {meta['date']}   reps: {meta['reps']} (median; fresh process each)   "
        f"wall: {meta['wall_s']} s",
        f"machine: {meta['cpus']} CPUs, {meta['platform']}, load before: {meta['load']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        "",
    ]
    for workload in ("20k", "200k"):
        if workload not in results:
            continue
        steps, nkeys = sizes[workload]
        res = results[workload]
        noop = _median(res.get("noop", []), "loop_us")
        out.append(f"**{steps:,} steps x {nkeys} floats**, `log(metrics, step=i)`")
        out.append("")
        out.append(
            "| tool | loop µs/step (min-max) | overhead µs/step (minus no-op) | "
            "vs nbrun overhead | CPU µs/step, all threads (overhead) | vs nbrun CPU overhead | "
            "p50 call µs | p99 call µs | p99.9 call ms | max call ms | calls > 2 ms | finish s | "
            "mean call µs | CPU µs/step: training thread / other threads |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        noop_cpu = _median(res.get("noop", []), "cpu_us")
        nb_cpu = _median(res.get("nbrun", []), "cpu_us")
        nb_cpu_over = None if nb_cpu is None or noop_cpu is None else nb_cpu - noop_cpu
        nb = _median(res.get("nbrun", []), "loop_us")
        nb_over = None if nb is None or noop is None else nb - noop
        for tool, reps in res.items():
            ok = [r for r in reps if "error" not in r]
            if not ok:
                out.append(f"| {tool} | error: {reps[0].get('error')} |" + " |" * 12)
                continue
            loop = _median(ok, "loop_us")
            lo, hi = min(r["loop_us"] for r in ok), max(r["loop_us"] for r in ok)
            over = None if noop is None or tool == "noop" else loop - noop
            ratio = (
                f"{over / nb_over:.1f}x"
                if over is not None and nb_over and tool != "nbrun" and nb_over > 0
                else "-"
            )
            cpu = _median(ok, "cpu_us")
            main_cpu = _median(ok, "main_cpu_us")
            cpu_over = None if noop_cpu is None or tool == "noop" or cpu is None else cpu - noop_cpu
            cpu_ratio = (
                f"{cpu_over / nb_cpu_over:.1f}x"
                if cpu_over is not None and nb_cpu_over and tool != "nbrun" and nb_cpu_over > 0
                else "-"
            )
            out.append(
                f"| {tool} | {loop:.2f} ({lo:.2f}-{hi:.2f}) | {_f(over, '.2f')} | {ratio} | "
                f"{_f(cpu, '.2f')} ({_f(cpu_over, '.2f')}) | {cpu_ratio} | "
                f"{_f(_median(ok, 'p50_us'), '.2f')} | {_f(_median(ok, 'p99_us'), '.2f')} | "
                f"{_f(_median(ok, 'p999_ms'), '.3f')} | "
                f"{_f(_median(ok, 'max_ms'), '.2f')} (worst {max(r['max_ms'] for r in ok):.2f})"
                f" | {_f(_median(ok, 'over_2ms'), '.0f')} | {_f(_median(ok, 'finish_s'), '.3f')} | "
                f"{_f(_median(ok, 'mean_us'), '.2f')} | {_f(main_cpu, '.2f')} / "
                f"{_f(None if main_cpu is None or cpu is None else cpu - main_cpu, '.2f')} |"
            )
        out.append("")
    if "rss" in results:
        steps, _ = sizes["rss"]
        out.append(f"**peak RSS of a {steps:,}-step loop (2 floats)**")
        out.append("")
        out.append("| tool | peak RSS MB (min-max) | loop µs/step | finish s |")
        out.append("|---|---|---|---|")
        for tool, reps in results["rss"].items():
            ok = [r for r in reps if "error" not in r]
            if not ok:
                out.append(f"| {tool} | error: {reps[0].get('error')} | | |")
                continue
            rss = [r["peak_rss_mb"] for r in ok]
            out.append(
                f"| {tool} | {statistics.median(rss):.0f} ({min(rss):.0f}-{max(rss):.0f}) | "
                f"{_median(ok, 'loop_us'):.2f} | {_median(ok, 'finish_s'):.3f} |"
            )
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; run the worker or the whole comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="small sizes, no-op + nbrun only")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tools", default=None, help="comma list of noop,nbrun,trackio")
    ap.add_argument("--workload", default="20k,200k,rss", help="comma list of 20k,200k,rss")
    ap.add_argument("--out", default=str(BENCH / "results"), help="where the report goes")
    args = ap.parse_args(argv)
    if args.worker:
        try:
            result = worker(json.loads(args.worker))
        except Exception as exc:  # reported to the driver, which prints stderr
            import traceback

            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        print("\n" + RESULT_PREFIX + json.dumps(result), flush=True)
        return 0

    sys.path.insert(0, str(BENCH))
    import run as bench_run  # bench/run.py: peers' venv, environment, network isolation

    sizes = QUICK if args.quick else WORKLOADS
    tools = (args.tools or ("noop,nbrun" if args.quick else ",".join(ALL_TOOLS))).split(",")
    workloads = [w for w in args.workload.split(",") if w]
    if "trackio" in tools:
        failed = bench_run.ensure_peers(["trackio"])
        if failed:
            _log(f"trackio unavailable: {failed}")
            tools.remove("trackio")
    isolate = bench_run._network_isolation() if "trackio" in tools else []
    scratch = Path(tempfile.mkdtemp(prefix="nbrun-loop-"))
    runner = bench_run.Runner(isolate, scratch)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    started = time.perf_counter()
    results: dict[str, dict[str, list[dict]]] = {}
    try:
        for rep in range(args.reps):
            for workload in workloads:
                for tool in tools:
                    if workload == "rss" and tool == "trackio":
                        continue
                    _log(f"rep {rep + 1}/{args.reps} {workload} {tool}")
                    res = measure(runner, tool, workload, sizes)
                    results.setdefault(workload, {}).setdefault(tool, []).append(res)
    finally:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    versions = {}
    for per_tool in results.values():
        for tool, reps in per_tool.items():
            for r in reps:
                if "version" in r:
                    versions.setdefault("python" if tool == "noop" else tool, r["version"])
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "reps": args.reps,
        "wall_s": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load": load,
        "versions": versions,
        "quick": args.quick,
    }
    report = render(results, sizes, meta)
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "loop-latest-quick" if args.quick else "loop-latest"
    (out / f"{name}.md").write_text(report + "\n")
    payload = {"meta": meta, "sizes": sizes, "results": results}
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
