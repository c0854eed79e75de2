"""The notebooks execute top to bottom in a real kernel (nbclient), with the widgets."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import nbrun

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow  # a kernel per notebook: ~30 s each
@pytest.mark.parametrize(
    "name",
    [
        "quickstart",
        "what-if-forks",
        "wandb-dropin",  # transformers' Trainer through the W&B drop-in (issue 14, rule 38)
        "dask-forks",  # forks trained on a Dask LocalCluster with executor= (issue 17)
    ],
)
def test_notebook_executes(name: str, tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    # the runs the notebook made are in the store it wrote, finished, with a fork among them
    project = {
        "quickstart": "quickstart",
        "what-if-forks": "what-if",
        "wandb-dropin": "dropin",
        "dask-forks": "dask-forks",
    }[name]
    runs = nbrun.Api(tmp_path).runs(project)
    assert runs, "the notebook stored no run"
    assert all(r.state == "finished" for r in runs)
    forks = [r for r in runs if r.forked_from is not None]
    assert forks
    for fork in forks:
        hist = fork.history()
        assert hist["_step"].is_monotonic_increasing
        assert hist["_step"].iloc[-1] > fork.forked_from.step
    # the dashboard was displayed as a widget, not as an error or a plain repr
    shown = [
        out
        for cell in nb.cells
        if cell.cell_type == "code" and "display()" in cell.source
        for out in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]
    assert shown, "run.display() showed no widget"
    # ... and a static snapshot beside it, replaced as the run went on: the saved notebook
    # shows the run as it ended (issue 15)
    snaps = [
        out
        for cell in nb.cells
        if cell.cell_type == "code" and "display()" in cell.source
        for out in cell.get("outputs", [])
        if "nbrun-snapshot" in str(out.get("data", {}).get("text/html", ""))
    ]
    assert snaps, "run.display() left no static snapshot"
    if name == "quickstart":
        text = snaps[0]["data"]["text/plain"]
        assert "finished, last step 299" in text, text
        # the notebook's own print says the same step as the snapshot (issue 25: 300 vs 299)
        printed = "".join(
            out.get("text", "")
            for cell in nb.cells
            if cell.cell_type == "code" and "run.wait()" in cell.source
            for out in cell.get("outputs", [])
        )
        assert printed.startswith("finished last step 299 "), printed
        assert snaps[0]["data"]["text/html"].count("data:image/svg+xml;base64,") >= 2


@pytest.mark.slow
def test_media_notebook_executes(tmp_path: Path) -> None:
    """notebooks/media.ipynb: a small NumPy training logs sample predictions (a table of
    images), weight histograms and a confusion matrix, and shows them in run.display()."""
    nb = nbformat.read(NOTEBOOKS / "media.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)  # an Image shows itself
    (run,) = nbrun.Api(tmp_path).runs("media-demo")
    hist = run.history()
    assert len(hist) == 12
    assert hist["predictions"].iloc[-1].get_dataframe().shape == (6, 4)
    assert len(hist["weights"].iloc[0].histogram) == 64
    assert hist["first_glyphs"].iloc[0][0].numpy().shape == (8, 8)


@pytest.mark.slow
def test_sweeps_notebook_executes(tmp_path: Path) -> None:
    """notebooks/sweeps.ipynb: a random sweep with hyperband, a PBT of 4 and a recovery by
    rewind on a NumPy model, each displayed: the project view grouped by sweep (rule 69) and
    the dashboards with their PBT and recovery marks (rule 70); small outputs."""
    nb = nbformat.read(NOTEBOOKS / "sweeps.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    api = nbrun.Api(tmp_path)
    runs = api.runs("sweeps-demo")
    assert len(runs) == 8 and len({r.sweep_id for r in runs}) == 1
    sweep = api.sweep(f"sweeps-demo/{runs[0].sweep_id}")
    assert sweep.config["early_terminate"]["type"] == "hyperband"
    # the project view's static snapshot shows the sweep's section with its two charts
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert f'data-sweep="sweeps-demo/{sweep.id}"' in html
    members = api.runs("pbt-demo")
    assert any(r.forked_from is not None and "exploit" in r.metadata["pbt"] for r in members)
    (recovered,) = api.runs("recover-demo")
    assert recovered.state == "finished" and recovered.config["lr"] == 0.075
    assert [a["title"] for a in recovered.alerts] == ["recovered by rewind"]
    shown = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(shown) == 3  # the project view and two dashboards
    # small outputs: the static snapshots hold downsampled SVG, no giant widget state (the
    # widgets' own state, with their bundles, is nbclient's metadata: not in the outputs)
    size = sum(len(str(o)) for o in outputs)
    assert size < 200_000, f"the notebook's outputs are {size} characters"
