"""One benchmark measurement in a fresh interpreter; prints one JSON result line.

``bench/run.py`` starts this script once per tool, workload and repetition, with the
interpreter of the environment that holds the tool (``/work/venv`` for nbrun, the peers'
venv for wandb, trackio and mlflow). The script imports only the standard library at
module level, so it runs unchanged in both environments; each tool is imported inside
its adapter function.

Usage::

    python bench/_worker.py '{"tool": "nbrun", "workload": "log_loop", "dir": "/tmp/x", ...}'

The last stdout line starting with ``RESULT_PREFIX`` carries the result as JSON (peers
print banners of their own on stdout, so the prefix keeps the protocol robust).
"""

from __future__ import annotations

import gc
import glob
import json
import os
import resource
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

RESULT_PREFIX = "@@NBRUN_BENCH@@ "
PROJECT = "bench"
BLOCK = 100  # log calls per timing block in the log loop

LogFn = Callable[[dict[str, Any]], Any]


# --------------------------------------------------------------------------- helpers


def _rss_mib() -> float:
    """Current resident set size of this process in MiB (Linux /proc, else 0)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _maxrss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(who).ru_maxrss / 1024


def _version(dist: str) -> str:
    """Installed version of a distribution, or ``"?"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------- adapters


class Adapter:
    """Uniform start/log/finish/read over one tracker; one instance per process."""

    name = "?"
    note = ""

    def start(self, workdir: str) -> None:
        """Create a run that writes under ``workdir``."""
        raise NotImplementedError

    def logger(self) -> LogFn:
        """Return the callable the training loop calls once per step."""
        raise NotImplementedError

    def finish(self) -> None:
        """Finish the run; return once all logged data is durable on disk."""
        raise NotImplementedError

    def ref(self) -> str:
        """A string that ``read`` can use to find this run again from another process."""
        raise NotImplementedError

    def read(self, workdir: str, ref: str) -> Any:
        """Read the run's full history into a pandas DataFrame through the tool's API."""
        raise NotImplementedError


class NbrunAdapter(Adapter):
    """nbrun: ``nbrun.init`` / ``run.log`` / ``run.finish`` / ``Api(dir).run().history()``."""

    name = "nbrun"
    note = "nbrun.Api(dir).run('proj/id').history()"

    def start(self, workdir: str) -> None:
        import nbrun

        self.run = nbrun.init(project=PROJECT, dir=workdir)

    def logger(self) -> LogFn:
        return self.run.log

    def finish(self) -> None:
        self.run.finish()

    def ref(self) -> str:
        return str(self.run.id)

    def read(self, workdir: str, ref: str) -> Any:
        import nbrun

        return nbrun.Api(dir=workdir).run(f"{PROJECT}/{ref}").history()


class WandbAdapter(Adapter):
    """wandb in offline mode; read back by decoding the run's ``.wandb`` record log."""

    name = "wandb"
    note = "no offline read API: own decoder of the .wandb log framing + public wandb.proto Records"

    def start(self, workdir: str) -> None:
        import wandb

        self.wandb = wandb
        settings = wandb.Settings(
            console="off",
            x_disable_stats=True,
            x_disable_meta=True,
            disable_git=True,
            save_code=False,
        )
        self.run = wandb.init(project=PROJECT, dir=workdir, mode="offline", settings=settings)

    def logger(self) -> LogFn:
        return self.run.log

    def finish(self) -> None:
        self.run.finish()
        self.wandb.teardown()  # stop wandb-core so its peak RSS is counted as a child

    def ref(self) -> str:
        return str(self.run.id)

    def read(self, workdir: str, ref: str) -> Any:
        import pandas as pd

        (path,) = glob.glob(os.path.join(workdir, "wandb", f"*-{ref}", f"run-{ref}.wandb"))
        return pd.DataFrame(_wandb_history(path))


