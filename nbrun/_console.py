"""Console capture: what a run prints to stdout / stderr, line by line, with time and step.

``sys.stdout`` and ``sys.stderr`` are teed while at least one run captures: the original
stream writes first (the user sees exactly what they saw before, and a failure in capture
never loses output), then the text goes to the :class:`ConsoleSink` of the run it belongs to.
Streams that accept an instance attribute (ipykernel's ``OutStream``, pytest's capture files)
keep their identity and get a wrapped ``write``; C-level streams (a script's
``TextIOWrapper``) are replaced by a thin proxy that forwards everything else.

Which run a write belongs to: the run bound to the writing thread (``nbrun.launch`` binds its
training thread), else the default (the current run, ``nbrun.run``). Text written to the
underlying file descriptor or to ``sys.stdout.buffer`` is not seen (W&B's ``console="wrap"``).

Lines: text is split at ``\\n``; a ``\\r`` starts the line over, so a progress bar redrawn
with ``\\r`` keeps only its last state. Each line keeps the time its first character was
written, the stream, and the run's last written step at that time (-1 before the first row).
The line being written (no ``\\n`` yet) is kept as the sink's *open* line so a reader (and a
crash) sees its latest state.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

STREAMS = ("stdout", "stderr")
MAX_LINE = 64 * 1024  # longer unterminated text is cut into lines of this size

#: one console line: (time, step, stream, text)
Line = tuple[float, int, str, str]


class ConsoleSink:
    """One run's captured console output: finished lines in order, and the open line of
    each stream. ``step()`` gives the run's last written step."""

    def __init__(self, step: Callable[[], int]) -> None:
        self._step = step
        self.lines: deque[Line] = deque()
        self._open: dict[str, list[Any]] = {}  # stream -> [time, step, text, cr_pending]
        self._lock = threading.Lock()
        self.open_changed = False
        self.closed = False

    def feed(self, stream: str, text: str) -> None:
        """Add text written to ``stream``."""
        now = time.time()
        with self._lock:
            if self.closed:
                return
            cur = self._open.get(stream)
            parts = text.split("\n")
            last = len(parts) - 1
            for i, part in enumerate(parts):
                if part:
                    if cur is None:
                        cur = [now, self._step(), "", False]
                    _put(cur, part)
                    if len(cur[2]) >= MAX_LINE:
                        self.lines.append((cur[0], cur[1], stream, cur[2]))
                        cur = None
                if i < last:  # a newline ends the line (an empty one too)
                    if cur is None:
                        self.lines.append((now, self._step(), stream, ""))
                    else:
                        self.lines.append((cur[0], cur[1], stream, cur[2]))
                        cur = None
            if cur is None:
                if self._open.pop(stream, None) is not None:
                    self.open_changed = True
            else:
                self._open[stream] = cur
                self.open_changed = True

    def take(self) -> tuple[list[Line], list[Line] | None]:
        """The finished lines since the last call, and the open lines (None when they did not
        change since the last call)."""
        with self._lock:
            lines = [self.lines.popleft() for _ in range(len(self.lines))]
            if not self.open_changed:
                return lines, None
            self.open_changed = False
            return lines, [(c[0], c[1], s, c[2]) for s, c in self._open.items()]

    def pending(self) -> list[Line]:
        """Finished and open lines not taken yet (for readers of a live run)."""
        with self._lock:
            return [*self.lines, *((c[0], c[1], s, c[2]) for s, c in self._open.items())]

    def close(self) -> None:
        """End capture: open lines become finished lines."""
        with self._lock:
            for stream, cur in self._open.items():
                self.lines.append((cur[0], cur[1], stream, cur[2]))
            if self._open:
                self.open_changed = True
            self._open.clear()
            self.closed = True


def _put(cur: list[Any], part: str) -> None:
    """Write ``part`` (no newline) into the open line ``cur``: after a ``\\r`` the next text
    replaces the line; a ``\\r`` with nothing after it waits for the next text."""
    if "\r" not in part:
        cur[2] = part if cur[3] else cur[2] + part
        cur[3] = False
        return
    for j, seg in enumerate(part.split("\r")):
        if j:
            cur[3] = True
        if seg:
            cur[2] = seg if cur[3] else cur[2] + seg
            cur[3] = False


def split_lines(text: str) -> Iterable[str]:
    """The lines ``text`` shows once written (``\\r`` handled as in :class:`ConsoleSink`);
    for tests and tools."""
    sink = ConsoleSink(lambda: -1)
    sink.feed("stdout", text)
    sink.close()
    return [line[3] for line in sink.lines]


# -- the process-wide tee -----------------------------------------------------------------------
class _Tee:
    """Stands in for a stream whose ``write`` cannot be replaced: forwards everything."""

    def __init__(self, target: Any, stream: str) -> None:
        self._nbrun_target = target
        self._nbrun_stream = stream

    def write(self, s: str) -> int:
        n: int = self._nbrun_target.write(s)
        _hub.capture(self._nbrun_stream, s)
        return n

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nbrun_target, name)

    def __iter__(self) -> Any:
        return iter(self._nbrun_target)

    def __repr__(self) -> str:
        return repr(self._nbrun_target)


