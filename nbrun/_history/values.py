"""Values for ``log`` (rules 21-23, 43): the checks and copies of :func:`clean_log` (the hot
path), the JSON-storable conversion :func:`_convert` (config and summary use it too), the
largest step and the system keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import UsageError
from ..media._base import Media, figure_image, is_figure

SYSTEM_KEYS = ("_step", "_runtime", "_timestamp")
_SIMPLE = frozenset({float, int, str, bool, type(None)})
_STR = frozenset({str})
_FLOAT = frozenset({float})

# -- values (rules 21-23, 43) ---------------------------------------------------------------
#: the largest ``log`` step (rule 43): 2**53 - 1, the largest integer that every reader of a
#: step holds exactly (int64 in chunks and SQLite, float64 in chart buckets, a JavaScript
#: number in the browser, where a click on a chart names the step to fork from). ``_fastlog.c``
#: has the same number (``MAX_STEP``).
MAX_STEP = 2**53 - 1


def step_error(step: int, given: bool) -> UsageError:
    """The ``UsageError`` for a ``log`` step beyond :data:`MAX_STEP` (rule 43): ``given`` is
    False when the step is the run's own (``run.step`` moved past the limit)."""
    if given:
        return UsageError(
            f"log: step {step} is beyond the largest step nbrun stores, {MAX_STEP} (2**53 - 1, "
            "the largest integer charts and the browser hold exactly); use steps from 0 to "
            f"{MAX_STEP}"
        )
    return UsageError(
        f"log: the run is at step {step}, beyond the largest step nbrun stores, {MAX_STEP} "
        "(2**53 - 1): a row was written at the last step; start a new run to log more"
    )


