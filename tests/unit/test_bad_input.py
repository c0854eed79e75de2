"""Bad input (issue 7): a catalogue of calls that break the run-semantics contract, each with
its typed error and a message naming the bad value; and hypothesis fuzz on ``log`` payloads
and fork specs: the engine stores a value faithfully or raises a typed error, and never
kills the writer thread or damages the store."""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nbrun
from nbrun._store import Store
from tests.conftest import examples

P = "bad"


@dataclass
class Ctx:
    """What a case can use: the run directory, a finished run ``src`` with steps 0..9 and a
    running run ``live`` with steps 0..2."""

    dir: Path
    live: nbrun.Run

    def init(self, **kwargs: Any) -> nbrun.Run:
        kwargs.setdefault("project", P)
        kwargs.setdefault("reinit", "create_new")
        return nbrun.init(**kwargs)


@pytest.fixture
def ctx(run_dir: Path) -> Ctx:
    src = nbrun.init(project=P, id="src", reinit="create_new")
    for i in range(10):
        src.log({"loss": float(i)})
    src.finish()
    live = nbrun.init(project=P, id="live", reinit="create_new", config={"lr": 0.1})
    for i in range(3):
        live.log({"loss": float(i)})
    return Ctx(run_dir, live)


def _finished(c: Ctx) -> None:
    c.live.finish()
    c.live.log({"a": 1})


def _module_log_without_run(c: Ctx) -> None:
    nbrun._registry.set_current(None)
    nbrun.log({"a": 1})


def _config_change(c: Ctx) -> None:
    c.live.config.update({"lr": 0.2})


def _yaml_list(c: Ctx) -> None:
    path = c.dir / "list.yaml"
    path.write_text("- 1\n- 2\n")
    c.init(config=str(path))


def _yaml_broken(c: Ctx) -> None:
    path = c.dir / "broken.yaml"
    path.write_text("a: [1, 2\n")
    c.init(config=str(path))


