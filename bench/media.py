"""Media logging cost (issue 11): what the training thread pays to log one 256x256x3 uint8
``nbrun.Image`` and one 10k-sample ``nbrun.Histogram``, how fast the writer thread encodes
and stores them, and the bytes on disk per image.

    python bench/media.py [--n 200] [--json]

Runs nbrun only, in this interpreter, in a temporary directory. For scale it also times a
synchronous Pillow PNG encode of the same array (what a tool that encodes on the training
thread pays); that row is a reference, not a measurement of any peer.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


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


def main(argv: list[str] | None = None) -> None:
    """Print the figures (a small table, or JSON with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="images / histograms per measurement")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args(argv)
    res = measure(args.n)
    if args.json:
        print(json.dumps(res, indent=1))
        return
    for key, value in res.items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
