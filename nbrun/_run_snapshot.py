"""A stored run read once with the others (``Api().runs(project, snapshot=True)``): a table of
a project's runs costs a few queries, whatever the number of runs (issue 25 item 8)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._lineage import fork_point
from ._records import ArchiveRecord, RunRecord
from ._store import Store
from ._views import Archive, StoredRun


class RunSnapshot(StoredRun):
    """A stored run as read at one moment (``Api().runs(project, snapshot=True)``): its
    fields, ``state``, ``step`` and ``archives()`` come from reads made for a whole list of
    runs at once (a few queries, whatever their number) instead of one read per attribute;
    history, files and children are read from the store as :class:`StoredRun` reads them.
    :meth:`refresh` turns it into a view that reads the run on every access, and so does every
    action (``delete``, ``move``, ``stop``, ``fork``, ``fork_many``, ``rewind``): they decide
    on the run as it is now, never on what was read."""

    def __init__(
        self, store: Store, rec: RunRecord, last: int | None, archives: list[ArchiveRecord]
    ) -> None:
        super().__init__(store, rec)
        self._last = last
        self._archived = archives
        self._fresh = False

    def _record(self) -> RunRecord:
        if self._fresh:
            return super()._record()
        return self._cached

    def refresh(self) -> None:
        """Read the run from the store on every access from now on (as :class:`StoredRun`)."""
        self._fresh = True

    @property
    def step(self) -> int:
        """The step the next row would get (last stored step + 1), as read."""
        if self._fresh:
            return super().step
        if self._last is not None:
            return self._last + 1
        point = fork_point(self._cached)
        return 0 if point is None else point.step + 1

    def archives(self) -> list[Archive]:
        """Segments archived by rewinds (and by re-creating the id), oldest first, as read."""
        if self._fresh:
            return super().archives()
        return [Archive(self._store, self.project, self.id, a) for a in self._archived]

    def delete(self, delete_artifacts: bool = False, detach_forks: bool = False) -> list[str]:
        """:meth:`StoredRun.delete`, on the run as it is now."""
        self.refresh()
        return super().delete(delete_artifacts, detach_forks)

    def move(self, project: str, with_lineage: bool = False) -> list[str]:
        """:meth:`StoredRun.move`, on the run as it is now."""
        self.refresh()
        return super().move(project, with_lineage)

    def stop(self) -> None:
        """:meth:`StoredRun.stop`, on the run as it is now."""
        self.refresh()
        super().stop()

    def fork(self, step: int, config: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """:meth:`RunView.fork`, from the run as it is now."""
        self.refresh()
        return super().fork(step, config, **kwargs)

    def fork_many(self, step: int, configs: Any, **kwargs: Any) -> list[Any]:
        """:meth:`RunView.fork_many`, from the run as it is now."""
        self.refresh()
        return super().fork_many(step, configs, **kwargs)

    def rewind(self, step: int, config: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """:meth:`RunView.rewind`, of the run as it is now."""
        self.refresh()
        return super().rewind(step, config, **kwargs)


def run_snapshots(store: Store, project: str | None) -> list[RunSnapshot]:
    """Every run (of ``project``) as a :class:`RunSnapshot`, oldest first: three queries."""
    archives = store.project_archives(project)
    return [
        RunSnapshot(store, rec, last, archives.get(rec.key, []))
        for rec, last in store.list_runs_with_steps(project)
    ]
