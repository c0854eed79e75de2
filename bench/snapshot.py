"""Cost of a dashboard's static snapshot (issue 15): nbrun's hand-written SVG against
vl-convert (Vega-Lite -> SVG in an embedded JS engine), when vl-convert is importable.

    python bench/snapshot.py [--steps 3000]

Writes a run with two metrics into a temporary store and prints seconds per call.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any


def best(fn: Callable[[], Any], n: int = 5) -> tuple[float, float]:
    """(first call, median of the next ``n``) in seconds."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first, statistics.median(times)


def main() -> None:
    """Run the measurements and print them."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    args = ap.parse_args()
    import nbrun
    from nbrun.widgets._snapshot import run_snapshot, svg_chart

    with tempfile.TemporaryDirectory() as d:
        run = nbrun.init(project="bench", dir=d)
        for i in range(args.steps):
            run.log({"loss": math.exp(-i / 500) + 0.01 * math.sin(i), "acc": i / args.steps})
        run.finish()
        view = nbrun.Api(d).run(run.path)
        df = view.history()
        pts = list(zip(df["_step"].astype(float), df["loss"].astype(float), strict=True))
        line = ({"color": "#4c78a8", "label": "loss"}, pts)
        first, med = best(lambda: svg_chart("loss", "_step", [line]))
        print(f"svg_chart, one chart of {len(pts)} points: {med * 1000:.1f} ms")
        first, med = best(lambda: run_snapshot(view))
        print(f"run_snapshot (store read + 2 charts + overview): {med * 1000:.0f} ms")
        try:
            import vl_convert as vlc
        except ImportError:
            print("vl-convert not importable: skipped")
            return
        spec = view.chart("loss").to_dict()
        first, med = best(lambda: vlc.vegalite_to_svg(spec), n=3)
        print(f"vl-convert {vlc.__version__}, one chart: first {first:.2f} s, then {med:.2f} s")


if __name__ == "__main__":
    main()
