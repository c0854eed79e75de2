"""W&B's own examples, run as their users run them (issue 21, items 9-17): media from open
files (rule 23), batched image tensors as a grid (rule 23), Table cells that take what ``log``
takes (rule 23), ``plot.line_series`` with one shared xs (rule 23), registry names with spaces
(rule 35), ``Artifact.add`` / ``Artifact.get`` of media (rule 35) and Lightning's
``WandbLogger.watch(log="all")`` (rule 39). Real libraries (torch, Lightning), no mocks."""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image as PIL
import pytest

import nbrun
import nbrun as wandb
from nbrun.errors import StoreError, UsageError
from tests.conftest import BACKENDS, where
from tests.integration.test_wandb_clients import run_script

OBJ = "o Cube\nv 1 -1 -1\nv 1 -1 1\nv -1 -1 1\nv -1 -1 -1\nf 1 2 3\nf 1 3 4\n"


def _history(run_dir: Path, run: nbrun.Run) -> Any:
    return nbrun.Api(where(run_dir)).run(f"{run.project}/{run.id}").history()


# -- rule 23: media from open file objects ------------------------------------------------------
def test_rule23_object3d_takes_the_seed_example_open_file_text_or_binary(run_dir: Path) -> None:
    """W&B's ``wandb.Object3D(open("sample.obj"))``: a text-mode file, its format from its
    name; binary mode and an in-memory file with ``file_type=`` work too."""
    sample = run_dir / "sample.obj"
    sample.write_text(OBJ)
    with wandb.init(project="m", dir=where(run_dir)) as run:
        with open(sample) as f0:  # W&B's example: wandb.Object3D(open("sample.obj"))
            text = wandb.Object3D(f0)
        with open(sample, "rb") as f:
            binary = wandb.Object3D(f)
        mem = wandb.Object3D(io.StringIO(OBJ), file_type="obj")
        assert text.format == binary.format == mem.format == "obj"
        run.log({"text": text, "binary": binary, "mem": mem})
    row = _history(run_dir, run).iloc[0]
    for key in ("text", "binary", "mem"):
        obj = row[key]
        assert isinstance(obj, wandb.Object3D) and obj.format == "obj"
        assert Path(obj.path).read_bytes() == OBJ.encode()
    # stored once: the three are the same bytes
    assert row["text"].path == row["binary"].path == row["mem"].path


def _wav_bytes() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.arange(100, dtype="<i2").tobytes())
    return buf.getvalue()


def test_rule23_every_media_type_wandb_documents_with_files_takes_an_open_file(
    run_dir: Path,
) -> None:
    png = run_dir / "digit.png"
    pixels = (np.arange(12 * 10 * 3) % 251).astype(np.uint8).reshape(12, 10, 3)
    PIL.fromarray(pixels).save(png)
    gif = run_dir / "clip.gif"
    frames = [PIL.fromarray(np.full((4, 4), v, np.uint8)) for v in (0, 255)]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    wav = run_dir / "tone.wav"
    wav.write_bytes(_wav_bytes())
    page = run_dir / "page.html"
    page.write_text("<h1>hi</h1>")
    with wandb.init(project="m", dir=where(run_dir)) as run:
        with open(png, "rb") as f1, open(gif, "rb") as f2, open(wav, "rb") as f3:
            image, video, audio = wandb.Image(f1), wandb.Video(f2), wandb.Audio(f3)
        with open(page) as f4:
            html = wandb.Html(f4)
        assert (video.format, audio.format) == ("gif", "wav")
        run.log({"image": image, "video": video, "audio": audio, "html": html})
    row = _history(run_dir, run).iloc[0]
    assert np.array_equal(row["image"].numpy(), pixels)
    assert Path(row["video"].path).read_bytes() == gif.read_bytes()
    assert Path(row["audio"].path).read_bytes() == wav.read_bytes()
    assert row["html"].html == "<h1>hi</h1>"


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: wandb.Object3D(io.StringIO(OBJ)), ValueError, ["file_type=", "obj"]),
        (lambda: wandb.Object3D(io.StringIO(OBJ), file_type="xyz"), ValueError, ["'xyz'"]),
        (lambda: wandb.Image(io.StringIO("not png")), TypeError, ["binary mode"]),
        (lambda: wandb.Image(io.BytesIO(b"not png")), ValueError, ["not an image file"]),
        (lambda: wandb.Video(io.StringIO("x"), format="mp4"), TypeError, ["binary mode"]),
        (lambda: wandb.Audio(io.BytesIO(b"x")), ValueError, ["open the file by its name", "wav"]),
    ],
)
def test_rule23_a_file_object_nbrun_cannot_read_is_a_typed_error(make, error, words) -> None:
    with pytest.raises(error) as info:
        make()
    for w in words:
        assert w in str(info.value)


