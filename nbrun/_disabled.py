"""``mode="disabled"``: a run that accepts every call and writes nothing (rule 8)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from ._config import Config
from ._console import logs_frame
from ._history import RowFeed
from ._registry import current_run, set_current
from ._states import FAILED, FINISHED, RUNNING
from ._summary import Metric, Summary, make_metric
from .errors import UsageError


def _disabled(what: str) -> UsageError:
    return UsageError(
        f"{what}: this run is disabled (mode='disabled'), so nothing is stored to "
        "fork, rewind, chart or export; start it with mode='online' or 'offline' for that"
    )


class DisabledRun:
    """Stands in for a :class:`~nbrun.Run` when ``mode="disabled"``: nothing is stored."""

    def __init__(
        self,
        *,
        id: str,
        project: str,
        entity: str,
        name: str | None,
        config: dict[str, Any],
        tags: tuple[str, ...],
        notes: str | None,
        group: str | None,
        job_type: str | None,
    ) -> None:
        self.id = id
        self.project = project
        self.entity = entity
        self.name = name or "disabled"
        self.config = Config(config, allow_val_change=True)
        self.summary = Summary()
        self.tags = tags
        self.notes = notes
        self.group = group
        self.job_type = job_type
        self.step = 0
        self.starting_step = 0
        self.start_time = time.time()
        self.created = self.start_time
        self.ended: float | None = None
        self.resumed = False
        self.forked_from = None
        self.state = RUNNING
        self.settings = None
        self.url = None
        self.dir = None
        self.disabled = True
        self.sweep_id = None  # a disabled run is no sweep's trial (rule 54)
        self.offline = False
        self.root = None
        self.error = None
        self.exit_code: int | None = None
        self.total = None
        self.training = False
        self.stop_requested = False
        self.alerts: list[dict[str, Any]] = []
        self.config_diff: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}
        self.restored_step: int | None = None

    @property
    def path(self) -> str:
        """``entity/project/id``."""
        return f"{self.entity}/{self.project}/{self.id}"

    def log(
        self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None
    ) -> None:
        """Accepted and dropped."""
        if step is not None and isinstance(step, int):
            self.step = max(self.step, step)
        if commit or (commit is None and step is None):
            self.step += 1

    def define_metric(self, name: str, **kwargs: Any) -> Metric:
        """Accepted (and checked) but unused."""
        kwargs.pop("overwrite", None)
        return make_metric(name, **kwargs)

    def finish(self, exit_code: int | None = None) -> None:
        """Mark the stand-in finished."""
        self.state = FINISHED if not exit_code else FAILED
        self.exit_code = exit_code or 0
        self.ended = time.time()
        if current_run() is self:
            set_current(None)

    def alert(self, *args: Any, **kwargs: Any) -> None:
        """Accepted and dropped."""

    def get_url(self) -> None:
        """None."""
        return None

    def get_project_url(self) -> None:
        """None."""
        return None

    def get_sweep_url(self) -> None:
        """None."""
        return None

    def _label(self, **labels: Any) -> None:
        """Accepted and dropped."""

    def watch(self, *args: Any, **kwargs: Any) -> None:
        """Accepted and dropped."""

    def unwatch(self, *args: Any, **kwargs: Any) -> None:
        """Accepted and dropped."""

    def use_artifact(self, artifact: Any, *args: Any, **kwargs: Any) -> Any:
        """Returns the artifact given (nothing is stored or read)."""
        return artifact

    def mark_preempting(self) -> None:
        """Accepted and dropped."""

    def stop(self) -> None:
        """Accepted and dropped."""

    @property
    def store(self) -> None:
        """A disabled run lives in no store: None."""
        return None

    @property
    def store_key(self) -> None:
        """A disabled run lives in no store: None."""
        return None

    def record(self) -> Any:
        """A disabled run has no stored record: a :class:`~nbrun.UsageError`."""
        raise _disabled("record")

    @contextlib.contextmanager
    def capture_thread_output(self) -> Iterator[None]:
        """Nothing is captured: the block runs as it is."""
        yield

    def write_output(self, stream: str, text: str) -> None:
        """Accepted and dropped (there is no ``output.log``)."""

    def request_stop(self) -> None:
        """Accepted and dropped (nothing trains that could be stopped)."""

    def attach_training(self, state: Any) -> None:
        """A disabled run has no stored run to train: a :class:`~nbrun.UsageError`
        (``nbrun.launch`` refuses it the same way)."""
        raise _disabled("attach_training")

    @property
    def training_state(self) -> None:
        """No background training is attached: None."""
        return None

    def detach(self) -> None:
        """Nothing is written here, so there is nothing to hand over: a
        :class:`~nbrun.UsageError`."""
        raise _disabled("detach")

    def hand_off(self, metadata: Any) -> Any:
        """A disabled run has no stored record to hand to another process: a
        :class:`~nbrun.UsageError`."""
        raise _disabled("hand_off")

    def save(self, *args: Any, **kwargs: Any) -> list[str]:
        """Does nothing (nothing is stored); returns no paths."""
        return []

    def log_artifact(self, artifact_or_path: Any, *args: Any, **kwargs: Any) -> Any:
        """Stores nothing; returns the artifact (or None for a path)."""
        return artifact_or_path if not isinstance(artifact_or_path, (str, os.PathLike)) else None

    upsert_artifact = finish_artifact = log_artifact

    def log_model(self, *args: Any, **kwargs: Any) -> None:
        """Stores nothing."""

    link_model = link_artifact = log_code = log_model

    def logged_artifacts(self, lineage: bool = False) -> list[Any]:
        """Always empty."""
        return []

    def used_artifacts(self) -> list[Any]:
        """Always empty."""
        return []

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to flush."""
        return True

    def follow(self, from_step: int | None = None) -> RowFeed:
        """An empty feed."""
        return RowFeed()

    def check_rows(self, check: Any) -> RowFeed:
        """Nothing is written, so ``check`` is never called: an empty feed."""
        return RowFeed()

    def history(
        self, keys: Any = None, lineage: bool = True, samples: Any = None, stream: str = "default"
    ) -> Any:
        """An empty DataFrame."""
        import pandas as pd  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light

        if stream == "system":
            return pd.DataFrame(columns=["_runtime", "_timestamp"])
        return pd.DataFrame(columns=["_step", "_runtime", "_timestamp"])

    def logs(self, last: int | None = None) -> Any:
        """No console lines: an empty DataFrame."""
        return logs_frame([])

    def files(self, names: Any = None) -> list[Any]:
        """No files."""
        return []

    def archives(self) -> list[Any]:
        """No archives."""
        return []

    def children(self) -> list[Any]:
        """No children."""
        return []

    def display(self) -> None:
        """Nothing to show."""

    @property
    def runtime(self) -> float:
        """Seconds since the stand-in was made."""
        return time.time() - self.start_time

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """The metrics defined with :meth:`define_metric` are not kept: empty."""
        return {}

    def use_model(self, name: str) -> str:
        """Nothing is stored to download from: a :class:`~nbrun.UsageError`."""
        raise _disabled(f"use_model({name!r})")

    def history_buckets(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """No metrics: an empty dict."""
        return {}

    def checkpoint(self, obj: Any, serializer: Any = None) -> None:
        """Accepted and dropped (nothing is stored): returns None."""
        return None

    def checkpoints(self, lineage: bool = True) -> list[Any]:
        """No checkpoints."""
        return []

    def restore(self, *args: Any, **kwargs: Any) -> None:
        """No checkpoint: None, so a training function starts from its initial state."""
        return None

    def live(self) -> DisabledRun:
        """The stand-in itself (this process writes it, as far as there is anything to write)."""
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Nothing trains in the background: True at once."""
        return True

    def fork(self, step: int, *args: Any, **kwargs: Any) -> Any:
        """A disabled run has no stored history to fork: a :class:`~nbrun.UsageError`."""
        raise _disabled(f"fork({step!r})")

    def rewind(self, step: int, *args: Any, **kwargs: Any) -> Any:
        """A disabled run has no stored history to rewind: a :class:`~nbrun.UsageError`."""
        raise _disabled(f"rewind({step!r})")

    def fork_many(self, step: int, *args: Any, **kwargs: Any) -> Any:
        """A disabled run has no stored history to fork: a :class:`~nbrun.UsageError`."""
        raise _disabled(f"fork_many({step!r})")

    def chart(self, key: str) -> Any:
        """No stored history to chart: a :class:`~nbrun.UsageError`."""
        raise _disabled(f"chart({key!r})")

    def to_html(self, path: Any = None) -> Any:
        """No stored run to export: a :class:`~nbrun.UsageError`."""
        raise _disabled("to_html()")

    def tree(self, metric: str | None = None) -> Any:
        """No stored family to draw: a :class:`~nbrun.UsageError`."""
        raise _disabled("tree()")

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(self, *exc: Any) -> Literal[False]:
        self.finish(0 if exc[0] is None else 1)
        return False
