"""A sweep trial's program (rules 55-56): W&B's command macros, the argument forms, bad
commands, and the real subprocess a trial runs in (its environment, folder, exit code, stop)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nbrun
from nbrun._sweeps.program import (
    DEFAULT_COMMAND,
    build_command,
    command_args,
    program_env,
    run_program,
)
from nbrun.errors import UsageError

PARAMS = {"lr": 0.1, "flag": True, "off": False, "opt": "adam", "none": None, "n": 3}


# -- rule 55: the command and its macros -------------------------------------------------------
def test_rule55_default_command_is_env_interpreter_program_args() -> None:
    argv = build_command(None, {"lr": 0.1, "epochs": 2}, program="train.py", project="p")
    assert DEFAULT_COMMAND == ("${env}", "${interpreter}", "${program}", "${args}")
    expected_env = [] if sys.platform == "win32" else ["/usr/bin/env"]
    assert argv == [*expected_env, sys.executable, "train.py", "--lr=0.1", "--epochs=2"]


def test_rule55_argument_forms_as_w_and_b_writes_them() -> None:
    forms = command_args(PARAMS)
    assert forms["args"] == [
        "--lr=0.1",
        "--flag=True",
        "--off=False",
        "--opt=adam",
        "--none=None",
        "--n=3",
    ]
    assert forms["args_no_hyphens"] == [
        "lr=0.1",
        "flag=True",
        "off=False",
        "opt=adam",
        "none=None",
        "n=3",
    ]
    # true booleans become bare flags, false ones are left out
    assert forms["args_no_boolean_flags"] == [
        "--lr=0.1",
        "--flag",
        "--opt=adam",
        "--none=None",
        "--n=3",
    ]
    assert forms["args_no_equals"][:4] == ["--lr", "0.1", "--flag", "True"]
    assert forms["args_override_hydra"][0] == "++lr=0.1"
    assert forms["args_append_hydra"][0] == "+lr=0.1"
    assert json.loads(forms["args_json"][0]) == PARAMS


def test_rule55_nested_parameters_are_one_argument_with_a_json_value() -> None:
    params = {"optimizer": {"lr": 0.01, "momentum": 0.9}, "layers": [1, 2]}
    assert command_args(params)["args"] == [
        '--optimizer={"lr": 0.01, "momentum": 0.9}',
        "--layers=[1, 2]",
    ]
    assert json.loads(command_args(params)["args_json"][0]) == params


def test_rule55_every_macro_in_a_custom_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBRUN_TEST_GPU", "0")
    argv = build_command(
        [
            "python3",
            "${program}",
            "--project=${project}",
            "${entity}",
            "--gpu=${envvar:NBRUN_TEST_GPU}",
            "${args_no_hyphens}",
            "${args_json}",
            "${args_json_file}",
            5,  # type: ignore[list-item]  # W&B's YAML may give a number
        ],
        {"a": 1},
        program="t.py",
        project="proj",
        entity="me",
        args_json_file="/tmp/c.json",
        interpreter="py",
    )
    assert argv == [
        "python3",
        "t.py",
        "--project=proj",
        "me",
        "--gpu=0",
        "a=1",
        '{"a": 1}',
        "/tmp/c.json",
        "5",
    ]
    assert build_command(
        ["${interpreter}", "x"], {}, program=None, project="p", interpreter="py"
    ) == [
        "py",
        "x",
    ]


@pytest.mark.parametrize(
    ("command", "program", "message"),
    [
        (["python", "${nope}"], "t.py", "unknown macro ${nope}; allowed: ${env}"),
        (["python", "x${args}"], "t.py", "must be an element of its own"),
        (["${interpreter}", "${program}"], None, "has no `program:`"),
        ([], "t.py", "non-empty list of strings, got []"),
        ("python train.py", "t.py", "non-empty list of strings, got 'python train.py'"),
        (["python", ["t.py"]], "t.py", "element ['t.py'] is a list"),
        (
            ["python", "${envvar:NBRUN_SURELY_UNSET_VAR}"],
            "t.py",
            "'NBRUN_SURELY_UNSET_VAR' is not set",
        ),
        (["${entity}"], "t.py", "${entity} has no value here"),
    ],
)
def test_rule55_a_bad_command_names_the_element_and_the_fix(
    command: object, program: str | None, message: str
) -> None:
    with pytest.raises(UsageError) as err:
        build_command(command, {"a": 1}, program=program, project="p")  # type: ignore[arg-type]
    assert message in str(err.value)


# -- rule 56: the subprocess -------------------------------------------------------------------
SHOW = """import json, os, sys
keys = ("NBRUN_SWEEP_ID", "NBRUN_RUN_ID", "NBRUN_STORE", "NBRUN_DIR", "WANDB_SWEEP_ID",
        "WANDB_RUN_ID", "WANDB_PROJECT", "WANDB_ENTITY")
out = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": {k: os.environ.get(k) for k in keys}}
if len(sys.argv) > 2 and sys.argv[1] == "--file":
    out["file"] = json.loads(open(sys.argv[2]).read())
print("TRIAL", json.dumps(out))
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""


def _script(tmp_path: Path) -> Path:
    folder = tmp_path / "sweepdir"
    folder.mkdir()
    (folder / "show.py").write_text(SHOW)
    return folder


