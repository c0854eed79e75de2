"""``run.watch(model)``: W&B's gradient and parameter histograms for torch modules (rule 39).

Hooks are registered on the model: a forward hook on each of its modules that holds parameters
logs a histogram of each of them (``parameters/<name>``) and a hook on each parameter logs its
gradient (``gradients/<name>``), each on every ``log_freq``-th call, into the run's pending row (the
row is written by the training loop's next committing ``log``). A second model watched in the
same process gets W&B's ``graph_<i>`` prefix. This module never imports torch: the modules it
is given are torch objects, so torch is already imported by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import media

NUM_BINS = 64
LOG_VALUES = ("gradients", "parameters", "all", None)

Sink = Callable[[str, tuple[list[float], list[float]]], None]


def as_histogram(hist: tuple[list[float], list[float]]) -> Any:
    """An ``nbrun.Histogram`` of (counts, edges) (the media type loads on first use)."""
    return media.Histogram(np_histogram=hist)


class _Every:
    """True on every ``n``-th call (W&B counts forwards and gradients per hook this way)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0

    def __call__(self) -> bool:
        self.count += 1
        if self.count < self.n:
            return False
        self.count = 0
        return True


def tensor_histogram(tensor: Any) -> tuple[list[float], list[float]] | None:
    """(counts, bin edges) of a tensor's finite values in 64 equal bins, or None when it has
    none; all-equal values give one bin (as W&B does)."""
    flat = tensor.detach().reshape(-1)
    if flat.is_sparse:  # pragma: no cover - parameters are dense in practice
        flat = flat.to_dense().reshape(-1)
    flat = flat.cpu().float()
    finite = flat[flat.isfinite()]
    if finite.numel() == 0:
        return None
    lo = finite.min().item()
    hi = finite.max().item()
    if lo == hi:
        return [float(finite.numel())], [lo, hi]
    counts = finite.histc(bins=NUM_BINS, min=lo, max=hi).tolist()
    step = (hi - lo) / NUM_BINS
    edges = [lo + i * step for i in range(NUM_BINS)] + [hi]
    return counts, edges


class Watcher:
    """The hooks of the models one run watches; :meth:`remove` takes them off."""

    _next_index = 0  # W&B numbers watched models per process

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._handles: dict[int, list[Any]] = {}

    def watch(
        self,
        models: Any,
        log: str | None = "gradients",
        log_freq: int = 1000,
        idx: int | None = None,
    ) -> None:
        """Hook ``models`` (a torch module or a sequence of them)."""
        if log not in LOG_VALUES:
            raise ValueError(
                f"watch: log={log!r}; must be one of 'gradients', 'parameters', 'all', or None"
            )
        if isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1:
            raise ValueError(f"watch: log_freq={log_freq!r} must be an int >= 1")
        seq: Sequence[Any] = models if isinstance(models, (list, tuple)) else (models,)
        for m in seq:
            if not (hasattr(m, "named_parameters") and hasattr(m, "register_forward_hook")):
                raise TypeError(
                    f"watch: expected a pytorch model (torch.nn.Module), got {type(m).__name__}"
                )
        start = Watcher._next_index if idx is None else idx
        for i, model in enumerate(seq):
            Watcher._next_index += 1
            n = start + i
            prefix = f"graph_{n}" if n > 0 else ""
            self.unwatch([model])
            handles: list[Any] = []
            if log in ("parameters", "all"):
                handles.extend(self._hook_parameters(model, prefix, log_freq))
            if log in ("gradients", "all"):
                handles.extend(self._hook_gradients(model, prefix, log_freq))
            self._handles[id(model)] = handles

    def _hook_parameters(self, model: Any, prefix: str, log_freq: int) -> list[Any]:
        """A forward hook on each module that holds parameters of its own, logging them under
        their names in ``model`` on every ``log_freq``-th forward pass of that module (rule
        39). Hooking only ``model`` itself would miss code that never calls it: Lightning's
        ``training_step`` usually calls ``self.net(x)``, not ``self(x)``. A model that is
        called once per batch calls each of its modules once, so the counting is W&B's."""
        handles = []
        for mod_name, module in model.named_modules():
            if next(module.parameters(recurse=False), None) is None:
                continue
            base = f"parameters/{prefix}{mod_name + '.' if mod_name else ''}"
            due = _Every(log_freq)

            def hook(
                module: Any, inputs: Any, output: Any, base: str = base, due: _Every = due
            ) -> None:
                if not due():
                    return
                for name, p in module.named_parameters(recurse=False):
                    hist = tensor_histogram(p)
                    if hist is not None:
                        self._sink(f"{base}{name}", hist)

            handles.append(module.register_forward_hook(hook))
        return handles

    def _hook_gradients(self, model: Any, prefix: str, log_freq: int) -> list[Any]:
        handles = []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            key = f"gradients/{prefix}{name}"
            due = _Every(log_freq)

            def hook(grad: Any, key: str = key, due: _Every = due) -> None:
                if due():
                    hist = tensor_histogram(grad)
                    if hist is not None:
                        self._sink(key, hist)

            handles.append(p.register_hook(hook))
        return handles

    def unwatch(self, models: Any = None) -> None:
        """Remove the hooks of ``models`` (all watched models when None)."""
        if models is None:
            keys = list(self._handles)
        else:
            seq = models if isinstance(models, (list, tuple)) else (models,)
            keys = [id(m) for m in seq]
        for k in keys:
            for h in self._handles.pop(k, []):
                h.remove()
