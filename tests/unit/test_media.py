"""Rich data in runs (issue 11): each media type round-trips through ``run.log`` and
``history()``; W&B's Run.log examples run with ``import nbrun as wandb``; bad input is refused
before anything is logged; files are content-addressed, deduplicated and never read from
outside a run folder; forks share their parent's files and rewinds archive media rows."""

from __future__ import annotations

import io
import json
import os
import wave
from pathlib import Path

import numpy as np
import PIL.Image as PIL
import pytest

import nbrun
import nbrun as wandb
from nbrun.media import Resolver


def media_files(run: nbrun.Run, kind: str = "images") -> list[Path]:
    folder = Path(run.dir) / "media" / kind
    return (
        sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []
    )


# -- each type round-trips ------------------------------------------------------------------
def test_image_from_numpy_round_trips_losslessly(run_dir: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, size=(7, 5), dtype=np.uint8)
    rgba = rng.integers(0, 256, size=(4, 6, 4), dtype=np.uint8)
    with wandb.init(project="m", dir=run_dir) as run:
        run.log({"rgb": wandb.Image(pixels, caption="<b>bold</b>"), "g": wandb.Image(gray)})
        run.log({"rgba": wandb.Image(rgba), "one": wandb.Image(gray[:, :, None])})
    hist = nbrun.Api(run_dir).run(f"m/{run.id}").history()
    img = hist["rgb"][0]
    assert isinstance(img, wandb.Image)
    assert np.array_equal(img.numpy(), pixels)
    assert img.caption == "<b>bold</b>" and (img.width, img.height) == (30, 20)
    assert img.image.size == (30, 20) and img.image.mode == "RGB"
    assert np.array_equal(hist["g"][0].numpy(), gray)
    assert np.array_equal(hist["rgba"][1].numpy(), rgba)
    assert np.array_equal(hist["one"][1].numpy(), gray)
    assert img.path.endswith(".png") and Path(img.path).parent.name == "images"
    # shows itself; the caption is text, not markup
    assert img._repr_png_().startswith(b"\x89PNG")
    assert "&lt;b&gt;bold&lt;/b&gt;" in img._repr_html_() and "<b>bold" not in img._repr_html_()


def test_float_images_scale_as_wandb_does(run_dir: Path) -> None:
    unit = np.array([[0.0, 0.5], [1.0, 0.25]])
    signed = np.array([[-1.0, 0.0], [1.0, 0.5]])
    big = np.array([[0.0, 300.0], [12.7, 2.0]])
    assert wandb.Image(unit).numpy().tolist() == [[0, 127], [255, 63]]
    assert wandb.Image(signed).numpy().tolist() == [[0, 127], [255, 191]]  # min/max rescaled
    assert wandb.Image(big).numpy().tolist() == [[0, 255], [12, 2]]  # > 1: clipped, not scaled
    assert wandb.Image(np.array([[True, False]])).numpy().tolist() == [[255, 0]]


def test_image_from_pil_and_files(run_dir: Path) -> None:
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    pil = PIL.fromarray(arr)
    pil.save(run_dir / "x.jpg", quality=90)
    pil.save(run_dir / "x.bmp")
    jpeg_bytes = (run_dir / "x.jpg").read_bytes()
    with wandb.init(project="m", dir=run_dir) as run:
        run.log(
            {
                "pil": wandb.Image(pil, caption="pil"),
                "jpg": wandb.Image(str(run_dir / "x.jpg")),
                "bmp": wandb.Image(run_dir / "x.bmp"),
                "gray": wandb.Image(pil, mode="L"),
            }
        )
    row = run.history().iloc[0]
    assert np.array_equal(row["pil"].numpy(), arr)
    assert Path(row["jpg"].path).read_bytes() == jpeg_bytes  # the JPEG kept as it was
    assert row["jpg"].path.endswith(".jpg")
    assert row["bmp"].path.endswith(".png") and np.array_equal(row["bmp"].numpy(), arr)
    assert row["gray"].image.mode == "L"


