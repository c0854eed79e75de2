"""Property tests for fork and rewind (run semantics rules 11-19): random sequences of log /
finish / fork / rewind / resume / re-create run against a small in-memory model of the rules;
after every sequence the stitched history, archives, lineage, step and summary of every run
must equal the model's. Plus a fuzz of ``"RUN_ID?_step=N"`` specs."""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nbrun
from nbrun import _ids, _lineage, _registry
from nbrun._store import Store
from tests.conftest import examples

SETTINGS = {"flush_interval": 0.05, "flush_rows": 3}  # small chunks: steps straddle chunks
KEYS = ("a", "b", "c")
AGG = "a"  # key summarised with min,max,mean in runs created with metrics


# -- the model ---------------------------------------------------------------------------------
@dataclass
class MArchive:
    rows: list[dict[str, Any]]
    reason: str
    fork: tuple[str, int] | None


@dataclass
class MRun:
    id: str
    fork: tuple[str, int] | None
    metrics: bool
    own: list[dict[str, Any]] = field(default_factory=list)
    archives: list[MArchive] = field(default_factory=list)
    # the source's view up to the fork step, as it was when the fork was made: later rewinds
    # or re-creations of the source never change a fork's history
    inherited: list[dict[str, Any]] = field(default_factory=list)
    live: bool = True
    step: int = 0
    # how far this fork still reads its parent's live rows: the fork step, lowered by each
    # later rewind of the parent (rows after a cut moved to an archive)
    bound: int = -1


class Model:
    def __init__(self) -> None:
        self.runs: dict[str, MRun] = {}

    def view(self, rid: str, limit: int | None = None) -> list[dict[str, Any]]:
        run = self.runs[rid]
        return [r for r in run.inherited + run.own if limit is None or r["_step"] <= limit]

    def last_step(self, rid: str) -> int:
        run = self.runs[rid]
        if run.own:
            return run.own[-1]["_step"]
        return run.fork[1] if run.fork is not None else -1

    def summary(self, rid: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        nums: list[Any] = []
        for row in self.view(rid):
            for k, v in row.items():
                if k != "_step":
                    out[k] = v
            if AGG in row:
                nums.append(row[AGG])
        if self.runs[rid].metrics and AGG in out:
            out[AGG] = {"min": min(nums), "max": max(nums), "mean": sum(nums) / len(nums)}
        return out


# -- comparing ----------------------------------------------------------------------------------
def df_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """History rows as dicts without the missing values and without _runtime/_timestamp."""
    out = []
    for rec in df.drop(columns=["_runtime", "_timestamp"]).to_dict("records"):
        row = {}
        for k, v in rec.items():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            row[k] = int(v) if k == "_step" else v
        out.append(row)
    return out


def same_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if g.keys() != w.keys():
            return False
        for k, v in w.items():
            if type(v) in (bool, str) and type(g[k]) is not type(v):
                return False
            if g[k] != v:
                return False
    return True


def check_history(view: Any, model: Model, rid: str) -> None:
    want = model.view(rid)
    got = df_rows(view.history())
    assert same_rows(got, want), f"{rid} history\n got {got}\nwant {want}"
    own = df_rows(view.history(lineage=False))
    assert same_rows(own, model.runs[rid].own), f"{rid} own rows\n got {own}"
    cols = set(view.history().columns) - {"_step", "_runtime", "_timestamp"}
    assert cols == {k for r in want for k in r} - {"_step"}, rid


def check_run(api: nbrun.Api, model: Model, rid: str) -> None:
    m = model.runs[rid]
    view = api.run(f"p/{rid}")
    check_history(view, model, rid)
    fork = None if m.fork is None else nbrun.ForkPoint(*m.fork)
    assert view.forked_from == fork, rid
    assert view.step == model.last_step(rid) + 1, rid
    assert dict(view.summary) == model.summary(rid), rid
    assert view.state == ("running" if m.live else "finished"), rid
    archives = view.archives()
    assert len(archives) == len(m.archives), rid
    for i, (a, ma) in enumerate(zip(archives, m.archives, strict=True)):
        assert a.index == i + 1 and a.reason == ma.reason, rid
        assert a.rows == len(ma.rows), rid
        assert a.from_step == (ma.rows[0]["_step"] if ma.rows else None), rid
        assert a.to_step == (ma.rows[-1]["_step"] if ma.rows else None), rid
        assert a.forked_from == (None if ma.fork is None else nbrun.ForkPoint(*ma.fork)), rid
        assert same_rows(df_rows(a.history()), ma.rows), f"{rid} archive {i}"
    kids = sorted(r.id for r in view.children())
    assert kids == sorted(r.id for r in model.runs.values() if r.fork and r.fork[0] == rid)


# -- generating and applying operations --------------------------------------------------------
values = st.one_of(
    st.integers(-3, 3),
    st.floats(-10, 10, allow_nan=False, width=32),
    st.sampled_from(["s", "t"]),
    st.booleans(),
)


@st.composite
def row_data(draw: Any) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=3))
    return {k: draw(st.integers(-5, 5)) if k == AGG else draw(values) for k in keys}


