"""Typed records: what the store returns and takes, one class per kind of stored row.

The store (:mod:`nbrun._store`) decodes a row into one of these (JSON columns already parsed)
and encodes one back; everything above it reads fields by name (``rec.state``), so a typo is
a type error, not a ``KeyError`` at run time. Records are frozen snapshots of a row as it was
read: a change goes to the store (``update_run``, ``update_run_if``), and a changed copy is made
with :func:`dataclasses.replace` (``rec.replace(...)``). The field order is the column order.
Nothing on the hot path (``Run.log``, the writer, ``_fastlog.c``) reads a record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of ``runs`` (rule 1's identity fields, the run's config, summary and metric
    definitions, its state and heartbeat, and where it was forked from). ``key`` is the
    store's row key (0 in a record not stored yet: :meth:`Store.create_run` returns the key).
    ``entity`` and ``name`` are nullable columns that nbrun always fills."""

    key: int
    project: str
    id: str
    entity: str
    name: str
    notes: str | None
    tags: list[str]
    run_group: str | None
    job_type: str | None
    config: dict[str, Any]
    summary: dict[str, Any]
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    config_diff: dict[str, Any]
    state: str
    exit_code: int | None
    created: float
    started: float
    updated: float
    heartbeat: float
    finished: float | None
    runtime_before: float
    pid: int | None
    host: str | None
    starting_step: int
    last_step: int
    forked_from_id: str | None
    forked_from_step: int | None
    forked_from_seg: int | None
    resumed: int
    stop_requested: int
    sweep_id: str | None = None
    """The sweep the run belongs to (rules 50-54), or None."""

    def replace(self, **fields: Any) -> RunRecord:
        """A copy with the given fields changed (names checked: an unknown one raises)."""
        return dataclasses.replace(self, **fields)

    def columns(self) -> dict[str, Any]:
        """Every field but ``key``, by column name (what :meth:`Store.create_run` writes)."""
        return {name: getattr(self, name) for name in RUN_FIELDS if name != "key"}


#: the ``runs`` columns, in order (the fields of :class:`RunRecord`)
RUN_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunRecord))


@dataclass(frozen=True, slots=True)
class ArchiveRecord:
    """One archived history segment of a run (``archives``): rows moved out of the live
    history by a rewind or a replaced id (rules 11, 13), with the lineage the run had then."""

    run_key: int
    seg: int
    from_step: int | None
    to_step: int | None
    cut_step: int
    n: int
    created: float
    reason: str
    actor: str
    forked_from_id: str | None
    forked_from_step: int | None
    forked_from_seg: int | None


#: the ``archives`` columns, in order
ARCHIVE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ArchiveRecord))


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert of a run (``run.alert``)."""

    created: float
    title: str
    text: str
    level: str

    def as_dict(self) -> dict[str, Any]:
        """The alert as the public ``run.alerts`` lists it."""
        return {
            "created": self.created,
            "title": self.title,
            "text": self.text,
            "level": self.level,
        }


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """One artifact version (``artifacts``, rules 35-37): ``version`` is None while a
    distributed upsert is pending; ``manifest`` maps each file's name to its entry (digest,
    size, or a reference); ``source_key`` marks a link to the version it points at."""

    key: int
    project: str
    name: str
    version: int | None
    type: str
    digest: str
    size: int
    description: str | None
    metadata: dict[str, Any]
    manifest: dict[str, dict[str, Any]]
    tags: list[str]
    state: str
    distributed_id: str | None
    source_key: int | None
    created: float

    def replace(self, **fields: Any) -> ArtifactRecord:
        """A copy with the given fields changed."""
        return dataclasses.replace(self, **fields)


#: the ``artifacts`` columns, in order
ARTIFACT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ArtifactRecord))


@dataclass(frozen=True, slots=True)
class SweepRecord:
    """One sweep (``sweeps``, rules 50-54): its id (unique per project), the validated sweep
    config as given (JSON), its search method, state (W&B's ``PENDING``, ``RUNNING``,
    ``FINISHED``) and the seed its suggestions are drawn with."""

    key: int
    project: str
    id: str
    name: str | None
    config: dict[str, Any]
    method: str
    state: str
    seed: int
    created: float
    updated: float

    def replace(self, **fields: Any) -> SweepRecord:
        """A copy with the given fields changed."""
        return dataclasses.replace(self, **fields)


#: the ``sweeps`` columns, in order
SWEEP_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SweepRecord))


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One suggestion an agent claimed (``sweep_trials``): the grid point or sequence number
    ``idx``, its parameters, the run it became (``run_id``), its state (``running``,
    ``finished``, ``failed``, ``killed``, ``crashed``), the metric value it reached and the
    agent (host, pid) that ran it."""

    key: int
    sweep_key: int
    idx: int
    params: dict[str, Any]
    run_id: str
    state: str
    value: float | None
    host: str | None
    pid: int | None
    created: float
    updated: float

    def replace(self, **fields: Any) -> TrialRecord:
        """A copy with the given fields changed."""
        return dataclasses.replace(self, **fields)


#: the ``sweep_trials`` columns, in order
TRIAL_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrialRecord))


class TrialPoint(NamedTuple):
    """A sweep trial as a claim's search reads it (``Store.claim_trial``): its grid point or
    sequence number, state, metric value and params (``{}`` when the claim did not ask for
    them: grid and random search need none)."""

    idx: int
    state: str
    value: float | None
    params: dict[str, Any]


class ChunkRecord(NamedTuple):
    """One stored history chunk of a run (``history``): its segment (0 live, 1, 2, ...
    archived), step range, row count, columnar data and the cumulative state after it. A
    tuple, so ``seg, first, last, n, data, state = chunk`` unpacks it."""

    seg: int
    first_step: int
    last_step: int
    n: int
    data: bytes
    state: str | None


class ChunkMeta(NamedTuple):
    """A stored chunk without its data: what a reader that cached the chunk needs."""

    first_step: int
    last_step: int
    n: int
    state: str | None