def test_histogram_round_trips_with_wandb_fields(run_dir: Path) -> None:
    data = np.random.default_rng(2).normal(size=10_000)
    counts, edges = np.histogram(data, bins=20)
    h = wandb.Histogram(data)
    assert len(h.histogram) == 64 and len(h.bins) == 65 and sum(h.histogram) == 10_000
    with wandb.init(project="m", dir=run_dir) as run:
        run.log({"w": h, "np": wandb.Histogram(np_histogram=(counts, edges))})
        run.log({"w": wandb.Histogram(data, num_bins=512)})
    hist = run.history()
    back = hist["w"][0]
    assert isinstance(back, wandb.Histogram)
    assert back.histogram == h.histogram and back.bins == pytest.approx(h.bins)
    assert hist["np"][0].histogram == counts.tolist()
    assert hist["np"][0].bins == pytest.approx(edges.tolist())
    assert len(hist["w"][1].histogram) == 512
    assert "svg" in back._repr_html_()


def test_table_with_media_cells_round_trips(run_dir: Path) -> None:
    rng = np.random.default_rng(3)
    digits = [rng.integers(0, 256, size=(8, 8), dtype=np.uint8) for _ in range(3)]
    table = wandb.Table(columns=["id", "image", "guess"])
    for i, d in enumerate(digits):
        table.add_data(i, wandb.Image(d), "<img src=x onerror=alert(1)>")
    table.add_column("truth", [0, 1, 2])
    with wandb.init(project="m", dir=run_dir) as run:
        run.log({"preds": table})
        table.add_data(3, wandb.Image(digits[0]), "later", 3)  # after the log: not in it
        run.log({"preds": table})
    hist = run.history()
    first = hist["preds"][0]
    assert isinstance(first, wandb.Table)
    assert first.columns == ["id", "image", "guess", "truth"]
    df = first.get_dataframe()
    assert len(df) == 3 and df["truth"].tolist() == [0, 1, 2]
    assert np.array_equal(df["image"][1].numpy(), digits[1])
    assert first.get_column("id") == [0, 1, 2]
    assert first.get_column("truth", convert_to="numpy").tolist() == [0, 1, 2]
    assert len(hist["preds"][1].get_dataframe()) == 4
    html = first._repr_html_()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "onerror=alert(1)>" not in html
    assert wandb.Table(dataframe=df.drop(columns="image")).get_dataframe().shape == (3, 3)


