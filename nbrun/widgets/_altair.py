"""An Altair renderer that draws charts with the Vega bundled in nbrun (offline).

Altair 6's default renderer loads vega-embed from a CDN (blank without the internet), its
``jupyter`` renderer imports it from a CDN as well unless ``enable_offline()`` (an 84 MB
dependency), and JupyterLab 4's own Vega-Lite renderer stops at Vega-Lite v5 while Altair 6
emits v6. :func:`use_offline_renderer` registers ``"nbrun"``: each chart becomes a small
anywidget whose front end (``js/chart.js``) is small: it draws with the Vega module nbrun ships
(``static/vega.js``), loaded from the Jupyter server or the kernel (:mod:`._assets`, as the
dashboard does), once per page and never saved in the notebook. The bundle also carries a
``text/plain`` naming the chart. It is enabled by :func:`nbrun.widgets.chart` (what
``run.chart(key)`` calls) unless the user chose another renderer than Altair's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import anywidget
import traitlets

from ._assets import asset_path, serve_assets

STATIC = Path(__file__).parent / "static"
NAME = "nbrun"


class ChartWidget(anywidget.AnyWidget):
    """One Vega-Lite spec drawn offline (the widget behind the ``"nbrun"`` renderer)."""

    _esm = STATIC / "chart.js"
    spec = traitlets.Dict().tag(sync=True)
    #: the Vega module's path, loaded from the server or the kernel (see :mod:`._assets`)
    _vega = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        """``spec``: the Vega-Lite spec to draw."""
        kwargs.setdefault("_vega", asset_path("vega.js"))
        super().__init__(**kwargs)
        serve_assets(self)


def _title(spec: dict[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    return str(title) if title else "chart"


def render(spec: dict[str, Any], **_metadata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Altair renderer: a :class:`ChartWidget` of ``spec``'s mimebundle."""
    widget = ChartWidget(spec=spec)
    bundle = widget._repr_mimebundle_()
    if bundle is None:  # pragma: no cover - only without a widget front end
        return {"text/plain": f"<Altair chart {_title(spec)}>"}, {}
    data, meta = bundle
    data["text/plain"] = f"<Altair chart {_title(spec)} (drawn offline by nbrun)>"
    return data, meta


def use_offline_renderer(force: bool = False) -> None:
    """Register Altair renderer ``"nbrun"`` and enable it when Altair's default (CDN) renderer
    is active, or always with ``force``."""
    if NAME not in alt.renderers.names():
        alt.renderers.register(NAME, render)
    if force or alt.renderers.active in ("default", "html"):
        alt.renderers.enable(NAME)
