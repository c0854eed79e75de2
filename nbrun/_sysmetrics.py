"""System metrics: a sampler thread that records the machine's vitals while a run is active.

Names follow W&B's system metrics (the run page's System tab; read back with
``run.history(stream="system")``):

==================================  ==========================================================
``system.cpu``                      process CPU %, divided by the number of CPUs (W&B's ``cpu``)
``system.cpu.{i}.cpu_percent``      system CPU % of core ``i`` since the previous sample
``system.proc.cpu.threads``         threads of the process
``system.memory``                   system memory in use, %
``system.proc.memory.rssMB``        resident set size of the process, MB
``system.proc.memory.percent``      the process's RSS as % of total memory
``system.proc.memory.availableMB``  system memory available, MB
``system.disk.{path}.usagePercent`` disk usage of ``path`` (default ``/``), %
``system.disk.{path}.usageGB``      disk usage of ``path``, GB
``system.disk.in`` / ``.out``       MB read / written system-wide since the first sample
``system.network.sent`` / ``.recv`` bytes sent / received system-wide since the first sample
``system.gpu.{i}.gpu``              GPU utilisation % (and ``memory``, ``memoryAllocated``,
                                    ``memoryAllocatedBytes``, ``temp``, ``powerWatts``,
                                    ``powerPercent``), only where NVIDIA's management library
                                    (``pynvml``, from the ``nvidia-ml-py`` package) is
                                    importable and finds a GPU
==================================  ==========================================================

Sampling uses psutil. A :class:`Sampler` takes a sample when it starts, every ``interval``
seconds, and a last one when it is stopped; it hands each sample to a callback and never
touches the caller's thread (``run.log`` never waits for it).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .errors import UsageError

logger = logging.getLogger("nbrun")

_MB = 1024 * 1024
_GB = 1024 * 1024 * 1024


class _Gpus:
    """NVIDIA GPUs through ``pynvml``; empty when the library or a GPU is missing."""

    def __init__(self) -> None:
        self.nvml: Any = None
        self.handles: list[Any] = []
        try:
            import pynvml  # noqa: PLC0415 - optional: GPUs only, when installed

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self.nvml = pynvml
        except Exception:  # not installed, no driver, no GPU: no GPU metrics
            self.handles = []

    def sample(self, out: dict[str, float]) -> None:
        nv = self.nvml
        for i, h in enumerate(self.handles):
            p = f"system.gpu.{i}."
            try:
                util = nv.nvmlDeviceGetUtilizationRates(h)
                out[p + "gpu"] = float(util.gpu)
                out[p + "memory"] = float(util.memory)
            except Exception:
                pass
            try:
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                out[p + "memoryAllocated"] = 100.0 * mem.used / mem.total if mem.total else 0.0
                out[p + "memoryAllocatedBytes"] = float(mem.used)
            except Exception:
                pass
            try:
                out[p + "temp"] = float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
            except Exception:
                pass
            try:
                watts = nv.nvmlDeviceGetPowerUsage(h) / 1000.0
                out[p + "powerWatts"] = watts
                limit = nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0
                if limit:
                    out[p + "powerPercent"] = 100.0 * watts / limit
            except Exception:
                pass

    def close(self) -> None:
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass


class Probe:
    """Reads one sample of the system metrics (see the module doc) on demand.

    Create it on the thread that samples: it imports psutil and NVIDIA's library there.
    Counters (disk, network) are relative to the probe's creation; CPU percentages cover the
    time since the previous :meth:`sample` (the first sample has no CPU figures)."""

    def __init__(self, disk_paths: Sequence[str] = ("/",), pid: int | None = None) -> None:
        import psutil  # noqa: PLC0415 - on the sampler thread: `import nbrun` stays light

        self.psutil = psutil
        self.proc = psutil.Process(pid if pid is not None else os.getpid())
        self.ncpu = psutil.cpu_count() or 1
        self.disk_paths = tuple(disk_paths)
        self.proc.cpu_percent(None)  # primes the process's CPU counter
        self._cores = self._core_times()
        self._disk0 = self._disk()
        self._net0 = self._net()
        self._primed = False
        self.gpus = _Gpus()

    def _core_times(self) -> list[tuple[float, float]]:
        """(busy, total) seconds per core."""
        out = []
        for t in self.psutil.cpu_times(percpu=True):
            total = sum(t)
            idle = t.idle + getattr(t, "iowait", 0.0)
            out.append((total - idle, total))
        return out

    def _disk(self) -> tuple[int, int] | None:
        try:
            io = self.psutil.disk_io_counters()
        except Exception:
            return None
        return None if io is None else (io.read_bytes, io.write_bytes)

    def _net(self) -> tuple[int, int] | None:
        try:
            io = self.psutil.net_io_counters()
        except Exception:
            return None
        return None if io is None else (io.bytes_sent, io.bytes_recv)

    def sample(self) -> dict[str, float]:
        """One sample as ``{W&B name: value}``; metrics the platform lacks are left out."""
        ps = self.psutil
        out: dict[str, float] = {}
        proc = self.proc
        with proc.oneshot():
            cpu = proc.cpu_percent(None)
            mem = proc.memory_info()
            threads = proc.num_threads()
        if self._primed:
            out["system.cpu"] = cpu / self.ncpu
            cores = self._core_times()
            for i, ((b0, t0), (b1, t1)) in enumerate(zip(self._cores, cores, strict=False)):
                dt = t1 - t0
                out[f"system.cpu.{i}.cpu_percent"] = 100.0 * (b1 - b0) / dt if dt > 0 else 0.0
            self._cores = cores
        self._primed = True
        out["system.proc.cpu.threads"] = float(threads)
        vm = ps.virtual_memory()
        out["system.memory"] = float(vm.percent)
        out["system.proc.memory.rssMB"] = mem.rss / _MB
        out["system.proc.memory.percent"] = 100.0 * mem.rss / vm.total if vm.total else 0.0
        out["system.proc.memory.availableMB"] = vm.available / _MB
        for path in self.disk_paths:
            try:
                du = ps.disk_usage(path)
            except OSError:
                continue
            out[f"system.disk.{path}.usagePercent"] = float(du.percent)
            out[f"system.disk.{path}.usageGB"] = du.used / _GB
        disk = self._disk()
        if disk is not None and self._disk0 is not None:
            out["system.disk.in"] = (disk[0] - self._disk0[0]) / _MB
            out["system.disk.out"] = (disk[1] - self._disk0[1]) / _MB
        net = self._net()
        if net is not None and self._net0 is not None:
            out["system.network.sent"] = float(net[0] - self._net0[0])
            out["system.network.recv"] = float(net[1] - self._net0[1])
        self.gpus.sample(out)
        return out

    def close(self) -> None:
        """Release NVIDIA's library, if it was opened."""
        self.gpus.close()


