"""The import order of nbrun's modules is one-way (issues 10 and 22, CONTRIBUTING.md):

errors -> ids / states / system / checkpoints / actions -> store / media / lifecycle -> history
-> registry / config / summary / lineage -> views -> run -> init request -> api -> training ->
``__init__``.

Every import of an nbrun module goes down that list: at module level, inside a function and
under ``if TYPE_CHECKING:`` alike (heavy third-party libraries loaded on first use are not nbrun
modules and are not checked here). What a lower layer needs from a higher one it gets through
the action registry (``nbrun/_actions.py``), which the higher layer fills. No import cycle
anywhere in ``nbrun/``, subpackages included, counting every kind of import.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "nbrun"

LAYERS: dict[str, int] = {
    "errors": 0,
    "_ids": 1,
    "_states": 1,
    "_system": 1,
    "_actions": 1,  # the action registry: what lower layers reach of higher ones, by name
    "_wbnames": 1,
    "_checkpoints": 1,
    "_records": 1,  # the typed records the store returns and takes; imports nothing of nbrun
    "_store": 2,
    "_paths": 2,  # the checked join of paths built from stored data (rule 42); uses _ids
    "_lifecycle": 2,  # TrainSpec / TrainingState: what training attaches to a run
    "media": 2,  # nbrun/media/: the media types; imports nothing of the core
    "_history": 3,
    "_registry": 4,  # the runs this process writes and the current run
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
    "_sweep_view": 6,  # the read view of a stored sweep (Api().sweep), beside _views
    "_run_snapshot": 7,  # RunSnapshot: stored runs read once with the others (Api().runs)
    "_copy": 7,  # nbrun.copy: runs, files and artifact records from one store to another
    "_run": 7,
    "_init_request": 8,  # init's arguments, environment and settings merged and checked once
    "_api": 9,
    "_training": 10,
    "_sweeps": 11,  # offline W&B sweeps: config, search, hyperband, the agent (issue 23)
    "_pbt": 11,  # nbrun.pbt: population-based training on launch and fork
    "__init__": 12,
    "widgets": 13,
    "wandb_compat": 13,  # the W&B drop-in: like widgets, only public nbrun names
    "__main__": 13,  # python -m nbrun copy / sweep / agent ...: only public nbrun names
}


def _name(path: Path) -> str:
    """The dotted name of a file under nbrun/ (``__init__`` for the package itself)."""
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _known() -> set[str]:
    """Every module under nbrun/: the Python files and the C extension (by its stub)."""
    return set(_modules()) | {_name(p) for p in PKG.rglob("*.pyi")}


def _package(name: str, path: Path) -> list[str]:
    """The package a module's relative imports start from."""
    if path.name == "__init__.py":
        return [] if name == "__init__" else name.split(".")
    return name.split(".")[:-1]


def _resolve(dotted: list[str], known: set[str]) -> str:
    """The nbrun module an import of ``nbrun.<dotted>`` names (``__init__`` for nbrun)."""
    name = ".".join(dotted) or "__init__"
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _targets(
    name: str, path: Path, node: ast.ImportFrom | ast.Import, known: set[str]
) -> list[str]:
    """The nbrun modules (dotted names under nbrun/) an import statement reaches."""
    if isinstance(node, ast.Import):
        return [
            _resolve(a.name.split(".")[1:], known)
            for a in node.names
            if a.name.split(".")[0] == "nbrun"
        ]
    if node.level:
        base = _package(name, path)
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    elif node.module and node.module.split(".")[0] == "nbrun":
        base = []
        node = ast.ImportFrom(module=".".join(node.module.split(".")[1:]) or None, names=node.names)
    else:
        return []
    stem = [*base, *(node.module.split(".") if node.module else [])]
    out = []
    for a in node.names:  # from pkg import submodule
        sub = ".".join([*stem, a.name])
        if sub in known:
            out.append(sub)
    if len(out) < len(node.names):
        out.append(_resolve(stem, known))
    return out


