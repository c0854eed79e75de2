"""The store: :class:`Store` joins the SQLite connections and the tables' mixins, and opens one
store per run directory and process (or a :class:`~nbrun._store.PgStore` for a URL)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar

from ..errors import StoreError
from .archives import ArchiveTables
from .runs import RunTables
from .schema import (
    DB_NAME,
)
from .sweeps import SweepTables
from .transfer import TransferTables

_URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(base_dir: object) -> bool:
    """Whether ``dir=`` names a PostgreSQL database rather than a folder."""
    return isinstance(base_dir, str) and base_dir.startswith(_URL_SCHEMES)


#: the subclass that opens database URLs (PgStore): it registers itself when it is defined
#: (nbrun/_store/postgres.py, which the package imports), so this module imports nothing above
_url_stores: list[type[Store]] = []


class Store(RunTables, ArchiveTables, TransferTables, SweepTables):
    """One run directory's database. Get it with :meth:`Store.open`; safe to share by threads.

    Each thread gets its own connection; every write is a short ``BEGIN IMMEDIATE``
    transaction, retried while another process holds the write lock.
    """

    #: the open stores of this process: by SQLite folder, or by (URL, files folder)
    _instances: dict[Path | tuple[str, str | None], Store] = {}
    _instances_lock = threading.Lock()
    #: which engine holds the tables ("sqlite" or "postgresql")
    backend = "sqlite"
    #: the URL schemes whose databases a subclass opens (PgStore); none: SQLite folders
    url_schemes: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "url_schemes" in vars(cls):
            _url_stores.append(cls)

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, base_dir: str | os.PathLike[str], files: str | None = None) -> Store:
        """Return the store for ``<base_dir>/nbrun/``, creating it if needed (one per process).

        ``base_dir`` may be a PostgreSQL URL (``postgresql://user@host/db``): then the store is
        a :class:`PgStore` whose run files go to ``files`` (else ``NBRUN_FILES``, else the
        folder recorded when the database was made)."""
        if is_url(base_dir):
            store = cls.open_url(str(base_dir), files)
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
            return cls.open_url(str(base_dir), None, create=False)
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

    @classmethod
    def open_url(cls, url: str, files: str | None, create: bool = True) -> Store | None:
        """The store of the database at ``url``: opened by the subclass for its scheme
        (:class:`~nbrun._store.PgStore`)."""
        for sub in _url_stores:
            if url.startswith(sub.url_schemes) and sub is not cls:
                return sub.open_url(url, files, create)
        raise StoreError(f"no nbrun store opens {url.split('://')[0]}:// databases")
