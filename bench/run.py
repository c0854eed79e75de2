"""nbrun benchmarks against W&B offline, trackio and MLflow, measured side by side.

One command::

    python bench/run.py                      # full: nbrun + wandb, trackio, mlflow, 3 reps
    python bench/run.py --quick              # seconds-long smoke version: nbrun only
    python bench/run.py --peers trackio --reps 5

Every measurement runs in a fresh interpreter (``bench/_worker.py``) with its own temporary
directory; peers run from their own venv at ``bench/.peers/venv`` (created and filled from
PyPI on first use) and, where the kernel allows it, in a network namespace with no network
(``unshare -n``). The script prints one table (min / median over repetitions, the ratio of
nbrun to the fastest peer, and each target met or missed) and writes the same as JSON and
markdown into ``bench/results/``. See ``bench/README.md`` for what each workload measures.

What a training loop pays for ``log`` (the whole loop timed, per-call p50 / p99.9 / max, a
no-op baseline, peak RSS of a 1M-step loop; issue 16) is measured by ``bench/loop.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
WORKER = BENCH / "_worker.py"
PEERS_DIR = BENCH / ".peers"
PEER_VENV = PEERS_DIR / "venv"
RESULT_PREFIX = "@@NBRUN_BENCH@@ "
ALL_PEERS = ("wandb", "trackio", "mlflow")
# What the peers' venv needs besides the peers themselves (read-back builds DataFrames).
PEER_EXTRAS = ("pandas",)
# Modules that `import nbrun` must not pull in (issue 2); numpy is reported, not flagged.
FORBIDDEN_IMPORTS = ("pandas", "altair", "anywidget", "ipywidgets")
WORKER_TIMEOUT_S = 600.0


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Workload sizes and time caps for one mode."""

    log_steps: int
    log_keys: int
    sustained_steps: int
    fork_sizes: tuple[int, ...]
    chart_points: int
    log_cap_s: float
    sustained_cap_s: float


FULL = Sizes(
    log_steps=20_000,
    log_keys=8,
    sustained_steps=1_000_000,
    fork_sizes=(10, 10_000, 1_000_000),
    chart_points=2_000,
    log_cap_s=15.0,
    sustained_cap_s=25.0,
)
QUICK = Sizes(
    log_steps=2_000,
    log_keys=8,
    sustained_steps=20_000,
    fork_sizes=(10, 1_000, 20_000),
    chart_points=2_000,
    log_cap_s=5.0,
    sustained_cap_s=5.0,
)


# ----------------------------------------------------------------------------- processes


