"""``nbrun.copy``: move runs between stores (a notebook's SQLite folder and a team's PostgreSQL
database, either way), with their lineage, archives, alerts, system samples, console lines,
artifact records, sweeps with their trials, and files. Ids stay the same, so fork links
(``forked_from_id``) and sweep ids still point at the right runs; each run is copied in one
transaction of the destination, so a copy that stops half way leaves whole runs only, and
running it again copies the rest."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

from . import _artifacts
from ._store import Store
from ._views import run_path
from .errors import StoreError, UsageError


def copy(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    project: str | None = None,
) -> list[str]:
    """Copy the runs of ``src`` (a folder or a ``postgresql://`` URL; all projects, or only
    ``project``) into ``dst`` (created when missing). Runs ``dst`` already has (same project
    and id) are left alone. Returns ``"project/id"`` of every run copied, oldest first.

    What the source holds is input (rule 42): a run id, project or blob digest that is not
    valid or leads outside the source raises ``UnsafePathError`` before anything is written;
    symlinks in the source are skipped with a warning, never followed."""
    if project is not None and (not isinstance(project, str) or not project):
        raise UsageError(f"copy(project={project!r}): pass a project name or None (all)")
    for name, value in (("src", src), ("dst", dst)):
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise UsageError(f"copy({name}={value!r}): pass a folder or a postgresql:// URL")
    source = Store.open_existing(src)
    if source is None:
        raise StoreError(f"copy: {os.fspath(src)!r} holds no nbrun store; nothing was copied")
    # every path made from the source's rows is checked before the destination is touched
    # (rule 42): a forged id, project or digest refuses the whole copy
    rows, aliases = source.export_artifacts(project)
    digests = [
        entry["digest"] for row in rows for entry in row.manifest.values() if not entry.get("ref")
    ]
    blobs = [_artifacts.blob_path(source, d) for d in digests]
    runs = [(rec, run_path(source, rec.project, rec.id)) for rec in source.list_runs(project)]
    sweeps = source.list_sweeps(project)  # forged sweep ids are refused here (rule 42)
    for rec, _folder in runs:  # rule 44: a damaged chunk is refused before anything is written
        source.verify_segment(rec.key, None)
    target = Store.open(dst)
    if target is source:
        raise UsageError(f"copy: source and destination are the same store ({source.path})")
    for digest, blob in zip(digests, blobs, strict=True):  # blobs first: no record names a
        _copy_file(blob, _artifacts.blob_path(target, digest))  # missing file
    artifact_keys = target.import_artifacts(rows, aliases)
    copied = []
    for rec, folder in runs:
        if folder.is_symlink():
            _skip_link(str(folder))
        elif folder.is_dir():
            dest = run_path(target, rec.project, rec.id)
            shutil.copytree(folder, dest, ignore=_links, dirs_exist_ok=True)
        tables = source.export_run(rec.key)
        if target.import_run(rec, tables, artifact_keys) is not None:
            copied.append(f"{rec.project}/{rec.id}")
    for sweep in sweeps:  # rules 50-54: the sweeps and their trials go with their runs
        target.import_sweep(sweep, source.list_trials(sweep.key))
    return copied


def _skip_link(path: str) -> None:
    warnings.warn(
        f"nbrun.copy: {path!r} is a symlink (nbrun never stores one: the source was edited or "
        "received from someone else); skipped, not followed (rule 42)",
        UserWarning,
        stacklevel=4,
    )


def _links(folder: str, names: list[str]) -> list[str]:
    """``copytree``'s ignore: the symlinks in ``folder``, each skipped with a warning."""
    out = [n for n in names if os.path.islink(os.path.join(folder, n))]
    for name in out:
        _skip_link(os.path.join(folder, name))
    return out


def _copy_file(src: Path, dst: Path) -> None:
    if dst.exists() or not src.exists():
        return
    if src.is_symlink():
        _skip_link(str(src))
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".copying")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
