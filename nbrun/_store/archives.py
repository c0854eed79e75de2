"""Archived segments and alerts: a rewind moves the history after its step into a new segment
(splitting the chunk that straddles it) and records the archive; alerts of a run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .._records import (
    ARCHIVE_FIELDS,
    AlertRecord,
    ArchiveRecord,
    RunRecord,
)
from ..errors import RunNotFoundError
from .chunks import ChunkTables
from .schema import (
    Chunk,
    _decode_run,
)


class ArchiveTables(ChunkTables):
    """The ``archives`` and ``alerts`` tables."""

    def archive_after(
        self,
        key: int,
        step: int,
        split: Callable[[bytes, int, int], tuple[Chunk | None, Chunk | None]],
        info: dict[str, Any],
        run_fields: dict[str, Any],
        force: bool = False,
        check: Callable[[RunRecord], None] | None = None,
    ) -> ArchiveRecord | None:
        """Move the live rows with ``_step > step`` into a new archived segment.

        ``split(data, step, first_step)`` splits the one chunk that straddles ``step`` into
        the kept and the moved chunk (either may be None). ``info`` fills the archive record
        (reason, actor, forked_from_*); the record keeps ``cut_step = step`` so that forks made
        before the rewind still read the rows they were forked from. ``run_fields`` are set on
        the run in the same transaction. Returns the archive record, or None when nothing was
        after ``step`` (unless ``force``: then an empty segment records a lineage change).
        ``check(record)``, called on the run as the transaction reads it before anything is
        written, may raise to refuse the whole change (a take-over as compare-and-set, rule 41).
        """
        enc = self._encode_fields(run_fields)
        with self._write() as conn:
            if check is not None:
                row = conn.execute(
                    f"SELECT {self._run_select} FROM runs WHERE key = ?{self._row_lock}",
                    (key,),
                ).fetchone()
                if row is None:
                    raise RunNotFoundError(f"run key {key} is no longer in {str(self.path)!r}")
                check(_decode_run(row))
            seg = int(
                conn.execute(
                    "SELECT COALESCE(MAX(seg), 0) + 1 FROM archives WHERE run_key = ?", (key,)
                ).fetchone()[0]
            )
            moved_n, first_moved, to_step = self._move_rows(conn, key, seg, step, split)
            record: ArchiveRecord | None = None
            if moved_n or force:
                record = ArchiveRecord(
                    run_key=key,
                    seg=seg,
                    from_step=first_moved,
                    to_step=to_step,
                    cut_step=step,
                    n=moved_n,
                    created=time.time(),
                    **info,
                )
                self._add_archive(conn, record)
            if enc:
                sets = ", ".join(f"{name} = ?" for name in enc)
                conn.execute(f"UPDATE runs SET {sets} WHERE key = ?", (*enc.values(), key))
        return record

    def _move_rows(
        self,
        conn: Any,
        key: int,
        seg: int,
        step: int,
        split: Callable[[bytes, int, int], tuple[Chunk | None, Chunk | None]],
    ) -> tuple[int, int | None, int | None]:
        """:meth:`archive_after`'s move of the live chunks after ``step`` into segment
        ``seg`` (splitting the one that straddles it); returns the rows moved, the first step
        moved and the last live step there was (None: none)."""
        rows = conn.execute(
            f"SELECT first_step, last_step, n, data, state{self._crc_col} FROM history"
            " WHERE run_key = ? AND seg = 0 AND last_step > ? ORDER BY first_step",
            (key, step),
        ).fetchall()
        for first, last, _n, data, state, crc in rows:  # a damaged chunk moves nothing
            self._verify(key, 0, first, last, data, state, crc)
        moved_n = 0
        first_moved: int | None = None
        for first, _last, n, data, state, _crc in rows:
            if first > step:  # moved whole: data, state and checksum unchanged
                conn.execute(
                    "UPDATE history SET seg = ? WHERE run_key = ? AND seg = 0 AND first_step = ?",
                    (seg, key, first),
                )
                if getattr(self, "summaries", False):  # its summary goes with it (rule 68)
                    conn.execute(
                        "UPDATE history_summaries SET seg = ? WHERE run_key = ? AND seg = 0"
                        " AND first_step = ?",
                        (seg, key, first),
                    )
                moved_n += n
                first_moved = first if first_moved is None else first_moved
                continue
            kept, moved = split(data, step, first)
            if moved is not None:  # its rows end where the chunk did: same cumulative state
                moved = (*moved[:4], state)
            conn.execute(
                "DELETE FROM history WHERE run_key = ? AND seg = 0 AND first_step = ?",
                (key, first),
            )
            if getattr(self, "summaries", False):  # a cut chunk's summary is no longer its
                conn.execute(
                    "DELETE FROM history_summaries WHERE run_key = ? AND seg = 0"
                    " AND first_step = ?",
                    (key, first),
                )
            for target, part in ((0, kept), (seg, moved)):
                if part is not None:
                    self._insert_chunks(conn, key, target, [part])
            if moved is not None:
                moved_n += moved[2]
                first_moved = moved[0]
        return moved_n, first_moved, (int(rows[-1][1]) if rows else None)

    def _add_archive(self, conn: Any, record: ArchiveRecord) -> None:
        """Insert an archive record; the artifact usage, system samples and console lines
        after its cut go to its segment with the rows."""
        key, seg, step = record.run_key, record.seg, record.cut_step
        # artifacts logged or used after the cut go with the rows (rule 36)
        conn.execute(
            "UPDATE artifact_usage SET seg = ? WHERE run_key = ? AND seg = 0 AND step > ?",
            (seg, key, step),
        )
        conn.execute(
            f"INSERT INTO archives ({', '.join(ARCHIVE_FIELDS)})"
            f" VALUES ({', '.join('?' for _ in ARCHIVE_FIELDS)})",
            tuple(getattr(record, name) for name in ARCHIVE_FIELDS),
        )
        if self.side_tables:
            # system samples and console lines after the cut go with the rows (all of them
            # when the whole history is archived: cut -1); with no rows to archive they stay
            # where they are
            for table in ("system_samples", "console"):
                conn.execute(
                    f"UPDATE {table} SET seg = ? WHERE run_key = ? AND seg = 0"
                    " AND (step > ? OR ? < 0)",
                    (seg, key, step, step),
                )

    def archives(self, key: int) -> list[ArchiveRecord]:
        """Archived segments of a run, oldest first."""
        rows = self._conn.execute(
            f"SELECT {', '.join(ARCHIVE_FIELDS)} FROM archives WHERE run_key = ? ORDER BY seg",
            (key,),
        ).fetchall()
        return [ArchiveRecord(*row) for row in rows]

    def project_archives(self, project: str | None = None) -> dict[int, list[ArchiveRecord]]:
        """Archived segments of every run (of one project), by run key, oldest first: one
        query for a whole table of runs instead of :meth:`archives` per run."""
        cols = ", ".join(f"a.{name}" for name in ARCHIVE_FIELDS)
        sql = f"SELECT {cols} FROM archives a"
        args: tuple[Any, ...] = ()
        if project is not None:
            sql += " JOIN runs r ON r.key = a.run_key WHERE r.project = ?"
            args = (project,)
        out: dict[int, list[ArchiveRecord]] = {}
        for row in self._conn.execute(sql + " ORDER BY a.run_key, a.seg", args).fetchall():
            rec = ArchiveRecord(*row)
            out.setdefault(rec.run_key, []).append(rec)
        return out

    # -- alerts ----------------------------------------------------------------------------
    def add_alert(self, key: int, title: str, text: str, level: str) -> None:
        """Record an alert."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO alerts (run_key, created, title, text, level) VALUES (?, ?, ?, ?, ?)",
                (key, time.time(), title, text, level),
            )

    def alerts(self, key: int) -> list[AlertRecord]:
        """Alerts of a run, oldest first."""
        rows = self._conn.execute(
            "SELECT created, title, text, level FROM alerts WHERE run_key = ? ORDER BY created",
            (key,),
        ).fetchall()
        return [AlertRecord(*row) for row in rows]
