"""``log_code``: which files of a folder a code artifact takes, and its name."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

from .._store import Store
from .names import _sanitize


# -- code ----------------------------------------------------------------------------------------
def default_include(path: str, root: str) -> bool:
    """``log_code``'s default: Python files."""
    return path.endswith(".py")


def collect_code(
    store: Store,
    root: str | os.PathLike[str],
    include_fn: Callable[..., bool],
    exclude_fn: Callable[..., bool] | None,
    notebook: str | None,
) -> list[tuple[str, str]]:
    """``(absolute path, entry name)`` of the files ``log_code`` takes: ``include_fn`` says
    yes, ``exclude_fn`` no (default: files under the run store ``<dir>/nbrun``), plus the
    notebook the kernel runs when it lies under ``root``."""
    base = os.path.abspath(root)
    store_dir = str(store.root)
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        here = os.path.abspath(dirpath)
        if here == store_dir or here.startswith(store_dir + os.sep):
            dirnames[:] = []
            continue
        for fname in sorted(filenames):
            full = os.path.join(here, fname)
            if not os.path.isfile(full):
                continue
            if exclude_fn is not None:
                if _call(exclude_fn, full, base):
                    continue
            if _call(include_fn, full, base):
                out[full] = os.path.relpath(full, base).replace(os.sep, "/")
    if notebook:
        nb = os.path.abspath(notebook)
        if os.path.isfile(nb) and nb.startswith(base + os.sep):
            out[nb] = os.path.relpath(nb, base).replace(os.sep, "/")
    return sorted(out.items(), key=lambda kv: kv[1])


def _call(fn: Callable[..., bool], path: str, root: str) -> bool:
    try:
        return bool(fn(path, root))
    except TypeError:
        return bool(fn(path))


def code_artifact_name(project: str, program: str | None, run_id: str) -> str:
    """``source-<project>-<program>`` (W&B's default for ``log_code``), sanitised."""
    tail = os.path.basename(program) if program else run_id
    return _sanitize(f"source-{project}-{tail}")


def warn_no_code(root: str | os.PathLike[str]) -> None:
    """``log_code`` found nothing: say so (W&B returns None too)."""
    warnings.warn(
        f"log_code: no files matched under {os.fspath(root)!r}; nothing was logged",
        UserWarning,
        stacklevel=3,
    )
