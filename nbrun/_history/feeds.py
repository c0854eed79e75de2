"""Live feeds: rows written since a feed was opened (for views and widgets that follow a
run)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any


# -- live feeds ----------------------------------------------------------------------------
def column_rows(cols: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Rows (dicts without missing keys) from finished columns, in order."""
    keys = list(cols)
    return [
        {k: cols[k][i] for k in keys if cols[k][i] is not None} for i in range(len(cols["_step"]))
    ]


class RowFeed:
    """Rows written since the feed was opened; :meth:`drain` returns and forgets them.
    ``on_close`` is called once by :meth:`close` (the run stops feeding it)."""

    def __init__(
        self,
        initial: Iterable[dict[str, Any]] = (),
        on_close: Callable[[RowFeed], None] | None = None,
    ) -> None:
        self._rows: deque[dict[str, Any]] = deque(initial)
        self._on_close = on_close
        self.closed = False

    def append(self, row: dict[str, Any]) -> None:
        """Called by the run for every written row."""
        self._rows.append(row)

    def drain(self) -> list[dict[str, Any]]:
        """Return the rows written since the last drain (non-blocking)."""
        rows = self._rows
        return [rows.popleft() for _ in range(len(rows))]

    def close(self) -> None:
        """Stop receiving rows."""
        if not self.closed:
            self.closed = True
            if self._on_close is not None:
                self._on_close(self)


class RowCheck(RowFeed):
    """A feed that keeps no rows: it calls ``check(row)`` for every row the run writes, in
    the thread that writes it, once the row is written (``Run.check_rows``). An exception
    ``check`` raises comes out of the ``log`` call (or ``finish``) that wrote the row; the
    row stays written and the run stays as it was."""

    def __init__(
        self,
        check: Callable[[dict[str, Any]], None],
        on_close: Callable[[RowFeed], None] | None = None,
    ) -> None:
        super().__init__((), on_close)
        self._check = check

    def append(self, row: dict[str, Any]) -> None:
        """Called by the run for every written row: check it, keep nothing."""
        self._check(row)
