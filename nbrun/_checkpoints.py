"""Checkpoints: training state saved as files in a run's folder, written atomically.

A checkpoint taken when ``run.step == S`` belongs to step ``S - 1`` (the last written row):
a fork from it inherits rows up to ``S - 1`` and continues at ``S``. Files are named
``checkpoints/step-<step>.<suffix>`` in the run's folder; a fork never copies its parent's
checkpoints, it reads them where they are. Rewinds move checkpoints past the rewind step into
``checkpoints/archive-<n>/`` (nothing is deleted).

Trust (rule 45): every checkpoint nbrun writes is signed with an HMAC-SHA256 under the user's
key (``NBRUN_KEY``, else the file ``NBRUN_KEY_FILE``, else ``~/.config/nbrun/key``, made on first
use, mode 0600), kept beside it as ``<file>.sig``. The signature covers the file's bytes and what
it claims to be (run id, step, format), so a file replaced on disk or moved to another run or
step does not verify. Only a verified checkpoint, or one the caller trusts (``trust=True``), is
unpickled. State of plain values and numpy arrays is saved without pickle (``.npz``: JSON plus
``.npy`` arrays) and torch state is read with ``torch.load(weights_only=True)`` when not
verified, so common state restores from any store without running its code.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import io
import json
import os
import pickle
import re
import secrets
import sys
import uuid
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .errors import StoreError, UntrustedCheckpointError, UsageError

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"step-(\d{10})\.(pkl|pt|npz)")
SIG_SUFFIX = ".sig"
"""A checkpoint's signature file is its file name plus this (rule 45)."""
_SIG_MAX = 4096
KEY_ENV = "NBRUN_KEY"
KEY_FILE_ENV = "NBRUN_KEY_FILE"


class Serializer(Protocol):
    """How checkpoint objects are written and read."""

    name: str
    suffix: str

    def dump(self, obj: Any, f: BinaryIO) -> None:
        """Write ``obj`` to the binary file ``f``."""

    def load(self, f: BinaryIO) -> Any:
        """Read an object from the binary file ``f``."""


class PickleSerializer:
    """The default: :mod:`pickle` with the highest protocol."""

    name = "pickle"
    suffix = "pkl"

    def dump(self, obj: Any, f: BinaryIO) -> None:
        """Pickle ``obj`` into ``f``."""
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, f: BinaryIO) -> Any:
        """Unpickle from ``f``."""
        return pickle.load(f)


class TorchSerializer:
    """``torch.save`` / ``torch.load``, chosen when the state holds torch objects (torch is
    imported only then; it is not a dependency of nbrun)."""

    name = "torch"
    suffix = "pt"

    def dump(self, obj: Any, f: BinaryIO) -> None:
        """``torch.save(obj, f)``."""
        import torch  # noqa: PLC0415 - optional, only for torch state

        torch.save(obj, f)

    def load(self, f: BinaryIO) -> Any:
        """``torch.load(f)`` (full objects: only for a checkpoint that verified, rule 45)."""
        import torch  # noqa: PLC0415 - optional, only for torch state

        return torch.load(f, weights_only=False)

    def load_weights(self, f: BinaryIO) -> Any:
        """``torch.load(f, weights_only=True)``: tensors, dicts, lists and plain values only,
        no code runs (for a checkpoint that did not verify)."""
        import torch  # noqa: PLC0415 - optional, only for torch state

        return torch.load(f, weights_only=True)


class _NotPlain(Exception):
    """A value the plain format cannot hold exactly (it is saved with pickle instead)."""


_SCALARS = (type(None), bool, int, float, str)
_PLAIN_DEPTH = 200


