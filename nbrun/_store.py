"""The embedded store: the only module that touches ``sqlite3``.

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
URL instead of a directory (``postgresql://...``): the SQL below is a subset both engines run
(``?`` placeholders, ``RETURNING``, ``ON CONFLICT``), and :class:`PgStore` alone translates
placeholders, DDL types and errors. Its writes take one advisory lock, so they serialise as
SQLite's do; run files go to a shared directory (``NBRUN_FILES``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._records import (
    ARCHIVE_FIELDS,
    ARTIFACT_FIELDS,
    RUN_FIELDS,
    AlertRecord,
    ArchiveRecord,
    ArtifactRecord,
    ChunkMeta,
    ChunkRecord,
    RunRecord,
)
from .errors import RunNotFoundError, StoreError

if TYPE_CHECKING:
    import psycopg

DB_NAME = "nbrun.db"
_BUSY_TIMEOUT_MS = 60_000

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


#: how much of the database file a connection may memory-map for reads
_MMAP_BYTES = 256 * 1024 * 1024


class _Connection(sqlite3.Connection):
    """A connection whose errors name the database file: damage, a full disk or a read-only
    file surface as :class:`StoreError`; lock waits stay ``sqlite3.OperationalError`` for the
    retry loop in :meth:`Store._write`."""

    def _translate(self, exc: sqlite3.DatabaseError) -> BaseException:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            return exc
        path = self.execute_path if hasattr(self, "execute_path") else "the nbrun database"
        return StoreError(f"{path!r}: {text}")

    def execute(self, *args: Any) -> sqlite3.Cursor:
        try:
            return super().execute(*args)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        try:
            return super().executemany(*args)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc


def _commit_or_rollback(conn: Any) -> Iterator[Any]:
    """The end of a write transaction, after ``BEGIN``, for both backends: hand ``conn`` to
    the block, then commit; if the block or the commit raises, roll back and re-raise."""
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


class Store:
    """One run directory's database. Get it with :meth:`Store.open`; safe to share by threads.

    Each thread gets its own connection; every write is a short ``BEGIN IMMEDIATE``
    transaction, retried while another process holds the write lock.
    """

    #: the open stores of this process: by SQLite folder, or by (URL, files folder)
    _instances: dict[Path | tuple[str, str | None], Store] = {}
    _instances_lock = threading.Lock()
    #: which engine holds the tables ("sqlite" or "postgresql")
    backend = "sqlite"

    def __init__(self, root: Path) -> None:
        #: the folder holding the run files (``runs/``, ``artifacts/``)
        self.root = root
        #: the database (a file path; a password-free URL for PostgreSQL), for messages and keys
        self.file = root / DB_NAME  # the SQLite file
        self.path: Path | str = self.file
        #: what to pass as ``dir=`` to reach this store again (another process, a fork)
        self.dir = str(root.parent)
        self._local = threading.local()
        self._conns: list[Any] = []  # every thread's connection, for close()
        self.readonly = False  # a database on a read-only filesystem: opened immutable
        self._check_or_create()

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, base_dir: str | os.PathLike[str], files: str | None = None) -> Store:
        """Return the store for ``<base_dir>/nbrun/``, creating it if needed (one per process).

        ``base_dir`` may be a PostgreSQL URL (``postgresql://user@host/db``): then the store is
        a :class:`PgStore` whose run files go to ``files`` (else ``NBRUN_FILES``, else the
        folder recorded when the database was made)."""
        if is_url(base_dir):
            store = PgStore.open_url(str(base_dir), files)
            assert store is not None  # created when missing
            return store
        root = (Path(base_dir).expanduser() / "nbrun").resolve()
        with cls._instances_lock:
            store = cls._instances.get(root)
            if store is None:
                store = cls(root)
                cls._instances[root] = store
            return store

    @classmethod
    def open_existing(cls, base_dir: str | os.PathLike[str]) -> Store | None:
        """Like :meth:`open` but return None, creating nothing, when no database exists yet."""
        if is_url(base_dir):
            return PgStore.open_url(str(base_dir), None, create=False)
        root = (Path(base_dir).expanduser() / "nbrun").resolve()
        if root not in cls._instances and not (root / DB_NAME).exists():
            return None
        return cls.open(base_dir)

    @classmethod
    def forget(cls, store: Store) -> None:
        """Drop ``store`` from the per-process cache and close its connections (tests, copy)."""
        with cls._instances_lock:
            for k, v in list(cls._instances.items()):
                if v is store:
                    del cls._instances[k]
        store.close()

    def close(self) -> None:
        """Close every thread's connection (a later call opens new ones)."""
        for conn in list(self._conns):
            try:
                conn.close()
            except Exception:  # closing a broken connection: nothing to do
                pass
        self._conns.clear()
        self._local = threading.local()

    def now(self) -> float:
        """The store's clock (Unix time) that heartbeats are written and compared in: the
        local clock for SQLite, the database server's for PostgreSQL."""
        return time.time()

    def _tables(self, conn: Any) -> set[str]:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            # WAL needs its -shm file writable; on a read-only filesystem nobody can change
            # the file, so it is read as immutable (without locks or -shm)
            f"{self.file.as_uri()}?immutable=1" if self.readonly else self.file,
            uri=self.readonly,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            factory=_Connection,
        )
        conn.execute_path = str(self.path)  # type: ignore[attr-defined]
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous=NORMAL")
        # history reads copy chunk blobs: through a memory map this is about 5x faster than
        # through read() calls (1M rows: 0.04 s instead of 0.2-0.7 s); the file never shrinks
        # (nbrun does not VACUUM), so the map stays valid
        conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        return conn

    @property
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._conns.append(conn)
        return conn

    def _check_or_create(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the run directory {str(self.root)!r}: {exc}") from exc
        existed = self.file.exists()
        if existed and self.file.stat().st_size == 0:
            # nbrun makes a store whole (see _create_file), so an empty file is not one of its
            # stores in the making: a truncated copy, a disk that lost it, a stray touch
            raise StoreError(
                f"{str(self.path)!r} is empty (0 bytes), so it is not an nbrun store (nbrun "
                "never leaves an empty one); it was left untouched. If it held nothing of "
                "yours, delete it and nbrun makes a new store; else restore it from a backup"
            )
        self.readonly = existed and bool(os.statvfs(self.root).f_flag & os.ST_RDONLY)
        if not existed and not os.access(self.root, os.W_OK):
            raise StoreError(
                f"cannot create {str(self.path)!r}: the directory is not writable; "
                "pass dir= a writable folder or set NBRUN_DIR"
            )
        if not existed:
            self._create_file()
        try:
            conn = self._connect()
            tables = self._tables(conn)
        except (sqlite3.DatabaseError, StoreError) as exc:
            raise StoreError(
                f"{str(self.path)!r} is not a usable nbrun database ({exc}); it was left "
                "untouched. Move it away or pass another dir="
            ) from exc
        if tables:
            self._check_existing(conn, tables)
        else:
            self._create(conn)
        # databases of schema version 2+ keep system samples and console lines (issue 13); a
        # process made to write an older schema (tests of migrations) simply keeps none
        self.side_tables = {"system_samples", "console"} <= self._tables(conn)
        self._detect_checksums(conn)
        self._local.conn = conn
        self._conns.append(conn)

    def _create_file(self) -> None:
        """Make a new database whole: its tables in a private file, then hard-linked to
        :data:`DB_NAME` (which fails if another process linked first: then theirs is used),
        so no process ever sees it empty or half made (rule 44: an empty file is damage)."""
        tmp = self.root / f".{DB_NAME}.{os.getpid()}.{secrets.token_hex(4)}.new"
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # kept in the file's header
                conn.execute("BEGIN IMMEDIATE")
                _install_schema(conn)
                conn.execute("COMMIT")
            finally:
                conn.close()  # the last connection: its WAL is checkpointed into the file
            try:
                os.link(tmp, self.file)
            except FileExistsError:
                pass  # another process made the store first
            except OSError:
                # a filesystem without hard links: a rename (two processes racing here within
                # microseconds would keep the second's empty store)
                if not self.file.exists():
                    os.replace(tmp, self.file)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise StoreError(f"cannot create {str(self.path)!r}: {exc}") from exc
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    os.unlink(f"{tmp}{suffix}")
                except OSError:
                    pass

    def _detect_checksums(self, conn: Any) -> None:
        # databases of schema version 4+ keep a checksum per history chunk (rule 44); a process
        # made to write an older schema (tests of migrations) writes and verifies none
        cur = conn.execute("SELECT * FROM history LIMIT 0")
        #: whether history chunks carry checksums (rule 44)
        self.checksums = "crc" in [d[0] for d in cur.description]
        self._crc_col = ", crc" if self.checksums else ", NULL"

    def _check_existing(self, conn: sqlite3.Connection, tables: set[str]) -> None:
        meta: dict[str, str] = {}
        if "meta" in tables:
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            except (sqlite3.DatabaseError, StoreError):
                meta = {}
        if meta.get("app") != "nbrun":
            raise StoreError(
                f"{str(self.path)!r} is a SQLite database but not an nbrun one (tables: "
                f"{', '.join(sorted(tables))}); it was left untouched. Pass another dir="
            )
        version = int(meta.get("schema_version", "0"))
        current = schema_version()
        if version > current:
            raise StoreError(
                f"{str(self.path)!r} has schema version {version}, newer than this nbrun "
                f"understands ({current}); upgrade nbrun. Nothing was written."
            )
        if version < current:
            if self.readonly:
                raise StoreError(
                    f"{str(self.path)!r} has schema version {version} and this nbrun needs "
                    f"{current}; the file is on a read-only filesystem, so it cannot be "
                    "upgraded. Copy it somewhere writable, or read it with the nbrun that wrote it"
                )
            self._migrate(conn)
        # no full integrity check here: it reads the whole file (seconds on long runs); damage
        # found later surfaces as a StoreError naming the file (see _Connection)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring an older database up to :func:`schema_version`, one migration at a time, in
        one transaction (another process may be doing the same: the version is read again
        under the write lock)."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0])
            for migration in MIGRATIONS[version - 1 :]:
                _run_script(conn, migration)
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(schema_version()),)
            )
            conn.execute("COMMIT")
        except (sqlite3.DatabaseError, StoreError) as exc:
            if conn.in_transaction:
                conn.rollback()
            raise StoreError(
                f"cannot upgrade {str(self.path)!r} to schema version {schema_version()}: {exc}; "
                "it was left as it was"
            ) from exc

    def _create(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            tables = self._tables(conn)
            if not tables:  # another process may have created it meanwhile
                _install_schema(conn)
            conn.execute("COMMIT")
        except (sqlite3.OperationalError, StoreError) as exc:
            if conn.in_transaction:
                conn.rollback()
            raise StoreError(f"cannot create {str(self.path)!r}: {exc}") from exc

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        yield from _commit_or_rollback(conn)

    def close_thread_connection(self) -> None:
        """Close this thread's connection (writer threads call it when they end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            if conn in self._conns:
                self._conns.remove(conn)

    #: appended to the live history insert: SQLite's commits are never in doubt (nothing)
    _retry_safe = ""
    #: appended to a read inside a write transaction that decides the write: SQLite's
    #: ``BEGIN IMMEDIATE`` already holds the database's write lock (nothing)
    _row_lock = ""

    # -- runs ------------------------------------------------------------------------------
    def _encode_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in fields.items():
            if name not in _RUN_COLUMN_SET or name == "key":
                raise KeyError(f"unknown run column {name!r}")
            out[name] = dumps(value) if name in JSON_FIELDS else value
        return out

    def create_run(self, rec: RunRecord) -> int | None:
        """Insert a run record (its ``key`` is not written) and return its key; None (and
        nothing written) when the project already has a run with that id (another process
        made it meanwhile: rule 41)."""
        enc = self._encode_fields(rec.columns())
        cols = ", ".join(enc)
        marks = ", ".join("?" for _ in enc)
        with self._write() as conn:
            row = conn.execute(
                f"INSERT INTO runs ({cols}) VALUES ({marks})"
                " ON CONFLICT (project, id) DO NOTHING RETURNING key",
                tuple(enc.values()),
            ).fetchone()
            return None if row is None else int(row[0])

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
                f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE key = ?{self._row_lock}", (key,)
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
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE project = ? AND id = ?",
            (project, run_id),
        ).fetchone()
        return None if row is None else _decode_run(row)

    def get_run_by_key(self, key: int) -> RunRecord | None:
        """Return one run's record by key, or None."""
        row = self._conn.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else _decode_run(row)

    def list_runs(self, project: str | None = None) -> list[RunRecord]:
        """All runs (of one project), oldest first."""
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
        args: tuple[Any, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            args = (project,)
        rows = self._conn.execute(sql + " ORDER BY created, key", args).fetchall()
        return [_decode_run(r) for r in rows]

    def children(self, project: str, run_id: str) -> list[RunRecord]:
        """Runs forked from the given one, oldest first."""
        rows = self._conn.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE project = ? AND forked_from_id = ?"
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
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE project = ? AND state IN "
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

    # -- chunk checksums (rule 44) -----------------------------------------------------------
    def _insert_chunks(
        self, conn: Any, key: int, seg: int, chunks: list[Chunk], suffix: str = ""
    ) -> None:
        """Insert chunks of one run and segment, each with its checksum."""
        cols = "run_key, seg, first_step, last_step, n, data, state"
        if self.checksums:
            rows: list[tuple[Any, ...]] = [
                (key, seg, *chunk, chunk_crc(chunk[3], chunk[4])) for chunk in chunks
            ]
            sql = f"INSERT INTO history ({cols}, crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        else:
            rows = [(key, seg, *chunk) for chunk in chunks]
            sql = f"INSERT INTO history ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        conn.executemany(sql + suffix, rows)

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

    # -- history ---------------------------------------------------------------------------
    def flush(
        self, key: int, chunks: list[Chunk], fields: dict[str, Any], side: Side | None = None
    ) -> bool:
        """Append chunks (and system samples and console lines) to the live segment and set
        run columns, in one transaction. Open console lines replace the run's previous ones.
        Returns the run's ``stop_requested`` flag."""
        enc = self._encode_fields(fields)
        with self._write() as conn:
            if side is not None:
                self._write_side(conn, key, side)
            if chunks:  # checksums computed here: on the writer thread, never in ``log``
                self._insert_chunks(conn, key, 0, chunks, self._retry_safe)
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
        sql = (
            f"SELECT first_step, last_step, data, state{self._crc_col} FROM history"
            " WHERE run_key = ? AND seg = ?"
        )
        args: list[Any] = [key, seg]
        if max_step is not None:
            sql += " AND first_step <= ?"
            args.append(max_step)
        if after_step is not None:
            sql += " AND last_step > ?"
            args.append(after_step)
        rows = self._conn.execute(sql + " ORDER BY first_step", args).fetchall()
        for first, last, data, state, crc in rows:
            self._verify(key, seg, first, last, data, state, crc)
        return [row[:3] for row in rows]

    def chunk_meta(
        self, key: int, seg: int = 0, max_step: int | None = None, after_step: int | None = None
    ) -> list[ChunkMeta]:
        """``(first_step, last_step, n, state)`` of the chunks :meth:`chunks` would return,
        without their data (a reader that cached what it made of a chunk skips it)."""
        sql = "SELECT first_step, last_step, n, state FROM history WHERE run_key = ? AND seg = ?"
        args: list[Any] = [key, seg]
        if max_step is not None:
            sql += " AND first_step <= ?"
            args.append(max_step)
        if after_step is not None:
            sql += " AND last_step > ?"
            args.append(after_step)
        rows = self._conn.execute(sql + " ORDER BY first_step", args).fetchall()
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
                    f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE key = ?{self._row_lock}",
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

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` of the database ('ok' when healthy; PostgreSQL keeps
        its own checksums and answers 'ok' when it answers at all)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def request_stop(self, key: int) -> None:
        """Ask the process that owns a running run to stop it (rule 31)."""
        self.update_run(key, {"stop_requested": 1})

    # -- artifacts (rules 35-37) -----------------------------------------------------------
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
                    cols = ", ".join(enc)
                    cur = conn.execute(
                        f"INSERT INTO artifacts ({cols}) VALUES ({', '.join('?' for _ in enc)})"
                        " RETURNING key",
                        tuple(enc.values()),
                    )
                    key = int(cur.fetchone()[0])
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

    # -- copying runs between stores (nbrun.copy) ------------------------------------------
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
        fields = Store._encode_fields(self, rec.columns())
        with self._write() as conn:
            if conn.execute(
                "SELECT 1 FROM runs WHERE project = ? AND id = ?", (rec.project, rec.id)
            ).fetchone():
                return None
            cols = ", ".join(fields)
            cur = conn.execute(
                f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' for _ in fields)})"
                " RETURNING key",
                tuple(fields.values()),
            )
            key = int(cur.fetchone()[0])
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
                cur = conn.execute(
                    f"INSERT INTO artifacts ({', '.join(fields)})"
                    f" VALUES ({', '.join('?' for _ in fields)}) RETURNING key",
                    tuple(fields.values()),
                )
                keys[row.key] = int(cur.fetchone()[0])
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


# -- PostgreSQL ------------------------------------------------------------------------------
_URL_SCHEMES = ("postgresql://", "postgres://")
#: the advisory lock every write transaction takes (``nbrun`` in ASCII): writes serialise as
#: SQLite's ``BEGIN IMMEDIATE`` makes them, so every read-then-write keeps its meaning
_PG_WRITE_LOCK = 0x6E6272756E
#: SQLite's types and keys as PostgreSQL spells them (REAL is 4 bytes there: timestamps need 8)
_PG_TYPES = (
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bWITHOUT ROWID\b"), ""),
)
#: seconds between attempts to reach a server that stopped answering (doubling up to the last)
_PG_BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0)
_PG_CONNECT_TIMEOUT = 10


def is_url(base_dir: object) -> bool:
    """Whether ``dir=`` names a PostgreSQL database rather than a folder."""
    return isinstance(base_dir, str) and base_dir.startswith(_URL_SCHEMES)


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def pg_ddl(script: str) -> str:
    """A DDL script of this module in PostgreSQL's types."""
    for pattern, replacement in _PG_TYPES:
        script = pattern.sub(replacement, script)
    return script


_pg_sql_cache: dict[str, str] = {}


def _pg_sql(sql: str) -> str:
    out = _pg_sql_cache.get(sql)
    if out is None:
        out = sql.replace("%", "%%").replace("?", "%s")
        if len(_pg_sql_cache) < 4096:
            _pg_sql_cache[sql] = out
    return out


def _pg_params(params: Any) -> Any:
    # bool is an int to SQLite; PostgreSQL's BIGINT columns want the int
    if any(type(p) is bool for p in params):
        return tuple(int(p) if type(p) is bool else p for p in params)
    return params


class _PgConnection:
    """A psycopg connection that speaks like the ``sqlite3`` one :class:`Store` uses: ``?``
    placeholders, ``execute`` returning a cursor, errors as :class:`StoreError` naming the
    database. A connection that lost its server marks itself ``broken``."""

    def __init__(self, raw: psycopg.Connection[Any], label: str) -> None:
        self.raw = raw
        self.label = label
        self.broken = False

    def _translate(self, exc: Exception) -> StoreError:
        import psycopg  # noqa: PLC0415 - optional dependency, loaded with the first PG store

        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) or self.raw.closed:
            self.broken = True
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if sqlstate == "53100":
            return StoreError(f"{self.label!r}: the database server's disk is full ({exc})")
        return StoreError(f"{self.label!r}: {str(exc).strip()}")

    def execute(self, sql: str, params: Any = ()) -> Any:
        import psycopg  # noqa: PLC0415 - optional dependency, loaded with the first PG store

        try:
            return self.raw.execute(_pg_sql(sql), _pg_params(params))
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    def executemany(self, sql: str, rows: Any) -> Any:
        import psycopg  # noqa: PLC0415 - optional dependency, loaded with the first PG store

        try:
            with self.raw.cursor() as cur:
                cur.executemany(_pg_sql(sql), [_pg_params(r) for r in rows])
                return cur
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    @property
    def in_transaction(self) -> bool:
        """Inside a transaction (also a failed one, still to roll back)."""
        import psycopg  # noqa: PLC0415 - optional dependency, loaded with the first PG store

        status = self.raw.info.transaction_status
        return status in (
            psycopg.pq.TransactionStatus.INTRANS,
            psycopg.pq.TransactionStatus.INERROR,
        )

    def rollback(self) -> None:
        """Roll the open transaction back (a broken connection has none left to roll back)."""
        try:
            self.raw.execute("ROLLBACK")
        except Exception:
            self.broken = True

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()


class PgStore(Store):
    """The store on a PostgreSQL database (``dir="postgresql://..."``), for a team: the same
    tables, versions and migrations as the SQLite store, written under one advisory lock;
    heartbeats in the server's clock; run files under a shared folder (``NBRUN_FILES``).

    A lost connection surfaces as :class:`StoreError` (the writer keeps its rows and retries);
    the next use reconnects, with a short backoff while the server stays away."""

    backend = "postgresql"
    _retry_safe = " ON CONFLICT DO NOTHING"  # a commit whose answer was lost may be retried
    _row_lock = " FOR UPDATE"  # besides the advisory lock: the row itself

    def __init__(self, url: str, files: str | None, create: bool = True) -> None:
        self.url = url
        self.path: str = redact(url)
        self.dir = url
        self._local = threading.local()
        self._conns = []
        self.readonly = False
        self._offset: tuple[float, float] | None = None  # (server - local, measured at)
        self._failures = 0
        self._retry_at = 0.0
        self._files_arg = files
        self.root = Path()
        self.exists = True
        self._check_or_create(create)

    @classmethod
    def open_url(cls, url: str, files: str | None, create: bool = True) -> Store | None:
        """The store of the database at ``url`` with its run files under ``files`` (else
        ``NBRUN_FILES`` as it is now, else the folder recorded in the database), created when
        missing (or None when ``create`` is False and the database has no nbrun tables). The
        files folder is resolved at every open, not once per process: one store object per
        (database, files folder), so a later ``NBRUN_FILES`` reaches the stores opened after
        it, and a store opened with an explicit ``files`` keeps it (issue 21, item 12)."""
        chosen = files or os.environ.get("NBRUN_FILES") or None
        key = (url, None if chosen is None else str(Path(chosen).expanduser().resolve()))
        with cls._instances_lock:
            store = cls._instances.get(key)
            if store is None:
                store = cls(url, chosen, create)
                if not store.exists:
                    store.close()
                    return None
                cls._instances[key] = store
            return store

    @classmethod
    def forget_url(cls, url: str) -> None:
        """Forget (and close) every store of the database at ``url``, whatever its files
        folder (tests, a dropped database)."""
        with cls._instances_lock:
            stores = [v for v in cls._instances.values() if getattr(v, "url", None) == url]
        for store in stores:
            cls.forget(store)

    def _connect(self) -> Any:
        try:
            import psycopg  # noqa: PLC0415 - optional dependency, loaded with the first PG store
        except ImportError as exc:
            raise StoreError(
                f"{self.path!r} is a PostgreSQL store and psycopg is not installed: "
                "pip install 'nbrun[postgres]'"
            ) from exc
        now = time.monotonic()
        if now < self._retry_at:
            raise StoreError(
                f"{self.path!r}: the database server did not answer; retrying in "
                f"{self._retry_at - now:.1f} s"
            )
        try:
            raw = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=_PG_CONNECT_TIMEOUT,
                application_name="nbrun",
            )
        except psycopg.Error as exc:
            self._retry_at = time.monotonic() + _PG_BACKOFF[min(self._failures, 4)]
            self._failures += 1
            raise StoreError(f"cannot connect to {self.path!r}: {str(exc).strip()}") from exc
        self._failures = 0
        return _PgConnection(raw, self.path)

    @property
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None and (conn.broken or conn.raw.closed):
            self._drop(conn)
            conn = None
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._conns.append(conn)
        return conn

    def _drop(self, conn: Any) -> None:
        try:
            conn.close()
        except Exception:  # the connection is gone already
            pass
        if conn in self._conns:
            self._conns.remove(conn)
        self._local.conn = None

    def _tables(self, conn: Any) -> set[str]:
        return {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }

    def _check_or_create(self, create: bool = True) -> None:
        conn = self._conn
        tables = self._tables(conn)
        if not tables and not create:
            self.exists = False
            return
        if tables:
            self._check_existing(conn, tables)
        else:
            self._create(conn)
        self.side_tables = {"system_samples", "console"} <= self._tables(conn)
        self._detect_checksums(conn)
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        files = self._files_arg or os.environ.get("NBRUN_FILES") or meta.get("files")
        if not files:
            raise StoreError(
                f"{self.path!r} keeps runs in PostgreSQL; their files (checkpoints, media, "
                "artifacts) need a folder every machine can read: set NBRUN_FILES=/shared/folder "
                "(or settings files_dir=...)"
            )
        self.root = Path(files).expanduser().resolve()
        if "files" not in meta:  # the first writer tells later readers where files are
            with self._write() as w:
                w.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                    ("files", str(self.root)),
                )

    def _begin(self, conn: Any) -> None:
        # one round trip: each one is a GIL hand-off while the training thread runs
        conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({_PG_WRITE_LOCK})")

    def _migrate(self, conn: Any) -> None:
        try:
            self._begin(conn)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0])
            for migration in MIGRATIONS[version - 1 :]:
                _run_script(conn, pg_ddl(migration))
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(schema_version()),)
            )
            conn.execute("COMMIT")
        except StoreError as exc:
            if conn.in_transaction:
                conn.rollback()
            raise StoreError(
                f"cannot upgrade {self.path!r} to schema version {schema_version()}: {exc}; "
                "it was left as it was"
            ) from exc

    def _create(self, conn: Any) -> None:
        try:
            self._begin(conn)
            if not self._tables(conn):  # another process may have created it meanwhile
                _install_schema(conn, pg_ddl)
            conn.execute("COMMIT")
        except StoreError as exc:
            if conn.in_transaction:
                conn.rollback()
            raise StoreError(f"cannot create the nbrun tables in {self.path!r}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[Any]:
        conn = self._conn
        try:
            self._begin(conn)
        except StoreError:
            if conn.in_transaction and not conn.broken:
                conn.rollback()
            raise
        yield from _commit_or_rollback(conn)

    def close_thread_connection(self) -> None:
        """Close this thread's connection (writer threads call it when they end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._drop(conn)

    def integrity_check(self) -> str:
        """'ok' when the server answers (PostgreSQL checks its pages itself)."""
        self._conn.execute("SELECT 1").fetchone()
        return "ok"

    def now(self) -> float:
        """The database server's clock (the local clock plus an offset measured at most
        30 s ago), so hosts with skewed clocks agree on a heartbeat's age."""
        offset = self._offset
        local = time.time()
        if offset is None or local - offset[1] > 30.0:
            t0 = time.time()
            row = self._conn.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8")
            server = float(row.fetchone()[0])
            t1 = time.time()
            offset = (server - (t0 + t1) / 2, t1)
            self._offset = offset
        return local + offset[0]

    def _encode_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        enc = super()._encode_fields(fields)
        beat = enc.get("heartbeat")
        if isinstance(beat, (int, float)):  # written as "now": in the server's clock
            enc["heartbeat"] = self.now() + (beat - time.time())
        return enc