def test_video_audio_html_object3d_round_trip(run_dir: Path) -> None:
    frames = np.random.default_rng(4).integers(0, 256, size=(5, 3, 12, 16), dtype=np.uint8)
    batch = np.stack([frames, frames])
    t = np.arange(1600) / 16000
    wav = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    points = np.random.default_rng(5).normal(size=(50, 3))
    (run_dir / "cube.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with wandb.init(project="m", dir=run_dir) as run:
        run.log(
            {
                "video": wandb.Video(frames, fps=8, caption="clip"),
                "batch": wandb.Video(batch),
                "audio": wandb.Audio(wav, sample_rate=16000, caption="a4"),
                "html": wandb.Html("<p>hi</p><script>window.bad=1</script>"),
                "cloud": wandb.Object3D(points),
                "mesh": wandb.Object3D(str(run_dir / "cube.obj")),
            }
        )
    row = run.history().iloc[0]
    video = row["video"]
    assert video.fps == 8 and video.path.endswith(".gif") and video.caption == "clip"
    with PIL.open(video.path) as gif:
        assert gif.n_frames == 5 and gif.size == (16, 12)
    with PIL.open(row["batch"].path) as gif:
        assert gif.size == (32, 12)  # two videos side by side
    audio = row["audio"]
    assert audio.sample_rate == 16000 and audio.path.endswith(".wav")
    with wave.open(audio.path) as w:
        assert (w.getframerate(), w.getnframes(), w.getsampwidth()) == (16000, 1600, 2)
    assert audio.numpy().shape == (1600, 1)
    html = row["html"]
    assert "<script>" in html.html
    shown = html._repr_html_()
    assert shown.startswith('<iframe sandbox=""') and "<script>" not in shown
    assert np.allclose(row["cloud"].numpy(), points)
    assert Path(row["mesh"].path).read_text().startswith("v 0 0 0")


def test_plot_presets_round_trip_as_table_and_spec(run_dir: Path) -> None:
    rng = np.random.default_rng(6)
    y_true = rng.integers(0, 3, size=200)
    probas = rng.dirichlet([1, 1, 1], size=200)
    table = wandb.Table(data=[[x, x * x] for x in range(10)], columns=["x", "y"])
    with wandb.init(project="m", dir=run_dir) as run:
        run.log(
            {
                "pr": wandb.plot.pr_curve(y_true, probas, labels=["a", "b", "c"]),
                "roc": wandb.plot.roc_curve(y_true, probas),
                "cm": wandb.plot.confusion_matrix(y_true=y_true, probs=probas),
                "line": wandb.plot.line(table, "x", "y", title="<i>sq</i>"),
                "scatter": wandb.plot.scatter(table, "x", "y"),
                "bar": wandb.plot.bar(table, "x", "y"),
                "hist": wandb.plot.histogram(table, "y"),
                "series": wandb.plot.line_series([0, 1, 2], [[1, 2, 3], [3, 2, 1]], ["up", "dn"]),
            }
        )
    row = run.history().iloc[0]
    pr = row["pr"]
    assert set(pr.table.get_column("class")) == {"a", "b", "c"}
    assert pr.spec["encoding"]["x"]["field"] == "recall"
    cm = row["cm"].table.get_dataframe()
    assert cm["nPredictions"].sum() == 200
    assert row["line"].title == "<i>sq</i>" and row["line"].table.get_column("y")[3] == 9
    assert row["series"].table.get_dataframe().shape == (6, 3)
    spec = row["roc"].vega_lite()
    assert spec["data"]["values"][0]["fpr"] == 0.0
    for key in ("scatter", "bar", "hist"):
        assert row[key].spec["mark"] in ("point", "bar")


# -- W&B's Run.log reference examples, unchanged but for the import --------------------------
def test_wandb_reference_examples(run_dir: Path) -> None:
    run = wandb.init(project="examples", dir=run_dir)
    # Histogram
    run.log({"gradients": wandb.Histogram(np.random.randn(1000))})
    # Image from numpy
    examples = []
    for i in range(3):
        pixels = np.random.randint(low=0, high=256, size=(100, 100, 3))
        image = wandb.Image(pixels, caption=f"random field {i}")
        examples.append(image)
    run.log({"examples": examples})
    # Image from PIL
    examples = []
    for i in range(3):
        pixels = np.random.randint(low=0, high=256, size=(100, 100, 3), dtype=np.uint8)
        pil_image = PIL.fromarray(pixels, mode="RGB")
        image = wandb.Image(pil_image, caption=f"random field {i}")
        examples.append(image)
    run.log({"examples": examples})
    # Video from numpy
    frames = np.random.randint(low=0, high=256, size=(10, 3, 100, 100), dtype=np.uint8)
    run.log({"video": wandb.Video(frames, fps=4)})
    # PR curve
    run.log({"pr": wandb.plot.pr_curve([0, 1, 1, 0], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [1, 0]])})
    # 3D object
    point_cloud = np.random.rand(100, 3)
    run.log({"generated_samples": [wandb.Object3D(point_cloud)]})
    run.finish()
    hist = run.history()
    shown = hist["examples"].dropna()
    assert len(shown) == 2 and all(len(v) == 3 for v in shown)
    assert [im.caption for im in shown.iloc[1]] == [f"random field {i}" for i in range(3)]
    assert shown.iloc[0][0].numpy().shape == (100, 100, 3)
    assert isinstance(hist["gradients"][0], wandb.Histogram)
    assert hist["video"].dropna().iloc[0].fps == 4
    assert isinstance(hist["generated_samples"].dropna().iloc[0][0], wandb.Object3D)
    assert hist["pr"].dropna().iloc[0].table.columns == ["class", "recall", "precision"]
    # keys=[...] selects media keys; summary and runs() show descriptions, not data
    only = run.history(keys=["video"])
    assert list(only.columns) == ["_step", "video", "_runtime", "_timestamp"] and len(only) == 1
    table = nbrun.runs("examples", dir=run_dir)
    assert table["summary.video"][0] == "Video (gif, 4 fps)"
    assert table["summary.examples"][0] == "[3 x Image 100x100]"
    stored = nbrun.Api(run_dir).run(f"examples/{run.id}")
    assert stored.summary["video"]["_type"] == "video-file"
    assert len(json.dumps(stored.summary.as_dict())) < 5000  # references, not pixels


