"""The writer thread: takes a run's rows (dicts and float blocks) off the hot path's queue,
encodes them in batches and flushes them to the store with the run's state, retrying and
dropping rows that can never be stored (rule 43)."""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from .._store import Chunk, Side, Store, dumps
from ..errors import StoreError
from ..media._base import MediaFiles, media_seen
from .blocks import FloatBlock, FloatRows, encode_block
from .buckets import chunk_summary
from .codec import build_columns, encode_columns
from .state import advance_state, empty_state
from .values import MAX_STEP, SYSTEM_KEYS

logger = logging.getLogger("nbrun")

_MIN_BLOCK_CHUNK = 64  # fewer rows of floats than this join the dict rows' chunk
_SLICE_S = 0.0007  # the writer's longest stretch of Python between GIL releases (about)


def _breathe(since: float) -> float:
    """Let the training thread run when the writer has used ``_SLICE_S`` of CPU (this thread's
    clock, so time spent waiting for the GIL does not count) since ``since``; return the clock
    at the start of the writer's new stretch.

    CPython hands the GIL over only after the waiting thread's switch interval (5 ms) or when
    the holder blocks; ``time.sleep(0)`` is not enough (the holder takes it straight back and
    the waiter starts a new interval), so a short real sleep ends the writer's stretch and
    bounds what a ``log`` call waits for it."""
    now = time.thread_time()
    if now - since < _SLICE_S:
        return since
    time.sleep(0.0001)
    return time.thread_time()


