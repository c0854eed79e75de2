"""The embedded store: the only package that touches ``sqlite3`` and ``psycopg``.

One SQLite database in WAL mode per run directory (``<dir>/nbrun/nbrun.db``) holds runs,
history, archived segments, alerts and lineage; per-run folders beside it hold files.

History is stored in *chunks*: one row per flushed batch, holding the batch's rows as a
columnar JSON object ``{"n": rows, "c": {key: [values...]}}``. The writer encodes a batch with
one ``json`` call and one ``INSERT``; a reader decodes a few hundred chunks instead of a million
rows. A chunk belongs to a run (``run_key``) and a segment (``seg``): 0 is the live history,
1, 2, ... are segments archived by rewinds. Nothing is ever deleted: a rewind moves the rows
after its step into a new segment, splitting the one chunk that straddles the step.

Every write is one ``BEGIN IMMEDIATE`` transaction with a long busy timeout, so several
processes can log into one directory without "database is locked" reaching the user.

A second backend keeps the same tables on PostgreSQL (psycopg 3, :class:`PgStore`), chosen by a
URL instead of a directory (``postgresql://...``): the SQL of these modules is a subset both
engines run (``?`` placeholders, ``RETURNING``, ``ON CONFLICT``), and :class:`PgStore` alone
translates placeholders, DDL types and errors. Its writes take one advisory lock, so they
serialise as SQLite's do; run files go to a shared directory (``NBRUN_FILES``).

The package, one concept a module, each importing only the ones listed before it:

- ``schema``: the DDL, migrations, column encoders and the chunk checksum;
- ``sqlite``: ``StoreBase``, the per-thread SQLite connections, opening checks, migrations and
  write transactions;
- ``chunks``: history chunks, system samples and console lines, checksums and checks;
- ``runs``: run records, deleting and moving runs;
- ``archives``: archived segments (rewinds) and alerts;
- ``artifacts``: artifact versions, aliases and usage;
- ``sweeps``: sweeps and their trials, the atomic claim of a suggestion (rules 50-54);
- ``transfer``: export and import of runs and artifact records (``nbrun.copy``);
- ``store``: :class:`Store`, the mixins joined, one per directory and process;
- ``postgres``: :class:`PgStore`.
"""

from .postgres import PgStore, pg_ddl, redact
from .schema import (
    _SCHEMA,
    DB_NAME,
    JSON_FIELDS,
    MIGRATIONS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    Chunk,
    Side,
    chunk_crc,
    dumps,
    loads,
    schema_version,
)
from .store import Store, is_url

__all__ = [
    "DB_NAME",
    "JSON_FIELDS",
    "MIGRATIONS",
    "RUN_COLUMNS",
    "SCHEMA_VERSION",
    "_SCHEMA",
    "Chunk",
    "PgStore",
    "Side",
    "Store",
    "chunk_crc",
    "dumps",
    "is_url",
    "loads",
    "pg_ddl",
    "redact",
    "schema_version",
]