def _wandb_history(path: str) -> list[dict[str, Any]]:
    """History rows of a ``.wandb`` file.

    The file is a LevelDB-style log (7-byte file header ``:W&B`` + magic + version, then
    32 KiB blocks of records with a 7-byte header: crc32, length, type full/first/middle/
    last) whose payloads are ``wandb.proto.wandb_internal_pb2.Record`` messages. W&B ships
    no public reader for it since its Python datastore moved into the Go core.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    with open(path, "rb") as fh:
        data = fh.read()
    ident, _magic, _version = struct.unpack_from("<4sHB", data, 0)
    if ident != b":W&B":
        raise ValueError(f"{path}: not a .wandb file (header {ident!r})")
    block, pos, end = 32768, 7, len(data)
    payloads: list[bytes] = []
    pending = b""
    unpack = struct.Struct("<IHB").unpack_from
    while pos + 7 <= end:
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = unpack(data, pos)
        if kind == 0 and length == 0:
            pos += left
            continue
        payload = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            payloads.append(payload)
        elif kind == 2:
            pending = payload
        elif kind == 3:
            pending += payload
        elif kind == 4:
            payloads.append(pending + payload)
            pending = b""
    rows: list[dict[str, Any]] = []
    loads = json.loads
    record = pb.Record()
    for payload in payloads:
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") != "history":
            continue
        rows.append(
            {
                (item.key or ".".join(item.nested_key)): loads(item.value_json)
                for item in record.history.item
            }
        )
    return rows


class TrackioAdapter(Adapter):
    """trackio, local SQLite only (no Space, no server, no dashboard)."""

    name = "trackio"
    note = "trackio.sqlite_storage.SQLiteStorage.get_logs (what the trackio CLI uses)"

    def start(self, workdir: str) -> None:
        import trackio

        self.trackio = trackio
        self.run = trackio.init(
            project=PROJECT, embed=False, auto_log_cpu=False, auto_log_gpu=False
        )

    def logger(self) -> LogFn:
        return self.trackio.log

    def finish(self) -> None:
        self.trackio.finish()

    def ref(self) -> str:
        return str(self.run.name)

    def read(self, workdir: str, ref: str) -> Any:
        import pandas as pd
        from trackio.sqlite_storage import SQLiteStorage

        return pd.DataFrame(SQLiteStorage.get_logs(PROJECT, ref))


class MlflowAdapter(Adapter):
    """MLflow with a ``sqlite:///`` tracking URI and its default synchronous logging."""

    name = "mlflow"
    note = "MlflowClient().get_metric_history per key -> DataFrame"

    def start(self, workdir: str) -> None:
        import mlflow

        self.mlflow = mlflow
        mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
        self.run = mlflow.start_run()
        self.step = 0

    def logger(self) -> LogFn:
        log_metrics = self.mlflow.log_metrics

        def log(data: dict[str, Any]) -> None:
            log_metrics(data, step=self.step)
            self.step += 1

        return log

    def finish(self) -> None:
        self.mlflow.end_run()

    def ref(self) -> str:
        return str(self.run.info.run_id)

    def read(self, workdir: str, ref: str) -> Any:
        import mlflow
        import pandas as pd
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
        client = MlflowClient()
        keys = sorted(client.get_run(ref).data.metrics)
        columns = {}
        for key in keys:
            history = client.get_metric_history(ref, key)
            columns[key] = pd.Series(
                [m.value for m in history], index=[m.step for m in history], name=key
            )
        frame = pd.DataFrame(columns)
        frame.index.name = "step"
        return frame.reset_index()


ADAPTERS: dict[str, type[Adapter]] = {
    a.name: a for a in (NbrunAdapter, WandbAdapter, TrackioAdapter, MlflowAdapter)
}
DISTRIBUTIONS = {"nbrun": "nbrun", "wandb": "wandb", "trackio": "trackio", "mlflow": "mlflow"}


# --------------------------------------------------------------------------- workloads


