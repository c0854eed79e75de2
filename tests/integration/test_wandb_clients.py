"""Real W&B clients on the drop-in (issue 14, rule 38): transformers' ``Trainer`` with
``report_to=["wandb"]``, Lightning's ``WandbLogger`` and W&B-style scripts, each run unchanged
in a subprocess with ``NBRUN_AS_WANDB=1`` (honoured by the ``nbrun_as_wandb.pth`` line nbrun
installs), then compared with what W&B would have stored.

No mocks: the clients are the PyPI packages of the ``wandb-tests`` extra (torch pinned to the
CPU build 2.13.0). No hub downloads (``HF_HUB_OFFLINE=1``): models are built from configs.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nbrun
from tests.conftest import python_env

SCRIPTS = Path(__file__).resolve().parent / "wandb_scripts"
PTH = Path(__file__).resolve().parents[2] / "nbrun" / "wandb_compat" / "nbrun_as_wandb.pth"

#: runs a script as `python script.py args` would, with the .pth line processed at start
LAUNCH = (
    "import runpy, site, sys\n"
    "site.addsitedir(sys.argv.pop(1))\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def run_script(
    name: str, cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> str:
    """Run ``tests/integration/wandb_scripts/<name>`` in ``cwd`` with the drop-in on; return
    stdout."""
    site_dir = cwd / "_site"
    site_dir.mkdir(exist_ok=True)
    shutil.copy(PTH, site_dir / PTH.name)
    full = python_env()
    for k in list(full):
        if k.startswith(("WANDB_", "NBRUN_")):
            del full[k]
    full.update({"NBRUN_AS_WANDB": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    full.update(env or {})
    out = subprocess.run(
        [sys.executable, "-c", LAUNCH, str(site_dir), str(SCRIPTS / name), *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


def _rows(view: Any) -> list[dict[str, Any]]:
    """History rows without nbrun's engine columns and without missing values."""
    df = view.history()
    rows = []
    for rec in df.to_dict("records"):
        rows.append(
            {
                k: v
                for k, v in rec.items()
                if k not in ("_step", "_runtime", "_timestamp")
                and not (isinstance(v, float) and math.isnan(v))
                and v is not None
            }
        )
    return rows


def _json(value: Any) -> Any:
    """``value`` as W&B's JSON encoding stores it (str keys, tuples as lists)."""
    return json.loads(json.dumps(value, default=str))


# -- transformers ------------------------------------------------------------------------------
@pytest.mark.slow
def test_rule38_transformers_trainer_reports_to_wandb(tmp_path: Path) -> None:
    run_script("hf_trainer.py", tmp_path, str(tmp_path), env={"WANDB_LOG_MODEL": "end"})
    expected = json.loads((tmp_path / "expected.json").read_text())
    assert expected["wandb_file"].endswith("nbrun/wandb_compat/__init__.py")
    (view,) = nbrun.Api(tmp_path).runs()
    # HF's callback: project "huggingface" (WANDB_PROJECT unset), the run name from the args
    assert (view.project, view.name, view.state) == ("huggingface", "tiny-bert", "finished")
    assert view.id == expected["run_id"]
    config = dict(view.config)
    assert config == _json(expected["config"])  # every key, id2label with str keys
    assert config["id2label"] == {"0": "LABEL_0", "1": "LABEL_1"}
    assert len(config) > 100
    # one history row per on_log, with the keys rewrite_logs gave W&B (train/, eval/ prefixes)
    rows = _rows(view)
    assert rows == expected["rows"]
    assert {"train/loss", "eval/loss", "train/global_step"} <= set(view.history().columns)
    # the single-value scalars went to the summary only; others: their last logged value
    summary = dict(view.summary)
    for k, v in expected["summary"].items():
        assert summary[k] == v
        assert k not in view.history().columns
    assert summary["train/global_step"] == expected["rows"][-1]["train/global_step"]
    # define_metric("*", step_metric="train/global_step") as the callback asked
    assert view.metrics["*"]["step_metric"] == "train/global_step"
    # WANDB_LOG_MODEL=end: the callback's two model artifacts (architecture at setup, the
    # saved model at the end, its metadata the numeric summary)
    base, final = view.logged_artifacts()
    assert (base.name, base.type, sorted(base.aliases)) == (
        "model-tiny-bert:v0",
        "model",
        ["base_model"],
    )
    assert (final.name, sorted(final.aliases)) == ("model-tiny-bert:v1", ["final_model", "latest"])
    assert {"config.json", "model.safetensors"} <= set(final.manifest.entries)
    assert final.metadata["train_loss"] == expected["summary"]["train_loss"]