def _encode_plain(obj: Any, arrays: list[Any], seen: set[int], depth: int = 0) -> Any:
    """``obj`` as JSON nodes: scalars as themselves, containers tagged (``d`` dict, ``o``
    OrderedDict, ``l`` list, ``t`` tuple, as lists of nodes), numpy arrays and scalars as the
    index of an ``.npy`` entry (``a``, ``s``). Exact types only; a mutable container or array met
    twice (shared or recursive) is not plain, so identity is never lost silently."""
    kind = type(obj)
    if kind in _SCALARS:
        return obj
    if depth > _PLAIN_DEPTH or id(obj) in seen:
        raise _NotPlain
    np = sys.modules.get("numpy")
    if np is not None and (kind is np.ndarray or isinstance(obj, np.generic)):
        if obj.dtype.hasobject:
            raise _NotPlain
        if kind is np.ndarray:
            seen.add(id(obj))
        arrays.append(obj if kind is np.ndarray else np.asarray(obj))
        return {"a" if kind is np.ndarray else "s": len(arrays) - 1}
    if kind is not tuple:  # a tuple is immutable: one shared twice (``()``) loses nothing
        seen.add(id(obj))
    if kind is list or kind is tuple:
        return {
            "l" if kind is list else "t": [_encode_plain(v, arrays, seen, depth + 1) for v in obj]
        }
    if kind is dict or kind is collections.OrderedDict:
        pairs = [
            [_encode_plain(k, arrays, seen, depth + 1), _encode_plain(v, arrays, seen, depth + 1)]
            for k, v in obj.items()
        ]
        return {"d" if kind is dict else "o": pairs}
    raise _NotPlain


def _decode_plain(node: Any, array: Any) -> Any:
    if not isinstance(node, dict):
        return node
    ((tag, body),) = node.items()
    if tag == "a":
        return array(body)
    if tag == "s":
        return array(body)[()]
    if tag in ("l", "t"):
        items = [_decode_plain(v, array) for v in body]
        return items if tag == "l" else tuple(items)
    pairs = ((_decode_plain(k, array), _decode_plain(v, array)) for k, v in body)
    if tag == "d":
        return dict(pairs)
    if tag == "o":
        return collections.OrderedDict(pairs)
    raise ValueError(f"unknown node {tag!r} in a plain checkpoint")


def is_plain(obj: Any) -> bool:
    """Whether ``obj`` is state the plain format holds exactly: None, bool, int, float, str,
    numpy arrays and scalars (no object dtype), and lists, tuples, dicts and OrderedDicts of
    them (keys too), no list, dict or array met twice."""
    try:
        _encode_plain(obj, [], set())
    except (_NotPlain, RecursionError):
        return False
    return True


class PlainSerializer:
    """Plain state without pickle (rule 45): a zip of ``state.json`` (the structure) and one
    ``a<i>.npy`` per numpy array (``allow_pickle=False``). Reading it runs no stored code, so
    it restores from any store, signed or not."""

    name = "plain"
    suffix = "npz"

    def dump(self, obj: Any, f: BinaryIO) -> None:
        """Write ``obj`` (plain state, :func:`is_plain`) into ``f``."""
        arrays: list[Any] = []
        try:
            tree = _encode_plain(obj, arrays, set())
        except (_NotPlain, RecursionError):
            raise UsageError(
                f"checkpoint serializer 'plain' holds None, bool, int, float, str, numpy "
                f"arrays and lists, tuples and dicts of them; got {type(obj).__name__} "
                "state with other objects: use serializer='pickle' (or the default)"
            ) from None
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
            z.writestr("state.json", json.dumps(tree))
            if arrays:
                import numpy as np  # noqa: PLC0415 - heavy, only for array state

                for i, a in enumerate(arrays):
                    with z.open(f"a{i}.npy", "w", force_zip64=True) as out:
                        np.lib.format.write_array(out, a, allow_pickle=False)

    def load(self, f: BinaryIO) -> Any:
        """Read plain state from ``f`` (no pickle)."""
        with zipfile.ZipFile(f) as z:
            tree = json.loads(z.read("state.json"))

            def array(i: int) -> Any:
                import numpy as np  # noqa: PLC0415 - heavy, only for array state

                raw = io.BytesIO(z.read(f"a{int(i)}.npy"))  # one read: ~3x faster than streaming
                return np.lib.format.read_array(raw, allow_pickle=False)

            return _decode_plain(tree, array)


SERIALIZERS: dict[str, Serializer] = {
    "plain": PlainSerializer(),
    "pickle": PickleSerializer(),
    "torch": TorchSerializer(),
}
_BY_SUFFIX = {s.suffix: s for s in SERIALIZERS.values()}


