"""What every media type shares: the :class:`Media` base, the typed references stored in
history rows, the content-addressed file writer (writer thread) and the reader that turns
references back into media objects.

A media object is built on the training thread: it checks its input (a typed error naming the
shape, dtype or path and what is allowed) and keeps a private copy of the data. Encoding (PNG,
GIF, WAV, JSON) happens later on the run's writer thread, in :meth:`Media._encode`, just before
the rows referencing the object are committed; files are written to a temporary name and
renamed into place first, so a stored row never points at a half-written file.

A stored reference is a small JSON dict::

    {"_type": "image-file", "sha256": "...", "path": "media/images/<sha256>.png",
     "run": "<project>/<id>", "size": 1234, "width": 28, "height": 28, "caption": "a digit"}

``path`` is relative to the folder of the run that logged the file (``run``), so a fork reads
its parent's files where they are, without copies. A reference read back is checked: ``path``
must have the exact shape above and the run must be a plain project/id pair, so no stored value
can point outside a run's folder.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

#: reference types (``_type``) of the files and inline values nbrun stores
REF_TYPES = frozenset(
    {
        "image-file",
        "histogram",
        "table-file",
        "video-file",
        "audio-file",
        "html-file",
        "object3D-file",
        "plot-file",
    }
)

_OWN_FIELDS = frozenset({"_type", "sha256", "path", "run", "size", "caption"})
_PATH_RE = re.compile(r"media/[a-z0-9]+/[0-9a-f]{64}\.[a-z0-9]+(\.[a-z0-9]+)?")
_NAME_RE = re.compile(r"[^/\\\x00]+")

#: set once any media object was made in this process: writers only look for media after that
_seen = [False]


def media_seen() -> bool:
    """Whether any media object was created in this process (writers skip the scan before)."""
    return _seen[0]


def is_figure(value: object) -> bool:
    """Whether ``value`` is a matplotlib figure (without importing matplotlib)."""
    figure = getattr(sys.modules.get("matplotlib.figure"), "Figure", None)
    return isinstance(figure, type) and isinstance(value, figure)


def figure_image(fig: Any) -> Media:
    """A matplotlib figure as an ``Image`` (drawn now: the figure may change later)."""
    _load_types()
    return _classes["image-file"](fig)


_type_loader: list[Callable[[], None]] = []


def set_type_loader(load: Callable[[], None]) -> None:
    """How to import the media type modules on first use: the package (``media/__init__``,
    above them) sets it, so this base module never imports the types that import it."""
    _type_loader[:] = [load]


def _load_types() -> None:
    """Import the media type modules (they register their reference types)."""
    if len(_classes) < len(REF_TYPES):
        for load in _type_loader:
            load()


def is_ref(value: object) -> bool:
    """Whether ``value`` is a stored media reference (a dict with a known ``_type``)."""
    return type(value) is dict and value.get("_type") in REF_TYPES


def _text(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, got {type(value).__name__}")
    return str(value)


class Media:
    """Base of nbrun's media types (``Image``, ``Histogram``, ``Table``, ``Video``, ``Audio``,
    ``Html``, ``Object3D`` and ``nbrun.plot`` charts).

    A media object either holds data given on the training thread (not written yet) or points
    at a stored file (read back from history); both give the same accessors.
    """

    _ref_type: ClassVar[str] = ""
    _kind: ClassVar[str] = ""  # folder under media/

    caption: str | None
    #: the resolver that read this object back from an artifact (its files are entries there)
    _resolver: Resolver | None = None

    def __init__(self, caption: str | None = None) -> None:
        _seen[0] = True
        self.caption = _text(caption, f"{type(self).__name__}: caption")
        self._path: Path | None = None  # the stored file, once read back
        self._ref: dict[str, Any] | None = None
        self._lock = threading.Lock()

    # -- writer side ------------------------------------------------------------------------
    def logged_copy(self) -> Media:
        """What ``run.log`` keeps of this object: itself (media objects do not change after
        they are made), a snapshot for a ``Table``."""
        return self

    def _encode(self) -> tuple[bytes, str, dict[str, Any]]:
        """The file's bytes, its extension and extra reference fields (writer thread)."""
        raise NotImplementedError

    def to_ref(self, files: MediaFiles) -> dict[str, Any]:
        """Write the file (once) and return the reference to store (writer thread)."""
        with self._lock:
            if self._ref is not None and self._ref.get("run") == files.owner:
                return self._ref
            if self._path is not None and self._ref is not None and self._raw_copy_ok(files):
                same_project = str(self._ref.get("run", "")).split("/")[0]
                if same_project == files.owner.split("/")[0]:
                    return self._ref  # a run of this project owns it already: no copy
                data = self._path.read_bytes()
                # the extension as the reference names it (an artifact's blob has none)
                ext = str(self._ref.get("path", self._path.name)).rsplit("/", 1)[-1]
                ext = ext.split(".", 1)[1]
                extra = {k: v for k, v in self._ref.items() if k not in _OWN_FIELDS}
            else:
                data, ext, extra = self._encode()
            sha, rel = files.put(data, self._kind, ext)
            ref: dict[str, Any] = {
                "_type": self._ref_type,
                "sha256": sha,
                "path": rel,
                "run": files.owner,
                "size": len(data),
            }
            ref.update(extra)
            if self.caption is not None:
                ref["caption"] = self.caption
            self._ref = ref
            return ref

    def _raw_copy_ok(self, files: MediaFiles) -> bool:
        """Whether a read-back object is stored again by copying its file's bytes (a table is
        encoded again when its cells' files must move with it: see ``Table``)."""
        return True

    # -- read side --------------------------------------------------------------------------
    @classmethod
    def _from_ref(
        cls, ref: dict[str, Any], path: Path | None, resolver: Resolver | None = None
    ) -> Media:
        obj: Media = cls.__new__(cls)
        obj._read_back(ref, path, resolver)
        return obj

    def _read_back(self, ref: dict[str, Any], path: Path | None, resolver: Resolver | None) -> None:
        """Set up an object read back from a stored reference (no constructor checks)."""
        self.caption = ref.get("caption") if isinstance(ref.get("caption"), str) else None
        self._path = path
        self._ref = ref
        self._lock = threading.Lock()
        if resolver is not None:
            self._resolver = resolver
        self._load_ref(ref)

    def _load_ref(self, ref: dict[str, Any]) -> None:
        """Take type-specific fields from a stored reference."""

    @property
    def path(self) -> str | None:
        """The stored file (None until the object was logged and read back)."""
        return None if self._path is None else str(self._path)

    def _bytes(self) -> bytes:
        if self._path is not None:
            return self._path.read_bytes()
        return self._encode()[0]

    def file_bytes(self) -> bytes:
        """The bytes of the stored file (encoded now for an object not written yet)."""
        return self._bytes()

    def to_json(self) -> dict[str, Any] | None:
        """The stored reference (None for an object not written yet)."""
        return None if self._ref is None else dict(self._ref)

    def describe(self) -> str:
        """A short text description (what tables and summaries show)."""
        return type(self).__name__

    def __repr__(self) -> str:
        cap = f" caption={self.caption!r}" if self.caption is not None else ""
        return f"<{self.describe()}{cap}>"

    def _caption_html(self) -> str:
        if self.caption is None:
            return ""
        return f"<figcaption>{html.escape(self.caption)}</figcaption>"


