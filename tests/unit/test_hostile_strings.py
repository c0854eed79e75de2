"""Hostile strings (issue 7): names, notes, tags and config values holding HTML/JS, SQL,
unicode, RTL marks and very long text round-trip exactly through the store, the runs
DataFrame and stored run views. (How widgets show them is tested from the browser side.)"""

from __future__ import annotations

from pathlib import Path

import pytest

import nbrun
from nbrun._store import Store

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script>",
    '"; DROP TABLE runs; --',
    "' OR '1'='1",
    "Robert'); DELETE FROM history;--",
    "\u202eevil\u202c txt.exe",  # RTL override
    "\u200f\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",  # RTL mark, Hebrew, Arabic
    "zero\u200bwidth\ufeffbom",
    "emoji \U0001f9ea\U0001f525 and \U0001d518\U0001d52b\U0001d526 astral",
    "{{ 7*7 }} ${7*7} %s %(x)s {0}",
    'back\\slash "quotes" `ticks`',
    "line\nbreak\ttab\r\nwindows",
    "&lt;already&gt; &amp; escaped",
    "x" * 20_000,
]


def _tag(s: str) -> str:
    """Tags are 1 to 64 characters (rule 6)."""
    return s[:64]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"h{i}" for i in range(len(HOSTILE))])
def test_hostile_strings_round_trip(run_dir: Path, text: str) -> None:
    config = {"cmd": text, text[:100]: "as a key", "nested": {"v": [text, 1]}}
    run = nbrun.init(
        project="hostile",
        name=text,
        notes=text,
        tags=(_tag(text), "plain"),
        config=config,
        group=text,
        reinit="create_new",
    )
    run.log({"label": text, text[:50]: 1.0})
    run.summary["note"] = text
    run.alert(title=text[:200], text=text)
    run.finish()

    view = nbrun.Api(run_dir).run(f"hostile/{run.id}")
    assert view.name == text
    assert view.notes == text
    assert view.group == text
    assert view.tags == (_tag(text), "plain")
    assert view.config.as_dict() == config
    assert view.summary["label"] == text and view.summary["note"] == text
    assert view.alerts[0]["title"] == text[:200] and view.alerts[0]["text"] == text
    hist = view.history()
    assert hist["label"].tolist() == [text]
    assert hist[text[:50]].tolist() == [1.0]

    df = nbrun.runs("hostile")
    (row,) = df.to_dict("records")
    assert row["name"] == text and row["notes"] == text
    assert row["tags"] == (_tag(text), "plain")
    assert row["config.cmd"] == text and row[f"config.{text[:100]}"] == "as a key"
    assert row["summary.label"] == text

    # renaming to hostile text, and the store itself untouched by the SQL-looking text
    run2 = nbrun.init(project="hostile", id="other", reinit="create_new")
    run2.name = text[::-1]
    run2.notes = text
    run2.tags = (_tag(text[::-1]),)
    run2.finish()
    view2 = nbrun.Api(run_dir).run("hostile/other")
    assert (view2.name, view2.notes, view2.tags) == (text[::-1], text, (_tag(text[::-1]),))
    assert len(nbrun.Api(run_dir).runs("hostile")) == 2
    assert Store.open(run_dir).integrity_check() == "ok"


def test_hostile_ids_and_projects_are_refused_or_kept_exactly(run_dir: Path) -> None:
    """Ids and projects are path-like: hostile ones are refused (rules 3, 5); the rest of
    the characters, HTML included, are kept exactly."""
    for bad in ["<img src=x onerror=alert(1)>/x", "a;DROP", "'quote"]:
        with pytest.raises(nbrun.UsageError):
            nbrun.init(project="hostile", id=bad, reinit="create_new")
    rid = "<b>id<&amp>"
    proj = "<img src=x onerror=alert(1)> \u202e"
    run = nbrun.init(project=proj, id=rid, reinit="create_new")
    run.log({"a": 1})
    run.finish()
    view = nbrun.Api(run_dir).run(f"{proj}/{rid}")
    assert (view.id, view.project) == (rid, proj)
    assert view.path.endswith(f"/{proj}/{rid}")
    assert nbrun.runs(proj)["id"].tolist() == [rid]
    assert Path(view.dir).is_relative_to(run_dir / "nbrun")
