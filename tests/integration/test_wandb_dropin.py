"""The W&B drop-in (issue 14): ``import wandb`` -> nbrun, W&B's keywords, settings and
environment variables (rule 38), ``run.watch`` (rule 39). The real clients (transformers,
Lightning, W&B-style scripts) run in ``tests/integration/test_wandb_clients.py``."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomllib

import nbrun
from nbrun import _wbnames
from tests.conftest import BACKENDS, python_env

ROOT = Path(__file__).resolve().parents[2]
PTH = ROOT / "nbrun" / "wandb_compat" / "nbrun_as_wandb.pth"


@pytest.fixture
def wandb(run_dir: Path) -> Iterator[Any]:
    """The drop-in turned on for one test (and off again after it)."""
    nbrun.as_wandb()
    import wandb as mod

    yield mod
    nbrun.as_wandb(False)


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    saved = set(_wbnames._warned)
    _wbnames._warned.clear()
    yield
    _wbnames._warned.clear()
    _wbnames._warned.update(saved)


def _run_py(code: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    full = python_env()
    for k in list(full):
        if k.startswith("WANDB_") or k == "NBRUN_AS_WANDB":
            del full[k]
    full.update(env or {})
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


# -- rule 38: turning the drop-in on -----------------------------------------------------------
def test_rule38_as_wandb_answers_import_and_metadata(wandb: Any) -> None:
    assert wandb.__name__ == "nbrun.wandb_compat"
    assert importlib.metadata.version("wandb") == "0.31.0"
    assert wandb.__version__ == "0.31.0"
    from wandb.sdk.lib import RunDisabled
    from wandb.sdk.lib.config_util import ConfigError
    from wandb.wandb_run import Run

    assert ConfigError is nbrun.ConfigError
    run = wandb.init(project="p")
    assert isinstance(run, Run) and not isinstance(run, RunDisabled)
    import wandb.sdk.wandb_run

    assert wandb.sdk.wandb_run.Run is Run
    run.finish()
    off = wandb.init(project="p", mode="disabled")
    assert isinstance(off, Run) and isinstance(off, RunDisabled)
    off.finish()


def test_rule38_off_nothing_answers_to_wandb() -> None:
    code = (
        "import sys, importlib.metadata as md, nbrun\n"
        "nbrun.as_wandb(); nbrun.as_wandb(False)\n"
        "try:\n"
        "    md.version('wandb'); print('metadata')\n"
        "except md.PackageNotFoundError: print('no metadata')\n"
        "try:\n"
        "    import wandb; print('module')\n"
        "except ImportError: print('no module')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'wandb'))\n"
    )
    assert _run_py(code).split("\n")[:3] == ["no metadata", "no module", "[]"]


@pytest.mark.slow  # imports torch / starts interpreters
def test_rule38_pth_hook_turns_it_on_at_startup_only_when_asked(tmp_path: Path) -> None:
    """The .pth line installed with nbrun (wheel and editable: pyproject's force-include)."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(PTH, site / PTH.name)
    probe = (
        "import site, sys\n"
        f"site.addsitedir({str(site)!r})\n"
        "print('nbrun' in sys.modules)\n"
        "import importlib.metadata as md\n"
        "try:\n"
        "    print(md.version('wandb'))\n"
        "except md.PackageNotFoundError: print('none')\n"
    )
    assert _run_py(probe, {"NBRUN_AS_WANDB": "1"}).split() == ["True", "0.31.0"]
    assert _run_py(probe, {"NBRUN_AS_WANDB": "0"}).split() == ["False", "none"]
    assert _run_py(probe).split() == ["False", "none"]  # off: nbrun is not even imported
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    inc = cfg["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert inc["nbrun/wandb_compat/nbrun_as_wandb.pth"] == "nbrun_as_wandb.pth"


def test_rule38_hook_keeps_import_nbrun_light() -> None:
    code = (
        "import sys, nbrun\n"
        "nbrun.as_wandb()\n"
        "import wandb\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'torch')))\n"
    )
    assert _run_py(code).strip() == "[]"


# -- rule 38: module-level proxies -------------------------------------------------------------
def test_rule38_config_and_summary_before_during_after(wandb: Any, run_dir: Path) -> None:
    with pytest.raises(wandb.Error, match=r"wandb.init\(\) before wandb.config"):
        wandb.config["lr"]
    with pytest.raises(wandb.Error):
        wandb.summary["x"] = 1
    with pytest.raises(wandb.Error, match=r"wandb\.log"):
        wandb.log({"a": 1})
    assert wandb.run is None
    run = wandb.init(project="p", config={"lr": 0.1})
    assert wandb.run is run
    wandb.config.batch = 32
    wandb.config.update({"layers": 2})
    assert wandb.config["lr"] == 0.1 and wandb.config.get("nope", 7) == 7
    wandb.log({"loss": 1.0})
    wandb.summary["best"] = 0.5
    wandb.summary.note = "ok"
    assert wandb.summary.note == "ok" and wandb.summary.loss == 1.0
    wandb.summary.update({"extra": 2})
    assert dict(wandb.summary)["loss"] == 1.0
    wandb.finish()
    with pytest.raises(wandb.Error):
        wandb.config["lr"]
    stored = nbrun.Api(run_dir).run(f"p/{run.id}")
    assert dict(stored.config) == {"lr": 0.1, "batch": 32, "layers": 2}
    assert stored.summary["best"] == 0.5
    assert (stored.summary["note"], stored.summary["extra"]) == ("ok", 2)


def test_rule38_surface_names(wandb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert wandb.login() is True
    assert wandb.setup() is not None
    wandb.require("service")
    wandb.termlog("hello")
    wandb.termwarn("careful", repeat=False)
    wandb.termwarn("careful", repeat=False)
    wandb.termerror("bad")
    err = capsys.readouterr().err
    assert "wandb: hello" in err and err.count("wandb: WARNING careful") == 1
    assert "wandb: ERROR bad" in err
    run = wandb.init(project="p")
    wandb.alert(title="t", text="x", level=wandb.AlertLevel.WARN)
    assert [a["level"] for a in run.alerts] == ["WARN"]
    assert run.get_url() is None and run.sweep_id is None and run.disabled is False
    run._label(code="transformers_trainer")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        wandb.nope  # noqa: B018
    wandb.finish()
    assert run.state == "finished"


def test_rule38_api_runs_by_entity_and_project(wandb: Any, run_dir: Path) -> None:
    a = wandb.init(project="p", entity="alice")
    a.finish()
    b = wandb.init(project="p", entity="bob")
    b.finish()
    api = wandb.Api()
    assert [r.id for r in api.runs("alice/p")] == [a.id]
    assert {r.id for r in api.runs("p")} == {a.id, b.id}
    assert api.runs("carol/p") == []
    assert api.run(f"alice/p/{a.id}").id == a.id
    with pytest.raises(nbrun.UsageError, match="entity/project"):
        api.runs("a/b/c")


@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_rule38_api_reads_the_store_init_writes_nbrun_store_first(
    wandb: Any, run_dir: Path, monkeypatch: pytest.MonkeyPatch, store_backend: str
) -> None:
    """``wandb.Api()`` finds the store as ``nbrun.Api()`` and ``wandb.init`` do: NBRUN_STORE (a
    team's PostgreSQL URL, or a folder), else NBRUN_DIR, else WANDB_DIR, else the cwd."""
    if store_backend == "sqlite":  # a folder named by NBRUN_STORE
        monkeypatch.setenv("NBRUN_STORE", str(run_dir / "team"))
    store = os.environ["NBRUN_STORE"]
    monkeypatch.setenv("NBRUN_DIR", str(run_dir / "nbdir"))  # both lose to NBRUN_STORE
    monkeypatch.setenv("WANDB_DIR", str(run_dir / "wbdir"))
    run = wandb.init(project="p", dir=str(run_dir / "staging"))
    run.log({"loss": 0.5})
    run.finish()
    api = wandb.Api()
    assert api.dir == nbrun.Api().dir == store
    assert [r.id for r in api.runs("p")] == [run.id]
    assert api.run(f"p/{run.id}").history()["loss"].tolist() == [0.5]
    if store_backend == "sqlite":
        assert (run_dir / "team" / "nbrun" / "nbrun.db").is_file()
    assert not (run_dir / "nbdir" / "nbrun").exists() and not (run_dir / "wbdir").exists()
    # the rest of the order, the same for both readers and for init
    monkeypatch.delenv("NBRUN_STORE")
    assert wandb.Api().dir == nbrun.Api().dir == str(run_dir / "nbdir")
    assert wandb.Api().runs("p") == []
    monkeypatch.delenv("NBRUN_DIR")
    assert wandb.Api().dir == nbrun.Api().dir == str(run_dir / "wbdir")
    local = wandb.init(project="p")
    local.finish()
    assert [r.id for r in wandb.Api().runs("p")] == [local.id]
    assert (run_dir / "wbdir" / "nbrun" / "nbrun.db").is_file()
    monkeypatch.delenv("WANDB_DIR")
    assert wandb.Api().dir == nbrun.Api().dir == str(run_dir)
    assert nbrun.Api(store).dir == store  # an explicit dir wins over everything
    assert [r.id for r in nbrun.Api(store).runs("p")] == [run.id]


# -- rule 38: keywords and settings ------------------------------------------------------------
def test_rule38_every_w_and_b_keyword_is_accepted_and_ignored_ones_named_once(
    run_dir: Path,
) -> None:
    with pytest.warns(UserWarning, match="ignored: force, save_code, settings.api_key$") as rec:
        run = nbrun.init(
            project="p",
            force=True,
            save_code=True,
            tensorboard=False,
            sync_tensorboard=None,
            monitor_gym=False,
            anonymous=None,
            settings={
                "console": "off",
                "api_key": "k",
                "_disable_stats": False,
                "flush_rows": 10,
            },
        )
    assert len([w for w in rec if "ignored" in str(w.message)]) == 1
    assert (run.settings.flush_rows, run.settings.console, run.settings.stats) == (10, "off", True)
    run.finish()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same names again: no second notice
        nbrun.init(project="p", force=True, settings={"api_key": "k"}).finish()


def test_rule38_settings_that_stand_for_arguments(run_dir: Path) -> None:
    run = nbrun.init(
        settings={
            "project": "sp",
            "run_name": "named",
            "run_tags": ("a", "b"),
            "run_group": "g",
            "run_job_type": "train",
            "run_notes": "n",
            "disable_git": True,
        }
    )
    assert (run.project, run.name, run.tags, run.group, run.job_type, run.notes) == (
        "sp",
        "named",
        ("a", "b"),
        "g",
        "train",
        "n",
    )
    assert "git" not in run.metadata
    run.finish()
    run = nbrun.init(project="given", settings={"project": "sp"})  # the argument wins
    assert run.project == "given"
    run.finish()


def test_rule38_console_and_stats_settings_by_w_and_b_names(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = nbrun.init(project="p", settings={"_disable_stats": True, "x_stats_sampling_interval": 2})
    assert (run.settings.stats, run.settings.stats_interval) == (False, 2)
    run.finish()
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    monkeypatch.setenv("WANDB_X_DISABLE_STATS", "true")
    run = nbrun.init(project="p")
    assert (run.settings.console, run.settings.stats) == ("off", False)
    print("not captured")
    run.finish()
    assert run.logs().empty
    run = nbrun.init(project="p", settings={"console": "auto", "stats": True})  # given: wins
    assert (run.settings.console, run.settings.stats) == ("auto", True)
    run.finish()


def test_rule38_unknown_settings_key_is_refused(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match="'no_such_setting' is unknown"):
        nbrun.init(project="p", settings={"no_such_setting": 1})
    assert not (run_dir / "nbrun").exists()


def test_rule38_wandb_settings_object(wandb: Any) -> None:
    s = wandb.Settings(console="off", _disable_stats=True, silent=True)
    assert s.x_disable_stats is True and s.console == "off" and s.mode is None
    with pytest.raises(nbrun.UsageError, match="not a W&B setting"):
        wandb.Settings(bogus=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # silent: no notice
        run = wandb.init(project="p", settings=s)
    run.finish()


def test_rule38_dropin_init_takes_w_and_b_keywords_by_name_and_position(wandb: Any) -> None:
    """The drop-in's ``init`` maps W&B's keywords onto ``nbrun.init`` (one request): the
    same names, W&B's positional order, Python's errors for a bad call."""
    params = list(inspect.signature(wandb.init).parameters)
    assert params[:4] == ["entity", "project", "dir", "id"] and params[-1] == "legacy"
    assert (set(params) - {"legacy"}) | {"magic"} == set(inspect.signature(nbrun.init).parameters)
    run = wandb.init(None, "p", None, "given-id", magic=None)  # entity, project, dir, id
    assert (run.project, run.id) == ("p", "given-id")
    run.finish()
    with pytest.raises(TypeError, match="multiple values for argument 'project'"):
        wandb.init(None, "p", project="q")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        wandb.init(project="p", colour="red")
    with pytest.raises(TypeError, match="0 to 25 positional arguments but 26 were given"):
        wandb.init(*([None] * 26))
    with pytest.raises(TypeError, match="must be a path"):
        wandb.init(project="p", dir=3)
    assert nbrun.run is None  # a refused call started nothing


@pytest.mark.parametrize("mode", ["dryrun", "offline", "run", "shared"])
def test_rule38_mode_aliases_store_locally(run_dir: Path, mode: str) -> None:
    run = nbrun.init(project="p", mode=mode)
    run.log({"a": 1})
    run.finish()
    assert len(nbrun.Api(run_dir).run(f"p/{run.id}").history()) == 1


# -- rule 38: environment variables ------------------------------------------------------------
def test_rule38_wandb_env_supplies_arguments(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_PROJECT", "envp")
    monkeypatch.setenv("WANDB_ENTITY", "team")
    monkeypatch.setenv("WANDB_NAME", "envname")
    monkeypatch.setenv("WANDB_NOTES", "some notes")
    monkeypatch.setenv("WANDB_TAGS", "a, b,c")
    monkeypatch.setenv("WANDB_RUN_ID", "envid1")
    monkeypatch.setenv("WANDB_RUN_GROUP", "grp")
    monkeypatch.setenv("WANDB_JOB_TYPE", "eval")
    monkeypatch.setenv("WANDB_DIR", str(run_dir / "wb"))
    run = nbrun.init()
    assert (run.project, run.entity, run.name, run.notes, run.tags, run.id) == (
        "envp",
        "team",
        "envname",
        "some notes",
        ("a", "b", "c"),
        "envid1",
    )
    assert (run.group, run.job_type) == ("grp", "eval")
    run.finish()
    assert (run_dir / "wb" / "nbrun" / "nbrun.db").is_file()
    monkeypatch.setenv("WANDB_RESUME", "allow")
    again = nbrun.init()
    assert again.resumed and again.id == "envid1"
    again.finish()
    monkeypatch.setenv("NBRUN_PROJECT", "nbp")  # NBRUN_* wins over WANDB_*
    monkeypatch.setenv("NBRUN_DIR", str(run_dir / "nb"))
    monkeypatch.delenv("WANDB_RUN_ID")
    monkeypatch.delenv("WANDB_RESUME")
    run = nbrun.init()
    assert run.project == "nbp"
    run.finish()
    assert (run_dir / "nb" / "nbrun" / "nbrun.db").is_file()


@pytest.mark.parametrize("var", ["WANDB_MODE", "WANDB_DISABLED"])
def test_rule38_disabled_by_env_writes_nothing(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    monkeypatch.setenv(var, "disabled" if var == "WANDB_MODE" else "true")
    run = nbrun.init(project="p", config={"a": 1})
    run.log({"x": 1.0})
    assert run.disabled is True
    run.finish()
    assert list(run_dir.iterdir()) == []


def test_rule38_bad_wandb_mode_is_named(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    with pytest.raises(nbrun.UsageError, match="mode 'sometimes'"):
        nbrun.init(project="p")


def test_rule38_dir_under_the_drop_in_is_a_staging_folder(
    wandb: Any, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = run_dir / "stage"
    store = run_dir / "store"
    monkeypatch.setenv("NBRUN_DIR", str(store))
    run = wandb.init(project="p", dir=str(stage), settings={"root_dir": str(stage)})
    run.finish()
    assert (store / "nbrun" / "nbrun.db").is_file()
    assert not (stage / "nbrun").exists()
    monkeypatch.delenv("NBRUN_DIR")
    run = wandb.init(project="p", dir=str(stage))  # the current directory
    run.finish()
    assert (run_dir / "nbrun" / "nbrun.db").is_file()
    assert not (stage / "nbrun").exists()


# -- rules 7 and 23: values W&B clients hand over -------------------------------------------------
def test_rule07_nested_non_str_keys_stored_as_json_keys(run_dir: Path) -> None:
    cfg = {"id2label": {0: "neg", 1: "pos"}, "flags": {True: 1, None: 2, 1.5: 3}}
    run = nbrun.init(project="p", config=cfg)
    run.finish()
    stored = nbrun.Api(run_dir).run(f"p/{run.id}").config
    assert stored["id2label"] == json.loads(json.dumps(cfg["id2label"]))
    assert stored["flags"] == {"true": 1, "null": 2, "1.5": 3}
    with pytest.raises(nbrun.UsageError, match="keys must be str"):
        nbrun.init(project="p", config={0: "top-level"})
    with pytest.raises(TypeError, match="keys must be str"):
        nbrun.init(project="q").log({"d": {0: 1}})  # history keeps its rule


@pytest.mark.slow  # imports torch / starts interpreters
def test_rule23_torch_tensors(run_dir: Path) -> None:
    import torch  # the wandb-tests extra (in dev) pins torch==2.13.0, the CPU build

    run = nbrun.init(project="p")
    run.log({"loss": torch.tensor(0.5), "vec": torch.tensor([[1.0, 2.0], [3.0, 4.0]])})
    run.log({"grad": torch.ones(2, requires_grad=True) * 2, "half": torch.tensor(1.5).bfloat16()})
    run.config.update({"w": torch.tensor(3)})
    run.finish()
    h = nbrun.Api(run_dir).run(f"p/{run.id}").history()
    assert h["loss"][0] == 0.5 and h["vec"][0] == [[1.0, 2.0], [3.0, 4.0]]
    assert h["grad"][1] == [2.0, 2.0] and h["half"][1] == 1.5
    assert run.config["w"] == 3


# -- rule 39: run.watch ------------------------------------------------------------------------
@pytest.mark.slow  # imports torch / starts interpreters
def test_rule39_watch_argument_checks(run_dir: Path) -> None:
    import torch

    run = nbrun.init(project="p")
    with pytest.raises(ValueError, match="log='weights'"):
        run.watch(torch.nn.Linear(2, 1), log="weights")
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        run.watch(object())
    with pytest.raises(ValueError, match="log_freq=0"):
        run.watch(torch.nn.Linear(2, 1), log_freq=0)
    run.finish()


@pytest.mark.slow  # imports torch / starts interpreters
def test_rule39_histogram_of_a_tensor() -> None:
    import torch

    from nbrun._watch import NUM_BINS, tensor_histogram

    counts, edges = tensor_histogram(torch.tensor([0.0, 1.0, 1.0, float("nan"), float("inf")]))
    assert len(counts) == NUM_BINS and len(edges) == NUM_BINS + 1
    assert sum(counts) == 3 and edges[0] == 0.0 and edges[-1] == 1.0
    assert tensor_histogram(torch.full((3,), 2.0)) == ([3.0], [2.0, 2.0])
    assert tensor_histogram(torch.tensor([float("nan")])) is None


@pytest.mark.slow
def test_rule39_watch_logs_histograms_every_log_freq(run_dir: Path) -> None:
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    run = nbrun.init(project="p")
    run.watch(model, log="all", log_freq=2, idx=0)  # idx 0: whatever this process watched before
    for step in range(4):
        loss = model(torch.randn(5, 3)).pow(2).mean()
        loss.backward()
        run.log({"loss": loss.item(), "step": step})
    run.unwatch()
    model(torch.randn(5, 3)).sum().backward()
    run.log({"loss": 0.0})
    run.finish()
    h = nbrun.Api(run_dir).run(f"p/{run.id}").history()
    names = [n for n, _ in model.named_parameters()]
    for n in names:
        for kind in ("gradients", "parameters"):
            col = h[f"{kind}/{n}"]
            assert col.notna().tolist() == [False, True, False, True, False], (kind, n)


def test_rule38_drop_in_wins_over_an_installed_wandb_and_says_so_once(tmp_path: Path) -> None:
    """A 'real' wandb on sys.path (a package with its dist-info, as pip leaves it)."""
    (tmp_path / "wandb").mkdir()
    (tmp_path / "wandb" / "__init__.py").write_text("REAL = True\n")
    info = tmp_path / "wandb-0.30.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wandb\nVersion: 0.30.0\n")
    code = (
        "import sys, warnings, importlib.metadata as md\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import wandb\n"
        "print(getattr(wandb, 'REAL', False), md.version('wandb'))\n"
        "import nbrun\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    nbrun.as_wandb(); nbrun.as_wandb()\n"
        "    import wandb\n"
        "print(getattr(wandb, 'REAL', False), md.version('wandb'), wandb.__name__)\n"
        "print(len(w), 'W&B is installed too' in str(w[0].message))\n"
        "nbrun.as_wandb(False)\n"
        "import wandb\n"
        "print(getattr(wandb, 'REAL', False), md.version('wandb'))\n"
    )
    lines = _run_py(code).splitlines()
    assert lines == [
        "True 0.30.0",
        "False 0.31.0 nbrun.wandb_compat",
        "1 True",
        "True 0.30.0",
    ]


@pytest.mark.slow  # builds nbrun twice into fresh virtual environments (~1 min)
@pytest.mark.parametrize("how", ["wheel", "editable"])
def test_rule38_pth_hook_installed_by_wheel_and_editable_install(tmp_path: Path, how: str) -> None:
    """NBRUN_AS_WANDB=1 works from a wheel and from `pip install -e .` (the README's setup)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    pip = [py, "-m", "pip", "install", "-q", "--no-deps"]
    if how == "wheel":
        subprocess.run(
            [py, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path / "w")],
            check=True,
            timeout=300,
        )
        (wheel,) = (tmp_path / "w").glob("nbrun-*.whl")
        subprocess.run([*pip, str(wheel)], check=True, timeout=300)
    else:
        subprocess.run([*pip, "-e", str(ROOT)], check=True, timeout=300)
    probe = (
        "import sys, importlib.metadata as md\n"
        "try:\n"
        "    v = md.version('wandb')\n"
        "except md.PackageNotFoundError:\n"
        "    v = 'none'\n"
        "print(v, 'nbrun' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NBRUN_AS_WANDB")}
    env = {k: v for k, v in env.items() if not k.startswith("WANDB_")}

    def run(extra: dict[str, str]) -> str:
        out = subprocess.run(
            [py, "-c", probe], env={**env, **extra}, cwd=tmp_path, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run({"NBRUN_AS_WANDB": "1"}) == "0.31.0 True"
    assert run({}) == "none False"