# -- writing files (writer thread) -----------------------------------------------------------
class MediaFiles:
    """Content-addressed files of one run: ``<run folder>/media/<kind>/<sha256>.<ext>``.

    ``put`` writes a temporary file and renames it into place; a file already there (same
    content) is not written again.
    """

    #: the files are self-contained (an artifact's): a table's cells are stored beside it,
    #: never referred to in a run's folder
    standalone: ClassVar[bool] = False

    def __init__(self, run_dir: Path, owner: str) -> None:
        self.run_dir = run_dir
        self.owner = owner
        self._made: set[str] = set()

    def put(self, data: bytes, kind: str, ext: str) -> tuple[str, str]:
        """Store ``data``; return its sha256 and its path relative to the run folder."""
        sha = hashlib.sha256(data).hexdigest()
        rel = f"media/{kind}/{sha}.{ext}"
        target = self.run_dir / rel
        if target.exists() and target.stat().st_size == len(data):
            return sha, rel
        folder = target.parent
        if kind not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(kind)
        tmp = folder / f".{sha}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
        return sha, rel

    def convert(self, value: Any) -> Any:
        """``value`` with every media object replaced by its stored reference (recursing into
        dicts and lists)."""
        t = type(value)
        if isinstance(value, Media):
            try:
                return value.to_ref(self)
            except OSError:
                raise  # disk full, read-only ...: the writer keeps the rows and retries
            except Exception as exc:  # an encoder failure must not block the run's rows
                warnings.warn(
                    f"nbrun: a logged {type(value).__name__} could not be encoded and is stored "
                    f"as a missing value: {exc!r}",
                    RuntimeWarning,
                    stacklevel=1,
                )
                return None
        if t is dict:
            return {k: self.convert(v) for k, v in value.items()}
        if t is list:
            return [self.convert(v) for v in value]
        return value

    def convert_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A row with its media objects replaced by references (the row itself when none)."""
        for v in row.values():
            t = type(v)
            if t is dict or t is list or isinstance(v, Media):
                return {k: self.convert(v) for k, v in row.items()}
        return row


def has_media(value: Any) -> bool:
    """Whether ``value`` is or holds (in dicts/lists) a media object or a stored reference."""
    if isinstance(value, Media) or is_ref(value):
        return True
    t = type(value)
    if t is dict:
        return any(has_media(v) for v in value.values())
    if t is list:
        return any(has_media(v) for v in value)
    return False


# -- reading references back -----------------------------------------------------------------
_classes: dict[str, type[Media]] = {}


def register(cls: type[Media]) -> type[Media]:
    """Class decorator: the class that reads references of ``cls._ref_type``."""
    _classes[cls._ref_type] = cls
    return cls


class Resolver:
    """Turns stored references into media objects, with paths checked to stay inside the
    folder of the run named by the reference (under ``runs_root``, in ``project``)."""

    def __init__(self, runs_root: Path, project: str) -> None:
        self.runs_root = runs_root
        self.project = project
        self._cache: dict[str, Path | None] = {}
        self._folders: dict[str, Path] = {}

    def file(self, ref: dict[str, Any]) -> Path | None:
        """The checked absolute path of a reference's file, or None if it is not acceptable."""
        rel = ref.get("path")
        run = ref.get("run")
        if not isinstance(rel, str) or not isinstance(run, str):
            return None
        key = f"{run}\x00{rel}"
        if key in self._cache:
            return self._cache[key]
        path = self._check(run, rel)
        self._cache[key] = path
        return path

    def _check(self, run: str, rel: str) -> Path | None:
        if not _PATH_RE.fullmatch(rel):
            return None
        parts = run.split("/")
        if len(parts) != 2 or not all(_NAME_RE.fullmatch(p) for p in parts):
            return None
        project, run_id = parts
        if project != self.project or run_id in (".", "..") or project in (".", ".."):
            return None
        folder_rel, name = rel.rsplit("/", 1)  # "media/<kind>", "<sha256>.<ext>"
        key = f"{run}\x00{folder_rel}"
        folder = self._folders.get(key)
        if folder is None:  # resolved once per run and kind (symlinks included)
            top = (self.runs_root / project / run_id).resolve()
            folder = (top / folder_rel).resolve()
            # a run folder that is a symlink out of the store is not followed (rule 42)
            if top not in folder.parents or self.runs_root.resolve() not in top.parents:
                return None
            self._folders[key] = folder
        return folder / name

    def __call__(self, value: Any) -> Any:
        """``value`` with references turned into media objects (lists stay lists)."""
        t = type(value)
        if t is list:
            return [self(v) for v in value]
        if t is not dict or not is_ref(value):
            return value
        _load_types()
        cls = _classes.get(value["_type"])
        if cls is None:  # pragma: no cover - every REF_TYPE is registered
            return value
        if cls._kind == "":  # inline (histogram)
            return cls._from_ref(value, None, self._owner())
        path = self.file(value)
        if path is None:
            return UnreadableMedia(value, "its stored path is not inside a run folder")
        return cls._from_ref(value, path, self._owner())

    def _owner(self) -> Resolver | None:
        """The resolver the objects read back keep for their own cells (an artifact's)."""
        return None


