"""Run files: ``run.save`` / ``nbrun.save``, ``view.files()`` and ``nbrun.restore``.

A run's files live in ``<run folder>/files/`` (``<dir>/nbrun/runs/<project>/<id>/files``).
``save`` expands its glob when called (new files are not picked up later, as in W&B) and
places each match the way W&B's worked examples say:

- a relative glob keeps its folders: ``save("these/are/myfiles/*")`` stores
  ``these/are/myfiles/<file>``;
- ``base_path`` is stripped: ``save("these/are/myfiles/*", base_path="these")`` stores
  ``are/myfiles/<file>``;
- an absolute glob without ``base_path`` keeps one folder level:
  ``save("/User/username/Documents/run123/*.txt")`` stores ``run123/<file>.txt`` (a relative glob
  that climbs out of the working directory with ``..`` is treated the same way).

Policies: ``now`` copies once, ``end`` copies when the run finishes, ``live`` copies now and
again whenever the file changed (checked by the writer thread every flush and at ``finish``).
Every copy is atomic (temp file, fsync, rename): a reader sees the old or the new file.

``output.log`` (the run's console output, :mod:`nbrun._console`) is listed with the saved files
and made from the stored lines when it is read.

This module sits beside history: the run uses it, it never imports the run.
"""

from __future__ import annotations

import glob as _glob
import io
import os
import shutil
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import _paths

FILES_DIR = "files"
OUTPUT_LOG = "output.log"
"""The run's console output, as W&B names it."""
POLICIES = ("live", "now", "end")


def files_dir(run_folder: str | os.PathLike[str]) -> Path:
    """The folder holding a run's saved files."""
    return Path(run_folder) / FILES_DIR


