"""Lineage: ``"RUN_ID?_step=N"`` specs, fork ancestry, stitched history, archived segments
(rules 12-19)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._history import Columns, advance_state, empty_state, encode_columns, split_columns
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
    from ._ids import validate_id

    try:
        run_id = validate_id(m.group("id"), f"{what} {value!r}: run id")
    except UsageError as exc:
        raise UsageError(f"{exc}; the form is 'RUN_ID?_step=N', e.g. {example}") from None
    return ForkPoint(run_id, int(m.group("step")))


def fork_point(rec: dict[str, Any]) -> ForkPoint | None:
    """A run record's fork point, or None."""
    if rec.get("forked_from_id") is None:
        return None
    return ForkPoint(rec["forked_from_id"], int(rec["forked_from_step"]))


def ancestry(
    store: Store, rec: dict[str, Any], max_step: int | None = None
) -> list[tuple[dict[str, Any], int | None]]:
    """The chain of records whose rows make up ``rec``'s history view, root first, each with
    the last step it contributes (None: all its rows)."""
    chain: list[tuple[dict[str, Any], int | None]] = []
    seen: set[int] = set()
    limit = max_step
    cur: dict[str, Any] | None = rec
    while cur is not None:
        if cur["key"] in seen:
            raise UsageError(f"lineage of run {rec['id']!r} loops through {cur['id']!r}")
        seen.add(cur["key"])
        chain.append((cur, limit))
        point = fork_point(cur)
        if point is None:
            break
        limit = point.step if limit is None else min(limit, point.step)
        cur = store.get_run(cur["project"], point.run_id)
    chain.reverse()
    return chain


def stitched_columns(
    store: Store,
    rec: dict[str, Any],
    max_step: int | None = None,
    lineage: bool = True,
    after_step: int | None = None,
    extra_rows: Iterable[dict[str, Any]] = (),
) -> Columns:
    """Columnar history of a run: inherited rows (when ``lineage``) then its own live rows,
    limited to ``after_step < _step <= max_step``; ``extra_rows`` are not-yet-durable rows."""
    cols = Columns()
    chain = ancestry(store, rec, max_step) if lineage else [(rec, max_step)]
    for member, limit in chain:
        for first, _last, data in store.chunks(member["key"], 0, limit, after_step):
            del first
            cols.add_chunk(data, limit, after_step)
    # rows that became durable while this read the store are in both: keep the stored ones
    done = cols.cols["_step"][-1] if cols.n else None
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
    for _first, _last, data in store.chunks(key, seg):
        cols.add_chunk(data)
    return cols


def last_step(store: Store, rec: dict[str, Any]) -> int:
    """The last step of a run's history view (-1 when it has none)."""
    own = store.segment_last_step(rec["key"], 0)
    if own is not None:
        return own
    point = fork_point(rec)
    return -1 if point is None else point.step


def check_no_cycle(store: Store, source: dict[str, Any], new_id: str) -> None:
    """Refuse a fork whose source descends from the run being created."""
    for member, _ in ancestry(store, source):
        if member["id"] == new_id:
            raise UsageError(
                f"fork_from {source['id']!r}: run {new_id!r} is an ancestor of it; a run "
                "cannot be forked from its own descendant"
            )


def state_at(store: Store, rec: dict[str, Any], step: int) -> dict[str, Any]:
    """The cumulative summary state of a run's history view as of ``step`` (rows with
    ``_step <= step``): one chunk is read, whatever the history's length."""
    cur = rec
    limit = step
    seen: set[int] = set()
    while True:
        if cur["key"] in seen:
            raise UsageError(f"lineage of run {rec['id']!r} loops through {cur['id']!r}")
        seen.add(cur["key"])
        point = fork_point(cur)
        row = store.chunk_at(cur["key"], limit)
        if row is not None and (point is None or row[1] > point.step):
            first, last, data, state = row
            if last <= limit and state is not None:
                return loads(state)
            before = store.state_before(cur["key"], first)
            base = loads(before) if before is not None else cur["base_state"] or empty_state()
            cols = Columns()
            cols.add_chunk(data, max_step=limit)
            return advance_state(base, cols.cols)
        if point is None:
            return empty_state()
        limit = min(limit, point.step)
        parent = store.get_run(cur["project"], point.run_id)
        if parent is None:
            return empty_state()
        cur = parent


def split_with_state(
    base_state: dict[str, Any],
) -> Any:
    """A ``split`` callback for :meth:`Store.archive_after` that recomputes the kept part's
    cumulative state (``base_state`` stands in when no chunk precedes it)."""

    def split(data: bytes, step: int, before: str | None) -> tuple[Chunk | None, Chunk | None]:
        kept_cols, moved_cols = split_columns(data, step)
        kept = moved = None
        if kept_cols is not None:
            start = loads(before) if before is not None else base_state
            kept = encode_columns(kept_cols, dumps(advance_state(start, kept_cols)))
        if moved_cols is not None:
            moved = encode_columns(moved_cols, None)
        return kept, moved

    return split
