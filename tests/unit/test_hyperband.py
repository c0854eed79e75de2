"""Hyperband early termination (rule 49): W&B's bands, thresholds and stopping conditions,
as a pure function over the runs' metric histories."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbrun._sweeps import Hyperband, bands, parse_sweep_config, thresholds, to_stop
from tests.conftest import examples


def _hb(**et: Any) -> Hyperband:
    cfg = parse_sweep_config(
        {
            "method": "random",
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
            "early_terminate": {"type": "hyperband", **et},
        }
    )
    assert cfg.early_terminate is not None
    assert bands(cfg) == cfg.early_terminate.bands()
    return cfg.early_terminate


def test_rule49_bands_from_min_iter() -> None:
    b = bands(_hb(min_iter=3))
    assert b[:5] == [3, 9, 27, 81, 243] and len(b) == 33 and b[-1] <= 2**53
    assert bands(_hb(min_iter=1, eta=2))[:6] == [1, 2, 4, 8, 16, 32]
    assert bands(_hb(min_iter=2, eta=1.5))[:5] == [2, 3, 4, 6, 10]  # int() of 2 * 1.5**k


def test_rule49_bands_from_max_iter_and_s() -> None:
    assert bands(_hb(max_iter=27, s=2)) == [3, 9]
    assert bands(_hb(max_iter=81, s=3, eta=3)) == [3, 9, 27]
    assert bands(_hb(max_iter=5, s=2, eta=2)) == [1, 2]
    assert bands(_hb(max_iter=10, s=5)) == [1, 3]  # 10/3, 10/9; 10/27 < 1 ends the bands
    assert bands(_hb(max_iter=27, s=2, min_iter=1)) == [3, 9]  # max_iter wins, as in W&B
    assert bands(Hyperband(min_iter=2, eta=2))[:3] == [2, 4, 8]


def test_rule49_wandb_docstring_example_non_strict() -> None:
    """W&B's own example (hyperband_stop_runs' docstring): max_iter 5, eta 2, s 2 -> bands
    [1, 2]; b (no better than anyone at band 2) and c (beaten at band 2) stop."""
    hb = _hb(max_iter=5, eta=2, s=2, strict=False)
    histories = {
        "a": [10, 9],
        "b": [10, 10],
        "c": [10, 8, 8],
        "d": [10, 7, 7],
        "e": [10, 6, 6],
    }
    assert thresholds(hb, "minimize", histories) == [(1, 10.0), (2, 8.0)]
    assert to_stop(hb, "minimize", histories, running={"b", "c", "d"}) == {"b"}
    # c's best (8) equals the threshold: not worse, so it stays; a finished run is never named
    assert to_stop(hb, "minimize", histories) == {"a", "b"}


def test_rule49_strict_compares_the_value_at_the_band() -> None:
    hb_strict = _hb(min_iter=2, eta=2)
    hb_loose = _hb(min_iter=2, eta=2, strict=False)
    histories = {
        "good": [5.0, 1.0, 1.0, 1.0],
        "mid": [5.0, 2.0, 2.0, 2.0],
        "lucky": [0.5, 3.0, 3.0, 3.0],  # best early, worse at the band
        "bad": [5.0, 4.0, 4.0, 4.0],
    }
    # band 2: values 1, 2, 3, 4 -> position int(4/2) = 2 -> 3.0; band 4 likewise 3.0
    assert thresholds(hb_strict, "minimize", histories)[:2] == [(2, 3.0), (4, 3.0)]
    assert to_stop(hb_strict, "minimize", histories) == {"bad"}
    assert to_stop(hb_loose, "minimize", histories) == {"bad"}
    histories["lucky"] = [0.5, 3.5, 3.5, 3.5]
    # band 2 values 1, 2, 3.5, 4 -> threshold 3.5: lucky's value there is 3.5 (not worse)
    assert to_stop(hb_strict, "minimize", histories) == {"bad"}
    histories["mid"] = [5.0, 2.0, 2.0, 3.9]  # at band 4: 1, 3.5, 3.9, 4 -> threshold 3.9
    assert to_stop(hb_strict, "minimize", histories) == {"bad"}
    histories["lucky"] = [0.5, 3.5, 3.5, 4.5]  # band 4: 1, 3.9, 4, 4.5 -> threshold 4
    assert to_stop(hb_strict, "minimize", histories) == {"lucky"}
    assert to_stop(hb_loose, "minimize", histories) == set()  # best-so-far 0.5 passes


def test_rule49_maximize_negates_and_non_finite_values_are_skipped() -> None:
    hb = _hb(min_iter=1, eta=3)
    histories = {
        "hi": [0.9],
        "mid": [0.5],
        "lo": [0.1],
        "nan": [math.nan, math.inf],  # no finite value: no history, never judged
    }
    assert to_stop(hb, "maximize", histories) == {"lo"}
    assert to_stop(hb, "minimize", histories) == {"hi"}
    histories["late"] = [math.nan, 0.05]  # one finite value: its first iteration is 0.05
    assert to_stop(hb, "maximize", histories) == {"lo", "late"}


def test_rule49_runs_before_the_first_band_and_empty_bands() -> None:
    hb = _hb(min_iter=3)
    histories = {"a": [1.0, 1.0], "b": [9.0, 9.0]}
    assert to_stop(hb, "minimize", histories) == set()
    assert thresholds(hb, "minimize", histories)[0] == (3, math.inf)
    assert to_stop(hb, "minimize", {}) == set()
    one = {"a": [5.0, 5.0, 5.0]}  # alone at its band: threshold is its own value
    assert to_stop(hb, "minimize", one) == set()


def test_rule49_a_lone_worse_run_among_many() -> None:
    hb = _hb(min_iter=1, eta=3)
    histories = {f"r{i}": [float(i)] for i in range(9)}
    # threshold at sorted position int(9/3) = 3 -> 3.0: r4..r8 stop, r0..r3 go on
    assert to_stop(hb, "minimize", histories) == {f"r{i}" for i in range(4, 9)}


def test_rule49_bad_goal() -> None:
    with pytest.raises(ValueError, match="'best' is not minimize or maximize"):
        to_stop(_hb(min_iter=1), "best", {"a": [1.0]})


@settings(max_examples=examples(1.0), deadline=None)
@given(
    st.lists(st.floats(-10, 10), min_size=1, max_size=30),
    st.sampled_from([2, 3, 4, 2.5]),
    st.sampled_from(["minimize", "maximize"]),
)
def test_rule49_at_one_band_the_best_share_survives(
    values: list[float], eta: float, goal: str
) -> None:
    """Runs that all reached one band (min_iter = their length, strict): at least the best
    ceil(n / eta) go on, every stopped run is worse than every run that goes on, and a run
    tied with one that goes on goes on too."""
    hb = _hb(min_iter=2, eta=eta)
    histories = {f"r{i}": [0.0, v] for i, v in enumerate(values)}
    stopped = to_stop(hb, goal, histories)
    kept = set(histories) - stopped
    assert len(kept) >= math.ceil(len(values) / eta)
    sign = 1.0 if goal == "minimize" else -1.0
    worst_kept = max(sign * histories[r][1] for r in kept)
    assert all(sign * histories[r][1] > worst_kept for r in stopped)


@settings(max_examples=examples(1.0), deadline=None)
@given(
    st.dictionaries(
        st.text("abcdef", min_size=1, max_size=3),
        st.lists(st.floats(0, 5), max_size=12),
        max_size=8,
    ),
    st.booleans(),
    st.data(),
)
def test_rule49_only_running_runs_past_a_band_and_improving_never_hurts(
    histories: dict[str, list[float]], strict: bool, data: st.DataObject
) -> None:
    hb = _hb(min_iter=2, eta=2, strict=strict)
    running = data.draw(st.sets(st.sampled_from(sorted(histories)))) if histories else set()
    stopped = to_stop(hb, "minimize", histories, running=running)
    assert stopped <= running
    assert all(len(histories[r]) >= 2 for r in stopped)  # none before the first band
    for r in stopped:  # the same run, better everywhere (others unchanged): it may go on,
        better = {**histories, r: [v - 100.0 for v in histories[r]]}  # never the reverse
        assert r not in to_stop(hb, "minimize", better, running=running)