def check_name(name: object, what: str = "file name") -> str:
    """A stored file name: relative, ``/``-separated, never climbing out with ``..``."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} {name!r}: pass a non-empty relative path")
    norm = name.replace("\\", "/")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if norm.startswith("/") or not parts or ".." in parts or "\x00" in norm:
        raise ValueError(
            f"{what} {name!r}: must be a relative path inside the run's files "
            "(no leading '/', no '..')"
        )
    return "/".join(parts)


def _atomic(dest: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Write ``dest`` through a temp file in the same folder that ``fill`` writes: fsync,
    rename, so a reader sees the old file or the whole new one, never a part."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as fout:
            fill(fout)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(data: bytes, dest: Path) -> None:
    """Write ``data`` to ``dest`` atomically."""
    _atomic(dest, lambda f: f.write(data))


def atomic_copy(src: str | os.PathLike[str], dest: Path) -> None:
    """Copy ``src`` to ``dest`` atomically."""
    with open(src, "rb") as fin:
        _atomic(dest, lambda f: shutil.copyfileobj(fin, f, 1 << 20))


def placements(
    glob_str: object, base_path: object = None, cwd: str | None = None
) -> list[tuple[Path, str]]:
    """``(source, stored name)`` for every file ``glob_str`` matches now (W&B's rules)."""
    if isinstance(glob_str, bytes):
        glob_str = glob_str.decode()
    if isinstance(glob_str, os.PathLike):
        glob_str = os.fspath(glob_str)
    if not isinstance(glob_str, str) or not glob_str:
        raise ValueError(f"save: glob_str {glob_str!r} must be a non-empty path or glob")
    if isinstance(base_path, os.PathLike):
        base_path = os.fspath(base_path)
    if base_path is not None and not isinstance(base_path, str):
        raise ValueError(f"save: base_path {base_path!r} must be a path or None")
    cwd = cwd or os.getcwd()
    pattern = os.path.normpath(os.path.join(cwd, os.path.expanduser(glob_str)))
    if base_path is not None:
        base = os.path.normpath(os.path.join(cwd, os.path.expanduser(base_path)))
        if os.path.commonpath([base, pattern]) != base:
            raise ValueError(
                f"save: base_path {base_path!r} is not a prefix of glob_str {glob_str!r}; "
                "pass a folder the glob lies under"
            )
    elif os.path.isabs(os.path.expanduser(glob_str)) or os.path.relpath(pattern, cwd).startswith(
        ".."
    ):
        base = os.path.dirname(os.path.dirname(pattern))  # one folder level is kept
    else:
        base = cwd
    out = []
    for match in sorted(_glob.glob(pattern, recursive=True)):
        if os.path.isfile(match):
            out.append((Path(match), check_name(os.path.relpath(match, base))))
    return out


@dataclass
class _Saved:
    source: Path
    name: str
    policy: str
    mtime_ns: int = -1
    size: int = -1


class FileSaver:
    """The files a live run saved, and their policies (owned by the run)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._saved: dict[str, _Saved] = {}
        self._lock = threading.Lock()

    def save(
        self, glob_str: object, base_path: object = None, policy: object = "live"
    ) -> list[str]:
        """Save the files ``glob_str`` matches (see the module docstring); returns the paths
        of the stored copies (for ``end``: where they will be)."""
        if policy not in POLICIES:
            raise ValueError(f"save: policy {policy!r}; allowed: 'live', 'now', 'end'")
        found = placements(glob_str, base_path)
        if not found:
            warnings.warn(
                f"nbrun.save: {glob_str!r} matches no file now; files created later are not "
                "picked up (call save again after writing them)",
                UserWarning,
                stacklevel=3,
            )
        out = []
        with self._lock:
            for src, name in found:
                dest = self.folder / name
                if src.resolve() != dest.resolve():
                    entry = _Saved(src, name, str(policy))
                    self._saved[name] = entry
                    if policy != "end":
                        self._copy(entry)
                out.append(str(dest))
        return out

    def _copy(self, entry: _Saved) -> None:
        try:
            st = entry.source.stat()
        except FileNotFoundError:
            return  # gone since: the stored copy stays as it was
        atomic_copy(entry.source, self.folder / entry.name)
        entry.mtime_ns, entry.size = st.st_mtime_ns, st.st_size

    def sync_live(self) -> None:
        """Copy again every ``live`` file that changed since its last copy."""
        with self._lock:
            for entry in self._saved.values():
                if entry.policy != "live":
                    continue
                try:
                    st = entry.source.stat()
                except FileNotFoundError:
                    continue
                if (st.st_mtime_ns, st.st_size) != (entry.mtime_ns, entry.size):
                    self._copy(entry)

    def finish(self) -> None:
        """At the run's end: copy ``end`` files and changed ``live`` files."""
        self.sync_live()
        with self._lock:
            for entry in self._saved.values():
                if entry.policy == "end":
                    self._copy(entry)


class File:
    """A file of a run: ``name`` (relative, ``/``-separated), ``size`` in bytes, and
    :meth:`download`. Saved files are read from the run's files folder; ``output.log`` is made
    from the stored console lines when it is read."""

    def __init__(self, name: str, read: Callable[[], bytes], path: Path | None = None) -> None:
        self.name = name
        self._read = read
        self._path = path

    @classmethod
    def stored(cls, folder: Path, name: str) -> File:
        """A file saved in ``folder`` (the run's files folder)."""
        path = folder / name
        return cls(name, path.read_bytes, path)

    @property
    def path(self) -> str | None:
        """Where the stored copy is (None for a file made on demand, such as ``output.log``)."""
        return None if self._path is None else str(self._path)

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self._path.stat().st_size if self._path is not None else len(self._read())

    def read(self) -> bytes:
        """The file's content."""
        return self._read()

    def download(
        self, root: str | os.PathLike[str] = ".", replace: bool = False, exist_ok: bool = False
    ) -> io.TextIOWrapper:
        """Copy the file to ``<root>/<name>`` and return it opened for reading as text.

        An existing file there is a ``ValueError`` unless ``replace`` (overwrite) or
        ``exist_ok`` (keep it), as in W&B. A folder on the way under ``root`` that is a
        symlink or a file raises ``UnsafePathError`` and nothing is written (rule 42)."""
        dest = _paths.download_target(root, check_name(self.name), "run file")
        if dest.exists() and not replace:
            if not exist_ok:
                raise ValueError(
                    f"File.download: {str(dest)!r} already exists; pass replace=True to "
                    "overwrite it or exist_ok=True to keep it"
                )
        elif self._path is not None:
            if self._path.resolve() != dest.resolve():
                atomic_copy(self._path, dest)
        else:
            atomic_write(self._read(), dest)
        return open(dest, encoding="utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"


def listing(run_folder: str | os.PathLike[str]) -> list[File]:
    """A run's stored files, by name (temp files of copies in progress left out). nbrun
    stores no symlinks: one found here (a received store's ``files/notes.txt ->
    ~/.ssh/id_rsa``) is skipped with a warning, never read (rule 42)."""
    folder = files_dir(run_folder)
    if folder.is_symlink() or not folder.is_dir():
        if folder.is_symlink():
            _warn_symlink(folder)
        return []
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            _warn_symlink(path)
        elif path.is_file() and not path.name.startswith(".tmp-"):
            out.append(File.stored(folder, path.relative_to(folder).as_posix()))
    return out


def _warn_symlink(path: Path) -> None:
    warnings.warn(
        f"nbrun: {str(path)!r} in a run folder is a symlink (nbrun never stores one: the store "
        "was edited or received from someone else); skipped, not read or copied (rule 42)",
        UserWarning,
        stacklevel=3,
    )


def output_log(lines: Iterable[str]) -> bytes:
    """``output.log`` from console lines: one line each, in order."""
    buf = io.StringIO()
    for text in lines:
        buf.write(text)
        buf.write("\n")
    return buf.getvalue().encode("utf-8", errors="replace")


def restore_from(
    files: list[File], name: object, root: str | os.PathLike[str], replace: bool
) -> io.TextIOWrapper | None:
    """``nbrun.restore``'s work: ``name`` from ``files`` copied to ``<root>/<name>`` (kept
    when present unless ``replace``) and opened for reading as text; None when the run has no
    such file."""
    clean = check_name(name, "restore: name")
    for f in files:
        if f.name == clean:
            return f.download(root, replace=replace, exist_ok=True)
    return None
