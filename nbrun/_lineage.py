"""Lineage: ``"RUN_ID?_step=N"`` specs, fork ancestry, stitched history, archived segments
(rules 12-19)."""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._history import (
    BucketCache,
    Columns,
    advance_state,
    chunks_buckets,
    column_buckets,
    decode_summary,
    empty_state,
    encode_columns,
    merge_buckets,
    split_columns,
)
from ._ids import validate_id
from ._records import ArchiveRecord, ChunkMeta, RunRecord
from ._store import Chunk, Store, dumps, loads
from .errors import UsageError

_SPEC = re.compile(r"(?P<id>[^?]+)\?_step=(?P<step>[0-9]+)")


@dataclass(frozen=True)
class ForkPoint:
    """Where a run was forked from: the source's id and the last inherited step."""

    run_id: str
    step: int

    def __str__(self) -> str:
        return f"{self.run_id}?_step={self.step}"


def parse_spec(value: object, what: str) -> ForkPoint:
    """Parse ``"RUN_ID?_step=N"`` strictly (rule 12)."""
    example = "'abc123?_step=200'"
    if not isinstance(value, str):
        raise UsageError(
            f"{what} {value!r}: must be a str of the form 'RUN_ID?_step=N', e.g. {example}"
        )
    m = _SPEC.fullmatch(value)
    if m is None:
        if "?_step=" in value:
            step = value.split("?_step=", 1)[1]
            raise UsageError(
                f"{what} {value!r}: step {step!r} must be a non-negative integer, as in {example}"
            )
        raise UsageError(f"{what} {value!r}: expected the form 'RUN_ID?_step=N', e.g. {example}")
    try:
        run_id = validate_id(m.group("id"), f"{what} {value!r}: run id")
    except UsageError as exc:
        raise UsageError(f"{exc}; the form is 'RUN_ID?_step=N', e.g. {example}") from None
    return ForkPoint(run_id, int(m.group("step")))


def fork_point(rec: RunRecord | ArchiveRecord) -> ForkPoint | None:
    """A run record's fork point, or None."""
    if rec.forked_from_id is None or rec.forked_from_step is None:
        return None
    return ForkPoint(rec.forked_from_id, int(rec.forked_from_step))


#: ``(segment, after, upto)`` step ranges of a run's rows, in order
Ranges = tuple[tuple[int, int | None, int | None], ...]


@dataclass(frozen=True)
class Member:
    """One run's part of a history view: its record, the last step it contributes (None:
    all), and the ``(segment, after, upto)`` step ranges its rows are read from, in order."""

    rec: RunRecord
    limit: int | None
    ranges: Ranges


def _lineage_as_of(
    rec: RunRecord, archives: list[ArchiveRecord], as_of: int | None
) -> tuple[ForkPoint | None, int | None]:
    """A run's fork point (and the parent's archive count at fork time) as it was when its
    archive count was ``as_of`` (None: now). Archives record the lineage from before them."""
    if as_of is not None:
        for arch in archives:
            if arch.seg > as_of:
                if arch.forked_from_id is None:
                    return None, None
                return fork_point(arch), arch.forked_from_seg
    return fork_point(rec), rec.forked_from_seg


def _ranges(
    archives: list[ArchiveRecord], as_of: int | None, limit: int | None
) -> tuple[tuple[int, int | None, int | None], ...]:
    """Where a run's rows with ``_step <= limit`` were, as of archive count ``as_of``: a row
    stays live until the first later rewind whose cut step is below it, which moved it."""
    if as_of is None:
        return ((0, None, limit),)
    ranges: list[tuple[int, int | None, int | None]] = []
    upper = limit
    for arch in archives:
        if arch.seg <= as_of:
            continue
        cut = arch.cut_step
        if upper is None or cut < upper:
            ranges.append((arch.seg, cut, upper))
            upper = cut
    ranges.append((0, None, upper))
    ranges.reverse()
    return tuple(ranges)


