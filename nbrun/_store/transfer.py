"""Export and import of runs and artifact records between stores (``nbrun.copy``): a run's rows
in every table, its timestamps kept, artifact keys renumbered by the store they go into."""

from __future__ import annotations

from typing import Any

from .._records import (
    ArtifactRecord,
    RunRecord,
)
from ..errors import StoreError
from .artifacts import ArtifactTables
from .chunks import ChunkTables
from .schema import (
    _encode_artifact,
    encode_run_fields,
)
from .sqlite import insert_row


class TransferTables(ChunkTables, ArtifactTables):
    """Copying a run's rows and artifact records from one store to another."""

    #: a run's rows in other tables, in the order they were written (``id`` columns are
    #: renumbered by the store they are copied into)
    _RUN_TABLES = (
        ("history", "seg, first_step"),
        ("archives", "seg"),
        ("alerts", "created"),
        ("system_samples", "id"),
        ("console", "id"),
        ("artifact_usage", "created"),
    )

    def _select(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        cur = self._conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def export_run(self, key: int) -> dict[str, list[dict[str, Any]]]:
        """Every stored row of a run besides its record, by table (for :meth:`import_run`)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for table, order in self._RUN_TABLES:
            if table in ("system_samples", "console") and not self.side_tables:
                continue
            rows = self._select(f"SELECT * FROM {table} WHERE run_key = ? ORDER BY {order}", (key,))
            for row in rows:
                if "data" in row and isinstance(row["data"], memoryview):
                    row["data"] = bytes(row["data"])
                if table == "history":  # a copy carries checksums, never damage (rule 44)
                    self._verify(
                        key,
                        row["seg"],
                        row["first_step"],
                        row["last_step"],
                        row["data"],
                        row["state"],
                        row.get("crc"),
                    )
            out[table] = rows
        return out

    def import_run(
        self,
        rec: RunRecord,
        tables: dict[str, list[dict[str, Any]]],
        artifact_keys: dict[int, int],
    ) -> int | None:
        """Insert a run copied from another store, with its rows, in one transaction; its
        timestamps are kept as they were. ``artifact_keys`` maps the source's artifact keys to
        this store's. Returns the new key, or None when the project already has that id."""
        # encoded as stored (no clock of this server applied: the copy keeps its timestamps)
        fields = self._sweep_column(encode_run_fields(rec.columns()))
        with self._write() as conn:
            if conn.execute(
                "SELECT 1 FROM runs WHERE project = ? AND id = ?", (rec.project, rec.id)
            ).fetchone():
                return None
            key = insert_row(conn, "runs", fields)
            for table, rows in tables.items():
                if table in ("system_samples", "console") and not self.side_tables:
                    continue
                for row in rows:
                    row = {k: v for k, v in row.items() if k != "id"}
                    if table == "history" and not self.checksums:
                        row.pop("crc", None)
                    row["run_key"] = key
                    if table == "artifact_usage":
                        if row["artifact_key"] not in artifact_keys:
                            continue
                        row["artifact_key"] = artifact_keys[row["artifact_key"]]
                    conn.execute(
                        f"INSERT INTO {table} ({', '.join(row)})"
                        f" VALUES ({', '.join('?' for _ in row)})",
                        tuple(row.values()),
                    )
        return key

    def export_artifacts(
        self, project: str | None
    ) -> tuple[list[ArtifactRecord], list[dict[str, Any]]]:
        """Every artifact version record (oldest first) and alias row of a project (or of
        all projects), for :meth:`import_artifacts`."""
        where, args = ("WHERE project = ?", (project,)) if project is not None else ("", ())
        rows = self._art_rows(
            ("project = ?" if project is not None else "1 = 1") + " ORDER BY key", args
        )
        aliases = self._select(f"SELECT * FROM artifact_aliases {where}", args)
        return rows, aliases

    def import_artifacts(
        self, rows: list[ArtifactRecord], aliases: list[dict[str, Any]]
    ) -> dict[int, int]:
        """Insert artifact versions copied from another store (one transaction): a version
        this store has already (same collection, version and digest) is reused; the same
        version with other contents is a :class:`StoreError` and nothing is written. Aliases
        this store lacks are added. Returns the source key -> this store's key."""
        keys: dict[int, int] = {}
        with self._write() as conn:
            for row in rows:
                if row.version is not None:
                    have = conn.execute(
                        "SELECT key, digest FROM artifacts WHERE project = ? AND name = ?"
                        " AND version = ?",
                        (row.project, row.name, row.version),
                    ).fetchone()
                    if have is not None:
                        if have[1] != row.digest:
                            raise StoreError(
                                f"artifact {row.project}/{row.name}:v{row.version} "
                                f"exists in {str(self.path)!r} with other contents; nothing "
                                "was copied"
                            )
                        keys[row.key] = int(have[0])
                        continue
                fields = _encode_artifact(
                    row.replace(
                        source_key=None if row.source_key is None else keys.get(row.source_key)
                    )
                )
                keys[row.key] = insert_row(conn, "artifacts", fields)
            for alias in aliases:
                if alias["artifact_key"] in keys:
                    conn.execute(
                        "INSERT INTO artifact_aliases (project, name, alias, artifact_key)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (project, name, alias) DO NOTHING",
                        (
                            alias["project"],
                            alias["name"],
                            alias["alias"],
                            keys[alias["artifact_key"]],
                        ),
                    )
        return keys
