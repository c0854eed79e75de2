"""A real PostgreSQL server for the tests (issue 17): Debian's ``postgresql`` binaries, a data
directory in a temporary folder, listening on 127.0.0.1 only, on a free port, stopped at the
end of the session. PostgreSQL refuses to run as root: as root the server runs as the
``postgres`` user (the Debian package creates it).

Without the binaries the PostgreSQL variants skip locally and fail when ``CI`` is set
(``scripts/setup.sh`` installs them)."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests import resources

_counter = itertools.count()


def find_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (the newest Debian version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


def missing(reason: str) -> None:
    """Skip (locally) or fail (``CI`` set) a test that needs PostgreSQL."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests need the server in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One PostgreSQL cluster in a temporary directory."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.tmp = Path(tempfile.mkdtemp(prefix="nbrun-pg-"))
        self.data = self.tmp / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.tmp, entry.pw_uid, entry.pw_gid)
        self.tmp.chmod(0o755)

    def _cmd(self, *args: str) -> list[str]:
        base = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", self.user, "--", *base] if self.user else base

    def pg_ctl(self, *args: str, check: bool = True) -> None:
        """Run ``pg_ctl`` on this cluster (``start``, ``stop``, ``restart`` ...)."""
        subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.tmp / "log"), "-w", *args),
            check=check,
            capture_output=True,
            cwd=self.tmp,
        )

    def start(self) -> None:
        """initdb, then start listening on 127.0.0.1:port (fast settings: no fsync; the tests
        check nbrun's transactions, not the disk)."""
        subprocess.run(
            self._cmd("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"),
            check=True,
            capture_output=True,
            cwd=self.tmp,
        )
        # in the cluster's own config, so a later ``pg_ctl start`` listens where this one did
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.tmp}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "500",
            "shared_buffers": "'64MB'",
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        # pg_ctl daemonizes the server: the run's watchdog stops it if pytest dies
        resources.register_pg(self.tmp, self.bindir, self.user)
        self.pg_ctl("start")

    def restart(self) -> None:
        """Restart the server (fast shutdown: open connections are cut)."""
        self.pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        """Stop the server and remove its files."""
        try:
            self.pg_ctl("-m", "immediate", "stop", check=False)  # it may be stopped already
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        """The URL of one database of this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        """Create a fresh database; return its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def sibling_database(url: str) -> str:
    """A fresh database on the server of ``url`` (for tests that need several stores)."""
    import psycopg

    base, _, _ = url.rpartition("/")
    name = f"t{os.getpid()}_{next(_counter)}_{os.urandom(3).hex()}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"