# -- the writer ----------------------------------------------------------------------------
class Writer:
    """Background thread that flushes a run's rows to the store in batches.

    The producer (``Run.log``, inlined for speed) appends finished rows to :attr:`queue`,
    adds one to :attr:`enqueued` per row, and calls :meth:`wake` once ``max_rows`` wait.
    ``snapshot()`` is called on the writer thread after each batch is taken and returns the
    run columns to write in the same transaction (summary, heartbeat, ...). ``state`` is the
    cumulative history state (see :func:`advance_state`) before the first row; the writer stores
    it, advanced, with every chunk, so a fork or a rewind finds the summary at any step without
    reading history. ``on_stop`` is called once when another process or the widget asked the
    run to stop. ``take_side()``, when given, is called on the writer thread once per flush and
    returns the system samples and console lines to write in the same transaction (kept and
    retried, like rows, when a write fails).
    """

    def __init__(
        self,
        store: Store,
        key: int,
        snapshot: Callable[[], dict[str, Any]],
        on_stop: Callable[[], None],
        state: dict[str, Any] | None = None,
        interval: float = 1.0,
        max_rows: int = 1000,
        take_side: Callable[[], Side] | None = None,
        files: MediaFiles | None = None,
    ) -> None:
        # the fast lane encodes with numpy: import it here, on the thread that calls init,
        # not on the writer thread, where the import would hold the GIL while the loop runs
        import numpy  # noqa: F401, PLC0415 - loaded on first use: `import nbrun` stays light

        self.store = store
        self.files = files
        self._take_side = take_side
        self._side_retry: Side | None = None
        self._passes = [0, 0]  # flush passes started, finished (see sync)
        self.key = key
        self.queue: deque[dict[str, Any] | FloatBlock] = deque()
        self.block: FloatBlock | None = None  # the open block the hot path appends to
        self._fast_after = 0  # no new block before this many rows (see put)
        self._all = False  # flush()/sync() want the open block's rows too
        self.max_rows = max_rows
        self.interval = interval
        self.enqueued = 0
        self.durable = 0
        self.last_durable_step = -1
        self._snapshot = snapshot
        self._on_stop = on_stop
        self.state: dict[str, Any] = state if state is not None else empty_state()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._closing = False
        # rows taken from the queue, not durable yet
        self._retry: list[dict[str, Any] | FloatRows] = []
        self._taken = threading.Lock()  # moves rows queue -> _retry atomically for readers
        self._warned = False
        self.failures = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name=f"nbrun-writer-{key}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Ask for a flush now (a full batch is waiting)."""
        if not self._wake.is_set():
            self._wake.set()

    def put(self, row: dict[str, Any], floats: bool) -> None:
        """Hand a finished row to the writer (the hot path, training thread only). ``floats``
        says every value but ``_step`` is a float: such rows go into a :class:`FloatBlock`
        (one C-level pack), others onto the queue as they are. A block is sealed (put on the
        queue, before the row after it) when full or when a row does not fit it. When a block
        ends short (rows of changing keys), float rows take the generic path for the next
        ``max_rows`` rows: short blocks cost more than they save."""
        block = self.block
        queue = self.queue
        if floats and len(row) > 3 and self.enqueued >= self._fast_after:
            if block is not None and block.size + 3 == len(row):
                try:
                    values = block.get(row)
                except KeyError:
                    pass
                else:
                    full = block.append(row["_step"], values, row["_runtime"], row["_timestamp"])
                    self.enqueued += 1
                    if full:
                        self.seal()
                    return
            if block is None or not self._short(block):
                new = FloatBlock(row, self.max_rows)
                new.append(row["_step"], new.get(row), row["_runtime"], row["_timestamp"])
                if block is not None:
                    queue.append(block)
                self.block = new
                self.enqueued += 1
                return
        if block is not None:
            self._short(block)
            queue.append(block)
            self.block = None
        queue.append(row)
        self.enqueued += 1
        if len(queue) >= self.max_rows:
            self.wake()
            self._bound()

    # the hot path's contract (rule 71): append_floats and seal are what both paths of Run.log
    # do with a written row of floats; nbrun/_fastlog.c does append_floats in place, reading
    # the state its layout table names (``block``, ``enqueued``, the block's fields), checked
    # at import, and calls seal
    def append_floats(self, step: int, row: dict[str, Any], runtime: float, now: float) -> bool:
        """Pack a written row of floats (its user keys only, no stamps) into the open block
        when it fits (the block's keys, all there), count it and :meth:`seal` the block once
        full; False, having changed nothing, when there is no open block or the row does
        not fit (then :meth:`put` it)."""
        block = self.block
        if block is None or block.size != len(row):
            return False
        try:
            values = block.get(row)
        except KeyError:  # other keys: put() starts a new block
            return False
        data = block.data
        data += block.pack(step, *values, runtime, now)  # FloatBlock.append, inlined
        self.enqueued += 1
        if len(data) >= block.full:
            self.seal()
        return True

    def _short(self, block: FloatBlock) -> bool:
        """Whether ``block``, ending now, is short; if so, no new block for a while."""
        if len(block.data) >= block.rec * _MIN_BLOCK_CHUNK:
            return False
        self._fast_after = self.enqueued + self.max_rows
        return True

    def seal(self) -> None:
        """Put the open block on the queue (hot path: it is full) and wake the writer."""
        block = cast(FloatBlock, self.block)
        self.queue.append(block)  # on the queue first, then no longer open: a reader
        self.block = None  # of pending_rows sees it in one place or both, never in neither
        self.wake()
        self._bound()

    def _bound(self) -> None:
        """The backlog bound (hot path): past ``100 * max_rows`` rows not durable, wait for a
        flush. A tight loop can starve the writer of the GIL; this bounds the memory."""
        backlog = self.enqueued - self.durable
        if backlog >= self.max_rows * 100 and self.error is None:
            self.flush()
        elif backlog >= self.max_rows * 10 and self.error is None:
            # falling behind: a real sleep hands the writer the GIL for a moment, once per
            # batch (well under a millisecond), rather than a flush wait of the whole backlog
            # later (about 100 ms for 100 batches)
            time.sleep(0.0005)

    @property
    def backlog(self) -> int:
        """Rows handed to the writer and not durable yet."""
        return self.enqueued - self.durable

    def pending_rows(self) -> list[dict[str, Any]]:
        """Rows queued, being written or awaiting retry: not durable yet, in order. A row
        leaves this list only once it is durable, so a reader that reads the store after this
        misses none (it may see a row in both: dedupe by step)."""
        with self._taken:
            block = self.block  # before the queue: a block sealed meanwhile is in one of them
            items = [*self._retry, *list(self.queue)]
            if block is not None and not any(item is block for item in items):
                items.append(block.rest())
        out: list[dict[str, Any]] = []
        for item in items:
            if type(item) is dict:
                out.append(item)
            elif isinstance(item, FloatBlock):
                out.extend(item.rest().rows())
            elif isinstance(item, FloatRows):
                out.extend(item.rows())
        return out

    def _loop(self) -> None:
        try:
            while True:
                self._wake.wait(self.interval)
                self._wake.clear()
                closing = self._closing
                with self._done:
                    self._passes[0] += 1
                    started = self._passes[0]
                try:
                    self._flush_once()
                finally:
                    with self._done:
                        self._passes[1] = started
                        self._done.notify_all()
                if closing:
                    break
        finally:
            self.store.close_thread_connection()

    def _take(self) -> list[dict[str, Any] | FloatRows]:
        """Move rows from the queue (and, when asked or idle, the open block) to the retry
        list, at most ``10 * max_rows``; return that list (under ``_taken``)."""
        q = self.queue
        want_all, self._all = self._all, False
        idle = not q
        with self._taken:
            items = self._retry
            take = min(len(q), max(0, self.max_rows * 10 - len(items)))  # a block counts one
            batch: list[Any] = [q.popleft() for _ in range(take)]
            if FloatBlock in set(map(type, batch)):
                batch = [i.take() if type(i) is FloatBlock else i for i in batch]
                batch = [i for i in batch if i is not None]
            items.extend(batch)
            block = self.block  # read before checking the queue: see FloatBlock
            if block is not None and not q and (idle or want_all or self._closing):
                rows = block.take()
                if rows is not None:
                    items.append(rows)
        return items

    def _encode(
        self, items: list[dict[str, Any] | FloatRows]
    ) -> tuple[list[Chunk], list[bytes | None], dict[str, Any], int, int]:
        """Chunks of at most ``max_rows`` rows for ``items`` in order, the stored summaries
        made with them (rule 68; None: a chunk of dict rows, summarised later), the state
        after them, the last step and the number of rows. Rows of floats are encoded with
        array work; a short run of them joins the dict rows around it (one chunk rather than
        many)."""
        chunks: list[Chunk] = []
        made: list[bytes | None] = []
        state = self.state
        run: list[dict[str, Any]] = []
        convert = (
            self.files.convert_row if self.files is not None and media_seen() else None
        )  # media files are written (temp + rename) before the rows that refer to them

        since = time.thread_time()

        def flush_run(state: dict[str, Any]) -> dict[str, Any]:
            nonlocal since
            for i in range(0, len(run), self.max_rows):
                cols = build_columns(run[i : i + self.max_rows])
                state = advance_state(state, cols)
                chunks.append(encode_columns(cols, dumps(state)))
                made.append(None)
                since = _breathe(since)
            run.clear()
            return state

        if FloatRows not in set(map(type, items)):  # dict rows only: no per-row Python here
            dicts = cast(list[dict[str, Any]], items)
            run.extend(dicts if convert is None else map(convert, dicts))
            state = flush_run(state)
            return chunks, made, state, dicts[-1]["_step"] if dicts else -1, len(dicts)
        last_step = -1
        count = 0
        for item in items:
            if isinstance(item, FloatRows):
                count += len(item) - 1
                last_step = item.last_step
                if len(item) < _MIN_BLOCK_CHUNK:
                    run.extend(item.rows())
                    continue
                state = flush_run(state)
                for piece in item.split(self.max_rows):
                    chunk, state, summary = encode_block(piece, state)  # C when built
                    chunks.append(chunk)
                    made.append(summary)
                    since = _breathe(since)
            else:
                last_step = item["_step"]
                run.append(convert(item) if convert is not None else item)
        state = flush_run(state)
        return chunks, made, state, last_step, count + len(items)

    def _flush_once(self) -> None:
        q = self.queue
        while True:
            items = self._take()
            side = self._side()
            try:
                chunks, made, state, last_step, count = self._encode(items)
                summaries = self._summaries(chunks, made)
                stop = self.store.flush(self.key, chunks, self._snapshot(), side, summaries)
            except Exception as exc:  # disk full, read-only, locked for too long ...
                bad = self._bad_rows(items)
                if bad:  # rows that can never be stored: drop them, keep the rest (rule 43)
                    items = self._drop(items, bad, exc)
                    with self._taken:
                        self._retry = items
                    self._side_retry = side
                    continue
                self._retry = items
                self._side_retry = side
                self._report(exc)  # before waking flush(): its False comes after the warning
                with self._done:
                    self.failures += 1
                    self._done.notify_all()
                return
            with self._taken:
                self._retry = []
            self.error = None
            if self._warned:
                logger.warning("nbrun: writing to %s works again", self.store.path)
                self._warned = False
            self.state = state
            with self._done:
                self.durable += count
                if items:
                    self.last_durable_step = last_step
                self._done.notify_all()
            if stop:
                self._on_stop()
            if not q or (
                self._closing is False
                and len(q) < self.max_rows
                and type(q[0]) is not FloatBlock  # a sealed block is a full batch
            ):
                return

    def _summaries(
        self, chunks: list[Chunk], made: list[bytes | None]
    ) -> list[bytes | None] | None:
        """Each chunk's bucket summary, stored beside it (rule 68): made here, once (a float
        block's while it was encoded), so a long run's chart reads these instead of every
        chunk. None when the store keeps none; a chunk that cannot be summarised gets none
        (charts then read it)."""
        if not chunks or not getattr(self.store, "summaries", False):
            return None
        out: list[bytes | None] = []
        since = time.thread_time()
        for chunk, summary in zip(chunks, made, strict=True):
            if summary is not None:
                out.append(summary)
                continue
            try:
                out.append(chunk_summary(chunk[3]))
            except Exception:  # never costs a row: the chart reads the chunk instead
                logger.debug("nbrun: no bucket summary for chunk at step %s", chunk[0])
                out.append(None)
            since = _breathe(since)
        return out

    def _bad_rows(self, items: list[dict[str, Any] | FloatRows]) -> list[int]:
        """After a failed flush: the positions of the rows that fail on their own (their step
        or a value cannot be stored: a row-specific failure, rule 43), none when the failure
        is the store's (disk full, locked ...). Float rows are packed: they always fit."""
        bad = []
        for i, item in enumerate(items):
            if type(item) is not dict:
                continue
            step = item.get("_step")
            if type(step) is not int or not 0 <= step <= MAX_STEP:
                bad.append(i)
                continue
            try:
                self._encode([item])
            except (OSError, MemoryError, StoreError):  # its media files: the disk, not the row
                return []
            except Exception:  # any other failure of this row alone marks it
                bad.append(i)
        return bad

    def _drop(
        self, items: list[dict[str, Any] | FloatRows], bad: list[int], exc: BaseException
    ) -> list[dict[str, Any] | FloatRows]:
        """``items`` without the rows at ``bad``, counted as done, with a warning naming
        their steps and keys: one row that cannot be stored never sinks the others."""
        dropped = [cast(dict[str, Any], items[i]) for i in bad]
        keys = sorted({k for row in dropped for k in row if k not in SYSTEM_KEYS})
        msg = (
            f"nbrun: {len(dropped)} row(s) at step(s) "
            f"{', '.join(str(row.get('_step')) for row in dropped)} (keys {keys}) cannot be "
            f"stored in {self.store.path} ({type(exc).__name__}: {exc}) and were dropped; "
            "the other rows are written"
        )
        logger.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=1)
        with self._done:
            self.durable += len(dropped)  # done with: flush() and close() wait for no row
            self._done.notify_all()
        skip = set(bad)
        return [item for i, item in enumerate(items) if i not in skip]

    def _side(self) -> Side | None:
        """System samples and console lines to write now: those of a failed flush first."""
        old, self._side_retry = self._side_retry, None
        new = self._take_side() if self._take_side is not None else None
        if old is None or new is None:
            return new if old is None else old
        return (
            old[0] + new[0],
            old[1] + new[1],
            new[2] if new[2] is not None else old[2],
        )

    def pending_side(self) -> Side | None:
        """System samples and console lines not written yet (for a last write at finish)."""
        return self._side()

    def sync(self, timeout: float = 5.0) -> bool:
        """Wait until a flush pass that started after this call has ended, so everything
        handed to the writer before it (rows, samples, lines) was written; False on timeout
        or when the writer thread has ended."""
        deadline = time.monotonic() + timeout
        self._all = True
        with self._done:
            target = self._passes[0] + 1
            while self._passes[1] < target:
                if not self._thread.is_alive():
                    return False
                self._wake.set()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(min(0.5, remaining))
        return True

    def _report(self, exc: BaseException) -> None:
        self.error = exc
        if not self._warned:
            self._warned = True
            msg = (
                f"nbrun: could not write to {self.store.path}: {exc}. Rows stay in memory and "
                "are retried every second; training goes on."
            )
            logger.warning(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=1)

    def flush(self, timeout: float | None = None) -> bool:
        """Make every row queued so far durable; False if ``timeout`` passed first or a write
        failed (the rows stay queued and are retried)."""
        target = self.enqueued
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            failures = self.failures
            while self.durable < target:
                if not self._thread.is_alive() or self.failures > failures:
                    return False
                self._all = True
                self._wake.set()
                remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Flush everything and end the thread; False if rows could not be written."""
        ok = self.flush(timeout)
        self._closing = True
        self._wake.set()
        self._thread.join(timeout if timeout is not None else None)
        return ok and self.durable >= self.enqueued

    @property
    def alive(self) -> bool:
        """Whether the writer thread is running."""
        return self._thread.is_alive()
