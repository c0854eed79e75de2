"""The run's side capture (system metrics and console, issue 13) and saved files (rule 34):
methods of :class:`~nbrun._run.run.Run`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .. import _console
from .._states import LIVE_STATES
from .._store import dumps
from .._sysmetrics import Sampler
from ..errors import UsageError
from .fields import LiveRunFields


class RunFiles(LiveRunFields):
    """System metrics, console capture and saved files of a live run."""

    # -- system metrics and console (issue 13) -------------------------------------------------
    def _start_side_capture(self) -> None:
        """Start the system metrics sampler and the console capture, as ``settings`` say."""
        if self.resumed:  # lines a dead process left unfinished stay as they are
            self._store.close_open_lines(self._key)
        if self.settings.console != "off":
            self._console = _console.ConsoleSink(self._last_written_step)
            _console.start(self._console)
        if self.settings.stats:
            self._sampler = Sampler(
                self._add_sample, self.settings.stats_interval, name=f"nbrun-stats-{self._key}"
            )
            self._sampler.start()

    def _last_written_step(self) -> int:
        return self._step - 1

    def _add_sample(self, t: float, sample: dict[str, float]) -> None:
        """Called on the sampler thread: queue one sample for the writer."""
        sample["_runtime"] = t - self._t0_wall
        self._system_q.append((t, self._step - 1, dumps(sample)))

    def _take_side(self) -> tuple[list[Any], list[Any], list[Any] | None]:
        """Called on the writer thread: samples and console lines to write with this flush."""
        q = self._system_q
        samples = [q.popleft() for _ in range(len(q))]
        if self._console is None:
            return samples, [], None
        lines, open_lines = self._console.take()
        return samples, lines, open_lines

    def _stop_side_capture(self) -> None:
        """Take the last system sample and end console capture (before the writer closes)."""
        if self._sampler is not None:
            self._sampler.stop()
        if self._console is not None:
            _console.stop(self._console)

    def _sync_side(self) -> None:
        if self._writer.alive:
            self._writer.sync()

    # -- files -------------------------------------------------------------------------------
    def save(
        self,
        glob_str: str | os.PathLike[str] | None = None,
        base_path: str | os.PathLike[str] | None = None,
        policy: str = "live",
    ) -> list[str]:
        """Save the files ``glob_str`` matches now into the run's files (rule 34).

        Relative globs keep their folders, ``base_path`` is stripped from the stored names,
        an absolute glob without ``base_path`` keeps one folder level. ``policy``: ``live``
        (copied now and again when it changes, until the run finishes), ``now`` (once),
        ``end`` (when the run finishes). Returns the paths of the stored copies.
        """
        if self._state not in LIVE_STATES:
            raise UsageError(f"save: run {self.id} is {self._state}; save files before finish()")
        return self._files.save(glob_str, base_path, policy)

    @contextlib.contextmanager
    def capture_thread_output(self) -> Iterator[None]:
        """Within the block, what this thread prints goes to this run's ``output.log`` (as
        well as to the screen) when the run captures console output (issue 13); a training
        thread (``nbrun.launch``) runs inside it."""
        sink = self._console
        if sink is not None:
            _console.bind_thread(sink)
        try:
            yield
        finally:
            _console.unbind_thread()

    def write_output(self, stream: str, text: str) -> None:
        """Add ``text`` to the run's ``output.log`` as written to ``stream`` (``"stdout"`` or
        ``"stderr"``) without printing it; nothing when the run does not capture console
        output."""
        if stream not in ("stdout", "stderr"):
            raise UsageError(f"write_output: stream {stream!r}; allowed: 'stdout', 'stderr'")
        if not isinstance(text, str):
            raise UsageError(f"write_output: text must be a str, got {type(text).__name__}")
        if self._console is not None:
            self._console.feed(stream, text)