class Session:
    """Applies operations to nbrun and to the model side by side."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.model = Model()
        self.live: dict[str, nbrun.Run] = {}
        self.counter = 0

    def _new_id(self) -> str:
        self.counter += 1
        return f"r{self.counter}"

    def _init(self, **kwargs: Any) -> nbrun.Run:
        return nbrun.init(
            project="p", dir=self.root, reinit="create_new", settings=SETTINGS, **kwargs
        )

    def _started(self, run: nbrun.Run, m: MRun) -> None:
        self.live[m.id] = run
        assert run.id == m.id
        assert run.step == run.starting_step == m.step
        assert run.forked_from == (None if m.fork is None else nbrun.ForkPoint(*m.fork))
        assert dict(run.summary) == self.model.summary(m.id), m.id

    def new(self, metrics: bool) -> None:
        rid = self._new_id()
        run = self._init(id=rid)
        if metrics:
            run.define_metric(AGG, summary="min,max,mean")
        m = self.model.runs[rid] = MRun(rid, None, metrics)
        self._started(run, m)

    def log(self, rid: str, batch: list[tuple[dict[str, Any], int]]) -> None:
        run, m = self.live[rid], self.model.runs[rid]
        for data, gap in batch:
            if gap:
                run.log(data, step=m.step + gap, commit=True)
                m.step += gap
            else:
                run.log(data)
            m.own.append({"_step": m.step, **data})
            m.step += 1
        assert run.step == m.step
        check_history(run, self.model, rid)  # rows partly still in memory
        assert dict(run.summary) == self.model.summary(rid)

    def finish(self, rid: str) -> None:
        self.live.pop(rid).finish()
        self.model.runs[rid].live = False

    def fork(self, src: str, n: int) -> None:
        rid = self._new_id()
        run = self._init(id=rid, fork_from=f"{src}?_step={n}")
        m = self.model.runs[rid] = MRun(rid, (src, n), self.model.runs[src].metrics, step=n + 1)
        m.inherited = self.model.view(src, n)
        m.bound = n
        self._started(run, m)

    def rewind(self, rid: str, n: int) -> None:
        m = self.model.runs[rid]
        moved = [r for r in m.own if r["_step"] > n]
        into_parent = m.fork is not None and n < m.fork[1]
        # forks still reading this run's rows after n: the cut is recorded even with no rows
        # to move, so rows logged after the rewind never reach them
        readers = [c for c in self.model.runs.values() if c.fork and c.fork[0] == rid]
        cut_matters = any(c.bound > n for c in readers)
        for c in readers:
            c.bound = min(c.bound, n)
        if into_parent:
            m.bound = min(m.bound, n)
        if moved or into_parent or cut_matters:
            m.archives.append(MArchive(moved, "rewind", m.fork))
        m.own = [r for r in m.own if r["_step"] <= n]
        if into_parent:
            assert m.fork is not None
            m.fork = (m.fork[0], n)
            m.inherited = [r for r in m.inherited if r["_step"] <= n]
        m.live, m.step = True, n + 1
        self._started(self._init(resume_from=f"{rid}?_step={n}"), m)

    def resume(self, rid: str) -> None:
        m = self.model.runs[rid]
        m.live, m.step = True, self.model.last_step(rid) + 1
        run = self._init(id=rid, resume="allow")
        assert run.resumed
        self._started(run, m)

    def replace(self, rid: str) -> None:
        m = self.model.runs[rid]
        if m.own or m.fork is not None:
            m.archives.append(MArchive(m.own, "replaced", m.fork))
        for c in self.model.runs.values():
            if c.fork and c.fork[0] == rid:
                c.bound = -1  # everything moved to the archive
        m.own, m.fork, m.metrics, m.live, m.step = [], None, False, True, 0
        m.inherited = []
        with pytest.warns(UserWarning, match="archived"):
            run = self._init(id=rid)
        self._started(run, m)


def play(data: Any, root: Path) -> Session:
    s = Session(root)
    model = s.model
    s.new(data.draw(st.booleans(), "metrics"))
    for _ in range(data.draw(st.integers(1, 12), "ops")):
        live = sorted(s.live)
        done = sorted(r for r in model.runs if r not in s.live)
        with_rows = [r for r in done if model.last_step(r) >= 0]
        ops = ["new"] if len(model.runs) < 5 else []
        if live:
            ops += ["log", "log", "log", "finish"]
        if with_rows and len(model.runs) < 6:
            ops.append("fork")
        if with_rows:
            ops.append("rewind")
        if done:
            ops += ["resume", "replace"]
        op = data.draw(st.sampled_from(ops), "op")
        if op == "new":
            s.new(data.draw(st.booleans(), "metrics"))
        elif op == "log":
            rid = data.draw(st.sampled_from(live), "run")
            batch = data.draw(
                st.lists(
                    st.tuples(row_data(), st.sampled_from([0, 0, 0, 1, 3])), min_size=1, max_size=4
                ),
                "rows",
            )
            s.log(rid, batch)
        elif op == "finish":
            s.finish(data.draw(st.sampled_from(live), "run"))
        elif op == "fork":
            src = data.draw(st.sampled_from(with_rows), "source")
            s.fork(src, data.draw(st.integers(0, model.last_step(src)), "step"))
        elif op == "rewind":
            rid = data.draw(st.sampled_from(with_rows), "run")
            # any step, also below the fork steps of its children: their histories must not move
            s.rewind(rid, data.draw(st.integers(0, model.last_step(rid)), "step"))
        elif op == "resume":
            s.resume(data.draw(st.sampled_from(done), "run"))
        elif op == "replace":
            s.replace(data.draw(st.sampled_from(done), "run"))
    return s


def close_store(root: Path) -> None:
    """Drop the per-process store of a finished example (its temp dir goes away)."""
    key = (root / "nbrun").resolve()
    with Store._instances_lock:
        store = Store._instances.pop(key, None)
    if store is not None:
        store.close_thread_connection()


@pytest.mark.slow
@settings(max_examples=examples(1))  # 300 in CI
@given(st.data())
def test_random_lineage_sequences_match_the_model(data: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cwd = os.getcwd()
        os.chdir(tmp)  # outside any git work tree: no git calls for run metadata
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # only rule 11's expected warning may appear
                s = play(data, root)
            for run in list(s.live.values()):
                run.finish()
            for m in s.model.runs.values():
                m.live = False
            api = nbrun.Api(root)
            assert sorted(r.id for r in api.runs("p")) == sorted(s.model.runs)
            df = nbrun.runs("p", dir=root).set_index("id")
            for rid, m in s.model.runs.items():
                check_run(api, s.model, rid)
                want = (None, None) if m.fork is None else m.fork
                got = df.loc[rid, ["forked_from", "fork_step"]].tolist()
                assert [None if pd.isna(v) else v for v in got] == list(want)
        finally:
            leftover = [r for r in _registry.live_runs() if str(r._store.root).startswith(tmp)]
            for run in leftover:
                run.finish()
            _registry.set_current(None)
            close_store(root)
            os.chdir(cwd)


# -- spec fuzz -----------------------------------------------------------------------------------
_FORM = re.compile(r"([^?]+)\?_step=([0-9]+)", re.ASCII)


def model_parse(spec: str) -> tuple[str, int] | None:
    """Rule 12 in a line: RUN_ID (valid per rule 3) ``?_step=`` ASCII digits, nothing else."""
    m = _FORM.fullmatch(spec)
    if m is None or not all(c in "0123456789" for c in m.group(2)):
        return None
    try:
        _ids.validate_id(m.group(1))
    except nbrun.UsageError:
        return None
    return m.group(1), int(m.group(2))


pieces = st.sampled_from(
    ["abc", "?_step=", "?", "_step", "=", "-", "+", ".", "5", "0", "12", "nan", " ", "\n",
     "/", "%", "\u0663", "e3", "x", "?_step=3", "\x00", "\u00a0"]
)  # fmt: skip
specs = st.one_of(
    st.text(max_size=20),
    st.lists(pieces, max_size=6).map("".join),
    st.builds(lambda i, n: f"{i}?_step={n}", st.text(max_size=6), st.integers(-3, 30)),
)


@settings(max_examples=examples(10 / 3))  # 1000 in CI: a pure function, cheap
@given(specs)
def test_spec_parser_matches_the_model_or_raises_usage_error(spec: str) -> None:
    want = model_parse(spec)
    try:
        got = _lineage.parse_spec(spec, "fork_from")
    except nbrun.UsageError as exc:
        assert want is None, f"{spec!r} should parse to {want}: {exc}"
        assert repr(spec) in str(exc)
        return
    assert want is not None, f"{spec!r} parsed to {got}"
    assert (got.run_id, got.step) == want


def test_fork_from_fuzz_through_init(tmp_path: Path) -> None:
    """Through ``init``: a spec forks (model's answer), or names a missing run or a step past
    the end, or is a UsageError; nothing else."""
    src = nbrun.init(project="p", id="abc", dir=tmp_path, settings=SETTINGS)
    for i in range(10):
        src.log({"x": i})
    src.finish()

    seen: set[str] = set()
    near = st.builds(lambda n: f"abc?_step={n}", st.integers(-3, 30))

    # 150 in CI; never under 100, so that every outcome checked below comes up
    @settings(max_examples=max(100, examples(0.5)))
    @given(st.one_of(specs, near))
    def check(spec: str) -> None:
        want = model_parse(spec)
        seen.add("none" if want is None else "ok" if want[0] == "abc" and want[1] <= 9 else "far")
        try:
            run = nbrun.init(
                project="p", dir=tmp_path, fork_from=spec, reinit="create_new", settings=SETTINGS
            )
        except nbrun.RunNotFoundError:
            assert want is not None and want[0] != "abc", spec
            return
        except nbrun.UsageError as exc:
            assert want is None or (want[0] == "abc" and want[1] > 9), (spec, exc)
            return
        try:
            assert want is not None and want[0] == "abc" and want[1] <= 9, spec
            assert run.forked_from == nbrun.ForkPoint(*want) and run.step == want[1] + 1
        finally:
            run.finish()

    check()
    assert seen == {"none", "ok", "far"}  # every outcome was exercised
