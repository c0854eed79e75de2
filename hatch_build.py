"""Hatch build hook: bundle the widget front end (Vega, Vega-Lite, vega-embed) from npm, and
compile the optional C fast path of ``Run.log`` (``nbrun/_fastlog.c``).

The bundle is built from ``js/`` with esbuild into ``nbrun/widgets/static/`` whenever it is
missing or older than its sources, so a wheel or an editable install always ships JavaScript
that renders charts with no internet access.

The extension is compiled in place (``nbrun/_fastlog.<abi>.so``) with setuptools' ``build_ext``
when a C compiler is there; when compiling fails the build warns and goes on without it, and
nbrun uses its pure-Python path (the same results, slower ``log``). ``NBRUN_NO_EXTENSION=1``
skips the compile. ``python hatch_build.py`` compiles it in place by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # `python hatch_build.py` without hatchling: only the extension is built
    BuildHookInterface = object  # type: ignore[assignment,misc]


def build_extension(root: Path) -> Path | None:
    """Compile ``nbrun/_fastlog.c`` in place; the built file, or None (with a warning) when
    there is no working C compiler, no setuptools, or ``NBRUN_NO_EXTENSION=1``."""
    if os.environ.get("NBRUN_NO_EXTENSION", "") not in ("", "0"):
        return None
    source = root / "nbrun" / "_fastlog.c"
    if not source.is_file():
        return None
    try:
        from setuptools import Distribution, Extension
        from setuptools.command.build_ext import build_ext

        dist = Distribution(
            {
                "name": "nbrun",
                "ext_modules": [
                    Extension("nbrun._fastlog", [str(source.relative_to(root))], optional=False)
                ],
            }
        )
        dist.script_name = "hatch_build.py"
        cmd = build_ext(dist)
        cmd.inplace = True
        cwd = os.getcwd()
        os.chdir(root)
        try:
            cmd.ensure_finalized()
            cmd.run()
            built = Path(cmd.get_ext_fullpath("nbrun._fastlog"))
        finally:
            os.chdir(cwd)
        built = built if built.is_absolute() else root / built
        return built if built.is_file() else None
    except (Exception, SystemExit) as exc:  # no compiler, no headers, no setuptools ...
        msg = (
            f"nbrun: the optional C fast path (nbrun/_fastlog.c) was not compiled ({exc}); "
            "nbrun works without it (pure Python, slower run.log)"
        )
        print(msg, file=sys.stderr)
        warnings.warn(msg, stacklevel=1)
        for stale in (root / "nbrun").glob("_fastlog.*"):  # built from an older source
            if stale.suffix in (".so", ".pyd"):
                stale.unlink()
        return None


class NpmBuildHook(BuildHookInterface):
    """Run ``npm ci`` and ``npm run build`` when the static bundle is stale; compile the C
    fast path when a compiler is there."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        built = build_extension(root)
        if built is not None and self.target_name == "wheel":
            # a compiled module: the wheel is for this interpreter and platform
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            if version != "editable":
                build_data["force_include"][str(built)] = f"nbrun/{built.name}"
        self._bundle(root)

    def _bundle(self, root: Path) -> None:
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


if __name__ == "__main__":
    out = build_extension(Path(__file__).resolve().parent)
    print(out if out is not None else "not built")
