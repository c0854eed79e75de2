"""The widgets' front-end modules, kept out of saved notebooks (rules 64-65).

A notebook saves the state of every live widget model (nbclient and JupyterLab write it into
the notebook's metadata), so nothing big may be a synced trait. The modules in ``static/``
(``dashboard.js``, about 55 KB; ``vega.js``: Vega, Vega-Lite and vega-embed, about 0.9 MB)
reach the browser in one of two ways, both tried by ``js/lib/assets.js``:

* from the Jupyter server, at ``{base_url}nbrun/static/<version>/<name>`` (the server
  extension in :mod:`._server`, installed with nbrun), with a dynamic ``import()``;
* from the kernel, over the widget's comm: a custom ``{"nbrun": "asset", "name"}`` message is
  answered by ``{"type": "nbrun_asset", "name", "ok"}`` with the file's bytes as a buffer (marimo,
  VS Code, Colab: no Jupyter server). Custom messages are never saved.

:class:`LazyWidget` is the base of such widgets: its ``_esm`` is the small loader
``static/boot.js`` and its ``_module`` names the real module. Its data traits (``_transient``)
start in the synced state, so a view shows at once, also while a foreground cell keeps the
kernel from reading messages; ``_inline`` names them while they are there. When a loader has
read them it says so (``{"nbrun": "state", "have": true}``; a loader that found none asks with
``{"nbrun": "state"}`` and gets a full ``{"type": "nbrun_traits", "full": true}`` answer): the
kernel then empties them in the synced state (what JupyterLab saves) and sends every later
change as an ``nbrun_traits`` custom message. Where no front end ever answers (nbclient,
``jupyter execute``), a ``{"method": "nbrun_saved"}`` message after every cell carries the
emptied traits: nbclient records it like an update, front ends ignore its method. A view
restored from a saved notebook without its kernel finds no data, draws nothing and leaves the
static snapshot beside it in view.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets
from ipywidgets.widgets.widget import _remove_buffers

STATIC = Path(__file__).parent / "static"
#: the files the kernel and the server extension hand out (nothing else under static/)
ASSETS = ("dashboard.js", "project.js", "chart.js", "tree.js", "vega.js")

_version_lock = threading.Lock()
_versions: dict[str, str] = {}


def asset_version() -> str:
    """A short hash of the shipped front-end files: the versioned folder of their URL, so a
    browser never uses a stale cached copy and a server serving other files answers 404 (the
    loader then asks the kernel)."""
    with _version_lock:
        if "v" not in _versions:
            digest = hashlib.sha256()
            for name in ASSETS:
                path = STATIC / name
                digest.update(name.encode() + b"\0")
                digest.update(path.read_bytes() if path.exists() else b"")
            _versions["v"] = digest.hexdigest()[:16]
        return _versions["v"]


def asset_path(name: str) -> str:
    """The server-relative path of asset ``name`` (joined to the server's base URL in the
    browser): ``nbrun/static/<version>/<name>``."""
    return f"nbrun/static/{asset_version()}/{name}"


def asset_reply(content: Any) -> tuple[dict[str, Any], list[bytes]] | None:
    """The answer to a ``{"nbrun": "asset", "name": ...}`` message (the reply and its
    buffers), or None when ``content`` is no such request. Only the files in :data:`ASSETS`
    are handed out."""
    if not isinstance(content, dict) or content.get("nbrun") != "asset":
        return None
    name = content.get("name")
    reply: dict[str, Any] = {"type": "nbrun_asset", "name": name}
    if name not in ASSETS:
        reply.update(ok=False, message=f"unknown asset {name!r}: one of {', '.join(ASSETS)}")
        return reply, []
    reply["ok"] = True
    return reply, [(STATIC / str(name)).read_bytes()]


def serve_assets(widget: Any) -> None:
    """Answer ``widget``'s asset requests (any ipywidget with ``on_msg`` and ``send``)."""

    def on_msg(_widget: Any, content: Any, _buffers: Any) -> None:
        answer = asset_reply(content)
        if answer is not None:
            widget.send(answer[0], answer[1])

    widget.on_msg(on_msg)


def in_marimo() -> bool:
    """Whether this kernel is marimo's (rule 72): marimo hosts anywidgets and shows every extra
    output of a display bundle as a tab of its own, so nbrun's views emit the widget only."""
    marimo = sys.modules.get("marimo")
    running = getattr(marimo, "running_in_notebook", None)
    try:
        return bool(running()) if callable(running) else False
    except Exception:  # an older or partial marimo: not its kernel
        return False


def boot_data_url() -> str:
    """The loader ``static/boot.js`` as a ``data:`` URL (about 4 KB). marimo takes such an
    ``_esm`` as it is; any other text it stores as a file of the running cell, which fails for a
    widget made while no cell runs (a dashboard opened from the project view or a family tree
    by a click): rule 72."""
    with _version_lock:
        if "boot" not in _versions:
            code = (STATIC / "boot.js").read_bytes()
            _versions["boot"] = "data:text/javascript;base64," + base64.b64encode(code).decode()
        return _versions["boot"]


_carrying: weakref.WeakSet[LazyWidget] = weakref.WeakSet()
#: the (shell, callback) pairs registered by :func:`after_every_cell`
_hooked: list[tuple[Any, Callable[..., None]]] = []


