"""Manifest entries and the manifest of an artifact version, and the media values an
artifact stores as entries (``add``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Protocol

from .. import media
from ..errors import UsageError


class EntryOwner(Protocol):
    """What an entry needs of its artifact (an :class:`~nbrun._artifacts.artifact.Artifact`;
    named by shape so this module does not import the one above it)."""

    def _download_entry(
        self, entry: ArtifactManifestEntry, root: str | os.PathLike[str] | None
    ) -> str: ...


# -- manifest entries --------------------------------------------------------------------------
class ArtifactManifestEntry:
    """One file of an artifact: ``path`` (its name in the artifact), ``digest`` (SHA-256),
    ``size``, ``ref`` (the ``file://`` URI of a reference, else None)."""

    def __init__(
        self,
        path: str,
        digest: str | None,
        size: int | None,
        ref: str | None = None,
        local_path: str | None = None,
        artifact: EntryOwner | None = None,
    ) -> None:
        self.path = path
        self.digest = digest
        self.size = size
        self.ref = ref
        self.local_path = local_path
        self._artifact = artifact

    @property
    def name(self) -> str:
        """The entry's path in the artifact (same as :attr:`path`)."""
        return self.path

    def download(self, root: str | os.PathLike[str] | None = None) -> str:
        """Write this entry under ``root`` (default: the artifact's download folder) and
        return the file's path."""
        art = self._artifact
        if art is None:
            return _local_path(self)
        return art._download_entry(self, root)  # noqa: SLF001 - the entry's own artifact

    def __repr__(self) -> str:
        return f"<ArtifactManifestEntry {self.path} ({self.size} bytes)>"


def _local_path(entry: ArtifactManifestEntry) -> str:
    """A draft entry's file (there is nothing stored to download yet)."""
    if entry.local_path is None:
        raise UsageError(f"entry {entry.path!r}: log the artifact before downloading")
    return entry.local_path


class ArtifactManifest:
    """An artifact's entries by path (``.entries``)."""

    def __init__(self, entries: dict[str, ArtifactManifestEntry]) -> None:
        self.entries = entries

    def get_entry_by_path(self, path: str) -> ArtifactManifestEntry | None:
        """The entry at ``path``, or None."""
        return self.entries.get(path)

    def to_manifest_json(self) -> dict[str, Any]:
        """The manifest as stored: ``{"contents": {path: {digest, size, ref}}}``."""
        return {
            "version": 1,
            "contents": {
                p: {"digest": e.digest, "size": e.size, "ref": e.ref}
                for p, e in sorted(self.entries.items())
            },
        }

    def __len__(self) -> int:
        return len(self.entries)


#: W&B's type suffixes of media entries (``<name>.<suffix>.json``), by reference type
_SUFFIX_OF = {"table-file": "table"}
_MEDIA_SUFFIXES = tuple(sorted(_SUFFIX_OF.get(t, t) for t in media.REF_TYPES))


def _media_entry_name(obj: Any, name: str) -> str:
    """``name`` with W&B's suffix for ``obj``'s type (kept when ``name`` already ends so)."""
    kind = obj._ref_type  # noqa: SLF001 - a media class's reference type (media/, read only)
    suffix = f".{_SUFFIX_OF.get(kind, kind)}.json"
    return name if name.endswith(suffix) else name + suffix


class _RecordingFiles(media.MediaFiles):
    """Media files written into an artifact's staging folder, remembering each one written."""

    standalone = True

    def __init__(self, run_dir: Path, owner: str) -> None:
        super().__init__(run_dir, owner)
        self.written: list[str] = []

    def put(self, data: bytes, kind: str, ext: str) -> tuple[str, str]:
        sha, rel = super().put(data, kind, ext)
        if rel not in self.written:
            self.written.append(rel)
        return sha, rel

    def convert(self, value: Any) -> Any:
        """A table cell's reference without its owner: its path names an entry of the same
        artifact, and the same cells give the same table bytes (stored once)."""
        out = super().convert(value)
        if media.is_ref(out):
            return {k: v for k, v in out.items() if k != "run"}
        return out


def _is_content_digest(entry: ArtifactManifestEntry, src: Path) -> bool:
    """A reference's digest is its content hash unless it was added with checksum=False."""
    size = src.stat().st_size
    return entry.digest != hashlib.sha256(f"{src.as_uri()}:{size}".encode()).hexdigest()