def log_loop(adapter: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """Workload 1: ``steps`` log calls of ``keys`` floats; µs per call and time to durable."""
    steps, nkeys, cap = int(p["steps"]), int(p["keys"]), float(p["cap_s"])
    names = [f"metric_{i}" for i in range(nkeys)]
    rows = [{k: s * 0.001 + i for i, k in enumerate(names)} for s in range(steps)]
    adapter.start(p["dir"])
    log = adapter.logger()
    gc.collect()
    clock = time.perf_counter
    blocks: list[float] = []
    done = 0
    t0 = clock()
    deadline = t0 + cap
    while done < steps:
        b0 = clock()
        for row in rows[done : done + BLOCK]:
            log(row)
        b1 = clock()
        blocks.append(b1 - b0)
        done = min(done + BLOCK, steps)
        if b1 > deadline:
            break
    t1 = clock()
    adapter.finish()
    t2 = clock()
    blocks.sort()
    return {
        "steps": done,
        "capped": done < steps,
        "us_per_call": (t1 - t0) / done * 1e6,
        "us_per_call_p99_block": blocks[int(0.99 * (len(blocks) - 1))] / BLOCK * 1e6,
        "us_per_call_max_block": blocks[-1] / BLOCK * 1e6,
        "finish_s": t2 - t1,
        "durable_s": t2 - t0,
        "ref": adapter.ref(),
    }


def sustained(adapter: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """Workload 2: ``steps`` log calls of 2 floats built in the loop; rows/s and memory."""
    steps, cap = int(p["steps"]), float(p["cap_s"])
    adapter.start(p["dir"])
    log = adapter.logger()
    gc.collect()
    rss0 = _rss_mib()
    clock = time.perf_counter
    t0 = clock()
    deadline = t0 + cap
    s = 0
    while s < steps:
        stop = min(s + 1000, steps)
        while s < stop:
            log({"loss": 1.0 / (s + 1), "acc": s * 1e-6})
            s += 1
        if clock() > deadline:
            break
    t1 = clock()
    adapter.finish()
    t2 = clock()
    return {
        "steps": s,
        "capped": s < steps,
        "log_rows_per_s": s / (t1 - t0),
        "rows_per_s": s / (t2 - t0),
        "finish_s": t2 - t1,
        "peak_rss_mib": _maxrss_mib(),
        "rss_growth_mib": _maxrss_mib() - rss0,
        "children_peak_rss_mib": _maxrss_mib(resource.RUSAGE_CHILDREN),
        "ref": adapter.ref(),
    }


def read(adapter: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """Workload 3: read a stored run's full history into a DataFrame (imports not timed)."""
    t0 = time.perf_counter()
    import pandas  # noqa: F401  (imported before timing for every tool alike)

    if adapter.name == "nbrun":
        import nbrun  # noqa: F401
    elif adapter.name == "wandb":
        from wandb.proto import wandb_internal_pb2  # noqa: F401
    elif adapter.name == "trackio":
        from trackio.sqlite_storage import SQLiteStorage  # noqa: F401
    elif adapter.name == "mlflow":
        from mlflow.tracking import MlflowClient  # noqa: F401
    t1 = time.perf_counter()
    frame = adapter.read(p["dir"], p["ref"])
    t2 = time.perf_counter()
    rows = len(frame)
    return {
        "read_s": t2 - t1,
        "import_s": t1 - t0,
        "rows": rows,
        "columns": sorted(map(str, frame.columns)),
        "rows_per_s": rows / (t2 - t1),
        "expected_rows": p.get("expected_rows"),
        "via": adapter.note,
    }


def fork(adapter: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """Workload 4 (nbrun): ``init(fork_from=f"{parent}?_step={step}")`` then ``finish()``."""
    import nbrun

    clock = time.perf_counter
    t0 = clock()
    child = nbrun.init(project=PROJECT, dir=p["dir"], fork_from=f"{p['parent']}?_step={p['step']}")
    t1 = clock()
    child.log({"loss": 0.5, "acc": 0.5})
    t2 = clock()
    child.finish()
    t3 = clock()
    return {
        "fork_s": t3 - t0,
        "init_s": t1 - t0,
        "finish_s": t3 - t2,
        "starting_step": getattr(child, "starting_step", None),
        "ref": str(child.id),
    }


# Where workload 5 finds the chart payload builder, in order (``--chart-hook module:function``
# is tried first): what ``run.chart(metric)`` draws, the downsampled long-format frame of a
# metric over the run's lineage. It is called as ``fn(stored_run, CHART_METRIC, max_points)``
# with ``stored_run = nbrun.Api(dir).run("proj/id")``; its return value may be a DataFrame
# (long format with a ``series`` column, or one column per series), a dict of series (lists)
# or a list, and is measured by ``_points_per_series``.
CHART_HOOKS: tuple[tuple[str, str], ...] = (("nbrun.widgets._charts", "lineage_frame"),)
CHART_METRIC = "loss"


def chart(adapter: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """Workload 5 (nbrun): build the chart display payload for a long run; time and size."""
    import importlib

    import nbrun

    view = nbrun.Api(dir=p["dir"]).run(f"{PROJECT}/{p['ref']}")
    hooks = list(CHART_HOOKS)
    if p.get("chart_hook"):  # --chart-hook module:function, tried first
        module_name, _, fn_name = str(p["chart_hook"]).partition(":")
        hooks.insert(0, (module_name, fn_name))
    looked: list[str] = []
    for module_name, fn_name in hooks:
        looked.append(f"{module_name}.{fn_name}")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            looked[-1] += f" (import failed: {exc})"
            continue
        fn = getattr(module, fn_name, None)
        if fn is None:
            continue
        t0 = time.perf_counter()
        payload = fn(view, CHART_METRIC, int(p["max_points"]))
        t1 = time.perf_counter()
        return {
            "via": f"{module_name}.{fn_name}",
            "payload_s": t1 - t0,
            "points_per_series": _points_per_series(payload),
        }
    return {"na": "no chart payload builder found", "looked_for": looked}


def chart_history_samples(adapter: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """Engine side of workload 5: ``history(samples=N)`` on a long run (contract rule 25)."""
    import nbrun

    view = nbrun.Api(dir=p["dir"]).run(f"{PROJECT}/{p['ref']}")
    t0 = time.perf_counter()
    frame = view.history(samples=int(p["max_points"]))
    t1 = time.perf_counter()
    series = [c for c in frame.columns if not str(c).startswith("_")]
    return {
        "via": "Api().run().history(samples=N)",
        "payload_s": t1 - t0,
        "points_per_series": max(int(frame[c].notna().sum()) for c in series) if series else 0,
    }


def _points_per_series(payload: Any) -> int:
    """Largest number of points in any series of a payload (DataFrame, dict or list)."""
    if hasattr(payload, "columns") and "series" in payload.columns:  # long format
        return int(payload.groupby("series").size().max()) if len(payload) else 0
    if hasattr(payload, "columns") and hasattr(payload, "notna"):
        series = [c for c in payload.columns if not str(c).startswith("_")] or list(payload.columns)
        return max(int(payload[c].notna().sum()) for c in series)
    if isinstance(payload, dict):
        sizes = [_points_per_series(v) for v in payload.values() if isinstance(v, list | dict)]
        if sizes:
            return max(sizes)
        return len(payload)
    if isinstance(payload, list | tuple):
        return len(payload)
    return 0


WORKLOADS: dict[str, Callable[[Adapter, dict[str, Any]], dict[str, Any]]] = {
    "log_loop": log_loop,
    "sustained": sustained,
    "read": read,
    "fork": fork,
    "chart": chart,
    "chart_history_samples": chart_history_samples,
}


def main(argv: list[str]) -> int:
    """Run the workload described by the JSON in ``argv[1]``; print the result line."""
    params = json.loads(argv[1])
    tool = params["tool"]
    try:
        adapter = ADAPTERS[tool]()
        result = WORKLOADS[params["workload"]](adapter, params)
        result.setdefault("version", _version(DISTRIBUTIONS[tool]))
        code = 0
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        code = 1
    sys.stdout.flush()
    sys.stdout.write("\n" + RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
