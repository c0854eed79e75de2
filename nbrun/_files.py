"""A run's files as W&B lists them: ``run.files()`` and ``nbrun.restore(name)``.

For now the one file is ``output.log``: the run's console output (see :mod:`nbrun._console`),
made from the stored lines when it is asked for. ``run.save`` (another issue) will add the
files a run saves.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

OUTPUT_LOG = "output.log"


class File:
    """One file of a run: ``name``, ``size`` in bytes, and :meth:`download`."""

    def __init__(self, name: str, read: Callable[[], bytes]) -> None:
        self.name = name
        self._read = read

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return len(self._read())

    def read(self) -> bytes:
        """The file's content."""
        return self._read()

    def download(
        self, root: str | os.PathLike[str] = ".", replace: bool = False, exist_ok: bool = False
    ) -> TextIO:
        """Write the file to ``root/name`` and return it opened for reading (as W&B does).

        An existing file is an error (``ValueError``) unless ``replace`` (overwrite it) or
        ``exist_ok`` (keep it and open it)."""
        path = Path(root) / self.name
        if path.exists() and not replace:
            if exist_ok:
                return open(path, encoding="utf-8", errors="replace")
            raise ValueError(
                f"{str(path)!r} already exists; pass replace=True to overwrite it or "
                "exist_ok=True to keep it"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".nbrun-tmp")
        tmp.write_bytes(self._read())
        os.replace(tmp, path)
        return open(path, encoding="utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"


def output_log(lines: Iterable[str]) -> bytes:
    """``output.log`` from console lines: one line each, in order."""
    buf = io.StringIO()
    for text in lines:
        buf.write(text)
        buf.write("\n")
    return buf.getvalue().encode("utf-8", errors="replace")


def restore_from(
    files: list[File], name: str, root: str | os.PathLike[str], replace: bool
) -> TextIO | None:
    """``nbrun.restore``: ``name`` from ``files`` written under ``root`` (kept if it is there
    and not ``replace``) and opened for reading; None when the run has no such file."""
    for f in files:
        if f.name == name:
            return f.download(root, replace=replace, exist_ok=True)
    return None