def _holds_torch(obj: Any, depth: int = 3) -> bool:
    if "torch" not in sys.modules:
        return False
    module = type(obj).__module__ or ""
    if module == "torch" or module.startswith("torch."):
        return True
    if depth <= 0:
        return False
    if isinstance(obj, dict):
        return any(_holds_torch(v, depth - 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_holds_torch(v, depth - 1) for v in obj[:50])
    return False


def choose_serializer(obj: Any, serializer: str | Serializer | None = None) -> Serializer:
    """The serializer for ``obj``: the one given (a name or an object), torch for torch
    state, plain for plain state (:func:`is_plain`: no pickle, rule 45), else pickle."""
    if serializer is None:
        if _holds_torch(obj):
            return SERIALIZERS["torch"]
        return SERIALIZERS["plain"] if is_plain(obj) else SERIALIZERS["pickle"]
    if isinstance(serializer, str):
        try:
            return SERIALIZERS[serializer]
        except KeyError:
            raise UsageError(
                f"checkpoint serializer {serializer!r}; allowed: {', '.join(SERIALIZERS)} "
                "or an object with name, suffix, dump(obj, f) and load(f)"
            ) from None
    for attr in ("name", "suffix", "dump", "load"):
        if not hasattr(serializer, attr):
            raise UsageError(f"checkpoint serializer {serializer!r} has no {attr!r}")
    return serializer


# -- the user's key and signatures (rule 45) ----------------------------------------------------
def key_file() -> Path:
    """Where the user's checkpoint key is kept: ``NBRUN_KEY_FILE``, else
    ``$XDG_CONFIG_HOME/nbrun/key`` (``~/.config/nbrun/key``)."""
    given = os.environ.get(KEY_FILE_ENV)
    if given:
        return Path(given).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "nbrun" / "key"


def _create_key(path: Path) -> None:
    """A new random key at ``path`` (mode 0600), made whole before it appears: of processes
    creating it at once, one's key is kept and all use it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def signing_key(create: bool = False) -> bytes | None:
    """The user's checkpoint key: ``NBRUN_KEY`` (a team's shared secret), else the key file
    (made on first use when ``create``); None when there is none yet."""
    text = os.environ.get(KEY_ENV)
    if text is not None:
        if not text.strip():
            raise UsageError(f"{KEY_ENV}={text!r} is blank: set it to the team's key or unset it")
        return text.strip().encode()
    path = key_file()
    try:
        data = path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            return None
        _create_key(path)
        data = path.read_bytes().strip()
    if not data:
        raise UsageError(
            f"checkpoint key file {path} is empty: delete it (nbrun makes a new key) or put the "
            f"key in it; {KEY_ENV} sets the key instead"
        )
    return data


def key_id(key: bytes) -> str:
    """A short name of a key, shown in messages (it reveals nothing of the key)."""
    return hmac.new(key, b"nbrun-key-id", hashlib.sha256).hexdigest()[:12]


def _format(ck: Checkpoint) -> Serializer:
    known = SERIALIZERS.get(ck.serializer)
    return known if known is not None else _BY_SUFFIX[Path(ck.path).suffix[1:]]


def _mac(key: bytes, run_id: str, step: int, fmt: str, digest: str) -> str:
    message = "\0".join(("nbrun-checkpoint-1", run_id, str(int(step)), fmt, digest))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _write_signature(path: str, run_id: str, step: int, fmt: str, data: bytes, key: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    side = {
        "run_id": run_id,
        "step": step,
        "format": fmt,
        "sha256": digest,
        "key_id": key_id(key),
        "hmac": _mac(key, run_id, step, fmt, digest),
    }
    final = Path(path + SIG_SUFFIX)
    tmp = final.with_name(f".tmp-{uuid.uuid4().hex}{SIG_SUFFIX}")
    try:
        tmp.write_text(json.dumps(side) + "\n")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _why_untrusted(ck: Checkpoint, data: bytes) -> str | None:
    """None when ``data`` (the checkpoint's bytes) carries a signature by the user's key for
    what ``ck`` claims (run, step, format); else why not, in words."""
    return _verdict(ck, data)[0]


def _verdict(ck: Checkpoint, data: bytes) -> tuple[str | None, bool]:
    """:func:`_why_untrusted`, and whether the file is forged: signed with the user's own key,
    but for other bytes or another run or step (replaced, or moved here)."""
    sig = Path(ck.path + SIG_SUFFIX)
    try:
        if sig.is_symlink():  # nbrun writes none (rule 42): never read through one
            raise ValueError("it is a symlink")
        with open(sig, "rb") as f:
            side = json.loads(f.read(_SIG_MAX))  # nbrun's are ~400 bytes
        if not isinstance(side, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return (
            f"it has no signature ({sig.name} is missing): it was not written by nbrun for you "
            "(a store from someone else), or written before nbrun signed checkpoints"
        ), False
    except (OSError, ValueError) as exc:
        return f"its signature {sig} cannot be read ({exc})", False
    try:
        key = signing_key()
    except OSError as exc:
        return f"your key file {key_file()} cannot be read ({exc})", False
    if key is None:
        missing = f"{KEY_ENV} is unset and {key_file()} is missing"
        return f"you have no checkpoint key yet ({missing})", False
    fmt = _format(ck).name
    digest = hashlib.sha256(data).hexdigest()
    if hmac.compare_digest(str(side.get("hmac", "")), _mac(key, ck.run_id, ck.step, fmt, digest)):
        return None, False
    if side.get("key_id") != key_id(key):
        return (
            f"it was signed with another key (key id {side.get('key_id')!r}; yours is "
            f"{key_id(key)!r}): a store from someone else, or a team key ({KEY_ENV} or "
            f"{KEY_FILE_ENV}) not set in this process"
        ), False
    claimed = (side.get("run_id"), side.get("step"), side.get("format"))
    if claimed != (ck.run_id, ck.step, fmt):
        return (
            f"its signature is for run {claimed[0]!r} step {claimed[1]!r} ({claimed[2]}): the "
            f"file was moved or copied here from another run or step"
        ), True
    if side.get("sha256") != digest:
        return "its bytes changed after nbrun wrote it (the file was replaced or edited)", True
    return "its signature does not match", True


def sign(ck: Checkpoint, data: bytes | None = None) -> None:
    """Sign ``ck`` with the user's key (made on first use) for what it claims to be."""
    key = signing_key(create=True)
    assert key is not None
    if data is None:
        data = Path(ck.path).read_bytes()
    _write_signature(ck.path, ck.run_id, ck.step, _format(ck).name, data, key)


@dataclass(frozen=True)
class Checkpoint:
    """A saved training state: the run that saved it, the step it belongs to, its file."""

    run_id: str
    step: int
    path: str
    serializer: str

    def verified(self) -> bool:
        """Whether the file carries a signature by your key for this run and step (rule 45)."""
        return _why_untrusted(self, Path(self.path).read_bytes()) is None

    def load(self, trust: bool = False) -> Any:
        """Read the saved object. A checkpoint signed by your key (rule 45), or any with
        ``trust=True``, loads as saved; otherwise only state that loads without unpickling
        (plain state, torch tensors via ``weights_only``) does, and anything else raises
        :class:`~nbrun.errors.UntrustedCheckpointError` without running the file's code."""
        if not isinstance(trust, bool):
            raise UsageError(f"restore(trust={trust!r}): pass True or False")
        ser = _format(self)
        data = Path(self.path).read_bytes()  # verified and loaded from the same bytes
        why, forged = (None, False) if trust else _verdict(self, data)
        if isinstance(ser, PlainSerializer) and not forged:  # no pickle: signed or not
            try:
                return ser.load(io.BytesIO(data))
            except (zipfile.BadZipFile, EOFError, KeyError, TypeError, ValueError) as exc:
                raise StoreError(
                    f"checkpoint {self.path} (run {self.run_id}, step {self.step}) is damaged: "
                    f"{type(exc).__name__}: {str(exc)[:200]}"
                ) from None
            except RecursionError:
                raise StoreError(f"checkpoint {self.path} is damaged: nested too deep") from None
        if why is None:
            return ser.load(io.BytesIO(data))
        if isinstance(ser, TorchSerializer) and not forged:
            try:
                return ser.load_weights(io.BytesIO(data))
            except Exception as exc:
                why += f"; torch.load(weights_only=True) refused it too ({str(exc)[:200]})"
        risk = (
            "it is not the state nbrun saved for this run and step"
            if forged
            else "unpickling it could run any code it holds"
        )
        raise UntrustedCheckpointError(
            f"checkpoint {self.path} (run {self.run_id}, step {self.step}) was not restored: "
            f"{why}; {risk}. If you trust where it came from, pass trust=True "
            "(run.restore(trust=True)), or sign it with your key (checkpoint.trust()); it was "
            "left untouched",
            self.path,
        )

    def trust(self) -> None:
        """Sign this checkpoint with your key, so it restores without ``trust=True`` from now
        on (for a received store whose source you trust; rule 45)."""
        sign(self)


def save(
    folder: str | os.PathLike[str],
    run_id: str,
    step: int,
    obj: Any,
    serializer: str | Serializer | None = None,
) -> Checkpoint:
    """Write ``obj`` as the checkpoint of ``step``: temp file, fsync, signature (rule 45),
    rename."""
    ser = choose_serializer(obj, serializer)
    directory = Path(folder) / CHECKPOINT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:010d}.{ser.suffix}"
    tmp = directory / f".tmp-{uuid.uuid4().hex}.{ser.suffix}"
    ck = Checkpoint(run_id, step, str(final), ser.name)
    try:
        with open(tmp, "wb") as f:
            ser.dump(obj, f)
            f.flush()
            os.fsync(f.fileno())
        try:
            if ser.suffix in _BY_SUFFIX:  # a file restore can find (rule 45)
                sign(ck, tmp.read_bytes())
        except OSError as exc:
            warnings.warn(
                f"checkpoint of run {run_id} at step {step} saved unsigned: the key file "
                f"{key_file()} cannot be made ({exc}); set {KEY_ENV} or {KEY_FILE_ENV}. Until "
                "then restoring it needs trust=True unless it holds plain state",
                RuntimeWarning,
                stacklevel=3,
            )
            Path(str(final) + SIG_SUFFIX).unlink(missing_ok=True)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    keep = {final.name, final.name + SIG_SUFFIX}
    for other in directory.glob(f"step-{step:010d}.*"):
        if other.name not in keep:
            other.unlink()
    return ck


