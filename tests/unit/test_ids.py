"""Identity (run-semantics rules 3-6): run ids, generated names, projects, entity, tags."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import nbrun
from nbrun import _ids

P = "ids"


def _init(**kwargs: object) -> nbrun.Run:
    kwargs.setdefault("project", P)
    kwargs.setdefault("reinit", "create_new")
    return nbrun.init(**kwargs)  # type: ignore[arg-type]


# -- rule 3: run ids --------------------------------------------------------------------------
def test_rule03_default_id_is_8_chars_of_a_z_0_9(run_dir: Path) -> None:
    ids = {_init().id for _ in range(5)}
    assert len(ids) == 5  # random, not a counter or a constant
    for run_id in ids:
        assert re.fullmatch(r"[a-z0-9]{8}", run_id), run_id
    # a large sample uses letters and digits alike
    sample = "".join(_ids.generate_id() for _ in range(300))
    assert set(sample) == set("abcdefghijklmnopqrstuvwxyz0123456789")


def test_rule03_given_id_is_kept(run_dir: Path) -> None:
    run = _init(id="my-run_1.v2")
    assert run.id == "my-run_1.v2"
    assert nbrun.Api(run_dir).run(f"{P}/my-run_1.v2").id == "my-run_1.v2"


def test_rule03_id_of_64_chars_is_accepted_65_rejected(run_dir: Path) -> None:
    assert _init(id="a" * 64).id == "a" * 64
    with pytest.raises(nbrun.UsageError, match="65 characters"):
        _init(id="b" * 65)


@pytest.mark.parametrize("ch", ["/", "\\", "#", "?", "%", ":", ";", ",", "'"])
def test_rule03_id_with_forbidden_character_raises_usageerror_naming_it(
    run_dir: Path, ch: str
) -> None:
    bad = f"ab{ch}cd"
    with pytest.raises(nbrun.UsageError) as err:
        _init(id=bad)
    assert repr(ch) in str(err.value)
    assert not (run_dir / "nbrun" / "runs" / P / bad).exists()


@pytest.mark.parametrize("bad", ["ab\ncd", "ab\tcd", "ab\x00cd", "ab\x7fcd"])
def test_rule03_id_with_control_character_raises_usageerror_naming_it(
    run_dir: Path, bad: str
) -> None:
    ch = next(c for c in bad if not c.isalnum())
    with pytest.raises(nbrun.UsageError) as err:
        _init(id=bad)
    assert repr(ch) in str(err.value)


@pytest.mark.parametrize("bad", ["", " ab", "ab ", "\tab"])
def test_rule03_empty_or_padded_id_raises_usageerror(run_dir: Path, bad: str) -> None:
    with pytest.raises(nbrun.UsageError) as err:
        _init(id=bad)
    assert repr(bad) in str(err.value)
    assert nbrun.Api(run_dir).runs(P) == []


# -- rule 4: names ----------------------------------------------------------------------------
def test_rule04_default_name_is_two_words_and_a_counter(run_dir: Path) -> None:
    names = [_init().name for _ in range(3)]
    for i, name in enumerate(names, start=1):
        m = re.fullmatch(r"([a-z]+)-([a-z]+)-(\d+)", name)
        assert m, name
        assert int(m.group(3)) == i  # counts the runs of the project
    # the counter is per project
    other = _init(project="other-project")
    assert other.name.endswith("-1")


def test_rule04_names_are_not_unique_and_can_be_changed(run_dir: Path, api: nbrun.Api) -> None:
    a = _init(name="same")
    b = _init(name="same")
    assert a.name == b.name == "same" and a.id != b.id
    a.name = "renamed"
    assert a.name == "renamed"
    assert api.run(f"{P}/{a.id}").name == "renamed"
    assert api.run(f"{P}/{b.id}").name == "same"
    with pytest.raises(nbrun.UsageError, match="''"):
        a.name = ""


# -- rule 5: project and entity ---------------------------------------------------------------
def test_rule05_default_project_is_uncategorized(run_dir: Path) -> None:
    run = nbrun.init(reinit="create_new")
    assert run.project == "uncategorized"


def test_rule05_default_project_is_git_repo_dir_name(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = run_dir / "my-repo"
    sub = repo / "src" / "deep"
    sub.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    run = nbrun.init(dir=sub, reinit="create_new")  # cwd is run_dir: not a repo yet
    assert run.project == "uncategorized"
    run.finish()
    monkeypatch.chdir(sub)
    run = nbrun.init(reinit="create_new")
    assert run.project == "my-repo"


def test_rule05_project_of_128_chars_accepted_129_rejected(run_dir: Path) -> None:
    assert _init(project="p" * 128).project == "p" * 128
    with pytest.raises(nbrun.UsageError, match="129 characters"):
        _init(project="q" * 129)


@pytest.mark.parametrize("ch", ["/", "\\", "#", "?", "%", ":"])
def test_rule05_project_with_forbidden_character_raises_usageerror(run_dir: Path, ch: str) -> None:
    with pytest.raises(nbrun.UsageError) as err:
        _init(project=f"pro{ch}ject")
    assert repr(ch) in str(err.value)
    assert repr(f"pro{ch}ject") in str(err.value)


def test_rule05_project_may_hold_characters_ids_may_not(run_dir: Path) -> None:
    # ; , ' are forbidden in ids but not in projects
    assert _init(project="a;b,c'd").project == "a;b,c'd"


def test_rule05_entity_defaults_to_user_and_path_is_entity_project_id(run_dir: Path) -> None:
    import getpass

    run = _init(id="r1")
    assert run.entity == getpass.getuser()
    assert run.path == f"{getpass.getuser()}/{P}/r1"
    run2 = _init(id="r2", entity="team")
    assert run2.entity == "team"
    assert run2.path == f"team/{P}/r2"


# -- rule 6: tags -----------------------------------------------------------------------------
def test_rule06_tags_are_a_tuple(run_dir: Path, api: nbrun.Api) -> None:
    run = _init(tags=["a", "b"])
    assert run.tags == ("a", "b")
    assert isinstance(run.tags, tuple)
    assert _init().tags == ()
    assert api.run(f"{P}/{run.id}").tags == ("a", "b")


def test_rule06_bare_string_is_one_tag(run_dir: Path) -> None:
    # W&B would split "baseline" into characters
    assert _init(tags="baseline").tags == ("baseline",)


def test_rule06_tag_length_1_to_64(run_dir: Path) -> None:
    assert _init(tags=["x", "y" * 64]).tags == ("x", "y" * 64)
    with pytest.raises(nbrun.UsageError) as err:
        _init(tags=["ok", ""])
    assert "''" in str(err.value)
    with pytest.raises(nbrun.UsageError) as err:
        _init(tags=["z" * 65])
    assert "65" in str(err.value)


def test_rule06_tags_assignment_replaces_and_plus_equals_appends(
    run_dir: Path, api: nbrun.Api
) -> None:
    run = _init(tags=("a",))
    run.tags = ("b", "c")
    assert run.tags == ("b", "c")
    run.tags += ("d",)
    assert run.tags == ("b", "c", "d")
    assert api.run(f"{P}/{run.id}").tags == ("b", "c", "d")
    with pytest.raises(nbrun.UsageError):
        run.tags = ("",)
    assert run.tags == ("b", "c", "d")


# -- rule 43: names are folder names, limited in bytes ---------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "shown", "size"),
    [
        ({"id": "\N{GRINNING FACE}" * 64}, "run id", 256),
        ({"project": "\N{GRINNING FACE}" * 100}, "project", 400),
        ({"id": "\N{GRINNING FACE}" * 50 + "x"}, "run id", 201),
    ],
    ids=["64-emoji-id", "100-emoji-project", "201-byte-id"],
)
def test_rule43_a_name_too_long_in_bytes_is_refused_before_anything_is_written(
    run_dir: Path, kwargs: dict[str, str], shown: str, size: int
) -> None:
    """Rule 3 counts characters; a folder name has at most 255 bytes. On the old code a
    64-emoji id gave a raw OSError [Errno 36] and left an orphan run that read ``crashed``."""
    with pytest.raises(nbrun.UsageError, match=f"{shown} .*: {size} bytes in UTF-8; at most 200"):
        nbrun.init(project=kwargs.get("project", "p"), id=kwargs.get("id"), dir=str(run_dir))
    if (run_dir / "nbrun" / "nbrun.db").exists():
        assert list(nbrun.Api(str(run_dir)).runs()) == []
    runs = run_dir / "nbrun" / "runs"
    assert not runs.exists() or not any(runs.rglob("*"))
    assert nbrun.run is None


def test_rule43_names_up_to_the_byte_limit_are_stored(run_dir: Path) -> None:
    run_id = "\N{GRINNING FACE}" * 50  # 200 bytes
    project = "\N{GRINNING FACE}" * 25 + "\u00e9" * 50  # 200 bytes
    run = nbrun.init(project=project, id=run_id, dir=str(run_dir))
    run.log({"a": 1.0})
    run.finish()
    assert Path(run.dir).is_dir()
    stored = nbrun.Api(str(run_dir)).run(f"{project}/{run_id}")
    assert stored.state == "finished" and stored.history()["a"].tolist() == [1.0]
    with pytest.raises(nbrun.UsageError, match=r"project .*: 201 bytes in UTF-8; at most 200"):
        stored.move(project + "x")
    with pytest.raises(nbrun.UsageError, match=r"run id .*: 204 bytes in UTF-8"):
        nbrun.init(project="p", dir=str(run_dir), fork_from=f"{run_id}\N{GRINNING FACE}?_step=0")


@pytest.mark.parametrize("kwargs", [{"id": "a\ud800"}, {"project": "p\udcff"}])
def test_rule43_a_lone_surrogate_in_a_name_is_a_usageerror(
    run_dir: Path, kwargs: dict[str, str]
) -> None:
    """It has no UTF-8 form, so no folder name: the old code raised a raw UnicodeEncodeError."""
    with pytest.raises(nbrun.UsageError, match="lone surrogate"):
        nbrun.init(dir=str(run_dir), **kwargs)  # type: ignore[arg-type]
    runs = run_dir / "nbrun" / "runs"
    assert not runs.exists() or not any(runs.rglob("*"))
