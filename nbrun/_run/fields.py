"""``LiveRunFields``: the instance attributes of a live run, declared once (annotations only,
no values: ``Run.__init__`` sets them) so that the mixins ``files``, ``artifacts`` and
``lifecycle`` type-check against the fields they share with ``run``."""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from .. import _console
from .._files import FileSaver
from .._history import RowFeed, Writer
from .._lifecycle import TrainingState
from .._sysmetrics import Sampler
from .._views import RunView
from .settings import Settings


class LiveRunFields(RunView):
    """The fields of :class:`~nbrun._run.run.Run` its mixins read and write."""

    settings: Settings
    group: str | None
    resumed: bool
    metadata: dict[str, Any]
    _state: str
    _step: int
    _t0_wall: float
    _stop_requested: bool
    _pending: dict[str, Any]
    _lock: threading.RLock
    _writer: Writer
    _feeds: list[RowFeed]
    _training: TrainingState | None
    _system_q: deque[tuple[float, int, str]]
    _console: _console.ConsoleSink | None
    _sampler: Sampler | None
    _files: FileSaver

    if TYPE_CHECKING:  # defined by Run and RunFiles; declared here for the other mixins

        def _write_pending(self) -> None: ...

        def _stop_side_capture(self) -> None: ...
