"""Deleting and moving stored runs (rule 40).

A run that forks still read from is never left dangling: :func:`delete_run` refuses with a
:class:`~nbrun.LineageError` naming them, or (``detach_forks=True``) first gives each fork the
rows it inherited (copied into its own live segment with their cumulative states, media files
and checkpoints copied into its folder, the artifact versions logged in them recorded as its
own) and marks its lineage as detached, all in the transaction that deletes the run. Moving a
run to another project moves its folder and rewrites the media references in its chunks; a run
with lineage moves with its whole family (``with_lineage=True``) or is refused.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _checkpoints, _paths
from ._history import advance_state, decode_chunk, encode_columns
from ._ids import validate_project
from ._lineage import chain, state_at
from ._records import RunRecord
from ._store import Chunk, Store, dumps, loads
from .errors import LineageError, StoreError, UsageError
from .media._base import is_ref


def _folder(store: Store, project: str, run_id: str) -> Path:
    """A run's folder from a stored project and id: a checked join (rule 42)."""
    return _paths.run_dir(store.root, project, run_id)


def _media_file(store: Store, run: str, rel: object) -> Path:
    """The file of a stored media reference (``run`` is ``"project/id"``): checked (rule 42)."""
    project, _, run_id = run.partition("/")
    return _paths.join(_folder(store, project, run_id), rel, "stored media path")


def _relink(value: Any, swap: Callable[[str], str | None], files: list[tuple[str, str]]) -> Any:
    """``value`` with media references whose ``run`` ``swap`` maps re-pointed; each moved
    reference adds ``(old run, path)`` to ``files``."""
    t = type(value)
    if t is list:
        return [_relink(v, swap, files) for v in value]
    if t is not dict:
        return value
    if is_ref(value):
        run = value.get("run")
        new = swap(run) if isinstance(run, str) else None
        if new is None:
            return value
        if isinstance(value.get("path"), str):
            files.append((str(run), value["path"]))
        return {**value, "run": new}
    return {k: _relink(v, swap, files) for k, v in value.items()}


def _rewrite(
    data: bytes, swap: Callable[[str], str | None], files: list[tuple[str, str]]
) -> dict[str, list[Any]] | None:
    """A chunk's columns with its media references re-pointed, or None if it has none."""
    cols, _nested, media = decode_chunk(data)
    if not media:
        return None
    for key in media:
        cols[key] = [_relink(v, swap, files) for v in cols[key]]
    return cols


def _relink_json(
    text: str | None, swap: Callable[[str], str | None], files: list[tuple[str, str]]
) -> str | None:
    """A chunk's cumulative state (JSON) with its media references re-pointed."""
    if text is None or '"_type"' not in text:
        return text
    return dumps(_relink(loads(text), swap, files))


def _own_rewrites(
    store: Store, key: int, swap: Callable[[str], str | None], files: list[tuple[str, str]]
) -> list[tuple[int, int, int, bytes, str | None]]:
    """The chunks of a run whose data or state names media of runs ``swap`` re-points."""
    out = []
    for seg, first, _last, _n, data, state in store.run_chunks(key):
        cols = _rewrite(data, swap, files)
        new_state = _relink_json(state, swap, files)
        if cols is not None or new_state != state:
            new_data = data if cols is None else encode_columns(cols, new_state)[3]
            out.append((key, seg, first, new_data, new_state))
    return out


def _slice(cols: dict[str, list[Any]], lo: int | None, hi: int | None) -> dict[str, list[Any]]:
    steps = cols["_step"]
    idx = [i for i, s in enumerate(steps) if (lo is None or s > lo) and (hi is None or s <= hi)]
    out = {k: [v[i] for i in idx] for k, v in cols.items()}
    return {k: v for k, v in out.items() if k == "_step" or any(x is not None for x in v)}


