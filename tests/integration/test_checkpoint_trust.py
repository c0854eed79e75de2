"""Trusting checkpoints (rule 45, issue 21 item 8): nbrun signs every checkpoint it writes with
the user's key and unpickles only what verifies, or what the caller trusts; plain state and torch
state dicts restore from any store without pickle. Real files, real pickles, real torch, real
processes for the team key."""

from __future__ import annotations

import collections
import io
import multiprocessing
import os
import pickle
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nbrun
from nbrun import _checkpoints
from tests.conftest import BACKENDS, examples, python_env

FAST = {"flush_interval": 0.05}

# the training function travels to executor workers by value (as test_executor.py's do)
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def pickled_state(seed: int = 0) -> dict[str, Any]:
    """State only pickle can hold (a numpy Generator), as a real training loop keeps."""
    return {"w": float(seed), "rng": np.random.default_rng(seed)}


def saved(state: Any, run_id: str | None = None, rows: int = 3, **kw: Any) -> nbrun.Run:
    """A finished run of ``rows`` rows whose last row has checkpoint ``state``."""
    run = nbrun.init(project="t", id=run_id, reinit="create_new", settings=FAST, **kw)
    for i in range(rows):
        run.log({"x": float(i)})
    run.checkpoint(state)
    run.finish()
    return run


def resumed(run_id: str, **kw: Any) -> nbrun.Run:
    return nbrun.init(project="t", id=run_id, resume="must", reinit="create_new", **kw)