#: (case id, the bad call, expected error class, text the message must contain)
CASES: list[tuple[str, Callable[[Ctx], Any], type[BaseException], str]] = [
    # -- run ids (rule 3)
    ("id-empty", lambda c: c.init(id=""), nbrun.UsageError, "''"),
    ("id-slash", lambda c: c.init(id="a/b"), nbrun.UsageError, "'a/b'"),
    ("id-backslash", lambda c: c.init(id="a\\b"), nbrun.UsageError, "a\\\\b"),
    ("id-hash", lambda c: c.init(id="a#b"), nbrun.UsageError, "'#'"),
    ("id-question", lambda c: c.init(id="a?b"), nbrun.UsageError, "'?'"),
    ("id-percent", lambda c: c.init(id="a%b"), nbrun.UsageError, "'%'"),
    ("id-colon", lambda c: c.init(id="a:b"), nbrun.UsageError, "':'"),
    ("id-semicolon", lambda c: c.init(id="a;b"), nbrun.UsageError, "';'"),
    ("id-comma", lambda c: c.init(id="a,b"), nbrun.UsageError, "','"),
    ("id-quote", lambda c: c.init(id="a'b"), nbrun.UsageError, "a'b"),
    ("id-leading-space", lambda c: c.init(id=" ab"), nbrun.UsageError, "' ab'"),
    ("id-trailing-tab", lambda c: c.init(id="ab\t"), nbrun.UsageError, "'ab\\t'"),
    ("id-too-long", lambda c: c.init(id="x" * 65), nbrun.UsageError, "65"),
    ("id-control-char", lambda c: c.init(id="a\x07b"), nbrun.UsageError, "\\x07"),
    ("id-newline", lambda c: c.init(id="a\nb"), nbrun.UsageError, "\\n"),
    ("id-int", lambda c: c.init(id=123), nbrun.UsageError, "123"),
    ("id-dotdot", lambda c: c.init(id=".."), nbrun.UsageError, "'..'"),
    # -- projects (rule 5)
    ("project-slash", lambda c: c.init(project="a/b"), nbrun.UsageError, "'a/b'"),
    ("project-hash", lambda c: c.init(project="a#b"), nbrun.UsageError, "'#'"),
    ("project-colon", lambda c: c.init(project="a:b"), nbrun.UsageError, "':'"),
    ("project-too-long", lambda c: c.init(project="p" * 129), nbrun.UsageError, "129"),
    ("project-empty", lambda c: c.init(project=""), nbrun.UsageError, "''"),
    ("project-int", lambda c: c.init(project=7), nbrun.UsageError, "7"),
    # -- tags (rule 6)
    ("tag-empty", lambda c: c.init(tags=("ok", "")), nbrun.UsageError, "''"),
    ("tag-too-long", lambda c: c.init(tags=("t" * 65,)), nbrun.UsageError, "65"),
    ("tag-not-str", lambda c: c.init(tags=("a", 3)), nbrun.UsageError, "3"),
    ("tags-int", lambda c: c.init(tags=5), nbrun.UsageError, "5"),
    ("tags-setter", lambda c: setattr(c.live, "tags", ("",)), nbrun.UsageError, "''"),
    # -- config (rule 7)
    (
        "config-include-and-exclude",
        lambda c: c.init(config={"a": 1}, config_include_keys=["a"], config_exclude_keys=["b"]),
        nbrun.UsageError,
        "config_include_keys",
    ),
    ("config-int-key", lambda c: c.init(config={1: 2}), nbrun.UsageError, "1"),
    ("config-unstorable", lambda c: c.init(config={"fn": print}), nbrun.UsageError, "'fn'"),
    ("config-value-change", _config_change, nbrun.ConfigError, "0.2"),
    ("config-missing-yaml", lambda c: c.init(config="nope.yaml"), nbrun.UsageError, "nope.yaml"),
    ("config-yaml-list", _yaml_list, nbrun.UsageError, "list.yaml"),
    ("config-yaml-broken", _yaml_broken, nbrun.UsageError, "broken.yaml"),
    ("config-int", lambda c: c.init(config=3), nbrun.UsageError, "3"),
    ("config-include-str", lambda c: c.init(config_include_keys="a"), nbrun.UsageError, "'a'"),
    # -- fork and rewind specs (rules 12-14, 19)
    ("fork-negative", lambda c: c.init(fork_from="src?_step=-5"), nbrun.UsageError, "-5"),
    ("fork-float", lambda c: c.init(fork_from="src?_step=1.5"), nbrun.UsageError, "1.5"),
    ("fork-nan", lambda c: c.init(fork_from="src?_step=nan"), nbrun.UsageError, "nan"),
    ("fork-no-step", lambda c: c.init(fork_from="src"), nbrun.UsageError, "'src'"),
    ("fork-empty-step", lambda c: c.init(fork_from="src?_step="), nbrun.UsageError, "src?_step="),
    ("fork-no-id", lambda c: c.init(fork_from="?_step=3"), nbrun.UsageError, "?_step=3"),
    ("fork-int", lambda c: c.init(fork_from=3), nbrun.UsageError, "3"),
    ("fork-bad-id", lambda c: c.init(fork_from="a/b?_step=1"), nbrun.UsageError, "a/b"),
    (
        "fork-missing-run",
        lambda c: c.init(fork_from="nope?_step=0"),
        nbrun.RunNotFoundError,
        "nope",
    ),
    ("fork-past-last-step", lambda c: c.init(fork_from="src?_step=10"), nbrun.UsageError, "9"),
    (
        "fork-and-resume",
        lambda c: c.init(fork_from="src?_step=1", resume="allow"),
        nbrun.UsageError,
        "fork_from",
    ),
    (
        "fork-and-resume-from",
        lambda c: c.init(fork_from="src?_step=1", resume_from="src?_step=1"),
        nbrun.UsageError,
        "resume_from",
    ),
    (
        "fork-own-id",
        lambda c: c.init(fork_from="src?_step=1", id="src"),
        nbrun.UsageError,
        "resume_from",
    ),
    (
        "rewind-other-id",
        lambda c: c.init(resume_from="src?_step=1", id="other"),
        nbrun.UsageError,
        "'other'",
    ),
    ("rewind-running", lambda c: c.init(resume_from="live?_step=1"), nbrun.RunInUseError, "live"),
    ("rewind-negative", lambda c: c.init(resume_from="src?_step=-1"), nbrun.UsageError, "-1"),
    ("fork-method-negative", lambda c: c.live.fork(-1), nbrun.UsageError, "-1"),
    # -- steps (rules 20-21)
    ("step-str", lambda c: c.live.log({"a": 1}, step="5"), TypeError, "'5'"),
    ("step-float", lambda c: c.live.log({"a": 1}, step=4.0), TypeError, "4.0"),
    ("step-bool", lambda c: c.live.log({"a": 1}, step=True), TypeError, "True"),
    # -- log values (rules 21-24)
    ("log-list", lambda c: c.live.log([1, 2]), TypeError, "list"),
    ("log-none", lambda c: c.live.log(None), TypeError, "NoneType"),
    ("log-int-key", lambda c: c.live.log({1: 2}), TypeError, "1"),
    ("log-object", lambda c: c.live.log({"w": object()}), TypeError, "'w'"),
    ("log-set", lambda c: c.live.log({"ok": 1, "s": {1, 2}}), TypeError, "'s'"),
    ("log-bytes", lambda c: c.live.log({"b": b"x"}), TypeError, "'b'"),
    ("log-complex", lambda c: c.live.log({"z": 1j}), TypeError, "complex"),
    ("log-nested-object", lambda c: c.live.log({"a": {"b": print}}), TypeError, "'a.b'"),
    ("log-nested-int-key", lambda c: c.live.log({"a": {2: 1}}), TypeError, "2"),
    ("log-in-list", lambda c: c.live.log({"l": [1, object()]}), TypeError, "'l'"),
    (
        "log-numpy-object",
        lambda c: c.live.log({"arr": np.array([None, print], dtype=object)}),
        TypeError,
        "'arr'",
    ),
    (
        "log-numpy-datetime",
        lambda c: c.live.log({"t": np.datetime64("2024-01-01")}),
        TypeError,
        "'t'",
    ),
    ("log-clongdouble", lambda c: c.live.log({"c": np.clongdouble(1j)}), TypeError, "'c'"),
    ("log-complex-array", lambda c: c.live.log({"ca": np.ones(2) * 1j}), TypeError, "'ca'"),
    ("log-after-finish", _finished, nbrun.UsageError, "live"),
    ("log-without-run", _module_log_without_run, nbrun.UsageError, "nbrun.init()"),
    # -- define_metric (rule 27)
    ("metric-empty", lambda c: c.live.define_metric(""), nbrun.UsageError, "''"),
    ("metric-inner-glob", lambda c: c.live.define_metric("a*b"), nbrun.UsageError, "'a*b'"),
    (
        "metric-unknown-op",
        lambda c: c.live.define_metric("loss", summary="min,median"),
        nbrun.UsageError,
        "'median'",
    ),
    (
        "metric-no-op",
        lambda c: c.live.define_metric("loss", summary=" , "),
        nbrun.UsageError,
        "' , '",
    ),
    ("metric-goal", lambda c: c.live.define_metric("loss", goal="up"), nbrun.UsageError, "'up'"),
    (
        "metric-best-no-goal",
        lambda c: c.live.define_metric("loss", summary="best"),
        nbrun.UsageError,
        "'loss'",
    ),
    (
        "metric-step-metric",
        lambda c: c.live.define_metric("loss", step_metric=""),
        nbrun.UsageError,
        "''",
    ),
    (
        "metric-hidden",
        lambda c: c.live.define_metric("loss", hidden="yes"),
        nbrun.UsageError,
        "'yes'",
    ),
    ("metric-name-int", lambda c: c.live.define_metric(5), nbrun.UsageError, "5"),
    # -- settings, mode, resume, reinit (rules 8-10)
    ("settings-unknown", lambda c: c.init(settings={"speed": 1}), nbrun.UsageError, "'speed'"),
    (
        "settings-interval",
        lambda c: c.init(settings={"flush_interval": 0}),
        nbrun.UsageError,
        "flush_interval=0",
    ),
    (
        "settings-interval-nan",
        lambda c: c.init(settings={"flush_interval": float("nan")}),
        nbrun.UsageError,
        "nan",
    ),
    ("settings-rows", lambda c: c.init(settings={"flush_rows": 1.5}), nbrun.UsageError, "1.5"),
    ("settings-str", lambda c: c.init(settings="fast"), nbrun.UsageError, "'fast'"),
    ("mode", lambda c: c.init(mode="cloud"), nbrun.UsageError, "'cloud'"),
    ("resume", lambda c: c.init(resume="sometimes"), nbrun.UsageError, "'sometimes'"),
    ("resume-must-missing", lambda c: c.init(id="ghost", resume="must"), nbrun.UsageError, "ghost"),
    ("resume-never-existing", lambda c: c.init(id="src", resume="never"), nbrun.UsageError, "src"),
    ("resume-running", lambda c: c.init(id="live", resume="allow"), nbrun.RunInUseError, "live"),
    ("reinit", lambda c: c.init(reinit="maybe"), nbrun.UsageError, "'maybe'"),
    ("entity-empty", lambda c: c.init(entity=""), nbrun.UsageError, "''"),
    ("name-empty", lambda c: c.init(name=""), nbrun.UsageError, "''"),
    ("name-int", lambda c: c.init(name=3), nbrun.UsageError, "3"),
    ("notes-list", lambda c: c.init(notes=["x"]), nbrun.UsageError, "['x']"),
    # -- alerts, finish, readers (rules 25, 30, 32)
    ("alert-level", lambda c: c.live.alert("t", "x", level="DEBUG"), nbrun.UsageError, "DEBUG"),
    ("alert-title", lambda c: c.live.alert("", "x"), nbrun.UsageError, "''"),
    ("alert-text", lambda c: c.live.alert("t", 5), nbrun.UsageError, "5"),
    (
        "alert-wait",
        lambda c: c.live.alert("t", "x", wait_duration=-1),
        nbrun.UsageError,
        "-1",
    ),
    ("finish-exit-code", lambda c: c.live.finish(exit_code="0"), nbrun.UsageError, "'0'"),
    ("history-samples", lambda c: c.live.history(samples=0), nbrun.UsageError, "0"),
    ("history-key", lambda c: c.live.history(keys=[3]), nbrun.UsageError, "3"),
    ("api-path", lambda c: nbrun.Api(c.dir).run("justanid"), nbrun.UsageError, "'justanid'"),
    ("api-missing", lambda c: nbrun.Api(c.dir).run(f"{P}/ghost"), nbrun.RunNotFoundError, "ghost"),
    ("summary-key", lambda c: c.live.summary.__setitem__(3, 1), TypeError, "3"),
]