def _after_cell(*_args: Any) -> None:
    for widget in list(_carrying):
        try:
            widget.clear_saved_data()
        except Exception:  # never break the user's cell
            continue


def after_every_cell(callback: Callable[..., None]) -> None:
    """Call ``callback`` after every cell the kernel runs (IPython's ``post_run_cell``),
    registered once per shell; nothing outside IPython."""
    try:
        from IPython import get_ipython  # noqa: PLC0415 - the notebook stack, on use
    except ImportError:  # pragma: no cover - IPython comes with the widget stack
        return
    ip = get_ipython()
    if ip is None or any(shell is ip and hook is callback for shell, hook in _hooked):
        return
    _hooked.append((ip, callback))
    ip.events.register("post_run_cell", callback)


def _watch_cells() -> None:
    """Empty the data nbclient records after every cell the kernel runs (the cell's own
    messages, which nbclient reads)."""
    after_every_cell(_after_cell)


class LazyWidget(anywidget.AnyWidget):
    """An anywidget whose real module and data stay out of the saved notebook (see the
    module's docstring). Subclasses set ``_module_name`` to a name in :data:`ASSETS` and
    ``_transient`` to the names of their data traits."""

    _esm = STATIC / "boot.js"
    #: the server path of the real front-end module (``nbrun/static/<version>/<name>``)
    _module = traitlets.Unicode("").tag(sync=True)
    #: the data traits the synced state still carries (all at first; none once a loader read
    #: them)
    _inline: traitlets.List[str] = traitlets.List(traitlets.Unicode()).tag(sync=True)
    #: the names of the data traits
    _transient: ClassVar[tuple[str, ...]] = ()
    #: the file name of the real module under ``static/``
    _module_name: ClassVar[str] = ""

    def __init__(self, **kwargs: Any) -> None:
        """As ``anywidget.AnyWidget``; the real module is named from ``_module_name``."""
        kwargs.setdefault("_module", asset_path(self._module_name))
        kwargs["_inline"] = list(self._transient)
        if in_marimo():
            kwargs["_esm"] = boot_data_url()
        # one send at a time decides between update and message (the update thread and the
        # comm's handler both send)
        self._lazy_lock = threading.RLock()
        super().__init__(**kwargs)
        self.on_msg(self._on_lazy_message)
        _carrying.add(self)
        _watch_cells()

    def get_state(
        self, key: str | Iterable[str] | None = None, drop_defaults: bool = False
    ) -> dict[str, Any]:
        """The synced state; without ``key`` (the state a model opens with, and what is
        embedded), the data traits only while they are inline."""
        if key is None and not self._inline:
            key = [k for k in self.keys if k not in self._transient]
        return dict(super().get_state(key=key, drop_defaults=drop_defaults))

    def send_state(self, key: str | Iterable[str] | None = None) -> None:
        """Send changed traits: as ipywidgets' update while the data is inline; after that
        the data traits as an ``nbrun_traits`` message, the others as an update."""
        with self._lazy_lock:
            if self._inline:
                super().send_state(key)
                return
            keys = list(self.keys) if key is None else [key] if isinstance(key, str) else list(key)
            kept = [k for k in keys if k not in self._transient]
            moved = [k for k in keys if k in self._transient]
            if kept or not moved:
                super().send_state(kept)
            if moved:
                self._send_transient(moved, full=False)

    def _send_transient(self, keys: list[str], *, full: bool) -> None:
        """Send traits ``keys`` as one ``nbrun_traits`` message (``full``: all of them, the
        answer to the loader's state request)."""
        if self.comm is None:
            return
        state, paths, buffers = _remove_buffers(super().get_state(key=keys))
        msg = {"type": "nbrun_traits", "state": state, "buffer_paths": paths, "full": full}
        self.send(msg, buffers)

    def _emptied(self, method: str) -> None:
        """Send the data traits emptied (their types' empty values, serialised as the traits
        are), with ``_inline`` empty, as a ``method`` message."""
        state: dict[str, Any] = {"_inline": []}
        for name in self._transient:
            trait = self.traits()[name]
            empty: Any = (
                []
                if isinstance(trait, traitlets.List)
                else {}
                if isinstance(trait, traitlets.Dict)
                else ""
                if isinstance(trait, traitlets.Unicode)
                else None
            )
            to_json = self.trait_metadata(name, "to_json", self._trait_to_json)
            state[name] = to_json(empty, self)
        state, paths, buffers = _remove_buffers(state)
        self._send({"method": method, "state": state, "buffer_paths": paths}, buffers=buffers)

    def clear_saved_data(self) -> None:
        """After a cell: what nbclient saves of the data traits is emptied (a message of a
        method front ends ignore); nothing changes for a front end."""
        with self._lazy_lock:
            if self._inline and self.comm is not None:
                self._emptied("nbrun_saved")

    def _take_out(self) -> None:
        """A loader has the data: empty it in the synced state (what JupyterLab saves) and send
        the data traits as messages from now on."""
        with self._lazy_lock:
            if not self._inline:
                return
            _carrying.discard(self)
            self._inline = []
            self._emptied("update")

    def _on_lazy_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("nbrun") == "state":
            self._take_out()
            if not content.get("have"):
                self._send_transient(list(self._transient), full=True)
            return
        answer = asset_reply(content)
        if answer is not None:
            self.send(answer[0], answer[1])
