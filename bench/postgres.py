"""The PostgreSQL store against the SQLite one (issue 17), in the same run:

    python bench/postgres.py                       # starts its own server (Debian's postgresql)
    python bench/postgres.py --url postgresql://user@host/db --rows 100000 --writers 16

1. ``log`` overhead: microseconds per ``run.log`` of 8 floats (the writer thread flushes to the
   store meanwhile, so a slower store shows here only through the GIL it holds);
2. finish time: ``run.finish()`` right after the last ``log`` (the writer's last flush and the
   final run record);
3. many writers: ``--writers`` processes logging ``--writer-rows`` rows each into one store at
   once; rows/s = all rows / (last finish - first start), measured inside the processes (the
   interpreters' start-up is not counted). Every run's rows are checked afterwards.

The self-started server runs with fsync off (like the tests'); against a real server pass
``--url``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbrun  # noqa: E402 - after the path insert

WRITER = r"""
import json, sys, time
import nbrun  # noqa: E402 - after the path insert
url, rid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = nbrun.init(project="bench", dir=url, id=rid, settings={"stats": False})
t0 = time.time()
for i in range(n):
    run.log({"loss": 1.0 / (i + 1), "acc": i / n, "a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0,
             "e": 5.0, "f": 6.0})
run.finish()
print(json.dumps({"start": t0, "end": time.time()}), flush=True)
"""


def log_and_finish(store: str, rows: int, reps: int) -> tuple[float, float]:
    """Median µs per log call and median finish seconds over ``reps`` runs."""
    per_log, finish = [], []
    for _ in range(reps):
        run = nbrun.init(project="bench", dir=store, reinit="create_new", settings={"stats": False})
        t0 = time.perf_counter()
        for i in range(rows):
            run.log(
                {"loss": 1.0 / (i + 1), "acc": i / rows, "a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
                | {"e": 5.0, "f": 6.0}
            )
        t1 = time.perf_counter()
        run.finish()
        t2 = time.perf_counter()
        per_log.append((t1 - t0) / rows * 1e6)
        finish.append(t2 - t1)
        if len(nbrun.Api(store).run(f"bench/{run.id}").history()) != rows:
            raise SystemExit(f"{store}: rows missing after finish")
    return statistics.median(per_log), statistics.median(finish)


def many_writers(store: str, writers: int, rows: int) -> float:
    """Rows per second of ``writers`` processes logging into one store at once."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    tag = f"{time.time_ns() % 10**8}"
    ids = [f"w{tag}_{k}" for k in range(writers)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store, rid, str(rows)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for rid in ids
    ]
    spans = [json.loads(p.communicate()[0]) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"{store}: a writer failed")
    api = nbrun.Api(store)
    for rid in ids:
        if len(api.run(f"bench/{rid}").history()) != rows:
            raise SystemExit(f"{store}: run {rid} lost rows")
    wall = max(s["end"] for s in spans) - min(s["start"] for s in spans)
    return writers * rows / wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a PostgreSQL database (default: start a server here)")
    ap.add_argument("--rows", type=int, default=50_000, help="rows per run for log/finish")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--writers", type=int, default=16)
    ap.add_argument("--writer-rows", type=int, default=5_000)
    args = ap.parse_args(argv)

    server = None
    url = args.url
    tmp = tempfile.mkdtemp(prefix="nbrun-bench-pg-")
    if url is None:
        from tests.postgres import Server, find_bin

        bindir = find_bin()
        if bindir is None:
            raise SystemExit("no PostgreSQL here: apt-get install postgresql, or pass --url")
        server = Server(bindir)
        server.start()
        url = server.new_database()
    os.environ["NBRUN_FILES"] = str(Path(tmp) / "files")
    try:
        results = {}
        for name, store in (("SQLite", str(Path(tmp) / "local")), ("PostgreSQL", url)):
            us, fin = log_and_finish(store, args.rows, args.reps)
            rate = many_writers(store, args.writers, args.writer_rows)
            results[name] = (us, fin, rate)
        print(f"log/finish: {args.rows} rows x 8 floats, median of {args.reps}; ", end="")
        print(f"{args.writers} writers x {args.writer_rows} rows")
        print(
            "| store | log µs/call | finish s | rows/s, 16 writers |".replace(
                "16", str(args.writers)
            )
        )
        print("|---|---:|---:|---:|")
        for name, (us, fin, rate) in results.items():
            print(f"| {name} | {us:.2f} | {fin:.3f} | {rate:,.0f} |")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
