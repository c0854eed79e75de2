"""An agent's program runner (rules 55-56): one trial of a sweep whose agent has no ``function``
runs the sweep's ``program`` as a subprocess, with W&B's ``command`` macros.

The command is the sweep config's ``command`` (default ``${env} ${interpreter} ${program}
${args}``, as W&B's agent); each element is either a macro standing alone, which becomes zero or
more arguments (:data:`LIST_MACROS`, :data:`SCALAR_MACROS`), or text in which ``${envvar:NAME}``
and the scalar macros are replaced. The subprocess gets the environment that lets its
``nbrun.init()`` / ``wandb.init()`` join the trial (:func:`program_env`); its console is the
agent's. :func:`run_program` returns its exit code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError

#: W&B's default sweep command
DEFAULT_COMMAND: tuple[str, ...] = ("${env}", "${interpreter}", "${program}", "${args}")

#: macros that stand alone as an element and become the trial's parameters as arguments
LIST_MACROS: tuple[str, ...] = (
    "args",
    "args_no_hyphens",
    "args_no_boolean_flags",
    "args_no_equals",
    "args_json",
    "args_append_hydra",
    "args_override_hydra",
)
#: macros that become one value (or, ``${env}`` on Windows, nothing)
SCALAR_MACROS: tuple[str, ...] = (
    "env",
    "interpreter",
    "program",
    "args_json_file",
    "project",
    "entity",
)

_MACRO = re.compile(r"\$\{([^}]*)\}")
_ENVVAR = re.compile(r"envvar:([A-Za-z_][A-Za-z0-9_]*)")
#: seconds between a stop request's SIGTERM and SIGKILL (W&B's agent waits likewise)
KILL_DELAY = 10.0
_POLL = 0.2


def _text(value: Any) -> str:
    """A parameter value as one command-line word: W&B's ``str(value)`` for scalars
    (``True``, ``None``, ``0.1``), JSON for nested dicts and lists (``{"a": 1}``)."""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def command_args(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every argument form of :data:`LIST_MACROS` for one trial's parameters, in the order
    the parameters are given. A nested parameter (``parameters:`` under a parameter) is one
    argument whose value is its dict as JSON: ``--optimizer={"lr": 0.1}``."""
    forms: dict[str, list[str]] = {name: [] for name in LIST_MACROS}
    for key, value in params.items():
        flag = f"{key}={_text(value)}"
        forms["args"].append(f"--{flag}")
        forms["args_no_hyphens"].append(flag)
        forms["args_no_equals"] += [f"--{key}", _text(value)]
        forms["args_append_hydra"].append(f"+{flag}")
        forms["args_override_hydra"].append(f"++{flag}")
        if value is True:
            forms["args_no_boolean_flags"].append(f"--{key}")
        elif value is not False:
            forms["args_no_boolean_flags"].append(f"--{flag}")
    forms["args_json"] = [json.dumps(dict(params), default=str)]
    return forms


def _allowed() -> str:
    names = [*SCALAR_MACROS, *LIST_MACROS, "envvar:NAME"]
    return ", ".join("${" + n + "}" for n in names)


def _scalar(name: str, scalars: Mapping[str, str | None], element: str) -> str:
    """The value of a scalar macro inside ``element`` (``${envvar:NAME}`` included)."""
    envvar = _ENVVAR.fullmatch(name)
    if envvar:
        value = os.environ.get(envvar.group(1))
        if value is None:
            raise UsageError(
                f"sweep command element {element!r}: the environment variable "
                f"{envvar.group(1)!r} is not set; set it before starting the agent"
            )
        return value
    if name in LIST_MACROS:
        raise UsageError(
            f"sweep command element {element!r}: ${{{name}}} gives several arguments, so it "
            "must be an element of its own (e.g. command: [python, train.py, ${args}])"
        )
    if name not in scalars:
        raise UsageError(f"sweep command: unknown macro ${{{name}}}; allowed: {_allowed()}")
    value = scalars[name]
    if value is None:
        raise UsageError(
            f"sweep command element {element!r}: ${{{name}}} has no value here"
            + (" (the sweep config has no `program:`)" if name == "program" else "")
            + "; give it in the sweep config or leave the macro out of `command:`"
        )
    return value


def build_command(
    command: Sequence[str] | None,
    params: Mapping[str, Any],
    *,
    program: str | None,
    project: str,
    entity: str | None = None,
    args_json_file: str | None = None,
    interpreter: str | None = None,
) -> list[str]:
    """The argument list of one trial: ``command`` (None: :data:`DEFAULT_COMMAND`) with its
    macros replaced. ``${interpreter}`` is ``interpreter`` (default: this Python,
    ``sys.executable``); ``${env}`` is ``/usr/bin/env`` (nothing on Windows). Raises
    :class:`~nbrun.errors.UsageError` for an empty command, an element that is not text, an
    unknown macro, ``${program}`` without a program, or an unset ``${envvar:NAME}``."""
    if command is not None and (isinstance(command, str) or not list(command)):
        raise UsageError(
            f"sweep command must be a non-empty list of strings, got {command!r}; e.g. "
            "command: [${env}, ${interpreter}, ${program}, ${args}]"
        )
    elements = list(DEFAULT_COMMAND if command is None else command)
    scalars: dict[str, str | None] = {
        "env": None if sys.platform == "win32" else "/usr/bin/env",
        "interpreter": interpreter or sys.executable,
        "program": program,
        "args_json_file": args_json_file,
        "project": project,
        "entity": entity,
    }
    forms = command_args(params)
    out: list[str] = []
    for element in elements:
        if not isinstance(element, str | int | float) or isinstance(element, bool):
            raise UsageError(
                f"sweep command element {element!r} is a {type(element).__name__}; every "
                "element must be a string (a word of the command line or a macro)"
            )
        element = str(element)
        whole = _MACRO.fullmatch(element)
        if whole and whole.group(1) in LIST_MACROS:
            out += forms[whole.group(1)]
        elif whole and whole.group(1) == "env" and scalars["env"] is None:
            continue  # Windows: no env program
        else:
            out.append(_substitute(element, scalars))
    return out


