"""History chunks of the store: the flush that writes them with a run's fields, system samples
and console lines; reads of chunks and segments; their checksums verified on every read and by
checks (rule 44)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from .._records import (
    ChunkMeta,
    ChunkRecord,
)
from ..errors import StoreError
from .schema import (
    Chunk,
    Side,
    chunk_crc,
    summary_crc,
)
from .sqlite import StoreBase

logger = logging.getLogger("nbrun")


def _step_range(
    key: int, seg: int, max_step: int | None, after_step: int | None
) -> tuple[str, list[Any]]:
    """The ``WHERE ... ORDER BY`` of a segment's chunks overlapping ``(after_step, max_step]``,
    and its arguments."""
    where, args = "WHERE run_key = ? AND seg = ?", [key, seg]
    if max_step is not None:
        where += " AND first_step <= ?"
        args.append(max_step)
    if after_step is not None:
        where += " AND last_step > ?"
        args.append(after_step)
    return where + " ORDER BY first_step", args


class ChunkTables(StoreBase):
    """The ``history``, ``system_samples`` and ``console`` tables."""

    # -- chunk checksums (rule 44) -----------------------------------------------------------
    def _insert_chunks(
        self, conn: Any, key: int, seg: int, chunks: list[Chunk], suffix: str = ""
    ) -> list[int]:
        """Insert chunks of one run and segment, each with its checksum; returns the
        checksums (none without checksums)."""
        cols = "run_key, seg, first_step, last_step, n, data, state"
        crcs: list[int] = []
        if self.checksums:
            crcs = [chunk_crc(chunk[3], chunk[4]) for chunk in chunks]
            rows: list[tuple[Any, ...]] = [
                (key, seg, *chunk, crc) for chunk, crc in zip(chunks, crcs, strict=True)
            ]
            sql = f"INSERT INTO history ({cols}, crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        else:
            rows = [(key, seg, *chunk) for chunk in chunks]
            sql = f"INSERT INTO history ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        conn.executemany(sql + suffix, rows)
        return crcs

    def _insert_summaries(
        self,
        conn: Any,
        key: int,
        seg: int,
        chunks: list[Chunk],
        crcs: list[int],
        summaries: list[bytes | None],
    ) -> None:
        """Store the bucket summaries of chunks just inserted (rule 68; ``crcs``: their
        checksums), each with the chunk's checksum and its own; one left over from a chunk
        rewritten at the same place is replaced."""
        rows = []
        for chunk, crc, data in zip(chunks, crcs, summaries, strict=True):
            if data is not None:
                rows.append((key, seg, chunk[0], crc, data, summary_crc(data, crc)))
        if rows:
            conn.executemany(
                "INSERT INTO history_summaries (run_key, seg, first_step, chunk_crc, data, crc)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_key, seg, first_step) DO UPDATE SET"
                " chunk_crc = excluded.chunk_crc, data = excluded.data, crc = excluded.crc",
                rows,
            )

    def chunk_meta_summaries(
        self, key: int, seg: int = 0, max_step: int | None = None, after_step: int | None = None
    ) -> tuple[list[ChunkMeta], dict[int, bytes]]:
        """:meth:`chunk_meta` and, by the chunk's first step, the stored bucket summaries
        (rule 68) of those chunks, in one query: only summaries made from the chunk as it is
        now (same checksum) and intact (their own checksum matches). A damaged one is left
        out (the chunk is read instead) and logged; ``nbrun.check`` lists it."""
        if not getattr(self, "summaries", False):
            return self.chunk_meta(key, seg, max_step, after_step), {}
        sql = (
            "SELECT h.first_step, h.last_step, h.n, h.state, s.data, s.crc, h.crc FROM history h"
            " LEFT JOIN history_summaries s ON s.run_key = h.run_key AND s.seg = h.seg"
            " AND s.first_step = h.first_step AND s.chunk_crc = h.crc"
            " WHERE h.run_key = ? AND h.seg = ?"
        )
        args: list[Any] = [key, seg]
        if max_step is not None:
            sql += " AND h.first_step <= ?"
            args.append(max_step)
        if after_step is not None:
            sql += " AND h.last_step > ?"
            args.append(after_step)
        rows = self._conn.execute(sql + " ORDER BY h.first_step", args).fetchall()
        out: dict[int, bytes] = {}
        for first, last, _n, _state, data, crc, chunk in rows:
            if data is None:
                continue
            if summary_crc(data, chunk) == crc:
                out[int(first)] = bytes(data)
            else:
                row = self._conn.execute(
                    "SELECT project, id FROM runs WHERE key = ?", (key,)
                ).fetchone()
                logger.warning(
                    "nbrun: %r: the bucket summary stored with the history chunk of run %r, "
                    "segment %s, steps %s-%s is damaged (its checksum does not match its "
                    "bytes); charts read the chunk's rows instead. `python -m nbrun check DIR` "
                    "lists it",
                    str(self.path),
                    f"{row[0]}/{row[1]}" if row is not None else f"key {key}",
                    seg,
                    first,
                    last,
                )
        return [ChunkMeta(*row[:4]) for row in rows], out

    def _verify(
        self,
        key: int,
        seg: int,
        first: int,
        last: int,
        data: bytes,
        state: str | None,
        crc: int | None,
    ) -> None:
        """Raise :class:`StoreError` naming the run, segment and steps when a chunk's data or
        state no longer matches its checksum (NULL: written before checksums, unverified)."""
        if crc is not None and chunk_crc(data, state) != crc:
            raise self.damaged_chunk(key, seg, first, last)

    def damaged_chunk(
        self,
        key: int,
        seg: int,
        first: int,
        last: int,
        why: str = "its checksum does not match its bytes",
    ) -> StoreError:
        """The error for a damaged history chunk of run ``key``."""
        row = self._conn.execute("SELECT project, id FROM runs WHERE key = ?", (key,)).fetchone()
        run = f"{row[0]}/{row[1]}" if row is not None else f"key {key}"
        return StoreError(
            f"{str(self.path)!r}: the history chunk of run {run!r}, segment {seg}, steps "
            f"{first}-{last} is damaged ({why}); nothing was read from it. Other runs stay "
            "readable; `python -m nbrun check DIR` lists every damaged chunk"
        )

    #: chunks read per query when every chunk of a run or store is verified (a few MB)
    _VERIFY_BATCH = 64

    def _each_chunk(
        self, key: int | None = None, seg: int | None = None
    ) -> Iterator[tuple[int, int, int, int, bytes, str | None, int | None]]:
        """``(run_key, seg, first_step, last_step, data, state, crc)`` of the chunks of a
        run's segment (of every segment of the run: ``seg`` None; of the store: ``key`` None
        too), in key order, read :attr:`_VERIFY_BATCH` at a time through the primary key (a
        server's cursor would hand over a whole store's history at once)."""
        if key is None:
            segs = self._conn.execute(
                "SELECT DISTINCT run_key, seg FROM history ORDER BY run_key, seg"
            ).fetchall()
        elif seg is None:
            segs = self._conn.execute(
                "SELECT DISTINCT run_key, seg FROM history WHERE run_key = ? ORDER BY seg", (key,)
            ).fetchall()
        else:
            segs = [(key, seg)]
        for run_key, s in segs:
            after = -(2**62)
            while True:
                rows = self._conn.execute(
                    f"SELECT first_step, last_step, data, state{self._crc_col} FROM history"
                    " WHERE run_key = ? AND seg = ? AND first_step > ? ORDER BY first_step"
                    f" LIMIT {self._VERIFY_BATCH}",
                    (run_key, s, after),
                ).fetchall()
                for row in rows:
                    yield (run_key, s, *row)
                if len(rows) < self._VERIFY_BATCH:
                    break
                after = rows[-1][0]

    def verify_segment(self, key: int, seg: int | None = 0) -> None:
        """Verify every chunk of a run's segment (of all its segments: None), a batch at a
        time, raising :class:`StoreError` at the first damaged one: nothing is written into a
        damaged history (a run continued or rewound) or copied from one (rule 44)."""
        if not self.checksums:
            return
        for row in self._each_chunk(key, seg):
            self._verify(*row)

    def check_chunks(
        self, decode: Callable[[bytes], object]
    ) -> Iterator[tuple[str, str, int, int, int, str]]:
        """``(project, run id, seg, first_step, last_step, problem)`` of every history chunk
        that is ``"damaged"`` (checksum mismatch; without a checksum: ``decode`` raises) or
        ``"unverified"`` (no checksum: written before schema version 4), in run and step
        order; reads a batch of chunks at a time."""
        names = {
            int(k): (str(p), str(i))
            for k, p, i in self._conn.execute("SELECT key, project, id FROM runs").fetchall()
        }
        for key, seg, first, last, data, state, crc in self._each_chunk():
            if crc is None:
                try:
                    decode(data)
                    problem = "unverified"
                except Exception:  # whatever an undecodable chunk raises: it is damaged
                    problem = "damaged"
            elif chunk_crc(data, state) != crc:
                problem = "damaged"
            else:
                continue
            project, run_id = names.get(int(key), ("?", f"key {key}"))
            yield project, run_id, int(seg), int(first), int(last), problem
        if getattr(self, "summaries", False):  # rule 68: the chunks' stored summaries
            for key, seg, first, last in self._damaged_summaries():
                project, run_id = names.get(int(key), ("?", f"key {key}"))
                yield project, run_id, int(seg), int(first), int(last), "damaged summary"

    def _damaged_summaries(self) -> Iterator[tuple[int, int, int, int]]:
        """``(run_key, seg, first_step, last_step)`` of every stored chunk summary whose bytes
        no longer match its checksum, read a batch at a time."""
        after: tuple[int, int, int] = (-(2**62), -(2**62), -(2**62))
        while True:
            rows = self._conn.execute(
                "SELECT s.run_key, s.seg, s.first_step, h.last_step, s.data, s.chunk_crc, s.crc"
                " FROM history_summaries s LEFT JOIN history h ON h.run_key = s.run_key"
                " AND h.seg = s.seg AND h.first_step = s.first_step"
                " WHERE (s.run_key, s.seg, s.first_step) > (?, ?, ?)"
                f" ORDER BY s.run_key, s.seg, s.first_step LIMIT {self._VERIFY_BATCH * 16}",
                after,
            ).fetchall()
            for key, seg, first, last, data, chunk, crc in rows:
                if summary_crc(data, chunk) != crc:
                    yield key, seg, first, first if last is None else last
            if len(rows) < self._VERIFY_BATCH * 16:
                return
            after = (rows[-1][0], rows[-1][1], rows[-1][2])

    def run_chunks(
        self,
        key: int,
        seg: int | None = None,
        max_step: int | None = None,
        after: int | None = None,
    ) -> list[ChunkRecord]:
        """The chunks ``(seg, first_step, last_step, n, data, state)`` of a run (of one segment,
        overlapping ``(after, max_step]``), in segment and step order."""
        sql = (
            f"SELECT seg, first_step, last_step, n, data, state{self._crc_col} FROM history"
            " WHERE run_key = ?"
        )
        args: list[Any] = [key]
        for cond, value in (
            (" AND seg = ?", seg),
            (" AND first_step <= ?", max_step),
            (" AND last_step > ?", after),
        ):
            if value is not None:
                sql += cond
                args.append(value)
        rows = self._conn.execute(sql + " ORDER BY seg, first_step", args).fetchall()
        for s, first, last, _n, data, state, crc in rows:
            self._verify(key, s, first, last, data, state, crc)
        return [ChunkRecord(*row[:6]) for row in rows]

    # -- history ---------------------------------------------------------------------------
    def flush(
        self,
        key: int,
        chunks: list[Chunk],
        fields: dict[str, Any],
        side: Side | None = None,
        summaries: list[bytes | None] | None = None,
    ) -> bool:
        """Append chunks (and system samples and console lines) to the live segment and set
        run columns, in one transaction. Open console lines replace the run's previous ones.
        ``summaries``: each chunk's stored bucket summary (rule 68; None: none). Returns the
        run's ``stop_requested`` flag."""
        enc = self._encode_fields(fields)
        with self._write() as conn:
            if side is not None:
                self._write_side(conn, key, side)
            if chunks:  # checksums computed here: on the writer thread, never in ``log``
                crcs = self._insert_chunks(conn, key, 0, chunks, self._retry_safe)
                if summaries is not None and getattr(self, "summaries", False):
                    self._insert_summaries(conn, key, 0, chunks, crcs, summaries)
                enc["last_step"] = chunks[-1][1]
            if enc:  # one statement (a round trip less on a server)
                sets = ", ".join(f"{name} = ?" for name in enc)
                row = conn.execute(
                    f"UPDATE runs SET {sets} WHERE key = ? RETURNING stop_requested",
                    (*enc.values(), key),
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT stop_requested FROM runs WHERE key = ?", (key,)
                ).fetchone()
        return bool(row and row[0])

    def _write_side(self, conn: sqlite3.Connection, key: int, side: Side) -> None:
        if not self.side_tables:
            return
        samples, lines, open_lines = side
        if samples:
            conn.executemany(
                "INSERT INTO system_samples (run_key, seg, step, t, data) VALUES (?, 0, ?, ?, ?)",
                [(key, step, t, data) for t, step, data in samples],
            )
        if open_lines is not None:
            conn.execute("DELETE FROM console WHERE run_key = ? AND seg = 0 AND open = 1", (key,))
        rows = [(key, step, t, stream, text, 0) for t, step, stream, text in lines]
        rows += [(key, step, t, stream, text, 1) for t, step, stream, text in open_lines or ()]
        if rows:
            conn.executemany(
                "INSERT INTO console (run_key, seg, step, t, stream, text, open)"
                " VALUES (?, 0, ?, ?, ?, ?, ?)",
                rows,
            )

    def close_open_lines(self, key: int) -> None:
        """Keep the unfinished console lines a dead process left as finished lines (a run that
        continues must not replace them)."""
        if not self.side_tables:
            return
        with self._write() as conn:
            conn.execute("UPDATE console SET open = 0 WHERE run_key = ? AND open = 1", (key,))

    def system_samples(self, key: int, seg: int = 0) -> list[tuple[float, str]]:
        """``(time, data JSON)`` of a segment's system samples, in order."""
        if not self.side_tables:
            return []
        rows: list[tuple[float, str]] = self._conn.execute(
            "SELECT t, data FROM system_samples WHERE run_key = ? AND seg = ? ORDER BY id",
            (key, seg),
        ).fetchall()
        return rows

    def console_lines(
        self, key: int, seg: int = 0, last: int | None = None
    ) -> list[tuple[float, str, int, str]]:
        """``(time, stream, step, text)`` of a segment's console lines (the ``last`` ones),
        in order."""
        if not self.side_tables:
            return []
        rows: list[tuple[float, str, int, str]]
        if last is None:
            rows = self._conn.execute(
                "SELECT t, stream, step, text FROM console WHERE run_key = ? AND seg = ?"
                " ORDER BY id",
                (key, seg),
            ).fetchall()
            return rows
        rows = self._conn.execute(
            "SELECT t, stream, step, text FROM console WHERE run_key = ? AND seg = ?"
            " ORDER BY id DESC LIMIT ?",
            (key, seg, last),
        ).fetchall()
        rows.reverse()
        return rows

    def console_count(self, key: int, seg: int = 0) -> int:
        """How many console lines a segment has."""
        if not self.side_tables:
            return 0
        return int(
            self._conn.execute(
                "SELECT COUNT(*) FROM console WHERE run_key = ? AND seg = ?", (key, seg)
            ).fetchone()[0]
        )

    def chunks(
        self, key: int, seg: int = 0, max_step: int | None = None, after_step: int | None = None
    ) -> list[tuple[int, int, bytes]]:
        """``(first_step, last_step, data)`` of a segment's chunks overlapping the step range
        ``(after_step, max_step]``, in step order."""
        where, args = _step_range(key, seg, max_step, after_step)
        sql = f"SELECT first_step, last_step, data, state{self._crc_col} FROM history {where}"
        rows = self._conn.execute(sql, args).fetchall()
        for first, last, data, state, crc in rows:
            self._verify(key, seg, first, last, data, state, crc)
        return [row[:3] for row in rows]

    def chunk_meta(
        self, key: int, seg: int = 0, max_step: int | None = None, after_step: int | None = None
    ) -> list[ChunkMeta]:
        """``(first_step, last_step, n, state)`` of the chunks :meth:`chunks` would return,
        without their data (a reader that cached what it made of a chunk skips it)."""
        where, args = _step_range(key, seg, max_step, after_step)
        sql = f"SELECT first_step, last_step, n, state FROM history {where}"
        rows = self._conn.execute(sql, args).fetchall()
        return [ChunkMeta(*row) for row in rows]

    def chunk_at(self, key: int, seg: int, step: int) -> tuple[int, int, bytes, str | None] | None:
        """The chunk of a segment holding its last row with ``_step <= step``:
        ``(first_step, last_step, data, state)``, or None."""
        row = self._conn.execute(
            f"SELECT first_step, last_step, data, state{self._crc_col} FROM history"
            " WHERE run_key = ? AND seg = ? AND first_step <= ? ORDER BY first_step DESC LIMIT 1",
            (key, seg, step),
        ).fetchone()
        if row is None:
            return None
        self._verify(key, seg, *row)
        return row[0], row[1], row[2], row[3]

    def segment_last_step(self, key: int, seg: int = 0) -> int | None:
        """The last step stored in a segment, or None when it is empty."""
        row = self._conn.execute(
            "SELECT last_step FROM history WHERE run_key = ? AND seg = ?"
            " ORDER BY first_step DESC LIMIT 1",
            (key, seg),
        ).fetchone()
        return None if row is None else int(row[0])