def json_key(key: object) -> str | None:
    """The str key JSON gives a dict key (``0`` -> ``"0"``, ``True`` -> ``"true"``), or None."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, (int, float)):
        return repr(float(key)) if isinstance(key, float) else str(int(key))
    return None


#: the deepest nesting of lists and dicts a value may have (rule 43); a value that contains
#: itself is refused by the same count
MAX_DEPTH = 100
#: ints are stored as JSON text, which Python writes and reads up to 4300 digits (rule 43)
_INT_BOUND = 10**4300


def _check_int(key: str, value: int) -> None:
    if -_INT_BOUND < value < _INT_BOUND:
        return
    raise UsageError(
        f"log: value for {key!r} is an int of more than 4300 digits, which nbrun cannot store "
        "(ints are stored as text, which Python reads up to 4300 digits); log it as a float "
        "or a str"
    )


def _too_deep(key: str) -> TypeError:
    shown = repr(key) if len(key) <= 60 else f"{key[:60]!r}..."  # (a cycle's path repeats)
    return TypeError(
        f"log: value for {shown} nests lists or dicts more than {MAX_DEPTH} levels deep, or "
        "contains itself, which cannot be stored; log a flatter copy"
    )


def _convert(key: str, value: Any, json_keys: bool = False, depth: int = 0) -> Any:
    """Return a JSON-storable copy of ``value`` or raise ``TypeError`` naming ``key``.

    With ``json_keys`` (config, rule 7), non-str keys of nested dicts become the str keys JSON
    gives them; otherwise they are refused. Torch tensors (rule 23) become numbers (0-dim) or
    lists; torch is never imported here: a tensor can only exist when its caller imported it.
    ``depth`` counts the lists and dicts around ``value``: past :data:`MAX_DEPTH` (or a value
    that contains itself) is a ``TypeError`` (rule 43); an int beyond 4300 digits a
    ``UsageError``.
    """
    t = type(value)
    if t in _SIMPLE:
        if t is int and not -_INT_BOUND < value < _INT_BOUND:
            _check_int(key, value)
        return value
    if depth >= MAX_DEPTH and (t is dict or t is list or t is tuple or isinstance(value, Mapping)):
        raise _too_deep(key)
    if t is dict or isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                jk = json_key(k) if json_keys else None
                if jk is None:
                    raise TypeError(
                        f"log: key {k!r} inside {key!r} is a {type(k).__name__}; keys must be str"
                    )
                k = jk
            out[k] = _convert(f"{key}.{k}", v, json_keys, depth + 1)
        return out
    if t is list or t is tuple:
        return [_convert(key, v, json_keys, depth + 1) for v in value]
    if isinstance(value, Media):
        return value.logged_copy()
    if is_figure(value):
        try:
            return figure_image(value)
        except Exception as exc:
            raise TypeError(
                f"log: the matplotlib figure for {key!r} cannot be drawn: {exc}"
            ) from exc
    module = getattr(t, "__module__", "") or ""
    if module == "numpy" or module.startswith("numpy."):
        if hasattr(value, "tolist"):
            if getattr(value, "dtype", None) is not None and value.dtype.kind in "OVSUMm":
                if value.dtype.kind not in "SU":
                    raise TypeError(
                        f"log: value for {key!r} is a numpy {value.dtype} "
                        f"{t.__name__}, which cannot be stored; use numeric, bool or str data"
                    )
            plain = value.tolist()
            if type(plain) is t:  # np.longdouble.tolist() returns itself
                if value.dtype.kind != "f":
                    raise TypeError(
                        f"log: value for {key!r} is a numpy {value.dtype} {t.__name__}, which "
                        "cannot be stored; use numeric, bool or str data"
                    )
                return float(value)
            return _convert(key, plain, json_keys, depth)
    if module == "torch" or module.startswith("torch."):
        detach = getattr(value, "detach", None)
        if detach is not None and hasattr(value, "tolist"):
            try:
                plain = detach().cpu().tolist()
            except (RuntimeError, TypeError) as exc:  # e.g. a meta or sparse tensor
                raise TypeError(
                    f"log: value for {key!r} is a torch tensor that cannot be read: {exc}"
                ) from None
            return _convert(key, plain, json_keys, depth)
    if isinstance(value, float):  # float subclasses
        return float(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        _check_int(key, int(value))
        return int(value)
    if isinstance(value, str):
        return str(value)
    raise TypeError(
        f"log: value for {key!r} is a {t.__module__}.{t.__qualname__}, which cannot be stored; "
        "allowed: bool, int, float, str, None, numpy scalars and arrays, torch tensors, nbrun "
        "media (Image, Histogram, Table, Video, Audio, Html, Object3D, nbrun.plot charts), "
        "matplotlib figures, lists and dicts of those"
    )


def clean_row(data: object) -> dict[str, Any]:
    """Check a ``log`` payload and return what to merge into the pending row.

    Raises ``TypeError`` before anything is logged when the payload is not a mapping with
    ``str`` keys or holds a value that cannot be stored. ``_step`` and ``_runtime`` keys are
    dropped: both are the engine's (rule 21).
    The common case (str keys, plain scalar values) costs two C-level passes and returns
    ``data`` itself, which the caller copies.
    """
    return clean_log(data)[0]


def clean_log(data: object) -> tuple[dict[str, Any], bool]:
    """:func:`clean_row` for the hot path: also says whether every value is a ``float`` (such
    rows go to the writer's :class:`FloatBlock`)."""
    if type(data) is not dict:
        if not isinstance(data, Mapping):
            raise TypeError(
                f"log: data must be a mapping of str keys to values, got {type(data).__name__}"
            )
        data = dict(data)
    if not _STR.issuperset(map(type, data)):
        for k in data:
            if type(k) is not str:
                raise TypeError(f"log: key {k!r} is a {type(k).__name__}; keys must be str")
    types = set(map(type, data.values()))
    if types == _FLOAT:  # the common case: all floats (no int checks; the stamps as below)
        if "_step" in data or "_runtime" in data:
            data = {k: v for k, v in data.items() if k != "_step" and k != "_runtime"}
        return data, "_timestamp" not in data
    if types <= _SIMPLE:
        if int in types:  # rule 43: ints the store can read back
            for k, v in data.items():
                if type(v) is int and not -_INT_BOUND < v < _INT_BOUND:
                    _check_int(k, v)
        if "_step" in data or "_runtime" in data:
            data = {k: v for k, v in data.items() if k != "_step" and k != "_runtime"}
        # a row with a _timestamp of its own takes the generic path (blocks stamp their own)
        return data, types == _FLOAT and "_timestamp" not in data
    return {k: _convert(k, v) for k, v in data.items() if k != "_step" and k != "_runtime"}, False
