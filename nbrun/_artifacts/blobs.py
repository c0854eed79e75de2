"""The blob store: content-addressed files under ``artifacts/blobs`` (temp, fsync, rename), their
manifest digest, and verified copies into a download root (rules 36, 42)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from .. import _paths
from .._files import check_name
from .._store import Store
from ..errors import StoreError, UnsafeEntryError

BLOBS = "artifacts/blobs"
TMP = "artifacts/tmp"
_CHUNK = 1 << 20


# -- blobs -----------------------------------------------------------------------------------
def blob_path(store: Store, digest: str) -> Path:
    """Where the blob with this SHA-256 lives (a digest read from the store is checked:
    rule 42)."""
    return _paths.blob(store.root, BLOBS, digest)


def drop_unused_blobs(store: Store) -> None:
    """Remove the blobs no remaining version names (after a run's versions were deleted,
    rule 40)."""
    keep = store.artifact_blob_digests()
    root = store.root / BLOBS
    base = os.path.realpath(store.root)
    for path in root.glob("*/*") if root.is_dir() else ():
        if path.name in keep or path.is_symlink() or not path.is_file():
            continue
        if os.path.commonpath([os.path.realpath(path.parent), base]) != base:
            continue  # a symlinked folder of a received store: never delete through it (rule 42)
        path.unlink(missing_ok=True)


def _hash_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def blob_ok(path: Path, digest: str, size: int | None = None) -> bool:
    """Whether a stored blob is complete: its bytes hash to its name."""
    try:
        if size is not None and path.stat().st_size != size:
            return False
        return _hash_file(path)[0] == digest
    except OSError:
        return False


def _disk_error(exc: OSError, what: str, store: Store) -> StoreError:
    full = exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    reason = "the disk is full" if full else str(exc)
    return StoreError(
        f"could not store {what} under {str(store.root / 'artifacts')!r}: {reason} ({exc}). "
        "Nothing of this version was registered; versions stored before are intact"
    )


#: temp files of blob writes older than this were left by a killed process: removed
STALE_TMP_SECONDS = 24 * 3600
_swept: set[Path] = set()


def sweep_stale_tmp(store: Store) -> None:
    """Remove temp files of blob writes that a killed process left (older than a day: a
    live write of another process is never that old). Once per store and process."""
    tmp_dir = store.root / TMP
    if tmp_dir in _swept:
        return
    _swept.add(tmp_dir)
    cutoff = time.time() - STALE_TMP_SECONDS
    with contextlib.suppress(OSError):
        for part in tmp_dir.glob("*.part"):
            with contextlib.suppress(OSError):
                if part.stat().st_mtime < cutoff:
                    part.unlink()


def put_blob(store: Store, src: Path, entry: str) -> tuple[str, int]:
    """Copy a file into the blob store (temp, fsync, rename) and return ``(digest, size)``."""
    sweep_stale_tmp(store)
    tmp_dir = store.root / TMP
    tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
    try:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(_CHUNK):
                h.update(chunk)
                fout.write(chunk)
                size += len(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        digest = h.hexdigest()
        final = blob_path(store, digest)
        if final.exists() and blob_ok(final, digest, size):
            tmp.unlink()
            return digest, size
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)  # replaces a damaged blob of that name too
        _fsync_dir(final.parent)
        return digest, size
    except FileNotFoundError as exc:
        raise ValueError(f"artifact entry {entry!r}: file {str(src)!r} is gone") from exc
    except OSError as exc:
        raise _disk_error(exc, f"entry {entry!r}", store) from exc
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                tmp.unlink()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def manifest_digest(manifest: dict[str, dict[str, Any]]) -> str:
    """The version's digest: SHA-256 over its sorted entry names, digests and references."""
    h = hashlib.sha256()
    for name in sorted(manifest):
        e = manifest[name]
        h.update(json.dumps([name, e["digest"], e.get("ref")]).encode())
    return h.hexdigest()


# -- safe downloads --------------------------------------------------------------------------
def safe_target(root: Path, name: object) -> Path:
    """The path an entry is written to under ``root``, refusing names that escape it."""
    try:
        clean = check_name(name, "artifact entry")
    except ValueError:
        raise UnsafeEntryError(
            f"artifact entry {name!r} would be written outside the download root "
            f"{str(root)!r} (absolute or '..' path); nothing was written for it"
        ) from None
    if clean != name:
        raise UnsafeEntryError(
            f"artifact entry {name!r} is not a plain relative path (stored as written by an "
            f"nbrun it would read {clean!r}); refusing to write it under {str(root)!r}"
        )
    return _paths.download_target(root, clean, "artifact entry", UnsafeEntryError)


def _copy_verified(src: Path, dest: Path, digest: str | None, entry: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if os.path.commonpath([os.path.realpath(dest.parent), str(dest.parent)]) != str(dest.parent):
        raise UnsafeEntryError(f"artifact entry {entry!r}: its folder moved during the download")
    tmp = dest.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        h = hashlib.sha256()
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(_CHUNK):
                h.update(chunk)
                fout.write(chunk)
        if digest is not None and h.hexdigest() != digest:
            raise StoreError(
                f"artifact entry {entry!r}: the stored bytes at {str(src)!r} do not match their "
                "digest (damaged or changed); not written"
            )
        os.replace(tmp, dest)  # a symlink at dest is replaced, never followed
    finally:
        if tmp.exists():
            tmp.unlink()