def log(msg: str) -> None:
    """Progress line on stderr (the table goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _network_isolation() -> list[str]:
    """``["unshare", "-n"]`` if this process may create a network namespace, else ``[]``."""
    exe = shutil.which("unshare")
    if exe is None:
        return []
    try:
        ok = subprocess.run([exe, "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return [exe, "-n"] if ok else []


def peer_python() -> Path:
    """The interpreter of the peers' venv."""
    return PEER_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_peers(peers: Sequence[str]) -> dict[str, str]:
    """Create the peers' venv and pip-install each missing peer; return {peer: failure}."""
    failures: dict[str, str] = {}
    if not peers:
        return failures
    py = peer_python()
    if not py.exists():
        log(f"creating {PEER_VENV}")
        PEERS_DIR.mkdir(parents=True, exist_ok=True)
        (PEERS_DIR / ".gitignore").write_text("*\n")
        proc = subprocess.run(
            [sys.executable, "-m", "venv", str(PEER_VENV)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            reason = f"venv creation failed: {_last_line(proc.stderr)}"
            return dict.fromkeys(peers, reason)
    for pkg in (*PEER_EXTRAS, *peers):
        if _importable(py, pkg):
            continue
        log(f"pip install {pkg} into {PEER_VENV}")
        proc = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", pkg],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not _importable(py, pkg):
            reason = f"pip install {pkg} failed: {_last_line(proc.stderr or proc.stdout)}"
            if pkg in PEER_EXTRAS:
                return dict.fromkeys(peers, reason)
            failures[pkg] = reason
    return failures


def _importable(py: Path, module: str) -> bool:
    """Whether ``module`` imports in the interpreter ``py``."""
    proc = subprocess.run([str(py), "-c", f"import {module}"], capture_output=True, timeout=120)
    return proc.returncode == 0


def _last_line(text: str) -> str:
    """Last non-empty line of ``text``, shortened."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return (lines[-1] if lines else "no output")[:160]


class Runner:
    """Starts workers in fresh interpreters with per-call environments."""

    def __init__(self, isolate: list[str], scratch: Path) -> None:
        self.isolate = isolate
        self.scratch = scratch
        self._count = 0

    def new_dir(self, label: str) -> Path:
        """A fresh empty directory under the scratch root."""
        self._count += 1
        path = self.scratch / f"{self._count:03d}-{label}"
        path.mkdir(parents=True)
        return path

    def python(self, tool: str) -> list[str]:
        """Command prefix that runs Python for ``tool`` (peers: own venv, no network)."""
        if tool == "nbrun":
            return [sys.executable]
        return [*self.isolate, str(peer_python())]

    @staticmethod
    def env(workdir: Path) -> dict[str, str]:
        """Environment that keeps every tool local, quiet and inside ``workdir``."""
        env = dict(os.environ)
        env.update(
            {
                "PYTHONHASHSEED": "0",
                "WANDB_SILENT": "true",
                "WANDB_MODE": "offline",
                "WANDB_CONSOLE": "off",
                "WANDB_DISABLE_GIT": "true",
                "WANDB_DISABLE_CODE": "true",
                "WANDB_DIR": str(workdir),
                "WANDB_CONFIG_DIR": str(workdir / ".wandb-config"),
                "WANDB_CACHE_DIR": str(workdir / ".wandb-cache"),
                "WANDB_DATA_DIR": str(workdir / ".wandb-data"),
                "TRACKIO_DIR": str(workdir / "trackio"),
                "HF_HOME": str(workdir / ".hf"),
                "HF_HUB_OFFLINE": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "GRADIO_ANALYTICS_ENABLED": "False",
                "DO_NOT_TRACK": "1",
                "MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/mlflow.db",
                "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false",
                "GIT_PYTHON_REFRESH": "quiet",
            }
        )
        env.pop("NBRUN_DIR", None)
        env.pop("NBRUN_PROJECT", None)
        return env

    def work(self, tool: str, workload: str, workdir: Path, **params: Any) -> dict[str, Any]:
        """Run one workload in a fresh interpreter; return its JSON result (or an error)."""
        spec = {"tool": tool, "workload": workload, "dir": str(workdir), **params}
        cmd = [*self.python(tool), str(WORKER), json.dumps(spec)]
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                env=self.env(workdir),
                cwd=workdir,
                timeout=WORKER_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {WORKER_TIMEOUT_S:.0f} s"}
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith(RESULT_PREFIX):
                result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
                if "error" in result:
                    log(f"{tool} {workload} failed: {result['error']}\n{proc.stderr[-2000:]}")
                return result
        reason = _last_line(proc.stderr) or f"exit code {proc.returncode}"
        log(f"{tool} {workload}: no result line\n{proc.stderr[-2000:]}")
        return {"error": f"no result (exit {proc.returncode}): {reason}"}

    def import_time(self, tool: str) -> dict[str, Any]:
        """``python -X importtime -c 'import tool'``: cumulative seconds and modules loaded."""
        workdir = self.new_dir(f"import-{tool}")
        cmd = [*self.python(tool), "-X", "importtime", "-c", f"import {tool}"]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=self.env(workdir), cwd=workdir, timeout=300
            )
        except subprocess.TimeoutExpired:
            return {"error": "timed out"}
        if proc.returncode != 0:
            return {"error": f"import failed: {_last_line(proc.stderr)}"}
        return parse_importtime(proc.stderr, tool)


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)\s*$")


def parse_importtime(stderr: str, top: str) -> dict[str, Any]:
    """Parse ``-X importtime`` output: the cumulative time of ``top`` and what it imported.

    Python prints each module after the modules it imported, indented two spaces per
    nesting level, so ``top``'s imports are the indented lines just before its own line.
    """
    entries: list[tuple[str, int, int]] = []  # (module, depth, cumulative us)
    for line in stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            entries.append((m.group(4), (len(m.group(3)) - 1) // 2, int(m.group(2))))
    ends = [i for i, (name, depth, _) in enumerate(entries) if name == top and depth == 0]
    if not ends:
        return {"error": f"no importtime line for {top}"}
    end = start = ends[-1]
    while start > 0 and entries[start - 1][1] > 0:
        start -= 1
    loaded = entries[start : end + 1]
    packages = sorted({name.split(".")[0] for name, _, _ in loaded})
    heavy = sorted({name.split(".")[0] for name, _, cum in loaded if cum >= 20_000} - {top})
    return {
        "import_s": entries[end][2] / 1e6,
        "modules": len(loaded),
        "packages": packages,
        "heavy": heavy,
        "forbidden": sorted(set(packages) & set(FORBIDDEN_IMPORTS)),
    }


# ----------------------------------------------------------------------------- the suite


@dataclasses.dataclass
class Suite:
    """All results of one benchmark invocation."""

    tools: list[str]
    reps: int
    sizes: Sizes
    quick: bool
    results: dict[str, dict[str, list[dict[str, Any]]]] = dataclasses.field(default_factory=dict)
    unavailable: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def runnable(self) -> list[str]:
        """Tools that installed and can be measured."""
        return [t for t in self.tools if t not in self.unavailable]

    def add(self, workload: str, tool: str, result: dict[str, Any]) -> None:
        """Record one repetition's result."""
        self.results.setdefault(workload, {}).setdefault(tool, []).append(result)


def run_suite(args: argparse.Namespace) -> tuple[Suite, dict[str, Any]]:
    """Run every workload for every tool; return the results and machine metadata."""
    sizes = QUICK if args.quick else FULL
    peers = [p for p in args.peers if p]
    unavailable = ensure_peers(peers)
    suite = Suite(tools=["nbrun", *peers], reps=args.reps, sizes=sizes, quick=args.quick)
    suite.unavailable = unavailable
    isolate = _network_isolation() if peers else []
    scratch = Path(tempfile.mkdtemp(prefix="nbrun-bench-"))
    runner = Runner(isolate, scratch)
    started = time.perf_counter()
    try:
        _run_workloads(suite, runner, sizes, args.chart_hook)
    finally:
        if args.keep:
            log(f"kept scratch directory {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    meta = machine_metadata(suite, isolate)
    meta["wall_s"] = round(time.perf_counter() - started, 1)
    return suite, meta


def _run_workloads(suite: Suite, runner: Runner, sizes: Sizes, chart_hook: str) -> None:
    """Workloads 1-6 in order; tools interleaved within each repetition to spread noise."""
    sustained_dirs: dict[str, tuple[Path, str, int]] = {}
    for rep in range(suite.reps):
        for tool in suite.runnable:
            log(f"rep {rep + 1}/{suite.reps} {tool}: log loop")
            res = runner.work(
                tool,
                "log_loop",
                runner.new_dir(f"log-{tool}"),
                steps=sizes.log_steps,
                keys=sizes.log_keys,
                cap_s=sizes.log_cap_s,
            )
            suite.add("log_loop", tool, res)
            log(f"rep {rep + 1}/{suite.reps} {tool}: sustained")
            workdir = runner.new_dir(f"sustained-{tool}")
            res = runner.work(
                tool,
                "sustained",
                workdir,
                steps=sizes.sustained_steps,
                cap_s=sizes.sustained_cap_s,
            )
            suite.add("sustained", tool, res)
            if "error" not in res and tool not in sustained_dirs:
                sustained_dirs[tool] = (workdir, res["ref"], res["steps"])
            elif "error" not in res:
                shutil.rmtree(workdir, ignore_errors=True)

    for rep in range(suite.reps):
        for tool in suite.runnable:
            if tool not in sustained_dirs:
                suite.add("read", tool, {"error": "no sustained run to read"})
                continue
            workdir, ref, steps = sustained_dirs[tool]
            log(f"rep {rep + 1}/{suite.reps} {tool}: read back {steps} rows")
            res = runner.work(tool, "read", workdir, ref=ref, expected_rows=steps)
            suite.add("read", tool, res)

    nbrun_run = sustained_dirs.get("nbrun")
    if nbrun_run is None:
        for workload in ("fork", "chart", "chart_history_samples"):
            suite.add(workload, "nbrun", {"error": "nbrun sustained run failed"})
    else:
        _fork_and_chart(suite, runner, sizes, chart_hook, *nbrun_run)

    for rep in range(suite.reps):
        for tool in suite.runnable:
            log(f"rep {rep + 1}/{suite.reps} {tool}: import time")
            suite.add("import", tool, runner.import_time(tool))


def _fork_and_chart(
    suite: Suite,
    runner: Runner,
    sizes: Sizes,
    chart_hook: str,
    workdir: Path,
    long_ref: str,
    long_steps: int,
) -> None:
    """Workloads 4 and 5 on nbrun: forks of parents of each size, chart of the long run."""
    parents: dict[int, tuple[str, int]] = {}
    for size in sizes.fork_sizes:
        if size == long_steps:
            parents[size] = (long_ref, long_steps)
            continue
        log(f"nbrun: fork parent of {size} rows")
        res = runner.work("nbrun", "sustained", workdir, steps=size, cap_s=600.0)
        if "error" in res:
            suite.add(f"fork_{size}", "nbrun", res)
            continue
        parents[size] = (res["ref"], res["steps"])
    for rep in range(suite.reps):
        for size, (ref, steps) in parents.items():
            log(f"rep {rep + 1}/{suite.reps} nbrun: fork a {steps}-row parent")
            res = runner.work("nbrun", "fork", workdir, parent=ref, step=steps - 1)
            res["parent_rows"] = steps
            suite.add(f"fork_{size}", "nbrun", res)
    for rep in range(suite.reps):
        log(f"rep {rep + 1}/{suite.reps} nbrun: chart payload of {long_steps} rows")
        for workload in ("chart", "chart_history_samples"):
            res = runner.work(
                "nbrun",
                workload,
                workdir,
                ref=long_ref,
                max_points=sizes.chart_points,
                chart_hook=chart_hook,
            )
            res["run_rows"] = long_steps
            suite.add(workload, "nbrun", res)


def machine_metadata(suite: Suite, isolate: list[str]) -> dict[str, Any]:
    """Date, machine size and tool versions for the report header."""
    mem_gib = 0.0
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        pass
    versions: dict[str, str] = {}
    for workload in suite.results.values():
        for tool, reps in workload.items():
            for res in reps:
                if res.get("version"):
                    versions.setdefault(tool, res["version"])
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "versions": versions,
        "peer_network": "isolated (unshare -n)" if isolate else "not isolated",
        "quick": suite.quick,
        "reps": suite.reps,
        "unavailable": suite.unavailable,
    }


# ----------------------------------------------------------------------------- the table


@dataclasses.dataclass(frozen=True)
class Metric:
    """One table row: where to find the value, how to print it, which way is better.

    ``ratio`` says how the ratio column treats peers: ``"rate"`` compares every peer (per-call
    and per-row figures stay comparable when a peer was time-capped), ``"total"`` only peers
    that ran the whole workload (totals and memory grow with the amount logged), ``"none"``
    prints no ratio, ``"nbrun"`` means peers are not measured on this row at all.
    """

    label: str
    workload: str
    key: str
    fmt: str
    higher_is_better: bool = False
    ratio: str = "rate"
    target: str = ""
    check: Callable[[dict[str, Any]], bool | None] | None = None


def metrics(sizes: Sizes) -> list[Metric]:
    """The rows of the table for the given sizes."""
    M = Metric
    log_label = f"{sizes.log_steps:,} steps x {sizes.log_keys}"
    sus_label = f"{sizes.sustained_steps:,} x 2"
    big, small = f"fork_{max(sizes.fork_sizes)}", f"fork_{min(sizes.fork_sizes)}"
    rows = [
        M(f"1 log: us per call ({log_label})", "log_loop", "us_per_call", ".2f",
          target=">= 20x cheaper than fastest peer",
          check=lambda row: _ratio_at_least(row, 20.0)),
        M("1 log: p99 of 100-call blocks, us/call", "log_loop", "us_per_call_p99_block", ".2f"),
        M("1 log: finish() until durable, s", "log_loop", "finish_s", ".3f", ratio="total"),
        M("1 log: loop + finish, s", "log_loop", "durable_s", ".3f", ratio="total"),
        M(f"2 sustained: rows/s end to end ({sus_label})", "sustained", "rows_per_s", ",.0f",
          higher_is_better=True),
        M("2 sustained: rows/s in the log loop", "sustained", "log_rows_per_s", ",.0f",
          higher_is_better=True),
        M("2 sustained: peak RSS, MiB", "sustained", "peak_rss_mib", ".0f", ratio="total"),
        M("2 sustained: RSS growth after init, MiB", "sustained", "rss_growth_mib", ".0f",
          ratio="none"),
        M("2 sustained: peak RSS of child processes, MiB", "sustained", "children_peak_rss_mib",
          ".0f", ratio="none"),
        M("3 read back: rows/s into a DataFrame", "read", "rows_per_s", ",.0f",
          higher_is_better=True, target=">= 5x faster than fastest peer",
          check=lambda row: _ratio_at_least(row, 5.0)),
        M("3 read back: seconds", "read", "read_s", ".3f", ratio="none"),
        *[
            M(f"4 fork: {size:,}-row parent, s", f"fork_{size}", "fork_s", ".3f", ratio="nbrun")
            for size in sizes.fork_sizes
        ],
        M(f"4 fork: flat ({max(sizes.fork_sizes):,} vs {min(sizes.fork_sizes):,} rows)", big,
          "fork_s", ".3f", ratio="nbrun", target="largest <= 1.5x smallest + 20 ms",
          check=lambda row: _fork_flat(row, big, small)),
        M("5 chart: payload build, s (nbrun.widgets)", "chart", "payload_s", ".3f",
          ratio="nbrun"),
        M("5 chart: points per series (nbrun.widgets)", "chart", "points_per_series", "d",
          ratio="nbrun", target="<= 2,000", check=lambda row: _at_most(row, 2000)),
        M("5 chart: history(samples=2000), s", "chart_history_samples", "payload_s", ".3f",
          ratio="nbrun"),
        M("5 chart: history(samples=2000) points/series", "chart_history_samples",
          "points_per_series", "d", ratio="nbrun"),
        M("6 import: seconds (-X importtime)", "import", "import_s", ".3f",
          target="nbrun <= 0.3 s, no pandas/altair/anywidget/ipywidgets", check=_import_ok),
    ]  # fmt: skip
    return rows


def _ratio_at_least(row: dict[str, Any], factor: float) -> bool | None:
    ratio = row.get("ratio")
    return None if ratio is None else ratio >= factor


def _at_most(row: dict[str, Any], limit: float) -> bool | None:
    med = row["cells"].get("nbrun", {}).get("median")
    return None if med is None else med <= limit


def _fork_flat(row: dict[str, Any], big: str, small: str) -> bool | None:
    medians = row.get("fork_medians", {})
    if big not in medians or small not in medians:
        return None
    return medians[big] <= 1.5 * medians[small] + 0.020


def _import_ok(row: dict[str, Any]) -> bool | None:
    med = row["cells"].get("nbrun", {}).get("median")
    if med is None:
        return None
    return med <= 0.3 and not row.get("forbidden")


def summarize(suite: Suite) -> list[dict[str, Any]]:
    """Table rows: per tool min/median (or n/a reason), ratio vs the fastest peer, target."""
    rows: list[dict[str, Any]] = []
    fork_medians: dict[str, float] = {}
    for metric in metrics(suite.sizes):
        row: dict[str, Any] = {"label": metric.label, "cells": {}, "target": metric.target}
        for tool in suite.tools:
            if tool != "nbrun" and metric.ratio == "nbrun":
                row["cells"][tool] = {"na": "nbrun only"}
            elif tool in suite.unavailable:
                row["cells"][tool] = {"na": "unavailable, see header"}
            else:
                reps = suite.results.get(metric.workload, {}).get(tool, [])
                row["cells"][tool] = _cell(reps, metric.key)
        nb = row["cells"].get("nbrun", {}).get("median")
        if metric.workload.startswith("fork_") and nb is not None:
            fork_medians[metric.workload] = nb
        row["fork_medians"] = dict(fork_medians)
        peer_meds = {
            t: c["median"]
            for t, c in row["cells"].items()
            if t != "nbrun"
            and c.get("median") is not None
            and not (metric.ratio == "total" and c.get("capped"))
        }
        if metric.ratio in ("rate", "total") and nb and peer_meds:
            pick = max if metric.higher_is_better else min
            best = pick(peer_meds, key=lambda t: peer_meds[t])
            ratio = nb / peer_meds[best] if metric.higher_is_better else peer_meds[best] / nb
            row["ratio"], row["ratio_peer"] = ratio, best
        if metric.workload == "import":
            reps = [r for r in suite.results.get("import", {}).get("nbrun", []) if "error" not in r]
            if reps:
                row["forbidden"] = reps[0]["forbidden"]
                row["heavy"] = reps[0]["heavy"]
        row["fmt"] = metric.fmt
        if metric.check is not None and not suite.quick:
            verdict = metric.check(row)
            row["verdict"] = "n/a" if verdict is None else ("met" if verdict else "missed")
        rows.append(row)
    return rows


def _cell(reps: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """min/median of ``key`` over repetitions, or the reason there is no value."""
    values = [r[key] for r in reps if r.get(key) is not None and "error" not in r]
    if not values:
        reasons = [r.get("error") or r.get("na") for r in reps if r.get("error") or r.get("na")]
        return {"na": reasons[0] if reasons else "not measured"}
    cell: dict[str, Any] = {
        "min": min(values),
        "median": statistics.median(values),
        "n": len(values),
    }
    capped = [r for r in reps if r.get("capped")]
    if capped:
        cell["capped"] = True
        cell["note"] = f"time-capped at {min(r['steps'] for r in capped):,} steps"
    mismatched = [
        r
        for r in reps
        if r.get("expected_rows") is not None and r.get("rows") != r["expected_rows"]
    ]
    if mismatched:
        r = mismatched[0]
        cell["note"] = f"read {r['rows']:,} rows, expected {r['expected_rows']:,}"
    elif reps and reps[0].get("rows") is not None:
        cell["note"] = f"{reps[0]['rows']:,} rows"
    return cell


def _fmt(value: float, fmt: str) -> str:
    return format(round(value), fmt) if fmt.endswith("d") else format(value, fmt)


def render_cell(cell: dict[str, Any], fmt: str, notes: bool = True) -> str:
    """``min / median`` text of one cell (or ``n/a (reason)``)."""
    if "na" in cell:
        return f"n/a ({cell['na']})" if cell["na"] != "nbrun only" else "-"
    text = _fmt(cell["min"], fmt)
    if cell["n"] > 1:
        text += " / " + _fmt(cell["median"], fmt)
    if notes and cell.get("note"):
        text += f" [{cell['note']}]"
    return text


def render_ratio(row: dict[str, Any]) -> str:
    """``12.3x vs trackio`` or ``-``."""
    if "ratio" not in row:
        return "-"
    return f"{row['ratio']:.1f}x vs {row['ratio_peer']}"


def render_table(suite: Suite, rows: list[dict[str, Any]], markdown: bool) -> str:
    """The table as aligned text (terminal) or as a markdown table."""
    head = [
        "workload (min / median)",
        *suite.tools,
        "ratio: nbrun vs best peer (>1 = nbrun better)",
    ]
    if not suite.quick:
        head.append("target")
    body = []
    for row in rows:
        line = [
            row["label"],
            *[render_cell(row["cells"][t], row["fmt"]) for t in suite.tools],
            render_ratio(row),
        ]
        if not suite.quick:
            line.append(f"{row['target']}: {row['verdict'].upper()}" if row.get("verdict") else "")
        body.append(line)
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(c.replace("|", "/") for c in line) + " |" for line in body]
        return "\n".join(out)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    sep = "  "
    out = [
        sep.join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
        sep.join("-" * w for w in widths),
    ]
    out += [sep.join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in body]
    return "\n".join(out)


def render_header(meta: dict[str, Any]) -> str:
    """Date, machine and versions."""
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    lines = [
        f"date: {meta['date']}   mode: {'quick' if meta['quick'] else 'full'}, "
        f"{meta['reps']} rep(s), {meta['wall_s']} s wall",
        f"machine: {meta['cpus']} CPUs, {meta['memory_gib']} GiB RAM, {meta['platform']}, "
        f"Python {meta['python']}",
        f"versions: {versions}   peers' network: {meta['peer_network']}",
    ]
    for tool, reason in meta["unavailable"].items():
        lines.append(f"{tool}: n/a ({reason})")
    return "\n".join(lines)


def render_footer(suite: Suite, rows: list[dict[str, Any]]) -> str:
    """Notes under the table: how peers were run and read, what nbrun imports."""
    notes = [
        "cells: min / median over repetitions, each in a fresh process; ratio uses medians "
        "and says how many times better nbrun is than the best peer on that row (<1: worse); "
        "totals and memory compare only peers that were not time-capped.",
        "wandb: mode='offline'; trackio: local SQLite; mlflow: sqlite:/// URI, synchronous "
        "log_metrics (its default). Peers slower than the time cap log fewer steps (noted).",
        "read back = history of the first sustained run; rows/s compares tools that logged "
        "different numbers of rows.",
    ]
    for row in rows:
        if "heavy" in row:
            notes.append(
                "import nbrun: packages >= 20 ms: "
                + (", ".join(row["heavy"]) or "none")
                + "; forbidden loaded: "
                + (", ".join(row["forbidden"]) or "none")
            )
    for res in suite.results.get("chart", {}).get("nbrun", [])[:1]:
        if res.get("via"):
            notes.append(f"chart payload built by {res['via']}(stored_run, 'loss', max_points)")
        if res.get("looked_for"):
            notes.append(
                "chart hook (bench/_worker.py CHART_HOOKS) looked for: "
                + ", ".join(res["looked_for"])
            )
    for tool in suite.tools:
        via = [r["via"] for r in suite.results.get("read", {}).get(tool, []) if r.get("via")]
        if via:
            notes.append(f"read back via {tool}: {via[0]}")
    return "\n".join("- " + n for n in notes)


def write_results(
    out: Path, suite: Suite, meta: dict[str, Any], rows: list[dict[str, Any]], text: str
) -> tuple[Path, Path]:
    """Write ``<stamp>.json`` / ``.md`` and ``latest.json`` / ``latest.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-quick" if suite.quick else "")
    payload = {
        "meta": meta,
        "tools": suite.tools,
        "table": [{k: v for k, v in r.items() if k != "fork_medians"} for r in rows],
        "raw": suite.results,
    }
    md = (
        f"# nbrun benchmark\n\n```\n{render_header(meta)}\n```\n\n"
        f"{render_table(suite, rows, markdown=True)}\n\n{render_footer(suite, rows)}\n"
    )
    for name, content in ((f"{stamp}.json", json.dumps(payload, indent=1)), (f"{stamp}.md", md)):
        (out / name).write_text(content)
    (out / ("latest-quick" if suite.quick else "latest")).with_suffix(".json").write_text(
        json.dumps(payload, indent=1)
    )
    (out / ("latest-quick" if suite.quick else "latest")).with_suffix(".md").write_text(md)
    return out / f"{stamp}.json", out / f"{stamp}.md"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="seconds-long smoke run: small sizes, no peers, no targets",
    )
    ap.add_argument(
        "--peers",
        default=None,
        help=f"comma-separated peers (default {','.join(ALL_PEERS)}; none if --quick)",
    )
    ap.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions per measurement (default 3; 1 if --quick)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=BENCH / "results",
        help="directory for the JSON and markdown results",
    )
    ap.add_argument(
        "--chart-hook",
        default="",
        help="module:function that builds the chart payload, called as fn(stored_run, "
        "'loss', max_points) (default: CHART_HOOKS in bench/_worker.py)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the scratch run directories")
    args = ap.parse_args(argv)
    if args.peers is None:
        args.peers = "" if args.quick else ",".join(ALL_PEERS)
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = sorted(set(args.peers) - set(ALL_PEERS))
    if unknown:
        ap.error(f"--peers: unknown {', '.join(unknown)}; choose from {', '.join(ALL_PEERS)}")
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table, write results; exit 0 unless nothing ran."""
    args = parse_args(argv)
    suite, meta = run_suite(args)
    rows = summarize(suite)
    text = "\n".join(
        [
            render_header(meta),
            "",
            render_table(suite, rows, markdown=False),
            "",
            render_footer(suite, rows),
        ]
    )
    print(text)
    json_path, md_path = write_results(args.out, suite, meta, rows, text)
    print(f"\nwrote {json_path} and {md_path}")
    nbrun_ok = any("error" not in r for r in suite.results.get("log_loop", {}).get("nbrun", []))
    return 0 if nbrun_ok else 1


if __name__ == "__main__":
    sys.exit(main())