def _substitute(element: str, scalars: Mapping[str, str | None]) -> str:
    """``element`` with each ``${name}`` in it replaced by its scalar value."""
    return _MACRO.sub(lambda m: _scalar(m.group(1), scalars, element), element)


def program_env(
    *,
    sweep_id: str,
    project: str,
    run_id: str,
    store: str | os.PathLike[str],
    entity: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a trial's program (rule 56): ``base`` (default: this process's)
    plus ``NBRUN_SWEEP_ID`` (``project/sweep_id``), ``NBRUN_RUN_ID``, ``NBRUN_STORE`` and
    ``NBRUN_DIR`` (the agent's store, so the program writes where the agent reads), and W&B's
    ``WANDB_SWEEP_ID``, ``WANDB_RUN_ID``, ``WANDB_PROJECT`` (and ``WANDB_ENTITY``) for scripts
    that read them."""
    env = dict(os.environ if base is None else base)
    where = os.fspath(store)
    env.update(
        {
            "NBRUN_SWEEP_ID": f"{project}/{sweep_id}",
            "NBRUN_RUN_ID": run_id,
            "NBRUN_STORE": where,
            "NBRUN_DIR": where,
            "WANDB_SWEEP_ID": sweep_id,
            "WANDB_RUN_ID": run_id,
            "WANDB_PROJECT": project,
        }
    )
    if entity:
        env["WANDB_ENTITY"] = entity
    return env


def _check_program(program: str | None, argv: Sequence[str], cwd: Path) -> None:
    """A relative ``program`` the command runs must exist in ``cwd`` (a clear error instead
    of the interpreter's "can't open file")."""
    if program is None or program not in argv:
        return
    path = Path(program)
    if not (path if path.is_absolute() else cwd / path).is_file():
        raise UsageError(
            f"sweep program {program!r} not found in {str(cwd)!r}; run the agent in the folder "
            "that holds it (the sweep YAML's folder) or give its path in `program:`"
        )


def check_program(
    program: str | None,
    command: Sequence[str] | None,
    *,
    entity: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> None:
    """Raise the :class:`~nbrun.errors.UsageError` :func:`run_program` would raise for this
    command and program in ``cwd`` (default: the current folder), before any trial."""
    where = Path(os.getcwd() if cwd is None else cwd)
    argv = build_command(
        command, {}, program=program, project="-", entity=entity, args_json_file="-"
    )
    _check_program(program, argv, where)


def _wait(proc: subprocess.Popen[bytes], should_stop: Callable[[], bool] | None) -> int:
    """Wait for ``proc``; when ``should_stop()`` turns true (or on Ctrl-C), SIGTERM it, then
    SIGKILL after :data:`KILL_DELAY` seconds."""
    try:
        while True:
            try:
                return proc.wait(timeout=_POLL if should_stop is not None else None)
            except subprocess.TimeoutExpired:
                if should_stop is not None and should_stop():
                    break
    except BaseException:
        _end(proc)
        raise
    return _end(proc)


def _end(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    deadline = time.monotonic() + KILL_DELAY
    while time.monotonic() < deadline:
        try:
            return proc.wait(timeout=_POLL)
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    return proc.wait()


def run_program(
    program: str | None,
    command: Sequence[str] | None,
    params: Mapping[str, Any],
    *,
    sweep_id: str,
    project: str,
    run_id: str,
    store: str | os.PathLike[str],
    entity: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Run one trial's program (rules 55-56) and return its exit code.

    ``program`` and ``command`` are the sweep config's (``command`` None: W&B's default
    ``${env} ${interpreter} ${program} ${args}``), ``params`` the trial's suggestion,
    ``sweep_id`` the bare sweep id in ``project``, ``run_id`` the trial's run, ``store`` the
    folder or ``postgresql://`` URL the agent uses. The program runs in ``cwd`` (default: the
    current directory) with :func:`program_env`'s environment; its stdout and stderr are the
    agent's. ``${args_json_file}`` is a temporary JSON file of ``params``, removed afterwards.
    ``should_stop`` is polled while the program runs: when it returns true the program gets
    SIGTERM (then SIGKILL after :data:`KILL_DELAY` s), as W&B's agent stops a run.

    Raises :class:`~nbrun.errors.UsageError` for a bad command (see :func:`build_command`) or
    a relative program that is not in ``cwd``, before anything runs.
    """
    where = Path(os.getcwd() if cwd is None else cwd)
    env = program_env(sweep_id=sweep_id, project=project, run_id=run_id, store=store, entity=entity)
    with tempfile.TemporaryDirectory(prefix="nbrun-sweep-") as tmp:
        json_file = Path(tmp) / f"config-{run_id}.json"
        argv = build_command(
            command,
            params,
            program=program,
            project=project,
            entity=entity,
            args_json_file=str(json_file),
        )
        _check_program(program, argv, where)
        json_file.write_text(json.dumps(dict(params), default=str))
        proc = subprocess.Popen(argv, cwd=where, env=env)
        return _wait(proc, should_stop)