def forks_read_past(store: Store, rec: RunRecord, step: int) -> bool:
    """Whether a fork of ``rec`` still reads ``rec``'s live rows after ``step``.

    A fork reads its parent's live segment up to its fork step, lowered by each later rewind's
    cut (:func:`_ranges`). A rewind to ``step`` that moves no rows must still record its cut
    (an empty archived segment) when such a fork exists, or the rows logged after the rewind
    would show up in the fork's history."""
    archives = store.archives(rec.key)
    for child in store.children(rec.project, rec.id):
        point = fork_point(child)
        if point is None:
            continue
        upper = point.step
        as_of = child.forked_from_seg or 0
        for arch in archives:
            if arch.seg > as_of:
                upper = min(upper, int(arch.cut_step))
        if upper > step:
            return True
    return False


def chain(store: Store, rec: RunRecord, max_step: int | None = None) -> list[Member]:
    """The runs whose rows make up ``rec``'s history view, root first.

    A parent is read as it was when the child was forked: if the parent was rewound (or its
    id re-created) since, the rows the child inherited are read from the archived segments
    they were moved to, so a fork's history never changes under it."""
    members: list[Member] = []
    seen: set[int] = set()
    cur: RunRecord | None = rec
    limit = max_step
    as_of: int | None = None
    while cur is not None:
        if cur.key in seen:
            raise UsageError(f"lineage of run {rec.id!r} loops through {cur.id!r}")
        seen.add(cur.key)
        archives = store.archives(cur.key) if as_of is not None else []
        members.append(Member(cur, limit, _ranges(archives, as_of, limit)))
        point, parent_as_of = _lineage_as_of(cur, archives, as_of)
        if point is None:
            break
        limit = point.step if limit is None else min(limit, point.step)
        cur = store.get_run(cur.project, point.run_id)
        as_of = parent_as_of if parent_as_of is not None else 0
    members.reverse()
    return members


def ancestry(
    store: Store, rec: RunRecord, max_step: int | None = None
) -> list[tuple[RunRecord, int | None]]:
    """The chain's records with the last step each contributes (None: all), root first."""
    return [(m.rec, m.limit) for m in chain(store, rec, max_step)]


