"""Artifacts: versioned, content-addressed sets of files with lineage (rules 35-37).

Layout under ``<dir>/nbrun/``:

- ``artifacts/blobs/<sha[:2]>/<sha256>``: every file of every version, stored once across
  versions and runs (named by the SHA-256 of its bytes);
- ``artifacts/tmp/``: blobs being written (a temp file is fsynced, then renamed to its name);
- the database (migration 2): one row per version (its manifest maps entry names to
  ``{"digest", "size", "ref"}``), aliases per collection, and ``artifact_usage``: which run
  logged or used which version, at which step, in which history segment.

Writing a version: every blob is written (temp, fsync, rename; an existing blob is reused only
after its bytes hash to its name), then the version is registered in one transaction. A kill
at any point leaves either no version or a complete one; a partial blob is only ever a temp
file, never a name a later version would reuse.

Downloading: entry names come from the database, so they are checked again before any write:
a name that is absolute or climbs out with ``..``, or a folder inside the root that is a
symlink, raises :class:`~nbrun.errors.UnsafeEntryError` naming the entry; nothing is written
outside the root.

This package sits beside history (layer 4): the run and the views use it. ``logged_by`` /
``used_by`` return stored run views that ``_views`` registers in the action registry (the
views import this package, so it never imports them).

The package, one concept a module, each importing only the ones listed before it:

- ``names``: artifact, collection and alias names, references, metadata (the checks);
- ``blobs``: the blob store, the manifest digest, verified copies into a download root;
- ``manifest``: ``ArtifactManifestEntry``, ``ArtifactManifest``, media values as entries;
- ``artifact``: the ``Artifact`` class (drafts and logged versions) and ``from_record``;
- ``versions``: logging, upserting, fetching and linking versions, records read back;
- ``source``: ``log_code``'s file selection and name.
"""

from __future__ import annotations

import os  # noqa: F401 - tests reach os.fsync through this package (``_artifacts.os``)

from .artifact import Artifact, from_record
from .blobs import (
    BLOBS,
    STALE_TMP_SECONDS,
    TMP,
    blob_ok,
    blob_path,
    drop_unused_blobs,
    manifest_digest,
    put_blob,
    safe_target,
    sweep_stale_tmp,
)
from .manifest import ArtifactManifest, ArtifactManifestEntry
from .names import (
    MODEL_REGISTRY,
    check_aliases,
    check_artifact_name,
    check_collection_name,
    parse_ref,
)
from .source import code_artifact_name, collect_code, default_include, warn_no_code
from .versions import coerce, fetch, finish_distributed, link, log, records, upsert

__all__ = [
    "BLOBS",
    "MODEL_REGISTRY",
    "STALE_TMP_SECONDS",
    "TMP",
    "Artifact",
    "ArtifactManifest",
    "ArtifactManifestEntry",
    "blob_ok",
    "blob_path",
    "check_aliases",
    "check_artifact_name",
    "check_collection_name",
    "code_artifact_name",
    "coerce",
    "collect_code",
    "default_include",
    "drop_unused_blobs",
    "fetch",
    "finish_distributed",
    "from_record",
    "link",
    "log",
    "manifest_digest",
    "parse_ref",
    "put_blob",
    "records",
    "safe_target",
    "sweep_stale_tmp",
    "upsert",
    "warn_no_code",
]
