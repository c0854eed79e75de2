"""Typed records (issue 22, item 1): the store returns and takes frozen records
(``nbrun._records``) instead of dicts (the 100-line limit on functions is in test_layers.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import nbrun
from nbrun import _store
from nbrun._records import (
    AlertRecord,
    ArchiveRecord,
    ArtifactRecord,
    ChunkMeta,
    ChunkRecord,
    RunRecord,
)
from tests.conftest import BACKENDS, where

both = pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)

P = "records"


@both
def test_store_returns_and_takes_typed_records(run_dir: Path) -> None:
    """Issue 22, item 1: what the store reads comes back as a typed, frozen record (fields by
    name, never indexed), and what it writes it takes as one; the public surface over it
    (``run.alerts``) keeps its shape."""
    d = where(run_dir)
    run = nbrun.init(project=P, dir=d, id="base")
    for i in range(6):
        run.log({"x": float(i)})
    run.alert("hot", "too hot", level="WARN")
    art = nbrun.Artifact("data", type="dataset")
    with art.new_file("a.txt") as f:
        f.write("a")
    run.log_artifact(art).wait()
    run.finish()
    kid = nbrun.init(project=P, dir=d, fork_from="base?_step=2", id="kid", reinit="create_new")
    kid.finish()
    again = nbrun.init(project=P, dir=d, resume_from="base?_step=3", reinit="create_new")
    again.finish()
    store = _store.Store.open(d)

    rec = store.get_run(P, "base")
    assert isinstance(rec, RunRecord) and rec.id == "base" and rec.project == P
    assert rec.state == "finished" and rec.last_step == 3 and rec.resumed == 1
    assert store.get_run_by_key(rec.key) == rec
    assert [r.id for r in store.list_runs(P)] == ["base", "kid"]
    assert all(isinstance(r, RunRecord) for r in store.list_runs())
    (child,) = store.children(P, "base")
    assert isinstance(child, RunRecord) and (child.forked_from_id, child.forked_from_step) == (
        "base",
        2,
    )
    with pytest.raises(TypeError):
        rec["state"]  # type: ignore[index]  # a record is read by attribute, not indexed
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.state = "running"  # type: ignore[misc]  # a snapshot: changes go to the store
    assert rec.replace(notes="n") == dataclasses.replace(rec, notes="n") != rec
    with pytest.raises(TypeError):
        rec.replace(no_such_column=1)

    (arch,) = store.archives(rec.key)
    assert isinstance(arch, ArchiveRecord)
    assert (arch.run_key, arch.seg, arch.cut_step, arch.from_step, arch.to_step, arch.n) == (
        rec.key,
        1,
        3,
        4,
        5,
        2,
    )
    assert arch.reason == "rewind"
    chunks = store.run_chunks(rec.key)
    assert chunks and all(isinstance(c, ChunkRecord) for c in chunks)
    assert {seg: sum(c.n for c in chunks if c.seg == seg) for seg in (0, 1)} == {0: 4, 1: 2}
    live = [c for c in chunks if c.seg == 0]
    assert live[-1].last_step == 3 and store.chunk_meta(rec.key, 0) == [
        ChunkMeta(c.first_step, c.last_step, c.n, c.state) for c in live
    ]
    (alert,) = store.alerts(rec.key)
    assert isinstance(alert, AlertRecord) and (alert.title, alert.text, alert.level) == (
        "hot",
        "too hot",
        "WARN",
    )
    alerts = nbrun.Api(d).run(f"{P}/base").alerts
    assert alerts == [
        {"created": alert.created, "title": "hot", "text": "too hot", "level": "WARN"}
    ]

    version = store.artifact_at(P, "data", "v0")
    assert isinstance(version, ArtifactRecord) and version.state == "COMMITTED"
    assert version.manifest["a.txt"]["size"] == 1 and version.type == "dataset"
    assert store.artifact(version.key) == version == store.artifact_at(P, "data", "latest")
    assert store.artifact_versions(P, "data") == [version]
    rows, _aliases = store.export_artifacts(P)
    assert rows == [version]

    taken = store.update_run_if(rec.key, lambda r: {"notes": f"was {r.state}"})
    assert isinstance(taken, RunRecord) and taken == rec.replace(notes="was finished")
    assert store.get_run_by_key(rec.key) == taken

    # the store takes records too: create_run and import_run write every column but the key
    new = taken.replace(key=0, id="copy", notes=None)
    key = store.create_run(new)
    made = store.get_run(P, "copy")  # (PostgreSQL writes a heartbeat in its server's clock)
    assert made is not None and made == new.replace(key=key, heartbeat=made.heartbeat)
    assert store.create_run(new) is None  # the id is taken: nothing written (rule 41)
    other = _store.Store.open(str(run_dir / "other"))
    key2 = other.import_run(rec, store.export_run(rec.key), other.import_artifacts(rows, []))
    assert key2 is not None and other.get_run(P, "base") == rec.replace(key=key2)
    assert other.artifact_versions(P, "data") == [
        version.replace(key=other.artifact_versions(P, "data")[0].key)
    ]