class EntryResolver(Resolver):
    """Turns references stored in an artifact (rule 35: ``artifact.add(obj, name)``) into
    media objects: a reference's ``path`` (``media/<kind>/<sha256>.<ext>``, checked) names an
    entry of the artifact, and ``lookup`` gives that entry's stored file (None when it has
    none)."""

    def __init__(self, lookup: Callable[[str], Path | None]) -> None:
        super().__init__(Path("."), "")
        self._lookup = lookup

    def file(self, ref: dict[str, Any]) -> Path | None:
        """The stored file of the artifact entry the reference names, or None."""
        rel = ref.get("path")
        if not isinstance(rel, str) or not _PATH_RE.fullmatch(rel):
            return None
        return self._lookup(rel)

    def _owner(self) -> Resolver | None:
        """Objects read back from an artifact read their cells from it too."""
        return self


class UnreadableMedia:
    """A stored reference that cannot be read back (a damaged or forged path): kept, with why."""

    def __init__(self, ref: dict[str, Any], reason: str) -> None:
        self.ref = ref
        self.reason = reason

    def describe(self) -> str:
        """A short description."""
        return f"unreadable {self.ref.get('_type')}"

    def __repr__(self) -> str:
        return f"<UnreadableMedia {self.ref.get('_type')!s}: {self.reason}>"


def describe(value: Any) -> Any:
    """A short text for a media object or reference (others returned unchanged)."""
    if isinstance(value, (Media, UnreadableMedia)):
        return value.describe()
    if is_ref(value):
        _load_types()
        cls = _classes.get(value["_type"])
        if cls is not None:
            return cls._from_ref(value, None).describe()
    if type(value) is list and value and all(has_media(v) for v in value):
        return f"[{len(value)} x {describe(value[0])}]"
    if type(value) is dict and has_media(value):
        return {k: describe(v) for k, v in value.items()}
    return value


MediaHook = Callable[[Any], Any]
