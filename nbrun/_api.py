"""The module-level API: ``init``, ``log``, ``finish``, ``define_metric``, ``runs`` and ``Api``;
starting, continuing, forking and rewinding the run an :class:`InitRequest` describes
(``open_run``, rules 1-19). ``init``'s arguments are merged and checked in ``_init_request.py``;
read views live in ``_views.py``; the fork / rewind shortcuts behind the widgets' buttons in
``_training/``."""

from __future__ import annotations

import io
import os
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from . import _artifacts, _checkpoints, _ids, _system, _wbnames
from ._artifacts import Artifact
from ._config import config_diff
from ._disabled import DisabledRun
from ._files import files_dir, restore_from
from ._history import empty_state
from ._init_request import InitRequest, env_value, with_sweep_trial
from ._lineage import (
    ForkPoint,
    check_no_cycle,
    fork_point,
    forks_read_past,
    last_step,
    split_for,
    state_at,
)
from ._records import RunRecord
from ._registry import current_run, live_run, set_current
from ._run import Run, Settings
from ._run_snapshot import run_snapshots
from ._states import CRASHED, FAILED, RUNNING, is_live
from ._store import Store
from ._summary import Metric, Summary
from ._sweep_view import Sweep, sweep_project
from ._views import (
    STALE_AFTER_KEY,
    RunView,
    StoredRun,
    effective_state,
    run_folder,
    stored_runtime,
)
from .errors import ArtifactNotFoundError, RunInUseError, RunNotFoundError, UsageError
from .media._base import describe as describe_media

if TYPE_CHECKING:
    import pandas as pd

VERSION = "0.1.0"


class Api:
    """Read stored runs: ``nbrun.Api(dir=None).run("project/id")``, ``.runs("project")``.

    ``dir`` is a folder or a ``postgresql://`` URL; without it the store is found as
    :func:`init` finds it: ``NBRUN_STORE``, else ``NBRUN_DIR``, else ``WANDB_DIR``, else the
    current directory."""

    def __init__(self, dir: str | os.PathLike[str] | None = None) -> None:
        # the store ``init`` would write to: ``dir``, else NBRUN_STORE, NBRUN_DIR, WANDB_DIR,
        # the working directory (the W&B drop-in's ``wandb.Api()`` resolves it the same way)
        self.dir = str(env_value("dir", dir) or os.getcwd())
        self._store_cache: Store | None = None

    @property
    def _store(self) -> Store | None:
        if self._store_cache is None:
            self._store_cache = Store.open_existing(self.dir)
        return self._store_cache

    @property
    def store(self) -> Store | None:
        """The store this Api reads (None while ``dir`` holds none yet)."""
        return self._store

    def run(self, path: str) -> StoredRun:
        """The run at ``"project/id"`` (or ``"entity/project/id"``)."""
        if not isinstance(path, str) or path.count("/") not in (1, 2):
            raise UsageError(f"Api.run({path!r}): pass 'project/run_id' or 'entity/project/run_id'")
        project, run_id = path.split("/")[-2:]
        store = self._store
        rec = store.get_run(project, run_id) if store is not None else None
        if rec is None:
            raise RunNotFoundError(
                f"no run {run_id!r} in project {project!r} under "
                f"{store.path if store is not None else os.path.join(self.dir, 'nbrun')}"
            )
        return StoredRun(store, rec)  # type: ignore[arg-type]

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """The artifact version ``"project/name:v1"`` or ``"project/name:alias"`` (no
        version: ``latest``); ``"model-registry/name:latest"`` reads the model registry."""
        return _artifacts.fetch(self._store, name, None, type)

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        """Whether :meth:`artifact` would find that version."""
        try:
            self.artifact(name, type)
        except (ArtifactNotFoundError, ValueError):
            return False
        return True

    def artifact_versions(self, type_name: str, name: str) -> list[Artifact]:
        """Every version of the collection ``"project/name"`` of type ``type_name``, oldest
        first."""
        project, coll, _ = _artifacts.parse_ref(name, None)
        store = self._store
        recs = store.artifact_versions(project, coll) if store is not None else []
        if recs and recs[0].type != type_name:
            raise ValueError(f"artifact {name!r} has type {recs[0].type!r}, not {type_name!r}")
        return [_artifacts.from_record(store, r) for r in recs]  # type: ignore[arg-type]

    def artifacts(self, type_name: str, name: str) -> list[Artifact]:
        """Same as :meth:`artifact_versions`."""
        return self.artifact_versions(type_name, name)

    def sweep(self, path: str) -> Sweep:
        """The sweep at ``"project/ID"`` (or ``"entity/project/ID"``; rule 54); a bare
        ``"ID"`` is looked up in every project of the store (rule 57)."""
        if not isinstance(path, str) or path.count("/") > 2 or not all(path.split("/")):
            raise UsageError(
                f"Api.sweep({path!r}): pass 'project/sweep_id' or 'entity/project/sweep_id'"
            )
        store = self._store
        if "/" not in path:
            where = store.path if store is not None else os.path.join(self.dir, "nbrun")
            path = sweep_project(store, path, where) + "/" + path
        project, sweep_id = path.split("/")[-2:]
        rec = store.get_sweep(project, sweep_id) if store is not None else None
        if rec is None:
            raise RunNotFoundError(
                f"no sweep {sweep_id!r} in project {project!r} under "
                f"{store.path if store is not None else os.path.join(self.dir, 'nbrun')}"
            )
        return Sweep(store, rec)  # type: ignore[arg-type]

    def runs(self, path: str | None = None, *, snapshot: bool = False) -> list[StoredRun]:
        """All stored runs, oldest first; of one project with ``"project"``, or of one entity's
        project with W&B's ``"entity/project"``. With ``snapshot`` each is a
        :class:`~nbrun._run_snapshot.RunSnapshot`: read once with the others (a few queries for the
        whole list, e.g. a table of a sweep's runs) instead of on every attribute access."""
        entity = None
        if path is not None:
            if not isinstance(path, str) or path.count("/") > 1 or not path.strip("/"):
                raise UsageError(f"Api.runs({path!r}): pass 'project' or 'entity/project'")
            if "/" in path:
                entity, path = path.split("/")
        store = self._store
        if store is None:
            return []
        found: list[StoredRun] = (
            list(run_snapshots(store, path))
            if snapshot
            else [StoredRun(store, rec) for rec in store.list_runs(path)]
        )
        return [r for r in found if entity is None or r.entity == entity]