def test_matplotlib_figure_logged_directly_becomes_an_image(run_dir: Path) -> None:
    import matplotlib  # in the dev extra: a missing one is a failure, not a skip

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    ax.plot([1, 2, 3], [1, 4, 9])
    with wandb.init(project="m", dir=run_dir) as run:
        run.log({"chart": fig})
        run.log({"chart": wandb.Image(fig, caption="again")})
    plt.close(fig)
    hist = run.history()
    img = hist["chart"][0]
    assert isinstance(img, wandb.Image) and img.width > 50 and img.numpy().ndim == 3
    assert hist["chart"][1].caption == "again"


def test_torch_tensor_when_torch_is_installed(run_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    t = torch.zeros(3, 4, 5)
    t[0] = 1.0
    img = wandb.Image(t)
    assert img.numpy().shape == (4, 5, 3) and img.numpy()[0, 0].tolist() == [255, 0, 0]


# -- bad input: typed errors, nothing logged ------------------------------------------------
@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: wandb.Image(np.zeros((4, 4, 2))), ValueError, ["(4, 4, 2)", "(H, W, 3)"]),
        (lambda: wandb.Image(np.zeros((3, 8, 8))), ValueError, ["(3, 8, 8)", "transpose"]),
        (lambda: wandb.Image(np.zeros((2, 2, 2, 3))), ValueError, ["(2, 2, 2, 3)"]),
        (lambda: wandb.Image(np.zeros((0, 4))), ValueError, ["(0, 4)"]),
        (lambda: wandb.Image(np.array([["a"]])), TypeError, ["<U1", "numeric"]),
        (lambda: wandb.Image(np.full((2, 2), np.nan)), ValueError, ["NaN"]),
        (lambda: wandb.Image(object()), TypeError, ["builtins.object", "numpy array"]),
        (lambda: wandb.Image("missing.png"), FileNotFoundError, ["missing.png"]),
        (lambda: wandb.Image(np.zeros((2, 2)), mode="XYZ"), ValueError, ["'XYZ'", "RGB"]),
        (lambda: wandb.Image(np.zeros((2, 2)), caption=3), TypeError, ["caption"]),
        (lambda: wandb.Histogram(np.arange(5), num_bins=513), ValueError, ["513", "512"]),
        (lambda: wandb.Histogram([1, float("nan")]), ValueError, ["NaN"]),
        (lambda: wandb.Histogram(["a", "b"]), TypeError, ["not numeric"]),
        (lambda: wandb.Histogram(np_histogram=([1, 2], [0, 1])), ValueError, ["one more edge"]),
        (lambda: wandb.Histogram(), ValueError, ["sequence="]),
        (lambda: wandb.Table(columns=["a"], data=[[1, 2]]), ValueError, ["2 values", "['a']"]),
        (lambda: wandb.Table(columns=["a", "a"]), ValueError, ["'a' appears twice"]),
        (lambda: wandb.Table(columns=["a"], data=[[object()]]), TypeError, ["column 'a'"]),
        (lambda: wandb.Video(np.zeros((4, 2, 8, 8))), ValueError, ["(4, 2, 8, 8)", "C = 1, 3"]),
        (lambda: wandb.Video(np.zeros((8, 8))), ValueError, ["(8, 8)"]),
        (lambda: wandb.Video(io.BytesIO(b"x")), ValueError, ["format=", "mp4"]),
        (lambda: wandb.Video(np.zeros((2, 3, 4, 4)), fps=0), ValueError, ["fps=0"]),
        (lambda: wandb.Video("clip.avi"), ValueError, [".mp4", "clip.avi"]),
        (lambda: wandb.Video("nothere.mp4"), FileNotFoundError, ["nothere.mp4"]),
        (lambda: wandb.Audio(np.zeros(10)), ValueError, ["sample_rate"]),
        (lambda: wandb.Audio(np.zeros((2, 2, 2)), sample_rate=8000), ValueError, ["(2, 2, 2)"]),
        (lambda: wandb.Audio(np.array([40000]), sample_rate=8000), ValueError, ["int16"]),
        (lambda: wandb.Object3D(np.zeros((5, 5))), ValueError, ["(5, 5)", "(N, 3)"]),
        (lambda: wandb.Object3D("thing.xyz"), ValueError, [".obj"]),
        (lambda: wandb.plot.line(wandb.Table(columns=["x"]), "x", "y"), ValueError, ["'y'"]),
        (lambda: wandb.plot.confusion_matrix(y_true=[0]), ValueError, ["probs= and preds="]),
        (lambda: wandb.plot.pr_curve([0, 1], [[0.5, 0.5]]), ValueError, ["y_probas (N,"]),
    ],
)
def test_bad_media_input_is_a_typed_error(make, error, words, run_dir: Path) -> None:
    with pytest.raises(error) as info:
        make()
    for w in words:
        assert w in str(info.value)


