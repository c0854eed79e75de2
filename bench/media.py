"""Media logging cost (issue 11): what the training thread pays to log one 256x256x3 uint8
``nbrun.Image`` and one 10k-sample ``nbrun.Histogram``, how fast the writer thread encodes
and stores them, and the bytes on disk per image.

    python bench/media.py [--n 200] [--json]
    python bench/media.py --peers wandb,trackio [--n 50] [--json]

Without ``--peers`` it runs nbrun only, in this interpreter, in a temporary directory. For
scale it also times a synchronous Pillow PNG encode of the same array (what a tool that
encodes on the training thread pays); that row is a reference, not a measurement of any peer.

With ``--peers`` it measures nbrun and each peer side by side, every tool in fresh
interpreters (peers from ``bench/run.py``'s venv at ``bench/.peers/venv``, offline, without
network where the kernel allows it): the training-thread cost of constructing and logging one
fresh 256x256x3 uint8 noise image and one 10k-sample histogram through each tool's own API,
and the bytes each tool wrote to disk per image and per histogram (everything under the run's
scratch directory after ``finish``, minus what an empty run writes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PEERS = ("wandb", "trackio")
RESULT_PREFIX = "@@NBRUN_MEDIA@@ "
PHASES = ("empty", "image", "histogram")


def _stats(samples: list[float]) -> dict[str, float]:
    us = sorted(s * 1e6 for s in samples)
    return {
        "min_us": round(us[0], 1),
        "median_us": round(statistics.median(us), 1),
        "p90_us": round(us[int(len(us) * 0.9) - 1], 1),
    }


def measure(n: int) -> dict[str, Any]:
    """Run the measurements; return a dict of figures."""
    import numpy as np

    import nbrun

    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8) for _ in range(n)]
    yy, xx = np.mgrid[0:256, 0:256]
    smooth = []
    for i in range(n):  # a smooth picture: gradients + a moving disc (compresses like photos)
        img = np.stack([xx, yy, (xx + yy + i) % 256], axis=-1).astype(np.uint8)
        img[(xx - 128 - i % 64) ** 2 + (yy - 128) ** 2 < 900] = (255, 255, 255)
        smooth.append(img)
    samples = [rng.normal(size=10_000) for _ in range(n)]
    out: dict[str, Any] = {"n": n, "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as d:
        for label, images in (("noise", noise), ("smooth", smooth)):
            run = nbrun.init(project="bench-media", dir=d, settings={"flush_interval": 1.0})
            calls = []
            for img in images:
                t = time.perf_counter()
                run.log({"img": nbrun.Image(img)})
                calls.append(time.perf_counter() - t)
            t = time.perf_counter()
            run.finish()
            drain = time.perf_counter() - t
            files = list((Path(run.dir) / "media" / "images").glob("*.png"))
            size = sum(f.stat().st_size for f in files)
            out[f"image_{label}"] = {
                **_stats(calls),
                "finish_s": round(drain, 3),
                "files": len(files),
                "bytes_per_image": round(size / len(files)),
                "raw_bytes": 256 * 256 * 3,
            }
        run = nbrun.init(project="bench-media", dir=d)
        calls = []
        for s in samples:
            t = time.perf_counter()
            run.log({"h": nbrun.Histogram(s)})
            calls.append(time.perf_counter() - t)
        run.finish()
        out["histogram_10k"] = _stats(calls)
        run = nbrun.init(project="bench-media", dir=d)
        calls = []
        for i in range(n):
            t = time.perf_counter()
            run.log({"loss": 1.0 / (i + 1)})
            calls.append(time.perf_counter() - t)
        run.finish()
        out["scalar_log"] = _stats(calls)
    out["dashboard_1000_images"] = dashboard_open(1000)
    from PIL import Image as PILImage

    enc = []
    for img in noise[:50]:
        t = time.perf_counter()
        buf = io.BytesIO()
        PILImage.fromarray(img).save(buf, format="PNG")
        enc.append(time.perf_counter() - t)
    out["reference_png_encode_on_caller"] = _stats(enc)
    return out


def dashboard_open(n: int) -> dict[str, Any]:
    """Open the dashboard of a stored run that logged ``n`` distinct 64x64 images (one per
    step, with a loss): the widget's creation time, the size of what it syncs about media
    (keys and steps, no pixels), and one panel request (a thumbnail of one step)."""
    import numpy as np

    import nbrun
    from nbrun.widgets import Dashboard

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as d:
        run = nbrun.init(project="bench-dash", dir=d)
        for i in range(n):
            pixels = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
            run.log({"loss": 1.0 / (i + 1), "img": nbrun.Image(pixels, caption=str(i))})
        run.finish()
        view = nbrun.Api(d).run(f"bench-dash/{run.id}")
        t = time.perf_counter()
        dash = Dashboard(view, start=False)
        opened = time.perf_counter() - t
        sent: list[dict[str, Any]] = []
        dash.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
        t = time.perf_counter()
        dash._handle_msg(
            {
                "content": {
                    "data": {
                        "method": "custom",
                        "content": {"action": "media", "req": 1, "key": "img", "step": n // 2},
                    }
                },
                "buffers": [],
            }
        )
        request = time.perf_counter() - t
        dash.close()
        return {
            "open_s": round(opened, 3),
            "media_trait_bytes": len(json.dumps(dash.media)),
            "one_step_request_ms": round(request * 1000, 1),
            "one_step_reply_bytes": len(json.dumps(sent[-1])),
        }


# --------------------------------------------------------------------- side by side (--peers)
#
# Each (tool, phase) runs in a fresh interpreter: ``media.py --worker TOOL PHASE DIR N``. The
# worker imports only the standard library at module level (it also runs in the peers' venv)
# and prints one ``RESULT_PREFIX`` JSON line. Phases: ``empty`` (init + finish, the baseline
# for bytes on disk), ``image`` (N noise images), ``histogram`` (N 10k-sample histograms).


class _Tool:
    """One tracker's init / media constructors / log / finish, imported in the worker."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.image: Callable[[Any], Any] | None = None
        self.histogram: Callable[[Any], Any] | None = None
        self.missing: dict[str, str] = {}
        if name == "nbrun":
            import nbrun

            self.version = nbrun.__version__
            self.run = nbrun.init(project="bench-media", dir=str(workdir / "nbrun"))
            self.log = self.run.log
            self.image, self.histogram = nbrun.Image, nbrun.Histogram
            self.finish = self.run.finish
        elif name == "wandb":
            import wandb

            self.version = wandb.__version__
            settings = wandb.Settings(
                console="off",
                x_disable_stats=True,
                x_disable_meta=True,
                disable_git=True,
                save_code=False,
            )
            self.run = wandb.init(
                project="bench-media", dir=str(workdir), mode="offline", settings=settings
            )
            self.log = self.run.log
            self.image, self.histogram = wandb.Image, wandb.Histogram

            def finish() -> None:
                self.run.finish()
                wandb.teardown()  # wait for wandb-core to write everything and exit

            self.finish = finish
        elif name == "trackio":
            import trackio

            self.version = getattr(trackio, "__version__", None) or _dist_version("trackio")
            self.run = trackio.init(
                project="bench-media", embed=False, auto_log_cpu=False, auto_log_gpu=False
            )
            self.log = trackio.log
            self.finish = trackio.finish
            for attr in ("Image", "Histogram"):
                if hasattr(trackio, attr):
                    setattr(self, attr.lower(), getattr(trackio, attr))
                else:
                    self.missing[attr.lower()] = f"trackio {self.version} has no trackio.{attr}"
        else:
            raise ValueError(f"unknown tool {name!r}; choose from nbrun, {', '.join(PEERS)}")


