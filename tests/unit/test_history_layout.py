"""The history layer's layout (issue 22 item 4): ``nbrun/_history/`` is a package of small
modules, one concept each, importing one another one way, in the order its ``__init__`` and
CONTRIBUTING's module map list them; other modules keep importing from ``nbrun._history``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbrun._history

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "nbrun" / "_history"
#: the submodules, each importing only those before it
ORDER = ["values", "codec", "state", "frames", "buckets", "feeds", "blocks", "writer"]


def _submodules() -> list[str]:
    return sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")


def test_history_is_a_package_of_modules_under_800_lines_each_with_a_docstring() -> None:
    assert PKG.is_dir(), "nbrun/_history is a package (nbrun/_history/__init__.py + modules)"
    assert not (ROOT / "nbrun" / "_history.py").exists()
    assert _submodules() == sorted(ORDER)
    for path in sorted(PKG.glob("*.py")):
        text = path.read_text()
        lines = len(text.splitlines())
        assert lines <= 800, f"{path.name}: {lines} lines"
        assert ast.get_docstring(ast.parse(text)), f"{path.name} has no module docstring"


def _sibling_imports(path: Path) -> set[str]:
    """The package modules a submodule imports (``from .x import ...``, any kind of import)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:
                out.update(a.name for a in node.names)
                out.add("__init__")
            else:
                out.add(node.module.split(".")[0])
    return out


def test_history_modules_import_one_way_in_the_documented_order() -> None:
    wrong = []
    for i, name in enumerate(ORDER):
        for target in sorted(_sibling_imports(PKG / f"{name}.py")):
            if target not in ORDER[:i]:
                wrong.append(f"{name} imports {target} (allowed: {ORDER[:i]})")
    assert not wrong, "\n".join(wrong)
    doc = nbrun._history.__doc__ or ""
    listed = re.findall(r"^- ``(\w+)``", doc, re.M)
    assert listed == ORDER, "the package docstring lists its modules in import order"


def _imported_names() -> dict[str, set[str]]:
    """Every name a module of nbrun/, tests/ or bench/ takes from ``nbrun._history`` itself
    (``from nbrun._history import x``, ``from ._history import x``, ``_history.x``)."""
    out: dict[str, set[str]] = {}
    files = [*(ROOT / "nbrun").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    files += [*(ROOT / "bench").rglob("*.py")]
    for path in files:
        if PKG in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module in ("nbrun._history", "_history"):
                names = [a.name for a in node.names]
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "_history"
            ):
                names = [node.attr]
            for n in names:
                out.setdefault(n, set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_name_other_modules_import_from_history_is_reexported() -> None:
    used = _imported_names()
    assert {"clean_log", "Writer", "FloatBlock", "MAX_STEP", "_convert"} <= set(used)
    exported = set(nbrun._history.__all__)
    missing = {n: sorted(files) for n, files in used.items() if n not in exported}
    assert not missing, f"re-export these from nbrun/_history/__init__.py: {missing}"
    for name in exported:
        assert getattr(nbrun._history, name) is not None


def test_contributing_module_map_lists_every_history_module() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| 3 | `_history/`"))
    listed = re.findall(r"`(\w+)` \(", row)
    assert listed == ORDER, row