def test_a_rejected_log_logs_nothing(run_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    with wandb.init(project="m", dir=run_dir) as run:
        with pytest.raises(TypeError) as info:
            run.log({"ok": wandb.Image(np.zeros((2, 2))), "bad": {"deep": [1, PIL]}})
        assert "'bad.deep'" in str(info.value)
        run.log({"x": 1})
    hist = run.history()
    assert list(hist.columns) == ["_step", "x", "_runtime", "_timestamp"]
    assert not (Path(run.dir) / "media").exists()


# -- storage --------------------------------------------------------------------------------
def test_same_image_logged_twice_is_stored_once(run_dir: Path) -> None:
    pixels = np.random.default_rng(7).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    with wandb.init(project="m", dir=run_dir) as run:
        for step in range(5):
            run.log({"a": wandb.Image(pixels), "b": [wandb.Image(pixels), wandb.Image(pixels)]})
            if step == 2:
                run.flush()
    files = media_files(run)
    assert len(files) == 1
    assert files[0].name == f"{run.history()['a'][4]._ref['sha256']}.png"
    assert not [p for p in (Path(run.dir) / "media" / "images").iterdir() if p.suffix == ".tmp"]


def test_image_data_is_copied_when_logged(run_dir: Path) -> None:
    pixels = np.zeros((4, 4), dtype=np.uint8)
    with wandb.init(project="m", dir=run_dir) as run:
        run.log({"a": wandb.Image(pixels)})
        pixels[:] = 200  # changed after the log, before the writer encodes it
    assert run.history()["a"][0].numpy().max() == 0


def test_history_of_a_live_run_shows_unflushed_media(run_dir: Path) -> None:
    run = wandb.init(project="m", dir=run_dir, settings={"flush_interval": 60})
    run.log({"a": wandb.Image(np.ones((3, 3)))})
    assert run.history()["a"][0].numpy().tolist() == [[255] * 3] * 3  # still in memory
    run.finish()
    assert run.history()["a"][0].path is not None


def test_forged_or_damaged_references_never_leave_a_run_folder(run_dir: Path) -> None:
    with wandb.init(project="m", dir=run_dir) as run:
        run.log({"a": wandb.Image(np.ones((3, 3)))})
    ref = run.history()["a"][0].to_json()
    resolve = Resolver(run_dir / "nbrun" / "runs", "m")
    assert isinstance(resolve(ref), wandb.Image)
    sha = "0" * 64
    bad_paths = [
        "../../../../etc/passwd",
        "/etc/passwd",
        f"media/images/../../../x/{sha}.png",
        f"media/images/{sha}.png/../../..",
        "media/images/x.png",
    ]
    for path in bad_paths:
        assert isinstance(resolve({**ref, "path": path}), nbrun.media.UnreadableMedia), path
    for owner in ("../m/x", "m/..", "other/x", "m", "m/x/y", "/abs/x"):
        assert isinstance(resolve({**ref, "run": owner}), nbrun.media.UnreadableMedia), owner


def test_logging_media_costs_the_training_thread_a_copy(run_dir: Path) -> None:
    import time

    pixels = np.random.default_rng(8).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    with wandb.init(project="m", dir=run_dir) as run:
        best = float("inf")
        for _ in range(20):
            t = time.perf_counter()
            run.log({"img": wandb.Image(pixels)})
            best = min(best, time.perf_counter() - t)
    assert best < 0.005  # a copy, not a PNG encode (tens of ms)


# -- lineage ----------------------------------------------------------------------------------
def test_fork_inherits_parent_media_without_copies(run_dir: Path) -> None:
    rng = np.random.default_rng(9)
    images = [rng.integers(0, 256, size=(6, 6), dtype=np.uint8) for _ in range(6)]
    with wandb.init(project="m", dir=run_dir) as parent:
        for im in images:
            parent.log({"img": wandb.Image(im), "h": wandb.Histogram(im.ravel())})
    fork = wandb.init(project="m", dir=run_dir, fork_from=f"{parent.id}?_step=2")
    fork.log({"img": wandb.Image(np.zeros((6, 6), dtype=np.uint8))})
    fork.finish()
    hist = fork.history()
    assert hist["_step"].tolist() == [0, 1, 2, 3]
    for step in range(3):
        inherited = hist["img"][step]
        assert np.array_equal(inherited.numpy(), images[step])
        assert Path(inherited.path).is_relative_to(Path(parent.dir))
    assert Path(hist["img"][3].path).is_relative_to(Path(fork.dir))
    assert len(media_files(fork)) == 1  # only its own image; nothing copied from the parent
    assert hist["h"][2].histogram == parent.history()["h"][2].histogram
    assert fork.history(lineage=False)["_step"].tolist() == [3]


def test_rewind_archives_media_rows_and_keeps_their_files(run_dir: Path) -> None:
    rng = np.random.default_rng(10)
    images = [rng.integers(0, 256, size=(5, 5), dtype=np.uint8) for _ in range(6)]
    with wandb.init(project="m", dir=run_dir) as run:
        for im in images:
            run.log({"img": wandb.Image(im)})
    before = len(media_files(run))
    again = wandb.init(project="m", dir=run_dir, resume_from=f"{run.id}?_step=2")
    again.log({"img": wandb.Image(np.full((5, 5), 7, dtype=np.uint8))})
    again.finish()
    hist = again.history()
    assert hist["_step"].tolist() == [0, 1, 2, 3]
    assert hist["img"][3].numpy().max() == 7
    archived = again.archives()[0].history()
    assert archived["_step"].tolist() == [3, 4, 5]
    for i, step in enumerate([3, 4, 5]):
        assert np.array_equal(archived["img"][i].numpy(), images[step])
    assert len(media_files(again)) == before + 1  # nothing deleted


# -- crash safety ---------------------------------------------------------------------------
CHILD = r"""
import sys
import numpy as np
import nbrun

run = nbrun.init(project="k", dir=sys.argv[1], id="kid",
                 settings={"flush_interval": 0.02, "flush_rows": 5})
rng = np.random.default_rng(0)
i = 0
while True:
    pixels = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    run.log({"img": nbrun.Image(pixels), "i": i})
    i += 1
    if run._writer.last_durable_step >= 30 and i % 7 == 0:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
"""


@pytest.mark.slow
def test_kill_9_while_logging_images_leaves_no_dangling_reference(run_dir: Path) -> None:
    import signal
    import subprocess
    import sys

    from tests.conftest import python_env

    for _trial in range(3):
        target = run_dir / f"t{_trial}"
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(target)],
            stdout=subprocess.PIPE,
            env=python_env(),
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        run = nbrun.Api(target).run("k/kid")
        hist = run.history()
        assert len(hist) > 30
        for img in hist["img"]:
            data = Path(img.path).read_bytes()
            assert len(data) == img._ref["size"]
            assert img.numpy().shape == (64, 64, 3)  # a whole PNG, decodable
        assert run.state == "crashed"


