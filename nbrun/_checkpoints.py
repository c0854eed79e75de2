"""Checkpoints: training state saved as files in a run's folder, written atomically.

A checkpoint taken when ``run.step == S`` belongs to step ``S - 1`` (the last written row):
a fork from it inherits rows up to ``S - 1`` and continues at ``S``. Files are named
``checkpoints/step-<step>.<suffix>`` in the run's folder; a fork never copies its parent's
checkpoints, it reads them where they are. Rewinds move checkpoints past the rewind step into
``checkpoints/archive-<n>/`` (nothing is deleted).
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .errors import UsageError

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"step-(\d{10})\.(pkl|pt)")


class Serializer(Protocol):
    """How checkpoint objects are written and read."""

    name: str
    suffix: str

    def dump(self, obj: Any, f: BinaryIO) -> None:
        """Write ``obj`` to the binary file ``f``."""

    def load(self, f: BinaryIO) -> Any:
        """Read an object from the binary file ``f``."""


class PickleSerializer:
    """The default: :mod:`pickle` with the highest protocol."""

    name = "pickle"
    suffix = "pkl"

    def dump(self, obj: Any, f: BinaryIO) -> None:
        """Pickle ``obj`` into ``f``."""
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, f: BinaryIO) -> Any:
        """Unpickle from ``f``."""
        return pickle.load(f)


class TorchSerializer:
    """``torch.save`` / ``torch.load``, chosen when the state holds torch objects (torch is
    imported only then; it is not a dependency of nbrun)."""

    name = "torch"
    suffix = "pt"

    def dump(self, obj: Any, f: BinaryIO) -> None:
        """``torch.save(obj, f)``."""
        import torch  # noqa: PLC0415 - optional, only for torch state

        torch.save(obj, f)

    def load(self, f: BinaryIO) -> Any:
        """``torch.load(f)`` (full objects: these are the run's own files)."""
        import torch  # noqa: PLC0415 - optional, only for torch state

        return torch.load(f, weights_only=False)


SERIALIZERS: dict[str, Serializer] = {"pickle": PickleSerializer(), "torch": TorchSerializer()}
_BY_SUFFIX = {s.suffix: s for s in SERIALIZERS.values()}


def _holds_torch(obj: Any, depth: int = 3) -> bool:
    if "torch" not in sys.modules:
        return False
    module = type(obj).__module__ or ""
    if module == "torch" or module.startswith("torch."):
        return True
    if depth <= 0:
        return False
    if isinstance(obj, dict):
        return any(_holds_torch(v, depth - 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_holds_torch(v, depth - 1) for v in obj[:50])
    return False


def choose_serializer(obj: Any, serializer: str | Serializer | None = None) -> Serializer:
    """The serializer for ``obj``: the one given (a name or an object), torch for torch
    state, else pickle."""
    if serializer is None:
        return SERIALIZERS["torch"] if _holds_torch(obj) else SERIALIZERS["pickle"]
    if isinstance(serializer, str):
        try:
            return SERIALIZERS[serializer]
        except KeyError:
            raise UsageError(
                f"checkpoint serializer {serializer!r}; allowed: {', '.join(SERIALIZERS)} "
                "or an object with name, suffix, dump(obj, f) and load(f)"
            ) from None
    for attr in ("name", "suffix", "dump", "load"):
        if not hasattr(serializer, attr):
            raise UsageError(f"checkpoint serializer {serializer!r} has no {attr!r}")
    return serializer


@dataclass(frozen=True)
class Checkpoint:
    """A saved training state: the run that saved it, the step it belongs to, its file."""

    run_id: str
    step: int
    path: str
    serializer: str

    def load(self) -> Any:
        """Read the saved object."""
        ser = SERIALIZERS.get(self.serializer) or _BY_SUFFIX[Path(self.path).suffix[1:]]
        with open(self.path, "rb") as f:
            return ser.load(f)


def save(
    folder: str | os.PathLike[str],
    run_id: str,
    step: int,
    obj: Any,
    serializer: str | Serializer | None = None,
) -> Checkpoint:
    """Write ``obj`` as the checkpoint of ``step``: temp file, fsync, rename."""
    ser = choose_serializer(obj, serializer)
    directory = Path(folder) / CHECKPOINT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:010d}.{ser.suffix}"
    tmp = directory / f".tmp-{uuid.uuid4().hex}.{ser.suffix}"
    try:
        with open(tmp, "wb") as f:
            ser.dump(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    for other in directory.glob(f"step-{step:010d}.*"):
        if other != final:
            other.unlink()
    return Checkpoint(run_id, step, str(final), ser.name)


def listing(folder: str | os.PathLike[str], run_id: str) -> list[Checkpoint]:
    """A run's own checkpoints, by step. nbrun writes no symlinks: one here is not a
    checkpoint (rule 42), so a received store cannot point ``restore`` or a copy elsewhere."""
    directory = Path(folder) / CHECKPOINT_DIR
    if directory.is_symlink() or not directory.is_dir():
        return []
    out = []
    for entry in directory.iterdir():
        m = None if entry.is_symlink() else _NAME.fullmatch(entry.name)
        if m:
            ser = _BY_SUFFIX[m.group(2)]
            out.append(Checkpoint(run_id, int(m.group(1)), str(entry), ser.name))
    return sorted(out, key=lambda c: c.step)


def archive_after(folder: str | os.PathLike[str], step: int, index: int) -> int:
    """Move a run's checkpoints past ``step`` into ``checkpoints/archive-<index>/``."""
    moved = 0
    for ck in listing(folder, ""):
        if ck.step > step:
            target = Path(folder) / CHECKPOINT_DIR / f"archive-{index}"
            target.mkdir(exist_ok=True)
            os.replace(ck.path, target / Path(ck.path).name)
            moved += 1
    return moved
