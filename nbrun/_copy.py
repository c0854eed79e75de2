"""``nbrun.copy``: move runs between stores (a notebook's SQLite folder and a team's PostgreSQL
database, either way), with their lineage, archives, alerts, system samples, console lines,
artifact records and files. Ids stay the same, so fork links (``forked_from_id``) still point
at the right runs; each run is copied in one transaction of the destination, so a copy that
stops half way leaves whole runs only, and running it again copies the rest."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import _artifacts
from ._store import Store, loads
from ._views import run_path
from .errors import StoreError, UsageError


def copy(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    project: str | None = None,
) -> list[str]:
    """Copy the runs of ``src`` (a folder or a ``postgresql://`` URL; all projects, or only
    ``project``) into ``dst`` (created when missing). Runs ``dst`` already has (same project
    and id) are left alone. Returns ``"project/id"`` of every run copied, oldest first."""
    if project is not None and (not isinstance(project, str) or not project):
        raise UsageError(f"copy(project={project!r}): pass a project name or None (all)")
    for name, value in (("src", src), ("dst", dst)):
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise UsageError(f"copy({name}={value!r}): pass a folder or a postgresql:// URL")
    source = Store.open_existing(src)
    if source is None:
        raise StoreError(f"copy: {os.fspath(src)!r} holds no nbrun store; nothing was copied")
    runs = source.list_runs(project)
    for rec in runs:  # rule 44: a damaged chunk is refused before anything is written
        source.verify_segment(rec["key"], None)
    target = Store.open(dst)
    if target is source:
        raise UsageError(f"copy: source and destination are the same store ({source.path})")
    rows, aliases = source.export_artifacts(project)
    for row in rows:  # blobs first: a record never names a missing file
        for entry in loads(row["manifest"]).values():
            if not entry.get("ref"):
                _copy_file(
                    _artifacts.blob_path(source, entry["digest"]),
                    _artifacts.blob_path(target, entry["digest"]),
                )
    artifact_keys = target.import_artifacts(rows, aliases)
    copied = []
    for rec in runs:
        folder = run_path(source, rec["project"], rec["id"])
        if folder.is_dir():
            shutil.copytree(folder, run_path(target, rec["project"], rec["id"]), dirs_exist_ok=True)
        tables = source.export_run(rec["key"])
        if target.import_run(rec, tables, artifact_keys) is not None:
            copied.append(f"{rec['project']}/{rec['id']}")
    return copied


def _copy_file(src: Path, dst: Path) -> None:
    if dst.exists() or not src.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".copying")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
