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
``static/boot.js`` and its ``_module`` names the real module, which the loader imports once
the widget's data has arrived. Traits named in ``_transient`` are not part of the saved state:
they go to the browser as custom ``{"type": "nbrun_traits"}`` messages (the loader keeps them
and hands the real module a model that reads them), sent when they change and in answer to
the loader's ``{"nbrun": "state"}`` request. A view restored from a saved notebook without its
kernel gets no answer, draws nothing and leaves the static snapshot beside it in view.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets
from ipywidgets.widgets.widget import _remove_buffers

STATIC = Path(__file__).parent / "static"
#: the files the kernel and the server extension hand out (nothing else under static/)
ASSETS = ("dashboard.js", "project.js", "chart.js", "vega.js")

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


class LazyWidget(anywidget.AnyWidget):
    """An anywidget whose real module and big traits stay out of the saved notebook (see the
    module's docstring). Subclasses set ``_module`` to a name in :data:`ASSETS` and
    ``_transient`` to the names of the synced traits that are sent as messages instead."""

    _esm = STATIC / "boot.js"
    #: the server path of the real front-end module (``nbrun/static/<version>/<name>``)
    _module = traitlets.Unicode("").tag(sync=True)
    #: the names of the traits kept out of the saved state
    _transient: ClassVar[tuple[str, ...]] = ()
    #: the file name of the real module under ``static/``
    _module_name: ClassVar[str] = ""

    def __init__(self, **kwargs: Any) -> None:
        """As ``anywidget.AnyWidget``; the real module is named from ``_module_name``."""
        kwargs.setdefault("_module", asset_path(self._module_name))
        super().__init__(**kwargs)
        self.on_msg(self._on_lazy_message)

    def get_state(
        self, key: str | Iterable[str] | None = None, drop_defaults: bool = False
    ) -> dict[str, Any]:
        """The synced state; without ``key`` (the state a new model opens with, and the one
        embedded or saved) the transient traits are left out."""
        if key is None:
            key = [k for k in self.keys if k not in self._transient]
        return dict(super().get_state(key=key, drop_defaults=drop_defaults))

    def send_state(self, key: str | Iterable[str] | None = None) -> None:
        """Send changed traits: the transient ones as an ``nbrun_traits`` message, the others
        as ipywidgets' update (which nbclient and JupyterLab record)."""
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

    def _on_lazy_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("nbrun") == "state":
            self._send_transient(list(self._transient), full=True)
            return
        answer = asset_reply(content)
        if answer is not None:
            self.send(answer[0], answer[1])