def _inherited(
    store: Store, fork: RunRecord
) -> tuple[
    list[Chunk],
    list[tuple[int, int]],
    list[tuple[Path, Path]],
    list[_checkpoints.Checkpoint],
    Callable[[str], str | None],
]:
    """What a fork reads from the runs it was forked from: its inherited chunks (media
    references re-pointed at the fork), the artifact versions logged in them, the media files
    to copy into its folder, the checkpoints to adopt and the re-pointing function."""
    target = f"{fork.project}/{fork.id}"
    dest = _folder(store, fork.project, fork.id)
    chunks: list[Chunk] = []
    outputs: list[tuple[int, int]] = []
    copies: list[tuple[Path, Path]] = []
    checkpoints: list[_checkpoints.Checkpoint] = []
    files: list[tuple[str, str]] = []

    def swap(run: str) -> str | None:
        return None if run == target else target

    for member in chain(store, fork)[:-1]:
        key = member.rec.key
        for seg, lo, hi in member.ranges:
            if lo is not None and hi is not None and lo >= hi:
                continue
            for _s, first, last, n, data, state in store.run_chunks(key, seg, hi, lo):
                whole = (lo is None or first > lo) and (hi is None or last <= hi)
                cols = _rewrite(data, swap, files)
                if whole and cols is None:
                    chunks.append((first, last, n, data, _relink_json(state, swap, files)))
                    continue
                if cols is None:
                    cols = decode_chunk(data)[0]
                if whole:
                    chunks.append(encode_columns(cols, _relink_json(state, swap, files)))
                    continue
                cols = _slice(cols, lo, hi)
                if cols["_step"]:
                    before = state_at(store, fork, cols["_step"][0] - 1)
                    part = _relink_json(dumps(advance_state(before, cols)), swap, files)
                    chunks.append(encode_columns(cols, part))
            outputs += store.artifact_usage(key, "output", [(seg, lo, hi)])
        src = _folder(store, member.rec.project, member.rec.id)
        for ck in _checkpoints.listing(src, member.rec.id):
            if member.limit is None or ck.step <= member.limit:
                checkpoints.append(ck)
    for run, rel in dict.fromkeys(files):
        copies.append((_media_file(store, run, rel), _paths.join(dest, rel, "stored media path")))
    chunks.sort(key=lambda c: c[0])
    return chunks, outputs, copies, checkpoints, swap


def _copy(copies: list[tuple[Path, Path]]) -> None:
    for src, dst in copies:
        if dst.exists() or not src.is_file():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".nbrun-tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)