class Sampler:
    """A daemon thread that calls ``emit(timestamp, sample)`` at start, every ``interval``
    seconds and once more when :meth:`stop` is called. A failing probe is logged once and
    the thread ends; the run goes on."""

    def __init__(
        self,
        emit: Callable[[float, dict[str, float]], None],
        interval: float,
        name: str = "nbrun-stats",
        disk_paths: Sequence[str] = ("/",),
    ) -> None:
        self._emit = emit
        self.interval = interval
        self.disk_paths = disk_paths
        self._stop = threading.Event()
        self.samples = 0
        """Samples handed to ``emit`` so far."""
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        """Start sampling (the first sample is taken on the sampler thread at once)."""
        self._thread.start()

    def _loop(self) -> None:
        try:
            probe = Probe(self.disk_paths)
        except Exception as exc:  # psutil missing or unusable here
            logger.warning("nbrun: system metrics are off: %s", exc)
            return
        try:
            while True:
                self._emit(time.time(), probe.sample())
                self.samples += 1
                if self._stop.wait(self.interval):
                    self._emit(time.time(), probe.sample())
                    self.samples += 1
                    return
        except Exception as exc:
            logger.warning("nbrun: system metrics stopped: %s", exc)
        finally:
            probe.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Take the last sample and end the thread (waits up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the sampler thread is running."""
        return self._thread.is_alive()


def system_frame(
    samples: Sequence[tuple[float, str]],
    keys: Sequence[str] | str | None = None,
    samples_max: int | None = None,
) -> Any:
    """System samples ``(time, data JSON)`` as W&B's ``history(stream="system")`` DataFrame:
    the metric columns sorted by name, then ``_runtime`` and ``_timestamp``. ``keys`` keeps
    those metric columns (rows having any of them); ``samples_max`` keeps at most that many
    evenly spaced rows."""
    import numpy as np  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light
    import pandas as pd  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light

    rows = []
    for t, data in samples:
        row = json.loads(data)
        row["_timestamp"] = t
        rows.append(row)
    names = sorted({k for r in rows for k in r} - {"_runtime", "_timestamp"})
    if keys is not None:
        wanted = [keys] if isinstance(keys, str) else list(dict.fromkeys(keys))
        for k in wanted:
            if not isinstance(k, str):
                raise UsageError(f"history: key {k!r} must be a str")
        names = wanted
    df = pd.DataFrame(rows, columns=[*names, "_runtime", "_timestamp"])
    if keys is not None and names and len(df):
        df = df[df[names].notna().any(axis=1)]
    if samples_max is not None:
        if type(samples_max) is not int or samples_max < 1:
            raise UsageError(f"history: samples={samples_max!r}; pass a positive int or None")
        if len(df) > samples_max:
            idx = np.unique(np.linspace(0, len(df) - 1, samples_max).round().astype(int))
            df = df.iloc[idx]
    return df.reset_index(drop=True)
