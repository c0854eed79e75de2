"""The import order of nbrun's modules is one-way (issue 10, CONTRIBUTING.md):

errors -> ids / states / system / registry / checkpoints -> store / media -> history -> config /
summary / lineage -> views -> run -> api -> training -> ``__init__``.

Module-level imports only go down that list. A function-level import of an nbrun module is
allowed only for the documented action forwards (``RunView.fork`` -> ``_training``,
``RunView.display`` -> ``widgets``, ...): each would otherwise close a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "nbrun"

LAYERS: dict[str, int] = {
    "errors": 0,
    "_ids": 1,
    "_states": 1,
    "_system": 1,
    "_registry": 1,
    "_wbnames": 1,
    "_checkpoints": 1,
    "_records": 1,  # the typed records the store returns and takes; imports nothing of nbrun
    "_store": 2,
    "_paths": 2,  # the checked join of paths built from stored data (rule 42); uses _ids
    "media": 2,  # nbrun/media/: the media types; imports nothing of the core
    "_history": 3,
    "_config": 4,
    "_summary": 4,
    "_lineage": 4,
    "_console": 4,
    "_sysmetrics": 4,
    "_files": 4,
    "_watch": 4,
    "_disabled": 5,
    "_artifacts": 5,
    "_manage": 5,
    "_views": 6,
    "_copy": 7,  # nbrun.copy: runs, files and artifact records from one store to another
    "_run": 7,
    "_api": 8,
    "_training": 9,
    "__init__": 10,
    "widgets": 11,
    "wandb_compat": 11,  # the W&B drop-in: like widgets, only public nbrun names
    "__main__": 11,  # python -m nbrun copy ...: only public nbrun names
}

#: (importer, imported) pairs allowed inside functions: the action forwards
FORWARDS = {
    ("_artifacts", "_views"),
    ("_views", "_training"),
    ("_views", "widgets"),
    ("_run", "_training"),
    ("__init__", "widgets"),
    ("__init__", "wandb_compat"),
}


def _target(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The nbrun modules (by top-level name under nbrun/) an import statement reaches."""
    out = []
    if isinstance(node, ast.ImportFrom):
        if node.level == 1 and node.module:
            out.append(node.module.split(".")[0])
        elif node.level == 1:  # from . import a, b
            out.extend(a.name for a in node.names)
        elif node.module and node.module.split(".")[0] == "nbrun" and "." in node.module:
            out.append(node.module.split(".")[1])
    else:
        for a in node.names:
            parts = a.name.split(".")
            if parts[0] == "nbrun" and len(parts) > 1:
                out.append(parts[1])
    return out


def _imports(path: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(module-level, function-level) nbrun imports of one file, TYPE_CHECKING blocks left out."""
    tree = ast.parse(path.read_text())
    top: list[tuple[str, int]] = []
    inner: list[tuple[str, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                for t in _target(path.stem, child):
                    (inner if in_function else top).append((t, child.lineno))
            fn = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, in_function or fn)

    visit(tree, False)
    return top, inner


def test_every_core_module_has_a_layer() -> None:
    missing = sorted(p.stem for p in PKG.glob("*.py") if p.stem not in LAYERS)
    assert not missing, f"add these modules to LAYERS (and CONTRIBUTING.md): {missing}"


def test_module_level_imports_only_go_down_the_layers() -> None:
    wrong = []
    for path in sorted(PKG.glob("*.py")):
        me = path.stem
        top, _ = _imports(path)
        for target, line in top:
            if target not in LAYERS:
                continue
            if LAYERS[target] >= LAYERS[me]:
                wrong.append(
                    f"{path.name}:{line} imports {target} (layer {LAYERS[target]} >= {LAYERS[me]})"
                )
    assert not wrong, "\n".join(wrong)


def test_function_level_imports_are_only_the_documented_forwards() -> None:
    found = set()
    wrong = []
    for path in sorted(PKG.glob("*.py")):
        _, inner = _imports(path)
        for target, line in inner:
            pair = (path.stem, target)
            if pair in FORWARDS:
                found.add(pair)
            else:
                wrong.append(f"{path.name}:{line} imports {target} inside a function")
    assert not wrong, "\n".join(wrong)
    assert found == FORWARDS  # the list stays honest: a forward that went away is removed


def test_the_checker_sees_a_violation() -> None:
    """The checks above would catch an upward or a hidden import (guards the AST walk)."""
    src = (
        "from . import _run\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ._api import init\n"
        "def f():\n"
        "    from ._training import launch\n"
    )
    tmp = PKG.parent / "tests" / "_layer_probe.py"
    tmp.write_text(src)
    try:
        top, inner = _imports(tmp)
    finally:
        tmp.unlink()
    assert top == [("_run", 1)]
    assert inner == [("_training", 6)]


def test_core_never_imports_the_widget_stack_at_import_time() -> None:
    for path in sorted(PKG.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for n in names:
                    assert n.split(".")[0] not in {"altair", "anywidget", "ipywidgets", "pandas"}, (
                        f"{path.name} imports {n} at module level"
                    )


def test_widgets_use_only_public_nbrun_names() -> None:
    """The widgets import ``nbrun`` and its public names only: no ``nbrun._x`` module, no
    private name from ``nbrun``, and no reach into a view's private attributes."""
    wrong = []
    for path in sorted((PKG / "widgets").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                parts = node.module.split(".")
                if parts[0] == "nbrun":
                    if any(p.startswith("_") for p in parts[1:]):
                        wrong.append(f"{path.name}:{node.lineno} from {node.module} import ...")
                    wrong += [
                        f"{path.name}:{node.lineno} imports private nbrun.{a.name}"
                        for a in node.names
                        if parts == ["nbrun"] and a.name.startswith("_")
                    ]
            elif isinstance(node, ast.Import):
                wrong += [
                    f"{path.name}:{node.lineno} import {a.name}"
                    for a in node.names
                    if a.name.startswith("nbrun._")
                ]
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in {"nbrun", "view", "run", "src_view"}
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                wrong.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert not wrong, "\n".join(wrong)
    assert "nbrun" in {
        n.module
        for n in ast.walk(ast.parse((PKG / "widgets" / "_actions.py").read_text()))
        if isinstance(n, ast.ImportFrom)
    }  # the walk above really saw the widgets' nbrun imports