def _trial(capfd: pytest.CaptureFixture[str]) -> dict[str, object]:
    out = capfd.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("TRIAL "))
    return json.loads(line[len("TRIAL ") :])  # type: ignore[no-any-return]


def test_rule56_program_runs_in_its_folder_with_the_trial_environment(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = _script(tmp_path)
    code = run_program(
        "show.py",
        None,
        {"lr": 0.5, "flag": False},
        sweep_id="sw1",
        project="proj",
        run_id="run1",
        store=tmp_path / "store",
        entity="team",
        cwd=folder,
    )
    assert code == 0
    trial = _trial(capfd)  # the program's console is the agent's
    assert trial["argv"] == ["--lr=0.5", "--flag=False"]
    assert Path(str(trial["cwd"])).resolve() == folder.resolve()
    assert trial["env"] == {
        "NBRUN_SWEEP_ID": "proj/sw1",
        "NBRUN_RUN_ID": "run1",
        "NBRUN_STORE": str(tmp_path / "store"),
        "NBRUN_DIR": str(tmp_path / "store"),
        "WANDB_SWEEP_ID": "sw1",
        "WANDB_RUN_ID": "run1",
        "WANDB_PROJECT": "proj",
        "WANDB_ENTITY": "team",
    }


def test_rule56_args_json_file_holds_the_parameters_and_is_removed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = _script(tmp_path)
    params = {"opt": {"lr": 0.1}, "n": 2}
    code = run_program(
        "show.py",
        ["${interpreter}", "${program}", "--file", "${args_json_file}"],
        params,
        sweep_id="s",
        project="p",
        run_id="r",
        store=tmp_path,
        cwd=folder,
    )
    trial = _trial(capfd)
    assert code == 0 and trial["file"] == params
    assert not Path(str(trial["argv"][1])).exists()  # type: ignore[index]


def test_rule56_exit_code_is_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = _script(tmp_path)
    monkeypatch.setenv("EXIT_WITH", "3")
    kw = {"sweep_id": "s", "project": "p", "run_id": "r", "store": tmp_path, "cwd": folder}
    assert run_program("show.py", None, {}, **kw) == 3  # type: ignore[arg-type]
    assert _trial(capfd)["argv"] == []


def test_rule56_a_missing_program_is_an_error_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        run_program(
            "train.py",
            None,
            {},
            sweep_id="s",
            project="p",
            run_id="r",
            store=tmp_path,
            cwd=tmp_path,
        )
    assert "sweep program 'train.py' not found in" in str(err.value)
    assert "the sweep YAML's folder" in str(err.value)


def test_rule56_should_stop_terminates_the_program(tmp_path: Path) -> None:
    started = tmp_path / "started"
    (tmp_path / "wait.py").write_text(
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\n"
        f"pathlib.Path({str(started)!r}).write_text('x')\n"
        "while True:\n    time.sleep(0.05)\n"
    )
    code = run_program(
        "wait.py",
        None,
        {},
        sweep_id="s",
        project="p",
        run_id="r",
        store=tmp_path,
        cwd=tmp_path,
        should_stop=started.exists,
    )
    assert code == 7  # SIGTERM reached the program's handler, as W&B's agent stops a run


def test_rule56_environment_starts_from_the_given_base() -> None:
    env = program_env(
        sweep_id="s", project="p", run_id="r", store="postgresql://h/db", base={"A": "1"}
    )
    assert env["A"] == "1" and env["NBRUN_STORE"] == "postgresql://h/db"
    assert "WANDB_ENTITY" not in env
    # the same environment W&B's agent gives the program's wandb.init()
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ['WANDB_SWEEP_ID'])"],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "s"


# -- rules 51, 57: an init after the trial's run finished continues it -------------------------
def test_rule57_an_init_after_the_trials_run_finished_continues_it(tmp_path: Path) -> None:
    """transformers' hyperparameter_search: its objective inits, its callback finishes that run
    and inits again; W&B keeps the trial's run id for the whole function, so does nbrun."""

    sweep_id = nbrun.sweep(
        {"method": "grid", "parameters": {"lr": {"values": [0.1, 0.2]}}},
        project="again",
        dir=tmp_path,
    )
    seen: list[tuple[str, str]] = []

    def objective() -> None:
        first = nbrun.init(project="other", dir=tmp_path)
        first.log({"a": 1})
        first.finish()
        second = nbrun.init(project="huggingface", dir=tmp_path)  # as the HF callback does
        second.log({"b": 2})
        seen.append((first.id, second.id))

    nbrun.agent(f"again/{sweep_id}", function=objective, dir=tmp_path)
    runs = nbrun.Api(tmp_path).sweep(f"again/{sweep_id}").runs
    assert sorted(r.id for r in runs) == sorted(first for first, _ in seen)
    assert all(first == second for first, second in seen) and len(seen) == 2
    for run in runs:
        assert (run.state, run.project) == ("finished", "again")
        assert run.config["lr"] in (0.1, 0.2)
        rows = run.history()
        assert list(rows["a"].dropna()) == [1] and list(rows["b"].dropna()) == [2]
    assert [r.project for r in nbrun.Api(tmp_path).runs()] == ["again", "again"]