def _imports(
    path: Path, name: str | None = None, known: set[str] | None = None
) -> list[tuple[str, int, str]]:
    """Every nbrun import of one file: (target, line, kind), kind "top", "function" or
    "type-checking"."""
    known = _known() if known is None else known
    name = _name(path) if name is None else name
    tree = ast.parse(path.read_text())
    out: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = kind
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = "type-checking"
            if isinstance(child, ast.Import | ast.ImportFrom):
                out.extend((t, child.lineno, kind) for t in _targets(name, path, child, known))
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                inner = "function" if kind == "top" else kind
            visit(child, inner)

    visit(tree, "top")
    return out


def _layer(name: str) -> int:
    return LAYERS[name.split(".")[0]]


def test_every_core_module_has_a_layer() -> None:
    missing = sorted(p.stem for p in PKG.glob("*.py") if p.stem not in LAYERS)
    assert not missing, f"add these modules to LAYERS (and CONTRIBUTING.md): {missing}"


def test_every_import_goes_down_the_layers() -> None:
    """Module-level, function-level and TYPE_CHECKING imports alike: an nbrun module only
    imports modules of a lower layer (or, inside a subpackage, its own package's modules)."""
    known = _known()
    wrong = []
    for name, path in _modules().items():
        if name.split(".")[0] not in LAYERS:
            continue
        for target, line, kind in _imports(path, name, known):
            if target.split(".")[0] == name.split(".")[0] and "." in name + target:
                continue  # inside a subpackage (checked for cycles below)
            if target.split(".")[0] in LAYERS and _layer(target) >= _layer(name):
                wrong.append(
                    f"{path.relative_to(PKG)}:{line} imports {target} ({kind}; layer "
                    f"{_layer(target)} >= {_layer(name)})"
                )
    assert not wrong, "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def _graph() -> dict[str, set[str]]:
    known = _known()
    return {
        name: {t for t, _, _ in _imports(path, name, known)} for name, path in _modules().items()
    }


def test_no_import_cycle_anywhere_in_nbrun() -> None:
    """Counting every import (module-level, function-level, TYPE_CHECKING), in every module
    and subpackage of nbrun/: the import graph has no cycle."""
    graph = _graph()
    assert len(graph) > 50 and graph["_run"]  # the walk really saw the package
    assert _cycles(graph) == []


def test_the_checker_sees_a_violation() -> None:
    """The checks above see upward and hidden imports, and cycles (guards the AST walk)."""
    src = (
        "from . import _run\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ._api import init\n"
        "def f():\n"
        "    from ._training import launch\n"
        "    import nbrun.media._base\n"
        "from .media import _image\n"
    )
    tmp = PKG.parent / "tests" / "_layer_probe.py"
    tmp.write_text(src)
    try:
        found = _imports(tmp, "_probe")
    finally:
        tmp.unlink()
    assert found == [
        ("_run", 1, "top"),
        ("_api", 4, "type-checking"),
        ("_training", 6, "function"),
        ("media._base", 7, "function"),
        ("media._image", 8, "top"),
    ]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"a"}}) == [["a"]] and _cycles({"a": {"b"}, "b": set()}) == []


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


#: functions still over :data:`MAX_FUNCTION_LINES`, each being split (issue 22, item 2)
LONG_FUNCTIONS: set[tuple[str, str]] = set()  # none left (Store.archive_after was split)
MAX_FUNCTION_LINES = 100


def test_no_function_is_over_100_lines() -> None:
    """A function a newcomer can read at once (issue 22, item 2): none in ``nbrun/`` is over
    100 lines, decorators and docstring included."""
    long = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                lines = (node.end_lineno or node.lineno) - first + 1
                if lines > MAX_FUNCTION_LINES and (path.name, node.name) not in LONG_FUNCTIONS:
                    long.append(f"{path.relative_to(PKG)}::{node.name} ({lines} lines)")
    assert not long, "split these functions:\n" + "\n".join(long)