def delete_run(
    store: Store,
    rec: RunRecord,
    detach_forks: bool = False,
    delete_artifacts: bool = False,
) -> tuple[list[str], list[int]]:
    """Delete a stored (not running) run: its rows, archives, alerts, console, system samples,
    artifact records and folder. Returns the ids of the forks detached and the keys of the
    artifact versions deleted (rule 40)."""
    for name, flag in (("detach_forks", detach_forks), ("delete_artifacts", delete_artifacts)):
        if type(flag) is not bool:
            raise TypeError(f"delete: {name}={flag!r}; pass True or False")
    project, run_id = rec.project, rec.id
    forks = store.children(project, run_id)
    fork_ids = {f.id for f in forks}
    archived = [(i, s) for i, s in store.archived_forks(project, run_id) if i not in fork_ids]
    if archived:
        names = tuple(f"{project}/{i}" for i, _ in archived)
        raise LineageError(
            f"cannot delete run {project}/{run_id}: archived segments of "
            + ", ".join(f"{project}/{i} (#{s})" for i, s in archived)
            + " were forked from it (their lineage before a rewind); delete those runs first",
            names,
        )
    if forks and not detach_forks:
        names = tuple(f"{project}/{f.id}" for f in forks)
        raise LineageError(
            f"cannot delete run {project}/{run_id}: forks still read their history from it: "
            f"{', '.join(names)}. Pass detach_forks=True to copy the rows they inherited into "
            "them first, or delete the forks first",
            names,
        )
    folder = _folder(store, project, run_id)  # checked before anything changes (rule 42)
    plans = []
    copies: list[tuple[Path, Path]] = []
    adopted: list[tuple[_checkpoints.Checkpoint, Path, str]] = []
    rewrites: list[tuple[int, int, int, bytes, str | None]] = []
    for fork in forks:
        chunks, outputs, inherited, checkpoints, swap = _inherited(store, fork)
        copies += inherited
        adopted += [(ck, _folder(store, project, fork.id), fork.id) for ck in checkpoints]
        files: list[tuple[str, str]] = []
        rewrites += _own_rewrites(store, fork.key, swap, files)
        summary = _relink(fork.summary, swap, files)
        dest = _folder(store, project, fork.id)
        for run, rel in dict.fromkeys(files):
            copies.append((_media_file(store, run, rel), _paths.join(dest, rel, "media path")))
        meta = dict(fork.metadata)
        meta["detached_from"] = {
            "run_id": run_id,
            "step": fork.forked_from_step,
            "time": time.time(),
        }
        fields = {
            "forked_from_id": None,
            "forked_from_step": None,
            "forked_from_seg": None,
            "metadata": meta,
            "summary": summary,
        }
        plans.append((fork.key, chunks, outputs, fields))
    _copy(copies)  # every path above was checked: a forged store fails before any copy
    for ck, dest, fork_id in adopted:  # signed for the fork only when they verified (rule 45)
        _checkpoints.adopt(ck, dest, fork_id)
    logged = []
    if delete_artifacts:
        logged = [k for k, _ in store.artifact_usage(rec.key, "output", _all_segs(store, rec))]
    try:
        gone = store.delete_run(rec.key, plans, sorted(set(logged)), rewrites)
    except StoreError as exc:
        raise UsageError(f"delete {project}/{run_id}: {exc}") from exc
    shutil.rmtree(folder, ignore_errors=True)
    return [f.id for f in forks], gone


def _all_segs(store: Store, rec: RunRecord) -> list[tuple[int, int | None, int | None]]:
    segs: list[tuple[int, int | None, int | None]] = [(0, None, None)]
    return segs + [(a.seg, None, None) for a in store.archives(rec.key)]


def family(store: Store, rec: RunRecord) -> list[RunRecord]:
    """The runs connected to ``rec`` by lineage (parents, forks, archived lineage), ``rec``
    first."""
    project = rec.project
    seen: dict[str, RunRecord] = {rec.id: rec}
    todo = [rec]
    while todo:
        cur = todo.pop()
        near = [a.forked_from_id for a in store.archives(cur.key)]
        near += [cur.forked_from_id] + [c.id for c in store.children(project, cur.id)]
        near += [i for i, _ in store.archived_forks(project, cur.id)]
        for run_id in near:
            if run_id is None or run_id in seen:
                continue
            other = store.get_run(project, run_id)
            if other is not None:
                seen[run_id] = other
                todo.append(other)
    return list(seen.values())


