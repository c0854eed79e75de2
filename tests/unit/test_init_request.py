"""``init``'s one request (issue 22, item 2): arguments, the ``NBRUN_*`` / ``WANDB_*``
environment, ``settings`` and W&B's names merged once and checked once (rules 1, 12, 38), and
forks / rewinds made by ``run.fork()`` / ``run.rewind()`` passing their point as such."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import nbrun
from nbrun import ForkPoint
from nbrun._init_request import INIT_ARGS, InitRequest

PKG = Path(__file__).resolve().parents[2] / "nbrun"


# -- rule 1 / rule 38: one merge, one order ----------------------------------------------------
def test_rule01_request_merges_argument_setting_nbrun_then_wandb_env(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBRUN_PROJECT", "from-nbrun-env")
    monkeypatch.setenv("WANDB_PROJECT", "from-wandb-env")
    monkeypatch.setenv("WANDB_RUN_GROUP", "g-env")
    monkeypatch.setenv("WANDB_ENTITY", "e-env")
    monkeypatch.setenv("WANDB_TAGS", "a, b")
    monkeypatch.setenv("WANDB_SILENT", "true")
    req = InitRequest.build({"name": "given", "settings": {"run_name": "setting", "resume": True}})
    assert req.name == "given"  # the argument wins over the setting standing for it
    assert req.project == "from-nbrun-env"  # NBRUN_* before WANDB_*
    assert (req.group, req.entity, req.tags) == ("g-env", "e-env", ("a", "b"))
    assert req.resume == "auto"  # W&B's resume=True, from a setting
    assert req.silent  # WANDB_SILENT is a W&B setting
    req = InitRequest.build({"project": "arg", "settings": {"project": "setting"}})
    assert req.project == "arg"
    monkeypatch.delenv("NBRUN_PROJECT")
    assert InitRequest.build({"settings": {"project": "setting"}}).project == "setting"
    assert InitRequest.build({}).project == "from-wandb-env"
    # init builds that same request: the run it starts has what the request says
    run = nbrun.init(name="given", settings={"run_name": "setting"})
    assert (run.project, run.name, run.group, run.entity) == (
        "from-wandb-env",
        "given",
        "g-env",
        "e-env",
    )
    run.finish()


def test_rule01_a_refused_request_is_refused_before_anything_is_written(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match="mode 'fast'"):
        InitRequest.build({"mode": "fast", "project": "p"})
    with pytest.raises(nbrun.UsageError, match="were both given"):
        InitRequest.build({"fork_from": "abc?_step=1", "resume": "allow"})
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        InitRequest.build({"colour": "red"})
    assert not (run_dir / "nbrun").exists()


def test_rule38_request_takes_exactly_inits_keywords() -> None:
    assert set(INIT_ARGS) == set(inspect.signature(nbrun.init).parameters)


# -- rule 12: a fork / rewind point given as such ---------------------------------------------
def test_rule12_fork_point_given_as_such_needs_no_text(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBRUN_FORK_FROM", "not a spec")  # an argument wins over the variable
    req = InitRequest.build({}, fork=ForkPoint("abc", 3))
    assert (req.fork, req.rewind, req.spec_text) == (ForkPoint("abc", 3), None, "abc?_step=3")
    monkeypatch.delenv("NBRUN_FORK_FROM")  # (with a rewind it would be both given, as ever)
    req = InitRequest.build({}, rewind=ForkPoint("abc", 3))
    assert (req.rewind, req.id, req.fork) == (ForkPoint("abc", 3), "abc", None)
    with pytest.raises(TypeError, match="multiple values for keyword argument 'fork_from'"):
        InitRequest.build({"fork_from": "abc?_step=1"}, fork=ForkPoint("abc", 3))
    with pytest.raises(nbrun.UsageError, match="a fork gets a new id"):
        InitRequest.build({"id": "abc"}, fork=ForkPoint("abc", 3))


def test_rule12_fork_and_rewind_shortcuts_build_no_spec_text() -> None:
    """Only ``_lineage`` writes ``"RUN_ID?_step=N"`` (``ForkPoint.__str__``): ``run.fork()``,
    ``fork_many`` and ``rewind`` pass the point itself, not a string ``init`` parses back."""
    found = []
    for path in sorted(PKG.rglob("*.py")):
        if path.name == "_lineage.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr) and any(
                isinstance(v, ast.Constant) and "?_step=" in str(v.value) for v in node.values
            ):
                found.append(f"{path.relative_to(PKG)}:{node.lineno}")
    assert not found, found


def test_rule12_run_fork_and_rewind_through_the_request(run_dir: Path) -> None:
    run = nbrun.init(project="p", config={"lr": 1})
    for i in range(5):
        run.log({"loss": 1.0 / (i + 1)})
    run.finish()
    child = run.fork(2, {"lr": 2})
    assert (child.forked_from, child.config["lr"]) == (ForkPoint(run.id, 2), 2)
    child.finish()
    again = run.rewind(1)
    assert (again.id, again.step) == (run.id, 2)
    again.finish()
    with pytest.raises(nbrun.UsageError, match=rf"fork_from '{run.id}\?_step=9'"):
        run.fork(9)