def test_catalogue_is_large_and_unique() -> None:
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    ("call", "error", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(ctx: Ctx, call: Callable[[Ctx], Any], error: type, needle: str) -> None:
    before = nbrun.Api(ctx.dir).runs()
    step = ctx.live.step
    with pytest.raises(error) as info:
        call(ctx)
    assert type(info.value) is error  # the exact class, not only a subclass of it
    assert needle in str(info.value), f"{needle!r} not in message: {info.value}"
    # nothing half-done: no run created, nothing logged, the writer alive
    assert len(nbrun.Api(ctx.dir).runs()) == len(before)
    if ctx.live.state == "running":
        assert ctx.live.step == step
        assert ctx.live._writer.alive and ctx.live._writer.error is None
        ctx.live.log({"after": 1})
        assert ctx.live.flush(10)
        assert ctx.live.history()["_step"].tolist() == list(range(step + 1))


def test_engine_keys_in_log_data_are_ignored(run_dir: Path) -> None:
    """Rule 21: ``_step`` and ``_runtime`` are the engine's; a user ``_timestamp`` is kept."""
    run = nbrun.init(project=P)
    run.log({"a": 1, "_step": 50, "_runtime": -3.0, "_timestamp": 1.5})
    run.log({"a": np.longdouble(2.5), "_runtime": "x"})
    run.finish()
    hist = nbrun.Api(run_dir).run(f"{P}/{run.id}").history()
    assert hist["_step"].tolist() == [0, 1]
    assert (hist["_runtime"] >= 0).all()
    assert hist["_timestamp"][0] == 1.5 and hist["_timestamp"][1] > 1e9
    assert hist["a"].tolist() == [1, 2.5]
    assert "_runtime" not in dict(run.summary) and "_step" not in dict(run.summary)


# -- fuzz: log payloads ---------------------------------------------------------------------
class Unstorable:
    """A value nbrun cannot store."""

    def __repr__(self) -> str:
        return "Unstorable()"


_keys = st.one_of(
    st.sampled_from(["a", "b", "loss", "val/acc"]),  # shared keys: mixed-type columns
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="."),
        min_size=1,
        max_size=8,
    ).filter(lambda k: not k.startswith("_")),
)
_numpy_scalars = st.one_of(
    st.floats(width=32, allow_nan=True).map(np.float32),
    st.floats(allow_nan=True).map(np.float64),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.integers(0, 255).map(np.uint8),
    st.booleans().map(np.bool_),
    st.text(max_size=5).map(np.str_),
    st.floats(allow_nan=True).map(np.longdouble),
)
_numpy_arrays = st.one_of(
    st.lists(st.floats(allow_nan=True), max_size=4).map(lambda v: np.array(v, dtype=np.float64)),
    st.lists(st.integers(-1000, 1000), max_size=4).map(lambda v: np.array(v, dtype=np.int32)),
    st.lists(st.booleans(), min_size=1, max_size=3).map(np.array),
    st.just(np.zeros((2, 2))),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # big ints too
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    _numpy_scalars,
    _numpy_arrays,
    st.sampled_from(
        [Unstorable(), {1, 2}, b"raw", 1j, print, np.complex128(1j), np.clongdouble(1j)]
    ),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(_keys, inner, max_size=3),
    ),
    max_leaves=8,
)
_payloads = st.dictionaries(_keys, _values, max_size=4)


