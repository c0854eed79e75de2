"""The SQLite connections of a store: one per thread, in WAL mode with a long busy timeout,
errors naming the database file; the file made whole, checked and migrated when opened; write
transactions (``BEGIN IMMEDIATE``, retried while another process writes)."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .schema import (
    DB_NAME,
    MIGRATIONS,
    RUN_COLUMNS,
    _install_schema,
    _run_script,
    encode_run_fields,
    schema_version,
)

_BUSY_TIMEOUT_MS = 60_000

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


def insert_new(conn: Any, table: str, fields: dict[str, Any], conflict: str) -> int | None:
    """Insert ``fields`` (encoded column values) into ``table`` unless ``conflict`` (e.g.
    ``"ON CONFLICT (project, id) DO NOTHING"``) skips it: the new row's key, or None. SQLite
    and PostgreSQL alike (``?`` marks, ``RETURNING key``)."""
    cols, marks = ", ".join(fields), ", ".join("?" for _ in fields)
    row = conn.execute(
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) {conflict} RETURNING key",
        tuple(fields.values()),
    ).fetchone()
    return None if row is None else int(row[0])


def insert_row(conn: Any, table: str, fields: dict[str, Any]) -> int:
    """Insert ``fields`` (encoded column values) into ``table``; the new row's key."""
    key = insert_new(conn, table, fields, "")
    assert key is not None  # a plain INSERT ... RETURNING always returns its row
    return key


class StoreBase:
    """The SQLite side of a store: one connection per thread, the database file checked,
    created or migrated when opened, and every write a short ``BEGIN IMMEDIATE`` transaction,
    retried while another process holds the write lock. The concerns above it (runs, chunks,
    archives, artifacts, copying) are mixins over this class; :class:`~nbrun._store.Store`
    joins them."""

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
        self._adopt_schema(conn, tables)
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

    def _adopt_schema(self, conn: Any, tables: set[str]) -> None:
        """Check (and upgrade) the schema of a database with ``tables``, or create it in an
        empty one; then note which optional tables and columns it has."""
        if tables:
            self._check_existing(conn, tables)
        else:
            self._create(conn)
        # databases of schema version 2+ keep system samples and console lines (issue 13); a
        # process made to write an older schema (tests of migrations) simply keeps none
        tables = self._tables(conn)
        self.side_tables = {"system_samples", "console"} <= tables
        self._detect_checksums(conn)
        #: whether chunks get stored bucket summaries (schema version 6+, rule 68)
        self.summaries = "history_summaries" in tables and self.checksums
        # databases of schema version 5+ keep sweeps and each run's sweep id (rules 50-54); a
        # process made to write an older schema reads every run's sweep_id as None
        #: whether the store has the sweep tables and ``runs.sweep_id``
        self.sweeps = "sweeps" in tables
        self._run_select = ", ".join(
            c if self.sweeps or c != "sweep_id" else "NULL AS sweep_id" for c in RUN_COLUMNS
        )

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

    def trace(self, callback: Callable[[str], object] | None) -> None:
        """Call ``callback(sql)`` with every statement this thread's connection runs from now
        on (None: stop): what a reader costs in queries, for diagnostics and tests. SQLite
        stores only (:class:`StoreError` for another engine)."""
        hook = getattr(self._conn, "set_trace_callback", None)
        if hook is None:
            raise StoreError(f"{str(self.path)!r}: tracing statements needs a SQLite store")
        hook(callback)

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

    def _encode_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        return self._sweep_column(encode_run_fields(fields))

    def _sweep_column(self, enc: dict[str, Any]) -> dict[str, Any]:
        """Encoded run columns as this database takes them: a schema older than sweeps has no
        ``sweep_id`` column (a run of a sweep cannot be written there)."""
        if not self.sweeps and "sweep_id" in enc:
            if enc["sweep_id"] is not None:
                raise StoreError(
                    f"{str(self.path)!r} has a schema older than sweeps (version "
                    f"< 5); open it with this nbrun to upgrade it before running a sweep"
                )
            enc = {k: v for k, v in enc.items() if k != "sweep_id"}
        return enc

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` of the database ('ok' when healthy; PostgreSQL keeps
        its own checksums and answers 'ok' when it answers at all)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])