# -- Lightning ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_rule38_lightning_wandb_logger(tmp_path: Path) -> None:
    out = run_script("lightning_logger.py", tmp_path, str(tmp_path))
    run_id, project = out.split("RUN ")[1].split()
    # WandbLogger(save_dir=...) is W&B's staging dir: the store stays in the cwd
    assert not (tmp_path / "stage" / "nbrun").exists()
    view = nbrun.Api(tmp_path).run(f"{project}/{run_id}")
    assert (view.project, view.name, view.state) == ("lit", "tiny-lit", "finished")
    # hyperparameters: what the CSV logger got (hparams.yaml), with JSON keys for the dict
    import yaml

    (hparams_file,) = tmp_path.glob("csv/*/hparams.yaml")
    hparams = yaml.safe_load(hparams_file.read_text())
    assert dict(view.config) == _json(hparams)
    # every log_metrics call: one row with the metrics and trainer/global_step = its step
    expected = []
    (metrics_file,) = tmp_path.glob("csv/*/metrics.csv")
    with metrics_file.open() as f:
        for rec in csv.DictReader(f):
            row = {k: float(v) for k, v in rec.items() if v not in ("", None) and k != "step"}
            row["trainer/global_step"] = int(rec["step"])
            expected.append(row)
    rows = _rows(view)
    *rows, table_row, image_row = rows  # log_table and log_image, after fit
    assert len(rows) == len(expected) > 0
    assert table_row["samples"].columns == ["x", "y"]
    assert table_row["samples"].data == [[1, 2.0], [3, 4.0]]
    (image,) = image_row["pics"]
    assert isinstance(image, nbrun.Image) and image.caption == "zero"
    for got, want in zip(rows, expected, strict=True):
        assert set(got) == set(want)
        for k, v in want.items():
            assert got[k] == pytest.approx(v, rel=1e-6), k
    assert view.metrics["*"]["step_metric"] == "trainer/global_step"
    assert view.summary["val_loss"] == pytest.approx(expected[-1].get("val_loss"), rel=1e-6)


@pytest.mark.slow
def test_rule38_lightning_log_model_stores_the_checkpoints_as_a_model_artifact(
    tmp_path: Path,
) -> None:
    """``WandbLogger(log_model=True)``: at the end of fit the checkpoints ModelCheckpoint kept
    become versions of ``model-<run id>`` (type ``model``, file ``model.ckpt``), ``best`` on
    the best one and ``latest`` on the last logged, as Lightning hands them to W&B."""
    out = run_script("lightning_log_model.py", tmp_path, str(tmp_path))
    run_id, project, best_path = out.split("RUN ")[1].split()
    view = nbrun.Api(tmp_path).run(f"{project}/{run_id}")
    logged = view.logged_artifacts()
    assert len(logged) == 2  # save_top_k=2: both kept checkpoints, oldest first
    assert {a.name for a in logged} == {f"model-{run_id}:v0", f"model-{run_id}:v1"}
    assert {a.type for a in logged} == {"model"}
    best = nbrun.Api(tmp_path).artifact(f"{project}/model-{run_id}:best")
    assert best.metadata["original_filename"] == Path(best_path).name
    assert best.metadata["ModelCheckpoint"]["monitor"] == "val_loss"
    assert best.metadata["score"] == pytest.approx(min(a.metadata["score"] for a in logged))
    latest = nbrun.Api(tmp_path).artifact(f"{project}/model-{run_id}:latest")
    assert latest.version == logged[-1].version
    folder = Path(best.download(root=str(tmp_path / "dl")))
    assert (folder / "model.ckpt").read_bytes() == Path(best_path).read_bytes()
    assert best.logged_by().id == run_id


# -- W&B-style scripts -------------------------------------------------------------------------
@pytest.mark.slow
def test_rule38_wandb_style_script_config_history_summary(tmp_path: Path) -> None:
    out = run_script("wb_basic.py", tmp_path, "--lr", "0.5")
    run_id = out.split("RUN ")[1].split()[0]
    view = nbrun.Api(tmp_path).run(f"examples/{run_id}")
    assert dict(view.config) == {
        "lr": 0.5,
        "epochs": 5,
        "optimizer": "sgd",
        "id2label": {"0": "cat", "1": "dog"},
        "dropout": 0.1,
    }
    assert view.tags == ("baseline",) and view.notes == "basic example"
    h = view.history()
    assert len(h) == 5 * 4  # 3 train rows and one val row per epoch
    assert h["train/loss"].notna().sum() == 15 and h["val/loss"].notna().sum() == 5
    summary = dict(view.summary)
    # summary="min": W&B keeps {"min": ...} (epoch 4's value), not the last one
    assert summary["val/loss"] == {"min": pytest.approx(0.2)}
    assert summary["final_note"] == "done" and summary["best_epoch"] == 4
    assert summary["train/loss"] == pytest.approx(math.exp(-4 - 2 / 3))