# -- rule 23: a batch of image tensors is a grid ----------------------------------------------
def _wandb_grid(batch: Any, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """What W&B stores for a tensor: torchvision's ``make_grid(t, normalize=True)`` (written
    out from its documented definition; torchvision is not installed), then
    ``mul(255).clamp(0, 255).byte()``, channels last."""
    import torch

    t = batch.float()
    if t.shape[1] == 1:
        t = torch.cat((t, t, t), 1)
    lo, hi = float(t.min()), float(t.max())
    t = (t.clamp(lo, hi) - lo) / max(hi - lo, 1e-5)
    n, c, h, w = t.shape
    if n == 1:
        grid = t[0]
    else:
        cols = min(nrow, n)
        rows = math.ceil(n / cols)
        grid = torch.zeros((c, rows * (h + padding) + padding, cols * (w + padding) + padding))
        for k in range(n):
            y, x = divmod(k, cols)
            grid[:, y * (h + padding) + padding :][:, :h, x * (w + padding) + padding :][
                :, :, :w
            ] = t[k]
    return grid.mul(255).clamp(0, 255).byte().permute(1, 2, 0).numpy()


@pytest.mark.parametrize("shape", [(1, 1, 28, 28), (10, 1, 6, 5), (3, 3, 4, 4), (16, 4, 2, 3)])
def test_rule23_image_of_a_batched_tensor_is_wandbs_grid(shape: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    batch = torch.randn(*shape)
    got = wandb.Image(batch).numpy()
    want = _wandb_grid(batch)
    if got.ndim == 2:  # one channel stays grey: W&B repeats it into three equal channels
        got = np.repeat(got[:, :, None], 3, axis=2)
    assert got.shape == want.shape
    assert int(np.abs(got.astype(int) - want.astype(int)).max()) <= 1  # float32 vs float64


def test_rule23_wandbs_artifacts_tutorial_logs_a_batch_of_one(run_dir: Path) -> None:
    """W&B's artifacts pipeline tutorial: ``wandb.Image(x)`` of a (1, 1, 28, 28) tensor."""
    torch = pytest.importorskip("torch")
    x = torch.rand(1, 1, 28, 28)
    with wandb.init(project="m", dir=where(run_dir)) as run:
        run.log({"example": wandb.Image(x, caption="digit")})
    img = _history(run_dir, run)["example"][0]
    assert (img.width, img.height) == (28, 28)
    assert np.array_equal(img.numpy(), wandb.Image(x[0]).numpy())


def test_rule23_a_tensor_that_is_no_image_batch_is_a_clear_error() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=r"\(4, 2, 5, 5\).*C = 1, 3 or 4"):
        wandb.Image(torch.zeros(4, 2, 5, 5))
    with pytest.raises(ValueError, match=r"\(2, 1, 0, 5\)"):
        wandb.Image(torch.zeros(2, 1, 0, 5))


# -- rule 23: Table cells take what log takes -------------------------------------------------
def test_rule23_table_cells_take_zero_dim_tensors_as_wandbs_intro_notebook(
    run_dir: Path,
) -> None:
    """W&B's intro notebook: ``table.add_data(wandb.Image(x), pred, targ, *probs)`` with
    ``pred``/``targ`` from ``argmax`` and ``probs`` a softmax row: 0-dim tensors."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    images = torch.rand(3, 1, 8, 8)
    logits = torch.randn(3, 4)
    labels = torch.tensor([1, 0, 3])
    table = wandb.Table(columns=["image", "pred", "target"] + [f"score_{i}" for i in range(4)])
    for img, pred, targ, prob in zip(
        images, logits.argmax(1), labels, logits.softmax(dim=1), strict=True
    ):
        table.add_data(wandb.Image(img[0].numpy() * 255), pred, targ, *prob)
    table.add_data(wandb.Image(np.zeros((2, 2))), np.int64(2), np.uint8(1), *np.float32([0.25] * 4))
    with wandb.init(project="m", dir=where(run_dir)) as run:
        run.log({"predictions": table})
    stored = _history(run_dir, run)["predictions"][0]
    for i in range(3):
        row = stored.data[i]
        assert row[1] == int(logits[i].argmax()) and isinstance(row[1], int)
        assert row[2] == int(labels[i])
        assert row[3:] == pytest.approx(logits.softmax(dim=1)[i].tolist())
    assert stored.data[3][1:] == [2, 1, 0.25, 0.25, 0.25, 0.25]
    # what log refuses, a cell refuses with the same sentence
    with pytest.raises(TypeError, match=r"row 0, column 'a'.*what run\.log takes"):
        wandb.Table(columns=["a"], data=[[object()]])


# -- rule 23: line_series with one shared xs ---------------------------------------------------
def test_rule23_line_series_pairs_shorter_ys_with_the_shared_xs_as_wandbs_basic_plots() -> None:
    """W&B's ``standalone_tests/basic_plots.py``: one xs of 100 values, ys of 100 and 50."""
    ys = [
        [math.sin(i / 10) for i in range(100)],
        [math.cos(i / 10) for i in range(100)],
        [math.cos(i / 10) for i in range(50)],
        [-math.cos(i / 10) for i in range(50)],
    ]
    keys = [f"y_{i}" for i in range(4)]
    chart = wandb.plot.line_series(list(range(100)), ys, keys, title="one x", xname="step")
    rows = chart.table.data
    assert len(rows) == 300
    for key, y in zip(keys, ys, strict=True):
        mine = [(r[2], r[1]) for r in rows if r[0] == key]
        assert mine == list(enumerate(y))  # point i of each series at x = xs[i]
    # a series with more values than the shared xs has values without an x
    with pytest.raises(ValueError, match=r"'key_0' has 3 ys, more than the 2 shared xs"):
        wandb.plot.line_series([0, 1], [[1, 2, 3]])
    with pytest.raises(ValueError, match="has 2 xs and 3 ys"):
        wandb.plot.line_series([[0, 1]], [[1, 2, 3]])


# -- rule 35: registry names as W&B accepts them ----------------------------------------------
def test_rule35_link_artifact_to_a_registered_model_name_with_spaces(
    run_dir: Path, api: nbrun.Api
) -> None:
    weights = run_dir / "model.pt"
    weights.write_bytes(b"weights")
    with wandb.init(project="mnist", dir=where(run_dir)) as run:
        art = wandb.Artifact("mnist-model", type="model")
        art.add_file(str(weights))
        run.log_artifact(art)
        linked = run.link_artifact(art, "model-registry/MNIST Classifier", aliases=["prod"])
        assert linked.name == "MNIST Classifier:v0"
        run.link_model(str(weights), "Digit Recogniser (small)")
    got = api.artifact("model-registry/MNIST Classifier:prod")
    assert got.qualified_name == "model-registry/MNIST Classifier:v0"
    assert got.source_artifact is not None and got.source_artifact.name == "mnist-model:v0"
    folder = Path(got.download())
    assert folder == run_dir / "artifacts" / "MNIST Classifier:v0"
    assert (folder / "model.pt").read_bytes() == b"weights"
    assert api.artifact("model-registry/Digit Recogniser (small):latest").type == "model"
    with wandb.init(project="mnist", dir=where(run_dir)) as run:
        path = run.use_model("model-registry/MNIST Classifier:latest")
        assert Path(path) == folder


@pytest.mark.parametrize(
    "target",
    [
        "model-registry/..",
        "model-registry/.",
        "a/b/../../etc",
        "model-registry/x\\..\\..\\y",
        "model-registry/ padded",
        "model-registry/tab\there",
        "model-registry/" + "x" * 129,
        "model-registry/",
    ],
)
def test_rule35_a_registry_name_that_could_leave_its_folder_is_refused(
    target: str, run_dir: Path, api: nbrun.Api
) -> None:
    weights = run_dir / "model.pt"
    weights.write_bytes(b"w")
    with wandb.init(project="mnist", dir=where(run_dir)) as run:
        art = run.log_artifact(str(weights), name="m", type="model")
        with pytest.raises(ValueError, match="link_artifact"):
            run.link_artifact(art, target)
    assert api.artifact_versions("model", "model-registry/m") == []
    assert not (run_dir / "artifacts").exists()


# -- rule 35: Artifact.add / Artifact.get ---------------------------------------------------
@pytest.mark.parametrize("store_backend", BACKENDS, indirect=True)
def test_rule35_artifact_add_and_get_media_as_wandbs_reference(
    run_dir: Path, api: nbrun.Api
) -> None:
    pixels = (np.arange(8 * 8 * 3) % 251).astype(np.uint8).reshape(8, 8, 3)
    table = wandb.Table(columns=["id", "image", "score"])
    table.add_data(0, wandb.Image(pixels, caption="first"), 0.5)
    table.add_data(1, wandb.Image(pixels[::-1]), 0.25)
    samples = np.sin(np.linspace(0, 6, 400))
    with wandb.init(project="data", dir=where(run_dir)) as run:
        art = wandb.Artifact("dataset", type="dataset")
        entry = art.add(table, "my_table")
        assert entry.path == "my_table.table.json"
        assert art.add(table, "my_table") is entry  # the same name again: the same entry
        art.add(wandb.Image(pixels), "cover")
        art.add(wandb.Audio(samples, sample_rate=8000), "tone")
        art.add(wandb.Histogram([1, 2, 2, 3]), "counts")
        art.add(wandb.Html("<p>notes</p>"), "notes")
        with pytest.raises(UsageError, match="logged artifact"):
            art.get("my_table")
        run.log_artifact(art)
    stored = api.artifact("data/dataset:latest")
    names = set(stored.manifest.entries)
    assert {"my_table.table.json", "cover.image-file.json", "tone.audio-file.json"} <= names
    got = stored.get("my_table")
    assert isinstance(got, wandb.Table) and got.columns == ["id", "image", "score"]
    assert [r[0] for r in got.data] == [0, 1] and [r[2] for r in got.data] == [0.5, 0.25]
    assert np.array_equal(got.data[0][1].numpy(), pixels) and got.data[0][1].caption == "first"
    assert np.array_equal(got.data[1][1].numpy(), pixels[::-1])
    assert stored.get("my_table.table.json").columns == got.columns
    assert np.array_equal(stored.get("cover").numpy(), pixels)
    assert stored.get("tone").numpy().shape == (400, 1)
    assert stored.get("counts").histogram == wandb.Histogram([1, 2, 2, 3]).histogram
    assert stored.get("notes").html == "<p>notes</p>"
    assert stored.get("missing") is None
    # the same image in the table and as "cover": one entry, one blob
    pngs = [n for n in names if n.startswith("media/images/")]
    assert len(pngs) == 2
    # a table read from an artifact logs into a run with its images
    with wandb.init(project="data", dir=where(run_dir)) as run:
        run.use_artifact("dataset:latest")
        run.log({"again": stored.get("my_table")})
    again = api.run(f"data/{run.id}").history()["again"][0]
    assert np.array_equal(again.data[1][1].numpy(), pixels[::-1])
    # and a table read from a run's history goes into an artifact with its images
    with wandb.init(project="data", dir=where(run_dir)) as run:
        art = wandb.Artifact("from-history", type="dataset")
        art.add(again, "copied")
        run.log_artifact(art)
    copied = api.artifact("data/from-history:latest").get("copied")
    assert np.array_equal(copied.data[0][1].numpy(), pixels)
    assert np.array_equal(copied.data[1][1].numpy(), pixels[::-1])


def test_rule35_images_added_to_two_artifacts_are_stored_once(run_dir: Path) -> None:
    """W&B's image de-duplication example: the same images in tables of two artifacts."""
    rng = np.random.default_rng(0)
    raw = [rng.integers(0, 256, (6, 6, 3), dtype=np.uint8) for _ in range(4)]
    with wandb.init(project="dedup", dir=where(run_dir)) as run:
        for name in ("train", "val"):
            table = wandb.Table(columns=["id", "image"])
            for i, img in enumerate(raw):
                table.add_data(i, wandb.Image(img))
            art = wandb.Artifact(f"{name}-images", type="dataset")
            art.add(table, "images")
            run.log_artifact(art)
    api = nbrun.Api(where(run_dir))
    digests = [
        e.digest
        for name in ("train", "val")
        for p, e in api.artifact(f"dedup/{name}-images:latest").manifest.entries.items()
        if p.startswith("media/images/")
    ]
    assert len(digests) == 8 and len(set(digests)) == 4
    blobs = {p.name for p in (run_dir / "nbrun" / "artifacts" / "blobs").glob("*/*")}
    assert set(digests) <= blobs


def test_rule35_artifact_add_refuses_what_is_not_media_and_get_refuses_damage(
    run_dir: Path,
) -> None:
    art = wandb.Artifact("x", type="dataset")
    with pytest.raises(TypeError, match="dict is not an nbrun media object"):
        art.add({"a": 1}, "a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"'\.\./up'"):
        art.add(wandb.Image(np.zeros((2, 2))), "../up")
    assert art.manifest.entries == {}
    with wandb.init(project="d", dir=str(run_dir)) as run:
        art.add(wandb.Image(np.zeros((2, 2))), "img")
        run.log_artifact(art)
    stored = nbrun.Api(run_dir).artifact("d/x:latest")
    (png,) = [e for p, e in stored.manifest.entries.items() if p.startswith("media/")]
    blob = run_dir / "nbrun" / "artifacts" / "blobs" / png.digest[:2] / png.digest
    blob.write_bytes(b"damaged")
    with pytest.raises(StoreError, match="damaged"):
        stored.get("img")


# -- rule 39: Lightning's WandbLogger.watch(log="all") -----------------------------------------
def test_rule39_watch_logs_parameters_of_modules_called_directly(run_dir: Path) -> None:
    """A wrapper whose own forward is never called (Lightning's ``training_step`` calls
    ``self.net(x)``): its parameters are still logged, under their names in the model."""
    torch = pytest.importorskip("torch")

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
            self.scale = torch.nn.Parameter(torch.ones(1))

    model = Wrapper()
    with wandb.init(project="w", dir=where(run_dir)) as run:
        run.watch(model, log="all", log_freq=2, idx=0)  # idx 0: no graph_<i> prefix
        for _ in range(4):
            loss = (model.net(torch.randn(5, 3)) * model.scale).pow(2).mean()
            loss.backward()
            run.log({"loss": loss})
    hist = _history(run_dir, run)
    params = {c for c in hist.columns if c.startswith("parameters/")}
    assert params == {f"parameters/net.{i}.{k}" for i in (0, 1) for k in ("weight", "bias")}
    grads = {c for c in hist.columns if c.startswith("gradients/")}
    assert grads == {p.replace("parameters/", "gradients/") for p in params} | {"gradients/scale"}
    # every 2nd forward of each module: rows 1 and 3, as W&B counts
    logged = hist["parameters/net.0.weight"].notna().tolist()
    assert logged == [False, True, False, True]
    assert isinstance(hist["parameters/net.1.bias"][1], wandb.Histogram)


@pytest.mark.slow
def test_rule39_lightning_wandb_logger_watch_all_logs_parameters_and_gradients(
    tmp_path: Path,
) -> None:
    out = run_script("lightning_watch.py", tmp_path, str(tmp_path))
    run_id, project = out.split("RUN ")[1].split()
    view = nbrun.Api(tmp_path).run(f"{project}/{run_id}")
    hist = view.history()
    names = [f"net.{i}.{k}" for i in (0, 2) for k in ("weight", "bias")]
    for kind in ("parameters", "gradients"):
        for name in names:
            column = hist[f"{kind}/{name}"].dropna()
            assert len(column) > 0, f"{kind}/{name}"
            first = column.iloc[0]
            assert isinstance(first, nbrun.Histogram) and sum(first.histogram) > 0
