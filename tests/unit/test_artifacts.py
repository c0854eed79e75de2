"""Artifacts (issue 12, rule 35): building, versions, content addressing, aliases, use and
download across runs and processes, lineage both ways, distributed versions, links and the
model registry, ``log_code``, and the W&B-named calls the HF / Lightning integrations make."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import nbrun
from nbrun import _store
from tests.conftest import python_env

P = "arts"


def _files(root: Path, spec: dict[str, str]) -> Path:
    for name, text in spec.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _blobs(run_dir: Path) -> list[Path]:
    return sorted(p for p in (run_dir / "nbrun/artifacts/blobs").rglob("*") if p.is_file())


def _model(run_dir: Path, weights: str = "w1", name: str = "net") -> nbrun.Artifact:
    src = _files(run_dir / "model", {"weights.bin": weights, "cfg/config.json": "{}"})
    art = nbrun.Artifact(name, "model", description="a net", metadata={"acc": 0.9})
    art.add_dir(src)
    return art


# -- building ------------------------------------------------------------------------------------
def test_rule35_build_an_artifact_and_read_its_manifest(run_dir: Path) -> None:
    _files(run_dir, {"a.txt": "A", "d/b.txt": "BB", "d/e/c.txt": "CCC"})
    art = nbrun.Artifact("data", "dataset")
    entry = art.add_file(run_dir / "a.txt")
    assert (entry.path, entry.size) == ("a.txt", 1)
    art.add_file(run_dir / "a.txt", name="copies/a2.txt")
    art.add_dir(run_dir / "d", name="sub")
    with art.new_file("notes/readme.md") as f:
        f.write("hello")
    assert sorted(art.manifest.entries) == [
        "a.txt",
        "copies/a2.txt",
        "notes/readme.md",
        "sub/b.txt",
        "sub/e/c.txt",
    ]
    assert art.get_entry("sub/e/c.txt").size == 3
    assert len(art.get_entry("a.txt").digest or "") == 64
    with pytest.raises(KeyError, match="nope"):
        art.get_entry("nope")
    with pytest.raises(ValueError, match="already has"):
        art.add_file(run_dir / "d/b.txt", name="a.txt")
    with pytest.raises(ValueError, match="already has"), art.new_file("notes/readme.md") as f:
        f.write("again")
    assert art.is_draft() and art.state == "PENDING" and art.aliases == []
    with pytest.raises(nbrun.UsageError, match="log_artifact"):
        art.download()


def test_rule35_bad_input_is_a_typed_error(run_dir: Path) -> None:
    with pytest.raises(ValueError, match="'bad/name'"):
        nbrun.Artifact("bad/name", "model")
    with pytest.raises(ValueError, match="type"):
        nbrun.Artifact("ok", "")
    with pytest.raises(ValueError, match="metadata"):
        nbrun.Artifact("ok", "model", metadata=["x"])  # type: ignore[arg-type]
    art = nbrun.Artifact("ok", "model")
    with pytest.raises(ValueError, match="not a file"):
        art.add_file(run_dir / "missing.bin")
    with pytest.raises(ValueError, match="not a folder"):
        art.add_dir(run_dir / "missing")
    (run_dir / "x").write_text("x")
    with pytest.raises(ValueError, match="relative path"):
        art.add_file(run_dir / "x", name="../x")
    with pytest.raises(ValueError, match="relative path"):
        art.add_file(run_dir / "x", name="/etc/x")
    with pytest.raises(nbrun.UsageError, match="'s3'"):
        art.add_reference("s3://bucket/key")
    run = nbrun.init(project=P)
    art.add_file(run_dir / "x")
    with pytest.raises(ValueError, match="alias 'v3'"):
        run.log_artifact(art, aliases=["v3"])
    with pytest.raises(ValueError, match="alias"):
        run.log_artifact(art, aliases=["a/b"])
    assert art.is_draft()  # the rejected calls stored nothing
    assert nbrun.Api(run_dir).artifact_exists(f"{P}/ok") is False
    run.log_artifact(art)
    with pytest.raises(ValueError, match="has type 'model'"):
        other = nbrun.Artifact("ok", "dataset")
        other.add_file(run_dir / "x")
        run.log_artifact(other)
    with pytest.raises(nbrun.UsageError, match="cannot change"):
        art.add_file(run_dir / "x", name="y")
    with pytest.raises(nbrun.ArtifactNotFoundError, match="ok:v7"):
        run.use_artifact("ok:v7")


# -- versions, content addressing, aliases -------------------------------------------------------
def test_rule35_versions_dedupe_and_latest_moves(run_dir: Path) -> None:
    run = nbrun.init(project=P)
    v0 = run.log_artifact(_model(run_dir, "w1"), aliases=["best"])
    assert (v0.name, v0.version, v0.aliases) == ("net:v0", "v0", ["latest", "best"])
    assert v0.qualified_name == f"{P}/net:v0" and v0.state == "COMMITTED"
    blobs = _blobs(run_dir)
    assert len(blobs) == 2
    # the same content logs no new version; its aliases are added to the stored one
    same = run.log_artifact(_model(run_dir, "w1"), aliases=["again"])
    assert same.version == "v0" and same.aliases == ["latest", "again", "best"]
    v1 = run.log_artifact(_model(run_dir, "w2"))
    assert v1.version == "v1" and v1.aliases == ["latest"]
    # only the changed file added a blob: the unchanged config is stored once
    assert len(_blobs(run_dir)) == 3
    api = nbrun.Api(run_dir)
    assert api.artifact(f"{P}/net:v0").aliases == ["again", "best"]
    assert api.artifact(f"{P}/net").version == "v1"
    assert api.artifact(f"{P}/net:latest").version == "v1"
    v2 = run.log_artifact(_model(run_dir, "w3"), aliases=["best"])  # an alias moves
    assert api.artifact(f"{P}/net:best").version == "v2" == v2.version
    assert [a.version for a in api.artifact_versions("model", f"{P}/net")] == ["v0", "v1", "v2"]
    with pytest.raises(ValueError, match="type 'model'"):
        api.artifact_versions("dataset", f"{P}/net")
    # another run logging the same bytes under another name reuses the blobs too
    other = nbrun.init(project=P, reinit="create_new")
    art = nbrun.Artifact("copy", "model")
    art.add_dir(run_dir / "model")
    other.log_artifact(art)
    assert len(_blobs(run_dir)) == 4  # w1, w2, w3 and the config: nothing new for the copy


def test_rule35_use_download_file_and_lineage_both_ways(run_dir: Path, tmp_path: Path) -> None:
    producer = nbrun.init(project=P, name="producer")
    producer.log({"x": 1})
    logged = producer.log_artifact(_model(run_dir), aliases=["prod"])
    producer.finish()
    consumer = nbrun.init(project=P, name="consumer")
    for ref in ("net:v0", "net:prod", f"{P}/net:prod", f"me/{P}/net:latest", "net"):
        assert consumer.use_artifact(ref).version == "v0"
    art = consumer.use_artifact(logged, aliases=["used"])
    assert "used" in art.aliases
    path = Path(art.download(root=tmp_path / "dl"))
    assert (path / "weights.bin").read_text() == "w1"
    assert (path / "cfg/config.json").read_text() == "{}"
    default = Path(art.download())
    assert default == run_dir / "artifacts" / "net:v0"
    assert (default / "weights.bin").read_text() == "w1"
    entry = art.get_entry("cfg/config.json")
    assert Path(entry.download(tmp_path / "one")).read_text() == "{}"
    with pytest.raises(ValueError, match="exactly"):
        art.file()
    single = nbrun.Artifact("single", "dataset")
    (run_dir / "s.csv").write_text("a,b\n")
    single.add_file(run_dir / "s.csv")
    stored = consumer.log_artifact(single)
    assert Path(stored.file(tmp_path / "f")).read_text() == "a,b\n"
    assert stored.wait() is stored
    # lineage both ways
    consumer.finish()
    api = nbrun.Api(run_dir)
    v0 = api.artifact(f"{P}/net:v0")
    by = v0.logged_by()
    assert by is not None and by.id == producer.id
    assert [r.id for r in v0.used_by()] == [consumer.id]
    view = api.run(f"{P}/{consumer.id}")
    assert [a.name for a in view.used_artifacts()] == ["net:v0"]
    assert [a.name for a in view.logged_artifacts()] == ["single:v0"]
    assert [a.name for a in api.run(f"{P}/{producer.id}").logged_artifacts()] == ["net:v0"]


def test_rule35_add_reference_tracks_files_without_copying(run_dir: Path, tmp_path: Path) -> None:
    ext = _files(tmp_path / "ext", {"big.bin": "data", "more/x.txt": "x"})
    art = nbrun.Artifact("refs", "dataset")
    art.add_reference((ext / "big.bin").as_uri())
    art.add_reference(ext.as_uri(), name="all")
    run = nbrun.init(project=P)
    stored = run.log_artifact(art)
    assert _blobs(run_dir) == []  # references are not copied
    assert stored.get_entry("big.bin").ref == (ext / "big.bin").as_uri()
    out = Path(stored.download(tmp_path / "dl"))
    assert (out / "all/more/x.txt").read_text() == "x"
    (ext / "big.bin").write_text("changed")  # the referenced file no longer matches
    with pytest.raises(nbrun.StoreError, match="do not match"):
        stored.download(tmp_path / "dl2")


def test_rule35_log_artifact_from_a_path(run_dir: Path) -> None:
    _files(run_dir, {"ckpt/model.pt": "m", "single.txt": "s"})
    run = nbrun.init(project=P, id="pathrun")
    art = run.log_artifact("ckpt", type="model")
    assert art.name == "run-pathrun-ckpt:v0" and art.type == "model"
    assert sorted(art.manifest.entries) == ["model.pt"]
    art2 = run.log_artifact(run_dir / "single.txt", name="s")
    assert (art2.name, art2.type) == ("s:v0", "unspecified")
    with pytest.raises(ValueError, match="no file or folder"):
        run.log_artifact("missing")


# -- across processes ------------------------------------------------------------------------------
_CHILD = """
import sys, nbrun
run = nbrun.init(project="arts", dir=sys.argv[1], id="child")
art = nbrun.Artifact("shared", "dataset")
with art.new_file("part.txt") as f:
    f.write(sys.argv[2])
