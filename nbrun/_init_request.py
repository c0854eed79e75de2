"""What ``init`` was asked for, resolved once (rules 1-19, 38): :class:`InitRequest`.

``init``'s arguments, the ``NBRUN_*`` and ``WANDB_*`` environment, ``settings`` and W&B's
names for them are merged here in one place, in one order (argument, then a W&B setting that
stands for it, then ``NBRUN_*``, then ``WANDB_*``), and checked once; ``_api`` then starts,
continues, forks or rewinds the run the request describes without looking at its arguments
again. A fork or rewind made by ``run.fork()`` / ``run.rewind()`` passes its
:class:`~nbrun._lineage.ForkPoint` as is (no ``"id?_step=N"`` text to parse back).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _ids, _system, _wbnames
from ._config import filter_keys, load_config_source
from ._lineage import ForkPoint, parse_spec
from ._registry import PendingTrial, current_run, pending_trial
from ._run import Settings
from ._states import is_live
from ._store import Store
from .errors import UsageError

MODES = ("online", "offline", "disabled")
#: W&B's other spellings of a mode: ``dryrun`` (Lightning's offline) and ``run`` are older
#: W&B's, ``shared`` is W&B's multi-writer online mode
MODE_ALIASES = {"dryrun": "offline", "run": "online", "shared": "online"}
RESUME_VALUES = ("allow", "must", "never", "auto")
REINIT_VALUES = ("return_previous", "finish_previous", "create_new")
_ENV = {
    "project": "NBRUN_PROJECT",
    "dir": "NBRUN_DIR",
    "id": "NBRUN_RUN_ID",
    "mode": "NBRUN_MODE",
    "resume": "NBRUN_RESUME",
    "fork_from": "NBRUN_FORK_FROM",
    "resume_from": "NBRUN_RESUME_FROM",
}

#: names the store for every run of a process: a folder or a ``postgresql://`` URL
STORE_ENV = "NBRUN_STORE"
#: the sweep (``"project/ID"``) whose trial ``NBRUN_RUN_ID`` is, in an agent's subprocess
#: (rule 51); W&B's agent sets ``WANDB_SWEEP_ID`` the same way
SWEEP_ENV = "NBRUN_SWEEP_ID"

#: ``init``'s arguments that name the run and how to start it (a W&B setting, ``NBRUN_*`` or
#: ``WANDB_*`` variable may supply them); ``reinit`` and ``allow_val_change`` only by setting
MERGED_ARGS = (
    "project",
    "entity",
    "dir",
    "id",
    "name",
    "notes",
    "tags",
    "group",
    "job_type",
    "mode",
    "resume",
    "fork_from",
    "resume_from",
    "reinit",
    "allow_val_change",
)

#: every keyword ``nbrun.init`` takes, in its order (W&B's ``init`` keywords, rule 38)
INIT_ARGS = (
    "entity",
    "project",
    "dir",
    "id",
    "name",
    "notes",
    "tags",
    "config",
    "config_exclude_keys",
    "config_include_keys",
    "allow_val_change",
    "group",
    "job_type",
    "mode",
    "reinit",
    "resume",
    "resume_from",
    "fork_from",
    "settings",
    *_wbnames.IGNORED_INIT_KEYWORDS,
)


def env_value(name: str, value: Any) -> Any:
    """``value``, else ``NBRUN_<NAME>``, else W&B's variable for it (rule 1); empty is unset."""
    if value is None:
        env = os.environ.get(_ENV[name]) if name in _ENV else None
        if name == "dir":  # a team store (a PostgreSQL URL) wins over a local folder
            env = os.environ.get(STORE_ENV) or env
        if env:
            return env
        return _wbnames.env_arg(name)
    return value


def _default_project() -> str:
    root = _system.git_root()
    return root.name if root is not None else "uncategorized"