#: the ``write`` functions this module installed on a stream object (IPython's proxies): a stream
#: whose ``write`` is one of them is still teed
_tee_writes: weakref.WeakSet[Any] = weakref.WeakSet()


class _Hub:
    """Tees ``sys.stdout`` / ``sys.stderr`` while sinks are registered and routes writes to
    the sink of the writing thread, or to the default sink.

    How a stream is teed: under IPython (a notebook kernel), ``sys.<stream>`` is replaced by a
    forwarding proxy, because IPython wraps the stream's ``write`` around each cell and puts
    back what it found, which drops a patch made inside a cell (and one made on the class
    too, since the first cell leaves the bound method on the instance); the proxy is what
    IPython finds and puts back. Elsewhere (a script's ``TextIOWrapper``, pytest's capture
    files) the stream keeps its identity and gets an instance attribute ``write``; a stream
    that refuses one is proxied.
    """

    def __init__(self) -> None:
        self.threads: dict[int, ConsoleSink] = {}
        self.default: Callable[[], ConsoleSink | None] = lambda: None
        self.sinks: list[ConsoleSink] = []
        self.installed: list[tuple[Any, str, Any, str]] = []  # (obj, stream, wrapper, how)
        self.lock = threading.RLock()
        self._busy = threading.local()

    def capture(self, stream: str, s: object) -> None:
        if type(s) is not str or not s:
            return
        busy = self._busy
        if getattr(busy, "on", False):  # text written while capturing: never recurse
            return
        busy.on = True
        try:
            sink = self.threads.get(threading.get_ident())
            if sink is None or sink.closed:
                sink = self.default()
            if sink is not None and not sink.closed:
                sink.feed(stream, s)
        except Exception:  # capture must never break the user's output
            pass
        finally:
            busy.on = False

    def register(self, sink: ConsoleSink) -> None:
        with self.lock:
            self.sinks.append(sink)
            for stream in STREAMS:
                self._install(stream)

    def unregister(self, sink: ConsoleSink) -> None:
        with self.lock:
            self.sinks = [s for s in self.sinks if s is not sink]
            for ident in [i for i, s in self.threads.items() if s is sink]:
                del self.threads[ident]
            if not self.sinks:
                self._uninstall_all()

    def _install(self, stream: str) -> None:
        obj = getattr(sys, stream, None)
        if obj is None or isinstance(obj, _Tee):
            return
        if getattr(obj, "__dict__", {}).get("write") in _tee_writes:
            return  # still teed
        if _in_ipython():
            self._proxy(obj, stream)
            return
        orig = obj.write

        def write(s: str, _orig: Any = orig, _stream: str = stream) -> Any:
            n = _orig(s)
            _hub.capture(_stream, s)
            return n

        _tee_writes.add(write)
        try:
            obj.write = write
        except (AttributeError, TypeError):
            self._proxy(obj, stream)
            return
        self.installed.append((obj, stream, write, "attr"))

    def _proxy(self, obj: Any, stream: str) -> None:
        tee = _Tee(obj, stream)
        setattr(sys, stream, tee)
        self.installed.append((obj, stream, tee, "proxy"))

    def _uninstall_all(self) -> None:
        for obj, stream, wrapper, how in self.installed:
            if how == "attr":
                if getattr(obj, "__dict__", {}).get("write") is wrapper:
                    try:
                        del obj.write
                    except AttributeError:
                        pass
            elif how == "proxy" and getattr(sys, stream, None) is wrapper:
                setattr(sys, stream, obj)
            # a proxy someone stacked their own stream on stays below it and just forwards
        self.installed.clear()


def _in_ipython() -> bool:
    """Whether this process runs an IPython shell (a notebook kernel, the IPython REPL)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return get is not None and get() is not None


_hub = _Hub()


def start(sink: ConsoleSink) -> None:
    """Start capturing into ``sink`` (tees the streams if this is the first sink)."""
    _hub.register(sink)


def stop(sink: ConsoleSink) -> None:
    """Stop capturing into ``sink``: its open lines are finished; the streams are restored
    when no sink is left."""
    sink.close()
    _hub.unregister(sink)


def bind_thread(sink: ConsoleSink, ident: int | None = None) -> None:
    """Send what ``ident`` (default: this thread) writes to ``sink``."""
    with _hub.lock:
        _hub.threads[threading.get_ident() if ident is None else ident] = sink


def unbind_thread(ident: int | None = None) -> None:
    """Undo :func:`bind_thread` for ``ident`` (default: this thread)."""
    with _hub.lock:
        _hub.threads.pop(threading.get_ident() if ident is None else ident, None)


def set_default(resolver: Callable[[], ConsoleSink | None]) -> None:
    """Where writes of threads without a bound sink go (the current run's sink)."""
    _hub.default = resolver


LOG_COLUMNS = ("time", "stream", "step", "text")


def logs_frame(lines: Iterable[tuple[float, str, int, str]]) -> Any:
    """Console lines ``(time, stream, step, text)`` as the DataFrame ``run.logs()`` returns."""
    import pandas as pd  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light

    df = pd.DataFrame(list(lines), columns=list(LOG_COLUMNS))
    return df.astype({"time": "float64", "stream": "object", "step": "int64", "text": "object"})