class Plant:
    """A malicious pickle: unpickling it creates ``marker`` (any code could run instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_rule45_own_checkpoint_is_signed_and_restores_without_ceremony(run_dir: Path) -> None:
    run = saved(pickled_state(7))
    ck = run.checkpoints()[0]
    assert ck.path.endswith(".pkl") and ck.verified()
    side = Path(ck.path + _checkpoints.SIG_SUFFIX)
    assert side.is_file()
    again = resumed(run.id)
    state = again.restore()
    assert state["w"] == 7.0 and again.restored_step == 2
    assert state["rng"].normal() == np.random.default_rng(7).normal()


def test_rule45_replaced_checkpoint_is_refused_and_never_unpickled(run_dir: Path) -> None:
    run = saved(pickled_state())
    ck = run.checkpoints()[0]
    marker = run_dir / "pwned"
    evil = pickle.dumps({"w": Plant(marker)})
    Path(ck.path).write_bytes(evil)  # replaced on disk, its signature left beside it
    again = resumed(run.id)
    with pytest.raises(nbrun.UntrustedCheckpointError) as info:
        again.restore()
    message = str(info.value)
    assert ck.path in message and "replaced or edited" in message and "trust=True" in message
    assert info.value.path == ck.path
    assert not marker.exists()
    assert Path(ck.path).read_bytes() == evil  # left untouched
    assert again.restored_step is None
    # no signature at all: the same refusal, saying so
    Path(ck.path + _checkpoints.SIG_SUFFIX).unlink()
    with pytest.raises(nbrun.UntrustedCheckpointError, match="has no signature"):
        again.restore()
    with pytest.raises(nbrun.UntrustedCheckpointError, match="no signature"):
        ck.load()
    # a signature that is a symlink (to a secret, a FIFO, /dev/zero) is never read through
    os.symlink("/dev/zero", ck.path + _checkpoints.SIG_SUFFIX)
    with pytest.raises(nbrun.UntrustedCheckpointError, match="it is a symlink"):
        ck.load()
    assert not marker.exists()


def test_rule45_signed_checkpoint_moved_to_another_step_or_run_is_refused(run_dir: Path) -> None:
    run = nbrun.init(project="t", id="a", settings=FAST)
    for i in range(10):
        run.log({"x": float(i)})
        if i in (4, 9):
            run.checkpoint(pickled_state(i))
    run.finish()
    folder = Path(run.dir) / "checkpoints"
    early, late = folder / "step-0000000004.pkl", folder / "step-0000000009.pkl"
    for src, dst in ((early, late), (Path(f"{early}.sig"), Path(f"{late}.sig"))):
        shutil.copyfile(src, dst)  # a valid signed file swapped in for a later step
    again = resumed("a")
    with pytest.raises(nbrun.UntrustedCheckpointError, match="for run 'a' step 4"):
        again.restore()
    again.finish()
    # state that needs no pickle is refused too when its signature says it was moved: it
    # would restore the wrong step's state
    torch = pytest.importorskip("torch")
    for n, state in enumerate(({"w": np.ones(2)}, {"w": torch.ones(2)})):
        moved = nbrun.init(project="t", id=f"m{n}", settings=FAST)
        for i in range(10):
            moved.log({"x": float(i)})
            if i in (4, 9):
                moved.checkpoint(state)
        moved.finish()
        (first, last) = moved.checkpoints()
        assert first.path.endswith((".npz", ".pt")) and first.serializer != "pickle"
        for src, dst in ((first.path, last.path), (first.path + ".sig", last.path + ".sig")):
            shutil.copyfile(src, dst)
        with pytest.raises(nbrun.UntrustedCheckpointError, match="another run or step"):
            last.load()
        assert last.load(trust=True)["w"].sum() == 2
    # the same valid pair copied into another run's folder
    other = saved(pickled_state(1), run_id="b", rows=5)
    theirs = Path(other.dir) / "checkpoints" / "step-0000000004.pkl"
    for src, dst in ((early, theirs), (Path(f"{early}.sig"), Path(f"{theirs}.sig"))):
        shutil.copyfile(src, dst)
    with pytest.raises(nbrun.UntrustedCheckpointError, match="another run or step"):
        resumed("b").restore()


def test_rule45_trust_true_restores_and_trust_signs(run_dir: Path) -> None:
    run = saved(pickled_state(3))
    ck = run.checkpoints()[0]
    Path(ck.path + _checkpoints.SIG_SUFFIX).unlink()  # e.g. written before nbrun signed
    again = resumed(run.id)
    with pytest.raises(nbrun.UsageError, match="trust='yes'"):
        again.restore(trust="yes")  # type: ignore[arg-type]
    assert again.restore(trust=True)["w"] == 3.0
    assert not ck.verified()
    ck.trust()  # signs it with this user's key: restores without ceremony from now on
    assert ck.verified() and again.restore()["w"] == 3.0
    before = sorted(Path(ck.path).parent.iterdir())
    with pytest.raises(nbrun.UsageError, match="serializer 'plain' holds"):
        again.checkpoint({"s": {1}}, serializer="plain")  # a set: not plain state
    assert sorted(Path(ck.path).parent.iterdir()) == before


def test_rule45_plain_state_is_saved_without_pickle_and_restores_unsigned(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = {
        "w": np.arange(6, dtype=np.float32).reshape(2, 3),
        "ids": np.array([3, 1], dtype=np.int64),
        "lr": np.float32(0.5),
        "step": 12,
        "name": "adam",
        "nested": [1.5, (2, None, True), {"k": float("inf")}],
        7: "int key",
    }
    run = saved(state)
    ck = run.checkpoints()[0]
    assert ck.path.endswith(".npz") and ck.serializer == "plain"
    with zipfile.ZipFile(ck.path) as z:  # JSON and .npy only: nothing for pickle to run
        assert sorted(z.namelist()) == ["a0.npy", "a1.npy", "a2.npy", "state.json"]
    with np.load(ck.path, allow_pickle=False) as arrays:
        assert np.array_equal(arrays["a0"], state["w"])
    # signed with someone else's key, or not signed: restores all the same, no pickle involved
    monkeypatch.setenv("NBRUN_KEY", "someone else")
    assert not ck.verified() and ck.load()["step"] == 12
    Path(ck.path + _checkpoints.SIG_SUFFIX).unlink()
    back = resumed(run.id).restore()
    assert back.keys() == state.keys()
    assert back["w"].dtype == np.float32 and np.array_equal(back["w"], state["w"])
    assert np.array_equal(back["ids"], state["ids"])
    assert type(back["lr"]) is np.float32 and back["lr"] == np.float32(0.5)
    assert back["nested"] == [1.5, (2, None, True), {"k": float("inf")}] and back[7] == "int key"
    # a damaged or forged plain file is a StoreError naming it (still nothing unpickled)
    for damage in (b"not a zip", None):
        if damage is None:
            with zipfile.ZipFile(ck.path, "w") as z:
                z.writestr("state.json", '{"l": [{"a": 99}]}')  # names an array it lacks
        else:
            Path(ck.path).write_bytes(damage)
        with pytest.raises(nbrun.StoreError, match=f"checkpoint {ck.path} .* is damaged"):
            ck.load()
    # what the plain format cannot hold exactly goes to pickle (and needs a signature)
    shared = np.zeros(2)
    for other in ({"a": shared, "b": shared}, {"s": {1}}, [np.array([object()])]):
        assert _checkpoints.choose_serializer(other).name == "pickle"
    loop: list[Any] = []
    loop.append(loop)
    assert _checkpoints.choose_serializer(loop).name == "pickle"


def test_rule45_torch_state_dicts_restore_unsigned_with_weights_only(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    run = saved({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 4})
    odd = saved({"model": model.state_dict(), "rng": np.random.default_rng(0)})
    ck = run.checkpoints()[0]
    assert ck.path.endswith(".pt") and ck.verified()
    monkeypatch.setenv("NBRUN_KEY", "someone else")  # not this user's signature any more
    assert not ck.verified()
    back = resumed(run.id).restore()
    assert back["epoch"] == 4
    assert torch.equal(back["model"]["weight"], model.state_dict()["weight"])
    assert back["opt"]["param_groups"][0]["lr"] == 0.1
    # torch state holding an arbitrary object needs pickle: refused unless trusted
    again = resumed(odd.id)
    with pytest.raises(nbrun.UntrustedCheckpointError, match="weights_only=True"):
        again.restore()
    assert "rng" in again.restore(trust=True)


TEAM_SCRIPT = textwrap.dedent(
    """
    import sys
    import nbrun
    mode, run_id = sys.argv[1], sys.argv[2]
    if mode == "save":
        run = nbrun.init(project="team", id=run_id)
        for i in range(3):
            run.log({"x": float(i)})
        run.checkpoint({"seen": {1, 2, 3}})  # a set: pickled
        run.finish()
    else:
        run = nbrun.init(project="team", id=run_id, resume="must")
        try:
            print("restored", sorted(run.restore()["seen"]))
        except nbrun.UntrustedCheckpointError as exc:
            print("refused", exc)
        run.finish()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_rule45_team_key_in_env_works_across_processes(run_dir: Path) -> None:
    def member(mode: str, key: str, home: str) -> str:
        env = python_env()
        env["NBRUN_KEY"] = key  # the team's shared key, not each member's own key file
        env["NBRUN_KEY_FILE"] = str(run_dir / home / "key")
        done = subprocess.run(
            [sys.executable, "-c", TEAM_SCRIPT, mode, "shared"],
            cwd=run_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    member("save", "team-secret", "alice")
    assert member("load", "team-secret", "bob").startswith("restored [1, 2, 3]")
    out = member("load", "not the team's", "mallory")
    assert out.startswith("refused") and "another key" in out
    assert not (run_dir / "alice" / "key").exists()  # the env key was used, no file made


def test_rule45_copy_keeps_checkpoints_verifiable_for_the_same_key(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = saved(pickled_state(5))
    dst = run_dir / "copied"
    assert nbrun.copy(run_dir, dst) == [f"t/{run.id}"]
    view = nbrun.Api(dst).run(f"t/{run.id}")
    (ck,) = view.checkpoints()
    assert Path(ck.path).is_relative_to(dst) and ck.verified()
    assert resumed(run.id, dir=dst).restore()["w"] == 5.0
    monkeypatch.setenv("NBRUN_KEY", "the receiver's own key")
    with pytest.raises(nbrun.UntrustedCheckpointError, match="another key"):
        ck.load()


def test_rule45_rule40_detached_fork_keeps_verified_checkpoints(run_dir: Path) -> None:
    par = nbrun.init(project="t", id="par", settings=FAST)
    for i in range(6):
        par.log({"x": float(i)})
        if i == 2:
            par.checkpoint(pickled_state(2))
    par.finish()
    kid = nbrun.init(project="t", fork_from="par?_step=3", settings=FAST)
    kid.log({"x": 9.0})
    kid.finish()
    nbrun.Api(run_dir).run("t/par").delete(detach_forks=True)
    (ck,) = nbrun.Api(run_dir).run(f"t/{kid.id}").checkpoints()
    assert ck.run_id == kid.id and ck.verified() and ck.load()["w"] == 2.0


def test_rule45_rewind_archives_signatures_with_their_checkpoints(run_dir: Path) -> None:
    run = saved(pickled_state(1), run_id="r", rows=5)
    nbrun.init(project="t", id="r", resume_from="r?_step=2", reinit="create_new").finish()
    archived = Path(run.dir) / "checkpoints" / "archive-1"
    assert sorted(p.name for p in archived.iterdir()) == [
        "step-0000000004.pkl",
        "step-0000000004.pkl.sig",
    ]


KEY_SCRIPT = textwrap.dedent(
    """
    from nbrun import _checkpoints
    print(_checkpoints.key_id(_checkpoints.signing_key(create=True)))
    """
)


def test_rule45_key_is_made_once_with_mode_0600_by_racing_processes(run_dir: Path) -> None:
    path = run_dir / "cfg" / "nbrun" / "key"
    env = python_env()
    env.pop("NBRUN_KEY", None)
    env["NBRUN_KEY_FILE"] = str(path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", KEY_SCRIPT], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    ids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(ids) == 1 and len(ids.pop()) == 12
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(path.read_text().strip()) == 64
    assert not [p for p in path.parent.iterdir() if p != path]  # no temp file left


def test_rule45_unwritable_key_warns_and_saves_unsigned(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (run_dir / "a-file").write_text("not a folder")
    monkeypatch.setenv("NBRUN_KEY_FILE", str(run_dir / "a-file" / "key"))
    run = nbrun.init(project="t", settings=FAST)
    run.log({"x": 1.0})
    with pytest.warns(RuntimeWarning, match="saved unsigned"):
        ck = run.checkpoint(pickled_state(4))
    assert not os.path.exists(ck.path + _checkpoints.SIG_SUFFIX)
    with pytest.raises(nbrun.UntrustedCheckpointError):
        ck.load()
    assert ck.load(trust=True)["w"] == 4.0
    (run_dir / "empty-key").write_text("")
    monkeypatch.setenv("NBRUN_KEY_FILE", str(run_dir / "empty-key"))
    with pytest.raises(nbrun.UsageError, match="empty-key is empty"):
        run.checkpoint({"x": 1})
    monkeypatch.setenv("NBRUN_KEY", " ")
    with pytest.raises(nbrun.UsageError, match="NBRUN_KEY=' ' is blank"):
        run.checkpoint({"x": 1})
    assert [c.step for c in run.checkpoints()] == [0]  # the refused ones wrote nothing


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (NaN equals NaN, arrays by dtype, shape
    and values)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and (a == b or (a != a and b != b))
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


_keys = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none())
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    hnp.arrays(
        st.sampled_from(["f4", "f8", "i1", "i8", "u2", "bool", "c16", "U3"]),
        hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    ),
    st.floats(width=32).map(np.float32),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
)
_plain = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(_keys, inner, max_size=4),
        st.dictionaries(_keys, inner, max_size=4).map(collections.OrderedDict),
    ),
    max_leaves=20,
)


