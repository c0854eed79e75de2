"""The schema of the store's tables: the version-1 DDL, the migrations after it, the run
and artifact columns and how JSON columns are encoded, and the history chunks' checksum.

Both engines run these scripts (PostgreSQL's store adapts the types, see ``postgres.pg_ddl``)."""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from collections.abc import Callable
from typing import Any

from .._records import (
    ARTIFACT_FIELDS,
    RUN_FIELDS,
    ArtifactRecord,
    RunRecord,
)

DB_NAME = "nbrun.db"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    key INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    entity TEXT,
    name TEXT,
    notes TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    run_group TEXT,
    job_type TEXT,
    config TEXT NOT NULL DEFAULT '{}',
    summary TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    metadata TEXT NOT NULL DEFAULT '{}',
    config_diff TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    exit_code INTEGER,
    created REAL NOT NULL,
    started REAL NOT NULL,
    updated REAL NOT NULL,
    heartbeat REAL NOT NULL,
    finished REAL,
    runtime_before REAL NOT NULL DEFAULT 0,
    pid INTEGER,
    host TEXT,
    starting_step INTEGER NOT NULL DEFAULT 0,
    last_step INTEGER NOT NULL DEFAULT -1,
    forked_from_id TEXT,
    forked_from_step INTEGER,
    forked_from_seg INTEGER,
    resumed INTEGER NOT NULL DEFAULT 0,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    UNIQUE (project, id)
);
CREATE INDEX runs_by_parent ON runs (project, forked_from_id);
CREATE TABLE history (
    run_key INTEGER NOT NULL,
    seg INTEGER NOT NULL,
    first_step INTEGER NOT NULL,
    last_step INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data BLOB NOT NULL,
    state TEXT,
    PRIMARY KEY (run_key, seg, first_step)
) WITHOUT ROWID;
CREATE TABLE archives (
    run_key INTEGER NOT NULL,
    seg INTEGER NOT NULL,
    from_step INTEGER,
    to_step INTEGER,
    cut_step INTEGER NOT NULL,
    n INTEGER NOT NULL,
    created REAL NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    forked_from_id TEXT,
    forked_from_step INTEGER,
    forked_from_seg INTEGER,
    PRIMARY KEY (run_key, seg)
);
CREATE TABLE alerts (
    run_key INTEGER NOT NULL,
    created REAL NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    level TEXT NOT NULL
);
CREATE INDEX alerts_by_run ON alerts (run_key, created);
"""

#: Schema upgrades, oldest first: entry ``i`` takes a database from version ``i + 1`` to
#: ``i + 2`` (its statements run in the same transaction as the version bump). ``_SCHEMA`` is
#: version 1 and never changes; a new table or column is a new entry here, so databases made
#: by any earlier nbrun are upgraded when they are opened for writing.
MIGRATIONS: list[str] = [
    # v2 (issue 13): system metric samples and console lines, per run and segment like history
    # (seg 0 live, 1, 2, ... archived by rewinds); ``step`` is the run's last written step when
    # the sample was taken / the line was printed (-1 before the first row); ids give the order
    """
    CREATE TABLE system_samples (
        id INTEGER PRIMARY KEY,
        run_key INTEGER NOT NULL,
        seg INTEGER NOT NULL,
        step INTEGER NOT NULL,
        t REAL NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX system_samples_by_run ON system_samples (run_key, seg, id);
    CREATE TABLE console (
        id INTEGER PRIMARY KEY,
        run_key INTEGER NOT NULL,
        seg INTEGER NOT NULL,
        step INTEGER NOT NULL,
        t REAL NOT NULL,
        stream TEXT NOT NULL,
        text TEXT NOT NULL,
        open INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX console_by_run ON console (run_key, seg, id);
    """,
    # v3: artifacts (issue 12, rules 35-37). A version is one row of ``artifacts`` (``version``
    # NULL while a distributed upsert is pending); its files are content-addressed blobs on
    # disk (``<dir>/nbrun/artifacts/blobs``) named in ``manifest``. ``source_key`` marks a
    # link (``link_artifact`` / the model registry) to the version it points at. Aliases are
    # per collection; ``artifact_usage`` is the lineage: which run logged (``output``) or used
    # (``input``) which version, at which step, in which history segment (0: live; a rewind
    # moves the rows logged after its step into the archived segment with the history).
    """
    CREATE TABLE artifacts (
        key INTEGER PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER,
        type TEXT NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        description TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        manifest TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        state TEXT NOT NULL,
        distributed_id TEXT,
        source_key INTEGER,
        created REAL NOT NULL,
        UNIQUE (project, name, version)
    );
    CREATE INDEX artifacts_by_digest ON artifacts (project, name, digest);
    CREATE TABLE artifact_aliases (
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        artifact_key INTEGER NOT NULL,
        PRIMARY KEY (project, name, alias)
    );
    CREATE TABLE artifact_usage (
        artifact_key INTEGER NOT NULL,
        run_key INTEGER NOT NULL,
        direction TEXT NOT NULL,
        seg INTEGER NOT NULL DEFAULT 0,
        step INTEGER NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX artifact_usage_by_run ON artifact_usage (run_key, seg);
    CREATE INDEX artifact_usage_by_artifact ON artifact_usage (artifact_key)
    """,
    # v4 (issue 21, rule 44): a checksum of every history chunk (:func:`chunk_crc` of its data
    # and state), written with the chunk and verified on every read; chunks written before
    # this version keep NULL (unverified)
    """
    ALTER TABLE history ADD COLUMN crc INTEGER
    """,
    # v5 (issue 23, rules 50-54): sweeps. A sweep is one row of ``sweeps`` (its validated
    # config as JSON, ``id`` unique per project); each suggestion an agent claimed is one row
    # of ``sweep_trials`` (``idx``: the grid point, or the sequence number of a random / bayes
    # suggestion), naming the run it became. The partial unique index lets a point be claimed
    # once unless its trial crashed (then it may be claimed again); ``runs.sweep_id`` names the
    # sweep a run belongs to
    """
    CREATE TABLE sweeps (
        key INTEGER PRIMARY KEY,
        project TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT,
        config TEXT NOT NULL,
        method TEXT NOT NULL,
        state TEXT NOT NULL,
        seed INTEGER NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        UNIQUE (project, id)
    );
    CREATE TABLE sweep_trials (
        key INTEGER PRIMARY KEY,
        sweep_key INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        params TEXT NOT NULL,
        run_id TEXT NOT NULL,
        state TEXT NOT NULL,
        value REAL,
        host TEXT,
        pid INTEGER,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE UNIQUE INDEX sweep_trials_point ON sweep_trials (sweep_key, idx)
        WHERE state <> 'crashed';
    CREATE INDEX sweep_trials_by_sweep ON sweep_trials (sweep_key, key);
    ALTER TABLE runs ADD COLUMN sweep_id TEXT
    """,
    # v6 (issue 24, rule 68): per history chunk, its metrics' whole-chunk bucket summaries
    # (rows, lowest and highest point, their rows' _runtime and _timestamp), written with the
    # chunk by the writer thread so a long run's chart reads them instead of every chunk.
    # ``chunk_crc`` is the chunk's checksum when the summary was made (a chunk rewritten or
    # moved since no longer matches: its summary is not used); ``crc`` is the summary's own
    # (:func:`summary_crc`). Chunks without a row here are charted from their bytes.
    """
    CREATE TABLE history_summaries (
        run_key INTEGER NOT NULL,
        seg INTEGER NOT NULL,
        first_step INTEGER NOT NULL,
        chunk_crc INTEGER NOT NULL,
        data BLOB NOT NULL,
        crc INTEGER NOT NULL,
        PRIMARY KEY (run_key, seg, first_step)
    ) WITHOUT ROWID
    """,
]


def schema_version() -> int:
    """The schema version this nbrun writes: 1 plus the number of migrations."""
    return 1 + len(MIGRATIONS)


SCHEMA_VERSION = schema_version()

#: run columns stored as JSON text
JSON_FIELDS = frozenset({"tags", "config", "summary", "metrics", "metadata", "config_diff"})
RUN_COLUMNS = RUN_FIELDS
_RUN_COLUMN_SET = frozenset(RUN_COLUMNS)

#: system samples, console lines and the open console lines (None: unchanged) of one flush;
#: a sample is ``(time, step, data JSON)``, a line ``(time, step, stream, text)``
Side = tuple[list[tuple[float, int, str]], list[tuple[float, int, str, str]], "list[Any] | None"]

#: one history chunk: (first_step, last_step, rows, columnar data, cumulative state JSON)
Chunk = tuple[int, int, int, bytes, "str | None"]

#: the upsert both engines understand (``INSERT OR REPLACE`` is SQLite's alone)
_ALIAS_UPSERT = (
    " ON CONFLICT (project, name, alias) DO UPDATE SET artifact_key = excluded.artifact_key"
)

_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=True, check_circular=False)
dumps = _encoder.encode
loads = json.loads


def chunk_crc(data: bytes | memoryview, state: str | None) -> int:
    """The checksum stored with a history chunk (rule 44): CRC-32 of its data, then of its
    cumulative state (the summary values a reader takes from it)."""
    crc = zlib.crc32(data)
    return crc if state is None else zlib.crc32(state.encode(), crc)


def summary_crc(data: bytes | memoryview, chunk_crc: int) -> int:
    """The checksum stored with a chunk's summary (rule 68): CRC-32 of its bytes, started
    from the checksum of the chunk it summarises."""
    return zlib.crc32(data, chunk_crc)


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated DDL statements inside the caller's transaction (``executescript``
    would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _install_schema(conn: Any, ddl: Callable[[str], str] = lambda script: script) -> None:
    """Create every table of a new store (the schema, then each migration, ``ddl`` adapting
    the scripts to the engine) and its ``meta`` rows, inside the caller's transaction."""
    for script in (_SCHEMA, *MIGRATIONS):
        _run_script(conn, ddl(script))
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [
            ("app", "nbrun"),
            ("schema_version", str(schema_version())),
            ("created", repr(time.time())),
        ],
    )


def _decode_run(row: sqlite3.Row | tuple[Any, ...]) -> RunRecord:
    values = dict(zip(RUN_COLUMNS, row, strict=True))
    for field in JSON_FIELDS:
        values[field] = loads(values[field])
    return RunRecord(**values)


def _decode_artifact(row: sqlite3.Row | tuple[Any, ...]) -> ArtifactRecord:
    values = dict(zip(ARTIFACT_FIELDS, row, strict=True))
    for field in ("metadata", "manifest", "tags"):
        values[field] = loads(values[field])
    return ArtifactRecord(**values)


def _encode_artifact(rec: ArtifactRecord) -> dict[str, Any]:
    """An artifact record's columns but ``key``, JSON columns encoded (as
    :func:`_decode_artifact` reads them)."""
    out = {name: getattr(rec, name) for name in ARTIFACT_FIELDS if name != "key"}
    for field in ("metadata", "manifest", "tags"):
        out[field] = dumps(out[field])
    return out


def encode_run_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Run columns as stored: each name checked against the ``runs`` table, JSON columns
    encoded (the SQLite store writes them so; PostgreSQL's also moves heartbeats to its clock)."""
    out = {}
    for name, value in fields.items():
        if name not in _RUN_COLUMN_SET or name == "key":
            raise KeyError(f"unknown run column {name!r}")
        out[name] = dumps(value) if name in JSON_FIELDS else value
    return out