def _dist_version(dist: str) -> str:
    """Installed version of a distribution, or ``"?"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def _tree_bytes(root: Path) -> dict[str, int]:
    """Apparent bytes (``du -sb``), allocated bytes (``du -s``) and file count under ``root``."""
    apparent = allocated = files = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
            files += 1
    return {"apparent": apparent, "allocated": allocated, "files": files}


def worker(tool: str, phase: str, workdir: Path, n: int) -> dict[str, Any]:
    """One phase of one tool in this interpreter; the figures as a dict."""
    import numpy as np

    rng = np.random.default_rng(0)
    data: list[Any] = []
    if phase == "image":
        data = [rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8) for _ in range(n)]
    elif phase == "histogram":
        data = [rng.normal(size=10_000) for _ in range(n)]
    t = _Tool(tool, workdir)
    out: dict[str, Any] = {"tool": tool, "phase": phase, "version": t.version, "n": len(data)}
    make = {"image": t.image, "histogram": t.histogram}.get(phase)
    if phase != "empty" and make is None:
        t.finish()
        return {**out, "error": t.missing.get(phase, f"{tool} has no {phase} type")}
    calls: list[float] = []
    for item in data:
        start = time.perf_counter()
        t.log({"m": make(item)})
        calls.append(time.perf_counter() - start)
    start = time.perf_counter()
    t.finish()
    out["finish_s"] = round(time.perf_counter() - start, 3)
    if calls:
        out.update(_stats(calls))
        out["max_us"] = round(max(calls) * 1e6, 1)
    out["disk"] = _tree_bytes(workdir)
    return out


def _run_worker(
    cmd: list[str], tool: str, phase: str, workdir: Path, n: int, env: dict[str, str]
) -> dict[str, Any]:
    """Start one worker in a fresh interpreter; its result dict, or ``{"error": ...}``."""
    workdir.mkdir(parents=True)
    argv = [*cmd, str(Path(__file__).resolve()), "--worker", tool, phase, str(workdir), str(n)]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, cwd=workdir, timeout=600
        )
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 600 s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    tail = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return {"error": f"exit {proc.returncode}: {(tail[-1] if tail else 'no output')[:160]}"}


def side_by_side(peers: Sequence[str], n: int) -> dict[str, Any]:
    """nbrun and each peer, every (tool, phase) in a fresh interpreter; figures per tool."""
    sys.path.insert(0, str(BENCH))
    import run as bench_run  # bench/run.py: the peers' venv, its environment, isolation

    failed = bench_run.ensure_peers(list(peers))
    isolate = bench_run._network_isolation() if peers else []
    res: dict[str, Any] = {
        "n": n,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}",
        "python": sys.version.split()[0],
        "peers_network": "isolated (unshare -n)" if isolate else "not isolated",
        "tools": {},
    }
    with tempfile.TemporaryDirectory(prefix="nbrun-media-") as scratch:
        for tool in ("nbrun", *peers):
            if tool in failed:
                res["tools"][tool] = {"error": failed[tool]}
                continue
            cmd = [sys.executable] if tool == "nbrun" else [*isolate, str(bench_run.peer_python())]
            phases = {}
            for phase in PHASES:
                bench_run.log(f"media: {tool} {phase} x{n}")
                workdir = Path(scratch) / f"{tool}-{phase}"
                env = bench_run.Runner.env(workdir)
                phases[phase] = _run_worker(cmd, tool, phase, workdir, n, env)
            res["tools"][tool] = _summarize(phases, n)
    return res


def _summarize(phases: dict[str, dict[str, Any]], n: int) -> dict[str, Any]:
    """One tool's phases -> version, per-call figures and bytes per item over the empty run."""
    out: dict[str, Any] = {
        "version": next((p["version"] for p in phases.values() if "version" in p), "?")
    }
    empty = phases["empty"]
    for phase in ("image", "histogram"):
        got = phases[phase]
        if "error" in got:
            out[phase] = {"error": got["error"]}
            continue
        fig = {k: got[k] for k in ("min_us", "median_us", "p90_us", "max_us", "finish_s")}
        if "error" in empty:
            fig["bytes_error"] = f"empty run failed: {empty['error']}"
        else:
            for kind in ("apparent", "allocated"):
                extra = got["disk"][kind] - empty["disk"][kind]
                fig[f"{kind}_bytes_per_item"] = round(extra / n)
            fig["files_over_empty"] = got["disk"]["files"] - empty["disk"]["files"]
        out[phase] = fig
    return out


