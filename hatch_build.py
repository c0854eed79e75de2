"""Hatch build hook: bundle the widget front end (Vega, Vega-Lite, vega-embed) from npm.

The bundle is built from ``js/`` with esbuild into ``nbrun/widgets/static/`` whenever it is
missing or older than its sources, so a wheel or an editable install always ships JavaScript
that renders charts with no internet access.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class NpmBuildHook(BuildHookInterface):
    """Run ``npm ci`` and ``npm run build`` when the static bundle is stale."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        js_dir = root / "js"
        static = root / "nbrun" / "widgets" / "static"
        if not js_dir.is_dir() or not (root / "package.json").is_file():
            return  # building from an sdist that already carries the bundle
        sources = [p for p in js_dir.rglob("*") if p.is_file()] + [root / "package.json"]
        outputs = list(static.glob("*.js"))
        newest_src = max(p.stat().st_mtime for p in sources)
        if outputs and min(p.stat().st_mtime for p in outputs) >= newest_src:
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "nbrun's widget bundle needs Node.js and npm at build time "
                "(apt-get install nodejs npm), or a wheel that already contains it"
            )
        if not (root / "node_modules").is_dir():
            cmd = "ci" if (root / "package-lock.json").is_file() else "install"
            subprocess.run([npm, cmd, "--no-audit", "--no-fund"], cwd=root, check=True)
        subprocess.run([npm, "run", "build"], cwd=root, check=True)