def _normalise_mode(mode: object) -> str:
    if isinstance(mode, str) and mode in MODE_ALIASES:
        mode = MODE_ALIASES[mode]
    if mode is None:
        return "online"
    if mode not in MODES:
        raise UsageError(
            f"mode {mode!r}: allowed values are 'online', 'offline', 'disabled' "
            "(or W&B's 'dryrun', 'run', 'shared')"
        )
    return str(mode)


def _normalise_resume(resume: object) -> str | None:
    if resume is None or resume is False:
        return None
    if resume is True:
        return "auto"
    if resume in RESUME_VALUES:
        return str(resume)
    raise UsageError(
        f"resume {resume!r}: allowed values are 'allow', 'must', 'never', 'auto' (or True), None"
    )


def _normalise_reinit(reinit: object) -> str:
    if reinit is None or reinit is False or reinit == "default":
        return "finish_previous" if _system.in_notebook() else "return_previous"
    if reinit is True:
        return "finish_previous"
    if reinit in REINIT_VALUES:
        return str(reinit)
    raise UsageError(
        f"reinit {reinit!r}: allowed values are 'return_previous', 'finish_previous', "
        "'create_new', True, False, None"
    )


@dataclass(frozen=True)
class InitRequest:
    """One ``init`` call, merged and checked: what to start and how (see :meth:`build`)."""

    project: str
    entity: str
    dir: str | os.PathLike[str] | None
    id: str | None
    """The run's id; for a rewind the rewound run's."""
    name: str | None
    notes: str | None
    tags: tuple[str, ...]
    group: str | None
    job_type: str | None
    mode: str
    """``online``, ``offline`` or ``disabled`` (W&B's aliases resolved)."""
    resume: str | None
    """``allow``, ``must``, ``never``, ``auto`` or None."""
    fork: ForkPoint | None
    """Fork from this point (``fork_from``)."""
    rewind: ForkPoint | None
    """Rewind to this point (``resume_from``)."""
    spec_text: str | None
    """``fork_from`` / ``resume_from`` as given, for messages."""
    reinit: str
    """``return_previous``, ``finish_previous`` or ``create_new``."""
    allow_val_change: bool
    config: dict[str, Any]
    settings: Settings
    ignored: tuple[str, ...]
    """W&B keywords and settings given that mean nothing here (rule 38)."""
    silent: bool
    """Whether W&B's settings ask for no warnings."""
    sweep_id: str | None = None
    """The sweep whose trial this run is (rule 51: set from the agent's pending trial)."""

    @classmethod
    def build(
        cls,
        arguments: Mapping[str, Any],
        fork: ForkPoint | None = None,
        rewind: ForkPoint | None = None,
    ) -> InitRequest:
        """The request for ``init(**arguments)``: a refused request raises :class:`UsageError`
        before anything is written. ``fork`` / ``rewind`` are a fork or rewind point given as
        such (by ``run.fork()`` / ``run.rewind()``), in place of ``fork_from`` /
        ``resume_from`` text."""
        unknown = sorted(set(arguments) - set(INIT_ARGS))
        if unknown:
            raise TypeError(f"init() got an unexpected keyword argument {unknown[0]!r}")
        settings_arg = arguments.get("settings")
        env_settings = _wbnames.env_settings()  # WANDB_CONSOLE, WANDB_SILENT, ... (rule 38)
        if env_settings and (settings_arg is None or isinstance(settings_arg, Mapping)):
            settings_arg = {**env_settings, **(settings_arg or {})}
        settings = Settings.coerce(settings_arg)
        wb = {**env_settings, **settings.wandb}
        args = _merged(_with_points(arguments, fork, rewind), wb)
        mode = _normalise_mode(args["mode"])
        resume = _normalise_resume(args["resume"])
        reinit = _normalise_reinit(args["reinit"])
        fork, rewind, run_id, text = _points(args, resume, (fork, rewind))
        project = args["project"]
        project = _ids.validate_project(project if project is not None else _default_project())
        entity = args["entity"] if args["entity"] is not None else _system.user_name()
        if not isinstance(entity, str) or not entity:
            raise UsageError(f"entity {entity!r} must be a non-empty str")
        tags = _ids.validate_tags(args["tags"])
        name = _ids.validate_text(args["name"], "name")
        if name == "":
            raise UsageError("name '': a run name must not be empty; omit it for a generated one")
        notes = _ids.validate_text(args["notes"], "notes")
        group = _ids.validate_text(args["group"], "group")
        job_type = _ids.validate_text(args["job_type"], "job_type")
        config = filter_keys(
            load_config_source(arguments.get("config")),
            arguments.get("config_include_keys"),
            arguments.get("config_exclude_keys"),
        )
        allow = args["allow_val_change"]
        return cls(
            project=project,
            entity=entity,
            dir=args["dir"],
            id=run_id,
            name=name,
            notes=notes,
            tags=tags,
            group=group,
            job_type=job_type,
            mode=mode,
            resume=resume,
            fork=fork,
            rewind=rewind,
            spec_text=text,
            reinit=reinit,
            allow_val_change=_system.in_notebook() if allow is None else allow,
            config=config,
            settings=settings,
            ignored=_ignored(arguments, wb),
            silent=bool(wb.get("silent") or wb.get("quiet") or wb.get("show_warnings") is False),
        )


