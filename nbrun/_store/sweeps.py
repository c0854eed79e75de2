"""Sweeps in the store (rules 50-54): the ``sweeps`` and ``sweep_trials`` tables; the atomic
claim of a sweep's next suggestion, decided inside the write transaction so that no grid point
runs twice and ``run_cap`` holds across agents, processes and machines.

What the tables hold is input (rule 42): a sweep id, project or trial run id read back that
is not one nbrun would have written is a :class:`StoreError` naming the database, before any
path or run is made of it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import _ids
from .._records import SWEEP_FIELDS, TRIAL_FIELDS, SweepRecord, TrialPoint, TrialRecord
from ..errors import StoreError, UsageError
from .schema import dumps, loads
from .sqlite import StoreBase, insert_new, insert_row

#: ``choose(trials)`` of :meth:`SweepTables.claim_trial`: the next suggestion as
#: ``(index, params)``, or None when the sweep has none left
Chooser = Callable[[Sequence[TrialPoint]], "tuple[int, dict[str, Any]] | None"]

#: a trial whose point may be claimed again (its agent died: rule 53)
CRASHED_TRIAL = "crashed"
#: sweep states, as W&B names them
SWEEP_PENDING, SWEEP_RUNNING, SWEEP_FINISHED = "PENDING", "RUNNING", "FINISHED"

_SWEEP_COLS = ", ".join(SWEEP_FIELDS)
_TRIAL_COLS = ", ".join(TRIAL_FIELDS)


class SweepTables(StoreBase):
    """The ``sweeps`` and ``sweep_trials`` tables."""

    def _need_sweeps(self) -> None:
        if not getattr(self, "sweeps", False):
            raise StoreError(
                f"{str(self.path)!r} has a schema older than sweeps; this process was made to "
                "write that older schema, so it cannot keep sweeps there"
            )

    def _decode_sweep(self, row: Any) -> SweepRecord:
        values = dict(zip(SWEEP_FIELDS, row, strict=True))
        values["config"] = loads(values["config"])
        try:  # rule 42: a forged row is input
            _ids.validate_id(values["id"], "sweep id")
            _ids.validate_project(values["project"])
        except UsageError as exc:
            raise StoreError(f"{str(self.path)!r}: a stored sweep is not valid: {exc}") from exc
        if not isinstance(values["config"], dict):
            raise StoreError(
                f"{str(self.path)!r}: sweep {values['id']!r} has a config that is not a mapping"
            )
        return SweepRecord(**values)

    def _decode_trial(self, row: Any) -> TrialRecord:
        values = dict(zip(TRIAL_FIELDS, row, strict=True))
        values["params"] = loads(values["params"])
        try:  # rule 42: the run id becomes a run (and a folder): checked as at creation
            _ids.validate_id(values["run_id"], "trial run id")
        except UsageError as exc:
            raise StoreError(
                f"{str(self.path)!r}: a stored sweep trial is not valid: {exc}"
            ) from exc
        if not isinstance(values["params"], dict):
            raise StoreError(
                f"{str(self.path)!r}: trial {values['idx']} of sweep key {values['sweep_key']} "
                "has params that are not a mapping"
            )
        return TrialRecord(**values)

    def _point(self, row: Any, params: bool) -> TrialPoint:
        value = None if row[2] is None else float(row[2])
        decoded = loads(row[3]) if params else {}
        if not isinstance(decoded, dict):
            raise StoreError(
                f"{str(self.path)!r}: trial {row[0]} of a sweep has params that are not a mapping"
            )
        return TrialPoint(int(row[0]), str(row[1]), value, decoded)

    # -- sweeps ----------------------------------------------------------------------------
    def create_sweep(self, rec: SweepRecord) -> int | None:
        """Insert a sweep (``key`` not written); its key, or None when the project has a
        sweep with that id already."""
        self._need_sweeps()
        fields = {name: getattr(rec, name) for name in SWEEP_FIELDS if name != "key"}
        fields["config"] = dumps(fields["config"])
        with self._write() as conn:
            return insert_new(conn, "sweeps", fields, "ON CONFLICT (project, id) DO NOTHING")

    def get_sweep(self, project: str, sweep_id: str) -> SweepRecord | None:
        """One sweep, or None."""
        if not getattr(self, "sweeps", False):
            return None
        row = self._conn.execute(
            f"SELECT {_SWEEP_COLS} FROM sweeps WHERE project = ? AND id = ?",
            (project, sweep_id),
        ).fetchone()
        return None if row is None else self._decode_sweep(row)

    def list_sweeps(self, project: str | None = None) -> list[SweepRecord]:
        """Every sweep (of one project), oldest first."""
        if not getattr(self, "sweeps", False):
            return []
        where, args = ("WHERE project = ?", (project,)) if project is not None else ("", ())
        rows = self._conn.execute(
            f"SELECT {_SWEEP_COLS} FROM sweeps {where} ORDER BY created, key", args
        ).fetchall()
        return [self._decode_sweep(r) for r in rows]

    def set_sweep_state(self, key: int, state: str) -> None:
        """Set a sweep's state (``PENDING``, ``RUNNING``, ``FINISHED``)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE sweeps SET state = ?, updated = ? WHERE key = ?", (state, time.time(), key)
            )

    # -- trials ----------------------------------------------------------------------------
    def list_trials(self, sweep_key: int, state: str | None = None) -> list[TrialRecord]:
        """The trials of a sweep (in ``state`` only, if given) in the order they were
        claimed."""
        if not getattr(self, "sweeps", False):
            return []
        where = "sweep_key = ?" if state is None else "sweep_key = ? AND state = ?"
        args: tuple[Any, ...] = (sweep_key,) if state is None else (sweep_key, state)
        rows = self._conn.execute(
            f"SELECT {_TRIAL_COLS} FROM sweep_trials WHERE {where} ORDER BY key", args
        ).fetchall()
        return [self._decode_trial(r) for r in rows]

    def trial_of_run(self, project: str, run_id: str) -> tuple[SweepRecord, TrialRecord] | None:
        """The sweep and trial whose run is ``project/run_id``, or None."""
        if not getattr(self, "sweeps", False):
            return None
        row = self._conn.execute(
            f"SELECT {', '.join('t.' + c for c in TRIAL_FIELDS)},"
            f" {', '.join('s.' + c for c in SWEEP_FIELDS)} FROM sweep_trials t"
            " JOIN sweeps s ON s.key = t.sweep_key WHERE s.project = ? AND t.run_id = ?"
            " ORDER BY t.key DESC",
            (project, run_id),
        ).fetchone()
        if row is None:
            return None
        n = len(TRIAL_FIELDS)
        return self._decode_sweep(row[n:]), self._decode_trial(row[:n])

    def claim_trial(
        self,
        sweep_key: int,
        choose: Chooser,
        run_id: str,
        agent: tuple[str, int],
        run_cap: int | None = None,
        params: bool = True,
    ) -> TrialRecord | None:
        """Claim the sweep's next suggestion for the run ``run_id`` of ``agent`` (host, pid),
        atomically: in one write transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL the
        store's write lock and the sweep's row ``FOR UPDATE``) the trials are read,
        ``choose(trials)`` names the next ``(index, params)`` and the trial is inserted
        ``running``. None (nothing written but the sweep's state) when the sweep is missing,
        holds ``run_cap`` trials that did not crash, or ``choose`` has nothing left: then the
        sweep is marked ``FINISHED``. ``choose`` reads each trial as a :class:`TrialPoint`,
        with its params only when ``params`` (a grid or random search needs none: the claim
        then costs little more than reading one row per trial). An exception of ``choose``
        rolls back and propagates."""
        self._need_sweeps()
        now = time.time()
        with self._write() as conn:
            found = conn.execute(
                f"SELECT state FROM sweeps WHERE key = ?{self._row_lock}", (sweep_key,)
            ).fetchone()
            if found is None:
                return None
            rows = conn.execute(
                f"SELECT idx, state, value{', params' if params else ''} FROM sweep_trials"
                " WHERE sweep_key = ? ORDER BY key",
                (sweep_key,),
            ).fetchall()
            trials = [self._point(r, params) for r in rows]
            counted = sum(1 for t in trials if t.state != CRASHED_TRIAL)
            choice = None if run_cap is not None and counted >= run_cap else choose(trials)
            if choice is None:
                conn.execute(
                    "UPDATE sweeps SET state = ?, updated = ? WHERE key = ?",
                    (SWEEP_FINISHED, now, sweep_key),
                )
                return None
            index, chosen = choice
            host, pid = agent
            rec = TrialRecord(
                key=0,
                sweep_key=sweep_key,
                idx=int(index),
                params=dict(chosen),
                run_id=run_id,
                state="running",
                value=None,
                host=host,
                pid=pid,
                created=now,
                updated=now,
            )
            fields = {name: getattr(rec, name) for name in TRIAL_FIELDS if name != "key"}
            fields["params"] = dumps(fields["params"])
            key = insert_row(conn, "sweep_trials", fields)
            if found[0] != SWEEP_RUNNING:
                conn.execute(
                    "UPDATE sweeps SET state = ?, updated = ? WHERE key = ?",
                    (SWEEP_RUNNING, now, sweep_key),
                )
            return rec.replace(key=key)

    def update_trial(self, key: int, fields: dict[str, Any], only_if: str | None = None) -> bool:
        """Set columns of one trial (``state``, ``value``; ``updated`` is set too); with
        ``only_if``, only while its state is that one (a crashed mark never overwrites an
        ending the agent wrote meanwhile). Whether the trial was changed."""
        unknown = set(fields) - {"state", "value", "run_id"}
        if unknown:
            raise KeyError(f"unknown trial columns {sorted(unknown)}")
        enc = {**fields, "updated": time.time()}
        sets = ", ".join(f"{name} = ?" for name in enc)
        sql = f"UPDATE sweep_trials SET {sets} WHERE key = ?"
        args: tuple[Any, ...] = (*enc.values(), key)
        if only_if is not None:
            sql += " AND state = ?"
            args += (only_if,)
        with self._write() as conn:
            cur = conn.execute(sql, args)
            return bool(cur.rowcount)

    # -- copying (nbrun.copy) --------------------------------------------------------------
    def import_sweep(self, rec: SweepRecord, trials: list[TrialRecord]) -> bool:
        """Insert a sweep copied from another store with its trials (one transaction);
        False (nothing written) when the project has that sweep id already."""
        self._need_sweeps()
        fields = {name: getattr(rec, name) for name in SWEEP_FIELDS if name != "key"}
        fields["config"] = dumps(fields["config"])
        with self._write() as conn:
            key = insert_new(conn, "sweeps", fields, "ON CONFLICT (project, id) DO NOTHING")
            if key is None:
                return False
            for trial in trials:
                row = {name: getattr(trial, name) for name in TRIAL_FIELDS if name != "key"}
                row["params"] = dumps(row["params"])
                row["sweep_key"] = key
                insert_row(conn, "sweep_trials", row)
        return True