def listing(folder: str | os.PathLike[str], run_id: str) -> list[Checkpoint]:
    """A run's own checkpoints, by step. nbrun writes no symlinks: one here is not a
    checkpoint (rule 42), so a received store cannot point ``restore`` or a copy elsewhere."""
    directory = Path(folder) / CHECKPOINT_DIR
    if directory.is_symlink() or not directory.is_dir():
        return []
    out = []
    for entry in directory.iterdir():
        m = None if entry.is_symlink() else _NAME.fullmatch(entry.name)
        if m:
            ser = _BY_SUFFIX[m.group(2)]
            out.append(Checkpoint(run_id, int(m.group(1)), str(entry), ser.name))
    return sorted(out, key=lambda c: c.step)


def adopt(ck: Checkpoint, folder: str | os.PathLike[str], run_id: str) -> None:
    """Copy ``ck`` into the checkpoints of run ``run_id`` (a fork detached from its parent,
    rule 40), signed for that run only when ``ck`` verified for its own (rule 45)."""
    directory = Path(folder) / CHECKPOINT_DIR
    dst = directory / Path(ck.path).name
    if dst.exists() or not os.path.isfile(ck.path):
        return
    data = Path(ck.path).read_bytes()
    trusted = _why_untrusted(ck, data) is None
    directory.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".nbrun-tmp")
    tmp.write_bytes(data)
    if trusted:
        sign(Checkpoint(run_id, ck.step, str(dst), ck.serializer), data)
    tmp.replace(dst)


def archive_after(folder: str | os.PathLike[str], step: int, index: int) -> int:
    """Move a run's checkpoints past ``step`` into ``checkpoints/archive-<index>/`` (with
    their signatures)."""
    moved = 0
    for ck in listing(folder, ""):
        if ck.step > step:
            target = Path(folder) / CHECKPOINT_DIR / f"archive-{index}"
            target.mkdir(exist_ok=True)
            sig = Path(ck.path + SIG_SUFFIX)
            if sig.exists():
                os.replace(sig, target / sig.name)
            os.replace(ck.path, target / Path(ck.path).name)
            moved += 1
    return moved
