"""Config (run-semantics rule 7): sources, key filters, access, and the value-change rule."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import nbrun
from nbrun import _system

P = "cfg"


def _init(**kwargs: object) -> nbrun.Run:
    kwargs.setdefault("project", P)
    kwargs.setdefault("reinit", "create_new")
    return nbrun.init(**kwargs)  # type: ignore[arg-type]


def _stored_config(run_dir: Path, run: nbrun.Run) -> dict[str, object]:
    return nbrun.Api(run_dir).run(f"{P}/{run.id}").config.as_dict()


def test_rule07_config_from_dict(run_dir: Path) -> None:
    run = _init(config={"lr": 0.1, "layers": [64, 32], "opt": {"name": "adam"}})
    assert run.config.as_dict() == {"lr": 0.1, "layers": [64, 32], "opt": {"name": "adam"}}
    run.finish()
    assert _stored_config(run_dir, run) == {
        "lr": 0.1,
        "layers": [64, 32],
        "opt": {"name": "adam"},
    }


def test_rule07_config_from_argparse_namespace(run_dir: Path) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(["--lr", "0.5"])
    assert _init(config=args).config.as_dict() == {"lr": 0.5, "epochs": 3}


def test_rule07_config_from_object_with_dict(run_dir: Path) -> None:
    class Hparams:
        def __init__(self) -> None:
            self.batch = 32
            self.name = "x"

    assert _init(config=Hparams()).config.as_dict() == {"batch": 32, "name": "x"}


def test_rule07_config_from_plain_yaml_file(run_dir: Path) -> None:
    path = run_dir / "plain.yaml"
    path.write_text("lr: 0.1\nepochs: 5\nname: base\n")
    assert _init(config=str(path)).config.as_dict() == {"lr": 0.1, "epochs": 5, "name": "base"}
    assert _init(config=path).config.as_dict() == {"lr": 0.1, "epochs": 5, "name": "base"}


def test_rule07_config_from_wandb_value_form_yaml(run_dir: Path) -> None:
    path = run_dir / "config-defaults.yaml"
    path.write_text(
        "wandb_version: 1\nlr:\n  desc: learning rate\n  value: 0.001\nbatch_size:\n  value: 64\n"
    )
    assert _init(config=str(path)).config.as_dict() == {"lr": 0.001, "batch_size": 64}


def test_rule07_config_yaml_path_missing_raises_usageerror_naming_it(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match=r"nope\.yaml"):
        _init(config="nope.yaml")


def test_rule07_config_of_wrong_type_raises_usageerror_naming_it(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match="42"):
        _init(config=42)


def test_rule07_config_include_keys_filters_top_level(run_dir: Path) -> None:
    run = _init(config={"a": 1, "b": {"a": 2}, "c": 3}, config_include_keys=["a", "b"])
    assert run.config.as_dict() == {"a": 1, "b": {"a": 2}}


def test_rule07_config_exclude_keys_filters_top_level(run_dir: Path) -> None:
    run = _init(config={"a": 1, "b": 2, "c": 3}, config_exclude_keys=["b"])
    assert run.config.as_dict() == {"a": 1, "c": 3}


def test_rule07_include_and_exclude_at_once_raises_usageerror(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match="config_include_keys and config_exclude_keys"):
        _init(config={"a": 1}, config_include_keys=["a"], config_exclude_keys=["b"])
    assert nbrun.Api(run_dir).runs(P) == []


def test_rule07_attribute_and_item_access(run_dir: Path) -> None:
    run = _init(config={"lr": 0.1})
    assert run.config.lr == 0.1
    assert run.config["lr"] == 0.1
    run.config.epochs = 3
    run.config["batch"] = 8
    assert run.config["epochs"] == 3
    assert run.config.batch == 8
    with pytest.raises(AttributeError, match="nope"):
        _ = run.config.nope
    with pytest.raises(KeyError):
        _ = run.config["nope"]
    run.finish()
    assert _stored_config(run_dir, run) == {"lr": 0.1, "epochs": 3, "batch": 8}


def test_rule07_config_value_change_raises_configerror(run_dir: Path) -> None:
    run = _init(config={"lr": 0.1}, allow_val_change=False)
    with pytest.raises(nbrun.ConfigError) as err:
        run.config.lr = 0.2
    msg = str(err.value)
    assert "from 0.1 to 0.2" in msg
    assert "allow_val_change=True" in msg
    assert isinstance(err.value, nbrun.UsageError)
    with pytest.raises(nbrun.ConfigError, match=r"from 0\.1 to 0\.3"):
        run.config["lr"] = 0.3
    with pytest.raises(nbrun.ConfigError, match=r"from 0\.1 to 0\.4"):
        run.config.update({"lr": 0.4, "other": 1})
    assert run.config.as_dict() == {"lr": 0.1}  # the rejected update changed nothing
    run.finish()
    assert _stored_config(run_dir, run) == {"lr": 0.1}


def test_rule07_setting_the_same_value_is_silent(run_dir: Path) -> None:
    run = _init(config={"lr": 0.1, "n": 3}, allow_val_change=False)
    run.config.lr = 0.1
    run.config.update({"n": 3, "new": "x"})
    assert run.config.as_dict() == {"lr": 0.1, "n": 3, "new": "x"}


def test_rule07_allow_val_change_on_init(run_dir: Path) -> None:
    run = _init(config={"lr": 0.1}, allow_val_change=True)
    run.config.lr = 0.2
    assert run.config.lr == 0.2
    run.finish()
    assert _stored_config(run_dir, run) == {"lr": 0.2}


def test_rule07_allow_val_change_on_update(run_dir: Path) -> None:
    run = _init(config={"lr": 0.1}, allow_val_change=False)
    run.config.update({"lr": 0.2}, allow_val_change=True)
    assert run.config.lr == 0.2
    with pytest.raises(nbrun.ConfigError):  # only that call was allowed
        run.config.lr = 0.3


def test_rule07_allow_val_change_defaults_false_outside_a_notebook(run_dir: Path) -> None:
    assert not _system.in_notebook()
    run = _init(config={"lr": 0.1})
    with pytest.raises(nbrun.ConfigError):
        run.config.lr = 0.2


def test_rule07_allow_val_change_defaults_true_in_a_notebook_kernel(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real kernel is exercised in test_lifecycle (rule 30); here the detection is faked
    monkeypatch.setattr(_system, "in_notebook", lambda: True)
    run = _init(config={"lr": 0.1})
    run.config.lr = 0.2
    assert run.config.lr == 0.2


def test_rule07_config_changes_reach_the_store_while_running(run_dir: Path, api: nbrun.Api) -> None:
    from tests.conftest import wait_for

    run = _init(config={"lr": 0.1}, settings={"flush_interval": 0.05})
    run.config.update({"epochs": 4})
    run.log({"x": 1})
    view = api.run(f"{P}/{run.id}")
    wait_for(lambda: view.config.get("epochs") == 4)


def test_rule07_config_bad_key_or_value_raises_naming_it(run_dir: Path) -> None:
    run = _init(config={"lr": 0.1})
    with pytest.raises(nbrun.UsageError, match="object"):
        run.config.update({"fn": object()})
    with pytest.raises(nbrun.UsageError, match="3"):
        run.config.update({3: "x"})
    assert run.config.as_dict() == {"lr": 0.1}
