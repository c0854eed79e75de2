"""Run records in the store: create, update (also conditionally), read and list them; delete a
run or move runs to another project, rewriting the chunks they share (rule 40)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from .._records import (
    RunRecord,
)
from ..errors import StoreError
from .chunks import ChunkTables
from .schema import (
    Chunk,
    _decode_run,
    chunk_crc,
)
from .sqlite import insert_new


class RunTables(ChunkTables):
    """The ``runs`` table, and deleting or moving runs with their rows."""

    def create_run(self, rec: RunRecord) -> int | None:
        """Insert a run record (its ``key`` is not written) and return its key; None (and
        nothing written) when the project already has a run with that id (another process
        made it meanwhile: rule 41)."""
        enc = self._encode_fields(rec.columns())
        with self._write() as conn:
            return insert_new(conn, "runs", enc, "ON CONFLICT (project, id) DO NOTHING")

    def update_run(self, key: int, fields: dict[str, Any]) -> None:
        """Set columns of one run."""
        if not fields:
            return
        with self._write() as conn:
            self._set_run(conn, key, fields)

    def _set_run(self, conn: Any, key: int, fields: dict[str, Any]) -> None:
        enc = self._encode_fields(fields)
        sets = ", ".join(f"{name} = ?" for name in enc)
        conn.execute(f"UPDATE runs SET {sets} WHERE key = ?", (*enc.values(), key))

    def update_run_if(
        self, key: int, change: Callable[[RunRecord], dict[str, Any] | None]
    ) -> RunRecord | None:
        """Compare-and-set one run: in one write transaction (every other writer of the store
        waits), read the run, call ``change(record)`` and set the fields it returns (None:
        leave the run as it is). Returns the record as written, or None when the run is
        missing or ``change`` declined; an exception ``change`` raises rolls back and
        propagates. Two callers that each expect the run as it was (e.g. still queued, or
        not live: rule 41) cannot both see it so: the second sees the first's write."""
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {self._run_select} FROM runs WHERE key = ?{self._row_lock}", (key,)
            ).fetchone()
            if row is None:
                return None
            rec = _decode_run(row)
            fields = change(rec)
            if not fields:
                return None
            self._set_run(conn, key, fields)
            return rec.replace(**fields)

    def get_run(self, project: str, run_id: str) -> RunRecord | None:
        """Return one run's record, or None."""
        row = self._conn.execute(
            f"SELECT {self._run_select} FROM runs WHERE project = ? AND id = ?",
            (project, run_id),
        ).fetchone()
        return None if row is None else _decode_run(row)

    def get_run_by_key(self, key: int) -> RunRecord | None:
        """Return one run's record by key, or None."""
        row = self._conn.execute(
            f"SELECT {self._run_select} FROM runs WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else _decode_run(row)

    def list_runs(self, project: str | None = None) -> list[RunRecord]:
        """All runs (of one project), oldest first."""
        sql = f"SELECT {self._run_select} FROM runs"
        args: tuple[Any, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            args = (project,)
        rows = self._conn.execute(sql + " ORDER BY created, key", args).fetchall()
        return [_decode_run(r) for r in rows]

    def list_runs_with_steps(
        self, project: str | None = None
    ) -> list[tuple[RunRecord, int | None]]:
        """:meth:`list_runs` with each run's last live step (``segment_last_step(key, 0)``,
        None when its live segment is empty), in one query whatever the number of runs."""
        sql = (
            f"SELECT {self._run_select}, (SELECT h.last_step FROM history h"
            " WHERE h.run_key = runs.key AND h.seg = 0 ORDER BY h.first_step DESC LIMIT 1)"
            " FROM runs"
        )
        args: tuple[Any, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            args = (project,)
        rows = self._conn.execute(sql + " ORDER BY created, key", args).fetchall()
        return [(_decode_run(r[:-1]), None if r[-1] is None else int(r[-1])) for r in rows]

    def children(self, project: str, run_id: str) -> list[RunRecord]:
        """Runs forked from the given one, oldest first."""
        rows = self._conn.execute(
            f"SELECT {self._run_select} FROM runs WHERE project = ? AND forked_from_id = ?"
            " ORDER BY created, key",
            (project, run_id),
        ).fetchall()
        return [_decode_run(r) for r in rows]

    def count_runs(self, project: str) -> int:
        """How many runs the project has (for generated names)."""
        return int(
            self._conn.execute(
                "SELECT COUNT(*) FROM runs WHERE project = ?", (project,)
            ).fetchone()[0]
        )

    def last_crashed_or_failed(self, project: str) -> list[RunRecord]:
        """Runs of a project in a resumable state, newest first (for ``resume='auto'``)."""
        rows = self._conn.execute(
            f"SELECT {self._run_select} FROM runs WHERE project = ? AND state IN "
            "('running', 'failed', 'crashed', 'preempting') ORDER BY started DESC, key DESC",
            (project,),
        ).fetchall()
        return [_decode_run(r) for r in rows]

    # -- deleting and moving runs (rule 40) --------------------------------------------------
    def archived_forks(self, project: str, run_id: str) -> list[tuple[str, int]]:
        """``(run id, seg)`` of the archived segments (of other runs) whose lineage before a
        rewind was a fork of the given run."""
        rows = self._conn.execute(
            "SELECT r.id, a.seg FROM archives a JOIN runs r ON r.key = a.run_key"
            " WHERE r.project = ? AND a.forked_from_id = ? AND r.id <> ? ORDER BY r.key, a.seg",
            (project, run_id, run_id),
        ).fetchall()
        return [(str(i), int(seg)) for i, seg in rows]

    def delete_run(
        self,
        key: int,
        forks: list[tuple[int, list[Chunk], list[tuple[int, int]], dict[str, Any]]],
        artifacts: list[int],
        rewrites: list[tuple[int, int, int, bytes, str | None]] | None = None,
    ) -> list[int]:
        """Delete a run and its rows, archives, alerts, samples, console lines and artifact
        records in one transaction. Each fork ``(key, chunks, outputs, fields)`` first gets the
        rows it inherited (``chunks``, into its live segment), the artifact versions logged in
        them (``outputs``: ``(artifact_key, step)``) and ``fields`` (its lineage cleared); its
        archives' lineage through the run is cleared too. Refuses (:class:`StoreError`) when
        the run's forks are not exactly ``forks`` any more. ``artifacts``: versions to delete
        once no other run logged or used them; returns the keys of those deleted. ``rewrites``:
        chunks of the forks given new data and state (see :meth:`move_runs`)."""
        enc = [(k, c, o, self._encode_fields(f)) for k, c, o, f in forks]
        now = time.time()
        with self._write() as conn:
            row = conn.execute("SELECT project, id FROM runs WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise StoreError(f"run key {key} is not in {str(self.path)!r} any more")
            found = conn.execute(
                "SELECT key FROM runs WHERE project = ? AND forked_from_id = ?", tuple(row)
            ).fetchall()
            if sorted(int(r[0]) for r in found) != sorted(k for k, *_ in enc):
                raise StoreError(f"run {row[1]!r} was forked meanwhile; nothing was deleted")
            for fork_key, chunks, outputs, fields in enc:
                self._insert_chunks(conn, fork_key, 0, chunks)
                conn.executemany(
                    "INSERT INTO artifact_usage (artifact_key, run_key, direction, seg, step,"
                    " created) VALUES (?, ?, 'output', 0, ?, ?)",
                    [(art, fork_key, step, now) for art, step in outputs],
                )
                sets = ", ".join(f"{name} = ?" for name in fields)
                conn.execute(f"UPDATE runs SET {sets} WHERE key = ?", (*fields.values(), fork_key))
                conn.execute(
                    "UPDATE archives SET forked_from_id = NULL, forked_from_step = NULL,"
                    " forked_from_seg = NULL WHERE run_key = ? AND forked_from_id = ?",
                    (fork_key, row[1]),
                )
            self._rewrite_chunks(conn, rewrites or [])
            tables = ["history", "archives", "alerts", "artifact_usage"]
            tables += ["system_samples", "console"] if self.side_tables else []
            tables += ["history_summaries"] if getattr(self, "summaries", False) else []
            for table in tables:
                conn.execute(f"DELETE FROM {table} WHERE run_key = ?", (key,))
            conn.execute("DELETE FROM runs WHERE key = ?", (key,))
            deleted = []
            for art in artifacts:
                used = conn.execute(
                    "SELECT 1 FROM artifact_usage WHERE artifact_key = ? UNION ALL"
                    " SELECT 1 FROM artifacts WHERE source_key = ?",
                    (art, art),
                ).fetchone()
                if used is None:
                    conn.execute("DELETE FROM artifact_aliases WHERE artifact_key = ?", (art,))
                    conn.execute("DELETE FROM artifacts WHERE key = ?", (art,))
                    deleted.append(art)
        return deleted

    def move_runs(
        self,
        keys: list[int],
        project: str,
        rewrites: list[tuple[int, int, int, bytes, str | None]],
        fields: dict[int, dict[str, Any]],
    ) -> None:
        """Move runs to ``project`` in one transaction, giving the chunks ``rewrites``
        ``(run_key, seg, first_step, data, state)`` their new data and cumulative state (media
        references naming the new project) and setting ``fields`` of runs by key. Refuses
        (:class:`StoreError`) when the project has a run with one of their ids."""
        with self._write() as conn:
            for key in keys:
                (run_id,) = conn.execute("SELECT id FROM runs WHERE key = ?", (key,)).fetchone()
                taken = conn.execute(
                    "SELECT 1 FROM runs WHERE project = ? AND id = ?", (project, run_id)
                ).fetchone()
                if taken is not None:
                    raise StoreError(f"project {project!r} has a run {run_id!r} already")
                enc = {**self._encode_fields(fields.get(key, {})), "project": project}
                sets = ", ".join(f"{name} = ?" for name in enc)
                conn.execute(f"UPDATE runs SET {sets} WHERE key = ?", (*enc.values(), key))
            self._rewrite_chunks(conn, rewrites)

    def _rewrite_chunks(
        self, conn: sqlite3.Connection, rewrites: list[tuple[int, int, int, bytes, str | None]]
    ) -> None:
        if not self.checksums:
            conn.executemany(
                "UPDATE history SET data = ?, state = ? WHERE run_key = ? AND seg = ?"
                " AND first_step = ?",
                [(data, state, key, seg, first) for key, seg, first, data, state in rewrites],
            )
            return
        conn.executemany(
            "UPDATE history SET data = ?, state = ?, crc = ? WHERE run_key = ? AND seg = ?"
            " AND first_step = ?",
            [
                (data, state, chunk_crc(data, state), key, seg, first)
                for key, seg, first, data, state in rewrites
            ],
        )

    def request_stop(self, key: int) -> None:
        """Ask the process that owns a running run to stop it (rule 31)."""
        self.update_run(key, {"stop_requested": 1})
