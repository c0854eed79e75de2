"""The training state along a run's lineage: the registry of training functions launched in
this process (by run), the checkpoints a run sees (its own and those it inherits from the
runs it was forked from), ``run.checkpoint`` and ``run.restore``."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import _checkpoints
from .._checkpoints import Checkpoint
from .._lifecycle import TrainSpec
from .._lineage import ancestry, fork_point
from .._run import Run
from .._views import RunView, run_path
from ..errors import UsageError

_specs: dict[tuple[Path | str, str, str], TrainSpec] = {}
_specs_lock = threading.Lock()


def _key(view: RunView) -> tuple[Path | str, str, str]:
    return (view.store.path, view.project, view.id)


def train_spec(view: RunView) -> TrainSpec | None:
    """The training function registered for this run (in this process), if any."""
    return _specs.get(_key(view))


def run_folder(view: RunView, run_id: str | None = None) -> Path:
    """The folder of ``view`` (or of another run of its project)."""
    return run_path(view.store, view.project, run_id or view.id)


# -- checkpoints along the lineage ------------------------------------------------------------
def checkpoints(view: RunView, lineage: bool = True) -> list[Checkpoint]:
    """Checkpoints in the run's history view: its own, and (``lineage``) those it inherits from
    the runs it was forked from, up to each fork step; by step."""
    rec = view.record()
    chain = ancestry(view.store, rec) if lineage else [(rec, None)]
    out: list[Checkpoint] = []
    for member, limit in chain:
        point = fork_point(member)
        lower = point.step if point is not None else -1
        for ck in _checkpoints.listing(run_folder(view, member.id), member.id):
            if (limit is None or ck.step <= limit) and ck.step >= lower:
                out.append(ck)
    # a step saved by both a parent and a child: the child's (later in the chain) wins
    by_step = {ck.step: ck for ck in out}
    return [by_step[s] for s in sorted(by_step)]


def find_checkpoint(view: RunView, step: int) -> Checkpoint | None:
    """The latest checkpoint at or before ``step`` in the run's history view."""
    best = None
    for ck in checkpoints(view):
        if ck.step <= step:
            best = ck
    return best


def save_checkpoint(run: Run, obj: Any, serializer: Any = None) -> Checkpoint:
    """``run.checkpoint(obj)``: save ``obj`` as the state after the last written row."""
    step = run.step - 1
    if step < 0:
        raise UsageError(
            f"checkpoint: run {run.id} has written no row yet; a checkpoint belongs to the "
            "last written step, so log a row first"
        )
    return _checkpoints.save(run_folder(run), run.id, step, obj, serializer)


def restore(run: Run, trust: bool = False) -> Any:
    """``run.restore(trust=False)``: the state to start from, or None for a fresh run; a
    checkpoint not signed by the user's key is unpickled only with ``trust`` (rule 45)."""
    if not isinstance(trust, bool):
        raise UsageError(f"restore(trust={trust!r}): pass True or False")
    training = run.training_state
    ck = training.restore_from if training is not None else None
    if ck is None:
        if run.step == 0:
            return None
        ck = find_checkpoint(run, run.step - 1)
        if ck is None:
            return None
    state = ck.load(trust=trust)
    run.restored_step = ck.step
    return state


# -- notes in the run's metadata -------------------------------------------------------------
def training_note(spec: TrainSpec) -> dict[str, Any]:
    """``metadata["training"]`` of a launched run: the function, ``total`` and the recovery
    policy (``launch(recover=)``), if any."""
    note: dict[str, Any] = {
        "function": getattr(spec.fn, "__qualname__", repr(spec.fn)),
        "total": spec.total,
    }
    if spec.recover is not None:
        rec = spec.recover
        note["recover"] = {
            "metric": rec.metric,
            "nan": rec.nan,
            "spike": rec.spike,
            "update": dict(rec.update),
            "retries": rec.retries,
            "window": rec.window,
        }
    return note


def _restore_note(requested: int, ck: Checkpoint, changed: Iterable[str]) -> dict[str, Any]:
    note: dict[str, Any] = {
        "requested_step": requested,
        "checkpoint_step": ck.step,
        "checkpoint_run": ck.run_id,
        "checkpoint": ck.path,
        "changed": sorted(changed),
        "warning": None,
    }
    if ck.step < requested:
        note["warning"] = (
            f"no checkpoint at step {requested}: training restarted from the checkpoint at "
            f"step {ck.step}, so the fork point is step {ck.step}"
        )
    return note


def _record_restore(run: Run, note: dict[str, Any]) -> None:
    meta = dict(run.metadata)
    meta["restore"] = note
    run.metadata = meta
    run.store.update_run(run.store_key, {"metadata": meta})
