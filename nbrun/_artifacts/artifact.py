"""The :class:`Artifact`: a draft being built, or a logged version read back; adding,
reading, downloading and committing its entries (rules 35-37)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlparse

from .. import _actions, _paths, media
from .._files import check_name
from .._records import ArtifactRecord
from .._registry import current_run
from .._store import Store
from ..errors import StoreError, UnsafeEntryError, UsageError
from .blobs import (
    _copy_verified,
    _hash_file,
    blob_ok,
    blob_path,
    manifest_digest,
    put_blob,
    safe_target,
)
from .manifest import (
    _MEDIA_SUFFIXES,
    ArtifactManifest,
    ArtifactManifestEntry,
    _is_content_digest,
    _local_path,
    _media_entry_name,
    _RecordingFiles,
)
from .names import _NAME, _check_metadata, check_aliases, check_artifact_name


# -- the artifact ------------------------------------------------------------------------------
class Artifact:
    """A set of files logged as one versioned unit: ``nbrun.Artifact(name, type)``, then
    :meth:`add_file` / :meth:`add_dir` / :meth:`new_file` / :meth:`add_reference`, then
    ``run.log_artifact(artifact)``. A logged artifact is a version (``name:v0``) and can no
    longer change; read it with :meth:`download`, :meth:`file` and :meth:`get_entry`."""

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        incremental: bool = False,
        use_as: str | None = None,
    ) -> None:
        self._name = check_artifact_name(name)
        if not isinstance(type, str) or not _NAME.fullmatch(type):
            raise ValueError(
                f"artifact type {type!r}: use letters, digits, '-', '_' or '.' (e.g. 'model')"
            )
        if description is not None and not isinstance(description, str):
            raise ValueError(f"artifact description {description!r} must be a str or None")
        self.type = type
        self.description = description
        self._metadata = _check_metadata(metadata)
        self._entries: dict[str, ArtifactManifestEntry] = {}
        self._staging: str | None = None
        self._store: Store | None = None
        self._rec: ArtifactRecord | None = None
        self._tags: list[str] = []
        self.incremental = incremental
        self.use_as = use_as

    # -- identity ---------------------------------------------------------------------------
    def _bind(self, store: Store, rec: ArtifactRecord) -> None:
        self._store = store
        self._rec = rec
        self._name = rec.name
        self.type = rec.type
        self.description = rec.description
        self._metadata = dict(rec.metadata)
        self._tags = list(rec.tags)
        self._entries = {
            path: ArtifactManifestEntry(path, e["digest"], e["size"], e.get("ref"), artifact=self)
            for path, e in rec.manifest.items()
        }
        self._drop_staging()
        self.incremental = getattr(self, "incremental", False)
        self.use_as = getattr(self, "use_as", None)
        self._alias_list: list[str] | None = None
        self._alias_base: list[str] | None = None

    def _refresh(self) -> ArtifactRecord:
        if self._store is None or self._rec is None:
            raise UsageError(f"artifact {self._name!r} is not logged yet; log it with a run first")
        rec = self._store.artifact(self._rec.key)
        if rec is not None and rec.state == "MERGED":  # its content equalled a stored version
            rec = None if rec.source_key is None else self._store.artifact(rec.source_key)
        if rec is not None and rec != self._rec:
            self._bind(self._store, rec)
        return self._rec

    def _logged(self, what: str) -> ArtifactRecord:
        if self._rec is None:
            raise UsageError(
                f"artifact {self._name!r}: {what} needs a logged artifact; call "
                "run.log_artifact(artifact) first"
            )
        return self._refresh()

    @property
    def name(self) -> str:
        """``name`` before logging, ``name:v<N>`` once logged."""
        if self._rec is None or self._rec.version is None:
            return self._name
        return f"{self._name}:v{self._rec.version}"

    @property
    def source_name(self) -> str:
        """Same as :attr:`name` (nbrun has no portfolios apart from links)."""
        return self.name

    @property
    def collection_name(self) -> str:
        """The name without the version."""
        return self._name

    @property
    def version(self) -> str:
        """``v<N>``; a ``UsageError`` before the version exists."""
        rec = self._logged("version")
        if rec.version is None:
            raise UsageError(
                f"artifact {self._name!r} is pending: finish_artifact() gives it a version"
            )
        return f"v{rec.version}"

    @property
    def project(self) -> str | None:
        """The project it is stored in (None before logging)."""
        return None if self._rec is None else str(self._rec.project)

    @property
    def qualified_name(self) -> str:
        """``project/name:v<N>``."""
        return f"{self._logged('qualified_name').project}/{self.name}"

    @property
    def id(self) -> str | None:
        """The version's id in the store (None before logging)."""
        return None if self._rec is None else str(self._rec.key)

    @property
    def state(self) -> str:
        """``PENDING`` (not logged, or a distributed version not finished) or ``COMMITTED``."""
        return "PENDING" if self._rec is None else str(self._refresh().state)

    @property
    def aliases(self) -> list[str]:
        """The aliases pointing at this version (``latest`` first). Edit the list (or assign
        one) and call :meth:`save` to store the change, as in W&B."""
        if self._rec is None or self._store is None:
            return []
        edits = getattr(self, "_alias_list", None)
        if edits is None or edits == getattr(self, "_alias_base", None):  # no local edits
            fresh = self._store.artifact_aliases(self._rec.key)
            self._alias_base = list(fresh)
            edits = self._alias_list = list(fresh)
        return edits

    @aliases.setter
    def aliases(self, value: list[str]) -> None:
        self._logged("aliases")
        _ = self.aliases  # load the stored ones as the base of the edit
        self._alias_list = check_aliases(value)

    @property
    def tags(self) -> list[str]:
        """Tags given to ``log_artifact``."""
        return list(self._tags)

    @property
    def metadata(self) -> dict[str, Any]:
        """User metadata (a copy; assign a new dict to change it before logging)."""
        return dict(self._metadata)

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._metadata = _check_metadata(value)  # a logged version: stored by save()

    def save(self) -> Artifact:
        """A draft: log it with the current run. A logged version: store the edits of its
        :attr:`aliases`, :attr:`metadata` and :attr:`description` (its files never change)."""
        if self._rec is None:
            run = current_run()
            if run is None:
                raise UsageError(
                    f"artifact {self._name!r}: save() of a new artifact needs a run; call "
                    "nbrun.init() first or use run.log_artifact(artifact)"
                )
            return cast("Artifact", run.log_artifact(self))
        store = self._store
        assert store is not None
        if self.description is not None and not isinstance(self.description, str):
            raise ValueError(f"artifact description {self.description!r} must be a str or None")
        base = getattr(self, "_alias_base", None)
        edits = getattr(self, "_alias_list", None)
        add: list[str] = []
        remove: list[str] = []
        if edits is not None and base is not None:
            wanted = check_aliases(edits)
            add = [a for a in wanted if a not in base]
            remove = [a for a in base if a not in wanted and a != "latest"]
        store.update_artifact(self._rec.key, self._metadata, self.description, add, remove)
        rec = store.artifact(self._rec.key)
        assert rec is not None
        self._bind(store, rec)
        return self

    @property
    def digest(self) -> str:
        """SHA-256 over the entries' names and digests (same content, same digest)."""
        if self._rec is not None:
            return str(self._rec.digest)
        return manifest_digest(self._draft_manifest(hash_files=True))

    @property
    def size(self) -> int:
        """Total bytes of its entries."""
        return sum(e.size or 0 for e in self._entries.values())

    @property
    def created_at(self) -> float | None:
        """When the version was registered (Unix time)."""
        return None if self._rec is None else float(self._rec.created)

    @property
    def source_artifact(self) -> Artifact | None:
        """For a linked version (registry): the version it links to."""
        if self._rec is None or self._rec.source_key is None or self._store is None:
            return None
        rec = self._store.artifact(self._rec.source_key)
        return None if rec is None else from_record(self._store, rec)

    def is_draft(self) -> bool:
        """Whether the artifact is not logged yet."""
        return self._rec is None

    def _check_draft(self, what: str) -> None:
        if self._rec is not None:
            raise UsageError(
                f"artifact {self.name!r} is logged and cannot change ({what}); build a new "
                f"nbrun.Artifact({self._name!r}, {self.type!r}) for a new version"
            )

    # -- building -----------------------------------------------------------------------------
    def _add(self, entry: ArtifactManifestEntry, overwrite: bool) -> ArtifactManifestEntry:
        old = self._entries.get(entry.path)
        if old is not None and not overwrite:
            same = old.local_path == entry.local_path and old.ref == entry.ref
            if not same:
                raise ValueError(
                    f"artifact {self._name!r} already has an entry {entry.path!r}; pass "
                    "overwrite=True to replace it or give another name="
                )
        self._entries[entry.path] = entry
        return entry

    def add_file(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        is_tmp: bool | None = False,
        skip_cache: bool | None = False,
        policy: str | None = "mutable",
        overwrite: bool = False,
    ) -> ArtifactManifestEntry:
        """Add one file as entry ``name`` (default: its base name). Its bytes are read when
        the artifact is logged."""
        self._check_draft("add_file")
        path = Path(local_path)
        if not path.is_file():
            raise ValueError(f"add_file: {str(local_path)!r} is not a file")
        if policy not in (None, "mutable", "immutable"):
            raise ValueError(f"add_file: policy {policy!r}; allowed: 'mutable', 'immutable'")
        entry_name = check_name(name if name is not None else path.name, "artifact entry name")
        size = path.stat().st_size
        return self._add(
            ArtifactManifestEntry(
                entry_name, None, size, local_path=str(path.resolve()), artifact=self
            ),
            overwrite,
        )

    def add_dir(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        skip_cache: bool | None = False,
        policy: str | None = "mutable",
        merge: bool = False,
    ) -> None:
        """Add every file under a folder, named by its path relative to the folder (under
        ``name/`` when given)."""
        self._check_draft("add_dir")
        root = Path(local_path)
        if not root.is_dir():
            raise ValueError(f"add_dir: {str(local_path)!r} is not a folder")
        prefix = check_name(name, "add_dir name") + "/" if name else ""
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fname in sorted(filenames):
                full = Path(dirpath) / fname
                if full.is_file():
                    rel = full.relative_to(root).as_posix()
                    self.add_file(full, name=prefix + rel, policy=policy, overwrite=merge)

    @contextlib.contextmanager
    def new_file(
        self, name: str, mode: str = "x", encoding: str | None = None
    ) -> Iterator[io.IOBase]:
        """Write a new entry in place: ``with artifact.new_file("notes.txt") as f: ...``."""
        self._check_draft("new_file")
        entry_name = check_name(name, "new_file name")
        if mode not in ("w", "x", "wb", "xb"):
            raise ValueError(f"new_file: mode {mode!r}; allowed: 'w', 'x', 'wb', 'xb'")
        if entry_name in self._entries and "x" in mode:
            raise ValueError(f"new_file: artifact {self._name!r} already has {entry_name!r}")
        if self._staging is None:
            self._staging = tempfile.mkdtemp(prefix="nbrun-artifact-")
        path = Path(self._staging) / entry_name
        path.parent.mkdir(parents=True, exist_ok=True)
        if "b" in mode:
            f: Any = open(path, mode.replace("x", "w"))
        else:
            f = open(path, mode.replace("x", "w"), encoding=encoding or "utf-8")
        try:
            yield f
        finally:
            f.close()
        self.add_file(path, name=entry_name, overwrite=True)

    def add_reference(
        self,
        uri: str,
        name: str | None = None,
        checksum: bool = True,
        max_objects: int | None = None,
    ) -> list[ArtifactManifestEntry]:
        """Track a file (or a folder's files) by ``file://`` URI without copying it; other
        schemes are not supported offline."""
        self._check_draft("add_reference")
        if not isinstance(uri, str):
            raise ValueError(f"add_reference: uri {uri!r} must be a str")
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise UsageError(
                f"add_reference: {uri!r} has scheme {parsed.scheme or '(none)'!r}; nbrun is "
                "offline and tracks only file:// references (copy remote data locally first)"
            )
        target = Path(unquote(parsed.netloc + parsed.path))
        if target.is_dir():
            files = sorted(p for p in target.rglob("*") if p.is_file())
            if max_objects is not None and len(files) > max_objects:
                raise ValueError(
                    f"add_reference: {uri!r} holds {len(files)} files, more than "
                    f"max_objects={max_objects}"
                )
            prefix = check_name(name, "add_reference name") + "/" if name else ""
            items = [(p, prefix + p.relative_to(target).as_posix()) for p in files]
        elif target.is_file():
            items = [(target, check_name(name or target.name, "add_reference name"))]
        else:
            raise ValueError(f"add_reference: {uri!r} names no file or folder")
        out = []
        for path, entry_name in items:
            if checksum:
                digest, size = _hash_file(path)
            else:
                size = path.stat().st_size
                digest = hashlib.sha256(f"{path.as_uri()}:{size}".encode()).hexdigest()
            out.append(
                self._add(
                    ArtifactManifestEntry(
                        entry_name, digest, size, ref=path.as_uri(), artifact=self
                    ),
                    True,
                )
            )
        return out

    def add(self, obj: Any, name: str, overwrite: bool = False) -> ArtifactManifestEntry:
        """Add a media object (``Table``, ``Image``, ``Audio``, ``Video``, ``Html``,
        ``Object3D``, ``Histogram``, a ``nbrun.plot`` chart) as entry ``<name>.<type>.json``
        (``"my_table"`` -> ``my_table.table.json``), as W&B's ``Artifact.add`` does; read it
        back with :meth:`get`. Its files (a table's images too) become entries
        ``media/<kind>/<sha256>.<ext>``, stored once however many artifacts, versions or
        runs hold them (rule 35). Returns the JSON entry."""
        self._check_draft("add")
        if not isinstance(obj, media.Media):
            raise TypeError(
                f"add: {type(obj).__name__} is not an nbrun media object; add Table, Image, "
                "Audio, Video, Html, Object3D, Histogram or a plot (add_file for files)"
            )
        entry_name = _media_entry_name(obj, check_name(name, "add name"))
        old = self._entries.get(entry_name)
        if old is not None and not overwrite:
            return old  # W&B: the same name again returns the entry already there
        if self._staging is None:
            self._staging = tempfile.mkdtemp(prefix="nbrun-artifact-")
        staging = Path(self._staging)
        files = _RecordingFiles(staging, f"artifact:{uuid.uuid4().hex}")
        stored = obj.logged_copy().to_ref(files)  # an encoder error raises here
        ref = {k: v for k, v in stored.items() if k != "run"}
        for rel in files.written:
            self.add_file(staging / rel, name=rel, overwrite=True)
        target = staging / "refs" / uuid.uuid4().hex
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(ref, sort_keys=True, allow_nan=True), encoding="utf-8")
        return self.add_file(target, name=entry_name, overwrite=True)

    def get(self, name: str) -> Any:
        """The media object added as ``name`` with :meth:`add` (``"my_table"`` or its entry
        name ``"my_table.table.json"``), read back as that type (W&B's ``Artifact.get``), or
        None when the artifact has no such entry. Only for a logged version."""
        self._logged("get")
        if not isinstance(name, str):
            raise TypeError(f"get: name {name!r} must be a str")
        candidates = [name] if name.endswith(".json") else []
        candidates += [f"{name}.{suffix}.json" for suffix in _MEDIA_SUFFIXES]
        entry = next((self._entries[c] for c in candidates if c in self._entries), None)
        if entry is None:
            return None
        path = self._verified_blob(entry)
        try:
            ref = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise StoreError(
                f"artifact {self.name!r}: entry {entry.path!r} is not a stored media object: {exc}"
            ) from None
        if not media.is_ref(ref):
            raise StoreError(
                f"artifact {self.name!r}: entry {entry.path!r} is not a stored media object"
            )
        checked: dict[str, Path | None] = {}

        def lookup(rel: str) -> Path | None:
            if rel not in checked:
                e = self._entries.get(rel)
                checked[rel] = None if e is None or e.ref is not None else self._verified_blob(e)
            return checked[rel]

        obj = media.EntryResolver(lookup)(ref)
        if isinstance(obj, media.UnreadableMedia):
            raise StoreError(
                f"artifact {self.name!r}: entry {entry.path!r} names a file the artifact does "
                f"not hold ({ref.get('path')!r})"
            )
        return obj

    def _verified_blob(self, entry: ArtifactManifestEntry) -> Path:
        """The stored file of a (non-reference) entry after its bytes hashed to its digest."""
        store = self._store
        assert store is not None
        digest = entry.digest
        if digest is None or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise UnsafeEntryError(f"artifact entry {entry.path!r}: bad digest {digest!r}")
        path = blob_path(store, digest)
        if not blob_ok(path, digest):
            raise StoreError(
                f"artifact {self.name!r}: entry {entry.path!r} is missing or damaged at "
                f"{str(path)!r} (its bytes do not match its digest)"
            )
        return path

    def remove(self, item: str | ArtifactManifestEntry) -> None:
        """Remove an entry (by name or entry) before logging."""
        self._check_draft("remove")
        name = item.path if isinstance(item, ArtifactManifestEntry) else item
        if name not in self._entries:
            raise FileNotFoundError(f"artifact {self._name!r} has no entry {name!r}")
        del self._entries[name]

    # -- reading ------------------------------------------------------------------------------
    @property
    def manifest(self) -> ArtifactManifest:
        """The entries (digests are computed for a draft's local files)."""
        if self._rec is None:
            self._draft_manifest(hash_files=True)
        else:
            self._refresh()
        return ArtifactManifest(dict(self._entries))

    def get_entry(self, name: str) -> ArtifactManifestEntry:
        """The entry named ``name``; ``KeyError`` when there is none."""
        if self._rec is not None:
            self._refresh()
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(
                f"artifact {self.name!r} has no entry {name!r}; entries: "
                f"{', '.join(sorted(self._entries)[:20]) or '(none)'}"
            ) from None

    def get_path(self, name: str) -> ArtifactManifestEntry:
        """Same as :meth:`get_entry`."""
        return self.get_entry(name)

    def files(self) -> list[ArtifactManifestEntry]:
        """Its entries, by path."""
        return [self._entries[k] for k in sorted(self._entries)]

    def _download_entry(
        self, entry: ArtifactManifestEntry, root: str | os.PathLike[str] | None
    ) -> str:
        """``entry.download(root)``: the draft's file, or the stored entry written out."""
        if self._rec is None:
            return _local_path(entry)
        base = Path(root) if root is not None else self._default_root()
        return str(self._write_entry(base, entry))

    def _default_root(self) -> Path:
        return _paths.join(Path(os.getcwd()) / "artifacts", self.name, "stored artifact name")

    def _write_entry(self, root: Path, entry: ArtifactManifestEntry) -> Path:
        store = self._store
        assert store is not None
        target = safe_target(root, entry.path)
        if entry.ref is not None:
            src = Path(unquote(urlparse(entry.ref).path))
            digest = entry.digest if src.is_file() and _is_content_digest(entry, src) else None
        else:
            if entry.digest is None or not re.fullmatch(r"[0-9a-f]{64}", entry.digest):
                raise UnsafeEntryError(
                    f"artifact entry {entry.path!r}: bad digest {entry.digest!r}"
                )
            src = blob_path(store, entry.digest)
            digest = entry.digest
        if not src.is_file():
            raise StoreError(
                f"artifact {self.name!r}: entry {entry.path!r} is missing its data at {str(src)!r}"
            )
        _copy_verified(src, target, digest, entry.path)
        return target

    def download(
        self,
        root: str | os.PathLike[str] | None = None,
        allow_missing_references: bool = False,
        skip_cache: bool | None = None,
        path_prefix: str | None = None,
    ) -> str:
        """Write every entry under ``root`` (default ``./artifacts/<name>:v<N>``) and return
        the folder. Entry names that would escape the root raise ``UnsafeEntryError`` before
        anything is written."""
        self._logged("download")
        base = Path(root) if root is not None else self._default_root()
        base = base if base.is_absolute() else Path(os.getcwd()) / base
        entries = [e for p, e in sorted(self._entries.items()) if p.startswith(path_prefix or "")]
        for e in entries:  # check every name first: a bad manifest writes nothing
            safe_target(base, e.path)
        base.mkdir(parents=True, exist_ok=True)
        for e in entries:
            try:
                self._write_entry(base, e)
            except StoreError:
                if e.ref is not None and allow_missing_references:
                    continue
                raise
        return str(base)

    def file(self, root: str | os.PathLike[str] | None = None) -> str:
        """Download an artifact of exactly one entry and return that file's path."""
        self._logged("file")
        if len(self._entries) != 1:
            raise ValueError(
                f"artifact {self.name!r} has {len(self._entries)} entries; file() needs exactly "
                "one (use download() or get_entry(name).download())"
            )
        folder = self.download(root)
        return str(Path(folder) / next(iter(self._entries)))

    def wait(self, timeout: float | None = None) -> Artifact:
        """Return once the version is committed (a distributed version: when some run calls
        ``finish_artifact``); ``TimeoutError`` after ``timeout`` seconds."""
        self._logged("wait")
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._refresh().state != "COMMITTED":
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"artifact {self._name!r} is still pending after {timeout}s")
            time.sleep(0.05)
        return self

    def logged_by(self) -> Any:
        """The run that logged this version (for a registry link: the source's) as a
        :class:`~nbrun.StoredRun`, or None."""
        stored_run = _actions.get("stored_run")  # a StoredRun view (_views registers it)
        rec = self._logged("logged_by")
        store = self._store
        assert store is not None
        key = rec.source_key if rec.source_key is not None else rec.key
        users = store.artifact_users(key, "output")
        if not users:
            return None
        run = store.get_run_by_key(users[0][0])
        return None if run is None else stored_run(store, run)

    def used_by(self) -> list[Any]:
        """The runs that used this version (``use_artifact``) as :class:`~nbrun.StoredRun`
        views, oldest first."""
        stored_run = _actions.get("stored_run")  # a StoredRun view (_views registers it)
        rec = self._logged("used_by")
        store = self._store
        assert store is not None
        out: list[Any] = []
        seen: set[int] = set()
        for run_key, _seg in store.artifact_users(rec.key, "input"):
            run = store.get_run_by_key(run_key)
            if run is not None and run_key not in seen:
                seen.add(run_key)
                out.append(stored_run(store, run))
        return out

    # -- internals ----------------------------------------------------------------------------
    def _draft_manifest(self, hash_files: bool) -> dict[str, dict[str, Any]]:
        out = {}
        for path, e in self._entries.items():
            if e.digest is None and hash_files and e.local_path is not None:
                e.digest, e.size = _hash_file(Path(e.local_path))
            out[path] = {"digest": e.digest, "size": e.size, "ref": e.ref}
        return out

    # -- storing a version (the module functions log / upsert / finish_distributed) -----------
    def _blobs_for(self, store: Store) -> dict[str, dict[str, Any]]:
        """Write every local entry's blob; the manifest to register."""
        manifest: dict[str, dict[str, Any]] = {}
        for path, e in sorted(self._entries.items()):
            if e.ref is not None:
                manifest[path] = {"digest": e.digest, "size": e.size, "ref": e.ref}
                continue
            if e.local_path is None:
                if self._rec is None or self._store is None or e.digest is None:
                    raise ValueError(f"artifact entry {path!r} has no data")
                if self._store is store:  # already a stored version here: its blobs exist
                    manifest[path] = {"digest": e.digest, "size": e.size, "ref": None}
                    continue
                src = blob_path(self._store, e.digest)  # a version of another store: copy it
                if not blob_ok(src, e.digest, e.size):
                    raise StoreError(
                        f"artifact entry {path!r}: its stored bytes at {str(src)!r} are damaged"
                    )
                digest, size = put_blob(store, src, path)
            else:
                digest, size = put_blob(store, Path(e.local_path), path)
            manifest[path] = {"digest": digest, "size": size, "ref": None}
        return manifest

    def _fields(
        self, project: str, manifest: dict[str, dict[str, Any]], tags: list[str]
    ) -> dict[str, Any]:
        return {
            "project": project,
            "name": self._name,
            "type": self.type,
            "digest": manifest_digest(manifest),
            "size": sum(int(e["size"] or 0) for e in manifest.values()),
            "description": self.description,
            "metadata": self._metadata,
            "manifest": manifest,
            "tags": tags,
        }

    def _commit(
        self,
        store: Store,
        project: str,
        alias_list: list[str],
        tag_list: list[str],
        usage: tuple[int, str, int] | None,
    ) -> Artifact:
        rec = self._rec
        if rec is not None and self._store is store and rec.state == "COMMITTED":
            key, _ = store.commit_artifact(
                self._fields(rec.project, rec.manifest, tag_list), alias_list, usage
            )
        else:
            manifest = self._blobs_for(store)
            key, _ = store.commit_artifact(
                self._fields(project, manifest, tag_list), alias_list, usage
            )
        rec2 = store.artifact(key)
        assert rec2 is not None
        self._bind(store, rec2)
        return self

    def _upsert(
        self, store: Store, project: str, distributed_id: str, run_key: int, step: int
    ) -> Artifact:
        manifest = self._blobs_for(store)
        fields = self._fields(project, manifest, [])
        key = store.upsert_pending(fields, distributed_id, manifest)
        store.add_usage(key, run_key, "output", step)
        rec = store.artifact(key)
        assert rec is not None
        self._bind(store, rec)
        return self

    def _commit_pending(
        self, store: Store, alias_list: list[str], run_key: int, step: int
    ) -> Artifact:
        rec = self._rec
        assert rec is not None
        fields = self._fields(rec.project, rec.manifest, [])
        fields["metadata"] = rec.metadata
        key, _ = store.commit_artifact(fields, alias_list, (run_key, "output", step), rec.key)
        rec2 = store.artifact(key)
        assert rec2 is not None
        self._bind(store, rec2)
        return self

    def _drop_staging(self) -> None:
        staging = getattr(self, "_staging", None)  # unset on a version read back (from_record)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        self._staging = None

    def __repr__(self) -> str:
        state = "draft" if self._rec is None else self.state.lower()
        return f"<Artifact {self.name} type={self.type} ({len(self._entries)} files, {state})>"


def from_record(store: Store, rec: ArtifactRecord) -> Artifact:
    """The logged version ``rec`` of ``store`` as an :class:`Artifact` (no constructor checks:
    the record was checked when it was stored)."""
    art = Artifact.__new__(Artifact)
    art._bind(store, rec)  # noqa: SLF001 - its module: a version read back, not a draft
    return art
