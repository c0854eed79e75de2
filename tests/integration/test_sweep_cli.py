"""``python -m nbrun sweep`` / ``python -m nbrun agent`` as real subprocesses (rules 55-57):
the printed id and agent command, two agent processes sharing one grid sweep (SQLite and
PostgreSQL), ``--count``, W&B's command macros reaching the program, and exit status 2 for a
bad YAML, config or sweep id."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nbrun
from tests.conftest import BACKENDS, python_env, where

#: a W&B-style program: argparse flags, config from them, one metric
TRAIN = """import argparse, sys
import nbrun
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int)
parser.add_argument("--opt", type=str)
args = parser.parse_args()
run = nbrun.init(config=vars(args))
run.log({"loss": args.x * (2 if args.opt == "sgd" else 1)})
run.summary["argv"] = sys.argv[1:]
run.finish()
"""

GRID = """program: train.py
method: grid
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [1, 2, 3]}
  opt: {values: [sgd, adam]}
"""


#: the session's checkpoint key and PostgreSQL files folder (tests/conftest.py) stay set
KEEP = ("NBRUN_KEY", "NBRUN_KEY_FILE", "NBRUN_FILES")


def _env() -> dict[str, str]:
    env = python_env()
    for k in list(env):
        if k.startswith(("WANDB_", "NBRUN_")) and k not in KEEP:
            del env[k]
    return env


def _nbrun(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbrun", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _folder(run_dir: Path, yaml_text: str = GRID, program: str = TRAIN) -> Path:
    folder = run_dir / "exp"
    folder.mkdir()
    (folder / "sweep.yaml").write_text(yaml_text)
    (folder / "train.py").write_text(program)
    return folder


def _create(folder: Path, store: str, *extra: str) -> tuple[str, str]:
    """Run ``python -m nbrun sweep``; return the id and the printed agent command."""
    out = _nbrun(folder, "sweep", "sweep.yaml", "--dir", store, *extra)
    assert out.returncode == 0, out.stderr
    found = re.search(r"^Created sweep with ID: (\S+)$", out.stdout, re.M)
    command = re.search(r"^Run sweep agent with: (.+)$", out.stdout, re.M)
    assert found and command, out.stdout
    return found.group(1), command.group(1)


def _runs(store: str, project: str, sweep_id: str) -> list[Any]:
    return list(nbrun.Api(store).sweep(f"{project}/{sweep_id}").runs)


# -- rule 57: the command line -----------------------------------------------------------------
def test_rule57_sweep_prints_the_id_and_the_agent_command(run_dir: Path) -> None:
    folder = _folder(run_dir)
    store = where(run_dir)
    sweep_id, command = _create(folder, store, "--project", "cli")
    assert command == f"python -m nbrun agent cli/{sweep_id}"
    view = nbrun.Api(store).sweep(f"cli/{sweep_id}")
    assert view.config["parameters"] == {
        "x": {"values": [1, 2, 3]},
        "opt": {"values": ["sgd", "adam"]},
    }
    assert list(view.runs) == []  # nothing runs until an agent does
    # the YAML's own project: key when --project is not given
    (folder / "sweep.yaml").write_text("project: from-yaml\n" + GRID)
    other, command = _create(folder, store)
    assert command == f"python -m nbrun agent from-yaml/{other}"


@pytest.mark.slow
@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_rule56_two_agent_processes_share_one_grid_sweep(run_dir: Path) -> None:
    """Each grid point runs exactly once across two agents; each program's init joins its
    trial's run, with the suggestion as its arguments and config."""
    folder = _folder(run_dir)
    store = where(run_dir)
    sweep_id, _ = _create(folder, store, "--project", "cli")
    agents = [
        subprocess.Popen(
            [sys.executable, "-m", "nbrun", "agent", f"cli/{sweep_id}", "--dir", store],
            cwd=folder,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for agent in agents:
        _, err = agent.communicate(timeout=300)
        assert agent.returncode == 0, err
    runs = _runs(store, "cli", sweep_id)
    points = sorted((r.config["x"], r.config["opt"]) for r in runs)
    assert points == sorted((x, o) for x in (1, 2, 3) for o in ("sgd", "adam"))
    for r in runs:
        assert (r.project, r.state, r.sweep_id) == ("cli", "finished", sweep_id)
        assert sorted(r.summary["argv"]) == [f"--opt={r.config['opt']}", f"--x={r.config['x']}"]
    best = nbrun.Api(store).sweep(f"cli/{sweep_id}").best_run()
    assert (best.config["x"], best.config["opt"], best.summary["loss"]) == (1, "adam", 1)


@pytest.mark.slow
def test_rule55_command_macros_reach_the_program(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = (
        "import json, os, sys\n"
        "import nbrun\n"
        "cfg = dict(a.split('=', 1) for a in sys.argv[1:-1])\n"
        "run = nbrun.init(config={'x': int(cfg['x'])})\n"
        "run.summary['seen'] = {'argv': sys.argv[1:], 'env': os.environ['CLI_FLAG'],\n"
        "    'json': json.load(open(sys.argv[-1]))}\n"
        "run.finish()\n"
    )
    yaml_text = (
        "program: train.py\nmethod: grid\nparameters:\n  x: {values: [4]}\ncommand:\n"
        "  - ${env}\n  - ${interpreter}\n  - ${program}\n  - ${args_no_hyphens}\n"
        "  - --flag=${envvar:CLI_FLAG}\n  - ${args_json_file}\n"
    )
    folder = _folder(run_dir, yaml_text, program)
    store = where(run_dir)
    sweep_id, _ = _create(folder, store, "--project", "cli")
    monkeypatch.setenv("CLI_FLAG", "on")  # the agent's environment: ${envvar:CLI_FLAG}
    out = _nbrun(folder, "agent", f"cli/{sweep_id}", "--dir", store)
    assert out.returncode == 0, out.stderr
    (run,) = _runs(store, "cli", sweep_id)
    seen = run.summary["seen"]
    assert seen["argv"][:2] == ["x=4", "--flag=on"]
    assert (seen["env"], seen["json"], run.config["x"]) == ("on", {"x": 4}, 4)


@pytest.mark.slow
def test_rule57_agent_count_and_a_bare_id_with_project(run_dir: Path) -> None:
    folder = _folder(run_dir)
    store = where(run_dir)
    sweep_id, _ = _create(folder, store, "--project", "cli")
    out = _nbrun(folder, "agent", sweep_id, "--project", "cli", "--count", "2", "--dir", store)
    assert out.returncode == 0, out.stderr
    assert len(_runs(store, "cli", sweep_id)) == 2


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("method: grid\nparameters: {x: {values: [1, 2]}\n", "is not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("method: nope\nparameters: {x: {values: [1]}}\n", "nope"),
    ],
)
def test_rule57_bad_yaml_or_config_exits_2_with_a_message(
    run_dir: Path, yaml_text: str, message: str
) -> None:
    folder = _folder(run_dir, yaml_text)
    out = _nbrun(folder, "sweep", "sweep.yaml", "--dir", where(run_dir))
    assert out.returncode == 2
    assert out.stderr.startswith("nbrun sweep: ") and message in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_rule57_missing_yaml_unknown_sweep_and_bad_count_exit_2(run_dir: Path) -> None:
    store = where(run_dir)
    out = _nbrun(run_dir, "sweep", "nowhere.yaml", "--dir", store)
    assert out.returncode == 2 and "cannot read sweep config 'nowhere.yaml'" in out.stderr
    out = _nbrun(run_dir, "agent", "cli/nosuchsweep", "--dir", store)
    assert out.returncode == 2 and out.stderr.startswith("nbrun agent: ")
    assert "nosuchsweep" in out.stderr and "Traceback" not in out.stderr
    out = _nbrun(run_dir, "agent", "cli/x", "--count", "0", "--dir", store)
    assert out.returncode == 2 and "--count must be a positive number, got 0" in out.stderr


# -- rule 56: a bad command or a missing program stops the agent before any trial --------------
@pytest.mark.parametrize(
    ("extra", "keep_program", "message"),
    [
        ("command:\n  - python\n  - ${nope}\n", True, "unknown macro ${nope}"),
        ("", False, "sweep program 'train.py' not found in"),
    ],
)
def test_rule56_bad_command_or_missing_program_exits_2_before_any_trial(
    run_dir: Path, extra: str, keep_program: bool, message: str
) -> None:
    folder = _folder(run_dir, GRID + extra)
    if not keep_program:
        (folder / "train.py").unlink()
    store = where(run_dir)
    sweep_id, _ = _create(folder, store, "--project", "cli")
    out = _nbrun(folder, "agent", f"cli/{sweep_id}", "--dir", store)
    assert out.returncode == 2 and out.stderr.startswith("nbrun agent: ")
    assert message in out.stderr and "Traceback" not in out.stderr
    assert _runs(store, "cli", sweep_id) == []
    assert nbrun.Api(store).sweep(f"cli/{sweep_id}").state == "PENDING"  # no trial claimed
