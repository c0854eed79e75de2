"""W&B's sweep clients run unchanged on the drop-in (rule 57): scripts making the calls of W&B's
published sweep examples (``sweep_clients/``, see its README: W&B's files themselves carry no
license, so they are not redistributed) — a YAML with its ``program`` through ``python -m nbrun
sweep`` / ``agent``, and ``wandb.sweep`` + ``wandb.agent(function=...)`` from a script — and
transformers' ``Trainer.hyperparameter_search(backend="wandb")``, the real library unchanged.
Real processes and libraries, no mocks."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nbrun
from tests.conftest import python_env
from tests.integration.test_wandb_clients import run_script

EXAMPLES = Path(__file__).resolve().parent / "sweep_clients"


def _example(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder)
    return folder


def _wandb_env() -> dict[str, str]:
    """A W&B user's shell with the drop-in on: ``import wandb`` is nbrun's."""
    env = python_env()
    for k in list(env):
        if k.startswith(("WANDB_", "NBRUN_")) and k not in ("NBRUN_KEY", "NBRUN_KEY_FILE"):
            del env[k]
    env.update({"NBRUN_AS_WANDB": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    return env


# -- rule 57: a YAML sweep with boolean parameters and its program, through the CLI ------------
@pytest.mark.slow
def test_rule57_yaml_sweep_with_boolean_parameters_through_the_cli(tmp_path: Path) -> None:
    folder = _example("flags", tmp_path)
    store = str(tmp_path / "store")

    def cli(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "nbrun", *args, "--dir", store],
            cwd=folder,
            env=_wandb_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-4000:]
        return out.stdout

    printed = cli("sweep", "sweep.yaml", "--project", "bools")
    command = re.search(r"^Run sweep agent with: python -m nbrun agent (\S+)$", printed, re.M)
    assert command, printed
    path = command.group(1)
    cli("agent", path)
    sweep = nbrun.Api(store).sweep(path)
    runs = list(sweep.runs)
    # grid: every combination once; train_flags.py's argparse turned --flag1=True into a bool
    got = sorted((r.config["optimizer"], r.config["flag1"], r.config["flag2"]) for r in runs)
    assert got == sorted(itertools.product(["sgd", "adam"], [False, True], [False, True]))
    for r in runs:
        assert (r.project, r.state, r.sweep_id) == ("bools", "finished", sweep.id)
        assert all(isinstance(r.config[k], bool) for k in ("flag1", "flag2"))
        assert r.summary["metric"] == 1.0


# -- rule 57: wandb.sweep + wandb.agent(function=) from a script ------------------------------
@pytest.mark.slow
def test_rule57_wandb_sweep_and_agent_function_from_a_script(tmp_path: Path) -> None:
    folder = _example("python_api", tmp_path)
    run_script_in(folder, "run_sweep.py")
    runs = list(nbrun.Api(folder).runs())
    assert runs and len({r.sweep_id for r in runs}) == 1
    sweep_id = runs[0].sweep_id
    sweep = nbrun.Api(folder).sweep(f"{runs[0].project}/{sweep_id}")
    assert sorted(r.config["layers"] for r in sweep.runs) == [32, 64, 96, 128, 256]
    assert len(runs) == 5  # the grid, each point once, nothing else
    for r in runs:
        assert r.state == "finished"
        history = r.history()
        assert list(history["epoch"]) == [0, 1, 2, 3, 4]
        assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(history.columns)


def run_script_in(folder: Path, script: str) -> str:
    """Run ``folder/script`` with ``folder`` as the working directory (its imports of the
    example's other files resolve there), the drop-in on."""
    out = subprocess.run(
        [sys.executable, script],
        cwd=folder,
        env=_wandb_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


# -- rule 57: transformers' Trainer.hyperparameter_search(backend="wandb") ---------------------
@pytest.mark.slow
def test_rule57_transformers_hyperparameter_search_with_wandb(tmp_path: Path) -> None:
    n_trials = 3
    run_script("hf_hp_search.py", tmp_path, str(tmp_path), str(n_trials))
    expected = json.loads((tmp_path / "expected.json").read_text())
    assert expected["wandb_file"].endswith("nbrun/wandb_compat/__init__.py")
    best = expected["best"]
    sweep = nbrun.Api(tmp_path).sweep(f"hpsearch/{best['sweep_id']}")
    runs = list(sweep.runs)
    assert len(runs) == n_trials  # one run per trial, all in the one sweep
    assert len(list(nbrun.Api(tmp_path).runs("hpsearch"))) == n_trials
    by_id = {r.id: r for r in runs}
    assert sorted(by_id) == sorted(t["run_id"] for t in expected["trials"])
    space = sweep.config["parameters"]  # transformers' default_hp_space_wandb
    for trial in expected["trials"]:
        run = by_id[trial["run_id"]]
        assert (run.state, run.sweep_id) == ("finished", best["sweep_id"])
        # the suggestion is in the run's config, and is what the Trainer trained with
        for key in ("learning_rate", "num_train_epochs", "seed", "per_device_train_batch_size"):
            assert run.config[key] == trial[key], key
        lr = space["learning_rate"]
        assert lr["min"] <= trial["learning_rate"] <= lr["max"]
        batch = space["per_device_train_batch_size"]["values"]
        assert trial["per_device_train_batch_size"] in batch
        assert "eval/loss" in run.summary
    # the BestRun transformers returns is the sweep's best run by its metric (eval/loss)
    assert sweep.best_run().id == best["run_id"]
    assert best["objective"] == min(r.summary["eval/loss"] for r in runs)
    assert {k: best["hyperparameters"][k] for k in ("learning_rate", "seed")} == {
        k: by_id[best["run_id"]].config[k] for k in ("learning_rate", "seed")
    }
