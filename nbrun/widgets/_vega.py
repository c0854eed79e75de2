"""The Vega module (``static/vega.js``: Vega, Vega-Lite and vega-embed, about 0.9 MB) as one
widget model per kernel, shared by every dashboard.

The dashboard's own module (``static/dashboard.js``) does not carry Vega: anywidget sends a
widget's whole module with every instance and the browser parses it before the widget shows
anything. A dashboard draws its first charts as plain SVG lines and then loads Vega from this
model (``js/dashboard/vegaload.js``: a dynamic import of the ``code`` trait as a blob URL, once
per page and model). The dashboard's ``_vega`` trait names the model (``IPY_MODEL_<id>``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import ipywidgets
import traitlets

STATIC = Path(__file__).parent / "static"


class VegaModule(ipywidgets.Widget):
    """A model without a view holding the Vega module's code (``code``)."""

    code = traitlets.Unicode("").tag(sync=True)


_lock = threading.Lock()
_shared: list[VegaModule] = []


def vega_module() -> VegaModule:
    """This kernel's :class:`VegaModule` (made on first use; made again if it was closed)."""
    with _lock:
        if _shared and _shared[0].comm is not None:
            return _shared[0]
        module = VegaModule(code=(STATIC / "vega.js").read_text(encoding="utf-8"))
        _shared[:] = [module]
        return module


def vega_ref() -> str:
    """The reference a dashboard's ``_vega`` trait holds: ``IPY_MODEL_<model id>``."""
    return f"IPY_MODEL_{vega_module().model_id}"
