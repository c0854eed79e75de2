"""Logging versions: coercing ``log_artifact``'s argument, committing, upserting and
finishing distributed versions, fetching by reference, aliases and links (the model
registry), reading records back (rules 35-37)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from .._store import Store
from ..errors import ArtifactNotFoundError
from .artifact import Artifact, from_record
from .names import _sanitize, check_aliases, check_collection_name, parse_ref


# -- logging -----------------------------------------------------------------------------------
def coerce(artifact_or_path: object, name: str | None, type: str | None, run_id: str) -> Artifact:
    """``log_artifact``'s first argument as an :class:`Artifact` (a path becomes a new one
    named ``run-<id>-<basename>``, type ``unspecified`` unless given)."""
    if isinstance(artifact_or_path, Artifact):
        return artifact_or_path
    if isinstance(artifact_or_path, (str, os.PathLike)):
        raw = os.fspath(artifact_or_path)
        if "://" in raw:
            art = Artifact(
                name or f"run-{run_id}-{Path(urlparse(raw).path).name}", type or "unspecified"
            )
            art.add_reference(raw)
            return art
        path = Path(raw)
        art_name = name or _sanitize(f"run-{run_id}-{path.name}")
        art = Artifact(art_name, type or "unspecified")
        if path.is_dir():
            art.add_dir(path)
        elif path.is_file():
            art.add_file(path)
        else:
            raise ValueError(f"log_artifact: path {raw!r} is no file or folder")
        return art
    raise ValueError(
        f"log_artifact: {artifact_or_path!r}; pass an nbrun.Artifact or a path to a file or folder"
    )


def log(
    store: Store,
    project: str,
    art: Artifact,
    aliases: object,
    tags: object,
    usage: tuple[int, str, int] | None,
) -> Artifact:
    """Store a version of ``art`` (blobs first, then one transaction) and bind ``art`` to it."""
    alias_list = check_aliases(aliases)
    tag_list = check_aliases(tags) if tags is not None else []
    return art._commit(store, project, alias_list, tag_list, usage)  # noqa: SLF001 - its module


def upsert(
    store: Store, project: str, art: Artifact, distributed_id: str, run_key: int, step: int
) -> Artifact:
    """Add ``art``'s files to the pending version of ``distributed_id`` (rule 35)."""
    return art._upsert(store, project, distributed_id, run_key, step)  # noqa: SLF001 - its module


def finish_distributed(
    store: Store,
    project: str,
    art: Artifact,
    distributed_id: str,
    aliases: object,
    run_key: int,
    step: int,
) -> Artifact:
    """Add ``art``'s files and commit the pending version as the next version (or the
    existing version with the same content)."""
    alias_list = check_aliases(aliases)
    art._upsert(store, project, distributed_id, run_key, step)  # noqa: SLF001 - its module
    return art._commit_pending(store, alias_list, run_key, step)  # noqa: SLF001 - its module


def fetch(
    store: Store | None, path: object, default_project: str | None, type: str | None = None
) -> Artifact:
    """The stored version ``path`` names (``[entity/][project/]name[:version|alias]``)."""
    project, name, ref = parse_ref(path, default_project)
    rec = store.artifact_at(project, name, ref) if store is not None else None
    if rec is None or store is None:
        versions = store.artifact_versions(project, name) if store is not None else []
        known = ", ".join(f"v{v.version}" for v in versions[-5:])
        raise ArtifactNotFoundError(
            f"no artifact {name}:{ref} in project {project!r}"
            + (
                f" (versions: {known}; aliases: latest and those given when logging)"
                if known
                else ""
            )
        )
    if type is not None and rec.type != type:
        raise ValueError(f"artifact {path!r} has type {rec.type!r}, not {type!r}")
    return from_record(store, rec)


def link(
    store: Store, art: Artifact, target_path: object, aliases: object, default_project: str
) -> Artifact:
    """Link a logged version into another collection (``project/name``; the model registry
    is the project ``model-registry``): a version there that points at the same files."""
    rec = art._logged("link_artifact")  # noqa: SLF001 - this module's own artifact
    if not isinstance(target_path, str) or not target_path:
        raise ValueError(f"link_artifact: target_path {target_path!r}; pass 'project/name'")
    parts = target_path.split("/")
    if len(parts) == 1:
        project, name = default_project, parts[0]
    elif len(parts) in (2, 3):
        project, name = parts[-2], parts[-1]
    else:
        raise ValueError(f"link_artifact: target_path {target_path!r}; pass 'project/name'")
    name = check_collection_name(name, "link_artifact target name")
    src_key = rec.source_key if rec.source_key is not None else rec.key
    fields = {
        "project": project,
        "name": name,
        "type": rec.type,
        "digest": rec.digest,
        "size": rec.size,
        "description": rec.description,
        "metadata": rec.metadata,
        "manifest": rec.manifest,
        "tags": [],
        "source_key": src_key,
    }
    key, _ = store.commit_artifact(fields, check_aliases(aliases), None)
    linked = store.artifact(key)
    assert linked is not None
    return from_record(store, linked)


def records(store: Store, pairs: list[tuple[int, int]]) -> list[Artifact]:
    """Artifacts for ``(artifact_key, step)`` pairs, each once, in order."""
    out: list[Artifact] = []
    seen: set[int] = set()
    for key, _step in pairs:
        if key in seen:
            continue
        seen.add(key)
        rec = store.artifact(key)
        if rec is not None:
            out.append(from_record(store, rec))
    return out