def test_video_array_with_another_format_is_stored_as_gif(run_dir: Path) -> None:
    """W&B's current example passes format="mp4"; nbrun has no mp4 encoder: GIF, and says so."""
    frames = np.random.randint(low=0, high=256, size=(10, 3, 20, 20), dtype=np.uint8)
    with pytest.warns(UserWarning, match="stored as GIF"):
        video = wandb.Video(frames, format="mp4", fps=4)
    clip = wandb.Video(io.BytesIO(b"\x1aE\xdf\xa3 webm bytes"), format="webm")
    with wandb.init(project="m", dir=run_dir) as run:
        run.log({"video": video, "clip": clip})
    row = run.history().iloc[0]
    assert row["video"].format == "gif" and row["video"].path.endswith(".gif")
    assert row["clip"].path.endswith(".webm")
    assert Path(row["clip"].path).read_bytes() == b"\x1aE\xdf\xa3 webm bytes"


def test_wav_bytes_are_a_valid_file(run_dir: Path) -> None:
    a = wandb.Audio(np.zeros((10, 2), dtype=np.int16), sample_rate=8000)
    data, ext, extra = a._encode()
    with wave.open(io.BytesIO(data)) as w:
        assert w.getnchannels() == 2 and ext == "wav" and extra["duration"] == 10 / 8000