print(run.log_artifact(art, aliases=[sys.argv[3]]).version)
run.finish()
"""


def test_rule35_versions_across_processes(run_dir: Path, tmp_path: Path) -> None:
    def child(text: str, alias: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(run_dir), text, alias],
            capture_output=True,
            text=True,
            env=python_env(),
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert child("one", "first") == "v0"
    run = nbrun.init(project=P)
    art = nbrun.Artifact("shared", "dataset")
    with art.new_file("part.txt") as f:
        f.write("two")
    assert run.log_artifact(art).version == "v1"
    assert child("one", "again") == "v0"  # same content from another process: no new version
    used = run.use_artifact("shared:first")
    assert Path(used.download(tmp_path / "x"), "part.txt").read_text() == "one"
    assert used.aliases == ["again", "first"]
    assert nbrun.Api(run_dir).artifact(f"{P}/shared:latest").version == "v1"


# -- distributed versions, links and models --------------------------------------------------------
def test_rule35_upsert_and_finish_build_one_version_across_a_group(run_dir: Path) -> None:
    runs = [nbrun.init(project=P, group="g1", reinit="create_new", name=f"w{i}") for i in range(3)]
    for i, run in enumerate(runs[:2]):
        part = nbrun.Artifact("sharded", "dataset")
        with part.new_file(f"shard-{i}.txt") as f:
            f.write(str(i))
        pending = run.upsert_artifact(part)
        assert pending.state == "PENDING"
        with pytest.raises(nbrun.UsageError, match="pending"):
            _ = pending.version
    assert not nbrun.Api(run_dir).artifact_exists(f"{P}/sharded")
    last = nbrun.Artifact("sharded", "dataset")
    with last.new_file("shard-2.txt") as f:
        f.write("2")
    done = runs[2].finish_artifact(last, aliases=["full"])
    assert done.version == "v0" and done.aliases == ["latest", "full"]
    assert sorted(done.manifest.entries) == ["shard-0.txt", "shard-1.txt", "shard-2.txt"]
    assert pending.wait(timeout=60).version == "v0"  # a pending handle sees the commit
    logged_by = {r.name for r in runs for a in r.logged_artifacts() if a.name == "sharded:v0"}
    assert logged_by == {"w0", "w1", "w2"}
    lone = nbrun.init(project=P, reinit="create_new")
    with pytest.raises(nbrun.UsageError, match="distributed_id"):
        lone.upsert_artifact(last)


def test_rule35_link_artifact_and_the_model_registry(run_dir: Path) -> None:
    (run_dir / "w.pt").write_text("weights-1")
    run = nbrun.init(project=P, id="reg")
    art = run.log_model(run_dir / "w.pt")
    assert (art.name, art.type) == ("run-reg-w.pt:v0", "model")
    linked = run.link_artifact(art, "model-registry/classifier", aliases=["staging"])
    assert linked.qualified_name == "model-registry/classifier:v0"
    assert linked.aliases == ["latest", "staging"]
    source = linked.source_artifact
    assert source is not None and source.name == "run-reg-w.pt:v0"
    by = linked.logged_by()
    assert by is not None and by.id == "reg"
    (run_dir / "w.pt").write_text("weights-2")
    second = run.link_model(run_dir / "w.pt", "classifier", aliases=["production"])
    assert second.qualified_name == "model-registry/classifier:v1"
    again = run.link_artifact(art, "model-registry/classifier")  # linked already: same version
    assert again.version == "v0"
    api = nbrun.Api(run_dir)
    assert api.artifact("model-registry/classifier:production").version == "v1"
    folder = run.use_model("model-registry/classifier:staging")
    assert (Path(folder) / "w.pt").read_text() == "weights-1"
    (run_dir / "d.csv").write_text("d")
    run.log_artifact(run_dir / "d.csv", name="data", type="dataset")
    with pytest.raises(ValueError, match="not a model"):
        run.use_model("data:latest")


def test_rule35_log_code_defaults(run_dir: Path) -> None:
    _files(run_dir, {"train.py": "print(1)", "pkg/util.py": "x = 1", "notes.md": "n"})
    run = nbrun.init(project=P)
    # the store's own folder is never taken, even for a file that looks like code
    _files(run_dir / "nbrun", {"sneaky.py": "s"})
    art = run.log_code()
    assert art is not None and art.type == "code"
    assert art.name.startswith(f"source-{P}-") and art.version == "v0"
    assert sorted(art.manifest.entries) == ["pkg/util.py", "train.py"]
    md = run.log_code(".", name="docs", include_fn=lambda path, root: path.endswith(".md"))
    assert md is not None and sorted(md.manifest.entries) == ["notes.md"]
    nopkg = run.log_code(name="nopkg", exclude_fn=lambda path, root: "pkg" in path)
    assert nopkg is not None and sorted(nopkg.manifest.entries) == ["train.py"]
    with pytest.warns(UserWarning, match="no files"):
        assert run.log_code(include_fn=lambda p, r: False) is None


def test_rule35_log_code_takes_the_notebook(run_dir: Path) -> None:
    _files(run_dir, {"nb/analysis.ipynb": '{"cells": []}', "nb/helper.py": "h"})
    run = nbrun.init(project=P)
    run.metadata["notebook"] = str(run_dir / "nb/analysis.ipynb")  # as a kernel records it
    art = run.log_code("nb")
    assert art is not None and sorted(art.manifest.entries) == ["analysis.ipynb", "helper.py"]
    assert art.name == f"source-{P}-analysis.ipynb:v0"


def test_rule35_the_calls_hf_and_lightning_integrations_make(run_dir: Path) -> None:
    """``WANDB_LOG_MODEL=end`` in HF Trainer and ``log_model=True`` in Lightning build the
    artifact with these W&B-named calls; the client-level test is in the drop-in."""
    out = _files(run_dir / "output", {"model.safetensors": "st", "config.json": "{}"})
    run = nbrun.init(project=P)
    art = nbrun.Artifact(name=f"model-{run.id}", type="model", metadata={"epoch": 3})
    art.add_dir(str(out))
    with art.new_file("README.md", mode="w") as f:
        f.write("trained")
    logged = run.log_artifact(art, aliases=["latest", "best", "epoch_3"])
    assert logged.version == "v0" and set(logged.aliases) == {"latest", "best", "epoch_3"}
    ckpt = run_dir / "epoch=3.ckpt"
    ckpt.write_text("ckpt")
    lit = nbrun.Artifact(name=f"model-{run.id}", type="model", metadata={"score": 0.5})
    lit.add_file(str(ckpt), name="model.ckpt")
    v1 = run.log_artifact(lit, aliases=["latest"])
    assert v1.version == "v1" and v1.metadata == {"score": 0.5}
    assert nbrun.Api(run_dir).artifact(f"{P}/model-{run.id}:best").version == "v0"
    # HF puts the summary's numbers in the metadata: numpy scalars become plain numbers
    import numpy as np  # a dependency of pandas, which nbrun needs

    hf = nbrun.Artifact(
        name="hf", type="model", metadata={"loss": np.float32(0.5), "n": np.int64(3)}
    )
    with hf.new_file("pytorch_model.bin", mode="wb") as fb:
        fb.write(b"\x00\x01")
    stored = run.log_artifact(hf)
    assert stored.metadata == {"loss": 0.5, "n": 3}
    assert Path(stored.file(run_dir / "hfdl")).read_bytes() == b"\x00\x01"


def test_rule35_disabled_mode_accepts_the_artifact_calls(run_dir: Path) -> None:
    run = nbrun.init(project=P, mode="disabled")
    art = nbrun.Artifact("x", "model")
    assert run.log_artifact(art) is art
    assert run.log_model("somewhere") is None
    assert run.logged_artifacts() == [] and run.files() == []
    assert not (run_dir / "nbrun").exists()


def test_rule35_artifact_tables_after_upgrading_a_version1_database(run_dir: Path) -> None:
    code = (
        "import sys, nbrun, nbrun._store as s\n"
        "s.MIGRATIONS.clear()\n"
        "run = nbrun.init(project='arts', dir=sys.argv[1], id='old')\n"
        "run.log({'x': 1})\n"
        "run.finish()\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(run_dir)], check=True, env=python_env(), timeout=60
    )
    db = run_dir / "nbrun" / _store.DB_NAME
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
    conn.close()
    _store.Store._instances.pop((run_dir / "nbrun").resolve(), None)
    run = nbrun.init(project=P, id="old", resume="allow")
    (run_dir / "f.txt").write_text("f")
    art = run.log_artifact(run_dir / "f.txt", name="after-upgrade")
    assert art.version == "v0"
    assert [a.name for a in run.logged_artifacts()] == ["after-upgrade:v0"]
    run.finish()
    conn = sqlite3.connect(db)
    version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    conn.close()
    assert version == str(_store.SCHEMA_VERSION)


def test_rule35_a_version_from_another_directory_is_copied_in(run_dir: Path) -> None:
    first = nbrun.init(project=P, dir=run_dir / "one")
    (run_dir / "w.bin").write_bytes(b"w" * 100)
    stored = first.log_artifact(run_dir / "w.bin", name="moved", type="model")
    first.finish()
    second = nbrun.init(project=P, dir=run_dir / "two")
    used = second.use_artifact(nbrun.Api(run_dir / "one").artifact(f"{P}/moved:v0"))
    assert used.qualified_name == f"{P}/moved:v0" and used.digest == stored.digest
    assert Path(used.file(run_dir / "out")).read_bytes() == b"w" * 100
    assert len(_blobs(run_dir / "two")) == 1


def test_rule35_edit_aliases_metadata_and_description_then_save(run_dir: Path) -> None:
    run = nbrun.init(project=P)
    run.log_artifact(_model(run_dir, "w1"))
    run.log_artifact(_model(run_dir, "w2"))
    api = nbrun.Api(run_dir)
    v0 = api.artifact(f"{P}/net:v0")
    v0.aliases.append("production")
    v0.metadata = {**v0.metadata, "approved": True}
    v0.description = "the first net"
    assert v0.save() is v0
    again = nbrun.Api(run_dir).artifact(f"{P}/net:production")
    assert again.version == "v0" and again.aliases == ["production"]
    assert again.metadata == {"acc": 0.9, "approved": True}
    assert again.description == "the first net"
    assert again.digest == v0.digest  # its files never change
    again.aliases.remove("production")
    again.aliases = [*again.aliases, "archived"]
    again.save()
    assert api.artifact(f"{P}/net:v0").aliases == ["archived"]
    assert not api.artifact_exists(f"{P}/net:production")
    latest = api.artifact(f"{P}/net:latest")
    latest.aliases.remove("latest")  # latest always stays on the newest version
    latest.save()
    assert api.artifact(f"{P}/net:latest").version == "v1"
    with pytest.raises(ValueError, match="alias 'v9'"):
        latest.aliases = ["v9"]
    # a draft's save() logs it with the current run
    draft = nbrun.Artifact("drafted", "dataset")
    with draft.new_file("x.txt") as f:
        f.write("x")
    assert draft.save().version == "v0"
    assert [a.name for a in run.logged_artifacts()][-1] == "drafted:v0"
    run.finish()
    lone = nbrun.Artifact("lone", "dataset")
    with pytest.raises(nbrun.UsageError, match="needs a run"):
        lone.save()


_SHARD = """
import sys, nbrun
run = nbrun.init(project="arts", dir=sys.argv[1], group="dist", name="shard" + sys.argv[2])
part = nbrun.Artifact("corpus", "dataset", metadata={"shard" + sys.argv[2]: True})
with part.new_file("shard-" + sys.argv[2] + ".txt") as f:
    f.write(sys.argv[2] * 1000)
print(run.upsert_artifact(part).state)
run.finish()
"""


def test_rule35_distributed_version_built_by_several_processes(run_dir: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SHARD, str(run_dir), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=python_env(),
        )
        for i in range(3)
    ]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and out.strip() == "PENDING", err
    run = nbrun.init(project=P, group="dist")
    done = run.finish_artifact(nbrun.Artifact("corpus", "dataset"))
    assert done.version == "v0"
    assert sorted(done.manifest.entries) == ["shard-0.txt", "shard-1.txt", "shard-2.txt"]
    assert done.metadata == {"shard0": True, "shard1": True, "shard2": True}
    out = Path(done.download(run_dir / "dl"))
    assert (out / "shard-2.txt").read_text() == "2" * 1000