def move_run(
    store: Store, rec: RunRecord, project: object, with_lineage: bool = False
) -> list[str]:
    """Move a stored run (with ``with_lineage``: its whole lineage family) to ``project``;
    returns the ids moved (rule 40)."""
    if type(with_lineage) is not bool:
        raise TypeError(f"move: with_lineage={with_lineage!r}; pass True or False")
    new = validate_project(project)
    old = rec.project
    if new == old:
        return []
    runs = family(store, rec)
    if len(runs) > 1 and not with_lineage:
        names = tuple(f"{old}/{r.id}" for r in runs[1:])
        raise LineageError(
            f"cannot move run {old}/{rec.id} alone: it shares history with "
            f"{', '.join(names)} (forks and the runs they were forked from). Pass "
            "with_lineage=True to move them all",
            names,
        )
    ids = {r.id for r in runs}
    taken = [r.id for r in runs if store.get_run(new, r.id) is not None]
    if taken:
        raise UsageError(
            f"move to {new!r}: the project has runs with the ids {', '.join(map(repr, taken))} "
            "already; pick another project"
        )

    def swap(run: str) -> str | None:
        p, _, i = run.partition("/")
        return f"{new}/{i}" if p == old and i in ids else None

    rewrites = []
    fields: dict[int, dict[str, Any]] = {}
    for r in runs:
        rewrites += _own_rewrites(store, r.key, swap, [])
        summary = _relink(r.summary, swap, [])
        if summary != r.summary:
            fields[r.key] = {"summary": summary}
    folders = [(_folder(store, old, r.id), _folder(store, new, r.id)) for r in runs]
    moved: list[tuple[Path, Path]] = []
    try:
        for src, dst in folders:
            if src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                src.rename(dst)
                moved.append((src, dst))
        store.move_runs([r.key for r in runs], new, rewrites, fields)
    except BaseException as exc:
        for src, dst in reversed(moved):
            dst.rename(src)
        if isinstance(exc, StoreError):
            raise UsageError(f"move {old}/{rec.id} to {new!r}: {exc}") from exc
        raise
    return [r.id for r in runs]


# -- checking a store for damage (rule 44) ------------------------------------------------------
@dataclass(frozen=True)
class DamagedChunk:
    """A history chunk :func:`check` found: ``problem`` is ``"damaged"`` (its bytes no longer
    match its checksum: reading it raises :class:`~nbrun.StoreError`), ``"damaged summary"``
    (its stored bucket summary is damaged: charts read the chunk instead, rule 68) or
    ``"unverified"`` (written before nbrun kept checksums, so it cannot be verified)."""

    project: str
    run_id: str
    seg: int
    first_step: int
    last_step: int
    problem: str

    def __str__(self) -> str:
        return (
            f"{self.problem}: run {self.project}/{self.run_id} segment {self.seg} "
            f"steps {self.first_step}-{self.last_step}"
        )


@dataclass(frozen=True)
class StoreCheck:
    """What :func:`check` found in a store: the engine's own integrity check (SQLite's
    ``PRAGMA integrity_check``; ``"ok"`` when healthy) and every damaged or unverified
    history chunk, in run and step order."""

    store: str
    integrity: str
    chunks: list[DamagedChunk]

    @property
    def damaged(self) -> list[DamagedChunk]:
        """The chunks whose bytes no longer match their checksum (``"damaged"``) and those
        whose stored bucket summary no longer matches its own (``"damaged summary"``: charts
        read the chunk instead, rule 68)."""
        return [c for c in self.chunks if c.problem.startswith("damaged")]

    @property
    def unverified(self) -> list[DamagedChunk]:
        """The chunks written before checksums (not damage: they cannot be verified)."""
        return [c for c in self.chunks if c.problem == "unverified"]

    @property
    def ok(self) -> bool:
        """True when the integrity check passed and no chunk is damaged."""
        return self.integrity == "ok" and not self.damaged


def check(dir: str | os.PathLike[str]) -> StoreCheck:
    """Check the store in ``dir`` (a run folder or a ``postgresql://`` URL) for damage (rule
    44): verify every history chunk's checksum, one chunk at a time, and run the engine's
    integrity check. Reads only. A file that is no nbrun store (empty, foreign, unreadable)
    raises :class:`~nbrun.StoreError`; ``python -m nbrun check DIR`` prints the result."""
    if not isinstance(dir, (str, os.PathLike)) or not os.fspath(dir):
        raise UsageError(f"check(dir={dir!r}): pass a run folder or a postgresql:// URL")
    store = Store.open_existing(dir)
    if store is None:
        raise StoreError(f"check: {os.fspath(dir)!r} holds no nbrun store")
    try:
        integrity = store.integrity_check()
    except StoreError as exc:
        integrity = str(exc)
    chunks = [DamagedChunk(*found) for found in store.check_chunks(decode_chunk)]
    return StoreCheck(str(store.path), integrity, chunks)