@settings(max_examples=examples(0.5))
@given(state=_plain)
def test_rule45_plain_format_round_trips_types_and_values_exactly(state: Any) -> None:
    assert _checkpoints.is_plain(state)
    ser = _checkpoints.SERIALIZERS["plain"]
    buf = io.BytesIO()
    ser.dump(state, buf)
    buf.seek(0)
    assert _same(ser.load(buf), state)


def train_counting(run: nbrun.Run) -> None:
    """Training whose state needs pickle (a numpy Generator), checkpointed every 5 steps."""
    state = run.restore() or {"w": 0.0, "rng": np.random.default_rng(0)}
    for _ in range(run.step, 20):
        state["w"] += 1.0
        run.log({"w": state["w"], "pid": os.getpid()})
        if run.step % 5 == 0:
            run.checkpoint(state)


@pytest.mark.slow
def test_rule45_executor_worker_restores_signed_and_refuses_replaced_checkpoints(
    run_dir: Path,
) -> None:
    parent = nbrun.launch(train_counting, project="t", settings=FAST)
    assert parent.wait(60) and parent.state == "finished"
    ctx = multiprocessing.get_context("spawn")  # a fresh process: it finds the key itself
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        good = parent.fork(9, executor=pool)
        assert good.wait(60)
        assert good.state == "finished" and good.error is None
        pids = good.history(keys=["pid"])["pid"].tolist()
        assert pids[-1] != os.getpid() and good.summary["w"] == 20.0
        # the parent's checkpoint at step 14 replaced on disk by a malicious pickle
        marker = run_dir / "pwned-by-worker"
        evil = Path(parent.dir) / "checkpoints" / "step-0000000014.pkl"
        evil.write_bytes(pickle.dumps({"w": Plant(marker)}))
        bad = parent.fork(14, executor=pool)
        assert bad.wait(60)
    assert bad.state == "failed" and bad.error is not None
    assert "UntrustedCheckpointError" in bad.error and "replaced or edited" in bad.error
    assert not marker.exists()