def _cell(tool: dict[str, Any], phase: str, key: str, fmt: str) -> str:
    """A table cell: the figure, or n/a with the reason."""
    if "error" in tool:
        return f"n/a ({tool['error']})"
    fig = tool[phase]
    if "error" in fig:
        return f"n/a ({fig['error']})"
    if key not in fig:
        return f"n/a ({fig.get('bytes_error', 'not measured')})"
    return format(fig[key], fmt)


def _ratio(tool: dict[str, Any], base: dict[str, Any], phase: str, key: str) -> str:
    """``tool / base`` of one figure, as ``12.3x``, or ``-``."""
    try:
        ratio = tool[phase][key] / base[phase][key]
    except (KeyError, TypeError, ZeroDivisionError):
        return "-"
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2f}x"


def render(res: dict[str, Any]) -> str:
    """Markdown: header lines, one table (nbrun, each peer, peer/nbrun ratios)."""
    tools: dict[str, dict[str, Any]] = res["tools"]
    names = list(tools)
    peers = names[1:]
    versions = ", ".join(f"{t} {tools[t].get('version', 'n/a')}" for t in names)
    lines = [
        f"date: {res['date']}   n: {res['n']} per measurement   python {res['python']}",
        f"machine: {res['machine']}",
        f"versions: {versions}   peers' network: {res['peers_network']}",
        "",
        "| | " + " | ".join([*names, *(f"{p} / nbrun" for p in peers)]) + " |",
        "|---" * (1 + len(names) + len(peers)) + "|",
    ]
    rows = [
        ("log one 256x256x3 uint8 Image, µs min / median / p90", "image", None),
        ("log one 10k-sample Histogram, µs min / median / p90", "histogram", None),
        ("bytes on disk per image (du -sb over an empty run)", "image", "apparent_bytes_per_item"),
        ("bytes on disk per histogram", "histogram", "apparent_bytes_per_item"),
        ("finish() after the images, s", "image", "finish_s"),
    ]
    base = tools.get("nbrun", {})
    for label, phase, key in rows:
        cells = []
        for t in names:
            if key is None:
                parts = [
                    _cell(tools[t], phase, k, ",.0f") for k in ("min_us", "median_us", "p90_us")
                ]
                cells.append(parts[0] if parts[0].startswith("n/a") else " / ".join(parts))
            else:
                cells.append(_cell(tools[t], phase, key, ",.3f" if key == "finish_s" else ",.0f"))
        ratios = [_ratio(tools[p], base, phase, key or "median_us") for p in peers]
        lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")
    lines += [
        "",
        "- each call timed on the calling thread: the media constructor + `log` (a tool that "
        "encodes in the constructor pays it there); ratios compare medians "
        "(>1: the peer pays more).",
        "- every tool x phase in a fresh interpreter; peers offline (WANDB_MODE=offline, trackio "
        "local SQLite), from bench/.peers/venv.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the figures (a small table, or JSON with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=None, help="images / histograms per measurement")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument(
        "--peers",
        default=None,
        help=f"comma-separated peers to measure beside nbrun ({','.join(PEERS)})",
    )
    args = ap.parse_args(argv)
    if args.peers is not None:
        peers = [p.strip() for p in args.peers.split(",") if p.strip()]
        unknown = sorted(set(peers) - set(PEERS))
        if unknown:
            ap.error(f"--peers: unknown {', '.join(unknown)}; choose from {', '.join(PEERS)}")
        res = side_by_side(peers, args.n or 50)
        print(json.dumps(res, indent=1) if args.json else render(res))
        return
    res = measure(args.n or 200)
    if args.json:
        print(json.dumps(res, indent=1))
        return
    for key, value in res.items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _tool, _phase, _dir, _n = sys.argv[2:6]
        try:
            _res = worker(_tool, _phase, Path(_dir), int(_n))
        except Exception as exc:  # reported as n/a with the reason, never as a figure
            import traceback

            traceback.print_exc()
            _res = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        print(RESULT_PREFIX + json.dumps(_res), flush=True)
    else:
        main()