def _merged(arguments: Mapping[str, Any], wb: Mapping[str, Any]) -> dict[str, Any]:
    """The run's arguments: as given, else the W&B setting standing for one, else the
    environment (rules 1, 38)."""
    args = {arg: arguments.get(arg) for arg in MERGED_ARGS}
    for key, arg in _wbnames.SETTINGS_AS_ARGS.items():
        if args[arg] is None and wb.get(key) is not None:
            args[arg] = wb[key]
    for arg in args:
        if arg not in ("reinit", "allow_val_change"):
            args[arg] = env_value(arg, args[arg])
    return args


def _with_points(
    arguments: Mapping[str, Any], fork: ForkPoint | None, rewind: ForkPoint | None
) -> dict[str, Any]:
    """The arguments with a fork / rewind point given as such in place of the text
    ``fork_from`` / ``resume_from`` (as if passed by keyword: given twice is a TypeError)."""
    out = dict(arguments)
    for key, point in (("fork_from", fork), ("resume_from", rewind)):
        if point is not None:
            if out.get(key) is not None:
                raise TypeError(f"init() got multiple values for keyword argument {key!r}")
            out[key] = point
    return out


def _points(
    args: Mapping[str, Any],
    resume: str | None,
    points: tuple[ForkPoint | None, ForkPoint | None],
) -> tuple[ForkPoint | None, ForkPoint | None, str | None, str | None]:
    """(fork point, rewind point, the run's id, the spec as given): ``fork_from``,
    ``resume_from`` and ``resume`` exclude each other; a fork gets a new id, a rewind keeps
    its run's (rule 12)."""
    fork_from, resume_from, run_id = args["fork_from"], args["resume_from"], args["id"]
    given = [
        n
        for n, v in (("fork_from", fork_from), ("resume_from", resume_from), ("resume", resume))
        if v is not None
    ]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} were both given; they are mutually exclusive")
    fork = _point(fork_from, "fork_from", points[0])
    rewind = _point(resume_from, "resume_from", points[1])
    text = str(fork_from) if fork is not None else str(resume_from) if rewind is not None else None
    if run_id is not None:
        _ids.validate_id(run_id)
    if fork is not None and run_id == fork.run_id:
        raise UsageError(
            f"fork_from {text!r} with id={run_id!r}: a fork gets a new id; to continue run "
            f"{run_id!r} from step {fork.step} use resume_from={text!r}"
        )
    if rewind is not None:
        if run_id is not None and run_id != rewind.run_id:
            raise UsageError(
                f"resume_from {text!r} with id={run_id!r}: a rewind keeps the run's id; "
                f"omit id or pass id={rewind.run_id!r} (to branch off, use fork_from)"
            )
        run_id = rewind.run_id
    return fork, rewind, run_id, text


