"""Paths built from stored data (rule 42: what a store holds is input).

A run id, project, file name, media path or artifact digest read back from a store may have
been edited by hand (a team's PostgreSQL rows) or come with a store received from someone
else. Every path nbrun builds from such a value goes through :func:`join` (or :func:`run_dir`,
:func:`blob`): the value is checked as it was at creation (ids and projects by rules 3 and 5,
digests are 64 hex digits, relative names have no ``..``, no leading ``/``, no ``\\``) and the
joined path, symlinks resolved, must stay under its root. Anything else is an
:class:`~nbrun.errors.UnsafePathError` naming the value and the root; nothing is touched.

:func:`download_target` is the other direction: the place under a user's download root a
stored name is written to, refusing a symlinked (or file) folder on the way, for artifact
downloads, ``File.download`` and ``nbrun.restore`` alike.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from ._ids import validate_id, validate_project
from .errors import UnsafePathError, UsageError

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _refuse(what: str, value: object, root: Path | str, why: str) -> UnsafePathError:
    return UnsafePathError(
        f"{what} {value!r}: {why}; refusing to use it under {str(root)!r} (rule 42: a store's "
        "data never reaches outside it; was the store edited or received from someone "
        "else?). Nothing was touched"
    )


def parts(value: object, what: str, root: Path | str) -> list[str]:
    """The ``/``-separated parts of a stored relative path, refused unless every part is a
    plain name (not empty, ``.`` or ``..``; no ``\\``, no control characters)."""
    if not isinstance(value, str) or not value:
        raise _refuse(what, value, root, "must be a non-empty relative path")
    if value.startswith("/") or "\\" in value:
        raise _refuse(what, value, root, "an absolute path or one with '\\' is not allowed")
    out = value.split("/")
    if any(p in ("", ".", "..") for p in out):
        raise _refuse(what, value, root, "'..', '.' and empty parts are not allowed")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise _refuse(what, value, root, "control characters are not allowed")
    return out


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def join(root: str | os.PathLike[str], rel: object, what: str = "stored path") -> Path:
    """``root / rel`` for a relative path read from a store, checked (rule 42): plain parts
    only, and the result, symlinks resolved, still under ``root``."""
    base = os.path.realpath(root)
    path = Path(base).joinpath(*parts(rel, what, base))
    real = os.path.realpath(path)
    if not _inside(real, base):
        raise _refuse(what, rel, base, f"it leads outside through a symlink (to {real!r})")
    return path


def run_dir(root: str | os.PathLike[str], project: object, run_id: object) -> Path:
    """A run's folder ``<root>/runs/<project>/<id>`` for a project and id read from a store:
    both checked as at creation (rules 3 and 5), the folder checked to stay under ``root``."""
    try:
        validate_project(project)
        validate_id(run_id)
    except UsageError as exc:
        raise _refuse(
            "stored run", f"{project}/{run_id}", os.path.realpath(root), f"not a valid run: {exc}"
        ) from None
    return join(root, f"runs/{project}/{run_id}", "stored run folder")


def blob(root: str | os.PathLike[str], folder: str, digest: object) -> Path:
    """The content-addressed file ``<root>/<folder>/<digest[:2]>/<digest>`` of a SHA-256
    digest read from a store (64 lowercase hex digits, else refused)."""
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise _refuse(
            "stored digest", digest, os.path.realpath(root), "must be 64 lowercase hex digits"
        )
    return join(root, f"{folder}/{digest[:2]}/{digest}", "stored digest")


def download_target(
    root: str | os.PathLike[str],
    name: str,
    what: str,
    error: type[UnsafePathError] = UnsafePathError,
) -> Path:
    """Where ``name`` (already a clean relative ``/``-path) is written under a download
    ``root``: refused with ``error`` when a folder on the way under ``root`` is a symlink or
    a file (writing through it could land anywhere). ``root`` itself may be a symlink: the
    caller chose it."""
    base = Path(root).resolve()
    cur = base
    for part in name.split("/")[:-1]:
        cur = cur / part
        if cur.is_symlink() or (cur.exists() and not cur.is_dir()):
            raise error(
                f"{what} {name!r}: {str(cur)!r} inside the download root is a symlink or "
                "a file; refusing to write through it (rule 42). Nothing was written"
            )
    return base / name
