"""The optional C extension's build (``hatch_build.build_extension``): it compiles in place when
a compiler works, and when it does not the install goes on without it, with a warning, leaving
no extension built from an older source behind."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nbrun_hatch_build", ROOT / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "nbrun").mkdir()
    shutil.copy(ROOT / "nbrun" / "_fastlog.c", tmp_path / "nbrun" / "_fastlog.c")
    return tmp_path


def test_without_a_compiler_the_build_warns_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path)
    stale = root / "nbrun" / f"_fastlog{sysconfig.get_config_var('EXT_SUFFIX')}"
    stale.write_bytes(b"built from an older source")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.warns(UserWarning, match="was not compiled"):
        assert _hook().build_extension(root) is None
    assert not stale.exists()


def test_nbrun_no_extension_skips_the_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path)
    monkeypatch.setenv("NBRUN_NO_EXTENSION", "1")
    assert _hook().build_extension(root) is None
    assert list((root / "nbrun").iterdir()) == [root / "nbrun" / "_fastlog.c"]


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on this machine")
def test_with_a_compiler_it_builds_in_place_and_imports(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    built = _hook().build_extension(root)
    assert built is not None and built.parent == root / "nbrun"
    (root / "nbrun" / "__init__.py").write_text("")
    code = (
        "import nbrun._fastlog as f; r = f.log(None, {'a': 1.0}, None, None); "
        "print(f.LogMethod.__name__, r, f.counts())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["LogMethod", "False", "(0,", "1)"]  # no run: refused