def _point(value: object, what: str, given: ForkPoint | None) -> ForkPoint | None:
    """The point ``value`` names: ``given`` itself (a point passed as such), else the parsed
    ``"RUN_ID?_step=N"`` text (rule 12)."""
    if value is None:
        return None
    if given is not None and value is given:
        return given
    return parse_spec(value, what)


def _ignored(arguments: Mapping[str, Any], wb: Mapping[str, Any]) -> tuple[str, ...]:
    """W&B's keywords and settings that were given a value and mean nothing here (rule 38)."""
    ignored = [k for k in _wbnames.IGNORED_INIT_KEYWORDS if _wbnames.is_set(arguments.get(k))]
    ignored += [
        f"settings.{k}"
        for k, v in wb.items()
        if k not in _wbnames.SETTINGS_AS_ARGS
        and k not in _wbnames.APPLIED_SETTINGS
        and _wbnames.is_set(v)
    ]
    return tuple(ignored)


# -- the sweep trial an init becomes (rule 51) ----------------------------------------------
def with_sweep_trial(request: InitRequest) -> InitRequest:
    """``request`` as the run of the sweep trial this init becomes (rule 51): the thread's
    pending trial (``nbrun.agent`` with a function), else the trial ``NBRUN_SWEEP_ID`` and
    ``NBRUN_RUN_ID`` name (an agent's subprocess). The trial gives the run's id, project and
    store; its parameters override ``config``'s keys (W&B: sweep values win). Every init
    while the trial runs is its run: the first makes it, a later one (after ``finish``)
    continues it, and one while it is open returns it."""
    trial = pending_trial()
    if trial is None:
        text = os.environ.get(SWEEP_ENV)
        if not text or request.mode == "disabled":
            return request
        trial = _env_trial(request, text)
    if request.id is not None and request.id != trial.run_id:
        warnings.warn(
            f"nbrun.init(id={request.id!r}) inside sweep {trial.sweep_id!r}: the run is the "
            f"sweep's trial {trial.run_id!r} (rule 51)",
            UserWarning,
            stacklevel=4,
        )
    prev = current_run()
    open_now = prev is not None and prev.id == trial.run_id and is_live(prev.state)
    return dataclasses.replace(
        request,
        project=trial.project,
        id=trial.run_id,
        dir=trial.dir,
        resume="allow",
        # the trial's run open: returned; another run open (the notebook's own, another agent
        # thread's) is neither returned nor finished, and the trial's run becomes current
        reinit="return_previous" if open_now else "create_new",
        config={**request.config, **trial.params},
        sweep_id=trial.sweep_id,
    )


def _env_trial(request: InitRequest, text: str) -> PendingTrial:
    """The trial an agent's subprocess runs: ``NBRUN_SWEEP_ID`` (``"project/ID"``) and
    ``NBRUN_RUN_ID``, read back from the store ``NBRUN_DIR`` names."""
    parts = text.split("/")
    if len(parts) > 3 or not all(parts) or request.id is None:
        raise UsageError(
            f"{SWEEP_ENV}={text!r}: an agent's subprocess gets {SWEEP_ENV}='project/ID' with "
            "NBRUN_RUN_ID (the trial's run) and NBRUN_DIR; unset it outside an agent"
        )
    project = parts[-2] if len(parts) > 1 else request.project
    base = request.dir if request.dir is not None else os.getcwd()
    store = Store.open(base, request.settings.files_dir)
    found = store.trial_of_run(project, request.id)
    if found is None or found[0].id != parts[-1]:
        raise UsageError(
            f"{SWEEP_ENV}={text!r} with NBRUN_RUN_ID={request.id!r}: the store {store.path} "
            "has no such trial; run the program through nbrun.agent (or unset the variables)"
        )
    return PendingTrial(str(base), project, parts[-1], request.id, found[1].params)