def _lower(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def _upper(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def stitched_columns(
    store: Store,
    rec: RunRecord,
    max_step: int | None = None,
    lineage: bool = True,
    after_step: int | None = None,
    extra_rows: Iterable[dict[str, Any]] = (),
    keep: Callable[[str], bool] | None = None,
) -> Columns:
    """Columnar history of a run: inherited rows (when ``lineage``) then its own live rows,
    limited to ``after_step < _step <= max_step``; ``extra_rows`` are not-yet-durable rows;
    ``keep``: only those columns (see :func:`nbrun._history.key_filter`)."""
    cols = Columns(keep)
    members = (
        chain(store, rec, max_step) if lineage else [Member(rec, max_step, ((0, None, max_step),))]
    )
    for member in members:
        for seg, lo, hi in member.ranges:
            lo = _lower(lo, after_step)
            if lo is not None and hi is not None and lo >= hi:
                continue
            for first, last, data in store.chunks(member.rec.key, seg, hi, lo):
                _add_chunk(store, cols, member.rec.key, seg, first, last, data, hi, lo)
    # rows that became durable while this read the store are in both: keep the stored ones
    done = cols.last_step()
    extra = [
        r
        for r in extra_rows
        if (max_step is None or r["_step"] <= max_step)
        and (after_step is None or r["_step"] > after_step)
        and (done is None or r["_step"] > done)
    ]
    cols.add_rows(extra)
    return cols


def segment_columns(store: Store, key: int, seg: int) -> Columns:
    """Columnar rows of one archived segment."""
    cols = Columns()
    for first, last, data in store.chunks(key, seg):
        _add_chunk(store, cols, key, seg, first, last, data)
    return cols


def _add_chunk(
    store: Store,
    cols: Columns,
    key: int,
    seg: int,
    first: int,
    last: int,
    data: bytes,
    max_step: int | None = None,
    after: int | None = None,
) -> None:
    """``cols.add_chunk``; a chunk that cannot be decoded (one written before checksums: its
    damage is found only here) is a :class:`StoreError` naming it (rule 44)."""
    try:
        cols.add_chunk(data, max_step, after)
    except (ValueError, KeyError, IndexError, struct.error) as exc:
        raise store.damaged_chunk(key, seg, first, last, f"it cannot be decoded: {exc}") from exc


def last_step(store: Store, rec: RunRecord) -> int:
    """The last step of a run's history view (-1 when it has none)."""
    own = store.segment_last_step(rec.key, 0)
    if own is not None:
        return own
    point = fork_point(rec)
    return -1 if point is None else point.step


def check_no_cycle(store: Store, source: RunRecord, new_id: str) -> None:
    """Refuse a fork whose source descends from the run being created."""
    for member in chain(store, source):
        if member.rec.id == new_id:
            raise UsageError(
                f"fork_from {source.id!r}: run {new_id!r} is an ancestor of it; a run "
                "cannot be forked from its own descendant"
            )


def state_at(store: Store, rec: RunRecord, step: int) -> dict[str, Any]:
    """The cumulative summary state of a run's history view as of ``step`` (rows with
    ``_step <= step``): one chunk is read (two when the step falls inside a chunk), whatever
    the history's length."""
    if step < 0:
        return empty_state()
    for member in reversed(chain(store, rec, step)):
        for seg, lo, hi in reversed(member.ranges):
            hi = step if hi is None else min(hi, step)
            if lo is not None and lo >= hi:
                continue
            row = store.chunk_at(member.rec.key, seg, hi)
            if row is None or (lo is not None and row[1] <= lo):
                continue
            first, last, data, state = row
            if last <= hi and state is not None:
                cached: dict[str, Any] = loads(state)
                return cached
            cols = Columns()
            cols.add_chunk(data, max_step=hi, after=lo)
            return advance_state(state_at(store, rec, first - 1), cols.cols)
    return empty_state()


def split_for(store: Store, rec: RunRecord) -> Any:
    """A ``split`` callback for :meth:`Store.archive_after` on ``rec``: the kept part of the
    straddling chunk gets its cumulative state recomputed from the view before it."""

    def split(data: bytes, step: int, first: int) -> tuple[Chunk | None, Chunk | None]:
        kept_cols, moved_cols = split_columns(data, step)
        kept = moved = None
        if kept_cols is not None:
            start = state_at(store, rec, first - 1)
            kept = encode_columns(kept_cols, dumps(advance_state(start, kept_cols)))
        if moved_cols is not None:
            moved = encode_columns(moved_cols, None)
        return kept, moved

    return split


#: bucket summaries of whole chunks, shared by every reader in the process
BUCKETS = BucketCache()
#: chunks decoded and bucketed together
_BATCH = 64


def stitched_buckets(
    store: Store,
    members: list[tuple[int, Ranges]],
    x: Callable[[str], str],
    x_token: Any,
    cap: int,
    after_step: int | None = None,
    extra_rows: Iterable[dict[str, Any]] = (),
) -> dict[str, tuple[int, Any]]:
    """Per metric of a history view (its members' ``(run key, step ranges)``, rows after
    ``after_step``), ``(width, buckets)``: at most about ``cap`` min/max bucket summaries
    over the metric's x column (``x(metric)``; ``x_token`` names that choice in the cache).
    Whole chunks' summaries are cached (:data:`BUCKETS`), so reading a view again decodes
    only new chunks."""
    plan: list[tuple[int, int, int | None, int | None, list[ChunkMeta], dict[int, bytes]]]
    plan = []
    total = 0
    for key, ranges in members:
        for seg, lo, hi in ranges:
            lo = _lower(lo, after_step)
            if lo is not None and hi is not None and lo >= hi:
                continue
            meta, stored = store.chunk_meta_summaries(key, seg, hi, lo)
            plan.append((key, seg, lo, hi, meta, stored))
            total += sum(m.n for m in meta)
    group, per_chunk = _grouping(total, max((m.n for p in plan for m in p[4]), default=0), cap)
    try:  # a database deleted and made again at the same path is another one
        db: Any = (
            str(store.path),
            os.stat(store.path).st_ino if isinstance(store.path, Path) else None,
        )
    except OSError:
        db = (str(store.path), None)
    found: list[dict[str, Any] | None] = []
    last: int | None = None
    for key, seg, lo, hi, meta, stored in plan:
        missing = []
        for first, end, n, state in meta:
            whole = (lo is None or first > lo) and (hi is None or end <= hi)
            # the state (cumulative min, max, sum... up to the chunk) tells rewritten chunks apart
            ident: Any = (
                db,
                key,
                seg,
                first,
                end,
                n,
                hash(state),
                "chunk" if per_chunk else group,
                x_token,
            )
            hit = BUCKETS.get(ident) if whole else None
            if hit is None and whole and per_chunk and first in stored:
                hit = _stored_buckets(stored[first], x)
                if hit is not None:
                    BUCKETS.put(ident, hit)
            if hit is None:
                missing.append((len(found), ident if whole else None, first))
            found.append(hit)
        # the chunks not cached yet, read and bucketed in batches: memory stays a few MB
        for b in range(0, len(missing), _BATCH):
            batch = missing[b : b + _BATCH]
            rows = store.chunks(key, seg, batch[-1][2], batch[0][2] - 1)
            data = {r[0]: r[2] for r in rows}
            todo = [(at, chunk, f) for at, chunk, f in batch if f in data]
            made = chunks_buckets([(data[f], hi, lo) for _, _, f in todo], x, group)
            del rows, data
            for (at, chunk, _), summary in zip(todo, made, strict=True):
                found[at] = summary
                if chunk is not None:
                    BUCKETS.put(chunk, summary)
        if meta:
            last = meta[-1].last_step if hi is None else min(hi, meta[-1].last_step)
    parts: dict[str, list[Any]] = {}
    for f in found:
        for metric, arr in (f or {}).items():
            parts.setdefault(metric, []).append(arr)
    extra = [
        r
        for r in extra_rows
        if (after_step is None or r["_step"] > after_step) and (last is None or r["_step"] > last)
    ]
    if extra:
        cols = Columns()
        cols.add_rows(extra)
        for metric, arr in column_buckets(cols.arrays(), cols.n, x, group).items():
            parts.setdefault(metric, []).append(arr)
    merge_group = 1 if per_chunk else group
    return {metric: merge_buckets(p, cap, merge_group) for metric, p in parts.items()}


def _grouping(total: int, size: int, cap: int) -> tuple[int, bool]:
    """Points per cached summary of ``total`` rows in chunks of at most ``size`` rows, charted
    in at most about ``cap`` buckets, and whether that is one summary per whole chunk.

    A power of 16 (few distinct values, so that reading part of a run, or a run that grew,
    finds the same summaries), at least 4 summaries per bucket; when a bucket spans at least a
    whole chunk, one summary per chunk (rule 68: stored beside it by the writer, so a long
    run's chunks need not be read at all)."""
    group = 1
    while total // (group * 16) >= cap * 4:
        group *= 16
    width = 1
    while -(-total // width) > cap:
        width *= 2
    if 0 < size <= width:
        return size, True
    return group, False


def _stored_buckets(data: bytes, x: Callable[[str], str]) -> dict[str, Any] | None:
    """A chunk's stored summary (rule 68) as its buckets, or None when one of its metrics is
    charted over another x column than ``_step`` (or the bytes do not decode): then the
    chunk is read."""
    try:
        found = decode_summary(data)
    except ValueError:
        return None
    if any(x(metric) != "_step" for metric in found):
        return None
    return found
