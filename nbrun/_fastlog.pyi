"""Type stub of the optional C extension ``nbrun._fastlog`` (source: ``nbrun/_fastlog.c``)."""

from collections.abc import Callable, Set
from typing import Any, Generic, TypeVar, overload

_F = TypeVar("_F", bound=Callable[..., Any])

def log(run: Any, data: Any, step: Any, commit: Any, /) -> bool:
    """Do ``Run.log``'s common case and return True, or change nothing and return False."""

def setup(live_states: Set[str], /) -> None:
    """The run states in which ``log`` works."""

def forget() -> None:
    """Drop the cached block."""

class LogMethod(Generic[_F]):
    """A method whose common case runs in C; every other call goes to ``fallback``."""

    __wrapped__: _F
    def __init__(self, fallback: _F, /) -> None: ...
    @overload
    def __get__(self, obj: None, owner: type | None = None, /) -> LogMethod[_F]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None, /) -> Callable[..., None]: ...
    def __call__(self, *args: Any, **kwargs: Any) -> None: ...

def set_clock(fn: Callable[[], float] | None, /) -> None:
    """The rows' wall clock is ``fn()`` instead of ``time.time()``'s (tests); None: the real."""

def counts() -> tuple[int, int]:
    """Calls done in C and calls sent to the Python path, since import."""

LAYOUT: tuple[tuple[str, str, str], ...]
"""Every attribute the C code reads or writes by name: ``(owner, kind, name)``, kind ``"dict"``
(the instance dict), ``"attr"`` (getattr) or ``"method"``; checked at import by
``nbrun/_run/run.py``."""

def encode_floats(
    data: bytes,
    width: int,
    columns: tuple[int, ...],
    stats: tuple[int, ...],
    prefix: bytes,
    /,
) -> tuple[
    bytes, list[tuple[float, float, float, bool, float | None, float | None, int, int, int]]
]:
    """A float block's records (``width`` little-endian 8-byte words each) as a chunk:
    ``prefix``, then for each word index of ``columns`` that word of every record; and for each
    word index of ``stats`` (first, last, Python's sum, NaN seen, min, max, count of finite
    values, row of the first lowest finite, row of the first highest finite) of its doubles.
    The byte work runs with the GIL released (rule 71)."""
