"""Artifact versions, aliases and usage in the store (rules 35-37): pending and committed
versions, their aliases, which runs logged or used them, the blobs their manifests name."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from .._records import (
    ARTIFACT_FIELDS,
    ArtifactRecord,
)
from .schema import (
    _ALIAS_UPSERT,
    _decode_artifact,
    dumps,
    loads,
)
from .sqlite import StoreBase, insert_row


class ArtifactTables(StoreBase):
    """The ``artifacts``, ``artifact_aliases`` and ``artifact_usage`` tables."""

    def _art_rows(self, where: str, args: tuple[Any, ...]) -> list[ArtifactRecord]:
        rows = self._conn.execute(
            f"SELECT {', '.join(ARTIFACT_FIELDS)} FROM artifacts WHERE {where}", args
        ).fetchall()
        return [_decode_artifact(row) for row in rows]

    def artifact(self, key: int) -> ArtifactRecord | None:
        """One artifact version's record by key, or None."""
        rows = self._art_rows("key = ?", (key,))
        return rows[0] if rows else None

    def artifact_at(self, project: str, name: str, ref: str) -> ArtifactRecord | None:
        """The committed version ``ref`` (``v3`` or an alias) of a collection, or None."""
        if ref[:1] == "v" and ref[1:].isdigit():
            rows = self._art_rows(
                "project = ? AND name = ? AND version = ? AND state = 'COMMITTED'",
                (project, name, int(ref[1:])),
            )
            return rows[0] if rows else None
        row = self._conn.execute(
            "SELECT artifact_key FROM artifact_aliases WHERE project = ? AND name = ?"
            " AND alias = ?",
            (project, name, ref),
        ).fetchone()
        return None if row is None else self.artifact(int(row[0]))

    def artifact_versions(self, project: str, name: str) -> list[ArtifactRecord]:
        """A collection's committed versions, oldest first."""
        return self._art_rows(
            "project = ? AND name = ? AND state = 'COMMITTED' ORDER BY version", (project, name)
        )

    def artifact_collections(self, project: str | None = None) -> list[tuple[str, str, str]]:
        """``(project, name, type)`` of every collection with a committed version."""
        sql = "SELECT DISTINCT project, name, type FROM artifacts WHERE state = 'COMMITTED'"
        args: tuple[Any, ...] = ()
        if project is not None:
            sql += " AND project = ?"
            args = (project,)
        return [tuple(r) for r in self._conn.execute(sql + " ORDER BY project, name", args)]

    def artifact_aliases(self, key: int) -> list[str]:
        """The aliases pointing at one version (``latest`` first)."""
        rows = self._conn.execute(
            "SELECT alias FROM artifact_aliases WHERE artifact_key = ? ORDER BY alias != 'latest',"
            " alias",
            (key,),
        ).fetchall()
        return [r[0] for r in rows]

    def pending_artifact(
        self, project: str, name: str, distributed_id: str
    ) -> ArtifactRecord | None:
        """The pending (not yet finished) version a distributed upsert is building."""
        rows = self._art_rows(
            "project = ? AND name = ? AND distributed_id = ? AND state = 'PENDING'",
            (project, name, distributed_id),
        )
        return rows[0] if rows else None

    @staticmethod
    def _check_type(conn: sqlite3.Connection, project: str, name: str, type_: str) -> None:
        row = conn.execute(
            "SELECT type FROM artifacts WHERE project = ? AND name = ? LIMIT 1", (project, name)
        ).fetchone()
        if row is not None and row[0] != type_:
            raise ValueError(
                f"artifact {name!r} in project {project!r} has type {row[0]!r}; a version of "
                f"type {type_!r} cannot join it (pick another name)"
            )

    @staticmethod
    def _set_aliases(
        conn: sqlite3.Connection, project: str, name: str, key: int, aliases: list[str]
    ) -> None:
        for alias in aliases:
            conn.execute(
                "INSERT INTO artifact_aliases (project, name, alias, artifact_key)"
                " VALUES (?, ?, ?, ?)" + _ALIAS_UPSERT,
                (project, name, alias, key),
            )
        newest = conn.execute(
            "SELECT key FROM artifacts WHERE project = ? AND name = ? AND state = 'COMMITTED'"
            " ORDER BY version DESC LIMIT 1",
            (project, name),
        ).fetchone()
        if newest is not None:
            conn.execute(
                "INSERT INTO artifact_aliases (project, name, alias, artifact_key)"
                " VALUES (?, ?, 'latest', ?)" + _ALIAS_UPSERT,
                (project, name, newest[0]),
            )

    def commit_artifact(
        self,
        fields: dict[str, Any],
        aliases: list[str],
        usage: tuple[int, str, int] | None,
        pending_key: int | None = None,
    ) -> tuple[int, bool]:
        """Register a version in one transaction, after its blobs are on disk.

        ``fields``: project, name, type, digest, size, description, metadata, manifest, tags
        (and source_key for links). A committed version of the collection with the same digest
        is reused (no new version). Moves the given aliases and ``latest``; records ``usage``
        ``(run_key, direction, step)``. ``pending_key`` is a pending distributed version to
        commit (or drop, when an equal version exists). Returns ``(key, created)``."""
        project, name = fields["project"], fields["name"]
        with self._write() as conn:
            self._check_type(conn, project, name, fields["type"])
            row = conn.execute(
                "SELECT key FROM artifacts WHERE project = ? AND name = ? AND digest = ?"
                " AND state = 'COMMITTED' ORDER BY version LIMIT 1",
                (project, name, fields["digest"]),
            ).fetchone()
            created = row is None
            if row is not None:
                key = int(row[0])
                if pending_key is not None:  # equal to a stored version: it points there
                    conn.execute(
                        "UPDATE artifacts SET state = 'MERGED', source_key = ? WHERE key = ?",
                        (key, pending_key),
                    )
                    conn.execute(
                        "UPDATE artifact_usage SET artifact_key = ? WHERE artifact_key = ?",
                        (key, pending_key),
                    )
                if fields.get("tags"):
                    old = loads(
                        conn.execute("SELECT tags FROM artifacts WHERE key = ?", (key,)).fetchone()[
                            0
                        ]
                    )
                    merged = old + [t for t in fields["tags"] if t not in old]
                    conn.execute(
                        "UPDATE artifacts SET tags = ? WHERE key = ?", (dumps(merged), key)
                    )
            else:
                version = int(
                    conn.execute(
                        "SELECT COALESCE(MAX(version), -1) + 1 FROM artifacts WHERE project = ?"
                        " AND name = ?",
                        (project, name),
                    ).fetchone()[0]
                )
                enc = {
                    **fields,
                    "metadata": dumps(fields.get("metadata") or {}),
                    "manifest": dumps(fields["manifest"]),
                    "tags": dumps(fields.get("tags") or []),
                    "version": version,
                    "state": "COMMITTED",
                    "created": time.time(),
                }
                if pending_key is not None:
                    sets = ", ".join(f"{k} = ?" for k in enc)
                    conn.execute(
                        f"UPDATE artifacts SET {sets} WHERE key = ?", (*enc.values(), pending_key)
                    )
                    key = pending_key
                else:
                    key = insert_row(conn, "artifacts", enc)
            self._set_aliases(conn, project, name, key, aliases)
            if usage is not None:
                self._add_usage(conn, key, usage)
        return key, created

    @staticmethod
    def _add_usage(conn: sqlite3.Connection, key: int, usage: tuple[int, str, int]) -> None:
        run_key, direction, step = usage
        seen = conn.execute(
            "SELECT 1 FROM artifact_usage WHERE artifact_key = ? AND run_key = ? AND direction = ?"
            " AND seg = 0",
            (key, run_key, direction),
        ).fetchone()
        if seen is None:
            conn.execute(
                "INSERT INTO artifact_usage (artifact_key, run_key, direction, seg, step, created)"
                " VALUES (?, ?, ?, 0, ?, ?)",
                (key, run_key, direction, step, time.time()),
            )

    def update_artifact(
        self,
        key: int,
        metadata: dict[str, Any],
        description: str | None,
        add: list[str],
        remove: list[str],
    ) -> None:
        """Store edits of a version's metadata, description and aliases (one transaction;
        ``latest`` stays on the newest version)."""
        with self._write() as conn:
            row = conn.execute("SELECT project, name FROM artifacts WHERE key = ?", (key,))
            project, name = row.fetchone()
            conn.execute(
                "UPDATE artifacts SET metadata = ?, description = ? WHERE key = ?",
                (dumps(metadata), description, key),
            )
            for alias in remove:
                conn.execute(
                    "DELETE FROM artifact_aliases WHERE project = ? AND name = ? AND alias = ?"
                    " AND artifact_key = ?",
                    (project, name, alias, key),
                )
            self._set_aliases(conn, project, name, key, add)

    def add_usage(self, key: int, run_key: int, direction: str, step: int) -> None:
        """Record that a run logged (``output``) or used (``input``) a version."""
        with self._write() as conn:
            self._add_usage(conn, key, (run_key, direction, step))

    def upsert_pending(
        self, fields: dict[str, Any], distributed_id: str, merge: dict[str, Any]
    ) -> int:
        """Add ``merge`` (manifest entries) to the pending version of ``distributed_id``,
        creating it; returns its key. Done under the write lock, so several processes of a
        group can add their parts concurrently."""
        project, name = fields["project"], fields["name"]
        with self._write() as conn:
            self._check_type(conn, project, name, fields["type"])
            row = conn.execute(
                "SELECT key, manifest, metadata FROM artifacts WHERE project = ? AND name = ?"
                " AND distributed_id = ? AND state = 'PENDING'",
                (project, name, distributed_id),
            ).fetchone()
            if row is None:
                cur = conn.execute(
                    "INSERT INTO artifacts (project, name, version, type, digest, size,"
                    " description, metadata, manifest, tags, state, distributed_id, created)"
                    " VALUES (?, ?, NULL, ?, '', 0, ?, ?, ?, '[]', 'PENDING', ?, ?) RETURNING key",
                    (
                        project,
                        name,
                        fields["type"],
                        fields.get("description"),
                        dumps(fields.get("metadata") or {}),
                        dumps(merge),
                        distributed_id,
                        time.time(),
                    ),
                )
                return int(cur.fetchone()[0])
            manifest = {**loads(row[1]), **merge}
            metadata = {**loads(row[2]), **(fields.get("metadata") or {})}
            conn.execute(
                "UPDATE artifacts SET manifest = ?, metadata = ? WHERE key = ?",
                (dumps(manifest), dumps(metadata), row[0]),
            )
            return int(row[0])

    def artifact_usage(
        self, run_key: int, direction: str, segs: list[tuple[int, int | None, int | None]]
    ) -> list[tuple[int, int]]:
        """``(artifact_key, step)`` a run logged or used in the given ``(seg, after, upto)``
        step ranges, in order."""
        out: list[tuple[int, int]] = []
        for seg, after, upto in segs:
            sql = (
                "SELECT artifact_key, step FROM artifact_usage WHERE run_key = ? AND direction = ?"
                " AND seg = ?"
            )
            args: list[Any] = [run_key, direction, seg]
            if after is not None:
                sql += " AND step > ?"
                args.append(after)
            if upto is not None:
                sql += " AND step <= ?"
                args.append(upto)
            out.extend(
                (int(k), int(s)) for k, s in self._conn.execute(sql + " ORDER BY created", args)
            )
        return out

    def artifact_users(self, key: int, direction: str) -> list[tuple[int, int]]:
        """``(run_key, seg)`` of the runs that logged (``output``) or used (``input``) a version."""
        rows = self._conn.execute(
            "SELECT run_key, seg FROM artifact_usage WHERE artifact_key = ? AND direction = ?"
            " ORDER BY created",
            (key, direction),
        ).fetchall()
        return [(int(r), int(s)) for r, s in rows]

    def artifact_blob_digests(self) -> set[str]:
        """Every blob digest some version's manifest names (for checks)."""
        out: set[str] = set()
        for (manifest,) in self._conn.execute("SELECT manifest FROM artifacts"):
            out.update(e["digest"] for e in loads(manifest).values() if not e.get("ref"))
        return out
