"""nbrun's Jupyter server extension: the widgets' front-end modules (``static/``) served at
``{base_url}nbrun/static/<version>/<name>`` (rule 64), so that neither the kernel nor the saved
notebook carries them.

nbrun installs ``etc/jupyter/jupyter_server_config.d/nbrun.json``, which enables this module
in every Jupyter server of the environment (JupyterLab, Notebook 7, Voila); without it (or
with another nbrun version in the server than in the kernel: the versioned path answers 404)
the widgets fetch the modules from the kernel instead (see :mod:`._assets`). The files are
public code, served like JupyterLab's own static files, without a token, and cached for good:
their path changes with their content.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.utils import url_path_join
from tornado import web

from ._assets import ASSETS, STATIC, asset_version


class AssetHandler(web.StaticFileHandler):
    """One of :data:`ASSETS`, as JavaScript, cached for a year."""

    def set_extra_headers(self, path: str) -> None:
        """JavaScript modules, immutable under their versioned path."""
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The extension jupyter_server loads from this module."""
    return [{"module": "nbrun.widgets._server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the asset route to the server's web application."""
    web_app = serverapp.web_app
    names = "|".join(name.replace(".", r"\.") for name in ASSETS)
    route = url_path_join(web_app.settings["base_url"], f"nbrun/static/{asset_version()}/({names})")
    web_app.add_handlers(".*$", [(route, AssetHandler, {"path": str(STATIC)})])
    serverapp.log.info("nbrun: serving the widgets' modules at %s", route)