def runs(project: str | None = None, dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """A DataFrame with one row per run: id, name, project, state, created, runtime, tags,
    forked_from, fork_step, notes, sweep (the id of the sweep whose trial it is, else None),
    then ``config.<key>`` and ``summary.<key>`` columns."""
    import pandas as pd  # noqa: PLC0415 - loaded on first use: `import nbrun` stays light

    api = Api(dir)
    store = api.store
    records = store.list_runs(project) if store is not None else []
    rows = []
    for rec in records:
        row: dict[str, Any] = {
            "id": rec.id,
            "name": rec.name,
            "project": rec.project,
            "state": effective_state(store, rec),  # type: ignore[arg-type]
            "created": pd.Timestamp(rec.created, unit="s"),
            "runtime": stored_runtime(rec),
            "tags": tuple(rec.tags),
            "forked_from": rec.forked_from_id,
            "fork_step": rec.forked_from_step,
            "notes": rec.notes,
            "sweep": rec.sweep_id,  # rule 54
        }
        for k, v in rec.config.items():
            row[f"config.{k}"] = v
        for k, v in rec.summary.items():
            row[f"summary.{k}"] = describe_media(v)  # a short text for media, not its data
        rows.append(row)
    base = [
        "id",
        "name",
        "project",
        "state",
        "created",
        "runtime",
        "tags",
        "forked_from",
        "fork_step",
        "notes",
        "sweep",
    ]
    df = pd.DataFrame(rows, columns=None if rows else base)
    if "fork_step" in df:
        df["fork_step"] = df["fork_step"].astype("Int64")
    return cast("pd.DataFrame", df)


# -- init -----------------------------------------------------------------------------------
def _actor() -> str:
    return f"{_system.user_name()}@{_system.host_name()} pid {os.getpid()}"


def init(
    entity: str | None = None,
    project: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    id: str | None = None,
    name: str | None = None,
    notes: str | None = None,
    tags: Any = None,
    config: Any = None,
    config_exclude_keys: list[str] | None = None,
    config_include_keys: list[str] | None = None,
    allow_val_change: bool | None = None,
    group: str | None = None,
    job_type: str | None = None,
    mode: str | None = None,
    reinit: bool | str | None = None,
    resume: bool | str | None = None,
    resume_from: str | None = None,
    fork_from: str | None = None,
    settings: Settings | Mapping[str, Any] | None = None,
    force: bool | None = None,
    save_code: bool | None = None,
    tensorboard: bool | None = None,
    sync_tensorboard: bool | None = None,
    monitor_gym: bool | None = None,
    anonymous: Any = None,
    magic: Any = None,
) -> Run:
    """Start a run (or continue, fork or rewind one) and make it the current run.

    Follows W&B's ``wandb.init`` (see nbrun's run semantics, rules 1-19). Everything is written
    under ``<dir>/nbrun/``; ``fork_from="RUN_ID?_step=N"`` starts a new run carrying the source's
    history up to step N; ``resume_from="RUN_ID?_step=N"`` rewinds a run to step N, archiving
    the rows after it. W&B's other keywords (``force``, ``save_code``, ``tensorboard``, ...)
    and ``settings`` keys are accepted; those with no local meaning are named once in a
    warning (rule 38).
    """
    # the arguments exactly as given (nothing else is local yet): one request is built of them
    return open_run(InitRequest.build(locals()))


def open_run(request: InitRequest) -> Run:
    """Start, continue, fork or rewind the run ``request`` describes (rules 1-19) and make it
    the current run unless ``reinit='create_new'`` keeps another one current."""
    _wbnames.warn_ignored(request.ignored, silent=request.silent, stacklevel=4)
    request = with_sweep_trial(request)
    prev = current_run()
    if prev is not None and is_live(prev.state):
        if request.reinit == "return_previous":
            warnings.warn(
                f"nbrun.init: run {prev.id} is active; returning it (pass "
                "reinit='finish_previous' or 'create_new' for a new run)",
                UserWarning,
                stacklevel=3,
            )
            return cast("Run", prev)
        if request.reinit == "finish_previous":
            prev.finish()
    if request.mode == "disabled":
        run: Run = DisabledRun(  # type: ignore[assignment]
            id=request.id or _ids.generate_id(),
            project=request.project,
            entity=request.entity,
            name=request.name,
            config=request.config,
            tags=request.tags,
            notes=request.notes,
            group=request.group,
            job_type=request.job_type,
        )
    else:
        store = Store.open(
            request.dir if request.dir is not None else os.getcwd(), request.settings.files_dir
        )
        if request.fork is not None:
            run = _fork(store, request, request.fork)
        elif request.rewind is not None:
            run = _rewind(store, request, request.rewind)
        else:
            run = _start_or_resume(store, request)
    if request.reinit != "create_new" or current_run() is None or request.sweep_id is not None:
        set_current(run)
    return run


def _fields(request: InitRequest) -> dict[str, Any]:
    """The run columns ``init``'s arguments give."""
    return {
        "entity": request.entity,
        "name": request.name,
        "notes": request.notes,
        "tags": list(request.tags),
        "run_group": request.group,
        "job_type": request.job_type,
    }


def _run_metadata(settings: Settings) -> dict[str, Any]:
    """A starting run's metadata: the facts of this process and the settings readers judge
    the run by (``stale_after``, rule 29)."""
    meta = _system.collect(VERSION, git=not settings.disable_git)
    meta[STALE_AFTER_KEY] = settings.stale_after
    return meta


def _running_now(now: float) -> dict[str, Any]:
    """The run columns of a run this process starts running at ``now``: its state, its
    process and a fresh heartbeat."""
    return {
        "state": RUNNING,
        "exit_code": None,
        "started": now,
        "updated": now,
        "heartbeat": now,
        "finished": None,
        "pid": os.getpid(),
        "host": _system.host_name(),
        "stop_requested": 0,
    }


def _base_record(
    project: str,
    run_id: str,
    fields: dict[str, Any],
    store: Store,
    settings: Settings,
    start: dict[str, Any],
) -> RunRecord:
    """The record of a run this process starts (not stored yet: ``key`` 0): the identity
    ``fields`` given to ``init``, a fresh running state and the ``start`` columns (config,
    summary, step and lineage)."""
    now = time.time()
    name = fields["name"] or _ids.generate_name(store.count_runs(project) + 1)
    return RunRecord(
        key=0,
        **{
            **fields,
            "name": name,
            "project": project,
            "id": run_id,
            **_running_now(now),
            "created": now,
            "metadata": _run_metadata(settings),
            **start,
        },
    )


def _make_run(
    store: Store,
    rec: RunRecord,
    summary: Summary,
    settings: Settings,
    allow: bool,
    state: dict[str, Any],
) -> Run:
    run_folder(store, rec.project, rec.id)
    return Run(
        store,
        rec,
        settings=settings,
        allow_val_change=allow,
        summary=summary,
        step=rec.starting_step,
        state=state,
    )


def _summary_for(metrics: dict[str, Any], state: dict[str, Any]) -> Summary:
    """A Summary with stored metric definitions and user values, over a history state."""
    summary = Summary(user=metrics.get("user_summary", {}))
    summary.set_metrics([Metric.from_json(d) for d in metrics.get("defs", [])])
    summary.load_state(state)
    return summary


def _metrics_json(summary: Summary) -> dict[str, Any]:
    return {"defs": [m.to_json() for m in summary.metrics], "user_summary": summary.user_values}


def _source(store: Store, project: str, spec: ForkPoint, raw: str, what: str) -> RunRecord:
    rec = store.get_run(project, spec.run_id)
    if rec is None:
        raise RunNotFoundError(
            f"{what} {raw!r}: no run {spec.run_id!r} in project {project!r} under {store.root}"
        )
    src_live = live_run(store.path, project, spec.run_id)
    if src_live is not None:
        src_live.flush()
    last = last_step(store, rec)
    if spec.step > last:
        raise UsageError(
            f"{what} {raw!r}: run {spec.run_id!r} has logged steps up to {last}"
            + ("" if last >= 0 else " (none yet)")
            + f"; pick a step <= {last}" * (last >= 0)
        )
    return rec


def _fork(store: Store, request: InitRequest, spec: ForkPoint) -> Run:
    project, settings, cfg = request.project, request.settings, request.config
    src = _source(store, project, spec, str(request.spec_text), "fork_from")
    new_id = request.id or _ids.generate_id()
    check_no_cycle(store, src, new_id)
    state = state_at(store, src, spec.step)
    summary = _summary_for({"defs": src.metrics.get("defs", [])}, state)
    config = {**src.config, **cfg}
    rec = _base_record(
        project,
        new_id,
        _fields(request),
        store,
        settings,
        {
            "config": config,
            "config_diff": config_diff(src.config, config),
            "summary": summary.as_dict(),
            "metrics": _metrics_json(summary),
            "starting_step": spec.step + 1,
            "last_step": spec.step,
            "forked_from_id": spec.run_id,
            "forked_from_step": spec.step,
            "forked_from_seg": max((x.seg for x in store.archives(src.key)), default=0),
            "resumed": 0,
            "runtime_before": 0.0,
        },
    )
    for _ in range(_ATTEMPTS):
        existing = store.get_run(project, new_id)
        if existing is not None:
            _replace_existing(store, existing, rec)
            rec = rec.replace(key=existing.key)
            break
        key = store.create_run(rec)
        if key is not None:
            rec = rec.replace(key=key)
            break
        # another process made this id meanwhile: replace it, or be refused (rule 41)
    else:
        raise _changing(project, new_id)
    return _make_run(store, rec, summary, request.settings, request.allow_val_change, state)


#: how often ``init`` decides again when the run it decided on changed under it (rule 41)
_ATTEMPTS = 3


def _changing(project: str, run_id: str) -> UsageError:
    return UsageError(
        f"run {run_id!r} in project {project!r} was made and removed by other processes "
        f"{_ATTEMPTS} times while init decided how to start it; try again"
    )


def _refuse_if_held(store: Store, rec: RunRecord, fix: str) -> None:
    """Rule 41 (one writer per run): raise :class:`RunInUseError` naming the holder when
    ``rec`` (as the taking transaction reads it) is being written by a live process."""
    if not is_live(effective_state(store, rec)):
        return
    host, pid = str(rec.host), int(rec.pid or 0)
    here = live_run(store.path, rec.project, rec.id) is not None
    where = f"pid {pid} on {host}" + (", in this process" if here else "")
    raise RunInUseError(
        f"run {rec.id!r} in project {rec.project!r} is running ({where}); {fix}",
        host=host,
        pid=pid,
    )


def _held_check(store: Store, fix: str) -> Callable[[RunRecord], None]:
    def check(rec: RunRecord) -> None:
        _refuse_if_held(store, rec, fix)

    return check


def _replace_existing(store: Store, existing: RunRecord, rec: RunRecord) -> None:
    """Rule 11: an existing id started without resume keeps its old history archived. The
    old run must not be live as the archiving transaction reads it (rule 41)."""
    fix = "finish it first, or pass resume='allow' to continue it"
    _refuse_if_held(store, existing, fix)
    fields = {k: v for k, v in rec.columns().items() if k not in ("project", "id")}
    archive = store.archive_after(
        existing.key,
        -1,
        split_for(store, existing),
        {
            "reason": "replaced",
            "actor": _actor(),
            "forked_from_id": existing.forked_from_id,
            "forked_from_step": existing.forked_from_step,
            "forked_from_seg": existing.forked_from_seg,
        },
        fields,
        force=existing.forked_from_id is not None,
        check=_held_check(store, fix),
    )
    warnings.warn(
        f"nbrun.init: run {existing.id!r} already exists in project {existing.project!r}; "
        "its history was archived (see .archives()) and the run starts fresh. Pass "
        "resume='allow' to continue it instead.",
        UserWarning,
        stacklevel=5,
    )
    if archive is not None:  # its checkpoints go with its history: the new run starts bare
        folder = run_folder(store, existing.project, existing.id)
        _checkpoints.archive_after(folder, -1, archive.seg)


def _restart_fields(
    fields: dict[str, Any], config: dict[str, Any], starting_step: int
) -> dict[str, Any]:
    """Run columns for a run that runs again (rewound or continued) in this process: the
    identity fields given to ``init``, the merged config, and a fresh running state."""
    now = time.time()
    out = {k: v for k, v in fields.items() if v is not None and not (k == "tags" and not v)}
    out.update(
        {
            "config": config,
            **_running_now(now),
            "starting_step": starting_step,
            "resumed": 1,
        }
    )
    return out


def _rewind(store: Store, request: InitRequest, spec: ForkPoint) -> Run:
    project, raw, cfg = request.project, str(request.spec_text), request.config
    src = _source(store, project, spec, raw, "resume_from")
    fix = f"resume_from {raw!r}: finish it first (run.finish()) or stop it, then rewind"
    _refuse_if_held(store, src, fix)
    store.verify_segment(src.key)  # rule 44: never rewind (write into) a damaged history
    point = fork_point(src)
    into_parent = point is not None and spec.step < point.step
    config = {**src.config, **cfg}
    run_fields = _restart_fields(_fields(request), config, spec.step + 1)
    run_fields.update({"last_step": spec.step, "metadata": _run_metadata(request.settings)})
    if into_parent:
        run_fields["forked_from_step"] = spec.step
    archive = store.archive_after(
        src.key,
        spec.step,
        split_for(store, src),
        {
            "reason": "rewind",
            "actor": _actor(),
            "forked_from_id": src.forked_from_id,
            "forked_from_step": src.forked_from_step,
            "forked_from_seg": src.forked_from_seg,
        },
        run_fields,
        force=into_parent or forks_read_past(store, src, spec.step),
        check=_held_check(store, fix),
    )
    if archive is not None:
        _checkpoints.archive_after(run_folder(store, project, src.id), spec.step, archive.seg)
    rec = store.get_run_by_key(src.key)
    assert rec is not None
    if into_parent and rec.forked_from_id is not None:
        parent = store.get_run(project, rec.forked_from_id)
        if parent is not None:
            rec = rec.replace(config_diff=config_diff(parent.config, config))
            store.update_run(rec.key, {"config_diff": rec.config_diff})
    history_state = state_at(store, rec, spec.step)
    summary = _summary_for(rec.metrics, history_state)
    store.update_run(rec.key, {"summary": summary.as_dict()})
    return _make_run(store, rec, summary, request.settings, request.allow_val_change, history_state)


def _start_or_resume(store: Store, request: InitRequest) -> Run:
    project, run_id, resume = request.project, request.id, request.resume
    for _ in range(_ATTEMPTS):
        existing = store.get_run(project, run_id) if run_id is not None else None
        if resume == "auto" and run_id is None:
            for rec in store.last_crashed_or_failed(project):
                if effective_state(store, rec) in (CRASHED, FAILED):
                    existing = rec
                    break
        if resume == "must" and existing is None:
            raise UsageError(
                f"resume='must': no run {run_id!r} in project {project!r} to continue"
                if run_id is not None
                else "resume='must' needs id= of the run to continue"
            )
        if resume == "never" and existing is not None:
            _refuse_if_held(store, existing, "pass another id")
            raise UsageError(
                f"resume='never': run {run_id!r} already exists in project {project!r}; "
                "pass another id or resume='allow'"
            )
        if existing is not None and resume in ("allow", "must", "auto"):
            store.verify_segment(existing.key)  # rule 44: never continue a damaged history
            return _continue(store, existing, request)
        run_id = run_id or _ids.generate_id()
        rec = _base_record(
            project,
            run_id,
            _fields(request),
            store,
            request.settings,
            {
                "config": request.config,
                "config_diff": {},
                "summary": {},
                "metrics": {},
                "starting_step": 0,
                "last_step": -1,
                "forked_from_id": None,
                "forked_from_step": None,
                "forked_from_seg": None,
                "resumed": 0,
                "runtime_before": 0.0,
                "sweep_id": request.sweep_id,
            },
        )
        if existing is not None:
            _replace_existing(store, existing, rec)
            rec = rec.replace(key=existing.key)
        else:
            key = store.create_run(rec)
            if key is None:  # another process made this id meanwhile: decide again (rule 41)
                continue
            rec = rec.replace(key=key)
        return _make_run(
            store, rec, Summary(), request.settings, request.allow_val_change, empty_state()
        )
    raise _changing(project, str(run_id))


def _continue(store: Store, rec: RunRecord, request: InitRequest) -> Run:
    """Take a stored run over and continue it (rule 10). The take-over is one compare-and-set
    (rule 41): the run is read, judged and written in one store transaction, so of two
    processes continuing it at once exactly one wins; the other gets :class:`RunInUseError`
    and writes nothing."""
    fix = "finish it before continuing it"
    _refuse_if_held(store, rec, fix)  # refused early, without taking the write lock
    start: list[int] = []

    def take(fresh: RunRecord) -> dict[str, Any]:
        _refuse_if_held(store, fresh, fix)
        step = last_step(store, fresh) + 1
        run_fields = _restart_fields(_fields(request), {**fresh.config, **request.config}, step)
        run_fields.pop("entity", None)
        # this process judges the run's heartbeat from now on: its setting replaces the old one
        run_fields["metadata"] = {**fresh.metadata, STALE_AFTER_KEY: request.settings.stale_after}
        run_fields["runtime_before"] = (
            stored_runtime(fresh)
            if effective_state(store, fresh) == CRASHED
            else fresh.runtime_before
        )
        start.append(step)
        return run_fields

    taken = store.update_run_if(rec.key, take)
    if taken is None:
        raise RunNotFoundError(
            f"run {rec.id!r} in project {rec.project!r} was deleted while init took it over"
        )
    step = start[-1]
    history_state = state_at(store, taken, step - 1) if step > 0 else empty_state()
    summary = _summary_for(taken.metrics, history_state)
    return _make_run(
        store, taken, summary, request.settings, request.allow_val_change, history_state
    )


# -- module-level helpers ---------------------------------------------------------------------
def _require_run(what: str) -> Run:
    run = current_run()
    if run is None:
        raise UsageError(f"nbrun.{what}: no active run; call nbrun.init() first")
    return cast("Run", run)


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """Log to the current run (see :meth:`Run.log`)."""
    _require_run("log").log(data, step=step, commit=commit)


def finish(exit_code: int | None = None) -> None:
    """Finish the current run, if any (see :meth:`Run.finish`)."""
    run = current_run()
    if run is not None:
        run.finish(exit_code=exit_code)


def define_metric(name: str, **kwargs: Any) -> Metric:
    """``define_metric`` on the current run (see :meth:`Run.define_metric`)."""
    return _require_run("define_metric").define_metric(name, **kwargs)


def save(
    glob_str: str | os.PathLike[str] | None = None,
    base_path: str | os.PathLike[str] | None = None,
    policy: str = "live",
) -> list[str]:
    """``save`` on the current run (see :meth:`Run.save`)."""
    return _require_run("save").save(glob_str, base_path, policy)


def restore(
    name: str,
    run_path: str | None = None,
    replace: bool = False,
    root: str | os.PathLike[str] | None = None,
) -> io.TextIOWrapper | None:
    """W&B's ``wandb.restore``: copy a run's file (saved with ``run.save``, or its
    ``output.log``) to ``<root>/<name>`` and return it opened for reading as text; None when the
    run has no such file (rule 34).

    ``run_path`` is ``"project/id"`` or ``"entity/project/id"`` of a run in the current run's
    store, else under ``NBRUN_DIR`` or the working directory; None means the current run.
    ``root`` defaults to the current run's files folder when a run is active, else the working
    directory. A file already at the destination is kept unless ``replace``.
    """
    if not isinstance(name, str) or not name:
        raise UsageError(f"restore: name {name!r} must be a file name such as 'output.log'")
    run = current_run()
    view: RunView
    if run_path is None:
        if run is None:
            raise UsageError(
                "restore: no active run; call nbrun.init() first or pass run_path='project/id'"
            )
        view = run
    else:
        if not isinstance(run_path, str) or run_path.count("/") not in (1, 2):
            raise UsageError(
                f"restore: run_path {run_path!r}; pass 'project/id' or 'entity/project/id'"
            )
        view = (Api(run.root) if run is not None else Api()).run(run_path)
    if root is None:
        root = str(files_dir(run.dir)) if run is not None else os.getcwd()
    return restore_from(view.files(), name, root, replace)


def log_artifact(
    artifact_or_path: Artifact | str | os.PathLike[str],
    name: str | None = None,
    type: str | None = None,
    aliases: list[str] | str | None = None,
    tags: list[str] | None = None,
) -> Artifact:
    """``log_artifact`` on the current run (see :meth:`Run.log_artifact`)."""
    return _require_run("log_artifact").log_artifact(artifact_or_path, name, type, aliases, tags)


def use_artifact(
    artifact_or_name: Artifact | str,
    type: str | None = None,
    aliases: list[str] | str | None = None,
    use_as: str | None = None,
) -> Artifact:
    """``use_artifact`` on the current run (see :meth:`Run.use_artifact`)."""
    return _require_run("use_artifact").use_artifact(artifact_or_name, type, aliases, use_as)


def log_model(
    path: str | os.PathLike[str], name: str | None = None, aliases: list[str] | None = None
) -> Artifact:
    """``log_model`` on the current run (see :meth:`Run.log_model`)."""
    return _require_run("log_model").log_model(path, name, aliases)


def use_model(name: str) -> str:
    """``use_model`` on the current run (see :meth:`Run.use_model`)."""
    return _require_run("use_model").use_model(name)


def link_model(
    path: str | os.PathLike[str],
    registered_model_name: str,
    name: str | None = None,
    aliases: list[str] | None = None,
) -> Artifact:
    """``link_model`` on the current run (see :meth:`Run.link_model`)."""
    return _require_run("link_model").link_model(path, registered_model_name, name, aliases)