@pytest.mark.slow
def test_rule38_wandb_style_script_from_env(tmp_path: Path) -> None:
    env = {
        "WANDB_PROJECT": "envproj",
        "WANDB_NAME": "from-env",
        "WANDB_TAGS": "a,b",
        "WANDB_RUN_ID": "envrun1",
        "WANDB_DIR": str(tmp_path / "wbdir"),
    }
    out = run_script("wb_env.py", tmp_path, env=env)
    assert out.split("RUN ")[1].split() == ["envrun1", "envproj", "from-env", "a,b", "False"]
    view = nbrun.Api(tmp_path / "wbdir").run("envproj/envrun1")
    assert view.history()["acc"].tolist() == [0.0, 0.25, 0.5, 0.75]
    # resume through the environment: the history goes on
    run_script("wb_env.py", tmp_path, env={**env, "WANDB_RESUME": "allow"})
    assert len(nbrun.Api(tmp_path / "wbdir").run("envproj/envrun1").history()) == 8
    # disabled: the same script writes nothing at all
    clean = tmp_path / "clean"
    clean.mkdir()
    out = run_script("wb_env.py", clean, env={"WANDB_MODE": "disabled"})
    assert out.split()[-1] == "True"
    assert sorted(p.name for p in clean.iterdir()) == ["_site"]


@pytest.mark.slow
def test_rule39_wandb_style_script_watch_and_media(tmp_path: Path) -> None:
    out = run_script("wb_watch_media.py", tmp_path)
    run_id = out.split("RUN ")[1].split()[0]
    view = nbrun.Api(tmp_path).run(f"examples/{run_id}")
    h = view.history()
    assert len(h) == 7
    assert h["loss"].notna().sum() == 6
    for name in ("0.weight", "0.bias", "2.weight", "2.bias"):
        for kind in ("gradients", "parameters"):
            assert h[f"{kind}/{name}"].notna().tolist() == [False, True] * 3 + [False]
    # W&B's torch hook: 64 bins over each tensor's values (0.weight is 8 x 4 = 32 numbers)
    grad = h["gradients/0.weight"].dropna().iloc[0]
    assert isinstance(grad, nbrun.Histogram)
    assert (len(grad.histogram), len(grad.bins), sum(grad.histogram)) == (64, 65, 32)
    assert sum(h["parameters/2.bias"].dropna().iloc[0].histogram) == 2
    last = h.iloc[-1]
    assert isinstance(last["scores"], nbrun.Table)
    assert last["scores"].columns == ["id", "score"]
    assert last["scores"].data == [[1, 0.5], [2, 0.7]]
    (image,) = last["samples"]
    assert isinstance(image, nbrun.Image)
    assert isinstance(last["weights"], nbrun.Histogram) and sum(last["weights"].histogram) == 100
    assert isinstance(view.summary["loss"], float)  # a 0-dim tensor is stored as its number


@pytest.mark.slow
def test_rule38_wandb_style_script_save_and_artifacts(tmp_path: Path) -> None:
    out = run_script("wb_files_artifacts.py", tmp_path)
    producer_id, consumer_id, version, kind, lines = out.split("RUN ")[1].split()
    # W&B: the first version of an artifact is v0; use_artifact by alias gets it back whole
    assert (version, kind, lines) == ("v0", "dataset", "3")
    api = nbrun.Api(tmp_path)
    producer = api.run(f"examples/{producer_id}")
    consumer = api.run(f"examples/{consumer_id}")
    assert [f.name for f in producer.files()] == ["notes.txt"]
    (logged,) = producer.logged_artifacts()
    assert (logged.name, logged.type, logged.metadata) == ("toy-data:v0", "dataset", {"rows": 2})
    assert set(logged.aliases) >= {"best", "latest"}
    assert [a.name for a in consumer.used_artifacts()] == ["toy-data:v0"]
    assert consumer.history()["lines"].tolist() == [3]