def test_an_encoder_failure_loses_that_value_not_the_row(run_dir: Path) -> None:
    class Broken(wandb.Image):
        def _encode(self) -> tuple[bytes, str, dict]:
            raise RuntimeError("encoder exploded")

    with wandb.init(project="m", dir=run_dir, settings={"flush_interval": 60}) as run:
        run.log({"img": Broken(np.zeros((2, 2))), "x": 1})
        run.log({"img": wandb.Image(np.zeros((2, 2))), "x": 2})
        with pytest.warns(RuntimeWarning, match="encoder exploded"):
            assert run.flush(timeout=10)
    hist = run.history()
    assert hist["x"].tolist() == [1, 2]
    assert hist["img"][0] is None and isinstance(hist["img"][1], wandb.Image)


def test_the_media_package_never_imports_the_core() -> None:
    """nbrun/media sits beside history: the run uses it, it imports nothing of the core."""
    import ast

    folder = Path(nbrun.__file__).parent / "media"
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name}: from {'.' * node.level}{node.module}"
                assert not (node.module or "").startswith("nbrun"), path.name
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("nbrun") for a in node.names), path.name


def test_media_set_in_the_summary_is_stored_as_a_reference(run_dir: Path) -> None:
    with wandb.init(project="m", dir=run_dir) as run:
        run.log({"loss": 1.0})
        run.summary["best_sample"] = wandb.Image(np.full((4, 4), 9, dtype=np.uint8))
    stored = nbrun.Api(run_dir).run(f"m/{run.id}").summary["best_sample"]
    assert stored["_type"] == "image-file" and stored["width"] == 4
    assert (Path(run.dir) / stored["path"]).is_file()
    assert nbrun.runs("m", dir=run_dir)["summary.best_sample"][0] == "Image 4x4"