def _storable(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_storable(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_storable(v) for v in value)
    if isinstance(value, (np.ndarray, np.complexfloating)):
        return not np.iscomplexobj(value)
    return value is None or isinstance(value, (bool, int, float, str, np.generic))


def _normal(value: Any) -> Any:
    """What a faithful store gives back: numpy as Python values, tuples as lists."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, np.longdouble):
        return float(value)
    if isinstance(value, (np.ndarray, np.generic)):
        return _normal(value.tolist())
    return value


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN and types matter (1 is not True, 1.0 is not 1)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}", v, out)
    else:
        out[prefix] = value


def _cell(value: Any) -> Any:
    """A DataFrame cell as a Python value (numpy scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value


_fuzz_dir = tempfile.TemporaryDirectory(prefix="nbrun-fuzz-")


@pytest.mark.slow
@settings(max_examples=examples(0.5))  # 150 in CI
@given(payloads=st.lists(_payloads, min_size=1, max_size=3))
def test_fuzz_log_payloads(payloads: list[dict[str, Any]]) -> None:
    run = nbrun.init(project="fuzz", dir=_fuzz_dir.name, reinit="create_new")
    logged: list[dict[str, Any]] = []
    try:
        for payload in payloads:
            step = run.step
            if _storable(payload):
                run.log(payload)
                logged.append(_normal(payload))
            else:
                with pytest.raises(TypeError) as info:
                    run.log(payload)
                assert re.search(r"log: .*(key|value)", str(info.value)), str(info.value)
                assert run.step == step  # nothing of that call was logged
            assert run._writer.alive and run._writer.error is None
        assert run.flush(10)
        assert run._writer.alive and run._writer.error is None
    finally:
        run.finish()
    view = nbrun.Api(_fuzz_dir.name).run(f"fuzz/{run.id}")
    assert view.state == "finished"
    hist = view.history()
    assert hist["_step"].tolist() == list(range(len(logged)))
    for i, row in enumerate(logged):
        flat: dict[str, Any] = {}
        for k, v in row.items():
            _flat(k, v, flat)
        for k, v in flat.items():
            if v is None:
                assert k not in hist or _cell(hist[k][i]) is None or hist[k].isna()[i], (k, v)
                continue
            got = _cell(hist[k][i])
            # a column holding ints and missing values is a float column in pandas
            if isinstance(v, int) and not isinstance(v, bool) and isinstance(got, float):
                assert got == v or abs(v) > 2**53, (k, v, got)
                continue
            assert _same(_normal(got), v), (k, v, got)
    # the summary holds each top-level key's last non-None value, nested dicts kept whole
    summary = dict(view.summary)
    last: dict[str, Any] = {}
    for row in logged:
        for k, v in row.items():
            if v is not None:
                last[k] = v
    for k, v in last.items():
        if isinstance(v, dict):
            continue  # nested dicts: None inside them is a summary matter tested elsewhere
        assert _same(summary[k], v), (k, v, summary.get(k))
    assert Store.open(_fuzz_dir.name).integrity_check() == "ok"


# -- fuzz: fork specs -----------------------------------------------------------------------
_spec_dir = tempfile.TemporaryDirectory(prefix="nbrun-spec-")
_SRC_LAST = 9


def _spec_source() -> None:
    if nbrun.Api(_spec_dir.name).runs():
        return
    src = nbrun.init(project="spec", dir=_spec_dir.name, id="src", reinit="create_new")
    for i in range(_SRC_LAST + 1):
        src.log({"x": i})
    src.finish()


_step_text = st.one_of(
    st.integers(0, 12).map(str),
    st.integers(-5, 5).map(str),
    st.sampled_from(["", "1.5", "nan", "inf", " 3", "3 ", "+3", "0x3", "3e0", "٣", "3\n", "00"]),
    st.text(max_size=4),
    st.integers(10**18, 10**30).map(str),
)
_spec = st.one_of(
    st.builds(
        lambda i, s, sep: f"{i}{sep}{s}",
        st.sampled_from(["src", "nope", "", "sr c", "a/b", "src?"]),
        _step_text,
        st.sampled_from(["?_step=", "?step=", "?_step=", "&_step="]),
    ),
    st.text(max_size=12),
    st.integers(),
    st.none(),
    st.floats(),
)


@settings(max_examples=examples(0.5))  # 150 in CI
@given(spec=_spec)
def test_fuzz_fork_specs(spec: Any) -> None:
    _spec_source()
    m = re.fullmatch(r"src\?_step=([0-9]+)", spec) if isinstance(spec, str) else None
    valid = m is not None and int(m.group(1)) <= _SRC_LAST
    try:
        run = nbrun.init(project="spec", dir=_spec_dir.name, fork_from=spec, reinit="create_new")
    except (nbrun.UsageError, nbrun.RunNotFoundError) as exc:
        assert not valid, f"valid spec {spec!r} refused: {exc}"
        if spec is not None:
            assert repr(spec)[:30] in str(exc) or str(spec)[:30] in str(exc), str(exc)
        return
    try:
        if spec is None:
            assert run.forked_from is None and run.step == 0
            return
        assert valid, f"invalid spec {spec!r} accepted"
        n = int(m.group(1))  # type: ignore[union-attr]
        assert run.step == n + 1 and run.forked_from.step == n  # type: ignore[union-attr]
        assert run.history()["x"].tolist() == list(range(n + 1))
    finally:
        run.finish()
